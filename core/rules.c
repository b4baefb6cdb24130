#include "rules.h"

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "duration.h"
#include "log.h"
#include "prelude.inc"
#include "zone.h"

#define MAX_SUBJECT 998
#define MAX_BODY (256 * 1024)
#define MAX_MAILS 20

static const char *const priority_names[WAFA_P_N] = { "low", "normal", "high", "urgent",
	                                              "default" };

/* c.duration(text) -> ms | nil, why */
static int c_duration(lua_State *L)
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

/* c.where(level) -> "file:line:" */
static int c_where(lua_State *L)
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
	lua_pushinteger(L, (lua_Integer)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000)));
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

static void mails_clear(struct wafa_rules *r)
{
	for (size_t i = 0; i < r->nmails; i++) {
		free(r->mails[i].to);
		free(r->mails[i].subject);
		free(r->mails[i].body);
	}
	r->nmails = 0;
}

/* mail { to = ..., subject = ..., body = ... } */
static int api_mail(lua_State *L)
{
	struct wafa_rules *r = lua_touserdata(L, lua_upvalueindex(1));
	struct wafa_mail_req m = { 0 };

	if (!r->in_action)
		return luaL_error(L, "mail: only an action (on_breach, on_warn) can send mail");
	luaL_checktype(L, 1, LUA_TTABLE);
	if (r->nmails >= MAX_MAILS)
		return luaL_error(L, "mail: at most %d mails per action", MAX_MAILS);
	if (r->nmails == r->mails_cap) {
		size_t cap = r->mails_cap ? r->mails_cap * 2 : 4;
		struct wafa_mail_req *mails = realloc(r->mails, cap * sizeof(*mails));
		if (!mails)
			return luaL_error(L, "mail: out of memory");
		r->mails = mails;
		r->mails_cap = cap;
	}
	/* Each field is copied before the next may raise, and an error frees
	 * nothing it took: collect into r->mails slot by slot. */
	struct wafa_mail_req *slot = &r->mails[r->nmails];
	*slot = m;
	r->nmails++;
	slot->to = mail_field(L, "to", true, true, 2000);
	if (!strchr(slot->to, '@'))
		return luaL_error(L, "mail: \"to\" = \"%s\" is not a mail address", slot->to);
	slot->subject = mail_field(L, "subject", true, true, MAX_SUBJECT);
	slot->body = mail_field(L, "body", false, false, MAX_BODY);
	if (!slot->body && !(slot->body = strdup("")))
		return luaL_error(L, "mail: out of memory");
	return 0;
}

