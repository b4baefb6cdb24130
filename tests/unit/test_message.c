/* Rendering mail: RFC 2047 headers that survive Arabic and Persian, no header
 * injection, a Message-ID that follows the outbox key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <string.h>

#include "mail/message.h"

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

static void assert_crlf_and_ascii_headers(const struct wafa_message *m)
{
	for (size_t i = 0; i < m->len; i++) {
		if (m->data[i] == '\n')
			assert_true(i > 0 && m->data[i - 1] == '\r');
	}
	const char *hend = strstr(m->data, "\r\n\r\n");
	assert_non_null(hend);
	for (const char *p = m->data; p < hend; p++)
		assert_true((unsigned char)*p < 0x80);
}

/* The decoded text of a part, line ends made LF (g_free). */
static char *part_text(GMimeObject *part)
{
	char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
	char *w = t;

	for (const char *r = t; *r; r++) {
		if (*r != '\r')
			*w++ = *r;
	}
	*w = '\0';
	return t;
}

static GMimeMessage *parse_back(const struct wafa_message *m)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(m->data, m->len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);

	g_object_unref(parser);
	g_object_unref(stream);
	assert_non_null(msg);
	return msg;
}

static const char *unsub_url = "https://help.example.com/wafa/unsubscribe/"
                               "eyJ0IjoiY3VzdG9tZXIiLCJlIjoiYW5uQGV4YW1wbGUuY29tIn0.c2lnbmF0dXJl"
                               "?l=fa-IR&x=1";

static void builds_multipart_alternative(void **state)
{
	struct wafa_message m;
	char why[256], buf[1024], want[512];
	const char *text = "سلام مریم عزیز،\n\n[۵](https://example.com/s/5)\n";
	const char *html = "<!DOCTYPE html>\n<html lang=\"fa\" dir=\"rtl\"><body><p>سلام مریم "
	                   "عزیز،</p><p><a href=\"https://example.com/s/5\">۵</a></p></body></html>\n";
	struct wafa_message_in in = {
		.from = "پشتیبانی <support@example.com>",
		.to = "مریم <maryam@example.com>",
		.subject = "از پشتیبانی ما راضی بودید؟",
		.text = text,
		.html = html,
		.key = "csat/4711/1",
		.date_ms = 1795953600000,
		.lang = "fa_IR",
		.in_reply_to = "ticket-4711.1@helpdesk.example.com",
		.list_unsubscribe = unsub_url,
	};

	(void)state;
	wafa_message_init();
	assert_int_equal(wafa_message_build(&in, &m, why, sizeof(why)), 0);
	assert_string_equal(m.env_from, "support@example.com");
	assert_int_equal(m.nrcpt, 1);
	assert_string_equal(m.rcpt[0], "maryam@example.com");
	assert_crlf_and_ascii_headers(&m);

	assert_non_null(header_of(m.data, "Content-Language", buf, sizeof(buf)));
	assert_string_equal(buf, " fa-IR");
	assert_non_null(header_of(m.data, "In-Reply-To", buf, sizeof(buf)));
	assert_string_equal(buf, " <ticket-4711.1@helpdesk.example.com>");
	assert_non_null(header_of(m.data, "References", buf, sizeof(buf)));
	assert_string_equal(buf, " <ticket-4711.1@helpdesk.example.com>");
	/* the URL as it is: no RFC 2047 words, which no client decodes here */
	assert_non_null(header_of(m.data, "List-Unsubscribe", buf, sizeof(buf)));
	snprintf(want, sizeof(want), " <%s>", unsub_url);
	assert_string_equal(buf, want);
	assert_non_null(header_of(m.data, "List-Unsubscribe-Post", buf, sizeof(buf)));
	assert_string_equal(buf, " List-Unsubscribe=One-Click");
	assert_non_null(header_of(m.data, "Auto-Submitted", buf, sizeof(buf)));
	assert_string_equal(buf, " auto-generated");
	assert_non_null(header_of(m.data, "X-Auto-Response-Suppress", buf, sizeof(buf)));
	assert_string_equal(buf, " All");
	assert_non_null(header_of(m.data, "Message-ID", buf, sizeof(buf)));
	char *id = wafa_message_id("csat/4711/1", "support@example.com");
	assert_non_null(strstr(buf, id));
	free(id);
	assert_non_null(header_of(m.data, "Subject", buf, sizeof(buf)));
	char *decoded = decode_words(buf);
	assert_string_equal(g_strstrip(decoded), in.subject);
	g_free(decoded);

	/* text/plain first, text/html last (the one clients prefer), both UTF-8 */
	GMimeMessage *msg = parse_back(&m);
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	assert_true(GMIME_IS_MULTIPART(top));
	GMimeContentType *ct = g_mime_object_get_content_type(top);
	assert_string_equal(g_mime_content_type_get_media_type(ct), "multipart");
	assert_string_equal(g_mime_content_type_get_media_subtype(ct), "alternative");
	assert_int_equal(g_mime_multipart_get_count(GMIME_MULTIPART(top)), 2);
	GMimeObject *p0 = g_mime_multipart_get_part(GMIME_MULTIPART(top), 0);
	GMimeObject *p1 = g_mime_multipart_get_part(GMIME_MULTIPART(top), 1);
	char *mt = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(p0));
	assert_string_equal(mt, "text/plain");
	g_free(mt);
	assert_string_equal(g_mime_object_get_content_type_parameter(p0, "charset"), "utf-8");
	assert_string_equal(g_mime_object_get_content_type_parameter(p1, "charset"), "utf-8");
	char *t0 = part_text(p0), *t1 = part_text(p1);
	assert_string_equal(t0, text);
	assert_string_equal(t1, html);
	g_free(t0);
	g_free(t1);
	mt = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(p1));
	assert_string_equal(mt, "text/html");
	g_free(mt);
	g_object_unref(msg);
	wafa_message_free(&m);
}

