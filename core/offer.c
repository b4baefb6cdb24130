#include "offer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"

#define OFFER_CHECK_MS (3600 * 1000)

struct wafa_offers {
	uv_timer_t timer;
	const struct wafa_config *cfg;
	struct wafa_pg *pg;
	struct wafa_rules *rules;
	unsigned gen;    /* bumped by set_rules: answers for older rules are dropped */
	int next;        /* the next rule to look at in this round */
	int busy;        /* queries out */
	bool closing;
	char *sql;
	void (*queued)(void *arg);
	void *arg;
	void (*done)(void *arg);
	void *done_arg;
};

struct ask {
	struct wafa_offers *o;
	unsigned gen;
	int rule;
};

static void look(struct wafa_offers *o);

#define MS(x) "(extract(epoch FROM " x ") * 1000)::int8"

int wafa_offers_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                     void (*queued)(void *arg), void *arg, struct wafa_offers **out)
{
	struct wafa_offers *o = calloc(1, sizeof(*o));
	char *view = wafa_pg_quote_ident(cfg->view);

	if (!o || !view ||
	    asprintf(&o->sql,
	             "WITH g AS (SELECT mail_address(v.customer_email) AS email, "
	             "       max(v.customer_name) AS name, max(v.customer_locale) AS locale, "
	             "       max(v.customer_tz) AS tz, count(*) AS tickets, "
	             "       count(*) FILTER (WHERE v.status NOT IN ('solved', 'closed')) AS open, "
	             "       count(*) FILTER (WHERE v.status IN ('solved', 'closed')) AS solved, "
	             "       min(v.created_at) AS first_contact, "
	             "       max(greatest(v.created_at, v.last_customer_at)) AS last_contact, "
	             "       array_agg(v.id) AS ids "
	             "  FROM %s v WHERE v.customer_email LIKE '%%@%%' "
	             " GROUP BY mail_address(v.customer_email)) "
	             "SELECT g.email, g.name, g.locale, g.tz, g.tickets, g.open, g.solved, "
	             "       " MS("g.first_contact") ", " MS("g.last_contact") ", "
	             "       (SELECT " MS("max(j.at)") " FROM journal j WHERE j.event = 'breach' "
	             "           AND j.ticket_id = ANY (g.ids)), "
	             "       " MS("o.last") " "
	             "  FROM g LEFT JOIN (SELECT mail_address(b.rcpt) AS email, "
	             "                           max(b.created_at) AS last "
	             "                      FROM outbox b WHERE b.rule = $1 GROUP BY 1) o "
	             "         ON o.email = g.email",
	             view) < 0) {
		free(o);
		free(view);
		return -ENOMEM;
	}
	free(view);
	o->cfg = cfg;
	o->pg = pg;
	o->queued = queued;
	o->arg = arg;
	uv_timer_init(loop, &o->timer);
	o->timer.data = o;
	*out = o;
	return 0;
}

void wafa_offers_set_rules(struct wafa_offers *o, struct wafa_rules *r)
{
	o->rules = r;
	o->gen++;
	o->next = 0;
}

static int64_t ms_or_none(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? WAFA_NO_TIME : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static const char *str_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static void on_inserted(PGresult *res, void *arg)
{
	struct wafa_offers *o = arg;

	o->busy--;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
		wafa_metrics_mails(WAFA_METRIC_QUEUED, (uint64_t)PQntuples(res));
		if (o->queued)
			o->queued(o->arg);
	}
	else if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
		wafa_log(WAFA_ERROR, "offer", "queueing offers: %s", wafa_pg_result_error(res));
	if (o->closing && o->busy == 0)
		wafa_offers_close(o, o->done, o->done_arg);
}

