#include "time/clock.h"

#include <time.h>

static int64_t offset_ms;

int64_t wafa_clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + offset_ms;
}

void wafa_clock_set_offset(int64_t ms)
{
	offset_ms = ms;
}
