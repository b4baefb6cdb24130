#include "tools/ruletest.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "time/clock.h"
#include "time/deadline.h"
#include "base/duration.h"
#include "time/heap.h"
#include "base/log.h"
#include "tools/mutation.h"
#include "store/outbox.h"
#include "lua/rules.h"
#include "lua/sandbox.h"
#include "mail/template.h"
#include "sync/ticket.h"
#include "time/zone.h"

#include "tools/ruletest.inc"

#define TEST_BUDGET_MS (30 * 1000) /* one test, with the rules it runs */
#define MAX_STEPS 1000000          /* firings in one clock move: a runaway series */
#define OFFER_ROUND_MS (3600 * 1000) /* the daemon looks at offers hourly (core/fire/offer.c) */

/* ---- what happened: transitions, mails, rule errors ---- */

enum rec_type { REC_EVENT, REC_MAIL, REC_ERROR, REC_LOG };

struct rec {
	size_t seq; /* the order it was told in, among records at one instant */
	enum rec_type type;
	int64_t at, due;
	int64_t ticket; /* 0 for an offer */
	char *customer; /* an offer's customer */
	int rule;       /* -1 when not known */
	int phase;      /* -1 for a transition that is not a step */
	enum wafa_event event;
	char *detail;   /* a cancelled transition's why; an error's or a log line's text */
	struct wafa_mail_req m;
	bool customer_mail;
	bool answer; /* an on_answer's: its phase reads "answer" */
	char *rsubject, *rtext, *rlocale, *rerror; /* the template rendered */
};

struct offered {
	int rule;
	char *email;
	int64_t at;
};

struct runner {
	const struct wafa_config *cfg;
	struct wafa_rules *rules;
	struct wafa_heap heap;
	struct wafa_ticket **tickets;
	int64_t *jnext;  /* per ticket: its next transition not yet told */
	int64_t *lastbr; /* per ticket: its last breach (offers' last_breach) */
	size_t nt, tcap;
	int64_t next_id;
	int64_t now;
	bool clock_set;
	int64_t next_round; /* the next offer round; INT64_MAX: no offer rules */
	struct rec *recs;
	size_t nrec, rcap;
	struct offered *offers;
	size_t noff, ocap;
	/* survey mails sent in this test, for t.answer (their number is the
	 * answer's a.id, as the outbox id is in the daemon) */
	struct surveyed { int64_t ticket; int rule; char *template; bool answered; } *surveys;
	size_t nsurv, scap;
	bool oom;
	FILE *out;
};

static struct rec *rec_add(struct runner *x, enum rec_type type)
{
	if (x->nrec == x->rcap) {
		size_t cap = x->rcap ? x->rcap * 2 : 64;
		struct rec *grown = realloc(x->recs, cap * sizeof(*grown));
		if (!grown) {
			x->oom = true;
			return NULL;
		}
		x->recs = grown;
		x->rcap = cap;
	}
	struct rec *r = &x->recs[x->nrec];
	memset(r, 0, sizeof(*r));
	r->seq = x->nrec++;
	r->type = type;
	r->at = r->due = x->now;
	r->rule = -1;
	r->phase = -1;
	return r;
}

static void rec_free(struct rec *r)
{
	free(r->customer);
	free(r->detail);
	free(r->m.to);
	free(r->m.subject);
	free(r->m.body);
	free(r->m.template);
	free(r->m.vars);
	free(r->m.locale);
	free(r->rsubject);
	free(r->rtext);
	free(r->rlocale);
	free(r->rerror);
}

static void recs_clear(struct runner *x)
{
	for (size_t i = 0; i < x->nrec; i++)
		rec_free(&x->recs[i]);
	x->nrec = 0;
}

/* The world of one test: no tickets, no clock, nothing fired. */
static void runner_reset(struct runner *x)
{
	for (size_t i = 0; i < x->nt; i++) {
		wafa_deadlines_unschedule(&x->heap, x->tickets[i]);
		wafa_ticket_free(x->tickets[i]);
	}
	x->nt = 0;
	recs_clear(x);
	for (size_t i = 0; i < x->noff; i++)
		free(x->offers[i].email);
	x->noff = 0;
	for (size_t i = 0; i < x->nsurv; i++)
		free(x->surveys[i].template);
	x->nsurv = 0;
	x->next_id = 1;
	x->now = 0;
	x->clock_set = false;
	x->next_round = INT64_MAX;
	x->oom = false;
}

static void tap_line(FILE *out, const char *prefix, const char *text);

/* Rule errors and rule prints land here while tests run. */
static void on_log(void *arg, enum wafa_log_level level, const char *area, const char *msg)
{
	struct runner *x = arg;
	struct rec *r;
	const char *p;

	if (level < wafa__log_level)
		return;
	if (level < WAFA_LOG_ERROR) {
		/* print() in a rule or a test: a TAP comment */
		tap_line(x->out, "# ", msg);
		return;
	}
	r = rec_add(x, REC_ERROR);
	if (!r)
		return;
	if (asprintf(&r->detail, "%s: %s", area, msg) < 0) {
		r->detail = NULL;
		x->oom = true;
	}
	/* "rule=NAME ..." says whose it is */
	if ((p = strstr(msg, "rule=")) != NULL) {
		size_t n = strcspn(p + 5, " :");
		for (int i = 0; i < x->rules->nrules; i++)
			if (strlen(x->rules->rules[i].name) == n &&
			    strncmp(x->rules->rules[i].name, p + 5, n) == 0)
				r->rule = i;
	}
}

/* ---- the engine, as the daemon drives it, on virtual time ---- */

static void set_clock(struct runner *x)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	wafa_clock_set_offset(x->now - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
}

static void on_event(void *arg, const struct wafa_ticket *t, const struct wafa_rule *rule,
                     int64_t instance, enum wafa_event ev, int64_t at, const char *detail)
{
	struct runner *x = arg;
	struct rec *r = rec_add(x, REC_EVENT);

	(void)instance;
	if (!r)
		return;
	r->at = r->due = at;
	r->ticket = t->id;
	r->rule = (int)(rule - x->rules->rules);
	r->event = ev;
	if (detail && !(r->detail = strdup(detail)))
		x->oom = true;
}

static size_t slot_of(const struct runner *x, const struct wafa_ticket *t)
{
	size_t i = 0;

	while (i + 1 < x->nt && x->tickets[i] != t)
		i++;
	return i;
}

/* The instant of t's next transition after now that is not a step (a
 * start, a pause or a met dated later), or INT64_MAX. */
static int64_t next_transition(struct runner *x, struct wafa_ticket *t)
{
	struct wafa_event_rec ev[WAFA_TRACK_SEGS + 16];
	int64_t next = INT64_MAX;

	for (int i = 0; i < x->rules->nrules; i++) {
		const struct wafa_rule *rule = &x->rules->rules[i];
		struct wafa_track tr;
		int n;
		if (rule->nphases == 0)
			continue;
		wafa_deadline_track(x->rules, i, t, &tr);
		n = wafa_deadline_timeline(rule, &tr, t, ev, (int)(sizeof(ev) / sizeof(ev[0])));
		for (int k = 0; k < n; k++) {
			if (ev[k].phase < 0 && ev[k].at > x->now) {
				if (ev[k].at < next)
					next = ev[k].at;
				break;
			}
		}
	}
	return next;
}

