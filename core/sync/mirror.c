/* The mirror: keeps the ticket index in step with the helpdesk's view.  A
 * keyset-paginated snapshot at start and on reload (two streams), the ids
 * a NOTIFY names read again, a periodic reconciliation by updated_at (the
 * safety net), the catch-up that journals every ticket's transitions after
 * a snapshot, the journal's batches and marks, and the status history read
 * from wafa.status_log.  Part of one instance (instance.h). */

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

static void snapshot_page(struct wafa_instance *d, int part);

/* ---- the ticket index, fed from query results ---- */

void wafa__mirror_drop_ticket(struct wafa_instance *d, int64_t id)
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

static void flush_customers(struct wafa_instance *d);

static void on_customers_written(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;

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

static void flush_customers(struct wafa_instance *d)
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

/* After the first snapshot: every ticket's customer facts from the view,
 * on the server, and the facts of tickets gone from it out, a range of
 * FACTS_IDS ids a statement: in one statement, 10M tickets took longer than
 * the connections' statement_timeout (60 s), and their facts were never
 * written. */
#define FACTS_IDS INT64_C(1000000)

static void facts_range(struct wafa_instance *d);

static void on_customers_synced(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;

	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (res)
			wafa_log(WAFA_ERROR, "index", "customer facts: %s (the next start tries again; "
			                              "tickets read meanwhile are kept as they change)",
			         wafa_pg_result_error(res));
		return;
	}
	d->facts_rows += strtoull(PQcmdTuples(res), NULL, 10);
	if (d->facts_next == INT64_MAX) {
		wafa_log(WAFA_INFO, "index", "customer facts: %" PRIu64 " row(s) brought up to date",
		         d->facts_rows);
		return;
	}
	facts_range(d);
}

/* Brings the facts of the next range of ids up to date: the first range
 * reaches down to the lowest id there is and the last up to the highest,
 * so that facts of ids beyond the view's go too. */
static void facts_range(struct wafa_instance *d)
{
	struct wafa_pg *pg = wafa_pg_connected(d->jconn) ? d->jconn : d->work;
	int64_t lo = d->facts_next, base = lo == INT64_MIN ? d->facts_first : lo, hi;
	char los[24], his[24], *sql = NULL;
	const char *p[] = { los, his };

	if (d->facts_first > d->facts_last || base > INT64_MAX - FACTS_IDS ||
	    base + FACTS_IDS > d->facts_last)
		hi = INT64_MAX;
	else
		hi = base + FACTS_IDS - 1;
	d->facts_next = hi == INT64_MAX ? INT64_MAX : hi + 1;
	snprintf(los, sizeof(los), "%" PRId64, lo);
	snprintf(his, sizeof(his), "%" PRId64, hi);
	if (asprintf(&sql,
	             "WITH v AS (SELECT id, mail_address(customer_email) AS email, "
	             "                  status NOT IN ('solved', 'closed') AS open "
	             "             FROM %s WHERE id BETWEEN $1::int8 AND $2::int8 "
	             "              AND customer_email IS NOT NULL), "
	             "g AS (DELETE FROM customer_ticket ct "
	             "       WHERE ct.ticket_id BETWEEN $1::int8 AND $2::int8 "
	             "         AND NOT EXISTS (SELECT 1 FROM v WHERE v.id = ct.ticket_id)) "
	             "INSERT INTO customer_ticket (ticket_id, email, open) "
	             "SELECT id, email, open FROM v "
	             "ON CONFLICT (ticket_id) DO UPDATE SET email = excluded.email, "
	             "                                     open = excluded.open "
	             " WHERE (customer_ticket.email, customer_ticket.open) IS DISTINCT FROM "
	             "       (excluded.email, excluded.open)",
	             d->adapter.view) < 0 ||
	    wafa_pg_query(pg, sql, 2, p, on_customers_synced, d) != 0)
		wafa_log(WAFA_ERROR, "index", "customer facts: cannot bring them up to date (the next "
		                              "start tries again)");
	free(sql);
}

