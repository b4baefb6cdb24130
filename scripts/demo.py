#!/usr/bin/python3
"""wafa's demo: a throwaway helpdesk, a local SMTP sink, wafa with a
first-response rule measured in seconds, and a short scripted story.

Run through scripts/demo (which installs and builds first)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from harness import Postgres, SmtpSink, Wafa, wait_for  # noqa: E402

RULE = r'''
-- The shipped example (rules/examples/first-response.lua) with targets in
-- seconds, a pause while waiting on the customer, a warning at 60% and an
-- escalation to the lead 4 s after a breach.
sla "first-response" {
  start  = "created_at",
  stop   = "first_reply_at",
  target = { urgent = "3s", default = "5s" },
  when   = function(t) return t.status ~= "closed" end,
  pause  = { "pending" },         -- waiting on the customer stops the clock
  warn   = { "60%" },
  on_warn = function(t, s)
    mail { to = t.owner_email, subject = "Due soon: #" .. t.ref .. " " .. t.subject,
           body = "Ticket #" .. t.ref .. " needs a first reply within " .. s.target .. " s." }
  end,
  on_breach = {
    function(t, s)
      mail { to = t.owner_email or "lead@example.com",
             subject = "SLA breached: #" .. t.ref .. " " .. t.subject,
             body = "No first reply to " .. (t.customer_name or t.customer_email) .. " yet." }
    end,
    after "4s" (function(t, s)
      mail { to = "Support Lead <lead@example.com>",
             subject = "Escalation: #" .. t.ref .. " " .. t.subject,
             body = "Still no reply " .. s.overdue .. " s after the deadline." }
    end),
  },
}
'''


def say(text=""):
    print(text, flush=True)


def main():
    say("== starting a throwaway PostgreSQL with the sample helpdesk")
    pg = Postgres()
    sink = SmtpSink()
    say("== SMTP sink on %s" % sink.url)
    w = Wafa(pg, transport=sink.url, rules={"10-first-response.lua": RULE})
    r = w.setup()
    sys.stdout.write(r.stdout + r.stderr)
    r = w.check()
    sys.stdout.write(r.stdout + r.stderr)
    w.start()
    say("== wafa run is up (log: %s)" % w.logfile)
    t0 = time.time()

    def at(t, what):
        time.sleep(max(0, t0 + t - time.time()))
        say("t=%4.1fs  %s" % (time.time() - t0, what))

    tickets = {}
    at(0.0, "ticket opened: 'Printer on fire' (urgent, 3 s target)")
    tickets["printer"] = pg.create_ticket("Printer on fire", "omar@example.com", priority="urgent",
                                          customer_name="Jane Roe")
    at(0.2, "ticket opened: 'VPN drops' (5 s target); it will wait on the customer")
    tickets["vpn"] = pg.create_ticket("VPN drops", "omar@example.com", customer_name="Ali Reza")
    at(0.5, "ticket opened: 'طلب استرداد المبلغ' (Arabic, 5 s target)")
    tickets["refund"] = pg.create_ticket("طلب استرداد المبلغ", "layla@example.com",
                                         customer_name="أحمد علي", customer_locale="ar-EG")
    at(1.0, "ticket opened: 'درخواست بازپرداخت' (Persian, 5 s target)")
    tickets["fa"] = pg.create_ticket("درخواست بازپرداخت", "sara@example.com",
                                     customer_name="مریم رضایی", customer_locale="fa-IR")
    at(1.2, "'VPN drops' set to pending (waiting on the customer): its clock stops")
    pg.psql("UPDATE tickets SET status = 'pending' WHERE id = %d" % tickets["vpn"][0])
    at(1.5, "ticket opened: 'Cannot log in' (5 s target)")
    tickets["login"] = pg.create_ticket("Cannot log in", "omar@example.com",
                                        customer_name="John Doe")
    at(2.0, "agent answers 'درخواست بازپرداخت' in time: no mail for it")
    pg.answer(tickets["fa"][0])
    at(3.0, "the customer answers 'VPN drops': open again, its clock resumes (4 s left)")
    pg.psql("UPDATE tickets SET status = 'open' WHERE id = %d" % tickets["vpn"][0])
    at(5.0, "agent answers 'Cannot log in' after its warning, before its breach")
    pg.answer(tickets["login"][0])
    at(12.5, "the story is over; waiting for the last mail")
    wait_for(lambda: len(sink.messages()) >= 10, 5)
    code = w.stop()

    created = {v[0]: v[1] for v in tickets.values()}
    targets = {tickets["printer"][0]: 3.0, tickets["vpn"][0]: 6.8}  # vpn: 5 s + 1.8 s paused
    say("\n== mail received by the SMTP server (%d)" % len(sink.messages()))
    for msg in sink.messages():
        say("  +%5.2fs  To: %-34s Subject: %s" % (msg.received - t0, msg["to"], msg["subject"]))
    say("\n== breach-to-mail latency (received minus deadline)")
    for msg in sink.messages():
        s = msg["subject"]
        if not s.startswith("SLA breached"):
            continue
        tid = int(s.split("#")[1].split()[0])
        deadline = created[tid] + targets.get(tid, 5.0)
        say("  #%d: %+.3f s" % (tid, msg.received - deadline))
    say("\n== wafa.outbox")
    for row in pg.outbox():
        say("  %-40s %-6s %s" % (row["key"], row["status"], row["rcpt"]))
    say("\n== wafa.journal for 'VPN drops' (every transition, with its time)")
    for row in pg.psql("SELECT event, step, extract(epoch FROM at) FROM wafa.journal "
                       "WHERE ticket_id = %d ORDER BY at, id" % tickets["vpn"][0]):
        say("  +%5.2fs  %-9s %s" % (float(row[2]) - t0, row[0], row[1]))
    say("\n== wafa stopped with exit code %s; its log:" % code)
    for line in w.log().splitlines():
        if " info " in line or " warn " in line or " error " in line:
            say("  " + line)

    say("\n== wafa simulate: the coming week under rules/examples/business-hours.lua")
    say("   (business hours in Cairo, Sun-Thu 09:00-17:00; sends and writes nothing)")
    pg.psql("UPDATE tickets SET first_reply_at = NULL, status = 'open' WHERE id = %d"
            % tickets["login"][0])
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rules", "examples",
                           "business-hours.lua"), encoding="utf-8") as f:
        week = Wafa(pg, transport=sink.url, rules={"business-hours.lua": f.read()})
    r = week.command("simulate", "--from", "now", "--to", "now+7d")
    for line in r.stdout.splitlines():
        say("  " + line)
    return 0 if (code == 0 and len(sink.messages()) == 10 and r.returncode == 0 and
                 survey(pg) == 0) else 1


SURVEY = r'''
-- rules/examples/customer-mail.lua's survey, one second after the solve
followup "csat" {
  since = "solved_at", after = "1s",
  on_due = function(t, s)
    mail { to = t.customer_email, template = "csat", survey = true,
           vars = { customer_name = t.customer_name, ticket_ref = t.ref,
                    ticket_subject = t.subject, solved_date = wafa.date(t.solved_at, t) } }
  end,
}
'''


def survey(pg):
    """A satisfaction survey in Persian, and the customer's click."""
    import re
    import secrets
    import urllib.request
    from harness import free_port
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    sink = SmtpSink()
    port = free_port()
    key = os.path.join(pg.sockdir, "link.key")
    with open(key, "w") as f:
        f.write(secrets.token_hex(32))
    os.chmod(key, 0o600)
    w = Wafa(pg, transport=sink.url, rules={"csat.lua": SURVEY}, conf={
        "mail.templates": os.path.join(root, "rules", "templates"),
        "web.listen": "127.0.0.1:%d" % port, "web.base_url": "http://127.0.0.1:%d/wafa" % port,
        "web.key_file": key})
    say("\n== a satisfaction survey: a Persian customer's ticket is solved")
    w.start()
    tid, _ = pg.create_ticket("چاپگر کار نمی‌کند", "omar@example.com", customer_name="مریم رضایی",
                              customer_email="maryam@example.com", customer_locale="fa-IR",
                              customer_tz="Asia/Tehran")
    pg.psql("UPDATE tickets SET status = 'solved' WHERE id = %d" % tid)
    got = wait_for(lambda: sink.messages_to("maryam@example.com"), 10)
    if not got:
        say("  no survey arrived; wafa's log:\n" + w.log()[-2000:])
        return 1
    m = got[0]
    say("  To: %s\n  Subject: %s\n  Parts: %s" % (m["to"], m["subject"], ", ".join(
        p.get_content_type() for p in m.walk() if not p.is_multipart())))
    say("  " + m.get_body(("plain",)).get_content().strip().replace("\n", "\n  "))
    link = re.search(r"\((http://[^)]*/s/[^)]*)\)", m.get_body(("plain",)).get_content())
    links = re.findall(r"\((http://[^)]*/s/[^)]*)\)", m.get_body(("plain",)).get_content())
    if len(links) != 5 or not link:
        return 1
    say("\n== the customer clicks the fourth score, and presses the page's button")
    with urllib.request.urlopen(links[3], timeout=10) as resp:
        page = resp.read().decode()
    say("  GET: HTTP %d, %s (nothing recorded yet: mail scanners open every link)"
        % (resp.status, re.search(r"<h1>(.*?)</h1>", page).group(1)))
    with urllib.request.urlopen(links[3], data=b"comment=", timeout=10) as resp:
        page = resp.read().decode()
    say("  POST: HTTP %d, %s" % (resp.status, re.search(r"<h1>(.*?)</h1>", page).group(1)))
    say("  wafa.survey: %s" % pg.psql("SELECT ticket_id, score FROM wafa.survey"))
    w.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
