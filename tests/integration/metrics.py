#!/usr/bin/python3
"""GET .../metrics on the web listener ([web] listen): a breach that mails
moves the firing, queued and sent counters and the due-to-commit histogram;
a rule that raises and one that overruns its budget show in
wafa_rule_errors_total under their names (label values escaped); the page
parses as the Prometheus text format (version 0.0.4); /health stays."""
import base64
import os
import re
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

# a rule name with a double quote and a backslash: escaped in the label
BROKEN = 'broken "q" \\ rule'
BROKEN_LUA = BROKEN.replace("\\", "\\\\").replace('"', '\\"')
RULES = {
    "first-response.lua": breach_rule(target="2s"),
    "broken.lua": dedent('''
        sla "%s" {
          start = "created_at", stop = "first_reply_at", target = "2s",
          on_breach = function(t, s) error("boom") end,
        }
        sla "slow" {
          start = "created_at", stop = "first_reply_at", target = "2s",
          on_breach = function(t, s) while true do end end,
        }
    ''' % BROKEN_LUA),
}

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,(?:%s))*,?\})? (\S+)$" % (NAME, LABEL, LABEL))
LABELS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse(text):
    """{(name, ((label, value), ...)): float} and a list of problems."""
    samples, problems, types, helps = {}, [], {}, set()
    if not text.endswith("\n"):
        problems.append("the page does not end with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s) (.*)$" % NAME, line)
            if not m:
                problems.append("line %d: a comment that is not HELP or TYPE: %r" % (n, line))
            elif m.group(1) == "TYPE":
                if m.group(3) not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    problems.append("line %d: unknown type %r" % (n, m.group(3)))
                if m.group(2) in types:
                    problems.append("line %d: a second TYPE for %s" % (n, m.group(2)))
                types[m.group(2)] = m.group(3)
            else:
                if m.group(2) in helps:
                    problems.append("line %d: a second HELP for %s" % (n, m.group(2)))
                helps.add(m.group(2))
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("line %d: not a sample: %r" % (n, line))
            continue
        name = m.group(1)
        family = name
        if name not in types:
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            if types.get(family) != "histogram":
                problems.append("line %d: %s has no TYPE before it" % (n, name))
        try:
            value = float(m.group(3))
        except ValueError:
            problems.append("line %d: value %r" % (n, m.group(3)))
            continue
        labels = tuple((k, unescape(v)) for k, v in LABELS.findall(m.group(2) or ""))
        samples[(name, labels)] = value
    for t in types:
        if t not in helps:
            problems.append("%s has a TYPE and no HELP" % t)
    return samples, types, problems


