#!/usr/bin/python3
"""SIGTERM while a mail is with the SMTP server: wafa waits for the server's
answer and records it before it exits, so the next start does not send the
mail again."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink(data_delay=2.0)
    w = Wafa(pg, sink.url, rules={"first-response.lua": breach_rule(target="1s")})
    ok(w.setup().returncode == 0, "wafa setup exits 0")
    w.start()
    tid, created = pg.create_ticket("Slow server", "slow@example.com")
    # the mail is handed over about 1 s after creation; the server answers 2 s later
    sent_to_server = wait_for(lambda: pg.outbox(tid) and pg.outbox(tid)[0]["attempts"] >= 1, 5)
    ok(sent_to_server, "the mail is claimed and on its way", diag=w.log)
    time.sleep(0.5)
    t0 = time.time()
    w.stop_ok("wafa exits 0 on SIGTERM with a mail in flight")
    waited = time.time() - t0
    ok(waited > 0.5, "it waited for the server's answer (%.2f s)" % waited)
    rows = pg.outbox(tid)
    ok(rows and rows[0]["status"] == "sent", "the answer was recorded: the row is sent",
       diag=repr(rows))
    is_(len(sink.messages_to("slow@example.com")), 1, "the server has the mail once")

    w.start()
    time.sleep(3)
    w.stop_ok("a second run exits 0")
    is_(len(sink.messages_to("slow@example.com")), 1, "the restart did not send it again",
        diag=sink.summary)


run(main)
