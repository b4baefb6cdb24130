/* wafa channel plugin ABI.
 *
 * A channel carries rendered messages to their recipients.  The mailer calls
 * open() once on the loop thread, send() on one of its own worker threads
 * (never the loop thread; concurrently for one state only when the channel
 * sets WAFA_CHANNEL_PARALLEL), and close() on the loop thread after the last
 * send() has returned.  A channel never touches Lua or libpq.
 */
#ifndef WAFA_CHANNEL_H
#define WAFA_CHANNEL_H

#include <stddef.h>

#define WAFA_ABI 2

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

/* What send() tells the mailer while it runs (from the worker thread). */
struct wafa_send_ctx {
	/* Called once, before the first byte of any mail leaves: the channel is
	 * connected and about to deliver.  Until then the mailer may give the
	 * batch up when it stops (a relay that never answers must not hold a
	 * shutdown); if it has, begun() returns 0 and the channel must deliver
	 * nothing, touch no mail, and return as soon as it can.  The later it
	 * is asked, the less a stop waits: smtp asks just before the first
	 * mail's data, after the greeting and the envelope. */
	int (*begun)(void *arg);
	/* Called as soon as one mail's status is final (a 250 to its DATA), so
	 * the mailer records it at once and a crash repeats at most the mail in
	 * flight.  The channel does not touch that mail afterwards.  Mails never
	 * passed here are judged by their status when send() returns. */
	void (*settled)(struct wafa_mail *mail, void *arg);
	/* Waits until the mails passed to settled() as sent are recorded
	 * (bounded by [mail] timeout).  A channel calls it before the last byte
	 * of its next mail leaves, so a crash repeats at most one mail of the
	 * session: the one whose record was not yet in, or the one in flight. */
	void (*recorded)(void *arg);
	void *arg;
	/* Becomes readable when the mailer stops or gives the session up (a
	 * mail not recorded, a lead lost): waits that have not begun()
	 * (a connect) poll it and give up, leaving their mails PENDING; a
	 * session that has begun sends no further mail (none half: a mail cut
	 * off must not reach the relay whole) and leaves the rest PENDING. */
	int cancel_fd;
};

#define WAFA_CHANNEL_PARALLEL 1u /* send() may run on several threads at once */

struct wafa_channel {
	int abi;          /* WAFA_ABI */
	const char *name; /* the transport scheme: "smtp", "maildir" */
	unsigned flags;   /* WAFA_CHANNEL_* */
	/* Returns 0 and sets *state, or a negative errno with a message in err. */
	int (*open)(const struct wafa_channel_config *cfg, void **state, char *err, size_t errlen);
	/* Delivers a batch; sets status and reason of every mail. */
	void (*send)(void *state, struct wafa_mail *mails, size_t n, const struct wafa_send_ctx *ctx);
	void (*close)(void *state);
};

extern const struct wafa_channel wafa_channel_smtp;
extern const struct wafa_channel wafa_channel_maildir;

#endif
