#include "base/config.h"
#include "paths.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/duration.h"

enum type { T_STRING, T_DURATION, T_SIZE, T_STARTTLS, T_LEVEL, T_COUNT, T_BOOL, T_RATE, T_SPAN };

struct key {
	const char *section;
	const char *name;
	enum type type;
	size_t offset;
	const char *def; /* NULL: required */
	bool reload;     /* a SIGHUP reload may change it */
};

#define K(sec, name, type, field, def, reload) \
	{ sec, name, type, offsetof(struct wafa_config, field), def, reload }

static const struct key keys[] = {
	K("database", "dsn", T_STRING, dsn, NULL, false),
	K("database", "schema", T_STRING, schema, "wafa", false),
	K("helpdesk", "adapter", T_STRING, adapter, "generic", false),
	K("helpdesk", "adapters", T_STRING, adapters_dir, PKGDATADIR "/adapters", false),
	K("helpdesk", "view", T_STRING, view, "public.wafa_tickets", false),
	K("helpdesk", "notify_channel", T_STRING, notify_channel, "wafa_ticket", false),
	K("helpdesk", "reconcile_interval", T_DURATION, reconcile_ms, "30s", true),
	K("api", "url", T_STRING, api_url, "", true),
	K("api", "token_file", T_STRING, api_token_file, "", true),
	K("api", "user", T_STRING, api_user, "", true),
	K("api", "priorities", T_STRING, api_priorities, "", true),
	K("api", "statuses", T_STRING, api_statuses, "", true),
	K("api", "ca_file", T_STRING, api_ca_file, "", true),
	K("api", "webservice", T_STRING, api_webservice, "GenericTicketConnectorREST", true),
	K("rules", "dir", T_STRING, rules_dir, SYSCONFDIR "/wafa/rules.d", true),
	K("rules", "budget", T_DURATION, rules_budget_ms, "200ms", true),
	K("rules", "memory", T_SIZE, rules_memory, "64M", true),
	K("mail", "transport", T_STRING, transport, NULL, false),
	K("mail", "from", T_STRING, from, NULL, true),
	K("mail", "starttls", T_STARTTLS, starttls, "optional", false),
	K("mail", "auth_user", T_STRING, auth_user, "", false),
	K("mail", "auth_password_file", T_STRING, auth_password_file, "", false),
	K("mail", "ca_file", T_STRING, ca_file, "", false),
	K("mail", "retry_initial", T_DURATION, retry_initial_ms, "1m", true),
	K("mail", "retry_max", T_DURATION, retry_max_ms, "1h", true),
	K("mail", "poll_interval", T_DURATION, poll_ms, "5s", true),
	K("mail", "timeout", T_DURATION, timeout_ms, "30s", false), /* the channel takes it at open */
	K("mail", "batch", T_COUNT, batch, "500", true),
	K("mail", "sessions", T_COUNT, sessions, "4", false), /* the mailer's threads, at start */
	K("mail", "templates", T_STRING, templates, "", true),
	K("mail", "default_locale", T_STRING, default_locale, "en", true),
	K("web", "listen", T_STRING, web_listen, "", false),
	K("web", "base_url", T_STRING, web_base_url, "", true),
	K("web", "key_file", T_STRING, web_key_file, "", false),
	K("web", "link_ttl", T_DURATION, link_ttl_ms, "90d", true),
	K("web", "metrics_listen", T_STRING, web_metrics_listen, "", false),
	K("contact", "quiet_hours", T_SPAN, quiet_hours, "", true),
	K("contact", "customer_mails", T_RATE, customer_mails, "", true),
	K("contact", "offers", T_RATE, offers, "", true),
	K("contact", "offer_while_open", T_BOOL, offer_while_open, "yes", true),
	K("contact", "offer_after_breach", T_DURATION, offer_after_breach_ms, "0s", true),
	K("contact", "default_tz", T_STRING, default_tz, "UTC", true),
	K("contact", "go_live_limit", T_DURATION, go_live_limit_ms, "2d", true),
	K("contact", "go_live_limit_agents", T_DURATION, go_live_limit_agents_ms, "0s", true),
	K("http", "sessions", T_COUNT, http_sessions, "2", false), /* threads, at start */
	K("http", "timeout", T_DURATION, http_timeout_ms, "30s", false),
	K("http", "connect_timeout", T_DURATION, http_connect_timeout_ms, "10s", false),
	K("http", "ca_file", T_STRING, http_ca_file, "", false),
	K("http", "retry_initial", T_DURATION, http_retry_initial_ms, "1m", true),
	K("http", "retry_max", T_DURATION, http_retry_max_ms, "1h", true),
	K("log", "level", T_LEVEL, log_level, "info", true),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct parse {
	struct wafa_config *cfg;
	FILE *report;
	FILE *in;
	unsigned line;
	int problems;
	bool seen[NKEYS];
	char bad_section[64]; /* the unknown section last reported: said once */
	char meant[64];       /* the known section a misspelt one stands for */
};

static const char *const sections[] = { "database", "helpdesk", "rules", "mail",
	                                "web", "contact", "http", "api", "log" };

const char *const wafa_webhook_format_names[] = { "json", "slack", "teams", "mattermost" };

const struct wafa_webhook *wafa_config_webhook(const struct wafa_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->nwebhooks; i++)
		if (strcmp(cfg->webhooks[i].name, name) == 0)
			return &cfg->webhooks[i];
	return NULL;
}

