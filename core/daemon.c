#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "adapter.h"
#include "clock.h"
#include "customer.h"
#include "deadline.h"
#include "heap.h"
#include "index.h"
#include "journal.h"
#include "digest.h"
#include "duration.h"
#include "log.h"
#include "mailer.h"
#include "metrics.h"
#include "outbox.h"
#include "pg.h"
#include "rules.h"
#include "sandbox.h"
#include "schema.h"
#include "offer.h"
#include "watchdog.h"
#include "web.h"

#define RETRY_FIRE_MS 1000
#define BAD_ROW_RETRY_MS 60000 /* a ticket whose row the view fails on */
/* a firing stopped by the rules' budget: tried again after 1, 2, 4 s */
#define OVERRUN_RETRY_MS 1000
#define OVERRUN_TRIES 3
#define RECONCILE_OVERLAP_MS 60000
/* on a reload, deadlines due within this are read again ahead of the rest */
#define RELOAD_SOON_MS 120000
#define JOURNAL_FLUSH_MS 200
#define JOURNAL_BATCH 1000

/* A status change from wafa.status_log, held until its ticket is indexed. */
struct loaded_change {
	int64_t ticket_id;
	struct wafa_status_change c;
};

struct daemon {
	uv_loop_t *loop;
	struct wafa_config *cfg;
	struct wafa_sandbox *sb;
	struct wafa_rules *rules;
	struct wafa_index index;
	struct wafa_heap heap;
	struct wafa_adapter adapter;
	struct wafa_pg *work;   /* queries */
	struct wafa_pg *listen; /* LISTEN only: a busy connection hears late */
	/* the journal, and half of a snapshot's pages: neither a firing on the
	 * work connection nor a notification waits behind them */
	struct wafa_pg *jconn;
	/* the mailer's: a 250 is recorded as it comes, not behind a snapshot or
	 * a journal batch (a kill -9 in between sends it again) */
	struct wafa_pg *mail;
	struct wafa_mailer *mailer;
	struct wafa_web *web; /* the customers' clicks; NULL without [web] listen */
	struct wafa_watchdog *watchdog; /* systemd's pings; NULL when not asked */
	struct wafa_offers *offers;
	/* each ticket's customer address and openness, for the mailer's claim
	 * (customer.h): collected here, written on the journal's connection */
	struct wafa_customer_batch customers;
	char **customer_params; /* the batch out, or waiting to go again */
	bool customers_busy;
	int customer_tries;
	struct wafa_digest *digest; /* the mailed reports */
	uv_timer_t deadline_timer, reconcile_timer, stop_timer, journal_timer, leader_timer;
	/* the leadership lease: a session advisory lock on the work connection;
	 * only the leader reads tickets, fires and sends (a standby waits) */
	bool leader;
	bool said_standby;
	struct wafa_journal journal;
	bool journal_busy;
	bool catching_up; /* catch_up() is going through the index */
	size_t catchup_pos, catchup_cap;
	unsigned drops, catchup_drops; /* a removal may shift a ticket behind the cursor */
	int64_t catchup_started;
	char *journal_text; /* the batch being written, kept until it is */
	const char *journal_sql;
	int journal_tries;
	/* wafa.status_log, read at start before the first snapshot */
	struct loaded_change *loaded;
	size_t nloaded;
	bool history_read;
	/* wafa.journal_mark: by rule name as read, and by rule number */
	struct jmark { char *rule; int64_t ms; } *jmarks;
	size_t njmarks;
	int64_t *marks;
	bool marking;
	/* wafa.rule_seen: when wafa first had each rule, by name, and by rule
	 * number (the go-live guard) */
	struct jmark *seen;
	size_t nseen;
	int64_t *since;
	uv_signal_t sigterm, sigint, sighup;
	unsigned rules_gen; /* bumped by each reload: older firings are dropped */
	char *quoted_schema;
	/* snapshot state */
	bool ready;      /* a first snapshot has completed */
	bool loading;    /* a snapshot is running */
	bool reload;     /* another one is wanted after it */
	bool snap_failed, snap_bad_view; /* a stream ended early (bad_view: by an error) */
	int snap_parts, snap_running;    /* its streams, and those still reading */
	int64_t snap_last[2];            /* the last id each stream read (0 up, 1 down) */
	unsigned mark;   /* generation of the running snapshot */
	size_t nmarked;  /* tickets in the index it has seen (sweep) */
	int64_t seen_updated_ms;
	/* tickets whose row was logged as bad (sorted): said once, not at each
	 * read, until a good row of it is read */
	int64_t *said;
	size_t nsaid, said_cap;
	/* ids heard by NOTIFY: waiting to be read, and being read */
	int64_t *ids, *inflight;
	size_t nids, ids_cap, ninflight, inflight_cap;
	bool fetching;
	size_t ids_batch; /* ids asked at once: halved while a read fails */
	bool reconciling;
	bool reconcile_aside; /* the reconciliation reads on the journal's connection */
	bool reading_aside;   /* rows being taken in were read there (take_row) */
	unsigned firing; /* firings in flight */
	size_t reconciled; /* rows the running reconciliation has streamed */
	int64_t reconciled_at; /* when the last reconciliation started (ms) */
	bool stopping;
	int exit_code;
};

static void arm(struct daemon *d);
static void on_journal_tick(uv_timer_t *timer);
static void array_element(FILE *f, const char *s, bool first);
static void start_reading(struct daemon *d);
static void snapshot_page(struct daemon *d, int part);
static void snapshot(struct daemon *d);
static void shutdown_daemon(struct daemon *d, int code);

/* ---- the ticket index, fed from query results ---- */

static void drop_ticket(struct daemon *d, int64_t id)
{
	struct wafa_ticket *t = wafa_index_remove(&d->index, id);

	if (!t)
		return;
	if (t->mark == d->mark)
		d->nmarked--;
	d->drops++;
	if (wafa_customer_add(&d->customers, id, NULL, false) != 0)
		wafa_log(WAFA_ERROR, "index", "ticket=%" PRId64 ": out of memory", id);
	wafa_deadlines_unschedule(&d->heap, t);
	wafa_ticket_free(t);
	wafa_log(WAFA_DEBUG, "index", "ticket=%" PRId64 " gone", id);
}

/* ---- the customer facts (customer.h), written in batches ---- */

#define CUSTOMER_BATCH 5000

static void flush_customers(struct daemon *d);

static void on_customers_written(PGresult *res, void *arg)
{
	struct daemon *d = arg;

	d->customers_busy = false;
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		d->customer_tries = 0;
	} else if (res && ++d->customer_tries >= 3) {
		wafa_log(WAFA_ERROR, "index", "writing customer facts failed 3 times, batch dropped "
		                              "(the contact policy may miss open tickets until they "
		                              "change): %s",
		         wafa_pg_result_error(res));
		d->customer_tries = 0;
	} else {
		if (res)
			wafa_log(WAFA_WARN, "index", "writing customer facts: %s; trying again",
			         wafa_pg_result_error(res));
		return; /* lost, or once more: kept for the next tick */
	}
	wafa_customer_params_free(d->customer_params);
	d->customer_params = NULL;
	if (d->customers.n >= CUSTOMER_BATCH)
		flush_customers(d);
}

static void flush_customers(struct daemon *d)
{
	struct wafa_pg *pg = d->jconn && wafa_pg_connected(d->jconn) ? d->jconn : d->work;

	if (d->customers_busy || !wafa_pg_connected(pg))
		return;
	if (!d->customer_params && !(d->customer_params = wafa_customer_take(&d->customers)))
		return;
	if (wafa_pg_query(pg, wafa_customer_write_sql, 3,
	                  (const char *const *)d->customer_params, on_customers_written, d) == 0)
		d->customers_busy = true;
}

/* A ticket read: its customer facts, when they may have changed. */
static void note_customer(struct daemon *d, struct wafa_ticket *t)
{
	int status = wafa_ticket_status(t);

	if (wafa_customer_add(&d->customers, t->id, wafa_ticket_str(t, WAFA_T_CUSTOMER_EMAIL),
	                      status != WAFA_S_SOLVED && status != WAFA_S_CLOSED) != 0)
		wafa_log(WAFA_ERROR, "index", "ticket=%" PRId64 ": out of memory", t->id);
}

/* ---- the journal: transitions and status changes, written in batches ---- */

static void on_journal_event(void *arg, const struct wafa_ticket *t, const struct wafa_rule *rule,
                             int64_t instance, enum wafa_event ev, int64_t at, const char *detail)
{
	struct daemon *d = arg;

	if (wafa_journal_event(&d->journal, t->id, rule->name,
	                       wafa_rule_kind_names[rule->kind], instance,
	                       wafa_event_names[ev], NULL, at, WAFA_NO_TIME, detail) != 0)
		wafa_log(WAFA_ERROR, "journal", "ticket=%" PRId64 " rule=%s: out of memory", t->id,
		         rule->name);
}

/* Recomputes t's deadlines; with journal, journals its new transitions
 * too.  A snapshot does not: its tickets are journaled after it, a batch at
 * a time (catch_up), so a cold start is not paced by the journal. */
static int schedule(struct daemon *d, struct wafa_ticket *t, bool journal)
{
	struct wafa_journal_sink sink = { on_journal_event, d, wafa_clock_now_ms(), d->marks };

	if (d->reconciling)
		journal = false; /* the catch-up after it journals them (on_since) */
	return wafa_deadlines_schedule(d->rules, &d->heap, t, journal ? &sink : NULL);
}

/* Journals what the last snapshot read, JOURNAL_BATCH events at a time:
 * called while the journal has room.  Tickets already told (changed since)
 * cost a recomputation and add nothing. */
