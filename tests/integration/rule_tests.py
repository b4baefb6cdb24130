#!/usr/bin/python3
"""wafa test: the rule tests of every shipped example pass (with no
PostgreSQL anywhere: the dsn points at nothing); a wrong expectation fails
with the test file's line, what was expected and what happened; a broken
test file, a rule that raises, a template mail that cannot be made and a
test that reaches for io/os/require are reported as failures, never a
crash; the output is TAP a CI runner can count; and a test generated from
`wafa simulate`'s prediction for the same tickets (real PostgreSQL) passes
with nothing left over: one engine, not two."""
import glob
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

EXAMPLES = os.path.join(SRCDIR, "rules", "examples")
TEMPLATES = os.path.join(SRCDIR, "rules", "templates")



def config(d, rules_dir, templates=TEMPLATES):
    return offline_config(d, rules_dir, templates)


def tap_points(out):
    """(oks, not_oks, plan) of a TAP stream."""
    oks = re.findall(r"^ok \d+ - (.*)$", out, re.M)
    bad = re.findall(r"^not ok \d+ - (.*)$", out, re.M)
    m = re.search(r"^1\.\.(\d+)$", out, re.M)
    return oks, bad, int(m.group(1)) if m else None


def write(d, name, text):
    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
        f.write(dedent(text))


def line_of(d, name, needle):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if needle in line:
                return n
    raise ValueError(needle)


FIRST_RESPONSE = os.path.join(EXAMPLES, "first-response.lua")


def main():
    require_wafa()
    plan(24 + len(example_rules()))
    tmp = tempfile.mkdtemp(prefix="wafa-ruletest-")
    try:
        run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def example_rules():
    return sorted(p for p in glob.glob(os.path.join(EXAMPLES, "*.lua"))
                  if not p.endswith("_test.lua"))