static void sync_customers(struct wafa_instance *d)
{
	d->facts_first = INT64_MAX;
	d->facts_last = INT64_MIN;
	for (size_t i = 0; i < d->index.cap; i++) {
		const struct wafa_ticket *t = d->index.slots[i].t;
		if (!t)
			continue;
		if (t->id < d->facts_first)
			d->facts_first = t->id;
		if (t->id > d->facts_last)
			d->facts_last = t->id;
	}
	d->facts_rows = 0;
	d->facts_next = INT64_MIN;
	facts_range(d);
}

/* A ticket read: its customer facts, when they may have changed. */
static void note_customer(struct wafa_instance *d, struct wafa_ticket *t)
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
	struct wafa_instance *d = arg;

	if (wafa_journal_event(&d->journal, t->id, rule->name,
	                       wafa_rule_kind_names[rule->kind], instance,
	                       wafa_event_names[ev], NULL, at, WAFA_NO_TIME, detail) != 0)
		wafa_log(WAFA_ERROR, "journal", "ticket=%" PRId64 " rule=%s: out of memory", t->id,
		         rule->name);
}

/* A ticket re-read while a reconciliation runs, to journal after it
 * (catch_up).  Past a quarter of the index (a bulk update) the whole index
 * is gone through instead, and the list is let go. */
static void recheck_add(struct wafa_instance *d, int64_t id)
{
	if (d->recheck_all)
		return;
	if (d->nrecheck == d->recheck_cap) {
		size_t cap = d->recheck_cap ? d->recheck_cap * 2 : 256;
		int64_t *grown = cap <= d->index.count / 4 + 256 ? realloc(d->recheck, cap * sizeof(*grown))
		                                                   : NULL;
		if (!grown) {
			d->recheck_all = true;
			free(d->recheck);
			d->recheck = NULL;
			d->nrecheck = d->recheck_cap = d->recheck_pos = 0;
			return;
		}
		d->recheck = grown;
		d->recheck_cap = cap;
	}
	d->recheck[d->nrecheck++] = id;
}

/* Recomputes t's deadlines; with journal, journals its new transitions
 * too.  A snapshot does not: its tickets are journaled after it, a batch at
 * a time (catch_up), so a cold start is not paced by the journal. */
int wafa__mirror_schedule(struct wafa_instance *d, struct wafa_ticket *t, bool journal)
{
	struct wafa_journal_sink sink = { on_journal_event, d, wafa_clock_now_ms(), d->marks };

	if (d->reconciling && journal) {
		journal = false; /* the catch-up after it journals them (on_since) */
		recheck_add(d, t->id);
	}
	return wafa_deadlines_schedule(d->rules, &d->heap, t, journal ? &sink : NULL);
}

/* Journals what a snapshot read, or what a reconciliation re-read,
 * JOURNAL_BATCH events at a time: called while the journal has room.
 * Tickets already told (changed since) cost a recomputation and add
 * nothing.  After a snapshot every ticket is gone through in id order where
 * the ids are dense: its `started` rows then go into the journal's ticket
 * index at its end, not at random places (10M tickets in hash order: 5,700
 * rows a second, once the index outgrew the database's buffers). */
