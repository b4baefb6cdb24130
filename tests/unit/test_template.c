/* Mail templates: the locale chain, variables that cannot inject Markdown or
 * HTML, link targets from variables, the HTML document, errors with
 * path:line, `wafa check` of a folder, and the shipped examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/template.h"

static char root[64];

static void put_file(const char *rel, const char *content)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/wafa-tpl-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define VARS(...) ((const struct wafa_var[]){ __VA_ARGS__ })
#define NV(a) (sizeof(a) / sizeof((a)[0]))

static int render(const char *name, const char *locale, const struct wafa_var *vars, size_t n,
                  struct wafa_rendered *r, char *why, size_t whylen)
{
	return wafa_template_render(root, name, locale, "en", vars, n, r, why, whylen);
}

static void locale_chain(void **state)
{
	struct wafa_rendered r;
	char why[512];

	(void)state;
	put_file("fa-IR/hello.md", "Subject: fa-IR\n\nسلام\n");
	put_file("fa/hello.md", "Subject: fa\n\nسلام\n");
	put_file("en/hello.md", "Subject: en\n\nHello\n");
	put_file("ar/other.md", "Subject: ar\n\nمرحبا\n");
	struct {
		const char *locale, *subject;
		int rtl;
	} cases[] = {
		{ "fa-IR", "fa-IR", 1 }, { "fa_IR", "fa-IR", 1 }, { "FA-ir", "fa-IR", 1 },
		{ "fa_IR.UTF-8", "fa-IR", 1 }, { "fa-AF", "fa", 1 }, { "fa", "fa", 1 },
		{ "de-DE", "en", 0 }, { NULL, "en", 0 }, { "", "en", 0 },
		/* not locales: passed over, the default is used, nothing outside DIR read */
		{ "../fa", "en", 0 }, { "fa/../fa-IR", "en", 0 }, { "fa IR", "en", 0 },
		{ "ar-EG", "en", 0 },
	};
	for (size_t i = 0; i < NV(cases); i++) {
		assert_int_equal(render("hello", cases[i].locale, NULL, 0, &r, why, sizeof(why)), 0);
		assert_string_equal(r.subject, cases[i].subject);
		assert_string_equal(r.locale, cases[i].subject);
		assert_int_equal(r.rtl, cases[i].rtl);
		wafa_rendered_free(&r);
	}
	/* the Arabic template is found for any Arabic locale */
	assert_int_equal(render("other", "ar-EG", NULL, 0, &r, why, sizeof(why)), 0);
	assert_string_equal(r.locale, "ar");
	assert_int_equal(r.rtl, 1);
	wafa_rendered_free(&r);
	/* no such template anywhere in the chain */
	assert_int_equal(render("other", "fa-IR", NULL, 0, &r, why, sizeof(why)), -ENOENT);
	assert_non_null(strstr(why, "fa-IR/other.md"));
	assert_non_null(strstr(why, "/en/other.md"));
	assert_null(r.html);
	/* a default locale in another form */
	assert_int_equal(wafa_template_render(root, "hello", "de", "EN_us", NULL, 0, &r, why,
	                                      sizeof(why)),
	                 0);
	assert_string_equal(r.locale, "en");
	wafa_rendered_free(&r);
}

static void names_never_leave_the_folder(void **state)
{
	struct wafa_rendered r;
	char why[512];

	(void)state;
	put_file("en/hello.md", "Subject: en\n\nHello\n");
	put_file("secret.md", "Subject: secret\n\nno\n");
	const char *bad[] = { "../secret", "../en/hello", "hello.md", "", "en/hello", "a b", NULL };
	for (size_t i = 0; i < NV(bad); i++) {
		assert_int_equal(render(bad[i], "en", NULL, 0, &r, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "letters, digits"));
	}
	assert_int_equal(wafa_template_render(root, "hello", "en", "../..", NULL, 0, &r, why,
	                                      sizeof(why)),
	                 -EINVAL);
	assert_non_null(strstr(why, "default_locale"));
	assert_int_equal(wafa_template_exists(root, "hello", "en"), 1);
	assert_int_equal(wafa_template_exists(root, "hello", "EN"), 1);
	assert_int_equal(wafa_template_exists(root, "nope", "en"), 0);
	assert_int_equal(wafa_template_exists(root, "../secret", "en"), 0);
	assert_int_equal(wafa_template_exists(root, "secret", ".."), 0);
}

