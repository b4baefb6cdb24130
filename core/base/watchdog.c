#include "base/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

struct wafa_watchdog {
	uv_timer_t timer;
};

static const char *volatile doing_rule;
static volatile int64_t doing_ticket = -1;
/* $STATE_DIRECTORY/watchdog-hangs: a line "RULE TICKET" per watchdog abort */
static char hangs_path[512];
/* a rule and ticket that hung the loop at the last two aborts: not run again */
static char skip_rule[128];
static int64_t skip_ticket = -1;

bool wafa_watchdog_skip(const char *rule, int64_t ticket)
{
	return ticket == skip_ticket && ticket >= 0 && rule && strcmp(rule, skip_rule) == 0;
}

/* Reads the hangs file: when its last two lines name the same rule and
 * ticket, that pair is skipped from now on (restarts that repeat on the
 * same ticket stop). */
static void read_hangs(void)
{
	FILE *f = fopen(hangs_path, "r");
	char line[256], last[2][256] = { "", "" };

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		memcpy(last[0], last[1], sizeof(last[0]));
		snprintf(last[1], sizeof(last[1]), "%s", line);
	}
	fclose(f);
	char *sp = strrchr(last[1], ' ');
	if (!last[1][0] || strcmp(last[0], last[1]) != 0 || !sp || sp[1] == '-')
		return;
	*sp = '\0';
	size_t n = strlen(last[1]);
	if (n >= sizeof(skip_rule))
		return; /* longer than a rule name can be: not ours */
	memcpy(skip_rule, last[1], n + 1);
	skip_ticket = strtoll(sp + 1, NULL, 10);
	wafa_log(WAFA_ERROR, "daemon", "rule=%s ticket=%lld hung the loop at the last two "
	         "watchdog restarts: it is not run for this ticket any more (fix the rule, then "
	         "remove %s and restart)", skip_rule, (long long)skip_ticket, hangs_path);
}

void wafa_watchdog_doing(const char *rule, int64_t ticket)
{
	doing_rule = rule;
	doing_ticket = ticket;
}

/* The datagram protocol of sd_notify(3), written here: one datagram to the
 * unix socket NOTIFY_SOCKET names ('@' first: the abstract namespace). */
int wafa_watchdog_notify(const char *what)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd, err = 0;

	if (!path || !*path)
		return -ENOENT;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, what, strlen(what), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static void on_ping(uv_timer_t *t)
{
	(void)t;
	(void)wafa_watchdog_notify("WATCHDOG=1");
}

/* Appends s to buf (at *n, up to size - 2), control characters as '?'. */
static void put(char *buf, size_t size, size_t *n, const char *s)
{
	for (; *s && *n < size - 2; s++)
		buf[(*n)++] = (unsigned char)*s < ' ' ? '?' : *s;
}

/* systemd's WatchdogSignal (SIGABRT): say which rule and ticket the loop was
 * in, with write(2) only, note it in the hangs file, then abort as asked. */
static void on_abort(int sig)
{
	char line[384], note[256], digits[24] = "-";
	size_t n = 0, m = 0;
	const char *rule = doing_rule;
	int64_t t = doing_ticket;

	if (t >= 0) {
		char rev[24];
		int d = 0, k = 0;
		do {
			rev[d++] = (char)('0' + t % 10);
			t /= 10;
		} while (t > 0 && d < 23);
		while (d > 0)
			digits[k++] = rev[--d];
		digits[k] = '\0';
	}
	put(line, sizeof(line), &n, "wafa: SIGABRT (the watchdog: the loop stopped answering); "
	                            "it was in rule=");
	put(line, sizeof(line), &n, rule ? rule : "(none)");
	put(line, sizeof(line), &n, " ticket=");
	put(line, sizeof(line), &n, digits);
	line[n++] = '\n';
	(void)!write(2, line, n);
	if (hangs_path[0] && rule) {
		int fd = open(hangs_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		put(note, sizeof(note), &m, rule);
		put(note, sizeof(note), &m, " ");
		put(note, sizeof(note), &m, digits);
		note[m++] = '\n';
		if (fd >= 0) {
			(void)!write(fd, note, m);
			close(fd);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

int wafa_watchdog_open(uv_loop_t *loop, struct wafa_watchdog **out)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	struct wafa_watchdog *w;
	unsigned long long us;
	char *end;

	*out = NULL;
	const char *state = getenv("STATE_DIRECTORY"); /* systemd's StateDirectory= */
	if (state && *state && !strchr(state, ':') &&
	    (size_t)snprintf(hangs_path, sizeof(hangs_path), "%s/watchdog-hangs", state) <
	            sizeof(hangs_path))
		read_hangs();
	else
		hangs_path[0] = '\0';
	if (wafa_watchdog_notify("READY=1") == -ENOENT)
		return 0;
	if (!usec || (pid && strtoll(pid, NULL, 10) != (long long)getpid()))
		return 0;
	errno = 0;
	us = strtoull(usec, &end, 10);
	if (errno || *end || us < 2000) {
		wafa_log(WAFA_WARN, "daemon", "WATCHDOG_USEC=\"%s\" is not a number of microseconds; "
		         "no watchdog pings", usec);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	signal(SIGABRT, on_abort);
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	/* pings at half the interval: a loop late by less than that is fine */
	uv_timer_start(&w->timer, on_ping, 0, us / 2000);
	wafa_log(WAFA_INFO, "daemon", "systemd watchdog: a ping every %llu ms", us / 2000);
	*out = w;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void wafa_watchdog_close(struct wafa_watchdog *w)
{
	(void)wafa_watchdog_notify("STOPPING=1");
	if (!w)
		return;
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, on_closed);
}
