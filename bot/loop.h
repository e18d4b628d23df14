/* loop — the daemon's one event loop, on libwebsockets.
 *
 * Owns the lws context and an internal vhost whose raw-file protocol watches
 * plain file descriptors (stdin for the console, inotify for the dir source,
 * the signal pipe). Components that speak websockets or HTTP create their own
 * vhosts on loop_lws(). Timers are lws_sul one-shots embedded in the caller's
 * struct. loop_post() is the only thread-safe entry: it queues a function to
 * run on the loop thread and wakes the loop with lws_cancel_service().
 *
 * Return codes: 0 ok, negative error.
 */
#ifndef AINEWS_LOOP_H
#define AINEWS_LOOP_H

#include <stdint.h>
#include <libwebsockets.h>

struct loop;

struct loop_timer {
	lws_sorted_usec_list_t sul; /* first: lws hands us this pointer */
	struct loop *loop;
	void (*cb)(void *ud);
	void *ud;
	int armed;
};

/* Descriptors the loop can watch: loop_new() lowers a higher soft
 * RLIMIT_NOFILE to this (lws keeps a table entry per possible one). */
#define LOOP_MAX_FDS 4096

struct loop *loop_new(char **err);
void loop_free(struct loop *l);
/* Run until loop_stop(); returns 0. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* Clear the stop flag so loop_run() can run again (shutdown grace). */
void loop_restart(struct loop *l);
int loop_stopping(const struct loop *l);
/* Stop on SIGINT/SIGTERM (installs handlers writing to a self-pipe). */
int loop_handle_signals(struct loop *l);

struct lws_context *loop_lws(struct loop *l);
int64_t loop_now_ms(void); /* monotonic milliseconds */

/* One-shot timer: cb(ud) after ms; re-arm from the callback for periodic
 * work. Starting an armed timer re-schedules it. */
void loop_timer_start(struct loop *l, struct loop_timer *t, int64_t ms, void (*cb)(void *ud), void *ud);
void loop_timer_stop(struct loop_timer *t);

/* Watch fd for readability: cb(ud, fd) on the loop thread. The loop owns
 * nothing of the fd; loop_unwatch() stops watching (the fd stays open).
 * Returns a handle or NULL. */
struct loop_watch;
struct loop_watch *loop_watch_fd(struct loop *l, int fd, void (*cb)(void *ud, int fd), void *ud);
void loop_unwatch(struct loop_watch *w);

/* Thread-safe: run fn(ud) on the loop thread soon. Posts still queued at
 * loop_free() are dropped, not run. */
void loop_post(struct loop *l, void (*fn)(void *ud), void *ud);

#endif
