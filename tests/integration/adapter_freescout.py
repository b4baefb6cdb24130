#!/usr/bin/python3
"""The freescout adapter over FreeScout's own tables (plugins/adapters/
freescout/fixture.sql, from its Laravel migrations): `wafa setup` installs
the view and triggers; the view's fields, one by one, for a conversation
written as FreeScout writes it (a customer's mail, a note, a draft reply, a
reply, status changes, a reopen), with the session in Asia/Tehran and with
FreeScout's APP_TIMEZONE not UTC; a change reaches wafa within a second; a
first-response rule mails the assignee through the SMTP sink, and a note or
a draft does not count as the reply; doctor; uninstall."""
import calendar
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

ADAPTERS = os.path.join(SRCDIR, "plugins", "adapters")
FIXTURE = os.path.join(ADAPTERS, "freescout", "fixture.sql")
DB = "freescout"
TARGET = 2.0
LATE = 1.0

FIELDS = ["id", "ref", "subject", "status", "raw_status", "priority", "queue", "customer_email",
          "customer_name", "customer_locale", "customer_tz", "owner_email", "owner_name",
          "extra->>'mailbox_id'", "last_agent_body", "thread_message_id",
          "extract(epoch FROM created_at)", "extract(epoch FROM first_reply_at)",
          "extract(epoch FROM last_customer_at)", "extract(epoch FROM last_agent_at)",
          "extract(epoch FROM solved_at)", "extract(epoch FROM due_at)",
          "extract(epoch FROM updated_at)"]
NAMES = ["id", "ref", "subject", "status", "raw_status", "priority", "queue", "customer_email",
         "customer_name", "customer_locale", "customer_tz", "owner_email", "owner_name",
         "mailbox_id", "last_agent_body", "thread_message_id", "created_at", "first_reply_at",
         "last_customer_at", "last_agent_at", "solved_at", "due_at", "updated_at"]
TIMES = NAMES[16:]


def utc(text):
    """'2026-01-10 08:00:00' (UTC) as epoch seconds."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


class FreeScout:
    """Writes rows as FreeScout 1.8 does (Eloquent: explicit state, naive
    timestamps in the app time zone, here UTC)."""

    NOW = "date_trunc('second', clock_timestamp() AT TIME ZONE 'UTC')"

    def __init__(self, pg):
        self.pg = pg
        self.number = 5000

    def sql(self, text):
        return self.pg.psql(text, db=DB)

    def value(self, text):
        return self.pg.value(text, db=DB)

    @staticmethod
    def ts(at):
        return FreeScout.NOW if at is None else "'%s'" % at

    def conversation(self, subject, at=None, user_id=1, status=1, state=2, customer_id=1,
                     email="sara@example.com"):
        """A conversation fetched from a customer's mail; returns (id, number)."""
        self.number += 1
        q = Postgres.quote
        row = self.sql(
            "INSERT INTO conversations (number, threads_count, type, folder_id, status, state, "
            " subject, customer_email, preview, mailbox_id, user_id, customer_id, "
            " created_by_customer_id, source_via, source_type, last_reply_at, last_reply_from, "
            " created_at, updated_at) "
            "VALUES (%d, 1, 1, 1, %d, %d, %s, %s, %s, 1, %s, %d, %d, 1, 1, %s, 1, %s, %s) "
            "RETURNING id" % (self.number, status, state, q(subject), q(email), q(subject[:255]),
                              "NULL" if user_id is None else user_id, customer_id, customer_id,
                              self.ts(at), self.ts(at), self.ts(at)))
        return int(row[0][0]), self.number

    def thread(self, conv, type_, state=2, at=None, body="", message_id=None, user=1):
        """type 1 customer (by the customer), 2 message, 3 note, 4 lineitem
        (by user 1).  Returns the thread id."""
        by_customer = type_ == 1
        row = self.sql(
            "INSERT INTO threads (conversation_id, user_id, type, status, state, body, "
            " message_id, source_via, source_type, customer_id, created_by_user_id, "
            " created_by_customer_id, first, created_at, updated_at) "
            "VALUES (%d, %s, %d, 1, %d, %s, %s, %d, %d, 1, %s, %s, %s, %s, %s) RETURNING id"
            % (conv, "NULL" if by_customer else user, type_, state, Postgres.quote(body),
               Postgres.quote(message_id), 1 if by_customer else 2, 1 if by_customer else 2,
               "NULL" if by_customer else user, "1" if by_customer else "NULL",
               "true" if by_customer and message_id else "false", self.ts(at), self.ts(at)))
        return int(row[0][0])

    def touch(self, conv, at=None, **cols):
        """An Eloquent save of the conversation: cols and updated_at."""
        sets = ", ".join("%s = %s" % (k, v) for k, v in cols.items())
        self.sql("UPDATE conversations SET %s%supdated_at = %s WHERE id = %d"
                 % (sets, ", " if sets else "", self.ts(at), conv))


