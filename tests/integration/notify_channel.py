#!/usr/bin/python3
"""[helpdesk] notify_channel with a dot in it ("wafa.ticket": a channel is one
name, whatever it holds): wafa LISTENs on it as it is, and a ticket's NOTIFY
on that channel reaches it (the breach mail comes well before the 30 s
reconciliation could find the ticket)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def main():
    require_wafa()
    plan(4)
    pg = Postgres()
    sink = SmtpSink()
    pg.psql("CREATE OR REPLACE FUNCTION wafa_notify_ticket() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN PERFORM pg_notify('wafa.ticket', (CASE WHEN TG_OP = 'DELETE' "
            "THEN OLD.id ELSE NEW.id END)::text); RETURN NULL; END $$")
    w = Wafa(pg, sink.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"helpdesk.notify_channel": "wafa.ticket",
                   "helpdesk.reconcile_interval": "30s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    ok(wait_for(lambda: w.log_lines("listening on wafa.ticket"), 10),
       "wafa listens on wafa.ticket", diag=lambda: w.log()[-2000:])
    ok(not w.log_lines("LISTEN wafa.ticket:"), "with no error from LISTEN",
       diag=lambda: "\n".join(w.log_lines("LISTEN")))
    pg.create_ticket("heard through a dotted channel", "dot@example.com")
    ok(wait_for(lambda: sink.messages_to("dot@example.com"), 12),
       "the ticket's NOTIFY reaches wafa: its breach mail comes before any reconciliation",
       diag=lambda: sink.summary() + w.log()[-2000:])
    w.stop()


run(main)
