/* The HTTP dispatcher (see dispatch.h). */
#include "http/dispatch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "base/duration.h"
#include "base/log.h"
#include "base/secret.h"
#include "http/pool.h"
#include "http/request.h"
#include "lua/literal.h"
#include "store/outbox.h"
#include "web/metrics.h"

#define LEASE_S 300
#define SECRET_MAX 4096

/* One row on its way. */
struct flight {
	struct flight *next;
	struct wafa_dispatch *d;
	int64_t id;
	int attempts;
	bool webhook;
	/* a ticket row's lookup is in flight (a note perhaps sent before a
	 * crash); payload and ticket build the row's own request after it */
	bool lookup;
	char *payload;
	long long ticket;
	char key[200];
	char target[80];
};

static void flight_free(struct flight *f)
{
	free(f->payload);
	free(f);
}

struct wafa_dispatch {
	uv_loop_t *loop;
	const struct wafa_config *cfg;
	struct wafa_pg *pg;
	struct wafa_http_pool *pool;
	uv_timer_t timer;
	struct flight *flights;
	size_t inflight;
	bool claiming, again, paused, stopping;
	char leader_pid[16];
	char *schema;
	void (*done)(void *arg);
	void *done_arg;
};

static const char claim_sql[] =
	"WITH c AS (UPDATE outbox SET claimed_until = now() + make_interval(secs => $2::int), "
	"                 claimed_by = pg_backend_pid(), attempts = attempts + 1 "
	"            WHERE id IN (SELECT id FROM outbox "
	"                          WHERE status = 'queued' AND channel <> 'mail' "
	"                            AND next_attempt_at <= now() "
	"                            AND (claimed_until IS NULL OR claimed_until < now() "
	"                                 OR claimed_by NOT IN (SELECT pid FROM pg_stat_activity)) "
	"                            AND NOT id = ANY($3::int8[]) "
	/* fencing, as the mailer's claim (outbox.c) */
	"                            AND EXISTS (SELECT 1 FROM pg_locks l "
	"                                 WHERE l.locktype = 'advisory' AND l.granted "
	"                                   AND l.pid = $4::int4 AND l.objsubid = 1 "
	"                                   AND ((l.classid::int8 << 32) | l.objid::int8) = "
	"                                       hashtextextended('wafa leader:' || $5, 0)) "
	"                          ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) "
	"           RETURNING *) "
	"SELECT id, key, channel, coalesce(target, ''), coalesce(payload::text, '{}'), attempts, "
	"       ticket_id, rule, phase "
	"  FROM c ORDER BY next_attempt_at, id";

static void claim(struct wafa_dispatch *d);

static void on_timer(uv_timer_t *t)
{
	claim(t->data);
}

/* ---- the webhook's body and signature ---- */

void wafa_dispatch_sign(const unsigned char *key, size_t keylen, const char *timestamp,
                        const char *body, char out[72])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t tl = strlen(timestamp), bl = strlen(body);
	unsigned char *msg = malloc(tl + 1 + bl + 1);

	out[0] = '\0';
	if (!msg)
		return;
	memcpy(msg, timestamp, tl);
	msg[tl] = '.';
	memcpy(msg + tl + 1, body, bl);
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, tl + 1 + bl, mac, &maclen)) {
		strcpy(out, "sha256=");
		for (unsigned i = 0; i < maclen && i < 32; i++)
			snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
	}
	free(msg);
}

/* Writes s to f; for Slack with its control characters escaped (Slack's
 * rule for any text sent: & < > as &amp; &lt; &gt;), so ticket data in a
 * rule's text or fields (a customer's subject "<!channel>", a link
 * "<https://evil|Open in RT>") neither pings a channel nor hides a link. */
static void chat_put(FILE *f, const char *s, bool slack)
{
	for (; slack && *s; s++)
		fputs(*s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;"
		                                                          : (char[2]){ *s, 0 }, f);
	if (!slack)
		fputs(s, f);
}

/* The text, and the fields as "name: value" lines after it, for the chat
 * formats. */
static char *chat_text(const char *text, json_t *fields, const char *bold, bool slack)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	const char *k;
	json_t *v;

	if (!f)
		return NULL;
	chat_put(f, text, slack);
	json_object_foreach(fields, k, v) {
		fprintf(f, "\n%s%s%s: ", bold, k, bold);
		chat_put(f, json_is_string(v) ? json_string_value(v) : "", slack);
	}
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