static void catch_up(struct wafa_instance *d)
{
	struct wafa_journal_sink sink = { on_journal_event, d, wafa_clock_now_ms(), d->marks };
	int budget = 2000, steps = 8000; /* tickets recomputed, ids stepped over */

	/* firings first: at 10M tickets a burst fell in the first start's
	 * catch-up, and its inserts queued behind the catch-up's batches
	 * (deadline to outbox row p99 8.7 s against 2.8 s at 1M).  A burst that
	 * trickles in (its tickets read from their notifications a page at a
	 * time) fires in several batches with gaps between them, so the
	 * catch-up waits until none was in flight for a second; should firings
	 * never stop, it writes one batch every 5 s meanwhile */
	int64_t now = wafa_clock_now_ms();
	if (d->firing > 0 || now - d->fire_idle_at < FIRE_QUIET_MS) {
		if (!d->catchup_waits)
			d->catchup_waits = now;
		if (now - d->catchup_waits < BURST_YIELD_MS)
			return;
		d->catchup_waits = now; /* one batch, then wait again */
	} else {
		d->catchup_waits = 0;
	}
	/* first what a reconciliation re-read: a few tickets, as a rule */
	while (d->recheck_pos < d->nrecheck && budget > 0 &&
	       wafa_journal_pending(&d->journal) < JOURNAL_BATCH) {
		struct wafa_ticket *t = wafa_index_get(&d->index, d->recheck[d->recheck_pos++]);
		if (t) {
			wafa_deadlines_journal(d->rules, t, &sink);
			budget--;
		}
	}
	if (d->recheck_pos == d->nrecheck)
		d->nrecheck = d->recheck_pos = 0;
	if (!d->catching_up)
		return;
	if (d->catchup_by_id) {
		/* once round from where it was begun (again) */
		while (d->catchup_left > 0 && budget > 0 && steps-- > 0 &&
		       wafa_journal_pending(&d->journal) < JOURNAL_BATCH) {
			struct wafa_ticket *t = wafa_index_get(&d->index, d->catchup_id);
			d->catchup_id = d->catchup_id < d->catchup_last ? d->catchup_id + 1
			                                                : d->catchup_first;
			d->catchup_left--;
			if (t) {
				wafa_deadlines_journal(d->rules, t, &sink);
				budget--;
			}
		}
		if (d->catchup_left > 0)
			return;
	} else {
		if (d->catchup_cap != d->index.cap || d->catchup_drops != d->drops) {
			/* the index grew, or a removal shifted a ticket behind the
			 * cursor: start again (tickets already told cost a
			 * recomputation only) */
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
		if (d->catchup_pos < d->index.cap)
			return;
	}
	d->catching_up = false;
	wafa_log(WAFA_INFO, "journal", "caught up with %zu tickets in %.1f s", d->index.count,
	         (double)(wafa_clock_now_ms() - d->catchup_started) / 1000);
}

static int by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The reconciliation's re-read tickets are to be journaled: in id order,
 * each once, with those still waiting from the one before. */
static void recheck_ready(struct wafa_instance *d)
{
	size_t n = 0;

	if (d->nrecheck == 0)
		return;
	memmove(d->recheck, d->recheck + d->recheck_pos,
	        (d->nrecheck - d->recheck_pos) * sizeof(*d->recheck));
	d->nrecheck -= d->recheck_pos;
	d->recheck_pos = 0;
	qsort(d->recheck, d->nrecheck, sizeof(*d->recheck), by_id);
	for (size_t i = 0; i < d->nrecheck; i++)
		if (n == 0 || d->recheck[n - 1] != d->recheck[i])
			d->recheck[n++] = d->recheck[i];
	d->nrecheck = n;
}

static void on_journal_written(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;

	d->journal_busy = false;
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		free(d->journal_text);
		d->journal_text = NULL;
		if (d->catching_up || wafa_journal_pending(&d->journal) >= JOURNAL_BATCH)
			wafa__mirror_on_journal_tick(&d->journal_timer);
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
struct wafa_pg *wafa__mirror_journal_conn(struct wafa_instance *d)
{
	return d->jconn && wafa_pg_connected(d->jconn) ? d->jconn : d->work;
}

/* Writes what the journal collected, a batch at a time: status changes
 * first, then events.  A batch stays until the database has it. */
void wafa__mirror_on_journal_tick(uv_timer_t *timer)
{
	struct wafa_instance *d = timer->data;

	flush_customers(d);

	if (d->journal_busy || !wafa_pg_connected(wafa__mirror_journal_conn(d)))
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
	if (wafa_pg_query(wafa__mirror_journal_conn(d), d->journal_sql, 1, p, on_journal_written, d) == 0) {
		d->journal_busy = true;
		/* the next batch is made while the database writes this one: the
		 * two go on the two cores at once, not one after the other */
		catch_up(d);
	}
}

/* Maps the marks read by rule name onto the loaded rules' numbers. */
void wafa__mirror_apply_marks(struct wafa_instance *d)
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

void wafa__mirror_free_jmarks(struct wafa_instance *d)
{
	for (size_t k = 0; k < d->njmarks; k++)
		free(d->jmarks[k].rule);
	free(d->jmarks);
	d->jmarks = NULL;
	d->njmarks = 0;
}

/* Maps when each rule was first had onto the loaded rules; a name not
 * seen before is first seen now. */
static void apply_since(struct wafa_instance *d)
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
	struct wafa_instance *d;
	bool start; /* then the first snapshot follows */
};

static void on_rule_seen(PGresult *res, void *arg)
{
	struct seen_read *sr = arg;
	struct wafa_instance *d = sr->d;

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
		wafa__instance_start_reading(d);
out:
	free(sr);
}

/* Records the loaded rules in wafa.rule_seen and reads when each was first
 * had.  Returns 0, or -1 when it could not be sent. */
int wafa__mirror_read_rule_seen(struct wafa_instance *d, bool start)
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
		wafa__firing_array_element(f, d->rules->rules[i].name, i == 0);
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
const char *wafa__mirror_go_live_held(const struct wafa_instance *d, int rule, int64_t due, int64_t limit,
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
	struct wafa_instance *d;
	int64_t ms;
	unsigned rules_gen; /* the rules it was written for */
};

static void on_marks_written(PGresult *res, void *arg)
{
	struct mark_write *mw = arg;
	struct wafa_instance *d = mw->d;

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
static void advance_marks(struct wafa_instance *d, int64_t overlap)
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
		wafa__firing_array_element(f, d->rules->rules[i].name, i == 0);
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
static void adopt_history(struct wafa_instance *d, struct wafa_ticket *t)
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
		if (wafa_ticket_add_state(t, c->at, c->from, c->to, c->paused) != 0)
			break;
	}
}

