#include "sync/adapter.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg.h"
#include "sync/ticket.h"

/* asprintf that leaves NULL, not garbage, when it fails */
static char *format(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

int wafa_adapter_init(struct wafa_adapter *a, const struct wafa_config *cfg)
{
	char *channel = wafa_pg_quote_name(cfg->notify_channel);
	int err = 0;

	memset(a, 0, sizeof(*a));
	a->wanted = ~0u;
	a->view = wafa_pg_quote_ident(cfg->view);
	if (!a->view || !channel || !(a->listen_sql = format("LISTEN %s", channel)) ||
	    !(a->columns_sql = strdup("SELECT attname FROM pg_attribute "
	                              " WHERE attrelid = to_regclass($1)::oid "
	                              "   AND attnum > 0 AND NOT attisdropped"))) {
		err = -ENOMEM;
	}
	free(channel);
	if (err)
		wafa_adapter_free(a);
	return err;
}

static int has_column(const char *name, void *arg)
{
	const PGresult *res = arg;

	for (int i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), name) == 0)
			return 1;
	return 0;
}

static void drop_queries(struct wafa_adapter *a)
{
	free(a->page_sql);
	free(a->page_desc_sql);
	free(a->ids_sql);
	free(a->since_sql);
	free(a->fire_sql);
	free(a->all_sql);
	free(a->page_ids_sql);
	free(a->page_ids_desc_sql);
	a->page_sql = a->page_desc_sql = a->ids_sql = a->since_sql = a->fire_sql = a->all_sql = NULL;
	a->page_ids_sql = a->page_ids_desc_sql = NULL;
}

/* arg: a mask of optional columns (bit i: WAFA_T_FIRST_OPTIONAL + i) */
static int in_mask(const char *name, void *arg)
{
	unsigned mask = *(const unsigned *)arg;

	for (int i = WAFA_T_FIRST_OPTIONAL; i < WAFA_T_NSTR; i++)
		if (strcmp(wafa_ticket_str_names[i], name) == 0)
			return (int)(mask >> (i - WAFA_T_FIRST_OPTIONAL) & 1u);
	return 0;
}

static int build_queries(struct wafa_adapter *a)
{
	unsigned sched = a->optional & a->wanted;
	/* a firing's mail takes thread_message_id (In-Reply-To) whether the
	 * rules name it or not; the rules' actions see only what they name */
	unsigned fire = a->optional &
	                (a->wanted | 1u << (WAFA_T_THREAD_MESSAGE_ID - WAFA_T_FIRST_OPTIONAL));
	/* every column for simulate; for firing and scheduling what is used */
	char *cols = wafa_ticket_columns_sql(in_mask, &a->optional);
	char *scols = wafa_ticket_columns_sql(in_mask, &sched);
	char *fcols = wafa_ticket_columns_sql(in_mask, &fire);
	int err = 0;

	drop_queries(a);
	if (!cols || !scols || !fcols) {
		err = -ENOMEM;
		goto out;
	}
	a->page_sql = format("SELECT %s FROM %s WHERE id > $1::int8 AND id < $2::int8 "
	                     "ORDER BY id LIMIT %d",
	                     scols, a->view, WAFA_ADAPTER_PAGE);
	a->page_desc_sql = format("SELECT %s FROM %s WHERE id < $1::int8 AND id > $2::int8 "
	                          "ORDER BY id DESC LIMIT %d",
	                          scols, a->view, WAFA_ADAPTER_PAGE);
	a->page_ids_sql = format("SELECT id FROM %s WHERE id > $1::int8 AND id < $2::int8 "
	                         "ORDER BY id LIMIT %d",
	                         a->view, WAFA_ADAPTER_PAGE);
	a->page_ids_desc_sql = format("SELECT id FROM %s WHERE id < $1::int8 AND id > $2::int8 "
	                              "ORDER BY id DESC LIMIT %d",
	                              a->view, WAFA_ADAPTER_PAGE);
	a->ids_sql = format("SELECT %s FROM %s WHERE id = ANY($1::int8[])", scols, a->view);
	a->since_sql = format("SELECT %s FROM %s WHERE updated_at > to_timestamp($1::float8 / 1000) "
	                      "ORDER BY updated_at, id",
	                      scols, a->view);
	a->fire_sql = format(
		/* whether the step has fired: its journal step row (journal_step).
		 * A scalar subquery, not EXISTS: PostgreSQL hashes a whole table
		 * for EXISTS (66 ms at 150k rows), but looks a scalar up by its
		 * index (3.5 ms for 500 keys).  OFFSET 0 keeps the view's read
		 * per key: flattened, a planner with stale statistics (tickets
		 * added since the last ANALYZE) hashed the whole view for each
		 * batch of 2,000 (60 ms at 100k tickets, 5-8 ms so) */
		"SELECT t.*, k.key, (SELECT true FROM journal j WHERE j.rule = k.rule "
		"                       AND j.ticket_id = k.id AND j.step = k.phase "
		"                       AND j.instance = k.instance AND j.step <> '') IS NOT NULL, "
		"       k.id, k.ord "
		"  FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[]) "
		"       WITH ORDINALITY AS k(key, id, rule, phase, instance, ord) "
		"  LEFT JOIN LATERAL (SELECT %s FROM %s v WHERE v.id = k.id OFFSET 0) t ON true "
		" ORDER BY k.ord",
		fcols, a->view);
	a->all_sql = format("SELECT %s FROM %s ORDER BY id", cols, a->view);
	if (!a->page_sql || !a->page_desc_sql || !a->ids_sql || !a->since_sql || !a->fire_sql ||
	    !a->all_sql || !a->page_ids_sql || !a->page_ids_desc_sql)
		err = -ENOMEM;
out:
	free(cols);
	free(scols);
	free(fcols);
	return err;
}

