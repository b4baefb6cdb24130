/* wafa outbox: what is parked in the outbox (failed mail, and mail held
 * back by the contact policy or the go-live guard), and queuing it again
 * once its template or address is fixed.  Blocking libpq: a CLI command. */
#ifndef WAFA_PARKED_H
#define WAFA_PARKED_H

#include <stdint.h>
#include <stdio.h>

#include "base/config.h"

/* Which mail: all NULL / 0 is every one the command looks at. */
struct wafa_parked_filter {
	const char *key;    /* one mail, by its outbox key */
	const char *rule;   /* a rule's */
	const char *status; /* list: failed, skipped or queued; NULL: failed and skipped */
	int64_t since;      /* failed at or after (Unix ms); 0: any time */
};

/* Prints the parked mail, one line each: key, status, attempts, when, to,
 * why.  Returns a sysexits code. */
int wafa_parked_list(const struct wafa_config *cfg, const struct wafa_parked_filter *f,
                     FILE *out, FILE *report);

/* Queues failed mail again (by key also a skipped one), due now with its
 * attempts reset; the daemon sends it at its next look at the outbox.
 * Prints each key queued.  Returns a sysexits code (65 when nothing matched). */
int wafa_parked_retry(const struct wafa_config *cfg, const struct wafa_parked_filter *f,
                      FILE *out, FILE *report);

#endif
