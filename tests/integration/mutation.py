#!/usr/bin/python3
"""wafa test --mutate: each duration and percentage literal of the rules is
made laxer in turn (a duration doubled, a warning moved halfway to the
deadline) and the tests run again; a change no test notices is a "not ok"
point naming file:line and the change, and the exit status is 1.  Every
shipped example's own tests pin every one of its numbers (the check the
README promises: changing the urgent target of business-hours.lua from 1h
to 2h fails a test).  Comments, long strings, escaped strings and text
that only looks like a number ("09:00-17:00") are not changed."""
import glob
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

EXAMPLES = os.path.join(SRCDIR, "rules", "examples")
TEMPLATES = os.path.join(SRCDIR, "rules", "templates")



def config(d, rules_dir):
    return offline_config(d, rules_dir, TEMPLATES)


def write(d, name, text):
    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
        f.write(dedent(text))


WEAK_RULE = '''
    -- a comment with "3h" in it is left alone
    --[[ and so is a long comment: "5h" ]]
    sla "answer" {
      start = "created_at", stop = "first_reply_at",
      target = { urgent = "1h", default = "8h" },
      warn = { "50%" },
      on_warn = function(t) mail { to = "lead@example.com", subject = "soon " .. [[ "7h" ]] } end,
      on_breach = function(t)
        mail { to = "lead@example.com", subject = "late 09:00-17:00 \\"2h\\"" }
      end,
    }
'''

WEAK_TEST = '''
    test "an urgent ticket breaches on time" {
      function(t)
        t.at "2026-03-05 09:00"
        local tk = t.ticket { priority = "urgent" }
        t.at "2026-03-05 09:30"
        t.expect { event = "warn", ticket = tk, at = "2026-03-05 09:30" }
        t.at "2026-03-05 10:00"
        t.expect { event = "breach", ticket = tk, at = "2026-03-05 10:00" }
      end,
    }
'''

STRONG_TEST = WEAK_TEST + '''
    test "a normal ticket gets eight hours" {
      function(t)
        t.at "2026-03-05 09:00"
        local tk = t.ticket { }
        t.at "2026-03-05 17:00"
        t.expect { event = "breach", ticket = tk, at = "2026-03-05 17:00" }
      end,
    }
'''


def main():
    require_wafa()
    examples = sorted(p for p in glob.glob(os.path.join(EXAMPLES, "*.lua"))
                      if not p.endswith("_test.lua"))
    plan(9 + len(examples))
    tmp = tempfile.mkdtemp(prefix="wafa-mutate-")
    try:
        run_all(tmp, examples)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(tmp, examples):
    # a rule whose tests leave its normal target unpinned
    d = os.path.join(tmp, "weak")
    os.makedirs(d)
    write(d, "answer.lua", WEAK_RULE)
    write(d, "answer_test.lua", WEAK_TEST)
    conf = config(d, d)
    scratch = os.path.join(tmp, "scratch")
    os.makedirs(scratch)
    r = cli(["test", "-c", conf, "--mutate"], timeout=60, env=dict(os.environ, TMPDIR=scratch))
    is_(r.returncode, 1, "a change no test notices makes wafa test --mutate exit 1", diag=show(r))
    bad = re.findall(r"^not ok \d+ - (.*)$", r.stdout, re.M)
    good = re.findall(r"^ok \d+ - (.*)$", r.stdout, re.M)
    line = 1 + dedent(WEAK_RULE).splitlines().index(
        '  target = { urgent = "1h", default = "8h" },')
    is_(bad, ['answer.lua:%d "8h" -> "16h": no test noticed' % line],
        "the survivor is named by file:line and the change", diag=r.stdout)
    is_(sorted(re.sub(r"^answer\.lua:\d+ (.*): \d+ test\(s\) failed$", r"\1", g) for g in good),
        sorted(['"1h" -> "2h"', '"50%" -> "75%"']),
        "the changes the tests notice are ok points; comments, long strings, escaped "
        "strings and clock times are left alone", diag=r.stdout)
    ok(re.search(r"^1\.\.3$", r.stdout, re.M) and "1 of 3 change(s) survived" in r.stdout,
       "the plan counts every change and the summary says how many survived", diag=r.stdout)
    with open(os.path.join(d, "answer.lua"), encoding="utf-8") as f:
        ok(f.read() == dedent(WEAK_RULE), "the rule file itself is left unchanged")
    is_(os.listdir(scratch), [], "the changed copies (in $TMPDIR) are removed afterwards")

    # the same rule with a test for the normal target
    write(d, "answer_test.lua", STRONG_TEST)
    r = cli(["test", "-c", conf, "--mutate"], timeout=60)
    ok(r.returncode == 0 and "every one of 3 change(s) made a test fail" in r.stdout,
       "with the normal target tested, every change is noticed and it exits 0", diag=show(r))

    # tests that fail as the rules are: nothing to measure
    write(d, "answer_test.lua", WEAK_TEST.replace("10:00\" }", "10:05\" }"))
    r = cli(["test", "-c", conf, "--mutate"], timeout=60)
    ok(r.returncode == 1 and "fix them first" in r.stderr and "not ok" not in r.stdout,
       "tests that fail unchanged are reported first, and no change is tried", diag=show(r))

    # plain wafa test is unchanged by the option's existence
    write(d, "answer_test.lua", WEAK_TEST)
    r = cli(["test", "-c", conf], timeout=60)
    ok(r.returncode == 0 and "# all 1 passed" in r.stdout, "wafa test without --mutate runs once",
       diag=show(r))

    # each shipped example, alone with its tests: every number pinned
    for rule in examples:
        name = os.path.basename(rule)[:-4]
        d = os.path.join(tmp, name)
        os.makedirs(d)
        shutil.copy(rule, d)
        shutil.copy(os.path.join(EXAMPLES, name + "_test.lua"), d)
        r = cli(["test", "-c", config(d, d), "--mutate"], timeout=120)
        n = re.search(r"^1\.\.(\d+)$", r.stdout, re.M)
        ok(r.returncode == 0 and n and int(n.group(1)) > 0,
           "%s.lua: each of its %s duration and percentage literals, made laxer, fails one of "
           "its tests" % (name, n.group(1) if n else "?"), diag=show(r))


if __name__ == "__main__":
    run(main)
