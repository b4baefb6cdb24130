/* The normalized ticket (DESIGN.md) as wafa holds it in memory. */
#ifndef WAFA_TICKET_H
#define WAFA_TICKET_H

#include <libpq-fe.h>
#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"


enum wafa_ticket_str {
	WAFA_T_REF, WAFA_T_SUBJECT, WAFA_T_STATUS, WAFA_T_RAW_STATUS, WAFA_T_PRIORITY, WAFA_T_QUEUE,
	WAFA_T_CUSTOMER_EMAIL, WAFA_T_CUSTOMER_NAME, WAFA_T_CUSTOMER_LOCALE, WAFA_T_CUSTOMER_TZ,
	WAFA_T_OWNER_EMAIL, WAFA_T_OWNER_NAME, WAFA_T_EXTRA,
	WAFA_T_NSTR
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

struct wafa_ticket {
	int64_t id;
	char *str[WAFA_T_NSTR];   /* NULL where the column is NULL; one allocation, `strings` */
	int64_t time[WAFA_T_NTIME]; /* ms since the epoch, or WAFA_NO_TIME */
	char *strings;
	/* scheduling state, owned by the rules host */
	struct wafa_deadline **deadlines;
	size_t ndeadlines, deadlines_cap;
	struct wafa_done *done;
	size_t ndone, done_cap;
	int64_t retry_at; /* do not fire before this (after a failed firing) */
	unsigned mark;    /* snapshot generation that last saw it */
	/* each rule's when(t) as last computed, while the data is unchanged:
	 * 0 not known, 1 false, 2 true; nwhen entries (the rules host's) */
	unsigned char *when;
	size_t nwhen;
};

/* The select list the adapter asks of a ticket view, in the order
 * wafa_ticket_from_row reads: timestamps come as integer milliseconds. */
extern const char wafa_ticket_columns_sql[];

/* Names of the timestamp columns, indexed by enum wafa_ticket_time. */
extern const char *const wafa_ticket_time_names[WAFA_T_NTIME];
int wafa_ticket_time_index(const char *name);

/* Builds a ticket from row of res.  Returns 0, -ENOMEM, or -EINVAL with a
 * reason in why for a malformed row (which the caller logs and skips). */
int wafa_ticket_from_row(const PGresult *res, int row, struct wafa_ticket **out, const char **why);
/* Moves the data columns of src into dst (keeping dst's scheduling state)
 * and frees src.  If the data changed, forgets what when(t) said. */
void wafa_ticket_replace(struct wafa_ticket *dst, struct wafa_ticket *src);
void wafa_ticket_free(struct wafa_ticket *t);

/* Pushes a fresh Lua table with the ticket's columns: strings, and
 * timestamps as integer Unix seconds (nil when NULL). */
void wafa_ticket_push(lua_State *L, const struct wafa_ticket *t);

#endif
