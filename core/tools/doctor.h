/* wafa doctor: checks a live installation and says what is wrong in words,
 * one line per check ("ok" or "FAIL", what, and what to do). */
#ifndef WAFA_DOCTOR_H
#define WAFA_DOCTOR_H

#include <stdio.h>

#include "base/config.h"

/* Runs every check, printing to out.  Returns 0 when all pass, 1 otherwise. */
int wafa_doctor_run(const struct wafa_config *cfg, FILE *out);

#endif
