#include "mail/mailer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <strings.h>

#include "time/clock.h"
#include "mail/contact.h"
#include "base/duration.h"
#include "base/log.h"
#include "mail/message.h"
#include "web/metrics.h"
#include "store/outbox.h"
#include "store/pg.h"
#include "store/schema.h"
#include "mail/template.h"
#include "web/token.h"
#include "web/web.h"

#define LEASE_S 300
#define MAX_SESSIONS 64
/* A batch waits, claimed and rendered, for each session sending: a session
 * that ends its batch takes the next at once (waiting for a claim and its
 * rendering, a session stood idle up to 0.1 s a batch in a burst) */
#define MAX_SLOTS (2 * MAX_SESSIONS)
#define HOLD_MAX_MS 5000 /* the longest a burst's firing holds the claims back */
#define STOP_GRACE_MS 1000 /* a stop waits [mail] timeout and this for the sessions sending */

/* A customer address with mails on their way (claimed, not yet recorded):
 * the contact policy counts them, since the outbox does not yet. */
struct seen {
	char email[320];
	int mails, offers;
};

struct row {
	int64_t id;
	char *key;
	int attempts;
	char *counted; /* the customer address counted in m->seen, or NULL */
	bool offer;
	bool recorded;
	struct wafa_message msg;
};

enum batch_state { B_QUEUED, B_PREP, B_LIVE };

/* One session's mails.  The loop thread owns it, except that the worker
 * writes mails[] until it passes them to settled() or send() returns, and
 * that a batch given up on a stop belongs to its worker, which frees it. */
struct batch {
	struct wafa_mailer *m;
	struct batch *todo_next, *ready_next; /* (under lock) */
	struct batch *news_next;          /* the loop's: on_async's list, taken off ready */
	struct row *rows;
	struct wafa_mail *mails;
	size_t n;
	size_t *settled;           /* indices, in the order the worker settled them */
	size_t nsettled;           /* (under lock) */
	size_t nrecorded;          /* of settled[], by the loop */
	size_t upto;               /* the loop's copy of nsettled */
	enum batch_state state;    /* (under lock) */
	bool done, ready, abandoned; /* (under lock) */
	bool cancelled;            /* (under lock) told to send no further mail */
	int cancel_fd;             /* this session's ctx.cancel_fd, an eventfd */
	bool was_done;             /* the loop's copy of done */
	bool uncommitted;          /* (under lock) a sent mail waits for its record */
	bool pending_commit;       /* (under lock) its id waits in m->sent_ids */
	uint64_t commit_seq;       /* (under lock) the sent UPDATE that records it */
	int slot;
	struct wafa_send_ctx ctx;
	/* the session's own record of each sent mail (see session_record) */
	char *dsn, *sent_sql;      /* copies: the loop may replace its own meanwhile */
	char *schema_q;            /* the quoted schema, for the search_path */
	struct session_db *db;     /* the worker's, while it sends this batch */
	long wpending;             /* (worker) the mail whose record is out on db, or -1 */
	unsigned char *wdone;      /* (under lock) per mail: its session recorded it sent */
};

/* A session thread's own connection, for the record of each mail it sent. */
struct session_db {
	PGconn *conn;
	char *dsn;        /* what conn was made with */
	char *sql;        /* the record's statement prepared on conn (b->sent_sql) */
	bool said;        /* that it cannot connect was logged */
	int64_t retry_at; /* after a failed connect, not again before this */
};

struct wafa_mailer {
	uv_loop_t *loop;
	const struct wafa_config *cfg;
	struct wafa_pg *pg;
	struct wafa_channel_handle channel;
	uv_timer_t timer;
	uv_async_t async;
	int open_handles;
	bool claiming; /* a claim query is out */
	bool again;    /* look again when a session is free */
	bool more;     /* the last claim was full: more may be due */
	size_t claim_limit; /* rows the claim out asked for */
	bool stopping;
	int64_t held_until; /* a burst is being fired: no claim until then (0: none) */
	bool paused; /* on standby: another instance sends (until wafa_mailer_start) */
	char leader_pid[16]; /* the work session holding the leader lock */
	char *schema;
	void (*done)(void *arg);
	void *done_arg;
	char *claim_sql;          /* built for the helpdesk view */
	char *sent_sql;           /* a session's record of one sent mail, schema-qualified */
	int claim_pid;            /* the claim connection's backend at the last claim */
	size_t wrecording;        /* (under lock) sessions' records out */
	unsigned char *link_key;  /* signs the links in customer mail; NULL without [web] */
	size_t link_keylen;
	struct seen *seen;        /* customer addresses in flight */
	size_t nseen, capseen;
	/* the sessions: one worker thread and one slot each */
	size_t nsessions, inflight;
	size_t nslots; /* batches claimed at most: one sending and one waiting a session */
	struct batch *slots[MAX_SLOTS];
	pthread_t threads[MAX_SESSIONS];
	struct batch *running[MAX_SESSIONS]; /* (under lock) what each worker sends */
	size_t nthreads;
	bool leak; /* a worker was left in a connect on stop: m outlives the loop */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t recorded;         /* a sent UPDATE committed */
	uint64_t sent_issued, sent_done; /* sent UPDATEs queued and finished (loop) */
	int64_t *sent_ids;               /* sent, for the next UPDATE (loop) */
	size_t nsent_ids, capsent_ids;
	/* the ids of the sent UPDATE out: should it fail (the connection lost),
	 * they go back to sent_ids, written again ahead of the next claim on
	 * the same connection, so a lease reset never makes them due again */
	int64_t *issued_ids;
	size_t nissued_ids, capissued_ids;
	struct batch *todo, **todo_tail; /* (under lock) */
	struct batch *ready;             /* (under lock) batches with news for the loop */
	bool quit, closed;               /* (under lock) */
};

static void claim(struct wafa_mailer *m);
static void on_async(uv_async_t *a);

static void on_timer(uv_timer_t *t)
{
	claim(t->data);
}

