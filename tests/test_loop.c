/* test_loop — timers, fd watches, cross-thread posts, and the async REST
 * client against a tiny HTTP server on 127.0.0.1 (slow answers must not
 * delay the loop). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "rest.h"
#include "t.h"

static int server_fd, server_port;
static char last_auth[256];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *serve_one(void *arg)
{
	int c = (int)(intptr_t)arg;
	char buf[8192];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
		n += (size_t)k;
		buf[n] = 0;
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		char *cl = strcasestr(buf, "Content-Length:");
		size_t want = cl ? (size_t)atoi(cl + 15) : 0;
		if (n - (size_t)(end + 4 - buf) >= want)
			break;
	}
	char *auth = strcasestr(buf, "Authorization: ");
	pthread_mutex_lock(&mu);
	if (auth)
		sscanf(auth + 15, "%255[^\r]", last_auth);
	pthread_mutex_unlock(&mu);
	const char *resp;
	if (strstr(buf, "GET /slow "))
		usleep(1500 * 1000), resp = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nslow";
	else if (strstr(buf, "GET /429 "))
		resp = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	else if (strstr(buf, "POST /echo "))
		resp = NULL;
	else
		resp = "HTTP/1.1 200 OK\r\nX-Test: yes\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
	if (!resp) {
		char *body = strstr(buf, "\r\n\r\n") + 4;
		char out[9000];
		int len = snprintf(out, sizeof out, "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
				   strlen(body), body);
		if (write(c, out, (size_t)len) < 0)
			perror("write");
	} else if (write(c, resp, strlen(resp)) < 0) {
		perror("write");
	}
	close(c);
	return NULL;
}

/* Connection threads are joined at the end (valgrind counts a thread still
 * running at exit as leaked memory). */
static pthread_t conn_threads[64];
static int nconn;
static pthread_t server_thread;

static void *server(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(server_fd, NULL, NULL);
		if (c < 0)
			return NULL;
		pthread_mutex_lock(&mu);
		if (nconn < 64)
			pthread_create(&conn_threads[nconn++], NULL, serve_one, (void *)(intptr_t)c);
		else
			close(c);
		pthread_mutex_unlock(&mu);
	}
}

static void stop_server(void)
{
	shutdown(server_fd, SHUT_RDWR);
	close(server_fd);
	pthread_join(server_thread, NULL);
	for (int i = 0; i < nconn; i++)
		pthread_join(conn_threads[i], NULL);
}

static void start_server(void)
{
	server_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	setsockopt(server_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	bind(server_fd, (struct sockaddr *)&a, sizeof a);
	socklen_t al = sizeof a;
	getsockname(server_fd, (struct sockaddr *)&a, &al);
	server_port = ntohs(a.sin_port);
	listen(server_fd, 16);
	pthread_create(&server_thread, NULL, server, NULL);
}

struct st {
	struct loop *l;
	int timer_fired, posts, reads, done;
	int64_t timer_at, slow_at, fast_at, start;
	char order[64];
	struct loop_timer t, stop;
	struct loop_watch *w;
	long status_429;
	char retry[16], body[64], xtest[16];
};

static void on_timer(void *ud)
{
	struct st *s = ud;
	s->timer_fired++;
	s->timer_at = loop_now_ms() - s->start;
}

static void on_stop(void *ud)
{
	loop_stop(((struct st *)ud)->l);
}

static void on_post(void *ud)
{
	((struct st *)ud)->posts++;
}

static void *poster(void *ud)
{
	struct st *s = ud;
	for (int i = 0; i < 100; i++)
		loop_post(s->l, on_post, s);
	return NULL;
}

static void on_read(void *ud, int fd)
{
	struct st *s = ud;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n > 0)
		s->reads += (int)n;
}

static void on_slow(void *ud, const struct rest_response *r)
{
	struct st *s = ud;
	s->slow_at = loop_now_ms() - s->start;
	strcat(s->order, "slow,");
	T_INT(r->status, 200);
	T_STR(r->body, "slow");
	if (++s->done == 4)
		loop_timer_start(s->l, &s->stop, 0, on_stop, s);
}

static void on_fast(void *ud, const struct rest_response *r)
{
	struct st *s = ud;
	s->fast_at = loop_now_ms() - s->start;
	strcat(s->order, "fast,");
	T_INT(r->status, 200);
	snprintf(s->body, sizeof s->body, "%s", r->body);
	const char *x = rest_header(r, "x-test");
	snprintf(s->xtest, sizeof s->xtest, "%s", x ? x : "");
	if (++s->done == 4)
		loop_timer_start(s->l, &s->stop, 0, on_stop, s);
}

