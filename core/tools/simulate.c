#include "tools/simulate.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <sysexits.h>
#include <time.h>

#include "sync/adapter.h"
#include "time/clock.h"
#include "time/deadline.h"
#include "base/duration.h"
#include "store/journal.h"
#include "base/log.h"
#include "store/outbox.h"
#include "store/pg.h"
#include "lua/rules.h"
#include "lua/sandbox.h"
#include "store/schema.h"
#include "time/zone.h"

/* One line of output. */
struct sim_event {
	int64_t at;
	int64_t due; /* a step held by notify_in: when it fell due */
	int64_t ticket_id;
	int rule;
	int order; /* within one firing: the step, then its mails */
	enum wafa_event event;
	int phase;
	int step; /* 1-based within warnings, or within the breach chain */
	char *to, *subject;
	bool customer, held; /* a mail: to the ticket's customer; held by the go-live guard */
};

struct sim {
	struct sim_event *ev;
	size_t n, cap;
	int oom;
	/* --first-start: every step due by now fires now; when wafa first had
	 * each rule (now for one it never had), for the go-live guard */
	bool first_start;
	int64_t *since;
	const struct wafa_config *cfg;
};

static int64_t real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wafa_simulate_parse_time(const char *text, int64_t *ms)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, oh = 0, om = 0;
	char sign = 0;
	struct tm tm = { 0 };

	if (strncmp(text, "now", 3) == 0) {
		int64_t off = 0;
		const char *why;
		if (text[3] && ((text[3] != '+' && text[3] != '-') ||
		                wafa_duration_parse(text + 4, &off, &why) != 0))
			return -EINVAL;
		*ms = real_now() + (text[3] == '-' ? -off : off);
		return 0;
	}
	if (sscanf(text, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		return -EINVAL;
	text += n;
	if (*text == 'T' || *text == 't' || *text == ' ') {
		if (sscanf(text + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &n) != 3)
			return -EINVAL;
		text += 1 + n;
		if (*text == '.') /* fractions of a second are ignored */
			while (*++text >= '0' && *text <= '9')
				;
		if (*text == 'Z' || *text == 'z') {
			text++;
		} else if (*text == '+' || *text == '-') {
			sign = *text;
			if (sscanf(text + 1, "%2d:%2d%n", &oh, &om, &n) != 2)
				return -EINVAL;
			text += 1 + n;
		} else {
			return -EINVAL;
		}
	}
	if (*text || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ms = (int64_t)timegm(&tm) * 1000;
	if (sign)
		*ms += (sign == '+' ? -1 : 1) * ((int64_t)oh * 3600 + om * 60) * 1000;
	return 0;
}

/* RFC 3339: in UTC ("Z"), or with tz, local with its offset ("+03:30"). */
static void format_time(int64_t ms, const char *tz, char *buf, size_t len)
{
	time_t s = (time_t)wafa_ms_to_s(ms);
	struct wafa_local l;
	struct tm tm;

	if (!tz || wafa_zone_split(ms, tz, &l) != 0) {
		gmtime_r(&s, &tm);
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
		return;
	}
	int64_t local = wafa_zone_days_from_civil(l.year, l.month, l.day) * 86400 +
	                l.hour * 3600 + l.minute * 60 + l.second;
	int64_t off = (local - (int64_t)s) / 60;
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", l.year, l.month, l.day,
	         l.hour, l.minute, l.second, off < 0 ? '-' : '+', (int)(llabs(off) / 60),
	         (int)(llabs(off) % 60));
}

static struct sim_event *add(struct sim *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct sim_event *grown = realloc(s->ev, cap * sizeof(*grown));
		if (!grown) {
			s->oom = 1;
			return NULL;
		}
		s->ev = grown;
		s->cap = cap;
	}
	memset(&s->ev[s->n], 0, sizeof(s->ev[0]));
	return &s->ev[s->n++];
}

static int by_time(const void *a, const void *b)
{
	const struct sim_event *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->ticket_id != y->ticket_id)
		return x->ticket_id < y->ticket_id ? -1 : 1;
	if (x->rule != y->rule)
		return x->rule - y->rule;
	return x->order - y->order;
}