static void free_batch(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->rows[i].key);
		free(b->rows[i].counted);
		wafa_message_free(&b->rows[i].msg);
	}
	free(b->rows);
	free(b->mails);
	free(b->settled);
	free(b->wdone);
	free(b->dsn);
	free(b->sent_sql);
	free(b->schema_q);
	if (b->cancel_fd >= 0)
		close(b->cancel_fd);
	free(b);
}

/* Tells b's session to send no further mail: a connect in progress gives
 * up, a session sending stops before its next mail's last byte (feed and
 * probe poll the fd).  Called with the lock held. */
static void cancel(struct batch *b)
{
	uint64_t one = 1;

	if (b->cancelled)
		return;
	b->cancelled = true;
	if (b->cancel_fd >= 0 && write(b->cancel_fd, &one, sizeof(one)) < 0)
		wafa_log(WAFA_WARN, "mail", "cannot stop a session: %s", strerror(errno));
}

/* ---- the worker threads ---- */

/* Tells the loop about b.  Called with the lock held. */
static void post(struct wafa_mailer *m, struct batch *b)
{
	if (!b->ready) {
		b->ready = true;
		b->ready_next = m->ready;
		m->ready = b;
	}
	if (!m->closed)
		(void)uv_async_send(&m->async);
}

static int ctx_begun(void *arg)
{
	struct batch *b = arg;
	struct wafa_mailer *m = b->m;
	int go;

	pthread_mutex_lock(&m->lock);
	go = !b->abandoned;
	if (go)
		b->state = B_LIVE;
	pthread_mutex_unlock(&m->lock);
	return go;
}

/* ---- a session's own record of its sent mail ----
 *
 * As a 250 comes, the session sends the UPDATE that records that mail as
 * sent on a connection of its own, without waiting; it goes on with the
 * next mail's envelope and waits for the record only before that mail's
 * data (ctx_recorded).  Recorded by the loop, the record crossed four
 * wake-ups (session, loop, PostgreSQL, loop, session) on 2 shared cores and
 * was half of each mail's time (0.4 of 0.8 ms, by strace of a session in a
 * burst); here it is two, overlapped with the envelope.  Should this
 * connection fail, the mail is recorded by the loop as before, and the
 * session waits for that. */

/* as store/pg.c's: synchronous_commit on (a record the session was told
 * committed must survive a crash of the server), options before dbname so a
 * DSN's own options still win */
#define SENT_STMT "wafa_sent"

static const char *const db_keys[] = { "options", "dbname", "fallback_application_name",
	                               "connect_timeout", NULL };

/* The session's connection, made or made again for b's dsn before its
 * session begins; NULL when it cannot be (the loop records then). */
static PGconn *session_conn(struct batch *b)
{
	struct session_db *db = b->db;
	char timeout[16];

	if (!db || !b->dsn || !b->sent_sql || !b->schema_q)
		return NULL;
	if (db->conn && (PQstatus(db->conn) != CONNECTION_OK || strcmp(db->dsn, b->dsn) != 0 ||
	                 strcmp(db->sql, b->sent_sql) != 0)) {
		PQfinish(db->conn);
		db->conn = NULL;
	}
	if (db->conn || wafa_clock_now_ms() < db->retry_at)
		return db->conn;
	free(db->dsn);
	free(db->sql);
	db->dsn = strdup(b->dsn);
	db->sql = strdup(b->sent_sql);
	if (!db->dsn || !db->sql)
		return NULL;
	snprintf(timeout, sizeof(timeout), "%d",
	         b->m->cfg->timeout_ms / 1000 > 2 ? (int)(b->m->cfg->timeout_ms / 1000) : 2);
	const char *values[] = { "-c synchronous_commit=on -c jit=off", b->dsn, "wafa-mail-session",
		                 timeout, NULL };
	const char *p[] = { b->schema_q };
	PGresult *res = NULL;
	bool ok = false;
	db->conn = PQconnectdbParams(db_keys, values, 1);
	if (PQstatus(db->conn) == CONNECTION_OK)
		res = PQexecParams(db->conn, wafa_schema_search_path_sql, 1, NULL, p, NULL, NULL, 0);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
		/* prepared once: planned at each mail, the record's planning took
		 * half as long again as its run (34 and 60 microseconds, by
		 * pg_stat_statements in a burst) */
		PQclear(res);
		res = PQprepare(db->conn, SENT_STMT, b->sent_sql, 1, NULL);
		ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
	}
	if (!ok) {
		if (!db->said)
			wafa_log(WAFA_WARN, "mail", "a mail session cannot reach the database on its own "
			                            "(%s): its sent mails are recorded by the loop",
			         res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
		db->said = true;
		db->retry_at = wafa_clock_now_ms() + 10000;
		PQclear(res);
		PQfinish(db->conn);
		db->conn = NULL;
		return NULL;
	}
	PQclear(res);
	db->said = false;
	return db->conn;
}

static void session_drop_conn(struct batch *b)
{
	if (b->db && b->db->conn) {
		PQfinish(b->db->conn);
		b->db->conn = NULL;
	}
}

static void session_recorded(struct batch *b);

/* Sends the record of mail i, sent; returns 0, or -1 (the loop records it). */
static int session_record(struct batch *b, size_t i)
{
	struct wafa_mailer *m = b->m;
	PGconn *conn;
	char id[32];

	if (b->wpending >= 0)
		session_recorded(b); /* one record out at a time */
	conn = b->db ? b->db->conn : NULL;
	if (!conn)
		return -1; /* none, or it failed during this batch */
	snprintf(id, sizeof(id), "%" PRId64, b->rows[i].id);
	const char *p[] = { id };
	if (!PQsendQueryPrepared(conn, SENT_STMT, 1, p, NULL, NULL, 0)) {
		session_drop_conn(b);
		return -1;
	}
	pthread_mutex_lock(&m->lock);
	m->wrecording++;
	pthread_mutex_unlock(&m->lock);
	b->wpending = (long)i;
	return 0;
}

/* Waits for the record out (the session's [mail] timeout at most) and
 * passes its mail to the loop: recorded, or for the loop to record. */
