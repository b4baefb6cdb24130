/* The HTTP pool (see pool.h): a job queue, worker threads with libcurl,
 * and a uv_async that hands the outcomes back to the loop. */
#include "http/pool.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define MAX_THREADS 64
/* bytes of an answer's body kept: a refusal's reason, and what a request's
 * refused() and found() judge (RT's list of messages for three fields is
 * longer than 160 bytes; a refusal cut short would be judged done) */
#define KEEP_BODY 1024

struct job {
	struct job *next;
	struct wafa_http_request req;
	int64_t timeout_ms;
	wafa_http_done_cb done;
	void *arg;
	struct wafa_http_outcome out;
};

struct wafa_http_pool {
	uv_loop_t *loop;
	const struct wafa_config *cfg;
	uv_async_t async;
	pthread_t threads[MAX_THREADS];
	size_t nthreads;
	size_t busy; /* loop: sent and not yet answered */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *todo, **todo_tail; /* (under lock) */
	struct job *answered;          /* (under lock) */
	volatile int quit;             /* cuts transfers short */
	bool closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
	char buf[KEEP_BODY + 1];
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n, room = KEEP_BODY - s->len;

	if (room) {
		size_t k = len < room ? len : room;
		memcpy(s->buf + s->len, data, k);
		s->len += k;
		s->buf[s->len] = '\0';
	}
	return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const volatile int *quit = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return quit && *quit; /* non-zero aborts the transfer */
}

/* One line of printable text: control characters become spaces. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* Copies s into out with every occurrence of part (when longer than one
 * character) as mark. */
static void replace_all(const char *s, const char *part, const char *mark, char *out,
                        size_t size)
{
	size_t pl = part ? strlen(part) : 0, n = 0;

	while (*s && n + 1 < size) {
		if (pl > 1 && strncmp(s, part, pl) == 0) {
			n += (size_t)snprintf(out + n, size - n, "%s", mark);
			if (n >= size)
				n = size - 1;
			s += pl;
		} else {
			out[n++] = *s++;
		}
	}
	out[n] = '\0';
}

static void copy_cut(char *out, size_t size, const char *s)
{
	size_t k = strnlen(s, size - 1);

	memcpy(out, s, k);
	out[k] = '\0';
}

/* Where a redirect points, for last_error and the log, without the
 * request URL's own path and query: a webhook's URL often holds its secret
 * there (Slack's /services/T/B/SECRET), and a relative Location ("?v=2",
 * "./") resolves to a URL that repeats it. */
