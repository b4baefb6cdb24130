#include "store/pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/duration.h"
#include "base/log.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 30000
#define CONNECT_TIMEOUT_MS 10000

struct query {
	struct query *next;
	char *sql;
	int nparams;
	char **params;
	int *lengths, *formats; /* NULL: every parameter is text */
	wafa_pg_result_cb cb;
	wafa_pg_result_cb row; /* single-row mode: each row, then cb */
	void *arg;
};

enum state { S_WAIT, S_CONNECTING, S_READY, S_CLOSING };

struct wafa_pg {
	uv_loop_t *loop;
	char *dsn;
	char *name;
	char app[64];
	char options[256]; /* wafa's own server settings, then the hooks' */
	struct wafa_pg_hooks hooks;
	enum state state;
	PGconn *conn;
	uv_poll_t *poll; /* NULL when no socket is watched */
	int poll_fd;
	ino_t poll_ino;
	int poll_events;
	uv_timer_t timer; /* reconnect backoff and connect timeout */
	/* the queries of a lost connection, failed (cb with NULL) on the
	 * loop's next turn: never inside wafa_pg_query, whose caller marks its
	 * query as out only once the call returns 0 */
	uv_timer_t fail_timer;
	struct query *failed, **failed_tail;
	bool was_lost; /* the lost hook runs with them */
	unsigned backoff_ms;
	struct query *head, *tail; /* head is running when busy */
	bool busy;
	bool flushing;
	PGresult *last;
	unsigned handles; /* open libuv handles: pg is freed at zero */
	unsigned pending;
	bool connected_once; /* a failure after it is a lost connection */
};

/* Whether "cannot connect" was said: once for all of wafa's connections
 * (they share the dsn), until one connects; then the backoff is quiet. */
static bool said_cannot_connect;

static void on_poll(uv_poll_t *poll, int status, int events);
static void lost(struct wafa_pg *pg, const char *why);
static void send_next(struct wafa_pg *pg);

static void query_free(struct query *q)
{
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->lengths);
	free(q->formats);
	free(q->sql);
	free(q);
}

static void maybe_free(struct wafa_pg *pg)
{
	if (pg->state != S_CLOSING || pg->handles > 0)
		return;
	free(pg->dsn);
	free(pg->name);
	free(pg);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct wafa_pg *pg = h->data;

	if (h != (uv_handle_t *)&pg->timer && h != (uv_handle_t *)&pg->fail_timer)
		free(h);
	pg->handles--;
	maybe_free(pg);
}

static void unwatch(struct wafa_pg *pg)
{
	if (!pg->poll)
		return;
	uv_close((uv_handle_t *)pg->poll, on_handle_closed);
	pg->poll = NULL;
	pg->poll_fd = -1;
}

/* Watches libpq's socket for events; re-reads PQsocket() each time because
 * libpq may replace the socket during connection (even at the same fd). */
static int watch(struct wafa_pg *pg, int events)
{
	int fd = PQsocket(pg->conn);
	struct stat st;
	int err;

	if (fd < 0)
		return -EBADF;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (pg->poll && (pg->poll_fd != fd || pg->poll_ino != st.st_ino))
		unwatch(pg);
	if (!pg->poll) {
		pg->poll = malloc(sizeof(*pg->poll));
		if (!pg->poll)
			return -ENOMEM;
		err = uv_poll_init(pg->loop, pg->poll, fd);
		if (err) {
			free(pg->poll);
			pg->poll = NULL;
			return err;
		}
		pg->poll->data = pg;
		pg->handles++;
		pg->poll_fd = fd;
		pg->poll_ino = st.st_ino;
		pg->poll_events = 0;
	}
	if (pg->poll_events != events) {
		err = uv_poll_start(pg->poll, events, on_poll);
		if (err)
			return err;
		pg->poll_events = events;
	}
	return 0;
}

static void on_notice(void *arg, const char *message)
{
	struct wafa_pg *pg = arg;
	size_t n = strlen(message);

	while (n > 0 && message[n - 1] == '\n')
		n--;
	wafa_log(WAFA_INFO, "pg", "%s: server says: %.*s", pg->name, (int)n, message);
}

