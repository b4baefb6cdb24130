#!/usr/bin/python3
"""The daemon under the least-privilege role contrib/wafa-role creates: it
reads the ticket view and writes wafa's schema, and nothing else of the
helpdesk; `wafa run` sends a breach mail under it, and `wafa setup --dry-run`
and `wafa doctor` work under it."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def main():
    require_wafa()
    plan(8)
    pg = Postgres()
    sink = SmtpSink()
    admin = Wafa(pg, sink.url)
    r = admin.setup()
    if not ok(r.returncode == 0, "wafa setup as the database owner", diag=show(r)):
        return
    sql = subprocess.run([os.path.join(SRCDIR, "contrib", "wafa-role"), "wafa_daemon",
                          "public.wafa_tickets"], stdout=subprocess.PIPE, check=True).stdout.decode()
    pg.psql(sql)
    pg.psql(sql)  # again: harmless
    ok(True, "contrib/wafa-role's SQL runs, twice")
    role_dsn = pg.dsn.replace("user=postgres", "user=wafa_daemon")
    try:
        pg.psql("SET ROLE wafa_daemon; SELECT count(*) FROM public.tickets")
        ok(False, "the role cannot read the helpdesk's tables")
    except PsqlError as e:
        ok("permission denied" in str(e), "the role cannot read the helpdesk's tables", diag=str(e))
    try:
        pg.psql("SET ROLE wafa_daemon; CREATE TABLE wafa.x (i int)")
        ok(False, "the role cannot create tables")
    except PsqlError as e:
        ok("permission denied" in str(e), "the role cannot create tables", diag=str(e))

    w = Wafa(pg, sink.url, rules={"fr.lua": breach_rule(target="1s")},
             conf={"database.dsn": role_dsn})
    r = w.command("setup", "--dry-run")
    ok(r.returncode == 0 and "nothing is changed" in r.stdout, "setup --dry-run under the role",
       diag=show(r))
    pg.create_ticket("already there", "early@example.com")
    r = w.command("doctor")
    ok(r.returncode == 0 and "connected to helpdesk as wafa_daemon" in r.stdout,
       "wafa doctor under the role: all is well", diag=show(r))
    w.start()
    tid, created = pg.create_ticket("under the role", "owner@example.com")
    got = wait_for(lambda: sink.messages_to("owner@example.com"), created + 10 - time.time())
    ok(got, "wafa run under the role sends the breach mail",
       diag=lambda: sink.summary() + w.log()[-3000:])
    w.stop_ok()


run(main)
