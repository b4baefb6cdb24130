#!/usr/bin/python3
"""A breach due while an offer round runs fires on time (issue 16, item 6).

An offer round grouped every customer in one query on the connection that
fires, and ran every customer through Lua in one turn of the loop: a breach
that fell due meanwhile waited for the whole round (at 1M customers, +6 s
mailed at +11.7 s).  Now the round reads a page of customers at a time from
a cursor on another connection, and deadlines fire between pages.

No figure of this machine's speed is asserted: the round is made long (many
customers, each through an audience() that does some work), a breach falls
due half a second into it, and its lateness is compared with the round's own
length, which the old code's lateness nearly equalled."""
import datetime
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

CUSTOMERS = 40000
TARGET = 2
INTO_ROUND = 0.5  # the breach falls due this long after the round starts (3 s after the snapshot)

RULES = {
    "10-breach.lua": breach_rule(when='function(t) return t.queue == "Pace" end',
                                 target="%ds" % TARGET),
    "20-offer.lua": dedent('''
        offer "pace" {
          every = "1h",
          audience = function(c)
            local x = 0
            for i = 1, 4000 do x = x + i end
            return c.email == "pick@example.com"
          end,
          on_due = function(c, s)
            mail { to = c.email, subject = "An offer", body = "For you.\\n" }
          end,
        }
    '''),
}


def stamp(line):
    """A log line's time as epoch seconds."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z", line)
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp() if m else None


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    # CUSTOMERS customers with a solved, answered ticket each: no breach of theirs
    pg.psql("INSERT INTO tickets (subject, status, customer_email, owner_email, created_at, "
            "first_reply_at) SELECT 'old ' || i, 'solved', 'c' || i || '@example.com', "
            "'agent@example.com', now() - interval '30 days', now() - interval '29 days' "
            "FROM generate_series(1, %d) i" % CUSTOMERS)
    pg.create_ticket("the one offered", "agent@example.com", customer_email="pick@example.com",
                     status="solved")
    pg.psql("ANALYZE tickets")
    w = Wafa(pg, sink.url, rules=RULES)
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start(timeout=60)
    wait_for(lambda: w.log_lines("snapshot:", current=True), 30)
    snap = w.log_lines("snapshot:", current=True)
    if not ok(snap, "the snapshot completes", diag=lambda: w.log()[-2000:]):
        return
    round_start = stamp(snap[0]) + 3.0
    due = round_start + INTO_ROUND
    # made now, read through NOTIFY, due half a second into the round
    pg.psql("INSERT INTO tickets (subject, owner_email, queue, created_at) VALUES "
            "('breach during the offers', 'lead@example.com', 'Pace', to_timestamp(%f))"
            % (due - TARGET))
    ok(time.time() < due - 0.2, "the breach ticket is made before its deadline",
       diag="%.3f s before it" % (due - time.time()))
    wait_for(lambda: w.log_lines("rule=pace: ", "customer(s)"), 120)
    wait_for(lambda: sink.messages_to("lead@example.com"), max(1.0, due + 30 - time.time()))
    end = w.log_lines("rule=pace: ", "customer(s)")
    if not ok(end, "the offer round ends", diag=lambda: w.log()[-2000:]):
        return
    length = stamp(end[0]) - round_start
    diag("the offer round took %.2f s over %d customers" % (length, CUSTOMERS + 1))
    mails = sink.messages_to("lead@example.com")
    if not ok(len(mails) == 1, "the breach mail arrives", diag=sink.summary):
        return
    late = mails[0].received - due
    diag("the breach due %.1f s into the round was mailed %.3f s after its deadline"
         % (INTO_ROUND, late))
    if length < 1.5:
        skip("the breach is not held up by the round", "the round took only %.2f s here: too "
             "short to tell a held deadline from a free one" % length)
    else:
        ok(late < length / 3, "the breach is not held up by the round (late by under a third "
           "of the round's length; the round held it to its end)",
           diag="late by %.3f s, the round %.2f s" % (late, length))
    wait_for(lambda: sink.messages_to("pick@example.com"), 10)
    is_(len(sink.messages_to("pick@example.com")), 1, "the round still offers its customer",
        diag=lambda: sink.summary() + "\n" + "\n".join(w.log_lines("offer")[-10:]))
    ok(w.running, "wafa is still running")
    w.stop_ok()


run(main)