static void on_timer(uv_timer_t *t);
static void read_results(struct wafa_pg *pg);

static void schedule_reconnect(struct wafa_pg *pg)
{
	pg->state = S_WAIT;
	char in[32];

	uv_timer_start(&pg->timer, on_timer, pg->backoff_ms, 0);
	wafa_log(pg->connected_once ? WAFA_INFO : WAFA_DEBUG, "pg", "%s: reconnecting in %s",
	         pg->name, wafa_duration_format(pg->backoff_ms, in, sizeof(in)));
	pg->backoff_ms = pg->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : pg->backoff_ms * 2;
}

static void connect_start(struct wafa_pg *pg)
{
	/* fallback_application_name names wafa's sessions in pg_stat_activity
	 * unless the DSN names them itself.  synchronous_commit is on for wafa's
	 * own sessions (a server set to off can lose, in a crash, a commit wafa
	 * has acted on: a firing it believes recorded); options before dbname,
	 * so a DSN's own options still win. */
	const char *keys[] = { "options", "dbname", "fallback_application_name", NULL };
	const char *values[] = { pg->options, pg->dsn, pg->app, NULL };

	pg->conn = PQconnectStartParams(keys, values, 1);
	if (!pg->conn || PQstatus(pg->conn) == CONNECTION_BAD) {
		lost(pg, pg->conn ? PQerrorMessage(pg->conn) : "out of memory");
		return;
	}
	PQsetNoticeProcessor(pg->conn, on_notice, pg);
	pg->state = S_CONNECTING;
	uv_timer_start(&pg->timer, on_timer, CONNECT_TIMEOUT_MS, 0);
	if (watch(pg, UV_WRITABLE) != 0)
		lost(pg, "cannot watch the connection's socket");
}

static void on_timer(uv_timer_t *t)
{
	struct wafa_pg *pg = t->data;

	if (pg->state == S_WAIT)
		connect_start(pg);
	else if (pg->state == S_CONNECTING)
		lost(pg, "connection timed out");
	else if (pg->state == S_READY && pg->conn)
		read_results(pg); /* what wafa_pg_consume read */
}

