/* wafa.promise_in: sentences in English, Arabic and Persian and the instant
 * each promises.  Expected instants are written as UTC strings worked out by
 * hand from the zones' offsets in January and March 2025:
 *   Africa/Cairo +2, Asia/Riyadh +3, Asia/Tehran +3:30 (no DST since 2022),
 *   America/New_York -5 (EST), -4 from Sun 2025-03-09 02:00 (EDT),
 *   Europe/Berlin +1 (CET), +2 from Sun 2025-03-30 02:00 (CEST).
 * The calendar: Mon 2025-01-13 .. Sun 2025-01-19; Fri 2025-03-07, Sat 03-08,
 * Sun 03-09; Fri 2025-03-28, Mon 03-31.  End of day is 17:00 unless said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "lua/rules.h"
#include "lua/sandbox.h"

#define NIL_TIME INT64_MIN

struct pcase {
	const char *text;
	const char *ref;    /* the reference, UTC */
	const char *tz;     /* t.customer_tz */
	const char *locale; /* t.customer_locale */
	const char *want;   /* UTC, or NULL: no promise */
	const char *opts_tz;
	const char *eod;      /* opts.end_of_day */
	const char *week_end; /* opts.week_end */
	bool from_ticket; /* the reference as t.last_agent_at, no opts.now */
};

#define N(tx, rf, z, lc) { .text = tx, .ref = rf, .tz = z, .locale = lc }
#define P(tx, rf, z, lc, w) { .text = tx, .ref = rf, .tz = z, .locale = lc, .want = w }
#define PX6(tx, rf, z, lc, w, otz) \
	{ .text = tx, .ref = rf, .tz = z, .locale = lc, .want = w, .opts_tz = otz }
#define PX7(tx, rf, z, lc, w, otz, e) \
	{ .text = tx, .ref = rf, .tz = z, .locale = lc, .want = w, .opts_tz = otz, .eod = e }
#define PX8(tx, rf, z, lc, w, otz, e, ft)                                                   \
	{ .text = tx, .ref = rf, .tz = z, .locale = lc, .want = w, .opts_tz = otz, .eod = e, \
	  .from_ticket = ft }

/* References (local time in brackets) */
#define NY_MON "2025-01-13T14:00:00Z"     /* Mon 09:00 New York */
#define NY_THU "2025-01-16T15:00:00Z"     /* Thu 10:00 New York */
#define BER_WED "2025-01-15T09:00:00Z"    /* Wed 10:00 Berlin */
#define CAI_MON "2025-01-13T08:00:00Z"    /* Mon 10:00 Cairo */
#define RUH_MON "2025-01-13T07:00:00Z"    /* Mon 10:00 Riyadh */
#define RUH_WED "2025-01-15T07:00:00Z"    /* Wed 10:00 Riyadh */
#define THR_SAT "2025-01-18T06:30:00Z"    /* Sat 10:00 Tehran */
#define THR_WED "2025-01-15T06:30:00Z"    /* Wed 10:00 Tehran */

#define NY "America/New_York"
#define BER "Europe/Berlin"
#define CAI "Africa/Cairo"
#define RUH "Asia/Riyadh"
#define THR "Asia/Tehran"

