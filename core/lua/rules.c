#include "lua/rules.h"

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucasemap.h>

#include "time/clock.h"
#include "base/duration.h"
#include "base/log.h"
#include "mail/message.h"
#include "base/watchdog.h"
#include "web/metrics.h"
#include "lua/prelude.inc"
#include "time/zone.h"
#include "mail/datefmt.h"

#define MAX_SUBJECT 998
#define MAX_BODY (256 * 1024)
#define MAX_MAILS 20

const char *const wafa_rule_kind_names[] = { "sla", "promise", "followup", "offer" };

static const char *const priority_names[WAFA_P_N] = { "low", "normal", "high", "urgent",
	                                              "default" };

/* c.duration(text) -> ms | nil, why */
int wafa_rules_lua_duration(lua_State *L)
{
	const char *why;
	int64_t ms;

	if (wafa_duration_parse(luaL_checkstring(L, 1), &ms, &why) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushinteger(L, (lua_Integer)ms);
	return 1;
}

/* c.business_days(text) -> WAFA_DURATION_DAYS | N | nil, why */
static int c_business_days(lua_State *L)
{
	const char *why;
	int64_t v;

	if (wafa_duration_parse_days(luaL_checkstring(L, 1), &v, &why) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushinteger(L, (lua_Integer)v);
	return 1;
}

/* c.where(level) -> "file:line:" */
int wafa_rules_lua_where(lua_State *L)
{
	luaL_where(L, (int)luaL_checkinteger(L, 1));
	return 1;
}

static int c_now(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)(wafa_clock_now_ms() / 1000));
	return 1;
}

/* c.local(seconds, tz) -> { year, month, day, hour, min, sec, wday (1 Sunday .. 7) } | nil, why */
static int c_local(lua_State *L)
{
	lua_Integer sec = luaL_checkinteger(L, 1);
	const char *tz = luaL_checkstring(L, 2);
	struct wafa_local lt;

	if (sec > INT64_MAX / 1000 || sec < INT64_MIN / 1000 + 1 ||
	    wafa_zone_split((int64_t)sec * 1000, tz, &lt) != 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "unknown time zone \"%s\"", tz);
		return 2;
	}
	lua_createtable(L, 0, 7);
	lua_pushinteger(L, lt.year);
	lua_setfield(L, -2, "year");
	lua_pushinteger(L, lt.month);
	lua_setfield(L, -2, "month");
	lua_pushinteger(L, lt.day);
	lua_setfield(L, -2, "day");
	lua_pushinteger(L, lt.hour);
	lua_setfield(L, -2, "hour");
	lua_pushinteger(L, lt.minute);
	lua_setfield(L, -2, "min");
	lua_pushinteger(L, lt.second);
	lua_setfield(L, -2, "sec");
	lua_pushinteger(L, lt.wday + 1);
	lua_setfield(L, -2, "wday");
	return 1;
}

static int int_field(lua_State *L, int idx, const char *name, int dflt)
{
	lua_Integer v;
	int isnum;

	lua_getfield(L, idx, name);
	v = lua_tointegerx(L, -1, &isnum);
	lua_pop(L, 1);
	if (!isnum)
		return dflt;
	if (v < -1000000 || v > 1000000)
		luaL_error(L, "%s = %I is out of range", name, v);
	return (int)v;
}

/* c.utc({ year, month, day, hour, min, sec }, tz) -> seconds | nil, why.
 * Fields roll over (day 32 is in the next month); a time in a DST gap moves
 * forward, one in the overlap is the earlier. */
static int c_utc(lua_State *L)
{
	struct wafa_local lt = { 0 };
	const char *tz = luaL_checkstring(L, 2);
	int64_t ms;

	luaL_checktype(L, 1, LUA_TTABLE);
	lt.year = int_field(L, 1, "year", 1970);
	lt.month = int_field(L, 1, "month", 1);
	lt.day = int_field(L, 1, "day", 1);
	lt.hour = int_field(L, 1, "hour", 0);
	lt.minute = int_field(L, 1, "min", 0);
	lt.second = int_field(L, 1, "sec", 0);
	if (wafa_zone_join(&lt, tz, &ms) != 0) {
		lua_pushnil(L);
		lua_pushfstring(L, "unknown time zone \"%s\"", tz);
		return 2;
	}
	lua_pushinteger(L, (lua_Integer)wafa_ms_to_s(ms));
	return 1;
}

/* Copies a string field of the mail table, CR and LF turned to spaces when
 * it goes into a header. */
static char *mail_field(lua_State *L, const char *name, bool required, bool header, size_t max)
{
	size_t len;
	const char *s;
	char *copy;

	lua_getfield(L, 1, name);
	if (lua_isnil(L, -1)) {
		if (required)
			luaL_error(L, "mail: \"%s\" is required", name);
		lua_pop(L, 1);
		return NULL;
	}
	if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
		luaL_error(L, "mail: \"%s\" must be a string, not %s", name, luaL_typename(L, -1));
	s = lua_tolstring(L, -1, &len);
	if (len > max)
		luaL_error(L, "mail: \"%s\" is longer than %I bytes", name, (lua_Integer)max);
	if (!g_utf8_validate(s, (gssize)len, NULL) || memchr(s, '\0', len))
		luaL_error(L, "mail: \"%s\" is not valid UTF-8 text", name);
	copy = strdup(s);
	if (!copy)
		luaL_error(L, "mail: out of memory");
	if (header)
		for (char *p = copy; *p; p++)
			if (*p == '\r' || *p == '\n')
				*p = ' ';
	lua_pop(L, 1);
	return copy;
}

static void mail_free(struct wafa_mail_req *m)
{
	free(m->to);
	free(m->subject);
	free(m->body);
	free(m->template);
	free(m->vars);
	free(m->locale);
	memset(m, 0, sizeof(*m));
}

/* Frees the mails and the slot past them, where a mail{} that raised may
 * have left what it took. */
static void mails_clear(struct wafa_rules *r)
{
	for (size_t i = 0; i <= r->nmails && i < r->mails_cap; i++)
		mail_free(&r->mails[i]);
	r->nmails = 0;
}

/* A name for a template or a locale: letters, digits, '-' and '_' only, so
 * it can never leave the templates directory. */
static bool plain_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_'))
			return false;
	return true;
}

