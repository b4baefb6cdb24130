#include "mailer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <strings.h>

#include "clock.h"
#include "contact.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "outbox.h"
#include "pg.h"
#include "template.h"
#include "token.h"
#include "web.h"

#define LEASE_S 300

struct row {
	int64_t id;
	char *key;
	int attempts;
	struct wafa_message msg;
};

struct wafa_mailer {
	uv_loop_t *loop;
	const struct wafa_config *cfg;
	struct wafa_pg *pg;
	struct wafa_channel_handle channel;
	uv_timer_t timer;
	uv_work_t work;
	bool claiming; /* a claim query is out */
	bool sending;  /* a batch is on a worker thread */
	bool again;    /* look again when the current batch is done */
	bool stopping;
	bool paused; /* on standby: another instance sends (until wafa_mailer_start) */
	void (*done)(void *arg);
	void *done_arg;
	struct row *rows;
	struct wafa_mail *mails;
	size_t n;
	char *claim_sql;          /* built for the helpdesk view */
	unsigned char *link_key;  /* signs the links in customer mail; NULL without [web] */
	size_t link_keylen;
};

static void claim(struct wafa_mailer *m);

static void on_timer(uv_timer_t *t)
{
	claim(t->data);
}

static void on_closed(uv_handle_t *h)
{
	struct wafa_mailer *m = h->data;

	m->done(m->done_arg);
	wafa_channel_close(&m->channel);
	free(m->claim_sql);
	free(m->link_key);
	free(m);
}

static void maybe_done(struct wafa_mailer *m)
{
	if (m->stopping && !m->sending && !m->claiming)
		uv_close((uv_handle_t *)&m->timer, on_closed);
}

int wafa_mailer_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                     struct wafa_channel_handle channel, struct wafa_mailer **out)
{
	struct wafa_mailer *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->cfg = cfg;
	m->pg = pg;
	char *view = wafa_pg_quote_ident(cfg->view);
	m->claim_sql = view ? wafa_outbox_claim_sql(view) : NULL;
	free(view);
	if (!m->claim_sql) {
		free(m);
		return -ENOMEM;
	}
	if (cfg->web_key_file[0]) {
		int err = wafa_token_key_load(cfg->web_key_file, &m->link_key, &m->link_keylen);
		if (err)
			wafa_log(WAFA_ERROR, "mail", "[web] key_file %s: %s: customer mail with links "
			                             "will fail until it is readable (32 bytes or more)",
			         cfg->web_key_file, wafa_strerror(err));
	}
	m->channel = channel;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	m->work.data = m;
	m->paused = true; /* until wafa_mailer_start: the leader sends */
	wafa_message_init();
	*out = m;
	return 0;
}

void wafa_mailer_start(struct wafa_mailer *m)
{
	m->paused = false;
	uv_timer_start(&m->timer, on_timer, 0, (uint64_t)m->cfg->poll_ms);
}

void wafa_mailer_pause(struct wafa_mailer *m)
{
	m->paused = true;
	uv_timer_stop(&m->timer);
}

void wafa_mailer_kick(struct wafa_mailer *m)
{
	claim(m);
}

void wafa_mailer_stop(struct wafa_mailer *m, void (*done)(void *arg), void *arg)
{
	m->stopping = true;
	m->done = done;
	m->done_arg = arg;
	uv_timer_stop(&m->timer);
	maybe_done(m);
}

static void free_batch(struct wafa_mailer *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->rows[i].key);
		wafa_message_free(&m->rows[i].msg);
	}
	free(m->rows);
	free(m->mails);
	m->rows = NULL;
	m->mails = NULL;
	m->n = 0;
}

static void on_update(PGresult *res, void *arg)
{
	(void)arg;
	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK))
		wafa_log(WAFA_ERROR, "mail", "recording a result failed: %s (the row's lease "
		                             "expires and it is looked at again)",
		         wafa_pg_result_error(res));
}

static int64_t backoff_ms(const struct wafa_mailer *m, int attempts)
{
	int64_t d = m->cfg->retry_initial_ms;

	for (int i = 1; i < attempts && d < m->cfg->retry_max_ms; i++)
		d *= 2;
	return d > m->cfg->retry_max_ms ? m->cfg->retry_max_ms : d;
}

