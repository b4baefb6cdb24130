/* Ticket actions through the helpdesk's own API (never its tables).
 *
 * A rule's ticket action (raise the priority, hand to an owner, add a note,
 * tag, set the status) is queued as outbox rows of channel 'ticket', one row
 * per API call, each with a JSON payload.  When such a row is due, the HTTP
 * dispatcher (core/http/) asks wafa_api_build_keyed for the request and sends it
 * on a worker thread.
 *
 * The payload is a JSON object {"op": OP, ...} with OP one of
 *   "fields"  {"priority": "urgent"|number, "owner": "login or email", "status": "solved"}
 *   "note"    {"text": "...", "internal": true}
 *   "tags"    {"add": ["breached"]}
 * each key present only when the rule set it.  The ticket is the row's
 * ticket_id (the helpdesk's own id). */
#ifndef WAFA_API_H
#define WAFA_API_H

#include "base/config.h"
#include "base/error.h"
#include "http/request.h"

/* Fills *out for one ticket-action row.  Returns 0; or -EINVAL when the
 * action cannot be done through this adapter's API (no [api] section, an
 * adapter without an API, an op or a value the API lacks), with *why a
 * malloc'ed one-line reason: the row is parked with it.  Reads the token
 * file each call (a rotated token needs no reload). */
WAFA_WUR int wafa_api_build(const struct wafa_config *cfg, long long ticket_id,
                            const char *payload_json, struct wafa_http_request *out, char **why);

/* As wafa_api_build, with the row's key (NULL: none): a note then carries
 * it (RT: as the comment's subject, "wafa KEY"), so that
 * wafa_api_build_lookup can find it. */
WAFA_WUR int wafa_api_build_keyed(const struct wafa_config *cfg, long long ticket_id,
                                  const char *key, const char *payload_json,
                                  struct wafa_http_request *out, char **why);

/* A note is the one ticket action that is not idempotent: sent again, it
 * is a second note, while fields and tags sent again change nothing.  Before
 * resending a note row (attempts > 1: a wafa that claimed it may have died
 * with the request in flight, or a timeout or 5xx may have come after the
 * helpdesk made it), the dispatcher sends this lookup first: out->found
 * judges its 2xx answer; found: record the row sent, else send it.
 * Returns 0; -ENOTSUP (with why) when there is nothing to look up (not a
 * note; no key) or this API cannot tell (only RT can so far: the others
 * resend, at least once); or as wafa_api_build. */
WAFA_WUR int wafa_api_build_lookup(const struct wafa_config *cfg, long long ticket_id,
                                   const char *key, const char *payload_json,
                                   struct wafa_http_request *out, char **why);

/* For `wafa check`: NULL when the configured adapter can act through its
 * API, else a static sentence saying why not (e.g. "the generic adapter has
 * no API: ticket actions are parked"). */
const char *wafa_api_missing(const struct wafa_config *cfg);

#endif
