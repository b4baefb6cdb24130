#!/usr/bin/python3
"""A broken rule file is reported with its file and line, by `wafa check`
and by `wafa run`, and the other rule files still run; the unit's
ExecStartPre (`wafa check --allow-disabled`) lets the service start with it,
and stops it only for a broken config."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

BROKEN = (
    "-- Broken on purpose: line 3 is not Lua.\n"
    "local greeting = \"hello\"\n"
    "this is not lua\n"
    "sla \"never\" { target = \"1s\", on_breach = function(t, s) end }\n"
)

# Everything on line 3, so that the reported line is 3 whether it is taken
# from the sla call or from the target field.
BAD_DURATION = (
    "-- A duration with an unknown unit.\n"
    "\n"
    "sla \"bad-duration\" { start = \"created_at\", target = \"4x\", on_breach = function(t, s) end }\n"
)


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={
        "broken.lua": BROKEN,
        "good.lua": breach_rule(name="good", to='"good@example.com"'),
    })

    r = w.check()
    is_(r.returncode, 65, "wafa check exits 65 with a broken rule file", diag=show(r))
    ok("broken.lua:3:" in r.stderr, "wafa check reports broken.lua:3:", diag=show(r))
    ok("good.lua:" not in r.stderr, "wafa check does not blame good.lua", diag=show(r))

    # the unit as built: its ExecStartPre, on this config
    with open(os.path.join(BUILDDIR, "contrib", "wafa.service"), encoding="utf-8") as f:
        pre = [l.split("=", 1)[1].split() for l in f if l.startswith("ExecStartPre=")]
    ok(len(pre) == 1 and pre[0][0].endswith("/wafa") and pre[0][-2] == "-c",
       "the unit has one ExecStartPre running wafa ... -c FILE", diag=repr(pre))
    if pre:
        r = cli(pre[0][1:-1] + [w.conf_path])
        is_(r.returncode, 0, "the unit's ExecStartPre passes with a broken rule file (the "
            "daemon disables it)", diag=show(r))
        ok("broken.lua:3:" in r.stderr and "disables a broken rule file" in r.stderr,
           "and still reports it, saying it is disabled", diag=show(r))
        bad = Wafa(pg, sink.url, rules={"good.lua": breach_rule()})
        with open(bad.conf_path, "a", encoding="utf-8") as f:
            f.write("[mail]\nretry_initial = soon\n")
        r = cli(pre[0][1:-1] + [bad.conf_path])
        is_(r.returncode, 78, "the unit's ExecStartPre fails (78) for a broken config",
            diag=show(r))

    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()
    ok(wait_for(lambda: "broken.lua:3" in w.log(), 5), "wafa run logs broken.lua:3",
       diag=w.log)
    tid, created = pg.create_ticket("Good rule still works", "owner@example.com")
    got = wait_for(lambda: sink.messages_to("good@example.com"), created + 2 + 10 - time.time())
    ok(got, "good.lua's breach mail is sent despite broken.lua",
       diag=lambda: sink.summary() + "\n" + w.log())
    if got:
        is_(str(got[0]["subject"]), "SLA breached: #%d Good rule still works" % tid,
            "good.lua's mail has its subject")
    w.stop_ok()

    # A bad duration is a problem of the file, at its line, naming the unit.
    w2 = Wafa(pg, sink.url, rules={"baddur.lua": BAD_DURATION})
    r = w2.check()
    is_(r.returncode, 65, "wafa check exits 65 for target = \"4x\"", diag=show(r))
    lines = [l for l in r.stderr.splitlines() if "baddur.lua:3:" in l]
    ok(lines, "wafa check reports baddur.lua:3:", diag=show(r))
    ok(any("unit" in l for l in lines), "the message mentions the unit", diag=show(r))


run(main)