/* Recomputes t's deadlines and tells its transitions up to now, as the
 * daemon does when a ticket changes or fires. */
static void schedule(struct runner *x, struct wafa_ticket *t)
{
	struct wafa_journal_sink sink = { on_event, x, x->now, NULL };

	set_clock(x);
	if (wafa_deadlines_schedule(x->rules, &x->heap, t, &sink) != 0)
		x->oom = true;
	x->jnext[slot_of(x, t)] = next_transition(x, t);
}

/* Tells the transitions up to now that no change or firing told (a start,
 * a met dated later than the change that set it, a promise made). */
static void journal_all(struct runner *x)
{
	struct wafa_journal_sink sink = { on_event, x, x->now, NULL };

	set_clock(x);
	for (size_t i = 0; i < x->nt; i++) {
		if (x->jnext[i] > x->now)
			continue;
		wafa_deadlines_journal(x->rules, x->tickets[i], &sink);
		x->jnext[i] = next_transition(x, x->tickets[i]);
	}
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	if (!(d = strdup(s)))
		*oom = true;
	return d;
}

/* What the mailer would make of a template mail: its subject and text. */
static void render(struct runner *x, struct rec *r, const char *customer_locale)
{
	const struct wafa_config *cfg = x->cfg;
	struct wafa_var vars[64 + 6];
	struct wafa_rendered out = { 0 };
	json_t *obj = NULL;
	size_t n = 0;
	char why[512];
	static const char *const survey[] = { "survey_1", "survey_2", "survey_3", "survey_4",
		                              "survey_5" };
	static const char *const links[] = { "[survey link 1]", "[survey link 2]",
		                             "[survey link 3]", "[survey link 4]",
		                             "[survey link 5]" };

	if (!r->m.template || !cfg->templates || !cfg->templates[0])
		return;
	if (r->m.vars) {
		const char *key;
		json_t *v;
		obj = json_loads(r->m.vars, 0, NULL);
		json_object_foreach (obj, key, v) {
			if (n < 64 && json_is_string(v)) {
				vars[n].name = key;
				vars[n++].value = json_string_value(v);
			}
		}
	}
	if (r->customer_mail) {
		vars[n].name = "unsubscribe_url";
		vars[n++].value = "[unsubscribe link]";
	}
	if (r->m.survey) {
		for (int k = 0; k < 5; k++) {
			vars[n].name = survey[k];
			vars[n++].value = links[k];
		}
	}
	if (wafa_template_render(cfg->templates, r->m.template,
	                         r->m.locale ? r->m.locale : customer_locale, cfg->default_locale,
	                         vars, n, &out, why, sizeof(why)) != 0) {
		r->rerror = dup_or_null(why, &x->oom);
	} else {
		r->rsubject = dup_or_null(out.subject, &x->oom);
		r->rtext = dup_or_null(out.text, &x->oom);
		r->rlocale = dup_or_null(out.locale, &x->oom);
	}
	wafa_rendered_free(&out);
	json_decref(obj);
}

/* Takes the mails the last action asked for. */
static void take_mails(struct runner *x, int64_t ticket, const char *customer_email,
                       const char *customer_locale, int rule, int phase, int64_t due)
{
	for (size_t i = 0; i < x->rules->nmails; i++) {
		const struct wafa_mail_req *m = &x->rules->mails[i];
		struct rec *r = rec_add(x, REC_MAIL);
		char addr[320];
		if (!r)
			return;
		r->ticket = ticket;
		r->rule = rule;
		r->phase = phase;
		r->due = due;
		r->m.to = dup_or_null(m->to, &x->oom);
		r->m.subject = dup_or_null(m->subject, &x->oom);
		r->m.body = dup_or_null(m->body, &x->oom);
		r->m.template = dup_or_null(m->template, &x->oom);
		r->m.vars = dup_or_null(m->vars, &x->oom);
		r->m.locale = dup_or_null(m->locale, &x->oom);
		r->m.survey = m->survey;
		if (m->survey && ticket != 0) {
			if (x->nsurv == x->scap) {
				size_t cap = x->scap ? x->scap * 2 : 8;
				struct surveyed *grown = realloc(x->surveys, cap * sizeof(*grown));
				if (!grown) {
					x->oom = true;
					return;
				}
				x->surveys = grown;
				x->scap = cap;
			}
			x->surveys[x->nsurv++] = (struct surveyed){
				.ticket = ticket, .rule = rule,
				.template = dup_or_null(m->template, &x->oom) };
		}
		wafa_outbox_address(m->to, addr, sizeof(addr));
		r->customer_mail = customer_email && strcasecmp(addr, customer_email) == 0;
		if (ticket == 0)
			r->customer = dup_or_null(customer_email, &x->oom);
		render(x, r, customer_locale);
	}
}

static const enum wafa_event step_events[] = { WAFA_EV_WARN, WAFA_EV_BREACH, WAFA_EV_ESCALATE,
	                                       WAFA_EV_DUE };

static void step_rec(struct runner *x, const struct wafa_ticket *t, int rule, int phase,
                     enum wafa_event ev, int64_t due, const char *detail)
{
	struct rec *r = rec_add(x, REC_EVENT);

	if (!r)
		return;
	r->ticket = t->id;
	r->rule = rule;
	r->phase = phase;
	r->event = ev;
	r->due = due;
	if (ev == WAFA_EV_BREACH) {
		/* as the journal keeps it: the offers' last_breach reads it */
		size_t i = slot_of(x, t);
		x->lastbr[i] = x->lastbr[i] == WAFA_NO_TIME || due > x->lastbr[i] ? due : x->lastbr[i];
	}
	if (detail)
		r->detail = dup_or_null(detail, &x->oom);
}

/* Fires one due deadline as the daemon's decide() does, with the ticket as
 * the test left it. */
static void fire(struct runner *x, struct wafa_deadline *dl)
{
	struct wafa_ticket *t = dl->ticket;
	int ri = dl->rule, phase = dl->phase;
	int64_t instance = dl->instance, due, at;
	const struct wafa_rule *rule = &x->rules->rules[ri];
	struct wafa_track tr;
	struct wafa_firing f;

	wafa_heap_pop(&x->heap);
	if (wafa_deadline_mark(t, ri, phase, instance, true) != 0) {
		x->oom = true;
		return;
	}
	set_clock(x);
	wafa_deadline_track(x->rules, ri, t, &tr);
	at = wafa_deadline_phase(rule, &tr, phase, &due);
	if (at == WAFA_NO_TIME || tr.instance != instance || at > x->now) {
		wafa_deadline_unmark(t, ri, phase, instance);
		goto reschedule;
	}
	f.instance = tr.instance;
	f.start = tr.start;
	f.target = tr.target;
	f.deadline = wafa_deadline_breach(rule, &tr);
	f.due = due;
	int until = wafa_rules_until(x->rules, t, ri, phase, &f);
	int unless = until == 1 ? 0 : wafa_rules_unless(x->rules, t, ri, phase, &f);
	if (until == 1 || unless == 1) {
		step_rec(x, t, ri, phase, WAFA_EV_CANCELLED, due, until == 1 ? "until" : "unless");
		for (int p = phase + 1; until == 1 && p < rule->nphases; p++) {
			if (wafa_deadline_mark(t, ri, p, instance, false) != 0)
				x->oom = true;
			step_rec(x, t, ri, p, WAFA_EV_CANCELLED, due, "until");
		}
	} else if (until == 0 && unless == 0 && wafa_rules_run(x->rules, t, ri, phase, &f) == 0) {
		step_rec(x, t, ri, phase, step_events[rule->phases[phase].kind], due, NULL);
		take_mails(x, t->id, t->str[WAFA_T_CUSTOMER_EMAIL], t->str[WAFA_T_CUSTOMER_LOCALE], ri,
		           phase, due);
	}
	/* an error was logged (and recorded); like the daemon, not retried */
	if (wafa_deadline_mark(t, ri, phase, instance, false) != 0)
		x->oom = true;
reschedule:
	schedule(x, t);
}

