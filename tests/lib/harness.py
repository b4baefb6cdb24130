"""The integration-test harness: TAP output, a throwaway PostgreSQL, a test
SMTP server, and helpers to run the wafa binary.

Every integration test is a plain script run by /usr/bin/python3 under
automake's TAP driver, with WAFA_BIN, WAFA_SRCDIR and WAFA_BUILDDIR in the
environment (see Makefile.am).  Standard library only (plus aiosmtpd in the
sink process); the database is reached with the psql command.

    from harness import *          # after sys.path.insert(0, tests/lib)

    def main():
        plan(3)
        pg = Postgres()            # started, database helpdesk loaded
        sink = SmtpSink()          # started on a free port
        w = Wafa(pg, transport=sink.url, rules={"10-x.lua": RULE})
        ok(w.setup().returncode == 0, "setup")
        w.start()
        ...
    run(main)
"""
import atexit
import email
import email.policy
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

__all__ = [
    "plan", "ok", "is_", "skip", "diag", "done", "run", "wait_for", "free_port",
    "Postgres", "PsqlError", "SmtpSink", "Wafa", "cli", "offline_config", "show", "require_wafa",
    "breach_rule", "SMTP_SINK", "start_smtp_sink",
    "parse_mail", "dedent", "helpdesk_file", "SRCDIR", "BUILDDIR", "WAFA_BIN", "PYTHON",
]

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get("WAFA_SRCDIR") or os.path.join(HERE, "..", ".."))
BUILDDIR = os.path.abspath(os.environ.get("WAFA_BUILDDIR") or SRCDIR)
WAFA_BIN = os.environ.get("WAFA_BIN") or os.path.join(BUILDDIR, "wafa")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
PG_BIN = os.environ.get("WAFA_PG_BIN") or "/usr/lib/postgresql/15/bin"
IS_ROOT = os.geteuid() == 0


def dedent(text):
    import textwrap
    return textwrap.dedent(text).lstrip("\n")


# ---------------------------------------------------------------- TAP

class _Tap:
    def __init__(self):
        self.planned = None
        self.n = 0
        self.failed = 0
        self.finished = False

    def out(self, line):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


_tap = _Tap()


def diag(text):
    """Prints text as TAP diagnostics (# lines)."""
    for line in str(text).splitlines() or [""]:
        _tap.out("# " + line)


_diag = diag


def plan(n):
    _tap.planned = n
    _tap.out("1..%d" % n)


def ok(cond, name, diag=None):
    """One test point.  diag may be a string or a callable returning one;
    it is printed only when the test fails."""
    _tap.n += 1
    name = re.sub(r"[\r\n#]", " ", str(name))
    if cond:
        _tap.out("ok %d - %s" % (_tap.n, name))
    else:
        _tap.failed += 1
        _tap.out("not ok %d - %s" % (_tap.n, name))
        d = diag
        if callable(d):
            try:
                d = d()
            except Exception as e:  # a diagnostic must never hide the failure
                d = "(diagnostics failed: %r)" % e
        if d:
            _diag(d)
    return bool(cond)


def is_(got, expected, name, diag=None):
    """ok(got == expected) that shows both values when they differ."""
    def d():
        text = "got:      %r\nexpected: %r" % (got, expected)
        if diag:
            more = diag() if callable(diag) else diag
            text += "\n" + str(more)
        return text
    return ok(got == expected, name, diag=d)


def skip(name, reason, count=1):
    for _ in range(count):
        _tap.n += 1
        _tap.out("ok %d - %s # SKIP %s" % (_tap.n, name, reason))


