/* wafa: the command line. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/config.h"
#include "base/hugepage.h"
#include "paths.h"
#include "daemon.h"
#include "base/log.h"
#include "base/secret.h"
#include "lua/rules.h"
#include "lua/sandbox.h"
#include "store/schema.h"
#include "tools/doctor.h"
#include "tools/ruletest.h"
#include "tools/parked.h"
#include "tools/simulate.h"
#include "tools/report.h"
#include "tools/status.h"
#include "tools/apicall.h"
#include "api/api.h"
#include "mail/template.h"
#include "http/dispatch.h"
#include "time/zone.h"

#define DEFAULT_CONFIG SYSCONFDIR "/wafa/wafa.conf"

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: wafa COMMAND [-c FILE]\n"
	        "       wafa check [-c FILE] [--allow-disabled]\n"
	        "       wafa simulate [-c FILE] --from TIME --to TIME [--json] [--tz ZONE]\n"
	        "       wafa simulate [-c FILE] --first-start\n"
	        "       wafa setup [-c FILE] [--user ROLE] [--dry-run] [--uninstall [--purge]]\n"
	        "       wafa report [-c FILE] --from DATE --to DATE [--by queue|priority|rule|owner|agent]\n"
	        "                   [--format html|csv|json] [--locale LOCALE] [-o FILE]\n"
	        "       wafa test [-c FILE] [--mutate] [PATH...]\n"
	        "       wafa outbox [-c FILE] list [--status failed|skipped|queued] [--rule R]\n"
	        "       wafa outbox [-c FILE] retry KEY | --rule R | --failed-since TIME\n"
	        "       wafa api [-c FILE] --ticket ID --payload JSON [--key KEY [--lookup]]\n"
	        "                [--json] [--send]\n"
	        "       wafa --version | --help\n"
	        "\n"
	        "wafa keeps a support team's promises: it watches a helpdesk's tickets in\n"
	        "PostgreSQL, runs the rules in rules.d/*.lua, and sends the mail they ask for.\n"
	        "\n"
	        "Commands:\n"
	        "  run     run the daemon (logs to stderr; SIGTERM or SIGINT stops it)\n"
	        "  check   validate the config and every rule file; print each problem\n"
	        "          as file:line: message; exit 0 only if all is well, 65 if some\n"
	        "          rule or template files have problems (run disables them and runs\n"
	        "          the rest; --allow-disabled: exit 0), 78 if the config is broken\n"
	        "  setup   create or upgrade wafa's own schema and install the adapter's view\n"
	        "          and triggers; --dry-run prints the SQL and changes nothing;\n"
	        "          --uninstall removes the adapter's triggers and view (--purge also\n"
	        "          drops wafa's schema and records); --user ROLE connects as ROLE\n"
	        "          (the database's owner) instead of the dsn's user\n"
	        "  doctor  check a live installation, one line per check; exit 0 only if all pass\n"
	        "  status  which wafa leads (instances on one database: one sends, the others\n"
	        "          wait on standby and take over when it stops)\n"
	        "  simulate  run the rules on virtual time over the current tickets and\n"
	        "          print every transition and mail from --from to --to (RFC 3339,\n"
	        "          a date, or now, now+7d, now-1d); sends and writes nothing;\n"
	        "          --first-start: the mails a start now would send and hold back\n"
	        "          (the go-live guard), by rule and audience\n"
	        "  report  the service report from wafa's records, week by week from --from\n"
	        "          to --to: SLA compliance against goals, business times, promises,\n"
	        "          surveys, opt-outs, mails; HTML with charts (default), CSV or JSON\n"
	        "  test    run the rule tests (NAME_test.lua in PATH, or beside the rules)\n"
	        "          on virtual time; prints TAP; exit 0 only if every test passed;\n"
	        "          --mutate changes each duration and percentage of the rules in\n"
	        "          turn and lists every change no test notices\n"
	        "  outbox  list: the mail parked in the outbox (failed, or held back) and why;\n"
	        "          retry: queue failed mail again once its template or address is fixed\n"
	        "  api     the request a ticket action becomes for the helpdesk's API ([api]\n"
	        "          in the config), secrets masked; --send sends it once and prints\n"
	        "          the outcome (exit 0 done, 65 the API cannot do it, 76 refused,\n"
	        "          75 unreachable or busy); --key marks a note with an outbox\n"
	        "          row's key, --lookup looks for that note (0 found, 1 not)\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE   the config file (default %s)\n"
	        "      --json          simulate: one JSON object per line\n"
	        "      --tz ZONE       simulate: times in ZONE (Africa/Cairo), not UTC\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       the version\n"
	        "\n"
	        "Manuals: wafa(8), wafa.conf(5) (every key), wafa-rules(7) (the rule language).\n",
	        DEFAULT_CONFIG);
}

/* Loads the config, reporting problems.  Returns 0 or a sysexits code. */
static int load_config(const char *path, struct wafa_config *cfg)
{
	int err = wafa_config_load(path, cfg, stderr);

	if (err == -EINVAL)
		return EX_CONFIG;
	if (err) {
		fprintf(stderr, "wafa: cannot read the config file %s: %s\n", path, wafa_strerror(err));
		return err == -ENOENT || err == -EACCES ? EX_NOINPUT : EX_IOERR;
	}
	return 0;
}

