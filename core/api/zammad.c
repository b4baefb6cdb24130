/* Zammad's REST API (docs.zammad.org, API > Ticket):
 *   fields: PUT /api/v1/tickets/ID  {"priority_id": N, "state": "open",
 *           "owner_id": N or "owner": "login"}  (Zammad looks names up)
 *   note:   POST /api/v1/ticket_articles  {"ticket_id": ID, "body": TEXT,
 *           "content_type": "text/plain", "type": "note", "internal": BOOL}
 *   tags:   POST /api/v1/tags/add  {"item": TAG, "object": "Ticket", "o_id": ID},
 *           one tag a call
 * Authorization: Token token=TOKEN (a user's access token with
 * ticket.agent). */
#include "api/builder.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A fresh Zammad has priorities 1 low, 2 normal, 3 high (no urgent); its
 * pending states need a pending time wafa does not give. */
static const struct wafa__api_values zammad_values = {
	.priority = { "1", "2", "3", "3" },
	.status = { "new", "open", NULL, "closed", "closed" },
};

static int fields(struct wafa__api_call *c, json_t *body)
{
	json_t *owner = json_object_get(c->payload, "owner");
	char value[128];
	int err;

	if (json_object_get(c->payload, "priority")) {
		if ((err = wafa__api_priority(c, &zammad_values, "Zammad", value, sizeof(value))) != 0)
			return err;
		if (wafa__api_is_number(value))
			json_object_set_new(body, "priority_id", wafa__api_number_or_string(value));
		else
			json_object_set_new(body, "priority", json_string(value));
	}
	if (json_is_integer(owner))
		json_object_set(body, "owner_id", owner);
	else if (owner && wafa__api_is_number(json_string_value(owner)))
		json_object_set_new(body, "owner_id",
		                    wafa__api_number_or_string(json_string_value(owner)));
	else if (owner)
		json_object_set(body, "owner", owner);
	if (json_object_get(c->payload, "status")) {
		if ((err = wafa__api_status(c, &zammad_values, "Zammad", value, sizeof(value))) != 0)
			return err;
		json_object_set_new(body, "state", json_string(value));
	}
	return wafa__api_target(c, "PUT", "/api/v1/tickets/%lld", c->ticket);
}

int wafa__api_zammad(struct wafa__api_call *c)
{
	char auth[4200];
	json_t *body = json_object();
	int err;

	if (c->lookup) {
		json_decref(body);
		return wafa__api_no_lookup(c, "Zammad");
	}
	if (!body)
		return -ENOMEM;
	if (strcmp(c->op, "fields") == 0) {
		err = fields(c, body);
		c->out->ok_status[0] = 200;
	} else if (strcmp(c->op, "note") == 0) {
		json_t *internal = json_object_get(c->payload, "internal");
		json_object_set_new(body, "ticket_id", json_integer(c->ticket));
		json_object_set(body, "body", json_object_get(c->payload, "text"));
		json_object_set_new(body, "content_type", json_string("text/plain"));
		json_object_set_new(body, "type", json_string("note"));
		json_object_set_new(body, "internal", json_boolean(!internal || json_is_true(internal)));
		if (c->key) {
			char mark[256];
			snprintf(mark, sizeof(mark), "wafa %s", c->key);
			json_object_set_new(body, "subject", json_string(mark));
		}
		err = wafa__api_target(c, "POST", "/api/v1/ticket_articles");
		c->out->ok_status[0] = 201;
	} else {
		json_t *add = json_object_get(c->payload, "add");
		if (json_array_size(add) != 1) {
			json_decref(body);
			return wafa__api_refuse(c, "Zammad's API adds one tag a call: give one tag "
			                           "a ticket action (%zu given)", json_array_size(add));
		}
		json_object_set(body, "item", json_array_get(add, 0));
		json_object_set_new(body, "object", json_string("Ticket"));
		json_object_set_new(body, "o_id", json_integer(c->ticket));
		err = wafa__api_target(c, "POST", "/api/v1/tags/add");
	}
	if (err) {
		json_decref(body);
		return err;
	}
	if ((err = wafa__api_json_body(c, body)) != 0)
		return err;
	if (snprintf(auth, sizeof(auth), "Token token=%s", c->token) >= (int)sizeof(auth))
		return wafa__api_refuse(c, "[api] token_file: the token is too long");
	err = wafa__api_header(c, "Authorization", auth);
	explicit_bzero(auth, sizeof(auth));
	if (!err)
		err = wafa__api_header(c, "Accept", "application/json");
	return err;
}
