/* The journal: what happened to each SLA and promise instance (started,
 * paused, resumed, warn, breach, escalate, met, cancelled) and every status
 * change wafa saw, in wafa's schema (tables journal and status_log).
 * Reports are built on it; paused time survives restarts through it.
 * Rows are collected here as JSON and written in batches by the daemon;
 * nothing here knows Lua or the loop. */
#ifndef WAFA_JOURNAL_H
#define WAFA_JOURNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/* $1 a JSON array of events; duplicates are ignored. */
extern const char wafa_journal_events_sql[];
/* $1 a JSON array of status changes; duplicates are ignored. */
extern const char wafa_journal_changes_sql[];
/* Every status change: ticket_id, at (ms), old_status (or NULL), new_status,
 * paused_by (the rules a raw status or function paused, a JSON array, or
 * NULL for none), ordered by ticket and time. */
extern const char wafa_journal_load_sql[];

/* Each rule's mark: rule, through (ms). */
extern const char wafa_journal_marks_sql[];
/* $1 rule names (array literal), $2 ms: moves their marks forward. */
extern const char wafa_journal_set_marks_sql[];

struct wafa_journal {
	json_t *events, *changes;
};

WAFA_WUR int wafa_journal_init(struct wafa_journal *j);
void wafa_journal_free(struct wafa_journal *j);

/* Adds a transition.  step: a phase name, or NULL; fired_at: ms or
 * WAFA_NO_TIME; detail may be NULL.  Returns 0 or -ENOMEM. */
int wafa_journal_event(struct wafa_journal *j, int64_t ticket_id, const char *rule,
                       const char *kind, int64_t instance, const char *event, const char *step,
                       int64_t at, int64_t fired_at, const char *detail);
/* Adds a status change; from may be NULL (first seen).  inferred: seen only
 * at start-up or after a reconnect, so dated by the ticket's updated_at.
 * raw: the helpdesk's own status (may be NULL); paused_by: the npaused
 * rules whose raw or function pause holds from then on. */
int wafa_journal_change(struct wafa_journal *j, int64_t ticket_id, int64_t at, const char *from,
                        const char *to, bool inferred, const char *raw,
                        const char *const *paused_by, int npaused);
/* The bits of a paused_by column as read (a JSON array of rule names, or
 * NULL), by bit_of (wafa_rules_pause_bit); names without a bit are left out. */
uint32_t wafa_journal_paused_bits(const char *json, int (*bit_of)(const char *name));

size_t wafa_journal_pending(const struct wafa_journal *j);
/* The collected events (or changes) as JSON text to pass as $1, emptying
 * the collection; NULL when there are none (or on ENOMEM).  free() it. */
char *wafa_journal_take_events(struct wafa_journal *j);
char *wafa_journal_take_changes(struct wafa_journal *j);

#endif
