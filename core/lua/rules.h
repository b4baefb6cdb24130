/* The rules host: loads rule files into the sandbox, keeps the checked
 * declarations (rules and calendars), and runs a rule's Lua: when(t),
 * target(t), at(t) and the actions, collecting the mails they ask for.  It
 * knows nothing of the heap, the outbox or SQL; deadline.c computes the
 * instants from what it keeps. */
#ifndef WAFA_RULES_H
#define WAFA_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "time/calendar.h"
#include "base/error.h"
#include "mail/mail.h"
#include "lua/sandbox.h"
#include "sync/ticket.h"

enum wafa_priority { WAFA_P_LOW, WAFA_P_NORMAL, WAFA_P_HIGH, WAFA_P_URGENT, WAFA_P_DEFAULT,
	             WAFA_P_N };

enum wafa_rule_kind { WAFA_RULE_SLA, WAFA_RULE_PROMISE, WAFA_RULE_FOLLOWUP, WAFA_RULE_OFFER };
extern const char *const wafa_rule_kind_names[];

enum wafa_phase_kind { WAFA_PHASE_WARN, WAFA_PHASE_BREACH, WAFA_PHASE_ESCALATE, WAFA_PHASE_DUE };

struct wafa_phase {
	char *name;        /* "warn-75%", "breach", "breach+2h" */
	enum wafa_phase_kind kind;
	int pct;           /* > 0: when pct% of the target has elapsed */
	int64_t offset_ms; /* pct == 0: relative to the breach (clock time); a
	                      follow-up's: from its `since` */
	int fn_ref;
};

struct wafa_rule {
	char *name;
	char *where; /* "rules.d/sla.lua:3" */
	enum wafa_rule_kind kind;
	int start, stop; /* enum wafa_ticket_time; stop -1 for none.  promise: start is `at` */
	int64_t target_ms[WAFA_P_N]; /* -1 where not given */
	int target_ref;              /* target = function(t): LUA_NOREF for none */
	int at_ref;                  /* promise at = function(t): LUA_NOREF for none */
	int when_ref;                /* LUA_NOREF for none */
	int until_ref, unless_ref;   /* follow-up: checked when a step falls due */
	int audience_ref;            /* offer: which customers */
	int answer_ref;              /* on_answer(t, a): LUA_NOREF for none */
	int64_t every_ms;            /* offer: at most once per customer in this */
	int slot;                    /* index in a ticket's value cache for target_ref/at_ref, or -1 */
	unsigned pause_mask;         /* 1 << enum wafa_status: statuses that stop the clock */
	char **pause_raw;            /* the helpdesk's own statuses that stop it, case-folded */
	int npause_raw;
	int pause_fn_ref;            /* pause = { function(t) ... end }: LUA_NOREF for none */
	int pause_bit;               /* its bit in a status change's paused (raw or function
	                                pauses), or -1 */
	bool restart_on_reopen;
	bool notify_business;        /* hold steps until the calendar opens */
	struct wafa_calendar *cal;   /* NULL: wall-clock time; owned by wafa_rules */
	int cal_ref;                 /* calendar = function(t): LUA_NOREF for none */
	int cal_slot;                /* its answer in a ticket's value cache, or -1 */
	struct wafa_phase *phases;
	int nphases;
	double goal_pct; /* sla goal = "95%": 95; 0 for none */
};

/* report "weekly" { every = "7d", to = ..., locale = ..., by = ... }: the
 * service report (report.c) of each past period, mailed by digest.c. */
struct wafa_report_decl {
	char *name, *where, *to;
	char *locale, *by; /* NULL when not given */
	int64_t every_ms;
};

struct wafa_rules {
	struct wafa_sandbox *sb;
	int take_ref; /* the prelude's function returning new declarations */
	struct wafa_rule *rules;
	int nrules;
	int nslots; /* rules with a target or at function */
	struct wafa_calendar **cals;
	int ncals;
	struct wafa_report_decl *reports;
	int nreports;
	/* bit i: a loaded file names optional column WAFA_T_FIRST_OPTIONAL + i */
	unsigned named_optional;
	/* while an action runs */
	bool in_action;
	struct wafa_mail_req *mails;
	size_t nmails, mails_cap;
};

WAFA_WUR int wafa_rules_open(struct wafa_sandbox *sb, struct wafa_rules **out);
void wafa_rules_close(struct wafa_rules *r);

/* Loads every .lua file of dir in name order (not NAME_test.lua: tests).  A
 * file that fails is reported to report as "path:line: message" and its
 * declarations dropped; the others stay.
 * Returns the number of problems, or a negative errno if dir is unreadable. */
int wafa_rules_load_dir(struct wafa_rules *r, const char *dir, FILE *report);
/* The optional columns the loaded rules can read (bit i:
 * WAFA_T_FIRST_OPTIONAL + i): those their files name.  The others are not
 * read from the view (a subquery for last_agent_body can be most of the
 * database's work), but for thread_message_id when firing (the mail's
 * In-Reply-To). */
