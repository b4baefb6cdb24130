#!/usr/bin/python3
"""wafa's figures at scale, printed as one JSON object (no assertions):

    tests/bench/run --n 1000000 --burst 100000 [--updates 5000] [--set mail.batch=500 ...]

wafa runs with the [mail] settings a user gets from contrib/wafa.conf.example
(poll_interval, batch, sessions, timeout); --set changes one for a tuned run,
and the output names what it changed ("config").  The machines these run on
are shared and noisy, so the headline figures are ratios taken in the same
run ("ratios"): the burst's all-sent time over smtp-source's for the same
mails on the same number of sessions to the same sink, and the burst's
deadline-to-outbox-row p99 over the database's own floor (the same rows
inserted into the same tables by a plain SQL script in the same batches,
wafa stopped).

The generic view, one first-response rule (target 1 day), postfix's C
smtp-sink on loopback.  N open tickets are seeded with generate_series (their
deadlines fall after the bench ends); then, with wafa running:
  cold start     wafa run to its "snapshot:" line; peak and steady RSS, and how
                 much of it lies in huge pages
  read floor     the database's own time to hand over the same tickets (the
                 view's columns, by COPY in two streams at once, up and down
                 from the middle id as wafa's snapshot reads; wafa stopped)
  single         30 tickets, one at a time, each due 0.5 s after its insert:
                 deadline to SMTP 250 (outbox.sent_at, recorded as the 250 comes)
  burst          BURST more tickets seeded with the rest, all due in the same
                 second, --margin s after seeding (wafa has started and read them
                 by then): deadline to outbox row, to SMTP 250
  updates        --updates UPDATEs committed one by one at 1,000/s, each making
                 a watched ticket due at once: the update's commit to its
                 outbox row (an upper bound on update-to-rescheduled)
  floor          the burst's journal step rows and outbox rows inserted again
                 by one DO block, FIRE_BATCH firings per commit: each row's
                 created_at after the block's start.  "floor": into wafa's own
                 tables, as big as wafa found them (each row under another
                 instance and key); "floor_fresh_tables": into a second
                 schema's empty tables with the same indexes (the floor until
                 issue 15's eighth pass: at 1M its journal lacks the 1.1M
                 rows wafa's has, and its inserts cost about a quarter less).
                 Each is run FLOOR_ROUNDS times (wafa's tables put back as
                 wafa left them between rounds) and the median round kept
  smtp-source    the same number of messages through the same number of
                 sessions straight to the sink: the local ceiling (one mail per
                 connection, smtp-source's default; and -d, all on one)
"""
import configparser
import argparse
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Postgres, Wafa, free_port, wait_for, IS_ROOT  # noqa: E402
import harness  # noqa: E402

RULE = r'''
sla "first-response" {
  stop = "first_reply_at", target = "1d",
  on_breach = function(t, s)
    mail { to = t.owner_email, subject = "SLA breached: #" .. t.ref .. " " .. t.subject,
           body = "Ticket " .. t.ref .. " has waited a day for its first reply." }
  end,
}
'''


FIRE_BATCH = 2000  # core/fire/firing.c: firings per insert
# WAFA_BENCH_STATEMENTS=1 (with WAFA_PG_OPTS="-c shared_preload_libraries=
# pg_stat_statements -c pg_stat_statements.track_planning=on") prints to
# standard error, after the burst, the statements that took the database's
# time from the single deadlines on, and how many updates were HOT
STATEMENTS = os.environ.get("WAFA_BENCH_STATEMENTS") not in (None, "", "0")