static const char *hostile = "<script>alert(1)</script> **bold** [x](javascript:alert(1))";

static void values_cannot_inject(void **state)
{
	struct wafa_rendered r;
	char why[512];

	(void)state;
	put_file("en/t.md", "Subject: Re: {{ subject }}\n"
	                    "\n"
	                    "Dear {{name}},\n"
	                    "\n"
	                    "{{name}}\n"
	                    "\n"
	                    "Code: `{{name}}`, *{{name}}*\n");
	const struct wafa_var *v = VARS({ "subject", "a\r\nBcc: x@example.com" }, { "name", hostile });
	assert_int_equal(render("t", "en", v, 2, &r, why, sizeof(why)), 0);
	/* raw in the subject (one line) and in the text part */
	assert_string_equal(r.subject, "Re: a  Bcc: x@example.com");
	assert_string_equal(r.text, "Dear <script>alert(1)</script> **bold** [x](javascript:alert(1)),\n"
	                            "\n"
	                            "<script>alert(1)</script> **bold** [x](javascript:alert(1))\n"
	                            "\n"
	                            "Code: `<script>alert(1)</script> **bold** "
	                            "[x](javascript:alert(1))`, *<script>alert(1)</script> **bold** "
	                            "[x](javascript:alert(1))*\n");
	/* escaped, never rendered, in the HTML part */
	const char *esc = "&lt;script&gt;alert(1)&lt;/script&gt; **bold** [x](javascript:alert(1))";
	char want[512];
	snprintf(want, sizeof(want), "<p>Dear %s,</p>\n<p>%s</p>\n", esc, esc);
	assert_non_null(strstr(r.html, want));
	snprintf(want, sizeof(want), "<p>Code: <code>%s</code>, <em>%s</em></p>", esc, esc);
	assert_non_null(strstr(r.html, want));
	assert_null(strstr(r.html, "<script"));
	assert_null(strstr(r.html, "<strong>"));
	assert_null(strstr(r.html, "href=\"javascript"));
	assert_null(strstr(r.html, "<a "));
	wafa_rendered_free(&r);

	/* a value at the start of a line cannot make a heading, a list or a quote */
	put_file("en/lines.md", "Subject: s\n\n{{a}}\n\n{{b}}\n");
	v = VARS({ "a", "# Heading" }, { "b", "1. one\n> quoted" });
	assert_int_equal(render("lines", "en", v, 2, &r, why, sizeof(why)), 0);
	assert_non_null(strstr(r.html, "<p># Heading</p>\n<p>1. one\n&gt; quoted</p>"));
	assert_null(strstr(r.html, "<h1"));
	assert_null(strstr(r.html, "<ol"));
	assert_null(strstr(r.html, "<blockquote"));
	wafa_rendered_free(&r);
}

