/* A one-dimensional PostgreSQL array in the binary format of a query
 * parameter (array_recv's: a header, then each element's length and bytes),
 * built element by element.  A batch of firings is sent as such arrays: the
 * server reads each element's length instead of parsing a quoted literal,
 * and nothing is escaped here. */
#ifndef WAFA_ARRAY_H
#define WAFA_ARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The element types' OIDs (pg_type.h); the server refuses an array whose
 * element type is not the one its parameter is cast to. */
enum {
	WAFA_OID_BOOL = 16,
	WAFA_OID_INT8 = 20,
	WAFA_OID_INT4 = 23,
	WAFA_OID_TEXT = 25,
};

struct wafa_array {
	char *p;
	size_t len, cap;
	uint32_t oid;
	int32_t n;
	bool has_null, oom;
};

void wafa_array_init(struct wafa_array *a, uint32_t oid);
/* Each adds an element; after an allocation fails they do nothing and
 * wafa_array_finish returns NULL. */
void wafa_array_text(struct wafa_array *a, const char *s); /* NULL: a NULL */
void wafa_array_int8(struct wafa_array *a, int64_t v);
void wafa_array_int4(struct wafa_array *a, int32_t v);
void wafa_array_bool(struct wafa_array *a, bool v);
/* The parameter's bytes and their count (*len), valid until the array is
 * added to or freed; NULL when out of memory. */
const char *wafa_array_finish(struct wafa_array *a, int *len);
void wafa_array_free(struct wafa_array *a);

#endif
