#include "sync/ticket.h"

#include <errno.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const char *const wafa_ticket_str_names[WAFA_T_NSTR] = {
	"ref", "subject", "status", "raw_status", "priority", "queue", "customer_email",
	"customer_name", "customer_locale", "customer_tz", "owner_email", "owner_name", "extra",
	"last_agent_body", "thread_message_id",
};
#define str_names wafa_ticket_str_names

const char *const wafa_status_names[WAFA_S_N] = { "new", "open", "pending", "solved", "closed" };

const char *const wafa_ticket_time_names[WAFA_T_NTIME] = {
	"created_at", "first_reply_at", "last_customer_at", "last_agent_at",
	"solved_at", "due_at", "updated_at",
};

/* ms since the epoch, rounded as (extract(epoch ...) * 1000)::int8 rounds:
 * date_part's float8 seconds times 10^6 round back to the exact
 * microsecond (2M random instants, half of them on .5 ms, agreed), and
 * skip numeric arithmetic, a tenth of the server's time for a snapshot */
#define MS_OF(col) "((date_part('epoch', " col ") * 1000000)::int8 + 500) / 1000"
/* ... for a time within years 1 to 9999; any other ('infinity', '-infinity',
 * year 294276, which overflows the cast) comes as WAFA_TIME_BAD, a value no
 * time has, so that one row never fails a query that reads others with it */
#define MS(col)                                                                         \
	"CASE WHEN NOT " col " BETWEEN '0001-01-01' AND '9999-12-31 23:59:59.999999' "   \
	"THEN '-9223372036854775807'::int8 ELSE " MS_OF(col) " END"
static const char required_sql[] =
	"id, ref, subject, status, raw_status, priority, queue, customer_email, customer_name, "
	"customer_locale, customer_tz, owner_email, owner_name, extra::text";
static const char times_sql[] =
	MS("created_at") ", " MS("first_reply_at") ", " MS("last_customer_at") ", "
	MS("last_agent_at") ", " MS("solved_at") ", " MS("due_at") ", " MS("updated_at");

char *wafa_ticket_columns_sql(int (*has_optional)(const char *name, void *arg), void *arg)
{
	char *sql = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sql, &len);

	if (!f)
		return NULL;
	fputs(required_sql, f);
	for (int i = WAFA_T_FIRST_OPTIONAL; i < WAFA_T_NSTR; i++) {
		/* names come from the table above, never from the database */
		if (has_optional && has_optional(str_names[i], arg))
			fprintf(f, ", %s::text", str_names[i]);
		else
			fprintf(f, ", NULL::text AS %s", str_names[i]);
	}
	fprintf(f, ", %s", times_sql);
	if (fclose(f) != 0) {
		free(sql);
		return NULL;
	}
	return sql;
}

int wafa_status_index(const char *name)
{
	for (int i = 0; i < WAFA_S_N; i++)
		if (strcmp(name, wafa_status_names[i]) == 0)
			return i;
	return -1;
}

const char *const wafa_priority_names[WAFA_PRIO_N] = { "low", "normal", "high", "urgent" };

int wafa_ticket_status(const struct wafa_ticket *t)
{
	int s;

	if (!t->str)
		return t->status;
	s = t->str[WAFA_T_STATUS] ? wafa_status_index(t->str[WAFA_T_STATUS]) : -1;
	return s < 0 ? WAFA_S_OPEN : s;
}

const char *wafa_ticket_str(const struct wafa_ticket *t, int col)
{
	if (t->str)
		return t->str[col];
	if (col == WAFA_T_STATUS)
		return wafa_status_names[t->status];
	if (col == WAFA_T_PRIORITY && t->priority < WAFA_PRIO_N)
		return wafa_priority_names[t->priority];
	return NULL;
}

struct wafa_ticket *wafa_ticket_alloc(size_t text, char **textp)
{
	struct wafa_ticket *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->str = calloc(1, WAFA_T_NSTR * sizeof(char *) + (text ? text : 1));
	if (!t->str) {
		free(t);
		return NULL;
	}
	if (textp)
		*textp = (char *)(t->str + WAFA_T_NSTR);
	for (int i = 0; i < WAFA_T_NTIME; i++)
		t->time[i] = WAFA_NO_TIME;
	t->retry_at = WAFA_NO_TIME;
	t->priority = WAFA_PRIO_N;
	return t;
}

int wafa_ticket_add_change(struct wafa_ticket *t, int64_t at, int from, int to)
{
	return wafa_ticket_add_state(t, at, from, to, wafa_ticket_paused(t));
}

uint32_t wafa_ticket_paused(const struct wafa_ticket *t)
{
	return t->nhist ? t->hist[t->nhist - 1].paused : 0;
}

