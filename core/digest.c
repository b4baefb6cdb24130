#include "digest.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pg.h"
#include "report.h"

#define TICK_MS 60000
#define MONDAY_MS (4 * 86400 * INT64_C(1000)) /* 1970-01-05 00:00 UTC */

struct wafa_digest {
	uv_timer_t timer;
	const struct wafa_config *cfg;
	const bool *leader;
	struct wafa_rules *rules;
	void (*queued)(void *arg);
	void *arg;
	PGconn *conn;
	/* by report name: the last period known to be in the outbox */
	struct done {
		char *name;
		int64_t period;
	} *done;
	size_t ndone;
};

static const char exists_sql[] = "SELECT 1 FROM outbox WHERE key = $1";

/* $1 key, $2 report name, $3 period start (s), $4 from, $5 to, $6 subject,
 * $7 text, $8 html, $9 locale */
static const char queue_sql[] =
	"INSERT INTO outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body, kind, "
	"                    audience, vars, locale) "
	"VALUES ($1, 0, $2, $3, $4, $5, $6, $7, 'report', 'agent', "
	"        jsonb_build_object('html', $8::text), nullif($9, '')) "
	"ON CONFLICT (key) DO NOTHING";

int64_t wafa_digest_period(int64_t now_ms, int64_t every_ms)
{
	int64_t n = now_ms - MONDAY_MS, k = n / every_ms;

	if (n < 0 && n % every_ms)
		k--;
	return MONDAY_MS + (k - 1) * every_ms;
}

static struct done *done_for(struct wafa_digest *g, const char *name)
{
	for (size_t i = 0; i < g->ndone; i++)
		if (strcmp(g->done[i].name, name) == 0)
			return &g->done[i];
	struct done *grown = realloc(g->done, (g->ndone + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	g->done = grown;
	if (!(g->done[g->ndone].name = strdup(name)))
		return NULL;
	g->done[g->ndone].period = INT64_MIN;
	return &g->done[g->ndone++];
}

static bool connected(struct wafa_digest *g)
{
	char why[512];

	if (g->conn && PQstatus(g->conn) == CONNECTION_OK)
		return true;
	PQfinish(g->conn);
	g->conn = wafa_report_connect(g->cfg, why, sizeof(why));
	if (!g->conn)
		wafa_log(WAFA_WARN, "report", "%s; trying again in a minute", why);
	return g->conn != NULL;
}

/* The first line of text (the report's title and period), as the subject. */
static char *subject_of(const char *text)
{
	size_t n = strcspn(text, "\n");
	return strndup(text, n);
}

/* Queues report rep's mail for the period starting at start (ms), unless it
 * is there already.  Returns 0, or -errno having logged why. */
static int queue(struct wafa_digest *g, const struct wafa_report_decl *rep, int64_t start)
{
	char key[400], phase[32], why[1024];
	char *html = NULL, *text = NULL, *subject = NULL;
	size_t len;
	PGresult *res;
	int err = 0;

	snprintf(phase, sizeof(phase), "%" PRId64, start / 1000);
	snprintf(key, sizeof(key), "report/%s/%s", rep->name, phase);
	const char *kp[] = { key };
	res = PQexecParams(g->conn, exists_sql, 1, NULL, kp, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_WARN, "report", "report=%s: %s", rep->name, wafa_pg_result_error(res));
		PQclear(res);
		return -EIO;
	}
	bool there = PQntuples(res) > 0;
	PQclear(res);
	if (there)
		return 0;
	struct wafa_report_opts o = {
		.from = start,
		.to = start + rep->every_ms,
		.by = rep->by ? (enum wafa_report_by)wafa_report_by_parse(rep->by) : WAFA_BY_RULE,
		.format = WAFA_REPORT_HTML,
		.locale = rep->locale,
	};
	int64_t began = wafa_clock_now_ms();
	err = wafa_report_make(g->conn, g->cfg, g->rules, &o, &html, &len, &text, why, sizeof(why));
	if (err) {
		wafa_log(WAFA_ERROR, "report", "report=%s: %s", rep->name, why);
		goto out;
	}
	if (!(subject = subject_of(text))) {
		err = -ENOMEM;
		goto out;
	}
	const char *p[] = { key, rep->name, phase, g->cfg->from, rep->to, subject, text, html,
		            rep->locale ? rep->locale : "" };
	res = PQexec(g->conn, "BEGIN READ WRITE");
	PQclear(res);
	res = PQexecParams(g->conn, queue_sql, 9, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		wafa_log(WAFA_ERROR, "report", "report=%s: queueing it: %s", rep->name,
		         wafa_pg_result_error(res));
		err = -EIO;
	} else if (strcmp(PQcmdTuples(res), "1") == 0) {
		wafa_log(WAFA_INFO, "report", "report=%s queued as %s for %s (%zu bytes, built in %" PRId64
		                              " ms)",
		         rep->name, key, rep->to, len, wafa_clock_now_ms() - began);
		g->queued(g->arg);
	}
	PQclear(res);
	PQclear(PQexec(g->conn, err ? "ROLLBACK" : "COMMIT"));
out:
	free(html);
	free(text);
	free(subject);
	return err;
}

static void on_tick(uv_timer_t *t)
{
	struct wafa_digest *g = t->data;
	int64_t now = wafa_clock_now_ms();

	if (!*g->leader || !g->rules || g->rules->nreports == 0)
		return;
	for (int i = 0; i < g->rules->nreports; i++) {
		const struct wafa_report_decl *rep = &g->rules->reports[i];
		int64_t start = wafa_digest_period(now, rep->every_ms);
		struct done *d = done_for(g, rep->name);
		if (!d || d->period >= start)
			continue;
		if (!connected(g))
			return;
		if (queue(g, rep, start) == 0)
			d->period = start;
	}
}

int wafa_digest_open(uv_loop_t *loop, const struct wafa_config *cfg, const bool *leader,
                     uint64_t first_ms, void (*queued)(void *arg), void *arg,
                     struct wafa_digest **out)
{
	struct wafa_digest *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->cfg = cfg;
	g->leader = leader;
	g->queued = queued;
	g->arg = arg;
	uv_timer_init(loop, &g->timer);
	g->timer.data = g;
	uv_timer_start(&g->timer, on_tick, first_ms, TICK_MS);
	*out = g;
	return 0;
}

void wafa_digest_set_rules(struct wafa_digest *g, struct wafa_rules *r)
{
	g->rules = r;
}

static void on_closed(uv_handle_t *h)
{
	struct wafa_digest *g = h->data;

	for (size_t i = 0; i < g->ndone; i++)
		free(g->done[i].name);
	free(g->done);
	free(g);
}

void wafa_digest_close(struct wafa_digest *g)
{
	if (!g)
		return;
	uv_timer_stop(&g->timer);
	PQfinish(g->conn);
	g->conn = NULL;
	g->rules = NULL;
	uv_close((uv_handle_t *)&g->timer, on_closed);
}
