#!/usr/bin/python3
"""The znuny adapter against the real Znuny 7.0.19, installed from its
release file (shared/helpdesks/znuny-7.0.19.tar.xz, see helpdesk_file() in
tests/lib/harness.py) on Debian's Perl: its schema files on the harness's
PostgreSQL, Kernel/Config.pm as its installer writes it, and
Maint::Config::Rebuild, run as an unprivileged user.  Customers' mails go
through its PostMaster (which sends the queue's real auto reply), agents
work through its Perl API as its screens do (tests/lib/znuny.pl), mail
leaves through its mail queue to the sink.  wafa runs under the role
contrib/wafa-role makes.

Checked: the auto reply is no first response; a pending reminder pauses the
clock and is the due date; close and reopen by the customer's follow-up;
a merge: the merged ticket's reply closed it (a StateUpdate row with the
reply's article id, which the merge moves), and the main ticket's solved_at
is still its own close; `wafa doctor` under the role.  The extracted tree is
kept in tests/tmp.  Skipped, saying why, without the release file or the
Perl modules.  About 90 s."""
import atexit
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RELEASE = "znuny-7.0.19.tar.xz"
DRIVER = os.path.join(SRCDIR, "tests", "lib", "znuny.pl")
ADAPTERS = os.path.join(SRCDIR, "plugins", "adapters")
# the modules bin/otrs.CheckModules.pl calls required, as Debian packages them
PERL_MODULES = ["DBD::Pg", "YAML::XS", "Template", "JSON::XS", "DateTime", "Net::DNS",
                "Mail::IMAPClient", "Archive::Zip", "Authen::SASL", "iCal::Parser",
                "Excel::Writer::XLSX", "Text::CSV_XS", "XML::LibXML", "Date::Format"]
TARGET = 20
LATE = 1.0
SUPPORT = "support@wafa-test.org"  # Znuny refuses example.* and znuny@localhost
LEAD = "lead@wafa-test.org"
RULES = {"fr.lua": '''
sla "first-response" {
  start = "created_at", stop = "first_reply_at", target = "%ds",
  pause = { "pending" },
  on_breach = function(t, s)
    mail { to = "%s", subject = "FR #" .. t.ref .. " " .. t.subject }
  end,
}
''' % (TARGET, LEAD)}
RUN_AS = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []

CONFIG = """package Kernel::Config;
use strict;
use warnings;
use utf8;
sub Load {
    my $Self = shift;
    $Self->{DatabaseHost} = '%(sock)s';
    $Self->{Database} = 'znuny';
    $Self->{DatabaseUser} = 'znuny';
    $Self->{DatabasePw} = '';
    $Self->{DatabaseDSN} = "DBI:Pg:dbname=$Self->{Database};host=$Self->{DatabaseHost};port=%(port)d";
    $Self->{Home} = '%(home)s';
    $Self->{SendmailModule} = 'Kernel::System::Email::SMTP';
    $Self->{'SendmailModule::Host'} = '127.0.0.1';
    $Self->{'SendmailModule::Port'} = '%(smtp)d';
    $Self->{FQDN} = 'znuny.wafa-test.org';
    $Self->{AdminEmail} = 'admin@wafa-test.org';
    $Self->{NotificationSenderEmail} = 'znuny@wafa-test.org';
    $Self->{CheckMXRecord} = 0;
    $Self->{LogModule} = 'Kernel::System::Log::File';
    $Self->{'LogModule::LogFile'} = '%(log)s';
    return 1;
}
use Kernel::Config::Defaults; # import Translatable()
use parent qw(Kernel::Config::Defaults);
1;
"""