static void session_recorded(struct batch *b)
{
	struct wafa_mailer *m = b->m;
	PGconn *conn = b->db ? b->db->conn : NULL;
	size_t i;
	bool done = false, failed = false;

	if (b->wpending < 0)
		return;
	i = (size_t)b->wpending;
	b->wpending = -1;
	int64_t end = wafa_clock_now_ms() + m->cfg->timeout_ms;
	while (conn && !failed) {
		if (!PQconsumeInput(conn)) {
			failed = true;
			break;
		}
		if (!PQisBusy(conn)) {
			PGresult *res;
			while ((res = PQgetResult(conn)) != NULL) {
				if (PQresultStatus(res) == PGRES_COMMAND_OK)
					done = true;
				else
					failed = true;
				PQclear(res);
			}
			break;
		}
		/* bounded by [mail] timeout, and cut short by a stop (the cancel fd):
		 * then the loop records it, if it can */
		int64_t left = end - wafa_clock_now_ms();
		struct pollfd pfd[2] = { { .fd = PQsocket(conn), .events = POLLIN },
			                 { .fd = b->cancel_fd, .events = POLLIN } };
		if (left <= 0 || pfd[0].fd < 0 || (poll(pfd, 2, (int)left) < 0 && errno != EINTR) ||
		    (pfd[1].revents & POLLIN))
			failed = true;
	}
	if (!conn || failed || !done) {
		done = false;
		session_drop_conn(b); /* made again for the next mail */
	}
	pthread_mutex_lock(&m->lock);
	m->wrecording--;
	if (!b->abandoned && b->nsettled < b->n) {
		b->wdone[i] = done;
		b->settled[b->nsettled++] = i;
		if (!done)
			b->uncommitted = true; /* the loop records it; ctx_recorded waits */
		post(m, b);
	}
	pthread_mutex_unlock(&m->lock);
}

static void ctx_settled(struct wafa_mail *mail, void *arg)
{
	struct batch *b = arg;
	struct wafa_mailer *m = b->m;

	/* its news goes to the loop once its record is in */
	if (mail->status == WAFA_MAIL_SENT && session_record(b, (size_t)(mail - b->mails)) == 0)
		return;
	pthread_mutex_lock(&m->lock);
	if (!b->abandoned && b->nsettled < b->n) {
		b->settled[b->nsettled++] = (size_t)(mail - b->mails);
		if (mail->status == WAFA_MAIL_SENT)
			b->uncommitted = true; /* ctx_recorded() waits for it */
		post(m, b);
	}
	pthread_mutex_unlock(&m->lock);
}

/* The session's next mail goes only once this one is recorded as sent, so
 * a crash repeats at most one mail per session.  Bounded by [mail] timeout
 * should the database hang; the record still follows when it can. */
static void ctx_recorded(void *arg)
{
	struct batch *b = arg;
	struct wafa_mailer *m = b->m;
	struct timespec until;
	int rc = 0;

	session_recorded(b);
	pthread_mutex_lock(&m->lock);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += m->cfg->timeout_ms / 1000 + 1;
	while (b->uncommitted && !b->abandoned && !b->cancelled && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&m->recorded, &m->lock, &until);
	/* not recorded (the database is away): the session sends nothing more,
	 * so an outage and a stop repeat at most this one mail */
	if (b->uncommitted && !b->abandoned && !b->cancelled) {
		wafa_log(WAFA_WARN, "mail", "a sent mail is not recorded yet: its session stops; the "
		                            "rest of its batch stays queued");
		cancel(b);
	}
	pthread_mutex_unlock(&m->lock);
}

static void *worker(void *arg)
{
	struct wafa_mailer *m = arg;
	struct session_db db = { 0 };
	size_t me;

	pthread_mutex_lock(&m->lock);
	for (me = 0; me < m->nthreads && !pthread_equal(m->threads[me], pthread_self()); me++)
		;
	for (;;) {
		while (!m->todo && !m->quit)
			pthread_cond_wait(&m->wake, &m->lock);
		struct batch *b = m->todo;
		if (!b)
			break;
		m->todo = b->todo_next;
		if (!m->todo)
			m->todo_tail = &m->todo;
		b->state = B_PREP;
		if (me < MAX_SESSIONS)
			m->running[me] = b;
		b->db = &db;
		pthread_mutex_unlock(&m->lock);
		(void)session_conn(b);
		m->channel.channel->send(m->channel.state, b->mails, b->n, &b->ctx);
		session_recorded(b); /* the last mail's */
		pthread_mutex_lock(&m->lock);
		if (me < MAX_SESSIONS)
			m->running[me] = NULL;
		pthread_cond_broadcast(&m->recorded); /* maybe_done() may wait for it */
		if (b->abandoned) {
			free_batch(b); /* the loop gave it up: it is ours */
		} else {
			b->done = true;
			post(m, b);
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (db.conn)
		PQfinish(db.conn);
	free(db.dsn);
	free(db.sql);
	return NULL;
}

/* ---- open, start, stop ---- */

static void on_closed(uv_handle_t *h)
{
	struct wafa_mailer *m = h->data;

	if (--m->open_handles > 0)
		return;
	m->done(m->done_arg);
	if (m->leak)
		return; /* a worker may still wake in a connect and look at m */
	wafa_channel_close(&m->channel);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->wake);
	pthread_cond_destroy(&m->recorded);
	free(m->claim_sql);
	free(m->sent_sql);
	free(m->schema);
	free(m->link_key);
	free(m->seen);
	free(m->sent_ids);
	free(m->issued_ids);
	free(m);
}

static void maybe_done(struct wafa_mailer *m)
{
	if (!m->stopping || m->inflight > 0 || m->claiming || m->open_handles != 2 || m->closed ||
	    m->sent_done != m->sent_issued || m->nsent_ids > 0)
		return;
	pthread_mutex_lock(&m->lock);
	m->quit = true;
	m->closed = true; /* no uv_async_send from here on */
	pthread_cond_broadcast(&m->wake);
	/* a session given up on the stop returns at once when its probe sees
	 * the cancel fd; one in libESMTP's connect(), or waiting for the relay
	 * to greet or answer, does not, and is left behind after half a second
	 * (it sends no mail: begun() says no) */
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += 500 * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	for (;;) {
		bool busy = false;
		for (size_t i = 0; i < m->nthreads; i++)
			busy = busy || m->running[i];
		if (!busy || pthread_cond_timedwait(&m->recorded, &m->lock, &until) == ETIMEDOUT)
			break;
	}
	bool stuck[MAX_SESSIONS] = { false };
	for (size_t i = 0; i < m->nthreads; i++)
		if (m->running[i]) {
			stuck[i] = true;
			m->leak = true;
		}
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < m->nthreads; i++) {
		if (stuck[i])
			(void)pthread_detach(m->threads[i]);
		else
			(void)pthread_join(m->threads[i], NULL);
	}
	if (m->leak)
		wafa_log(WAFA_WARN, "mail", "a session given up still waits for the relay; its mails "
		                            "not recorded as sent stay queued");
	uv_close((uv_handle_t *)&m->timer, on_closed);
	uv_close((uv_handle_t *)&m->async, on_closed);
}

