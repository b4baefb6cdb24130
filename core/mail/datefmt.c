/* Dates as a customer reads them, through ICU.  ICU gets the locale with an
 * explicit calendar keyword (persian for Persian, islamic-umalqura for
 * Saudi Arabic, gregorian for other Arabic) and a fixed-offset zone
 * ("GMT+03:00") worked out by zone.c from the system's tz database: ICU's
 * own zone data on Debian 12 (2022e) has Cairo an hour off in summer since
 * 2023, so ICU is never given a zone name. */
#include "mail/datefmt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/udat.h>
#include <unicode/uloc.h>
#include <unicode/ustring.h>

#include "time/zone.h"

#define LOCALE_MAX 64

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/* The ICU locale ID for a customer's locale ("fa-IR", "fa_IR", "FA-ir",
 * "ar_EG.UTF-8"), with the calendar keyword set unless the tag names one
 * ("fa-IR-u-ca-gregory").  Anything ICU cannot read as a BCP 47 tag is
 * "en". */
static void icu_locale(const char *locale, char *id, size_t idlen)
{
	char tag[LOCALE_MAX + 1], lang[16] = "", country[8] = "", cal[32] = "";
	UErrorCode st = U_ZERO_ERROR;
	int32_t parsed = 0;
	size_t n;

	snprintf(id, idlen, "en");
	if (!locale || !*locale || strlen(locale) > LOCALE_MAX)
		return;
	n = strcspn(locale, ".@"); /* POSIX "ar_EG.UTF-8", "sr_RS@latin" */
	memcpy(tag, locale, n);
	tag[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		char c = tag[i];
		if (c == '_')
			tag[i] = '-';
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		           c == '-'))
			return;
	}
	uloc_forLanguageTag(tag, id, (int32_t)idlen, &parsed, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING || parsed != (int32_t)n || !*id) {
		snprintf(id, idlen, "en");
		return;
	}
	st = U_ZERO_ERROR;
	uloc_getLanguage(id, lang, sizeof(lang), &st);
	st = U_ZERO_ERROR;
	uloc_getCountry(id, country, sizeof(country), &st);
	st = U_ZERO_ERROR;
	uloc_getKeywordValue(id, "calendar", cal, sizeof(cal), &st);
	if (U_SUCCESS(st) && *cal)
		return;
	const char *want = NULL;
	if (strcmp(lang, "fa") == 0)
		want = "persian";
	else if (strcmp(lang, "ar") == 0)
		want = strcmp(country, "SA") == 0 ? "islamic-umalqura" : "gregorian";
	if (want) {
		st = U_ZERO_ERROR;
		uloc_setKeywordValue("calendar", want, id, (int32_t)idlen, &st);
		if (U_FAILURE(st))
			snprintf(id, idlen, "en");
	}
}

/* "GMT+03:30" for the offset of instant ms in zone tz, from zone.c. */
static int zone_id(int64_t ms, const char *tz, UChar *out, int32_t outlen)
{
	struct wafa_local l;
	char buf[32];
	int64_t off = 0;
	int err;

	if (tz && *tz) {
		err = wafa_zone_split(ms, tz, &l);
		if (err)
			return err;
		int64_t local = wafa_zone_days_from_civil(l.year, l.month, l.day) * 86400 +
		                (int64_t)l.hour * 3600 + (int64_t)l.minute * 60 + l.second;
		off = local - floor_div(ms, 1000);
	}
	if (off == 0) {
		snprintf(buf, sizeof(buf), "GMT");
	} else {
		int64_t a = off < 0 ? -off : off;
		int h = (int)(a / 3600), m = (int)(a / 60 % 60), s = (int)(a % 60);
		if (s)
			snprintf(buf, sizeof(buf), "GMT%c%02d:%02d:%02d", off < 0 ? '-' : '+', h, m, s);
		else
			snprintf(buf, sizeof(buf), "GMT%c%02d:%02d", off < 0 ? '-' : '+', h, m);
	}
	u_uastrncpy(out, buf, outlen);
	return 0;
}

static int icu_err(UErrorCode st)
{
	return st == U_MEMORY_ALLOCATION_ERROR ? -ENOMEM : -EINVAL;
}

int wafa_datefmt_format(int64_t ms, const char *locale, const char *tz,
                        enum wafa_datefmt_style style, char *buf, size_t len)
{
	char id[ULOC_FULLNAME_CAPACITY];
	UChar zone[32], stack[128], *text = stack;
	UDateFormat *fmt = NULL;
	UErrorCode st = U_ZERO_ERROR;
	int32_t n, written = 0;
	int err;

	if (len == 0)
		return -ENOSPC;
	buf[0] = '\0';
	err = zone_id(ms, tz, zone, (int32_t)(sizeof(zone) / sizeof(zone[0])));
	if (err)
		goto out;
	icu_locale(locale, id, sizeof(id));
	fmt = udat_open(style == WAFA_DATETIME ? UDAT_SHORT : UDAT_NONE, UDAT_MEDIUM, id, zone, -1,
	                NULL, 0, &st);
	if (U_FAILURE(st)) {
		err = icu_err(st);
		goto out;
	}
	n = udat_format(fmt, (UDate)ms, stack, (int32_t)(sizeof(stack) / sizeof(stack[0])), NULL, &st);
	if (st == U_BUFFER_OVERFLOW_ERROR) {
		text = malloc(((size_t)n + 1) * sizeof(*text));
		if (!text) {
			err = -ENOMEM;
			goto out;
		}
		st = U_ZERO_ERROR;
		n = udat_format(fmt, (UDate)ms, text, n + 1, NULL, &st);
	}
	if (U_FAILURE(st)) {
		err = icu_err(st);
		goto out;
	}
	st = U_ZERO_ERROR;
	u_strToUTF8(buf, (int32_t)(len > INT32_MAX ? INT32_MAX : len), &written, text, n, &st);
	if (st == U_BUFFER_OVERFLOW_ERROR || st == U_STRING_NOT_TERMINATED_WARNING) {
		buf[0] = '\0';
		err = -ENOSPC;
	} else if (U_FAILURE(st)) {
		buf[0] = '\0';
		err = icu_err(st);
	}
out:
	if (text != stack)
		free(text);
	if (fmt)
		udat_close(fmt);
	return err;
}
