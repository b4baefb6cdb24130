/* The outbox: what has fired and what is to be sent, in wafa's schema.  A
 * firing inserts its `fired` row and its mails in one statement, keyed
 * rule/ticket/phase/instance: a key already present means "already done",
 * so a restart or a replay never sends twice. */
#ifndef WAFA_OUTBOX_H
#define WAFA_OUTBOX_H

#include <stddef.h>

#include "rules.h"

/* $1 key, $2 ticket id, $3 rule, $4 phase, $5 from, $6 mails as JSON
 * ([{"n":1,"rcpt":...,"subject":...,"body":...}]).  Returns one row per
 * mail queued; none if the key had already fired. */
extern const char wafa_outbox_fire_sql[];
/* $1 batch size, $2 lease seconds: claims due rows (SKIP LOCKED). */
extern const char wafa_outbox_claim_sql[];
/* $1 ids as an array literal "{1,2}". */
extern const char wafa_outbox_sent_sql[];
/* $1 id, $2 retry delay ms, $3 reason. */
extern const char wafa_outbox_retry_sql[];
/* $1 id, $2 reason. */
extern const char wafa_outbox_failed_sql[];

/* The mails as the JSON fire_sql takes; malloc'd, NULL when out of memory. */
char *wafa_outbox_mails_json(const struct wafa_mail_req *mails, size_t n);

#endif
