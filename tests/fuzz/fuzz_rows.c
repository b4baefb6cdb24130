/* libFuzzer target: ticket rows as the adapter reads them, and on through
 * what the daemon does with a row (take_row in core/daemon.c).
 *
 * The input is split at NUL bytes into the columns of one row, in the order
 * of wafa_ticket_columns_sql (id, the string columns, the timestamps as
 * integer ms); a column that is the single byte 0xFF is NULL (a view's rows
 * have NULLs anywhere: first_reply_at, owner_email, an optional column), and
 * columns past the end of the input are NULL.  The row is a real PGresult
 * built with libpq's own PQmakeEmptyPGresult/PQsetvalue and read by
 * wafa_ticket_from_row.  An accepted ticket goes into the index, gets a
 * status change, is scheduled under the shipped example rules (their when()
 * and target functions see it through wafa_ticket_push, extra as JSON), has
 * its deadlines' timelines computed, is replaced by a second parse of the
 * same row (as a NOTIFY re-read does) and scheduled again, then removed.
 *
 *   WAFA_FUZZ_RULES  the rules directory (default rules/examples) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "time/deadline.h"
#include "time/heap.h"
#include "sync/index.h"
#include "base/log.h"
#include "lua/rules.h"
#include "lua/sandbox.h"
#include "sync/ticket.h"

#define NCOLS (1 + WAFA_T_NSTR + WAFA_T_NTIME)

static struct wafa_sandbox *sb;
static struct wafa_rules *rules;

static PGresult *make_row(const uint8_t *data, size_t size)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc attrs[NCOLS];
	static char names[NCOLS][8];
	size_t at = 0;

	if (!res)
		return NULL;
	memset(attrs, 0, sizeof(attrs));
	for (int i = 0; i < NCOLS; i++) {
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		attrs[i].name = names[i];
		attrs[i].typid = 25; /* text */
		attrs[i].typlen = -1;
		attrs[i].atttypmod = -1;
	}
	if (!PQsetResultAttrs(res, NCOLS, attrs)) {
		PQclear(res);
		return NULL;
	}
	for (int i = 0; i < NCOLS; i++) {
		const uint8_t *nul = at < size ? memchr(data + at, 0, size - at) : NULL;
		size_t len = nul ? (size_t)(nul - (data + at)) : (at < size ? size - at : 0);
		if (at >= size || (len == 1 && data[at] == 0xff)) {
			PQsetvalue(res, 0, i, NULL, -1); /* NULL */
			at += len + 1;
			continue;
		}
		PQsetvalue(res, 0, i, (char *)(data + at), (int)len);
		at += len + 1;
	}
	return res;
}

static void load_rules(void)
{
	const char *dir = getenv("WAFA_FUZZ_RULES");
	FILE *devnull = fopen("/dev/null", "w");

	wafa_log_set_level(WAFA_LOG_ERROR + 1);
	if (wafa_sandbox_open(32 << 20, 50, &sb) != 0 || wafa_rules_open(sb, &rules) != 0) {
		fprintf(stderr, "fuzz_rows: cannot start the Lua host\n");
		abort();
	}
	if (wafa_rules_load_dir(rules, dir ? dir : "rules/examples", devnull ? devnull : stderr) < 0 ||
	    rules->nrules == 0) {
		fprintf(stderr, "fuzz_rows: no rules loaded from %s (run from the source tree "
		                "or set WAFA_FUZZ_RULES)\n", dir ? dir : "rules/examples");
		abort();
	}
	if (devnull)
		fclose(devnull);
}

static void timelines(struct wafa_ticket *t)
{
	for (int i = 0; i < rules->nrules; i++) {
		struct wafa_track tr;
		struct wafa_event_rec ev[WAFA_TRACK_SEGS + 16];
		wafa_deadline_track(rules, i, t, &tr);
		(void)wafa_deadline_timeline(&rules->rules[i], &tr, t, ev,
		                             (int)(sizeof(ev) / sizeof(ev[0])));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	PGresult *res;
	struct wafa_ticket *t = NULL, *again = NULL;
	struct wafa_index ix;
	struct wafa_heap h;
	const char *why;

	if (!rules)
		load_rules();
	if (!(res = make_row(data, size)))
		return 0;
	if (wafa_ticket_from_row(res, 0, &t, &why) != 0)
		goto out;
	wafa_index_init(&ix);
	wafa_heap_init(&h);
	if (wafa_index_add(&ix, t) != 0) {
		wafa_ticket_free(t);
		goto done;
	}
	(void)!wafa_ticket_add_change(t, t->time[WAFA_T_UPDATED_AT], WAFA_S_OPEN,
	                              wafa_ticket_status(t));
	if (wafa_deadlines_schedule(rules, &h, t, NULL) == 0)
		timelines(t);
	if (wafa_ticket_from_row(res, 0, &again, &why) == 0) {
		wafa_ticket_replace(t, again);
		if (wafa_deadlines_schedule(rules, &h, t, NULL) == 0)
			timelines(t);
	}
	t = wafa_index_remove(&ix, t->id);
	if (t) {
		wafa_deadlines_unschedule(&h, t);
		wafa_ticket_free(t);
	}
done:
	wafa_heap_free(&h);
	wafa_index_free(&ix);
out:
	PQclear(res);
	return 0;
}
