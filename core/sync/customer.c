#include "sync/customer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deletes the tickets whose last entry has no address, writes the others;
 * a row that is already so is not written again. */
const char wafa_customer_write_sql[] =
	"WITH x AS (SELECT DISTINCT ON (id) id, email, open "
	"             FROM unnest($1::int8[], $2::text[], $3::bool[]) WITH ORDINALITY "
	"                  AS x(id, email, open, n) ORDER BY id, n DESC), "
	"d AS (DELETE FROM customer_ticket ct USING x WHERE ct.ticket_id = x.id AND x.email IS NULL) "
	"INSERT INTO customer_ticket (ticket_id, email, open) "
	"SELECT id, mail_address(email), open FROM x WHERE email IS NOT NULL "
	"ON CONFLICT (ticket_id) DO UPDATE SET email = excluded.email, open = excluded.open "
	" WHERE (customer_ticket.email, customer_ticket.open) IS DISTINCT FROM "
	"       (excluded.email, excluded.open)";

void wafa_customer_init(struct wafa_customer_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void wafa_customer_free(struct wafa_customer_batch *b)
{
	free(b->ids);
	free(b->emails);
	free(b->open);
	memset(b, 0, sizeof(*b));
}

void wafa_customer_params_free(char **params)
{
	if (!params)
		return;
	for (int i = 0; i < 3; i++)
		free(params[i]);
	free(params);
}

static void put(struct wafa_customer_batch *b, char **p, size_t *len, size_t *cap,
                const char *s, size_t n)
{
	if (b->oom)
		return;
	if (*len + n + 2 > *cap) { /* room for "}" and NUL */
		size_t c = *cap ? *cap : 4096;
		char *grown;
		while (c < *len + n + 2)
			c *= 2;
		if (!(grown = realloc(*p, c))) {
			b->oom = true;
			return;
		}
		*p = grown;
		*cap = c;
	}
	memcpy(*p + *len, s, n);
	*len += n;
}

int wafa_customer_add(struct wafa_customer_batch *b, int64_t ticket_id, const char *email,
                      bool open)
{
	const char *sep = b->n ? "," : "{";
	char num[24];
	const char *run, *s;

	put(b, &b->ids, &b->idlen, &b->idcap, sep, 1);
	put(b, &b->ids, &b->idlen, &b->idcap, num,
	    (size_t)snprintf(num, sizeof(num), "%" PRId64, ticket_id));
	put(b, &b->open, &b->openlen, &b->opencap, sep, 1);
	put(b, &b->open, &b->openlen, &b->opencap, open ? "t" : "f", 1);
	put(b, &b->emails, &b->emaillen, &b->emailcap, sep, 1);
	if (!email || !*email) {
		put(b, &b->emails, &b->emaillen, &b->emailcap, "NULL", 4);
	} else {
		put(b, &b->emails, &b->emaillen, &b->emailcap, "\"", 1);
		for (run = s = email; *s; s++)
			if (*s == '"' || *s == '\\') {
				put(b, &b->emails, &b->emaillen, &b->emailcap, run, (size_t)(s - run));
				put(b, &b->emails, &b->emaillen, &b->emailcap, "\\", 1);
				run = s;
			}
		put(b, &b->emails, &b->emaillen, &b->emailcap, run, (size_t)(s - run));
		put(b, &b->emails, &b->emaillen, &b->emailcap, "\"", 1);
	}
	if (b->oom) {
		wafa_customer_free(b);
		return -ENOMEM;
	}
	b->n++;
	return 0;
}

char **wafa_customer_take(struct wafa_customer_batch *b)
{
	char **p;

	if (b->n == 0 || b->oom)
		return NULL;
	p = malloc(3 * sizeof(*p));
	if (!p)
		return NULL;
	/* put() left room for these */
	memcpy(b->ids + b->idlen, "}", 2);
	memcpy(b->emails + b->emaillen, "}", 2);
	memcpy(b->open + b->openlen, "}", 2);
	p[0] = b->ids;
	p[1] = b->emails;
	p[2] = b->open;
	b->ids = b->emails = b->open = NULL;
	wafa_customer_free(b);
	return p;
}
