"""The real Request Tracker 5 with its REST 2 API, for tests of ticket
actions (tests/integration/api_rt.py, rt_breach.py): RT's database made by
rt-setup-database-5 in the harness's PostgreSQL, a least-privilege RT user
with an auth token made by RT's own RT::AuthToken, and RT's rt-server
(Plack) on a loopback port, run as an unprivileged user.

    rt = RtRest(pg)            # after Postgres(load_sample=False)
    why = rt.missing()         # None, or why RT cannot run here: skip
    rt.setup_database(); fx = rt.fixture(); rt.start_server()
    rt.url, fx["token"], fx["weak_token"], fx["ticket"]
"""
import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request

from harness import free_port, wait_for

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
$out{token} = user_with('wafa', qw(ShowTicket SeeQueue ModifyTicket CommentOnTicket ShowTicketComments));
$out{weak_token} = user_with('wafa-weak', qw(ShowTicket SeeQueue CommentOnTicket));
if ($ARGV[0]) {
my $t = RT::Ticket->new($sys);
my ($id, $txn, $msg) = $t->Create(Queue => 'General', Subject => 'Printer on fire', Priority => 0,
    Requestor => ['carol@example.org'],
    MIMEObj => MIME::Entity->build(Type => 'text/plain', Data => ['It smokes.']));
die "ticket: $msg\n" unless $id;
$out{ticket} = $id;
}
print JSON::PP->new->canonical->encode(\%out), "\n";
"""



class RtRest:
    def __init__(self, pg):
        self.pg = pg
        self.dir = d = tempfile.mkdtemp(prefix="wafa-rtapi-", dir="/tmp")
        if os.environ.get("WAFA_KEEP_TMP") in (None, "", "0"):
            atexit.register(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        for sub in ("site.d", "mason", "sessions"):
            os.makedirs(os.path.join(d, sub))
        self.web_port = free_port()
        self.url = "http://127.0.0.1:%d" % self.web_port
        self.config = os.path.join(d, "RT_SiteConfig.pm")
        self.script = os.path.join(d, "rt.pl")
        self.server = None
        self.env = dict(os.environ, RT_SITE_CONFIG=self.config,
                        RT_SITE_CONFIG_DIR=os.path.join(d, "site.d"), LC_ALL="C.UTF-8", TZ="UTC")
        for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
            self.env.pop(k, None)

    @staticmethod
    def missing():
        """Why RT cannot run here, or None."""
        if not os.path.exists(os.path.join(RT_LIB, "RT.pm")) or not os.access(RT_SETUP, os.X_OK) \
                or not os.access(RT_SERVER, os.X_OK):
            return "Request Tracker 5 is not installed (apt-get install request-tracker5 rt5-db-postgresql)"
        if subprocess.run(["perl", "-MDBD::Pg", "-e", "1"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            return "RT's PostgreSQL driver is not installed (apt-get install rt5-db-postgresql)"
        if os.geteuid() != 0:
            return "needs root to run RT's server as the unprivileged user %s" % RUN_AS
        return None

    def run(self, cmd, timeout=180):
        r = subprocess.run(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd=self.dir)
        r.stdout = r.stdout.decode("utf-8", "replace")
        r.stderr = r.stderr.decode("utf-8", "replace")
        return r

    def setup_database(self):
        """rt-setup-database-5 --action init; returns its CompletedProcess."""
        for sub in ("mason", "sessions"):
            shutil.chown(os.path.join(self.dir, sub), RUN_AS, RUN_AS)
        with open(self.config, "w") as f:
            f.write(SITE_CONFIG.format(sock=self.pg.sockdir, port=self.pg.port,
                                       web_port=self.web_port, dir=self.dir))
        os.chmod(self.config, 0o644)
        return self.run([RT_SETUP, "--action", "init", "--dba", "postgres", "--dba-password", ""])

    def fixture(self, ticket=True):
        """The users wafa (ShowTicket, SeeQueue, ModifyTicket,
        CommentOnTicket on General) and wafa-weak (no ModifyTicket), their
        tokens, and with ticket a ticket at priority 0.  Returns
        {"token", "weak_token", "ticket"}; raises on failure."""
        with open(self.script, "w") as f:
            f.write(RT_PL)
        r = self.run(["perl", self.script, "1" if ticket else "0"])
        if r.returncode != 0:
            raise RuntimeError("rt.pl failed (%d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr))
        return json.loads(r.stdout.strip().splitlines()[-1])

    def create_ticket(self, subject):
        """A ticket in General from carol@example.org; returns its id."""
        r = self.run(["perl", "-e", CREATE_PL, subject])
        if r.returncode != 0:
            raise RuntimeError("creating an RT ticket failed:\n%s\n%s" % (r.stdout, r.stderr))
        return int(r.stdout.strip().splitlines()[-1])

    def start_server(self, timeout=90):
        """rt-server (Standalone) as RUN_AS on 127.0.0.1; True once it answers."""
        self.log = os.path.join(self.dir, "rt-server.log")
        log = open(self.log, "w")
        self.server = subprocess.Popen(
            ["runuser", "-u", RUN_AS, "--", "env", "RT_SITE_CONFIG=" + self.config,
             "RT_SITE_CONFIG_DIR=" + os.path.join(self.dir, "site.d"), "LC_ALL=C.UTF-8", "TZ=UTC",
             "perl", RT_SERVER, "--server", "Standalone", "--host", "127.0.0.1",
             "--port", str(self.web_port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
            start_new_session=True)
        log.close()
        atexit.register(self.stop_server)
        return wait_for(lambda: self.server.poll() is None and self._answering(), timeout, 0.5)

    def _answering(self):
        try:
            with socket.create_connection(("127.0.0.1", self.web_port), timeout=1):
                pass
        except OSError:
            return False
        try:
            urllib.request.urlopen(self.url + "/REST/2.0/", timeout=20)
        except urllib.error.HTTPError:
            pass   # 401 without a token: it answers
        except OSError:
            return False
        return True

    def server_log(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    def stop_server(self):
        if self.server and self.server.poll() is None:
            os.killpg(self.server.pid, 15)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, 9)

    def token_file(self, token, name):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(token + "\n")
        os.chmod(path, 0o600)
        return path

    def priority(self, ticket):
        return int(self.pg.value("SELECT priority FROM tickets WHERE id = %d" % ticket, db="rt5"))

    def comments(self, ticket, by="wafa"):
        """The text of each Comment on ticket by the RT user by, in order."""
        rows = self.pg.psql(
            "SELECT a.content FROM transactions t JOIN users u ON u.id = t.creator "
            "JOIN attachments a ON a.transactionid = t.id WHERE t.objecttype = 'RT::Ticket' AND "
            "t.objectid = %d AND t.type = 'Comment' AND u.name = '%s' ORDER BY t.id"
            % (ticket, by), db="rt5")
        return [r[0] or "" for r in rows]


CREATE_PL = r"""
use strict; use warnings;
use lib '/usr/share/request-tracker5/lib';
use RT; use MIME::Entity;
RT::LoadConfig(); RT::Init();
my $t = RT::Ticket->new(RT->SystemUser);
my ($id, $txn, $msg) = $t->Create(Queue => 'General', Subject => $ARGV[0], Priority => 0,
    Requestor => ['carol@example.org'],
    MIMEObj => MIME::Entity->build(Type => 'text/plain', Data => ['Hello?']));
die "ticket: $msg\n" unless $id;
print "$id\n";
"""
