/* http — routing, headers and request bodies on a libwebsockets vhost.
 *
 * One lws protocol serves every route. A request is answered from
 * LWS_CALLBACK_HTTP (or, for POST, once its body is complete): the page is
 * rendered into a buffer that starts with LWS_PRE spare bytes, the headers
 * go out at once, and the body follows from LWS_CALLBACK_HTTP_WRITEABLE in
 * slices, each with LWS_WRITE_HTTP_FINAL on the last. Keep-alive
 * connections are reused through lws_http_transaction_completed().
 *
 * Writing slice n+1 from inside the same buffer is safe although lws may
 * scribble into the LWS_PRE bytes before it: those bytes belong to slice n,
 * which has been sent already.
 *
 * The webhook checks its token and Content-Length before taking any body,
 * counts bytes as they arrive (413 past HTTP_MAX_BODY), then parses the
 * body and stores a JSON batch API_CHUNK stories per transaction on
 * successive loop turns (see api_step), answering when the last chunk is in,
 * so a 5 MB array never holds the loop. An early answer (401, 405, 411, 413,
 * 503) closes the connection afterwards: the unread body makes it unusable.
 * But not at once: a client that sends its body without waiting for an answer
 * (no "Expect: 100-continue") is still sending, and a close with unread
 * bytes resets the connection, which can throw the answer away before the
 * client reads it (curl: "failed sending data", no status). So when the
 * request declares a body of at most HTTP_LINGER_MAX, the rest of it is
 * read and dropped, and the connection closes once the answer is out and
 * the body is in, or after HTTP_LINGER_S seconds.
 */
#define _GNU_SOURCE
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "ingest.h"
#include "parse.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "topics.h"

#define SLICE	       65536	    /* body bytes per lws_write */
#define HTTP_LINGER_MAX (64ull << 20) /* a body dropped after an early answer, at most */
#define HTTP_LINGER_S   10	      /* ...and for at most this long */
#define PAGE_CACHE     64	    /* rendered story pages kept */
#define PAGE_CACHE_MAX (256u << 10) /* larger pages are rendered every time */

static const char csp[] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
			  "form-action 'none'; frame-ancestors 'none'";

#define CT_HTML	   "text/html; charset=utf-8"
#define CT_JSON	   "application/json; charset=utf-8"
#define CT_PROM	   "text/plain; version=0.0.4; charset=utf-8"
#define CACHE_PAGE "public, max-age=60"
#define CACHE_NONE "no-store"

enum route { R_INDEX, R_STORY, R_STORY_JSON, R_API, R_HEALTHZ, R_METRICS, R_OTHER };
static const char *const route_name[] = {"index", "story", "story_json", "api_stories", "healthz", "metrics", "other"};

/* A rendered story page or story JSON. A stored revision never changes,
 * so a page stays right while the story's head revision (and its content
 * fingerprint, in case the database itself was swapped) is the one it was
 * rendered from; checking that is one indexed read, while rendering means
 * decoding the story's JSON and escaping every field. */
struct page {
	char *id;    /* NULL: free slot */
	int kind;    /* enum web_lang, or PAGE_JSON */
	int rev;     /* ?rev= asked for, 0 = latest */
	int head;    /* head revision it was rendered at */
	uint64_t fp; /* and its fingerprint */
	char *body;  /* LWS_PRE spare bytes, then len bytes */
	size_t len;
	uint64_t used; /* LRU clock */
};
#define PAGE_JSON 3

struct http_server {
	struct loop *loop;
	struct app *app;
	struct metrics *metrics;
	struct http_hooks hooks;
	struct lws_vhost *vh;
	char *iface;
	char *bearer;	 /* the token, or NULL: webhook disabled */
	char *token_env; /* for the 503 message */
	int port;
	int64_t started;
	int stopping; /* http_stop() ran: the vhost is closing, answer nothing */
	struct page pages[PAGE_CACHE];
	uint64_t clock;
	int *freed; /* set by srv_free while http_start() is still deciding */
};

/* Per connection, allocated and zeroed by lws; lives across keep-alive
 * transactions, so every request resets it. */
struct api_job;

