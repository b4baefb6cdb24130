#include "mail/message.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "mail/template.h"

void wafa_message_init(void)
{
	static int done;

	if (!done) {
		g_mime_init();
		done = 1;
	}
}

char *wafa_message_id(const char *key, const char *from_addr)
{
	gchar *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, key, -1);
	const char *at = from_addr ? strrchr(from_addr, '@') : NULL;
	char *id = NULL;

	if (!hex)
		return NULL;
	if (asprintf(&id, "wafa.%.32s@%s", hex, at && at[1] ? at + 1 : "wafa.invalid") < 0)
		id = NULL;
	g_free(hex);
	return id;
}

/* A bare address: local@domain, one '@', no space, no list or group
 * punctuation, nothing to quote. */
static bool addr_spec(const char *s, size_t n, const char **why)
{
	const char *at = memchr(s, '@', n);

	if (n == 0 || !at) {
		*why = "is not a mail address (expected name@domain)";
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || strchr(",;:<>()[]\\\"", c)) {
			*why = c == ',' || c == ';' || c == ':'
			           ? "is a list or a group: give one address per mail{}"
			           : "is not a mail address (a space or <>()[]\\\" in it)";
			return false;
		}
	}
	if (at == s || at == s + n - 1 || memchr(at + 1, '@', (size_t)(s + n - at - 1))) {
		*why = "is not a mail address (expected one name@domain)";
		return false;
	}
	return true;
}

bool wafa_message_one_mailbox(const char *to, const char **why)
{
	size_t n = strlen(to);
	const char *lt = NULL;
	bool quoted = false;

	while (n > 0 && (*to == ' ' || *to == '\t'))
		to++, n--;
	while (n > 0 && (to[n - 1] == ' ' || to[n - 1] == '\t'))
		n--;
	/* the display name: up to the first '<' outside quotes */
	for (size_t i = 0; i < n && !lt; i++) {
		char c = to[i];
		if (quoted) {
			if (c == '\\' && i + 1 < n)
				i++;
			else if (c == '"')
				quoted = false;
		} else if (c == '"') {
			quoted = true;
		} else if (c == '<') {
			lt = to + i;
		} else if (c == ',' || c == ';' || c == ':') {
			*why = "is a list or a group: give one address per mail{} "
			       "(wafa.address(name, email) makes one)";
			return false;
		} else if (c == '@' || c == '>' || c == '(' || c == ')' || c == '[' || c == ']' ||
		           c == '\\') {
			if (c == '@' && !memchr(to, '<', n))
				break; /* a bare address */
			*why = "has a display name that needs quotes: use wafa.address(name, email)";
			return false;
		}
	}
	if (quoted) {
		*why = "has an unclosed quote in its display name: use wafa.address(name, email)";
		return false;
	}
	if (!lt)
		return addr_spec(to, n, why);
	if (to[n - 1] != '>') {
		*why = "has something after the address: give one address per mail{}";
		return false;
	}
	return addr_spec(lt + 1, (size_t)(to + n - 1 - lt - 1), why);
}

char *wafa_message_mailbox(const char *name, const char *email, const char **why)
{
	size_t n = strlen(email);
	char *out, *o;

	if (!addr_spec(email, n, why))
		return NULL;
	if (!name || !*name)
		name = "";
	out = malloc(strlen(name) * 2 + n + 6);
	if (!out) {
		*why = "out of memory";
		return NULL;
	}
	o = out;
	if (*name) {
		*o++ = '"';
		char *bare = strdup(name);
		if (!bare) {
			free(out);
			*why = "out of memory";
			return NULL;
		}
		wafa_template_strip_bidi(bare);
		for (const unsigned char *p = (const unsigned char *)bare; *p; p++) {
			if (*p < ' ' || *p == 0x7f)
				continue;
			if (*p == '"' || *p == '\\')
				*o++ = '\\';
			*o++ = (char)*p;
		}
		free(bare);
		*o++ = '"';
		*o++ = ' ';
	}
	*o++ = '<';
	memcpy(o, email, n);
	o += n;
	*o++ = '>';
	*o = '\0';
	if (!*name) { /* just the address */
		memmove(out, out + 1, n);
		out[n] = '\0';
	}
	return out;
}

