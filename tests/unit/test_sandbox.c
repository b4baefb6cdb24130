/* The Lua sandbox and rules host, on real rule files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "time/deadline.h"
#include "lua/rules.h"

static const struct wafa_firing F = { .instance = 1 };
#include "lua/sandbox.h"

static char dir[] = "/tmp/wafa-test-rules-XXXXXX";

static void write_rule(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Each test starts from an empty rules directory. */
static int clear_dir(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.lua", dir);
	return system(cmd);
}

static struct wafa_ticket *ticket(void)
{
	static char ref[] = "42", subject[] = "طلب استرداد", status[] = "open";
	struct wafa_ticket *t = wafa_ticket_alloc(0, NULL);

	t->id = 42;
	t->str[WAFA_T_REF] = ref;
	t->str[WAFA_T_SUBJECT] = subject;
	t->str[WAFA_T_STATUS] = status;
	for (int i = 0; i < WAFA_T_NTIME; i++)
		t->time[i] = WAFA_NO_TIME;
	t->time[WAFA_T_CREATED_AT] = 1700000000500;
	t->retry_at = WAFA_NO_TIME;
	return t;
}

static int find_rule(struct wafa_rules *r, const char *name)
{
	for (int i = 0; i < r->nrules; i++)
		if (strcmp(r->rules[i].name, name) == 0)
			return i;
	fail_msg("no rule %s", name);
	return -1;
}

#define SLA(name, body)                                                                   \
	"sla \"" name "\" { target = \"1s\", on_breach = function(t, s)\n" body "\nend }\n"

static void rules_cannot_escape(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_ticket *t = ticket();
	char report[4096] = "";
	FILE *out = fmemopen(report, sizeof(report), "w");
	struct timespec t0, t1;

	(void)state;
	write_rule("a.lua",
	           SLA("globals", "mail { to = 'x@example.com', subject = tostring(io) .. "
	                          "tostring(os) .. tostring(require) .. tostring(load) .. "
	                          "tostring(debug) .. tostring(dofile) .. tostring(loadfile) .. "
	                          "tostring(getmetatable('')) }")
	           SLA("loop", "while true do end")
	           SLA("pcall-loop", "while true do pcall(function() while true do end end) end")
	           SLA("xpcall-handler", "xpcall(error, function() while true do end end)")
	           SLA("bomb", "local t = {} while true do t[#t + 1] = string.rep('x', 1e6) end")
	           SLA("gc", "setmetatable({}, { __gc = function() while true do end end })")
	           SLA("tamper", "string.upper = nil")
	           SLA("tamper-wafa", "local a = pcall(function() wafa.promise_in = nil end)\n"
	                              "local b = pcall(rawset, wafa, 'promise_in', nil)\n"
	                              "mail { to = 'x@example.com', subject = tostring(a) .. tostring(b) .. "
	                              "type(wafa.promise_in) .. tostring(getmetatable(wafa)) }")
	           SLA("backtrack", "string.find(string.rep('a', 500), '.-.-.-b')")
	           SLA("patterns", "local a, b = ('ticket 42 from a@b.example'):match('(%d+) from (%S+)')\n"
	                           "assert(a == '42' and b == 'a@b.example')\n"
	                           "assert(('x.-.-.-y'):find('.-.-.-', 1, true) == 2)\n"
	                           "assert(select(2, ('a,b,c'):gsub(',', ';')) == 2)\n"
	                           "local n = 0 for w in ('a b c'):gmatch('%a+') do n = n + 1 end assert(n == 3)")
	           SLA("bad-mail", "mail { to = 'x@example.com' }")
	           SLA("pcall-mail", "pcall(mail, { subject = 'no to' })\n"
	                             "pcall(mail, { to = 'nobody', subject = 'not an address' })\n"
	                             "pcall(mail, { to = 'a@example.com', template = '../x' })\n"
	                             "mail { to = 'ok@example.com', subject = 'whole' }")
	           SLA("good", "mail { to = t.owner_email or 'lead@example.com', subject = "
	                       "'SLA: #' .. t.ref .. ' ' .. t.subject, body = s.rule }"));
	write_rule("b.lua", SLA("other-file", "mail { to = 'y@example.com', subject = "
	                                      "string.upper('ok') }"));
	
	assert_int_equal(wafa_sandbox_open(32 << 20, 100, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, out), 0);
	fclose(out);
	assert_string_equal(report, "");

	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "globals"), 0, &F), 0);
	assert_int_equal(r->nmails, 1);
	assert_string_equal(r->mails[0].subject, "nilnilnilnilnilnilnilfalse");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "loop"), 0, &F), -ETIME);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "pcall-loop"), 0, &F), -ETIME);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "xpcall-handler"), 0, &F), -ETIME);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* three budgets of 100 ms, not forever (a loose bound: this is about
	 * stopping at all, not speed) */
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "bomb"), 0, &F), -ENOMEM);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "gc"), 0, &F), -EINVAL);
	/* the shared rule library cannot be changed, not even with rawset */
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "tamper-wafa"), 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "falsefalsefunctionfalse");
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "bad-mail"), 0, &F), -EINVAL);
	assert_int_equal(r->nmails, 0);
	/* a mail{} that raised inside the rule's pcall leaves no half mail */
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "pcall-mail"), 0, &F), 0);
	assert_int_equal(r->nmails, 1);
	assert_string_equal(r->mails[0].to, "ok@example.com");
	assert_string_equal(r->mails[0].subject, "whole");
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "tamper"), 0, &F), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "backtrack"), 0, &F), -ETIME);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2); /* stopped, not run for 21 s */
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "patterns"), 0, &F), 0);

	/* after all that the state still serves, and b.lua's string is intact */
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "other-file"), 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "OK");
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "good"), 0, &F), 0);
	assert_int_equal(r->nmails, 1);
	assert_string_equal(r->mails[0].to, "lead@example.com");
	assert_string_equal(r->mails[0].subject, "SLA: #42 طلب استرداد");
	assert_string_equal(r->mails[0].body, "good");
	assert_true(wafa_sandbox_memory(sb) < 8 << 20);

	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	wafa_ticket_free(t);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.lua", dir);
	assert_int_equal(system(cmd), 0);
}

