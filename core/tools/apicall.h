/* `wafa api`: the request wafa would send to the helpdesk's API for one
 * ticket action, secrets masked; with send, sent once (libcurl, TLS
 * verified) and its outcome told. */
#ifndef WAFA_APICALL_H
#define WAFA_APICALL_H

#include <stdbool.h>
#include <stdio.h>

#include "base/config.h"

/* Returns a sysexits code: 0 built (and, with send, done); EX_DATAERR when
 * the action cannot go through this API (the dispatcher parks such a row);
 * EX_PROTOCOL when the helpdesk refused it; EX_TEMPFAIL when it could not
 * be reached or answered 408, 425, 429 or 5xx. */
int wafa_apicall_run(const struct wafa_config *cfg, long long ticket, const char *payload,
                     bool json, bool send, FILE *out, FILE *err);

#endif