static void variables_as_link_targets(void **state)
{
	struct wafa_rendered r;
	char why[512];

	(void)state;
	put_file("en/csat.md", "Subject: How did we do?\n"
	                       "\n"
	                       "Rate us:\n"
	                       "\n"
	                       "[1]({{survey_1}}) [5]({{survey_5}})\n"
	                       "\n"
	                       "See [your ticket](https://help.example.com/t/{{ticket_ref}}?x=1 "
	                       "\"{{ticket_ref}}\") or [stop]({{unsubscribe_url}}).\n");
	const struct wafa_var *v = VARS({ "survey_1", "https://example.com/s?t=abc&score=1" },
	                                { "survey_5", "https://example.com/s?t=abc&score=5" },
	                                { "ticket_ref", "A 7&\"x\"/é" },
	                                { "unsubscribe_url", "  JaVa\nScRipt:alert(1)" });
	assert_int_equal(render("csat", "en", v, 4, &r, why, sizeof(why)), 0);
	/* whole URLs: HTML-escaped, as buttons in a paragraph of links */
	assert_non_null(strstr(r.html, "<a href=\"https://example.com/s?t=abc&amp;score=1\" "
	                               "style=\"display:inline-block;"));
	assert_non_null(strstr(r.html, "<a href=\"https://example.com/s?t=abc&amp;score=5\" "
	                               "style=\"display:inline-block;"));
	assert_non_null(strstr(r.html, ">5</a></p>"));
	/* inside a URL: percent-encoded; in a title: HTML-escaped */
	assert_non_null(strstr(r.html, "<a href=\"https://help.example.com/t/A%207%26%22x%22%2F%C3%A9?x=1\" "
	                               "title=\"A 7&amp;&quot;x&quot;/é\" style=\"color:"));
	/* a javascript: URL in a variable becomes an empty link */
	assert_non_null(strstr(r.html, "<a href=\"\" style=\"color:"));
	assert_null(strstr(r.html, "alert"));
	/* the text part keeps the Markdown with the values */
	assert_non_null(strstr(r.text, "[5](https://example.com/s?t=abc&score=5)"));
	wafa_rendered_free(&r);

	/* the same through the template's own raw HTML (allowed) */
	put_file("en/raw.md", "Subject: s\n\n<a href=\"{{u}}\" class='b'>Go</a> "
	                      "<span title='{{u}}'>{{u}}</span>\n");
	v = VARS({ "u", "https://example.com/?a=1&b='2'" });
	assert_int_equal(render("raw", "en", v, 1, &r, why, sizeof(why)), 0);
	assert_non_null(strstr(r.html, "<p><a href=\"https://example.com/?a=1&amp;b=&#39;2&#39;\" "
	                               "class='b'>Go</a> <span title='https://example.com/?a=1&amp;"
	                               "b=&#39;2&#39;'>https://example.com/?a=1&amp;b=&#39;2&#39;"
	                               "</span></p>"));
	wafa_rendered_free(&r);
}

static void html_document(void **state)
{
	struct wafa_rendered r;
	char why[512];

	(void)state;
	put_file("fa/d.md", "Subject: پیگیری درخواست «{{ticket_subject}}»\n"
	                    "\n"
	                    "# سلام {{customer_name}}\n"
	                    "\n"
	                    "با سپاس،\n"
	                    "تیم پشتیبانی\n");
	put_file("en/d.md", "Subject: Hello <{{customer_name}}>\n\nHi\n");
	const struct wafa_var *v =
		VARS({ "customer_name", "مریم" }, { "ticket_subject", "Refund & <return>" });
	assert_int_equal(render("d", "fa-IR", v, 2, &r, why, sizeof(why)), 0);
	assert_string_equal(r.subject, "پیگیری درخواست «Refund & <return>»");
	const char *start = "<!DOCTYPE html>\n<html lang=\"fa\" dir=\"rtl\">\n";
	assert_memory_equal(r.html, start, strlen(start));
	assert_non_null(strstr(r.html, "<meta charset=\"utf-8\">"));
	assert_non_null(strstr(r.html, "<title>پیگیری درخواست «Refund &amp; &lt;return&gt;»</title>"));
	assert_non_null(strstr(r.html, "font-family:Tahoma,Vazirmatn,'Noto Naskh Arabic',"));
	assert_non_null(strstr(r.html, "max-width:600px"));
	assert_non_null(strstr(r.html, "text-align:right"));
	assert_non_null(strstr(r.html, "<h1>سلام مریم</h1>"));
	/* a line break in the template is one in the mail */
	assert_non_null(strstr(r.html, "<p>با سپاس،<br />\nتیم پشتیبانی</p>"));
	assert_non_null(strstr(r.html, "</html>\n"));
	/* inline styles only, nothing fetched */
	assert_null(strstr(r.html, "<style"));
	assert_null(strstr(r.html, "<link"));
	assert_null(strstr(r.html, "<img"));
	assert_null(strstr(r.html, "src="));
	assert_string_equal(r.text, "# سلام مریم\n\nبا سپاس،\nتیم پشتیبانی\n");
	wafa_rendered_free(&r);

	assert_int_equal(render("d", "en", v, 2, &r, why, sizeof(why)), 0);
	assert_non_null(strstr(r.html, "<html lang=\"en\" dir=\"ltr\">"));
	assert_non_null(strstr(r.html, "<title>Hello &lt;مریم&gt;</title>"));
	assert_non_null(strstr(r.html, "text-align:left"));
	assert_null(strstr(r.html, "Tahoma"));
	assert_int_equal(r.rtl, 0);
	wafa_rendered_free(&r);
}

