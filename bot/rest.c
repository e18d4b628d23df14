/* rest — HTTP requests run by a helper process on libcurl's multi
 * interface; completions delivered on the loop thread.
 *
 * libcurl never enters the daemon. Debian's libcurl brings GnuTLS,
 * Kerberos, LDAP, libssh2 and a dozen more libraries, and GnuTLS's
 * p11-kit cannot be unloaded once loaded (NODELETE): ~4 MB resident while
 * loaded, 0.45 MB for good after the first request even if libcurl is
 * closed again. So the first request spawns a helper, the same executable
 * re-run with AINEWS_REST_HELPER=<fd> (caught by a constructor in this
 * file before main), which loads libcurl and runs the transfers. The two
 * talk over a socketpair in length-prefixed frames; the daemon's side is
 * non-blocking and watched by the loop, so a hung API or a slow helper
 * never delays a websocket ack.
 *
 * After idle_ms with nothing in flight the daemon closes the socket and
 * the helper exits: a bot connected to Slack that is not posting keeps no
 * HTTP client resident at all. The next request spawns it again (~5 ms;
 * the connection to the API is made again, as after any idle time). If
 * the helper dies, every request in flight hears "HTTP helper exited" and
 * the next one starts a new helper.
 *
 * Headers travel to the helper (they carry tokens) and are never logged.
 */
#define _GNU_SOURCE
#include "rest.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>

#include "log.h"
#include "loop.h"

extern char **environ;

#define HELPER_ENV "AINEWS_REST_HELPER"
#define NOSTR 0xFFFFFFFFu
#define FRAME_MAX (80u << 20) /* a 64 MB body plus headers */
enum { F_REQUEST = 1, F_RESPONSE = 2, F_HELLO = 3 };

/* ---- frames: u32 length, then a type byte and fields (little-endian) ---- */

static void put_u32(struct sbuf *b, uint32_t v)
{
	store32le(sbuf_room(b, 4), v);
	sbuf_added(b, 4);
}

static void put_u64(struct sbuf *b, uint64_t v)
{
	store64le(sbuf_room(b, 8), v);
	sbuf_added(b, 8);
}

static void put_str(struct sbuf *b, const char *s, size_t n)
{
	if (!s) {
		put_u32(b, NOSTR);
		return;
	}
	put_u32(b, (uint32_t)n);
	if (n)
		sbuf_add(b, s, n);
}

/* Start a frame of type t; returns where its length goes (frame_end). */
static size_t frame_begin(struct sbuf *b, int t)
{
	size_t at = b->len;
	put_u32(b, 0);
	sbuf_addc(b, (char)t);
	return at;
}

static void frame_end(struct sbuf *b, size_t at)
{
	store32le(b->s + at, (uint32_t)(b->len - at - 4));
}

struct rd {
	const unsigned char *p, *e;
	int bad;
};

