/* wafa channel plugin ABI.
 *
 * A channel carries rendered messages to their recipients.  The mailer calls
 * open() once on the loop thread, send() on a worker thread (never the loop
 * thread, never concurrently for one state), and close() on the loop thread
 * after the last send() has returned.  A channel never touches Lua or libpq.
 */
#ifndef WAFA_CHANNEL_H
#define WAFA_CHANNEL_H

#include <stddef.h>

#define WAFA_ABI 1

enum wafa_mail_status {
	WAFA_MAIL_PENDING = 0, /* not attempted (yet): treated as a temporary failure */
	WAFA_MAIL_SENT,        /* the server accepted it for every recipient */
	WAFA_MAIL_TEMPFAIL,    /* 4xx, connection trouble: retry later */
	WAFA_MAIL_PERMFAIL,    /* 5xx: park as failed with the server's reply */
};

/* One message of a batch.  The mailer owns every pointer; the channel only
 * fills status and reason. */
struct wafa_mail {
	const char *key;         /* outbox key, for logs */
	const char *env_from;    /* envelope sender (bare address) */
	const char *const *rcpt; /* envelope recipients (bare addresses) */
	size_t nrcpt;
	const char *data;        /* the whole message, CRLF line ends */
	size_t len;
	enum wafa_mail_status status;
	char reason[256];        /* server reply or local error, one line */
};

enum wafa_starttls { WAFA_STARTTLS_OFF, WAFA_STARTTLS_OPTIONAL, WAFA_STARTTLS_REQUIRED };

struct wafa_channel_config {
	const char *target;        /* transport after "scheme:", e.g. "//127.0.0.1:25" or "/var/mail/wafa" */
	enum wafa_starttls starttls;
	const char *auth_user;     /* NULL or "" for none */
	const char *auth_password; /* read from auth_password_file; NULL for none */
	const char *ca_file;       /* NULL: the system's CA store */
	unsigned timeout_ms;       /* per protocol step */
};

struct wafa_channel {
	int abi;          /* WAFA_ABI */
	const char *name; /* the transport scheme: "smtp", "maildir" */
	/* Returns 0 and sets *state, or a negative errno with a message in err. */
	int (*open)(const struct wafa_channel_config *cfg, void **state, char *err, size_t errlen);
	/* Delivers a batch; sets status and reason of every mail. */
	void (*send)(void *state, struct wafa_mail *mails, size_t n);
	void (*close)(void *state);
};

extern const struct wafa_channel wafa_channel_smtp;
extern const struct wafa_channel wafa_channel_maildir;

#endif