/* The step number of a phase: within the warnings, or within the breach chain. */
static int step_of(const struct wafa_rule *rule, int phase)
{
	int n = 0;
	bool warn = rule->phases[phase].kind == WAFA_PHASE_WARN;

	for (int p = 0; p <= phase; p++)
		n += (rule->phases[p].kind == WAFA_PHASE_WARN) == warn;
	return n;
}

/* Simulates one ticket under every rule. */
static void simulate_ticket(struct wafa_rules *r, struct wafa_ticket *t, int64_t from, int64_t to,
                            struct sim *s)
{
	int64_t base = real_now();

	for (int i = 0; i < r->nrules; i++) {
		const struct wafa_rule *rule = &r->rules[i];
		size_t max = (size_t)rule->nphases + WAFA_TRACK_SEGS + 16;
		struct wafa_event_rec *ev = malloc(max * sizeof(*ev));
		struct wafa_track tr;
		int n, order = 0;
		bool stopped = false;

		/* when/target/at see the clock at the start of the simulation */
		wafa_clock_set_offset(s->first_start ? 0 : from - base);
		wafa_deadline_track(r, i, t, &tr);
		if (!ev) {
			s->oom = 1;
			break;
		}
		n = wafa_deadline_timeline(rule, &tr, t, ev, (int)max);
		for (int k = 0; k < n && !s->oom; k++) {
			struct sim_event *e;
			if ((!s->first_start && ev[k].at < from) || ev[k].at > to)
				continue;
			if (!(e = add(s)))
				break;
			e->at = ev[k].at;
			e->due = ev[k].due;
			e->ticket_id = t->id;
			e->rule = i;
			e->order = order++;
			e->event = ev[k].event;
			e->phase = ev[k].phase;
			e->step = ev[k].phase >= 0 ? step_of(rule, ev[k].phase) : 0;
			if (ev[k].phase < 0)
				continue;
			/* the action, on virtual time: what it would mail then */
			struct wafa_firing f = {
				.instance = tr.instance, .start = tr.start, .target = tr.target,
				.deadline = wafa_deadline_breach(rule, &tr), .due = ev[k].due,
			};
			wafa_clock_set_offset(s->first_start ? 0 : ev[k].at - real_now());
			/* a follow-up's until ends the series, unless skips this one */
			if (stopped || wafa_rules_until(r, t, i, ev[k].phase, &f) == 1) {
				e->event = WAFA_EV_CANCELLED;
				stopped = true;
				continue;
			}
			if (wafa_rules_unless(r, t, i, ev[k].phase, &f) == 1) {
				e->event = WAFA_EV_CANCELLED;
				continue;
			}
			if (wafa_rules_run(r, t, i, ev[k].phase, &f) != 0)
				continue;
			for (size_t m = 0; m < r->nmails && !s->oom; m++) {
				struct sim_event *me = add(s);
				if (!me)
					break;
				me->at = ev[k].at;
				me->due = ev[k].due;
				me->ticket_id = t->id;
				me->rule = i;
				me->order = order++;
				me->event = WAFA_EV_MAIL;
				me->phase = ev[k].phase;
				me->step = step_of(rule, ev[k].phase);
				me->to = strdup(r->mails[m].to);
				me->customer = wafa_outbox_is_customer(r->mails[m].to,
				                                       t->str[WAFA_T_CUSTOMER_EMAIL]);
				if (s->first_start) {
					int64_t limit = me->customer ? s->cfg->go_live_limit_ms
					                             : s->cfg->go_live_limit_agents_ms;
					me->held = limit > 0 && ev[k].due < s->since[i] - limit;
				}
				if (r->mails[m].subject) {
					me->subject = strdup(r->mails[m].subject);
				} else if (asprintf(&me->subject, "[template %s]",
				                    r->mails[m].template ? r->mails[m].template : "?") < 0) {
					me->subject = NULL;
				}
				if (!me->to || !me->subject)
					s->oom = 1;
			}
		}
		free(ev);
		if (s->oom)
			break;
	}
	wafa_clock_set_offset(0);
}

