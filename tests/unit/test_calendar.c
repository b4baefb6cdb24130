/* Calendars and business time.  Expected instants are worked out by hand
 * from the zones' published UTC offsets (utc() below is plain arithmetic,
 * no ICU), or by an ICU calendar of the test's own (the oracle and the
 * Hijri/Persian scans), never by asking calendar.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "time/calendar.h"
#include "time/zone.h"

#define MIN_MS 60000LL
#define H_MS 3600000LL
#define DAY_MS 86400000LL

static const char *const ALWAYS[7] = { "00:00-24:00", "00:00-24:00", "00:00-24:00", "00:00-24:00",
	                               "00:00-24:00", "00:00-24:00", "00:00-24:00" };
/* Sunday .. Saturday */
static const char *const MON_FRI[7] = { NULL, "09:00-17:00", "09:00-17:00", "09:00-17:00",
	                                "09:00-17:00", "09:00-17:00", NULL };
static const char *const SUN_THU[7] = { "09:00-17:00", "09:00-17:00", "09:00-17:00",
	                                "09:00-17:00", "09:00-17:00", NULL, NULL };

/* Day number of a Gregorian date, 1970-01-01 is 0. */
static int64_t days(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* A UTC instant, by arithmetic. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
	return days(y, mo, d) * DAY_MS + h * H_MS + mi * MIN_MS;
}

/* Local wall time at a fixed offset (minutes east of UTC), by arithmetic. */
static int64_t at_off(int y, int mo, int d, int h, int mi, int off)
{
	return utc(y, mo, d, h, mi) - off * MIN_MS;
}

static void fmt_ms(int64_t ms, char *buf, size_t len)
{
	int64_t dn, rem;
	int64_t z, era, doe, yoe, doy, mp;
	int y, m, d;

	if (ms == WAFA_NO_TIME) {
		snprintf(buf, len, "WAFA_NO_TIME");
		return;
	}
	dn = (ms >= 0 ? ms : ms - DAY_MS + 1) / DAY_MS;
	rem = ms - dn * DAY_MS;
	z = dn + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int)(doy - (153 * mp + 2) / 5 + 1);
	m = (int)(mp < 10 ? mp + 3 : mp - 9);
	y = (int)(yoe + era * 400 + (m <= 2));
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, (int)(rem / H_MS),
	         (int)(rem / MIN_MS % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}

/* assert_int_equal for instants and durations, printing them readably. */
#define assert_ms(got, want) check_ms((got), (want), #got, false, __FILE__, __LINE__)
#define assert_dur(got, want) check_ms((got), (want), #got, true, __FILE__, __LINE__)

static void check_ms(int64_t got, int64_t want, const char *expr, bool dur, const char *file,
                     int line)
{
	char g[48], w[48];

	if (got == want)
		return;
	if (dur) {
		snprintf(g, sizeof(g), "%.4fh", (double)got / H_MS);
		snprintf(w, sizeof(w), "%.4fh", (double)want / H_MS);
	} else {
		fmt_ms(got, g, sizeof(g));
		fmt_ms(want, w, sizeof(w));
	}
	print_error("%s:%d: %s is %s (%lld), want %s (%lld)\n", file, line, expr, g,
	            (long long)got, w, (long long)want);
	_fail(file, line);
}

static struct wafa_calendar *mkcal(const char *tz, const char *const hours[7])
{
	struct wafa_calendar *cal = NULL;
	char why[256] = "";

	assert_int_equal(wafa_calendar_new("test", tz, &cal, why, sizeof(why)), 0);
	assert_non_null(cal);
	for (int i = 0; hours && i < 7; i++) {
		if (!hours[i])
			continue;
		if (wafa_calendar_set_hours(cal, i, hours[i], why, sizeof(why)) != 0)
			fail_msg("%s: %s", hours[i], why);
	}
	return cal;
}

static void holiday(struct wafa_calendar *cal, enum wafa_holiday_kind kind, int y, int m, int d)
{
	char why[256] = "";

	if (wafa_calendar_add_holiday(cal, kind, y, m, d, why, sizeof(why)) != 0)
		fail_msg("holiday %d %d-%d-%d: %s", (int)kind, y, m, d, why);
}

/* An ICU calendar of the test's own. */
static UCalendar *icu_open(const char *tz, const char *locale)
{
	UChar id[64];
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *uc;

	u_uastrcpy(id, tz);
	uc = ucal_open(id, -1, locale, UCAL_DEFAULT, &st);
	assert_false(U_FAILURE(st));
	return uc;
}

/* ---------------------------------------------------------------- zone.c */

static void zone_split_and_join(void **state)
{
	struct wafa_local lt;
	int64_t ms;

	(void)state;
	/* Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z */
	assert_int_equal(wafa_zone_split(utc(2026, 10, 25, 0, 30), "Europe/Berlin", &lt), 0);
	assert_int_equal(lt.year, 2026);
	assert_int_equal(lt.month, 10);
	assert_int_equal(lt.day, 25);
	assert_int_equal(lt.hour, 2);
	assert_int_equal(lt.minute, 30);
	assert_int_equal(lt.wday, 0);
	assert_int_equal(wafa_zone_split(utc(2026, 10, 25, 1, 30), "Europe/Berlin", &lt), 0);
	assert_int_equal(lt.hour, 2);
	assert_int_equal(lt.minute, 30);
	/* 02:30 exists twice: join takes the earlier (CEST) */
	lt = (struct wafa_local){ 2026, 10, 25, 2, 30, 0, 0 };
	assert_int_equal(wafa_zone_join(&lt, "Europe/Berlin", &ms), 0);
	assert_ms(ms, utc(2026, 10, 25, 0, 30));
	/* 02:30 on 2026-03-29 does not exist.  zone.c asks ICU for the next
	 * valid instant, 03:00 CEST = 01:00Z (zone.h's comment says "moves
	 * forward by the gap", which would be 03:30). */
	lt = (struct wafa_local){ 2026, 3, 29, 2, 30, 0, 0 };
	assert_int_equal(wafa_zone_join(&lt, "Europe/Berlin", &ms), 0);
	assert_ms(ms, utc(2026, 3, 29, 1, 0));
	/* Lord Howe: +10:30 standard, +11 summer; 02:00 -> 02:30 on 2026-10-04 */
	assert_int_equal(wafa_zone_split(utc(2026, 10, 3, 15, 29), "Australia/Lord_Howe", &lt), 0);
	assert_int_equal(lt.day, 4);
	assert_int_equal(lt.hour, 1);
	assert_int_equal(lt.minute, 59);
	assert_int_equal(wafa_zone_split(utc(2026, 10, 3, 15, 30), "Australia/Lord_Howe", &lt), 0);
	assert_int_equal(lt.hour, 2);
	assert_int_equal(lt.minute, 30);
	/* Tehran: +4:30 in summer 2021, +3:30 for good since 2022 */
	assert_int_equal(wafa_zone_split(utc(2021, 7, 1, 12, 0), "Asia/Tehran", &lt), 0);
	assert_int_equal(lt.hour, 16);
	assert_int_equal(lt.minute, 30);
	assert_int_equal(wafa_zone_split(utc(2026, 7, 1, 12, 0), "Asia/Tehran", &lt), 0);
	assert_int_equal(lt.hour, 15);
	assert_int_equal(lt.minute, 30);
	/* rolling over: day 32 of December is next year's 1 January */
	lt = (struct wafa_local){ 2026, 12, 32, 12, 0, 0, 0 };
	assert_int_equal(wafa_zone_join(&lt, "UTC", &ms), 0);
	assert_ms(ms, utc(2027, 1, 1, 12, 0));
}

static void zone_rejects_unknown(void **state)
{
	struct wafa_local lt;
	struct wafa_local in = { 2026, 1, 1, 0, 0, 0, 0 };
	int64_t ms;

	(void)state;
	assert_true(wafa_zone_valid("Africa/Cairo"));
	assert_true(wafa_zone_valid("UTC"));
	assert_false(wafa_zone_valid("Africa/Kairo"));
	assert_false(wafa_zone_valid(""));
	assert_false(wafa_zone_valid(NULL));
	assert_int_equal(wafa_zone_split(0, "Mars/Olympus", &lt), -EINVAL);
	assert_int_equal(wafa_zone_join(&in, "Mars/Olympus", &ms), -EINVAL);
}

/* ------------------------------------------------------------ messages */

static void new_rejects_unknown_zone(void **state)
{
	struct wafa_calendar *cal = (struct wafa_calendar *)1;
	char why[256] = "";

	(void)state;
	assert_int_equal(wafa_calendar_new("eg", "Africa/Kairo", &cal, why, sizeof(why)), -EINVAL);
	assert_null(cal);
	assert_non_null(strstr(why, "\"Africa/Kairo\""));
	assert_non_null(strstr(why, "IANA"));
	assert_non_null(strstr(why, "Africa/Cairo"));
	/* a NULL why is allowed */
	assert_int_equal(wafa_calendar_new("eg", "Nowhere", &cal, NULL, 0), -EINVAL);

	cal = mkcal("Africa/Cairo", NULL);
	assert_string_equal(wafa_calendar_name(cal), "test");
	assert_string_equal(wafa_calendar_tz(cal), "Africa/Cairo");
	wafa_calendar_free(cal);
	wafa_calendar_free(NULL);
}