def missing():
    """Why Znuny cannot run here, or None."""
    if not helpdesk_file(RELEASE):
        return "%s is not here (put it in $WAFA_HELPDESKS or ../shared/helpdesks)" % RELEASE
    lack = [m for m in PERL_MODULES
            if subprocess.run(["perl", "-M" + m, "-e", "1"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode != 0]
    if lack:
        return "Perl lacks %s (scripts/deps installs them)" % ", ".join(lack)
    return None


def tree():
    """Znuny's extracted tree, kept in tests/tmp (locked while a test uses it)."""
    base = os.path.join(BUILDDIR, "tests", "tmp")
    os.makedirs(base, exist_ok=True)
    lock = open(os.path.join(base, "znuny.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    atexit.register(lock.close)
    home = os.path.join(base, "znuny-7.0.19")
    if not os.path.exists(os.path.join(home, "RELEASE")):
        shutil.rmtree(home + ".new", ignore_errors=True)
        os.makedirs(home + ".new")
        subprocess.run(["tar", "-xJf", helpdesk_file(RELEASE), "-C", home + ".new",
                        "--strip-components=1"], check=True)
        shutil.rmtree(home, ignore_errors=True)
        os.rename(home + ".new", home)
    # the last run's cache and generated config are another database's
    os.makedirs(os.path.join(home, "var", "tmp"), exist_ok=True)
    for d in ("var/tmp", "Kernel/Config/Files"):
        for name in os.listdir(os.path.join(home, d)):
            if d == "var/tmp" or name.endswith(".pm"):
                p = os.path.join(home, d, name)
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
    return home


def main():
    require_wafa()
    why = missing()
    if why:
        skip("wafa against the real Znuny", why)
        return
    t0 = time.monotonic()
    pg = Postgres(load_sample=False)
    os.chmod(pg.sockdir, 0o711)  # Znuny's user connects through the socket
    pg.psql("CREATE ROLE znuny LOGIN", db="postgres")
    pg.psql("CREATE DATABASE znuny OWNER znuny", db="postgres")
    home = tree()
    for f in ("schema", "initial_insert", "schema-post"):
        cmd = [("znuny" if a == "postgres" else a) for a in pg._psql_cmd("znuny")]
        subprocess.run(cmd + ["-f", os.path.join(home, "scripts", "database",
                                                 f + ".postgresql.sql")],
                       check=True, stdout=subprocess.DEVNULL)
    sink = SmtpSink()
    log = os.path.join(os.path.dirname(home), "znuny.log")
    with open(os.path.join(home, "Kernel", "Config.pm"), "w") as f:
        f.write(CONFIG % {"sock": pg.sockdir, "port": pg.port, "home": home, "smtp": sink.port,
                          "log": log})
    open(log, "w").close()
    if RUN_AS:
        subprocess.run(["chown", "-R", "nobody:nogroup", home, log], check=True)
    r = subprocess.run(RUN_AS + ["perl", "bin/otrs.Console.pl", "Maint::Config::Rebuild"],
                       cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    if not ok(r.returncode == 0, "Znuny's schema files and Maint::Config::Rebuild",
              diag=r.stdout.decode()[-2000:]):
        return

    def znuny(cmd, **arg):
        r = subprocess.run(RUN_AS + ["perl", DRIVER, home, cmd, json.dumps(arg)], cwd=home,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("znuny.pl %s: %s\n%s" % (cmd, r.stdout.decode()[-2000:],
                                                         r.stderr.decode()[-3000:]))
        return json.loads(r.stdout.decode().strip().splitlines()[-1])

    znuny("setup", address=SUPPORT, agent_email="layla@wafa-test.org")
    diag("Znuny installed in %.1f s" % (time.monotonic() - t0))

    owner = pg.dsn_for("znuny").replace("user=postgres", "user=znuny")
    w = Wafa(pg, sink.url, rules=RULES, conf={
        "database.dsn": owner, "helpdesk.adapter": "znuny", "helpdesk.adapters": ADAPTERS,
        "helpdesk.view": "wafa.tickets"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup as Znuny's database owner", diag=show(r)):
        return
    w.settings["database"]["dsn"] = pg.wafa_role("znuny")
    w.write_config()
    w.start()

    def mail(key, subject=None, ref=""):
        return {"op": "mail", "raw": "From: %s <%s@cust.org>\nTo: Support <%s>\n"
                "Subject: %s\nMessage-ID: <%s-%s@cust.org>\n%sContent-Type: text/plain\n\n"
                "Help, %s.\n" % (key, key.lower(), SUPPORT, subject or "%s case" % key, key,
                                  time.time(), ref, key)}

    # the customers write; the queue's auto reply answers each
    made = znuny("run", steps=[mail(k) for k in "APCQR"])
    tid = {k: int(m["id"]) for k, m in zip("APCQR", made)}
    tn = {k: m["tn"] for k, m in zip("APCQR", made)}
    ok(all(m["result"] == 1 for m in made), "the PostMaster makes five new tickets",
       diag=repr(made))
    # the agent: P pending reminder in an hour, C closed, R answered and
    # closed by the reply (AgentTicketCompose's next state), R merged into
    # Q, then Q closed
    steps = [{"op": "owner", "ticket": tid[k]} for k in "APCQ"] + [
        {"op": "state", "ticket": tid["P"], "state": "pending reminder", "pending_minutes": 60},
        {"op": "state", "ticket": tid["C"], "state": "closed successful"},
        {"op": "reply", "ticket": tid["R"], "from": SUPPORT, "to": "r@cust.org",
         "state": "closed successful"},
        {"op": "sleep", "seconds": 2.2},   # the merge's change_time must be another second
        {"op": "merge", "main": tid["Q"], "merge": tid["R"]},
        {"op": "sleep", "seconds": 2.2},
        {"op": "state", "ticket": tid["Q"], "state": "closed successful"},
        {"op": "send"}]
    done_ = znuny("run", steps=steps)
    at = {"c_closed": done_[5]["at"], "r_closed": done_[6]["at"], "merged": done_[8]["at"],
          "q_closed": done_[10]["at"]}
    # C's customer writes again: a follow-up by the ticket number, which reopens it
    re_ = znuny("run", steps=[mail("C", "Re: [Ticket#%s] C case" % tn["C"]), {"op": "send"}])
    at["c_reopened"] = re_[0]["begin"]  # it was closed at least from c_closed to then
    ok(int(re_[0]["id"]) == tid["C"] and re_[0]["result"] == 2,
       "the PostMaster files C's mail as a follow-up", diag=repr(re_))

    def view(key, cols):
        rows = pg.psql("SELECT %s FROM wafa.tickets WHERE id = %d" % (cols, tid[key]), db="znuny")
        return rows[0] if rows else None

    epoch = "extract(epoch FROM %s)"
    got = view("Q", "status, raw_status, " + epoch % "solved_at")
    ok(got[0] == "closed" and abs(float(got[2]) - at["q_closed"]) <= 1.5,
       "Q, merged into and then closed: solved_at is Q's own close, not the merged ticket's "
       "reply that closed it (%.1f s before)" % (at["q_closed"] - at["r_closed"]),
       diag=lambda: "view %r; Q closed at %.1f, R at %.1f" % (got, at["q_closed"],
                                                               at["r_closed"]))
    is_(view("R", "status, raw_status"), ["closed", "merged"], "R: merged is closed")
    got = view("P", "status, raw_status, " + epoch % "due_at")
    ok(got[:2] == ["pending", "pending reminder"]
       and abs(float(got[2]) - (at["c_closed"] + 3600)) < 120,
       "P: pending reminder is pending, its pending time is due_at", diag=repr(got))
    is_(view("C", "status, solved_at"), ["open", None], "C: reopened by the follow-up")
    is_(view("A", "first_reply_at, (SELECT count(*) FROM article ar JOIN article_sender_type s "
                  "ON s.id = ar.article_sender_type_id WHERE ar.ticket_id = %d AND "
                  "s.name = 'system')" % tid["A"]), [None, "1"],
        "A: Znuny's auto reply (a system article) is no first reply")
    auto = [m for m in sink.messages_to("a@cust.org")]
    ok(len(auto) == 1, "Znuny's auto reply reached A's customer", diag=sink.summary)

    created = {k: float(pg.value("SELECT " + epoch % "created_at" + " FROM wafa.tickets "
                                 "WHERE id = %d" % tid[k], db="znuny")) for k in "APCQR"}
    closed_gap = at["c_reopened"] - at["c_closed"]
    time.sleep(max(0.0, max(created.values()) + TARGET, re_[0]["at"] + TARGET) + 3 - time.time())
    mails = sink.messages_to(LEAD)
    is_(sorted(str(m["subject"]) for m in mails),
        sorted(["FR #%s A case" % tn["A"], "FR #%s C case" % tn["C"],
                "FR #2021012710123456 Znuny says hi!"]),
        "breach mails for A (only an auto reply), the reopened C and the fresh install's open "
        "welcome ticket; none for the pending P, Q (answered by the merged reply) or the "
        "merged R",
        diag=lambda: sink.summary() + w.log()[-3000:])
    for m in mails:
        if " A case" in str(m["subject"]):
            late = m.received - (created["A"] + TARGET)
            ok(-0.05 <= late <= LATE, "A: the mail comes within %.0f s of its deadline (%.2f s)"
               % (LATE, late))
        if " C case" in str(m["subject"]):
            ok(m.received >= created["C"] + TARGET + closed_gap - 1.5,
               "C: the time it was closed does not count (%.1f s closed)" % closed_gap)
    w.stop_ok()

    # doctor under the role: Znuny's own escalation mails are on by default
    r = w.command("doctor")
    ok(r.returncode != 0 and re.search(r"FAIL znuny +Znuny's own escalation notifications are "
                                       r"off: active: ", r.stdout),
       "doctor under the role on a fresh Znuny: its own escalation mails are on", diag=show(r))
    pg.psql("UPDATE notification_event SET valid_id = 2 WHERE id IN (11, 12)", db="znuny")
    r = w.command("doctor")
    ok(r.returncode == 0 and "as wafa_daemon" in r.stdout and "FAIL" not in r.stdout,
       "wafa doctor under the role on the real Znuny: all is well once they are off",
       diag=show(r))
    ok("reads the helpdesk's timestamps in UTC, from wafa.znuny_time_zone()" in r.stdout,
       "doctor: the time zone line names znuny_time_zone()", diag=show(r))
    diag("the Znuny test took %.1f s" % (time.monotonic() - t0))


run(main)
