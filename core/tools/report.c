#include "tools/report.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <unicode/unum.h>
#include <unicode/ustring.h>

#include "time/calendar.h"
#include "tools/chart.h"
#include "mail/datefmt.h"
#include "store/pg.h"
#include "lua/sandbox.h"
#include "store/schema.h"
#include "sync/ticket.h"

#define WEEK_MS (7 * 86400 * INT64_C(1000))
#define MAX_WEEKS 530 /* ten years */

/* ---- words, in English, Arabic and Persian ---- */

enum word {
	W_TITLE, W_PERIOD, W_CH_COMPLIANCE, W_CH_BREACHES, W_CH_SCORES, W_SLAS, W_SLA, W_QUEUE,
	W_PRIORITY, W_OWNER, W_STARTED, W_MET, W_BREACHED, W_COMPLIANCE, W_GOAL, W_MEDIAN, W_P90,
	W_TIME_TO, W_FIRST_RESPONSE, W_RESOLUTION, W_WEEKS, W_WEEK_OF, W_PROMISES, W_MADE, W_KEPT,
	W_MOVED, W_BROKEN, W_FOLLOWUPS, W_SURVEYS_SENT, W_ANSWERED, W_RESPONSE_RATE, W_CSAT,
	W_SCORE, W_OPTOUTS, W_MAILS, W_QUEUED, W_SENT, W_FAILED, W_SKIPPED, W_ALL, W_NONE,
	W_NO_DATA, W_HOURS, W_MINUTES, W_SURVEYS, W_DASHED_GOAL, W_COUNT, W_BUSINESS, W_RULE,
	W_CSAT_BY, W_MEAN, W_N
};

static const char *const words_en[W_N] = {
	"Service report", "Period", "Compliance per week against the goal", "Breaches by queue",
	"Survey scores", "Service levels", "SLA", "Queue", "Priority", "Owner", "Started", "Met",
	"Breached", "Compliance", "Goal", "Median", "p90", "Time to", "first response",
	"resolution", "Week by week", "Week of", "Promises", "Made", "Kept", "Moved", "Broken",
	"Follow-ups sent", "Surveys sent", "Answered", "Response rate", "CSAT", "Score",
	"Opt-outs", "Mails by status", "Queued", "Sent", "Failed", "Skipped", "All", "(none)",
	"No data in this period.", "h", "min", "Surveys", "dashed line: the goal", "Count",
	"and p90: business time from start to stop, by each SLA's calendar, paused time left out",
	"Rule", "Satisfaction by", "Mean score",
};

static const char *const words_ar[W_N] = {
	"تقرير الخدمة", "الفترة", "نسبة الالتزام أسبوعيًا مقابل الهدف", "الإخلالات حسب الطابور",
	"درجات الاستبيان", "مستويات الخدمة", "الاتفاقية", "الطابور", "الأولوية", "المسؤول",
	"بدأت", "التُزم بها", "أُخلّ بها", "نسبة الالتزام", "الهدف", "الوسيط", "المئين ٩٠",
	"الوقت حتى", "أول رد", "الحل", "أسبوعًا بأسبوع", "أسبوع", "الوعود", "قُطعت", "وُفي بها",
	"أُجّلت", "أُخلفت", "رسائل المتابعة المرسلة", "الاستبيانات المرسلة", "أُجيب عنها",
	"معدل الاستجابة", "رضا العملاء", "الدرجة", "إلغاءات الاشتراك", "الرسائل حسب الحالة",
	"في الانتظار", "أُرسلت", "فشلت", "تُخطّيت", "الكل", "(لا يوجد)",
	"لا بيانات في هذه الفترة.", "س", "د", "الاستبيانات", "الخط المتقطع: الهدف", "العدد",
	"والمئين ٩٠: وقت العمل من البدء حتى التوقف، حسب تقويم كل اتفاقية، دون وقت الإيقاف",
	"القاعدة", "رضا العملاء حسب", "متوسط الدرجة",
};

static const char *const words_fa[W_N] = {
	"گزارش خدمات", "دوره", "درصد رعایت هفتگی در برابر هدف", "نقض‌ها بر اساس صف",
	"امتیازهای نظرسنجی", "سطوح خدمت", "توافق‌نامه", "صف", "اولویت", "مسئول", "شروع‌شده",
	"رعایت‌شده", "نقض‌شده", "درصد رعایت", "هدف", "میانه", "صدک ۹۰", "زمان تا", "اولین پاسخ",
	"حل", "هفته به هفته", "هفتهٔ", "وعده‌ها", "داده‌شده", "وفاشده", "جابه‌جاشده", "شکسته",
	"پیگیری‌های ارسال‌شده", "نظرسنجی‌های ارسال‌شده", "پاسخ‌داده‌شده", "نرخ پاسخ",
	"رضایت مشتری", "امتیاز", "لغو اشتراک‌ها", "نامه‌ها بر اساس وضعیت", "در صف", "ارسال‌شده",
	"ناموفق", "ردشده", "همه", "(هیچ)", "در این دوره داده‌ای نیست.", "ساعت", "دقیقه",
	"نظرسنجی‌ها", "خط‌چین: هدف", "تعداد", "و صدک ۹۰: وقت کاری از شروع تا توقف، با تقویم هر توافق‌نامه، بی زمان توقف",
	"قاعده", "رضایت مشتری بر اساس", "میانگین امتیاز",
};

/* How the report speaks: its words, digits and direction. */
struct lang {
	const char *const *w;
	const char *locale;
	bool rtl;
	UNumberFormat *num, *pct;
};

static void lang_open(struct lang *l, const char *locale)
{
	UErrorCode st = U_ZERO_ERROR;

	l->locale = locale && *locale ? locale : "en";
	l->w = strncmp(l->locale, "ar", 2) == 0 ? words_ar
	     : strncmp(l->locale, "fa", 2) == 0 ? words_fa : words_en;
	l->rtl = l->w != words_en;
	char id[64];
	snprintf(id, sizeof(id), "%s", l->locale);
	for (char *p = id; *p; p++)
		if (*p == '-')
			*p = '_';
	l->num = unum_open(UNUM_DECIMAL, NULL, 0, id, NULL, &st);
	if (U_FAILURE(st))
		l->num = NULL;
	st = U_ZERO_ERROR;
	l->pct = unum_open(UNUM_PERCENT, NULL, 0, id, NULL, &st);
	if (U_FAILURE(st))
		l->pct = NULL;
	if (l->num)
		unum_setAttribute(l->num, UNUM_MAX_FRACTION_DIGITS, 1);
	if (l->pct)
		unum_setAttribute(l->pct, UNUM_MAX_FRACTION_DIGITS, 1);
}

static void lang_close(struct lang *l)
{
	if (l->num)
		unum_close(l->num);
	if (l->pct)
		unum_close(l->pct);
}

/* v in the locale's digits into buf; pct: v is a share (0.95 -> 95%). */
static const char *fmt_num(const struct lang *l, double v, bool pct, char *buf, size_t len)
{
	UChar u[64];
	UErrorCode st = U_ZERO_ERROR;
	UNumberFormat *f = pct ? l->pct : l->num;
	int32_t n = f ? unum_formatDouble(f, v, u, 64, NULL, &st) : 0;

	if (f && U_SUCCESS(st)) {
		st = U_ZERO_ERROR;
		u_strToUTF8(buf, (int32_t)len, NULL, u, n, &st);
		if (U_SUCCESS(st) && st != U_STRING_NOT_TERMINATED_WARNING)
			return buf;
	}
	snprintf(buf, len, pct ? "%.1f%%" : "%g", pct ? v * 100 : v);
	return buf;
}

/* A business duration: minutes under an hour, else hours to a tenth. */
static const char *fmt_dur(const struct lang *l, int64_t ms, char *buf, size_t len)
{
	char n[48];

	if (ms < 3600000)
		snprintf(buf, len, "%s %s", fmt_num(l, round(ms / 60000.0), false, n, sizeof(n)),
		         l->w[W_MINUTES]);
	else
		snprintf(buf, len, "%s %s", fmt_num(l, round(ms / 360000.0) / 10, false, n, sizeof(n)),
		         l->w[W_HOURS]);
	return buf;
}