static void catch_up(struct daemon *d)
{
	struct wafa_journal_sink sink = { on_journal_event, d, wafa_clock_now_ms(), d->marks };
	int budget = 2000;

	if (!d->catching_up)
		return;
	if (d->catchup_cap != d->index.cap || d->catchup_drops != d->drops) {
		/* the index grew, or a removal shifted a ticket behind the cursor:
		 * start again (tickets already told cost a recomputation only) */
		d->catchup_cap = d->index.cap;
		d->catchup_drops = d->drops;
		d->catchup_pos = 0;
	}
	while (d->catchup_pos < d->index.cap && budget-- > 0 &&
	       wafa_journal_pending(&d->journal) < JOURNAL_BATCH) {
		struct wafa_ticket *t = d->index.slots[d->catchup_pos++].t;
		if (t)
			wafa_deadlines_journal(d->rules, t, &sink);
	}
	if (d->catchup_pos >= d->index.cap) {
		d->catching_up = false;
		wafa_log(WAFA_INFO, "journal", "caught up with %zu tickets in %.1f s", d->index.count,
		         (double)(wafa_clock_now_ms() - d->catchup_started) / 1000);
	}
}

static void on_journal_written(PGresult *res, void *arg)
{
	struct daemon *d = arg;

	d->journal_busy = false;
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		free(d->journal_text);
		d->journal_text = NULL;
		if (d->catching_up || wafa_journal_pending(&d->journal) >= JOURNAL_BATCH)
			on_journal_tick(&d->journal_timer);
		return;
	}
	/* a lost connection (res NULL) is retried as it is; an error the
	 * database gives is retried a few times, then reported and dropped */
	if (res && ++d->journal_tries >= 3) {
		wafa_log(WAFA_ERROR, "journal", "writing the journal failed 3 times, batch dropped: %s",
		         wafa_pg_result_error(res));
		free(d->journal_text);
		d->journal_text = NULL;
	} else if (res) {
		wafa_log(WAFA_WARN, "journal", "writing the journal: %s; trying again",
		         wafa_pg_result_error(res));
	}
}

/* The journal has a connection of its own (the work connection while that
 * one is down), so that a firing never waits behind a batch of it: after a
 * first start, one `started` row per ticket (10M at 10M tickets) goes in.
 * Marks advance only once a batch is known written, whichever carried it. */
static struct wafa_pg *journal_conn(struct daemon *d)
{
	return d->jconn && wafa_pg_connected(d->jconn) ? d->jconn : d->work;
}

/* Writes what the journal collected, a batch at a time: status changes
 * first, then events.  A batch stays until the database has it. */
static void on_journal_tick(uv_timer_t *timer)
{
	struct daemon *d = timer->data;

	flush_customers(d);

	if (d->journal_busy || !wafa_pg_connected(journal_conn(d)))
		return;
	catch_up(d);
	if (!d->journal_text) {
		d->journal_tries = 0;
		if ((d->journal_text = wafa_journal_take_changes(&d->journal)) != NULL)
			d->journal_sql = wafa_journal_changes_sql;
		else if ((d->journal_text = wafa_journal_take_events(&d->journal)) != NULL)
			d->journal_sql = wafa_journal_events_sql;
		else
			return;
	}
	const char *p[] = { d->journal_text };
	if (wafa_pg_query(journal_conn(d), d->journal_sql, 1, p, on_journal_written, d) == 0)
		d->journal_busy = true;
}

/* Maps the marks read by rule name onto the loaded rules' numbers. */
static void apply_marks(struct daemon *d)
{
	int64_t *marks = calloc((size_t)d->rules->nrules + 1, sizeof(*marks));

	if (!marks)
		return; /* without marks everything is journaled again: duplicates are ignored */
	for (int i = 0; i < d->rules->nrules; i++) {
		marks[i] = INT64_MIN;
		for (size_t k = 0; k < d->njmarks; k++)
			if (strcmp(d->jmarks[k].rule, d->rules->rules[i].name) == 0)
				marks[i] = d->jmarks[k].ms;
	}
	free(d->marks);
	d->marks = marks;
}

static void free_jmarks(struct daemon *d)
{
	for (size_t k = 0; k < d->njmarks; k++)
		free(d->jmarks[k].rule);
	free(d->jmarks);
	d->jmarks = NULL;
	d->njmarks = 0;
}

/* Maps when each rule was first had onto the loaded rules; a name not
 * seen before is first seen now. */
static void apply_since(struct daemon *d)
{
	int64_t now = wafa_clock_now_ms();
	int64_t *since = calloc((size_t)d->rules->nrules + 1, sizeof(*since));

	if (!since) {
		/* the old numbers are for the old rules: the guard is off until
		 * the next read of rule_seen */
		free(d->since);
		d->since = NULL;
		return;
	}
	for (int i = 0; i < d->rules->nrules; i++) {
		size_t k = 0;
		while (k < d->nseen && strcmp(d->seen[k].rule, d->rules->rules[i].name) != 0)
			k++;
		if (k == d->nseen) {
			struct jmark *grown = realloc(d->seen, (d->nseen + 1) * sizeof(*grown));
			if (!grown || !(grown[k].rule = strdup(d->rules->rules[i].name))) {
				if (grown)
					d->seen = grown;
				since[i] = now;
				continue;
			}
			d->seen = grown;
			d->seen[k].ms = now;
			d->nseen++;
		}
		since[i] = d->seen[k].ms;
	}
	free(d->since);
	d->since = since;
}

struct seen_read {
	struct daemon *d;
	bool start; /* then the first snapshot follows */
};

static void on_rule_seen(PGresult *res, void *arg)
{
	struct seen_read *sr = arg;
	struct daemon *d = sr->d;

	if (!res)
		goto out; /* lost: the next connection reads it */
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* the rules count as first seen now: the guard errs on holding back */
		wafa_log(WAFA_ERROR, "journal", "reading rule_seen: %s", wafa_pg_result_error(res));
	} else {
		for (int r = 0; r < PQntuples(res); r++)
			for (size_t k = 0; k < d->nseen; k++)
				if (strcmp(d->seen[k].rule, PQgetvalue(res, r, 0)) == 0)
					d->seen[k].ms = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		apply_since(d);
	}
	if (sr->start)
		start_reading(d);
out:
	free(sr);
}

/* Records the loaded rules in wafa.rule_seen and reads when each was first
 * had.  Returns 0, or -1 when it could not be sent. */
static int read_rule_seen(struct daemon *d, bool start)
{
	struct seen_read *sr = malloc(sizeof(*sr));
	char *names = NULL;
	size_t len = 0;
	FILE *f;
	int err = -1;

	apply_since(d);
	if (!sr || !(f = open_memstream(&names, &len))) {
		free(sr);
		return -1;
	}
	fputc('{', f);
	for (int i = 0; i < d->rules->nrules; i++)
		array_element(f, d->rules->rules[i].name, i == 0);
	fputc('}', f);
	fclose(f);
	sr->d = d;
	sr->start = start;
	const char *p[] = { names };
	err = wafa_pg_query(d->work, wafa_schema_rule_seen_sql, 1, p, on_rule_seen, sr);
	if (err)
		free(sr);
	free(names);
	return err ? -1 : 0;
}

/* The go-live guard: why the mail of a step that fell due at `due` is held
 * back, into why, or NULL to send it.  A step that fell due more than limit
 * before wafa first had its rule is from before wafa's time (a first start
 * over old tickets, a rule added later): mailing it now would mail every
 * customer the helpdesk ever had. */
static const char *go_live_held(const struct daemon *d, int rule, int64_t due, int64_t limit,
                                const char *key, char *why, size_t len)
{
	char ago[32], lim[32];

	if (limit <= 0 || !d->since || due >= d->since[rule] - limit)
		return NULL;
	snprintf(why, len, "go-live guard: fell due %s before wafa first had rule %s (%s = %s)",
	         wafa_duration_format(d->since[rule] - due, ago, sizeof(ago)),
	         d->rules->rules[rule].name, key, wafa_duration_format(limit, lim, sizeof(lim)));
	return why;
}

struct mark_write {
	struct daemon *d;
	int64_t ms;
	unsigned rules_gen; /* the rules it was written for */
};

static void on_marks_written(PGresult *res, void *arg)
{
	struct mark_write *mw = arg;
	struct daemon *d = mw->d;

	d->marking = false;
	/* after a reload the rules are others: the database has the mark, and
	 * the next write covers the new rules */
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK && mw->rules_gen == d->rules_gen) {
		for (int i = 0; d->marks && i < d->rules->nrules; i++)
			if (d->marks[i] < mw->ms)
				d->marks[i] = mw->ms;
	} else if (res) {
		wafa_log(WAFA_ERROR, "journal", "writing journal_mark: %s", wafa_pg_result_error(res));
	}
	free(mw);
}

/* Once all that was read is journaled, records how far: a restart then
 * skips the transitions of tickets not updated since. */
static void advance_marks(struct daemon *d, int64_t overlap)
{
	struct mark_write *mw;
	char *names = NULL, ms[32];
	size_t len = 0;
	FILE *f;

	if (!d->ready || d->loading || d->marking || d->journal_busy || d->journal_text ||
	    d->catching_up ||
	    wafa_journal_pending(&d->journal) > 0 || d->rules->nrules == 0 ||
	    !wafa_pg_connected(d->work) || d->seen_updated_ms == 0)
		return;
	if (!(mw = malloc(sizeof(*mw))) || !(f = open_memstream(&names, &len))) {
		free(mw);
		return;
	}
	fputc('{', f);
	for (int i = 0; i < d->rules->nrules; i++)
		array_element(f, d->rules->rules[i].name, i == 0);
	fputc('}', f);
	fclose(f);
	mw->d = d;
	mw->ms = d->seen_updated_ms - overlap;
	mw->rules_gen = d->rules_gen;
	snprintf(ms, sizeof(ms), "%" PRId64, mw->ms);
	const char *p[] = { names, ms };
	if (wafa_pg_query(d->work, wafa_journal_set_marks_sql, 2, p, on_marks_written, mw) == 0)
		d->marking = true;
	else
		free(mw);
	free(names);
}