/* vars = { name = "text" or number, ... } as a JSON object. */
static char *vars_json(lua_State *L, int idx)
{
	json_t *o = json_object();
	char *text = NULL;

	if (!o)
		return NULL;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		size_t len;
		const char *v;
		if (!name || !plain_name(name) ||
		    (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)) {
			json_decref(o);
			luaL_error(L, "mail: vars.%s: expected a name of letters, digits and _ with a "
			              "string or number value",
			           name ? name : "?");
		}
		v = lua_tolstring(L, -1, &len); /* a number becomes its text */
		if (!g_utf8_validate(v, (gssize)len, NULL) || memchr(v, '\0', len) || len > 64 * 1024) {
			json_decref(o);
			luaL_error(L, "mail: vars.%s is not valid UTF-8 text (or longer than 64 KiB)", name);
		}
		json_object_set_new(o, name, json_stringn(v, len));
		lua_pop(L, 1);
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* mail { to = ..., subject = ..., body = ... }
 * mail { to = ..., template = "csat", vars = { ... }, locale = "ar-EG", survey = true } */
static int api_mail(lua_State *L)
{
	struct wafa_rules *r = lua_touserdata(L, lua_upvalueindex(1));
	struct wafa_mail_req m = { 0 };

	if (!r->in_action)
		return luaL_error(L, "mail: only an action (on_breach, on_warn, on_due, on_answer) can "
		                     "send mail");
	luaL_checktype(L, 1, LUA_TTABLE);
	if (r->nmails >= MAX_MAILS)
		return luaL_error(L, "mail: at most %d mails per action", MAX_MAILS);
	if (r->nmails + 1 >= r->mails_cap) {
		size_t cap = r->mails_cap ? r->mails_cap * 2 : 4;
		struct wafa_mail_req *mails = realloc(r->mails, cap * sizeof(*mails));
		if (!mails)
			return luaL_error(L, "mail: out of memory");
		memset(mails + r->mails_cap, 0, (cap - r->mails_cap) * sizeof(*mails));
		r->mails = mails;
		r->mails_cap = cap;
	}
	/* Each field is copied into the slot past the mails before the next may
	 * raise; the mail counts only once every field checked out, so a rule's
	 * pcall(mail, ...) that caught an error leaves no half mail behind (what
	 * the slot took is freed by the next mail{} or mails_clear). */
	struct wafa_mail_req *slot = &r->mails[r->nmails];
	mail_free(slot);
	*slot = m;
	slot->to = mail_field(L, "to", true, true, 2000);
	const char *bad;
	if (!wafa_message_one_mailbox(slot->to, &bad))
		return luaL_error(L, "mail: \"to\" = \"%s\" %s", slot->to, bad);
	slot->template = mail_field(L, "template", false, true, 64);
	if (slot->template && !plain_name(slot->template))
		return luaL_error(L, "mail: template \"%s\": a name of letters, digits, - and _ "
		                     "(the file is [mail] templates/LOCALE/NAME.md)",
		                  slot->template);
	slot->locale = mail_field(L, "locale", false, true, 64);
	if (slot->locale && !plain_name(slot->locale))
		return luaL_error(L, "mail: locale \"%s\": expected a locale like ar-EG", slot->locale);
	slot->subject = mail_field(L, "subject", !slot->template, true, MAX_SUBJECT);
	slot->body = mail_field(L, "body", false, false, MAX_BODY);
	if (!slot->body && !(slot->body = strdup("")))
		return luaL_error(L, "mail: out of memory");
	lua_getfield(L, 1, "vars");
	if (!lua_isnil(L, -1)) {
		if (!lua_istable(L, -1))
			return luaL_error(L, "mail: vars: expected a table like { name = \"Sara\" }");
		if (!(slot->vars = vars_json(L, lua_gettop(L))))
			return luaL_error(L, "mail: out of memory");
	}
	lua_pop(L, 1);
	lua_getfield(L, 1, "survey");
	slot->survey = lua_toboolean(L, -1);
	lua_pop(L, 1);
	if (slot->survey && !slot->template)
		return luaL_error(L, "mail: survey = true needs a template (its links are {{survey_1}} "
		                     ".. {{survey_5}})");
	r->nmails++;
	return 0;
}

static void rule_free(struct wafa_rule *rule, lua_State *L)
{
	for (int i = 0; i < rule->nphases; i++) {
		free(rule->phases[i].name);
		luaL_unref(L, LUA_REGISTRYINDEX, rule->phases[i].fn_ref);
	}
	luaL_unref(L, LUA_REGISTRYINDEX, rule->when_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->pause_fn_ref);
	for (int i = 0; i < rule->npause_raw; i++)
		free(rule->pause_raw[i]);
	free(rule->pause_raw);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->target_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->at_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->until_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->unless_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->audience_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->answer_ref);
	luaL_unref(L, LUA_REGISTRYINDEX, rule->cal_ref);
	free(rule->phases);
	free(rule->name);
	free(rule->where);
}