static void put_json(FILE *out, const char *str)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static void print(const struct wafa_rules *r, const struct sim *s, bool json, const char *tz,
                  FILE *out)
{
	int wrule = 4;
	char head[64];

	for (int i = 0; i < r->nrules; i++) {
		int w = (int)strlen(r->rules[i].name);
		if (w > wrule)
			wrule = w;
	}
	if (!json)
		fprintf(out, "%-*s  %8s  %-*s  %-9s  %-14s  %s\n", tz ? 25 : 20,
		        (snprintf(head, sizeof(head), "TIME (%s)", tz ? tz : "UTC"), head), "TICKET", wrule,
		        "RULE", "EVENT", "STEP", "MAIL");
	for (size_t i = 0; i < s->n; i++) {
		const struct sim_event *e = &s->ev[i];
		const struct wafa_rule *rule = &r->rules[e->rule];
		char when[32];
		format_time(e->at, tz, when, sizeof(when));
		if (json) {
			fprintf(out, "{\"at\":\"%s\",\"ticket\":%" PRId64 ",\"rule\":", when, e->ticket_id);
			put_json(out, rule->name);
			fprintf(out, ",\"event\":\"%s\"", wafa_event_names[e->event]);
			if (e->phase >= 0) {
				fprintf(out, ",\"step\":%d,\"phase\":", e->step);
				put_json(out, rule->phases[e->phase].name);
				if (e->due != e->at) {
					format_time(e->due, tz, when, sizeof(when));
					fprintf(out, ",\"due\":\"%s\"", when);
				}
			}
			if (e->event == WAFA_EV_MAIL) {
				fputs(",\"to\":", out);
				put_json(out, e->to ? e->to : "");
				fputs(",\"subject\":", out);
				put_json(out, e->subject ? e->subject : "");
			}
			fputs("}\n", out);
			continue;
		}
		fprintf(out, "%-*s  %8" PRId64 "  %-*s  %-9s  %-14s", tz ? 25 : 20, when, e->ticket_id,
		        wrule,
		        rule->name, wafa_event_names[e->event],
		        e->phase >= 0 ? rule->phases[e->phase].name : "");
		if (e->event == WAFA_EV_MAIL)
			fprintf(out, "  %s: %s", e->to ? e->to : "", e->subject ? e->subject : "");
		fputc('\n', out);
	}
}

/* --first-start: the mails a first start now would send and hold back, by
 * rule and audience. */
static void print_first_start(const struct wafa_config *cfg, const struct wafa_rules *r,
                              const struct sim *s, FILE *out)
{
	int64_t send = 0, held = 0;
	char c[32], a[32];
	int wrule = 4;

	for (int i = 0; i < r->nrules; i++)
		if ((int)strlen(r->rules[i].name) > wrule)
			wrule = (int)strlen(r->rules[i].name);
	fprintf(out, "%-*s  %-8s  %8s  %8s\n", wrule, "RULE", "AUDIENCE", "SEND", "HELD");
	for (int i = 0; i < r->nrules; i++)
		for (int customer = 1; customer >= 0; customer--) {
			int64_t n[2] = { 0, 0 };
			for (size_t k = 0; k < s->n; k++)
				if (s->ev[k].event == WAFA_EV_MAIL && s->ev[k].rule == i &&
				    s->ev[k].customer == customer)
					n[s->ev[k].held]++;
			if (n[0] + n[1] == 0)
				continue;
			fprintf(out, "%-*s  %-8s  %8" PRId64 "  %8" PRId64 "\n", wrule, r->rules[i].name,
			        customer ? "customer" : "agent", n[0], n[1]);
			send += n[0];
			held += n[1];
		}
	fprintf(out, "a first start now would send %" PRId64 " mail(s) and hold back %" PRId64
	             " ([contact] go_live_limit = %s, go_live_limit_agents = %s)\n",
	        send, held,
	        cfg->go_live_limit_ms ? wafa_duration_format(cfg->go_live_limit_ms, c, sizeof(c))
	                              : "off",
	        cfg->go_live_limit_agents_ms
	            ? wafa_duration_format(cfg->go_live_limit_agents_ms, a, sizeof(a)) : "off");
}

