/* Prometheus metrics: counters and their text rendering (see metrics.h). */
#include "web/metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const event_names[] = { "warn", "breach", "escalate", "due", "cancelled" };
#define NEVENTS (sizeof(event_names) / sizeof(event_names[0]))

static const struct {
	const char *name, *help;
} mail_names[WAFA_METRIC_MAILS_N] = {
	[WAFA_METRIC_QUEUED] = { "wafa_mails_queued_total",
	                         "Mails written to the outbox (by firings and offers)." },
	[WAFA_METRIC_SENT] = { "wafa_mails_sent_total", "Mails the channel accepted (2xx)." },
	[WAFA_METRIC_FAILED] = { "wafa_mails_failed_total",
	                         "Mails parked as failed (5xx, or cannot be rendered)." },
	[WAFA_METRIC_RETRIED] = { "wafa_mails_retried_total",
	                          "Mail attempts deferred for a retry (4xx, no connection)." },
	[WAFA_METRIC_HELD] = { "wafa_mails_held_total",
	                       "Mails to customers held for later by the contact policy." },
	[WAFA_METRIC_SKIPPED] = { "wafa_mails_skipped_total",
	                          "Mails to customers skipped by the contact policy." },
};

/* upper bounds in ms, and as written in the le label */
static const int64_t bucket_ms[] = { 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
static const char *const bucket_le[] = { "0.01", "0.05", "0.1", "0.25", "0.5",
                                         "1",    "2.5",  "5",   "10" };
#define NBUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

static const char *const action_channels[] = { "webhook", "ticket" };
static const char *const action_outcomes[] = { [WAFA_METRIC_QUEUED] = "queued",
	                                       [WAFA_METRIC_SENT] = "sent",
	                                       [WAFA_METRIC_FAILED] = "failed",
	                                       [WAFA_METRIC_RETRIED] = "retried" };

struct rule_errors {
	char *rule;
	uint64_t n;
};

static struct {
	uint64_t firings[NEVENTS];
	uint64_t mails[WAFA_METRIC_MAILS_N];
	uint64_t actions[2][WAFA_METRIC_RETRIED + 1];
	uint64_t buckets[NBUCKETS]; /* not cumulative: cumulated when rendered */
	uint64_t observed;
	int64_t sum_ms;
	struct rule_errors *errors;
	size_t nerrors, errors_cap;
	void (*read)(void *arg, struct wafa_metrics_gauges *g);
	void *read_arg;
} m;

void wafa_metrics_firing(const char *event)
{
	for (size_t i = 0; i < NEVENTS; i++)
		if (strcmp(event, event_names[i]) == 0)
			m.firings[i]++;
}

void wafa_metrics_mails(enum wafa_metrics_mail what, uint64_t n)
{
	if ((unsigned)what < WAFA_METRIC_MAILS_N)
		m.mails[what] += n;
}

void wafa_metrics_actions(const char *channel, enum wafa_metrics_mail what)
{
	for (size_t c = 0; c < 2; c++)
		if (strcmp(channel, action_channels[c]) == 0 && (unsigned)what <= WAFA_METRIC_RETRIED)
			m.actions[c][what]++;
}

void wafa_metrics_breach_to_queue(int64_t ms)
{
	if (ms < 0)
		ms = 0; /* clocks a millisecond apart */
	for (size_t i = 0; i < NBUCKETS; i++)
		if (ms <= bucket_ms[i]) {
			m.buckets[i]++;
			break;
		}
	m.observed++;
	m.sum_ms += ms;
}

void wafa_metrics_rule_error(const char *rule)
{
	struct rule_errors *e;

	for (size_t i = 0; i < m.nerrors; i++)
		if (strcmp(m.errors[i].rule, rule) == 0) {
			m.errors[i].n++;
			return;
		}
	if (m.nerrors == m.errors_cap) {
		size_t cap = m.errors_cap ? m.errors_cap * 2 : 8;
		e = realloc(m.errors, cap * sizeof(*e));
		if (!e)
			return; /* out of memory: this one is not counted */
		m.errors = e;
		m.errors_cap = cap;
	}
	e = &m.errors[m.nerrors];
	e->rule = strdup(rule);
	if (!e->rule)
		return;
	e->n = 1;
	m.nerrors++;
}

void wafa_metrics_set_gauges(void (*read)(void *arg, struct wafa_metrics_gauges *g), void *arg)
{
	m.read = read;
	m.read_arg = arg;
}

void wafa_metrics_reset(void)
{
	for (size_t i = 0; i < m.nerrors; i++)
		free(m.errors[i].rule);
	free(m.errors);
	memset(&m, 0, sizeof(m));
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

char *wafa_metrics_render(double oldest_s, size_t *len)
{
	struct wafa_metrics_gauges g = { 0, 0, 1 };
	char *text = NULL;
	size_t n = 0;
	uint64_t cum = 0;
	FILE *f = open_memstream(&text, &n);

	if (!f)
		return NULL;
	if (m.read)
		m.read(m.read_arg, &g);
	head(f, "wafa_tickets", "gauge", "Tickets watched (in the ticket index).");
	fprintf(f, "wafa_tickets %llu\n", (unsigned long long)g.tickets);
	head(f, "wafa_deadlines", "gauge", "Deadlines waiting in the heap.");
	fprintf(f, "wafa_deadlines %llu\n", (unsigned long long)g.deadlines);
	head(f, "wafa_firings_total", "counter",
	     "Steps fired and committed to the outbox, by event.");
	for (size_t i = 0; i < NEVENTS; i++)
		fprintf(f, "wafa_firings_total{event=\"%s\"} %llu\n", event_names[i],
		        (unsigned long long)m.firings[i]);
	for (size_t i = 0; i < WAFA_METRIC_MAILS_N; i++) {
		head(f, mail_names[i].name, "counter", mail_names[i].help);
		fprintf(f, "%s %llu\n", mail_names[i].name, (unsigned long long)m.mails[i]);
	}
	head(f, "wafa_actions_total", "counter",
	     "Webhook and ticket-action rows queued, sent, parked as failed or deferred for a "
	     "retry, by channel and outcome.");
	for (size_t c = 0; c < 2; c++)
		for (size_t o = 0; o <= WAFA_METRIC_RETRIED; o++)
			fprintf(f, "wafa_actions_total{channel=\"%s\",outcome=\"%s\"} %llu\n",
			        action_channels[c], action_outcomes[o], (unsigned long long)m.actions[c][o]);
	if (oldest_s >= 0) {
		head(f, "wafa_outbox_oldest_queued_seconds", "gauge",
		     "Age of the oldest queued mail in the outbox (0: none queued).");
		fprintf(f, "wafa_outbox_oldest_queued_seconds %.3f\n", oldest_s);
	}
	head(f, "wafa_breach_to_queue_seconds", "histogram",
	     "From a step's due time to the commit of its mails to the outbox.");
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum += m.buckets[i];
		fprintf(f, "wafa_breach_to_queue_seconds_bucket{le=\"%s\"} %llu\n", bucket_le[i],
		        (unsigned long long)cum);
	}
	fprintf(f, "wafa_breach_to_queue_seconds_bucket{le=\"+Inf\"} %llu\n",
	        (unsigned long long)m.observed);
	fprintf(f, "wafa_breach_to_queue_seconds_sum %lld.%03lld\n", (long long)(m.sum_ms / 1000),
	        (long long)(m.sum_ms % 1000));
	fprintf(f, "wafa_breach_to_queue_seconds_count %llu\n", (unsigned long long)m.observed);
	head(f, "wafa_rule_errors_total", "counter",
	     "Rule errors and budget overruns, by rule.");
	for (size_t i = 0; i < m.nerrors; i++) {
		fputs("wafa_rule_errors_total{rule=\"", f);
		label_value(f, m.errors[i].rule);
		fprintf(f, "\"} %llu\n", (unsigned long long)m.errors[i].n);
	}
	head(f, "wafa_leader", "gauge", "1 when this instance fires and sends; 0 on standby.");
	fprintf(f, "wafa_leader %llu\n", (unsigned long long)g.leader);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	*len = n;
	return text;
}
