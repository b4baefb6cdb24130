/* The HTTP pool: worker threads that send requests with libcurl, off the
 * libuv loop (a request blocks its thread for up to its timeout), as the
 * mailer's SMTP sessions do.  Each answer comes back on the loop thread.
 *
 * TLS is verified (peer and host name) against the system's CAs or
 * [http] ca_file; redirects are never followed (a 3xx is a permanent
 * failure naming where it pointed); only http:// and https:// are spoken. */
#ifndef WAFA_HTTP_POOL_H
#define WAFA_HTTP_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/config.h"
#include "base/error.h"
#include "http/request.h"

struct wafa_http_pool;

/* Called on the loop thread with the outcome of one request. */
typedef void (*wafa_http_done_cb)(const struct wafa_http_outcome *o, void *arg);

/* Starts cfg->http_sessions threads.  Returns 0 or a negative errno. */
WAFA_WUR int wafa_http_pool_open(uv_loop_t *loop, const struct wafa_config *cfg,
                                 struct wafa_http_pool **out);
/* Queues req (the pool takes it and frees it) with its timeout in ms (0:
 * [http] timeout); done runs once, on the loop, never from inside this
 * call.  Returns 0, or -ENOMEM / -ESHUTDOWN without calling done (req is
 * freed either way). */
WAFA_WUR int wafa_http_pool_send(struct wafa_http_pool *p, struct wafa_http_request *req,
                                 int64_t timeout_ms, wafa_http_done_cb done, void *arg);
/* Requests queued or in flight. */
size_t wafa_http_pool_busy(const struct wafa_http_pool *p);
/* Stops: queued requests are answered TEMPFAIL "not sent" at once, those
 * in flight are cut short (TEMPFAIL: the server may have had them); then
 * done(arg) runs on the loop and p is freed. */
void wafa_http_pool_close(struct wafa_http_pool *p, void (*done)(void *arg), void *arg);

/* Sends req on the calling thread (the pool's workers; tests).  quit, when
 * not NULL, cuts the transfer short once it is set. */
void wafa_http_perform(const struct wafa_config *cfg, const struct wafa_http_request *req,
                       int64_t timeout_ms, const volatile int *quit,
                       struct wafa_http_outcome *out);

#endif
