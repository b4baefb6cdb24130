/* Signed links: the tokens in survey and unsubscribe links.  A token is
 * base64url(payload) "." base64url(HMAC-SHA256(key, payload)), where
 * payload is "v2|KIND|EXPIRES|ID|SCORE" (KIND "s" survey, "u" unsubscribe;
 * EXPIRES Unix seconds; ID the outbox mail id; SCORE 1-5 or 0).  No address
 * is in it (base64 hides nothing): the listener reads it from the outbox row.
 * Tokens of links already sent, "v1|KIND|EXPIRES|ID|EMAIL|SCORE", still
 * verify.  A forged, altered or expired token does not verify. */
#ifndef WAFA_TOKEN_H
#define WAFA_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define WAFA_TOKEN_MAX 512

struct wafa_token {
	char kind;      /* 's' survey, 'u' unsubscribe */
	int64_t expires; /* Unix seconds */
	int64_t mail_id; /* wafa.outbox id */
	char email[320]; /* a v1 token's address (not used); "" in v2 */
	int score;      /* survey: 1..5; else 0 */
};

/* Reads the signing key from path (its bytes, at least 32; a trailing
 * newline is dropped).  Returns 0, -errno, or -EINVAL (too short).  The
 * caller frees *key. */
WAFA_WUR int wafa_token_key_load(const char *path, unsigned char **key, size_t *keylen);

/* Writes the (v2) token for t into out (WAFA_TOKEN_MAX bytes); t->email is
 * not used.  Returns 0 or -EINVAL (a bad kind, id or score). */
WAFA_WUR int wafa_token_make(const unsigned char *key, size_t keylen, const struct wafa_token *t,
                             char *out);

/* Verifies text at now (Unix seconds).  Returns 0 and fills t, or -EBADMSG
 * (malformed or forged) or -ETIME (expired). */
WAFA_WUR int wafa_token_check(const unsigned char *key, size_t keylen, const char *text,
                              int64_t now, struct wafa_token *t);

#endif
