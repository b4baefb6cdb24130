/* The mailer: claims due outbox rows, renders them, hands a batch to the
 * channel on a worker thread (channels may block), and records each result:
 * sent, retried later with backoff (4xx, connection trouble) or parked as
 * failed with the server's reply (5xx). */
#ifndef WAFA_MAILER_H
#define WAFA_MAILER_H

#include <uv.h>

#include "mail/channel.h"
#include "base/config.h"
#include "base/error.h"
#include "store/pg.h"

struct wafa_mailer;

WAFA_WUR int wafa_mailer_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                              struct wafa_channel_handle channel, struct wafa_mailer **out);
/* hold true: a burst of deadlines is being fired, and claims wait until
 * hold false (or 5 s at most), so the database's time goes first to
 * recording what fell due; the sessions sending go on. */
void wafa_mailer_hold(struct wafa_mailer *m, bool hold);
/* Starts polling the outbox (the mailer opens paused). */
void wafa_mailer_start(struct wafa_mailer *m);
/* Stops claiming until the next start (on standby: another instance sends);
 * a batch in flight finishes and is recorded. */
void wafa_mailer_pause(struct wafa_mailer *m);
/* The backend pid of the session that holds the leader lock: claims are
 * made only while it holds it.  Called before wafa_mailer_start. */
void wafa_mailer_set_leader(struct wafa_mailer *m, int work_pid, const char *schema);
/* Not sure it leads any more (the session holding the lock is lost):
 * pauses, and gives up every batch at once: those not begun stay queued,
 * due at once; a session sending stops before its next mail. */
void wafa_mailer_fence(struct wafa_mailer *m);
/* Looks at the outbox now (new rows were queued). */
void wafa_mailer_kick(struct wafa_mailer *m);
/* The ids of the rows this mailer holds (claimed, in a batch not yet
 * done) as an array literal "{1,2}", malloc'ed, or NULL (no memory): a
 * lease reset on taking the lead again must leave them alone. */
char *wafa_mailer_held(const struct wafa_mailer *m);
/* Stops claiming; calls done once no batch is in flight.  Frees m after. */
void wafa_mailer_stop(struct wafa_mailer *m, void (*done)(void *arg), void *arg);

#endif
