#!/usr/bin/python3
"""A relay whose connects never complete (its listen queue is full, so the
kernel drops our SYNs): each attempt gives up after [mail] timeout with the
reason in the outbox and is retried, instead of holding the session for the
kernel's two minutes; SIGTERM while a connect hangs exits at once with the
mail left queued; when the relay answers again the mail goes out once."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import BlackHole, ScriptedSmtp  # noqa: E402

ADDR = "hole@example.com"


def row_of(pg, tid):
    rows = pg.outbox(tid)
    return rows[0] if len(rows) == 1 else None


def main():
    require_wafa()
    plan(12)
    pg = Postgres()
    bh = BlackHole()
    ok(bh.hangs(2.0), "the relay is a black hole: a fresh connect did not complete in 2 s "
       "(%d connections fill its queue)" % len(bh.fillers))
    w = Wafa(pg, bh.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"mail.timeout": "2s", "mail.sessions": "1", "mail.retry_initial": "1s",
                   "mail.retry_max": "1s", "mail.poll_interval": "500ms"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    tid, created = pg.create_ticket("Into the void", ADDR)

    row = wait_for(lambda: (lambda x: x if x and x["last_error"] else None)(row_of(pg, tid)),
                   created + 1 + 2 + 8 - time.time(), 0.1)
    ok(row and "no answer within 2000 ms" in (row["last_error"] or ""),
       "the attempt gives up after [mail] timeout, with the reason in the outbox",
       diag=lambda: repr(row_of(pg, tid)) + "\n" + w.log()[-3000:])
    ok(row and row["status"] == "queued", "the mail stays queued", diag=repr(row))
    first = time.time()
    a0 = (row or {}).get("attempts") or 0
    again = wait_for(lambda: (lambda x: x if x and x["attempts"] >= a0 + 2 else None)(
        row_of(pg, tid)), 15, 0.1)
    took = time.time() - first
    ok(again, "two more attempts follow within %.1f s: the session is not held by the "
       "kernel's connect" % took, diag=lambda: repr(row_of(pg, tid)) + "\n" + w.log()[-2000:])

    # SIGTERM while an attempt waits for the connect
    a1 = row_of(pg, tid)["attempts"]
    wait_for(lambda: row_of(pg, tid)["attempts"] > a1, 10, 0.02)  # a new claim: connecting
    time.sleep(0.3)
    t0 = time.time()
    code = w.stop(10)
    stopped = time.time() - t0
    ok(code == 0 and stopped < 1.5, "SIGTERM during a hanging connect exits 0 at once "
       "(%.2f s)" % stopped, diag=lambda: "exit %r\n%s" % (code, w.log()[-2000:]))
    row = row_of(pg, tid)
    ok(row and row["status"] == "queued", "the mail is left queued",
       diag=lambda: repr(row) + "\n" + w.log()[-2000:])
    ok(row and "stopped" in (row["last_error"] or ""), "and says why: %r"
       % (row and row["last_error"]))
    claimed = pg.value("SELECT claimed_until IS NULL FROM wafa.outbox WHERE ticket_id = %d" % tid)
    is_(claimed, "t", "its claim is released (due again at once, not after the lease)")

    # the relay answers again, on the same port
    port = bh.port
    bh.close()
    srv = ScriptedSmtp(port=port)
    w.start()
    got = wait_for(lambda: srv.delivered_to(ADDR), 15)
    ok(got, "once the relay answers, the mail goes out", diag=lambda: w.log()[-2000:])
    wait_for(lambda: row_of(pg, tid)["status"] == "sent", 5)
    time.sleep(1)
    is_(len(srv.delivered_to(ADDR)), 1, "once", diag=srv.summary)
    w.stop_ok()
    srv.stop()


run(main)