int wafa_mailer_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                     struct wafa_channel_handle channel, struct wafa_mailer **out)
{
	struct wafa_mailer *m = calloc(1, sizeof(*m));
	int err = 0;

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
		err = wafa_token_key_load(cfg->web_key_file, &m->link_key, &m->link_keylen);
		if (err)
			wafa_log(WAFA_ERROR, "mail", "[web] key_file %s: %s: customer mail with links "
			                             "will fail until it is readable (32 bytes or more)",
			         cfg->web_key_file, wafa_strerror(err));
	}
	m->channel = channel;
	m->nsessions = (channel.channel->flags & WAFA_CHANNEL_PARALLEL) ? (size_t)cfg->sessions : 1;
	if (m->nsessions < 1)
		m->nsessions = 1;
	if (m->nsessions > MAX_SESSIONS)
		m->nsessions = MAX_SESSIONS;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->wake, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->recorded, &ca);
	pthread_condattr_destroy(&ca);
	m->todo_tail = &m->todo;
	/* mail has its own threads: libESMTP blocks for a whole session and
	 * must not take libuv's pool from file and DNS work */
	pthread_mutex_lock(&m->lock); /* workers look themselves up in threads[] */
	for (size_t i = 0; i < m->nsessions; i++) {
		if (pthread_create(&m->threads[i], NULL, worker, m) != 0)
			break;
		m->nthreads++;
	}
	pthread_mutex_unlock(&m->lock);
	if (m->nthreads == 0) {
		pthread_mutex_destroy(&m->lock);
		pthread_cond_destroy(&m->wake);
	pthread_cond_destroy(&m->recorded);
		free(m->claim_sql);
		free(m->link_key);
		free(m);
		return -EAGAIN;
	}
	m->nsessions = m->nthreads;
	m->nslots = 2 * m->nsessions;
	uv_timer_init(loop, &m->timer);
	uv_async_init(loop, &m->async, on_async);
	m->open_handles = 2;
	m->timer.data = m;
	m->async.data = m;
	m->paused = true; /* until wafa_mailer_start: the leader sends */
	wafa_message_init();
	wafa_log(WAFA_INFO, "mail", "%zu session%s", m->nsessions, m->nsessions == 1 ? "" : "s");
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

char *wafa_mailer_held(const struct wafa_mailer *m)
{
	char *ids = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&ids, &len);

	if (!f)
		return NULL;
	fputc('{', f);
	for (size_t s = 0; s < MAX_SLOTS; s++)
		for (size_t i = 0; m->slots[s] && i < m->slots[s]->n; i++)
			fprintf(f, "%s%" PRId64, n++ ? "," : "", m->slots[s]->rows[i].id);
	fputc('}', f);
	if (fclose(f) != 0) {
		free(ids);
		return NULL;
	}
	return ids;
}

void wafa_mailer_kick(struct wafa_mailer *m)
{
	claim(m);
}

void wafa_mailer_hold(struct wafa_mailer *m, bool hold)
{
	if (hold == (m->held_until != 0))
		return;
	m->held_until = hold ? wafa_clock_now_ms() + HOLD_MAX_MS : 0;
	if (!hold && m->again) {
		m->again = false;
		claim(m);
	}
}

/* ---- recording ---- */

static struct seen *seen_get(struct wafa_mailer *m, const char *email, bool add)
{
	for (size_t k = 0; k < m->nseen; k++)
		if (strcasecmp(m->seen[k].email, email) == 0)
			return &m->seen[k];
	if (!add)
		return NULL;
	if (m->nseen == m->capseen) {
		size_t cap = m->capseen ? m->capseen * 2 : 64;
		struct seen *n = realloc(m->seen, cap * sizeof(*n));
		if (!n)
			return NULL;
		m->seen = n;
		m->capseen = cap;
	}
	memset(&m->seen[m->nseen], 0, sizeof(m->seen[0]));
	snprintf(m->seen[m->nseen].email, sizeof(m->seen[0].email), "%s", email);
	return &m->seen[m->nseen++];
}

/* The row's mail is recorded (sent or not): the outbox counts it now. */
static void uncount(struct wafa_mailer *m, struct row *row)
{
	struct seen *s = row->counted ? seen_get(m, row->counted, false) : NULL;

	if (s) {
		s->mails--;
		s->offers -= row->offer;
		if (s->mails <= 0) /* swap-remove */
			*s = m->seen[--m->nseen];
	}
	free(row->counted);
	row->counted = NULL;
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

/* Records a mail that was not sent: parked as failed, or due again later
 * (at once when it was never tried: retry_now). */
static void record_unsent(struct wafa_mailer *m, const char *key, int64_t id_num, int attempts,
                          const struct wafa_mail *mail, bool retry_now)
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
		int64_t d = retry_now ? 0 : backoff_ms(m, attempts);
		const char *p[] = { id, delay, why };
		snprintf(delay, sizeof(delay), "%" PRId64, d);
		char in[32];
		wafa_log(WAFA_WARN, "mail", "deferred %s: %s (retry in %s)", key, why,
		         wafa_duration_format(d, in, sizeof(in)));
		if (!retry_now)
			wafa_metrics_mails(WAFA_METRIC_RETRIED, 1);
		err = wafa_pg_query(m->pg, wafa_outbox_retry_sql, 3, p, on_update, NULL);
	}
	if (err)
		on_update(NULL, NULL);
}

