/* The SMTP channel: libESMTP, one session per batch, run on a worker thread
 * because libESMTP blocks (connect() has no timeout of its own; the other
 * protocol steps use [mail] timeout).
 *
 * libESMTP reports success after many failures (a rejected certificate, a
 * missing STARTTLS, a drop mid-DATA), so every mail's result is read from
 * the message's transfer status, its recipients' statuses and smtp_errno().
 * The daemon ignores SIGPIPE: libESMTP writes with write(2). */
#include <openssl/ssl.h> /* before libesmtp.h, for smtp_starttls_set_ctx */

#include <auth-client.h>
#include <errno.h>
#include <libesmtp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wafa/channel.h"

struct smtp {
	char server[300]; /* host:port */
	enum wafa_starttls starttls;
	char *user, *password;
	SSL_CTX *tls;
	long timeout_ms;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
	auth_client_init();
}

static void secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void st_close(void *state)
{
	struct smtp *s = state;

	if (!s)
		return;
	if (s->tls)
		SSL_CTX_free(s->tls);
	free(s->user);
	secret_free(s->password);
	free(s);
}

static int st_open(const struct wafa_channel_config *cfg, void **state, char *err, size_t errlen)
{
	const char *host = cfg->target;
	struct smtp *s;
	size_t hostlen;
	const char *port = "25";

	if (strncmp(host, "//", 2) != 0) {
		snprintf(err, errlen, "expected smtp://HOST or smtp://HOST:PORT");
		return -EINVAL;
	}
	host += 2;
	hostlen = strcspn(host, ":/");
	if (hostlen == 0 || hostlen > 253) {
		snprintf(err, errlen, "no host name: use smtp://HOST:PORT, like smtp://127.0.0.1:25");
		return -EINVAL;
	}
	if (host[hostlen] == ':') {
		port = host + hostlen + 1;
		char *end;
		long p = strtol(port, &end, 10);
		if (end == port || (*end && *end != '/') || p < 1 || p > 65535) {
			snprintf(err, errlen, "port \"%.20s\" is not a number from 1 to 65535", port);
			return -EINVAL;
		}
	}
	pthread_once(&once, init_once);
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(s->server, sizeof(s->server), "%.*s:%.*s", (int)hostlen, host,
	         (int)strcspn(port, "/"), port);
	s->starttls = cfg->starttls;
	s->timeout_ms = cfg->timeout_ms ? (long)cfg->timeout_ms : 30000;
	if (cfg->auth_user && cfg->auth_user[0]) {
		s->user = strdup(cfg->auth_user);
		s->password = strdup(cfg->auth_password ? cfg->auth_password : "");
		if (!s->user || !s->password)
			goto oom;
	}
	if (s->starttls != WAFA_STARTTLS_OFF) {
		/* our own context: libESMTP's default looks for a CA file under
		 * $HOME, which a daemon should not depend on */
		s->tls = SSL_CTX_new(TLS_client_method());
		if (!s->tls)
			goto oom;
		SSL_CTX_set_min_proto_version(s->tls, TLS1_2_VERSION);
		SSL_CTX_set_verify(s->tls, SSL_VERIFY_PEER, NULL);
		if (cfg->ca_file ? SSL_CTX_load_verify_locations(s->tls, cfg->ca_file, NULL) != 1
		                 : SSL_CTX_set_default_verify_paths(s->tls) != 1) {
			snprintf(err, errlen, "cannot load CA certificates%s%s", cfg->ca_file ? " from " : "",
			         cfg->ca_file ? cfg->ca_file : "");
			st_close(s);
			return -EINVAL;
		}
	}
	*state = s;
	return 0;
oom:
	st_close(s);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* Hands libESMTP the message in one piece; a NULL len means "rewind". */
static const char *message_cb(void **ctx, int *len, void *arg)
{
	const struct wafa_mail *m = arg;
	int *sent = *ctx;

	if (!sent) {
		/* libESMTP frees ctx with free() when the message is done */
		sent = *ctx = calloc(1, sizeof(int));
		if (!sent)
			return NULL;
	}
	if (!len) {
		*sent = 0;
		return NULL;
	}
	if (*sent) {
		*len = 0;
		return NULL;
	}
	*sent = 1;
	*len = (int)m->len;
	return m->data;
}

static int interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	struct smtp *s = arg;

	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_USER)
			result[i] = s->user;
		else if (req[i].flags & AUTH_PASS)
			result[i] = s->password;
		else
			result[i] = (char *)"";
	}
	return 1;
}

/* The worst recipient status: a 5xx beats a 4xx beats anything else. */
struct worst {
	int code;
	const char *text;
	const char *rcpt;
};

static void on_recipient(smtp_recipient_t r, const char *mailbox, void *arg)
{
	struct worst *w = arg;
	const smtp_status_t *st = smtp_recipient_status(r);
	int code = st ? st->code : 0;

	if (code / 100 == 2)
		return;
	if (w->code / 100 != 5 && (code / 100 == 5 || w->code == 0 || code / 100 == 4)) {
		w->code = code;
		w->text = st ? st->text : NULL;
		w->rcpt = mailbox;
	}
}