/* Journals a status change seen in a row: of the normalized status, the
 * helpdesk's own status, or what a rule's pause on a raw status or a
 * function of the ticket says (asked when the row changed, else
 * prev_paused stands).  prev: the status wafa knew (WAFA_S_UNKNOWN: never
 * seen).  A change seen live is dated by the row's updated_at; one found at
 * start-up (or after a reconnect) too, and the journal marks it inferred. */
static void note_status(struct wafa_instance *d, struct wafa_ticket *t, int prev,
                        uint32_t prev_paused, bool changed, bool live)
{
	int now = wafa_ticket_status(t);
	int64_t at = t->time[WAFA_T_UPDATED_AT];
	uint32_t paused = changed ? wafa_rules_pauses(d->rules, t) : prev_paused;
	const char *names[WAFA_PAUSE_BITS];
	int nnames = 0;

	if (prev == now && paused == prev_paused)
		return;
	if (prev == WAFA_S_UNKNOWN) {
		/* a new ticket in a working status, not paused by a raw status or
		 * a function, needs no entry: that is the default */
		if ((now == WAFA_S_NEW || now == WAFA_S_OPEN) && paused == 0)
			return;
		if ((now == WAFA_S_SOLVED || now == WAFA_S_CLOSED) &&
		    t->time[WAFA_T_SOLVED_AT] != WAFA_NO_TIME)
			at = t->time[WAFA_T_SOLVED_AT];
		live = false;
	}
	if (at == WAFA_NO_TIME)
		at = wafa_clock_now_ms();
	for (int b = 0; b < WAFA_PAUSE_BITS; b++)
		if ((paused & (1u << b)) && wafa_rules_pause_name(b))
			names[nnames++] = wafa_rules_pause_name(b);
	if (wafa_ticket_add_state(t, at, prev, now, paused) != 0 ||
	    wafa_journal_change(&d->journal, t->id, t->hist[t->nhist - 1].at,
	                        prev == WAFA_S_UNKNOWN ? NULL : wafa_status_names[prev],
	                        wafa_status_names[now], !live,
	                        wafa_ticket_str(t, WAFA_T_RAW_STATUS), names, nnames) != 0)
		wafa_log(WAFA_ERROR, "journal", "ticket=%" PRId64 ": out of memory", t->id);
	else
		wafa_log(WAFA_DEBUG, "journal", "ticket=%" PRId64 " status %s -> %s%s%s", t->id,
		         prev == WAFA_S_UNKNOWN ? "(first seen)" : wafa_status_names[prev],
		         wafa_status_names[now], live ? "" : " (inferred)",
		         paused != prev_paused ? (paused ? " (paused by a raw status or function)"
		                                         : " (raw or function pauses end)")
		                               : "");
}