/* The next n bytes of the frame, or NULL (and r->bad) when fewer are left. */
static const unsigned char *take(struct rd *r, size_t n)
{
	if (r->bad || (size_t)(r->e - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const unsigned char *p = r->p;
	r->p += n;
	return p;
}

static uint32_t get_u32(struct rd *r)
{
	const unsigned char *p = take(r, 4);
	return p ? load32le(p) : 0;
}

static uint64_t get_u64(struct rd *r)
{
	const unsigned char *p = take(r, 8);
	return p ? load64le(p) : 0;
}

/* A NUL-terminated copy (NULL for an absent string); *len if asked. */
static char *get_str(struct rd *r, size_t *len)
{
	uint32_t n = get_u32(r);
	if (len)
		*len = 0;
	const unsigned char *p = r->bad || n == NOSTR ? NULL : take(r, n);
	if (!p)
		return NULL;
	if (len)
		*len = n;
	return xstrndup((const char *)p, n);
}

/* A count, then that many strings (header lines). */
static void put_strv(struct sbuf *b, const char *const *v, size_t n)
{
	put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		put_str(b, v[i], strlen(v[i]));
}

static void get_strv(struct rd *r, struct strv *out)
{
	uint32_t n = get_u32(r);
	for (uint32_t i = 0; !r->bad && i < n; i++) {
		char *h = get_str(r, NULL);
		if (h)
			strv_push_owned(out, h);
	}
}

/* The next complete frame in b from *off: 1 (payload in *f), 0 (need
 * more), -1 (a length beyond FRAME_MAX: the peer is broken). */
static int next_frame(const struct sbuf *b, size_t *off, struct rd *f)
{
	if (b->len - *off < 4)
		return 0;
	const unsigned char *p = (const unsigned char *)b->s + *off;
	uint32_t n = load32le(p);
	if (n == 0 || n > FRAME_MAX)
		return -1;
	if (b->len - *off - 4 < n)
		return 0;
	*f = (struct rd){p + 4, p + 4 + n, 0};
	*off += 4 + (size_t)n;
	return 1;
}

/* Read what fd has (non-blocking) onto b; 1 at end of file or on an
 * error, else 0. */
static int read_some(int fd, struct sbuf *b)
{
	for (;;) {
		ssize_t n = read(fd, sbuf_room(b, 16384), 16384);
		if (n > 0) {
			sbuf_added(b, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
	}
}

/* Drop the consumed part of b (all of it: give the memory back). */
static void consumed(struct sbuf *b, size_t off)
{
	if (off >= b->len) {
		sbuf_free(b);
		return;
	}
	if (off) {
		memmove(b->s, b->s + off, b->len - off);
		b->len -= off;
		b->s[b->len] = 0;
	}
}

/* ==== the helper process ==== */

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
	char err[256];
} C;

#define SYM(field, name)                                       \
	do {                                                     \
		*(void **)&C.field = dlsym(C.dl, name);          \
		if (!C.field) {                                  \
			snprintf(C.err, sizeof C.err, "libcurl.so.4 has no %s", name); \
			return;                                  \
		}                                                \
	} while (0)

/* Helper process only. On failure C.err says why. */
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
	if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(C.err, sizeof C.err, "libcurl: global initialisation failed");
		return;
	}
	C.err[0] = 0;
}
#undef SYM

struct hjob {
	uint64_t id;
	CURL *easy;
	struct curl_slist *hdrs;
	char *body;
	struct sbuf out;
	struct strv resp_headers;
	char errbuf[CURL_ERROR_SIZE];
	struct hjob *next;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct hjob *j = ud;
	if (j->out.len + size * n > (64u << 20))
		return 0; /* a runaway response: abort */
	sbuf_add(&j->out, p, size * n);
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct hjob *j = ud;
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

/* Blocking send of all of b (fd is non-blocking); -1 once the daemon is gone. */
static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w > 0) {
			s += w, n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {fd, POLLOUT, 0};
			poll(&p, 1, 1000);
		} else {
			return -1;
		}
	}
	return 0;
}

static int respond(int fd, uint64_t id, long status, double seconds, const char *error, const struct strv *hdrs,
		   const struct sbuf *body)
{
	struct sbuf b = {0};
	size_t at = frame_begin(&b, F_RESPONSE);
	put_u64(&b, id);
	put_u64(&b, (uint64_t)(int64_t)status);
	uint64_t bits;
	memcpy(&bits, &seconds, sizeof bits);
	put_u64(&b, bits);
	put_str(&b, error, error ? strlen(error) : 0);
	put_strv(&b, hdrs ? (const char *const *)hdrs->v : NULL, hdrs ? hdrs->n : 0);
	put_str(&b, body && body->s ? body->s : "", body ? body->len : 0);
	frame_end(&b, at);
	int rc = send_all(fd, b.s, b.len);
	sbuf_free(&b);
	return rc;
}

static void hjob_free(struct hjob *j)
{
	if (j->easy)
		C.easy_cleanup(j->easy);
	C.slist_free_all(j->hdrs);
	free(j->body);
	sbuf_free(&j->out);
	strv_free(&j->resp_headers);
	free(j);
}

