/* Time zones from the system's tz database: an instant split into local
 * calendar parts in a named zone, and local parts joined back into an
 * instant.  Used by the calendars (business time) and by the rule library
 * (dates in promises).  Safe on any thread. */
#ifndef WAFA_ZONE_H
#define WAFA_ZONE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/* Gregorian local parts.  wday: 0 Sunday .. 6 Saturday. */
struct wafa_local {
	int year, month, day;     /* month 1..12 */
	int hour, minute, second; /* 0..23, 0..59, 0..59 */
	int wday;
};

/* Is tz a zone the system knows ("Asia/Tehran", "UTC")?  An unknown name is
 * not silently taken as UTC. */
bool wafa_zone_valid(const char *tz);

/* Splits the instant ms (Unix ms) into local parts in zone tz.
 * Returns 0 or -EINVAL (unknown zone). */
WAFA_WUR int wafa_zone_split(int64_t ms, const char *tz, struct wafa_local *out);

/* Joins local parts (wday ignored; out-of-range fields roll over, so day 32
 * is the next month) into an instant.  A local time that does not exist
 * (a DST gap) becomes the next valid instant, the gap's end (02:30 in a
 * 02:00-03:00 gap gives 03:00); one that exists twice (the autumn overlap)
 * is the earlier.  Returns 0 or -EINVAL. */
WAFA_WUR int wafa_zone_join(const struct wafa_local *in, const char *tz, int64_t *ms);

/* Day numbers (days since 1970-01-01) of proleptic Gregorian dates, and
 * back (H. Hinnant's algorithms). */
int64_t wafa_zone_days_from_civil(int64_t y, int m, int d);
void wafa_zone_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
