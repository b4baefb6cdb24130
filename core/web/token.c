#include "web/token.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/log.h"
#include "base/secret.h"

#define MAC_LEN 32         /* SHA-256 */
#define MAC_B64_LEN 43     /* base64url of 32 bytes, no padding */
#define KEY_MIN 32
#define KEY_MAX 4096       /* a key file bigger than this is not a key file */
#define PAYLOAD_MAX 350    /* so that b64(payload) "." b64(mac) fits WAFA_TOKEN_MAX */
#define EMAIL_MAX (sizeof(((struct wafa_token *)0)->email) - 1)

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes n bytes without padding into out (room for 4 * n / 3 + 3); returns
 * the length written (no NUL). */
static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
	}
	return o;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict decoding: the URL-safe alphabet only, no padding, and the unused
 * bits of the last character zero (so each byte string has one spelling).
 * Returns the decoded length, or -1. */
static ssize_t b64_decode(const char *in, size_t n, unsigned char *out, size_t room)
{
	size_t o = 0, i = 0;
	uint32_t v = 0;
	int bits = 0;

	if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > room)
		return -1;
	for (; i < n; i++) {
		int d = b64_value(in[i]);
		if (d < 0)
			return -1;
		v = (v << 6 | (uint32_t)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits & 0xff);
		}
	}
	if (bits && (v & ((1u << bits) - 1)))
		return -1;
	return (ssize_t)o;
}

/* Digits only: no sign, no space, and no more than fits int64_t. */
static int parse_uint(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (n == 0 || n > 19)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static bool valid_email(const char *email)
{
	size_t n = strlen(email);

	if (n == 0 || n > EMAIL_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)email[i];
		if (c == '|' || c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

static bool valid_score(char kind, int64_t score)
{
	return kind == 's' ? score >= 1 && score <= 5 : kind == 'u' ? score == 0 : false;
}

static int mac(const unsigned char *key, size_t keylen, const unsigned char *data, size_t n,
               unsigned char out[MAC_LEN])
{
	unsigned int len = 0;

	if (keylen > INT32_MAX || !HMAC(EVP_sha256(), key, (int)keylen, data, n, out, &len) ||
	    len != MAC_LEN)
		return -EIO;
	return 0;
}

int wafa_token_key_load(const char *path, unsigned char **key, size_t *keylen)
{
	unsigned char *buf = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	*key = NULL;
	*keylen = 0;
	if (fd < 0)
		return -errno;
	char why[600];
	if ((err = wafa_secret_check(fd, path, why, sizeof(why))) != 0) {
		wafa_log(WAFA_ERROR, "web", "[web] key_file %s", why);
		goto out;
	}
	buf = malloc(KEY_MAX + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, KEY_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > KEY_MAX) {
			err = -EFBIG;
			goto out;
		}
	}
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (n < KEY_MIN) {
		err = -EINVAL;
		goto out;
	}
	*key = buf;
	*keylen = n;
	buf = NULL;
out:
	if (buf) {
		OPENSSL_cleanse(buf, KEY_MAX + 1);
		free(buf);
	}
	close(fd);
	return err;
}

int wafa_token_make(const unsigned char *key, size_t keylen, const struct wafa_token *t,
                    char *out)
{
	char payload[PAYLOAD_MAX + 1];
	unsigned char sig[MAC_LEN];
	size_t o;
	int n, err;

	out[0] = '\0';
	if ((t->kind != 's' && t->kind != 'u') || t->expires < 0 || t->mail_id <= 0 ||
	    !valid_score(t->kind, t->score))
		return -EINVAL;
	/* v2 carries the mail's id, not the address (base64 is not secret):
	 * the listener reads the address from the outbox row */
	n = snprintf(payload, sizeof(payload), "v2|%c|%" PRId64 "|%" PRId64 "|%d", t->kind,
	             t->expires, t->mail_id, t->score);
	if (n < 0 || (size_t)n > PAYLOAD_MAX)
		return -EINVAL;
	if ((err = mac(key, keylen, (const unsigned char *)payload, (size_t)n, sig)))
		return err;
	o = b64_encode((const unsigned char *)payload, (size_t)n, out);
	out[o++] = '.';
	o += b64_encode(sig, sizeof(sig), out + o);
	out[o] = '\0';
	OPENSSL_cleanse(sig, sizeof(sig));
	return 0;
}

int wafa_token_check(const unsigned char *key, size_t keylen, const char *text, int64_t now,
                     struct wafa_token *t)
{
	unsigned char payload[PAYLOAD_MAX + 1], sig[MAC_LEN + 3], want[MAC_LEN];
	const char *dot, *f[6];
	size_t len, flen[6];
	ssize_t n, s;
	int64_t expires, id, score;

	len = strnlen(text, WAFA_TOKEN_MAX);
	if (len >= WAFA_TOKEN_MAX || !(dot = memchr(text, '.', len)))
		return -EBADMSG;
	if ((size_t)(text + len - dot - 1) != MAC_B64_LEN)
		return -EBADMSG;
	n = b64_decode(text, (size_t)(dot - text), payload, PAYLOAD_MAX);
	s = b64_decode(dot + 1, MAC_B64_LEN, sig, sizeof(sig));
	if (n <= 0 || s != MAC_LEN)
		return -EBADMSG;
	if (mac(key, keylen, payload, (size_t)n, want) != 0 || CRYPTO_memcmp(want, sig, MAC_LEN) != 0)
		return -EBADMSG;
	/* Signed by us: still parsed as strictly as anything from outside. */
	payload[n] = '\0';
	if (memchr(payload, '\0', (size_t)n))
		return -EBADMSG;
	/* v2: v2|kind|expires|id|score; v1 (links already sent) has the
	 * address before the score */
	int nf = strncmp((const char *)payload, "v1|", 3) == 0 ? 6 : 5;
	f[0] = (const char *)payload;
	for (int i = 0; i < nf; i++) {
		const char *bar = strchr(f[i], '|');
		if ((bar != NULL) != (i < nf - 1))
			return -EBADMSG;
		flen[i] = bar ? (size_t)(bar - f[i]) : strlen(f[i]);
		if (i < nf - 1)
			f[i + 1] = bar + 1;
	}
	const char *sf = f[nf - 1];
	size_t sflen = flen[nf - 1];
	if (flen[0] != 2 || memcmp(f[0], nf == 6 ? "v1" : "v2", 2) != 0 || flen[1] != 1 ||
	    (f[1][0] != 's' && f[1][0] != 'u') || parse_uint(f[2], flen[2], &expires) ||
	    parse_uint(f[3], flen[3], &id) || id <= 0 ||
	    (nf == 6 && (flen[4] == 0 || flen[4] > EMAIL_MAX)) || parse_uint(sf, sflen, &score) ||
	    sflen != 1 || !valid_score(f[1][0], score))
		return -EBADMSG;
	memset(t, 0, sizeof(*t));
	t->kind = f[1][0];
	t->expires = expires;
	t->mail_id = id;
	t->score = (int)score;
	if (nf == 6) {
		memcpy(t->email, f[4], flen[4]);
		t->email[flen[4]] = '\0';
		if (!valid_email(t->email))
			return -EBADMSG;
	}
	if (now >= expires)
		return -ETIME;
	return 0;
}
