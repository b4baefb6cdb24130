#!/usr/bin/python3
"""Webhooks (notify {}) on the outbox, against a local HTTP server: the body
of each format, the HMAC signature, once per firing (across a restart),
4xx parked with the reason, 5xx/429 and a slow server's timeout retried
with backoff and then sent, a redirect refused and parked.  A ticket {}
action becomes one row per API call, and the mailer never claims these
rows (the mail goes out once, beside them)."""
import hashlib
import tempfile  # noqa: F401
import hmac
import json
import re
import signal
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from http_sink import HttpSink  # noqa: E402

SECRET = "s3cret-key-for-hmac"

RULE = r'''
sla "first-response" {
  start = "created_at",
  stop = "first_reply_at",
  target = "1s",
  on_breach = function(t, s)
    mail { to = "lead@example.com", subject = "breach #" .. t.ref, body = "late" }
    for _, name in ipairs({ "oncall", "slack", "teams", "mm", "gone", "flaky", "busy",
                            "moved", "slow" }) do
      notify { webhook = name, text = "Breach on #" .. t.ref .. " طلب",
               fields = { ticket = t.ref, about = t.subject } }
    end
    ticket { priority = "urgent", owner = "backup@example.com", note = "Breached: raised",
             tags = { "breached", "wafa" } }
  end,
}
'''


