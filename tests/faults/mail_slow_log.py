#!/usr/bin/python3
"""wafa's log read slowly (its standard error a pipe drained at a crawl, as
a busy journald or a full disk under a logger): the loop stalls in its
logging while four sessions finish their batches and tell it so.  Every
mail is recorded as sent, none is left claimed with a lease, and SIGTERM
exits at once.  Before the fix the loop, walking the batches that had news
without the lock, followed a link a worker had just rewritten and dropped
the rest of the list: a finished batch's last word was lost, its last mail
stayed queued under an hour's lease, its session slot stayed taken, and a
stop waited for it forever (2 of 10 bursts of 100k mails to smtp-sink)."""
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = int(os.environ.get("WAFA_SLOW_LOG_MAILS", "3000"))  # mails a round
ROUNDS = int(os.environ.get("WAFA_SLOW_LOG_ROUNDS", "3"))
BATCH = int(os.environ.get("WAFA_SLOW_LOG_BATCH", "2"))
CHUNK = int(os.environ.get("WAFA_SLOW_LOG_CHUNK", "128"))
PAUSE = float(os.environ.get("WAFA_SLOW_LOG_PAUSE", "0.004"))
SINK = SMTP_SINK


class SlowLog:
    """Runs `wafa run` with its standard error a pipe that a thread drains
    a little at a time (chunk bytes, then a pause), into w's log file."""

    def __init__(self, w, chunk=CHUNK, pause=PAUSE):
        self.w = w
        self.chunk, self.pause = chunk, pause
        self.proc = subprocess.Popen([WAFA_BIN, "run", "-c", w.conf_path], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=w.dir)
        w.proc = self.proc  # the harness's clean-up kills it
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self):
        fd = self.proc.stderr.fileno()
        with open(self.w.logfile, "ab") as log:
            while True:
                data = os.read(fd, self.chunk)
                if not data:
                    return
                log.write(data)
                log.flush()
                time.sleep(self.pause)


def main():
    require_wafa()
    if not os.access(SINK, os.X_OK):
        plan(1)
        skip("the slow log test", "postfix's smtp-sink is not installed (scripts/deps "
             "installs postfix)")
        return
    plan(5)
    pg = Postgres()
    port = free_port()
    sink = start_smtp_sink(port)
    try:
        # small batches: many sessions end, each telling the loop once more
        w = Wafa(pg, "smtp://127.0.0.1:%d" % port, rules={"fr.lua": breach_rule()},
                 conf={"mail.sessions": "4", "mail.batch": str(BATCH), "mail.timeout": "30s",
                       "mail.poll_interval": "5s", "log.level": "info"})
        r = w.setup()
        if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
            return
        SlowLog(w)
        sent = "SELECT count(*) FROM wafa.outbox WHERE status = 'sent'"
        # rounds of N mails while wafa runs, until one loses a mail (the
        # old loss came in about half the rounds)
        total = 0
        for rnd in range(ROUNDS):
            pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, "
                    "subject, body) SELECT 'slowlog/%d/' || g, g, 'slowlog', 'breach', "
                    "'Support <support@example.com>', 'agent' || (g %% 50) || '@example.com', "
                    "'Slow log mail ' || g, 'A body.' FROM generate_series(1, %d) g" % (rnd, N))
            total += N
            t0 = time.time()

            def settled():
                # done, or no progress for 15 s (a lost mail waits for its lease)
                n = int(pg.value(sent))
                if n != settled.last:
                    settled.last, settled.at = n, time.time()
                return n == total or time.time() - settled.at > 15
            settled.last, settled.at = -1, time.time()
            wait_for(settled, 600, 0.5)
            diag("round %d: %s of %d mails sent in %.1f s with the log read slowly" % (
                rnd + 1, pg.value(sent), total, time.time() - t0))
            if int(pg.value(sent)) != total:
                break
        is_(pg.value(sent), str(total), "every mail is recorded as sent",
            diag=lambda: pg.psql("SELECT id, key, attempts, claimed_until FROM wafa.outbox "
                                 "WHERE status <> 'sent' ORDER BY id LIMIT 10"))
        is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE claimed_until IS NOT NULL"), "0",
            "none is left claimed under a lease")
        is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE attempts <> 1"), "0",
            "each after one attempt")
        t1 = time.time()
        w.proc.send_signal(signal.SIGTERM)
        try:
            code = w.proc.wait(20)
        except subprocess.TimeoutExpired:
            code = None
        took = time.time() - t1
        ok(code == 0 and took < 5, "SIGTERM exits 0 at once (%.2f s, exit %r): no session "
           "slot is held by a batch the loop lost" % (took, code),
           diag=lambda: w.log()[-3000:])
    finally:
        sink.terminate()
        sink.wait()


run(main)
