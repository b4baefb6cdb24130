#include "message.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

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

int wafa_message_render(const char *from, const char *to, const char *subject, const char *body,
                        const char *key, int64_t date_ms, struct wafa_message *out, char *why,
                        size_t whylen)
{
	GMimeMessage *msg = NULL;
	InternetAddressList *from_list = NULL, *to_list = NULL;
	GMimeTextPart *part = NULL;
	GMimeFormatOptions *fo = NULL;
	GDateTime *date = NULL;
	char **from_addrs = NULL;
	size_t nfrom = 0;
	char *id = NULL, *clean_subject = NULL, *text = NULL;
	int err = 0;

	memset(out, 0, sizeof(*out));
	from_list = internet_address_list_parse(NULL, from);
	if (!from_list || collect(from_list, &from_addrs, &nfrom) != 0 || nfrom != 1) {
		snprintf(why, whylen, "[mail] from \"%s\" is not one mail address", from);
		err = -EINVAL;
		goto out;
	}
	to_list = internet_address_list_parse(NULL, to);
	if (!to_list || collect(to_list, &out->rcpt, &out->nrcpt) != 0 || out->nrcpt == 0) {
		snprintf(why, whylen, "recipient \"%s\" is not a mail address", to);
		err = -EINVAL;
		goto out;
	}
	/* no header may carry CR or LF from rule data */
	clean_subject = g_strdup(subject);
	g_strdelimit(clean_subject, "\r\n", ' ');

	msg = g_mime_message_new(TRUE);
	internet_address_list_append(g_mime_message_get_from(msg), from_list);
	internet_address_list_append(g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO),
	                             to_list);
	g_mime_message_set_subject(msg, clean_subject, "utf-8");
	date = g_date_time_new_from_unix_utc(date_ms / 1000);
	g_mime_message_set_date(msg, date);
	id = wafa_message_id(key, from_addrs[0]);
	if (!id) {
		err = -ENOMEM;
		goto out;
	}
	g_mime_message_set_message_id(msg, id);
	g_mime_object_set_header(GMIME_OBJECT(msg), "Auto-Submitted", "auto-generated", NULL);
	g_mime_object_set_header(GMIME_OBJECT(msg), "X-Auto-Response-Suppress", "All", NULL);

	part = g_mime_text_part_new_with_subtype("plain");
	g_mime_text_part_set_text(part, body);
	g_mime_text_part_set_charset(part, "utf-8");
	g_mime_part_set_content_encoding(
		GMIME_PART(part),
		g_mime_part_get_best_content_encoding(GMIME_PART(part), GMIME_ENCODING_CONSTRAINT_7BIT));
	g_mime_message_set_mime_part(msg, GMIME_OBJECT(part));

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
	if (fo)
		g_mime_format_options_free(fo);
	if (date)
		g_date_time_unref(date);
	if (part)
		g_object_unref(part);
	if (msg)
		g_object_unref(msg);
	if (to_list)
		g_object_unref(to_list);
	if (from_list)
		g_object_unref(from_list);
	return err;
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