static void connect_step(struct wafa_pg *pg)
{
	switch (PQconnectPoll(pg->conn)) {
	case PGRES_POLLING_READING:
		if (watch(pg, UV_READABLE) != 0)
			lost(pg, "cannot watch the connection's socket");
		return;
	case PGRES_POLLING_WRITING:
		if (watch(pg, UV_WRITABLE) != 0)
			lost(pg, "cannot watch the connection's socket");
		return;
	case PGRES_POLLING_OK:
		break;
	default:
		lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	uv_timer_stop(&pg->timer);
	if (PQsetnonblocking(pg->conn, 1) != 0 || watch(pg, UV_READABLE) != 0) {
		lost(pg, "cannot make the connection non-blocking");
		return;
	}
	pg->state = S_READY;
	pg->backoff_ms = BACKOFF_MIN_MS;
	pg->connected_once = true;
	said_cannot_connect = false;
	wafa_log(WAFA_INFO, "pg", "%s: connected", pg->name);
	if (pg->hooks.connected)
		pg->hooks.connected(pg, pg->hooks.arg);
	send_next(pg);
}

static void run_failed(struct wafa_pg *pg)
{
	struct query *q = pg->failed;

	pg->failed = NULL;
	pg->failed_tail = &pg->failed;
	while (q) {
		struct query *next = q->next;
		pg->pending--;
		q->cb(NULL, q->arg);
		query_free(q);
		q = next;
	}
}

static void on_fail_timer(uv_timer_t *t)
{
	struct wafa_pg *pg = t->data;

	if (pg->was_lost && pg->hooks.lost) {
		pg->was_lost = false;
		pg->hooks.lost(pg, pg->hooks.arg);
	}
	pg->was_lost = false;
	run_failed(pg);
}

/* Moves the queued queries to the failed ones, whose callbacks run on the
 * loop's next turn (or now, when now is true). */
static void fail_queries(struct wafa_pg *pg, bool now)
{
	if (pg->head) {
		*pg->failed_tail = pg->head;
		pg->failed_tail = &pg->tail->next;
	}
	pg->head = pg->tail = NULL;
	pg->busy = false;
	pg->flushing = false;
	if (pg->last) {
		PQclear(pg->last);
		pg->last = NULL;
	}
	if (now)
		run_failed(pg);
	else if (pg->failed || pg->was_lost)
		uv_timer_start(&pg->fail_timer, on_fail_timer, 0, 0);
}

/* The connection is gone: fail what was asked of it and try again later. */
static void lost(struct wafa_pg *pg, const char *why)
{
	char line[512];
	size_t n = 0;

	/* libpq's text on one line: its lines joined with "; " */
	for (const char *c = why ? why : ""; *c && n + 3 < sizeof(line); c++) {
		if (*c != '\n')
			line[n++] = *c == '\t' ? ' ' : *c;
		else if (c[1] && n > 0)
			line[n++] = ';', line[n++] = ' ';
	}
	line[n] = '\0';
	if (pg->connected_once) {
		wafa_log(WAFA_WARN, "pg", "%s: connection lost: %s", pg->name, line);
	} else if (!said_cannot_connect) {
		/* never connected: a wrong host, port, user or password */
		const char *host = pg->conn ? PQhost(pg->conn) : NULL;
		const char *port = pg->conn ? PQport(pg->conn) : NULL;
		const char *user = pg->conn ? PQuser(pg->conn) : NULL;
		const char *db = pg->conn ? PQdb(pg->conn) : NULL;
		wafa_log(WAFA_ERROR, "pg", "cannot connect to PostgreSQL ([database] dsn: host=%s "
		         "port=%s user=%s dbname=%s): %s; trying again with backoff (quietly until "
		         "it connects); try `wafa doctor`", host && *host ? host : "(default)",
		         port && *port ? port : "(default)", user && *user ? user : "(default)",
		         db && *db ? db : "(default)", line);
		said_cannot_connect = true;
	} else {
		wafa_log(WAFA_DEBUG, "pg", "%s: cannot connect: %s", pg->name, line);
	}
	unwatch(pg);
	if (pg->conn) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	schedule_reconnect(pg);
	pg->was_lost = true;
	fail_queries(pg, false);
}

static void update_interest(struct wafa_pg *pg)
{
	if (watch(pg, UV_READABLE | (pg->flushing ? UV_WRITABLE : 0)) != 0)
		lost(pg, "cannot watch the connection's socket");
}

/* Sends what libpq holds.  Returns 0, or -1 when the connection was lost. */
static int flush(struct wafa_pg *pg)
{
	int r = PQflush(pg->conn);

	if (r < 0) {
		lost(pg, PQerrorMessage(pg->conn));
		return -1;
	}
	/* uv_poll is level-triggered: keep write interest only while libpq has
	 * unsent data, or the loop spins. */
	pg->flushing = r == 1;
	update_interest(pg);
	return pg->state == S_READY ? 0 : -1;
}

static void send_next(struct wafa_pg *pg)
{
	struct query *q = pg->head;

	if (pg->state != S_READY || pg->busy || !q)
		return;
	if (!PQsendQueryParams(pg->conn, q->sql, q->nparams, NULL, (const char *const *)q->params,
	                       q->lengths, q->formats, 0)) {
		lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	if (q->row)
		PQsetSingleRowMode(pg->conn); /* if it fails, the rows come whole, to cb */
	pg->busy = true;
	flush(pg);
}

static void drain_notifies(struct wafa_pg *pg)
{
	PGnotify *n;

	while (pg->conn && (n = PQnotifies(pg->conn)) != NULL) {
		if (pg->hooks.notify)
			pg->hooks.notify(pg, n->relname, n->extra, pg->hooks.arg);
		PQfreemem(n);
	}
}

static void read_results(struct wafa_pg *pg)
{
	if (!PQconsumeInput(pg->conn)) {
		lost(pg, PQerrorMessage(pg->conn));
		return;
	}
	drain_notifies(pg);
	while (pg->busy && !PQisBusy(pg->conn)) {
		PGresult *res = PQgetResult(pg->conn);
		if (res && PQresultStatus(res) == PGRES_SINGLE_TUPLE && pg->head->row) {
			pg->head->row(res, pg->head->arg);
			PQclear(res);
			if (pg->state != S_READY)
				return;
			continue;
		}
		if (res) {
			if (pg->last)
				PQclear(pg->last);
			pg->last = res;
			continue;
		}
		struct query *q = pg->head;
		PGresult *last = pg->last;
		pg->last = NULL;
		pg->head = q->next;
		if (!pg->head)
			pg->tail = NULL;
		pg->busy = false;
		pg->pending--;
		q->cb(last, q->arg);
		PQclear(last);
		query_free(q);
		if (pg->state != S_READY)
			return;
		send_next(pg);
	}
	if (pg->conn && PQstatus(pg->conn) == CONNECTION_BAD)
		lost(pg, PQerrorMessage(pg->conn));
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct wafa_pg *pg = poll->data;

	/* libuv reports a reset peer (POLLERR) as UV_EBADF with no events, and
	 * stops the handle: watch() must start it again.  Seen after `pg_ctl
	 * restart -m immediate`: libpq read the server's WARNING but not yet
	 * the end, and the connection hung with nothing watching it. */
	if (status < 0)
		pg->poll_events = 0;
	if (pg->state == S_CONNECTING) {
		connect_step(pg);
		return;
	}
	if (pg->state != S_READY)
		return;
	/* let libpq read the socket so it reports the real error */
	if (status < 0)
		events = UV_READABLE;
	if (pg->flushing && (events & UV_WRITABLE) && flush(pg) != 0)
		return;
	if (events & UV_READABLE)
		read_results(pg);
	if (status < 0 && pg->state == S_READY)
		update_interest(pg);
}

int wafa_pg_open(uv_loop_t *loop, const char *dsn, const char *name,
                 const struct wafa_pg_hooks *hooks, struct wafa_pg **out)
{
	struct wafa_pg *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return -ENOMEM;
	pg->loop = loop;
	pg->dsn = strdup(dsn);
	pg->name = strdup(name);
	if (!pg->dsn || !pg->name) {
		free(pg->dsn);
		free(pg->name);
		free(pg);
		return -ENOMEM;
	}
	pg->hooks = *hooks;
	snprintf(pg->app, sizeof(pg->app), "wafa-%s", name);
	/* jit off: wafa's statements are short, and compiling one (when the
	 * planner's estimate passes jit_above_cost, as at a burst) costs more
	 * than running it */
	snprintf(pg->options, sizeof(pg->options), "-c synchronous_commit=on -c jit=off%s%s",
	         hooks->options ? " " : "", hooks->options ? hooks->options : "");
	pg->poll_fd = -1;
	pg->backoff_ms = BACKOFF_MIN_MS;
	uv_timer_init(loop, &pg->timer);
	pg->timer.data = pg;
	uv_timer_init(loop, &pg->fail_timer);
	pg->fail_timer.data = pg;
	pg->failed_tail = &pg->failed;
	pg->handles = 2;
	connect_start(pg);
	*out = pg;
	return 0;
}

int wafa_pg_query(struct wafa_pg *pg, const char *sql, int nparams, const char *const *params,
                  wafa_pg_result_cb cb, void *arg)
{
	return wafa_pg_query_rows(pg, sql, nparams, params, NULL, cb, arg);
}

static int enqueue(struct wafa_pg *pg, const char *sql, int nparams, const char *const *params,
                   const int *lengths, const int *formats, wafa_pg_result_cb row,
                   wafa_pg_result_cb cb, void *arg)
{
	struct query *q;

	if (pg->state != S_READY)
		return -ENOTCONN;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->sql = strdup(sql);
	q->params = nparams ? calloc((size_t)nparams, sizeof(char *)) : NULL;
	if (!q->sql || (nparams && !q->params))
		goto fail;
	q->nparams = nparams;
	if (formats) {
		q->lengths = calloc((size_t)nparams, sizeof(int));
		q->formats = calloc((size_t)nparams, sizeof(int));
		if (!q->lengths || !q->formats)
			goto fail;
		memcpy(q->lengths, lengths, (size_t)nparams * sizeof(int));
		memcpy(q->formats, formats, (size_t)nparams * sizeof(int));
	}
	for (int i = 0; i < nparams; i++) {
		if (!params[i])
			continue;
		if (formats && formats[i]) {
			/* binary: a length, not a terminator */
			if (!(q->params[i] = malloc(lengths[i] ? (size_t)lengths[i] : 1)))
				goto fail;
			memcpy(q->params[i], params[i], (size_t)lengths[i]);
		} else if (!(q->params[i] = strdup(params[i]))) {
			goto fail;
		}
	}
	q->cb = cb;
	q->row = row;
	q->arg = arg;
	if (pg->tail)
		pg->tail->next = q;
	else
		pg->head = q;
	pg->tail = q;
	pg->pending++;
	send_next(pg);
	return 0;
fail:
	query_free(q);
	return -ENOMEM;
}

int wafa_pg_query_rows(struct wafa_pg *pg, const char *sql, int nparams,
                       const char *const *params, wafa_pg_result_cb row, wafa_pg_result_cb cb,
                       void *arg)
{
	return enqueue(pg, sql, nparams, params, NULL, NULL, row, cb, arg);
}

int wafa_pg_query_binary(struct wafa_pg *pg, const char *sql, int nparams,
                         const char *const *params, const int *lengths, const int *formats,
                         wafa_pg_result_cb cb, void *arg)
{
	return enqueue(pg, sql, nparams, params, lengths, formats, NULL, cb, arg);
}

void wafa_pg_consume(struct wafa_pg *pg)
{
	/* an error shows at the next read, where it is handled.  What was read
	 * no longer wakes the socket's poll: the results it completes are taken
	 * from the loop's next turn */
	if (pg && pg->state == S_READY && pg->conn) {
		(void)PQconsumeInput(pg->conn);
		uv_timer_start(&pg->timer, on_timer, 0, 0);
	}
}

bool wafa_pg_connected(const struct wafa_pg *pg)
{
	return pg->state == S_READY;
}

int wafa_pg_backend_pid(const struct wafa_pg *pg)
{
	return pg->conn && pg->state == S_READY ? PQbackendPID(pg->conn) : 0;
}

unsigned wafa_pg_pending(const struct wafa_pg *pg)
{
	return pg->pending;
}

void wafa_pg_close(struct wafa_pg *pg)
{
	if (!pg)
		return;
	pg->hooks.connected = NULL;
	pg->hooks.notify = NULL;
	pg->hooks.lost = NULL;
	pg->state = S_CLOSING;
	unwatch(pg);
	if (pg->conn) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	fail_queries(pg, true);
	uv_close((uv_handle_t *)&pg->timer, on_handle_closed);
	uv_close((uv_handle_t *)&pg->fail_timer, on_handle_closed);
}

static char *quote(const char *name, bool dotted)
{
	size_t n = strlen(name);
	char *out = malloc(2 * n + 3 * (n + 1) + 1);
	char *w = out;

	if (!out)
		return NULL;
	*w++ = '"';
	for (const char *p = name; *p; p++) {
		if (*p == '.' && dotted) {
			*w++ = '"';
			*w++ = '.';
			*w++ = '"';
		} else {
			if (*p == '"')
				*w++ = '"';
			*w++ = *p;
		}
	}
	*w++ = '"';
	*w = '\0';
	return out;
}

char *wafa_pg_quote_ident(const char *dotted)
{
	return quote(dotted, true);
}

char *wafa_pg_quote_name(const char *name)
{
	return quote(name, false);
}

const char *wafa_pg_result_error(const PGresult *res)
{
	static __thread char buf[512];
	const char *msg;
	size_t n;

	if (!res)
		return "connection lost";
	msg = PQresultErrorMessage(res);
	if (!msg || !*msg)
		return PQresStatus(PQresultStatus(res));
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	snprintf(buf, sizeof(buf), "%.*s", (int)n, msg);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return buf;
}
