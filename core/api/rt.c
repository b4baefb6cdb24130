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

/* The ticket's attachments whose subject is the note's mark. */
static int lookup(struct wafa__api_call *c)
{
	char mark[256];
	int err;

	snprintf(mark, sizeof(mark), "wafa %s", c->key);
	if ((err = wafa__api_target(c, "POST", "/REST/2.0/ticket/%lld/attachments", c->ticket)) != 0 ||
	    (err = wafa__api_json_body(c, json_pack("[{s:s, s:s}]", "field", "Subject", "value",
	                                            mark))) != 0)
		return err;
	c->out->ok_status[0] = 200;
	c->out->found = wafa__api_rt_found;
	return 0;
}

static int note(struct wafa__api_call *c)
{
	json_t *internal = json_object_get(c->payload, "internal");
	bool comment = !internal || json_is_true(internal);
	char mark[256];
	int err;

	if ((err = wafa__api_target(c, "POST", "/REST/2.0/ticket/%lld/%s", c->ticket,
	                            comment ? "comment" : "correspond")) != 0)
		return err;
	c->out->ok_status[0] = 201;
	if (c->key) {
		/* JSON, to give the comment a subject wafa can find it by */
		snprintf(mark, sizeof(mark), "wafa %s", c->key);
		return wafa__api_json_body(c, json_pack("{s:O, s:s, s:s}", "Content",
		                                        json_object_get(c->payload, "text"),
		                                        "ContentType", "text/plain", "Subject", mark));
	}
	c->out->body = strdup(json_string_value(json_object_get(c->payload, "text")));
	c->out->content_type = strdup("text/plain; charset=utf-8");
	return c->out->body && c->out->content_type ? 0 : -ENOMEM;
}

static int fields(struct wafa__api_call *c)
{
	json_t *body = json_object(), *owner = json_object_get(c->payload, "owner");
	char value[128];
	int err = body ? 0 : -ENOMEM;

	if (!err && json_object_get(c->payload, "priority")) {
		err = wafa__api_priority(c, &rt_values, "RT", value, sizeof(value));
		if (!err && !wafa__api_is_number(value))
			err = wafa__api_refuse(c, "priority \"%s\": RT's priorities are numbers (fix "
			                          "[api] priorities)", value);
		if (!err)
			json_object_set_new(body, "Priority", wafa__api_number_or_string(value));
	}
	if (!err && owner)
		json_object_set(body, "Owner", owner);
	if (!err && json_object_get(c->payload, "status")) {
		err = wafa__api_status(c, &rt_values, "RT", value, sizeof(value));
		if (!err)
			json_object_set_new(body, "Status", json_string(value));
	}
	if (!err)
		err = wafa__api_target(c, "PUT", "/REST/2.0/ticket/%lld", c->ticket);
	if (err) {
		json_decref(body);
		return err;
	}
	c->out->ok_status[0] = 200;
	c->out->refused = wafa__api_rt_refused;
	return wafa__api_json_body(c, body);
}

int wafa__api_rt(struct wafa__api_call *c)
{
	char auth[4200];
	int err;

	if (strcmp(c->op, "tags") == 0)
		return wafa__api_refuse(c, "RT has no tags (a custom field could hold them, but "
		                           "wafa does not set custom fields)");
	if (snprintf(auth, sizeof(auth), "token %s", c->token) >= (int)sizeof(auth))
		return wafa__api_refuse(c, "[api] token_file: the token is too long");
	err = c->lookup ? lookup(c) : strcmp(c->op, "note") == 0 ? note(c) : fields(c);
	if (!err)
		err = wafa__api_header(c, "Authorization", auth);
	if (!err)
		err = wafa__api_header(c, "Accept", "application/json");
	explicit_bzero(auth, sizeof(auth));
	return err;
}
