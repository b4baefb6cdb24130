/* The SMTP channel: each batch goes to the relay in one libESMTP session;
 * the mailer runs [mail] sessions of them at once on its own threads.
 *
 * libESMTP blocks for the whole dialogue, so send() runs on a worker thread.
 * Every protocol step uses [mail] timeout, but its connect() has none: a
 * relay whose SYNs vanish (a black hole, a full listen queue) would hold the
 * worker for the kernel's SYN retries, about two minutes.  So each session
 * first probes the relay with a non-blocking connect bounded by [mail]
 * timeout, and gives libESMTP the address that answered (see probe()).
 * The probe also polls the mailer's cancel fd, so a stop never waits for it.
 * A relay that stops answering between the probe and libESMTP's own
 * connect a moment later (its listen queue filled, maybe by the probe) is
 * covered by wafa's connect(), which stands in for libc's on a session's
 * thread and bounds it the same way (see connect() below).  On a stop the
 * mailer simply stops waiting for a session that has not begun its first
 * mail's data (begun() in wafa/channel.h, asked by feed_cb()), since no
 * mail can have left: a relay slow to connect, greet or take the envelope
 * never holds a stop; such a session, should it go on, sends nothing.
 * The alternatives were worse: a signal to interrupt connect() races with
 * the call (a signal sent just before it is lost) and would need a handler
 * in a daemon whose signals libuv owns, and libESMTP offers no way to hand
 * it a socket connected by us.
 *
 * smtp_start_session() reports success after a missing STARTTLS, a rejected
 * certificate, a drop mid-DATA or a greeting timeout, so its result is not
 * used: each mail is judged by its MAIL FROM, RCPT TO and DATA replies, and
 * the session's own trouble is pieced together from libESMTP's events, the
 * replies seen through its protocol monitor, OpenSSL's verify callback and
 * smtp_errno().
 *
 * libESMTP writes with write(2): a peer reset mid-DATA would raise SIGPIPE.
 * The daemon ignores SIGPIPE for the whole process; a channel must not
 * install signal handlers of its own. */
#include <openssl/ssl.h> /* first: libesmtp.h declares smtp_starttls_set_ctx() only after it */
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <auth-client.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libesmtp.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wafa/channel.h"

#define DEFAULT_PORT 25
#define MAX_ADDRESS 254 /* RFC 5321 path limit, less the brackets */
#define FEED_CHUNK (1 << 20)

struct trace;

struct smtp {
	char host[254];
	char server[262]; /* "host:port", as smtp_set_server() wants it */
	int sni;          /* host is a name, not an address: send it as SNI */
	enum wafa_starttls starttls;
	char *user, *password; /* NULL: no AUTH */
	char empty[1];         /* answer to AUTH questions other than user and password */
	SSL_CTX *tls;          /* NULL when starttls is off */
	long timeout_ms;       /* 0: libESMTP's RFC 5321 defaults */
	char port[8];          /* for the probe's getaddrinfo() */
};

enum { AUTH_NONE, AUTH_WAIT, AUTH_OK, AUTH_REFUSED };

/* What one session showed beyond the per-message statuses. */
struct trace {
	struct smtp *s;
	const struct wafa_send_ctx *ctx;
	struct wafa_mail *mails;
	smtp_message_t *msgs;
	unsigned char *settled; /* per mail: passed to ctx->settled() already */
	size_t n, next;         /* next: where to look for the message sent next */
	size_t cancelled_at;    /* 1 + the mail whose data was refused on a stop; 0 none */
	auth_context_t auth;
	int connected;
	int begun;         /* ctx->begun() was asked (before the first mail's data) */
	int tls_missing;   /* STARTTLS required, not offered */
	int auth_state;
	long long last_io; /* CLOCK_MONOTONIC ms of the last traffic seen */
	long long last_write; /* ... and of the last command written */
	long long last_read;  /* ... and of the last reply bytes read */
	int stalled;       /* a read timed out: libESMTP took a broken line for a reply, or
	                    * gave up on the session (ETIMEDOUT at its disconnect) */
	char line[512];    /* reply line being assembled from monitor chunks */
	size_t linelen;
	char last_reply[200];
	char auth_reply[200];
	char tls_error[200];
	char connect_why[200]; /* libESMTP's own connect given up (connect()) */
};

/* libESMTP pulls a message through a callback; this is its cursor. */
struct feed {
	const char *data;
	size_t len, off;
	int cancel_fd;       /* -1: none */
	struct trace *t;     /* NULL: none */
	size_t index;        /* of the mail in the batch */
};

struct worst {
	const smtp_status_t *perm, *temp;
	const char *perm_rcpt, *temp_rcpt;
	size_t bad; /* recipients without a 2xx */
};

/* libESMTP builds a character table on first use without a lock.  warm_up()
 * runs one session single-threaded so the table exists before any worker
 * uses it; if it could not, sessions are serialised instead. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int warmed;
static pthread_mutex_t serial = PTHREAD_MUTEX_INITIALIZER;

/* The session on this thread, for OpenSSL's callbacks (several sessions of
 * one state run at once, each on its own thread). */
static __thread struct trace *cur;

static long long now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The GNU and XSI strerror_r differ, and the build may define _GNU_SOURCE. */
static const char *errtext(int e, char *buf, size_t size)
{
#ifdef _GNU_SOURCE
	return strerror_r(e, buf, size);
#else
	return strerror_r(e, buf, size) == 0 ? buf : "unknown error";
#endif
}

