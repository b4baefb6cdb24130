#!/usr/bin/python3
"""Ticket actions through the REAL Request Tracker 5's REST 2 API: RT's
database made by rt-setup-database-5 in the harness's PostgreSQL, RT's own
rt-server (Plack) on a loopback port run as an unprivileged user, a
least-privilege RT user (ModifyTicket, CommentOnTicket, ShowTicket, SeeQueue
on the queue) with an auth token made by RT's own RT::AuthToken.  `wafa api
--send` raises a ticket's priority and adds a comment; RT's database shows
both.  A user without ModifyTicket gets a permanent failure with RT's
reason, and the priority stays.  Skipped when RT is not installed."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RT_LIB = "/usr/share/request-tracker5/lib"
RT_SERVER = "/usr/share/request-tracker5/libexec/rt-server"
RT_SETUP = shutil.which("rt-setup-database-5") or "/usr/sbin/rt-setup-database-5"
RUN_AS = "postgres"   # an unprivileged user that can reach the harness's PostgreSQL

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
Set($WebDomain, '127.0.0.1');
Set($WebPort, {web_port});
Set($MasonDataDir, '{dir}/mason');
Set($MasonSessionDir, '{dir}/sessions');
Set($Timezone, 'UTC');
Set($LogToSTDERR, 'error');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($MailCommand, sub {{ 1 }});
1;
"""

RT_PL = r"""
use strict;
use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT;
use JSON::PP ();
use MIME::Entity;
RT::LoadConfig();
RT::Init();
my $sys = RT->SystemUser;
my $q = RT::Queue->new($sys);
$q->Load('General') or die "no queue General\n";
my %out;
sub user_with {
    my ($name, @rights) = @_;
    my $u = RT::User->new($sys);
    my ($ok, $msg) = $u->Create(Name => $name, EmailAddress => "$name\@example.org", Privileged => 1);
    die "user $name: $msg\n" unless $ok;
    for my $r (@rights) {
        my ($g, $m) = $u->PrincipalObj->GrantRight(Right => $r, Object => $q);
        die "grant $r: $m\n" unless $g;
    }
    my $t = RT::AuthToken->new($sys);
    my ($id, $m, $token) = $t->Create(Owner => $u->id, Description => 'wafa');
    die "token for $name: $m\n" unless $id;
    return $token;
}
$out{token} = user_with('wafa', qw(ShowTicket SeeQueue ModifyTicket CommentOnTicket));
$out{weak_token} = user_with('wafa-weak', qw(ShowTicket SeeQueue CommentOnTicket));
my $t = RT::Ticket->new($sys);
my ($id, $txn, $msg) = $t->Create(Queue => 'General', Subject => 'Printer on fire', Priority => 0,
    Requestor => ['carol@example.org'],
    MIMEObj => MIME::Entity->build(Type => 'text/plain', Data => ['It smokes.']));
die "ticket: $msg\n" unless $id;
$out{ticket} = $id;
print JSON::PP->new->canonical->encode(\%out), "\n";
"""


