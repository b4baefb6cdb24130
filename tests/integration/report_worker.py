#!/usr/bin/python3
"""A mailed report is built off the event loop: while the report's queries
wait (here on a lock a transaction holds on wafa.survey), a deadline falling
due still fires on time; once the lock goes, the report is mailed, once.
A stop while a report waits cancels its query and exits at once."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
import harness  # noqa: E402

RULES = breach_rule(target="4s") + dedent('''
    report "weekly" { every = "7d", to = "manager@example.com" }
''')


def hold_lock(pg, seconds):
    """A psql session that locks wafa.survey for seconds; returns it once the
    lock is held."""
    p = subprocess.Popen(pg._psql_cmd("helpdesk"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=harness._pg_env())
    p.stdin.write(("BEGIN; LOCK TABLE wafa.survey IN ACCESS EXCLUSIVE MODE; "
                   "SELECT pg_sleep(%d); COMMIT;\n" % seconds).encode())
    p.stdin.close()
    wait_for(lambda: pg.value("SELECT count(*) FROM pg_locks l JOIN pg_class c "
                              "ON c.oid = l.relation WHERE c.relname = 'survey' "
                              "AND l.mode = 'AccessExclusiveLock' AND l.granted") == "1", 10)
    return p


def main():
    require_wafa()
    plan(7)
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"r.lua": RULES})
    if not ok(w.setup().returncode == 0, "wafa setup exits 0"):
        return
    locker = hold_lock(pg, 12)
    tid, created = pg.create_ticket("due while the report waits", "agent@example.com")
    w.start()  # the report is looked for 3 s after the start, and waits on the lock
    got = wait_for(lambda: sink.messages_to("agent@example.com"), 15)
    ok(got, "the SLA mail is sent while the report waits on the lock",
       diag=lambda: w.log(current=True))
    if got:
        late = got[0].received - (created + 4)
        ok(late < 1.5, "and on time: %.2f s after the deadline (the report is off the loop)"
           % late, diag=lambda: w.log(current=True))
    else:
        ok(False, "and on time (no mail)")
    ok(not sink.messages_to("manager@example.com"), "no report yet: its query waits on the lock")
    locker.wait(30)
    ok(wait_for(lambda: sink.messages_to("manager@example.com"), 20),
       "the report is mailed once the lock goes", diag=lambda: w.log(current=True))
    w.stop_ok()

    # a stop while a report is being built: its query is cancelled
    pg.psql("DELETE FROM wafa.outbox WHERE kind = 'report'")
    locker = hold_lock(pg, 60)
    w.start()
    wait_for(lambda: w.log_lines("report") or None, 1)
    time.sleep(4)  # the report's first look, 3 s after the start, waits on the lock
    t0 = time.time()
    w.stop_ok("wafa stops within 10 s while a report waits on a lock (its query cancelled)")
    sys.stdout.write("# stopped in %.2f s\n" % (time.time() - t0))
    locker.kill()
    locker.wait(10)


run(main)
