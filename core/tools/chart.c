#include "tools/chart.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 640
#define HEIGHT 300
#define FONT "Noto Sans, DejaVu Sans"

/* colours of the series, then of the bars */
static const double palette[][3] = {
	{ 0.12, 0.47, 0.71 }, { 0.85, 0.37, 0.01 }, { 0.17, 0.63, 0.17 },
	{ 0.58, 0.40, 0.74 }, { 0.55, 0.34, 0.29 }, { 0.89, 0.47, 0.76 },
};
#define NPALETTE ((int)(sizeof(palette) / sizeof(palette[0])))

struct plot {
	cairo_surface_t *surface;
	cairo_t *cr;
	PangoFontMap *fontmap; /* its own: freed whole with the chart */
	PangoContext *context;
	PangoLayout *layout;
	bool rtl;
	double left, right, top, bottom; /* the plotting area */
};

enum anchor { START, CENTER, END };

/* Draws text with its anchor at x (START: text begins at x) and its top at y. */
static void text(struct plot *p, const char *s, double x, double y, enum anchor a, int size,
                 bool bold)
{
	PangoFontDescription *fd = pango_font_description_from_string(FONT);
	int w, h;

	pango_font_description_set_absolute_size(fd, size * PANGO_SCALE);
	pango_font_description_set_weight(fd, bold ? PANGO_WEIGHT_BOLD : PANGO_WEIGHT_NORMAL);
	pango_layout_set_font_description(p->layout, fd);
	pango_font_description_free(fd);
	pango_layout_set_text(p->layout, s ? s : "", -1);
	pango_layout_get_pixel_size(p->layout, &w, &h);
	(void)h;
	double at = a == START ? x : a == CENTER ? x - w / 2.0 : x - w;
	cairo_move_to(p->cr, at, y);
	pango_cairo_show_layout(p->cr, p->layout);
}

static int begin(struct plot *p, const struct wafa_chart_frame *f)
{
	memset(p, 0, sizeof(*p));
	p->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, WIDTH, HEIGHT);
	if (cairo_surface_status(p->surface) != CAIRO_STATUS_SUCCESS)
		return -ENOMEM;
	p->cr = cairo_create(p->surface);
	if (cairo_status(p->cr) != CAIRO_STATUS_SUCCESS)
		return -ENOMEM;
	p->fontmap = pango_cairo_font_map_new();
	if (!p->fontmap || !(p->context = pango_font_map_create_context(p->fontmap)))
		return -ENOMEM;
	pango_cairo_update_context(p->cr, p->context);
	if (!(p->layout = pango_layout_new(p->context)))
		return -ENOMEM;
	p->rtl = f->rtl;
	p->left = f->rtl ? 24 : 56;
	p->right = WIDTH - (f->rtl ? 56 : 24);
	p->top = 44;
	p->bottom = HEIGHT - 40;
	cairo_set_source_rgb(p->cr, 1, 1, 1);
	cairo_paint(p->cr);
	cairo_set_source_rgb(p->cr, 0.13, 0.13, 0.13);
	text(p, f->title, f->rtl ? WIDTH - 16 : 16, 10, f->rtl ? END : START, 15, true);
	return 0;
}

/* The x of category i's centre. */
static double cat_x(const struct plot *p, int i, int n)
{
	double w = (p->right - p->left) / (n > 0 ? n : 1);
	double x = p->left + w * (i + 0.5);
	return p->rtl ? p->left + p->right - x : x;
}

static void categories(struct plot *p, const struct wafa_chart_frame *f)
{
	cairo_set_source_rgb(p->cr, 0.3, 0.3, 0.3);
	for (int i = 0; i < f->n; i++)
		text(p, f->categories[i], cat_x(p, i, f->n), p->bottom + 8, CENTER, 11, false);
	cairo_set_line_width(p->cr, 1);
	cairo_move_to(p->cr, p->left, p->bottom + 0.5);
	cairo_line_to(p->cr, p->right, p->bottom + 0.5);
	cairo_stroke(p->cr);
}

static cairo_status_t to_memory(void *closure, const unsigned char *data, unsigned int len)
{
	struct wafa_chart_png *out = closure;
	unsigned char *grown = realloc(out->data, out->len + len);

	if (!grown)
		return CAIRO_STATUS_NO_MEMORY;
	memcpy(grown + out->len, data, len);
	out->data = grown;
	out->len += len;
	return CAIRO_STATUS_SUCCESS;
}

static int finish(struct plot *p, struct wafa_chart_png *out, int err)
{
	if (!err) {
		cairo_surface_flush(p->surface);
		out->data = NULL;
		out->len = 0;
		cairo_status_t st = cairo_surface_write_to_png_stream(p->surface, to_memory, out);
		if (st != CAIRO_STATUS_SUCCESS) {
			wafa_chart_png_free(out);
			err = st == CAIRO_STATUS_NO_MEMORY ? -ENOMEM : -EIO;
		}
	}
	if (p->layout)
		g_object_unref(p->layout);
	if (p->context)
		g_object_unref(p->context);
	if (p->fontmap)
		g_object_unref(p->fontmap);
	if (p->cr)
		cairo_destroy(p->cr);
	if (p->surface)
		cairo_surface_destroy(p->surface);
	return err;
}

