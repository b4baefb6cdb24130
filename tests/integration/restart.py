#!/usr/bin/python3
"""A deadline that passes while wafa is stopped is acted on when it starts,
once; starting again does not send the mail a second time."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

OWNER = "restart@example.com"


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"first-response.lua": breach_rule()})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return

    tid, created = pg.create_ticket("Breached while wafa was down", OWNER)
    time.sleep(max(0.0, created + 2.5 - time.time()))

    w.start()
    got = wait_for(lambda: sink.messages_to(OWNER), 10)
    ok(got, "the missed breach is mailed after start", diag=lambda: sink.summary() + "\n" + w.log())
    time.sleep(1.5)
    is_(len(sink.messages_to(OWNER)), 1, "exactly one mail after the first start",
        diag=sink.summary)
    w.stop_ok("first run exits 0 on SIGTERM")

    w.start()
    time.sleep(3)
    ok(w.running, "the second run is still running", diag=lambda: w.log(current=True))
    is_(len(sink.messages_to(OWNER)), 1, "still exactly one mail after a restart",
        diag=lambda: sink.summary() + "\n" + w.log(current=True))
    rows = pg.outbox(tid)
    ok(len(rows) == 1 and rows[0]["status"] == "sent", "one outbox row for the ticket, sent",
       diag=repr(rows))
    w.stop_ok("second run exits 0 on SIGTERM")

    is_(len(sink.messages()), 1, "no other mail at all", diag=sink.summary)


run(main)