def done():
    """Ends the TAP stream; exits non-zero if any test point failed."""
    if _tap.finished:
        return
    _tap.finished = True
    if _tap.planned is None:
        _tap.out("1..%d" % _tap.n)
    elif _tap.planned != _tap.n:
        diag("planned %d tests but ran %d" % (_tap.planned, _tap.n))
        _tap.failed += 1
    sys.stdout.flush()
    sys.exit(1 if _tap.failed else 0)


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def run(main):
    """Runs main() as a test script: an unexpected exception becomes a
    failed test point with the traceback, then "Bail out!"."""
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        _tap.n += 1
        _tap.failed += 1
        _tap.out("not ok %d - unexpected exception" % _tap.n)
        diag(traceback.format_exc())
        for w in list(_live_wafas):
            try:
                diag("wafa log (%s):\n%s" % (w.dir, w.log()[-6000:]))
            except Exception:
                pass
        first = (traceback.format_exception_only(*sys.exc_info()[:2])[-1].strip()
                 .splitlines() or [""])[0]
        _tap.out("Bail out! unexpected exception: %s" % first)
        sys.stdout.flush()
        sys.exit(2)
    done()


def wait_for(predicate, timeout, interval=0.05):
    """Calls predicate until it returns something true or timeout seconds
    pass; returns the last value."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval)


SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"  # postfix's


def start_smtp_sink(port):
    """Starts postfix's smtp-sink on 127.0.0.1:port (as nobody when root: it
    refuses root) and waits until it takes connections; returns the Popen."""
    cmd = [SMTP_SINK, "-c", "127.0.0.1:%d" % port, "1000"]
    if os.geteuid() == 0:
        cmd[1:1] = ["-u", "nobody"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("smtp-sink did not start")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- cleanup

_cleanups = []


def _read_text(path):
    """A log file's text, or "" if there is none yet."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:
            sys.stderr.write("harness cleanup: %r\n" % e)


atexit.register(_run_cleanups)


def _keep_tmp():
    return os.environ.get("WAFA_KEEP_TMP") not in (None, "", "0")


def _rmtree_later(path):
    _cleanups.append(lambda: None if _keep_tmp() else shutil.rmtree(path, ignore_errors=True))


# ---------------------------------------------------------------- PostgreSQL

def _as_pg(cmd):
    """initdb and pg_ctl refuse to run as root: run them as postgres."""
    if IS_ROOT:
        return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"] + cmd
    return cmd


def _chown_pg(path):
    if IS_ROOT:
        shutil.chown(path, "postgres", "postgres")


def _pg_env():
    env = dict(os.environ)
    env.update(LC_ALL="C.UTF-8", LANG="C.UTF-8", PGCLIENTENCODING="UTF8", TZ="UTC")
    for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGOPTIONS"):
        env.pop(k, None)
    return env