/* Records a mail that was not sent: parked as failed, or due again later. */
static void record_unsent(struct wafa_mailer *m, const char *key, int64_t id_num, int attempts,
                          const struct wafa_mail *mail)
{
	char id[32], delay[32];
	const char *why = mail->reason[0] ? mail->reason : "not attempted";
	int err;

	snprintf(id, sizeof(id), "%" PRId64, id_num);
	if (mail->status == WAFA_MAIL_PERMFAIL) {
		const char *p[] = { id, why };
		wafa_log(WAFA_WARN, "mail", "failed %s: %s (parked in the outbox)", key, why);
		wafa_metrics_mails(WAFA_METRIC_FAILED, 1);
		err = wafa_pg_query(m->pg, wafa_outbox_failed_sql, 2, p, on_update, NULL);
	} else {
		int64_t d = backoff_ms(m, attempts);
		const char *p[] = { id, delay, why };
		snprintf(delay, sizeof(delay), "%" PRId64, d);
		wafa_log(WAFA_WARN, "mail", "deferred %s: %s (retry in %" PRId64 " ms)", key, why, d);
		wafa_metrics_mails(WAFA_METRIC_RETRIED, 1);
		err = wafa_pg_query(m->pg, wafa_outbox_retry_sql, 3, p, on_update, NULL);
	}
	if (err)
		on_update(NULL, NULL);
}

/* Records what happened to each mail of the batch: the sent ones in one
 * statement. */
static void record(struct wafa_mailer *m)
{
	char *ids = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&ids, &len);
	size_t nsent = 0;

	if (!f) {
		wafa_log(WAFA_ERROR, "mail", "out of memory recording results");
		return;
	}
	fputc('{', f);
	for (size_t i = 0; i < m->n; i++) {
		const struct wafa_mail *mail = &m->mails[i];
		const struct row *row = &m->rows[i];
		if (mail->status != WAFA_MAIL_SENT) {
			record_unsent(m, row->key, row->id, row->attempts, mail);
			continue;
		}
		fprintf(f, "%s%" PRId64, nsent++ ? "," : "", row->id);
		wafa_log(WAFA_INFO, "mail", "sent %s to %s", row->key, mail->rcpt[0]);
		wafa_metrics_mails(WAFA_METRIC_SENT, 1);
	}
	fputc('}', f);
	fclose(f);
	if (nsent) {
		const char *p[] = { ids };
		if (wafa_pg_query(m->pg, wafa_outbox_sent_sql, 1, p, on_update, NULL) != 0)
			on_update(NULL, NULL);
	}
	free(ids);
}

static void send_work(uv_work_t *w)
{
	struct wafa_mailer *m = w->data;

	m->channel.channel->send(m->channel.state, m->mails, m->n);
}

static void after_send(uv_work_t *w, int status)
{
	struct wafa_mailer *m = w->data;
	bool full = m->n >= (size_t)m->cfg->batch;

	(void)status;
	record(m);
	free_batch(m);
	m->sending = false;
	if ((full || m->again) && !m->stopping) {
		m->again = false;
		claim(m);
	}
	maybe_done(m);
}

/* Turns a template mail into its parts: variables from the row, the
 * survey and unsubscribe links, then the template.  Returns 0 or -errno
 * with why. */
static int render_template(struct wafa_mailer *m, PGresult *res, int i, const char *unsub,
                           struct wafa_rendered *out, char *why, size_t whylen)
{
	const char *name = PQgetvalue(res, i, WAFA_OB_TEMPLATE);
	const char *locale = PQgetisnull(res, i, WAFA_OB_LOCALE) ? NULL
	                                                        : PQgetvalue(res, i, WAFA_OB_LOCALE);
	int64_t id = strtoll(PQgetvalue(res, i, WAFA_OB_ID), NULL, 10);
	struct wafa_var vars[64 + 6];
	char *links[5] = { 0 };
	json_t *obj = NULL;
	size_t n = 0;
	int err;

