#!/usr/bin/python3
"""transport = maildir: on a full disk (a small tmpfs, filled up) the mail
stays queued with the reason (ENOSPC) and nothing is left half-written in
tmp/; once space is freed it is delivered, once.  Needs root to mount the
tmpfs (CI runs as root); skipped otherwise, saying so."""
import atexit
import errno
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

N = 10


def row_of(pg, tid):
    rows = pg.outbox(tid)
    return rows[0] if len(rows) == 1 else None


def listing(path):
    return sorted(n for n in os.listdir(path) if not n.startswith("."))


def mount_tmpfs(size):
    """A fresh tmpfs of size bytes, unmounted at exit; or (None, why)."""
    if os.geteuid() != 0:
        return None, "needs root to mount a small tmpfs (CI runs as root)"
    mnt = tempfile.mkdtemp(prefix="wafa-full-", dir="/tmp")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0755" % size, "tmpfs", mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        os.rmdir(mnt)
        return None, "cannot mount a tmpfs here: %s" % r.stdout.decode(errors="replace").strip()

    def cleanup():
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)
    atexit.register(cleanup)
    return mnt, None


def fill(path):
    """Writes zeros to path until the file system is full."""
    with open(path, "wb", buffering=0) as f:
        block = b"\0" * 4096
        try:
            while True:
                f.write(block)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        try:
            while True:
                f.write(b"\0")
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise


def main():
    require_wafa()
    plan(N)
    mnt, why = mount_tmpfs(512 * 1024)
    if not mnt:
        skip("maildir on a full disk", why, N)
        return
    pg = Postgres()
    maildir = os.path.join(mnt, "Maildir")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub))
    w = Wafa(pg, "maildir:" + maildir, rules={"fr.lua": breach_rule(target="1s")},
             conf={"mail.retry_initial": "1s", "mail.retry_max": "1s",
                   "mail.poll_interval": "300ms"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    w.start()

    filler = os.path.join(mnt, "filler")
    fill(filler)
    try:
        with open(os.path.join(mnt, "probe"), "wb") as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
        full = False
    except OSError as e:
        full = e.errno == errno.ENOSPC
    ok(full, "the file system is full (a 4 KiB write fails with ENOSPC)")
    if os.path.exists(os.path.join(mnt, "probe")):
        os.remove(os.path.join(mnt, "probe"))

    tid, created = pg.create_ticket("Disk full", "full@example.com")
    row = wait_for(lambda: (lambda x: x if x and x["attempts"] >= 2 and x["last_error"] else None)(
        row_of(pg, tid)), created + 12 - time.time(), 0.1)
    err = (row or {}).get("last_error") or ""
    ok(row and row["status"] == "queued", "the mail stays queued and is retried (%s attempts)"
       % (row and row["attempts"]), diag=lambda: repr(row_of(pg, tid)) + "\n" + w.log()[-2000:])
    ok("No space left on device" in err and maildir in err, "with the reason: %r" % err)
    is_(listing(os.path.join(maildir, "new")), [], "nothing in new/")
    is_(listing(os.path.join(maildir, "tmp")), [], "nothing left half-written in tmp/")

    os.remove(filler)
    got = wait_for(lambda: listing(os.path.join(maildir, "new")), 10)
    ok(got, "once space is freed the mail is delivered", diag=lambda: w.log()[-2000:])
    wait_for(lambda: (row_of(pg, tid) or {}).get("status") == "sent", 5)
    time.sleep(1.5)
    is_(len(listing(os.path.join(maildir, "new"))), 1, "once")
    is_((row_of(pg, tid) or {}).get("status"), "sent", "and the row is sent")
    w.stop_ok()


run(main)
