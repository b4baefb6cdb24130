#include "store/outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <inttypes.h>
#include <stdbool.h>

/* The parameters are arrays, not JSON: a jsonb parameter is parsed while
 * the statement is planned, and building it cost wafa a third of its loop
 * in a burst (jansson's objects, their text, their freeing).  At 2,000
 * firings: planning 15-22 ms -> 3-5 ms.  The arrays go in the binary format
 * (store/array.h): each element's length and bytes, neither quoted here
 * nor parsed there. */
const char wafa_outbox_fire_sql[] =
	"WITH x AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], "
	"                                $6::int8[], $7::text[], $8::int8[]) "
	"           AS x(key, ticket_id, rule, phase, kind, instance, event, due_ms)), "
	"j AS (INSERT INTO journal (ticket_id, rule, kind, instance, event, step, at, fired_at) "
	"           SELECT ticket_id, rule, kind, instance, event, phase, "
	"                  to_timestamp(due_ms / 1000.0), now() FROM x "
	"           ON CONFLICT (rule, ticket_id, step, instance) WHERE step <> '' DO NOTHING "
	"           RETURNING ticket_id, rule, step, instance), "
	"f AS (SELECT x.* FROM x JOIN j ON j.rule = x.rule AND j.ticket_id = x.ticket_id "
	"                             AND j.step = x.phase AND j.instance = x.instance), "
	"o AS (INSERT INTO outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body, "
	"                    audience, kind, template, vars, locale, tz, thread_message_id, survey, "
	"                    status, last_error, channel, target, payload) "
	"SELECT f.key || '/' || m.n, f.ticket_id, f.rule, f.phase, $9::text, m.rcpt, m.subject, "
	"       m.body, m.audience, CASE WHEN f.event = 'answer' THEN 'answer' ELSE f.kind END, "
	"       m.template, m.vars::jsonb, m.locale, m.tz, m.thread, "
	"       m.survey, CASE WHEN m.held IS NULL THEN 'queued' ELSE 'skipped' END, m.held, "
	"       m.channel, m.target, m.payload::jsonb "
	"  FROM f "
	"  JOIN unnest($10::text[], $11::int4[], $12::text[], $13::text[], $14::text[], $15::text[], "
	"              $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::bool[], "
	"              $22::text[], $23::text[], $24::text[], $25::text[]) "
	"       AS m(key, n, rcpt, subject, body, audience, template, vars, locale, tz, thread, "
	"            survey, held, channel, target, payload) ON m.key = f.key "
	"RETURNING key, status, channel) "
	"SELECT key, channel FROM o WHERE status = 'queued'";

char *wafa_outbox_claim_sql(const char *view)
{
	char *sql;

	(void)view;

	if (asprintf(&sql,
	    "WITH c AS (UPDATE outbox SET claimed_until = now() + make_interval(secs => $2::int), "
	    "                 claimed_by = pg_backend_pid(), attempts = attempts + 1 "
	    "            WHERE id IN (SELECT id FROM outbox "
	    "                          WHERE status = 'queued' AND channel = 'mail' "
	    "                            AND next_attempt_at <= now() "
	    /* a lease whose claimer's session is gone (a hold or retry it
	     * could not record) is free at once, not when its hour runs out */
	    "                            AND (claimed_until IS NULL OR claimed_until < now() "
	    "                                 OR claimed_by NOT IN (SELECT pid FROM pg_stat_activity)) "
	    "                            AND NOT id = ANY($5::int8[]) "
	    /* fencing: only while this instance's work session ($6) holds
	     * the leader lock (daemon.c), however late it learns it lost it */
	    "                            AND EXISTS (SELECT 1 FROM pg_locks l "
	    "                                 WHERE l.locktype = 'advisory' AND l.granted "
	    "                                   AND l.pid = $6::int4 AND l.objsubid = 1 "
	    "                                   AND ((l.classid::int8 << 32) | l.objid::int8) = "
	    "                                       hashtextextended('wafa leader:' || $7, 0)) "
	    "                          ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
	    "           RETURNING *) "
	    "SELECT c.id, c.key, c.mail_from, c.rcpt, c.subject, c.body, c.attempts, "
	    "       (extract(epoch FROM c.created_at) * 1000)::int8, c.audience, c.kind, c.template, "
	    "       c.vars::text, c.locale, c.tz, c.thread_message_id, c.survey, "
	    "       f.opted_out, f.mails_recent, f.offers_recent, f.open_tickets, f.last_breach, "
	    "       c.ticket_id, c.rule "
	    "  FROM c LEFT JOIN LATERAL ( "
	    "       SELECT EXISTS (SELECT 1 FROM optout o WHERE o.email = a.email) AS opted_out, "
	    "              (SELECT count(*) FROM outbox b WHERE b.audience = 'customer' "
	    "                  AND b.status = 'sent' AND mail_address(b.rcpt) = a.email "
	    "                  AND b.sent_at > now() - make_interval(secs => $3::float8 / 1000)) "
	    "                  AS mails_recent, "
	    "              (SELECT count(*) FROM outbox b WHERE b.audience = 'customer' "
	    "                  AND b.kind = 'offer' AND b.status = 'sent' "
	    "                  AND mail_address(b.rcpt) = a.email "
	    "                  AND b.sent_at > now() - make_interval(secs => $4::float8 / 1000)) "
	    "                  AS offers_recent, "
	    /* kept by wafa as it reads tickets (customer_ticket): an index
	     * lookup, whatever the number of tickets */
	    "              (SELECT count(*) FROM customer_ticket ct "
	    "                WHERE ct.email = a.email AND ct.open) AS open_tickets, "
	    "              (SELECT (extract(epoch FROM max(j.at)) * 1000)::int8 "
	    "                 FROM customer_ticket ct JOIN journal j ON j.ticket_id = ct.ticket_id "
	    "                WHERE ct.email = a.email AND j.event = 'breach') AS last_breach "
	    /* the facts only for a mail to a customer: as a join filter, the
	     * subqueries (a view scan each) ran for every claimed row (630 ms
	     * for 50 staff mails at 10k tickets); OFFSET 0 keeps the planner
	     * from pulling the WHERE back up */
	    "         FROM (SELECT mail_address(c.rcpt) AS email "
	    "                WHERE c.audience = 'customer' OFFSET 0) a) f ON true "
	    " ORDER BY c.next_attempt_at, c.id") < 0)
		return NULL;
	return sql;
}

