/* Mail templates: DIR/<locale>/<name>.md rendered into a subject, a text
 * part and an HTML part.
 *
 * How a variable's value is kept out of the Markdown: the values never reach
 * libcmark.  Each {{name}} in the body becomes a token of letters and digits
 * (a prefix that does not occur in the file, the occurrence's number, "Z"),
 * which Markdown passes through unchanged in text, emphasis, code and link
 * targets alike.  The rendered HTML is then read tag by tag and each token
 * replaced by its value, escaped for where it stands: text and quoted
 * attribute values get HTML escapes; a value that starts a link target
 * (href, src) must be an http, https, mailto or tel URL or a relative one
 * (anything else, javascript: say, becomes an empty link, as cmark's safe
 * mode does); a value further inside a link target is percent-encoded.
 * A variable inside an HTML tag but outside a quoted value, in an on*
 * or style attribute, or in <script> or <style>, is an error in the
 * template.  The template's own raw HTML is the administrator's and is
 * kept (CMARK_OPT_UNSAFE), as template.h says; values cannot add any.
 *
 * Lines in the template are hard line breaks in the HTML
 * (CMARK_OPT_HARDBREAKS), so the HTML part breaks lines where the text part
 * does.  Markdown images are refused: mail clients block them and the mail
 * must carry no external resources. */
#include "mail/template.h"
#include "lua/literal.h"

#include <cmark.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEMPLATE_MAX (256 * 1024) /* bytes in one template file */
#define NAME_MAX_LEN 100          /* a template's name */
#define VAR_MAX_LEN 64            /* a variable's name */
#define LOCALE_LEN 36             /* a normalised locale and its NUL */
#define CMARK_OPTS (CMARK_OPT_UNSAFE | CMARK_OPT_HARDBREAKS)

#define LINK_STYLE "color:#0b57d0;text-decoration:underline;"
#define BUTTON_STYLE                                                                              \
	"display:inline-block;margin:4px;padding:10px 18px;border-radius:6px;"                     \
	"background-color:#0b57d0;color:#ffffff;text-decoration:none;font-weight:bold;"
#define FONTS_LTR "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
#define FONTS_RTL "Tahoma,Vazirmatn,'Noto Naskh Arabic','Segoe UI',Arial,sans-serif"

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t whylen, const char *fmt,
                                                       ...)
{
	va_list ap;

	if (!why || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* A growing string; a failed allocation is remembered, checked once. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putc_(struct buf *b, char c)
{
	put(b, &c, 1);
}

/* The string (caller frees), or NULL after a failed allocation (freed). */
static char *take(struct buf *b)
{
	char *p;

	if (!b->oom && !b->p)
		put(b, "", 0);
	if (b->oom) {
		free(b->p);
		p = NULL;
	} else {
		p = b->p;
	}
	memset(b, 0, sizeof(*b));
	return p;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* A template name: [A-Za-z0-9_-]+, so never a path. */
static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(name[i]) && name[i] != '_' && name[i] != '-')
			return false;
	}
	return true;
}

/* "fa_IR", "FA-ir", "fa_IR.UTF-8" -> "fa-IR": subtags of 1-8 letters and
 * digits, the language 2-8 letters in lower case, a script (4 letters) in
 * title case, a region (2 letters) in upper case.  Only [A-Za-z0-9-] comes
 * out, so a locale is never a path.  0 or -EINVAL. */
static int norm_locale(const char *in, char out[LOCALE_LEN])
{
	size_t n = in ? strcspn(in, ".@") : 0, w = 0, start = 0;
	int sub = 0;

	if (n == 0 || n >= LOCALE_LEN)
		return -EINVAL;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && is_alnum(in[i]))
			continue;
		if (i < n && in[i] != '-' && in[i] != '_')
			return -EINVAL;
		size_t len = i - start;
		if (len == 0 || len > 8)
			return -EINVAL;
		if (sub > 0)
			out[w++] = '-';
		for (size_t j = start; j < i; j++) {
			char c = in[j];
			if (sub == 0) {
				if (c >= '0' && c <= '9')
					return -EINVAL;
				c = lower(c);
			} else if (len == 4 && sub == 1) {
				c = j == start ? upper(c) : lower(c);
			} else if (len == 2) {
				c = upper(c);
			} else {
				c = lower(c);
			}
			out[w++] = c;
		}
		if (sub == 0 && len < 2)
			return -EINVAL;
		sub++;
		start = i + 1;
	}
	out[w] = '\0';
	return 0;
}

static bool lang_rtl(const char *locale)
{
	static const char *const rtl[] = { "ar", "fa", "he", "ur", "ps", "ckb", "dv", "sd", "ug", "yi" };
	size_t n = strcspn(locale, "-");

	for (size_t i = 0; i < sizeof(rtl) / sizeof(rtl[0]); i++) {
		if (strlen(rtl[i]) == n && strncmp(locale, rtl[i], n) == 0)
			return true;
	}
	return false;
}

