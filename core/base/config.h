/* wafa.conf: an INI file read with libinih.  Every key is declared once in
 * config.c's table (section, name, type, default, whether a reload applies),
 * so `wafa check` validates a file without running anything. */
#ifndef WAFA_CONFIG_H
#define WAFA_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "base/log.h"
#include "wafa/channel.h"

/* "3/7d": at most n in any window of per_ms; n == 0: no cap. */
struct wafa_rate {
	int64_t n, per_ms;
};

/* "21:00-08:00": minutes of the local day, may wrap midnight; from < 0: none. */
struct wafa_span {
	int64_t from_min, to_min;
};

enum wafa_webhook_format { WAFA_WH_JSON, WAFA_WH_SLACK, WAFA_WH_TEAMS, WAFA_WH_MATTERMOST };
extern const char *const wafa_webhook_format_names[];

/* [webhook NAME]: a URL the HTTP channel POSTs JSON to. */
struct wafa_webhook {
	char *name;
	char *url;         /* http:// or https:// */
	int format;        /* enum wafa_webhook_format */
	char *secret_file; /* "" none: the HMAC key (X-Wafa-Signature) */
	int64_t timeout_ms; /* 0: [http] timeout */
	unsigned line;     /* of its section, for messages */
};

struct wafa_config {
	char *path;
	/* [database] */
	char *dsn;
	char *schema;
	/* [helpdesk] */
	char *adapter;
	char *adapters_dir; /* the folder of adapters: NAME/install.sql, ... */
	char *view;         /* with an adapter other than generic: SCHEMA.tickets */
	char *notify_channel;
	int64_t reconcile_ms;
	/* [api]: ticket actions through the helpdesk's own API (core/api/) */
	char *api_url;        /* the helpdesk's base URL; "" no API */
	char *api_token_file; /* the token (or Znuny's password), read at each call */
	char *api_user;       /* Znuny: the agent's login; FreeScout: the acting user's id */
	char *api_priorities; /* "urgent:4, high:3": wafa's priority to the API's */
	char *api_statuses;   /* "solved:resolved": wafa's status to the API's */
	char *api_ca_file;    /* a CA bundle for the API's certificate; "" the system's */
	char *api_webservice; /* Znuny: the web service's name */
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
	int64_t sessions; /* parallel SMTP sessions, each on its own thread */
	char *templates;      /* DIR/<locale>/<name>.md; "" none */
	char *default_locale; /* the last template lookup */
	/* [web]: the customers' clicks; off when listen is "" */
	char *web_listen;     /* "127.0.0.1:8087" */
	char *web_base_url;   /* "https://support.example.com/wafa" */
	char *web_key_file;   /* the key that signs links */
	char *web_metrics_listen; /* "127.0.0.1:9187": /metrics there only; "" beside listen */
	int64_t link_ttl_ms;  /* how long a link in a mail works */
	/* [contact]: the policy for mail to customers; all off by default */
	struct wafa_span quiet_hours;  /* customer's local time: held until it ends */
	struct wafa_rate customer_mails; /* across all rules */
	struct wafa_rate offers;
	int offer_while_open;          /* 0: no offer while a ticket is open */
	int64_t offer_after_breach_ms; /* no offer within this of a breach; 0 off */
	char *default_tz;              /* for customers without one */
	/* the go-live guard: no mail for a step that fell due more than this
	 * before wafa first had its rule (a first start, a new rule); 0 off */
	int64_t go_live_limit_ms;        /* to customers */
	int64_t go_live_limit_agents_ms; /* to agents */
	/* [http]: webhooks and the helpdesk API's requests, on their own threads */
	int64_t http_sessions;
	int64_t http_timeout_ms;
	int64_t http_connect_timeout_ms;
	char *http_ca_file; /* "" the system's CAs */
	int64_t http_retry_initial_ms;
	int64_t http_retry_max_ms;
	struct wafa_webhook *webhooks; /* [webhook NAME] sections, in file order */
	size_t nwebhooks;
	/* [log] */
	int log_level; /* enum wafa_log_level */
};

/* Reads and validates path into cfg (which it initialises; free it with
 * wafa_config_free even on failure).  Each problem is printed to report as
 * `path:line: message`.  Returns 0, -ENOENT (or another errno) when the file
 * cannot be read, or -EINVAL when it has problems. */
WAFA_WUR int wafa_config_load(const char *path, struct wafa_config *cfg, FILE *report);
void wafa_config_free(struct wafa_config *cfg);

/* The [webhook NAME] section named name, or NULL. */
const struct wafa_webhook *wafa_config_webhook(const struct wafa_config *cfg, const char *name);

/* Reads cfg->path again.  If it is valid, the keys marked reloadable take
 * their new values and each other key that changed is logged as needing a
 * restart.  Returns 0, or a negative errno (problems reported to report)
 * leaving cfg as it was. */
WAFA_WUR int wafa_config_reload(struct wafa_config *cfg, FILE *report);

#endif
