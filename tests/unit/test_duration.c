#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "duration.h"

static void parses_units(void **state)
{
	int64_t ms;
	const char *why;

	(void)state;
	assert_int_equal(wafa_duration_parse("100ms", &ms, &why), 0);
	assert_int_equal(ms, 100);
	assert_int_equal(wafa_duration_parse("90s", &ms, &why), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(wafa_duration_parse("15m", &ms, &why), 0);
	assert_int_equal(ms, 900000);
	assert_int_equal(wafa_duration_parse("4h", &ms, &why), 0);
	assert_int_equal(ms, 4 * 3600000);
	assert_int_equal(wafa_duration_parse(" 2d ", &ms, &why), 0);
	assert_int_equal(ms, 2 * 86400000LL);
}

static void rejects_bad_input(void **state)
{
	int64_t ms = 7;
	const char *why = NULL;

	(void)state;
	assert_int_not_equal(wafa_duration_parse("4x", &ms, &why), 0);
	assert_non_null(strstr(why, "unit"));
	assert_int_not_equal(wafa_duration_parse("4", &ms, &why), 0);
	assert_non_null(strstr(why, "unit"));
	assert_int_not_equal(wafa_duration_parse("h", &ms, &why), 0);
	assert_int_not_equal(wafa_duration_parse("-4h", &ms, &why), 0);
	assert_int_not_equal(wafa_duration_parse("4h 3m", &ms, &why), 0);
	assert_int_not_equal(wafa_duration_parse("99999999999999999999d", &ms, &why), 0);
	assert_int_equal(ms, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_units),
		cmocka_unit_test(rejects_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
