#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/duration.h"

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

static void formats_for_people(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(wafa_duration_format(60000, buf, sizeof(buf)), "1m");
	assert_string_equal(wafa_duration_format(250, buf, sizeof(buf)), "250ms");
	assert_string_equal(wafa_duration_format(5400000, buf, sizeof(buf)), "1h30m");
	assert_string_equal(wafa_duration_format(200 * 86400000LL + 1000, buf, sizeof(buf)), "200d");
	assert_string_equal(wafa_duration_format(86400000LL + 60000, buf, sizeof(buf)), "1d");
	assert_string_equal(wafa_duration_format(0, buf, sizeof(buf)), "0s");
	assert_string_equal(wafa_duration_format(-1500, buf, sizeof(buf)), "-1s500ms");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_units),
		cmocka_unit_test(rejects_bad_input),
		cmocka_unit_test(formats_for_people),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
