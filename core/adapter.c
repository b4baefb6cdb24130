#include "adapter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"
#include "ticket.h"

int wafa_adapter_init(struct wafa_adapter *a, const struct wafa_config *cfg)
{
	char *view = wafa_pg_quote_ident(cfg->view);
	char *channel = wafa_pg_quote_ident(cfg->notify_channel);
	int err = 0;

	memset(a, 0, sizeof(*a));
	if (!view || !channel ||
	    asprintf(&a->page_sql, "SELECT %s FROM %s WHERE id > $1::int8 ORDER BY id LIMIT %d",
	             wafa_ticket_columns_sql, view, WAFA_ADAPTER_PAGE) < 0 ||
	    asprintf(&a->ids_sql, "SELECT %s FROM %s WHERE id = ANY($1::int8[])",
	             wafa_ticket_columns_sql, view) < 0 ||
	    asprintf(&a->since_sql,
	             "SELECT %s FROM %s WHERE updated_at > to_timestamp($1::float8 / 1000) "
	             "ORDER BY updated_at, id",
	             wafa_ticket_columns_sql, view) < 0 ||
	    asprintf(&a->fire_sql,
	             "SELECT t.*, k.key, EXISTS (SELECT 1 FROM fired f WHERE f.key = k.key), k.id, k.ord "
	             "  FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS k(key, id, ord) "
	             "  LEFT JOIN LATERAL (SELECT %s FROM %s v WHERE v.id = k.id) t ON true "
	             " ORDER BY k.ord",
	             wafa_ticket_columns_sql, view) < 0 ||
	    asprintf(&a->listen_sql, "LISTEN %s", channel) < 0)
		err = -ENOMEM;
	free(view);
	free(channel);
	if (err)
		wafa_adapter_free(a);
	return err;
}

void wafa_adapter_free(struct wafa_adapter *a)
{
	free(a->page_sql);
	free(a->ids_sql);
	free(a->since_sql);
	free(a->fire_sql);
	free(a->listen_sql);
	memset(a, 0, sizeof(*a));
}
