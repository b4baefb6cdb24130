/* `wafa run`: wires the parts of one instance (instance.h) onto a libuv
 * loop and runs its lifecycle: the connections, leadership (a session
 * advisory lock; a standby waits), the rules loaded again on SIGHUP, and a
 * clean stop on SIGTERM/SIGINT. */

#include "daemon.h"
#include "instance.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "sync/adapter.h"
#include "time/clock.h"
#include "sync/customer.h"
#include "time/deadline.h"
#include "time/heap.h"
#include "sync/index.h"
#include "store/journal.h"
#include "fire/digest.h"
#include "base/duration.h"
#include "base/log.h"
#include "mail/mailer.h"
#include "web/metrics.h"
#include "store/outbox.h"
#include "store/pg.h"
#include "lua/rules.h"
#include "lua/sandbox.h"
#include "store/schema.h"
#include "fire/offer.h"
#include "base/watchdog.h"
#include "web/web.h"

/* ---- connections ---- */

void wafa__instance_start_reading(struct wafa_instance *d)
{
	d->loading = false;
	wafa__mirror_snapshot(d);
	wafa__mirror_kick_mailer(d);
}

static void on_marks(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;
	int n;

	if (!res)
		return;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "journal", "reading journal_mark: %s", wafa_pg_result_error(res));
		wafa__instance_shutdown(d, EX_SOFTWARE);
		return;
	}
	wafa__mirror_free_jmarks(d);
	n = PQntuples(res);
	d->jmarks = calloc((size_t)n + 1, sizeof(*d->jmarks));
	for (int i = 0; d->jmarks && i < n; i++) {
		d->jmarks[i].rule = strdup(PQgetvalue(res, i, 0));
		d->jmarks[i].ms = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		if (!d->jmarks[i].rule)
			break;
		d->njmarks++;
	}
	wafa__mirror_apply_marks(d);
	d->history_read = true;
	if (wafa__mirror_read_rule_seen(d, true) != 0)
		wafa__instance_start_reading(d);
}