/* A reason is one line: server text may carry CR, LF or tabs. */
static void tidy(char *s)
{
	size_t n;

	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

__attribute__((format(printf, 3, 4))) static void verdict(struct wafa_mail *m, enum wafa_mail_status st,
                                                          const char *fmt, ...)
{
	va_list ap;

	m->status = st;
	va_start(ap, fmt);
	if (vsnprintf(m->reason, sizeof(m->reason), fmt, ap) < 0)
		snprintf(m->reason, sizeof(m->reason), "(no reason)");
	va_end(ap);
	tidy(m->reason);
}

/* "550 5.1.1 no such user": libESMTP keeps the enhanced code apart from the text
 * when the server announces ENHANCEDSTATUSCODES. */
static void reply_text(char *buf, size_t size, const smtp_status_t *st)
{
	const char *text = st->text ? st->text : "";

	if (st->enh_class)
		snprintf(buf, size, "%d %d.%d.%d %.180s", st->code, st->enh_class, st->enh_subject,
		         st->enh_detail, text);
	else
		snprintf(buf, size, "%d %.180s", st->code, text);
	tidy(buf);
}

static void fail_pending(struct wafa_mail *mails, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++)
		if (mails[i].status == WAFA_MAIL_PENDING)
			verdict(&mails[i], WAFA_MAIL_TEMPFAIL, "%s", why);
}

/* ---- configuration ---- */

static int parse_target(const char *t, struct smtp *s, char *err, size_t errlen)
{
	const char *h, *end;
	unsigned long port = DEFAULT_PORT;
	size_t n;

	if (!t || strncmp(t, "//", 2) != 0) {
		snprintf(err, errlen, "target \"%s\": expected //HOST or //HOST:PORT after \"smtp:\" "
		         "(e.g. smtp://mail.example.com:25)", t ? t : "");
		return -EINVAL;
	}
	h = t + 2;
	n = strcspn(h, ":/@[]");
	if (h[n] == '@') {
		snprintf(err, errlen, "target \"%s\": no user name in the URL; set auth_user and "
		         "auth_password_file instead", t);
		return -EINVAL;
	}
	if (h[n] == '[' || h[n] == ']') {
		snprintf(err, errlen, "target \"%s\": IPv6 address literals are not supported "
		         "(libESMTP splits HOST:PORT at the first colon); use a host name", t);
		return -EINVAL;
	}
	if (n == 0) {
		snprintf(err, errlen, "target \"%s\": no host name; use smtp://HOST:PORT, "
		         "e.g. smtp://127.0.0.1:25", t);
		return -EINVAL;
	}
	if (n >= sizeof(s->host)) {
		snprintf(err, errlen, "target \"%.60s...\": host name longer than %zu characters", t,
		         sizeof(s->host) - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_')) {
			snprintf(err, errlen, "target \"%s\": host name \"%.*s\" may hold only letters, "
			         "digits, '-', '.' and '_'", t, (int)n, h);
			return -EINVAL;
		}
	}
	end = h + n;
	if (*end == ':') {
		const char *p = end + 1;
		port = 0;
		while (*p >= '0' && *p <= '9' && port <= 65535)
			port = port * 10 + (unsigned long)(*p++ - '0');
		if (p == end + 1 || port == 0 || port > 65535 || (*p >= '0' && *p <= '9')) {
			snprintf(err, errlen, "target \"%s\": the port must be a number from 1 to 65535 "
			         "(e.g. smtp://%.*s:25)", t, (int)n, h);
			return -EINVAL;
		}
		end = p;
	}
	if (*end == '/')
		end++;
	if (*end) {
		snprintf(err, errlen, "target \"%s\": unexpected \"%s\" after the host and port; "
		         "use smtp://HOST:PORT", t, end);
		return -EINVAL;
	}
	memcpy(s->host, h, n);
	s->host[n] = '\0';
	snprintf(s->server, sizeof(s->server), "%s:%lu", s->host, port);
	snprintf(s->port, sizeof(s->port), "%lu", port);
	return 0;
}

static struct smtp *tls_owner(const SSL *ssl)
{
	SSL_CTX *ctx = ssl ? SSL_get_SSL_CTX(ssl) : NULL;

	return ctx ? SSL_CTX_get_app_data(ctx) : NULL;
}

/* Keeps the first reason OpenSSL gives for refusing the server's chain or name. */
static int on_verify(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct smtp *s = tls_owner(ssl);

	if (!ok && s && cur && cur->s == s && !cur->tls_error[0])
		snprintf(cur->tls_error, sizeof(cur->tls_error), "certificate verify failed: %s",
		         X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
	return ok;
}

/* libESMTP creates the SSL itself and sends no SNI, which relays that host
 * several names need to pick a certificate.  The ClientHello is built after
 * this callback, so setting the name here still takes effect. */
static void on_tls_info(const SSL *ssl, int where, int ret)
{
	struct smtp *s;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START))
		return;
	s = tls_owner(ssl);
	if (s && s->sni && !SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
		(void)SSL_set_tlsext_host_name((SSL *)ssl, s->host); /* a failure only loses SNI */
}

/* Our own context: libESMTP's looks for CA files under $HOME, which a daemon
 * should not depend on, and checks names itself without IP addresses. */
