/* A mail an action asked for: what the rules host collects and the outbox
 * stores.  Neither needs the other to know this. */
#ifndef WAFA_MAIL_H
#define WAFA_MAIL_H

/* What an action queues besides mail: a webhook POST or a ticket change
 * through the helpdesk's API (core/http/).  Each is an outbox row like a
 * mail, keyed rule/ticket/phase/instance/n with n counted across them all. */
enum wafa_out_channel { WAFA_OUT_MAIL, WAFA_OUT_WEBHOOK, WAFA_OUT_TICKET };
extern const char *const wafa_out_channel_names[];

struct wafa_mail_req {
	char *to;       /* a webhook: "webhook:NAME"; a ticket action: "ticket:OP" */
	char *subject;  /* NULL with a template: the template's */
	char *body;
	char *template; /* a name in [mail] templates, or NULL */
	char *vars;     /* the template's variables as a JSON object, or NULL */
	char *locale;   /* the template's and dates' locale, or NULL: the customer's */
	int survey;     /* add {{survey_1}} .. {{survey_5}} */
	int channel;    /* enum wafa_out_channel */
	char *target;   /* a webhook's name, or NULL */
	char *payload;  /* webhook/ticket: the JSON object queued, or NULL */
};

#endif
