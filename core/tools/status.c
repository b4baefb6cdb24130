#include "tools/status.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg.h"

int wafa_status_run(const struct wafa_config *cfg, FILE *out)
{
	PGconn *conn = PQconnectdb(cfg->dsn);
	PGresult *res = NULL;
	int code = 1;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(out, "wafa status: cannot connect to the database: %s", PQerrorMessage(conn));
		code = 2;
		goto out;
	}
	/* the lease is pg_try_advisory_lock(hashtextextended('wafa leader:' ||
	 * schema, 0)): a bigint key, shown in pg_locks as classid (high 32
	 * bits) and objid (low 32 bits) */
	const char *p[] = { cfg->schema };
	res = PQexecParams(conn,
	                   "WITH k AS (SELECT hashtextextended('wafa leader:' || $1, 0) AS key) "
	                   "SELECT a.pid, coalesce(a.client_hostname, host(a.client_addr), 'local'), "
	                   "       a.application_name, a.backend_start::timestamptz(0)::text "
	                   "  FROM k, pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
	                   " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
	                   "   AND l.classid = ((k.key >> 32) & 4294967295)::oid "
	                   "   AND l.objid = (k.key & 4294967295)::oid",
	                   1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(out, "wafa status: %s\n", wafa_pg_result_error(res));
		code = 2;
		goto out;
	}
	if (PQntuples(res) == 0) {
		fprintf(out, "no wafa leads on schema %s (none runs, or all are starting)\n",
		        cfg->schema);
	} else {
		fprintf(out, "leader: wafa on %s, backend pid %s (%s), since %s\n", PQgetvalue(res, 0, 1),
		        PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
		code = 0;
	}
	PQclear(res);
	res = PQexec(conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'wafa-work'");
	if (PQresultStatus(res) == PGRES_TUPLES_OK && atoi(PQgetvalue(res, 0, 0)) > 1)
		fprintf(out, "standby: %d more wafa instance(s) connected\n",
		        atoi(PQgetvalue(res, 0, 0)) - (code == 0));
out:
	PQclear(res);
	PQfinish(conn);
	return code;
}
