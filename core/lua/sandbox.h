/* The Lua sandbox that rules run in (after Redis and HAProxy): text chunks
 * only, one _ENV per rule file over a read-only API table, no io, os,
 * require, load or debug, a memory cap on the whole state and a wall-clock
 * budget on every call from C. */
#ifndef WAFA_SANDBOX_H
#define WAFA_SANDBOX_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct wafa_sandbox;

/* Creates a state capped at mem_cap bytes whose calls each get budget_ms of
 * wall-clock time.  The API table (what rule files see) is left empty for
 * the rules host to fill: see wafa_sandbox_push_api. */
WAFA_WUR int wafa_sandbox_open(size_t mem_cap, int64_t budget_ms, struct wafa_sandbox **out);
void wafa_sandbox_close(struct wafa_sandbox *sb);
lua_State *wafa_sandbox_state(struct wafa_sandbox *sb);
void wafa_sandbox_set_limits(struct wafa_sandbox *sb, size_t mem_cap, int64_t budget_ms);
size_t wafa_sandbox_memory(const struct wafa_sandbox *sb);

/* Pushes the API table, to add functions to it. */
void wafa_sandbox_push_api(struct wafa_sandbox *sb);

/* The only way C calls Lua.  Calls the function below nargs arguments on the
 * stack with the budget armed, a traceback handler, and the stack restored.
 * On success leaves nresults values; on failure leaves nothing and puts a
 * one-line reason (memory, budget, or the error with its file:line) in why.
 * Returns 0, -ENOMEM (memory cap), -ETIME (budget) or -EINVAL (error). */
WAFA_WUR int wafa_sandbox_call(struct wafa_sandbox *sb, int nargs, int nresults, char *why,
                               size_t whylen);

/* Loads a rule file as text in an _ENV of its own and runs it.  On failure
 * why holds "path:line: message".  On success, when text is not NULL,
 * *text is the file's text as run (NUL-terminated, malloc'ed).  Returns 0
 * or a negative errno. */
WAFA_WUR int wafa_sandbox_run_file(struct wafa_sandbox *sb, const char *path, char *why,
                                   size_t whylen, char **text);

#endif
