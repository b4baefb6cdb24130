"""A scripted SMTP server on raw sockets, for the fault tests, and a relay
that never answers a connect.

    srv = ScriptedSmtp()                    # 127.0.0.1:srv.port, in this process
    srv.script["RCPT"] = "451 4.2.0 later"  # every RCPT gets this reply
    srv.script["MAIL"] = ["451 4.3.0 busy"] # only the next MAIL does
    srv.script["DOT"] = "drop"              # read the message, close without a reply
    srv.script["BODY"] = "drop"             # close in the middle of the message
    srv.byte_delay = 1.0                    # every reply goes out one byte a second
    srv.slow_after = 1                      # ... once this many mails were answered
    srv.script["GREETING"] = "stall"        # never answer: wait for the client to go
    srv.dot_delay = 0.3                     # wait before answering the final dot
    srv.pause_in["GREETING"] = (4, 0.8)     # "220 ", a pause, then the rest of the line

A stage's entry is a reply line ("451 ..."), "drop" (close the connection
there), "stall" (say nothing more and read until the client closes), None
(the normal reply), or a list of these used one per command and then the
normal reply.  Stages: GREETING, EHLO, MAIL, RCPT, DATA (the reply
to DATA), BODY (while the message comes), DOT (the reply to the final dot),
RSET, QUIT.

What it saw: srv.received (every message whose final dot it read, with the
reply it gave: a code or "drop"), srv.delivered() (those it answered 250),
srv.sessions (connections: start, end, whether they spoke SMTP) and
srv.max_in_transaction (the most sessions between MAIL and the reply to the
dot at one moment).
"""
import select
import socket
import threading
import time

__all__ = ["ScriptedSmtp", "BlackHole"]

DEFAULT = {
    "GREETING": "220 scripted.test ESMTP",
    "EHLO": ["250-scripted.test", "250 8BITMIME"],
    "MAIL": "250 2.1.0 sender ok",
    "RCPT": "250 2.1.5 recipient ok",
    "DATA": "354 go ahead",
    "BODY": "",
    "DOT": "250 2.0.0 accepted",
    "RSET": "250 2.0.0 reset",
    "QUIT": "221 2.0.0 bye",
    "OTHER": "502 5.5.2 not implemented",
}


class _Dropped(Exception):
    pass