def shipped_mail_settings():
    """[mail]'s settings as contrib/wafa.conf.example ships them."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cp.read(os.path.join(os.environ.get("WAFA_SRCDIR", "."), "contrib", "wafa.conf.example"))
    return {"mail." + k: cp.get("mail", k) for k in ("poll_interval", "batch", "sessions",
                                                     "timeout")}


def note(text):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stderr.flush()


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))], 4)


def summary(values):
    return {"count": len(values), "p50": pct(values, 50), "p99": pct(values, 99),
            "max": round(max(values), 4) if values else None}


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def floats(pg, sql):
    return [float(r[0]) for r in pg.psql(sql) if r and r[0] != ""]


class Sink:
    """postfix's smtp-sink on a free loopback port."""

    def __init__(self):
        exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        if not os.path.exists(exe):
            sys.exit("smtp-sink not found: install postfix (scripts/deps)")
        self.port = free_port()
        cmd = [exe] + (["-u", "nobody"] if IS_ROOT else []) + ["-p", "-c", "127.0.0.1:%d" % self.port,
                                                             "1000"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(self.stop)
        time.sleep(0.3)

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        self.proc.wait()


def seed(pg, n):
    # no NOTIFY per row while seeding: wafa is not running yet.  Each ticket
    # was last updated when it was created, an hour or more ago: seeded as
    # updated now, all of them fell in the window of wafa's safety-net
    # re-read ([helpdesk] reconcile_interval, a minute's overlap) and were
    # read again every 30 s for two minutes, once right on the burst
    # (1.1M rows: a second of both cores), which no steady helpdesk does
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    pg.psql("INSERT INTO tickets (subject, status, priority, customer_email, customer_name, "
            "owner_email, owner_name, created_at, updated_at) "
            "SELECT 'Printer on floor ' || (g %% 40) || ' does not print', "
            "       CASE WHEN g %% 3 = 0 THEN 'open' ELSE 'new' END, 'normal', "
            "       'customer' || g || '@example.com', 'Customer ' || g, "
            "       'agent' || (g %% 50) || '@example.com', 'Agent ' || (g %% 50), "
            "       now() - interval '1 hour' - (g %% 3600) * interval '1 s', "
            "       now() - interval '1 hour' - (g %% 3600) * interval '1 s' "
            "  FROM generate_series(1, %d) g" % n, timeout=3600)
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    pg.psql("VACUUM ANALYZE tickets", timeout=3600)


def cold_start(w):
    t0 = time.time()
    w.start(wait_ready=False)
    peak = 0
    while "snapshot:" not in w.log(current=True):
        if w.proc.poll() is not None:
            raise RuntimeError("wafa exited:\n" + w.log()[-3000:])
        peak = max(peak, status_kib(w.proc.pid, "VmRSS"))
        time.sleep(0.02)
    took = time.time() - t0
    line = [l for l in w.log(current=True).splitlines() if "snapshot:" in l][-1]
    return took, line.split("snapshot: ")[1].strip()


def single(pg, count=30):
    ids = []
    for i in range(count):
        ids.append(int(pg.value(
            "INSERT INTO tickets (subject, owner_email, created_at) VALUES "
            "('single %d', 'agent@example.com', clock_timestamp() - interval '1 day' "
            "+ interval '500 ms') RETURNING id" % i)))
        time.sleep(0.2)
    where = "o.ticket_id IN (%s)" % ",".join(map(str, ids))
    wait_for(lambda: int(pg.value("SELECT count(*) FROM wafa.outbox o WHERE %s AND "
                                  "status = 'sent'" % where)) >= count, 30, 0.1)
    return summary(floats(pg, "SELECT extract(epoch FROM o.sent_at - (t.created_at + "
                              "interval '1 day')) FROM wafa.outbox o JOIN tickets t ON "
                              "t.id = o.ticket_id WHERE %s AND o.sent_at IS NOT NULL" % where))


SENT_WAIT = 300  # seconds the burst's mails may take to reach the sink


def seed_burst(pg, n, due):
    """n tickets, seeded with the rest before wafa starts, whose deadlines
    all fall in the same second, due (Unix s): the burst is fired from the
    index, not from n notifications read at once."""
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
    pg.psql("INSERT INTO tickets (subject, owner_email, customer_email, created_at, updated_at) "
            "SELECT 'burst ' || g, 'agent' || (g %% 50) || '@example.com', "
            "       'c' || g || '@example.com', to_timestamp(%f) - interval '1 day', "
            "       to_timestamp(%f) - interval '1 day' "
            "  FROM generate_series(1, %d) g" % (due, due, n), timeout=600)
    pg.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
    lo, hi = pg.psql("SELECT min(id), max(id) FROM tickets WHERE subject LIKE 'burst %%'")[0]
    if int(hi) - int(lo) + 1 != n:
        raise RuntimeError("the burst's ticket ids are not one range")
    return int(lo), int(hi)


def burst(pg, n, due, ids):
    where = "o.ticket_id BETWEEN %d AND %d" % ids
    # polled by the outbox's ticket index alone: a join with the tickets
    # while 100k rows go in took seconds of the database's time per poll,
    # time the bench then counted against wafa
    count = "SELECT count(*) FROM wafa.outbox o WHERE " + where
    started = time.time()
    if started > due:
        note("the burst fell due %.1f s before wafa was ready: raise --margin" % (started - due))
    wait_for(lambda: time.time() > due and int(pg.value(count)) >= n, max(0, due - started) + 120,
             1)
    # every 5 s: the count of sent rows reads each of them (110 ms at 100k
    # rows), 11% of a core polled every second, taken from wafa's sending
    wait_for(lambda: int(pg.value(count + " AND o.status = 'sent'")) >= n, SENT_WAIT, 5)
    queued = floats(pg, "SELECT extract(epoch FROM o.created_at) - %f FROM wafa.outbox o "
                        "JOIN tickets t ON t.id = o.ticket_id WHERE %s" % (due, where))
    sent = floats(pg, "SELECT extract(epoch FROM o.sent_at) - %f FROM wafa.outbox o "
                      "JOIN tickets t ON t.id = o.ticket_id WHERE %s AND o.sent_at IS NOT NULL"
                      % (due, where))
    return {"tickets": n, "to_outbox_row": summary(queued), "to_smtp_250": summary(sent),
            "all_sent_after_s": round(max(sent), 3) if sent else None,
            "all_queued_after_s": round(max(queued), 3) if queued else None}


FLOOR_ROUNDS = 3  # each floor is the round with the median p99: one round varied by a third


# the view's columns a cold start reads, the times in the database's own
# format (wafa asks for them as integer milliseconds, its own cost)
READ_COLUMNS = ("id, ref, subject, status, raw_status, priority, queue, customer_email, "
                "customer_name, customer_locale, customer_tz, owner_email, owner_name, extra, "
                "created_at, first_reply_at, last_customer_at, last_agent_at, solved_at, "
                "due_at, updated_at")


def read_floor(pg, view="public.wafa_tickets"):
    """The database's own time to hand over what a cold start reads: the
    view's columns (READ_COLUMNS) by COPY to psql, in two streams at once
    split at the middle id, one up and one down as wafa's snapshot reads,
    wafa stopped; FLOOR_ROUNDS rounds, the median kept."""
    mid = int(pg.value("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM %s" % view))
    halves = ["COPY (SELECT %s FROM %s WHERE id <= %d ORDER BY id) TO STDOUT" % (
                  READ_COLUMNS, view, mid),
              "COPY (SELECT %s FROM %s WHERE id > %d ORDER BY id DESC) TO STDOUT" % (
                  READ_COLUMNS, view, mid)]
    rounds = []
    for _ in range(FLOOR_ROUNDS):
        t0 = time.time()
        procs = [subprocess.Popen(pg._psql_cmd("helpdesk") + ["-c", sql], env=harness._pg_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for sql in halves]
        for p in procs:
            _, err = p.communicate(timeout=600)
            if p.returncode != 0:
                raise RuntimeError("read floor: psql failed: %s" % err.decode(errors="replace"))
        rounds.append(round(time.time() - t0, 3))
    return {"seconds": sorted(rounds)[len(rounds) // 2], "rounds": rounds}


def floor(pg, w, ids, fresh):
    """The database's own time for the burst's rows: its step rows and
    outbox rows inserted again by one DO block, FIRE_BATCH firings a
    commit, with wafa stopped, FLOOR_ROUNDS times.  Into wafa's own tables
    (fresh false: the same tables, indexes and sizes wafa wrote to, each row
    again under another instance and key), or into schema bench_floor, made
    by wafa setup with the same tables and indexes, emptied before each
    round.  Returns the median round's outbox rows' created_at after the
    block's start, and each round's p99."""
    if fresh:
        fw = Wafa(pg, w.transport, rules={"bench.lua": RULE},
                  conf={"database.schema": "bench_floor"})
        if fw.setup().returncode != 0:
            raise RuntimeError("wafa setup of bench_floor failed")
    lo, hi = ids
    # what wafa wrote was fired before this; a round's copies after it
    pg.psql("CREATE TABLE IF NOT EXISTS bench_floor_start AS SELECT clock_timestamp() AS t")
    rounds = []
    for n in range(1, FLOOR_ROUNDS + 1):
        if fresh:
            pg.psql("TRUNCATE bench_floor.journal, bench_floor.outbox")
            into, instance, suffix, mine = "bench_floor", "instance", "", "true"
        else:
            into, instance, suffix = "wafa", "instance + %d" % n, " || '/floor%d'" % n
            mine = "o.key LIKE '%%/floor%d'" % n
        t0 = "bench_t0_%s_%d" % ("fresh" if fresh else "same", n)
        pg.psql("CREATE TABLE %s AS SELECT clock_timestamp() AS t0 WHERE false" % t0)
        pg.psql("DO $$ DECLARE a bigint := %d; BEGIN "
                "INSERT INTO %s VALUES (clock_timestamp()); COMMIT; "
                "WHILE a <= %d LOOP "
                "  INSERT INTO %s.journal (ticket_id, rule, kind, instance, event, step, at, "
                "                          fired_at) "
                "  SELECT ticket_id, rule, kind, %s, event, step, at, now() FROM wafa.journal "
                "   WHERE ticket_id BETWEEN a AND least(a + %d - 1, %d) AND step <> '' "
                "     AND fired_at < (SELECT t FROM bench_floor_start); "
                "  INSERT INTO %s.outbox (key, ticket_id, rule, phase, mail_from, rcpt, "
                "                         subject, body, audience, kind) "
                "  SELECT key%s, ticket_id, rule, phase, mail_from, rcpt, subject, body, "
                "         audience, kind "
                "    FROM wafa.outbox WHERE ticket_id BETWEEN a AND least(a + %d - 1, %d) "
                "     AND key NOT LIKE '%%/floor%%'; "
                "  COMMIT; a := a + %d; "
                "END LOOP; END $$" % (lo, t0, hi, into, instance, FIRE_BATCH, hi, into, suffix,
                                      FIRE_BATCH, hi, FIRE_BATCH), timeout=3600)
        rows = floats(pg, "SELECT extract(epoch FROM o.created_at - t.t0) FROM %s.outbox o, "
                          "%s t WHERE %s" % (into, t0, mine))
        rounds.append(rows)
        if not fresh:
            # the next round finds the tables as wafa left them, not bigger
            pg.psql("DELETE FROM wafa.journal WHERE fired_at >= (SELECT t FROM bench_floor_start) "
                    "   AND step <> ''; "
                    "DELETE FROM wafa.outbox o WHERE %s" % mine)
            pg.psql("VACUUM wafa.journal", timeout=3600)
            pg.psql("VACUUM wafa.outbox", timeout=3600)
    rounds.sort(key=lambda rows: pct(rows, 99) if rows else 0)
    rows = rounds[len(rounds) // 2]
    return {"rows": len(rows), "to_outbox_row": summary(rows),
            "all_queued_after_s": round(max(rows), 3) if rows else None,
            "rounds_p99": [pct(r, 99) for r in rounds]}


def updates(pg, count, rate=1000):
    ids = [int(r[0]) for r in pg.psql("SELECT id FROM tickets WHERE subject LIKE 'Printer%%' "
                                      "ORDER BY id LIMIT %d" % count)]
    lo, hi = ids[0], ids[-1]
    # one session, one commit per UPDATE, paced to `rate` a second
    pg.psql("DO $$ DECLARE t0 timestamptz := clock_timestamp(); i int := 0; r bigint; BEGIN "
            "FOR r IN SELECT id FROM tickets WHERE id BETWEEN %d AND %d "
            "         AND subject LIKE 'Printer%%' ORDER BY id LOOP "
            "  UPDATE tickets SET created_at = clock_timestamp() - interval '1 day' WHERE id = r; "
            "  COMMIT; i := i + 1; "
            "  PERFORM pg_sleep(greatest(0, extract(epoch FROM t0 + i * interval '%f ms' "
            "                                                - clock_timestamp()))); "
            "END LOOP; END $$" % (lo, hi, 1000.0 / rate), timeout=600)
    where = "o.ticket_id BETWEEN %d AND %d AND t.subject LIKE 'Printer%%'" % (lo, hi)
    wait_for(lambda: int(pg.value("SELECT count(*) FROM wafa.outbox o JOIN tickets t ON "
                                  "t.id = o.ticket_id WHERE " + where)) >= len(ids), 120, 0.2)
    lat = floats(pg, "SELECT extract(epoch FROM o.created_at - t.updated_at) FROM wafa.outbox o "
                     "JOIN tickets t ON t.id = o.ticket_id WHERE " + where)
    return {"updates": len(ids), "rate_per_s": rate, "update_to_outbox_row": summary(lat)}


def smtp_source(sink, sessions, count, one_connection=False):
    exe = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    t0 = time.time()
    subprocess.run([exe] + (["-d"] if one_connection else []) +
                   ["-s", str(sessions), "-m", str(count), "-l", "400",
                    "127.0.0.1:%d" % sink.port], check=True, stdout=subprocess.DEVNULL)
    return {"sessions": sessions, "messages": count, "seconds": round(time.time() - t0, 3),
            "mails_per_connection": "all" if one_connection else 1}


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000000, help="tickets seeded (default 1000000)")
    ap.add_argument("--burst", type=int, default=100000, help="deadlines due in one second")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="change a setting from the shipped one (a tuned run); repeatable")
    ap.add_argument("--margin", type=float, default=0,
                    help="seconds from the end of seeding to the burst's deadline "
                         "(default: 30 + 30 per million tickets)")
    ap.add_argument("--updates", type=int, default=5000, help="UPDATEs at 1,000/s")
    ap.add_argument("--sent-wait", type=float, default=300,
                    help="seconds to wait for the burst's last 250 (default 300)")
    args = ap.parse_args()
    global SENT_WAIT
    SENT_WAIT = args.sent_wait
    # a SIGTERM ends the run through the harness's clean-ups (PostgreSQL, wafa)
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    margin = args.margin or 30 + 30 * (args.n + args.burst) / 1e6

    out = {"n": args.n, "burst_deadlines": args.burst}
    pg = Postgres()
    sink = Sink()
    shipped = shipped_mail_settings()
    changed = dict(kv.split("=", 1) for kv in args.set)
    conf = dict(shipped, **changed)
    out["config"] = {"shipped": shipped, "changed": changed}
    conf["log.level"] = "info"
    w = Wafa(pg, transport="smtp://127.0.0.1:%d" % sink.port, rules={"bench.lua": RULE},
             conf=conf)
    sessions = int(conf["mail.sessions"])
    out["sessions"] = sessions
    if w.setup().returncode != 0:
        sys.exit("wafa setup failed")
    t0 = time.time()
    note('seed')
    seed(pg, args.n)
    if args.burst:
        due = time.time() + margin
        burst_ids = seed_burst(pg, args.burst, due)
        note("due %.3f" % due)
    out["seed_s"] = round(time.time() - t0, 1)

    note('cold_start')
    took, line = cold_start(w)
    out["cold_start_s"] = round(took, 2)
    out["snapshot"] = line
    pid = w.proc.pid
    peak = status_kib(pid, "VmHWM")
    out["peak_rss_mib"] = round(peak / 1024.0, 1)
    watched = args.n + args.burst  # the burst's tickets are indexed from the start too
    out["peak_rss_per_ticket_b"] = round(peak * 1024.0 / watched, 1)
    time.sleep(1)
    steady = status_kib(pid, "VmRSS")
    out["steady_rss_mib"] = round(steady / 1024.0, 1)
    out["steady_rss_per_ticket_b"] = round(steady * 1024.0 / watched, 1)
    # how much of it glibc has in 2 MB pages (wafa run asks for them)
    with open("/proc/%d/smaps_rollup" % pid) as f:
        huge = [int(l.split()[1]) for l in f if l.startswith("AnonHugePages:")]
    out["huge_pages_mib"] = round((huge[0] if huge else 0) / 1024.0, 1)

    if STATEMENTS:
        pg.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        pg.psql("SELECT pg_stat_statements_reset()")
    note('single')
    out["single_to_smtp_250"] = single(pg)
    if args.burst:
        note('burst')
        out["burst"] = burst(pg, args.burst, due, burst_ids)
    if STATEMENTS:
        # calls | exec ms | mean ms | planning ms | statement (wall times:
        # statements that run at once share the cores)
        for r in pg.psql("SELECT calls, round(total_exec_time::numeric, 1), "
                         "round(mean_exec_time::numeric, 2), round(total_plan_time::numeric, 1), "
                         "left(regexp_replace(query, '\\s+', ' ', 'g'), 90) "
                         "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12"):
            note("statement %s" % " | ".join(r))
        for r in pg.psql("SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                         "WHERE relname IN ('outbox', 'journal')"):
            note("updates (all, HOT) %s" % " | ".join(r))
    if args.updates:
        note('updates')
        out["updates"] = updates(pg, args.updates)
    out["peak_rss_end_mib"] = round(status_kib(pid, "VmHWM") / 1024.0, 1)
    w.stop(60)
    note('read_floor')
    out["cold_start_read_floor"] = read_floor(pg)
    if args.burst:
        note('floor')
        out["floor_fresh_tables"] = floor(pg, w, burst_ids, True)
        out["floor"] = floor(pg, w, burst_ids, False)
        note('smtp_source')
        out["smtp_source"] = smtp_source(sink, sessions, args.burst)
        out["smtp_source_one_connection"] = smtp_source(sink, sessions, args.burst, True)
        b, f = out["burst"], out["floor"]
        out["ratios"] = {
            "cold_start_over_read_floor": ratio(out["cold_start_s"],
                                                out["cold_start_read_floor"]["seconds"]),
            "all_sent_over_smtp_source": ratio(b["all_sent_after_s"],
                                               out["smtp_source"]["seconds"]),
            "all_sent_over_smtp_source_one_connection": ratio(
                b["all_sent_after_s"], out["smtp_source_one_connection"]["seconds"]),
            "queued_p99_over_floor_p99": ratio(b["to_outbox_row"]["p99"],
                                               f["to_outbox_row"]["p99"]),
            "queued_all_over_floor_all": ratio(b["all_queued_after_s"], f["all_queued_after_s"]),
            "queued_p99_over_fresh_floor_p99": ratio(b["to_outbox_row"]["p99"],
                                                     out["floor_fresh_tables"]["to_outbox_row"]["p99"]),
            "targets": "all_sent <= 1.25; queued p99 <= 1 s and <= 1.5x the floor",
        }
    sink.stop()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
