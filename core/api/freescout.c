/* FreeScout's API & Webhooks module (api-docs.freescout.net):
 *   fields: PUT /api/conversations/ID  {"byUser": USER, "status": "closed",
 *           "assignTo": N}  (answered 204); FreeScout has no priority, and
 *           assigns by user id
 *   note:   POST /api/conversations/ID/threads  {"type": "note", "text": TEXT,
 *           "user": USER}  (answered 201); internal false: type "message",
 *           a reply the customer gets
 *   tags:   its API sets a conversation's whole tag list, which would drop
 *           the others: not done
 * X-FreeScout-API-Key: TOKEN.  [api] user is the acting user's id. */
#include "api/builder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FreeScout's statuses: active, pending, closed, spam. */
static const struct wafa__api_values freescout_values = {
	.priority = { NULL, NULL, NULL, NULL },
	.status = { "active", "active", "pending", "closed", "closed" },
};

int wafa__api_freescout(struct wafa__api_call *c)
{
	const char *user = c->cfg->api_user;
	json_t *body;
	char value[128];
	int err = 0;

	if (c->lookup)
		return wafa__api_no_lookup(c, "FreeScout");

	if (strcmp(c->op, "tags") == 0)
		return wafa__api_refuse(c, "FreeScout's API replaces a conversation's whole tag "
		                           "list, which would drop its other tags: tags are not set");
	if (!user || !wafa__api_is_number(user))
		return wafa__api_refuse(c, "[api] user \"%s\": FreeScout's API needs the acting "
		                           "user's id (a number; Manage > Users shows it)",
		                        user ? user : "");
	body = json_object();
	if (!body)
		return -ENOMEM;
	if (strcmp(c->op, "fields") == 0) {
		json_t *owner = json_object_get(c->payload, "owner");
		if (json_object_get(c->payload, "priority"))
			err = wafa__api_refuse(c, "priority: FreeScout has no priorities");
		if (!err && owner) {
			if (json_is_integer(owner))
				json_object_set(body, "assignTo", owner);
			else if (wafa__api_is_number(json_string_value(owner)))
				json_object_set_new(body, "assignTo",
				                    wafa__api_number_or_string(json_string_value(owner)));
			else
				err = wafa__api_refuse(c, "owner \"%s\": FreeScout's API assigns by user "
				                          "id (a number), not by login or address",
				                       json_string_value(owner));
		}
		if (!err && json_object_get(c->payload, "status")) {
			err = wafa__api_status(c, &freescout_values, "FreeScout", value, sizeof(value));
			if (!err)
				json_object_set_new(body, "status", json_string(value));
		}
		json_object_set_new(body, "byUser", wafa__api_number_or_string(user));
		if (!err)
			err = wafa__api_target(c, "PUT", "/api/conversations/%lld", c->ticket);
	} else {
		json_t *internal = json_object_get(c->payload, "internal");
		bool note = !internal || json_is_true(internal);
		json_object_set_new(body, "type", json_string(note ? "note" : "message"));
		json_object_set(body, "text", json_object_get(c->payload, "text"));
		json_object_set_new(body, "user", wafa__api_number_or_string(user));
		err = wafa__api_target(c, "POST", "/api/conversations/%lld/threads", c->ticket);
		c->out->ok_status[0] = 201;
	}
	if (err) {
		json_decref(body);
		return err;
	}
	if ((err = wafa__api_json_body(c, body)) != 0)
		return err;
	if ((err = wafa__api_header(c, "X-FreeScout-API-Key", c->token)) != 0)
		return err;
	return wafa__api_header(c, "Accept", "application/json");
}
