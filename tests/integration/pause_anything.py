#!/usr/bin/python3
"""Pause on anything (issue 21): an SLA's pause list takes the helpdesk's own
status names (raw "Waiting for vendor", any case) and a function of the
ticket beside the normalized statuses.  On a real PostgreSQL with the
generic adapter (its view's raw_status made the helpdesk's own name): the
clock stops and runs again on a raw status and on a function; a function
that raises is logged with its file and line, that ticket's clock runs, and
the other files' rules are untouched; a pause entry that is no status
disables its file only; business time is the same across restarts during
and after a pause (status_log keeps raw_status and paused_by); wafa simulate
shows the same pause; wafa test passes on rules/examples/vendor-wait.lua."""
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

VENDOR = dedent('''
    sla "vendor-wait" {
      stop = "first_reply_at", target = "4s",
      when = function(t) return t.queue == "Vendor" end,
      pause = { "pending", raw "Waiting for vendor",
                function(t) return t.extra.waiting_on == "vendor" end },
      on_breach = function(t, s)
        mail { to = "vendor@example.com", subject = "breach " .. t.ref }
      end,
    }
    sla "vendor-restart" {
      stop = "first_reply_at", target = "5s",
      when = function(t) return t.queue == "Restart" end,
      pause = { { raw = "on hold" } },
      on_breach = function(t, s)
        mail { to = "restart@example.com", subject = "breach " .. t.ref }
      end,
    }
''')

BROKEN = dedent('''
    sla "broken-pause" {
      stop = "first_reply_at", target = "2s",
      when = function(t) return t.queue == "Broken" end,
      pause = { function(t)
        return t.extra.missing.field == "x"
      end },
      on_breach = function(t, s)
        mail { to = "broken@example.com", subject = "breach " .. t.ref }
      end,
    }
''')

LOOP = dedent('''
    sla "looping-pause" {
      stop = "first_reply_at", target = "2s",
      when = function(t) return t.queue == "Loop" end,
      pause = { "pending", function(t) while true do end end },
      on_breach = function(t, s)
        mail { to = "loop@example.com", subject = "breach " .. t.ref }
      end,
    }
''')

TYPO = dedent('''
    sla "typo-pause" {
      target = "1h", pause = { "pending", "waiting for vendor" },
      on_breach = function(t, s) mail { to = "typo@example.com", subject = "x" } end,
    }
''')

# the generic sample's view with raw_status the helpdesk's own name
# (extra.state), as a real helpdesk's adapter gives it
VIEW = dedent('''
    CREATE OR REPLACE VIEW wafa_tickets AS
    SELECT t.id, t.id::text AS ref, t.subject, t.status,
           coalesce(t.extra->>'state', t.status) AS raw_status,
           t.priority, t.queue,
           t.customer_email, t.customer_name, t.customer_locale, t.customer_tz,
           t.owner_email, t.owner_name,
           t.created_at, t.first_reply_at, t.last_customer_at, t.last_agent_at,
           t.solved_at, t.due_at, t.updated_at,
           t.extra,
           (SELECT m.body FROM messages m
             WHERE m.ticket_id = t.id AND m.author = 'agent'
             ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_agent_body
      FROM tickets t;
''')


def set_extra(pg, tid, extra):
    """Sets the ticket's extra; returns its updated_at (epoch seconds)."""
    row = pg.psql("UPDATE tickets SET extra = %s::jsonb WHERE id = %d "
                  "RETURNING extract(epoch FROM updated_at)" % (pg.quote(json.dumps(extra)), tid))
    return float(row[0][0])


def journal(pg, tid, rule):
    """(event, at as epoch seconds) of the journal rows of (ticket, rule)."""
    rows = pg.psql("SELECT event, extract(epoch FROM at) FROM wafa.journal "
                   "WHERE ticket_id = %d AND rule = '%s' ORDER BY at, id" % (tid, rule))
    return [(r[0], float(r[1])) for r in rows]


