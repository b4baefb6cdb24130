/* The maildir channel: each mail becomes a file in DIR/new, written to
 * DIR/tmp first and renamed, as the maildir convention asks.  For the demo,
 * tests, and sites that hand mail to a local delivery agent. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wafa/channel.h"

struct maildir {
	char *dir;
	char host[64];
	unsigned long counter;
};

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

static int md_open(const struct wafa_channel_config *cfg, void **state, char *err, size_t errlen)
{
	struct maildir *md;
	char path[PATH_MAX];
	static const char *const subdirs[] = { "", "/tmp", "/new", "/cur" };
	int rc;

	if (!cfg->target[0]) {
		snprintf(err, errlen, "no directory given: use maildir:/path/to/Maildir");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cfg->target, subdirs[i]);
		rc = make_dir(path);
		if (rc) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(-rc));
			return rc;
		}
	}
	md = calloc(1, sizeof(*md));
	if (!md || !(md->dir = strdup(cfg->target))) {
		free(md);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (gethostname(md->host, sizeof(md->host)) != 0)
		strcpy(md->host, "localhost");
	md->host[sizeof(md->host) - 1] = '\0';
	/* '/' and ':' cannot be in a maildir file name */
	for (char *p = md->host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	*state = md;
	return 0;
}

/* Writes data with LF line ends (maildir files use the local convention). */
static int write_lf(int fd, const char *data, size_t len)
{
	char buf[8192];
	size_t n = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || n == sizeof(buf)) {
			for (size_t off = 0; off < n;) {
				ssize_t w = write(fd, buf + off, n - off);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					return -errno;
				}
				off += (size_t)w;
			}
			n = 0;
			if (i == len)
				break;
		}
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		buf[n++] = data[i];
	}
	return 0;
}

static void deliver(struct maildir *md, struct wafa_mail *m)
{
	char name[256], tmp[PATH_MAX], final[PATH_MAX];
	struct timespec ts;
	int fd, rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%lu.%s", (long long)ts.tv_sec,
	         ts.tv_nsec / 1000, (long)getpid(), ++md->counter, md->host);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", md->dir, name);
	snprintf(final, sizeof(final), "%s/new/%s", md->dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = write_lf(fd, m->data, m->len);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, final) != 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		goto fail;
	}
	m->status = WAFA_MAIL_SENT;
	snprintf(m->reason, sizeof(m->reason), "delivered as new/%.200s", name);
	return;
fail:
	m->status = WAFA_MAIL_TEMPFAIL;
	snprintf(m->reason, sizeof(m->reason), "maildir %.180s: %s", md->dir, strerror(-rc));
}

static void md_send(void *state, struct wafa_mail *mails, size_t n)
{
	for (size_t i = 0; i < n; i++)
		deliver(state, &mails[i]);
}

static void md_close(void *state)
{
	struct maildir *md = state;

	if (!md)
		return;
	free(md->dir);
	free(md);
}

const struct wafa_channel wafa_channel_maildir = { WAFA_ABI, "maildir", md_open, md_send,
	                                           md_close };
