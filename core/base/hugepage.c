#include "base/hugepage.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TUNABLE "glibc.malloc.hugetlb"

void wafa_hugepage_exec(char **argv)
{
	const char *had = getenv("GLIBC_TUNABLES");
	char *want = NULL, *saved = NULL, self[PATH_MAX];
	ssize_t n;

	if (had && strstr(had, TUNABLE))
		return; /* the admin's, or this is the second pass */
	/* the binary's own path, not /proc/self/exe: the process is named
	 * after the file executed, and ps, pgrep and top should say wafa.
	 * A binary replaced since it started reads "... (deleted)", and the
	 * exec fails on it: wafa goes on as it is */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = '\0';
	if (had && !(saved = strdup(had)))
		return;
	if (asprintf(&want, "%s%s" TUNABLE "=1", had ? had : "", had && *had ? ":" : "") < 0) {
		free(saved);
		return;
	}
	if (setenv("GLIBC_TUNABLES", want, 1) == 0)
		execv(self, argv);
	/* not executed: on with 4 KB pages, as before */
	if (saved)
		setenv("GLIBC_TUNABLES", saved, 1);
	else
		unsetenv("GLIBC_TUNABLES");
	free(saved);
	free(want);
}
