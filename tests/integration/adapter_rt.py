#!/usr/bin/python3
"""The Request Tracker 5 adapter (plugins/adapters/rt) against the real RT:
RT's database is made by RT's own rt-setup-database-5 in the harness's
PostgreSQL, tickets, replies and comments are made through RT's own Perl API,
and wafa reads them through the adapter's view.  Skipped when RT is not
installed (Debian: request-tracker5 rt5-db-postgresql).  Takes about 20 s.

Traps checked: a Comment is not a reply; the customer's Correspond is not a
first response (RT sets Started on it); times are right whatever the
session's TimeZone; RT's Nobody owner is NULL; RT's 1970-01-01 is NULL; a Due of
'infinity' passes through the view and wafa still starts."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RT_LIB = "/usr/share/request-tracker5/lib"
RT_SETUP = shutil.which("rt-setup-database-5") or "/usr/sbin/rt-setup-database-5"
ADAPTERS = os.path.join(SRCDIR, "plugins", "adapters")
DUE = 1900000000  # 2030-03-17 17:46:40 UTC
TARGET = 2

SITE_CONFIG = """\
Set($DatabaseType, 'Pg');
Set($DatabaseHost, '{sock}');
Set($DatabaseRTHost, '{sock}');
Set($DatabasePort, '{port}');
Set($DatabaseName, 'rt5');
Set($DatabaseUser, 'rt_user');
Set($DatabasePassword, 'rt_pass');
Set($DatabaseAdmin, 'postgres');
Set($rtname, 'example.com');
Set($Organization, 'example.com');
Set($WebDomain, 'localhost');
Set($Timezone, 'UTC');
Set($LogToSTDERR, 'error');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($MailCommand, sub {{ 1 }});   # RT's own mail goes nowhere
1;
"""

# Drives RT through its Perl API: `rt.pl fixture|live JSON`, prints JSON.
RT_PL = r"""
use strict;
use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT;
use JSON::PP ();   # not JSON: with JSON::XS installed (Znuny needs it) ids print as strings
use MIME::Entity;
use Time::HiRes ();
use Encode ();

RT::LoadConfig();
RT::Init();

