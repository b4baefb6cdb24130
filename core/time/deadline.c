#include "time/deadline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "time/calendar.h"
#include "time/clock.h"
#include "base/duration.h"

const char *const wafa_event_names[WAFA_EV_N] = {
	"started", "paused", "resumed", "warn", "breach", "escalate", "due", "met", "cancelled",
	"mail", "answer",
};

enum { RUN, PAUSE, DONE };

/* paused: the raw and function pauses in force (bit rule->pause_bit); a
 * solved or closed ticket is done whatever its raw status or the function say */
static int class_of(const struct wafa_rule *rule, int status, uint32_t paused)
{
	if (status >= 0 && status < WAFA_S_N && (rule->pause_mask & (1u << status)))
		return PAUSE;
	if (status == WAFA_S_SOLVED || status == WAFA_S_CLOSED)
		return DONE;
	if (rule->pause_bit >= 0 && (paused & (1u << rule->pause_bit)))
		return PAUSE;
	return RUN;
}

/* The raw and function pauses in force at instant at: none before the
 * first change wafa saw (one is journaled when a ticket is first seen
 * paused so). */
static uint32_t paused_at(const struct wafa_ticket *t, int64_t at)
{
	uint32_t p = 0;

	for (unsigned i = 0; i < t->nhist && t->hist[i].at <= at; i++)
		p = t->hist[i].paused;
	return p;
}

/* The ticket's status at instant at, from the changes wafa has seen. */
static int status_at(const struct wafa_ticket *t, int64_t at)
{
	int s = -1;

	for (unsigned i = 0; i < t->nhist && t->hist[i].at <= at; i++)
		s = t->hist[i].to;
	if (s >= 0)
		return s;
	if (t->nhist > 0 && t->hist[0].from != WAFA_S_UNKNOWN)
		return t->hist[0].from;
	/* first seen in a working status, never changed since */
	return t->nhist > 0 ? WAFA_S_OPEN : wafa_ticket_status(t);
}

/* The last reopen (solved or closed to anything else), or WAFA_NO_TIME. */
static int64_t last_reopen(const struct wafa_ticket *t)
{
	for (unsigned i = t->nhist; i-- > 0;) {
		const struct wafa_status_change *c = &t->hist[i];
		bool was_done = c->from == WAFA_S_SOLVED || c->from == WAFA_S_CLOSED;
		bool is_done = c->to == WAFA_S_SOLVED || c->to == WAFA_S_CLOSED;
		if (was_done && !is_done)
			return c->at;
	}
	return WAFA_NO_TIME;
}

/* The last change into solved or closed, or WAFA_NO_TIME. */
static int64_t last_solve(const struct wafa_ticket *t)
{
	for (unsigned i = t->nhist; i-- > 0;) {
		const struct wafa_status_change *c = &t->hist[i];
		bool was_done = c->from == WAFA_S_SOLVED || c->from == WAFA_S_CLOSED;
		bool is_done = c->to == WAFA_S_SOLVED || c->to == WAFA_S_CLOSED;
		if (is_done && !was_done)
			return c->at;
	}
	return WAFA_NO_TIME;
}

static void push_seg(const struct wafa_rule *rule, struct wafa_track *tr, int64_t from, int64_t to,
                     int cls)
{
	if (tr->nseg > 0 && tr->seg[tr->nseg - 1].cls == cls) {
		tr->seg[tr->nseg - 1].to = to;
		return;
	}
	if (tr->nseg == WAFA_TRACK_SEGS) {
		/* the oldest stretch leaves the track; what it ran is carried */
		if (tr->seg[0].cls == RUN)
			tr->carried += tr->cal ? wafa_calendar_elapsed(tr->cal, tr->seg[0].from,
			                                                 tr->seg[0].to)
			                         : tr->seg[0].to - tr->seg[0].from;
		tr->carried_end = tr->seg[0].to;
		memmove(&tr->seg[0], &tr->seg[1], (WAFA_TRACK_SEGS - 1) * sizeof(tr->seg[0]));
		tr->nseg--;
	}
	tr->seg[tr->nseg].from = from;
	tr->seg[tr->nseg].to = to;
	tr->seg[tr->nseg].cls = (unsigned char)cls;
	tr->nseg++;
}

