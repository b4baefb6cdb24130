#!/usr/bin/python3
"""wafa run asks glibc for transparent huge pages (core/base/hugepage.c): it
executes itself once more with glibc.malloc.hugetlb=1 in GLIBC_TUNABLES, on
the same pid and under the same name, keeping any other tunable the admin
set; an admin who set glibc.malloc.hugetlb (to 0 or 1) keeps that.  With the
kernel's transparent huge pages at "madvise" or "always", the tickets'
memory of a snapshot of 20,000 tickets lies in 2 MB pages; with the
tunable at 0 and the kernel at "madvise", in none.  The daemon so started
does its job: a breach mail arrives."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULES = {
    "breach.lua": r'''
sla "first" {
  start = "created_at", stop = "first_reply_at", target = "2s",
  when = function(t) return t.subject:sub(1, 3) == "hp " end,
  on_breach = function(t, s) mail { to = "lead@example.com", subject = "late " .. t.subject } end,
}
''',
}


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        pairs = [p.split(b"=", 1) for p in f.read().split(b"\0") if b"=" in p]
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def huge_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    return 0


def thp_mode():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
        return text[text.index("[") + 1:text.index("]")]
    except (OSError, ValueError):
        return "never"


def asan():
    """Built with AddressSanitizer: its allocator, not glibc's, holds the memory."""
    with open(WAFA_BIN, "rb") as f:
        return b"__asan_init" in f.read()


def no_huge(mode):
    """Why huge pages cannot be looked for here, or None."""
    if asan():
        return "built with AddressSanitizer, whose allocator is not glibc's malloc"
    if mode == "never":
        return "the kernel's transparent_hugepage is \"never\" on this machine"
    return None


def run_with(w, tunables):
    """Starts wafa with GLIBC_TUNABLES set to tunables (None: unset)."""
    saved = os.environ.pop("GLIBC_TUNABLES", None)
    if tunables is not None:
        os.environ["GLIBC_TUNABLES"] = tunables
    try:
        w.start()
    finally:
        os.environ.pop("GLIBC_TUNABLES", None)
        if saved is not None:
            os.environ["GLIBC_TUNABLES"] = saved
    wait_for(lambda: "snapshot:" in w.log(current=True), 20)
    return w.proc.pid


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules=RULES)
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    pg.seed_quiet(20000, "quiet")
    mode = thp_mode()

    # shipped: nothing set
    pid = run_with(w, None)
    env = environ(pid)
    is_(env.get("GLIBC_TUNABLES"), "glibc.malloc.hugetlb=1",
        "wafa run, started without GLIBC_TUNABLES, runs with glibc.malloc.hugetlb=1")
    is_(comm(pid), os.path.basename(WAFA_BIN)[:15],
        "on the pid it was started as, under its own name (not \"exe\")")
    ok(" run " in " ".join(open("/proc/%d/cmdline" % pid).read().split("\0")) + " ",
       "with the arguments it was given")
    if no_huge(mode):
        skip("its snapshot's memory lies in huge pages", no_huge(mode))
    else:
        kib = huge_kib(pid)
        ok(kib >= 2048, "its snapshot's memory lies in huge pages (kernel: %s)" % mode,
           diag="AnonHugePages %d kB" % kib)
    pg.create_ticket("hp 1", "owner@example.com")
    ok(wait_for(lambda: any("late hp 1" in str(m["subject"]) for m in sink.messages()), 20),
       "the daemon so started sends a breach mail", diag=sink.summary)
    w.stop()

    # the admin's other tunables stay, hugetlb is added (glibc rewrites the
    # variable in place as it reads it, so /proc's copy shows only the first:
    # the huge pages tell that the second took)
    pid = run_with(w, "glibc.malloc.tcache_count=5")
    ok((environ(pid).get("GLIBC_TUNABLES") or "").startswith("glibc.malloc.tcache_count=5"),
       "another tunable the admin set is kept", diag=environ(pid).get("GLIBC_TUNABLES"))
    if no_huge(mode):
        skip("and hugetlb=1 is added beside it", no_huge(mode))
    else:
        kib = huge_kib(pid)
        ok(kib >= 2048, "and hugetlb=1 is added beside it: the memory lies in huge pages",
           diag="AnonHugePages %d kB" % kib)
    w.stop()

    # the admin's own choice of hugetlb stands
    pid = run_with(w, "glibc.malloc.hugetlb=0")
    is_(environ(pid).get("GLIBC_TUNABLES"), "glibc.malloc.hugetlb=0",
        "GLIBC_TUNABLES=glibc.malloc.hugetlb=0 is left as the admin set it")
    if no_huge(mode) or mode != "madvise":
        skip("and then no memory lies in huge pages", no_huge(mode) or
             "the kernel's transparent_hugepage is \"%s\", not \"madvise\"" % mode)
    else:
        is_(huge_kib(pid), 0, "and then no memory lies in huge pages (kernel: madvise)")
    w.stop()


run(main)