/* Gives a ticket first seen the status changes read from wafa.status_log. */
static void adopt_history(struct daemon *d, struct wafa_ticket *t)
{
	size_t lo = 0, hi = d->nloaded;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->loaded[mid].ticket_id < t->id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < d->nloaded && d->loaded[lo].ticket_id == t->id; lo++) {
		const struct wafa_status_change *c = &d->loaded[lo].c;
		if (wafa_ticket_add_change(t, c->at, c->from, c->to) != 0)
			break;
	}
}

/* Journals a status change seen in a row.  prev: the status wafa knew
 * (WAFA_S_UNKNOWN: never seen).  A change seen live is dated by the row's
 * updated_at; one found at start-up (or after a reconnect) too, and the
 * journal marks it inferred. */
static void note_status(struct daemon *d, struct wafa_ticket *t, int prev, bool live)
{
	int now = wafa_ticket_status(t);
	int64_t at = t->time[WAFA_T_UPDATED_AT];

	if (prev == now)
		return;
	if (prev == WAFA_S_UNKNOWN) {
		/* a new ticket in a working status needs no entry: that is the default */
		if (now == WAFA_S_NEW || now == WAFA_S_OPEN)
			return;
		if ((now == WAFA_S_SOLVED || now == WAFA_S_CLOSED) &&
		    t->time[WAFA_T_SOLVED_AT] != WAFA_NO_TIME)
			at = t->time[WAFA_T_SOLVED_AT];
		live = false;
	}
	if (at == WAFA_NO_TIME)
		at = wafa_clock_now_ms();
	if (wafa_ticket_add_change(t, at, prev, now) != 0 ||
	    wafa_journal_change(&d->journal, t->id, t->hist[t->nhist - 1].at,
	                        prev == WAFA_S_UNKNOWN ? NULL : wafa_status_names[prev],
	                        wafa_status_names[now], !live) != 0)
		wafa_log(WAFA_ERROR, "journal", "ticket=%" PRId64 ": out of memory", t->id);
	else
		wafa_log(WAFA_DEBUG, "journal", "ticket=%" PRId64 " status %s -> %s%s", t->id,
		         prev == WAFA_S_UNKNOWN ? "(first seen)" : wafa_status_names[prev],
		         wafa_status_names[now], live ? "" : " (inferred)");
}

#define SAID_MAX 100000 /* bad rows remembered; past them each read logs at debug */

/* Whether a bad row of ticket id is to be logged: the first time since its
 * row was last good.  good: it is good now (forgotten). */
static bool say_once(struct daemon *d, int64_t id, bool good)
{
	size_t lo = 0, hi = d->nsaid;

	if (good && d->nsaid == 0)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->said[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	bool known = lo < d->nsaid && d->said[lo] == id;
	if (good) {
		if (known)
			memmove(d->said + lo, d->said + lo + 1, (--d->nsaid - lo) * sizeof(*d->said));
		return false;
	}
	if (known)
		return false;
	if (d->nsaid == d->said_cap) {
		size_t cap = d->said_cap ? d->said_cap * 2 : 64;
		int64_t *grown = cap <= SAID_MAX ? realloc(d->said, cap * sizeof(*grown)) : NULL;
		if (!grown)
			return false;
		d->said = grown;
		d->said_cap = cap;
	}
	memmove(d->said + lo + 1, d->said + lo, (d->nsaid - lo) * sizeof(*d->said));
	d->said[lo] = id;
	d->nsaid++;
	return true;
}

/* t was read by the running snapshot's generation (sweep keeps it). */
static void seen(struct daemon *d, struct wafa_ticket *t)
{
	if (t->mark != d->mark) {
		t->mark = d->mark;
		d->nmarked++;
	}
}

/* Takes row `row` into the index.  With schedule, recomputes its deadlines.
 * live: the row was read as it changed (not by a snapshot).
 * Returns the indexed ticket, or NULL for a malformed row (logged). */
static struct wafa_ticket *take_row(struct daemon *d, PGresult *res, int row, bool schedule_it,
                                    bool live)
{
	struct wafa_ticket *fresh, *t;
	const char *why = "";
	int err = wafa_ticket_from_row(res, row, &fresh, &why);
	int prev;

	if (err) {
		bool has_id = !PQgetisnull(res, row, 0);
		int64_t id = has_id ? strtoll(PQgetvalue(res, row, 0), NULL, 10) : 0;
		/* once per ticket: it is read again at every reconciliation */
		wafa_log(!has_id || err != -EINVAL || say_once(d, id, false) ? WAFA_WARN : WAFA_DEBUG,
		         "index", "skipping a malformed ticket row (id=%s): %s; fix it in the "
		         "helpdesk or map it in the view",
		         has_id ? PQgetvalue(res, row, 0) : "NULL", why);
		/* what wafa knew of it is out of date: no deadline of it stays */
		if (err == -EINVAL && has_id)
			drop_ticket(d, id);
		return NULL;
	}
	if (why)
		wafa_log(say_once(d, fresh->id, false) ? WAFA_WARN : WAFA_DEBUG, "index",
		         "ticket=%" PRId64 ": %s; read as unset (fix it in the helpdesk or map it "
		         "in the view)",
		         fresh->id, why);
	else
		say_once(d, fresh->id, true);
	if (fresh->time[WAFA_T_UPDATED_AT] != WAFA_NO_TIME &&
	    fresh->time[WAFA_T_UPDATED_AT] > d->seen_updated_ms)
		d->seen_updated_ms = fresh->time[WAFA_T_UPDATED_AT];
	t = wafa_index_get(&d->index, fresh->id);
	if (t && d->reading_aside && fresh->time[WAFA_T_UPDATED_AT] != WAFA_NO_TIME &&
	    fresh->time[WAFA_T_UPDATED_AT] < t->time[WAFA_T_UPDATED_AT]) {
		/* read on the journal's connection before a newer read of it on
		 * the work connection was taken in: the newer one stays */
		seen(d, t);
		wafa_ticket_free(fresh);
		return t;
	}
	bool facts = !t || t->hash != fresh->hash; /* the address or status may differ */
	if (t) {
		prev = wafa_ticket_status(t);
		wafa_ticket_replace(t, fresh);
	} else {
		t = fresh;
		if (wafa_index_add(&d->index, t) != 0) {
			wafa_log(WAFA_ERROR, "index", "ticket=%" PRId64 ": out of memory", t->id);
			wafa_ticket_free(t);
			return NULL;
		}
		adopt_history(d, t);
		prev = t->nhist ? t->hist[t->nhist - 1].to : WAFA_S_UNKNOWN;
	}
	note_status(d, t, prev, live);
	if (facts)
		note_customer(d, t);
	seen(d, t);
	if (schedule_it) {
		if (schedule(d, t, live) != 0)
			wafa_log(WAFA_ERROR, "index", "ticket=%" PRId64 ": out of memory scheduling",
			         t->id);
		wafa_ticket_strip(t); /* scheduled: what the rules said is cached */
	}
	return t;
}

static int take_rows(struct daemon *d, PGresult *res, const char *what, bool live)
{
	int n;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "adapter", "%s failed: %s", what, wafa_pg_result_error(res));
		return -1;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		take_row(d, res, i, true, live);
		/* the next page streams in meanwhile, instead of waiting in
		 * the server for the socket to drain */
		if (i % 512 == 511) {
			wafa_pg_consume(d->work);
			wafa_pg_consume(d->jconn);
		}
	}
	arm(d);
	if (d->customers.n >= CUSTOMER_BATCH)
		flush_customers(d);
	/* a snapshot's transitions go out between its pages, not all at the end */
	if (wafa_journal_pending(&d->journal) >= JOURNAL_BATCH)
		on_journal_tick(&d->journal_timer);
	return n;
}

static void kick_mailer(void *arg)
{
	struct daemon *d = arg;

	if (d->mailer)
		wafa_mailer_kick(d->mailer);
}

static void start_catch_up(struct daemon *d)
{
	d->catching_up = true;
	d->catchup_pos = 0;
	d->catchup_cap = d->index.cap;
	d->catchup_drops = d->drops;
	d->catchup_started = wafa_clock_now_ms();
}

/* ---- snapshot: every ticket, keyset-paginated, in two streams ----
 *
 * The database, not wafa, is the slower part of a snapshot (formatting
 * and sending 5,000 rows takes it twice as long as wafa takes to index
 * them), so the tickets are read in two streams at once: up from the lowest
 * id on the work connection, and down from the highest on the journal's.
 * Each asks only for ids short of where the other has got to, so they meet
 * wherever the tickets are, and a stream ends at a short page.  Without the
 * journal's connection, one stream reads all. */

struct snap_page {
	struct daemon *d;
	unsigned gen; /* the snapshot's mark: a page of an older one is dropped */
	int part;
};

static void sweep(struct daemon *d)
{
	/* tickets the snapshot did not see have left the view: counted as it
	 * went, so the index is walked only when some have, and only until
	 * the last of them is gone (at 10M a walk costs a cache miss a slot) */
	for (size_t i = 0; d->nmarked < d->index.count && i < d->index.cap; i++) {
		struct wafa_ticket *t = d->index.slots[i].t;
		if (t && t->mark != d->mark) {
			drop_ticket(d, t->id);
			i--; /* backward shift may have moved another into slot i */
		}
	}
}