/* The segments from start to end by status class.  Changes at one instant
 * (helpdesks keep whole seconds: a reply and its undo, one second) count
 * in order; the last of them says what follows. */
static void segments(const struct wafa_rule *rule, const struct wafa_ticket *t,
                     struct wafa_track *tr)
{
	int64_t a = tr->start;
	int cur = class_of(rule, status_at(t, a), paused_at(t, a));

	tr->nseg = 0;
	for (unsigned i = 0; i < t->nhist; i++) {
		const struct wafa_status_change *c = &t->hist[i];
		int cls;
		if (c->at <= tr->start)
			continue; /* status_at and paused_at have them */
		if (c->at >= tr->end)
			break;
		cls = class_of(rule, c->to, c->paused);
		if (cls == cur)
			continue;
		if (c->at > a) {
			push_seg(rule, tr, a, c->at, cur);
			a = c->at;
		}
		cur = cls;
	}
	push_seg(rule, tr, a, tr->end, cur);
}

void wafa_deadline_track(struct wafa_rules *r, int rule_i, struct wafa_ticket *t,
                         struct wafa_track *tr)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	int64_t stop = rule->stop >= 0 ? t->time[rule->stop] : WAFA_NO_TIME;
	int status = wafa_ticket_status(t);

	memset(tr, 0, sizeof(*tr));
	tr->applies = false;
	tr->end = INT64_MAX;
	if (rule->kind == WAFA_RULE_OFFER)
		return; /* over customers, not tickets: core/fire/offer.c */
	tr->cal = wafa_rules_calendar(r, rule_i, t);
	if (rule->kind == WAFA_RULE_PROMISE) {
		tr->start = wafa_rules_at(r, rule_i, t);
		if (tr->start == WAFA_NO_TIME || !wafa_rules_applies(r, rule_i, t))
			return;
		tr->instance = wafa_ms_to_s(tr->start);
		tr->applies = true;
		if (stop != WAFA_NO_TIME) {
			tr->state = WAFA_TRACK_MET;
			tr->state_at = stop;
		} else if (status == WAFA_S_SOLVED || status == WAFA_S_CLOSED) {
			tr->state = WAFA_TRACK_CANCELLED;
			tr->state_at = t->nhist ? t->hist[t->nhist - 1].at : t->time[WAFA_T_UPDATED_AT];
		} else {
			tr->state = WAFA_TRACK_RUNNING;
		}
		return;
	}
	if (rule->kind == WAFA_RULE_FOLLOWUP) {
		tr->start = t->time[rule->start];
		if (rule->start == WAFA_T_SOLVED_AT) {
			int64_t solved = last_solve(t);
			/* a reopened ticket has no follow-up; solved again, a new one */
			if (status != WAFA_S_SOLVED && status != WAFA_S_CLOSED)
				return;
			if (solved != WAFA_NO_TIME && (tr->start == WAFA_NO_TIME || solved > tr->start))
				tr->start = solved;
		}
		if (tr->start == WAFA_NO_TIME || !wafa_rules_applies(r, rule_i, t))
			return;
		tr->instance = wafa_ms_to_s(tr->start);
		tr->applies = true;
		tr->state = WAFA_TRACK_RUNNING;
		return;
	}
	tr->start = t->time[rule->start];
	if (tr->start == WAFA_NO_TIME)
		return;
	if (rule->restart_on_reopen) {
		int64_t reopen = last_reopen(t);
		if (reopen != WAFA_NO_TIME && reopen > tr->start)
			tr->start = reopen;
	}
	tr->target = wafa_rules_target(r, rule_i, t);
	if (tr->target < 0 || !wafa_rules_applies(r, rule_i, t))
		return;
	if (tr->target & WAFA_DURATION_DAYS) {
		/* business days: the business time from the start to the same local
		 * time N open days later (calendar days without a calendar) */
		int64_t n = tr->target & ~WAFA_DURATION_DAYS, end;
		if (!tr->cal) {
			tr->target = n * 86400000;
		} else if ((end = wafa_calendar_add_days(tr->cal, tr->start, (int)n)) == WAFA_NO_TIME) {
			return; /* never open within ten years: no deadline */
		} else {
			tr->target = wafa_calendar_elapsed(tr->cal, tr->start, end);
		}
	}
	tr->applies = true;
	tr->instance = wafa_ms_to_s(tr->start);
	/* met: the stop column set at or after the start; a solved_at counts
	 * while the ticket stays solved (a reopen resumes the clock), and a
	 * ticket solved again is met when wafa saw it solved (helpdesks keep
	 * the first solved_at) */
	if (rule->stop == WAFA_T_SOLVED_AT && stop != WAFA_NO_TIME) {
		int64_t solved = last_solve(t);
		if (status != WAFA_S_SOLVED && status != WAFA_S_CLOSED)
			stop = WAFA_NO_TIME;
		else if (solved != WAFA_NO_TIME && solved > stop)
			stop = solved;
	}
	if (stop != WAFA_NO_TIME && stop >= tr->start)
		tr->end = stop;
	segments(rule, t, tr);
	if (tr->end != INT64_MAX) {
		tr->state = WAFA_TRACK_MET;
		tr->state_at = tr->end;
	} else {
		int cls = tr->seg[tr->nseg - 1].cls;
		tr->state = cls == RUN ? WAFA_TRACK_RUNNING
		          : cls == PAUSE ? WAFA_TRACK_PAUSED : WAFA_TRACK_CANCELLED;
		tr->state_at = tr->seg[tr->nseg - 1].from;
	}
}