static void text_only_without_html(void **state)
{
	struct wafa_message m;
	char why[256], buf[256];
	struct wafa_message_in in = {
		.from = "support@example.com",
		.to = "ann@example.com",
		.subject = "Hello",
		.text = "Hi Ann\n",
		.key = "k",
		.date_ms = 1700000000000,
		.list_unsubscribe = "http://localhost:8080/u/abc",
	};

	(void)state;
	wafa_message_init();
	assert_int_equal(wafa_message_build(&in, &m, why, sizeof(why)), 0);
	assert_crlf_and_ascii_headers(&m);
	assert_null(strstr(m.data, "multipart"));
	assert_non_null(header_of(m.data, "Content-Type", buf, sizeof(buf)));
	assert_non_null(strstr(buf, "text/plain"));
	assert_null(header_of(m.data, "In-Reply-To", buf, sizeof(buf)));
	assert_null(header_of(m.data, "References", buf, sizeof(buf)));
	assert_null(header_of(m.data, "Content-Language", buf, sizeof(buf)));
	/* an http URL gets List-Unsubscribe but not one-click, which needs https */
	assert_non_null(header_of(m.data, "List-Unsubscribe", buf, sizeof(buf)));
	assert_string_equal(buf, " <http://localhost:8080/u/abc>");
	assert_null(header_of(m.data, "List-Unsubscribe-Post", buf, sizeof(buf)));
	wafa_message_free(&m);

	/* wafa_message_render is the same mail */
	struct wafa_message r;
	in.list_unsubscribe = NULL;
	assert_int_equal(wafa_message_build(&in, &m, why, sizeof(why)), 0);
	assert_int_equal(wafa_message_render(in.from, in.to, in.subject, in.text, in.key, in.date_ms,
	                                     &r, why, sizeof(why)),
	                 0);
	/* the MIME boundary is random, but a text-only mail has none */
	assert_string_equal(r.data, m.data);
	wafa_message_free(&r);
	wafa_message_free(&m);
}

static void new_headers_cannot_inject(void **state)
{
	struct wafa_message m;
	char why[256], buf[1024];
	struct wafa_message_in in = {
		.from = "support@example.com",
		.to = "ann@example.com",
		.subject = "s",
		.text = "t",
		.html = "<p>t</p>",
		.key = "k",
		.date_ms = 1700000000000,
		.lang = "en\r\nBcc: evil@example.com",
		.in_reply_to = "<x@example.com>\r\nBcc: evil@example.com",
	};

	(void)state;
	wafa_message_init();
	assert_int_equal(wafa_message_build(&in, &m, why, sizeof(why)), 0);
	assert_null(header_of(m.data, "Bcc", buf, sizeof(buf)));
	assert_null(strstr(m.data, "evil"));
	assert_non_null(header_of(m.data, "Content-Language", buf, sizeof(buf)));
	assert_string_equal(buf, " en");
	/* not a Message-ID: no threading rather than a broken header */
	assert_null(header_of(m.data, "In-Reply-To", buf, sizeof(buf)));
	assert_int_equal(m.nrcpt, 1);
	wafa_message_free(&m);

	/* <> and spaces around an id are fine */
	in.in_reply_to = "  <abc@helpdesk.example.com> ";
	in.lang = "ar_EG.UTF-8";
	assert_int_equal(wafa_message_build(&in, &m, why, sizeof(why)), 0);
	assert_non_null(header_of(m.data, "In-Reply-To", buf, sizeof(buf)));
	assert_string_equal(buf, " <abc@helpdesk.example.com>");
	assert_non_null(header_of(m.data, "Content-Language", buf, sizeof(buf)));
	assert_string_equal(buf, " ar-EG");
	wafa_message_free(&m);

	/* an unsubscribe link that is not an http(s) URL is refused */
	const char *bad[] = { "https://example.com/u\r\nBcc: evil@example.com",
		              "javascript:alert(1)", "https://example.com/u>, <mailto:x@example.com",
		              "example.com/u", "" };
	in.list_unsubscribe = NULL;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in.list_unsubscribe = bad[i];
		assert_int_equal(wafa_message_build(&in, &m, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "unsubscribe link"));
		assert_null(m.data);
	}
}

