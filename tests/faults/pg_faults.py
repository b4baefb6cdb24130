#!/usr/bin/python3
"""PostgreSQL faults during a burst of 2,000 mails: nothing lost, nothing
twice, and ticket changes wafa could not hear reconciled.

While the burst's deadlines fall due, in this order: `pg_ctl restart -m fast`,
`pg_ctl restart -m immediate`, the LISTEN backend terminated, the work
connection terminated while it is firing a batch (a server-side loop waits
for the firing statement to be active, then pg_terminate_backend), and wafa
cut off (its role may not log in; its backends terminated) while tickets
change.  Then, with wafa connected, tickets change with their NOTIFY
suppressed (session_replication_role = replica): only the reconciliation
query (reconcile_interval = 2s here) can see those.  A moved deadline must
fire at its new time, not its old one.
"""
import calendar
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

BURST = 2000
TARGET_S = 10
RECONCILE_S = 2
SLACK_S = 2.0  # scheduling, a query and the mail on top of reconcile_interval


def sink_rcpts(sink):
    import glob
    import json
    out = {}
    for path in glob.glob(os.path.join(sink.dir, "[0-9]*.json")):
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        for r in meta["rcpt_tos"]:
            out.setdefault(r, []).append(meta["received"])
    return out


def log_times(w, needle):
    """Epoch times of the daemon's log lines containing needle."""
    out = []
    for line in w.log().splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ", line)
        if m and needle in line:
            out.append(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) +
                       int(m.group(2)) / 1000)
    return out


