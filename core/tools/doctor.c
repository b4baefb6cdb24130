#include "tools/doctor.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sync/adapter.h"
#include "store/pg.h"
#include "store/schema.h"
#include "base/secret.h"
#include "tools/simulate.h"
#include "time/clock.h"
#include "sync/ticket.h"

struct doctor {
	FILE *out;
	int failed;
};

static void say(struct doctor *d, bool ok, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void say(struct doctor *d, bool ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(d->out, "%-4s %-13s ", ok ? "ok" : "FAIL", what);
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
	d->failed += !ok;
}

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* asprintf that leaves NULL, not garbage, when it fails */
static char *format(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *p)
{
	return PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);
}

static void one_line(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* The secret files: readable by their owner only (wafa refuses others). */
static void check_secrets(struct doctor *d, const struct wafa_config *cfg)
{
	const struct { const char *key, *path; } files[] = {
		{ "[mail] auth_password_file", cfg->auth_password_file },
		{ "[web] key_file", cfg->web_key_file },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char why[600];
		int fd, err;
		if (!files[i].path || !files[i].path[0])
			continue;
		fd = open(files[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			say(d, false, "secret", "%s %s: %s", files[i].key, files[i].path, strerror(errno));
			continue;
		}
		err = wafa_secret_check(fd, files[i].path, why, sizeof(why));
		close(fd);
		if (err)
			say(d, false, "secret", "%s %s", files[i].key, why);
		else
			say(d, true, "secret", "%s %s is readable by its owner only", files[i].key,
			    files[i].path);
	}
}

/* The view: its columns, its rows, and whether a sample looks sane. */
static void check_view(struct doctor *d, PGconn *conn, const struct wafa_config *cfg)
{
	PGresult *res;
	char *quoted = wafa_pg_quote_ident(cfg->view), *sql = NULL;
	static const char required[] =
		"{id,ref,subject,status,raw_status,priority,queue,customer_email,customer_name,"
		"customer_locale,customer_tz,owner_email,owner_name,created_at,first_reply_at,"
		"last_customer_at,last_agent_at,solved_at,due_at,updated_at,extra}";

	const char *cp[] = { cfg->view, required };
	res = query(conn,
	            "SELECT count(*) FILTER (WHERE attname = ANY ($2::text[])), count(*) "
	            "  FROM pg_attribute WHERE attrelid = to_regclass($1)::oid "
	            "   AND attnum > 0 AND NOT attisdropped",
	            2, cp);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || atoi(PQgetvalue(res, 0, 1)) == 0) {
		say(d, false, "view", "%s does not exist: %s", cfg->view,
		    strcmp(cfg->adapter, "generic") == 0
		        ? "create it (see sample-helpdesk.sql) or fix [helpdesk] view"
		        : "run `wafa setup` to install the adapter");
		goto out;
	}
	if (atoi(PQgetvalue(res, 0, 0)) < 21) {
		say(d, false, "view", "%s lacks some of the normalized columns (%s of 21): see the "
		                      "README's list",
		    cfg->view, PQgetvalue(res, 0, 0));
		goto out;
	}
	PQclear(res);
	if (!quoted || asprintf(&sql,
	                        "SELECT count(*), "
	                        "  count(*) FILTER (WHERE first_reply_at < created_at), "
	                        "  count(*) FILTER (WHERE greatest(created_at, first_reply_at, "
	                        "      last_customer_at, last_agent_at, solved_at, updated_at) "
	                        "      > now() + interval '1 day'), "
	                        "  count(*) FILTER (WHERE status IS NULL OR status NOT IN "
	                        "      ('new', 'open', 'pending', 'solved', 'closed')), "
	                        "  (SELECT count(*) FROM %s) "
	                        "FROM (SELECT * FROM %s ORDER BY id DESC LIMIT 1000) s",
	                        quoted, quoted) < 0) {
		sql = NULL;
		res = NULL;
		goto out;
	}
	res = query(conn, sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char *e = strdup(wafa_pg_result_error(res));
		if (e)
			one_line(e);
		say(d, false, "view", "reading %s failed: %s", cfg->view, e ? e : "");
		free(e);
		goto out;
	}
	long total = atol(PQgetvalue(res, 0, 4)), before = atol(PQgetvalue(res, 0, 1)),
	     future = atol(PQgetvalue(res, 0, 2)), bad = atol(PQgetvalue(res, 0, 3));
	say(d, total > 0, "view", "%s returns %ld ticket(s)%s", cfg->view, total,
	    total ? "" : ": is the helpdesk empty, or the mapping wrong?");
	say(d, before == 0, "sanity", "%ld of the newest %s answered before they were created%s",
	    before, PQgetvalue(res, 0, 0), before ? ": the first reply's mapping is off" : "");
	say(d, future == 0, "sanity", "%ld with a time more than a day ahead%s", future,
	    future ? ": a time zone is wrong in the mapping (timestamps without time zone?)" : "");
	say(d, bad == 0, "sanity", "%ld with a status outside new, open, pending, solved, closed%s",
	    bad, bad ? ": map it in the view" : "");
out:
	PQclear(res);
	free(sql);
	free(quoted);
}

/* The triggers, and a NOTIFY that arrives. */
static void check_notify(struct doctor *d, PGconn *conn, const struct wafa_config *cfg)
{
	PGconn *other = PQconnectdb(cfg->dsn);
	char *listen = NULL, *channel = wafa_pg_quote_name(cfg->notify_channel);
	PGresult *res;
	bool got = false;

	if (strcmp(cfg->adapter, "generic") != 0) {
		res = query(conn, "SELECT count(*) FROM pg_trigger WHERE tgname = 'wafa_notify' "
		                  "AND NOT tgisinternal",
		            0, NULL);
		int n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : 0;
		say(d, n > 0, "triggers", "%d wafa_notify trigger(s) on the helpdesk's tables%s", n,
		    n ? "" : ": run `wafa setup`");
		PQclear(res);
	}
	if (!channel || asprintf(&listen, "LISTEN %s", channel) < 0 ||
	    PQstatus(other) != CONNECTION_OK) {
		say(d, false, "notify", "cannot open a second connection to test LISTEN");
		goto out;
	}
	PQclear(PQexec(conn, listen));
	const char *p[] = { cfg->notify_channel };
	PQclear(query(other, "SELECT pg_notify($1, '0')", 1, p));
	for (int i = 0; i < 40 && !got; i++) {
		PGnotify *n;
		struct pollfd pfd = { .fd = PQsocket(conn), .events = POLLIN };
		poll(&pfd, 1, 50);
		PQconsumeInput(conn);
		while ((n = PQnotifies(conn)) != NULL) {
			got |= strcmp(n->relname, cfg->notify_channel) == 0;
			PQfreemem(n);
		}
	}
	say(d, got, "notify", "a NOTIFY on %s %s", cfg->notify_channel,
	    got ? "arrives" : "did not arrive within 2 s");
out:
	free(listen);
	free(channel);
	PQfinish(other);
}

/* The adapter's own checks: rows of (check, ok, detail), read through
 * @SCHEMA@.adapter_doctor(), which `wafa setup` makes of doctor.sql and which
 * runs with setup's rights: the daemon's role reads no helpdesk table. */
static void check_adapter(struct doctor *d, PGconn *conn, const struct wafa_config *cfg)
{
	char *sql = NULL, *body = NULL, *fn = NULL, *run = NULL, *quoted = NULL;
	PGresult *res = NULL;
	int err = wafa_adapter_file(cfg, "doctor", &sql);

	if (err)
		return; /* generic, or an adapter without checks */
	if (!(quoted = wafa_pg_quote_ident(cfg->schema)) || !(body = wafa_adapter_doctor_body(sql)) ||
	    asprintf(&fn, "%s.adapter_doctor()", quoted) < 0 ||
	    asprintf(&run, "SELECT * FROM %s", fn) < 0) {
		say(d, false, cfg->adapter, "its doctor.sql cannot be read (out of memory, or it "
		                            "holds $wafa_doctor$)");
		goto out;
	}
	const char *p[] = { fn, body };
	res = query(conn, "SELECT p.prosrc = $2 FROM pg_proc p WHERE p.oid = to_regprocedure($1)",
	            2, p);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0) {
		say(d, false, cfg->adapter, "%s is missing: run `wafa setup` (it reads the helpdesk's "
		                            "tables for these checks with the owner's rights)",
		    fn);
		PQclear(res);
		res = PQexec(conn, body); /* the owner can still read them */
	} else {
		if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
			say(d, false, cfg->adapter, "%s is not this wafa's doctor.sql: run `wafa setup`",
			    fn);
		PQclear(res);
		res = PQexec(conn, run);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char *e = strdup(wafa_pg_result_error(res));
		if (e)
			one_line(e);
		say(d, false, cfg->adapter, "its checks failed: %s%s", e ? e : "",
		    e && strstr(e, "permission denied for function")
		        ? " (contrib/wafa-role grants EXECUTE on wafa's functions: run its SQL again "
		          "after `wafa setup`)"
		        : "");
		free(e);
	} else {
		for (int i = 0; i < PQntuples(res); i++)
			say(d, strcmp(PQgetvalue(res, i, 1), "t") == 0, cfg->adapter, "%s%s%s",
			    PQgetvalue(res, i, 0), PQgetisnull(res, i, 2) ? "" : ": ",
			    PQgetisnull(res, i, 2) ? "" : PQgetvalue(res, i, 2));
	}
out:
	PQclear(res);
	free(run);
	free(fn);
	free(body);
	free(quoted);
	free(sql);
}

