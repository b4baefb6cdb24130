/* wafa.conf: an INI file read with libinih.  Every key is declared once in
 * config.c's table (section, name, type, default, whether a reload applies),
 * so `wafa check` validates a file without running anything. */
#ifndef WAFA_CONFIG_H
#define WAFA_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "log.h"
#include "wafa/channel.h"

struct wafa_config {
	char *path;
	/* [database] */
	char *dsn;
	char *schema;
	/* [helpdesk] */
	char *adapter;
	char *view;
	char *notify_channel;
	int64_t reconcile_ms;
	/* [rules] */
	char *rules_dir;
	int64_t rules_budget_ms;
	int64_t rules_memory;
	/* [mail] */
	char *transport;
	char *from;
	int starttls; /* enum wafa_starttls */
	char *auth_user;
	char *auth_password_file;
	char *ca_file;
	int64_t retry_initial_ms;
	int64_t retry_max_ms;
	int64_t poll_ms;
	int64_t timeout_ms;
	int64_t batch;
	/* [log] */
	int log_level; /* enum wafa_log_level */
};

/* Reads and validates path into cfg (which it initialises; free it with
 * wafa_config_free even on failure).  Each problem is printed to report as
 * `path:line: message`.  Returns 0, -ENOENT (or another errno) when the file
 * cannot be read, or -EINVAL when it has problems. */
WAFA_WUR int wafa_config_load(const char *path, struct wafa_config *cfg, FILE *report);
void wafa_config_free(struct wafa_config *cfg);

/* Reads cfg->path again.  If it is valid, the keys marked reloadable take
 * their new values and each other key that changed is logged as needing a
 * restart.  Returns 0, or a negative errno (problems reported to report)
 * leaving cfg as it was. */
WAFA_WUR int wafa_config_reload(struct wafa_config *cfg, FILE *report);

#endif
