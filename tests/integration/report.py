#!/usr/bin/python3
"""wafa report on a real PostgreSQL: the numbers of a fixture fortnight
(tests/integration/report.sql) checked against answers worked out by hand
below; --by queue and owner; CSV and JSON; the HTML self-contained (charts
as data: URIs), in English and in Arabic (right to left, Arabic-Indic
digits), opened in headless Chromium with screenshots kept in
tests/screenshots/; bad arguments said clearly."""
import csv
import io
import json
import os
import re
import shutil
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
    local function tell(t, s) mail { to = "lead@example.com", subject = "late #" .. t.ref } end
    sla "first-response" {
      calendar = "cairo", stop = "first_reply_at", target = "4h", goal = "75%",
      when = function(t) return t.queue == "never" end,
      on_breach = tell,
    }
    sla "resolution" {
      stop = "solved_at", target = "2d", goal = "90%",
      when = function(t) return t.queue == "never" end,
      on_breach = tell,
    }
    promise "callback" {
      at = "due_at", when = function(t) return t.queue == "never" end, on_breach = tell,
    }
    report "weekly" { every = "7d", to = "manager@example.com", locale = "ar-EG" }
''')

FROM, TO = "2026-11-02", "2026-11-16"
H = 3600 * 1000
SHOTS = os.path.join(BUILDDIR, "tests", "screenshots")

# The answers, worked out by hand from report.sql (weeks: Nov 2-8, Nov 9-15).
#
# first-response (cairo business hours: 07:00-15:00 UTC Sun-Thu), goal 75%:
#   week 1: T1 met (150 min), T2 breached (then met after 6 h), T3 met (2 h:
#           Thu 14-15 and Sun 07-08, not the 66 h of the wall clock)
#   week 2: T4 met (6 h - 4 h paused = 2 h), T5 breached (never met), T6 running
#   not counted: T1's instance of Oct 30 (started before), T6's of Nov 16 (at the end)
#   started 6, met 3, breached 2, compliance 3 / (3 + 2) = 0.6: under the goal
#   week 1: 3 started, 2 met, 1 breached; week 2: 3 started, 1 met, 1 breached
#   times of the instances that stopped: 120, 120, 150, 360 min; nearest rank:
#   median = rank ceil(0.5 * 4) = 2 -> 120 min; p90 = rank ceil(0.9 * 4) = 4 -> 360 min
# resolution (wall time), goal 90%:
#   R1 met 24 h; R2 breached (met at 72 h); R3 met 36 h - 24 h paused = 12 h
#   started 3, met 2, breached 1, compliance 2/3; times 12, 24, 72 h:
#   median rank 2 -> 24 h, p90 rank ceil(2.7) = 3 -> 72 h; all in week 1
# breaches by queue (both SLAs): Support 2 (T2, R2), Billing 1 (T5); Sales 0 (its
#   breach belongs to the instance of Oct 30)
# promises: week 1: P1 kept, P2 moved, P3 (P2's new date) broken -> made 3;
#   week 2: P4 kept, P5 open -> made 2.  made 5, kept 2, moved 1, broken 1
# follow-ups sent (not surveys): M1 (week 1), M7 (week 2) = 2
# surveys sent: M2, M3 (week 1), M4, M5, M6 (week 2) = 5; M12 went before the period
#   answered within the period: M2 (5), M3 (4), M4 (2) = 3 (M6's came after it):
#   response rate 3/5 = 0.6; scores [0, 1, 0, 1, 1]; CSAT (4 or 5) 2/3
# opt-outs: Nov 4, Nov 12 -> 1 and 1 (Oct 1's is before)
# mails by status, created in the period, the mailed report (M13) not counted:
#   sent M1-M7, M9 = 8 (week 1: M1, M2, M3; week 2: M4-M7, M9); failed M8 (week 1);
#   queued M10, skipped M11 (week 2)
EXPECT_FR = dict(started=6, met=3, breached=2, compliance=0.6, median_ms=120 * 60000,
                 p90_ms=360 * 60000)
EXPECT_RES = dict(started=3, met=2, breached=1, compliance=2 / 3, median_ms=24 * H,
                  p90_ms=72 * H)

# --by queue, first-response: Billing T5 (breached); Sales T1 (met), T6 (running);
#   Support T2 (breached), T3, T4 (met): times 120, 360 -> median rank 1 = 120 min
EXPECT_QUEUE = {
    "Billing": dict(started=1, met=0, breached=1, compliance=0.0, median_ms=None),
    "Sales": dict(started=2, met=1, breached=0, compliance=1.0, median_ms=150 * 60000),
    "Support": dict(started=3, met=2, breached=1, compliance=2 / 3, median_ms=120 * 60000),
}


def close(a, b):
    return a is not None and b is not None and abs(a - b) < 1e-9


def sub(d, keys):
    return {k: d.get(k) for k in keys}


def chromium():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        return None, "python3-selenium is not installed (%s)" % e
    if not os.path.exists("/usr/bin/chromium") or not os.path.exists("/usr/bin/chromedriver"):
        return None, "Debian's chromium and chromium-driver are not installed"
    import tempfile
    udir = tempfile.mkdtemp(prefix="wafa-chromium-", dir="/tmp")
    import atexit
    atexit.register(lambda: shutil.rmtree(udir, ignore_errors=True))
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=1000,1900", "--user-data-dir=" + udir):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts), None


def main():
    plan(54)
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, transport=sink.url, rules={"10-report.lua": RULES})
    r = w.setup()
    ok(r.returncode == 0, "wafa setup", diag=r.stderr)
    pg.psql_file(os.path.join(SRCDIR, "tests", "integration", "report.sql"))

    # ---- JSON: every number of the fixture
    r = w.command("report", "--from", FROM, "--to", TO, "--format", "json")
    ok(r.returncode == 0, "wafa report --format json exits 0", diag=r.stderr)
    rep = json.loads(r.stdout)
    is_(len(rep["weeks"]), 2, "two weeks in the fortnight")
    slas = {s["rule"]: s for s in rep["slas"]}
    is_(sorted(slas), ["first-response", "resolution"], "both SLAs are reported")
    fr, res = slas["first-response"], slas["resolution"]
    got = sub(fr, EXPECT_FR)
    ok(got.pop("compliance") is not None and close(fr["compliance"], 0.6)
       and got == {k: v for k, v in EXPECT_FR.items() if k != "compliance"},
       "first-response: 6 started, 3 met, 2 breached, 60%, median 120 min, p90 360 min "
       "in business time", diag=repr(sub(fr, EXPECT_FR)))
    is_((fr["weeks_started"], fr["weeks_met"], fr["weeks_breached"]), ([3, 3], [2, 1], [1, 1]),
        "first-response week by week")
    ok(close(fr["goal"], 0.75) and fr["stop"] == "first_reply_at",
       "first-response carries its goal (75%) and what it measures", diag=repr(fr))
    got = sub(res, EXPECT_RES)
    ok(close(got.pop("compliance"), 2 / 3)
       and got == {k: v for k, v in EXPECT_RES.items() if k != "compliance"},
       "resolution: 3 started, 2 met, 1 breached, median 24 h, p90 72 h (pauses left out)",
       diag=repr(sub(res, EXPECT_RES)))
    is_(rep["breaches_by_queue"], {"Support": 2, "Billing": 1}, "breaches by queue")
    is_(rep["promises"], {"made": [3, 2], "kept": [1, 1], "moved": [1, 0], "broken": [1, 0]},
        "promises made, kept, moved, broken")
    is_(rep["followups_sent"], [1, 1], "follow-ups sent (surveys apart)")
    s = rep["surveys"]
    ok(s["sent"] == [2, 3] and s["answered"] == [2, 1] and close(s["response_rate"], 0.6)
       and s["scores"] == [0, 1, 0, 1, 1] and close(s["csat"], 2 / 3),
       "surveys: 5 sent, 3 answered (60%), scores 2, 4, 5, CSAT 2/3", diag=repr(s))
    is_(rep["optouts"], [1, 1], "opt-outs by week")
    is_(rep["mails"], {"queued": [0, 1], "sent": [3, 5], "failed": [1, 0], "skipped": [0, 1]},
        "mails by status by week (the mailed report not among them)")

    # ---- --by queue and --by owner
    r = w.command("report", "--from", FROM, "--to", TO, "--format", "json", "--by", "queue")
    groups = {g["group"]: g for g in json.loads(r.stdout)["slas"][0]["groups"]} \
        if r.returncode == 0 else {}
    got = {k: sub(v, ("started", "met", "breached", "compliance", "median_ms"))
           for k, v in groups.items()}
    ok(set(got) == set(EXPECT_QUEUE) and all(
        close(got[q]["compliance"], e["compliance"]) and
        {k: v for k, v in got[q].items() if k != "compliance"} ==
        {k: v for k, v in e.items() if k != "compliance"} for q, e in EXPECT_QUEUE.items()),
        "--by queue splits first-response by the tickets' queues", diag=repr(got))
    r = w.command("report", "--from", FROM, "--to", TO, "--format", "json", "--by", "owner")
    owners = [g["group"] for g in json.loads(r.stdout)["slas"][0]["groups"]] \
        if r.returncode == 0 else []
    is_(owners, [None, "amal@example.com", "badr@example.com"],
        "--by owner: T4 without an owner is a group of its own", diag=r.stderr)
    # satisfaction by owner: badr's T2 (5) and T3 (4); T4 (2) has no owner
    by = json.loads(r.stdout).get("surveys_by") if r.returncode == 0 else None
    is_([(g["group"], g["answered"], g["scores"], round(g["csat"], 3), round(g["mean"], 3))
         for g in by or []],
        [("badr@example.com", 2, [0, 0, 0, 1, 1], 1.0, 4.5), (None, 1, [0, 1, 0, 0, 0], 0.0, 2.0)],
        "--by owner: survey scores, CSAT and mean per agent (an answer without an owner apart)",
        diag=repr(by))
    r = w.command("report", "--from", FROM, "--to", TO, "--format", "json")
    by = json.loads(r.stdout).get("surveys_by") if r.returncode == 0 else None
    is_([(g["group"], g["answered"], round(g["mean"], 3)) for g in by or []],
        [("csat", 3, round(11 / 3, 3))], "without --by: satisfaction by survey rule", diag=repr(by))

    # ---- CSV
    r = w.command("report", "--from", FROM, "--to", TO, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout))) if r.returncode == 0 else []
    find = {(x["section"], x["week"], x["rule"], x["group"], x["metric"]): x["value"] for x in rows}
    ok(find.get(("sla", "all", "first-response", "", "compliance")) == "0.6000"
       and find.get(("sla", "2026-11-09", "first-response", "", "breached")) == "1"
       and find.get(("sla", "all", "resolution", "", "p90_ms")) == str(72 * H)
       and find.get(("survey", "all", "", "", "score_4")) == "1"
       and find.get(("mail", "all", "", "", "sent")) == "8",
       "CSV: one value a line (section, week, rule, group, metric, value)",
       diag=r.stdout[:1500] + r.stderr)
    keys = [(x["section"], x["week"], x["rule"], x["group"], x["metric"]) for x in rows]
    twice = sorted(set(k for k in keys if keys.count(k) > 1))
    ok(rows and not twice, "CSV: each (section, week, rule, group, metric) once: a sum "
       "counts nothing twice", diag=repr(twice[:10]))

    # ---- HTML, English and Arabic
    os.makedirs(SHOTS, exist_ok=True)
    pages = {}
    for lang in ("en", "ar-EG"):
        path = os.path.join(SHOTS, "report-%s.html" % lang)
        r = w.command("report", "--from", FROM, "--to", TO, "--locale", lang, "-o", path)
        ok(r.returncode == 0 and os.path.exists(path), "wafa report -o (%s) writes the page" % lang,
           diag=r.stderr)
        with open(path, encoding="utf-8") as f:
            pages[lang] = f.read()
    en, ar = pages["en"], pages["ar-EG"]
    ok("<h2>Satisfaction by Rule</h2>" in en and "<h2>رضا العملاء حسب القاعدة</h2>" in ar,
       "the page has satisfaction by rule, in its language")
    srcs = re.findall(r'(?:src|href)="([^"]*)"', en + ar)
    ok(srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
       and "http" not in "".join(re.findall(r"url\(([^)]*)\)", en + ar)),
       "self-contained: every src is a data: PNG, nothing fetched", diag=repr([s[:40] for s in srcs]))
    is_(len(re.findall(r'<img src="data:image/png;base64,', en)), 3, "three charts")
    ok('dir="ltr"' in en and "60%" in en and "Compliance" in en and 'class="low">60%' in en,
       "English: 60% compliance, marked under the goal", diag=en[-3000:])
    ok('dir="rtl"' in ar and 'lang="ar-EG"' in ar and "نسبة الالتزام" in ar,
       "Arabic: right to left, in Arabic")
    ok("٦٠٪" in ar and "٢٠٢٦" in ar and "60%" not in ar,
       "Arabic: Arabic-Indic digits (٦٠٪) and dates (٠٢/١١/٢٠٢٦)",
       diag=re.sub(r"base64,[^\"]*", "", ar)[-3000:])

    r = w.command("report", "--from", FROM, "--to", TO, "--locale", "fa-IR")
    fa = r.stdout
    ok(r.returncode == 0 and 'dir="rtl"' in fa and "۶۰٪" in fa and "۱۴۰۵" in fa
       and "گزارش خدمات" in fa,
       "Persian: right to left, Persian digits (۶۰٪), Solar Hijri dates (۱۴۰۵)",
       diag=re.sub(r"base64,[^\"]*", "", fa)[:2000] + r.stderr)

    driver, why = chromium()
    if driver is None:
        skip("the pages in headless Chromium", why, 4)
    else:
        try:
            for lang, name in (("en", "report-en.png"), ("ar-EG", "report-ar.png")):
                driver.get("file://" + os.path.join(SHOTS, "report-%s.html" % lang))
                loaded = driver.execute_script(
                    "return Array.from(document.images).map(i => i.complete && i.naturalWidth)")
                ok(loaded == [640, 640, 640], "%s: the three charts load in Chromium" % lang,
                   diag=repr(loaded))
                driver.save_screenshot(os.path.join(SHOTS, name))
                direction = driver.execute_script(
                    "return getComputedStyle(document.querySelector('table')).direction")
                is_(direction, "rtl" if lang != "en" else "ltr",
                    "%s: the tables run %s" % (lang, "right to left" if lang != "en" else
                                                "left to right"))
            diag("screenshots in %s" % SHOTS)
        finally:
            driver.quit()

    # ---- bad input: said, with the fix
    r = w.command("report", "--from", FROM, "--to", TO, "--by", "team")
    ok(r.returncode == 64 and "--by \"team\": use queue, priority, rule, owner or agent" in r.stderr,
       "--by team: exit 64 with the choices", diag=r.stderr)
    r = w.command("report", "--from", FROM)
    ok(r.returncode == 64 and "give --from TIME and --to TIME" in r.stderr,
       "no --to: exit 64, says what to give", diag=r.stderr)
    r = w.command("report", "--from", TO, "--to", FROM)
    ok(r.returncode == 64 and "--to is before --from" in r.stderr, "--to before --from: exit 64",
       diag=r.stderr)
    r = w.command("report", "--from", FROM, "--to", TO, "--format", "pdf")
    ok(r.returncode == 64 and "html, csv or json" in r.stderr, "--format pdf: exit 64",
       diag=r.stderr)
    r = w.command("report", "--from", FROM, "--to", TO, "-o", "/nonexistent/dir/r.html")
    ok(r.returncode == 73 and "/nonexistent/dir/r.html" in r.stderr,
       "an unwritable -o: exit 73 naming the file", diag=r.stderr)
    r = w.command("report", "--from", FROM, "--to", TO, "--locale", 'en"><b>x')
    ok(r.returncode == 0 and 'lang="en&quot;&gt;&lt;b&gt;x"' in r.stdout,
       "a --locale with markup is escaped in the page", diag=r.stdout[:300])
    w.write_rule("20-bad.lua", 'report "monthly" { every = "30d" }\n'
                               'sla "x" { target = "1h", goal = "120%", on_breach = function() end }\n')
    r = w.check()
    ok(r.returncode == 65 and "20-bad.lua:1: report \"monthly\": to is required" in r.stderr,
       "wafa check: a report without to, at its line", diag=r.stderr)
    os.unlink(os.path.join(w.rules_dir, "20-bad.lua"))
    w.write_rule("20-bad.lua", 'sla "x" { target = "1h", goal = "120%", on_breach = function() end }\n')
    r = w.check()
    ok(r.returncode == 65 and '20-bad.lua:1: goal: expected the share of instances to meet, from '
       '"1%" to "100%"' in r.stderr, "wafa check: goal = \"120%\" is refused, saying the range",
       diag=r.stderr)
    os.unlink(os.path.join(w.rules_dir, "20-bad.lua"))
    # the report only reads: its session is read-only
    n = pg.value("SELECT count(*) FROM wafa.outbox")
    r = w.command("report", "--from", FROM, "--to", TO, "--format", "json")
    is_(pg.value("SELECT count(*) FROM wafa.outbox"), n, "a report writes nothing")

    mailed(pg, sink, w)


def mailed(pg, sink, w):
    """report "weekly" { every = "7d", ... }: the last whole week (Monday to
    Monday, UTC) is mailed once, by the daemon, through the outbox."""
    week = 7 * 86400
    monday = 4 * 86400  # 1970-01-05
    start = monday + ((int(time.time()) - monday) // week - 1) * week
    # in that week: T6 met after 2 business hours (Tue 08:00-10:00 UTC), T5
    # breached: first-response 1 met, 1 breached -> 50% (goal 75%)
    pg.psql(dedent('''
        INSERT INTO wafa.journal (ticket_id, rule, kind, instance, event, at)
        SELECT t, 'first-response', 'sla', s, e, to_timestamp(a) FROM (VALUES
          (6, %(s1)d, 'started', %(s1)d), (6, %(s1)d, 'met', %(s1)d + 7200),
          (5, %(s2)d, 'started', %(s2)d), (5, %(s2)d, 'breach', %(s2)d + 14400)) AS x(t, s, e, a);
    ''') % {"s1": start + 86400 + 8 * 3600, "s2": start + 86400 + 9 * 3600})
    w.start()
    got = wait_for(lambda: sink.messages_to("manager@example.com"), 20)
    ok(got, "the weekly report is mailed to manager@example.com", diag=w.log()[-3000:])
    if not got:
        skip("the mailed report's parts", "no mail came", 9)
        return
    m = got[0]
    ok("تقرير الخدمة" in str(m["subject"]) and m["Content-Language"] == "ar-EG",
       "its subject is in Arabic (Content-Language ar-EG)", diag=str(m["subject"]))
    rel = [p for p in m.walk() if p.get_content_type() == "multipart/related"]
    ok(m.get_content_type() == "multipart/alternative" and len(rel) == 1,
       "multipart/alternative with the HTML in a multipart/related", diag=m.as_string()[:1500])
    parts = list(rel[0].iter_parts()) if rel else []
    html = parts[0].get_content() if parts else ""
    imgs = [p for p in parts[1:] if p.get_content_type() == "image/png"]
    cids = [p["Content-ID"].strip("<>") for p in imgs]
    ok(len(imgs) == 3 and all(p.get_content().startswith(b"\x89PNG\r\n") for p in imgs),
       "three PNG charts as parts", diag=repr([p.get_content_type() for p in parts]))
    ok(sorted(re.findall(r'src="cid:([^"]+)"', html)) == sorted(cids) and "data:" not in html,
       "the HTML shows them by cid: (no data: URIs left)", diag=repr(cids))
    ok('dir="rtl"' in html and "first-response" in html, "the HTML is the Arabic report")
    text = m.get_body(("plain",)).get_content()
    ok("٥٠٪" in text and "٧٥٪" in text, "the text part: first-response ٥٠٪ against ٧٥٪",
       diag=text)
    key = "report/weekly/%d" % start
    is_(pg.psql("SELECT key, status, kind FROM wafa.outbox WHERE kind = 'report' AND key <> "
                "'report/weekly/1'"), [[key, "sent", "report"]],
        "one outbox row, keyed by the week's start, sent")
    # the mail as a person sees it: cid: parts put back as data: URIs for a browser
    page = html
    import base64
    for p, cid in zip(imgs, cids):
        page = page.replace("cid:" + cid, "data:image/png;base64," +
                            base64.b64encode(p.get_content()).decode())
    with open(os.path.join(SHOTS, "report-mail-ar.html"), "w", encoding="utf-8") as f:
        f.write(page)
    driver, why = chromium()
    if driver is None:
        skip("the mailed report in Chromium", why)
    else:
        try:
            driver.get("file://" + os.path.join(SHOTS, "report-mail-ar.html"))
            loaded = driver.execute_script(
                "return Array.from(document.images).map(i => i.complete && i.naturalWidth)")
            driver.save_screenshot(os.path.join(SHOTS, "report-mail-ar.png"))
            ok(loaded == [640, 640, 640], "the mailed charts show (screenshot report-mail-ar.png)",
               diag=repr(loaded))
        finally:
            driver.quit()
    # never twice: a restart finds the key in the outbox
    ok(w.stop() == 0, "wafa stops")
    w.start()
    time.sleep(5)
    is_(len(sink.messages_to("manager@example.com")), 1, "after a restart: still one report mail")
    w.stop_ok()


run(main)
