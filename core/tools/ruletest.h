/* wafa test: rule tests.  A test file (NAME_test.lua) declares tests in the
 * style of the rule language; each declares tickets, moves a virtual clock,
 * changes tickets, and expects transitions and mails.  The rules run in the
 * engine the daemon uses (core/time/deadline.c scheduling into a heap, firing as
 * the daemon fires), with no database and no mail sent.  The test language's
 * Lua side is rules/ruletest.lua, built into the binary; test files run in a
 * sandbox of their own (no io, os, require, load, debug).  Output is TAP. */
#ifndef WAFA_RULETEST_H
#define WAFA_RULETEST_H

#include <stdbool.h>
#include <stdio.h>

#include "base/config.h"

/* Runs the tests in paths (files, or directories searched for *_test.lua);
 * with npaths 0, the *_test.lua files in [rules] dir.  Prints TAP to out and
 * problems with the rule files to err.  Returns 0 when every test passed, 1
 * when one failed or a test file could not be run, or a sysexits code
 * (EX_NOINPUT: no tests found, EX_SOFTWARE: the Lua host did not start).
 * With mutations, runs the tests once per duration and percentage literal
 * of the rule files, each changed in turn (core/tools/mutation.h), and prints a
 * TAP point per change: "not ok" for a change no test noticed; returns 1
 * when one survived or the tests do not pass unchanged. */
int wafa_ruletest_run(const struct wafa_config *cfg, char *const *paths, int npaths, bool mutations,
                      FILE *out, FILE *err);

#endif
