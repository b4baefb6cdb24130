/* `wafa api`: the request wafa would send to the helpdesk's API for one
 * ticket action, secrets masked; with send, sent once (libcurl, TLS
 * verified) and its outcome told. */
#ifndef WAFA_APICALL_H
#define WAFA_APICALL_H

#include <stdbool.h>
#include <stdio.h>

#include "base/config.h"

/* key (or NULL): the outbox row's key, which marks a note; lookup: the
 * request that looks for that note instead (wafa_api_build_lookup).
 * Returns a sysexits code: 0 built (and, with send, done; a lookup: found);
 * 1 a lookup sent and not found; EX_DATAERR when the action cannot go
 * through this API (the dispatcher parks such a row) or cannot be looked
 * up; EX_PROTOCOL when the helpdesk refused it; EX_TEMPFAIL when it could
 * not be reached or answered 408, 425, 429 or 5xx. */
int wafa_apicall_run(const struct wafa_config *cfg, long long ticket, const char *key,
                     const char *payload, bool lookup, bool json, bool send, FILE *out,
                     FILE *err);

#endif
