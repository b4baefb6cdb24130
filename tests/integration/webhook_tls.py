#!/usr/bin/python3
"""A webhook over https: a self-signed certificate is refused by default
(the row parked, saying to name the CA in [http] ca_file) and nothing
reaches the server; with ca_file naming it, the same row goes out after
`wafa outbox retry`; a certificate for another host is refused even with the
CA."""
import os
import shutil
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401
from http_sink import HttpSink  # noqa: E402

RULE = '''
sla "hook" {
  start = "created_at", stop = "first_reply_at", target = "1s",
  on_breach = function(t, s) notify { webhook = t.subject, text = "breach #" .. t.ref } end,
}
'''


def make_cert(directory, name, san):
    cert, key = os.path.join(directory, name + ".pem"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=%s" % san.split(":", 1)[1], "-addext", "subjectAltName=" + san,
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


def server(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return HttpSink({"/hook": [200]}, ssl_context=ctx)


def status(pg, subject):
    return pg.psql("SELECT o.status, coalesce(o.last_error, '') FROM wafa.outbox o "
                   "JOIN tickets t ON t.id = o.ticket_id WHERE t.subject = '%s'" % subject)


def main():
    require_wafa()
    tmp = tempfile.mkdtemp(prefix="wafa-hook-tls-", dir="/tmp")
    try:
        run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(tmp):
    good_cert, good_key = make_cert(tmp, "good", "IP:127.0.0.1")
    other_cert, other_key = make_cert(tmp, "other", "DNS:elsewhere.example")
    good, other = server(good_cert, good_key), server(other_cert, other_key)
    pg = Postgres()
    smtp = SmtpSink()
    conf = {"http.retry_initial": "1s", "webhook good.url": good.url("/hook"),
            "webhook other.url": other.url("/hook")}
    w = Wafa(pg, smtp.url, rules={"hook.lua": RULE}, conf=conf)
    ok(w.setup().returncode == 0, "wafa setup exits 0")
    w.start()
    pg.create_ticket("good")
    ok(wait_for(lambda: status(pg, "good") and status(pg, "good")[0][0] == "failed", 15),
       "a self-signed certificate, by default: the row is parked", diag=lambda: w.log()[-2000:])
    st = status(pg, "good")
    ok(st and "ca_file" in st[0][1], "its reason says to name the CA in [http] ca_file",
       diag=str(st))
    is_(len(good.requests()), 0, "nothing reached the server")
    w.stop_ok()

    w.settings["http"]["ca_file"] = good_cert
    w.write_config()
    r = w.command("outbox", "retry", "--failed-since", "now-1h")
    ok(r.returncode == 0, "wafa outbox retry puts it back", diag=show(r))
    w.start()
    ok(wait_for(lambda: status(pg, "good")[0][0] == "sent", 15),
       "with ca_file naming the CA it is sent", diag=lambda: str(status(pg, "good")) + w.log()[-2000:])
    is_(len(good.requests("/hook")), 1, "the server got it once, over TLS")

    w.stop_ok()
    w.settings["http"]["ca_file"] = other_cert
    w.write_config()
    w.start()
    pg.create_ticket("other")
    ok(wait_for(lambda: status(pg, "other") and status(pg, "other")[0][0] == "failed", 15)
       and "host name" in status(pg, "other")[0][1],
       "a certificate for another host is refused even with its CA (host name checked)",
       diag=lambda: str(status(pg, "other")) + w.log()[-2000:])
    is_(len(other.requests()), 0, "nothing reached that server")
    w.stop_ok()
    good.stop()
    other.stop()


run(main)