char *wafa_dispatch_webhook_body(int format, const char *payload, const char *key,
                                 long long ticket_id, const char *rule, const char *phase)
{
	json_t *in = json_loads(payload, 0, NULL), *out = NULL, *fields;
	const char *text, *k;
	json_t *v;
	char *body = NULL, *chat = NULL;

	if (!json_is_object(in))
		goto out;
	text = json_string_value(json_object_get(in, "text"));
	if (!text)
		text = "";
	fields = json_object_get(in, "fields");
	if (!json_is_object(fields))
		fields = NULL;
	switch (format) {
	case WAFA_WH_SLACK:
	case WAFA_WH_MATTERMOST:
		/* Slack's mrkdwn bolds with *, Mattermost's Markdown with ** */
		if ((fields || format == WAFA_WH_SLACK) &&
		    !(chat = chat_text(text, fields, format == WAFA_WH_SLACK ? "*" : "**",
		                       format == WAFA_WH_SLACK)))
			goto out;
		out = json_pack("{s:s}", "text", chat ? chat : text);
		break;
	case WAFA_WH_TEAMS: {
		/* an Office 365 connector card */
		json_t *facts = json_array();
		out = json_pack("{s:s, s:s, s:s, s:s}", "@type", "MessageCard", "@context",
		                "https://schema.org/extensions", "summary", text, "text", text);
		if (!facts || !out) {
			json_decref(facts);
			goto out;
		}
		if (fields) {
			json_object_foreach(fields, k, v)
				json_array_append_new(facts, json_pack("{s:s, s:O}", "name", k, "value", v));
			json_object_set_new(out, "sections",
			                    json_pack("[{s:o}]", "facts", facts));
		} else {
			json_decref(facts);
		}
		break;
	}
	default:
		out = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "key", key, "text", text, "ticket_id",
		                (json_int_t)ticket_id, "rule", rule, "phase", phase, "fields",
		                fields ? json_incref(fields) : json_object());
		break;
	}
	if (out)
		body = json_dumps(out, JSON_COMPACT);
out:
	json_decref(out);
	json_decref(in);
	free(chat);
	return body;
}

/* Reads a webhook's secret_file (owner-only, as every secret).  Returns 0
 * or -errno with why. */
