#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <stdbool.h>

const char wafa_outbox_fire_sql[] =
	"WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(key text, ticket_id int8, "
	"           rule text, phase text, kind text, instance int8, event text, due_ms float8)), "
	"f AS (INSERT INTO fired (key, ticket_id, rule, phase) "
	"           SELECT key, ticket_id, rule, phase FROM x "
	"           ON CONFLICT (key) DO NOTHING RETURNING key, ticket_id, rule, phase), "
	"j AS (INSERT INTO journal (ticket_id, rule, kind, instance, event, step, at, fired_at) "
	"           SELECT x.ticket_id, x.rule, x.kind, x.instance, x.event, x.phase, "
	"                  to_timestamp(x.due_ms / 1000.0), now() "
	"             FROM x JOIN f ON f.key = x.key ON CONFLICT DO NOTHING) "
	"INSERT INTO outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body, audience, "
	"                    kind, template, vars, locale, tz, thread_message_id, survey) "
	"SELECT f.key || '/' || m.n, f.ticket_id, f.rule, f.phase, $2, m.rcpt, m.subject, m.body, "
	"       m.audience, x.kind, m.template, m.vars, m.locale, m.tz, m.thread, m.survey "
	"  FROM f JOIN x ON x.key = f.key JOIN jsonb_to_recordset($3::jsonb) "
	"              AS m(key text, n int, rcpt text, subject text, body text, audience text, "
	"                   template text, vars jsonb, locale text, tz text, thread text, "
	"                   survey bool) ON m.key = f.key "
	"RETURNING key";

char *wafa_outbox_claim_sql(const char *view)
{
	char *sql;

	if (asprintf(&sql,
	    "WITH c AS (UPDATE outbox SET claimed_until = now() + make_interval(secs => $2::int), "
	    "                 attempts = attempts + 1 "
	    "            WHERE id IN (SELECT id FROM outbox "
	    "                          WHERE status = 'queued' AND next_attempt_at <= now() "
	    "                            AND (claimed_until IS NULL OR claimed_until < now()) "
	    "                            AND NOT id = ANY($5::int8[]) "
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
	    "              (SELECT count(*) FROM %s v WHERE lower(v.customer_email) = a.email "
	    "                  AND v.status NOT IN ('solved', 'closed')) AS open_tickets, "
	    "              (SELECT (extract(epoch FROM max(j.at)) * 1000)::int8 FROM journal j "
	    "                WHERE j.event = 'breach' AND j.ticket_id IN "
	    "                      (SELECT v.id FROM %s v WHERE lower(v.customer_email) = a.email)) "
	    "                  AS last_breach "
	    /* the facts only for a mail to a customer: as a join filter, the
	     * subqueries (a view scan each) ran for every claimed row (630 ms
	     * for 50 staff mails at 10k tickets); OFFSET 0 keeps the planner
	     * from pulling the WHERE back up */
	    "         FROM (SELECT mail_address(c.rcpt) AS email "
	    "                WHERE c.audience = 'customer' OFFSET 0) a) f ON true "
	    " ORDER BY c.next_attempt_at, c.id",
	    view, view) < 0)
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

const char wafa_outbox_retry_sql[] =
	"UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2::float8 / 1000), "
	"       claimed_until = NULL, last_error = $3 WHERE id = $1";

const char wafa_outbox_failed_sql[] =
	"UPDATE outbox SET status = 'failed', claimed_until = NULL, last_error = $2 WHERE id = $1";

void wafa_outbox_batch_init(struct wafa_outbox_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->fires_json = json_array();
	b->mails_json = json_array();
	b->oom = !b->fires_json || !b->mails_json;
}

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

static int append(json_t *array, json_t *o)
{
	return o && json_array_append_new(array, o) == 0 ? 0 : -ENOMEM;
}

int wafa_outbox_batch_add(struct wafa_outbox_batch *b, const struct wafa_outbox_firing *f,
                          const struct wafa_mail_req *mails, size_t n)
{
	if (b->oom)
		return -ENOMEM;
	if (append(b->fires_json,
	           json_pack("{ss sI ss ss ss ss sI sI}", "key", f->key, "ticket_id",
	                     (json_int_t)f->ticket_id, "rule", f->rule, "phase", f->phase, "kind",
	                     f->kind, "event", f->event, "instance", (json_int_t)f->instance,
	                     "due_ms", (json_int_t)f->due)) != 0)
		goto oom;
	b->nfires++;
	for (size_t i = 0; i < n; i++) {
		const struct wafa_mail_req *m = &mails[i];
		char addr[320];
		if (!m->to)
			continue; /* never: the rules host counts a mail only when it is whole */
		wafa_outbox_address(m->to, addr, sizeof(addr));
		bool customer = f->customer_email && strcasecmp(addr, f->customer_email) == 0;
		json_t *vars = m->vars ? json_loads(m->vars, 0, NULL) : json_null();
		if (append(b->mails_json,
		           json_pack("{ss sI ss ss ss ss ss? so ss? ss? ss? sb}", "key", f->key, "n",
		                     (json_int_t)(i + 1), "rcpt", m->to,
		                     "subject", m->subject ? m->subject : "", "body",
		                     m->body ? m->body : "", "audience", customer ? "customer" : "agent",
		                     "template", m->template, "vars", vars ? vars : json_null(), "locale",
		                     m->locale ? m->locale : f->customer_locale, "tz",
		                     customer ? f->customer_tz : NULL, "thread",
		                     customer ? f->thread_message_id : NULL, "survey",
		                     m->survey)) != 0)
			goto oom;
		b->nmails++;
	}
	return 0;
oom:
	b->oom = 1;
	return -ENOMEM;
}

static const char *take(json_t *array, char **text, int *oom)
{
	if (*oom)
		return NULL;
	free(*text);
	*text = json_dumps(array, JSON_COMPACT);
	if (!*text)
		*oom = 1;
	return *text;
}

const char *wafa_outbox_batch_fires(struct wafa_outbox_batch *b)
{
	return take(b->fires_json, &b->fires, &b->oom);
}

const char *wafa_outbox_batch_mails(struct wafa_outbox_batch *b)
{
	return take(b->mails_json, &b->mails, &b->oom);
}

void wafa_outbox_batch_free(struct wafa_outbox_batch *b)
{
	json_decref(b->fires_json);
	json_decref(b->mails_json);
	free(b->fires);
	free(b->mails);
	memset(b, 0, sizeof(*b));
}
