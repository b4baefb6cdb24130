/* wafa's own tables, in their own schema, created and upgraded by versioned
 * migrations (`wafa setup`). */
#ifndef WAFA_SCHEMA_H
#define WAFA_SCHEMA_H

#include <stdio.h>

#include "base/config.h"
#include "base/error.h"

/* The version this build expects; `wafa run` refuses an older schema. */
int wafa_schema_version(void);

#define WAFA_SETUP_DRY_RUN 1u   /* print the SQL to out, change nothing */
#define WAFA_SETUP_UNINSTALL 2u /* remove the adapter's triggers and view */
#define WAFA_SETUP_PURGE 4u     /* with UNINSTALL: drop wafa's schema and records too */

/* Connects (blocking: a CLI command, not the daemon) and applies every
 * migration newer than the schema's version and the adapter's install.sql,
 * in one transaction under an advisory lock; or what flags say.  user, if
 * not NULL, is the role to connect as instead of the dsn's.  Reports
 * progress and problems to report; SQL of a dry run goes to out.  Returns 0
 * or a negative errno. */
WAFA_WUR int wafa_schema_setup(const struct wafa_config *cfg, unsigned flags, const char *user,
                               FILE *out, FILE *report);

/* SQL the daemon runs on each new connection: $1 is the quoted schema. */
extern const char wafa_schema_search_path_sql[];
/* SQL returning the schema's version (fails if the schema is missing). */
extern const char wafa_schema_version_sql[];
/* When wafa first had each rule: $1 the loaded rules' names (an array
 * literal); records the new ones as first seen now and returns (rule, ms)
 * for those seen before.  The second, read only: every (rule, ms). */
extern const char wafa_schema_rule_seen_sql[];
extern const char wafa_schema_rules_seen_sql[];

#endif
