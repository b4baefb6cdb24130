/* Renders an outbox row into an Internet message with GMime: UTF-8,
 * RFC 2047 headers, CRLF line ends, a Message-ID derived from the outbox
 * key, and Auto-Submitted so helpdesks do not answer it. */
#ifndef WAFA_MESSAGE_H
#define WAFA_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct wafa_message {
	char *data; /* the whole message */
	size_t len;
	char *env_from;
	char **rcpt;
	size_t nrcpt;
};

/* Call once before rendering (on the loop thread). */
void wafa_message_init(void);

/* What a message is made of.  With html, the message is
 * multipart/alternative (text/plain, text/html); without, text/plain. */
struct wafa_message_in {
	const char *from, *to, *subject;
	const char *text;
	const char *html;             /* NULL: text only */
	const char *key;              /* the outbox key: the Message-ID is derived from it */
	int64_t date_ms;
	const char *lang;             /* Content-Language ("ar-EG"), or NULL */
	const char *in_reply_to;      /* the helpdesk thread's Message-ID (<> optional), or NULL:
	                                 In-Reply-To and References */
	const char *list_unsubscribe; /* an http(s) URL, or NULL: List-Unsubscribe, and for an
	                                 https one List-Unsubscribe-Post:
	                                 List-Unsubscribe=One-Click (RFC 8058) */
	int related;                  /* html's src="data:image/png;base64,..." images become
	                                 inline parts of a multipart/related, src="cid:..." */
};

/* Returns 0, or -EINVAL with why for an address that does not parse or an
 * unsubscribe link that is not an http(s) URL. */
WAFA_WUR int wafa_message_build(const struct wafa_message_in *in, struct wafa_message *out,
                                char *why, size_t whylen);

/* The text-only form of wafa_message_build.  Returns 0, or -EINVAL with why
 * for an address that does not parse. */
WAFA_WUR int wafa_message_render(const char *from, const char *to, const char *subject,
                                 const char *body, const char *key, int64_t date_ms,
                                 struct wafa_message *out, char *why, size_t whylen);
void wafa_message_free(struct wafa_message *m);

/* Is to exactly one mailbox: "a@b.example" or "Name <a@b.example>" (the
 * name plain or "quoted")?  A list ("a@x, b@y"), a group ("team: a@x;") or
 * anything after the address is not: a rule's mail goes to exactly the
 * mailbox it names.  On no, *why says what is wrong. */
bool wafa_message_one_mailbox(const char *to, const char **why);

/* The mailbox "name" <email> (malloc'ed): the name quoted, its \ and "
 * escaped, control and bidi control characters dropped; just email for
 * an empty or NULL name.  NULL with *why for an email that is not one
 * address, or without memory (*why "out of memory"). */
char *wafa_message_mailbox(const char *name, const char *email, const char **why);

/* "<hex>@domain" for an outbox key: a retry is recognisably the same mail. */
char *wafa_message_id(const char *key, const char *from_addr);

#endif
