#!/usr/bin/python3
"""A retry record that cannot be written (issue 16, minor): the relay answers
a mail's final dot with 451 while wafa's mail connection is gone (its
backend terminated during the dot, its role not allowed to log in until the
451 is in).  The row keeps the claim's lease (55 min
with the defaults), but its claimer's session is gone: the next claim takes
it again, and the mail goes once the relay takes it, in seconds."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402

ADDR = "lease@example.com"


def main():
    require_wafa()
    plan(4)
    pg = Postgres()
    srv = ScriptedSmtp()
    srv.dot_delay = 1.5
    srv.script["DOT"] = ["451 4.3.0 try again later"]  # the first mail only
    pg.psql("CREATE ROLE wafa_r LOGIN SUPERUSER")
    w = Wafa(pg, srv.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"mail.retry_initial": "1s",
                   "database.dsn": pg.dsn.replace("user=postgres", "user=wafa_r")})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    pg.create_ticket("its retry record is lost", ADDR)
    ok(wait_for(lambda: srv.received_to(ADDR), 15, 0.02), "the relay reads the mail")
    pg.psql("ALTER ROLE wafa_r NOLOGIN")
    n = pg.value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 " WHERE application_name = 'wafa-mail'")
    diag("mail backends terminated during the dot: %s" % n)
    time.sleep(srv.dot_delay + 1)  # the 451 comes, its record cannot be written
    pg.psql("ALTER ROLE wafa_r LOGIN")
    ok(wait_for(lambda: srv.delivered_to(ADDR), 30, 0.1),
       "the mail goes again within 30 s, not after its lease",
       diag=lambda: pg.psql("SELECT status, claimed_until - now(), last_error FROM wafa.outbox")
       + w.log()[-2500:])
    time.sleep(1)
    is_(pg.value("SELECT status FROM wafa.outbox"), "sent", "and is recorded as sent")
    w.stop()
    srv.stop()


run(main)
