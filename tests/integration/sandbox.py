#!/usr/bin/python3
"""Rules are untrusted code: an endless loop, a memory bomb, a loop hidden
behind pcall or in an xpcall handler or a __gc finalizer, and an error are
each stopped and logged with rule=NAME ticket=ID, the other rules still
run, and the daemon goes on serving.  The sandbox has no io, os, require,
load, dofile, loadfile, loadstring or debug."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def sla(name, on_breach, when=None, target="2s"):
    when_line = "  when = %s,\n" % when if when else ""
    return ('sla "%s" {\n  start = "created_at",\n  stop = "first_reply_at",\n'
            '  target = "%s",\n%s  on_breach = %s,\n}\n') % (name, target, when_line, on_breach)


GLOBALS = ('tostring(io) .. tostring(os) .. tostring(require) .. tostring(load) .. '
           'tostring(debug)')
MORE_GLOBALS = 'tostring(dofile) .. tostring(loadfile) .. tostring(loadstring)'

RULES = {
    "10-spin.lua": sla("spin", "function(t, s) while true do end end"),
    "20-bomb.lua": sla("bomb", "function(t, s)\n"
                       "    local t = {}\n"
                       "    while true do t[#t + 1] = string.rep(\"x\", 1e6) end\n"
                       "  end"),
    "30-pcall.lua": sla("pcall-spin", "function(t, s)\n"
                        "    while true do pcall(function() while true do end end) end\n"
                        "  end"),
    "35-raise.lua": sla("raise", 'function(t, s) error("boom from a rule") end'),
    "36-when-spin.lua": sla("when-spin",
                            'function(t, s) mail { to = "never@example.com", subject = "x", '
                            'body = "x" } end',
                            when="function(t) while true do end end"),
    "40-globals.lua": 'local seen = "when() not called"\n' + sla(
        "globals",
        'function(t, s)\n'
        '    mail { to = "globals@example.com", body = "x",\n'
        '           subject = "when:" .. seen .. " breach:" .. %s .. %s }\n'
        '  end' % (GLOBALS, MORE_GLOBALS),
        when="function(t) seen = %s; return true end" % GLOBALS),
    "50-good.lua": sla("good", 'function(t, s) mail { to = "good@example.com", '
                       'subject = "good #" .. t.ref, body = "x" } end'),
}

RULES2 = {
    "10-xpcall.lua": sla("xpcall-handler", "function(t, s)\n"
                         "    xpcall(function() error(\"x\") end, function(m) while true do end end)\n"
                         "  end"),
    "20-gc.lua": sla("gc-spin", "function(t, s)\n"
                     "    setmetatable({}, { __gc = function() while true do end end })\n"
                     "    if collectgarbage then collectgarbage() end\n"
                     "    for i = 1, 200000 do local x = { i } end\n"
                     "  end"),
    "50-good.lua": sla("good2", 'function(t, s) mail { to = "good2@example.com", '
                       'subject = "good2 #" .. t.ref, body = "x" } end'),
}

# Issue 17's attacks under `wafa run`: a finalizer through the rule library's
# shared metatable, a backtracking pattern on a long customer subject, a
# forged log line; and (RULES4) a when() that fills the memory cap.
RULES3 = {
    "10-finalizer.lua": "local mt = getmetatable(after '1h' (function() end))\n"
                        "if type(mt) == 'table' then mt.__gc = function() while true do end end end\n"
                        + sla("finalizer", "function(t, s)\n"
                              "    for i = 1, 100000 do local x = after '1h' (function() end) end\n"
                              "  end"),
    "20-pattern.lua": sla("pattern", "function(t, s) if t.subject:find('a*b') then "
                          "mail { to = 'never@example.com', subject = 'b', body = 'x' } end end"),
    "30-print.lua": sla("print", "function(t, s)\n"
                        "    print('x\\n2026-01-01T00:00:00.000Z error daemon: FORGED by a rule')\n"
                        "  end"),
    "50-good.lua": sla("good3", 'function(t, s) mail { to = "good3@example.com", '
                       'subject = "good3 #" .. t.ref, body = "x" } end'),
}

RULES4 = {
    "10-hog.lua": "local cache = {}\n" + sla(
        "hog", 'function(t, s) mail { to = "never@example.com", subject = "x", body = "x" } end',
        when="function(t)\n"
             "    pcall(function() while true do cache[#cache + 1] = ('x'):rep(1000) .. #cache end end)\n"
             "    return true\n  end"),
}


def logged(w, rule, tid, words, timeout=3):
    """The log lines with rule=RULE ticket=TID that contain one of words."""
    pat = re.compile(r"(?<![\w-])rule=%s ticket=%d\b" % (re.escape(rule), tid))

    def find():
        return [l for l in w.log().splitlines()
                if pat.search(l) and any(x in l.lower() for x in words)]
    return wait_for(find, timeout)


def mail_for(sink, addr, tid):
    return [m for m in sink.messages_to(addr) if str(m["subject"]).endswith("#%d" % tid)]


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules=RULES)
    r = w.check()
    is_(r.returncode, 0, "wafa check accepts the (syntactically fine) hostile rules", diag=show(r))
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    w.start()

    t1, c1 = pg.create_ticket("First victim", "owner@example.com")
    got = wait_for(lambda: mail_for(sink, "good@example.com", t1), c1 + 2 + 10 - time.time())
    ok(got, "the good rule's mail arrives for ticket 1", diag=lambda: sink.summary() + "\n" + w.log())
    alive = ok(w.running, "wafa is still running after the hostile rules", diag=w.log)
    wait = 3 if got else 0  # a hung daemon logs nothing more: do not wait for it

    for rule, words, what in (("spin", ["budget"], "an endless loop"),
                              ("bomb", ["memory"], "a memory bomb"),
                              ("pcall-spin", ["budget"], "a loop inside pcall"),
                              ("raise", ["boom from a rule"], "an error"),
                              ("when-spin", ["budget"], "an endless loop in when()")):
        ok(logged(w, rule, t1, words, wait),
           "%s is logged with rule=%s ticket=%d and %s" % (what, rule, t1, " or ".join(words)),
           diag=lambda: w.log()[-4000:])
    is_(sink.messages_to("never@example.com"), [], "a rule whose when() fails does not fire")

    got = wait_for(lambda: sink.messages_to("globals@example.com"), wait)
    ok(got, "the globals rule mails", diag=sink.summary)
    if got:
        is_(str(got[0]["subject"]), "when:nilnilnilnilnil breach:nilnilnilnilnilnilnilnil",
            "io, os, require, load, debug, dofile, loadfile, loadstring are nil")

    # the daemon still serves: a ticket created now gets the good rule's mail
    t2, c2 = pg.create_ticket("Second ticket", "owner@example.com")
    got = wait_for(lambda: mail_for(sink, "good@example.com", t2),
                   c2 + 2 + 8 - time.time() if alive else 0)
    ok(got, "the good rule's mail arrives for a ticket created afterwards",
       diag=lambda: sink.summary() + "\n" + w.log()[-4000:])
    if got:
        late = got[0].received - (c2 + 2)
        ok(late <= 3.0, "and within 3 s despite the hostile rules",
           diag="%.3f s after the deadline" % late)
    ok(logged(w, "spin", t2, ["budget"], 3 if got else 0),
       "the endless loop is stopped again for ticket 2",
       diag=lambda: w.log()[-4000:])
    w.stop_ok()

    # Loops where Lua turns hooks off: an xpcall message handler, a finalizer.
    w2 = Wafa(pg, sink.url, rules=RULES2)
    w2.start()
    t3, c3 = pg.create_ticket("Third ticket", "owner@example.com")
    got = wait_for(lambda: mail_for(sink, "good2@example.com", t3), c3 + 2 + 8 - time.time())
    ok(got, "a loop in an xpcall handler or a __gc finalizer does not stop other rules",
       diag=lambda: sink.summary() + "\n" + w2.log()[-4000:])
    t4, c4 = pg.create_ticket("Fourth ticket", "owner@example.com")
    got = wait_for(lambda: mail_for(sink, "good2@example.com", t4),
                   c4 + 2 + 8 - time.time() if got else 0)
    ok(got, "and the daemon goes on serving afterwards",
       diag=lambda: sink.summary() + "\n" + w2.log()[-4000:])
    ok(logged(w2, "xpcall-handler", t3, ["budget"], 3 if got else 0),
       "the xpcall handler loop is logged with rule=xpcall-handler ticket=%d and budget" % t3,
       diag=lambda: w2.log()[-4000:])
    w2.stop_ok()

    w3 = Wafa(pg, sink.url, rules=RULES3)
    w3.start()
    t5, c5 = pg.create_ticket("a" * 300000, "owner@example.com")
    got = wait_for(lambda: mail_for(sink, "good3@example.com", t5), c5 + 2 + 10 - time.time())
    ok(got and w3.running, "a __gc set on the library's metatable, a pattern that backtracks over "
       "a 300 KB subject and a forged log line do not stop other rules",
       diag=lambda: sink.summary() + "\n" + w3.log()[-4000:])
    ok(logged(w3, "pattern", t5, ["budget"], 3 if got else 0),
       "the pattern is stopped by the budget, logged with rule=pattern ticket=%d" % t5,
       diag=lambda: w3.log()[-4000:])
    lines = w3.log().splitlines()
    ok(any("FORGED" in l for l in lines) and
       not any(l.startswith("2026-01-01T00:00:00.000Z") for l in lines),
       "a rule's print() with a newline cannot forge a log line", diag=lambda: w3.log()[-3000:])
    w3.stop_ok("wafa run (issue 17's attacks) exits 0 within 10 s of SIGTERM")

    w4 = Wafa(pg, sink.url, rules=RULES4, conf={"rules.memory": "8M"})
    w4.start()
    t6, _ = pg.create_ticket("Sixth ticket", "owner@example.com")
    t7, _ = pg.create_ticket("Seventh ticket " + "x" * 100000, "owner@example.com")
    ok(logged(w4, "hog", t7, ["memory"], 15),
       "a when() that fills the memory cap is stopped and logged, ticket after ticket",
       diag=lambda: w4.log()[-4000:])
    time.sleep(1)
    ok(w4.running, "and the daemon is still running (no abort)", diag=lambda: w4.log()[-4000:])
    w4.stop_ok("wafa run (the memory hog) exits 0 within 10 s of SIGTERM")


run(main)