/* ---- offers: over the test's customers, looked at whenever the clock moves ---- */

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int64_t max_time(int64_t a, int64_t b)
{
	if (a == WAFA_NO_TIME)
		return b;
	if (b == WAFA_NO_TIME)
		return a;
	return a > b ? a : b;
}

static const char *max_str(const char *a, const char *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return strcmp(a, b) >= 0 ? a : b;
}

/* A ticket's customer address, as the daemon's grouping query takes it
 * (core/fire/offer.c: mail_address(customer_email)), lower-cased. */
struct by_addr {
	char addr[320];
	size_t i; /* the ticket */
};

static int by_address(const void *a, const void *b)
{
	const struct by_addr *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

/* The customer of tickets g[0..n) (one address), as the daemon's grouping
 * query sees them (core/fire/offer.c). */
static void customer_of(const struct runner *x, const struct by_addr *g, size_t n,
                        struct wafa_customer *c)
{
	memset(c, 0, sizeof(*c));
	c->email = g[0].addr;
	c->first_contact = c->last_contact = c->last_breach = WAFA_NO_TIME;
	for (size_t k = 0; k < n; k++) {
		const struct wafa_ticket *t = x->tickets[g[k].i];
		int st = wafa_ticket_status(t);
		c->name = max_str(c->name, t->str[WAFA_T_CUSTOMER_NAME]);
		c->locale = max_str(c->locale, t->str[WAFA_T_CUSTOMER_LOCALE]);
		c->tz = max_str(c->tz, t->str[WAFA_T_CUSTOMER_TZ]);
		c->tickets++;
		if (st == WAFA_S_SOLVED || st == WAFA_S_CLOSED)
			c->solved++;
		else
			c->open++;
		if (c->first_contact == WAFA_NO_TIME || t->time[WAFA_T_CREATED_AT] < c->first_contact)
			c->first_contact = t->time[WAFA_T_CREATED_AT];
		c->last_contact = max_time(c->last_contact,
		                           max_time(t->time[WAFA_T_CREATED_AT],
		                                    t->time[WAFA_T_LAST_CUSTOMER_AT]));
		c->last_breach = max_time(c->last_breach, x->lastbr[g[k].i]);
	}
}

static struct offered *find_offered(struct runner *x, int rule, const char *email)
{
	for (size_t i = 0; i < x->noff; i++)
		if (x->offers[i].rule == rule && strcmp(x->offers[i].email, email) == 0)
			return &x->offers[i];
	return NULL;
}

static void look_at_offers(struct runner *x)
{
	struct by_addr *all = NULL;
	size_t n = 0;
	bool any = false;

	for (int ri = 0; ri < x->rules->nrules; ri++)
		any = any || x->rules->rules[ri].kind == WAFA_RULE_OFFER;
	if (!any || x->nt == 0)
		return;
	if (!(all = malloc(x->nt * sizeof(*all)))) {
		x->oom = true;
		return;
	}
	for (size_t i = 0; i < x->nt; i++) {
		const char *e = x->tickets[i]->str[WAFA_T_CUSTOMER_EMAIL];
		if (!e || !strchr(e, '@'))
			continue;
		wafa_outbox_address(e, all[n].addr, sizeof(all[n].addr));
		lower(all[n].addr);
		all[n++].i = i;
	}
	qsort(all, n, sizeof(*all), by_address);
	set_clock(x);
	for (int ri = 0; ri < x->rules->nrules && !x->oom; ri++) {
		const struct wafa_rule *rule = &x->rules->rules[ri];
		if (rule->kind != WAFA_RULE_OFFER)
			continue;
		for (size_t k = 0, len; k < n && !x->oom; k += len) {
			const char *email = all[k].addr;
			struct wafa_customer c;
			struct offered *o = find_offered(x, ri, email);
			int64_t instance = x->now / rule->every_ms;
			for (len = 1; k + len < n && strcmp(all[k + len].addr, email) == 0; len++)
				;
			if (o && x->now - o->at < rule->every_ms)
				continue; /* offered within `every` */
			customer_of(x, &all[k], len, &c);
			if (wafa_rules_audience(x->rules, ri, &c) != 1)
				continue;
			if (wafa_rules_run_offer(x->rules, ri, &c, instance) != 0)
				continue;
			struct rec *r = rec_add(x, REC_EVENT);
			if (!r)
				break;
			r->rule = ri;
			r->phase = 0;
			r->event = WAFA_EV_DUE;
			r->customer = dup_or_null(email, &x->oom);
			take_mails(x, 0, email, c.locale, ri, 0, x->now);
			if (x->rules->nmails == 0)
				continue;
			if (!o) {
				if (x->noff == x->ocap) {
					size_t cap = x->ocap ? x->ocap * 2 : 8;
					struct offered *grown = realloc(x->offers, cap * sizeof(*grown));
					if (!grown) {
						x->oom = true;
						break;
					}
					x->offers = grown;
					x->ocap = cap;
				}
				o = &x->offers[x->noff++];
				o->rule = ri;
				if (!(o->email = strdup(email))) {
					x->noff--;
					x->oom = true;
					break;
				}
			}
			o->at = x->now;
		}
	}
	free(all);
}

/* Runs the engine from the clock to `to`: every deadline due on the way
 * fires at its instant, in time order, as the daemon would fire it; the
 * offer rules look at the customers every hour of the test's clock from
 * where it started, as the daemon's hourly round does. */
static int advance(struct runner *x, int64_t to)
{
	long steps = 0;

	/* a firing journals its own ticket; the others' transitions up to
	 * `to` are told after (each carries its instant; push_recs orders) */
	while (!x->oom) {
		struct wafa_deadline *dl = wafa_heap_peek(&x->heap);
		int64_t fire_at = dl ? dl->at_ms : INT64_MAX;
		if (fire_at > to && x->next_round > to)
			break;
		if (++steps > MAX_STEPS)
			return -ELOOP;
		if (fire_at <= x->next_round) {
			if (fire_at > x->now)
				x->now = fire_at;
			fire(x, dl);
		} else {
			if (x->next_round > x->now)
				x->now = x->next_round;
			look_at_offers(x);
			x->next_round += OFFER_ROUND_MS;
		}
	}
	x->now = to;
	journal_all(x);
	return x->oom ? -ENOMEM : 0;
}

/* ---- times as test writers write them ---- */

/* "2026-03-05 09:00", "2026-03-05 09:00:30", "2026-03-05T09:00:00Z",
 * "2026-03-05 09:00 +03:30", "2026-03-05 09:00 Africa/Cairo", "2026-03-05"
 * (midnight); in zone when they name none.  "now", "now+2h", "now-1d" from
 * the test's clock. */
static int parse_time(const char *text, const char *zone, const struct runner *x, int64_t *ms,
                      const char **why)
{
	struct wafa_local lt = { 0 };
	int n = 0, oh = 0, om = 0;
	char sign = 0;
	const char *tz = zone && *zone ? zone : "UTC";
	char tzbuf[128];

	while (*text == ' ')
		text++;
	if (strncmp(text, "now", 3) == 0) {
		int64_t off = 0;
		if (!x->clock_set) {
			*why = "\"now\" before the clock is set (start with t.at \"2026-03-05 09:00\")";
			return -EINVAL;
		}
		if (text[3] && ((text[3] != '+' && text[3] != '-') ||
		                wafa_duration_parse(text + 4, &off, why) != 0)) {
			if (text[3] != '+' && text[3] != '-')
				*why = "expected now, now+2h or now-1d";
			return -EINVAL;
		}
		*ms = x->now + (text[3] == '-' ? -off : off);
		return 0;
	}
	*why = "expected a time like \"2026-03-05 09:00\", \"2026-03-05 09:00 Africa/Cairo\", "
	       "\"2026-03-05T09:00:00+02:00\", \"2026-03-05\" or \"now+2h\"";
	if (sscanf(text, "%4d-%2d-%2d%n", &lt.year, &lt.month, &lt.day, &n) != 3)
		return -EINVAL;
	text += n;
	if (*text == 'T' || (*text == ' ' && isdigit((unsigned char)text[1]))) {
		n = 0;
		if (sscanf(text + 1, "%2d:%2d%n", &lt.hour, &lt.minute, &n) != 2)
			return -EINVAL;
		text += 1 + n;
		if (*text == ':') {
			n = 0;
			if (sscanf(text + 1, "%2d%n", &lt.second, &n) != 1)
				return -EINVAL;
			text += 1 + n;
		}
	}
	while (*text == ' ')
		text++;
	if (*text == 'Z' && !text[1]) {
		tz = "UTC";
		text++;
	} else if ((*text == '+' || *text == '-') && isdigit((unsigned char)text[1])) {
		sign = *text;
		n = 0;
		if (sscanf(text + 1, "%2d:%2d%n", &oh, &om, &n) != 2)
			return -EINVAL;
		text += 1 + n;
		tz = "UTC";
	} else if (*text) {
		if (strlen(text) >= sizeof(tzbuf))
			return -EINVAL;
		strcpy(tzbuf, text);
		tz = tzbuf;
		text += strlen(text);
	}
	if (*text || lt.month < 1 || lt.month > 12 || lt.day < 1 || lt.day > 31 || lt.hour > 24 ||
	    lt.minute > 59 || lt.second > 59)
		return -EINVAL;
	if (!wafa_zone_valid(tz)) {
		*why = "unknown time zone (use an IANA name like Africa/Cairo, or an offset like +02:00)";
		return -EINVAL;
	}
	if (wafa_zone_join(&lt, tz, ms) != 0)
		return -EINVAL;
	if (sign)
		*ms += (sign == '+' ? -1 : 1) * ((int64_t)oh * 3600 + om * 60) * 1000;
	return 0;
}

static void format_time(int64_t ms, const char *zone, char *buf, size_t len)
{
	struct wafa_local lt;
	const char *tz = zone && *zone && wafa_zone_valid(zone) ? zone : "UTC";

	if (ms == WAFA_NO_TIME || wafa_zone_split(ms, tz, &lt) != 0) {
		snprintf(buf, len, "(no time)");
		return;
	}
	if (lt.second)
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d %s", lt.year, lt.month, lt.day,
		         lt.hour, lt.minute, lt.second, tz);
	else
		snprintf(buf, len, "%04d-%02d-%02d %02d:%02d %s", lt.year, lt.month, lt.day, lt.hour,
		         lt.minute, tz);
}

