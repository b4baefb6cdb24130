/* The contact policy for mail to customers ([contact] in wafa.conf): opt-outs
 * (always), quiet hours in the customer's own time zone (a mail due at night
 * is held until morning, never dropped), caps per customer across all rules,
 * and for offers: none while the customer has an open ticket, none soon
 * after a breached SLA.  Mail to agents is never held.  A pure decision on
 * facts the mailer reads with the mail it claims; nothing here does I/O. */
#ifndef WAFA_CONTACT_H
#define WAFA_CONTACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

/* What is known of the customer when a mail to them is about to go. */
struct wafa_contact_facts {
	bool opted_out;
	int64_t mails_recent;   /* customer mails sent within [contact] customer_mails' window */
	int64_t offers_recent;  /* offers sent within [contact] offers' window */
	int64_t open_tickets;
	int64_t last_breach_ms; /* the last breach on any of their tickets, or WAFA_NO_TIME */
};

enum wafa_contact_verdict {
	WAFA_CONTACT_SEND,
	WAFA_CONTACT_HOLD, /* try again at *until */
	WAFA_CONTACT_SKIP, /* never: recorded as skipped with why */
};

/* Decides for a mail to a customer in zone tz (NULL: [contact] default_tz)
 * at now (ms).  offer: the mail comes from an offer rule.  why gets the
 * reason for a hold or a skip ("quiet hours (21:00-08:00 Asia/Tehran) until
 * 2026-11-30T04:30:00Z", "opted out", "cap 3/7d reached"). */
enum wafa_contact_verdict wafa_contact_decide(const struct wafa_config *cfg,
                                              const struct wafa_contact_facts *f, bool offer,
                                              const char *tz, int64_t now, int64_t *until,
                                              char *why, size_t whylen);

#endif