static void redirect_shown(const char *from, const char *to, char *out, size_t size)
{
	CURLU *u = curl_url();
	char *path = NULL, *query = NULL, tmp[512];

	snprintf(out, size, "%s", to ? to : "");
	if (!u || !to || curl_url_set(u, CURLUPART_URL, from, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK && query) {
		replace_all(out, query, "[its own query]", tmp, sizeof(tmp));
		copy_cut(out, size, tmp);
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && path) {
		replace_all(out, path, "[its own path]", tmp, sizeof(tmp));
		copy_cut(out, size, tmp);
	}
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
}

static bool ok_status(const struct wafa_http_request *req, long status)
{
	if (!req->ok_status[0])
		return status >= 200 && status < 300;
	for (size_t i = 0; i < 4 && req->ok_status[i]; i++)
		if (req->ok_status[i] == status)
			return true;
	return false;
}

void wafa_http_perform(const struct wafa_config *cfg, const struct wafa_http_request *req,
                       int64_t timeout_ms, const volatile int *quit,
                       struct wafa_http_outcome *out)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL, *h;
	struct sink sink = { .len = 0 };
	char line[512];
	CURL *c = NULL;
	CURLcode rc;
	long status = 0;

	memset(out, 0, sizeof(*out));
	out->result = WAFA_HTTP_TEMPFAIL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK || !(c = curl_easy_init())) {
		snprintf(out->reason, sizeof(out->reason), "libcurl could not start (out of memory?)");
		goto out;
	}
	snprintf(line, sizeof(line), "Content-Type: %s",
	         req->content_type ? req->content_type : "application/json");
	if (!(h = curl_slist_append(headers, line)))
		goto oom;
	headers = h;
	/* no "Expect: 100-continue" round trip; a name for the server's logs */
	if (!(h = curl_slist_append(headers, "Expect:")) ||
	    !(headers = h, h = curl_slist_append(headers, "User-Agent: wafa/" PACKAGE_VERSION)))
		goto oom;
	headers = h;
	for (size_t i = 0; i < req->nheaders; i++) {
		if (strpbrk(req->headers[i], "\r\n")) {
			out->result = WAFA_HTTP_PERMFAIL;
			snprintf(out->reason, sizeof(out->reason), "a header holds a line break: refused");
			goto out;
		}
		if (!(h = curl_slist_append(headers, req->headers[i])))
			goto oom;
		headers = h;
	}
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method ? req->method : "POST");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
	                 (curl_off_t)(req->body ? strlen(req->body) : 0));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms
	                                                               : cfg->http_timeout_ms));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->http_connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	/* the request's own CA file ([api] ca_file), else [http] ca_file */
	if (req->ca_file && req->ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
	else if (cfg->http_ca_file && cfg->http_ca_file[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->http_ca_file);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)quit);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		const char *what = errbuf[0] ? errbuf : curl_easy_strerror(rc);
		switch (rc) {
		case CURLE_ABORTED_BY_CALLBACK:
			snprintf(out->reason, sizeof(out->reason), "cut short: wafa stopped");
			goto out;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
			/* fixed by the admin, not by waiting */
			out->result = WAFA_HTTP_PERMFAIL;
			snprintf(out->reason, sizeof(out->reason), "%s%s", what,
			         rc != CURLE_PEER_FAILED_VERIFICATION ? ""
			         : req->ca_file && req->ca_file[0]
			             ? " (check [api] ca_file and the host name in [api] url)"
			             : " (a private CA: name it in [http] ca_file)");
			break;
		default:
			snprintf(out->reason, sizeof(out->reason), "%s", what);
		}
		one_line(out->reason);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	out->status = (int)status;
	one_line(sink.buf);
	if (ok_status(req, status) && req->refused && req->refused(sink.buf)) {
		/* an API that answers 2xx to a refusal (RT, Znuny): parked */
		out->result = WAFA_HTTP_PERMFAIL;
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld%s%.220s", status,
		         sink.len ? ": " : "", sink.buf);
	} else if (ok_status(req, status)) {
		out->result = WAFA_HTTP_DONE;
		out->found = req->found && req->found(sink.buf);
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld", status);
	} else if (status >= 300 && status < 400) {
		char *to = NULL, shown[200];
		curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &to);
		out->result = WAFA_HTTP_PERMFAIL;
		redirect_shown(req->url, to, shown, sizeof(shown));
		snprintf(out->reason, sizeof(out->reason),
		         "HTTP %ld: redirect to %.160s refused (set the final URL in wafa.conf)",
		         status, to ? shown : "(no Location)");
		one_line(out->reason);
	} else {
		out->result = status == 408 || status == 425 || status == 429 || status >= 500
		                  ? WAFA_HTTP_TEMPFAIL : WAFA_HTTP_PERMFAIL;
		snprintf(out->reason, sizeof(out->reason), "HTTP %ld%s%.220s", status,
		         sink.len ? ": " : "", sink.buf);
	}
	goto out;
oom:
	snprintf(out->reason, sizeof(out->reason), "out of memory building the request");
out:
	curl_slist_free_all(headers);
	if (c)
		curl_easy_cleanup(c);
}

