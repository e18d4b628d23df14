/* rest — asynchronous HTTP requests for plugins (Slack Web API, Discord
 * REST, Mattermost v4, feeds), on libcurl's multi interface.
 *
 * The transfers run in a helper process (this executable again, see
 * rest.c) that holds libcurl; the loop thread writes requests to it and
 * reads answers without blocking, so callbacks always run on the loop
 * thread and never block it: a hung API cannot delay a websocket ack.
 * Request data is copied at submit time. Headers are never logged (they
 * carry tokens). Programs linking rest.c must not set AINEWS_REST_HELPER.
 */
#ifndef AINEWS_REST_H
#define AINEWS_REST_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct loop;
struct rest;

struct rest_request {
	const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *url;
	const char *const *headers; /* "Name: value" lines */
	size_t nheaders;
	const char *body; /* may be NULL */
	size_t body_len;
	long timeout_ms; /* 0 = 30 s */
};

struct rest_response {
	long status;       /* HTTP status, 0 on transport failure */
	const char *body;  /* NUL-terminated, lent for the callback */
	size_t body_len;
	const char *error; /* transport error text, or NULL */
	struct strv headers; /* "name: value", names lower-cased */
	double seconds;
};

typedef void (*rest_cb)(void *ud, const struct rest_response *resp);

/* Idle time after which the helper process (and libcurl with it) ends. */
#define REST_IDLE_MS_DEFAULT 30000

struct rest *rest_new(struct loop *l, char **err);
/* Stops the helper; every pending callback runs with error "shutting down". */
void rest_free(struct rest *r);
/* Queue a request; cb(ud, resp) runs later on the loop thread, exactly once.
 * Returns 1 (pending) or negative. */
int rest_submit(struct rest *r, const struct rest_request *req, rest_cb cb, void *ud);
/* Value of a response header (case-insensitive name), borrowed, or NULL. */
const char *rest_header(const struct rest_response *resp, const char *name);
size_t rest_inflight(const struct rest *r);
/* Change the idle time (ms <= 0: never stop the helper while r lives). */
void rest_set_idle_ms(struct rest *r, int64_t ms);
/* 1 while r's helper process runs, else 0. */
int rest_loaded(const struct rest *r);
/* Process id of r's helper, 0 when none runs. */
int rest_helper_pid(const struct rest *r);
/* How many helpers (libcurl loads) this process has started. */
unsigned rest_loads(void);

#endif
