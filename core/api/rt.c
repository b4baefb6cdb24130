/* Request Tracker 5's REST 2 API (RT::REST2, built into RT 5):
 *   fields: PUT /REST/2.0/ticket/ID  {"Priority": N, "Owner": "login", "Status": "resolved"}
 *           answered 200 with a list of messages, also when a right is
 *           missing or a value is wrong: a message that is not a change
 *           makes it a failure (wafa__api_rt_refused)
 *   note:   POST /REST/2.0/ticket/ID/comment (internal) or /correspond,
 *           text/plain, answered 201; with the row's key, JSON {"Content",
 *           "ContentType", "Subject": "wafa KEY"}
 *   lookup: POST /REST/2.0/ticket/ID/attachments [{"field": "Subject",
 *           "value": "wafa KEY"}]: found when it lists one (the user needs
 *           ShowTicketComments to see its comments)
 *   tags:   RT has none
 * Authorization: token TOKEN (RT::Authen::Token, built into RT 5). */
#include "api/builder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rt adapter reads priority >= 90 as urgent, >= 50 high, >= 0 normal,
 * below 0 low; stalled as pending, resolved as solved, rejected as closed. */
static const struct wafa__api_values rt_values = {
	.priority = { "-10", "0", "50", "100" },
	.status = { "new", "open", "stalled", "resolved", "rejected" },
};

/* What RT 5 says when a field changed, or already had the value (a retry
 * after a crash between RT's change and wafa's record of it), in English,
 * the wafa user's language; anything else is a refusal: "Permission
 * Denied", "That user does not exist", "That user may not own tickets in
 * that queue", "Status 'x' isn't a valid status for this ticket.". */
static const char *const rt_fine[] = {
	" changed from ",              /* RT::Record::_Set, SetOwner, SetStatus */
	"That is already the current value",
	"That user already owns that ticket",
	"You already own this ticket",
	" is already set to ",         /* RT::Record::Role::Status */
};

bool wafa__api_rt_refused(const char *body)
{
	const char *s = body + strspn(body, " \t\r\n");

	if (*s != '[')
		return false; /* not REST2's list of messages: the status decides */
	while ((s = strchr(s, '"')) != NULL) {
		const char *start = ++s;
		bool fine = false;
		while (*s && *s != '"')
			s += s[0] == '\\' && s[1] ? 2 : 1;
		if (!*s)
			break; /* cut short: judge only whole messages */
		for (size_t i = 0; i < sizeof(rt_fine) / sizeof(rt_fine[0]) && !fine; i++) {
			const char *hit = strstr(start, rt_fine[i]);
			fine = hit && hit < s;
		}
		if (!fine)
			return true;
		s++;
	}
	return false;
}

/* What follows "name" and its colon in body, blanks skipped; NULL if absent. */
static const char *after_key(const char *body, const char *name)
{
	const char *s = strstr(body, name);

	if (!s)
		return NULL;
	s += strlen(name);
	s += strspn(s, " \t\r\n");
	if (*s != ':')
		return NULL;
	s++;
	return s + strspn(s, " \t\r\n");
}

/* REST2's answer to a search: {"count" : N, "items" : [...], ...}, pretty
 * or not, in any key order, perhaps cut short. */
bool wafa__api_rt_found(const char *body)
{
	const char *s;

	if ((s = after_key(body, "\"items\"")) != NULL && *s == '[') {
		s++;
		s += strspn(s, " \t\r\n");
		if (*s == '{')
			return true;
	}
	if ((s = after_key(body, "\"count\"")) != NULL && *s >= '1' && *s <= '9')
		return true;
	if ((s = after_key(body, "\"total\"")) != NULL && *s >= '1' && *s <= '9')
		return true;
	return false;
}

int wafa__api_rt(struct wafa__api_call *c)
{
	char auth[4200], value[128];
	int err;

	if (snprintf(auth, sizeof(auth), "token %s", c->token) >= (int)sizeof(auth))
		return wafa__api_refuse(c, "[api] token_file: the token is too long");
	if (strcmp(c->op, "tags") == 0)
		return wafa__api_refuse(c, "RT has no tags (a custom field could hold them, but "
		                           "wafa does not set custom fields)");
	if (c->lookup) {
		/* the ticket's attachments whose subject is the note's mark */
		char mark[256];
		snprintf(mark, sizeof(mark), "wafa %s", c->key);
		if ((err = wafa__api_target(c, "POST", "/REST/2.0/ticket/%lld/attachments",
		                            c->ticket)) != 0 ||
		    (err = wafa__api_json_body(c, json_pack("[{s:s, s:s}]", "field", "Subject",
		                                            "value", mark))) != 0)
			return err;
		c->out->ok_status[0] = 200;
		c->out->found = wafa__api_rt_found;
	} else if (strcmp(c->op, "note") == 0) {
		json_t *internal = json_object_get(c->payload, "internal");
		bool comment = !internal || json_is_true(internal);
		if ((err = wafa__api_target(c, "POST", "/REST/2.0/ticket/%lld/%s", c->ticket,
		                            comment ? "comment" : "correspond")) != 0)
			return err;
		if (c->key) {
			/* JSON, to give the comment a subject wafa can find it by */
			char mark[256];
			snprintf(mark, sizeof(mark), "wafa %s", c->key);
			if ((err = wafa__api_json_body(
			             c, json_pack("{s:O, s:s, s:s}", "Content",
			                          json_object_get(c->payload, "text"), "ContentType",
			                          "text/plain", "Subject", mark))) != 0)
				return err;
		} else {
			c->out->body = strdup(json_string_value(json_object_get(c->payload, "text")));
			c->out->content_type = strdup("text/plain; charset=utf-8");
			if (!c->out->body || !c->out->content_type)
				return -ENOMEM;
		}
		c->out->ok_status[0] = 201;
	} else {
		json_t *body = json_object(), *owner = json_object_get(c->payload, "owner");
		if (!body)
			return -ENOMEM;
		if (json_object_get(c->payload, "priority")) {
			if ((err = wafa__api_priority(c, &rt_values, "RT", value, sizeof(value))) != 0)
				goto fail;
			if (!wafa__api_is_number(value)) {
				err = wafa__api_refuse(c, "priority \"%s\": RT's priorities are numbers "
				                          "(fix [api] priorities)", value);
				goto fail;
			}
			json_object_set_new(body, "Priority", wafa__api_number_or_string(value));
		}
		if (owner)
			json_object_set(body, "Owner", owner);
		if (json_object_get(c->payload, "status")) {
			if ((err = wafa__api_status(c, &rt_values, "RT", value, sizeof(value))) != 0)
				goto fail;
			json_object_set_new(body, "Status", json_string(value));
		}
		if ((err = wafa__api_target(c, "PUT", "/REST/2.0/ticket/%lld", c->ticket)) != 0 ||
		    (err = wafa__api_json_body(c, body)) != 0)
			return err;
		c->out->ok_status[0] = 200;
		c->out->refused = wafa__api_rt_refused;
		goto headers;
fail:
		json_decref(body);
		return err;
	}
headers:
	if ((err = wafa__api_header(c, "Authorization", auth)) != 0 ||
	    (err = wafa__api_header(c, "Accept", "application/json")) != 0)
		return err;
	return 0;
}
