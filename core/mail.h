/* A mail an action asked for: what the rules host collects and the outbox
 * stores.  Neither needs the other to know this. */
#ifndef WAFA_MAIL_H
#define WAFA_MAIL_H

struct wafa_mail_req {
	char *to;
	char *subject;
	char *body;
};

#endif