/* Reads path (a regular file of at most TEMPLATE_MAX bytes) into *data,
 * NUL-terminated; the caller frees.  0 or a negative errno. */
static int read_file(const char *path, char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *p = NULL;
	int err = 0;

	*data = NULL;
	if (!f)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (fstat(fileno(f), &st) != 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	if (st.st_size > TEMPLATE_MAX) {
		err = -EFBIG;
		goto out;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	*len = fread(p, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		err = -EIO;
		goto out;
	}
	p[*len] = '\0';
	*data = p;
	p = NULL;
out:
	free(p);
	fclose(f);
	return err;
}

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A template file split into its parts (pointers into data). */
struct tpl {
	char *data;
	const char *subject; /* NUL-terminated, trimmed */
	const char *body;    /* line 3 on */
};

#define BODY_LINE 3

/* Checks a template's shape and splits it: a BOM is dropped, CRLF becomes
 * LF.  data is changed in place and taken by t (freed by the caller via
 * t->data). */
static int parse(const char *path, char *data, size_t len, struct tpl *t, char *why, size_t whylen)
{
	char *p = data, *nl, *line2;
	size_t w = 0;
	int line = 1;

	t->data = data;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		memmove(data, data + 3, len - 3 + 1);
		len -= 3;
	}
	for (size_t i = 0; i < len;) {
		size_t n = data[i] ? utf8_len((const unsigned char *)data + i, len - i) : 0;
		if (n == 0) {
			say(why, whylen, "%s:%d: not UTF-8 text (save the file as UTF-8)", path, line);
			return -EINVAL;
		}
		if (data[i] == '\n')
			line++;
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') {
			i++;
			continue;
		}
		memmove(data + w, data + i, n);
		w += n;
		i += n;
	}
	data[w] = '\0';

	nl = strchr(p, '\n');
	if (strncasecmp(p, "Subject:", 8) != 0) {
		say(why, whylen, "%s:1: the first line must be \"Subject: ...\"", path);
		return -EINVAL;
	}
	if (nl)
		*nl = '\0';
	p += 8;
	while (*p == ' ' || *p == '\t')
		p++;
	for (char *e = p + strlen(p); e > p && (e[-1] == ' ' || e[-1] == '\t'); e--)
		e[-1] = '\0';
	if (!*p) {
		say(why, whylen, "%s:1: the subject is empty", path);
		return -EINVAL;
	}
	t->subject = p;
	if (!nl) {
		say(why, whylen, "%s:1: no body (the subject, a blank line, then the Markdown)", path);
		return -EINVAL;
	}
	line2 = nl + 1;
	nl = strchr(line2, '\n');
	for (char *q = line2; *q && q != nl; q++) {
		if (*q != ' ' && *q != '\t') {
			say(why, whylen, "%s:2: the line after the subject must be blank", path);
			return -EINVAL;
		}
	}
	t->body = nl ? nl + 1 : line2 + strlen(line2);
	if (t->body[strspn(t->body, " \t\n")] == '\0') {
		say(why, whylen, "%s:%d: the body is empty", path, BODY_LINE);
		return -EINVAL;
	}
	return 0;
}

/* A variable's occurrence in the body, in the order of the tokens. */
struct occ {
	const char *name; /* points into the template */
	size_t name_len;
	const char *value;
	int line;
};

enum expand_mode { RAW, TOKEN, DROP };

struct expand {
	const char *path;
	const struct wafa_var *vars;
	size_t nvars;
	bool any;           /* wafa check: every variable is given */
	const char *prefix; /* TOKEN: the tokens' prefix */
	struct occ *occ;    /* TOKEN: one per token */
	size_t nocc;
};

static const char *lookup(const struct expand *x, const char *name, size_t n)
{
	if (x->any)
		return "x";
	for (size_t i = 0; i < x->nvars; i++) {
		if (x->vars[i].name && x->vars[i].value && strlen(x->vars[i].name) == n &&
		    memcmp(x->vars[i].name, name, n) == 0)
			return x->vars[i].value;
	}
	return NULL;
}

/* Copies src to out with each {{name}} replaced (RAW: by its value; TOKEN:
 * by a token, the occurrence kept in x->occ; DROP: by nothing).  line is
 * src's first line. */
