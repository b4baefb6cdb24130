#!/usr/bin/python3
"""Errors that say what to do: a misspelt section is one problem with a
guess; check parses the dsn; check names a template a rule asks for that
does not exist; a missing adapter does not list adapters that are not
there; a wrong user makes `wafa run` say once, on one line, that it cannot
connect (host, port, user, `wafa doctor`), then back off quietly."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

TEMPLATED = dedent('''
    followup "csat" {
      since = "solved_at", after = "1h",
      on_due = function(t, s)
        mail { to = t.customer_email, template = "csat" }
        mail { to = t.customer_email, template = "cast" }
      end,
    }
''')


def main():
    require_wafa()
    plan(14)
    pg = Postgres()
    w = Wafa(pg, "smtp://127.0.0.1:%d" % free_port(), rules={"r.lua": breach_rule()})
    good = w.config_text()

    # [mial]: one problem, with the section it probably means
    w.write_config(good.replace("[mail]", "[mial]"))
    r = w.check()
    problems = [l for l in r.stderr.splitlines() if l.startswith(w.conf_path)]
    is_(r.returncode, 78, "[mial]: exit 78", diag=show(r))
    ok(len(problems) == 1 and "[mial]" in problems[0] and "did you mean [mail]" in problems[0],
       "[mial]: one problem (not one per key, nor [mail]'s keys as missing), guessing [mail]",
       diag=show(r))

    # the dsn is parsed
    w.write_config(good.replace("dsn = ", "dsn = host=/tmp dbname ", 1))
    r = w.check()
    ok(r.returncode == 78 and "[database] dsn" in r.stderr and "dbname" in r.stderr,
       "a dsn libpq cannot parse: exit 78 naming [database] dsn", diag=show(r))

    # a rule names a template that does not exist
    tdir = os.path.join(w.dir, "templates")
    os.makedirs(os.path.join(tdir, "en"))
    with open(os.path.join(tdir, "en", "csat.md"), "w") as f:
        f.write("Subject: How did we do?\n\nThanks.\n")
    w.write_rule("csat.lua", TEMPLATED)
    w.write_config(good.replace("[mail]\n", "[mail]\ntemplates = %s\n" % tdir))
    r = w.check()
    rule = os.path.join(w.rules_dir, "csat.lua")
    ok(r.returncode == 65 and re.search(re.escape(rule) + r':5: template "cast" does not exist',
                                        r.stderr), "check names the missing template at "
       "csat.lua:5", diag=show(r))
    ok('"csat"' not in r.stderr, "and not the one that exists", diag=show(r))
    w.write_config(good)
    r = w.check()
    ok(r.returncode == 65 and "[mail] templates is not set" in r.stderr,
       "a rule names templates but [mail] templates is not set: said", diag=show(r))
    os.unlink(rule)

    # a missing adapter: no contradiction
    w.write_config(good.replace("adapter = generic", "adapter = zammad\nadapters = /nonexistent/ad"))
    r = w.check()
    ok(r.returncode == 78 and "/nonexistent/ad does not exist" in r.stderr
       and "--prefix" in r.stderr, "adapters folder missing: said, with the likely cause",
       diag=show(r))
    adir = os.path.join(w.dir, "adapters")
    os.makedirs(os.path.join(adir, "rt"))
    open(os.path.join(adir, "rt", "install.sql"), "w").close()
    w.write_config(good.replace("adapter = generic", "adapter = zammad\nadapters = %s" % adir))
    r = w.check()
    ok(r.returncode == 78 and "it holds: generic, rt;" in r.stderr and "zammad, " not in r.stderr,
       "no zammad in the folder: it lists what the folder holds", diag=show(r))

    # a wrong user: said once, on one line, then quiet
    w.write_config(good.replace("dsn = " + pg.dsn, "dsn = " + pg.dsn + " user=nosuch"))
    r = w.check()
    is_(r.returncode, 0, "(check connects to nothing: the config is valid)", diag=show(r))
    w.start(wait_ready=False)
    time.sleep(4)
    log = w.log(current=True)
    w.kill()
    said = [l for l in log.splitlines() if "cannot connect" in l]
    ok(len(said) == 1, "cannot connect is said once for the four connections and their retries",
       diag=log)
    ok(said and "user=nosuch" in said[0] and "port=" in said[0] and "host=" in said[0]
       and "wafa doctor" in said[0], "with the dsn's host, port and user and `wafa doctor`",
       diag=log)
    ok(said and 'role "nosuch" does not exist' in said[0], "and libpq's reason", diag=log)
    ok("connection lost" not in log and "reconnecting" not in log,
       "no 'connection lost' or 'reconnecting' for a connection that never was", diag=log)
    stray = [l for l in log.splitlines()
             if l.strip() and not re.match(r"(\d{4}-\d\d-\d\dT|---- wafa run)", l)]
    ok(not stray, "every log line is a whole line (libpq's text does not spill)", diag=repr(stray))


run(main)