/* Decode a request frame and add its transfer; NULL if it is malformed
 * (the daemon's own bytes: never expected). */
static struct hjob *hjob_start(CURLM *multi, struct rd *f, int ca_kind, const char *ca)
{
	uint64_t id = get_u64(f);
	long timeout_ms = (long)get_u32(f);
	char *method = get_str(f, NULL), *url = get_str(f, NULL);
	size_t body_len = 0;
	char *body = get_str(f, &body_len);
	struct strv hdrs = {0};
	get_strv(f, &hdrs);
	struct hjob *j = NULL;
	if (f->bad || !url)
		goto out;
	j = xcalloc(1, sizeof *j);
	j->id = id;
	j->easy = C.easy_init();
	if (!j->easy)
		goto out;
	CURL *e = j->easy;
	C.easy_setopt(e, CURLOPT_URL, url);
	C.easy_setopt(e, CURLOPT_PRIVATE, (char *)j);
	C.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	C.easy_setopt(e, CURLOPT_WRITEDATA, j);
	C.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	C.easy_setopt(e, CURLOPT_HEADERDATA, j);
	C.easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	C.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	C.easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 30000L);
	C.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	C.easy_setopt(e, CURLOPT_USERAGENT, "ainews/0.1 (+https://github.com/ainews)");
	C.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* CA certificates as the websocket side finds them (ca_source): a
	 * hashed directory is read per certificate needed instead of parsing
	 * the whole bundle into every TLS context (~1.4 MB). */
	if (ca_kind == CA_FILE) {
		C.easy_setopt(e, CURLOPT_CAINFO, ca);
	} else if (ca_kind == CA_DIR) {
		C.easy_setopt(e, CURLOPT_CAINFO, (char *)NULL);
		C.easy_setopt(e, CURLOPT_CAPATH, ca);
	}
	C.easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	const char *m = method ? method : "GET";
	if (body) {
		j->body = body, body = NULL;
		C.easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
		C.easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	if (strcmp(m, "GET") && strcmp(m, "POST"))
		C.easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	else if (!strcmp(m, "POST") && !j->body)
		C.easy_setopt(e, CURLOPT_POSTFIELDS, ""), C.easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	for (size_t i = 0; i < hdrs.n; i++)
		j->hdrs = C.slist_append(j->hdrs, hdrs.v[i]);
	j->hdrs = C.slist_append(j->hdrs, "Expect:"); /* no 100-continue round trip */
	C.easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
	C.multi_add_handle(multi, e);
out:
	if (j && !j->easy) {
		free(j);
		j = NULL;
	}
	free(method);
	free(url);
	free(body);
	strv_free(&hdrs);
	return j;
}

/* The helper: load libcurl, say hello, then run what the daemon sends
 * until it closes the socket. Nothing here logs request data. */