struct pss {
	struct api_job *job; /* a webhook batch being stored, chunk by chunk */
	int method;
	int route;
	int in_body; /* taking a POST body */
	int status;
	struct sbuf body; /* request body */
	char *out;	  /* response: LWS_PRE spare bytes, then the body */
	size_t out_len, out_off;
	int head_only;
	int close_after;
	int linger;    /* after an early answer: a body still coming, read and dropped */
	int answered;  /* ...the answer is out */
	int body_done; /* ...the body is in */
};

static void api_job_free(struct api_job *j);

static void pss_reset(struct pss *ps)
{
	api_job_free(ps->job);
	sbuf_free(&ps->body);
	free(ps->out);
	memset(ps, 0, sizeof *ps);
}

/* ---- responses ------------------------------------------------------------------ */

/* A response body under construction: LWS_PRE bytes of headroom first. */
static void body_init(struct sbuf *b)
{
	memset(b, 0, sizeof *b);
	char pre[LWS_PRE];
	memset(pre, 0, sizeof pre);
	sbuf_add(b, pre, sizeof pre);
}

struct reply {
	int status;
	const char *ctype;
	const char *cache;
	const char *extra_name, *extra_value; /* one more header, e.g. Allow */
};

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

/* The answer is out: the next request on the connection, or its close;
 * with a body still coming (linger), the close once that is in. */
static int answer_done(struct lws *wsi, struct pss *ps)
{
	if (!ps->close_after)
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	if (!ps->linger || ps->body_done)
		return -1;
	ps->answered = 1;
	lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, HTTP_LINGER_S);
	return 0;
}

