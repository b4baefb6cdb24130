#!/usr/bin/python3
"""wafa's own ticket change does not pause or re-arm its SLAs by surprise
(wafa-rules(7), WEBHOOKS AND TICKET ACTIONS).

Queuing a ticket {} change touches nothing of the ticket's clocks: only
the helpdesk's row, once the API has changed it, does, and then exactly as
an agent's change would.  With the generic adapter (no API, its ticket
rows parked) the helpdesk's row is changed here as the API would change
it: status pending pauses the SLA that pauses on pending; a second SLA
that does not pause is not held up."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULES = '''
sla "first" {
  start = "created_at", stop = "first_reply_at", target = "1s",
  on_breach = function(t, s)
    ticket { status = "pending", note = "Asked the customer for the logs", internal = true }
  end,
}
sla "resolve" {
  start = "created_at", stop = "solved_at", target = "5s", pause = { "pending" },
  on_breach = function(t, s)
    mail { to = "lead@example.com", subject = "resolve breached #" .. t.ref }
  end,
}
sla "resolve-anyway" {
  start = "created_at", stop = "solved_at", target = "5s",
  on_breach = function(t, s)
    mail { to = "lead@example.com", subject = "resolve-anyway breached #" .. t.ref }
  end,
}
'''


def events(pg, tid, rule):
    return [r[0] for r in pg.psql("SELECT event FROM wafa.journal WHERE ticket_id = %d AND "
                                  "rule = '%s' ORDER BY id" % (tid, rule))]


def main():
    require_wafa()
    pg = Postgres()
    smtp = SmtpSink()
    w = Wafa(pg, smtp.url, rules={"r.lua": RULES})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()
    tid, created = pg.create_ticket("Crash on start", "omar@example.com")
    ok(wait_for(lambda: pg.psql("SELECT 1 FROM wafa.outbox WHERE channel = 'ticket' AND "
                                "status = 'failed'"), 10),
       "the ticket change is queued (and parked: the generic adapter has no API)",
       diag=lambda: w.log()[-2000:])
    rows = pg.psql("SELECT payload->>'op' FROM wafa.outbox WHERE channel = 'ticket' ORDER BY key")
    is_([x[0] for x in rows], ["fields", "note"], "a status row and a note row")
    time.sleep(0.5)
    ok("paused" not in events(pg, tid, "resolve"),
       "queuing the change pauses nothing: the clocks follow the helpdesk's row only",
       diag=str(events(pg, tid, "resolve")))
    is_(pg.value("SELECT status FROM tickets WHERE id = %d" % tid), "new",
        "wafa never writes the helpdesk's tables")
    # the API's change, as the helpdesk would record it
    pg.psql("UPDATE tickets SET status = 'pending' WHERE id = %d" % tid)
    ok(wait_for(lambda: "paused" in events(pg, tid, "resolve"), 10),
       "the status wafa asked for, once in the helpdesk, pauses like any status change",
       diag=lambda: str(events(pg, tid, "resolve")) + w.log()[-2000:])
    time.sleep(max(0, created + 5 + 2 - time.time()))
    subjects = [str(m["subject"]) for m in smtp.messages()]
    ok(any(s.startswith("resolve-anyway breached") for s in subjects),
       "an SLA that does not pause on pending breaches on time", diag=str(subjects))
    ok(not any(s.startswith("resolve breached") for s in subjects),
       "the one that pauses on pending does not breach while pending", diag=str(subjects))
    ok("first" in str(pg.psql("SELECT rule FROM wafa.journal WHERE event = 'breach'"))
       and events(pg, tid, "first").count("breach") == 1,
       "the first-response breach fired once: wafa's own change did not re-arm it",
       diag=str(events(pg, tid, "first")))
    w.stop_ok()


run(main)
