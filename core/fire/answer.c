/* Answers: the rules' on_answer(t, a) for each stored survey answer.  The
 * web listener records an answer and tells the instance at once (kick); a
 * poll every ANSWER_POLL_MS catches those stored while no leader ran (or by
 * another instance's listener).  Each round asks for the answers that some
 * rule with on_answer has not acted on (no journal step 'answer' of that
 * rule, ticket and survey mail), reads their tickets as they are now, runs
 * each rule whose when(t) covers the ticket, and records the step with its
 * mails in one statement keyed rule/ticket/answer/MAIL_ID: a restart or a
 * standby's takeover never acts twice on one answer.  A rule that does not
 * cover the ticket, or fails, is recorded too (with no mail), so it is not
 * asked again.  Answers older than ANSWER_MAX_AGE_MS are never acted on;
 * those from long before wafa first had the rule are held back by the
 * go-live guard like any step's mail.  Part of one instance (instance.h). */

#include "instance.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define ANSWER_PAGE 500 /* pending_sql's LIMIT */

/* answers not yet acted on, oldest first: $1 the rules with on_answer
 * (array), $2 the oldest age acted on (ms) */
static const char pending_sql[] =
	"SELECT s.mail_id, s.ticket_id, s.rule, s.score, s.comment, "
	"       (extract(epoch FROM s.answered_at) * 1000)::int8, o.template, r.name "
	"  FROM survey s CROSS JOIN unnest($1::text[]) AS r(name) "
	"  LEFT JOIN outbox o ON o.id = s.mail_id "
	" WHERE s.answered_at > now() - make_interval(secs => $2::float8 / 1000) "
	"   AND s.ticket_id <> 0 "
	"   AND NOT EXISTS (SELECT 1 FROM journal j WHERE j.rule = r.name "
	"                      AND j.ticket_id = s.ticket_id AND j.step = 'answer' "
	"                      AND j.instance = s.mail_id) "
	" ORDER BY s.answered_at, s.mail_id, r.name LIMIT 500";

enum { P_MAIL, P_TICKET, P_SRULE, P_SCORE, P_COMMENT, P_AT, P_TEMPLATE, P_RULE };

struct round {
	struct wafa_instance *d;
	unsigned rules_gen;
	PGresult *pending;
	bool full; /* a whole page: more may wait */
};

static void round_end(struct wafa_instance *d, bool again)
{
	d->answers_busy = false;
	if ((again || d->answers_again) && !d->stopping && d->leader)
		uv_timer_start(&d->answer_timer, wafa__answers_tick, 0, ANSWER_POLL_MS);
	d->answers_again = false;
}

static void round_free(struct round *rd)
{
	PQclear(rd->pending);
	free(rd);
}

static void on_inserted(PGresult *res, void *arg)
{
	struct round *rd = arg;
	struct wafa_instance *d = rd->d;
	bool again = false;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "answer", "recording the actions on survey answers: %s; tried "
		         "again at the next look", wafa_pg_result_error(res));
	} else {
		/* an on_answer may notify {} and ticket {} too */
		wafa__firing_queued(d, res);
		again = rd->full;
	}
	round_free(rd);
	round_end(d, again);
}

/* The rule's number by name, or -1 (reloaded away). */
static int rule_of(const struct wafa_rules *r, const char *name)
{
	for (int i = 0; i < r->nrules; i++)
		if (strcmp(r->rules[i].name, name) == 0)
			return i;
	return -1;
}

/* The tickets of the round's answers are read: each answer goes through its
 * rule, and the steps with their mails go in. */