int wafa_ticket_add_state(struct wafa_ticket *t, int64_t at, int from, int to, uint32_t paused)
{
	if (t->nhist == t->hist_cap) {
		unsigned cap = t->hist_cap ? t->hist_cap * 2 : 2;
		struct wafa_status_change *grown = realloc(t->hist, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		t->hist = grown;
		t->hist_cap = cap;
	}
	if (t->nhist > 0 && at < t->hist[t->nhist - 1].at)
		at = t->hist[t->nhist - 1].at;
	t->hist[t->nhist].at = at;
	t->hist[t->nhist].from = (unsigned char)from;
	t->hist[t->nhist].to = (unsigned char)to;
	t->hist[t->nhist].paused = paused;
	t->nhist++;
	return 0;
}

int wafa_ticket_time_index(const char *name)
{
	for (int i = 0; i < WAFA_T_NTIME; i++)
		if (strcmp(name, wafa_ticket_time_names[i]) == 0)
			return i;
	return -1;
}

/* A decimal int64 as PostgreSQL prints one: an optional '-', then digits
 * (strtoll's locale and errno cost a tenth of a snapshot's parsing). */
static int parse_int64(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	const char *p = s + neg;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (limit - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (*p)
		return -EINVAL;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

int wafa_ticket_row_id(const PGresult *res, int row, int64_t *id)
{
	if (PQgetisnull(res, row, 0))
		return -EINVAL;
	return parse_int64(PQgetvalue(res, row, 0), id);
}

/* the optional columns the rules see when they schedule (bit i:
 * WAFA_T_FIRST_OPTIONAL + i); the others are not part of a ticket's data */
static unsigned scheduled_optional = ~0u;

void wafa_ticket_scheduled_columns(unsigned optional)
{
	scheduled_optional = optional;
}

static bool scheduled(int col)
{
	return col < WAFA_T_FIRST_OPTIONAL ||
	       (scheduled_optional >> (col - WAFA_T_FIRST_OPTIONAL) & 1u);
}

/* FNV-1a over the string columns, a NULL told from an empty string. */
static uint64_t hash_strings(const struct wafa_ticket *t)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (int i = 0; i < WAFA_T_NSTR; i++) {
		if (!scheduled(i))
			continue;
		const unsigned char *c = (const unsigned char *)t->str[i];
		h = (h ^ (c ? 1u : 2u)) * 0x100000001b3ull;
		for (; c && *c; c++)
			h = (h ^ *c) * 0x100000001b3ull;
	}
	return h;
}

#define BAD_TIME(col) col " is not a time between the years 1 and 9999 (infinity?)"
static const char *const bad_time_why[WAFA_T_NTIME] = {
	BAD_TIME("created_at"), BAD_TIME("first_reply_at"), BAD_TIME("last_customer_at"),
	BAD_TIME("last_agent_at"), BAD_TIME("solved_at"), BAD_TIME("due_at"),
	BAD_TIME("updated_at"),
};

int wafa_ticket_from_row(const PGresult *res, int row, struct wafa_ticket **out, const char **why)
{
	struct wafa_ticket *t;
	size_t total = 0;
	char *w;
	bool status_ok = false;
	const char *bad_time = NULL;

	if (PQnfields(res) < 1 + WAFA_T_NSTR + WAFA_T_NTIME) {
		*why = "the view returned an unexpected number of columns";
		return -EINVAL;
	}
	if (PQgetisnull(res, row, 0)) {
		*why = "id is NULL";
		return -EINVAL;
	}
	/* each column's length once: -1 for NULL */
	int lens[WAFA_T_NSTR];
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		lens[i] = PQgetisnull(res, row, 1 + i) ? -1 : PQgetlength(res, row, 1 + i);
		if (lens[i] >= 0)
			total += (size_t)lens[i] + 1;
	}
	t = wafa_ticket_alloc(total, &w);
	if (!t)
		return -ENOMEM;
	if (parse_int64(PQgetvalue(res, row, 0), &t->id) != 0) {
		*why = "id is not an integer";
		goto bad;
	}
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		if (lens[i] < 0)
			continue;
		size_t n = (size_t)lens[i];
		memcpy(w, PQgetvalue(res, row, 1 + i), n + 1);
		t->str[i] = w;
		w += n + 1;
	}
	for (int i = 0; i < WAFA_T_NTIME; i++) {
		int col = 1 + WAFA_T_NSTR + i;
		if (!PQgetisnull(res, row, col) && parse_int64(PQgetvalue(res, row, col), &t->time[i])) {
			*why = "a timestamp is not a number";
			goto bad;
		}
		if (t->time[i] == WAFA_TIME_BAD) {
			t->time[i] = WAFA_NO_TIME; /* read as unset */
			if (!bad_time)
				bad_time = bad_time_why[i];
		}
	}
	t->hash = hash_strings(t);
	if (t->str[WAFA_T_STATUS])
		status_ok = wafa_status_index(t->str[WAFA_T_STATUS]) >= 0;
	t->status = (unsigned char)wafa_ticket_status(t);
	for (int i = 0; t->str[WAFA_T_PRIORITY] && i < WAFA_PRIO_N; i++)
		if (strcmp(t->str[WAFA_T_PRIORITY], wafa_priority_names[i]) == 0)
			t->priority = (unsigned char)i;
	if (!status_ok) {
		*why = "status is not one of new, open, pending, solved, closed (map it in the view)";
		goto bad;
	}
	if (t->time[WAFA_T_CREATED_AT] == WAFA_NO_TIME) {
		*why = bad_time == bad_time_why[WAFA_T_CREATED_AT] ? bad_time : "created_at is NULL";
		goto bad;
	}
	if (!t->str[WAFA_T_REF] || !t->str[WAFA_T_SUBJECT]) {
		*why = "ref or subject is NULL";
		goto bad;
	}
	*out = t;
	*why = bad_time;
	return 0;
bad:
	wafa_ticket_free(t);
	return -EINVAL;
}

