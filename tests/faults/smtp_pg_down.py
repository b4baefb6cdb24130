#!/usr/bin/python3
"""PostgreSQL goes away while a mail is at the relay: its 250 cannot be
recorded, and SIGTERM still exits promptly (the record is given up, not
waited for); once the database is back a new run finds the mail queued and
sends it again: the one duplicate a lost record can cost, and no more."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402

ADDR = "pgdown@example.com"


def main():
    require_wafa()
    plan(6)
    pg = Postgres()
    srv = ScriptedSmtp()
    srv.dot_delay = 2.0
    w = Wafa(pg, srv.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"mail.sessions": "2", "mail.timeout": "5s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    pg.create_ticket("database goes away", ADDR)
    wait_for(lambda: srv.received_to(ADDR), 15, 0.02)  # the relay has read the dot
    pg.stop()
    wait_for(lambda: srv.delivered_to(ADDR), 5, 0.05)
    time.sleep(0.5)  # the 250 arrives with the database gone
    t0 = time.time()
    code = w.stop(15)
    took = time.time() - t0
    ok(code == 0 and took < 12, "SIGTERM with a 250 it cannot record exits 0 in %.1f s" % took,
       diag=lambda: "exit %r\n%s" % (code, w.log()[-2500:]))
    is_(len(srv.delivered_to(ADDR)), 1, "the relay has the mail once so far")

    pg.start()
    w.start()
    wait_for(lambda: len(srv.delivered_to(ADDR)) >= 2, 15)
    time.sleep(2)
    is_(len(srv.delivered_to(ADDR)), 2, "with its record lost it is sent once more, not again "
        "after that", diag=srv.summary)
    is_(pg.value("SELECT status FROM wafa.outbox"), "sent", "and now recorded")
    w.stop_ok()
    srv.stop()


run(main)
