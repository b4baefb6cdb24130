#!/usr/bin/python3
"""Claims and sent-records interleave: each sent UPDATE is slowed (a
trigger sleeps), so a session's batch ends while one is out and more sent
ids wait behind it.  The claim that session wants waits for the record (the
sent ids go ahead of it on the connection) and then goes at once, not at
the next poll tick (the shipped poll_interval, 5s).  Every mail goes once
and is recorded sent after one attempt."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = 80
SLOW = 0.2      # seconds per sent UPDATE
MAX_GAP = 1.5   # a record out, the next one, the claim: well under the 5 s tick


def main():
    require_wafa()
    plan(7)
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"fr.lua": breach_rule()},
             conf={"mail.poll_interval": "5s", "mail.sessions": "4", "mail.batch": "5",
                   "log.level": "info"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    pg.psql("CREATE FUNCTION public.slow_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF EXISTS (SELECT 1 FROM n WHERE status = 'sent') THEN "
            "PERFORM pg_sleep(%s); END IF; RETURN NULL; END $$; "
            "CREATE TRIGGER slow_sent AFTER UPDATE ON wafa.outbox "
            "REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION public.slow_sent()"
            % SLOW)
    w.start()
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, "
            "body) SELECT 'il/' || g, g, 'il', 'breach', 'Support <support@example.com>', "
            "'agent' || g || '@example.com', 'Interleave ' || g, 'A body.' "
            "FROM generate_series(1, %d) g" % N)
    done = wait_for(lambda: pg.value("SELECT count(*) FROM wafa.outbox WHERE status = 'sent'")
                    == str(N), 120, 0.2)
    ok(done, "all %d mails recorded as sent" % N,
       diag=lambda: pg.psql("SELECT status, count(*) FROM wafa.outbox GROUP BY 1"))
    is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE attempts <> 1"), "0",
        "each after one attempt (no lease ran out, none sent twice)")
    msgs = sink.messages()
    subjects = [str(m["subject"]) for m in msgs]
    is_(len(subjects), N, "the sink received %d mails" % N)
    is_(len(set(subjects)), N, "each mail once")
    times = sorted(m.received for m in msgs)
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    diag("%d mails in %.1f s; longest gaps: %s" % (
        len(times), times[-1] - times[0] if times else 0,
        ", ".join("%.3f s" % g for g in gaps[-5:])))
    ok(gaps and gaps[-1] <= MAX_GAP, "no gap longer than %.1f s: a claim put off for a sent "
       "record goes when the record is in, not at the poll tick (longest %.3f s)"
       % (MAX_GAP, gaps[-1] if gaps else 0))
    w.stop_ok()


run(main)
