/* The HTTP dispatcher: claims due webhook and ticket-action rows of the
 * outbox (channel 'webhook' / 'ticket'; the mailer claims 'mail') with the
 * mailer's lease and leader fencing, turns each into a request (a webhook's
 * JSON in its [webhook NAME] format, signed with its secret_file; a ticket
 * action through wafa_api_build_keyed; a note row that may have been sent
 * before, attempts > 1, looked up first with wafa_api_build_lookup where
 * the helpdesk can tell), sends it on the HTTP pool's threads and
 * records the outcome: sent, retried with doubling backoff ([http]
 * retry_initial .. retry_max), or parked as failed with the reason. */
#ifndef WAFA_HTTP_DISPATCH_H
#define WAFA_HTTP_DISPATCH_H

#include <stdio.h>
#include <uv.h>

#include "base/config.h"
#include "base/error.h"
#include "store/pg.h"

struct wafa_dispatch;

/* Opens paused, on pg (the mail session: its claims and records). */
WAFA_WUR int wafa_dispatch_open(uv_loop_t *loop, const struct wafa_config *cfg,
                                struct wafa_pg *pg, struct wafa_dispatch **out);
void wafa_dispatch_start(struct wafa_dispatch *d);
void wafa_dispatch_pause(struct wafa_dispatch *d);
/* As wafa_mailer_set_leader: claims only while work_pid holds the lock. */
void wafa_dispatch_set_leader(struct wafa_dispatch *d, int work_pid, const char *schema);
/* Not sure it leads: pauses and claims nothing more (requests in flight
 * finish and are recorded). */
void wafa_dispatch_fence(struct wafa_dispatch *d);
void wafa_dispatch_kick(struct wafa_dispatch *d);
/* The ids in flight as "1,2" (no braces; "" for none), malloc'ed, or NULL. */
char *wafa_dispatch_held(const struct wafa_dispatch *d);
/* Stops: requests in flight are cut short and, like those not begun,
 * recorded due again at once; done(arg) runs once the pool is closed, and
 * d is freed. */
void wafa_dispatch_stop(struct wafa_dispatch *d, void (*done)(void *arg), void *arg);

/* For `wafa check`: each webhook a rule file in rules_dir names literally
 * (webhook = "NAME") must be a [webhook NAME] of cfg.  Reports each that
 * is not as "path:line: ..." with the fix; returns their number. */
int wafa_dispatch_check_rules(const struct wafa_config *cfg, const char *rules_dir, FILE *report);

/* The body a webhook row sends, in the webhook's format: payload is the
 * row's {"text": ..., "fields": {...}}.  Returns a malloc'ed JSON text or
 * NULL (no memory, or payload not an object). */
char *wafa_dispatch_webhook_body(int format, const char *payload, const char *key,
                                 long long ticket_id, const char *rule, const char *phase);
/* "sha256=HEX" of HMAC-SHA256(key, "TIMESTAMP.BODY") into out (72 bytes). */
void wafa_dispatch_sign(const unsigned char *key, size_t keylen, const char *timestamp,
                        const char *body, char out[72]);

#endif
