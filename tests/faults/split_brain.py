#!/usr/bin/python3
"""Split brain (issue 16): two instances, 2 sessions, batch 20, 40 outbox
rows at a slow relay; once 4 mails have arrived the leader's role may no
longer log in and its work backend (the session holding the leader lock) is
terminated, while its mail connection stays up.  The standby takes over;
the old leader stops sending at once (fencing), and the new one leaves the
rows the old one still holds alone until it gives them back.  Every row is
sent exactly once: nothing twice, nothing lost."""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

ROWS = 40


def main():
    require_wafa()
    plan(8)
    pg = Postgres()
    sink = SmtpSink(data_delay=0.25)
    for role in ("wafa_a", "wafa_b"):
        pg.psql("CREATE ROLE %s LOGIN SUPERUSER" % role)
    conf = {"mail.sessions": "2", "mail.batch": "20", "mail.poll_interval": "500ms"}
    a = Wafa(pg, sink.url, conf=dict(conf, **{
        "database.dsn": pg.dsn.replace("user=postgres", "user=wafa_a")}))
    b = Wafa(pg, sink.url, conf=dict(conf, **{
        "database.dsn": pg.dsn.replace("user=postgres", "user=wafa_b")}))
    r = a.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    a.start()
    ok(wait_for(lambda: a.log_lines("leading on schema wafa"), 10), "the first leads",
       diag=lambda: a.log())
    b.start()
    ok(wait_for(lambda: b.log_lines("standby: another wafa leads"), 10),
       "the second waits on standby", diag=lambda: b.log())

    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body) "
            "SELECT 'manual/' || n || '/x/1/1', n, 'manual', 'x', 'support@example.com', "
            "       'r' || n || '@example.com', 'split brain ' || n, 'body' "
            "  FROM generate_series(1, %d) n" % ROWS)
    wait_for(lambda: len(sink.messages()) >= 4, 30, 0.02)
    pg.psql("ALTER ROLE wafa_a NOLOGIN")
    killed = pg.value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                      " WHERE usename = 'wafa_a' AND application_name = 'wafa-work'")
    diag("%d mail(s) at the relay when the leader's work backend (%s) was terminated"
         % (len(sink.messages()), killed))

    ok(wait_for(lambda: b.log_lines("leading on schema wafa"), 15),
       "the standby takes over", diag=lambda: b.log()[-2000:])
    ok(wait_for(lambda: a.log_lines("not sending until leading again"), 10),
       "the old leader knows it may not lead and stops sending", diag=lambda: a.log()[-2000:])
    sent = lambda: int(pg.value("SELECT count(*) FROM wafa.outbox WHERE status = 'sent'"))
    wait_for(lambda: sent() == ROWS, 60, 0.2)
    time.sleep(2)  # anything still going twice arrives meanwhile
    is_(sent(), ROWS, "the outbox shows every row sent",
        diag=lambda: pg.psql("SELECT status, count(*) FROM wafa.outbox GROUP BY 1") +
        a.log()[-1500:] + b.log()[-1500:])
    counts = collections.Counter()
    for m in sink.messages():
        for rcpt in m.rcpt_tos:
            counts[rcpt] += 1
    twice = sorted(r for r, n in counts.items() if n > 1)
    is_(twice, [], "nothing twice (%d messages for %d rows)" % (sum(counts.values()), ROWS),
        diag=lambda: sink.summary())
    is_(len(counts), ROWS, "every row's recipient got its mail")
    pg.psql("ALTER ROLE wafa_a LOGIN")
    a.stop()
    b.stop()


run(main)
