/* Deadlines: the instants a rule's steps fall due for a ticket, computed
 * from the rule's declaration, the ticket's timestamps, the status changes
 * wafa has seen (pauses, reopens) and the rule's calendar (business time).
 * One computation serves the daemon (the heap), the journal (transitions)
 * and `wafa simulate` (a timeline), so what is simulated is what runs.
 *
 * An SLA instance: the clock starts at the start column (or at the last
 * reopen with restart_on_reopen), runs while the status is neither paused
 * nor solved/closed, and is met once the stop column is set at or after the
 * start (for stop = solved_at: while the ticket stays solved or closed).  A
 * step falls due when the clock time (business time with a calendar) reaches
 * its amount: pct% of the target, the target less a warning, the target
 * plus an escalation.  A promise: the date is the at column (or function);
 * warnings come before it and escalations after it (business time with a
 * calendar); kept (met) once the stop column is set.  A follow-up: its
 * steps fall due `after` (and every `every`) from its `since` column; with
 * since = solved_at, only while the ticket stays solved (a reopen cancels
 * them, solving it again starts a new instance).  notify_in = "business"
 * holds a step until the calendar opens. */
#ifndef WAFA_DEADLINE_H
#define WAFA_DEADLINE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "time/heap.h"
#include "lua/rules.h"
#include "sync/ticket.h"

enum wafa_event {
	WAFA_EV_STARTED, WAFA_EV_PAUSED, WAFA_EV_RESUMED, WAFA_EV_WARN, WAFA_EV_BREACH,
	WAFA_EV_ESCALATE, WAFA_EV_DUE, WAFA_EV_MET, WAFA_EV_CANCELLED, WAFA_EV_MAIL, WAFA_EV_ANSWER,
	WAFA_EV_N
};
extern const char *const wafa_event_names[WAFA_EV_N];

enum wafa_track_state { WAFA_TRACK_RUNNING, WAFA_TRACK_PAUSED, WAFA_TRACK_MET, WAFA_TRACK_CANCELLED };

#define WAFA_TRACK_SEGS 64

/* One (ticket, rule) as it stands: its instance and the stretches of time,
 * from the start on, by what the clock did in them. */
struct wafa_track {
	bool applies;
	struct wafa_calendar *cal; /* the rule's calendar for this ticket, or NULL */
	int64_t instance; /* seconds: the start (SLA) or the date (promise) */
	int64_t start;    /* ms: SLA clock start; promise date */
	int64_t target;   /* ms of clock time (SLA) */
	int64_t end;      /* ms: where the segments stop (met), or INT64_MAX */
	/* a ticket with more than WAFA_TRACK_SEGS stretches: the oldest leave
	 * the track, their running (business) time carried here */
	int64_t carried, carried_end;
	enum wafa_track_state state;
	int64_t state_at;
	int nseg;
	struct {
		int64_t from, to; /* to = INT64_MAX: still going */
		unsigned char cls; /* 0 running, 1 paused, 2 solved/closed */
	} seg[WAFA_TRACK_SEGS];
};

/* Computes the track of rule for t (running its when/target/at functions
 * through the rules host when needed). */
void wafa_deadline_track(struct wafa_rules *r, int rule, struct wafa_ticket *t,
                         struct wafa_track *tr);

/* When phase falls due: *due the instant it is reached, and the return
 * value the instant it fires (later than *due with notify_in = "business").
 * WAFA_NO_TIME when it will not fire as things stand (met, cancelled,
 * paused before reaching it, the rule does not apply). */
int64_t wafa_deadline_phase(const struct wafa_rule *rule, const struct wafa_track *tr, int phase,
                            int64_t *due);

/* The breach instant (for the `s` table), or WAFA_NO_TIME. */
int64_t wafa_deadline_breach(const struct wafa_rule *rule, const struct wafa_track *tr);

/* Every transition of the track in time order: started, paused, resumed,
 * met, cancelled, and each step (warn, breach, escalate) at the instant it
 * would fire, as if wafa ran throughout.  Returns the number written (at
 * most max). */
struct wafa_event_rec {
	int64_t at;  /* when it happens (a step: when it fires) */
	int64_t due; /* a step: when it fell due; else = at */
	enum wafa_event event;
	int phase; /* a step's phase, else -1 */
};
int wafa_deadline_timeline(const struct wafa_rule *rule, const struct wafa_track *tr,
                           const struct wafa_ticket *t, struct wafa_event_rec *out, int max);

/* Where the transitions a schedule finds go (the daemon's journal). */
struct wafa_journal_sink {
	void (*event)(void *arg, const struct wafa_ticket *t, const struct wafa_rule *rule,
	              int64_t instance, enum wafa_event ev, int64_t at, const char *detail);
	void *arg;
	int64_t now; /* transitions after it are not yet journaled */
	/* per rule (or NULL): tickets last updated before marks[rule] had their
	 * transitions journaled by an earlier run; they are taken as told */
	const int64_t *marks;
};

/* Recomputes ticket t's deadlines (removing its old ones from heap), skipping
 * what is marked done; with a sink, journals the transitions not yet told. */
WAFA_WUR int wafa_deadlines_schedule(struct wafa_rules *r, struct wafa_heap *h,
                                     struct wafa_ticket *t, const struct wafa_journal_sink *sink);
/* Journals the transitions of t not yet told, without scheduling. */
void wafa_deadlines_journal(struct wafa_rules *r, struct wafa_ticket *t,
                            const struct wafa_journal_sink *sink);
/* Removes all of t's deadlines from heap. */
void wafa_deadlines_unschedule(struct wafa_heap *h, struct wafa_ticket *t);

/* Marks/unmarks a (rule, phase, instance) of t as fired. */
WAFA_WUR int wafa_deadline_mark(struct wafa_ticket *t, int rule, int phase, int64_t instance,
                                bool pending);
void wafa_deadline_unmark(struct wafa_ticket *t, int rule, int phase, int64_t instance);

#endif
