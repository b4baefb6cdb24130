#include "duration.h"

#include <ctype.h>
#include <errno.h>
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