/* Adds a sent mail's id to the next sent UPDATE.  Returns 0 or -ENOMEM. */
static int keep_sent(struct wafa_mailer *m, int64_t id)
{
	if (m->nsent_ids == m->capsent_ids) {
		size_t cap = m->capsent_ids ? m->capsent_ids * 2 : 256;
		int64_t *n = realloc(m->sent_ids, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		m->sent_ids = n;
		m->capsent_ids = cap;
	}
	m->sent_ids[m->nsent_ids++] = id;
	return 0;
}

/* Adds row i of b to the sent ids in f, or records why it was not sent. */
static void record_row(struct wafa_mailer *m, struct batch *b, size_t i)
{
	struct row *row = &b->rows[i];
	struct wafa_mail *mail = &b->mails[i];

	if (row->recorded)
		return;
	row->recorded = true;
	uncount(m, row);
	if (mail->status != WAFA_MAIL_SENT) {
		/* a batch cut short by a stop or a fence leaves the rest
		 * PENDING: due at once */
		record_unsent(m, row->key, row->id, row->attempts, mail,
		              (m->stopping || b->cancelled) && mail->status == WAFA_MAIL_PENDING);
		return;
	}
	if (b->wdone[i]) {
		/* recorded by its session */
	} else if (keep_sent(m, row->id) != 0) {
		wafa_log(WAFA_ERROR, "mail", "out of memory recording %s as sent (its lease "
		                             "expires and it may go again)", row->key);
		return;
	}
	wafa_log(WAFA_INFO, "mail", "sent %s to %s", row->key, mail->rcpt[0]);
	wafa_metrics_mails(WAFA_METRIC_SENT, 1);
}

/* Frees a batch the loop is done with and gives its session back. */
static void retire(struct wafa_mailer *m, struct batch *b, bool free_it)
{
	m->slots[b->slot] = NULL;
	m->inflight--;
	if (free_it)
		free_batch(b);
}

static void on_sent(PGresult *res, void *arg);

/* Writes the sent mails gathered so far in one UPDATE; the sessions whose
 * mail is among them wait for it (ctx_settled).  One at a time: what comes
 * in meanwhile goes in the next, so the records keep up with any number of
 * sessions. */
static void flush_sent(struct wafa_mailer *m)
{
	char *ids = NULL;
	size_t len = 0;
	uint64_t seq = 0;
	FILE *f;

	if (m->nsent_ids == 0 || m->sent_issued != m->sent_done)
		return;
	f = open_memstream(&ids, &len);
	if (f) {
		fputc('{', f);
		for (size_t i = 0; i < m->nsent_ids; i++)
			fprintf(f, "%s%" PRId64, i ? "," : "", m->sent_ids[i]);
		fputc('}', f);
		fclose(f);
	}
	const char *p[] = { ids };
	if (f && wafa_pg_query(m->pg, wafa_outbox_sent_sql, 1, p, on_sent, m) == 0) {
		/* sent_ids becomes the UPDATE's, kept until it is done */
		int64_t *swap = m->issued_ids;
		size_t cap = m->capissued_ids;
		seq = ++m->sent_issued;
		m->issued_ids = m->sent_ids;
		m->capissued_ids = m->capsent_ids;
		m->nissued_ids = m->nsent_ids;
		m->sent_ids = swap;
		m->capsent_ids = cap;
		m->nsent_ids = 0;
	} else if (m->stopping) {
		/* nothing more is claimed, and a stop must not wait for the database */
		on_update(NULL, NULL);
		m->nsent_ids = 0;
	} else {
		/* kept in sent_ids: written before the next claim */
		wafa_log(WAFA_WARN, "mail", "cannot record %zu sent mail(s) now; recorded before the "
		                            "next claim",
		         m->nsent_ids);
	}
	free(ids);
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nslots; i++) {
		struct batch *b = m->slots[i];
		if (!b || !b->pending_commit)
			continue;
		if (seq) {
			b->pending_commit = false;
			b->commit_seq = seq;
		} else {
			/* not recorded now: its session sends no further mail (its
			 * record stays in sent_ids, written when it can be) */
			cancel(b);
		}
	}
	pthread_cond_broadcast(&m->recorded);
	pthread_mutex_unlock(&m->lock);
}

/* A sent UPDATE finished: the sessions waiting for it go on, and what was
 * sent meanwhile is written. */
static void on_sent(PGresult *res, void *arg)
{
	struct wafa_mailer *m = arg;

	if ((!res || PQresultStatus(res) != PGRES_COMMAND_OK) && m->stopping) {
		on_update(res, NULL);
	} else if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		/* back in line: written again before the next claim */
		wafa_log(WAFA_WARN, "mail", "recording %zu sent mail(s) failed: %s (recorded again "
		                            "before the next claim)",
		         m->nissued_ids, wafa_pg_result_error(res));
		for (size_t i = 0; i < m->nissued_ids; i++)
			if (keep_sent(m, m->issued_ids[i]) != 0)
				break;
	}
	bool failed = !res || PQresultStatus(res) != PGRES_COMMAND_OK;
	m->nissued_ids = 0;
	pthread_mutex_lock(&m->lock);
	m->sent_done++;
	for (size_t i = 0; i < m->nslots; i++) {
		struct batch *b = m->slots[i];
		if (b && b->commit_seq && b->commit_seq <= m->sent_done) {
			/* failed: its mail waits for the next UPDATE, which
			 * flush_sent() below queues, or its session stops */
			b->uncommitted = failed;
			b->pending_commit = failed && !m->stopping;
			b->commit_seq = 0;
			if (failed && m->stopping)
				cancel(b); /* its record is dropped: nothing more goes */
		}
	}
	pthread_cond_broadcast(&m->recorded);
	pthread_mutex_unlock(&m->lock);
	flush_sent(m);
	/* a claim put off for this record goes now, not at the next tick */
	if (m->again && !m->stopping && !m->claiming && m->inflight < m->nslots) {
		m->again = false;
		claim(m);
	}
	maybe_done(m);
}

/* Records what the workers reported: the mails settled so far, and
 * everything of a batch whose send() ended. */
