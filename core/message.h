/* Renders an outbox row into an Internet message with GMime: UTF-8,
 * RFC 2047 headers, CRLF line ends, a Message-ID derived from the outbox
 * key, and Auto-Submitted so helpdesks do not answer it. */
#ifndef WAFA_MESSAGE_H
#define WAFA_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct wafa_message {
	char *data; /* the whole message */
	size_t len;
	char *env_from;
	char **rcpt;
	size_t nrcpt;
};

/* Call once before rendering (on the loop thread). */
void wafa_message_init(void);

/* Returns 0, or -EINVAL with why for an address that does not parse. */
WAFA_WUR int wafa_message_render(const char *from, const char *to, const char *subject,
                                 const char *body, const char *key, int64_t date_ms,
                                 struct wafa_message *out, char *why, size_t whylen);
void wafa_message_free(struct wafa_message *m);

/* "<hex>@domain" for an outbox key: a retry is recognisably the same mail. */
char *wafa_message_id(const char *key, const char *from_addr);

#endif
