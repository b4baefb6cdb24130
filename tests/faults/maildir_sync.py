#!/usr/bin/python3
"""transport = maildir: the sync of new/ after the rename fails (EIO, from a
small LD_PRELOAD shim around fsync(), the one way to make a local disk say
so on demand).  The mail is in new/ already: it counts as delivered, is
recorded as sent and never tried again, so new/ holds it once.  Skipped,
saying why, without a C compiler."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* fsync() of a directory named .../new fails with EIO */
int fsync(int fd)
{
	static int (*real)(int);
	char link[64], path[4096];
	ssize_t n;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n > 4 && memcmp(path + n - 4, "/new", 4) == 0) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}
"""


def main():
    require_wafa()
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not cc:
        skip("maildir sync failure", "no C compiler to build the fsync shim", 4)
        done()
        return
    plan(4)
    pg = Postgres()
    w = Wafa(pg, "maildir:/nonexistent", rules={"fr.lua": breach_rule(target="1s")},
             conf={"mail.retry_initial": "1s"})
    maildir = os.path.join(w.dir, "Maildir")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(maildir, sub))
    w.settings["mail"]["transport"] = "maildir:" + maildir
    w.write_config()
    src = os.path.join(w.dir, "shim.c")
    so = os.path.join(w.dir, "shim.so")
    with open(src, "w") as f:
        f.write(SHIM)
    r = subprocess.run([cc, "-shared", "-fPIC", "-o", so, src, "-ldl"], capture_output=True,
                       text=True)
    if not ok(r.returncode == 0, "the fsync shim builds", diag=r.stderr):
        return
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    os.environ["LD_PRELOAD"] = so
    try:
        w.start()
    finally:
        del os.environ["LD_PRELOAD"]
    pg.create_ticket("its directory cannot be synced", "owner@example.com")
    new = os.path.join(maildir, "new")
    wait_for(lambda: os.listdir(new), 15)
    time.sleep(5)  # a retry (1 s) would have written it again meanwhile
    is_(len(os.listdir(new)), 1, "new/ holds the mail once", diag=lambda: w.log()[-2000:])
    is_(pg.value("SELECT status FROM wafa.outbox"), "sent", "and it is recorded as sent")
    w.stop()


run(main)
