#!/usr/bin/python3
"""Ticket actions through each helpdesk's own API (core/api/), driven through
`wafa api --send` against a local HTTP server on 127.0.0.1 that checks each
request as the helpdesk's API documents it: method, path, the auth header (or
Znuny's UserLogin/Password), JSON keys and their types.  For RT, Zammad, Znuny
and FreeScout.  Also: what an API lacks, an unknown op or value, is refused
with a reason (a dispatched row is parked with it); a refusal the API answers
with 200 (RT's "Permission Denied", Znuny's Error) is a failure; 5xx is
temporary; the token never shows in wafa's output; a token file others can
read is refused."""
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

TOKEN = "tok-5ecret-9f8e7d6c"
PASSWORD = "pw-Zn-5ecret-1234"
QUOTED = 'pw"Zn\\5ecret-\t-4321'


class Server:
    """Answers each request with what check(method, path, headers, body)
    returns: (status, body); records every request."""

    def __init__(self, tls_dir=None):
        self.requests = []
        self.check = lambda m, p, h, b: (500, "no check set")
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8", errors="replace")
                req = {"method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                server.requests.append(req)
                status, text = server.check(self.command, self.path, req["headers"], body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.scheme = "http"
        if tls_dir:
            self.cert = os.path.join(tls_dir, "cert.pem")
            key = os.path.join(tls_dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", self.cert], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert, key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)


def problems_json(body, want):
    """want: {key: type or (type, value)}; returns the problems."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ["body is not JSON: %r" % body[:200]]
    if not isinstance(doc, dict):
        return ["body is not a JSON object"]
    out = []
    for k, t in want.items():
        value = None
        if isinstance(t, tuple):
            t, value = t
        if k not in doc:
            out.append("missing %s" % k)
        elif not isinstance(doc[k], t) or (t is int and isinstance(doc[k], bool)):
            out.append("%s is %r, not %s" % (k, doc[k], t.__name__))
        elif value is not None and doc[k] != value:
            out.append("%s is %r, not %r" % (k, doc[k], value))
    for k in doc:
        if k not in want:
            out.append("unexpected key %s" % k)
    return out


def answer(problems, ok_status, ok_body="{}"):
    if problems:
        return 400, json.dumps({"problems": problems})
    return ok_status, ok_body


class Env:
    def __init__(self, srv):
        self.dir = tempfile.mkdtemp(prefix="wafa-api-", dir="/tmp")
        self.srv = srv
        self.token = os.path.join(self.dir, "token")
        self.outputs = []
        os.makedirs(os.path.join(self.dir, "rules.d"))

    def write_token(self, text, mode=0o600):
        with open(self.token, "w") as f:
            f.write(text + "\n")
        os.chmod(self.token, mode)

    def conf(self, adapter, **api):
        base = offline_config(self.dir, os.path.join(self.dir, "rules.d"))
        self.n = getattr(self, "n", 0) + 1
        path = os.path.join(self.dir, "wafa-%d.conf" % self.n)
        os.rename(base, path)
        keys = {"url": self.srv.url() + "/", "token_file": self.token}
        keys.update(api)
        with open(path, "a") as f:
            f.write("[helpdesk]\nadapter = %s\nadapters = %s\n" % (
                adapter, os.path.join(SRCDIR, "plugins", "adapters")))
            f.write("[api]\n" + "".join("%s = %s\n" % kv for kv in keys.items() if kv[1] is not None))
        return path

    def api(self, conf, ticket, payload, send=True, json_out=False):
        args = ["api", "-c", conf, "--ticket", str(ticket), "--payload",
                payload if isinstance(payload, str) else json.dumps(payload)]
        if send:
            args.append("--send")
        if json_out:
            args.append("--json")
        r = cli(args)
        self.outputs.append(r.stdout + r.stderr)
        return r


def send_ok(env, conf, ticket, payload, check, name):
    env.srv.requests.clear()
    env.srv.check = check
    r = env.api(conf, ticket, payload)
    got = env.srv.requests[-1] if env.srv.requests else None
    ok(r.returncode == 0 and len(env.srv.requests) == 1, name,
       diag=lambda: show(r) + "\nrequests: %r" % env.srv.requests)
    return got


def refused(env, conf, ticket, payload, needle, name):
    env.srv.requests.clear()
    r = env.api(conf, ticket, payload)
    ok(r.returncode == 65 and needle in r.stderr and not env.srv.requests, name,
       diag=lambda: show(r) + "\nrequests: %r" % env.srv.requests)


def rt(env):
    conf = env.conf("rt")
    auth = "token " + TOKEN

    def fields(m, p, h, b):
        pr = [] if (m, p) == ("PUT", "/REST/2.0/ticket/42") else ["%s %s" % (m, p)]
        pr += [] if h.get("authorization") == auth else ["authorization %r" % h.get("authorization")]
        pr += [] if h.get("content-type", "").startswith("application/json") else ["content-type"]
        pr += problems_json(b, {"Priority": (int, 100), "Owner": (str, "backup@example.com"),
                                "Status": (str, "resolved")})
        return answer(pr, 200, json.dumps(["Ticket 42: Priority changed from 0 to 100"]))
    send_ok(env, conf, 42, {"op": "fields", "priority": "urgent", "owner": "backup@example.com",
                            "status": "solved"}, fields,
            "rt: fields is PUT /REST/2.0/ticket/42 with Priority 100 (urgent), Owner, Status resolved; "
            "Authorization: token")

    def comment(m, p, h, b):
        pr = [] if (m, p) == ("POST", "/REST/2.0/ticket/42/comment") else ["%s %s" % (m, p)]
        pr += [] if h.get("authorization") == auth else ["authorization"]
        pr += [] if h.get("content-type", "").startswith("text/plain") else ["content-type %r" % h.get("content-type")]
        pr += [] if b == "SLA breached: raised to urgent" else ["body %r" % b]
        return answer(pr, 201, json.dumps(["Comments added"]))
    send_ok(env, conf, 42, {"op": "note", "text": "SLA breached: raised to urgent", "internal": True},
            comment, "rt: an internal note is POST /REST/2.0/ticket/42/comment, text/plain")

    def correspond(m, p, h, b):
        pr = [] if (m, p) == ("POST", "/REST/2.0/ticket/42/correspond") else ["%s %s" % (m, p)]
        return answer(pr, 201, json.dumps(["Correspondence added"]))
    send_ok(env, conf, 42, {"op": "note", "text": "We are on it", "internal": False}, correspond,
            "rt: a public note is POST .../correspond")

    def keyed(m, p, h, b):
        pr = [] if (m, p) == ("POST", "/REST/2.0/ticket/42/comment") else ["%s %s" % (m, p)]
        pr += problems_json(b, {"Content": (str, "breached"), "ContentType": (str, "text/plain"),
                                "Subject": (str, "wafa r/42/breach/1/3")})
        return answer(pr, 201, "[]")
    env.srv.requests.clear()
    env.srv.check = keyed
    r = cli(["api", "-c", conf, "--ticket", "42", "--key", "r/42/breach/1/3", "--payload",
             json.dumps({"op": "note", "text": "breached"}), "--send"])
    env.outputs.append(r.stdout + r.stderr)
    ok(r.returncode == 0, "rt: a note with the row's key is JSON with the subject \"wafa KEY\"",
       diag=lambda: show(r) + repr(env.srv.requests))

    def look(found):
        def check(m, p, h, b):
            pr = [] if (m, p) == ("POST", "/REST/2.0/ticket/42/attachments") else ["%s %s" % (m, p)]
            try:
                q = json.loads(b)
            except ValueError:
                q = None
            pr += [] if q == [{"field": "Subject", "value": "wafa r/42/breach/1/3"}] else ["query %r" % b]
            items = '[ { "id" : "6", "type" : "attachment" } ]' if found else "[]"
            return answer(pr, 200, '{ "page" : 1, "items" : %s, "count" : %d }' % (items, found))
        return check
    for found in (1, 0):
        env.srv.check = look(found)
        r = cli(["api", "-c", conf, "--ticket", "42", "--key", "r/42/breach/1/3", "--lookup",
                 "--payload", json.dumps({"op": "note", "text": "breached"}), "--send"])
        env.outputs.append(r.stdout + r.stderr)
        is_(r.returncode, 0 if found else 1,
            "rt: --lookup searches the ticket's attachments by that subject: %s"
            % ("found, exit 0" if found else "none, exit 1"), diag=lambda: show(r))
    r = cli(["api", "-c", conf, "--ticket", "42", "--key", "k/1", "--lookup", "--payload",
             json.dumps({"op": "fields", "priority": "high"})])
    ok(r.returncode == 65 and "change nothing" in r.stderr,
       "rt: only a note is looked up (fields sent again change nothing)", diag=show(r))

    env.srv.check = lambda m, p, h, b: (200, json.dumps(["Permission Denied"]))
    r = env.api(conf, 42, {"op": "fields", "priority": "high"})
    ok(r.returncode == 76 and "Permission Denied" in r.stdout and "would be parked" in r.stdout,
       "rt: a 200 answer saying Permission Denied is a permanent failure (exit 76), with RT's words",
       diag=show(r))
    env.srv.check = lambda m, p, h, b: (503, "busy")
    r = env.api(conf, 42, {"op": "fields", "priority": "high"})
    ok(r.returncode == 75 and "503" in r.stdout, "rt: 503 is temporary (exit 75)", diag=show(r))
    refused(env, conf, 42, {"op": "tags", "add": ["breached"]}, "RT has no tags",
            "rt: tags are refused with a reason (RT has none), nothing sent")

    conf2 = env.conf("rt", priorities="urgent:80, low:1", statuses="solved:done")
    env.srv.requests.clear()
    env.srv.check = lambda m, p, h, b: answer(problems_json(b, {"Priority": (int, 80), "Status": (str, "done")}), 200, "[]")
    r = env.api(conf2, 7, {"op": "fields", "priority": "urgent", "status": "solved"})
    ok(r.returncode == 0, "rt: [api] priorities and statuses override the defaults (urgent:80, solved:done)",
       diag=lambda: show(r) + repr(env.srv.requests))
    env.srv.check = lambda m, p, h, b: answer(problems_json(b, {"Priority": (int, 37)}), 200, "[]")
    r = env.api(conf2, 7, {"op": "fields", "priority": 37})
    ok(r.returncode == 0, "rt: a numeric priority passes as it is", diag=show(r))


def zammad(env):
    conf = env.conf("zammad")
    auth = "Token token=" + TOKEN

    def fields(m, p, h, b):
        pr = [] if (m, p) == ("PUT", "/api/v1/tickets/9") else ["%s %s" % (m, p)]
        pr += [] if h.get("authorization") == auth else ["authorization %r" % h.get("authorization")]
        pr += problems_json(b, {"priority_id": (int, 3), "owner": (str, "backup@example.com"),
                                "state": (str, "closed")})
        return answer(pr, 200, '{"id": 9}')
    send_ok(env, conf, 9, {"op": "fields", "priority": "high", "owner": "backup@example.com",
                           "status": "solved"}, fields,
            "zammad: fields is PUT /api/v1/tickets/9 with priority_id 3, owner, state closed; "
            "Authorization: Token token=")

    def owner_id(m, p, h, b):
        return answer(problems_json(b, {"owner_id": (int, 12)}), 200, "{}")
    send_ok(env, conf, 9, {"op": "fields", "owner": 12}, owner_id,
            "zammad: a numeric owner is owner_id")

    def article(m, p, h, b):
        pr = [] if (m, p) == ("POST", "/api/v1/ticket_articles") else ["%s %s" % (m, p)]
        pr += [] if h.get("authorization") == auth else ["authorization"]
        pr += problems_json(b, {"ticket_id": (int, 9), "body": (str, "breached"),
                                "content_type": (str, "text/plain"), "type": (str, "note"),
                                "internal": (bool, True)})
        return answer(pr, 201, '{"id": 100}')
    send_ok(env, conf, 9, {"op": "note", "text": "breached"}, article,
            "zammad: a note is POST /api/v1/ticket_articles, type note, internal true by default")

    def tag(m, p, h, b):
        pr = [] if (m, p) == ("POST", "/api/v1/tags/add") else ["%s %s" % (m, p)]
        pr += problems_json(b, {"item": (str, "breached"), "object": (str, "Ticket"), "o_id": (int, 9)})
        return answer(pr, 200, "true")
    send_ok(env, conf, 9, {"op": "tags", "add": ["breached"]}, tag,
            "zammad: a tag is POST /api/v1/tags/add {item, object Ticket, o_id}")
    r = cli(["api", "-c", conf, "--ticket", "9", "--key", "k/1", "--lookup", "--payload",
             json.dumps({"op": "note", "text": "x"})])
    ok(r.returncode == 65 and "no way to find a note" in r.stderr,
       "zammad: a note cannot be looked up: it says so (a lost answer means a resend)",
       diag=show(r))
    refused(env, conf, 9, {"op": "tags", "add": ["a", "b"]}, "one tag a call",
            "zammad: two tags in one action are refused (its API adds one a call)")
    refused(env, conf, 9, {"op": "fields", "status": "pending"}, "map it in [api] statuses",
            "zammad: pending (needs a pending time) is refused, naming [api] statuses")


def znuny(env):
    conf = env.conf("znuny", user="wafa-agent")

    def fields(m, p, h, b):
        pr = [] if (m, p) == ("POST", "/nph-genericinterface.pl/Webservice/GenericTicketConnectorREST/TicketUpdate") else ["%s %s" % (m, p)]
        pr += [] if "authorization" not in h else ["an Authorization header"]
        pr += problems_json(b, {"UserLogin": (str, "wafa-agent"), "Password": (str, PASSWORD),
                                "TicketID": (int, 5), "Ticket": dict})
        if not pr:
            pr += problems_json(json.dumps(json.loads(b)["Ticket"]),
                                {"Priority": (str, "5 very high"), "State": (str, "closed successful"),
                                 "Owner": (str, "backup")})
        return answer(pr, 200, '{"TicketID": "5", "TicketNumber": "2026120510000011"}')
    send_ok(env, conf, 5, {"op": "fields", "priority": "urgent", "status": "solved", "owner": "backup"},
            fields, "znuny: fields is POST .../Webservice/GenericTicketConnectorREST/TicketUpdate with "
            "UserLogin, Password, TicketID, Ticket {Priority, State, Owner}")

    def article(m, p, h, b):
        pr = problems_json(b, {"UserLogin": str, "Password": str, "TicketID": int, "Article": dict})
        if not pr:
            pr += problems_json(json.dumps(json.loads(b)["Article"]), {
                "CommunicationChannel": (str, "Internal"), "SenderType": (str, "agent"),
                "IsVisibleForCustomer": (int, 0), "Subject": str, "Body": (str, "breached"),
                "ContentType": (str, "text/plain; charset=utf8")})
        return answer(pr, 200, '{"TicketID": "5", "ArticleID": "77"}')
    send_ok(env, conf, 5, {"op": "note", "text": "breached", "internal": True}, article,
            "znuny: a note is an Article, Internal, not visible for the customer")

    env.srv.check = lambda m, p, h, b: (200, json.dumps(
        {"Error": {"ErrorCode": "TicketUpdate.AccessDenied", "ErrorMessage": "TicketUpdate: User does not have access to the ticket!"}}))
    r = env.api(conf, 5, {"op": "fields", "priority": "high"})
    ok(r.returncode == 76 and "AccessDenied" in r.stdout,
       "znuny: a 200 answer with an Error is a permanent failure, with Znuny's words", diag=show(r))
    refused(env, conf, 5, {"op": "tags", "add": ["x"]}, "Znuny has no tags", "znuny: tags are refused")
    conf2 = env.conf("znuny")
    refused(env, conf2, 5, {"op": "note", "text": "x"}, "[api] user is not set",
            "znuny: without [api] user, refused naming it")


def znuny_escaped(env):
    """Znuny's password goes in the JSON body, where a quote or a backslash
    is escaped: wafa api masks that form too."""
    conf = env.conf("znuny", user="wafa-agent")
    seen = {}

    def fields(m, p, h, b):
        seen["password"] = json.loads(b).get("Password")
        return 200, '{"TicketID": "5"}'
    env.write_token(QUOTED)
    send_ok(env, conf, 5, {"op": "fields", "priority": "high"}, fields,
            "znuny: a password with a quote and a backslash is sent as it is")
    is_(seen.get("password"), QUOTED, "znuny: Znuny gets the password unchanged")
    escaped = json.dumps(QUOTED)[1:-1]
    for json_out in (False, True):
        r = env.api(conf, 5, {"op": "fields", "priority": "high"}, send=False, json_out=json_out)
        out = r.stdout + r.stderr
        ok(r.returncode == 0 and escaped not in out and QUOTED not in out and "***" in out,
           "wafa api%s: the password is masked in its JSON-escaped form too" %
           (" --json" if json_out else ""), diag=lambda: show(r))


def freescout(env):
    conf = env.conf("freescout", user="3")

    def fields(m, p, h, b):
        pr = [] if (m, p) == ("PUT", "/api/conversations/11") else ["%s %s" % (m, p)]
        pr += [] if h.get("x-freescout-api-key") == TOKEN else ["X-FreeScout-API-Key %r" % h.get("x-freescout-api-key")]
        pr += problems_json(b, {"byUser": (int, 3), "status": (str, "closed"), "assignTo": (int, 8)})
        return answer(pr, 204, "")
    send_ok(env, conf, 11, {"op": "fields", "status": "solved", "owner": 8}, fields,
            "freescout: fields is PUT /api/conversations/11 {byUser, status closed, assignTo}; "
            "X-FreeScout-API-Key; 204 is done")

    def thread(m, p, h, b):
        pr = [] if (m, p) == ("POST", "/api/conversations/11/threads") else ["%s %s" % (m, p)]
        pr += problems_json(b, {"type": (str, "note"), "text": (str, "breached"), "user": (int, 3)})
        return answer(pr, 201, "{}")
    send_ok(env, conf, 11, {"op": "note", "text": "breached"}, thread,
            "freescout: a note is POST /api/conversations/11/threads {type note, text, user}")
    refused(env, conf, 11, {"op": "fields", "priority": "urgent"}, "FreeScout has no priorities",
            "freescout: priority is refused (FreeScout has none)")
    refused(env, conf, 11, {"op": "fields", "owner": "backup@example.com"}, "assigns by user id",
            "freescout: an owner by address is refused (its API assigns by id)")
    refused(env, conf, 11, {"op": "tags", "add": ["x"]}, "whole tag list",
            "freescout: tags are refused (its API replaces the whole list)")


def common(env):
    conf = env.conf("rt")
    refused(env, conf, 1, {"op": "merge"}, 'unknown op "merge"', "an unknown op is refused, named")
    refused(env, conf, 1, {"op": "fields", "priority": "mega"}, 'priority "mega" is not one of',
            "an unknown priority is refused, naming wafa's values")
    refused(env, conf, 1, {"op": "fields", "colour": "red"}, '"colour" is not a field',
            "an unknown field is refused")
    refused(env, conf, 1, "{not json", "not JSON", "a payload that is not JSON is refused")
    gen = env.conf("generic")
    refused(env, gen, 1, {"op": "note", "text": "x"}, "generic adapter has no API",
            "the generic adapter: refused, it has no API")
    r = env.api(conf, 1, {"op": "note", "text": "x"}, send=False, json_out=True)
    doc = json.loads(r.stdout or "{}")
    is_((doc.get("method"), doc.get("headers", [None])[0]), ("POST", "Authorization: token ***"),
        "wafa api --json prints the request with the token masked")
    # wafa check: the sentence of wafa_api_missing when rules use ticket actions
    with open(os.path.join(env.dir, "rules.d", "10-breach.lua"), "w") as f:
        f.write('sla "breach" { target = "1h", on_breach = function(t) '
                'ticket { priority = "urgent", note = "breached" } end }\n')
    r = cli(["check", "-c", gen])
    ok("note: rules use ticket actions, but the generic adapter has no API" in r.stdout
       and r.returncode == 0 and not r.stderr.strip(),
       "wafa check: rules with ticket actions and the generic adapter: a note says there is no "
       "API (standard output; exit 0: such actions are parked, the rest runs)",
       diag=show(r))
    bare = env.conf("rt", url=None, token_file=None)
    r = cli(["check", "-c", bare])
    ok("rules use ticket actions, but no [api] url" in r.stdout and r.returncode == 0,
       "wafa check: the rt adapter without [api] url: it says ticket actions are parked", diag=show(r))
    r = cli(["check", "-c", conf])
    ok("ticket actions" not in r.stdout + r.stderr and r.returncode == 0,
       "wafa check: the rt adapter with [api]: nothing said, exit 0", diag=show(r))
    bad = env.conf("rt", priorities="urgent:4, mega:9", url="ftp://rt.example.com")
    r = cli(["check", "-c", bad])
    ok(r.returncode == 78 and 'unknown key at "mega"' in r.stderr and "not an http:// or https://" in r.stderr,
       "wafa check: an unknown priority in [api] priorities and a URL that is not http(s) are "
       "config errors (exit 78), named", diag=show(r))
    for what, url in (("a query", env.srv.url() + "/?x="), ("a fragment", env.srv.url() + "/#top")):
        bad = env.conf("rt", url=url)
        r = cli(["check", "-c", bad])
        ok(r.returncode == 78 and "without a query (?) or fragment (#)" in r.stderr,
           "wafa check: an [api] url with %s is a config error (the API's path would go "
           "into it)" % what, diag=show(r))
    env.write_token(TOKEN, 0o644)
    r = cli(["check", "-c", conf])
    ok(r.returncode != 0 and "chmod 600" in r.stderr,
       "wafa check: a token file others can read is a problem", diag=show(r))
    refused(env, conf, 1, {"op": "note", "text": "x"}, "chmod 600",
            "a token file others can read is refused, saying chmod 600")
    env.write_token(TOKEN)


def tls(env):
    d = tempfile.mkdtemp(prefix="wafa-api-tls-", dir="/tmp")
    srv = Server(tls_dir=d)
    srv.check = lambda m, p, h, b: (201, "[]")
    plain_srv, env.srv = env.srv, srv
    conf = env.conf("rt")
    r = env.api(conf, 3, {"op": "note", "text": "x"})
    ok(r.returncode != 0 and not srv.requests and "certificate" in r.stdout.lower(),
       "https with a certificate the system does not trust: not sent (verified by default)",
       diag=lambda: show(r))
    conf = env.conf("rt", ca_file=srv.cert)
    r = env.api(conf, 3, {"op": "note", "text": "x"})
    ok(r.returncode == 0 and len(srv.requests) == 1,
       "https with [api] ca_file naming its CA: sent and done", diag=lambda: show(r))
    env.srv = plain_srv


def main():
    require_wafa()
    srv = Server()
    env = Env(srv)
    env.write_token(TOKEN)
    rt(env)
    zammad(env)
    freescout(env)
    env.write_token(PASSWORD)
    znuny(env)
    znuny_escaped(env)
    env.write_token(TOKEN)
    common(env)
    tls(env)
    leaked = [o for o in env.outputs if TOKEN in o or PASSWORD in o or QUOTED in o
              or json.dumps(QUOTED)[1:-1] in o]
    ok(not leaked and len(env.outputs) > 20,
       "the token (and Znuny's password) never appears in wafa's output (%d runs)" % len(env.outputs),
       diag=lambda: "\n---\n".join(leaked))


run(main)
