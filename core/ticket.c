#include "ticket.h"

#include <errno.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const str_names[WAFA_T_NSTR] = {
	"ref", "subject", "status", "raw_status", "priority", "queue", "customer_email",
	"customer_name", "customer_locale", "customer_tz", "owner_email", "owner_name", "extra",
};

const char *const wafa_ticket_time_names[WAFA_T_NTIME] = {
	"created_at", "first_reply_at", "last_customer_at", "last_agent_at",
	"solved_at", "due_at", "updated_at",
};

#define MS(col) "(extract(epoch FROM " col ") * 1000)::int8"
const char wafa_ticket_columns_sql[] =
	"id, ref, subject, status, raw_status, priority, queue, customer_email, customer_name, "
	"customer_locale, customer_tz, owner_email, owner_name, extra::text, "
	MS("created_at") ", " MS("first_reply_at") ", " MS("last_customer_at") ", "
	MS("last_agent_at") ", " MS("solved_at") ", " MS("due_at") ", " MS("updated_at");

static const char *const statuses[] = { "new", "open", "pending", "solved", "closed" };

int wafa_ticket_time_index(const char *name)
{
	for (int i = 0; i < WAFA_T_NTIME; i++)
		if (strcmp(name, wafa_ticket_time_names[i]) == 0)
			return i;
	return -1;
}

static int parse_int64(const char *s, int64_t *out)
{
	char *end;

	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int wafa_ticket_from_row(const PGresult *res, int row, struct wafa_ticket **out, const char **why)
{
	struct wafa_ticket *t;
	size_t total = 0;
	char *w;
	bool status_ok = false;

	if (PQnfields(res) < 1 + WAFA_T_NSTR + WAFA_T_NTIME) {
		*why = "the view returned an unexpected number of columns";
		return -EINVAL;
	}
	if (PQgetisnull(res, row, 0)) {
		*why = "id is NULL";
		return -EINVAL;
	}
	for (int i = 0; i < WAFA_T_NSTR; i++)
		if (!PQgetisnull(res, row, 1 + i))
			total += (size_t)PQgetlength(res, row, 1 + i) + 1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->strings = malloc(total ? total : 1);
	if (!t->strings) {
		free(t);
		return -ENOMEM;
	}
	if (parse_int64(PQgetvalue(res, row, 0), &t->id) != 0) {
		*why = "id is not an integer";
		goto bad;
	}
	w = t->strings;
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		if (PQgetisnull(res, row, 1 + i))
			continue;
		size_t n = (size_t)PQgetlength(res, row, 1 + i);
		memcpy(w, PQgetvalue(res, row, 1 + i), n + 1);
		t->str[i] = w;
		w += n + 1;
	}
	for (int i = 0; i < WAFA_T_NTIME; i++) {
		int col = 1 + WAFA_T_NSTR + i;
		t->time[i] = WAFA_NO_TIME;
		if (!PQgetisnull(res, row, col) && parse_int64(PQgetvalue(res, row, col), &t->time[i])) {
			*why = "a timestamp is not a number";
			goto bad;
		}
	}
	if (t->str[WAFA_T_STATUS]) {
		for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
			status_ok |= strcmp(t->str[WAFA_T_STATUS], statuses[i]) == 0;
	}
	if (!status_ok) {
		*why = "status is not one of new, open, pending, solved, closed (map it in the view)";
		goto bad;
	}
	if (t->time[WAFA_T_CREATED_AT] == WAFA_NO_TIME) {
		*why = "created_at is NULL";
		goto bad;
	}
	if (!t->str[WAFA_T_REF] || !t->str[WAFA_T_SUBJECT]) {
		*why = "ref or subject is NULL";
		goto bad;
	}
	t->retry_at = WAFA_NO_TIME;
	*out = t;
	return 0;
bad:
	wafa_ticket_free(t);
	return -EINVAL;
}

static bool same_data(const struct wafa_ticket *a, const struct wafa_ticket *b)
{
	if (memcmp(a->time, b->time, sizeof(a->time)) != 0)
		return false;
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		if (!a->str[i] != !b->str[i] || (a->str[i] && strcmp(a->str[i], b->str[i]) != 0))
			return false;
	}
	return true;
}

void wafa_ticket_replace(struct wafa_ticket *dst, struct wafa_ticket *src)
{
	if (dst->when && !same_data(dst, src))
		memset(dst->when, 0, dst->nwhen);
	free(dst->strings);
	dst->strings = src->strings;
	memcpy(dst->str, src->str, sizeof(dst->str));
	memcpy(dst->time, src->time, sizeof(dst->time));
	src->strings = NULL;
	wafa_ticket_free(src);
}

void wafa_ticket_free(struct wafa_ticket *t)
{
	if (!t)
		return;
	free(t->strings);
	free(t->when);
	free(t->deadlines);
	free(t->done);
	free(t);
}

void wafa_ticket_push(lua_State *L, const struct wafa_ticket *t)
{
	lua_createtable(L, 0, 1 + WAFA_T_NSTR + WAFA_T_NTIME);
	lua_pushinteger(L, (lua_Integer)t->id);
	lua_setfield(L, -2, "id");
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		if (i == WAFA_T_EXTRA || !t->str[i])
			continue;
		lua_pushstring(L, t->str[i]);
		lua_setfield(L, -2, str_names[i]);
	}
	for (int i = 0; i < WAFA_T_NTIME; i++) {
		if (t->time[i] == WAFA_NO_TIME)
			continue;
		/* floor division, so times before 1970 stay in the right second */
		int64_t ms = t->time[i];
		lua_pushinteger(L, (lua_Integer)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000)));
		lua_setfield(L, -2, wafa_ticket_time_names[i]);
	}
}
