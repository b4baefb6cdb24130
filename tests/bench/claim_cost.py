#!/usr/bin/python3
"""The customer-mail claim's cost as the helpdesk grows (issue 16 item 5),
printed as one JSON object (no assertions):

    tests/bench/claim_cost.py [--n 10000,1000000] [--mails 200]

For each ticket count N (open tickets seeded with generate_series, one
customer each), wafa is started and reads them (its customer facts,
wafa.customer_ticket, are written as it does), then MAILS customer mails
(to MAILS of those customers) are queued at once; the figure is the time
from the insert to the last of them recorded as sent (a fast local sink,
20 sessions' worth of claims).  Before, the claim scanned the view twice
per customer mail (79 s in psql for 200 at 1M); for comparison the bench
also times that scan once per ticket count ("view_scan_s": the open-ticket
count of one customer through the view).  The ratio of the largest N's
claim time to the smallest's is the figure to watch: near 1 means the
claim's cost does not grow with the tickets.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Postgres, SmtpSink, Wafa, wait_for  # noqa: E402


def note(text):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def seed(pg, n):
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    pg.psql("INSERT INTO tickets (subject, status, priority, customer_email, customer_name, "
            "owner_email, created_at, updated_at) "
            "SELECT 'ticket ' || g, 'open', 'normal', 'customer' || g || '@example.com', "
            "       'Customer ' || g, 'agent' || (g %% 50) || '@example.com', "
            "       now() - interval '1 hour', now() - interval '1 hour' "
            "  FROM generate_series(1, %d) g" % n, timeout=3600)
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    pg.psql("VACUUM ANALYZE tickets", timeout=3600)


def one(n, mails):
    pg = Postgres()
    sink = SmtpSink()
    note("seeding %d tickets" % n)
    seed(pg, n)
    w = Wafa(pg, sink.url, conf={"mail.sessions": "4", "mail.batch": "50",
                                 "mail.poll_interval": "200ms", "log.level": "warn"})
    if w.setup().returncode != 0:
        raise RuntimeError("wafa setup failed")
    w.start(wait_ready=False)
    facts = lambda: int(pg.value("SELECT count(*) FROM wafa.customer_ticket"))
    t0 = time.time()
    if not wait_for(lambda: facts() >= n, 1800, 1.0):
        raise RuntimeError("customer facts: %d of %d\n%s" % (facts(), n, w.log()[-2000:]))
    facts_s = time.time() - t0
    note("%d tickets read, their facts written in %.1f s" % (n, facts_s))
    pg.psql("ANALYZE wafa.customer_ticket")
    step = max(1, n // mails)
    t0 = time.time()
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, "
            "body, audience) "
            "SELECT 'bench/' || g || '/x/1/1', g, 'bench', 'x', 'support@example.com', "
            "       'customer' || g || '@example.com', 'claim cost', 'body', 'customer' "
            "  FROM generate_series(1, %d, %d) g LIMIT %d" % (n, step, mails))
    sent = lambda: int(pg.value("SELECT count(*) FROM wafa.outbox WHERE status <> 'queued'"))
    if not wait_for(lambda: sent() >= mails, 1800, 0.1):
        raise RuntimeError("sent %d of %d\n%s" % (sent(), mails, w.log()[-2000:]))
    claim_s = time.time() - t0
    t1 = time.time()
    pg.value("SELECT count(*) FROM wafa_tickets v WHERE lower(v.customer_email) = "
             "'customer1@example.com' AND v.status NOT IN ('solved', 'closed')")
    view_s = time.time() - t1
    held = int(pg.value("SELECT count(*) FROM wafa.outbox WHERE held_reason IS NOT NULL"))
    w.stop()
    pg.stop()
    sink.stop()
    return {"tickets": n, "customer_mails": mails, "held": held,
            "claimed_and_sent_s": round(claim_s, 3), "facts_written_s": round(facts_s, 1),
            "view_scan_s": round(view_s, 3)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="10000,1000000")
    ap.add_argument("--mails", type=int, default=200)
    args = ap.parse_args()
    rows = [one(int(n), args.mails) for n in args.n.split(",")]
    out = {"claim_cost": rows}
    if len(rows) > 1 and rows[0]["claimed_and_sent_s"] > 0:
        out["ratio_largest_to_smallest"] = round(rows[-1]["claimed_and_sent_s"] /
                                                 rows[0]["claimed_and_sent_s"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
