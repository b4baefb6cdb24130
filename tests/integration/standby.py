#!/usr/bin/python3
"""Two `wafa run` on one database: one leads (reads tickets, fires, sends),
the other waits on standby; `wafa status` says who leads; when the leader is
killed with SIGKILL the standby takes over within 10 s, sends what falls due,
and retries at once a mail the dead one had claimed; nothing twice."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def main():
    require_wafa()
    plan(10)
    pg = Postgres()
    sink = SmtpSink()
    rule = {"fr.lua": breach_rule(target="2s", to='t.owner_email')}
    a = Wafa(pg, sink.url, rules=rule)
    b = Wafa(pg, sink.url, rules=rule)
    r = a.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    a.start()
    b.start()
    ok(wait_for(lambda: b.log_lines("standby: another wafa leads"), 5),
       "the second instance waits on standby", diag=lambda: b.log())
    ok(a.log_lines("leading on schema wafa"), "the first leads", diag=lambda: a.log())
    r = a.command("status")
    ok(r.returncode == 0 and r.stdout.startswith("leader: wafa on local, backend pid") and
       "standby: 1 more" in r.stdout, "wafa status: a leader and one on standby", diag=show(r))
    diag(r.stdout)

    t1, c1 = pg.create_ticket("while both run", "one@example.com")
    wait_for(lambda: sink.messages_to("one@example.com"), 10)
    time.sleep(1)
    is_(len(sink.messages_to("one@example.com")), 1, "one breach mail, from the leader only")

    # a mail the leader had claimed and not sent: its lease says "mine"
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body, "
            "claimed_until) VALUES ('manual/1/x/1/1', 1, 'manual', 'x', 'support@example.com', "
            "'leased@example.com', 'claimed by the dead one', '', now() + interval '5 minutes')")
    t2, c2 = pg.create_ticket("due after the kill", "two@example.com")
    killed = time.time()
    a.kill()
    took = wait_for(lambda: b.log_lines("leading on schema wafa"), 15)
    took_s = time.time() - killed
    ok(took and took_s <= 10, "the standby takes over within 10 s of the kill",
       diag=lambda: "%.1f s\n%s" % (took_s, b.log()))
    diag("takeover %.1f s after SIGKILL" % took_s)
    got = wait_for(lambda: sink.messages_to("two@example.com"), 15)
    ok(got, "the new leader sends what falls due", diag=lambda: sink.summary() + b.log()[-2000:])
    ok(wait_for(lambda: sink.messages_to("leased@example.com"), 10),
       "and at once the mail the dead leader had claimed (not after its 5-minute lease)",
       diag=lambda: sink.summary() + b.log()[-2000:])
    time.sleep(2)
    counts = [len(sink.messages_to(x)) for x in ("one@example.com", "two@example.com",
                                                  "leased@example.com")]
    is_(counts, [1, 1, 1], "nothing twice")
    b.stop_ok()


run(main)
