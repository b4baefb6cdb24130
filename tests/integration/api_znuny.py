#!/usr/bin/python3
"""Ticket actions through the REAL Znuny 7.0.19's GenericInterface: Znuny
installed from its release file as tests/integration/znuny_real.py does,
the web service set up from Znuny's own sample
(scripts/test/sample/Webservice/GenericTicketConnectorREST.yml, routing
POST /TicketUpdate to Ticket::TicketUpdate) through its Perl API, served by
Znuny's own bin/cgi-bin/app.psgi under plackup on a loopback port as an
unprivileged user.  `wafa api --send` raises a ticket's priority, sets its
state and adds an internal article as the agent in [api] user; Znuny's
database shows them.  An agent with read-only rights gets Znuny's refusal
(a 200 with an Error) as a permanent failure.  Skipped without the release
file or the Perl modules.  About 90 s."""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RELEASE = "znuny-7.0.19.tar.xz"
PASSWORD = "Zn-agent-pw-4821"
RUN_AS = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []

DRIVER = r"""
use strict;
use warnings;
my ( $Root, $ArgJSON ) = @ARGV;
unshift @INC, $Root, "$Root/Kernel/cpan-lib", "$Root/Custom";
require Kernel::System::ObjectManager;
require JSON::PP;
local $Kernel::OM = Kernel::System::ObjectManager->new(
    'Kernel::System::Log' => { LogPrefix => 'wafa-test' },
);
my $Arg   = JSON::PP::decode_json($ArgJSON);
my %Out;
my $Users  = $Kernel::OM->Get('Kernel::System::User');
my $Groups = $Kernel::OM->Get('Kernel::System::Group');
my $GID    = $Groups->GroupLookup( Group => 'users' ) or die "no group users\n";
for my $U ( [ 'wafa', 1 ], [ 'wafaro', 0 ] ) {
    my $ID = $Users->UserAdd(
        UserFirstname => 'Wafa', UserLastname => $U->[0], UserLogin => $U->[0],
        UserPw => $Arg->{password}, UserEmail => "$U->[0]\@wafa-test.org", ValidID => 1,
        ChangeUserID => 1,
    ) or die "UserAdd $U->[0]\n";
    $Groups->PermissionGroupUserAdd(
        GID => $GID, UID => $ID, UserID => 1,
        Permission => { ro => 1, rw => $U->[1], note => $U->[1], priority => $U->[1],
                        owner => $U->[1], move_into => 0, create => 0 },
    ) or die "PermissionGroupUserAdd\n";
}
my $YAML = $Kernel::OM->Get('Kernel::System::Main')->FileRead(
    Location => "$Root/scripts/test/sample/Webservice/GenericTicketConnectorREST.yml",
) or die "no sample web service\n";
my $Config = $Kernel::OM->Get('Kernel::System::YAML')->Load( Data => $$YAML ) or die "YAML\n";
$Kernel::OM->Get('Kernel::System::GenericInterface::Webservice')->WebserviceAdd(
    Name => 'GenericTicketConnectorREST', Config => $Config, ValidID => 1, UserID => 1,
) or die "WebserviceAdd\n";
my $Tickets = $Kernel::OM->Get('Kernel::System::Ticket');
$Out{ticket} = $Tickets->TicketCreate(
    Title => 'Printer on fire', Queue => 'Raw', Lock => 'unlock', Priority => '3 normal',
    State => 'open', CustomerUser => 'carol@wafa-test.org', OwnerID => 1, UserID => 1,
) or die "TicketCreate\n";
print JSON::PP->new->canonical->encode( \%Out ), "\n";
"""


def znuny_real():
    """znuny_real.py's install steps (missing(), tree(), CONFIG), its text
    run without its last line, which would run that test."""
    import types
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "znuny_real.py")
    with open(path, encoding="utf-8") as f:
        src = f.read()
    if "\nrun(main)\n" not in src:
        raise AssertionError("znuny_real.py no longer ends with run(main): update api_znuny.py")
    ns = {"__file__": path, "__name__": "znuny_real"}
    exec(compile(src.replace("\nrun(main)\n", "\n"), path, "exec"), ns)
    return types.SimpleNamespace(**ns)