static void broken_file_is_reported_and_disabled_alone(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	char report[4096] = "";
	FILE *out = fmemopen(report, sizeof(report), "w");
	char cmd[300];

	(void)state;
	write_rule("1-good.lua", SLA("good", "mail { to = 'a@example.com', subject = 'x' }"));
	write_rule("2-syntax.lua", "-- a comment\n\nsla \"x\" { target = \"1s\" \n on_breach = 3 }\n");
	write_rule("3-unit.lua", "sla \"y\" {\n  target = \"4x\",\n  on_breach = function() end }\n");
	write_rule("4-field.lua", "sla \"z\" { target = \"1h\", stat = \"created_at\" }\n");
	write_rule("5-dup.lua", SLA("good", ""));
	write_rule("6-column.lua", "sla \"c\" { target = \"1h\", start = \"opened\", on_breach = print }\n");
	assert_int_equal(wafa_sandbox_open(32 << 20, 100, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, out), 5);
	fclose(out);
	assert_int_equal(r->nrules, 1);
	assert_string_equal(r->rules[0].name, "good");
	assert_non_null(strstr(report, "2-syntax.lua:4:"));
	assert_non_null(strstr(report, "3-unit.lua:1: target \"4x\": unknown unit (use ms, s, m, h, d)"));
	assert_non_null(strstr(report, "4-field.lua:1: sla \"z\": unknown field \"stat\""));
	assert_non_null(strstr(report, "5-dup.lua:1: rule \"good\" is already declared at"));
	assert_non_null(strstr(report, "6-column.lua:1: start: \"opened\" is not a ticket timestamp"));
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.lua", dir);
	assert_int_equal(system(cmd), 0);
}

