#include "mail/contact.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "time/clock.h"
#include "time/zone.h"

static void iso(int64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)wafa_ms_to_s(ms);
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void span_text(const struct wafa_span *sp, char *buf, size_t len)
{
	snprintf(buf, len, "%02d:%02d-%02d:%02d", (int)(sp->from_min / 60), (int)(sp->from_min % 60),
	         (int)(sp->to_min / 60), (int)(sp->to_min % 60));
}

/* The end of the quiet hours that now falls in, or WAFA_NO_TIME if it is
 * not quiet now in zone tz. */
static int64_t quiet_until(const struct wafa_span *sp, const char *tz, int64_t now)
{
	struct wafa_local lt;
	int64_t until;
	int minute;
	bool quiet;

	if (sp->from_min < 0 || wafa_zone_split(now, tz, &lt) != 0)
		return WAFA_NO_TIME;
	minute = lt.hour * 60 + lt.minute;
	if (sp->from_min < sp->to_min)
		quiet = minute >= sp->from_min && minute < sp->to_min;
	else /* past midnight: 21:00-08:00 */
		quiet = minute >= sp->from_min || minute < sp->to_min;
	if (!quiet)
		return WAFA_NO_TIME;
	/* the end is today, or tomorrow when the span ends after midnight and it is evening */
	if (sp->from_min > sp->to_min && minute >= sp->from_min)
		lt.day += 1;
	lt.hour = (int)(sp->to_min / 60);
	lt.minute = (int)(sp->to_min % 60);
	lt.second = 0;
	if (wafa_zone_join(&lt, tz, &until) != 0 || until <= now)
		return WAFA_NO_TIME;
	return until;
}

enum wafa_contact_verdict wafa_contact_decide(const struct wafa_config *cfg,
                                              const struct wafa_contact_facts *f, bool offer,
                                              const char *tz, int64_t now, int64_t *until,
                                              char *why, size_t whylen)
{
	char when[32], span[16];
	int64_t end;

	*until = WAFA_NO_TIME;
	if (!tz || !*tz || !wafa_zone_valid(tz))
		tz = cfg->default_tz;
	if (f->opted_out) {
		snprintf(why, whylen, "opted out");
		return WAFA_CONTACT_SKIP;
	}
	if (offer && !cfg->offer_while_open && f->open_tickets > 0) {
		snprintf(why, whylen, "no offer while a ticket is open (%lld open)",
		         (long long)f->open_tickets);
		return WAFA_CONTACT_SKIP;
	}
	if (offer && cfg->offer_after_breach_ms > 0 && f->last_breach_ms != WAFA_NO_TIME &&
	    now - f->last_breach_ms < cfg->offer_after_breach_ms) {
		iso(f->last_breach_ms, when, sizeof(when));
		snprintf(why, whylen, "no offer so soon after a breached SLA (%s)", when);
		return WAFA_CONTACT_SKIP;
	}
	if (offer && cfg->offers.n > 0 && f->offers_recent >= cfg->offers.n) {
		snprintf(why, whylen, "[contact] offers cap reached (%lld sent in the window)",
		         (long long)f->offers_recent);
		return WAFA_CONTACT_SKIP;
	}
	if (cfg->customer_mails.n > 0 && f->mails_recent >= cfg->customer_mails.n) {
		snprintf(why, whylen, "[contact] customer_mails cap reached (%lld sent in the window)",
		         (long long)f->mails_recent);
		return WAFA_CONTACT_SKIP;
	}
	end = quiet_until(&cfg->quiet_hours, tz, now);
	if (end != WAFA_NO_TIME) {
		iso(end, when, sizeof(when));
		span_text(&cfg->quiet_hours, span, sizeof(span));
		snprintf(why, whylen, "quiet hours (%s %s) until %s", span, tz, when);
		*until = end;
		return WAFA_CONTACT_HOLD;
	}
	return WAFA_CONTACT_SEND;
}