def breach_at(pg, tid, rule, timeout):
    def got():
        return [at for ev, at in journal(pg, tid, rule) if ev == "breach"]
    found = wait_for(got, timeout)
    return found[0] if found else None


def main():
    require_wafa()
    plan(27)
    pg = Postgres()
    pg.psql(VIEW)
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"a-vendor.lua": VENDOR, "b-broken.lua": BROKEN,
                                  "c-typo.lua": TYPO, "d-loop.lua": LOOP})
    r = w.check()
    ok(r.returncode != 0 and "c-typo.lua:1: pause[2]: \"waiting for vendor\" is not a status"
       in r.stderr + r.stdout and 'write raw "waiting for vendor"' in r.stderr + r.stdout,
       "wafa check names the file and line of a pause entry that is no status, and suggests "
       "raw \"...\"", diag=show(r))
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0 (migration 10: status_log.raw_status, "
              "paused_by)", diag=show(r)):
        return
    w.start()
    ok(w.log_lines("c-typo.lua:1", "file disabled"),
       "wafa run disables the file with the bad pause entry", diag=w.log)

    # --- phase 1, side by side: a raw status, a function, a broken function
    raw_id, raw_created = pg.create_ticket("parts on order", queue="Vendor")
    fn_id, fn_created = pg.create_ticket("carrier", queue="Vendor")
    br_id, br_created = pg.create_ticket("broken", queue="Broken")
    lp_id, lp_created = pg.create_ticket("loop", queue="Loop")
    time.sleep(1.0)
    raw_p = set_extra(pg, raw_id, {"state": "WAITING FOR VENDOR"})  # another case
    fn_p = set_extra(pg, fn_id, {"waiting_on": "vendor"})
    time.sleep(2.0)
    raw_r = set_extra(pg, raw_id, {"state": "open"})
    fn_r = set_extra(pg, fn_id, {"waiting_on": "us"})

    got = breach_at(pg, raw_id, "vendor-wait", raw_created + 4 + (raw_r - raw_p) + 5 - time.time())
    expected = raw_created + 4 + (raw_r - raw_p)
    ok(got is not None and abs(got - expected) < 0.005,
       "raw status \"Waiting for vendor\" (in another case) stops the clock; \"open\" starts "
       "it again: the breach is 4 s of running time after the start",
       diag=lambda: "breach %r, expected %.3f; journal %r" % (got, expected,
                                                             journal(pg, raw_id, "vendor-wait")))
    is_([ev for ev, _ in journal(pg, raw_id, "vendor-wait")],
        ["started", "paused", "resumed", "breach"], "the journal tells the raw pause")
    paused = [at for ev, at in journal(pg, raw_id, "vendor-wait") if ev == "paused"]
    ok(paused and abs(paused[0] - raw_p) < 0.002, "the pause is dated by the row's updated_at",
       diag=lambda: "%r vs %.3f" % (paused, raw_p))
    got = breach_at(pg, fn_id, "vendor-wait", fn_created + 4 + (fn_r - fn_p) + 5 - time.time())
    expected = fn_created + 4 + (fn_r - fn_p)
    ok(got is not None and abs(got - expected) < 0.005,
       "a function of the ticket (extra.waiting_on == \"vendor\") stops and restarts the clock",
       diag=lambda: "breach %r, expected %.3f; journal %r" % (got, expected,
                                                             journal(pg, fn_id, "vendor-wait")))
    mails = wait_for(lambda: len(sink.messages_to("vendor@example.com")) >= 2 and
                     sink.messages_to("vendor@example.com"), 10)
    ok(mails and sorted(m["subject"] for m in mails) == sorted(["breach %d" % raw_id,
                                                                    "breach %d" % fn_id]),
       "each paused ticket gets its breach mail once", diag=sink.summary)

    lines = w.log_lines("rule=broken-pause", "ticket=%d" % br_id, "pause:", "b-broken.lua:5")
    ok(lines, "a pause function that raises is logged with the rule, the ticket and "
       "file:line", diag=w.log)
    ok(lines and "fix the function" in lines[0], "... and says what happens and what to do",
       diag=lambda: lines)
    got = breach_at(pg, br_id, "broken-pause", 5)
    ok(got is not None and abs(got - (br_created + 2)) < 0.005,
       "its ticket's clock runs (the error counts as not paused): breach 2 s after the start",
       diag=lambda: journal(pg, br_id, "broken-pause"))
    ok(not w.log_lines("rule=broken-pause", "ticket=%d" % raw_id),
       "the broken function is not asked of tickets its rule does not apply to", diag=w.log)
    got = breach_at(pg, lp_id, "looping-pause", 5)
    ok(w.log_lines("rule=looping-pause", "ticket=%d" % lp_id, "pause:") and got is not None
       and abs(got - (lp_created + 2)) < 0.005,
       "a pause function that runs over the rules' time budget is stopped and logged; its "
       "ticket's clock runs", diag=lambda: "%r\n%s" % (journal(pg, lp_id, "looping-pause"),
                                                     w.log()))
    ok(not w.log_lines("rule=vendor-wait", "pause:"),
       "the other file's pause functions run without errors", diag=w.log)

    # --- the journal keeps what paused
    rows = pg.psql("SELECT old_status, new_status, raw_status, paused_by::text FROM "
                   "wafa.status_log WHERE ticket_id = %d ORDER BY at" % raw_id)
    is_(rows, [["new", "new", "WAITING FOR VENDOR", "{vendor-wait}"],
               ["new", "new", "open", "{}"]],
        "status_log keeps each raw status change and the rules it paused")

    # --- restarts during and after a pause: the same business time
    x_id, x_created = pg.create_ticket("on hold across restarts", queue="Restart")
    time.sleep(1.0)
    x_p = set_extra(pg, x_id, {"state": "On Hold"})
    z_id, z_created = pg.create_ticket("on hold while wafa is down", queue="Restart")
    time.sleep(0.7)
    ok(w.stop() == 0, "wafa stops while the ticket is on hold")
    time.sleep(0.3)
    z_p = set_extra(pg, z_id, {"state": "on hold"})
    time.sleep(0.7)
    w.start()
    time.sleep(0.5)
    x_r = set_extra(pg, x_id, {"state": "open"})
    z_r = set_extra(pg, z_id, {"state": "open"})
    time.sleep(0.5)
    ok(w.stop() == 0, "wafa stops again after the hold ended")
    w.start()
    expected = x_created + 5 + (x_r - x_p)
    got = breach_at(pg, x_id, "vendor-restart", expected + 6 - time.time())
    ok(got is not None and abs(got - expected) < 0.005,
       "business time is the same across a restart during the hold and one after it: the "
       "breach is 5 s of running time after the start, the hold left out",
       diag=lambda: "breach %r, expected %.3f (%.3f without the hold); journal %r\n%s"
       % (got, expected, x_created + 5, journal(pg, x_id, "vendor-restart"), w.log()))
    expected_z = z_created + 5 + (z_r - z_p)
    got = breach_at(pg, z_id, "vendor-restart", expected_z + 6 - time.time())
    ok(got is not None and abs(got - expected_z) < 0.005,
       "a hold that began while wafa was down is found at start-up, dated by updated_at",
       diag=lambda: "breach %r, expected %.3f; journal %r; status_log %r"
       % (got, expected_z, journal(pg, z_id, "vendor-restart"),
          pg.psql("SELECT * FROM wafa.status_log WHERE ticket_id = %d" % z_id)))
    mails = wait_for(lambda: len(sink.messages_to("restart@example.com")) >= 2, 10)
    time.sleep(1.0)
    is_(sorted(m["subject"] for m in sink.messages_to("restart@example.com")),
        sorted(["breach %d" % x_id, "breach %d" % z_id]),
        "one breach mail for each across the restarts")
    ok(w.log_lines("status change(s) read from status_log", current=True),
       "the restarted daemon read the journal", diag=w.log)

    # --- a reload asks the new rules' pauses of every ticket, changed or not
    later = dedent('''
        sla "later" {
          stop = "first_reply_at", target = "%s",
          when = function(t) return t.queue == "Later" end,%s
          on_breach = function(t, s)
            mail { to = "later@example.com", subject = "breach " .. t.ref }
          end,
        }
    ''')
    w.write_rule("e-later.lua", later % ("1h", ""))
    w.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: w.log_lines("snapshot:", current=True)[1:], 10)
    parked_id, _ = pg.create_ticket("parked", queue="Later", extra='{"state": "Parked"}')
    loose_id, loose_created = pg.create_ticket("not parked", queue="Later")
    time.sleep(0.5)
    w.write_rule("e-later.lua", later % ("3s", ' pause = { raw "parked" },'))
    w.proc.send_signal(signal.SIGHUP)
    got = breach_at(pg, loose_id, "later", loose_created + 3 + 5 - time.time())
    ok(got is not None and abs(got - (loose_created + 3)) < 0.005,
       "after SIGHUP the new 3 s target applies", diag=w.log)
    time.sleep(1.0)
    ok(not [ev for ev, _ in journal(pg, parked_id, "later") if ev == "breach"] and
       pg.value("SELECT paused_by::text FROM wafa.status_log WHERE ticket_id = %d "
                "ORDER BY at DESC LIMIT 1" % parked_id) == "{later}",
       "... and a pause on a raw status added by the reload holds for a ticket that did not "
       "change", diag=lambda: "%r\n%s" % (journal(pg, parked_id, "later"), w.log()))

    # --- wafa simulate: the same pause decision, from the journal and the view
    frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(raw_created - 60))
    to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    sim_id, _ = pg.create_ticket("held now", queue="Restart", extra='{"state": "ON HOLD"}')
    r = w.command("simulate", "--from", frm, "--to", to, "--json")
    ev = [json.loads(l) for l in r.stdout.splitlines() if l.strip()] if r.returncode == 0 else []
    raw_ev = [e["event"] for e in ev if e["ticket"] == raw_id and e["rule"] == "vendor-wait"
              and e["event"] != "mail"]
    ok(raw_ev[:3] == ["started", "paused", "resumed"] and "breach" in raw_ev,
       "wafa simulate shows the raw status pause from the journal", diag=lambda: show(r))
    sim_breach = [e for e in ev if e["ticket"] == x_id and e["event"] == "breach"]
    want = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(expected)))
    ok(sim_breach and sim_breach[0]["at"] == want,
       "wafa simulate puts the breach where the daemon did (hold left out)",
       diag=lambda: "%r vs %s" % (sim_breach, want))
    ok(r.returncode == 0 and not [e for e in ev if e["ticket"] == sim_id
                                  and e["event"] == "breach"],
       "wafa simulate asks the pause of a ticket on hold now: no breach", diag=lambda: show(r))
    w.stop()

    # --- wafa test on the shipped example
    tmp = tempfile.mkdtemp(prefix="wafa-pause-")
    try:
        for name in ("vendor-wait.lua", "vendor-wait_test.lua"):
            shutil.copy(os.path.join(SRCDIR, "rules", "examples", name), tmp)
        r = cli(["test", "-c", offline_config(tmp, tmp)], timeout=60)
        oks = [l for l in r.stdout.splitlines() if l.startswith("ok ")]
        ok(r.returncode == 0 and len(oks) >= 4 and "not ok" not in r.stdout,
           "wafa test passes rules/examples/vendor-wait_test.lua on the virtual clock (%d tests)"
           % len(oks), diag=show(r))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


run(main)
