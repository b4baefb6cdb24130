#!/usr/bin/python3
"""kill -9 in a loop while 10,000 mails fall due: nothing lost, nothing twice
(at most one duplicate per kill).

10,000 tickets whose first-response deadlines fall due over a short window;
`wafa run` started again and again and killed with SIGKILL at random points
(a fixed seed: during start-up, the snapshot, firing and sending), at least
50 times.  Then it runs: every mail must arrive within seconds of the last
restart, with at most one duplicate per SMTP session in flight at each kill
(counted at the SMTP sink by recipient, one recipient per ticket; the
duplicates per kill are printed).

Before the loop, the leases: a mail the leader holds is not touched by a
standby while the leader lives; a mail a dead process had claimed (its
5-minute lease still running) goes out at once after a restart.

    WAFA_FAULT_SEED=N  another seed (default 8)
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

SEED = int(os.environ.get("WAFA_FAULT_SEED") or 8)
MAILS = 10000
KILLS = 50
TARGET_S = 10      # the rule's target
FIRST_DUE_S = 8    # first deadline, seconds after the tickets are written
WINDOW_S = 30      # deadlines spread over this long
DRAIN_LIMIT_S = 60
SESSIONS = 4       # [mail] sessions (the default): one mail in flight on each at a kill


_seen = {}


def sink_counts(sink):
    """{recipient: messages} from the sink's .json files, each read once
    (a message's .json is renamed into place whole and never changes)."""
    import glob
    import json
    for path in glob.glob(os.path.join(sink.dir, "[0-9]*.json")):
        if path in _seen:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                _seen[path] = json.load(f)["rcpt_tos"]
        except (OSError, ValueError):
            continue
    counts = {}
    for rcpts in _seen.values():
        for r in rcpts:
            counts[r] = counts.get(r, 0) + 1
    return counts


def last_step(line):
    """What a log line says the daemon was doing."""
    for needle, step in ((" mail: ", "sending"), (" fire: ", "firing"), (" journal: ", "journal"),
                         (" adapter: ", "reading"), (" pg: ", "connecting")):
        if needle in line:
            return step
    return "start-up"


def leased_row(pg, rcpt, key):
    """An outbox row as a process that claimed it would leave it: queued,
    its lease running for 5 more minutes."""
    pg.psql("INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, "
            "body, claimed_until, attempts) VALUES (%s, 0, 'manual', 'x', 'support@example.com', "
            "%s, 'leased', '', now() + interval '5 minutes', 1)"
            % (pg.quote(key), pg.quote(rcpt)))


def row_state(pg, key):
    return pg.psql("SELECT status, claimed_until IS NOT NULL FROM wafa.outbox WHERE key = %s"
                   % pg.quote(key))


def main():
    require_wafa()
    plan(13)
    rng = random.Random(SEED)
    diag("seed %d" % SEED)
    pg = Postgres()
    sink = SmtpSink()
    rule = {"fr.lua": breach_rule(target="%ds" % TARGET_S, to="t.owner_email",
                                  subject='"breach #" .. t.ref', body='"no reply yet\\n"')}
    conf = {"mail.poll_interval": "1s", "log.level": "info", "mail.sessions": str(SESSIONS)}
    a = Wafa(pg, sink.url, rules=rule, conf=conf)
    r = a.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return

    # -- leases: a live leader's are left alone; a dead one's are retried at once
    a.start()
    leased_row(pg, "live@example.com", "manual/0/live/1/1")
    b = Wafa(pg, sink.url, rules=rule, conf=conf)
    b.start(wait_ready=False)
    wait_for(lambda: b.log_lines("standby: another wafa leads"), 10)
    time.sleep(3)
    is_(row_state(pg, "manual/0/live/1/1"), [["queued", "t"]],
        "a standby leaves alone the lease of a live leader (3 s after it started)",
        diag=lambda: b.log())
    killed = time.time()
    a.kill()
    got = wait_for(lambda: sink_counts(sink).get("live@example.com"), 20)
    took = time.time() - killed
    ok(got and took < 15, "the standby sends the dead leader's claimed mail at once "
       "(not after its 5-minute lease)", diag=lambda: "%.1f s\n%s" % (took, b.log()[-3000:]))
    diag("leased mail sent %.1f s after the leader was killed" % took)
    b.stop()

    # -- 10,000 tickets, deadlines over WINDOW_S seconds starting FIRST_DUE_S from now
    pg.psql("INSERT INTO tickets (subject, owner_email, created_at) "
            "SELECT 'kill loop ' || g, 'k' || g || '@example.com', "
            "       clock_timestamp() + make_interval(secs => %f + g * %f) "
            "  FROM generate_series(1, %d) g"
            % (FIRST_DUE_S - TARGET_S, WINDOW_S / MAILS, MAILS))
    ids = [int(x[0]) for x in pg.psql("SELECT id FROM tickets WHERE subject LIKE 'kill loop %' "
                                      "ORDER BY id")]
    rcpt_of = {"k%d@example.com" % g: g for g in range(1, MAILS + 1)}
    is_(len(ids), MAILS, "10,000 tickets written")
    t0 = time.time()

    # -- the loop: start, wait a random while, SIGKILL
    kills = 0
    points = {}
    while kills < KILLS or time.time() < t0 + FIRST_DUE_S + WINDOW_S + 2:
        a.start(wait_ready=False)
        time.sleep(rng.uniform(0.1, 1.5))
        lines = a.log(current=True).strip().splitlines()
        point = last_step(lines[-1] if lines else "")
        points[point] = points.get(point, 0) + 1
        a.kill()
        kills += 1
        if kills > 200:
            break
    sent_before = sum(1 for r in sink_counts(sink) if r in rcpt_of)
    diag("kills: %d in %.0f s (last log line before the kill: %s); %d of %d mails out by then"
         % (kills, time.time() - t0, ", ".join("%s %d" % kv for kv in sorted(points.items())),
            sent_before, MAILS))
    ok(kills >= KILLS, "at least %d kills" % KILLS)

    # a mail claimed by the last killed process, its lease still running
    leased_row(pg, "dead@example.com", "manual/0/dead/1/1")

    # -- the last restart: it runs until everything is out
    restarted = time.time()
    a.start(wait_ready=False)

    def all_out():
        c = sink_counts(sink)
        return sum(1 for r in rcpt_of if r in c) == MAILS and c.get("dead@example.com")
    drained = wait_for(all_out, DRAIN_LIMIT_S + 60, 0.25)
    drain = time.time() - restarted
    counts = sink_counts(sink)
    missing = [r for r in rcpt_of if r not in counts]
    ok(drained and drain <= DRAIN_LIMIT_S,
       "every mail arrives within %d s of the last restart" % DRAIN_LIMIT_S,
       diag=lambda: "%.1f s; %d missing (e.g. %s)\n%s" % (drain, len(missing), missing[:5],
                                                           a.log(current=True)[-3000:]))
    ok(counts.get("dead@example.com"),
       "the mail the killed process had claimed goes out at once, not after its lease")
    time.sleep(3)  # late duplicates, if any, come now
    counts = sink_counts(sink)
    dups = sum(n - 1 for r, n in counts.items() if r in rcpt_of and n > 1)
    twice = sorted((n, r) for r, n in counts.items() if r in rcpt_of and n > 1)[-5:]
    mails = sum(1 for r in rcpt_of if r in counts)
    diag("kills %d, mails %d of %d, duplicates %d (%.2f a kill), drain %.1f s after the last "
         "restart" % (kills, mails, MAILS, dups, dups / max(kills, 1), drain))
    is_(mails, MAILS, "no mail lost")
    # a kill can repeat the mail each session has between the server's 250
    # and its record: the server stored it, the dead process never heard
    ok(dups <= kills * SESSIONS, "duplicates at most one per session in flight at a kill "
       "(%d duplicates, %d kills, %d sessions)" % (dups, kills, SESSIONS),
       diag=lambda: "most repeated: %r" % twice)

    rows = pg.psql("SELECT status, count(*), count(claimed_until) FROM wafa.outbox "
                   " WHERE rule = 'first-response' GROUP BY status")
    is_(rows, [["sent", str(MAILS), "0"]], "the outbox: 10,000 rows, all sent, no lease left")
    is_(pg.value("SELECT count(*) FROM wafa.journal WHERE rule = 'first-response' "
                 "AND step <> ''"), str(MAILS),
        "the journal: one step row (the firing's record) per ticket")
    is_(sum(counts.get(x, 0) for x in ("live@example.com", "dead@example.com")), 2,
        "the two leased mails went out once each")
    a.stop_ok()


run(main)
