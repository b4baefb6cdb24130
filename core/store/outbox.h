/* The outbox: what is to be sent, in wafa's schema.  A firing inserts its
 * journal step row (the record that it fired) and its mails in one
 * statement, the step unique by
 * rule/ticket/phase/instance: a key already present means "already done",
 * so a restart or a replay never sends twice. */
#ifndef WAFA_OUTBOX_H
#define WAFA_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "mail/mail.h"
#include "store/array.h"

/* Its WAFA_OUTBOX_NPARAMS parameters come from wafa_outbox_batch_params: the
 * firings as arrays ($1-$8: key, ticket_id, rule, phase, kind, instance,
 * event, due ms), the sender ($9), their mails as arrays ($10-$22: firing key,
 * n, rcpt, subject, body, audience, template, vars, locale, tz, thread,
 * survey, held; $23-$25: channel, target, payload).  Records each firing
 * whose step row is new (journal_step) and its mails, in one statement (a
 * held mail as skipped, its reason in last_error; the mails of an on_answer,
 * event "answer", as outbox kind "answer"); returns one row per mail (or
 * webhook, ticket action) queued: KEY/N, channel. */
#define WAFA_OUTBOX_NPARAMS 25
extern const char wafa_outbox_fire_sql[];
/* The claim query for a helpdesk view (quoted): $1 batch size, $2 lease
 * seconds, $3 and $4 the [contact] customer_mails and offers windows in ms,
 * $5 the ids the claiming process holds ("{1,2}": never claimed twice, even
 * if a lease reset made them look free), $6 the backend pid of the
 * instance's work session and $7 the schema: rows are claimed only while
 * that session holds the leader lock (fencing), and each records the
 * claimer (claimed_by, the claiming session's backend pid).
 * Claims due rows (SKIP LOCKED) and returns, per row, the columns named by
 * enum wafa_outbox_col, with the contact facts for a mail to a customer
 * (from customer_ticket and the journal, not the view: quoted_view is no
 * longer read).  Returns a malloc'ed string or NULL. */
char *wafa_outbox_claim_sql(const char *quoted_view);
enum wafa_outbox_col {
	WAFA_OB_ID, WAFA_OB_KEY, WAFA_OB_FROM, WAFA_OB_RCPT, WAFA_OB_SUBJECT, WAFA_OB_BODY,
	WAFA_OB_ATTEMPTS, WAFA_OB_CREATED_MS, WAFA_OB_AUDIENCE, WAFA_OB_KIND, WAFA_OB_TEMPLATE,
	WAFA_OB_VARS, WAFA_OB_LOCALE, WAFA_OB_TZ, WAFA_OB_THREAD, WAFA_OB_SURVEY,
	WAFA_OB_OPTED_OUT, WAFA_OB_MAILS_RECENT, WAFA_OB_OFFERS_RECENT, WAFA_OB_OPEN_TICKETS,
	WAFA_OB_LAST_BREACH_MS, WAFA_OB_TICKET_ID, WAFA_OB_RULE,
};
/* $1 id, $2 ms to try again at, $3 why: the contact policy holds it. */
extern const char wafa_outbox_hold_sql[];
/* $1 id, $2 why: the contact policy skips it for good. */
extern const char wafa_outbox_skip_sql[];
/* $1 ids as an array literal "{1,2}". */
extern const char wafa_outbox_sent_one_sql[];
extern const char wafa_outbox_sent_sql[];
/* $1 id, $2 retry delay ms, $3 reason. */
extern const char wafa_outbox_retry_sql[];
/* $1 id, $2 reason. */
extern const char wafa_outbox_failed_sql[];

/* The parameters of fire_sql, built firing by firing: one binary array a
 * column. */
struct wafa_outbox_batch {
	struct wafa_array cols[WAFA_OUTBOX_NPARAMS - 1];
	size_t nfires, nmails;
};

/* One firing as the outbox records it. */
struct wafa_outbox_firing {
	const char *key; /* rule/ticket/phase/instance */
	int64_t ticket_id;
	const char *rule, *phase;
	const char *kind;  /* sla, promise */
	const char *event; /* warn, breach, escalate (the journal's) */
	int64_t instance;
	int64_t due; /* ms: when the step fell due */
	/* whom a mail to is a mail to a customer (the contact policy applies),
	 * and what it is rendered with; each may be NULL */
	const char *customer_email, *customer_locale, *customer_tz, *thread_message_id;
	/* the go-live guard: why its mails to a customer (to agents) are held
	 * back and recorded skipped, or NULL: they are queued */
	const char *held_customer, *held_agent;
};

/* The bare address of "Name <addr>" or "addr" into out (len bytes). */
void wafa_outbox_address(const char *to, char *out, size_t len);

/* Whether a mail to `to` is one to the ticket's customer (NULL: none). */
bool wafa_outbox_is_customer(const char *to, const char *customer_email);

void wafa_outbox_batch_init(struct wafa_outbox_batch *b);
/* Adds a firing and its mails.  Returns 0 or -ENOMEM. */
int wafa_outbox_batch_add(struct wafa_outbox_batch *b, const struct wafa_outbox_firing *f,
                          const struct wafa_mail_req *mails, size_t n);
/* Points params at fire_sql's parameters, from the sender, with their
 * lengths and formats for wafa_pg_query_binary (the arrays binary, the
 * sender text); valid until the batch is freed or added to.  Returns 0 or
 * -ENOMEM. */
WAFA_WUR int wafa_outbox_batch_params(struct wafa_outbox_batch *b, const char *from,
                                      const char *params[WAFA_OUTBOX_NPARAMS],
                                      int lengths[WAFA_OUTBOX_NPARAMS],
                                      int formats[WAFA_OUTBOX_NPARAMS]);
void wafa_outbox_batch_free(struct wafa_outbox_batch *b);

#endif
