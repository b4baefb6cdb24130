#!/usr/bin/python3
"""[mail] sessions = 4: mail goes out on four SMTP sessions at once (the
server sees four transactions open at the same moment), every mail once;
each 250 is recorded as it comes, not when the session's batch ends; with
sessions = 1 the server never sees two at once."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from smtp_script import ScriptedSmtp  # noqa: E402

DOT_DELAY = 0.3


def breach_many(pg, prefix, n):
    """n tickets created a minute ago: their 1 s first-response breach is due."""
    pg.psql("INSERT INTO tickets (subject, owner_email, created_at) "
            "SELECT 'load ' || g, '%s' || g || '@example.com', now() - interval '1 minute' "
            "FROM generate_series(1, %d) g" % (prefix, n))
    return ["%s%d@example.com" % (prefix, i) for i in range(1, n + 1)]


def sent_rows(pg):
    return pg.psql("SELECT rcpt, extract(epoch FROM sent_at) FROM wafa.outbox "
                   "WHERE status = 'sent'")


def main():
    require_wafa()
    plan(12)
    pg = Postgres()
    srv = ScriptedSmtp()
    srv.dot_delay = DOT_DELAY
    w = Wafa(pg, srv.url, rules={"fr.lua": breach_rule(target="1s", to="t.owner_email")},
             conf={"mail.sessions": "4", "mail.batch": "5", "mail.timeout": "5s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()

    addrs = breach_many(pg, "par", 40)
    t0 = time.time()
    wait_for(lambda: len(srv.delivered()) >= 40, 60)
    took = time.time() - t0
    got = {a: len(srv.delivered_to(a)) for a in addrs}
    is_(sorted(set(got.values())), [1], "all 40 mails delivered, each once",
        diag=lambda: srv.summary() + "\n" + w.log()[-3000:])
    is_(srv.max_in_transaction, 4, "the server saw 4 sessions in a transaction at once",
        diag=srv.summary)
    diag("40 mails at %.1f s per reply to the dot on 4 sessions: %.1f s (one session: "
         "at least %.0f s)" % (DOT_DELAY, took, 40 * DOT_DELAY))
    ok(took < 40 * DOT_DELAY * 0.6, "faster than one session could be (%.1f s)" % took)
    rows = wait_for(lambda: (lambda r: r if len(r) == 40 else None)(sent_rows(pg)), 10)
    ok(rows, "every outbox row is sent", diag=lambda: repr(pg.outbox()))

    # each session carried several mails; their 250s came DOT_DELAY apart,
    # and the outbox recorded each as it came
    sent_at = {r[0]: float(r[1]) for r in rows or []}
    spreads = []
    by_session = {}
    for m in srv.delivered():
        by_session.setdefault(m["session"], []).append(m["rcpts"][0])
    for sid, rcpts in by_session.items():
        times = sorted(sent_at[a] for a in rcpts if a in sent_at)
        if len(times) >= 3:
            spreads.append(times[-1] - times[0])
    ok(spreads and min(spreads) >= 2 * DOT_DELAY * 0.9,
       "within a session each mail is marked sent as its 250 comes (spread of sent_at per "
       "session of 3+ mails: %s)" % ", ".join("%.2f s" % s for s in spreads),
       diag=lambda: repr(by_session))
    ok(len(srv.smtp_sessions()) >= 8, "batches of 5: at least 8 SMTP sessions (%d)"
       % len(srv.smtp_sessions()))
    w.stop_ok()

    # the same with one session
    srv.max_in_transaction = 0
    w.settings["mail"]["sessions"] = "1"
    w.write_config()
    w.start()
    ok(w.log_lines("1 session"), "wafa says it runs one session", diag=lambda: w.log(True))
    addrs = breach_many(pg, "one", 10)
    wait_for(lambda: all(srv.delivered_to(a) for a in addrs), 30)
    is_(sorted({len(srv.delivered_to(a)) for a in addrs}), [1], "10 more mails, each once",
        diag=srv.summary)
    is_(srv.max_in_transaction, 1, "with sessions = 1 never two transactions at once")
    w.stop_ok()
    srv.stop()


run(main)
