#!/usr/bin/python3
"""What a firing writes is what the rule said, byte for byte: a batch of
firings goes to PostgreSQL as binary arrays (core/store/array.c), so every
text a mail carries (quotes, backslashes, braces, commas, the word NULL, an
empty string, Arabic and Persian, an emoji, newlines, 100 KB), each mail's
number in its firing's key, a NULL beside a value, and a firing that sends
nothing (empty arrays) are read back from the outbox and the journal as
written, and the mails arrive."""
import hashlib
import re
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

# what a quoted array literal would have had to escape, and what is not ASCII
AWKWARD = 'a "quoted" {brace}, comma\\back\\\\slash NULL \u0637\u0644\u0628 \u06a9\u062a\u0627\u0628 \U0001F600'
BIG_LINE = "\u0633\u0637\u0631 \"\\{x}\" line, "  # 17 characters, 25 bytes in UTF-8
BIG_REPEAT = 4000                                # about 100 KB

RULES = {
    "values.lua": r'''
sla "values" {
  start = "created_at", stop = "first_reply_at", target = "1s",
  on_breach = function(t, s)
    mail { to = "lead@example.com", subject = "1 " .. t.subject, body = t.subject .. "\n" }
    mail { to = t.customer_email, subject = "NULL", body = string.rep(BIG_LINE, BIG_REPEAT) }
    mail { to = "second@example.com", subject = "3 " .. t.subject, body = "" }
  end,
}
sla "silent" {
  start = "created_at", stop = "first_reply_at", target = "1s",
  on_breach = function(t, s) end,
}
'''.replace("BIG_LINE", '"%s"' % BIG_LINE.replace("\\", "\\\\").replace('"', '\\"'))
       .replace("BIG_REPEAT", str(BIG_REPEAT)),
}


def md5(s):
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules=RULES)
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()
    tid, _ = pg.create_ticket(AWKWARD, "owner@example.com", customer_email="cust@example.com")

    def rows():
        return pg.psql("SELECT key, rcpt, subject, md5(body), octet_length(body), audience, "
                       "       locale IS NULL, status FROM wafa.outbox WHERE ticket_id = %d "
                       " ORDER BY key" % tid)
    ok(wait_for(lambda: len(rows()) == 3, 20), "the breach queues three mails",
       diag=lambda: repr(rows()) + w.log()[-3000:])
    got = rows()
    big = BIG_LINE * BIG_REPEAT
    want = [
        [None, "lead@example.com", "1 " + AWKWARD, md5(AWKWARD + "\n"),
         str(len((AWKWARD + "\n").encode())), "agent"],
        [None, "cust@example.com", "NULL", md5(big),
         str(len(big.encode())), "customer"],
        [None, "second@example.com", "3 " + AWKWARD, md5(""), "0",
         "agent"],
    ]
    # the firing's key is rule/ticket/step/instance (the instance: when it started)
    keys = [re.fullmatch(r"values/%d/breach/(\d+)/(\d+)" % tid, g[0]) for g in got]
    ok(all(keys) and len({k.group(1) for k in keys}) == 1
       and [k.group(2) for k in keys] == ["1", "2", "3"],
       "each mail's key is its firing's key and its number 1..3",
       diag="got %r" % [g[0] for g in got])
    want = [[g[0]] + x[1:] for g, x in zip(got, want)]
    for g, x in zip(got, want):
        is_(g[:6], x, "mail %s: recipient, subject, body (md5, bytes), audience as written"
            % x[0][-1])
    is_([g[6] for g in got], ["t", "t", "t"], "no locale given: the locale is NULL, not 'NULL'")
    is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE subject = 'NULL' AND ticket_id = %d"
                 % tid), "1", "the subject 'NULL' is the text NULL")

    # the rule that sends nothing: its firing is recorded, with no mail
    silent = pg.psql("SELECT event, step FROM wafa.journal WHERE rule = 'silent' "
                     "   AND ticket_id = %d AND step <> ''" % tid)
    is_(silent, [["breach", "breach"]], "a firing with no mail still records its step row",
        diag=lambda: w.log()[-2000:])
    is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE rule = 'silent'"), "0",
        "and queues nothing")

    # the mails go out as written
    ok(wait_for(lambda: len(sink.messages()) >= 3, 20), "the three mails arrive",
       diag=sink.summary)
    time.sleep(1)
    mails = {str(m["to"]).strip(): m for m in sink.messages()}
    m = mails.get("cust@example.com")
    if ok(m is not None, "the customer's mail arrives", diag=sink.summary):
        part = m.get_body(("plain",))
        text = part.get_content() if part else ""
        ok(big.strip() in text.replace("\r\n", "\n"),
           "its 100 KB body arrives whole", diag="%d characters" % len(text))
    m = mails.get("lead@example.com")
    if ok(m is not None, "the lead's mail arrives", diag=sink.summary):
        is_(str(m["subject"]), "1 " + AWKWARD, "its subject decodes to what the rule said")
    is_(len(sink.messages()), 3, "exactly three mails", diag=sink.summary)


run(main)