/* Every stream has ended: the snapshot is whole, or failed. */
static void snapshot_done(struct daemon *d)
{
	d->loading = false;
	if (d->snap_failed) {
		if (d->snap_bad_view && !d->ready) {
			wafa_log(WAFA_ERROR, "adapter", "cannot read [helpdesk] view %s: make it return "
			                                "the normalized ticket columns (see "
			                                "sample-helpdesk.sql)",
			         d->cfg->view);
			shutdown_daemon(d, EX_CONFIG);
		} else if (d->snap_bad_view) {
			d->reload = true; /* again at the next reconciliation */
		} else {
			/* a connection was lost: again now with those still up (none
			 * while the work connection is down: its reconnect starts one) */
			snapshot(d);
		}
		return;
	}
	sweep(d);
	wafa_log(WAFA_INFO, "adapter", "snapshot: %zu tickets, %zu deadlines", d->index.count,
	         d->heap.count);
	if (!d->ready && d->offers)
		wafa_offers_start(d->offers, 3000);
	d->ready = true;
	/* every ticket in the view has its history now; what is left belongs to
	 * tickets gone from the view */
	free(d->loaded);
	d->loaded = NULL;
	d->nloaded = 0;
	start_catch_up(d);
	if (d->reload) {
		d->reload = false;
		snapshot(d);
	}
}

static bool row_error(const PGresult *res);
static int want_id(struct daemon *d, int64_t id);
static void fetch_ids(struct daemon *d);

/* A stream's page of ids, read when its page of tickets failed on a row:
 * the tickets go to be read by id (fetch_ids), which sets the bad row
 * apart, and the stream goes on past them. */
static void on_page_ids(PGresult *res, void *arg)
{
	struct snap_page *pg = arg;
	struct daemon *d = pg->d;
	int part = pg->part, n;
	bool current = pg->gen == d->mark && d->loading;

	free(pg);
	if (!current)
		return;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "adapter", "reading the tickets failed: %s",
		         wafa_pg_result_error(res));
		d->snap_failed = true;
		d->snap_bad_view = d->snap_bad_view || res;
		if (--d->snap_running == 0)
			snapshot_done(d);
		return;
	}
	n = PQntuples(res);
	for (int r = 0; r < n; r++) {
		int64_t id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		struct wafa_ticket *t = wafa_index_get(&d->index, id);
		if (t)
			seen(d, t); /* in the view: the sweep keeps it while it is read */
		if (want_id(d, id) != 0)
			d->reload = true; /* out of memory: a snapshot again later */
	}
	fetch_ids(d);
	if (n == WAFA_ADAPTER_PAGE) {
		d->snap_last[part] = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
		snapshot_page(d, part);
		return;
	}
	if (--d->snap_running == 0)
		snapshot_done(d);
}

static void on_page(PGresult *res, void *arg)
{
	struct snap_page *pg = arg;
	struct daemon *d = pg->d;
	int part = pg->part, n;
	bool current = pg->gen == d->mark && d->loading;

	if (current && row_error(res)) {
		/* one row the view fails on fails its page: the page is read
		 * again by id, and the ids path sets that row apart */
		char from[32], to[32];
		const char *p[] = { from, to };
		wafa_log(WAFA_DEBUG, "adapter", "a page of tickets failed: %s; reading it by id",
		         wafa_pg_result_error(res));
		snprintf(from, sizeof(from), "%" PRId64, d->snap_last[part]);
		snprintf(to, sizeof(to), "%" PRId64, d->snap_last[!part]);
		if (wafa_pg_query(part == 0 ? d->work : d->jconn,
		                  part == 0 ? d->adapter.page_ids_sql : d->adapter.page_ids_desc_sql, 2,
		                  p, on_page_ids, pg) == 0)
			return;
		/* not connected: failed as below */
	}
	free(pg);
	if (!current)
		return; /* a snapshot started since reads everything again */
	/* a full page: the next is asked for before this one is taken in, so
	 * the database reads it while wafa indexes this one */
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == WAFA_ADAPTER_PAGE) {
		d->snap_last[part] = strtoll(PQgetvalue(res, WAFA_ADAPTER_PAGE - 1, 0), NULL, 10);
		snapshot_page(d, part);
		d->reading_aside = part == 1;
		take_rows(d, res, "reading the tickets", false);
		d->reading_aside = false;
		return;
	}
	d->reading_aside = part == 1;
	n = take_rows(d, res, "reading the tickets", false);
	d->reading_aside = false;
	if (n < 0) {
		d->snap_failed = true;
		d->snap_bad_view = d->snap_bad_view || res;
	}
	if (--d->snap_running == 0)
		snapshot_done(d);
}

/* Asks stream part (0 up, 1 down) for its next page, short of the other. */
static void snapshot_page(struct daemon *d, int part)
{
	char from[32], to[32];
	const char *p[] = { from, to };
	struct snap_page *pg = malloc(sizeof(*pg));

	snprintf(from, sizeof(from), "%" PRId64, d->snap_last[part]);
	snprintf(to, sizeof(to), "%" PRId64, d->snap_last[!part]);
	if (pg) {
		pg->d = d;
		pg->gen = d->mark;
		pg->part = part;
	}
	if (!pg || wafa_pg_query(part == 0 ? d->work : d->jconn,
	                         part == 0 ? d->adapter.page_sql : d->adapter.page_desc_sql, 2, p,
	                         on_page, pg) != 0) {
		free(pg);
		wafa_log(WAFA_WARN, "adapter", "cannot read the tickets now (%s); again when the "
		                               "connection is back",
		         pg ? "not connected" : "out of memory");
		d->snap_failed = true;
		if (--d->snap_running == 0)
			snapshot_done(d);
	}
}

/* A full re-read: at start and after any reconnection, since notifications
 * sent while a connection was down are lost. */
static void snapshot(struct daemon *d)
{
	if (d->stopping)
		return;
	if (d->loading) {
		d->reload = true;
		return;
	}
	if (!wafa_pg_connected(d->work))
		return; /* its connected hook starts one */
	d->loading = true;
	d->reload = false;
	d->mark++;
	d->nmarked = 0;
	d->snap_failed = d->snap_bad_view = false;
	d->snap_parts = d->jconn && wafa_pg_connected(d->jconn) ? 2 : 1;
	d->snap_running = d->snap_parts;
	d->snap_last[0] = INT64_MIN; /* the ends of the ids: neither stream has read any */
	d->snap_last[1] = INT64_MAX;
	for (int part = d->snap_parts - 1; part >= 0 && d->loading; part--)
		snapshot_page(d, part);
}

/* Whether a failed read may be one row's doing: a data exception (class
 * 22: a cast or a division in the view) or a function the view calls that
 * raised (P0).  A missing view or privilege fails every row alike, and is
 * not worth reading again in halves. */
static bool row_error(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "P0", 2) == 0);
}

/* ---- NOTIFY: a hint that a ticket changed ---- */

static void fetch_ids(struct daemon *d);
static int want_id(struct daemon *d, int64_t id);

#define IDS_BATCH 10000 /* ticket ids asked for in one query */

static int by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sorts the ids waiting to be fetched and drops repeats: a burst of
 * notifications costs O(n log n), not a scan of the list for each. */
static void compact_ids(struct daemon *d)
{
	size_t n = 0;

	if (d->nids < 2)
		return; /* nothing to sort (and d->ids may be NULL: qsort wants a base) */
	qsort(d->ids, d->nids, sizeof(*d->ids), by_id);
	for (size_t i = 0; i < d->nids; i++)
		if (n == 0 || d->ids[i] != d->ids[n - 1])
			d->ids[n++] = d->ids[i];
	d->nids = n;
}

static void on_ids(PGresult *res, void *arg)
{
	struct daemon *d = arg;
	int64_t *seen = NULL;

	d->fetching = false;
	if (row_error(res)) {
		/* a row the view fails on (a cast in it, say) fails the read of
		 * every id with it: the ids are asked again in halves until it
		 * stands alone, and it alone is skipped */
		if (d->ninflight > 1) {
			wafa_log(WAFA_DEBUG, "adapter", "reading %zu changed tickets failed: %s; again "
			                                "in halves",
			         d->ninflight, wafa_pg_result_error(res));
			d->ids_batch = d->ninflight / 2;
			for (size_t i = 0; i < d->ninflight; i++)
				if (want_id(d, d->inflight[i]) != 0)
					break; /* the next reconciliation or snapshot reads it */
		} else if (d->ninflight == 1) {
			wafa_log(say_once(d, d->inflight[0], false) ? WAFA_WARN : WAFA_DEBUG, "adapter",
			         "ticket=%" PRId64 ": the view cannot read it (%s); what was read "
			         "of it before stays (fix the row or the view)",
			         d->inflight[0], wafa_pg_result_error(res));
		}
		d->ninflight = 0;
		fetch_ids(d);
		return;
	}
	if (d->ids_batch < IDS_BATCH)
		d->ids_batch = d->ids_batch ? d->ids_batch * 2 : IDS_BATCH;
	if (take_rows(d, res, "reading changed tickets", true) >= 0) {
		/* an id asked for and not returned has left the view */
		int n = PQntuples(res);
		seen = malloc(((size_t)n + 1) * sizeof(*seen));
		for (int r = 0; seen && r < n; r++)
			seen[r] = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		if (seen)
			qsort(seen, (size_t)n, sizeof(*seen), by_id);
		for (size_t i = 0; seen && i < d->ninflight; i++)
			if (!bsearch(&d->inflight[i], seen, (size_t)n, sizeof(*seen), by_id))
				drop_ticket(d, d->inflight[i]);
		arm(d);
	}
	/* on failure the reconnect's snapshot covers these ids */
	free(seen);
	d->ninflight = 0;
	fetch_ids(d);
}