int wafa_chart_lines(const struct wafa_chart_frame *f, const struct wafa_chart_series *s, int ns,
                     struct wafa_chart_png *out)
{
	static const char *const plain[] = { "0%", "25%", "50%", "75%", "100%" };
	const char *const *ticks = f->ticks ? f->ticks : plain;
	struct plot p;
	int err = begin(&p, f);

	if (err)
		return finish(&p, out, err);
	p.top += 16; /* room for the legend under the title */
	double h = p.bottom - p.top;
	/* grid and value axis: 0, 25, 50, 75, 100 */
	cairo_set_line_width(p.cr, 1);
	for (int k = 0; k <= 4; k++) {
		double y = floor(p.bottom - h * k / 4.0) + 0.5;
		cairo_set_source_rgb(p.cr, 0.88, 0.88, 0.88);
		cairo_move_to(p.cr, p.left, y);
		cairo_line_to(p.cr, p.right, y);
		cairo_stroke(p.cr);
		cairo_set_source_rgb(p.cr, 0.3, 0.3, 0.3);
		text(&p, ticks[k], p.rtl ? p.right + 6 : p.left - 6, y - 8, p.rtl ? START : END, 11,
		     false);
	}
	categories(&p, f);
	for (int j = 0; j < ns; j++) {
		const double *c = palette[j % NPALETTE];
		cairo_set_source_rgb(p.cr, c[0], c[1], c[2]);
		if (s[j].goal > 0) {
			static const double dash[] = { 6, 4 };
			double y = p.bottom - h * s[j].goal / 100.0;
			cairo_set_dash(p.cr, dash, 2, 0);
			cairo_set_line_width(p.cr, 1.5);
			cairo_move_to(p.cr, p.left, y);
			cairo_line_to(p.cr, p.right, y);
			cairo_stroke(p.cr);
			cairo_set_dash(p.cr, NULL, 0, 0);
		}
		/* the line, broken where a week has no value */
		cairo_set_line_width(p.cr, 2.5);
		bool drawing = false;
		for (int i = 0; i < f->n; i++) {
			double v = s[j].values[i];
			if (isnan(v)) {
				drawing = false;
				continue;
			}
			double x = cat_x(&p, i, f->n), y = p.bottom - h * v / 100.0;
			if (drawing)
				cairo_line_to(p.cr, x, y);
			else
				cairo_move_to(p.cr, x, y);
			drawing = true;
		}
		cairo_stroke(p.cr);
		for (int i = 0; i < f->n; i++) {
			double v = s[j].values[i];
			if (isnan(v))
				continue;
			cairo_arc(p.cr, cat_x(&p, i, f->n), p.bottom - h * v / 100.0, 4, 0, 2 * M_PI);
			cairo_fill(p.cr);
		}
		/* the legend: a swatch and the label, along the top */
		double lx = p.rtl ? p.right - 150.0 * j : p.left + 150.0 * j;
		cairo_rectangle(p.cr, p.rtl ? lx - 12 : lx, 44, 12, 4);
		cairo_fill(p.cr);
		cairo_set_source_rgb(p.cr, 0.2, 0.2, 0.2);
		text(&p, s[j].label, p.rtl ? lx - 16 : lx + 16, 37, p.rtl ? END : START, 11, false);
	}
	return finish(&p, out, 0);
}

int wafa_chart_bars(const struct wafa_chart_frame *f, const double *values,
                    const char *const *value_labels, struct wafa_chart_png *out)
{
	struct plot p;
	double max = 0;
	int err = begin(&p, f);

	if (err)
		return finish(&p, out, err);
	p.top += 16; /* room for the value above the tallest bar */
	for (int i = 0; i < f->n; i++)
		if (values[i] > max)
			max = values[i];
	double h = p.bottom - p.top, w = (p.right - p.left) / (f->n > 0 ? f->n : 1);
	double bw = w * 0.6 > 60 ? 60 : w * 0.6;
	for (int i = 0; i < f->n; i++) {
		const double *c = palette[i % NPALETTE];
		double bh = max > 0 ? h * values[i] / max : 0, x = cat_x(&p, i, f->n);
		char num[32];
		cairo_set_source_rgb(p.cr, c[0], c[1], c[2]);
		cairo_rectangle(p.cr, x - bw / 2, p.bottom - bh, bw, bh);
		cairo_fill(p.cr);
		snprintf(num, sizeof(num), "%g", values[i]);
		cairo_set_source_rgb(p.cr, 0.13, 0.13, 0.13);
		text(&p, value_labels && value_labels[i] ? value_labels[i] : num, x, p.bottom - bh - 17,
		     CENTER, 12, true);
	}
	categories(&p, f);
	return finish(&p, out, 0);
}

void wafa_chart_png_free(struct wafa_chart_png *p)
{
	free(p->data);
	p->data = NULL;
	p->len = 0;
}

#ifdef __SANITIZE_ADDRESS__
/* fontconfig keeps its caches for the life of the process where
 * LeakSanitizer cannot see them (Pango starts it on a thread of its own), and
 * FcFini() races that thread: in a sanitizer build they are not leaks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}
#endif