/* The instant the clock reaches amount ms, or WAFA_NO_TIME. */
static int64_t reach(const struct wafa_rule *rule, const struct wafa_track *tr, int64_t amount)
{
	int64_t acc = tr->carried;

	if (tr->carried > 0 && amount <= tr->carried)
		return tr->carried_end; /* reached in the stretches that left the track: past */
	for (int i = 0; i < tr->nseg; i++) {
		int64_t a = tr->seg[i].from, b = tr->seg[i].to, e;
		if (tr->seg[i].cls != RUN)
			continue;
		if (b == INT64_MAX)
			return tr->cal ? wafa_calendar_add(tr->cal, a, amount - acc)
			                 : a + (amount - acc);
		if (tr->cal) {
			/* adding what is left costs the days it spans; the elapsed time
			 * of the whole stretch costs every day of it: a row whose
			 * timestamps reach the year 7000 took 27 s (fuzz_rows) */
			int64_t x = wafa_calendar_add(tr->cal, a, amount - acc);
			if (x != WAFA_NO_TIME && x <= b)
				return x;
			e = wafa_calendar_elapsed(tr->cal, a, b);
		} else {
			e = b - a;
			if (acc + e >= amount)
				return a + (amount - acc);
		}
		acc += e;
	}
	return WAFA_NO_TIME;
}

/* When a phase is reached, whatever the state. */
static int64_t phase_instant(const struct wafa_rule *rule, const struct wafa_track *tr, int phase)
{
	const struct wafa_phase *ph = &rule->phases[phase];
	int64_t amount;

	if (!tr->applies)
		return WAFA_NO_TIME;
	if (rule->kind == WAFA_RULE_FOLLOWUP)
		return tr->cal ? wafa_calendar_add(tr->cal, tr->start, ph->offset_ms)
		                 : tr->start + ph->offset_ms;
	if (rule->kind == WAFA_RULE_PROMISE) {
		int64_t off = ph->offset_ms;
		if (off == 0)
			return tr->start;
		if (tr->cal)
			return off < 0 ? wafa_calendar_sub(tr->cal, tr->start, -off)
			               : wafa_calendar_add(tr->cal, tr->start, off);
		return tr->start + off;
	}
	if (ph->pct > 0)
		amount = tr->target * ph->pct / 100;
	else
		amount = tr->target + ph->offset_ms;
	if (amount < 0)
		amount = 0;
	return reach(rule, tr, amount);
}

/* With notify_in = "business", a step outside the calendar's hours waits for
 * the next opening; the closing instant itself counts as inside (a target
 * reached as the office closes fires then). */
