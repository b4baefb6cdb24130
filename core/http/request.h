/* One HTTP request and its outcome: what a webhook row or a ticket-action
 * row of the outbox becomes before a worker thread sends it with libcurl.
 *
 * Shared by core/http/ (the pool and the dispatcher that claims webhook and
 * ticket-action rows) and core/api/ (which turns a ticket action into the
 * helpdesk API's request).  Every string is malloc'ed and owned by the
 * request; wafa_http_request_free frees them. */
#ifndef WAFA_HTTP_REQUEST_H
#define WAFA_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#define WAFA_HTTP_MAX_HEADERS 8

struct wafa_http_request {
	char *method;       /* "POST", "PUT", "PATCH" */
	char *url;          /* absolute http:// or https:// URL */
	char *content_type; /* e.g. "application/json" */
	char *body;         /* NUL-terminated; may be "" */
	/* Extra header lines "Name: value", CR/LF already refused.  Secrets
	 * (Authorization, a signature) go here and never into a log line. */
	char *headers[WAFA_HTTP_MAX_HEADERS];
	size_t nheaders;
	/* NULL, or the CA certificates to verify this server against (the
	 * helpdesk API's [api] ca_file); NULL: [http] ca_file, else the
	 * system's. */
	char *ca_file;
	/* Which 2xx statuses mean done; 0 terminates; empty means any 2xx. */
	int ok_status[4];
	/* NULL, or a judge of a 2xx answer, for APIs that answer 200 to a
	 * refusal: RT's REST2 PUT lists its messages (["Ticket 5: Permission
	 * Denied"], ["Ticket 5: That user does not exist"]), Znuny's
	 * GenericInterface sends {"Error":{"ErrorCode":...}}.  Called on the
	 * worker thread with the start of the body (NUL-terminated, perhaps
	 * cut short); true: the answer is a refusal, a permanent failure with
	 * the body as its reason.  A pure function of core/api/. */
	bool (*refused)(const char *body);
	/* Set on a lookup (wafa_api_build_lookup) only: true when its 2xx
	 * answer (the start of its body) shows the action is already in the
	 * helpdesk. */
	bool (*found)(const char *body);
};

enum wafa_http_result {
	WAFA_HTTP_DONE,     /* the server accepted it */
	WAFA_HTTP_TEMPFAIL, /* timeout, connection trouble, 408, 425, 429, 5xx: retry with backoff */
	WAFA_HTTP_PERMFAIL, /* any other 3xx/4xx (redirects are refused): park with the reason */
};

struct wafa_http_outcome {
	enum wafa_http_result result;
	int status;        /* the HTTP status, 0 when none was read */
	bool found;        /* a lookup done: its found() judged the answer true */
	char reason[256];  /* one line for last_error: status and the start of the body, or curl's error */
};

void wafa_http_request_free(struct wafa_http_request *r);

#endif
