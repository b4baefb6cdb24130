#!/usr/bin/python3
"""The journal's catch-up (issue 15).  After the first snapshot every
ticket's `started` row goes in in ticket id order (in the index's hash order
they went to random places of the journal's ticket index: at 10M tickets,
5,700 rows a second once it outgrew the database's buffers).  A
reconciliation journals only what it re-read: it went through the whole
index, 10,000 tickets a second with nothing to journal, began again at each
reconciliation, and so never reached most tickets of a large index (a reply
found by reconciliation was not journaled).  A bulk change it re-reads
(more than a quarter of the index) is journaled by going through it all;
re-read again at the next reconciliation, that goes on from where it was."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = 60000


def met(pg, where):
    return int(pg.value("SELECT count(*) FROM wafa.journal WHERE event = 'met' AND " + where))


def main():
    require_wafa()
    plan(7)
    pg = Postgres()
    sink = SmtpSink()
    pg.seed_quiet(N, "seeded")
    total = int(pg.value("SELECT count(*) FROM tickets"))
    w = Wafa(pg, sink.url, rules={"fr.lua": breach_rule(target="1d")},
             conf={"helpdesk.reconcile_interval": "1s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    done = wait_for(lambda: w.log_lines("caught up with"), 120, 0.2)
    ok(done, "the first catch-up ends", diag=lambda: w.log()[-2000:])
    inversions = pg.value("SELECT count(*) FROM (SELECT ticket_id, lag(ticket_id) OVER "
                          "(ORDER BY id) AS before FROM wafa.journal WHERE event = 'started') s "
                          "WHERE ticket_id < before")
    started = pg.value("SELECT count(*) FROM wafa.journal WHERE event = 'started'")
    is_((started, inversions), (str(total), "0"),
        "a started row for each ticket, written in ticket id order")

    # B changes with a NOTIFY, so that every reconciliation (each second)
    # re-reads it; then its reply comes without one
    b, _ = pg.create_ticket("answered without a NOTIFY", "b@example.com")
    time.sleep(1.5)
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    pg.answer(b)
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    got = wait_for(lambda: met(pg, "ticket_id = %d" % b) == 1, 6, 0.2)
    ok(got, "the reply a reconciliation found is journaled as met within seconds "
       "(%d tickets watched)" % total, diag=lambda: w.log()[-2000:])
    is_(len(w.log_lines("caught up with")), 1,
        "a reconciliation goes through what it re-read, not the whole index")

    # every seeded ticket answered at once, without a NOTIFY: a bulk change
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    pg.psql("UPDATE tickets SET first_reply_at = now(), updated_at = now() "
            "WHERE subject LIKE 'seeded %'")
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    t0 = time.time()
    got = wait_for(lambda: met(pg, "true") >= N + 1, 60, 0.5)
    diag("the bulk's met rows were in after %.1f s" % (time.time() - t0))
    ok(got, "a bulk reply found by reconciliation: each of the %d tickets journaled as met" % N,
       diag=lambda: "met: %d\n" % met(pg, "true") + w.log()[-2000:])
    w.stop_ok()


run(main)
