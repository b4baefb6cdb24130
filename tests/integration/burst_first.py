#!/usr/bin/python3
"""A burst is recorded before its mail goes (issue 15).  When more deadlines
fall due at once than one firing batch holds (2,000), the mailer makes no
claim until the burst's rows are all in the outbox (or 5 s have passed), so
the database's time goes first to recording what fell due; then the mails
drain at the wire's pace.  A single deadline is not held.

20,000 tickets whose first-response deadlines fall in the same millisecond,
the shipped [mail] settings, postfix's smtp-sink on 127.0.0.1."""
import os
import re
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
    plan(11)
    pg = Postgres()
    port = free_port()
    sink = start_smtp_sink(port)
    try:
        w = Wafa(pg, "smtp://127.0.0.1:%d" % port,
                 rules={"fr.lua": breach_rule(target="1d")}, conf={"log.level": "info"})
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

        # the log: a line a batch of the burst, a line a single firing
        log = w.log()
        each = [l for l in log.splitlines() if " info fire: rule=" in l and "mail(s) queued" in l]
        bursts = [l for l in log.splitlines() if " info fire: " in l and "firing(s) at once" in l]
        queued = sum(int(re.search(r"at once: (\d+) mail", l).group(1)) for l in bursts)
        is_(queued, N, "the burst's batches are logged a line each, their mails counting "
            "all %d" % N, diag=lambda: "\n".join(bursts[:5]))
        ok(len(bursts) <= N // 50, "in at most %d lines (%d)" % (N // 50, len(bursts)))
        ok(len(each) == 1 and ("ticket=%s " % t) in each[0],
           "each firing of the burst at level debug; the single one at info",
           diag=lambda: "%d lines, e.g. %s" % (len(each), each[:3]))
        # outbox pages keep room for a claim (migration 12): claims are HOT
        reloptions = pg.value("SELECT array_to_string(reloptions, ',') FROM pg_class "
                              "WHERE oid = 'wafa.outbox'::regclass")
        hot = wait_for(lambda: int(pg.value(
            "SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'wafa.outbox'::regclass"
            )) >= N * 0.9 and True, 15, 0.5)
        ok("fillfactor=50" in (reloptions or "") and hot,
           "outbox has fillfactor 50 and most of its %d claims were HOT updates" % N,
           diag=lambda: pg.psql("SELECT reloptions, n_tup_upd, n_tup_hot_upd FROM pg_class c "
                                "JOIN pg_stat_user_tables s ON s.relid = c.oid "
                                "WHERE c.oid = 'wafa.outbox'::regclass"))
        w.stop_ok()
    finally:
        sink.terminate()
        sink.wait()


run(main)
