/* wafa simulate: the rules run on virtual time over the current tickets,
 * printing every transition and every mail that would happen between two
 * instants, sending nothing and writing nothing.  It ignores wafa.fired:
 * it shows what the rules do, not what is left to do. */
#ifndef WAFA_SIMULATE_H
#define WAFA_SIMULATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"

/* Parses "2026-11-29T14:00:00Z", "2026-11-29T17:30:00+03:30", "2026-11-29"
 * (midnight UTC), "now", "now+2h", "now-7d" into ms.  Returns 0 or -EINVAL. */
int wafa_simulate_parse_time(const char *text, int64_t *ms);

/* Runs the simulation from `from` to `to` (ms) and prints to out: an
 * aligned table, or with json one object per line.  With first_start, every
 * step due by `to` fires at once, as on a first start at `to`, and out gets
 * the mails sent and held back by the go-live guard, by rule and audience.
 * Times are printed in UTC, or with tz (an IANA zone) local with their offset.
 * Returns a sysexits code. */
int wafa_simulate_run(const struct wafa_config *cfg, int64_t from, int64_t to, bool json,
                      bool first_start, const char *tz, FILE *out);

#endif