static void set_hours_errors(void **state)
{
	struct wafa_calendar *cal = mkcal("UTC", NULL);
	char why[256];
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{ "09:00-25:00", "\"09:00-25:00\": hour 25 is out of range (use 00:00-24:00)" },
		{ "09:60-17:00", "\"09:60-17:00\": minute 60 is out of range (use 00-59)" },
		{ "09:00-24:30", "\"09:00-24:30\": 24:30 is past the end of the day (24:00 is the latest)" },
		{ "17:00-09:00", "\"17:00-09:00\": range 17:00-09:00 is empty or backwards" },
		{ "09:00-09:00", "range 09:00-09:00 is empty or backwards" },
		{ "09:00-13:00,12:00-17:00",
		  "range 12:00-17:00 starts before 09:00-13:00 ends (ranges must be ascending and not "
		  "overlap)" },
		{ "13:00-17:00,09:00-12:00", "ranges must be ascending" },
		{ "9am-5pm", "\"9am-5pm\": expected a time like 09:00 at \"9am-5pm\"" },
		{ "09:00", "expected \"-\" after 09:00" },
		{ "09:00-17:00;", "unexpected \";\" after 17:00 (separate ranges with commas)" },
		{ "09:00-17:00,", "a comma with no range after it" },
		{ "09:0-17:00", "expected a time like 09:00" },
		{ "009:00-17:00", "expected a time like 09:00" },
		{ "00:00-01:00,02:00-03:00,04:00-05:00,06:00-07:00,08:00-09:00,10:00-11:00,"
		  "12:00-13:00,14:00-15:00,16:00-17:00",
		  "more than 8 ranges" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		assert_int_equal(wafa_calendar_set_hours(cal, 1, bad[i].spec, why, sizeof(why)), -EINVAL);
		if (!strstr(why, bad[i].msg))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].spec, why, bad[i].msg);
	}
	assert_int_equal(wafa_calendar_set_hours(cal, 7, "09:00-17:00", why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "weekday 7 is out of range (use 0 Sunday .. 6 Saturday)"));
	assert_int_equal(wafa_calendar_set_hours(cal, -1, "09:00-17:00", why, sizeof(why)), -EINVAL);
	/* the failures left the calendar closed */
	assert_ms(wafa_calendar_next_open(cal, utc(2026, 1, 5, 0, 0)), WAFA_NO_TIME);

	/* and these are fine */
	assert_int_equal(wafa_calendar_set_hours(cal, 1, "9:00-17:00", why, sizeof(why)), 0);
	assert_int_equal(wafa_calendar_set_hours(cal, 1, " 09:00 - 12:00 , 13:00-17:00 ", why,
	                                         sizeof(why)),
	                 0);
	assert_int_equal(wafa_calendar_set_hours(cal, 2, "00:00-24:00", why, sizeof(why)), 0);
	assert_int_equal(wafa_calendar_set_hours(cal, 3, "09:00-12:00,12:00-17:00", why, sizeof(why)),
	                 0);
	assert_int_equal(wafa_calendar_set_hours(cal, 4, "", why, sizeof(why)), 0);
	/* Monday 2026-01-05, split; Tuesday whole; Wednesday touching ranges are one */
	assert_dur(wafa_calendar_elapsed(cal, utc(2026, 1, 5, 0, 0), utc(2026, 1, 6, 0, 0)), 7 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, utc(2026, 1, 6, 0, 0), utc(2026, 1, 7, 0, 0)), 24 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, utc(2026, 1, 7, 0, 0), utc(2026, 1, 8, 0, 0)), 8 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, utc(2026, 1, 8, 0, 0), utc(2026, 1, 9, 0, 0)), 0);
	wafa_calendar_free(cal);
}

static void add_holiday_errors(void **state)
{
	struct wafa_calendar *cal = mkcal("UTC", MON_FRI);
	char why[256];
	static const struct {
		enum wafa_holiday_kind kind;
		int y, m, d;
		const char *msg;
	} bad[] = {
		{ WAFA_HOLIDAY_DATE, 2026, 2, 29, "2026-02-29 is not a date (that month has 28 days)" },
		{ WAFA_HOLIDAY_DATE, 2026, 13, 1, "month 13 is out of range (use 1..12)" },
		{ WAFA_HOLIDAY_DATE, 12026, 1, 1, "year 12026 is out of range" },
		{ WAFA_HOLIDAY_YEARLY, 0, 4, 31, "day 31 is out of range for month 4 (use 1..30)" },
		{ WAFA_HOLIDAY_YEARLY, 0, 0, 1, "month 0 is out of range" },
		{ WAFA_HOLIDAY_HIJRI, 0, 13, 1, "Hijri month 13 is out of range (use 1..12)" },
		{ WAFA_HOLIDAY_HIJRI, 0, 9, 31, "Hijri day 31 is out of range (use 1..30)" },
		{ WAFA_HOLIDAY_PERSIAN, 0, 7, 31, "Persian day 31 is out of range for month 7 (use 1..30)" },
		{ WAFA_HOLIDAY_PERSIAN, 0, 0, 1, "Persian month 0 is out of range" },
		{ (enum wafa_holiday_kind)9, 0, 1, 1, "unknown kind of holiday" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = 0;
		assert_int_equal(wafa_calendar_add_holiday(cal, bad[i].kind, bad[i].y, bad[i].m, bad[i].d,
		                                           why, sizeof(why)),
		                 -EINVAL);
		if (!strstr(why, bad[i].msg))
			fail_msg("holiday %zu: got \"%s\", want \"%s\"", i, why, bad[i].msg);
	}
	/* none of them closed a day */
	assert_dur(wafa_calendar_elapsed(cal, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)),
	           261 * 8 * H_MS);
	/* yearly 02-29 is a leap-year holiday; 2028-02-29 is a Tuesday */
	holiday(cal, WAFA_HOLIDAY_YEARLY, 0, 2, 29);
	assert_dur(wafa_calendar_elapsed(cal, utc(2028, 2, 29, 0, 0), utc(2028, 3, 1, 0, 0)), 0);
	assert_true(wafa_calendar_is_open(cal, utc(2027, 3, 1, 10, 0))); /* a Monday, not 02-29 */
	assert_dur(wafa_calendar_elapsed(cal, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0)),
	           261 * 8 * H_MS);
	wafa_calendar_free(cal);
}

/* ----------------------------------------------------- plain arithmetic */

static void split_shifts(void **state)
{
	static const char *const hours[7] = { NULL,
		                              "09:00-12:00,13:00-17:00",
		                              "09:00-12:00,13:00-17:00",
		                              "09:00-12:00,13:00-17:00",
		                              "09:00-12:00,13:00-17:00",
		                              "09:00-12:00,13:00-17:00",
		                              NULL };
	struct wafa_calendar *cal = mkcal("UTC", hours);
	int64_t mon = utc(2026, 1, 5, 0, 0); /* a Monday */

	(void)state;
	assert_dur(wafa_calendar_elapsed(cal, mon + 11 * H_MS, mon + 14 * H_MS), 2 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, mon + 12 * H_MS, mon + 13 * H_MS), 0);
	assert_dur(wafa_calendar_elapsed(cal, mon, mon + DAY_MS), 7 * H_MS);
	/* reaching the target as the morning shift ends gives 12:00, not 13:00 */
	assert_ms(wafa_calendar_add(cal, mon + 11 * H_MS, H_MS), mon + 12 * H_MS);
	assert_ms(wafa_calendar_add(cal, mon + 11 * H_MS, H_MS + 1), mon + 13 * H_MS + 1);
	assert_ms(wafa_calendar_add(cal, mon + 12 * H_MS + 30 * MIN_MS, 1), mon + 13 * H_MS + 1);
	/* and backwards: the latest start with 1h before 13:00 is 11:00 */
	assert_ms(wafa_calendar_sub(cal, mon + 13 * H_MS, H_MS), mon + 11 * H_MS);
	assert_ms(wafa_calendar_sub(cal, mon + 14 * H_MS, H_MS), mon + 13 * H_MS);
	assert_ms(wafa_calendar_sub(cal, mon + 14 * H_MS, H_MS + 1), mon + 12 * H_MS - 1);
	assert_ms(wafa_calendar_sub(cal, mon + 14 * H_MS, 0), mon + 14 * H_MS);
	/* Friday 16:00 + 2h: 1h on Friday, the weekend, 1h on Monday */
	assert_ms(wafa_calendar_add(cal, utc(2026, 1, 9, 16, 0), 2 * H_MS), utc(2026, 1, 12, 10, 0));
	assert_ms(wafa_calendar_sub(cal, utc(2026, 1, 12, 10, 0), 2 * H_MS), utc(2026, 1, 9, 16, 0));
	wafa_calendar_free(cal);
}

