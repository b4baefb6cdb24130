/* store/array.c against the layout of PostgreSQL's array_recv (the server
 * reads these bytes as a query parameter; tests/integration/outbox_values.py
 * sends them to a real server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store/array.h"

static const unsigned char *u(const char *p)
{
	return (const unsigned char *)p;
}

static void empty_array_has_no_dimensions(void **state)
{
	struct wafa_array a;
	int len = -1;
	const unsigned char want[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25 };

	(void)state;
	wafa_array_init(&a, WAFA_OID_TEXT);
	const char *p = wafa_array_finish(&a, &len);
	assert_non_null(p);
	assert_int_equal(len, 12);
	assert_memory_equal(u(p), want, sizeof(want));
	wafa_array_free(&a);
}

static void int8_elements_are_big_endian_with_sign(void **state)
{
	struct wafa_array a;
	int len = -1;
	const unsigned char want[] = {
		0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 1, /* header */
		0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,  /* -2 */
		0, 0, 0, 8, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,  /* 0x010203040506 */
	};

	(void)state;
	wafa_array_init(&a, WAFA_OID_INT8);
	wafa_array_int8(&a, -2);
	wafa_array_int8(&a, 0x010203040506LL);
	const char *p = wafa_array_finish(&a, &len);
	assert_non_null(p);
	assert_int_equal(len, (int)sizeof(want));
	assert_memory_equal(u(p), want, sizeof(want));
	wafa_array_free(&a);
}

static void text_keeps_its_bytes_and_null_is_flagged(void **state)
{
	struct wafa_array a;
	int len = -1;
	const char *s = "a\"b\\{,}";
	const unsigned char head[] = { 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 25, 0, 0, 0, 3, 0, 0, 0, 1 };

	(void)state;
	wafa_array_init(&a, WAFA_OID_TEXT);
	wafa_array_text(&a, s);
	wafa_array_text(&a, NULL);
	wafa_array_text(&a, "");
	const char *p = wafa_array_finish(&a, &len);
	assert_non_null(p);
	assert_int_equal(len, 20 + 4 + 7 + 4 + 4);
	assert_memory_equal(u(p), head, sizeof(head));
	/* as written, nothing escaped */
	assert_memory_equal(u(p + 20), ((const unsigned char[]){ 0, 0, 0, 7 }), 4);
	assert_memory_equal(p + 24, s, 7);
	assert_memory_equal(u(p + 31), ((const unsigned char[]){ 0xff, 0xff, 0xff, 0xff }), 4);
	assert_memory_equal(u(p + 35), ((const unsigned char[]){ 0, 0, 0, 0 }), 4);
	wafa_array_free(&a);
}

static void grows_past_its_first_block(void **state)
{
	struct wafa_array a;
	int len = -1;
	char big[3000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wafa_array_init(&a, WAFA_OID_TEXT);
	for (int i = 0; i < 10; i++)
		wafa_array_text(&a, big);
	wafa_array_bool(&a, true);
	const char *p = wafa_array_finish(&a, &len);
	assert_non_null(p);
	assert_int_equal(len, 20 + 10 * (4 + 2999) + 4 + 1);
	assert_memory_equal(u(p + 12), ((const unsigned char[]){ 0, 0, 0, 11 }), 4);
	assert_int_equal(p[len - 1], 1);
	assert_int_equal(p[20 + 9 * 3003 + 4 + 2998], 'x');
	wafa_array_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_array_has_no_dimensions),
		cmocka_unit_test(int8_elements_are_big_endian_with_sign),
		cmocka_unit_test(text_keeps_its_bytes_and_null_is_flagged),
		cmocka_unit_test(grows_past_its_first_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
