/* rest — libcurl multi on a worker thread, completions posted to the loop.
 *
 * libcurl is loaded (dlopen), not linked: Debian's libcurl brings GnuTLS,
 * Kerberos, LDAP, libssh2 and a dozen more libraries, ~3.5 MB of resident
 * memory that a daemon talking only to its console never needs. GnuTLS
 * (reached through librtmp, which ainews never uses) is asked not to
 * initialise itself on load.
 *
 * The engine (libcurl, its multi handle and the worker thread) runs only
 * while there is work: after idle_ms with nothing in flight it stops and
 * libcurl is unloaded, so a bot connected to Slack that is not posting
 * does not keep those libraries resident. The next request loads it again
 * (~2.5 ms; the connection to the API is made again, as it would be after
 * any idle time).
 */
#define _GNU_SOURCE
#include "rest.h"

#include <ctype.h>
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "log.h"
#include "loop.h"

/* The libcurl functions used, typed from curl.h's declarations. */
static struct {
	void *dl;
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_global_cleanup) *global_cleanup;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
	__typeof__(curl_multi_add_handle) *multi_add_handle;
	__typeof__(curl_multi_remove_handle) *multi_remove_handle;
	__typeof__(curl_multi_perform) *multi_perform;
	__typeof__(curl_multi_info_read) *multi_info_read;
	__typeof__(curl_multi_poll) *multi_poll;
	__typeof__(curl_multi_wakeup) *multi_wakeup;
	char err[256];
	unsigned users;  /* running engines; libcurl is loaded while > 0 */
	unsigned loads;  /* times it was loaded (tests) */
} C;
static pthread_mutex_t C_mu = PTHREAD_MUTEX_INITIALIZER;

#define SYM(field, name)                                       \
	do {                                                     \
		*(void **)&C.field = dlsym(C.dl, name);          \
		if (!C.field) {                                  \
			snprintf(C.err, sizeof C.err, "libcurl: no %s", name); \
			return;                                  \
		}                                                \
	} while (0)

/* With C_mu held and no engine running. On failure C.err says why (the
 * caller closes C.dl). */
static void curl_load(void)
{
	const char *had = getenv("GNUTLS_NO_IMPLICIT_INIT");
	if (!had)
		setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1); /* read by GnuTLS's constructor */
	C.dl = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_LOCAL);
	if (!had)
		unsetenv("GNUTLS_NO_IMPLICIT_INIT");
	if (!C.dl) {
		snprintf(C.err, sizeof C.err, "libcurl: %s", dlerror());
		return;
	}
	SYM(global_init, "curl_global_init");
	SYM(global_cleanup, "curl_global_cleanup");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	SYM(multi_init, "curl_multi_init");
	SYM(multi_cleanup, "curl_multi_cleanup");
	SYM(multi_add_handle, "curl_multi_add_handle");
	SYM(multi_remove_handle, "curl_multi_remove_handle");
	SYM(multi_perform, "curl_multi_perform");
	SYM(multi_info_read, "curl_multi_info_read");
	SYM(multi_poll, "curl_multi_poll");
	SYM(multi_wakeup, "curl_multi_wakeup");
	if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(C.err, sizeof C.err, "libcurl: global initialisation failed");
		return;
	}
	C.err[0] = 0;
	C.loads++;
}
#undef SYM

/* Load libcurl for one more engine; 0, or -1 with *err set. */
static int curl_acquire(char **err)
{
	pthread_mutex_lock(&C_mu);
	if (!C.users) {
		C.err[0] = 0;
		curl_load();
		if (C.err[0]) {
			if (C.dl)
				dlclose(C.dl);
			C.dl = NULL;
			*err = xstrdup(C.err);
			pthread_mutex_unlock(&C_mu);
			return -1;
		}
	}
	C.users++;
	pthread_mutex_unlock(&C_mu);
	return 0;
}

