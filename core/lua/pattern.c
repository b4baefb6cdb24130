/* Lua's string patterns, matched with a step count: string.find, match,
 * gmatch and gsub for rules.  Lua's own matcher runs in C, where the
 * instruction hook never fires, and backtracks: s:find("a*b") on 200 KB of
 * "a" ran over a minute.  Here every step of the matcher is counted and,
 * every PATTERN_CHECK_EVERY steps, the caller's check runs: the sandbox's
 * raises once the rule's budget is spent, so a costly pattern costs the
 * rule its budget and nothing more.  The language is the manual's (§6.4.1);
 * the code is written here. */
#include "lua/pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#define PATTERN_CHECK_EVERY 4096
#define MAX_CAPTURES 32
#define MAX_DEPTH 200 /* nested match() calls: the C stack */
#define CAP_OPEN (-1)
#define CAP_POSITION (-2)
#define SPECIALS "^$*+?.([%-"

struct matcher {
	lua_State *L;
	void (*check)(lua_State *L);
	const char *s, *s_end; /* the subject */
	const char *p_end;     /* the pattern's end */
	unsigned steps;
	int depth;
	int level; /* captures in use */
	struct {
		const char *at;
		ptrdiff_t len;
	} cap[MAX_CAPTURES];
};

static void step(struct matcher *m)
{
	if (++m->steps % PATTERN_CHECK_EVERY == 0 && m->check)
		m->check(m->L);
}

/* The end of the single-character class at p (a char, ".", "%x" or a set). */
static const char *class_end(struct matcher *m, const char *p)
{
	char c = *p++;

	if (c == '%') {
		if (p >= m->p_end)
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 1;
	}
	if (c == '[') {
		if (p < m->p_end && *p == '^')
			p++;
		do { /* the first ']' in a set is literal */
			if (p >= m->p_end)
				luaL_error(m->L, "malformed pattern (missing ']')");
			c = *p++;
			if (c == '%') {
				if (p >= m->p_end)
					luaL_error(m->L, "malformed pattern (missing ']')");
				p++;
			}
		} while (p >= m->p_end || *p != ']');
		return p + 1;
	}
	return p;
}

static int class_has(int cl, int c)
{
	int yes;

	switch (tolower(cl)) {
	case 'a': yes = isalpha(c); break;
	case 'c': yes = iscntrl(c); break;
	case 'd': yes = isdigit(c); break;
	case 'g': yes = isgraph(c); break;
	case 'l': yes = islower(c); break;
	case 'p': yes = ispunct(c); break;
	case 's': yes = isspace(c); break;
	case 'u': yes = isupper(c); break;
	case 'w': yes = isalnum(c); break;
	case 'x': yes = isxdigit(c); break;
	case 'z': yes = c == 0; break; /* NUL, as Lua still reads it */
	default: return cl == c; /* %. and the like: the character itself */
	}
	if (isupper(cl))
		yes = !yes;
	return yes != 0;
}

/* Does c fall in the set [ ... ] from p (at '[') to last (at ']')? */
static int set_has(int c, const char *p, const char *last)
{
	int yes = 1;

	p++;
	if (*p == '^') {
		yes = 0;
		p++;
	}
	while (p < last) {
		if (*p == '%') {
			p++;
			if (class_has((unsigned char)*p, c))
				return yes;
			p++;
		} else if (p + 2 < last && p[1] == '-') {
			if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
				return yes;
			p += 3;
		} else {
			if ((unsigned char)*p == c)
				return yes;
			p++;
		}
	}
	return !yes;
}

/* Does the subject's character at s match the class from p to ep? */
static int one_matches(struct matcher *m, const char *s, const char *p, const char *ep)
{
	int c;

	if (s >= m->s_end)
		return 0;
	c = (unsigned char)*s;
	switch (*p) {
	case '.':
		return 1;
	case '%':
		return class_has((unsigned char)p[1], c);
	case '[':
		return set_has(c, p, ep - 1);
	default:
		return (unsigned char)*p == c;
	}
}

static const char *do_match(struct matcher *m, const char *s, const char *p);

static const char *balanced(struct matcher *m, const char *s, const char *p)
{
	if (p + 1 >= m->p_end)
		luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
	if (s >= m->s_end || *s != p[0])
		return NULL;
	int open = p[0], close = p[1], depth = 1;
	while (++s < m->s_end) {
		step(m);
		if (*s == close) {
			if (--depth == 0)
				return s + 1;
		} else if (*s == open) {
			depth++;
		}
	}
	return NULL;
}

