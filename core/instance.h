/* One running instance of `wafa run`: the state its parts share.  The
 * daemon (core/daemon.c) wires them and runs the instance's lifecycle:
 * connections, leadership, reload, shutdown; the mirror
 * (core/sync/mirror.c) keeps the ticket index in step with the helpdesk:
 * snapshot, NOTIFY, reconciliation, catch-up, the journal and the status
 * history; firing (core/fire/firing.c) fires due deadlines through the
 * rules into the outbox.  Not a public interface: wafa__ names. */
#ifndef WAFA_INSTANCE_H
#define WAFA_INSTANCE_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <uv.h>

#include "sync/adapter.h"
#include "time/clock.h"
#include "sync/customer.h"
#include "time/deadline.h"
#include "time/heap.h"
#include "sync/index.h"
#include "store/journal.h"
#include "fire/digest.h"
#include "base/duration.h"
#include "base/log.h"
#include "mail/mailer.h"
#include "http/dispatch.h"
#include "web/metrics.h"
#include "store/outbox.h"
#include "store/pg.h"
#include "lua/rules.h"
#include "lua/sandbox.h"
#include "store/schema.h"
#include "fire/offer.h"
#include "base/watchdog.h"
#include "web/web.h"

/* a firing stopped by the rules' budget: tried again after 1, 2, 4 s */
#define OVERRUN_RETRY_MS 1000
#define OVERRUN_TRIES 3
#define RECONCILE_OVERLAP_MS 60000
/* on a reload, deadlines due within this are read again ahead of the rest */
#define RELOAD_SOON_MS 120000
#define JOURNAL_FLUSH_MS 200
#define JOURNAL_BATCH 1000
#define BURST_YIELD_MS 5000 /* while firings run, the catch-up writes a batch this often */
#define FIRE_QUIET_MS 1000  /* firings have stopped once none was in flight this long */
/* survey answers (core/fire/answer.c): looked for this often, and acted on
 * only within this age */
#define ANSWER_POLL_MS 2000
#define ANSWER_MAX_AGE_MS (7LL * 24 * 3600 * 1000)

/* A status change from wafa.status_log, held until its ticket is indexed. */
struct loaded_change {
	int64_t ticket_id;
	struct wafa_status_change c;
};

