#!/usr/bin/python3
"""How long `wafa report` takes, and its peak memory, over four weeks of a
busy helpdesk: 100,000 tickets, each with a first-response SLA instance under
a Cairo business-hours calendar (about 70% met, 20% breached then met, the
rest running; one in ten paused for an hour) and a wall-clock resolution
SLA, so 200,000 instances and about 620,000 journal rows; 50,000 outbox mails
of which 20,000 surveys with 8,000 answers.  Prints figures; asserts nothing."""
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULES = dedent('''
    calendar "cairo" {
      timezone = "Africa/Cairo",
      hours = { sun = "09:00-17:00", mon = "09:00-17:00", tue = "09:00-17:00",
                wed = "09:00-17:00", thu = "09:00-17:00" },
    }
    local function tell(t, s) mail { to = "lead@example.com", subject = "late" } end
    sla "first-response" { calendar = "cairo", stop = "first_reply_at", target = "4h",
                           goal = "90%", on_breach = tell }
    sla "resolution" { stop = "solved_at", target = "3d", goal = "85%", on_breach = tell }
''')

FILL = '''
INSERT INTO tickets (id, subject, queue, priority, owner_email)
SELECT i, 'bench ' || i, (ARRAY['Sales', 'Support', 'Billing', 'Tech'])[1 + i % 4],
       (ARRAY['low', 'normal', 'high', 'urgent'])[1 + i % 4], 'agent' || (i % 40) || '@example.com'
  FROM generate_series(1, 100000) AS i;
CREATE TEMP TABLE inst AS
SELECT i, r, extract(epoch FROM '2026-11-02'::timestamptz)::int8 + (i * 24) % (28 * 86400) AS s,
       i % 10 AS kind
  FROM generate_series(1, 100000) AS i, unnest(ARRAY['first-response', 'resolution']) AS r;
INSERT INTO wafa.journal (ticket_id, rule, kind, instance, event, at)
SELECT i, r, 'sla', s, 'started', to_timestamp(s) FROM inst;
INSERT INTO wafa.journal (ticket_id, rule, kind, instance, event, step, at)
SELECT i, r, 'sla', s, 'breach', 'breach', to_timestamp(s + 14400) FROM inst WHERE kind < 2;
INSERT INTO wafa.journal (ticket_id, rule, kind, instance, event, at)
SELECT i, r, 'sla', s, 'met', to_timestamp(s + 3600 + (i % 50) * 1800) FROM inst WHERE kind < 9;
INSERT INTO wafa.journal (ticket_id, rule, kind, instance, event, at)
SELECT i, r, 'sla', s, e, to_timestamp(s + 600 + off) FROM inst,
       (VALUES ('paused', 0), ('resumed', 3600)) AS p(e, off) WHERE kind = 3;
INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body, status,
                         kind, survey, audience, created_at, sent_at)
SELECT 'b/' || i, i, 'csat', 'due', 's@example.com', 'c' || i || '@example.com', 's', 'b',
       (ARRAY['sent', 'sent', 'sent', 'failed', 'skipped'])[1 + i % 5], 'followup', i % 5 < 2,
       'customer', '2026-11-02'::timestamptz + i * interval '48 s',
       '2026-11-02'::timestamptz + i * interval '48 s'
  FROM generate_series(1, 50000) AS i;
INSERT INTO wafa.survey (mail_id, ticket_id, rule, email, score, answered_at)
SELECT id, ticket_id, 'csat', rcpt, 1 + id % 5, sent_at + interval '1 h'
  FROM wafa.outbox WHERE survey AND status = 'sent' AND id % 5 = 0 LIMIT 8000;
ANALYZE;
'''


def main():
    pg = Postgres()
    w = Wafa(pg, transport="maildir:/tmp/unused", rules={"10-bench.lua": RULES})
    if w.setup().returncode != 0:
        raise SystemExit("wafa setup failed")
    t = time.monotonic()
    pg.psql(FILL, timeout=600)
    rows = pg.value("SELECT count(*) FROM wafa.journal")
    print("fixture: %s journal rows, loaded in %.1f s" % (rows, time.monotonic() - t))
    for args in (["--format", "html"], ["--format", "json", "--by", "queue"],
                 ["--format", "html", "--locale", "ar-EG", "--by", "owner"]):
        times = []
        for _ in range(3):
            t = time.monotonic()
            r = subprocess.run([WAFA_BIN, "report", "-c", w.conf_path, "--from", "2026-11-02",
                                "--to", "2026-11-30"] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            times.append(time.monotonic() - t)
            if r.returncode != 0:
                raise SystemExit(r.stderr.decode())
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print("wafa report %s: median of 3 %.2f s, output %d KiB, peak RSS so far %.0f MiB"
              % (" ".join(args), sorted(times)[1], len(r.stdout) // 1024, rss))


main()
