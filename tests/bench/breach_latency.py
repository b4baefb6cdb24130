#!/usr/bin/python3
"""Benchmarks, printing figures (no assertions): breach-to-mail latency,
a burst of breaches, and the snapshot of many tickets.

    tests/bench/run            (builds first; WAFA_BENCH_TICKETS=N to resize)
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Postgres, SmtpSink, Wafa, wait_for  # noqa: E402

RULE = r'''
sla "bench" {
  stop = "first_reply_at", target = "2s",
  on_breach = function(t, s)
    mail { to = t.owner_email, subject = "SLA breached: #" .. t.ref .. " " .. t.subject, body = "x" }
  end,
}
'''


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def latencies(pg, sink, ids_created, target=2.0):
    out = []
    for msg in sink.messages():
        tid = int(msg["subject"].split("#")[1].split()[0])
        if tid in ids_created:
            out.append(msg.received - (ids_created[tid] + target))
    return out


def main():
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, transport=sink.url, rules={"bench.lua": RULE}, conf={"mail.batch": "100"})
    w.setup()
    w.start()

    # 1. one ticket at a time, 20 times
    single = {}
    for i in range(20):
        tid, created = pg.create_ticket("single %d" % i, "agent@example.com")
        single[tid] = created
        time.sleep(0.15)
    wait_for(lambda: len(sink.messages()) >= 20, 10)
    lat = latencies(pg, sink, single)
    print("breach-to-mail latency, 20 tickets one by one: min %.3f s, median %.3f s, max %.3f s"
          % (min(lat), statistics.median(lat), max(lat)))

    # 2. a burst: N tickets breaching within the same ~0.3 s
    n = int(os.environ.get("WAFA_BENCH_BURST", "500"))
    pg.psql("INSERT INTO tickets (subject, owner_email) SELECT 'burst ' || g, 'agent@example.com' "
            "FROM generate_series(1, %d) g" % n)
    rows = pg.psql("SELECT id, extract(epoch from created_at) FROM tickets WHERE subject LIKE 'burst %'")
    burst = {int(r[0]): float(r[1]) for r in rows}
    wait_for(lambda: len(sink.messages()) >= 20 + n, 60, 0.2)
    lat = latencies(pg, sink, burst)
    got = len(lat)
    print("burst of %d breaches: %d mails; latency median %.3f s, p95 %.3f s, max %.3f s; "
          "last mail %.2f s after the last deadline"
          % (n, got, statistics.median(lat), pct(lat, 95), max(lat), max(lat)))
    rows = pg.psql("SELECT extract(epoch FROM o.created_at - t.created_at) - 2 FROM wafa.outbox o "
                   "JOIN tickets t ON t.id = o.ticket_id WHERE t.subject LIKE 'burst %'")
    queued = [float(r[0]) for r in rows]
    print("  of which queued in the outbox (deadline to commit): median %.3f s, max %.3f s; "
          "the rest is SMTP to the test sink (Python, one fsync per mail)"
          % (statistics.median(queued), max(queued)))
    print("wafa RSS after %d tickets: %d KiB" % (20 + n, rss_kib(w.proc.pid)))
    w.stop()

    # 3. snapshot: many tickets already in the helpdesk when wafa starts
    big = int(os.environ.get("WAFA_BENCH_TICKETS", "100000"))
    # answered tickets: the reply after the creation (created_at defaults to
    # clock_timestamp(), later than the transaction's now())
    pg.psql("INSERT INTO tickets (subject, owner_email, created_at, first_reply_at) "
            "SELECT 'old ' || g, 'agent@example.com', now() - interval '1 hour', now() "
            "FROM generate_series(1, %d) g" % big)
    t0 = time.time()
    w.start(wait_ready=False)
    wait_for(lambda: "snapshot:" in w.log(current=True), 300, 0.05)
    line = [l for l in w.log(current=True).splitlines() if "snapshot:" in l][-1]
    print("snapshot of %d tickets: %.2f s from start (%s)" % (big + 20 + n, time.time() - t0,
                                                             line.split("snapshot: ")[1]))
    print("wafa RSS with %d tickets indexed: %d KiB" % (big + 20 + n, rss_kib(w.proc.pid)))
    w.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
