#include "fire/digest.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "time/clock.h"
#include "base/log.h"
#include "store/pg.h"
#include "tools/report.h"
#include "lua/sandbox.h"

#define TICK_MS 60000
#define MONDAY_MS (4 * 86400 * INT64_C(1000)) /* 1970-01-05 00:00 UTC */

/* One report being built on a worker thread: what it needs is copied, since
 * a reload may free the loop's rules and change [rules] dir meanwhile. */
struct job {
	uv_work_t req;
	struct wafa_digest *g;
	char *name, *to, *locale, *by, *rules_dir;
	int64_t every_ms, start, rules_memory, rules_budget_ms;
	int err;     /* out: 0 when the period's mail is in the outbox */
	bool queued; /* out: this job put it there */
};

struct wafa_digest {
	uv_timer_t timer;
	uv_loop_t *loop;
	const struct wafa_config *cfg;
	const bool *leader;
	struct wafa_rules *rules; /* the loop's: which reports, how often */
	void (*queued)(void *arg);
	void *arg;
	PGconn *conn;     /* the worker's (one job at a time) */
	struct job *job;  /* being built, or NULL */
	bool closing, timer_closed;
	pthread_mutex_t lock;
	PGcancel *cancel; /* (under lock) cuts the worker's query short on close */
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

/* On the worker thread. */
static bool connected(struct wafa_digest *g)
{
	char why[512];
	PGcancel *cancel = NULL;

	if (g->conn && PQstatus(g->conn) == CONNECTION_OK)
		return true;
	PQfinish(g->conn);
	g->conn = wafa_report_connect(g->cfg, why, sizeof(why));
	if (!g->conn)
		wafa_log(WAFA_WARN, "report", "%s; trying again in a minute", why);
	else
		cancel = PQgetCancel(g->conn);
	pthread_mutex_lock(&g->lock);
	if (g->cancel)
		PQfreeCancel(g->cancel);
	g->cancel = cancel;
	pthread_mutex_unlock(&g->lock);
	return g->conn != NULL;
}

/* The first line of text (the report's title and period), as the subject. */
static char *subject_of(const char *text)
{
	size_t n = strcspn(text, "\n");
	return strndup(text, n);
}

/* Loads the rules afresh for the report's goals and calendars (a Lua
 * state is the thread's own).  A file's problems are the daemon's to say. */
static int load_rules(const struct job *j, struct wafa_sandbox **sbp, struct wafa_rules **rp)
{
	char *text = NULL;
	size_t len = 0;
	FILE *quiet;

	*sbp = NULL;
	*rp = NULL;
	if (wafa_sandbox_open((size_t)j->rules_memory, j->rules_budget_ms, sbp) != 0 ||
	    wafa_rules_open(*sbp, rp) != 0)
		return -ENOMEM;
	if (!(quiet = open_memstream(&text, &len)))
		return -ENOMEM;
	(void)wafa_rules_load_dir(*rp, j->rules_dir, quiet);
	fclose(quiet);
	free(text);
	return 0;
}

/* On the worker thread: queues the job's report for its period, unless it
 * is in the outbox already.  Sets j->err (0, or -errno having logged why). */
static void build(uv_work_t *req)
{
	struct job *j = req->data;
	struct wafa_digest *g = j->g;
	char key[400], phase[32], why[1024];
	char *html = NULL, *text = NULL, *subject = NULL;
	struct wafa_sandbox *sb = NULL;
	struct wafa_rules *rules = NULL;
	size_t len;
	PGresult *res;
	int err = 0;

	if (!connected(g)) {
		j->err = -EIO;
		return;
	}
	snprintf(phase, sizeof(phase), "%" PRId64, j->start / 1000);
	snprintf(key, sizeof(key), "report/%s/%s", j->name, phase);
	const char *kp[] = { key };
	res = PQexecParams(g->conn, exists_sql, 1, NULL, kp, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_WARN, "report", "report=%s: %s", j->name, wafa_pg_result_error(res));
		PQclear(res);
		j->err = -EIO;
		return;
	}
	bool there = PQntuples(res) > 0;
	PQclear(res);
	if (there)
		return;
	struct wafa_report_opts o = {
		.from = j->start,
		.to = j->start + j->every_ms,
		.by = j->by ? (enum wafa_report_by)wafa_report_by_parse(j->by) : WAFA_BY_RULE,
		.format = WAFA_REPORT_HTML,
		.locale = j->locale,
	};
	int64_t began = wafa_clock_now_ms();
	if ((err = load_rules(j, &sb, &rules)) != 0) {
		wafa_log(WAFA_ERROR, "report", "report=%s: out of memory loading the rules", j->name);
		goto out;
	}
	err = wafa_report_make(g->conn, g->cfg, rules, &o, &html, &len, &text, why, sizeof(why));
	if (err) {
		wafa_log(WAFA_ERROR, "report", "report=%s: %s", j->name, why);
		goto out;
	}
	if (!(subject = subject_of(text))) {
		err = -ENOMEM;
		goto out;
	}
	const char *p[] = { key, j->name, phase, g->cfg->from, j->to, subject, text, html,
		            j->locale ? j->locale : "" };
	res = PQexec(g->conn, "BEGIN READ WRITE");
	PQclear(res);
	res = PQexecParams(g->conn, queue_sql, 9, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		wafa_log(WAFA_ERROR, "report", "report=%s: queueing it: %s", j->name,
		         wafa_pg_result_error(res));
		err = -EIO;
	} else if (strcmp(PQcmdTuples(res), "1") == 0) {
		j->queued = true;
	}
	PQclear(res);
	res = PQexec(g->conn, err ? "ROLLBACK" : "COMMIT");
	if (!err && PQresultStatus(res) != PGRES_COMMAND_OK) {
		wafa_log(WAFA_ERROR, "report", "report=%s: queueing it: %s", j->name,
		         wafa_pg_result_error(res));
		err = -EIO;
		j->queued = false;
	}
	PQclear(res);
	if (j->queued)
		wafa_log(WAFA_INFO, "report", "report=%s queued as %s for %s (%zu bytes, built in %" PRId64
		                              " ms off the loop)",
		         j->name, key, j->to, len, wafa_clock_now_ms() - began);
out:
	wafa_rules_close(rules);
	wafa_sandbox_close(sb);
	free(html);
	free(text);
	free(subject);
	j->err = err;
}

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->name);
	free(j->to);
	free(j->locale);
	free(j->by);
	free(j->rules_dir);
	free(j);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void digest_free(struct wafa_digest *g)
{
	PQfinish(g->conn);
	if (g->cancel)
		PQfreeCancel(g->cancel);
	pthread_mutex_destroy(&g->lock);
	for (size_t i = 0; i < g->ndone; i++)
		free(g->done[i].name);
	free(g->done);
	free(g);
}

