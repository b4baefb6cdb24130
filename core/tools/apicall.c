/* `wafa api` (see apicall.h). */
#include "tools/apicall.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "api/api.h"

#define ANSWER_MAX 65536

/* The token as api.c reads it, to mask it wherever it shows. */
static char *secret(const struct wafa_config *cfg)
{
	char buf[4096];
	FILE *f = cfg->api_token_file[0] ? fopen(cfg->api_token_file, "re") : NULL;
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	char *s = n ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof(buf));
	return s;
}

/* text with every occurrence of token as ***; malloc'ed. */
static char *mask_one(const char *text, const char *token)
{
	size_t tl = token ? strlen(token) : 0, n = 0;
	char *out = malloc(strlen(text) + 1), *o = out;

	if (!out)
		return NULL;
	while (text[n]) {
		if (tl && strncmp(text + n, token, tl) == 0) {
			/* "***" is never longer than a token of 3 or more */
			size_t k = tl < 3 ? tl : 3;
			memcpy(o, "***", k);
			o += k;
			n += tl;
		} else
			*o++ = text[n++];
	}
	*o = '\0';
	return out;
}

/* text with the token masked as it is and as JSON writes it (a Znuny
 * password with a quote, a backslash or a control character shows in the
 * JSON body escaped, not as it is); malloc'ed. */
static char *mask(const char *text, const char *token)
{
	json_t *s = token ? json_string(token) : NULL;
	char *quoted = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	char *out = mask_one(text, token), *twice;
	size_t ql = quoted ? strlen(quoted) : 0;

	json_decref(s);
	if (out && ql > 2) {
		quoted[ql - 1] = '\0'; /* the escaped token, between its quotes */
		if (strcmp(quoted + 1, token) != 0) {
			twice = mask_one(out, quoted + 1);
			free(out);
			out = twice;
		}
	}
	if (quoted) {
		explicit_bzero(quoted, ql);
		free(quoted);
	}
	return out;
}

struct answer {
	char buf[ANSWER_MAX];
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *user)
{
	struct answer *a = user;
	size_t take = size * n;

	if (take > sizeof(a->buf) - 1 - a->len)
		take = sizeof(a->buf) - 1 - a->len;
	memcpy(a->buf + a->len, data, take);
	a->len += take;
	a->buf[a->len] = '\0';
	return size * n;
}

static void send_request(const struct wafa_config *cfg, const struct wafa_http_request *r,
                         struct wafa_http_outcome *o, struct answer *a)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL, *h;
	char errbuf[CURL_ERROR_SIZE] = "", ctype[300];
	long status = 0;
	CURLcode rc;

	memset(o, 0, sizeof(*o));
	a->len = 0;
	a->buf[0] = '\0';
	if (!curl) {
		o->result = WAFA_HTTP_TEMPFAIL;
		snprintf(o->reason, sizeof(o->reason), "libcurl: cannot start");
		return;
	}
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", r->content_type ? r->content_type : "");
	headers = curl_slist_append(headers, ctype);
	for (size_t i = 0; i < r->nheaders && headers; i++)
		if ((h = curl_slist_append(headers, r->headers[i])) != NULL)
			headers = h;
	headers = curl_slist_append(headers, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, r->url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r->body ? r->body : "");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "wafa/" PACKAGE_VERSION);
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	/* as the dispatcher (core/http/pool.c): [api] ca_file, else [http] ca_file */
	if (r->ca_file && r->ca_file[0])
		curl_easy_setopt(curl, CURLOPT_CAINFO, r->ca_file);
	else if (cfg->http_ca_file && cfg->http_ca_file[0])
		curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->http_ca_file);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
	                 (long)(cfg->http_timeout_ms > 0 ? cfg->http_timeout_ms : 30000));
	if (cfg->http_connect_timeout_ms > 0)
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->http_connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		o->result = WAFA_HTTP_TEMPFAIL;
		snprintf(o->reason, sizeof(o->reason), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	o->status = (int)status;
	bool ok = status >= 200 && status < 300;
	if (ok && r->ok_status[0]) {
		ok = false;
		for (int i = 0; i < 4 && r->ok_status[i]; i++)
			ok = ok || r->ok_status[i] == status;
	}
	if (ok && r->refused && r->refused(a->buf))
		ok = false;
	o->found = ok && r->found && r->found(a->buf);
	o->result = ok ? WAFA_HTTP_DONE
	            : status == 408 || status == 425 || status == 429 || status >= 500
	                ? WAFA_HTTP_TEMPFAIL
	                : WAFA_HTTP_PERMFAIL;
	/* one line: the status and the start of the answer */
	size_t n = snprintf(o->reason, sizeof(o->reason), "HTTP %ld: ", status);
	for (size_t i = 0; i < a->len && n + 1 < sizeof(o->reason); i++)
		o->reason[n++] = a->buf[i] == '\n' || a->buf[i] == '\r' ? ' ' : a->buf[i];
	o->reason[n] = '\0';
out:
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}

