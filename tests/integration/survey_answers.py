#!/usr/bin/python3
"""Acting on survey answers (on_answer) on a real PostgreSQL, SMTP server and
the daemon's web listener: an answer posted through the survey page's HTTP
endpoint makes the rule's mail to the lead arrive once (and its notify {}
reach the webhook, an outbox row of kind 'answer'); a high score sends
nothing but is recorded; a restart acts on nothing again, and catches up on
an answer stored while no wafa ran; an answer stored by a standby's
listener is acted on by the leader, and a takeover acts again on nothing;
an answer older than 7 days is never acted on; the journal records each as event 'answer'; and wafa report --by
agent and --by queue give CSAT per agent and per queue by the ticket's owner
and queue when the answer came, checked against numbers worked out by
hand; wafa simulate says it does not simulate answers."""
import base64
import csv
import datetime
import hashlib
import hmac
import io
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from http_sink import HttpSink  # noqa: E402

RULES = dedent('''
    followup "csat" {
      since = "solved_at", after = "1s", once = true,
      on_due = function(t, s)
        mail { to = t.customer_email, template = "csat", survey = true,
               vars = { customer_name = t.customer_name or t.customer_email, ticket_ref = t.ref,
                        ticket_subject = t.subject, solved_date = wafa.date(t.solved_at, t) } }
      end,
      on_answer = function(t, a)
        if a.score <= 2 then
          mail { to = "lead@example.com",
                 subject = "Low score " .. a.score .. " on " .. t.ref .. " (" .. tostring(a.survey)
                           .. ", " .. a.rule .. ")",
                 body = "Comment: " .. (a.comment or "(none)") .. "\\nOwner: "
                        .. (t.owner_email or "(none)") .. "\\nAnswered at " .. a.at .. "\\n" }
          notify { webhook = "csat", text = "Low score " .. a.score .. " on " .. t.ref }
        end
      end,
    }
''')


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(key, mail_id, score):
    """A survey link's token (core/web/token.h, v2), as web.py mints it."""
    payload = ("v2|s|%d|%d|%d" % (int(time.time()) + 3600, mail_id, score)).encode()
    return b64url(payload) + "." + b64url(hmac.new(key, payload, hashlib.sha256).digest())


