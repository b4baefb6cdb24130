#!/usr/bin/python3
"""wafa's ticket reads (the snapshot, a changed ticket, the reconciliation,
a firing) leave out an optional column no rule file names: a view's
last_agent_body subquery can be most of the database's work.  Firing still
reads thread_message_id, so a mail gets In-Reply-To; a rule file that names
a column gets it, after a SIGHUP too.

The view's optional columns go through a STABLE function that counts its
calls in a sequence: PostgreSQL evaluates a view column only when the query
selects it."""
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = 20

VIEW = dedent('''
    CREATE SEQUENCE body_reads;
    CREATE SEQUENCE thread_reads;
    CREATE FUNCTION counted(seq regclass, v text) RETURNS text LANGUAGE plpgsql STABLE AS
    $$ BEGIN PERFORM nextval(seq); RETURN v; END $$;
    CREATE VIEW counted_tickets AS
    SELECT id, ref, subject, status, raw_status, priority, queue, customer_email,
           customer_name, customer_locale, customer_tz, owner_email, owner_name,
           created_at, first_reply_at, last_customer_at, last_agent_at, solved_at,
           due_at, updated_at, extra,
           counted('body_reads', last_agent_body) AS last_agent_body,
           counted('thread_reads', '<thread-' || id || '@helpdesk.example>')
               AS thread_message_id
      FROM wafa_tickets;
''')


def rule(when=""):
    return dedent('''
        sla "late" {
          stop = "first_reply_at", target = "1h",%s
          on_breach = function(t, s)
            mail { to = t.customer_email, subject = "late " .. t.ref }
          end,
        }
    ''') % when


def reads(pg, seq):
    last, called = pg.psql("SELECT last_value, is_called FROM %s" % seq)[0]
    return int(last) if called == "t" else 0


def main():
    require_wafa()
    plan(10)
    pg = Postgres()
    pg.psql(VIEW)
    sink = SmtpSink()
    # the fixture's tickets are years old: the go-live guard is off here
    w = Wafa(pg, sink.url, rules={"late.lua": rule()},
             conf={"helpdesk.view": "public.counted_tickets", "contact.go_live_limit": "0s"})
    if not ok(w.setup().returncode == 0, "wafa setup exits 0"):
        return
    for i in range(N):
        pg.create_ticket("waiting %d" % i, customer_email="c%d@example.com" % i)
    due, _ = pg.create_ticket("already late", customer_email="due@example.com",
                              created_at="2020-01-01T00:00:00Z")
    w.start()
    got = wait_for(lambda: sink.messages_to("due@example.com"), 15)
    ok(got, "the late ticket's mail is sent", diag=lambda: w.log())
    if got:
        is_(str(got[0]["in-reply-to"]).strip(), "<thread-%d@helpdesk.example>" % due,
            "firing reads thread_message_id though no rule names it: In-Reply-To is set")
    else:
        ok(False, "firing reads thread_message_id (no mail)")
    # a change hint: the changed ticket is read again, rescheduled, and fires
    pg.psql("UPDATE tickets SET created_at = '2020-01-01T00:00:00Z' WHERE id = %d" % (due - N))
    ok(wait_for(lambda: sink.messages_to("c0@example.com"), 10),
       "a ticket made late by an UPDATE fires", diag=lambda: w.log())
    is_(reads(pg, "body_reads"), 0,
        "last_agent_body, which no rule names, is not read: not by the snapshot of %d "
        "tickets, the change, or the two firings" % (N + 1))
    is_(reads(pg, "thread_reads"), 2, "thread_message_id is read by the two firings only")

    # a rule file that names last_agent_body gets it when it schedules
    w.write_rule("late.lua", rule('\n  when = function(t) return t.last_agent_body ~= "no" end,'))
    before = reads(pg, "body_reads")
    w.proc.send_signal(signal.SIGHUP)
    ok(wait_for(lambda: reads(pg, "body_reads") - before >= N + 1 or None, 10),
       "after SIGHUP the new rules' when(t) gets last_agent_body: every ticket is read with it",
       diag=lambda: "reads %d -> %d" % (before, reads(pg, "body_reads")))
    ok(reads(pg, "thread_reads") <= 4,
       "thread_message_id is still left out (the two late tickets' due firings read it "
       "again, and find them fired)", diag=lambda: "reads %d" % reads(pg, "thread_reads"))
    ok(len(sink.messages()) == 2, "nothing fires twice over the reload",
       diag=lambda: sink.summary())
    w.stop_ok()


run(main)
