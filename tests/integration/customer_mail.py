#!/usr/bin/python3
"""Mail to customers end to end, on a real PostgreSQL, SMTP server and the
daemon's web listener: a satisfaction survey after a ticket is solved, in
Persian (Solar Hijri date, Persian digits, right to left) and Arabic (Hijri
date), parsed with Python's email package (multipart/alternative, decoded
subject and From, In-Reply-To to the helpdesk's thread, List-Unsubscribe
with one-click); the survey clicked in headless Chromium (score, thank-you
page, comment, all stored, screenshots kept); an opt-out honoured at once;
quiet hours holding a mail with its reason; offers over customers with no
offer while a ticket is open; a missing template parked with its reason."""
import base64
import os
import re
import secrets
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULES = dedent('''
    followup "csat" {
      since = "solved_at", after = "1s",
      when = function(t) return t.queue ~= "NoTemplate" end,
      on_due = function(t, s)
        mail { to = t.customer_email, template = "csat", survey = true,
               vars = { customer_name = t.customer_name, ticket_ref = t.ref,
                        ticket_subject = t.subject, solved_date = wafa.date(t.solved_at, t) } }
      end,
    }
    followup "broken" {
      since = "solved_at", after = "1s",
      when = function(t) return t.queue == "NoTemplate" end,
      on_due = function(t, s) mail { to = t.customer_email, template = "no-such-template" } end,
    }
    offer "loyal" {
      every = "1h",
      audience = function(c) return c.solved >= 1 and c.email:find("offer") ~= nil end,
      on_due = function(c, s)
        mail { to = c.email, template = "thank-you-offer",
               vars = { customer_name = c.name or c.email, offer_code = "THANKS",
                        offer_expiry = wafa.date(now() + duration("30d"), c),
                        offer_url = "https://shop.example.com/thanks" } }
      end,
    }
''')

SOLVED = "2026-11-29T10:00:00Z"  # 8 Azar 1405; 19 Jumada al-Akhirah 1448
SHOTS = os.path.join(BUILDDIR, "tests", "screenshots")


