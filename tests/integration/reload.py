#!/usr/bin/python3
"""SIGHUP reloads the rule files: a changed target applies to tickets already
open, a broken file is reported and disabled alone, and what has fired does
not fire again."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"a.lua": breach_rule(target="1h")})
    ok(w.setup().returncode == 0, "wafa setup exits 0")
    w.start()
    tid, created = pg.create_ticket("Open before the reload", "r@example.com")
    time.sleep(1.5)
    is_(len(sink.messages()), 0, "no mail under the 1 h target")

    w.write_rule("a.lua", breach_rule(target="1s"))
    w.write_rule("b.lua", "sla \"broken\" {\n")
    w.proc.send_signal(signal.SIGHUP)
    got = wait_for(lambda: sink.messages_to("r@example.com"), 5)
    ok(got, "after SIGHUP the 1 s target applies to the open ticket",
       diag=lambda: w.log(current=True))
    ok(w.log_lines("b.lua:", "file disabled"), "the broken file is reported and disabled",
       diag=lambda: w.log(current=True))
    ok(w.running, "wafa is still running")

    w.settings["log"]["level"] = "debug"
    w.settings["mail"]["transport"] = "maildir:/tmp/nowhere"
    w.write_config()
    w.proc.send_signal(signal.SIGHUP)
    time.sleep(2)
    ok(w.log_lines("[log] level reloaded"), "the log level is reloaded",
       diag=lambda: w.log(current=True))
    ok(w.log_lines("[mail] transport changed: restart wafa to apply it"),
       "a key that needs a restart says so", diag=lambda: w.log(current=True))
    is_(len(sink.messages_to("r@example.com")), 1, "a second reload does not send it again",
        diag=sink.summary)
    is_(len(w.log_lines("SIGHUP: reloading")), 2, "both reloads are logged")
    w.stop_ok()


run(main)