static int expand(struct expand *x, const char *src, int line, enum expand_mode mode,
                  struct buf *out, char *why, size_t whylen)
{
	const char *p = src;

	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			puts_(out, p);
			break;
		}
		for (const char *q = p; q < open; q++)
			line += *q == '\n';
		put(out, p, (size_t)(open - p));
		const char *q = open + 2, *name;
		while (*q == ' ' || *q == '\t')
			q++;
		name = q;
		while (is_alnum(*q) || *q == '_')
			q++;
		size_t n = (size_t)(q - name);
		while (*q == ' ' || *q == '\t')
			q++;
		if (n == 0 || n > VAR_MAX_LEN || q[0] != '}' || q[1] != '}') {
			say(why, whylen,
			    "%s:%d: \"{{\" does not begin a variable (write {{name}}, a name of letters, "
			    "digits and _)",
			    x->path, line);
			return -EINVAL;
		}
		const char *value = lookup(x, name, n);
		if (!value) {
			say(why, whylen, "%s:%d: {{%.*s}} is not given", x->path, line, (int)n, name);
			return -EINVAL;
		}
		if (mode == RAW) {
			puts_(out, value);
		} else if (mode == TOKEN) {
			struct occ *grown = realloc(x->occ, (x->nocc + 1) * sizeof(*grown));
			char num[24];
			if (!grown)
				return -ENOMEM;
			x->occ = grown;
			x->occ[x->nocc] = (struct occ){ name, n, value, line };
			snprintf(num, sizeof(num), "%zuZ", x->nocc++);
			puts_(out, x->prefix);
			puts_(out, num);
		}
		p = q + 2;
	}
	return out->oom ? -ENOMEM : 0;
}

static void put_html(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&':
			puts_(b, "&amp;");
			break;
		case '<':
			puts_(b, "&lt;");
			break;
		case '>':
			puts_(b, "&gt;");
			break;
		case '"':
			puts_(b, "&quot;");
			break;
		case '\'':
			puts_(b, "&#39;");
			break;
		default:
			putc_(b, s[i]);
		}
	}
}

/* A link target as cmark writes one: URL-safe bytes kept, & and ' as
 * entities, everything else percent-encoded. */
static void put_href(struct buf *b, const char *s)
{
	static const char safe[] = "-_.+!*(),%#@?=;:/$~";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '&') {
			puts_(b, "&amp;");
		} else if (c == '\'') {
			puts_(b, "&#x27;");
		} else if (is_alnum((char)c) || (c && strchr(safe, c))) {
			putc_(b, (char)c);
		} else {
			char hex[4];
			snprintf(hex, sizeof(hex), "%%%02X", c);
			puts_(b, hex);
		}
	}
}

/* A value inside a URL: everything but RFC 3986's unreserved characters
 * percent-encoded. */
static void put_url_part(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (is_alnum((char)c) || c == '-' || c == '.' || c == '_' || c == '~') {
			putc_(b, (char)c);
		} else {
			char hex[4];
			snprintf(hex, sizeof(hex), "%%%02X", c);
			puts_(b, hex);
		}
	}
}

/* May a value start a link target?  Browsers drop leading spaces and
 * controls and any tab or line break inside a scheme, so they are skipped
 * here too ("java\nscript:" is javascript:). */
static bool url_safe(const char *s)
{
	static const char *const ok[] = { "http", "https", "mailto", "tel" };
	char scheme[16];
	size_t n = 0;

	while (*s && (unsigned char)*s <= ' ')
		s++;
	for (; *s; s++) {
		char c = *s;
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == ':')
			break;
		if (c == '/' || c == '?' || c == '#')
			return true; /* relative */
		if (!is_alnum(c) && c != '+' && c != '-' && c != '.')
			return false;
		if (n + 1 >= sizeof(scheme))
			return false;
		scheme[n++] = lower(c);
	}
	if (!*s)
		return true; /* no scheme: relative */
	scheme[n] = '\0';
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (strcmp(scheme, ok[i]) == 0)
			return true;
	}
	return false;
}

static bool is_link(cmark_node *n)
{
	return cmark_node_get_type(n) == CMARK_NODE_LINK;
}

/* A paragraph of nothing but links (score links, a call to action): its
 * links are drawn as buttons. */
static bool only_links(cmark_node *para)
{
	int links = 0;

	if (cmark_node_get_type(para) != CMARK_NODE_PARAGRAPH)
		return false;
	for (cmark_node *c = cmark_node_first_child(para); c; c = cmark_node_next(c)) {
		switch (cmark_node_get_type(c)) {
		case CMARK_NODE_LINK:
			links++;
			break;
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			break;
		case CMARK_NODE_TEXT: {
			const char *s = cmark_node_get_literal(c);
			if (s[strspn(s, " \t")] != '\0')
				return false;
			break;
		}
		default:
			return false;
		}
	}
	return links > 0;
}

static int block_line(cmark_node *n)
{
	while (n && !(cmark_node_get_type(n) >= CMARK_NODE_FIRST_BLOCK &&
	              cmark_node_get_type(n) <= CMARK_NODE_LAST_BLOCK))
		n = cmark_node_parent(n);
	return n ? cmark_node_get_start_line(n) : 0;
}

/* Refuses images; gives links inline styles (buttons in a paragraph of
 * links) by turning each into a custom inline with its own <a> tag. */