static int tls_setup(struct smtp *s, const char *ca_file, char *err, size_t errlen)
{
	X509_VERIFY_PARAM *param;
	unsigned char addr[sizeof(struct in_addr)];
	char why[160] = "";
	int ok;

	ERR_clear_error();
	s->tls = SSL_CTX_new(TLS_client_method());
	/* TLS 1.2 at most: a TLS 1.3 server sends its session tickets after the
	 * handshake, and when they arrive before EHLO is flushed, libESMTP reads
	 * first (there is no reply yet, only the tickets), blocks until the
	 * timeout, and drops the session.  Seen with Python's ssl under load. */
	if (!s->tls || SSL_CTX_set_min_proto_version(s->tls, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(s->tls, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_app_data(s->tls, s) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
		snprintf(err, errlen, "cannot set up TLS: %s", why);
		goto fail;
	}
	SSL_CTX_set_verify(s->tls, SSL_VERIFY_PEER, on_verify);
	SSL_CTX_set_info_callback(s->tls, on_tls_info);
	if (ca_file) {
		if (SSL_CTX_load_verify_locations(s->tls, ca_file, NULL) != 1) {
			ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
			snprintf(err, errlen, "ca_file %s: cannot load CA certificates (%s); give a "
			         "readable PEM file of the CAs to trust", ca_file, why);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(s->tls) != 1) {
		ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
		snprintf(err, errlen, "cannot load the system's CA certificates (%s); install "
		         "ca-certificates or set ca_file", why);
		goto fail;
	}
	/* The handshake fails unless the certificate names the configured host;
	 * on_event() relies on this to overrule libESMTP's weaker check. */
	param = SSL_CTX_get0_param(s->tls);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, s->host, addr) == 1) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, s->host);
	} else {
		ok = X509_VERIFY_PARAM_set1_host(param, s->host, 0);
		s->sni = 1;
	}
	if (ok != 1) {
		snprintf(err, errlen, "cannot set up TLS name checks for \"%s\"", s->host);
		goto fail;
	}
	ERR_clear_error();
	return 0;
fail:
	ERR_clear_error();
	return -EINVAL;
}

/* ---- libESMTP callbacks ---- */

static const char *feed_cb(void **ctx, int *len, void *arg)
{
	struct feed *f = arg;
	const char *p;
	size_t n;

	(void)ctx;
	if (!len) { /* rewind */
		f->off = 0;
		return NULL;
	}
	/* The first byte of mail is about to leave: until now the mailer may
	 * have given the batch up (a stop while the relay was slow to connect,
	 * greet or take the envelope), and then nothing may go. */
	if (f->off == 0 && f->t && !f->t->begun) {
		f->t->begun = 1;
		if (!f->t->ctx->begun(f->t->ctx->arg)) {
			f->t->cancelled_at = f->index + 1;
			*len = 0;
			errno = ECANCELED;
			return NULL;
		}
	}
	/* before this mail's final dot, the one before it is recorded as sent */
	if (f->off == 0 && f->t)
		f->t->ctx->recorded(f->t->ctx->arg);
	/* The mailer stops: this mail's data is refused, and libESMTP drops
	 * the connection before the final dot (the relay keeps nothing of it;
	 * the mails after it are never begun).  A stop so waits for the mail
	 * at the relay, not for the rest of a batch. */
	if (f->off == 0 && f->cancel_fd >= 0 && f->t) {
		struct pollfd pfd = { .fd = f->cancel_fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) > 0) {
			f->t->cancelled_at = f->index + 1;
			*len = 0;
			errno = ECANCELED;
			return NULL;
		}
	}
	n = f->len - f->off;
	if (n > FEED_CHUNK)
		n = FEED_CHUNK;
	p = f->data + f->off;
	f->off += n;
	*len = (int)n;
	return p;
}

static int interact(auth_client_request_t req, char **result, int fields, void *arg)
{
	struct smtp *s = arg;

	for (int i = 0; i < fields; i++) {
		if (req[i].flags & AUTH_PASS)
			result[i] = s->password;
		else if (req[i].flags & AUTH_USER)
			result[i] = s->user;
		else
			result[i] = s->empty;
	}
	return 1;
}

static void on_reply_line(struct trace *t)
{
	char *l = t->line;
	size_t n = t->linelen;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	l[n] = '\0';
	if (n < 3 || l[0] < '1' || l[0] > '5' || l[1] < '0' || l[1] > '9' || l[2] < '0' || l[2] > '9')
		return;
	if (l[3] == '-') /* more lines follow */
		return;
	n = n < sizeof(t->last_reply) ? n : sizeof(t->last_reply) - 1;
	memcpy(t->last_reply, l, n);
	t->last_reply[n] = '\0';
	tidy(t->last_reply);
	if (t->auth_state == AUTH_WAIT) {
		if (l[0] == '2') {
			t->auth_state = AUTH_OK;
		} else if (l[0] != '3') {
			t->auth_state = AUTH_REFUSED;
			memcpy(t->auth_reply, t->last_reply, sizeof(t->auth_reply));
		}
	}
}

/* Sees commands and replies, never the message itself (libESMTP turns the
 * monitor off during DATA).  Nothing written is kept: AUTH carries secrets. */
static void on_monitor(const char *buf, int len, int writing, void *arg)
{
	struct trace *t = arg;

	t->last_io = now_ms();
	if (writing) {
		/* a command after part of a line that then stopped for a timeout:
		 * libESMTP's line reader gave up waiting and took the part as the
		 * whole reply: a relay trickling "250 s" a byte a second against
		 * a 1 s timeout, one gap just over it, gave "250 " as the reply and
		 * "s" as a reply of its own, a bad one, to the next command */
		if (t->linelen > 0 && t->s->timeout_ms > 0 &&
		    t->last_io - t->last_read >= t->s->timeout_ms - 50)
			t->stalled = 1;
		t->last_write = t->last_io;
		/* AUTH is always flushed on its own, so it starts a write */
		if (len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0)
			t->auth_state = AUTH_WAIT;
		return;
	}
	t->last_read = t->last_io;
	for (int i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			on_reply_line(t);
			t->linelen = 0;
		} else if (t->linelen < sizeof(t->line) - 1) {
			t->line[t->linelen++] = buf[i];
		}
	}
}

static void on_recipient(smtp_recipient_t r, const char *mailbox, void *arg);

/* A mail the server took for every recipient is passed on at once, so it
 * is recorded as sent before the next one goes (a crash repeats at most the
 * mail in flight).  Anything else is judged when the session ends. */
