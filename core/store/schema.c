#include "store/schema.h"

#include <errno.h>
#include <stdbool.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "sync/adapter.h"
#include "store/pg.h"

/* Each entry upgrades the schema by one version.  Never edit a released
 * entry: add a new one. */
static const char *const migrations[] = {
	/* 1: what has fired and what is to be sent. */
	"CREATE TABLE fired (\n"
	"    key       text PRIMARY KEY,            -- rule/ticket/phase/instance\n"
	"    ticket_id bigint NOT NULL,\n"
	"    rule      text NOT NULL,\n"
	"    phase     text NOT NULL,\n"
	"    fired_at  timestamptz NOT NULL DEFAULT now()\n"
	");\n"
	"CREATE TABLE outbox (\n"
	"    id              bigserial PRIMARY KEY,\n"
	"    key             text NOT NULL UNIQUE,  -- rule/ticket/phase/instance/n\n"
	"    ticket_id       bigint NOT NULL,\n"
	"    rule            text NOT NULL,\n"
	"    phase           text NOT NULL,\n"
	"    mail_from       text NOT NULL,\n"
	"    rcpt            text NOT NULL,\n"
	"    subject         text NOT NULL,\n"
	"    body            text NOT NULL,\n"
	"    status          text NOT NULL DEFAULT 'queued'\n"
	"                    CHECK (status IN ('queued', 'sent', 'failed')),\n"
	"    attempts        integer NOT NULL DEFAULT 0,\n"
	"    next_attempt_at timestamptz NOT NULL DEFAULT now(),\n"
	"    claimed_until   timestamptz,\n"
	"    last_error      text,\n"
	"    created_at      timestamptz NOT NULL DEFAULT now(),\n"
	"    sent_at         timestamptz\n"
	");\n"
	"CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';\n"
	"CREATE INDEX outbox_ticket ON outbox (ticket_id);\n",
	/* 2: the journal of every SLA and promise transition, and of status changes. */
	"CREATE TABLE journal (\n"
	"    id          bigserial PRIMARY KEY,\n"
	"    ticket_id   bigint NOT NULL,\n"
	"    rule        text NOT NULL,\n"
	"    kind        text NOT NULL CHECK (kind IN ('sla', 'promise', 'followup', 'offer')),\n"
	"    instance    bigint NOT NULL,           -- start (SLA) or promised date (promise), Unix s\n"
	"    event       text NOT NULL CHECK (event IN ('started', 'paused', 'resumed', 'warn',\n"
	"                    'breach', 'escalate', 'due', 'met', 'cancelled')),\n"
	"    step        text NOT NULL DEFAULT '',  -- the phase of warn, breach, escalate\n"
	"    at          timestamptz NOT NULL,      -- when it happened (a step: when it fell due)\n"
	"    fired_at    timestamptz,               -- a step: when wafa acted on it\n"
	"    detail      text,\n"
	"    recorded_at timestamptz NOT NULL DEFAULT now(),\n"
	"    UNIQUE (ticket_id, rule, instance, event, step, at)\n"
	");\n"
	"CREATE INDEX journal_at ON journal (at);\n"
	"CREATE TABLE status_log (\n"
	"    ticket_id  bigint NOT NULL,\n"
	"    at         timestamptz NOT NULL,       -- the ticket's updated_at when wafa saw it\n"
	"    old_status text,                       -- NULL: the first time wafa saw the ticket\n"
	"    new_status text NOT NULL,\n"
	"    inferred   boolean NOT NULL,           -- seen at start-up: happened while wafa was down\n"
	"    seen_at    timestamptz NOT NULL DEFAULT now(),\n"
	"    PRIMARY KEY (ticket_id, at, new_status)\n"
	");\n"
	"CREATE TABLE journal_mark (\n"
	"    rule    text PRIMARY KEY,\n"
	"    through timestamptz NOT NULL  -- transitions of tickets updated before it are journaled\n"
	");\n",
	/* 3: mail to customers (templates, the contact policy), survey answers, opt-outs. */
	"ALTER TABLE outbox\n"
	"    ADD COLUMN audience text NOT NULL DEFAULT 'agent' CHECK (audience IN ('agent', 'customer')),\n"
	"    ADD COLUMN kind text NOT NULL DEFAULT 'sla',  -- sla, promise, followup, offer\n"
	"    ADD COLUMN template text,                    -- name in [mail] templates; NULL: subject/body\n"
	"    ADD COLUMN vars jsonb,                       -- the template's variables\n"
	"    ADD COLUMN locale text,                      -- the customer's (template and dates)\n"
	"    ADD COLUMN tz text,                          -- the customer's (quiet hours)\n"
	"    ADD COLUMN thread_message_id text,           -- In-Reply-To: the helpdesk's thread\n"
	"    ADD COLUMN survey boolean NOT NULL DEFAULT false,\n"
	"    ADD COLUMN held_reason text;                 -- why the contact policy held it\n"
	"ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;\n"
	"ALTER TABLE outbox ADD CONSTRAINT outbox_status_check\n"
	"    CHECK (status IN ('queued', 'sent', 'failed', 'skipped'));  -- skipped: by the policy, with why\n"
	"CREATE FUNCTION mail_address(text) RETURNS text IMMUTABLE LANGUAGE sql\n"
	"    AS $$ SELECT lower(coalesce(substring($1 from '<([^<>]*)>'), btrim($1))) $$;\n"
	"CREATE INDEX outbox_customer ON outbox (mail_address(rcpt), sent_at)\n"
	"    WHERE audience = 'customer' AND status = 'sent';\n"
	"CREATE TABLE survey (\n"
	"    mail_id     bigint PRIMARY KEY,          -- the outbox mail the link came in\n"
	"    ticket_id   bigint NOT NULL,\n"
	"    rule        text NOT NULL,\n"
	"    email       text NOT NULL,\n"
	"    score       integer NOT NULL CHECK (score BETWEEN 1 AND 5),\n"
	"    comment     text,\n"
	"    answered_at timestamptz NOT NULL DEFAULT now(),\n"
	"    updated_at  timestamptz NOT NULL DEFAULT now()\n"
	");\n"
	"CREATE TABLE optout (\n"
	"    email  text PRIMARY KEY,                 -- lower case\n"
	"    at     timestamptz NOT NULL DEFAULT now(),\n"
	"    source text NOT NULL                     -- link (one click), admin\n"
	");\n",
	/* 4: the mailer's claim (ORDER BY next_attempt_at, id LIMIT n) read
	 * from an index instead of sorting every queued mail: with 10,000
	 * queued, 33 ms -> 3 ms per claim, and sent records queue behind it. */
	"CREATE INDEX outbox_claim ON outbox (next_attempt_at, id) WHERE status = 'queued';\n"
	"DROP INDEX outbox_due;\n",
	/* 5: the journal's step row is the firing's record: fired goes, and a
	 * firing with one mail writes two rows (step, outbox), not three.  A
	 * step (step <> '') is unique by rule/ticket/phase/instance, the old
	 * fired key; the transitions (step = '') keep their own unique index.
	 * Firings that fired holds without a step row (fired before the
	 * journal existed) come over as event 'fired': their event was never
	 * recorded, and wafa report counts them as nothing. */
	"ALTER TABLE journal DROP CONSTRAINT journal_event_check;\n"
	"ALTER TABLE journal ADD CONSTRAINT journal_event_check\n"
	"    CHECK (event IN ('started', 'paused', 'resumed', 'warn', 'breach', 'escalate', 'due',\n"
	"                     'met', 'cancelled', 'fired'));\n"
	"DO $$ DECLARE c text; BEGIN\n"
	"    SELECT conname INTO c FROM pg_constraint\n"
	"     WHERE conrelid = 'journal'::regclass AND contype = 'u';\n"
	"    IF c IS NOT NULL THEN EXECUTE format('ALTER TABLE journal DROP CONSTRAINT %I', c); END IF;\n"
	"END $$;\n"
	"CREATE UNIQUE INDEX journal_transition ON journal (ticket_id, rule, instance, event, step, at)\n"
	"    WHERE step = '';\n"
	"CREATE UNIQUE INDEX journal_step ON journal (rule, ticket_id, step, instance)\n"
	"    WHERE step <> '';\n"
	"INSERT INTO journal (ticket_id, rule, kind, instance, event, step, at, fired_at, detail)\n"
	"SELECT f.ticket_id, f.rule,\n"
	"       coalesce((SELECT o.kind FROM outbox o WHERE o.key = f.key || '/1' AND\n"
	"                        o.kind IN ('sla', 'promise', 'followup', 'offer')), 'sla'),\n"
	"       substring(f.key from '/(-?[0-9]+)$')::int8, 'fired', f.phase, f.fired_at, f.fired_at,\n"
	"       'carried over from wafa.fired (its event was not recorded)'\n"
	"  FROM fired f\n"
	" WHERE substring(f.key from '/(-?[0-9]+)$') IS NOT NULL\n"
	"ON CONFLICT DO NOTHING;\n"
	"DROP TABLE fired;\n",
	/* 6: a claim records who holds it (the backend pid of the claiming
	 * instance's mail connection), so a new leader clears only the leases
	 * of claimers that are gone, never those of one that still sends. */
	"ALTER TABLE outbox ADD COLUMN claimed_by integer;  -- pg_backend_pid() of the claimer\n",
	/* 7: the customer facts a claim needs (open tickets, last breach) from
	 * wafa's own tables, kept as it reads tickets: looked up by index, not
	 * by a scan of the helpdesk's view per customer mail (79 s for 200
	 * customer mails at 1M tickets). */
	"CREATE TABLE customer_ticket (\n"
	"    ticket_id bigint PRIMARY KEY,\n"
	"    email     text NOT NULL,       -- mail_address(customer_email)\n"
	"    open      boolean NOT NULL     -- status not solved or closed\n"
	");\n"
	"CREATE INDEX customer_ticket_email ON customer_ticket (email);\n"
	"CREATE INDEX journal_breach ON journal (ticket_id, at) WHERE event = 'breach';\n",
	/* 8: when wafa first had each rule: the go-live guard holds back the
	 * mail of steps that fell due long before it (a first start over old
	 * tickets, a rule added later). */
	"CREATE TABLE rule_seen (\n"
	"    rule       text PRIMARY KEY,\n"
	"    first_seen timestamptz NOT NULL DEFAULT now()\n"
	");\n"
	/* ... and when a mail failed for good: `wafa outbox retry --failed-since` */
	"ALTER TABLE outbox ADD COLUMN failed_at timestamptz;\n",
	/* 9: webhooks and ticket actions on the outbox beside mail: a row's
	 * channel says which sender claims it (the mailer claims only mail,
	 * the HTTP dispatcher only the others), target names the webhook
	 * ([webhook NAME]), payload is what is sent (for a ticket action the
	 * {"op": ...} of core/api/api.h). */
	"ALTER TABLE outbox\n"
	"    ADD COLUMN channel text NOT NULL DEFAULT 'mail'\n"
	"        CHECK (channel IN ('mail', 'webhook', 'ticket')),\n"
	"    ADD COLUMN target text,   -- webhook: the NAME of [webhook NAME]\n"
	"    ADD COLUMN payload jsonb; -- webhook: {text, fields}; ticket: {op, ...}\n"
	"DROP INDEX outbox_claim;\n"
	"CREATE INDEX outbox_claim ON outbox (next_attempt_at, id)\n"
	"    WHERE status = 'queued' AND channel = 'mail';\n"
	"CREATE INDEX outbox_http_claim ON outbox (next_attempt_at, id)\n"
	"    WHERE status = 'queued' AND channel <> 'mail';\n",
	/* 10: pause on anything (issue 21): a status change keeps the helpdesk's
	 * own status, and the rules whose pause on a raw status or a function of
	 * the ticket holds from then on, so the business time they paused is the
	 * same after a restart.  A change of the raw status or of a pause
	 * function's answer alone is a row too (old_status = new_status). */
	"ALTER TABLE status_log ADD COLUMN raw_status text,\n"
	"    ADD COLUMN paused_by text[] NOT NULL DEFAULT '{}';\n",
	/* 11: acting on survey answers (on_answer): the journal records each
	 * rule's action on an answer as a step (event 'answer', step 'answer',
	 * instance the survey mail's id), which also makes it done-once; an
	 * answer keeps the ticket's owner and queue when it came (the report's
	 * CSAT per agent and per queue); the daemon looks for answers not yet
	 * acted on by when they came. */
	"ALTER TABLE journal DROP CONSTRAINT journal_event_check;\n"
	"ALTER TABLE journal ADD CONSTRAINT journal_event_check\n"
	"    CHECK (event IN ('started', 'paused', 'resumed', 'warn', 'breach', 'escalate', 'due',\n"
	"                     'met', 'cancelled', 'fired', 'answer'));\n"
	"ALTER TABLE survey\n"
	"    ADD COLUMN owner_email text,  -- the ticket's owner when the answer came (NULL: unknown)\n"
	"    ADD COLUMN owner_name text,\n"
	"    ADD COLUMN queue text;        -- the ticket's queue then\n"
	"CREATE INDEX survey_answered ON survey (answered_at);\n",
	/* 12: room on each outbox page for its rows' claims: a claim changes
	 * no indexed column, so with room on the page it is a HOT update that
	 * touches no index (issue 15) */
	"ALTER TABLE outbox SET (fillfactor = 50);\n",
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* Also bounds every statement on the daemon's connections: one that waits on
 * a lock (a click's answer, a busy table) must not stall all that follows it. */
const char wafa_schema_search_path_sql[] =
	"SELECT set_config('search_path', $1 || ', public', false), "
	"       set_config('statement_timeout', '60s', false)";
const char wafa_schema_rule_seen_sql[] =
	"WITH n AS (INSERT INTO rule_seen (rule) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING) "
	"SELECT rule, (extract(epoch FROM first_seen) * 1000)::int8 FROM rule_seen "
	" WHERE rule = ANY($1::text[])";
const char wafa_schema_rules_seen_sql[] =
	"SELECT rule, (extract(epoch FROM first_seen) * 1000)::int8 FROM rule_seen";
const char wafa_schema_version_sql[] = "SELECT coalesce(max(version), 0) FROM schema_version";

int wafa_schema_version(void)
{
	return NMIGRATIONS;
}

static int exec(PGconn *conn, FILE *report, const char *sql, int n, const char *const *params,
                PGresult **out)
{
	/* without parameters, the simple protocol: a migration holds several statements */
	PGresult *res = n ? PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0) : PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(report, "wafa setup: %s\n", wafa_pg_result_error(res));
		PQclear(res);
		return -EIO;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* "already exists, skipping" is what an idempotent setup expects to hear */
static void quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Runs (or with dry, prints) the adapter's file name.  A missing file of an
 * adapter that has none (generic) is fine. */
static int adapter_sql(PGconn *conn, const struct wafa_config *cfg, const char *name, bool dry,
                       FILE *out, FILE *report)
{
	char *sql;
	int err = wafa_adapter_file(cfg, name, &sql);

	if (err == -ENOENT && strcmp(cfg->adapter, "generic") == 0)
		return 0;
	if (err) {
		fprintf(report, "wafa setup: adapter %s: %s/%s/%s.sql: %s\n", cfg->adapter,
		        cfg->adapters_dir, cfg->adapter, name, wafa_strerror(err));
		return err;
	}
	if (dry)
		fprintf(out, "-- adapter %s: %s.sql\n%s\n", cfg->adapter, name, sql);
	else if ((err = exec(conn, report, sql, 0, NULL, NULL)) == 0)
		fprintf(report, "wafa setup: adapter %s: %s.sql applied (view %s.tickets)\n",
		        cfg->adapter, name, cfg->schema);
	free(sql);
	return err;
}

/* The adapter's doctor.sql as @SCHEMA@.adapter_doctor(), run with the rights
 * of setup's role (see adapter.h); or with uninstall, dropped. */
static int adapter_doctor_sql(PGconn *conn, const struct wafa_config *cfg, bool uninstall,
                              bool dry, FILE *out, FILE *report)
{
	char *sql = NULL, *body = NULL, *create = NULL;
	char *quoted = wafa_pg_quote_ident(cfg->schema);
	int err = wafa_adapter_file(cfg, "doctor", &sql);

	if (err == -ENOENT) {
		err = 0; /* generic, or an adapter without checks */
		if (!uninstall)
			goto out;
	} else if (err) {
		fprintf(report, "wafa setup: adapter %s: %s/%s/doctor.sql: %s\n", cfg->adapter,
		        cfg->adapters_dir, cfg->adapter, wafa_strerror(err));
		goto out;
	}
	if (!quoted) {
		err = -ENOMEM;
		goto out;
	}
	if (uninstall) {
		if (asprintf(&create, "DROP FUNCTION IF EXISTS %s.adapter_doctor();\n", quoted) < 0)
			create = NULL;
	} else if (!(body = wafa_adapter_doctor_body(sql))) {
		fprintf(report, "wafa setup: adapter %s: %s/%s/doctor.sql holds $wafa_doctor$, "
		                "which quotes it: rename that quote\n",
		        cfg->adapter, cfg->adapters_dir, cfg->adapter);
		err = -EINVAL;
		goto out;
	} else {
		create = wafa_adapter_doctor_create(quoted, body);
	}
	if (!create)
		err = -ENOMEM;
	else if (dry)
		fputs(create, out);
	else
		err = exec(conn, report, create, 0, NULL, NULL);
out:
	free(quoted);
	free(create);
	free(body);
	free(sql);
	return err;
}

int wafa_schema_setup(const struct wafa_config *cfg, unsigned flags, const char *user,
                      FILE *out, FILE *report)
{
	const char *schema = cfg->schema;
	bool dry = flags & WAFA_SETUP_DRY_RUN;
	/* user, when given, overrides the dsn's (setup runs as the owner, the
	 * daemon as its least-privilege role, from one wafa.conf) */
	const char *keys[] = { "dbname", user ? "user" : NULL, NULL };
	const char *values[] = { cfg->dsn, user, NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	PGresult *res = NULL;
	char *quoted = wafa_pg_quote_ident(schema);
	char *create = NULL;
	int err = 0, version = 0;

	if (!quoted) {
		err = -ENOMEM;
		goto out;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(report, "wafa setup: cannot connect to the database: %s",
		        PQerrorMessage(conn));
		err = -ECONNREFUSED;
		goto out;
	}
	PQsetNoticeProcessor(conn, quiet, NULL);
	if (asprintf(&create, "CREATE SCHEMA IF NOT EXISTS %s", quoted) < 0) {
		create = NULL;
		err = -ENOMEM;
		goto out;
	}
	const char *sp[] = { quoted };
	if (flags & WAFA_SETUP_UNINSTALL) {
		char *drop = NULL;
		if ((err = exec(conn, report, "BEGIN", 0, NULL, NULL)) ||
		    (err = adapter_sql(conn, cfg, "uninstall", dry, out, report)) ||
		    (err = adapter_doctor_sql(conn, cfg, true, dry, out, report)))
			goto out;
		if (flags & WAFA_SETUP_PURGE) {
			if (asprintf(&drop, "DROP SCHEMA IF EXISTS %s CASCADE", quoted) < 0) {
				err = -ENOMEM;
				goto out;
			}
			if (dry)
				fprintf(out, "%s;\n", drop);
			else if ((err = exec(conn, report, drop, 0, NULL, NULL)) == 0)
				fprintf(report, "wafa setup: schema %s and all wafa's records dropped\n",
				        schema);
			free(drop);
			if (err)
				goto out;
		} else if (!dry) {
			fprintf(report, "wafa setup: wafa's records in schema %s are kept (--purge drops "
			                "them)\n",
			        schema);
		}
		err = exec(conn, report, dry ? "ROLLBACK" : "COMMIT", 0, NULL, NULL);
		goto out;
	}
	if (dry) {
		/* what would run, read-only: the migrations past the schema's version */
		res = PQexecParams(conn, "SELECT set_config('search_path', $1, false)", 1, NULL, sp,
		                   NULL, NULL, 0);
		PQclear(res);
		res = PQexec(conn, wafa_schema_version_sql);
		version = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : 0;
		PQclear(res);
		res = NULL;
		fprintf(out, "-- wafa setup --dry-run: schema %s is at version %d; nothing is changed\n",
		        schema, version);
		if (version < NMIGRATIONS)
			fprintf(out, "%s;\nSET search_path = %s;\n", create, quoted);
		for (int v = version + 1; v <= NMIGRATIONS; v++)
			fprintf(out, "-- migration %d\n%s\n", v, migrations[v - 1]);
		if ((err = adapter_sql(conn, cfg, "install", true, out, report)) == 0)
			err = adapter_doctor_sql(conn, cfg, false, true, out, report);
		goto out;
	}
	if ((err = exec(conn, report, "BEGIN", 0, NULL, NULL)) ||
	    (err = exec(conn, report, "SELECT pg_advisory_xact_lock(hashtext('wafa setup'))", 0, NULL,
	                NULL)) ||
	    (err = exec(conn, report, create, 0, NULL, NULL)) ||
	    (err = exec(conn, report, "SELECT set_config('search_path', $1, true)", 1, sp, NULL)) ||
	    (err = exec(conn, report,
	                "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
	                "applied_at timestamptz NOT NULL DEFAULT now())",
	                0, NULL, NULL)) ||
	    (err = exec(conn, report, wafa_schema_version_sql, 0, NULL, &res)))
		goto out;
	version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	if (version > NMIGRATIONS) {
		fprintf(report,
		        "wafa setup: schema %s is at version %d, newer than this wafa (%d); "
		        "upgrade wafa\n",
		        schema, version, NMIGRATIONS);
		err = -EPROTO;
		goto out;
	}
	for (int v = version + 1; v <= NMIGRATIONS; v++) {
		char vs[16];
		const char *vp[] = { vs };
		snprintf(vs, sizeof(vs), "%d", v);
		if ((err = exec(conn, report, migrations[v - 1], 0, NULL, NULL)) ||
		    (err = exec(conn, report, "INSERT INTO schema_version (version) VALUES ($1)", 1, vp,
		                NULL)))
			goto out;
		fprintf(report, "wafa setup: schema %s: applied migration %d\n", schema, v);
	}
	/* the adapter's view and triggers, in the same transaction */
	if ((err = adapter_sql(conn, cfg, "install", false, out, report)) ||
	    (err = adapter_doctor_sql(conn, cfg, false, false, out, report)) ||
	    (err = exec(conn, report, "COMMIT", 0, NULL, NULL)))
		goto out;
	fprintf(report, "wafa setup: schema %s is at version %d\n", schema, NMIGRATIONS);
out:
	PQclear(res);
	free(create);
	free(quoted);
	PQfinish(conn);
	return err;
}