static void on_429(void *ud, const struct rest_response *r)
{
	struct st *s = ud;
	s->status_429 = r->status;
	const char *ra = rest_header(r, "Retry-After");
	snprintf(s->retry, sizeof s->retry, "%s", ra ? ra : "");
	if (++s->done == 4)
		loop_timer_start(s->l, &s->stop, 0, on_stop, s);
}

static void on_echo(void *ud, const struct rest_response *r)
{
	struct st *s = ud;
	T_INT(r->status, 201);
	T_STR(r->body, "{\"a\":1}");
	if (++s->done == 4)
		loop_timer_start(s->l, &s->stop, 0, on_stop, s);
}

/* Idle phase: a request after the engine stopped loads libcurl again. */
static void on_again(void *ud, const struct rest_response *r)
{
	struct st *s = ud;
	T_INT(r->status, 200);
	T_STR(r->body, "hello");
	s->done++;
	loop_timer_start(s->l, &s->stop, 0, on_stop, s);
}

static int curl_mapped(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOLOAD | RTLD_LAZY);
	if (h)
		dlclose(h);
	return h != NULL;
}

/* /proc/PID/maps of pid names libcurl. */
static int helper_maps_curl(int pid)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "r");
	int found = 0;
	while (f && !found && fgets(line, sizeof line, f))
		found = strstr(line, "libcurl") != NULL;
	if (f)
		fclose(f);
	return found;
}

static void on_lost(void *ud, const struct rest_response *r)
{
	int *n = ud;
	T_INT(r->status, 0);
	T_STR(r->error, "HTTP helper exited");
	(*n)++;
}

static void on_cancelled(void *ud, const struct rest_response *r)
{
	int *n = ud;
	T_INT(r->status, 0);
	T_STR(r->error, "shutting down");
	(*n)++;
}

