#!/usr/bin/python3
"""The zammad adapter over Zammad 6.x's own tables (plugins/adapters/zammad/
fixture.sql): wafa setup installs it; the view wafa.tickets is checked field
by field on a ticket written the way Zammad writes one (customer mail, an
internal note, a public note, an agent's HTML reply, state changes) with its
traps (an internal or public note is no reply, owner 1 is nobody, naive UTC
timestamps read in any session TimeZone, HTML bodies); every state type and
priority; then wafa run: an article alone (the ticket row untouched) reaches
wafa within a second, and SLA breaches end as mails.  doctor, and
--uninstall."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

DB = "zammad"
ADAPTERS = os.path.join(SRCDIR, "plugins", "adapters")
NOW_UTC = "(clock_timestamp() AT TIME ZONE 'UTC')"   # what Rails writes: naive UTC
AGENT, CUSTOMER, SYSTEM = 1, 2, 3                   # ticket_article_senders
EMAIL, PHONE, NOTE, WEB = 1, 5, 10, 11              # ticket_article_types
GROUP = "Sales › EMEA"

RULES = r'''
sla "first-response" {
  start = "created_at", stop = "first_reply_at", target = "2s",
  when = function(t) return t.subject:find("^live") ~= nil end,
  on_breach = function(t, s)
    mail { to = t.owner_email or "lead@example.com",
           subject = "FR breached: #" .. t.ref .. " [" .. t.queue .. "] " .. t.priority,
           body = "Customer: " .. (t.customer_name or "?") .. " <" .. (t.customer_email or "?")
                  .. "> locale " .. (t.customer_locale or "?") .. "\n" }
  end,
}
sla "next-reply" {
  start = "last_customer_at", stop = "last_agent_at", target = "1s",
  when = function(t) return t.subject:find("^live") ~= nil end,
  on_breach = function(t, s) mail { to = "next@example.com", subject = "NR breached: #" .. t.ref } end,
}
'''


def main():
    require_wafa()
    pg = Postgres(load_sample=False)
    pg.psql("CREATE DATABASE %s" % DB, db="postgres")
    pg.psql_file(os.path.join(ADAPTERS, "zammad", "fixture.sql"), db=DB)

    def sql(q):
        return pg.psql(q, db=DB)

    def val(q):
        return pg.value(q, db=DB)

    q = Postgres.quote

    def user(uid, login, first, last, email, prefs=None):
        sql("INSERT INTO users (id, login, firstname, lastname, email, preferences, updated_by_id, "
            "created_by_id, created_at, updated_at) VALUES (%d, %s, %s, %s, %s, %s, 1, 1, %s, %s)"
            % (uid, q(login), q(first), q(last), q(email), q(prefs), NOW_UTC, NOW_UTC))

    def ticket(number, title, state=1, priority=2, owner=1, customer=3, group=3, at=NOW_UTC, **cols):
        extra_names = "".join(", %s" % k for k in cols)
        extra_vals = "".join(", %s" % v for v in cols.values())
        return int(val(
            "INSERT INTO tickets (group_id, priority_id, state_id, organization_id, number, title, "
            "owner_id, customer_id, updated_by_id, created_by_id, created_at, updated_at%s) "
            "VALUES (%d, %d, %d, 7, %s, %s, %d, %d, 2, 2, %s, %s%s) RETURNING id"
            % (extra_names, group, priority, state, q(number), q(title), owner, customer, at, at,
               extra_vals)))

    def article(tid, sender, typ, body, internal=False, at=NOW_UTC, content_type="text/plain",
                message_id=None, by=2):
        return int(val(
            "INSERT INTO ticket_articles (ticket_id, type_id, sender_id, message_id, content_type, "
            "body, internal, updated_by_id, created_by_id, created_at, updated_at) VALUES "
            "(%d, %d, %d, %s, %s, %s, %s, %d, %d, %s, %s) RETURNING id"
            % (tid, typ, sender, q(message_id), q(content_type), q(body),
               "true" if internal else "false", by, by, at, at)))

    def view(tid, cols, tz=None):
        pre = "SET TimeZone = %s; " % q(tz) if tz else ""
        rows = sql(pre + "SELECT %s FROM wafa.tickets WHERE id = %d" % (", ".join(cols), tid))
        names = [c.rsplit(" AS ", 1)[-1] for c in cols]
        return dict(zip(names, rows[0])) if rows else None

    def epoch(col):
        return "extract(epoch FROM %s)::numeric(20,3)::text AS %s" % (col, col)

    # -- Zammad's users and groups: an agent, two customers, a group tree
    user(2, "ayesha", "Ayesha", "Rahimi", "ayesha@zammad.example",
         "--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\n"
         "notification_config:\n  matrix:\n    escalation:\n      criteria:\n        owned_by_me: true\n"
         "locale: en-us\n")
    user(3, "sara@customer.example", "Sara", "Ahmadi", "sara@customer.example",
         "--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\n"
         "tickets_open: 1\nlocale: fa-ir\nintro: true\n")
    user(4, "nobody@customer.example", "", "", "nobody@customer.example")
    sql("INSERT INTO groups (id, name, name_last, parent_id, updated_by_id, created_by_id, "
        "created_at, updated_at) VALUES "
        "(2, 'Sales', 'Sales', NULL, 1, 1, %s, %s), (3, %s, 'EMEA', 2, 1, 1, %s, %s)"
        % (NOW_UTC, NOW_UTC, q(GROUP), NOW_UTC, NOW_UTC))
    sql("INSERT INTO ticket_states (id, name, state_type_id, ignore_escalation, updated_by_id, "
        "created_by_id, created_at, updated_at) VALUES "
        "(8, 'waiting for supplier', 2, true, 1, 1, %s, %s)" % (NOW_UTC, NOW_UTC))
    sql("INSERT INTO ticket_priorities (id, name, updated_by_id, created_by_id, created_at, "
        "updated_at) VALUES (4, '4 very high', 1, 1, %s, %s)" % (NOW_UTC, NOW_UTC))

    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"zammad.lua": RULES},
             conf={"database.dsn": pg.dsn_for(DB), "helpdesk.adapter": "zammad",
                   "helpdesk.adapters": ADAPTERS, "helpdesk.view": None,
                   "helpdesk.reconcile_interval": "30s", "log.level": "debug"})

    # -- setup
    r = w.command("setup", "--dry-run")
    ok(r.returncode == 0 and 'CREATE OR REPLACE VIEW "wafa".tickets' in r.stdout
       and "pg_notify('wafa_ticket'" in r.stdout and "@SCHEMA@" not in r.stdout,
       "setup --dry-run prints the zammad adapter's SQL, filled in", diag=show(r))
    is_(val("SELECT to_regclass('wafa.tickets') IS NULL"), "t", "--dry-run changes nothing")
    r = w.setup()
    if not ok(r.returncode == 0 and "adapter zammad: install.sql applied" in r.stderr,
              "wafa setup installs the zammad adapter", diag=show(r)):
        done()
    r = w.setup()
    ok(r.returncode == 0, "setup again is harmless", diag=show(r))
    is_(sql("SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'wafa_notify' "
            "ORDER BY 1"), [["ticket_articles"], ["tickets"]],
        "one wafa_notify trigger on tickets and one on ticket_articles")

    # -- one ticket as Zammad writes it, step by step (times fixed, naive UTC)
    T0 = "'2026-03-01 08:00:00.123'"
    t1 = ticket("26030110001", "Refund not received", state=1, priority=3, owner=1, at=T0)
    article(t1, CUSTOMER, EMAIL, "Where is my refund?", at=T0, message_id="<c1@customer.example>",
            by=3)
    # Zammad's article callback: article_count, create_article_*, last_contact_customer_at
    sql("UPDATE tickets SET article_count = 1, last_contact_at = %s, last_contact_customer_at = %s, "
        "updated_at = %s WHERE id = %d" % (T0, T0, T0, t1))
    article(t1, AGENT, NOTE, "customer is on the gold plan", internal=True,
            at="'2026-03-01 08:10:00'")
    article(t1, AGENT, NOTE, "public note: we are looking into it", internal=False,
            at="'2026-03-01 08:15:00'")
    v = view(t1, ["status", "owner_email", "owner_name", "first_reply_at", "last_agent_at",
                  "last_agent_body"])
    is_(v, {"status": "new", "owner_email": None, "owner_name": None, "first_reply_at": None,
            "last_agent_at": None, "last_agent_body": None},
        "an internal note and a public note are no reply; owner 1 (\"-\") is no owner")

    sql("UPDATE tickets SET owner_id = 2, state_id = 2, updated_at = '2026-03-01 08:20:00' "
        "WHERE id = %d" % t1)
    reply = ("<div><p>Hi Sara,</p><p>We will refund you by tomorrow &amp; confirm.<br>"
             "Ayesha</p></div>")
    article(t1, AGENT, EMAIL, reply, at="'2026-03-01 08:30:00.5'", content_type="text/html",
            message_id="<a3@zammad.example>")
    sql("UPDATE tickets SET first_response_at = '2026-03-01 08:30:00.5', "
        "last_contact_agent_at = '2026-03-01 08:30:00.5', "
        "last_contact_at = '2026-03-01 08:30:00.5', article_count = 4, "
        "updated_at = '2026-03-01 08:30:00.6' WHERE id = %d" % t1)
    article(t1, CUSTOMER, EMAIL, "Thanks!", at="'2026-03-01 09:00:00'", by=3,
            message_id="<c4@customer.example>")
    # the last article is newer than the ticket row: updated_at follows it
    sql("UPDATE tickets SET state_id = 3, pending_time = '2026-03-05 09:00:00', "
        "updated_at = '2026-03-01 08:59:00' WHERE id = %d" % t1)

    cols = ["id", "ref", "subject", "status", "raw_status", "priority", "queue", "customer_email",
            "customer_name", "customer_locale", "customer_tz", "owner_email", "owner_name",
            "last_agent_body", "thread_message_id"]
    got = view(t1, cols)
    is_(got, {"id": str(t1), "ref": "26030110001", "subject": "Refund not received",
              "status": "pending", "raw_status": "pending reminder", "priority": "high",
              "queue": GROUP, "customer_email": "sara@customer.example",
              "customer_name": "Sara Ahmadi", "customer_locale": "fa-ir", "customer_tz": None,
              "owner_email": "ayesha@zammad.example", "owner_name": "Ayesha Rahimi",
              "last_agent_body": "Hi Sara,\nWe will refund you by tomorrow & confirm.\nAyesha",
              "thread_message_id": "<a3@zammad.example>"},
        "the view's text columns, field by field (HTML reply as text, the group's full path)")

    times = ["created_at", "first_reply_at", "last_customer_at", "last_agent_at", "solved_at",
             "due_at", "updated_at"]
    expected = {"created_at": "2026-03-01 08:00:00.123", "first_reply_at": "2026-03-01 08:30:00.5",
                "last_customer_at": "2026-03-01 09:00:00", "last_agent_at": "2026-03-01 08:30:00.5",
                "solved_at": None, "due_at": "2026-03-05 09:00:00",
                "updated_at": "2026-03-01 09:00:00"}
    want = {k: (None if e is None else val("SELECT extract(epoch FROM timestamptz '%s+00')"
                                           "::numeric(20,3)::text" % e))
            for k, e in expected.items()}
    for tz in ("UTC", "Asia/Tehran", "America/Los_Angeles"):
        is_(view(t1, [epoch(c) for c in times], tz=tz), want,
            "timestamps are the UTC instants Zammad stored, with TimeZone = %s" % tz)
    ex = val("SELECT extra::text FROM wafa.tickets WHERE id = %d" % t1)
    exj = __import__("json").loads(ex)
    ok(exj.get("organization_id") == 7 and exj.get("state_id") == 3 and
       exj.get("state_type") == "pending reminder" and exj.get("group") == "EMEA" and
       exj.get("owner_id") == 2 and exj.get("zammad_first_response_at") ==
       int(float(want["first_reply_at"])), "extra: organization, state, group, Zammad's own times",
       diag=ex)

    # -- every state type, the ignore_escalation state, reopen, priorities
    t2 = ticket("26030110002", "states", state=1, at=T0)
    states = [(1, "new", None), (2, "open", None), (3, "pending", None), (7, "pending", None),
              (8, "pending", None), (5, "closed", "x"), (6, "closed", "x"), (4, "closed", "x")]
    seen = []
    for sid, _, _ in states:
        sql("UPDATE tickets SET state_id = %d, close_at = '2026-03-02 10:00:00', "
            "last_close_at = '2026-03-03 11:00:00' WHERE id = %d" % (sid, t2))
        r = view(t2, ["status", "solved_at IS NOT NULL AS s"])
        seen.append((sid, r["status"], "x" if r["s"] == "t" else None))
    is_(seen, states, "states: new, open, pending reminder, pending close (pending action), "
        "an ignore_escalation open state, merged, removed, closed (solved_at only when closed)")
    is_(view(t2, [epoch("solved_at")])["solved_at"],
        val("SELECT extract(epoch FROM timestamptz '2026-03-03 11:00:00+00')::numeric(20,3)::text"),
        "solved_at is the last close (last_close_at), not the first (close_at)")
    sql("UPDATE tickets SET state_id = 2 WHERE id = %d" % t2)
    is_(view(t2, ["status", "solved_at"]), {"status": "open", "solved_at": None},
        "reopened: open, solved_at NULL")
    prios = []
    for pid in (1, 2, 3, 4):
        sql("UPDATE tickets SET priority_id = %d WHERE id = %d" % (pid, t2))
        prios.append(view(t2, ["priority"])["priority"])
    is_(prios, ["low", "normal", "high", "urgent"],
        "priorities 1 low, 2 normal, 3 high, and an added 4 very high")
    t3 = ticket("26030110003", "nameless", customer=4, at=T0)
    is_(view(t3, ["customer_name", "customer_locale", "customer_email"]),
        {"customer_name": None, "customer_locale": None,
         "customer_email": "nobody@customer.example"},
        "a customer without a name or a locale: NULL, not ''")

    # -- doctor
    r = w.command("doctor")
    zl = [l for l in r.stdout.splitlines() if re.match(r"(ok|FAIL) +zammad ", l)]
    ok(len(zl) >= 7 and all(l.startswith("ok") for l in zl),
       "wafa doctor runs the adapter's checks, all ok", diag=show(r))
    diag("wafa doctor:\n" + r.stdout)
    # under the daemon's role, which reads no Zammad table
    role = pg.wafa_role(DB)
    r = w.command_as(role, "doctor")
    zl = [l for l in r.stdout.splitlines() if re.match(r"(ok|FAIL) +zammad ", l)]
    ok(r.returncode == 0 and "as wafa_daemon" in r.stdout and len(zl) >= 7
       and all(l.startswith("ok") for l in zl) and "wafa doctor: all is well" in r.stdout,
       "wafa doctor under the role: the adapter's checks pass, all is well", diag=show(r))
    ok("reads the helpdesk's timestamps as UTC" in r.stdout, "doctor: Zammad's times are UTC",
       diag=show(r))
    pg.psql("INSERT INTO slas (calendar_id, name, updated_by_id, created_by_id, created_at, "
            "updated_at) VALUES (1, 'Gold', 1, 1, now(), now())",
            db=DB)
    r = w.command_as(role, "doctor")
    ok(r.returncode != 0 and re.search(r"FAIL zammad +no SLAs of Zammad's own .*: 1 SLA\(s\): Gold",
                                       r.stdout),
       "an SLA of Zammad's own: doctor under the role fails and says why", diag=show(r))
    pg.psql("DELETE FROM slas", db=DB)

    # -- live
    w.start()
    # B: no reply -> a first-response breach mail, to the owner, on time
    b = ticket("26030110010", "live B no reply", owner=2, priority=3)
    b_created = float(val("SELECT extract(epoch FROM created_at) FROM wafa.tickets WHERE id = %d"
                          % b))
    # C: an agent's reply by an article alone (the ticket row is not touched)
    c = ticket("26030110011", "live C answered", owner=2)
    time.sleep(0.5)
    article(c, AGENT, EMAIL, "On it.")
    # E: an internal note only -> still a breach
    e = ticket("26030110012", "live E internal note only", owner=1)
    time.sleep(0.3)
    article(e, AGENT, NOTE, "internal: call them", internal=True)
    # D: answered at once, then the customer writes (article only): next reply due in 1 s
    d = ticket("26030110013", "live D next reply", owner=2)
    article(d, AGENT, PHONE, "Called the customer.")
    time.sleep(1.2)
    article(d, CUSTOMER, WEB, "One more question")
    d_customer = float(val("SELECT extract(epoch FROM last_customer_at) FROM wafa.tickets "
                           "WHERE id = %d" % d))
    ref = {x: val("SELECT number FROM tickets WHERE id = %d" % x) for x in (b, c, d, e)}

    def subj(m):
        return str(m["subject"])

    got = wait_for(lambda: [m for m in sink.messages() if subj(m).startswith("NR breached: #%s"
                                                                              % ref[d])], 10)
    ok(got, "a customer's article alone reaches wafa: next-reply breach mail",
       diag=lambda: sink.summary() + "\n" + w.log()[-3000:])
    if got:
        late = got[0].received - (d_customer + 1.0)
        ok(-0.01 <= late <= 1.0, "and it arrives within a second of its deadline "
           "(the article's NOTIFY, not the 30 s reconcile)", diag="%.3f s after the deadline" % late)
        diag("ticket D: next-reply mail %.3f s after the deadline" % late)
    else:
        skip("next-reply mail on time", "no mail")
    got = wait_for(lambda: [m for m in sink.messages() if subj(m).startswith("FR breached: #%s"
                                                                              % ref[b])], 10)
    ok(got, "ticket B: a first-response breach mail", diag=sink.summary)
    if got:
        m = got[0]
        is_(subj(m), "FR breached: #%s [%s] high" % (ref[b], GROUP), "its subject: ref, queue, priority")
        is_(m.rcpt_tos, ["ayesha@zammad.example"], "to the owner")
        body = m.get_content()
        ok("Sara Ahmadi <sara@customer.example> locale fa-ir" in body,
           "its body: the customer's name, address and locale", diag=body)
        late = m.received - (b_created + 2.0)
        ok(-0.01 <= late <= 1.0, "on time", diag="%.3f s after the deadline" % late)
    else:
        skip("ticket B's mail", "no mail", 4)
    time.sleep(max(0.0, b_created + 5 - time.time()))
    is_([subj(m) for m in sink.messages() if ref[e] in subj(m)],
        ["FR breached: #%s [%s] normal" % (ref[e], GROUP)],
        "ticket E: an internal note is no first reply: one breach mail, to the lead "
        "(no owner)", diag=sink.summary)
    ok([m.rcpt_tos for m in sink.messages() if ref[e] in subj(m)] == [["lead@example.com"]],
       "ticket E's mail goes to the lead", diag=sink.summary)
    is_([subj(m) for m in sink.messages() if ref[c] in subj(m)], [],
        "ticket C: answered by an article within the target: no mail", diag=sink.summary)
    ok(w.log_lines("ticket=%d changed" % c), "wafa heard ticket C's article",
       diag=lambda: w.log()[-2000:])
    w.stop_ok()

    # -- uninstall
    r = w.command("setup", "--uninstall")
    ok(r.returncode == 0, "setup --uninstall", diag=show(r))
    is_(sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'wafa_notify'"), [["0"]],
        "removes the triggers")
    is_(val("SELECT to_regclass('wafa.tickets') IS NULL AND "
            "to_regprocedure('wafa.notify_zammad()') IS NULL"), "t", "and the view and function")
    is_(val("SELECT count(*) > 0 FROM wafa.outbox"), "t", "and keeps wafa's records")
    is_(val("SELECT count(*) FROM tickets"), "7", "and Zammad's tickets")


run(main)