static const struct pcase promises[] = {
	/* English */
	P("We will fix this by tomorrow.", NY_MON, NY, "en-US", "2025-01-14T22:00:00Z"),
	P("You'll have an answer tomorrow.", NY_MON, NY, "en-US", "2025-01-14T22:00:00Z"),
	P("We will get back to you within 24 hours.", NY_MON, NY, "en-US", "2025-01-14T14:00:00Z"),
	P("Expect the replacement within 2 days.", NY_MON, NY, "en-US", "2025-01-15T14:00:00Z"),
	P("An engineer will call you in 3 hours.", NY_MON, NY, "en-US", "2025-01-13T17:00:00Z"),
	P("The fix will be deployed by Monday.", BER_WED, BER, "en-DE", "2025-01-20T16:00:00Z"),
	P("By Friday 3pm the refund will be on your card.", BER_WED, BER, "en-DE",
	  "2025-01-17T14:00:00Z"),
	P("I'll send the report by end of day.", BER_WED, BER, "en-DE", "2025-01-15T16:00:00Z"),
	P("We'll resolve it today.", BER_WED, BER, "en-DE", "2025-01-15T16:00:00Z"),
	P("We will ship it by the end of the week.", BER_WED, BER, "en-DE", "2025-01-17T16:00:00Z"),
	/* the rule says the week ends on Thursday */
	{ .text = "We will ship it by the end of the week.", .ref = BER_WED, .tz = BER,
	  .locale = "en-DE", .want = "2025-01-16T16:00:00Z", .week_end = "thursday" },
	/* an Egyptian customer: the week ends on Thursday */
	P("We will have it ready by the end of the week.", CAI_MON, CAI, "en-EG",
	  "2025-01-16T15:00:00Z"),
	P("The technician will visit on Monday at 10:00.", NY_THU, NY, "en-US",
	  "2025-01-20T15:00:00Z"),
	/* said on a Monday: the Monday after */
	P("We will call you back by Monday.", NY_MON, NY, "en-US", "2025-01-20T22:00:00Z"),
	P("You will get a reply within the next 48 hours.", NY_MON, NY, "en-US",
	  "2025-01-15T14:00:00Z"),
	/* Thu: Fri, Mon, Tue */
	P("We\xe2\x80\x99ll refund you within 3 business days.", NY_THU, NY, "en-US",
	  "2025-01-21T22:00:00Z"),
	P("Our team should reply within an hour.", NY_MON, NY, "en-US", "2025-01-13T15:00:00Z"),
	P("I'll update you at 3pm.", NY_MON, NY, "en-US", "2025-01-13T20:00:00Z"),
	P("By 3 p.m. tomorrow we will have a new build.", NY_MON, NY, "en-US",
	  "2025-01-14T20:00:00Z"),
	/* the earliest of two */
	P("We will send a status update in 2 hours and the full fix by Friday.", NY_MON, NY, "en-US",
	  "2025-01-13T16:00:00Z"),
	P("It won't be ready today, but we will deliver it by Wednesday.", NY_MON, NY, "en-US",
	  "2025-01-15T22:00:00Z"),
	P("We'll get back to you within 24-48 hours.", NY_MON, NY, "en-US", "2025-01-15T14:00:00Z"),
	P("Please allow up to 48 hours for the refund to appear.", NY_MON, NY, "en-US",
	  "2025-01-15T14:00:00Z"),
	/* before Friday: by the start of Friday */
	P("We will deliver it before Friday.", NY_MON, NY, "en-US", "2025-01-17T05:00:00Z"),
	P("Don't worry, we'll have it fixed by the end of the month.", NY_MON, NY, "en-US",
	  "2025-01-31T22:00:00Z"),
	P("We'll send it 3 days from now.", NY_MON, NY, "en-US", "2025-01-16T14:00:00Z"),
	/* Monday: the Friday of next week */
	P("The team will look into it next week.", NY_MON, NY, "en-US", "2025-01-24T22:00:00Z"),
	P("I'll call you tomorrow at 10am, and we will fix it by Friday.", NY_MON, NY, "en-US",
	  "2025-01-14T15:00:00Z"),
	P("Expect an update by close of business Friday.", NY_MON, NY, "en-US",
	  "2025-01-17T22:00:00Z"),
	/* said on a Monday: not tomorrow, the Tuesday of next week */
	P("We will visit next Tuesday.", NY_MON, NY, "en-US", "2025-01-21T22:00:00Z"),
	/* the upper bound, 5 working days: Tue .. Fri, Mon */
	P("Please allow 3-5 business days for delivery.", NY_MON, NY, "en-US",
	  "2025-01-20T22:00:00Z"),
	/* across New York's DST start (Sun 2025-03-09): 17:00 EDT is 21:00Z */
	P("We will fix this by tomorrow.", "2025-03-08T15:00:00Z", NY, "en-US",
	  "2025-03-09T21:00:00Z"),
	/* 2 days: the same wall time, 47 hours; 48 hours: 48 hours */
	P("We will ship within 2 days.", "2025-03-07T15:00:00Z", NY, "en-US", "2025-03-09T14:00:00Z"),
	P("We will ship within 48 hours.", "2025-03-07T15:00:00Z", NY, "en-US",
	  "2025-03-09T15:00:00Z"),
	/* across Berlin's (Sun 2025-03-30): Mon 17:00 CEST */
	P("The fix will be live by Monday.", "2025-03-28T10:00:00Z", BER, "en-DE",
	  "2025-03-31T15:00:00Z"),
	/* opts.end_of_day */
	PX7("We will reply tomorrow.", NY_MON, NY, "en-US", "2025-01-14T23:00:00Z", NULL, "18:00"),
	/* no customer zone: the rule's */
	PX6("We will call you tomorrow morning.", BER_WED, NULL, NULL, "2025-01-16T11:00:00Z", BER),
	/* no zone at all: UTC */
	P("We'll have it done by tomorrow.", BER_WED, NULL, NULL, "2025-01-16T17:00:00Z"),
	P("I will get back to you later today.", BER_WED, BER, "en-DE", "2025-01-15T16:00:00Z"),
	/* the reference from t.last_agent_at */
	PX8("We will get back to you within 24 hours.", NY_MON, NY, "en-US", "2025-01-14T14:00:00Z",
	  NULL, NULL, true),

	/* Arabic */
	P("سنرد عليك خلال 24 ساعة", CAI_MON, CAI, "ar-EG", "2025-01-14T08:00:00Z"),
	P("سيتم حل المشكلة غدًا إن شاء الله", CAI_MON, CAI, "ar-EG", "2025-01-14T15:00:00Z"),
	P("هنبعتلك التحديث بكرة", CAI_MON, CAI, "ar-EG", "2025-01-14T15:00:00Z"),
	P("سيصلك المنتج خلال يومين", RUH_MON, RUH, "ar-SA", "2025-01-15T07:00:00Z"),
	P("سيتواصل معك الفني خلال ساعتين", RUH_MON, RUH, "ar-SA", "2025-01-13T09:00:00Z"),
	P("سنرد خلال ٤٨ ساعة", RUH_MON, RUH, "ar-SA", "2025-01-15T07:00:00Z"),
	P("سنتواصل معك يوم الأحد", RUH_WED, RUH, "ar-SA", "2025-01-19T14:00:00Z"),
	/* the week ends on Thursday */
	P("سيتم التسليم قبل نهاية الأسبوع", RUH_MON, RUH, "ar-SA", "2025-01-16T14:00:00Z"),
	P("سننتهي من طلبك اليوم", CAI_MON, CAI, "ar-EG", "2025-01-13T15:00:00Z"),
	/* tatweel and tanween */
	P("سيـتم الـرد غـداً", CAI_MON, CAI, "ar-EG", "2025-01-14T15:00:00Z"),
	P("لن نتمكن من الإصلاح اليوم، لكن سنرسل الحل يوم الخميس", CAI_MON, CAI, "ar-EG",
	  "2025-01-16T15:00:00Z"),
	P("سنتصل بك غدا الساعة ٣ مساءً", CAI_MON, CAI, "ar-EG", "2025-01-14T13:00:00Z"),
	/* Wed: Thu, (Fri, Sat off), Sun, Mon */
	P("سيتم الشحن خلال ٣ أيام عمل", RUH_WED, RUH, "ar-SA", "2025-01-20T14:00:00Z"),
	P("سيصلك الرد في غضون ساعة", RUH_MON, RUH, "ar-SA", "2025-01-13T08:00:00Z"),
	P("سنقوم بالتحديث بعد غد", CAI_MON, CAI, "ar-EG", "2025-01-15T15:00:00Z"),
	P("الأحد القادم سيكون جاهزا", RUH_WED, RUH, "ar-SA", "2025-01-19T14:00:00Z"),
	P("سيتم إصلاح العطل خلال الـ48 ساعة القادمة", RUH_MON, RUH, "ar-SA",
	  "2025-01-15T07:00:00Z"),
	P("نعدك بحل المشكلة بنهاية اليوم", CAI_MON, CAI, "ar-EG", "2025-01-13T15:00:00Z"),
	/* before the end of Thursday, not before Thursday */
	P("سيتم التسليم قبل نهاية يوم الخميس", CAI_MON, CAI, "ar-EG", "2025-01-16T15:00:00Z"),
	P("سنرد عليك قبل الساعة ٥ مساء", CAI_MON, CAI, "ar-EG", "2025-01-13T15:00:00Z"),

	/* Persian */
	P("تا فردا مشکل را حل خواهیم کرد", THR_SAT, THR, "fa-IR", "2025-01-19T13:30:00Z"),
	P("ظرف ۲ روز کالا ارسال می‌شود", THR_SAT, THR, "fa-IR", "2025-01-20T06:30:00Z"),
	/* Sat: the week ends on Thursday */
	P("تا پایان هفته پاسخ می‌دهیم", THR_SAT, THR, "fa-IR", "2025-01-23T13:30:00Z"),
	P("تا ۳ ساعت دیگر با شما تماس می‌گیریم", THR_SAT, THR, "fa-IR", "2025-01-18T09:30:00Z"),
	P("تا شنبه درست می‌شود", THR_WED, THR, "fa-IR", "2025-01-18T13:30:00Z"),
	P("امروز با شما تماس خواهیم گرفت", THR_WED, THR, "fa-IR", "2025-01-15T13:30:00Z"),
	P("ظرف 24 ساعت پاسخ می‌دهیم", THR_WED, THR, "fa-IR", "2025-01-16T06:30:00Z"),
	P("روز سه‌شنبه تماس می‌گیریم", THR_SAT, THR, "fa-IR", "2025-01-21T13:30:00Z"),
	P("تا فردا ساعت ۱۰ صبح ارسال میکنیم", THR_SAT, THR, "fa-IR", "2025-01-19T06:30:00Z"),
	P("پس‌فردا آماده می‌شود", THR_SAT, THR, "fa-IR", "2025-01-20T13:30:00Z"),
	P("کارشناس ما طی ۴۸ ساعت آینده با شما تماس خواهد گرفت", THR_WED, THR, "fa-IR",
	  "2025-01-17T06:30:00Z"),
	/* Wed: Thu, (Fri off), Sat, Sun */
	P("سفارش شما ظرف ۳ روز کاری ارسال می‌شود", THR_WED, THR, "fa-IR", "2025-01-19T13:30:00Z"),
	/* Arabic yeh and kaf in Persian, "می" apart */
	P("تا فردا جواب مي دهيم", THR_SAT, THR, "fa-IR", "2025-01-19T13:30:00Z"),
	P("حداکثر تا پنجشنبه انجام می‌شود", THR_SAT, THR, "fa-IR", "2025-01-23T13:30:00Z"),
	/* the upper bound, 3 working days from Wed: Thu, (Fri off), Sat, Sun */
	P("ظرف ۲ تا ۳ روز کاری ارسال می‌شود", THR_WED, THR, "fa-IR", "2025-01-19T13:30:00Z"),
	P("امشب بررسی خواهیم کرد", THR_WED, THR, "fa-IR", "2025-01-15T17:30:00Z"),
	P("تا ساعت ۳ بعدازظهر تماس می‌گیریم", THR_WED, THR, "fa-IR", "2025-01-15T11:30:00Z"),
};