static void on_message_sent(struct trace *t, smtp_message_t msg)
{
	const smtp_status_t *ms = smtp_message_transfer_status(msg);
	struct worst w = { 0 };
	char reply[220];
	size_t i;

	for (i = 0; i < t->n; i++) {
		size_t k = (t->next + i) % t->n;
		if (t->msgs[k] == msg) {
			i = k;
			break;
		}
	}
	if (i >= t->n || t->settled[i] || !ms || ms->code / 100 != 2)
		return;
	(void)smtp_enumerate_recipients(msg, on_recipient, &w);
	if (w.bad)
		return;
	t->next = i + 1;
	reply_text(reply, sizeof(reply), ms);
	verdict(&t->mails[i], WAFA_MAIL_SENT, "%s", reply);
	t->settled[i] = 1;
	t->ctx->settled(&t->mails[i], t->ctx->arg);
}

static void on_event(smtp_session_t session, int event, void *arg, ...)
{
	struct trace *t = arg;
	va_list ap;
	int *ok;

	(void)session;
	va_start(ap, arg);
	switch (event) {
	case SMTP_EV_CONNECT:
		t->connected = 1;
		t->last_io = t->last_write = now_ms(); /* the greeting answers the connect */
		break;
	case SMTP_EV_DISCONNECT:
		/* libESMTP's reader sets ETIMEDOUT when its poll runs out, and a
		 * read or write that worked leaves errno 0: nothing else runs
		 * between that and the disconnect but close() */
		if (errno == ETIMEDOUT)
			t->stalled = 1;
		break;
	case SMTP_EV_MESSAGESENT:
		on_message_sent(t, va_arg(ap, smtp_message_t));
		break;
	case SMTP_EV_EXTNA_STARTTLS:
		t->tls_missing = 1;
		break;
	case SMTP_EV_STARTTLS_OK:
		/* passwords in clear text only once the channel is encrypted */
		if (t->auth)
			(void)auth_set_mechanism_flags(t->auth, AUTH_PLUGIN_PLAIN, 0);
		break;
	case SMTP_EV_WRONG_PEER_CERTIFICATE:
		/* libESMTP matches DNS names only, against the resolver's canonical
		 * name; OpenSSL already matched the configured host or address during
		 * the handshake (tls_setup), which would have failed otherwise. */
		ok = va_arg(ap, int *);
		*ok = 1;
		break;
	case SMTP_EV_INVALID_PEER_CERTIFICATE:
	case SMTP_EV_NO_PEER_CERTIFICATE:
	case SMTP_EV_WEAK_CIPHER:
		if (!t->tls_error[0])
			snprintf(t->tls_error, sizeof(t->tls_error), "%s",
			         event == SMTP_EV_WEAK_CIPHER           ? "cipher too weak"
			         : event == SMTP_EV_NO_PEER_CERTIFICATE ? "the server sent no certificate"
			                                                : "certificate not trusted");
		break;
	default:
		break;
	}
	va_end(ap);
}

static void on_recipient(smtp_recipient_t r, const char *mailbox, void *arg)
{
	struct worst *w = arg;
	const smtp_status_t *st = smtp_recipient_status(r);
	int cls = st ? st->code / 100 : 0;

	if (cls == 2)
		return;
	w->bad++;
	if (cls == 5 && !w->perm) {
		w->perm = st;
		w->perm_rcpt = mailbox;
	} else if (cls == 4 && !w->temp) {
		w->temp = st;
		w->temp_rcpt = mailbox;
	}
}

/* ---- warm-up ---- */

/* libESMTP keeps a per-thread error that nothing resets, so a failure left by
 * an earlier session on this worker would read as this one's.  A call with a
 * bad argument sets it to SMTP_ERR_INVAL, which session_reason() reads as
 * "none". */
static void smtp_errno_reset(void)
{
	char c;

	(void)smtp_strerror(0, &c, 0);
}

struct warm {
	int lfd;
	int ehlo_parsed; /* the client went on after reading our EHLO reply */
};

static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do
		rc = poll(&p, 1, 5000);
	while (rc < 0 && errno == EINTR);
	return rc > 0;
}

static int say(int fd, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t w = send(fd, text + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;
		off += (size_t)w;
	}
	return 1;
}

/* Just enough of a server for the client to parse a multi-line EHLO reply,
 * which is what builds the table; it ends the dialogue politely so that the
 * client never writes to a closed socket. */
