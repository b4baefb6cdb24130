/* The web listener for the customers' clicks (libmicrohttpd, driven from
 * the daemon's loop: no threads of its own, so database writes go through
 * wafa's asynchronous connection like everything else).  Off when [web]
 * listen is empty.  Routes, under whatever path the reverse proxy keeps:
 *   GET  .../s/TOKEN   a survey score: recorded (a repeat updates it), and a
 *                      thank-you page in the customer's language with an
 *                      optional comment box
 *   POST .../s/TOKEN   the comment (form field "comment")
 *   GET  .../u/TOKEN   unsubscribe: a page asking to confirm (records nothing)
 *   POST .../u/TOKEN   unsubscribe: recorded (RFC 8058 one-click posts
 *                      "List-Unsubscribe=One-Click" here too)
 *   GET  .../health    200 "ok"
 *   GET  .../metrics   Prometheus text (core/web/metrics.c): tickets, deadlines,
 *                      firings, mails by outcome, the oldest queued mail,
 *                      breach-to-queue latency, rule errors (keep it off the
 *                      public side of the reverse proxy)
 * A forged, altered or expired token gets a polite error page (4xx) and
 * records nothing. */
#ifndef WAFA_WEB_H
#define WAFA_WEB_H

#include <uv.h>

#include "base/config.h"
#include "base/error.h"
#include "store/pg.h"

struct wafa_web;

/* Starts listening on cfg->web_listen ("HOST:PORT"); pg is the daemon's work
 * connection (not owned).  Returns 0, or a negative errno with the reason
 * logged (a bad address, the port taken, the key file unreadable). */
WAFA_WUR int wafa_web_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                           struct wafa_web **out);
/* answered(arg) is called after each survey answer is stored (the daemon
 * acts on it: core/fire/answer.c). */
void wafa_web_on_answer(struct wafa_web *w, void (*answered)(void *arg), void *arg);

/* Stops; done(arg) is called once every handle is closed. */
void wafa_web_close(struct wafa_web *w, void (*done)(void *arg), void *arg);

/* The link for a survey score or an unsubscribe, for a mail (outbox id):
 * base_url + "/s/" or "/u/" + token, valid for [web] link_ttl.  email is
 * not put in the link (the listener reads the mail's address from the
 * outbox); it may be NULL.  Returns a malloc'ed string, or NULL (no [web],
 * no key, out of memory). */
char *wafa_web_link(const struct wafa_config *cfg, const unsigned char *key, size_t keylen,
                    char kind, int64_t mail_id, const char *email, int score);

#endif
