/* Rendering mail: RFC 2047 headers that survive Arabic and Persian, no header
 * injection, a Message-ID that follows the outbox key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <string.h>

#include "message.h"

static const char *header_of(const char *data, const char *name, char *buf, size_t len)
{
	/* unfolded value of a header in the header block */
	size_t n = strlen(name);
	const char *end = strstr(data, "\r\n\r\n");
	size_t w = 0;

	for (const char *p = data; p && p < end; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (p < end && w + 1 < len) {
				if (p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t'))
					p += 2;
				else if (p[0] == '\r')
					break;
				else
					buf[w++] = *p++;
			}
			buf[w] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* Decodes each RFC 2047 word on its own, as mail clients do (GMime 3.2's
 * decoder joins adjacent base64 words first and loses text after padding). */
static char *decode_words(const char *value)
{
	GString *out = g_string_new(NULL);
	gchar **tokens = g_strsplit_set(value, " \t", -1);
	bool prev_word = false;

	for (gchar **t = tokens; *t; t++) {
		if (!**t)
			continue;
		bool word = g_str_has_prefix(*t, "=?") && g_str_has_suffix(*t, "?=");
		if (out->len && !(word && prev_word))
			g_string_append_c(out, ' ');
		if (word) {
			char *d = g_mime_utils_header_decode_text(NULL, *t);
			g_string_append(out, d);
			g_free(d);
		} else {
			g_string_append(out, *t);
		}
		prev_word = word;
	}
	g_strfreev(tokens);
	return g_string_free(out, FALSE);
}

static void renders_utf8_headers_and_body(void **state)
{
	struct wafa_message m;
	char why[256], buf[1024];
	const char *subject = "SLA breached: #7 طلب استرداد المبلغ — درخواست بازپرداخت";

	(void)state;
	wafa_message_init();
	assert_int_equal(wafa_message_render("الدعم <support@example.com>", "Agent <agent@example.com>",
	                                     subject, "مرحبا\nسلام\n", "first-response/7/breach/1/1",
	                                     1700000000000, &m, why, sizeof(why)),
	                 0);
	assert_string_equal(m.env_from, "support@example.com");
	assert_int_equal(m.nrcpt, 1);
	assert_string_equal(m.rcpt[0], "agent@example.com");
	/* CRLF everywhere, only ASCII in the headers */
	for (size_t i = 0; i < m.len; i++) {
		if (m.data[i] == '\n')
			assert_true(i > 0 && m.data[i - 1] == '\r');
	}
	const char *hend = strstr(m.data, "\r\n\r\n");
	for (const char *p = m.data; p < hend; p++)
		assert_true((unsigned char)*p < 0x80);
	assert_non_null(header_of(m.data, "Auto-Submitted", buf, sizeof(buf)));
	assert_string_equal(buf, " auto-generated");
	assert_non_null(header_of(m.data, "Subject", buf, sizeof(buf)));
	char *decoded = decode_words(buf);
	assert_string_equal(g_strstrip(decoded), subject);
	g_free(decoded);
	assert_non_null(strstr(m.data, "charset=utf-8"));

	/* the same key gives the same Message-ID */
	assert_non_null(header_of(m.data, "Message-ID", buf, sizeof(buf)));
	char *id = wafa_message_id("first-response/7/breach/1/1", "support@example.com");
	assert_non_null(strstr(buf, id));
	assert_non_null(strstr(id, "@example.com"));
	char *other = wafa_message_id("first-response/8/breach/1/1", "support@example.com");
	assert_string_not_equal(id, other);
	free(id);
	free(other);
	wafa_message_free(&m);
}

static void strips_header_injection(void **state)
{
	struct wafa_message m;
	char why[256], buf[1024];

	(void)state;
	wafa_message_init();
	assert_int_equal(wafa_message_render("support@example.com", "agent@example.com",
	                                     "Hi\r\nBcc: evil@example.com\r\nX-Injected: yes", "body",
	                                     "k", 1700000000000, &m, why, sizeof(why)),
	                 0);
	assert_null(header_of(m.data, "Bcc", buf, sizeof(buf)));
	assert_null(header_of(m.data, "X-Injected", buf, sizeof(buf)));
	assert_int_equal(m.nrcpt, 1);
	wafa_message_free(&m);
}

static void rejects_bad_addresses(void **state)
{
	struct wafa_message m;
	char why[256];

	(void)state;
	wafa_message_init();
	assert_int_not_equal(wafa_message_render("support@example.com", "not an address", "s", "b",
	                                         "k", 0, &m, why, sizeof(why)),
	                     0);
	assert_non_null(strstr(why, "not an address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(renders_utf8_headers_and_body),
		cmocka_unit_test(strips_header_injection),
		cmocka_unit_test(rejects_bad_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
