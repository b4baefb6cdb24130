/* Signed links: tokens made and checked, forged, altered, expired and
 * malformed ones refused, key files; then the web listener on the loop
 * (libmicrohttpd driven by libuv) answering /health, bad links, wrong
 * methods and paths, and a 503 while the database is away, by a client on
 * another thread.  The expected token text is built apart from token.c,
 * with OpenSSL's standard base64 turned into base64url by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "time/clock.h"
#include "base/config.h"
#include "store/pg.h"
#include "web/token.h"
#include "web/web.h"

static const unsigned char KEY[] = "0123456789abcdef0123456789abcdef-test-key";
#define KEYLEN (sizeof(KEY) - 1)
#define NOW 1780000000LL

static struct wafa_token tok(char kind, int64_t expires, int64_t id, const char *email, int score)
{
	struct wafa_token t;

	memset(&t, 0, sizeof(t));
	t.kind = kind;
	t.expires = expires;
	t.mail_id = id;
	snprintf(t.email, sizeof(t.email), "%s", email);
	t.score = score;
	return t;
}

/* base64url without padding, by way of OpenSSL's standard base64 */
static void b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* A token for any payload text, signed with key: what a forger with the
 * key (or token.c) would write. */
static void sign(const unsigned char *key, size_t keylen, const char *payload, size_t n, char *out)
{
	unsigned char mac[32];
	unsigned int maclen = 0;

	assert_non_null(HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)payload, n, mac,
	                     &maclen));
	b64url((const unsigned char *)payload, n, out);
	strcat(out, ".");
	b64url(mac, maclen, out + strlen(out));
}

static void round_trip(void **state)
{
	char text[WAFA_TOKEN_MAX], want[1024];
	struct wafa_token in = tok('s', NOW + 3600, 42, "Layla.Haddad@example.com", 4), out;

	(void)state;
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), 0);
	/* the format in token.h, made independently: the mail's id, not the
	 * customer's address (issue 17, 12: base64 hides nothing) */
	const char *payload = "v2|s|1780003600|42|4";
	sign(KEY, KEYLEN, payload, strlen(payload), want);
	assert_string_equal(text, want);
	assert_null(strstr(text, "TGF5bGE")); /* "Layla" in base64 */
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), 0);
	assert_int_equal(out.kind, 's');
	assert_int_equal(out.expires, NOW + 3600);
	assert_int_equal(out.mail_id, 42);
	assert_string_equal(out.email, "");
	assert_int_equal(out.score, 4);
	/* a link already sent (v1, with the address) still verifies */
	const char *v1 = "v1|s|1780003600|42|Layla.Haddad@example.com|4";
	sign(KEY, KEYLEN, v1, strlen(v1), want);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, want, NOW, &out), 0);
	assert_int_equal(out.mail_id, 42);
	assert_int_equal(out.score, 4);
	/* only URL-safe characters */
	assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
	                 strlen(text));

	in = tok('u', NOW + 1, 9007199254740993LL, "a@b.c", 0);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), 0);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), 0);
	assert_int_equal(out.kind, 'u');
	assert_int_equal(out.mail_id, 9007199254740993LL);
	assert_int_equal(out.score, 0);

	/* every score and payload length (all three base64 tails) */
	for (int s = 1; s <= 5; s++) {
		for (int64_t id = 7; id < 7000; id *= 10) {
			in = tok('s', NOW + 60, id, "", s);
			assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), 0);
			assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), 0);
			assert_int_equal(out.score, s);
			assert_int_equal(out.mail_id, id);
		}
	}
}

static void forged_signature(void **state)
{
	static const unsigned char other[] = "another key, also long enough, 32+ bytes";
	char text[WAFA_TOKEN_MAX];
	struct wafa_token in = tok('s', NOW + 3600, 42, "a@example.com", 5), out;

	(void)state;
	assert_int_equal(wafa_token_make(other, sizeof(other) - 1, &in, text), 0);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	/* one character of the signature changed, in each place */
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), 0);
	char *sig = strchr(text, '.') + 1;
	for (size_t i = 0; i < strlen(sig); i++) {
		char keep = sig[i];
		sig[i] = keep == 'A' ? 'B' : 'A';
		assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
		sig[i] = keep;
	}
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), 0);
	/* the right key cut short is another key */
	assert_int_equal(wafa_token_check(KEY, KEYLEN - 1, text, NOW, &out), -EBADMSG);
}

