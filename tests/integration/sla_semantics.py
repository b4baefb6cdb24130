#!/usr/bin/python3
"""The SLA and promise engine as it runs, on a real PostgreSQL and SMTP
server: a pause that spans a restart, a reply one millisecond before the
deadline, next-reply instances, a promise moved three times, and the journal
each of them leaves."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULES = dedent('''
    sla "first-response" {
      stop = "first_reply_at", target = "3s", pause = { "pending" },
      when = function(t) return t.queue == "Support" end,
      on_breach = function(t, s)
        mail { to = "agents@example.com", subject = "breach " .. t.ref }
      end,
    }
    sla "next-reply" {
      start = "last_customer_at", stop = "last_agent_at", target = "2s",
      when = function(t) return t.queue == "Chat" end,
      on_breach = function(t, s)
        mail { to = "chat@example.com", subject = "no reply " .. t.ref .. " " .. s.instance }
      end,
    }
    promise "callback" {
      at = "due_at",
      when = function(t) return t.queue == "Promise" end,
      on_breach = function(t, s)
        mail { to = "promises@example.com", subject = "broken " .. t.ref .. " " .. s.at }
      end,
    }
''')


def journal(pg, ticket_id, rule):
    return pg.psql("SELECT instance, event, step, extract(epoch FROM at), detail "
                   "FROM wafa.journal WHERE ticket_id = %d AND rule = '%s' ORDER BY at, id"
                   % (ticket_id, rule))


def events(rows):
    return [r[1] for r in rows]


def main():
    require_wafa()
    plan(17)
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"rules.lua": RULES})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    # --- a pause that spans a restart: 1 s running, pending across the
    # restart, open again while wafa is down: 2 s left after that
    p_id, p_created = pg.create_ticket("paused across a restart")
    time.sleep(1.0)
    pg.psql("UPDATE tickets SET status = 'pending' WHERE id = %d" % p_id)
    paused_at = time.time()
    time.sleep(0.5)
    ok(w.stop() == 0, "wafa stops while the ticket is pending")
    time.sleep(1.5)
    pg.psql("UPDATE tickets SET status = 'open' WHERE id = %d" % p_id)
    resumed_at = time.time()
    time.sleep(0.5)
    w.start()
    ran = paused_at - p_created
    expected = resumed_at + (3.0 - ran)
    got = wait_for(lambda: sink.messages_to("agents@example.com"), expected + 5 - time.time())
    ok(got, "the paused ticket breaches after its pause", diag=lambda: sink.summary() + w.log())
    if got:
        late = got[0].received - expected
        ok(-0.3 <= late <= 1.0,
           "the breach comes 3 s of running time after the start, not counting the pause",
           diag="received %.3f s from the expected instant (%.3f s from creation; a clock "
                "that ignored the pause would have fired 3 s after creation)"
                % (late, got[0].received - p_created))
    changes = pg.psql("SELECT old_status, new_status, inferred FROM wafa.status_log "
                      "WHERE ticket_id = %d ORDER BY at" % p_id)
    is_(changes, [["new", "pending", "f"], ["pending", "open", "t"]],
        "status_log: the change seen live, and the one made while wafa was down marked inferred")
    is_(events(journal(pg, p_id, "first-response")), ["started", "paused", "resumed", "breach"],
        "the journal tells the story: started, paused, resumed, breach")

    # --- a reply one millisecond before the deadline, with no NOTIFY to
    # announce it: the firing re-reads the ticket and sends nothing
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    r_id, r_created = pg.create_ticket("answered 1 ms before the deadline")
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    w.stop()
    w.start()  # the snapshot brings the ticket in
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    time.sleep(max(0.0, r_created + 3.0 - 0.15 - time.time()))
    pg.psql("UPDATE tickets SET first_reply_at = created_at + interval '2.999 s' WHERE id = %d"
            % r_id)
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    time.sleep(max(0.0, r_created + 5.0 - time.time()))
    subjects = [str(m["subject"]) for m in sink.messages_to("agents@example.com")]
    ok("breach %d" % r_id not in subjects, "a reply 1 ms before the deadline: no mail",
       diag=lambda: sink.summary() + w.log()[-2000:])
    rows = journal(pg, r_id, "first-response")
    is_(events(rows), ["started", "met"], "the journal records the SLA met, no breach",
        diag=lambda: w.log()[-2000:])
    if len(rows) == 2:
        ok(abs(float(rows[1][3]) - (r_created + 2.999)) < 0.01, "met at the reply's time",
           diag="met %.3f, reply %.3f" % (float(rows[1][3]), r_created + 2.999))
    else:
        ok(False, "met at the reply's time")

    # --- next reply: each customer message is a new instance until an agent answers
    c_id, _ = pg.create_ticket("chat", queue="Chat")
    pg.psql("INSERT INTO messages (ticket_id, author, body) VALUES (%d, 'customer', 'hi')" % c_id)
    time.sleep(1.0)
    pg.psql("INSERT INTO messages (ticket_id, author, body) VALUES (%d, 'agent', 'hello')" % c_id)
    time.sleep(0.5)
    second = float(pg.value(
        "INSERT INTO messages (ticket_id, author, body) VALUES (%d, 'customer', 'still there?') "
        "RETURNING extract(epoch FROM created_at)" % c_id))
    got = wait_for(lambda: sink.messages_to("chat@example.com"), second + 5 - time.time())
    time.sleep(1.0)
    mails = sink.messages_to("chat@example.com")
    is_(len(mails), 1, "next reply: one breach, for the unanswered second message",
        diag=sink.summary)
    if mails:
        ok(abs(mails[0].received - (second + 2.0)) < 1.0, "2 s after the second message",
           diag="%.3f s after it" % (mails[0].received - second))
    else:
        ok(False, "2 s after the second message")
    rows = journal(pg, c_id, "next-reply")
    is_(sorted(events(rows)), sorted(["started", "met", "started", "breach"]),
        "next reply: two instances, the first met, the second breached", diag=repr(rows))

    # --- a promise moved three times: four instances, at most one breach each
    pr_id, _ = pg.create_ticket("call the customer back", queue="Promise")
    pg.psql("UPDATE tickets SET due_at = clock_timestamp() + interval '1 s' WHERE id = %d" % pr_id)
    time.sleep(1.5)   # instance 1 breaches
    pg.psql("UPDATE tickets SET due_at = clock_timestamp() + interval '1 s' WHERE id = %d" % pr_id)
    time.sleep(1.5)   # instance 2 breaches
    pg.psql("UPDATE tickets SET due_at = clock_timestamp() + interval '30 s' WHERE id = %d" % pr_id)
    time.sleep(0.5)   # instance 3 moved before its date
    pg.psql("UPDATE tickets SET due_at = clock_timestamp() + interval '1 s' WHERE id = %d" % pr_id)
    time.sleep(2.5)   # instance 4 breaches
    mails = sink.messages_to("promises@example.com")
    is_(len(mails), 3, "three broken promises mailed (the one moved in time is not)",
        diag=sink.summary)
    rows = journal(pg, pr_id, "callback")
    instances = []
    for r in rows:  # in the order they were made
        if r[0] not in instances:
            instances.append(r[0])
    is_(len(instances), 4, "four instances journaled, one per date", diag=repr(rows))
    per = [sum(1 for r in rows if r[0] == i and r[1] == "breach") for i in instances]
    is_(per, [1, 1, 0, 1], "at most one breach per instance (none for the moved one)",
        diag=repr(rows))
    moved = [r for r in rows if r[1] == "cancelled" and r[4] == "moved"]
    is_(len(moved), 3, "each move journaled as cancelled (moved)", diag=repr(rows))
    w.stop_ok()


run(main)