static const char *fmt_date(const struct lang *l, int64_t ms, char *buf, size_t len)
{
	if (wafa_datefmt_format(ms, l->locale, "UTC", WAFA_DATE, buf, len) != 0)
		snprintf(buf, len, "%" PRId64, ms / 1000);
	return buf;
}

/* ---- what the records say ---- */

struct group {
	char *key; /* a queue, priority or owner; NULL: the SLA's total */
	int started, met, breached;
	int64_t *times; /* business ms from start to stop, of instances that stopped */
	size_t ntimes, cap;
};

struct sla {
	char *name;
	const struct wafa_rule *rule; /* NULL: not in the rules any more */
	struct group total;
	struct group *groups;
	int ngroups;
	int *w_started, *w_met, *w_breached;
};

struct queue_count {
	char *queue;
	int breaches;
};

struct data {
	int64_t from, to;
	int nweeks;
	struct sla *slas;
	int nslas;
	struct queue_count *queues;
	int nqueues;
	int *p_made, *p_kept, *p_moved, *p_broken;
	int *followups, *surveys, *answered, *optouts;
	/* answered surveys by --by group (the survey's rule by default) */
	struct csat { char *key; int scores[5]; } *csat;
	int ncsat;
	int *mails[4]; /* queued, sent, failed, skipped */
	int scores[5];
};

static const char *const mail_statuses[4] = { "queued", "sent", "failed", "skipped" };

static int *weeks_new(struct data *d)
{
	return calloc((size_t)d->nweeks, sizeof(int));
}

static void group_free(struct group *g)
{
	free(g->key);
	free(g->times);
}

static void data_free(struct data *d)
{
	for (int i = 0; i < d->nslas; i++) {
		struct sla *s = &d->slas[i];
		free(s->name);
		group_free(&s->total);
		for (int j = 0; j < s->ngroups; j++)
			group_free(&s->groups[j]);
		free(s->groups);
		free(s->w_started);
		free(s->w_met);
		free(s->w_breached);
	}
	free(d->slas);
	for (int i = 0; i < d->nqueues; i++)
		free(d->queues[i].queue);
	free(d->queues);
	free(d->p_made);
	free(d->p_kept);
	free(d->p_moved);
	free(d->p_broken);
	free(d->followups);
	free(d->surveys);
	free(d->answered);
	free(d->optouts);
	for (int i = 0; i < d->ncsat; i++)
		free(d->csat[i].key);
	free(d->csat);
	for (int i = 0; i < 4; i++)
		free(d->mails[i]);
}

static const struct wafa_rule *find_rule(const struct wafa_rules *r, const char *name)
{
	for (int i = 0; r && i < r->nrules; i++)
		if (strcmp(r->rules[i].name, name) == 0)
			return &r->rules[i];
	return NULL;
}