static void calendar_and_promise_mistakes_are_reported(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	char report[8192] = "";
	FILE *out = fmemopen(report, sizeof(report), "w");
	char cmd[300];

	(void)state;
	write_rule("1-cal.lua", "calendar \"cairo\" { timezone = \"Africa/Cairo\",\n"
	                        "  hours = { sun = \"09:00-17:00\" }, holidays = { hijri \"10-01\" } }\n"
	                        "sla \"ok\" { calendar = \"cairo\", target = \"4h\", pause = { \"pending\" },\n"
	                        "  notify_in = \"business\", on_breach = function() end }\n"
	                        "promise \"p\" { at = \"due_at\", warn = { \"2h\" }, on_warn = print,\n"
	                        "  on_breach = print }\n");
	write_rule("2-zone.lua", "calendar \"x\" { timezone = \"Mars/Olympus\", hours = {} }\n");
	write_rule("3-hours.lua", "calendar \"y\" { timezone = \"UTC\",\n  hours = { mon = \"09:00-25:00\" } }\n");
	write_rule("4-day.lua", "calendar \"z\" { timezone = \"UTC\", hours = { monday = \"09:00-17:00\" } }\n");
	write_rule("5-nocal.lua", "sla \"n\" { calendar = \"nowhere\", target = \"1h\", on_breach = print }\n");
	write_rule("6-pause.lua", "sla \"q\" { target = \"1h\", pause = { \"waiting\" }, on_breach = print }\n");
	write_rule("7-notify.lua", "sla \"v\" { target = \"1h\", notify_in = \"business\", on_breach = print }\n");
	write_rule("8-pct.lua", "promise \"w\" { at = \"due_at\", warn = { \"50%\" }, on_warn = print,\n"
	                        "  on_breach = print }\n");
	write_rule("9-hijri.lua", "calendar \"h\" { timezone = \"UTC\", hours = {}, holidays = { hijri \"10/01\" } }\n");
	assert_int_equal(wafa_sandbox_open(32 << 20, 100, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, out), 8);
	fclose(out);
	assert_int_equal(r->nrules, 2);
	assert_int_equal(r->ncals, 1);
	assert_int_equal(r->rules[0].pause_mask, 1u << WAFA_S_PENDING);
	assert_true(r->rules[0].notify_business);
	assert_ptr_equal(r->rules[0].cal, r->cals[0]);
	assert_int_equal(r->rules[1].kind, WAFA_RULE_PROMISE);
	assert_int_equal(r->rules[1].phases[0].offset_ms, -2 * 3600000);
	assert_non_null(strstr(report, "2-zone.lua:1: calendar \"x\": unknown time zone \"Mars/Olympus\""));
	assert_non_null(strstr(report, "3-hours.lua:1: calendar \"y\": hours.mon: "));
	assert_non_null(strstr(report, "4-day.lua:1: hours: unknown day \"monday\""));
	assert_non_null(strstr(report, "5-nocal.lua:1: calendar \"nowhere\" is not declared"));
	assert_non_null(strstr(report, "6-pause.lua:1: pause[1]: \"waiting\" is not a status"));
	assert_non_null(strstr(report, "7-notify.lua:1: notify_in = \"business\" needs a calendar"));
	assert_non_null(strstr(report, "8-pct.lua:1: warn[1] \"50%\": a promise has no target"));
	assert_non_null(strstr(report, "9-hijri.lua:1: hijri: expected a month-day like hijri \"10-01\""));
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.lua", dir);
	assert_int_equal(system(cmd), 0);
}

static void deadlines_follow_the_declaration(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_heap h;
	struct wafa_ticket *t = ticket();
	char cmd[300];
	static char urgent[] = "urgent";

	(void)state;
	write_rule("a.lua",
	           "sla \"fr\" { stop = \"first_reply_at\", target = { urgent = \"1h\", default = \"8h\" },\n"
	           "  when = function(t) return t.status ~= 'closed' end,\n"
	           "  warn = { \"75%\", \"30m\" }, on_warn = function() end,\n"
	           "  on_breach = { function() end, after \"2h\" (function() end) } }\n");
	assert_int_equal(wafa_sandbox_open(32 << 20, 100, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, stderr), 0);
	wafa_heap_init(&h);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	int64_t c = t->time[WAFA_T_CREATED_AT], H = 3600000;
	int64_t want[] = { c + 6 * H, c + 8 * H - H / 2, c + 8 * H, c + 10 * H };
	assert_int_equal(h.count, 4);
	for (int i = 0; i < 4; i++) {
		struct wafa_deadline *d = wafa_heap_pop(&h);
		assert_int_equal(d->at_ms, want[i]);
		assert_int_equal(d->instance, 1700000000);
	}
	/* urgent: a 1 h target; a reply stops it all */
	t->str[WAFA_T_PRIORITY] = urgent;
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(wafa_heap_peek(&h)->at_ms, c + 30 * 60000); /* warn "30m" before 1 h */
	t->time[WAFA_T_FIRST_REPLY_AT] = c + 1000;
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(h.count, 0);
	/* a fired phase is not scheduled again */
	t->time[WAFA_T_FIRST_REPLY_AT] = WAFA_NO_TIME;
	assert_int_equal(wafa_deadline_mark(t, 0, 2, 1700000000, false), 0);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(h.count, 3);
	wafa_deadlines_unschedule(&h, t);
	wafa_heap_free(&h);
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	wafa_ticket_free(t);
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.lua", dir);
	assert_int_equal(system(cmd), 0);
}