/* A string field of a ticket or a customer: t.customer_<name>, else t.<name>. */
static const char *who_field(lua_State *L, int idx, const char *name)
{
	const char *v = NULL;

	if (!lua_istable(L, idx))
		return NULL;
	lua_pushfstring(L, "customer_%s", name);
	if (lua_gettable(L, idx) == LUA_TSTRING)
		v = lua_tostring(L, -1);
	lua_pop(L, 1); /* the string stays alive in the table */
	if (!v) {
		if (lua_getfield(L, idx, name) == LUA_TSTRING)
			v = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	return v;
}

/* wafa.date(ts, t) and wafa.datetime(ts, t): ts (Unix seconds) as t's
 * customer reads it, in their locale, calendar and time zone. */
static int format_date(lua_State *L, enum wafa_datefmt_style style)
{
	lua_Integer ts = luaL_checkinteger(L, 1);
	const char *locale = who_field(L, 2, "locale"), *tz = who_field(L, 2, "tz");
	char buf[256];

	if (ts > INT64_MAX / 1000 || ts < INT64_MIN / 1000 + 1)
		return luaL_error(L, "wafa.date: %I is out of range", ts);
	if (tz && !wafa_zone_valid(tz))
		tz = NULL;
	if (wafa_datefmt_format((int64_t)ts * 1000, locale, tz, style, buf, sizeof(buf)) != 0)
		return luaL_error(L, "wafa.date: cannot format %I for locale %s", ts,
		                  locale ? locale : "en");
	lua_pushstring(L, buf);
	return 1;
}

/* wafa.address(name, email): one mailbox with the name quoted, for a rule
 * that would write name .. " <" .. email .. ">" (a name like
 * 'Mallory <m@evil.example>, "Real' then named two mailboxes). */
static int api_address(lua_State *L)
{
	const char *name = luaL_optstring(L, 1, NULL), *email = luaL_checkstring(L, 2), *why;
	char *box = wafa_message_mailbox(name, email, &why);

	if (!box)
		return luaL_error(L, "wafa.address: \"%s\" %s", email, why);
	lua_pushstring(L, box);
	free(box);
	return 1;
}

static int api_date(lua_State *L)
{
	return format_date(L, WAFA_DATE);
}

static int api_datetime(lua_State *L)
{
	return format_date(L, WAFA_DATETIME);
}

static struct wafa_calendar *find_calendar(struct wafa_rules *r, const char *name);

/* The calendar named by argument idx, or a Lua error that says what to do. */
static struct wafa_calendar *calendar_arg(lua_State *L, int idx, const char *fn)
{
	struct wafa_rules *r = lua_touserdata(L, lua_upvalueindex(1));
	const char *name = luaL_checkstring(L, idx);
	struct wafa_calendar *cal = find_calendar(r, name);

	if (!cal)
		luaL_error(L, "wafa.%s: no calendar \"%s\" is declared (declare it with calendar "
		              "\"%s\" { ... } in this file or one loaded before it)",
		           fn, name, name);
	return cal;
}

/* Unix seconds at argument idx as ms, or a Lua error. */
static int64_t instant_arg(lua_State *L, int idx, const char *fn)
{
	lua_Number v = luaL_checknumber(L, idx);

	if (!(v > -1e13 && v < 1e13))
		luaL_error(L, "wafa.%s: %f is not a time in Unix seconds", fn, (double)v);
	return (int64_t)(v * 1000.0);
}

/* ms as Lua seconds: an integer when whole. */
static void push_seconds(lua_State *L, int64_t ms)
{
	if (ms % 1000 == 0)
		lua_pushinteger(L, (lua_Integer)(ms / 1000));
	else
		lua_pushnumber(L, (lua_Number)ms / 1000.0);
}

/* wafa.business_add(t, "4h", "cairo") -> the instant 4 business hours after
 * t in calendar cairo (Unix seconds), or nil when never within ten years */
static int api_business_add(lua_State *L)
{
	int64_t from = instant_arg(L, 1, "business_add"), amount, at;
	const char *why;
	struct wafa_calendar *cal = calendar_arg(L, 3, "business_add");

	if (lua_isinteger(L, 2)) {
		if (lua_tointeger(L, 2) < 0 || lua_tointeger(L, 2) > INT64_MAX / 1000)
			return luaL_error(L, "wafa.business_add: %I seconds is out of range",
			                  lua_tointeger(L, 2));
		amount = (int64_t)lua_tointeger(L, 2) * 1000;
	} else if (wafa_duration_parse_days(luaL_checkstring(L, 2), &amount, &why) == 0) {
		/* "2bd": the same local time two open days later */
		at = wafa_calendar_add_days(cal, from, (int)(amount & ~WAFA_DURATION_DAYS));
		goto done;
	} else if (wafa_duration_parse(luaL_checkstring(L, 2), &amount, &why) != 0) {
		return luaL_error(L, "wafa.business_add: \"%s\": %s", lua_tostring(L, 2), why);
	}
	at = wafa_calendar_add(cal, from, amount);
done:
	if (at == WAFA_NO_TIME)
		lua_pushnil(L);
	else
		push_seconds(L, at);
	return 1;
}

/* wafa.next_open(t, "cairo") -> t if cairo is open at t, else when it opens
 * next (Unix seconds), or nil when never within ten years */
static int api_next_open(lua_State *L)
{
	int64_t from = instant_arg(L, 1, "next_open"), at;
	struct wafa_calendar *cal = calendar_arg(L, 2, "next_open");

	at = wafa_calendar_next_open(cal, from);
	if (at == WAFA_NO_TIME)
		lua_pushnil(L);
	else
		push_seconds(L, at);
	return 1;
}

/* wafa.business_between(a, b, "cairo") -> business seconds in [a, b) (0 when
 * b <= a) */
static int api_business_between(lua_State *L)
{
	int64_t a = instant_arg(L, 1, "business_between"), b = instant_arg(L, 2, "business_between");
	struct wafa_calendar *cal = calendar_arg(L, 3, "business_between");

	push_seconds(L, wafa_calendar_elapsed(cal, a, b));
	return 1;
}

static int read_only(lua_State *L)
{
	return luaL_error(L, "wafa.%s: the rule library is shared by every rule file and "
	                     "cannot be changed (use a local variable)",
	                  luaL_tolstring(L, 2, NULL));
}

static int load_prelude(lua_State *L)
{
	struct wafa_rules *r = lua_touserdata(L, 1);

	if (luaL_loadbufferx(L, wafa_prelude, sizeof(wafa_prelude) - 1, "=rules/wafa.lua", "t"))
		return lua_error(L);
	wafa_sandbox_push_api(r->sb);
	lua_pushlightuserdata(L, r);
	lua_pushcclosure(L, api_mail, 1);
	lua_setfield(L, -2, "mail");
	lua_newtable(L);
	lua_pushcfunction(L, wafa_rules_lua_duration);
	lua_setfield(L, -2, "duration");
	lua_pushcfunction(L, wafa_rules_lua_where);
	lua_setfield(L, -2, "where");
	lua_pushcfunction(L, c_business_days);
	lua_setfield(L, -2, "business_days");
	lua_pushcfunction(L, c_now);
	lua_setfield(L, -2, "now");
	lua_newtable(L);
	for (int i = 0; i < WAFA_T_NTIME; i++) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, wafa_ticket_time_names[i]);
	}
	lua_setfield(L, -2, "time_columns");
	lua_pushcfunction(L, c_local);
	lua_setfield(L, -2, "local_time");
	lua_pushcfunction(L, c_utc);
	lua_setfield(L, -2, "utc");
	int c = lua_gettop(L);
	/* the rule library's helpers (wafa.promise_in, ...) see the same c */
	if (luaL_loadbufferx(L, wafa_promise_lua, sizeof(wafa_promise_lua) - 1,
	                     "=rules/promise.lua", "t"))
		return lua_error(L);
	lua_getfield(L, c - 1, "wafa");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, c - 1, "wafa");
	}
	lua_pushvalue(L, c);
	lua_call(L, 2, 0);
	/* rule files share `wafa`: they get a read-only view of it (a
	 * userdata, so that not even rawset can change it for the others) */
	lua_getfield(L, c - 1, "wafa");
	lua_pushcfunction(L, api_date);
	lua_setfield(L, -2, "date");
	lua_pushcfunction(L, api_datetime);
	lua_setfield(L, -2, "datetime");
	lua_pushlightuserdata(L, r);
	lua_pushcclosure(L, api_business_add, 1);
	lua_setfield(L, -2, "business_add");
	lua_pushlightuserdata(L, r);
	lua_pushcclosure(L, api_next_open, 1);
	lua_setfield(L, -2, "next_open");
	lua_pushlightuserdata(L, r);
	lua_pushcclosure(L, api_business_between, 1);
	lua_setfield(L, -2, "business_between");
	lua_pushcfunction(L, api_address);
	lua_setfield(L, -2, "address");
	lua_newuserdatauv(L, 0, 0);
	lua_createtable(L, 0, 3);
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, read_only);
	lua_setfield(L, -2, "__newindex");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_setfield(L, c - 1, "wafa");
	lua_pop(L, 1);
	lua_call(L, 2, 1);
	r->take_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

int wafa_rules_open(struct wafa_sandbox *sb, struct wafa_rules **out)
{
	struct wafa_rules *r = calloc(1, sizeof(*r));
	lua_State *L = wafa_sandbox_state(sb);

	if (!r)
		return -ENOMEM;
	r->sb = sb;
	lua_pushcfunction(L, load_prelude);
	lua_pushlightuserdata(L, r);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		wafa_log(WAFA_ERROR, "rules", "the rule library failed to load: %s",
		         lua_tostring(L, -1));
		lua_pop(L, 1);
		free(r);
		return -EINVAL;
	}
	*out = r;
	return 0;
}

static void report_free(struct wafa_report_decl *rep)
{
	free(rep->name);
	free(rep->where);
	free(rep->to);
	free(rep->locale);
	free(rep->by);
}

void wafa_rules_close(struct wafa_rules *r)
{
	if (!r)
		return;
	lua_State *L = wafa_sandbox_state(r->sb);
	for (int i = 0; i < r->nrules; i++)
		rule_free(&r->rules[i], L);
	free(r->rules);
	for (int i = 0; i < r->ncals; i++)
		wafa_calendar_free(r->cals[i]);
	free(r->cals);
	for (int i = 0; i < r->nreports; i++)
		report_free(&r->reports[i]);
	free(r->reports);
	mails_clear(r);
	free(r->mails);
	free(r);
}

static char *field_string(lua_State *L, int idx, const char *name)
{
	char *s = NULL;

	lua_getfield(L, idx, name);
	if (lua_type(L, -1) == LUA_TSTRING)
		s = strdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	return s;
}

/* Takes the report declaration on the stack top.  Returns 0 or -ENOMEM. */
static int take_report(struct wafa_rules *r, lua_State *L)
{
	int top = lua_gettop(L);
	struct wafa_report_decl rep = { 0 }, *grown;

	rep.name = field_string(L, top, "name");
	rep.where = field_string(L, top, "where");
	rep.to = field_string(L, top, "to");
	rep.locale = field_string(L, top, "locale");
	rep.by = field_string(L, top, "by");
	lua_getfield(L, top, "every");
	rep.every_ms = (int64_t)lua_tointeger(L, -1);
	lua_pop(L, 1);
	grown = realloc(r->reports, (size_t)(r->nreports + 1) * sizeof(*grown));
	if (!rep.name || !rep.where || !rep.to || !grown) {
		if (grown)
			r->reports = grown;
		report_free(&rep);
		return -ENOMEM;
	}
	size_t n = strlen(rep.where);
	while (n > 0 && (rep.where[n - 1] == ' ' || rep.where[n - 1] == ':'))
		rep.where[--n] = '\0';
	r->reports = grown;
	r->reports[r->nreports++] = rep;
	return 0;
}

static int field_ref(lua_State *L, int idx, const char *name)
{
	lua_getfield(L, idx, name);
	if (lua_isfunction(L, -1))
		return luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	return LUA_NOREF;
}

static struct wafa_calendar *find_calendar(struct wafa_rules *r, const char *name)
{
	for (int i = 0; i < r->ncals; i++)
		if (strcmp(wafa_calendar_name(r->cals[i]), name) == 0)
			return r->cals[i];
	return NULL;
}