def run_all(tmp):
    # -- every shipped example has tests, and they pass
    examples = example_rules()
    missing = [os.path.basename(p) for p in examples
               if not os.path.exists(p[:-4] + "_test.lua")]
    ok(not missing, "every example rule file has a NAME_test.lua beside it",
       diag="without tests: %s" % missing)
    conf = config(tmp, EXAMPLES)
    r = cli(["test", "-c", conf], timeout=120)
    oks, bad, n = tap_points(r.stdout)
    is_(r.returncode, 0, "wafa test on rules/examples exits 0 (no PostgreSQL reachable)",
        diag=show(r))
    diag("wafa test -c wafa.conf (rules/examples):\n" + r.stdout)
    ok(n is not None and n == len(oks) + len(bad) and not bad and len(oks) >= 3 * len(examples),
       "TAP: a plan that counts every point, %d tests, none failing" % len(oks), diag=show(r))
    ok(r.stdout.startswith("TAP version 13\n"), "the stream starts with the TAP version line",
       diag=show(r))
    for p in examples:
        base = os.path.basename(p)[:-4] + "_test.lua"
        count = len([o for o in oks if o.endswith("(%s)" % base)])
        ok(count >= 3, "%s: %d tests pass" % (base, count), diag=show(r))

    # -- the same, naming the directory, and one file alone
    r2 = cli(["test", "-c", conf, EXAMPLES], timeout=120)
    ok(r2.returncode == 0 and tap_points(r2.stdout)[:2] == (oks, bad),
       "naming the directory runs the same tests", diag=show(r2))

    # -- a wrong expectation fails with file:line, what was expected, what happened
    d = os.path.join(tmp, "wrong")
    os.makedirs(d)
    shutil.copy(FIRST_RESPONSE, d)
    write(d, "first-response_test.lua", '''
        test "right" {
          function(t)
            t.at "2026-03-05 09:00"
            t.ticket { priority = "urgent", subject = "Printer", owner_email = "omar@example.com" }
            t.wait "1h"
            t.expect_mail { to = "omar@example.com", subject = "SLA breached: #1 Printer" }
          end,
        }
        test "wrong subject" {
          function(t)
            t.at "2026-03-05 09:00"
            t.ticket { priority = "urgent", subject = "Printer", owner_email = "omar@example.com" }
            t.wait "1h"
            t.expect_mail { to = "omar@example.com", subject = "SLA breached: #1 Scanner" }
          end,
        }
        test "too early" {
          function(t)
            t.at "2026-03-05 09:00"
            t.ticket { priority = "urgent", owner_email = "omar@example.com" }
            t.wait "30m"
            t.expect { event = "breach" }
          end,
        }
        test "no mail, but there was one" {
          function(t)
            t.at "2026-03-05 09:00"
            t.ticket { priority = "high", owner_email = "omar@example.com" }
            t.wait "5h"
            t.expect_no_mail()
          end,
        }
    ''')
    conf_w = config(d, d)
    r = cli(["test", "-c", conf_w], timeout=60)
    oks, bad, n = tap_points(r.stdout)
    is_(r.returncode, 1, "a failing test makes wafa test exit 1", diag=show(r))
    ok(oks == ["right (first-response_test.lua)"] and len(bad) == 3 and n == 4,
       "one passes, three fail, all four counted", diag=show(r))
    path = os.path.join(d, "first-response_test.lua")
    l1 = line_of(d, "first-response_test.lua", "#1 Scanner")
    ok(("%s:%d: expected a mail to \"omar@example.com\" with subject \"SLA breached: #1 Scanner\""
        % (path, l1)) in r.stdout
       and 'its subject was "SLA breached: #1 Printer"' in r.stdout,
       "the wrong subject is named at its file:line, with the subject that came", diag=show(r))
    l2 = line_of(d, "first-response_test.lua", 't.expect { event = "breach" }')
    ok(("%s:%d: expected a breach, but none happened." % (path, l2)) in r.stdout
       and "the clock is at 2026-03-05 09:30 UTC" in r.stdout,
       "an expected breach that has not come is named with the clock's time", diag=show(r))
    l3 = line_of(d, "first-response_test.lua", "t.expect_no_mail()")
    ok(("%s:%d: expected no mail, but one happened:" % (path, l3)) in r.stdout
       and "to omar@example.com: \"SLA breached: #1 Ticket 1\"" in r.stdout,
       "an unexpected mail is shown with its time, rule, recipient and subject", diag=show(r))

    # -- t.show() prints what happened, as TAP comments
    write(d, "show_test.lua", '''
        test "show" {
          rules = "first-response",
          function(t)
            t.at "2026-03-05 09:00"
            t.ticket { priority = "urgent", owner_email = "omar@example.com" }
            t.wait "2h"
            t.expect { event = "breach" }
            t.show()
          end,
        }
    ''')
    r = cli(["test", "-c", conf_w, os.path.join(d, "show_test.lua")], timeout=60)
    ok(r.returncode == 0 and re.search(
        r"^# .*show_test\.lua:\d+: what happened so far \(the clock is at 2026-03-05 11:00 UTC\):\n"
        r"#   2026-03-05 09:00 UTC  started of first-response, ticket 1\n"
        r"#   2026-03-05 10:00 UTC  breach of first-response, ticket 1 \(breach\)  \(expected\)\n"
        r"#   2026-03-05 10:00 UTC  mail from first-response \(breach\), ticket 1, to omar@example.com: "
        r"\"SLA breached: #1 Ticket 1\"\n", r.stdout, re.M),
       "t.show() prints what happened, in order, as TAP comments", diag=show(r))
    os.remove(os.path.join(d, "show_test.lua"))

    # -- a broken test file is reported, and the other files still run
    write(d, "broken_test.lua", '''
        test "never runs" {
          function(t)
            t.at "2026-03-05 09:00"
        }
    ''')
    write(d, "empty_test.lua", '''
        local nothing = 1
    ''')
    r = cli(["test", "-c", conf_w], timeout=60)
    oks, bad, n = tap_points(r.stdout)
    ok(r.returncode == 1 and r.returncode < 128 and "the test file could not be run (broken_test.lua)"
       in r.stdout and re.search(re.escape(os.path.join(d, "broken_test.lua")) + r":\d+: ",
                                 r.stdout),
       "a test file with a syntax error is a failing point naming file:line", diag=show(r))
    ok("the file declares no test" in r.stdout and "right (first-response_test.lua)" in oks
       and n == len(oks) + len(bad),
       "a file that declares no test fails; the other files' tests still run", diag=show(r))

    # -- rules that raise, templates that cannot be made, the sandbox
    d = os.path.join(tmp, "more")
    os.makedirs(d)
    write(d, "raises.lua", '''
        sla "raises" {
          target = "1h",
          on_breach = function(t, s) mail { to = t.owner_email .. "", subject = "x" } end,
        }
    ''')
    write(d, "raises_test.lua", '''
        test "the rule's error fails the test" {
          function(t)
            t.at "2026-03-05 09:00"
            t.ticket { }
            t.wait "2h"
          end,
        }
    ''')
    write(d, "template.lua", '''
        followup "survey" {
          since = "solved_at", after = "1h",
          on_due = function(t, s)
            mail { to = t.customer_email, template = "csat", vars = { ticket_ref = t.ref } }
          end,
        }
    ''')
    write(d, "template_test.lua", '''
        test "a template variable the mail does not give" {
          function(t)
            t.at "2026-03-05 09:00"
            local tk = t.ticket { }
            t.solve(tk)
            t.wait "1h"
            t.expect_mail { template = "csat" }
          end,
        }
    ''')
    write(d, "sandbox_test.lua", '''
        test "io" { function(t) io.open("/etc/passwd") end }
        test "os" { function(t) os.exit(3) end }
        test "require" { function(t) require("os") end }
        test "load" { function(t) load("return 1")() end }
    ''')
    write(d, "times_test.lua", '''
        test "times as people write them" {
          zone = "Asia/Tehran",
          function(t)
            t.at "2026-03-05 09:00"                           -- Tehran, +03:30
            t.check(t.now() == 1772688600, "a time in the test's zone: " .. t.now())
            t.check(t.time "2026-03-05 09:00 UTC" == 1772701200, "a zone named after it")
            t.check(t.time "2026-03-05T09:00:00Z" == 1772701200, "RFC 3339 with Z")
            t.check(t.time "2026-03-05T12:30:00+03:30" == 1772701200, "an offset")
            t.check(t.time "2026-03-05 12:30:15 Asia/Tehran" == 1772701215, "seconds")
            t.check(t.time "2026-03-06" == 1772742600, "a date: midnight in the zone")
            t.check(t.time "now+90m" == t.now() + 5400, "now+90m")
            t.check(t.time "now-1d" == t.now() - 86400, "now-1d")
            t.check(t.time(1772701200) == 1772701200, "Unix seconds")
            t.wait "1h"
            t.check(t.now() == 1772692200, "t.wait moves on")
          end,
        }
        test "a time that is not one" {
          function(t) t.at "next Tuesday" end,
        }
        test "the clock does not go back" {
          function(t) t.at "2026-03-05 09:00"; t.at "2026-03-04 09:00" end,
        }
    ''')
    r = cli(["test", "-c", config(d, d)], timeout=60)
    oks, bad, n = tap_points(r.stdout)
    ok("times as people write them (times_test.lua)" in oks
       and re.search(r'times_test\.lua:\d+: t\.at "next Tuesday": expected a time like', r.stdout)
       and re.search(r"times_test\.lua:\d+: the clock cannot go back \(it is 2026-03-05 09:00 "
                     r"UTC; asked for 2026-03-04 09:00 UTC\)", r.stdout),
       "times in a zone, with an offset or zone, dates, now+/-, Unix seconds; a bad time and "
       "a clock going back are named at their line", diag=show(r))
    is_(r.returncode, 1, "rules that fail and tests that reach out exit 1 (not a crash)",
        diag=show(r))
    ok(re.search(r"raises_test\.lua:\d+: a rule raised an error at 2026-03-05 10:00 UTC: "
                 r"rules: rule=raises ticket=1 phase=breach: .*owner_email", r.stdout),
       "a rule's error in an action fails the test, naming the rule, ticket and step",
       diag=show(r))
    ok(re.search(r"template_test\.lua:\d+: the mail from survey to customer1@example.com "
                 r"\(template csat\) could not be made, so it would fail: .*customer_name",
                 r.stdout),
       "a template mail missing a variable fails the test with the template's words",
       diag=show(r))
    sandbox_fails = [b for b in bad if b.endswith("(sandbox_test.lua)")]
    ok(len(sandbox_fails) == 4 and "attempt to index a nil value (global 'io')" in r.stdout
       and "attempt to index a nil value (global 'os')" in r.stdout
       and "attempt to call a nil value (global 'require')" in r.stdout
       and "attempt to call a nil value (global 'load')" in r.stdout,
       "test files run in the sandbox: no io, os, require or load", diag=show(r))

    # -- a rule file with a problem: named, left out as wafa run would, the tests still run
    d = os.path.join(tmp, "badrule")
    os.makedirs(d)
    shutil.copy(FIRST_RESPONSE, d)
    write(d, "broken.lua", '''
        sla "broken" { target = "4x", on_breach = function(t, s) end }
    ''')
    write(d, "first-response_test.lua", '''
        test "still runs" {
          function(t)
            t.at "2026-03-05 09:00"
            t.ticket { priority = "urgent" }
            t.wait "1h"
            t.expect { event = "breach", rule = "first-response" }
          end,
        }
    ''')
    r = cli(["test", "-c", config(d, d)], timeout=30)
    oks, bad, n = tap_points(r.stdout)
    ok(r.returncode == 1 and bad == ["the rule files load (%s)" % os.path.basename(d)]
       and oks == ["still runs (first-response_test.lua)"]
       and re.search(re.escape(os.path.join(d, "broken.lua")) + r":1: .*4x", r.stderr),
       "a rule file with a problem fails a point and is named at file:line; the tests run "
       "with the other rules", diag=show(r))

    # -- no tests: a clear word and EX_NOINPUT
    d = os.path.join(tmp, "none")
    os.makedirs(d)
    shutil.copy(FIRST_RESPONSE, d)
    r = cli(["test", "-c", config(d, d)], timeout=30)
    ok(r.returncode == 66 and "no tests found in %s" % d in r.stderr,
       "no NAME_test.lua: exit 66 saying where it looked", diag=show(r))
    # the rule loader leaves tests alone: wafa check on the examples is clean
    r = cli(["check", "-c", conf], timeout=30)
    ok(r.returncode == 0, "wafa check does not load NAME_test.lua as a rule file", diag=show(r))

    same_as_simulate(tmp)


