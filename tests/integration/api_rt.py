#!/usr/bin/python3
"""Ticket actions through the REAL Request Tracker 5's REST 2 API: RT's
database made by rt-setup-database-5 in the harness's PostgreSQL, RT's own
rt-server (Plack) on a loopback port run as an unprivileged user, a
least-privilege RT user (ModifyTicket, CommentOnTicket, ShowTicket, SeeQueue
on the queue) with an auth token made by RT's own RT::AuthToken.  `wafa api
--send` raises a ticket's priority and adds a comment; RT's database shows
both.  A user without ModifyTicket gets a permanent failure with RT's
reason, and the priority stays.  Skipped when RT is not installed."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from rt_rest import RtRest, RUN_AS  # noqa: E402


def main():
    require_wafa()
    why = RtRest.missing()
    if why:
        skip("wafa api against Request Tracker 5's REST 2", why)
        return
    t0 = time.monotonic()
    pg = Postgres(load_sample=False)
    rt = RtRest(pg)
    r = rt.setup_database()
    if not ok(r.returncode == 0, "rt-setup-database-5 makes RT's database",
              diag=lambda: r.stdout[-2000:] + r.stderr[-2000:]):
        return
    fx = rt.fixture()
    ok(True, "RT's Perl API makes the users, their rights, their auth tokens "
       "(RT::AuthToken) and a ticket")
    ticket = int(fx["ticket"])
    diag("RT ready in %.1f s" % (time.monotonic() - t0))
    if not ok(rt.start_server(), "rt-server (RT's Plack server) answers on %s, run as %s"
              % (rt.url, RUN_AS), diag=lambda: rt.server_log()[-3000:]):
        return
    diag("rt-server up in %.1f s" % (time.monotonic() - t0))

    rules = os.path.join(rt.dir, "rules.d")
    os.makedirs(rules)
    confs = {}
    for who in ("token", "weak_token"):
        base = offline_config(rt.dir, rules)
        confs[who] = os.path.join(rt.dir, "wafa-%s.conf" % who)
        os.rename(base, confs[who])
        with open(confs[who], "a") as f:
            f.write("[helpdesk]\nadapter = rt\nadapters = %s\n[api]\nurl = %s\n"
                    "token_file = %s\n" % (os.path.join(SRCDIR, "plugins", "adapters"), rt.url,
                                           rt.token_file(fx[who], who)))
    outputs = []

    def api(who, payload):
        r = cli(["api", "-c", confs[who], "--ticket", str(ticket), "--payload", json.dumps(payload),
                 "--send"], timeout=90)
        outputs.append(r.stdout + r.stderr)
        return r

    def priority():
        return rt.priority(ticket)

    # a user without ModifyTicket: refused, nothing changes
    r = api("weak_token", {"op": "fields", "priority": "urgent"})
    diag("RT to a user without ModifyTicket: " + r.stdout.strip().splitlines()[-1])
    ok(r.returncode == 76 and "Permission Denied" in r.stdout,
       "a user without ModifyTicket: a permanent failure (exit 76) with RT's reason",
       diag=lambda: show(r))
    is_(priority(), 0, "... and the priority stays 0")

    r = api("token", {"op": "fields", "priority": "urgent"})
    ok(r.returncode == 0 and "done: HTTP 200" in r.stdout,
       "wafa api --send: PUT /REST/2.0/ticket/ID through RT's REST 2 is done", diag=lambda: show(r))
    is_(priority(), 100, "RT's database: the ticket's priority is 100 (urgent)")
    r = api("token", {"op": "note", "text": "SLA breached: priority raised by wafa", "internal": True})
    ok(r.returncode == 0 and "done: HTTP 201" in r.stdout,
       "wafa api --send: an internal note is POST .../comment, done with 201", diag=lambda: show(r))
    notes = rt.comments(ticket)
    ok(len(notes) == 1 and "SLA breached: priority raised by wafa" in notes[0],
       "RT's database: one Comment by the wafa user with the note's text", diag=repr(notes))
    # a note marked with its outbox row's key, and the lookup that finds it
    key = "rt-breach/%d/breach/1796500000/3" % ticket

    def lookup(k):
        r = cli(["api", "-c", confs["token"], "--ticket", str(ticket), "--key", k, "--lookup",
                 "--payload", json.dumps({"op": "note", "text": "x"}), "--send"], timeout=90)
        outputs.append(r.stdout + r.stderr)
        return r
    r = lookup(key)
    ok(r.returncode == 1 and "not found" in r.stdout,
       "--lookup before the note is sent: not found (exit 1)", diag=lambda: show(r))
    r = cli(["api", "-c", confs["token"], "--ticket", str(ticket), "--key", key, "--payload",
             json.dumps({"op": "note", "text": "Marked note"}), "--send"], timeout=90)
    ok(r.returncode == 0 and '"Subject":"wafa %s"' % key in r.stdout,
       "a note with --key goes as JSON with the subject \"wafa KEY\", done", diag=lambda: show(r))
    notes = rt.comments(ticket)
    ok(len(notes) == 2 and "Marked note" in notes[-1], "RT has the marked note", diag=repr(notes))
    r = lookup(key)
    ok(r.returncode == 0 and "found" in r.stdout and "not found" not in r.stdout,
       "--lookup after it is sent: found (the user has ShowTicketComments)", diag=lambda: show(r))
    r = lookup(key + "9")
    ok(r.returncode == 1, "--lookup of another key: not found", diag=lambda: show(r))

    r = api("token", {"op": "fields", "status": "solved"})
    st = pg.value("SELECT status FROM tickets WHERE id = %d" % ticket, db="rt5")
    ok(r.returncode == 0 and st == "resolved", "status solved becomes RT's resolved",
       diag=lambda: show(r) + "\nstatus %r" % st)
    # RT answers 200 to these too, with its reason in the list of messages
    r = api("token", {"op": "fields", "owner": "no-such-user"})
    ok(r.returncode == 76 and "That user does not exist" in r.stdout,
       "an owner RT does not know: a permanent failure with RT's words, though RT said 200",
       diag=lambda: show(r))
    r = api("token", {"op": "fields", "owner": "wafa-weak"})
    ok(r.returncode == 76 and "may not own tickets" in r.stdout,
       "an owner without OwnTicket: a permanent failure with RT's words", diag=lambda: show(r))
    # a retry after a crash between RT's change and wafa's record of it
    r = api("token", {"op": "fields", "priority": "urgent"})
    ok(r.returncode == 0 and "done: HTTP 200" in r.stdout,
       "the same priority again (a retry after a crash): done, RT has nothing to change",
       diag=lambda: show(r))
    is_(priority(), 100, "... and the priority is still 100")
    leaked = [o for o in outputs if fx["token"] in o or fx["weak_token"] in o]
    ok(not leaked, "the RT tokens never appear in wafa's output", diag=lambda: "\n".join(leaked))
    rt.stop_server()
    diag("the RT API test took %.1f s" % (time.monotonic() - t0))


run(main)