	if (!m->cfg->templates[0]) {
		snprintf(why, whylen, "template \"%s\": [mail] templates is not set", name);
		return -ENOENT;
	}
	if (!PQgetisnull(res, i, WAFA_OB_VARS)) {
		const char *key;
		json_t *v;
		obj = json_loads(PQgetvalue(res, i, WAFA_OB_VARS), 0, NULL);
		json_object_foreach (obj, key, v) {
			if (n < 64 && json_is_string(v)) {
				vars[n].name = key;
				vars[n++].value = json_string_value(v);
			}
		}
	}
	/* without [web], a mail to the sender asks to be taken off the list */
	char mailto[400];
	if (!unsub && strcmp(PQgetvalue(res, i, WAFA_OB_AUDIENCE), "customer") == 0) {
		char from[320];
		wafa_outbox_address(PQgetvalue(res, i, WAFA_OB_FROM), from, sizeof(from));
		snprintf(mailto, sizeof(mailto), "mailto:%s?subject=unsubscribe", from);
		unsub = mailto;
	}
	if (unsub) {
		vars[n].name = "unsubscribe_url";
		vars[n++].value = unsub;
	}
	if (strcmp(PQgetvalue(res, i, WAFA_OB_SURVEY), "t") == 0) {
		static const char *const names[] = { "survey_1", "survey_2", "survey_3", "survey_4",
			                             "survey_5" };
		for (int k = 0; k < 5; k++) {
			char addr[320];
			wafa_outbox_address(PQgetvalue(res, i, WAFA_OB_RCPT), addr, sizeof(addr));
			links[k] = m->link_key ? wafa_web_link(m->cfg, m->link_key, m->link_keylen, 's', id,
			                                       addr, k + 1)
			                       : NULL;
			if (!links[k]) {
				/* the key may be readable later: keep the mail queued */
				snprintf(why, whylen, "survey links need [web] base_url and a readable "
				                      "key_file (%s)",
				         m->cfg->web_key_file[0] ? m->cfg->web_key_file : "not set");
				err = -EAGAIN;
				goto out;
			}
			vars[n].name = names[k];
			vars[n++].value = links[k];
		}
	}
	err = wafa_template_render(m->cfg->templates, name, locale, m->cfg->default_locale, vars, n,
	                           out, why, whylen);
out:
	for (int k = 0; k < 5; k++)
		free(links[k]);
	json_decref(obj);
	return err;
}

/* Counts, within one claimed batch, the customer mails let through, so a cap
 * holds inside a batch too. */
struct seen {
	char email[320];
	int mails, offers;
};

static struct seen *seen_for(struct seen *seen, size_t *nseen, size_t cap, const char *email)
{
	for (size_t k = 0; k < *nseen; k++)
		if (strcasecmp(seen[k].email, email) == 0)
			return &seen[k];
	if (*nseen == cap)
		return NULL;
	memset(&seen[*nseen], 0, sizeof(seen[0]));
	snprintf(seen[*nseen].email, sizeof(seen[0].email), "%s", email);
	return &seen[(*nseen)++];
}

/* Applies the contact policy to a claimed mail to a customer.  Returns true
 * when it may go now; otherwise it has been held or skipped (recorded). */