static void on_customers(PGresult *res, void *arg)
{
	struct ask *a = arg;
	struct wafa_offers *o = a->o;
	struct wafa_outbox_batch ob;
	int64_t now = wafa_clock_now_ms();
	int n = 0, offered = 0;

	o->busy--;
	if (o->closing || a->gen != o->gen || !res) {
		if (o->closing && o->busy == 0)
			wafa_offers_close(o, o->done, o->done_arg);
		free(a);
		return;
	}
	const struct wafa_rule *rule = &o->rules->rules[a->rule];
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "offer", "rule=%s: reading customers: %s", rule->name,
		         wafa_pg_result_error(res));
		goto next;
	}
	wafa_outbox_batch_init(&ob);
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct wafa_customer c = {
			.email = PQgetvalue(res, i, 0), .name = str_or_null(res, i, 1),
			.locale = str_or_null(res, i, 2), .tz = str_or_null(res, i, 3),
			.tickets = strtoll(PQgetvalue(res, i, 4), NULL, 10),
			.open = strtoll(PQgetvalue(res, i, 5), NULL, 10),
			.solved = strtoll(PQgetvalue(res, i, 6), NULL, 10),
			.first_contact = ms_or_none(res, i, 7), .last_contact = ms_or_none(res, i, 8),
			.last_breach = ms_or_none(res, i, 9),
		};
		int64_t last = ms_or_none(res, i, 10), instance = now / rule->every_ms;
		char key[600];
		if (last != WAFA_NO_TIME && now - last < rule->every_ms)
			continue; /* offered within `every` */
		if (wafa_rules_audience(o->rules, a->rule, &c) != 1)
			continue;
		if (wafa_rules_run_offer(o->rules, a->rule, &c, instance) != 0)
			continue;
		/* "/" would end the key's part early: a mail address may hold one */
		char email[330];
		size_t k = 0;
		for (const char *p = c.email; *p && k + 4 < sizeof(email); p++)
			k += (size_t)snprintf(email + k, sizeof(email) - k, *p == '/' ? "%%2F" : "%c", *p);
		snprintf(key, sizeof(key), "%s/c:%s/due/%" PRId64, rule->name, email, instance);
		struct wafa_outbox_firing f = {
			.key = key, .ticket_id = 0, .rule = rule->name, .phase = "due", .kind = "offer",
			.event = "due", .instance = instance, .due = now, .customer_email = c.email,
			.customer_locale = c.locale, .customer_tz = c.tz,
		};
		if (wafa_outbox_batch_add(&ob, &f, o->rules->mails, o->rules->nmails) != 0)
			break;
		offered++;
	}
	wafa_log(offered ? WAFA_INFO : WAFA_DEBUG, "offer", "rule=%s: %d customer(s), %d offered",
	         rule->name, n, offered);
	if (offered) {
		const char *p[WAFA_OUTBOX_NPARAMS];
		if (wafa_outbox_batch_params(&ob, o->cfg->from, p) == 0 &&
		    wafa_pg_query(o->pg, wafa_outbox_fire_sql, WAFA_OUTBOX_NPARAMS, p, on_inserted, o) == 0)
			o->busy++;
		else
			wafa_log(WAFA_ERROR, "offer", "rule=%s: cannot queue the offers", rule->name);
	}
	wafa_outbox_batch_free(&ob);
next:
	free(a);
	look(o);
}

/* Asks for the next offer rule's customers; one rule at a time. */
static void look(struct wafa_offers *o)
{
	struct ask *a;

	if (o->closing || !o->rules)
		return;
	while (o->next < o->rules->nrules && o->rules->rules[o->next].kind != WAFA_RULE_OFFER)
		o->next++;
	if (o->next >= o->rules->nrules)
		return;
	a = malloc(sizeof(*a));
	if (!a)
		return;
	a->o = o;
	a->gen = o->gen;
	a->rule = o->next++;
	const char *p[] = { o->rules->rules[a->rule].name };
	if (wafa_pg_query(o->pg, o->sql, 1, p, on_customers, a) == 0)
		o->busy++;
	else
		free(a);
}

static void on_timer(uv_timer_t *t)
{
	struct wafa_offers *o = t->data;

	if (o->busy)
		return; /* the last round is still going */
	o->next = 0;
	look(o);
}

void wafa_offers_start(struct wafa_offers *o, uint64_t first_ms)
{
	uv_timer_start(&o->timer, on_timer, first_ms, OFFER_CHECK_MS);
}

static void on_closed(uv_handle_t *h)
{
	struct wafa_offers *o = h->data;
	void (*done)(void *) = o->done;
	void *arg = o->done_arg;

	free(o->sql);
	free(o);
	if (done)
		done(arg);
}

void wafa_offers_close(struct wafa_offers *o, void (*done)(void *arg), void *arg)
{
	o->done = done;
	o->done_arg = arg;
	if (o->closing && o->busy > 0)
		return;
	o->closing = true;
	uv_timer_stop(&o->timer);
	if (o->busy == 0)
		uv_close((uv_handle_t *)&o->timer, on_closed);
}
