#!/usr/bin/python3
"""Mail throughput: a burst of N queued mails to postfix's smtp-sink (a C
SMTP sink on 127.0.0.1), with [mail] sessions = 1 and 4, and smtp-source
with the same session count beside it as the local ceiling.

    tests/bench/mail_burst.py [N] [SESSIONS ...]     (default: 10000 1 4)

The mails are put in the outbox in one statement, so only the mailer is
measured: claim, render, SMTP, record.  [mail] poll_interval, batch and
timeout are the shipped ones (the drain does not wait for poll_interval).  Prints one JSON line per run:
mails/s from the insert's commit to the last sent_at.  Needs postfix's
smtp-sink and smtp-source (Debian's postfix package; scripts/deps)."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (Postgres, Wafa, free_port, breach_rule, wait_for, SMTP_SINK,  # noqa: E402
                     start_smtp_sink)

SINK = SMTP_SINK
SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


def ceiling(port, sessions, n):
    t0 = time.monotonic()
    subprocess.run([SOURCE, "-s", str(sessions), "-m", str(n), "-l", "1000",
                    "127.0.0.1:%d" % port], check=True, stdout=subprocess.DEVNULL)
    return n / (time.monotonic() - t0)


def run(pg, n, sessions):
    port = free_port()
    sink = start_smtp_sink(port)
    schema = "bench%d" % sessions
    w = Wafa(pg, "smtp://127.0.0.1:%d" % port, rules={"fr.lua": breach_rule()},
             conf={"database.schema": schema, "mail.sessions": str(sessions),
                   "mail.starttls": "off", "log.level": "warn"})
    try:
        if w.setup().returncode != 0:
            raise RuntimeError("wafa setup failed")
        w.start()
        pg.psql("INSERT INTO %s.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body) "
                "SELECT 'bench/' || g, g, 'bench', 'breach', 'Support <support@example.com>', "
                "'agent' || (g %% 50) || '@example.com', 'Burst mail ' || g, "
                "repeat('A line of a mail body that is long enough. ', 20) "
                "FROM generate_series(1, %d) g" % (schema, n))
        # cheap to ask (the partial index of queued mail), so it does not slow the run
        done = wait_for(lambda: pg.value("SELECT NOT EXISTS (SELECT 1 FROM %s.outbox "
                                         "WHERE status = 'queued')" % schema) == "t", 600, 0.5)
        row = pg.psql("SELECT count(*), extract(epoch FROM max(sent_at) - min(created_at)), "
                      "count(*) FILTER (WHERE attempts > 1) FROM %s.outbox WHERE status = 'sent'"
                      % schema)[0]
        sent, secs, retried = int(row[0]), float(row[1]), int(row[2])
        w.stop(30)
        top = ceiling(port, sessions, n)
        return {"mails": n, "sessions": sessions, "sent": sent, "all_sent": bool(done),
                "seconds": round(secs, 2), "mails_per_s": round(sent / secs, 1),
                "retried": retried, "smtp_source_mails_per_s": round(top, 1)}
    finally:
        w.kill()
        sink.terminate()
        sink.wait()


def main():
    args = [int(a) for a in sys.argv[1:]]
    n = args[0] if args else 10000
    sessions = args[1:] or [1, 4]
    for tool in (SINK, SOURCE):
        if not os.access(tool, os.X_OK):
            sys.exit("mail_burst: %s not found: install Debian's postfix (scripts/deps)" % tool)
    pg = Postgres()
    for s in sessions:
        print(json.dumps(run(pg, n, s)), flush=True)


if __name__ == "__main__":
    main()
