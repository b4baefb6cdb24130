#!/usr/bin/python3
"""Business time in Lua: wafa.business_add, wafa.next_open and
wafa.business_between answer from a declared calendar (weekend, holidays,
special periods) as the deadline engine does, in Unix seconds; a calendar
that is not declared is an error naming the function and the fix.  Run
through `wafa test`, whose rules run in the daemon's engine."""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULE = '''
calendar "office" {
  timezone = "Africa/Cairo",
  hours = { sun = "09:00-17:00", mon = "09:00-17:00", tue = "09:00-17:00",
            wed = "09:00-17:00", thu = "09:00-17:00" },
  holidays = { "2026-03-10" },
  special = { { "2026-03-11", hours = "09:00-13:00" } },
}

followup "tell" {
  since = "created_at", after = "1m", once = true,
  on_due = function(t, s)
    local c = t.created_at
    mail { to = "lead@example.com", subject = "times",
           body = table.concat({
             "add4h=" .. tostring(wafa.business_add(c, "4h", "office")),
             "add600=" .. tostring(wafa.business_add(c, 600, "office")),
             "add2bd=" .. tostring(wafa.business_add(c, "2bd", "office")),
             "open=" .. tostring(wafa.next_open(c, "office")),
             "between=" .. tostring(wafa.business_between(c, c + 7 * 86400, "office")),
             "backwards=" .. tostring(wafa.business_between(c + 60, c, "office")),
           }, " ") }
  end,
}

sla "per-ticket" {
  calendar = function(t) if t.subject == "lost" then return "nowhere" end return "office" end,
  start = "created_at", stop = "first_reply_at", target = "4h",
  on_breach = function(t, s) mail { to = "lead@example.com", subject = "late " .. t.subject } end,
}

sla "two-working-days" {
  calendar = "office",
  start = "created_at", stop = "first_reply_at", target = "2bd",
  on_breach = function(t, s) mail { to = "lead@example.com", subject = "2bd " .. t.subject } end,
}

followup "wrong" {
  since = "created_at", after = "2m", once = true,
  when = function(t) return t.subject == "wrong" end,
  on_due = function(t, s)
    mail { to = "lead@example.com", subject = "x",
           body = tostring(wafa.business_add(t.created_at, "4h", "nowhere")) }
  end,
}
'''

TEST = '''
test "times" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-09 15:00"      -- Monday; Tuesday is a holiday, Wednesday a half day
    t.ticket { subject = "one" }
    t.wait "1m"
    -- 15:00 Cairo is 13:00Z, 1773061200; Wednesday 11:00 is 44 h later
    t.expect_mail { subject = "times", body = "add4h=1773219600 add600=1773061800 add2bd=1773320400 "
                    .. "open=1773061200 between=100800 backwards=0" }
  end,
}

test "a calendar function names a calendar for each ticket" {
  zone = "Africa/Cairo",
  rules = { "per-ticket" },
  function(t)
    t.at "2026-03-09 15:00"
    t.ticket { subject = "here" }
    t.at "2026-03-11 11:00"          -- 2h Monday, Tuesday's holiday, 2h Wednesday
    t.expect { event = "breach", at = "2026-03-11 11:00" }
  end,
}

test "two working days: the same time two open days later" {
  zone = "Africa/Cairo",
  rules = { "two-working-days" },
  function(t)
    t.at "2026-03-09 15:00"          -- Monday; Tuesday a holiday, Wednesday a half day
    t.ticket { subject = "x" }
    t.at "2026-03-12 14:59"
    t.expect_not { event = "breach" }
    t.at "2026-03-12 15:00"          -- Thursday 15:00, not 16 business hours (Sunday 11:00)
    t.expect { event = "breach", at = "2026-03-12 15:00" }
  end,
}

test "lost" {
  zone = "Africa/Cairo",
  rules = { "per-ticket" },
  function(t)
    t.at "2026-03-09 15:00"
    t.ticket { subject = "lost" }
    t.at "2026-03-09 19:00"          -- wall-clock time: four hours later
    t.expect { event = "breach", at = "2026-03-09 19:00" }
  end,
}

test "wrong" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-09 15:00"
    t.ticket { subject = "wrong" }
    t.wait "3m"
  end,
}
'''