/* The helpdesk's own status names, compared without regard to case (full
 * Unicode case folding: "WAITING" and "waiting", Arabic as it is) and to
 * spaces around them.  A malloc'ed copy, or NULL. */
static char *fold(const char *s)
{
	static UCaseMap *map; /* the loop thread's, kept */
	UErrorCode ec = U_ZERO_ERROR;
	bool ascii = true;
	size_t len;
	char *out;
	int32_t n;

	if (!s)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len && ascii; i++)
		ascii = !(s[i] & 0x80);
	if (ascii || len > INT32_MAX / 3 || (!map && !(map = ucasemap_open(NULL, U_FOLD_CASE_DEFAULT,
	                                                                    &ec)))) {
		/* ASCII (or no ICU map): its letters lowered, the rest as it is */
		if ((out = malloc(len + 1))) {
			for (size_t i = 0; i < len; i++)
				out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
			out[len] = '\0';
		}
		return out;
	}
	n = ucasemap_utf8FoldCase(map, NULL, 0, s, (int32_t)len, &ec);
	if (ec != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(ec))
		n = -1; /* not UTF-8 */
	if (!(out = malloc(n >= 0 ? (size_t)n + 1 : len + 1)))
		return NULL;
	ec = U_ZERO_ERROR;
	if (n >= 0)
		ucasemap_utf8FoldCase(map, out, n + 1, s, (int32_t)len, &ec);
	if (n < 0 || U_FAILURE(ec)) {
		memcpy(out, s, len); /* compared as it is */
		out[len] = '\0';
	}
	return out;
}

/* Pause bits by rule name, for the life of the process (rules.h). */
static char *pause_names[WAFA_PAUSE_BITS];

const char *wafa_rules_pause_name(int bit)
{
	return bit >= 0 && bit < WAFA_PAUSE_BITS ? pause_names[bit] : NULL;
}

int wafa_rules_pause_bit(const char *name)
{
	for (int b = 0; b < WAFA_PAUSE_BITS && pause_names[b]; b++)
		if (strcmp(pause_names[b], name) == 0)
			return b;
	return -1;
}

/* The rule name's bit, given out if it has none; -1 when all are taken
 * (or out of memory). */
static int pause_bit_take(const char *name)
{
	int b = wafa_rules_pause_bit(name);

	if (b >= 0)
		return b;
	for (b = 0; b < WAFA_PAUSE_BITS; b++)
		if (!pause_names[b])
			return (pause_names[b] = strdup(name)) ? b : -1;
	return -1;
}

/* Turns the declaration table on the stack top into a rule.  Returns 0,
 * -ENOMEM, or -EINVAL having reported the problem. */
