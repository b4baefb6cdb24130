#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "time/heap.h"
#include "sync/index.h"

#define N 2000

static void pops_in_order_after_removals(void **state)
{
	struct wafa_heap h;
	struct wafa_deadline *d = calloc(N, sizeof(*d));
	int64_t last = INT64_MIN;
	size_t popped = 0;

	(void)state;
	wafa_heap_init(&h);
	srand(42);
	for (int i = 0; i < N; i++) {
		d[i].at_ms = rand() % 100000;
		assert_int_equal(wafa_heap_push(&h, &d[i]), 0);
	}
	/* remove every third, as ticket changes do */
	for (int i = 0; i < N; i += 3)
		wafa_heap_remove(&h, &d[i]);
	/* removing twice is harmless */
	wafa_heap_remove(&h, &d[0]);
	struct wafa_deadline *x;
	while ((x = wafa_heap_pop(&h)) != NULL) {
		assert_true(x->at_ms >= last);
		assert_true((x - d) % 3 != 0);
		last = x->at_ms;
		popped++;
	}
	assert_int_equal(popped, N - (N + 2) / 3);
	wafa_heap_free(&h);
	free(d);
}

/* a reload empties the heap whole: every deadline out of it, a later
 * removal of one harmless, and the heap usable again */
static void clear_empties_at_once(void **state)
{
	struct wafa_heap h;
	struct wafa_deadline *d = calloc(N, sizeof(*d));

	(void)state;
	wafa_heap_init(&h);
	for (int i = 0; i < N; i++) {
		d[i].at_ms = (i * 7919) % 1000;
		assert_int_equal(wafa_heap_push(&h, &d[i]), 0);
	}
	wafa_heap_clear(&h);
	assert_int_equal(h.count, 0);
	assert_null(wafa_heap_peek(&h));
	for (int i = 0; i < N; i++)
		assert_true(d[i].pos == SIZE_MAX);
	wafa_heap_remove(&h, &d[5]);
	assert_int_equal(h.count, 0);
	assert_int_equal(wafa_heap_push(&h, &d[9]), 0);
	assert_int_equal(wafa_heap_push(&h, &d[3]), 0);
	assert_ptr_equal(wafa_heap_pop(&h), d[3].at_ms < d[9].at_ms ? &d[3] : &d[9]);
	assert_non_null(wafa_heap_pop(&h));
	assert_int_equal(h.count, 0);
	wafa_heap_free(&h);
	free(d);
}

static void index_adds_finds_removes(void **state)
{
	struct wafa_index ix;

	(void)state;
	wafa_index_init(&ix);
	for (int64_t id = 1; id <= 5000; id++) {
		struct wafa_ticket *t = calloc(1, sizeof(*t));
		t->id = id * 7919;
		assert_int_equal(wafa_index_add(&ix, t), 0);
	}
	assert_int_equal(ix.count, 5000);
	for (int64_t id = 1; id <= 5000; id += 2)
		wafa_ticket_free(wafa_index_remove(&ix, id * 7919));
	assert_null(wafa_index_remove(&ix, 1 * 7919));
	for (int64_t id = 1; id <= 5000; id++) {
		struct wafa_ticket *t = wafa_index_get(&ix, id * 7919);
		if (id % 2)
			assert_null(t);
		else
			assert_true(t && t->id == id * 7919);
	}
	assert_int_equal(ix.count, 2500);
	wafa_index_free(&ix);
}

/* A slot keeps its id's hash, not the id: ids that agree in their low or
 * high 32 bits, negative ids and 0 are told apart, and a prefetch of any
 * id, present or not, or of an empty index, changes nothing. */
static void index_tells_close_ids_apart(void **state)
{
	static const int64_t ids[] = { 0, 1, -1, (int64_t)1 << 32, ((int64_t)1 << 32) + 1,
		                       INT64_MAX, INT64_MIN, -((int64_t)1 << 32), 4294967295 };
	const size_t n = sizeof(ids) / sizeof(ids[0]);
	struct wafa_index ix;

	(void)state;
	wafa_index_init(&ix);
	wafa_index_prefetch(&ix, 42);
	for (size_t i = 0; i < n; i++) {
		struct wafa_ticket *t = calloc(1, sizeof(*t));
		t->id = ids[i];
		wafa_index_prefetch(&ix, ids[i]);
		assert_null(wafa_index_get(&ix, ids[i]));
		assert_int_equal(wafa_index_add(&ix, t), 0);
	}
	for (size_t i = 0; i < n; i++) {
		struct wafa_ticket *t = wafa_index_get(&ix, ids[i]);
		assert_non_null(t);
		assert_true(t->id == ids[i]);
	}
	assert_null(wafa_index_get(&ix, 2));
	wafa_ticket_free(wafa_index_remove(&ix, (int64_t)1 << 32));
	assert_null(wafa_index_get(&ix, (int64_t)1 << 32));
	assert_non_null(wafa_index_get(&ix, 1));
	assert_non_null(wafa_index_get(&ix, ((int64_t)1 << 32) + 1));
	assert_int_equal(ix.count, n - 1);
	wafa_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pops_in_order_after_removals),
		cmocka_unit_test(clear_empties_at_once),
		cmocka_unit_test(index_adds_finds_removes),
		cmocka_unit_test(index_tells_close_ids_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
