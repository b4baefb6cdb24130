#!/usr/bin/python3
"""An SLA breach sends exactly one mail, on time, with a correctly encoded
subject; an answered ticket sends none; a subject cannot inject headers or
recipients.  Tickets come both from the start-up snapshot and from NOTIFY."""
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

ARABIC = "طلب استرداد المبلغ"
INJECT = "Hi\r\nBcc: evil@example.com\r\nX-Injected: yes"
# what an array literal (the outbox's parameters) quotes or escapes
LITERAL = 'Before "wafa" {started}, a\\b, NULL'
TARGET = 2.0
LATE = 1.0     # a breach mail must arrive within this many seconds of the deadline
EARLY = 0.001  # float rounding of the epoch timestamps; a real early fire is far bigger


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={
        "first-response.lua": breach_rule(
            body='"Ticket #" .. t.ref .. ": " .. t.subject .. "\\nNo first reply yet.\\n"'),
    })
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return

    # D exists before wafa starts: it comes from the snapshot.
    d_id, d_created = pg.create_ticket(LITERAL, "d@example.com")
    w.start()
    ready_at = time.time()
    diag("wafa ready %.2fs after ticket D was created" % (ready_at - d_created))

    # A, B, C are created while wafa runs: they come through LISTEN.
    a_id, a_created = pg.create_ticket(ARABIC, "a@example.com", customer_name="سارة")
    b_id, b_created = pg.create_ticket("Answered in time", "b@example.com")
    c_id, c_created = pg.create_ticket(INJECT, "c@example.com")
    time.sleep(max(0.0, b_created + 0.5 - time.time()))
    b_replied = pg.answer(b_id)
    ok(b_replied < b_created + TARGET - 0.5, "ticket B answered before its deadline",
       diag="created %.3f replied %.3f" % (b_created, b_replied))

    a_deadline = a_created + TARGET
    got = wait_for(lambda: sink.messages_to("a@example.com"), a_deadline + 10 - time.time())
    ok(got, "a breach mail for ticket A arrives", diag=lambda: sink.summary() + "\n" + w.log())

    # Wait well past every deadline, so that a second mail would show.
    last_deadline = max(a_created, b_created, c_created, d_created) + TARGET
    time.sleep(max(0.0, last_deadline + 3 - time.time()))
    ok(w.running, "wafa is still running", diag=lambda: w.log()[-3000:])

    # --- ticket A: timing, subject, headers
    mails = sink.messages_to("a@example.com")
    is_(len(mails), 1, "exactly one mail for ticket A", diag=sink.summary)
    if mails:
        m = mails[0]
        late = m.received - a_deadline
        ok(late >= -EARLY, "ticket A's mail is not sent before the deadline",
           diag="received %.3f s relative to the deadline (created_at %.6f + %gs)"
           % (late, a_created, TARGET))
        ok(late <= LATE, "ticket A's mail arrives within %.1f s of the deadline" % LATE,
           diag="received %.3f s after the deadline" % late)
        diag("ticket A: mail received %.3f s after the deadline" % late)
        is_(str(m["subject"]), "SLA breached: #%d %s" % (a_id, ARABIC),
            "the subject decodes to the Arabic text", diag=lambda: m.raw.decode(errors="replace"))
        is_(str(m["auto-submitted"] or "").strip().lower(), "auto-generated",
            "Auto-Submitted: auto-generated")
        mid = str(m["message-id"] or "")
        ok(re.fullmatch(r"\s*<[^<>@\s]+@[^<>@\s]+>\s*", mid), "a Message-ID <...@...>",
           diag="Message-ID: %r" % mid)
        frm = m["from"]
        ok(frm is not None and [a.addr_spec for a in frm.addresses] == ["support@example.com"],
           "From is the configured sender", diag="From: %r" % (str(frm),))
        to = m["to"]
        ok(to is not None and [a.addr_spec for a in to.addresses] == ["a@example.com"],
           "To is the owner", diag="To: %r" % (str(to),))
        is_(m.rcpt_tos, ["a@example.com"], "the envelope recipient is the owner")
        is_(m.get_content_type(), "text/plain", "the body is text/plain")
        is_((m.get_content_charset() or "").lower(), "utf-8", "the body is UTF-8")
        try:
            body = m.get_content()
        except Exception as e:  # noqa: BLE001
            body = "(cannot decode: %r)" % e
        ok(ARABIC in body, "the body holds the Arabic subject, decoded", diag="body: %r" % body)
        raw_headers = m.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        ok(all(b < 0x80 for b in raw_headers), "the header section is 7-bit (RFC 2047)",
           diag=raw_headers.decode(errors="replace"))

    rows = pg.outbox(a_id)
    ok(len(rows) == 1 and rows[0]["status"] == "sent", "ticket A: one outbox row, sent",
       diag=repr(rows))
    ok(rows and re.fullmatch(r"first-response/%d/breach/[^/]+/[^/]+" % a_id, rows[0]["key"] or ""),
       "ticket A: outbox key is rule/ticket/phase/instance/n", diag=repr(rows))
    fired = pg.value("SELECT count(*) FROM wafa.journal WHERE ticket_id = %d AND "
                     "rule = 'first-response' AND step = 'breach' AND fired_at IS NOT NULL"
                     % a_id)
    is_(fired, "1", "ticket A: one step row in wafa.journal (the firing's record)")

    # --- ticket B: answered in time
    is_(len(sink.messages_to("b@example.com")), 0, "no mail for ticket B (answered in time)",
        diag=sink.summary)
    is_(pg.outbox(b_id), [], "no outbox row for ticket B")

    # --- ticket C: CR/LF in the subject
    mails = sink.messages_to("c@example.com")
    is_(len(mails), 1, "exactly one mail for ticket C", diag=sink.summary)
    if mails:
        m = mails[0]
        is_(m.rcpt_tos, ["c@example.com"], "ticket C: the envelope has only the owner")
        ok(m.get_all("bcc") is None, "ticket C: no Bcc header",
           diag=lambda: m.raw.decode(errors="replace"))
        ok(m.get_all("x-injected") is None, "ticket C: no X-Injected header",
           diag=lambda: m.raw.decode(errors="replace"))
        ok(str(m["subject"]).startswith("SLA breached: #%d Hi" % c_id),
           "ticket C: the subject is kept in the Subject header", diag="%r" % str(m["subject"]))
    ok(not any("evil@example.com" in x for x in
               [a for msg in sink.messages() for a in msg.rcpt_tos]),
       "nobody mails evil@example.com")
    rows = pg.outbox(c_id)
    ok(len(rows) == 1 and rows[0]["status"] == "sent", "ticket C: one outbox row, sent",
       diag=repr(rows))

    # --- ticket D: from the snapshot
    mails = sink.messages_to("d@example.com")
    is_(len(mails), 1, "exactly one mail for ticket D (loaded by the snapshot)",
        diag=sink.summary)
    if mails:
        ok(mails[0].received >= d_created + TARGET - EARLY, "ticket D's mail is not early",
           diag="received %.3f s after the deadline" % (mails[0].received - d_created - TARGET))
        if ready_at < d_created + TARGET - 0.2:
            ok(mails[0].received <= d_created + TARGET + LATE,
               "ticket D's mail arrives within %.1f s of the deadline" % LATE,
               diag="received %.3f s after the deadline" % (mails[0].received - d_created - TARGET))
        else:
            skip("ticket D's mail on time", "wafa started after D's deadline")
        is_(str(mails[0]["subject"]), "SLA breached: #%d %s" % (d_id, LITERAL),
            "ticket D: quotes, braces, a comma, a backslash and NULL reach the subject as they were")
    rows = pg.outbox(d_id)
    ok(len(rows) == 1 and rows[0]["subject"] == "SLA breached: #%d %s" % (d_id, LITERAL),
       "ticket D: the outbox subject holds the ticket's subject as it was", diag=repr(rows))
    body = "Ticket #%d: %s\nNo first reply yet.\n" % (d_id, LITERAL)
    is_(pg.value("SELECT md5(body) FROM wafa.outbox WHERE ticket_id = %d" % d_id),
        hashlib.md5(body.encode()).hexdigest(), "ticket D: the outbox body is the rule's, byte for byte")
    is_(len(sink.messages()), 3, "three mails in all (A, C, D)", diag=sink.summary)

    w.stop_ok()


run(main)
