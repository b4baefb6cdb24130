/* libFuzzer target: ticket rows as the adapter reads them.  The input is
 * split at NUL bytes into the columns of one row (a missing column is NULL)
 * and handed to wafa_ticket_from_row through a real PGresult built with
 * libpq's own PQmakeEmptyPGresult/PQsetvalue; an accepted ticket is pushed
 * to Lua (extra parsed as JSON), given status changes, and replaced by a
 * second parse of the same row. */
#include <lauxlib.h>
#include <libpq-fe.h>
#include <lualib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ticket.h"

#define NCOLS (1 + WAFA_T_NSTR + WAFA_T_NTIME)

static PGresult *make_row(const uint8_t *data, size_t size)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc attrs[NCOLS];
	static char names[NCOLS][8];
	size_t at = 0;

	if (!res)
		return NULL;
	memset(attrs, 0, sizeof(attrs));
	for (int i = 0; i < NCOLS; i++) {
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		attrs[i].name = names[i];
		attrs[i].typid = 25; /* text */
		attrs[i].typlen = -1;
		attrs[i].atttypmod = -1;
	}
	if (!PQsetResultAttrs(res, NCOLS, attrs)) {
		PQclear(res);
		return NULL;
	}
	for (int i = 0; i < NCOLS; i++) {
		const uint8_t *nul = at < size ? memchr(data + at, 0, size - at) : NULL;
		size_t len = nul ? (size_t)(nul - (data + at)) : (at < size ? size - at : 0);
		if (at >= size) {
			PQsetvalue(res, 0, i, NULL, -1); /* NULL */
			continue;
		}
		PQsetvalue(res, 0, i, (char *)(data + at), (int)len);
		at += len + 1;
	}
	return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PGresult *res = make_row(data, size);
	struct wafa_ticket *t = NULL, *again = NULL;
	const char *why;

	if (!res)
		return 0;
	if (wafa_ticket_from_row(res, 0, &t, &why) == 0) {
		lua_State *L = luaL_newstate();
		if (L) {
			wafa_ticket_push(L, t);
			lua_close(L);
		}
		(void)!wafa_ticket_add_change(t, t->time[WAFA_T_CREATED_AT], WAFA_S_OPEN,
		                              WAFA_S_PENDING);
		(void)!wafa_ticket_add_change(t, 0, WAFA_S_PENDING, wafa_ticket_status(t));
		if (wafa_ticket_from_row(res, 0, &again, &why) == 0)
			wafa_ticket_replace(t, again);
		wafa_ticket_free(t);
	}
	PQclear(res);
	return 0;
}
