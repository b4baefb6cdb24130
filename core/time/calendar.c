/* Calendars and business time on ICU.
 *
 * ICU is asked only to fill a cache; the questions (is_open, elapsed, add,
 * sub, next_open) are answered from it.  The cache holds local days, each
 * numbered by its Gregorian date (day 0 is 1970-01-01 in the calendar's
 * zone), in blocks of BLOCK_DAYS consecutive days.  A day knows the instant
 * it starts (local 00:00, or the first valid instant after it in a DST gap),
 * how long it lasts (23, 24 or 25 hours, or 23.5 in Lord Howe ...), its open
 * ranges as ms from its start, and their total, which lets add/elapsed skip
 * whole days.  Blocks sit in a direct-mapped table of NBLOCKS slots (about
 * eleven years side by side), so memory is bounded whatever is asked.
 * Holidays are turned into day numbers once per Gregorian year (Hijri and
 * Persian month-days through ICU's islamic-umalqura and persian calendars)
 * and kept in a small table of years.
 *
 * Special periods (Ramadan hours, a half day, a Saturday worked) are turned
 * into spans of day numbers the same way, per Gregorian year; a day a period
 * covers takes the period's hours instead of the weekly ones (the last
 * declared period that covers it wins), and holidays still close it.
 *
 * Setting hours or adding a holiday or period empties the caches.  Queries fill them,
 * which is why the query functions take a non-const calendar; a calendar is
 * not to be shared between threads. */
#include "time/calendar.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "time/zone.h"

#define DAY_MS 86400000LL
#define MAX_RANGES 8      /* open ranges in one day's hours */
#define BLOCK_DAYS 128    /* days filled together */
#define NBLOCKS 32        /* cached blocks: 32 * 128 days, about 11 years */
#define NYEARS 16         /* cached years of holiday dates */
#define HORIZON_DAYS 3653 /* "ten years ahead" for add, sub, next_open */
#define NO_BLOCK INT64_MIN

/* Supported local days: years 2 to 9998, so that a day's neighbours are
 * still in ICU's comfortable range.  Instants outside are never open. */
#define DN_LO (-718797LL) /* 0002-01-01 */
#define DN_HI 2932531LL   /* 9998-12-31 */
#define T_LO ((DN_LO + 1) * DAY_MS)
#define T_HI ((DN_HI - 1) * DAY_MS)

struct span {
	int16_t from, to; /* minutes of the local day, [from, to), to <= 1440 */
};

struct day {
	int64_t start;             /* first instant of the local day (Unix ms) */
	int32_t len;               /* ms until the next local day starts */
	int32_t open;              /* business ms in the day, 0 on a holiday */
	int32_t r[2 * MAX_RANGES]; /* open ranges as ms from start: [r0, r1) ... */
	uint8_t n;                 /* ranges in r */
};

struct block {
	int64_t key; /* first day number / BLOCK_DAYS, NO_BLOCK when empty */
	struct day d[BLOCK_DAYS];
};

struct holiday {
	enum wafa_holiday_kind kind;
	int year, month, day;
};

struct special {
	enum wafa_holiday_kind kind; /* how from and to are written */
	int y0, m0, d0, y1, m1, d1;  /* first and last day (years for WAFA_HOLIDAY_DATE) */
	struct span hours[7][MAX_RANGES];
	uint8_t nhours[7];
};

struct yearhol {
	int year;    /* Gregorian year, or INT32_MIN when empty */
	int n;       /* day numbers in dn */
	int32_t *dn; /* the year's closed days, owned here */
	int nsp;     /* special periods that touch the year: triples in sp */
	int32_t *sp; /* first day, last day, index in specials; owned here */
};

struct wafa_calendar {
	char *name, *tz;           /* owned */
	UCalendar *hijri, *persian; /* in UTC, opened when first needed */
	struct span hours[7][MAX_RANGES];
	uint8_t nhours[7];
	struct holiday *hol; /* owned, nhol of them */
	int nhol, holcap;
	struct special *specials; /* owned, nspecial of them; the last that covers a day wins */
	int nspecial;
	struct block *blocks[NBLOCKS]; /* owned, NULL until first used */
	struct yearhol years[NYEARS];
};