static void errors_say_where(void **state)
{
	struct wafa_rendered r;
	char why[512], want[512];
	const struct wafa_var *v = VARS({ "name", "n" });

	(void)state;
	struct {
		const char *file, *content, *message;
	} cases[] = {
		{ "en/a.md", "Subject: s\n\nHello {{name}},\n\nyour score: {{score}}\n",
		  "en/a.md:5: {{score}} is not given" },
		{ "en/b.md", "Subject: {{ nope }}\n\nx\n", "en/b.md:1: {{nope}} is not given" },
		{ "en/c.md", "Hello\n\nx\n", "en/c.md:1: the first line must be \"Subject: ...\"" },
		{ "en/d.md", "Subject: s\nHello\n", "en/d.md:2: the line after the subject must be blank" },
		{ "en/e.md", "Subject: s\n\n \n", "en/e.md:3: the body is empty" },
		{ "en/f.md", "Subject: s", "en/f.md:1: no body" },
		{ "en/g.md", "Subject:  \n\nx\n", "en/g.md:1: the subject is empty" },
		{ "en/h.md", "Subject: s\n\nx\n\n{{ first name }}\n", "en/h.md:5: \"{{\" does not begin" },
		{ "en/i.md", "Subject: s\n\nx {{{name}}}\n", "en/i.md:3: \"{{\" does not begin" },
		{ "en/j.md", "Subject: s\n\nx\n\xff\n", "en/j.md:4: not UTF-8" },
		{ "en/k.md", "Subject: s\n\nx\n\n![logo](https://example.com/l.png)\n",
		  "en/k.md:5: an image" },
		{ "en/l.md", "Subject: s\n\nx\n<a href={{name}}>x</a>\n",
		  "en/l.md:4: {{name}} stands inside an HTML tag" },
		{ "en/m.md", "Subject: s\n\n<b onclick=\"{{name}}\">x</b>\n",
		  "en/m.md:3: {{name}} stands in an on* or style attribute" },
		{ "en/n.md", "Subject: s\n\nx\n\n<{{name}}>\n", "en/n.md:5: {{name}} stands inside an HTML tag" },
		{ "en/o.md", "Subject: s\n\n<div>\n<script>var a = '{{name}}';</script>\n</div>\n",
		  "en/o.md:4: {{name}} stands in <script>" },
	};
	for (size_t i = 0; i < NV(cases); i++) {
		char name[2] = { cases[i].file[3], 0 };
		put_file(cases[i].file, cases[i].content);
		memset(why, 0, sizeof(why));
		assert_int_equal(render(name, "en", v, 1, &r, why, sizeof(why)), -EINVAL);
		snprintf(want, sizeof(want), "%s/%s", root, cases[i].message);
		if (strncmp(why, want, strlen(want)) != 0)
			fail_msg("%s: got \"%s\", want \"%s...\"", cases[i].file, why, want);
		assert_null(r.subject);
	}
	/* a NULL value is not given either */
	put_file("en/p.md", "Subject: s\n\n{{name}}\n");
	assert_int_equal(render("p", "en", VARS({ "name", NULL }), 1, &r, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "p.md:3: {{name}} is not given"));
}