/* Asks for up to IDS_BATCH of the tickets notified since the last fetch. */
static void fetch_ids(struct daemon *d)
{
	char *list = NULL;
	size_t len = 0, k;
	FILE *f;

	if (d->fetching || d->nids == 0 || !wafa_pg_connected(d->work) || !d->adapter.ids_sql)
		return;
	compact_ids(d);
	size_t batch = d->ids_batch && d->ids_batch < IDS_BATCH ? d->ids_batch : IDS_BATCH;
	k = d->nids < batch ? d->nids : batch;
	if (d->inflight_cap < k) {
		int64_t *grown = realloc(d->inflight, k * sizeof(*grown));
		if (!grown)
			return; /* tried again at the next notification or reconciliation */
		d->inflight = grown;
		d->inflight_cap = k;
	}
	f = open_memstream(&list, &len);
	if (!f)
		return;
	fputc('{', f);
	for (size_t i = 0; i < k; i++)
		fprintf(f, "%s%" PRId64, i ? "," : "", d->ids[i]);
	fputc('}', f);
	fclose(f);
	/* what is asked now moves aside; new ids collect for the next fetch */
	memcpy(d->inflight, d->ids, k * sizeof(*d->ids));
	memmove(d->ids, d->ids + k, (d->nids - k) * sizeof(*d->ids));
	d->ninflight = k;
	d->nids -= k;
	const char *p[] = { list };
	if (wafa_pg_query(d->work, d->adapter.ids_sql, 1, p, on_ids, d) == 0)
		d->fetching = true;
	else
		d->ninflight = 0;
	free(list);
}

/* Puts id on the list of tickets to read again (fetch_ids).  Returns 0 or
 * -ENOMEM. */
static int want_id(struct daemon *d, int64_t id)
{
	if (d->nids == d->ids_cap) {
		compact_ids(d); /* repeats go; the list grows only for new ids */
		if (d->nids * 2 >= d->ids_cap) {
			size_t cap = d->ids_cap ? d->ids_cap * 2 : 64;
			int64_t *grown = realloc(d->ids, cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			d->ids = grown;
			d->ids_cap = cap;
		}
	}
	d->ids[d->nids++] = id;
	return 0;
}

static void on_notify(struct wafa_pg *pg, const char *channel, const char *payload, void *arg)
{
	struct daemon *d = arg;
	char *end;
	long long id;

	(void)pg;
	errno = 0;
	id = strtoll(payload, &end, 10);
	if (errno || end == payload || *end) {
		wafa_log(WAFA_WARN, "adapter", "NOTIFY %s: payload \"%.40s\" is not a ticket id; "
		                               "the trigger should send the id alone",
		         channel, payload);
		return;
	}
	wafa_log(WAFA_DEBUG, "adapter", "ticket=%lld changed", id);
	if (want_id(d, id) != 0) {
		snapshot(d);
		return;
	}
	fetch_ids(d);
}

/* ---- reconciliation: the safety net for lost notifications ---- */

/* One row of the reconciliation, streamed: after a bulk update it may
 * re-read every ticket, and a result of them all would be held whole. */
static void on_since_row(PGresult *res, void *arg)
{
	struct daemon *d = arg;

	d->reading_aside = d->reconcile_aside;
	take_row(d, res, 0, true, true);
	d->reading_aside = false;
	if (++d->reconciled % 1000 == 0 && wafa_journal_pending(&d->journal) >= JOURNAL_BATCH)
		on_journal_tick(&d->journal_timer);
}

static void on_since(PGresult *res, void *arg)
{
	struct daemon *d = arg;
	int n;

	d->reading_aside = d->reconcile_aside;
	n = take_rows(d, res, "reconciling", true);
	d->reading_aside = false;
	d->reconciling = false;
	if (n >= 0 && n + d->reconciled > 0) {
		wafa_log(WAFA_DEBUG, "adapter", "reconcile: %zu tickets re-read",
		         (size_t)n + d->reconciled);
		/* their transitions are journaled a batch at a time, as after a
		 * snapshot: journaled row by row, a bulk update of 10M tickets
		 * queued 5 GB of journal in memory faster than it was written */
		start_catch_up(d);
	}
}

static void on_reconcile(uv_timer_t *t)
{
	struct daemon *d = t->data;
	char buf[32];
	const char *p[] = { buf };
	int64_t overlap = d->cfg->reconcile_ms > RECONCILE_OVERLAP_MS ? d->cfg->reconcile_ms
	                                                               : RECONCILE_OVERLAP_MS;

	if (d->reload && !d->loading) {
		d->reload = false;
		snapshot(d);
		return;
	}
	if (!d->ready || d->loading || d->reconciling || !wafa_pg_connected(d->work) ||
	    !d->adapter.since_sql)
		return;
	advance_marks(d, overlap);
	/* re-read with an overlap: a transaction may commit an older updated_at
	 * after a newer one was seen */
	/* ... but not forever: with no newer change seen, the floor also rises
	 * with the time of the reconciliation before this one (two overlaps
	 * back, for a wafa clock behind the database's), so a bulk update is
	 * re-read a few times, not every interval until the next change */
	int64_t since = d->seen_updated_ms - overlap, now = wafa_clock_now_ms();
	if (d->reconciled_at && d->reconciled_at - 2 * overlap > since)
		since = d->reconciled_at - 2 * overlap;
	d->reconciled_at = now;
	snprintf(buf, sizeof(buf), "%" PRId64, since);
	d->reconciled = 0;
	/* on the journal's connection when it is up: a bulk update re-read
	 * there (10M rows: minutes) holds up no firing and no notification */
	struct wafa_pg *c = d->jconn && wafa_pg_connected(d->jconn) ? d->jconn : d->work;
	d->reconcile_aside = c != d->work;
	if (wafa_pg_query_rows(c, d->adapter.since_sql, 1, p, on_since_row, on_since, d) == 0)
		d->reconciling = true;
}

/* ---- deadlines and firing ----
 *
 * Due deadlines fire in batches: one query re-reads every ticket of the
 * batch and whether each key has fired, the actions run, and one statement
 * records the new firings with their mails, so a burst of breaches costs
 * two round trips and one commit, not two per ticket. */

#define FIRE_BATCH 2000
#define FIRE_INFLIGHT 4 /* batches between their check and their insert */

struct fire_item {
	int64_t ticket_id;
	int rule, phase;
	int64_t instance;
	bool queued; /* its action ran and it is in the insert */
	const char *event; /* for the metrics: its event, and when it fell due */
	int cancelled_later; /* later steps recorded cancelled with it (until) */
	int mails;           /* rows the insert returned for it */
	int64_t due;
	char key[512];
};

struct fire_batch {
	struct daemon *d;
	unsigned rules_gen;
	size_t n;
	struct fire_item items[];
};

static void on_batch_checked(PGresult *res, void *arg);
static void split_batch(struct fire_batch *b, const char *why);
static void check_batch(struct fire_batch *b);

static void fire_retry(struct daemon *d, const struct fire_item *f)
{
	struct wafa_ticket *t = wafa_index_get(&d->index, f->ticket_id);

	if (!t)
		return;
	wafa_deadline_unmark(t, f->rule, f->phase, f->instance);
	t->retry_at = wafa_clock_now_ms() + RETRY_FIRE_MS;
	if (schedule(d, t, true) != 0)
		wafa_log(WAFA_ERROR, "fire", "ticket=%" PRId64 ": out of memory", t->id);
}

static void batch_end(struct fire_batch *b)
{
	struct daemon *d = b->d;

	d->firing--;
	free(b);
	arm(d); /* the next batch, if one waited for this one */
}

static void batch_retry(struct fire_batch *b, bool queued_only, const char *why)
{
	struct daemon *d = b->d;
	char in[32];

	wafa_log(WAFA_ERROR, "fire", "%zu firing(s) failed: %s; trying again in %s", b->n, why,
	         wafa_duration_format(RETRY_FIRE_MS, in, sizeof(in)));
	for (size_t i = 0; i < b->n; i++)
		if (!queued_only || b->items[i].queued)
			fire_retry(d, &b->items[i]);
	arm(d);
}

static struct fire_batch *sorting; /* qsort has no argument: the batch being sorted */

static int by_key(const void *a, const void *b)
{
	return strcmp(sorting->items[*(const size_t *)a].key, sorting->items[*(const size_t *)b].key);
}

/* Counts each firing's mails among the keys the insert returned (KEY/N),
 * by binary search over the firings sorted by key: a batch of n costs
 * O(n log n), not n times the rows. */
static void count_mails(struct fire_batch *b, PGresult *res)
{
	size_t *order = malloc((b->n + 1) * sizeof(*order));

	for (size_t i = 0; i < b->n; i++)
		b->items[i].mails = 0;
	if (!order)
		return; /* the counts are for the log and metrics only */
	for (size_t i = 0; i < b->n; i++)
		order[i] = i;
	sorting = b;
	qsort(order, b->n, sizeof(*order), by_key);
	sorting = NULL;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *k = PQgetvalue(res, r, 0), *slash = strrchr(k, '/');
		size_t len = slash ? (size_t)(slash - k) : strlen(k), lo = 0, hi = b->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const char *key = b->items[order[mid]].key;
			int c = strncmp(k, key, len);
			if (c == 0)
				c = key[len] ? -1 : 0;
			if (c == 0) {
				b->items[order[mid]].mails++;
				break;
			}
			if (c < 0)
				hi = mid;
			else
				lo = mid + 1;
		}
	}
	free(order);
}

static void on_batch_inserted(PGresult *res, void *arg)
{
	struct fire_batch *b = arg;
	struct daemon *d = b->d;
	int rows;

	if (b->rules_gen != d->rules_gen) {
		/* recorded under the old rules; the tickets were rescheduled and
		 * their journal step rows keep them from firing again */
		if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0 && d->mailer)
			wafa_mailer_kick(d->mailer);
		goto out;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		batch_retry(b, true, wafa_pg_result_error(res));
		goto out;
	}
	rows = PQntuples(res);
	count_mails(b, res);
	for (size_t i = 0; i < b->n; i++) {
		struct fire_item *f = &b->items[i];
		struct wafa_ticket *t;
		int mails = f->mails;
		if (!f->queued)
			continue;
		wafa_metrics_firing(f->event);
		for (int c = 0; c < f->cancelled_later; c++)
			wafa_metrics_firing("cancelled");
		if (mails > 0)
			wafa_metrics_breach_to_queue(wafa_clock_now_ms() - f->due);
		t = wafa_index_get(&d->index, f->ticket_id);
		if (t && wafa_deadline_mark(t, f->rule, f->phase, f->instance, false) != 0)
			wafa_log(WAFA_ERROR, "fire", "ticket=%" PRId64 ": out of memory", f->ticket_id);
		wafa_log(WAFA_INFO, "fire", "rule=%s ticket=%" PRId64 " phase=%s: %d mail(s) queued",
		         d->rules->rules[f->rule].name, f->ticket_id,
		         d->rules->rules[f->rule].phases[f->phase].name, mails);
	}
	wafa_metrics_mails(WAFA_METRIC_QUEUED, (uint64_t)rows);
	if (rows > 0 && d->mailer)
		wafa_mailer_kick(d->mailer);