/* Status changes at one instant (helpdesks keep whole seconds: FreeScout's
 * reply and its undo) count in order: the last says whether the clock runs. */
static void changes_at_one_instant_count_in_order(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_heap h;
	struct wafa_ticket *t = ticket();
	static char pending[] = "pending", open_[] = "open";
	int64_t c = t->time[WAFA_T_CREATED_AT], H = 3600000, s = c + 1000;

	(void)state;
	write_rule("a.lua", "sla \"fr\" { stop = \"first_reply_at\", target = \"1h\",\n"
	                    "  pause = { \"pending\" }, on_breach = function() end }\n");
	assert_int_equal(wafa_sandbox_open(32 << 20, 100, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, stderr), 0);
	wafa_heap_init(&h);
	/* pending and open again within the second: no time paused */
	assert_int_equal(wafa_ticket_add_state(t, s, WAFA_S_NEW, WAFA_S_PENDING, 0), 0);
	assert_int_equal(wafa_ticket_add_state(t, s, WAFA_S_PENDING, WAFA_S_OPEN, 0), 0);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(h.count, 1);
	assert_int_equal(wafa_heap_peek(&h)->at_ms, c + H);
	/* pending again a minute later, open and pending at once: it waits */
	t->str[WAFA_T_STATUS] = pending;
	assert_int_equal(wafa_ticket_add_state(t, s + 60000, WAFA_S_OPEN, WAFA_S_PENDING, 0), 0);
	assert_int_equal(wafa_ticket_add_state(t, s + 60000, WAFA_S_PENDING, WAFA_S_OPEN, 0), 0);
	assert_int_equal(wafa_ticket_add_state(t, s + 60000, WAFA_S_OPEN, WAFA_S_PENDING, 0), 0);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(h.count, 0);
	/* open 10 minutes later: the 10 minutes pending do not count */
	t->str[WAFA_T_STATUS] = open_;
	assert_int_equal(wafa_ticket_add_state(t, s + 660000, WAFA_S_PENDING, WAFA_S_OPEN, 0), 0);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(h.count, 1);
	assert_int_equal(wafa_heap_peek(&h)->at_ms, c + H + 600000);
	wafa_deadlines_unschedule(&h, t);
	wafa_heap_free(&h);
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	wafa_ticket_free(t);
}

static void when_runs_again_only_when_the_ticket_changes(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_heap h;
	struct wafa_ticket *t = ticket(), *same = ticket(), *changed = ticket();
	static char other[] = "another subject";

	(void)state;
	write_rule("a.lua", "local calls = 0\n"
	                    "sla \"w\" { target = \"1h\",\n"
	                    "  when = function(t) calls = calls + 1 return true end,\n"
	                    "  on_breach = function(t) mail { to = 'a@example.com', subject = tostring(calls) } end }\n");
	assert_int_equal(wafa_sandbox_open(32 << 20, 100, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, stderr), 0);
	wafa_heap_init(&h);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	wafa_ticket_replace(t, same); /* the same data read again */
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(wafa_rules_run(r, t, 0, 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "1");
	changed->str[WAFA_T_SUBJECT] = other;
	wafa_ticket_replace(t, changed);
	assert_int_equal(wafa_deadlines_schedule(r, &h, t, NULL), 0);
	assert_int_equal(wafa_rules_run(r, t, 0, 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "2");
	wafa_deadlines_unschedule(&h, t);
	wafa_heap_free(&h);
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	wafa_ticket_free(t);
}

/* Issue 17, 1: the library's metatables were reachable (getmetatable of an
 * after step), so a rule could add a __gc to them, which Lua runs with hooks
 * off, and pass data to another file through them; an __index on a
 * metatable got a __gc past setmetatable's check. */
static void no_finalizer_runs_and_library_metatables_are_hidden(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_ticket *t = ticket();
	char report[4096] = "";
	FILE *out = fmemopen(report, sizeof(report), "w");

	(void)state;
	write_rule("a.lua",
	           "gc_ran = 0\n"
	           "local function fin() gc_ran = gc_ran + 1 end\n"
	           "local step = after '1h' (function() end)\n"
	           "local mt = getmetatable(step)\n"
	           "if type(mt) == 'table' then mt.__gc = fin; mt.shared = 'from a.lua' end\n"
	           "local sneaky = setmetatable({}, { __index = function(m, k)\n"
	           "  if k == '__gc' then rawset(m, '__gc', fin) end end })\n"
	           "pcall(setmetatable, {}, sneaky)\n"
	           "pcall(setmetatable, {}, { __gc = fin })\n"
	           "sla \"after\" { target = \"1s\", on_breach = { function() end, after \"2h\" (function() end) } }\n"
	           SLA("churn", "for i = 1, 5000 do local x = after '1h' (function() end) "
	                        "local y = setmetatable({}, sneaky) end\n"
	                        "mail { to = 'x@example.com', subject = type(mt) }")
	           SLA("count", "mail { to = 'x@example.com', subject = tostring(gc_ran) }"));
	write_rule("b.lua", SLA("peek", "local mt = getmetatable(after '1h' (function() end))\n"
	                                "mail { to = 'y@example.com', subject = "
	                                "tostring(type(mt) == 'table' and mt.shared) }"));
	assert_int_equal(wafa_sandbox_open(32 << 20, 2000, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, out), 0);
	fclose(out);
	assert_string_equal(report, "");
	/* the library still knows its own after steps */
	assert_int_equal(r->rules[find_rule(r, "after")].nphases, 2);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "churn"), 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "boolean");
	lua_gc(wafa_sandbox_state(sb), LUA_GCCOLLECT);
	lua_gc(wafa_sandbox_state(sb), LUA_GCCOLLECT);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "count"), 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "0"); /* no finalizer ever ran */
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "peek"), 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "false");
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	wafa_ticket_free(t);
}