/* Appends the bare addresses of list (groups flattened) to out. */
static int collect(InternetAddressList *list, char ***out, size_t *n)
{
	for (int i = 0; i < internet_address_list_length(list); i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			int err = collect(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)),
			                  out, n);
			if (err)
				return err;
			continue;
		}
		const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
		if (!addr || !strchr(addr, '@'))
			return -EINVAL;
		char **grown = realloc(*out, (*n + 1) * sizeof(**out));
		if (!grown)
			return -ENOMEM;
		*out = grown;
		if (!((*out)[*n] = strdup(addr)))
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

/* A copy of s (g_free) on one line: CR and LF become spaces. */
static char *one_line(const char *s)
{
	char *c = g_strdup(s ? s : "");

	g_strdelimit(c, "\r\n", ' ');
	return c;
}

/* Sets a header to value as it is: no RFC 2047 words, no folding (GMime
 * would encode a long URL in List-Unsubscribe into words no client reads). */
static void set_raw_header(GMimeObject *obj, const char *name, const char *value)
{
	char *raw = g_strdup_printf(" %s\n", value);

	g_mime_object_set_header(obj, name, value, NULL);
	g_mime_header_set_raw_value(
		g_mime_header_list_get_header(g_mime_object_get_header_list(obj), name), raw);
	g_free(raw);
}

/* Printable ASCII without spaces and angle brackets: what may stand
 * between < and > in a header. */
static int bracketable(const char *s)
{
	if (!*s || strlen(s) > 900)
		return 0;
	for (; *s; s++) {
		if (*s <= ' ' || *s > '~' || *s == '<' || *s == '>')
			return 0;
	}
	return 1;
}

/* "<id>" for the thread's Message-ID (given with or without <>), or NULL
 * for one that cannot be a Message-ID: threading is then left out. */
static char *msg_id(const char *in)
{
	char *id = g_strstrip(one_line(in)), *out = NULL;
	size_t n = strlen(id);
	const char *p = id;

	if (n >= 2 && id[0] == '<' && id[n - 1] == '>') {
		id[n - 1] = '\0';
		p = id + 1;
	}
	if (bracketable(p))
		out = g_strdup_printf("<%s>", p);
	g_free(id);
	return out;
}

/* Content-Language from a locale, up to the first character that cannot be
 * in a language tag: "fa_IR.UTF-8" -> "fa-IR"; NULL if nothing is left. */
static char *content_language(const char *lang)
{
	size_t n = 0;

	while (g_ascii_isalnum(lang[n]) || lang[n] == '-' || lang[n] == '_')
		n++;
	if (n == 0)
		return NULL;
	char *c = g_strndup(lang, n);
	g_strdelimit(c, "_", '-');
	return c;
}

static GMimeTextPart *text_part(const char *subtype, const char *content)
{
	GMimeTextPart *part = g_mime_text_part_new_with_subtype(subtype);

	g_mime_text_part_set_text(part, content ? content : "");
	g_mime_text_part_set_charset(part, "utf-8");
	g_mime_part_set_content_encoding(
		GMIME_PART(part),
		g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT));
	return part;
}

/* A multipart/related of html, with each src="data:image/png;base64,..."
 * turned into src="cid:chartN.ID" and its image a part after the HTML
 * (inline, base64), for mail clients that show no data: URIs. */