static int64_t held(const struct wafa_rule *rule, const struct wafa_track *tr, int64_t at)
{
	if (at == WAFA_NO_TIME || !rule->notify_business || !tr->cal ||
	    wafa_calendar_is_open(tr->cal, at - 1))
		return at;
	return wafa_calendar_next_open(tr->cal, at);
}

int64_t wafa_deadline_phase(const struct wafa_rule *rule, const struct wafa_track *tr, int phase,
                            int64_t *due)
{
	int64_t at;

	*due = WAFA_NO_TIME;
	if (!tr->applies || tr->state == WAFA_TRACK_MET || tr->state == WAFA_TRACK_CANCELLED)
		return WAFA_NO_TIME;
	at = phase_instant(rule, tr, phase);
	*due = at;
	return held(rule, tr, at);
}

int64_t wafa_deadline_breach(const struct wafa_rule *rule, const struct wafa_track *tr)
{
	if (!tr->applies)
		return WAFA_NO_TIME;
	if (rule->kind == WAFA_RULE_PROMISE)
		return tr->start;
	if (rule->kind == WAFA_RULE_FOLLOWUP)
		return WAFA_NO_TIME;
	return reach(rule, tr, tr->target);
}

static int add_event(struct wafa_event_rec *out, int n, int max, int64_t at, int64_t due,
                     enum wafa_event ev, int phase)
{
	if (n >= max || at == WAFA_NO_TIME)
		return n;
	out[n].at = at;
	out[n].due = due;
	out[n].event = ev;
	out[n].phase = phase;
	return n + 1;
}

static int by_time(const void *a, const void *b)
{
	const struct wafa_event_rec *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	/* at one instant: the order of the list (started first, met last) */
	return x->event != y->event ? (int)x->event - (int)y->event : x->phase - y->phase;
}

int wafa_deadline_timeline(const struct wafa_rule *rule, const struct wafa_track *tr,
                           const struct wafa_ticket *t, struct wafa_event_rec *out, int max)
{
	int n = 0;
	int64_t end, made = WAFA_NO_TIME;

	if (!tr->applies)
		return 0;
	if (rule->kind == WAFA_RULE_FOLLOWUP) {
		n = add_event(out, n, max, tr->start, tr->start, WAFA_EV_STARTED, -1);
		end = INT64_MAX;
	} else if (rule->kind == WAFA_RULE_PROMISE) {
		/* a promise is known from when the ticket last changed: a step
		 * due before that fires then, as the daemon would */
		made = t->time[WAFA_T_UPDATED_AT];
		if (made == WAFA_NO_TIME || made > tr->start)
			made = tr->start;
		n = add_event(out, n, max, made, made, WAFA_EV_STARTED, -1);
		end = tr->state == WAFA_TRACK_RUNNING ? INT64_MAX : tr->state_at;
		if (tr->state == WAFA_TRACK_MET)
			n = add_event(out, n, max, tr->state_at, tr->state_at, WAFA_EV_MET, -1);
		if (tr->state == WAFA_TRACK_CANCELLED)
			n = add_event(out, n, max, tr->state_at, tr->state_at, WAFA_EV_CANCELLED, -1);
	} else {
		n = add_event(out, n, max, tr->start, tr->start, WAFA_EV_STARTED, -1);
		for (int i = 0; i < tr->nseg; i++) {
			int cls = tr->seg[i].cls;
			/* solved: met for a resolution SLA (a reopen resumes it),
			 * cancelled for any other */
			enum wafa_event ev = cls == RUN ? WAFA_EV_RESUMED
			                   : cls == PAUSE ? WAFA_EV_PAUSED
			                   : rule->stop == WAFA_T_SOLVED_AT ? WAFA_EV_MET
			                                                    : WAFA_EV_CANCELLED;
			if (i == 0 && cls == RUN)
				continue;
			n = add_event(out, n, max, tr->seg[i].from, tr->seg[i].from, ev, -1);
		}
		end = tr->end;
		if (tr->state == WAFA_TRACK_MET)
			n = add_event(out, n, max, tr->end, tr->end, WAFA_EV_MET, -1);
	}
	for (int p = 0; p < rule->nphases; p++) {
		static const enum wafa_event kinds[] = { WAFA_EV_WARN, WAFA_EV_BREACH, WAFA_EV_ESCALATE,
			                                 WAFA_EV_DUE };
		int64_t due = phase_instant(rule, tr, p);
		/* a step reached after the instance ended never fires */
		if (due == WAFA_NO_TIME || due > end || (due == end && tr->state != WAFA_TRACK_RUNNING))
			continue;
		if (tr->state == WAFA_TRACK_CANCELLED && rule->kind == WAFA_RULE_PROMISE && due >= end)
			continue;
		int64_t at = held(rule, tr, due);
		if (made != WAFA_NO_TIME && at < made)
			at = made;
		n = add_event(out, n, max, at, due, kinds[rule->phases[p].kind], p);
	}
	qsort(out, (size_t)n, sizeof(*out), by_time);
	return n;
}