/* Issue 17, 2: a when that filled the state to the cap made the next
 * ticket's push fail outside lua_pcall: abort(), every restart.  Now the
 * host has headroom, pushes are protected, and a rule that hit the cap is
 * stopped even when its own pcall caught the error. */
static void a_rule_at_the_memory_cap_is_stopped_not_the_host(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_ticket *t = ticket();
	static char big[300 * 1024];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	write_rule("a.lua", "local cache = {}\n"
	                    "sla \"hog\" { target = \"1h\", when = function(t)\n"
	                    "  pcall(function() while true do cache[#cache + 1] = ('x'):rep(1000) .. #cache end end)\n"
	                    "  return true end,\n"
	                    "  on_breach = function(t, s) pcall(function() local u = {} "
	                    "while true do u[#u + 1] = ('y'):rep(1000) .. #u end end) end }\n"
	                    SLA("fine", "mail { to = 'x@example.com', subject = #t.subject .. '' }"));
	assert_int_equal(wafa_sandbox_open(4 << 20, 1000, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, stderr), 0);
	int hog = find_rule(r, "hog");
	/* the cap is hit inside the rule's own pcall: still stopped */
	assert_false(wafa_rules_applies(r, hog, t));
	for (int i = 0; i < 3; i++) {
		struct wafa_ticket *next = ticket();
		next->id = 43 + i;
		next->str[WAFA_T_SUBJECT] = big; /* a long customer text to push */
		assert_false(wafa_rules_applies(r, hog, next));
		assert_int_equal(wafa_rules_run(r, next, hog, 0, &F), -ENOMEM);
		/* another rule may find room or not; either way it returns */
		int e = wafa_rules_run(r, next, find_rule(r, "fine"), 0, &F);
		assert_true(e == 0 || e == -ENOMEM);
		wafa_ticket_free(next);
	}
	/* the host is alive; after a reload the state is usable again */
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	assert_int_equal(wafa_sandbox_open(4 << 20, 1000, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, stderr), 0);
	t->str[WAFA_T_SUBJECT] = big;
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "fine"), 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "307199");
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	wafa_ticket_free(t);
}

/* Issue 17, 3: the pattern guard estimated the cost from the pattern and
 * could be walked around (one quantifier, '?', '.-.-' on 3000 bytes); a
 * benign t.subject:find("a*b") on a 300 KB subject froze the daemon.  Now
 * the matcher's steps are charged to the budget as it runs. */
