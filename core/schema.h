/* wafa's own tables, in their own schema, created and upgraded by versioned
 * migrations (`wafa setup`). */
#ifndef WAFA_SCHEMA_H
#define WAFA_SCHEMA_H

#include <stdio.h>

#include "error.h"

/* The version this build expects; `wafa run` refuses an older schema. */
int wafa_schema_version(void);

/* Connects (blocking: a CLI command, not the daemon) and applies every
 * migration newer than the schema's version, in one transaction under an
 * advisory lock.  Reports progress and problems to report.  Returns 0 or a
 * negative errno. */
WAFA_WUR int wafa_schema_setup(const char *dsn, const char *schema, FILE *report);

/* SQL the daemon runs on each new connection: $1 is the quoted schema. */
extern const char wafa_schema_search_path_sql[];
/* SQL returning the schema's version (fails if the schema is missing). */
extern const char wafa_schema_version_sql[];

#endif