static int take_decl(struct wafa_rules *r, lua_State *L, struct wafa_rule *rule, FILE *report)
{
	int top = lua_gettop(L);
	char *s;

	memset(rule, 0, sizeof(*rule));
	rule->when_ref = rule->target_ref = rule->at_ref = LUA_NOREF;
	rule->until_ref = rule->unless_ref = rule->audience_ref = rule->answer_ref = LUA_NOREF;
	rule->slot = rule->cal_slot = -1;
	rule->cal_ref = rule->pause_fn_ref = LUA_NOREF;
	rule->pause_bit = -1;
	rule->name = field_string(L, top, "name");
	rule->where = field_string(L, top, "where");
	if (!rule->name || !rule->where)
		return -ENOMEM;
	/* luaL_where gives "file:line: " */
	size_t n = strlen(rule->where);
	while (n > 0 && (rule->where[n - 1] == ' ' || rule->where[n - 1] == ':'))
		rule->where[--n] = '\0';
	s = field_string(L, top, "kind");
	rule->kind = !s ? WAFA_RULE_SLA
	           : strcmp(s, "promise") == 0 ? WAFA_RULE_PROMISE
	           : strcmp(s, "followup") == 0 ? WAFA_RULE_FOLLOWUP
	           : strcmp(s, "offer") == 0 ? WAFA_RULE_OFFER : WAFA_RULE_SLA;
	free(s);
	s = field_string(L, top, rule->kind == WAFA_RULE_PROMISE ? "at" : "start");
	rule->start = s ? wafa_ticket_time_index(s) : WAFA_T_CREATED_AT;
	free(s);
	s = field_string(L, top, "stop");
	rule->stop = s ? wafa_ticket_time_index(s) : -1;
	free(s);
	lua_getfield(L, top, "target");
	for (int p = 0; p < WAFA_P_N; p++) {
		rule->target_ms[p] = -1;
		if (lua_istable(L, -1)) {
			lua_getfield(L, -1, priority_names[p]);
			if (lua_isinteger(L, -1))
				rule->target_ms[p] = (int64_t)lua_tointeger(L, -1);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	rule->when_ref = field_ref(L, top, "when");
	rule->target_ref = field_ref(L, top, "target_fn");
	rule->at_ref = field_ref(L, top, "at_fn");
	rule->until_ref = field_ref(L, top, "until_fn");
	rule->unless_ref = field_ref(L, top, "unless_fn");
	rule->audience_ref = field_ref(L, top, "audience");
	rule->answer_ref = field_ref(L, top, "answer_fn");
	lua_getfield(L, top, "every");
	rule->every_ms = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : 0;
	lua_getfield(L, top, "goal");
	rule->goal_pct = lua_isnumber(L, -1) ? (double)lua_tonumber(L, -1) : 0;
	lua_pop(L, 2);
	if (rule->target_ref != LUA_NOREF || rule->at_ref != LUA_NOREF)
		rule->slot = r->nslots++;
	rule->cal_ref = field_ref(L, top, "calendar_fn");
	if (rule->cal_ref != LUA_NOREF)
		rule->cal_slot = r->nslots++;
	lua_getfield(L, top, "pause");
	if (lua_istable(L, -1)) {
		for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
			int st = wafa_status_index(lua_tostring(L, -1));
			if (st >= 0)
				rule->pause_mask |= 1u << st;
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_getfield(L, top, "pause_raw");
	if (lua_istable(L, -1)) {
		size_t nraw = (size_t)luaL_len(L, -1);
		rule->pause_raw = calloc(nraw + 1, sizeof(*rule->pause_raw));
		for (size_t i = 0; rule->pause_raw && i < nraw; i++) {
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
			rule->pause_raw[i] = fold(lua_tostring(L, -1));
			lua_pop(L, 1);
			if (!rule->pause_raw[i])
				break;
			rule->npause_raw++;
		}
		if (!rule->pause_raw || (size_t)rule->npause_raw != nraw) {
			lua_settop(L, top);
			return -ENOMEM;
		}
	}
	lua_pop(L, 1);
	rule->pause_fn_ref = field_ref(L, top, "pause_fn");
	if (rule->npause_raw > 0 || rule->pause_fn_ref != LUA_NOREF) {
		rule->pause_bit = pause_bit_take(rule->name);
		if (rule->pause_bit < 0) {
			fprintf(report, "%s: pause: more than %d rules have paused on a raw status or a "
			                "function since wafa started; restart wafa (a reload keeps the "
			                "names it has seen), or pause fewer rules so\n",
			        rule->where, WAFA_PAUSE_BITS);
			return -EINVAL;
		}
	}
	lua_getfield(L, top, "restart_on_reopen");
	rule->restart_on_reopen = lua_toboolean(L, -1);
	lua_getfield(L, top, "notify_business");
	rule->notify_business = lua_toboolean(L, -1);
	lua_pop(L, 2);
	s = field_string(L, top, "calendar");
	if (s) {
		rule->cal = find_calendar(r, s);
		if (!rule->cal) {
			fprintf(report, "%s: calendar \"%s\" is not declared; declare it with "
			                "calendar \"%s\" { timezone = ..., hours = { ... } } in this "
			                "file or one loaded before it\n",
			        rule->where, s, s);
			free(s);
			return -EINVAL;
		}
		free(s);
	}
	lua_getfield(L, top, "phases");
	rule->nphases = (int)luaL_len(L, -1);
	rule->phases = calloc((size_t)rule->nphases + 1, sizeof(*rule->phases));
	if (!rule->phases) {
		rule->nphases = 0;
		lua_settop(L, top);
		return -ENOMEM;
	}
	for (int i = 0; i < rule->nphases; i++) {
		struct wafa_phase *ph = &rule->phases[i];
		lua_geti(L, -1, i + 1);
		ph->name = field_string(L, -1, "name");
		lua_getfield(L, -1, "pct");
		ph->pct = (int)lua_tointeger(L, -1);
		lua_getfield(L, -2, "offset");
		ph->offset_ms = (int64_t)lua_tointeger(L, -1);
		lua_pop(L, 2);
		ph->fn_ref = field_ref(L, -1, "fn");
		lua_getfield(L, -1, "due");
		bool due = lua_toboolean(L, -1);
		lua_pop(L, 2);
		if (!ph->name) {
			lua_settop(L, top);
			return -ENOMEM;
		}
		if (due)
			ph->kind = WAFA_PHASE_DUE;
		else if (strncmp(ph->name, "warn", 4) == 0)
			ph->kind = WAFA_PHASE_WARN;
		else if (ph->offset_ms > 0 || (i > 0 && rule->phases[i - 1].kind != WAFA_PHASE_WARN))
			ph->kind = WAFA_PHASE_ESCALATE;
		else
			ph->kind = WAFA_PHASE_BREACH;
	}
	lua_settop(L, top);
	return 0;
}

/* Builds a calendar from the declaration on the stack top.  Returns 0,
 * -ENOMEM, or -EINVAL having reported the problem. */
static int take_calendar(struct wafa_rules *r, lua_State *L, FILE *report)
{
	int top = lua_gettop(L), err = 0;
	char *name = field_string(L, top, "name"), *where = field_string(L, top, "where");
	char *tz = field_string(L, top, "timezone");
	struct wafa_calendar *cal = NULL, **grown;
	char why[256];

	if (!name || !where || !tz) {
		err = -ENOMEM;
		goto out;
	}
	if (find_calendar(r, name)) {
		fprintf(report, "%scalendar \"%s\" is already declared; rename one\n", where, name);
		err = -EINVAL;
		goto out;
	}
	err = wafa_calendar_new(name, tz, &cal, why, sizeof(why));
	if (err) {
		if (err == -EINVAL)
			fprintf(report, "%scalendar \"%s\": %s\n", where, name, why);
		goto out;
	}
	lua_getfield(L, top, "hours");
	for (lua_Integer i = 1; !err && lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
		lua_getfield(L, -1, "day");
		lua_getfield(L, -2, "spec");
		lua_getfield(L, -3, "text");
		err = wafa_calendar_set_hours(cal, (int)lua_tointeger(L, -3), lua_tostring(L, -2), why,
		                              sizeof(why));
		if (err == -EINVAL)
			fprintf(report, "%scalendar \"%s\": hours.%s: %s\n", where, name,
			        lua_tostring(L, -1), why);
		lua_pop(L, 4);
	}
	lua_settop(L, top);
	lua_getfield(L, top, "holidays");
	for (lua_Integer i = 1; !err && lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
		static const char *const kinds[] = { "date", "yearly", "hijri", "persian" };
		int k = 0;
		char *kind = field_string(L, -1, "kind");
		for (int j = 0; kind && j < 4; j++)
			if (strcmp(kind, kinds[j]) == 0)
				k = j;
		free(kind);
		lua_getfield(L, -1, "year");
		lua_getfield(L, -2, "month");
		lua_getfield(L, -3, "day");
		lua_getfield(L, -4, "text");
		err = wafa_calendar_add_holiday(cal, (enum wafa_holiday_kind)k,
		                                (int)lua_tointeger(L, -4), (int)lua_tointeger(L, -3),
		                                (int)lua_tointeger(L, -2), why, sizeof(why));
		if (err == -EINVAL)
			fprintf(report, "%scalendar \"%s\": holiday %s: %s\n", where, name,
			        lua_tostring(L, -1), why);
		lua_pop(L, 5);
	}
	lua_settop(L, top);
	lua_getfield(L, top, "special");
	for (lua_Integer i = 1; !err && lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
		int period = lua_gettop(L), kinds[2] = { 0, 0 }, ymd[2][3];
		char *text = field_string(L, period, "text");
		for (int b = 0; b < 2; b++) {
			static const char *const names[] = { "date", "yearly", "hijri", "persian" };
			lua_getfield(L, period, b == 0 ? "from" : "to");
			char *kind = field_string(L, -1, "kind");
			for (int j = 0; kind && j < 4; j++)
				if (strcmp(kind, names[j]) == 0)
					kinds[b] = j;
			free(kind);
			lua_getfield(L, -1, "year");
			lua_getfield(L, -2, "month");
			lua_getfield(L, -3, "day");
			for (int k = 0; k < 3; k++)
				ymd[b][k] = (int)lua_tointeger(L, -3 + k);
			lua_settop(L, period);
		}
		int idx = wafa_calendar_add_special(cal, (enum wafa_holiday_kind)kinds[0], ymd[0][0],
		                                    ymd[0][1], ymd[0][2], ymd[1][0], ymd[1][1], ymd[1][2],
		                                    why, sizeof(why));
		if (idx < 0) {
			err = idx;
			if (err == -EINVAL)
				fprintf(report, "%scalendar \"%s\": special period %s: %s\n", where, name,
				        text ? text : "?", why);
		}
		lua_getfield(L, period, "hours");
		for (lua_Integer h = 1; !err && lua_rawgeti(L, -1, h) == LUA_TTABLE; h++) {
			lua_getfield(L, -1, "day");
			lua_getfield(L, -2, "spec");
			lua_getfield(L, -3, "text");
			err = wafa_calendar_set_special_hours(cal, idx, (int)lua_tointeger(L, -3),
			                                      lua_tostring(L, -2), why, sizeof(why));
			if (err == -EINVAL)
				fprintf(report, "%scalendar \"%s\": special period %s: %s: %s\n", where,
				        name, text ? text : "?", lua_tostring(L, -1), why);
			lua_pop(L, 4);
		}
		free(text);
		lua_settop(L, period - 1);
	}
	lua_settop(L, top);
	if (err)
		goto out;
	grown = realloc(r->cals, (size_t)(r->ncals + 1) * sizeof(*grown));
	if (!grown) {
		err = -ENOMEM;
		goto out;
	}
	r->cals = grown;
	r->cals[r->ncals++] = cal;
	cal = NULL;
out:
	wafa_calendar_free(cal);
	free(name);
	free(where);
	free(tz);
	return err;
}

/* Runs one file and takes its declarations.  Returns 0 or -EINVAL having
 * reported the problem. */
static int load_file(struct wafa_rules *r, const char *path, FILE *report)
{
	lua_State *L = wafa_sandbox_state(r->sb);
	char why[1024];
	char *text = NULL;
	int err = wafa_sandbox_run_file(r->sb, path, why, sizeof(why), &text);
	int n, first = r->nrules, first_cal = r->ncals, first_slot = r->nslots;
	int first_report = r->nreports;
	unsigned named = 0;

	/* the optional columns the file names anywhere (a rule, an action, a
	 * comment): only those are read for scheduling (wafa_rules_columns) */
	for (int i = WAFA_T_FIRST_OPTIONAL; text && i < WAFA_T_NSTR; i++)
		if (strstr(text, wafa_ticket_str_names[i]))
			named |= 1u << (i - WAFA_T_FIRST_OPTIONAL);
	free(text);

	/* take what was declared even on failure, to drop it */
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->take_ref);
	if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return -ENOMEM;
	}
	n = (int)luaL_len(L, -1);
	if (err) {
		fprintf(report, "%s\n", why);
		lua_pop(L, 1);
		return -EINVAL;
	}
	struct wafa_rule *rules = realloc(r->rules, (size_t)(r->nrules + n + 1) * sizeof(*rules));
	if (!rules) {
		lua_pop(L, 1);
		return -ENOMEM;
	}
	r->rules = rules;
	for (int i = 1; i <= n; i++) {
		lua_geti(L, -1, i);
		lua_getfield(L, -1, "kind");
		if (strcmp(lua_tostring(L, -1), "calendar") == 0) {
			lua_pop(L, 1);
			err = take_calendar(r, L, report);
			lua_pop(L, 1);
			if (err)
				break;
			continue;
		}
		if (strcmp(lua_tostring(L, -1), "report") == 0) {
			lua_pop(L, 1);
			err = take_report(r, L);
			lua_pop(L, 1);
			for (int j = 0; !err && j < r->nreports - 1; j++) {
				if (strcmp(r->reports[j].name, r->reports[r->nreports - 1].name) == 0) {
					fprintf(report, "%s: report \"%s\" is already declared at %s; "
					                "rename one\n",
					        r->reports[r->nreports - 1].where, r->reports[j].name,
					        r->reports[j].where);
					err = -EINVAL;
				}
			}
			if (err)
				break;
			continue;
		}
		lua_pop(L, 1);
		err = take_decl(r, L, &r->rules[r->nrules], report);
		lua_pop(L, 1);
		r->nrules++;
		if (err)
			break;
		for (int j = 0; j < r->nrules - 1; j++) {
			if (strcmp(r->rules[j].name, r->rules[r->nrules - 1].name) == 0) {
				fprintf(report, "%s: rule \"%s\" is already declared at %s; rename one\n",
				        r->rules[r->nrules - 1].where, r->rules[j].name,
				        r->rules[j].where);
				err = -EINVAL;
				break;
			}
		}
		if (err)
			break;
	}
	lua_pop(L, 1);
	if (err) {
		/* the file is disabled whole */
		while (r->nrules > first)
			rule_free(&r->rules[--r->nrules], L);
		while (r->ncals > first_cal)
			wafa_calendar_free(r->cals[--r->ncals]);
		while (r->nreports > first_report)
			report_free(&r->reports[--r->nreports]);
		r->nslots = first_slot;
	} else {
		r->named_optional |= named;
	}
	return err;
}

unsigned wafa_rules_columns(const struct wafa_rules *r)
{
	return r->named_optional;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int wafa_rules_load_dir(struct wafa_rules *r, const char *dir, FILE *report)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int problems = 0;

	if (!d) {
		int err = -errno;
		fprintf(report, "%s: cannot read the rules directory: %s\n", dir, strerror(errno));
		return err;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0)
			continue;
		/* NAME_test.lua beside the rules is a test for `wafa test` */
		if (len > 9 && strcmp(e->d_name + len - 9, "_test.lua") == 0)
			continue;
		if (n == cap) {
			char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));
			if (!grown)
				break;
			names = grown;
		}
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0)
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		if (load_file(r, names[i], report) != 0)
			problems++;
		free(names[i]);
	}
	free(names);
	return problems;
}