my %out;
my %cu;
sub cu {
    my $name = shift;
    return $cu{$name} //= do {
        my $u = RT::CurrentUser->new;
        $u->Load($name) or die "no user $name";
        $u;
    };
}
sub must { my ($what, $ok, $msg) = @_; die "$what: " . ($msg // '') . "\n" unless $ok; return $ok }
sub next_second {   # RT's timestamps are whole seconds: keep the steps apart
    my $now = Time::HiRes::time();
    Time::HiRes::sleep(int($now) + 1.02 - $now);
}
sub ticket_as {
    my ($user, $id) = @_;
    my $t = RT::Ticket->new(cu($user));
    $t->Load($id) or die "no ticket $id";
    return $t;
}
sub create {
    my ($user, %args) = @_;
    my $t = RT::Ticket->new(cu($user));
    my $body = delete $args{Body};
    my ($id, $txn, $msg) = $t->Create(Queue => 'General', %args,
        MIMEObj => MIME::Entity->build(Type => 'text/plain', Charset => 'UTF-8',
                                       Data => [Encode::encode('UTF-8', $body)]));
    must("create $args{Subject}", $id, $msg);
    return $id;
}
sub step {   # a transaction and the wall-clock time after it
    my ($name, $code) = @_;
    my ($txn, $msg) = $code->();
    must($name, $txn, $msg);
    $out{$name} = { txn => $txn, at => Time::HiRes::time() };
}
sub correspond {
    my ($user, $id, $text, $type) = @_;
    return ticket_as($user, $id)->Correspond(MIMEObj => MIME::Entity->build(
        Type => $type || 'text/plain', Charset => 'UTF-8', Data => [Encode::encode('UTF-8', $text)]));
}

my $cmd = shift // '';
my $args = JSON::PP::decode_json(shift // '{}');
if ($cmd eq 'fixture') {
    my $sys = RT->SystemUser;
    my $alice = RT::User->new($sys);
    must('alice', $alice->Create(Name => 'alice', EmailAddress => 'alice@example.com',
                                 RealName => 'Alice Agent', Privileged => 1));
    my $carol = RT::User->new($sys);
    must('carol', $carol->Create(Name => 'carol@example.com', EmailAddress => 'carol@example.com',
                                 RealName => 'Carol Customer', Lang => 'fa',
                                 Timezone => 'Asia/Tehran', Privileged => 0));
    # RT's default rights let nobody but privileged users with rights act
    my $q = RT::Queue->new($sys);
    $q->Load('General') or die "no queue General\n";
    my $everyone = RT::Group->new($sys);
    $everyone->LoadSystemInternalGroup('Everyone');
    must("grant $_", $everyone->PrincipalObj->GrantRight(Right => $_, Object => $q))
        for qw(CreateTicket ReplyToTicket ShowTicket SeeQueue);
    my $priv = RT::Group->new($sys);
    $priv->LoadSystemInternalGroup('Privileged');
    must("grant $_", $priv->PrincipalObj->GrantRight(Right => $_, Object => $q))
        for qw(OwnTicket TakeTicket ModifyTicket CommentOnTicket ShowTicketComments);

    # A: the customer writes, the agent comments, replies, the customer thanks
    my $a = create('carol@example.com', Subject => 'Printer on fire',
                   Requestor => ['carol@example.com'], Priority => 60, Due => $args->{due},
                   Body => 'It smokes.');
    $out{a} = { id => $a, at => Time::HiRes::time() };
    must('owner', ticket_as('alice', $a)->SetOwner('alice'));
    next_second();
    step('a_customer1', sub { correspond('carol@example.com', $a, 'Hello? It still smokes.') });
    next_second();
    step('a_comment', sub { ticket_as('alice', $a)->Comment(Content => 'internal: grumpy customer') });
    next_second();
    step('a_reply', sub { correspond('alice', $a, 'We will replace it by tomorrow.') });
    next_second();
    step('a_customer2', sub { correspond('carol@example.com', $a, 'Thanks!') });

    # B: nobody owns it; stalled
    my $b = create('carol@example.com', Subject => 'Stalled one',
                   Requestor => ['carol@example.com'], Body => 'No hurry.');
    $out{b} = { id => $b };
    must('stall', ticket_as('alice', $b)->SetStatus('stalled'));

    # C: answered in HTML, resolved
    my $c = create('carol@example.com', Subject => 'Resolved one',
                   Requestor => ['carol@example.com'], Priority => 95,
                   Body => 'Please reset my password.');
    $out{c} = { id => $c };
    step('c_reply', sub { correspond('alice', $c, '<p>Done &amp; <b>reset</b>.</p>', 'text/html') });
    must('resolve', ticket_as('alice', $c)->SetStatus('resolved'));
    $out{c}{resolved} = Time::HiRes::time();

    # D: rejected
    my $d = create('carol@example.com', Subject => 'Spam', Requestor => ['carol@example.com'],
                   Body => 'Buy now.');
    $out{d} = { id => $d };
    must('reject', ticket_as('alice', $d)->SetStatus('rejected'));
} elsif ($cmd eq 'live') {
    # while wafa runs: one ticket left unanswered, one answered at once
    my $e = create('carol@example.com', Subject => 'SLA unanswered',
                   Requestor => ['carol@example.com'], Owner => 'alice', Body => 'Anyone?');
    $out{e} = { id => $e, at => Time::HiRes::time() };
    my $f = create('carol@example.com', Subject => 'SLA answered',
                   Requestor => ['carol@example.com'], Owner => 'alice', Body => 'Quick one.');
    $out{f} = { id => $f, at => Time::HiRes::time() };
    step('f_reply', sub { correspond('alice', $f, 'Here you go.') });
} else {
    die "usage: rt.pl fixture|live JSON\n";
}
print JSON::PP->new->canonical->encode(\%out), "\n";
"""

RULE = breach_rule(
    name="rt-first-response", target="%ds" % TARGET,
    when='function(t) return t.subject:find("^SLA ") ~= nil end',
    body='"Ticket #" .. t.ref .. " for " .. tostring(t.customer_email) .. " in " .. t.queue '
         '.. " (" .. t.priority .. ") has had no first reply.\\n"')


def rt_missing():
    """Why RT cannot be tested here, or None."""
    if not os.path.exists(os.path.join(RT_LIB, "RT.pm")) or not os.access(RT_SETUP, os.X_OK):
        return "Request Tracker 5 is not installed (apt-get install request-tracker5 rt5-db-postgresql)"
    r = subprocess.run(["perl", "-MDBD::Pg", "-e", "1"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return "RT's PostgreSQL driver is not installed (apt-get install rt5-db-postgresql)"
    return None


def adapter_sql(name):
    with open(os.path.join(ADAPTERS, "rt", name), encoding="utf-8") as f:
        return f.read().replace("@SCHEMA@", '"wafa"').replace("@CHANNEL@", "'wafa_ticket'")


class RT:
    def __init__(self, pg):
        self.dir = tempfile.mkdtemp(prefix="wafa-rt-", dir="/tmp")
        if os.environ.get("WAFA_KEEP_TMP") in (None, "", "0"):
            import atexit
            atexit.register(shutil.rmtree, self.dir, True)
        os.makedirs(os.path.join(self.dir, "site.d"))
        self.config = os.path.join(self.dir, "RT_SiteConfig.pm")
        with open(self.config, "w") as f:
            f.write(SITE_CONFIG.format(sock=pg.sockdir, port=pg.port))
        self.script = os.path.join(self.dir, "rt.pl")
        with open(self.script, "w") as f:
            f.write(RT_PL)
        # RT_SITE_CONFIG_DIR: an empty folder, so /etc/request-tracker5's
        # RT_SiteConfig.d is not read either
        self.env = dict(os.environ, RT_SITE_CONFIG=self.config,
                        RT_SITE_CONFIG_DIR=os.path.join(self.dir, "site.d"),
                        LC_ALL="C.UTF-8", TZ="UTC")
        for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
            self.env.pop(k, None)

    def run(self, cmd, timeout=120):
        r = subprocess.run(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd=self.dir)
        r.stdout = r.stdout.decode("utf-8", errors="replace")
        r.stderr = r.stderr.decode("utf-8", errors="replace")
        return r

    def setup_database(self):
        return self.run([RT_SETUP, "--action", "init", "--dba", "postgres", "--dba-password", ""])

    def perl(self, cmd, **args):
        r = self.run(["perl", self.script, cmd, json.dumps(args)])
        if r.returncode != 0:
            raise RuntimeError("rt.pl %s failed (%d):\n%s\n%s" % (cmd, r.returncode, r.stdout,
                                                                  r.stderr))
        return json.loads(r.stdout.strip().splitlines()[-1])


COLS = ["id", "ref", "subject", "status", "raw_status", "priority", "queue", "customer_email",
        "customer_name", "customer_locale", "customer_tz", "owner_email", "owner_name",
        "created_at", "first_reply_at", "last_customer_at", "last_agent_at", "solved_at",
        "due_at", "updated_at", "extra", "last_agent_body", "thread_message_id"]
TIMES = {"created_at", "first_reply_at", "last_customer_at", "last_agent_at", "solved_at",
         "due_at", "updated_at"}


def view_rows(pg):
    """wafa.tickets by id, read with the session's TimeZone at Asia/Tehran:
    timestamps as epoch seconds (int) and as text."""
    sel = []
    for c in COLS:
        if c in TIMES:
            sel.append("extract(epoch FROM %s)::int8::text" % c)
            sel.append("%s::text" % c)
        else:
            sel.append("%s::text" % c)
    rows = pg.psql("SET TimeZone = 'Asia/Tehran'; SELECT %s FROM wafa.tickets ORDER BY id"
                   % ", ".join(sel), db="rt5")
    out = {}
    for r in rows:
        d, i = {}, 0
        for c in COLS:
            if c in TIMES:
                d[c] = int(r[i]) if r[i] is not None else None
                d[c + "_text"] = r[i + 1]
                i += 2
            else:
                d[c] = r[i]
                i += 1
        out[int(d["id"])] = d
    return out


def txn_epoch(pg, txn):
    return int(pg.value("SELECT extract(epoch FROM created AT TIME ZONE 'UTC')::int8 "
                        "FROM transactions WHERE id = %d" % int(txn), db="rt5"))


def near(value, at):
    """An RT timestamp (whole seconds, truncated) taken just before the
    wall-clock time at."""
    return value is not None and int(at) - 2 <= value <= int(at)


def main():
    require_wafa()
    why = rt_missing()
    if why:
        skip("the RT adapter against Request Tracker 5", why)
        return
    t0 = time.monotonic()
    pg = Postgres(load_sample=False)
    rt = RT(pg)
    r = rt.setup_database()
    if not ok(r.returncode == 0 and pg.value("SELECT count(*) FROM users", db="rt5"),
              "rt-setup-database-5 --action init makes RT's database in the harness's PostgreSQL",
              diag=lambda: "stdout:\n%s\nstderr:\n%s" % (r.stdout[-3000:], r.stderr[-3000:])):
        return
    diag("RT's database made in %.1f s" % (time.monotonic() - t0))
    fx = rt.perl("fixture", due=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(DUE)))
    diag("RT fixture made in %.1f s" % (time.monotonic() - t0))

    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"10-rt.lua": RULE},
             conf={"database.dsn": pg.dsn_for("rt5"), "helpdesk.adapter": "rt",
                   "helpdesk.adapters": ADAPTERS, "helpdesk.view": None})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup with [helpdesk] adapter = rt exits 0", diag=show(r)):
        return
    if pg.value("SELECT to_regclass('wafa.tickets') IS NOT NULL", db="rt5") == "t":
        ok(True, "wafa setup installed the adapter's view wafa.tickets")
    else:
        # until `wafa setup` installs adapters, do what it will do
        diag("wafa setup did not install the adapter: running install.sql here")
        pg.psql("BEGIN;\n" + adapter_sql("install.sql") + "\nCOMMIT;", db="rt5")
        ok(pg.value("SELECT to_regclass('wafa.tickets') IS NOT NULL", db="rt5") == "t",
           "install.sql makes wafa.tickets")
    # re-running it is harmless
    pg.psql("BEGIN;\n" + adapter_sql("install.sql") + "\nCOMMIT;", db="rt5")
    triggers = pg.psql("SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "WHERE t.tgname = 'wafa_notify' ORDER BY 1", db="rt5")
    is_([x[0] for x in triggers], ["tickets", "transactions"],
        "wafa_notify triggers on RT's tickets and transactions (install.sql run twice)")

    rows = view_rows(pg)
    a, b, c, d = (rows.get(fx[k]["id"]) for k in "abcd")
    dump = lambda: json.dumps(rows, indent=1, sort_keys=True)  # noqa: E731
    if not ok(a and b and c and d, "the four RT tickets are in wafa.tickets", diag=dump):
        return

    # --- ticket A, field by field
    is_((a["ref"], a["subject"], a["status"], a["raw_status"], a["priority"], a["queue"]),
        (str(fx["a"]["id"]), "Printer on fire", "open", "open", "high", "General"),
        "A: ref, subject, status open (RT opened it on the customer's reply), priority 60 is high, queue")
    is_((a["customer_email"], a["customer_name"], a["customer_locale"], a["customer_tz"]),
        ("carol@example.com", "Carol Customer", "fa", "Asia/Tehran"),
        "A: the requestor's email, name, language and time zone")
    is_((a["owner_email"], a["owner_name"]), ("alice@example.com", "Alice Agent"),
        "A: the owner's email and name")
    ok(near(a["created_at"], fx["a"]["at"]),
       "A: created_at is RT's Created read as UTC (session TimeZone Asia/Tehran)",
       diag="created_at %r (%s), ticket made at %.3f" % (a["created_at"], a["created_at_text"],
                                                        fx["a"]["at"]))
    ok((a["created_at_text"] or "").endswith("+03:30"), "A: shown in the session's time zone",
       diag=a["created_at_text"])
    reply = txn_epoch(pg, fx["a_reply"]["txn"])
    is_(a["first_reply_at"], reply,
        "A: first_reply_at is the agent's Correspond, not the customer's (RT's Started) nor the Comment",
        diag=lambda: "customer's correspond %d, comment %d, agent's reply %d; Started %s" % (
            txn_epoch(pg, fx["a_customer1"]["txn"]), txn_epoch(pg, fx["a_comment"]["txn"]), reply,
            pg.value("SELECT started FROM tickets WHERE id = %d" % fx["a"]["id"], db="rt5")))
    ok(near(a["first_reply_at"], fx["a_reply"]["at"]), "A: first_reply_at is right in UTC",
       diag="%r vs %.3f" % (a["first_reply_at"], fx["a_reply"]["at"]))
    is_(a["last_agent_at"], reply, "A: last_agent_at is the agent's reply, not the later Comment")
    is_(a["last_customer_at"], txn_epoch(pg, fx["a_customer2"]["txn"]),
        "A: last_customer_at is the customer's last Correspond")
    ok(near(a["last_customer_at"], fx["a_customer2"]["at"]), "A: last_customer_at is right in UTC")
    is_(a["due_at"], DUE, "A: due_at is RT's Due, in UTC")
    is_(a["solved_at"], None, "A: solved_at is NULL (RT's 1970-01-01 Resolved)")
    ok(near(a["updated_at"], fx["a_customer2"]["at"]), "A: updated_at is RT's LastUpdated",
       diag="%r vs %.3f" % (a["updated_at"], fx["a_customer2"]["at"]))
    is_(a["last_agent_body"], "We will replace it by tomorrow.",
        "A: last_agent_body is the agent's reply, not the Comment")
    sent = pg.value("SELECT a.messageid FROM transactions t JOIN attachments a ON a.transactionid = t.id "
                    "AND a.parent = 0 WHERE t.objecttype = 'RT::Ticket' AND t.objectid = %d AND "
                    "t.type = 'EmailRecord' AND t.id > %d AND a.headers ~* '(^|\\n)To:[^\\n]*carol@' "
                    "ORDER BY t.id LIMIT 1" % (fx["a"]["id"], int(fx["a_reply"]["txn"])), db="rt5")
    ok(sent and a["thread_message_id"] == sent,
       "A: thread_message_id is the Message-ID of RT's mail of the reply to the customer",
       diag="got %r, RT's mail to carol %r" % (a["thread_message_id"], sent))
    extra = json.loads(a["extra"] or "{}")
    is_((extra.get("rt_priority"), extra.get("rt_lifecycle")), (60, "default"),
        "A: extra has RT's numeric priority and lifecycle")

    # --- B: unowned, stalled, no due date
    is_((b["status"], b["raw_status"], b["priority"]), ("pending", "stalled", "normal"),
        "B: stalled is pending; priority 0 is normal")
    is_((b["owner_email"], b["owner_name"]), (None, None), "B: RT's Nobody owner is NULL")
    is_((b["due_at"], b["first_reply_at"], b["last_agent_at"], b["solved_at"]),
        (None, None, None, None), "B: no due date (RT's 1970-01-01), no reply, not solved")
    is_(b["last_customer_at"], b["created_at"], "B: the Create is the customer's message")

    # --- C: HTML reply, resolved
    is_((c["status"], c["raw_status"], c["priority"]), ("solved", "resolved", "urgent"),
        "C: resolved is solved; priority 95 is urgent")
    ok(c["solved_at"] is not None and near(c["solved_at"], fx["c"]["resolved"]),
       "C: solved_at is RT's Resolved, in UTC", diag="%r vs %.3f" % (c["solved_at"],
                                                                       fx["c"]["resolved"]))
    is_(c["first_reply_at"], txn_epoch(pg, fx["c_reply"]["txn"]), "C: first reply")
    is_(c["last_agent_body"], "Done & reset.", "C: an HTML reply's text, tags and entities out")

    # --- D: rejected
    is_((d["status"], d["raw_status"]), ("closed", "rejected"), "D: rejected is closed")
    ok(d["solved_at"] is not None, "D: a rejected ticket has solved_at (RT's Resolved)")

    # --- the doctor's checks
    checks = pg.psql(open(os.path.join(ADAPTERS, "rt", "doctor.sql")).read(), db="rt5")
    ok(len(checks) >= 3 and all(x[1] == "t" for x in checks), "doctor.sql: every check passes",
       diag=repr(checks))

    # --- RT takes any timestamp in Due: 'infinity' passes through the view,
    # and wafa reads it as unset, says so once, and starts (it exited)
    pg.psql("UPDATE tickets SET due = 'infinity' WHERE id = %d" % fx["a"]["id"], db="rt5")
    is_(pg.value("SELECT due_at::text FROM wafa.tickets WHERE id = %d" % fx["a"]["id"], db="rt5"),
        "infinity", "RT's Due 'infinity' passes through the view as due_at")

    # --- one SLA rule end to end: RT -> NOTIFY -> wafa -> mail
    w.start()
    ok(w.running and len(w.log_lines("ticket=%d: due_at is not a time" % fx["a"]["id"])) == 1,
       "wafa starts with A's due_at at infinity, logged once as read as unset",
       diag=lambda: w.log()[-3000:])
    live = rt.perl("live")
    e_id, f_id = live["e"]["id"], live["f"]["id"]
    e_created = int(pg.value("SELECT extract(epoch FROM created_at)::int8 FROM wafa.tickets "
                             "WHERE id = %d" % e_id, db="rt5"))
    deadline = e_created + TARGET
    got = wait_for(lambda: sink.messages_to("alice@example.com"), max(0, deadline + 5 - time.time()))
    time.sleep(max(0.0, deadline + 1.5 - time.time()))
    mails = sink.messages_to("alice@example.com")
    if ok(len(mails) == 1, "one SLA mail, for the unanswered RT ticket",
          diag=lambda: sink.summary() + "\n" + w.log()[-3000:]):
        m = mails[0]
        is_(str(m["subject"]), "SLA breached: #%d SLA unanswered" % e_id,
            "the mail's subject names RT's ticket")
        body = m.get_content()
        ok("carol@example.com in General (normal)" in body, "the rule saw the requestor and queue",
           diag=body)
        ok(m.received >= deadline - 1.05, "the mail is not sent before RT's Created + target",
           diag="received %.3f, deadline %d" % (m.received, deadline))
        ok(m.received <= deadline + 3, "the mail arrives within 3 s of the deadline",
           diag="received %.3f, deadline %d" % (m.received, deadline))
    ok(not any("#%d " % f_id in str(m["subject"]) for m in sink.messages()),
       "no mail for the RT ticket answered in time", diag=sink.summary)
    w.stop_ok()
    r = w.command("doctor")
    ok(r.returncode == 0 and "RT's Nobody user" in r.stdout + r.stderr,
       "wafa doctor passes, with the adapter's checks", diag=show(r))
    diag("wafa doctor:\n" + "\n".join(l for l in r.stdout.splitlines() if " rt" in l or "rt:" in l))
    # under the daemon's role, which reads no RT table
    role = pg.wafa_role("rt5")
    r = w.command_as(role, "doctor")
    ok(r.returncode == 0 and "as wafa_daemon" in r.stdout and "RT's Nobody user" in r.stdout
       and "FAIL" not in r.stdout and "wafa doctor: all is well" in r.stdout,
       "wafa doctor under the role: all is well", diag=show(r))
    ok("reads the helpdesk's timestamps as UTC" in r.stdout, "doctor: RT's times are UTC",
       diag=show(r))
    pg.psql("UPDATE users SET name = 'Nobody2' WHERE name = 'Nobody'", db="rt5")
    r = w.command_as(role, "doctor")
    ok(r.returncode != 0 and "no user named Nobody: owners may be wrong" in r.stdout,
       "RT without its Nobody user: doctor under the role fails and says so", diag=show(r))
    pg.psql("UPDATE users SET name = 'Nobody' WHERE name = 'Nobody2'", db="rt5")

    # --- uninstall
    pg.psql("BEGIN;\n" + adapter_sql("uninstall.sql") + "\nCOMMIT;", db="rt5")
    left = pg.value("SELECT count(*) FROM pg_trigger WHERE tgname = 'wafa_notify'", db="rt5")
    is_((left, pg.value("SELECT to_regclass('wafa.tickets') IS NULL", db="rt5"),
         pg.value("SELECT count(*) FROM tickets", db="rt5")), ("0", "t", "6"),
        "uninstall.sql drops the triggers and the view, and leaves RT's tickets")
    diag("the RT test took %.1f s" % (time.monotonic() - t0))


run(main)