static void webhook_free(struct wafa_webhook *w)
{
	free(w->name);
	free(w->url);
	free(w->secret_file);
}

/* A webhook's name: letters, digits, '-' and '_', as rules name it. */
static bool webhook_name_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
	       strlen(s);
}

/* Levenshtein distance, for "did you mean"; short names only. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

static void problem(struct parse *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct parse *p, unsigned line, const char *fmt, ...)
{
	va_list ap;

	p->problems++;
	if (line)
		fprintf(p->report, "%s:%u: ", p->cfg->path, line);
	else
		fprintf(p->report, "%s: ", p->cfg->path);
	va_start(ap, fmt);
	vfprintf(p->report, fmt, ap);
	va_end(ap);
	fputc('\n', p->report);
}

/* Sets one key from its text.  Returns 0 or -EINVAL with *why set. */
static int set(struct wafa_config *cfg, const struct key *k, const char *value, const char **why)
{
	void *field = (char *)cfg + k->offset;
	char *end;
	int err;

	switch (k->type) {
	case T_STRING: {
		char *copy = strdup(value);
		if (!copy) {
			*why = "out of memory";
			return -ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case T_DURATION:
		return wafa_duration_parse(value, (int64_t *)field, why);
	case T_SIZE: {
		errno = 0;
		long long n = strtoll(value, &end, 10);
		int64_t mult = 1;
		if (errno || end == value || n <= 0) {
			*why = "a size is a positive number with an optional K, M or G, like \"64M\"";
			return -EINVAL;
		}
		if (*end == 'K' || *end == 'k')
			mult = 1024, end++;
		else if (*end == 'M')
			mult = 1024 * 1024, end++;
		else if (*end == 'G')
			mult = 1024 * 1024 * 1024, end++;
		if (*end == 'B' || (end[0] == 'i' && end[1] == 'B'))
			end += *end == 'B' ? 1 : 2;
		if (*end != '\0') {
			*why = "unknown size unit (use K, M or G)";
			return -EINVAL;
		}
		if (n > INT64_MAX / mult) {
			*why = "a size too large (more than 8 EiB)";
			return -EINVAL;
		}
		*(int64_t *)field = (int64_t)n * mult;
		return 0;
	}
	case T_COUNT: {
		errno = 0;
		long long n = strtoll(value, &end, 10);
		if (errno || end == value || *end != '\0' || n <= 0 || n > 100000) {
			*why = "expected a whole number from 1 to 100000";
			return -EINVAL;
		}
		*(int64_t *)field = n;
		return 0;
	}
	case T_STARTTLS:
		if (strcmp(value, "off") == 0)
			*(int *)field = WAFA_STARTTLS_OFF;
		else if (strcmp(value, "optional") == 0)
			*(int *)field = WAFA_STARTTLS_OPTIONAL;
		else if (strcmp(value, "required") == 0)
			*(int *)field = WAFA_STARTTLS_REQUIRED;
		else {
			*why = "expected one of off, optional, required";
			return -EINVAL;
		}
		return 0;
	case T_BOOL:
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "on") == 0)
			*(int *)field = 1;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 ||
		         strcmp(value, "off") == 0)
			*(int *)field = 0;
		else {
			*why = "expected yes or no";
			return -EINVAL;
		}
		return 0;
	case T_RATE: {
		struct wafa_rate *r = field;
		const char *slash = strchr(value, '/');
		if (!*value) {
			r->n = r->per_ms = 0;
			return 0;
		}
		errno = 0;
		long long n = strtoll(value, &end, 10);
		if (!slash || end != slash || errno || n < 1 || n > 100000) {
			*why = "expected a count per period, like \"3/7d\" (at most 3 in any 7 days)";
			return -EINVAL;
		}
		if ((err = wafa_duration_parse(slash + 1, &r->per_ms, why)) != 0)
			return err;
		r->n = n;
		return 0;
	}
	case T_SPAN: {
		struct wafa_span *sp = field;
		int h1, m1, h2, m2, used = 0;
		if (!*value) {
			sp->from_min = sp->to_min = -1;
			return 0;
		}
		if (sscanf(value, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &used) != 4 ||
		    value[used] != '\0' || h1 > 23 || h2 > 24 || m1 > 59 || m2 > 59 || h1 < 0 ||
		    h2 < 0 || m1 < 0 || m2 < 0 || (h2 == 24 && m2 != 0) || h1 * 60 + m1 == h2 * 60 + m2) {
			*why = "expected local hours like \"21:00-08:00\" (may run past midnight)";
			return -EINVAL;
		}
		sp->from_min = h1 * 60 + m1;
		sp->to_min = h2 * 60 + m2;
		return 0;
	}
	case T_LEVEL: {
		enum wafa_log_level level;
		err = wafa_log_parse_level(value, &level);
		if (err) {
			*why = "expected one of debug, info, warn, error";
			return err;
		}
		*(int *)field = (int)level;
		return 0;
	}
	}
	*why = "internal: unknown key type";
	return -EINVAL;
}


