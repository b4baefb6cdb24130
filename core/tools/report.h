/* The service report (wafa report): from wafa's journal and records, over
 * a period, week by week (weeks counted from the period's start):
 *   - each SLA: instances started, met, breached, compliance against its
 *     goal, and the median and p90 business time to its stop (first
 *     response, resolution), optionally by queue, priority or owner;
 *   - promises made, kept, moved and broken;
 *   - follow-ups and surveys sent, the surveys' response rate, their score
 *     distribution and CSAT (the share of 4 and 5);
 *   - opt-outs, and mails by status.
 * As HTML (one self-contained page with cairo charts as data: URIs, right
 * to left and in the locale's digits and dates for ar and fa), CSV or JSON.
 * It only reads, in one read-only transaction.  An SLA instance counts in
 * the week it started, a promise in the week it was made, a follow-up or
 * survey in the week it was sent (a survey's answer with its survey). */
#ifndef WAFA_REPORT_H
#define WAFA_REPORT_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/config.h"
#include "base/error.h"
#include "lua/rules.h"

enum wafa_report_format { WAFA_REPORT_HTML, WAFA_REPORT_CSV, WAFA_REPORT_JSON };
enum wafa_report_by { WAFA_BY_RULE, WAFA_BY_QUEUE, WAFA_BY_PRIORITY, WAFA_BY_OWNER };

struct wafa_report_opts {
	int64_t from, to; /* ms, [from, to) */
	enum wafa_report_by by;
	enum wafa_report_format format;
	const char *locale; /* NULL or "": en */
};

/* "queue" -> WAFA_BY_QUEUE ...; -1 for a word that is none. */
int wafa_report_by_parse(const char *word);

/* Connects to cfg's database for reading: search_path to wafa's schema, a
 * statement timeout, read-only transactions.  Returns NULL with why. */
PGconn *wafa_report_connect(const struct wafa_config *cfg, char *why, size_t whylen);

/* Builds the report on conn (as from wafa_report_connect) into *out (len
 * bytes, NUL-terminated, free()) and, with text, a plain-text summary for a
 * mail's text part.  rules give the SLAs' goals and calendars (may be NULL:
 * then none).  Returns 0, -ENOMEM, or -EIO with why. */
WAFA_WUR int wafa_report_make(PGconn *conn, const struct wafa_config *cfg,
                              const struct wafa_rules *rules, const struct wafa_report_opts *o,
                              char **out, size_t *len, char **text, char *why, size_t whylen);

/* wafa report: loads the rules, builds the report and writes it to path
 * (NULL or "-": out).  Returns a sysexits code, problems said on err. */
int wafa_report_run(const struct wafa_config *cfg, const struct wafa_report_opts *o,
                    const char *path, FILE *out, FILE *err);

#endif