# Rules and tickets for the comparison with wafa simulate: calendars, warnings,
# escalation chains, targets by priority and by function, a promise, a
# follow-up series with unless.
SIM_RULES = dedent('''
    calendar "cairo" {
      timezone = "Africa/Cairo",
      hours = { sun = "09:00-17:00", mon = "09:00-17:00", tue = "09:00-17:00",
                wed = "09:00-17:00", thu = "09:00-17:00" },
    }
    local function to(addr) return function(t, s)
      mail { to = addr, subject = s.rule .. " " .. s.phase .. " #" .. t.ref }
    end end
    sla "plain" {
      when = function(t) return t.queue == "Plain" end,
      stop = "first_reply_at", target = { urgent = "1h", default = "8h" },
      warn = { "75%", "30m" }, on_warn = to("owner@example.com"),
      on_breach = { to("owner@example.com"), after "2h" (to("lead@example.com")) },
    }
    sla "cairo" {
      when = function(t) return t.queue == "Cairo" end,
      calendar = "cairo", notify_in = "business", stop = "first_reply_at",
      target = function(t) if t.extra.tier == "gold" then return "2h" end return "8h" end,
      on_breach = { to("owner@example.com"), after "4h" (to("lead@example.com")) },
    }
    promise "callback" {
      when = function(t) return t.due_at ~= nil end,
      at = "due_at", warn = { "2h" }, on_warn = to("owner@example.com"),
      on_breach = to("lead@example.com"),
    }
    followup "nag" {
      when = function(t) return t.queue == "Nag" end,
      since = "created_at", after = "1d", every = "1d", max = 4,
      unless = function(t, s) return s.count == 2 end,
      on_due = to("customer@example.com"),
    }
''')

