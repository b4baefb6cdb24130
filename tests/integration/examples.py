#!/usr/bin/python3
"""The shipped example rules pass `wafa check` and do what they say over a
week of fixture tickets in `wafa simulate`: business-time deadlines land
inside Cairo's working hours, notify_in holds steps to the next opening,
a promise in words becomes a watched deadline."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

CAIRO_OPEN = {6, 0, 1, 2, 3}  # Python weekday(): Sun=6, Mon=0 .. Thu=3


def main():
    require_wafa()
    plan(7)
    rules = {}
    for path in sorted(glob.glob(os.path.join(SRCDIR, "rules", "examples", "*.lua"))):
        with open(path, encoding="utf-8") as f:
            rules[os.path.basename(path)] = f.read()
    pg = Postgres()
    w = Wafa(pg, "maildir:" + os.path.join(pg.sockdir, "mail"), rules=rules,
             conf={"mail.templates": os.path.join(SRCDIR, "rules", "templates")})
    r = w.check()
    ok(r.returncode == 0, "every shipped example passes wafa check (with the shipped templates)",
       diag=show(r))
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    # a week from Thursday 2026-03-05 in Cairo (UTC+2)
    pg.psql(dedent('''
        INSERT INTO tickets (subject, priority, customer_name, owner_email, created_at, updated_at)
        VALUES ('Thursday afternoon', 'normal', 'Hoda', 'omar@example.com',
                '2026-03-05T13:00:00Z', '2026-03-05T13:00:00Z'),
               ('Urgent on Saturday', 'urgent', 'Karim', 'omar@example.com',
                '2026-03-07T08:00:00Z', '2026-03-07T08:00:00Z');
        INSERT INTO tickets (subject, customer_name, owner_email, created_at, updated_at,
                             first_reply_at, last_agent_at, due_at, extra)
        VALUES ('Promised a callback', 'Sara', 'layla@example.com', '2026-03-08T07:00:00Z',
                '2026-03-08T08:00:00Z', '2026-03-08T08:00:00Z', '2026-03-08T08:00:00Z',
                '2026-03-09T12:00:00Z', '{"tier": "gold"}');
        INSERT INTO tickets (subject, customer_name, owner_email, customer_tz, created_at, updated_at)
        VALUES ('Promised in words', 'Maryam', 'layla@example.com', 'Africa/Cairo',
                '2026-03-08T07:00:00Z', '2026-03-08T07:00:00Z');
        INSERT INTO messages (ticket_id, author, body, created_at)
        SELECT id, 'agent', 'We will get back to you within 24 hours.', '2026-03-08T09:00:00Z'
          FROM tickets WHERE subject = 'Promised in words';
        -- the helpdesk's trigger dates every change now; date this one by its reply
        ALTER TABLE tickets DISABLE TRIGGER tickets_touch;
        UPDATE tickets SET updated_at = '2026-03-08T09:00:00Z' WHERE subject = 'Promised in words';
        ALTER TABLE tickets ENABLE TRIGGER tickets_touch;
        INSERT INTO tickets (subject, customer_name, owner_email, created_at, updated_at, extra)
        VALUES ('Waiting on the vendor', 'Nadia', 'omar@example.com', '2026-03-05T13:00:00Z',
                '2026-03-05T13:00:00Z', '{"waiting_on": "vendor"}');
    '''))
    r = w.command("simulate", "--from", "2026-03-05T00:00:00Z", "--to", "2026-03-12T00:00:00Z")
    ok(r.returncode == 0, "wafa simulate over the week", diag=show(r))
    diag("wafa simulate over a week with rules/examples/*.lua:\n" + r.stdout)
    r = w.command("simulate", "--from", "2026-03-05T00:00:00Z", "--to", "2026-03-12T00:00:00Z",
                  "--json")
    ev = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    import datetime

    def local(at):  # Cairo is UTC+2 in March 2026
        t = datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ") + datetime.timedelta(hours=2)
        return t

    fired = [e for e in ev if e["rule"] in ("first-response-hours", "resolution")
             and e["event"] in ("warn", "breach", "escalate")]
    outside = [e for e in fired if not (local(e["at"]).weekday() in CAIRO_OPEN
                                        and 9 <= local(e["at"]).hour < 17
                                        or local(e["at"]).strftime("%H:%M:%S") == "17:00:00")]
    ok(fired and not outside, "business-hours steps fire only in Cairo's working hours",
       diag=repr(outside or ev))
    thursday = [e["at"] for e in ev if e["ticket"] == 1 and e["rule"] == "first-response-hours"
                and e["event"] == "breach"]
    # 8 business hours from Thursday 15:00: 2 h Thursday, 6 h Sunday: Sunday 15:00 (13:00Z)
    is_(thursday, ["2026-03-08T13:00:00Z"], "8 business hours from Thursday 15:00 is Sunday 15:00")
    vendor = {e["ticket"]: e["at"] for e in ev if e["rule"] == "vendor-aware-resolution"
              and e["event"] == "breach"}
    is_((vendor.get(1), vendor.get(5)), ("2026-03-06T13:00:00Z", None),
        "vendor-wait.lua: 24 h to resolve, none of it while the ticket waits on the vendor")
    words = [e for e in ev if e["ticket"] == 4 and e["rule"] == "promised-in-words"]
    is_([(e["at"], e["event"]) for e in words if e["event"] != "mail"],
        [("2026-03-08T09:00:00Z", "started"), ("2026-03-09T08:00:00Z", "warn"),
         ("2026-03-09T09:00:00Z", "breach")],
        "\"within 24 hours\" in a reply at 09:00Z is a promise for 09:00Z the next day")


run(main)
