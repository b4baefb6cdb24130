/* Dates as customers read them.  The expected strings were worked out
 * apart from wafa: the calendar dates by hand (1 Farvardin 1405 is 21 March
 * 2026, so 29 November 2026 is day 254 of 1405: 8 Azar) and with a table
 * based Umm al-Qura converter (29 November 2026 is 19 Jumada al-Akhirah
 * 1448), the wording from CLDR's patterns (en "MMM d, y, h:mm a" with a
 * narrow no-break space before AM/PM, fa "d MMMM y، H:mm", ar
 * "dd/MM/y" with right-to-left marks and Arabic-Indic digits), and checked
 * against another ICU (Node's Intl, ICU 78). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "mail/datefmt.h"

/* 2026-11-29T12:00:00Z: 15:30 in Tehran, 15:00 in Riyadh, 14:00 in Cairo */
#define NOV29 1795953600000LL
/* 2026-07-01T09:00:00Z: Cairo is on summer time (+03:00) since 2023 */
#define JUL1 1782896400000LL

#define RLM "\u200f"
#define NNBSP "\u202f"

static void expect(int64_t ms, const char *locale, const char *tz, enum wafa_datefmt_style style,
                   const char *want)
{
	char buf[128];

	assert_int_equal(wafa_datefmt_format(ms, locale, tz, style, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void persian_solar_hijri_with_persian_digits(void **state)
{
	(void)state;
	expect(NOV29, "fa-IR", "Asia/Tehran", WAFA_DATE, "۸ آذر ۱۴۰۵");
	expect(NOV29, "fa-IR", "Asia/Tehran", WAFA_DATETIME, "۸ آذر ۱۴۰۵، ۱۵:۳۰");
	/* the digits are Extended Arabic-Indic (U+06F0..), not Arabic-Indic (U+0660..) */
	expect(NOV29, "fa-IR", "Asia/Tehran", WAFA_DATE, "\u06f8 آذر \u06f1\u06f4\u06f0\u06f5");
	/* however the locale is spelled */
	expect(NOV29, "fa_IR", "Asia/Tehran", WAFA_DATE, "۸ آذر ۱۴۰۵");
	expect(NOV29, "FA-ir", "Asia/Tehran", WAFA_DATE, "۸ آذر ۱۴۰۵");
	expect(NOV29, "fa", "Asia/Tehran", WAFA_DATE, "۸ آذر ۱۴۰۵");
	expect(NOV29, "fa_IR.UTF-8", "Asia/Tehran", WAFA_DATE, "۸ آذر ۱۴۰۵");
	/* 21:00Z is 00:30 the next day in Tehran: the zone moves the date */
	expect(NOV29 + 9 * 3600000LL, "fa-IR", "Asia/Tehran", WAFA_DATETIME, "۹ آذر ۱۴۰۵، ۰:۳۰");
	/* a tag that asks for the Gregorian calendar gets it */
	char buf[128];
	assert_int_equal(wafa_datefmt_format(NOV29, "fa-IR-u-ca-gregory", "Asia/Tehran", WAFA_DATE,
	                                     buf, sizeof(buf)),
	                 0);
	assert_non_null(strstr(buf, "۲۰۲۶"));
	assert_null(strstr(buf, "آذر"));
}

static void saudi_umm_al_qura(void **state)
{
	(void)state;
	expect(NOV29, "ar-SA", "Asia/Riyadh", WAFA_DATE, "١٩ جمادى الآخرة ١٤٤٨ هـ");
	expect(NOV29, "ar-SA", "Asia/Riyadh", WAFA_DATETIME, "١٩ جمادى الآخرة ١٤٤٨ هـ، ٣:٠٠ م");
}

static void egyptian_gregorian_arabic_indic_digits(void **state)
{
	(void)state;
	expect(NOV29, "ar-EG", "Africa/Cairo", WAFA_DATE, "٢٩" RLM "/١١" RLM "/٢٠٢٦");
	expect(NOV29, "ar-EG", "Africa/Cairo", WAFA_DATETIME, "٢٩" RLM "/١١" RLM "/٢٠٢٦، ٢:٠٠ م");
	/* a bare "ar" is Gregorian too (ICU 72's CLDR gives it Arabic-Indic digits) */
	expect(NOV29, "ar", NULL, WAFA_DATE, "٢٩" RLM "/١١" RLM "/٢٠٢٦");
}

static void english(void **state)
{
	(void)state;
	expect(NOV29, "en", "UTC", WAFA_DATE, "Nov 29, 2026");
	expect(NOV29, "en", "UTC", WAFA_DATETIME, "Nov 29, 2026, 12:00" NNBSP "PM");
	expect(NOV29, NULL, NULL, WAFA_DATE, "Nov 29, 2026");
	expect(NOV29, "", "", WAFA_DATETIME, "Nov 29, 2026, 12:00" NNBSP "PM");
	expect(NOV29, "en-US", "UTC", WAFA_DATE, "Nov 29, 2026");
	/* something that is not a locale at all is English, not an error */
	expect(NOV29, "../../etc", "UTC", WAFA_DATE, "Nov 29, 2026");
}

static void zones_come_from_the_system_not_icu(void **state)
{
	(void)state;
	/* ICU 72's own data (2022e) says 11:00 here: Egypt's DST came back in 2023 */
	expect(JUL1, "en", "Africa/Cairo", WAFA_DATETIME, "Jul 1, 2026, 12:00" NNBSP "PM");
	expect(JUL1, "ar-EG", "Africa/Cairo", WAFA_DATETIME, "٠١" RLM "/٠٧" RLM "/٢٠٢٦، ١٢:٠٠ م");
	/* and in winter Cairo is +02:00 */
	expect(NOV29, "en", "Africa/Cairo", WAFA_DATETIME, "Nov 29, 2026, 2:00" NNBSP "PM");
	/* negative and quarter-hour offsets */
	expect(NOV29 - 9 * 3600000LL, "en", "America/New_York", WAFA_DATETIME,
	       "Nov 28, 2026, 10:00" NNBSP "PM");
	expect(NOV29, "en", "Asia/Kathmandu", WAFA_DATETIME, "Nov 29, 2026, 5:45" NNBSP "PM");
	/* until 1935 Tehran kept its mean time, +03:25:44: 1930-01-01T00:00:30Z is
	 * 03:26:14 there (03:25:30 if the seconds of the offset were lost) */
	expect(-1262304000000LL + 30000, "en", "Asia/Tehran", WAFA_DATETIME,
	       "Jan 1, 1930, 3:26" NNBSP "AM");
}

static void errors(void **state)
{
	char buf[64];
	size_t need;

	(void)state;
	assert_int_equal(wafa_datefmt_format(NOV29, "en", "Mars/Olympus", WAFA_DATE, buf, sizeof(buf)),
	                 -EINVAL);
	assert_int_equal(wafa_datefmt_format(NOV29, "en", "../../etc/passwd", WAFA_DATE, buf,
	                                     sizeof(buf)),
	                 -EINVAL);
	/* "۸ آذر ۱۴۰۵" is 2 + 1 + 6 + 1 + 8 bytes: 18, and the NUL */
	need = strlen("۸ آذر ۱۴۰۵") + 1;
	assert_int_equal(need, 19);
	assert_int_equal(wafa_datefmt_format(NOV29, "fa-IR", "Asia/Tehran", WAFA_DATE, buf, need), 0);
	assert_string_equal(buf, "۸ آذر ۱۴۰۵");
	assert_int_equal(wafa_datefmt_format(NOV29, "fa-IR", "Asia/Tehran", WAFA_DATE, buf, need - 1),
	                 -ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(wafa_datefmt_format(NOV29, "en", "UTC", WAFA_DATE, buf, 0), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(persian_solar_hijri_with_persian_digits),
		cmocka_unit_test(saudi_umm_al_qura),
		cmocka_unit_test(egyptian_gregorian_arabic_indic_digits),
		cmocka_unit_test(english),
		cmocka_unit_test(zones_come_from_the_system_not_icu),
		cmocka_unit_test(errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