#define SAID_MAX 100000 /* bad rows remembered; past them each read logs at debug */

/* Whether a bad row of ticket id is to be logged: the first time since its
 * row was last good.  good: it is good now (forgotten). */
bool wafa__mirror_say_once(struct wafa_instance *d, int64_t id, bool good)
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
void wafa__mirror_seen(struct wafa_instance *d, struct wafa_ticket *t)
{
	if (t->mark != d->mark) {
		t->mark = d->mark;
		d->nmarked++;
	}
}

/* Takes row `row` into the index.  With schedule, recomputes its deadlines.
 * live: the row was read as it changed (not by a snapshot).
 * Returns the indexed ticket, or NULL for a malformed row (logged). */
struct wafa_ticket *wafa__mirror_take_row(struct wafa_instance *d, PGresult *res, int row, bool schedule_it,
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
		wafa_log(!has_id || err != -EINVAL || wafa__mirror_say_once(d, id, false) ? WAFA_WARN : WAFA_DEBUG,
		         "index", "skipping a malformed ticket row (id=%s): %s; fix it in the "
		         "helpdesk or map it in the view",
		         has_id ? PQgetvalue(res, row, 0) : "NULL", why);
		/* what wafa knew of it is out of date: no deadline of it stays */
		if (err == -EINVAL && has_id)
			wafa__mirror_drop_ticket(d, id);
		return NULL;
	}
	if (why)
		wafa_log(wafa__mirror_say_once(d, fresh->id, false) ? WAFA_WARN : WAFA_DEBUG, "index",
		         "ticket=%" PRId64 ": %s; read as unset (fix it in the helpdesk or map it "
		         "in the view)",
		         fresh->id, why);
	else
		wafa__mirror_say_once(d, fresh->id, true);
	if (fresh->time[WAFA_T_UPDATED_AT] != WAFA_NO_TIME &&
	    fresh->time[WAFA_T_UPDATED_AT] > d->seen_updated_ms)
		d->seen_updated_ms = fresh->time[WAFA_T_UPDATED_AT];
	t = wafa_index_get(&d->index, fresh->id);
	if (t && d->reading_aside && fresh->time[WAFA_T_UPDATED_AT] != WAFA_NO_TIME &&
	    fresh->time[WAFA_T_UPDATED_AT] < t->time[WAFA_T_UPDATED_AT]) {
		/* read on the journal's connection before a newer read of it on
		 * the work connection was taken in: the newer one stays */
		wafa__mirror_seen(d, t);
		wafa_ticket_free(fresh);
		return t;
	}
	/* the address or status may differ; a ticket first read by the first
	 * snapshot gets its facts from the one statement after it
	 * (sync_customers): a million upserts on the journal's connection held
	 * up the snapshot's other stream, and their batches the memory */
	bool facts = t ? t->hash != fresh->hash : d->ready || !d->loading;
	/* the rules' raw and function pauses are asked again when the row
	 * changed, or the rules did (a reload) */
	bool changed = !t || d->repause || t->hash != fresh->hash ||
	               memcmp(t->time, fresh->time, sizeof(t->time)) != 0;
	uint32_t prev_paused = t ? wafa_ticket_paused(t) : 0;
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
		prev_paused = wafa_ticket_paused(t);
	}
	note_status(d, t, prev, prev_paused, changed, live);
	if (facts)
		note_customer(d, t);
	wafa__mirror_seen(d, t);
	if (schedule_it) {
		if (wafa__mirror_schedule(d, t, live) != 0)
			wafa_log(WAFA_ERROR, "index", "ticket=%" PRId64 ": out of memory scheduling",
			         t->id);
		wafa_ticket_strip(t); /* scheduled: what the rules said is cached */
	}
	return t;
}

