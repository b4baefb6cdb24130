/* Secret files (the SMTP password, the link-signing key): readable by their
 * owner only, or refused. */
#ifndef WAFA_SECRET_H
#define WAFA_SECRET_H

#include <stddef.h>

#include "base/error.h"

/* Is the open file fd (read from path) a regular file that neither group
 * nor others can read or write?  Returns 0, or -EPERM with why saying so
 * and what to run ("chmod 600 PATH"), or -EINVAL (not a regular file) or
 * -errno with why. */
WAFA_WUR int wafa_secret_check(int fd, const char *path, char *why, size_t whylen);

#endif