static bool allowed(struct wafa_mailer *m, PGresult *res, int i, struct seen *seen,
                    size_t *nseen, size_t cap)
{
	struct wafa_contact_facts f;
	const char *rcpt = PQgetvalue(res, i, WAFA_OB_RCPT), *key = PQgetvalue(res, i, WAFA_OB_KEY);
	bool offer = strcmp(PQgetvalue(res, i, WAFA_OB_KIND), "offer") == 0;
	char addr[320];
	wafa_outbox_address(rcpt, addr, sizeof(addr));
	struct seen *s = seen_for(seen, nseen, cap, addr);
	char why[300], id[32], at[32];
	int64_t until;
	enum wafa_contact_verdict v;

	f.opted_out = strcmp(PQgetvalue(res, i, WAFA_OB_OPTED_OUT), "t") == 0;
	f.mails_recent = strtoll(PQgetvalue(res, i, WAFA_OB_MAILS_RECENT), NULL, 10) +
	                 (s ? s->mails : 0);
	f.offers_recent = strtoll(PQgetvalue(res, i, WAFA_OB_OFFERS_RECENT), NULL, 10) +
	                  (s ? s->offers : 0);
	f.open_tickets = strtoll(PQgetvalue(res, i, WAFA_OB_OPEN_TICKETS), NULL, 10);
	f.last_breach_ms = PQgetisnull(res, i, WAFA_OB_LAST_BREACH_MS)
	                       ? WAFA_NO_TIME
	                       : strtoll(PQgetvalue(res, i, WAFA_OB_LAST_BREACH_MS), NULL, 10);
	v = wafa_contact_decide(m->cfg, &f, offer,
	                        PQgetisnull(res, i, WAFA_OB_TZ) ? NULL : PQgetvalue(res, i, WAFA_OB_TZ),
	                        wafa_clock_now_ms(), &until, why, sizeof(why));
	if (v == WAFA_CONTACT_SEND) {
		if (s) {
			s->mails++;
			s->offers += offer;
		}
		return true;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(res, i, WAFA_OB_ID));
	snprintf(at, sizeof(at), "%" PRId64, until);
	const char *hold[] = { id, at, why }, *skip[] = { id, why };
	wafa_log(WAFA_INFO, "mail", "%s %s: %s", v == WAFA_CONTACT_HOLD ? "held" : "skipped", key,
	         why);
	wafa_metrics_mails(v == WAFA_CONTACT_HOLD ? WAFA_METRIC_HELD : WAFA_METRIC_SKIPPED, 1);
	if (wafa_pg_query(m->pg, v == WAFA_CONTACT_HOLD ? wafa_outbox_hold_sql : wafa_outbox_skip_sql,
	                  v == WAFA_CONTACT_HOLD ? 3 : 2, v == WAFA_CONTACT_HOLD ? hold : skip,
	                  on_update, NULL) != 0)
		on_update(NULL, NULL);
	return false;
}

/* Renders claimed row i into row.  Returns 0 or -errno with why. */
static int render(struct wafa_mailer *m, PGresult *res, int i, struct row *row, char *why,
                  size_t whylen)
{
	bool customer = strcmp(PQgetvalue(res, i, WAFA_OB_AUDIENCE), "customer") == 0;
	int64_t id = strtoll(PQgetvalue(res, i, WAFA_OB_ID), NULL, 10);
	char addr[320];
	wafa_outbox_address(PQgetvalue(res, i, WAFA_OB_RCPT), addr, sizeof(addr));
	char *unsub = customer && m->link_key
	                  ? wafa_web_link(m->cfg, m->link_key, m->link_keylen, 'u', id, addr, 0)
	                  : NULL;
	struct wafa_rendered r = { 0 };
	struct wafa_message_in in = {
		.from = PQgetvalue(res, i, WAFA_OB_FROM),
		.to = PQgetvalue(res, i, WAFA_OB_RCPT),
		.subject = PQgetvalue(res, i, WAFA_OB_SUBJECT),
		.text = PQgetvalue(res, i, WAFA_OB_BODY),
		.key = PQgetvalue(res, i, WAFA_OB_KEY),
		.date_ms = strtoll(PQgetvalue(res, i, WAFA_OB_CREATED_MS), NULL, 10),
		.in_reply_to = customer && !PQgetisnull(res, i, WAFA_OB_THREAD)
		                   ? PQgetvalue(res, i, WAFA_OB_THREAD) : NULL,
		.list_unsubscribe = unsub,
	};
	int err = 0;

	if (!PQgetisnull(res, i, WAFA_OB_TEMPLATE)) {
		err = render_template(m, res, i, unsub, &r, why, whylen);
		if (err)
			goto out;
		in.subject = r.subject;
		in.text = r.text;
		in.html = r.html;
		in.lang = r.locale;
	}
	err = wafa_message_build(&in, &row->msg, why, whylen);
out:
	wafa_rendered_free(&r);
	free(unsub);
	return err;
}

