#!/usr/bin/python3
"""A relay that stalls.  First one that takes the connection and never
greets: each attempt gives up after [mail] timeout with the reason in the
outbox and is retried; SIGTERM while an attempt waits for the greeting
exits at once (no mail can have left), the mail left queued and due at
once; once the relay greets again the mail goes out once.  Then one that
answers the first mail of a batch and then slows to a byte a second (each
byte within [mail] timeout, so libESMTP never times out): SIGTERM waits at
most [mail] timeout and a second for the session, records the mail sent,
leaves the others queued and due at once, and after the restart every mail
reaches the relay exactly once.  Last one whose listen queue wafa's own
probe fills, so that libESMTP's connect just after it is dropped: the
attempt gives up after [mail] timeout.  Before, a stop waited for the
greeting's timeout, and for a crawling session as long as it crawled, and
that connect held the session for the kernel's two minutes."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402

ADDR = "stall@example.com"
TIMEOUT = 4  # [mail] timeout, s


def rows(pg, prefix):
    cols = ["key", "status", "attempts", "last_error", "claimed_until"]
    return [dict(zip(cols, r)) for r in pg.psql(
        "SELECT key, status, attempts::int, last_error, claimed_until FROM wafa.outbox "
        "WHERE key LIKE '%s%%' ORDER BY id" % prefix)]


def queue(pg, prefix, n):
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, "
            "body) SELECT '%s/' || g, g, 'stall', 'breach', 'Support <support@example.com>', "
            "'%s', '%s mail ' || g, 'A body.' FROM generate_series(1, %d) g"
            % (prefix, ADDR, prefix, n))


def silent_greeting(pg):
    srv = ScriptedSmtp()
    srv.script["GREETING"] = "stall"
    w = Wafa(pg, srv.url, rules={"fr.lua": breach_rule()},
             conf={"mail.timeout": "%ds" % TIMEOUT, "mail.sessions": "1",
                   "mail.retry_initial": "1s", "mail.retry_max": "1s",
                   "mail.poll_interval": "500ms"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return None
    w.start()
    queue(pg, "mute", 1)
    row = wait_for(lambda: (lambda x: x[0] if x and x[0]["last_error"] else None)(
        rows(pg, "mute/")), TIMEOUT + 10, 0.1)
    ok(row and ("within %d ms" % (TIMEOUT * 1000)) in (row["last_error"] or "")
       and row["status"] == "queued",
       "a relay that never greets: the attempt gives up after [mail] timeout, queued, "
       "saying so (%r)" % (row and row["last_error"]),
       diag=lambda: repr(rows(pg, "mute/")) + "\n" + w.log()[-3000:])

    # SIGTERM while the next attempt waits for the greeting
    a1 = int(rows(pg, "mute/")[0]["attempts"])
    wait_for(lambda: int(rows(pg, "mute/")[0]["attempts"]) > a1, 10, 0.02)
    time.sleep(1.0)
    t0 = time.time()
    code = w.stop(TIMEOUT * 3)
    took = time.time() - t0
    ok(code == 0 and took < 1.5, "SIGTERM while the relay has not greeted exits 0 at once "
       "(%.2f s; [mail] timeout is %d s)" % (took, TIMEOUT),
       diag=lambda: "exit %r\n%s" % (code, w.log()[-2000:]))
    row = rows(pg, "mute/")[0]
    ok(row["status"] == "queued" and "stopped" in (row["last_error"] or "")
       and row["claimed_until"] is None,
       "the mail is left queued, due at once (%r)" % row["last_error"], diag=repr(row))

    # the relay greets again
    srv.script.pop("GREETING")
    w.start()
    wait_for(lambda: rows(pg, "mute/")[0]["status"] == "sent", 15, 0.1)
    time.sleep(0.5)
    is_(len(srv.delivered_to(ADDR)), 1, "once it greets, the mail goes out once",
        diag=srv.summary)
    w.stop_ok()
    srv.stop()
    return w


def crawl(pg, w):
    srv = ScriptedSmtp()
    srv.byte_delay = 1.0  # under [mail] timeout: libESMTP waits on
    srv.slow_after = 1
    w.transport = srv.url
    w.settings["mail"].update({"transport": srv.url, "batch": "3"})
    w.write_config()
    w.start()
    queue(pg, "crawl", 3)
    got = wait_for(lambda: (lambda x: x and x[0]["status"] == "sent")(
        [r for r in rows(pg, "crawl/") if r["key"] == "crawl/1"]), 20, 0.05)
    ok(got, "the first mail of the batch is answered and recorded",
       diag=lambda: srv.summary() + "\n" + w.log()[-2000:])
    time.sleep(1.5)  # the session crawls through the next mail's envelope
    t0 = time.time()
    code = w.stop(60)
    took = time.time() - t0
    ok(code == 0 and took < TIMEOUT + 4, "SIGTERM while the relay crawls exits 0 within "
       "[mail] timeout and a second, give or take (%.2f s; %d s)" % (took, TIMEOUT),
       diag=lambda: "exit %r\n%s" % (code, w.log()[-2000:]))
    rs = {r["key"]: r for r in rows(pg, "crawl/")}
    ok(rs["crawl/1"]["status"] == "sent" and
       all(rs[k]["status"] == "queued" and rs[k]["claimed_until"] is None
           for k in ("crawl/2", "crawl/3")),
       "the mail answered is recorded sent; the others stay queued, due at once",
       diag=repr(rs))

    srv.byte_delay = 0.0
    w.start()
    wait_for(lambda: all(r["status"] == "sent" for r in rows(pg, "crawl/")), 20, 0.1)
    time.sleep(0.5)
    subjects = sorted(m["subject"] for m in srv.delivered_to(ADDR))
    is_(subjects, ["crawl mail 1", "crawl mail 2", "crawl mail 3"],
        "after the restart every mail has reached the relay exactly once", diag=srv.summary)
    w.stop_ok()
    srv.stop()


def filled_by_the_probe(pg, w):
    # room for one connection in the accept queue, never accepted: wafa's
    # probe gets in and fills it, and libESMTP's own connect a moment
    # later is dropped, SYN after SYN, for the kernel's two minutes
    hole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    url = "smtp://127.0.0.1:%d" % port
    w.settings["mail"].update({"transport": url, "batch": "1"})
    w.write_config()
    w.start()
    queue(pg, "gap", 1)
    t0 = time.time()
    row = wait_for(lambda: (lambda x: x[0] if x and x[0]["last_error"] else None)(
        rows(pg, "gap/")), TIMEOUT + 8, 0.1)
    took = time.time() - t0
    ok(row and ("within %d ms" % (TIMEOUT * 1000)) in (row["last_error"] or "")
       and row["status"] == "queued",
       "the relay's queue filled between the probe and libESMTP's connect: the attempt "
       "gives up after [mail] timeout, not the kernel's two minutes (%.1f s: %r)"
       % (took, row and row["last_error"]),
       diag=lambda: repr(rows(pg, "gap/")) + "\n" + w.log()[-2000:])
    w.stop(10)
    hole.close()
    srv = ScriptedSmtp(port=port)
    w.start()
    wait_for(lambda: rows(pg, "gap/")[0]["status"] == "sent", 15, 0.1)
    time.sleep(0.5)
    is_([m["subject"] for m in srv.delivered_to(ADDR)], ["gap mail 1"],
        "once the relay takes connections again, the mail goes out once", diag=srv.summary)
    w.stop_ok()
    srv.stop()


def main():
    require_wafa()
    plan(14)
    pg = Postgres()
    w = silent_greeting(pg)
    if w:
        crawl(pg, w)
        filled_by_the_probe(pg, w)


run(main)