def main():
    require_wafa()
    plan(15)
    pg = Postgres()
    sink = SmtpSink()
    # wafa logs in as its own role, so that it can be cut off.  The harness
    # runs PostgreSQL with synchronous_commit off (fast tests); wafa turns it
    # on for its own sessions, or a crash (restart -m immediate) could lose
    # commits wafa has acted on: this test is where that shows
    pg.psql("CREATE ROLE wafa_fault LOGIN SUPERUSER")
    dsn = pg.dsn.replace("user=postgres", "user=wafa_fault")
    rule = {"fr.lua": breach_rule(target="%ds" % TARGET_S, to="t.owner_email",
                                  subject='"breach #" .. t.ref', body='"no reply yet\\n"')}
    w = Wafa(pg, sink.url, rules=rule,
             conf={"database.dsn": dsn, "helpdesk.reconcile_interval": "%ds" % RECONCILE_S,
                   "mail.poll_interval": "1s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    t0 = time.time()

    def due_in(s):
        """A created_at whose breach falls s seconds after t0."""
        return "to_timestamp(%f)" % (t0 + s - TARGET_S)

    # the burst: deadlines spread over [t0+5, t0+25]
    pg.psql("INSERT INTO tickets (subject, owner_email, created_at) "
            "SELECT 'burst ' || g, 'b' || g || '@example.com', "
            "       to_timestamp(%f + g * %f) FROM generate_series(1, %d) g"
            % (t0 + 5 - TARGET_S, 20.0 / BURST, BURST))
    burst = {"b%d@example.com" % g for g in range(1, BURST + 1)}
    # tickets whose deadlines will move while wafa cannot hear of it
    moved = {}
    for name, old in (("cut-earlier", 45), ("cut-later", 30), ("quiet-earlier", 50),
                      ("quiet-later", 35)):
        tid, _ = pg.create_ticket(name, "%s@example.com" % name)
        pg.psql("UPDATE tickets SET created_at = %s WHERE id = %d" % (due_in(old), tid))
        moved[name] = tid
    faults = []

    def until(s):
        time.sleep(max(0.0, t0 + s - time.time()))

    def reconnected_after(at, name="work"):
        got = wait_for(lambda: [x for x in log_times(w, "pg: %s: connected" % name) if x > at], 30)
        return (min(got) - at) if got else None

    def sent_count():
        c = sink_rcpts(sink)
        return sum(1 for r in burst if r in c)

    # 1. pg_ctl restart -m fast
    until(7)
    at = time.time()
    before = sent_count()
    pg._pg_ctl("-l", pg.logfile, "-m", "fast", "-w", "-t", "30", "restart")
    back = reconnected_after(at)
    faults.append("restart -m fast: wafa reconnected %.1f s after it began (%d of %d mails "
                  "out before)" % (back or -1, before, BURST))
    ok(back is not None, "wafa reconnects after pg_ctl restart -m fast", diag=lambda: w.log()[-3000:])

    # 2. pg_ctl restart -m immediate (crash recovery)
    until(12)
    at = time.time()
    before = sent_count()
    pg._pg_ctl("-l", pg.logfile, "-m", "immediate", "-w", "-t", "30", "restart")
    back = reconnected_after(at)
    faults.append("restart -m immediate: wafa reconnected %.1f s after it began (%d of %d "
                  "out before)" % (back or -1, before, BURST))
    ok(back is not None, "wafa reconnects after pg_ctl restart -m immediate",
       diag=lambda: w.log()[-3000:])

    # 3. the LISTEN backend terminated
    until(16)
    at = time.time()
    n = pg.value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 " WHERE application_name = 'wafa-listen'")
    back = reconnected_after(at, "listen")
    faults.append("LISTEN backend terminated (%s): listening again %.1f s later"
                  % (n, back or -1))
    ok(n == "1" and back is not None, "the LISTEN backend terminated; wafa listens again",
       diag=lambda: w.log()[-3000:])

    # 4. the work connection terminated while it fires a batch
    until(18)
    at = time.time()
    hit = pg.psql("""
        CREATE TEMP TABLE hit (pid int, query text);
        DO $$
        DECLARE p int; q text;
        BEGIN
          FOR i IN 1..8000 LOOP
            PERFORM pg_stat_clear_snapshot();
            SELECT pid, query INTO p, q FROM pg_stat_activity
             WHERE application_name = 'wafa-work' AND state = 'active'
               AND query LIKE 'WITH x AS (SELECT * FROM unnest(%' AND query LIKE '%INSERT INTO outbox%';
            IF p IS NOT NULL THEN
              PERFORM pg_terminate_backend(p);
              INSERT INTO hit VALUES (p, left(q, 60));
              RETURN;
            END IF;
            PERFORM pg_sleep(0.0005);
          END LOOP;
        END $$;
        SELECT pid, query FROM hit""", timeout=60)
    back = reconnected_after(at)
    faults.append("work connection terminated while firing (%s): reconnected %.1f s later"
                  % ("caught the firing statement" if hit else "no firing seen", back or -1))
    ok(hit and back is not None, "the work connection is terminated mid-firing; wafa reconnects",
       diag=lambda: "hit %r\n%s" % (hit, w.log()[-3000:]))

    # 5. wafa cut off while tickets change: its role may not log in
    until(21)
    at = time.time()
    pg.psql("ALTER ROLE wafa_fault NOLOGIN")
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            " WHERE usename = 'wafa_fault'")
    pg.psql("UPDATE tickets SET created_at = %s WHERE id = %d" % (due_in(28), moved["cut-earlier"]))
    pg.psql("UPDATE tickets SET created_at = %s WHERE id = %d" % (due_in(40), moved["cut-later"]))
    until(24)
    pg.psql("ALTER ROLE wafa_fault LOGIN")
    back = reconnected_after(at + 3)
    faults.append("cut off for 3 s (role NOLOGIN, backends terminated) while two deadlines "
                  "moved: reconnected %.1f s after the role could log in again" % (back or -1))

    # 6. connected, but two changes' NOTIFYs suppressed: only reconciliation sees them
    until(26)
    pg.psql("SET session_replication_role = replica; "
            "UPDATE tickets SET created_at = %s WHERE id = %d; "
            "UPDATE tickets SET created_at = %s WHERE id = %d"
            % (due_in(33), moved["quiet-earlier"], due_in(44), moved["quiet-later"]))

    everything = burst | {"%s@example.com" % n for n in moved}
    wait_for(lambda: everything <= set(sink_rcpts(sink)), t0 + 60 - time.time(), 0.25)
    time.sleep(2)
    got = sink_rcpts(sink)
    for line in faults:
        diag(line)

    def first(name):
        times = got.get("%s@example.com" % name)
        return min(times) - t0 if times else None

    for name, old, new, how in (("cut-earlier", 45, 28, "moved earlier while wafa was cut off"),
                                ("quiet-earlier", 50, 33, "moved earlier with its NOTIFY lost")):
        at = first(name)
        diag("%s: due at +%d s, moved to +%d s, mailed at %s" % (name, old, new,
             "+%.1f s" % at if at is not None else "never"))
        ok(at is not None and new <= at <= new + RECONCILE_S + SLACK_S,
           "a deadline %s fires at its new time (within reconcile_interval)" % how)
    for name, old, new, how in (("cut-later", 30, 40, "moved later while wafa was cut off"),
                                ("quiet-later", 35, 44, "moved later with its NOTIFY lost")):
        at = first(name)
        diag("%s: due at +%d s, moved to +%d s, mailed at %s" % (name, old, new,
             "+%.1f s" % at if at is not None else "never"))
        ok(at is not None and at >= new - 0.1,
           "a deadline %s does not fire at its old time" % how)
        ok(at is not None and at <= new + SLACK_S, "... and fires at its new one")

    out = sum(1 for r in burst if r in got)
    dups = sum(len(got[r]) - 1 for r in everything if r in got)
    diag("burst: %d of %d mails, %d duplicates" % (out, BURST, dups))
    is_(out, BURST, "every mail of the burst arrives")
    is_(dups, 0, "nothing twice", diag=lambda: repr(sorted(
        (len(v), r) for r, v in got.items() if len(v) > 1)[-5:]))
    rows = pg.psql("SELECT status, count(*) FROM wafa.outbox GROUP BY status")
    is_(rows, [["sent", str(BURST + len(moved))]], "the outbox: every row sent")
    w.stop_ok()


run(main)