/* ---- scheduling into the heap ---- */

static struct wafa_done *find_done(struct wafa_ticket *t, int rule, int phase, int64_t instance)
{
	for (size_t i = 0; i < t->ndone; i++)
		if (t->done[i].rule == rule && t->done[i].phase == phase &&
		    t->done[i].instance == instance)
			return &t->done[i];
	return NULL;
}

int wafa_deadline_mark(struct wafa_ticket *t, int rule, int phase, int64_t instance, bool pending)
{
	struct wafa_done *d = find_done(t, rule, phase, instance);

	if (!d) {
		if (t->ndone == t->done_cap) {
			size_t cap = t->done_cap ? t->done_cap * 2 : 4;
			struct wafa_done *grown = realloc(t->done, cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			t->done = grown;
			t->done_cap = cap;
		}
		d = &t->done[t->ndone++];
		d->rule = rule;
		d->phase = phase;
		d->instance = instance;
	}
	d->pending = pending;
	return 0;
}

void wafa_deadline_unmark(struct wafa_ticket *t, int rule, int phase, int64_t instance)
{
	struct wafa_done *d = find_done(t, rule, phase, instance);

	if (d)
		*d = t->done[--t->ndone];
}

void wafa_deadlines_unschedule(struct wafa_heap *h, struct wafa_ticket *t)
{
	for (size_t i = 0; i < t->ndeadlines; i++)
		wafa_heap_remove(h, &t->deadlines[i]);
	t->ndeadlines = 0;
}

/* Collects a deadline in *v (growing it off the stack buffer `stack` when
 * needed). */
static int collect(struct wafa_deadline **v, size_t *n, size_t *cap,
                   struct wafa_deadline *stack, const struct wafa_deadline *d)
{
	if (*n == *cap) {
		size_t ncap = *cap * 2;
		struct wafa_deadline *grown = malloc(ncap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		memcpy(grown, *v, *n * sizeof(*grown));
		if (*v != stack)
			free(*v);
		*v = grown;
		*cap = ncap;
	}
	(*v)[(*n)++] = *d;
	return 0;
}

/* Gives t exactly the deadlines in v, each in the heap: one allocation per
 * ticket (the heap points into it), sized to fit, none when n is 0. */
static int install(struct wafa_heap *h, struct wafa_ticket *t, const struct wafa_deadline *v,
                   size_t n)
{
	int err = 0;

	if (n > UINT16_MAX)
		return -E2BIG; /* 65,535 steps due for one ticket: not kept */
	if (n != t->deadlines_cap) {
		struct wafa_deadline *sized = n ? realloc(t->deadlines, n * sizeof(*sized)) : NULL;
		if (n && !sized)
			return -ENOMEM;
		if (!n)
			free(t->deadlines);
		t->deadlines = sized;
		t->deadlines_cap = (uint16_t)n;
	}
	if (n)
		memcpy(t->deadlines, v, n * sizeof(*v));
	for (size_t i = 0; i < n && !err; i++) {
		t->deadlines[i].pos = SIZE_MAX;
		err = wafa_heap_push(h, &t->deadlines[i]);
		if (!err)
			t->ndeadlines = (uint16_t)(i + 1);
	}
	return err;
}

/* Tells the sink the transitions of (t, rule) it has not been told. */
static void journal(const struct wafa_journal_sink *sink, struct wafa_ticket *t, int rule_i,
                    int nrules, const struct wafa_rule *rule, const struct wafa_track *tr)
{
	struct wafa_event_rec ev[WAFA_TRACK_SEGS + 16];
	struct wafa_jstate *js;
	int n, told;

	if (t->nj != (size_t)nrules) {
		struct wafa_jstate *grown = malloc((size_t)nrules * sizeof(*grown));
		if (!grown)
			return;
		for (int i = 0; i < nrules; i++) {
			grown[i].instance = WAFA_NO_TIME;
			grown[i].nevents = 0;
			grown[i].closed = 0;
		}
		free(t->js);
		t->js = grown;
		t->nj = (size_t)nrules;
	}
	js = &t->js[rule_i];
	if (js->instance != WAFA_NO_TIME && (!tr->applies || js->instance != tr->instance)) {
		if (!js->closed)
			sink->event(sink->arg, t, rule, js->instance, WAFA_EV_CANCELLED, sink->now,
			            !tr->applies ? "no longer applies"
			            : rule->kind == WAFA_RULE_PROMISE ? "moved" : "restarted");
		js->instance = WAFA_NO_TIME;
		js->nevents = 0;
		js->closed = 0;
	}
	if (!tr->applies)
		return;
	n = wafa_deadline_timeline(rule, tr, t, ev, (int)(sizeof(ev) / sizeof(ev[0])));
	told = 0;
	bool quiet = js->instance == WAFA_NO_TIME && sink->marks &&
	             t->time[WAFA_T_UPDATED_AT] != WAFA_NO_TIME &&
	             t->time[WAFA_T_UPDATED_AT] < sink->marks[rule_i];
	for (int i = 0; i < n; i++) {
		/* steps are journaled as they fire; later transitions when they happen */
		if (ev[i].phase >= 0 || ev[i].event == WAFA_EV_MAIL)
			continue;
		if (ev[i].at > sink->now)
			break;
		if (told++ < js->nevents)
			continue;
		if (!quiet)
			sink->event(sink->arg, t, rule, tr->instance, ev[i].event, ev[i].at, NULL);
		js->closed = ev[i].event == WAFA_EV_MET || ev[i].event == WAFA_EV_CANCELLED;
	}
	js->instance = tr->instance;
	if (told > js->nevents)
		js->nevents = (unsigned short)(told > 65535 ? 65535 : told);
}

void wafa_deadlines_journal(struct wafa_rules *r, struct wafa_ticket *t,
                            const struct wafa_journal_sink *sink)
{
	for (int i = 0; i < r->nrules; i++) {
		struct wafa_track tr;
		if (r->rules[i].nphases == 0)
			continue;
		wafa_deadline_track(r, i, t, &tr);
		journal(sink, t, i, r->nrules, &r->rules[i], &tr);
	}
}

int wafa_deadlines_schedule(struct wafa_rules *r, struct wafa_heap *h, struct wafa_ticket *t,
                            const struct wafa_journal_sink *sink)
{
	struct wafa_deadline stack[8], *v = stack;
	size_t n = 0, cap = sizeof(stack) / sizeof(stack[0]);
	int err = 0;

	wafa_deadlines_unschedule(h, t);
	for (int i = 0; i < r->nrules && !err; i++) {
		const struct wafa_rule *rule = &r->rules[i];
		struct wafa_track tr;
		if (rule->nphases == 0)
			continue;
		wafa_deadline_track(r, i, t, &tr);
		if (sink)
			journal(sink, t, i, r->nrules, rule, &tr);
		if (!tr.applies)
			continue;
		for (int p = 0; p < rule->nphases && !err; p++) {
			int64_t due, at;
			if (find_done(t, i, p, tr.instance))
				continue;
			at = wafa_deadline_phase(rule, &tr, p, &due);
			if (at == WAFA_NO_TIME)
				continue;
			struct wafa_deadline d = {
				.at_ms = t->retry_at != WAFA_NO_TIME && t->retry_at > at ? t->retry_at : at,
				.pos = SIZE_MAX, .ticket = t, .rule = i, .phase = p, .instance = tr.instance,
			};
			err = collect(&v, &n, &cap, stack, &d);
		}
	}
	if (!err)
		err = install(h, t, v, n);
	if (v != stack)
		free(v);
	return err;
}