out:
	batch_end(b);
}

/* Decides one firing with its ticket as it is now.  Returns true when the
 * action ran and its mails went into ob. */
static bool decide(struct daemon *d, PGresult *res, int row, struct fire_item *f,
                   struct wafa_outbox_batch *ob)
{
	static const char *const events[] = { "warn", "breach", "escalate", "due" };
	const struct wafa_rule *rule = &d->rules->rules[f->rule];
	const struct wafa_phase *ph = &rule->phases[f->phase];
	int cols = PQnfields(res);
	struct wafa_ticket *t;
	struct wafa_track tr;
	struct wafa_firing firing;
	int64_t due, at;
	bool queued = false;

	if (PQgetisnull(res, row, 0)) {
		drop_ticket(d, f->ticket_id); /* it left the view */
		return false;
	}
	/* the ticket as it is now, not as a notification may not yet have told */
	t = take_row(d, res, row, false, true);
	if (!t) {
		drop_ticket(d, f->ticket_id);
		return false;
	}
	if (strcmp(PQgetvalue(res, row, cols - 3), "t") == 0) {
		/* done before (a restart, or another instance) */
		if (wafa_deadline_mark(t, f->rule, f->phase, f->instance, false) != 0)
			goto oom;
		goto reschedule;
	}
	wafa_deadline_track(d->rules, f->rule, t, &tr);
	at = wafa_deadline_phase(rule, &tr, f->phase, &due);
	if (at == WAFA_NO_TIME || tr.instance != f->instance || at > wafa_clock_now_ms()) {
		wafa_deadline_unmark(t, f->rule, f->phase, f->instance);
		goto reschedule;
	}
	firing.instance = tr.instance;
	firing.start = tr.start;
	firing.target = tr.target;
	firing.deadline = wafa_deadline_breach(rule, &tr);
	firing.due = due;
	f->due = due;
	f->event = events[ph->kind];
	f->cancelled_later = 0;
	struct wafa_outbox_firing of = {
		.key = f->key, .ticket_id = f->ticket_id, .rule = rule->name, .phase = ph->name,
		.kind = wafa_rule_kind_names[rule->kind], .event = events[ph->kind],
		.instance = f->instance, .due = due,
		.customer_email = t->str[WAFA_T_CUSTOMER_EMAIL],
		.customer_locale = t->str[WAFA_T_CUSTOMER_LOCALE],
		.customer_tz = t->str[WAFA_T_CUSTOMER_TZ],
		.thread_message_id = t->str[WAFA_T_THREAD_MESSAGE_ID],
	};
	/* a follow-up's until ends the series, unless skips this one: either is
	 * recorded as a cancelled step with no mail */
	int until = wafa_rules_until(d->rules, t, f->rule, f->phase, &firing);
	int unless = until == 1 ? 0 : wafa_rules_unless(d->rules, t, f->rule, f->phase, &firing);
	if (until == 1 || unless == 1) {
		/* until ends the series for good: the later steps are recorded
		 * cancelled too, so a restart does not bring them back */
		for (int p = f->phase + 1; until == 1 && p < rule->nphases; p++) {
			char key[sizeof(f->key)];
			struct wafa_outbox_firing later = of;
			if (wafa_deadline_mark(t, f->rule, p, f->instance, false) != 0)
				goto oom;
			snprintf(key, sizeof(key), "%s/%" PRId64 "/%s/%" PRId64, rule->name, t->id,
			         rule->phases[p].name, f->instance);
			later.key = key;
			later.phase = rule->phases[p].name;
			later.event = "cancelled";
			if (wafa_outbox_batch_add(ob, &later, NULL, 0) != 0)
				goto oom;
			f->cancelled_later++;
		}
		of.event = "cancelled";
		f->event = "cancelled";
		wafa_log(WAFA_INFO, "fire", "rule=%s ticket=%" PRId64 " phase=%s: %s holds, no mail",
		         rule->name, t->id, ph->name, until == 1 ? "until" : "unless");
		if (wafa_outbox_batch_add(ob, &of, NULL, 0) != 0)
			goto oom;
		queued = true;
		goto reschedule;
	}
	int err = until < 0 || unless < 0 ? -EINVAL
	                                  : wafa_rules_run(d->rules, t, f->rule, f->phase, &firing);
	if (err == -ETIME && t->overruns < OVERRUN_TRIES) {
		/* stopped by the budget: on a loaded host a rule that keeps to it
		 * may not, so it is tried again a few times, further apart */
		int64_t wait = (int64_t)OVERRUN_RETRY_MS << t->overruns++;
		wafa_log(WAFA_WARN, "fire", "rule=%s ticket=%" PRId64 " phase=%s: over the rules' "
		                            "budget; tried again in %" PRId64 " ms (%d of %d)",
		         rule->name, t->id, ph->name, wait, t->overruns, OVERRUN_TRIES);
		wafa_deadline_unmark(t, f->rule, f->phase, f->instance);
		t->retry_at = wafa_clock_now_ms() + wait;
		goto reschedule;
	}
	if (err) {
		/* logged; not retried while this process runs, or it would loop */
		if (err == -ETIME)
			wafa_log(WAFA_ERROR, "fire", "rule=%s ticket=%" PRId64 " phase=%s: over the "
			                             "rules' budget %d times; not tried again",
			         rule->name, t->id, ph->name, OVERRUN_TRIES + 1);
		t->overruns = 0;
		if (wafa_deadline_mark(t, f->rule, f->phase, f->instance, false) != 0)
			goto oom;
		goto reschedule;
	}
	char why_c[256], why_a[256];
	of.held_customer = go_live_held(d, f->rule, due, d->cfg->go_live_limit_ms,
	                                "[contact] go_live_limit", why_c, sizeof(why_c));
	of.held_agent = go_live_held(d, f->rule, due, d->cfg->go_live_limit_agents_ms,
	                             "[contact] go_live_limit_agents", why_a, sizeof(why_a));
	for (size_t m = 0; (of.held_customer || of.held_agent) && m < d->rules->nmails; m++) {
		bool customer = wafa_outbox_is_customer(d->rules->mails[m].to, of.customer_email);
		const char *held = customer ? of.held_customer : of.held_agent;
		if (held)
			wafa_log(WAFA_INFO, "fire", "rule=%s ticket=%" PRId64 " phase=%s: mail to the %s "
			         "held back, recorded skipped: %s", rule->name, t->id, ph->name,
			         customer ? "customer" : "agents", held);
	}
	t->overruns = 0;
	if (wafa_outbox_batch_add(ob, &of, d->rules->mails, d->rules->nmails) != 0)
		goto oom;
	queued = true;
reschedule:
	if (schedule(d, t, true) != 0)
		goto oom;
	wafa_ticket_strip(t);
	return queued;
oom:
	wafa_log(WAFA_ERROR, "fire", "rule=%s ticket=%" PRId64 ": out of memory", rule->name,
	         f->ticket_id);
	fire_retry(d, f);
	return false;
}

/* Which connection a batch's insert goes on: the work or the journal one,
 * whichever has less queued, so that two backends write a burst's batches
 * at once (on the work connection alone, its backend was the limit: a
 * batch of 2,000 is 43 ms of insert and 12.5 ms of check on an idle
 * machine, and wafa's loop was idle two thirds of a burst).  The checks stay on
 * the work connection, in order with what a notification re-reads, so a
 * ticket is only ever replaced by a newer read of it; an insert reads no
 * ticket, and its keys are in no other batch in flight, so the order in
 * which two batches commit does not matter. */
static struct wafa_pg *insert_conn(struct daemon *d)
{
	if (d->jconn && wafa_pg_connected(d->jconn) &&
	    wafa_pg_pending(d->jconn) < wafa_pg_pending(d->work))
		return d->jconn;
	return d->work;
}

static void on_batch_checked(PGresult *res, void *arg)
{
	struct fire_batch *b = arg;
	struct daemon *d = b->d;
	struct wafa_outbox_batch ob;
	const char *p[WAFA_OUTBOX_NPARAMS];
	int err;

	if (b->rules_gen != d->rules_gen) {
		batch_end(b); /* the rules were reloaded; the tickets were rescheduled */
		return;
	}
	if (row_error(res)) {
		split_batch(b, wafa_pg_result_error(res));
		return;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		batch_retry(b, false, wafa_pg_result_error(res));
		batch_end(b);
		return;
	}
	wafa_outbox_batch_init(&ob);
	for (int r = 0; r < PQntuples(res); r++) {
		size_t i = (size_t)strtoull(PQgetvalue(res, r, PQnfields(res) - 1), NULL, 10) - 1;
		if (i < b->n)
			b->items[i].queued = decide(d, res, r, &b->items[i], &ob);
	}
	arm(d);
	if (ob.nfires == 0) {
		batch_end(b);
		goto out;
	}
	err = wafa_outbox_batch_params(&ob, d->cfg->from, p);
	if (err == 0)
		err = wafa_pg_query(insert_conn(d), wafa_outbox_fire_sql, WAFA_OUTBOX_NPARAMS, p,
		                    on_batch_inserted, b);
	if (err != 0) {
		batch_retry(b, true, err == -ENOMEM ? "out of memory" : "not connected");
		batch_end(b);
	}
out:
	wafa_outbox_batch_free(&ob);
}

