#!/usr/bin/python3
"""Benchmark, printing figures (no assertions): the cold start of many open
tickets, half of them under calendar rules (business time), against the
same tickets under wall-clock rules only; and business-time computations
per second.  From the product issue: "With 1M tickets, half of them under
calendar rules: cold start within 1.5x of the same tickets without
calendars, and the business-time deadline computations per second."

    tests/bench/run                       (builds first, runs every benchmark)
    WAFA_BIN=$PWD/wafa tests/bench/business_time.py [TICKETS]

Environment (an argument wins over WAFA_BENCH_TICKETS):
  WAFA_BENCH_TICKETS       tickets for the cold starts (default 1000000)
  WAFA_BENCH_RUNS          cold starts per variant (default 3; medians printed)
  WAFA_BENCH_WINDOW        "future" (default) or "past": see below
  WAFA_BENCH_DUE_TICKETS   sizes for part 2, comma-separated (default
                           "10000,40000"; "0" skips part 2)
  WAFA_BENCH_SETTLE        seconds to wait, after the snapshot line, for
                           wafa to go idle (default 120)
  WAFA_BENCH_CALENDAR_SPEED  the program built from tests/bench/calendar_speed.c
                           (tests/bench/run builds tests/tmp/calendar_speed): part 3

The tickets: open (status new, no first reply, nothing solved), in three
queues: Support (half), Egypt and Germany (a quarter each), created at
random times (fixed seed) over 30 days, so the clocks start at every hour
of the day and week, in business hours and not, across weekends and
holidays.  The rules, the same six in both variants: for each queue a first
response "8h" (warn at 75%) and a resolution "3d", chosen by `when` on the
queue.  Variant A: all wall-clock.  Variant B: the Egypt rules on a Cairo
calendar (Sun-Thu 09:00-17:00, Gregorian and Hijri holidays), the Germany
rules on a split shift in Berlin (Mon-Fri 09:00-12:00,13:00-17:00), so half
the tickets are under calendar rules; Support stays wall-clock.  Each
ticket has three deadlines (warn, first-response breach, resolution
breach); wafa computes each step twice at start, for the journal's
timeline and for the schedule.

Part 1, the cold start: the 30 days lie after the start (WAFA_BENCH_WINDOW
= future), so no step is due yet and the cold start is the snapshot and
the scheduling of every deadline.  Over the 30 days before it (past),
nearly all of 1M tickets' 3M steps are due at start and wafa fires them
between the snapshot's pages: the time to the snapshot line is then the
firing of millions of steps, far longer than this benchmark may run, and
shorter with calendars (fewer steps are due), so it says nothing about
business time (part 2 measures it at small sizes).  Computing a deadline
costs the same whichever side of now it falls; what the future window
leaves out besides the firing is journaling each track's "started" (it
lies ahead), the same work in both variants.

Part 2, due at start: the 30 days before the start, at small sizes, one
cold start per variant: the steps already due fire during the snapshot.

Part 3, calendar_speed: wafa_calendar_add / _elapsed calls per second.

The actions do nothing (function(t, s) end): a step that fires is
checked, recorded in wafa.fired and journaled, but queues no mail, so the
figures are about reading, scheduling and firing, not about delivering
mail.  The transport is a maildir in a temporary directory all the same.
Before every cold start wafa is stopped and its journal, status_log,
journal_mark, fired and outbox are emptied, so each start does the same
work.  Runs alternate A, B, A, B, ...  The wafa log of every run is
searched for warn and error lines; they are counted and the first shown.
The last line is one JSON object with every figure.
"""
import atexit
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import Postgres, Wafa  # noqa: E402

QUEUES = [("Support", None), ("Egypt", "cairo"), ("Germany", "berlin")]

