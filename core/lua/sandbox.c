#include "lua/sandbox.h"

#include <errno.h>
#include <stdbool.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "lua/pattern.h"

#define HOOK_EVERY 1000 /* instructions between clock checks */
#define MAX_RULE_FILE (1024 * 1024)

struct wafa_sandbox {
	lua_State *L;
	size_t used, cap;
	int64_t budget_ms;
	int64_t stop_at; /* monotonic ms, while a call runs */
	int expired;
	int in_call;   /* a rule runs: the cap is cap, not cap + headroom */
	int out_of_memory; /* the rule hit the cap: every allocation fails */
	int api_ref;
};

/* Above the rules' cap the host keeps room of its own, to push a ticket, a
 * firing or a customer after a rule filled the state to the cap: a failed
 * allocation outside lua_pcall would abort() the daemon. */
static size_t headroom(const struct wafa_sandbox *sb)
{
	size_t h = sb->cap / 4;

	return h < 4 * 1024 * 1024 ? 4 * 1024 * 1024 : h;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lua's allocator with a cap.  With ptr == NULL, osize is a type tag, not a
 * size; shrinking never fails. */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct wafa_sandbox *sb = ud;
	size_t old = ptr ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		sb->used -= old;
		return NULL;
	}
	if (nsize > old) {
		size_t limit = sb->in_call ? sb->cap : sb->cap + headroom(sb);
		/* once a rule hit the cap it stays stopped, as after the budget:
		 * a pcall in the rule cannot swallow the stop and carry on */
		if (sb->in_call && sb->out_of_memory)
			return NULL;
		if (sb->used - old + nsize > limit) {
			if (sb->in_call)
				sb->out_of_memory = 1;
			return NULL;
		}
	}
	p = realloc(ptr, nsize);
	if (!p)
		return nsize <= old ? ptr : NULL;
	sb->used = sb->used - old + nsize;
	return p;
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
	struct wafa_sandbox *sb = *(struct wafa_sandbox **)lua_getextraspace(L);

	(void)ar;
	if (!sb->expired && mono_ms() < sb->stop_at)
		return;
	/* From now on stop at every instruction, so a pcall in the rule
	 * cannot swallow the stop and carry on. */
	sb->expired = 1;
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	luaL_error(L, "instruction budget of %I ms exceeded", (lua_Integer)sb->budget_ms);
}

/* Every call into Lua is protected; should one not be, say so before Lua
 * aborts, so the log shows why the daemon stopped. */
static int panic(lua_State *L)
{
	wafa_log(WAFA_ERROR, "rules", "Lua error outside a protected call (the daemon stops): %s",
	         lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "not enough memory");
	return 0;
}

static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (!msg)
		msg = luaL_typename(L, 1);
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* print() writes to the log, one line. */
static int sandbox_print(lua_State *L)
{
	luaL_Buffer b;
	int n = lua_gettop(L);

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		size_t len;
		const char *s = luaL_tolstring(L, i, &len);
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_addlstring(&b, s, len > 500 ? 500 : len);
		lua_pop(L, 1);
	}
	luaL_pushresult(&b);
	wafa_log(WAFA_INFO, "rule", "print: %s", lua_tostring(L, -1));
	return 0;
}

/* setmetatable() without __gc: finalizers run with hooks off, so a loop in
 * one would escape the budget.  It replaces the global one too, so not even
 * the rule library registers a finalizer: no Lua code runs outside a budget.
 * The field is read raw, as Lua itself reads it: an __index on the metatable
 * could answer nil and then set __gc before the real call. */
static int sandbox_setmetatable(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: __gc is not allowed in rules");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 2, 1);
	return 1;
}

/* xpcall() whose handler runs as ordinary code after the pcall: Lua runs a
 * message handler with hooks off, where a loop would escape the budget. */
static int sandbox_xpcall_finish(lua_State *L, int status, lua_KContext ctx)
{
	(void)ctx;
	if (status != LUA_OK && status != LUA_YIELD) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, 1);
		lua_pushvalue(L, -3);
		lua_call(L, 1, 1);
		return 2;
	}
	lua_pushboolean(L, 1);
	lua_replace(L, 1);
	return lua_gettop(L);
}