def post(url, fields):
    data = urllib.parse.urlencode(fields).encode("ascii")
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def main():
    require_wafa()
    plan(26)
    pg = Postgres()
    sink = SmtpSink()
    port = free_port()
    keyfile = os.path.join(pg.sockdir, "link.key")
    key = secrets.token_hex(32).encode()
    with open(keyfile, "wb") as f:
        f.write(key + b"\n")
    os.chmod(keyfile, 0o600)
    base = "http://127.0.0.1:%d/wafa" % port
    hook = HttpSink({"/csat": [200]})
    w = Wafa(pg, sink.url, rules={"csat.lua": RULES}, conf={
        "webhook csat.url": hook.url("/csat"),
        "mail.templates": os.path.join(SRCDIR, "rules", "templates"),
        "web.listen": "127.0.0.1:%d" % port,
        "web.base_url": base,
        "web.key_file": keyfile,
    })
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    # T1 amal/Support, T2 badr/Billing, T3 amal/Billing, T4 badr/Support, T5 dina/Sales
    tickets = {}
    for n, (owner, queue) in enumerate((("amal", "Support"), ("badr", "Billing"),
                                        ("amal", "Billing"), ("badr", "Support"),
                                        ("dina", "Sales")), 1):
        tid, _ = pg.create_ticket("Case %d" % n, "%s@example.com" % owner, owner_name=owner,
                                  queue=queue, customer_email="c%d@example.com" % n,
                                  customer_name="C%d" % n)
        pg.psql("UPDATE tickets SET status = 'solved', solved_at = clock_timestamp(), "
                "updated_at = clock_timestamp() WHERE id = %d" % tid)
        tickets[n] = tid
    got = wait_for(lambda: all(sink.messages_to("c%d@example.com" % n) for n in tickets), 20)
    if not ok(got, "the five survey mails are sent",
              diag=lambda: sink.summary() + w.log()[-3000:]):
        return
    mail = {n: int(pg.value("SELECT id FROM wafa.outbox WHERE ticket_id = %d AND survey" % tid))
            for n, tid in tickets.items()}

    def lead():
        return sink.messages_to("lead@example.com")

    def answers(n):
        return pg.value("SELECT count(*) FROM wafa.journal WHERE event = 'answer' AND "
                        "step = 'answer' AND ticket_id = %d AND instance = %d"
                        % (tickets[n], mail[n]))

    # ---- a low score through the survey page: the lead hears of it once
    status, page = post(base + "/s/" + mint(key, mail[1], 2), {"comment": "slow"})
    is_(status, 200, "the survey page's form stores the answer", diag=page[:500])
    got = wait_for(lambda: lead(), 10)
    ok(got, "the lead's mail arrives", diag=lambda: sink.summary() + w.log()[-3000:])
    m = lead()[0] if got else None
    is_(m and str(m["Subject"]), "Low score 2 on %d (csat, csat)" % tickets[1],
        "a.score, a.survey and a.rule in the mail, with the ticket")
    body = m.get_body(("plain",)).get_content() if m else ""
    ok("Comment: slow" in body and "Owner: amal@example.com" in body,
       "a.comment and the ticket's owner in the body", diag=body)
    got = wait_for(lambda: hook.requests("/csat"), 10)
    ok(got and hook.requests("/csat")[0].json()["text"] == "Low score 2 on %d" % tickets[1]
       and pg.value("SELECT kind || ' ' || status FROM wafa.outbox WHERE channel = 'webhook' "
                    "AND key LIKE 'csat/%d/answer/%d/%%'" % (tickets[1], mail[1]))
       == "answer sent",
       "an on_answer's notify {} is a webhook row (kind answer) the dispatcher sends",
       diag=lambda: hook.summary() + w.log()[-2000:])

    # ---- a high score: no mail, but recorded (not looked at again)
    status, page = post(base + "/s/" + mint(key, mail[2], 5), {"comment": ""})
    ok(status == 200 and wait_for(lambda: answers(2) == "1", 10),
       "a score of 5 is recorded in the journal as event 'answer'",
       diag=lambda: w.log()[-2000:])
    # the agents and queues change after the answers: the report keeps theirs then
    pg.psql("UPDATE tickets SET owner_email = 'carl@example.com', queue = 'Billing', "
            "updated_at = clock_timestamp() WHERE id = %d" % tickets[1])
    time.sleep(5)  # more than two looks (every 2 s)
    is_(len(lead()), 1, "one mail to the lead, however many looks later")
    is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE key LIKE 'csat/%d/answer/%d/%%' "
                 "AND channel = 'mail'" % (tickets[1], mail[1])), "1",
        "its outbox key is rule/ticket/answer/MAIL/n")

    # ---- stopped: one answer stored meanwhile, one from 8 days ago
    w.stop_ok()
    pg.psql("INSERT INTO wafa.survey (mail_id, ticket_id, rule, email, score, comment, answered_at) "
            "VALUES (%d, %d, 'csat', 'c3@example.com', 1, 'no one called', now()), "
            "       (%d, %d, 'csat', 'c4@example.com', 1, 'old', now() - interval '8 days')"
            % (mail[3], tickets[3], mail[4], tickets[4]))
    w.start()
    got = wait_for(lambda: len(lead()) >= 2, 15)
    ok(got and "Low score 1 on %d" % tickets[3] in str(lead()[-1]["Subject"]),
       "after a restart, the answer stored while no wafa ran is acted on",
       diag=lambda: sink.summary() + w.log()[-3000:])
    time.sleep(5)
    subjects = sorted(str(x["Subject"]) for x in lead())
    is_(subjects, sorted(["Low score 2 on %d (csat, csat)" % tickets[1],
                          "Low score 1 on %d (csat, csat)" % tickets[3]]),
        "the restart acts again on nothing, and not on the 8-day-old answer")
    is_([answers(n) for n in (1, 2, 3, 4)], ["1", "1", "1", "0"],
        "one journal row per acted-on answer; none for the old one")

    # ---- a standby: its listener stores an answer, the leader acts on it at
    # its next look; the leader killed, the standby takes over and acts again
    # on nothing
    port2 = free_port()
    base2 = "http://127.0.0.1:%d/wafa" % port2
    b = Wafa(pg, sink.url, rules={"csat.lua": RULES}, conf={
        "webhook csat.url": hook.url("/csat"),
        "mail.templates": os.path.join(SRCDIR, "rules", "templates"),
        "web.listen": "127.0.0.1:%d" % port2,
        "web.base_url": base2,
        "web.key_file": keyfile,
    })
    b.start()
    ok(wait_for(lambda: b.log_lines("standby: another wafa leads"), 10),
       "a second wafa waits on standby", diag=lambda: b.log()[-2000:])
    status, page = post(base2 + "/s/" + mint(key, mail[5], 2), {"comment": "via the standby"})
    got = wait_for(lambda: len(lead()) >= 3, 10)
    ok(status == 200 and got and "on %d" % tickets[5] in str(lead()[-1]["Subject"]),
       "an answer stored by the standby's listener is acted on by the leader's look",
       diag=lambda: sink.summary() + w.log()[-2000:] + b.log()[-2000:])
    w.kill()
    ok(wait_for(lambda: b.log_lines("leading on schema wafa"), 20),
       "the standby takes over when the leader is killed", diag=lambda: b.log()[-2000:])
    time.sleep(5)
    is_(len(lead()), 3, "and acts again on no answer")

    # ---- wafa report --by agent / --by queue: CSAT by the owner and queue then
    # (T3 and T4 were stored without the web listener: their owner and queue
    # are the ticket's now: amal/Billing and badr/Support)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    frm, to = str(today - datetime.timedelta(days=1)), str(today + datetime.timedelta(days=2))

    def by(word):
        r = w.command("report", "--from", frm, "--to", to, "--format", "json", "--by", word)
        if r.returncode != 0:
            return r.stderr
        return [(g["group"], g["answered"], g["scores"], round(g["csat"], 3), round(g["mean"], 3))
                for g in json.loads(r.stdout)["surveys_by"]]
    # amal: T1 2, T3 1; badr: T2 5, T4 1; dina: T5 2 (carl, T1's owner now, has none)
    is_(by("agent"), [("amal@example.com", 2, [1, 1, 0, 0, 0], 0.0, 1.5),
                      ("badr@example.com", 2, [1, 0, 0, 0, 1], 0.5, 3.0),
                      ("dina@example.com", 1, [0, 1, 0, 0, 0], 0.0, 2.0)],
        "--by agent: answers, scores, CSAT (4 or 5) and mean per agent at answer time")
    # Billing: T2 5, T3 1; Sales: T5 2; Support: T1 2 (Billing now), T4 1
    is_(by("queue"), [("Billing", 2, [1, 0, 0, 0, 1], 0.5, 3.0),
                      ("Sales", 1, [0, 1, 0, 0, 0], 0.0, 2.0),
                      ("Support", 2, [1, 1, 0, 0, 0], 0.0, 1.5)],
        "--by queue: per queue at answer time")
    r = w.command("report", "--from", frm, "--to", to, "--format", "json")
    ok(r.returncode == 0 and sum(json.loads(r.stdout)["followups_sent"]) == 0 and
       pg.value("SELECT string_agg(DISTINCT kind, ',') FROM wafa.outbox "
                "WHERE rcpt = 'lead@example.com'") == "answer",
       "the mails of on_answer are outbox kind 'answer', not counted as follow-ups sent",
       diag=r.stdout[-1500:] + r.stderr)
    r = w.command("report", "--from", frm, "--to", to, "--format", "csv", "--by", "agent")
    rows = list(csv.DictReader(io.StringIO(r.stdout))) if r.returncode == 0 else []
    find = {(x["section"], x["group"], x["metric"]): x["value"] for x in rows}
    is_([find.get(("survey_by", "amal@example.com", m)) for m in ("answered", "mean", "csat")] +
        [find.get(("survey_by", "badr@example.com", m)) for m in ("answered", "mean", "csat")],
        ["2", "1.5000", "0.0000", "2", "3.0000", "0.5000"],
        "CSV: answered, mean and CSAT per agent", diag=r.stdout[-1500:] + r.stderr)
    # the HTML page's "Satisfaction by Owner" table, seen in headless Chromium
    shots = os.path.join(BUILDDIR, "tests", "screenshots")
    os.makedirs(shots, exist_ok=True)
    page = os.path.join(shots, "report-by-agent.html")
    r = w.command("report", "--from", frm, "--to", to, "--by", "agent", "-o", page)
    html = open(page, encoding="utf-8").read() if r.returncode == 0 else ""
    ok("Satisfaction by Owner" in html and "amal@example.com" in html
       and "carl@example.com" not in html.split("Satisfaction by")[-1],
       "HTML: satisfaction per agent, by the agent when the answer came", diag=r.stderr)
    if os.path.exists("/usr/bin/chromium"):
        import subprocess
        subprocess.run(["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--window-size=1000,2400", "--screenshot=" +
                        os.path.join(shots, "report-by-agent.png"), "file://" + page],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    r = w.command("report", "--from", frm, "--to", to, "--by", "team")
    ok(r.returncode != 0 and "agent" in r.stderr,
       "an unknown --by names the words it knows, agent among them", diag=r.stderr)
    r = w.command("simulate", "--from", "now-1d", "--to", "now+1d")
    ok(r.returncode == 0 and "csat.lua:1: on_answer is not simulated" in r.stderr,
       "wafa simulate says, at the rule, that it does not simulate answers", diag=show(r))
    b.stop_ok()


if __name__ == "__main__":
    run(main)