struct wafa_instance {
	uv_loop_t *loop;
	struct wafa_config *cfg;
	struct wafa_sandbox *sb;
	struct wafa_rules *rules;
	struct wafa_index index;
	struct wafa_heap heap;
	struct wafa_adapter adapter;
	struct wafa_pg *work;   /* queries */
	struct wafa_pg *listen; /* LISTEN only: a busy connection hears late */
	/* the journal, and half of a snapshot's pages: neither a firing on the
	 * work connection nor a notification waits behind them */
	struct wafa_pg *jconn;
	/* the mailer's: a 250 is recorded as it comes, not behind a snapshot or
	 * a journal batch (a kill -9 in between sends it again) */
	struct wafa_pg *mail;
	struct wafa_mailer *mailer;
	/* webhooks and ticket actions (channel <> 'mail'), on the mail session */
	struct wafa_dispatch *dispatch;
	struct wafa_web *web; /* the customers' clicks; NULL without [web] listen */
	struct wafa_watchdog *watchdog; /* systemd's pings; NULL when not asked */
	struct wafa_offers *offers;
	/* each ticket's customer address and openness, for the mailer's claim
	 * (customer.h): collected here, written on the journal's connection */
	struct wafa_customer_batch customers;
	char **customer_params; /* the batch out, or waiting to go again */
	bool customers_busy;
	/* the first snapshot's facts, brought up to date a range of ids at a
	 * time (sync_customers): the next range's first id, the snapshot's
	 * lowest and highest */
	int64_t facts_next, facts_first, facts_last;
	uint64_t facts_rows;
	int customer_tries;
	struct wafa_digest *digest; /* the mailed reports */
	uv_timer_t deadline_timer, reconcile_timer, stop_timer, journal_timer, leader_timer;
	uv_timer_t answer_timer; /* survey answers to act on (core/fire/answer.c) */
	bool answers_busy, answers_again;
	/* the leadership lease: a session advisory lock on the work connection;
	 * only the leader reads tickets, fires and sends (a standby waits) */
	bool leader;
	bool said_standby;
	struct wafa_journal journal;
	bool journal_busy;
	bool catching_up; /* catch_up() is going through the index */
	bool catchup_by_id; /* in id order (ids dense), else in slot order */
	int64_t catchup_id, catchup_first, catchup_last; /* by id: the next; the range */
	uint64_t catchup_left; /* by id: ids to go, once round from where it was begun */
	size_t catchup_pos, catchup_cap;  /* by slot: the next slot, the index's cap */
	unsigned drops, catchup_drops; /* a removal may shift a ticket behind the cursor */
	int64_t catchup_started;
	int64_t catchup_waits; /* the catch-up has waited for firings since (0: not waiting) */
	/* the tickets a reconciliation re-read, to journal (catch_up), from pos;
	 * recheck_all: too many to list, the whole index is gone through */
	int64_t *recheck;
	size_t nrecheck, recheck_cap, recheck_pos;
	bool recheck_all;
	char *journal_text; /* the batch being written, kept until it is */
	const char *journal_sql;
	int journal_tries;
	/* wafa.status_log, read at start before the first snapshot */
	struct loaded_change *loaded;
	size_t nloaded;
	bool history_read;
	/* wafa.journal_mark: by rule name as read, and by rule number */
	struct jmark { char *rule; int64_t ms; } *jmarks;
	size_t njmarks;
	int64_t *marks;
	bool marking;
	/* wafa.rule_seen: when wafa first had each rule, by name, and by rule
	 * number (the go-live guard) */
	struct jmark *seen;
	size_t nseen;
	int64_t *since;
	uv_signal_t sigterm, sigint, sighup;
	unsigned rules_gen; /* bumped by each reload: older firings are dropped */
	/* after a reload until a snapshot completes: every row read asks the
	 * new rules' raw and function pauses, changed or not */
	bool repause;
	char *quoted_schema;
	/* snapshot state */
	bool ready;      /* a first snapshot has completed */
	bool loading;    /* a snapshot is running */
	bool reload;     /* another one is wanted after it */
	bool snap_failed, snap_bad_view; /* a stream ended early (bad_view: by an error) */
	int snap_parts, snap_running;    /* its streams, and those still reading */
	int64_t snap_last[2];            /* the last id each stream read (0 up, 1 down) */
	unsigned mark;   /* generation of the running snapshot */
	size_t nmarked;  /* tickets in the index it has seen (sweep) */
	int64_t seen_updated_ms;
	/* tickets whose row was logged as bad (sorted): said once, not at each
	 * read, until a good row of it is read */
	int64_t *said;
	size_t nsaid, said_cap;
	/* ids heard by NOTIFY: waiting to be read, and being read */
	int64_t *ids, *inflight;
	size_t nids, ids_cap, ninflight, inflight_cap;
	bool fetching;
	size_t ids_batch; /* ids asked at once: halved while a read fails */
	bool reconciling;
	bool reconcile_aside; /* the reconciliation reads on the journal's connection */
	bool reading_aside;   /* rows being taken in were read there (take_row) */
	unsigned firing; /* firings in flight */
	int64_t fire_idle_at; /* the last firing in flight ended then (0: none yet) */
	unsigned fire_inserts[2]; /* their inserts in flight on work, on jconn (fire/firing.c) */
	size_t reconciled; /* rows the running reconciliation has streamed */
	int64_t reconciled_at; /* when the last reconciliation started (ms) */
	bool stopping;
	int exit_code;
};

/* core/sync/mirror.c */
void wafa__mirror_drop_ticket(struct wafa_instance *d, int64_t id);
int wafa__mirror_schedule(struct wafa_instance *d, struct wafa_ticket *t, bool journal);
struct wafa_pg *wafa__mirror_journal_conn(struct wafa_instance *d);
void wafa__mirror_on_journal_tick(uv_timer_t *timer);
void wafa__mirror_apply_marks(struct wafa_instance *d);
void wafa__mirror_free_jmarks(struct wafa_instance *d);
int wafa__mirror_read_rule_seen(struct wafa_instance *d, bool start);
const char *wafa__mirror_go_live_held(const struct wafa_instance *d, int rule, int64_t due, int64_t limit,
                                const char *key, char *why, size_t len);
bool wafa__mirror_say_once(struct wafa_instance *d, int64_t id, bool good);
void wafa__mirror_seen(struct wafa_instance *d, struct wafa_ticket *t);
struct wafa_ticket *wafa__mirror_take_row(struct wafa_instance *d, PGresult *res, int row, bool schedule_it,
                                    bool live);
void wafa__mirror_kick_mailer(void *arg);
void wafa__mirror_snapshot(struct wafa_instance *d);
bool wafa__mirror_row_error(const PGresult *res);
void wafa__mirror_fetch_ids(struct wafa_instance *d);
int wafa__mirror_want_id(struct wafa_instance *d, int64_t id);
void wafa__mirror_on_notify(struct wafa_pg *pg, const char *channel, const char *payload, void *arg);
void wafa__mirror_on_reconcile(uv_timer_t *t);

/* core/fire/firing.c */
void wafa__firing_array_element(FILE *f, const char *s, bool first);
void wafa__firing_arm(struct wafa_instance *d);
/* the rows an insert returned (key, channel): counted queued by channel, the mailer woken */
void wafa__firing_queued(struct wafa_instance *d, const PGresult *res);

/* core/fire/answer.c */
void wafa__answers_tick(uv_timer_t *timer);
void wafa__answers_kick(void *arg);

/* core/daemon.c */
void wafa__instance_start_reading(struct wafa_instance *d);
void wafa__instance_shutdown(struct wafa_instance *d, int code);

#endif