static void weekends(void **state)
{
	/* Riyadh, +3 all year, Sunday to Thursday */
	struct wafa_calendar *cal = mkcal("Asia/Riyadh", SUN_THU);

	(void)state;
	/* Thursday 2026-01-08 16:00 + 2h -> Sunday 2026-01-11 10:00 */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 1, 8, 16, 0, 180), 2 * H_MS),
	          at_off(2026, 1, 11, 10, 0, 180));
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 1, 9, 10, 0, 180)));
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 1, 10, 10, 0, 180)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 1, 11, 10, 0, 180)));
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 1, 4, 0, 0, 180),
	                                 at_off(2026, 1, 11, 0, 0, 180)),
	           40 * H_MS);
	wafa_calendar_free(cal);

	/* UTC, Monday to Friday: Friday 16:00 + 2h -> Monday 10:00 */
	cal = mkcal("UTC", MON_FRI);
	assert_ms(wafa_calendar_add(cal, utc(2026, 1, 9, 16, 0), 2 * H_MS), utc(2026, 1, 12, 10, 0));
	assert_false(wafa_calendar_is_open(cal, utc(2026, 1, 10, 10, 0)));
	assert_false(wafa_calendar_is_open(cal, utc(2026, 1, 11, 10, 0)));
	assert_true(wafa_calendar_is_open(cal, utc(2026, 1, 9, 10, 0)));
	wafa_calendar_free(cal);
}

static void long_targets(void **state)
{
	struct wafa_calendar *cal = mkcal("UTC", MON_FRI);
	int64_t from = utc(2026, 1, 5, 9, 0); /* Monday */

	(void)state;
	/* 60h = five days of 8h, then Mon 12, Tue 13 (56h), then 4h on Wed 14 */
	assert_ms(wafa_calendar_add(cal, from, 60 * H_MS), utc(2026, 1, 14, 13, 0));
	assert_dur(wafa_calendar_elapsed(cal, from, utc(2026, 1, 14, 13, 0)), 60 * H_MS);
	/* 500h = 62.5 days: 12 weeks to Monday 30 March, then 8 + 8 + 4 */
	assert_ms(wafa_calendar_add(cal, from, 500 * H_MS), utc(2026, 4, 1, 13, 0));
	assert_ms(wafa_calendar_sub(cal, utc(2026, 4, 1, 13, 0), 500 * H_MS), from);
	/* a holiday in the way moves it a day */
	holiday(cal, WAFA_HOLIDAY_DATE, 2026, 1, 7);
	assert_ms(wafa_calendar_add(cal, from, 60 * H_MS), utc(2026, 1, 15, 13, 0));
	/* a yearly one too, and only on working days does it matter */
	holiday(cal, WAFA_HOLIDAY_YEARLY, 0, 1, 13);
	holiday(cal, WAFA_HOLIDAY_YEARLY, 0, 1, 10); /* a Saturday in 2026 */
	assert_ms(wafa_calendar_add(cal, from, 60 * H_MS), utc(2026, 1, 16, 13, 0));
	/* 2027-01-13 is a Wednesday: closed too */
	assert_false(wafa_calendar_is_open(cal, utc(2027, 1, 13, 10, 0)));
	assert_true(wafa_calendar_is_open(cal, utc(2027, 1, 12, 10, 0)));
	/* 2026-01-07 was a one-off */
	assert_true(wafa_calendar_is_open(cal, utc(2027, 1, 7, 10, 0)));
	wafa_calendar_free(cal);
}

static void boundaries(void **state)
{
	struct wafa_calendar *cal = mkcal("UTC", MON_FRI);
	int64_t open = utc(2026, 1, 6, 9, 0), close = utc(2026, 1, 6, 17, 0);

	(void)state;
	assert_false(wafa_calendar_is_open(cal, open - 1));
	assert_true(wafa_calendar_is_open(cal, open));
	assert_true(wafa_calendar_is_open(cal, close - 1));
	assert_false(wafa_calendar_is_open(cal, close));
	assert_ms(wafa_calendar_next_open(cal, open - 1), open);
	assert_ms(wafa_calendar_next_open(cal, open), open);
	assert_ms(wafa_calendar_next_open(cal, open + 5), open + 5);
	assert_ms(wafa_calendar_next_open(cal, close - 1), close - 1);
	assert_ms(wafa_calendar_next_open(cal, close), open + DAY_MS);
	/* Friday's close to Monday's open */
	assert_ms(wafa_calendar_next_open(cal, utc(2026, 1, 9, 17, 0)), utc(2026, 1, 12, 9, 0));
	assert_dur(wafa_calendar_elapsed(cal, open, close), 8 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, close, open), 0);
	assert_dur(wafa_calendar_elapsed(cal, open, open), 0);
	assert_dur(wafa_calendar_elapsed(cal, close - 1, close + 1), 1);
	assert_dur(wafa_calendar_elapsed(cal, open - 1, open + 1), 1);
	assert_ms(wafa_calendar_add(cal, close - 1, 1), close);
	assert_ms(wafa_calendar_add(cal, close, 1), open + DAY_MS + 1);
	assert_ms(wafa_calendar_add(cal, open - 7 * H_MS, 0), open - 7 * H_MS);
	assert_ms(wafa_calendar_sub(cal, open + 1, 1), open);
	assert_ms(wafa_calendar_sub(cal, open, 1), close - DAY_MS - 1);
	assert_ms(wafa_calendar_add(cal, close, -1), WAFA_NO_TIME);
	assert_ms(wafa_calendar_add(cal, WAFA_NO_TIME, 1), WAFA_NO_TIME);
	assert_false(wafa_calendar_is_open(cal, WAFA_NO_TIME));
	wafa_calendar_free(cal);

	/* a 24/7 calendar is open across midnight */
	cal = mkcal("UTC", ALWAYS);
	assert_true(wafa_calendar_is_open(cal, utc(2026, 1, 6, 0, 0)));
	assert_true(wafa_calendar_is_open(cal, utc(2026, 1, 6, 0, 0) - 1));
	assert_ms(wafa_calendar_next_open(cal, utc(2026, 1, 6, 0, 0)), utc(2026, 1, 6, 0, 0));
	assert_ms(wafa_calendar_add(cal, utc(2026, 1, 5, 23, 0), 2 * H_MS), utc(2026, 1, 6, 1, 0));
	/* 3000 days fits the ten-year horizon, 3700 days does not */
	assert_ms(wafa_calendar_add(cal, utc(2026, 1, 1, 0, 0), 3000 * DAY_MS),
	          utc(2026, 1, 1, 0, 0) + 3000 * DAY_MS);
	assert_ms(wafa_calendar_sub(cal, utc(2026, 1, 1, 0, 0), 3000 * DAY_MS),
	          utc(2026, 1, 1, 0, 0) - 3000 * DAY_MS);
	assert_ms(wafa_calendar_add(cal, utc(2026, 1, 1, 0, 0), 3700 * DAY_MS), WAFA_NO_TIME);
	assert_dur(wafa_calendar_elapsed(cal, utc(2016, 1, 1, 0, 0), utc(2036, 1, 1, 0, 0)),
	           (days(2036, 1, 1) - days(2016, 1, 1)) * DAY_MS);
	wafa_calendar_free(cal);
}

static void never_open(void **state)
{
	struct wafa_calendar *cal = mkcal("Europe/Berlin", NULL);
	int64_t t = utc(2026, 6, 1, 12, 0);

	(void)state;
	assert_false(wafa_calendar_is_open(cal, t));
	assert_dur(wafa_calendar_elapsed(cal, t, t + 365 * DAY_MS), 0);
	assert_ms(wafa_calendar_add(cal, t, 1), WAFA_NO_TIME);
	assert_ms(wafa_calendar_add(cal, t, 0), t);
	assert_ms(wafa_calendar_sub(cal, t, 1), WAFA_NO_TIME);
	assert_ms(wafa_calendar_next_open(cal, t), WAFA_NO_TIME);
	/* clearing the only open day closes it again */
	char why[128];
	assert_int_equal(wafa_calendar_set_hours(cal, 3, "10:00-11:00", why, sizeof(why)), 0);
	assert_ms(wafa_calendar_add(cal, t, 1), utc(2026, 6, 3, 8, 0) + 1); /* Wed 10:00 CEST */
	assert_int_equal(wafa_calendar_set_hours(cal, 3, "", why, sizeof(why)), 0);
	assert_ms(wafa_calendar_add(cal, t, 1), WAFA_NO_TIME);
	assert_ms(wafa_calendar_next_open(cal, t), WAFA_NO_TIME);
	wafa_calendar_free(cal);
}

