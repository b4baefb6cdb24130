/* Ticket actions through the helpdesk's own API: the payload checked, the
 * token read, and the configured adapter's builder chosen (see api.h). */
#include "api/api.h"
#include "api/builder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/secret.h"

#define TOKEN_MAX 4096

static const char *const prio_names[] = { "low", "normal", "high", "urgent" };
static const char *const status_names[] = { "new", "open", "pending", "solved", "closed" };

static const struct {
	const char *adapter;
	wafa__api_builder fn;
} builders[] = {
	{ "rt", wafa__api_rt },
	{ "zammad", wafa__api_zammad },
	{ "znuny", wafa__api_znuny },
	{ "freescout", wafa__api_freescout },
};

static wafa__api_builder builder_for(const char *adapter)
{
	for (size_t i = 0; i < sizeof(builders) / sizeof(builders[0]); i++)
		if (strcmp(builders[i].adapter, adapter) == 0)
			return builders[i].fn;
	return NULL;
}

const char *wafa_api_missing(const struct wafa_config *cfg)
{
	if (!builder_for(cfg->adapter))
		return strcmp(cfg->adapter, "generic") == 0
		           ? "the generic adapter has no API: ticket actions are parked (use the "
		             "rt, zammad, znuny or freescout adapter with an [api] section)"
		           : "this adapter has no API wafa knows: ticket actions are parked";
	if (!cfg->api_url || !cfg->api_url[0])
		return "no [api] url: ticket actions are parked (set [api] url and token_file; "
		       "see wafa.conf(5))";
	return NULL;
}

int wafa__api_refuse(struct wafa__api_call *c, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(*c->why);
	*c->why = s;
	return -EINVAL;
}

