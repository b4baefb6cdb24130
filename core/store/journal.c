#include "store/journal.h"

#include <errno.h>
#include <stdlib.h>

#include "time/clock.h"

const char wafa_journal_events_sql[] =
	"INSERT INTO journal (ticket_id, rule, kind, instance, event, step, at, fired_at, detail) "
	"SELECT ticket_id, rule, kind, instance, event, coalesce(step, ''), "
	"       to_timestamp(at_ms / 1000.0), to_timestamp(fired_ms / 1000.0), detail "
	"  FROM jsonb_to_recordset($1::jsonb) AS x(ticket_id int8, rule text, kind text, "
	"       instance int8, event text, step text, at_ms float8, fired_ms float8, detail text) "
	"ON CONFLICT DO NOTHING";

const char wafa_journal_changes_sql[] =
	"INSERT INTO status_log (ticket_id, at, old_status, new_status, inferred, raw_status, "
	"                        paused_by) "
	"SELECT ticket_id, to_timestamp(at_ms / 1000.0), old_status, new_status, inferred, "
	"       raw_status, ARRAY(SELECT jsonb_array_elements_text(coalesce(paused_by, '[]'))) "
	"  FROM jsonb_to_recordset($1::jsonb) AS x(ticket_id int8, at_ms float8, old_status text, "
	"       new_status text, inferred bool, raw_status text, paused_by jsonb) "
	"ON CONFLICT DO NOTHING";

const char wafa_journal_load_sql[] =
	"SELECT ticket_id, (extract(epoch FROM at) * 1000)::int8, old_status, new_status, "
	"       CASE WHEN cardinality(paused_by) > 0 THEN to_jsonb(paused_by)::text END "
	"  FROM status_log ORDER BY ticket_id, at, seen_at";

const char wafa_journal_marks_sql[] =
	"SELECT rule, (extract(epoch FROM through) * 1000)::int8 FROM journal_mark";

const char wafa_journal_set_marks_sql[] =
	"INSERT INTO journal_mark (rule, through) "
	"SELECT r, to_timestamp($2::float8 / 1000) FROM unnest($1::text[]) AS r "
	"ON CONFLICT (rule) DO UPDATE SET through = greatest(journal_mark.through, excluded.through)";

int wafa_journal_init(struct wafa_journal *j)
{
	j->events = json_array();
	j->changes = json_array();
	if (!j->events || !j->changes) {
		wafa_journal_free(j);
		return -ENOMEM;
	}
	return 0;
}

void wafa_journal_free(struct wafa_journal *j)
{
	json_decref(j->events);
	json_decref(j->changes);
	j->events = j->changes = NULL;
}

static int append(json_t *array, json_t *obj)
{
	if (!obj)
		return -ENOMEM;
	return json_array_append_new(array, obj) == 0 ? 0 : -ENOMEM;
}

int wafa_journal_event(struct wafa_journal *j, int64_t ticket_id, const char *rule,
                       const char *kind, int64_t instance, const char *event, const char *step,
                       int64_t at, int64_t fired_at, const char *detail)
{
	json_t *o = json_pack("{sI ss ss sI ss ss? sI so ss?}", "ticket_id", (json_int_t)ticket_id,
	                      "rule", rule, "kind", kind, "instance", (json_int_t)instance, "event",
	                      event, "step", step, "at_ms",
	                      (json_int_t)at, "fired_ms",
	                      fired_at == WAFA_NO_TIME ? json_null() : json_integer(fired_at),
	                      "detail", detail);
	return append(j->events, o);
}

int wafa_journal_change(struct wafa_journal *j, int64_t ticket_id, int64_t at, const char *from,
                        const char *to, bool inferred, const char *raw,
                        const char *const *paused_by, int npaused)
{
	json_t *names = json_array();
	json_t *o;

	for (int i = 0; names && i < npaused; i++) {
		if (json_array_append_new(names, json_string(paused_by[i])) != 0) {
			json_decref(names);
			names = NULL;
		}
	}
	if (!names)
		return -ENOMEM;
	o = json_pack("{sI sI ss? ss sb ss? so}", "ticket_id", (json_int_t)ticket_id, "at_ms",
	              (json_int_t)at, "old_status", from, "new_status", to, "inferred",
	              inferred, "raw_status", raw, "paused_by", names);
	return append(j->changes, o);
}

uint32_t wafa_journal_paused_bits(const char *json, int (*bit_of)(const char *name))
{
	json_t *a = json ? json_loads(json, 0, NULL) : NULL;
	uint32_t bits = 0;
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) {
		int b = json_is_string(v) ? bit_of(json_string_value(v)) : -1;
		if (b >= 0 && b < 32)
			bits |= 1u << b;
	}
	json_decref(a);
	return bits;
}

size_t wafa_journal_pending(const struct wafa_journal *j)
{
	return json_array_size(j->events) + json_array_size(j->changes);
}

static char *take(json_t *array)
{
	char *text;

	if (json_array_size(array) == 0)
		return NULL;
	text = json_dumps(array, JSON_COMPACT);
	if (text)
		json_array_clear(array);
	return text;
}

char *wafa_journal_take_events(struct wafa_journal *j)
{
	return take(j->events);
}

char *wafa_journal_take_changes(struct wafa_journal *j)
{
	return take(j->changes);
}