/* One key of a [webhook NAME] section. */
static void on_webhook_key(struct parse *p, const char *wname, const char *name,
                           const char *value)
{
	struct wafa_config *cfg = p->cfg;
	struct wafa_webhook *w = (struct wafa_webhook *)wafa_config_webhook(cfg, wname);
	const char *why;
	char **field = NULL;

	if (!w) {
		struct wafa_webhook *n = realloc(cfg->webhooks, (cfg->nwebhooks + 1) * sizeof(*n));
		if (!n) {
			problem(p, p->line, "out of memory");
			return;
		}
		cfg->webhooks = n;
		w = &n[cfg->nwebhooks++];
		memset(w, 0, sizeof(*w));
		w->line = p->line;
		if (!(w->name = strdup(wname)) || !(w->url = strdup("")) ||
		    !(w->secret_file = strdup(""))) {
			problem(p, p->line, "out of memory");
			return;
		}
		if (!webhook_name_ok(wname))
			problem(p, p->line, "[webhook %s]: a webhook's name is letters, digits, - and _ "
			                    "(rules name it: notify { webhook = \"oncall\" })", wname);
	}
	if (strcmp(name, "url") == 0)
		field = &w->url;
	else if (strcmp(name, "secret_file") == 0)
		field = &w->secret_file;
	if (field) {
		char *copy = strdup(value);
		if (!copy) {
			problem(p, p->line, "out of memory");
			return;
		}
		free(*field);
		*field = copy;
	} else if (strcmp(name, "format") == 0) {
		size_t i;
		for (i = 0; i < 4 && strcmp(value, wafa_webhook_format_names[i]) != 0; i++)
			;
		if (i == 4)
			problem(p, p->line, "[webhook %s] format = \"%s\": expected one of json, slack, "
			                    "teams, mattermost", wname, value);
		else
			w->format = (int)i;
	} else if (strcmp(name, "timeout") == 0) {
		if (wafa_duration_parse(value, &w->timeout_ms, &why) != 0 || w->timeout_ms <= 0)
			problem(p, p->line, "[webhook %s] timeout = \"%s\": %s", wname, value,
			        w->timeout_ms <= 0 ? "expected a duration like 10s" : why);
	} else {
		problem(p, p->line, "[webhook %s] unknown key \"%s\" (known: url, format, secret_file, "
		                    "timeout)", wname, name);
	}
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const char *why = NULL;
	bool section_known = false;

	if (strncmp(section, "webhook ", 8) == 0) {
		const char *wname = section + 8;
		while (*wname == ' ')
			wname++;
		on_webhook_key(p, wname, name, value);
		return 1;
	}

	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		section_known = true;
		if (strcmp(keys[i].name, name) != 0)
			continue;
		if (p->seen[i])
			problem(p, p->line, "[%s] %s: given twice; keep one", section, name);
		p->seen[i] = true;
		if (set(p->cfg, &keys[i], value, &why) != 0)
			problem(p, p->line, "[%s] %s = \"%s\": %s", section, name, value, why);
		return 1;
	}
	if (!section_known) {
		const char *near = NULL;
		if (strcmp(p->bad_section, section) == 0)
			return 1; /* said at its first key: one problem a section */
		snprintf(p->bad_section, sizeof(p->bad_section), "%s", section);
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			if (distance(section, sections[i]) <= 2)
				near = sections[i];
		if (near) {
			snprintf(p->meant, sizeof(p->meant), "%s", near);
			problem(p, p->line, "unknown section [%s]: did you mean [%s]? (its keys are "
			                    "ignored until it is renamed)", section, near);
		} else {
			problem(p, p->line, "unknown section [%s] (known: database, helpdesk, rules, "
			                    "mail, web, contact, http, webhook NAME, api, log)", section);
		}
	} else
		problem(p, p->line, "[%s] unknown key \"%s\"; see wafa.conf.example for the keys", section,
		        name);
	return 1;
}

