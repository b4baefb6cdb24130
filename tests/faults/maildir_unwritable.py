#!/usr/bin/python3
"""transport = maildir: when the maildir's tmp/ or new/ cannot be written
(the mode changed under a running wafa) the mail stays queued with the
reason, nothing is left in tmp/, and once the mode is fixed it is delivered,
once.  Root ignores file modes, so as root wafa runs as the unprivileged
postgres user here (its files handed to that user); otherwise as the user
running the test."""
import os
import pwd
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = 15


def row_of(pg, tid):
    rows = pg.outbox(tid)
    return rows[0] if len(rows) == 1 else None


def listing(path):
    return sorted(n for n in os.listdir(path) if not n.startswith("."))


def start_as(w, user):
    """Wafa.start, with the daemon run as user (no process in between, so
    SIGTERM reaches it)."""
    w.runs += 1
    log = open(w.logfile, "ab")
    log.write(("---- wafa run #%d at %.3f as %s\n" % (w.runs, time.time(), user)).encode())
    log.flush()
    w.log_offset = log.tell()
    w.proc = subprocess.Popen([WAFA_BIN, "run", "-c", w.conf_path], stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL, cwd=w.dir, user=user, group=user,
                              extra_groups=[])
    log.close()
    w.started_at = time.time()
    w.wait_ready()


def main():
    require_wafa()
    plan(N)
    pg = Postgres()
    w = Wafa(pg, "maildir:/nonexistent", rules={"fr.lua": breach_rule(target="1s")},
             conf={"mail.retry_initial": "1s", "mail.retry_max": "1s",
                   "mail.poll_interval": "300ms"})
    maildir = os.path.join(w.dir, "Maildir")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub), mode=0o700)
    w.settings["mail"]["transport"] = "maildir:" + maildir
    w.write_config()
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    if os.geteuid() == 0:
        user = "postgres"
        pw = pwd.getpwnam(user)
        for base, dirs, files in os.walk(w.dir):
            for n in [base] + [os.path.join(base, f) for f in dirs + files]:
                os.chown(n, pw.pw_uid, pw.pw_gid)
        start_as(w, user)
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
        w.start()
    diag("wafa runs as %s" % user)

    n = 0
    for sub, step in (("tmp", "create"), ("new", "move to new/")):
        n += 1
        path = os.path.join(maildir, sub)
        os.chmod(path, 0o500)
        addr = "unwritable-%s@example.com" % sub
        tid, created = pg.create_ticket("Unwritable " + sub, addr)
        row = wait_for(lambda: (lambda x: x if x and x["attempts"] >= 2 and x["last_error"]
                                else None)(row_of(pg, tid)), created + 12 - time.time(), 0.1)
        err = (row or {}).get("last_error") or ""
        ok(row and row["status"] == "queued", "%s/ read-only: the mail stays queued and is "
           "retried (%s attempts)" % (sub, row and row["attempts"]),
           diag=lambda: repr(row_of(pg, tid)) + "\n" + w.log()[-2000:])
        ok("Permission denied" in err and step in err, "with the reason: %r" % err)
        is_(len(listing(os.path.join(maildir, "new"))), n - 1, "no new file meanwhile")
        os.chmod(path, 0o700)
        is_(listing(os.path.join(maildir, "tmp")), [], "nothing left in tmp/")
        got = wait_for(lambda: len(listing(os.path.join(maildir, "new"))) == n, 10)
        ok(got, "once the mode is fixed the mail is delivered", diag=lambda: w.log()[-2000:])
        wait_for(lambda: (row_of(pg, tid) or {}).get("status") == "sent", 5)
        is_((row_of(pg, tid) or {}).get("status"), "sent", "and the row is sent")
    time.sleep(1.5)
    is_(len(listing(os.path.join(maildir, "new"))), 2, "two mails in new/, each once")
    w.stop_ok()


run(main)