def chromium():
    """A headless Chromium through Selenium, or None with the reason."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        return None, "python3-selenium is not installed (%s)" % e
    if not os.path.exists("/usr/bin/chromium") or not os.path.exists("/usr/bin/chromedriver"):
        return None, "Debian's chromium and chromium-driver are not installed"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--window-size=900,1100", "--user-data-dir=" + tempfile_dir()):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts), None


def tempfile_dir():
    import tempfile
    d = tempfile.mkdtemp(prefix="wafa-chromium-", dir="/tmp")
    import atexit
    atexit.register(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def html_part(msg):
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            return part.get_content()
    return None


def main():
    require_wafa()
    plan(28)
    pg = Postgres()
    sink = SmtpSink()
    port = free_port()
    keyfile = os.path.join(pg.sockdir, "link.key")
    with open(keyfile, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    os.chmod(keyfile, 0o600)  # a key others can read is refused
    # the helpdesk's thread Message-ID, an optional column of the view
    pg.psql("CREATE VIEW tickets_threaded AS SELECT v.*, '<thread-' || v.id || "
            "'@helpdesk.example>' AS thread_message_id FROM wafa_tickets v")
    w = Wafa(pg, sink.url, rules={"customers.lua": RULES}, conf={
        "helpdesk.view": "public.tickets_threaded",
        "mail.templates": os.path.join(SRCDIR, "rules", "templates"),
        "web.listen": "127.0.0.1:%d" % port,
        "web.base_url": "http://127.0.0.1:%d/wafa" % port,
        "web.key_file": keyfile,
    })
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    def solve(subject, email, name, locale, tz, queue="Support"):
        tid, _ = pg.create_ticket(subject, "agent@example.com", customer_email=email,
                                  customer_name=name, customer_locale=locale, customer_tz=tz,
                                  queue=queue)
        pg.psql("UPDATE tickets SET status = 'solved', solved_at = '%s' WHERE id = %d"
                % (SOLVED, tid))
        return tid

    fa = solve("اینترنت قطع است", "maryam@example.com", "مریم رضایی", "fa-IR", "Asia/Tehran")
    ar = solve("طلب استرداد", "ahmed@example.com", "أحمد علي", "ar-SA", "Asia/Riyadh")
    got = wait_for(lambda: sink.messages_to("maryam@example.com") and
                   sink.messages_to("ahmed@example.com"), 15)
    if not ok(got, "survey mails reach the SMTP server a second after the solve",
              diag=lambda: sink.summary() + w.log()[-3000:]):
        return
    m = sink.messages_to("maryam@example.com")[0]
    is_(m.get_content_type(), "multipart/alternative", "multipart/alternative",
        diag=lambda: m.raw.decode(errors="replace")[:3000])
    types = [p.get_content_type() for p in m.walk()][1:]
    is_(types, ["text/plain", "text/html"], "a text part and an HTML part")
    is_(str(m["subject"]), "از پشتیبانی ما در درخواست %d راضی بودید؟" % fa,
        "the subject decodes to the Persian template's")
    ok([a.addr_spec for a in m["from"].addresses] == ["support@example.com"], "From decodes")
    html = html_part(m)
    ok(html and re.search(r'<html[^>]*lang="fa[^"]*"', html) and 'dir="rtl"' in html,
       "the HTML part is lang=\"fa\" dir=\"rtl\"", diag=lambda: html[:800])
    ok("۸ آذر ۱۴۰۵" in m.get_body(("plain",)).get_content(),
       "the solve date in the Solar Hijri calendar with Persian digits (۸ آذر ۱۴۰۵)",
       diag=lambda: m.get_body(("plain",)).get_content())
    is_(str(m["in-reply-to"]).strip(), "<thread-%d@helpdesk.example>" % fa,
        "In-Reply-To: the helpdesk's thread")
    ok("<thread-%d@helpdesk.example>" % fa in str(m["references"]), "References: the thread")
    unsub = str(m["list-unsubscribe"] or "")
    # one-click (List-Unsubscribe-Post) needs an https link (RFC 8058): this test's
    # listener is plain http on loopback, so only List-Unsubscribe; test_message
    # checks the https case
    ok(re.fullmatch(r"\s*<http://127\.0\.0\.1:%d/wafa/u/[^>]+>\s*" % port, unsub) and
       m["list-unsubscribe-post"] is None,
       "List-Unsubscribe to the unsubscribe link (one-click only for https links)",
       diag=lambda: "%r %r" % (unsub, str(m["list-unsubscribe-post"])))
    a = sink.messages_to("ahmed@example.com")[0]
    text = a.get_body(("plain",)).get_content()
    ok("١٩ جمادى الآخرة ١٤٤٨" in text, "the Arabic survey has the Hijri date (Umm al-Qura)",
       diag=text)
    ahtml = html_part(a)
    ok(ahtml and 'dir="rtl"' in ahtml and re.search(r'lang="ar', ahtml), "and is right to left")

    # --- a mail security scanner (Safe Links, Mimecast) opens every link in the
    # mail, and may POST an empty body to them: nothing may be recorded
    links_all = set(u.rstrip(".,;") for u in re.findall(
        r'https?://[^\s"<>()]+', html + text + m.get_body(("plain",)).get_content() + unsub))
    links_all |= set(re.findall(r'href="([^"]+)"', html))
    payloads = []
    for u in sorted(links_all):
        if "/wafa/" in u:
            tok = u.rsplit("/", 1)[1].split(".")[0]
            payloads.append(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))
    ok(len(payloads) >= 12 and all(b"@" not in p and b"example" not in p for p in payloads),
       "the links carry the mail's id, not the customer's address (readable in base64)",
       diag=repr(payloads))
    answers = [scan(u) for u in sorted(links_all) if "/wafa/" in u]
    answers += [scan(u, post=True) for u in sorted(links_all) if "/wafa/" in u]
    rows = pg.psql("SELECT (SELECT count(*) FROM wafa.survey), (SELECT count(*) FROM wafa.optout)")
    ok(len(answers) >= 12 and all(a == 200 for a in answers) and rows == [["0", "0"]],
       "a scanner that GETs (and POSTs nothing to) every link of the mails records nothing",
       diag=lambda: "%r %r %r" % (sorted(links_all), answers, rows))

    # --- the survey in a browser: open the HTML part, click 4, comment
    os.makedirs(SHOTS, exist_ok=True)
    mail_file = os.path.join(SHOTS, "survey-mail-fa.html")
    with open(mail_file, "w", encoding="utf-8") as f:
        f.write(html)
    driver, why = chromium()
    if driver is None:
        skip("survey in headless Chromium", why, 5)
    else:
        try:
            driver.get("file://" + mail_file)
            driver.save_screenshot(os.path.join(SHOTS, "1-survey-mail-fa.png"))
            links = [e for e in driver.find_elements("tag name", "a")
                     if "/wafa/s/" in (e.get_attribute("href") or "")]
            ok(len(links) == 5, "the mail shows five score links", diag=repr(len(links)))
            links[3].click()
            time.sleep(0.5)
            body = driver.find_element("tag name", "body").text
            driver.save_screenshot(os.path.join(SHOTS, "2-choose-fa.png"))
            buttons = driver.find_elements("tag name", "button")
            ok("۴" in body and driver.find_element("tag name", "html").get_attribute("dir") == "rtl"
               and len(buttons) == 1,
               "the survey page, in Persian, shows the score 4 chosen and one button", diag=body)
            is_(pg.psql("SELECT count(*) FROM wafa.survey"), [["0"]],
                "opening the link records nothing: only the button does")
            box = driver.find_element("name", "comment")
            box.send_keys("خیلی سریع بود، ممنون")
            box.submit()
            time.sleep(0.5)
            driver.save_screenshot(os.path.join(SHOTS, "3-comment-saved-fa.png"))
            rows = pg.psql("SELECT ticket_id, score, comment FROM wafa.survey")
            is_(rows, [[str(fa), "4", "خیلی سریع بود، ممنون"]], "score and comment are stored")
            diag("screenshots in %s" % SHOTS)
            driver.get(re.search(r'href="([^"]*/wafa/s/[^"]*)"', html).group(1))
            time.sleep(0.5)
            driver.find_element("tag name", "button").click()
            time.sleep(0.5)
            driver.save_screenshot(os.path.join(SHOTS, "4-thank-you-fa.png"))
            rows = pg.psql("SELECT count(*), min(score) FROM wafa.survey")
            is_(rows, [["1", "1"]], "sending another score updates it: one answer per mail")
        finally:
            driver.quit()

    # --- an opt-out is honoured at once: the next customer mail is skipped
    r = http_post("http://127.0.0.1:%d/wafa/u/%s" % (port, unsub.strip().strip("<>").rsplit("/", 1)[1]),
                  b"List-Unsubscribe=One-Click")
    ok(r == 200, "one-click unsubscribe answers 200", diag=repr(r))
    again = solve("another one", "maryam@example.com", "مریم", "fa-IR", "Asia/Tehran")
    got = wait_for(lambda: pg.psql("SELECT status, last_error FROM wafa.outbox WHERE ticket_id = %d"
                                   " AND status <> 'queued'" % again), 10)
    is_(got, [["skipped", "opted out"]], "a survey to a customer who opted out is skipped, with why")

    # --- a template that does not exist: parked failed with the reason, no hole
    broken = solve("no template", "sara@example.com", "Sara", "en", "UTC", queue="NoTemplate")
    got = wait_for(lambda: pg.psql("SELECT status, last_error FROM wafa.outbox WHERE ticket_id = %d"
                                   " AND status <> 'queued'" % broken), 10)
    ok(got and got[0][0] == "failed" and "no-such-template" in (got[0][1] or ""),
       "a missing template parks the mail as failed with the reason", diag=repr(got))
    w.stop()

    # --- quiet hours: this hour in UTC is quiet for a customer without a zone
    hour = time.gmtime().tm_hour
    w.settings["contact"] = {"quiet_hours": "%02d:00-%02d:00" % (hour, (hour + 2) % 24),
                             "offer_while_open": "no"}
    w.write_config()
    w.start()
    q = solve("at night", "night@example.com", "Night Owl", "en", None)
    got = wait_for(lambda: pg.psql("SELECT status, held_reason, "
                                   "extract(epoch FROM next_attempt_at) > extract(epoch FROM now()) "
                                   "FROM wafa.outbox WHERE ticket_id = %d AND held_reason IS NOT NULL"
                                   % q), 10)
    ok(got and got[0][0] == "queued" and got[0][1].startswith("quiet hours") and got[0][2] == "t",
       "a mail due in the customer's quiet hours is held, not dropped, with why", diag=repr(got))
    ok(not sink.messages_to("night@example.com"), "and is not sent now")

    # --- offers: over customers; none while a ticket is open (made with wafa stopped, or
    # the quiet-hours run above would hold the offer until its quiet hours end)
    w.stop()
    solve("loyal one", "offer-ok@example.com", "Loyal", "en", "UTC")
    solve("loyal two", "offer-open@example.com", "Busy", "en", "UTC")
    pg.create_ticket("still open", "agent@example.com", customer_email="offer-open@example.com")
    w.settings["contact"] = {"offer_while_open": "no"}
    w.write_config()
    w.start()  # the offer check runs 3 s after the snapshot
    offers = lambda: pg.psql("SELECT rcpt, status, coalesce(last_error, '') FROM wafa.outbox "
                             "WHERE kind = 'offer' AND status <> 'queued' ORDER BY rcpt")
    got = wait_for(lambda: len(offers()) >= 2 and offers(), 15)
    is_(got, [["offer-ok@example.com", "sent", ""],
              ["offer-open@example.com", "skipped", "no offer while a ticket is open (1 open)"]],
        "an offer to the loyal customer; none to the one with an open ticket",
        diag=lambda: w.log()[-3000:])
    o = [x for x in sink.messages_to("offer-ok@example.com") if "Thank you for" in str(x["subject"])]
    ok(o and o[0]["list-unsubscribe"] and "THANKS" in o[0].get_body(("plain",)).get_content(),
       "the offer carries List-Unsubscribe and the template's text",
       diag=lambda: sink.summary())
    w.stop_ok()


def scan(url, post=False):
    """What a link scanner does: GET the link (or POST it an empty body)."""
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, data=b"" if post else None,
                                 method="POST" if post else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def http_post(url, data):
    import urllib.error
    import urllib.request
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


run(main)