/* Counts lines as inih reads them, so each key's problem names its line.
 * inih as packaged reads at most 200 bytes a line and would take the rest
 * for a line of its own: such a line is reported and skipped whole. */
static char *reader(char *buf, int size, void *stream)
{
	struct parse *p = stream;
	char *s = fgets(buf, size, p->in);
	size_t n;

	if (!s)
		return NULL;
	p->line++;
	n = strlen(s);
	if (n == (size_t)size - 1 && s[n - 1] != '\n' && !feof(p->in)) {
		int c;
		while ((c = fgetc(p->in)) != EOF && c != '\n')
			;
		problem(p, p->line, "line longer than %d bytes; shorten it (a long dsn can name a "
		                    "service in pg_service.conf: dsn = service=helpdesk)",
		        size - 2);
		strcpy(buf, ";\n");
	}
	return s;
}

/* "urgent:4, high:3": each key one of names (NULL-terminated), each value
 * non-empty.  Returns NULL or a static reason. */
static const char *check_map(const char *map, const char *const *names, char *bad, size_t badlen)
{
	const char *s = map;

	while (*s) {
		size_t klen, vlen;
		bool known = false;
		s += strspn(s, " \t");
		klen = strcspn(s, ":,");
		if (s[klen] != ':') {
			snprintf(bad, badlen, "%.*s", (int)klen, s);
			return "expected KEY:VALUE pairs separated by commas";
		}
		while (klen > 0 && (s[klen - 1] == ' ' || s[klen - 1] == '\t'))
			klen--;
		for (const char *const *k = names; *k; k++)
			if (strlen(*k) == klen && strncmp(*k, s, klen) == 0)
				known = true;
		if (!known) {
			snprintf(bad, badlen, "%.*s", (int)klen, s);
			return "unknown key";
		}
		s = strchr(s, ':') + 1;
		s += strspn(s, " \t");
		vlen = strcspn(s, ",");
		while (vlen > 0 && (s[vlen - 1] == ' ' || s[vlen - 1] == '\t'))
			vlen--;
		if (vlen == 0) {
			snprintf(bad, badlen, "%.*s", (int)klen, s);
			return "empty value";
		}
		s += strcspn(s, ",");
		if (*s == ',')
			s++;
	}
	return NULL;
}

