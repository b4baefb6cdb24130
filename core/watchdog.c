#include "watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

struct wafa_watchdog {
	uv_timer_t timer;
};

static const char *volatile doing_rule;
static volatile int64_t doing_ticket = -1;

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

/* systemd's WatchdogSignal (SIGABRT): say which rule and ticket the loop was
 * in, with write(2) only, then abort as asked. */
static void on_abort(int sig)
{
	char line[256];
	size_t n = 0;
	const char *rule = doing_rule;
	int64_t t = doing_ticket;
	const char *pre = "wafa: SIGABRT (the watchdog: the loop stopped answering); it was in rule=";

	for (const char *p = pre; *p && n < sizeof(line) - 1; p++)
		line[n++] = *p;
	for (const char *p = rule ? rule : "(none)"; *p && n < 200; p++)
		line[n++] = *p < ' ' ? '?' : *p;
	for (const char *p = " ticket="; *p; p++)
		line[n++] = *p;
	if (t < 0) {
		line[n++] = '-';
	} else {
		char digits[24];
		int d = 0;
		do {
			digits[d++] = (char)('0' + t % 10);
			t /= 10;
		} while (t > 0 && d < 23);
		while (d > 0)
			line[n++] = digits[--d];
	}
	line[n++] = '\n';
	(void)!write(2, line, n);
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
