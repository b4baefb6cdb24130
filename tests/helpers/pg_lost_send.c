/* Run by tests/integration/pg_callbacks.py with a real PostgreSQL's DSN.
 *
 * A query sent on a connection whose backend was terminated while the loop
 * was busy (wafa_pg_consume read the server's goodbye, so libpq knows the
 * connection is dead and refuses to send): wafa_pg_query returns 0 and
 * the callback must not run inside the call (its caller marks the query as
 * out only once the call returns), but on the loop's next turn, once.
 * Prints "inside=N later=N rc=N" and exits 0 when all is well. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "store/pg.h"

struct probe {
	int connected;
	int pid;
	int calls;
	int null_res;
};

static void on_connected(struct wafa_pg *pg, void *arg)
{
	struct probe *p = arg;

	(void)pg;
	p->connected = 1;
}

static void on_pid(PGresult *res, void *arg)
{
	struct probe *p = arg;

	if (res && PQresultStatus(res) == PGRES_TUPLES_OK)
		p->pid = atoi(PQgetvalue(res, 0, 0));
	else
		p->pid = -1;
}

static void on_result(PGresult *res, void *arg)
{
	struct probe *p = arg;

	p->calls++;
	p->null_res += res == NULL;
}

static int run_until(uv_loop_t *loop, const int *flag, int ms)
{
	for (int i = 0; i < ms / 10 && !*flag; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	return *flag;
}

int main(int argc, char **argv)
{
	uv_loop_t loop;
	struct probe p = { 0 };
	struct wafa_pg_hooks hooks = { .connected = on_connected, .arg = &p };
	struct wafa_pg *pg;
	char sql[128];
	int rc, inside, status = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: pg_lost_send DSN\n");
		return 2;
	}
	uv_loop_init(&loop);
	if (wafa_pg_open(&loop, argv[1], "probe", &hooks, &pg) != 0 ||
	    !run_until(&loop, &p.connected, 10000)) {
		fprintf(stderr, "cannot connect\n");
		return 2;
	}
	if (wafa_pg_query(pg, "SELECT pg_backend_pid()", 0, NULL, on_pid, &p) != 0 ||
	    !run_until(&loop, &p.pid, 10000) || p.pid < 0) {
		fprintf(stderr, "cannot read the backend pid\n");
		return 2;
	}
	PGconn *other = PQconnectdb(argv[1]);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", p.pid);
	PQclear(PQexec(other, sql));
	PQfinish(other);
	/* the loop is busy: nothing runs it, but long work lets libpq read
	 * what came (the FATAL, then the end of the connection) */
	for (int i = 0; i < 5; i++) {
		usleep(100000);
		wafa_pg_consume(pg);
	}
	rc = wafa_pg_query(pg, "SELECT 1", 0, NULL, on_result, &p);
	inside = p.calls;
	if (rc == 0)
		run_until(&loop, &p.calls, 2000);
	printf("inside=%d later=%d null=%d rc=%d\n", inside, p.calls, p.null_res, rc);
	if (rc == 0 && inside == 0 && p.calls == 1 && p.null_res == 1)
		status = 0;
	else if (rc != 0 && p.calls == 0)
		status = 0; /* refused at once: the caller knows, no callback */
	wafa_pg_close(pg);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		printf("the loop has handles left\n");
		status = 1;
	}
	return status;
}