def rt_missing():
    if not os.path.exists(os.path.join(RT_LIB, "RT.pm")) or not os.access(RT_SETUP, os.X_OK) \
            or not os.access(RT_SERVER, os.X_OK):
        return "Request Tracker 5 is not installed (apt-get install request-tracker5 rt5-db-postgresql)"
    if subprocess.run(["perl", "-MDBD::Pg", "-e", "1"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        return "RT's PostgreSQL driver is not installed (apt-get install rt5-db-postgresql)"
    if os.geteuid() != 0:
        return "needs root to run RT's server as the unprivileged user %s" % RUN_AS
    return None


def main():
    require_wafa()
    why = rt_missing()
    if why:
        skip("wafa api against Request Tracker 5's REST 2", why)
        return
    t0 = time.monotonic()
    pg = Postgres(load_sample=False)
    d = tempfile.mkdtemp(prefix="wafa-rtapi-", dir="/tmp")
    if os.environ.get("WAFA_KEEP_TMP") in (None, "", "0"):
        import atexit
        atexit.register(shutil.rmtree, d, True)
    os.chmod(d, 0o755)
    for sub in ("site.d", "mason", "sessions"):
        os.makedirs(os.path.join(d, sub))
    shutil.chown(os.path.join(d, "mason"), RUN_AS, RUN_AS)
    shutil.chown(os.path.join(d, "sessions"), RUN_AS, RUN_AS)
    web_port = free_port()
    config = os.path.join(d, "RT_SiteConfig.pm")
    with open(config, "w") as f:
        f.write(SITE_CONFIG.format(sock=pg.sockdir, port=pg.port, web_port=web_port, dir=d))
    os.chmod(config, 0o644)
    script = os.path.join(d, "rt.pl")
    with open(script, "w") as f:
        f.write(RT_PL)
    env = dict(os.environ, RT_SITE_CONFIG=config, RT_SITE_CONFIG_DIR=os.path.join(d, "site.d"),
               LC_ALL="C.UTF-8", TZ="UTC")
    for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        env.pop(k, None)

    def run_rt(cmd, timeout=180):
        r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd=d)
        r.stdout = r.stdout.decode("utf-8", "replace")
        r.stderr = r.stderr.decode("utf-8", "replace")
        return r

    r = run_rt([RT_SETUP, "--action", "init", "--dba", "postgres", "--dba-password", ""])
    if not ok(r.returncode == 0, "rt-setup-database-5 makes RT's database",
              diag=lambda: r.stdout[-2000:] + r.stderr[-2000:]):
        return
    r = run_rt(["perl", script])
    if not ok(r.returncode == 0, "RT's Perl API makes the users, their rights, their auth tokens "
              "(RT::AuthToken) and a ticket", diag=lambda: r.stdout + r.stderr):
        return
    fx = json.loads(r.stdout.strip().splitlines()[-1])
    ticket = int(fx["ticket"])
    diag("RT ready in %.1f s" % (time.monotonic() - t0))

    log = open(os.path.join(d, "rt-server.log"), "w")
    server = subprocess.Popen(
        ["runuser", "-u", RUN_AS, "--", "env", "RT_SITE_CONFIG=" + config,
         "RT_SITE_CONFIG_DIR=" + os.path.join(d, "site.d"), "LC_ALL=C.UTF-8", "TZ=UTC",
         "perl", RT_SERVER, "--server", "Standalone", "--host", "127.0.0.1",
         "--port", str(web_port)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=d,
        start_new_session=True)

    def stop():
        if server.poll() is None:
            os.killpg(server.pid, 15)
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
    import atexit
    atexit.register(stop)

    def answering():
        try:
            with socket.create_connection(("127.0.0.1", web_port), timeout=1):
                pass
        except OSError:
            return False
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/REST/2.0/" % web_port, timeout=20)
        except urllib.error.HTTPError:
            pass   # 401 without a token: it answers
        except OSError:
            return False
        return True
    up = wait_for(lambda: server.poll() is None and answering(), 90, 0.5)
    if not ok(up, "rt-server (RT's Plack server) answers on 127.0.0.1:%d, run as %s" % (web_port, RUN_AS),
              diag=lambda: open(os.path.join(d, "rt-server.log")).read()[-3000:]):
        return
    diag("rt-server up in %.1f s" % (time.monotonic() - t0))

    rules = os.path.join(d, "rules.d")
    os.makedirs(rules)
    tokens = {}
    confs = {}
    for who in ("token", "weak_token"):
        tokens[who] = os.path.join(d, who)
        with open(tokens[who], "w") as f:
            f.write(fx[who] + "\n")
        os.chmod(tokens[who], 0o600)
        base = offline_config(d, rules)
        confs[who] = os.path.join(d, "wafa-%s.conf" % who)
        os.rename(base, confs[who])
        with open(confs[who], "a") as f:
            f.write("[helpdesk]\nadapter = rt\nadapters = %s\n[api]\nurl = http://127.0.0.1:%d\n"
                    "token_file = %s\n" % (os.path.join(SRCDIR, "plugins", "adapters"), web_port,
                                           tokens[who]))
    outputs = []

    def api(who, payload):
        r = cli(["api", "-c", confs[who], "--ticket", str(ticket), "--payload", json.dumps(payload),
                 "--send"], timeout=90)
        outputs.append(r.stdout + r.stderr)
        return r

    def priority():
        return int(pg.value("SELECT priority FROM tickets WHERE id = %d" % ticket, db="rt5"))

    # a user without ModifyTicket: refused, nothing changes
    r = api("weak_token", {"op": "fields", "priority": "urgent"})
    diag("RT to a user without ModifyTicket: " + r.stdout.strip().splitlines()[-1])
    ok(r.returncode == 76 and "Permission Denied" in r.stdout,
       "a user without ModifyTicket: a permanent failure (exit 76) with RT's reason",
       diag=lambda: show(r))
    is_(priority(), 0, "... and the priority stays 0")

    r = api("token", {"op": "fields", "priority": "urgent"})
    ok(r.returncode == 0 and "done: HTTP 200" in r.stdout,
       "wafa api --send: PUT /REST/2.0/ticket/ID through RT's REST 2 is done", diag=lambda: show(r))
    is_(priority(), 100, "RT's database: the ticket's priority is 100 (urgent)")
    n_before = int(pg.value("SELECT count(*) FROM transactions WHERE objecttype = 'RT::Ticket' "
                            "AND objectid = %d AND type = 'Comment'" % ticket, db="rt5"))
    r = api("token", {"op": "note", "text": "SLA breached: priority raised by wafa", "internal": True})
    ok(r.returncode == 0 and "done: HTTP 201" in r.stdout,
       "wafa api --send: an internal note is POST .../comment, done with 201", diag=lambda: show(r))
    rows = pg.psql("SELECT t.type, u.name, a.content FROM transactions t JOIN users u ON u.id = t.creator "
                   "JOIN attachments a ON a.transactionid = t.id WHERE t.objecttype = 'RT::Ticket' AND "
                   "t.objectid = %d AND t.type = 'Comment' ORDER BY t.id" % ticket, db="rt5")
    ok(len(rows) == n_before + 1 and rows[-1][1] == "wafa" and
       "SLA breached: priority raised by wafa" in (rows[-1][2] or ""),
       "RT's database: one Comment by the wafa user with the note's text", diag=repr(rows))
    r = api("token", {"op": "fields", "status": "solved"})
    st = pg.value("SELECT status FROM tickets WHERE id = %d" % ticket, db="rt5")
    ok(r.returncode == 0 and st == "resolved", "status solved becomes RT's resolved",
       diag=lambda: show(r) + "\nstatus %r" % st)
    # RT answers 200 to these too, with its reason in the list of messages
    r = api("token", {"op": "fields", "owner": "no-such-user"})
    ok(r.returncode == 76 and "That user does not exist" in r.stdout,
       "an owner RT does not know: a permanent failure with RT's words, though RT said 200",
       diag=lambda: show(r))
    r = api("token", {"op": "fields", "owner": "wafa-weak"})
    ok(r.returncode == 76 and "may not own tickets" in r.stdout,
       "an owner without OwnTicket: a permanent failure with RT's words", diag=lambda: show(r))
    # a retry after a crash between RT's change and wafa's record of it
    r = api("token", {"op": "fields", "priority": "urgent"})
    ok(r.returncode == 0 and "done: HTTP 200" in r.stdout,
       "the same priority again (a retry after a crash): done, RT has nothing to change",
       diag=lambda: show(r))
    is_(priority(), 100, "... and the priority is still 100")
    leaked = [o for o in outputs if fx["token"] in o or fx["weak_token"] in o]
    ok(not leaked, "the RT tokens never appear in wafa's output", diag=lambda: "\n".join(leaked))
    stop()
    diag("the RT API test took %.1f s" % (time.monotonic() - t0))


run(main)
