#!/usr/bin/python3
"""systemd's watchdog (issue 17, 4): under a NOTIFY_SOCKET with WATCHDOG_USEC,
`wafa run` says READY=1, pings WATCHDOG=1 at half the interval while its loop
runs, stops pinging while the loop is held (a rule spinning through a long
budget here), and on the watchdog's SIGABRT logs which rule and ticket the
loop was in; STOPPING=1 on SIGTERM.  The socket is a datagram socket of the
test's, as systemd's would be."""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

RULES = {"spin.lua": '''
sla "spin" {
  start = "created_at", stop = "first_reply_at", target = "2s",
  on_breach = function(t, s) print("spinning") while true do end end,
}
'''}


class Listener:
    """Collects the datagrams sent to a unix socket, with when they came."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.got = []
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.got.append((time.time(), data.decode(errors="replace")))

    def stop(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()

    def times(self, what):
        return [t for t, d in self.got if d == what]


def main():
    require_wafa()
    pg = Postgres()
    sink = SmtpSink()
    w = Wafa(pg, sink.url, rules=RULES, conf={"rules.budget": "3s"})
    r = w.setup()
    if not ok(r.returncode == 0, "wafa setup exits 0", diag=show(r)):
        return
    path = os.path.join(pg.sockdir, "notify")
    state = os.path.join(pg.sockdir, "state")
    os.makedirs(state)
    hangs = os.path.join(state, "watchdog-hangs")
    lis = Listener(path)

    def start_under_systemd(wait_ready=True):
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000",  # a ping every 200 ms
               "STATE_DIRECTORY": state}
        os.environ.update(env)
        try:
            w.start(wait_ready=wait_ready)
        finally:
            for k in env:
                del os.environ[k]

    def abort_in_spin(timeout):
        """Waits for the rule to spin, then sends the watchdog's SIGABRT."""
        spun = wait_for(lambda: "print: spinning" in w.log(current=True), timeout, 0.02)
        start = time.time() + 0.1  # a ping sent just before may still be on its way
        time.sleep(1.2)
        w.proc.send_signal(signal.SIGABRT)
        w.proc.wait(10)
        return spun, start

    start_under_systemd()
    time.sleep(2)
    ok(lis.times("READY=1"), "READY=1 once running", diag=repr(lis.got[:5]))
    pings = lis.times("WATCHDOG=1")
    ok(len(pings) >= 5, "WATCHDOG=1 about every 200 ms while the loop runs",
       diag="%d pings in 2 s" % len(pings))
    ok("systemd watchdog: a ping every 200 ms" in w.log(current=True), "and says so in the log",
       diag=lambda: w.log()[-2000:])

    # a rule that holds the loop (3 s of budget): the pings pause
    tid, created = pg.create_ticket("spin", "owner@example.com")
    _, start = abort_in_spin(created + 2 + 10 - time.time())
    held = [t for t in lis.times("WATCHDOG=1") if t > start]
    ok(not held, "no ping while the rule holds the loop",
       diag="%r after %r" % (held, start))
    ok(w.proc.returncode == -signal.SIGABRT, "SIGABRT stops it (systemd restarts it)",
       diag=repr(w.proc.returncode))
    ok("SIGABRT (the watchdog: the loop stopped answering); it was in rule=spin ticket=%d" % tid
       in w.log(current=True), "and the log says which rule and ticket held the loop",
       diag=lambda: w.log()[-2000:])

    # restarts that repeat on the same ticket stop: after two aborts in
    # rule=spin ticket=N, the third run does not run it for N
    with open(hangs) as f:
        is_(f.read(), "spin %d\n" % tid, "the abort is noted in $STATE_DIRECTORY/watchdog-hangs")
    start_under_systemd(wait_ready=False)  # the overdue breach spins at once
    spun, _ = abort_in_spin(15)
    ok(spun, "after the restart the overdue breach spins again", diag=lambda: w.log()[-2000:])
    start_under_systemd()
    t3 = time.time()
    ok(wait_for(lambda: "rule=spin ticket=%d hung the loop at the last two watchdog restarts"
                % tid in w.log(current=True), 5),
       "the third start says rule=spin ticket=%d is not run any more, and why" % tid,
       diag=lambda: w.log()[-2000:])
    time.sleep(2.5)
    later = [t for t in lis.times("WATCHDOG=1") if t > t3 + 0.5]
    ok(len(later) >= 8 and "print: spinning" not in w.log(current=True),
       "and the loop runs: the rule is skipped, the pings go on",
       diag=lambda: "%d pings\n%s" % (len(later), w.log()[-2000:]))
    w.stop_ok("wafa run after two watchdog aborts exits 0 within 10 s of SIGTERM")

    # STOPPING=1 on a clean stop
    os.environ["NOTIFY_SOCKET"] = path
    try:
        w2 = Wafa(pg, sink.url, rules={"none.lua": "-- no rules\n"})
        w2.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]
    w2.stop_ok()
    ok(lis.times("STOPPING=1"), "STOPPING=1 on SIGTERM", diag=repr(lis.got[-3:]))
    ok("watchdog" not in w2.log(current=True), "no pings when systemd asks for none",
       diag=lambda: w2.log()[-1000:])
    lis.stop()


run(main)
