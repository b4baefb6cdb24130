#!/usr/bin/python3
"""A relay that answers 4xx or 5xx at each step: 4xx to MAIL, RCPT, DATA or
to the final dot keeps the mail queued with the reply in the outbox and
retries it, and once the relay accepts it goes out once; 5xx at each step
parks it as failed with the reply, and it is not tried again."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402

# the scripted step, and how wafa's reason names it
STEPS = [("MAIL", "MAIL FROM"), ("RCPT", "RCPT TO"), ("DATA", "(DATA)"), ("DOT", "(DATA)")]


def row_of(pg, tid):
    rows = pg.outbox(tid)
    return rows[0] if len(rows) == 1 else None


def main():
    require_wafa()
    plan(1 + 4 * 4 + 4 * 3 + 1)
    pg = Postgres()
    srv = ScriptedSmtp()
    w = Wafa(pg, srv.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"mail.sessions": "1", "mail.timeout": "3s", "mail.retry_initial": "1s",
                   "mail.retry_max": "1s", "mail.poll_interval": "300ms"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()

    for step, named in STEPS:
        addr = "temp-%s@example.com" % step.lower()
        reply = "451 4.3.0 step %s: try again later" % step
        srv.script[step] = reply
        tid, created = pg.create_ticket("4xx at " + step, addr)
        row = wait_for(lambda: (lambda x: x if x and x["attempts"] >= 2 and x["last_error"]
                                else None)(row_of(pg, tid)), created + 12 - time.time(), 0.1)
        ok(row and row["status"] == "queued", "451 at %s: the mail stays queued and is "
           "retried (%s attempts)" % (step, row and row["attempts"]),
           diag=lambda: repr(row_of(pg, tid)) + "\n" + srv.summary() + "\n" + w.log()[-2000:])
        err = (row or {}).get("last_error") or ""
        ok("451 4.3.0 step %s" % step in err and named in err,
           "the outbox holds the reply and the step: %r" % err)
        srv.script[step] = None
        wait_for(lambda: srv.delivered_to(addr), 10)
        wait_for(lambda: (row_of(pg, tid) or {}).get("status") == "sent", 5)
        is_(len(srv.delivered_to(addr)), 1, "451 at %s: delivered once the relay accepts" % step,
            diag=srv.summary)
        is_((row_of(pg, tid) or {}).get("status"), "sent", "and the row is sent")

    for step, named in STEPS:
        if step == "DOT":
            verb = "DATA"
        else:
            verb = step
        addr = "perm-%s@example.com" % step.lower()
        reply = "554 5.7.1 step %s: refused" % step
        srv.script[step] = reply
        before = srv.count(verb)
        tid, created = pg.create_ticket("5xx at " + step, addr)
        row = wait_for(lambda: (lambda x: x if x and x["status"] == "failed" else None)(
            row_of(pg, tid)), created + 10 - time.time(), 0.1)
        err = (row or {}).get("last_error") or ""
        ok(row and "554 5.7.1 step %s" % step in err and named in err,
           "554 at %s: parked as failed with the reply: %r" % (step, err),
           diag=lambda: repr(row_of(pg, tid)) + "\n" + w.log()[-2000:])
        time.sleep(2.5)  # two retry intervals
        is_(srv.count(verb) - before, 1, "554 at %s: not tried again (%s commands seen)"
            % (step, verb), diag=srv.summary)
        is_(srv.delivered_to(addr), [], "nothing delivered")
        srv.script[step] = None
    w.stop_ok()
    srv.stop()


run(main)
