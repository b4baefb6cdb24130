#!/usr/bin/python3
"""The manuals against the code: every config key of core/base/config.c's table has
an entry in wafa.conf(5) with its type, default, reload and an example; every
field of every rule construct (the tables rules/wafa.lua checks declarations
against), of mail{}, of the ticket, firing and customer tables the C side
hands to Lua, every rule-language function and every sandbox global has an
entry in wafa-rules(7); every command and option of core/main.c is in
wafa(8).  Entries for things the code no longer has fail too.  Each Lua
example of wafa-rules(7) is loaded by `wafa check`; each key's example value
is parsed by it.  The pages render without groff warnings, and make install
installs them (dist_man_MANS)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import *  # noqa: E402,F401

PAGES = {"wafa.conf.5": "doc/wafa.conf.5", "wafa-rules.7": "doc/wafa-rules.7",
         "wafa.8": "doc/wafa.8"}


def source(path):
    with open(os.path.join(SRCDIR, path), encoding="utf-8") as f:
        return f.read()


def c_function(text, name):
    """The body of the C function name (from its signature to the closing
    brace at the start of a line)."""
    m = re.search(r"^[a-z][^\n;]*\b%s\([^;{]*\)\s*\{(.*?)^\}" % re.escape(name), text,
                  re.M | re.S)
    if not m:
        raise AssertionError("cannot find the C function %s; update tests/integration/"
                             "manuals.py" % name)
    return m.group(1)


def c_array(text, name):
    """The string literals of the C array name[] = { ... };"""
    m = re.search(r"\b%s\[[^\]]*\]\s*=\s*\{(.*?)\};" % re.escape(name), text, re.S)
    if not m:
        raise AssertionError("cannot find the C array %s; update tests/integration/"
                             "manuals.py" % name)
    return re.findall(r'"(\w+)"', m.group(1))


# ---------------------------------------------------------------- troff

def unescape(s):
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)
    s = s.replace("\\(dq", '"').replace("\\(bu", "*").replace("\\-", "-").replace("\\e", "\\")
    s = s.replace("\\&", "").replace("\\ ", " ").replace("\\(em", "--")
    return s


def macro_args(rest):
    args, cur, quoted, any_ = [], "", False, False
    for ch in rest:
        if ch == '"':
            quoted = not quoted
            any_ = True
        elif ch in " \t" and not quoted:
            if cur or any_:
                args.append(cur)
            cur, any_ = "", False
        else:
            cur += ch
    if cur or any_:
        args.append(cur)
    return args


def text_of(line):
    """A line of man source as the words it shows."""
    if line.startswith(".\\\"") or line.startswith("'\\\""):
        return ""
    m = re.match(r"\.(B|I|SM|SB)\s+(.*)", line)
    if m:
        return unescape(" ".join(macro_args(m.group(2))))
    m = re.match(r"\.(BI|BR|IB|IR|RB|RI)\s+(.*)", line)
    if m:
        return unescape("".join(macro_args(m.group(2))))
    if line.startswith("."):
        return ""
    return unescape(line)


class Page:
    """A man page cut into sections (.SH and .SS), each with its tagged
    paragraphs (.TP/.TQ tag, body lines)."""

    def __init__(self, path):
        self.path = path
        self.lines = source(path).split("\n")
        self.sections = []  # [heading, [(tag, [body lines])], [lines]]
        cur = ["", [], []]
        self.sections.append(cur)
        i, n = 0, len(self.lines)
        while i < n:
            line = self.lines[i]
            m = re.match(r"\.S[HS]\s+(.*)", line)
            if m:
                cur = [unescape(" ".join(macro_args(m.group(1)))), [], []]
                self.sections.append(cur)
            elif re.match(r"\.(TP|TQ)\b", line) and i + 1 < n:
                i += 1
                cur[1].append([text_of(self.lines[i]), []])
            else:
                cur[2].append(line)
                if cur[1] and not re.match(r"\.(PP|SH|SS|P|LP)\b", line):
                    cur[1][-1][1].append(line)
                elif re.match(r"\.(PP|P|LP)\b", line):
                    cur[1].append(["", []])  # the tagged list ends
            i += 1

    def section(self, heading):
        for h, tags, lines in self.sections:
            if h.lower() == heading.lower():
                return tags, lines
        return None, None

    def headings(self):
        return [h for h, _, _ in self.sections]

    def text(self, lines):
        return " ".join(t for t in (text_of(l) for l in lines) if t)

    def examples(self):
        """The .EX blocks, each (lines, kind): kind "lua" (a rule file),
        "not lua" or "test" (a rule test), as the comment line before the
        .EX says."""
        out, block, kind, prev = [], None, "lua", ""
        for line in self.lines:
            if line.startswith(".EX"):
                block = []
                kind = ("not lua" if prev.strip() == '.\\" not lua' else
                        "test" if prev.startswith('.\\"') and "rule test" in prev else "lua")
            elif line.startswith(".EE"):
                out.append((block, kind))
                block = None
            elif block is not None:
                block.append(unescape(line))
            prev = line
        return out


def first_word(tag):
    m = re.match(r"\s*\[?\"?([\w.]+)", tag)
    return m.group(1) if m else ""


def tag_words(tags):
    words = set()
    for tag, _ in tags:
        words.update(re.findall(r"[A-Za-z_][\w.]*", tag))
    return words


# ---------------------------------------------------------------- the code's lists

KEY_LINE = re.compile(r'\s*K\("(\w+)", "(\w+)", (T_\w+), \w+, '
                      r'(NULL|"[^"]*"|(?:PKGDATADIR|SYSCONFDIR) "[^"]*"), (true|false)\),'
                      r'\s*(/\*.*\*/)?\s*$')
DIRS = {"PKGDATADIR": "/usr/share/wafa", "SYSCONFDIR": "/etc"}

# the words wafa.conf(5) writes after "key = " for each type of the table
TYPE_WORDS = {
    "T_STRING": {"string", "name", "path", "url", "address", "locale", "zone"},
    "T_DURATION": {"duration"}, "T_SIZE": {"size"}, "T_COUNT": {"number"},
    "T_BOOL": {"yes/no"}, "T_RATE": {"N/duration"}, "T_SPAN": {"HH:MM-HH:MM"},
    "T_STARTTLS": {"off|optional|required"}, "T_LEVEL": {"debug|info|warn|error"},
}


def config_keys():
    text = source("core/base/config.c")
    m = re.search(r"static const struct key keys\[\] = \{\n(.*?)\n\};", text, re.S)
    if not m:
        raise AssertionError("core/base/config.c: the keys[] table is not where the test looks")
    keys, unread = [], []
    for line in m.group(1).split("\n"):
        if not line.strip() or line.strip().startswith("/*"):
            continue
        k = KEY_LINE.match(line)
        if not k:
            unread.append(line.strip())
            continue
        default = k.group(4)
        if default == "NULL":
            default = None
        else:
            for macro, path in DIRS.items():
                default = default.replace('%s "' % macro, '"' + path)
            default = default.strip('"')
        keys.append(dict(section=k.group(1), name=k.group(2), type=k.group(3),
                         default=default, reload=k.group(5) == "true"))
    return keys, unread


def lua_table_fields(text, name):
    m = re.search(r"local %s = \{(.*?)\n?\}" % re.escape(name), text, re.S)
    if not m:
        return None
    return (re.findall(r"(?<![\w\"])([a-z_]\w*) = true", m.group(1)) +
            re.findall(r'\["(\w+)"\] = true', m.group(1)))


def rule_lists():
    """{what: ([names], section heading)} from the rule language's code, and
    the constructs among them."""
    wafa_lua = source("rules/wafa.lua")
    rules_c = source("core/lua/rules.c")
    ticket_c = source("core/sync/ticket.c")
    lists = {}
    for construct, table in re.findall(r'check_fields\("(\w+)", name, spec, (\w+)', wafa_lua):
        fields = lua_table_fields(wafa_lua, table)
        if fields is None:
            raise AssertionError("rules/wafa.lua: cannot read the table %s of %s" %
                                 (table, construct))
        lists[construct] = (fields, "%s fields" % construct)
    constructs = list(lists)
    mail = c_function(rules_c, "api_mail")
    lists["mail"] = (re.findall(r'mail_field\(L, "(\w+)"', mail) +
                     re.findall(r'lua_getfield\(L, 1, "(\w+)"\)', mail), "mail fields")
    push = c_function(ticket_c, "wafa_ticket_push")
    lists["ticket"] = (re.findall(r'lua_setfield\(L, -2, "(\w+)"\)', push) +
                       c_array(ticket_c, "wafa_ticket_str_names") +
                       c_array(ticket_c, "wafa_ticket_time_names"), "TICKET FIELDS")
    firing = re.findall(r'"(\w+)"', c_function(rules_c, "push_firing"))
    firing += re.findall(r'lua_setfield\(L, -2, "(\w+)"\)',
                         c_function(rules_c, "wafa_rules_run_offer"))
    lists["firing"] = (firing, "FIRING FIELDS")
    lists["customer"] = (re.findall(r'\{ "(\w+)", c->', c_function(rules_c, "push_customer")),
                         "CUSTOMER FIELDS")
    # the test language of wafa test
    ruletest = source("rules/ruletest.lua")
    for what, table, heading in (("test", "TEST_OPTIONS", "test fields"),
                                 ("t.expect", "EVENT_FIELDS", "expect fields"),
                                 ("t.expect_mail", "MAIL_FIELDS", "expect_mail fields")):
        fields = lua_table_fields(ruletest, table)
        if fields is None:
            raise AssertionError("rules/ruletest.lua: cannot read the table %s" % table)
        lists[what] = (fields, heading)
    lists["t"] = (["t." + n for n in re.findall(r"^\s*function t\.(\w+)", ruletest, re.M)],
                  "test functions")
    return lists, constructs


def rule_functions():
    """Names a rule file can call: the API table's (rules/wafa.lua and the C
    side's), and the wafa table's."""
    wafa_lua = source("rules/wafa.lua")
    names = re.findall(r"^function api\.(\w+)", wafa_lua, re.M)
    names += re.findall(r"^api\.(\w+) =", wafa_lua, re.M)
    prelude = c_function(source("core/lua/rules.c"), "load_prelude")
    after = prelude.find('"=rules/promise.lua"')  # then the wafa table's own
    for m in re.finditer(r'lua_push(?:c|cclosure)\w*\(L, api_\w+[^;]*;\s*'
                         r'lua_setfield\(L, -2, "(\w+)"\)', prelude):
        names.append(("wafa." if m.start() > after else "") + m.group(1))
    names += ["wafa." + n for n in
              re.findall(r"^function wafa\.(\w+)", source("rules/promise.lua"), re.M)]
    return names


def sandbox_globals():
    text = source("core/lua/sandbox.c")
    names = c_array(text, "base_allowed") + c_array(text, "libs_allowed")
    names += re.findall(r'lua_pushcfunction\(L, sandbox_\w+\);\s*lua_setfield\(L, -2, "(\w+)"\)',
                        c_function(text, "setup"))
    return names


def commands_and_options():
    text = source("core/main.c")
    commands = sorted(set(re.findall(r'strcmp\(command, "(\w+)"\)', text)))
    options = re.findall(r'\{ "([\w-]+)", (?:no|required|optional)_argument', text)
    return commands, options


# ---------------------------------------------------------------- checks

def check_config(conf):
    keys, unread = config_keys()
    ok(not unread, "every line of config.c's key table is read (%d keys)" % len(keys),
       diag="lines the test cannot read (update KEY_LINE in tests/integration/manuals.py):\n" +
       "\n".join(unread))
    ok(len(keys) >= 30, "config.c's table has the keys (%d)" % len(keys))
    known = {(k["section"], k["name"]) for k in keys}
    for section in sorted({k["section"] for k in keys}):
        tags, _ = conf.section("[%s]" % section)
        ok(tags is not None, "wafa.conf(5) has a section [%s]" % section,
           diag="add .SH \"[%s]\" to doc/wafa.conf.5" % section)
    for k in keys:
        where = "[%s] %s" % (k["section"], k["name"])
        tags, _ = conf.section("[%s]" % k["section"])
        entry = [t for t in (tags or []) if first_word(t[0]) == k["name"]]
        if not ok(len(entry) == 1, "wafa.conf(5) documents %s" % where,
                  diag="doc/wafa.conf.5 has %d entries for %s: add one .TP entry, "
                  "'.BI \"%s = \" TYPE', under .SH \"[%s]\"" %
                  (len(entry), where, k["name"], k["section"])):
            continue
        tag, body = entry[0]
        text = conf.text(body)
        problems = []
        m = re.match(r"%s = (\S+)$" % re.escape(k["name"]), tag.strip())
        if not m or m.group(1) not in TYPE_WORDS.get(k["type"], ()):
            problems.append("the tag \"%s\" should be \"%s = TYPE\" with TYPE one of %s (%s)" %
                            (tag, k["name"], sorted(TYPE_WORDS.get(k["type"], {"?"})), k["type"]))
        if k["default"] is None:
            want = "Required"
        else:
            want = "Default: %s" % (k["default"] or "empty")
        if not re.search(r"(^|\s)%s(\s|[.;(])" % re.escape(want), text):
            problems.append("the entry does not say \"%s\"" % want)
        want = "reload applies it" if k["reload"] else "change needs a restart"
        if want not in text:
            problems.append("the entry does not say \"%s\" (reload is %s in the table)" %
                            (want, "true" if k["reload"] else "false"))
        if "Example:" not in text or not re.search(r"\n%s = \S" % re.escape(k["name"]),
                                                  "\n" + "\n".join(body)):
            problems.append("no \"Example:\" with a line \"%s = ...\"" % k["name"])
        ok(not problems, "%s: type, default, reload and example as the table says" % where,
           diag="\n".join(problems))
    stale = []
    for heading, tags, _ in conf.sections:
        m = re.match(r"\[(\w+)\]$", heading)
        if not m:
            continue
        for tag, _ in tags:
            if (m.group(1), first_word(tag)) not in known:
                stale.append("[%s] %s" % (m.group(1), first_word(tag)))
    ok(not stale, "wafa.conf(5) documents no key the code lacks",
       diag="in doc/wafa.conf.5 but not in core/base/config.c: " + ", ".join(stale))
    return keys


def check_example_file(keys):
    """contrib/wafa.conf.example (installed as /etc/wafa/wafa.conf.example,
    which wafa.conf(5) says holds every key with its default) has every key,
    set to its default or, for an installation path, commented out."""
    found, section = {}, None
    for line in source("contrib/wafa.conf.example").split("\n"):
        m = re.match(r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"(;?)(\w+)\s*=(.*)$", line)
        if m and section:
            value = re.sub(r"(^|\s);.*$", "", m.group(3)).strip()  # inih's inline comment
            found[(section, m.group(2))] = (m.group(1), value)
    problems = []
    for k in keys:
        got = found.get((k["section"], k["name"]))
        if got is None:
            problems.append("[%s] %s is missing" % (k["section"], k["name"]))
        elif k["default"] is not None and not got[0] and got[1] != k["default"]:
            problems.append("[%s] %s = %s, but its default is \"%s\"" %
                            (k["section"], k["name"], got[1], k["default"]))
    ok(not problems, "contrib/wafa.conf.example has every key with its default",
       diag="\n".join(problems))


def check_config_examples(conf, keys):
    """Each key's example value is parsed by wafa check (a type error there
    is reported as [section] key = "value": why)."""
    bad = []
    w = Wafa(None, "smtp://127.0.0.1:25")
    for k in keys:
        tags, _ = conf.section("[%s]" % k["section"])
        body = next((b for t, b in tags or [] if first_word(t) == k["name"]), [])
        lines = [unescape(l) for l in body if re.match(r"%s = " % re.escape(k["name"]), l)]
        if not lines:
            continue
        value = lines[0].split(" = ", 1)[1]
        w.settings.setdefault(k["section"], {})
        saved = w.settings[k["section"]].get(k["name"])
        w.settings[k["section"]][k["name"]] = value
        w.write_config()
        r = w.check()
        mark = '[%s] %s = "%s":' % (k["section"], k["name"], value)
        if mark in r.stderr or "unknown key" in r.stderr:
            bad.append(r.stderr.strip())
        if saved is None:
            del w.settings[k["section"]][k["name"]]
        else:
            w.settings[k["section"]][k["name"]] = saved
    ok(not bad, "wafa check accepts the value of each key's example in wafa.conf(5)",
       diag="\n".join(bad))
    known = {(k["section"], k["name"]) for k in keys}
    _, lines = conf.section("EXAMPLE")
    section, unknown = None, []
    for line in (lines or []):
        line = unescape(line)
        m = re.match(r"\[(\w+)\]$", line)
        if m:
            section = m.group(1)
        m = re.match(r"(\w+) = ", line)
        if m and (section, m.group(1)) not in known:
            unknown.append("[%s] %s" % (section, m.group(1)))
    ok(lines and not unknown, "wafa.conf(5)'s EXAMPLE uses known keys only",
       diag="unknown: " + ", ".join(unknown))
    # and it is valid as a whole, with the adapters of the source tree and an
    # empty rules folder
    text, section, inside = [], None, False
    for line in (lines or []):
        if line.startswith((".EX", ".EE")):
            inside = line.startswith(".EX")
        if line.startswith(".") or not inside:
            continue
        line = unescape(line)
        m = re.match(r"\[(\w+)\]$", line)
        if m:
            section = m.group(1)
        if section == "rules" and line.startswith("dir = "):
            line = "dir = " + w.rules_dir
        # what make install puts there is in the source tree here
        line = line.replace("/usr/share/wafa/templates", os.path.join(SRCDIR, "rules", "templates"))
        text.append(line)
        if m and section == "helpdesk":
            text.append("adapters = " + os.path.join(SRCDIR, "plugins", "adapters"))
    w.write_config("\n".join(text) + "\n")
    r = w.check()
    ok(r.returncode == 0, "wafa check accepts wafa.conf(5)'s EXAMPLE", diag=show(r) +
       "\n" + "\n".join(text))


def check_rules(rules):
    lists, constructs = rule_lists()
    ok(all(c in lists for c in ("sla", "promise", "followup", "offer", "calendar")),
       "the constructs are read from rules/wafa.lua (%s)" % ", ".join(sorted(lists)))
    for what, (names, heading) in sorted(lists.items()):
        tags, _ = rules.section(heading)
        if not ok(tags is not None, "wafa-rules(7) has a section \"%s\"" % heading,
                  diag="add .SS \"%s\" (or .SH) with a .TP entry per field to doc/wafa-rules.7"
                  % heading):
            continue
        words = tag_words(tags)
        missing = [n for n in dict.fromkeys(names) if n not in words]
        ok(not missing, "wafa-rules(7) documents every %s field (%d)" % (what, len(set(names))),
           diag="no .TP entry under \"%s\" in doc/wafa-rules.7 for: %s" %
           (heading, ", ".join(missing)))
        stale = [first_word(t) for t, _ in tags if t and first_word(t) not in names]
        ok(not stale, "wafa-rules(7) documents no %s field the code lacks" % what,
           diag="under \"%s\" but not in the code: %s" % (heading, ", ".join(stale)))
    # the loader's own word: an unknown field is reported with the known ones
    w = Wafa(None, "smtp://127.0.0.1:25")
    for construct in sorted(constructs):
        w.write_rule("probe.lua", '%s "probe" { no_such_field_zz = 1 }\n' % construct)
        r = w.check()
        m = re.search(r"known: (.*)\)\s*$", r.stderr, re.M)
        reported = set(re.findall(r"[a-z_]+", m.group(1))) if m else set()
        ok(m and set(lists[construct][0]) <= reported,
           "the fields read for %s are those wafa check reports as known" % construct,
           diag="read from rules/wafa.lua: %s\n%s" % (sorted(lists[construct][0]), show(r)))
    tags, _ = rules.section("FUNCTIONS")
    funcs = rule_functions()
    documented = {re.match(r"[\w.]+", t.strip()).group(0) for t, _ in (tags or []) if t.strip()}
    missing = [f for f in funcs if f not in documented]
    ok(tags and len(funcs) >= 12 and not missing,
       "wafa-rules(7) FUNCTIONS documents every function a rule can call (%d)" % len(funcs),
       diag="missing: %s (from rules/wafa.lua, rules/promise.lua, core/lua/rules.c)" %
       ", ".join(missing))
    _, lines = rules.section("SANDBOX")
    text = rules.text(lines or [])
    names = sandbox_globals()
    missing = [n for n in names if not re.search(r"(^|[\s(,])%s($|[\s,;.)])" % re.escape(n),
                                                 text)]
    ok(lines and len(names) >= 15 and not missing,
       "wafa-rules(7) SANDBOX names every global the sandbox gives (%d)" % len(names),
       diag="missing: %s (from core/lua/sandbox.c)" % ", ".join(missing))


def check_rule_examples(rules):
    blocks = [b for b, kind in rules.examples() if kind == "lua"]
    tests = [b for b, kind in rules.examples() if kind == "test"]
    ok(len(blocks) >= 8, "wafa-rules(7) has Lua examples (%d)" % len(blocks))
    w = Wafa(None, "smtp://127.0.0.1:25",
             conf={"mail.templates": os.path.join(SRCDIR, "rules", "templates"),
                   "webhook oncall.url": "http://127.0.0.1:9/oncall"})
    for i, block in enumerate(blocks, 1):
        w.write_rule("%02d.lua" % i, "\n".join(block) + "\n")
    r = w.check()
    ok(r.returncode == 0 and not r.stderr.strip(),
       "wafa check loads every example of wafa-rules(7), in order", diag=show(r) +
       "\n(NN.lua is the NNth .EX block of doc/wafa-rules.7)")
    declared = sum(len(re.findall(r'^\s*(?:sla|promise|followup|offer)\s*\(?"', "\n".join(b),
                                  re.M)) for b in blocks)
    m = re.search(r"; (\d+) rule\(s\)", r.stdout)
    ok(m and int(m.group(1)) >= declared,
       "and every rule they declare is loaded (%s of at least %d)" %
       (m.group(1) if m else "?", declared), diag=show(r))
    for i, block in enumerate(tests, 1):
        w.write_rule("manual%d_test.lua" % i, "\n".join(block) + "\n")
    r = w.command("test", timeout=120)
    passed = re.findall(r"^ok \d+", r.stdout, re.M)
    ok(tests and r.returncode == 0 and len(passed) >= len(tests),
       "wafa test passes the rule tests of wafa-rules(7) (%d) over its rules" % len(tests),
       diag=show(r))


def check_cookbook(rules):
    """Every example rule file shipped is named in wafa-rules(7) EXAMPLES."""
    folder = os.path.join(SRCDIR, "rules", "examples")
    shipped = sorted(f for f in os.listdir(folder)
                     if f.endswith(".lua") and not f.endswith("_test.lua"))
    tags, _ = rules.section("EXAMPLES")
    named = {t.strip() for t, _ in (tags or [])}
    missing = [f for f in shipped if f not in named]
    ok(shipped and not missing, "wafa-rules(7) EXAMPLES names every example in rules/examples "
       "(%d)" % len(shipped), diag="add a .TP entry \".I NAME.lua\" for: " + ", ".join(missing))
    stale = [n for n in named if n.endswith(".lua") and n not in shipped]
    ok(not stale, "wafa-rules(7) EXAMPLES names no example that is not shipped",
       diag=", ".join(stale))


def check_commands(page):
    commands, options = commands_and_options()
    r = cli(["--help"])
    told = re.findall(r"^  ([a-z]+) {2,}", r.stdout, re.M)
    r = cli(["no-such-command-zz"])
    m = re.search(r"\(use ([^)]*)\)", r.stderr)
    told += [w for w in re.findall(r"[a-z]+", m.group(1)) if w != "or"] if m else []
    ok(told and set(told) <= set(commands),
       "the commands wafa --help and an unknown command name are among those read",
       diag="named by the binary: %s; read from core/main.c: %s" % (sorted(set(told)), commands))
    commands = sorted(set(commands) | set(told))
    ok(len(commands) >= 6, "the commands are read from core/main.c (%s)" % ", ".join(commands))
    tags, _ = page.section("COMMANDS")
    documented = [first_word(t) for t, _ in (tags or [])]
    _, syn = page.section("SYNOPSIS")
    synopsis = page.text(syn or [])
    for c in commands:
        ok(c in documented and re.search(r"\bwafa %s\b" % c, synopsis),
           "wafa(8) documents the command %s (COMMANDS and SYNOPSIS)" % c,
           diag="add a .TP entry \".B %s\" under .SH COMMANDS and a line to .SH SYNOPSIS of "
           "doc/wafa.8" % c)
    stale = [d for d in documented if d not in commands]
    ok(not stale, "wafa(8) documents no command the code lacks",
       diag="in COMMANDS but not in core/main.c: " + ", ".join(stale))
    text = page.text(page.lines)
    missing = [o for o in options if "--" + o not in text]
    ok(not missing, "wafa(8) names every long option of core/main.c (%d)" % len(options),
       diag="missing: " + ", ".join("--" + o for o in missing))


def check_rendering():
    groff = shutil.which("groff")
    man = shutil.which("man")
    for name, path in PAGES.items():
        full = os.path.join(SRCDIR, path)
        if groff:
            r = subprocess.run([groff, "-man", "-ww", "-z", full], capture_output=True,
                               text=True, env=dict(os.environ, LC_ALL="C"))
            ok(r.returncode == 0 and not r.stderr, "%s: groff -man -ww -z warns of nothing" %
               name, diag=r.stderr)
        else:
            skip("%s: groff -man -ww -z" % name, "groff is not installed (groff-base)")
        if man:
            r = subprocess.run([man, "-l", full], capture_output=True, text=True,
                               env=dict(os.environ, LC_ALL="C", MANWIDTH="80",
                                        MAN_KEEP_FORMATTING="", MANPAGER="cat", PAGER="cat"))
            ok(r.returncode == 0 and not r.stderr and len(r.stdout) > 1000,
               "%s: man -l renders it in the C locale, no warnings" % name, diag=r.stderr)
        else:
            skip("%s: man -l" % name, "man is not installed (man-db)")


def check_installed():
    mk = source("Makefile.am")
    m = re.search(r"^dist_man_MANS\s*=\s*((?:.*\\\n)*.*)$", mk, re.M)
    listed = m.group(1).replace("\\\n", " ").split() if m else []
    for name, path in PAGES.items():
        ok(path in listed, "make install installs %s (dist_man_MANS)" % name,
           diag="dist_man_MANS = %s" % " ".join(listed))


def main():
    require_wafa()
    conf = Page(PAGES["wafa.conf.5"])
    rules = Page(PAGES["wafa-rules.7"])
    cmd = Page(PAGES["wafa.8"])
    keys = check_config(conf)
    check_config_examples(conf, keys)
    check_example_file(keys)
    check_rules(rules)
    check_rule_examples(rules)
    check_cookbook(rules)
    check_commands(cmd)
    check_rendering()
    check_installed()


run(main)