int wafa_adapter_build(struct wafa_adapter *a, const PGresult *columns)
{
	if (PQntuples(columns) == 0)
		return -ENOENT;
	a->optional = 0;
	for (int i = WAFA_T_FIRST_OPTIONAL; i < WAFA_T_NSTR; i++)
		if (has_column(wafa_ticket_str_names[i], (void *)columns))
			a->optional |= 1u << (i - WAFA_T_FIRST_OPTIONAL);
	return build_queries(a);
}

int wafa_adapter_want(struct wafa_adapter *a, unsigned wanted)
{
	bool built = a->page_sql != NULL;

	if (wanted == a->wanted)
		return 0;
	a->wanted = wanted;
	return built ? build_queries(a) : 0;
}

/* Appends src to f with each @NAME@ of the table replaced. */
static void fill(FILE *f, const char *src, const char *const names[], const char *const values[],
                 size_t n)
{
	while (*src) {
		size_t k;
		for (k = 0; k < n; k++)
			if (strncmp(src, names[k], strlen(names[k])) == 0)
				break;
		if (k < n) {
			fputs(values[k], f);
			src += strlen(names[k]);
		} else {
			fputc(*src++, f);
		}
	}
}

#define DOCTOR_QUOTE "$wafa_doctor$"

char *wafa_adapter_doctor_body(const char *doctor_sql)
{
	size_t n = strlen(doctor_sql);

	if (strstr(doctor_sql, DOCTOR_QUOTE))
		return NULL;
	/* a trailing ';' ends a statement, not a subquery */
	while (n > 0 && strchr(" \t\r\n;", doctor_sql[n - 1]))
		n--;
	/* the columns renamed by position (a check may leave them unnamed) and
	 * cast, so that any adapter's literals fit the declared row */
	return format("SELECT d.c::text, d.ok::boolean, d.detail::text FROM (\n%.*s\n) AS d(c, ok, "
	              "detail)",
	              (int)n, doctor_sql);
}

char *wafa_adapter_doctor_create(const char *quoted_schema, const char *body)
{
	/* the owner's search_path as doctor.c sets it, pinned, pg_temp last */
	return format("CREATE OR REPLACE FUNCTION %s.adapter_doctor() "
	              "RETURNS TABLE (\"check\" text, ok boolean, detail text) "
	              "LANGUAGE sql SECURITY DEFINER SET search_path = %s, public, pg_temp "
	              "AS " DOCTOR_QUOTE "%s" DOCTOR_QUOTE ";\n"
	              "REVOKE ALL ON FUNCTION %s.adapter_doctor() FROM PUBLIC;\n"
	              "COMMENT ON FUNCTION %s.adapter_doctor() IS 'wafa doctor''s checks of the "
	              "adapter (its doctor.sql), with the rights of wafa setup''s role: the "
	              "daemon''s role reads no helpdesk table';\n",
	              quoted_schema, quoted_schema, body, quoted_schema, quoted_schema);
}

int wafa_adapter_file(const struct wafa_config *cfg, const char *name, char **out)
{
	char *path = NULL, *text = NULL, *schema = NULL, *channel = NULL, *res = NULL;
	size_t len = 0, cap = 0;
	FILE *in = NULL, *f = NULL;
	int err = 0;

	*out = NULL;
	if (strcmp(cfg->adapter, "generic") == 0)
		return -ENOENT;
	if (!(path = format("%s/%s/%s.sql", cfg->adapters_dir, cfg->adapter, name)) ||
	    !(schema = wafa_pg_quote_ident(cfg->schema))) {
		err = -ENOMEM;
		goto out;
	}
	/* the channel as a string literal: quotes doubled */
	if (!(f = open_memstream(&channel, &len))) {
		err = -ENOMEM;
		goto out;
	}
	fputc('\'', f);
	for (const char *c = cfg->notify_channel; *c; c++)
		fputs(*c == '\'' ? "''" : (char[]){ *c, 0 }, f);
	fputc('\'', f);
	fclose(f);
	f = NULL;
	if (!(in = fopen(path, "r"))) {
		err = -errno;
		goto out;
	}
	len = 0;
	if (getdelim(&text, &cap, '\0', in) < 0 && ferror(in)) {
		err = -EIO;
		goto out;
	}
	if (!text && !(text = strdup(""))) {
		err = -ENOMEM;
		goto out;
	}
	static const char *const names[] = { "@SCHEMA@", "@CHANNEL@" };
	const char *values[] = { schema, channel };
	if (!(f = open_memstream(&res, &len))) {
		err = -ENOMEM;
		goto out;
	}
	fill(f, text, names, values, 2);
	if (fclose(f) != 0) {
		f = NULL;
		err = -ENOMEM;
		goto out;
	}
	f = NULL;
	*out = res;
	res = NULL;
out:
	if (in)
		fclose(in);
	if (f)
		fclose(f);
	free(res);
	free(text);
	free(path);
	free(schema);
	free(channel);
	return err;
}

void wafa_adapter_free(struct wafa_adapter *a)
{
	drop_queries(a);
	free(a->view);
	free(a->columns_sql);
	free(a->listen_sql);
	memset(a, 0, sizeof(*a));
}