static const struct pcase nothing[] = {
	N("I was off yesterday.", NY_MON, NY, "en-US"),
	N("We cannot promise anything at this point.", NY_MON, NY, "en-US"),
	N("Thanks for your patience.", NY_MON, NY, "en-US"),
	N("The outage lasted 24 hours.", NY_MON, NY, "en-US"),
	N("We will not be able to finish this by tomorrow.", NY_MON, NY, "en-US"),
	N("Thanks for contacting us today.", NY_MON, NY, "en-US"),
	N("The outage was fixed in 3 hours.", NY_MON, NY, "en-US"),
	N("Please send us the logs by Friday.", NY_MON, NY, "en-US"),
	N("We have seen many errors in the last 24 hours.", NY_MON, NY, "en-US"),
	N("We'll get back to you soon.", NY_MON, NY, "en-US"),
	N("At the end of the day, the choice is yours.", NY_MON, NY, "en-US"),
	N("We spoke on Monday.", NY_THU, NY, "en-US"),
	N("Our office is closed until Monday.", NY_MON, NY, "en-US"),
	N("I'll get back to you in a few hours.", NY_MON, NY, "en-US"),
	N("Thanks!\n\nOn Mon, Jan 13, 2025 at 9:00 AM Jane <jane@example.com> wrote:\n"
	  "> I need this by tomorrow, will you manage?",
	  NY_MON, NY, "en-US"),
	N("كنت في إجازة أمس", CAI_MON, CAI, "ar-EG"),
	N("لن نتمكن من حل المشكلة غدا", CAI_MON, CAI, "ar-EG"),
	N("شكرا لصبرك", CAI_MON, CAI, "ar-EG"),
	N("استمر الانقطاع 24 ساعة", CAI_MON, CAI, "ar-EG"),
	N("حدثت المشكلة خلال الـ 24 ساعة الماضية", CAI_MON, CAI, "ar-EG"),
	N("يرجى الرد قبل يوم الخميس", CAI_MON, CAI, "ar-EG"),
	N("تواصلت معنا يوم الأحد", CAI_MON, CAI, "ar-EG"),
	N("تم حل المشكلة قبل يومين", CAI_MON, CAI, "ar-EG"),
	N("سنرد عليك خلال الساعات القادمة", CAI_MON, CAI, "ar-EG"),
	N("دیروز مرخصی بودم", THR_SAT, THR, "fa-IR"),
	N("نمی‌توانیم تا فردا مشکل را حل کنیم", THR_SAT, THR, "fa-IR"),
	N("از صبر شما متشکریم", THR_SAT, THR, "fa-IR"),
	N("قطعی ۲۴ ساعت طول کشید", THR_SAT, THR, "fa-IR"),
	N("امروز با همکارم صحبت کردم", THR_SAT, THR, "fa-IR"),
	N("مشکل ظرف ۲۴ ساعت گذشته رخ داد", THR_SAT, THR, "fa-IR"),
	N("۲ روز پیش تماس گرفتیم", THR_SAT, THR, "fa-IR"),
	N("لطفا تا فردا مدارک را ارسال کنید", THR_SAT, THR, "fa-IR"),
	N("", NY_MON, NY, "en-US"),
	N(NULL, NY_MON, NY, "en-US"),
};

