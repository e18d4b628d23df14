/* loop — libwebsockets context, fd watches, timers and cross-thread posts. */
#define _GNU_SOURCE
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct loop_post_item {
	void (*fn)(void *ud);
	void *ud;
	struct loop_post_item *next;
};

struct loop_watch {
	struct loop *loop;
	struct lws *wsi;
	void (*cb)(void *ud, int fd);
	void *ud;
	int fd;   /* the caller's fd */
	int dead; /* unwatched: no more callbacks */
};

struct loop {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	volatile int stop;
	pthread_mutex_t mu;
	struct loop_post_item *posts, **posts_tail;
	struct loop_watch *sigwatch;
};

static int sig_pipe[2] = {-1, -1}; /* house rule 4: the signal stop flag */

int64_t loop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drain_posts(struct loop *l)
{
	pthread_mutex_lock(&l->mu);
	struct loop_post_item *p = l->posts;
	l->posts = NULL;
	l->posts_tail = &l->posts;
	pthread_mutex_unlock(&l->mu);
	while (p) {
		struct loop_post_item *next = p->next;
		p->fn(p->ud);
		free(p);
		p = next;
	}
}

static int raw_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)user, (void)in, (void)len;
	struct loop_watch *w = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (!w || w->dead)
			return -1;
		w->cb(w->ud, w->fd);
		return w->dead ? -1 : 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* Closed under us (POLLHUP at the end of a pipe): let the owner
		 * read once more and see end-of-file. */
		if (w && !w->dead) {
			w->dead = 1;
			w->cb(w->ud, w->fd);
		}
		if (w) {
			lws_set_opaque_user_data(wsi, NULL);
			free(w);
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
		struct loop *l = lws_context_user(lws_get_context(wsi));
		if (l)
			drain_posts(l);
		return 0;
	}
	default:
		return 0;
	}
}

static const struct lws_protocols loop_protocols[] = {
	{"ainews-loop", raw_cb, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

struct loop *loop_new(char **err)
{
	struct loop *l = xcalloc(1, sizeof *l);
	pthread_mutex_init(&l->mu, NULL);
	l->posts_tail = &l->posts;
	/* lws logs through our log with its own levels kept to errors. */
	lws_set_log_level(LLL_ERR, NULL);
	/* lws sizes two tables by the descriptor limit and zeroes them
	 * (16 bytes a descriptor): 320 KB at a limit of 20,000, 16 MB in a
	 * container allowing 1,048,576. The bot needs a few sockets per
	 * platform plus its web clients, so the soft limit comes down to
	 * LOOP_MAX_FDS (never up) before the context is made. */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur > LOOP_MAX_FDS) {
		rl.rlim_cur = LOOP_MAX_FDS;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = l;
	info.port = CONTEXT_PORT_NO_LISTEN;
	l->ctx = lws_create_context(&info);
	if (!l->ctx) {
		*err = xstrdup("cannot create the libwebsockets context");
		free(l);
		return NULL;
	}
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = loop_protocols;
	info.vhost_name = "ainews-loop";
	l->vh = lws_create_vhost(l->ctx, &info);
	if (!l->vh) {
		*err = xstrdup("cannot create the loop vhost");
		lws_context_destroy(l->ctx);
		free(l);
		return NULL;
	}
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	lws_context_destroy(l->ctx); /* closes every watch, freeing them */
	/* Posts not run by now are dropped: their owners are gone. */
	struct loop_post_item *p = l->posts;
	while (p) {
		struct loop_post_item *n = p->next;
		free(p);
		p = n;
	}
	pthread_mutex_destroy(&l->mu);
	if (sig_pipe[0] >= 0) {
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		sig_pipe[0] = sig_pipe[1] = -1;
	}
	free(l);
}

int loop_run(struct loop *l)
{
	while (!l->stop)
		if (lws_service(l->ctx, 0) < 0)
			break;
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
	lws_cancel_service(l->ctx);
}

void loop_restart(struct loop *l)
{
	l->stop = 0;
}

int loop_stopping(const struct loop *l)
{
	return l->stop;
}

struct lws_context *loop_lws(struct loop *l)
{
	return l->ctx;
}

static void on_signal(int sig)
{
	(void)sig;
	int e = errno;
	if (sig_pipe[1] >= 0 && write(sig_pipe[1], "s", 1) < 0) {
		/* nothing useful to do in a handler */
	}
	errno = e;
}

static void signal_readable(void *ud, int fd)
{
	char buf[16];
	if (read(fd, buf, sizeof buf) > 0)
		log_info("signal received: stopping");
	loop_stop(ud);
}

int loop_handle_signals(struct loop *l)
{
	if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK))
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	l->sigwatch = loop_watch_fd(l, sig_pipe[0], signal_readable, l);
	return l->sigwatch ? 0 : -1;
}

static void timer_fire(lws_sorted_usec_list_t *sul)
{
	struct loop_timer *t = (struct loop_timer *)sul;
	t->armed = 0;
	t->cb(t->ud);
}

void loop_timer_start(struct loop *l, struct loop_timer *t, int64_t ms, void (*cb)(void *ud), void *ud)
{
	t->loop = l;
	t->cb = cb;
	t->ud = ud;
	t->armed = 1;
	lws_sul_schedule(l->ctx, 0, &t->sul, timer_fire, (lws_usec_t)(ms < 0 ? 0 : ms) * LWS_US_PER_MS);
}

void loop_timer_stop(struct loop_timer *t)
{
	if (t->armed) {
		lws_sul_cancel(&t->sul);
		t->armed = 0;
	}
}

struct loop_watch *loop_watch_fd(struct loop *l, int fd, void (*cb)(void *ud, int fd), void *ud)
{
	/* lws closes the descriptor it adopted when the watch ends: give it a
	 * duplicate so the caller's fd stays the caller's. */
	int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dupfd < 0)
		return NULL;
	struct loop_watch *w = xcalloc(1, sizeof *w);
	w->loop = l;
	w->cb = cb;
	w->ud = ud;
	w->fd = fd;
	lws_adopt_desc_t ad;
	memset(&ad, 0, sizeof ad);
	ad.vh = l->vh;
	ad.type = LWS_ADOPT_RAW_FILE_DESC;
	ad.fd.filefd = dupfd;
	ad.vh_prot_name = "ainews-loop";
	ad.opaque = w;
	w->wsi = lws_adopt_descriptor_vhost_via_info(&ad);
	if (!w->wsi) {
		free(w); /* lws closed dupfd */
		return NULL;
	}
	return w;
}

void loop_unwatch(struct loop_watch *w)
{
	if (!w || w->dead)
		return;
	w->dead = 1;
	lws_set_timeout(w->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

void loop_post(struct loop *l, void (*fn)(void *ud), void *ud)
{
	struct loop_post_item *p = xcalloc(1, sizeof *p);
	p->fn = fn;
	p->ud = ud;
	pthread_mutex_lock(&l->mu);
	*l->posts_tail = p;
	l->posts_tail = &p->next;
	pthread_mutex_unlock(&l->mu);
	lws_cancel_service(l->ctx);
}
