#!/usr/bin/python3
"""wafa outbox list shows the mail parked in the outbox and why; once the
address is fixed, wafa outbox retry queues it again, by key, by rule or by
the time it failed, and the running daemon sends it; what was not named
stays parked; bad use is a usage error."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def status(pg, tid):
    rows = pg.outbox(tid)
    return rows[0]["status"] if rows else None


def main():
    require_wafa()
    plan(16)
    pg = Postgres()
    sink = SmtpSink(replies=[("reject", "550")])
    rules = breach_rule(when='function(t) return t.queue ~= "Second" end') + \
        breach_rule(name="second", when='function(t) return t.queue == "Second" end')
    w = Wafa(pg, sink.url, rules={"rules.lua": rules})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()
    a, _ = pg.create_ticket("A", "reject-a@example.com")
    b, _ = pg.create_ticket("B", "reject-b@example.com")
    c, _ = pg.create_ticket("C", "reject-c@example.com", queue="Second")
    parked = wait_for(lambda: all(status(pg, t) == "failed" for t in (a, b, c)), 15)
    if not ok(parked, "three mails answered 550 are parked as failed",
              diag=lambda: repr(pg.outbox()) + w.log()):
        return
    key_a = pg.outbox(a)[0]["key"]

    r = w.command("outbox", "list")
    lines = [l for l in r.stdout.splitlines() if "/%d/" % a in l or "/%d/" % b in l
             or "/%d/" % c in l]
    ok(r.returncode == 0 and len(lines) == 3 and all("failed" in l and "550" in l for l in lines),
       "wafa outbox list shows each parked mail, its status and why (the 550)", diag=show(r))
    ok(key_a in r.stdout and "reject-a@example.com" in r.stdout, "with its key and recipient",
       diag=show(r))

    # the addresses are fixed (the server takes them now)
    sink.stop()
    sink.start(replies=[])
    r = w.command("outbox", "retry", key_a)
    ok(r.returncode == 0 and ("queued again: " + key_a) in r.stdout,
       "wafa outbox retry KEY queues that mail again", diag=show(r))
    ok(wait_for(lambda: sink.messages_to("reject-a@example.com"), 10),
       "the running daemon sends it", diag=lambda: sink.summary() + w.log())
    ok(wait_for(lambda: status(pg, a) == "sent", 5) and status(pg, b) == "failed"
       and status(pg, c) == "failed", "it is sent; the others stay parked",
       diag=lambda: repr(pg.outbox()))

    r = w.command("outbox", "retry", "--rule", "second")
    ok(r.returncode == 0 and "1 mail(s) queued again" in r.stdout,
       "wafa outbox retry --rule second queues that rule's failed mail", diag=show(r))
    ok(wait_for(lambda: status(pg, c) == "sent", 10) and status(pg, b) == "failed",
       "C is sent, B still parked", diag=lambda: repr(pg.outbox()) + w.log())

    r = w.command("outbox", "retry", "--failed-since", "now+1h")
    ok(r.returncode == 65 and "no failed mail" in r.stderr and "outbox list" in r.stderr,
       "nothing failed since then: exit 65, saying so", diag=show(r))
    r = w.command("outbox", "retry", "--failed-since", "now-1h")
    ok(r.returncode == 0 and "1 mail(s) queued again" in r.stdout,
       "wafa outbox retry --failed-since now-1h queues B", diag=show(r))
    ok(wait_for(lambda: status(pg, b) == "sent", 10), "B is sent",
       diag=lambda: repr(pg.outbox()) + w.log())
    is_(len(sink.messages()), 3, "three mails in all, one each", diag=sink.summary)

    r = w.command("outbox", "list")
    ok(r.returncode == 0 and "0 mail(s)" in r.stdout, "nothing is parked now", diag=show(r))
    r = w.command("outbox", "retry")
    ok(r.returncode == 64 and "KEY" in r.stderr, "retry without a KEY, --rule or --failed-since: "
       "exit 64 saying what to name", diag=show(r))
    w.stop_ok()


run(main)