static void patterns_are_charged_to_the_budget(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_ticket *t = ticket();
	static char big[300 * 1024], digits[100 * 1024];
	struct timespec t0, t1;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	memset(digits, '7', sizeof(digits) - 1);
	write_rule("a.lua",
	           SLA("one", "string.find(('a'):rep(200000), 'a*b')")
	           SLA("two", "(('a'):rep(3000)):find('.-.-b')")
	           SLA("maybe", "string.find(('a?'):rep(26) .. ('a'):rep(26), ('a?'):rep(26) .. ('a'):rep(26) .. 'b')")
	           SLA("pcalled", "pcall(string.find, ('a'):rep(200000), 'a*b') "
	                          "pcall(string.gsub, ('a'):rep(200000), 'a*b', 'x') "
	                          "for x in string.gmatch(('a'):rep(200000), 'a*b') do end")
	           SLA("subject", "if t.subject:find('a*b') then mail { to = 'x@example.com', subject = 'b' } end")
	           SLA("digits", "mail { to = 'x@example.com', subject = tostring(t.subject:match('^%d+$') ~= nil) .. ' ' .. "
	                         "tostring(wafa.promise_in(t.subject, { last_agent_at = 1700000000 })) }"));
	assert_int_equal(wafa_sandbox_open(32 << 20, 200, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, stderr), 0);
	const char *costly[] = { "one", "two", "maybe", "pcalled" };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < sizeof(costly) / sizeof(costly[0]); i++)
		assert_int_equal(wafa_rules_run(r, t, find_rule(r, costly[i]), 0, &F), -ETIME);
	t->str[WAFA_T_SUBJECT] = big;
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "subject"), 0, &F), -ETIME);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* five budgets of 200 ms, not minutes (a loose bound: stopping at all) */
	assert_true(t1.tv_sec - t0.tv_sec < 10);
	/* an anchored pattern on a long run of digits is linear: no error, and
	 * promise_in finds no promise in it */
	t->str[WAFA_T_SUBJECT] = digits;
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "digits"), 0, &F), 0);
	assert_string_equal(r->mails[0].subject, "true nil");
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	wafa_ticket_free(t);
}

/* Issue 17, 5: customer_email = "cust@example.com, spam1@evil.example" sent
 * the mail to both; a name like 'Mallory <m@evil.example>, "Real' put
 * into name .. " <" .. email .. ">" sent Real's survey to Mallory. */
static void to_is_one_mailbox(void **state)
{
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_ticket *t = ticket();
	static char list[] = "cust@example.com, spam1@evil.example", real[] = "real@example.com",
	            mallory[] = "Mallory <mallory@evil.example>, \"Real";

	(void)state;
	write_rule("a.lua", SLA("plain", "mail { to = t.customer_email, subject = 'x' }")
	                    SLA("built", "mail { to = t.customer_name .. ' <' .. t.customer_email .. '>', subject = 'x' }")
	                    SLA("address", "mail { to = wafa.address(t.customer_name, t.customer_email), subject = 'x' }"));
	assert_int_equal(wafa_sandbox_open(32 << 20, 1000, &sb), 0);
	assert_int_equal(wafa_rules_open(sb, &r), 0);
	assert_int_equal(wafa_rules_load_dir(r, dir, stderr), 0);
	t->str[WAFA_T_CUSTOMER_EMAIL] = list;
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "plain"), 0, &F), -EINVAL);
	assert_int_equal(r->nmails, 0);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "address"), 0, &F), -EINVAL);
	t->str[WAFA_T_CUSTOMER_EMAIL] = real;
	t->str[WAFA_T_CUSTOMER_NAME] = mallory;
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "built"), 0, &F), -EINVAL);
	assert_int_equal(r->nmails, 0);
	assert_int_equal(wafa_rules_run(r, t, find_rule(r, "address"), 0, &F), 0);
	assert_int_equal(r->nmails, 1);
	assert_string_equal(r->mails[0].to, "\"Mallory <mallory@evil.example>, \\\"Real\" <real@example.com>");
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
	t->str[WAFA_T_CUSTOMER_EMAIL] = NULL;
	t->str[WAFA_T_CUSTOMER_NAME] = NULL;
	wafa_ticket_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(rules_cannot_escape, clear_dir),
		cmocka_unit_test_setup(broken_file_is_reported_and_disabled_alone, clear_dir),
		cmocka_unit_test_setup(calendar_and_promise_mistakes_are_reported, clear_dir),
		cmocka_unit_test_setup(deadlines_follow_the_declaration, clear_dir),
		cmocka_unit_test_setup(changes_at_one_instant_count_in_order, clear_dir),
		cmocka_unit_test_setup(when_runs_again_only_when_the_ticket_changes, clear_dir),
		cmocka_unit_test_setup(no_finalizer_runs_and_library_metatables_are_hidden, clear_dir),
		cmocka_unit_test_setup(a_rule_at_the_memory_cap_is_stopped_not_the_host, clear_dir),
		cmocka_unit_test_setup(patterns_are_charged_to_the_budget, clear_dir),
		cmocka_unit_test_setup(to_is_one_mailbox, clear_dir),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