static void on_tickets(PGresult *res, void *arg)
{
	struct round *rd = arg;
	struct wafa_instance *d = rd->d;
	PGresult *p = rd->pending;
	struct wafa_outbox_batch ob;
	const char *params[WAFA_OUTBOX_NPARAMS];
	int len[WAFA_OUTBOX_NPARAMS], fmt[WAFA_OUTBOX_NPARAMS];
	int err;

	if (rd->rules_gen != d->rules_gen || d->stopping) {
		round_free(rd);
		round_end(d, !d->stopping);
		return;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_WARN, "answer", "reading the tickets of survey answers: %s; tried again "
		         "at the next look", wafa_pg_result_error(res));
		round_free(rd);
		round_end(d, false);
		return;
	}
	wafa_outbox_batch_init(&ob);
	for (int i = 0; i < PQntuples(p); i++) {
		int64_t tid = strtoll(PQgetvalue(p, i, P_TICKET), NULL, 10);
		int64_t mail_id = strtoll(PQgetvalue(p, i, P_MAIL), NULL, 10);
		int ri = rule_of(d->rules, PQgetvalue(p, i, P_RULE));
		struct wafa_ticket *t = NULL;
		char key[512];
		if (ri < 0)
			continue;
		const struct wafa_rule *rule = &d->rules->rules[ri];
		for (int r = 0; r < PQntuples(res); r++)
			if (strtoll(PQgetvalue(res, r, 0), NULL, 10) == tid) {
				/* the ticket as it is now, into the index too */
				t = wafa__mirror_take_row(d, res, r, false, true);
				break;
			}
		struct wafa_answer a = {
			.mail_id = mail_id, .score = atoi(PQgetvalue(p, i, P_SCORE)),
			.comment = PQgetisnull(p, i, P_COMMENT) ? NULL : PQgetvalue(p, i, P_COMMENT),
			.survey = PQgetisnull(p, i, P_TEMPLATE) ? NULL : PQgetvalue(p, i, P_TEMPLATE),
			.rule = PQgetvalue(p, i, P_SRULE), .at = strtoll(PQgetvalue(p, i, P_AT), NULL, 10),
		};
		snprintf(key, sizeof(key), "%s/%" PRId64 "/answer/%" PRId64, rule->name, tid, mail_id);
		struct wafa_outbox_firing of = {
			.key = key, .ticket_id = tid, .rule = rule->name, .phase = "answer",
			.kind = wafa_rule_kind_names[rule->kind], .event = "answer",
			.instance = mail_id, .due = a.at,
		};
		const struct wafa_mail_req *mails = NULL;
		size_t nmails = 0;
		if (!t) {
			wafa_log(WAFA_INFO, "answer", "rule=%s ticket=%" PRId64 " mail=%" PRId64 ": the "
			         "ticket is not in the view; the answer is not acted on", rule->name, tid,
			         mail_id);
		} else if (!wafa_rules_applies(d->rules, ri, t)) {
			wafa_log(WAFA_DEBUG, "answer", "rule=%s ticket=%" PRId64 " mail=%" PRId64 ": not "
			         "the rule's ticket (when)", rule->name, tid, mail_id);
		} else if (wafa_rules_run_answer(d->rules, t, ri, &a) == 0) {
			char why_c[256], why_a[256];
			of.customer_email = t->str[WAFA_T_CUSTOMER_EMAIL];
			of.customer_locale = t->str[WAFA_T_CUSTOMER_LOCALE];
			of.customer_tz = t->str[WAFA_T_CUSTOMER_TZ];
			of.thread_message_id = t->str[WAFA_T_THREAD_MESSAGE_ID];
			of.held_customer = wafa__mirror_go_live_held(d, ri, a.at, d->cfg->go_live_limit_ms,
			                                             "[contact] go_live_limit", why_c,
			                                             sizeof(why_c));
			of.held_agent = wafa__mirror_go_live_held(d, ri, a.at,
			                                          d->cfg->go_live_limit_agents_ms,
			                                          "[contact] go_live_limit_agents", why_a,
			                                          sizeof(why_a));
			mails = d->rules->mails;
			nmails = d->rules->nmails;
			wafa_log(WAFA_INFO, "answer", "rule=%s ticket=%" PRId64 " mail=%" PRId64 ": score "
			         "%d: %zu mail(s)%s", rule->name, tid, mail_id, a.score, nmails,
			         of.held_customer || of.held_agent ? " (held back by the go-live guard)"
			                                           : "");
		}
		/* else: logged by the rules host; recorded, not asked again */
		if (wafa_outbox_batch_add(&ob, &of, mails, nmails) != 0) {
			wafa_log(WAFA_ERROR, "answer", "out of memory");
			break;
		}
		if (t) {
			if (wafa__mirror_schedule(d, t, true) != 0)
				wafa_log(WAFA_ERROR, "answer", "ticket=%" PRId64 ": out of memory", tid);
			wafa_ticket_strip(t);
		}
	}
	if (ob.nfires == 0) {
		wafa_outbox_batch_free(&ob);
		round_free(rd);
		round_end(d, false);
		return;
	}
	err = wafa_outbox_batch_params(&ob, d->cfg->from, params, len, fmt);
	if (err == 0)
		err = wafa_pg_query_binary(d->work, wafa_outbox_fire_sql, WAFA_OUTBOX_NPARAMS,
		                           params, len, fmt, on_inserted, rd);
	wafa_outbox_batch_free(&ob);
	if (err != 0) {
		wafa_log(WAFA_ERROR, "answer", "cannot record the actions on survey answers: %s",
		         wafa_strerror(err));
		round_free(rd);
		round_end(d, false);
	}
}