const char wafa_outbox_hold_sql[] =
	"UPDATE outbox SET next_attempt_at = to_timestamp($2::float8 / 1000), claimed_until = NULL, "
	"       attempts = greatest(attempts - 1, 0), held_reason = $3 WHERE id = $1";

const char wafa_outbox_skip_sql[] =
	"UPDATE outbox SET status = 'skipped', claimed_until = NULL, last_error = $2 WHERE id = $1";

const char wafa_outbox_sent_sql[] =
	"UPDATE outbox SET status = 'sent', sent_at = now(), claimed_until = NULL, last_error = NULL "
	" WHERE id = ANY($1::int8[])";

/* a mail session's record of one mail, on its own connection: what follows
 * "UPDATE schema.outbox " (mail/mailer.c) */
const char wafa_outbox_sent_one_sql[] =
	"SET status = 'sent', sent_at = now(), claimed_until = NULL, last_error = NULL "
	"WHERE id = $1::int8";

const char wafa_outbox_retry_sql[] =
	"UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2::float8 / 1000), "
	"       claimed_until = NULL, last_error = $3 WHERE id = $1";

const char wafa_outbox_failed_sql[] =
	"UPDATE outbox SET status = 'failed', claimed_until = NULL, last_error = $2, "
	"       failed_at = now() WHERE id = $1";

