#include "base/secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int wafa_secret_check(int fd, const char *path, char *why, size_t whylen)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		int err = -errno;
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		snprintf(why, whylen, "%s can be read by %s (mode %03o): it holds a secret; run "
		                      "chmod 600 %s (and chown it to the user wafa runs as)",
		         path, st.st_mode & 007 ? "anyone" : "its group",
		         (unsigned)(st.st_mode & 0777), path);
		return -EPERM;
	}
	return 0;
}
