#!/usr/bin/python3
"""A burst's inserts go on two connections (work and journal): either one's
backend terminated while it runs a firing insert loses nothing and records
nothing twice.

10,000 tickets fall due in the same second: five batches of 2,000, so the
work connection has checks queued when the first insert is ready and that
insert goes to the journal connection.  A server-side loop waits for the
firing insert to be active on the journal connection and terminates its
backend; then the same on the work connection.  The batches that were cut
off are retried: every ticket has one step row (its firing), one breach in the
journal and one mail in the outbox, and every mail arrives once.
"""
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

BURST = 10000
TARGET_S = 10
DUE_S = 8  # the burst falls due this long after wafa is ready


def kill_insert(pg, app):
    """Terminates app's backend once it runs a firing insert.  Returns the
    pid, or None when none was seen within about 20 s."""
    rows = pg.psql("""
        CREATE TEMP TABLE hit (pid int);
        DO $$
        DECLARE p int;
        BEGIN
          FOR i IN 1..40000 LOOP
            PERFORM pg_stat_clear_snapshot();
            SELECT pid INTO p FROM pg_stat_activity
             WHERE application_name = '%s' AND state = 'active'
               AND query LIKE 'WITH x AS (SELECT * FROM unnest(%%';
            IF p IS NOT NULL THEN
              PERFORM pg_terminate_backend(p);
              INSERT INTO hit VALUES (p);
              RETURN;
            END IF;
            PERFORM pg_sleep(0.0005);
          END LOOP;
        END $$;
        SELECT pid FROM hit""" % app, timeout=60)
    return rows[0][0] if rows else None


def sink_counts(sink):
    counts = {}
    for path in glob.glob(os.path.join(sink.dir, "[0-9]*.json")):
        try:
            with open(path, encoding="utf-8") as f:
                rcpts = json.load(f)["rcpt_tos"]
        except (OSError, ValueError):
            continue
        for r in rcpts:
            counts[r] = counts.get(r, 0) + 1
    return counts


def main():
    require_wafa()
    plan(10)
    pg = Postgres()
    sink = SmtpSink()
    rule = {"fr.lua": breach_rule(target="%ds" % TARGET_S, to="t.owner_email",
                                  subject='"breach #" .. t.ref', body='"no reply yet\\n"')}
    w = Wafa(pg, sink.url, rules=rule, conf={"mail.poll_interval": "1s", "log.level": "info"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    due = time.time() + DUE_S
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    pg.psql("INSERT INTO tickets (subject, owner_email, created_at) "
            "SELECT 'burst ' || g, 'b' || g || '@example.com', to_timestamp(%f) "
            "  FROM generate_series(1, %d) g" % (due - TARGET_S, BURST))
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    w.start()

    hit = kill_insert(pg, "wafa-journal")
    ok(hit is not None, "the journal connection's backend is terminated during a firing insert",
       diag=lambda: w.log()[-3000:])
    hit = kill_insert(pg, "wafa-work")
    ok(hit is not None, "the work connection's backend is terminated during a firing insert",
       diag=lambda: w.log()[-3000:])

    burst = {"b%d@example.com" % g for g in range(1, BURST + 1)}
    wait_for(lambda: burst <= set(sink_counts(sink)), 120, 0.5)
    time.sleep(2)
    got = sink_counts(sink)
    failed = [l for l in w.log().splitlines() if "firing(s) failed" in l]
    diag("retried: %s" % "; ".join(l.split("error fire: ")[-1] for l in failed))
    ok(len(failed) >= 2, "the cut-off batches are retried", diag=lambda: w.log()[-3000:])
    is_(sum(1 for r in burst if r in got), BURST, "every mail of the burst arrives")
    is_(sum(n - 1 for n in got.values()), 0, "nothing twice",
        diag=lambda: repr(sorted((n, r) for r, n in got.items() if n > 1)[-5:]))
    is_(pg.psql("SELECT count(*), count(DISTINCT ticket_id) FROM wafa.journal "
                " WHERE step <> ''"),
        [[str(BURST), str(BURST)]], "one step row (the firing's record) a ticket")
    is_(pg.psql("SELECT count(*), count(DISTINCT ticket_id) FROM wafa.journal "
                " WHERE event = 'breach'"),
        [[str(BURST), str(BURST)]], "one breach in the journal a ticket")
    is_(pg.psql("SELECT status, count(*), count(DISTINCT ticket_id) FROM wafa.outbox "
                " GROUP BY status"),
        [["sent", str(BURST), str(BURST)]], "one mail a ticket in the outbox, sent")
    w.stop_ok()


run(main)
