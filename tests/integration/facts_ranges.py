#!/usr/bin/python3
"""The customer facts after the first snapshot are written a range of a
million ticket ids a statement (issue 15): in one statement, 10M tickets
took longer than the 60 s statement_timeout of wafa's connections, and their
facts were never written.  Tickets with ids 10, 1.5M and 3.2M take four
ranges; facts left from before of ids below, between and above the view's
tickets go, and each ticket of the view has its own."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def facts(pg):
    return {int(r[0]): (r[1], r[2]) for r in
            pg.psql("SELECT ticket_id, email, open FROM wafa.customer_ticket")}


def main():
    require_wafa()
    plan(5)
    pg = Postgres()
    sink = SmtpSink()
    pg.psql("INSERT INTO tickets (id, subject, customer_email, status) VALUES "
            "(10, 'low', 'Low@Example.com', 'open'), "
            "(1500000, 'middle', 'middle@example.com', 'solved'), "
            "(3200000, 'high', 'High <high@example.com>', 'open'), "
            "(3200001, 'nobody', NULL, 'open')")
    w = Wafa(pg, sink.url, conf={"helpdesk.reconcile_interval": "1h"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    # facts a run before this one left: of tickets gone since, and one that moved
    pg.psql("INSERT INTO wafa.customer_ticket (ticket_id, email, open) VALUES "
            "(5, 'gone-below@example.com', true), (2000000, 'gone-between@example.com', true), "
            "(9000000, 'gone-above@example.com', true), (10, 'old@example.com', false)")
    # each statement the server runs, to count the facts' ranges
    pg.psql("ALTER SYSTEM SET log_min_duration_statement = 0")
    pg.psql("SELECT pg_reload_conf()")
    w.start()
    done = wait_for(lambda: w.log_lines("customer facts:", "brought up to date"), 20, 0.2)
    ok(done, "the facts are brought up to date after the first snapshot",
       diag=lambda: w.log()[-2000:])
    is_(facts(pg), {10: ("low@example.com", "t"), 1500000: ("middle@example.com", "f"),
                    3200000: ("high@example.com", "t")},
        "each ticket of the view has its own facts; those of ids below, between and above "
        "it are gone")
    ranges = [l for l in pg.log().splitlines()
              if " execute " in l and "WITH v AS" in l and "INSERT INTO customer_ticket" in l]
    is_(len(ranges), 4, "in four statements, a million ids each (the first from the lowest "
        "id there is, the last to the highest)", diag=lambda: "\n".join(ranges)[:3000])
    pg.psql("ALTER SYSTEM RESET log_min_duration_statement")
    pg.psql("SELECT pg_reload_conf()")
    w.stop_ok()


run(main)
