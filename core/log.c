#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum wafa_log_level wafa__log_level = WAFA_LOG_INFO;

static const char *const names[] = { "debug", "info", "warn", "error" };

int wafa_log_parse_level(const char *name, enum wafa_log_level *out)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum wafa_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void wafa_log_set_level(enum wafa_log_level level)
{
	wafa__log_level = level;
}

static void (*log_hook)(void *arg, enum wafa_log_level level, const char *area, const char *msg);
static void *log_hook_arg;

void wafa_log_set_hook(void (*hook)(void *arg, enum wafa_log_level level, const char *area,
                                    const char *msg),
                       void *arg)
{
	log_hook = hook;
	log_hook_arg = arg;
}

void wafa__log(enum wafa_log_level level, const char *area, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;

	if (log_hook) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		log_hook(log_hook_arg, level, area, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000,
	                      names[level], area);
	va_start(ap, fmt);
	if (n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line, so lines from threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}