def main():
    require_wafa()
    plan(7)
    d = tempfile.mkdtemp(prefix="wafa-business-lua-")
    try:
        with open(os.path.join(d, "times.lua"), "w") as f:
            f.write(dedent(RULE))
        with open(os.path.join(d, "times_test.lua"), "w") as f:
            f.write(dedent(TEST))
        conf = os.path.join(d, "wafa.conf")
        with open(conf, "w") as f:
            f.write("[database]\ndsn = host=/nonexistent dbname=x connect_timeout=1\n"
                    "[rules]\ndir = %s\n[mail]\ntransport = maildir:%s/mail\n"
                    "from = s@example.com\n" % (d, d))
        r = cli(["test", "-c", conf], timeout=60)
        ok(re.search(r"^ok \d+ - times ", r.stdout, re.M),
           "business_add (2h Monday, Tuesday's holiday, 2h of Wednesday's half day), a number "
           "of seconds, next_open, business_between over a week (28 h) and backwards (0) "
           "answer as the test file expects", diag=r.stdout)
        ok(re.search(r"^not ok \d+ - wrong ", r.stdout, re.M) and
           'wafa.business_add: no calendar "nowhere" is declared (declare it with calendar'
           in r.stdout and re.search(r"times.lua:\d+: wafa.business_add", r.stdout),
           "an undeclared calendar is an error with the rule file's line, the function and "
           "the fix", diag=r.stdout)
        ok(re.search(r"^ok \d+ - a calendar function names", r.stdout, re.M),
           "calendar = function(t): business time in the calendar it names", diag=r.stdout)
        ok(re.search(r"^not ok \d+ - lost ", r.stdout, re.M) and
           "calendar returned string nowhere: not a declared calendar" in r.stdout and
           "wall-clock time is used" in r.stdout and
           not re.search(r"lost \(times_test.lua\)\n# .*expected", r.stdout),
           "a calendar function naming no declared calendar is a rule error, and the clock "
           "runs on wall-clock time meanwhile (the breach comes, four hours on)", diag=r.stdout)
        ok(re.search(r"^ok \d+ - two working days", r.stdout, re.M),
           "target = \"2bd\": the same local time two open days later, over a holiday and a "
           "half day", diag=r.stdout)
        bad = os.path.join(d, "bad")
        os.makedirs(bad)
        with open(os.path.join(bad, "x.lua"), "w") as f:
            f.write('sla "x" { start = "created_at", stop = "first_reply_at", target = "8h",\n'
                    '  warn = { "1bd" }, on_warn = function() end }\n')
        with open(os.path.join(bad, "wafa.conf"), "w") as f:
            f.write("[database]\ndsn = host=/nonexistent dbname=x\n[rules]\ndir = %s\n"
                    "[mail]\ntransport = maildir:%s/mail\nfrom = s@example.com\n" % (bad, bad))
        r2 = cli(["check", "-c", os.path.join(bad, "wafa.conf")])
        ok(r2.returncode != 0 and 'x.lua:1: warn[1] "1bd": business days ("bd") are for a target'
           in r2.stderr, "business days elsewhere than a target are refused with the place and "
           "the fix", diag=show(r2))
        # the same rule with a wrong expectation fails: the test above can fail
        with open(os.path.join(d, "times_test.lua"), "w") as f:
            f.write(dedent(TEST).replace("between=100800", "between=115200"))
        r = cli(["test", "-c", conf], timeout=60)
        ok(re.search(r"^not ok \d+ - times ", r.stdout, re.M) and "between=100800" in r.stdout,
           "a wrong figure fails the test and shows the real one", diag=r.stdout)
    finally:
        shutil.rmtree(d, ignore_errors=True)


run(main)
