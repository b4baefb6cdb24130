#!/usr/bin/python3
"""The freescout adapter against the real FreeScout 1.8.145, installed from
its release file (shared/helpdesks/freescout-1.8.145.tar.xz, see
helpdesk_file() in tests/lib/harness.py) on Debian's PHP 8.2 with its own
migrations on the harness's PostgreSQL, APP_TIMEZONE=Asia/Tehran.  Customers'
mails go through its mail fetcher's saveCustomerThread(), agents' replies,
notes, status changes, undo and delete through its web routes, its replies
to customers through its queue and the mailbox's SMTP (the sink), all by
tests/lib/freescout.php.  wafa runs under the role contrib/wafa-role makes.

Checked: no reply, reply in time, a note, pending, close and reopen, a
deleted conversation, a customer's follow-up (next reply), an undone reply
(FreeScout leaves the status pending: the customer still waits), and a
reply the SMTP server refused (not a reply); `wafa doctor` under the role.
Skipped, saying why, without the release file or PHP.  About 60 s."""
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RELEASE = "freescout-1.8.145.tar.xz"
DRIVER = os.path.join(SRCDIR, "tests", "lib", "freescout.php")
ADAPTERS = os.path.join(SRCDIR, "plugins", "adapters")
PHP_MODULES = ["pdo_pgsql", "mbstring", "xml", "curl", "gd", "intl", "zip", "bcmath", "imap"]
TARGET = 10
LATE = 1.0
AGENT = "layla@wafa-test.org"
LEAD = "lead@wafa-test.org"

RULES = {
    "fr.lua": '''
sla "first-response" {
  start = "created_at", stop = "first_reply_at", target = "%ds",
  pause = { "pending" },
  on_breach = function(t, s)
    mail { to = "%s", subject = "FR #" .. t.ref .. " " .. t.subject }
  end,
}
sla "next-reply" {
  start = "last_customer_at", stop = "last_agent_at", target = "%ds",
  when = function(t) return t.subject:find("^I ") ~= nil end,
  on_breach = function(t, s)
    mail { to = "%s", subject = "NR #" .. t.ref .. " " .. t.subject }
  end,
}
''' % (TARGET, LEAD, TARGET, LEAD)}


def missing():
    """Why FreeScout cannot run here, or None."""
    if not helpdesk_file(RELEASE):
        return ("%s is not here (put it in $WAFA_HELPDESKS or ../shared/helpdesks)" % RELEASE)
    php = shutil.which("php")
    if not php:
        return "PHP is not installed (scripts/deps: php8.2-cli and its extensions)"
    have = subprocess.run([php, "-m"], stdout=subprocess.PIPE).stdout.decode().lower().split()
    lack = [m for m in PHP_MODULES if m not in have]
    if lack:
        return "PHP lacks %s (scripts/deps installs php8.2-*)" % ", ".join(lack)
    return None


