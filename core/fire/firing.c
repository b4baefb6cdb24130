/* Firing: the deadline timer, and due deadlines fired through the rules
 * into the outbox in batches (each checked against what is already done,
 * then inserted with its mails in one statement keyed
 * rule/ticket/phase/instance), retried when a batch fails.  Part of one
 * instance (instance.h). */

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

#define RETRY_FIRE_MS 1000
#define BAD_ROW_RETRY_MS 60000 /* a ticket whose row the view fails on */
#define OVERRUN_RETRY_MS 1000
#define OVERRUN_TRIES 3

/* ---- deadlines and firing ----
 *
 * Due deadlines fire in batches: one query re-reads every ticket of the
 * batch and whether each key has fired, the actions run, and one statement
 * records the new firings with their mails, so a burst of breaches costs
 * two round trips and one commit, not two per ticket. */

#define FIRE_BATCH 2000
#define FIRE_INFLIGHT 4 /* batches between their check and their insert */
#define FIRE_LOG_EACH 50 /* a batch of more firings logs each at debug */

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
	struct wafa_instance *d;
	unsigned rules_gen;
	int insert_on; /* its insert's connection: 0 work, 1 jconn */
	size_t n;
	struct fire_item items[];
};

static void on_batch_checked(PGresult *res, void *arg);
static void split_batch(struct fire_batch *b, const char *why);
static void check_batch(struct fire_batch *b);

static void fire_retry(struct wafa_instance *d, const struct fire_item *f)
{
	struct wafa_ticket *t = wafa_index_get(&d->index, f->ticket_id);

	if (!t)
		return;
	wafa_deadline_unmark(t, f->rule, f->phase, f->instance);
	t->retry_at = wafa_clock_now_ms() + RETRY_FIRE_MS;
	if (wafa__mirror_schedule(d, t, true) != 0)
		wafa_log(WAFA_ERROR, "fire", "ticket=%" PRId64 ": out of memory", t->id);
}

static void batch_end(struct fire_batch *b)
{
	struct wafa_instance *d = b->d;

	d->firing--;
	free(b);
	wafa__firing_arm(d); /* the next batch, if one waited for this one */
	if (d->firing == 0) {
		d->fire_idle_at = wafa_clock_now_ms();
		if (d->mailer)
			wafa_mailer_hold(d->mailer, false); /* the burst is recorded */
	}
}

static void batch_retry(struct fire_batch *b, bool queued_only, const char *why)
{
	struct wafa_instance *d = b->d;
	char in[32];

	wafa_log(WAFA_ERROR, "fire", "%zu firing(s) failed: %s; trying again in %s", b->n, why,
	         wafa_duration_format(RETRY_FIRE_MS, in, sizeof(in)));
	for (size_t i = 0; i < b->n; i++)
		if (!queued_only || b->items[i].queued)
			fire_retry(d, &b->items[i]);
	wafa__firing_arm(d);
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
	struct wafa_instance *d = b->d;

	d->fire_inserts[b->insert_on]--;
	if (b->rules_gen != d->rules_gen) {
		/* recorded under the old rules; the tickets were rescheduled and
		 * their journal step rows keep them from firing again */
		if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
			wafa__mirror_kick_mailer(d);
		goto out;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		batch_retry(b, true, wafa_pg_result_error(res));
		goto out;
	}
	count_mails(b, res);
	/* a line a firing, but for a burst's batch one line in all (each at
	 * debug): 2,000 lines a batch were a tenth of the loop's time in a
	 * burst, and the journal and `wafa outbox list` keep each firing */
	enum wafa_log_level each = b->n > FIRE_LOG_EACH ? WAFA_DEBUG : WAFA_INFO;
	size_t fired = 0, mails_all = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct fire_item *f = &b->items[i];
		struct wafa_ticket *t;
		int mails = f->mails;
		if (!f->queued)
			continue;
		fired++;
		mails_all += (size_t)mails;
		wafa_metrics_firing(f->event);
		for (int c = 0; c < f->cancelled_later; c++)
			wafa_metrics_firing("cancelled");
		if (mails > 0)
			wafa_metrics_breach_to_queue(wafa_clock_now_ms() - f->due);
		t = wafa_index_get(&d->index, f->ticket_id);
		if (t && wafa_deadline_mark(t, f->rule, f->phase, f->instance, false) != 0)
			wafa_log(WAFA_ERROR, "fire", "ticket=%" PRId64 ": out of memory", f->ticket_id);
		wafa_log(each, "fire", "rule=%s ticket=%" PRId64 " phase=%s: %d mail(s) queued",
		         d->rules->rules[f->rule].name, f->ticket_id,
		         d->rules->rules[f->rule].phases[f->phase].name, mails);
	}
	if (each == WAFA_DEBUG && fired > 0)
		wafa_log(WAFA_INFO, "fire", "%zu firing(s) at once: %zu mail(s) queued (each at "
		                            "level debug)", fired, mails_all);
	wafa__firing_queued(d, res);