static int64_t target_of(const struct wafa_rule *rule, const struct wafa_ticket *t)
{
	const char *p = wafa_ticket_str(t, WAFA_T_PRIORITY);

	for (int i = 0; p && i < WAFA_P_DEFAULT; i++)
		if (strcmp(p, priority_names[i]) == 0 && rule->target_ms[i] >= 0)
			return rule->target_ms[i];
	return rule->target_ms[WAFA_P_DEFAULT];
}

/* What a call passes to a rule: the function and its arguments, pushed in a
 * protected call, since the pushes allocate and an allocation that fails
 * outside lua_pcall aborts the process. */
struct call_args {
	const char *name; /* the rule's, for the watchdog's note */
	int ref;
	struct wafa_ticket *t;
	const struct wafa_rule *rule;
	const struct wafa_phase *ph;
	const struct wafa_firing *f;
	const struct wafa_customer *c;
	int64_t instance; /* an offer's */
	const struct wafa_answer *ans; /* on_answer's `a` */
	const struct wafa_calendar *cal; /* the ticket's, for s.calendar */
};

static void push_customer(lua_State *L, const struct wafa_customer *c);
static void push_firing(lua_State *L, const struct wafa_rule *rule, const struct wafa_phase *ph,
                        const struct wafa_firing *f, const struct wafa_calendar *cal);

static int push_call_args(lua_State *L)
{
	const struct call_args *a = lua_touserdata(L, 1);

	lua_pop(L, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, a->ref);
	if (a->t)
		wafa_ticket_push(L, a->t);
	if (a->c)
		push_customer(L, a->c);
	if (a->ans) {
		lua_createtable(L, 0, 6);
		lua_pushinteger(L, (lua_Integer)a->ans->mail_id);
		lua_setfield(L, -2, "id");
		lua_pushinteger(L, a->ans->score);
		lua_setfield(L, -2, "score");
		if (a->ans->comment) {
			lua_pushstring(L, a->ans->comment);
			lua_setfield(L, -2, "comment");
		}
		if (a->ans->survey) {
			lua_pushstring(L, a->ans->survey);
			lua_setfield(L, -2, "survey");
		}
		if (a->ans->rule) {
			lua_pushstring(L, a->ans->rule);
			lua_setfield(L, -2, "rule");
		}
		lua_pushinteger(L, (lua_Integer)wafa_ms_to_s(a->ans->at));
		lua_setfield(L, -2, "at");
	} else if (a->f) {
		push_firing(L, a->rule, a->ph, a->f, a->cal);
	} else if (a->ph) {
		lua_createtable(L, 0, 4);
		lua_pushstring(L, a->rule->name);
		lua_setfield(L, -2, "rule");
		lua_pushstring(L, "offer");
		lua_setfield(L, -2, "kind");
		lua_pushstring(L, a->ph->name);
		lua_setfield(L, -2, "phase");
		lua_pushinteger(L, (lua_Integer)a->instance);
		lua_setfield(L, -2, "instance");
	}
	return lua_gettop(L);
}

/* Pushes a's function and arguments, then calls it in the sandbox. */
static int call_rule(struct wafa_rules *r, const struct call_args *a, int nresults, char *why,
                     size_t whylen)
{
	lua_State *L = wafa_sandbox_state(r->sb);
	int top = lua_gettop(L);

	if (a->t && wafa_watchdog_skip(a->name, a->t->id)) {
		snprintf(why, whylen, "not run: it hung the loop at the last two watchdog restarts");
		return -ETIME;
	}
	wafa_watchdog_doing(a->name, a->t ? a->t->id : -1);
	lua_pushcfunction(L, push_call_args);
	lua_pushlightuserdata(L, (void *)a);
	if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK) {
		lua_settop(L, top);
		snprintf(why, whylen, "out of memory passing the data to the rule (the rules' memory "
		                      "cap is set by [rules] memory)");
		return -ENOMEM;
	}
	int err = wafa_sandbox_call(r->sb, lua_gettop(L) - top - 1, nresults, why, whylen);
	wafa_watchdog_doing(NULL, -1);
	return err;
}

/* Does the rule's when(t) hold?  An error counts as no, and is logged.  The
 * answer is kept until the ticket's data changes, so a firing or a
 * notification that changed nothing does not run every rule's when again. */