static bool same_data(const struct wafa_ticket *a, const struct wafa_ticket *b)
{
	if (memcmp(a->time, b->time, sizeof(a->time)) != 0)
		return false;
	if (!a->str || !b->str)
		return a->hash == b->hash;
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		if (!scheduled(i))
			continue;
		if (!a->str[i] != !b->str[i] || (a->str[i] && strcmp(a->str[i], b->str[i]) != 0))
			return false;
	}
	return true;
}

void wafa_ticket_replace(struct wafa_ticket *dst, struct wafa_ticket *src)
{
	if ((dst->when || dst->vals) && !same_data(dst, src)) {
		if (dst->when)
			memset(dst->when, 0, dst->nwhen);
		for (size_t i = 0; i < dst->nvals; i++)
			dst->vals[i] = INT64_MAX;
	}
	free(dst->str);
	dst->str = src->str;
	memcpy(dst->time, src->time, sizeof(dst->time));
	dst->hash = src->hash;
	dst->status = src->status;
	dst->priority = src->priority;
	src->str = NULL;
	wafa_ticket_free(src);
}

void wafa_ticket_strip(struct wafa_ticket *t)
{
	if (t->str) {
		t->status = (unsigned char)wafa_ticket_status(t);
		t->priority = WAFA_PRIO_N;
		for (int i = 0; t->str[WAFA_T_PRIORITY] && i < WAFA_PRIO_N; i++)
			if (strcmp(t->str[WAFA_T_PRIORITY], wafa_priority_names[i]) == 0)
				t->priority = (unsigned char)i;
	}
	free(t->str);
	t->str = NULL;
}

void wafa_ticket_free(struct wafa_ticket *t)
{
	if (!t)
		return;
	free(t->str);
	free(t->when);
	free(t->vals);
	free(t->hist);
	free(t->js);
	free(t->deadlines);
	free(t->done);
	free(t);
}

#define JSON_DEPTH 32

/* Pushes a JSON value as Lua: objects and arrays as tables, null as nil. */
static void push_json(lua_State *L, json_t *v, int depth)
{
	const char *key;
	json_t *item;
	size_t i;

	if (depth > JSON_DEPTH || !lua_checkstack(L, 4)) {
		lua_pushnil(L);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_foreach (v, key, item) {
			push_json(L, item, depth + 1);
			lua_setfield(L, -2, key);
		}
		break;
	case JSON_ARRAY:
		lua_createtable(L, (int)json_array_size(v), 0);
		json_array_foreach (v, i, item) {
			push_json(L, item, depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushnil(L);
	}
}

void wafa_ticket_push(lua_State *L, const struct wafa_ticket *t)
{
	lua_createtable(L, 0, 1 + WAFA_T_NSTR + WAFA_T_NTIME);
	lua_pushinteger(L, (lua_Integer)t->id);
	lua_setfield(L, -2, "id");
	for (int i = 0; i < WAFA_T_NSTR; i++) {
		const char *s = wafa_ticket_str(t, i);
		if (!s)
			continue;
		if (i == WAFA_T_EXTRA) {
			json_t *v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
			if (!v)
				continue;
			push_json(L, v, 0);
			json_decref(v);
		} else {
			lua_pushstring(L, s);
		}
		lua_setfield(L, -2, str_names[i]);
	}
	for (int i = 0; i < WAFA_T_NTIME; i++) {
		if (t->time[i] == WAFA_NO_TIME)
			continue;
		/* floor division, so times before 1970 stay in the right second */
		int64_t ms = t->time[i];
		lua_pushinteger(L, (lua_Integer)wafa_ms_to_s(ms));
		lua_setfield(L, -2, wafa_ticket_time_names[i]);
	}
}
