#!/usr/bin/python3
"""A burst is recorded before its mail goes (issue 15).  When more deadlines
fall due at once than one firing batch holds (2,000), the mailer makes no
claim until the burst's rows are all in the outbox (or 5 s have passed), so
the database's time goes first to recording what fell due; then the mails
drain at the wire's pace.  A single deadline is not held.

20,000 tickets whose first-response deadlines fall in the same millisecond,
the shipped [mail] settings, postfix's smtp-sink on 127.0.0.1."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = 20000
SINK = SMTP_SINK


def main():
    require_wafa()
    if not os.access(SINK, os.X_OK):
        plan(1)
        skip("the burst test", "postfix's smtp-sink is not installed (scripts/deps installs it)")
        return
    plan(7)
    pg = Postgres()
    port = free_port()
    sink = start_smtp_sink(port)
    try:
        w = Wafa(pg, "smtp://127.0.0.1:%d" % port,
                 rules={"fr.lua": breach_rule(target="1d")}, conf={"log.level": "warn"})
        r = w.setup()
        if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
            return
        # all due in the same millisecond, a few seconds after wafa has read them
        due = time.time() + 6
        pg.psql("INSERT INTO tickets (subject, owner_email, created_at) "
                "SELECT 'burst ' || g, 'agent' || (g %% 50) || '@example.com', "
                "       to_timestamp(%f) - interval '1 day' FROM generate_series(1, %d) g"
                % (due, N))
        w.start()
        done = wait_for(lambda: pg.value("SELECT count(*) FROM wafa.outbox "
                                         "WHERE status = 'sent'") == str(N), 180, 0.5)
        ok(done, "all %d breach mails sent" % N,
           diag=lambda: pg.psql("SELECT status, count(*) FROM wafa.outbox GROUP BY 1"))
        is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE attempts <> 1"), "0",
            "each after one attempt")
        last_row, first_sent = pg.psql(
            "SELECT extract(epoch FROM max(created_at)), extract(epoch FROM min(sent_at)) "
            "FROM wafa.outbox")[0]
        last_row, first_sent = float(last_row), float(first_sent)
        diag("last outbox row %.3f s after the deadline, first mail sent %.3f s after it"
             % (last_row - due, first_sent - due))
        ok(first_sent >= last_row, "no mail left before the burst's last row was written "
           "(first sent %.3f s after it)" % (first_sent - last_row))
        ok(first_sent - last_row < 2, "and the mail went at once after it (%.3f s)"
           % (first_sent - last_row))

        # a single deadline is not held: its mail leaves within a second
        t = pg.value("INSERT INTO tickets (subject, owner_email, created_at) VALUES "
                     "('single', 'agent@example.com', clock_timestamp() - interval '1 day' "
                     "+ interval '1 s') RETURNING id")
        sent = wait_for(lambda: pg.value("SELECT extract(epoch FROM o.sent_at - (t.created_at "
                                         "+ interval '1 day')) FROM wafa.outbox o JOIN tickets "
                                         "t ON t.id = o.ticket_id WHERE o.ticket_id = %s AND "
                                         "o.status = 'sent'" % t), 20, 0.1)
        ok(sent and float(sent) < 1.0, "a single breach is mailed within 1 s of its deadline "
           "(%s s)" % sent)
        w.stop_ok()
    finally:
        sink.terminate()
        sink.wait()


run(main)