static const char *result_name(enum wafa_http_result r)
{
	return r == WAFA_HTTP_DONE ? "done" : r == WAFA_HTTP_TEMPFAIL ? "tempfail" : "permfail";
}

int wafa_apicall_run(const struct wafa_config *cfg, long long ticket, const char *key,
                     const char *payload, bool lookup, bool json, bool send, FILE *out,
                     FILE *err)
{
	struct wafa_http_request r;
	struct wafa_http_outcome o;
	struct answer *a = NULL;
	char *why = NULL, *token = NULL, *body = NULL, *reason = NULL;
	json_t *doc = NULL, *hs;
	int code = EX_OK;

	if ((lookup ? wafa_api_build_lookup(cfg, ticket, key, payload, &r, &why)
	            : wafa_api_build_keyed(cfg, ticket, key, payload, &r, &why)) != 0) {
		token = secret(cfg);
		reason = mask(why ? why : "unknown", token);
		if (json) {
			doc = json_pack("{s:s}", "refused", reason ? reason : "");
			json_dumpf(doc, out, JSON_COMPACT | JSON_SORT_KEYS);
			fputc('\n', out);
		} else {
			fprintf(err, "wafa api: ticket %lld: %s%s\n", ticket, reason ? reason : "",
			        lookup ? "" : " (a ticket action like this is parked with that reason)");
		}
		code = EX_DATAERR;
		goto out;
	}
	token = secret(cfg);
	body = mask(r.body ? r.body : "", token);
	if (!body) {
		code = EX_OSERR;
		goto free_request;
	}
	doc = json_object();
	hs = json_array();
	json_object_set_new(doc, "method", json_string(r.method));
	json_object_set_new(doc, "url", json_string(r.url));
	json_object_set_new(doc, "content_type", json_string(r.content_type ? r.content_type : ""));
	for (size_t i = 0; i < r.nheaders; i++) {
		char *m = mask(r.headers[i], token);
		json_array_append_new(hs, json_string(m ? m : ""));
		free(m);
	}
	json_object_set_new(doc, "headers", hs);
	json_object_set_new(doc, "body", json_string(body));
	if (!json) {
		fprintf(out, "%s %s\n", r.method, r.url);
		fprintf(out, "Content-Type: %s\n", r.content_type ? r.content_type : "");
		for (size_t i = 0; i < json_array_size(hs); i++)
			fprintf(out, "%s\n", json_string_value(json_array_get(hs, i)));
		fprintf(out, "\n%s\n", body);
	}
	if (send) {
		a = malloc(sizeof(*a));
		if (!a) {
			code = EX_OSERR;
			goto free_request;
		}
		curl_global_init(CURL_GLOBAL_DEFAULT);
		send_request(cfg, &r, &o, a);
		curl_global_cleanup();
		reason = mask(o.reason, token);
		json_object_set_new(doc, "result", json_string(result_name(o.result)));
		json_object_set_new(doc, "status", json_integer(o.status));
		json_object_set_new(doc, "reason", json_string(reason ? reason : ""));
		if (lookup && o.result == WAFA_HTTP_DONE) {
			bool found = o.found;
			json_object_set_new(doc, "found", json_boolean(found));
			if (!json)
				fprintf(out, "\n%s: %s\n", found ? "found" : "not found",
				        reason ? reason : "");
			code = found ? EX_OK : 1;
			goto printed;
		}
		if (!json)
			fprintf(out, "\n%s: %s\n",
			        o.result == WAFA_HTTP_DONE       ? "done"
			        : o.result == WAFA_HTTP_TEMPFAIL ? "failed for now (would be retried)"
			                                         : "failed (would be parked)",
			        reason ? reason : "");
		code = o.result == WAFA_HTTP_DONE ? EX_OK
		       : o.result == WAFA_HTTP_TEMPFAIL ? EX_TEMPFAIL : EX_PROTOCOL;
	}
printed:
	if (json) {
		json_dumpf(doc, out, JSON_COMPACT | JSON_SORT_KEYS);
		fputc('\n', out);
	}
free_request:
	wafa_http_request_free(&r);
out:
	json_decref(doc);
	free(why);
	free(body);
	free(reason);
	free(a);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	return code;
}
