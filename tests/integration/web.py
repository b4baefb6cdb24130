#!/usr/bin/python3
"""The web listener of `wafa run` ([web] listen): survey clicks recorded once
and updated by a second click, comments, unsubscribe (confirm page, form,
RFC 8058 one-click), pages in the mail's language, and forged, altered,
expired and unknown links refused with nothing recorded.  Links are minted
here with an implementation of core/web/token.h's format of our own (hmac,
base64), so a change of format on one side only shows."""
import base64
import hashlib
import hmac
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
COMMENT = "الخدمة ممتازة، لكن الرد تأخر يومين <b>&amp;</b> \"شكرًا\""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(key, kind, mail_id, email, score=0, expires=None, version=2):
    """base64url(payload) "." base64url(HMAC-SHA256(key, payload)).  v2 has no
    address (the listener reads the mail's from the outbox; email is unused);
    v1, of links already sent, has it."""
    if expires is None:
        expires = int(time.time()) + 3600
    if version == 1:
        payload = "v1|%s|%d|%d|%s|%d" % (kind, expires, mail_id, email, score)
    else:
        payload = "v2|%s|%d|%d|%d" % (kind, expires, mail_id, score)
    payload = payload.encode("utf-8")
    return b64url(payload) + "." + b64url(hmac.new(key, payload, hashlib.sha256).digest())


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", errors="replace")

    def __repr__(self):
        return "HTTP %s\n%s\n%s" % (self.status, self.headers, self.text[:1500])