static void rule_free(struct wafa_rule *rule, lua_State *L)
{
	for (int i = 0; i < rule->nphases; i++) {
		free(rule->phases[i].name);
		luaL_unref(L, LUA_REGISTRYINDEX, rule->phases[i].fn_ref);
	}
	luaL_unref(L, LUA_REGISTRYINDEX, rule->when_ref);
	free(rule->phases);
	free(rule->name);
	free(rule->where);
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
	lua_pushcfunction(L, c_duration);
	lua_setfield(L, -2, "duration");
	lua_pushcfunction(L, c_where);
	lua_setfield(L, -2, "where");
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

void wafa_rules_close(struct wafa_rules *r)
{
	if (!r)
		return;
	lua_State *L = wafa_sandbox_state(r->sb);
	for (int i = 0; i < r->nrules; i++)
		rule_free(&r->rules[i], L);
	free(r->rules);
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

static int field_ref(lua_State *L, int idx, const char *name)
{
	lua_getfield(L, idx, name);
	if (lua_isfunction(L, -1))
		return luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);
	return LUA_NOREF;
}

/* Turns the declaration table on the stack top into a rule. */
static int take_decl(struct wafa_rules *r, lua_State *L, struct wafa_rule *rule)
{
	int top = lua_gettop(L);
	char *s;

	memset(rule, 0, sizeof(*rule));
	rule->when_ref = LUA_NOREF;
	rule->name = field_string(L, top, "name");
	rule->where = field_string(L, top, "where");
	if (!rule->name || !rule->where)
		return -ENOMEM;
	/* luaL_where gives "file:line: " */
	size_t n = strlen(rule->where);
	while (n > 0 && (rule->where[n - 1] == ' ' || rule->where[n - 1] == ':'))
		rule->where[--n] = '\0';
	s = field_string(L, top, "start");
	rule->start = s ? wafa_ticket_time_index(s) : WAFA_T_CREATED_AT;
	free(s);
	s = field_string(L, top, "stop");
	rule->stop = s ? wafa_ticket_time_index(s) : -1;
	free(s);
	lua_getfield(L, top, "target");
	for (int p = 0; p < WAFA_P_N; p++) {
		lua_getfield(L, -1, priority_names[p]);
		rule->target_ms[p] = lua_isinteger(L, -1) ? (int64_t)lua_tointeger(L, -1) : -1;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	rule->when_ref = field_ref(L, top, "when");
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
		lua_pop(L, 1);
		if (!ph->name)
			return -ENOMEM;
	}
	lua_settop(L, top);
	(void)r;
	return 0;
}

/* Runs one file and takes its declarations.  Returns 0 or -EINVAL having
 * reported the problem. */
static int load_file(struct wafa_rules *r, const char *path, FILE *report)
{
	lua_State *L = wafa_sandbox_state(r->sb);
	char why[1024];
	int err = wafa_sandbox_run_file(r->sb, path, why, sizeof(why));
	int n, first = r->nrules;

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
		err = take_decl(r, L, &r->rules[r->nrules]);
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
	}
	return err;
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
	const char *p = t->str[WAFA_T_PRIORITY];

	for (int i = 0; p && i < WAFA_P_DEFAULT; i++)
		if (strcmp(p, priority_names[i]) == 0 && rule->target_ms[i] >= 0)
			return rule->target_ms[i];
	return rule->target_ms[WAFA_P_DEFAULT];
}

/* Does the rule's when(t) hold?  An error counts as no, and is logged.  The
 * answer is kept until the ticket's data changes, so a firing or a
 * notification that changed nothing does not run every rule's when again. */
static bool applies(struct wafa_rules *r, int rule_i, struct wafa_ticket *t)
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
	lua_rawgeti(L, LUA_REGISTRYINDEX, rule->when_ref);
	wafa_ticket_push(L, t);
	if (wafa_sandbox_call(r->sb, 1, 1, why, sizeof(why)) != 0) {
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

/* The deadline of a phase, given the applicable start and target. */
static int64_t phase_at(const struct wafa_phase *ph, int64_t start, int64_t target)
{
	if (ph->pct > 0)
		return start + target * ph->pct / 100;
	return start + target + ph->offset_ms;
}

int64_t wafa_rules_due(struct wafa_rules *r, struct wafa_ticket *t, int rule_i, int phase,
                       int64_t *instance)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	int64_t start = t->time[rule->start], target = target_of(rule, t);

	if (start == WAFA_NO_TIME || target < 0)
		return WAFA_NO_TIME;
	if (rule->stop >= 0 && t->time[rule->stop] != WAFA_NO_TIME)
		return WAFA_NO_TIME;
	if (!applies(r, rule_i, t))
		return WAFA_NO_TIME;
	*instance = start >= 0 ? start / 1000 : -((-start + 999) / 1000);
	return phase_at(&rule->phases[phase], start, target);
}

static struct wafa_done *find_done(struct wafa_ticket *t, int rule, int phase, int64_t instance)
{
	for (size_t i = 0; i < t->ndone; i++)
		if (t->done[i].rule == rule && t->done[i].phase == phase &&
		    t->done[i].instance == instance)
			return &t->done[i];
	return NULL;
}

