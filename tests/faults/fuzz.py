#!/usr/bin/python3
"""The libFuzzer targets (tests/fuzz: config, rules, rows) for a short fixed
time each, built with AddressSanitizer and UndefinedBehaviorSanitizer by
tests/fuzz/run: one test point per target, failing on a crash, a leak, a
timeout or a sanitizer report (the input is kept in tests/fuzz/crashes/).

    WAFA_FUZZ_SECONDS=N  seconds per target (default 25)
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

SECONDS = int(os.environ.get("WAFA_FUZZ_SECONDS") or 25)
TARGETS = ("config", "rules", "rows")


def have_libfuzzer():
    """clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev)."""
    if not shutil.which("clang"):
        return "clang is not installed (scripts/deps installs it)"
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "libclang-rt-14-dev"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if b"install ok installed" not in r.stdout:
        return "libclang-rt-14-dev (libFuzzer) is not installed (scripts/deps installs it)"
    return None


def main():
    plan(len(TARGETS))
    why = have_libfuzzer()
    if why:
        for t in TARGETS:
            skip("fuzz_%s" % t, why)
        return
    if not os.path.exists(os.path.join(SRCDIR, ".git")):
        for t in TARGETS:
            skip("fuzz_%s" % t, "tests/fuzz/run copies the git tree; this is not one")
        return
    started = time.time()
    # its own make, not a sub-make of `make faults`
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    r = subprocess.run(["sh", os.path.join(SRCDIR, "tests", "fuzz", "run"), str(SECONDS)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=900, env=env)
    out = r.stdout.decode("utf-8", errors="replace")
    diag("tests/fuzz/run %d: exit %d after %.0f s" % (SECONDS, r.returncode, time.time() - started))
    for t in TARGETS:
        m = re.search(r"^fuzz_%s: (ok|FAILED.*)$" % t, out, re.M)
        runs = re.search(r"^fuzz_%s: .*?stat::number_of_executed_units: *(\d+)" % t, out,
                         re.M | re.S)
        units = re.search(r"^fuzz_%s: .*?stat::new_units_added: *(\d+)" % t, out, re.M | re.S)
        if runs:
            diag("fuzz_%s: %s runs in %d s, %s new inputs" % (
                t, runs.group(1), SECONDS, units.group(1) if units else "?"))
        ok(m and m.group(1) == "ok", "fuzz_%s runs %d s under ASan+UBSan with no crash" % (t, SECONDS),
           diag=lambda: out[-6000:])


run(main)