static void odd_files(void **state)
{
	struct wafa_rendered r;
	char why[512];

	(void)state;
	/* a BOM and CRLF line ends, as some editors save */
	put_file("en/w.md", "\xef\xbb\xbfSubject: Hi {{name}}\r\n\r\nLine one\r\nLine two\r\n");
	assert_int_equal(render("w", "en", VARS({ "name", "Ann" }), 1, &r, why, sizeof(why)), 0);
	assert_string_equal(r.subject, "Hi Ann");
	assert_string_equal(r.text, "Line one\nLine two\n");
	assert_non_null(strstr(r.html, "<p>Line one<br />\nLine two</p>"));
	wafa_rendered_free(&r);
	/* text that looks like wafa's own tokens stays text */
	put_file("en/x.md", "Subject: s\n\nWafaVar0Z WafaVarQ0Z {{a}} &#87;afaVarQQ0Z\n");
	assert_int_equal(render("x", "en", VARS({ "a", "<v>" }), 1, &r, why, sizeof(why)), 0);
	assert_non_null(strstr(r.html, "<p>WafaVar0Z WafaVarQ0Z &lt;v&gt; WafaVarQQ0Z</p>"));
	wafa_rendered_free(&r);
	/* the first value of a name given twice wins; extra variables are fine */
	put_file("en/y.md", "Subject: s\n\n{{a}}\n");
	assert_int_equal(render("y", "en", VARS({ "a", "1" }, { "a", "2" }, { "b", "3" }), 3, &r, why,
	                        sizeof(why)),
	                 0);
	assert_string_equal(r.text, "1\n");
	wafa_rendered_free(&r);
	/* a folder where a template should be */
	put_file("en/z.md/keep", "");
	assert_int_equal(render("z", "en", NULL, 0, &r, why, sizeof(why)), -EISDIR);
	assert_non_null(strstr(why, "en/z.md"));
}

static void check_dir(void **state)
{
	char *report = NULL;
	size_t len = 0;

	(void)state;
	put_file("en/ok.md", "Subject: s\n\n{{anything}} [a]({{url}})\n");
	put_file("en/broken.md", "Subject: s\nno blank line\n");
	put_file("en/bad name.md", "Subject: s\n\nx\n");
	put_file("en/README.txt", "not a template");
	put_file("fa/ok.md", "Subject: s\n\nx\n");
	put_file("fa/only-fa.md", "Subject: s\n\nx\n");
	put_file("fa/tag.md", "Subject: s\n\n<a href={{u}}>x</a>\n");
	put_file("fa_IR/ok.md", "Subject: s\n\nx\n");
	put_file("x..y/ok.md", "Subject: s\n\nx\n");
	put_file("notes.txt", "");
	FILE *f = open_memstream(&report, &len);
	assert_non_null(f);
	int n = wafa_template_check_dir(root, "en", f);
	fclose(f);
	char want[2048];
	snprintf(want, sizeof(want),
	         "%1$s/en/bad name.md: never used: a template name has only letters, digits, - and _\n"
	         "%1$s/en/broken.md:2: the line after the subject must be blank\n"
	         "%1$s/fa/only-fa.md: there is no %1$s/en/only-fa.md, the fallback for every locale "
	         "(add it)\n"
	         "%1$s/fa/tag.md:3: {{u}} stands inside an HTML tag but not in a quoted attribute "
	         "value (write a link as [text]({{name}}))\n"
	         "%1$s/fa/tag.md: there is no %1$s/en/tag.md, the fallback for every locale (add it)\n"
	         "%1$s/fa_IR: templates here are never used: name the folder fa-IR\n"
	         "%1$s/x..y: not a locale, templates here are never used (name folders like en, fa or "
	         "fa-IR)\n",
	         root);
	assert_string_equal(report, want);
	assert_int_equal(n, 7);
	free(report);

	char missing[128];
	snprintf(missing, sizeof(missing), "%s/none", root);
	assert_int_equal(wafa_template_check_dir(missing, "en", stderr), -ENOENT);
}

/* The shipped examples: they pass `wafa check`, and render in each language
 * with the variables the rules give. */