static void *worker(void *arg)
{
	struct wafa_http_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job *j;
		while (!p->todo && !p->quit)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->quit)
			break;
		j = p->todo;
		p->todo = j->next;
		if (!p->todo)
			p->todo_tail = &p->todo;
		pthread_mutex_unlock(&p->lock);
		wafa_http_perform(p->cfg, &j->req, j->timeout_ms, &p->quit, &j->out);
		pthread_mutex_lock(&p->lock);
		j->next = p->answered;
		p->answered = j;
		uv_async_send(&p->async);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void answer(struct job *list)
{
	/* oldest first: the list was pushed newest first */
	struct job *rev = NULL, *next;

	for (; list; list = next) {
		next = list->next;
		list->next = rev;
		rev = list;
	}
	for (; rev; rev = next) {
		next = rev->next;
		rev->done(&rev->out, rev->arg);
		wafa_http_request_free(&rev->req);
		free(rev);
	}
}

static void on_async(uv_async_t *a)
{
	struct wafa_http_pool *p = a->data;
	struct job *list, *j;
	size_t n = 0;

	pthread_mutex_lock(&p->lock);
	list = p->answered;
	p->answered = NULL;
	pthread_mutex_unlock(&p->lock);
	for (j = list; j; j = j->next)
		n++;
	p->busy -= n;
	answer(list);
}

int wafa_http_pool_open(uv_loop_t *loop, const struct wafa_config *cfg,
                        struct wafa_http_pool **out)
{
	struct wafa_http_pool *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	pthread_once(&global_once, global_init); /* not thread-safe: here, before any worker */
	if (global_rc != CURLE_OK) {
		free(p);
		return -ENOMEM;
	}
	p->loop = loop;
	p->cfg = cfg;
	p->todo_tail = &p->todo;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	if ((err = uv_async_init(loop, &p->async, on_async)) != 0) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->wake);
		free(p);
		return err;
	}
	p->async.data = p;
	size_t want = cfg->http_sessions > MAX_THREADS ? MAX_THREADS : (size_t)cfg->http_sessions;
	for (p->nthreads = 0; p->nthreads < want; p->nthreads++)
		if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) != 0)
			break;
	if (p->nthreads == 0) {
		wafa_http_pool_close(p, NULL, NULL);
		return -EAGAIN;
	}
	*out = p;
	return 0;
}

int wafa_http_pool_send(struct wafa_http_pool *p, struct wafa_http_request *req,
                        int64_t timeout_ms, wafa_http_done_cb done, void *arg)
{
	struct job *j;

	if (p->closing) {
		wafa_http_request_free(req);
		return -ESHUTDOWN;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		wafa_http_request_free(req);
		return -ENOMEM;
	}
	j->req = *req;
	memset(req, 0, sizeof(*req));
	j->timeout_ms = timeout_ms;
	j->done = done;
	j->arg = arg;
	p->busy++;
	pthread_mutex_lock(&p->lock);
	*p->todo_tail = j;
	p->todo_tail = &j->next;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

size_t wafa_http_pool_busy(const struct wafa_http_pool *p)
{
	return p->busy;
}

static void on_closed(uv_handle_t *h)
{
	struct wafa_http_pool *p = h->data;
	void (*done)(void *) = p->closed;
	void *arg = p->closed_arg;

	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
	if (done)
		done(arg);
}

void wafa_http_pool_close(struct wafa_http_pool *p, void (*done)(void *arg), void *arg)
{
	struct job *todo, *j, *answered;

	p->closing = true;
	p->closed = done;
	p->closed_arg = arg;
	pthread_mutex_lock(&p->lock);
	p->quit = 1;
	todo = p->todo;
	p->todo = NULL;
	p->todo_tail = &p->todo;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	/* a transfer in flight stops at its next progress call (within a
	 * second), so this join is short */
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (j = todo; j; j = j->next) {
		j->out.result = WAFA_HTTP_TEMPFAIL;
		snprintf(j->out.reason, sizeof(j->out.reason), "not sent: wafa stopped");
	}
	pthread_mutex_lock(&p->lock);
	answered = p->answered;
	p->answered = NULL;
	pthread_mutex_unlock(&p->lock);
	p->busy = 0;
	answer(answered); /* cut short */
	answer(todo);     /* never begun */
	uv_close((uv_handle_t *)&p->async, on_closed);
}