def http(url, data=None, method=None, headers=None):
    """One request; 4xx and 5xx are answers too."""
    if isinstance(data, dict):
        data = urllib.parse.urlencode(data).encode("ascii")
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def main():
    require_wafa()
    pg = Postgres()
    port = free_port()
    base = "http://127.0.0.1:%d/wafa" % port
    keydir = os.path.join(pg.sockdir, "web")
    os.makedirs(keydir)
    key_path = os.path.join(keydir, "link.key")
    key = base64.b64encode(os.urandom(33))
    with open(key_path, "wb") as f:
        f.write(key + b"\n")
    os.chmod(key_path, 0o600)  # the key is the file's bytes without the newline

    w = Wafa(pg, "smtp://127.0.0.1:%d" % free_port(),
             rules={"first-response.lua": breach_rule(target="1h")},
             conf={"web.listen": "127.0.0.1:%d" % port, "web.base_url": base,
                   "web.key_file": key_path})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return

    def sent_mail(n, locale, rcpt):
        return int(pg.value(
            "INSERT INTO wafa.outbox (key, ticket_id, rule, phase, mail_from, rcpt, subject, body,"
            " status, audience, kind, locale, survey, sent_at) VALUES"
            " ('survey/%d/after/1/1', %d, 'survey', 'after', 'support@example.com', %s,"
            " 'How did we do?', '...', 'sent', 'customer', 'followup', %s, true, now())"
            " RETURNING id" % (n, n, pg.quote(rcpt), pg.quote(locale))))

    ar = sent_mail(1, "ar-EG", "Layla Haddad <layla@example.com>")
    fa = sent_mail(2, "fa-IR", "omid@example.com")
    en = sent_mail(3, None, "jo@example.com")
    odd_mail = sent_mail(4, "ar-EG", "O'Brien&\"x\"@Example.com")

    def surveys():
        return pg.psql("SELECT mail_id, ticket_id, rule, email, score, comment,"
                       " updated_at >= answered_at FROM wafa.survey ORDER BY mail_id")

    def optouts():
        return pg.psql("SELECT email, source FROM wafa.optout ORDER BY email")

    w.start()
    def health():
        try:
            return http(base + "/health")
        except OSError:
            return None
    h = wait_for(health, 10, 0.1)
    if not ok(h and h.status == 200 and h.text == "ok\n", "/health answers 200 ok",
              diag=lambda: "%r\n%s" % (h, w.log()[-3000:])):
        w.stop()
        return

    # --- /health and /metrics at their exact paths only
    for path, want in (("/health", 200), ("/wafa/health", 200), ("/metrics", 200),
                       ("/wafa/metrics", 200), ("/a/b/metrics", 404), ("/wafa/x/health", 404),
                       ("/s/metrics", 404), ("/wafa/metricsx", 404)):
        got = http("http://127.0.0.1:%d%s" % (port, path))
        ok(got.status == want and (want == 404) == ("wafa_" not in got.text and
                                                     got.text != "ok\n"),
           "%s answers %d" % (path, want), diag=lambda: repr(got))

    # --- a survey link: a GET (a mail scanner's too) shows the score chosen
    # and one button, and records nothing; the button's POST records
    u4 = base + "/s/" + mint(key, "s", ar, "layla@example.com", 4)
    s4 = http(u4)
    is_(s4.status, 200, "a survey link's GET answers 200", diag=lambda: repr(s4) + w.log()[-2000:])
    is_(surveys(), [], "a GET records nothing (scanners open every link)")
    ok('<html lang="ar" dir="rtl">' in s4.text, "the Arabic page has lang=\"ar\" dir=\"rtl\"",
       diag=s4.text[:400])
    ok("★★★★☆" in s4.text and "٤ من ٥" in s4.text and s4.text.count("<button") == 1,
       "it shows 4 of 5 chosen (stars, Arabic digits) and one button", diag=s4.text)
    ok('<form method="post"' in s4.text and 'name="comment"' in s4.text,
       "with a comment box, in a form that posts back", diag=s4.text)
    e = http(u4, b"", headers={"Content-Type": "application/x-www-form-urlencoded"})
    ok(e.status == 200 and "<button" in e.text and surveys() == [],
       "a POST without the form's field (a scanner's) shows the page and records nothing",
       diag=lambda: repr(e))
    s4 = http(u4, {"comment": ""})
    is_(s4.status, 200, "the button (an empty comment) answers 200", diag=lambda: repr(s4))
    is_(surveys(), [[str(ar), "1", "survey", "layla@example.com", "4", None, "t"]],
        "the button recorded one row, with the mail's ticket and rule")
    ok("شكرًا" in s4.text and "٤ من ٥" in s4.text and "<form" not in s4.text,
       "it thanks and shows 4 of 5", diag=s4.text)
    hd = s4.headers
    ok(hd.get("Content-Type") == "text/html; charset=utf-8" and
       hd.get("X-Content-Type-Options") == "nosniff" and
       (hd.get("Content-Security-Policy") or "").startswith(CSP) and
       hd.get("Referrer-Policy") == "no-referrer",
       "Content-Type with charset, nosniff, CSP and Referrer-Policy", diag=str(hd))
    ok("http:" not in s4.text and "https:" not in s4.text and "src=" not in s4.text,
       "the page loads nothing from elsewhere", diag=s4.text)

    s2 = http(base + "/s/" + mint(key, "s", ar, "layla@example.com", 2), {"comment": ""})
    is_(s2.status, 200, "a second score answers 200")
    rows = surveys()
    ok(len(rows) == 1 and rows[0][4] == "2", "a second score updates the score: still one row",
       diag=repr(rows))

    # --- a comment
    url_ar = base + "/s/" + mint(key, "s", ar, "layla@example.com", 2)
    c = http(url_ar, {"comment": COMMENT})
    is_(c.status, 200, "a comment POST answers 200", diag=lambda: repr(c))
    ok("شكرًا على تعليقك" in c.text and 'dir="rtl"' in c.text, "the comment-saved page, in Arabic",
       diag=c.text)
    rows = surveys()
    ok(len(rows) == 1 and rows[0][5] == COMMENT and rows[0][4] == "2",
       "the comment is stored exactly, beside the score", diag=repr(rows))

    # a comment for a mail with no score yet: the token's score comes with it
    c = http(base + "/s/" + mint(key, "s", fa, "omid@example.com", 5), {"comment": "عالی بود\r\nممنون"})
    is_(c.status, 200, "a comment before any click answers 200", diag=lambda: repr(c))
    ok('<html lang="fa" dir="rtl">' in c.text and "از نظرتان سپاسگزاریم" in c.text,
       "the Persian comment-saved page", diag=c.text[:600])
    rows = [r for r in surveys() if r[0] == str(fa)]
    ok(rows and rows[0][4] == "5" and rows[0][5] == "عالی بود\nممنون",
       "it records the token's score and the comment (line breaks as LF)", diag=repr(rows))

    before = surveys()
    long_ok = "ب" * 2000
    c = http(url_ar, {"comment": long_ok})
    ok(c.status == 200 and surveys()[0][5] == long_ok, "a comment of 2000 characters is kept",
       diag=repr(c))
    c = http(url_ar, {"comment": long_ok + "ب"})
    is_(c.status, 413, "a comment of 2001 characters is refused with 413")
    ok(surveys()[0][5] == long_ok, "and changes nothing")
    c = http(url_ar, b"comment=%FF%FEabc", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    is_(c.status, 400, "a comment that is not UTF-8 is refused with 400")
    c = http(url_ar, b"comment=" + b"x" * 100000, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    is_(c.status, 413, "a body of 100 kB is refused with 413")
    before = surveys()

    # --- links that do not verify, and other bad requests: nothing recorded
    good = mint(key, "s", en, "jo@example.com", 5)
    payload, sig = good.split(".")
    altered = b64url(("v2|s|%d|%d|1" % (int(time.time()) + 3600, en)).encode()) + "." + sig
    cases = [
        ("forged (another key)", "/s/" + mint(b"x" * 40, "s", en, "jo@example.com", 5), 400),
        ("altered (score changed, old signature)", "/s/" + altered, 400),
        ("cut short", "/s/" + good[:-3], 400),
        ("garbage", "/s/%3Cscript%3E", 400),
        ("expired", "/s/" + mint(key, "s", en, "jo@example.com", 5,
                                 expires=int(time.time()) - 60), 410),
        ("a survey token on the unsubscribe path", "/u/" + good, 400),
        ("an unknown mail", "/s/" + mint(key, "s", 999999, "jo@example.com", 5), 404),
        ("an unknown path", "/x/" + good, 404),
    ]
    for name, path, want in cases:
        got = http(base + path)
        ok(got.status == want and "text/html; charset=utf-8" == got.headers.get("Content-Type"),
           "%s: %d with a page" % (name, want), diag=lambda: repr(got))
    got = http(base + "/s/" + good, method="PUT", data=b"x")
    ok(got.status == 405 and "GET" in (got.headers.get("Allow") or ""), "PUT: 405 with Allow",
       diag=lambda: repr(got))
    got = http(base + "/s/" + mint(b"y" * 40, "s", en, "jo@example.com", 5),
               headers={"Accept-Language": "fa-IR,fa;q=0.9,en;q=0.5"})
    ok(got.status == 400 and 'lang="fa" dir="rtl"' in got.text,
       "an error page follows Accept-Language", diag=lambda: repr(got))
    is_(surveys(), before, "none of them recorded anything")
    is_(optouts(), [], "and there is no opt-out")

    # --- links carry the mail's id, not the customer's address (issue 17, 12)
    old = http(base + "/s/" + mint(key, "s", en, "jo@example.com", 3, version=1))
    ok(old.status == 200 and "<button" in old.text, "a link already sent (v1 token) still works",
       diag=lambda: repr(old))

    # --- unsubscribe: GET asks, POST records; the address is the mail's
    odd = "O'Brien&\"x\"@Example.com"
    u_url = base + "/u/" + mint(key, "u", odd_mail, odd)
    g = http(u_url)
    is_(g.status, 200, "unsubscribe GET answers 200", diag=lambda: repr(g))
    ok('<form method="post"' in g.text and "<button" in g.text and 'dir="rtl"' in g.text,
       "it shows a confirm button (a form posting back), in Arabic", diag=g.text)
    ok("o&#39;brien&amp;&quot;x&quot;@example.com" in g.text and odd.lower() not in g.text,
       "the mail's address on the page is escaped", diag=g.text)
    is_(optouts(), [], "unsubscribe GET records nothing")
    for body in (b"", b"confirm=0", b"List-Unsubscribe=Two-Clicks", b"x=List-Unsubscribe=One-Click"):
        p = http(u_url, body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        ok(p.status == 200 and "<button" in p.text and optouts() == [],
           "a POST of %r shows the confirm page and records nothing" % body, diag=lambda: repr(p))
    p = http(u_url, {"confirm": "1"})
    is_(p.status, 200, "the confirm form's POST answers 200", diag=lambda: repr(p))
    is_(optouts(), [[odd.lower(), "link"]], "it records the opt-out, in lower case, source link")
    ok("تم إلغاء اشتراكك" in p.text, "the unsubscribed page, in Arabic", diag=p.text)

    # a link made for a recipient written "Name <address>": the address is what counts
    one = base + "/u/" + mint(key, "u", en, "Jo Bloggs <Jo@Example.com>")
    p = http(one, b"List-Unsubscribe=One-Click",
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    ok(p.status == 200 and '<html lang="en" dir="ltr">' in p.text and "Bloggs" not in p.text,
       "an RFC 8058 one-click POST answers 200 (English: the mail has no locale)",
       diag=lambda: repr(p))
    p = http(one, b"List-Unsubscribe=One-Click",
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    is_(p.status, 200, "a repeated one-click POST answers 200")
    is_(optouts(), sorted([[odd.lower(), "link"], ["jo@example.com", "link"]]),
        "the one-click opt-out is recorded once, as the bare address in lower case")
    p = http(base + "/u/" + mint(key, "u", 999999, "x@example.com"), b"List-Unsubscribe=One-Click")
    ok(p.status == 404 and len(optouts()) == 2,
       "an unsubscribe link for a mail not in the outbox: 404, nothing recorded",
       diag=lambda: repr(p))
    gone = base + "/u/" + mint(key, "u", en, "x@example.com", expires=int(time.time()) - 1)
    p = http(gone, b"List-Unsubscribe=One-Click")
    ok(p.status == 410 and len(optouts()) == 2, "an expired unsubscribe link: 410, nothing recorded",
       diag=lambda: repr(p))

    # --- slowloris: 600 half-sent requests from one address (127.0.0.2) do not
    # keep /health (from 127.0.0.1) from answering, and are dropped soon
    import socket
    held = []
    for i in range(600):
        try:
            sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sk.bind(("127.0.0.2", 0))
            sk.settimeout(2)
            sk.connect(("127.0.0.1", port))
            sk.sendall(b"GET /wafa/health HTTP/1.1\r\nHost: x\r\n")
            held.append(sk)
        except OSError:
            sk.close()
    t0 = time.time()
    try:
        h = http(base + "/health")
    except OSError as e:
        h = e
    ok(isinstance(h, Reply) and h.status == 200,
       "/health answers while %d half-sent requests are open (600 tried, one address)" % len(held),
       diag=lambda: "%r after %.1f s\n%s" % (h, time.time() - t0, w.log()[-2000:]))
    time.sleep(7)
    closed = 0
    for sk in held:
        try:
            sk.settimeout(0.01)
            if sk.recv(1) == b"":
                closed += 1
        except socket.timeout:
            pass
        except OSError:
            closed += 1
        sk.close()
    ok(held and closed == len(held),
       "the half-sent requests are closed by the header timeout (5 s)",
       diag="%d of %d closed" % (closed, len(held)))

    ok(w.running, "wafa is still running", diag=lambda: w.log()[-3000:])
    w.stop_ok()

    # --- a key file its group or anyone can read is refused, with the chmod
    r = w.command("doctor", timeout=60)
    ok("ok   secret        [web] key_file %s is readable by its owner only" % key_path in r.stdout,
       "doctor: the key file is private", diag=show(r))
    for mode, who in ((0o640, "its group"), (0o644, "anyone")):
        os.chmod(key_path, mode)
        r = w.command("doctor", timeout=60)
        ok(r.returncode != 0 and "FAIL secret        [web] key_file %s can be read by %s (mode %03o)"
           % (key_path, who, mode) in r.stdout and "run chmod 600 %s" % key_path in r.stdout,
           "doctor fails a key file of mode %03o and says to chmod 600" % mode, diag=show(r))
        r = w.command("run", timeout=30)
        ok(r.returncode != 0 and "chmod 600 %s" % key_path in r.stderr,
           "wafa run refuses a key file of mode %03o, saying what to run" % mode, diag=show(r))
    os.chmod(key_path, 0o600)


run(main)
