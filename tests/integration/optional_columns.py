#!/usr/bin/python3
"""Columns added to the normalized ticket after the first release are
optional: a view written for an older wafa (no last_agent_body, no
thread_message_id) keeps working and they read as nil; a view that has
them hands them to the rules.  extra (jsonb) reaches rules as a table."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULE = dedent('''
    sla "peek" {
      stop = "first_reply_at", target = "1s",
      on_breach = function(t, s)
        mail { to = "peek@example.com",
               subject = tostring(t.last_agent_body) .. "|" .. tostring(t.thread_message_id)
                         .. "|" .. tostring(t.extra.tier) .. "|" .. tostring(t.extra.tags and t.extra.tags[2]) }
      end,
    }
''')

OLD_VIEW = dedent('''
    CREATE VIEW old_tickets AS
    SELECT id, id::text AS ref, subject, status, status AS raw_status, priority, queue,
           customer_email, customer_name, customer_locale, customer_tz, owner_email, owner_name,
           created_at, first_reply_at, last_customer_at, last_agent_at, solved_at, due_at,
           updated_at, extra
      FROM tickets;
''')


def main():
    require_wafa()
    plan(5)
    pg = Postgres()
    pg.psql(OLD_VIEW)
    sink = SmtpSink()
    old = Wafa(pg, sink.url, rules={"peek.lua": RULE}, conf={"helpdesk.view": "public.old_tickets"})
    new = Wafa(pg, sink.url, rules={"peek.lua": RULE})
    r = old.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    tid, _ = pg.create_ticket("with a reply and extra",
                              extra='{"tier": "gold", "tags": ["vip", "ar"]}')
    pg.psql("INSERT INTO messages (ticket_id, author, body) VALUES (%d, 'agent', 'سنرد غدا') "
            "; UPDATE tickets SET first_reply_at = NULL WHERE id = %d" % (tid, tid))
    when = "2030-01-01T00:00:00Z"
    r = old.command("simulate", "--from", "2000-01-01", "--to", when, "--json")
    ok(r.returncode == 0 and '"subject":"nil|nil|gold|ar"' in r.stdout,
       "a view without the optional columns works; they read as nil; extra is a table",
       diag=show(r))
    r = new.command("simulate", "--from", "2000-01-01", "--to", when, "--json")
    ok(r.returncode == 0 and '"subject":"سنرد غدا|nil|gold|ar"' in r.stdout,
       "a view with last_agent_body hands it to the rules", diag=show(r))
    old.start()
    got = wait_for(lambda: sink.messages_to("peek@example.com"), 10)
    ok(got and str(got[0]["subject"]) == "nil|nil|gold|ar",
       "wafa run on the old view sends the mail", diag=lambda: sink.summary() + old.log())
    old.stop_ok()


run(main)