def view_row(pg, conv, tz="UTC"):
    rows = pg.psql("SET TimeZone = '%s'; SELECT %s FROM wafa.tickets WHERE id = %d"
                   % (tz, ", ".join(FIELDS), conv), db=DB)
    if not rows:
        return None
    d = dict(zip(NAMES, rows[0]))
    for k in TIMES:
        d[k] = None if d[k] is None else float(d[k])
    return d


def check(pg, conv, expected, what):
    """The view's row of conv, field by field, read in Asia/Tehran."""
    got = view_row(pg, conv, tz="Asia/Tehran")
    if not ok(got is not None, "%s: the conversation is in wafa.tickets" % what):
        return
    for k, v in expected.items():
        is_(got[k], v, "%s: %s" % (what, k))


def main():
    require_wafa()
    pg = Postgres(load_sample=False)
    pg.psql("CREATE DATABASE %s" % DB, db="postgres")
    pg.psql_file(FIXTURE, db=DB)
    fs = FreeScout(pg)
    fs.sql("INSERT INTO mailboxes (name, email, created_at, updated_at) VALUES "
           "('Support', 'support@example.com', '2026-01-01 00:00:00', '2026-01-01 00:00:00');"
           "INSERT INTO users (first_name, last_name, email, password, created_at, updated_at) "
           "VALUES ('Layla', 'Haddad', 'layla@example.com', 'x', '2026-01-01 00:00:00', "
           "'2026-01-01 00:00:00');"
           "INSERT INTO customers (first_name, last_name, created_at, updated_at) VALUES "
           "('Sara', 'Ahmadi', '2026-01-01 00:00:00', '2026-01-01 00:00:00');"
           "INSERT INTO emails (customer_id, email) VALUES (1, 'sara@example.com')")

    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"first-response.lua": breach_rule(target="2s")}, conf={
        "database.dsn": pg.dsn_for(DB),
        "helpdesk.adapter": "freescout",
        "helpdesk.adapters": ADAPTERS,
        "helpdesk.view": None,          # an adapter's view is SCHEMA.tickets
        "log.level": "debug",
    })

    # ---- setup installs the adapter
    r = w.command("setup", "--dry-run")
    ok(r.returncode == 0 and 'CREATE OR REPLACE VIEW "wafa".tickets' in r.stdout
       and "pg_notify('wafa_ticket'" in r.stdout,
       "setup --dry-run prints install.sql with @SCHEMA@ and @CHANNEL@ filled in", diag=show(r))
    is_(fs.value("SELECT to_regclass('wafa.tickets') IS NULL"), "t",
        "--dry-run changes nothing")
    r = w.setup()
    if not ok(r.returncode == 0 and "adapter freescout: install.sql applied" in r.stderr + r.stdout,
              "wafa setup exits 0 and installs the freescout adapter", diag=show(r)):
        return
    r = w.setup()
    ok(r.returncode == 0, "wafa setup again is harmless", diag=show(r))
    is_(fs.value("SELECT string_agg(tgrelid::regclass::text, ',' ORDER BY tgrelid::regclass::text)"
                 "  FROM pg_trigger WHERE tgname = 'wafa_notify'"),
        "conversations,send_logs,threads",
        "wafa_notify triggers on conversations, threads and send_logs")

    # ---- conversation A, field by field (times in the past, UTC naive)
    a, a_num = fs.conversation("Refund for order 77", at="2026-01-10 08:00:00")
    fs.thread(a, 1, at="2026-01-10 08:00:00", body="<p>Where is my refund?</p>",
              message_id="CAF-1@mail.example.com")
    fs.thread(a, 3, at="2026-01-10 08:05:00", body="<p>note: check the order</p>")
    fs.thread(a, 4, at="2026-01-10 08:06:00")                       # line item: assigned
    fs.thread(a, 2, state=1, at="2026-01-10 08:10:00", body="<p>draft reply</p>")
    fs.touch(a, at="2026-01-10 08:10:00")
    base = {"id": str(a), "ref": str(a_num), "subject": "Refund for order 77",
            "priority": "normal", "queue": "Support", "customer_email": "sara@example.com",
            "customer_name": "Sara Ahmadi", "customer_locale": None, "customer_tz": None,
            "owner_email": "layla@example.com", "owner_name": "Layla Haddad", "mailbox_id": "1",
            "created_at": utc("2026-01-10 08:00:00"), "due_at": None}
    check(pg, a, dict(base, status="new", raw_status="active", first_reply_at=None,
                      last_agent_at=None, last_agent_body=None,
                      last_customer_at=utc("2026-01-10 08:00:00"),
                      thread_message_id="CAF-1@mail.example.com", solved_at=None,
                      updated_at=utc("2026-01-10 08:10:00")),
          "A (customer mail, a note, a line item, a draft reply)")

    # the reply is sent: the mailbox's "status after replying" is pending
    fs.thread(a, 2, at="2026-01-10 09:00:00", body="<p>Refunded today.</p>")
    fs.touch(a, at="2026-01-10 09:00:00", status=2, last_reply_at="'2026-01-10 09:00:00'",
             last_reply_from=2, user_updated_at="'2026-01-10 09:00:00'")
    check(pg, a, dict(base, status="pending", raw_status="pending",
                      first_reply_at=utc("2026-01-10 09:00:00"),
                      last_agent_at=utc("2026-01-10 09:00:00"),
                      last_agent_body="<p>Refunded today.</p>",
                      last_customer_at=utc("2026-01-10 08:00:00"),
                      thread_message_id="CAF-1@mail.example.com", solved_at=None,
                      updated_at=utc("2026-01-10 09:00:00")), "A replied")

    # the customer answers: FreeScout makes it active again
    fs.thread(a, 1, at="2026-01-10 10:00:00", body="<p>Not yet.</p>",
              message_id="CAF-2@mail.example.com")
    fs.touch(a, at="2026-01-10 10:00:00", status=1, last_reply_at="'2026-01-10 10:00:00'",
             last_reply_from=1)
    check(pg, a, {"status": "open", "raw_status": "active",
                  "first_reply_at": utc("2026-01-10 09:00:00"),
                  "last_customer_at": utc("2026-01-10 10:00:00"),
                  "thread_message_id": "CAF-2@mail.example.com"}, "A answered by the customer")

    # closed by Layla, then reopened by the customer's mail (closed_at stays)
    fs.thread(a, 2, at="2026-01-10 11:00:00", body="<p>Done, see the receipt.</p>")
    fs.touch(a, at="2026-01-10 11:00:00", status=3, closed_at="'2026-01-10 11:00:00'",
             closed_by_user_id=1, user_updated_at="'2026-01-10 11:00:00'")
    check(pg, a, {"status": "solved", "raw_status": "closed",
                  "solved_at": utc("2026-01-10 11:00:00"),
                  "last_agent_at": utc("2026-01-10 11:00:00"),
                  "last_agent_body": "<p>Done, see the receipt.</p>"}, "A closed")
    fs.thread(a, 1, at="2026-01-10 12:00:00", body="<p>Thanks, one more thing</p>",
              message_id="CAF-3@mail.example.com")
    fs.touch(a, at="2026-01-10 12:00:00", status=1)
    check(pg, a, {"status": "open", "raw_status": "active", "solved_at": None,
                  "updated_at": utc("2026-01-10 12:00:00")},
          "A reopened (closed_at is still set)")
    # closed again by a workflow, without a user: closed_at is the old one
    fs.touch(a, at="2026-01-10 13:00:00", status=3, user_updated_at="'2026-01-10 13:00:00'")
    check(pg, a, {"status": "solved", "solved_at": utc("2026-01-10 13:00:00")},
          "A closed again without a user (stale closed_at)")

    # spam, a draft conversation, a deleted one
    b, _ = fs.conversation("Cheap watches", at="2026-01-11 08:00:00", user_id=None, status=4)
    fs.thread(b, 1, at="2026-01-11 08:00:00", body="spam", message_id="spam-1@example.net")
    check(pg, b, {"status": "closed", "raw_status": "spam", "owner_email": None,
                  "owner_name": None, "solved_at": None}, "B (spam)")
    d, _ = fs.conversation("A new conversation being written", at="2026-01-11 09:00:00", state=1)
    x, _ = fs.conversation("Deleted", at="2026-01-11 09:00:00", state=3)
    is_(fs.value("SELECT count(*) FROM wafa.tickets WHERE id IN (%d, %d)" % (d, x)), "0",
        "a draft conversation and a deleted one are not tickets")

    # the session's TimeZone does not move the times; APP_TIMEZONE does
    is_(view_row(pg, a, tz="America/Los_Angeles")["created_at"], utc("2026-01-10 08:00:00"),
        "created_at is the same in a session in America/Los_Angeles")
    fs.sql("CREATE OR REPLACE FUNCTION wafa.freescout_timezone() RETURNS text "
           "LANGUAGE sql IMMUTABLE AS $$ SELECT 'Asia/Tehran'::text $$")
    got = view_row(pg, a)
    is_(got["created_at"], utc("2026-01-10 08:00:00") - 3.5 * 3600,
        "with APP_TIMEZONE Asia/Tehran, 08:00 in FreeScout's table is 04:30 UTC")
    r = w.setup()
    is_(view_row(pg, a)["created_at"], utc("2026-01-10 08:00:00") - 3.5 * 3600,
        "wafa setup keeps the administrator's freescout_timezone()", diag=show(r))
    fs.sql("CREATE OR REPLACE FUNCTION wafa.freescout_timezone() RETURNS text "
           "LANGUAGE sql IMMUTABLE AS $$ SELECT 'UTC'::text $$")

    # ---- live: NOTIFY within a second, one rule end to end
    w.start()

    def seen(conv, after_offset):
        return [l for l in w.log(current=True)[after_offset:].splitlines()
                if "ticket=%d changed" % conv in l]

    off = len(w.log(current=True))
    t0 = time.time()
    fs.thread(a, 3, body="<p>another note</p>")
    got = wait_for(lambda: seen(a, off), 1.0, 0.02)
    ok(got, "a new thread (a note) reaches wafa within a second (%.2f s)" % (time.time() - t0),
       diag=lambda: w.log(current=True)[-3000:])

    # C: a note and a draft, no reply: breaches.  E: answered within a second.
    c, c_num = fs.conversation("Login broken")
    fs.thread(c, 1, body="<p>I cannot log in</p>", message_id="CAF-9@mail.example.com")
    c_created = float(fs.value("SELECT extract(epoch FROM created_at AT TIME ZONE 'UTC') "
                               "FROM conversations WHERE id = %d" % c))
    fs.thread(c, 3, body="<p>note: ask for a screenshot</p>")
    fs.thread(c, 2, state=1, body="<p>draft</p>")
    e, _ = fs.conversation("Password reset")
    fs.thread(e, 1, body="<p>reset please</p>", message_id="CAF-10@mail.example.com")
    e_created = float(fs.value("SELECT extract(epoch FROM created_at AT TIME ZONE 'UTC') "
                               "FROM conversations WHERE id = %d" % e))
    off = len(w.log(current=True))
    fs.thread(e, 2, body="<p>Sent you a link.</p>")
    fs.touch(e, status=2)
    ok(wait_for(lambda: seen(e, off), 1.0, 0.02), "a reply reaches wafa within a second",
       diag=lambda: w.log(current=True)[-3000:])

    mails = wait_for(lambda: sink.messages_to("layla@example.com"),
                     c_created + TARGET + 10 - time.time())
    ok(mails, "the first-response breach of C is mailed to the assignee",
       diag=lambda: sink.summary() + "\n" + w.log()[-3000:])
    time.sleep(max(0.0, max(c_created, e_created) + TARGET + 2 - time.time()))
    mails = sink.messages_to("layla@example.com")
    is_([str(m["subject"]) for m in mails], ["SLA breached: #%d Login broken" % c_num],
        "one mail, for C only (ref is FreeScout's number; E was answered; a note and a draft "
        "are no reply)", diag=sink.summary)
    if mails:
        late = mails[0].received - (c_created + TARGET)
        ok(-0.001 <= late <= LATE, "C's mail arrives within %.0f s of the deadline" % LATE,
           diag="%.3f s after the deadline" % late)
    rows = pg.psql("SELECT status FROM wafa.outbox WHERE ticket_id = %d" % c, db=DB)
    is_(rows, [["sent"]], "C's outbox row is sent")

    # ---- doctor
    r = w.command("doctor")
    lines = [l for l in r.stdout.splitlines() if l[5:].startswith("freescout ")]
    ok(len(lines) == 4 and all(l.startswith("ok ") for l in lines),
       "wafa doctor: the adapter's four checks pass", diag=show(r))
    ok(r.returncode == 0, "wafa doctor exits 0", diag=show(r))
    w.stop_ok()

    # ---- doctor under the daemon's role, which reads no FreeScout table
    fs.sql("CREATE OR REPLACE FUNCTION wafa.freescout_timezone() RETURNS text "
           "LANGUAGE sql IMMUTABLE AS $$ SELECT 'Asia/Tehran'::text $$")
    role = pg.wafa_role(DB)
    r = w.command_as(role, "doctor")
    lines = [l for l in r.stdout.splitlines() if l[5:].startswith("freescout ")]
    ok(r.returncode == 0 and "connected to freescout as wafa_daemon" in r.stdout
       and len(lines) == 4 and all(l.startswith("ok ") for l in lines)
       and "wafa doctor: all is well" in r.stdout,
       "wafa doctor under the role: the adapter's four checks pass, all is well", diag=show(r))
    ok("reads the helpdesk's timestamps in Asia/Tehran, from wafa.freescout_timezone()"
       in r.stdout, "doctor's time zone line names freescout_timezone()'s Asia/Tehran",
       diag=show(r))
    fs.sql("DROP TRIGGER wafa_notify ON threads")
    r = w.command_as(role, "doctor")
    ok(r.returncode != 0 and re.search(r"FAIL freescout +wafa_notify on conversations, threads "
                                       r"and send_logs: 2 of 3 triggers", r.stdout),
       "a broken installation: doctor under the role fails and says which check", diag=show(r))
    fs.sql("DROP FUNCTION wafa.adapter_doctor()")
    r = w.command_as(role, "doctor")
    ok(r.returncode != 0 and re.search(r"FAIL freescout +\"wafa\".adapter_doctor\(\) is missing: "
                                       r"run `wafa setup`", r.stdout),
       "without wafa.adapter_doctor(): doctor says to run wafa setup", diag=show(r))

    # ---- uninstall
    r = w.command("setup", "--uninstall")
    ok(r.returncode == 0, "wafa setup --uninstall exits 0", diag=show(r))
    is_(fs.value("SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'wafa_notify') || ',' || "
                 "(to_regclass('wafa.tickets') IS NULL) || ',' || "
                 "(to_regprocedure('wafa.notify_freescout()') IS NULL) || ',' || "
                 "(to_regprocedure('wafa.freescout_timezone()') IS NOT NULL) || ',' || "
                 "(SELECT count(*) FROM wafa.outbox) || ',' || "
                 "(SELECT count(*) FROM conversations)"),
        "0,true,true,true,1,6",
        "uninstall drops triggers, view and function; keeps the time zone setting, wafa's "
        "records and FreeScout's rows")


run(main)