int main(void)
{
	start_server();
	char *err = NULL;
	struct st s = {0};
	struct rlimit rl0, rl;
	getrlimit(RLIMIT_NOFILE, &rl0);
	s.l = loop_new(&err);
	T_OK(s.l != NULL, "loop: %s", err ? err : "");
	/* lws keeps two zeroed table entries per possible descriptor: a higher
	 * soft limit comes down to LOOP_MAX_FDS, a lower one stays. */
	getrlimit(RLIMIT_NOFILE, &rl);
	T_OK(rl.rlim_cur == (rl0.rlim_cur > LOOP_MAX_FDS ? LOOP_MAX_FDS : rl0.rlim_cur), "soft fd limit %ld (was %ld)",
	     (long)rl.rlim_cur, (long)rl0.rlim_cur);
	T_OK(rl.rlim_max == rl0.rlim_max, "hard fd limit unchanged");
	struct rest *r = rest_new(s.l, &err);
	T_OK(r != NULL, "rest");
	int p[2];
	T_INT(pipe(p), 0);
	s.w = loop_watch_fd(s.l, p[0], on_read, &s);
	T_OK(s.w != NULL, "watch");
	T_INT(write(p[1], "abc", 3), 3);
	s.start = loop_now_ms();
	loop_timer_start(s.l, &s.t, 100, on_timer, &s);
	pthread_t th;
	pthread_create(&th, NULL, poster, &s);

	char url[128];
	const char *hdr[] = {"Authorization: Bearer xoxb-secret-token", "Content-Type: application/json"};
	snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", server_port);
	struct rest_request slow = {"GET", url, hdr, 1, NULL, 0, 5000};
	T_INT(rest_submit(r, &slow, on_slow, &s), 1);
	char url2[128];
	snprintf(url2, sizeof url2, "http://127.0.0.1:%d/ok", server_port);
	struct rest_request fast = {"GET", url2, NULL, 0, NULL, 0, 5000};
	T_INT(rest_submit(r, &fast, on_fast, &s), 1);
	char url3[128];
	snprintf(url3, sizeof url3, "http://127.0.0.1:%d/429", server_port);
	struct rest_request r429 = {"GET", url3, NULL, 0, NULL, 0, 5000};
	T_INT(rest_submit(r, &r429, on_429, &s), 1);
	char url4[128];
	snprintf(url4, sizeof url4, "http://127.0.0.1:%d/echo", server_port);
	struct rest_request echo = {"POST", url4, hdr + 1, 1, "{\"a\":1}", 7, 5000};
	T_INT(rest_submit(r, &echo, on_echo, &s), 1);
	T_INT(rest_inflight(r), 4);

	loop_run(s.l);
	pthread_join(th, NULL);
	T_INT(s.timer_fired, 1);
	/* The loop was not blocked by the 1.5 s answer: the timer and the
	 * fast request completed long before it. */
	T_OK(s.timer_at >= 100 && s.timer_at < 1000, "timer at %lld ms", (long long)s.timer_at);
	T_OK(s.fast_at < s.slow_at, "fast (%lld ms) before slow (%lld ms)", (long long)s.fast_at, (long long)s.slow_at);
	T_OK(strstr(s.order, "fast,") && strstr(s.order, "slow,"), "both done: %s", s.order);
	T_STR(s.body, "hello");
	T_STR(s.xtest, "yes");
	T_INT(s.status_429, 429);
	T_STR(s.retry, "3");
	T_INT(s.posts, 100);
	T_INT(s.reads, 3);
	T_STR(last_auth, "Bearer xoxb-secret-token");
	T_INT(rest_inflight(r), 0);

	/* libcurl lives in the helper process, never in this one; after
	 * idle_ms with nothing in flight the helper ends, the next request
	 * starts a new one, and it stays while requests keep coming. */
	T_INT(rest_loaded(r), 1);
	T_OK(!curl_mapped(), "libcurl not in the daemon's process");
	int pid0 = rest_helper_pid(r);
	T_OK(pid0 > 0 && helper_maps_curl(pid0), "helper %d holds libcurl", pid0);
	unsigned loads = rest_loads();
	rest_set_idle_ms(r, 50);
	loop_timer_start(s.l, &s.stop, 400, on_stop, &s);
	loop_restart(s.l), loop_run(s.l);
	T_INT(rest_loaded(r), 0);
	T_INT(rest_helper_pid(r), 0);
	T_OK(kill(pid0, 0) < 0 && errno == ESRCH, "helper %d gone (and reaped) after 50 ms idle", pid0);
	for (int round = 0; round < 3; round++) {
		s.done = 0;
		T_INT(rest_submit(r, &fast, on_again, &s), 1);
		T_INT(rest_loaded(r), 1);
		int pid = rest_helper_pid(r);
		T_OK(pid > 0 && pid != pid0, "a new helper (round %d)", round);
		loop_restart(s.l), loop_run(s.l);
		T_INT(s.done, 1);
		T_INT(rest_loads(), loads + 1 + (unsigned)round);
		loop_timer_start(s.l, &s.stop, 400, on_stop, &s);
		loop_restart(s.l), loop_run(s.l);
		T_INT(rest_loaded(r), 0);
		T_OK(kill(pid, 0) < 0 && errno == ESRCH, "helper gone again (round %d)", round);
		T_OK(!curl_mapped(), "libcurl never in the daemon (round %d)", round);
	}
	/* A request arriving before the idle time is up keeps the helper. */
	s.done = 0;
	T_INT(rest_submit(r, &fast, on_again, &s), 1);
	loop_restart(s.l), loop_run(s.l);
	T_INT(s.done, 1);
	unsigned kept = rest_loads();
	loop_timer_start(s.l, &s.stop, 20, on_stop, &s);
	loop_restart(s.l), loop_run(s.l);
	T_INT(rest_submit(r, &fast, on_again, &s), 1);
	loop_restart(s.l), loop_run(s.l);
	T_INT(rest_loads(), kept);
	/* The helper dies mid-request: that request fails once, with a clear
	 * error, and the next one starts a new helper. */
	{
		int lost = 0;
		T_INT(rest_submit(r, &slow, on_lost, &lost), 1);
		usleep(100 * 1000);
		kill(rest_helper_pid(r), SIGKILL);
		loop_timer_start(s.l, &s.stop, 300, on_stop, &s);
		loop_restart(s.l), loop_run(s.l);
		T_INT(lost, 1);
		T_INT(rest_inflight(r), 0);
		T_INT(rest_loaded(r), 0);
		s.done = 0;
		T_INT(rest_submit(r, &fast, on_again, &s), 1);
		loop_restart(s.l), loop_run(s.l);
		T_INT(s.done, 1);
	}
	rest_set_idle_ms(r, 0);

	/* Shutdown with a request in flight: its callback runs once, cancelled. */
	int cancelled = 0;
	T_INT(rest_submit(r, &slow, on_cancelled, &cancelled), 1);
	usleep(100 * 1000);
	rest_free(r);
	T_INT(cancelled, 1);
	loop_unwatch(s.w);
	close(p[0]);
	close(p[1]);
	loop_free(s.l);
	stop_server();
	return t_done();
}
