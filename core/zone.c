#include "zone.h"

#include <errno.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

/* Opens a Gregorian ICU calendar in zone tz, or NULL for an unknown zone. */
static UCalendar *open_zone(const char *tz)
{
	UChar id[128];
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal;
	int32_t len;

	if (!tz || !*tz || strlen(tz) >= sizeof(id) / sizeof(id[0]))
		return NULL;
	u_strFromUTF8(id, (int32_t)(sizeof(id) / sizeof(id[0])), &len, tz, -1, &st);
	if (U_FAILURE(st))
		return NULL;
	/* ICU takes an unknown id as "Etc/Unknown" (GMT): refuse it instead */
	UChar canon[128];
	UBool system = 0;
	ucal_getCanonicalTimeZoneID(id, len, canon, (int32_t)(sizeof(canon) / sizeof(canon[0])),
	                            &system, &st);
	if (U_FAILURE(st))
		return NULL;
	cal = ucal_open(id, len, "en_US@calendar=gregorian", UCAL_GREGORIAN, &st);
	if (U_FAILURE(st))
		return NULL;
	ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
	ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
	/* proleptic Gregorian: no Julian switch in 1582 */
	ucal_setGregorianChange(cal, -8.64e15, &st);
	return cal;
}

bool wafa_zone_valid(const char *tz)
{
	UCalendar *cal = open_zone(tz);

	if (!cal)
		return false;
	ucal_close(cal);
	return true;
}

int wafa_zone_split(int64_t ms, const char *tz, struct wafa_local *out)
{
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal = open_zone(tz);

	if (!cal)
		return -EINVAL;
	ucal_setMillis(cal, (UDate)ms, &st);
	out->year = ucal_get(cal, UCAL_EXTENDED_YEAR, &st);
	out->month = ucal_get(cal, UCAL_MONTH, &st) + 1;
	out->day = ucal_get(cal, UCAL_DATE, &st);
	out->hour = ucal_get(cal, UCAL_HOUR_OF_DAY, &st);
	out->minute = ucal_get(cal, UCAL_MINUTE, &st);
	out->second = ucal_get(cal, UCAL_SECOND, &st);
	out->wday = ucal_get(cal, UCAL_DAY_OF_WEEK, &st) - 1;
	ucal_close(cal);
	return U_FAILURE(st) ? -EINVAL : 0;
}

int wafa_zone_join(const struct wafa_local *in, const char *tz, int64_t *ms)
{
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal = open_zone(tz);
	UDate d;

	if (!cal)
		return -EINVAL;
	ucal_clear(cal);
	ucal_set(cal, UCAL_EXTENDED_YEAR, in->year);
	ucal_set(cal, UCAL_MONTH, in->month - 1);
	ucal_set(cal, UCAL_DATE, in->day);
	ucal_set(cal, UCAL_HOUR_OF_DAY, in->hour);
	ucal_set(cal, UCAL_MINUTE, in->minute);
	ucal_set(cal, UCAL_SECOND, in->second);
	d = ucal_getMillis(cal, &st);
	ucal_close(cal);
	if (U_FAILURE(st))
		return -EINVAL;
	*ms = (int64_t)d;
	return 0;
}
