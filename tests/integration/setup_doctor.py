#!/usr/bin/python3
"""wafa setup with an adapter: installs its view and triggers (and again,
harmlessly), --dry-run prints the SQL and changes nothing, --uninstall
removes the triggers and view and keeps wafa's records, --purge drops them;
wafa doctor on a healthy and on a broken installation."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

# A small adapter over the sample helpdesk, in the shape plugins/adapters/README.md asks.
INSTALL = '''
CREATE OR REPLACE VIEW @SCHEMA@.tickets AS SELECT * FROM public.wafa_tickets;
CREATE OR REPLACE FUNCTION @SCHEMA@.notify_tiny() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(@CHANNEL@, (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)::text);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS wafa_notify ON public.tickets;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.tickets
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_tiny();
'''
UNINSTALL = '''
DROP TRIGGER IF EXISTS wafa_notify ON public.tickets;
DROP FUNCTION IF EXISTS @SCHEMA@.notify_tiny();
DROP VIEW IF EXISTS @SCHEMA@.tickets;
'''
DOCTOR = "SELECT 'own escalation mail is off', true, NULL::text"


def main():
    require_wafa()
    plan(16)
    adapters = tempfile.mkdtemp(prefix="wafa-adapters-", dir="/tmp")
    import atexit
    atexit.register(lambda: shutil.rmtree(adapters, ignore_errors=True))
    os.makedirs(os.path.join(adapters, "tiny"))
    for name, text in (("install", INSTALL), ("uninstall", UNINSTALL), ("doctor", DOCTOR)):
        with open(os.path.join(adapters, "tiny", name + ".sql"), "w") as f:
            f.write(text)
    pg = Postgres()
    pg.psql("DROP TRIGGER wafa_notify_ticket ON tickets")  # the adapter brings its own
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"fr.lua": breach_rule(target="1s")},
             conf={"helpdesk.adapter": "tiny", "helpdesk.adapters": adapters,
                   "helpdesk.view": None})
    r = w.command("setup", "--dry-run")
    ok(r.returncode == 0 and "CREATE OR REPLACE VIEW \"wafa\".tickets" in r.stdout
       and "pg_notify('wafa_ticket'" in r.stdout, "--dry-run prints the adapter's SQL, filled in",
       diag=show(r))
    is_(pg.value("SELECT to_regclass('wafa.tickets') IS NULL"), "t", "and changes nothing")
    r = w.setup()
    ok(r.returncode == 0 and "adapter tiny: install.sql applied" in r.stderr, "setup installs it",
       diag=show(r))
    r = w.setup()
    ok(r.returncode == 0, "setup again is harmless", diag=show(r))
    is_(pg.value("SELECT count(*) FROM pg_trigger WHERE tgname = 'wafa_notify'"), "1",
        "one trigger, not two")
    pg.create_ticket("one", "owner@example.com")
    r = w.command("doctor")
    ok(r.returncode == 0 and "wafa doctor: all is well" in r.stdout and
       "wafa.tickets returns 1 ticket(s)" in r.stdout and
       "ok   tiny          own escalation mail is off" in r.stdout,
       "doctor on a healthy installation: every line ok, exit 0", diag=show(r))
    diag("wafa doctor, healthy:\n" + r.stdout)
    w.start()
    tid, created = pg.create_ticket("through the adapter", "a@example.com")
    got = wait_for(lambda: sink.messages_to("a@example.com"), 10)
    ok(got, "the adapter's view and trigger carry a ticket to a breach mail",
       diag=lambda: w.log()[-2000:])
    w.stop()

    # broken: trigger gone, a reply before the creation, the SMTP server down
    pg.psql("DROP TRIGGER wafa_notify ON public.tickets")
    pg.psql("ALTER TABLE tickets DISABLE TRIGGER tickets_touch; "
            "UPDATE tickets SET first_reply_at = created_at - interval '1 hour' WHERE id = %d; "
            "ALTER TABLE tickets ENABLE TRIGGER tickets_touch" % tid)
    sink.stop()
    r = w.command("doctor")
    ok(r.returncode != 0 and "wafa doctor: some checks failed" in r.stdout,
       "doctor on a broken installation exits non-zero", diag=show(r))
    ok("FAIL triggers      0 wafa_notify trigger(s) on the helpdesk's tables: run `wafa setup`"
       in r.stdout, "and says the triggers are gone", diag=r.stdout)
    ok("FAIL sanity        1 of the newest 2 answered before they were created" in r.stdout,
       "and that a ticket was answered before it was created", diag=r.stdout)
    ok(re.search(r"FAIL mail +SMTP server 127\.0\.0\.1:\d+ cannot be reached", r.stdout),
       "and that the SMTP server cannot be reached", diag=r.stdout)
    diag("wafa doctor, broken:\n" + r.stdout)

    r = w.command("setup", "--uninstall")
    ok(r.returncode == 0 and "records in schema wafa are kept" in r.stderr, "--uninstall",
       diag=show(r))
    is_(pg.value("SELECT to_regclass('wafa.tickets') IS NULL"), "t", "removes the view")
    is_(pg.value("SELECT count(*) > 0 FROM wafa.outbox"), "t", "and keeps wafa's records")
    r = w.command("setup", "--uninstall", "--purge")
    ok(r.returncode == 0, "--uninstall --purge", diag=show(r))
    is_(pg.value("SELECT to_regnamespace('wafa') IS NULL"), "t", "drops wafa's schema")


import re  # noqa: E402
run(main)