static void *warm_serve(void *arg)
{
	struct warm *w = arg;
	char buf[1024];
	size_t have = 0;
	int fd = -1, ehlo_sent = 0;

	if (!wait_fd(w->lfd, POLLIN))
		goto out;
	fd = accept(w->lfd, NULL, NULL);
	if (fd < 0 || !say(fd, "220 wafa warm-up\r\n"))
		goto out;
	for (;;) {
		char *eol = memchr(buf, '\n', have);
		ssize_t r;

		if (!eol) {
			if (have == sizeof(buf) || !wait_fd(fd, POLLIN))
				goto out;
			r = recv(fd, buf + have, sizeof(buf) - have, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				goto out;
			have += (size_t)r;
			continue;
		}
		if (ehlo_sent)
			w->ehlo_parsed = 1;
		if (strncasecmp(buf, "EHLO", 4) == 0) {
			if (!say(fd, "250-wafa warm-up\r\n250 8BITMIME\r\n"))
				goto out;
			ehlo_sent = 1;
		} else if (strncasecmp(buf, "QUIT", 4) == 0) {
			(void)say(fd, "221 bye\r\n");
			goto out;
		} else if (!say(fd, "421 4.3.0 warm-up only\r\n")) {
			goto out;
		}
		have -= (size_t)(eol + 1 - buf);
		memmove(buf, eol + 1, have);
	}
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void warm_up(void)
{
	static const int steps[] = { Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
		                     Timeout_TRANSFER, Timeout_DATA2 };
	struct warm w = { .lfd = -1 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct feed f = { .data = "\r\n", .len = 2, .cancel_fd = -1 };
	smtp_session_t session = NULL;
	smtp_message_t msg;
	pthread_t th;
	int started = 0;
	char server[32];

	/* the other lazy one-time set-ups, also while still single-threaded:
	 * OpenSSL's error queue and libESMTP's per-thread error key */
	auth_client_init();
	(void)OPENSSL_init_ssl(0, NULL);
	ERR_clear_error();
	smtp_errno_reset();
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	w.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (w.lfd < 0 || bind(w.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(w.lfd, 1) != 0 ||
	    getsockname(w.lfd, (struct sockaddr *)&sa, &salen) != 0)
		goto out;
	if (pthread_create(&th, NULL, warm_serve, &w) != 0)
		goto out;
	started = 1;
	snprintf(server, sizeof(server), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	session = smtp_create_session();
	if (!session || !smtp_set_server(session, server) ||
	    !smtp_starttls_enable(session, Starttls_DISABLED))
		goto out;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (!smtp_set_timeout(session, steps[i] | Timeout_OVERRIDE_RFC2822_MINIMUM, 5000))
			goto out;
	msg = smtp_add_message(session);
	if (!msg || !smtp_set_reverse_path(msg, "") || !smtp_add_recipient(msg, "warm-up@invalid") ||
	    !smtp_set_messagecb(msg, feed_cb, &f))
		goto out;
	(void)smtp_start_session(session); /* the outcome is judged by the server side */
out:
	if (session)
		smtp_destroy_session(session);
	if (started) {
		/* wakes the server if the client never connected */
		(void)shutdown(w.lfd, SHUT_RDWR);
		if (pthread_join(th, NULL) == 0)
			warmed = w.ehlo_parsed;
	}
	if (w.lfd >= 0)
		close(w.lfd);
}

/* ---- the channel ---- */

static void st_close(void *state)
{
	struct smtp *s = state;

	if (!s)
		return;
	SSL_CTX_free(s->tls);
	free(s->user);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

static int st_open(const struct wafa_channel_config *cfg, void **state, char *err, size_t errlen)
{
	struct smtp *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = parse_target(cfg->target, s, err, errlen);
	if (rc)
		goto fail;
	if (cfg->starttls != WAFA_STARTTLS_OFF && cfg->starttls != WAFA_STARTTLS_OPTIONAL &&
	    cfg->starttls != WAFA_STARTTLS_REQUIRED) {
		snprintf(err, errlen, "starttls: unknown mode %d (use off, optional or required)",
		         (int)cfg->starttls);
		rc = -EINVAL;
		goto fail;
	}
	s->starttls = cfg->starttls;
	/* sio_set_timeout() takes an int of milliseconds */
	s->timeout_ms = cfg->timeout_ms > INT_MAX ? INT_MAX : (long)cfg->timeout_ms;
	if (cfg->auth_user && cfg->auth_user[0]) {
		s->user = strdup(cfg->auth_user);
		s->password = strdup(cfg->auth_password ? cfg->auth_password : "");
		if (!s->user || !s->password) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
			goto fail;
		}
	}
	if (s->starttls != WAFA_STARTTLS_OFF) {
		rc = tls_setup(s, cfg->ca_file, err, errlen);
		if (rc)
			goto fail;
	}
	(void)pthread_once(&once, warm_up);
	*state = s;
	return 0;
fail:
	st_close(s);
	return rc;
}

/* A character that would break the SMTP command line the address goes into. */
static const char *bad_address(const char *a)
{
	if (strlen(a) > MAX_ADDRESS)
		return "longer than 254 characters";
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
			return "has a space, control character or angle bracket";
	return NULL;
}

/* Mails that can never go out are settled before the session. */
static int check_mail(struct wafa_mail *m)
{
	const char *why;

	if (!m->data || m->len == 0) {
		verdict(m, WAFA_MAIL_PERMFAIL, "empty message");
		return 0;
	}
	if (m->nrcpt == 0 || !m->rcpt) {
		verdict(m, WAFA_MAIL_PERMFAIL, "no envelope recipients");
		return 0;
	}
	if (m->env_from && (why = bad_address(m->env_from))) {
		verdict(m, WAFA_MAIL_PERMFAIL, "envelope sender \"%.100s\" %s", m->env_from, why);
		return 0;
	}
	for (size_t r = 0; r < m->nrcpt; r++) {
		if (!m->rcpt[r]) {
			verdict(m, WAFA_MAIL_PERMFAIL, "envelope recipient %zu is missing", r + 1);
			return 0;
		}
		if ((why = bad_address(m->rcpt[r]))) {
			verdict(m, WAFA_MAIL_PERMFAIL, "envelope recipient \"%.100s\" %s", m->rcpt[r], why);
			return 0;
		}
	}
	return 1;
}

static int setup_session(struct smtp *s, struct trace *t, smtp_session_t session, const char *server)
{
	static const int steps[] = { Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
		                     Timeout_TRANSFER, Timeout_DATA2 };
	enum starttls_option how = s->starttls == WAFA_STARTTLS_REQUIRED   ? Starttls_REQUIRED
	                           : s->starttls == WAFA_STARTTLS_OPTIONAL ? Starttls_ENABLED
	                                                                   : Starttls_DISABLED;

	if (!smtp_set_server(session, server) || !smtp_starttls_enable(session, how))
		return 0;
	/* without OVERRIDE, libESMTP raises anything below RFC 5321's minutes */
	for (size_t i = 0; s->timeout_ms > 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
		if (!smtp_set_timeout(session, steps[i] | Timeout_OVERRIDE_RFC2822_MINIMUM, s->timeout_ms))
			return 0;
	if (s->tls && !smtp_starttls_set_ctx(session, s->tls)) /* takes its own reference */
		return 0;
	/* No DATA unless every recipient was accepted: a mail is then either
	 * delivered to all or to none, and a retry sends no duplicates.  It
	 * also keeps libESMTP from pipelining DATA after RCPT: tried for mails
	 * to one recipient, that round trip less made the 250 before a kill -9
	 * likelier to be unrecorded (kill_loop: 1.12 duplicates a kill against
	 * 0.88) for a gain lost in the noise on loopback; left off. */
	if (!smtp_option_require_all_recipients(session, 1) || !smtp_set_eventcb(session, on_event, t) ||
	    !smtp_set_monitorcb(session, on_monitor, t, 0))
		return 0;
	if (s->user) {
		t->auth = auth_create_context();
		/* PLAIN and LOGIN send the password as is: allowed from the start
		 * when TLS is required (it comes before AUTH) or explicitly off;
		 * with optional TLS only once it is up (on_event). */
		if (!t->auth ||
		    !auth_set_mechanism_flags(t->auth,
		                              s->starttls == WAFA_STARTTLS_OPTIONAL ? 0 : AUTH_PLUGIN_PLAIN, 0) ||
		    !auth_set_interact_cb(t->auth, interact, s) || !smtp_auth_set_context(session, t->auth))
			return 0;
	}
	/* No header options are set.  libESMTP's only ones either replace our
	 * header with its own (Hdr_OVERRIDE) or strip it (Hdr_PROHIBIT); it adds
	 * Date, From and Message-Id only when missing, and our messages carry
	 * all three. */
	return 1;
}

static int add_mail(smtp_session_t session, const struct wafa_mail *m, struct feed *f,
                    smtp_message_t *out)
{
	smtp_message_t msg = smtp_add_message(session);

	if (!msg)
		return 0;
	*out = msg;
	f->data = m->data;
	f->len = m->len;
	f->off = 0;
	/* the size lets a relay refuse an oversized mail before the transfer */
	if (!smtp_set_reverse_path(msg, m->env_from) || !smtp_set_messagecb(msg, feed_cb, f) ||
	    !smtp_size_set_estimate(msg, m->len))
		return 0;
	for (size_t r = 0; r < m->nrcpt; r++)
		if (!smtp_add_recipient(msg, m->rcpt[r]))
			return 0;
	return 1;
}

/* Connects to the relay without blocking, within [mail] timeout, trying its
 * addresses in turn; closes the connection again and writes the address that
 * answered into server ("192.0.2.1:25"; libESMTP then connects to that one
 * and does not resolve the name again).  Returns 0, -ECANCELED when the
 * mailer stopped meanwhile, or another -errno with why. */
static int probe(const struct smtp *s, int cancel_fd, char *server, size_t size, char *why,
                 size_t whylen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	long long budget = s->timeout_ms > 0 ? s->timeout_ms : 300000; /* RFC 5321's 5 min */
	long long end = now_ms() + budget;
	char e[128];
	int rc, fd = -1;

	rc = getaddrinfo(s->host, s->port, &hints, &res);
	if (rc != 0) {
		snprintf(why, whylen, "resolve %.120s: %s", s->host,
		         rc == EAI_SYSTEM ? errtext(errno, e, sizeof(e)) : gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	rc = -EHOSTUNREACH;
	snprintf(why, whylen, "connect to %.120s: no address", s->server);
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct pollfd p[2] = { { .events = POLLOUT }, { .fd = cancel_fd, .events = POLLIN } };
		int err = 0, n;
		socklen_t len = sizeof(err);

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			snprintf(why, whylen, "connect to %.120s: socket: %s", s->server,
			         errtext(errno, e, sizeof(e)));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
			err = errno;
		} else {
			p[0].fd = fd;
			for (;;) {
				long long left = end - now_ms();
				n = poll(p, cancel_fd >= 0 ? 2 : 1, left > 0 ? (int)left : 0);
				if (n < 0 && errno == EINTR)
					continue;
				break;
			}
			if (n > 0 && cancel_fd >= 0 && (p[1].revents & POLLIN)) {
				rc = -ECANCELED;
				snprintf(why, whylen, "not sent: wafa stopped while connecting to %.120s",
				         s->server);
				goto out;
			}
			if (n == 0) {
				rc = -ETIMEDOUT;
				snprintf(why, whylen, "connect to %.120s: no answer within %lld ms", s->server,
				         budget);
				close(fd);
				fd = -1;
				continue;
			}
			if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
				err = errno;
		}
		if (err) {
			rc = -err;
			snprintf(why, whylen, "connect to %.120s: %s", s->server, errtext(err, e, sizeof(e)));
			close(fd);
			fd = -1;
			continue;
		}
		/* IPv6 literals would not survive libESMTP's HOST:PORT split */
		char host[INET6_ADDRSTRLEN];
		if (ai->ai_family == AF_INET &&
		    getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST) == 0)
			snprintf(server, size, "%s:%s", host, s->port);
		else
			snprintf(server, size, "%s", s->server);
		rc = 0;
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return rc;
}

/* libESMTP's own connect, bounded.  It connects with a blocking connect(2)
 * of its own and offers no way to hand it a socket, so a relay that stops
 * answering between probe() and that connect (its listen queue filled up
 * meanwhile: the probe's own connection can be the one that filled it)
 * would hold the session for the kernel's SYN retries, about two minutes.
 * wafa's connect() stands in for libc's in the whole process (the
 * executable's symbol comes first for libesmtp.so too): on a session's
 * thread, inside smtp_start_session() (cur set), it connects without
 * blocking and waits at most [mail] timeout, or until the mailer's cancel
 * fd says stop; anywhere else it is libc's connect, untouched. */
typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static connect_fn libc_connect(void)
{
	static connect_fn fn;
	connect_fn f = __atomic_load_n(&fn, __ATOMIC_ACQUIRE);

	if (!f) {
		*(void **)&f = dlsym(RTLD_NEXT, "connect");
		__atomic_store_n(&fn, f, __ATOMIC_RELEASE);
	}
	return f;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct trace *t = cur;
	connect_fn real = libc_connect();
	long long budget, end;
	int flags, err = 0, n = 1;
	socklen_t elen = sizeof(err);
	char e[128];

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (!t || (flags = fcntl(fd, F_GETFL)) < 0 || (flags & O_NONBLOCK) ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
		return real(fd, addr, len);
	budget = t->s->timeout_ms > 0 ? t->s->timeout_ms : 300000; /* RFC 5321's 5 min */
	end = now_ms() + budget;
	if (real(fd, addr, len) != 0) {
		err = errno;
		if (err == EINPROGRESS) {
			struct pollfd p[2] = { { .fd = fd, .events = POLLOUT },
				               { .fd = t->ctx->cancel_fd, .events = POLLIN } };
			for (;;) {
				long long left = end - now_ms();
				n = poll(p, t->ctx->cancel_fd >= 0 ? 2 : 1, left > 0 ? (int)left : 0);
				if (n < 0 && errno == EINTR)
					continue;
				break;
			}
			if (n > 0 && t->ctx->cancel_fd >= 0 && (p[1].revents & POLLIN))
				err = ECANCELED;
			else if (n == 0)
				err = ETIMEDOUT;
			else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
				err = errno;
		}
	}
	(void)fcntl(fd, F_SETFL, flags); /* libESMTP sets its own flags after the connect */
	if (err == ETIMEDOUT && n == 0)
		snprintf(t->connect_why, sizeof(t->connect_why), "connect to %.120s: no answer "
		         "within %lld ms", t->s->server, budget);
	else if (err && err != ECANCELED)
		snprintf(t->connect_why, sizeof(t->connect_why), "connect to %.120s: %s",
		         t->s->server, errtext(err, e, sizeof(e)));
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* Why mails that got no reply of their own did not go. */
static void session_reason(const struct smtp *s, const struct trace *t, char *why, size_t size)
{
	int e = smtp_errno();
	char buf[160];
	const char *text;
	unsigned long ossl;

	if (t->tls_missing) {
		snprintf(why, size, "STARTTLS is required but %.120s does not offer it", s->server);
	} else if (t->tls_error[0]) {
		snprintf(why, size, "TLS with %.120s: %s", s->server, t->tls_error);
	} else if (!t->connected && t->connect_why[0]) {
		snprintf(why, size, "%s", t->connect_why);
	} else if (t->last_reply[0] == '4' || t->last_reply[0] == '5') {
		snprintf(why, size, "%s (from %.120s)", t->last_reply, s->server);
	} else if (e != 0 && e != SMTP_ERR_INVAL) {
		text = smtp_strerror(e, buf, sizeof(buf));
		if (!text)
			text = "unknown error";
		if (!t->connected && e < 0)
			snprintf(why, size, "connect to %.120s: %s", s->server, text);
		else if (!t->connected && e >= SMTP_ERR_EAI_ADDRFAMILY && e <= SMTP_ERR_EAI_SOCKTYPE)
			snprintf(why, size, "resolve %.120s: %s", s->host, text);
		else if (e == SMTP_ERR_CLIENT_ERROR && s->tls && (ossl = ERR_peek_last_error()) != 0) {
			ERR_error_string_n(ossl, buf, sizeof(buf));
			snprintf(why, size, "TLS handshake with %.120s failed: %.120s", s->server, buf);
		} else if ((e == SMTP_ERR_DROPPED_CONNECTION || e == SMTP_ERR_INVALID_RESPONSE_SYNTAX ||
		            e == SMTP_ERR_UNTERMINATED_RESPONSE) &&
		           s->timeout_ms > 0 &&
		           (t->stalled || now_ms() - t->last_io >= s->timeout_ms - 50 ||
		            (e != SMTP_ERR_DROPPED_CONNECTION &&
		             (t->linelen > 0 ||
		              (t->last_write && now_ms() - t->last_write >= s->timeout_ms - 50)))))
			/* libESMTP reports its timeouts as a dropped connection, or
			 * (when a reply stalls part-way) as the broken line it read,
			 * or, when it took a stalled part for a whole reply, as the
			 * rest that came after its next command (t->stalled);
			 * the monitor may see that part just before the error, so a
			 * broken reply counts as a stall when it ended mid-line (a
			 * server's own bad reply is a whole line), or when its
			 * command was written a timeout ago */
			snprintf(why, size, "no reply from %.120s within %ld ms", s->server, s->timeout_ms);
		else
			snprintf(why, size, "SMTP %.120s: %s", s->server, text);
	} else if (!t->connected) {
		snprintf(why, size, "no connection to %.120s", s->server);
	} else {
		snprintf(why, size, "the session with %.120s ended before this mail was sent", s->server);
	}
	tidy(why);
}

/* A "530 Authentication required" (RFC 4954) refusal of this mail, if any. */
static const smtp_status_t *auth_wanted(const smtp_status_t *rp, const struct worst *w,
                                        const smtp_status_t *ms)
{
	if (rp && rp->code == 530)
		return rp;
	if (w->perm && w->perm->code == 530)
		return w->perm;
	return ms && ms->code == 530 ? ms : NULL;
}

static void classify(struct wafa_mail *m, smtp_message_t msg, const struct trace *t, const char *why)
{
	const smtp_status_t *ms = smtp_message_transfer_status(msg);
	const smtp_status_t *rp = smtp_reverse_path_status(msg);
	int mc = ms ? ms->code / 100 : 0, rc = rp ? rp->code / 100 : 0;
	const smtp_status_t *st;
	struct worst w = { 0 };
	char reply[220];

	(void)smtp_enumerate_recipients(msg, on_recipient, &w);
	if (mc == 2 && w.bad == 0) {
		reply_text(reply, sizeof(reply), ms);
		verdict(m, WAFA_MAIL_SENT, "%s", reply);
	} else if (t->auth_state == AUTH_REFUSED) {
		/* wrong credentials are fixed by a person; the mail must wait, not fail */
		verdict(m, WAFA_MAIL_TEMPFAIL, "AUTH as %s refused: %s", t->s->user, t->auth_reply);
	} else if (t->s->user && t->auth_state == AUTH_NONE && (st = auth_wanted(rp, &w, ms))) {
		/* credentials are configured but never used: a setting to fix, not a bad mail */
		reply_text(reply, sizeof(reply), st);
		verdict(m, WAFA_MAIL_TEMPFAIL, "%s; no AUTH was done: %s offered no usable mechanism "
		        "(PLAIN and LOGIN need TLS unless starttls = off)", reply, t->s->server);
	} else if (rc == 5) {
		reply_text(reply, sizeof(reply), rp);
		verdict(m, WAFA_MAIL_PERMFAIL, "%s (MAIL FROM:<%s>)", reply, m->env_from ? m->env_from : "");
	} else if (w.perm) {
		reply_text(reply, sizeof(reply), w.perm);
		verdict(m, WAFA_MAIL_PERMFAIL, "%s (RCPT TO:<%s>)", reply, w.perm_rcpt);
	} else if (mc == 5) {
		reply_text(reply, sizeof(reply), ms);
		verdict(m, WAFA_MAIL_PERMFAIL, "%s (DATA)", reply);
	} else if (rc == 4) {
		reply_text(reply, sizeof(reply), rp);
		verdict(m, WAFA_MAIL_TEMPFAIL, "%s (MAIL FROM:<%s>)", reply, m->env_from ? m->env_from : "");
	} else if (w.temp) {
		reply_text(reply, sizeof(reply), w.temp);
		verdict(m, WAFA_MAIL_TEMPFAIL, "%s (RCPT TO:<%s>)", reply, w.temp_rcpt);
	} else if (mc == 4) {
		reply_text(reply, sizeof(reply), ms);
		verdict(m, WAFA_MAIL_TEMPFAIL, "%s (DATA)", reply);
	} else {
		/* never attempted, or cut off mid-way (a 354 with no final reply) */
		verdict(m, WAFA_MAIL_TEMPFAIL, "%s", why);
	}
}

static void st_send(void *state, struct wafa_mail *mails, size_t n, const struct wafa_send_ctx *ctx)
{
	struct smtp *s = state;
	struct trace t = { .s = s, .ctx = ctx, .mails = mails, .n = n };
	struct feed *feeds = NULL;
	smtp_message_t *msgs = NULL;
	smtp_session_t session = NULL;
	size_t todo = 0;
	int locked = 0, rc;
	char why[1024], server[sizeof(s->server)];

	for (size_t i = 0; i < n; i++) {
		mails[i].status = WAFA_MAIL_PENDING;
		mails[i].reason[0] = '\0';
		if (check_mail(&mails[i]))
			todo++;
	}
	if (todo == 0)
		goto out;
	rc = probe(s, ctx->cancel_fd, server, sizeof(server), why, sizeof(why));
	if (rc == -ECANCELED)
		return; /* the mailer gave the batch up: its mails stay PENDING */
	if (rc) {
		fail_pending(mails, n, why);
		goto out;
	}
	feeds = calloc(n, sizeof(*feeds));
	msgs = calloc(n, sizeof(*msgs));
	t.settled = calloc(n, 1);
	session = smtp_create_session();
	if (!feeds || !msgs || !t.settled || !session || !setup_session(s, &t, session, server)) {
		fail_pending(mails, n, "cannot set up an SMTP session: out of memory");
		goto out;
	}
	t.msgs = msgs;
	for (size_t i = 0; i < n; i++) {
		if (mails[i].status != WAFA_MAIL_PENDING)
			continue;
		feeds[i].t = &t;
		feeds[i].index = i;
		feeds[i].cancel_fd = ctx->cancel_fd;
		if (!add_mail(session, &mails[i], &feeds[i], &msgs[i])) {
			fail_pending(mails, n, "cannot set up an SMTP session: out of memory");
			goto out;
		}
	}
	if (!warmed)
		locked = pthread_mutex_lock(&serial) == 0;
	cur = &t;
	ERR_clear_error();
	smtp_errno_reset();
	(void)smtp_start_session(session); /* says little: see the top of this file */
	session_reason(s, &t, why, sizeof(why));
	cur = NULL;
	ERR_clear_error();
	if (locked)
		(void)pthread_mutex_unlock(&serial);
	for (size_t i = 0; i < n; i++)
		if (msgs[i] && !t.settled[i])
			classify(&mails[i], msgs[i], &t, why);
out:
	/* the session first: it still points at the auth context */
	if (session)
		smtp_destroy_session(session);
	if (t.auth)
		auth_destroy_context(t.auth);
	fail_pending(mails, n, "not attempted");
	/* cut short by a stop: the mail refused its data and those after it
	 * were not sent; PENDING tells the mailer they are due again at once */
	for (size_t i = t.cancelled_at ? t.cancelled_at - 1 : n; i < n; i++) {
		if (t.settled[i])
			continue;
		mails[i].status = WAFA_MAIL_PENDING;
		snprintf(mails[i].reason, sizeof(mails[i].reason), "not sent: wafa stopped");
	}
	free(feeds);
	free(msgs);
	free(t.settled);
}

const struct wafa_channel wafa_channel_smtp = { WAFA_ABI, "smtp", WAFA_CHANNEL_PARALLEL, st_open,
	                                        st_send, st_close };