static int sandbox_xpcall(lua_State *L)
{
	int n = lua_gettop(L);

	luaL_checktype(L, 2, LUA_TFUNCTION);
	/* stack: f h args... -> h f args... */
	lua_pushvalue(L, 2);
	lua_pushvalue(L, 1);
	lua_replace(L, 2);
	lua_replace(L, 1);
	int status = lua_pcallk(L, n - 2, LUA_MULTRET, 0, 0, sandbox_xpcall_finish);
	return sandbox_xpcall_finish(L, status, 0);
}

/* Called by the pattern matcher every few thousand steps: the hook never
 * fires inside C, so a costly pattern is charged to the budget here, as it
 * runs (s:find("a*b") on 200 KB of "a" ran over a minute). */
static void budget_check(lua_State *L)
{
	struct wafa_sandbox *sb = *(struct wafa_sandbox **)lua_getextraspace(L);

	if (!sb->in_call)
		return;
	if (!sb->expired && mono_ms() < sb->stop_at)
		return;
	sb->expired = 1;
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	luaL_error(L, "instruction budget of %I ms exceeded", (lua_Integer)sb->budget_ms);
}

static const char *const base_allowed[] = {
	"assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawlen",
	"rawset", "select", "tonumber", "tostring", "type", "getmetatable", "_VERSION", NULL,
};
static const char *const libs_allowed[] = { "string", "table", "math", "utf8", NULL };

static int setup(lua_State *L)
{
	struct wafa_sandbox *sb = lua_touserdata(L, 1);

	luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
	luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
	luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
	luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
	lua_settop(L, 0);

	lua_getglobal(L, LUA_STRLIBNAME);
	wafa__pattern_install(L, 1, budget_check);
	lua_settop(L, 0);

	/* Strings' metatable leads to the shared string table: hide it. */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_settop(L, 0);

	/* The API table: vetted globals; the rules host adds the rule
	 * language.  Library tables are copied per rule file (run_file). */
	lua_newtable(L);
	for (const char *const *n = base_allowed; *n; n++) {
		lua_getglobal(L, *n);
		lua_setfield(L, -2, *n);
	}
	lua_pushcfunction(L, sandbox_print);
	lua_setfield(L, -2, "print");
	lua_getglobal(L, "setmetatable");
	lua_pushcclosure(L, sandbox_setmetatable, 1);
	lua_pushvalue(L, -1);
	lua_setglobal(L, "setmetatable");
	lua_setfield(L, -2, "setmetatable");
	lua_pushcfunction(L, sandbox_xpcall);
	lua_setfield(L, -2, "xpcall");
	sb->api_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

int wafa_sandbox_open(size_t mem_cap, int64_t budget_ms, struct wafa_sandbox **out)
{
	struct wafa_sandbox *sb = calloc(1, sizeof(*sb));
	int err = 0;

	if (!sb)
		return -ENOMEM;
	/* the base library and API need room whatever the cap says */
	sb->cap = mem_cap < 1024 * 1024 ? 1024 * 1024 : mem_cap;
	sb->budget_ms = budget_ms;
	sb->L = lua_newstate(sandbox_alloc, sb);
	if (!sb->L) {
		err = -ENOMEM;
		goto fail;
	}
	*(struct wafa_sandbox **)lua_getextraspace(sb->L) = sb;
	lua_atpanic(sb->L, panic);
	lua_pushcfunction(sb->L, setup);
	lua_pushlightuserdata(sb->L, sb);
	if (lua_pcall(sb->L, 1, 0, 0) != LUA_OK) {
		err = -ENOMEM;
		goto fail;
	}
	*out = sb;
	return 0;
fail:
	if (sb->L)
		lua_close(sb->L);
	free(sb);
	return err;
}

void wafa_sandbox_close(struct wafa_sandbox *sb)
{
	if (!sb)
		return;
	lua_close(sb->L);
	free(sb);
}

lua_State *wafa_sandbox_state(struct wafa_sandbox *sb)
{
	return sb->L;
}

void wafa_sandbox_set_limits(struct wafa_sandbox *sb, size_t mem_cap, int64_t budget_ms)
{
	sb->cap = mem_cap;
	sb->budget_ms = budget_ms;
}

size_t wafa_sandbox_memory(const struct wafa_sandbox *sb)
{
	return sb->used;
}

void wafa_sandbox_push_api(struct wafa_sandbox *sb)
{
	lua_rawgeti(sb->L, LUA_REGISTRYINDEX, sb->api_ref);
}

static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r' || *s == '\t')
			*s = ' ';
}

