#!/usr/bin/python3
"""The README's Install section, as written, on a fresh build: a copy of the
source configured first as the demo does (/usr/local), then as the README
says into a temporary prefix (standing for /usr and /etc), built, installed;
then its commands one by one (the sample helpdesk, setup, the role, a rule,
check, doctor, and the unit's own ExecStartPre and ExecStart), ending with
a mail delivered by the daemon under the least-privilege role.  The binary
and the unit must carry the prefix's paths (not the first configure's), the
installed wafa.conf.example its rules.d, and every step exit 0."""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def install_blocks():
    """The ```sh blocks of the README's Install section, as lists of lines."""
    with open(os.path.join(SRCDIR, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    return [b.strip("\n").split("\n") for b in re.findall(r"```sh\n(.*?)```", section, re.S)]


def sh(cmd, cwd=None, timeout=1800, env=None):
    r = subprocess.run(["sh", "-c", cmd], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout, env=env)
    r.stdout = r.stdout.decode("utf-8", errors="replace")
    return r


def copy_source(dest):
    """The source as a fresh clone has it (no build products)."""
    if os.path.exists(os.path.join(SRCDIR, ".git")):
        names = subprocess.run(["git", "-C", SRCDIR, "ls-files", "--cached", "--others",
                                "--exclude-standard"], stdout=subprocess.PIPE,
                               check=True).stdout.decode().split("\n")
        for n in filter(None, names):
            src = os.path.join(SRCDIR, n)
            if os.path.isfile(src):
                os.makedirs(os.path.dirname(os.path.join(dest, n)), exist_ok=True)
                shutil.copy2(src, os.path.join(dest, n))
    else:  # a release tarball: it is the source
        shutil.copytree(SRCDIR, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            "*.o", "*.a", ".deps", "autom4te.cache", "config.status", "config.log", "Makefile",
            "tmp", "*.log", "*.trs", "paths.h", "*.inc", "wafa.service"))


def main():
    require_wafa()
    if os.environ.get("WAFA_SKIP_INSTALL"):
        skip("the README's Install section", "WAFA_SKIP_INSTALL is set", 1)
        return
    plan(21)
    top = tempfile.mkdtemp(prefix="wafa-install-", dir="/tmp")
    if not os.environ.get("WAFA_KEEP_TMP"):
        import atexit
        atexit.register(lambda: shutil.rmtree(top, ignore_errors=True))
    src, root = os.path.join(top, "src"), os.path.join(top, "root")
    copy_source(src)
    blocks = install_blocks()
    ok(len(blocks) == 2 and "./configure --prefix=/usr --sysconfdir=/etc" in blocks[0]
       and any("useradd" in l for l in blocks[1]),
       "the README's Install section has the build block and the commands block",
       diag=repr(blocks))
    if len(blocks) != 2:
        return

    def translate(line):
        """A README line run here: /usr and /etc are under the temporary root,
        sudo is not needed (root), psql reaches the test server."""
        line = re.sub(r"\s+#.*$", "", line)
        line = re.sub(r"(?<![\w/.])/(usr|etc)(?=[/ ]|$)", root + r"/\1", line)
        psql = " ".join(shlex.quote(a) for a in pg._psql_cmd("postgres")[:-2])
        line = line.replace("sudo -u postgres psql", psql)
        line = re.sub(r"sudo (-u \w+ )?", "", line)
        line = re.sub(r"(^|\| )wafa ", r"\1%s/usr/bin/wafa " % root, line)
        return line

    # ---- the demo first (it configures for /usr/local and builds in the tree)
    r = sh("autoreconf -fi && ./configure && make core/base/config.o core/main.o", cwd=src)
    ok(r.returncode == 0, "a first configure as the demo does, and a partial build",
       diag=r.stdout[-3000:])

    # ---- the build block, as written
    for line in blocks[0]:
        cmd = re.sub(r"\s+#.*$", "", line)
        if cmd.startswith("scripts/deps"):
            continue  # the packages are installed (make check needs them)
        if cmd.startswith("make "):
            # make check is this suite; make install needs no sudo as root
            cmd = "make -j2 && make install"
        r = sh(translate(cmd), cwd=src)
        if not ok(r.returncode == 0, "README: %s" % line, diag=r.stdout[-4000:]):
            return
    wafa = os.path.join(root, "usr", "bin", "wafa")
    r = subprocess.run([wafa, "--help"], stdout=subprocess.PIPE)
    ok(("%s/etc/wafa/wafa.conf" % root) in r.stdout.decode(),
       "the installed binary's default config is under --sysconfdir, not /usr/local/etc",
       diag=r.stdout.decode())
    with open(os.path.join(root, "usr", "lib", "systemd", "system", "wafa.service")) as f:
        unit = f.read()
    execs = [l.split("=", 1)[1] for l in unit.splitlines()
             if l.startswith(("ExecStartPre=", "ExecStart="))]
    ok(len(execs) == 2 and all(e.startswith(wafa + " ") and
                               e.endswith("-c %s/etc/wafa/wafa.conf" % root) for e in execs),
       "the installed unit runs the installed binary on the installed config", diag=repr(execs))
    with open(os.path.join(root, "etc", "wafa", "wafa.conf.example")) as f:
        example = f.read()
    ok(re.search(r"^dir = %s/etc/wafa/rules.d\b" % re.escape(root), example, re.M)
       and os.path.isdir(os.path.join(root, "etc", "wafa", "rules.d")),
       "wafa.conf.example's rules.d follows --sysconfdir, and make install made it",
       diag=example[:1500])

    # ---- the commands, as written
    sink = SmtpSink()
    conf = os.path.join(root, "etc", "wafa", "wafa.conf")
    for line in blocks[1]:
        if "useradd" in line:
            # not on a shared test machine: the unit's User= is checked instead
            ok("\nUser=wafa\n" in unit, "README: %s (skipped here; the unit runs as "
               "User=wafa)" % line)
            continue
        if "systemctl" in line:
            break
        r = sh(translate(line), env=dict(os.environ, LC_ALL="C.UTF-8"))
        if not ok(r.returncode == 0, "README: %s" % line,
                  diag="ran: %s\n%s" % (translate(line), r.stdout[-3000:])):
            return
        if line.startswith("sudo cp") and "wafa.conf.example" in line:
            # "then set dsn, transport, from": as an admin would, in the file
            with open(conf) as f:
                text = f.read()
            text = re.sub(r"^dsn = .*$", "dsn = host=%s port=%d dbname=helpdesk user=wafa"
                          % (pg.sockdir, pg.port), text, flags=re.M)
            text = re.sub(r"^transport = .*$", "transport = " + sink.url, text, flags=re.M)
            with open(conf, "w") as f:
                f.write(text)
        if "sample-helpdesk.sql" in line:
            # a ticket that has waited 10 hours for a first reply (target 8h)
            pg.psql("INSERT INTO tickets (subject, owner_email, created_at, updated_at) "
                    "VALUES ('Waiting since this morning', 'owner@example.com', "
                    "now() - interval '10 hours', now() - interval '10 hours')")
        if "doctor" in line:
            ok("connected to helpdesk as wafa " in r.stdout, "doctor connected under the role",
               diag=r.stdout)

    # ---- systemctl enable --now wafa: what the unit runs
    pre, start = execs
    r = sh(pre)
    ok(r.returncode == 0, "the unit's ExecStartPre: %s" % pre, diag=r.stdout)
    log = open(os.path.join(top, "wafa.log"), "wb")
    proc = subprocess.Popen(shlex.split(start), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        got = wait_for(lambda: sink.messages_to("owner@example.com"), 30)
        ok(got, "the unit's ExecStart: the breach mail is delivered",
           diag=lambda: sink.summary() + open(os.path.join(top, "wafa.log")).read()[-3000:])
        users = pg.psql("SELECT DISTINCT usename FROM pg_stat_activity "
                        "WHERE application_name LIKE 'wafa%'")
        is_(users, [["wafa"]], "every connection of the daemon is the least-privilege role")
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


pg = None


def run_main():
    global pg
    pg = Postgres(load_sample=False)
    main()


run(run_main)