/* p* and p+ (min 0 or 1): the longest run first, then shorter ones. */
static const char *expand_longest(struct matcher *m, const char *s, const char *p,
                                  const char *ep)
{
	ptrdiff_t n = 0;

	while (one_matches(m, s + n, p, ep)) {
		step(m);
		n++;
	}
	for (; n >= 0; n--) {
		const char *r;
		step(m);
		if ((r = do_match(m, s + n, ep + 1)))
			return r;
	}
	return NULL;
}

/* p-: the shortest run first. */
static const char *expand_shortest(struct matcher *m, const char *s, const char *p,
                                   const char *ep)
{
	for (;;) {
		const char *r;
		step(m);
		if ((r = do_match(m, s, ep + 1)))
			return r;
		if (!one_matches(m, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *open_capture(struct matcher *m, const char *s, const char *p, ptrdiff_t what)
{
	const char *r;

	if (m->level >= MAX_CAPTURES)
		luaL_error(m->L, "too many captures");
	m->cap[m->level].at = s;
	m->cap[m->level].len = what;
	m->level++;
	if (!(r = do_match(m, s, p)))
		m->level--;
	return r;
}

static const char *close_capture(struct matcher *m, const char *s, const char *p)
{
	int l = m->level - 1;
	const char *r;

	while (l >= 0 && m->cap[l].len != CAP_OPEN)
		l--;
	if (l < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[l].len = s - m->cap[l].at;
	if (!(r = do_match(m, s, p)))
		m->cap[l].len = CAP_OPEN;
	return r;
}

static int capture_index(struct matcher *m, int c)
{
	int l = c - '1';

	if (l < 0 || l >= m->level || m->cap[l].len == CAP_OPEN)
		luaL_error(m->L, "invalid capture index %%%d", l + 1);
	return l;
}

static const char *back_reference(struct matcher *m, const char *s, int c)
{
	int l = capture_index(m, c);
	size_t len = (size_t)m->cap[l].len;

	if (m->cap[l].len == CAP_POSITION)
		return NULL; /* a position matches no text */
	if ((size_t)(m->s_end - s) >= len && memcmp(m->cap[l].at, s, len) == 0)
		return s + len;
	return NULL;
}

/* Matches the pattern from p at s: the match's end, or NULL. */
static const char *do_match(struct matcher *m, const char *s, const char *p)
{
	if (++m->depth > MAX_DEPTH)
		luaL_error(m->L, "pattern too complex");
	while (p < m->p_end) {
		step(m);
		if (*p == '(') {
			s = p + 1 < m->p_end && p[1] == ')' ? open_capture(m, s, p + 2, CAP_POSITION)
			                                     : open_capture(m, s, p + 1, CAP_OPEN);
			goto done;
		}
		if (*p == ')') {
			s = close_capture(m, s, p + 1);
			goto done;
		}
		if (*p == '$' && p + 1 == m->p_end) {
			if (s != m->s_end)
				s = NULL;
			goto done;
		}
		if (*p == '%' && p + 1 < m->p_end && p[1] == 'b') {
			s = balanced(m, s, p + 2);
			if (!s)
				goto done;
			p += 4;
			continue;
		}
		if (*p == '%' && p + 1 < m->p_end && p[1] == 'f') {
			const char *set = p + 2, *ep;
			if (set >= m->p_end || *set != '[')
				luaL_error(m->L, "missing '[' after '%%f' in pattern");
			ep = class_end(m, set);
			int before = s == m->s ? 0 : (unsigned char)s[-1];
			int here = s < m->s_end ? (unsigned char)*s : 0;
			if (set_has(before, set, ep - 1) || !set_has(here, set, ep - 1)) {
				s = NULL;
				goto done;
			}
			p = ep;
			continue;
		}
		if (*p == '%' && p + 1 < m->p_end && isdigit((unsigned char)p[1])) {
			s = back_reference(m, s, (unsigned char)p[1]);
			if (!s)
				goto done;
			p += 2;
			continue;
		}
		/* a single-character class, perhaps with a quantifier */
		const char *ep = class_end(m, p);
		char q = ep < m->p_end ? *ep : '\0';
		if (!one_matches(m, s, p, ep)) {
			if (q == '*' || q == '?' || q == '-') {
				p = ep + 1; /* zero of it will do */
				continue;
			}
			s = NULL;
			goto done;
		}
		if (q == '?') {
			const char *r = do_match(m, s + 1, ep + 1);
			if (r) {
				s = r;
				goto done;
			}
			p = ep + 1;
			continue;
		}
		if (q == '+') {
			s = expand_longest(m, s + 1, p, ep);
			goto done;
		}
		if (q == '*') {
			s = expand_longest(m, s, p, ep);
			goto done;
		}
		if (q == '-') {
			s = expand_shortest(m, s, p, ep);
			goto done;
		}
		s++;
		p = ep;
	}
done:
	m->depth--;
	return s;
}

static void push_capture(struct matcher *m, int i, const char *s, const char *e)
{
	if (i >= m->level) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index %%%d", i + 1);
		lua_pushlstring(m->L, s, (size_t)(e - s)); /* the whole match */
		return;
	}
	if (m->cap[i].len == CAP_OPEN)
		luaL_error(m->L, "unfinished capture");
	if (m->cap[i].len == CAP_POSITION)
		lua_pushinteger(m->L, (lua_Integer)(m->cap[i].at - m->s) + 1);
	else
		lua_pushlstring(m->L, m->cap[i].at, (size_t)m->cap[i].len);
}

/* Pushes the captures (or the whole match when there are none, if whole). */
static int push_captures(struct matcher *m, const char *s, const char *e, int whole)
{
	int n = m->level == 0 && whole ? 1 : m->level;

	luaL_checkstack(m->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		push_capture(m, i, s, e);
	return n;
}

static void matcher_init(struct matcher *m, lua_State *L, const char *s, size_t slen,
                         const char *p, size_t plen)
{
	memset(m, 0, sizeof(*m));
	m->L = L;
	m->check = (void (*)(lua_State *))lua_touserdata(L, lua_upvalueindex(1));
	m->s = s;
	m->s_end = s + slen;
	m->p_end = p + plen;
}

/* A 1-based, possibly negative position into a subject of len bytes. */
static size_t start_at(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0)
		return 1;
	if (pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

static const char *plain_find(const char *s, size_t slen, const char *p, size_t plen)
{
	if (plen == 0)
		return s;
	while (plen <= slen) {
		const char *hit = memchr(s, *p, slen - plen + 1);
		if (!hit)
			return NULL;
		if (memcmp(hit + 1, p + 1, plen - 1) == 0)
			return hit;
		slen -= (size_t)(hit + 1 - s);
		s = hit + 1;
	}
	return NULL;
}

/* Has the pattern none of the special characters (NULs included)? */
static int no_specials(const char *p, size_t len)
{
	size_t at = 0;

	do {
		if (strpbrk(p + at, SPECIALS))
			return 0;
		at += strlen(p + at) + 1;
	} while (at <= len);
	return 1;
}

static int find_or_match(lua_State *L, int find)
{
	size_t slen, plen;
	const char *s = luaL_checklstring(L, 1, &slen);
	const char *p = luaL_checklstring(L, 2, &plen);
	size_t init = start_at(luaL_optinteger(L, 3, 1), slen);
	struct matcher m;

	if (init > slen + 1) {
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || no_specials(p, plen))) {
		const char *hit = plain_find(s + init - 1, slen - init + 1, p, plen);
		if (hit) {
			lua_pushinteger(L, (lua_Integer)(hit - s) + 1);
			lua_pushinteger(L, (lua_Integer)(hit - s) + (lua_Integer)plen);
			return 2;
		}
		luaL_pushfail(L);
		return 1;
	}
	matcher_init(&m, L, s, slen, p, plen);
	int anchor = plen > 0 && *p == '^';
	if (anchor)
		p++;
	const char *at = s + init - 1;
	do {
		const char *e;
		m.level = 0;
		m.depth = 0;
		step(&m);
		if ((e = do_match(&m, at, p))) {
			if (find) {
				lua_pushinteger(L, (lua_Integer)(at - s) + 1);
				lua_pushinteger(L, (lua_Integer)(e - s));
				return push_captures(&m, NULL, NULL, 0) + 2;
			}
			return push_captures(&m, at, e, 1);
		}
	} while (at++ < m.s_end && !anchor);
	luaL_pushfail(L);
	return 1;
}

static int pattern_find(lua_State *L)
{
	return find_or_match(L, 1);
}

static int pattern_match(lua_State *L)
{
	return find_or_match(L, 0);
}

/* gmatch's iterator: upvalues 1 check, 2 subject, 3 pattern, 4 position,
 * 5 the end of the last match (-1 for none). */
static int gmatch_next(lua_State *L)
{
	size_t slen, plen;
	const char *s = lua_tolstring(L, lua_upvalueindex(2), &slen);
	const char *p = lua_tolstring(L, lua_upvalueindex(3), &plen);
	lua_Integer pos = lua_tointeger(L, lua_upvalueindex(4));
	lua_Integer last = lua_tointeger(L, lua_upvalueindex(5));
	struct matcher m;

	matcher_init(&m, L, s, slen, p, plen);
	for (const char *at = s + pos; pos <= (lua_Integer)slen && at <= m.s_end; at++) {
		const char *e;
		m.level = 0;
		m.depth = 0;
		step(&m);
		if ((e = do_match(&m, at, p)) && e - s != last) {
			lua_pushinteger(L, (lua_Integer)(e - s));
			lua_pushvalue(L, -1);
			lua_replace(L, lua_upvalueindex(4));
			lua_replace(L, lua_upvalueindex(5));
			return push_captures(&m, at, e, 1);
		}
	}
	return 0;
}

static int pattern_gmatch(lua_State *L)
{
	size_t slen;

	luaL_checklstring(L, 1, &slen);
	luaL_checkstring(L, 2);
	size_t init = start_at(luaL_optinteger(L, 3, 1), slen);
	if (init > slen + 1)
		init = slen + 2; /* past the end: no match at all */
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_pushinteger(L, (lua_Integer)init - 1);
	lua_pushinteger(L, -1);
	lua_pushcclosure(L, gmatch_next, 5);
	return 1;
}

/* Adds the replacement for the match s..e to b. */
static void add_replacement(struct matcher *m, luaL_Buffer *b, const char *s, const char *e,
                            int tr)
{
	lua_State *L = m->L;

	if (tr == LUA_TNUMBER || tr == LUA_TSTRING) {
		size_t len;
		const char *r = lua_tolstring(L, 3, &len);
		for (size_t i = 0; i < len; i++) {
			if (r[i] != '%') {
				luaL_addchar(b, r[i]);
				continue;
			}
			if (++i >= len || (r[i] != '%' && !isdigit((unsigned char)r[i])))
				luaL_error(L, "invalid use of '%%' in replacement string");
			if (r[i] == '%') {
				luaL_addchar(b, '%');
			} else if (r[i] == '0') {
				luaL_addlstring(b, s, (size_t)(e - s));
			} else {
				push_capture(m, r[i] - '1', s, e);
				luaL_tolstring(L, -1, NULL);
				lua_remove(L, -2);
				luaL_addvalue(b);
			}
		}
		return;
	}
	if (tr == LUA_TFUNCTION) {
		lua_pushvalue(L, 3);
		int n = push_captures(m, s, e, 1);
		lua_call(L, n, 1);
	} else {
		push_capture(m, 0, s, e);
		lua_gettable(L, 3);
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s)); /* false or nil: keep */
	} else if (!lua_isstring(L, -1)) {
		luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	} else {
		luaL_addvalue(b);
	}
}

static int pattern_gsub(lua_State *L)
{
	size_t slen, plen;
	const char *s = luaL_checklstring(L, 1, &slen);
	const char *p = luaL_checklstring(L, 2, &plen);
	int tr = lua_type(L, 3);
	lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)slen + 1);
	lua_Integer n = 0;
	struct matcher m;
	luaL_Buffer b;

	luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
	                         tr == LUA_TTABLE,
	                 3, "string/function/table");
	matcher_init(&m, L, s, slen, p, plen);
	int anchor = plen > 0 && *p == '^';
	if (anchor)
		p++;
	luaL_buffinit(L, &b);
	const char *at = s, *last = NULL;
	while (n < max) {
		const char *e;
		m.level = 0;
		m.depth = 0;
		step(&m);
		if ((e = do_match(&m, at, p)) && e != last) {
			n++;
			add_replacement(&m, &b, at, e, tr);
			at = last = e;
		} else if (at < m.s_end) {
			luaL_addchar(&b, *at++);
		} else {
			break;
		}
		if (anchor)
			break;
	}
	luaL_addlstring(&b, at, (size_t)(m.s_end - at));
	luaL_pushresult(&b);
	lua_pushinteger(L, n);
	return 2;
}

void wafa__pattern_install(lua_State *L, int string_table, void (*check)(lua_State *L))
{
	static const struct {
		const char *name;
		lua_CFunction fn;
	} fns[] = {
		{ "find", pattern_find },
		{ "match", pattern_match },
		{ "gmatch", pattern_gmatch },
		{ "gsub", pattern_gsub },
	};

	string_table = lua_absindex(L, string_table);
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		lua_pushlightuserdata(L, (void *)check);
		lua_pushcclosure(L, fns[i].fn, 1);
		lua_setfield(L, string_table, fns[i].name);
	}
}
