#!/usr/bin/python3
"""The database goes away while 2 sessions send a batch of 20 each (40 rows,
a slow relay), then wafa is stopped (SIGTERM) before it comes back (issue 16
item 3).  A session whose sent mail cannot be recorded sends nothing more, so
after the restart at most one mail per session goes twice (the README: at
most the mail in flight per session), never the rest of a batch."""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

ROWS = 40
SESSIONS = 2


def main():
    require_wafa()
    plan(6)
    pg = Postgres()
    sink = SmtpSink(data_delay=0.25)
    w = Wafa(pg, sink.url, conf={"mail.sessions": str(SESSIONS), "mail.batch": "20",
                                 "mail.timeout": "5s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body) "
            "SELECT 'manual/' || n || '/x/1/1', n, 'manual', 'x', 'support@example.com', "
            "       'o' || n || '@example.com', 'outage ' || n, 'body' "
            "  FROM generate_series(1, %d) n" % ROWS)
    wait_for(lambda: len(sink.messages()) >= 4, 30, 0.02)
    pg.stop()
    at_stop = len(sink.messages())
    time.sleep(3)  # the sessions would go on sending, unrecorded
    during = len(sink.messages()) - at_stop
    diag("%d mail(s) at the relay when the database stopped, %d more during the outage"
         % (at_stop, during))
    ok(during <= SESSIONS, "during the outage at most the mail in flight per session goes "
       "(%d)" % during, diag=sink.summary)
    t0 = time.time()
    code = w.stop(15)
    took = time.time() - t0
    ok(code == 0 and took < 12, "SIGTERM during the outage exits 0 in %.1f s" % took,
       diag=lambda: "exit %r\n%s" % (code, w.log()[-2500:]))

    pg.start()
    w.start()
    sent = lambda: int(pg.value("SELECT count(*) FROM wafa.outbox WHERE status = 'sent'"))
    wait_for(lambda: sent() == ROWS, 60, 0.2)
    time.sleep(1)
    is_(sent(), ROWS, "after the restart every row is sent")
    counts = collections.Counter(r for m in sink.messages() for r in m.rcpt_tos)
    twice = sorted(r for r, n in counts.items() if n > 1)
    ok(len(twice) <= SESSIONS and max(counts.values()) <= 2,
       "at most one mail per session went twice (%d: %s)" % (len(twice), ", ".join(twice)),
       diag=sink.summary)
    is_(len(counts), ROWS, "every row's recipient got its mail")
    w.stop()


run(main)