static void helper_run(int fd)
{
	/* A terminal's ^C or a service manager's SIGTERM to the whole group is
	 * for the daemon, which finishes what is in flight and then ends us
	 * (or dies, and we read the end of the socket). */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	curl_load();
	char *lerr = C.err[0] ? xstrdup(C.err) : NULL;
	CURLM *multi = lerr ? NULL : C.multi_init();
	if (!lerr && !multi)
		lerr = xstrdup("cannot start the HTTP client");
	struct sbuf o = {0};
	size_t at = frame_begin(&o, F_HELLO);
	put_str(&o, lerr, lerr ? strlen(lerr) : 0);
	frame_end(&o, at);
	int gone = send_all(fd, o.s, o.len) < 0;
	sbuf_free(&o);
	const char *ca;
	int ca_kind = ca_source(&ca);
	struct sbuf in = {0};
	struct hjob *live = NULL;
	while (!gone) {
		int eof = read_some(fd, &in);
		size_t off = 0;
		struct rd f;
		int k;
		while ((k = next_frame(&in, &off, &f)) == 1) {
			if (f.p == f.e || *f.p++ != F_REQUEST)
				continue;
			if (lerr) {
				uint64_t id = get_u64(&f);
				if (!f.bad && respond(fd, id, 0, 0, lerr, NULL, NULL) < 0)
					gone = 1;
				continue;
			}
			struct hjob *j = hjob_start(multi, &f, ca_kind, ca);
			if (j)
				j->next = live, live = j;
		}
		consumed(&in, off);
		if (eof || k < 0 || gone)
			break;
		if (!multi) {
			struct pollfd p = {fd, POLLIN, 0};
			poll(&p, 1, -1);
			continue;
		}
		int running = 0;
		C.multi_perform(multi, &running);
		CURLMsg *m;
		int left;
		while ((m = C.multi_info_read(multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct hjob *j = NULL;
			long status = 0;
			double seconds = 0;
			C.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
			C.easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			C.easy_getinfo(m->easy_handle, CURLINFO_TOTAL_TIME, &seconds);
			const char *error = NULL;
			if (m->data.result != CURLE_OK) {
				error = j->errbuf[0] ? j->errbuf : C.easy_strerror(m->data.result);
				status = 0;
			}
			C.multi_remove_handle(multi, m->easy_handle);
			if (respond(fd, j->id, status, seconds, error, &j->resp_headers, &j->out) < 0)
				gone = 1;
			for (struct hjob **l = &live; *l; l = &(*l)->next)
				if (*l == j) {
					*l = j->next;
					break;
				}
			hjob_free(j);
		}
		struct curl_waitfd w = {fd, CURL_WAIT_POLLIN, 0};
		C.multi_poll(multi, &w, 1, 1000, NULL);
	}
	while (live) {
		struct hjob *n = live->next;
		C.multi_remove_handle(multi, live->easy);
		hjob_free(live);
		live = n;
	}
	if (multi)
		C.multi_cleanup(multi);
	if (C.global_cleanup)
		C.global_cleanup();
	sbuf_free(&in);
	free(lerr);
}

/* Runs before main() in every program linking this file: the daemon's
 * helper is its own executable started with HELPER_ENV=<fd>. */
__attribute__((constructor)) static void rest_helper_ctor(void)
{
	const char *v = getenv(HELPER_ENV);
	if (!v)
		return;
	int fd = atoi(v);
	unsetenv(HELPER_ENV);
	if (fd < 3)
		_exit(2);
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0u, 0);
	helper_run(fd);
	_exit(0);
}

/* ==== the daemon's side ==== */

struct rest_job {
	uint64_t id;
	rest_cb cb;
	void *ud;
	struct rest_job *next;
};

struct rest {
	struct loop *loop;
	int exe_fd;  /* this executable, open: still runs if the file is replaced */
	pid_t pid;   /* the helper, 0 when none runs */
	int fd;      /* our end of its socket, -1 when none */
	struct loop_watch *watch;
	struct sbuf in, out;
	size_t out_off;
	struct rest_job *live; /* submitted, not yet answered */
	size_t inflight;
	uint64_t next_id;
	int64_t idle_ms; /* stop the helper after this long idle; 0 never */
	struct loop_timer idle, flush;
};

static unsigned spawns; /* helpers started in this process (tests) */

static void on_readable(void *ud, int fd);

/* Start the helper; 0 or -1 with *err. */
static int helper_spawn(struct rest *r, char **err)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = xasprintf("socketpair: %s", strerror(errno));
		return -1;
	}
	/* dup2 onto another number clears CLOEXEC; not onto exe_fd, which the
	 * kernel opens by name after the file actions */
	int target = 3;
	while (target == sv[1] || target == r->exe_fd)
		target++;
	char exe[64];
	snprintf(exe, sizeof exe, "/proc/self/fd/%d", r->exe_fd);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], target);
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xcalloc(n + 2, sizeof *envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], HELPER_ENV "=", sizeof HELPER_ENV))
			envp[k++] = environ[i];
	char var[64];
	snprintf(var, sizeof var, HELPER_ENV "=%d", target);
	envp[k++] = var;
	char *argv[] = {"ainews (rest helper)", NULL};
	pid_t pid;
	int rc = posix_spawn(&pid, exe, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	close(sv[1]);
	if (rc) {
		close(sv[0]);
		*err = xasprintf("cannot start the HTTP helper: %s", strerror(rc));
		return -1;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	r->pid = pid;
	r->fd = sv[0];
	r->watch = loop_watch_fd(r->loop, r->fd, on_readable, r);
	spawns++;
	return 0;
}

/* Stop the helper (killed: nothing of it is kept) and hand every request
 * still in flight its failure, once, after the state is clean. */
static void helper_stop(struct rest *r, const char *why)
{
	if (r->fd < 0)
		return;
	loop_unwatch(r->watch);
	r->watch = NULL;
	close(r->fd);
	r->fd = -1;
	kill(r->pid, SIGKILL);
	while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
		;
	r->pid = 0;
	sbuf_free(&r->in);
	sbuf_free(&r->out);
	r->out_off = 0;
	loop_timer_stop(&r->idle);
	loop_timer_stop(&r->flush);
	struct rest_job *j = r->live;
	r->live = NULL;
	while (j) {
		struct rest_job *n = j->next;
		struct rest_response resp = {0, "", 0, why, {0}, 0};
		r->inflight--;
		j->cb(j->ud, &resp);
		free(j);
		j = n;
	}
}

static void on_idle(void *ud)
{
	struct rest *r = ud;
	if (!r->inflight && r->fd >= 0) {
		helper_stop(r, "shutting down");
		log_debug("rest: idle for %lld ms; HTTP helper stopped", (long long)r->idle_ms);
	}
}

/* The idle timer runs exactly while the helper runs with nothing in
 * flight and an idle time is set. */
static void idle_arm(struct rest *r)
{
	if (r->fd >= 0 && !r->inflight && r->idle_ms > 0)
		loop_timer_start(r->loop, &r->idle, r->idle_ms, on_idle, r);
	else
		loop_timer_stop(&r->idle);
}

static void on_flush(void *ud);

/* Send what is queued for the helper without blocking; the rest is
 * retried in 2 ms (the helper reads whenever it can). */
static void flush_out(struct rest *r)
{
	while (r->fd >= 0 && r->out_off < r->out.len) {
		ssize_t n = send(r->fd, r->out.s + r->out_off, r->out.len - r->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			r->out_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_timer_start(r->loop, &r->flush, 2, on_flush, r);
			return;
		} else {
			break; /* the helper is gone: on_readable hears the end */
		}
	}
	sbuf_free(&r->out);
	r->out_off = 0;
}

static void on_flush(void *ud)
{
	flush_out(ud);
}

static void handle_response(struct rest *r, struct rd *f)
{
	uint64_t id = get_u64(f);
	long status = (long)(int64_t)get_u64(f);
	uint64_t bits = get_u64(f);
	double seconds;
	memcpy(&seconds, &bits, sizeof seconds);
	char *error = get_str(f, NULL);
	struct strv hdrs = {0};
	get_strv(f, &hdrs);
	size_t body_len = 0;
	char *body = get_str(f, &body_len);
	struct rest_job *j = NULL;
	if (!f->bad)
		for (struct rest_job **l = &r->live; *l; l = &(*l)->next)
			if ((*l)->id == id) {
				j = *l;
				*l = j->next;
				break;
			}
	if (j) {
		struct rest_response resp = {status, body ? body : "", body_len, error, hdrs, seconds};
		r->inflight--;
		j->cb(j->ud, &resp);
		free(j);
	}
	free(error);
	free(body);
	strv_free(&hdrs);
}

static void on_readable(void *ud, int fd)
{
	struct rest *r = ud;
	(void)fd;
	int eof = read_some(r->fd, &r->in);
	size_t off = 0;
	struct rd f;
	int k = 0;
	/* Callbacks may submit more (never free r); the helper stays until
	 * the loop below is done with its input. */
	while (r->fd >= 0 && (k = next_frame(&r->in, &off, &f)) == 1) {
		int type = f.p < f.e ? *f.p++ : 0;
		if (type == F_RESPONSE) {
			handle_response(r, &f);
		} else if (type == F_HELLO) {
			char *e = get_str(&f, NULL);
			if (e)
				log_error("rest: %s", e);
			free(e);
		}
	}
	if (r->fd < 0)
		return;
	consumed(&r->in, off);
	if (eof || k < 0) {
		log_warn("rest: the HTTP helper exited; %zu request(s) in flight fail", r->inflight);
		helper_stop(r, "HTTP helper exited");
	}
	idle_arm(r);
}

/* rest_new: wait for the first helper's hello, so that a missing libcurl
 * is reported at start-up. */
static int wait_hello(struct rest *r, char **err)
{
	int64_t until = loop_now_ms() + 10000;
	for (;;) {
		struct pollfd p = {r->fd, POLLIN, 0};
		int64_t left = until - loop_now_ms();
		if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR)) {
			*err = xstrdup("the HTTP helper did not start");
			return -1;
		}
		int eof = read_some(r->fd, &r->in);
		size_t off = 0;
		struct rd f;
		int k = next_frame(&r->in, &off, &f);
		if (k == 1 && f.p < f.e && *f.p++ == F_HELLO) {
			char *e = get_str(&f, NULL);
			consumed(&r->in, off);
			if (e) {
				*err = e;
				return -1;
			}
			return 0;
		}
		if (k < 0 || eof || k == 1) {
			*err = xstrdup("the HTTP helper exited at start");
			return -1;
		}
	}
}

