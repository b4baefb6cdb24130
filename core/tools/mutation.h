/* Mutations of a rule file for `wafa test --mutate`: the duration and
 * percentage literals of its Lua source ("4h", "3bd", "75%"), each with one change
 * that makes the policy laxer (a duration doubled, a warning moved halfway
 * to the deadline).  A change no test notices is a number the tests do not
 * pin.  Only plain short strings are taken: comments, long strings and
 * strings with escapes are skipped, and text like "09:00-17:00" or
 * "Due soon" is not a duration. */
#ifndef WAFA_MUTATION_H
#define WAFA_MUTATION_H

#include <stddef.h>

#include "base/error.h"

struct wafa_mutation {
	size_t offset;     /* of the literal's text, after the opening quote */
	size_t len;        /* the literal's text, quotes excluded */
	int line;          /* 1-based */
	char from[24];     /* the literal as written */
	char to[24];       /* what it becomes */
};

/* Finds the mutations of src (len bytes).  *out is malloc'ed (free it), *n
 * its count; returns 0 or -ENOMEM. */
WAFA_WUR int wafa_mutation_find(const char *src, size_t len, struct wafa_mutation **out,
                                size_t *n);

/* The source with m applied: malloc'ed, NUL-terminated, or NULL. */
char *wafa_mutation_apply(const char *src, size_t len, const struct wafa_mutation *m);

#endif