/* Can the SMTP server be reached: a TCP connection and its 220 greeting. */
static void check_smtp(struct doctor *d, const struct wafa_config *cfg)
{
	char host[256], port[16] = "25", buf[256] = "";
	const char *t = cfg->transport;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int fd = -1;
	ssize_t n = 0;

	if (strncmp(t, "maildir:", 8) == 0) {
		bool w = access(t + 8, W_OK) == 0;
		say(d, w, "mail", "maildir %s is %swritable", t + 8, w ? "" : "not ");
		return;
	}
	t += strncmp(t, "smtp://", 7) == 0 ? 7 : 5;
	size_t hl = strcspn(t, ":/");
	if (hl >= sizeof(host))
		hl = sizeof(host) - 1;
	memcpy(host, t, hl);
	host[hl] = '\0';
	if (t[hl] == ':')
		snprintf(port, sizeof(port), "%.*s", (int)strcspn(t + hl + 1, "/"), t + hl + 1);
	if (getaddrinfo(host, port, &hints, &ai) == 0 &&
	    (fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, 0)) >= 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
		if ((r == 0 || errno == EINPROGRESS) && poll(&pfd, 1, 5000) == 1) {
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 5000) == 1)
				n = read(fd, buf, sizeof(buf) - 1);
		}
	}
	if (n > 0) {
		buf[n] = '\0';
		one_line(buf);
	}
	say(d, n > 3 && strncmp(buf, "220", 3) == 0, "mail", "SMTP server %s:%s %s%s", host, port,
	    n > 0 ? "answers: " : "cannot be reached (refused, or no greeting within 5 s)",
	    n > 0 ? buf : "");
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
}

