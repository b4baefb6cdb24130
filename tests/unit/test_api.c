/* core/api: the judges of 200 answers (RT's list of messages, Znuny's
 * Error, RT's search), cut short or not, and requests built from a config
 * made here (the token file, the URL, the [api] maps, a bad key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/builder.h"

static void rt_refused(void **state)
{
	(void)state;
	assert_false(wafa__api_rt_refused("[\"Ticket 1: Priority changed from 0 to 100\"]"));
	assert_false(wafa__api_rt_refused("[]"));
	assert_false(wafa__api_rt_refused("[\"Ticket 1: That is already the current value\"]"));
	assert_false(wafa__api_rt_refused("[\"Ticket 1: That user already owns that ticket\"]"));
	assert_true(wafa__api_rt_refused("[\"Ticket 1: Permission Denied\"]"));
	assert_true(wafa__api_rt_refused("[\"Ticket 1: Priority changed from 0 to 100\","
	                                 "\"Ticket 1: That user does not exist\"]"));
	assert_true(wafa__api_rt_refused("[\"Ticket 1: \\\"bogus\\\" isn't a valid status\"]"));
	/* cut short: only whole messages are judged */
	assert_false(wafa__api_rt_refused("[\"Ticket 1: Priority changed from 0 to 100\",\"Ticket 1: Tha"));
	/* not REST2's list: the status decides */
	assert_false(wafa__api_rt_refused("<html>Permission Denied</html>"));
}

static void rt_found(void **state)
{
	(void)state;
	assert_true(wafa__api_rt_found("{\"count\":1,\"items\":[{\"id\":\"6\"}]}"));
	assert_true(wafa__api_rt_found("{    \"page\" : 1,    \"items\" : [       {          \"id\""));
	assert_true(wafa__api_rt_found("{ \"per_page\" : 20, \"count\" : 2"));
	assert_false(wafa__api_rt_found("{\"count\":0,\"items\":[],\"total\":0}"));
	assert_false(wafa__api_rt_found("{ \"items\" : [ ], \"count\" : 0 }"));
	assert_false(wafa__api_rt_found(""));
}

static void znuny_refused(void **state)
{
	(void)state;
	assert_true(wafa__api_znuny_refused("{\"Error\":{\"ErrorCode\":\"TicketUpdate.AccessDenied\"}}"));
	assert_false(wafa__api_znuny_refused("{\"TicketID\":\"5\",\"TicketNumber\":\"2026\"}"));
}

static char token_path[] = "/tmp/wafa-test-api-XXXXXX";

static void config(struct wafa_config *cfg, const char *adapter, const char *url)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->adapter = (char *)adapter;
	cfg->api_url = (char *)url;
	cfg->api_token_file = token_path;
	cfg->api_user = (char *)"";
	cfg->api_priorities = (char *)"";
	cfg->api_statuses = (char *)"";
	cfg->api_ca_file = (char *)"";
	cfg->api_webservice = (char *)"GenericTicketConnectorREST";
}

static int setup_token(void **state)
{
	int fd = mkstemp(token_path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "tok-1\nsecond line\n", 18), 18);
	close(fd);
	return 0;
}

static int remove_token(void **state)
{
	(void)state;
	unlink(token_path);
	return 0;
}

static void builds(void **state)
{
	struct wafa_config cfg;
	struct wafa_http_request r;
	char *why = NULL;

	(void)state;
	config(&cfg, "rt", "https://rt.example.com//");
	cfg.api_priorities = (char *)" urgent : 7 ,high:5";
	assert_int_equal(wafa_api_build(&cfg, 12, "{\"op\":\"fields\",\"priority\":\"urgent\"}", &r, &why), 0);
	assert_string_equal(r.url, "https://rt.example.com/REST/2.0/ticket/12");
	assert_string_equal(r.body, "{\"Priority\":7}");
	assert_string_equal(r.headers[0], "Authorization: token tok-1");
	assert_non_null(r.refused);
	wafa_http_request_free(&r);

	/* a key that would break the JSON or a header is refused */
	assert_int_equal(wafa_api_build_keyed(&cfg, 12, "a\r\nb", "{\"op\":\"note\",\"text\":\"x\"}",
	                                      &r, &why),
	                 -EINVAL);
	assert_non_null(strstr(why, "cannot mark a note"));
	free(why);
	why = NULL;

	/* a token others can read is refused, saying what to run */
	assert_int_equal(chmod(token_path, 0644), 0);
	assert_int_equal(wafa_api_build(&cfg, 12, "{\"op\":\"note\",\"text\":\"x\"}", &r, &why), -EPERM);
	assert_non_null(strstr(why, "chmod 600"));
	assert_null(r.url);
	free(why);
	why = NULL;
	assert_int_equal(chmod(token_path, 0600), 0);

	config(&cfg, "generic", "https://x");
	assert_int_equal(wafa_api_build(&cfg, 12, "{\"op\":\"note\",\"text\":\"x\"}", &r, &why), -EINVAL);
	assert_non_null(strstr(why, "generic adapter has no API"));
	free(why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rt_refused),
		cmocka_unit_test(rt_found),
		cmocka_unit_test(znuny_refused),
		cmocka_unit_test(builds),
	};
	return cmocka_run_group_tests(tests, setup_token, remove_token);
}
