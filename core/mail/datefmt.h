/* Dates and times as a customer reads them, through ICU: fa-IR in the Solar
 * Hijri calendar with Persian digits, ar-SA in the Hijri (Umm al-Qura)
 * calendar, ar-EG Gregorian with Arabic-Indic digits, en as expected; in
 * the customer's time zone.  The zone's offset comes from zone.c (the
 * system's tz database), not ICU's own copy (2022e on Debian 12, which has
 * Cairo wrong since 2023).  Safe on any thread. */
#ifndef WAFA_DATEFMT_H
#define WAFA_DATEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum wafa_datefmt_style {
	WAFA_DATE,     /* medium date: "Nov 29, 2026", "۸ آذر ۱۴۰۵" (Persian digits) */
	WAFA_DATETIME, /* medium date and short time */
};

/* Formats the instant ms for locale (NULL or "": en) in zone tz (NULL or "":
 * UTC) into buf (UTF-8, NUL-terminated).  Returns 0, -EINVAL (unknown zone),
 * -ENOSPC (buf too small) or -ENOMEM. */
WAFA_WUR int wafa_datefmt_format(int64_t ms, const char *locale, const char *tz,
                                 enum wafa_datefmt_style style, char *buf, size_t len);

#endif