/* Instants far outside years 2..9998 are never open; nothing overflows. */
static void extreme_inputs(void **state)
{
	struct wafa_calendar *cal = mkcal("UTC", ALWAYS);
	int64_t t = utc(2026, 1, 1, 0, 0);

	(void)state;
	assert_false(wafa_calendar_is_open(cal, INT64_MAX));
	assert_false(wafa_calendar_is_open(cal, INT64_MIN + 1));
	assert_true(wafa_calendar_is_open(cal, utc(9998, 6, 1, 0, 0)));
	assert_true(wafa_calendar_is_open(cal, utc(2, 6, 1, 0, 0)));
	assert_ms(wafa_calendar_add(cal, INT64_MAX, 1), WAFA_NO_TIME);
	assert_ms(wafa_calendar_add(cal, t, INT64_MAX), WAFA_NO_TIME);
	assert_ms(wafa_calendar_sub(cal, t, INT64_MAX), WAFA_NO_TIME);
	assert_ms(wafa_calendar_sub(cal, INT64_MIN + 1, 1), WAFA_NO_TIME);
	assert_ms(wafa_calendar_sub(cal, WAFA_NO_TIME, 1), WAFA_NO_TIME);
	assert_ms(wafa_calendar_next_open(cal, INT64_MAX), WAFA_NO_TIME);
	assert_ms(wafa_calendar_next_open(cal, WAFA_NO_TIME), WAFA_NO_TIME);
	assert_dur(wafa_calendar_elapsed(cal, INT64_MAX - 5, INT64_MAX), 0);
	assert_dur(wafa_calendar_elapsed(cal, INT64_MIN, INT64_MIN + 5), 0);
	assert_dur(wafa_calendar_elapsed(cal, WAFA_NO_TIME, t), 0);
	assert_dur(wafa_calendar_elapsed(cal, t, WAFA_NO_TIME), 0);
	/* a span running off the supported years counts what is inside */
	assert_dur(wafa_calendar_elapsed(cal, utc(9998, 12, 20, 0, 0), INT64_MAX), 10 * DAY_MS);
	wafa_calendar_free(cal);
}

/* Hours and holidays changed after questions were asked are seen. */
static void changes_after_queries(void **state)
{
	struct wafa_calendar *cal = mkcal("UTC", MON_FRI);
	char why[128];
	int64_t mon = utc(2026, 1, 5, 0, 0);

	(void)state;
	assert_ms(wafa_calendar_add(cal, mon, H_MS), mon + 10 * H_MS);
	assert_int_equal(wafa_calendar_set_hours(cal, 1, "08:00-17:00", why, sizeof(why)), 0);
	assert_ms(wafa_calendar_add(cal, mon, H_MS), mon + 9 * H_MS);
	holiday(cal, WAFA_HOLIDAY_DATE, 2026, 1, 5);
	assert_ms(wafa_calendar_add(cal, mon, H_MS), mon + DAY_MS + 10 * H_MS);
	holiday(cal, WAFA_HOLIDAY_HIJRI, 0, 10, 1); /* 2026-03-20, a Friday: changes nothing here */
	assert_ms(wafa_calendar_add(cal, mon, H_MS), mon + DAY_MS + 10 * H_MS);
	wafa_calendar_free(cal);
}

/* --------------------------------------------------------------- DST */

static void new_york_dst(void **state)
{
	struct wafa_calendar *cal = mkcal("America/New_York", ALWAYS);
	const int EST = -300, EDT = -240;

	(void)state;
	/* 2026-03-08 is 23h long, 2026-11-01 25h */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 3, 8, 0, 0, EST), at_off(2026, 3, 9, 0, 0, EDT)),
	           23 * H_MS);
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 8, 0, 0, EST), 23 * H_MS),
	          at_off(2026, 3, 9, 0, 0, EDT));
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 11, 1, 0, 0, EDT),
	                                 at_off(2026, 11, 2, 0, 0, EST)),
	           25 * H_MS);
	assert_ms(wafa_calendar_add(cal, at_off(2026, 11, 1, 0, 0, EDT), 24 * H_MS),
	          at_off(2026, 11, 1, 23, 0, EST));
	wafa_calendar_free(cal);

	static const char *const hours[7] = { "02:30-05:00", "09:00-17:00", "09:00-17:00",
		                              "09:00-17:00", "09:00-17:00", "09:00-17:00", NULL };
	cal = mkcal("America/New_York", hours);
	/* over the change weekends */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 6, 16, 0, EST), 4 * H_MS),
	          at_off(2026, 3, 9, 10, 0, EDT));
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 30, 16, 0, EDT), 4 * H_MS + 30 * MIN_MS),
	          at_off(2026, 11, 2, 10, 0, EST));
	/* 02:30 on 2026-03-08 does not exist: open from 03:00 EDT, 2h that day */
	assert_ms(wafa_calendar_next_open(cal, at_off(2026, 3, 8, 0, 0, EST)),
	          at_off(2026, 3, 8, 3, 0, EDT));
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 3, 8, 3, 0, EDT) - 1));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 3, 8, 3, 0, EDT)));
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 3, 8, 0, 0, EST), at_off(2026, 3, 9, 0, 0, EDT)),
	           2 * H_MS);
	/* and 2.5h on an ordinary Sunday */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 3, 15, 0, 0, EDT),
	                                 at_off(2026, 3, 16, 0, 0, EDT)),
	           150 * MIN_MS);
	/* on 2026-11-01 02:30 is EST, after the repeated hour */
	assert_ms(wafa_calendar_next_open(cal, at_off(2026, 11, 1, 0, 0, EDT)),
	          at_off(2026, 11, 1, 2, 30, EST));
	wafa_calendar_free(cal);
}

static void berlin_dst(void **state)
{
	struct wafa_calendar *cal = mkcal("Europe/Berlin", ALWAYS);
	const int CET = 60, CEST = 120;

	(void)state;
	/* the autumn day is 25h: a 24/7 calendar counts real time */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 10, 25, 0, 0, CEST),
	                                 at_off(2026, 10, 26, 0, 0, CET)),
	           25 * H_MS);
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 25, 0, 0, CEST), 24 * H_MS),
	          at_off(2026, 10, 25, 23, 0, CET));
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 25, 0, 0, CEST), 25 * H_MS),
	          at_off(2026, 10, 26, 0, 0, CET));
	/* the spring day 23h */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 3, 29, 0, 0, CET),
	                                 at_off(2026, 3, 30, 0, 0, CEST)),
	           23 * H_MS);
	assert_ms(wafa_calendar_sub(cal, at_off(2026, 3, 30, 0, 0, CEST), 23 * H_MS),
	          at_off(2026, 3, 29, 0, 0, CET));
	/* a week over the change is 7 * 24h + 1h of real time */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 10, 22, 12, 0, CEST),
	                                 at_off(2026, 10, 29, 12, 0, CET)),
	           169 * H_MS);
	wafa_calendar_free(cal);

	static const char *const hours[7] = { "01:00-04:00", "09:00-17:00", "09:00-17:00",
		                              "09:00-17:00", "09:00-17:00", "09:00-17:00", NULL };
	cal = mkcal("Europe/Berlin", hours);
	/* Friday 16:00 CEST + 2h over the autumn weekend (Sunday 01:00-04:00 is 4h real) */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 23, 16, 0, CEST), 6 * H_MS),
	          at_off(2026, 10, 26, 10, 0, CET));
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 10, 25, 0, 0, CEST),
	                                 at_off(2026, 10, 26, 0, 0, CET)),
	           4 * H_MS);
	/* in spring, 01:00-04:00 is 2h real; 02:00-03:00 does not exist */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 3, 29, 0, 0, CET),
	                                 at_off(2026, 3, 30, 0, 0, CEST)),
	           2 * H_MS);
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 27, 16, 0, CET), 4 * H_MS),
	          at_off(2026, 3, 30, 10, 0, CEST));
	wafa_calendar_free(cal);

	/* an opening hour in the gap opens at the next valid instant */
	static const char *const gap[7] = { "02:00-04:00", NULL, NULL, NULL, NULL, NULL, NULL };
	cal = mkcal("Europe/Berlin", gap);
	assert_ms(wafa_calendar_next_open(cal, at_off(2026, 3, 28, 12, 0, CET)),
	          at_off(2026, 3, 29, 3, 0, CEST));
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 28, 12, 0, CET), H_MS),
	          at_off(2026, 3, 29, 4, 0, CEST));
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 28, 12, 0, CET), H_MS + 1),
	          at_off(2026, 4, 5, 2, 0, CEST) + 1);
	wafa_calendar_free(cal);
}