static int read_secret(const char *path, unsigned char *buf, size_t *len, char *why, size_t whylen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t r;

	*len = 0;
	if (fd < 0) {
		err = -errno;
		snprintf(why, whylen, "secret_file %s: %s", path, strerror(errno));
		return err;
	}
	if ((err = wafa_secret_check(fd, path, why, whylen)) != 0)
		goto out;
	while ((r = read(fd, buf + *len, SECRET_MAX - *len)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			*len += (size_t)r;
	while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
		(*len)--;
	if (*len == 0) {
		snprintf(why, whylen, "secret_file %s is empty (write the shared key into it)", path);
		err = -EINVAL;
	}
out:
	close(fd);
	return err;
}

static int header(struct wafa_http_request *req, const char *name, const char *value)
{
	if (req->nheaders == WAFA_HTTP_MAX_HEADERS)
		return -E2BIG;
	if (asprintf(&req->headers[req->nheaders], "%s: %s", name, value) < 0)
		return -ENOMEM;
	for (char *p = req->headers[req->nheaders]; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	req->nheaders++;
	return 0;
}

/* Builds a webhook row's request.  Returns 0, or -errno with why (parked). */
static int webhook_request(struct wafa_dispatch *d, const char *name, const char *payload,
                           const char *key, long long ticket_id, const char *rule,
                           const char *phase, struct wafa_http_request *req, int64_t *timeout,
                           char *why, size_t whylen)
{
	const struct wafa_webhook *w = wafa_config_webhook(d->cfg, name);
	unsigned char secret[SECRET_MAX];
	size_t secretlen = 0;
	char ts[24], sig[72];
	int err;

	if (!w) {
		snprintf(why, whylen, "no [webhook %s] in %s (add it, then `wafa outbox retry`)",
		         name, d->cfg->path);
		return -ENOENT;
	}
	*timeout = w->timeout_ms;
	if (w->secret_file[0] &&
	    (err = read_secret(w->secret_file, secret, &secretlen, why, whylen)) != 0)
		return err;
	if (!(req->method = strdup("POST")) || !(req->url = strdup(w->url)) ||
	    !(req->content_type = strdup("application/json")) ||
	    !(req->body = wafa_dispatch_webhook_body(w->format, payload, key, ticket_id, rule,
	                                             phase))) {
		explicit_bzero(secret, sizeof(secret));
		snprintf(why, whylen, "out of memory (or a payload that is not a JSON object)");
		return -ENOMEM;
	}
	/* the receiver can drop a repeat (a crash between its answer and
	 * wafa's record of it repeats the request once) */
	if ((err = header(req, "X-Wafa-Key", key)) != 0)
		goto fail;
	if (secretlen) {
		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		wafa_dispatch_sign(secret, secretlen, ts, req->body, sig);
		if ((err = header(req, "X-Wafa-Timestamp", ts)) != 0 ||
		    (err = header(req, "X-Wafa-Signature", sig)) != 0)
			goto fail;
	}
	explicit_bzero(secret, sizeof(secret)); /* a memset before return may be dropped */
	return 0;
fail:
	explicit_bzero(secret, sizeof(secret));
	snprintf(why, whylen, "%s", wafa_strerror(err));
	return err;
}

/* ---- wafa check ---- */

struct webhook_check {
	const struct wafa_config *cfg;
	FILE *report;
};

static int check_webhook(void *ctx, const char *path, unsigned lineno, const char *name)
{
	const struct webhook_check *c = ctx;
	const struct wafa_config *cfg = c->cfg;

	if (wafa_config_webhook(cfg, name))
		return 0;
	fprintf(c->report, "%s:%u: webhook \"%s\" is not in %s: add a [webhook %s] "
	                   "section with its url (known:",
	        path, lineno, name, cfg->path, name);
	for (size_t i = 0; i < cfg->nwebhooks; i++)
		fprintf(c->report, " %s", cfg->webhooks[i].name);
	fprintf(c->report, "%s); its rows would be parked as failed\n", cfg->nwebhooks ? "" : " none");
	return 1;
}

int wafa_dispatch_check_rules(const struct wafa_config *cfg, const char *rules_dir, FILE *report)
{
	struct webhook_check c = { cfg, report };

	/* webhook = "name": the names a rule's text gives literally */
	return wafa_literal_each(rules_dir, "webhook", NULL, check_webhook, &c);
}

/* ---- recording ---- */

static void on_update(PGresult *res, void *arg)
{
	(void)arg;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		wafa_log(WAFA_ERROR, "http", "recording a result failed: %s (the row's lease "
		                             "expires and it is sent again)",
		         wafa_pg_result_error(res));
}

static int64_t backoff_ms(const struct wafa_dispatch *d, int attempts)
{
	int64_t v = d->cfg->http_retry_initial_ms;

	for (int i = 1; i < attempts && v < d->cfg->http_retry_max_ms; i++)
		v *= 2;
	return v > d->cfg->http_retry_max_ms ? d->cfg->http_retry_max_ms : v;
}

/* Records row id's outcome.  now: due again at once (never tried, or cut
 * short by a stop). */
static void record(struct wafa_dispatch *d, int64_t id, const char *key, bool webhook,
                   enum wafa_http_result result, const char *reason, int attempts, bool now)
{
	const char *channel = webhook ? "webhook" : "ticket";
	char ids[40], sid[24], delay[24], in[32];
	int err;

	snprintf(sid, sizeof(sid), "%" PRId64, id);
	if (result == WAFA_HTTP_DONE) {
		const char *p[] = { ids };
		snprintf(ids, sizeof(ids), "{%" PRId64 "}", id);
		wafa_log(WAFA_INFO, "http", "sent %s (%s): %s", key, channel, reason);
		wafa_metrics_actions(channel, WAFA_METRIC_SENT);
		err = wafa_pg_query(d->pg, wafa_outbox_sent_sql, 1, p, on_update, NULL);
	} else if (result == WAFA_HTTP_PERMFAIL) {
		const char *p[] = { sid, reason };
		wafa_log(WAFA_WARN, "http", "failed %s (%s): %s (parked in the outbox)", key, channel,
		         reason);
		wafa_metrics_actions(channel, WAFA_METRIC_FAILED);
		err = wafa_pg_query(d->pg, wafa_outbox_failed_sql, 2, p, on_update, NULL);
	} else {
		int64_t ms = now ? 0 : backoff_ms(d, attempts);
		const char *p[] = { sid, delay, reason };
		snprintf(delay, sizeof(delay), "%" PRId64, ms);
		wafa_log(WAFA_WARN, "http", "deferred %s (%s): %s (retry in %s)", key, channel, reason,
		         wafa_duration_format(ms, in, sizeof(in)));
		if (!now)
			wafa_metrics_actions(channel, WAFA_METRIC_RETRIED);
		err = wafa_pg_query(d->pg, wafa_outbox_retry_sql, 3, p, on_update, NULL);
	}
	if (err)
		on_update(NULL, NULL);
}

static void unlink_flight(struct wafa_dispatch *d, struct flight *f)
{
	for (struct flight **pp = &d->flights; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			d->inflight--;
			return;
		}
}

static void maybe_done(struct wafa_dispatch *d);

/* A ticket row's request: with attempts > 1 (it may have been sent before
 * a crash, or its answer lost) and a helpdesk that can tell, the lookup of
 * the note first (f->lookup set); else the row's own request, keyed. */
static int ticket_request(struct wafa_dispatch *d, struct flight *f, const char *payload,
                          bool look, struct wafa_http_request *req, char *why, size_t whylen)
{
	char *w = NULL;
	int err = -ENOTSUP;

	if (look && f->attempts > 1) {
		err = wafa_api_build_lookup(d->cfg, f->ticket, f->key, payload, req, &w);
		if (err == 0 && !(f->payload = strdup(payload))) {
			wafa_http_request_free(req);
			err = -ENOMEM;
		}
		f->lookup = err == 0;
		if (err == -ENOTSUP) {
			/* not a note, or a helpdesk without a lookup: sent as is */
			free(w);
			w = NULL;
		}
	}
	if (err == -ENOTSUP)
		err = wafa_api_build_keyed(d->cfg, f->ticket, f->key, payload, req, &w);
	if (err)
		snprintf(why, whylen, "%s", w ? w : wafa_strerror(err));
	free(w);
	return err;
}

static void on_answer(const struct wafa_http_outcome *o, void *arg);

/* Sends f's request (f already in d->flights); on failure records the row
 * due again at once and frees f. */
static void send_flight(struct wafa_dispatch *d, struct flight *f, struct wafa_http_request *req,
                        int64_t timeout)
{
	int err;

	if ((err = wafa_http_pool_send(d->pool, req, timeout, on_answer, f)) != 0) {
		unlink_flight(d, f);
		record(d, f->id, f->key, f->webhook, WAFA_HTTP_TEMPFAIL, wafa_strerror(err),
		       f->attempts, true);
		flight_free(f);
	}
}

/* A lookup's answer: the note found is the row sent; not found, the row's
 * own request goes in the same flight.  Returns true when f flies on. */
static bool after_lookup(struct wafa_dispatch *d, struct flight *f,
                         const struct wafa_http_outcome *o)
{
	struct wafa_http_request req = { 0 };
	char why[sizeof(o->reason) + 80];
	int err;

	f->lookup = false;
	if (o->result != WAFA_HTTP_DONE) {
		snprintf(why, sizeof(why), "looking for the note before sending it again: %s",
		         o->reason);
		record(d, f->id, f->key, f->webhook, o->result, why, f->attempts,
		       d->stopping && o->result == WAFA_HTTP_TEMPFAIL);
		return false;
	}
	if (o->found) {
		snprintf(why, sizeof(why), "already in the helpdesk (a note with its key: %s)",
		         o->reason);
		record(d, f->id, f->key, f->webhook, WAFA_HTTP_DONE, why, f->attempts, false);
		return false;
	}
	if (d->stopping) {
		record(d, f->id, f->key, f->webhook, WAFA_HTTP_TEMPFAIL,
		       "not sent: wafa stopped (the note was not in the helpdesk)", f->attempts, true);
		return false;
	}
	if ((err = ticket_request(d, f, f->payload, false, &req, why, sizeof(why))) != 0) {
		record(d, f->id, f->key, f->webhook,
		       err == -ENOMEM ? WAFA_HTTP_TEMPFAIL : WAFA_HTTP_PERMFAIL, why, f->attempts,
		       false);
		return false;
	}
	send_flight(d, f, &req, 0);
	return true;
}

static void on_answer(const struct wafa_http_outcome *o, void *arg)
{
	struct flight *f = arg;
	struct wafa_dispatch *d = f->d;
	/* cut short by a stop: the server may have it; due again at once */
	bool now = d->stopping && o->result == WAFA_HTTP_TEMPFAIL;

	if (f->lookup) {
		if (after_lookup(d, f, o))
			return; /* the note itself is on its way */
	} else {
		record(d, f->id, f->key, f->webhook, o->result, o->reason, f->attempts, now);
	}
	unlink_flight(d, f);
	flight_free(f);
	if (!d->stopping && (d->again || o->result != WAFA_HTTP_TEMPFAIL)) {
		d->again = false;
		claim(d); /* more may be due */
	}
}

/* ---- claiming ---- */

static void on_claimed(PGresult *res, void *arg)
{
	struct wafa_dispatch *d = arg;
	int n;
	bool full;

	d->claiming = false;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (res)
			wafa_log(WAFA_ERROR, "http", "claiming webhook and ticket rows: %s",
			         wafa_pg_result_error(res));
		maybe_done(d);
		return;
	}
	n = PQntuples(res);
	full = n > 0 && (size_t)n + d->inflight >= (size_t)d->cfg->http_sessions;
	for (int i = 0; i < n; i++) {
		struct wafa_http_request req = { 0 };
		struct flight *f = calloc(1, sizeof(*f));
		const char *channel = PQgetvalue(res, i, 2), *payload = PQgetvalue(res, i, 4);
		long long ticket = atoll(PQgetvalue(res, i, 6));
		char why[300] = "";
		int64_t timeout = 0;
		int err;

		if (!f) {
			wafa_log(WAFA_ERROR, "http", "out of memory: %s left to its lease",
			         PQgetvalue(res, i, 1));
			continue;
		}
		f->d = d;
		f->id = atoll(PQgetvalue(res, i, 0));
		f->attempts = atoi(PQgetvalue(res, i, 5));
		f->webhook = strcmp(channel, "webhook") == 0;
		snprintf(f->key, sizeof(f->key), "%s", PQgetvalue(res, i, 1));
		snprintf(f->target, sizeof(f->target), "%s", PQgetvalue(res, i, 3));
		if (d->stopping || d->paused) {
			/* claimed as the stop or fence came: back, due at once */
			record(d, f->id, f->key, f->webhook, WAFA_HTTP_TEMPFAIL,
			       "not sent: wafa stopped or lost the lead", f->attempts, true);
			flight_free(f);
			continue;
		}
		if (f->webhook) {
			err = webhook_request(d, f->target, payload, f->key, ticket,
			                      PQgetvalue(res, i, 7), PQgetvalue(res, i, 8), &req, &timeout,
			                      why, sizeof(why));
		} else {
			f->ticket = ticket;
			err = ticket_request(d, f, payload, true, &req, why, sizeof(why));
		}
		if (err) {
			wafa_http_request_free(&req);
			record(d, f->id, f->key, f->webhook,
			       err == -ENOMEM ? WAFA_HTTP_TEMPFAIL : WAFA_HTTP_PERMFAIL, why, f->attempts,
			       false);
			flight_free(f);
			continue;
		}
		f->next = d->flights;
		d->flights = f;
		d->inflight++;
		send_flight(d, f, &req, timeout);
	}
	/* a full claim: more may be due, looked at as soon as a session is
	 * free (now, when the rows were parked rather than sent) */
	if (full && !d->stopping && d->inflight < (size_t)d->cfg->http_sessions)
		claim(d);
	else if (full)
		d->again = true;
	maybe_done(d);
}

/* A claim's lease in seconds: LEASE_S, or longer when a row's requests may
 * outlast it: a ticket row is a lookup and its own request in one claim,
 * each up to [http] timeout; a webhook's request up to its own timeout.  A
 * lease that ran out mid-request would let another instance (a standby
 * taking over) claim the row and send it a second time. */
static long long lease_s(const struct wafa_config *cfg)
{
	int64_t longest = cfg->http_timeout_ms;
	long long need;

	for (size_t i = 0; i < cfg->nwebhooks; i++)
		if (cfg->webhooks[i].timeout_ms > longest)
			longest = cfg->webhooks[i].timeout_ms;
	need = (long long)(2 * (longest / 1000 + 1)) + 60; /* a minute for the record */
	if (need > INT32_MAX)
		need = INT32_MAX;
	return need > LEASE_S ? need : LEASE_S;
}

static void claim(struct wafa_dispatch *d)
{
	char limit[24], lease[16];
	char *held;
	int err;

	if (d->claiming || d->paused || d->stopping || !d->leader_pid[0] || !d->schema)
		return;
	if (d->inflight >= (size_t)d->cfg->http_sessions) {
		d->again = true;
		return;
	}
	snprintf(limit, sizeof(limit), "%zu", (size_t)d->cfg->http_sessions - d->inflight);
	snprintf(lease, sizeof(lease), "%lld", lease_s(d->cfg));
	held = NULL;
	char *inner = wafa_dispatch_held(d);
	if (!inner || asprintf(&held, "{%s}", inner) < 0) {
		free(inner);
		return;
	}
	free(inner);
	const char *p[] = { limit, lease, held, d->leader_pid, d->schema };
	if ((err = wafa_pg_query(d->pg, claim_sql, 5, p, on_claimed, d)) == 0)
		d->claiming = true;
	free(held);
}

/* ---- the interface ---- */

int wafa_dispatch_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                       struct wafa_dispatch **out)
{
	struct wafa_dispatch *d = calloc(1, sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->cfg = cfg;
	d->pg = pg;
	d->paused = true;
	if ((err = wafa_http_pool_open(loop, cfg, &d->pool)) != 0) {
		free(d);
		return err;
	}
	uv_timer_init(loop, &d->timer);
	d->timer.data = d;
	*out = d;
	return 0;
}

void wafa_dispatch_start(struct wafa_dispatch *d)
{
	d->paused = false;
	uv_timer_start(&d->timer, on_timer, 0, (uint64_t)d->cfg->poll_ms);
}

void wafa_dispatch_pause(struct wafa_dispatch *d)
{
	d->paused = true;
	uv_timer_stop(&d->timer);
}

void wafa_dispatch_set_leader(struct wafa_dispatch *d, int work_pid, const char *schema)
{
	snprintf(d->leader_pid, sizeof(d->leader_pid), "%d", work_pid);
	free(d->schema);
	d->schema = strdup(schema);
}

void wafa_dispatch_fence(struct wafa_dispatch *d)
{
	wafa_dispatch_pause(d);
	d->leader_pid[0] = '\0';
}

void wafa_dispatch_kick(struct wafa_dispatch *d)
{
	claim(d);
}

char *wafa_dispatch_held(const struct wafa_dispatch *d)
{
	char *ids = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&ids, &len);
	size_t n = 0;

	if (!f)
		return NULL;
	for (const struct flight *fl = d->flights; fl; fl = fl->next)
		fprintf(f, "%s%" PRId64, n++ ? "," : "", fl->id);
	if (fclose(f) != 0) {
		free(ids);
		return NULL;
	}
	return ids;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct wafa_dispatch *d = h->data;
	void (*done)(void *) = d->done;
	void *arg = d->done_arg;

	free(d->schema);
	free(d);
	if (done)
		done(arg);
}

static void on_pool_closed(void *arg)
{
	struct wafa_dispatch *d = arg;

	d->pool = NULL;
	maybe_done(d);
}

/* Once stopping, the pool closed and no claim out: the timer goes, then d. */
static void maybe_done(struct wafa_dispatch *d)
{
	if (!d->stopping || d->pool || d->claiming || uv_is_closing((uv_handle_t *)&d->timer))
		return;
	uv_close((uv_handle_t *)&d->timer, on_timer_closed);
}

void wafa_dispatch_stop(struct wafa_dispatch *d, void (*done)(void *arg), void *arg)
{
	d->stopping = true;
	d->done = done;
	d->done_arg = arg;
	uv_timer_stop(&d->timer);
	if (d->inflight)
		wafa_log(WAFA_INFO, "http", "stopping: %zu request(s) in flight cut short (due again "
		                            "at once)", d->inflight);
	/* answers every flight (on_answer records each) before it returns */
	wafa_http_pool_close(d->pool, on_pool_closed, d);
}
