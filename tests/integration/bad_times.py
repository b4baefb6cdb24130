#!/usr/bin/python3
"""One bad row stops nothing else (issue 16, item 2).

PostgreSQL timestamps allow 'infinity', '-infinity' and years up to 294276;
wafa's read of a time as milliseconds failed on each, and the failure took
the whole query with it: the firing batch the row was in (every other
ticket's mail in it), the NOTIFY read, each reconciliation, and at a restart
the snapshot, so wafa exited.  Now such a time is read as unset and logged
once; a created_at that is not a time skips its row, logged once.

A row the view itself fails on (here a cast of a custom field in the view)
still fails a query: a firing batch with it is checked again in halves until
it stands alone, so the other tickets' mails go; a snapshot's page with it is
read again by id, where it is set apart the same way, so a restart starts."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

TARGET = 3


def insert_same_time(pg, rows, delay=0):
    """Inserts tickets created at one instant (one statement), so their
    breaches fall due together, in one firing batch.  rows: [(subject,
    owner, {col: SQL})]; returns {subject: id}."""
    values = []
    for subject, owner, cols in rows:
        values.append("(%s, %s, %s, %s, %s, %s)" % (
            pg.quote(subject), pg.quote(owner),
            cols.get("created_at", "now() + interval '%g s'" % delay),
            cols.get("due_at", "NULL"), cols.get("last_customer_at", "NULL"),
            cols.get("last_agent_at", "NULL")))
    got = pg.psql("INSERT INTO tickets (subject, owner_email, created_at, due_at, "
                  "last_customer_at, last_agent_at) VALUES %s RETURNING subject, id"
                  % ", ".join(values))
    return {s: int(i) for s, i in got}


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"first-response.lua": breach_rule(target="%ds" % TARGET)},
             conf={"helpdesk.reconcile_interval": "1s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    # --- times PostgreSQL allows and wafa cannot hold, beside a good ticket
    ids = insert_same_time(pg, [
        ("good", "good@example.com", {}),
        ("due infinity", "inf@example.com", {"due_at": "'infinity'"}),
        ("customer -infinity", "neginf@example.com", {"last_customer_at": "'-infinity'"}),
        ("agent year 294270", "far@example.com", {"last_agent_at": "'294270-01-01'"}),
        ("due year 12000", "y12k@example.com", {"due_at": "'12000-01-01'"}),
        ("created infinity", "created@example.com", {"created_at": "'infinity'"}),
    ])
    due = time.time() + TARGET
    wait_for(lambda: len(sink.messages()) >= 5, due + 10 - time.time())
    # a few reconciliations (1 s) re-read every row
    time.sleep(max(0.0, due + 3.5 - time.time()))
    got = lambda a: len(sink.messages_to(a))  # noqa: E731
    is_(got("good@example.com"), 1, "the good ticket's breach mail goes, with the bad rows "
        "read in the same NOTIFY read and firing batch", diag=lambda: sink.summary() + w.log()[-3000:])
    for addr, what in (("inf@example.com", "due_at 'infinity'"),
                       ("neginf@example.com", "last_customer_at '-infinity'"),
                       ("far@example.com", "last_agent_at in year 294270"),
                       ("y12k@example.com", "due_at in year 12000")):
        is_(got(addr), 1, "a ticket with %s is read, that time as unset: its breach mails" % what,
            diag=lambda: sink.summary() + w.log()[-3000:])
    is_(got("created@example.com"), 0, "a ticket with created_at 'infinity' is skipped")
    for subject, col in (("due infinity", "due_at"), ("customer -infinity", "last_customer_at"),
                         ("agent year 294270", "last_agent_at"), ("due year 12000", "due_at")):
        lines = w.log_lines("ticket=%d: %s is not a time" % (ids[subject], col), "read as unset")
        is_(len(lines), 1, "%s (%s) is logged once over several reconciliations" % (col, subject),
            diag=lambda: w.log()[-3000:])
    lines = w.log_lines("id=%d" % ids["created infinity"], "created_at is not a time")
    is_(len(lines), 1, "the skipped row is logged once, saying why",
        diag=lambda: w.log()[-3000:])
    ok(not w.log_lines("out of range"), "no query failed on a time",
       diag=lambda: "\n".join(w.log_lines("out of range")[:5]))

    # --- a restart with those rows in the view: it exited ("cannot read
    # [helpdesk] view")
    w.stop_ok("wafa stops")
    try:
        w.start()
        started = True
    except RuntimeError as e:
        started = False
        diag(str(e)[-2000:])
    time.sleep(1.0)
    ok(started and w.running and "snapshot:" in w.log(current=True),
       "wafa restarts with the bad rows in the view, and its snapshot completes",
       diag=lambda: w.log(current=True)[-3000:])
    insert_same_time(pg, [("after restart", "after@example.com", {})])
    wait_for(lambda: sink.messages_to("after@example.com"), TARGET + 10)
    is_(got("after@example.com"), 1, "a ticket made after the restart mails")
    is_(len(sink.messages()), 6, "nothing mailed twice", diag=sink.summary)

    # --- a row the view itself fails on: a custom field cast in the view
    vdef = pg.value("SELECT pg_get_viewdef('wafa_tickets'::regclass)")
    poisoned = vdef.replace("t.due_at,", "CASE WHEN t.extra ? 'due' THEN (t.extra ->> 'due')"
                            "::timestamptz ELSE t.due_at END AS due_at,", 1)
    if not ok(poisoned != vdef, "the sample view has a t.due_at column to replace", diag=vdef):
        return
    pg.psql("CREATE OR REPLACE VIEW wafa_tickets AS " + poisoned)
    ids = insert_same_time(pg, [("to poison", "poison@example.com", {}),
                                ("beside it", "beside@example.com", {})])
    time.sleep(1.0)  # read by wafa, scheduled
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER USER")  # no notification: still scheduled
    pg.psql("UPDATE tickets SET extra = '{\"due\": \"next week\"}' WHERE id = %d"
            % ids["to poison"])
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER USER")
    try:
        pg.psql("SELECT due_at FROM wafa_tickets WHERE id = %d" % ids["to poison"])
        fails = False
    except PsqlError:
        fails = True
    ok(fails, "the view fails on the poisoned row")
    due = time.time() + TARGET
    wait_for(lambda: sink.messages_to("beside@example.com"), due + 10 - time.time())
    time.sleep(1.0)
    is_(got("beside@example.com"), 1, "the ticket in the same firing batch as the row the view "
        "fails on mails", diag=lambda: sink.summary() + w.log(current=True)[-3000:])
    is_(got("poison@example.com"), 0, "the row the view fails on sends nothing")
    lines = w.log_lines("ticket=%d: the view cannot read it" % ids["to poison"], current=True)
    is_(len(lines), 1, "it is logged once, by id", diag=lambda: w.log(current=True)[-3000:])
    ok(w.running, "wafa is still running")
    w.stop_ok()

    # --- a restart with that row in the view: the snapshot's page with it
    # failed, and wafa exited ("cannot read [helpdesk] view")
    insert_same_time(pg, [("after the poison", "later@example.com", {})], delay=2)
    try:
        w.start()
        started = True
    except RuntimeError as e:
        started = False
        diag(str(e)[-2000:])
    time.sleep(1.0)
    ok(started and w.running and "snapshot:" in w.log(current=True),
       "wafa restarts with a row the view fails on, and its snapshot completes",
       diag=lambda: w.log(current=True)[-3000:])
    lines = w.log_lines("ticket=%d: the view cannot read it" % ids["to poison"], current=True)
    is_(len(lines), 1, "the row is set apart by id, logged once",
        diag=lambda: w.log(current=True)[-3000:])
    wait_for(lambda: sink.messages_to("later@example.com"), TARGET + 12)
    is_(got("later@example.com"), 1, "a ticket read in that snapshot mails",
        diag=lambda: sink.summary() + w.log(current=True)[-3000:])
    w.stop_ok()


run(main)
