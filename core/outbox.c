#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	"INSERT INTO outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body) "
	"SELECT f.key || '/' || m.n, f.ticket_id, f.rule, f.phase, $2, m.rcpt, m.subject, m.body "
	"  FROM f JOIN jsonb_to_recordset($3::jsonb) "
	"              AS m(key text, n int, rcpt text, subject text, body text) ON m.key = f.key "
	"RETURNING key";

const char wafa_outbox_claim_sql[] =
	"UPDATE outbox SET claimed_until = now() + make_interval(secs => $2::int), "
	"       attempts = attempts + 1 "
	" WHERE id IN (SELECT id FROM outbox "
	"               WHERE status = 'queued' AND next_attempt_at <= now() "
	"                 AND (claimed_until IS NULL OR claimed_until < now()) "
	"               ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
	"RETURNING id, key, mail_from, rcpt, subject, body, attempts, "
	"          (extract(epoch FROM created_at) * 1000)::int8";

const char wafa_outbox_sent_sql[] =
	"UPDATE outbox SET status = 'sent', sent_at = now(), claimed_until = NULL, last_error = NULL "
	" WHERE id = ANY($1::int8[])";

const char wafa_outbox_retry_sql[] =
	"UPDATE outbox SET next_attempt_at = now() + make_interval(secs => $2::float8 / 1000), "
	"       claimed_until = NULL, last_error = $3 WHERE id = $1";

const char wafa_outbox_failed_sql[] =
	"UPDATE outbox SET status = 'failed', claimed_until = NULL, last_error = $2 WHERE id = $1";

static void put(char **p, size_t *len, size_t *cap, int *oom, const char *s, size_t n)
{
	if (*oom)
		return;
	if (*len + n + 1 > *cap) {
		size_t grown = (*len + n + 1) * 2;
		char *q = realloc(*p, grown);
		if (!q) {
			*oom = 1;
			return;
		}
		*p = q;
		*cap = grown;
	}
	memcpy(*p + *len, s, n);
	*len += n;
	(*p)[*len] = '\0';
}

#define PUT_F(b, s, n) put(&(b)->fires, &(b)->fires_len, &(b)->fires_cap, &(b)->oom, (s), (n))
#define PUT_M(b, s, n) put(&(b)->mails, &(b)->mails_len, &(b)->mails_cap, &(b)->oom, (s), (n))

/* A JSON string; the text is valid UTF-8 (rules.c checks what rules give). */
static void put_string(struct wafa_outbox_batch *b, int fires, const char *s)
{
	char esc[8];
	const char *run = s;

#define PUT(str, n) (fires ? PUT_F(b, (str), (n)) : PUT_M(b, (str), (n)))
	PUT("\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p != '"' && *p != '\\' && *p >= 0x20)
			continue;
		PUT(run, (size_t)((const char *)p - run));
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			PUT(esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			PUT(esc, 6);
		}
		run = (const char *)p + 1;
	}
	PUT(run, strlen(run));
	PUT("\"", 1);
#undef PUT
}

void wafa_outbox_batch_init(struct wafa_outbox_batch *b)
{
	memset(b, 0, sizeof(*b));
}

int wafa_outbox_batch_add(struct wafa_outbox_batch *b, const struct wafa_outbox_firing *f,
                          const struct wafa_mail_req *mails, size_t n)
{
	char num[96];
	const char *key = f->key;

	PUT_F(b, b->nfires ? ",{\"key\":" : "{\"key\":", b->nfires ? 8 : 7);
	put_string(b, 1, key);
	snprintf(num, sizeof(num), ",\"ticket_id\":%lld,\"rule\":", (long long)f->ticket_id);
	PUT_F(b, num, strlen(num));
	put_string(b, 1, f->rule);
	PUT_F(b, ",\"phase\":", 9);
	put_string(b, 1, f->phase);
	PUT_F(b, ",\"kind\":", 8);
	put_string(b, 1, f->kind);
	PUT_F(b, ",\"event\":", 9);
	put_string(b, 1, f->event);
	snprintf(num, sizeof(num), ",\"instance\":%lld,\"due_ms\":%lld}", (long long)f->instance,
	         (long long)f->due);
	PUT_F(b, num, strlen(num));
	b->nfires++;
	for (size_t i = 0; i < n; i++) {
		PUT_M(b, b->nmails ? ",{\"key\":" : "{\"key\":", b->nmails ? 8 : 7);
		put_string(b, 0, key);
		snprintf(num, sizeof(num), ",\"n\":%zu,\"rcpt\":", i + 1);
		PUT_M(b, num, strlen(num));
		put_string(b, 0, mails[i].to);
		PUT_M(b, ",\"subject\":", 11);
		put_string(b, 0, mails[i].subject);
		PUT_M(b, ",\"body\":", 8);
		put_string(b, 0, mails[i].body);
		PUT_M(b, "}", 1);
		b->nmails++;
	}
	return b->oom ? -ENOMEM : 0;
}

/* Wraps the elements in [ ]: called once, when the batch is complete. */
static const char *close_array(char **p, size_t *len, size_t *cap, int *oom)
{
	char *q;

	if (*oom)
		return NULL;
	q = malloc(*len + 3);
	if (!q) {
		*oom = 1;
		return NULL;
	}
	q[0] = '[';
	if (*len)
		memcpy(q + 1, *p, *len);
	q[*len + 1] = ']';
	q[*len + 2] = '\0';
	free(*p);
	*p = q;
	*len += 2;
	*cap = *len + 1;
	return q;
}

const char *wafa_outbox_batch_fires(struct wafa_outbox_batch *b)
{
	return close_array(&b->fires, &b->fires_len, &b->fires_cap, &b->oom);
}

const char *wafa_outbox_batch_mails(struct wafa_outbox_batch *b)
{
	return close_array(&b->mails, &b->mails_len, &b->mails_cap, &b->oom);
}

void wafa_outbox_batch_free(struct wafa_outbox_batch *b)
{
	free(b->fires);
	free(b->mails);
	wafa_outbox_batch_init(b);
}