/* Appends s to f as a quoted element of a PostgreSQL array literal. */
static void array_element(FILE *f, const char *s, bool first)
{
	fputs(first ? "\"" : ",\"", f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Asks for the tickets of batch b (counted in d->firing) as they are now;
 * on_batch_checked goes on.  When it cannot be asked, its firings are
 * unmarked and it ends. */
static void check_batch(struct fire_batch *b)
{
	struct daemon *d = b->d;
	/* the keys and ticket ids, and the keys' parts: a step row is looked up
	 * by rule, ticket, step and instance */
	char *text[5] = { NULL };
	size_t len[5] = { 0 };
	FILE *f[5];
	bool written = true;
	int err = -ENOMEM;

	for (int c = 0; c < 5; c++) {
		if (!(f[c] = open_memstream(&text[c], &len[c])))
			written = false;
		else
			fputc('{', f[c]);
	}
	for (size_t i = 0; written && i < b->n; i++) {
		const struct fire_item *it = &b->items[i];
		const struct wafa_rule *rule = &d->rules->rules[it->rule];
		array_element(f[0], it->key, i == 0);
		fprintf(f[1], "%s%" PRId64, i ? "," : "", it->ticket_id);
		array_element(f[2], rule->name, i == 0);
		array_element(f[3], rule->phases[it->phase].name, i == 0);
		fprintf(f[4], "%s%" PRId64, i ? "," : "", it->instance);
	}
	for (int c = 0; c < 5; c++) {
		if (f[c]) {
			fputc('}', f[c]);
			if (fclose(f[c]) != 0)
				written = false;
		}
	}
	if (written) {
		const char *p[] = { text[0], text[1], text[2], text[3], text[4] };
		err = wafa_pg_query(d->work, d->adapter.fire_sql, 5, p, on_batch_checked, b);
	}
	for (int c = 0; c < 5; c++)
		free(text[c]);
	if (err != 0) {
		/* not connected: the reconnect's snapshot schedules them again */
		if (err == -ENOMEM)
			wafa_log(WAFA_ERROR, "fire", "out of memory");
		for (size_t i = 0; i < b->n; i++) {
			struct wafa_ticket *t = wafa_index_get(&d->index, b->items[i].ticket_id);
			if (t)
				wafa_deadline_unmark(t, b->items[i].rule, b->items[i].phase,
				                     b->items[i].instance);
		}
		batch_end(b);
	}
}

/* The check of batch b failed with an error of the query, not of the
 * connection: a row the view fails on fails it for every ticket with it.
 * The batch is checked again in halves, until that ticket stands alone and
 * is left out (logged once); the others fire as they would have. */
static void split_batch(struct fire_batch *b, const char *why)
{
	struct daemon *d = b->d;
	size_t half = b->n / 2;
	struct fire_batch *rest;

	if (b->n == 1) {
		const struct fire_item *f = &b->items[0];
		struct wafa_ticket *t = wafa_index_get(&d->index, f->ticket_id);
		wafa_log(say_once(d, f->ticket_id, false) ? WAFA_WARN : WAFA_DEBUG, "fire",
		         "rule=%s ticket=%" PRId64 ": the view cannot read it (%s); tried again "
		         "every %d s (fix the row or the view)",
		         d->rules->rules[f->rule].name, f->ticket_id, why, BAD_ROW_RETRY_MS / 1000);
		/* apart from the others, and not so often that it crowds them
		 * (nor dropped: a view that fails for every row loses nothing) */
		if (t) {
			wafa_deadline_unmark(t, f->rule, f->phase, f->instance);
			t->retry_at = wafa_clock_now_ms() + BAD_ROW_RETRY_MS;
			if (schedule(d, t, true) != 0)
				wafa_log(WAFA_ERROR, "fire", "ticket=%" PRId64 ": out of memory", t->id);
		}
		batch_end(b);
		return;
	}
	rest = malloc(sizeof(*rest) + (b->n - half) * sizeof(struct fire_item));
	if (!rest) {
		batch_retry(b, false, "out of memory");
		batch_end(b);
		return;
	}
	wafa_log(WAFA_DEBUG, "fire", "checking %zu firing(s) failed: %s; again in halves", b->n, why);
	rest->d = d;
	rest->rules_gen = b->rules_gen;
	rest->n = b->n - half;
	memcpy(rest->items, b->items + half, rest->n * sizeof(struct fire_item));
	b->n = half;
	d->firing++;
	check_batch(b);
	check_batch(rest);
}

/* Fires up to FIRE_BATCH due deadlines. */
static void fire_due(struct daemon *d, int64_t now)
{
	struct fire_batch *b = malloc(sizeof(*b) + FIRE_BATCH * sizeof(struct fire_item));
	struct wafa_deadline *dl;

	if (!b) {
		wafa_log(WAFA_ERROR, "fire", "out of memory");
		return;
	}
	b->d = d;
	b->rules_gen = d->rules_gen;
	b->n = 0;
	while (b->n < FIRE_BATCH && (dl = wafa_heap_peek(&d->heap)) != NULL && dl->at_ms <= now) {
		struct wafa_ticket *t = dl->ticket;
		const struct wafa_rule *rule = &d->rules->rules[dl->rule];
		struct fire_item *f = &b->items[b->n];
		wafa_heap_pop(&d->heap);
		if (wafa_deadline_mark(t, dl->rule, dl->phase, dl->instance, true) != 0) {
			wafa_log(WAFA_ERROR, "fire", "ticket=%" PRId64 ": out of memory", t->id);
			continue;
		}
		f->ticket_id = t->id;
		f->rule = dl->rule;
		f->phase = dl->phase;
		f->instance = dl->instance;
		f->queued = false;
		snprintf(f->key, sizeof(f->key), "%s/%" PRId64 "/%s/%" PRId64, rule->name, t->id,
		         rule->phases[dl->phase].name, dl->instance);
		wafa_log(WAFA_DEBUG, "fire", "rule=%s ticket=%" PRId64 " phase=%s due", rule->name, t->id,
		         rule->phases[dl->phase].name);
		b->n++;
	}
	if (b->n == 0) {
		free(b);
		return;
	}
	d->firing++;
	check_batch(b);
}

static void on_deadline(uv_timer_t *timer)
{
	struct daemon *d = timer->data;

	if (!d->leader)
		return; /* the leader fires; leading again reads and arms anew */
	if (!wafa_pg_connected(d->work))
		return; /* the reconnect's snapshot re-arms */
	if (d->firing >= FIRE_INFLIGHT)
		return; /* the end of a batch re-arms: a burst does not queue all its
		         * batches at once ahead of every other query */
	fire_due(d, wafa_clock_now_ms());
	arm(d);
}

/* Arms the one timer for the earliest deadline. */
static void arm(struct daemon *d)
{
	struct wafa_deadline *dl = wafa_heap_peek(&d->heap);
	int64_t delay;

	if (d->stopping || !d->leader)
		return;
	if (!dl) {
		uv_timer_stop(&d->deadline_timer);
		return;
	}
	delay = dl->at_ms - wafa_clock_now_ms();
	if (delay < 0)
		delay = 0;
	uv_timer_start(&d->deadline_timer, on_deadline, (uint64_t)delay, 0);
}

/* ---- connections ---- */

static void start_reading(struct daemon *d)
{
	d->loading = false;
	snapshot(d);
	if (d->mailer)
		wafa_mailer_kick(d->mailer);
}

static void on_marks(PGresult *res, void *arg)
{
	struct daemon *d = arg;
	int n;

	if (!res)
		return;
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "journal", "reading journal_mark: %s", wafa_pg_result_error(res));
		shutdown_daemon(d, EX_SOFTWARE);
		return;
	}
	free_jmarks(d);
	n = PQntuples(res);
	d->jmarks = calloc((size_t)n + 1, sizeof(*d->jmarks));
	for (int i = 0; d->jmarks && i < n; i++) {
		d->jmarks[i].rule = strdup(PQgetvalue(res, i, 0));
		d->jmarks[i].ms = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		if (!d->jmarks[i].rule)
			break;
		d->njmarks++;
	}
	apply_marks(d);
	d->history_read = true;
	if (read_rule_seen(d, true) != 0)
		start_reading(d);
}