int wafa_sandbox_call(struct wafa_sandbox *sb, int nargs, int nresults, char *why, size_t whylen)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs; /* the function's slot */
	int status, err = 0;

	lua_pushcfunction(L, traceback);
	lua_insert(L, base);
	sb->expired = 0;
	sb->out_of_memory = 0;
	sb->stop_at = mono_ms() + sb->budget_ms;
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
	sb->in_call = 1;
	status = lua_pcall(L, nargs, nresults, base);
	sb->in_call = 0;
	lua_sethook(L, NULL, 0, 0);
	if (status == LUA_OK && !sb->out_of_memory) {
		lua_remove(L, base);
		return 0;
	}
	if (status == LUA_ERRMEM || sb->out_of_memory) {
		snprintf(why, whylen, "out of memory (the rules' memory cap is %zu bytes)", sb->cap);
		err = -ENOMEM;
	} else if (sb->expired) {
		snprintf(why, whylen, "stopped: instruction budget of %lld ms exceeded",
		         (long long)sb->budget_ms);
		err = -ETIME;
	} else {
		const char *msg = lua_tostring(L, -1);
		/* first line only: the traceback follows it */
		size_t n = msg ? strcspn(msg, "\n") : 0;
		snprintf(why, whylen, "%.*s", (int)n, msg ? msg : "error object is not a string");
		err = -EINVAL;
	}
	one_line(why);
	lua_settop(L, base - 1);
	/* What a stopped rule left behind should not count against the next. */
	lua_gc(L, LUA_GCCOLLECT);
	return err;
}

/* Copies the global table named name into a fresh table, so a rule file
 * that changes string.format changes only its own copy. */
static void push_lib_copy(lua_State *L, const char *name)
{
	lua_getglobal(L, name);
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, -3)) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
	lua_remove(L, -2);
}

int wafa_sandbox_run_file(struct wafa_sandbox *sb, const char *path, char *why, size_t whylen,
                          char **text)
{
	lua_State *L = sb->L;
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len;
	int err = 0;
	int top = lua_gettop(L);

	if (!f) {
		err = -errno;
		snprintf(why, whylen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(MAX_RULE_FILE + 1);
	if (!buf) {
		err = -ENOMEM;
		snprintf(why, whylen, "%s: out of memory", path);
		goto out;
	}
	len = fread(buf, 1, MAX_RULE_FILE + 1, f);
	if (ferror(f) || len > MAX_RULE_FILE) {
		err = -EFBIG;
		snprintf(why, whylen, "%s: unreadable or larger than %d bytes", path, MAX_RULE_FILE);
		goto out;
	}
	lua_pushfstring(L, "@%s", path);
	/* text only: a binary chunk can crash the VM */
	if (luaL_loadbufferx(L, buf, len, lua_tostring(L, -1), "t") != LUA_OK) {
		snprintf(why, whylen, "%s", lua_tostring(L, -1));
		one_line(why);
		err = -EINVAL;
		goto out;
	}
	lua_remove(L, -2);
	/* _ENV: own table, reading through to the API, metatable hidden */
	lua_newtable(L);
	for (const char *const *n = libs_allowed; *n; n++) {
		push_lib_copy(L, *n);
		lua_setfield(L, -2, *n);
	}
	lua_newtable(L);
	wafa_sandbox_push_api(sb);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_setupvalue(L, -2, 1);
	err = wafa_sandbox_call(sb, 0, 0, why, whylen);
	if (err == 0 && text) {
		buf[len] = '\0'; /* room was left for it */
		*text = buf;
		buf = NULL;
	}
out:
	lua_settop(L, top);
	free(buf);
	if (f)
		fclose(f);
	return err;
}
