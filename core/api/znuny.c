/* Znuny's GenericInterface: a web service the admin sets up with the
 * operation Ticket::TicketUpdate under the REST transport, routed as
 * POST /TicketUpdate (as in Znuny's sample GenericTicketConnectorREST.yml):
 *   POST URL/nph-genericinterface.pl/Webservice/NAME/TicketUpdate
 *   {"UserLogin": USER, "Password": TOKEN, "TicketID": ID,
 *    "Ticket": {"Priority": "5 very high", "State": "open", "Owner": "login"},
 *    "Article": {"CommunicationChannel": "Internal", "IsVisibleForCustomer": 0, ...}}
 * It answers 200 also to a refusal, with {"Error": {"ErrorCode": ...}}:
 * that makes it a failure (wafa__api_znuny_refused).  Znuny has no tags. */
#include "api/builder.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A fresh Znuny's priorities and states; its pending states need a
 * pending time wafa does not give. */
static const struct wafa__api_values znuny_values = {
	.priority = { "2 low", "3 normal", "4 high", "5 very high" },
	.status = { "new", "open", NULL, "closed successful", "closed unsuccessful" },
};

static int fields(struct wafa__api_call *c, json_t *ticket)
{
	json_t *owner = json_object_get(c->payload, "owner");
	char value[128];
	int err;

	if (json_object_get(c->payload, "priority")) {
		if ((err = wafa__api_priority(c, &znuny_values, "Znuny", value, sizeof(value))) != 0)
			return err;
		if (wafa__api_is_number(value))
			json_object_set_new(ticket, "PriorityID", wafa__api_number_or_string(value));
		else
			json_object_set_new(ticket, "Priority", json_string(value));
	}
	if (json_is_integer(owner))
		json_object_set(ticket, "OwnerID", owner);
	else if (owner)
		json_object_set(ticket, "Owner", owner);
	if (json_object_get(c->payload, "status")) {
		if ((err = wafa__api_status(c, &znuny_values, "Znuny", value, sizeof(value))) != 0)
			return err;
		json_object_set_new(ticket, "State", json_string(value));
	}
	return 0;
}

bool wafa__api_znuny_refused(const char *body)
{
	/* {"Error":{"ErrorCode":"TicketUpdate.AccessDenied","ErrorMessage":...}} */
	return strstr(body, "\"Error\"") != NULL || strstr(body, "\"ErrorCode\"") != NULL;
}

int wafa__api_znuny(struct wafa__api_call *c)
{
	const char *ws = c->cfg->api_webservice;
	json_t *body, *part;
	int err;

	if (c->lookup)
		return wafa__api_no_lookup(c, "Znuny");
	if (strcmp(c->op, "tags") == 0)
		return wafa__api_refuse(c, "Znuny has no tags (a dynamic field could hold them, but "
		                           "wafa does not set dynamic fields)");
	if (!c->cfg->api_user || !c->cfg->api_user[0])
		return wafa__api_refuse(c, "[api] user is not set: Znuny's GenericInterface needs "
		                           "the agent's login (and token_file the password)");
	if (!ws || !ws[0] || strpbrk(ws, "/?#% \t\r\n"))
		return wafa__api_refuse(c, "[api] webservice \"%s\" is not a web service name",
		                        ws ? ws : "");
	body = json_object();
	part = json_object();
	if (!body || !part) {
		json_decref(body);
		json_decref(part);
		return -ENOMEM;
	}
	json_object_set_new(body, "UserLogin", json_string(c->cfg->api_user));
	json_object_set_new(body, "Password", json_string(c->token));
	json_object_set_new(body, "TicketID", json_integer(c->ticket));
	if (strcmp(c->op, "fields") == 0) {
		err = fields(c, part);
		json_object_set_new(body, "Ticket", part);
	} else {
		json_t *internal = json_object_get(c->payload, "internal");
		bool hidden = !internal || json_is_true(internal);
		json_object_set_new(part, "CommunicationChannel", json_string("Internal"));
		json_object_set_new(part, "SenderType", json_string("agent"));
		json_object_set_new(part, "IsVisibleForCustomer", json_integer(hidden ? 0 : 1));
		if (c->key) {
			char mark[256];
			snprintf(mark, sizeof(mark), "wafa %s", c->key);
			json_object_set_new(part, "Subject", json_string(mark));
		} else {
			json_object_set_new(part, "Subject", json_string("Note from wafa"));
		}
		json_object_set(part, "Body", json_object_get(c->payload, "text"));
		json_object_set_new(part, "ContentType", json_string("text/plain; charset=utf8"));
		json_object_set_new(body, "Article", part);
		err = 0;
	}
	if (!err)
		err = wafa__api_target(c, "POST", "/nph-genericinterface.pl/Webservice/%s/TicketUpdate",
		                       ws);
	if (err) {
		json_decref(body);
		return err;
	}
	if ((err = wafa__api_json_body(c, body)) != 0)
		return err;
	c->out->ok_status[0] = 200;
	c->out->refused = wafa__api_znuny_refused;
	return wafa__api_header(c, "Accept", "application/json");
}