static void on_history(PGresult *res, void *arg)
{
	struct daemon *d = arg;
	int n;

	if (!res)
		return; /* lost: the next connection reads it */
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "journal", "reading status_log: %s", wafa_pg_result_error(res));
		shutdown_daemon(d, EX_SOFTWARE);
		return;
	}
	n = PQntuples(res);
	d->loaded = n ? calloc((size_t)n, sizeof(*d->loaded)) : NULL;
	if (n && !d->loaded) {
		wafa_log(WAFA_ERROR, "journal", "out of memory reading %d status changes", n);
		shutdown_daemon(d, EX_OSERR);
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
	}
	d->nloaded = (size_t)n;
	wafa_log(WAFA_INFO, "journal", "%d status change(s) read from status_log", n);
	if (wafa_pg_query(d->work, wafa_journal_marks_sql, 0, NULL, on_marks, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the journal_mark query");
}

static void on_columns(PGresult *res, void *arg)
{
	struct daemon *d = arg;
	int err;

	if (!res)
		return;
	if (PQresultStatus(res) != PGRES_TUPLES_OK ||
	    (err = wafa_adapter_build(&d->adapter, res)) == -ENOENT) {
		wafa_log(WAFA_ERROR, "adapter", "[helpdesk] view %s does not exist%s%s: create it "
		                                "(see sample-helpdesk.sql) or fix the name",
		         d->cfg->view, PQresultStatus(res) != PGRES_TUPLES_OK ? ": " : "",
		         PQresultStatus(res) != PGRES_TUPLES_OK ? wafa_pg_result_error(res) : "");
		shutdown_daemon(d, EX_CONFIG);
		return;
	}
	if (err) {
		wafa_log(WAFA_ERROR, "adapter", "out of memory");
		shutdown_daemon(d, EX_OSERR);
		return;
	}
	for (int i = WAFA_T_FIRST_OPTIONAL; i < WAFA_T_NSTR; i++)
		if (!(d->adapter.optional & (1u << (i - WAFA_T_FIRST_OPTIONAL))))
			wafa_log(WAFA_DEBUG, "adapter", "view %s has no %s column: it reads as nil",
			         d->cfg->view, wafa_ticket_str_names[i]);
	if (d->history_read) {
		start_reading(d);
		return;
	}
	if (wafa_pg_query(d->work, wafa_journal_load_sql, 0, NULL, on_history, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the status_log query");
}

static void claim_leadership(struct daemon *d);
static void on_leader_timer(uv_timer_t *t);
static void on_search_path(PGresult *res, void *arg);

static void on_leases_reset(PGresult *res, void *arg)
{
	struct daemon *d = arg;

	if (!res)
		return; /* lost: the next connection asks to lead again */
	on_search_path(res, arg); /* logs an error */
	if (d->leader && d->mailer && !d->stopping)
		wafa_mailer_start(d->mailer);
}

/* Leading: the leases of claimers that are gone go (a claim records the
 * claimer's backend pid; a claimer whose session is still there may still
 * be sending, and stops when it learns it lost the lead), then the tickets
 * are read. */
static void on_leadership(PGresult *res, void *arg)
{
	struct daemon *d = arg;
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
	/* but not those this process still sends (leading again after a lost
	 * connection): another session would send them twice */
	char *held = d->mailer ? wafa_mailer_held(d->mailer) : NULL;
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

static void claim_leadership(struct daemon *d)
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
	struct daemon *d = arg;

	(void)pg;
	if (!d->leader)
		return;
	wafa_log(WAFA_WARN, "daemon", "the work connection, which holds the lead, is lost: not "
	                              "sending until leading again");
	d->leader = false;
	uv_timer_stop(&d->deadline_timer);
	if (d->mailer)
		wafa_mailer_fence(d->mailer);
}

static void on_leader_timer(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (wafa_pg_connected(d->work) && !d->leader)
		claim_leadership(d);
}

static void on_version(PGresult *res, void *arg)
{
	struct daemon *d = arg;
	int version;

	if (!res)
		return; /* lost again: the next connection checks */
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "schema",
		         "schema %s is missing (%s): run `wafa setup -c %s` first", d->cfg->schema,
		         wafa_pg_result_error(res), d->cfg->path);
		shutdown_daemon(d, EX_CONFIG);
		return;
	}
	version = atoi(PQgetvalue(res, 0, 0));
	if (version != wafa_schema_version()) {
		wafa_log(WAFA_ERROR, "schema", "schema %s is at version %d, this wafa needs %d: run "
		                               "`wafa setup -c %s`",
		         d->cfg->schema, version, wafa_schema_version(), d->cfg->path);
		shutdown_daemon(d, EX_CONFIG);
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
	struct daemon *d = arg;
	const char *p[] = { d->quoted_schema };

	if (wafa_pg_query(pg, wafa_schema_search_path_sql, 1, p, on_search_path, d) != 0 ||
	    wafa_pg_query(pg, wafa_schema_version_sql, 0, NULL, on_version, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the first queries");
}

static void on_mail_connected(struct wafa_pg *pg, void *arg)
{
	struct daemon *d = arg;
	const char *p[] = { d->quoted_schema };

	if (wafa_pg_query(pg, wafa_schema_search_path_sql, 1, p, on_search_path, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue the mail connection's search_path");
}

static void on_listening(PGresult *res, void *arg)
{
	struct daemon *d = arg;

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
		snapshot(d);
}

static void on_listen_connected(struct wafa_pg *pg, void *arg)
{
	struct daemon *d = arg;

	if (wafa_pg_query(pg, d->adapter.listen_sql, 0, NULL, on_listening, d) != 0)
		wafa_log(WAFA_ERROR, "pg", "cannot queue LISTEN");
}

static void on_jconn_connected(struct wafa_pg *pg, void *arg)
{
	struct daemon *d = arg;
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
	wafa_log(WAFA_INFO, "rules", "%d rule(s) loaded from %s", rules->nrules, cfg->rules_dir);
	*sbp = sb;
	*rulesp = rules;
	return 0;
}

/* Reads the config file again; the reloadable keys apply at once. */
static int reload_config(struct daemon *d)
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
	uv_timer_start(&d->reconcile_timer, on_reconcile, (uint64_t)d->cfg->reconcile_ms,
	               (uint64_t)d->cfg->reconcile_ms);
	if (d->mailer && d->leader)
		wafa_mailer_start(d->mailer);
	return 0;
}

/* The ticket reads select the optional columns the rules name (a view's
 * last_agent_body subquery was 45% of a snapshot's database time), and
 * firing's thread_message_id for the mail. */
static int use_rules_columns(struct daemon *d)
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
	struct daemon *d = s->data;
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
		if (want_id(d, d->heap.items[i]->ticket->id) != 0)
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
	apply_marks(d);
	if (read_rule_seen(d, false) != 0)
		wafa_log(WAFA_ERROR, "rules", "cannot record the rules in rule_seen: new ones count "
		                              "as first seen now");
	/* the index keeps no ticket text (firing re-reads it): the new rules'
	 * when(t) needs the rows, so they are read again, and each ticket is
	 * scheduled as it comes; the snapshot's end starts the catch-up */
	wafa_log(WAFA_INFO, "rules", "reading %zu tickets again for the new rules (first the %zu "
	                             "deadline(s) due within %d s)",
	         d->index.count, nsoon, RELOAD_SOON_MS / 1000);
	fetch_ids(d); /* ahead of the snapshot's pages on the work connection */
	snapshot(d);
	arm(d);
}

/* ---- start and stop ---- */

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void close_all(struct daemon *d)
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
	uv_close((uv_handle_t *)&d->sigterm, on_handle_closed);
	uv_close((uv_handle_t *)&d->sigint, on_handle_closed);
	uv_close((uv_handle_t *)&d->sighup, on_handle_closed);
}

static void on_stop_tick(uv_timer_t *t)
{
	struct daemon *d = t->data;
	static int ticks;

	/* let in-flight firings record what they did, and the journal be
	 * written, for at most 10 s */
	bool unwritten = wafa_journal_pending(&d->journal) > 0 || d->journal_text;
	bool writable = d->work && wafa_pg_connected(journal_conn(d));
	if (writable && unwritten && ticks < 200)
		on_journal_tick(&d->journal_timer);
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
	struct daemon *d = arg;

	d->offers = NULL;
	uv_timer_start(&d->stop_timer, on_stop_tick, 0, 50);
}

/* The gauges of GET .../metrics, read on the loop thread. */
static void read_gauges(void *arg, struct wafa_metrics_gauges *g)
{
	const struct daemon *d = arg;

	g->tickets = d->index.count;
	g->deadlines = d->heap.count;
	g->leader = d->leader;
}

static void on_web_stopped(void *arg)
{
	struct daemon *d = arg;

	d->web = NULL;
	if (d->offers)
		wafa_offers_close(d->offers, on_offers_stopped, d);
	else
		on_offers_stopped(d);
}

static void on_mailer_stopped(void *arg)
{
	struct daemon *d = arg;

	d->mailer = NULL;
	if (d->web)
		wafa_web_close(d->web, on_web_stopped, d);
	else
		on_web_stopped(d);
}

static void shutdown_daemon(struct daemon *d, int code)
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
	struct daemon *d = s->data;

	wafa_log(WAFA_INFO, "daemon", "%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	shutdown_daemon(d, EX_OK);
}

int wafa_daemon_run(struct wafa_config *cfg)
{
	struct daemon d = { 0 };
	struct wafa_channel_handle channel = { 0 };
	uv_loop_t loop;
	struct wafa_pg_hooks work_hooks = { on_work_connected, NULL, &d, NULL, on_work_lost };
	struct wafa_pg_hooks listen_hooks = { on_listen_connected, on_notify, &d, NULL, NULL };
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
	d.leader_timer.data = &d;
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
	    wafa_mailer_open(&loop, cfg, d.mail, channel, &d.mailer) != 0) {
		code = EX_OSERR;
		wafa_channel_close(&channel);
		shutdown_daemon(&d, code);
	} else {
		channel.state = NULL; /* the mailer owns it; it sends once this instance leads */
		if (wafa_offers_open(&loop, cfg, d.jconn, d.work, kick_mailer, &d, &d.offers) == 0)
			wafa_offers_set_rules(d.offers, d.rules);
		if (wafa_digest_open(&loop, cfg, &d.leader, 3000, kick_mailer, &d, &d.digest) == 0)
			wafa_digest_set_rules(d.digest, d.rules);
		wafa_metrics_set_gauges(read_gauges, &d);
		if ((cfg->web_listen[0] || cfg->web_metrics_listen[0]) &&
		    wafa_web_open(&loop, cfg, d.work, &d.web) != 0) {
			wafa_log(WAFA_ERROR, "web", "cannot listen on %s (see above); stopping",
			         cfg->web_listen[0] ? cfg->web_listen : cfg->web_metrics_listen);
			shutdown_daemon(&d, EX_CONFIG);
		}
		uv_timer_start(&d.reconcile_timer, on_reconcile, (uint64_t)cfg->reconcile_ms,
		               (uint64_t)cfg->reconcile_ms);
		uv_timer_start(&d.journal_timer, on_journal_tick, JOURNAL_FLUSH_MS, JOURNAL_FLUSH_MS);
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
	free(d.loaded);
	free(d.marks);
	free(d.journal_text);
	free_jmarks(&d);
	for (size_t k = 0; k < d.nseen; k++)
		free(d.seen[k].rule);
	free(d.seen);
	free(d.since);
	wafa_journal_free(&d.journal);
	wafa_customer_free(&d.customers);
	wafa_customer_params_free(d.customer_params);
	return code;
}
