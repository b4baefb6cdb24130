#!/usr/bin/python3
"""A query sent on a connection whose backend was terminated while the loop
was busy (issue 16 item 4): wafa_pg_query returns 0 and its callback runs on
the loop's next turn, never inside the call, where its caller (the mailer's
claim, the NOTIFY read, the journal) would mark it as out after it had
already ended, and wait for it forever.  The probe is a small C program
(tests/helpers/pg_lost_send.c) on wafa's pg.c and a real PostgreSQL."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def main():
    probe = os.path.join(BUILDDIR, "tests", "helpers", "pg_lost_send")
    if not os.path.exists(probe):
        skip("a lost connection's callback", "tests/helpers/pg_lost_send is not built "
             "(make check builds it)", 2)
        return
    plan(2)
    pg = Postgres()
    r = subprocess.run([probe, pg.dsn], capture_output=True, text=True, timeout=60)
    diag(r.stdout.strip())
    ok("inside=0 " in r.stdout and " rc=0" in r.stdout,
       "the callback does not run inside wafa_pg_query", diag=r.stdout + r.stderr)
    ok(r.returncode == 0 and "later=1 null=1" in r.stdout,
       "it runs once, with no result, on the loop's next turn; the loop closes clean",
       diag=r.stdout + r.stderr)


run(main)
