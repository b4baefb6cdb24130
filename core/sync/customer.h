/* The customer facts a claim needs, kept by wafa as it reads tickets:
 * which customer address each ticket has and whether it is open
 * (wafa.customer_ticket), so the mailer's contact policy looks them up by
 * index instead of scanning the helpdesk's view per customer mail.  Changes
 * collect here and go to the database in batches. */
#ifndef WAFA_CUSTOMER_H
#define WAFA_CUSTOMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* $1 ticket ids, $2 addresses (NULL: the ticket is gone or has none), $3
 * open; the last entry of an id wins. */
extern const char wafa_customer_write_sql[];

struct wafa_customer_batch {
	char *ids, *emails, *open; /* array literals, without their closing brace */
	size_t idlen, emaillen, openlen;
	size_t idcap, emailcap, opencap;
	size_t n;
	bool oom;
};

void wafa_customer_init(struct wafa_customer_batch *b);
/* Adds a ticket's facts (email NULL: it has no customer, or is gone).
 * Returns 0 or -ENOMEM (then the batch is cleared). */
WAFA_WUR int wafa_customer_add(struct wafa_customer_batch *b, int64_t ticket_id,
                               const char *email, bool open);
/* The three parameters of wafa_customer_write_sql, and clears the batch;
 * NULL when it is empty or without memory.  The array and each of its three
 * strings are malloc'ed: wafa_customer_params_free frees them. */
char **wafa_customer_take(struct wafa_customer_batch *b);
void wafa_customer_params_free(char **params);
void wafa_customer_free(struct wafa_customer_batch *b);

#endif