unsigned wafa_rules_columns(const struct wafa_rules *r);

/* Does rule apply to t (its when(t))?  Kept until t's data changes. */
bool wafa_rules_applies(struct wafa_rules *r, int rule, struct wafa_ticket *t);
/* The rule's target for t in ms (by priority, or its target function), or
 * -1 when it has none for t. */
int64_t wafa_rules_target(struct wafa_rules *r, int rule, struct wafa_ticket *t);
/* A promise's date for t in ms (its column, or its at function), or
 * WAFA_NO_TIME. */
int64_t wafa_rules_at(struct wafa_rules *r, int rule, struct wafa_ticket *t);
/* The rule's calendar for t: the one it names, or what its calendar
 * function answers for t (kept in the ticket's value cache until the data
 * changes); NULL for wall-clock time.  A function that fails or names no
 * declared calendar is logged and gives NULL. */
struct wafa_calendar *wafa_rules_calendar(struct wafa_rules *r, int rule, struct wafa_ticket *t);

/* The raw and function pauses of t as it is now: bit b set when the rule
 * holding pause bit b applies to t (its when) and has t's raw status in its
 * pause list or its pause function says true (an error counts as false, and is logged with the
 * file and line).  Needs t's text (before wafa_ticket_strip).  Call it on
 * each change and record the answer with wafa_ticket_add_state. */
uint32_t wafa_rules_pauses(struct wafa_rules *r, struct wafa_ticket *t);
/* Pause bits are given out by rule name for the life of the process, so a
 * status change's bits keep their meaning across reloads; at most
 * WAFA_PAUSE_BITS names.  The name of bit b (NULL if not given out), and the
 * bit of a name (-1 if none). */
#define WAFA_PAUSE_BITS 32
const char *wafa_rules_pause_name(int bit);
int wafa_rules_pause_bit(const char *name);

/* What a firing tells the action about itself (the `s` table). */
struct wafa_firing {
	int64_t instance; /* s */
	int64_t start;    /* ms: the SLA's start, or the promise's date */
	int64_t target;   /* ms of clock time; 0 for a promise */
	int64_t deadline; /* ms: the breach instant */
	int64_t due;      /* ms: when this step fell due */
};

/* A follow-up's until(t, s) and unless(t, s), asked when a step falls due:
 * 1 yes, 0 no (or none), negative on an error (logged). */
int wafa_rules_until(struct wafa_rules *r, struct wafa_ticket *t, int rule, int phase,
                     const struct wafa_firing *f);
int wafa_rules_unless(struct wafa_rules *r, struct wafa_ticket *t, int rule, int phase,
                      const struct wafa_firing *f);

/* A customer as offers see them: aggregates over their tickets. */
struct wafa_customer {
	const char *email, *name, *locale, *tz;
	int64_t tickets, open, solved;
	int64_t first_contact, last_contact, last_breach; /* ms, or WAFA_NO_TIME */
};

/* Does offer rule's audience(c) take customer c?  1 yes, 0 no, negative on an
 * error (logged). */
int wafa_rules_audience(struct wafa_rules *r, int rule, const struct wafa_customer *c);

/* The prelude's c.duration(text) -> ms | nil, why and c.where(level) ->
 * "file:line:", shared with the rule tests' own table. */
int wafa_rules_lua_duration(lua_State *L);
int wafa_rules_lua_where(lua_State *L);
/* Runs offer rule's on_due(c, s); the mails are in r->mails as for
 * wafa_rules_run. */
WAFA_WUR int wafa_rules_run_offer(struct wafa_rules *r, int rule, const struct wafa_customer *c,
                                  int64_t instance);

/* A survey answer, as on_answer(t, a) sees it (the `a` table). */
struct wafa_answer {
	int64_t mail_id;     /* the survey mail's outbox id: a.id */
	int score;           /* 1..5 */
	const char *comment; /* NULL: none */
	const char *survey;  /* the survey mail's template (may be NULL) */
	const char *rule;    /* the rule that sent the survey */
	int64_t at;          /* ms: when it was answered */
};

/* Runs rule's on_answer(t, a) (the rule has one: answer_ref); the mails are
 * in r->mails as for wafa_rules_run.  Returns 0 or a negative errno (the
 * error logged). */
WAFA_WUR int wafa_rules_run_answer(struct wafa_rules *r, struct wafa_ticket *t, int rule,
                                   const struct wafa_answer *a);

/* Runs the phase's action for t.  On success the mails it asked for are in
 * r->mails (r->nmails), valid until the next run. */
WAFA_WUR int wafa_rules_run(struct wafa_rules *r, struct wafa_ticket *t, int rule, int phase,
                            const struct wafa_firing *f);

#endif