static void shipped_examples(void **state)
{
	const char *src = getenv("WAFA_SRCDIR");
	char dir[512], why[512];
	struct wafa_rendered r;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/rules/templates", src ? src : ".");
	assert_int_equal(wafa_template_check_dir(dir, "en", stderr), 0);
	const struct wafa_var *v =
		VARS({ "customer_name", "Ann <ann@example.com>" }, { "ticket_ref", "#4711" },
		     { "ticket_subject", "Refund *now*" }, { "solved_date", "Nov 29, 2026" },
		     { "survey_1", "https://help.example.com/s/t1?score=1" },
		     { "survey_2", "https://help.example.com/s/t1?score=2" },
		     { "survey_3", "https://help.example.com/s/t1?score=3" },
		     { "survey_4", "https://help.example.com/s/t1?score=4" },
		     { "survey_5", "https://help.example.com/s/t1?score=5" },
		     { "ticket_url", "https://help.example.com/t/4711" },
		     { "offer_url", "https://example.com/offer/abc" },
		     { "offer_code", "THANKS-2026" }, { "offer_expiry", "Dec 31, 2026" },
		     { "unsubscribe_url", "https://example.com/u/abc" });
	const char *names[] = { "csat", "pending-reminder", "thank-you-offer" };
	const char *locales[] = { "en", "ar", "fa" };
	for (size_t i = 0; i < NV(names); i++) {
		for (size_t j = 0; j < NV(locales); j++) {
			int err = wafa_template_render(dir, names[i], locales[j], "en", v, 14, &r, why,
			                               sizeof(why));
			if (err)
				fail_msg("%s/%s: %s", locales[j], names[i], why);
			assert_string_equal(r.locale, locales[j]);
			assert_int_equal(r.rtl, j > 0);
			assert_non_null(strstr(r.html, "href=\"https://example.com/u/abc\""));
			assert_null(strstr(r.html, "{{"));
			assert_null(strstr(r.text, "{{"));
			assert_null(strstr(r.html, "<em>now</em>"));
			if (i == 0) {
				for (int s = 1; s <= 5; s++) {
					char href[128];
					snprintf(href, sizeof(href),
					         "href=\"https://help.example.com/s/t1?score=%d\"", s);
					assert_non_null(strstr(r.html, href));
				}
				assert_non_null(strstr(r.html, "display:inline-block"));
			}
			wafa_rendered_free(&r);
		}
	}
}

/* Issue 17, 11: bidi controls in a name or a subject (U+202E shows the rest
 * reversed) are stripped from every value, in every locale. */
static void values_lose_bidi_controls(void **state)
{
	struct wafa_rendered r;
	char why[512];
	static const char *const locales[] = { "en", "ar", "fa" };

	(void)state;
	for (size_t i = 0; i < NV(locales); i++) {
		char path[64];
		snprintf(path, sizeof(path), "%s/b.md", locales[i]);
		put_file(path, "Subject: {{subject}}\n\nDear {{name}},\n\n[link]({{url}})\n");
		const struct wafa_var *v = VARS(
			{ "subject", "Refund \xe2\x80\xae" "fdp.exe\xe2\x80\xac" },
			{ "name", "\xe2\x81\xa6Sara\xe2\x81\xa9 \xe2\x80\xab\xd8\xb3\xd8\xa7\xd8\xb1\xd8\xa9\xe2\x80\xaa \xe2\x80\x8f" },
			{ "url", "https://example.com/\xe2\x80\xaex" });
		assert_int_equal(render("b", locales[i], v, 3, &r, why, sizeof(why)), 0);
		assert_string_equal(r.subject, "Refund fdp.exe");
		for (const char *p = r.text; *p; p++)
			assert_false((unsigned char)p[0] == 0xe2 && ((unsigned char)p[1] == 0x80 ||
			                                             (unsigned char)p[1] == 0x81) &&
			             (((unsigned char)p[2] >= 0xaa && (unsigned char)p[2] <= 0xae) ||
			              ((unsigned char)p[2] >= 0xa6 && (unsigned char)p[2] <= 0xa9)));
		assert_null(strstr(r.html, "\xe2\x80\xae"));
		assert_null(strstr(r.html, "\xe2\x81\xa6"));
		assert_null(strstr(r.html, "%E2%80%AE"));
		assert_non_null(strstr(r.text, "Dear Sara \xd8\xb3\xd8\xa7\xd8\xb1\xd8\xa9 \xe2\x80\x8f,"));
		wafa_rendered_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(locale_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(names_never_leave_the_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(values_cannot_inject, setup, teardown),
		cmocka_unit_test_setup_teardown(variables_as_link_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(html_document, setup, teardown),
		cmocka_unit_test_setup_teardown(errors_say_where, setup, teardown),
		cmocka_unit_test_setup_teardown(odd_files, setup, teardown),
		cmocka_unit_test_setup_teardown(check_dir, setup, teardown),
		cmocka_unit_test(shipped_examples),
		cmocka_unit_test_setup_teardown(values_lose_bidi_controls, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
