/* The maildir channel: each mail becomes a file in DIR/new, for the demo,
 * tests, and sites whose own delivery agent picks mail up from a maildir.
 *
 * A file is written under DIR/tmp, synced, then renamed into DIR/new, so a
 * reader never sees half a mail; the rename is synced too before the mail
 * counts as sent.  Files use LF line ends, as maildir readers expect, and
 * start with Return-Path, which the final delivery adds (RFC 5321 4.4). */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "wafa/channel.h"

struct maildir {
	char *dir;
	int tmpfd, newfd;     /* DIR/tmp and DIR/new, opened once */
	char host[256];       /* the host part of file names, escaped */
	unsigned long count;  /* deliveries by this state: send() is never concurrent */
};

/* The GNU and XSI strerror_r differ, and the build may define _GNU_SOURCE. */
static const char *errtext(int e, char *buf, size_t size)
{
#ifdef _GNU_SOURCE
	return strerror_r(e, buf, size);
#else
	return strerror_r(e, buf, size) == 0 ? buf : "unknown error";
#endif
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
	*fd = -1;
}

static void md_close(void *state)
{
	struct maildir *md = state;

	if (!md)
		return;
	close_fd(&md->tmpfd);
	close_fd(&md->newfd);
	free(md->dir);
	free(md);
}

/* Creates dfd/name if missing and checks it is a directory we may write. */
static int subdir(int dfd, const char *dir, const char *name, char *err, size_t errlen)
{
	struct stat st;
	char e[128];
	int rc;

	if (mkdirat(dfd, name, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s/%s: %s (create it, or let this user write to %s)",
		         dir, name, errtext(-rc, e, sizeof(e)), dir);
		return rc;
	}
	if (fstatat(dfd, name, &st, 0) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s/%s: %s", dir, name, errtext(-rc, e, sizeof(e)));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s/%s is not a directory (a maildir needs tmp, new and cur "
		         "directories)", dir, name);
		return -ENOTDIR;
	}
	if (faccessat(dfd, name, W_OK | X_OK, AT_EACCESS) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s/%s: %s (make it writable by the user wafa runs as)", dir, name,
		         errtext(-rc, e, sizeof(e)));
		return rc;
	}
	return 0;
}

/* '/' and ':' cannot be in a maildir name; the convention writes them as
 * \057 and \072. */
static void set_host(struct maildir *md)
{
	char raw[128];
	size_t o = 0;

	if (gethostname(raw, sizeof(raw)) != 0 || !raw[0])
		snprintf(raw, sizeof(raw), "localhost");
	raw[sizeof(raw) - 1] = '\0';
	for (const char *p = raw; *p && o + 5 < sizeof(md->host); p++) {
		if (*p == '/' || *p == ':') {
			memcpy(md->host + o, *p == '/' ? "\\057" : "\\072", 4);
			o += 4;
		} else {
			md->host[o++] = *p;
		}
	}
	md->host[o] = '\0';
}

static int md_open(const struct wafa_channel_config *cfg, void **state, char *err, size_t errlen)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	struct maildir *md = calloc(1, sizeof(*md));
	char e[128];
	int dfd = -1, rc;

	if (!md) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	md->tmpfd = md->newfd = -1;
	if (!cfg->target || !cfg->target[0]) {
		snprintf(err, errlen, "no directory given: use maildir:/path/to/Maildir");
		rc = -EINVAL;
		goto fail;
	}
	md->dir = strdup(cfg->target);
	if (!md->dir) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	/* DIR itself too, but not its parents: a missing parent is more likely a typo */
	if (mkdir(md->dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s (create it, or fix the path)", md->dir,
		         errtext(-rc, e, sizeof(e)));
		goto fail;
	}
	dfd = open(md->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s: %s", md->dir, errtext(-rc, e, sizeof(e)));
		goto fail;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		rc = subdir(dfd, md->dir, subs[i], err, errlen);
		if (rc)
			goto fail;
	}
	md->tmpfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	md->newfd = openat(dfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (md->tmpfd < 0 || md->newfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open %s/tmp or %s/new: %s", md->dir, md->dir,
		         errtext(-rc, e, sizeof(e)));
		goto fail;
	}
	set_host(md);
	close_fd(&dfd);
	*state = md;
	return 0;
fail:
	close_fd(&dfd);
	md_close(md);
	return rc;
}

/* Buffered writer: the whole file or an error. */
struct out {
	int fd;
	size_t n;
	char buf[16384];
};