static void cairo_2014_dst(void **state)
{
	/* Egypt 2014: summer time from Friday 16 May 00:00 (-> 01:00), stopped
	 * for Ramadan on 26 June 24:00 (-> 23:00), again from 31 July 24:00,
	 * over on 25 September 24:00.  Weekend Friday and Saturday. */
	struct wafa_calendar *cal = mkcal("Africa/Cairo", ALWAYS);
	const int EET = 120, EEST = 180;

	(void)state;
	assert_dur(wafa_calendar_elapsed(cal, at_off(2014, 5, 15, 0, 0, EET), at_off(2014, 5, 16, 1, 0, EEST)),
	           24 * H_MS);
	/* Friday the 16th starts at 01:00, its midnight does not exist */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2014, 5, 16, 1, 0, EEST),
	                                 at_off(2014, 5, 17, 0, 0, EEST)),
	           23 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2014, 6, 26, 0, 0, EEST),
	                                 at_off(2014, 6, 27, 0, 0, EET)),
	           25 * H_MS);
	assert_ms(wafa_calendar_add(cal, at_off(2014, 6, 26, 12, 0, EEST), 12 * H_MS),
	          at_off(2014, 6, 26, 23, 0, EET));
	wafa_calendar_free(cal);

	cal = mkcal("Africa/Cairo", SUN_THU);
	assert_ms(wafa_calendar_add(cal, at_off(2014, 5, 15, 16, 0, EET), 2 * H_MS),
	          at_off(2014, 5, 18, 10, 0, EEST));
	assert_ms(wafa_calendar_next_open(cal, at_off(2014, 5, 15, 17, 0, EET)),
	          at_off(2014, 5, 18, 9, 0, EEST));
	assert_ms(wafa_calendar_add(cal, at_off(2014, 9, 25, 16, 0, EEST), 2 * H_MS),
	          at_off(2014, 9, 28, 10, 0, EET));
	wafa_calendar_free(cal);
}

static void cairo_2026_dst(void **state)
{
	/* Egypt has summer time again since 2023: in 2026 from Friday 24 April
	 * 00:00 (-> 01:00) to Thursday 29 October 24:00 (-> 23:00).  ICU's own
	 * zone data on Debian 12 (2022e) does not know it; wafa reads the
	 * system's tz database (zone.c), which Debian keeps current. */
	const int EET = 120, EEST = 180;

	(void)state;
	struct wafa_calendar *cal = mkcal("Africa/Cairo", ALWAYS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 4, 24, 1, 0, EEST),
	                                 at_off(2026, 4, 25, 0, 0, EEST)),
	           23 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 10, 29, 0, 0, EEST),
	                                 at_off(2026, 10, 30, 0, 0, EET)),
	           25 * H_MS);
	wafa_calendar_free(cal);
	cal = mkcal("Africa/Cairo", SUN_THU);
	assert_ms(wafa_calendar_add(cal, at_off(2026, 4, 23, 16, 0, EET), 2 * H_MS),
	          at_off(2026, 4, 26, 10, 0, EEST));
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 29, 16, 0, EEST), 2 * H_MS),
	          at_off(2026, 11, 1, 10, 0, EET));
	wafa_calendar_free(cal);
}

static void lord_howe_dst(void **state)
{
	/* +11 in summer, +10:30 in winter: a 30-minute change.  Back at 02:00
	 * on 2026-04-05, forward at 02:00 on 2026-10-04. */
	struct wafa_calendar *cal = mkcal("Australia/Lord_Howe", ALWAYS);
	const int LHST = 630, LHDT = 660;

	(void)state;
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 4, 5, 0, 0, LHDT), at_off(2026, 4, 6, 0, 0, LHST)),
	           24 * H_MS + 30 * MIN_MS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 10, 4, 0, 0, LHST),
	                                 at_off(2026, 10, 5, 0, 0, LHDT)),
	           23 * H_MS + 30 * MIN_MS);
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 4, 0, 0, LHST), 12 * H_MS),
	          at_off(2026, 10, 4, 12, 30, LHDT));
	wafa_calendar_free(cal);

	static const char *const hours[7] = { "02:00-04:00", "09:00-17:00", "09:00-17:00",
		                              "09:00-17:00", "09:00-17:00", "09:00-17:00", NULL };
	cal = mkcal("Australia/Lord_Howe", hours);
	/* 02:00-02:30 does not exist on 2026-10-04: open from 02:30, 1.5h */
	assert_ms(wafa_calendar_next_open(cal, at_off(2026, 10, 4, 0, 0, LHST)),
	          at_off(2026, 10, 4, 2, 30, LHDT));
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 10, 4, 0, 0, LHST),
	                                 at_off(2026, 10, 5, 0, 0, LHDT)),
	           90 * MIN_MS);
	/* 2026-04-05: 02:00 is after the repeated half hour, 2h */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 4, 5, 0, 0, LHDT), at_off(2026, 4, 6, 0, 0, LHST)),
	           2 * H_MS);
	/* Friday 16:00 + 2.5h: 1h Friday, 1.5h Sunday */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 2, 16, 0, LHST), 150 * MIN_MS),
	          at_off(2026, 10, 4, 4, 0, LHDT));
	wafa_calendar_free(cal);
}

static void tehran_dst(void **state)
{
	/* Iran: +4:30 from 22 March 00:00 (-> 01:00) to 22 September 00:00 (->
	 * 21 September 23:00) in 2021 and 2022, +3:30 all year since. */
	struct wafa_calendar *cal = mkcal("Asia/Tehran", ALWAYS);
	const int IRST = 210, IRDT = 270;

	(void)state;
	assert_dur(wafa_calendar_elapsed(cal, at_off(2022, 3, 22, 1, 0, IRDT),
	                                 at_off(2022, 3, 23, 0, 0, IRDT)),
	           23 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2022, 9, 21, 0, 0, IRDT),
	                                 at_off(2022, 9, 22, 0, 0, IRST)),
	           25 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2021, 3, 22, 1, 0, IRDT),
	                                 at_off(2021, 3, 23, 0, 0, IRDT)),
	           23 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 3, 22, 0, 0, IRST),
	                                 at_off(2026, 3, 23, 0, 0, IRST)),
	           24 * H_MS);
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 9, 21, 0, 0, IRST),
	                                 at_off(2026, 9, 22, 0, 0, IRST)),
	           24 * H_MS);
	wafa_calendar_free(cal);

	/* Saturday to Wednesday 08:00-16:00, Thursday 08:00-13:00, Friday off */
	static const char *const hours[7] = { "08:00-16:00", "08:00-16:00", "08:00-16:00", "08:00-16:00",
		                              "08:00-13:00", NULL,          "08:00-16:00" };
	cal = mkcal("Asia/Tehran", hours);
	assert_ms(wafa_calendar_add(cal, at_off(2022, 3, 21, 15, 0, IRST), 2 * H_MS),
	          at_off(2022, 3, 22, 9, 0, IRDT));
	assert_ms(wafa_calendar_add(cal, at_off(2022, 9, 21, 15, 0, IRDT), 2 * H_MS),
	          at_off(2022, 9, 22, 9, 0, IRST));
	/* Thursday 12:00 + 2h: 1h Thursday, Friday off, 1h Saturday */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 1, 8, 12, 0, IRST), 2 * H_MS),
	          at_off(2026, 1, 10, 9, 0, IRST));
	wafa_calendar_free(cal);
}

/* ------------------------------------------------------------ oracle */

/* Minutes of the day open on each weekday, parsed by the test itself. */
struct week {
	int n[7];
	int from[7][8], to[7][8];
};

static void parse_week(const char *const hours[7], struct week *w)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < 7; i++) {
		const char *p = hours[i];
		int h1, m1, h2, m2, used;

		while (p && *p && sscanf(p, "%d:%d-%d:%d%n", &h1, &m1, &h2, &m2, &used) == 4) {
			w->from[i][w->n[i]] = h1 * 60 + m1;
			w->to[i][w->n[i]] = h2 * 60 + m2;
			w->n[i]++;
			p += used;
			if (*p == ',')
				p++;
		}
	}
}

/* Walks minute by minute through ndays from y-m-d 00:00Z, deciding from
 * the local time that glibc's localtime_r gives (another reader of the
 * system's tz database than the one calendar.c uses) whether the calendar
 * should be open, and checks is_open, elapsed and add against that.  Valid
 * for hours with no boundary strictly inside a repeated hour. */
static void oracle(const char *tz, const char *const hours[7], int y, int m, int d, int ndays)
{
	struct wafa_calendar *cal = mkcal(tz, hours);
	int64_t ws = utc(y, m, d, 0, 0), count = 0;
	struct week w;
	int opened = 0, closed = 0;

	parse_week(hours, &w);
	for (int64_t i = 0; i < (int64_t)ndays * 1440; i++) {
		UErrorCode st = U_ZERO_ERROR;
		int64_t t = ws + i * MIN_MS;
		bool open = false;

		struct tm lt;
		time_t secs = (time_t)(t / 1000);
		(void)st;
		setenv("TZ", tz, 1);
		tzset();
		assert_non_null(localtime_r(&secs, &lt));
		int wd = lt.tm_wday;
		int hm = lt.tm_hour * 60 + lt.tm_min;
		for (int k = 0; k < w.n[wd]; k++)
			if (hm >= w.from[wd][k] && hm < w.to[wd][k])
				open = true;
		if (wafa_calendar_is_open(cal, t) != open) {
			char b[48];
			fmt_ms(t, b, sizeof(b));
			fail_msg("%s at %s (local wday %d %02d:%02d): is_open %d, want %d", tz, b, wd,
			         hm / 60, hm % 60, !open, open);
		}
		assert_dur(wafa_calendar_elapsed(cal, ws, t), count * MIN_MS);
		if (open) {
			assert_ms(wafa_calendar_add(cal, ws, count * MIN_MS + 1), t + 1);
			assert_ms(wafa_calendar_next_open(cal, t), t);
			count++;
			opened++;
		} else {
			closed++;
		}
	}
	assert_dur(wafa_calendar_elapsed(cal, ws, ws + (int64_t)ndays * DAY_MS), count * MIN_MS);
	/* the window must have held both, or it tested little */
	assert_true(opened > 0);
	if (hours != ALWAYS)
		assert_true(closed > 0);
	wafa_calendar_free(cal);
}

