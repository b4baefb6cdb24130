/* Calendars and business time (on ICU).  A calendar is a time zone, weekly
 * opening hours (any weekend pattern, split shifts, "00:00-24:00" for a
 * whole day), special periods with hours of their own, and holidays (Gregorian dates, and month-days that recur in the
 * Gregorian, Hijri Umm al-Qura or Solar Hijri calendar).  Business time is
 * the time a calendar is open; all arithmetic is exact to the millisecond
 * and counts real elapsed time across DST changes.
 *
 * The rules host builds calendars from declarations; the deadline engine
 * (deadline.c) asks them questions.  Nothing here knows Lua or tickets. */
#ifndef WAFA_CALENDAR_H
#define WAFA_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time/clock.h"
#include "base/error.h"

enum wafa_holiday_kind {
	WAFA_HOLIDAY_DATE,    /* one Gregorian date: year, month, day */
	WAFA_HOLIDAY_YEARLY,  /* a Gregorian month-day, every year */
	WAFA_HOLIDAY_HIJRI,   /* a Hijri month-day (islamic-umalqura), every Hijri year */
	WAFA_HOLIDAY_PERSIAN, /* a Solar Hijri month-day (persian), every Persian year */
};

struct wafa_calendar;

/* A calendar in zone tz, closed on every day until hours are set.
 * Returns 0, -ENOMEM, or -EINVAL with a reason in why (unknown zone). */
WAFA_WUR int wafa_calendar_new(const char *name, const char *tz, struct wafa_calendar **out,
                               char *why, size_t whylen);
void wafa_calendar_free(struct wafa_calendar *cal);
const char *wafa_calendar_name(const struct wafa_calendar *cal);
const char *wafa_calendar_tz(const struct wafa_calendar *cal);

/* Opening hours of weekday wday (0 Sunday .. 6 Saturday), local time:
 * "09:00-17:00", "09:00-12:00,13:00-17:00", "00:00-24:00".  Ranges must be
 * ascending and not overlap.  Returns 0 or -EINVAL with a reason in why. */
WAFA_WUR int wafa_calendar_set_hours(struct wafa_calendar *cal, int wday, const char *spec,
                                     char *why, size_t whylen);

/* A closed day.  year is ignored except for WAFA_HOLIDAY_DATE.  Returns 0,
 * -ENOMEM, or -EINVAL with a reason (a month or day out of range). */
WAFA_WUR int wafa_calendar_add_holiday(struct wafa_calendar *cal, enum wafa_holiday_kind kind,
                                       int year, int month, int day, char *why, size_t whylen);

/* A special period from (y0-)m0-d0 to (y1-)m1-d1, both days included, both
 * written as kind says (dates, yearly month-days, Hijri or Solar Hijri
 * month-days; a yearly or month-day period may run over the year's end, as
 * 12-20 to 01-10).  A Hijri or Solar Hijri last day that a year's month
 * lacks (a 30th) is that month's last day.  On the days it covers, the
 * period's hours replace the weekly hours (a period with no hours set is
 * closed); holidays still close a day; where periods overlap, the one added
 * last wins.  Returns the period's index (>= 0), -ENOMEM, or -EINVAL with a
 * reason in why. */
WAFA_WUR int wafa_calendar_add_special(struct wafa_calendar *cal, enum wafa_holiday_kind kind,
                                       int y0, int m0, int d0, int y1, int m1, int d1, char *why,
                                       size_t whylen);

/* The hours of special period idx on weekday wday (0 Sunday .. 6 Saturday;
 * -1 every day of the period), as for wafa_calendar_set_hours. */
WAFA_WUR int wafa_calendar_set_special_hours(struct wafa_calendar *cal, int idx, int wday,
                                             const char *spec, char *why, size_t whylen);

/* Is the calendar open at instant at (ms)?  Open ranges are [from, to). */
bool wafa_calendar_is_open(struct wafa_calendar *cal, int64_t at);

/* Business ms in [from, to); 0 when to <= from. */
int64_t wafa_calendar_elapsed(struct wafa_calendar *cal, int64_t from, int64_t to);

/* The first instant t >= from at which elapsed(from, t) == amount (amount
 * >= 0; amount 0 gives from).  So a deadline that is reached as the day
 * closes is the closing instant, not the next opening.  WAFA_NO_TIME if the
 * calendar is never open (no hours at all) or the answer lies more than
 * ten years ahead. */
int64_t wafa_calendar_add(struct wafa_calendar *cal, int64_t from, int64_t amount);

/* The latest instant t <= to at which elapsed(t, to) == amount: "30m of
 * business time before to".  WAFA_NO_TIME as for add. */
int64_t wafa_calendar_sub(struct wafa_calendar *cal, int64_t to, int64_t amount);

/* Business days: from the first open instant s >= from, the same local
 * time of day n open days later (days with no open hours do not count; n 0
 * gives s).  A day whose hours do not include that time is answered all the
 * same: business time up to it counts to that day's close (or the previous
 * open day's).  WAFA_NO_TIME as for add. */
int64_t wafa_calendar_add_days(struct wafa_calendar *cal, int64_t from, int n);

/* at if the calendar is open at at, else the next instant it opens
 * (WAFA_NO_TIME if never within ten years). */
int64_t wafa_calendar_next_open(struct wafa_calendar *cal, int64_t at);

#endif