static int style_links(cmark_node *doc, const char *path, char *why, size_t whylen)
{
	cmark_iter *it = cmark_iter_new(doc);
	cmark_node **links = NULL;
	bool *buttons = NULL;
	size_t n = 0;
	cmark_event_type ev;
	int err = 0;

	if (!it)
		return -ENOMEM;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *node = cmark_iter_get_node(it);
		if (ev != CMARK_EVENT_ENTER)
			continue;
		if (cmark_node_get_type(node) == CMARK_NODE_IMAGE) {
			say(why, whylen,
			    "%s:%d: an image: mail clients block images and wafa sends none (use a "
			    "link)",
			    path, BODY_LINE - 1 + block_line(node));
			err = -EINVAL;
			goto out;
		}
		if (!is_link(node))
			continue;
		cmark_node **grown = realloc(links, (n + 1) * sizeof(*grown));
		if (!grown) {
			err = -ENOMEM;
			goto out;
		}
		links = grown;
		bool *bgrown = realloc(buttons, (n + 1) * sizeof(*bgrown));
		if (!bgrown) {
			err = -ENOMEM;
			goto out;
		}
		buttons = bgrown;
		links[n] = node;
		buttons[n++] = only_links(cmark_node_parent(node));
	}
	for (size_t i = 0; i < n; i++) {
		struct buf tag = { 0 };
		const char *title = cmark_node_get_title(links[i]);
		cmark_node *a = cmark_node_new(CMARK_NODE_CUSTOM_INLINE), *c;

		puts_(&tag, "<a href=\"");
		put_href(&tag, cmark_node_get_url(links[i]));
		putc_(&tag, '"');
		if (title && *title) {
			puts_(&tag, " title=\"");
			put_html(&tag, title, strlen(title));
			putc_(&tag, '"');
		}
		puts_(&tag, buttons[i] ? " style=\"" BUTTON_STYLE "\">" : " style=\"" LINK_STYLE "\">");
		char *s = take(&tag);
		if (!a || !s || !cmark_node_set_on_enter(a, s) || !cmark_node_set_on_exit(a, "</a>")) {
			free(s);
			if (a)
				cmark_node_free(a);
			err = -ENOMEM;
			goto out;
		}
		free(s);
		while ((c = cmark_node_first_child(links[i]))) {
			cmark_node_unlink(c);
			cmark_node_append_child(a, c);
		}
		cmark_node_replace(links[i], a);
		cmark_node_free(links[i]);
	}
out:
	free(links);
	free(buttons);
	cmark_iter_free(it);
	return err;
}

/* Where in the HTML a token stands. */
enum where { W_TEXT, W_TAG_NAME, W_TAG, W_ATTR_NAME, W_BEFORE_VALUE, W_VALUE, W_COMMENT };

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool starts_tag(const char *p, const char *tag)
{
	size_t n = strlen(tag);
	return strncasecmp(p, tag, n) == 0 && (is_space(p[n]) || p[n] == '>' || p[n] == '/');
}

/* Copies html to out, each token replaced by its value escaped for where
 * it stands (see the top of this file). */