static void on_claimed(PGresult *res, void *arg)
{
	struct wafa_mailer *m = arg;
	struct seen *seen = NULL;
	size_t nseen = 0;
	int n;

	m->claiming = false;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "mail", "claiming outbox rows failed: %s", wafa_pg_result_error(res));
		goto out;
	}
	n = PQntuples(res);
	if (n == 0)
		goto out;
	m->rows = calloc((size_t)n, sizeof(*m->rows));
	m->mails = calloc((size_t)n, sizeof(*m->mails));
	seen = calloc((size_t)n, sizeof(*seen));
	if (!m->rows || !m->mails || !seen) {
		free_batch(m);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct row *row = &m->rows[m->n];
		struct wafa_mail *mail = &m->mails[m->n];
		char why[200];
		row->id = strtoll(PQgetvalue(res, i, WAFA_OB_ID), NULL, 10);
		row->attempts = atoi(PQgetvalue(res, i, WAFA_OB_ATTEMPTS));
		if (strcmp(PQgetvalue(res, i, WAFA_OB_AUDIENCE), "customer") == 0 &&
		    !allowed(m, res, i, seen, &nseen, (size_t)n)) {
			memset(row, 0, sizeof(*row));
			continue;
		}
		int err = render(m, res, i, row, why, sizeof(why));
		if (err) {
			/* a mail that cannot be rendered never will be: park it; one
			 * waiting for the link key stays queued */
			mail->status = err == -EAGAIN ? WAFA_MAIL_TEMPFAIL : WAFA_MAIL_PERMFAIL;
			snprintf(mail->reason, sizeof(mail->reason), "cannot render: %s", why);
			record_unsent(m, PQgetvalue(res, i, WAFA_OB_KEY), row->id, row->attempts, mail);
			wafa_message_free(&row->msg);
			memset(row, 0, sizeof(*row));
			memset(mail, 0, sizeof(*mail));
			continue;
		}
		row->key = strdup(PQgetvalue(res, i, WAFA_OB_KEY));
		mail->key = row->key;
		mail->env_from = row->msg.env_from;
		mail->rcpt = (const char *const *)row->msg.rcpt;
		mail->nrcpt = row->msg.nrcpt;
		mail->data = row->msg.data;
		mail->len = row->msg.len;
		m->n++;
	}
	if (m->n == 0) {
		free_batch(m);
		goto out;
	}
	m->sending = true;
	if (uv_queue_work(m->loop, &m->work, send_work, after_send) != 0) {
		m->sending = false;
		free_batch(m);
	}
out:
	free(seen);
	if (m->again && !m->sending && !m->stopping) {
		m->again = false;
		claim(m);
	}
	maybe_done(m);
}

static void claim(struct wafa_mailer *m)
{
	char batch[16], lease[16], mails_ms[32], offers_ms[32];
	const char *p[] = { batch, lease, mails_ms, offers_ms };

	if (m->stopping || m->paused)
		return;
	if (m->claiming || m->sending) {
		m->again = true;
		return;
	}
	if (!m->link_key && m->cfg->web_key_file[0] &&
	    wafa_token_key_load(m->cfg->web_key_file, &m->link_key, &m->link_keylen) == 0)
		wafa_log(WAFA_INFO, "mail", "[web] key_file %s read", m->cfg->web_key_file);
	snprintf(batch, sizeof(batch), "%lld", (long long)m->cfg->batch);
	/* long enough for a whole batch at a slow server: another instance must
	 * not take these rows while this one is still sending them */
	snprintf(lease, sizeof(lease), "%lld",
	         (long long)(LEASE_S + m->cfg->batch * (m->cfg->timeout_ms / 1000) * 2));
	snprintf(mails_ms, sizeof(mails_ms), "%" PRId64, m->cfg->customer_mails.per_ms);
	snprintf(offers_ms, sizeof(offers_ms), "%" PRId64, m->cfg->offers.per_ms);
	if (wafa_pg_query(m->pg, m->claim_sql, 4, p, on_claimed, m) == 0)
		m->claiming = true;
}
