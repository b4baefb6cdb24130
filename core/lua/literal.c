/* The names a rule file gives a key literally (see literal.h). */
#include "lua/literal.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEY = "NAME" from p on, or 0: the name's length, its start in *start */
static size_t name_at(const char *line, const char *p, size_t keylen, const char *charset,
                      const char **start)
{
	const char *q;
	char quote;
	size_t n;

	if (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
		return 0;
	q = p + keylen;
	while (*q == ' ' || *q == '\t')
		q++;
	if (*q++ != '=' || *q == '=')
		return 0;
	while (*q == ' ' || *q == '\t')
		q++;
	if (*q != '"' && *q != '\'')
		return 0;
	quote = *q++;
	n = charset ? strspn(q, charset) : strcspn(q, "\"'\n");
	if (n == 0 || n >= 128 || q[n] != quote)
		return 0;
	*start = q;
	return n;
}

int wafa_literal_each(const char *rules_dir, const char *key, const char *charset,
                      wafa_literal_fn fn, void *ctx)
{
	DIR *dir = opendir(rules_dir);
	struct dirent *e;
	size_t keylen = strlen(key);
	int problems = 0;

	while (dir && (e = readdir(dir)) != NULL) {
		size_t len = strlen(e->d_name);
		char *path = NULL, line[1024];
		unsigned lineno = 0;
		FILE *f;
		if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0 ||
		    strstr(e->d_name, "_test.lua") || asprintf(&path, "%s/%s", rules_dir, e->d_name) < 0)
			continue;
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			const char *p = line, *start;
			lineno++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (strncmp(p, "--", 2) == 0)
				continue;
			for (; (p = strstr(p, key)) != NULL; p += keylen) {
				char name[128];
				size_t n = name_at(line, p, keylen, charset, &start);
				if (n == 0)
					continue;
				memcpy(name, start, n);
				name[n] = '\0';
				problems += fn(ctx, path, lineno, name);
			}
		}
		if (f)
			fclose(f);
		free(path);
	}
	if (dir)
		closedir(dir);
	return problems;
}