static void altered_payload(void **state)
{
	char text[WAFA_TOKEN_MAX], forged[WAFA_TOKEN_MAX * 2], p64[WAFA_TOKEN_MAX];
	struct wafa_token in = tok('s', NOW + 3600, 42, "a@example.com", 1), out;

	(void)state;
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), 0);
	const char *sig = strchr(text, '.');
	/* another score, mail, address, expiry or kind under the old signature */
	const char *payloads[] = {
		"v2|s|1780003600|42|5", "v2|s|1780003600|43|1", "v2|s|1880003600|42|1",
		"v2|u|1780003600|42|0", "v1|s|1780003600|42|a@example.com|1",
	};
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		b64url((const unsigned char *)payloads[i], strlen(payloads[i]), p64);
		snprintf(forged, sizeof(forged), "%s%s", p64, sig);
		assert_int_equal(wafa_token_check(KEY, KEYLEN, forged, NOW, &out), -EBADMSG);
	}
	/* each character of the payload changed */
	for (const char *p = text; *p != '.'; p++) {
		strcpy(forged, text);
		size_t i = (size_t)(p - text);
		forged[i] = forged[i] == 'A' ? 'B' : 'A';
		assert_int_equal(wafa_token_check(KEY, KEYLEN, forged, NOW, &out), -EBADMSG);
	}
}

static void expired(void **state)
{
	char text[WAFA_TOKEN_MAX];
	struct wafa_token in = tok('u', NOW, 42, "a@example.com", 0), out;

	(void)state;
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), 0);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW - 1, &out), 0);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -ETIME);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW + 86400 * 365, &out), -ETIME);
	/* expired and forged: forged */
	text[0] = text[0] == 'A' ? 'B' : 'A';
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW + 1, &out), -EBADMSG);
}

static void malformed(void **state)
{
	char good[WAFA_TOKEN_MAX], text[4096];
	struct wafa_token in = tok('s', NOW + 3600, 42, "a@example.com", 3), out;

	(void)state;
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, good), 0);
	const char *dot = strchr(good, '.');
	int plen = (int)(dot - good);

	/* shapes that never verify */
	const char *shapes[] = {
		"", ".", "..", "abc", "abc.", ".abc", "a.b.c", "=", "v1|s|1|1|a@b|1",
		"dGVzdA", "dGVzdA.", "dGVzdA==.AAAA", "%00", " ", "\t.\n",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		assert_int_equal(wafa_token_check(KEY, KEYLEN, shapes[i], NOW, &out), -EBADMSG);

	/* the good token bent in many ways */
	const char *around[][2] = {
		{ "", "=" }, { "", "==" },   /* padding */
		{ " ", "" }, { "", " " }, { "", "\n" }, /* white space */
		{ "", "A" },                 /* one more character */
		{ "", "." }, { "", ".AAAA" }, /* a second dot */
		{ "A", "" },
	};
	for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++) {
		snprintf(text, sizeof(text), "%s%s%s", around[i][0], good, around[i][1]);
		assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	}
	/* cut short anywhere */
	for (size_t n = 0; n < strlen(good); n++) {
		snprintf(text, sizeof(text), "%.*s", (int)n, good);
		assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	}
	/* standard base64 letters instead of URL-safe ones, and padding in the middle */
	snprintf(text, sizeof(text), "%.*s+%s", plen - 1, good, dot);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	snprintf(text, sizeof(text), "%.*s/%s", plen - 1, good, dot);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	snprintf(text, sizeof(text), "%.*s=%s", plen - 1, good, dot);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	/* a signature's last character with bits set that base64 leaves unused
	 * (the same bytes, spelled another way) */
	strcpy(text, good);
	char *last = text + strlen(text) - 1;
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int v = (int)(strchr(alpha, *last) - alpha);
	*last = alpha[v ^ 1];
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	/* a token far too long */
	memset(text, 'A', 3000);
	text[3000] = '\0';
	text[1500] = '.';
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);

	/* correctly signed payloads that are not tokens: the parser is strict
	 * even behind the signature */
	const char *payloads[] = {
		"", "v1", "v1|s|1780003600|42|a@example.com", "v1|s|1780003600|42|a@example.com|3|x",
		"v2|s|1780003600|42|a@example.com|3", "V1|s|1780003600|42|a@example.com|3",
		"v1|x|1780003600|42|a@example.com|3", "v1|ss|1780003600|42|a@example.com|3",
		"v1||1780003600|42|a@example.com|3", "v1|s||42|a@example.com|3",
		"v1|s|-1780003600|42|a@example.com|3", "v1|s|+1780003600|42|a@example.com|3",
		"v1|s|1.7e9|42|a@example.com|3", "v1|s|1780003600|0|a@example.com|3",
		"v1|s|1780003600|-42|a@example.com|3", "v1|s|1780003600|4 2|a@example.com|3",
		"v1|s|99999999999999999999|42|a@example.com|3",
		"v1|s|1780003600|9223372036854775808|a@example.com|3", "v1|s|1780003600|42||3",
		"v1|s|1780003600|42|a@example.com|0", "v1|s|1780003600|42|a@example.com|6",
		"v1|s|1780003600|42|a@example.com|03", "v1|s|1780003600|42|a@example.com|",
		"v1|u|1780003600|42|a@example.com|1", "v1|s|1780003600|42|a@exa\nmple.com|3",
		"v1|s|1780003600|42|a|b@example.com|3", "|v1|s|1780003600|42|a@example.com|3",
	};
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		sign(KEY, KEYLEN, payloads[i], strlen(payloads[i]), text);
		assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	}
	/* a NUL inside the signed payload */
	static const char nul[] = "v1|s|1780003600|42|a@example.com\0x|3";
	sign(KEY, KEYLEN, nul, sizeof(nul) - 1, text);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), -EBADMSG);
	/* and the same signing helper does make a token that works */
	sign(KEY, KEYLEN, "v1|s|1780003600|42|a@example.com|3", 34, text);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, text, NOW, &out), 0);
}