static void on_async(uv_async_t *a)
{
	struct wafa_mailer *m = a->data;
	struct batch *list, *b, *next;
	bool freed = false;

	pthread_mutex_lock(&m->lock);
	list = m->ready;
	m->ready = NULL;
	for (b = list; b; b = b->ready_next) {
		/* the list is walked again below without the lock, while the
		 * workers post: ready_next is theirs again as soon as ready is
		 * false (a batch whose session ends posts once more and links
		 * itself into m->ready through it, which cut the rest of this
		 * list off: a batch whose last post was lost kept its session
		 * slot and its last mail unrecorded, and a stop then waited
		 * for it forever; seen in 2 of 10 bursts of 100k mails) */
		b->news_next = b->ready_next;
		b->ready = false;
		b->upto = b->nsettled;
		b->was_done = b->done;
		/* the mail this session waits for is among those recorded now */
		if (b->uncommitted && !b->commit_seq && !b->done)
			b->pending_commit = true;
	}
	pthread_mutex_unlock(&m->lock);
	for (b = list; b; b = next) {
		next = b->news_next;
		for (; b->nrecorded < b->upto; b->nrecorded++)
			record_row(m, b, b->settled[b->nrecorded]);
		if (b->was_done) {
			for (size_t i = 0; i < b->n; i++)
				record_row(m, b, i);
			retire(m, b, true);
			freed = true;
		}
	}
	flush_sent(m);
	if (freed && !m->stopping && (m->more || m->again)) {
		m->again = false;
		claim(m);
	}
	maybe_done(m);
}

/* Gives up every batch of a session: those no session has begun to send
 * (waiting in the queue, or connecting) are recorded as not sent, due at
 * once; a session sending stops before its next mail, and its batch is
 * recorded when it returns. */
static void give_up(struct wafa_mailer *m, const char *why)
{
	/* under the lock: a worker frees an abandoned batch as soon as its
	 * send() returns, and may still be writing its mails[] (never read
	 * here: nothing of such a batch was sent, whatever its status says) */
	pthread_mutex_lock(&m->lock);
	m->todo = NULL;
	m->todo_tail = &m->todo;
	for (size_t i = 0; i < m->nslots; i++) {
		struct batch *b = m->slots[i];
		if (!b || b->done)
			continue;
		cancel(b); /* wakes a session waiting for a connect (probe()) */
		if (b->state == B_LIVE)
			continue;
		b->abandoned = b->state == B_PREP; /* then its worker frees it */
		for (size_t k = 0; k < b->n; k++) {
			struct row *row = &b->rows[k];
			struct wafa_mail mail = { .status = WAFA_MAIL_TEMPFAIL };
			snprintf(mail.reason, sizeof(mail.reason), "not sent: %s", why);
			row->recorded = true;
			uncount(m, row);
			record_unsent(m, row->key, row->id, row->attempts, &mail, true);
		}
		retire(m, b, !b->abandoned);
	}
	pthread_cond_broadcast(&m->recorded);
	pthread_mutex_unlock(&m->lock);
}

/* The stop's bound ran out: the sessions still sending are given up like
 * those that had not begun.  What they reported is recorded first; the
 * rest of each batch is recorded as not sent, due at once.  The mail whose
 * data was at the relay may have been taken: it goes again after the
 * restart (one per session at most, as after a kill).  Their workers free
 * the batches when the relay lets them go, or die with the process.  A
 * batch whose session ended but whose news the loop never saw (it should
 * not happen; it did, see on_async) is recorded as it stands. */
static void give_up_live(struct wafa_mailer *m)
{
	size_t n = 0, ended = 0;

	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nslots; i++) {
		struct batch *b = m->slots[i];
		if (!b)
			continue;
		for (struct batch **p = &m->ready; *p;) {
			if (*p == b) {
				*p = b->ready_next;
				b->ready = false;
			} else {
				p = &(*p)->ready_next;
			}
		}
		/* news not yet seen by on_async: the mails settled so far */
		for (; b->nrecorded < b->nsettled; b->nrecorded++)
			record_row(m, b, b->settled[b->nrecorded]);
		if (b->done) { /* its worker is done with it: every status is final */
			for (size_t k = 0; k < b->n; k++)
				record_row(m, b, k);
			retire(m, b, true);
			ended++;
			continue;
		}
		cancel(b);
		b->abandoned = true; /* its worker frees it; it posts no more */
		for (size_t k = 0; k < b->n; k++) {
			struct row *row = &b->rows[k];
			struct wafa_mail mail = { .status = WAFA_MAIL_TEMPFAIL };
			if (row->recorded)
				continue;
			snprintf(mail.reason, sizeof(mail.reason), "not sent: wafa stopped while the "
			                                           "relay was still answering");
			row->recorded = true;
			uncount(m, row);
			record_unsent(m, row->key, row->id, row->attempts, &mail, true);
		}
		retire(m, b, false);
		n++;
	}
	pthread_cond_broadcast(&m->recorded);
	pthread_mutex_unlock(&m->lock);
	if (n > 0)
		wafa_log(WAFA_WARN, "mail", "%zu session(s) still waited for the relay %" PRId64 " ms "
		                            "after the stop: given up, their unsent mails stay queued "
		                            "(a mail the relay was answering may go again)",
		         n, m->cfg->timeout_ms + STOP_GRACE_MS);
	if (ended > 0)
		wafa_log(WAFA_ERROR, "mail", "%zu batch(es) had ended unseen by the mailer (a bug): "
		                             "recorded on the stop", ended);
}

static void on_stop_late(uv_timer_t *t)
{
	struct wafa_mailer *m = t->data;

	on_async(&m->async); /* what the sessions said meanwhile is recorded first */
	if (m->closed)
		return;
	give_up_live(m);
	flush_sent(m);
	maybe_done(m);
}

void wafa_mailer_set_leader(struct wafa_mailer *m, int work_pid, const char *schema)
{
	snprintf(m->leader_pid, sizeof(m->leader_pid), "%d", work_pid);
	free(m->schema);
	m->schema = strdup(schema);
	char *q = wafa_pg_quote_ident(schema);
	free(m->sent_sql);
	m->sent_sql = NULL;
	if (!q || asprintf(&m->sent_sql, "UPDATE %s.outbox %s", q, wafa_outbox_sent_one_sql) < 0)
		m->sent_sql = NULL; /* the loop records sent mail */
	free(q);
}