def http(url, method=None):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", errors="replace")


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    port = free_port()
    base = "http://127.0.0.1:%d/wafa" % port
    keydir = os.path.join(pg.sockdir, "web")
    os.makedirs(keydir)
    key_path = os.path.join(keydir, "link.key")
    with open(key_path, "wb") as f:
        f.write(base64.b64encode(os.urandom(33)) + b"\n")
    os.chmod(key_path, 0o600)

    w = Wafa(pg, sink.url, rules=RULES,
             conf={"web.listen": "127.0.0.1:%d" % port, "web.base_url": base,
                   "web.key_file": key_path})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    def metrics():
        try:
            status, headers, text = http(base + "/metrics")
        except OSError:
            return None
        return (status, headers, text) if status == 200 else None

    first = wait_for(metrics, 10, 0.1)
    if not ok(first, "/metrics answers 200", diag=lambda: w.log()[-3000:]):
        w.stop()
        return
    s0, _, _ = parse(first[2])
    is_(s0.get(("wafa_mails_sent_total", ())), 0.0, "no mail sent before the breach")

    t_id, created = pg.create_ticket("Printer on fire", "owner@example.com")
    got = wait_for(lambda: sink.messages_to("owner@example.com"), created + 12 - time.time())
    ok(got, "the breach mail arrives", diag=lambda: sink.summary() + "\n" + w.log()[-3000:])

    def settled():
        m = metrics()
        if not m:
            return None
        s, _, _ = parse(m[2])
        done = (s.get(("wafa_mails_sent_total", ())) == 1 and
                s.get(("wafa_outbox_oldest_queued_seconds", ())) == 0 and
                s.get(("wafa_rule_errors_total", (("rule", "slow"),)), 0) >= 1 and
                s.get(("wafa_rule_errors_total", (("rule", BROKEN),)), 0) >= 1)
        return m if done else None
    page = wait_for(settled, 10, 0.2) or metrics()
    if not ok(page, "/metrics answers 200 after the breach", diag=lambda: w.log()[-3000:]):
        w.stop()
        return
    status, headers, text = page
    diag("GET /metrics:\n" + text)
    ctype = headers.get("Content-Type", "")
    ok(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
       "Content-Type text/plain; version=0.0.4", diag=ctype)

    samples, types, problems = parse(text)
    is_(problems, [], "the page parses as the Prometheus text format", diag=text)

    def v(name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))))

    for name, typ in [("wafa_tickets", "gauge"), ("wafa_deadlines", "gauge"),
                      ("wafa_firings_total", "counter"), ("wafa_mails_queued_total", "counter"),
                      ("wafa_mails_sent_total", "counter"), ("wafa_mails_failed_total", "counter"),
                      ("wafa_mails_retried_total", "counter"),
                      ("wafa_mails_held_total", "counter"), ("wafa_mails_skipped_total", "counter"),
                      ("wafa_outbox_oldest_queued_seconds", "gauge"),
                      ("wafa_breach_to_queue_seconds", "histogram"),
                      ("wafa_rule_errors_total", "counter"), ("wafa_leader", "gauge")]:
        is_(types.get(name), typ, "%s is a %s" % (name, typ))

    ok((v("wafa_tickets") or 0) >= 1, "wafa_tickets >= 1", diag=text)
    ok(v("wafa_deadlines") is not None, "wafa_deadlines is there")
    is_(v("wafa_firings_total", event="breach"), 1.0, "one breach firing (the rules that fail "
        "do not fire)")
    for e in ("warn", "escalate", "due", "cancelled"):
        is_(v("wafa_firings_total", event=e), 0.0, "no %s firing" % e)
    is_(v("wafa_mails_queued_total"), 1.0, "one mail queued")
    is_(v("wafa_mails_sent_total"), 1.0, "one mail sent")
    for what in ("failed", "retried", "held", "skipped"):
        is_(v("wafa_mails_%s_total" % what), 0.0, "no mail %s" % what)
    is_(v("wafa_outbox_oldest_queued_seconds"), 0.0, "nothing left queued: oldest 0")

    les = ["0.01", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
    buckets = [v("wafa_breach_to_queue_seconds_bucket", le=le) for le in les]
    ok(None not in buckets, "every histogram bucket is there", diag=repr(buckets))
    ok(None not in buckets and buckets == sorted(buckets), "the buckets are cumulative",
       diag=repr(buckets))
    is_(v("wafa_breach_to_queue_seconds_count"), 1.0, "the histogram counts one step")
    is_(v("wafa_breach_to_queue_seconds_bucket", le="+Inf"), 1.0, "+Inf equals the count")
    total = v("wafa_breach_to_queue_seconds_sum")
    ok(total is not None and 0 <= total < 1.0, "its sum is small (under 1 s)", diag=repr(total))

    ok((v("wafa_rule_errors_total", rule=BROKEN) or 0) >= 1,
       "the raising rule's error counted under its name (escaped)", diag=text)
    ok('wafa_rule_errors_total{rule="broken \\"q\\" \\\\ rule"}' in text,
       "the label value is escaped per the format", diag=text)
    ok((v("wafa_rule_errors_total", rule="slow") or 0) >= 1,
       "the budget overrun counted under the rule's name", diag=text)
    ok(v("wafa_rule_errors_total", rule="first-response") is None,
       "no error for the rule that works", diag=text)
    is_(v("wafa_leader"), 1.0, "wafa_leader 1")

    status, _, body = http(base + "/health")
    ok(status == 200 and body == "ok\n", "/health still answers ok")
    status, _, _ = http(base + "/metrics", method="POST")
    is_(status, 405, "POST /metrics: 405")

    w.stop_ok()

    # [web] metrics_listen: /metrics on its own address only (issue 17, 8)
    mport = free_port()
    w.settings.setdefault("web", {})["metrics_listen"] = "127.0.0.1:%d" % mport
    w.write_config()
    w.start()
    mbase = "http://127.0.0.1:%d" % mport
    got = wait_for(lambda: http(mbase + "/metrics")[0] == 200 or None, 10, 0.1)
    status, _, text = http(mbase + "/metrics")
    ok(status == 200 and "wafa_leader" in text, "/metrics answers on metrics_listen",
       diag=lambda: "%r %s" % (status, w.log()[-2000:]))
    status, _, body = http(mbase + "/health")
    ok(status == 200 and body == "ok\n", "and /health there")
    for path in ("/wafa/metrics", "/s/x", "/x/metrics"):
        status, _, _ = http(mbase + path)
        is_(status, 404, "metrics_listen: %s is 404" % path)
    status, _, text = http(base + "/metrics")
    ok(status == 404 and "wafa_" not in text, "and /metrics is gone from the customers' listener",
       diag=text[:300])
    status, _, body = http(base + "/health")
    ok(status == 200, "which still answers /health")
    w.stop_ok("wafa run with metrics_listen exits 0 within 10 s of SIGTERM")


run(main)
