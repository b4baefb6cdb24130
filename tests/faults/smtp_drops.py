#!/usr/bin/python3
"""A relay that drops the connection: at the greeting, in the middle of the
message, and after the final dot but before its reply.  Each time the mail
stays queued with the reason and is retried; nothing is lost.  Only the drop
after the dot can duplicate (the relay may have kept what it read): the
server received that mail at most once more than it was delivered."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402


def row_of(pg, tid):
    rows = pg.outbox(tid)
    return rows[0] if len(rows) == 1 else None


def main():
    require_wafa()
    plan(1 + 3 * 4 + 2)
    pg = Postgres()
    srv = ScriptedSmtp()
    w = Wafa(pg, srv.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"mail.sessions": "2", "mail.timeout": "3s", "mail.retry_initial": "1s",
                   "mail.retry_max": "1s", "mail.poll_interval": "300ms"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()

    cases = [("GREETING", "drop at the greeting"), ("BODY", "drop in the middle of the message"),
             ("DOT", "drop after the final dot")]
    for stage, what in cases:
        addr = "drop-%s@example.com" % stage.lower()
        srv.script[stage] = ["drop"]  # once
        tid, created = pg.create_ticket(what, addr)
        row = wait_for(lambda: (lambda x: x if x and x["status"] == "sent" else None)(
            row_of(pg, tid)), created + 15 - time.time(), 0.1)
        ok(row, "%s: the mail is retried and sent" % what,
           diag=lambda: repr(row_of(pg, tid)) + "\n" + srv.summary() + "\n" + w.log()[-3000:])
        ok(row and row["attempts"] >= 2, "after %s attempts" % (row and row["attempts"]))
        deferred = w.log_lines("deferred first-response/%d/" % tid)
        ok(deferred, "the failed attempt was logged with its reason: %s"
           % (deferred[0].split("deferred", 1)[1][:160] if deferred else None),
           diag=lambda: w.log()[-2000:])
        time.sleep(1.5)
        delivered = len(srv.delivered_to(addr))
        received = len(srv.received_to(addr))
        if stage == "DOT":
            ok(delivered == 1 and received <= 2,
               "%s: delivered once; the relay read it %d times (at most once more)"
               % (what, received), diag=srv.summary)
        else:
            ok(delivered == 1 and received == 1, "%s: delivered and read exactly once" % what,
               diag=srv.summary)

    # a drop after the dot while the outbox kept the reason, seen from the row
    addr = "drop-last@example.com"
    srv.script["DOT"] = "drop"  # every time, until fixed
    tid, created = pg.create_ticket("drop until fixed", addr)
    row = wait_for(lambda: (lambda x: x if x and x["attempts"] >= 2 and x["last_error"] else None)(
        row_of(pg, tid)), created + 12 - time.time(), 0.1)
    ok(row and row["status"] == "queued" and row["last_error"],
       "while the relay drops after every dot the mail stays queued: %r"
       % (row and row["last_error"]), diag=lambda: repr(row_of(pg, tid)))
    w.stop_ok()
    srv.stop()


run(main)
