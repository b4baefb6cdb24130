/* One PostgreSQL connection driven by libuv (PgBouncer's sequence):
 * PQconnectStart/PQconnectPoll on uv_poll, queries queued and sent one at a
 * time with parameters only, LISTEN notifications, and reconnection with
 * backoff.  After every (re)connection the `connected` hook runs, so its
 * owner can re-LISTEN and re-read what it may have missed. */
#ifndef WAFA_PG_H
#define WAFA_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

#include "base/error.h"

struct wafa_pg;

/* res is NULL when the connection was lost before the query finished.  pg
 * clears res after the callback returns: copy what you keep. */
typedef void (*wafa_pg_result_cb)(PGresult *res, void *arg);

struct wafa_pg_hooks {
	void (*connected)(struct wafa_pg *pg, void *arg);
	void (*notify)(struct wafa_pg *pg, const char *channel, const char *payload, void *arg);
	void *arg;
	/* server settings for this session ("-c name=value ..."), after
	 * wafa's own; NULL for none */
	const char *options;
	/* the connection was lost (on the loop's next turn, before its
	 * queries fail); NULL for none */
	void (*lost)(struct wafa_pg *pg, void *arg);
};

/* Starts connecting; the hooks run on the loop.  name is for logs. */
WAFA_WUR int wafa_pg_open(uv_loop_t *loop, const char *dsn, const char *name,
                          const struct wafa_pg_hooks *hooks, struct wafa_pg **out);
/* Queues sql with params ($1..$n, text format).  Returns 0 and later calls cb
 * exactly once, never from inside this call (a connection found dead while
 * sending fails its queries on the loop's next turn); or -ENOTCONN /
 * -ENOMEM and never calls cb.  A callback may queue further queries but
 * must not close pg. */
WAFA_WUR int wafa_pg_query(struct wafa_pg *pg, const char *sql, int nparams,
                           const char *const *params, wafa_pg_result_cb cb, void *arg);
/* Like wafa_pg_query, with the rows streamed (libpq's single-row mode):
 * row gets each row as a one-row result (cleared after it returns), then cb
 * the end (a result of no rows, an error, or NULL), so a large result never
 * sits in memory whole. */
WAFA_WUR int wafa_pg_query_rows(struct wafa_pg *pg, const char *sql, int nparams,
                                const char *const *params, wafa_pg_result_cb row,
                                wafa_pg_result_cb cb, void *arg);
/* Like wafa_pg_query, with parameter i in PostgreSQL's binary format where
 * formats[i] is 1 (lengths[i] bytes; an array saves the server parsing its
 * text, and wafa quoting it), text where it is 0. */
WAFA_WUR int wafa_pg_query_binary(struct wafa_pg *pg, const char *sql, int nparams,
                                  const char *const *params, const int *lengths,
                                  const int *formats, wafa_pg_result_cb cb, void *arg);
/* Reads what the server has sent so far into libpq's buffer, nothing more:
 * called during long work on the loop, so a server sending the next result
 * is not held up by a full socket meanwhile. */
void wafa_pg_consume(struct wafa_pg *pg);
bool wafa_pg_connected(const struct wafa_pg *pg);
/* The server process of the session, 0 when not connected. */
int wafa_pg_backend_pid(const struct wafa_pg *pg);
/* Number of queries queued or running. */
unsigned wafa_pg_pending(const struct wafa_pg *pg);
/* Fails queued queries (cb with NULL), closes the connection and frees pg
 * once its handles are closed. */
void wafa_pg_close(struct wafa_pg *pg);

/* Quotes a possibly schema-qualified name ("public.tickets") as SQL
 * identifiers ("public"."tickets").  Returns a malloc'd string or NULL. */
char *wafa_pg_quote_ident(const char *dotted);
/* Quotes one name whole, dots and all (a LISTEN channel "wafa.tickets"). */
char *wafa_pg_quote_name(const char *name);

/* Text of a failed result or connection, one line, for logs. */
const char *wafa_pg_result_error(const PGresult *res);

#endif