static void oracle_over_dst(void **state)
{
	static const char *const ny[7] = { "02:30-05:00", "09:00-17:00", "09:00-17:00", "09:00-17:00",
		                           "09:00-17:00", "09:00-17:00", "00:00-24:00" };
	static const char *const berlin[7] = { "00:00-02:00,03:00-24:00",
		                               "08:00-12:00,13:00-17:00",
		                               "08:00-12:00,13:00-17:00",
		                               "08:00-12:00,13:00-17:00",
		                               "08:00-12:00,13:00-17:00",
		                               "08:00-12:00,13:00-17:00",
		                               NULL };
	static const char *const cairo[7] = { "09:00-17:00", "09:00-17:00", "09:00-17:00", "09:00-17:00",
		                              "09:00-17:00", "00:00-03:00", NULL };
	static const char *const lhi[7] = { "02:00-04:00", "09:00-17:00", "09:00-17:00", "09:00-17:00",
		                            "09:00-17:00", "09:00-17:00", NULL };
	static const char *const tehran[7] = { "08:00-16:00", "08:00-16:00", "08:00-16:00",
		                               "08:00-16:00", "08:00-13:00", NULL,
		                               "00:30-02:00,08:00-16:00" };

	(void)state;
	oracle("America/New_York", ny, 2026, 3, 6, 5);
	oracle("America/New_York", ny, 2026, 10, 30, 5);
	oracle("America/New_York", ALWAYS, 2026, 10, 31, 2);
	oracle("Europe/Berlin", berlin, 2026, 3, 27, 4);
	oracle("Europe/Berlin", berlin, 2026, 10, 23, 4);
	oracle("Europe/Berlin", ALWAYS, 2026, 3, 28, 2);
	oracle("Africa/Cairo", cairo, 2014, 5, 13, 6);
	oracle("Africa/Cairo", cairo, 2014, 6, 24, 5);
	oracle("Africa/Cairo", ALWAYS, 2014, 7, 30, 3);
	oracle("Africa/Cairo", cairo, 2014, 9, 23, 5);
	oracle("Africa/Cairo", cairo, 2026, 4, 22, 5);
	oracle("Australia/Lord_Howe", lhi, 2026, 4, 2, 5);
	oracle("Australia/Lord_Howe", lhi, 2026, 10, 1, 5);
	oracle("Australia/Lord_Howe", ALWAYS, 2026, 4, 4, 2);
	oracle("Asia/Tehran", tehran, 2022, 3, 18, 6);
	oracle("Asia/Tehran", tehran, 2022, 9, 19, 4);
	oracle("Asia/Tehran", tehran, 2021, 3, 20, 3);
	oracle("Asia/Tehran", ALWAYS, 2022, 9, 20, 3);
}

/* ---------------------------------------------------------- holidays */

/* Marks in is[] (indexed by day of Gregorian year y, from 0) the days whose
 * date in ICU calendar locale is month-day m-d, scanning every day. */
static int scan_year(const char *locale, int y, int m, int d, bool *is)
{
	UCalendar *uc = icu_open("UTC", locale);
	int64_t lo = days(y, 1, 1), hi = days(y + 1, 1, 1);
	int found = 0;

	for (int64_t dn = lo; dn < hi; dn++) {
		UErrorCode st = U_ZERO_ERROR;

		ucal_setMillis(uc, (UDate)(dn * DAY_MS + DAY_MS / 2), &st);
		if (ucal_get(uc, UCAL_MONTH, &st) == m - 1 && ucal_get(uc, UCAL_DATE, &st) == d) {
			is[dn - lo] = true;
			found++;
		}
		assert_false(U_FAILURE(st));
	}
	ucal_close(uc);
	return found;
}

/* A 24/7 calendar in tz (fixed offset off) with the given holidays is
 * closed on exactly the days ICU's own calendar says, every day of year y. */
static void check_year(const char *tz, int off, enum wafa_holiday_kind kind, const char *locale,
                       const int (*md)[2], int nmd, int y, int min_found)
{
	struct wafa_calendar *cal = mkcal(tz, ALWAYS);
	bool is[366] = { false };
	int found = 0, closed = 0;

	for (int i = 0; i < nmd; i++) {
		holiday(cal, kind, 0, md[i][0], md[i][1]);
		found += scan_year(locale, y, md[i][0], md[i][1], is);
	}
	if (found < min_found)
		fail_msg("%s %d: ICU found %d holidays, want at least %d", locale, y, found, min_found);
	for (int64_t dn = days(y, 1, 1); dn < days(y + 1, 1, 1); dn++) {
		int64_t start = dn * DAY_MS - off * MIN_MS;
		int64_t got = wafa_calendar_elapsed(cal, start, start + DAY_MS);

		if (got != (is[dn - days(y, 1, 1)] ? 0 : DAY_MS)) {
			char b[48];
			fmt_ms(dn * DAY_MS, b, sizeof(b));
			fail_msg("%s in %s: day %.10s has %lld ms open, ICU says %s", locale, tz, b,
			         (long long)got, is[dn - days(y, 1, 1)] ? "holiday" : "working day");
		}
		closed += got == 0;
	}
	assert_int_equal(closed, found);
	wafa_calendar_free(cal);
}

static void hijri_holidays(void **state)
{
	/* Eid al-Fitr (1 Shawwal), Eid al-Adha (10 Dhu al-Hijjah), 30 Ramadan
	 * (only in years whose Ramadan has 30 days) */
	static const int eids[][2] = { { 10, 1 }, { 12, 10 } };
	static const int ramadan30[][2] = { { 9, 30 } };

	(void)state;
	for (int y = 2026; y <= 2028; y++)
		check_year("Asia/Riyadh", 180, WAFA_HOLIDAY_HIJRI, "en@calendar=islamic-umalqura", eids, 2,
		           y, 2);
	/* a Hijri year is 354 or 355 days: in 2033 1 Shawwal comes twice */
	check_year("Asia/Riyadh", 180, WAFA_HOLIDAY_HIJRI, "en@calendar=islamic-umalqura", eids, 2,
	           2033, 3);
	for (int y = 2026; y <= 2028; y++)
		check_year("Asia/Riyadh", 180, WAFA_HOLIDAY_HIJRI, "en@calendar=islamic-umalqura",
		           ramadan30, 1, y, 0);

	/* Published Umm al-Qura dates: Eid al-Fitr 1447 on 2026-03-20, Eid
	 * al-Adha 1447 on 2026-05-27; Eid al-Fitr 1446 was on 2025-03-30. */
	struct wafa_calendar *cal = mkcal("Asia/Riyadh", SUN_THU);
	holiday(cal, WAFA_HOLIDAY_HIJRI, 0, 10, 1);
	holiday(cal, WAFA_HOLIDAY_HIJRI, 0, 12, 10);
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 5, 27, 10, 0, 180))); /* a Wednesday */
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 5, 26, 10, 0, 180)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 5, 28, 10, 0, 180)));
	assert_false(wafa_calendar_is_open(cal, at_off(2025, 3, 30, 10, 0, 180))); /* a Sunday */
	assert_true(wafa_calendar_is_open(cal, at_off(2025, 3, 31, 10, 0, 180)));
	/* 2026-03-20 is a Friday, closed anyway: but a 24/7 calendar closes it */
	wafa_calendar_free(cal);
	cal = mkcal("Asia/Riyadh", ALWAYS);
	holiday(cal, WAFA_HOLIDAY_HIJRI, 0, 10, 1);
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 3, 20, 12, 0, 180)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 3, 19, 23, 59, 180)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 3, 21, 0, 0, 180)));
	/* Thursday 19 March 22:00 + 3h: 2h, the Eid, 1h on the 21st */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 19, 22, 0, 180), 3 * H_MS),
	          at_off(2026, 3, 21, 1, 0, 180));
	wafa_calendar_free(cal);
}

static int special(struct wafa_calendar *cal, enum wafa_holiday_kind kind, int y0, int m0, int d0,
                   int y1, int m1, int d1)
{
	char why[256] = "";
	int idx = wafa_calendar_add_special(cal, kind, y0, m0, d0, y1, m1, d1, why, sizeof(why));

	if (idx < 0)
		fail_msg("special period: %s", why);
	return idx;
}