static void reason(struct wafa_mail *m, int code, const char *text, const char *what)
{
	size_t n;

	if (code)
		snprintf(m->reason, sizeof(m->reason), "%s%s%d %s", what ? what : "", what ? ": " : "",
		         code, text ? text : "");
	else
		snprintf(m->reason, sizeof(m->reason), "%s", text ? text : "not attempted");
	/* one line: no CR/LF from the server */
	for (char *p = m->reason; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	n = strlen(m->reason);
	while (n > 0 && m->reason[n - 1] == ' ')
		m->reason[--n] = '\0';
}

static void classify(struct wafa_mail *m, smtp_message_t msg, const char *session_error)
{
	const smtp_status_t *st = smtp_message_transfer_status(msg);
	const smtp_status_t *from = smtp_reverse_path_status(msg);
	struct worst w = { 0 };
	int code = st ? st->code : 0;

	smtp_enumerate_recipients(msg, on_recipient, &w);
	if (code / 100 == 2) {
		m->status = WAFA_MAIL_SENT;
		if (w.code)
			reason(m, w.code, w.text, w.rcpt); /* accepted for the others */
		else
			reason(m, code, st->text, NULL);
		return;
	}
	if (from && from->code / 100 == 5) {
		m->status = WAFA_MAIL_PERMFAIL;
		reason(m, from->code, from->text, "MAIL FROM");
	} else if (w.code / 100 == 5) {
		m->status = WAFA_MAIL_PERMFAIL;
		reason(m, w.code, w.text, w.rcpt);
	} else if (w.code / 100 == 4) {
		/* with no recipient left the server answers DATA with 503: the
		 * recipient's 4xx is what counts */
		m->status = WAFA_MAIL_TEMPFAIL;
		reason(m, w.code, w.text, w.rcpt);
	} else if (code / 100 == 5) {
		m->status = WAFA_MAIL_PERMFAIL;
		reason(m, code, st->text, "DATA");
	} else {
		m->status = WAFA_MAIL_TEMPFAIL;
		if (code)
			reason(m, code, st->text, NULL);
		else if (w.code)
			reason(m, w.code, w.text, w.rcpt);
		else if (from && from->code)
			reason(m, from->code, from->text, "MAIL FROM");
		else
			reason(m, 0, session_error, NULL);
	}
}

static void fail_all(struct wafa_mail *mails, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		mails[i].status = WAFA_MAIL_TEMPFAIL;
		reason(&mails[i], 0, why, NULL);
	}
}

static void st_send(void *state, struct wafa_mail *mails, size_t n)
{
	static const int steps[] = { Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
		                     Timeout_TRANSFER, Timeout_DATA2 };
	struct smtp *s = state;
	smtp_session_t session = smtp_create_session();
	smtp_message_t *msgs = calloc(n ? n : 1, sizeof(*msgs));
	auth_context_t auth = NULL;
	char errbuf[160], why[512];
	int err;

	if (!session || !msgs) {
		fail_all(mails, n, "out of memory");
		goto out;
	}
	if (!smtp_set_server(session, s->server)) {
		fail_all(mails, n, "bad server address");
		goto out;
	}
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		smtp_set_timeout(session, steps[i] | Timeout_OVERRIDE_RFC2822_MINIMUM, s->timeout_ms);
	smtp_starttls_enable(session, s->starttls == WAFA_STARTTLS_REQUIRED ? Starttls_REQUIRED
	                              : s->starttls == WAFA_STARTTLS_OPTIONAL ? Starttls_ENABLED
	                                                                      : Starttls_DISABLED);
	if (s->tls)
		smtp_starttls_set_ctx(session, s->tls);
	if (s->user) {
		auth = auth_create_context();
		if (!auth) {
			fail_all(mails, n, "out of memory");
			goto out;
		}
		auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
		auth_set_interact_cb(auth, interact, s);
		smtp_auth_set_context(session, auth);
	}
	for (size_t i = 0; i < n; i++) {
		smtp_message_t msg = smtp_add_message(session);
		if (!msg) {
			fail_all(mails, n, "out of memory");
			goto out;
		}
		msgs[i] = msg;
		smtp_set_reverse_path(msg, mails[i].env_from);
		for (size_t r = 0; r < mails[i].nrcpt; r++)
			smtp_add_recipient(msg, mails[i].rcpt[r]);
		smtp_set_messagecb(msg, message_cb, &mails[i]);
	}
	smtp_start_session(session);
	err = smtp_errno();
	if (err)
		snprintf(why, sizeof(why), "SMTP %s: %s", s->server,
		         smtp_strerror(err, errbuf, sizeof(errbuf)));
	else
		snprintf(why, sizeof(why), "SMTP %s: the session ended before this mail", s->server);
	for (size_t i = 0; i < n; i++)
		classify(&mails[i], msgs[i], why);
out:
	if (session)
		smtp_destroy_session(session);
	if (auth)
		auth_destroy_context(auth);
	free(msgs);
}

const struct wafa_channel wafa_channel_smtp = { WAFA_ABI, "smtp", st_open, st_send, st_close };
