/* Picks the channel plugin for [mail] transport and opens it. */
#ifndef WAFA_CHANNEL_HOST_H
#define WAFA_CHANNEL_HOST_H

#include "base/config.h"
#include "base/error.h"
#include "wafa/channel.h"

struct wafa_channel_handle {
	const struct wafa_channel *channel;
	void *state;
};

/* Returns 0, or a negative errno having logged what is wrong. */
WAFA_WUR int wafa_channel_open(const struct wafa_config *cfg, struct wafa_channel_handle *out);
void wafa_channel_close(struct wafa_channel_handle *h);

#endif
