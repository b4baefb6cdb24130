#include "tools/parked.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "store/pg.h"
#include "store/schema.h"

/* $1 key, $2 rule, $3 status, $4 since (ms); NULL: any. */
static const char list_sql[] =
	"SELECT key, status, attempts, "
	"       to_char(coalesce(failed_at, next_attempt_at) AT TIME ZONE 'UTC', "
	"               'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	"       rcpt, coalesce(last_error, held_reason, '') "
	"  FROM outbox "
	" WHERE ($1::text IS NULL OR key = $1) AND ($2::text IS NULL OR rule = $2) "
	"   AND (CASE WHEN $3::text IS NULL THEN status IN ('failed', 'skipped') "
	"             WHEN $3 = 'queued' THEN status = 'queued' AND held_reason IS NOT NULL "
	"             ELSE status = $3 END) "
	"   AND ($4::float8 IS NULL "
	"        OR coalesce(failed_at, next_attempt_at) >= to_timestamp($4::float8 / 1000)) "
	" ORDER BY id";

/* A key names one mail: failed, or skipped (held back) to send it anyway.
 * A rule or a time: failed mail only. */
static const char retry_sql[] =
	"UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = now(), "
	"       claimed_until = NULL, last_error = NULL, held_reason = NULL, failed_at = NULL "
	" WHERE ($1::text IS NULL OR key = $1) AND ($2::text IS NULL OR rule = $2) "
	"   AND (status = 'failed' OR ($1::text IS NOT NULL AND status = 'skipped')) "
	"   AND ($3::float8 IS NULL "
	"        OR coalesce(failed_at, next_attempt_at) >= to_timestamp($3::float8 / 1000)) "
	"RETURNING key";

static PGconn *connect_to(const struct wafa_config *cfg, const char *cmd, FILE *report)
{
	PGconn *conn = PQconnectdb(cfg->dsn);
	char *quoted = NULL;
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(report, "wafa outbox %s: cannot connect to the database: %s", cmd,
		        PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	quoted = wafa_pg_quote_ident(cfg->schema);
	const char *p[] = { quoted ? quoted : "wafa" };
	res = PQexecParams(conn, wafa_schema_search_path_sql, 1, NULL, p, NULL, NULL, 0);
	PQclear(res);
	free(quoted);
	return conn;
}

static int run(const struct wafa_config *cfg, const struct wafa_parked_filter *f, bool retry,
               FILE *out, FILE *report)
{
	const char *cmd = retry ? "retry" : "list";
	PGconn *conn = connect_to(cfg, cmd, report);
	PGresult *res;
	char since[32];
	int code = EX_OK, n;

	if (!conn)
		return EX_UNAVAILABLE;
	snprintf(since, sizeof(since), "%" PRId64, f->since);
	const char *since_p = f->since ? since : NULL;
	const char *lp[] = { f->key, f->rule, f->status, since_p };
	const char *rp[] = { f->key, f->rule, since_p };
	res = retry ? PQexecParams(conn, retry_sql, 3, NULL, rp, NULL, NULL, 0)
	            : PQexecParams(conn, list_sql, 4, NULL, lp, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(report, "wafa outbox %s: %s (has `wafa setup` run for schema %s?)\n", cmd,
		        wafa_pg_result_error(res), cfg->schema);
		code = EX_UNAVAILABLE;
		goto out;
	}
	n = PQntuples(res);
	if (retry) {
		for (int i = 0; i < n; i++)
			fprintf(out, "queued again: %s\n", PQgetvalue(res, i, 0));
		if (n == 0) {
			fprintf(report, "wafa outbox retry: no failed mail%s%s%s%s matches "
			                "(`wafa outbox list` shows what is parked)\n",
			        f->key ? " with key " : "", f->key ? f->key : "",
			        f->rule ? " of rule " : "", f->rule ? f->rule : "");
			code = EX_DATAERR;
		} else {
			fprintf(out, "wafa outbox retry: %d mail(s) queued again; wafa run sends them "
			             "at its next look at the outbox ([mail] poll_interval)\n", n);
		}
		goto out;
	}
	fprintf(out, "%-40s  %-7s  %8s  %-20s  %-30s  %s\n", "KEY", "STATUS", "ATTEMPTS",
	        "WHEN (UTC)", "TO", "WHY");
	for (int i = 0; i < n; i++) {
		char *why = strdup(PQgetvalue(res, i, 5));
		for (char *c = why; c && *c; c++)
			if (*c == '\n' || *c == '\r')
				*c = ' ';
		fprintf(out, "%-40s  %-7s  %8s  %-20s  %-30s  %s\n", PQgetvalue(res, i, 0),
		        PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		        PQgetvalue(res, i, 4), why ? why : "");
		free(why);
	}
	fprintf(out, "%d mail(s); `wafa outbox retry KEY` (or --rule R, --failed-since T) queues "
	             "failed mail again\n", n);
out:
	PQclear(res);
	PQfinish(conn);
	return code;
}

int wafa_parked_list(const struct wafa_config *cfg, const struct wafa_parked_filter *f,
                     FILE *out, FILE *report)
{
	return run(cfg, f, false, out, report);
}

int wafa_parked_retry(const struct wafa_config *cfg, const struct wafa_parked_filter *f,
                      FILE *out, FILE *report)
{
	return run(cfg, f, true, out, report);
}