SIM_TICKETS = dedent('''
    INSERT INTO tickets (subject, queue, priority, created_at, updated_at, first_reply_at, extra)
    VALUES ('urgent, never answered', 'Plain', 'urgent', '2026-03-05T09:00Z', '2026-03-05T09:00Z',
            NULL, '{}'),
           ('answered late', 'Plain', 'normal', '2026-03-05T10:00Z', '2026-03-05T10:00Z',
            '2026-03-05T19:00Z', '{}'),
           ('answered in time', 'Plain', 'normal', '2026-03-05T10:00Z', '2026-03-05T10:00Z',
            '2026-03-05T12:00Z', '{}'),
           ('Thursday in Cairo', 'Cairo', 'normal', '2026-03-05T13:00Z', '2026-03-05T13:00Z',
            NULL, '{}'),
           ('gold in Cairo', 'Cairo', 'normal', '2026-03-05T14:30Z', '2026-03-05T14:30Z',
            NULL, '{"tier": "gold"}'),
           ('nagged', 'Nag', 'normal', '2026-03-05T08:00Z', '2026-03-05T08:00Z', NULL, '{}');
    INSERT INTO tickets (subject, queue, created_at, updated_at, first_reply_at, due_at)
    VALUES ('promised', 'Other', '2026-03-05T09:00Z', '2026-03-05T11:00Z', '2026-03-05T11:00Z',
            '2026-03-06T15:00Z');
''')