static void say(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int weekday(int64_t dn)
{
	return (int)(((dn % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
}

static int month_days(int y, int m)
{
	static const int md[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : md[m - 1];
}

/* Opens an ICU calendar of kind locale in zone tz, or NULL. */
static UCalendar *open_ucal(const char *tz, const char *locale)
{
	UChar id[128];
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *uc;
	int32_t len;

	if (strlen(tz) >= sizeof(id) / sizeof(id[0]))
		return NULL;
	u_strFromUTF8(id, (int32_t)(sizeof(id) / sizeof(id[0])), &len, tz, -1, &st);
	if (U_FAILURE(st))
		return NULL;
	uc = ucal_open(id, len, locale, UCAL_DEFAULT, &st);
	if (U_FAILURE(st))
		return NULL;
	/* an overlap's wall time is its first instant; a gap's is the next valid one */
	ucal_setAttribute(uc, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
	ucal_setAttribute(uc, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
	ucal_setAttribute(uc, UCAL_LENIENT, 1);
	return uc;
}

static void cache_clear(struct wafa_calendar *cal, bool years)
{
	for (int i = 0; i < NBLOCKS; i++)
		if (cal->blocks[i])
			cal->blocks[i]->key = NO_BLOCK;
	if (!years)
		return;
	for (int i = 0; i < NYEARS; i++) {
		free(cal->years[i].dn);
		free(cal->years[i].sp);
		cal->years[i].dn = NULL;
		cal->years[i].sp = NULL;
		cal->years[i].n = 0;
		cal->years[i].nsp = 0;
		cal->years[i].year = INT32_MIN;
	}
}

int wafa_calendar_new(const char *name, const char *tz, struct wafa_calendar **out, char *why,
                      size_t whylen)
{
	struct wafa_calendar *cal = NULL;
	int err;

	*out = NULL;
	if (!tz || !wafa_zone_valid(tz)) {
		say(why, whylen, "unknown time zone \"%s\" (use an IANA name like \"Africa/Cairo\")",
		    tz ? tz : "");
		err = -EINVAL;
		goto fail;
	}
	err = -ENOMEM;
	cal = calloc(1, sizeof(*cal));
	if (!cal)
		goto fail;
	for (int i = 0; i < NYEARS; i++)
		cal->years[i].year = INT32_MIN;
	cal->name = strdup(name ? name : "");
	cal->tz = strdup(tz);
	if (!cal->name || !cal->tz)
		goto fail;
	*out = cal;
	return 0;
fail:
	wafa_calendar_free(cal);
	return err;
}

void wafa_calendar_free(struct wafa_calendar *cal)
{
	if (!cal)
		return;
	cache_clear(cal, true);
	for (int i = 0; i < NBLOCKS; i++)
		free(cal->blocks[i]);
	if (cal->hijri)
		ucal_close(cal->hijri);
	if (cal->persian)
		ucal_close(cal->persian);
	free(cal->hol);
	free(cal->specials);
	free(cal->name);
	free(cal->tz);
	free(cal);
}

const char *wafa_calendar_name(const struct wafa_calendar *cal)
{
	return cal->name;
}

const char *wafa_calendar_tz(const struct wafa_calendar *cal)
{
	return cal->tz;
}

/* Reads "H:MM" or "HH:MM" at *p into minutes of the day (0 .. 1440).
 * Returns 0 or -EINVAL with a reason. */
static int parse_time(const char **p, const char *spec, int *min, char *why, size_t whylen)
{
	const char *s = *p;
	int h = 0, m = 0, nd = 0;

	while (*s >= '0' && *s <= '9' && nd < 3) {
		h = h * 10 + (*s++ - '0');
		nd++;
	}
	if (nd == 0 || nd > 2 || *s != ':' || !(s[1] >= '0' && s[1] <= '9') ||
	    !(s[2] >= '0' && s[2] <= '9') || (s[3] >= '0' && s[3] <= '9')) {
		say(why, whylen,
		    "\"%s\": expected a time like 09:00 at \"%s\" (write ranges as 09:00-17:00, "
		    "separated by commas)",
		    spec, *p);
		return -EINVAL;
	}
	m = (s[1] - '0') * 10 + (s[2] - '0');
	if (h > 24) {
		say(why, whylen, "\"%s\": hour %d is out of range (use 00:00-24:00)", spec, h);
		return -EINVAL;
	}
	if (m > 59) {
		say(why, whylen, "\"%s\": minute %d is out of range (use 00-59)", spec, m);
		return -EINVAL;
	}
	if (h == 24 && m != 0) {
		say(why, whylen, "\"%s\": 24:%02d is past the end of the day (24:00 is the latest)",
		    spec, m);
		return -EINVAL;
	}
	*min = h * 60 + m;
	*p = s + 3;
	return 0;
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Parses a day's hours ("09:00-12:00,13:00-17:00") into sp (MAX_RANGES),
 * their count in *np.  Returns 0 or -EINVAL with a reason in why. */
static int parse_hours(const char *spec, struct span *sp, int *np, char *why, size_t whylen)
{
	const char *p;
	int n = 0, err;

	if (!spec) {
		say(why, whylen, "no hours given (use \"09:00-17:00\", or leave the day out to close it)");
		return -EINVAL;
	}
	p = skip_space(spec);
	while (*p) {
		int from, to;

		if (n == MAX_RANGES) {
			say(why, whylen, "\"%s\": more than %d ranges in one day", spec, MAX_RANGES);
			return -EINVAL;
		}
		err = parse_time(&p, spec, &from, why, whylen);
		if (err)
			return err;
		p = skip_space(p);
		if (*p != '-') {
			say(why, whylen,
			    "\"%s\": expected \"-\" after %02d:%02d (write ranges as 09:00-17:00)", spec,
			    from / 60, from % 60);
			return -EINVAL;
		}
		p = skip_space(p + 1);
		err = parse_time(&p, spec, &to, why, whylen);
		if (err)
			return err;
		if (to <= from) {
			say(why, whylen,
			    "\"%s\": range %02d:%02d-%02d:%02d is empty or backwards (a range cannot "
			    "cross midnight: end the day at 24:00 and start the next at 00:00)",
			    spec, from / 60, from % 60, to / 60, to % 60);
			return -EINVAL;
		}
		if (n > 0 && from < sp[n - 1].to) {
			say(why, whylen,
			    "\"%s\": range %02d:%02d-%02d:%02d starts before %02d:%02d-%02d:%02d ends "
			    "(ranges must be ascending and not overlap)",
			    spec, from / 60, from % 60, to / 60, to % 60, sp[n - 1].from / 60,
			    sp[n - 1].from % 60, sp[n - 1].to / 60, sp[n - 1].to % 60);
			return -EINVAL;
		}
		if (n > 0 && from == sp[n - 1].to) {
			sp[n - 1].to = (int16_t)to; /* touching ranges are one */
		} else {
			sp[n].from = (int16_t)from;
			sp[n].to = (int16_t)to;
			n++;
		}
		p = skip_space(p);
		if (*p == ',') {
			p = skip_space(p + 1);
			if (!*p) {
				say(why, whylen, "\"%s\": a comma with no range after it", spec);
				return -EINVAL;
			}
		} else if (*p) {
			say(why, whylen,
			    "\"%s\": unexpected \"%s\" after %02d:%02d (separate ranges with commas)",
			    spec, p, to / 60, to % 60);
			return -EINVAL;
		}
	}
	*np = n;
	return 0;
}

int wafa_calendar_set_hours(struct wafa_calendar *cal, int wday, const char *spec, char *why,
                            size_t whylen)
{
	struct span sp[MAX_RANGES];
	int n = 0, err;

	if (wday < 0 || wday > 6) {
		say(why, whylen, "weekday %d is out of range (use 0 Sunday .. 6 Saturday)", wday);
		return -EINVAL;
	}
	if ((err = parse_hours(spec, sp, &n, why, whylen)) != 0)
		return err;
	memcpy(cal->hours[wday], sp, (size_t)n * sizeof(sp[0]));
	cal->nhours[wday] = (uint8_t)n;
	cache_clear(cal, false);
	return 0;
}

/* Is (year,) month, day a day that kind can name?  0 or -EINVAL with why. */
static int check_day(enum wafa_holiday_kind kind, int year, int month, int day, char *why,
                     size_t whylen)
{
	switch (kind) {
	case WAFA_HOLIDAY_DATE:
	case WAFA_HOLIDAY_YEARLY:
		if (kind == WAFA_HOLIDAY_DATE && (year < 2 || year > 9998)) {
			say(why, whylen, "year %d is out of range (use 2..9998)", year);
			return -EINVAL;
		}
		if (month < 1 || month > 12) {
			say(why, whylen, "month %d is out of range (use 1..12)", month);
			return -EINVAL;
		}
		/* a yearly 02-29 is a day of leap years only */
		if (day < 1 || day > month_days(kind == WAFA_HOLIDAY_DATE ? year : 2000, month)) {
			if (kind == WAFA_HOLIDAY_DATE)
				say(why, whylen, "%04d-%02d-%02d is not a date (that month has %d days)",
				    year, month, day, month_days(year, month));
			else
				say(why, whylen, "day %d is out of range for month %d (use 1..%d)", day,
				    month, month_days(2000, month));
			return -EINVAL;
		}
		break;
	case WAFA_HOLIDAY_HIJRI:
		if (month < 1 || month > 12) {
			say(why, whylen, "Hijri month %d is out of range (use 1..12)", month);
			return -EINVAL;
		}
		if (day < 1 || day > 30) {
			say(why, whylen, "Hijri day %d is out of range (use 1..30)", day);
			return -EINVAL;
		}
		break;
	case WAFA_HOLIDAY_PERSIAN:
		if (month < 1 || month > 12) {
			say(why, whylen, "Persian month %d is out of range (use 1..12)", month);
			return -EINVAL;
		}
		if (day < 1 || day > (month <= 6 ? 31 : 30)) {
			say(why, whylen, "Persian day %d is out of range for month %d (use 1..%d)", day,
			    month, month <= 6 ? 31 : 30);
			return -EINVAL;
		}
		break;
	default:
		say(why, whylen, "unknown kind of holiday %d", (int)kind);
		return -EINVAL;
	}
	return 0;
}

int wafa_calendar_add_holiday(struct wafa_calendar *cal, enum wafa_holiday_kind kind, int year,
                              int month, int day, char *why, size_t whylen)
{
	int err = check_day(kind, year, month, day, why, whylen);

	if (err)
		return err;
	if (cal->nhol == cal->holcap) {
		int cap = cal->holcap ? 2 * cal->holcap : 16;
		struct holiday *h = realloc(cal->hol, (size_t)cap * sizeof(*h));

		if (!h) {
			say(why, whylen, "out of memory");
			return -ENOMEM;
		}
		cal->hol = h;
		cal->holcap = cap;
	}
	cal->hol[cal->nhol++] = (struct holiday){ kind, year, month, day };
	cache_clear(cal, true);
	return 0;
}

int wafa_calendar_add_special(struct wafa_calendar *cal, enum wafa_holiday_kind kind, int y0,
                              int m0, int d0, int y1, int m1, int d1, char *why, size_t whylen)
{
	struct special *grown;
	int err;

	if ((err = check_day(kind, y0, m0, d0, why, whylen)) != 0 ||
	    (err = check_day(kind, y1, m1, d1, why, whylen)) != 0)
		return err;
	if (kind == WAFA_HOLIDAY_DATE &&
	    wafa_zone_days_from_civil(y1, m1, d1) < wafa_zone_days_from_civil(y0, m0, d0)) {
		say(why, whylen, "%04d-%02d-%02d is before %04d-%02d-%02d: the period ends before it "
		                 "starts",
		    y1, m1, d1, y0, m0, d0);
		return -EINVAL;
	}
	if (cal->nspecial >= INT16_MAX) {
		say(why, whylen, "too many special periods");
		return -EINVAL;
	}
	grown = realloc(cal->specials, (size_t)(cal->nspecial + 1) * sizeof(*grown));
	if (!grown) {
		say(why, whylen, "out of memory");
		return -ENOMEM;
	}
	cal->specials = grown;
	memset(&grown[cal->nspecial], 0, sizeof(*grown));
	grown[cal->nspecial] = (struct special){ .kind = kind, .y0 = y0, .m0 = m0, .d0 = d0,
		                                 .y1 = y1, .m1 = m1, .d1 = d1 };
	cache_clear(cal, true);
	return cal->nspecial++;
}

int wafa_calendar_set_special_hours(struct wafa_calendar *cal, int idx, int wday, const char *spec,
                                    char *why, size_t whylen)
{
	struct span sp[MAX_RANGES];
	int n = 0, err;

	if (idx < 0 || idx >= cal->nspecial) {
		say(why, whylen, "no special period %d", idx);
		return -EINVAL;
	}
	if (wday < -1 || wday > 6) {
		say(why, whylen, "weekday %d is out of range (use 0 Sunday .. 6 Saturday, -1 every day)",
		    wday);
		return -EINVAL;
	}
	if ((err = parse_hours(spec, sp, &n, why, whylen)) != 0)
		return err;
	for (int d = wday < 0 ? 0 : wday; d <= (wday < 0 ? 6 : wday); d++) {
		memcpy(cal->specials[idx].hours[d], sp, (size_t)n * sizeof(sp[0]));
		cal->specials[idx].nhours[d] = (uint8_t)n;
	}
	cache_clear(cal, false);
	return 0;
}

/* The Gregorian day number on which month-day (m, d) of year ey of the
 * calendar uc (islamic-umalqura or persian, in UTC) falls, or -1 if that
 * year has no such day (a 30th in a 29-day month). */
static int64_t other_to_dn(UCalendar *uc, int ey, int m, int d)
{
	UErrorCode st = U_ZERO_ERROR;
	UDate ms;

	ucal_clear(uc);
	ucal_set(uc, UCAL_EXTENDED_YEAR, ey);
	ucal_set(uc, UCAL_MONTH, m - 1);
	ucal_set(uc, UCAL_DATE, d);
	ucal_set(uc, UCAL_HOUR_OF_DAY, 12);
	ms = ucal_getMillis(uc, &st);
	if (U_FAILURE(st))
		return -1;
	/* lenient ICU rolls a missing day over into the next month: refuse it */
	if (ucal_get(uc, UCAL_MONTH, &st) != m - 1 || ucal_get(uc, UCAL_DATE, &st) != d ||
	    U_FAILURE(st))
		return -1;
	return floordiv((int64_t)ms, DAY_MS);
}

/* The year of calendar uc in which Gregorian day dn falls. */
static int other_year(UCalendar *uc, int64_t dn, bool *ok)
{
	UErrorCode st = U_ZERO_ERROR;
	int y;

	ucal_setMillis(uc, (UDate)(dn * DAY_MS + DAY_MS / 2), &st);
	y = ucal_get(uc, UCAL_EXTENDED_YEAR, &st);
	if (U_FAILURE(st))
		*ok = false;
	return y;
}

/* Adds to list the days of Gregorian year year on which (m, d) of calendar
 * uc falls (none, one, or two for a Hijri date). */
static int other_in_year(UCalendar *uc, int year, int m, int d, int32_t *list, int *n)
{
	int64_t lo = wafa_zone_days_from_civil(year, 1, 1), hi = wafa_zone_days_from_civil(year, 12, 31);
	bool ok = true;
	int y0 = other_year(uc, lo, &ok), y1 = other_year(uc, hi, &ok);

	if (!ok)
		return -EINVAL;
	for (int ey = y0; ey <= y1; ey++) {
		int64_t dn = other_to_dn(uc, ey, m, d);

		if (dn >= lo && dn <= hi)
			list[(*n)++] = (int32_t)dn;
	}
	return 0;
}

/* Month-day (m, d) of year ey of calendar uc as a Gregorian day number; a
 * day the month lacks that year (a 30th) is the month's last.  -1 on error. */
static int64_t other_dn_clamped(UCalendar *uc, int ey, int m, int d)
{
	int64_t dn = -1;

	for (; d >= 1 && (dn = other_to_dn(uc, ey, m, d)) == -1; d--)
		;
	return dn;
}

/* Adds to list (triples: first day, last day, idx) the span of special
 * period idx that touches Gregorian days [lo, hi], once per recurrence. */
static int special_spans(struct wafa_calendar *cal, int idx, int year, int32_t *list, int *n)
{
	const struct special *sp = &cal->specials[idx];
	int64_t lo = wafa_zone_days_from_civil(year, 1, 1), hi = wafa_zone_days_from_civil(year, 12, 31);
	bool wraps = sp->m1 < sp->m0 || (sp->m1 == sp->m0 && sp->d1 < sp->d0);
	int64_t from, to;

	switch (sp->kind) {
	case WAFA_HOLIDAY_DATE:
		from = wafa_zone_days_from_civil(sp->y0, sp->m0, sp->d0);
		to = wafa_zone_days_from_civil(sp->y1, sp->m1, sp->d1);
		if (from <= hi && to >= lo) {
			list[(*n)++] = (int32_t)from;
			list[(*n)++] = (int32_t)to;
			list[(*n)++] = idx;
		}
		return 0;
	case WAFA_HOLIDAY_YEARLY:
		for (int y = year - 1; y <= year; y++) {
			int ty = wraps ? y + 1 : y;
			from = wafa_zone_days_from_civil(y, sp->m0, sp->d0 < month_days(y, sp->m0)
			                                                ? sp->d0 : month_days(y, sp->m0));
			to = wafa_zone_days_from_civil(ty, sp->m1, sp->d1 < month_days(ty, sp->m1)
			                                               ? sp->d1 : month_days(ty, sp->m1));
			if (from <= hi && to >= lo) {
				list[(*n)++] = (int32_t)from;
				list[(*n)++] = (int32_t)to;
				list[(*n)++] = idx;
			}
		}
		return 0;
	case WAFA_HOLIDAY_HIJRI:
	case WAFA_HOLIDAY_PERSIAN: {
		UCalendar **uc = sp->kind == WAFA_HOLIDAY_HIJRI ? &cal->hijri : &cal->persian;
		bool ok = true;
		int e0, e1;

		if (!*uc)
			*uc = open_ucal("UTC", sp->kind == WAFA_HOLIDAY_HIJRI ? "en@calendar=islamic-umalqura"
			                                                     : "en@calendar=persian");
		if (!*uc)
			return -EINVAL;
		e0 = other_year(*uc, lo, &ok) - 1;
		e1 = other_year(*uc, hi, &ok);
		if (!ok)
			return -EINVAL;
		for (int ey = e0; ey <= e1; ey++) {
			from = other_dn_clamped(*uc, ey, sp->m0, sp->d0);
			to = other_dn_clamped(*uc, wraps ? ey + 1 : ey, sp->m1, sp->d1);
			if (from < 0 || to < 0)
				return -EINVAL;
			if (from <= hi && to >= lo) {
				list[(*n)++] = (int32_t)from;
				list[(*n)++] = (int32_t)to;
				list[(*n)++] = idx;
			}
		}
		return 0;
	}
	}
	return -EINVAL;
}

/* The closed days of Gregorian year year, computed once and cached, or
 * NULL (no memory, or ICU failed). */
static const struct yearhol *year_holidays(struct wafa_calendar *cal, int year)
{
	struct yearhol *yh = &cal->years[((year % NYEARS) + NYEARS) % NYEARS];
	int32_t *list = NULL;
	int n = 0;

	int32_t *spans = NULL;
	int nsp = 0;

	if (yh->year == year)
		return yh;
	/* at most two days a year for each holiday (a Hijri date can recur) */
	if (cal->nhol) {
		list = malloc((size_t)cal->nhol * 2 * sizeof(*list));
		if (!list)
			goto fail;
	}
	/* at most three spans a year for each special period (a Hijri month recurs) */
	if (cal->nspecial) {
		spans = malloc((size_t)cal->nspecial * 9 * sizeof(*spans));
		if (!spans)
			goto fail;
	}
	for (int i = 0; i < cal->nspecial; i++)
		if (special_spans(cal, i, year, spans, &nsp) != 0)
			goto fail;
	for (int i = 0; i < cal->nhol; i++) {
		const struct holiday *h = &cal->hol[i];
		UCalendar **uc;

		switch (h->kind) {
		case WAFA_HOLIDAY_DATE:
			if (h->year == year)
				list[n++] = (int32_t)wafa_zone_days_from_civil(year, h->month, h->day);
			break;
		case WAFA_HOLIDAY_YEARLY:
			if (h->day <= month_days(year, h->month))
				list[n++] = (int32_t)wafa_zone_days_from_civil(year, h->month, h->day);
			break;
		case WAFA_HOLIDAY_HIJRI:
		case WAFA_HOLIDAY_PERSIAN:
			uc = h->kind == WAFA_HOLIDAY_HIJRI ? &cal->hijri : &cal->persian;
			if (!*uc)
				*uc = open_ucal("UTC", h->kind == WAFA_HOLIDAY_HIJRI
				                           ? "en@calendar=islamic-umalqura"
				                           : "en@calendar=persian");
			if (!*uc || other_in_year(*uc, year, h->month, h->day, list, &n) != 0)
				goto fail;
			break;
		}
	}
	free(yh->dn);
	free(yh->sp);
	yh->dn = list; /* owned by the cache now */
	yh->n = n;
	yh->sp = spans;
	yh->nsp = nsp / 3;
	yh->year = year;
	return yh;
fail:
	free(list);
	free(spans);
	return NULL;
}

/* The instant of minute min (0 .. 1439) of local day dn, or WAFA_NO_TIME.
 * Zone offsets come from the system's tz database (zone.c), not ICU's copy. */
static int64_t local_ms(struct wafa_calendar *cal, int64_t dn, int min)
{
	struct wafa_local lt = { 0 };
	int64_t ms;

	wafa_zone_civil_from_days(dn, &lt.year, &lt.month, &lt.day);
	lt.hour = min / 60;
	lt.minute = min % 60;
	return wafa_zone_join(&lt, cal->tz, &ms) == 0 ? ms : WAFA_NO_TIME;
}

/* Fills block b with the BLOCK_DAYS days from key * BLOCK_DAYS.
 * Returns 0 or -EINVAL (ICU failed). */
static int fill_block(struct wafa_calendar *cal, struct block *b, int64_t key)
{
	int64_t dn0 = key * BLOCK_DAYS, starts[BLOCK_DAYS + 1];
	int16_t special[BLOCK_DAYS]; /* the period whose hours a day keeps, or -1 */
	int y0, y1, m, d;

	b->key = NO_BLOCK;
	wafa_zone_civil_from_days(dn0, &y0, &m, &d);
	wafa_zone_civil_from_days(dn0 + BLOCK_DAYS - 1, &y1, &m, &d);
	for (int i = 0; i < BLOCK_DAYS; i++)
		special[i] = -1;
	for (int y = y0; y <= y1 && cal->nspecial; y++) {
		const struct yearhol *yh = year_holidays(cal, y);

		if (!yh)
			return -EINVAL;
		for (int k = 0; k < yh->nsp; k++) {
			int64_t from = yh->sp[3 * k] - dn0, to = yh->sp[3 * k + 1] - dn0;
			int16_t idx = (int16_t)yh->sp[3 * k + 2];

			for (int64_t i = from < 0 ? 0 : from; i <= to && i < BLOCK_DAYS; i++)
				if (idx > special[i])
					special[i] = idx;
		}
	}
	for (int i = 0; i <= BLOCK_DAYS; i++) {
		starts[i] = local_ms(cal, dn0 + i, 0);
		if (starts[i] == WAFA_NO_TIME)
			return -EINVAL;
		if (i > 0 && starts[i] < starts[i - 1])
			starts[i] = starts[i - 1];
	}
	for (int i = 0; i < BLOCK_DAYS; i++) {
		struct day *day = &b->d[i];
		int wd = weekday(dn0 + i);
		int64_t end = starts[i + 1], prev = starts[i];

		day->start = starts[i];
		day->len = (int32_t)(end - starts[i]);
		const struct span *hours = special[i] >= 0 ? cal->specials[special[i]].hours[wd]
		                                           : cal->hours[wd];
		int nhours = special[i] >= 0 ? cal->specials[special[i]].nhours[wd] : cal->nhours[wd];

		day->open = 0;
		day->n = 0;
		for (int k = 0; k < nhours; k++) {
			const struct span *sp = &hours[k];
			int64_t s = sp->from == 0 ? starts[i] : local_ms(cal, dn0 + i, sp->from);
			int64_t e = sp->to == 1440 ? end : local_ms(cal, dn0 + i, sp->to);

			if (s == WAFA_NO_TIME || e == WAFA_NO_TIME)
				return -EINVAL;
			/* a DST change can squeeze a range to nothing, or onto its neighbour */
			if (s < prev)
				s = prev;
			if (e > end)
				e = end;
			if (e <= s)
				continue;
			if (day->n > 0 && s == day->start + day->r[2 * day->n - 1]) {
				day->r[2 * day->n - 1] = (int32_t)(e - day->start);
			} else {
				day->r[2 * day->n] = (int32_t)(s - day->start);
				day->r[2 * day->n + 1] = (int32_t)(e - day->start);
				day->n++;
			}
			day->open += (int32_t)(e - s);
			prev = e;
		}
	}
	for (int y = y0; y <= y1 && cal->nhol; y++) {
		const struct yearhol *yh = year_holidays(cal, y);

		if (!yh)
			return -EINVAL;
		for (int k = 0; k < yh->n; k++) {
			int64_t i = yh->dn[k] - dn0;

			if (i >= 0 && i < BLOCK_DAYS) {
				b->d[i].n = 0;
				b->d[i].open = 0;
			}
		}
	}
	b->key = key;
	return 0;
}

/* Local day dn from the cache (filled if need be), or NULL: outside the
 * supported years, no memory, or ICU failed. */
static const struct day *get_day(struct wafa_calendar *cal, int64_t dn)
{
	int64_t key = floordiv(dn, BLOCK_DAYS);
	int slot = (int)(((key % NBLOCKS) + NBLOCKS) % NBLOCKS);
	struct block *b = cal->blocks[slot];

	if (b && b->key == key)
		return &b->d[dn - key * BLOCK_DAYS];
	if (dn < DN_LO || dn > DN_HI)
		return NULL;
	if (!b) {
		b = malloc(sizeof(*b));
		if (!b)
			return NULL;
		b->key = NO_BLOCK;
		cal->blocks[slot] = b;
	}
	if (fill_block(cal, b, key) != 0)
		return NULL;
	return &b->d[dn - key * BLOCK_DAYS];
}

/* The local day that holds instant t (T_LO <= t < T_HI), its number in *dn. */
static const struct day *day_at(struct wafa_calendar *cal, int64_t t, int64_t *dn)
{
	const struct day *d;

	*dn = floordiv(t, DAY_MS);
	d = get_day(cal, *dn);
	while (d && t < d->start)
		d = get_day(cal, --*dn);
	while (d && t >= d->start + d->len)
		d = get_day(cal, ++*dn);
	return d;
}

static bool has_hours(const struct wafa_calendar *cal)
{
	for (int i = 0; i < 7; i++) {
		if (cal->nhours[i])
			return true;
		for (int k = 0; k < cal->nspecial; k++)
			if (cal->specials[k].nhours[i])
				return true;
	}
	return false;
}

static bool in_range(int64_t t)
{
	return t >= T_LO && t < T_HI;
}

bool wafa_calendar_is_open(struct wafa_calendar *cal, int64_t at)
{
	const struct day *d;
	int64_t dn;

	if (!has_hours(cal) || !in_range(at))
		return false;
	d = day_at(cal, at, &dn);
	if (!d)
		return false;
	for (int k = 0; k < d->n; k++)
		if (at >= d->start + d->r[2 * k] && at < d->start + d->r[2 * k + 1])
			return true;
	return false;
}

int64_t wafa_calendar_elapsed(struct wafa_calendar *cal, int64_t from, int64_t to)
{
	const struct day *d;
	int64_t dn, sum = 0;

	if (from == WAFA_NO_TIME || to == WAFA_NO_TIME || !has_hours(cal))
		return 0;
	if (from < T_LO)
		from = T_LO;
	if (to > T_HI)
		to = T_HI;
	if (to <= from)
		return 0;
	for (d = day_at(cal, from, &dn); d && d->start < to; d = get_day(cal, ++dn)) {
		if (d->start >= from && d->start + d->len <= to) {
			sum += d->open;
			continue;
		}
		for (int k = 0; k < d->n; k++) {
			int64_t s = d->start + d->r[2 * k], e = d->start + d->r[2 * k + 1];

			if (s < from)
				s = from;
			if (e > to)
				e = to;
			if (e > s)
				sum += e - s;
		}
	}
	return sum;
}

int64_t wafa_calendar_add(struct wafa_calendar *cal, int64_t from, int64_t amount)
{
	const struct day *d;
	int64_t dn;

	if (from == WAFA_NO_TIME || amount < 0)
		return WAFA_NO_TIME;
	if (amount == 0)
		return from;
	if (!has_hours(cal) || !in_range(from))
		return WAFA_NO_TIME;
	d = day_at(cal, from, &dn);
	for (int i = 0; d && i <= HORIZON_DAYS; i++, d = get_day(cal, ++dn)) {
		if (d->start >= from && d->open < amount) {
			amount -= d->open;
			continue;
		}
		for (int k = 0; k < d->n; k++) {
			int64_t s = d->start + d->r[2 * k], e = d->start + d->r[2 * k + 1];

			if (e <= from)
				continue;
			if (s < from)
				s = from;
			if (amount <= e - s)
				return s + amount;
			amount -= e - s;
		}
	}
	return WAFA_NO_TIME;
}

int64_t wafa_calendar_sub(struct wafa_calendar *cal, int64_t to, int64_t amount)
{
	const struct day *d;
	int64_t dn;

	if (to == WAFA_NO_TIME || amount < 0)
		return WAFA_NO_TIME;
	if (amount == 0)
		return to;
	if (!has_hours(cal) || !in_range(to))
		return WAFA_NO_TIME;
	d = day_at(cal, to, &dn);
	for (int i = 0; d && i <= HORIZON_DAYS; i++, d = get_day(cal, --dn)) {
		if (d->start + d->len <= to && d->open < amount) {
			amount -= d->open;
			continue;
		}
		for (int k = d->n - 1; k >= 0; k--) {
			int64_t s = d->start + d->r[2 * k], e = d->start + d->r[2 * k + 1];

			if (s >= to)
				continue;
			if (e > to)
				e = to;
			if (amount <= e - s)
				return e - amount;
			amount -= e - s;
		}
	}
	return WAFA_NO_TIME;
}

int64_t wafa_calendar_next_open(struct wafa_calendar *cal, int64_t at)
{
	const struct day *d;
	int64_t dn;

	if (at == WAFA_NO_TIME || !has_hours(cal) || !in_range(at))
		return WAFA_NO_TIME;
	d = day_at(cal, at, &dn);
	for (int i = 0; d && i <= HORIZON_DAYS; i++, d = get_day(cal, ++dn)) {
		for (int k = 0; k < d->n; k++) {
			int64_t s = d->start + d->r[2 * k], e = d->start + d->r[2 * k + 1];

			if (e > at)
				return s > at ? s : at;
		}
	}
	return WAFA_NO_TIME;
}

int64_t wafa_calendar_add_days(struct wafa_calendar *cal, int64_t from, int n)
{
	int64_t s = wafa_calendar_next_open(cal, from), dn, at;
	struct wafa_local lt;
	const struct day *d;
	int left = n;

	if (s == WAFA_NO_TIME || n <= 0)
		return s;
	if (!(d = day_at(cal, s, &dn)) || wafa_zone_split(s, cal->tz, &lt) != 0)
		return WAFA_NO_TIME;
	for (int i = 0; i < HORIZON_DAYS && left > 0; i++) {
		if (!(d = get_day(cal, ++dn)))
			return WAFA_NO_TIME;
		if (d->open > 0)
			left--;
	}
	if (left > 0)
		return WAFA_NO_TIME;
	at = local_ms(cal, dn, lt.hour * 60 + lt.minute);
	if (at == WAFA_NO_TIME)
		return WAFA_NO_TIME;
	at += lt.second * 1000LL + (((s % 1000) + 1000) % 1000);
	/* a DST gap moved the minute: keep it inside the day */
	if (at < d->start)
		at = d->start;
	if (at >= d->start + d->len)
		at = d->start + d->len - 1;
	return at;
}