def _template_dir():
    """initdb once per build tree; every test copies the result."""
    base = os.path.join(BUILDDIR, "tests", "tmp")
    os.makedirs(base, exist_ok=True)
    template = os.path.join(base, "pg-template")
    with open(template + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(template, "PG_VERSION")):
            return template
        shutil.rmtree(template, ignore_errors=True)
        # initdb runs as postgres, which may not be able to write into the
        # build tree: make the cluster in /tmp and copy it over.
        work = tempfile.mkdtemp(prefix="wafa-initdb-", dir="/tmp")
        try:
            _chown_pg(work)
            data = os.path.join(work, "data")
            r = subprocess.run(
                _as_pg([os.path.join(PG_BIN, "initdb"), "-D", data, "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
                cwd=work, env=_pg_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise RuntimeError("initdb failed (%d):\n%s" %
                                   (r.returncode, r.stdout.decode(errors="replace")))
            shutil.rmtree(template + ".new", ignore_errors=True)
            subprocess.run(["cp", "-a", data, template + ".new"], check=True)
            os.rename(template + ".new", template)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return template


class PsqlError(RuntimeError):
    pass


_NULL = "\x18"


class Postgres:
    """A throwaway PostgreSQL 15 cluster listening only on a Unix socket in
    a short /tmp directory, with database `helpdesk` holding the sample
    helpdesk.  Stopped and removed at exit."""

    def __init__(self, load_sample=True, start=True):
        self.sockdir = tempfile.mkdtemp(prefix="wafa-pg-", dir="/tmp")
        _rmtree_later(self.sockdir)
        self.datadir = os.path.join(self.sockdir, "data")
        self.logfile = os.path.join(self.sockdir, "postgres.log")
        self.port = free_port()
        self.running = False
        _chown_pg(self.sockdir)
        subprocess.run(["cp", "-a", _template_dir(), self.datadir], check=True)
        if IS_ROOT:  # the template may have been copied along with the tree by root
            subprocess.run(["chown", "-R", "postgres:postgres", self.datadir], check=True)
        os.chmod(self.datadir, 0o700)
        if start:
            self.start()
            if load_sample:
                self.create_helpdesk()

    @property
    def dsn(self):
        return "host=%s port=%d dbname=helpdesk user=postgres" % (self.sockdir, self.port)

    def dsn_for(self, db):
        return "host=%s port=%d dbname=%s user=postgres" % (self.sockdir, self.port, db)

    def _pg_ctl(self, *args, check=True):
        cmd = _as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir] + list(args))
        r = subprocess.run(cmd, cwd=self.sockdir, env=_pg_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("pg_ctl %s failed (%d):\n%s\n--- server log:\n%s" % (
                args[-1], r.returncode, r.stdout.decode(errors="replace"), self.log()[-3000:]))
        return r

    def start(self):
        opts = ("-c listen_addresses='' -k %s -p %d -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=50 -c TimeZone=UTC"
                % (self.sockdir, self.port))
        # extra server settings for a bench or a look inside, e.g.
        # WAFA_PG_OPTS="-c log_min_duration_statement=20"
        opts += " " + os.environ.get("WAFA_PG_OPTS", "")
        self._pg_ctl("-l", self.logfile, "-w", "-t", "30", "-o", opts, "start")
        self.running = True
        _cleanups.append(self.stop)

    def stop(self):
        if self.running:
            self._pg_ctl("-m", "immediate", "-w", "stop", check=False)
            self.running = False

    def log(self):
        return _read_text(self.logfile)

    def _psql_cmd(self, db):
        psql = os.path.join(PG_BIN, "psql")
        return [psql if os.path.exists(psql) else "psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e",
                "-P", "null=" + _NULL, "-P", "pager=off", "-v", "ON_ERROR_STOP=1",
                "-h", self.sockdir, "-p", str(self.port), "-U", "postgres", "-d", db]

    def psql(self, sql, db="helpdesk", timeout=30):
        """Runs sql and returns the rows of its result as lists of str (None
        for NULL).  Several statements may be given, but only one should
        return rows (psql ends each result with a bare newline, which cannot
        be told from one inside a value).  Raises PsqlError."""
        r = subprocess.run(self._psql_cmd(db), input=sql.encode("utf-8"), env=_pg_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode != 0:
            raise PsqlError("psql failed (%d) on:\n%s\n%s" % (
                r.returncode, sql, r.stderr.decode("utf-8", errors="replace")))
        out = r.stdout.decode("utf-8")
        if out.endswith("\n"):
            out = out[:-1]
        if out == "":
            return []
        return [[None if v == _NULL else v for v in rec.split("\x1f")]
                for rec in out.split("\x1e")]

    def value(self, sql, db="helpdesk"):
        """The first column of the first row, or None."""
        rows = self.psql(sql, db)
        return rows[0][0] if rows else None

    def psql_file(self, path, db="helpdesk"):
        r = subprocess.run(self._psql_cmd(db) + ["-f", path], env=_pg_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise PsqlError("psql -f %s failed (%d):\n%s" % (
                path, r.returncode, r.stderr.decode("utf-8", errors="replace")))

    def wafa_role(self, db="helpdesk", view="wafa.tickets", role="wafa_daemon"):
        """Runs contrib/wafa-role's SQL (the daemon's least-privilege role)
        on db, after `wafa setup`; returns that role's dsn."""
        sql = subprocess.run([os.path.join(SRCDIR, "contrib", "wafa-role"), role, view],
                             stdout=subprocess.PIPE, check=True).stdout.decode()
        self.psql(sql, db=db)
        return self.dsn_for(db).replace("user=postgres", "user=" + role)

    def create_helpdesk(self):
        self.psql("CREATE DATABASE helpdesk", db="postgres")
        self.psql_file(os.path.join(SRCDIR, "plugins", "adapters", "generic",
                                    "sample-helpdesk.sql"))

    # -- the sample helpdesk

    @staticmethod
    def quote(value):
        """A SQL literal; control characters (CR, LF, ...) are written as
        E'' escapes so that they reach the database exactly."""
        if value is None:
            return "NULL"
        text = str(value)
        if not re.search(r"[\x00-\x1f\\]", text):
            return "'" + text.replace("'", "''") + "'"
        out = []
        for ch in text:
            if ch == "\\":
                out.append("\\\\")
            elif ch == "'":
                out.append("\\'")
            elif ord(ch) < 0x20:
                out.append("\\x%02x" % ord(ch))
            else:
                out.append(ch)
        return "E'" + "".join(out) + "'"

    def seed_quiet(self, n, prefix):
        """n open tickets ("PREFIX 1".."PREFIX n", agent@example.com), created
        and last updated an hour ago, inserted without a NOTIFY (before wafa
        starts).  Returns the highest ticket id."""
        self.psql("ALTER TABLE tickets DISABLE TRIGGER wafa_notify_ticket")
        self.psql("INSERT INTO tickets (subject, owner_email, status, created_at, updated_at) "
                  "SELECT '%s ' || g, 'agent@example.com', 'open', "
                  "       now() - interval '1 hour', now() - interval '1 hour' "
                  "  FROM generate_series(1, %d) g" % (prefix, n))
        self.psql("ALTER TABLE tickets ENABLE TRIGGER wafa_notify_ticket")
        return int(self.value("SELECT max(id) FROM tickets"))

    def create_ticket(self, subject, owner_email=None, **cols):
        """Inserts a ticket; returns (id, created_at as float epoch seconds)."""
        cols = dict(subject=subject, owner_email=owner_email, **cols)
        names = ", ".join(cols)
        values = ", ".join(self.quote(v) for v in cols.values())
        row = self.psql("INSERT INTO tickets (%s) VALUES (%s) "
                        "RETURNING id, extract(epoch from created_at)" % (names, values))[0]
        return int(row[0]), float(row[1])

    def answer(self, ticket_id):
        """Marks the first reply; returns its time as epoch seconds."""
        row = self.psql("UPDATE tickets SET first_reply_at = clock_timestamp() WHERE id = %d "
                        "RETURNING extract(epoch from first_reply_at)" % ticket_id)
        return float(row[0][0])

    def outbox(self, ticket_id=None, schema="wafa"):
        """wafa's outbox rows as dicts, oldest first."""
        cols = ["id", "key", "ticket_id", "rule", "phase", "rcpt", "subject", "status",
                "attempts", "last_error"]
        where = "" if ticket_id is None else " WHERE ticket_id = %d" % ticket_id
        rows = self.psql("SELECT %s FROM %s.outbox%s ORDER BY id" % (", ".join(cols), schema, where))
        out = []
        for r in rows:
            d = dict(zip(cols, r))
            d["attempts"] = int(d["attempts"]) if d["attempts"] is not None else None
            d["ticket_id"] = int(d["ticket_id"]) if d["ticket_id"] is not None else None
            out.append(d)
        return out


# ---------------------------------------------------------------- SMTP sink

def parse_mail(data):
    return email.message_from_bytes(data, policy=email.policy.default)


class SmtpSink:
    """tests/lib/smtp_sink.py in its own process on 127.0.0.1:port.  Can be
    stopped and started again on the same port and directory."""

    def __init__(self, port=None, start=True, replies=(), tls=None, data_delay=0.0, auth=None):
        """tls: (cert, key) PEM files to offer STARTTLS with.  data_delay:
        seconds the server waits before accepting a message."""
        self.tls = tls
        self.auth = auth  # "user:password": AUTH required (over TLS)
        self.data_delay = data_delay
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="wafa-sink-", dir="/tmp")
        _rmtree_later(self.dir)
        self.proc = None
        self.replies = list(replies)
        self.logfile = os.path.join(self.dir, "sink.log")
        _cleanups.append(self.stop)
        if start:
            self.start()

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def start(self, replies=None, timeout=15):
        if replies is not None:
            self.replies = list(replies)
        if self.proc and self.proc.poll() is None:
            raise RuntimeError("sink already running")
        cmd = [PYTHON, os.path.join(HERE, "smtp_sink.py"), "--port", str(self.port),
               "--dir", self.dir]
        for sub, code in self.replies:
            cmd += ["--reply", "%s=%s" % (sub, code)]
        if self.tls:
            cmd += ["--tls", self.tls[0], self.tls[1]]
        if self.data_delay:
            cmd += ["--data-delay", str(self.data_delay)]
        if self.auth:
            cmd += ["--auth", self.auth]
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("smtp sink exited with %d:\n%s" % (self.proc.returncode,
                                                                       self.log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(4).startswith(b"220"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("smtp sink did not start on port %d:\n%s" % (self.port, self.log()))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return _read_text(self.logfile)

    def messages(self):
        """Every stored message, oldest first, as email.message.EmailMessage
        (policy default: msg["subject"] is the decoded str) with the
        attributes meta (the .json), received, mail_from, rcpt_tos, raw."""
        out = []
        for meta_path in sorted(glob.glob(os.path.join(self.dir, "[0-9]*.json"))):
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            with open(meta_path[:-5] + ".eml", "rb") as f:
                raw = f.read()
            msg = parse_mail(raw)
            msg.meta = meta
            msg.raw = raw
            msg.received = meta["received"]
            msg.mail_from = meta["mail_from"]
            msg.rcpt_tos = meta["rcpt_tos"]
            msg.path = meta_path[:-5] + ".eml"
            out.append(msg)
        return out

    def messages_to(self, addr):
        return [m for m in self.messages() if addr in m.rcpt_tos]

    def rcpt_log(self):
        """Every RCPT the sink answered: dicts with time, address, code."""
        try:
            with open(os.path.join(self.dir, "rcpt.log"), encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def summary(self):
        lines = []
        for m in self.messages():
            lines.append("%s rcpt=%s subject=%r" % (os.path.basename(m.path), m.rcpt_tos,
                                                    str(m["subject"])))
        return "\n".join(lines) or "(no messages)"


# ---------------------------------------------------------------- wafa

_live_wafas = []

DEFAULT_RULE_TARGET = "2s"


class Wafa:
    """A wafa configuration in a temporary directory (wafa.conf and
    rules.d/), and the daemon started from it."""

    def __init__(self, pg, transport, rules=None, conf=None, sections=None, raw_conf=None):
        """rules: {file name: Lua text}.  conf: {"section.key": value}
        overriding the defaults (None deletes a key).  raw_conf: the whole
        config text instead (then conf is ignored)."""
        self.pg = pg
        self.dir = tempfile.mkdtemp(prefix="wafa-t-", dir="/tmp")
        _rmtree_later(self.dir)
        self.rules_dir = os.path.join(self.dir, "rules.d")
        os.makedirs(self.rules_dir)
        self.conf_path = os.path.join(self.dir, "wafa.conf")
        self.logfile = os.path.join(self.dir, "wafa.log")
        self.proc = None
        self.runs = 0
        self.transport = transport
        for name, text in (rules or {}).items():
            self.write_rule(name, text)
        self.settings = {
            "database": {"dsn": pg.dsn if pg else "host=/nonexistent dbname=x", "schema": "wafa"},
            "helpdesk": {"adapter": "generic", "view": "public.wafa_tickets",
                         "notify_channel": "wafa_ticket", "reconcile_interval": "30s"},
            "rules": {"dir": self.rules_dir, "budget": "100ms", "memory": "32M"},
            "mail": {"transport": transport, "from": "Support <support@example.com>",
                     "starttls": "off", "retry_initial": "1s", "retry_max": "1h",
                     "poll_interval": "1s"},
            "log": {"level": "info"},
        }
        for dotted, value in (conf or {}).items():
            section, key = dotted.split(".", 1)
            if value is None:
                self.settings.setdefault(section, {}).pop(key, None)
            else:
                self.settings.setdefault(section, {})[key] = value
        self.write_config(raw_conf)
        _live_wafas.append(self)
        _cleanups.append(self.kill)

    def write_rule(self, name, text):
        with open(os.path.join(self.rules_dir, name), "w", encoding="utf-8") as f:
            f.write(text)

    def config_text(self):
        lines = ["; written by tests/lib/harness.py"]
        for section, keys in self.settings.items():
            lines.append("")
            lines.append("[%s]" % section)
            for k, v in keys.items():
                lines.append("%s = %s" % (k, v))
        return "\n".join(lines) + "\n"

    def write_config(self, raw=None):
        with open(self.conf_path, "w", encoding="utf-8") as f:
            f.write(raw if raw is not None else self.config_text())

    def command(self, *args, timeout=30, conf=True):
        """Runs `wafa ARGS [-c conf]`; returns CompletedProcess with str
        stdout/stderr."""
        cmd = [WAFA_BIN] + list(args)
        if conf:
            cmd += ["-c", self.conf_path]
        return cli(cmd[1:], timeout=timeout)

    def command_as(self, dsn, *args, timeout=30):
        """Runs `wafa ARGS` with [database] dsn set to dsn (another role)."""
        old = self.settings["database"]["dsn"]
        self.settings["database"]["dsn"] = dsn
        self.write_config()
        try:
            return self.command(*args, timeout=timeout)
        finally:
            self.settings["database"]["dsn"] = old
            self.write_config()

    def setup(self):
        return self.command("setup")

    def check(self):
        return self.command("check")

    def start(self, wait_ready=True, timeout=15):
        if self.proc and self.proc.poll() is None:
            raise RuntimeError("wafa already running")
        self.runs += 1
        log = open(self.logfile, "ab")
        log.write(("---- wafa run #%d at %.3f\n" % (self.runs, time.time())).encode())
        log.flush()
        self.log_offset = log.tell()
        self.proc = subprocess.Popen([WAFA_BIN, "run", "-c", self.conf_path], stdout=log,
                                     stderr=log, stdin=subprocess.DEVNULL, cwd=self.dir)
        log.close()
        self.started_at = time.time()
        if wait_ready:
            self.wait_ready(timeout)
        return self.proc

    def _listening(self):
        try:
            n = self.pg.value("SELECT count(*) FROM pg_stat_activity WHERE "
                              "pid <> pg_backend_pid() AND query ILIKE '%%listen%%' AND "
                              "backend_start >= to_timestamp(%f) - interval '0.5 s'"
                              % self.started_at)
            return int(n or 0) > 0
        except PsqlError:
            return False

    def wait_ready(self, timeout=15):
        """Waits until the daemon LISTENs (seen in pg_stat_activity) or logs
        that it runs, then a little more for its snapshot.  Raises if the
        process exits first."""
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("wafa run exited with %d before it was ready:\n%s" % (
                    self.proc.returncode, self.log()[-4000:]))
            return self._listening() or "listening on" in self.log(current=True)
        if not wait_for(ready, timeout, 0.05):
            raise RuntimeError("wafa run not ready after %ds:\n%s" % (timeout, self.log()[-4000:]))
        # the snapshot may still be loading: let it finish
        wait_for(lambda: "snapshot" in self.log(current=True), 2, 0.05)
        time.sleep(0.2)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status, or None if it had to be killed
        after timeout seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            code = self.proc.returncode
            self.proc = None
            return code
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.proc = None
        return code

    def stop_ok(self, name="wafa run exits 0 within 10 s of SIGTERM"):
        code = self.stop(10)
        return ok(code == 0, name, diag=lambda: "exit status %r (None: killed after 10 s)\n%s"
                  % (code, self.log()[-3000:]))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self, current=False):
        """The daemon's stderr (every run so far, or only the current run)."""
        try:
            with open(self.logfile, "rb") as f:
                if current:
                    f.seek(getattr(self, "log_offset", 0))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_lines(self, *needles, current=False):
        """Log lines containing every needle."""
        return [l for l in self.log(current).splitlines() if all(n in l for n in needles)]


def offline_config(d, rules_dir, templates=None):
    """A wafa.conf in d for commands that need no database (check, test):
    the dsn points at nothing.  Returns its path."""
    path = os.path.join(d, "wafa.conf")
    with open(path, "w") as f:
        f.write(dedent('''
            [database]
            dsn = host=/nonexistent/wafa-test-no-postgres dbname=nothing connect_timeout=1
            [rules]
            dir = %s
            [mail]
            transport = maildir:%s/mail
            from = Support <support@example.com>
            templates = %s
            ; rules/examples/breach-actions.lua notifies it
            [webhook oncall]
            url = http://127.0.0.1:9/oncall
        ''' % (rules_dir, d, templates or os.path.join(SRCDIR, "rules", "templates"))))
    return path


def cli(args, timeout=30, env=None):
    """Runs WAFA_BIN with args; returns CompletedProcess with str output."""
    r = subprocess.run([WAFA_BIN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout, env=env)
    r.stdout = r.stdout.decode("utf-8", errors="replace")
    r.stderr = r.stderr.decode("utf-8", errors="replace")
    return r


def show(r):
    """Diagnostics for a CompletedProcess."""
    return "command: %s\nexit: %s\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(map(str, r.args)), r.returncode, r.stdout, r.stderr)


def helpdesk_file(name):
    """The path of a real helpdesk's release file (like freescout-1.8.145.tar.xz),
    test data kept outside the tree: in $WAFA_HELPDESKS, or a shared/helpdesks
    folder beside the source tree or its parent; None when absent."""
    dirs = [os.environ.get("WAFA_HELPDESKS") or ""]
    dirs += [os.path.join(SRCDIR, up, "shared", "helpdesks") for up in ("..", os.path.join("..", ".."))]
    for d in dirs:
        if d and os.path.isfile(os.path.join(d, name)):
            return os.path.abspath(os.path.join(d, name))
    return None


def require_wafa():
    """Bails out when there is no wafa binary to test."""
    if not os.access(WAFA_BIN, os.X_OK):
        sys.stdout.write("Bail out! no wafa binary at %s (build it first)\n" % WAFA_BIN)
        sys.stdout.flush()
        sys.exit(1)


def breach_rule(name="first-response", target="2s", to='t.owner_email or "lead@example.com"',
                subject='"SLA breached: #" .. t.ref .. " " .. t.subject',
                body='"Ticket #" .. t.ref .. " (" .. t.subject .. ") has had no first reply.\\n"',
                when=None, prefix=""):
    """The Lua text of an sla rule that mails on breach.  to, subject, body
    and when are Lua expressions / function text."""
    when_line = "  when = %s,\n" % when if when else ""
    return (prefix +
            'sla "%s" {\n'
            '  start = "created_at",\n'
            '  stop = "first_reply_at",\n'
            '  target = "%s",\n'
            '%s'
            '  on_breach = function(t, s)\n'
            '    mail { to = %s, subject = %s, body = %s }\n'
            '  end,\n'
            '}\n') % (name, target, when_line, to, subject, body)

