/* Durations as people write them: "100ms", "90s", "15m", "4h", "2d". */
#ifndef WAFA_DURATION_H
#define WAFA_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Parses text into milliseconds.  Returns 0, or -EINVAL with a reason for a
 * person in why (e.g. "unknown unit \"x\" (use ms, s, m, h, d)"). */
WAFA_WUR int wafa_duration_parse(const char *text, int64_t *ms, const char **why);

/* A target in business days ("2bd": the same local time two open days of
 * the rule's calendar later; calendar days without one) is carried as
 * WAFA_DURATION_DAYS | N where a target in ms would be (targets are at most
 * 100 years of ms, far below the flag). */
#define WAFA_DURATION_DAYS ((int64_t)1 << 62)
#define WAFA_DURATION_MAX_DAYS 36600

/* Parses "Nbd" into WAFA_DURATION_DAYS | N (1 <= N <= WAFA_DURATION_MAX_DAYS).
 * Returns 0, or -EINVAL (not written so, or out of range, with why). */
WAFA_WUR int wafa_duration_parse_days(const char *text, int64_t *v, const char **why);
/* Writes ms as a person reads it ("1m", "1h30m", "200d", "500ms": the two
 * largest units) into buf; returns buf. */
char *wafa_duration_format(int64_t ms, char *buf, size_t len);

#endif
