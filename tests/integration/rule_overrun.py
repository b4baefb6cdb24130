#!/usr/bin/python3
"""A firing stopped by the rules' budget is tried again (issue 16, minor).

On a loaded host a rule that keeps to its budget may not; such a firing was
marked done and its mail never sent.  Now it is tried again after 1, 2 and
4 s, and only a rule that overruns every time is given up (after four
tries, so it cannot hold the loop forever).  The loaded host is played by
the rule itself: its first call spins until the budget stops it."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

TARGET = 2

RULES = {
    "10-once.lua": dedent('''
        local calls = 0
        sla "slow-once" {
          start = "created_at", stop = "first_reply_at", target = "%ds",
          when = function(t) return t.queue == "Once" end,
          on_breach = function(t, s)
            calls = calls + 1
            if calls == 1 then
              local x = 0
              while true do x = x + 1 end   -- a host too busy for the budget
            end
            mail { to = t.owner_email, subject = "breach " .. t.ref, body = "late\\n" }
          end,
        }
    ''' % TARGET),
    "20-always.lua": dedent('''
        sla "slow-always" {
          start = "created_at", stop = "first_reply_at", target = "%ds",
          when = function(t) return t.queue == "Always" end,
          on_breach = function(t, s)
            local x = 0
            while true do x = x + 1 end
          end,
        }
    ''' % TARGET),
}


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules=RULES, conf={"rules.budget": "100ms"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()
    once, created = pg.create_ticket("slow once", "once@example.com", queue="Once")
    always, _ = pg.create_ticket("slow always", "always@example.com", queue="Always")
    due = created + TARGET
    wait_for(lambda: sink.messages_to("once@example.com"), due + 10 - time.time())
    mails = sink.messages_to("once@example.com")
    is_(len(mails), 1, "the firing stopped once by the budget is tried again and mails",
        diag=lambda: sink.summary() + "\n" + "\n".join(w.log_lines("slow-once")))
    if mails:
        late = mails[0].received - due
        ok(late < 6, "its mail comes a retry later, not never",
           diag="%.2f s after the deadline" % late)
    # 1 + 2 + 4 s of retries for the rule that always overruns, and some more
    time.sleep(max(0.0, due + 11 - time.time()))
    stops = w.log_lines("rule=slow-always ticket=%d" % always, "instruction budget")
    is_(len(stops), 4, "a rule that overruns every time is tried four times, then given up",
        diag=lambda: "\n".join(w.log_lines("slow-always")))
    ok(w.log_lines("rule=slow-always ticket=%d" % always, "not tried again"),
       "giving up is logged", diag=lambda: "\n".join(w.log_lines("slow-always")))
    is_(len(sink.messages_to("always@example.com")), 0, "it sends nothing")
    ok(w.running, "wafa is still running")
    w.stop_ok()


run(main)
