/* The rules host: loads rule files into the sandbox, keeps the checked
 * declarations, computes every ticket's deadlines from them, and runs a
 * rule's action, collecting the mails it asks for. */
#ifndef WAFA_RULES_H
#define WAFA_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "heap.h"
#include "sandbox.h"
#include "ticket.h"

enum wafa_priority { WAFA_P_LOW, WAFA_P_NORMAL, WAFA_P_HIGH, WAFA_P_URGENT, WAFA_P_DEFAULT,
	             WAFA_P_N };

struct wafa_phase {
	char *name;        /* "warn-75%", "breach", "breach+2h" */
	int pct;           /* > 0: at pct% of the target after the start */
	int64_t offset_ms; /* pct == 0: relative to the breach */
	int fn_ref;
};

struct wafa_rule {
	char *name;
	char *where; /* "rules.d/sla.lua:3:" */
	int start, stop; /* enum wafa_ticket_time; stop -1 for none */
	int64_t target_ms[WAFA_P_N]; /* -1 where not given */
	int when_ref;                /* LUA_NOREF for none */
	struct wafa_phase *phases;
	int nphases;
};

/* A mail a rule asked for. */
struct wafa_mail_req {
	char *to;
	char *subject;
	char *body;
};

struct wafa_rules {
	struct wafa_sandbox *sb;
	int take_ref; /* the prelude's function returning new declarations */
	struct wafa_rule *rules;
	int nrules;
	/* while an action runs */
	bool in_action;
	struct wafa_mail_req *mails;
	size_t nmails, mails_cap;
};

WAFA_WUR int wafa_rules_open(struct wafa_sandbox *sb, struct wafa_rules **out);
void wafa_rules_close(struct wafa_rules *r);

/* Loads every .lua file of dir in name order.  A file that fails is reported to report
 * as "path:line: message" and its declarations dropped; the others stay.
 * Returns the number of problems, or a negative errno if dir is unreadable. */
int wafa_rules_load_dir(struct wafa_rules *r, const char *dir, FILE *report);

/* Recomputes ticket t's deadlines (removing its old ones from heap). */
WAFA_WUR int wafa_rules_schedule(struct wafa_rules *r, struct wafa_heap *h, struct wafa_ticket *t);
/* Removes all of t's deadlines from heap. */
void wafa_rules_unschedule(struct wafa_heap *h, struct wafa_ticket *t);

/* When (rule, phase) of t is due now, in ms, or WAFA_NO_TIME if it does
 * not apply to t as it is; sets *instance. */
int64_t wafa_rules_due(struct wafa_rules *r, struct wafa_ticket *t, int rule, int phase,
                       int64_t *instance);

/* Runs the phase's action for t.  On success the mails it asked for are in
 * r->mails (r->nmails), valid until the next run. */
WAFA_WUR int wafa_rules_run(struct wafa_rules *r, struct wafa_ticket *t, int rule, int phase,
                            int64_t instance);

/* Marks/unmarks a (rule, phase, instance) of t as fired. */
WAFA_WUR int wafa_rules_mark(struct wafa_ticket *t, int rule, int phase, int64_t instance,
                             bool pending);
void wafa_rules_unmark(struct wafa_ticket *t, int rule, int phase, int64_t instance);

#endif