/* ---- the primitives the test language (rules/ruletest.lua) is built on ---- */

static struct runner *runner_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* c.parse_time(text, zone) -> ms | nil, why */
static int c_parse_time(lua_State *L)
{
	const char *why = "";
	int64_t ms;

	if (parse_time(luaL_checkstring(L, 1), luaL_optstring(L, 2, NULL), runner_of(L), &ms,
	               &why) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushinteger(L, (lua_Integer)ms);
	return 1;
}

/* c.format_time(ms, zone) -> "2026-03-05 10:00 UTC" */
static int c_format_time(lua_State *L)
{
	char buf[160];

	format_time((int64_t)luaL_checkinteger(L, 1), luaL_optstring(L, 2, NULL), buf, sizeof(buf));
	lua_pushstring(L, buf);
	return 1;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* c.rules() -> { { name, kind, file (base name), where }, ... } */
static int c_rules(lua_State *L)
{
	struct runner *x = runner_of(L);

	lua_createtable(L, x->rules->nrules, 0);
	for (int i = 0; i < x->rules->nrules; i++) {
		const struct wafa_rule *rule = &x->rules->rules[i];
		const char *file = base_name(rule->where);
		lua_createtable(L, 0, 4);
		lua_pushstring(L, rule->name);
		lua_setfield(L, -2, "name");
		lua_pushstring(L, wafa_rule_kind_names[rule->kind]);
		lua_setfield(L, -2, "kind");
		lua_pushlstring(L, file, strcspn(file, ":"));
		lua_setfield(L, -2, "file");
		lua_pushstring(L, rule->where);
		lua_setfield(L, -2, "where");
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

/* c.reset(): a new world for the next test. */
static int c_reset(lua_State *L)
{
	runner_reset(runner_of(L));
	return 0;
}

/* c.now() -> ms, or nil before the clock is set */
static int c_now(lua_State *L)
{
	struct runner *x = runner_of(L);

	if (!x->clock_set)
		lua_pushnil(L);
	else
		lua_pushinteger(L, (lua_Integer)x->now);
	return 1;
}

static void push_str(lua_State *L, const char *name, const char *v)
{
	if (!v)
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, name);
}

static void push_ms(lua_State *L, const char *name, int64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, name);
}

static int by_instant(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Pushes what happened since the last call as a list of tables, in time
 * order, and forgets it. */
static void push_recs(lua_State *L, struct runner *x)
{
	static const char *const types[] = { "event", "mail", "error", "log" };

	if (x->nrec > 1)
		qsort(x->recs, x->nrec, sizeof(*x->recs), by_instant);
	lua_createtable(L, (int)x->nrec, 0);
	for (size_t i = 0; i < x->nrec; i++) {
		const struct rec *r = &x->recs[i];
		const struct wafa_rule *rule = r->rule >= 0 ? &x->rules->rules[r->rule] : NULL;
		lua_createtable(L, 0, 16);
		push_str(L, "type", types[r->type]);
		push_ms(L, "at", r->at);
		push_ms(L, "due", r->due);
		if (r->ticket)
			push_ms(L, "ticket", r->ticket);
		push_str(L, "customer", r->customer);
		if (rule) {
			push_str(L, "rule", rule->name);
			push_str(L, "kind", wafa_rule_kind_names[rule->kind]);
			if (r->phase >= 0 && r->phase < rule->nphases)
				push_str(L, "phase", rule->phases[r->phase].name);
			else if (r->answer)
				push_str(L, "phase", "answer");
		}
		if (r->type == REC_EVENT)
			push_str(L, "event", wafa_event_names[r->event]);
		push_str(L, r->type == REC_EVENT ? "detail" : "message", r->detail);
		if (r->type == REC_MAIL) {
			push_str(L, "to", r->m.to);
			push_str(L, "subject", r->m.subject ? r->m.subject : r->rsubject);
			push_str(L, "body", r->m.template ? r->rtext : r->m.body);
			push_str(L, "template", r->m.template);
			push_str(L, "locale", r->m.locale ? r->m.locale : r->rlocale);
			push_str(L, "render_error", r->rerror);
			lua_pushboolean(L, r->m.survey);
			lua_setfield(L, -2, "survey");
			lua_pushboolean(L, r->customer_mail);
			lua_setfield(L, -2, "to_customer");
			lua_newtable(L);
			if (r->m.vars) {
				json_t *o = json_loads(r->m.vars, 0, NULL);
				const char *key;
				json_t *v;
				json_object_foreach (o, key, v) {
					if (json_is_string(v)) {
						lua_pushstring(L, json_string_value(v));
						lua_setfield(L, -2, key);
					}
				}
				json_decref(o);
			}
			lua_setfield(L, -2, "vars");
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	recs_clear(x);
}

/* c.clock(ms): sets the clock where the test starts (before anything ran). */
static int c_clock(lua_State *L)
{
	struct runner *x = runner_of(L);

	x->now = (int64_t)luaL_checkinteger(L, 1);
	x->clock_set = true;
	for (int i = 0; i < x->rules->nrules; i++)
		if (x->rules->rules[i].kind == WAFA_RULE_OFFER)
			x->next_round = x->now; /* the first round where the test starts */
	return 0;
}

/* c.advance(ms) -> what happened up to ms */
static int c_advance(lua_State *L)
{
	struct runner *x = runner_of(L);
	int64_t to = (int64_t)luaL_checkinteger(L, 1);
	int err;

	if (to < x->now)
		return luaL_error(L, "the clock cannot go back");
	err = advance(x, to);
	if (err == -ELOOP)
		return luaL_error(L, "more than %d steps fired in one move of the clock: "
		                     "a runaway series?", MAX_STEPS);
	if (err)
		return luaL_error(L, "out of memory");
	push_recs(L, x);
	return 1;
}

static struct wafa_ticket *find_ticket(struct runner *x, int64_t id)
{
	for (size_t i = 0; i < x->nt; i++)
		if (x->tickets[i]->id == id)
			return x->tickets[i];
	return NULL;
}

/* Builds a ticket from base (or nothing) and the columns in the table at
 * idx: strings (false: NULL) and timestamps in ms (false: NULL).  The Lua
 * side has checked names and values; whatever else is refused here. */
static int build(lua_State *L, int idx, const struct wafa_ticket *base, int64_t id,
                 struct wafa_ticket **out)
{
	const char *sv[WAFA_T_NSTR] = { 0 };
	int64_t tv[WAFA_T_NTIME];
	struct wafa_ticket *t;
	size_t total = 0;
	char *w;

	for (int i = 0; i < WAFA_T_NTIME; i++)
		tv[i] = base ? base->time[i] : WAFA_NO_TIME;
	for (int i = 0; i < WAFA_T_NSTR; i++)
		sv[i] = base ? base->str[i] : NULL;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
		int si = -1, ti = wafa_ticket_time_index(k);
		for (int i = 0; i < WAFA_T_NSTR && ti < 0; i++)
			if (strcmp(k, wafa_ticket_str_names[i]) == 0)
				si = i;
		if (si < 0 && ti < 0)
			return luaL_error(L, "unknown ticket column \"%s\"", k);
		if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
			if (si >= 0)
				sv[si] = NULL;
			else
				tv[ti] = WAFA_NO_TIME;
		} else if (si >= 0 && lua_type(L, -1) == LUA_TSTRING) {
			sv[si] = lua_tostring(L, -1);
		} else if (ti >= 0 && lua_isinteger(L, -1)) {
			tv[ti] = (int64_t)lua_tointeger(L, -1);
		} else {
			return luaL_error(L, "ticket column \"%s\": unexpected %s", k,
			                  luaL_typename(L, -1));
		}
		lua_pop(L, 1);
	}
	/* the strings stay alive in the table (and base) until copied */
	for (int i = 0; i < WAFA_T_NSTR; i++)
		if (sv[i])
			total += strlen(sv[i]) + 1;
	t = wafa_ticket_alloc(total, &w);
	if (!t)
		return -ENOMEM;
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		if (!sv[i])
			continue;
		size_t n = strlen(sv[i]);
		memcpy(w, sv[i], n + 1);
		t->str[i] = w;
		w += n + 1;
	}
	memcpy(t->time, tv, sizeof(tv));
	t->id = id;
	t->retry_at = WAFA_NO_TIME;
	*out = t;
	return 0;
}

/* c.ticket(columns) -> id, what happened */
static int c_ticket(lua_State *L)
{
	struct runner *x = runner_of(L);
	struct wafa_ticket *t = NULL;
	int64_t id;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "id");
	id = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : x->next_id;
	lua_pop(L, 1);
	lua_pushnil(L);
	lua_setfield(L, 1, "id");
	if (find_ticket(x, id))
		return luaL_error(L, "there is already a ticket %I", (lua_Integer)id);
	if (x->nt == x->tcap) {
		size_t cap = x->tcap ? x->tcap * 2 : 16;
		struct wafa_ticket **grown = realloc(x->tickets, cap * sizeof(*grown));
		int64_t *jn, *lb;
		if (grown)
			x->tickets = grown;
		jn = grown ? realloc(x->jnext, cap * sizeof(*jn)) : NULL;
		if (jn)
			x->jnext = jn;
		lb = jn ? realloc(x->lastbr, cap * sizeof(*lb)) : NULL;
		if (!lb)
			return luaL_error(L, "out of memory");
		x->lastbr = lb;
		x->tcap = cap;
	}
	if (build(L, 1, NULL, id, &t) != 0)
		return luaL_error(L, "out of memory");
	x->jnext[x->nt] = INT64_MAX;
	x->lastbr[x->nt] = WAFA_NO_TIME;
	x->tickets[x->nt++] = t;
	if (id >= x->next_id)
		x->next_id = id + 1;
	/* as the daemon first sees a ticket (note_status): one not in a working
	 * status, or paused by a raw status or a function, has changed to it,
	 * when it was solved or last updated */
	int st = wafa_ticket_status(t);
	uint32_t paused = wafa_rules_pauses(x->rules, t);
	if ((st != WAFA_S_NEW && st != WAFA_S_OPEN) || paused) {
		int64_t at = t->time[WAFA_T_UPDATED_AT];
		if ((st == WAFA_S_SOLVED || st == WAFA_S_CLOSED) &&
		    t->time[WAFA_T_SOLVED_AT] != WAFA_NO_TIME)
			at = t->time[WAFA_T_SOLVED_AT];
		if (wafa_ticket_add_state(t, at == WAFA_NO_TIME ? x->now : at, WAFA_S_UNKNOWN, st,
		                          paused))
			x->oom = true;
	}
	schedule(x, t);
	if (advance(x, x->now) != 0)
		return luaL_error(L, "out of memory");
	lua_pushinteger(L, (lua_Integer)id);
	push_recs(L, x);
	return 2;
}

/* c.change(id, columns) -> what happened */
static int c_change(lua_State *L)
{
	struct runner *x = runner_of(L);
	struct wafa_ticket *t = find_ticket(x, (int64_t)luaL_checkinteger(L, 1)), *fresh = NULL;
	uint32_t prev_paused, paused;
	int prev;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (!t)
		return luaL_error(L, "no ticket %I in this test", luaL_checkinteger(L, 1));
	if (build(L, 2, t, t->id, &fresh) != 0)
		return luaL_error(L, "out of memory");
	prev = wafa_ticket_status(t);
	prev_paused = wafa_ticket_paused(t);
	wafa_ticket_replace(t, fresh);
	/* the daemon asks the pause functions again on each change (note_status) */
	paused = wafa_rules_pauses(x->rules, t);
	if ((wafa_ticket_status(t) != prev || paused != prev_paused) &&
	    wafa_ticket_add_state(t, x->now, prev, wafa_ticket_status(t), paused) != 0)
		x->oom = true;
	schedule(x, t);
	if (advance(x, x->now) != 0)
		return luaL_error(L, "out of memory");
	push_recs(L, x);
	return 1;
}

/* c.answer(ticket id or 0, score, comment or nil) -> what happened: the
 * customer answers the last survey mail (to that ticket), now; each rule
 * with on_answer that covers the ticket acts on it, as the daemon's
 * core/fire/answer.c does (once per survey mail: a second answer to the
 * same mail changes the score, and no rule acts again). */
static int c_answer(lua_State *L)
{
	struct runner *x = runner_of(L);
	int64_t want = (int64_t)luaL_checkinteger(L, 1);
	int score = (int)luaL_checkinteger(L, 2);
	const char *comment = luaL_optstring(L, 3, NULL);
	struct surveyed *sv = NULL;
	struct wafa_ticket *t;
	size_t k;

	for (k = x->nsurv; k > 0; k--)
		if (want == 0 || x->surveys[k - 1].ticket == want) {
			sv = &x->surveys[k - 1];
			break;
		}
	if (!sv && want)
		return luaL_error(L, "no survey mail (mail { ..., survey = true }) has been sent for "
		                     "ticket %I yet", (lua_Integer)want);
	if (!sv)
		return luaL_error(L, "no survey mail (mail { ..., survey = true }) has been sent yet");
	if (!(t = find_ticket(x, sv->ticket)))
		return luaL_error(L, "no ticket %I in this test", (lua_Integer)sv->ticket);
	if (!sv->answered) {
		sv->answered = true;
		set_clock(x);
		struct wafa_answer a = {
			.mail_id = (int64_t)k, .score = score, .comment = comment,
			.survey = sv->template, .rule = x->rules->rules[sv->rule].name, .at = x->now,
		};
		for (int ri = 0; ri < x->rules->nrules; ri++) {
			const struct wafa_rule *rule = &x->rules->rules[ri];
			char detail[64];
			if (rule->answer_ref == LUA_NOREF || rule->kind == WAFA_RULE_OFFER ||
			    !wafa_rules_applies(x->rules, ri, t) ||
			    wafa_rules_run_answer(x->rules, t, ri, &a) != 0)
				continue;
			size_t first = x->nrec;
			snprintf(detail, sizeof(detail), "score %d", score);
			step_rec(x, t, ri, -1, WAFA_EV_ANSWER, x->now, detail);
			take_mails(x, t->id, t->str[WAFA_T_CUSTOMER_EMAIL],
			           t->str[WAFA_T_CUSTOMER_LOCALE], ri, -1, x->now);
			for (size_t i = first; i < x->nrec; i++)
				x->recs[i].answer = true;
		}
	}
	if (advance(x, x->now) != 0)
		return luaL_error(L, "out of memory");
	push_recs(L, x);
	return 1;
}

/* c.note(text): a TAP comment */
static int c_note(lua_State *L)
{
	tap_line(runner_of(L)->out, "# ", luaL_checkstring(L, 1));
	return 0;
}

/* c.row(id) -> the ticket as rules see it (t) */
static int c_row(lua_State *L)
{
	struct wafa_ticket *t = find_ticket(runner_of(L), (int64_t)luaL_checkinteger(L, 1));

	if (!t)
		return luaL_error(L, "no ticket %I in this test", luaL_checkinteger(L, 1));
	wafa_ticket_push(L, t);
	return 1;
}

/* ---- files, tests and TAP ---- */

struct suite {
	struct runner x;
	struct wafa_sandbox *tsb;
	int lib_ref;
	int count, failed;
	FILE *out;
};

static int open_lib(lua_State *L)
{
	struct suite *s = lua_touserdata(L, 1);
	static const luaL_Reg fns[] = {
		{ "where", wafa_rules_lua_where },   { "duration", wafa_rules_lua_duration }, { "parse_time", c_parse_time },
		{ "format_time", c_format_time }, { "rules", c_rules }, { "reset", c_reset },
		{ "now", c_now },       { "clock", c_clock },       { "advance", c_advance },
		{ "ticket", c_ticket }, { "change", c_change },     { "row", c_row },
		{ "note", c_note },     { "answer", c_answer },
		{ NULL, NULL },
	};

	if (luaL_loadbufferx(L, wafa_ruletest_lua, sizeof(wafa_ruletest_lua) - 1,
	                     "=rules/ruletest.lua", "t"))
		return lua_error(L);
	wafa_sandbox_push_api(s->tsb);
	lua_newtable(L);
	for (const luaL_Reg *f = fns; f->name; f++) {
		lua_pushlightuserdata(L, &s->x);
		lua_pushcclosure(L, f->func, 1);
		lua_setfield(L, -2, f->name);
	}
	lua_call(L, 2, 1);
	s->lib_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* One line for TAP: no line breaks. */
static void tap_line(FILE *out, const char *prefix, const char *text)
{
	fputs(prefix, out);
	for (const char *p = text; *p; p++) {
		if (*p == '\n')
			fprintf(out, "\n%s", prefix[0] == '#' ? "#   " : "  ");
		else if (*p != '\r')
			fputc(*p, out);
	}
	fputc('\n', out);
}

static void result(struct suite *s, bool ok, const char *name, const char *path)
{
	s->count++;
	if (!ok)
		s->failed++;
	fprintf(s->out, "%s %d - ", ok ? "ok" : "not ok", s->count);
	for (const char *p = name; *p; p++)
		fputc(*p == '\n' || *p == '#' ? ' ' : *p, s->out);
	fprintf(s->out, " (%s)\n", base_name(path));
}

/* Runs one test file: each test it declares is a TAP point; a file that
 * cannot be loaded, or declares none, is one failing point. */
static void run_file(struct suite *s, const char *path)
{
	lua_State *L = wafa_sandbox_state(s->tsb);
	char why[2048] = "", twhy[512];
	int err = wafa_sandbox_run_file(s->tsb, path, why, sizeof(why), NULL);
	int n;

	fprintf(s->out, "# %s\n", path);
	/* lib.take(): the tests the file declared */
	lua_rawgeti(L, LUA_REGISTRYINDEX, s->lib_ref);
	lua_getfield(L, -1, "take");
	if (wafa_sandbox_call(s->tsb, 0, 1, twhy, sizeof(twhy)) != 0) {
		lua_pop(L, 1);
		result(s, false, "the test library failed", path);
		tap_line(s->out, "# ", twhy);
		return;
	}
	if (err) {
		lua_pop(L, 2);
		result(s, false, "the test file could not be run", path);
		tap_line(s->out, "# ", why);
		return;
	}
	n = (int)luaL_len(L, -1);
	if (n == 0) {
		result(s, false, "the file declares no test (like test \"name\" { function(t) ... end })",
		       path);
	}
	for (int i = 1; i <= n; i++) {
		const char *name;
		int nf;
		lua_geti(L, -1, i);
		lua_getfield(L, -1, "name");
		name = lua_tostring(L, -1);
		lua_pop(L, 1);
		runner_reset(&s->x);
		wafa_log_set_hook(on_log, &s->x);
		lua_getfield(L, -3, "run");
		lua_pushvalue(L, -2);
		lua_pushstring(L, path);
		err = wafa_sandbox_call(s->tsb, 2, 1, why, sizeof(why));
		wafa_log_set_hook(NULL, NULL);
		wafa_clock_set_offset(0);
		if (err) {
			result(s, false, name ? name : "?", path);
			if (err == -ETIME) {
				lua_getfield(L, -1, "where");
				fprintf(s->out, "# %sthe test ran longer than %d s and was stopped (a loop "
				                "that does not end?)\n",
				        lua_tostring(L, -1) ? lua_tostring(L, -1) : "", TEST_BUDGET_MS / 1000);
				lua_pop(L, 1);
			} else {
				tap_line(s->out, "# ", why);
			}
			lua_pop(L, 1);
			continue;
		}
		nf = (int)luaL_len(L, -1);
		result(s, nf == 0, name ? name : "?", path);
		for (int k = 1; k <= nf; k++) {
			lua_geti(L, -1, k);
			tap_line(s->out, "# ", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
			lua_pop(L, 1);
		}
		lua_pop(L, 2);
	}
	lua_pop(L, 2);
	runner_reset(&s->x);
}

static bool is_test_name(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 9 && strcmp(name + len - 9, "_test.lua") == 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends path, or the *_test.lua files in it when it is a directory. */
static int collect(const char *path, char ***files, size_t *n, size_t *cap, FILE *err)
{
	struct stat st;
	size_t first = *n;
	char *trimmed = NULL;

	if (stat(path, &st) != 0) {
		fprintf(err, "wafa test: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (S_ISDIR(st.st_mode)) {
		size_t len = strlen(path);
		/* "rules/" names its files rules/NAME, not rules//NAME */
		while (len > 1 && path[len - 1] == '/')
			len--;
		if (!(trimmed = strndup(path, len)))
			return -ENOMEM;
		path = trimmed;
		DIR *d = opendir(path);
		struct dirent *e;
		if (!d) {
			int code = -errno;
			fprintf(err, "wafa test: %s: %s\n", path, strerror(errno));
			free(trimmed);
			return code;
		}
		while ((e = readdir(d)) != NULL) {
			if (!is_test_name(e->d_name))
				continue;
			if (*n == *cap) {
				char **grown = realloc(*files, (*cap = *cap ? *cap * 2 : 16) * sizeof(**files));
				if (!grown)
					break;
				*files = grown;
			}
			if (asprintf(&(*files)[*n], "%s/%s", path, e->d_name) < 0)
				break;
			(*n)++;
		}
		closedir(d);
		free(trimmed);
		if (*n > first)
			qsort(*files + first, *n - first, sizeof(**files), by_name);
		return 0;
	}
	if (*n == *cap) {
		char **grown = realloc(*files, (*cap = *cap ? *cap * 2 : 16) * sizeof(**files));
		if (!grown)
			return -ENOMEM;
		*files = grown;
	}
	if (!((*files)[*n] = strdup(path)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Runs the test files against the rules in rules_dir: TAP to out, problems
 * with the rule files to err.  Returns EX_OK when every test passed, 1 when
 * one failed, or EX_SOFTWARE; *failed is the number of failing points. */
static int run_suite(const struct wafa_config *cfg, const char *rules_dir, char *const *files,
                     size_t nfiles, FILE *out, FILE *err, int *failed)
{
	struct wafa_sandbox *rsb = NULL;
	struct suite s = { 0 };
	int code = EX_OK, problems;

	if (wafa_sandbox_open((size_t)cfg->rules_memory, cfg->rules_budget_ms, &rsb) != 0 ||
	    wafa_rules_open(rsb, &s.x.rules) != 0 ||
	    wafa_sandbox_open((size_t)cfg->rules_memory, TEST_BUDGET_MS, &s.tsb) != 0) {
		fprintf(err, "wafa test: cannot start the Lua host\n");
		code = EX_SOFTWARE;
		goto out;
	}
	s.x.cfg = cfg;
	s.x.out = out;
	s.out = out;
	wafa_heap_init(&s.x.heap);
	fprintf(out, "TAP version 13\n");
	problems = wafa_rules_load_dir(s.x.rules, rules_dir, err);
	if (problems != 0) {
		/* the tests still run, with the rules that loaded */
		result(&s, false, "the rule files load", rules_dir);
		fprintf(out, "# %s: %d rule file(s) with problems (reported above): their rules "
		             "are left out, as wafa run would\n",
		        rules_dir, problems < 0 ? 1 : problems);
	}
	lua_State *L = wafa_sandbox_state(s.tsb);
	lua_pushcfunction(L, open_lib);
	lua_pushlightuserdata(L, &s);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		fprintf(err, "wafa test: the test library failed to load: %s\n", lua_tostring(L, -1));
		code = EX_SOFTWARE;
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++)
		run_file(&s, files[i]);
	fprintf(out, "1..%d\n", s.count);
	if (s.failed)
		fprintf(out, "# %d of %d failed\n", s.failed, s.count);
	else
		fprintf(out, "# all %d passed\n", s.count);
	code = s.failed ? 1 : EX_OK;
	if (fflush(out) != 0)
		code = EX_IOERR;
out:
	*failed = s.failed;
	runner_reset(&s.x);
	free(s.x.tickets);
	free(s.x.recs);
	free(s.x.offers);
	free(s.x.surveys);
	free(s.x.jnext);
	free(s.x.lastbr);
	wafa_heap_free(&s.x.heap);
	wafa_rules_close(s.x.rules);
	wafa_sandbox_close(rsb);
	wafa_sandbox_close(s.tsb);
	return code;
}

/* ---- wafa test --mutate ---- */

static int read_all(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	int err = 0;

	if (!f)
		return -errno;
	do {
		if (n == cap) {
			char *grown = realloc(buf, (cap = cap ? cap * 2 : 8192) + 1);
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			buf = grown;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	if (ferror(f))
		err = -EIO;
	else
		buf[n] = '\0';
out:
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*text = buf;
	*len = n;
	return 0;
}

static int write_all(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	int err = 0;

	if (!f)
		return -errno;
	if (fwrite(text, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

/* The rule files of dir (NAME.lua, not NAME_test.lua), sorted. */
static int rule_files(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0 ||
		    is_test_name(e->d_name))
			continue;
		if (*n == cap) {
			char **grown = realloc(*names, (cap = cap ? cap * 2 : 16) * sizeof(**names));
			if (!grown)
				break;
			*names = grown;
		}
		if (!((*names)[*n] = strdup(e->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(**names), by_name);
	return 0;
}

/* A copy of the rule files of dir in a new temporary directory, with name's
 * text replaced by text.  Returns the directory (malloc'ed) or NULL. */
static char *mutant_dir(const char *dir, char *const *names, size_t n, const char *name,
                        const char *text, size_t len)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL, *file = NULL, *orig = NULL;
	size_t olen;

	if (asprintf(&path, "%s/wafa-mutate.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int err;
		if (asprintf(&file, "%s/%s", path, names[i]) < 0)
			goto fail;
		if (strcmp(names[i], name) == 0) {
			err = write_all(file, text, len);
		} else {
			char *src = NULL;
			if (asprintf(&src, "%s/%s", dir, names[i]) < 0)
				goto fail;
			err = read_all(src, &orig, &olen);
			free(src);
			if (!err)
				err = write_all(file, orig, olen);
			free(orig);
			orig = NULL;
		}
		free(file);
		file = NULL;
		if (err)
			goto fail;
	}
	return path;
fail:
	free(file);
	return path; /* removed by the caller, which sees the suite fail to load */
}

static void remove_dir(const char *path, char *const *names, size_t n)
{
	char *file;

	for (size_t i = 0; i < n; i++) {
		if (asprintf(&file, "%s/%s", path, names[i]) >= 0) {
			unlink(file);
			free(file);
		}
	}
	rmdir(path);
}

/* Changes each duration and percentage literal of the rule files in turn
 * and runs the tests against the changed rules: a change no test notices is
 * a "not ok" point.  The tests must pass unchanged first. */
static int mutate(const struct wafa_config *cfg, char *const *files, size_t nfiles, FILE *out,
                  FILE *err)
{
	FILE *null = fopen("/dev/null", "w");
	char **names = NULL;
	size_t nnames = 0;
	int code = EX_OK, failed = 0, count = 0, survived = 0;

	if (!null) {
		fprintf(err, "wafa test: /dev/null: %s\n", strerror(errno));
		return EX_OSERR;
	}
	code = run_suite(cfg, cfg->rules_dir, files, nfiles, null, null, &failed);
	if (code != EX_OK) {
		fprintf(err, "wafa test --mutate: the tests do not pass as the rules are (%d failing); "
		             "run wafa test and fix them first\n",
		        failed);
		code = code == 1 ? 1 : code;
		goto out;
	}
	if (rule_files(cfg->rules_dir, &names, &nnames) != 0) {
		fprintf(err, "wafa test: %s: %s\n", cfg->rules_dir, strerror(errno));
		code = EX_NOINPUT;
		goto out;
	}
	fprintf(out, "TAP version 13\n");
	for (size_t i = 0; i < nnames; i++) {
		struct wafa_mutation *ms = NULL;
		size_t nm = 0, len;
		char *src = NULL, *path = NULL;

		if (asprintf(&path, "%s/%s", cfg->rules_dir, names[i]) < 0 ||
		    read_all(path, &src, &len) != 0 || wafa_mutation_find(src, len, &ms, &nm) != 0) {
			fprintf(err, "wafa test: %s: cannot read it\n", path ? path : names[i]);
			code = EX_IOERR;
			free(path);
			free(src);
			continue;
		}
		fprintf(out, "# %s: %zu duration and percentage literal(s)\n", path, nm);
		for (size_t k = 0; k < nm; k++) {
			char *text = wafa_mutation_apply(src, len, &ms[k]), *dir = NULL;
			int mfailed = 0, mcode;
			if (!text || !(dir = mutant_dir(cfg->rules_dir, names, nnames, names[i], text,
			                                strlen(text)))) {
				free(text);
				code = EX_OSERR;
				fprintf(err, "wafa test: cannot write a changed copy of %s\n", path);
				break;
			}
			mcode = run_suite(cfg, dir, files, nfiles, null, null, &mfailed);
			remove_dir(dir, names, nnames);
			free(dir);
			free(text);
			count++;
			if (mcode == EX_OK) {
				survived++;
				fprintf(out, "not ok %d - %s:%d \"%s\" -> \"%s\": no test noticed\n", count,
				        names[i], ms[k].line, ms[k].from, ms[k].to);
			} else {
				fprintf(out, "ok %d - %s:%d \"%s\" -> \"%s\": %d test(s) failed\n", count,
				        names[i], ms[k].line, ms[k].from, ms[k].to, mfailed);
			}
		}
		free(ms);
		free(src);
		free(path);
	}
	fprintf(out, "1..%d\n", count);
	if (survived)
		fprintf(out, "# %d of %d change(s) survived: the tests do not pin those numbers "
		             "(add a test that fails with the changed value)\n",
		        survived, count);
	else
		fprintf(out, "# every one of %d change(s) made a test fail\n", count);
	if (code == EX_OK && survived)
		code = 1;
out:
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	fclose(null);
	return code;
}

int wafa_ruletest_run(const struct wafa_config *cfg, char *const *paths, int npaths, bool mutations,
                      FILE *out, FILE *err)
{
	char **files = NULL;
	size_t nfiles = 0, cap = 0;
	int code = EX_OK, failed;

	for (int i = 0; i < npaths; i++)
		if (collect(paths[i], &files, &nfiles, &cap, err) != 0)
			code = EX_NOINPUT;
	if (npaths == 0 && collect(cfg->rules_dir, &files, &nfiles, &cap, err) != 0)
		code = EX_NOINPUT;
	if (code)
		goto out;
	if (nfiles == 0) {
		fprintf(err, "wafa test: no tests found in %s (test files are named NAME_test.lua)\n",
		        npaths ? paths[0] : cfg->rules_dir);
		code = EX_NOINPUT;
		goto out;
	}
	if (mutations)
		code = mutate(cfg, files, nfiles, out, err);
	else
		code = run_suite(cfg, cfg->rules_dir, files, nfiles, out, err, &failed);
out:
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	return code;
}