static void check_api(struct parse *p)
{
	static const char *const prios[] = { "low", "normal", "high", "urgent", NULL };
	static const char *const states[] = { "new", "open", "pending", "solved", "closed", NULL };
	struct wafa_config *cfg = p->cfg;
	const char *why;
	char bad[64];

	if (cfg->api_url[0] && strncmp(cfg->api_url, "https://", 8) != 0 &&
	    strncmp(cfg->api_url, "http://", 7) != 0)
		problem(p, 0, "[api] url \"%s\": not an http:// or https:// URL (the helpdesk's "
		              "base, like https://rt.example.com)", cfg->api_url);
	if (cfg->api_url[0] && strpbrk(cfg->api_url, " \t\r\n"))
		problem(p, 0, "[api] url \"%s\": a URL has no spaces", cfg->api_url);
	else if (cfg->api_url[0] && strpbrk(cfg->api_url, "?#"))
		/* wafa appends the API's path (/REST/2.0/ticket/5): after a query it
		 * would be part of the query, after a fragment never sent */
		problem(p, 0, "[api] url \"%s\": the helpdesk's base URL, without a query (?) or "
		              "fragment (#)", cfg->api_url);
	if (cfg->api_url[0] && !cfg->api_token_file[0])
		problem(p, 0, "[api] url is set: set token_file to a file (mode 600) holding the "
		              "API token (for Znuny: the agent's password)");
	if ((why = check_map(cfg->api_priorities, prios, bad, sizeof(bad))) != NULL)
		problem(p, 0, "[api] priorities \"%s\": %s at \"%s\" (like \"urgent:4, high:3\"; "
		              "keys low, normal, high, urgent)", cfg->api_priorities, why, bad);
	if ((why = check_map(cfg->api_statuses, states, bad, sizeof(bad))) != NULL)
		problem(p, 0, "[api] statuses \"%s\": %s at \"%s\" (like \"solved:resolved\"; "
		              "keys new, open, pending, solved, closed)", cfg->api_statuses, why, bad);
}