void wafa_mailer_fence(struct wafa_mailer *m)
{
	wafa_mailer_pause(m);
	m->leader_pid[0] = '\0';
	if (m->inflight > 0)
		wafa_log(WAFA_WARN, "mail", "not sure this instance leads: its %zu batch(es) are "
		                            "given up (sessions stop before their next mail)",
		         m->inflight);
	give_up(m, "this instance lost the lead before the relay answered");
	flush_sent(m);
}

/* Stops claiming; gives up the batches that no session has begun to send
 * (waiting in the queue, or connecting): their mails stay queued, due at
 * once.  Sessions sending stop before their next mail, and are recorded. */
void wafa_mailer_stop(struct wafa_mailer *m, void (*done)(void *arg), void *arg)
{
	m->stopping = true;
	m->done = done;
	m->done_arg = arg;
	uv_timer_stop(&m->timer);
	give_up(m, "wafa stopped before the relay answered");
	/* sent mails kept for a claim that will not come: written now, or
	 * dropped if they cannot be (maybe_done waits for them) */
	flush_sent(m);
	/* A session sending waits for the reply to the mail at the relay,
	 * which [mail] timeout bounds only per byte read: a stop waits for it
	 * that long, and a little more, then gives the session up. */
	if (m->inflight > 0)
		uv_timer_start(&m->timer, on_stop_late, (uint64_t)(m->cfg->timeout_ms + STOP_GRACE_MS), 0);
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

/* Applies the contact policy to a claimed mail to a customer.  Returns true
 * when it may go now; otherwise it has been held or skipped (recorded). */
static bool allowed(struct wafa_mailer *m, PGresult *res, int i, struct row *row)
{
	struct wafa_contact_facts f;
	const char *rcpt = PQgetvalue(res, i, WAFA_OB_RCPT), *key = PQgetvalue(res, i, WAFA_OB_KEY);
	bool offer = strcmp(PQgetvalue(res, i, WAFA_OB_KIND), "offer") == 0;
	char addr[320];
	wafa_outbox_address(rcpt, addr, sizeof(addr));
	struct seen *s = seen_get(m, addr, false); /* mails to addr now in flight */
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
		if (!s)
			s = seen_get(m, addr, true); /* NULL only without memory */
		if (s) {
			s->mails++;
			s->offers += offer;
			row->counted = strdup(addr);
			row->offer = offer;
			if (!row->counted) { /* counted until the mail is recorded, or not at all */
				s->mails--;
				s->offers -= offer;
			}
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
	/* a mailed report (digest.c): its HTML, with the charts as related parts */
	json_t *vars = NULL;
	if (strcmp(PQgetvalue(res, i, WAFA_OB_KIND), "report") == 0 &&
	    !PQgetisnull(res, i, WAFA_OB_VARS) &&
	    (vars = json_loads(PQgetvalue(res, i, WAFA_OB_VARS), 0, NULL))) {
		in.html = json_string_value(json_object_get(vars, "html"));
		in.related = 1;
		in.lang = PQgetisnull(res, i, WAFA_OB_LOCALE) ? NULL
		                                              : PQgetvalue(res, i, WAFA_OB_LOCALE);
	}
	err = wafa_message_build(&in, &row->msg, why, whylen);
	json_decref(vars);
out:
	wafa_rendered_free(&r);
	free(unsub);
	return err;
}

/* Hands n rendered rows to k sessions, in order, as even as may be. */
static void dispatch(struct wafa_mailer *m, struct row *rows, size_t n)
{
	size_t free_slots = m->nslots - m->inflight, per = m->cfg->batch > 0 ? (size_t)m->cfg->batch : 1;
	size_t k = (n + per - 1) / per, from = 0;

	if (k > free_slots)
		k = free_slots;

	for (size_t j = 0; j < k; j++) {
		size_t take = (n - from) / (k - j) + ((n - from) % (k - j) ? 1 : 0);
		struct batch *b = calloc(1, sizeof(*b));
		int slot = 0;
		if (b) {
			b->rows = calloc(take, sizeof(*b->rows));
			b->mails = calloc(take, sizeof(*b->mails));
			b->settled = calloc(take, sizeof(*b->settled));
			b->wdone = calloc(take, 1);
			b->wpending = -1;
			/* no copy (out of memory): the loop records this batch's mails */
			b->dsn = m->sent_sql ? strdup(m->cfg->dsn) : NULL;
			b->sent_sql = m->sent_sql ? strdup(m->sent_sql) : NULL;
			b->schema_q = m->sent_sql ? wafa_pg_quote_ident(m->schema) : NULL;
			b->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		}
		if (!b || !b->rows || !b->mails || !b->settled || !b->wdone || b->cancel_fd < 0) {
			if (b) {
				free(b->rows);
				free(b->mails);
				free(b->settled);
				free(b->wdone);
				free(b->dsn);
				free(b->sent_sql);
				free(b->schema_q);
				if (b->cancel_fd >= 0)
					close(b->cancel_fd);
				free(b);
			}
			/* not sent, not recorded: the lease runs out and they come back */
			wafa_log(WAFA_ERROR, "mail", "out of memory: %zu mails wait for their lease "
			                             "to run out", n - from);
			for (; from < n; from++) {
				uncount(m, &rows[from]);
				free(rows[from].key);
				wafa_message_free(&rows[from].msg);
			}
			return;
		}
		memcpy(b->rows, rows + from, take * sizeof(*rows));
		from += take;
		b->n = take;
		b->m = m;
		for (size_t i = 0; i < take; i++) {
			struct wafa_mail *mail = &b->mails[i];
			const struct row *row = &b->rows[i];
			mail->key = row->key;
			mail->env_from = row->msg.env_from;
			mail->rcpt = (const char *const *)row->msg.rcpt;
			mail->nrcpt = row->msg.nrcpt;
			mail->data = row->msg.data;
			mail->len = row->msg.len;
		}
		b->ctx.begun = ctx_begun;
		b->ctx.settled = ctx_settled;
		b->ctx.recorded = ctx_recorded;
		b->ctx.arg = b;
		b->ctx.cancel_fd = b->cancel_fd;
		while (m->slots[slot])
			slot++;
		b->slot = slot;
		m->slots[slot] = b;
		m->inflight++;
		pthread_mutex_lock(&m->lock);
		b->state = B_QUEUED;
		*m->todo_tail = b;
		m->todo_tail = &b->todo_next;
		pthread_cond_signal(&m->wake);
		pthread_mutex_unlock(&m->lock);
	}
}

static void on_claimed(PGresult *res, void *arg)
{
	struct wafa_mailer *m = arg;
	struct row *rows = NULL;
	size_t good = 0;
	int n;

	m->claiming = false;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "mail", "claiming outbox rows failed: %s", wafa_pg_result_error(res));
		goto out;
	}
	n = PQntuples(res);
	m->more = (size_t)n >= m->claim_limit;
	if (n == 0)
		goto out;
	rows = calloc((size_t)n, sizeof(*rows));
	if (!rows)
		goto out; /* the lease runs out and they come back */
	for (int i = 0; i < n; i++) {
		struct row *row = &rows[good];
		struct wafa_mail mail = { 0 };
		char why[200];
		memset(row, 0, sizeof(*row));
		row->id = strtoll(PQgetvalue(res, i, WAFA_OB_ID), NULL, 10);
		row->attempts = atoi(PQgetvalue(res, i, WAFA_OB_ATTEMPTS));
		if (strcmp(PQgetvalue(res, i, WAFA_OB_AUDIENCE), "customer") == 0 &&
		    !allowed(m, res, i, row))
			continue;
		int err = render(m, res, i, row, why, sizeof(why));
		if (err) {
			/* a mail that cannot be rendered never will be: park it; one
			 * waiting for the link key stays queued */
			mail.status = err == -EAGAIN ? WAFA_MAIL_TEMPFAIL : WAFA_MAIL_PERMFAIL;
			snprintf(mail.reason, sizeof(mail.reason), "cannot render: %s", why);
			record_unsent(m, PQgetvalue(res, i, WAFA_OB_KEY), row->id, row->attempts, &mail,
			              false);
			uncount(m, row);
			wafa_message_free(&row->msg);
			continue;
		}
		row->key = strdup(PQgetvalue(res, i, WAFA_OB_KEY));
		good++;
	}
	if (good > 0 && !m->stopping) {
		dispatch(m, rows, good);
	} else {
		/* stopping: the claim came back too late; due again at once */
		for (size_t i = 0; i < good; i++) {
			struct wafa_mail mail = { .status = WAFA_MAIL_TEMPFAIL };
			snprintf(mail.reason, sizeof(mail.reason), "not sent: wafa stopped");
			record_unsent(m, rows[i].key, rows[i].id, rows[i].attempts, &mail, true);
			uncount(m, &rows[i]);
			free(rows[i].key);
			wafa_message_free(&rows[i].msg);
		}
	}
out:
	free(rows);
	if ((m->again || m->more) && !m->stopping && m->inflight < m->nslots) {
		m->again = false;
		claim(m);
	}
	maybe_done(m);
}

