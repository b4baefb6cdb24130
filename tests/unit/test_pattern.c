/* wafa's pattern matcher (core/lua/pattern.c) against Lua's own: the same
 * answers, the same errors, on a corpus and on random patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "lua/pattern.h"

static int checks;

static void count_check(lua_State *L)
{
	(void)L;
	checks++;
}

/* Runs script with `lua` (Lua's string functions) and `ours` in globals. */
static void run(const char *script)
{
	lua_State *L = luaL_newstate();

	luaL_openlibs(L);
	lua_getglobal(L, "string");
	lua_setglobal(L, "lua");
	lua_newtable(L);
	wafa__pattern_install(L, -1, count_check);
	lua_setglobal(L, "ours");
	if (luaL_dostring(L, script) != LUA_OK)
		fail_msg("%s", lua_tostring(L, -1));
	lua_close(L);
}

static const char compare[] =
	"local function pack(ok, ...) return { ok = ok, n = select('#', ...), ... } end\n"
	"local function same(a, b)\n"
	"  if a.ok ~= b.ok or a.n ~= b.n then return false end\n"
	"  for i = 1, a.n do\n"
	"    local x, y = a[i], b[i]\n"
	"    if not a.ok then x = tostring(x):gsub('^.-:%d+: ', ''):gsub(\"to '.-'\", ''); y = tostring(y):gsub('^.-:%d+: ', ''):gsub(\"to '.-'\", '') end\n"
	"    if x ~= y then return false end\n"
	"  end\n"
	"  return true\n"
	"end\n"
	"local function show(r) local t = { tostring(r.ok) } for i = 1, r.n do t[#t + 1] = string.format('%q', tostring(r[i])) end return table.concat(t, ' ') end\n"
	"function check(what, ...)\n"
	"  local a = pack(pcall(lua[what], ...))\n"
	"  local b = pack(pcall(ours[what], ...))\n"
	"  if not same(a, b) then\n"
	"    local args = {} for i = 1, select('#', ...) do args[i] = string.format('%q', tostring((select(i, ...)))) end\n"
	"    error(what .. '(' .. table.concat(args, ', ') .. '): lua ' .. show(a) .. ', ours ' .. show(b), 0)\n"
	"  end\n"
	"end\n"
	"function all(s, p)\n"
	"  check('find', s, p) check('match', s, p) check('find', s, p, 3) check('match', s, p, -4)\n"
	"  check('find', s, p, 1, true) check('find', s, p, #s + 2)\n"
	"  check('gsub', s, p, '<%0>') check('gsub', s, p, '%1') check('gsub', s, p, 'x', 2)\n"
	"  check('gsub', s, p, function(a, b) return b and a .. b or nil end)\n"
	"  check('gsub', s, p, { a = 'A', ab = 1 })\n"
	"  local r1, r2 = {}, {}\n"
	"  local ok1 = pcall(function() for a, b in lua.gmatch(s, p) do r1[#r1 + 1] = tostring(a) .. '|' .. tostring(b) end end)\n"
	"  local ok2 = pcall(function() for a, b in ours.gmatch(s, p) do r2[#r2 + 1] = tostring(a) .. '|' .. tostring(b) end end)\n"
	"  assert(ok1 == ok2 and table.concat(r1, ',') == table.concat(r2, ','), 'gmatch ' .. p .. ' on ' .. s)\n"
	"  r1, r2 = {}, {}\n"
	"  pcall(function() for a in lua.gmatch(s, p, 2) do r1[#r1 + 1] = tostring(a) end end)\n"
	"  pcall(function() for a in ours.gmatch(s, p, 2) do r2[#r2 + 1] = tostring(a) end end)\n"
	"  assert(table.concat(r1, ',') == table.concat(r2, ','), 'gmatch init ' .. p .. ' on ' .. s)\n"
	"end\n";