static void special_hours(struct wafa_calendar *cal, int idx, int wday, const char *spec)
{
	char why[256] = "";

	if (wafa_calendar_set_special_hours(cal, idx, wday, spec, why, sizeof(why)) != 0)
		fail_msg("%s: %s", spec, why);
}

/* Ramadan hours (a Hijri month, whose 30th some years lack), a half day, a
 * Saturday worked, summer hours over the year's end, overlaps and errors. */
static void special_periods(void **state)
{
	struct wafa_calendar *cal = mkcal("Asia/Riyadh", SUN_THU);
	char why[256] = "";
	int r;

	(void)state;
	/* Ramadan 1447: Sun-Thu 09:00-14:00; it ends on 29 Ramadan (2026-03-19,
	 * Eid al-Fitr is 2026-03-20), so "09-30" is the month's last day */
	r = special(cal, WAFA_HOLIDAY_HIJRI, 0, 9, 1, 0, 9, 30);
	for (int d = 0; d <= 4; d++)
		special_hours(cal, r, d, "09:00-14:00");
	holiday(cal, WAFA_HOLIDAY_HIJRI, 0, 10, 1);
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 2, 17, 15, 0, 180)));  /* Tuesday before */
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 2, 22, 13, 59, 180))); /* a Ramadan Sunday */
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 2, 22, 14, 0, 180)));
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 3, 19, 15, 0, 180))); /* 29 Ramadan */
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 3, 19, 10, 0, 180)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 3, 22, 15, 0, 180)));  /* after Eid */
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 2, 27, 10, 0, 180))); /* Friday stays shut */
	assert_ms(wafa_calendar_elapsed(cal, at_off(2026, 2, 22, 0, 0, 180),
	                                at_off(2026, 2, 23, 0, 0, 180)),
	          5 * H_MS);
	/* Thursday 19 March 13:00 + 3h: 1h, Eid and the weekend, 2h on Sunday 22nd */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 19, 13, 0, 180), 3 * H_MS),
	          at_off(2026, 3, 22, 11, 0, 180));
	/* and again a Hijri year later: Ramadan 1448 starts around 2027-02-08 */
	assert_false(wafa_calendar_is_open(cal, at_off(2027, 2, 15, 15, 0, 180)));
	assert_true(wafa_calendar_is_open(cal, at_off(2027, 4, 15, 15, 0, 180)));

	/* a half day on a date; a Saturday worked; an every-day period's hours */
	r = special(cal, WAFA_HOLIDAY_DATE, 2026, 12, 24, 2026, 12, 24);
	special_hours(cal, r, -1, "09:00-13:00");
	r = special(cal, WAFA_HOLIDAY_DATE, 2026, 10, 10, 2026, 10, 10);
	special_hours(cal, r, -1, "09:00-17:00");
	assert_ms(wafa_calendar_elapsed(cal, at_off(2026, 12, 24, 0, 0, 180),
	                                at_off(2026, 12, 25, 0, 0, 180)),
	          4 * H_MS);
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 10, 10, 10, 0, 180))); /* a Saturday */
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 10, 17, 10, 0, 180))); /* the next one */
	/* Thursday 8 Oct 16:00 + 2h: 1h Thursday, 1h on the Saturday worked */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 10, 8, 16, 0, 180), 2 * H_MS),
	          at_off(2026, 10, 10, 10, 0, 180));
	/* a holiday still closes a day a period covers */
	holiday(cal, WAFA_HOLIDAY_DATE, 2026, 10, 10);
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 10, 10, 10, 0, 180)));
	wafa_calendar_free(cal);

	/* winter hours every year from 12-20 to 01-10 (over the year's end), and
	 * inside them one later-declared day that wins */
	cal = mkcal("Europe/Berlin", MON_FRI);
	r = special(cal, WAFA_HOLIDAY_YEARLY, 0, 12, 20, 0, 1, 10);
	for (int d = 1; d <= 5; d++)
		special_hours(cal, r, d, "10:00-12:00");
	r = special(cal, WAFA_HOLIDAY_DATE, 2027, 1, 4, 2027, 1, 4);
	special_hours(cal, r, -1, "08:00-18:00");
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 12, 18, 15, 0, 60)));   /* Friday before */
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 12, 21, 15, 0, 60)));  /* Monday in */
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 12, 21, 11, 0, 60)));
	assert_false(wafa_calendar_is_open(cal, at_off(2027, 1, 5, 15, 0, 60)));    /* Tuesday in */
	assert_true(wafa_calendar_is_open(cal, at_off(2027, 1, 4, 17, 0, 60)));     /* the exception */
	assert_true(wafa_calendar_is_open(cal, at_off(2027, 1, 11, 15, 0, 60)));    /* Monday after */
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 1, 9, 15, 0, 60)));    /* last winter's */
	assert_ms(wafa_calendar_elapsed(cal, at_off(2026, 12, 28, 0, 0, 60),
	                                at_off(2027, 1, 2, 0, 0, 60)),
	          10 * H_MS);

	/* errors name the problem */
	assert_int_equal(wafa_calendar_add_special(cal, WAFA_HOLIDAY_DATE, 2026, 5, 2, 2026, 5, 1, why,
	                                           sizeof(why)),
	                 -EINVAL);
	assert_non_null(strstr(why, "ends before it starts"));
	assert_int_equal(wafa_calendar_add_special(cal, WAFA_HOLIDAY_HIJRI, 0, 13, 1, 0, 13, 2, why,
	                                           sizeof(why)),
	                 -EINVAL);
	assert_non_null(strstr(why, "Hijri month 13"));
	assert_int_equal(wafa_calendar_set_special_hours(cal, r, 1, "10:00-09:00", why, sizeof(why)),
	                 -EINVAL);
	assert_non_null(strstr(why, "backwards"));
	wafa_calendar_free(cal);

	/* a calendar open only in a period still answers */
	cal = mkcal("UTC", NULL);
	r = special(cal, WAFA_HOLIDAY_DATE, 2026, 6, 1, 2026, 6, 30);
	special_hours(cal, r, -1, "09:00-17:00");
	assert_ms(wafa_calendar_add(cal, utc(2026, 5, 20, 0, 0), 8 * H_MS), utc(2026, 6, 1, 17, 0));
	wafa_calendar_free(cal);
}

/* Business days: the same local time n open days later. */
static void business_days(void **state)
{
	struct wafa_calendar *cal = mkcal("Africa/Cairo", SUN_THU);
	int r;

	(void)state;
	/* Thursday 2026-03-05 15:00 (UTC+2): Sunday is one, Monday two */
	assert_ms(wafa_calendar_add_days(cal, at_off(2026, 3, 5, 15, 0, 120), 2),
	          at_off(2026, 3, 9, 15, 0, 120));
	assert_ms(wafa_calendar_add_days(cal, at_off(2026, 3, 5, 15, 0, 120), 0),
	          at_off(2026, 3, 5, 15, 0, 120));
	/* Friday is shut: from Sunday 09:00, two days on is Tuesday 09:00 */
	assert_ms(wafa_calendar_add_days(cal, at_off(2026, 3, 6, 10, 0, 120), 2),
	          at_off(2026, 3, 10, 9, 0, 120));
	/* a holiday does not count */
	holiday(cal, WAFA_HOLIDAY_DATE, 2026, 3, 8);
	assert_ms(wafa_calendar_add_days(cal, at_off(2026, 3, 5, 15, 0, 120), 2),
	          at_off(2026, 3, 10, 15, 0, 120));
	/* over Egypt's change to summer time (Friday 2026-04-24): Thursday
	 * 10:00 +02 to Sunday 10:00 +03 */
	assert_ms(wafa_calendar_add_days(cal, at_off(2026, 4, 23, 10, 0, 120), 1),
	          at_off(2026, 4, 26, 10, 0, 180));
	/* a half day is still a day: Wednesday 15:00 + 1 is Thursday 15:00,
	 * after that day's 13:00 close; business time up to it is 4h + 2h */
	r = wafa_calendar_add_special(cal, WAFA_HOLIDAY_DATE, 2026, 3, 12, 2026, 3, 12, NULL, 0);
	assert_true(r >= 0);
	assert_int_equal(wafa_calendar_set_special_hours(cal, r, -1, "09:00-13:00", NULL, 0), 0);
	int64_t end = wafa_calendar_add_days(cal, at_off(2026, 3, 11, 15, 0, 120), 1);
	assert_ms(end, at_off(2026, 3, 12, 15, 0, 120));
	assert_ms(wafa_calendar_elapsed(cal, at_off(2026, 3, 11, 15, 0, 120), end), 6 * H_MS);
	wafa_calendar_free(cal);
	/* never open: no answer */
	cal = mkcal("UTC", NULL);
	assert_ms(wafa_calendar_add_days(cal, utc(2026, 3, 5, 0, 0), 1), WAFA_NO_TIME);
	wafa_calendar_free(cal);
}

