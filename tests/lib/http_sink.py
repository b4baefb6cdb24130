"""A local HTTP server for the webhook tests: records every request and
answers by path, as a script of replies.

    sink = HttpSink({"/ok": [200], "/flaky": [500, 500, 200], "/slow": [("sleep", 3, 200), 200],
                     "/moved": [(302, "/elsewhere")], "/hold": ["hold"]})
    sink.url("/ok")          # http://127.0.0.1:PORT/ok
    sink.requests("/ok")     # [Request(path, headers, body, at, done_at)]

A path's replies are used in order; the last one repeats.  "hold" keeps
the request open until sink.release() (a kill -9 mid-request)."""
import http.server
import json
import socketserver
import threading
import time


class Request:
    def __init__(self, path, headers, body, at):
        self.path = path
        self.headers = headers
        self.body = body
        self.at = at
        self.done_at = None

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HttpSink:
    def __init__(self, script, ssl_context=None):
        self.script = {k: list(v) for k, v in script.items()}
        self.log = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = Request(self.path, dict(self.headers.items()), body, time.time())
                with sink.lock:
                    sink.log.append(req)
                    replies = sink.script.get(self.path) or [404]
                    reply = replies.pop(0) if len(replies) > 1 else replies[0]
                if reply == "hold":
                    sink.released.wait(60)
                    reply = 200
                if isinstance(reply, tuple) and reply[0] == "sleep":
                    time.sleep(reply[1])
                    reply = reply[2]
                location = None
                if isinstance(reply, tuple):
                    reply, location = reply
                text = b'{"ok":true}' if reply < 300 else b"nope: this is the server's reason"
                try:
                    self.send_response(reply)
                    if location:
                        self.send_header("Location", location)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:
                    pass  # the client went away (a timeout, a kill)
                req.done_at = time.time()

            do_PUT = do_POST
            do_PATCH = do_POST

        self.server = _Server(("127.0.0.1", 0), Handler)
        if ssl_context:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if ssl_context else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path, host="127.0.0.1"):
        return "%s://%s:%d%s" % (self.scheme, host, self.port, path)

    def requests(self, path=None):
        with self.lock:
            return [r for r in self.log if path is None or r.path == path]

    def release(self):
        self.released.set()

    def summary(self):
        return "\n".join("%.3f %s %s" % (r.at, r.path, r.body[:200]) for r in self.requests())

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