int wafa__api_target(struct wafa__api_call *c, const char *method, const char *fmt, ...)
{
	const char *base = c->cfg->api_url;
	size_t n = strlen(base);
	char *path = NULL;
	va_list ap;
	int rc;

	while (n > 0 && base[n - 1] == '/')
		n--;
	va_start(ap, fmt);
	rc = vasprintf(&path, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -ENOMEM;
	free(c->out->url);
	c->out->url = NULL;
	rc = asprintf(&c->out->url, "%.*s%s", (int)n, base, path);
	free(path);
	if (rc < 0) {
		c->out->url = NULL;
		return -ENOMEM;
	}
	free(c->out->method);
	c->out->method = strdup(method);
	return c->out->method ? 0 : -ENOMEM;
}

int wafa__api_header(struct wafa__api_call *c, const char *name, const char *value)
{
	char *line;

	if (strpbrk(value, "\r\n"))
		return wafa__api_refuse(c, "the %s header's value has a line break", name);
	if (c->out->nheaders >= WAFA_HTTP_MAX_HEADERS)
		return -E2BIG;
	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -ENOMEM;
	c->out->headers[c->out->nheaders++] = line;
	return 0;
}

int wafa__api_json_body(struct wafa__api_call *c, json_t *json)
{
	char *text = json ? json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(json);
	if (!text)
		return -ENOMEM;
	free(c->out->body);
	c->out->body = text;
	free(c->out->content_type);
	c->out->content_type = strdup("application/json");
	return c->out->content_type ? 0 : -ENOMEM;
}

bool wafa__api_is_number(const char *s)
{
	if (*s == '-')
		s++;
	return *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 18;
}

json_t *wafa__api_number_or_string(const char *s)
{
	return wafa__api_is_number(s) ? json_integer(strtoll(s, NULL, 10)) : json_string(s);
}

/* The value of key in "k:v, k:v" into buf; false when absent. */
static bool map_lookup(const char *map, const char *key, char *buf, size_t len)
{
	const char *s = map ? map : "";
	size_t klen = strlen(key);

	while (*s) {
		size_t n, vlen;
		s += strspn(s, " \t");
		n = strcspn(s, ":,");
		const char *k = s;
		s += n;
		while (n > 0 && (k[n - 1] == ' ' || k[n - 1] == '\t'))
			n--;
		if (*s != ':')
			return false;
		s++;
		s += strspn(s, " \t");
		vlen = strcspn(s, ",");
		const char *v = s;
		s += vlen;
		if (*s == ',')
			s++;
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (n == klen && strncmp(k, key, n) == 0) {
			snprintf(buf, len, "%.*s", (int)vlen, v);
			return true;
		}
	}
	return false;
}

static int map_value(struct wafa__api_call *c, const char *field, const char *const *names,
                     size_t nnames, const char *const *defaults, const char *map,
                     const char *key, const char *helpdesk, char *buf, size_t len)
{
	json_t *v = json_object_get(c->payload, field);
	const char *s;

	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	s = json_string_value(v);
	for (size_t i = 0; i < nnames; i++) {
		if (strcmp(s, names[i]) != 0)
			continue;
		if (map_lookup(map, s, buf, len))
			return 0;
		if (defaults[i]) {
			snprintf(buf, len, "%s", defaults[i]);
			return 0;
		}
		return wafa__api_refuse(c, "%s \"%s\": %s has no such value by default; map "
		                           "it in [api] %s (like %s:VALUE)",
		                        field, s, helpdesk, key, s);
	}
	return wafa__api_refuse(c, "%s \"%s\" is not one of wafa's (%s)", field, s,
	                        nnames == 4 ? "low, normal, high, urgent"
	                                    : "new, open, pending, solved, closed");
}

int wafa__api_priority(struct wafa__api_call *c, const struct wafa__api_values *v,
                       const char *helpdesk, char *buf, size_t len)
{
	return map_value(c, "priority", prio_names, 4, v->priority, c->cfg->api_priorities,
	                 "priorities", helpdesk, buf, len);
}

int wafa__api_status(struct wafa__api_call *c, const struct wafa__api_values *v,
                     const char *helpdesk, char *buf, size_t len)
{
	json_t *s = json_object_get(c->payload, "status");

	if (json_is_integer(s))
		return wafa__api_refuse(c, "status must be a name (new, open, pending, solved, "
		                           "closed), not a number");
	return map_value(c, "status", status_names, 5, v->status, c->cfg->api_statuses,
	                 "statuses", helpdesk, buf, len);
}

/* The payload's shape, whatever the helpdesk. */
static int check_payload(struct wafa__api_call *c)
{
	const char *key;
	json_t *v;

	if (!json_is_object(c->payload))
		return wafa__api_refuse(c, "the payload is not a JSON object");
	if (!c->op)
		return wafa__api_refuse(c, "the payload has no \"op\" (fields, note or tags)");
	if (strcmp(c->op, "fields") == 0) {
		int n = 0;
		json_object_foreach(c->payload, key, v) {
			if (strcmp(key, "op") == 0)
				continue;
			n++;
			if (strcmp(key, "priority") == 0 && (json_is_string(v) || json_is_integer(v)))
				continue;
			if (strcmp(key, "owner") == 0 &&
			    ((json_is_string(v) && json_string_length(v) > 0) || json_is_integer(v)))
				continue;
			if (strcmp(key, "status") == 0 && (json_is_string(v) || json_is_integer(v)))
				continue;
			return wafa__api_refuse(c, "fields: \"%s\" is %s (fields are priority, owner "
			                           "and status)", key,
			                        strcmp(key, "priority") == 0 || strcmp(key, "owner") == 0 ||
			                                strcmp(key, "status") == 0
			                            ? "of the wrong type"
			                            : "not a field wafa sets");
		}
		if (n == 0)
			return wafa__api_refuse(c, "fields: nothing to set (give priority, owner or status)");
		return 0;
	}
	if (strcmp(c->op, "note") == 0) {
		json_object_foreach(c->payload, key, v) {
			if (strcmp(key, "op") == 0 || (strcmp(key, "internal") == 0 && json_is_boolean(v)))
				continue;
			if (strcmp(key, "text") == 0 && json_is_string(v) && json_string_length(v) > 0)
				continue;
			return wafa__api_refuse(c, "note: \"%s\" is %s (a note has text and internal)",
			                        key, strcmp(key, "text") == 0 || strcmp(key, "internal") == 0
			                                 ? "empty or of the wrong type" : "unknown");
		}
		if (!json_object_get(c->payload, "text"))
			return wafa__api_refuse(c, "note: no text");
		return 0;
	}
	if (strcmp(c->op, "tags") == 0) {
		json_t *add = json_object_get(c->payload, "add"), *t;
		size_t i;
		json_object_foreach(c->payload, key, v) {
			if (strcmp(key, "op") != 0 && strcmp(key, "add") != 0)
				return wafa__api_refuse(c, "tags: \"%s\" is unknown (wafa adds tags: add)", key);
		}
		if (!json_is_array(add) || json_array_size(add) == 0)
			return wafa__api_refuse(c, "tags: add is not a non-empty list of tags");
		json_array_foreach(add, i, t) {
			if (!json_is_string(t) || json_string_length(t) == 0)
				return wafa__api_refuse(c, "tags: add[%zu] is not a non-empty string", i + 1);
		}
		return 0;
	}
	return wafa__api_refuse(c, "unknown op \"%s\" (use fields, note or tags)", c->op);
}

/* The token: the file's first line, the file readable by its owner only. */
static int read_token(struct wafa__api_call *c, char *buf, size_t len)
{
	const char *path = c->cfg->api_token_file;
	char why[512];
	ssize_t n;
	size_t used = 0;
	int fd, err;

	if (!path || !path[0])
		return wafa__api_refuse(c, "[api] token_file is not set");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		wafa__api_refuse(c, "[api] token_file %s: %s", path, strerror(errno));
		return err;
	}
	if ((err = wafa_secret_check(fd, path, why, sizeof(why))) != 0) {
		close(fd);
		wafa__api_refuse(c, "[api] token_file: %s", why);
		return err;
	}
	while (used + 1 < len && (n = read(fd, buf + used, len - 1 - used)) > 0)
		used += (size_t)n;
	close(fd);
	buf[used] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	used = strlen(buf);
	while (used > 0 && (buf[used - 1] == ' ' || buf[used - 1] == '\t'))
		buf[--used] = '\0';
	if (used == 0)
		return wafa__api_refuse(c, "[api] token_file %s is empty: put the API token in it",
		                        path);
	return 0;
}

