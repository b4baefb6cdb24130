#include "time/heap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static int before(const struct wafa_deadline *a, const struct wafa_deadline *b)
{
	return a->at_ms < b->at_ms;
}

static void place(struct wafa_heap *h, size_t i, struct wafa_deadline *d)
{
	h->items[i] = d;
	d->pos = i;
}

static void sift_up(struct wafa_heap *h, size_t i)
{
	struct wafa_deadline *d = h->items[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(d, h->items[parent]))
			break;
		place(h, i, h->items[parent]);
		i = parent;
	}
	place(h, i, d);
}

static void sift_down(struct wafa_heap *h, size_t i)
{
	struct wafa_deadline *d = h->items[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct wafa_deadline *best = d;
		if (l < h->count && before(h->items[l], best))
			m = l, best = h->items[l];
		if (r < h->count && before(h->items[r], best))
			m = r;
		if (m == i)
			break;
		place(h, i, h->items[m]);
		i = m;
	}
	place(h, i, d);
}

void wafa_heap_init(struct wafa_heap *h)
{
	h->items = NULL;
	h->count = h->cap = 0;
}

void wafa_heap_free(struct wafa_heap *h)
{
	free(h->items);
	wafa_heap_init(h);
}

int wafa_heap_push(struct wafa_heap *h, struct wafa_deadline *d)
{
	if (h->count == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 256;
		struct wafa_deadline **items = realloc(h->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		h->items = items;
		h->cap = cap;
	}
	h->items[h->count] = d;
	d->pos = h->count++;
	sift_up(h, d->pos);
	return 0;
}

void wafa_heap_remove(struct wafa_heap *h, struct wafa_deadline *d)
{
	size_t i = d->pos;
	struct wafa_deadline *last;

	if (i >= h->count || h->items[i] != d)
		return;
	d->pos = SIZE_MAX;
	last = h->items[--h->count];
	if (i == h->count)
		return;
	place(h, i, last);
	if (i > 0 && before(last, h->items[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

void wafa_heap_clear(struct wafa_heap *h)
{
	for (size_t i = 0; i < h->count; i++)
		h->items[i]->pos = SIZE_MAX;
	h->count = 0;
}

struct wafa_deadline *wafa_heap_peek(const struct wafa_heap *h)
{
	return h->count ? h->items[0] : NULL;
}

struct wafa_deadline *wafa_heap_pop(struct wafa_heap *h)
{
	struct wafa_deadline *d = wafa_heap_peek(h);

	if (d)
		wafa_heap_remove(h, d);
	return d;
}
