#include "fire/offer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "time/clock.h"
#include "base/log.h"
#include "web/metrics.h"
#include "store/outbox.h"

#define OFFER_CHECK_MS (3600 * 1000)

#define OFFER_PAGE 500 /* customers read and run at once */

/* A round goes through the offer rules one at a time.  Each rule's
 * customers come from a cursor (WITH HOLD: the grouping runs once, the
 * server keeps its result, and no transaction stays open), a page at a
 * time, each page run through Lua in its own turn of the loop and its mails
 * queued before the next page is asked for: wafa holds one page, and the
 * deadlines due meanwhile fire between pages.  The cursor is on the
 * journal's connection, so the grouping (seconds at 1M customers) holds up
 * no firing on the work connection. */
struct wafa_offers {
	uv_timer_t timer;
	const struct wafa_config *cfg;
	struct wafa_pg *pg, *spare; /* the round's connection: pg, or spare when pg is down */
	struct wafa_pg *round_pg;   /* the connection the round's cursor is on */
	struct wafa_rules *rules;
	unsigned gen;    /* bumped by set_rules: answers for older rules are dropped */
	int next;        /* the next rule to look at in this round */
	int rule;        /* the rule whose cursor is open, or -1 */
	unsigned rounds; /* names the cursors: one is never taken for another's */
	int64_t now;     /* the rule's instant: one period for its whole round */
	int seen, offered; /* the rule's customers so far */
	int busy;        /* queries out */
	bool running;    /* a round is going */
	bool closing;
	char *sql, *declare, cursor[32];
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

/* ms since the epoch, or NULL for a time outside years 1 to 9999 (a view's
 * 'infinity' failed the cast, and the whole round with it) */
#define MS(x)                                                                     \
	"CASE WHEN " x " BETWEEN '0001-01-01' AND '9999-12-31 23:59:59.999999' "   \
	"THEN (extract(epoch FROM " x ") * 1000)::int8 END"

int wafa_offers_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                     struct wafa_pg *spare, void (*queued)(void *arg), void *arg,
                     struct wafa_offers **out)
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
	o->spare = spare;
	o->rule = -1;
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

/* A query's callback has run: once none is out, a close waiting on them
 * goes on.  Returns true when the offers are closing. */
static bool settle(struct wafa_offers *o)
{
	o->busy--;
	if (o->closing && o->busy == 0)
		wafa_offers_close(o, o->done, o->done_arg);
	return o->closing;
}

static void on_inserted(PGresult *res, void *arg)
{
	struct wafa_offers *o = arg;

	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
		uint64_t mails = 0;
		for (int r = 0; r < PQntuples(res); r++) {
			const char *ch = PQgetvalue(res, r, 1);
			if (strcmp(ch, "mail") == 0)
				mails++;
			else
				wafa_metrics_actions(ch, WAFA_METRIC_QUEUED);
		}
		wafa_metrics_mails(WAFA_METRIC_QUEUED, mails);
		if (o->queued)
			o->queued(o->arg);
	}
	else if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
		wafa_log(WAFA_ERROR, "offer", "queueing offers: %s", wafa_pg_result_error(res));
	settle(o);
}

static void on_cursor_closed(PGresult *res, void *arg)
{
	(void)res;
	settle(arg);
}

/* Ends the rule's cursor (a lost connection has ended it already), then
 * goes on to the next rule, or ends the round. */
static void end_rule(struct wafa_offers *o, bool next)
{
	char sql[64];

	if (o->rule >= 0 && o->round_pg && wafa_pg_connected(o->round_pg)) {
		snprintf(sql, sizeof(sql), "CLOSE %s", o->cursor);
		if (wafa_pg_query(o->round_pg, sql, 0, NULL, on_cursor_closed, o) == 0)
			o->busy++;
	}
	o->rule = -1;
	if (next)
		look(o);
	else
		o->running = false;
}

static void fetch(struct wafa_offers *o, struct ask *a);

