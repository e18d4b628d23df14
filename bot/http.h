/* http — the embedded HTTP server: analysis pages, the story webhook,
 * /healthz and /metrics, on a libwebsockets vhost of the daemon's loop.
 *
 * Routes (GET unless said):
 *   /                 latest stories (?topic=ID or ?entity=ID filters)
 *   /s/{id}           the bilingual analysis page (?lang=en|zh, ?rev=N)
 *   /s/{id}.json      the story JSON (DESIGN §2)
 *   POST /api/stories story JSON in (object, array, JSON Lines); Bearer token
 *   /healthz          JSON health, 200 healthy / 503 not
 *   /metrics          Prometheus text
 * Every response carries Content-Type with charset, X-Content-Type-Options,
 * Cache-Control and Referrer-Policy; HTML also a Content-Security-Policy that
 * forbids scripts. Pages are built from the store on the loop thread (a read
 * and some string building, never a wait).
 *
 * Owns the vhost, its connections' buffers and a copy of the webhook
 * token; borrows the loop, the app, the metrics and the hooks' ud for its
 * whole life. Return codes: 0 ok, negative error.
 */
#ifndef AINEWS_HTTP_H
#define AINEWS_HTTP_H

#include <stddef.h>

#include "app.h"
#include "metrics.h"
#include "web.h"

struct loop;
struct http_server;

#define HTTP_MAX_BODY	 (5u << 20) /* POST bodies above this get 413 */
#define HTTP_INDEX_LIMIT 50	    /* stories on the index page */

/* What the server asks of the daemon; any member may be NULL. Everything
 * handed back is borrowed until the call returns. */
struct http_hooks {
	void *ud;
	/* Fill the daemon's part of /healthz: platforms, last ingest, recent
	 * failures (the server fills now and the outbox itself). */
	void (*health)(void *ud, struct web_health *h);
	/* The webhook stored stories (new or revised count): count them and
	 * kick the sender so alerts go out at once. */
	void (*ingested)(void *ud, int stored);
	/* Refresh gauges (platform state, queue per platform) before /metrics. */
	void (*collect)(void *ud, struct metrics *m);
};

struct http_opts {
	const char *listen;    /* "127.0.0.1:8080", "[::1]:8080", ":8080"; port 0 = any free port */
	const char *token;     /* webhook Bearer token; NULL or "" = webhook disabled (503) */
	const char *token_env; /* its variable's name, for the 503 message */
};

/* Is this listen value the "server off" setting ("", "off", NULL)? */
int http_listen_off(const char *listen);
/* Split "host:port" / "[v6]:port" / ":port" into host (owned; NULL = all
 * interfaces) and port. 0 ok, -1 malformed. */
int http_parse_listen(const char *listen, char **host, int *port);

/* Start listening on the loop. NULL with *err owned on failure (bad
 * address, port in use). */
struct http_server *http_start(struct loop *l, struct app *a, struct metrics *m, const struct http_hooks *hooks,
			       const struct http_opts *o, char **err);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *s);
/* Close the listener and every connection; NULL is fine. */
void http_stop(struct http_server *s);

#endif
