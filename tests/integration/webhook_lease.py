#!/usr/bin/python3
"""A claimed webhook or ticket row's lease outlasts its requests: with a
[webhook NAME] timeout of 10 minutes (or an [http] timeout of 7), a lease of
the fixed 5 minutes would run out while the request is still in flight, and
another instance (a standby taking over) could claim the row and send it a
second time.  The lease is checked while the server holds the request."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from http_sink import HttpSink  # noqa: E402

RULE = '''
sla "hook" {
  start = "created_at", stop = "first_reply_at", target = "1s",
  on_breach = function(t, s)
    notify { webhook = t.subject, text = "breach #" .. t.ref }
  end,
}
'''


def lease_s(pg, tid):
    v = pg.value("SELECT extract(epoch FROM claimed_until - now())::int FROM wafa.outbox "
                 "WHERE ticket_id = %d" % tid)
    return int(v) if v not in (None, "") else None


def main():
    require_wafa()
    pg = Postgres()
    smtp = SmtpSink()
    http = HttpSink({"/long": ["hold", 200], "/short": ["hold", 200]})
    w = Wafa(pg, smtp.url, rules={"hook.lua": RULE}, conf={
        "http.timeout": "7m", "webhook long.url": http.url("/long"),
        "webhook long.timeout": "10m", "webhook short.url": http.url("/short"),
        "webhook short.timeout": "5s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()
    tid, _ = pg.create_ticket("long")
    ok(wait_for(lambda: http.requests("/long"), 15), "the webhook reaches the server, held",
       diag=lambda: w.log()[-3000:])
    got = lease_s(pg, tid)
    ok(got is not None and got > 2 * 600,
       "the claim's lease outlasts a lookup and a request of the longest timeout "
       "(10 min webhook: > 20 min; was 5 min)", diag="lease left: %r s" % got)
    http.release()
    ok(wait_for(lambda: pg.psql("SELECT status FROM wafa.outbox WHERE ticket_id = %d" % tid)
                == [["sent"]], 15), "released: recorded sent", diag=lambda: w.log()[-3000:])
    w.stop_ok("wafa stops cleanly")
    http.stop()


run(main)
