#!/usr/bin/python3
"""How long `wafa test` takes as a test declares more tickets, with every
shipped example rule loaded (SLAs with calendars, promises, follow-ups,
offers): N tickets at once then 30 days, and N tickets a minute apart then
30 days.  Prints one JSON object: seconds (median of 3) and peak RSS.
  tests/bench/ruletest_speed.py [N ...]   (default 100 500 1000)"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get("WAFA_SRCDIR") or os.path.join(HERE, "..", ".."))
WAFA_BIN = os.environ.get("WAFA_BIN") or os.path.join(SRCDIR, "wafa")

AT_ONCE = '''
test "%(n)d tickets at once, 30 days" { rules = "all", function(t)
  t.at "2026-03-05 09:00"
  for i = 1, %(n)d do
    t.ticket { priority = (i %% 2 == 0) and "urgent" or "high", owner_email = "o" .. i .. "@example.com" }
  end
  t.wait "30d"
  t.check(#t.mails() > %(n)d, "mails: " .. #t.mails())
end }
'''

SPREAD = '''
test "%(n)d tickets a minute apart, 30 days" { rules = "all", function(t)
  t.at "2026-03-05 09:00"
  for i = 1, %(n)d do
    t.wait "1m"
    t.ticket { priority = (i %% 2 == 0) and "urgent" or "high", owner_email = "o" .. i .. "@example.com" }
  end
  t.wait "30d"
  t.check(#t.mails() > %(n)d, "mails: " .. #t.mails())
end }
'''


def run(conf, path):
    times = []
    for _ in range(3):
        start = time.monotonic()
        r = subprocess.run([WAFA_BIN, "test", "-c", conf, path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=600)
        times.append(time.monotonic() - start)
        if r.returncode != 0:
            sys.exit("wafa test failed:\n%s%s" % (r.stdout.decode(), r.stderr.decode()))
    return sorted(times)[1]


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 500, 1000]
    d = tempfile.mkdtemp(prefix="wafa-bench-ruletest-")
    conf = os.path.join(d, "wafa.conf")
    with open(conf, "w") as f:
        f.write("[database]\ndsn = host=/nonexistent dbname=none\n[rules]\ndir = %s\n"
                "[mail]\ntransport = maildir:%s/mail\nfrom = Support <support@example.com>\n"
                "templates = %s\n" % (os.path.join(SRCDIR, "rules", "examples"), d,
                                      os.path.join(SRCDIR, "rules", "templates")))
    out = {}
    for n in sizes:
        for name, text in (("at_once", AT_ONCE), ("minute_apart", SPREAD)):
            path = os.path.join(d, "%s_%d_test.lua" % (name, n))
            with open(path, "w") as f:
                f.write(text % {"n": n})
            out["%s_%d_s" % (name, n)] = round(run(conf, path), 2)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(out))


main()