/* Issue 17, 5: a rule's "to" is exactly one mailbox; wafa.address quotes. */
static void one_mailbox_only(void **state)
{
	const char *why;
	const char *good[] = {
		"a@example.com", "  a@example.com ", "Sara <sara@example.com>",
		"\"Real, Person\" <real@example.com>", "\"Mallory <m@evil.example>, \\\"Real\" <real@example.com>",
		"سارة <sara@example.com>",
	};
	const char *bad[] = {
		"cust@example.com, spam1@evil.example",
		"Mallory <mallory@evil.example>, \"Real <real@example.com>",
		"Mallory <mallory@evil.example>, \"Real\" <real@example.com>",
		"team: a@example.com, b@example.com;",
		"a@example.com;b@example.com",
		"a@b <c@example.com>",
		"nobody", "a@@example.com", "@example.com", "a@", "<a@example.com", "a b@example.com",
		"\"unclosed <a@example.com>",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!wafa_message_one_mailbox(good[i], &why))
			fail_msg("%s: refused: %s", good[i], why);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (wafa_message_one_mailbox(bad[i], &why))
			fail_msg("%s: taken", bad[i]);
	assert_false(wafa_message_one_mailbox("a@example.com, b@example.com", &why));
	assert_non_null(strstr(why, "one address per mail{}"));

	char *box = wafa_message_mailbox("Mallory <mallory@evil.example>, \"Real", "real@example.com", &why);
	assert_string_equal(box, "\"Mallory <mallory@evil.example>, \\\"Real\" <real@example.com>");
	assert_true(wafa_message_one_mailbox(box, &why));
	/* GMime reads it as one mailbox, Real's */
	struct wafa_message m;
	char err[256];
	assert_int_equal(wafa_message_render("w@example.com", box, "s", "b", "k", 0, &m, err, sizeof(err)), 0);
	assert_int_equal(m.nrcpt, 1);
	assert_string_equal(m.rcpt[0], "real@example.com");
	wafa_message_free(&m);
	free(box);
	/* bidi controls and line ends are dropped from the name */
	box = wafa_message_mailbox("\xe2\x80\xaeSara\r\n\xe2\x81\xa6x", "s@example.com", &why);
	assert_string_equal(box, "\"Sarax\" <s@example.com>");
	free(box);
	box = wafa_message_mailbox(NULL, "s@example.com", &why);
	assert_string_equal(box, "s@example.com");
	free(box);
	assert_null(wafa_message_mailbox("x", "a@example.com, b@example.com", &why));
}

/* Issue 17, 11: a subject's bidi controls are dropped. */
static void subject_loses_bidi_controls(void **state)
{
	struct wafa_message m;
	char err[256];

	(void)state;
	wafa_message_init();
	assert_int_equal(wafa_message_render("w@example.com", "a@example.com",
	                                     "Invoice \xe2\x80\xae" "fdp.exe \xe2\x81\xa7x\xe2\x81\xa9",
	                                     "b", "k", 0, &m, err, sizeof(err)), 0);
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(m.data, m.len);
	GMimeParser *parser = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	assert_non_null(msg);
	assert_string_equal(g_mime_message_get_subject(msg), "Invoice fdp.exe x");
	g_object_unref(msg);
	g_object_unref(parser);
	g_object_unref(st);
	wafa_message_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(renders_utf8_headers_and_body),
		cmocka_unit_test(strips_header_injection),
		cmocka_unit_test(rejects_bad_addresses),
		cmocka_unit_test(builds_multipart_alternative),
		cmocka_unit_test(text_only_without_html),
		cmocka_unit_test(new_headers_cannot_inject),
		cmocka_unit_test(one_mailbox_only),
		cmocka_unit_test(subject_loses_bidi_controls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
