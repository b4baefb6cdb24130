/* Charts for the service report, drawn with cairo and their text laid out
 * with Pango (so Arabic and Persian labels are shaped and run right to
 * left), written to PNG in memory.  Nothing here knows SQL or the report's
 * numbers: it draws what it is given.  Safe on any thread (each call has
 * its own surface). */
#ifndef WAFA_CHART_H
#define WAFA_CHART_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct wafa_chart_png {
	unsigned char *data; /* malloc'ed PNG bytes */
	size_t len;
};

/* One line of a line chart: values in percent (NAN where there is none),
 * and a goal drawn as a dashed line of the same colour (goal <= 0: none). */
struct wafa_chart_series {
	const char *label;
	const double *values;
	double goal;
};

/* What every chart shares.  rtl: the first category is on the right and
 * the value axis on the right, as a right-to-left reader expects. */
struct wafa_chart_frame {
	const char *title;
	const char *const *categories; /* n labels along the category axis */
	int n;
	bool rtl;
	const char *const *ticks; /* lines: the labels of 0, 25, 50, 75, 100 (NULL: "0%" ...) */
};

/* A line chart of percentages (0..100 on the value axis) over categories.
 * Returns 0 or -ENOMEM (or -EIO if cairo fails). */
WAFA_WUR int wafa_chart_lines(const struct wafa_chart_frame *f, const struct wafa_chart_series *s,
                              int ns, struct wafa_chart_png *out);

/* A bar chart of counts, one bar per category; each bar's value is printed
 * above it with value_labels[i] (NULL: the plain number). */
WAFA_WUR int wafa_chart_bars(const struct wafa_chart_frame *f, const double *values,
                             const char *const *value_labels, struct wafa_chart_png *out);

void wafa_chart_png_free(struct wafa_chart_png *p);

#endif