static void persian_holidays(void **state)
{
	/* Nowruz (1-4 Farvardin), and 30 Esfand (leap years only) */
	static const int nowruz[][2] = { { 1, 1 }, { 1, 2 }, { 1, 3 }, { 1, 4 } };
	static const int esfand30[][2] = { { 12, 30 } };
	int leap = 0;

	(void)state;
	for (int y = 2026; y <= 2028; y++)
		check_year("Asia/Tehran", 210, WAFA_HOLIDAY_PERSIAN, "en@calendar=persian", nowruz, 4, y,
		           4);
	for (int y = 2025; y <= 2029; y++) {
		bool is[366] = { false };
		leap += scan_year("en@calendar=persian", y, 12, 30, is);
		check_year("Asia/Tehran", 210, WAFA_HOLIDAY_PERSIAN, "en@calendar=persian", esfand30, 1,
		           y, 0);
	}
	assert_true(leap >= 1); /* 1403 was a leap year: 30 Esfand 1403 = 2025-03-20 */

	/* Published: Nowruz 1405 is Saturday 2026-03-21 in Iran, 1406 is
	 * 2027-03-21, 1407 is 2028-03-20. */
	static const char *const hours[7] = { "08:00-16:00", "08:00-16:00", "08:00-16:00", "08:00-16:00",
		                              "08:00-13:00", NULL,          "08:00-16:00" };
	struct wafa_calendar *cal = mkcal("Asia/Tehran", hours);
	holiday(cal, WAFA_HOLIDAY_PERSIAN, 0, 1, 1);
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 3, 21, 10, 0, 210)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 3, 22, 10, 0, 210)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 3, 19, 10, 0, 210))); /* Thursday */
	assert_false(wafa_calendar_is_open(cal, at_off(2027, 3, 21, 10, 0, 210)));
	assert_true(wafa_calendar_is_open(cal, at_off(2027, 3, 20, 10, 0, 210)));
	assert_true(wafa_calendar_is_open(cal, at_off(2027, 3, 22, 10, 0, 210)));
	assert_false(wafa_calendar_is_open(cal, at_off(2028, 3, 20, 10, 0, 210)));
	assert_true(wafa_calendar_is_open(cal, at_off(2028, 3, 21, 10, 0, 210)));
	/* Thursday 2026-03-19 12:00 + 2h: 1h, Friday, Nowruz, 1h on Sunday */
	assert_ms(wafa_calendar_add(cal, at_off(2026, 3, 19, 12, 0, 210), 2 * H_MS),
	          at_off(2026, 3, 22, 9, 0, 210));
	wafa_calendar_free(cal);
}

static void gregorian_holidays(void **state)
{
	/* Egypt: Armed Forces Day 2026-10-06 (a Tuesday), Coptic Christmas
	 * every 7 January (a Wednesday in 2026, a Thursday in 2027).  Times
	 * are at +2; in October that is an hour early (summer time, see
	 * cairo_2026_dst), and noon and midnight are far from 09:00-17:00. */
	struct wafa_calendar *cal = mkcal("Africa/Cairo", SUN_THU);

	(void)state;
	holiday(cal, WAFA_HOLIDAY_DATE, 2026, 10, 6);
	holiday(cal, WAFA_HOLIDAY_YEARLY, 0, 1, 7);
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 1, 7, 12, 0, 120)));
	assert_false(wafa_calendar_is_open(cal, at_off(2027, 1, 7, 12, 0, 120)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 1, 6, 12, 0, 120)));
	assert_true(wafa_calendar_is_open(cal, at_off(2026, 1, 8, 12, 0, 120)));
	assert_false(wafa_calendar_is_open(cal, at_off(2026, 10, 6, 12, 0, 120)));
	assert_true(wafa_calendar_is_open(cal, at_off(2027, 10, 6, 12, 0, 120)));
	/* Monday to Wednesday 2026-10-05..07 is 16h, not 24h */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 10, 5, 0, 0, 120),
	                                 at_off(2026, 10, 8, 0, 0, 120)),
	           16 * H_MS);
	/* Sunday 2026-01-04 to Sunday 2026-01-11 is 32h */
	assert_dur(wafa_calendar_elapsed(cal, at_off(2026, 1, 4, 0, 0, 120),
	                                 at_off(2026, 1, 11, 0, 0, 120)),
	           32 * H_MS);
	wafa_calendar_free(cal);
}

/* ------------------------------------------------------- consistency */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void consistency(void **state)
{
	static const char *const split[7] = { NULL,
		                              "08:00-12:00,13:00-17:00",
		                              "08:00-12:00,13:00-17:00",
		                              "08:00-12:00,13:00-17:00",
		                              "08:00-12:00,13:00-17:00",
		                              "08:00-12:00,13:00-17:00",
		                              "02:30-03:30" };
	static const char *const lhi[7] = { "01:45-02:15", "09:00-17:00", "09:00-17:00", "09:00-17:00",
		                            "09:00-17:00", "09:00-17:00", NULL };
	struct wafa_calendar *cals[5];

	(void)state;
	cals[0] = mkcal("Europe/Berlin", split);
	cals[1] = mkcal("Africa/Cairo", SUN_THU);
	holiday(cals[1], WAFA_HOLIDAY_HIJRI, 0, 10, 1);
	holiday(cals[1], WAFA_HOLIDAY_YEARLY, 0, 1, 7);
	cals[2] = mkcal("Australia/Lord_Howe", lhi);
	cals[3] = mkcal("America/New_York", MON_FRI);
	holiday(cals[3], WAFA_HOLIDAY_YEARLY, 0, 7, 4);
	cals[4] = mkcal("Asia/Tehran", ALWAYS);
	holiday(cals[4], WAFA_HOLIDAY_PERSIAN, 0, 1, 1);

	for (int i = 0; i < 4000; i++) {
		struct wafa_calendar *cal = cals[i % 5];
		int64_t from = utc(2021, 1, 1, 0, 0) +
		               (int64_t)(next_rand() % (uint64_t)(8 * 365 * DAY_MS));
		int64_t x = (int64_t)(next_rand() % (uint64_t)(80 * H_MS));
		int64_t t, u, n;

		if (i % 7 == 0)
			x = 0;
		t = wafa_calendar_add(cal, from, x);
		assert_true(t != WAFA_NO_TIME && t >= from);
		assert_dur(wafa_calendar_elapsed(cal, from, t), x);
		if (x > 0) {
			/* the first such instant: t - 1 is open */
			assert_dur(wafa_calendar_elapsed(cal, from, t - 1), x - 1);
			assert_true(wafa_calendar_is_open(cal, t - 1));
		}
		u = wafa_calendar_sub(cal, t, x);
		assert_true(u >= from && u <= t);
		assert_dur(wafa_calendar_elapsed(cal, u, t), x);
		assert_dur(wafa_calendar_elapsed(cal, from, u), 0);
		if (x > 0) {
			/* the latest such instant: u is open */
			assert_true(wafa_calendar_is_open(cal, u));
			assert_dur(wafa_calendar_elapsed(cal, u + 1, t), x - 1);
		}
		u = wafa_calendar_sub(cal, from, x);
		assert_dur(wafa_calendar_elapsed(cal, u, from), x);
		n = wafa_calendar_next_open(cal, from);
		assert_true(n >= from);
		assert_true(wafa_calendar_is_open(cal, n));
		assert_dur(wafa_calendar_elapsed(cal, from, n), 0);
		assert_int_equal(wafa_calendar_is_open(cal, from), n == from);
		/* elapsed is additive */
		int64_t mid = from + (int64_t)(next_rand() % (uint64_t)(t - from + 1));
		assert_dur(wafa_calendar_elapsed(cal, from, mid) + wafa_calendar_elapsed(cal, mid, t), x);
	}
	for (int i = 0; i < 5; i++)
		wafa_calendar_free(cals[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(zone_split_and_join),
		cmocka_unit_test(zone_rejects_unknown),
		cmocka_unit_test(new_rejects_unknown_zone),
		cmocka_unit_test(set_hours_errors),
		cmocka_unit_test(add_holiday_errors),
		cmocka_unit_test(split_shifts),
		cmocka_unit_test(weekends),
		cmocka_unit_test(long_targets),
		cmocka_unit_test(boundaries),
		cmocka_unit_test(never_open),
		cmocka_unit_test(extreme_inputs),
		cmocka_unit_test(changes_after_queries),
		cmocka_unit_test(new_york_dst),
		cmocka_unit_test(berlin_dst),
		cmocka_unit_test(cairo_2014_dst),
		cmocka_unit_test(cairo_2026_dst),
		cmocka_unit_test(lord_howe_dst),
		cmocka_unit_test(tehran_dst),
		cmocka_unit_test(oracle_over_dst),
		cmocka_unit_test(hijri_holidays),
		cmocka_unit_test(persian_holidays),
		cmocka_unit_test(special_periods),
		cmocka_unit_test(business_days),
		cmocka_unit_test(gregorian_holidays),
		cmocka_unit_test(consistency),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