CALENDARS = r'''
calendar "cairo" {
  timezone = "Africa/Cairo",
  hours = { sun = "09:00-17:00", mon = "09:00-17:00", tue = "09:00-17:00",
            wed = "09:00-17:00", thu = "09:00-17:00" },
  holidays = { "01-07", "01-25", "04-25", "05-01", "06-30", "07-23", "10-06",
               "2026-11-12", "2026-11-26", hijri "10-01", hijri "10-02", hijri "12-10",
               hijri "12-11", hijri "01-01" },
}

calendar "berlin" {
  timezone = "Europe/Berlin",
  hours = { mon = "09:00-12:00,13:00-17:00", tue = "09:00-12:00,13:00-17:00",
            wed = "09:00-12:00,13:00-17:00", thu = "09:00-12:00,13:00-17:00",
            fri = "09:00-12:00,13:00-17:00" },
  holidays = { "01-01", "05-01", "10-03", "12-25", "12-26", "2026-11-18" },
}
'''

RULE = r'''
sla "frt-%(q)s" {
  stop = "first_reply_at", target = "8h",%(cal)s
  when = function(t) return t.queue == "%(Q)s" end,
  warn = { "75%%" }, on_warn = noop,
  on_breach = noop,
}

sla "res-%(q)s" {
  stop = "solved_at", target = "3d",%(cal)s
  when = function(t) return t.queue == "%(Q)s" end,
  on_breach = noop,
}
'''


def rules_text(calendars):
    out = ["-- tests/bench/business_time.py, variant %s" % ("B" if calendars else "A"),
           "local function noop(t, s) end"]
    if calendars:
        out.append(CALENDARS)
    for q, cal in QUEUES:
        c = '\n  calendar = "%s",' % cal if calendars and cal else ""
        out.append(RULE % {"q": q.lower(), "Q": q, "cal": c})
    return "\n".join(out)


def load_tickets(pg, n, window):
    """Replaces the helpdesk's tickets by n open ones created over the 30
    days before now (past) or after it (future).  The NOTIFY trigger is off
    meanwhile: no wafa runs, and a million notifications would only slow
    the insert."""
    when = ("now() + interval '1 minute' + random() * interval '30 days'" if window == "future"
            else "now() - random() * interval '30 days'")
    pg.psql("TRUNCATE tickets, messages RESTART IDENTITY; "
            "ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket; "
            "SELECT setseed(0.25); "
            "INSERT INTO tickets (subject, queue, owner_email, created_at, updated_at) "
            "SELECT 'bench ' || g, CASE g %% 4 WHEN 0 THEN 'Egypt' WHEN 1 THEN 'Germany' "
            "ELSE 'Support' END, 'agent@example.com', c, least(c, now()) "
            "FROM (SELECT g, %s AS c FROM generate_series(1, %d) g) s; "
            "ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket" % (when, n), timeout=1800)
    pg.psql("VACUUM ANALYZE tickets", timeout=1800)


