/* The HTTP channel's pieces that need no server: the webhook bodies in
 * each format, the HMAC signature (against a value computed apart, with
 * Python's hmac), the [webhook NAME] sections of wafa.conf, and what
 * wafa_http_perform makes of a refused connection and an unsupported
 * scheme; and, from a one-answer server on a thread, of a 2xx the
 * request's refused() or found() judges (the API's judges, core/api/rt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/builder.h"
#include "base/config.h"
#include "http/dispatch.h"
#include "http/pool.h"

static const char PAYLOAD[] = "{\"text\":\"Breach #7 طلب\",\"fields\":{\"owner\":\"omar\"}}";

static json_t *body(int format)
{
	char *text = wafa_dispatch_webhook_body(format, PAYLOAD, "r/7/breach/1/2", 7, "r", "breach");
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	return j;
}

static void test_formats(void **state)
{
	json_t *j;

	(void)state;
	j = body(WAFA_WH_JSON);
	assert_string_equal(json_string_value(json_object_get(j, "text")), "Breach #7 طلب");
	assert_string_equal(json_string_value(json_object_get(j, "key")), "r/7/breach/1/2");
	assert_int_equal(json_integer_value(json_object_get(j, "ticket_id")), 7);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "fields"), "owner")),
	                    "omar");
	json_decref(j);
	j = body(WAFA_WH_SLACK);
	assert_int_equal(json_object_size(j), 1);
	assert_string_equal(json_string_value(json_object_get(j, "text")),
	                    "Breach #7 طلب\n*owner*: omar");
	json_decref(j);
	j = body(WAFA_WH_MATTERMOST);
	assert_string_equal(json_string_value(json_object_get(j, "text")),
	                    "Breach #7 طلب\n**owner**: omar");
	json_decref(j);
	j = body(WAFA_WH_TEAMS);
	assert_string_equal(json_string_value(json_object_get(j, "@type")), "MessageCard");
	json_t *fact = json_array_get(
		json_object_get(json_array_get(json_object_get(j, "sections"), 0), "facts"), 0);
	assert_string_equal(json_string_value(json_object_get(fact, "name")), "owner");
	assert_string_equal(json_string_value(json_object_get(fact, "value")), "omar");
	json_decref(j);
	/* Slack: & < > escaped in the text and the fields (ticket data must not
	 * ping a channel or hide a link); Mattermost's text is left as it is */
	static const char ctl[] = "{\"text\":\"<!channel> a&b\",\"fields\":{\"about\":"
	                          "\"<https://evil|Open>\"}}";
	char *t = wafa_dispatch_webhook_body(WAFA_WH_SLACK, ctl, "k", 1, "r", "p");
	assert_non_null(t);
	j = json_loads(t, 0, NULL);
	free(t);
	assert_string_equal(json_string_value(json_object_get(j, "text")),
	                    "&lt;!channel&gt; a&amp;b\n*about*: &lt;https://evil|Open&gt;");
	json_decref(j);
	t = wafa_dispatch_webhook_body(WAFA_WH_SLACK, "{\"text\":\"<!here>\"}", "k", 1, "r", "p");
	assert_non_null(t);
	j = json_loads(t, 0, NULL);
	free(t);
	assert_string_equal(json_string_value(json_object_get(j, "text")), "&lt;!here&gt;");
	json_decref(j);
	/* not an object: no body */
	assert_null(wafa_dispatch_webhook_body(WAFA_WH_JSON, "[1]", "k", 1, "r", "p"));
	assert_null(wafa_dispatch_webhook_body(WAFA_WH_JSON, "{", "k", 1, "r", "p"));
}

static void test_sign(void **state)
{
	char sig[72];

	(void)state;
	wafa_dispatch_sign((const unsigned char *)"key", 3, "1700000000", "{\"a\":1}", sig);
	assert_string_equal(sig, "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6"
	                         "ad03");
}

static char path[] = "/tmp/wafa-test-http-XXXXXX";

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
	strcpy(path, "/tmp/wafa-test-http-XXXXXX");
	return err;
}

#define BASE "[database]\ndsn = dbname=x\n[mail]\ntransport = smtp://127.0.0.1:25\n" \
	     "from = a@example.com\n"

