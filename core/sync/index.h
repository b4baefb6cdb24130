/* The ticket index: every watched ticket in memory, by id. */
#ifndef WAFA_INDEX_H
#define WAFA_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "sync/ticket.h"

struct wafa_index {
	struct wafa_index_slot {
		struct wafa_ticket *t; /* NULL: empty */
		uint64_t key;          /* t's id hashed: one to one, so a lookup or a
		                        * rehash never reads the ticket itself */
	} *slots;                      /* open addressing, linear probing */
	size_t cap;                 /* a power of two */
	size_t count;
};

void wafa_index_init(struct wafa_index *ix);
/* Frees every ticket in the index and the index's own memory. */
void wafa_index_free(struct wafa_index *ix);
struct wafa_ticket *wafa_index_get(const struct wafa_index *ix, int64_t id);
/* Starts loading the slot where id's lookup begins into the cache: a
 * snapshot asks for the rows a few ahead of the one it takes in, so their
 * lookups do not each wait on memory (the table is 32 MB at 1M tickets). */
void wafa_index_prefetch(const struct wafa_index *ix, int64_t id);
/* Adds t, which must not be present; the index owns it from then on. */
WAFA_WUR int wafa_index_add(struct wafa_index *ix, struct wafa_ticket *t);
/* Removes and returns the ticket with id (the caller owns it), or NULL. */
struct wafa_ticket *wafa_index_remove(struct wafa_index *ix, int64_t id);

#endif