/* rows ahead whose index slot is asked into the cache (wafa_index_prefetch):
 * far enough for memory to answer, near enough to stay in the cache */
#define PREFETCH_ROWS 8

static int take_rows(struct wafa_instance *d, PGresult *res, const char *what, bool live)
{
	int n;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "adapter", "%s failed: %s", what, wafa_pg_result_error(res));
		return -1;
	}
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		int64_t ahead;
		if (i + PREFETCH_ROWS < n && wafa_ticket_row_id(res, i + PREFETCH_ROWS, &ahead) == 0)
			wafa_index_prefetch(&d->index, ahead);
		wafa__mirror_take_row(d, res, i, true, live);
		/* the next page streams in meanwhile, instead of waiting in
		 * the server for the socket to drain */
		if (i % 512 == 511) {
			wafa_pg_consume(d->work);
			wafa_pg_consume(d->jconn);
		}
	}
	wafa__firing_arm(d);
	if (d->customers.n >= CUSTOMER_BATCH)
		flush_customers(d);
	/* a snapshot's transitions go out between its pages, not all at the end */
	if (wafa_journal_pending(&d->journal) >= JOURNAL_BATCH)
		wafa__mirror_on_journal_tick(&d->journal_timer);
	return n;
}

void wafa__mirror_kick_mailer(void *arg)
{
	struct wafa_instance *d = arg;

	if (d->mailer)
		wafa_mailer_kick(d->mailer);
	if (d->dispatch)
		wafa_dispatch_kick(d->dispatch);
}

/* Goes through the whole index (catch_up): in id order where the ids are
 * dense (at most 4 ids a ticket between the lowest and the highest), else
 * in slot order.  What a reconciliation listed is in it.  Begun again while
 * it runs (a bulk change re-read at each reconciliation), it goes once
 * round from where it is: it does not lose its way. */
static void start_catch_up(struct wafa_instance *d)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	for (size_t i = 0; i < d->index.cap; i++) {
		const struct wafa_ticket *t = d->index.slots[i].t;
		if (t && t->id < lo)
			lo = t->id;
		if (t && t->id > hi)
			hi = t->id;
	}
	bool by_id = d->index.count > 0 &&
	             (uint64_t)hi - (uint64_t)lo < 4 * (uint64_t)d->index.count;
	if (!d->catching_up || !by_id || !d->catchup_by_id || d->catchup_id < lo ||
	    d->catchup_id > hi) {
		d->catchup_id = lo;
		d->catchup_pos = 0;
		d->catchup_cap = d->index.cap;
		d->catchup_drops = d->drops;
		d->catchup_started = wafa_clock_now_ms();
	}
	d->catching_up = true;
	d->catchup_by_id = by_id;
	d->catchup_first = lo;
	d->catchup_last = hi;
	d->catchup_left = by_id ? (uint64_t)hi - (uint64_t)lo + 1 : 0;
	d->nrecheck = d->recheck_pos = 0;
	d->recheck_all = false;
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
	struct wafa_instance *d;
	unsigned gen; /* the snapshot's mark: a page of an older one is dropped */
	int part;
};

