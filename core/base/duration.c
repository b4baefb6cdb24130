#include "base/duration.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int wafa_duration_parse(const char *text, int64_t *ms, const char **why)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	const char *p = text;
	int64_t n = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p)) {
		*why = "a duration is a whole number and a unit, like \"90s\", \"15m\", \"4h\", \"2d\"";
		return -EINVAL;
	}
	while (isdigit((unsigned char)*p)) {
		if (n > (INT64_MAX / 10 - 9) / 86400000) {
			*why = "duration too large";
			return -EINVAL;
		}
		n = n * 10 + (*p++ - '0');
	}
	size_t len = strcspn(p, " \t");
	if (p[len + strspn(p + len, " \t")] != '\0') {
		*why = "trailing text after the duration";
		return -EINVAL;
	}
	if (len == 0) {
		*why = "missing unit (use ms, s, m, h, d)";
		return -EINVAL;
	}
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strlen(units[i].unit) == len && strncmp(p, units[i].unit, len) == 0) {
			*ms = n * units[i].ms;
			return 0;
		}
	}
	*why = "unknown unit (use ms, s, m, h, d)";
	return -EINVAL;
}

int wafa_duration_parse_days(const char *text, int64_t *v, const char **why)
{
	const char *p = text;
	int64_t n = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p)) {
		*why = "business days are a whole number and \"bd\", like \"2bd\"";
		return -EINVAL;
	}
	while (isdigit((unsigned char)*p) && n <= WAFA_DURATION_MAX_DAYS)
		n = n * 10 + (*p++ - '0');
	if (strncmp(p, "bd", 2) != 0 || p[2 + strspn(p + 2, " \t")] != '\0') {
		*why = "business days are a whole number and \"bd\", like \"2bd\"";
		return -EINVAL;
	}
	if (n < 1 || n > WAFA_DURATION_MAX_DAYS) {
		*why = "business days run from 1 to 36600";
		return -EINVAL;
	}
	*v = WAFA_DURATION_DAYS | n;
	return 0;
}

char *wafa_duration_format(int64_t ms, char *buf, size_t len)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
	};
	const char *sign = ms < 0 ? "-" : "";
	int64_t left = ms < 0 ? -ms : ms;
	size_t used = 0;
	int parts = 0;

	if (left == 0)
		snprintf(buf, len, "0s");
	else
		buf[0] = '\0';
	/* the two largest units that are not zero: 200d, 1h30m, 1m, 1.5 s as 1s500ms */
	for (unsigned i = 0; left > 0 && parts < 2 && i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t n = left / units[i].ms;
		if (n == 0) {
			if (parts)
				break;
			continue;
		}
		left -= n * units[i].ms;
		int w = snprintf(buf + used, used < len ? len - used : 0, "%s%" PRId64 "%s",
		                 parts ? "" : sign, n, units[i].unit);
		used += w > 0 ? (size_t)w : 0;
		parts++;
	}
	return buf;
}