static void test_config(void **state)
{
	struct wafa_config cfg;
	char report[2048];

	(void)state;
	assert_int_equal(load(BASE "[http]\ntimeout = 5s\n[webhook oncall]\nurl = https://h.example/x\n"
	                           "format = teams\ntimeout = 2s\n[webhook b-2]\nurl = http://h/y\n",
	                      &cfg, report, sizeof(report)), 0);
	assert_int_equal(cfg.http_timeout_ms, 5000);
	assert_int_equal(cfg.nwebhooks, 2);
	const struct wafa_webhook *w = wafa_config_webhook(&cfg, "oncall");
	assert_non_null(w);
	assert_string_equal(w->url, "https://h.example/x");
	assert_int_equal(w->format, WAFA_WH_TEAMS);
	assert_int_equal(w->timeout_ms, 2000);
	assert_int_equal(wafa_config_webhook(&cfg, "b-2")->format, WAFA_WH_JSON);
	assert_null(wafa_config_webhook(&cfg, "nope"));
	wafa_config_free(&cfg);

	assert_int_equal(load(BASE "[webhook x]\nformat = irc\nbogus = 1\n", &cfg, report,
	                      sizeof(report)), -EINVAL);
	assert_non_null(strstr(report, ":7: [webhook x] format = \"irc\": expected one of json"));
	assert_non_null(strstr(report, ":8: [webhook x] unknown key \"bogus\""));
	wafa_config_free(&cfg);

	assert_int_equal(load(BASE "[webhook x]\nurl = ftp://h/\n[webhook y]\nformat = json\n",
	                      &cfg, report, sizeof(report)), -EINVAL);
	assert_non_null(strstr(report, "[webhook x] url \"ftp://h/\": expected an http://"));
	assert_non_null(strstr(report, "[webhook y] url \"\": is required"));
	wafa_config_free(&cfg);

	assert_int_equal(load(BASE "[webhook a b]\nurl = http://h/\n", &cfg, report, sizeof(report)),
	                 -EINVAL);
	assert_non_null(strstr(report, "a webhook's name is letters, digits, - and _"));
	wafa_config_free(&cfg);
}

static void test_perform(void **state)
{
	struct wafa_config cfg;
	char report[2048];
	struct wafa_http_request req = { 0 };
	struct wafa_http_outcome o;

	(void)state;
	assert_int_equal(load(BASE "[http]\nconnect_timeout = 2s\n", &cfg, report, sizeof(report)), 0);
	req.method = "POST";
	req.body = "{}";
	req.url = "http://127.0.0.1:1/refused";
	wafa_http_perform(&cfg, &req, 2000, NULL, &o);
	assert_int_equal(o.result, WAFA_HTTP_TEMPFAIL);
	assert_int_equal(o.status, 0);
	assert_true(o.reason[0] != '\0');
	req.url = "ftp://127.0.0.1/x";
	wafa_http_perform(&cfg, &req, 2000, NULL, &o);
	assert_int_equal(o.result, WAFA_HTTP_PERMFAIL);
	char *bad = strdup("X-A: b\r\nX-Injected: 1");
	req.url = "http://127.0.0.1:1/x";
	req.headers[0] = bad;
	req.nheaders = 1;
	wafa_http_perform(&cfg, &req, 2000, NULL, &o);
	assert_int_equal(o.result, WAFA_HTTP_PERMFAIL);
	assert_non_null(strstr(o.reason, "line break"));
	free(bad);
	wafa_config_free(&cfg);
}

/* A server that answers one request with 200 and answer's body. */
struct one {
	int fd;
	const char *answer;
	const char *location; /* set: a 302 there instead */
};

