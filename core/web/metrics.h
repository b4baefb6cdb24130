/* Prometheus metrics: plain counters kept on the loop thread (nothing here
 * is called from a worker), and their rendering in the text exposition
 * format (version 0.0.4) for the web listener's GET .../metrics.  The
 * counters live for the process: a reload of the rules keeps them. */
#ifndef WAFA_METRICS_H
#define WAFA_METRICS_H

#include <stddef.h>
#include <stdint.h>


#define WAFA_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What the mailer did with a mail, for wafa_mails_<what>_total. */
enum wafa_metrics_mail {
	WAFA_METRIC_QUEUED, WAFA_METRIC_SENT, WAFA_METRIC_FAILED, WAFA_METRIC_RETRIED,
	WAFA_METRIC_HELD, WAFA_METRIC_SKIPPED, WAFA_METRIC_MAILS_N
};

/* The gauges read from the daemon when the page is rendered. */
struct wafa_metrics_gauges {
	uint64_t tickets;   /* in the ticket index */
	uint64_t deadlines; /* in the deadline heap */
	uint64_t leader;    /* 1: this instance fires and sends; 0: standby */
};

/* Counts one firing of event committed to the outbox (the event's name as
 * in the journal: "warn", "breach", "escalate", "due", "cancelled"; others
 * are ignored). */
void wafa_metrics_firing(const char *event);
/* Adds n to a mail counter. */
void wafa_metrics_mails(enum wafa_metrics_mail what, uint64_t n);
/* Counts one webhook or ticket-action row ("webhook", "ticket") queued,
 * sent, failed or retried, for wafa_actions_total{channel,outcome}. */
void wafa_metrics_actions(const char *channel, enum wafa_metrics_mail what);
/* Observes a step's due-to-commit delay, in milliseconds, in
 * wafa_breach_to_queue_seconds. */
void wafa_metrics_breach_to_queue(int64_t ms);
/* Counts an error (or a budget overrun) of the rule named rule. */
void wafa_metrics_rule_error(const char *rule);
/* Sets the function that reads the gauges (NULL: reported as 0). */
void wafa_metrics_set_gauges(void (*read)(void *arg, struct wafa_metrics_gauges *g), void *arg);

/* The page: every metric in the text format.  oldest_s is the age of the
 * oldest queued mail in seconds, 0 with none queued, negative when it is not
 * known (the gauge is left out).  Returns a malloc'ed text (*len its length)
 * the caller frees, or NULL out of memory. */
char *wafa_metrics_render(double oldest_s, size_t *len);

/* Forgets everything, the gauge function too (at the daemon's exit). */
void wafa_metrics_reset(void);

#endif
