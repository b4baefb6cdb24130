#include "base/log.h"

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

/* Copies msg into out (size bytes) with control characters escaped: a
 * rule's print() or a customer's text with "\n2026-... error daemon: X" in it
 * cannot forge a log line.  \n, \r and \t become those two characters,
 * the others \xHH.  Returns the length. */
static size_t escape(char *out, size_t size, const char *msg)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)msg; *p && n + 5 < size; p++) {
		if (*p >= 0x20 && *p != 0x7f) {
			out[n++] = (char)*p;
			continue;
		}
		out[n++] = '\\';
		switch (*p) {
		case '\n': out[n++] = 'n'; break;
		case '\r': out[n++] = 'r'; break;
		case '\t': out[n++] = 't'; break;
		default: n += (size_t)snprintf(out + n, size - n, "x%02x", *p); break;
		}
	}
	out[n] = '\0';
	return n;
}

void wafa__log(enum wafa_log_level level, const char *area, const char *fmt, ...)
{
	char line[2048], msg[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_hook) {
		escape(line, sizeof(line), msg);
		log_hook(log_hook_arg, level, area, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000,
	                      names[level], area);
	if (n < sizeof(line))
		escape(line + n, sizeof(line) - n, msg);
	/* One write per line, so lines from threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}