static int substitute(const struct expand *x, const char *html, struct buf *out, char *why,
                      size_t whylen)
{
	size_t plen = strlen(x->prefix), value_start = 0;
	enum where w = W_TEXT;
	char attr[32] = "", quote = 0;
	size_t attr_len = 0;
	bool rawtext = false;

	for (const char *p = html; *p;) {
		if (strncmp(p, x->prefix, plen) == 0) {
			char *end;
			unsigned long long i = strtoull(p + plen, &end, 10);
			if (p[plen] >= '0' && p[plen] <= '9' && *end == 'Z' && i < x->nocc) {
				const struct occ *o = &x->occ[i];
				const char *what = NULL;
				if (rawtext)
					what = "in <script> or <style>";
				else if (w == W_TAG_NAME || w == W_TAG || w == W_ATTR_NAME ||
				         w == W_BEFORE_VALUE || (w == W_VALUE && !quote))
					what = "inside an HTML tag but not in a quoted attribute value (write "
					       "a link as [text]({{name}}))";
				else if (w == W_VALUE && (strncmp(attr, "on", 2) == 0 ||
				                          strcmp(attr, "style") == 0))
					what = "in an on* or style attribute";
				if (what) {
					say(why, whylen, "%s:%d: {{%.*s}} stands %s", x->path, o->line,
					    (int)o->name_len, o->name, what);
					return -EINVAL;
				}
				if (w == W_VALUE &&
				    (strcmp(attr, "href") == 0 || strcmp(attr, "src") == 0 ||
				     strcmp(attr, "action") == 0 || strcmp(attr, "formaction") == 0 ||
				     strcmp(attr, "cite") == 0 || strcmp(attr, "background") == 0 ||
				     strcmp(attr, "poster") == 0 || strcmp(attr, "xlink:href") == 0)) {
					if (out->len != value_start)
						put_url_part(out, o->value);
					else if (url_safe(o->value))
						put_html(out, o->value, strlen(o->value));
				} else {
					put_html(out, o->value, strlen(o->value));
				}
				p = end + 1;
				continue;
			}
		}
		char c = *p;
		switch (w) {
		case W_TEXT:
			if (c == '<' && rawtext) {
				if (starts_tag(p + 1, "/script") || starts_tag(p + 1, "/style")) {
					rawtext = false;
					w = W_TAG_NAME;
				}
			} else if (c == '<' && strncmp(p, "<!--", 4) == 0) {
				put(out, p, 4);
				p += 4;
				w = W_COMMENT;
				continue;
			} else if (c == '<' && (p[1] == '/' || p[1] == '!' || p[1] == '?' ||
			                        is_alnum(p[1]))) {
				if (starts_tag(p + 1, "script") || starts_tag(p + 1, "style"))
					rawtext = true;
				w = W_TAG_NAME;
			}
			break;
		case W_TAG_NAME:
			if (c == '>')
				w = W_TEXT;
			else if (is_space(c) || (c == '/' && p[-1] != '<'))
				w = W_TAG;
			break;
		case W_COMMENT:
			if (strncmp(p, "-->", 3) == 0) {
				put(out, p, 3);
				p += 3;
				w = W_TEXT;
				continue;
			}
			break;
		case W_TAG:
			if (c == '>') {
				w = W_TEXT;
			} else if (!is_space(c) && c != '/') {
				attr_len = 0;
				attr[attr_len++] = lower(c);
				attr[attr_len] = '\0';
				w = W_ATTR_NAME;
			}
			break;
		case W_ATTR_NAME:
			if (c == '=') {
				w = W_BEFORE_VALUE;
			} else if (c == '>') {
				w = W_TEXT;
			} else if (is_space(c) || c == '/') {
				w = W_TAG;
			} else if (attr_len + 1 < sizeof(attr)) {
				attr[attr_len++] = lower(c);
				attr[attr_len] = '\0';
			}
			break;
		case W_BEFORE_VALUE:
			if (c == '"' || c == '\'') {
				quote = c;
				w = W_VALUE;
				putc_(out, c);
				value_start = out->len;
				p++;
				continue;
			} else if (c == '>') {
				w = W_TEXT;
			} else if (!is_space(c)) {
				quote = 0;
				w = W_VALUE;
				value_start = out->len;
			}
			break;
		case W_VALUE:
			if (quote ? c == quote : is_space(c))
				w = W_TAG;
			else if (!quote && c == '>')
				w = W_TEXT;
			break;
		}
		putc_(out, c);
		p++;
	}
	return out->oom ? -ENOMEM : 0;
}

/* A prefix for the tokens that occurs neither in the template nor in its
 * HTML without the variables (a character reference, &#87;, could make
 * one).  NULL when out of memory. */
static char *token_prefix(struct expand *x, const char *body)
{
	struct buf b = { 0 }, plain = { 0 };
	char *html = NULL, *prefix = NULL;

	puts_(&b, "WafaVar");
	if (strchr(body, '&')) {
		if (expand(x, body, BODY_LINE, DROP, &plain, NULL, 0) != 0)
			goto out;
		html = cmark_markdown_to_html(plain.p, plain.len, CMARK_OPTS);
		if (!html)
			goto out;
	}
	while (!b.oom && (strstr(body, b.p) || (html && strstr(html, b.p))))
		putc_(&b, 'Q');
	prefix = take(&b);
out:
	free(take(&b));
	free(take(&plain));
	free(html);
	return prefix;
}

static void put_document(struct buf *b, const char *locale, bool rtl, const char *subject,
                         const char *body)
{
	puts_(b, "<!DOCTYPE html>\n<html lang=\"");
	puts_(b, locale);
	puts_(b, rtl ? "\" dir=\"rtl\">\n" : "\" dir=\"ltr\">\n");
	puts_(b, "<head>\n<meta charset=\"utf-8\">\n"
	         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	         "<title>");
	put_html(b, subject, strlen(subject));
	puts_(b, "</title>\n</head>\n"
	         "<body style=\"margin:0;padding:0;background-color:#f3f4f6;\">\n"
	         "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" "
	         "border=\"0\" style=\"background-color:#f3f4f6;\"><tr><td align=\"center\" "
	         "style=\"padding:24px 12px;\">\n"
	         "<table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" "
	         "border=\"0\" style=\"width:100%;max-width:600px;background-color:#ffffff;"
	         "border-radius:8px;\"><tr><td dir=\"");
	puts_(b, rtl ? "rtl" : "ltr");
	puts_(b, "\" style=\"padding:24px 28px;color:#1f2328;font-size:16px;line-height:1.7;"
	         "font-family:");
	puts_(b, rtl ? FONTS_RTL : FONTS_LTR);
	puts_(b, rtl ? ";text-align:right;\">\n" : ";text-align:left;\">\n");
	puts_(b, body);
	puts_(b, "</td></tr></table>\n</td></tr></table>\n</body>\n</html>\n");
}

