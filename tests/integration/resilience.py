#!/usr/bin/python3
"""Lost connections and lost notifications delay a change but never lose it:
wafa reconnects with backoff and re-reads everything, and the periodic
reconciliation catches a change whose NOTIFY never came."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def terminate_wafa(pg):
    return pg.value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'wafa-%'")


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"first-response.lua": breach_rule(target="3s")},
             conf={"helpdesk.reconcile_interval": "1s"})
    ok(w.setup().returncode == 0, "wafa setup exits 0")
    w.start()

    # 1. Both connections are cut; a ticket created meanwhile has no NOTIFY
    # anyone hears.  The reconnection's full re-read must find it.
    n = terminate_wafa(pg)
    is_(n, "4", "wafa's four sessions are named wafa-work, wafa-listen, wafa-journal and "
        "wafa-mail and were cut")
    a_id, a_created = pg.create_ticket("Created while wafa was disconnected", "a@example.com")
    got = wait_for(lambda: sink.messages_to("a@example.com"), a_created + 3 + 5 - time.time())
    ok(got, "its breach mail still comes", diag=lambda: sink.summary() + "\n" + w.log())
    ok(w.log_lines("connection lost"), "the lost connection is logged")
    ok(len(w.log_lines("pg: work: connected")) >= 2 and len(w.log_lines("listening on")) >= 2,
       "wafa reconnected and listens again", diag=w.log)

    # 2. A reply whose NOTIFY is lost (the trigger is off): reconciliation
    # reads it by updated_at before the deadline, so no breach is sent.
    b_id, b_created = pg.create_ticket("Answered without a NOTIFY", "b@example.com")
    time.sleep(0.3)
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    pg.answer(b_id)
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    time.sleep(max(0.0, b_created + 3 + 1.5 - time.time()))
    is_(len(sink.messages_to("b@example.com")), 0,
        "no breach mail: the silent reply was reconciled", diag=lambda: sink.summary() + w.log())
    is_(pg.outbox(b_id), [], "and no outbox row for it")

    # 3. A malformed row (a status the normalized ticket does not know) is
    # logged and skipped; the others are still served.
    c_id, _ = pg.create_ticket("Odd status", "c@example.com", status="weird")
    d_id, d_created = pg.create_ticket("Normal one", "d@example.com")
    got = wait_for(lambda: sink.messages_to("d@example.com"), d_created + 3 + 3 - time.time())
    ok(got, "the ticket after a malformed one is served")
    ok(w.log_lines("malformed ticket row (id=%d)" % c_id, "status"),
       "the malformed row is logged with its id and the reason", diag=w.log)
    is_(len(sink.messages_to("c@example.com")), 0, "the malformed ticket gets no mail")

    # 4. A ticket that turns malformed loses its deadline instead of firing
    # on what wafa knew before.
    e_id, e_created = pg.create_ticket("Turns odd", "e@example.com")
    time.sleep(0.5)
    pg.psql("UPDATE tickets SET status = 'weird' WHERE id = %d" % e_id)
    time.sleep(max(0.0, e_created + 3 + 1.5 - time.time()))
    is_(len(sink.messages_to("e@example.com")), 0, "a ticket that turned malformed gets no mail",
        diag=lambda: sink.summary() + w.log())

    # 5. A rule's recipient that is no mail address: mail{} refuses it with
    # the reason (issue 17, 5), nothing reaches the outbox, and the mail
    # after it still goes out.  A row with such a recipient already in the
    # outbox (queued before an upgrade) is parked as failed with the reason.
    f_id, f_created = pg.create_ticket("Bad owner address", "not an address@x")
    g_id, g_created = pg.create_ticket("Good owner address", "g@example.com")
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body)"
            " VALUES ('manual/1/x/1/1', 999999, 'manual', 'x', 'support@example.com',"
            " 'not an address@x', 'old row', '')")
    got = wait_for(lambda: w.log_lines("ticket=%d" % f_id, "not an address@x"),
                   f_created + 3 + 5 - time.time())
    ok(got and not pg.outbox(f_id), "a rule's unusable recipient is refused by mail{}, with the "
       "reason logged; nothing is queued", diag=lambda: repr(pg.outbox(f_id)) + w.log()[-2000:])
    row = wait_for(lambda: [r for r in pg.outbox() if r["key"] == "manual/1/x/1/1" and
                            r["status"] == "failed"], 8)
    ok(row, "an outbox row with an unusable recipient is parked as failed",
       diag=lambda: repr(pg.outbox()) + w.log()[-2000:])
    ok(row and "not a mail address" in (row[0]["last_error"] or ""),
       "with the reason in last_error", diag=repr(row))
    ok(wait_for(lambda: sink.messages_to("g@example.com"), g_created + 3 + 5 - time.time()),
       "the next mail still goes out")
    w.stop_ok()


run(main)
