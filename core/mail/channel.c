#include "mail/channel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/secret.h"

static const struct wafa_channel *const builtin[] = { &wafa_channel_smtp, &wafa_channel_maildir };

/* Secrets come from files, never argv: the first line of path, from a file
 * only its owner can read. */
static int read_secret(const char *path, char **out)
{
	FILE *f = fopen(path, "r");
	char line[1024], why[600];
	int err;

	if (!f)
		return -errno;
	if ((err = wafa_secret_check(fileno(f), path, why, sizeof(why))) != 0) {
		wafa_log(WAFA_ERROR, "mail", "[mail] auth_password_file %s", why);
		fclose(f);
		return err;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	*out = strdup(line);
	explicit_bzero(line, sizeof(line));
	return *out ? 0 : -ENOMEM;
}

int wafa_channel_open(const struct wafa_config *cfg, struct wafa_channel_handle *out)
{
	const char *colon = strchr(cfg->transport, ':');
	struct wafa_channel_config cc = { 0 };
	char *password = NULL;
	char err[512] = "";
	int rc = -ENOENT;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; colon && i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		if (strlen(builtin[i]->name) == (size_t)(colon - cfg->transport) &&
		    strncmp(builtin[i]->name, cfg->transport, (size_t)(colon - cfg->transport)) == 0)
			out->channel = builtin[i];
	}
	if (!out->channel || out->channel->abi != WAFA_ABI) {
		wafa_log(WAFA_ERROR, "mail", "[mail] transport \"%s\": no such channel (use smtp: or maildir:)",
		         cfg->transport);
		return -ENOENT;
	}
	if (cfg->auth_password_file[0]) {
		rc = read_secret(cfg->auth_password_file, &password);
		if (rc) {
			wafa_log(WAFA_ERROR, "mail", "[mail] auth_password_file %s: %s",
			         cfg->auth_password_file, wafa_strerror(rc));
			return rc;
		}
	}
	cc.target = colon + 1;
	cc.starttls = (enum wafa_starttls)cfg->starttls;
	cc.auth_user = cfg->auth_user;
	cc.auth_password = password;
	cc.ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL;
	cc.timeout_ms = (unsigned)cfg->timeout_ms;
	rc = out->channel->open(&cc, &out->state, err, sizeof(err));
	if (rc)
		wafa_log(WAFA_ERROR, "mail", "[mail] transport \"%s\": %s", cfg->transport, err);
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	return rc;
}

void wafa_channel_close(struct wafa_channel_handle *h)
{
	if (h->channel && h->state)
		h->channel->close(h->state);
	h->state = NULL;
}