def lua_str(v):
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def same_as_simulate(tmp):
    """What wafa test fires is what wafa simulate predicts for the same
    tickets and rules: the test is generated from simulate's output, every
    transition and mail an expectation, and nothing left over."""
    pg = Postgres()
    w = Wafa(pg, "maildir:" + os.path.join(pg.sockdir, "mail"), rules={"sim.lua": SIM_RULES})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup for the comparison with simulate", diag=show(r)):
        skip("the comparison with simulate", "setup failed", 2)
        return
    pg.psql(SIM_TICKETS)
    r = w.command("simulate", "--from", "2026-03-05T00:00:00Z", "--to", "2026-03-12T00:00:00Z",
                  "--json")
    events = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    ok(r.returncode == 0 and len(events) > 30 and
       {"warn", "breach", "escalate", "due", "cancelled", "met", "started", "mail"}
       <= {e["event"] for e in events},
       "wafa simulate predicts %d transitions and mails of every kind" % len(events),
       diag=show(r))
    cols = ["id", "ref", "subject", "status", "priority", "queue", "extra::text"] + [
        "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')" % c
        for c in ("created_at", "updated_at", "first_reply_at", "due_at")]
    rows = pg.psql("SELECT %s FROM wafa_tickets ORDER BY id" % ", ".join(cols))
    # each fact enters the test when the helpdesk would have shown it: the
    # ticket at its creation, a reply at its time, a promised date when the
    # ticket was last updated (as simulate takes it)
    steps = []
    for row in rows:
        created, updated, reply, due = row[7:]
        fields = ["id = %s" % row[0], "ref = %s" % lua_str(row[1]),
                  "subject = %s" % lua_str(row[2]), "status = %s" % lua_str(row[3]),
                  "priority = %s" % lua_str(row[4]), "queue = %s" % lua_str(row[5]),
                  "extra = %s" % lua_str(row[6]), "created_at = %s" % lua_str(created)]
        steps.append((created, 0, "t.ticket { %s }" % ", ".join(fields)))
        if due is not None:
            steps.append((max(updated, created), 1, "t.change(%s, { due_at = %s })" % (
                row[0], lua_str(due))))
        if reply is not None:
            steps.append((reply, 2, "t.reply(%s)" % row[0]))
    lines = ['test "what wafa simulate predicts" {', '  rules = "all",', '  function(t)']
    for when, _, stmt in sorted(steps):
        lines += ["    t.at %s" % lua_str(when), "    " + stmt]
    lines.append('    t.at "2026-03-12T00:00:00Z"')
    for e in events:
        if e["event"] == "mail":
            lines.append("    t.expect_mail { ticket = %d, rule = %s, phase = %s, to = %s, "
                         "subject = %s, at = %s }" % (
                             e["ticket"], lua_str(e["rule"]), lua_str(e["phase"]),
                             lua_str(e["to"]), lua_str(e["subject"]), lua_str(e["at"])))
        else:
            extra = (", phase = %s" % lua_str(e["phase"])) if "phase" in e else ""
            lines.append("    t.expect { ticket = %d, rule = %s, event = %s, at = %s%s }" % (
                e["ticket"], lua_str(e["rule"]), lua_str(e["event"]), lua_str(e["at"]), extra))
    lines += ["    t.expect_not { }", "    t.expect_no_mail()", "  end,", "}", ""]
    with open(os.path.join(w.rules_dir, "sim_test.lua"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    r = w.command("test", timeout=60)
    ok(r.returncode == 0 and "ok 1 - what wafa simulate predicts" in r.stdout,
       "wafa test fires exactly what wafa simulate predicts (%d expectations, nothing left over)"
       % len(events), diag=lambda: show(r) + "\n" + "\n".join(lines))


run(main)
