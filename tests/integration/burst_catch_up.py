#!/usr/bin/python3
"""A burst's firings go before the journal's catch-up (issue 15).  At 10M
tickets the first start's catch-up (a `started` row per ticket) was still
running when a burst fell due, and its batches held up the burst's inserts.
Here wafa starts beside 300,000 quiet tickets; while their catch-up runs,
20,000 tickets come in already overdue, 500 a commit over about 6 s.  Their firings go first: the
catch-up waits for them (one batch of it may be on its way), also when they
fire in several batches, as their tickets are read from their notifications
a page at a time (a loaded CI machine: 3,707 rows went in between the first
and the last of them when the catch-up waited only for full batches)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

QUIET, DUE, CHUNK = 300000, 20000, 500
JOURNAL_BATCH = 1000  # core/instance.h: rows a journal statement writes


def main():
    require_wafa()
    plan(7)
    pg = Postgres()
    sink = SmtpSink()
    quiet_max = pg.seed_quiet(QUIET, "quiet")
    w = Wafa(pg, sink.url, rules={"fr.lua": breach_rule(target="1d")},
             conf={"helpdesk.reconcile_interval": "1h"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    wait_for(lambda: w.log_lines("snapshot:"), 60, 0.05)
    # overdue as they come, in 40 commits of 500 over about 6 s: each
    # commit's NOTIFYs are read and fire as a batch of their own, never a
    # full one, with gaps between them
    for k in range(DUE // CHUNK):
        pg.psql("INSERT INTO tickets (subject, owner_email, status, created_at) "
                "SELECT 'due ' || g, 'agent@example.com', 'open', "
                "       now() - interval '1 day 1 minute' "
                "  FROM generate_series(%d, %d) g" % (k * CHUNK + 1, (k + 1) * CHUNK))
        time.sleep(0.15)
    done = wait_for(lambda: w.log_lines("caught up with") and
                    int(pg.value("SELECT count(*) FROM wafa.outbox")) >= DUE, 180, 0.5)
    ok(done, "the %d firings are in the outbox and the catch-up ends" % DUE,
       diag=lambda: w.log()[-2000:])
    first, last, span = pg.psql("SELECT min(created_at), max(created_at), "
                                "extract(epoch FROM max(created_at) - min(created_at)) "
                                "FROM wafa.outbox")[0]
    # the batch in flight and the one made meanwhile may go on; then one
    # every 5 s while firings never stop (BURST_YIELD_MS)
    allowed = (2 + int(float(span) / 5)) * JOURNAL_BATCH
    caught = w.log_lines("caught up with")
    quiet = "event = 'started' AND ticket_id <= %d" % quiet_max
    before = int(pg.value("SELECT count(*) FROM wafa.journal WHERE %s AND recorded_at < '%s'"
                          % (quiet, first)))
    during = int(pg.value("SELECT count(*) FROM wafa.journal WHERE %s AND recorded_at "
                          "BETWEEN '%s' AND '%s'" % (quiet, first, last)))
    after = int(pg.value("SELECT count(*) FROM wafa.journal WHERE %s AND recorded_at > '%s'"
                         % (quiet, last)))
    if after == 0:
        skip("the catch-up waited for the burst", "the catch-up had ended before the burst "
             "(%d rows before it): too quick to tell" % before)
    else:
        ok(during <= allowed,
           "the catch-up waited for the burst: %d started row(s) of the quiet tickets went in "
           "in the %.1f s it was queued (at most %d: the batches on their way, and one every "
           "5 s; %d before, %d after)" % (during, float(span), allowed, before, after))
    ok(after > 0 or before == QUIET, "the catch-up went on after it", diag=repr(caught))
    is_(pg.value("SELECT count(*) FROM wafa.journal WHERE " + quiet), str(QUIET),
        "a started row for every quiet ticket")
    is_(len(caught), 1, "one catch-up: the burst did not begin it again", diag=repr(caught))
    w.stop_ok()


run(main)
