/* Benchmark, printing figures (no assertions): business-time computations
 * per second, wafa_calendar_add and wafa_calendar_elapsed, on the calendars
 * of tests/bench/business_time.py: Cairo (Sun-Thu 09:00-17:00, Gregorian
 * and Hijri holidays) and a split shift in Berlin (Mon-Fri
 * 09:00-12:00,13:00-17:00).
 *
 * Built by tests/bench/run against the built libwafa.a, and run by
 * tests/bench/business_time.py (its figures join that JSON summary):
 *   cc -O2 -I core -I include tests/bench/calendar_speed.c libwafa.a \
 *      $(pkg-config --cflags --libs libuv libpq lua5.4 libesmtp-1.0 inih gmime-3.0 \
 *        openssl icu-i18n icu-uc jansson) -lpthread -lm -o tests/tmp/calendar_speed
 *   tests/tmp/calendar_speed [CALLS]        (default 2000000 warm calls a figure)
 *
 * For each calendar and target (1-8 h, drawn at random by the minute, and
 * 60 h) from instants spread over 30 days from now (any time of day, so
 * in business hours and not):
 *   warm:   the calendar's day cache already holds the days asked about;
 *   fills:  from instants spread over 2000-2040, so nearly every call
 *           misses the cache (it keeps about eleven years) and fills a block
 *           of 128 days, through the system's tz database and ICU's Hijri
 *           calendar for the holidays;
 *   fresh:  a new calendar for every call (declared as the rules host
 *           does), so each call pays for its first block and holiday year.
 * Prints one line per figure, then one JSON object with them all. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "time/calendar.h"
#include "time/clock.h"

#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	/* xorshift64*: fixed seed, so every run asks the same questions */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct holiday {
	enum wafa_holiday_kind kind;
	int year, month, day;
};

struct caldef {
	const char *name, *tz;
	const char *hours[7]; /* Sunday .. Saturday, NULL: closed */
	struct holiday hol[16];
	int nhol;
};

static const struct caldef CAIRO = {
	"cairo", "Africa/Cairo",
	{ "09:00-17:00", "09:00-17:00", "09:00-17:00", "09:00-17:00", "09:00-17:00", NULL, NULL },
	{ { WAFA_HOLIDAY_YEARLY, 0, 1, 7 }, { WAFA_HOLIDAY_YEARLY, 0, 1, 25 },
	  { WAFA_HOLIDAY_YEARLY, 0, 4, 25 }, { WAFA_HOLIDAY_YEARLY, 0, 5, 1 },
	  { WAFA_HOLIDAY_YEARLY, 0, 6, 30 }, { WAFA_HOLIDAY_YEARLY, 0, 7, 23 },
	  { WAFA_HOLIDAY_YEARLY, 0, 10, 6 }, { WAFA_HOLIDAY_DATE, 2026, 11, 12 },
	  { WAFA_HOLIDAY_DATE, 2026, 11, 26 }, { WAFA_HOLIDAY_HIJRI, 0, 10, 1 },
	  { WAFA_HOLIDAY_HIJRI, 0, 10, 2 }, { WAFA_HOLIDAY_HIJRI, 0, 12, 10 },
	  { WAFA_HOLIDAY_HIJRI, 0, 12, 11 }, { WAFA_HOLIDAY_HIJRI, 0, 1, 1 } },
	14,
};

#define SPLIT "09:00-12:00,13:00-17:00"
static const struct caldef BERLIN = {
	"berlin", "Europe/Berlin",
	{ NULL, SPLIT, SPLIT, SPLIT, SPLIT, SPLIT, NULL },
	{ { WAFA_HOLIDAY_YEARLY, 0, 1, 1 }, { WAFA_HOLIDAY_YEARLY, 0, 5, 1 },
	  { WAFA_HOLIDAY_YEARLY, 0, 10, 3 }, { WAFA_HOLIDAY_YEARLY, 0, 12, 25 },
	  { WAFA_HOLIDAY_YEARLY, 0, 12, 26 }, { WAFA_HOLIDAY_DATE, 2026, 11, 18 } },
	6,
};

static struct wafa_calendar *make(const struct caldef *def)
{
	struct wafa_calendar *cal;
	char why[256];

	if (wafa_calendar_new(def->name, def->tz, &cal, why, sizeof(why)) != 0) {
		fprintf(stderr, "calendar_speed: %s: %s\n", def->name, why);
		exit(1);
	}
	for (int d = 0; d < 7; d++)
		if (def->hours[d] && wafa_calendar_set_hours(cal, d, def->hours[d], why, sizeof(why))) {
			fprintf(stderr, "calendar_speed: %s: %s\n", def->name, why);
			exit(1);
		}
	for (int i = 0; i < def->nhol; i++) {
		const struct holiday *h = &def->hol[i];
		if (wafa_calendar_add_holiday(cal, h->kind, h->year, h->month, h->day, why,
		                              sizeof(why)) != 0) {
			fprintf(stderr, "calendar_speed: %s: %s\n", def->name, why);
			exit(1);
		}
	}
	return cal;
}

/* n random instants in [lo, lo + span) and amounts: 1-8 h by the minute,
 * or exactly fixed_ms when it is not 0. */
