/* `wafa run`: wires the adapter, ticket index, rules, deadline heap, outbox
 * and mailer onto one libuv loop, and stops cleanly on SIGTERM/SIGINT. */
#ifndef WAFA_DAEMON_H
#define WAFA_DAEMON_H

#include "base/config.h"

/* Runs until a signal or a fatal problem; returns a sysexits code. */
int wafa_daemon_run(struct wafa_config *cfg);

#endif