/* A UTC string "YYYY-MM-DDTHH:MM:SSZ" to Unix seconds. */
static int64_t utc(const char *s)
{
	struct tm tm = { 0 };

	assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
	                 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static void fmt(int64_t t, char *buf, size_t len)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == NIL_TIME) {
		snprintf(buf, len, "nil");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void set_str(lua_State *L, const char *key, const char *v)
{
	if (!v)
		return;
	lua_pushstring(L, v);
	lua_setfield(L, -2, key);
}

/* Calls wafa.promise_in(text, t, opts) the way a rule's callback would.
 * Returns 0 with *out (NIL_TIME for nil) or the sandbox's error. */
static int promise_in(struct wafa_sandbox *sb, const struct pcase *pc, int64_t *out, char *why,
                      size_t whylen)
{
	lua_State *L = wafa_sandbox_state(sb);
	int top = lua_gettop(L);
	int err;

	wafa_sandbox_push_api(sb);
	lua_getfield(L, -1, "wafa");
	lua_getfield(L, -1, "promise_in");
	lua_replace(L, top + 1);
	lua_settop(L, top + 1);
	if (pc->text)
		lua_pushstring(L, pc->text);
	else
		lua_pushnil(L);
	lua_createtable(L, 0, 4);
	set_str(L, "customer_tz", pc->tz);
	set_str(L, "customer_locale", pc->locale);
	set_str(L, "subject", "طلب");
	if (pc->from_ticket) {
		lua_pushinteger(L, (lua_Integer)utc(pc->ref));
		lua_setfield(L, -2, "last_agent_at");
	}
	lua_createtable(L, 0, 3);
	if (!pc->from_ticket) {
		lua_pushinteger(L, (lua_Integer)utc(pc->ref));
		lua_setfield(L, -2, "now");
	}
	set_str(L, "tz", pc->opts_tz);
	set_str(L, "end_of_day", pc->eod);
	set_str(L, "week_end", pc->week_end);
	err = wafa_sandbox_call(sb, 3, 1, why, whylen);
	if (err)
		return err;
	if (lua_isnil(L, -1)) {
		*out = NIL_TIME;
	} else if (lua_isinteger(L, -1)) {
		*out = (int64_t)lua_tointeger(L, -1);
	} else {
		snprintf(why, whylen, "returned a %s, not an integer or nil", luaL_typename(L, -1));
		lua_settop(L, top);
		return -1;
	}
	lua_settop(L, top);
	return 0;
}

/* The text on one line, for a TAP comment. */
static const char *one_line(const char *text, char *buf, size_t len)
{
	size_t n = 0;

	if (!text)
		return "(nil)";
	for (; *text && n + 3 < len; text++) {
		if (*text == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else {
			buf[n++] = *text;
		}
	}
	buf[n] = '\0';
	return buf;
}

/* Runs the table; prints each failure with its sentence, the expected and
 * the actual instant; returns the number of failures. */
static int run_cases(struct wafa_sandbox *sb, const struct pcase *cases, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		const struct pcase *pc = &cases[i];
		int64_t got = NIL_TIME, want = pc->want ? utc(pc->want) : NIL_TIME;
		char why[512] = "", gs[64], ws[64], line[1024];
		int err = promise_in(sb, pc, &got, why, sizeof(why));

		if (err == 0 && got == want)
			continue;
		failed++;
		fmt(want, ws, sizeof(ws));
		fmt(got, gs, sizeof(gs));
		printf("# FAIL [%zu] \"%s\"\n#   reference %s in %s (%s)\n#   expected  %s\n"
		       "#   actual    %s%s\n",
		       i, one_line(pc->text, line, sizeof(line)), pc->ref,
		       pc->tz ? pc->tz : pc->opts_tz ? pc->opts_tz : "UTC",
		       pc->locale ? pc->locale : "no locale", ws, err ? "error: " : "", err ? why : gs);
	}
	printf("# %zu sentences, %d failed\n", n, failed);
	return failed;
}

static struct wafa_rules *g_rules;

static int setup(void **state)
{
	struct wafa_sandbox *sb;

	assert_int_equal(wafa_sandbox_open(32 << 20, 200, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &g_rules), 0);
	*state = sb;
	return 0;
}

static int teardown(void **state)
{
	wafa_rules_close(g_rules);
	wafa_sandbox_close(*state);
	return 0;
}

static void promises_are_found(void **state)
{
	assert_int_equal(run_cases(*state, promises, sizeof(promises) / sizeof(promises[0])), 0);
}

static void look_alikes_promise_nothing(void **state)
{
	assert_int_equal(run_cases(*state, nothing, sizeof(nothing) / sizeof(nothing[0])), 0);
}

static char dir[] = "/tmp/wafa-test-promise-XXXXXX";

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A manager's own phrasings, from a rule file, tried before the built-ins. */
static void custom_patterns(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	char report[4096] = "", cmd[300];
	FILE *out = fmemopen(report, sizeof(report), "w");
	static char long_sentence[1024];

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_file("1-ours.lua",
	           "wafa.promise_pattern('ASAP', function(ctx) return ctx.after(4 * 3600) end)\n"
	           "wafa.promise_pattern('first thing tomorrow', function(ctx) return ctx.at(1, '09:00') end)\n"
	           "wafa.promise_pattern('في أقرب وقت', function(ctx) return ctx.after(4 * 3600) end)\n"
	           "wafa.promise_pattern('tomorrow is a %a* ?holiday', function(ctx) return false end)\n"
	           "wafa.promise_pattern('by the (%d+)%a%a', function(ctx, d)\n"
	           "  local days = tonumber(d) - ctx.local_time.day\n"
	           "  if days > 0 then return ctx.at(days) end\n"
	           "end)\n");
	/* four quantifiers: refused when registered, at the file's line */
	write_file("2-costly.lua", "\nwafa.promise_pattern('(.-) (.-) (.-) (.-)', function() end)\n");
	assert_int_equal(wafa_sandbox_open(32 << 20, 200, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, out), 1);
	fclose(out);
	printf("# report: %s", report);
	assert_non_null(strstr(report, "2-costly.lua:2: promise_pattern \"(.-) (.-) (.-) (.-)\": 4 of"));

	memset(long_sentence, 0, sizeof(long_sentence));
	strcpy(long_sentence, "We have looked at the logs you sent");
	for (int i = 0; i < 12; i++)
		strcat(long_sentence, " and the screenshots of the settings page");
	strcat(long_sentence, " and we will do it asap.");
	assert_true(strlen(long_sentence) > 400);

	const struct pcase cases[] = {
		P("We will do it ASAP.", NY_MON, NY, "en-US", "2025-01-13T18:00:00Z"),
		/* beats the built-in "tomorrow" (17:00) in its sentence */
		P("First thing tomorrow we will start on it.", NY_MON, NY, "en-US",
		  "2025-01-14T14:00:00Z"),
		/* أقرب in the pattern, اقرب in the text: both normalised */
		P("سنقوم بذلك في اقرب وقت", CAI_MON, CAI, "ar-EG", "2025-01-13T12:00:00Z"),
		/* a veto: the built-in would say tomorrow */
		P("Tomorrow is a public holiday.", NY_MON, NY, "en-US", NULL),
		P("We will ship it by the 20th.", NY_MON, NY, "en-US", "2025-01-20T22:00:00Z"),
		/* no custom match: the built-ins */
		P("We will fix it within 2 hours.", NY_MON, NY, "en-US", "2025-01-13T16:00:00Z"),
		/* a long sentence is matched in windows, under the pattern guard */
		P(long_sentence, NY_MON, NY, "en-US", "2025-01-13T18:00:00Z"),
	};
	assert_int_equal(run_cases(sb, cases, sizeof(cases) / sizeof(cases[0])), 0);
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void bad_options_are_errors(void **state)
{
	struct pcase pc = PX7("We will fix it by tomorrow.", NY_MON, NY, "en-US", NULL, NULL, "5pm");
	char why[512] = "";
	int64_t got;

	assert_int_not_equal(promise_in(*state, &pc, &got, why, sizeof(why)), 0);
	printf("# %s\n", why);
	assert_non_null(strstr(why, "opts.end_of_day: \"5pm\" is not a time of day"));
	/* an unknown customer zone falls back to the rule's, then UTC */
	pc.eod = NULL;
	pc.tz = "Mars/Olympus_Mons";
	pc.opts_tz = BER;
	assert_int_equal(promise_in(*state, &pc, &got, why, sizeof(why)), 0);
	assert_int_equal(got, utc("2025-01-14T16:00:00Z"));
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Only the first 4 KB are read, and a call is quick. */
static void long_text_and_speed(void **state)
{
	struct wafa_sandbox *sb = *state;
	size_t cap = 16384;
	char *head = calloc(1, cap), *tail = calloc(1, cap), *mail = calloc(1, cap);
	int64_t got, t0, t1;
	char why[512];
	const int rounds = 300;

	assert_non_null(head);
	assert_non_null(tail);
	assert_non_null(mail);
	strcpy(head, "We will fix it by tomorrow. ");
	while (strlen(tail) < 6000)
		strcat(tail, "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ");
	strcat(head, tail);
	strcat(tail, "We will fix it by tomorrow.");

	struct pcase pc = N(head, NY_MON, NY, "en-US");
	assert_int_equal(promise_in(sb, &pc, &got, why, sizeof(why)), 0);
	assert_int_equal(got, utc("2025-01-14T22:00:00Z"));
	pc.text = tail;
	assert_int_equal(promise_in(sb, &pc, &got, why, sizeof(why)), 0);
	assert_int_equal(got, NIL_TIME);

	/* a realistic reply, three languages, about 1.5 KB */
	strcpy(mail, "Dear customer,\n\nThank you for reaching out to us about order #48213. "
	             "I have checked with our warehouse team and the replacement part is on its way; "
	             "unfortunately the courier could not deliver it yesterday because of the storm. "
	             "We will call you tomorrow morning to confirm the address, and the technician "
	             "will visit within 3 business days.\n\n"
	             "عميلنا العزيز، شكرا لتواصلك معنا. لقد راجعنا طلبك رقم ٤٨٢١٣ مع فريق المستودع، "
	             "وسيتم التواصل معك خلال ٢٤ ساعة لتأكيد العنوان. نعتذر عن التأخير.\n\n"
	             "مشتری گرامی، از تماس شما متشکریم. سفارش شما بررسی شد و ظرف ۲ روز کاری "
	             "ارسال می‌شود.\n\nBest regards,\nSupport team\n");
	pc.text = mail;
	assert_int_equal(promise_in(sb, &pc, &got, why, sizeof(why)), 0);
	/* خلال ٢٤ ساعة (Tue 14:00Z) comes before tomorrow morning (Tue 12:00 EST, 17:00Z) */
	assert_int_equal(got, utc("2025-01-14T14:00:00Z"));
	t0 = mono_us();
	for (int i = 0; i < rounds; i++)
		assert_int_equal(promise_in(sb, &pc, &got, why, sizeof(why)), 0);
	t1 = mono_us();
	printf("# %zu-byte reply: %.0f us per call\n", strlen(mail), (double)(t1 - t0) / rounds);

	/* the worst: 4 KB of Arabic with no punctuation */
	char *ar = calloc(1, cap);
	assert_non_null(ar);
	while (strlen(ar) < 5000)
		strcat(ar, "سنرسل لك غدا الساعة ٣ مساء خلال يومين في غضون ساعة ");
	pc.text = ar;
	t0 = mono_us();
	for (int i = 0; i < 20; i++)
		assert_int_equal(promise_in(sb, &pc, &got, why, sizeof(why)), 0);
	t1 = mono_us();
	printf("# %zu bytes of Arabic (4096 read): %.0f us per call\n", strlen(ar),
	       (double)(t1 - t0) / 20);
	assert_int_equal(got, utc(NY_MON) + 3600); /* في غضون ساعة */
	/* a loose bound: a slow or sanitised build still passes, a runaway does not */
	assert_true((t1 - t0) / 20 < 50000);
	free(ar);
	free(head);
	free(tail);
	free(mail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(promises_are_found),
		cmocka_unit_test(look_alikes_promise_nothing),
		cmocka_unit_test(bad_options_are_errors),
		cmocka_unit_test(long_text_and_speed),
		cmocka_unit_test(custom_patterns),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