int wafa_rules_mark(struct wafa_ticket *t, int rule, int phase, int64_t instance, bool pending)
{
	struct wafa_done *d = find_done(t, rule, phase, instance);

	if (!d) {
		if (t->ndone == t->done_cap) {
			size_t cap = t->done_cap ? t->done_cap * 2 : 4;
			struct wafa_done *grown = realloc(t->done, cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			t->done = grown;
			t->done_cap = cap;
		}
		d = &t->done[t->ndone++];
		d->rule = rule;
		d->phase = phase;
		d->instance = instance;
	}
	d->pending = pending;
	return 0;
}

void wafa_rules_unmark(struct wafa_ticket *t, int rule, int phase, int64_t instance)
{
	struct wafa_done *d = find_done(t, rule, phase, instance);

	if (d)
		*d = t->done[--t->ndone];
}

void wafa_rules_unschedule(struct wafa_heap *h, struct wafa_ticket *t)
{
	for (size_t i = 0; i < t->ndeadlines; i++) {
		wafa_heap_remove(h, t->deadlines[i]);
		free(t->deadlines[i]);
	}
	t->ndeadlines = 0;
}

static int add_deadline(struct wafa_heap *h, struct wafa_ticket *t, int rule, int phase,
                        int64_t instance, int64_t at)
{
	struct wafa_deadline *d = malloc(sizeof(*d));
	int err;

	if (!d)
		return -ENOMEM;
	if (t->ndeadlines == t->deadlines_cap) {
		size_t cap = t->deadlines_cap ? t->deadlines_cap * 2 : 4;
		struct wafa_deadline **grown = realloc(t->deadlines, cap * sizeof(*grown));
		if (!grown) {
			free(d);
			return -ENOMEM;
		}
		t->deadlines = grown;
		t->deadlines_cap = cap;
	}
	d->at_ms = t->retry_at != WAFA_NO_TIME && t->retry_at > at ? t->retry_at : at;
	d->ticket = t;
	d->rule = rule;
	d->phase = phase;
	d->instance = instance;
	err = wafa_heap_push(h, d);
	if (err) {
		free(d);
		return err;
	}
	t->deadlines[t->ndeadlines++] = d;
	return 0;
}

int wafa_rules_schedule(struct wafa_rules *r, struct wafa_heap *h, struct wafa_ticket *t)
{
	int err = 0;

	wafa_rules_unschedule(h, t);
	for (int i = 0; i < r->nrules && !err; i++) {
		const struct wafa_rule *rule = &r->rules[i];
		int64_t instance;
		if (rule->nphases == 0 || wafa_rules_due(r, t, i, 0, &instance) == WAFA_NO_TIME)
			continue;
		int64_t start = t->time[rule->start], target = target_of(rule, t);
		for (int p = 0; p < rule->nphases && !err; p++) {
			if (find_done(t, i, p, instance))
				continue;
			err = add_deadline(h, t, i, p, instance, phase_at(&rule->phases[p], start, target));
		}
	}
	return err;
}

int wafa_rules_run(struct wafa_rules *r, struct wafa_ticket *t, int rule_i, int phase,
                   int64_t instance)
{
	const struct wafa_rule *rule = &r->rules[rule_i];
	const struct wafa_phase *ph = &rule->phases[phase];
	lua_State *L = wafa_sandbox_state(r->sb);
	int64_t start = t->time[rule->start], target = target_of(rule, t);
	char why[512];
	int err;

	mails_clear(r);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ph->fn_ref);
	wafa_ticket_push(L, t);
	lua_createtable(L, 0, 8);
	lua_pushstring(L, rule->name);
	lua_setfield(L, -2, "rule");
	lua_pushstring(L, ph->name);
	lua_setfield(L, -2, "phase");
	lua_pushinteger(L, (lua_Integer)instance);
	lua_setfield(L, -2, "start");
	lua_pushinteger(L, (lua_Integer)(target / 1000));
	lua_setfield(L, -2, "target");
	lua_pushinteger(L, (lua_Integer)((start + target) / 1000));
	lua_setfield(L, -2, "deadline");
	lua_pushinteger(L, (lua_Integer)((wafa_clock_now_ms() - (start + target)) / 1000));
	lua_setfield(L, -2, "overdue");
	r->in_action = true;
	err = wafa_sandbox_call(r->sb, 2, 0, why, sizeof(why));
	r->in_action = false;
	if (err) {
		wafa_log(WAFA_ERROR, "rules", "rule=%s ticket=%lld phase=%s: %s", rule->name,
		         (long long)t->id, ph->name, why);
		mails_clear(r);
	}
	return err;
}
