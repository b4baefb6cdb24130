/* The contact policy on virtual time: quiet hours across the customer's
 * midnight in their own zone, the caps, opt-outs, no offer while a ticket is
 * open or soon after a breach; and nothing held without a [contact] section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "mail/contact.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };

	return (int64_t)timegm(&tm) * 1000;
}

/* A config as wafa.conf without a [contact] section gives it. */
static void defaults(struct wafa_config *cfg)
{
	static char utc_tz[] = "UTC";

	memset(cfg, 0, sizeof(*cfg));
	cfg->quiet_hours.from_min = cfg->quiet_hours.to_min = -1;
	cfg->offer_while_open = 1;
	cfg->default_tz = utc_tz;
}

static const struct wafa_contact_facts none = { .last_breach_ms = INT64_MIN };

static void nothing_held_without_a_contact_section(void **state)
{
	struct wafa_config cfg;
	struct wafa_contact_facts f = none;
	int64_t until;
	char why[200];

	(void)state;
	defaults(&cfg);
	f.mails_recent = 50;
	f.offers_recent = 50;
	f.open_tickets = 3;
	f.last_breach_ms = utc(2026, 11, 29, 2, 0);
	assert_int_equal(wafa_contact_decide(&cfg, &f, true, "Asia/Tehran", utc(2026, 11, 29, 3, 0),
	                                     &until, why, sizeof(why)),
	                 WAFA_CONTACT_SEND);
	/* opt-outs apply always */
	f.opted_out = true;
	assert_int_equal(wafa_contact_decide(&cfg, &f, false, NULL, utc(2026, 11, 29, 3, 0), &until,
	                                     why, sizeof(why)),
	                 WAFA_CONTACT_SKIP);
	assert_string_equal(why, "opted out");
}

static void quiet_hours_across_the_customers_midnight(void **state)
{
	struct wafa_config cfg;
	int64_t until;
	char why[200];

	(void)state;
	defaults(&cfg);
	cfg.quiet_hours.from_min = 21 * 60;
	cfg.quiet_hours.to_min = 8 * 60;
	/* Tehran is +03:30: 2026-11-29 19:00Z is 22:30 there: held to 08:00
	 * local on the 30th = 04:30Z */
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, "Asia/Tehran",
	                                     utc(2026, 11, 29, 19, 0), &until, why, sizeof(why)),
	                 WAFA_CONTACT_HOLD);
	assert_int_equal(until, utc(2026, 11, 30, 4, 30));
	assert_non_null(strstr(why, "quiet hours (21:00-08:00 Asia/Tehran) until 2026-11-30T04:30:00Z"));
	/* after midnight there (01:30 local = 22:00Z the day before): the same morning */
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, "Asia/Tehran",
	                                     utc(2026, 11, 29, 22, 0), &until, why, sizeof(why)),
	                 WAFA_CONTACT_HOLD);
	assert_int_equal(until, utc(2026, 11, 30, 4, 30));
	/* the same instant is 14:00 in New York: sent */
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, "America/New_York",
	                                     utc(2026, 11, 29, 19, 0), &until, why, sizeof(why)),
	                 WAFA_CONTACT_SEND);
	/* 08:00 sharp is no longer quiet; 07:59 is */
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, "Asia/Tehran",
	                                     utc(2026, 11, 30, 4, 30), &until, why, sizeof(why)),
	                 WAFA_CONTACT_SEND);
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, "Asia/Tehran",
	                                     utc(2026, 11, 30, 4, 29), &until, why, sizeof(why)),
	                 WAFA_CONTACT_HOLD);
	/* a customer without a zone: [contact] default_tz (UTC here) */
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, NULL, utc(2026, 11, 29, 23, 0),
	                                     &until, why, sizeof(why)),
	                 WAFA_CONTACT_HOLD);
	assert_int_equal(until, utc(2026, 11, 30, 8, 0));
	/* Cairo in summer (+03:00 since Egypt's DST is back): 20:30Z is 23:30 */
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, "Africa/Cairo",
	                                     utc(2026, 7, 1, 20, 30), &until, why, sizeof(why)),
	                 WAFA_CONTACT_HOLD);
	assert_int_equal(until, utc(2026, 7, 2, 5, 0));
	/* a span within one day */
	cfg.quiet_hours.from_min = 12 * 60;
	cfg.quiet_hours.to_min = 13 * 60;
	assert_int_equal(wafa_contact_decide(&cfg, &none, false, "UTC", utc(2026, 11, 29, 12, 30),
	                                     &until, why, sizeof(why)),
	                 WAFA_CONTACT_HOLD);
	assert_int_equal(until, utc(2026, 11, 29, 13, 0));
}

static void caps_and_offers(void **state)
{
	struct wafa_config cfg;
	struct wafa_contact_facts f = none;
	int64_t until, now = utc(2026, 11, 29, 12, 0);
	char why[200];

	(void)state;
	defaults(&cfg);
	cfg.customer_mails.n = 3;
	cfg.customer_mails.per_ms = 7 * 86400000LL;
	cfg.offers.n = 1;
	cfg.offers.per_ms = 30 * 86400000LL;
	cfg.offer_while_open = 0;
	cfg.offer_after_breach_ms = 14 * 86400000LL;

	f.mails_recent = 2;
	assert_int_equal(wafa_contact_decide(&cfg, &f, false, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SEND);
	f.mails_recent = 3;
	assert_int_equal(wafa_contact_decide(&cfg, &f, false, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SKIP);
	assert_non_null(strstr(why, "customer_mails cap"));
	f.mails_recent = 0;
	f.offers_recent = 1;
	assert_int_equal(wafa_contact_decide(&cfg, &f, true, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SKIP);
	assert_non_null(strstr(why, "offers cap"));
	/* the offers cap does not stop a survey */
	assert_int_equal(wafa_contact_decide(&cfg, &f, false, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SEND);
	f.offers_recent = 0;
	f.open_tickets = 1;
	assert_int_equal(wafa_contact_decide(&cfg, &f, true, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SKIP);
	assert_non_null(strstr(why, "no offer while a ticket is open"));
	/* an open ticket does not stop a follow-up on it */
	assert_int_equal(wafa_contact_decide(&cfg, &f, false, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SEND);
	f.open_tickets = 0;
	f.last_breach_ms = now - 13 * 86400000LL;
	assert_int_equal(wafa_contact_decide(&cfg, &f, true, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SKIP);
	assert_non_null(strstr(why, "breached SLA"));
	f.last_breach_ms = now - 15 * 86400000LL;
	assert_int_equal(wafa_contact_decide(&cfg, &f, true, "UTC", now, &until, why, sizeof(why)),
	                 WAFA_CONTACT_SEND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_held_without_a_contact_section),
		cmocka_unit_test(quiet_hours_across_the_customers_midnight),
		cmocka_unit_test(caps_and_offers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