static int flush_out(struct out *o)
{
	size_t off = 0;

	while (off < o->n) {
		ssize_t w = write(o->fd, o->buf + off, o->n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (size_t)w;
	}
	o->n = 0;
	return 0;
}

static int put(struct out *o, const char *p, size_t len)
{
	int rc;

	while (len > 0) {
		size_t k = sizeof(o->buf) - o->n;
		if (k > len)
			k = len;
		memcpy(o->buf + o->n, p, k);
		o->n += k;
		p += k;
		len -= k;
		if (o->n == sizeof(o->buf) && (rc = flush_out(o)) != 0)
			return rc;
	}
	return 0;
}

/* The message with each CRLF turned into LF; a lone CR stays. */
static int put_lf(struct out *o, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	int rc;

	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		if (!cr)
			return put(o, p, (size_t)(end - p));
		if (cr + 1 < end && cr[1] == '\n') {
			if ((rc = put(o, p, (size_t)(cr - p))) != 0)
				return rc;
		} else if ((rc = put(o, p, (size_t)(cr + 1 - p))) != 0) {
			return rc;
		}
		p = cr + 1;
	}
	return 0;
}

/* Return-Path only when the address cannot break the header. */
static int put_return_path(struct out *o, const char *from)
{
	const char *a = from ? from : "";
	int rc;

	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
	if ((rc = put(o, "Return-Path: <", 14)) != 0 || (rc = put(o, a, strlen(a))) != 0)
		return rc;
	return put(o, ">\n", 2);
}

static void deliver(struct maildir *md, struct wafa_mail *m, struct out *o)
{
	char name[400], e[128];
	const char *step = "create";
	struct timeval tv;
	int fd = -1, rc = 0, created = 0;

	/* time.MusecPpidQcount.host; O_EXCL settles the rare clash (two states
	 * at one microsecond) by taking the next count */
	for (int tries = 0;; tries++) {
		if (gettimeofday(&tv, NULL) != 0) {
			rc = -errno;
			goto fail;
		}
		snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec,
		         (long)tv.tv_usec, (long)getpid(), ++md->count, md->host);
		fd = openat(md->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries == 3) {
			rc = -errno;
			goto fail;
		}
	}
	created = 1;
	step = "write";
	o->fd = fd;
	o->n = 0;
	if ((rc = put_return_path(o, m->env_from)) != 0 || (rc = put_lf(o, m->data, m->len)) != 0 ||
	    (rc = flush_out(o)) != 0)
		goto fail;
	step = "sync";
	if (fsync(fd) != 0) {
		rc = -errno;
		goto fail;
	}
	step = "close";
	rc = close(fd) != 0 ? -errno : 0;
	fd = -1;
	if (rc)
		goto fail;
	step = "move to new/";
	if (renameat(md->tmpfd, name, md->newfd, name) != 0) {
		rc = -errno;
		goto fail;
	}
	created = 0;
	/* renamed: the mail is in new/, where a reader finds it.  A failed
	 * sync of new/ (a crash may still lose the name) is said, but the mail
	 * counts as delivered: tried again, it would be there twice */
	m->status = WAFA_MAIL_SENT;
	if (fsync(md->newfd) != 0)
		snprintf(m->reason, sizeof(m->reason), "delivered as new/%.120s (sync of new/: %s)",
		         name, errtext(errno, e, sizeof(e)));
	else
		snprintf(m->reason, sizeof(m->reason), "delivered as new/%.200s", name);
	return;
fail:
	if (fd >= 0)
		(void)close(fd);
	if (created)
		(void)unlinkat(md->tmpfd, name, 0);
	m->status = WAFA_MAIL_TEMPFAIL;
	snprintf(m->reason, sizeof(m->reason), "maildir %.120s: %s: %s", md->dir, step,
	         errtext(-rc, e, sizeof(e)));
	for (char *p = m->reason; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
}

/* A disk write never hangs the way a connect can: begun() comes first. */
static void md_send(void *state, struct wafa_mail *mails, size_t n, const struct wafa_send_ctx *ctx)
{
	struct out *o;

	if (!ctx->begun(ctx->arg))
		return;
	o = malloc(sizeof(*o)); /* off the worker's stack */
	for (size_t i = 0; i < n; i++) {
		mails[i].reason[0] = '\0';
		if (!o) {
			mails[i].status = WAFA_MAIL_TEMPFAIL;
			snprintf(mails[i].reason, sizeof(mails[i].reason), "maildir: out of memory");
		} else if (!mails[i].data) {
			mails[i].status = WAFA_MAIL_PERMFAIL;
			snprintf(mails[i].reason, sizeof(mails[i].reason), "empty message");
		} else {
			ctx->recorded(ctx->arg); /* the one before is in the outbox */
			struct pollfd pfd = { .fd = ctx->cancel_fd, .events = POLLIN };
			if (ctx->cancel_fd >= 0 && poll(&pfd, 1, 0) > 0)
				break; /* told to stop: the rest stay PENDING */
			deliver(state, &mails[i], o);
		}
		ctx->settled(&mails[i], ctx->arg);
	}
	free(o);
}

/* one session: deliver() numbers files with a counter in the state */
const struct wafa_channel wafa_channel_maildir = { WAFA_ABI, "maildir", 0, md_open, md_send,
	                                           md_close };