struct rest *rest_new(struct loop *l, char **err)
{
	struct rest *r = xcalloc(1, sizeof *r);
	r->loop = l;
	r->fd = -1;
	r->idle_ms = REST_IDLE_MS_DEFAULT;
	/* Held open so that a rebuilt or upgraded binary on disk does not
	 * change (or break, "(deleted)") the helper of a running daemon. */
	r->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (r->exe_fd < 0) {
		*err = xasprintf("cannot open this program for the HTTP helper: %s", strerror(errno));
		free(r);
		return NULL;
	}
	/* Started now so that a missing libcurl is reported at start-up. */
	if (helper_spawn(r, err) < 0 || wait_hello(r, err) < 0) {
		helper_stop(r, "shutting down");
		close(r->exe_fd);
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
	helper_stop(r, "shutting down");
	close(r->exe_fd);
	free(r);
}

void rest_set_idle_ms(struct rest *r, int64_t ms)
{
	r->idle_ms = ms;
	idle_arm(r);
}

int rest_loaded(const struct rest *r)
{
	return r->fd >= 0;
}

int rest_helper_pid(const struct rest *r)
{
	return (int)r->pid;
}

unsigned rest_loads(void)
{
	return spawns;
}

int rest_submit(struct rest *r, const struct rest_request *req, rest_cb cb, void *ud)
{
	if (!req->url)
		return -1;
	if (r->fd < 0) {
		char *err = NULL;
		if (helper_spawn(r, &err) < 0) {
			log_error("rest: %s", err);
			free(err);
			return -1;
		}
	}
	loop_timer_stop(&r->idle);
	struct rest_job *j = xcalloc(1, sizeof *j);
	j->id = ++r->next_id;
	j->cb = cb;
	j->ud = ud;
	j->next = r->live;
	r->live = j;
	r->inflight++;
	struct sbuf *b = &r->out;
	size_t at = frame_begin(b, F_REQUEST);
	put_u64(b, j->id);
	put_u32(b, req->timeout_ms > 0 ? (uint32_t)req->timeout_ms : 0);
	const char *method = req->method ? req->method : "GET";
	put_str(b, method, strlen(method));
	put_str(b, req->url, strlen(req->url));
	put_str(b, req->body, req->body_len);
	put_strv(b, req->headers, req->nheaders);
	frame_end(b, at);
	if (!r->flush.armed)
		flush_out(r);
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
