#!/usr/bin/python3
"""kill -9 of wafa while webhooks are in flight: nothing lost, at most one
duplicate per request in flight at each kill; a standby takes over a
killed leader's request at once.

First a request the server holds open: wafa is killed while it waits, and
after a restart the row goes again at once (the dead claimer's lease is
free) and is recorded sent: the server saw it twice, once per kill.  Then
40 tickets breach together with a slow server (0.4 s a request, 2 at
once) and wafa is killed and restarted at random moments: every
webhook arrives, and the repeats are at most [http] sessions per kill.

    WAFA_FAULT_SEED=N  another seed (default 22)
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from http_sink import HttpSink  # noqa: E402

SEED = int(os.environ.get("WAFA_FAULT_SEED") or 22)
TICKETS = 40
KILLS = 6
SESSIONS = 2

RULE = '''
sla "hook" {
  start = "created_at", stop = "first_reply_at", target = "1s",
  on_breach = function(t, s)
    notify { webhook = t.subject, text = "breach #" .. t.ref }
  end,
}
'''


def counts(http, path):
    by = {}
    for q in http.requests(path):
        k = q.headers.get("X-Wafa-Key")
        by[k] = by.get(k, 0) + 1
    return by


def main():
    require_wafa()
    rnd = random.Random(SEED)
    pg = Postgres()
    smtp = SmtpSink()
    http = HttpSink({"/held": ["hold", 200], "/slow": [("sleep", 0.4, 200)]})
    w = Wafa(pg, smtp.url, rules={"hook.lua": RULE}, conf={
        "http.sessions": str(SESSIONS), "http.retry_initial": "1s", "http.retry_max": "2s",
        "webhook held.url": http.url("/held"), "webhook slow.url": http.url("/slow"),
    })
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    # --- one request held open, wafa killed mid-request
    tid, _ = pg.create_ticket("held")
    ok(wait_for(lambda: http.requests("/held"), 15), "the held webhook reaches the server",
       diag=lambda: w.log()[-3000:])
    w.kill()
    row = pg.psql("SELECT status, claimed_by IS NOT NULL FROM wafa.outbox WHERE ticket_id = %d"
                  % tid)
    is_([tuple(x) for x in row], [("queued", "t")],
        "killed mid-request: the row is still queued, claimed by the dead process")
    http.release()  # the held handler answers into a closed socket
    w.start()
    ok(wait_for(lambda: pg.psql("SELECT status FROM wafa.outbox WHERE ticket_id = %d" % tid)
                == [["sent"]], 15),
       "after the restart it is sent at once (the dead claimer's lease does not wait 5 min)",
       diag=lambda: str(pg.psql("SELECT * FROM wafa.outbox")) + w.log()[-3000:])
    is_(len(http.requests("/held")), 2, "the server saw it twice: one duplicate for one kill")

    # --- kills at random moments while 40 webhooks go to a slow server
    pg.psql("INSERT INTO tickets (subject, created_at, updated_at) "
            "SELECT 'slow', now(), now() FROM generate_series(1, %d)" % TICKETS)
    kills = 0
    began = time.time()
    while kills < KILLS and time.time() - began < 60:
        time.sleep(rnd.uniform(0.3, 1.5))
        w.kill()
        kills += 1
        w.start()
    diag("%d kills in %.1f s; %d requests so far" % (kills, time.time() - began,
                                                     len(http.requests("/slow"))))

    def all_sent():
        return pg.value("SELECT count(*) FROM wafa.outbox WHERE channel = 'webhook' "
                        "AND status = 'sent' AND target = 'slow'") == str(TICKETS)
    ok(wait_for(all_sent, 60), "every webhook row is recorded sent",
       diag=lambda: str(pg.psql("SELECT status, count(*) FROM wafa.outbox GROUP BY 1"))
       + w.log()[-3000:])
    time.sleep(1)
    by = counts(http, "/slow")
    is_(len(by), TICKETS, "nothing lost: every ticket's webhook reached the server")
    dups = sum(n - 1 for n in by.values())
    diag("%d duplicate(s) over %d kills" % (dups, kills))
    ok(dups <= kills * SESSIONS, "at most one duplicate per request in flight per kill "
       "(%d <= %d kills x %d sessions)" % (dups, kills, SESSIONS), diag=str(by))
    is_(int(pg.value("SELECT count(*) FROM wafa.outbox WHERE status <> 'sent'")), 0,
        "nothing parked or left queued")

    # --- a standby takes over from a leader killed mid-request
    b = Wafa(pg, smtp.url, rules={"hook.lua": RULE}, conf={
        "http.sessions": str(SESSIONS), "http.retry_initial": "1s", "http.retry_max": "2s",
        "webhook held.url": http.url("/held"), "webhook slow.url": http.url("/slow"),
        "webhook held2.url": http.url("/held2")})
    w.settings["webhook held2"] = {"url": http.url("/held2")}
    w.write_config()
    w.stop()
    w.start()
    b.start()
    ok(wait_for(lambda: b.log_lines("standby: another wafa leads"), 10),
       "a second instance waits on standby", diag=lambda: b.log()[-2000:])
    http.released.clear()
    http.script["/held2"] = ["hold", 200]
    tid2, _ = pg.create_ticket("held2")
    ok(wait_for(lambda: http.requests("/held2"), 15), "the leader's request is held open",
       diag=lambda: w.log()[-2000:])
    w.kill()
    ok(wait_for(lambda: b.log_lines("leading on schema wafa"), 15), "the standby takes over",
       diag=lambda: b.log()[-2000:])
    ok(wait_for(lambda: pg.psql("SELECT status FROM wafa.outbox WHERE ticket_id = %d" % tid2)
                == [["sent"]], 15),
       "and sends the row the dead leader held, at once",
       diag=lambda: str(pg.psql("SELECT status, last_error FROM wafa.outbox WHERE ticket_id = %d"
                                % tid2)) + b.log()[-2000:])
    http.release()
    time.sleep(1)
    is_(len(http.requests("/held2")), 2, "twice at the server: one duplicate for the one kill")

    # --- SIGTERM while a request is held: cut short, due again at once
    http.released.clear()
    http.script["/held2"] = ["hold", 200]
    tid3, _ = pg.create_ticket("held2")
    ok(wait_for(lambda: len(http.requests("/held2")) >= 3, 15), "another request held open",
       diag=lambda: b.log()[-2000:])
    t0 = time.time()
    b.stop_ok("SIGTERM with a request held open: exits 0 within 10 s")
    diag("stopped in %.2f s" % (time.time() - t0))
    row = pg.psql("SELECT status, coalesce(last_error, '') FROM wafa.outbox WHERE ticket_id = %d"
                  % tid3)
    ok(row and row[0][0] == "queued" and "cut short" in row[0][1],
       "the row stays queued, its last_error saying it was cut short", diag=str(row))
    http.release()
    b.start()
    ok(wait_for(lambda: pg.psql("SELECT status FROM wafa.outbox WHERE ticket_id = %d" % tid3)
                == [["sent"]], 15), "after the restart it is sent",
       diag=lambda: b.log()[-2000:])
    b.stop_ok("the new leader stops cleanly")
    http.stop()


run(main)