def main():
    require_wafa()
    zr = znuny_real()
    why = zr.missing()
    if why:
        skip("wafa api against the real Znuny's GenericInterface", why)
        return
    t0 = time.monotonic()
    pg = Postgres(load_sample=False)
    os.chmod(pg.sockdir, 0o711)
    pg.psql("CREATE ROLE znuny LOGIN", db="postgres")
    pg.psql("CREATE DATABASE znuny OWNER znuny", db="postgres")
    home = zr.tree()
    for f in ("schema", "initial_insert", "schema-post"):
        cmd = [("znuny" if a == "postgres" else a) for a in pg._psql_cmd("znuny")]
        subprocess.run(cmd + ["-f", os.path.join(home, "scripts", "database",
                                                 f + ".postgresql.sql")],
                       check=True, stdout=subprocess.DEVNULL)
    log = os.path.join(os.path.dirname(home), "znuny.log")
    with open(os.path.join(home, "Kernel", "Config.pm"), "w") as f:
        f.write(zr.CONFIG % {"sock": pg.sockdir, "port": pg.port, "home": home, "smtp": 9,
                             "log": log})
    open(log, "w").close()
    if RUN_AS:
        subprocess.run(["chown", "-R", "nobody:nogroup", home, log], check=True)
    r = subprocess.run(RUN_AS + ["perl", "bin/otrs.Console.pl", "Maint::Config::Rebuild"],
                       cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    if not ok(r.returncode == 0, "Znuny's schema files and Maint::Config::Rebuild",
              diag=r.stdout.decode()[-2000:]):
        return
    driver = os.path.join(os.path.dirname(home), "api_znuny.pl")
    with open(driver, "w") as f:
        f.write(DRIVER)
    r = subprocess.run(RUN_AS + ["perl", driver, home, json.dumps({"password": PASSWORD})],
                       cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if not ok(r.returncode == 0, "Znuny's Perl API makes two agents (rw and ro on the users "
              "group), the web service from Znuny's sample, and a ticket",
              diag=r.stdout.decode()[-2000:] + r.stderr.decode()[-3000:]):
        return
    ticket = int(json.loads(r.stdout.decode().strip().splitlines()[-1])["ticket"])

    port = free_port()
    slog = open(os.path.join(os.path.dirname(home), "plackup.log"), "w")
    server = subprocess.Popen(RUN_AS + ["plackup", "--host", "127.0.0.1", "--port", str(port),
                                        os.path.join(home, "bin", "cgi-bin", "app.psgi")],
                              cwd=home, stdin=subprocess.DEVNULL, stdout=slog,
                              stderr=subprocess.STDOUT, start_new_session=True)

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
            urllib.request.urlopen("http://127.0.0.1:%d/nph-genericinterface.pl" % port, timeout=30)
        except urllib.error.HTTPError:
            pass
        except OSError:
            return False
        return True
    if not ok(wait_for(lambda: server.poll() is None and answering(), 60, 0.5),
              "plackup serves Znuny's app.psgi on 127.0.0.1:%d" % port,
              diag=lambda: open(slog.name).read()[-3000:]):
        return
    diag("Znuny up in %.1f s" % (time.monotonic() - t0))

    d = os.path.join(os.path.dirname(home), "wafa-api")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "rules.d"))
    token = os.path.join(d, "password")
    with open(token, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(token, 0o600)
    confs = {}
    for user in ("wafa", "wafaro"):
        base = offline_config(d, os.path.join(d, "rules.d"))
        confs[user] = os.path.join(d, "api-%s.conf" % user)
        os.rename(base, confs[user])
        with open(confs[user], "a") as f:
            f.write("[helpdesk]\nadapter = znuny\nadapters = %s\n[api]\nurl = http://127.0.0.1:%d\n"
                    "token_file = %s\nuser = %s\n" % (os.path.join(SRCDIR, "plugins", "adapters"),
                                                     port, token, user))
    outputs = []

    def api(user, payload):
        r = cli(["api", "-c", confs[user], "--ticket", str(ticket), "--payload",
                 json.dumps(payload), "--send"], timeout=120)
        outputs.append(r.stdout + r.stderr)
        return r

    def row():
        return pg.psql("SELECT p.name, s.name FROM ticket t JOIN ticket_priority p ON p.id = "
                       "t.ticket_priority_id JOIN ticket_state s ON s.id = t.ticket_state_id "
                       "WHERE t.id = %d" % ticket, db="znuny")[0]

    r = api("wafaro", {"op": "fields", "priority": "urgent"})
    diag("Znuny to an agent with ro only: " + (r.stdout.strip().splitlines() or [""])[-1])
    ok(r.returncode == 76 and "Error" in r.stdout,
       "an agent with read-only rights: Znuny's 200 with an Error is a permanent failure (exit 76)",
       diag=lambda: show(r))
    is_(row()[0], "3 normal", "... and the priority stays 3 normal")

    r = api("wafa", {"op": "fields", "priority": "urgent", "status": "pending"})
    ok(r.returncode == 65 and "map it in [api] statuses" in r.stderr,
       "pending is refused before anything is sent (Znuny's pending states need a time)",
       diag=lambda: show(r))
    r = api("wafa", {"op": "fields", "priority": "urgent"})
    ok(r.returncode == 0 and "done: HTTP 200" in r.stdout, "wafa api --send: TicketUpdate done",
       diag=lambda: show(r) + "\nplackup:\n" + open(slog.name).read()[-2000:])
    is_(row()[0], "5 very high", "Znuny's database: the priority is 5 very high (urgent)")
    r = api("wafa", {"op": "note", "text": "SLA breached: raised by wafa", "internal": True})
    ok(r.returncode == 0, "wafa api --send: an internal note is done", diag=lambda: show(r))
    arts = pg.psql("SELECT a.is_visible_for_customer::text, m.a_body, c.name FROM article a "
                   "JOIN article_data_mime m ON m.article_id = a.id JOIN "
                   "communication_channel c ON c.id = a.communication_channel_id "
                   "WHERE a.ticket_id = %d ORDER BY a.id" % ticket, db="znuny")
    ok(arts and arts[-1][0] == "0" and "SLA breached: raised by wafa" in arts[-1][1] and
       arts[-1][2] == "Internal",
       "Znuny's database: an Internal article, not visible for the customer, with the text",
       diag=repr(arts))
    r = api("wafa", {"op": "fields", "status": "solved"})
    ok(r.returncode == 0 and row()[1] == "closed successful",
       "status solved becomes Znuny's closed successful", diag=lambda: show(r) + repr(row()))
    leaked = [o for o in outputs if PASSWORD in o]
    ok(not leaked, "the agent's password never appears in wafa's output",
       diag=lambda: "\n".join(leaked))
    stop()
    diag("the Znuny API test took %.1f s" % (time.monotonic() - t0))


run(main)