static struct sla *sla_for(struct data *d, const struct wafa_rules *rules, const char *name)
{
	for (int i = 0; i < d->nslas; i++)
		if (strcmp(d->slas[i].name, name) == 0)
			return &d->slas[i];
	struct sla *grown = realloc(d->slas, (size_t)(d->nslas + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	d->slas = grown;
	struct sla *s = &d->slas[d->nslas];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	s->rule = find_rule(rules, name);
	s->w_started = weeks_new(d);
	s->w_met = weeks_new(d);
	s->w_breached = weeks_new(d);
	d->nslas++;
	if (!s->name || !s->w_started || !s->w_met || !s->w_breached)
		return NULL;
	return s;
}

static struct group *group_for(struct sla *s, const char *key)
{
	for (int i = 0; i < s->ngroups; i++)
		if (strcmp(s->groups[i].key, key) == 0)
			return &s->groups[i];
	struct group *grown = realloc(s->groups, (size_t)(s->ngroups + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	s->groups = grown;
	memset(&s->groups[s->ngroups], 0, sizeof(s->groups[0]));
	if (!(s->groups[s->ngroups].key = strdup(key)))
		return NULL;
	return &s->groups[s->ngroups++];
}

static int add_time(struct group *g, int64_t ms)
{
	if (g->ntimes == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		int64_t *grown = realloc(g->times, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		g->times = grown;
		g->cap = cap;
	}
	g->times[g->ntimes++] = ms;
	return 0;
}

static int queue_breach(struct data *d, const char *queue)
{
	for (int i = 0; i < d->nqueues; i++)
		if (strcmp(d->queues[i].queue, queue) == 0) {
			d->queues[i].breaches++;
			return 0;
		}
	struct queue_count *grown = realloc(d->queues, (size_t)(d->nqueues + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	d->queues = grown;
	if (!(d->queues[d->nqueues].queue = strdup(queue)))
		return -ENOMEM;
	d->queues[d->nqueues++].breaches = 1;
	return 0;
}

/* Business ms in [a, b) by the rule's calendar (wall time without one). */
static int64_t elapsed(const struct wafa_rule *rule, int64_t a, int64_t b)
{
	if (b <= a)
		return 0;
	return rule && rule->cal ? wafa_calendar_elapsed(rule->cal, a, b) : b - a;
}

/* One SLA or promise instance, as its journal rows tell it. */
struct instance {
	char rule[256], kind[16], group[256], queue[256];
	int week;
	int64_t start, met_at, paused_at, paused_ms;
	bool met, breached, moved;
};

static int instance_done(struct data *d, const struct wafa_rules *rules, struct instance *in)
{
	int w = in->week;

	if (strcmp(in->kind, "promise") == 0) {
		d->p_made[w]++;
		if (in->breached)
			d->p_broken[w]++;
		else if (in->met)
			d->p_kept[w]++;
		else if (in->moved)
			d->p_moved[w]++;
		return 0;
	}
	struct sla *s = sla_for(d, rules, in->rule);
	struct group *g = NULL;
	if (!s)
		return -ENOMEM;
	if (in->group[0] && !(g = group_for(s, in->group)))
		return -ENOMEM;
	s->total.started++;
	s->w_started[w]++;
	if (g)
		g->started++;
	if (in->breached) {
		s->total.breached++;
		s->w_breached[w]++;
		if (g)
			g->breached++;
		if (queue_breach(d, in->queue) != 0)
			return -ENOMEM;
	} else if (in->met) {
		s->total.met++;
		s->w_met[w]++;
		if (g)
			g->met++;
	}
	if (in->met) {
		int64_t paused = in->paused_ms;
		if (in->paused_at != WAFA_NO_TIME)
			paused += elapsed(s->rule, in->paused_at, in->met_at);
		int64_t t = elapsed(s->rule, in->start, in->met_at) - paused;
		if (t < 0)
			t = 0;
		if (add_time(&s->total, t) != 0 || (g && add_time(g, t) != 0))
			return -ENOMEM;
	}
	return 0;
}

static int week_of(const struct data *d, int64_t ms)
{
	int64_t w = (ms - d->from) / WEEK_MS;
	return w < 0 ? 0 : w >= d->nweeks ? d->nweeks - 1 : (int)w;
}

static PGresult *query(PGconn *conn, const char *sql, const struct data *d, char *why,
                       size_t whylen)
{
	char from[32], to[32];
	const char *p[] = { from, to };

	snprintf(from, sizeof(from), "%" PRId64, d->from);
	snprintf(to, sizeof(to), "%" PRId64, d->to);
	PGresult *res = PQexecParams(conn, sql, 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(why, whylen, "reading wafa's records: %s", wafa_pg_result_error(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

#define IN_PERIOD(col)                                                                     \
	col " >= to_timestamp($1::float8 / 1000) AND " col " < to_timestamp($2::float8 / 1000)"
#define WEEK(col) "floor((extract(epoch FROM " col ") * 1000 - $1::float8) / 604800000)::int"

static int gather_instances(PGconn *conn, const struct wafa_config *cfg,
                            const struct wafa_rules *rules, enum wafa_report_by by,
                            struct data *d, char *why, size_t whylen)
{
	char *view = wafa_pg_quote_ident(cfg->view), *sql = NULL;
	PGresult *res = NULL;
	struct instance in;
	char cur[600] = "";
	int err = 0;

	if (!view)
		return -ENOMEM;
	if (asprintf(&sql,
	             "SELECT j.rule, j.kind, j.ticket_id, j.instance, j.event, coalesce(j.detail, ''), "
	             "       (extract(epoch FROM j.at) * 1000)::int8, "
	             "       (extract(epoch FROM j.started) * 1000)::int8, "
	             "       t.queue, t.priority, t.owner_email "
	             "  FROM (SELECT *, coalesce(min(at) FILTER (WHERE event = 'started') OVER ("
	             "                              PARTITION BY rule, ticket_id, instance ORDER BY at, id "
	             "                              ROWS BETWEEN UNBOUNDED PRECEDING "
	             "                                       AND UNBOUNDED FOLLOWING), "
	             "                            to_timestamp(instance)) AS started "
	             "          FROM journal WHERE kind IN ('sla', 'promise') "
	             /* an on_answer's step: its instance is a survey mail's id */
	             "                         AND event <> 'answer') j "
	             "  LEFT JOIN %s t ON t.id = j.ticket_id "
	             " WHERE " IN_PERIOD("j.started")
	             " ORDER BY j.rule, j.ticket_id, j.instance, j.at, j.id",
	             view) < 0) {
		sql = NULL;
		err = -ENOMEM;
		goto out;
	}
	/* row by row: a busy month is hundreds of thousands of rows */
	char from[32], to[32];
	const char *params[] = { from, to };
	snprintf(from, sizeof(from), "%" PRId64, d->from);
	snprintf(to, sizeof(to), "%" PRId64, d->to);
	if (!PQsendQueryParams(conn, sql, 2, NULL, params, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(conn)) {
		snprintf(why, whylen, "reading wafa's journal: %s", PQerrorMessage(conn));
		err = -EIO;
		goto out;
	}
	while ((res = PQgetResult(conn))) {
		const int i = 0;
		char key[600];
		if (PQresultStatus(res) != PGRES_SINGLE_TUPLE) {
			if (PQresultStatus(res) != PGRES_TUPLES_OK && !err) {
				snprintf(why, whylen, "reading wafa's journal: %s",
				         wafa_pg_result_error(res));
				err = -EIO;
			}
			PQclear(res);
			continue;
		}
		if (err) {
			PQclear(res);
			continue;
		}
		const char *event = PQgetvalue(res, i, 4);
		int64_t at = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		snprintf(key, sizeof(key), "%s/%s/%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 2),
		         PQgetvalue(res, i, 3));
		if (strcmp(key, cur) != 0) {
			if (cur[0])
				err = instance_done(d, rules, &in);
			snprintf(cur, sizeof(cur), "%s", key);
			memset(&in, 0, sizeof(in));
			snprintf(in.rule, sizeof(in.rule), "%s", PQgetvalue(res, i, 0));
			snprintf(in.kind, sizeof(in.kind), "%s", PQgetvalue(res, i, 1));
			in.start = strtoll(PQgetvalue(res, i, 7), NULL, 10);
			in.week = week_of(d, in.start);
			in.paused_at = WAFA_NO_TIME;
			int col = by == WAFA_BY_QUEUE ? 8 : by == WAFA_BY_PRIORITY ? 9 : 10;
			if (by != WAFA_BY_RULE)
				snprintf(in.group, sizeof(in.group), "%s",
				         PQgetisnull(res, i, col) || !*PQgetvalue(res, i, col)
				                 ? "\x01" : PQgetvalue(res, i, col));
			snprintf(in.queue, sizeof(in.queue), "%s",
			         PQgetisnull(res, i, 8) || !*PQgetvalue(res, i, 8) ? "\x01"
			                                                           : PQgetvalue(res, i, 8));
		}
		if (strcmp(event, "breach") == 0) {
			in.breached = true;
		} else if (strcmp(event, "met") == 0 && !in.met) {
			in.met = true;
			in.met_at = at;
		} else if (strcmp(event, "cancelled") == 0) {
			in.moved = strcmp(PQgetvalue(res, i, 5), "moved") == 0;
		} else if (strcmp(event, "paused") == 0 && in.paused_at == WAFA_NO_TIME) {
			in.paused_at = at;
		} else if (strcmp(event, "resumed") == 0 && in.paused_at != WAFA_NO_TIME) {
			const struct wafa_rule *rule = find_rule(rules, in.rule);
			in.paused_ms += elapsed(rule, in.paused_at, at);
			in.paused_at = WAFA_NO_TIME;
		}
		PQclear(res);
	}
	res = NULL;
	if (!err && cur[0])
		err = instance_done(d, rules, &in);
out:
	PQclear(res);
	free(sql);
	free(view);
	return err;
}

/* Answered surveys by group: the ticket's queue or owner (agent) when the
 * answer came (kept with it since migration 11; an older answer, or one
 * whose ticket the view could not read then, by the view's now), its
 * priority as the view has it now, or the survey's rule ("\x01": none). */
static int gather_csat(PGconn *conn, const struct wafa_config *cfg, enum wafa_report_by by,
                       struct data *d, char *why, size_t whylen)
{
	static const char *const cols[] = {
		"s.rule",
		"CASE WHEN s.owner_email IS NULL AND s.owner_name IS NULL AND s.queue IS NULL "
		"THEN t.queue ELSE s.queue END",
		"t.priority",
		"CASE WHEN s.owner_email IS NULL AND s.owner_name IS NULL AND s.queue IS NULL "
		"THEN t.owner_email ELSE s.owner_email END",
	};
	char *view = wafa_pg_quote_ident(cfg->view), *sql = NULL;
	PGresult *res = NULL;
	int err = 0;

	if (!view)
		return -ENOMEM;
	if (asprintf(&sql,
	             "SELECT %s, s.score, count(*) FROM survey s JOIN outbox o ON o.id = s.mail_id "
	             "  LEFT JOIN %s t ON t.id = s.ticket_id "
	             " WHERE o.status = 'sent' AND " IN_PERIOD("o.sent_at")
	             "   AND s.answered_at < to_timestamp($2::float8 / 1000) "
	             " GROUP BY 1, 2 ORDER BY 1",
	             cols[by], view) < 0) {
		sql = NULL;
		err = -ENOMEM;
		goto out;
	}
	if (!(res = query(conn, sql, d, why, whylen))) {
		err = -EIO;
		goto out;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		const char *key = PQgetisnull(res, i, 0) || !*PQgetvalue(res, i, 0)
		                          ? "\x01" : PQgetvalue(res, i, 0);
		int sc = atoi(PQgetvalue(res, i, 1));
		if (sc < 1 || sc > 5)
			continue;
		if (!d->ncsat || strcmp(d->csat[d->ncsat - 1].key, key) != 0) {
			struct csat *grown = realloc(d->csat, (size_t)(d->ncsat + 1) * sizeof(*grown));
			if (!grown) {
				err = -ENOMEM;
				goto out;
			}
			d->csat = grown;
			memset(&d->csat[d->ncsat], 0, sizeof(*grown));
			if (!(d->csat[d->ncsat].key = strdup(key))) {
				err = -ENOMEM;
				goto out;
			}
			d->ncsat++;
		}
		d->csat[d->ncsat - 1].scores[sc - 1] += atoi(PQgetvalue(res, i, 2));
	}
out:
	PQclear(res);
	free(sql);
	free(view);
	return err;
}

static int csat_answered(const struct csat *c)
{
	return c->scores[0] + c->scores[1] + c->scores[2] + c->scores[3] + c->scores[4];
}

static double csat_share(const struct csat *c)
{
	int n = csat_answered(c);
	return n ? (double)(c->scores[3] + c->scores[4]) / n : NAN;
}

static double csat_mean(const struct csat *c)
{
	int n = csat_answered(c);
	return n ? (double)(c->scores[0] + 2 * c->scores[1] + 3 * c->scores[2] + 4 * c->scores[3] +
	                    5 * c->scores[4]) / n
	         : NAN;
}

static int gather_mail(PGconn *conn, struct data *d, char *why, size_t whylen)
{
	static const char mails_sql[] =
		"SELECT " WEEK("created_at") ", status, count(*) FROM outbox "
		" WHERE " IN_PERIOD("created_at") " AND kind <> 'report' GROUP BY 1, 2";
	static const char sent_sql[] =
		"SELECT " WEEK("o.sent_at") ", o.survey, count(*), "
		"       count(s.mail_id) FILTER (WHERE s.answered_at < to_timestamp($2::float8 / 1000)) "
		"  FROM outbox o LEFT JOIN survey s ON s.mail_id = o.id "
		" WHERE o.status = 'sent' AND (o.kind = 'followup' OR o.survey) AND "
		IN_PERIOD("o.sent_at") " GROUP BY 1, 2";
	static const char scores_sql[] =
		"SELECT s.score, count(*) FROM survey s JOIN outbox o ON o.id = s.mail_id "
		" WHERE o.status = 'sent' AND " IN_PERIOD("o.sent_at")
		"   AND s.answered_at < to_timestamp($2::float8 / 1000) GROUP BY 1";
	static const char optout_sql[] =
		"SELECT " WEEK("at") ", count(*) FROM optout WHERE " IN_PERIOD("at") " GROUP BY 1";
	PGresult *res;

	if (!(res = query(conn, mails_sql, d, why, whylen)))
		return -EIO;
	for (int i = 0; i < PQntuples(res); i++)
		for (int k = 0; k < 4; k++)
			if (strcmp(PQgetvalue(res, i, 1), mail_statuses[k]) == 0)
				d->mails[k][week_of(d, d->from + WEEK_MS * atoi(PQgetvalue(res, i, 0)))] +=
					atoi(PQgetvalue(res, i, 2));
	PQclear(res);
	if (!(res = query(conn, sent_sql, d, why, whylen)))
		return -EIO;
	for (int i = 0; i < PQntuples(res); i++) {
		int w = week_of(d, d->from + WEEK_MS * atoi(PQgetvalue(res, i, 0)));
		if (strcmp(PQgetvalue(res, i, 1), "t") == 0) {
			d->surveys[w] += atoi(PQgetvalue(res, i, 2));
			d->answered[w] += atoi(PQgetvalue(res, i, 3));
		} else {
			d->followups[w] += atoi(PQgetvalue(res, i, 2));
		}
	}
	PQclear(res);
	if (!(res = query(conn, scores_sql, d, why, whylen)))
		return -EIO;
	for (int i = 0; i < PQntuples(res); i++) {
		int s = atoi(PQgetvalue(res, i, 0));
		if (s >= 1 && s <= 5)
			d->scores[s - 1] += atoi(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	if (!(res = query(conn, optout_sql, d, why, whylen)))
		return -EIO;
	for (int i = 0; i < PQntuples(res); i++)
		d->optouts[week_of(d, d->from + WEEK_MS * atoi(PQgetvalue(res, i, 0)))] +=
			atoi(PQgetvalue(res, i, 1));
	PQclear(res);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct sla *)a)->name, ((const struct sla *)b)->name);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->key, ((const struct group *)b)->key);
}

static int by_breaches(const void *a, const void *b)
{
	const struct queue_count *x = a, *y = b;
	return x->breaches != y->breaches ? y->breaches - x->breaches : strcmp(x->queue, y->queue);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int gather(PGconn *conn, const struct wafa_config *cfg, const struct wafa_rules *rules,
                  const struct wafa_report_opts *o, struct data *d, char *why, size_t whylen)
{
	int err;
	PGresult *res;

	memset(d, 0, sizeof(*d));
	d->from = o->from;
	d->to = o->to;
	int64_t weeks = (o->to - o->from + WEEK_MS - 1) / WEEK_MS;
	d->nweeks = weeks < 1 ? 1 : weeks > MAX_WEEKS ? MAX_WEEKS : (int)weeks;
	if (!(d->p_made = weeks_new(d)) || !(d->p_kept = weeks_new(d)) ||
	    !(d->p_moved = weeks_new(d)) || !(d->p_broken = weeks_new(d)) ||
	    !(d->followups = weeks_new(d)) || !(d->surveys = weeks_new(d)) ||
	    !(d->answered = weeks_new(d)) || !(d->optouts = weeks_new(d)))
		return -ENOMEM;
	for (int k = 0; k < 4; k++)
		if (!(d->mails[k] = weeks_new(d)))
			return -ENOMEM;
	/* one snapshot for every query */
	res = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(why, whylen, "%s", wafa_pg_result_error(res));
		PQclear(res);
		return -EIO;
	}
	PQclear(res);
	/* the instances are sorted in memory rather than on disk */
	PQclear(PQexec(conn, "SET LOCAL work_mem = '64MB'"));
	err = gather_instances(conn, cfg, rules, o->by, d, why, whylen);
	if (!err)
		err = gather_mail(conn, d, why, whylen);
	if (!err)
		err = gather_csat(conn, cfg, o->by, d, why, whylen);
	PQclear(PQexec(conn, "ROLLBACK"));
	if (err)
		return err;
	/* every SLA of the rules appears, even one with nothing in the period */
	for (int i = 0; rules && i < rules->nrules; i++)
		if (rules->rules[i].kind == WAFA_RULE_SLA && !sla_for(d, rules, rules->rules[i].name))
			return -ENOMEM;
	/* (qsort wants a base even for nothing) */
	if (d->nslas)
		qsort(d->slas, (size_t)d->nslas, sizeof(*d->slas), by_name);
	for (int i = 0; i < d->nslas; i++) {
		struct sla *s = &d->slas[i];
		if (s->ngroups)
			qsort(s->groups, (size_t)s->ngroups, sizeof(*s->groups), by_key);
		if (s->total.ntimes)
			qsort(s->total.times, s->total.ntimes, sizeof(int64_t), cmp_i64);
		for (int j = 0; j < s->ngroups; j++)
			if (s->groups[j].ntimes)
				qsort(s->groups[j].times, s->groups[j].ntimes, sizeof(int64_t), cmp_i64);
	}
	if (d->nqueues)
		qsort(d->queues, (size_t)d->nqueues, sizeof(*d->queues), by_breaches);
	return 0;
}

/* The nearest-rank percentile (p in 0..1) of sorted times: the value at
 * rank ceil(p * n); -1 when there are none. */
static int64_t percentile(const struct group *g, double p)
{
	if (g->ntimes == 0)
		return -1;
	size_t rank = (size_t)ceil(p * (double)g->ntimes);
	return g->times[rank < 1 ? 0 : rank - 1];
}

/* met / (met + breached), or NAN with neither. */
static double compliance(int met, int breached)
{
	return met + breached ? (double)met / (met + breached) : NAN;
}

static int sum(const int *w, int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += w[i];
	return s;
}

/* What the SLA measures: "first response", "resolution", or its stop column. */
static const char *measures(const struct lang *l, const struct sla *s)
{
	if (!s->rule || s->rule->stop < 0)
		return "";
	if (s->rule->stop == WAFA_T_FIRST_REPLY_AT)
		return l->w[W_FIRST_RESPONSE];
	if (s->rule->stop == WAFA_T_SOLVED_AT)
		return l->w[W_RESOLUTION];
	return wafa_ticket_time_names[s->rule->stop];
}

/* ---- HTML ---- */

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\x01': break;
		default: fputc(*s, f);
		}
	}
}

static const char *group_name(const struct lang *l, const char *key)
{
	return strcmp(key, "\x01") == 0 ? l->w[W_NONE] : key;
}

static void img(FILE *f, const struct wafa_chart_png *png, const char *alt)
{
	gchar *b64 = g_base64_encode(png->data, png->len);

	fputs("<img src=\"data:image/png;base64,", f);
	fputs(b64 ? b64 : "", f);
	fputs("\" alt=\"", f);
	esc(f, alt);
	fputs("\" width=\"640\" height=\"300\" style=\"max-width:100%;height:auto\">\n", f);
	g_free(b64);
}

static void cell_num(FILE *f, const struct lang *l, double v)
{
	char b[64];
	fprintf(f, "<td>%s</td>", fmt_num(l, v, false, b, sizeof(b)));
}

static void cell_pct(FILE *f, const struct lang *l, double v, double goal)
{
	char b[64];
	const char *color = isnan(v) || goal <= 0 ? "" : v * 100 + 1e-9 >= goal ? " class=\"ok\""
	                                                                       : " class=\"low\"";
	fprintf(f, "<td%s>%s</td>", color, isnan(v) ? "–" : fmt_num(l, v, true, b, sizeof(b)));
}

static void cell_dur(FILE *f, const struct lang *l, int64_t ms)
{
	char b[96];
	fprintf(f, "<td>%s</td>", ms < 0 ? "–" : fmt_dur(l, ms, b, sizeof(b)));
}

static void group_row(FILE *f, const struct lang *l, const struct sla *s, const struct group *g,
                      bool by)
{
	double goal = s->rule ? s->rule->goal_pct : 0;
	char b[64];

	fprintf(f, "<tr%s><td>", g->key ? "" : " class=\"total\"");
	esc(f, g->key ? "" : s->name);
	fputs("</td>", f);
	if (by) {
		fputs("<td>", f);
		esc(f, g->key ? group_name(l, g->key) : l->w[W_ALL]);
		fputs("</td>", f);
	}
	cell_num(f, l, g->started);
	cell_num(f, l, g->met);
	cell_num(f, l, g->breached);
	cell_pct(f, l, compliance(g->met, g->breached), goal);
	fprintf(f, "<td>%s</td>", goal > 0 ? fmt_num(l, goal / 100, true, b, sizeof(b)) : "–");
	fputs("<td>", f);
	esc(f, g->key ? "" : measures(l, s));
	fputs("</td>", f);
	cell_dur(f, l, percentile(g, 0.5));
	cell_dur(f, l, percentile(g, 0.9));
	fputs("</tr>\n", f);
}

static int charts(const struct data *d, const struct lang *l, struct wafa_chart_png png[3])
{
	char **cats = calloc((size_t)d->nweeks, sizeof(*cats));
	double *vals = calloc((size_t)d->nslas * (size_t)d->nweeks + 1, sizeof(double));
	struct wafa_chart_series *series = calloc((size_t)d->nslas + 1, sizeof(*series));
	int nq = d->nqueues > 8 ? 8 : d->nqueues, err = -ENOMEM;
	const char **qnames = calloc((size_t)nq + 1, sizeof(*qnames));
	char **qlabels = calloc((size_t)nq + 1, sizeof(*qlabels));
	double qvals[8], svals[5];
	char ticks[5][32], slabels[5][32], snames[5][16], *tickp[5], *sl[5], *sn[5];

	memset(png, 0, 3 * sizeof(*png));
	if (!cats || !vals || !series || !qnames || !qlabels)
		goto out;
	for (int i = 0; i < d->nweeks; i++) {
		char b[64];
		if (d->nweeks <= 6)
			fmt_date(l, d->from + WEEK_MS * i, b, sizeof(b));
		else
			fmt_num(l, i + 1, false, b, sizeof(b));
		if (!(cats[i] = strdup(b)))
			goto out;
	}
	for (int k = 0; k < 5; k++) {
		fmt_num(l, k / 4.0, true, ticks[k], sizeof(ticks[k]));
		tickp[k] = ticks[k];
	}
	for (int j = 0; j < d->nslas; j++) {
		const struct sla *s = &d->slas[j];
		for (int i = 0; i < d->nweeks; i++)
			vals[j * d->nweeks + i] = compliance(s->w_met[i], s->w_breached[i]) * 100;
		series[j].label = s->name;
		series[j].values = &vals[j * d->nweeks];
		series[j].goal = s->rule ? s->rule->goal_pct : 0;
	}
	struct wafa_chart_frame f = { l->w[W_CH_COMPLIANCE], (const char *const *)cats, d->nweeks,
		                      l->rtl, (const char *const *)tickp };
	if ((err = wafa_chart_lines(&f, series, d->nslas, &png[0])) != 0)
		goto out;
	for (int i = 0; i < nq; i++) {
		char b[32];
		qnames[i] = group_name(l, d->queues[i].queue);
		qvals[i] = d->queues[i].breaches;
		if (!(qlabels[i] = strdup(fmt_num(l, qvals[i], false, b, sizeof(b))))) {
			err = -ENOMEM;
			goto out;
		}
	}
	struct wafa_chart_frame fq = { l->w[W_CH_BREACHES], qnames, nq, l->rtl, NULL };
	if ((err = wafa_chart_bars(&fq, qvals, (const char *const *)qlabels, &png[1])) != 0)
		goto out;
	for (int k = 0; k < 5; k++) {
		svals[k] = d->scores[k];
		fmt_num(l, d->scores[k], false, slabels[k], sizeof(slabels[k]));
		fmt_num(l, k + 1, false, snames[k], sizeof(snames[k]));
		sl[k] = slabels[k];
		sn[k] = snames[k];
	}
	struct wafa_chart_frame fs = { l->w[W_CH_SCORES], (const char *const *)sn, 5, l->rtl, NULL };
	err = wafa_chart_bars(&fs, svals, (const char *const *)sl, &png[2]);
out:
	for (int i = 0; cats && i < d->nweeks; i++)
		free(cats[i]);
	for (int i = 0; qlabels && i < nq; i++)
		free(qlabels[i]);
	free(cats);
	free(vals);
	free(series);
	free(qnames);
	free(qlabels);
	if (err)
		for (int k = 0; k < 3; k++)
			wafa_chart_png_free(&png[k]);
	return err;
}

static int render_html(FILE *f, const struct data *d, const struct wafa_report_opts *o,
                       const struct lang *l)
{
	struct wafa_chart_png png[3];
	char a[96], b[96], n[64];
	bool by = o->by != WAFA_BY_RULE;
	int err = charts(d, l, png);

	if (err)
		return err;
	fmt_date(l, d->from, a, sizeof(a));
	fmt_date(l, d->to - 1, b, sizeof(b));
	fputs("<!DOCTYPE html>\n<html lang=\"", f);
	esc(f, l->locale);
	fprintf(f, "\" dir=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n", l->rtl ? "rtl" : "ltr");
	fprintf(f, "<title>%s: %s – %s</title>\n", l->w[W_TITLE], a, b);
	fputs("<style>\n"
	      "body{font-family:'Noto Sans','Noto Sans Arabic','DejaVu Sans',sans-serif;"
	      "margin:24px;color:#222;max-width:980px}\n"
	      "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}\n"
	      "p.period{color:#555;margin:0 0 16px}\n"
	      "table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}\n"
	      "th,td{border:1px solid #ccc;padding:4px 8px;text-align:start}\n"
	      "td{font-variant-numeric:tabular-nums}th{background:#f0f0f0}td:first-child{white-space:nowrap}\n"
	      "tr.total td{font-weight:bold;background:#fafafa}\n"
	      "td.ok{color:#17631a}td.low{color:#b00020;font-weight:bold}\n"
	      "figure{margin:8px 0 16px}figcaption{color:#555;font-size:12px}\n"
	      "</style>\n</head>\n<body>\n",
	      f);
	fprintf(f, "<h1>%s</h1>\n<p class=\"period\">%s: %s – %s</p>\n", l->w[W_TITLE],
	        l->w[W_PERIOD], a, b);
	fputs("<figure>", f);
	img(f, &png[0], l->w[W_CH_COMPLIANCE]);
	fprintf(f, "<figcaption>%s</figcaption></figure>\n", l->w[W_DASHED_GOAL]);
	fputs("<figure>", f);
	img(f, &png[1], l->w[W_CH_BREACHES]);
	fputs("</figure>\n<figure>", f);
	img(f, &png[2], l->w[W_CH_SCORES]);
	fputs("</figure>\n", f);

	/* the SLAs */
	fprintf(f, "<h2>%s</h2>\n<table>\n<tr><th>%s</th>", l->w[W_SLAS], l->w[W_SLA]);
	if (by)
		fprintf(f, "<th>%s</th>",
		        l->w[o->by == WAFA_BY_QUEUE ? W_QUEUE : o->by == WAFA_BY_PRIORITY ? W_PRIORITY
		                                                                          : W_OWNER]);
	fprintf(f, "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
	           "<th>%s</th><th>%s</th></tr>\n",
	        l->w[W_STARTED], l->w[W_MET], l->w[W_BREACHED], l->w[W_COMPLIANCE], l->w[W_GOAL],
	        l->w[W_TIME_TO], l->w[W_MEDIAN], l->w[W_P90]);
	for (int i = 0; i < d->nslas; i++) {
		group_row(f, l, &d->slas[i], &d->slas[i].total, by);
		for (int j = 0; by && j < d->slas[i].ngroups; j++)
			group_row(f, l, &d->slas[i], &d->slas[i].groups[j], by);
	}
	if (d->nslas == 0)
		fprintf(f, "<tr><td colspan=\"10\">%s</td></tr>\n", l->w[W_NO_DATA]);
	fprintf(f, "</table>\n<p class=\"period\">%s %s</p>\n", l->w[W_MEDIAN], l->w[W_BUSINESS]);

	/* week by week */
	fprintf(f, "<h2>%s</h2>\n<table>\n<tr><th>%s</th><th>%s: %s</th><th>%s</th><th>%s</th>"
	           "<th>%s</th>",
	        l->w[W_WEEKS], l->w[W_WEEK_OF], l->w[W_SLAS], l->w[W_STARTED], l->w[W_MET],
	        l->w[W_BREACHED], l->w[W_COMPLIANCE]);
	fprintf(f, "<th>%s: %s</th><th>%s</th><th>%s</th><th>%s</th>", l->w[W_PROMISES],
	        l->w[W_MADE], l->w[W_KEPT], l->w[W_MOVED], l->w[W_BROKEN]);
	fprintf(f, "<th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
	        l->w[W_FOLLOWUPS], l->w[W_SURVEYS_SENT], l->w[W_ANSWERED], l->w[W_OPTOUTS],
	        l->w[W_SENT], l->w[W_FAILED]);
	for (int i = 0; i <= d->nweeks; i++) {
		bool all = i == d->nweeks;
		int started = 0, met = 0, breached = 0;
		for (int j = 0; j < d->nslas; j++) {
			started += all ? d->slas[j].total.started : d->slas[j].w_started[i];
			met += all ? d->slas[j].total.met : d->slas[j].w_met[i];
			breached += all ? d->slas[j].total.breached : d->slas[j].w_breached[i];
		}
#define W(arr) (all ? sum(arr, d->nweeks) : (arr)[i])
		fprintf(f, "<tr%s><td>%s</td>", all ? " class=\"total\"" : "",
		        all ? l->w[W_ALL] : fmt_date(l, d->from + WEEK_MS * i, a, sizeof(a)));
		cell_num(f, l, started);
		cell_num(f, l, met);
		cell_num(f, l, breached);
		cell_pct(f, l, compliance(met, breached), 0);
		cell_num(f, l, W(d->p_made));
		cell_num(f, l, W(d->p_kept));
		cell_num(f, l, W(d->p_moved));
		cell_num(f, l, W(d->p_broken));
		cell_num(f, l, W(d->followups));
		cell_num(f, l, W(d->surveys));
		cell_num(f, l, W(d->answered));
		cell_num(f, l, W(d->optouts));
		cell_num(f, l, W(d->mails[1]));
		cell_num(f, l, W(d->mails[2]));
		fputs("</tr>\n", f);
#undef W
	}
	fputs("</table>\n", f);

	/* surveys */
	int sent = sum(d->surveys, d->nweeks), answered = sum(d->answered, d->nweeks);
	int nscores = 0;
	for (int k = 0; k < 5; k++)
		nscores += d->scores[k];
	fprintf(f, "<h2>%s</h2>\n<table>\n<tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th>",
	        l->w[W_SURVEYS], l->w[W_SURVEYS_SENT], l->w[W_ANSWERED], l->w[W_RESPONSE_RATE],
	        l->w[W_CSAT]);
	for (int k = 0; k < 5; k++)
		fprintf(f, "<th>%s %s</th>", l->w[W_SCORE], fmt_num(l, k + 1, false, n, sizeof(n)));
	fputs("</tr>\n<tr>", f);
	cell_num(f, l, sent);
	cell_num(f, l, answered);
	cell_pct(f, l, sent ? (double)answered / sent : NAN, 0);
	cell_pct(f, l, nscores ? (double)(d->scores[3] + d->scores[4]) / nscores : NAN, 0);
	for (int k = 0; k < 5; k++)
		cell_num(f, l, d->scores[k]);
	fputs("</tr>\n</table>\n", f);
	if (d->ncsat) {
		int w = o->by == WAFA_BY_QUEUE ? W_QUEUE : o->by == WAFA_BY_PRIORITY ? W_PRIORITY
		      : o->by == WAFA_BY_OWNER ? W_OWNER : W_RULE;
		fprintf(f, "<h2>%s %s</h2>\n<table>\n<tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th>",
		        l->w[W_CSAT_BY], l->w[w], l->w[w], l->w[W_ANSWERED], l->w[W_CSAT],
		        l->w[W_MEAN]);
		for (int k = 0; k < 5; k++)
			fprintf(f, "<th>%s %s</th>", l->w[W_SCORE], fmt_num(l, k + 1, false, n, sizeof(n)));
		fputs("</tr>\n", f);
		for (int i = 0; i < d->ncsat; i++) {
			const struct csat *c = &d->csat[i];
			double mean = csat_mean(c);
			fputs("<tr><td>", f);
			esc(f, group_name(l, c->key));
			fputs("</td>", f);
			cell_num(f, l, csat_answered(c));
			cell_pct(f, l, csat_share(c), 0);
			fprintf(f, "<td>%s</td>", isnan(mean) ? "–"
			        : fmt_num(l, round(mean * 10) / 10, false, n, sizeof(n)));
			for (int k = 0; k < 5; k++)
				cell_num(f, l, c->scores[k]);
			fputs("</tr>\n", f);
		}
		fputs("</table>\n", f);
	}

	/* mails */
	fprintf(f, "<h2>%s</h2>\n<table>\n<tr>", l->w[W_MAILS]);
	for (int k = 0; k < 4; k++)
		fprintf(f, "<th>%s</th>", l->w[W_QUEUED + k]);
	fprintf(f, "<th>%s</th></tr>\n<tr>", l->w[W_OPTOUTS]);
	for (int k = 0; k < 4; k++)
		cell_num(f, l, sum(d->mails[k], d->nweeks));
	cell_num(f, l, sum(d->optouts, d->nweeks));
	fputs("</tr>\n</table>\n</body>\n</html>\n", f);
	for (int k = 0; k < 3; k++)
		wafa_chart_png_free(&png[k]);
	return 0;
}

/* ---- JSON and CSV: plain numbers, ms and shares ---- */

static json_t *weeks_json(const int *w, int n)
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		json_array_append_new(a, json_integer(w[i]));
	return a;
}

static json_t *num_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *group_json(const struct group *g)
{
	int64_t med = percentile(g, 0.5), p90 = percentile(g, 0.9);
	return json_pack("{ss? si si si so so so}", "group", g->key && strcmp(g->key, "\x01") ? g->key
	                                                 : NULL,
	                 "started", g->started, "met", g->met, "breached", g->breached,
	                 "compliance", num_or_null(compliance(g->met, g->breached)),
	                 "median_ms", med < 0 ? json_null() : json_integer(med),
	                 "p90_ms", p90 < 0 ? json_null() : json_integer(p90));
}

static int render_json(FILE *f, const struct data *d, const struct wafa_report_opts *o)
{
	static const char *const bys[] = { "rule", "queue", "priority", "owner" };
	json_t *root = json_object(), *slas = json_array(), *weeks = json_array(),
	       *queues = json_object(), *mails = json_object();
	int err = -ENOMEM;

	if (!root || !slas || !weeks || !queues || !mails) {
		json_decref(slas);
		json_decref(weeks);
		json_decref(queues);
		json_decref(mails);
		goto out;
	}
	json_object_set_new(root, "from_ms", json_integer(d->from));
	json_object_set_new(root, "to_ms", json_integer(d->to));
	json_object_set_new(root, "by", json_string(bys[o->by]));
	for (int i = 0; i < d->nweeks; i++)
		json_array_append_new(weeks, json_integer(d->from + WEEK_MS * i));
	json_object_set_new(root, "weeks", weeks);
	for (int i = 0; i < d->nslas; i++) {
		const struct sla *s = &d->slas[i];
		json_t *g = json_array(), *o2 = group_json(&s->total);
		for (int j = 0; g && j < s->ngroups; j++)
			json_array_append_new(g, group_json(&s->groups[j]));
		json_object_del(o2, "group");
		json_object_set_new(o2, "rule", json_string(s->name));
		json_object_set_new(o2, "goal", s->rule && s->rule->goal_pct > 0
		                                        ? json_real(s->rule->goal_pct / 100)
		                                        : json_null());
		json_object_set_new(o2, "stop", s->rule && s->rule->stop >= 0
		                                        ? json_string(wafa_ticket_time_names[s->rule->stop])
		                                        : json_null());
		json_object_set_new(o2, "groups", g);
		json_object_set_new(o2, "weeks_started", weeks_json(s->w_started, d->nweeks));
		json_object_set_new(o2, "weeks_met", weeks_json(s->w_met, d->nweeks));
		json_object_set_new(o2, "weeks_breached", weeks_json(s->w_breached, d->nweeks));
		json_array_append_new(slas, o2);
	}
	json_object_set_new(root, "slas", slas);
	for (int i = 0; i < d->nqueues; i++)
		json_object_set_new(queues, strcmp(d->queues[i].queue, "\x01") ? d->queues[i].queue : "",
		                    json_integer(d->queues[i].breaches));
	json_object_set_new(root, "breaches_by_queue", queues);
	json_object_set_new(root, "promises",
	                    json_pack("{so so so so}", "made", weeks_json(d->p_made, d->nweeks),
	                              "kept", weeks_json(d->p_kept, d->nweeks), "moved",
	                              weeks_json(d->p_moved, d->nweeks), "broken",
	                              weeks_json(d->p_broken, d->nweeks)));
	int sent = sum(d->surveys, d->nweeks), answered = sum(d->answered, d->nweeks), ns = 0;
	for (int k = 0; k < 5; k++)
		ns += d->scores[k];
	json_object_set_new(root, "followups_sent", weeks_json(d->followups, d->nweeks));
	json_object_set_new(
		root, "surveys",
		json_pack("{so so so so s[iiiii]}", "sent", weeks_json(d->surveys, d->nweeks),
		          "answered", weeks_json(d->answered, d->nweeks), "response_rate",
		          num_or_null(sent ? (double)answered / sent : NAN), "csat",
		          num_or_null(ns ? (double)(d->scores[3] + d->scores[4]) / ns : NAN), "scores",
		          d->scores[0], d->scores[1], d->scores[2], d->scores[3], d->scores[4]));
	json_t *by = json_array();
	for (int i = 0; by && i < d->ncsat; i++) {
		const struct csat *c = &d->csat[i];
		json_array_append_new(
			by, json_pack("{ss? si so so s[iiiii]}", "group",
			              strcmp(c->key, "\x01") ? c->key : NULL, "answered", csat_answered(c),
			              "csat", num_or_null(csat_share(c)), "mean", num_or_null(csat_mean(c)),
			              "scores", c->scores[0], c->scores[1], c->scores[2], c->scores[3],
			              c->scores[4]));
	}
	json_object_set_new(root, "surveys_by", by);
	json_object_set_new(root, "optouts", weeks_json(d->optouts, d->nweeks));
	for (int k = 0; k < 4; k++)
		json_object_set_new(mails, mail_statuses[k], weeks_json(d->mails[k], d->nweeks));
	json_object_set_new(root, "mails", mails);
	err = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : -ENOMEM;
	fputc('\n', f);
out:
	json_decref(root);
	return err;
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		if (*s == '"')
			fputc('"', f);
		if (*s != '\x01')
			fputc(*s, f);
	}
	fputc('"', f);
}

/* One line: section,week,rule,group,metric,value (week: the week's first day, or "all"). */
static void csv_line(FILE *f, const char *section, const char *week, const char *rule,
                     const char *group, const char *metric, const char *value)
{
	fprintf(f, "%s,%s,", section, week);
	csv_field(f, rule);
	fputc(',', f);
	csv_field(f, group);
	fprintf(f, ",%s,%s\n", metric, value);
}

/* The weeks' lines, then the "all" line unless the section has it already
 * (an SLA's: csv_group). */
static void csv_weeks(FILE *f, const struct data *d, const char *section, const char *rule,
                      const char *metric, const int *w)
{
	char day[16], v[32];
	for (int i = 0; i < d->nweeks; i++) {
		time_t t = (time_t)((d->from + WEEK_MS * i) / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
		snprintf(v, sizeof(v), "%d", w[i]);
		csv_line(f, section, day, rule, "", metric, v);
	}
	if (strcmp(section, "sla") == 0)
		return;
	snprintf(v, sizeof(v), "%d", sum(w, d->nweeks));
	csv_line(f, section, "all", rule, "", metric, v);
}

static void csv_group(FILE *f, const struct sla *s, const struct group *g)
{
	char v[32];
	double c = compliance(g->met, g->breached);
	const char *key = g->key ? g->key : "";
	snprintf(v, sizeof(v), "%d", g->started);
	csv_line(f, "sla", "all", s->name, key, "started", v);
	snprintf(v, sizeof(v), "%d", g->met);
	csv_line(f, "sla", "all", s->name, key, "met", v);
	snprintf(v, sizeof(v), "%d", g->breached);
	csv_line(f, "sla", "all", s->name, key, "breached", v);
	snprintf(v, sizeof(v), isnan(c) ? "" : "%.4f", c);
	csv_line(f, "sla", "all", s->name, key, "compliance", v);
	int64_t med = percentile(g, 0.5), p90 = percentile(g, 0.9);
	snprintf(v, sizeof(v), med < 0 ? "" : "%" PRId64, med);
	csv_line(f, "sla", "all", s->name, key, "median_ms", v);
	snprintf(v, sizeof(v), p90 < 0 ? "" : "%" PRId64, p90);
	csv_line(f, "sla", "all", s->name, key, "p90_ms", v);
}

static int render_csv(FILE *f, const struct data *d)
{
	char v[32];

	fputs("section,week,rule,group,metric,value\n", f);
	for (int i = 0; i < d->nslas; i++) {
		const struct sla *s = &d->slas[i];
		csv_group(f, s, &s->total);
		for (int j = 0; j < s->ngroups; j++)
			csv_group(f, s, &s->groups[j]);
		if (s->rule && s->rule->goal_pct > 0) {
			snprintf(v, sizeof(v), "%.4f", s->rule->goal_pct / 100);
			csv_line(f, "sla", "all", s->name, "", "goal", v);
		}
		csv_weeks(f, d, "sla", s->name, "started", s->w_started);
		csv_weeks(f, d, "sla", s->name, "met", s->w_met);
		csv_weeks(f, d, "sla", s->name, "breached", s->w_breached);
	}
	for (int i = 0; i < d->nqueues; i++) {
		snprintf(v, sizeof(v), "%d", d->queues[i].breaches);
		csv_line(f, "breaches", "all", "", d->queues[i].queue, "breached", v);
	}
	csv_weeks(f, d, "promise", "", "made", d->p_made);
	csv_weeks(f, d, "promise", "", "kept", d->p_kept);
	csv_weeks(f, d, "promise", "", "moved", d->p_moved);
	csv_weeks(f, d, "promise", "", "broken", d->p_broken);
	csv_weeks(f, d, "followup", "", "sent", d->followups);
	csv_weeks(f, d, "survey", "", "sent", d->surveys);
	csv_weeks(f, d, "survey", "", "answered", d->answered);
	for (int k = 0; k < 5; k++) {
		char metric[16];
		snprintf(metric, sizeof(metric), "score_%d", k + 1);
		snprintf(v, sizeof(v), "%d", d->scores[k]);
		csv_line(f, "survey", "all", "", "", metric, v);
	}
	for (int i = 0; i < d->ncsat; i++) {
		const struct csat *c = &d->csat[i];
		for (int k = 0; k < 5; k++) {
			char metric[16];
			snprintf(metric, sizeof(metric), "score_%d", k + 1);
			snprintf(v, sizeof(v), "%d", c->scores[k]);
			csv_line(f, "survey_by", "all", "", c->key, metric, v);
		}
		snprintf(v, sizeof(v), "%d", csat_answered(c));
		csv_line(f, "survey_by", "all", "", c->key, "answered", v);
		if (csat_answered(c)) {
			snprintf(v, sizeof(v), "%.4f", csat_mean(c));
			csv_line(f, "survey_by", "all", "", c->key, "mean", v);
			snprintf(v, sizeof(v), "%.4f", csat_share(c));
			csv_line(f, "survey_by", "all", "", c->key, "csat", v);
		}
	}
	csv_weeks(f, d, "optout", "", "count", d->optouts);
	for (int k = 0; k < 4; k++)
		csv_weeks(f, d, "mail", "", mail_statuses[k], d->mails[k]);
	return 0;
}

/* The plain-text part of a mailed report: the headline numbers. */
static void render_text(FILE *f, const struct data *d, const struct lang *l)
{
	char a[96], b[96], n[64];

	fprintf(f, "%s: %s – %s\n\n", l->w[W_TITLE], fmt_date(l, d->from, a, sizeof(a)),
	        fmt_date(l, d->to - 1, b, sizeof(b)));
	for (int i = 0; i < d->nslas; i++) {
		const struct sla *s = &d->slas[i];
		double c = compliance(s->total.met, s->total.breached);
		fprintf(f, "%s: %s %s", s->name, l->w[W_COMPLIANCE],
		        isnan(c) ? "–" : fmt_num(l, c, true, n, sizeof(n)));
		if (s->rule && s->rule->goal_pct > 0)
			fprintf(f, " (%s %s)", l->w[W_GOAL],
			        fmt_num(l, s->rule->goal_pct / 100, true, n, sizeof(n)));
		fprintf(f, ", %s %s", l->w[W_BREACHED],
		        fmt_num(l, s->total.breached, false, n, sizeof(n)));
		fputc('\n', f);
	}
	fprintf(f, "%s: %s %s, %s %s\n", l->w[W_PROMISES], l->w[W_KEPT],
	        fmt_num(l, sum(d->p_kept, d->nweeks), false, a, sizeof(a)), l->w[W_BROKEN],
	        fmt_num(l, sum(d->p_broken, d->nweeks), false, b, sizeof(b)));
	/* satisfaction by the report's group: answers, CSAT (4 and 5), mean */
	for (int i = 0; i < d->ncsat; i++) {
		const struct csat *c = &d->csat[i];
		double share = csat_share(c), mean = csat_mean(c);
		if (i == 0)
			fprintf(f, "%s:\n", l->w[W_CSAT_BY]);
		fprintf(f, "  %s: %s %s, %s %s", group_name(l, c->key), l->w[W_ANSWERED],
		        fmt_num(l, csat_answered(c), false, n, sizeof(n)), l->w[W_CSAT],
		        isnan(share) ? "–" : fmt_num(l, share, true, a, sizeof(a)));
		fprintf(f, ", %s %s\n", l->w[W_MEAN],
		        isnan(mean) ? "–" : fmt_num(l, round(mean * 10) / 10, false, b, sizeof(b)));
	}
}

/* ---- entry points ---- */

int wafa_report_by_parse(const char *word)
{
	static const char *const words[] = { "rule", "queue", "priority", "owner" };
	for (int i = 0; i < 4; i++)
		if (strcmp(word, words[i]) == 0)
			return i;
	if (strcmp(word, "agent") == 0)
		return WAFA_BY_OWNER; /* the ticket's owner: the agent */
	return -1;
}

PGconn *wafa_report_connect(const struct wafa_config *cfg, char *why, size_t whylen)
{
	PGconn *conn = PQconnectdb(cfg->dsn);
	const char *p[] = { cfg->schema };
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(why, whylen, "cannot connect to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	res = PQexecParams(conn, wafa_schema_search_path_sql, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(why, whylen, "%s", wafa_pg_result_error(res));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	res = PQexec(conn, "SET default_transaction_read_only = on");
	PQclear(res);
	return conn;
}

int wafa_report_make(PGconn *conn, const struct wafa_config *cfg, const struct wafa_rules *rules,
                     const struct wafa_report_opts *o, char **out, size_t *len, char **text,
                     char *why, size_t whylen)
{
	struct data d;
	struct lang l;
	FILE *f = NULL;
	int err;

	*out = NULL;
	*len = 0;
	if (text)
		*text = NULL;
	lang_open(&l, o->locale);
	err = gather(conn, cfg, rules, o, &d, why, whylen);
	if (err) {
		if (err == -ENOMEM)
			snprintf(why, whylen, "out of memory");
		goto out;
	}
	if (!(f = open_memstream(out, len))) {
		err = -ENOMEM;
		goto out;
	}
	err = o->format == WAFA_REPORT_JSON ? render_json(f, &d, o)
	    : o->format == WAFA_REPORT_CSV  ? render_csv(f, &d)
	                                    : render_html(f, &d, o, &l);
	if (fclose(f) != 0 && !err)
		err = -ENOMEM;
	f = NULL;
	if (!err && text) {
		size_t tlen;
		FILE *t = open_memstream(text, &tlen);
		if (!t) {
			err = -ENOMEM;
		} else {
			render_text(t, &d, &l);
			fclose(t);
		}
	}
	if (err == -ENOMEM)
		snprintf(why, whylen, "out of memory");
	else if (err)
		snprintf(why, whylen, "drawing the charts failed");
out:
	if (err) {
		free(*out);
		*out = NULL;
		if (text) {
			free(*text);
			*text = NULL;
		}
	}
	data_free(&d);
	lang_close(&l);
	return err;
}

int wafa_report_run(const struct wafa_config *cfg, const struct wafa_report_opts *o,
                    const char *path, FILE *out, FILE *errf)
{
	struct wafa_sandbox *sb = NULL;
	struct wafa_rules *rules = NULL;
	PGconn *conn = NULL;
	char why[1024], *text = NULL;
	size_t len = 0;
	int code = EX_OK;

	if (wafa_sandbox_open((size_t)cfg->rules_memory, cfg->rules_budget_ms, &sb) != 0 ||
	    wafa_rules_open(sb, &rules) != 0) {
		fprintf(errf, "wafa report: cannot start the Lua host\n");
		code = EX_SOFTWARE;
		goto out;
	}
	/* goals and calendars come from the rules; a bad file is said, the rest used */
	if (wafa_rules_load_dir(rules, cfg->rules_dir, errf) < 0)
		fprintf(errf, "wafa report: [rules] dir %s cannot be read: no goals or calendars\n",
		        cfg->rules_dir);
	if (!(conn = wafa_report_connect(cfg, why, sizeof(why)))) {
		fprintf(errf, "wafa report: %s\n", why);
		code = EX_UNAVAILABLE;
		goto out;
	}
	if (wafa_report_make(conn, cfg, rules, o, &text, &len, NULL, why, sizeof(why)) != 0) {
		fprintf(errf, "wafa report: %s (is the schema set up? wafa setup -c %s)\n", why,
		        cfg->path);
		code = EX_UNAVAILABLE;
		goto out;
	}
	if (path && strcmp(path, "-") != 0) {
		/* written beside, then renamed: a reader never sees half a report */
		char *tmp = NULL;
		FILE *f = NULL;
		if (asprintf(&tmp, "%s.tmp", path) < 0 || !(f = fopen(tmp, "w")) ||
		    fwrite(text, 1, len, f) != len || fclose(f) != 0 || (f = NULL, rename(tmp, path)) != 0) {
			fprintf(errf, "wafa report: cannot write %s: %s\n", path, strerror(errno));
			if (f)
				fclose(f);
			if (tmp)
				unlink(tmp);
			code = EX_CANTCREAT;
		}
		free(tmp);
	} else if (fwrite(text, 1, len, out) != len || fflush(out) != 0) {
		code = EX_IOERR;
	}
out:
	free(text);
	PQfinish(conn);
	wafa_rules_close(rules);
	wafa_sandbox_close(sb);
	return code;
}
