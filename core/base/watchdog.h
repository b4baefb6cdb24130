/* systemd's watchdog (WatchdogSec= in wafa.service): the loop pings
 * NOTIFY_SOCKET with WATCHDOG=1 at half the interval systemd gives in
 * WATCHDOG_USEC, so a loop that hangs stops pinging and systemd restarts
 * wafa (SIGABRT).  What the rules host was running is noted, so that the
 * abort logs which rule and ticket hung the loop.  Without NOTIFY_SOCKET
 * (not under systemd) it does nothing. */
#ifndef WAFA_WATCHDOG_H
#define WAFA_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/error.h"

struct wafa_watchdog;

/* Sends READY=1 and, when systemd asks for pings (WATCHDOG_USEC, for this
 * pid), starts them on loop.  *out is NULL when there is nothing to do.
 * Returns 0 or a negative errno. */
WAFA_WUR int wafa_watchdog_open(uv_loop_t *loop, struct wafa_watchdog **out);

/* Sends STOPPING=1 and closes the timer (freed in its close callback). */
void wafa_watchdog_close(struct wafa_watchdog *w);

/* Notes the rule (a string that outlives the call) and ticket (or -1) the
 * rules host is about to run: cheap, for the abort's log line. */
void wafa_watchdog_doing(const char *rule, int64_t ticket);

/* Is this rule on this ticket one that hung the loop at the last two
 * watchdog aborts ($STATE_DIRECTORY/watchdog-hangs)?  Then it is not run. */
bool wafa_watchdog_skip(const char *rule, int64_t ticket);

/* Sends one notification ("READY=1", "WATCHDOG=1") to NOTIFY_SOCKET.
 * Returns 0, -ENOENT (no NOTIFY_SOCKET) or a negative errno. */
int wafa_watchdog_notify(const char *what);

#endif