static void sweep(struct wafa_instance *d)
{
	/* tickets the snapshot did not see have left the view: counted as it
	 * went, so the index is walked only when some have, and only until
	 * the last of them is gone (at 10M a walk costs a cache miss a slot) */
	for (size_t i = 0; d->nmarked < d->index.count && i < d->index.cap; i++) {
		struct wafa_ticket *t = d->index.slots[i].t;
		if (t && t->mark != d->mark) {
			wafa__mirror_drop_ticket(d, t->id);
			i--; /* backward shift may have moved another into slot i */
		}
	}
}

/* Every stream has ended: the snapshot is whole, or failed. */
static void snapshot_done(struct wafa_instance *d)
{
	d->loading = false;
	if (d->snap_failed) {
		if (d->snap_bad_view && !d->ready) {
			wafa_log(WAFA_ERROR, "adapter", "cannot read [helpdesk] view %s: make it return "
			                                "the normalized ticket columns (see "
			                                "sample-helpdesk.sql)",
			         d->cfg->view);
			wafa__instance_shutdown(d, EX_CONFIG);
		} else if (d->snap_bad_view) {
			d->reload = true; /* again at the next reconciliation */
		} else {
			/* a connection was lost: again now with those still up (none
			 * while the work connection is down: its reconnect starts one) */
			wafa__mirror_snapshot(d);
		}
		return;
	}
	sweep(d);
	d->repause = false; /* every ticket has been asked the reloaded rules' pauses */
	wafa_log(WAFA_INFO, "adapter", "snapshot: %zu tickets, %zu deadlines", d->index.count,
	         d->heap.count);
	if (!d->ready && d->offers)
		wafa_offers_start(d->offers, 3000);
	if (!d->ready)
		sync_customers(d);
	d->ready = true;
	/* every ticket in the view has its history now; what is left belongs to
	 * tickets gone from the view */
	free(d->loaded);
	d->loaded = NULL;
	d->nloaded = 0;
	start_catch_up(d);
	if (d->reload) {
		d->reload = false;
		wafa__mirror_snapshot(d);
	}
}

bool wafa__mirror_row_error(const PGresult *res);
int wafa__mirror_want_id(struct wafa_instance *d, int64_t id);
void wafa__mirror_fetch_ids(struct wafa_instance *d);

/* A stream's page of ids, read when its page of tickets failed on a row:
 * the tickets go to be read by id (fetch_ids), which sets the bad row
 * apart, and the stream goes on past them. */
static void on_page_ids(PGresult *res, void *arg)
{
	struct snap_page *pg = arg;
	struct wafa_instance *d = pg->d;
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
			wafa__mirror_seen(d, t); /* in the view: the sweep keeps it while it is read */
		if (wafa__mirror_want_id(d, id) != 0)
			d->reload = true; /* out of memory: a snapshot again later */
	}
	wafa__mirror_fetch_ids(d);
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
	struct wafa_instance *d = pg->d;
	int part = pg->part, n;
	bool current = pg->gen == d->mark && d->loading;

	if (current && wafa__mirror_row_error(res)) {
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
static void snapshot_page(struct wafa_instance *d, int part)
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
void wafa__mirror_snapshot(struct wafa_instance *d)
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
bool wafa__mirror_row_error(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "P0", 2) == 0);
}

/* ---- NOTIFY: a hint that a ticket changed ---- */

void wafa__mirror_fetch_ids(struct wafa_instance *d);
int wafa__mirror_want_id(struct wafa_instance *d, int64_t id);

#define IDS_BATCH 10000 /* ticket ids asked for in one query */

/* Sorts the ids waiting to be fetched and drops repeats: a burst of
 * notifications costs O(n log n), not a scan of the list for each. */