def proc_status(pid):
    """VmHWM, VmRSS (KiB) and CPU seconds (user + system) of pid."""
    out = {"VmHWM": 0, "VmRSS": 0, "cpu": 0.0}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k = line.split(":")[0]
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(line.split()[1])
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out["cpu"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass
    return out


class LogTail:
    """Reads a wafa log from an offset on, a little at a time (a firing
    logs a line, and there may be a million), keeping the problem lines."""

    LEVEL = re.compile(r"^\S+Z (warn|error) ")

    def __init__(self, path, offset):
        self.f = open(path, "rb")
        self.f.seek(offset)
        self.partial = b""
        self.snapshot = None
        self.problems = []
        self.nproblems = 0
        self.fires = 0

    def poll(self):
        data = self.f.read()
        if not data:
            return
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            if b" fire: rule=" in raw and b" queued" in raw:
                self.fires += 1
                continue
            line = raw.decode("utf-8", errors="replace")
            if self.snapshot is None and " snapshot: " in line:
                self.snapshot = line
            if self.LEVEL.match(line) or "out of memory" in line:
                self.nproblems += 1
                if len(self.problems) < 20:
                    self.problems.append(line)

    def close(self):
        self.f.close()


def reset(pg):
    pg.psql("TRUNCATE wafa.journal, wafa.status_log, wafa.journal_mark, "
            "wafa.outbox; CHECKPOINT", timeout=300)


def cold_start(pg, w, label, settle):
    """Empties wafa's tables, starts wafa, waits for its snapshot line,
    then (up to settle seconds) for it to go idle; measures; stops it."""
    reset(pg)
    t0 = time.monotonic()
    w.start(wait_ready=False)
    pid = w.proc.pid
    tail = LogTail(w.logfile, w.log_offset)
    r = {"variant": label}
    peak = 0
    while True:
        peak = max(peak, proc_status(pid)["VmHWM"])
        tail.poll()
        if tail.snapshot:
            r["snapshot_s"] = time.monotonic() - t0
            break
        if w.proc.poll() is not None:
            raise RuntimeError("wafa exited with %d before its snapshot:\n%s"
                               % (w.proc.returncode, w.log(current=True)[-4000:]))
        if time.monotonic() - t0 > 3600:
            raise RuntimeError("no snapshot line after an hour")
        time.sleep(0.02)
    st = proc_status(pid)
    m = re.search(r"snapshot: (\d+) tickets, (\d+) deadlines", tail.snapshot)
    r["tickets"], r["deadlines"] = int(m.group(1)), int(m.group(2))
    r["cpu_at_snapshot_s"] = st["cpu"]
    r["hwm_at_snapshot_kib"] = max(peak, st["VmHWM"])
    r["rss_at_snapshot_kib"] = st["VmRSS"]
    r["fired_at_snapshot"] = tail.fires
    # then the steps already due fire: idle is when wafa's CPU time has
    # stood still, and no firing been logged, for 2 s
    end = time.monotonic() + settle
    last_cpu, last_fires, still = st["cpu"], tail.fires, 0
    while time.monotonic() < end and still < 4:
        time.sleep(0.5)
        tail.poll()
        cur = proc_status(pid)
        still = still + 1 if cur["cpu"] - last_cpu < 0.02 and tail.fires == last_fires else 0
        last_cpu, last_fires = cur["cpu"], tail.fires
    r["idle"] = still >= 4
    r["idle_s"] = time.monotonic() - t0 - (2.0 if r["idle"] else 0.0)
    st = proc_status(pid)
    r["hwm_kib"] = st["VmHWM"]
    r["rss_steady_kib"] = st["VmRSS"]
    r["cpu_s"] = st["cpu"]
    r["fired"] = tail.fires
    t1 = time.monotonic()
    r["exit"] = w.stop(timeout=60)
    r["stop_s"] = time.monotonic() - t1
    tail.poll()
    r["problems"] = tail.nproblems
    r["problem_lines"] = tail.problems
    tail.close()
    return r


def mib(kib):
    return kib / 1024.0


def fmt_run(r):
    return ("  %s: snapshot line after %.2f s (wafa CPU %.2f s): %d tickets, %d deadlines, "
            "%d steps fired by then; RSS %.0f MiB\n"
            "     %s %.1f s after start (wafa CPU %.1f s): %d steps fired; RSS %.0f MiB, "
            "peak %.0f MiB; stopped in %.1f s, exit %s; %d warn/error lines"
            % (r["variant"], r["snapshot_s"], r["cpu_at_snapshot_s"], r["tickets"], r["deadlines"],
               r["fired_at_snapshot"], mib(r["rss_at_snapshot_kib"]),
               "idle" if r["idle"] else "still busy", r["idle_s"], r["cpu_s"], r["fired"],
               mib(r["rss_steady_kib"]), mib(r["hwm_kib"]), r["stop_s"], r["exit"],
               r["problems"]))


def show_problems(r):
    for line in r["problem_lines"][:5]:
        print("     log: " + line)
    if r["problems"] > 5:
        print("     log: ... %d more" % (r["problems"] - 5))


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def rnd(x, nd=3):
    return None if x is None else round(x, nd)


def make_wafas(pg, maildir):
    conf = {"log.level": "info"}
    ws = {}
    for label in ("A", "B"):
        w = Wafa(pg, "maildir:" + maildir, rules={"bench.lua": rules_text(label == "B")},
                 conf=conf)
        r = w.check()
        if r.returncode != 0:
            raise RuntimeError("wafa check, variant %s:\n%s%s" % (label, r.stdout, r.stderr))
        ws[label] = w
    r = ws["A"].setup()
    if r.returncode != 0:
        raise RuntimeError("wafa setup:\n%s%s" % (r.stdout, r.stderr))
    return ws


def part1(pg, ws, n, nruns, window, settle):
    t0 = time.monotonic()
    load_tickets(pg, n, window)
    t_insert = time.monotonic() - t0
    span = pg.psql("SELECT to_char(min(created_at), 'YYYY-MM-DD HH24:MI'), "
                   "to_char(max(created_at), 'YYYY-MM-DD HH24:MI'), "
                   "count(*) FILTER (WHERE queue <> 'Support') FROM tickets")[0]
    print("part 1, cold start: %d open tickets created %s .. %s UTC, %s; %s of them in the "
          "calendar queues; inserted in %.1f s; %d cold starts per variant"
          % (n, span[0], span[1], "after the start, so no step is due at start"
             if window == "future" else "before the start, so nearly every step is due at start",
             span[2], t_insert, nruns))
    sys.stdout.flush()
    runs = {"A": [], "B": []}
    for _ in range(nruns):
        for label in ("A", "B"):
            r = cold_start(pg, ws[label], label, settle)
            runs[label].append(r)
            print(fmt_run(r))
            show_problems(r)
            sys.stdout.flush()
    A, B = runs["A"], runs["B"]
    a_s, b_s = med(A, "snapshot_s"), med(B, "snapshot_s")
    a_c, b_c = med(A, "cpu_at_snapshot_s"), med(B, "cpu_at_snapshot_s")
    print("cold start, start to the snapshot line, median of %d: A (wall clock) %.2f s, "
          "B (half on calendars) %.2f s; B/A %.2f (the issue asks at most 1.5)"
          % (nruns, a_s, b_s, b_s / a_s))
    print("  wafa CPU by the snapshot line: A %.2f s, B %.2f s, B/A %.2f; per ticket A %.1f us, "
          "B %.1f us" % (a_c, b_c, b_c / a_c, a_c * 1e6 / n, b_c * 1e6 / n))
    print("  deadlines: A %d, B %d; steps fired by the snapshot line: A %d, B %d"
          % (med(A, "deadlines"), med(B, "deadlines"), med(A, "fired_at_snapshot"),
             med(B, "fired_at_snapshot")))
    print("  RSS at the snapshot line: A %.0f MiB, B %.0f MiB; when idle: A %.0f MiB, "
          "B %.0f MiB; peak (VmHWM): A %.0f MiB, B %.0f MiB"
          % (mib(med(A, "rss_at_snapshot_kib")), mib(med(B, "rss_at_snapshot_kib")),
             mib(med(A, "rss_steady_kib")), mib(med(B, "rss_steady_kib")),
             mib(med(A, "hwm_kib")), mib(med(B, "hwm_kib"))))
    sys.stdout.flush()
    return {
        "tickets": n, "runs": nruns, "window": window, "insert_s": rnd(t_insert, 2),
        "cold_start_a_s": rnd(a_s), "cold_start_b_s": rnd(b_s),
        "cold_start_ratio_b_a": rnd(b_s / a_s), "cpu_a_s": rnd(a_c), "cpu_b_s": rnd(b_c),
        "cpu_ratio_b_a": rnd(b_c / a_c),
        "deadlines_a": med(A, "deadlines"), "deadlines_b": med(B, "deadlines"),
        "fired_at_snapshot_a": med(A, "fired_at_snapshot"),
        "fired_at_snapshot_b": med(B, "fired_at_snapshot"),
        "rss_snapshot_a_kib": med(A, "rss_at_snapshot_kib"),
        "rss_snapshot_b_kib": med(B, "rss_at_snapshot_kib"),
        "rss_steady_a_kib": med(A, "rss_steady_kib"), "rss_steady_b_kib": med(B, "rss_steady_kib"),
        "hwm_a_kib": med(A, "hwm_kib"), "hwm_b_kib": med(B, "hwm_kib"),
        "idle_a_s": rnd(med(A, "idle_s"), 2), "idle_b_s": rnd(med(B, "idle_s"), 2),
        "log_problems": sum(r["problems"] for r in A + B),
        "detail": {k: [{kk: (rnd(vv) if isinstance(vv, float) else vv)
                        for kk, vv in r.items() if kk != "problem_lines"} for r in v]
                   for k, v in runs.items()},
    }


def part2(pg, ws, sizes, settle):
    print("part 2, steps due at start: open tickets created over the 30 days before the start "
          "(nearly every step due), one cold start per variant and size")
    out = []
    for n in sizes:
        load_tickets(pg, n, "past")
        for label in ("A", "B"):
            r = cold_start(pg, ws[label], label, settle)
            print(fmt_run(r))
            show_problems(r)
            rate = r["fired"] / r["idle_s"] if r["idle_s"] > 0 else 0
            print("     %d tickets: snapshot line after %.2f s (%.0f us a ticket); %d steps fired "
                  "in %.1f s from start, %.0f a second"
                  % (n, r["snapshot_s"], r["snapshot_s"] * 1e6 / n, r["fired"], r["idle_s"],
                     rate))
            sys.stdout.flush()
            out.append({"tickets": n, "variant": label, "snapshot_s": rnd(r["snapshot_s"]),
                        "deadlines": r["deadlines"], "fired_at_snapshot": r["fired_at_snapshot"],
                        "fired": r["fired"], "idle": r["idle"], "idle_s": rnd(r["idle_s"], 2),
                        "fired_per_s": round(rate), "cpu_s": r["cpu_s"],
                        "rss_steady_kib": r["rss_steady_kib"], "log_problems": r["problems"]})
    return out


def part3(prog):
    print("part 3, business-time computations (tests/bench/calendar_speed):")
    sys.stdout.flush()
    p = subprocess.run([prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    figures = None
    for line in p.stdout.decode("utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            figures = json.loads(line)
        else:
            print(line)
    if p.returncode != 0:
        print("calendar_speed exited with %d: %s"
              % (p.returncode, p.stderr.decode("utf-8", errors="replace")))
    return figures


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("WAFA_BENCH_TICKETS",
                                                                        "1000000"))
    nruns = int(os.environ.get("WAFA_BENCH_RUNS", "3"))
    window = os.environ.get("WAFA_BENCH_WINDOW", "future")
    settle = float(os.environ.get("WAFA_BENCH_SETTLE", "120"))
    sizes = [int(x) for x in os.environ.get("WAFA_BENCH_DUE_TICKETS", "10000,40000").split(",")
             if x.strip() and int(x) > 0]
    prog = os.environ.get("WAFA_BENCH_CALENDAR_SPEED")
    if window not in ("future", "past"):
        print("WAFA_BENCH_WINDOW: use future or past")
        return 2
    t_all = time.monotonic()
    print("business time: cold start with half the tickets under calendar rules (B) or none (A)")
    pg = Postgres()
    maildir = tempfile.mkdtemp(prefix="wafa-bench-mail-", dir="/tmp")
    atexit.register(shutil.rmtree, maildir, True)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub))
    ws = make_wafas(pg, maildir)
    summary = {"bench": "business_time"}
    summary["cold_start"] = part1(pg, ws, n, nruns, window, settle)
    summary["due_at_start"] = part2(pg, ws, sizes, settle) if sizes else None
    summary["calendar_speed"] = part3(prog) if prog else None
    mails = len(os.listdir(os.path.join(maildir, "new")))
    if mails:
        print("(%d mails in the maildir: the actions were to send none)" % mails)
    summary["total_s"] = round(time.monotonic() - t_all, 1)
    print("total %.0f s" % summary["total_s"])
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
