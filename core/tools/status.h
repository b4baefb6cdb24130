/* wafa status: who leads.  Instances on one database share it by a session
 * advisory lock on their work connection (core/daemon.c): the holder reads
 * tickets, fires and sends; the others wait on standby and take over within
 * seconds when it stops, dies or loses its connection. */
#ifndef WAFA_STATUS_H
#define WAFA_STATUS_H

#include <stdio.h>

#include "base/config.h"

/* Prints the leader (and the instances on standby) to out.  Returns 0 when
 * an instance leads, 1 when none does, 2 when the database cannot be read. */
int wafa_status_run(const struct wafa_config *cfg, FILE *out);

#endif
