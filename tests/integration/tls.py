#!/usr/bin/python3
"""STARTTLS as configured: required means no mail goes out in the clear or to
a server whose certificate does not check out; with the right CA it is
delivered over TLS."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return cert, key


def check_deferred(pg, w, tid, schema, what, reason):
    """The ticket's mail stays queued with reason in last_error."""
    wait_for(lambda: [r for r in pg.outbox(tid, schema=schema) if r["last_error"]], 8)
    rows = pg.outbox(tid, schema=schema)
    ok(rows and rows[0]["status"] == "queued", "%s keeps the mail queued" % what,
       diag=lambda: repr(rows) + w.log())
    ok(rows and reason.lower() in (rows[0]["last_error"] or "").lower(),
       "and last_error says %s" % reason, diag=repr(rows))


def main():
    require_wafa()
    tmp = tempfile.mkdtemp(prefix="wafa-tls-", dir="/tmp")
    atexit.register(shutil.rmtree, tmp, True)
    cert, key = make_cert(tmp)
    pg = Postgres()
    plain = SmtpSink()
    tls = SmtpSink(tls=(cert, key))
    rule = {"first-response.lua": breach_rule(target="1s")}

    # 1. starttls = required, the server offers no STARTTLS: nothing is sent
    w = Wafa(pg, plain.url, rules=rule, conf={"mail.starttls": "required"})
    ok(w.setup().returncode == 0, "wafa setup exits 0")
    w.start()
    a_id, _ = pg.create_ticket("Needs TLS", "a@example.com")
    check_deferred(pg, w, a_id, "wafa", "a server without STARTTLS", "STARTTLS")
    is_(len(plain.messages()), 0, "nothing reached the server in the clear")
    w.stop_ok()

    # 2. the server offers STARTTLS with a self-signed certificate and wafa
    # checks against the system's CAs: refused, stays queued
    w2 = Wafa(pg, tls.url, rules=rule, conf={"mail.starttls": "required",
                                             "database.schema": "wafa2"})
    ok(w2.setup().returncode == 0, "a second wafa schema")
    w2.start()
    b_id, _ = pg.create_ticket("Untrusted certificate", "b@example.com")
    check_deferred(pg, w2, b_id, "wafa2", "an untrusted certificate", "certificate")
    is_(len(tls.messages()), 0, "nothing was delivered to it")
    w2.stop_ok()

    # 3. with ca_file naming that certificate, the queued mails go out over TLS
    w2.settings["mail"]["ca_file"] = cert
    w2.write_config()
    w2.start()
    got = wait_for(lambda: tls.messages_to("b@example.com"), 8)
    ok(got, "with ca_file the mail is delivered", diag=lambda: w2.log(current=True))
    msgs = tls.messages_to("b@example.com")
    ok(msgs and msgs[0].meta.get("tls") is True, "over TLS", diag=lambda: repr([m.meta for m in msgs]))
    rows = pg.outbox(b_id, schema="wafa2")
    ok(rows and rows[0]["status"] == "sent", "and the row is sent", diag=repr(rows))
    w2.stop_ok()

    # 4. AUTH over TLS: the password comes from a file; a wrong one keeps the
    # mail queued with the server's answer, the right one sends it
    authed = SmtpSink(tls=(cert, key), auth="wafa:s3cret")
    pwfile = os.path.join(tmp, "password")
    with open(pwfile, "w") as f:
        f.write("wrong\n")
    os.chmod(pwfile, 0o600)  # a secret file others can read is refused
    w3 = Wafa(pg, authed.url, rules=rule,
              conf={"mail.starttls": "required", "mail.ca_file": cert, "mail.auth_user": "wafa",
                    "mail.auth_password_file": pwfile, "database.schema": "wafa3"})
    ok(w3.setup().returncode == 0, "a third wafa schema")
    w3.start()
    c_id, _ = pg.create_ticket("Needs AUTH", "c@example.com")
    check_deferred(pg, w3, c_id, "wafa3", "a refused password", "535")
    ok("s3cret" not in w3.log() and "wrong" not in w3.log(), "the password is not logged")
    w3.stop_ok()
    with open(pwfile, "w") as f:
        f.write("s3cret\n")
    w3.start()
    got = wait_for(lambda: authed.messages_to("c@example.com"), 8)
    msgs = authed.messages_to("c@example.com")
    ok(got and msgs[0].meta.get("auth") and msgs[0].meta.get("tls"),
       "with the right password it is sent, authenticated, over TLS",
       diag=lambda: repr([m.meta for m in msgs]) + w3.log(current=True))
    w3.stop_ok()


run(main)