static void compact_ids(struct wafa_instance *d)
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
	struct wafa_instance *d = arg;
	int64_t *seen = NULL;

	d->fetching = false;
	if (wafa__mirror_row_error(res)) {
		/* a row the view fails on (a cast in it, say) fails the read of
		 * every id with it: the ids are asked again in halves until it
		 * stands alone, and it alone is skipped */
		if (d->ninflight > 1) {
			wafa_log(WAFA_DEBUG, "adapter", "reading %zu changed tickets failed: %s; again "
			                                "in halves",
			         d->ninflight, wafa_pg_result_error(res));
			d->ids_batch = d->ninflight / 2;
			for (size_t i = 0; i < d->ninflight; i++)
				if (wafa__mirror_want_id(d, d->inflight[i]) != 0)
					break; /* the next reconciliation or snapshot reads it */
		} else if (d->ninflight == 1) {
			wafa_log(wafa__mirror_say_once(d, d->inflight[0], false) ? WAFA_WARN : WAFA_DEBUG, "adapter",
			         "ticket=%" PRId64 ": the view cannot read it (%s); what was read "
			         "of it before stays (fix the row or the view)",
			         d->inflight[0], wafa_pg_result_error(res));
		}
		d->ninflight = 0;
		wafa__mirror_fetch_ids(d);
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
				wafa__mirror_drop_ticket(d, d->inflight[i]);
		wafa__firing_arm(d);
	}
	/* on failure the reconnect's snapshot covers these ids */
	free(seen);
	d->ninflight = 0;
	wafa__mirror_fetch_ids(d);
}

/* Asks for up to IDS_BATCH of the tickets notified since the last fetch. */
void wafa__mirror_fetch_ids(struct wafa_instance *d)
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
int wafa__mirror_want_id(struct wafa_instance *d, int64_t id)
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

void wafa__mirror_on_notify(struct wafa_pg *pg, const char *channel, const char *payload, void *arg)
{
	struct wafa_instance *d = arg;
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
	if (wafa__mirror_want_id(d, id) != 0) {
		wafa__mirror_snapshot(d);
		return;
	}
	wafa__mirror_fetch_ids(d);
}

/* ---- reconciliation: the safety net for lost notifications ---- */

/* One row of the reconciliation, streamed: after a bulk update it may
 * re-read every ticket, and a result of them all would be held whole. */
static void on_since_row(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;

	d->reading_aside = d->reconcile_aside;
	wafa__mirror_take_row(d, res, 0, true, true);
	d->reading_aside = false;
	if (++d->reconciled % 1000 == 0 && wafa_journal_pending(&d->journal) >= JOURNAL_BATCH)
		wafa__mirror_on_journal_tick(&d->journal_timer);
}

static void on_since(PGresult *res, void *arg)
{
	struct wafa_instance *d = arg;
	int n;

	d->reading_aside = d->reconcile_aside;
	n = take_rows(d, res, "reconciling", true);
	d->reading_aside = false;
	d->reconciling = false;
	if (n >= 0 && n + d->reconciled > 0)
		wafa_log(WAFA_DEBUG, "adapter", "reconcile: %zu tickets re-read",
		         (size_t)n + d->reconciled);
	/* their transitions are journaled a batch at a time, as after a
	 * snapshot: journaled row by row, a bulk update of 10M tickets queued 5
	 * GB of journal in memory faster than it was written.  Only they are
	 * gone through: the whole index, 10,000 tickets a second with nothing
	 * to journal, took longer than the interval at 300,000 tickets, and
	 * each reconciliation began it again */
	if (d->recheck_all)
		start_catch_up(d);
	else
		recheck_ready(d);
}

void wafa__mirror_on_reconcile(uv_timer_t *t)
{
	struct wafa_instance *d = t->data;
	char buf[32];
	const char *p[] = { buf };
	int64_t overlap = d->cfg->reconcile_ms > RECONCILE_OVERLAP_MS ? d->cfg->reconcile_ms
	                                                               : RECONCILE_OVERLAP_MS;

	if (d->reload && !d->loading) {
		d->reload = false;
		wafa__mirror_snapshot(d);
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