/* What zone the adapter reads the helpdesk's timestamps in, as a phrase. */
static char *adapter_zone(PGconn *conn, const struct wafa_config *cfg)
{
	static const struct {
		const char *adapter, *function, *helpdesk;
	} fn[] = {
		{ "freescout", "freescout_timezone", "FreeScout's APP_TIMEZONE" },
		{ "znuny", "znuny_time_zone", "the zone Znuny's sessions write in" },
	};
	char *s = NULL, *sql = NULL, *quoted;
	PGresult *res;

	if (strcmp(cfg->adapter, "generic") == 0)
		return strdup("a generic view must give timestamptz, or say which zone its times are in");
	if (strcmp(cfg->adapter, "rt") == 0 || strcmp(cfg->adapter, "zammad") == 0)
		return strdup("the adapter reads the helpdesk's timestamps as UTC, as it stores them");
	for (size_t i = 0; i < sizeof(fn) / sizeof(fn[0]); i++) {
		if (strcmp(cfg->adapter, fn[i].adapter) != 0)
			continue;
		if (!(quoted = wafa_pg_quote_ident(cfg->schema)) ||
		    asprintf(&sql, "SELECT %s.%s()", quoted, fn[i].function) < 0)
			sql = NULL;
		free(quoted);
		if (!sql)
			return NULL;
		res = PQexec(conn, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			s = format("the adapter reads the helpdesk's timestamps in %s, from %s.%s(): %s",
			           PQgetvalue(res, 0, 0), cfg->schema, fn[i].function, fn[i].helpdesk);
		else
			s = format("the adapter reads the helpdesk's timestamps in %s.%s(), which "
			           "cannot be read: run `wafa setup`",
			           cfg->schema, fn[i].function);
		PQclear(res);
		free(sql);
		return s;
	}
	return strdup("the adapter's install.sql says which zone it reads the timestamps in");
}

/* What a first start now would mail (the go-live guard): simulate's total. */
static void check_first_start(struct doctor *d, const struct wafa_config *cfg)
{
	char *text = NULL, *last;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int code;

	if (!f)
		return;
	code = wafa_simulate_run(cfg, 0, wafa_clock_now_ms(), false, true, NULL, f);
	fclose(f);
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	last = strrchr(text, '\n');
	if (code == 0 && last)
		say(d, true, "first start", "%s; by rule: `wafa simulate --first-start`", last + 1);
	free(text);
}

int wafa_doctor_run(const struct wafa_config *cfg, FILE *out)
{
	struct doctor d = { out, 0 };
	PGconn *conn = PQconnectdb(cfg->dsn);
	PGresult *res;
	char *quoted = wafa_pg_quote_ident(cfg->schema);

	if (PQstatus(conn) != CONNECTION_OK) {
		char *e = strdup(PQerrorMessage(conn));
		if (e)
			one_line(e);
		say(&d, false, "database", "cannot connect ([database] dsn): %s", e ? e : "");
		free(e);
		goto smtp;
	}
	res = PQexec(conn, "SELECT current_database(), current_user, "
	                   "current_setting('server_version'), current_setting('TimeZone')");
	say(&d, true, "database", "connected to %s as %s (PostgreSQL %s)", PQgetvalue(res, 0, 0),
	    PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	char tz[64];
	snprintf(tz, sizeof(tz), "%s", PQgetvalue(res, 0, 3));
	PQclear(res);
	const char *sp[] = { quoted ? quoted : "wafa" };
	PQclear(query(conn, "SELECT set_config('search_path', $1 || ', public', false)", 1, sp));
	res = PQexec(conn, wafa_schema_version_sql);
	int version = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
	PQclear(res);
	say(&d, version == wafa_schema_version(), "schema",
	    version < 0 ? "schema %s is missing: run `wafa setup`%s"
	    : version == wafa_schema_version() ? "schema %s is current%s"
	                                       : "schema %s is at another version: run `wafa setup`%s",
	    cfg->schema, "");
	check_view(&d, conn, cfg);
	check_notify(&d, conn, cfg);
	/* timestamps are compared as instants; the session's zone only matters to
	 * a mapping that reads timestamps without time zone */
	const char *host_tz = getenv("TZ");
	char *zone = adapter_zone(conn, cfg);
	say(&d, true, "time zone", "the database's TimeZone is %s; wafa's is %s (%s)", tz,
	    host_tz && *host_tz ? host_tz : "the system's",
	    zone ? zone : "out of memory");
	free(zone);
	check_adapter(&d, conn, cfg);
	check_first_start(&d, cfg);
smtp:
	check_secrets(&d, cfg);
	check_smtp(&d, cfg);
	fprintf(out, "%s\n", d.failed ? "wafa doctor: some checks failed" : "wafa doctor: all is well");
	free(quoted);
	PQfinish(conn);
	return d.failed ? 1 : 0;
}