static void on_history(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;
	int n;

	if (!res)
		return; /* lost: the next connection reads it */
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "journal", "reading status_log: %s", wafa_pg_result_error(res));
		wafa__instance_shutdown(d, EX_SOFTWARE);
		return;
	}
	n = PQntuples(res);
	d->loaded = n ? calloc((size_t)n, sizeof(*d->loaded)) : NULL;
	if (n && !d->loaded) {
		wafa_log(WAFA_ERROR, "journal", "out of memory reading %d status changes", n);
		wafa__instance_shutdown(d, EX_OSERR);
		return;
	}
	for (int i = 0; i < n; i++) {
		struct loaded_change *c = &d->loaded[i];
		int from = PQgetisnull(res, i, 2) ? -1 : wafa_status_index(PQgetvalue(res, i, 2));
		int to = wafa_status_index(PQgetvalue(res, i, 3));
		c->ticket_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		c->c.at = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		c->c.from = (unsigned char)(from < 0 ? WAFA_S_UNKNOWN : from);
		c->c.to = (unsigned char)(to < 0 ? WAFA_S_OPEN : to);
		/* rule names to this process's pause bits (the rules are loaded) */
		c->c.paused = wafa_journal_paused_bits(PQgetisnull(res, i, 4) ? NULL
		                                                              : PQgetvalue(res, i, 4),
		                                       wafa_rules_pause_bit);
	}
	d->nloaded = (size_t)n;
	wafa_log(WAFA_INFO, "journal", "%d status change(s) read from status_log", n);
	if (wafa_pg_query(d->work, wafa_journal_marks_sql, 0, NULL, on_marks, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the journal_mark query");
}

static void on_columns(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;
	int err;

	if (!res)
		return;
	if (PQresultStatus(res) != PGRES_TUPLES_OK ||
	    (err = wafa_adapter_build(&d->adapter, res)) == -ENOENT) {
		wafa_log(WAFA_ERROR, "adapter", "[helpdesk] view %s does not exist%s%s: create it "
		                                "(see sample-helpdesk.sql) or fix the name",
		         d->cfg->view, PQresultStatus(res) != PGRES_TUPLES_OK ? ": " : "",
		         PQresultStatus(res) != PGRES_TUPLES_OK ? wafa_pg_result_error(res) : "");
		wafa__instance_shutdown(d, EX_CONFIG);
		return;
	}
	if (err) {
		wafa_log(WAFA_ERROR, "adapter", "out of memory");
		wafa__instance_shutdown(d, EX_OSERR);
		return;
	}
	for (int i = WAFA_T_FIRST_OPTIONAL; i < WAFA_T_NSTR; i++)
		if (!(d->adapter.optional & (1u << (i - WAFA_T_FIRST_OPTIONAL))))
			wafa_log(WAFA_DEBUG, "adapter", "view %s has no %s column: it reads as nil",
			         d->cfg->view, wafa_ticket_str_names[i]);
	if (d->history_read) {
		wafa__instance_start_reading(d);
		return;
	}
	if (wafa_pg_query(d->work, wafa_journal_load_sql, 0, NULL, on_history, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the status_log query");
}

static void claim_leadership(struct wafa_instance *d);
static void on_leader_timer(uv_timer_t *t);
static void on_search_path(PGresult *res, void *arg);

static void on_leases_reset(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;

	if (!res)
		return; /* lost: the next connection asks to lead again */
	on_search_path(res, arg); /* logs an error */
	if (d->leader && d->mailer && !d->stopping)
		wafa_mailer_start(d->mailer);
	if (d->leader && d->dispatch && !d->stopping)
		wafa_dispatch_start(d->dispatch);
}

/* Leading: the leases of claimers that are gone go (a claim records the
 * claimer's backend pid; a claimer whose session is still there may still
 * be sending, and stops when it learns it lost the lead), then the tickets
 * are read. */
static void on_leadership(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;
	bool got;

	if (!res)
		return; /* lost again: the next connection asks */
	got = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (!got) {
		if (d->leader || !d->said_standby)
			wafa_log(WAFA_INFO, "daemon", "standby: another wafa leads on schema %s; taking "
			                              "over when it stops",
			         d->cfg->schema);
		d->said_standby = true;
		if (d->leader && d->mailer)
			wafa_mailer_pause(d->mailer);
		if (d->leader && d->dispatch)
			wafa_dispatch_pause(d->dispatch);
		d->leader = false;
		uv_timer_stop(&d->deadline_timer);
		if (!d->stopping)
			uv_timer_start(&d->leader_timer, on_leader_timer, 2000, 0);
		return;
	}
	if (!d->leader)
		wafa_log(WAFA_INFO, "daemon", "leading on schema %s", d->cfg->schema);
	d->leader = true;
	d->said_standby = false;
	if (d->mailer)
		wafa_mailer_set_leader(d->mailer, atoi(PQgetvalue(res, 0, 4)), d->cfg->schema);
	if (d->dispatch)
		wafa_dispatch_set_leader(d->dispatch, atoi(PQgetvalue(res, 0, 4)), d->cfg->schema);
	/* but not those this process still sends (leading again after a lost
	 * connection): another session would send them twice */
	char *mheld = d->mailer ? wafa_mailer_held(d->mailer) : NULL;
	char *dheld = d->dispatch ? wafa_dispatch_held(d->dispatch) : NULL;
	char *held = NULL;
	if (mheld && dheld && dheld[0]) {
		size_t n = strlen(mheld);
		/* "{1,2}" and "3,4" -> "{1,2,3,4}" */
		if (asprintf(&held, "%.*s%s%s}", (int)(n - 1), mheld, n > 2 ? "," : "", dheld) < 0)
			held = NULL;
		free(mheld);
	} else {
		held = mheld;
	}
	free(dheld);
	const char *hp[] = { held ? held : "{}" };
	/* the mailer (on its own connection) starts once the reset is done */
	if (wafa_pg_query(d->work, "UPDATE outbox SET claimed_until = NULL "
	                           " WHERE status = 'queued' AND claimed_until IS NOT NULL "
	                           "   AND NOT id = ANY($1::int8[]) "
	                           "   AND (claimed_by IS NULL OR claimed_by NOT IN "
	                           "        (SELECT pid FROM pg_stat_activity))",
	                  1, hp, on_leases_reset, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the lease reset");
	free(held);
	const char *p[] = { d->cfg->view };
	if (wafa_pg_query(d->work, d->adapter.columns_sql, 1, p, on_columns, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the view's column query");
}

static void claim_leadership(struct wafa_instance *d)
{
	const char *p[] = { d->cfg->schema };

	/* keepalives: a leader whose host vanishes loses its session (and the
	 * lock) within seconds, not the kernel's two hours */
	if (!d->stopping &&
	    wafa_pg_query(d->work,
	                  "SELECT pg_try_advisory_lock(hashtextextended('wafa leader:' || $1, 0)), "
	                  "       set_config('tcp_keepalives_idle', '5', false), "
	                  "       set_config('tcp_keepalives_interval', '2', false), "
	                  "       set_config('tcp_keepalives_count', '2', false), pg_backend_pid()",
	                  1, p, on_leadership, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the leadership query");
}

/* The session that holds the leader lock is gone: another instance may
 * lead now.  Fencing: this one stops sending at once (its batches given
 * up) and asks to lead again once connected. */
static void on_work_lost(struct wafa_pg *pg, void *arg)
{
	struct wafa_instance *d = arg;

	(void)pg;
	if (!d->leader)
		return;
	wafa_log(WAFA_WARN, "daemon", "the work connection, which holds the lead, is lost: not "
	                              "sending until leading again");
	d->leader = false;
	uv_timer_stop(&d->deadline_timer);
	if (d->mailer)
		wafa_mailer_fence(d->mailer);
	if (d->dispatch)
		wafa_dispatch_fence(d->dispatch);
}

static void on_leader_timer(uv_timer_t *t)
{
	struct wafa_instance *d = t->data;

	if (wafa_pg_connected(d->work) && !d->leader)
		claim_leadership(d);
}

static void on_version(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;
	int version;

	if (!res)
		return; /* lost again: the next connection checks */
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "schema",
		         "schema %s is missing (%s): run `wafa setup -c %s` first", d->cfg->schema,
		         wafa_pg_result_error(res), d->cfg->path);
		wafa__instance_shutdown(d, EX_CONFIG);
		return;
	}
	version = atoi(PQgetvalue(res, 0, 0));
	if (version != wafa_schema_version()) {
		wafa_log(WAFA_ERROR, "schema", "schema %s is at version %d, this wafa needs %d: run "
		                               "`wafa setup -c %s`",
		         d->cfg->schema, version, wafa_schema_version(), d->cfg->path);
		wafa__instance_shutdown(d, EX_CONFIG);
		return;
	}
	claim_leadership(d);
}

static void on_search_path(PGresult *res, void *arg)
{
	(void)arg;
	if (res && PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		wafa_log(WAFA_ERROR, "pg", "%s", wafa_pg_result_error(res));
}

static void on_work_connected(struct wafa_pg *pg, void *arg)
{
	struct wafa_instance *d = arg;
	const char *p[] = { d->quoted_schema };

	if (wafa_pg_query(pg, wafa_schema_search_path_sql, 1, p, on_search_path, d) != 0 ||
	    wafa_pg_query(pg, wafa_schema_version_sql, 0, NULL, on_version, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the first queries");
}

static void on_mail_connected(struct wafa_pg *pg, void *arg)
{
	struct wafa_instance *d = arg;
	const char *p[] = { d->quoted_schema };

	if (wafa_pg_query(pg, wafa_schema_search_path_sql, 1, p, on_search_path, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the mail connection's search_path");
}

static void on_listening(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;

	if (!res)
		return;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		wafa_log(WAFA_ERROR, "adapter", "LISTEN %s: %s", d->cfg->notify_channel,
		         wafa_pg_result_error(res));
		return;
	}
	wafa_log(WAFA_INFO, "adapter", "listening on %s", d->cfg->notify_channel);
	/* whatever changed while nobody listened: read it all again */
	if (d->ready)
		wafa__mirror_snapshot(d);
}

static void on_listen_connected(struct wafa_pg *pg, void *arg)
{
	struct wafa_instance *d = arg;

	if (wafa_pg_query(pg, d->adapter.listen_sql, 0, NULL, on_listening, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue LISTEN");
}

static void on_jconn_connected(struct wafa_pg *pg, void *arg)
{
	struct wafa_instance *d = arg;
	const char *p[] = { d->quoted_schema };

	if (wafa_pg_query(pg, wafa_schema_search_path_sql, 1, p, on_search_path, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the journal connection's search_path");
}

/* ---- rules: loaded at start and again on SIGHUP ---- */

/* Opens a sandbox and loads the rule files into it; each problem is logged
 * and disables its file only.  Returns 0 or a sysexits code. */
static int load_rules(const struct wafa_config *cfg, struct wafa_sandbox **sbp,
                      struct wafa_rules **rulesp)
{
	struct wafa_sandbox *sb = NULL;
	struct wafa_rules *rules = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *report;
	int problems;

	if (wafa_sandbox_open((size_t)cfg->rules_memory, cfg->rules_budget_ms, &sb) != 0 ||
	    wafa_rules_open(sb, &rules) != 0) {
		wafa_log(WAFA_ERROR, "rules", "cannot start the Lua host");
		wafa_sandbox_close(sb);
		return EX_SOFTWARE;
	}
	report = open_memstream(&text, &len);
	if (!report) {
		wafa_rules_close(rules);
		wafa_sandbox_close(sb);
		return EX_OSERR;
	}
	problems = wafa_rules_load_dir(rules, cfg->rules_dir, report);
	fclose(report);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		wafa_log(WAFA_ERROR, "rules", "%s (file disabled)", line);
	free(text);
	if (problems < 0) {
		wafa_rules_close(rules);
		wafa_sandbox_close(sb);
		return EX_CONFIG;
	}
	/* a webhook no [webhook NAME] declares: said now, not only when its
	 * row is parked (the file still runs: its mail and the rest go) */
	text = NULL;
	len = 0;
	if ((report = open_memstream(&text, &len)) != NULL) {
		(void)wafa_dispatch_check_rules(cfg, cfg->rules_dir, report);
		fclose(report);
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
			wafa_log(WAFA_WARN, "rules", "%s", line);
		free(text);
	}
	wafa_log(WAFA_INFO, "rules", "%d rule(s) loaded from %s", rules->nrules, cfg->rules_dir);
	*sbp = sb;
	*rulesp = rules;
	return 0;
}

/* Reads the config file again; the reloadable keys apply at once. */
static int reload_config(struct wafa_instance *d)
{
	char *text = NULL;
	size_t len = 0;
	FILE *report = open_memstream(&text, &len);
	int err;

	if (!report)
		return -ENOMEM;
	err = wafa_config_reload(d->cfg, report);
	fclose(report);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		wafa_log(WAFA_ERROR, "config", "%s", line);
	free(text);
	if (err)
		return err;
	wafa_log_set_level((enum wafa_log_level)d->cfg->log_level);
	uv_timer_start(&d->reconcile_timer, wafa__mirror_on_reconcile, (uint64_t)d->cfg->reconcile_ms,
	               (uint64_t)d->cfg->reconcile_ms);
	if (d->mailer && d->leader)
		wafa_mailer_start(d->mailer);
	if (d->dispatch && d->leader)
		wafa_dispatch_start(d->dispatch);
	return 0;
}

/* The ticket reads select the optional columns the rules name (a view's
 * last_agent_body subquery was 45% of a snapshot's database time), and
 * firing's thread_message_id for the mail. */
static int use_rules_columns(struct wafa_instance *d)
{
	unsigned named = wafa_rules_columns(d->rules);

	wafa_ticket_scheduled_columns(named);
	return wafa_adapter_want(&d->adapter, named);
}

/* SIGHUP: the config and the rule files are read again and every ticket rescheduled under
 * them.  What has fired is known by its journal step row, so nothing fires
 * twice; firings in flight under the old rules are dropped (their tickets
 * are rescheduled and checked again). */
static void on_reload(uv_signal_t *s, int signum)
{
	struct wafa_instance *d = s->data;
	struct wafa_sandbox *sb;
	struct wafa_rules *rules;

	(void)signum;
	wafa_log(WAFA_INFO, "daemon", "SIGHUP: reloading %s and the rules", d->cfg->path);
	if (reload_config(d) != 0 || load_rules(d->cfg, &sb, &rules) != 0) {
		wafa_log(WAFA_ERROR, "daemon", "reload failed; what was loaded before stays");
		return;
	}
	/* the tickets with a deadline soon are read again first, by id, ahead
	 * of the snapshot: at 10M it takes half a minute, and their deadlines
	 * are gone until they are read */
	int64_t soon = wafa_clock_now_ms() + RELOAD_SOON_MS;
	size_t nsoon = 0;
	for (size_t i = 0; i < d->heap.count; i++) {
		if (d->heap.items[i]->at_ms > soon)
			continue;
		if (wafa__mirror_want_id(d, d->heap.items[i]->ticket->id) != 0)
			break; /* the snapshot reads the rest */
		nsoon++;
	}
	for (size_t i = 0; i < d->index.cap; i++) {
		struct wafa_ticket *t = d->index.slots[i].t;
		if (!t)
			continue;
		t->ndeadlines = 0; /* the heap is emptied whole below */
		/* rule numbers change: wafa.fired and the journal still know */
		t->ndone = 0;
		free(t->when);
		t->when = NULL;
		t->nwhen = 0;
		free(t->vals);
		t->vals = NULL;
		t->nvals = 0;
		free(t->js);
		t->js = NULL;
		t->nj = 0;
	}
	wafa_heap_clear(&d->heap);
	/* what the old rules' marks reached holds for the same names */
	for (size_t k = 0; d->marks && k < d->njmarks; k++)
		for (int i = 0; i < d->rules->nrules; i++)
			if (strcmp(d->jmarks[k].rule, d->rules->rules[i].name) == 0 &&
			    d->marks[i] > d->jmarks[k].ms)
				d->jmarks[k].ms = d->marks[i];
	wafa_rules_close(d->rules);
	wafa_sandbox_close(d->sb);
	d->rules = rules;
	d->sb = sb;
	d->rules_gen++;
	if (use_rules_columns(d) != 0)
		wafa_log(WAFA_ERROR, "adapter", "out of memory building the ticket queries");
	if (d->offers)
		wafa_offers_set_rules(d->offers, d->rules);
	if (d->digest)
		wafa_digest_set_rules(d->digest, d->rules);
	wafa__mirror_apply_marks(d);
	if (wafa__mirror_read_rule_seen(d, false) != 0)
		wafa_log(WAFA_ERROR, "rules", "cannot record the rules in rule_seen: new ones count "
		                              "as first seen now");
	/* the index keeps no ticket text (firing re-reads it): the new rules'
	 * when(t) needs the rows, so they are read again, and each ticket is
	 * scheduled as it comes; the snapshot's end starts the catch-up */
	wafa_log(WAFA_INFO, "rules", "reading %zu tickets again for the new rules (first the %zu "
	                             "deadline(s) due within %d s)",
	         d->index.count, nsoon, RELOAD_SOON_MS / 1000);
	d->repause = true; /* the new rules' pauses are asked of each row as it comes */
	wafa__mirror_fetch_ids(d); /* ahead of the snapshot's pages on the work connection */
	wafa__mirror_snapshot(d);
	wafa__firing_arm(d);
}

/* ---- start and stop ---- */

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void close_all(struct wafa_instance *d)
{
	wafa_pg_close(d->work);
	wafa_pg_close(d->listen);
	wafa_pg_close(d->jconn);
	wafa_pg_close(d->mail);
	d->work = d->listen = d->jconn = d->mail = NULL;
	uv_close((uv_handle_t *)&d->deadline_timer, on_handle_closed);
	uv_close((uv_handle_t *)&d->reconcile_timer, on_handle_closed);
	uv_close((uv_handle_t *)&d->stop_timer, on_handle_closed);
	uv_close((uv_handle_t *)&d->journal_timer, on_handle_closed);
	uv_close((uv_handle_t *)&d->leader_timer, on_handle_closed);
	uv_close((uv_handle_t *)&d->answer_timer, on_handle_closed);
	uv_close((uv_handle_t *)&d->sigterm, on_handle_closed);
	uv_close((uv_handle_t *)&d->sigint, on_handle_closed);
	uv_close((uv_handle_t *)&d->sighup, on_handle_closed);
}

static void on_stop_tick(uv_timer_t *t)
{
	struct wafa_instance *d = t->data;
	static int ticks;

	/* let in-flight firings record what they did, and the journal be
	 * written, for at most 10 s */
	bool unwritten = wafa_journal_pending(&d->journal) > 0 || d->journal_text;
	bool writable = d->work && wafa_pg_connected(wafa__mirror_journal_conn(d));
	if (writable && unwritten && ticks < 200)
		wafa__mirror_on_journal_tick(&d->journal_timer);
	if ((d->firing > 0 || (d->work && wafa_pg_pending(d->work) > 0) ||
	     (d->jconn && wafa_pg_pending(d->jconn) > 0) ||
	     (d->mail && wafa_pg_pending(d->mail) > 0) || (writable && unwritten)) &&
	    ++ticks < 200)
		return;
	uv_timer_stop(t);
	close_all(d);
}

static void on_offers_stopped(void *arg)
{
	struct wafa_instance *d = arg;

	d->offers = NULL;
	uv_timer_start(&d->stop_timer, on_stop_tick, 0, 50);
}

/* The gauges of GET .../metrics, read on the loop thread. */
static void read_gauges(void *arg, struct wafa_metrics_gauges *g)
{
	const struct wafa_instance *d = arg;

	g->tickets = d->index.count;
	g->deadlines = d->heap.count;
	g->leader = d->leader;
}

static void on_web_stopped(void *arg)
{
	struct wafa_instance *d = arg;

	d->web = NULL;
	if (d->offers)
		wafa_offers_close(d->offers, on_offers_stopped, d);
	else
		on_offers_stopped(d);
}

static void on_dispatch_stopped(void *arg)
{
	struct wafa_instance *d = arg;

	d->dispatch = NULL;
	if (d->web)
		wafa_web_close(d->web, on_web_stopped, d);
	else
		on_web_stopped(d);
}

static void on_mailer_stopped(void *arg)
{
	struct wafa_instance *d = arg;

	d->mailer = NULL;
	if (d->dispatch)
		wafa_dispatch_stop(d->dispatch, on_dispatch_stopped, d);
	else
		on_dispatch_stopped(d);
}

void wafa__instance_shutdown(struct wafa_instance *d, int code)
{
	if (d->stopping)
		return;
	d->stopping = true;
	d->exit_code = code;
	wafa_watchdog_close(d->watchdog);
	d->watchdog = NULL;
	wafa_digest_close(d->digest);
	d->digest = NULL;
	uv_timer_stop(&d->deadline_timer);
	uv_timer_stop(&d->reconcile_timer);
	uv_timer_stop(&d->leader_timer);
	uv_timer_stop(&d->answer_timer);
	uv_signal_stop(&d->sigterm);
	uv_signal_stop(&d->sigint);
	uv_signal_stop(&d->sighup);
	if (d->mailer)
		wafa_mailer_stop(d->mailer, on_mailer_stopped, d);
	else
		on_mailer_stopped(d);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct wafa_instance *d = s->data;

	wafa_log(WAFA_INFO, "daemon", "%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	wafa__instance_shutdown(d, EX_OK);
}

int wafa_daemon_run(struct wafa_config *cfg)
{
	struct wafa_instance d = { 0 };
	struct wafa_channel_handle channel = { 0 };
	uv_loop_t loop;
	struct wafa_pg_hooks work_hooks = { on_work_connected, NULL, &d, NULL, on_work_lost };
	struct wafa_pg_hooks listen_hooks = { on_listen_connected, wafa__mirror_on_notify, &d, NULL, NULL };
	struct wafa_pg_hooks jconn_hooks = { on_jconn_connected, NULL, &d, NULL, NULL };
	/* the mailer's claim walks outbox_claim in order.  The planner, with
	 * statistics from before a burst (few queued), would rather gather
	 * every queued row with a bitmap scan and sort them all: 0.1-0.7 s a
	 * claim at 100k queued, which made the mailer a tenth of the relay's
	 * pace.  Its other statements look rows up by id. */
	struct wafa_pg_hooks mail_hooks = { on_mail_connected, NULL, &d, "-c enable_bitmapscan=off",
	                                    NULL };
	int code = EX_OK;

	/* libESMTP writes with write(2): a reset mid-DATA must not kill us */
	signal(SIGPIPE, SIG_IGN);
	wafa_log_set_level((enum wafa_log_level)cfg->log_level);
	d.cfg = cfg;
	d.exit_code = EX_OK;
	wafa_index_init(&d.index);
	wafa_heap_init(&d.heap);
	if (wafa_journal_init(&d.journal) != 0)
		return EX_OSERR;
	if (uv_loop_init(&loop) != 0)
		return EX_OSERR;
	d.loop = &loop;

	code = load_rules(cfg, &d.sb, &d.rules);
	if (code)
		goto out;
	if (wafa_adapter_init(&d.adapter, cfg) != 0 || use_rules_columns(&d) != 0 ||
	    !(d.quoted_schema = wafa_pg_quote_ident(cfg->schema))) {
		code = EX_OSERR;
		goto out;
	}
	if (wafa_channel_open(cfg, &channel) != 0) {
		code = EX_CONFIG;
		goto out;
	}

	uv_timer_init(&loop, &d.deadline_timer);
	uv_timer_init(&loop, &d.reconcile_timer);
	uv_timer_init(&loop, &d.stop_timer);
	uv_timer_init(&loop, &d.journal_timer);
	uv_timer_init(&loop, &d.leader_timer);
	uv_timer_init(&loop, &d.answer_timer);
	d.leader_timer.data = d.answer_timer.data = &d;
	d.deadline_timer.data = d.reconcile_timer.data = d.stop_timer.data = &d;
	d.journal_timer.data = &d;
	uv_signal_init(&loop, &d.sigterm);
	uv_signal_init(&loop, &d.sigint);
	uv_signal_init(&loop, &d.sighup);
	d.sigterm.data = d.sigint.data = d.sighup.data = &d;
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);
	uv_signal_start(&d.sighup, on_reload, SIGHUP);

	if (wafa_pg_open(&loop, cfg->dsn, "work", &work_hooks, &d.work) != 0 ||
	    wafa_pg_open(&loop, cfg->dsn, "listen", &listen_hooks, &d.listen) != 0 ||
	    wafa_pg_open(&loop, cfg->dsn, "journal", &jconn_hooks, &d.jconn) != 0 ||
	    wafa_pg_open(&loop, cfg->dsn, "mail", &mail_hooks, &d.mail) != 0 ||
	    wafa_mailer_open(&loop, cfg, d.mail, channel, &d.mailer) != 0 ||
	    wafa_dispatch_open(&loop, cfg, d.mail, &d.dispatch) != 0) {
		code = EX_OSERR;
		wafa_channel_close(&channel);
		wafa__instance_shutdown(&d, code);
	} else {
		channel.state = NULL; /* the mailer owns it; it sends once this instance leads */
		if (wafa_offers_open(&loop, cfg, d.jconn, d.work, wafa__mirror_kick_mailer, &d, &d.offers) == 0)
			wafa_offers_set_rules(d.offers, d.rules);
		if (wafa_digest_open(&loop, cfg, &d.leader, 3000, wafa__mirror_kick_mailer, &d, &d.digest) == 0)
			wafa_digest_set_rules(d.digest, d.rules);
		wafa_metrics_set_gauges(read_gauges, &d);
		if ((cfg->web_listen[0] || cfg->web_metrics_listen[0]) &&
		    wafa_web_open(&loop, cfg, d.work, &d.web) != 0) {
			wafa_log(WAFA_ERROR, "web", "cannot listen on %s (see above); stopping",
			         cfg->web_listen[0] ? cfg->web_listen : cfg->web_metrics_listen);
			wafa__instance_shutdown(&d, EX_CONFIG);
		}
		uv_timer_start(&d.reconcile_timer, wafa__mirror_on_reconcile, (uint64_t)cfg->reconcile_ms,
		               (uint64_t)cfg->reconcile_ms);
		uv_timer_start(&d.journal_timer, wafa__mirror_on_journal_tick, JOURNAL_FLUSH_MS, JOURNAL_FLUSH_MS);
		uv_timer_start(&d.answer_timer, wafa__answers_tick, ANSWER_POLL_MS, ANSWER_POLL_MS);
		if (d.web)
			wafa_web_on_answer(d.web, wafa__answers_kick, &d);
		wafa_log(WAFA_INFO, "daemon", "wafa %s running", PACKAGE_VERSION);
		if (!d.stopping && wafa_watchdog_open(&loop, &d.watchdog) != 0)
			wafa_log(WAFA_WARN, "daemon", "systemd watchdog: out of memory; no pings");
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	wafa_metrics_reset(); /* d goes, and its gauges with it */
	code = d.exit_code;
	if (uv_loop_close(&loop) != 0) {
		/* a handle nobody closed is a bug: say so in the exit status */
		wafa_log(WAFA_ERROR, "daemon", "handles left open at exit");
		code = EX_SOFTWARE;
	}
	wafa_log(WAFA_INFO, "daemon", "stopped");
out:
	for (size_t i = 0; i < d.index.cap; i++)
		if (d.index.slots[i].t)
			wafa_deadlines_unschedule(&d.heap, d.index.slots[i].t);
	wafa_index_free(&d.index);
	wafa_heap_free(&d.heap);
	wafa_rules_close(d.rules);
	wafa_sandbox_close(d.sb);
	wafa_adapter_free(&d.adapter);
	free(d.quoted_schema);
	free(d.ids);
	free(d.inflight);
	free(d.said);
	free(d.recheck);
	free(d.loaded);
	free(d.marks);
	free(d.journal_text);
	wafa__mirror_free_jmarks(&d);
	for (size_t k = 0; k < d.nseen; k++)
		free(d.seen[k].rule);
	free(d.seen);
	free(d.since);
	wafa_journal_free(&d.journal);
	wafa_customer_free(&d.customers);
	wafa_customer_params_free(d.customer_params);
	return code;
}