static int check_values(struct parse *p)
{
	struct wafa_config *cfg = p->cfg;

	if (strcmp(cfg->adapter, "generic") != 0) {
		char *path = NULL;
		bool plain = cfg->adapter[0] && strspn(cfg->adapter, "abcdefghijklmnopqrstuvwxyz0123456789_-") ==
		                                     strlen(cfg->adapter);
		if (!plain || asprintf(&path, "%s/%s/install.sql", cfg->adapters_dir, cfg->adapter) < 0 ||
		    access(path, R_OK) != 0) {
			/* what the folder really holds, not what a build shipped */
			char found[256] = "";
			size_t n = 0;
			DIR *dir = opendir(cfg->adapters_dir);
			struct dirent *e;
			while (dir && (e = readdir(dir)) != NULL) {
				char *sql = NULL;
				if (e->d_name[0] == '.' ||
				    asprintf(&sql, "%s/%s/install.sql", cfg->adapters_dir, e->d_name) < 0)
					continue;
				if (access(sql, R_OK) == 0 && n + strlen(e->d_name) + 3 < sizeof(found))
					n += (size_t)snprintf(found + n, sizeof(found) - n, "%s%s",
					                      n ? ", " : "", e->d_name);
				free(sql);
			}
			if (!dir)
				problem(p, 0, "[helpdesk] adapter \"%s\": the adapters folder %s does not "
				              "exist (installed under another --prefix? set [helpdesk] adapters "
				              "to the folder that holds %s/install.sql)",
				        cfg->adapter, cfg->adapters_dir, cfg->adapter);
			else
				problem(p, 0, "[helpdesk] adapter \"%s\": no %s/install.sql in %s (it holds: "
				              "generic%s%s; [helpdesk] adapters names the folder)",
				        cfg->adapter, cfg->adapter, cfg->adapters_dir, n ? ", " : "", found);
			if (dir)
				closedir(dir);
		}
		free(path);
	}
	char *dsn_error = NULL;
	PQconninfoOption *dsn = PQconninfoParse(cfg->dsn, &dsn_error);
	if (!dsn) {
		size_t n = dsn_error ? strlen(dsn_error) : 0;
		while (n > 0 && dsn_error[n - 1] == '\n')
			n--;
		problem(p, 0, "[database] dsn \"%s\": %.*s (a libpq connection string like "
		              "\"host=/run/postgresql dbname=helpdesk user=wafa\", or a URI "
		              "postgresql://wafa@db.example.com/helpdesk)",
		        cfg->dsn, (int)n, dsn_error ? dsn_error : "out of memory");
	}
	PQconninfoFree(dsn);
	PQfreemem(dsn_error);
	if (strncmp(cfg->transport, "smtp:", 5) != 0 && strncmp(cfg->transport, "maildir:", 8) != 0)
		problem(p, 0,
		        "[mail] transport \"%s\": unknown transport (use smtp://HOST:PORT or maildir:/PATH)",
		        cfg->transport);
	if (!strchr(cfg->from, '@'))
		problem(p, 0, "[mail] from \"%s\": not a mail address (like Support <support@example.com>)",
		        cfg->from);
	if (cfg->auth_user[0] && !cfg->auth_password_file[0])
		problem(p, 0, "[mail] auth_user is set: set auth_password_file to a file holding the password");
	if (cfg->retry_initial_ms > cfg->retry_max_ms)
		problem(p, 0, "[mail] retry_initial is longer than retry_max");
	/* libESMTP raises any protocol step's timeout below a second to one,
	 * whatever it is told: a shorter one would be a promise not kept */
	if (cfg->timeout_ms < 1000)
		problem(p, 0, "[mail] timeout = %lld ms: libESMTP waits at least 1s for each "
		              "reply; set 1s or more", (long long)cfg->timeout_ms);
	if (cfg->sessions > 64)
		problem(p, 0, "[mail] sessions = %lld: at most 64 parallel SMTP sessions",
		        (long long)cfg->sessions);
	if (cfg->schema[0] == '\0')
		problem(p, 0, "[database] schema is empty");
	if (cfg->web_listen[0] && (!cfg->web_base_url[0] || !cfg->web_key_file[0]))
		problem(p, 0, "[web] listen is set: set base_url (the address customers' links "
		              "use) and key_file (the key that signs them) too");
	if (cfg->http_sessions > 64)
		problem(p, 0, "[http] sessions = %lld: at most 64 parallel requests",
		        (long long)cfg->http_sessions);
	if (cfg->http_retry_initial_ms > cfg->http_retry_max_ms)
		problem(p, 0, "[http] retry_initial is longer than retry_max");
	for (size_t i = 0; i < cfg->nwebhooks; i++) {
		const struct wafa_webhook *w = &cfg->webhooks[i];
		if (strncmp(w->url, "http://", 7) != 0 && strncmp(w->url, "https://", 8) != 0)
			problem(p, w->line, "[webhook %s] url \"%s\": %s", w->name, w->url,
			        w->url[0] ? "expected an http:// or https:// URL"
			                  : "is required (the address to POST to)");
		else if (strpbrk(w->url, " \t\r\n"))
			problem(p, w->line, "[webhook %s] url: no spaces or line breaks in a URL", w->name);
	}
	if (cfg->default_locale[0] == '\0')
		problem(p, 0, "[mail] default_locale is empty (use a language like en)");
	check_api(p);
	return 0;
}

