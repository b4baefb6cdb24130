/* Mail templates: DIR/<locale>/<name>.md, looked up for the customer's
 * full locale (fa-IR), then its language (fa), then [mail] default_locale.
 * A template's first line is "Subject: ...", then a blank line, then the
 * Markdown body.  {{name}} is replaced by the variable's value: as it is in
 * the subject and the text part, escaped for HTML in the HTML part (the
 * Markdown is rendered to HTML by libcmark, with raw HTML in the template
 * itself allowed, in variables never).  A variable a template uses and the
 * mail does not give is an error, never a hole in the mail.  Pure C, no Lua,
 * safe on any thread (the mailer renders on its worker). */
#ifndef WAFA_TEMPLATE_H
#define WAFA_TEMPLATE_H

#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

/* A variable: name and value (UTF-8). */
struct wafa_var {
	const char *name;
	const char *value;
};

/* Removes the bidi embedding, override and isolate controls (U+202A-202E,
 * U+2066-2069) from s, in place: a variable's value, a subject or a name
 * with U+202E in it would display reversed.  Every variable a template is
 * rendered with is stripped so.  Returns the new length. */
size_t wafa_template_strip_bidi(char *s);

/* A rendered mail body. */
struct wafa_rendered {
	char *subject;    /* one line */
	char *text;       /* text/plain: the Markdown with variables filled in */
	char *html;       /* text/html: a whole document, inline styles, no external resources */
	char *locale;     /* the locale whose template was used ("fa-IR", "fa", "en") */
	int rtl;          /* 1 for Arabic and Persian: dir="rtl" */
};

/* Renders template name for locale (may be NULL or "") from dir.  Returns
 * 0, -ENOENT (no such template in the locale chain), -EINVAL (a variable
 * missing, a malformed template) or -ENOMEM; on failure why says what and
 * where ("templates/ar/csat.md:5: {{score}} is not given"). */
WAFA_WUR int wafa_template_render(const char *dir, const char *name, const char *locale,
                                  const char *default_locale, const struct wafa_var *vars,
                                  size_t nvars, struct wafa_rendered *out, char *why,
                                  size_t whylen);
void wafa_rendered_free(struct wafa_rendered *r);

/* For `wafa check`: every template in dir parses (a Subject line, a blank
 * line, a body); every name in any locale exists in default_locale too (so
 * the fallback never fails).  Each problem goes to report as
 * "path:line: message".  Returns the number of problems, or a negative
 * errno if dir cannot be read. */
int wafa_template_check_dir(const char *dir, const char *default_locale, FILE *report);

/* For `wafa check`: each template a rule file in rules_dir names literally
 * (template = "name") exists in dir (some <locale>/name.md), dir "" or NULL
 * meaning [mail] templates is not set.  Reports "file:line: message";
 * returns the number of problems. */
int wafa_template_check_rules(const char *rules_dir, const char *dir, FILE *report);

/* Does name exist for default_locale in dir?  (wafa check, for a template
 * named literally in a rule.) */
int wafa_template_exists(const char *dir, const char *name, const char *default_locale);

#endif
