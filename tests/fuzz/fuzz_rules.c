/* libFuzzer target: the rule loader (Lua text through the sandbox and the
 * rule language's checks, calendars included) on arbitrary bytes, then the
 * deadline engine (schedule and timeline) and one action run for every
 * step of every rule it accepted. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "time/deadline.h"
#include "time/heap.h"
#include "base/log.h"
#include "lua/rules.h"
#include "lua/sandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dir[64], path[96];
	static char ref[] = "7", subject[] = "subject", status[] = "open";
	struct wafa_sandbox *sb;
	struct wafa_rules *r;
	struct wafa_heap h;
	struct wafa_ticket *t;
	FILE *f, *devnull;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/wafa-fuzz-rules-%d", (int)getpid());
		mkdir(dir, 0700);
		snprintf(path, sizeof(path), "%s/a.lua", dir);
		wafa_log_set_level(WAFA_LOG_ERROR + 1);
	}
	f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	devnull = fopen("/dev/null", "w");
	if (wafa_sandbox_open(16 << 20, 20, &sb) != 0)
		goto out;
	if (wafa_rules_open(sb, &r) != 0) {
		wafa_sandbox_close(sb);
		goto out;
	}
	wafa_rules_load_dir(r, dir, devnull);
	t = wafa_ticket_alloc(0, NULL);
	t->id = 7;
	t->str[WAFA_T_REF] = ref;
	t->str[WAFA_T_SUBJECT] = subject;
	t->str[WAFA_T_STATUS] = status;
	for (int i = 0; i < WAFA_T_NTIME; i++)
		t->time[i] = WAFA_NO_TIME;
	t->time[WAFA_T_CREATED_AT] = 1700000000000;
	t->time[WAFA_T_DUE_AT] = 1700090000000;
	t->retry_at = WAFA_NO_TIME;
	(void)!wafa_ticket_add_change(t, 1700003600000, WAFA_S_OPEN, WAFA_S_PENDING);
	(void)!wafa_ticket_add_change(t, 1700010800000, WAFA_S_PENDING, WAFA_S_OPEN);
	wafa_heap_init(&h);
	if (wafa_deadlines_schedule(r, &h, t, NULL) == 0) {
		for (int i = 0; i < r->nrules; i++) {
			struct wafa_track tr;
			struct wafa_event_rec ev[WAFA_TRACK_SEGS + 16];
			wafa_deadline_track(r, i, t, &tr);
			(void)wafa_deadline_timeline(&r->rules[i], &tr, t, ev, (int)(sizeof(ev) / sizeof(ev[0])));
			for (int p = 0; p < r->rules[i].nphases; p++) {
				struct wafa_firing f = { .instance = tr.instance, .start = tr.start,
					                 .target = tr.target, .deadline = tr.start,
					                 .due = tr.start };
				(void)!wafa_rules_run(r, t, i, p, &f);
			}
		}
	}
	wafa_deadlines_unschedule(&h, t);
	wafa_heap_free(&h);
	wafa_ticket_free(t);
	wafa_rules_close(r);
	wafa_sandbox_close(sb);
out:
	fclose(devnull);
	return 0;
}