static void on_tick(uv_timer_t *t);

/* Back on the loop: the period is done, or is tried again at the next tick. */
static void on_built(uv_work_t *req, int status)
{
	struct job *j = req->data;
	struct wafa_digest *g = j->g;
	struct done *d;
	bool next = status == 0 && j->err == 0;

	g->job = NULL;
	if (status == 0 && j->err == 0 && (d = done_for(g, j->name)) && d->period < j->start)
		d->period = j->start;
	if (j->queued && !g->closing)
		g->queued(g->arg);
	job_free(j);
	if (g->closing) {
		if (g->timer_closed)
			digest_free(g);
		return;
	}
	if (next)
		on_tick(&g->timer); /* the next report due, if any */
}

/* Starts building rep's report for the period at start.  Returns 0 or
 * -ENOMEM. */
static int start_job(struct wafa_digest *g, const struct wafa_report_decl *rep, int64_t start)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->g = g;
	j->name = strdup(rep->name);
	j->to = strdup(rep->to);
	j->locale = dup_or_null(rep->locale);
	j->by = dup_or_null(rep->by);
	j->rules_dir = strdup(g->cfg->rules_dir);
	j->every_ms = rep->every_ms;
	j->start = start;
	j->rules_memory = g->cfg->rules_memory;
	j->rules_budget_ms = g->cfg->rules_budget_ms;
	j->req.data = j;
	if (!j->name || !j->to || !j->rules_dir || (rep->locale && !j->locale) ||
	    (rep->by && !j->by) || uv_queue_work(g->loop, &j->req, build, on_built) != 0) {
		job_free(j);
		return -ENOMEM;
	}
	g->job = j;
	return 0;
}

static void on_tick(uv_timer_t *t)
{
	struct wafa_digest *g = t->data;
	int64_t now = wafa_clock_now_ms();

	if (g->job || !*g->leader || !g->rules || g->rules->nreports == 0)
		return;
	for (int i = 0; i < g->rules->nreports; i++) {
		const struct wafa_report_decl *rep = &g->rules->reports[i];
		int64_t start = wafa_digest_period(now, rep->every_ms);
		struct done *d = done_for(g, rep->name);
		if (!d || d->period >= start)
			continue;
		if (start_job(g, rep, start) != 0)
			wafa_log(WAFA_ERROR, "report", "report=%s: out of memory", rep->name);
		return; /* one at a time: on_built looks for the next */
	}
}

int wafa_digest_open(uv_loop_t *loop, const struct wafa_config *cfg, const bool *leader,
                     uint64_t first_ms, void (*queued)(void *arg), void *arg,
                     struct wafa_digest **out)
{
	struct wafa_digest *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->loop = loop;
	g->cfg = cfg;
	g->leader = leader;
	g->queued = queued;
	g->arg = arg;
	pthread_mutex_init(&g->lock, NULL);
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

	g->timer_closed = true;
	if (!g->job)
		digest_free(g);
}

void wafa_digest_close(struct wafa_digest *g)
{
	char why[256];

	if (!g)
		return;
	g->closing = true;
	g->rules = NULL;
	uv_timer_stop(&g->timer);
	if (g->job) {
		/* a report being built: its query is cut short, and the loop
		 * waits for the worker (uv_cancel, should it not have begun) */
		if (uv_cancel((uv_req_t *)&g->job->req) != 0) {
			pthread_mutex_lock(&g->lock);
			if (g->cancel)
				(void)PQcancel(g->cancel, why, sizeof(why));
			pthread_mutex_unlock(&g->lock);
		}
	}
	uv_close((uv_handle_t *)&g->timer, on_closed);
}
