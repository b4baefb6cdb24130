/* Offers: rules over customers, not tickets.  Every hour (and shortly after
 * start) each offer rule's customers are read with one query over the ticket
 * view grouped by customer e-mail, a page at a time from a cursor (one page
 * held in memory, deadlines firing between pages), with their last
 * breach from the journal and their last mail from this rule; a customer not
 * offered within the rule's `every` whom audience(c) takes gets on_due(c, s),
 * and its mails go into the outbox under rule/c:EMAIL/due/PERIOD, so one
 * period never mails a customer twice. */
#ifndef WAFA_OFFER_H
#define WAFA_OFFER_H

#include <uv.h>

#include "base/config.h"
#include "base/error.h"
#include "store/pg.h"
#include "lua/rules.h"

struct wafa_offers;

/* queued(arg) is called when mails were queued (to kick the mailer).  A
 * round reads and queues on pg (not the connection that fires), or on spare
 * when pg is down at its start. */
WAFA_WUR int wafa_offers_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                              struct wafa_pg *spare, void (*queued)(void *arg), void *arg,
                              struct wafa_offers **out);
/* The rules to use from now on (at start and after a reload). */
void wafa_offers_set_rules(struct wafa_offers *o, struct wafa_rules *r);
/* Looks now (and then every hour). */
void wafa_offers_start(struct wafa_offers *o, uint64_t first_ms);
/* Stops; done(arg) once its handle is closed and no query is out. */
void wafa_offers_close(struct wafa_offers *o, void (*done)(void *arg), void *arg);

#endif