/* Runs sql with params; NULL (reported) unless it returned rows. */
static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params,
                       const char *what)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "wafa simulate: %s: %s\n", what, wafa_pg_result_error(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

int wafa_simulate_run(const struct wafa_config *cfg, int64_t from, int64_t to, bool json,
                      bool first_start, const char *tz, FILE *out)
{
	struct wafa_sandbox *sb = NULL;
	struct wafa_rules *rules = NULL;
	struct wafa_adapter adapter = { 0 };
	struct wafa_ticket **tickets = NULL;
	struct sim s = { .first_start = first_start, .cfg = cfg };
	PGconn *conn = NULL;
	PGresult *res = NULL, *hist = NULL;
	char *schema = NULL;
	int code = EX_OK, n = 0, problems;

	if (wafa_sandbox_open((size_t)cfg->rules_memory, cfg->rules_budget_ms, &sb) != 0 ||
	    wafa_rules_open(sb, &rules) != 0) {
		fprintf(stderr, "wafa simulate: cannot start the Lua host\n");
		code = EX_SOFTWARE;
		goto out;
	}
	problems = wafa_rules_load_dir(rules, cfg->rules_dir, stderr);
	if (problems < 0) {
		code = EX_CONFIG;
		goto out;
	}
	if (problems > 0)
		fprintf(stderr, "wafa simulate: %d rule file(s) with problems left out\n", problems);
	conn = PQconnectdb(cfg->dsn);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "wafa simulate: cannot connect to the database: %s",
		        PQerrorMessage(conn));
		code = EX_UNAVAILABLE;
		goto out;
	}
	/* read-only: nothing it runs can write */
	PQclear(PQexec(conn, "SET default_transaction_read_only = on"));
	if (wafa_adapter_init(&adapter, cfg) != 0 || !(schema = wafa_pg_quote_ident(cfg->schema))) {
		code = EX_OSERR;
		goto out;
	}
	const char *sp[] = { schema };
	PQclear(PQexecParams(conn, wafa_schema_search_path_sql, 1, NULL, sp, NULL, NULL, 0));
	const char *vp[] = { cfg->view };
	if (!(res = query(conn, adapter.columns_sql, 1, vp, "reading the view's columns"))) {
		code = EX_UNAVAILABLE;
		goto out;
	}
	if (wafa_adapter_build(&adapter, res) != 0) {
		fprintf(stderr, "wafa simulate: [helpdesk] view %s does not exist\n", cfg->view);
		code = EX_CONFIG;
		goto out;
	}
	PQclear(res);
	if (!(res = query(conn, adapter.all_sql, 0, NULL, "reading the tickets"))) {
		code = EX_CONFIG;
		goto out;
	}
	/* paused time and reopens come from wafa's journal, where there is one */
	hist = PQexec(conn, wafa_journal_load_sql);
	if (PQresultStatus(hist) != PGRES_TUPLES_OK) {
		fprintf(stderr, "wafa simulate: no status_log in schema %s (run `wafa setup`): "
		                "pauses before now are not known\n",
		        cfg->schema);
		PQclear(hist);
		hist = NULL;
	}
	if (first_start && !(s.since = calloc((size_t)rules->nrules + 1, sizeof(*s.since)))) {
		code = EX_OSERR;
		goto out;
	}
	for (int i = 0; first_start && i < rules->nrules; i++)
		s.since[i] = to;
	if (first_start) {
		/* where wafa has run, the rules it had since then */
		PGresult *seen = PQexec(conn, wafa_schema_rules_seen_sql);
		for (int k = 0; PQresultStatus(seen) == PGRES_TUPLES_OK && k < PQntuples(seen); k++)
			for (int i = 0; i < rules->nrules; i++)
				if (strcmp(rules->rules[i].name, PQgetvalue(seen, k, 0)) == 0)
					s.since[i] = strtoll(PQgetvalue(seen, k, 1), NULL, 10);
		PQclear(seen);
	}
		tickets = calloc((size_t)PQntuples(res) + 1, sizeof(*tickets));
	if (!tickets) {
		code = EX_OSERR;
		goto out;
	}
	for (int i = 0, h = 0; i < PQntuples(res); i++) {
		const char *why;
		struct wafa_ticket *t;
		if (wafa_ticket_from_row(res, i, &t, &why) != 0) {
			fprintf(stderr, "wafa simulate: skipping a malformed ticket row (id=%s): %s\n",
			        PQgetvalue(res, i, 0), why);
			continue;
		}
		/* both are ordered by ticket id */
		for (; hist && h < PQntuples(hist); h++) {
			int64_t id = strtoll(PQgetvalue(hist, h, 0), NULL, 10);
			int st_from, st_to;
			if (id < t->id)
				continue;
			if (id > t->id)
				break;
			st_from = PQgetisnull(hist, h, 2) ? -1 : wafa_status_index(PQgetvalue(hist, h, 2));
			st_to = wafa_status_index(PQgetvalue(hist, h, 3));
			uint32_t paused = wafa_journal_paused_bits(
				PQgetisnull(hist, h, 4) ? NULL : PQgetvalue(hist, h, 4),
				wafa_rules_pause_bit);
			if (wafa_ticket_add_state(t, strtoll(PQgetvalue(hist, h, 1), NULL, 10),
			                          st_from < 0 ? WAFA_S_UNKNOWN : st_from,
			                          st_to < 0 ? WAFA_S_OPEN : st_to, paused) != 0)
				break;
		}
		/* the raw and function pauses as the ticket stands, as the daemon
		 * records them when it reads the row (note_status): the same
		 * decision, so what is simulated is what runs */
		uint32_t now_paused = wafa_rules_pauses(rules, t);
		if (now_paused != wafa_ticket_paused(t)) {
			int64_t at = t->time[WAFA_T_UPDATED_AT];
			int st = wafa_ticket_status(t);
			if (at == WAFA_NO_TIME)
				at = wafa_clock_now_ms();
			if (wafa_ticket_add_state(t, at, t->nhist ? t->hist[t->nhist - 1].to
			                                          : WAFA_S_UNKNOWN,
			                          st, now_paused) != 0) {
				wafa_ticket_free(t);
				s.oom = true;
				break;
			}
		}
		tickets[n++] = t;
	}
	PQfinish(conn);
	conn = NULL;
	for (int i = 0; i < n && !s.oom; i++)
		simulate_ticket(rules, tickets[i], from, to, &s);
	if (s.oom) {
		fprintf(stderr, "wafa simulate: out of memory\n");
		code = EX_OSERR;
		goto out;
	}
	if (s.n) /* qsort wants a base even for nothing */
		qsort(s.ev, s.n, sizeof(*s.ev), by_time);
	if (first_start)
		print_first_start(cfg, rules, &s, out);
	else
		print(rules, &s, json, tz, out);
	/* answers come from customers: there are none to simulate */
	for (int i = 0; i < rules->nrules; i++)
		if (rules->rules[i].answer_ref != LUA_NOREF)
			fprintf(stderr, "wafa simulate: %s: on_answer is not simulated (survey answers "
			                "come from customers; try them in `wafa test` with t.answer)\n",
			        rules->rules[i].where);
	if (fflush(out) != 0)
		code = EX_IOERR;
out:
	for (size_t i = 0; i < s.n; i++) {
		free(s.ev[i].to);
		free(s.ev[i].subject);
	}
	free(s.ev);
	free(s.since);
	for (int i = 0; i < n; i++)
		wafa_ticket_free(tickets[i]);
	free(tickets);
	PQclear(res);
	PQclear(hist);
	if (conn)
		PQfinish(conn);
	free(schema);
	wafa_adapter_free(&adapter);
	wafa_rules_close(rules);
	wafa_sandbox_close(sb);
	return code;
}
