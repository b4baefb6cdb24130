#!/usr/bin/python3
"""A test SMTP server that stores what it accepts.

    /usr/bin/python3 tests/lib/smtp_sink.py --port P --dir D [--reply SUBSTRING=CODE ...]

Listens on 127.0.0.1:P.  Each accepted message is stored as D/NNNN.eml (the
raw message) and D/NNNN.json ({"received": time.time(), "mail_from": ...,
"rcpt_tos": [...]}); both are written to a temporary name and renamed, and
the .json comes last, so a reader that lists *.json never sees a partial
message.  Numbering goes on from what D already holds, so the sink can be
stopped and started again on the same directory.

--reply SUBSTRING=CODE makes RCPT TO answer CODE (e.g. 550 or 451) for every
recipient containing SUBSTRING.  Every RCPT is also logged as one JSON line in
D/rcpt.log ({"time", "address", "code"}), so a test can count attempts.

Prints "ready PORT" on stdout once it listens; SIGTERM or SIGINT stops it.
"""
import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sys
import time

from aiosmtpd.smtp import SMTP


class NodelaySMTP(SMTP):
    """aiosmtpd's SMTP with TCP_NODELAY: without it every reply stalls 40 ms."""

    def connection_made(self, transport):
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)


def _atomic_write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class Store:
    def __init__(self, directory, replies):
        self.dir = directory
        self.replies = replies
        self.data_delay = 0.0
        os.makedirs(directory, exist_ok=True)
        numbers = [int(m.group(1)) for m in
                   (re.match(r"^(\d+)\.(?:eml|json)$", n) for n in os.listdir(directory)) if m]
        self.next = max(numbers, default=0) + 1

    def _log_rcpt(self, address, code):
        line = json.dumps({"time": time.time(), "address": address, "code": code}) + "\n"
        with open(os.path.join(self.dir, "rcpt.log"), "a", encoding="utf-8") as f:
            f.write(line)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for substring, code in self.replies:
            if substring in address:
                self._log_rcpt(address, code)
                if code.startswith("4"):
                    return f"{code} 4.2.0 Try again later (test sink)"
                return f"{code} 5.1.1 Recipient rejected (test sink)"
        self._log_rcpt(address, 250)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            # a slow server: the client waits for the reply to its DATA
            await asyncio.sleep(self.data_delay)
        received = time.time()
        n = self.next
        self.next += 1
        base = os.path.join(self.dir, "%04d" % n)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        _atomic_write(base + ".eml", content)
        meta = {"received": received, "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos), "tls": session.ssl is not None,
                "auth": session.authenticated}
        _atomic_write(base + ".json", json.dumps(meta).encode("utf-8"))
        return "250 Message accepted for delivery"


def parse_reply(text):
    substring, sep, code = text.rpartition("=")
    if not sep or not substring or not re.fullmatch(r"[45]\d\d", code):
        raise argparse.ArgumentTypeError("expected SUBSTRING=CODE, like reject=550")
    return substring, code


def main():
    ap = argparse.ArgumentParser(description="test SMTP sink")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--reply", type=parse_reply, action="append", default=[])
    ap.add_argument("--data-delay", type=float, default=0.0,
                    help="seconds to wait before answering the end of DATA")
    ap.add_argument("--auth", metavar="USER:PASSWORD",
                    help="require AUTH (over TLS) with these credentials")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="offer STARTTLS with this certificate and key (PEM)")
    args = ap.parse_args()
    tls = None
    if args.tls:
        import ssl
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*args.tls)

    store = Store(args.dir, args.reply)
    store.data_delay = args.data_delay
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    auth = {}
    if args.auth:
        from aiosmtpd.smtp import AuthResult
        user, _, password = args.auth.partition(":")

        def authenticator(server, session, envelope, mechanism, data):
            good = (data.login.decode() == user and data.password.decode() == password)
            return AuthResult(success=good, handled=False)  # aiosmtpd answers 235 or 535
        auth = dict(authenticator=authenticator, auth_required=True, auth_require_tls=True)

    def factory():
        return NodelaySMTP(store, hostname="sink.test", enable_SMTPUTF8=True,
                           data_size_limit=None, tls_context=tls, **auth)

    server = loop.run_until_complete(
        loop.create_server(factory, host=args.host, port=args.port, reuse_address=True))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready %d" % args.port, flush=True)
    loop.run_until_complete(stop.wait())
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