/* Renders the file at path (read_file's errors pass through, -ENOENT
 * untouched so the caller can try the next locale). */
static int render_file(const char *path, const char *locale, const struct wafa_var *vars,
                       size_t nvars, bool any, struct wafa_rendered *out, char *why,
                       size_t whylen)
{
	struct expand x = { .path = path, .vars = vars, .nvars = nvars, .any = any };
	struct buf subject = { 0 }, text = { 0 }, md = { 0 }, html = { 0 }, doc_html = { 0 };
	struct tpl t = { 0 };
	cmark_node *doc = NULL;
	char *data = NULL, *body_html = NULL, *prefix = NULL;
	size_t len = 0;
	bool rtl = lang_rtl(locale);
	int err;

	memset(out, 0, sizeof(*out));
	err = read_file(path, &data, &len);
	if (err == -ENOENT)
		goto out;
	if (err) {
		say(why, whylen, "%s: %s", path,
		    err == -EFBIG ? "larger than 256 KiB: is this a template?" : strerror(-err));
		goto out;
	}
	err = parse(path, data, len, &t, why, whylen);
	if (err)
		goto out;

	err = expand(&x, t.subject, 1, RAW, &subject, why, whylen);
	if (err)
		goto out;
	for (char *p = subject.p; *p; p++) {
		if (*p == '\r' || *p == '\n' || *p == '\t')
			*p = ' ';
	}
	const char *body = t.body + strspn(t.body, "\n"); /* leading blank lines */
	int first = BODY_LINE;
	for (const char *q = t.body; q < body; q++)
		first++;
	err = expand(&x, body, first, RAW, &text, why, whylen);
	if (err)
		goto out;
	while (text.len && (text.p[text.len - 1] == '\n' || text.p[text.len - 1] == ' '))
		text.p[--text.len] = '\0';
	putc_(&text, '\n');

	prefix = token_prefix(&x, t.body);
	if (!prefix) {
		err = -ENOMEM;
		goto out;
	}
	x.prefix = prefix;
	err = expand(&x, t.body, BODY_LINE, TOKEN, &md, why, whylen);
	if (err)
		goto out;
	doc = cmark_parse_document(md.p, md.len, CMARK_OPTS);
	if (!doc) {
		err = -ENOMEM;
		goto out;
	}
	err = style_links(doc, path, why, whylen);
	if (err)
		goto out;
	body_html = cmark_render_html(doc, CMARK_OPTS);
	if (!body_html) {
		err = -ENOMEM;
		goto out;
	}
	err = substitute(&x, body_html, &html, why, whylen);
	if (err)
		goto out;
	put_document(&doc_html, locale, rtl, subject.p, html.p ? html.p : "");
	if (subject.oom || text.oom || html.oom || doc_html.oom) {
		err = -ENOMEM;
		goto out;
	}
	out->subject = take(&subject);
	out->text = take(&text);
	out->html = take(&doc_html);
	out->locale = strdup(locale);
	out->rtl = rtl;
	if (!out->locale) {
		wafa_rendered_free(out);
		err = -ENOMEM;
	}
out:
	if (err == -ENOMEM)
		say(why, whylen, "%s: out of memory", path);
	if (doc)
		cmark_node_free(doc);
	free(body_html);
	free(prefix);
	free(x.occ);
	free(take(&subject));
	free(take(&text));
	free(take(&md));
	free(take(&html));
	free(take(&doc_html));
	free(t.data ? t.data : data);
	return err;
}

static char *join_path(const char *dir, const char *locale, const char *name)
{
	size_t n = strlen(dir);
	char *p = NULL;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (asprintf(&p, "%.*s/%s/%s.md", (int)n, dir, locale, name) < 0)
		return NULL;
	return p;
}

/* The locales to try, most specific first, without repeats.  0 or -EINVAL
 * (default_locale is not a locale). */
static int chain(const char *locale, const char *default_locale, char out[4][LOCALE_LEN],
                 size_t *n, char *why, size_t whylen)
{
	char full[LOCALE_LEN], def[LOCALE_LEN];
	const char *cand[4];
	size_t nc = 0;

	*n = 0;
	if (!default_locale || !*default_locale)
		default_locale = "en";
	if (norm_locale(default_locale, def) != 0) {
		say(why, whylen,
		    "[mail] default_locale \"%s\" is not a locale (use a language like en, or en-US)",
		    default_locale);
		return -EINVAL;
	}
	/* a customer's locale that is not one ("", "C", "../x") is passed over:
	 * the mail goes out in the default locale */
	if (locale && norm_locale(locale, full) == 0)
		cand[nc++] = full;
	cand[nc++] = def;
	for (size_t i = 0; i < nc; i++) {
		for (int lang = 0; lang < 2; lang++) {
			char c[LOCALE_LEN];
			memcpy(c, cand[i], LOCALE_LEN);
			if (lang)
				c[strcspn(c, "-")] = '\0';
			bool seen = false;
			for (size_t j = 0; j < *n; j++)
				seen = seen || strcmp(out[j], c) == 0;
			if (!seen)
				memcpy(out[(*n)++], c, LOCALE_LEN);
		}
	}
	return 0;
}