static void on_page(PGresult *res, void *arg)
{
	struct ask *a = arg;
	struct wafa_offers *o = a->o;
	struct wafa_outbox_batch ob;
	int64_t now = o->now;
	int n = 0, offered = 0;

	if (settle(o) || a->gen != o->gen || !res) {
		/* closing, the rules reloaded (their numbers changed), or the
		 * connection lost: the round ends; the next hour's starts anew */
		if (!o->closing)
			end_rule(o, false);
		free(a);
		return;
	}
	const struct wafa_rule *rule = &o->rules->rules[a->rule];
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "offer", "rule=%s: reading customers: %s", rule->name,
		         wafa_pg_result_error(res));
		free(a);
		end_rule(o, true);
		return;
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
	o->seen += n;
	o->offered += offered;
	if (offered) {
		/* on the round's connection, ahead of the next page: a page's
		 * mails are queued before the next is read */
		const char *p[WAFA_OUTBOX_NPARAMS];
		int len[WAFA_OUTBOX_NPARAMS], fmt[WAFA_OUTBOX_NPARAMS];
		if (wafa_outbox_batch_params(&ob, o->cfg->from, p, len, fmt) == 0 &&
		    wafa_pg_query_binary(o->round_pg, wafa_outbox_fire_sql, WAFA_OUTBOX_NPARAMS, p,
		                         len, fmt, on_inserted, o) == 0)
			o->busy++;
		else
			wafa_log(WAFA_ERROR, "offer", "rule=%s: cannot queue the offers", rule->name);
	}
	wafa_outbox_batch_free(&ob);
	if (n == OFFER_PAGE) {
		fetch(o, a);
		return;
	}
	wafa_log(o->offered ? WAFA_INFO : WAFA_DEBUG, "offer", "rule=%s: %d customer(s), %d offered",
	         rule->name, o->seen, o->offered);
	free(a);
	end_rule(o, true);
}

/* Asks the rule's cursor for its next page. */
static void fetch(struct wafa_offers *o, struct ask *a)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "FETCH %d FROM %s", OFFER_PAGE, o->cursor);
	if (wafa_pg_query(o->round_pg, sql, 0, NULL, on_page, a) == 0) {
		o->busy++;
		return;
	}
	free(a);
	o->rule = -1; /* not connected: the cursor went with the session */
	o->running = false;
}

static void on_declared(PGresult *res, void *arg)
{
	struct ask *a = arg;
	struct wafa_offers *o = a->o;

	if (settle(o) || a->gen != o->gen || !res) {
		if (!o->closing)
			end_rule(o, false);
		free(a);
		return;
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		wafa_log(WAFA_ERROR, "offer", "rule=%s: reading customers: %s",
		         o->rules->rules[a->rule].name, wafa_pg_result_error(res));
		o->rule = -1; /* not declared: nothing to close */
		free(a);
		look(o);
		return;
	}
	fetch(o, a);
}

/* Opens the next offer rule's cursor; one rule at a time. */
static void look(struct wafa_offers *o)
{
	struct ask *a;

	o->running = false;
	if (o->closing || !o->rules)
		return;
	while (o->next < o->rules->nrules && o->rules->rules[o->next].kind != WAFA_RULE_OFFER)
		o->next++;
	if (o->next >= o->rules->nrules)
		return;
	o->round_pg = o->pg && wafa_pg_connected(o->pg) ? o->pg : o->spare;
	if (!o->round_pg || !(a = malloc(sizeof(*a))))
		return;
	a->o = o;
	a->gen = o->gen;
	a->rule = o->next++;
	o->now = wafa_clock_now_ms();
	o->seen = o->offered = 0;
	snprintf(o->cursor, sizeof(o->cursor), "wafa_offers_%u", o->rounds++);
	free(o->declare);
	if (asprintf(&o->declare, "DECLARE %s NO SCROLL CURSOR WITH HOLD FOR %s", o->cursor,
	             o->sql) < 0) {
		o->declare = NULL;
		free(a);
		return;
	}
	const char *p[] = { o->rules->rules[a->rule].name };
	if (wafa_pg_query(o->round_pg, o->declare, 1, p, on_declared, a) != 0) {
		free(a);
		return;
	}
	o->busy++;
	o->rule = a->rule;
	o->running = true;
}

static void on_timer(uv_timer_t *t)
{
	struct wafa_offers *o = t->data;

	if (o->busy || o->running)
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
	free(o->declare);
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