int wafa_config_load(const char *path, struct wafa_config *cfg, FILE *report)
{
	struct parse p = { .cfg = cfg, .report = report };
	const char *why;
	int err = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = strdup(path);
	if (!cfg->path)
		return -ENOMEM;
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].def && set(cfg, &keys[i], keys[i].def, &why) != 0)
			return -EINVAL;
	}
	p.in = fopen(path, "r");
	if (!p.in)
		return -errno;
	int bad_line = ini_parse_stream(reader, &p, on_key, &p);
	fclose(p.in);
	if (bad_line > 0)
		problem(&p, (unsigned)bad_line, "not an INI line (expected [section] or key = value)");
	else if (bad_line < 0)
		problem(&p, 0, "cannot parse the file");
	for (size_t i = 0; i < NKEYS; i++) {
		/* a misspelt [mial] was reported: not again for each key it lacks */
		if (!keys[i].def && !p.seen[i] && strcmp(p.meant, keys[i].section) != 0)
			problem(&p, 0, "[%s] %s is required", keys[i].section, keys[i].name);
	}
	/* an installed adapter's view lives in wafa's schema, unless the admin
	 * names another */
	for (size_t i = 0; i < NKEYS; i++) {
		char *view;
		if (keys[i].offset != offsetof(struct wafa_config, view) || p.seen[i] ||
		    strcmp(cfg->adapter, "generic") == 0)
			continue;
		if (asprintf(&view, "%s.tickets", cfg->schema) < 0)
			return -ENOMEM;
		free(cfg->view);
		cfg->view = view;
	}
	if (p.problems == 0)
		check_values(&p);
	if (p.problems)
		err = -EINVAL;
	return err;
}

static bool same_value(const struct key *k, const struct wafa_config *a,
                       const struct wafa_config *b)
{
	const void *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;

	switch (k->type) {
	case T_STRING:
		return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
	case T_STARTTLS:
	case T_LEVEL:
	case T_BOOL:
		return *(const int *)fa == *(const int *)fb;
	case T_RATE:
		return memcmp(fa, fb, sizeof(struct wafa_rate)) == 0;
	case T_SPAN:
		return memcmp(fa, fb, sizeof(struct wafa_span)) == 0;
	default:
		return *(const int64_t *)fa == *(const int64_t *)fb;
	}
}

int wafa_config_reload(struct wafa_config *cfg, FILE *report)
{
	struct wafa_config fresh;
	int err = wafa_config_load(cfg->path, &fresh, report);

	if (err)
		goto out;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		char *fa = (char *)cfg + k->offset, *fb = (char *)&fresh + k->offset;
		size_t size = k->type == T_STRING ? sizeof(char *)
		              : k->type == T_STARTTLS || k->type == T_LEVEL || k->type == T_BOOL
		                  ? sizeof(int)
		              : k->type == T_RATE ? sizeof(struct wafa_rate)
		              : k->type == T_SPAN ? sizeof(struct wafa_span)
		                                  : sizeof(int64_t);
		char tmp[sizeof(struct wafa_rate) > sizeof(struct wafa_span) ? sizeof(struct wafa_rate)
		                                                             : sizeof(struct wafa_span)];
		if (same_value(k, cfg, &fresh))
			continue;
		if (!k->reload) {
			wafa_log(WAFA_WARN, "config", "%s: [%s] %s changed: restart wafa to apply it",
			         cfg->path, k->section, k->name);
			continue;
		}
		/* swap, so freeing fresh frees the old value */
		memcpy(tmp, fa, size);
		memcpy(fa, fb, size);
		memcpy(fb, tmp, size);
		wafa_log(WAFA_INFO, "config", "[%s] %s reloaded", k->section, k->name);
	}
	/* the [webhook NAME] sections are looked up as each row is sent: they
	 * take their new values at once */
	struct wafa_webhook *w = cfg->webhooks;
	size_t nw = cfg->nwebhooks;
	cfg->webhooks = fresh.webhooks;
	cfg->nwebhooks = fresh.nwebhooks;
	fresh.webhooks = w;
	fresh.nwebhooks = nw;
out:
	wafa_config_free(&fresh);
	return err;
}

void wafa_config_free(struct wafa_config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == T_STRING) {
			char **field = (char **)((char *)cfg + keys[i].offset);
			free(*field);
			*field = NULL;
		}
	}
	for (size_t i = 0; i < cfg->nwebhooks; i++)
		webhook_free(&cfg->webhooks[i]);
	free(cfg->webhooks);
	cfg->webhooks = NULL;
	cfg->nwebhooks = 0;
	free(cfg->path);
	cfg->path = NULL;
}
