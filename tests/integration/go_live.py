#!/usr/bin/python3
"""The go-live guard: a first start over a helpdesk with old solved tickets
mails no customer for steps that fell due long before wafa first had the
rule (the mail is recorded skipped, with the reason, and logged); a rule
added later is held the same way for its old steps while a rule wafa has
long had still mails; agents' escalations go out (their limit is off by
default); `wafa simulate --first-start` counts what a first start would
send and hold, by rule and audience."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def survey(name):
    return dedent('''
        followup "%s" {
          since = "solved_at", after = "1s",
          on_due = function(t, s)
            mail { to = t.customer_email, subject = "How did we do? #" .. t.ref, body = "1-5?" }
          end,
        }
    ''') % name


ESCALATE = dedent('''
    sla "resolution" {
      when = function(t) return t.queue == "Open" end,
      stop = "solved_at", target = "1h",
      on_breach = function(t, s) mail { to = "lead@example.com", subject = "breach #" .. t.ref } end,
    }
''')


def ticket(pg, customer, queue, created, solved=None):
    return int(pg.value(
        "INSERT INTO tickets (subject, status, queue, customer_email, created_at, updated_at, "
        "solved_at) VALUES ('t', %s, %s, %s, now() - interval %s, now() - interval %s, %s) "
        "RETURNING id" % (pg.quote("solved" if solved else "open"), pg.quote(queue),
                          pg.quote(customer), pg.quote(created), pg.quote(solved or "0s"),
                          "now() - interval %s" % pg.quote(solved) if solved else "NULL")))


def main():
    require_wafa()
    plan(18)
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"old.lua": survey("old-survey"), "new.lua": survey("new-survey"),
                                  "sla.lua": ESCALATE},
             conf={"contact.go_live_limit": "1h"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    ancient = ticket(pg, "ancient@example.com", "Done", "201 days", "200 days")
    recent = ticket(pg, "recent@example.com", "Done", "1 day", "3 hours")
    fresh = ticket(pg, "fresh@example.com", "Done", "1 hour", "2 seconds")
    stale = ticket(pg, "open@example.com", "Open", "200 days")

    # what a first start would do, before it happens
    r = w.command("simulate", "--first-start")
    out = r.stdout
    ok(r.returncode == 0, "wafa simulate --first-start exits 0", diag=show(r))
    ok("old-survey" in out and "new-survey" in out and "resolution" in out,
       "it names each rule", diag=show(r))
    ok(any(l.split()[:4] == ["old-survey", "customer", "1", "2"] for l in out.splitlines()),
       "old-survey: 1 customer mail sent, 2 held back (the ancient and the 3-hour-old)",
       diag=show(r))
    ok(any(l.split()[:4] == ["resolution", "agent", "1", "0"] for l in out.splitlines()),
       "resolution: the escalation to agents is sent", diag=show(r))

    r = w.command("doctor")
    ok("a first start now would send 3 mail(s) and hold back 4" in r.stdout,
       "wafa doctor says how many mails a first start would send and hold back", diag=show(r))

    # wafa has had "old-survey" for ten days: only "new-survey" is new
    pg.psql("INSERT INTO wafa.rule_seen (rule, first_seen) "
            "VALUES ('old-survey', now() - interval '10 days')")
    w.start()
    ok(wait_for(lambda: len(sink.messages_to("fresh@example.com")) == 2, 10),
       "the ticket solved seconds ago gets both surveys", diag=lambda: sink.summary() + w.log())
    ok(wait_for(lambda: sink.messages_to("lead@example.com"), 10),
       "the 200-day-old open ticket's breach still goes to the agents", diag=sink.summary)
    time.sleep(2)
    is_(len(sink.messages_to("ancient@example.com")), 0,
        "the customer whose ticket was solved 200 days ago gets no survey", diag=sink.summary)
    is_(len(sink.messages_to("recent@example.com")), 1,
        "3 hours ago: the rule wafa has had for 10 days mails it; the new rule does not",
        diag=sink.summary)
    rows = pg.outbox(ancient)
    ok(len(rows) == 2 and all(r["status"] == "skipped" for r in rows),
       "both of the ancient ticket's surveys are recorded skipped", diag=repr(rows))
    ok(all(re.search(r"go-live guard: fell due (200d|199d23h|190d|189d23h) before", r["last_error"] or "") and
           "[contact] go_live_limit = 1h" in r["last_error"] for r in rows),
       "with the reason: how long before, and the setting", diag=repr(rows))
    rows = pg.outbox(recent)
    ok(sorted((r["rule"], r["status"]) for r in rows) ==
       [("new-survey", "skipped"), ("old-survey", "sent")],
       "the 3-hour-old ticket: old-survey sent, new-survey skipped", diag=repr(rows))
    ok(w.log_lines("held back, recorded skipped: go-live guard"), "the log says so",
       diag=w.log)
    journal = pg.value("SELECT count(*) FROM wafa.journal WHERE ticket_id = %d AND event = 'due'"
                       % ancient)
    is_(journal, "2", "the held steps are journaled as fired (they do not come back)")
    w.stop_ok()
    w.start()
    time.sleep(2)
    is_(len(sink.messages()), 4, "a restart sends nothing more", diag=sink.summary)
    w.stop_ok("second run exits 0 on SIGTERM")
    del fresh, stale


run(main)
