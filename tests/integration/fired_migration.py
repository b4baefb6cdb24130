#!/usr/bin/python3
"""Schema 5: the journal's step row is the firing's record and wafa.fired
goes.  An installation at schema 4 (wafa.fired beside the journal) is
upgraded by wafa setup: a firing with its step row keeps it, a firing that
only wafa.fired held (fired before the journal existed) comes over as a
step row of event 'fired', nothing fires again after the upgrade, and a
new firing writes two rows (its step row and its mail)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

# schema 5 back to schema 4's shape, with fired filled from the step rows
TO_V4 = """
SET search_path = wafa;
DROP INDEX journal_step;
DROP INDEX journal_transition;
ALTER TABLE journal ADD UNIQUE (ticket_id, rule, instance, event, step, at);
ALTER TABLE journal DROP CONSTRAINT journal_event_check;
ALTER TABLE journal ADD CONSTRAINT journal_event_check CHECK (event IN ('started', 'paused',
    'resumed', 'warn', 'breach', 'escalate', 'due', 'met', 'cancelled'));
CREATE TABLE fired (
    key       text PRIMARY KEY,
    ticket_id bigint NOT NULL,
    rule      text NOT NULL,
    phase     text NOT NULL,
    fired_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO fired (key, ticket_id, rule, phase, fired_at)
SELECT rule || '/' || ticket_id || '/' || step || '/' || instance, ticket_id, rule, step, fired_at
  FROM journal WHERE step <> '';
-- and the migrations after 5, undone (they run again on the upgrade)
ALTER TABLE outbox DROP COLUMN claimed_by;
DROP TABLE customer_ticket;
DROP INDEX journal_breach;
DROP TABLE rule_seen;
ALTER TABLE outbox DROP COLUMN failed_at;
ALTER TABLE status_log DROP COLUMN raw_status, DROP COLUMN paused_by;  -- 10
-- 11 (survey answers acted on):
ALTER TABLE survey DROP COLUMN owner_email, DROP COLUMN owner_name, DROP COLUMN queue;
DROP INDEX survey_answered;
DELETE FROM schema_version WHERE version >= 5;
"""


def main():
    require_wafa()
    plan(12)
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules={"fr.lua": breach_rule(target="1s")})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup", diag=show(r)):
        return
    a, _ = pg.create_ticket("old A", "a@example.com")
    b, _ = pg.create_ticket("old B", "b@example.com")
    w.start()
    wait_for(lambda: len(sink.messages()) >= 2, 20)
    w.stop()
    is_(len(sink.messages()), 2, "two breaches mailed under schema 5", diag=sink.summary)

    # the installation as schema 4 left it; B's firing only in fired
    pg.psql(TO_V4)
    pg.psql("DELETE FROM wafa.journal WHERE ticket_id = %d AND step <> ''" % b)
    r = w.setup()
    ok(r.returncode == 0 and "5" in r.stdout + r.stderr, "wafa setup upgrades schema 4",
       diag=show(r))
    is_(pg.value("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'wafa' "
                 "AND table_name = 'fired'"), "0", "wafa.fired is gone")
    is_(pg.psql("SELECT event, kind, step, fired_at IS NOT NULL FROM wafa.journal "
                "WHERE ticket_id = %d AND step <> ''" % a),
        [["breach", "sla", "breach", "t"]], "A's step row is as it was")
    is_(pg.psql("SELECT event, kind, step, detail FROM wafa.journal "
                "WHERE ticket_id = %d AND step <> ''" % b),
        [["fired", "sla", "breach", "carried over from wafa.fired (its event was not "
                                    "recorded)"]],
        "B's firing, held only by fired, came over as a step row of event 'fired'")

    # nothing fires again; a new ticket fires with two rows
    c, _ = pg.create_ticket("new C", "c@example.com")
    w.start()
    wait_for(lambda: len(sink.messages()) >= 3, 20)
    time.sleep(2)
    w.stop()
    is_(sorted(m.rcpt_tos[0] for m in sink.messages()),
        ["a@example.com", "b@example.com", "c@example.com"],
        "after the upgrade A and B do not fire again; C fires once", diag=sink.summary)
    is_(pg.value("SELECT count(*) FROM wafa.journal WHERE ticket_id = %d AND step <> ''" % c),
        "1", "C's firing: one step row")
    is_(pg.value("SELECT count(*) FROM wafa.outbox WHERE ticket_id = %d" % c), "1",
        "C's firing: one outbox row")
    r = w.command("report", "--from", "2000-01-01", "--to", "2100-01-01")
    is_(r.returncode, 0, "wafa report reads the upgraded journal", diag=show(r))
    r = w.setup()
    is_(r.returncode, 0, "wafa setup a second time changes nothing", diag=show(r))
    r = w.check()
    is_(r.returncode, 0, "wafa check", diag=show(r))


run(main)