int wafa__api_no_lookup(struct wafa__api_call *c, const char *helpdesk)
{
	wafa__api_refuse(c, "%s's API gives wafa no way to find a note it sent: a note whose "
	                    "answer was lost is sent again", helpdesk);
	return -ENOTSUP;
}

static int build(const struct wafa_config *cfg, long long ticket_id, const char *key,
                 const char *payload_json, bool lookup, struct wafa_http_request *out,
                 char **why)
{
	struct wafa__api_call c = { .cfg = cfg, .ticket = ticket_id, .out = out, .why = why,
		                    .key = key, .lookup = lookup };
	char *token = NULL;
	const char *missing;
	json_error_t jerr;
	wafa__api_builder fn;
	int err;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if ((missing = wafa_api_missing(cfg)) != NULL) {
		err = wafa__api_refuse(&c, "%s", missing);
		goto out;
	}
	fn = builder_for(cfg->adapter);
	if (ticket_id <= 0) {
		err = wafa__api_refuse(&c, "ticket id %lld is not a helpdesk ticket id", ticket_id);
		goto out;
	}
	c.payload = json_loads(payload_json ? payload_json : "", 0, &jerr);
	if (!c.payload) {
		err = wafa__api_refuse(&c, "the payload is not JSON: %s", jerr.text);
		goto out;
	}
	c.op = json_string_value(json_object_get(c.payload, "op"));
	if ((err = check_payload(&c)) != 0)
		goto out;
	if (key && (!key[0] || strlen(key) > 200 || strpbrk(key, "\r\n\"\\"))) {
		err = wafa__api_refuse(&c, "the row's key \"%.60s\" cannot mark a note", key);
		goto out;
	}
	if (lookup && (strcmp(c.op, "note") != 0 || !key)) {
		err = -ENOTSUP;
		wafa__api_refuse(&c, "%s", !key ? "no key to look a note up by"
		                                : "only a note is looked up: fields and tags sent "
		                                  "again change nothing");
		goto out;
	}
	token = malloc(TOKEN_MAX);
	if (!token) {
		err = -ENOMEM;
		goto out;
	}
	if ((err = read_token(&c, token, TOKEN_MAX)) != 0)
		goto out;
	c.token = token;
	err = fn(&c);
	if (!err && cfg->api_ca_file && cfg->api_ca_file[0] &&
	    !(out->ca_file = strdup(cfg->api_ca_file)))
		err = -ENOMEM;
out:
	if (token) {
		explicit_bzero(token, TOKEN_MAX);
		free(token);
	}
	json_decref(c.payload);
	if (err) {
		wafa_http_request_free(out);
		memset(out, 0, sizeof(*out));
		if (!*why) {
			/* every failure says why, even out of memory */
			*why = strdup(err == -ENOMEM ? "out of memory" : wafa_strerror(err));
		}
	}
	return err;
}

int wafa_api_build(const struct wafa_config *cfg, long long ticket_id, const char *payload_json,
                   struct wafa_http_request *out, char **why)
{
	return build(cfg, ticket_id, NULL, payload_json, false, out, why);
}

int wafa_api_build_keyed(const struct wafa_config *cfg, long long ticket_id, const char *key,
                         const char *payload_json, struct wafa_http_request *out, char **why)
{
	return build(cfg, ticket_id, key, payload_json, false, out, why);
}

int wafa_api_build_lookup(const struct wafa_config *cfg, long long ticket_id, const char *key,
                          const char *payload_json, struct wafa_http_request *out, char **why)
{
	return build(cfg, ticket_id, key, payload_json, true, out, why);
}