/* Random edits of a good token (a fixed seed: the same every run): none
 * verifies unless it is the token itself, and none crashes the parser. */
static void mutations(void **state)
{
	static const char chars[] = "AZaz09-_.=+/ |%\xff";
	char good[WAFA_TOKEN_MAX], text[WAFA_TOKEN_MAX + 8];
	struct wafa_token in = tok('s', NOW + 3600, 42, "a@example.com", 3), out;
	uint32_t seed = 12345;

	(void)state;
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, good), 0);
	for (int round = 0; round < 20000; round++) {
		size_t n = strlen(good);
		memcpy(text, good, n + 1);
		for (int edits = 1 + round % 3; edits > 0; edits--) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % (n + 1);
			char ch = chars[(seed >> 20) % (sizeof(chars) - 1)];
			switch ((seed >> 28) % 3) {
			case 0: /* replace */
				if (at < n)
					text[at] = ch;
				break;
			case 1: /* insert */
				if (n + 1 < sizeof(text)) {
					memmove(text + at + 1, text + at, n - at + 1);
					text[at] = ch;
					n++;
				}
				break;
			default: /* delete */
				if (at < n) {
					memmove(text + at, text + at + 1, n - at);
					n--;
				}
			}
		}
		int err = wafa_token_check(KEY, KEYLEN, text, NOW, &out);
		if (strcmp(text, good) == 0)
			assert_int_equal(err, 0);
		else
			assert_int_equal(err, -EBADMSG);
	}
}

static void refused_to_make(void **state)
{
	char text[WAFA_TOKEN_MAX];
	struct wafa_token in;

	(void)state;
	in = tok('s', NOW, 42, "", 0);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), -EINVAL);
	assert_string_equal(text, "");
	in = tok('s', NOW, 42, "", 6);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), -EINVAL);
	in = tok('u', NOW, 42, "", 2);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), -EINVAL);
	in = tok('x', NOW, 42, "", 0);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), -EINVAL);
	in = tok('s', NOW, 0, "", 1);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), -EINVAL);
	in = tok('s', -1, 42, "", 1);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), -EINVAL);
	/* the address is not in the token, whatever it is */
	in = tok('s', NOW + 10, INT64_MAX, "a|b@example.com", 1);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &in, text), 0);
	assert_true(strlen(text) < 100);
}

