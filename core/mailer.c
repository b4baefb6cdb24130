#include "mailer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "message.h"
#include "outbox.h"

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
	void (*done)(void *arg);
	void *done_arg;
	struct row *rows;
	struct wafa_mail *mails;
	size_t n;
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
	m->channel = channel;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	m->work.data = m;
	wafa_message_init();
	*out = m;
	return 0;
}

void wafa_mailer_start(struct wafa_mailer *m)
{
	uv_timer_start(&m->timer, on_timer, 0, (uint64_t)m->cfg->poll_ms);
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
		err = wafa_pg_query(m->pg, wafa_outbox_failed_sql, 2, p, on_update, NULL);
	} else {
		int64_t d = backoff_ms(m, attempts);
		const char *p[] = { id, delay, why };
		snprintf(delay, sizeof(delay), "%" PRId64, d);
		wafa_log(WAFA_WARN, "mail", "deferred %s: %s (retry in %" PRId64 " ms)", key, why, d);
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

static void on_claimed(PGresult *res, void *arg)
{
	struct wafa_mailer *m = arg;
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
	if (!m->rows || !m->mails) {
		free_batch(m);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct row *row = &m->rows[m->n];
		struct wafa_mail *mail = &m->mails[m->n];
		char why[200];
		row->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		row->attempts = atoi(PQgetvalue(res, i, 6));
		if (wafa_message_render(PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		                        PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), PQgetvalue(res, i, 1),
		                        strtoll(PQgetvalue(res, i, 7), NULL, 10), &row->msg, why,
		                        sizeof(why)) != 0) {
			/* a mail that cannot be rendered never will be: park it */
			mail->status = WAFA_MAIL_PERMFAIL;
			snprintf(mail->reason, sizeof(mail->reason), "cannot render: %s", why);
			record_unsent(m, PQgetvalue(res, i, 1), row->id, row->attempts, mail);
			memset(row, 0, sizeof(*row));
			memset(mail, 0, sizeof(*mail));
			continue;
		}
		row->key = strdup(PQgetvalue(res, i, 1));
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
	if (m->again && !m->sending && !m->stopping) {
		m->again = false;
		claim(m);
	}
	maybe_done(m);
}

static void claim(struct wafa_mailer *m)
{
	char batch[16], lease[16];
	const char *p[] = { batch, lease };

	if (m->stopping)
		return;
	if (m->claiming || m->sending) {
		m->again = true;
		return;
	}
	snprintf(batch, sizeof(batch), "%lld", (long long)m->cfg->batch);
	snprintf(lease, sizeof(lease), "%d", LEASE_S);
	if (wafa_pg_query(m->pg, wafa_outbox_claim_sql, 2, p, on_claimed, m) == 0)
		m->claiming = true;
}