class ScriptedSmtp:
    def __init__(self, port=0, backlog=64):
        self.script = {}
        self.byte_delay = 0.0
        self.slow_after = 0  # byte_delay applies once this many final dots were answered
        self.answered = 0
        self.dot_delay = 0.0
        self.pause_in = {}  # stage -> (n, seconds): send n bytes of its reply, wait, then the rest
        self.received = []
        self.sessions = []
        self.commands = []
        self.max_in_transaction = 0
        self._in_txn = 0
        self._lock = threading.Lock()
        self._conns = set()
        self._stopping = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    # -- what it saw

    def delivered(self):
        with self._lock:
            return [m for m in self.received if str(m["reply"]).startswith("250")]

    def delivered_to(self, addr):
        return [m for m in self.delivered() if addr in m["rcpts"]]

    def received_to(self, addr):
        with self._lock:
            return [m for m in self.received if addr in m["rcpts"]]

    def smtp_sessions(self):
        """Connections that sent at least one command (not the bare connects
        that probe the relay)."""
        with self._lock:
            return [s for s in self.sessions if s["commands"] > 0]

    def count(self, verb):
        with self._lock:
            return sum(1 for c in self.commands if c[2].upper().startswith(verb))

    def summary(self):
        with self._lock:
            lines = ["%d connections, %d received, max %d in a transaction at once"
                     % (len(self.sessions), len(self.received), self.max_in_transaction)]
            lines += ["  %s %s -> %s" % (m["rcpts"], m["subject"], m["reply"])
                      for m in self.received]
            lines += ["  cmd %.3f s%d %s" % c for c in self.commands[-40:]]
            return "\n".join(lines)

    # -- running

    def stop(self):
        self._stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept_loop(self):
        n = 0
        while not self._stopping:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if not r:
                    continue
                conn, _ = self.sock.accept()
            except OSError:
                return
            n += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    def _action(self, stage):
        with self._lock:
            v = self.script.get(stage)
            if isinstance(v, list):
                v = v.pop(0) if v else None
        return DEFAULT[stage] if v is None else v

    def _say(self, conn, lines, stage=None):
        if isinstance(lines, str):
            lines = [lines]
        data = "".join(l + "\r\n" for l in lines).encode()
        pause = self.pause_in.get(stage)
        if pause:
            conn.sendall(data[:pause[0]])
            time.sleep(pause[1])
            conn.sendall(data[pause[0]:])
        elif self.byte_delay and self.answered >= self.slow_after:
            for i in range(len(data)):
                if i:
                    time.sleep(self.byte_delay)
                conn.sendall(data[i:i + 1])
        else:
            conn.sendall(data)

    def _stall(self, conn):
        while not self._stopping:
            r, _, _ = select.select([conn], [], [], 0.2)
            if r and not conn.recv(65536):
                break
        raise _Dropped()

    def _reply(self, conn, stage):
        a = self._action(stage)
        if a == "drop":
            raise _Dropped()
        if a == "stall":
            self._stall(conn)
        self._say(conn, a, stage)
        return a if isinstance(a, str) else a[-1]

    def _serve(self, conn, sid):
        sess = {"id": sid, "start": time.time(), "end": None, "commands": 0}
        with self._lock:
            self.sessions.append(sess)
        buf = b""
        txn = False

        def line():
            nonlocal buf
            while b"\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    raise _Dropped()
                buf += chunk
            l, buf = buf.split(b"\n", 1)
            return l.rstrip(b"\r").decode("utf-8", "replace")

        def enter(flag):
            nonlocal txn
            with self._lock:
                if flag and not txn:
                    self._in_txn += 1
                    self.max_in_transaction = max(self.max_in_transaction, self._in_txn)
                elif not flag and txn:
                    self._in_txn -= 1
            txn = flag

        mail_from, rcpts = None, []
        try:
            with self._lock:
                scripted = self.script.get("GREETING") not in (None, [])
            if scripted:
                # wafa probes the relay with a bare connect before each session:
                # such a connection must not use up the greeting's script
                r, _, _ = select.select([conn], [], [], 0.5)
                if r and conn.recv(1, socket.MSG_PEEK) == b"":
                    raise _Dropped()
            self._reply(conn, "GREETING")
            while True:
                cmd = line()
                verb = cmd.split(" ", 1)[0].split(":", 1)[0].upper()
                with self._lock:
                    sess["commands"] += 1
                    self.commands.append((time.time(), sid, cmd))
                if verb in ("EHLO", "HELO"):
                    self._reply(conn, "EHLO")
                elif verb == "MAIL":
                    enter(True)
                    mail_from, rcpts = cmd.split(":", 1)[1].strip(), []
                    if not self._reply(conn, "MAIL").startswith("2"):
                        enter(False)
                elif verb == "RCPT":
                    addr = cmd.split(":", 1)[1].strip().strip("<>")
                    if self._reply(conn, "RCPT").startswith("2"):
                        rcpts.append(addr)
                elif verb == "DATA":
                    if not self._reply(conn, "DATA").startswith("3"):
                        enter(False)
                        continue
                    body = []
                    body_action = self._action("BODY")
                    while True:
                        l = line()
                        if l == ".":
                            break
                        body.append(l)
                        if body_action == "drop" and len(body) >= 3:
                            raise _Dropped()
                    text = "\n".join(body)
                    subject = next((b[9:] for b in body if b.lower().startswith("subject: ")), "")
                    msg = {"time": time.time(), "session": sid, "mail_from": mail_from,
                           "rcpts": list(rcpts), "data": text, "subject": subject,
                           "reply": "drop"}
                    with self._lock:
                        self.received.append(msg)
                    if self.dot_delay:
                        time.sleep(self.dot_delay)
                    a = self._action("DOT")
                    if a != "drop":
                        msg["reply"] = a.split(" ", 1)[0]
                        msg["replied_at"] = time.time()
                    enter(False)
                    if a == "drop":
                        raise _Dropped()
                    if a == "stall":
                        self._stall(conn)
                    self._say(conn, a)
                    with self._lock:
                        self.answered += 1
                elif verb == "RSET":
                    enter(False)
                    self._reply(conn, "RSET")
                elif verb == "QUIT":
                    self._reply(conn, "QUIT")
                    break
                else:
                    self._reply(conn, "OTHER")
        except (_Dropped, OSError):
            pass
        finally:
            enter(False)
            sess["end"] = time.time()
            with self._lock:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass


class BlackHole:
    """A relay whose connects never complete, on loopback: a listening
    socket with backlog 0 whose accept queue is filled and never accepted,
    so the kernel drops every further SYN and the client retries for about
    two minutes."""

    def __init__(self, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(64):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(c)
            _, w, _ = select.select([], [c], [], 0.3)
            if not w:
                break  # this one hangs: the queue is full

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def hangs(self, seconds=2.0):
        """True if a fresh connect does not complete within seconds."""
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect_ex(("127.0.0.1", self.port))
            _, w, _ = select.select([], [c], [], seconds)
            return not w
        finally:
            c.close()

    def close(self):
        for c in self.fillers:
            c.close()
        self.fillers = []
        self.sock.close()