void wafa_outbox_address(const char *to, char *out, size_t len)
{
	const char *lt = strrchr(to, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	size_t n = lt && gt ? (size_t)(gt - lt - 1) : strlen(to);

	if (lt && gt)
		to = lt + 1;
	while (n > 0 && (*to == ' ' || *to == '\t'))
		to++, n--;
	while (n > 0 && (to[n - 1] == ' ' || to[n - 1] == '\t'))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(out, to, n);
	out[n] = '\0';
}

const char *const wafa_out_channel_names[] = { "mail", "webhook", "ticket" };

bool wafa_outbox_is_customer(const char *to, const char *customer_email)
{
	char addr[320];

	if (!to || !customer_email)
		return false;
	wafa_outbox_address(to, addr, sizeof(addr));
	return strcasecmp(addr, customer_email) == 0;
}

/* The columns, in the order of their parameters (the sender, $9, between). */
enum {
	F_KEY, F_TICKET, F_RULE, F_PHASE, F_KIND, F_INSTANCE, F_EVENT, F_DUE,
	M_KEY, M_N, M_RCPT, M_SUBJECT, M_BODY, M_AUDIENCE, M_TEMPLATE, M_VARS, M_LOCALE, M_TZ,
	M_THREAD, M_SURVEY, M_HELD, M_CHANNEL, M_TARGET, M_PAYLOAD,
	NCOLS
};

static const uint32_t col_oid[NCOLS] = {
	[F_KEY] = WAFA_OID_TEXT, [F_TICKET] = WAFA_OID_INT8, [F_RULE] = WAFA_OID_TEXT,
	[F_PHASE] = WAFA_OID_TEXT, [F_KIND] = WAFA_OID_TEXT, [F_INSTANCE] = WAFA_OID_INT8,
	[F_EVENT] = WAFA_OID_TEXT, [F_DUE] = WAFA_OID_INT8, [M_KEY] = WAFA_OID_TEXT,
	[M_N] = WAFA_OID_INT4, [M_RCPT] = WAFA_OID_TEXT, [M_SUBJECT] = WAFA_OID_TEXT,
	[M_BODY] = WAFA_OID_TEXT, [M_AUDIENCE] = WAFA_OID_TEXT, [M_TEMPLATE] = WAFA_OID_TEXT,
	[M_VARS] = WAFA_OID_TEXT, [M_LOCALE] = WAFA_OID_TEXT, [M_TZ] = WAFA_OID_TEXT,
	[M_THREAD] = WAFA_OID_TEXT, [M_SURVEY] = WAFA_OID_BOOL, [M_HELD] = WAFA_OID_TEXT,
	[M_CHANNEL] = WAFA_OID_TEXT, [M_TARGET] = WAFA_OID_TEXT, [M_PAYLOAD] = WAFA_OID_TEXT,
};

void wafa_outbox_batch_init(struct wafa_outbox_batch *b)
{
	memset(b, 0, sizeof(*b));
	for (int col = 0; col < NCOLS; col++)
		wafa_array_init(&b->cols[col], col_oid[col]);
}

static void put_text(struct wafa_outbox_batch *b, int col, const char *s)
{
	wafa_array_text(&b->cols[col], s);
}

static void put_int(struct wafa_outbox_batch *b, int col, int64_t v)
{
	wafa_array_int8(&b->cols[col], v);
}

int wafa_outbox_batch_add(struct wafa_outbox_batch *b, const struct wafa_outbox_firing *f,
                          const struct wafa_mail_req *mails, size_t n)
{
	put_text(b, F_KEY, f->key);
	put_int(b, F_TICKET, f->ticket_id);
	put_text(b, F_RULE, f->rule);
	put_text(b, F_PHASE, f->phase);
	put_text(b, F_KIND, f->kind);
	put_int(b, F_INSTANCE, f->instance);
	put_text(b, F_EVENT, f->event);
	put_int(b, F_DUE, f->due);
	for (size_t i = 0; i < n; i++) {
		const struct wafa_mail_req *m = &mails[i];
		if (!m->to)
			continue; /* never: the rules host counts a mail only when it is whole */
		bool customer = wafa_outbox_is_customer(m->to, f->customer_email);
		put_text(b, M_KEY, f->key);
		wafa_array_int4(&b->cols[M_N], (int32_t)(i + 1));
		put_text(b, M_RCPT, m->to);
		put_text(b, M_SUBJECT, m->subject ? m->subject : "");
		put_text(b, M_BODY, m->body ? m->body : "");
		put_text(b, M_AUDIENCE, customer ? "customer" : "agent");
		put_text(b, M_TEMPLATE, m->template);
		put_text(b, M_VARS, m->vars); /* a JSON object's text (the rules host wrote it) */
		put_text(b, M_LOCALE, m->locale ? m->locale : f->customer_locale);
		put_text(b, M_TZ, customer ? f->customer_tz : NULL);
		put_text(b, M_THREAD, customer ? f->thread_message_id : NULL);
		wafa_array_bool(&b->cols[M_SURVEY], m->survey);
		put_text(b, M_HELD, customer ? f->held_customer : f->held_agent);
		put_text(b, M_CHANNEL, wafa_out_channel_names[m->channel]);
		put_text(b, M_TARGET, m->target);
		put_text(b, M_PAYLOAD, m->payload);
		b->nmails++;
	}
	for (int col = 0; col < NCOLS; col++)
		if (b->cols[col].oom)
			return -ENOMEM;
	b->nfires++;
	return 0;
}

int wafa_outbox_batch_params(struct wafa_outbox_batch *b, const char *from,
                             const char *params[WAFA_OUTBOX_NPARAMS],
                             int lengths[WAFA_OUTBOX_NPARAMS], int formats[WAFA_OUTBOX_NPARAMS])
{
	int p = 0;

	for (int col = 0; col < NCOLS; col++) {
		if (col == M_KEY) {
			lengths[p] = 0;
			formats[p] = 0; /* text */
			params[p++] = from;
		}
		formats[p] = 1;
		if (!(params[p] = wafa_array_finish(&b->cols[col], &lengths[p])))
			return -ENOMEM;
		p++;
	}
	return 0;
}

void wafa_outbox_batch_free(struct wafa_outbox_batch *b)
{
	for (int col = 0; col < NCOLS; col++)
		wafa_array_free(&b->cols[col]);
	memset(b, 0, sizeof(*b));
}