def main():
    require_wafa()
    pg = Postgres()
    smtp = SmtpSink()
    http = HttpSink({
        "/ok": [200], "/slack": [200], "/teams": [200], "/mm": [204], "/gone": [404],
        "/flaky": [500, 503, 200], "/busy": [429, 200], "/moved": [(302, "/elsewhere")],
        "/slow": [("sleep", 4, 200), 200], "/elsewhere": [200], "/late": [200],
    })
    import tempfile
    secret = os.path.join(tempfile.mkdtemp(prefix="wafa-hook-"), "secret")
    with open(secret, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(secret, 0o600)
    hooks = {"oncall": ("/ok", "json"), "slack": ("/slack", "slack"), "teams": ("/teams", "teams"),
             "mm": ("/mm", "mattermost"), "gone": ("/gone", "json"), "flaky": ("/flaky", "json"),
             "busy": ("/busy", "json"), "moved": ("/moved", "json"), "slow": ("/slow", "json")}
    conf = {"http.retry_initial": "1s", "http.retry_max": "2s", "http.timeout": "10s",
            "http.sessions": "4"}
    for name, (path, fmt) in hooks.items():
        conf["webhook %s.url" % name] = http.url(path)
        conf["webhook %s.format" % name] = fmt
    conf["webhook oncall.secret_file"] = secret
    conf["webhook slow.timeout"] = "1s"
    mport = free_port()
    conf["web.metrics_listen"] = "127.0.0.1:%d" % mport
    w = Wafa(pg, smtp.url, rules={"sla.lua": RULE}, conf=conf)
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    r = w.check()
    ok(r.returncode == 0, "wafa check accepts the [http] and [webhook NAME] sections",
       diag=show(r))

    tid, created = pg.create_ticket("Where is my order", "cust@example.com")
    w.start()

    done_paths = ["/ok", "/slack", "/teams", "/mm", "/gone", "/moved"]
    ok(wait_for(lambda: all(http.requests(p) for p in done_paths), 20),
       "every webhook is called after the breach", diag=lambda: http.summary() + w.log()[-3000:])
    ok(wait_for(lambda: len(http.requests("/flaky")) >= 3 and len(http.requests("/busy")) >= 2
                and len(http.requests("/slow")) >= 2, 30),
       "the failing webhooks are tried again", diag=lambda: http.summary() + w.log()[-3000:])

    def settled():
        rows = pg.psql("SELECT status FROM wafa.outbox WHERE channel = 'webhook'")
        return rows and all(r[0] in ("sent", "failed") for r in rows)
    ok(wait_for(settled, 20), "every webhook row is sent or parked",
       diag=lambda: str(pg.psql("SELECT key, status, attempts, last_error FROM wafa.outbox")))
    time.sleep(2)  # a second request would show now

    rows = {r[0]: r for r in pg.psql(
        "SELECT target, status, attempts, coalesce(last_error, ''), key FROM wafa.outbox "
        " WHERE channel = 'webhook'")}

    # --- the json format, its signature and key
    reqs = http.requests("/ok")
    is_(len(reqs), 1, "the json webhook is called once")
    if reqs:
        q = reqs[0]
        body = q.json()
        is_(body.get("text"), "Breach on #%d طلب" % tid, "json: the text, UTF-8 intact",
            diag=lambda: q.body)
        is_(body.get("ticket_id"), tid, "json: the ticket id")
        is_(body.get("rule"), "first-response", "json: the rule")
        is_(body.get("fields", {}).get("about"), "Where is my order", "json: the fields")
        is_(body.get("key"), rows["oncall"][4], "json: the outbox key, for the receiver's dedup")
        is_(q.headers.get("X-Wafa-Key"), rows["oncall"][4], "X-Wafa-Key is the outbox key")
        is_(q.headers.get("Content-Type"), "application/json", "Content-Type: application/json")
        ts = q.headers.get("X-Wafa-Timestamp", "")
        want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + q.body,
                                    hashlib.sha256).hexdigest()
        is_(q.headers.get("X-Wafa-Signature"), want,
            "X-Wafa-Signature is HMAC-SHA256 of TIMESTAMP.BODY with the secret_file's key")
        ok(ts.isdigit() and abs(int(ts) - time.time()) < 60, "X-Wafa-Timestamp is now")
        ok(SECRET not in json.dumps(q.headers) and SECRET not in w.log(),
           "the secret is in no header and no log line")
    ok(not http.requests("/slack") or "X-Wafa-Signature" not in http.requests("/slack")[0].headers,
       "no signature without a secret_file")

    # --- the chat formats
    reqs = http.requests("/slack")
    if ok(len(reqs) == 1, "the slack webhook is called once"):
        b = reqs[0].json()
        ok(set(b) == {"text"} and b["text"].startswith("Breach on #%d" % tid)
           and "*about*: Where is my order" in b["text"], "slack: {text} with the fields",
           diag=reqs[0].body)
    reqs = http.requests("/mm")
    if ok(len(reqs) == 1, "the mattermost webhook is called once (204 is done)"):
        b = reqs[0].json()
        ok("**ticket**: %d" % tid in b.get("text", ""), "mattermost: **field**: value",
           diag=reqs[0].body)
    reqs = http.requests("/teams")
    if ok(len(reqs) == 1, "the teams webhook is called once"):
        b = reqs[0].json()
        facts = (b.get("sections") or [{}])[0].get("facts", [])
        ok(b.get("@type") == "MessageCard" and {"name": "about", "value": "Where is my order"}
           in facts, "teams: a MessageCard with the fields as facts", diag=reqs[0].body)

    # --- refusals and retries
    is_(len(http.requests("/gone")), 1, "404: tried once")
    g = rows.get("gone")
    ok(g and g[1] == "failed" and "HTTP 404" in g[3] and "server's reason" in g[3],
       "404: parked as failed with the status and the server's reason", diag=str(g))
    r = w.command("outbox", "list")
    ok(r.returncode == 0 and re.search(r"webhook:gone.*HTTP 404", r.stdout)
       and re.search(r"webhook:moved.*redirect", r.stdout),
       "wafa outbox list shows the parked webhooks and why", diag=show(r))
    is_(len(http.requests("/moved")), 1, "302: tried once")
    is_(len(http.requests("/elsewhere")), 0, "302: the redirect is not followed")
    m = rows.get("moved")
    ok(m and m[1] == "failed" and "redirect" in m[3] and "/elsewhere" in m[3],
       "302: parked, the reason naming the refused redirect", diag=str(m))
    f = rows.get("flaky")
    is_(len(http.requests("/flaky")), 3, "500, 503: retried until the 200, no more")
    ok(f and f[1] == "sent" and int(f[2]) == 3, "500, 503, 200: sent on the third attempt",
       diag=str(f))
    fl = http.requests("/flaky")
    if len(fl) == 3:
        ok(fl[1].at - fl[0].at >= 0.9 and fl[2].at - fl[1].at >= 1.9,
           "the retries back off (1 s, then 2 s)",
           diag="%.2f %.2f" % (fl[1].at - fl[0].at, fl[2].at - fl[1].at))
    b = rows.get("busy")
    ok(b and b[1] == "sent" and len(http.requests("/busy")) == 2, "429: retried, then sent",
       diag=str(b))
    sl = http.requests("/slow")
    s = rows.get("slow")
    ok(s and s[1] == "sent" and len(sl) == 2, "a slow server: timed out, retried, then sent",
       diag=str(s))
    ok(w.log_lines("deferred", "imed out"), "the timeout is logged as a deferral",
       diag=lambda: w.log()[-2000:])

    # --- the ticket actions: one row per API call, parked without an API
    trows = pg.psql("SELECT rcpt, payload::text, status, coalesce(last_error, '') "
                    "  FROM wafa.outbox WHERE channel = 'ticket' ORDER BY key")
    ops = {}
    for rc, payload, st, err in trows:
        ops[json.loads(payload)["op"]] = (json.loads(payload), st, err)
    is_(sorted(ops), ["fields", "note", "tags"], "ticket {}: one row per API call",
        diag=str(trows))
    if "fields" in ops:
        is_(ops["fields"][0], {"op": "fields", "priority": "urgent", "owner": "backup@example.com"},
            "ticket {}: the fields row")
        is_(ops["note"][0], {"op": "note", "text": "Breached: raised", "internal": True},
            "ticket {}: the note row (internal by default)")
        is_(ops["tags"][0], {"op": "tags", "add": ["breached", "wafa"]}, "ticket {}: the tags row")
        ok(all(v[1] == "failed" and v[2] for v in ops.values()),
           "the generic adapter has no API: ticket rows are parked with the reason",
           diag=str(trows))
    keys = [r[0] for r in pg.psql("SELECT key FROM wafa.outbox ORDER BY key")]
    is_(len(set(k.rsplit("/", 1)[0] for k in keys)), 1, "one firing")
    is_(sorted(int(k.rsplit("/", 1)[1]) for k in keys), list(range(1, 14)),
        "mail, webhooks and ticket rows are numbered 1..13 in the firing's key")

    # --- the mail beside them: once, and the mailer took no webhook row
    ok(wait_for(lambda: smtp.messages_to("lead@example.com"), 10), "the mail is sent")
    is_(len(smtp.messages()), 1, "only the mail went to the relay (no webhook row as mail)",
        diag=smtp.summary)

    # --- /metrics: by channel and outcome
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10) as resp:
        text = resp.read().decode()
    got = dict(re.findall(r'^wafa_actions_total\{(channel="\w+",outcome="\w+")\} (\d+)$', text,
                          re.M))
    want = {'channel="webhook",outcome="queued"': "9", 'channel="webhook",outcome="sent"': "7",
            'channel="webhook",outcome="failed"': "2", 'channel="webhook",outcome="retried"': "4",
            'channel="ticket",outcome="queued"': "3", 'channel="ticket",outcome="failed"': "3",
            'channel="ticket",outcome="sent"': "0"}
    is_({k: got.get(k) for k in want}, want,
        "/metrics: wafa_actions_total by channel and outcome", diag=text[-1500:])
    ok(re.search(r"^wafa_mails_queued_total 1$", text, re.M),
       "/metrics: the mails count only the mail", diag=text[-1500:])

    # --- a restart repeats nothing
    before = len(http.requests())
    w.stop_ok()
    w.start()
    time.sleep(3)
    is_(len(http.requests()), before, "a restart calls no webhook again")

    # --- SIGHUP: a webhook added to wafa.conf and a rule naming it, at once
    w.settings["webhook late"] = {"url": http.url("/late")}
    w.write_config()
    w.write_rule("late.lua", 'sla "late" { start = "created_at", target = "1s",\n'
                 '  on_breach = function(t, s) notify { webhook = "late", text = "late #" .. t.ref }'
                 ' end }\n')
    w.proc.send_signal(signal.SIGHUP)
    ok(wait_for(lambda: w.log_lines("rule(s) loaded", current=True)
                and len(w.log_lines("rule(s) loaded", current=True)) >= 2, 10),
       "SIGHUP reloads", diag=lambda: w.log(current=True)[-2000:])
    late_tid, _ = pg.create_ticket("after the reload")
    ok(wait_for(lambda: [q for q in http.requests("/late") if q.json().get("ticket_id") == late_tid],
                15),
       "a webhook added by a reload is used at once", diag=lambda: w.log(current=True)[-2000:])
    w.stop_ok()
    http.stop()

    # --- wafa check: an unknown webhook name, a bad [webhook] section
    w.write_rule("typo.lua", 'sla "typo" { start = "created_at", target = "1h",\n'
                 '  on_breach = function(t, s)\n'
                 '    notify { webhook = "on-call", text = "x" }\n  end }\n')
    r = w.check()
    out = r.stdout + r.stderr
    ok(r.returncode != 0 and 'typo.lua:3: webhook "on-call" is not in' in out
       and "[webhook on-call]" in out and "oncall" in out,
       "wafa check: an unknown webhook names file:line, the fix and the known ones",
       diag=show(r))
    w.start()
    ok(w.log_lines("warn rules:", 'typo.lua:3: webhook "on-call" is not in', current=True),
       "wafa run warns of it at start", diag=lambda: w.log(current=True)[-2000:])
    w.stop()
    os.unlink(os.path.join(w.rules_dir, "typo.lua"))
    w.settings["webhook bad"] = {"url": "ftp://x", "format": "irc"}
    w.write_config()
    r = w.check()
    out = r.stdout + r.stderr
    ok(r.returncode != 0 and 'format = "irc": expected one of json, slack, teams, mattermost'
       in out, "wafa check: an unknown format is refused", diag=show(r))

    # --- wafa test: the actions' mistakes, each with file:line
    d = tempfile.mkdtemp(prefix="wafa-hook-rules-")
    with open(os.path.join(d, "bad.lua"), "w") as f:
        f.write('sla "bad" { start = "created_at", target = "1h",\n'
                '  on_breach = function(t, s)\n'
                '    if t.subject == "key" then ticket { priorty = "urgent" } end\n'
                '    if t.subject == "none" then ticket {} end\n'
                '    if t.subject == "status" then ticket { status = "done" } end\n'
                '  end }\n'
                'offer "o" { every = "365d", audience = function(c) return c.solved >= 1 end,\n'
                '  on_due = function(c, s) ticket { priority = "urgent" } end }\n')
    with open(os.path.join(d, "bad_test.lua"), "w") as f:
        f.write('test "mistakes" { function(t)\n'
                '  t.at "2026-03-02 10:00"\n'
                '  for _, s in ipairs({ "key", "none", "status" }) do t.ticket { subject = s } end\n'
                '  local tk = t.ticket { customer_email = "a@example.com" }\n'
                '  t.solve(tk)\n'
                '  t.wait "2h"\n'
                'end }\n')
    r = cli(["test", "-c", offline_config(d, d)], timeout=60)
    out = r.stdout
    ok(r.returncode != 0
       and 'bad.lua:3: ticket: unknown key "priorty" (known: priority, owner' in out
       and "bad.lua:4: ticket: nothing to do" in out
       and 'bad.lua:5: ticket: status "done": one of new, open, pending, solved, closed' in out
       and "bad.lua:8: ticket: an offer's on_due is about a customer, not a ticket" in out,
       "wafa test: ticket {} mistakes and ticket {} in an offer are errors at file:line",
       diag=show(r))


run(main)
