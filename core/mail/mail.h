/* A mail an action asked for: what the rules host collects and the outbox
 * stores.  Neither needs the other to know this. */
#ifndef WAFA_MAIL_H
#define WAFA_MAIL_H

struct wafa_mail_req {
	char *to;
	char *subject;  /* NULL with a template: the template's */
	char *body;
	char *template; /* a name in [mail] templates, or NULL */
	char *vars;     /* the template's variables as a JSON object, or NULL */
	char *locale;   /* the template's and dates' locale, or NULL: the customer's */
	int survey;     /* add {{survey_1}} .. {{survey_5}} */
};

#endif