/* Header value (owned) or NULL when absent or longer than max. */
static char *header(struct lws *wsi, enum lws_token_indexes h, int max)
{
	int n = lws_hdr_total_length(wsi, h);
	if (n <= 0 || n > max)
		return NULL;
	char *v = xmalloc((size_t)n + 1);
	if (lws_hdr_copy(wsi, v, n + 1, h) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

/* The request's Content-Length into *n: 0, or -1 when there is none (or
 * it is over 32 bytes), -2 when it is not a number. */
static int content_length(struct lws *wsi, unsigned long long *n)
{
	char *cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 32);
	if (!cl)
		return -1;
	char *e;
	errno = 0;
	*n = strtoull(cl, &e, 10);
	int bad = *e || e == cl || errno;
	free(cl);
	return bad ? -2 : 0;
}

/* A request body of at most HTTP_LINGER_MAX declared (Content-Length). */
static int body_to_drop(struct lws *wsi)
{
	unsigned long long n;
	return content_length(wsi, &n) == 0 && n > 0 && n <= HTTP_LINGER_MAX;
}

/* Send the headers now and queue the body (taken from b) for WRITEABLE.
 * Returns what the lws callback should return. */
static int respond(struct http_server *srv, struct lws *wsi, struct pss *ps, const struct reply *r, struct sbuf *b)
{
	size_t len = b->len - LWS_PRE;
	char code[8];
	snprintf(code, sizeof code, "%d", r->status);
	metrics_add(srv ? srv->metrics : NULL, METRICS_HTTP_REQUESTS, route_name[ps->route], code, 1);

	unsigned char hbuf[LWS_PRE + 2048];
	unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof hbuf - 1;
	int html = !strncmp(r->ctype, "text/html", 9);
	if (lws_add_http_common_headers(wsi, (unsigned int)r->status, r->ctype, (lws_filepos_t)len, &p, end) ||
	    add_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
	    add_header(wsi, "cache-control:", r->cache, &p, end) ||
	    add_header(wsi, "referrer-policy:", "no-referrer", &p, end) ||
	    (html && add_header(wsi, "content-security-policy:", csp, &p, end)) ||
	    (html && add_header(wsi, "x-frame-options:", "DENY", &p, end)) ||
	    (r->extra_name && add_header(wsi, r->extra_name, r->extra_value, &p, end)) ||
	    (ps->close_after && add_header(wsi, "connection:", "close", &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end)) {
		sbuf_free(b);
		return -1;
	}
	ps->status = r->status;
	if (ps->close_after && !ps->in_body)
		ps->linger = body_to_drop(wsi);
	free(ps->out);
	ps->out_len = len;
	ps->out_off = 0;
	ps->out = sbuf_take(b);
	if (ps->head_only || !len) {
		free(ps->out);
		ps->out = NULL;
		return answer_done(wsi, ps);
	}
	lws_callback_on_writable(wsi);
	return 0;
}

static int respond_json_error(struct http_server *srv, struct lws *wsi, struct pss *ps, int status, const char *msg,
			      const char *hname, const char *hvalue)
{
	struct sbuf b;
	body_init(&b);
	web_json_error(&b, msg);
	struct reply r = {status, CT_JSON, CACHE_NONE, hname, hvalue};
	return respond(srv, wsi, ps, &r, &b);
}

static int respond_error_page(struct http_server *srv, struct lws *wsi, struct pss *ps, int status, const char *detail,
			      const char *hname, const char *hvalue)
{
	struct sbuf b;
	body_init(&b);
	web_error_page(&b, status, detail);
	struct reply r = {status, CT_HTML, CACHE_NONE, hname, hvalue};
	return respond(srv, wsi, ps, &r, &b);
}

static int write_more(struct lws *wsi, struct pss *ps)
{
	if (!ps->out)
		return 0;
	size_t n = ps->out_len - ps->out_off;
	if (n > SLICE)
		n = SLICE;
	int final = ps->out_off + n == ps->out_len;
	unsigned char *at = (unsigned char *)ps->out + LWS_PRE + ps->out_off;
	if (lws_write(wsi, at, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	ps->out_off += n;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(ps->out);
	ps->out = NULL;
	return answer_done(wsi, ps);
}

/* ---- request helpers ------------------------------------------------------------- */

static const char *urlarg(struct lws *wsi, const char *name_eq, char *buf, int len)
{
	const char *v = lws_get_urlarg_by_name(wsi, name_eq, buf, len);
	return v && *v ? v : NULL;
}

/* Constant time in the length of the expected token: a wrong token's
 * first differing byte must not show in the timing. */
static int token_equal(const char *given, const char *want)
{
	size_t gl = strlen(given), wl = strlen(want);
	unsigned char diff = (unsigned char)(gl != wl);
	for (size_t i = 0; i < wl; i++)
		diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
	return diff == 0;
}

/* ---- routes ---------------------------------------------------------------------- */

struct rev_list {
	struct web_revision *v;
	size_t n, cap;
};

static void rev_cb(void *ud, int revision, const char *changed, int64_t created_at)
{
	struct rev_list *l = ud;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = (struct web_revision){revision, xstrdup(changed), created_at};
}

static struct page *page_find(struct http_server *srv, const char *id, int kind, int rev, int head, uint64_t fp)
{
	for (int i = 0; i < PAGE_CACHE; i++) {
		struct page *p = &srv->pages[i];
		if (p->id && p->kind == kind && p->rev == rev && p->head == head && p->fp == fp && !strcmp(p->id, id)) {
			p->used = ++srv->clock;
			return p;
		}
	}
	return NULL;
}

static void page_clear(struct page *p)
{
	free(p->id);
	free(p->body);
	memset(p, 0, sizeof *p);
}

static void page_keep(struct http_server *srv, const char *id, int kind, int rev, int head, uint64_t fp,
		      const struct sbuf *b)
{
	size_t len = b->len - LWS_PRE;
	if (len > PAGE_CACHE_MAX)
		return;
	struct page *victim = &srv->pages[0];
	for (int i = 0; i < PAGE_CACHE; i++) {
		struct page *p = &srv->pages[i];
		if (p->id && p->kind == kind && p->rev == rev && !strcmp(p->id, id)) {
			victim = p; /* an older rendering of the same page */
			break;
		}
		if (!p->id || p->used < victim->used)
			victim = p;
	}
	page_clear(victim);
	*victim = (struct page){xstrdup(id), kind, rev, head, fp, xmalloc(b->len), len, ++srv->clock};
	memcpy(victim->body, b->s, b->len);
}

static int serve_story(struct http_server *srv, struct lws *wsi, struct pss *ps, const char *id, int json)
{
	struct store *st = srv->app->store;
	char buf[64];
	int head = 0, rev = 0;
	uint64_t fp = 0;
	const char *revarg = urlarg(wsi, "rev=", buf, sizeof buf);
	if (revarg) {
		char *e;
		long v = strtol(revarg, &e, 10);
		rev = *e || v < 1 || v > 1000000 ? -1 : (int)v;
	}
	int kind = json ? PAGE_JSON : web_lang_parse(urlarg(wsi, "lang=", buf, sizeof buf));
	int found = strlen(id) <= 256 && rev >= 0 && store_story_head(st, id, &head, &fp) == 1 && rev <= head;
	struct story s;
	story_init(&s);
	struct page *hit = found ? page_find(srv, id, kind, rev, head, fp) : NULL;
	if (found && !hit)
		found = store_story_get(st, id, rev, &s) == 1;
	if (!found) {
		story_free(&s);
		char *msg =
		    xasprintf("No story with id \"%s\"%s. 没有这条资讯。", id, rev > 0 ? " at that revision" : "");
		int rc = json ? respond_json_error(srv, wsi, ps, 404, "no such story", NULL, NULL)
			      : respond_error_page(srv, wsi, ps, 404, msg, NULL, NULL);
		free(msg);
		return rc;
	}
	struct sbuf b = {0};
	if (hit) {
		sbuf_add(&b, hit->body, LWS_PRE + hit->len);
	} else if (json) {
		body_init(&b);
		char *j = story_to_json(&s, srv->app->cfg.public_url, 1);
		sbuf_adds(&b, j);
		sbuf_addc(&b, '\n');
		free(j);
	} else {
		body_init(&b);
		struct rev_list revs = {0};
		store_story_revisions(st, id, rev_cb, &revs);
		web_story_page(&b, &s, revs.v, revs.n, head, kind, srv->app->topics);
		for (size_t i = 0; i < revs.n; i++)
			free((char *)revs.v[i].changed);
		free(revs.v);
	}
	if (!hit)
		page_keep(srv, id, kind, rev, head, fp, &b);
	story_free(&s);
	struct reply r = {200, json ? CT_JSON : CT_HTML, CACHE_PAGE, NULL, NULL};
	return respond(srv, wsi, ps, &r, &b);
}

struct index_ctx {
	struct sbuf *b;
	const struct topics *topics;
	size_t n;
};

static void index_cb(void *ud, struct story *s)
{
	struct index_ctx *c = ud;
	web_index_item(c->b, s, c->topics);
	c->n++;
}

static int serve_index(struct http_server *srv, struct lws *wsi, struct pss *ps)
{
	char tbuf[160], ebuf[160];
	const char *topic = urlarg(wsi, "topic=", tbuf, sizeof tbuf);
	const char *entity = topic ? NULL : urlarg(wsi, "entity=", ebuf, sizeof ebuf);
	const struct topics *t = srv->app->topics;
	if ((topic && topics_find(t, TOPICS_TOPIC, topic) < 0) ||
	    (entity && topics_find(t, TOPICS_ENTITY, entity) < 0)) {
		char *msg = xasprintf("Unknown %s \"%s\". 未知的%s。", topic ? "topic" : "entity",
				      topic ? topic : entity, topic ? "话题" : "实体");
		int rc = respond_error_page(srv, wsi, ps, 404, msg, NULL, NULL);
		free(msg);
		return rc;
	}
	struct sbuf b;
	body_init(&b);
	web_index_open(&b, t, topic ? "topic" : entity ? "entity" : NULL, topic ? topic : entity);
	struct store_query q = {.topic = topic, .entity = entity, .limit = HTTP_INDEX_LIMIT, .order = STORE_ORDER_RECENT};
	struct index_ctx c = {&b, t, 0};
	store_list(srv->app->store, &q, index_cb, &c);
	web_index_close(&b, c.n);
	struct reply r = {200, CT_HTML, CACHE_PAGE, NULL, NULL};
	return respond(srv, wsi, ps, &r, &b);
}

static int serve_healthz(struct http_server *srv, struct lws *wsi, struct pss *ps)
{
	struct web_health h;
	memset(&h, 0, sizeof h);
	h.now = app_now(srv->app);
	h.started = srv->started;
	if (store_outbox_depth(srv->app->store, &h.outbox_depth, &h.outbox_oldest))
		log_warn("http: healthz: outbox depth: %s", store_errmsg(srv->app->store));
	if (srv->hooks.health)
		srv->hooks.health(srv->hooks.ud, &h);
	struct sbuf b;
	body_init(&b);
	int ok = web_health_json(&b, &h);
	struct reply r = {ok ? 200 : 503, CT_JSON, CACHE_NONE, NULL, NULL};
	return respond(srv, wsi, ps, &r, &b);
}

static int serve_metrics(struct http_server *srv, struct lws *wsi, struct pss *ps)
{
	int64_t depth = 0, oldest = 0;
	if (!store_outbox_depth(srv->app->store, &depth, &oldest)) {
		int64_t age = oldest ? app_now(srv->app) - oldest : 0;
		metrics_set(srv->metrics, METRICS_OUTBOX_DEPTH, NULL, NULL, (double)depth);
		metrics_set(srv->metrics, METRICS_OUTBOX_OLDEST_AGE, NULL, NULL, (double)(age > 0 ? age : 0));
	}
	if (srv->hooks.collect)
		srv->hooks.collect(srv->hooks.ud, srv->metrics);
	struct sbuf b;
	body_init(&b);
	metrics_render(srv->metrics, &b);
	struct reply r = {200, CT_PROM, CACHE_NONE, NULL, NULL};
	return respond(srv, wsi, ps, &r, &b);
}

/* The webhook, before any body: token, then size. */
static int api_begin(struct http_server *srv, struct lws *wsi, struct pss *ps)
{
	if (ps->method != LWSHUMETH_POST)
		return respond_json_error(srv, wsi, ps, 405, "use POST", "allow:", "POST");
	ps->close_after = 1; /* until the body is known to be read */
	if (!srv->bearer) {
		char *msg = xasprintf("webhook disabled: set %s", srv->token_env ? srv->token_env : "ingest_token_env");
		int rc = respond_json_error(srv, wsi, ps, 503, msg, NULL, NULL);
		free(msg);
		return rc;
	}
	char *auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, 1024);
	int ok = auth && !strncasecmp(auth, "Bearer ", 7) && token_equal(auth + 7, srv->bearer);
	free(auth);
	if (!ok)
		return respond_json_error(srv, wsi, ps, 401, "missing or wrong bearer token",
					  "www-authenticate:", "Bearer realm=\"ainews\"");
	unsigned long long n = 0;
	int cl = content_length(wsi, &n);
	if (cl == -1)
		return respond_json_error(srv, wsi, ps, 411, "Content-Length required", NULL, NULL);
	if (cl)
		return respond_json_error(srv, wsi, ps, 400, "bad Content-Length", NULL, NULL);
	if (n > HTTP_MAX_BODY)
		return respond_json_error(srv, wsi, ps, 413, "body over 5 MB", NULL, NULL);
	if (n == 0)
		return respond_json_error(srv, wsi, ps, 400, "empty body, no story", NULL, NULL);
	ps->close_after = 0;
	ps->in_body = 1;
	return 0;
}

struct api_ctx {
	struct web_ingest_result res;
	int stored; /* new or revised */
};

static void api_report(void *ud, const struct ingest_report *r)
{
	struct api_ctx *c = ud;
	if (!r->ok) { /* a page, an article or a body rejected whole: no JSON paths here */
		web_ingest_error(&c->res, r->where, r->msg);
		return;
	}
	web_ingest_ok(&c->res, r->id, r->info->result, r->info->revision, r->info->alerts, r->info->updates);
	c->stored += r->info->result != APP_PUT_UNCHANGED;
}

/* A webhook JSON batch is parsed at once (fast) and stored in chunks of
 * API_CHUNK stories, one transaction each, on successive loop turns: a 5 MB
 * batch takes over a second to classify and index, and the websocket
 * plugins on the same loop must keep acking meanwhile. The answer goes out
 * when the last chunk is stored. */
#define API_CHUNK 16

struct api_job {
	struct http_server *srv;
	struct lws *wsi;
	struct loop_timer timer;
	struct story *stories;
	char **where;
	size_t n, cap, next;
	struct api_ctx c;
	int failed, done;
};

static void api_job_free(struct api_job *j)
{
	if (!j)
		return;
	loop_timer_stop(&j->timer);
	for (size_t i = 0; i < j->n; i++) {
		story_free(&j->stories[i]);
		free(j->where[i]);
	}
	free(j->stories);
	free(j->where);
	sbuf_free(&j->c.res.ids), sbuf_free(&j->c.res.stories), sbuf_free(&j->c.res.errors);
	free(j);
}

static void api_collect(void *ud, struct story *s, const char *where, const char *err)
{
	struct api_job *j = ud;
	if (!s) {
		char *m = ingest_json_path_error(where, err);
		if (m) { /* the path is the where: "$[2].scores.hot" */
			char *colon = strstr(m, ": ");
			char *w = colon ? xstrndup(m, (size_t)(colon - m)) : NULL;
			web_ingest_error(&j->c.res, w, m);
			free(w);
			free(m);
		} else {
			web_ingest_error(&j->c.res, where, err);
		}
		return;
	}
	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 16;
		j->stories = xrealloc(j->stories, j->cap * sizeof *j->stories);
		j->where = xrealloc(j->where, j->cap * sizeof *j->where);
	}
	j->stories[j->n] = *s;
	story_init(s);
	j->where[j->n] = xstrdup(where);
	j->n++;
}

static void api_step(void *ud)
{
	struct api_job *j = ud;
	struct app *a = j->srv->app;
	size_t end = j->next + API_CHUNK < j->n ? j->next + API_CHUNK : j->n;
	if (app_batch_begin(a)) {
		j->failed = 1;
	} else {
		for (; j->next < end; j->next++) {
			struct story *s = &j->stories[j->next];
			struct app_put_info info;
			char *err = NULL;
			if (app_put_story(a, s, 0, &info, &err)) {
				log_error("http: webhook: %s", err);
				free(err);
				j->failed = 1;
				break;
			}
			web_ingest_ok(&j->c.res, s->id, info.result, info.revision, info.alerts, info.updates);
			j->c.stored += info.result != APP_PUT_UNCHANGED;
		}
		if (app_batch_commit(a))
			j->failed = 1;
	}
	if (!j->failed && j->next < j->n) {
		loop_timer_start(j->srv->loop, &j->timer, 0, api_step, j);
		return;
	}
	j->done = 1;
	lws_callback_on_writable(j->wsi);
}

/* The answer to a finished batch (from HTTP_WRITEABLE). */
static int api_answer(struct http_server *srv, struct lws *wsi, struct pss *ps, struct api_ctx *c, int failed)
{
	if (failed) {
		log_error("http: webhook: store failure: %s", store_errmsg(srv->app->store));
		return respond_json_error(srv, wsi, ps, 500,
					  "store failure; stories before the failing chunk were kept (see the log)",
					  NULL, NULL);
	}
	log_info("http: webhook: %d stored (%d new, %d revised, %d unchanged), %d rejected", c->res.nstored,
		 c->res.nnew, c->res.nrevised, c->res.nunchanged, c->res.nerrors);
	if (c->res.nstored && srv->hooks.ingested)
		srv->hooks.ingested(srv->hooks.ud, c->stored);
	struct sbuf b;
	body_init(&b);
	int status = c->res.nerrors ? 400 : 202;
	web_ingest_json(&b, &c->res);
	struct reply r = {status, CT_JSON, CACHE_NONE, NULL, NULL};
	return respond(srv, wsi, ps, &r, &b);
}

static int api_finish(struct http_server *srv, struct lws *wsi, struct pss *ps)
{
	ps->in_body = 0;
	struct app *a = srv->app;
	const char *body = ps->body.s ? ps->body.s : "";
	size_t len = ps->body.len;
	char *bad = ingest_check(body, len);
	if (!bad && parse_detect(body, len) == PARSE_JSON) {
		struct api_job *j = xcalloc(1, sizeof *j);
		j->srv = srv;
		j->wsi = wsi;
		char *err = NULL;
		if (story_from_json_text(body, len, api_collect, j, &err) < 0) {
			web_ingest_error(&j->c.res, NULL, err);
			free(err);
		}
		sbuf_free(&ps->body);
		ps->job = j;
		api_step(j); /* the first chunk now; the rest on the next turns */
		return 0;
	}
	free(bad);
	/* One page, article or a rejected body: a single story at most. */
	struct api_ctx c;
	memset(&c, 0, sizeof c);
	int rc = app_batch_begin(a);
	if (!rc)
		rc = ingest_buffer(a, "request", body, len, app_now(a), 0, api_report, &c);
	if (rc >= 0 && app_batch_commit(a))
		rc = -1;
	sbuf_free(&ps->body);
	rc = api_answer(srv, wsi, ps, &c, rc < 0);
	sbuf_free(&c.res.ids), sbuf_free(&c.res.stories), sbuf_free(&c.res.errors);
	return rc;
}

static int route(struct http_server *srv, struct lws *wsi, struct pss *ps, const char *path)
{
	if (!strcmp(path, "/api/stories")) {
		ps->route = R_API;
		return api_begin(srv, wsi, ps);
	}
	int get = ps->method == LWSHUMETH_GET || ps->method == LWSHUMETH_HEAD;
	ps->head_only = ps->method == LWSHUMETH_HEAD;
	const char *id = str_starts(path, "/s/") ? path + 3 : NULL;
	size_t idlen = id ? strlen(id) : 0;
	ps->route = !strcmp(path, "/")					  ? R_INDEX
		    : !strcmp(path, "/healthz")				  ? R_HEALTHZ
		    : !strcmp(path, "/metrics")				  ? R_METRICS
		    : id && idlen > 5 && !strcmp(id + idlen - 5, ".json") ? R_STORY_JSON
		    : id && idlen					  ? R_STORY
									  : R_OTHER;
	if (ps->route == R_OTHER)
		return respond_error_page(srv, wsi, ps, 404, "There is no page here. 此页面不存在。", NULL, NULL);
	if (!get) {
		ps->close_after =
		    ps->method == LWSHUMETH_POST || ps->method == LWSHUMETH_PUT || ps->method == LWSHUMETH_PATCH;
		return respond_error_page(srv, wsi, ps, 405, NULL, "allow:", "GET, HEAD");
	}
	switch (ps->route) {
	case R_INDEX:
		return serve_index(srv, wsi, ps);
	case R_HEALTHZ:
		return serve_healthz(srv, wsi, ps);
	case R_METRICS:
		return serve_metrics(srv, wsi, ps);
	case R_STORY_JSON: {
		char *sid = xstrndup(id, idlen - 5);
		int rc = serve_story(srv, wsi, ps, sid, 1);
		free(sid);
		return rc;
	}
	default:
		return serve_story(srv, wsi, ps, id, 0);
	}
}

/* ---- the lws protocol -------------------------------------------------------------- */

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *ps = user;
	struct lws_vhost *vh = wsi ? lws_get_vhost(wsi) : NULL;
	struct http_server *srv = vh ? lws_get_vhost_user(vh) : NULL;
	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		if (!ps || !srv || srv->stopping)
			return -1;
		pss_reset(ps);
		char *uri;
		int urilen;
		ps->method = lws_http_get_uri_and_method(wsi, &uri, &urilen);
		if (!in)
			return -1;
		return route(srv, wsi, ps, (const char *)in);
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!ps || !srv || srv->stopping || !ps->in_body)
			return 0; /* an early answer is on its way; the rest is dropped */
		if (ps->body.len + len > HTTP_MAX_BODY) {
			/* Content-Length lied, or came in pieces: stop now. */
			ps->in_body = 0;
			ps->close_after = 1;
			sbuf_free(&ps->body);
			return respond_json_error(srv, wsi, ps, 413, "body over 5 MB", NULL, NULL);
		}
		sbuf_add(&ps->body, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (ps && ps->linger && !ps->in_body) { /* all of the dropped body read */
			ps->body_done = 1;
			return ps->answered ? -1 : 0;
		}
		if (!ps || !srv || !ps->in_body)
			return 0;
		return srv->stopping ? -1 : api_finish(srv, wsi, ps);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (ps && ps->job && ps->job->done) {
			struct api_job *j = ps->job;
			ps->job = NULL;
			int rc = api_answer(srv, wsi, ps, &j->c, j->failed);
			api_job_free(j);
			return rc;
		}
		if (ps && ps->job)
			return 0; /* still storing */
		return ps ? write_more(wsi, ps) : 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		/* Connection gone (or the vhost is closing): buffers only. */
		if (ps)
			pss_reset(ps);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols http_protocols[] = {
    {"ainews-http", http_cb, sizeof(struct pss), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- lifecycle --------------------------------------------------------------------- */

int http_listen_off(const char *listen)
{
	return !listen || !*listen || !strcmp(listen, "off");
}

int http_parse_listen(const char *listen, char **host, int *port)
{
	*host = NULL;
	if (http_listen_off(listen))
		return -1;
	const char *colon;
	char *h = NULL;
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return -1;
		h = xstrndup(listen + 1, (size_t)(close - listen - 1));
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return -1;
		h = xstrndup(listen, (size_t)(colon - listen));
		if (strchr(h, ':')) { /* bare IPv6 needs brackets */
			free(h);
			return -1;
		}
	}
	char *e;
	errno = 0;
	long p = strtol(colon + 1, &e, 10);
	if (!colon[1] || *e || errno || p < 0 || p > 65535) {
		free(h);
		return -1;
	}
	if (!*h || !strcmp(h, "*") || !strcmp(h, "0.0.0.0") || !strcmp(h, "::")) {
		free(h); /* every interface */
		h = NULL;
	} else if (!strcmp(h, "localhost")) {
		free(h);
		h = xstrdup("127.0.0.1");
	}
	*host = h;
	*port = (int)p;
	return 0;
}

/* The vhost's finalizer: lws calls it once its last connection is gone
 * (lws also keeps pointing at iface until then). */
static void srv_free(struct lws_vhost *vh, void *arg)
{
	struct http_server *srv = arg;
	(void)vh;
	if (srv->freed)
		*srv->freed = 1;
	for (int i = 0; i < PAGE_CACHE; i++)
		page_clear(&srv->pages[i]);
	free(srv->iface);
	free(srv->bearer);
	free(srv->token_env);
	free(srv);
}

struct http_server *http_start(struct loop *l, struct app *a, struct metrics *m, const struct http_hooks *hooks,
			       const struct http_opts *o, char **err)
{
	char *host;
	int port;
	if (http_parse_listen(o->listen, &host, &port)) {
		*err = xasprintf("http: bad listen address \"%s\" (want host:port, [v6]:port or :port)",
				 o->listen ? o->listen : "");
		return NULL;
	}
	struct http_server *srv = xcalloc(1, sizeof *srv);
	srv->loop = l;
	srv->app = a;
	srv->metrics = m;
	if (hooks)
		srv->hooks = *hooks;
	srv->iface = host;
	srv->bearer = o->token && *o->token ? xstrdup(o->token) : NULL;
	srv->token_env = xstrdup(o->token_env);
	srv->started = app_now(a);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = host;
	info.protocols = http_protocols;
	info.vhost_name = "ainews-http";
	info.user = srv;
	info.server_string = "ainews";
	info.keepalive_timeout = 5;
	info.timeout_secs = 20;
	info.finalize = srv_free;
	info.finalize_arg = srv;
	/* A vhost that fails after its bind attempt is finalized by lws
	 * (freeing srv); one that fails earlier is not. */
	int freed = 0;
	srv->freed = &freed;
	struct lws_vhost *vh = lws_create_vhost(loop_lws(l), &info);
	if (!vh) {
		*err = xasprintf("http: cannot listen on %s (address in use or not local?)", o->listen);
		if (!freed)
			srv_free(NULL, srv);
		return NULL;
	}
	srv->vh = vh;
	srv->freed = NULL;
	srv->port = lws_get_vhost_listen_port(srv->vh);
	int v6 = host && strchr(host, ':');
	log_info("http: listening on %s%s%s:%d%s", v6 ? "[" : "", host ? host : "*", v6 ? "]" : "", srv->port,
		 srv->bearer ? "" : "; webhook disabled (no token)");
	return srv;
}

int http_port(const struct http_server *s)
{
	return s ? s->port : 0;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	/* Connections close on the next loop turns; their callbacks see
	 * stopping and only release buffers. lws frees s through srv_free. */
	s->stopping = 1;
	lws_vhost_destroy(s->vh);
}
