#!/usr/bin/python3
"""transport = maildir:DIR delivers the breach mail as a file in DIR/new."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

SUBJECT = "تأخر الرد على الطلب"


def main():
    require_wafa()
    pg = Postgres()
    w = Wafa(pg, "maildir:/nonexistent", rules={"first-response.lua": breach_rule()})
    maildir = os.path.join(w.dir, "Maildir")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub))
    w.settings["mail"]["transport"] = "maildir:" + maildir
    w.write_config()

    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()
    tid, created = pg.create_ticket(SUBJECT, "owner@example.com")

    def files():
        new = os.path.join(maildir, "new")
        return sorted(os.path.join(new, n) for n in os.listdir(new) if not n.startswith("."))

    got = wait_for(files, created + 2 + 8 - time.time())
    ok(got, "a mail file appears in DIR/new", diag=lambda: w.log()[-3000:])
    time.sleep(2)
    got = files()
    is_(len(got), 1, "exactly one mail file", diag=repr(got))
    if got:
        with open(got[0], "rb") as f:
            m = parse_mail(f.read())
        is_(str(m["subject"]), "SLA breached: #%d %s" % (tid, SUBJECT), "its subject decodes right")
        to = m["to"]
        ok(to is not None and [a.addr_spec for a in to.addresses] == ["owner@example.com"],
           "it is addressed to the owner", diag="To: %r" % (str(to),))
        is_(str(m["auto-submitted"] or "").strip().lower(), "auto-generated",
            "Auto-Submitted: auto-generated")
        ok(m["message-id"], "it has a Message-ID")
    leftovers = [n for n in os.listdir(os.path.join(maildir, "tmp")) if not n.startswith(".")]
    is_(leftovers, [], "nothing is left in DIR/tmp")
    rows = pg.outbox(tid)
    ok(len(rows) == 1 and rows[0]["status"] == "sent", "the outbox row is sent", diag=repr(rows))
    w.stop_ok()


run(main)