static GMimeMultipart *related(const char *html, const char *id)
{
	static const char mark[] = "src=\"data:image/png;base64,";
	GString *out = g_string_new(NULL);
	GPtrArray *imgs = g_ptr_array_new_with_free_func(g_object_unref);
	GMimeMultipart *rel = g_mime_multipart_new_with_subtype("related");
	const char *p = html, *q, *e;
	int n = 0;

	while ((q = strstr(p, mark)) && (e = strchr(q + sizeof(mark) - 1, '"'))) {
		const char *b = q + sizeof(mark) - 1;
		gchar *b64 = g_strndup(b, (gsize)(e - b)), *cid, *name;
		gsize len = 0;
		guchar *bytes = g_base64_decode(b64, &len);
		n++;
		cid = g_strdup_printf("chart%d.%s", n, id);
		name = g_strdup_printf("chart%d.png", n);
		g_string_append_len(out, p, q - p);
		g_string_append_printf(out, "src=\"cid:%s\"", cid);
		p = e + 1;
		GMimePart *img = g_mime_part_new_with_type("image", "png");
		GMimeStream *st = g_mime_stream_mem_new_with_buffer((const char *)bytes, len);
		GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(st,
		                                                           GMIME_CONTENT_ENCODING_DEFAULT);
		g_mime_part_set_content(img, w);
		g_mime_part_set_content_encoding(img, GMIME_CONTENT_ENCODING_BASE64);
		g_mime_object_set_content_id(GMIME_OBJECT(img), cid);
		g_mime_object_set_disposition(GMIME_OBJECT(img), GMIME_DISPOSITION_INLINE);
		g_mime_part_set_filename(img, name);
		g_ptr_array_add(imgs, img);
		g_object_unref(w);
		g_object_unref(st);
		g_free(bytes);
		g_free(b64);
		g_free(cid);
		g_free(name);
	}
	g_string_append(out, p);
	GMimeTextPart *h = text_part("html", out->str);
	g_mime_multipart_add(rel, GMIME_OBJECT(h));
	g_object_unref(h);
	for (guint i = 0; i < imgs->len; i++)
		g_mime_multipart_add(rel, GMIME_OBJECT(g_ptr_array_index(imgs, i)));
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(rel), "type", "text/html");
	g_ptr_array_free(imgs, TRUE);
	g_string_free(out, TRUE);
	return rel;
}

/* Besides message.h's -EINVAL for an address: -EINVAL for an unsubscribe
 * link that is not an http(s) URL (an http one gets List-Unsubscribe but
 * not List-Unsubscribe-Post, which RFC 8058 allows only with https).  An
 * in_reply_to that cannot be a Message-ID is left out, not an error. */
