#!/usr/bin/python3
"""A relay that answers one byte a second.  [mail] timeout bounds the wait
for each byte, not a whole reply, so with a timeout of 3 s the dialogue
crawls on and the mail is delivered once; its 250 is recorded as it comes,
while the relay is still spelling out its reply to QUIT.  With a timeout
shorter than the gap between bytes (1 s, libESMTP's shortest, and 2 s) the attempt gives up with the reason in
the outbox, and the mail stays queued.  So it does when a reply stops
part-way for longer than the timeout and the rest then comes: libESMTP takes
the part ("220 ") for the whole reply and the rest ("s") for a broken reply
of its own, which is still the relay's stall, not its bad syntax."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402

# short replies: every byte takes a second
SHORT = {"GREETING": "220 s", "EHLO": "250 s", "MAIL": "250 s", "RCPT": "250 s",
         "DATA": "354 s", "DOT": "250 s", "QUIT": "221 s"}


def row_of(pg, tid):
    rows = pg.outbox(tid)
    return rows[0] if len(rows) == 1 else None


def gives_up(pg, srv, w, subject, rcpt, what):
    """Starts wafa; a ticket's breach mail must stay queued, its attempt given
    up for no reply within the 1 s timeout, nothing at the relay."""
    w.start()
    tid, created = pg.create_ticket(subject, rcpt)
    row = wait_for(lambda: (lambda x: x if x and x["last_error"] else None)(row_of(pg, tid)),
                   created + 15 - time.time(), 0.1)
    err = (row or {}).get("last_error") or ""
    ok(row and row["status"] == "queued" and "no reply" in err and "1000 ms" in err,
       "%s: %r" % (what, err),
       diag=lambda: repr(row_of(pg, tid)) + "\n" + srv.summary() + "\n" + w.log()[-2000:])
    is_(srv.delivered_to(rcpt), [], "nothing delivered meanwhile")
    w.stop_ok()


def main():
    require_wafa()
    plan(12)
    pg = Postgres()
    srv = ScriptedSmtp()
    srv.script.update(SHORT)
    srv.byte_delay = 1.0
    w = Wafa(pg, srv.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"mail.sessions": "1", "mail.timeout": "3s", "mail.retry_initial": "1s",
                   "mail.retry_max": "1s", "mail.poll_interval": "500ms"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()
    tid, created = pg.create_ticket("A slow relay", "slow@example.com")
    row = wait_for(lambda: (lambda x: x if x and x["status"] == "sent" else None)(
        row_of(pg, tid)), 90, 0.1)
    sent_seen = time.time()
    ok(row, "one byte a second, timeout 3 s: the mail is delivered (%.0f s after the breach)"
       % (sent_seen - created - 1), diag=lambda: repr(row_of(pg, tid)) + "\n" + srv.summary()
       + "\n" + w.log()[-2000:])
    is_((row or {}).get("attempts"), 1, "in one attempt")
    sess = srv.smtp_sessions()
    ok(sess and sess[-1]["end"] is None,
       "the row was sent while the relay was still answering QUIT: each 250 is recorded "
       "as it comes", diag=lambda: repr(sess))
    wait_for(lambda: all(s["end"] for s in srv.smtp_sessions()), 15)
    time.sleep(1)
    is_(len(srv.delivered_to("slow@example.com")), 1, "the relay has it once", diag=srv.summary)
    w.stop_ok()

    # the gap between bytes is longer than the timeout (libESMTP's shortest
    # is 1 s: with gaps of 1 s the two raced, and the reply crawled on)
    srv.byte_delay = 2.0
    w.settings["mail"]["timeout"] = "1s"
    w.write_config()
    gives_up(pg, srv, w, "Too slow", "tooslow@example.com",
             "timeout 1 s, a byte every 2 s: the attempt gives up with the reason")

    # "220 ", 1.6 s of nothing, then "s\r\n" at once: libESMTP takes "220 "
    # for the greeting when its 1 s runs out, writes EHLO, and reads "s" as
    # the reply to it, 0.6 s later (a whole line, soon after the command)
    srv.byte_delay = 0.0
    srv.pause_in["GREETING"] = (4, 1.6)
    gives_up(pg, srv, w, "Paused greeting", "paused@example.com",
             "a greeting that stops part-way for longer than the timeout: the reason is "
             "the stall, not the relay's syntax")
    srv.stop()


run(main)