static char *write_file(const char *data, size_t n)
{
	char *path = strdup("/tmp/wafa-test-key-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	return path;
}

static void key_files(void **state)
{
	unsigned char *key = NULL;
	size_t len = 0;
	char *path;

	(void)state;
	/* 31 bytes: too short, with or without a newline */
	path = write_file("0123456789abcdef0123456789abcde", 31);
	assert_int_equal(wafa_token_key_load(path, &key, &len), -EINVAL);
	assert_null(key);
	unlink(path);
	free(path);
	path = write_file("0123456789abcdef0123456789abcde\n", 32);
	assert_int_equal(wafa_token_key_load(path, &key, &len), -EINVAL);
	unlink(path);
	free(path);
	path = write_file("", 0);
	assert_int_equal(wafa_token_key_load(path, &key, &len), -EINVAL);
	unlink(path);
	free(path);
	/* 32 bytes and a newline: the newline is not part of the key */
	path = write_file("0123456789abcdef0123456789abcdef\n", 33);
	assert_int_equal(wafa_token_key_load(path, &key, &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(key, "0123456789abcdef0123456789abcdef", 32);
	free(key);
	unlink(path);
	free(path);
	/* binary bytes are fine */
	unsigned char bin[48];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 37);
	path = write_file((const char *)bin, sizeof(bin));
	assert_int_equal(wafa_token_key_load(path, &key, &len), 0);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(key, bin, sizeof(bin));
	free(key);
	unlink(path);
	free(path);
	/* a key its group or anyone can read is refused (issue 17, 9) */
	path = write_file("0123456789abcdef0123456789abcdef\n", 33);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(wafa_token_key_load(path, &key, &len), -EPERM);
	assert_null(key);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(wafa_token_key_load(path, &key, &len), -EPERM);
	unlink(path);
	free(path);
	/* missing, a directory */
	assert_int_equal(wafa_token_key_load("/nonexistent/wafa.key", &key, &len), -ENOENT);
	assert_int_equal(wafa_token_key_load("/tmp", &key, &len), -EINVAL);
}

static void links(void **state)
{
	struct wafa_config cfg;
	struct wafa_token out;
	char *link;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.web_base_url = "https://support.example.com/wafa/";
	cfg.link_ttl_ms = 90LL * 86400 * 1000;
	link = wafa_web_link(&cfg, KEY, KEYLEN, 's', 42, "a@example.com", 5);
	assert_non_null(link);
	const char *prefix = "https://support.example.com/wafa/s/";
	assert_memory_equal(link, prefix, strlen(prefix));
	int64_t now = wafa_ms_to_s(wafa_clock_now_ms());
	assert_int_equal(wafa_token_check(KEY, KEYLEN, link + strlen(prefix), now, &out), 0);
	assert_int_equal(out.mail_id, 42);
	assert_int_equal(out.score, 5);
	assert_true(out.expires >= now + 90 * 86400 - 5 && out.expires <= now + 90 * 86400 + 5);
	assert_int_equal(wafa_token_check(KEY, KEYLEN, link + strlen(prefix), now + 91 * 86400, &out),
	                 -ETIME);
	free(link);
	cfg.web_base_url = "http://127.0.0.1:8087";
	link = wafa_web_link(&cfg, KEY, KEYLEN, 'u', 7, "b@example.com", 0);
	assert_non_null(link);
	assert_memory_equal(link, "http://127.0.0.1:8087/u/", 24);
	free(link);
	/* no base URL, no key */
	assert_null(wafa_web_link(&cfg, NULL, 0, 'u', 7, "b@example.com", 0));
	cfg.web_base_url = "";
	assert_null(wafa_web_link(&cfg, KEY, KEYLEN, 'u', 7, "b@example.com", 0));
}

/* ------------------------------------------------ the listener on a loop */

#define NREQ 12

struct client {
	int port;
	const char *req[NREQ];
	char *resp[NREQ];
	uv_async_t done;
	struct wafa_web *web;
	struct wafa_pg *pg;
	int closed;
};

static char *exchange(int port, const char *req)
{
	struct sockaddr_in a = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t n = 0, cap = 65536;
	char *buf = calloc(1, cap + 1);
	ssize_t r;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || !buf || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

static void *client_main(void *arg)
{
	struct client *c = arg;

	for (int i = 0; i < NREQ && c->req[i]; i++)
		c->resp[i] = exchange(c->port, c->req[i]);
	uv_async_send(&c->done);
	return NULL;
}

static void on_web_closed(void *arg)
{
	struct client *c = arg;
	c->closed++;
}

static void on_client_done(uv_async_t *a)
{
	struct client *c = a->data;

	/* the listener before the connection it queries through */
	wafa_web_close(c->web, on_web_closed, c);
	wafa_pg_close(c->pg);
	uv_close((uv_handle_t *)a, NULL);
}

static int free_port(void)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int status_of(const char *resp)
{
	int code = 0;
	return sscanf(resp, "HTTP/1.%*d %d", &code) == 1 ? code : -1;
}

static void has(const char *resp, const char *needle)
{
	if (!strstr(resp, needle))
		fail_msg("no %s in:\n%s", needle, resp);
}

static void listener(void **state)
{
	uv_loop_t loop;
	struct wafa_config cfg;
	struct client c;
	struct wafa_pg_hooks hooks = { 0 };
	char listen[32], good[WAFA_TOKEN_MAX], expired_tok[WAFA_TOKEN_MAX], u[WAFA_TOKEN_MAX];
	char req[NREQ][1024];
	char *keyfile = write_file((const char *)KEY, KEYLEN);
	int64_t now = wafa_ms_to_s(wafa_clock_now_ms());
	pthread_t th;

	(void)state;
	memset(&c, 0, sizeof(c));
	memset(&cfg, 0, sizeof(cfg));
	c.port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", c.port);
	cfg.web_listen = listen;
	cfg.web_base_url = "http://127.0.0.1/wafa";
	cfg.web_key_file = keyfile;
	cfg.link_ttl_ms = 3600000;
	struct wafa_token t = tok('s', now + 3600, 42, "a@example.com", 4);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &t, good), 0);
	t = tok('s', now - 10, 42, "a@example.com", 4);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &t, expired_tok), 0);
	t = tok('u', now + 3600, 42, "a@example.com", 0);
	assert_int_equal(wafa_token_make(KEY, KEYLEN, &t, u), 0);

	snprintf(req[0], sizeof(req[0]), "GET /wafa/health HTTP/1.0\r\n\r\n");
	snprintf(req[1], sizeof(req[1]), "GET /wafa/s/x%s HTTP/1.0\r\n\r\n", good);
	snprintf(req[2], sizeof(req[2]), "GET /wafa/s/%s HTTP/1.0\r\n\r\n", expired_tok);
	snprintf(req[3], sizeof(req[3]), "DELETE /wafa/s/%s HTTP/1.0\r\n\r\n", good);
	snprintf(req[4], sizeof(req[4]), "GET /wafa/x/%s HTTP/1.0\r\n\r\n", good);
	/* a survey token on the unsubscribe path */
	snprintf(req[5], sizeof(req[5]), "POST /wafa/u/%s HTTP/1.0\r\nContent-Length: 0\r\n\r\n", good);
	/* the database is not there: 503, after a suspend and a resume */
	snprintf(req[6], sizeof(req[6]), "GET /wafa/s/%s HTTP/1.0\r\n\r\n", good);
	snprintf(req[7], sizeof(req[7]),
	         "POST /wafa/u/%s HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n"
	         "Content-Length: 26\r\n\r\nList-Unsubscribe=One-Click", u);
	/* Arabic for a link that tells no language */
	snprintf(req[8], sizeof(req[8]),
	         "GET /wafa/u/%.20s HTTP/1.0\r\nAccept-Language: fr;q=0.9, ar-EG;q=0.8, en;q=0.5\r\n\r\n",
	         u);
	/* a body too big for a comment */
	snprintf(req[9], sizeof(req[9]),
	         "POST /wafa/s/%s HTTP/1.0\r\nContent-Length: 100000\r\n\r\ncomment=x", good);
	snprintf(req[10], sizeof(req[10]), "GET /wafa/s/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	for (int i = 0; i < 11; i++)
		c.req[i] = req[i];

	assert_int_equal(uv_loop_init(&loop), 0);
	hooks.arg = &c;
	assert_int_equal(wafa_pg_open(&loop, "host=/nonexistent dbname=none", "test", &hooks, &c.pg), 0);
	assert_int_equal(wafa_web_open(&loop, &cfg, c.pg, &c.web), 0);
	assert_non_null(c.web);
	/* the port is taken now */
	struct wafa_web *again = NULL;
	assert_int_equal(wafa_web_open(&loop, &cfg, c.pg, &again), -EADDRINUSE);
	assert_null(again);
	uv_async_init(&loop, &c.done, on_client_done);
	c.done.data = &c;
	assert_int_equal(pthread_create(&th, NULL, client_main, &c), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	pthread_join(th, NULL);
	assert_int_equal(c.closed, 1);
	assert_int_equal(uv_loop_close(&loop), 0);

	for (int i = 0; i < 11; i++)
		assert_non_null(c.resp[i]);
	assert_int_equal(status_of(c.resp[0]), 200);
	has(c.resp[0], "\r\n\r\nok\n");
	assert_int_equal(status_of(c.resp[1]), 400);
	has(c.resp[1], "Content-Type: text/html; charset=utf-8");
	has(c.resp[1], "X-Content-Type-Options: nosniff");
	has(c.resp[1], "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
	               "form-action 'self'");
	has(c.resp[1], "Referrer-Policy: no-referrer");
	has(c.resp[1], "<html lang=\"en\" dir=\"ltr\">");
	has(c.resp[1], "This link does not work");
	assert_int_equal(status_of(c.resp[2]), 410);
	has(c.resp[2], "This link has expired");
	assert_int_equal(status_of(c.resp[3]), 405);
	has(c.resp[3], "Allow: GET, POST");
	assert_int_equal(status_of(c.resp[4]), 404);
	assert_int_equal(status_of(c.resp[5]), 400);
	assert_int_equal(status_of(c.resp[6]), 503);
	has(c.resp[6], "Retry-After: ");
	assert_int_equal(status_of(c.resp[7]), 503);
	assert_int_equal(status_of(c.resp[8]), 400);
	has(c.resp[8], "<html lang=\"ar\" dir=\"rtl\">");
	has(c.resp[8], "هذا الرابط لا يعمل");
	assert_int_equal(status_of(c.resp[9]), 413);
	assert_int_equal(status_of(c.resp[10]), 400);
	for (int i = 0; i < 11; i++)
		free(c.resp[i]);

	/* open refuses: no address, a bad address, a short key */
	struct wafa_web *w = NULL;
	assert_int_equal(uv_loop_init(&loop), 0);
	cfg.web_listen = "";
	assert_int_equal(wafa_web_open(&loop, &cfg, NULL, &w), 0);
	assert_null(w);
	const char *bad[] = { "8087", "localhost:8087", "127.0.0.1:", "127.0.0.1:0",
		                  "127.0.0.1:70000", "127.0.0.1:80x", "[::1]8087", "::1:8087" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.web_listen = (char *)bad[i];
		assert_int_equal(wafa_web_open(&loop, &cfg, NULL, &w), -EINVAL);
		assert_null(w);
	}
	char *shortkey = write_file("short\n", 6);
	cfg.web_listen = listen;
	cfg.web_key_file = shortkey;
	assert_int_equal(wafa_web_open(&loop, &cfg, NULL, &w), -EINVAL);
	cfg.web_key_file = "/nonexistent/key";
	assert_int_equal(wafa_web_open(&loop, &cfg, NULL, &w), -ENOENT);
	/* IPv6, opened and closed at once */
	cfg.web_key_file = keyfile;
	snprintf(listen, sizeof(listen), "[::1]:%d", free_port());
	if (wafa_web_open(&loop, &cfg, NULL, &w) == 0) {
		wafa_web_close(w, on_web_closed, &c);
		assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
		assert_int_equal(c.closed, 2);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
	unlink(shortkey);
	free(shortkey);
	unlink(keyfile);
	free(keyfile);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),      cmocka_unit_test(forged_signature),
		cmocka_unit_test(altered_payload), cmocka_unit_test(expired),
		cmocka_unit_test(malformed),       cmocka_unit_test(mutations),
		cmocka_unit_test(refused_to_make),
		cmocka_unit_test(key_files),       cmocka_unit_test(links),
		cmocka_unit_test(listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