int wafa_message_build(const struct wafa_message_in *in, struct wafa_message *out, char *why,
                       size_t whylen)
{
	GMimeMessage *msg = NULL;
	InternetAddressList *from_list = NULL, *to_list = NULL;
	GMimeTextPart *plain = NULL, *html = NULL;
	GMimeMultipart *alt = NULL;
	GMimeFormatOptions *fo = NULL;
	GDateTime *date = NULL;
	char **from_addrs = NULL;
	size_t nfrom = 0;
	char *id = NULL, *clean_subject = NULL, *text = NULL, *lang = NULL, *reply = NULL,
	     *unsub = NULL;
	int err = 0, one_click = 0;

	memset(out, 0, sizeof(*out));
	from_list = internet_address_list_parse(NULL, in->from ? in->from : "");
	if (!from_list || collect(from_list, &from_addrs, &nfrom) != 0 || nfrom != 1) {
		snprintf(why, whylen, "[mail] from \"%s\" is not one mail address",
		         in->from ? in->from : "");
		err = -EINVAL;
		goto out;
	}
	to_list = internet_address_list_parse(NULL, in->to ? in->to : "");
	if (!to_list || collect(to_list, &out->rcpt, &out->nrcpt) != 0 || out->nrcpt == 0) {
		snprintf(why, whylen, "recipient \"%s\" is not a mail address", in->to ? in->to : "");
		err = -EINVAL;
		goto out;
	}
	if (in->list_unsubscribe) {
		unsub = g_strstrip(one_line(in->list_unsubscribe));
		one_click = g_ascii_strncasecmp(unsub, "https://", 8) == 0;
		if (!bracketable(unsub) ||
		    (!one_click && g_ascii_strncasecmp(unsub, "http://", 7) != 0)) {
			snprintf(why, whylen,
			         "unsubscribe link \"%s\" is not an http(s) URL (check [web] base_url)",
			         in->list_unsubscribe);
			err = -EINVAL;
			goto out;
		}
	}
	/* no header may carry CR or LF from rule data */
	clean_subject = one_line(in->subject);
	wafa_template_strip_bidi(clean_subject);

	msg = g_mime_message_new(TRUE);
	internet_address_list_append(g_mime_message_get_from(msg), from_list);
	internet_address_list_append(g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO),
	                             to_list);
	g_mime_message_set_subject(msg, clean_subject, "utf-8");
	date = g_date_time_new_from_unix_utc(in->date_ms / 1000);
	g_mime_message_set_date(msg, date);
	id = wafa_message_id(in->key ? in->key : "", from_addrs[0]);
	if (!id) {
		err = -ENOMEM;
		goto out;
	}
	g_mime_message_set_message_id(msg, id);
	if (in->in_reply_to && (reply = msg_id(in->in_reply_to))) {
		set_raw_header(GMIME_OBJECT(msg), "In-Reply-To", reply);
		set_raw_header(GMIME_OBJECT(msg), "References", reply);
	}
	if (in->lang && (lang = content_language(in->lang)))
		g_mime_object_set_header(GMIME_OBJECT(msg), "Content-Language", lang, NULL);
	if (unsub) {
		char *v = g_strdup_printf("<%s>", unsub);
		set_raw_header(GMIME_OBJECT(msg), "List-Unsubscribe", v);
		g_free(v);
		/* RFC 8058: one-click only with an https URL */
		if (one_click)
			g_mime_object_set_header(GMIME_OBJECT(msg), "List-Unsubscribe-Post",
			                         "List-Unsubscribe=One-Click", NULL);
	}
	g_mime_object_set_header(GMIME_OBJECT(msg), "Auto-Submitted", "auto-generated", NULL);
	g_mime_object_set_header(GMIME_OBJECT(msg), "X-Auto-Response-Suppress", "All", NULL);

	plain = text_part("plain", in->text);
	if (in->html) {
		alt = g_mime_multipart_new_with_subtype("alternative");
		g_mime_multipart_add(alt, GMIME_OBJECT(plain));
		if (in->related) {
			GMimeMultipart *rel = related(in->html, id);
			g_mime_multipart_add(alt, GMIME_OBJECT(rel));
			g_object_unref(rel);
		} else {
			html = text_part("html", in->html);
			g_mime_multipart_add(alt, GMIME_OBJECT(html));
		}
		g_mime_message_set_mime_part(msg, GMIME_OBJECT(alt));
	} else {
		g_mime_message_set_mime_part(msg, GMIME_OBJECT(plain));
	}

	fo = g_mime_format_options_clone(NULL);
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	text = g_mime_object_to_string(GMIME_OBJECT(msg), fo);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}
	out->len = strlen(text);
	out->data = malloc(out->len + 1);
	out->env_from = strdup(from_addrs[0]);
	if (!out->data || !out->env_from) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(out->data, text, out->len + 1);
out:
	if (err)
		wafa_message_free(out);
	for (size_t i = 0; i < nfrom; i++)
		free(from_addrs[i]);
	free(from_addrs);
	free(id);
	g_free(text);
	g_free(clean_subject);
	g_free(lang);
	g_free(reply);
	g_free(unsub);
	if (fo)
		g_mime_format_options_free(fo);
	if (date)
		g_date_time_unref(date);
	if (plain)
		g_object_unref(plain);
	if (html)
		g_object_unref(html);
	if (alt)
		g_object_unref(alt);
	if (msg)
		g_object_unref(msg);
	if (to_list)
		g_object_unref(to_list);
	if (from_list)
		g_object_unref(from_list);
	return err;
}

int wafa_message_render(const char *from, const char *to, const char *subject, const char *body,
                        const char *key, int64_t date_ms, struct wafa_message *out, char *why,
                        size_t whylen)
{
	struct wafa_message_in in = {
		.from = from,
		.to = to,
		.subject = subject,
		.text = body,
		.key = key,
		.date_ms = date_ms,
	};

	return wafa_message_build(&in, out, why, whylen);
}

void wafa_message_free(struct wafa_message *m)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		free(m->rcpt[i]);
	free(m->rcpt);
	free(m->data);
	free(m->env_from);
	memset(m, 0, sizeof(*m));
}
