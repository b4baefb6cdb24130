/* The deadline heap: a binary min-heap of deadlines, one per (ticket, rule,
 * phase), ordered by time.  Each deadline knows its position, so removing
 * one (when its ticket changes) is O(log n). */
#ifndef WAFA_HEAP_H
#define WAFA_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct wafa_ticket;

struct wafa_deadline {
	int64_t at_ms;            /* when it is due */
	size_t pos;               /* index in the heap; SIZE_MAX when not in it */
	struct wafa_ticket *ticket;
	int rule;
	int phase;
	int64_t instance;         /* start timestamp (s): a new start is a new instance */
};

struct wafa_heap {
	struct wafa_deadline **items;
	size_t count, cap;
};

void wafa_heap_init(struct wafa_heap *h);
void wafa_heap_free(struct wafa_heap *h); /* frees the array, not the deadlines */
WAFA_WUR int wafa_heap_push(struct wafa_heap *h, struct wafa_deadline *d);
void wafa_heap_remove(struct wafa_heap *h, struct wafa_deadline *d);
/* Empties the heap in one pass, every deadline marked out of it (their
 * tickets' deadline counts are the caller's to reset): a reload's cost,
 * where removing each (O(log n), a cache miss a level) took seconds at 10M. */
void wafa_heap_clear(struct wafa_heap *h);
struct wafa_deadline *wafa_heap_peek(const struct wafa_heap *h);
struct wafa_deadline *wafa_heap_pop(struct wafa_heap *h);

#endif
