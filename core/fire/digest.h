/* The mailed service report: each report "name" { every, to, locale, by }
 * of the rules is built (report.c) for every period that has ended and
 * queued in the outbox under report/NAME/START, so it is sent once, never
 * lost and never twice, whichever instance queues it.  Only the leader
 * looks, once a minute.  Periods are whole `every` lengths counted from
 * Monday 1970-01-05 00:00 UTC (so "7d" runs Monday to Monday).  The report
 * is built on a worker thread (libuv's pool), one at a time, on a
 * connection of its own and with the rules loaded afresh, so the loop never
 * waits for it (a report over a busy week took 1.7 s, and a locked table
 * as long as the lock). */
#ifndef WAFA_DIGEST_H
#define WAFA_DIGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/config.h"
#include "base/error.h"
#include "lua/rules.h"

struct wafa_digest;

/* Starts looking first_ms from now, then every minute, while *leader.
 * queued(arg) is called when a report was queued (to kick the mailer). */
WAFA_WUR int wafa_digest_open(uv_loop_t *loop, const struct wafa_config *cfg,
                              const bool *leader, uint64_t first_ms, void (*queued)(void *arg),
                              void *arg, struct wafa_digest **out);
/* The rules to use from now on (at start and after a reload). */
void wafa_digest_set_rules(struct wafa_digest *g, struct wafa_rules *r);
/* Stops; frees itself once its timer is closed and a report being built is
 * done (its query is cancelled). */
void wafa_digest_close(struct wafa_digest *g);

/* The start (ms) of the last period of every_ms that ended at or before now. */
int64_t wafa_digest_period(int64_t now_ms, int64_t every_ms);

#endif
