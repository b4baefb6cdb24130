/* The normalized ticket (DESIGN.md) as wafa holds it in memory. */
#ifndef WAFA_TICKET_H
#define WAFA_TICKET_H

#include <libpq-fe.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time/clock.h"
#include "base/error.h"

enum wafa_ticket_str {
	WAFA_T_REF, WAFA_T_SUBJECT, WAFA_T_STATUS, WAFA_T_RAW_STATUS, WAFA_T_PRIORITY, WAFA_T_QUEUE,
	WAFA_T_CUSTOMER_EMAIL, WAFA_T_CUSTOMER_NAME, WAFA_T_CUSTOMER_LOCALE, WAFA_T_CUSTOMER_TZ,
	WAFA_T_OWNER_EMAIL, WAFA_T_OWNER_NAME, WAFA_T_EXTRA,
	/* optional columns (added after the first release): NULL when the view lacks them */
	WAFA_T_LAST_AGENT_BODY, WAFA_T_THREAD_MESSAGE_ID,
	WAFA_T_NSTR
};
#define WAFA_T_FIRST_OPTIONAL WAFA_T_LAST_AGENT_BODY

/* The normalized statuses. */
enum wafa_status { WAFA_S_NEW, WAFA_S_OPEN, WAFA_S_PENDING, WAFA_S_SOLVED, WAFA_S_CLOSED,
	           WAFA_S_N, WAFA_S_UNKNOWN = 255 };
extern const char *const wafa_status_names[WAFA_S_N];
int wafa_status_index(const char *name); /* -1 if not a status */

/* A status change wafa saw (its journal, wafa.status_log), oldest first. */
struct wafa_status_change {
	int64_t at;           /* ms */
	unsigned char from, to; /* enum wafa_status; from may be WAFA_S_UNKNOWN */
	/* from then on, bit b: the rule holding pause bit b (wafa_rules_pause_name)
	 * said paused by a raw status or a function of the ticket; in the padding */
	uint32_t paused;
};

/* What the journal has been told of one (ticket, rule), so a recomputation
 * journals only what is new. */
struct wafa_jstate {
	int64_t instance; /* WAFA_NO_TIME: nothing journaled */
	unsigned short nevents;
	unsigned char closed; /* its last event was met or cancelled */
};

enum wafa_ticket_time {
	WAFA_T_CREATED_AT, WAFA_T_FIRST_REPLY_AT, WAFA_T_LAST_CUSTOMER_AT, WAFA_T_LAST_AGENT_AT,
	WAFA_T_SOLVED_AT, WAFA_T_DUE_AT, WAFA_T_UPDATED_AT,
	WAFA_T_NTIME
};

/* A phase already fired (or firing) for this ticket, so a recomputation
 * does not schedule it again. */
struct wafa_done {
	int rule;
	int phase;
	int64_t instance;
	bool pending; /* its firing is still in flight */
};

struct wafa_deadline;

/* One is held per watched ticket (10M in one process): fields ordered by
 * size so the struct has no holes, the text apart and dropped once the
 * ticket is scheduled. */
struct wafa_ticket {
	int64_t id;
	/* the string columns: WAFA_T_NSTR pointers (NULL where the column is
	 * NULL), one allocation with their text behind them (wafa_ticket_alloc).
	 * NULL once stripped (wafa_ticket_strip): read them through
	 * wafa_ticket_str, which still knows status and a known priority */
	char **str;
	int64_t time[WAFA_T_NTIME]; /* ms since the epoch, or WAFA_NO_TIME */
	uint64_t hash;    /* of the string columns as read (wafa_ticket_from_row) */
	int64_t retry_at; /* do not fire before this (after a failed firing) */
	/* scheduling state, owned by the rules host */
	struct wafa_deadline *deadlines; /* ndeadlines in the heap; the heap points here */
	struct wafa_done *done;
	/* each rule's when(t) as last computed, while the data is unchanged:
	 * 0 not known, 1 false, 2 true; nwhen entries (the rules host's) */
	unsigned char *when;
	/* values of target/at functions while the data is unchanged (rules host) */
	int64_t *vals;
	/* status changes seen, oldest first (deadline engine, journal) */
	struct wafa_status_change *hist;
	/* per rule: what has been journaled (nj entries) */
	struct wafa_jstate *js;
	uint32_t ndone, done_cap;
	unsigned mark; /* snapshot generation that last saw it */
	unsigned nhist, hist_cap;
	/* per (rule, phase) or per rule: a few each */
	uint16_t ndeadlines, deadlines_cap;
	uint16_t nwhen, nvals, nj;
	/* status and priority share a byte, so that overruns fits the struct's
	 * last word (a ninth byte there made every ticket 16 B bigger) */
	unsigned char status : 4;   /* enum wafa_status, as read (WAFA_S_OPEN if unknown) */
	unsigned char priority : 4; /* index in wafa_priority_names, or WAFA_PRIO_N: another */
	unsigned char overruns;     /* firings of it in a row stopped by the rules' budget */
};

