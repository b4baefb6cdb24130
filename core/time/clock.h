/* The one clock.  Everything that asks "what time is it" asks here, so that
 * simulation and tests can run on virtual time (wafa_clock_set_offset). */
#ifndef WAFA_CLOCK_H
#define WAFA_CLOCK_H

#include <stdint.h>

/* "No such instant": a NULL timestamp, a deadline that does not apply. */
#define WAFA_NO_TIME INT64_MIN

/* ms to whole seconds, rounding down (times before 1970 stay in their
 * second), safe for INT64_MIN. */
static inline int64_t wafa_ms_to_s(int64_t ms)
{
	return ms / 1000 - (ms % 1000 < 0);
}

/* Wall-clock time in milliseconds since the Unix epoch, plus the offset. */
int64_t wafa_clock_now_ms(void);
void wafa_clock_set_offset(int64_t ms);

#endif
