/* The generic adapter: reads normalized tickets from the view named in
 * [helpdesk] view, by keyset-paginated snapshot, by id (after a NOTIFY),
 * and by updated_at (the reconciliation safety net).  Builds its SQL from
 * the columns the view has (optional columns it lacks read as NULL),
 * quoting the configured names as identifiers; ticket data only ever goes
 * in parameters. */
#ifndef WAFA_ADAPTER_H
#define WAFA_ADAPTER_H

#include <libpq-fe.h>

#include "base/config.h"
#include "base/error.h"

#define WAFA_ADAPTER_PAGE 5000

struct wafa_adapter {
	char *view;       /* quoted */
	char *columns_sql; /* $1 the view's name: its column names */
	/* the next WAFA_ADAPTER_PAGE tickets with ids between $1 and $2, up
	 * from $1 (page_sql) or down from $1 (page_desc_sql), both ends out */
	char *page_sql, *page_desc_sql;
	/* ... their ids alone: a page the view fails on (one row's cast, say)
	 * is read again by id, where the bad row is set apart */
	char *page_ids_sql, *page_ids_desc_sql;
	char *ids_sql;   /* $1 array literal of ids */
	char *since_sql; /* $1 ms: tickets updated after it */
	char *fire_sql;  /* $1 keys, $2 ids, $3 rules, $4 phases, $5 instances (arrays): each
	                  * ticket, then key, fired, id, ord */
	char *all_sql;   /* every ticket (wafa simulate) */
	char *listen_sql;
	unsigned optional; /* bit i: the view has optional column WAFA_T_FIRST_OPTIONAL + i */
	/* bit i: the rules read optional column WAFA_T_FIRST_OPTIONAL + i
	 * (wafa_rules_columns); the reads that only schedule (page, ids, since)
	 * select the others as NULL, and so does firing's but for
	 * thread_message_id, which the mail uses.  All until set. */
	unsigned wanted;
};

WAFA_WUR int wafa_adapter_init(struct wafa_adapter *a, const struct wafa_config *cfg);
/* Reads [helpdesk] adapters/ADAPTER/NAME.sql ("install", "uninstall",
 * "doctor") with @SCHEMA@ (the quoted schema) and @CHANNEL@ (the NOTIFY
 * channel as a literal) filled in.  Returns 0 with *out malloc'ed, -ENOENT
 * when the adapter has no such file (generic has none), or -errno. */
WAFA_WUR int wafa_adapter_file(const struct wafa_config *cfg, const char *name, char **out);
/* The body of @SCHEMA@.adapter_doctor(), the function `wafa setup` makes of
 * the adapter's doctor.sql (text from wafa_adapter_file): the checks as
 * (check text, ok boolean, detail text) rows.  It runs with its owner's
 * rights, so that the daemon's role, which may read none of the helpdesk's
 * tables, can run the checks that read them.  Returns NULL when out of
 * memory or when the text holds the dollar quote. */
char *wafa_adapter_doctor_body(const char *doctor_sql);
/* The SQL that creates (or replaces) that function with the given body in
 * the quoted schema; NULL when out of memory. */
char *wafa_adapter_doctor_create(const char *quoted_schema, const char *body);
/* (Re)builds the ticket queries from the result of columns_sql.  Returns 0,
 * -ENOMEM, or -ENOENT when the view has no columns (it does not exist). */
WAFA_WUR int wafa_adapter_build(struct wafa_adapter *a, const PGresult *columns);
/* Sets wanted, rebuilding the queries if they were built.  Returns 0 or
 * -ENOMEM. */
WAFA_WUR int wafa_adapter_want(struct wafa_adapter *a, unsigned wanted);
void wafa_adapter_free(struct wafa_adapter *a);

#endif