static void draw(int64_t *from, int64_t *amount, size_t n, int64_t lo, int64_t span,
                 int64_t fixed_ms)
{
	for (size_t i = 0; i < n; i++) {
		from[i] = lo + (int64_t)(next_rand() % (uint64_t)span);
		amount[i] = fixed_ms ? fixed_ms : (60 + (int64_t)(next_rand() % 421)) * 60000LL;
	}
}

static volatile int64_t sink;

struct fig {
	char key[64];
	double per_s;
};
static struct fig figs[64];
static int nfigs;

static void report(const char *cal, const char *fn, const char *target, const char *mode,
                   size_t calls, double secs)
{
	double per_s = (double)calls / secs;
	struct fig *f = &figs[nfigs++];

	printf("  %-6s %-7s %-5s %-5s %9.0f calls/s  (%7.3f us/call, %zu calls)\n", cal, fn, target,
	       mode, per_s, secs * 1e6 / (double)calls, calls);
	snprintf(f->key, sizeof(f->key), "%s_%s_%s_%s", cal, fn,
	         strcmp(target, "1-8h") == 0 ? "1to8h" : target, mode);
	f->per_s = per_s;
	fflush(stdout);
}

/* add and elapsed over the same questions: elapsed(from, add(from, amount)). */
static void run_set(const struct caldef *def, struct wafa_calendar *cal, const char *target,
                    const char *mode, const int64_t *from, const int64_t *amount, int64_t *to,
                    size_t n)
{
	double t0, t1;
	int64_t acc = 0;
	size_t bad = 0;

	t0 = now_s();
	for (size_t i = 0; i < n; i++)
		to[i] = wafa_calendar_add(cal, from[i], amount[i]);
	t1 = now_s();
	report(def->name, "add", target, mode, n, t1 - t0);
	t0 = now_s();
	for (size_t i = 0; i < n; i++)
		acc += wafa_calendar_elapsed(cal, from[i], to[i]);
	t1 = now_s();
	report(def->name, "elapsed", target, mode, n, t1 - t0);
	for (size_t i = 0; i < n; i++)
		bad += to[i] == WAFA_NO_TIME;
	if (bad)
		printf("  (%zu of %zu adds gave no time)\n", bad, n);
	sink = acc;
}

/* A new calendar for every call: what the first question costs. */
static void run_fresh(const struct caldef *def, const char *target, const int64_t *from,
                      const int64_t *amount, size_t n)
{
	double t0, t1;
	int64_t acc = 0;

	t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		struct wafa_calendar *cal = make(def);
		acc += wafa_calendar_add(cal, from[i], amount[i]);
		wafa_calendar_free(cal);
	}
	t1 = now_s();
	report(def->name, "add", target, "fresh", n, t1 - t0);
	sink = acc;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 2000000;
	size_t nfill = n < 10000 ? n : 10000, nfresh = n < 2000 ? n : 2000;
	int64_t *from = malloc(n * sizeof(*from)), *amount = malloc(n * sizeof(*amount));
	int64_t *to = malloc(n * sizeof(*to));
	int64_t now = (int64_t)time(NULL) * 1000, y2000 = 946684800000LL;
	const struct caldef *defs[] = { &CAIRO, &BERLIN };
	struct {
		const char *name;
		int64_t ms;
	} targets[] = { { "1-8h", 0 }, { "60h", 60 * HOUR_MS } };

	if (!from || !amount || !to) {
		fprintf(stderr, "calendar_speed: out of memory\n");
		return 1;
	}
	printf("calendar speed: %zu calls each warm, %zu with cache fills, %zu on a fresh "
	       "calendar; from instants over the 30 days from now (fills: over 2000-2040)\n",
	       n, nfill, nfresh);
	for (int c = 0; c < 2; c++) {
		struct wafa_calendar *cal = make(defs[c]);
		for (int k = 0; k < 2; k++) {
			/* warm: a pass to fill the cache, then the timed one */
			draw(from, amount, n, now, 30 * DAY_MS, targets[k].ms);
			for (size_t i = 0; i < n && i < 10000; i++)
				sink = wafa_calendar_add(cal, from[i], amount[i]);
			run_set(defs[c], cal, targets[k].name, "warm", from, amount, to, n);
			/* fills: forty years, so that the cache keeps missing */
			draw(from, amount, nfill, y2000, 40 * 365 * DAY_MS, targets[k].ms);
			run_set(defs[c], cal, targets[k].name, "fills", from, amount, to, nfill);
			draw(from, amount, nfresh, now, 30 * DAY_MS, targets[k].ms);
			run_fresh(defs[c], targets[k].name, from, amount, nfresh);
		}
		wafa_calendar_free(cal);
	}
	printf("{\"bench\": \"calendar_speed\", \"calls\": %zu, \"calls_fills\": %zu, "
	       "\"calls_fresh\": %zu",
	       n, nfill, nfresh);
	for (int i = 0; i < nfigs; i++)
		printf(", \"%s_per_s\": %.0f", figs[i].key, figs[i].per_s);
	printf("}\n");
	free(from);
	free(amount);
	free(to);
	return 0;
}
