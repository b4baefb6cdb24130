/* The names a rule file gives a key literally (template = "csat",
 * webhook = "oncall"), for wafa check: what the rules' text names that the
 * config or the template folder lacks is a problem at file:line before any
 * rule runs. */
#ifndef WAFA_LITERAL_H
#define WAFA_LITERAL_H

/* Called for each KEY = "NAME" in a rule file; returns the problems it found. */
typedef int (*wafa_literal_fn)(void *ctx, const char *path, unsigned lineno, const char *name);

/* Reads every *.lua but *_test.lua in rules_dir, skipping comment lines,
 * and calls fn for each literal name given to key.  A name must be made of
 * charset's characters (NULL: any but quotes and line ends) and shorter than
 * 128 bytes.  Returns the sum of fn's returns. */
int wafa_literal_each(const char *rules_dir, const char *key, const char *charset,
                      wafa_literal_fn fn, void *ctx);

#endif