bool wafa_rules_applies(struct wafa_rules *r, int rule_i, struct wafa_ticket *t)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	lua_State *L = wafa_sandbox_state(r->sb);
	char why[512];
	bool yes;

	if (rule->when_ref == LUA_NOREF)
		return true;
	if (t->nwhen != (size_t)r->nrules) {
		unsigned char *when = calloc((size_t)r->nrules, 1);
		if (when) {
			free(t->when);
			t->when = when;
			t->nwhen = (size_t)r->nrules;
		}
	}
	if (t->nwhen > (size_t)rule_i && t->when[rule_i])
		return t->when[rule_i] == 2;
	struct call_args a = { .name = rule->name, .ref = rule->when_ref, .t = t };
	if (call_rule(r, &a, 1, why, sizeof(why)) != 0) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: when: %s", rule->name,
		         (long long)t->id, why);
		yes = false;
	} else {
		yes = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	if (t->nwhen > (size_t)rule_i)
		t->when[rule_i] = yes ? 2 : 1;
	return yes;
}

/* Sizes the ticket's value cache for the loaded rules (empty: INT64_MAX). */
static void vals_ready(struct wafa_rules *r, struct wafa_ticket *t)
{
	if (t->nvals != (size_t)r->nslots) {
		int64_t *vals = malloc((size_t)r->nslots * sizeof(*vals));
		if (vals) {
			for (int i = 0; i < r->nslots; i++)
				vals[i] = INT64_MAX;
			free(t->vals);
			t->vals = vals;
			t->nvals = (size_t)r->nslots;
		}
	}
}

/* Calls a rule's target or at function; its answer (ms, or WAFA_NO_TIME for
 * none) is kept in the ticket's value cache until the data changes. */
static int64_t call_value(struct wafa_rules *r, int rule_i, struct wafa_ticket *t, int ref,
                          bool is_at)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	lua_State *L = wafa_sandbox_state(r->sb);
	int64_t v = WAFA_NO_TIME;
	char why[512];
	const char *what = is_at ? "at" : "target";

	vals_ready(r, t);
	if (t->nvals > (size_t)rule->slot && t->vals[rule->slot] != INT64_MAX)
		return t->vals[rule->slot];
	struct call_args a = { .name = rule->name, .ref = ref, .t = t };
	if (call_rule(r, &a, 1, why, sizeof(why)) != 0) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: %s: %s", rule->name,
		         (long long)t->id, what, why);
		wafa_metrics_rule_error(rule->name);
	} else {
		/* instants from 1970 to 2200, targets up to 100 years: the deadline
		 * arithmetic after it cannot overflow */
		if (lua_isinteger(L, -1) && is_at) {
			lua_Integer sec = lua_tointeger(L, -1);
			if (sec >= 0 && sec < 7258118400LL)
				v = (int64_t)sec * 1000;
		} else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
		           lua_tointeger(L, -1) <= 100LL * 366 * 86400) {
			v = (int64_t)lua_tointeger(L, -1) * 1000;
		} else if (lua_type(L, -1) == LUA_TSTRING && !is_at &&
		           wafa_duration_parse_days(lua_tostring(L, -1), &v, &(const char *){ NULL }) ==
		               0) {
			/* "2bd": business days, turned into business time by deadline.c */
		} else if (lua_type(L, -1) == LUA_TSTRING && !is_at) {
			const char *dwhy;
			int bad = wafa_duration_parse(lua_tostring(L, -1), &v, &dwhy);
			if (!bad && v > 100LL * 366 * 86400000) {
				bad = 1;
				dwhy = "longer than 100 years";
			}
			if (bad) {
				wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: target \"%s\": %s",
				         rule->name, (long long)t->id, lua_tostring(L, -1), dwhy);
				wafa_metrics_rule_error(rule->name);
				v = WAFA_NO_TIME;
			}
		} else if (!lua_isnil(L, -1)) {
			wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: %s returned %s; expected %s",
			         rule->name, (long long)t->id, what, luaL_typename(L, -1),
			         is_at ? "Unix seconds (an integer) or nil"
			               : "a duration like \"4h\" or \"2bd\", seconds, or nil");
			wafa_metrics_rule_error(rule->name);
		}
		lua_pop(L, 1);
	}
	if (t->nvals > (size_t)rule->slot)
		t->vals[rule->slot] = v;
	return v;
}

int64_t wafa_rules_target(struct wafa_rules *r, int rule_i, struct wafa_ticket *t)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	int64_t v;

	if (rule->target_ref == LUA_NOREF)
		return target_of(rule, t);
	v = call_value(r, rule_i, t, rule->target_ref, false);
	return v == WAFA_NO_TIME ? -1 : v;
}

int64_t wafa_rules_at(struct wafa_rules *r, int rule_i, struct wafa_ticket *t)
{
	const struct wafa_rule *rule = &r->rules[rule_i];

	if (rule->at_ref == LUA_NOREF)
		return rule->start >= 0 ? t->time[rule->start] : WAFA_NO_TIME;
	return call_value(r, rule_i, t, rule->at_ref, true);
}

struct wafa_calendar *wafa_rules_calendar(struct wafa_rules *r, int rule_i, struct wafa_ticket *t)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	lua_State *L = wafa_sandbox_state(r->sb);
	int64_t v = 0; /* 0: none; i + 1: r->cals[i] */
	char why[512];

	if (rule->cal_ref == LUA_NOREF)
		return rule->cal;
	vals_ready(r, t);
	if (t->nvals > (size_t)rule->cal_slot && t->vals[rule->cal_slot] != INT64_MAX) {
		v = t->vals[rule->cal_slot];
		return v > 0 && v <= r->ncals ? r->cals[v - 1] : NULL;
	}
	struct call_args a = { .name = rule->name, .ref = rule->cal_ref, .t = t };
	if (call_rule(r, &a, 1, why, sizeof(why)) != 0) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: calendar: %s (wall-clock time "
		                              "is used)",
		         rule->name, (long long)t->id, why);
		wafa_metrics_rule_error(rule->name);
	} else {
		if (lua_type(L, -1) == LUA_TSTRING) {
			for (int i = 0; i < r->ncals; i++)
				if (strcmp(wafa_calendar_name(r->cals[i]), lua_tostring(L, -1)) == 0)
					v = i + 1;
		}
		if (v == 0 && !lua_isnil(L, -1)) {
			wafa_log(WAFA_ERROR, "rules",
			         "rule=%s ticket=%lld: calendar returned %s%s%s: not a declared calendar "
			         "(declare it with calendar \"NAME\" { ... }; wall-clock time is used)",
			         rule->name, (long long)t->id, luaL_typename(L, -1),
			         lua_type(L, -1) == LUA_TSTRING ? " " : "",
			         lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "");
			wafa_metrics_rule_error(rule->name);
		}
		lua_pop(L, 1);
	}
	if (t->nvals > (size_t)rule->cal_slot)
		t->vals[rule->cal_slot] = v;
	return v > 0 ? r->cals[v - 1] : NULL;
}

uint32_t wafa_rules_pauses(struct wafa_rules *r, struct wafa_ticket *t)
{
	lua_State *L = wafa_sandbox_state(r->sb);
	const char *raw = wafa_ticket_str(t, WAFA_T_RAW_STATUS);
	char *folded = NULL, why[512];
	bool folded_tried = false;
	uint32_t paused = 0;

	for (int i = 0; i < r->nrules; i++) {
		const struct wafa_rule *rule = &r->rules[i];
		bool yes = false;
		/* asked only of the tickets the rule applies to (its when) */
		if (rule->pause_bit < 0 || !wafa_rules_applies(r, i, t))
			continue;
		if (rule->npause_raw > 0 && raw && !folded_tried) {
			folded = fold(raw);
			folded_tried = true;
		}
		for (int k = 0; folded && k < rule->npause_raw && !yes; k++)
			yes = strcmp(folded, rule->pause_raw[k]) == 0;
		if (!yes && rule->pause_fn_ref != LUA_NOREF) {
			struct call_args a = { .name = rule->name, .ref = rule->pause_fn_ref, .t = t };
			if (call_rule(r, &a, 1, why, sizeof(why)) != 0) {
				wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: pause: %s (%s: the "
				                              "clock runs for this ticket until it changes; "
				                              "fix the function)",
				         rule->name, (long long)t->id, why, rule->where);
				wafa_metrics_rule_error(rule->name);
			} else {
				yes = lua_toboolean(L, -1);
				lua_pop(L, 1);
			}
		}
		if (yes)
			paused |= 1u << rule->pause_bit;
	}
	free(folded);
	return paused;
}

