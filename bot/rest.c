/* rest — libcurl multi on a worker thread, completions posted to the loop. */
#define _GNU_SOURCE
#include "rest.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "loop.h"

struct rest_job {
	struct rest *r;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	struct sbuf out;
	struct strv resp_headers;
	rest_cb cb;
	void *ud;
	long status;
	char *error;
	double seconds;
	char errbuf[CURL_ERROR_SIZE];
	struct rest_job *next;      /* pending or done list (under mu) */
	struct rest_job *next_live; /* loop-thread list of undelivered jobs */
};

struct rest {
	struct loop *loop;
	CURLM *multi;
	pthread_t thread;
	pthread_mutex_t mu;
	int quit;
	struct rest_job *pending; /* submitted, not yet added to multi */
	struct rest_job *done;    /* finished, not yet delivered */
	struct rest_job *live;    /* loop thread: every undelivered job */
	size_t inflight;          /* loop-thread count of submitted jobs */
};

static void job_free(struct rest_job *j)
{
	if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->hdrs);
	free(j->body);
	sbuf_free(&j->out);
	strv_free(&j->resp_headers);
	free(j->error);
	free(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct rest_job *j = ud;
	if (j->out.len + size * n > (64u << 20))
		return 0; /* a runaway response: abort */
	sbuf_add(&j->out, p, size * n);
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct rest_job *j = ud;
	size_t len = size * n;
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return len;
	struct sbuf h = {0};
	for (const char *c = p; c < colon; c++)
		sbuf_addc(&h, (char)tolower((unsigned char)*c));
	sbuf_adds(&h, ":");
	const char *v = colon + 1;
	const char *e = p + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	sbuf_addc(&h, ' ');
	sbuf_add(&h, v, (size_t)(e - v));
	strv_push_owned(&j->resp_headers, sbuf_take(&h));
	return len;
}

/* Loop thread: hand finished jobs to their callbacks. */
static void deliver(void *ud)
{
	struct rest *r = ud;
	pthread_mutex_lock(&r->mu);
	struct rest_job *j = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->mu);
	/* reverse to completion order */
	struct rest_job *rev = NULL;
	while (j) {
		struct rest_job *n = j->next;
		j->next = rev;
		rev = j;
		j = n;
	}
	while (rev) {
		struct rest_job *n = rev->next;
		struct rest_response resp = {rev->status, rev->out.s ? rev->out.s : "", rev->out.len, rev->error,
					     rev->resp_headers, rev->seconds};
		r->inflight--;
		for (struct rest_job **l = &r->live; *l; l = &(*l)->next_live)
			if (*l == rev) {
				*l = rev->next_live;
				break;
			}
		rev->cb(rev->ud, &resp);
		job_free(rev);
		rev = n;
	}
}

static void finish(struct rest *r, struct rest_job *j)
{
	pthread_mutex_lock(&r->mu);
	j->next = r->done;
	r->done = j;
	pthread_mutex_unlock(&r->mu);
	loop_post(r->loop, deliver, r);
}

static void *worker(void *ud)
{
	struct rest *r = ud;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		int quit = r->quit;
		struct rest_job *p = r->pending;
		r->pending = NULL;
		pthread_mutex_unlock(&r->mu);
		for (; p; p = p->next)
			curl_multi_add_handle(r->multi, p->easy);
		if (quit)
			break;
		int running = 0;
		curl_multi_perform(r->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(r->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct rest_job *j = NULL;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &j->status);
			curl_easy_getinfo(m->easy_handle, CURLINFO_TOTAL_TIME, &j->seconds);
			if (m->data.result != CURLE_OK) {
				j->error = xstrdup(j->errbuf[0] ? j->errbuf : curl_easy_strerror(m->data.result));
				j->status = 0;
			}
			curl_multi_remove_handle(r->multi, m->easy_handle);
			finish(r, j);
		}
		curl_multi_poll(r->multi, NULL, 0, 1000, NULL);
	}
	return NULL;
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct rest *rest_new(struct loop *l, char **err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, global_init);
	struct rest *r = xcalloc(1, sizeof *r);
	r->loop = l;
	r->multi = curl_multi_init();
	pthread_mutex_init(&r->mu, NULL);
	if (!r->multi || pthread_create(&r->thread, NULL, worker, r)) {
		*err = xstrdup("cannot start the HTTP client");
		if (r->multi)
			curl_multi_cleanup(r->multi);
		free(r);
		return NULL;
	}
	return r;
}

void rest_free(struct rest *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->quit = 1;
	pthread_mutex_unlock(&r->mu);
	curl_multi_wakeup(r->multi);
	pthread_join(r->thread, NULL);
	deliver(r); /* finished before the stop */
	/* Everything still in the multi handle or never added: cancelled. */
	/* Whatever is left never finished: its callback hears so, once. */
	r->pending = NULL;
	struct rest_job *live = r->live;
	r->live = NULL;
	while (live) {
		struct rest_job *n = live->next_live;
		curl_multi_remove_handle(r->multi, live->easy);
		struct rest_response resp = {0, "", 0, "shutting down", {0}, 0};
		r->inflight--;
		live->cb(live->ud, &resp);
		job_free(live);
		live = n;
	}
	curl_multi_cleanup(r->multi);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int rest_submit(struct rest *r, const struct rest_request *req, rest_cb cb, void *ud)
{
	struct rest_job *j = xcalloc(1, sizeof *j);
	j->r = r;
	j->cb = cb;
	j->ud = ud;
	j->easy = curl_easy_init();
	if (!j->easy) {
		free(j);
		return -1;
	}
	CURL *e = j->easy;
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)j);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "ainews/0.1 (+https://github.com/ainews)");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	const char *method = req->method ? req->method : "GET";
	if (req->body) {
		j->body = xstrndup(req->body, req->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
	}
	if (strcmp(method, "GET") && strcmp(method, "POST"))
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	else if (!strcmp(method, "POST") && !req->body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, ""), curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	for (size_t i = 0; i < req->nheaders; i++)
		j->hdrs = curl_slist_append(j->hdrs, req->headers[i]);
	j->hdrs = curl_slist_append(j->hdrs, "Expect:"); /* no 100-continue round trip */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
	r->inflight++;
	j->next_live = r->live;
	r->live = j;
	pthread_mutex_lock(&r->mu);
	j->next = r->pending;
	r->pending = j;
	pthread_mutex_unlock(&r->mu);
	curl_multi_wakeup(r->multi);
	return 1;
}

const char *rest_header(const struct rest_response *resp, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < resp->headers.n; i++) {
		const char *h = resp->headers.v[i];
		if (!strncasecmp(h, name, n) && h[n] == ':')
			return h + n + 2;
	}
	return NULL;
}

size_t rest_inflight(const struct rest *r)
{
	return r->inflight;
}