out:
	batch_end(b);
}

/* Decides one firing with its ticket as it is now.  Returns true when the
 * action ran and its mails went into ob. */
static bool decide(struct wafa_instance *d, PGresult *res, int row, struct fire_item *f,
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
		wafa__mirror_drop_ticket(d, f->ticket_id); /* it left the view */
		return false;
	}
	/* the ticket as it is now, not as a notification may not yet have told */
	t = wafa__mirror_take_row(d, res, row, false, true);
	if (!t) {
		wafa__mirror_drop_ticket(d, f->ticket_id);
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
	of.held_customer = wafa__mirror_go_live_held(d, f->rule, due, d->cfg->go_live_limit_ms,
	                                "[contact] go_live_limit", why_c, sizeof(why_c));
	of.held_agent = wafa__mirror_go_live_held(d, f->rule, due, d->cfg->go_live_limit_agents_ms,
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
	if (wafa__mirror_schedule(d, t, true) != 0)
		goto oom;
	wafa_ticket_strip(t);
	return queued;
oom:
	wafa_log(WAFA_ERROR, "fire", "rule=%s ticket=%" PRId64 ": out of memory", rule->name,
	         f->ticket_id);
	fire_retry(d, f);
	return false;
}

/* Which connection a batch's insert goes on (0 work, 1 jconn): the one
 * with fewer inserts in flight, so that two backends write a burst's
 * batches at once (on the work connection alone, its backend was the
 * limit: a batch of 2,000 is 43 ms of insert and 12.5 ms of check on an
 * idle machine).  Counted by inserts, not by queries queued: the checks
 * queued on the work connection had sent nearly every insert to the
 * journal's, one after another (47 ms each at 1M tickets: 100,000 firings
 * took 2.6 s).  The checks stay on the work connection, in order with what
 * a notification re-reads, so a ticket is only ever replaced by a newer
 * read of it; an insert reads no ticket, and its keys are in no other
 * batch in flight, so the order in which two batches commit does not
 * matter. */
static int insert_conn(struct wafa_instance *d)
{
	if (!d->jconn || !wafa_pg_connected(d->jconn))
		return 0;
	if (d->fire_inserts[1] != d->fire_inserts[0])
		return d->fire_inserts[1] < d->fire_inserts[0];
	return wafa_pg_pending(d->jconn) < wafa_pg_pending(d->work);
}

static void on_batch_checked(PGresult *res, void *arg)
{
	struct fire_batch *b = arg;
	struct wafa_instance *d = b->d;
	struct wafa_outbox_batch ob;
	const char *p[WAFA_OUTBOX_NPARAMS];
	int len[WAFA_OUTBOX_NPARAMS], fmt[WAFA_OUTBOX_NPARAMS];
	int err;

	if (b->rules_gen != d->rules_gen) {
		batch_end(b); /* the rules were reloaded; the tickets were rescheduled */
		return;
	}
	if (wafa__mirror_row_error(res)) {
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
	wafa__firing_arm(d);
	if (ob.nfires == 0) {
		batch_end(b);
		goto out;
	}
	err = wafa_outbox_batch_params(&ob, d->cfg->from, p, len, fmt);
	if (err == 0) {
		b->insert_on = insert_conn(d);
		err = wafa_pg_query_binary(b->insert_on ? d->jconn : d->work, wafa_outbox_fire_sql,
		                           WAFA_OUTBOX_NPARAMS, p, len, fmt, on_batch_inserted, b);
		if (err == 0)
			d->fire_inserts[b->insert_on]++;
	}
	if (err != 0) {
		batch_retry(b, true, err == -ENOMEM ? "out of memory" : "not connected");
		batch_end(b);
	}
out:
	wafa_outbox_batch_free(&ob);
}

/* Appends s to f as a quoted element of a PostgreSQL array literal. */
void wafa__firing_array_element(FILE *f, const char *s, bool first)
{
	size_t run;

	fputs(first ? "\"" : ",\"", f);
	/* by runs, not a character at a time (fputc was 6% of the loop in a
	 * burst) */
	while (*s) {
		run = strcspn(s, "\"\\");
		fwrite(s, 1, run, f);
		s += run;
		if (*s) {
			fputc('\\', f);
			fputc(*s++, f);
		}
	}
	fputc('"', f);
}

/* Asks for the tickets of batch b (counted in d->firing) as they are now;
 * on_batch_checked goes on.  When it cannot be asked, its firings are
 * unmarked and it ends. */
static void check_batch(struct fire_batch *b)
{
	struct wafa_instance *d = b->d;
	/* the keys and ticket ids, and the keys' parts: a step row is looked up
	 * by rule, ticket, step and instance */
	static const uint32_t oid[5] = { WAFA_OID_TEXT, WAFA_OID_INT8, WAFA_OID_TEXT,
	                                 WAFA_OID_TEXT, WAFA_OID_INT8 };
	static const int fmt[5] = { 1, 1, 1, 1, 1 };
	struct wafa_array a[5];
	const char *p[5];
	int len[5];
	int err = 0;

	for (int c = 0; c < 5; c++)
		wafa_array_init(&a[c], oid[c]);
	for (size_t i = 0; i < b->n; i++) {
		const struct fire_item *it = &b->items[i];
		const struct wafa_rule *rule = &d->rules->rules[it->rule];
		wafa_array_text(&a[0], it->key);
		wafa_array_int8(&a[1], it->ticket_id);
		wafa_array_text(&a[2], rule->name);
		wafa_array_text(&a[3], rule->phases[it->phase].name);
		wafa_array_int8(&a[4], it->instance);
	}
	for (int c = 0; c < 5; c++)
		if (!(p[c] = wafa_array_finish(&a[c], &len[c])))
			err = -ENOMEM;
	if (err == 0)
		err = wafa_pg_query_binary(d->work, d->adapter.fire_sql, 5, p, len, fmt,
		                           on_batch_checked, b);
	for (int c = 0; c < 5; c++)
		wafa_array_free(&a[c]);
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
	struct wafa_instance *d = b->d;
	size_t half = b->n / 2;
	struct fire_batch *rest;

	if (b->n == 1) {
		const struct fire_item *f = &b->items[0];
		struct wafa_ticket *t = wafa_index_get(&d->index, f->ticket_id);
		wafa_log(wafa__mirror_say_once(d, f->ticket_id, false) ? WAFA_WARN : WAFA_DEBUG, "fire",
		         "rule=%s ticket=%" PRId64 ": the view cannot read it (%s); tried again "
		         "every %d s (fix the row or the view)",
		         d->rules->rules[f->rule].name, f->ticket_id, why, BAD_ROW_RETRY_MS / 1000);
		/* apart from the others, and not so often that it crowds them
		 * (nor dropped: a view that fails for every row loses nothing) */
		if (t) {
			wafa_deadline_unmark(t, f->rule, f->phase, f->instance);
			t->retry_at = wafa_clock_now_ms() + BAD_ROW_RETRY_MS;
			if (wafa__mirror_schedule(d, t, true) != 0)
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
static void fire_due(struct wafa_instance *d, int64_t now)
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
	/* A full batch: a burst.  Its mails wait until it is recorded (or 5 s
	 * at most): while the claims and the sessions' sent records ran beside
	 * it, on 2 cores, the last of 50,000 breaches reached the outbox 1.4-1.6
	 * s after its deadline, against 1.1-1.2 s held (tests/bench/run --n
	 * 20000 --burst 50000), and the last mail left no later. */
	if (b->n == FIRE_BATCH && d->mailer)
		wafa_mailer_hold(d->mailer, true);
	check_batch(b);
}

static void on_deadline(uv_timer_t *timer)
{
	struct wafa_instance *d = timer->data;

	if (!d->leader)
		return; /* the leader fires; leading again reads and arms anew */
	if (!wafa_pg_connected(d->work))
		return; /* the reconnect's snapshot re-arms */
	if (d->firing >= FIRE_INFLIGHT)
		return; /* the end of a batch re-arms: a burst does not queue all its
		         * batches at once ahead of every other query */
	fire_due(d, wafa_clock_now_ms());
	wafa__firing_arm(d);
}

/* Arms the one timer for the earliest deadline. */
void wafa__firing_queued(struct wafa_instance *d, const PGresult *res)
{
	int rows = PQntuples(res), mail_rows = 0;

	for (int r = 0; r < rows; r++) {
		const char *ch = PQgetvalue(res, r, 1);
		if (strcmp(ch, "mail") == 0)
			mail_rows++;
		else
			wafa_metrics_actions(ch, WAFA_METRIC_QUEUED);
	}
	wafa_metrics_mails(WAFA_METRIC_QUEUED, (uint64_t)mail_rows);
	if (rows > 0)
		wafa__mirror_kick_mailer(d);
}

void wafa__firing_arm(struct wafa_instance *d)
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
