/* One HTTP request: freeing what it owns (see request.h). */
#include "http/request.h"

#include <stdlib.h>
#include <string.h>

void wafa_http_request_free(struct wafa_http_request *r)
{
	if (!r)
		return;
	/* the Authorization header (a token) and a body with Znuny's
	 * password: not left in freed memory for a core dump to show */
	for (size_t i = 0; i < r->nheaders; i++)
		if (r->headers[i])
			explicit_bzero(r->headers[i], strlen(r->headers[i]));
	if (r->body)
		explicit_bzero(r->body, strlen(r->body));
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
