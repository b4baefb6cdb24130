/* Time zones from the system's tz database (/usr/share/zoneinfo, kept
 * current by Debian's tzdata updates) through GLib's GTimeZone: ICU's own
 * copy on Debian 12 is 2022e and does not know that Egypt has DST again
 * since 2023.  GTimeZone caches each zone and is safe on any thread. */
#include "time/zone.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#define DAY_S 86400

int64_t wafa_zone_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void wafa_zone_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/* GLib drops a zone from its own cache when the last reference goes, and
 * reads its file again on the next use (about 0.25 ms): keep the zones wafa
 * uses.  Few zones are in use at once; past ZONES, the oldest is let go. */
#define ZONES 64

static struct {
	char name[65];
	GTimeZone *tz;
} zones[ZONES];
static unsigned next_zone;
static GMutex zones_lock;

/* The zone (a new reference), or NULL if the system does not know it.
 * GLib falls back to UTC for an unknown identifier only in
 * g_time_zone_new(); this one says NULL. */
static GTimeZone *open_zone(const char *tz)
{
	GTimeZone *z = NULL;

	/* a name, never a path: GLib would open "/x" or ":x" as a file */
	if (!tz || !*tz || strlen(tz) > 64 || tz[0] == ':' || tz[0] == '/' || strstr(tz, ".."))
		return NULL;
	g_mutex_lock(&zones_lock);
	for (unsigned i = 0; i < ZONES && zones[i].tz; i++) {
		if (strcmp(zones[i].name, tz) == 0) {
			z = g_time_zone_ref(zones[i].tz);
			goto out;
		}
	}
	z = g_time_zone_new_identifier(tz);
	if (z) {
		unsigned i = next_zone++ % ZONES;
		if (zones[i].tz)
			g_time_zone_unref(zones[i].tz);
		g_strlcpy(zones[i].name, tz, sizeof(zones[i].name));
		zones[i].tz = g_time_zone_ref(z);
	}
out:
	g_mutex_unlock(&zones_lock);
	return z;
}

bool wafa_zone_valid(const char *tz)
{
	GTimeZone *z = open_zone(tz);

	if (!z)
		return false;
	g_time_zone_unref(z);
	return true;
}

int wafa_zone_split(int64_t ms, const char *tz, struct wafa_local *out)
{
	GTimeZone *z = open_zone(tz);
	int64_t s, local, days, sec;
	int interval;

	if (!z)
		return -EINVAL;
	s = floor_div(ms, 1000);
	interval = g_time_zone_find_interval(z, G_TIME_TYPE_UNIVERSAL, s);
	local = s + (interval >= 0 ? g_time_zone_get_offset(z, interval) : 0);
	g_time_zone_unref(z);
	days = floor_div(local, DAY_S);
	sec = local - days * DAY_S;
	wafa_zone_civil_from_days(days, &out->year, &out->month, &out->day);
	out->hour = (int)(sec / 3600);
	out->minute = (int)(sec / 60 % 60);
	out->second = (int)(sec % 60);
	out->wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
	return 0;
}

int wafa_zone_join(const struct wafa_local *in, const char *tz, int64_t *ms)
{
	GTimeZone *z = open_zone(tz);
	int64_t months, y, m, local;
	gint64 t;
	int interval;

	if (!z)
		return -EINVAL;
	/* out-of-range fields roll over: month 13 is January, day 32 the next month */
	months = (int64_t)in->year * 12 + (in->month - 1);
	y = floor_div(months, 12);
	m = months - y * 12 + 1;
	local = (wafa_zone_days_from_civil(y, (int)m, 1) + in->day - 1) * DAY_S + (int64_t)in->hour * 3600 +
	        (int64_t)in->minute * 60 + in->second;
	t = local;
	/* a time in a gap moves to the gap's end (the next valid instant); one
	 * in an overlap takes the daylight interval, the earlier instant */
	interval = g_time_zone_adjust_time(z, G_TIME_TYPE_DAYLIGHT, &t);
	*ms = ((int64_t)t - (interval >= 0 ? g_time_zone_get_offset(z, interval) : 0)) * 1000;
	g_time_zone_unref(z);
	return 0;
}