static void on_pending(PGresult *res, void *arg)
{
	struct round *rd = arg;
	struct wafa_instance *d = rd->d;
	char *ids = NULL;
	size_t len = 0;
	FILE *f;
	int err = -ENOMEM;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || rd->rules_gen != d->rules_gen ||
	    d->stopping) {
		if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
			wafa_log(WAFA_WARN, "answer", "looking for survey answers: %s",
			         wafa_pg_result_error(res));
		free(rd);
		round_end(d, false);
		return;
	}
	if (PQntuples(res) == 0) {
		free(rd);
		round_end(d, false);
		return;
	}
	/* res is cleared by pg after this callback: keep a copy */
	rd->pending = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	rd->full = PQntuples(res) == ANSWER_PAGE;
	if (rd->pending && (f = open_memstream(&ids, &len))) {
		fputc('{', f);
		for (int i = 0; i < PQntuples(res); i++)
			fprintf(f, "%s%s", i ? "," : "", PQgetvalue(res, i, P_TICKET));
		fputc('}', f);
		if (fclose(f) == 0) {
			const char *p[] = { ids };
			err = wafa_pg_query(d->work, d->adapter.ids_sql, 1, p, on_tickets, rd);
		}
	}
	free(ids);
	if (err) {
		wafa_log(WAFA_ERROR, "answer", "cannot read the tickets of survey answers: %s",
		         wafa_strerror(err));
		round_free(rd);
		round_end(d, false);
	}
}

void wafa__answers_tick(uv_timer_t *timer)
{
	struct wafa_instance *d = timer->data;
	struct round *rd;
	char *names = NULL, age[32];
	size_t len = 0;
	FILE *f;
	int n = 0, err = -ENOMEM;

	if (d->stopping || !d->leader || !d->ready || !d->rules || !d->adapter.ids_sql ||
	    !wafa_pg_connected(d->work))
		return;
	if (d->answers_busy) {
		d->answers_again = true;
		return;
	}
	if (!(f = open_memstream(&names, &len)))
		return;
	fputc('{', f);
	for (int i = 0; i < d->rules->nrules; i++)
		if (d->rules->rules[i].answer_ref != LUA_NOREF &&
		    d->rules->rules[i].kind != WAFA_RULE_OFFER)
			wafa__firing_array_element(f, d->rules->rules[i].name, n++ == 0);
	fputc('}', f);
	if (fclose(f) != 0 || n == 0 || !(rd = calloc(1, sizeof(*rd)))) {
		free(names);
		return;
	}
	rd->d = d;
	rd->rules_gen = d->rules_gen;
	snprintf(age, sizeof(age), "%" PRId64, (int64_t)ANSWER_MAX_AGE_MS);
	const char *p[] = { names, age };
	err = wafa_pg_query(d->work, pending_sql, 2, p, on_pending, rd);
	free(names);
	if (err) {
		free(rd);
		return;
	}
	d->answers_busy = true;
}

void wafa__answers_kick(void *arg)
{
	struct wafa_instance *d = arg;

	if (d->stopping || !d->leader)
		return; /* the leader's poll finds it */
	uv_timer_start(&d->answer_timer, wafa__answers_tick, 0, ANSWER_POLL_MS);
}
