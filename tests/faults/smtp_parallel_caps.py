#!/usr/bin/python3
"""[contact] customer_mails with parallel sessions: mails to one customer
claimed one by one while earlier ones are still at a slow relay (not yet
sent in the outbox) count against the cap too, so four sessions never let
more through than the cap (the rest is skipped, as the policy says)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402

RULE = breach_rule(target="1s", to="t.customer_email")
CUSTOMER = "capped@example.com"


def main():
    require_wafa()
    plan(6)
    pg = Postgres()
    srv = ScriptedSmtp()
    srv.dot_delay = 3.0  # every mail stays in flight for 3 s
    w = Wafa(pg, srv.url, rules={"fr.lua": RULE},
             conf={"mail.sessions": "4", "mail.batch": "1", "mail.timeout": "10s",
                   "contact.customer_mails": "2/1d"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    # one breach at a time, each claimed on its own while the others are in flight
    for i in range(4):
        pg.create_ticket("capped %d" % i, "agent@example.com", customer_email=CUSTOMER)
        time.sleep(0.4)
    wait_for(lambda: srv.max_in_transaction >= 2, 10)
    ok(srv.max_in_transaction >= 2, "two mails to the customer were at the relay at once "
       "(%d)" % srv.max_in_transaction, diag=srv.summary)
    held = wait_for(lambda: w.log_lines("skipped "), 10)
    ok(held, "the others are skipped: %s" % (held[0].split("skipped", 1)[1][:140] if held
                                             else None), diag=lambda: w.log()[-3000:])
    time.sleep(4)
    is_(len(srv.delivered_to(CUSTOMER)), 2, "the relay got exactly the cap (2), not one per "
        "session", diag=srv.summary)
    rows = pg.psql("SELECT status, count(*) FROM wafa.outbox GROUP BY status ORDER BY 1")
    is_(rows, [["sent", "2"], ["skipped", "2"]], "two sent, two skipped with the reason")
    w.stop_ok()
    srv.stop()


run(main)
