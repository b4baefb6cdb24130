#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

static char path[] = "/tmp/wafa-test-config-XXXXXX";

static int load(const char *text, struct wafa_config *cfg, char *report, size_t len)
{
	int fd = mkstemp(path);
	FILE *out = fmemopen(report, len, "w");
	int err;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(report, 0, len);
	err = wafa_config_load(path, cfg, out);
	fclose(out);
	unlink(path);
	strcpy(path, "/tmp/wafa-test-config-XXXXXX");
	return err;
}

static const char good[] =
	"[database]\n"
	"dsn = host=/run/postgresql dbname=helpdesk user=wafa   ; libpq connection string\n"
	"[mail]\n"
	"transport = smtp://127.0.0.1:25\n"
	"from = Support <support@example.com>\n"
	"starttls = required\n"
	"retry_initial = 90s\n"
	"[rules]\n"
	"memory = 16M\n";

static void reads_values_and_defaults(void **state)
{
	struct wafa_config cfg;
	char report[1024];

	(void)state;
	assert_int_equal(load(good, &cfg, report, sizeof(report)), 0);
	assert_string_equal(report, "");
	assert_string_equal(cfg.dsn, "host=/run/postgresql dbname=helpdesk user=wafa");
	assert_string_equal(cfg.schema, "wafa");
	assert_string_equal(cfg.view, "public.wafa_tickets");
	assert_int_equal(cfg.starttls, WAFA_STARTTLS_REQUIRED);
	assert_int_equal(cfg.retry_initial_ms, 90000);
	assert_int_equal(cfg.reconcile_ms, 30000);
	assert_int_equal(cfg.rules_memory, 16 * 1024 * 1024);
	wafa_config_free(&cfg);
}

static void names_the_line_of_each_problem(void **state)
{
	struct wafa_config cfg;
	char report[2048];
	const char *text =
		"[database]\n"                       /* 1 */
		"dsn = dbname=x\n"                   /* 2 */
		"colour = blue\n"                    /* 3 */
		"[mail]\n"                           /* 4 */
		"transport = smtp://127.0.0.1:25\n"  /* 5 */
		"from = a@example.com\n"             /* 6 */
		"starttls = maybe\n"                 /* 7 */
		"retry_max = 4x\n"                   /* 8 */
		"[nonsense]\n"                       /* 9 */
		"a = b\n";                           /* 10 */

	(void)state;
	assert_int_equal(load(text, &cfg, report, sizeof(report)), -EINVAL);
	assert_non_null(strstr(report, ":3: [database] unknown key \"colour\""));
	assert_non_null(strstr(report, ":7: [mail] starttls = \"maybe\": expected one of off, optional, required"));
	assert_non_null(strstr(report, ":8: [mail] retry_max = \"4x\": unknown unit"));
	assert_non_null(strstr(report, ":10: unknown section [nonsense]"));
	wafa_config_free(&cfg);
}

static void requires_keys(void **state)
{
	struct wafa_config cfg;
	char report[1024];

	(void)state;
	assert_int_equal(load("[log]\nlevel = debug\n", &cfg, report, sizeof(report)), -EINVAL);
	assert_non_null(strstr(report, "[database] dsn is required"));
	assert_non_null(strstr(report, "[mail] transport is required"));
	wafa_config_free(&cfg);
}

static void reports_an_overlong_line(void **state)
{
	struct wafa_config cfg;
	char report[1024], text[1024];

	(void)state;
	snprintf(text, sizeof(text),
	         "[database]\ndsn = dbname=%0300d\n[mail]\ntransport = maildir:/tmp/x\n"
	         "from = a@example.com\n", 0);
	assert_int_equal(load(text, &cfg, report, sizeof(report)), -EINVAL);
	assert_non_null(strstr(report, ":2: line longer than"));
	assert_null(strstr(report, "unknown key"));
	wafa_config_free(&cfg);
}

/* found by fuzz_config: the unit's product overflowed int64 */
static void refuses_a_size_too_large(void **state)
{
	struct wafa_config cfg;
	char report[1024];

	(void)state;
	assert_int_equal(load("[database]\ndsn = dbname=x\n[mail]\ntransport = maildir:/tmp/x\n"
	                      "from = a@example.com\n[rules]\nmemory = 584467151640970993M\n",
	                      &cfg, report, sizeof(report)),
	                 -EINVAL);
	assert_non_null(strstr(report, ":7: [rules] memory = \"584467151640970993M\": a size too large"));
	wafa_config_free(&cfg);
}

static void refuses_an_smtp_timeout_under_a_second(void **state)
{
	struct wafa_config cfg;
	char report[1024];
	char text[sizeof(good) + 64];

	(void)state;
	/* good's last section is [rules]: the key goes under [mail] */
	snprintf(text, sizeof(text), "%s[mail]\ntimeout = 500ms\n", good);
	assert_int_equal(load(text, &cfg, report, sizeof(report)), -EINVAL);
	assert_non_null(strstr(report, "[mail] timeout = 500 ms: libESMTP waits at least 1s"));
	assert_non_null(strstr(report, "set 1s or more"));
	wafa_config_free(&cfg);
	snprintf(text, sizeof(text), "%s[mail]\ntimeout = 1s\n", good);
	assert_int_equal(load(text, &cfg, report, sizeof(report)), 0);
	assert_int_equal(cfg.timeout_ms, 1000);
	wafa_config_free(&cfg);
}

static void missing_file(void **state)
{
	struct wafa_config cfg;

	(void)state;
	assert_int_equal(wafa_config_load("/nonexistent/wafa.conf", &cfg, stderr), -ENOENT);
	wafa_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_values_and_defaults),
		cmocka_unit_test(names_the_line_of_each_problem),
		cmocka_unit_test(requires_keys),
		cmocka_unit_test(reports_an_overlong_line),
		cmocka_unit_test(refuses_a_size_too_large),
		cmocka_unit_test(refuses_an_smtp_timeout_under_a_second),
		cmocka_unit_test(missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
