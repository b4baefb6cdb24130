#!/usr/bin/python3
"""When the SMTP server is down the mail stays queued and is retried until
it goes through, once.  A 5xx answer parks the mail as failed without a
retry; a 4xx answer keeps it queued and retried."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def row_of(pg, tid):
    rows = pg.outbox(tid)
    return rows[0] if len(rows) == 1 else None


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink(start=False)  # the port is chosen, nothing listens yet
    w = Wafa(pg, sink.url, rules={"first-response.lua": breach_rule()},
             conf={"mail.retry_initial": "1s", "mail.retry_max": "2s", "mail.poll_interval": "1s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    # --- the server is down
    tid, created = pg.create_ticket("Server down", "down@example.com")
    row = wait_for(lambda: (lambda x: x if x and (x["attempts"] or 0) >= 1 and x["last_error"]
                            else None)(row_of(pg, tid)),
                   created + 2 + 8 - time.time(), 0.1)
    ok(row, "the breach mail is queued and its failed attempt recorded",
       diag=lambda: repr(pg.outbox(tid)) + "\n" + w.log()[-3000:])
    if row:
        is_(row["status"], "queued", "status stays queued while the server is down")
        diag("last_error: %r, attempts %d" % (row["last_error"], row["attempts"]))
    ok(w.running, "wafa keeps running while the server is down", diag=w.log)

    # --- the server comes up on the same port
    sink.start()
    got = wait_for(lambda: sink.messages_to("down@example.com"), 10)
    ok(got, "the mail arrives once the server is up", diag=lambda: repr(pg.outbox(tid)) + "\n" + w.log()[-3000:])
    row = wait_for(lambda: (lambda x: x if x and x["status"] == "sent" else None)(row_of(pg, tid)), 5)
    ok(row, "the outbox row becomes sent", diag=lambda: repr(pg.outbox(tid)))
    time.sleep(2)
    is_(len(sink.messages_to("down@example.com")), 1, "exactly one mail", diag=sink.summary)
    sink.stop()

    # --- 5xx and 4xx answers
    sink.start(replies=[("reject", "550"), ("tempfail", "451")])
    t_rej, c_rej = pg.create_ticket("Rejected recipient", "reject@example.com")
    t_tmp, c_tmp = pg.create_ticket("Deferred recipient", "tempfail@example.com")
    t_ok, c_ok = pg.create_ticket("Fine recipient", "fine@example.com")
    # two recipients, one refused: DATA is not sent, so neither gets it (a
    # mail to one recipient has RCPT and DATA pipelined; this one must not)
    # (a rule's mail has one recipient; a report's may have several)
    t_two = 999
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body)"
            " VALUES ('report/two/x/1/1', %d, 'two', 'x', 'support@example.com',"
            " 'both@example.com, reject-2@example.com', 'Two recipients', '')" % t_two)

    row = wait_for(lambda: (lambda x: x if x and x["status"] == "failed" else None)(row_of(pg, t_rej)),
                   c_rej + 2 + 8 - time.time(), 0.1)
    ok(row, "a 550 answer parks the mail as failed",
       diag=lambda: repr(pg.outbox(t_rej)) + "\n" + w.log()[-3000:])
    if row:
        ok("550" in (row["last_error"] or ""), "last_error holds the 550",
           diag="last_error: %r" % row["last_error"])
    ok(wait_for(lambda: sink.messages_to("fine@example.com"), 5), "other mail still goes through",
       diag=sink.summary)

    time.sleep(3.5)  # room for two or three retries at retry_initial = 1s, retry_max = 2s
    rejects = [e for e in sink.rcpt_log() if e["address"] == "reject@example.com"]
    is_(len(rejects), 1, "a 550 is not retried (one RCPT seen by the server)",
        diag=lambda: repr(sink.rcpt_log()))
    row = row_of(pg, t_rej)
    ok(row and row["status"] == "failed" and row["attempts"] == 1,
       "the failed row stays failed after one attempt", diag=repr(row))

    row = row_of(pg, t_tmp)
    ok(row and row["status"] == "queued", "a 451 answer keeps the mail queued", diag=repr(row))
    ok(row and (row["attempts"] or 0) >= 2, "and it is retried", diag=repr(row))
    ok(row and "451" in (row["last_error"] or ""), "last_error holds the 451", diag=repr(row))
    defers = [e for e in sink.rcpt_log() if "tempfail" in e["address"]]
    ok(len(defers) >= 2, "the server saw the 451 recipient at least twice",
       diag=lambda: repr(sink.rcpt_log()))
    is_(sink.messages_to("tempfail@example.com") + sink.messages_to("reject@example.com"), [],
        "no mail was delivered to the refused recipients")
    row = row_of(pg, t_two)
    ok(row and row["status"] == "failed" and "reject-2@example.com" in (row["last_error"] or ""),
       "a mail to two recipients, one refused with 550, is parked as failed naming it",
       diag=repr(row))
    is_(sink.messages_to("both@example.com"), [],
        "and the accepted recipient did not get it either (all or none)", diag=sink.summary)

    w.stop_ok()


run(main)
