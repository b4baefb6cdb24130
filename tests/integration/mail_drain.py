#!/usr/bin/python3
"""A burst drains at the pace of the wire with the [mail] settings a user
gets from contrib/wafa.conf.example (poll_interval 5s, batch 500, 4
sessions): while queued mail remains, a free session takes the next batch
at once, never waiting for the poll timer.  The server is postfix's
smtp-sink on 127.0.0.1 (fast enough that the sent records, not the server,
set the rhythm); the gaps are read from the outbox's sent_at, which each
sent record stamps as the 250s come."""
import configparser
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = 3000
MAX_GAP = 0.5  # seconds; the poll timer would leave 5 s
SINK = SMTP_SINK


def shipped_mail_settings():
    """[mail]'s poll_interval, batch, sessions and timeout as shipped."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cp.read(os.path.join(os.environ.get("WAFA_SRCDIR", "."), "contrib", "wafa.conf.example"))
    return {"mail." + k: cp.get("mail", k) for k in ("poll_interval", "batch", "sessions",
                                                     "timeout")}


def main():
    require_wafa()
    if not os.access(SINK, os.X_OK):
        skip_all = "postfix's smtp-sink is not installed (scripts/deps installs postfix)"
        plan(1)
        skip("the drain test", skip_all)
        return
    plan(5)
    shipped = shipped_mail_settings()
    diag("the shipped [mail] settings: %s" % shipped)
    pg = Postgres()
    port = free_port()
    sink = start_smtp_sink(port)
    try:
        conf = dict(shipped)
        conf["log.level"] = "warn"
        w = Wafa(pg, "smtp://127.0.0.1:%d" % port, rules={"fr.lua": breach_rule()}, conf=conf)
        r = w.setup()
        if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
            return
        w.start()
        pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, "
                "subject, body) SELECT 'drain/' || g, g, 'drain', 'breach', "
                "'Support <support@example.com>', 'agent' || (g %% 50) || '@example.com', "
                "'Drain mail ' || g, 'A body.' FROM generate_series(1, %d) g" % N)
        done = wait_for(lambda: pg.value("SELECT count(*) FROM wafa.outbox "
                                         "WHERE status = 'sent'") == str(N), 240, 0.5)
        ok(done, "all %d mails recorded as sent" % N,
           diag=lambda: pg.psql("SELECT status, count(*) FROM wafa.outbox GROUP BY 1"))
        is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE attempts <> 1"), "0",
            "each after one attempt")
        times = [float(r[0]) for r in pg.psql(
            "SELECT DISTINCT extract(epoch FROM sent_at) FROM wafa.outbox "
            "WHERE sent_at IS NOT NULL ORDER BY 1")]
        gaps = sorted((b - a, a) for a, b in zip(times, times[1:]))
        worst = gaps[-1] if gaps else (0.0, times[0] if times else 0.0)
        diag("%d mails in %.1f s (%d sent records); longest gaps between them: %s" % (
            N, times[-1] - times[0] if times else 0, len(times),
            ", ".join("%.3f s" % g for g, _ in gaps[-5:])))
        ok(worst[0] <= MAX_GAP, "no gap between sends longer than %.1f s while mail was queued "
           "(longest %.3f s, %.1f s into the burst)" % (MAX_GAP, worst[0],
                                                      worst[1] - times[0] if times else 0))
        w.stop_ok()
    finally:
        sink.terminate()
        sink.wait()


run(main)
