#!/usr/bin/python3
"""wafa simulate: the engine on virtual time over fixture tickets (warnings,
escalation chains, pauses, reopen that resumes or restarts, targets from a
function, promises, business calendars with weekends, Hijri holidays, DST
and notify_in = "business"); that it writes nothing; and that what it
predicts is what `wafa run` then sends."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULES = dedent('''
    calendar "cairo" {
      timezone = "Africa/Cairo",
      hours = { sun = "09:00-17:00", mon = "09:00-17:00", tue = "09:00-17:00",
                wed = "09:00-17:00", thu = "09:00-17:00" },       -- Fri/Sat weekend
      holidays = { hijri "12-10" },                               -- Eid al-Adha
    }
    calendar "berlin-24x7" {
      timezone = "Europe/Berlin",
      hours = { sun = "00:00-24:00", mon = "00:00-24:00", tue = "00:00-24:00",
                wed = "00:00-24:00", thu = "00:00-24:00", fri = "00:00-24:00",
                sat = "00:00-24:00" },
    }
    local function to(addr) return function(t, s)
      mail { to = addr, subject = s.rule .. " " .. s.phase .. " #" .. t.ref }
    end end
    sla "first-response" {
      when = function(t) return t.queue == "Plain" end,
      stop = "first_reply_at", target = "8h", pause = { "pending" },
      warn = { "75%" }, on_warn = to("owner@example.com"),
      on_breach = { to("owner@example.com"), after "2h" (to("lead@example.com")) },
    }
    sla "resolution" {
      when = function(t) return t.queue == "Reopen" end,
      stop = "solved_at", target = "8h", on_breach = to("owner@example.com"),
    }
    sla "resolution-restart" {
      when = function(t) return t.queue == "Reopen" end,
      stop = "solved_at", target = "8h", restart_on_reopen = true,
      on_breach = to("owner@example.com"),
    }
    sla "tiered" {
      when = function(t) return t.queue == "Tier" end,
      target = function(t) if t.extra.tier == "gold" then return "2h" end return 8 * 3600 end,
      on_breach = to("owner@example.com"),
    }
    sla "cairo-business" {
      when = function(t) return t.queue == "Cairo" end,
      calendar = "cairo", target = "4h", on_breach = to("owner@example.com"),
    }
    sla "berlin-day" {
      when = function(t) return t.queue == "Berlin" end,
      calendar = "berlin-24x7", target = "24h", on_breach = to("owner@example.com"),
    }
    promise "callback" {
      when = function(t) return t.queue == "Promise" end,
      at = "due_at", warn = { "2h" }, on_warn = to("owner@example.com"),
      on_breach = to("lead@example.com"),
    }
    followup "survey" {
      when = function(t) return t.queue == "Follow" end,
      since = "solved_at", after = "2h", on_due = to("customer@example.com"),
    }
    followup "nag" {
      when = function(t) return t.queue == "Nag" end,
      since = "created_at", after = "1h", every = "1h", max = 3,
      unless = function(t, s) return s.count == 2 end,
      on_due = to("customer@example.com"),
    }
    promise "callback-business" {
      when = function(t) return t.queue == "PromiseCairo" end,
      at = "due_at", calendar = "cairo", notify_in = "business",
      on_breach = to("lead@example.com"),
    }
''')


def ticket(pg, subject, queue, created, **cols):
    cols = dict(subject=subject, queue=queue, created_at=created, updated_at=created, **cols)
    names = ", ".join(cols)
    values = ", ".join(pg.quote(v) for v in cols.values())
    return int(pg.value("INSERT INTO tickets (%s) VALUES (%s) RETURNING id" % (names, values)))


def status_log(pg, tid, *changes):
    """changes: (at, old, new): what `wafa run` would have journaled."""
    for at, old, new in changes:
        pg.psql("INSERT INTO wafa.status_log (ticket_id, at, old_status, new_status, inferred) "
                "VALUES (%d, %s, %s, %s, false)" % (tid, pg.quote(at), pg.quote(old), pg.quote(new)))


def simulate(w, frm, to):
    r = w.command("simulate", "--from", frm, "--to", to, "--json")
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    return r, lines


def of(lines, tid, rule=None, kinds=None):
    return [(e["at"], e["event"]) + ((e["to"],) if e["event"] == "mail" else ())
            for e in lines if e["ticket"] == tid and (rule is None or e["rule"] == rule)
            and (kinds is None or e["event"] in kinds)]


def main():
    require_wafa()
    plan(24)
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"rules.lua": RULES})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    r = w.check()
    ok(r.returncode == 0, "wafa check accepts calendars, promises and the new fields",
       diag=show(r))

    # a plain first-response SLA: warning at 75%, breach, escalation 2 h later
    a = ticket(pg, "plain", "Plain", "2026-03-01T08:00:00Z")
    # pending from 09:00 to 12:00: the clock stops for 3 h
    b = ticket(pg, "paused", "Plain", "2026-03-01T08:00:00Z")
    status_log(pg, b, ("2026-03-01T09:00:00Z", "new", "pending"),
               ("2026-03-01T12:00:00Z", "pending", "open"))
    # solved at 10:00, reopened at 13:00 (solved_at stays, as RT and this helpdesk keep it)
    c = ticket(pg, "reopened", "Reopen", "2026-03-01T08:00:00Z",
               solved_at="2026-03-01T10:00:00Z")
    status_log(pg, c, ("2026-03-01T10:00:00Z", "new", "solved"),
               ("2026-03-01T13:00:00Z", "solved", "open"))
    # target from a function of extra
    d = ticket(pg, "gold customer", "Tier", "2026-03-01T08:00:00Z", extra='{"tier": "gold"}')
    e = ticket(pg, "other customer", "Tier", "2026-03-01T08:00:00Z")
    # a promise due at 20:00 with a warning 2 h before
    f = ticket(pg, "promised", "Promise", "2026-03-01T07:00:00Z", due_at="2026-03-01T20:00:00Z")

    # solved at 10:00, reopened at 11:00, solved again at 12:00 (solved_at kept at 10:00)
    fu = ticket(pg, "solved twice", "Follow", "2026-03-01T08:00:00Z", status="solved",
                solved_at="2026-03-01T10:00:00Z")
    status_log(pg, fu, ("2026-03-01T10:00:00Z", "new", "solved"),
               ("2026-03-01T11:00:00Z", "solved", "open"),
               ("2026-03-01T12:00:00Z", "open", "solved"))
    nag = ticket(pg, "nag", "Nag", "2026-03-01T08:00:00Z")
    # 70 status changes, a minute each way from 09:00: 35 minutes pending, more
    # stretches than a track keeps (64)
    flap = ticket(pg, "flapping", "Plain", "2026-03-01T08:00:00Z")
    status_log(pg, flap, *[("2026-03-01T09:%02d:00Z" % k, "open" if k % 2 == 0 else "pending",
                            "pending" if k % 2 == 0 else "open") for k in range(60)])
    status_log(pg, flap, *[("2026-03-01T10:%02d:00Z" % k, "open" if k % 2 == 0 else "pending",
                            "pending" if k % 2 == 0 else "open") for k in range(10)])

    r, lines = simulate(w, "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z")
    if not ok(r.returncode == 0 and lines, "simulate --json prints the day's events", diag=show(r)):
        return
    is_(of(lines, fu, kinds=("started", "due")),
        [("2026-03-01T12:00:00Z", "started"), ("2026-03-01T14:00:00Z", "due")],
        "a follow-up after a re-solve counts from the new solve (the reopen cancelled the first)")
    is_(of(lines, flap, kinds=("breach",)), [("2026-03-01T16:35:00Z", "breach")],
        "70 status changes: the 35 paused minutes all count (the breach at 16:35)")
    r = w.command("simulate", "--from", "2026-03-01T00:00:00Z", "--to", "2026-03-02T00:00:00Z",
                  "--tz", "Asia/Tehran")
    rows = [l.split() for l in r.stdout.splitlines()]
    ok(r.returncode == 0 and rows and rows[0][:3] == ["TIME", "(Asia/Tehran)", "TICKET"]
       and ["2026-03-01T20:05:00+03:30", str(flap), "first-response", "breach", "breach"]
       in [x[:5] for x in rows],
       "--tz Asia/Tehran: the 16:35Z breach shows as 20:05+03:30", diag=show(r))
    r = w.command("simulate", "--from", "now", "--to", "now+1d", "--tz", "Mars/Olympus")
    ok(r.returncode == 64 and "Mars/Olympus" in r.stderr and "IANA" in r.stderr,
       "--tz with an unknown zone: exit 64 naming it", diag=show(r))
    is_(of(lines, nag, kinds=("due", "cancelled", "mail")),
        [("2026-03-01T09:00:00Z", "due"), ("2026-03-01T09:00:00Z", "mail", "customer@example.com"),
         ("2026-03-01T10:00:00Z", "cancelled"),
         ("2026-03-01T11:00:00Z", "due"), ("2026-03-01T11:00:00Z", "mail", "customer@example.com")],
        "every 1h, max 3: the second skipped by unless, no fourth")
    is_(of(lines, a), [
        ("2026-03-01T08:00:00Z", "started"),
        ("2026-03-01T14:00:00Z", "warn"), ("2026-03-01T14:00:00Z", "mail", "owner@example.com"),
        ("2026-03-01T16:00:00Z", "breach"), ("2026-03-01T16:00:00Z", "mail", "owner@example.com"),
        ("2026-03-01T18:00:00Z", "escalate"), ("2026-03-01T18:00:00Z", "mail", "lead@example.com"),
    ], "warn at 75%, breach at 8 h, escalation 2 h after, each with its mail")
    is_(of(lines, b, kinds=("started", "paused", "resumed", "breach")), [
        ("2026-03-01T08:00:00Z", "started"), ("2026-03-01T09:00:00Z", "paused"),
        ("2026-03-01T12:00:00Z", "resumed"), ("2026-03-01T19:00:00Z", "breach"),
    ], "a pending ticket's clock stops: the breach moves 3 h later")
    is_(of(lines, c, "resolution", ("started", "met", "resumed", "breach")), [
        ("2026-03-01T08:00:00Z", "started"), ("2026-03-01T10:00:00Z", "met"),
        ("2026-03-01T13:00:00Z", "resumed"), ("2026-03-01T19:00:00Z", "breach"),
    ], "a reopen resumes the resolution clock where it stopped (2 h used, 6 h left)")
    is_(of(lines, c, "resolution-restart", ("started", "breach")), [
        ("2026-03-01T13:00:00Z", "started"), ("2026-03-01T21:00:00Z", "breach"),
    ], "restart_on_reopen: a new instance from the reopen, a full 8 h")
    is_(of(lines, d, kinds=("breach",)), [("2026-03-01T10:00:00Z", "breach")],
        "target = function(t): 2 h for extra.tier gold")
    is_(of(lines, e, kinds=("breach",)), [("2026-03-01T16:00:00Z", "breach")],
        "target = function(t): seconds for the others")
    is_(of(lines, f), [
        ("2026-03-01T07:00:00Z", "started"),
        ("2026-03-01T18:00:00Z", "warn"), ("2026-03-01T18:00:00Z", "mail", "owner@example.com"),
        ("2026-03-01T20:00:00Z", "breach"), ("2026-03-01T20:00:00Z", "mail", "lead@example.com"),
    ], "a promise: a warning 2 h before the date, the breach at it")
    # the table a manager reads
    r = w.command("simulate", "--from", "2026-03-01T00:00:00Z", "--to", "2026-03-02T00:00:00Z")
    ok(r.returncode == 0 and "TIME (UTC)" in r.stdout.splitlines()[0]
       and "lead@example.com: first-response breach+2h #%d" % a in r.stdout,
       "without --json: an aligned table with the mails", diag=show(r))
    diag(r.stdout)

    # business time: Thursday 16:00 in Cairo (14:00Z), 4 business hours:
    # 1 h on Thursday, Fri/Sat closed, 3 h on Sunday: Sunday 12:00 (10:00Z)
    g = ticket(pg, "before the weekend", "Cairo", "2026-03-05T14:00:00Z")
    # Tuesday 16:00 before Eid al-Adha 1447 (Wednesday 2026-05-27 by Umm al-Qura), Cairo
    # on summer time (UTC+3): 1 h Tuesday, Wednesday closed, 3 h Thursday: 12:00 = 09:00Z
    h = ticket(pg, "before Eid", "Cairo", "2026-05-26T13:00:00Z")
    # a 24 h target on a 24/7 Berlin calendar over the autumn change (25 h local day):
    # 24 real hours, so 10:00Z (11:00 CET), not 11:00Z (12:00 CET, same wall time)
    i = ticket(pg, "over the DST change", "Berlin", "2026-10-24T10:00:00Z")
    # a promise due on a Friday (closed in Cairo) with notify_in = "business": held to
    # Sunday 09:00 Cairo (07:00Z)
    j = ticket(pg, "due on the weekend", "PromiseCairo", "2026-03-01T07:00:00Z",
               due_at="2026-03-06T08:00:00Z")
    r, lines = simulate(w, "2026-03-01T00:00:00Z", "2026-11-01T00:00:00Z")
    is_(of(lines, g, kinds=("breach",)), [("2026-03-08T10:00:00Z", "breach")],
        "business time skips a Fri/Sat weekend", diag=show(r))
    is_(of(lines, h, kinds=("breach",)), [("2026-05-28T09:00:00Z", "breach")],
        "business time skips a Hijri holiday (hijri \"12-10\")")
    is_(of(lines, i, kinds=("breach",)), [("2026-10-25T10:00:00Z", "breach")],
        "a 24/7 calendar counts real time across the autumn DST change")
    held = [x for x in lines if x["ticket"] == j and x["event"] == "breach"]
    is_([(x["at"], x.get("due")) for x in held],
        [("2026-03-08T07:00:00Z", "2026-03-06T08:00:00Z")],
        "notify_in = \"business\": a step due on the weekend fires when the calendar opens")

    # it writes nothing: no journal (transitions or fired steps), no outbox rows
    counts = pg.psql("SELECT (SELECT count(*) FROM wafa.journal), "
                     " (SELECT count(*) FROM wafa.outbox)")
    is_(counts, [["0", "0"]], "simulate writes nothing to the database")
    r = w.command("simulate", "--from", "yesterday", "--to", "now")
    ok(r.returncode == 64 and "\"yesterday\" is not a time" in r.stderr,
       "a bad --from is a usage error that says what to write", diag=show(r))

    # what simulate predicts for the next seconds is what run then sends
    pg.psql("DELETE FROM tickets")
    w.write_rule("rules.lua", dedent('''
        local function to(addr) return function(t, s)
          mail { to = addr, subject = s.rule .. " " .. s.phase .. " #" .. t.ref }
        end end
        sla "fr" { stop = "first_reply_at", target = "3s", pause = { "pending" },
          warn = { "50%" }, on_warn = to("owner@example.com"),
          on_breach = { to("owner@example.com"), after "2s" (to("lead@example.com")) } }
        promise "p" { at = "due_at", on_breach = to("promise@example.com") }
    '''))
    for k in range(4):
        pg.create_ticket("live %d" % k, status="pending" if k == 3 else "new")
    pg.psql("UPDATE tickets SET due_at = clock_timestamp() + interval '4 s' WHERE subject = 'live 1'")
    r, lines = simulate(w, "now", "now+8s")
    predicted = sorted((x["ticket"], x["rule"], x["phase"], x["to"], x["subject"])
                       for x in lines if x["event"] == "mail")
    w.start()
    time.sleep(9)
    sent = sorted((int(o["ticket_id"]), o["rule"], o["phase"], o["rcpt"], o["subject"])
                  for o in pg.outbox())
    ok(len(predicted) == 10, "simulate predicts 10 mails for the next 8 s", diag=repr(predicted))
    is_(sent, predicted, "wafa run then sends exactly what simulate predicted",
        diag=lambda: w.log()[-2000:])
    w.stop()


run(main)
