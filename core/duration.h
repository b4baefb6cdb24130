/* Durations as people write them: "100ms", "90s", "15m", "4h", "2d". */
#ifndef WAFA_DURATION_H
#define WAFA_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Parses text into milliseconds.  Returns 0, or -EINVAL with a reason for a
 * person in why (e.g. "unknown unit \"x\" (use ms, s, m, h, d)"). */
WAFA_WUR int wafa_duration_parse(const char *text, int64_t *ms, const char **why);

/* Writes ms as a person reads it ("1m", "1h30m", "200d", "500ms": the two
 * largest units) into buf; returns buf. */
char *wafa_duration_format(int64_t ms, char *buf, size_t len);

#endif
