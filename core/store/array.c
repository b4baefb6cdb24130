/* PostgreSQL's binary array format: int32 dimensions, int32 has-nulls,
 * uint32 element type, then for each dimension int32 length and int32
 * lower bound; then each element as int32 byte count (-1: NULL) and its
 * bytes, every integer in network order. */
#include "store/array.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define HEADER 20 /* one dimension */

void wafa_array_init(struct wafa_array *a, uint32_t oid)
{
	memset(a, 0, sizeof(*a));
	a->oid = oid;
}

static bool reserve(struct wafa_array *a, size_t n)
{
	size_t cap;
	char *p;

	if (a->oom)
		return false;
	if (a->len == 0)
		a->len = HEADER; /* written by finish */
	if (a->len + n <= a->cap)
		return true;
	cap = a->cap ? a->cap : 4096;
	while (cap < a->len + n)
		cap *= 2;
	if (!(p = realloc(a->p, cap))) {
		a->oom = true;
		return false;
	}
	a->p = p;
	a->cap = cap;
	return true;
}

static void put32(char *at, uint32_t v)
{
	v = htonl(v);
	memcpy(at, &v, 4);
}

static void element(struct wafa_array *a, const void *bytes, int32_t n)
{
	if (!reserve(a, 4 + (n > 0 ? (size_t)n : 0)))
		return;
	put32(a->p + a->len, (uint32_t)n);
	a->len += 4;
	if (n > 0) {
		memcpy(a->p + a->len, bytes, (size_t)n);
		a->len += (size_t)n;
	}
	a->n++;
}

void wafa_array_text(struct wafa_array *a, const char *s)
{
	if (!s) {
		a->has_null = true;
		element(a, NULL, -1);
		return;
	}
	element(a, s, (int32_t)strlen(s));
}

void wafa_array_int8(struct wafa_array *a, int64_t v)
{
	uint32_t half[2] = { htonl((uint32_t)((uint64_t)v >> 32)), htonl((uint32_t)v) };

	element(a, half, 8);
}

void wafa_array_int4(struct wafa_array *a, int32_t v)
{
	uint32_t n = htonl((uint32_t)v);

	element(a, &n, 4);
}

void wafa_array_bool(struct wafa_array *a, bool v)
{
	char c = v ? 1 : 0;

	element(a, &c, 1);
}

const char *wafa_array_finish(struct wafa_array *a, int *len)
{
	if (!reserve(a, 0))
		return NULL;
	if (a->n == 0) {
		/* no dimensions: the empty array, its header without them */
		put32(a->p + 8, 0);
		put32(a->p + 12, 0);
		put32(a->p + 16, a->oid);
		*len = 12;
		return a->p + 8;
	}
	put32(a->p, 1);
	put32(a->p + 4, a->has_null ? 1 : 0);
	put32(a->p + 8, a->oid);
	put32(a->p + 12, (uint32_t)a->n);
	put32(a->p + 16, 1);
	*len = (int)a->len;
	return a->p;
}

void wafa_array_free(struct wafa_array *a)
{
	free(a->p);
	memset(a, 0, sizeof(*a));
}