/* Does a rule file (not a test) in dir name a ticket action, `ticket {`
 * or `ticket(`?  A text scan, as `wafa check` runs no rule. */
static bool rules_use_ticket_actions(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char *path = NULL, line[4096];
		FILE *f;
		if (n < 5 || strcmp(e->d_name + n - 4, ".lua") != 0 ||
		    (n > 9 && strcmp(e->d_name + n - 9, "_test.lua") == 0) ||
		    asprintf(&path, "%s/%s", dir, e->d_name) < 0)
			continue;
		f = fopen(path, "re");
		free(path);
		while (f && !found && fgets(line, sizeof(line), f)) {
			for (char *p = strstr(line, "ticket"); p && !found; p = strstr(p + 1, "ticket")) {
				char *q = p + 6;
				if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
					continue;
				q += strspn(q, " \t");
				found = *q == '{' || *q == '(';
			}
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* Ticket actions: whether they can go through the helpdesk's API (a note
 * on standard output when not), and whether the token file is there and
 * private (problems).  Returns the problems. */
static int check_api(const struct wafa_config *cfg)
{
	const char *missing = wafa_api_missing(cfg);
	bool used = rules_use_ticket_actions(cfg->rules_dir);
	char why[512];
	int fd, problems = 0;

	/* a notice, not a problem: such actions are parked, the rest runs */
	if (missing && (used || cfg->api_url[0]))
		printf("%s: note: %s%s\n", cfg->path,
		       used ? "rules use ticket actions, but " : "[api]: ", missing);
	if (missing || !cfg->api_token_file[0])
		return 0;
	fd = open(cfg->api_token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "%s: [api] token_file %s: %s (ticket actions would be parked)\n",
		        cfg->path, cfg->api_token_file, strerror(errno));
		problems++;
	} else if (wafa_secret_check(fd, cfg->api_token_file, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: [api] token_file: %s\n", cfg->path, why);
		problems++;
	}
	if (fd >= 0)
		close(fd);
	return problems;
}

/* Exits EX_CONFIG when the config (or the rules folder) is broken: wafa
 * run would not start; EX_DATAERR when some rule or template files have
 * problems: wafa run disables them and runs the others (with
 * allow_disabled, as the unit's ExecStartPre runs it, that is 0). */
static int cmd_check(struct wafa_config *cfg, bool allow_disabled)
{
	struct wafa_sandbox *sb = NULL;
	struct wafa_rules *rules = NULL;
	int code = EX_OK, problems;

	if (wafa_sandbox_open((size_t)cfg->rules_memory, cfg->rules_budget_ms, &sb) != 0 ||
	    wafa_rules_open(sb, &rules) != 0) {
		fprintf(stderr, "wafa check: cannot start the Lua host\n");
		code = EX_SOFTWARE;
		goto out;
	}
	problems = wafa_rules_load_dir(rules, cfg->rules_dir, stderr);
	if (problems >= 0)
		problems += wafa_template_check_rules(cfg->rules_dir, cfg->templates, stderr) +
		            wafa_dispatch_check_rules(cfg, cfg->rules_dir, stderr);
	if (problems >= 0 && cfg->templates[0]) {
		/* every template parses, and each has a default_locale version */
		int t = wafa_template_check_dir(cfg->templates, cfg->default_locale, stderr);
		if (t < 0) {
			fprintf(stderr, "%s: [mail] templates %s cannot be read: %s\n", cfg->path,
			        cfg->templates, wafa_strerror(t));
			t = 1;
		}
		problems += t;
	}
	if (problems >= 0)
		problems += check_api(cfg);
	if (problems < 0) {
		code = EX_CONFIG;
	} else if (problems > 0) {
		fprintf(stderr, "wafa check: %d problem(s) in rule or template files; wafa run "
		                "disables a broken rule file and runs the rest%s\n",
		        problems, allow_disabled ? "" : " (exit 65; with --allow-disabled, 0)");
		code = allow_disabled ? EX_OK : EX_DATAERR;
	} else {
		printf("wafa check: %s is valid; %d rule(s) in %s\n", cfg->path, rules->nrules,
		       cfg->rules_dir);
	}
out:
	wafa_rules_close(rules);
	wafa_sandbox_close(sb);
	return code;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "first-start", no_argument, NULL, 'S' },
		{ "allow-disabled", no_argument, NULL, 'A' },
		{ "tz", required_argument, NULL, 'z' },
		{ "rule", required_argument, NULL, 'r' },
		{ "failed-since", required_argument, NULL, 'T' },
		{ "status", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'U' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "uninstall", no_argument, NULL, 'u' },
		{ "purge", no_argument, NULL, 'p' },
		{ "by", required_argument, NULL, 'b' },
		{ "format", required_argument, NULL, 'F' },
		{ "locale", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "mutate", no_argument, NULL, 'M' },
		{ "ticket", required_argument, NULL, 'I' },
		{ "payload", required_argument, NULL, 'P' },
		{ "send", no_argument, NULL, 'X' },
		{ "key", required_argument, NULL, 'K' },
		{ "lookup", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG, *tz = NULL, *command, *from_text = NULL, *to_text = NULL;
	bool json = false, first_start = false, allow_disabled = false, mutations = false;
	unsigned setup_flags = 0;
	const char *setup_user = NULL;
	int64_t from = 0, to = 0;
	struct wafa_config cfg = { 0 };
	int opt, code;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+c:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("wafa %s\n", PACKAGE_VERSION);
			return EX_OK;
		default:
			if (optopt == 'c')
				fprintf(stderr, "wafa: -c needs a file name\n");
			else
				fprintf(stderr, "wafa: unknown option \"%s\"\n", argv[optind - 1]);
			fprintf(stderr, "Try 'wafa --help'.\n");
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	command = argv[optind++];
	bool simulate = strcmp(command, "simulate") == 0;
	bool report = strcmp(command, "report") == 0;
	bool test = strcmp(command, "test") == 0;
	bool outbox = strcmp(command, "outbox") == 0;
	bool api = strcmp(command, "api") == 0;
	const char *api_ticket = NULL, *api_payload = NULL, *api_key = NULL;
	bool api_send = false, api_lookup = false;
	struct wafa_parked_filter pf = { 0 };
	const char *since_text = NULL;
	struct wafa_report_opts ropts = { 0 };
	const char *report_path = NULL;
	if (!test && !outbox && !api && strcmp(command, "run") != 0 && strcmp(command, "check") != 0 &&
	    strcmp(command, "setup") != 0 && strcmp(command, "doctor") != 0 &&
	    strcmp(command, "status") != 0 && !simulate && !report) {
		fprintf(stderr, "wafa: unknown command \"%s\" (use run, check, setup, doctor, status, "
		                "simulate, report, test, outbox or api)\n",
		        command);
		return EX_USAGE;
	}
	/* before argv is reordered below: executed again with glibc's huge
	 * pages (base/hugepage.h), a fifth off a cold start's CPU */
	if (strcmp(command, "run") == 0)
		wafa_hugepage_exec(argv);
	/* options may also follow the command: wafa run -c FILE */
	optind--;
	argv[optind] = argv[0];
	argc -= optind;
	argv += optind;
	/* 0, not 1: glibc starts afresh, forgetting the first pass's "+" (stop
	 * at the first argument), so options may also follow arguments:
	 * wafa outbox retry KEY -c FILE */
	optind = 0;
	while ((opt = getopt_long(argc, argv, report ? "c:o:" : "c:", options, NULL)) != -1) {
		if (opt == 'c') {
			path = optarg;
			continue;
		}
		if (strcmp(command, "setup") == 0 && opt == 'U') {
			setup_user = optarg;
			continue;
		}
		if (strcmp(command, "setup") == 0 && (opt == 'd' || opt == 'u' || opt == 'p')) {
			setup_flags |= opt == 'd' ? WAFA_SETUP_DRY_RUN
			             : opt == 'u' ? WAFA_SETUP_UNINSTALL : WAFA_SETUP_PURGE;
			continue;
		}
		if (test && opt == 'M') {
			mutations = true;
			continue;
		}
		if (outbox && (opt == 'r' || opt == 'T' || opt == 's')) {
			if (opt == 'r')
				pf.rule = optarg;
			else if (opt == 'T')
				since_text = optarg;
			else
				pf.status = optarg;
			continue;
		}
		if (api && (opt == 'I' || opt == 'P' || opt == 'X' || opt == 'j' || opt == 'K' ||
		            opt == 'L')) {
			if (opt == 'K')
				api_key = optarg;
			else if (opt == 'L')
				api_lookup = true;
			else if (opt == 'I')
				api_ticket = optarg;
			else if (opt == 'P')
				api_payload = optarg;
			else if (opt == 'X')
				api_send = true;
			else
				json = true;
			continue;
		}
		if (strcmp(command, "check") == 0 && opt == 'A') {
			allow_disabled = true;
			continue;
		}
		if (simulate && (opt == 'f' || opt == 't' || opt == 'j' || opt == 'S' || opt == 'z')) {
			if (opt == 'z')
				tz = optarg;
			else if (opt == 'S')
				first_start = true;
			else if (opt == 'f')
				from_text = optarg;
			else if (opt == 't')
				to_text = optarg;
			else
				json = true;
			continue;
		}
		if (report && (opt == 'f' || opt == 't' || opt == 'b' || opt == 'F' || opt == 'l' ||
		               opt == 'o')) {
			if (opt == 'f')
				from_text = optarg;
			else if (opt == 't')
				to_text = optarg;
			else if (opt == 'l')
				ropts.locale = optarg;
			else if (opt == 'o')
				report_path = optarg;
			else if (opt == 'b' && (code = wafa_report_by_parse(optarg)) >= 0)
				ropts.by = (enum wafa_report_by)code;
			else if (opt == 'F' && strcmp(optarg, "html") == 0)
				ropts.format = WAFA_REPORT_HTML;
			else if (opt == 'F' && strcmp(optarg, "csv") == 0)
				ropts.format = WAFA_REPORT_CSV;
			else if (opt == 'F' && strcmp(optarg, "json") == 0)
				ropts.format = WAFA_REPORT_JSON;
			else {
				fprintf(stderr, "wafa report: %s \"%s\": use %s\n",
				        opt == 'b' ? "--by" : "--format", optarg,
				        opt == 'b' ? "queue, priority, rule, owner or agent" : "html, csv or json");
				return EX_USAGE;
			}
			continue;
		}
		if (opt != '?' && opt != ':')
			fprintf(stderr, "wafa %s: unknown option \"%s\"\n", command, argv[optind - 1]);
		else if (optopt == 'c')
			fprintf(stderr, "wafa %s: -c needs a file name\n", command);
		else
			fprintf(stderr, "wafa %s: unknown option \"%s\"\n", command, argv[optind - 1]);
		fprintf(stderr, "Try 'wafa --help'.\n");
		return EX_USAGE;
	}
	const char *sub = NULL;
	if (outbox) {
		sub = optind < argc ? argv[optind++] : "";
		bool list = strcmp(sub, "list") == 0, retry = strcmp(sub, "retry") == 0;
		if (retry && optind < argc)
			pf.key = argv[optind++];
		if (!list && !retry) {
			fprintf(stderr, "wafa outbox: use `wafa outbox list [--status failed|skipped|queued] "
			                "[--rule R]` or `wafa outbox retry KEY|--rule R|--failed-since T`\n");
			return EX_USAGE;
		}
		if (retry && !pf.key && !pf.rule && !since_text) {
			fprintf(stderr, "wafa outbox retry: name the mail: a KEY (from `wafa outbox "
			                "list`), --rule R, or --failed-since T (like now-1d)\n");
			return EX_USAGE;
		}
		if (pf.status && (retry || (strcmp(pf.status, "failed") != 0 &&
		                            strcmp(pf.status, "skipped") != 0 &&
		                            strcmp(pf.status, "queued") != 0))) {
			fprintf(stderr, "wafa outbox: --status %s: %s\n", pf.status,
			        retry ? "goes with list" : "use failed, skipped or queued (held)");
			return EX_USAGE;
		}
		if (since_text && wafa_simulate_parse_time(since_text, &pf.since) != 0) {
			fprintf(stderr, "wafa outbox: --failed-since \"%s\" is not a time (use RFC 3339 "
			                "like 2026-11-29T09:00:00Z, a date, or now-1d)\n", since_text);
			return EX_USAGE;
		}
	}
	if (optind < argc && !test) {
		fprintf(stderr, "wafa %s: unexpected argument \"%s\"\n", command, argv[optind]);
		return EX_USAGE;
	}
	if (tz && !wafa_zone_valid(tz)) {
		fprintf(stderr, "wafa simulate: --tz \"%s\" is not a time zone the system knows "
		                "(use an IANA name like Africa/Cairo, Asia/Tehran or UTC)\n", tz);
		return EX_USAGE;
	}
	if (first_start) {
		if (from_text || to_text || json || tz) {
			fprintf(stderr, "wafa simulate: --first-start takes no --from, --to, --json or --tz "
			                "(it counts what a start now would send)\n");
			return EX_USAGE;
		}
		from_text = to_text = "now";
	}
	if (simulate || report) {
		if (!from_text || !to_text) {
			fprintf(stderr, "wafa %s: give --from TIME and --to TIME "
			                "(like 2026-11-29T09:00:00Z, 2026-11-29, now, now+7d)\n",
			        command);
			return EX_USAGE;
		}
		if (wafa_simulate_parse_time(from_text, &from) != 0 ||
		    wafa_simulate_parse_time(to_text, &to) != 0) {
			fprintf(stderr, "wafa %s: \"%s\" is not a time (use RFC 3339 like "
			                "2026-11-29T09:00:00Z or 2026-11-29T12:30:00+03:30, a date "
			                "like 2026-11-29, or now, now+7d, now-2h)\n",
			        command,
			        wafa_simulate_parse_time(from_text, &from) != 0 ? from_text : to_text);
			return EX_USAGE;
		}
		if (to < from || (report && to == from)) {
			fprintf(stderr, "wafa %s: --to is %s --from\n", command,
			        to < from ? "before" : "the same as");
			return EX_USAGE;
		}
	}
	long long api_id = 0;
	if (api) {
		char *end = NULL;
		if (api_ticket)
			api_id = strtoll(api_ticket, &end, 10);
		if (!api_ticket || !api_payload || end == api_ticket || *end || api_id <= 0) {
			fprintf(stderr, "wafa api: give --ticket ID (the helpdesk's ticket number) and "
			                "--payload JSON (like '{\"op\":\"fields\",\"priority\":"
			                "\"urgent\"}')\n");
			return EX_USAGE;
		}
	}
	if ((setup_flags & WAFA_SETUP_PURGE) && !(setup_flags & WAFA_SETUP_UNINSTALL)) {
		fprintf(stderr, "wafa setup: --purge goes with --uninstall\n");
		return EX_USAGE;
	}
	code = load_config(path, &cfg);
	if (code)
		goto out;
	if (strcmp(command, "check") == 0)
		code = cmd_check(&cfg, allow_disabled);
	else if (strcmp(command, "status") == 0)
		code = wafa_status_run(&cfg, stdout) == 0 ? EX_OK : EX_UNAVAILABLE;
	else if (strcmp(command, "doctor") == 0)
		code = wafa_doctor_run(&cfg, stdout) == 0 ? EX_OK : EX_UNAVAILABLE;
	else if (simulate)
		code = wafa_simulate_run(&cfg, from, to, json, first_start, tz, stdout);
	else if (report) {
		ropts.from = from;
		ropts.to = to;
		code = wafa_report_run(&cfg, &ropts, report_path, stdout, stderr);
	}
	else if (api)
		code = wafa_apicall_run(&cfg, api_id, api_key, api_payload, api_lookup, json, api_send,
		                        stdout, stderr);
	else if (outbox)
		code = strcmp(sub, "list") == 0 ? wafa_parked_list(&cfg, &pf, stdout, stderr)
		                                : wafa_parked_retry(&cfg, &pf, stdout, stderr);
	else if (test)
		code = wafa_ruletest_run(&cfg, argv + optind, argc - optind, mutations, stdout,
		                         stderr);
	else if (strcmp(command, "setup") == 0)
		code = wafa_schema_setup(&cfg, setup_flags, setup_user, stdout, stderr) == 0 ? EX_OK
		                                                                 : EX_UNAVAILABLE;
	else
		code = wafa_daemon_run(&cfg);
out:
	wafa_config_free(&cfg);
	return code;
}
