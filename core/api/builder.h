/* What the helpdesk builders (rt.c, zammad.c, znuny.c, freescout.c) share
 * with api.c, which parses the payload, reads the token and picks one.
 * Internal to core/api/. */
#ifndef WAFA_API_BUILDER_H
#define WAFA_API_BUILDER_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"

/* One ticket action being turned into a request.  The payload is already
 * checked: op is "fields" (priority a string of wafa's names or an integer,
 * owner a non-empty string or an integer, status one of wafa's names; at
 * least one), "note" (text non-empty, internal a boolean) or "tags" (add a
 * non-empty array of non-empty strings). */
struct wafa__api_call {
	const struct wafa_config *cfg;
	long long ticket;
	const char *op;
	json_t *payload;
	const char *token; /* the secret, from [api] token_file */
	const char *key;   /* the outbox row's key, or NULL */
	bool lookup;       /* build the lookup of a note, not the note */
	struct wafa_http_request *out;
	char **why;
};

/* The defaults of one helpdesk: its value for wafa's priorities low,
 * normal, high, urgent and statuses new, open, pending, solved, closed;
 * NULL where the API has none. */
struct wafa__api_values {
	const char *priority[4];
	const char *status[5];
};

typedef int (*wafa__api_builder)(struct wafa__api_call *c);

WAFA_WUR int wafa__api_rt(struct wafa__api_call *c);
WAFA_WUR int wafa__api_zammad(struct wafa__api_call *c);
WAFA_WUR int wafa__api_znuny(struct wafa__api_call *c);
WAFA_WUR int wafa__api_freescout(struct wafa__api_call *c);

/* The judges of a 200 answer (see request.h's refused). */
bool wafa__api_rt_refused(const char *body);
bool wafa__api_znuny_refused(const char *body);
bool wafa__api_rt_found(const char *body);

/* -ENOTSUP with why: this helpdesk's API cannot look a note up. */
int wafa__api_no_lookup(struct wafa__api_call *c, const char *helpdesk);

/* Sets *c->why and returns -EINVAL. */
int wafa__api_refuse(struct wafa__api_call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* out->method, out->url ([api] url without its trailing slashes, then the
 * formatted path).  Returns 0 or -ENOMEM. */
WAFA_WUR int wafa__api_target(struct wafa__api_call *c, const char *method, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One header line "Name: value"; a value with CR or LF is refused
 * (-EINVAL with why).  Returns 0, -EINVAL, -E2BIG or -ENOMEM. */
WAFA_WUR int wafa__api_header(struct wafa__api_call *c, const char *name, const char *value);

/* The body: json (stolen) as compact JSON, application/json. */
WAFA_WUR int wafa__api_json_body(struct wafa__api_call *c, json_t *json);

/* The API's value for the payload's priority (or status): from [api]
 * priorities (statuses), else from the helpdesk's defaults.  An integer
 * priority passes as it is.  Returns 0 with buf set; -EINVAL with why when
 * wafa's value is unknown or the helpdesk has none for it (helpdesk names
 * it in the reason). */
WAFA_WUR int wafa__api_priority(struct wafa__api_call *c, const struct wafa__api_values *v,
                                const char *helpdesk, char *buf, size_t len);
WAFA_WUR int wafa__api_status(struct wafa__api_call *c, const struct wafa__api_values *v,
                              const char *helpdesk, char *buf, size_t len);

/* A JSON integer when s is a whole number, else a string. */
json_t *wafa__api_number_or_string(const char *s);
bool wafa__api_is_number(const char *s);

#endif
