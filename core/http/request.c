/* One HTTP request: freeing what it owns (see request.h). */
#include "http/request.h"

#include <stdlib.h>

void wafa_http_request_free(struct wafa_http_request *r)
{
	if (!r)
		return;
	free(r->method);
	free(r->url);
	free(r->content_type);
	free(r->body);
	free(r->ca_file);
	for (size_t i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	r->method = r->url = r->content_type = r->body = r->ca_file = NULL;
	r->nheaders = 0;
}