enum { WAFA_PRIO_N = 4 };
extern const char *const wafa_priority_names[WAFA_PRIO_N]; /* low normal high urgent */

/* A zeroed ticket with room for the string columns and `text` bytes of
 * text after them (returned in *text if not NULL); times unset.  NULL when
 * out of memory.  wafa_ticket_free frees both. */
struct wafa_ticket *wafa_ticket_alloc(size_t text, char **textp);
/* A string column (NULL when NULL or let go): status and a known priority
 * outlive wafa_ticket_strip. */
const char *wafa_ticket_str(const struct wafa_ticket *t, int col);

/* The ticket's status (enum wafa_status). */
int wafa_ticket_status(const struct wafa_ticket *t);
/* Appends a status change, keeping the list in time order (at is raised to
 * the last change's time if earlier).  Returns 0 or -ENOMEM. */
WAFA_WUR int wafa_ticket_add_change(struct wafa_ticket *t, int64_t at, int from, int to);
/* The same with the rules' raw and function pauses from then on (bit b:
 * wafa_rules_pause_name(b)); wafa_ticket_add_change keeps the last ones. */
WAFA_WUR int wafa_ticket_add_state(struct wafa_ticket *t, int64_t at, int from, int to,
                                   uint32_t paused);
/* The raw and function pauses in force after the last change (0 without one). */
uint32_t wafa_ticket_paused(const struct wafa_ticket *t);

/* Names of the string columns, indexed by enum wafa_ticket_str. */
extern const char *const wafa_ticket_str_names[WAFA_T_NSTR];

/* The select list the adapter asks of a ticket view, in the order
 * wafa_ticket_from_row reads: timestamps come as integer milliseconds.
 * has_optional(name, arg) says whether the view has an optional column; a
 * missing one is selected as NULL.  Returns a malloc'ed string or NULL. */
#define WAFA_TIME_BAD (INT64_MIN + 1) /* a time the view gave that wafa cannot hold */
char *wafa_ticket_columns_sql(int (*has_optional)(const char *name, void *arg), void *arg);

/* Names of the timestamp columns, indexed by enum wafa_ticket_time. */
extern const char *const wafa_ticket_time_names[WAFA_T_NTIME];
int wafa_ticket_time_index(const char *name);

/* Builds a ticket from row of res.  Returns 0, -ENOMEM, or -EINVAL with a
 * reason in why for a malformed row (which the caller logs and skips).  On
 * 0, why is NULL, or says which time was not one wafa can hold (infinity,
 * a year past 9999) and was read as unset; the caller logs it. */
int wafa_ticket_from_row(const PGresult *res, int row, struct wafa_ticket **out, const char **why);
/* The id of row of res (its first column), without reading the rest.
 * Returns 0 or -EINVAL (NULL, or not an integer). */
int wafa_ticket_row_id(const PGresult *res, int row, int64_t *id);
/* Which optional columns (bit i: WAFA_T_FIRST_OPTIONAL + i) are part of a
 * ticket's data as its hash and wafa_ticket_replace compare it: those the
 * rules read when they schedule (wafa_rules_columns); all until set.  A
 * column left out is not read for scheduling, so a firing's read of it is
 * no change. */
void wafa_ticket_scheduled_columns(unsigned optional);
/* Moves the data columns of src into dst (keeping dst's scheduling state)
 * and frees src.  If the data changed, forgets what when(t) said. */
void wafa_ticket_replace(struct wafa_ticket *dst, struct wafa_ticket *src);
void wafa_ticket_free(struct wafa_ticket *t);
/* Lets the ticket's text go once it is scheduled: what when(t) and the
 * target and at functions said stays cached, firing re-reads the row, and
 * a row read again is told from this one by its hash.  Keeps status and a
 * known priority (as static names) for the deadline engine. */
void wafa_ticket_strip(struct wafa_ticket *t);

/* Pushes a fresh Lua table with the ticket's columns: strings, timestamps
 * as integer Unix seconds (nil when NULL), and extra (jsonb) as a table. */
void wafa_ticket_push(lua_State *L, const struct wafa_ticket *t);

#endif
