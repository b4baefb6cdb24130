#!/usr/bin/python3
"""The znuny adapter over Znuny 7's own tables (plugins/adapters/znuny/fixture.sql):
rows written the way Znuny writes them; `wafa setup` installs the view and
triggers; the view checked field by field, with Znuny's traps (0 epochs are
no date, user 1 is nobody, an internal note or an auto reply is no reply,
timestamps without time zone read right whatever the session's TimeZone,
solved_at from the history, reopened and closed again); `wafa doctor` runs
the adapter's checks; a change to each watched table reaches wafa within a
second; one SLA rule end to end to a mail at the SMTP sink."""
import calendar
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

DB = "znuny"
ADAPTERS = os.path.join(SRCDIR, "plugins", "adapters")
FIXTURE = os.path.join(ADAPTERS, "znuny", "fixture.sql")
Q = Postgres.quote


def epoch(text):
    """'2026-03-01 08:00:00' read as UTC -> Unix seconds."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


class Znuny:
    """Writes rows as Znuny 7's Perl does (Kernel::System::Ticket and
    ::Article): separate autocommitted statements, current_timestamp for the
    times (or a given time, for tickets with a past), epochs with 0 for none."""

    def __init__(self, pg):
        self.pg = pg
        self.n = 0

    def sql(self, text):
        return self.pg.psql(text, db=DB)

    def one(self, text):
        rows = self.sql(text)
        return rows[0][0] if rows else None

    @staticmethod
    def at(when):
        return "current_timestamp" if when is None else "%s::timestamp" % Q(when)

    def lookup(self, table, name):
        return int(self.one("SELECT id FROM %s WHERE name = %s" % (table, Q(name))))

    def agent(self, login, first, last, email):
        uid = int(self.one(
            "INSERT INTO users (login, pw, first_name, last_name, valid_id, create_time, "
            "create_by, change_time, change_by) VALUES (%s, 'x', %s, %s, 1, current_timestamp, "
            "1, current_timestamp, 1) RETURNING id" % (Q(login), Q(first), Q(last))))
        self.sql("INSERT INTO user_preferences (user_id, preferences_key, preferences_value) "
                 "VALUES (%d, 'UserEmail', %s)" % (uid, Q(email)))
        return uid

    def customer(self, login, email, first, last, lang=None, tz=None):
        self.sql("INSERT INTO customer_user (login, email, customer_id, first_name, last_name, "
                 "valid_id, create_time, create_by, change_time, change_by) VALUES "
                 "(%s, %s, 'ACME', %s, %s, 1, current_timestamp, 1, current_timestamp, 1)"
                 % (Q(login), Q(email), Q(first), Q(last)))
        for key, value in (("UserLanguage", lang), ("UserTimeZone", tz)):
            if value:
                self.sql("INSERT INTO customer_preferences (user_id, preferences_key, "
                         "preferences_value) VALUES (%s, %s, %s)" % (Q(login), Q(key), Q(value)))

    def history(self, tid, htype, name, when=None, article_id=None, by=1):
        self.sql(
            "INSERT INTO ticket_history (name, history_type_id, ticket_id, article_id, type_id, "
            "queue_id, owner_id, priority_id, state_id, create_time, create_by, change_time, "
            "change_by) SELECT %s, ht.id, t.id, %s, coalesce(t.type_id, 1), t.queue_id, t.user_id, "
            "t.ticket_priority_id, t.ticket_state_id, %s, %d, %s, %d "
            "FROM ticket t, ticket_history_type ht WHERE t.id = %d AND ht.name = %s"
            % (Q(name), "NULL" if article_id is None else article_id, self.at(when), by,
               self.at(when), by, tid, Q(htype)))

    def ticket(self, title, queue="Support", owner=1, priority="3 normal", state="new",
               customer_user=None, customer_id=None, when=None, by=1):
        self.n += 1
        tn = "2026%012d" % self.n
        tid = int(self.one(
            "INSERT INTO ticket (tn, title, type_id, queue_id, ticket_lock_id, user_id, "
            "responsible_user_id, ticket_priority_id, ticket_state_id, customer_id, "
            "customer_user_id, escalation_time, escalation_update_time, escalation_response_time, "
            "escalation_solution_time, timeout, service_id, sla_id, until_time, archive_flag, "
            "create_time, create_by, change_time, change_by) VALUES (%s, %s, 1, %d, 1, %d, %d, "
            "%d, %d, %s, %s, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, %s, %d, %s, %d) RETURNING id"
            % (Q(tn), Q(title), self.lookup("queue", queue), owner, owner,
               self.lookup("ticket_priority", priority), self.lookup("ticket_state", state),
               Q(customer_id), Q(customer_user), self.at(when), by, self.at(when), by)))
        self.history(tid, "NewTicket", "%%%%%s%%%%%s%%%%%s%%%%%s%%%%%d" % (
            tn, queue, priority, state, tid), when, by=by)
        return tid, tn

    def article(self, tid, sender, visible, body, a_from=None, message_id=None, when=None,
                by=1, htype=None):
        aid = int(self.one(
            "INSERT INTO article (ticket_id, article_sender_type_id, communication_channel_id, "
            "is_visible_for_customer, search_index_needs_rebuild, insert_fingerprint, create_time, "
            "create_by, change_time, change_by) VALUES (%d, %d, 1, %d, 1, %s, %s, %d, %s, %d) "
            "RETURNING id" % (tid, self.lookup("article_sender_type", sender), 1 if visible else 0,
                              Q("%d-%d" % (os.getpid(), time.time_ns())), self.at(when), by,
                              self.at(when), by)))
        self.sql(
            "INSERT INTO article_data_mime (article_id, a_from, a_to, a_subject, a_message_id, "
            "a_message_id_md5, a_content_type, a_body, incoming_time, create_time, create_by, "
            "change_time, change_by) VALUES (%d, %s, 'support@example.com', 'Re', %s, "
            "md5(coalesce(%s, '')), 'text/plain; charset=utf-8', %s, "
            "extract(epoch FROM %s)::int, %s, %d, %s, %d)"
            % (aid, Q(a_from), Q(message_id), Q(message_id), Q(body),
               self.at(when) if when is None else "(%s AT TIME ZONE 'UTC')" % self.at(when),
               self.at(when), by, self.at(when), by))
        htype = htype or {"customer": "FollowUp", "system": "SendAutoReply"}.get(
            sender, "SendAnswer" if visible else "AddNote")
        self.history(tid, htype, "%%article", when, article_id=aid, by=by)
        return aid

    def state(self, tid, state, when=None, by=1):
        old = self.one("SELECT s.name FROM ticket t JOIN ticket_state s ON s.id = t.ticket_state_id "
                       "WHERE t.id = %d" % tid)
        self.sql("UPDATE ticket SET ticket_state_id = %d, change_time = %s, change_by = %d "
                 "WHERE id = %d" % (self.lookup("ticket_state", state), self.at(when), by, tid))
        self.history(tid, "StateUpdate", "%%%%%s%%%%%s%%%%" % (old, state), when, by=by)

    def pending(self, tid, until, when=None, by=1):
        self.sql("UPDATE ticket SET until_time = %d, change_time = %s, change_by = %d "
                 "WHERE id = %d" % (until, self.at(when), by, tid))
        self.history(tid, "SetPendingTime", "%%pending", when, by=by)

    def escalation(self, tid, response=0, update=0, solution=0):
        """TicketEscalationIndexBuild: escalation_time is the earliest of the three."""
        first = min([x for x in (response, update, solution) if x] or [0])
        self.sql("UPDATE ticket SET escalation_time = %d, escalation_response_time = %d, "
                 "escalation_update_time = %d, escalation_solution_time = %d WHERE id = %d"
                 % (first, response, update, solution, tid))


COLS = ["id", "ref", "subject", "status", "raw_status", "priority", "queue", "customer_email",
        "customer_name", "customer_locale", "customer_tz", "owner_email", "owner_name",
        "created_at", "first_reply_at", "last_customer_at", "last_agent_at", "solved_at", "due_at",
        "updated_at", "extra", "last_agent_body", "thread_message_id"]
TIMES = {"created_at", "first_reply_at", "last_customer_at", "last_agent_at", "solved_at",
         "due_at", "updated_at"}


def view(pg, tid, tz="Asia/Tehran"):
    """The view's row for ticket tid, read in a session whose TimeZone is
    tz: timestamps as epoch seconds (int) and, for the show, as text."""
    sel = ", ".join("extract(epoch FROM %s)::bigint" % c if c in TIMES else
                    "extra::text" if c == "extra" else "%s::text" % c for c in COLS)
    rows = pg.psql("SET TimeZone = %s; SELECT %s FROM wafa.tickets WHERE id = %d"
                   % (Q(tz), sel, tid), db=DB)
    if not rows:
        return None
    row = dict(zip(COLS, rows[0]))
    for c in TIMES:
        row[c] = None if row[c] is None else int(row[c])
    row["extra"] = json.loads(row["extra"])
    return row


def check(row, expected, what):
    for key, want in expected.items():
        is_(row.get(key) if row else "(no row)", want, "%s: %s" % (what, key))


def main():
    require_wafa()
    pg = Postgres()
    pg.psql("CREATE DATABASE %s" % DB, db="postgres")
    pg.psql_file(FIXTURE, db=DB)
    z = Znuny(pg)
    z.sql("INSERT INTO queue (name, group_id, system_address_id, salutation_id, signature_id, "
          "follow_up_id, follow_up_lock, valid_id, create_time, create_by, change_time, change_by) "
          "VALUES ('Support', 1, 1, 1, 1, 1, 0, 1, current_timestamp, 1, current_timestamp, 1), "
          "('Live', 1, 1, 1, 1, 1, 0, 1, current_timestamp, 1, current_timestamp, 1)")
    maryam = z.agent("maryam", "Maryam", "Rahimi", "maryam@example.com")
    reza = z.agent("reza", "Reza", "Tehrani", "reza@example.com")
    z.customer("sara", "sara@example.com", "Sara", "Karimi", lang="fa_IR", tz="Asia/Tehran")

    # --- the tickets' past, at fixed times (Znuny's session writes UTC)
    # A: a customer mail, Znuny's auto reply, an internal note, then the reply
    a, a_tn = z.ticket("بازپرداخت وجه", owner=maryam, priority="5 very high",
                       customer_user="sara", customer_id="ACME", when="2026-03-01 08:00:00")
    z.article(a, "customer", True, "Where is my refund?", '"Sara Karimi" <sara@example.com>',
              "<c1@example.com>", when="2026-03-01 08:00:00", htype="EmailCustomer")
    z.article(a, "system", True, "We received your mail.", "Znuny <support@example.com>",
              "<auto1@znuny.example>", when="2026-03-01 08:00:01")
    z.article(a, "agent", False, "internal: ask finance", "Maryam Rahimi", None,
              when="2026-03-01 08:10:00", by=maryam)
    z.state(a, "open", when="2026-03-01 08:30:00", by=maryam)
    z.article(a, "agent", True, "We will refund you by tomorrow.",
              '"Maryam Rahimi" <support@example.com>', "<r1@znuny.example>",
              when="2026-03-01 08:30:00", by=maryam)
    z.article(a, "customer", True, "Thanks!", "sara@example.com", "<c2@example.com>",
              when="2026-03-01 09:00:00")
    z.escalation(a, solution=epoch("2026-03-02 08:00:00"))

    # B: nobody's (user 1), a customer not in customer_user, only an internal
    # note, pending with a date
    b, b_tn = z.ticket("Printer on fire", owner=1, priority="2 low", state="new",
                       customer_user="ali@example.org", when="2026-03-01 10:00:00")
    z.article(b, "customer", True, "Help", "ali@example.org", "<b1@example.org>",
              when="2026-03-01 10:00:00")
    z.article(b, "agent", False, "internal: ordered toner", None, None,
              when="2026-03-01 10:05:00", by=reza)
    z.state(b, "pending reminder", when="2026-03-01 10:06:00", by=reza)
    z.pending(b, epoch("2026-03-05 09:00:00"), when="2026-03-01 10:06:00", by=reza)

    # C: closed, reopened, closed again; its customer known only by the From
    c, c_tn = z.ticket("Invoice copy", owner=reza, priority="3 normal", state="new",
                       when="2026-03-01 07:00:00")
    z.article(c, "customer", True, "Send me the invoice", '"Omar" <omar@example.net>',
              "<o1@example.net>", when="2026-03-01 07:00:00")
    z.article(c, "agent", True, "Attached.", "support@example.com", "<o2@znuny.example>",
              when="2026-03-01 09:59:00", by=reza)
    z.state(c, "closed successful", when="2026-03-01 10:00:00", by=reza)
    # D: merged, high
    d, d_tn = z.ticket("Duplicate", owner=reza, priority="4 high", state="open",
                       when="2026-03-01 07:30:00")
    z.state(d, "merged", when="2026-03-01 07:45:00", by=reza)
    # pending auto with until_time 0 and escalation times 0: no dates
    p, p_tn = z.ticket("Waiting", owner=reza, priority="1 very low", state="pending auto close+",
                       when="2026-03-01 06:00:00")

    # --- wafa setup installs the adapter
    sink = SmtpSink()
    w = Wafa(pg, sink.url,
             rules={"first-response.lua": breach_rule(
                 target="2s", when='function(t) return t.queue == "Live" end')},
             conf={"database.dsn": pg.dsn_for(DB), "helpdesk.adapter": "znuny",
                   "helpdesk.adapters": ADAPTERS, "helpdesk.view": None, "log.level": "debug"})
    r = w.command("setup", "--dry-run")
    ok(r.returncode == 0 and 'CREATE OR REPLACE VIEW "wafa".tickets' in r.stdout
       and "pg_notify('wafa_ticket'" in r.stdout, "setup --dry-run prints install.sql, filled in",
       diag=lambda: show(r))
    r = w.setup()
    if not ok(r.returncode == 0 and "adapter znuny: install.sql applied" in r.stderr,
              "wafa setup installs the znuny adapter", diag=lambda: show(r)):
        return
    r = w.setup()
    ok(r.returncode == 0, "wafa setup again is harmless", diag=lambda: show(r))
    is_(z.one("SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_trigger g "
              "JOIN pg_class c ON c.oid = g.tgrelid WHERE g.tgname = 'wafa_notify'"),
        "article,article_data_mime,ticket,ticket_history", "one wafa_notify trigger per table")

    # --- field by field, in a session at +03:30
    row = view(pg, a)
    check(row, {
        "ref": a_tn, "subject": "بازپرداخت وجه", "status": "open", "raw_status": "open",
        "priority": "urgent", "queue": "Support",
        "customer_email": "sara@example.com", "customer_name": "Sara Karimi",
        "customer_locale": "fa-IR", "customer_tz": "Asia/Tehran",
        "owner_email": "maryam@example.com", "owner_name": "Maryam Rahimi",
        "created_at": epoch("2026-03-01 08:00:00"),
        "first_reply_at": epoch("2026-03-01 08:30:00"),   # not the auto reply, not the note
        "last_customer_at": epoch("2026-03-01 09:00:00"),
        "last_agent_at": epoch("2026-03-01 08:30:00"),
        "solved_at": None, "due_at": None,
        "updated_at": epoch("2026-03-01 09:00:00"),
        "last_agent_body": "We will refund you by tomorrow.",
        "thread_message_id": "<c2@example.com>",
    }, "ticket A")
    ex = row["extra"] if row else {}
    is_(ex.get("escalation_solution_at"), epoch("2026-03-02 08:00:00"),
        "ticket A: extra.escalation_solution_at is the epoch")
    ok("escalation_response_at" not in ex and "escalation_update_at" not in ex
       and "pending_until" not in ex, "ticket A: an escalation time of 0 is no time",
       diag=repr(ex))
    is_((ex.get("owner_id"), ex.get("customer_id"), ex.get("type_id")), (maryam, "ACME", 1),
        "ticket A: extra has owner_id, customer_id, type_id")
    row_utc = view(pg, a, tz="UTC")
    ok(row_utc is not None and all(row_utc[c] == row[c] for c in TIMES),
       "ticket A: the same instants in a UTC session as at +03:30",
       diag=lambda: "%r\n%r" % (row_utc, row))
    is_(z.one("SET TimeZone = 'Asia/Tehran'; SELECT created_at::text FROM wafa.tickets "
              "WHERE id = %d" % a), "2026-03-01 11:30:00+03:30",
        "ticket A: created 08:00 UTC shows as 11:30 at Tehran")

    row = view(pg, b)
    check(row, {
        "status": "pending", "raw_status": "pending reminder", "priority": "low",
        "customer_email": "ali@example.org", "customer_name": None, "customer_locale": None,
        "owner_email": None, "owner_name": None,               # user 1: nobody's
        "first_reply_at": None,                                 # an internal note only
        "last_customer_at": epoch("2026-03-01 10:00:00"), "last_agent_at": None,
        "last_agent_body": None, "thread_message_id": "<b1@example.org>",
        "due_at": epoch("2026-03-05 09:00:00"),
        "updated_at": epoch("2026-03-01 10:06:00"),
    }, "ticket B")

    row = view(pg, c)
    check(row, {"status": "closed", "raw_status": "closed successful", "priority": "normal",
                "customer_email": "omar@example.net", "owner_email": "reza@example.com",
                "first_reply_at": epoch("2026-03-01 09:59:00"),
                "solved_at": epoch("2026-03-01 10:00:00")}, "ticket C closed")
    z.state(c, "open", when="2026-03-01 11:00:00")
    z.article(c, "customer", True, "Wrong invoice", "omar@example.net", "<o3@example.net>",
              when="2026-03-01 11:00:00")
    check(view(pg, c), {"status": "open", "solved_at": None,
                        "last_customer_at": epoch("2026-03-01 11:00:00")}, "ticket C reopened")
    z.state(c, "closed unsuccessful", when="2026-03-01 12:00:00")
    z.state(c, "closed successful", when="2026-03-01 12:30:00")
    check(view(pg, c), {"status": "closed", "solved_at": epoch("2026-03-01 12:00:00")},
          "ticket C closed again (from closed to closed keeps the first)")

    check(view(pg, d), {"status": "closed", "raw_status": "merged", "priority": "high",
                        "solved_at": epoch("2026-03-01 07:45:00")}, "ticket D merged")
    check(view(pg, p), {"status": "pending", "priority": "low", "due_at": None,
                        "owner_name": "Reza Tehrani"}, "ticket P: until_time 0")
    is_(view(pg, p)["extra"].get("escalation_at") if view(pg, p) else "(no row)", None,
        "ticket P: escalation_time 0 is no time")

    # --- doctor
    r = w.command("doctor")
    ok("FAIL znuny         Znuny's own escalation notifications are off: active: "
       "Ticket escalation notification, Ticket escalation warning notification" in r.stdout,
       "doctor: Znuny's own escalation mails are on", diag=lambda: show(r))
    ok("ok   znuny         wafa_notify triggers on ticket" in r.stdout
       and "ok   znuny         Znuny's timestamps are read as UTC" in r.stdout,
       "doctor: triggers there, the time zone agrees", diag=lambda: show(r))
    z.sql("UPDATE notification_event SET valid_id = 2 WHERE id IN (11, 12)")
    r = w.command("doctor")
    ok("ok   znuny         Znuny's own escalation notifications are off" in r.stdout
       and "FAIL" not in r.stdout, "doctor: all ok once they are set invalid",
       diag=lambda: show(r))
    diag("wafa doctor:\n" + r.stdout)
    # under the daemon's role, which reads no Znuny table
    role = pg.wafa_role(DB)
    r = w.command_as(role, "doctor")
    ok(r.returncode == 0 and "as wafa_daemon" in r.stdout and "FAIL" not in r.stdout
       and r.stdout.count("ok   znuny ") >= 8 and "wafa doctor: all is well" in r.stdout,
       "doctor under the role: the adapter's checks pass, all is well", diag=lambda: show(r))
    ok("reads the helpdesk's timestamps in UTC, from wafa.znuny_time_zone()" in r.stdout,
       "doctor's time zone line names znuny_time_zone()", diag=lambda: show(r))
    z.sql("UPDATE notification_event SET valid_id = 1 WHERE id = 11")
    r = w.command_as(role, "doctor")
    ok(r.returncode != 0 and "FAIL znuny         Znuny's own escalation notifications are off: "
       "active: Ticket escalation notification (" in r.stdout,
       "doctor under the role fails on a notification set valid again, and names it",
       diag=lambda: show(r))
    z.sql("UPDATE notification_event SET valid_id = 2 WHERE id = 11")

    # --- a Znuny whose database writes local time: say so once, setup keeps it
    z.sql("CREATE OR REPLACE FUNCTION wafa.znuny_time_zone() RETURNS text LANGUAGE sql "
          "IMMUTABLE AS $$ SELECT 'Asia/Tehran'::text $$")
    r = w.setup()
    is_(view(pg, a, tz="UTC")["created_at"] if r.returncode == 0 else show(r),
        epoch("2026-03-01 08:00:00") - 3 * 3600 - 1800,
        "znuny_time_zone() Asia/Tehran: 08:00 is read as 04:30 UTC, and setup keeps it")
    r = w.command("doctor")
    ok("FAIL znuny         Znuny's timestamps are read as Asia/Tehran: a new session's "
       "TimeZone is UTC" in r.stdout, "doctor: the zone disagrees with the database's",
       diag=lambda: show(r))
    z.sql("CREATE OR REPLACE FUNCTION wafa.znuny_time_zone() RETURNS text LANGUAGE sql "
          "IMMUTABLE AS $$ SELECT 'UTC'::text $$")

    # --- live: each watched table's change reaches wafa within a second
    w.start()

    def changed_within(tid, fn, what, limit=1.0):
        before = len(w.log_lines("ticket=%d changed" % tid, current=True))
        t0 = time.time()
        fn()
        got = wait_for(lambda: len(w.log_lines("ticket=%d changed" % tid, current=True)) > before,
                       limit + 2)
        took = time.time() - t0
        ok(got and took <= limit, "%s reaches wafa within %.0f s (%.2f s)" % (what, limit, took),
           diag=lambda: w.log(current=True)[-2000:])

    changed_within(a, lambda: z.sql("UPDATE ticket SET title = title, change_time = "
                                    "current_timestamp WHERE id = %d" % a), "a ticket update")
    changed_within(b, lambda: z.sql(
        "INSERT INTO article (ticket_id, article_sender_type_id, communication_channel_id, "
        "is_visible_for_customer, create_time, create_by, change_time, change_by) VALUES "
        "(%d, 3, 1, 1, current_timestamp, 1, current_timestamp, 1)" % b), "a new article")
    aid = int(z.one("SELECT max(id) FROM article WHERE ticket_id = %d" % b))
    changed_within(b, lambda: z.sql(
        "INSERT INTO article_data_mime (article_id, a_body, incoming_time, create_time, create_by, "
        "change_time, change_by) VALUES (%d, 'body', 0, current_timestamp, 1, current_timestamp, 1)"
        % aid), "an article's body (article_data_mime)")
    changed_within(c, lambda: z.history(c, "Merged", "%%x"), "a history row")

    # --- one SLA end to end: queue Live, 2 s to the first reply
    e, e_tn = z.ticket("Login broken", queue="Live", owner=maryam, priority="4 high",
                       customer_user="sara")
    z.article(e, "customer", True, "I cannot log in", "sara@example.com", "<e1@example.com>")
    f, f_tn = z.ticket("Answered in time", queue="Live", owner=reza)
    z.article(f, "agent", True, "Done.", "support@example.com", "<f1@znuny.example>", by=reza)
    g, g_tn = z.ticket("Only a note", queue="Live", owner=1)
    z.article(g, "agent", False, "internal", None, None, by=reza)
    e_created = view(pg, e, tz="UTC")["created_at"]
    got = wait_for(lambda: sink.messages_to("maryam@example.com"), 15)
    ok(got, "a breach mail for ticket E reaches its owner",
       diag=lambda: sink.summary() + "\n" + w.log()[-3000:])
    if got:
        m = got[0]
        is_(str(m["subject"]), "SLA breached: #%s Login broken" % e_tn,
            "its subject has Znuny's ticket number and title")
        late = m.received - (e_created + 2)
        ok(-0.001 <= late <= 1.5, "on time: %.2f s after the deadline" % late)
    got = wait_for(lambda: sink.messages_to("lead@example.com"), 10)
    ok(got and "#%s " % g_tn in str(got[0]["subject"]),
       "ticket G (user 1's, an internal note only) breaches to the fallback address",
       diag=sink.summary)
    time.sleep(1.5)
    ok(not any("#%s " % f_tn in str(m["subject"]) for m in sink.messages()),
       "no mail for ticket F (answered)", diag=sink.summary)
    is_(len(sink.messages()), 2, "two mails in all (E, G)", diag=sink.summary)
    w.stop_ok()

    r = w.command("setup", "--uninstall")
    ok(r.returncode == 0, "setup --uninstall", diag=lambda: show(r))
    is_(z.one("SELECT count(*) FROM pg_trigger WHERE tgname = 'wafa_notify'"), "0",
        "removes the triggers")
    is_(z.one("SELECT to_regclass('wafa.tickets') IS NULL AND "
              "to_regprocedure('wafa.notify_znuny()') IS NULL"), "t",
        "and the view and function")


run(main)
