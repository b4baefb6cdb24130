/* Logging to stderr: one line per event, `LEVEL area: message`.  Lines about
 * a ticket carry `rule=<name> ticket=<id>`. */
#ifndef WAFA_LOG_H
#define WAFA_LOG_H

enum wafa_log_level { WAFA_LOG_DEBUG, WAFA_LOG_INFO, WAFA_LOG_WARN, WAFA_LOG_ERROR };

extern enum wafa_log_level wafa__log_level;

/* Returns 0, or -EINVAL for a name that is not debug, info, warn or error. */
int wafa_log_parse_level(const char *name, enum wafa_log_level *out);
void wafa_log_set_level(enum wafa_log_level level);
/* With a hook, each line goes to it (without the time stamp) instead of
 * stderr; NULL restores stderr.  `wafa test` uses it to turn a rule's
 * error into the failure of the test that ran it. */
void wafa_log_set_hook(void (*hook)(void *arg, enum wafa_log_level level, const char *area,
                                    const char *msg),
                       void *arg);
void wafa__log(enum wafa_log_level level, const char *area, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The level is checked before anything is formatted. */
#define wafa_log(level, area, ...)                                          \
	do {                                                                    \
		if ((level) >= wafa__log_level)                                     \
			wafa__log((level), (area), __VA_ARGS__);                        \
	} while (0)

#define WAFA_DEBUG WAFA_LOG_DEBUG
#define WAFA_INFO WAFA_LOG_INFO
#define WAFA_WARN WAFA_LOG_WARN
#define WAFA_ERROR WAFA_LOG_ERROR

#endif