/* The length of the bidi embedding, override or isolate control at s
 * (U+202A-202E, U+2066-2069), or 0. */
static size_t bidi_control(const unsigned char *s)
{
	if (s[0] == 0xe2 && s[1] == 0x80 && s[2] >= 0xaa && s[2] <= 0xae)
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)
		return 3;
	return 0;
}

size_t wafa_template_strip_bidi(char *s)
{
	char *o = s;

	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t skip = bidi_control(p);
		if (skip) {
			p += skip;
			continue;
		}
		*o++ = (char)*p++;
	}
	*o = '\0';
	return (size_t)(o - s);
}

int wafa_template_render(const char *dir, const char *name, const char *locale,
                         const char *default_locale, const struct wafa_var *vars, size_t nvars,
                         struct wafa_rendered *out, char *why, size_t whylen)
{
	char locales[4][LOCALE_LEN], *path = NULL;
	struct buf tried = { 0 };
	size_t n = 0;
	int err;
	/* values without bidi controls: a name or a subject with U+202E in it
	 * would display reversed, in every locale */
	struct wafa_var *clean = nvars ? calloc(nvars, sizeof(*clean)) : NULL;

	memset(out, 0, sizeof(*out));
	if (nvars && !clean) {
		say(why, whylen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < nvars; i++) {
		clean[i].name = vars[i].name;
		if (vars[i].value) {
			char *v = strdup(vars[i].value);
			if (!v) {
				say(why, whylen, "out of memory");
				err = -ENOMEM;
				nvars = i;
				goto out;
			}
			wafa_template_strip_bidi(v);
			clean[i].value = v;
		}
	}
	vars = clean;
	if (!dir || !*dir) {
		say(why, whylen, "no template folder ([mail] templates is empty)");
		err = -ENOENT;
		goto out;
	}
	if (!name_ok(name)) {
		say(why, whylen,
		    "template name \"%s\": a name has only letters, digits, - and _ (like csat)",
		    name ? name : "");
		err = -EINVAL;
		goto out;
	}
	err = chain(locale, default_locale, locales, &n, why, whylen);
	if (err)
		goto out;
	err = -ENOENT;
	for (size_t i = 0; i < n && err == -ENOENT; i++) {
		free(path);
		path = join_path(dir, locales[i], name);
		if (!path) {
			err = -ENOMEM;
			say(why, whylen, "out of memory");
			goto out;
		}
		err = render_file(path, locales[i], vars, nvars, false, out, why, whylen);
		if (err == -ENOENT) {
			puts_(&tried, tried.len ? ", " : "");
			puts_(&tried, path);
		}
	}
	if (err == -ENOENT)
		say(why, whylen, "no template \"%s\": none of %s exists (add at least %s)", name,
		    tried.p ? tried.p : "", path);
out:
	for (size_t i = 0; i < nvars; i++)
		free((char *)clean[i].value);
	free(clean);
	free(path);
	free(take(&tried));
	return err;
}

void wafa_rendered_free(struct wafa_rendered *r)
{
	if (!r)
		return;
	free(r->subject);
	free(r->text);
	free(r->html);
	free(r->locale);
	memset(r, 0, sizeof(*r));
}

int wafa_template_exists(const char *dir, const char *name, const char *default_locale)
{
	char def[LOCALE_LEN], *path;
	struct stat st;
	int found;

	if (!dir || !*dir || !name_ok(name) ||
	    norm_locale(default_locale && *default_locale ? default_locale : "en", def) != 0)
		return 0;
	path = join_path(dir, def, name);
	if (!path)
		return 0;
	found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return found;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir (no dot files), sorted; *n of them.  0 or -errno. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int err = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char **grown = realloc(*names, (*n + 1) * sizeof(*grown));
		if (!grown) {
			err = -ENOMEM;
			break;
		}
		*names = grown;
		if (!((*names)[*n] = strdup(e->d_name))) {
			err = -ENOMEM;
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_str);
	return err;
}

static void free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int wafa_template_check_dir(const char *dir, const char *default_locale, FILE *report)
{
	char **locales = NULL, **files = NULL, **seen = NULL, def[LOCALE_LEN];
	size_t nlocales = 0, nfiles = 0, nseen = 0;
	int problems = 0, err;
	char *sub = NULL;
	size_t dlen = dir ? strlen(dir) : 0;

	if (!dir || !*dir)
		return -ENOENT;
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	if (!report)
		report = stderr;
	err = list_dir(dir, &locales, &nlocales);
	if (err)
		goto out;
	if (!default_locale || !*default_locale)
		default_locale = "en";
	if (norm_locale(default_locale, def) != 0) {
		fprintf(report,
		        "[mail] default_locale \"%s\" is not a locale (use a language like en, or "
		        "en-US)\n",
		        default_locale);
		problems++;
		def[0] = '\0';
	}
	for (size_t i = 0; i < nlocales; i++) {
		char canon[LOCALE_LEN];
		struct stat st;

		free(sub);
		if (asprintf(&sub, "%.*s/%s", (int)dlen, dir, locales[i]) < 0) {
			sub = NULL;
			err = -ENOMEM;
			goto out;
		}
		if (stat(sub, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (norm_locale(locales[i], canon) != 0 || strcmp(canon, locales[i]) != 0) {
			if (norm_locale(locales[i], canon) == 0)
				fprintf(report, "%s: templates here are never used: name the folder %s\n",
				        sub, canon);
			else
				fprintf(report,
				        "%s: not a locale, templates here are never used (name folders "
				        "like en, fa or fa-IR)\n",
				        sub);
			problems++;
			continue;
		}
		free_list(files, nfiles);
		err = list_dir(sub, &files, &nfiles);
		if (err == -ENOMEM)
			goto out;
		if (err) {
			fprintf(report, "%s: cannot be read: %s\n", sub, strerror(-err));
			problems++;
			err = 0;
			continue;
		}
		for (size_t j = 0; j < nfiles; j++) {
			size_t len = strlen(files[j]);
			char why[512], *path = NULL;
			struct wafa_rendered r;

			if (len < 4 || strcmp(files[j] + len - 3, ".md") != 0)
				continue;
			files[j][len - 3] = '\0';
			if (!name_ok(files[j])) {
				fprintf(report,
				        "%s/%s.md: never used: a template name has only letters, digits, "
				        "- and _\n",
				        sub, files[j]);
				problems++;
				continue;
			}
			path = join_path(dir, locales[i], files[j]);
			if (!path) {
				err = -ENOMEM;
				goto out;
			}
			err = render_file(path, locales[i], NULL, 0, true, &r, why, sizeof(why));
			free(path);
			if (err == -ENOMEM)
				goto out;
			if (err) {
				fprintf(report, "%s\n", why);
				problems++;
			}
			wafa_rendered_free(&r);
			err = 0;
			if (!def[0] || wafa_template_exists(dir, files[j], def))
				continue;
			bool dup = false;
			for (size_t k = 0; k < nseen; k++)
				dup = dup || strcmp(seen[k], files[j]) == 0;
			if (dup)
				continue;
			char **grown = realloc(seen, (nseen + 1) * sizeof(*grown));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			seen = grown;
			if (!(seen[nseen] = strdup(files[j]))) {
				err = -ENOMEM;
				goto out;
			}
			nseen++;
			fprintf(report,
			        "%s/%s.md: there is no %.*s/%s/%s.md, the fallback for every locale "
			        "(add it)\n",
			        sub, files[j], (int)dlen, dir, def, files[j]);
			problems++;
		}
	}
out:
	free(sub);
	free_list(locales, nlocales);
	free_list(files, nfiles);
	free_list(seen, nseen);
	return err ? err : problems;
}

/* Whether some DIR/<locale>/name.md exists. */
static bool template_exists(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d)) != NULL) {
		char *path = NULL;
		if (e->d_name[0] == '.' || asprintf(&path, "%s/%s/%s.md", dir, e->d_name, name) < 0)
			continue;
		found = access(path, R_OK) == 0;
		free(path);
	}
	if (d)
		closedir(d);
	return found;
}

struct template_check {
	const char *dir;
	FILE *report;
};

static int check_template(void *ctx, const char *path, unsigned lineno, const char *name)
{
	const struct template_check *c = ctx;
	const char *dir = c->dir;
	FILE *report = c->report;
	int problems = 0;

	if (!dir || !*dir) {
		fprintf(report, "%s:%u: template \"%s\": [mail] templates is not set "
		                "(set it to the folder of <locale>/<name>.md files)\n",
		        path, lineno, name);
		problems++;
	} else if (!template_exists(dir, name)) {
		fprintf(report, "%s:%u: template \"%s\" does not exist: no %s/<locale>/%s.md "
		                "(its mail would be parked as failed; fix the name or add "
		                "the file)\n",
		        path, lineno, name, dir, name);
		problems++;
	}
	return problems;
}

int wafa_template_check_rules(const char *rules_dir, const char *dir, FILE *report)
{
	struct template_check c = { dir, report };

	/* template = "name": the names a rule's text gives literally */
	return wafa_literal_each(rules_dir, "template",
	                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
	                         check_template, &c);
}