static void claim(struct wafa_mailer *m)
{
	char batch[24], lease[32], mails_ms[32], offers_ms[32];
	size_t free_slots;

	if (m->stopping || m->paused || !m->leader_pid[0] || !m->schema)
		return;
	free_slots = m->nslots - m->inflight;
	if (m->claiming || free_slots == 0 ||
	    (m->held_until && wafa_clock_now_ms() < m->held_until)) {
		m->again = true;
		return;
	}
	if (m->nsent_ids > 0) {
		/* first what was sent and is not yet recorded: its UPDATE goes
		 * ahead of the claim on this connection */
		flush_sent(m);
		if (m->nsent_ids > 0) {
			/* not connected, or one is out: on_sent claims once it is in */
			m->again = true;
			return;
		}
	}
	/* A session's record out may not be committed when the claim reads
	 * the outbox.  That is safe while the claim connection is the session
	 * that claimed those mails (its rows are not free to claim); a new one
	 * (the claim connection was lost meanwhile) waits for the records. */
	if (m->claim_pid && wafa_pg_backend_pid(m->pg) != m->claim_pid) {
		pthread_mutex_lock(&m->lock);
		bool recording = m->wrecording > 0;
		pthread_mutex_unlock(&m->lock);
		if (recording) {
			m->again = true;
			return;
		}
	}
	if (!m->link_key && m->cfg->web_key_file[0] &&
	    wafa_token_key_load(m->cfg->web_key_file, &m->link_key, &m->link_keylen) == 0)
		wafa_log(WAFA_INFO, "mail", "[web] key_file %s read", m->cfg->web_key_file);
	/* a batch for each free slot, as many as there are sessions at once;
	 * dispatch() shares them out */
	m->claim_limit = (size_t)m->cfg->batch * (free_slots < m->nsessions ? free_slots : m->nsessions);
	snprintf(batch, sizeof(batch), "%zu", m->claim_limit);
	/* long enough for two whole batches at a slow server (the one a
	 * session sends, then this one), each after a connect of up to [mail]
	 * timeout: another instance must not take these rows while this one
	 * is still sending them */
	snprintf(lease, sizeof(lease), "%lld",
	         (long long)(LEASE_S + 2 * (m->cfg->batch * 2 + 1) * (m->cfg->timeout_ms / 1000)));
	snprintf(mails_ms, sizeof(mails_ms), "%" PRId64, m->cfg->customer_mails.per_ms);
	snprintf(offers_ms, sizeof(offers_ms), "%" PRId64, m->cfg->offers.per_ms);
	char *held = wafa_mailer_held(m);
	if (!held)
		return; /* out of memory: the next tick tries again */
	const char *p[] = { batch, lease, mails_ms, offers_ms, held, m->leader_pid, m->schema };
	if (wafa_pg_query(m->pg, m->claim_sql, 7, p, on_claimed, m) == 0) {
		m->claiming = true;
		m->claim_pid = wafa_pg_backend_pid(m->pg);
	}
	free(held);
}