/* The last engine gone: clean up and unload libcurl and what it brought. */
static void curl_release(void)
{
	pthread_mutex_lock(&C_mu);
	if (C.users && !--C.users) {
		C.global_cleanup();
		dlclose(C.dl);
		unsigned loads = C.loads;
		memset(&C, 0, sizeof C); /* no stale function pointers */
		C.loads = loads;
	}
	pthread_mutex_unlock(&C_mu);
}

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
	CURLM *multi; /* NULL while the engine is stopped */
	pthread_t thread;
	pthread_mutex_t mu;
	int quit;
	struct rest_job *pending; /* submitted, not yet added to multi */
	struct rest_job *done;    /* finished, not yet delivered */
	struct rest_job *live;    /* loop thread: every undelivered job */
	size_t inflight;          /* loop-thread count of submitted jobs */
	int ca_kind;              /* ca_source() */
	char *ca;
	int64_t idle_ms;          /* stop the engine after this long idle; 0 never */
	struct loop_timer idle;
};

static void engine_stop(struct rest *r);

static void job_free(struct rest_job *j)
{
	if (j->easy)
		C.easy_cleanup(j->easy);
	C.slist_free_all(j->hdrs);
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

static void on_idle(void *ud)
{
	struct rest *r = ud;
	if (!r->inflight && r->multi) {
		engine_stop(r);
		malloc_trim(0); /* the heap libcurl and its TLS contexts used */
		log_debug("rest: idle for %lld ms; libcurl unloaded", (long long)r->idle_ms);
	}
}

/* The idle timer runs exactly while the engine runs with nothing in
 * flight and an idle time is set. */
static void idle_arm(struct rest *r)
{
	if (r->multi && !r->inflight && r->idle_ms > 0)
		loop_timer_start(r->loop, &r->idle, r->idle_ms, on_idle, r);
	else
		loop_timer_stop(&r->idle);
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
	idle_arm(r);
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
			C.multi_add_handle(r->multi, p->easy);
		if (quit)
			break;
		int running = 0;
		C.multi_perform(r->multi, &running);
		CURLMsg *m;
		int left;
		while ((m = C.multi_info_read(r->multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct rest_job *j = NULL;
			C.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			C.easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &j->status);
			C.easy_getinfo(m->easy_handle, CURLINFO_TOTAL_TIME, &j->seconds);
			if (m->data.result != CURLE_OK) {
				j->error = xstrdup(j->errbuf[0] ? j->errbuf : C.easy_strerror(m->data.result));
				j->status = 0;
			}
			C.multi_remove_handle(r->multi, m->easy_handle);
			finish(r, j);
		}
		C.multi_poll(r->multi, NULL, 0, 1000, NULL);
	}
	return NULL;
}

/* Load libcurl, make the multi handle, start the worker; 0 or -1. */
static int engine_start(struct rest *r, char **err)
{
	if (curl_acquire(err) < 0)
		return -1;
	r->quit = 0;
	r->multi = C.multi_init();
	if (!r->multi || pthread_create(&r->thread, NULL, worker, r)) {
		*err = xstrdup("cannot start the HTTP client");
		if (r->multi)
			C.multi_cleanup(r->multi);
		r->multi = NULL;
		curl_release();
		return -1;
	}
	return 0;
}

/* Stop the worker; whatever never finished hears "shutting down", once. */
static void engine_stop(struct rest *r)
{
	if (!r->multi)
		return; /* and the idle timer is not armed (idle_arm) */
	pthread_mutex_lock(&r->mu);
	r->quit = 1;
	pthread_mutex_unlock(&r->mu);
	C.multi_wakeup(r->multi);
	pthread_join(r->thread, NULL);
	deliver(r); /* finished before the stop */
	loop_timer_stop(&r->idle); /* armed, or armed again by deliver() */
	/* Everything still in the multi handle or never added: cancelled. */
	r->pending = NULL;
	struct rest_job *live = r->live;
	r->live = NULL;
	while (live) {
		struct rest_job *n = live->next_live;
		C.multi_remove_handle(r->multi, live->easy);
		struct rest_response resp = {0, "", 0, "shutting down", {0}, 0};
		r->inflight--;
		live->cb(live->ud, &resp);
		job_free(live);
		live = n;
	}
	C.multi_cleanup(r->multi);
	r->multi = NULL;
	curl_release();
}

struct rest *rest_new(struct loop *l, char **err)
{
	struct rest *r = xcalloc(1, sizeof *r);
	r->loop = l;
	const char *ca;
	r->ca_kind = ca_source(&ca);
	r->ca = ca ? xstrdup(ca) : NULL;
	r->idle_ms = REST_IDLE_MS_DEFAULT;
	pthread_mutex_init(&r->mu, NULL);
	/* Started now so that a missing libcurl is reported at start-up. */
	if (engine_start(r, err) < 0) {
		pthread_mutex_destroy(&r->mu);
		free(r->ca);
		free(r);
		return NULL;
	}
	idle_arm(r);
	return r;
}

void rest_free(struct rest *r)
{
	if (!r)
		return;
	engine_stop(r);
	pthread_mutex_destroy(&r->mu);
	free(r->ca);
	free(r);
}

void rest_set_idle_ms(struct rest *r, int64_t ms)
{
	r->idle_ms = ms;
	idle_arm(r);
}

int rest_loaded(const struct rest *r)
{
	return r->multi != NULL;
}

unsigned rest_loads(void)
{
	pthread_mutex_lock(&C_mu);
	unsigned n = C.loads;
	pthread_mutex_unlock(&C_mu);
	return n;
}

int rest_submit(struct rest *r, const struct rest_request *req, rest_cb cb, void *ud)
{
	if (!r->multi) {
		char *err = NULL;
		if (engine_start(r, &err) < 0) {
			log_error("rest: %s", err);
			free(err);
			return -1;
		}
	}
	loop_timer_stop(&r->idle);
	struct rest_job *j = xcalloc(1, sizeof *j);
	j->r = r;
	j->cb = cb;
	j->ud = ud;
	j->easy = C.easy_init();
	if (!j->easy) {
		free(j);
		return -1;
	}
	CURL *e = j->easy;
	C.easy_setopt(e, CURLOPT_URL, req->url);
	C.easy_setopt(e, CURLOPT_PRIVATE, (char *)j);
	C.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	C.easy_setopt(e, CURLOPT_WRITEDATA, j);
	C.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	C.easy_setopt(e, CURLOPT_HEADERDATA, j);
	C.easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	C.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	C.easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	C.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	C.easy_setopt(e, CURLOPT_USERAGENT, "ainews/0.1 (+https://github.com/ainews)");
	C.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* CA certificates as the websocket side finds them (ca_source): a
	 * hashed directory is read per certificate needed instead of parsing
	 * the whole bundle into every TLS context (~1.4 MB). */
	if (r->ca_kind == CA_FILE) {
		C.easy_setopt(e, CURLOPT_CAINFO, r->ca);
	} else if (r->ca_kind == CA_DIR) {
		C.easy_setopt(e, CURLOPT_CAINFO, (char *)NULL);
		C.easy_setopt(e, CURLOPT_CAPATH, r->ca);
	}
	C.easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	const char *method = req->method ? req->method : "GET";
	if (req->body) {
		j->body = xstrndup(req->body, req->body_len);
		C.easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
		C.easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
	}
	if (strcmp(method, "GET") && strcmp(method, "POST"))
		C.easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	else if (!strcmp(method, "POST") && !req->body)
		C.easy_setopt(e, CURLOPT_POSTFIELDS, ""), C.easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	for (size_t i = 0; i < req->nheaders; i++)
		j->hdrs = C.slist_append(j->hdrs, req->headers[i]);
	j->hdrs = C.slist_append(j->hdrs, "Expect:"); /* no 100-continue round trip */
	C.easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
	r->inflight++;
	j->next_live = r->live;
	r->live = j;
	pthread_mutex_lock(&r->mu);
	j->next = r->pending;
	r->pending = j;
	pthread_mutex_unlock(&r->mu);
	C.multi_wakeup(r->multi);
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