/* Pushes the `s` table of a firing; cal is the ticket's calendar. */
static void push_firing(lua_State *L, const struct wafa_rule *rule, const struct wafa_phase *ph,
                        const struct wafa_firing *f, const struct wafa_calendar *cal)
{
	lua_createtable(L, 0, 10);
	lua_pushstring(L, rule->name);
	lua_setfield(L, -2, "rule");
	lua_pushstring(L, wafa_rule_kind_names[rule->kind]);
	lua_setfield(L, -2, "kind");
	lua_pushstring(L, ph->name);
	lua_setfield(L, -2, "phase");
	lua_pushinteger(L, (lua_Integer)f->instance);
	lua_setfield(L, -2, "instance");
	if (ph->kind == WAFA_PHASE_DUE) {
		lua_pushinteger(L, (lua_Integer)(ph - rule->phases) + 1);
		lua_setfield(L, -2, "count");
	}
	/* instants as Unix seconds; one that does not exist stays nil */
	struct { const char *name; int64_t ms; } times[] = {
		{ rule->kind == WAFA_RULE_PROMISE ? "at"
		  : rule->kind == WAFA_RULE_FOLLOWUP ? "since" : "start", f->start },
		{ "deadline", rule->kind == WAFA_RULE_FOLLOWUP ? WAFA_NO_TIME : f->deadline },
		{ "due", f->due },
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		if (times[i].ms == WAFA_NO_TIME)
			continue;
		lua_pushinteger(L, (lua_Integer)wafa_ms_to_s(times[i].ms));
		lua_setfield(L, -2, times[i].name);
	}
	lua_pushinteger(L, (lua_Integer)wafa_ms_to_s(f->target > 0 ? f->target : 0));
	lua_setfield(L, -2, "target");
	if (f->deadline != WAFA_NO_TIME && rule->kind != WAFA_RULE_FOLLOWUP) {
		lua_pushinteger(L, (lua_Integer)((wafa_clock_now_ms() - f->deadline) / 1000));
		lua_setfield(L, -2, "overdue");
	}
	if (cal) {
		lua_pushstring(L, wafa_calendar_name(cal));
		lua_setfield(L, -2, "calendar");
	}
}

/* Asks a follow-up's until or unless. */
static int ask(struct wafa_rules *r, struct wafa_ticket *t, int rule_i, int phase,
               const struct wafa_firing *f, int ref, const char *what)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	lua_State *L = wafa_sandbox_state(r->sb);
	char why[512];
	int yes;

	if (ref == LUA_NOREF)
		return 0;
	struct call_args a = { .name = rule->name, .ref = ref, .t = t, .rule = rule,
		               .ph = &rule->phases[phase], .f = f,
		               .cal = wafa_rules_calendar(r, rule_i, t) };
	if (call_rule(r, &a, 1, why, sizeof(why)) != 0) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: %s: %s", rule->name,
		         (long long)t->id, what, why);
		wafa_metrics_rule_error(rule->name);
		return -EINVAL;
	}
	yes = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return yes;
}

int wafa_rules_until(struct wafa_rules *r, struct wafa_ticket *t, int rule, int phase,
                     const struct wafa_firing *f)
{
	return ask(r, t, rule, phase, f, r->rules[rule].until_ref, "until");
}

int wafa_rules_unless(struct wafa_rules *r, struct wafa_ticket *t, int rule, int phase,
                      const struct wafa_firing *f)
{
	return ask(r, t, rule, phase, f, r->rules[rule].unless_ref, "unless");
}

static void push_customer(lua_State *L, const struct wafa_customer *c)
{
	struct { const char *name; const char *v; } strs[] = {
		{ "email", c->email }, { "name", c->name }, { "locale", c->locale }, { "tz", c->tz },
	};
	struct { const char *name; int64_t v; } nums[] = {
		{ "tickets", c->tickets }, { "open", c->open }, { "solved", c->solved },
	};
	struct { const char *name; int64_t ms; } times[] = {
		{ "first_contact", c->first_contact }, { "last_contact", c->last_contact },
		{ "last_breach", c->last_breach },
	};

	lua_createtable(L, 0, 10);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!strs[i].v)
			continue;
		lua_pushstring(L, strs[i].v);
		lua_setfield(L, -2, strs[i].name);
	}
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		lua_pushinteger(L, (lua_Integer)nums[i].v);
		lua_setfield(L, -2, nums[i].name);
	}
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		if (times[i].ms == WAFA_NO_TIME)
			continue;
		lua_pushinteger(L, (lua_Integer)wafa_ms_to_s(times[i].ms));
		lua_setfield(L, -2, times[i].name);
	}
}

int wafa_rules_audience(struct wafa_rules *r, int rule_i, const struct wafa_customer *c)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	lua_State *L = wafa_sandbox_state(r->sb);
	char why[512];
	int yes;

	struct call_args a = { .name = rule->name, .ref = rule->audience_ref, .c = c };
	if (call_rule(r, &a, 1, why, sizeof(why)) != 0) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s customer=%s: audience: %s", rule->name, c->email,
		         why);
		wafa_metrics_rule_error(rule->name);
		return -EINVAL;
	}
	yes = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return yes;
}

int wafa_rules_run_offer(struct wafa_rules *r, int rule_i, const struct wafa_customer *c,
                         int64_t instance)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	char why[512];
	int err;

	mails_clear(r);
	struct call_args a = { .name = rule->name, .ref = rule->phases[0].fn_ref, .rule = rule,
		               .ph = &rule->phases[0],
		               .c = c, .instance = instance };
	r->in_action = true;
	err = call_rule(r, &a, 0, why, sizeof(why));
	r->in_action = false;
	if (err) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s customer=%s: on_due: %s", rule->name, c->email,
		         why);
		wafa_metrics_rule_error(rule->name);
		mails_clear(r);
	}
	return err;
}

int wafa_rules_run(struct wafa_rules *r, struct wafa_ticket *t, int rule_i, int phase,
                   const struct wafa_firing *f)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	const struct wafa_phase *ph = &rule->phases[phase];
	char why[512];
	int err;

	struct wafa_calendar *cal = wafa_rules_calendar(r, rule_i, t);
	mails_clear(r);
	struct call_args a = { .name = rule->name, .ref = ph->fn_ref, .t = t, .rule = rule, .ph = ph,
		               .f = f, .cal = cal };
	r->in_action = true;
	err = call_rule(r, &a, 0, why, sizeof(why));
	r->in_action = false;
	if (err) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld phase=%s: %s", rule->name,
		         (long long)t->id, ph->name, why);
		wafa_metrics_rule_error(rule->name);
		mails_clear(r);
	}
	return err;
}

int wafa_rules_run_answer(struct wafa_rules *r, struct wafa_ticket *t, int rule_i,
                          const struct wafa_answer *ans)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	char why[512];
	int err;

	mails_clear(r);
	if (rule->answer_ref == LUA_NOREF)
		return 0;
	struct call_args a = { .name = rule->name, .ref = rule->answer_ref, .t = t, .rule = rule,
		               .ans = ans };
	r->in_action = true;
	err = call_rule(r, &a, 0, why, sizeof(why));
	r->in_action = false;
	if (err) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld: on_answer: %s", rule->name,
		         (long long)t->id, why);
		wafa_metrics_rule_error(rule->name);
		mails_clear(r);
	}
	return err;
}
