#!/usr/bin/python3
"""The command line: --version, --help, exit codes (sysexits), config errors
reported as FILE:LINE:, setup idempotent, check on a good setup."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def with_line(text, after, new_line):
    """text with new_line inserted after the line equal to after; returns
    (new text, 1-based number of the new line)."""
    lines = text.split("\n")
    i = lines.index(after)
    lines.insert(i + 1, new_line)
    return "\n".join(lines), i + 2


def replace_line(text, prefix, new_line):
    lines = text.split("\n")
    i = next(n for n, l in enumerate(lines) if l.startswith(prefix))
    lines[i] = new_line
    return "\n".join(lines), i + 1


def main():
    require_wafa()

    r = cli(["--version"])
    ok(r.returncode == 0 and r.stdout.strip() == "wafa 0.1.0", "--version prints wafa 0.1.0",
       diag=show(r))
    r = cli(["--help"])
    ok(r.returncode == 0 and "usage" in r.stdout.lower(), "--help prints usage, exit 0",
       diag=show(r))
    r = cli(["--no-such-option"])
    is_(r.returncode, 64, "an unknown option exits 64", diag=show(r))
    ok("no-such-option" in r.stderr, "and says which option on stderr", diag=show(r))

    missing = "/nonexistent-wafa-dir/wafa.conf"
    r = cli(["check", "-c", missing])
    is_(r.returncode, 66, "a missing config file exits 66", diag=show(r))
    ok(missing in r.stderr, "and names the file", diag=show(r))

    pg = Postgres()
    w = Wafa(pg, "smtp://127.0.0.1:%d" % free_port(),
             rules={"first-response.lua": breach_rule()})
    good = w.config_text()

    def bad_config(text, name, code=78, line=None, also=None):
        w.write_config(text)
        r = w.check()
        is_(r.returncode, code, "%s: exit %d" % (name, code), diag=show(r))
        if line is not None:
            ok("%s:%d:" % (w.conf_path, line) in r.stderr, "%s: reported as FILE:%d:" % (name, line),
               diag=show(r) + "\nconfig:\n" + text)
        if also:
            ok(re.search(also, r.stderr), "%s: message mentions %s" % (name, also), diag=show(r))
        return r

    text, n = with_line(good, "[mail]", "colour = blue")
    bad_config(text, "an unknown key", line=n, also="colour")
    text, n = replace_line(good, "starttls =", "starttls = maybe")
    bad_config(text, "starttls = maybe", line=n, also="starttls")
    text, n = replace_line(good, "reconcile_interval =", "reconcile_interval = 30x")
    bad_config(text, "a duration with an unknown unit", line=n, also="unit")
    text = good + "\n[extras]\nfoo = bar\n"
    w.write_config(text)
    r = w.check()
    is_(r.returncode, 78, "an unknown section: exit 78", diag=show(r))
    ok(re.search(re.escape(w.conf_path) + r":\d+:.*extras", r.stderr),
       "an unknown section is reported as FILE:LINE: with its name", diag=show(r))
    text, n = replace_line(good, "level =", "level = chatty")
    bad_config(text, "level = chatty", line=n)

    w.write_config(good)
    r = w.check()
    is_(r.returncode, 0, "wafa check on a good config and rules exits 0", diag=show(r))

    # run before setup: refuses, and says to run setup
    pg.psql("CREATE DATABASE fresh", db="postgres")
    w2 = Wafa(pg, "smtp://127.0.0.1:%d" % free_port(), rules={"first-response.lua": breach_rule()},
              conf={"database.dsn": pg.dsn_for("fresh")})
    pg.psql_file(os.path.join(SRCDIR, "plugins", "adapters", "generic", "sample-helpdesk.sql"),
                 db="fresh")
    w2.start(wait_ready=False)
    exited = wait_for(lambda: not w2.running, 10)
    code = w2.proc.returncode if exited else None
    w2.kill()
    ok(code not in (0, None), "wafa run before wafa setup exits non-zero by itself",
       diag=lambda: "exit %r (None: still running after 10 s)\n%s" % (code, w2.log()))
    ok("setup" in w2.log(), "and says to run setup", diag=w2.log)

    r = w.setup()
    is_(r.returncode, 0, "wafa setup exits 0", diag=show(r))
    tables = pg.psql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'wafa' "
                     "AND table_name IN ('outbox', 'journal', 'fired') ORDER BY 1")
    is_(tables, [["journal"], ["outbox"]], "setup created wafa.outbox and wafa.journal (no "
        "wafa.fired: a journal step row records a firing)")
    r = w.setup()
    is_(r.returncode, 0, "wafa setup a second time exits 0", diag=show(r))
    r = w.check()
    is_(r.returncode, 0, "wafa check after setup exits 0", diag=show(r))

    cols = pg.psql("SELECT column_name FROM information_schema.columns WHERE table_schema = 'wafa' "
                   "AND table_name = 'outbox'")
    have = {c[0] for c in cols}
    need = {"id", "key", "ticket_id", "rule", "phase", "rcpt", "subject", "body", "status",
            "attempts", "last_error", "created_at", "sent_at"}
    ok(need <= have, "wafa.outbox has the documented columns", diag="missing: %r" % (need - have))


run(main)
