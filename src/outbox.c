#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char wafa_outbox_fire_sql[] =
	"WITH f AS (INSERT INTO fired (key, ticket_id, rule, phase) VALUES ($1, $2, $3, $4) "
	"           ON CONFLICT (key) DO NOTHING RETURNING key) "
	"INSERT INTO outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body) "
	"SELECT f.key || '/' || m.n, $2, $3, $4, $5, m.rcpt, m.subject, m.body "
	"  FROM f, jsonb_to_recordset($6::jsonb) AS m(n int, rcpt text, subject text, body text) "
	"RETURNING id";

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

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void put_json_string(struct buf *b, const char *s)
{
	put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(b, esc, 2);
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			put(b, esc, 6);
		} else {
			put(b, (const char *)p, 1);
		}
	}
	put(b, "\"", 1);
}

char *wafa_outbox_mails_json(const struct wafa_mail_req *mails, size_t n)
{
	struct buf b = { 0 };

	put(&b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		char num[48];
		snprintf(num, sizeof(num), "%s{\"n\":%zu,\"rcpt\":", i ? "," : "", i + 1);
		put(&b, num, strlen(num));
		put_json_string(&b, mails[i].to);
		put(&b, ",\"subject\":", 11);
		put_json_string(&b, mails[i].subject);
		put(&b, ",\"body\":", 8);
		put_json_string(&b, mails[i].body);
		put(&b, "}", 1);
	}
	put(&b, "]", 1);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