static void *serve_one(void *arg)
{
	struct one *o = arg;
	char buf[4096], *head = NULL;
	int c = accept(o->fd, NULL, NULL);
	ssize_t n;
	size_t got = 0;

	if (c < 0)
		return NULL;
	/* the request's head and its short body, read until the body is in */
	while ((n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = '\0';
		if ((head = strstr(buf, "\r\n\r\n")) && strlen(head + 4) >= 2)
			break;
	}
	if (asprintf(&head, "HTTP/1.1 %s\r\n%s%s%sContent-Type: application/json\r\n"
	                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	             o->location ? "302 Found" : "200 OK", o->location ? "Location: " : "",
	             o->location ? o->location : "", o->location ? "\r\n" : "",
	             strlen(o->answer), o->answer) > 0) {
		if (write(c, head, strlen(head)) < 0)
			got = 0;
		free(head);
	}
	close(c);
	return NULL;
}

static void perform_at(const struct wafa_config *cfg, struct wafa_http_request *req,
                       const char *where, const char *location, const char *answer,
                       struct wafa_http_outcome *out)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(a);
	struct one o = { .answer = answer, .location = location };
	char url[128];
	pthread_t t;

	o.fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(o.fd >= 0);
	assert_int_equal(bind(o.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(o.fd, 1), 0);
	assert_int_equal(getsockname(o.fd, (struct sockaddr *)&a, &len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", ntohs(a.sin_port), where);
	req->url = url;
	assert_int_equal(pthread_create(&t, NULL, serve_one, &o), 0);
	wafa_http_perform(cfg, req, 5000, NULL, out);
	pthread_join(t, NULL);
	close(o.fd);
	req->url = NULL;
}

static void perform_against(const struct wafa_config *cfg, struct wafa_http_request *req,
                            const char *answer, struct wafa_http_outcome *out)
{
	perform_at(cfg, req, "/REST/2.0/ticket/5", NULL, answer, out);
}

/* A redirect is refused, and its reason never repeats the request URL's
 * path or query, where a webhook keeps its secret (Slack's
 * /services/T/B/SECRET): a relative Location resolves to a URL with it. */
static void test_redirect(void **state)
{
	struct wafa_config cfg;
	char report[2048];
	struct wafa_http_request req = { .method = "POST", .body = "{}" };
	struct wafa_http_outcome o;

	(void)state;
	assert_int_equal(load(BASE "[http]\nconnect_timeout = 2s\n", &cfg, report, sizeof(report)), 0);
	perform_at(&cfg, &req, "/services/T1/B2/S3cretPath", "?v=2", "", &o);
	assert_int_equal(o.result, WAFA_HTTP_PERMFAIL);
	assert_int_equal(o.status, 302);
	assert_non_null(strstr(o.reason, "redirect to http://127.0.0.1:"));
	assert_non_null(strstr(o.reason, "?v=2 refused"));
	assert_null(strstr(o.reason, "S3cret"));
	perform_at(&cfg, &req, "/hook?token=S3cretQuery", "/hook/v2?token=S3cretQuery", "", &o);
	assert_int_equal(o.result, WAFA_HTTP_PERMFAIL);
	assert_null(strstr(o.reason, "S3cret"));
	perform_at(&cfg, &req, "/moved", "/elsewhere", "", &o);
	assert_non_null(strstr(o.reason, "/elsewhere refused"));
	wafa_config_free(&cfg);
}

/* RT answers 200 to a refusal: judged on the answer's first 1024 bytes, so
 * a "Permission Denied" after three long changes is still seen. */
static void test_judged(void **state)
{
	struct wafa_config cfg;
	char report[2048];
	struct wafa_http_request req = { .method = "PUT", .body = "{}" };
	struct wafa_http_outcome o;

	(void)state;
	assert_int_equal(load(BASE "[http]\nconnect_timeout = 2s\n", &cfg, report, sizeof(report)), 0);
	req.refused = wafa__api_rt_refused;
	perform_against(&cfg, &req, "[\"Ticket 5: Priority changed from (no value) to '100'\", "
	                "\"Ticket 5: Status changed from 'open' to 'resolved'\"]", &o);
	assert_int_equal(o.result, WAFA_HTTP_DONE);
	assert_false(o.found);
	perform_against(&cfg, &req, "[\"Ticket 5: Priority changed from (no value) to '100'\", "
	                "\"Ticket 5: Owner changed from 'Nobody' to 'backup'\", "
	                "\"Ticket 5: Status changed from 'open' to 'resolved'\", "
	                "\"Ticket 5: Permission Denied\"]", &o); /* 163 bytes before it */
	assert_int_equal(o.result, WAFA_HTTP_PERMFAIL);
	assert_int_equal(o.status, 200);
	assert_non_null(strstr(o.reason, "HTTP 200: [\"Ticket 5: Priority"));
	req.refused = NULL;
	req.found = wafa__api_rt_found;
	perform_against(&cfg, &req, "{\"count\" : 1, \"items\" : [{\"id\": 9}]}", &o);
	assert_int_equal(o.result, WAFA_HTTP_DONE);
	assert_true(o.found);
	perform_against(&cfg, &req, "{\"count\" : 0, \"items\" : []}", &o);
	assert_int_equal(o.result, WAFA_HTTP_DONE);
	assert_false(o.found);
	wafa_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_perform),
		cmocka_unit_test(test_judged),
		cmocka_unit_test(test_redirect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