static void the_same_answers_as_lua(void **state)
{
	char script[16384];

	(void)state;
	snprintf(script, sizeof(script), "%s%s", compare,
	         "local subjects = { '', 'a', 'aaab', 'hello world from Lua', 'ticket 42 from a@b.example',\n"
	         "  '(foo(bar))baz', 'THE (quick) fox', 'x.-.-.-y', '  trim me  ', 'a,b,,c', '3.14 and 2.71',\n"
	         "  'abcabc', 'k=v, k2=v2', 'ab\\0cd', 'éàü', '[x]', 'a%b', 'ends$', '^starts' }\n"
	         "local patterns = { '', 'a', 'a*', 'a+', 'a-', 'a?', 'a*b', '^a', 'b$', '^$', '.', '.-',\n"
	         "  '(%d+) from (%S+)', '%a+', '%A+', '[%w_]+', '[^%s]+', '[a-c]+', '[]]', '[^]]', '%b()',\n"
	         "  '%f[%w]%w+', '%f[%W]', '(a)(b)', '()a()', '(a*(.)%w(%s*))', '(%w+)=(%w+)', '%s*(.-)%s*$',\n"
	         "  '(.)%1', '%.', '%%', '[%a-]', '[a-]', '[-a]', 'x.-y', '^(%d+)%.(%d+)$', '%d+%.?%d*',\n"
	         "  '%', '[a', '(a', 'a)', '%1', '(()', '%b', '%f', '%fx', '%g+', '%c', '%p+', '%u%l+', '%x+',\n"
	         "  '$a', 'a$b', '^', '^^', '\\0', 'b\\0c', '[\\0]', '%z', '.$', '(.-)%1', '(%a)%1?', '%1(a)' }\n"
	         "for _, s in ipairs(subjects) do for _, p in ipairs(patterns) do all(s, p) end end\n"
	         "check('gsub', 'abc', '%w', '%2') check('gsub', 'abc', '%w', '%') check('gsub', 'abc', '%w', '%x')\n"
	         "check('gsub', 'abc', '%w', {}) check('gsub', 'abc', '%w', function() return {} end)\n"
	         "check('gsub', 'abc', '%w', true) check('gsub', 'abc', '(%w)', 5)\n"
	         "check('find', 'abc', string.rep('(', 40) .. string.rep(')', 40))\n"
	         "check('find', string.rep('a', 300), string.rep('a?', 300))\n"
	         /* random patterns from a small alphabet, on random subjects */
	         "local atoms = { 'a', 'b', '.', '%a', '%d', '[ab]', '[^a]', '(', ')', '%1', '*', '+', '-', '?',\n"
	         "  '^', '$', '%b()', '%f[a]', '()', '1', '[', ']', '%' }\n"
	         "local rnd = 1\n"
	         "local function r(n) rnd = (rnd * 1103515245 + 12345) % 2147483648 return rnd % n + 1 end\n"
	         "for i = 1, 4000 do\n"
	         "  local p = {} for j = 1, r(6) do p[j] = atoms[r(#atoms)] end\n"
	         "  local s = {} for j = 1, r(10) - 1 do s[j] = ({ 'a', 'b', '1', '(', ')', ' ' })[r(6)] end\n"
	         "  all(table.concat(s), table.concat(p))\n"
	         "end\n");
	run(script);
}

/* The matcher counts its steps: a costly search reaches the check, which
 * is what charges it to a rule's budget. */
static void costly_patterns_reach_the_check(void **state)
{
	(void)state;
	checks = 0;
	run("assert(ours.find(('a'):rep(3000), 'a*b') == nil)");
	assert_true(checks > 100);
	checks = 0;
	run("assert(ours.find(('a'):rep(20), '.-.-b') == nil)");
	int small = checks;
	checks = 0;
	run("assert(ours.find(('a'):rep(1000), ('a?'):rep(12) .. ('a'):rep(12) .. 'b') == nil)");
	assert_true(checks > small);
	/* an anchored pattern on a long run of digits is cheap: linear */
	checks = 0;
	run("assert(ours.match(('1'):rep(200000) .. '.5', '^%d+%.%d+$'))");
	assert_true(checks < 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_same_answers_as_lua),
		cmocka_unit_test(costly_patterns_reach_the_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