class FreeScout:
    def __init__(self, pg, sink):
        self.pg = pg
        self.root = os.path.join(tempfile.mkdtemp(prefix="wafa-freescout-", dir="/tmp"),
                                 "freescout")
        atexit.register(shutil.rmtree, os.path.dirname(self.root), True)
        os.makedirs(self.root)
        subprocess.run(["tar", "-xJf", helpdesk_file(RELEASE), "-C", self.root,
                        "--strip-components=1"], check=True)
        with open(os.path.join(self.root, ".env"), "w") as f:
            f.write("APP_URL=http://127.0.0.1:8080\nAPP_ENV=production\nAPP_DEBUG=false\n"
                    "APP_TIMEZONE=Asia/Tehran\nAPP_KEY=\nDB_CONNECTION=pgsql\n"
                    "DB_HOST=%s\nDB_PORT=%d\nDB_DATABASE=freescout\nDB_USERNAME=freescout\n"
                    "DB_PASSWORD=\n" % (pg.sockdir, pg.port))

    def artisan(self, *args, check=True):
        r = subprocess.run(["php", "artisan"] + list(args), cwd=self.root, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        if check and r.returncode != 0:
            raise RuntimeError("php artisan %s: %s" % (" ".join(args), r.stdout.decode()[-3000:]))
        return r.stdout.decode()

    def php(self, cmd, **arg):
        r = subprocess.run(["php", DRIVER, self.root, cmd, json.dumps(arg)], cwd=self.root,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("freescout.php %s %r: %s%s" % (cmd, arg, r.stdout.decode()[-2000:],
                                                             r.stderr.decode()[-2000:]))
        return json.loads(r.stdout.decode().strip().splitlines()[-1])

    def mail(self, sender, subject, message_id, in_reply_to=None):
        """A customer's mail as its fetcher saves it; returns (conversation, number)."""
        r = self.php("customer_mail", mailbox_id=1, message_id=message_id, **{"from": sender},
                     subject=subject, body="<p>%s</p>" % subject, in_reply_to=in_reply_to)
        return r["conversation"], r["number"]

    def ajax(self, action, conv, **params):
        params.update(action=action, conversation_id=conv)
        r = self.php("http", **{"as": AGENT, "method": "POST", "uri": "/conversation/ajax",
                                "params": params})
        if r["code"] != 200 or not isinstance(r["body"], dict) or r["body"].get("status") != "success":
            raise RuntimeError("%s on %d: %r" % (action, conv, r))
        return r["body"]

    def reply(self, conv, to, status, note=False):
        return self.ajax("send_reply", conv, mailbox_id=1, body="<p>Answer</p>", status=status,
                         user_id=1, to=to, is_note=1 if note else "")

    def threads(self, conv):
        return self.php("threads", conversation=conv)

    def work_queue(self):
        return self.artisan("queue:work", "--queue=emails,default", "--once", "--tries=1")


def main():
    require_wafa()
    why = missing()
    if why:
        skip("wafa against the real FreeScout", why)
        return
    t0 = time.monotonic()
    pg = Postgres(load_sample=False)
    pg.psql("CREATE ROLE freescout LOGIN; CREATE DATABASE freescout OWNER freescout",
            db="postgres")
    sink = SmtpSink(replies=[("refused@", "550")])
    fs = FreeScout(pg, sink)
    fs.artisan("key:generate", "--force")
    out = fs.artisan("migrate", "--force")
    ok(pg.value("SELECT count(*) FROM threads", db="freescout") == "0",
       "FreeScout's own migrations build its schema on PostgreSQL", diag=out[-2000:])
    fs.artisan("freescout:create-user", "--role=admin", "--firstName=Layla", "--lastName=Haddad",
               "--email=" + AGENT, "--password=wafa-test-1234", "-n")
    fs.php("mailbox", name="Support", email="support@wafa-test.org", host="127.0.0.1",
           port=sink.port)
    diag("FreeScout installed in %.1f s" % (time.monotonic() - t0))

    owner_dsn = pg.dsn_for("freescout").replace("user=postgres", "user=freescout")
    w = Wafa(pg, sink.url, rules=RULES, conf={
        "database.dsn": owner_dsn, "helpdesk.adapter": "freescout",
        "helpdesk.adapters": ADAPTERS, "helpdesk.view": "wafa.tickets",
        # debug: each status change wafa saw is logged, for when E's breach is missing
        # (point 12 failed so in 2 of about 8 CI runs, never in 5 runs here)
        "log.level": "debug"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup as FreeScout's database owner", diag=show(r)):
        return
    pg.psql("CREATE OR REPLACE FUNCTION wafa.freescout_timezone() RETURNS text LANGUAGE sql "
            "IMMUTABLE AS $$ SELECT 'Asia/Tehran'::text $$", db="freescout")
    role = pg.wafa_role("freescout")
    w.settings["database"]["dsn"] = role
    w.write_config()
    w.start()

    # each conversation from a customer's mail, and at once what an agent does
    conv, created = {}, {}

    def mail(key):
        sender = "refused@cust.org" if key == "F" else "%s@cust.org" % key.lower()
        conv[key] = fs.mail(sender, "%s case" % key, "%s-1@cust.org" % key)
        created[key] = int(float(pg.value("SELECT extract(epoch FROM created_at) FROM "
                                          "wafa.tickets WHERE id = %d" % conv[key][0],
                                          db="freescout")))
        return conv[key][0]

    mail("A")                                                     # no reply
    fs.reply(mail("B"), "b@cust.org", 1)                          # answered in time
    fs.reply(mail("C"), "c@cust.org", 1, note=True)               # a note only
    fs.ajax("conversation_change_status", mail("D"), status=2)    # pending
    mail("E")
    e_reply = time.time()
    fs.reply(conv["E"][0], "e@cust.org", 2)                       # a reply, pending ...
    e_thread = [t for t in fs.threads(conv["E"][0]) if t["type"] == 2][0]["id"]
    r = fs.php("http", **{"as": AGENT, "method": "GET",
                          "uri": "/conversation/undo-reply/%d" % e_thread})  # ... undone
    e_paused = time.time() - e_reply  # at most: pending from the reply to its undo
    ok(r["code"] in (200, 302), "FreeScout's undo of E's reply", diag=repr(r))
    fs.reply(mail("F"), "refused@cust.org", 1)                    # its SMTP refuses it
    fs.ajax("delete_conversation", mail("H"), )                   # deleted
    fs.reply(mail("I"), "i@cust.org", 1)                          # answered, then
    time.sleep(1.1)  # FreeScout's times are whole seconds: the follow-up comes after
    i_before = time.time()
    fs.mail("i@cust.org", "I case", "I-2@cust.org", in_reply_to="I-1@cust.org")  # a follow-up
    i_followup = time.time()
    fs.ajax("conversation_change_status", mail("G"), status=3)    # closed ...
    g_closed = time.time()
    time.sleep(2)
    g_reopened = time.time()  # it was closed at least from g_closed to then
    fs.mail("g@cust.org", "G case", "G-2@cust.org", in_reply_to="G-1@cust.org")  # ... reopened
    g_reopen_done = time.time()
    ok(all(abs(created[k] - time.time()) < 60 for k in created),
       "created_at read in APP_TIMEZONE Asia/Tehran is now", diag=repr(created))
    diag("the conversations made in %.1f s" % (time.time() - min(created.values())))

    def view(key, cols="status, raw_status, first_reply_at IS NOT NULL, "
                       "extra->>'pending_unsent', extra->>'unsent_replies'"):
        rows = pg.psql("SELECT %s FROM wafa.tickets WHERE id = %d" % (cols, conv[key][0]),
                       db="freescout")
        return rows[0] if rows else None

    is_(view("E"), ["open", "pending", "f", "true", "0"],
        "E: an undone reply is a draft again, FreeScout leaves the status pending; the view "
        "says open: the customer still waits")
    is_(view("D"), ["pending", "pending", "f", "false", "0"],
        "D: pending set by a status change stays pending")
    is_(view("H"), None, "H: a deleted conversation leaves the view")
    is_(view("G")[:2], ["new", "active"], "G: the customer's mail reopens the closed one")

    # FreeScout sends the replies after its 15 s undo time, through its queue
    end = time.time() + 40
    f_failed = None
    while time.time() < end and f_failed is None:
        fs.work_queue()
        if pg.value("SELECT count(*) FROM send_logs s JOIN threads t ON t.id = s.thread_id "
                    "WHERE t.conversation_id = %d" % conv["F"][0], db="freescout") != "0":
            f_failed = time.time()
        else:
            time.sleep(1)
    ok(f_failed is not None, "FreeScout tried to send F's reply", diag=fs.threads(conv["F"][0]))
    f_rows = pg.psql("SELECT t.send_status, s.status FROM threads t JOIN send_logs s "
                     "ON s.thread_id = t.id WHERE t.conversation_id = %d" % conv["F"][0],
                     db="freescout")
    diag("F's reply: threads.send_status, send_logs.status = %r" % f_rows)
    is_(view("F"), ["new", "active", "f", "false", "1"],
        "F: the reply the server refused is no reply (first_reply_at NULL, one unsent)")
    is_(view("B")[:3], ["open", "active", "t"], "B: the reply sent is the first reply")

    last = max(created.values()) + TARGET
    # E's clock stood while it was pending (from its reply to the undo): its breach is that
    # much later, and on a loaded machine that can be seconds
    want = sorted(["FR #%d %s case" % (conv[k][1], k) for k in "ACEFG"] +
                  ["NR #%d I case" % conv["I"][1]])
    time.sleep(max(0.0, max(last, created["E"] + TARGET + e_paused, g_reopen_done + TARGET,
                            i_followup + TARGET, f_failed or 0) + 3 - time.time()))
    # on a loaded machine (CI runs three suites) a mail can still be on its way: wait for
    # the set a while longer; how late each one came is checked below, mail by mail
    wait_for(lambda: set(want) <= set(str(m["subject"]) for m in sink.messages_to(LEAD)), 20)
    mails = sink.messages_to(LEAD)
    subjects = sorted(str(m["subject"]) for m in mails)
    is_(subjects, want, "breach mails for no reply (A), a note (C), an undone reply (E), a "
        "refused reply (F), the reopened G, and I's follow-up; none for B, D, H or I's "
        "first response", diag=lambda: sink.summary() + "\n".join(
            l for l in w.log().splitlines() if "ticket=%d " % conv["E"][0] in l
            or "ticket=%d:" % conv["E"][0] in l or " info " in l)[-6000:] + "\n" + repr(
            pg.psql("SELECT at, old_status, new_status, inferred, raw_status, seen_at FROM "
                    "wafa.status_log WHERE ticket_id = %d ORDER BY seen_at" % conv["E"][0],
                    db="freescout")) + "\n" + repr(view("E", "status, raw_status, created_at, "
                                                          "first_reply_at, updated_at")))
    by = {str(m["subject"]).split(" ", 2)[2] + str(m["subject"])[:2]: m for m in mails}
    for k in "ACE":
        m = by.get("%s caseFR" % k)
        if m:
            # E was pending from its reply to the undo: that time does not count
            late, paused = m.received - (created[k] + TARGET), e_paused if k == "E" else 0
            ok(-0.05 <= late <= paused + LATE, "%s: the mail comes within %.0f s of its deadline "
               "(%.2f s after created + target%s)"
               % (k, LATE, late, ", %.2f s of it pending" % paused if paused else ""))
    m = by.get("G caseFR")
    if m:
        due = created["G"] + TARGET + (g_reopened - g_closed)
        ok(m.received >= due - 1.5, "G: the time it was closed does not count (mail %.1f s "
           "after created, %.1f s closed)" % (m.received - created["G"], g_reopened - g_closed))
    m = by.get("I caseNR")
    if m:
        # its created_at is a whole second, within the call
        ok(i_before - 1 + TARGET - 0.05 <= m.received <= i_followup + TARGET + LATE,
           "I: the follow-up's next-reply mail is on time (%.2f s after it)"
           % (m.received - i_followup))
    m = by.get("F caseFR")
    if m and f_failed:
        ok(m.received >= f_failed - 1.5, "F: mailed once the send failed")
    w.stop_ok()

    # doctor under the daemon's role
    r = w.command("doctor")
    ok(r.returncode == 0 and "as wafa_daemon" in r.stdout and "FAIL" not in r.stdout,
       "wafa doctor under the role on the real FreeScout: all is well", diag=show(r))
    ok("reads the helpdesk's timestamps in Asia/Tehran, from wafa.freescout_timezone()"
       in r.stdout, "doctor: the time zone line names APP_TIMEZONE's zone", diag=show(r))
    diag("the FreeScout test took %.1f s" % (time.monotonic() - t0))


run(main)
