#include "tools/mutation.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"

/* A long bracket at p ("[[", "[=[", ...): its level (number of '='), or -1. */
static int long_bracket(const char *p, const char *end)
{
	int level = 0;

	if (p >= end || *p != '[')
		return -1;
	for (p++; p < end && *p == '='; p++)
		level++;
	return p < end && *p == '[' ? level : -1;
}

/* Skips a long string or comment opened at p with the given level; returns
 * where it ends (past "]=*]"), counting lines. */
static const char *skip_long(const char *p, const char *end, int level, int *line)
{
	p += level + 2;
	for (; p < end; p++) {
		if (*p == '\n')
			(*line)++;
		if (*p != ']')
			continue;
		const char *q = p + 1;
		int l = 0;
		while (q < end && *q == '=' && l < level)
			q++, l++;
		if (l == level && q < end && *q == ']')
			return q + 1;
	}
	return end;
}

/* The laxer value of a literal, or false when it is not a duration or a
 * percentage (or has no laxer value: "0s"). */
static bool laxer(const char *text, size_t len, char *to, size_t size)
{
	char buf[24];
	const char *why;
	int64_t ms;
	size_t digits = 0;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	while (digits < len && buf[digits] >= '0' && buf[digits] <= '9')
		digits++;
	if (digits == 0 || digits > 9)
		return false;
	long n = strtol(buf, NULL, 10);
	if (digits + 1 == len && buf[digits] == '%') {
		/* a warning at p% moves halfway to the deadline; past it, 50 points on */
		long m = n < 100 ? (n + 100 + 1) / 2 : n + 50;
		if (m >= 100 && n < 100)
			m = 99;
		if (m == n)
			return false;
		snprintf(to, size, "%ld%%", m);
		return true;
	}
	/* a duration as the rules write it: digits and a unit, no spaces (or
	 * business days, "3bd") */
	if (strchr(buf, ' ') || strchr(buf, '\t'))
		return false;
	if (wafa_duration_parse_days(buf, &ms, &why) != 0 &&
	    (wafa_duration_parse(buf, &ms, &why) != 0 || ms == 0))
		return false;
	snprintf(to, size, "%ld%s", n * 2, buf + digits);
	return true;
}

int wafa_mutation_find(const char *src, size_t len, struct wafa_mutation **out, size_t *n)
{
	const char *p = src, *end = src + len;
	struct wafa_mutation *list = NULL;
	size_t count = 0, cap = 0;
	int line = 1, level;

	while (p < end) {
		if (*p == '\n') {
			line++;
			p++;
		} else if (p + 1 < end && p[0] == '-' && p[1] == '-') {
			p += 2;
			if ((level = long_bracket(p, end)) >= 0) {
				p = skip_long(p, end, level, &line);
			} else {
				while (p < end && *p != '\n')
					p++;
			}
		} else if ((level = long_bracket(p, end)) >= 0) {
			p = skip_long(p, end, level, &line);
		} else if (*p == '"' || *p == '\'') {
			char quote = *p++;
			const char *start = p;
			bool plain = true;
			while (p < end && *p != quote && *p != '\n') {
				if (*p == '\\') {
					plain = false;
					if (p + 1 < end && p[1] == '\n')
						line++;
					p++;
				}
				p++;
			}
			struct wafa_mutation m = { .offset = (size_t)(start - src),
				                   .len = (size_t)(p - start), .line = line };
			if (p < end && *p == quote)
				p++;
			if (!plain || m.len >= sizeof(m.from) || !laxer(start, m.len, m.to, sizeof(m.to)))
				continue;
			memcpy(m.from, start, m.len);
			m.from[m.len] = '\0';
			if (count == cap) {
				struct wafa_mutation *grown =
				    realloc(list, (cap = cap ? cap * 2 : 16) * sizeof(*list));
				if (!grown) {
					free(list);
					return -ENOMEM;
				}
				list = grown;
			}
			list[count++] = m;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		           (*p >= '0' && *p <= '9')) {
			/* a name or a number: no string starts inside it */
			while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			                   *p == '_' || (*p >= '0' && *p <= '9')))
				p++;
		} else {
			p++;
		}
	}
	*out = list;
	*n = count;
	return 0;
}

char *wafa_mutation_apply(const char *src, size_t len, const struct wafa_mutation *m)
{
	size_t to_len = strlen(m->to);
	char *s = malloc(len - m->len + to_len + 1);

	if (!s)
		return NULL;
	memcpy(s, src, m->offset);
	memcpy(s + m->offset, m->to, to_len);
	memcpy(s + m->offset + to_len, src + m->offset + m->len, len - m->offset - m->len);
	s[len - m->len + to_len] = '\0';
	return s;
}
