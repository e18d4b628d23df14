/* slack — Slack over Socket Mode: `/ainews` slash commands arrive on a
 * websocket, alerts leave through the Web API (protocols.md §1).
 *
 * The socket: apps.connections.open (app-level token) hands out a one-shot
 * URL for every connect; the socket counts as up only after Slack's `hello`.
 * Two connection slots let a `disconnect` (refresh_requested, warning) be
 * handled by opening the new socket first and closing the old one after the
 * new one's hello, so no envelope falls between. `link_disabled` and
 * unrecoverable auth errors stop the plugin (state DOWN, with the reason);
 * lost sockets and dead peers (lws pings, no pong) reconnect with
 * exponential backoff and jitter. Host names are resolved on a short-lived
 * thread so the loop never blocks on DNS.
 *
 * Envelopes: every one is acked with its envelope_id on the socket it came
 * on, and never waits on the Web API. A slash command runs through the
 * core at once; when the reply is there within SLACK_ACK_INLINE_MS it rides
 * in the ack's payload, otherwise the ack goes out empty by then and the
 * reply is POSTed to the command's response_url. Redelivered envelopes
 * (envelope_id, and event_id for events) are acked again but not run again
 * for SLACK_SEEN_TTL_MS.
 *
 * Posting: chat.postMessage with the rendered blocks, a text fallback and
 * no unfurling; user targets are DMs through conversations.open (cached
 * per user). One queue per channel paces posts at about one per second and
 * honours 429 Retry-After for that channel, retrying the same alert (short
 * waits here, long ones handed back to the outbox) so each alert is posted
 * exactly once.
 *
 * Owns: its lws vhost's connections (the wsi are lws's, borrowed), the
 * command contexts handed to the core, the channel queues, the DM cache and
 * the dedupe set. All REST goes through the core's async client, whose
 * callbacks all run on the loop thread before destroy(); the resolver
 * thread touches only its own struct and hands it back with loop_post().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cJSON.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>

#include "format.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "rest.h"
#include "util.h"

#define SLACK_DEFAULT_API	 "https://slack.com/api/"
#define SLACK_ACK_INLINE_MS	 1000		  /* reply inside the ack when ready by then (Slack allows 3 s) */
#define SLACK_HELLO_TIMEOUT_MS	 10000		  /* an open socket with no hello is dead */
#define SLACK_CLOSE_GRACE_MS	 1000		  /* Slack may keep TCP open after the close handshake */
#define SLACK_STABLE_MS		 30000		  /* a socket that lived this long resets the backoff */
#define SLACK_PACE_MS		 1000		  /* chat.postMessage: about one per second per channel */
#define SLACK_RETRY_HERE_MAX_S	 60		  /* longer Retry-After waits go back to the outbox */
#define SLACK_RETRY_HERE_TIMES	 5		  /* 429s in a row retried here before handing back */
#define SLACK_OPEN_RETRY_AFTER_S 30		  /* apps.connections.open 429 without Retry-After */
#define SLACK_SEEN_TTL_MS	 (15 * 60 * 1000) /* Slack retries for ~5 min; keep ids longer */
#define SLACK_SEEN_MAX		 100000
#define SLACK_SEEN_BUCKETS	 4096
#define SLACK_FRAME_MAX		 (1 << 20) /* larger inbound messages are dropped */
#define SLACK_REST_TIMEOUT_MS	 20000

enum conn_state {
	CONN_FREE,	 /* slot unused */
	CONN_FETCH,	 /* apps.connections.open in flight */
	CONN_RESOLVE,	 /* host name lookup on the resolver thread */
	CONN_CONNECTING, /* TCP/TLS/upgrade under way */
	CONN_OPEN,	 /* websocket up, waiting for hello */
	CONN_READY,	 /* hello seen */
	CONN_CLOSING,	 /* we are closing it */
};

struct frame { /* one queued outbound text frame, LWS_PRE headroom first */
	struct frame *next;
	size_t len;
	unsigned char buf[];
};

struct slack;

struct slack_dns { /* one lookup; joined by whoever sees it finish */
	pthread_t thread;
	struct slack *s;
	struct slack_conn *conn;
	unsigned serial;
	char *host;
	char addr[INET6_ADDRSTRLEN];
	int ok;
};

struct slack_conn {
	struct slack *s;
	int slot;
	struct lws *wsi; /* lws's; NULL while no socket */
	int state;	 /* enum conn_state */
	unsigned serial; /* bumped whenever the slot's socket ends */
	int retiring;	 /* Slack asked us to move (disconnect frame) */
	int retired;	 /* replaced by a newer socket; closing on purpose */
	int64_t ready_at;
	int64_t last_rx_ms; /* last frame or pong from the peer */
	struct sbuf rx;
	int rx_bad; /* current message is binary or over-long */
	struct frame *outq, **outq_tail;
	char *host, *hosthdr, *path;
	int port, tls;
	struct loop_timer timer; /* hello deadline, then close grace */
	struct slack_dns *dns;
	int fetching; /* an apps.connections.open answer is still due */
};

struct slack_cmd { /* a slash command between receipt and reply */
	struct slack *s;
	struct slack_cmd *next;
	struct loop_timer timer; /* the latest moment for the ack */
	struct slack_conn *conn;
	unsigned serial;
	char *envelope_id, *response_url;
	int64_t received_ms;
	int in_call, acked, replied;
	int no_inline; /* the envelope takes no response payload */
};

struct slack_job { /* one send() until its done() */
	struct slack *s;
	struct slack_job *next;
	char *text, *json, *thread_ts;
	plugin_done_cb done;
	void *ud;
	int limited; /* 429s met so far */
};

struct slack_chan { /* per channel: pacing and Retry-After */
	struct slack *s;
	struct slack_chan *next;
	char *id;
	struct slack_job *q, **qtail;
	struct slack_job *inflight;
	int64_t next_ok_ms, paused_until_ms;
	struct loop_timer timer;
};

struct slack_dm { /* user -> DM channel (conversations.open) */
	struct slack *s;
	struct slack_dm *next;
	char *user, *channel;
	int opening;
	struct slack_job *waiting, **wtail;
};

struct seen_entry {
	struct seen_entry *hnext, *qnext;
	int64_t at;
	char key[];
};

struct slack {
	struct plugin_services svc;
	const char *name;
	char *app_token, *bot_token, *api_base;
	char *auth_app, *auth_bot; /* "Authorization: Bearer …" lines */
	int plain_http_ok;	   /* api_base is http:// (tests): allow http:// response_urls */
	struct lws_vhost *vh, *vh_tls; /* made on first use: plain, TLS */
	struct slack_conn conns[2];
	struct slack_conn *active; /* READY socket that takes our traffic */
	int want_refresh;	   /* a new socket is wanted but no slot is free yet */
	uint16_t retry_count;
	struct loop_timer reconnect_timer;
	int state; /* last enum plugin_state announced */
	int stopped, fatal;
	char *why_down;
	struct slack_cmd *cmds;
	struct slack_chan *chans;
	struct slack_dm *dms;
	struct seen_entry *seen_buckets[SLACK_SEEN_BUCKETS];
	struct seen_entry *seen_head, *seen_tail;
	size_t seen_n;
};

/* Backoff for lost or failed sockets: exponential, plus up to 30% jitter.
 * The idle ping makes a dead peer visible: no pong within the hangup time
 * closes the socket, and the usual reconnect follows. */
static const uint32_t slack_backoff_ms[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 60000};
static const lws_retry_bo_t slack_retry = {
    .retry_ms_table = slack_backoff_ms,
    .retry_ms_table_count = LWS_ARRAY_SIZE(slack_backoff_ms),
    .conceal_count = LWS_RETRY_CONCEAL_ALWAYS,
    .secs_since_valid_ping = 10,
    .secs_since_valid_hangup = 25,
    .jitter_percent = 30,
};

/* Error lists are space-separated words with a space at each end, so a
 * lookup is one strstr. */

/* apps.connections.open (or Web API) errors no retry will fix (node SDK's list). */
static const char slack_fatal_errors[] =
    " invalid_auth not_authed account_inactive team_disabled"
    " user_removed_from_team token_revoked token_expired not_allowed_token_type"
    " missing_scope no_permission org_login_required ekm_access_denied invalid_token ";

/* chat.postMessage errors that retrying the same message cannot fix: the
 * outbox keeps the row failed with this reason. */
static const char slack_permanent_errors[] =
    " channel_not_found not_in_channel is_archived msg_too_long"
    " msg_blocks_too_long invalid_blocks invalid_blocks_format no_text"
    " too_many_attachments restricted_action cannot_dm_bot user_not_found"
    " user_disabled invalid_arguments invalid_thread_ts thread_not_found"
    " channel_type_not_supported team_access_not_granted messages_tab_disabled ";

static int in_list(const char *list, const char *word)
{
	if (!word || !*word || strchr(word, ' '))
		return 0;
	size_t n = strlen(word);
	for (const char *p = list; (p = strstr(p, word)); p += n)
		if (p[-1] == ' ' && p[n] == ' ')
			return 1;
	return 0;
}

static void conn_close(struct slack_conn *c);
static void want_socket(struct slack *s, int now);
static void chan_pump(struct slack_chan *ch);
static void go_fatal(struct slack *s, const char *why);
static void reconnect_fire(void *ud);

static void set_state(struct slack *s, int state, const char *why)
{
	if (s->state == state)
		return;
	s->state = state;
	s->svc.state(s->svc.core, s->name, state, why);
}

/* ---- dedupe ---------------------------------------------------------------- */

static void seen_drop_head(struct slack *s)
{
	struct seen_entry *e = s->seen_head;
	size_t b = hash64(e->key, strlen(e->key), 0) % SLACK_SEEN_BUCKETS;
	for (struct seen_entry **l = &s->seen_buckets[b]; *l; l = &(*l)->hnext)
		if (*l == e) {
			*l = e->hnext;
			break;
		}
	s->seen_head = e->qnext;
	if (!s->seen_head)
		s->seen_tail = NULL;
	s->seen_n--;
	free(e);
}

/* 1 when key was seen within the TTL; otherwise remember it and return 0.
 * Entries are appended in time order, so expiry pops from the head. */
static int seen_check(struct slack *s, const char *prefix, const char *id)
{
	int64_t now = loop_now_ms();
	while (s->seen_head && (now - s->seen_head->at > SLACK_SEEN_TTL_MS || s->seen_n >= SLACK_SEEN_MAX))
		seen_drop_head(s);
	char *key = xasprintf("%s%s", prefix, id);
	size_t b = hash64(key, strlen(key), 0) % SLACK_SEEN_BUCKETS;
	for (struct seen_entry *e = s->seen_buckets[b]; e; e = e->hnext)
		if (!strcmp(e->key, key)) {
			free(key);
			return 1;
		}
	size_t kl = strlen(key);
	struct seen_entry *e = xcalloc(1, sizeof *e + kl + 1);
	memcpy(e->key, key, kl + 1);
	free(key);
	e->at = now;
	e->hnext = s->seen_buckets[b];
	s->seen_buckets[b] = e;
	if (s->seen_tail)
		s->seen_tail->qnext = e;
	else
		s->seen_head = e;
	s->seen_tail = e;
	s->seen_n++;
	return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Slack sends slash-command text with & < > as entities; the command
 * grammar wants them back ("hot>=60"). */
static char *slack_unescape(const char *t)
{
	struct sbuf b = {0};
	sbuf_adds(&b, "");
	while (t && *t) {
		if (!strncmp(t, "&lt;", 4))
			sbuf_addc(&b, '<'), t += 4;
		else if (!strncmp(t, "&gt;", 4))
			sbuf_addc(&b, '>'), t += 4;
		else if (!strncmp(t, "&amp;", 5))
			sbuf_addc(&b, '&'), t += 5;
		else
			sbuf_addc(&b, *t++);
	}
	return sbuf_take(&b);
}

/* Seconds from a Retry-After header (delta seconds), dflt when absent or odd. */
static double retry_after_s(const struct rest_response *r, double dflt)
{
	const char *h = rest_header(r, "retry-after");
	if (!h)
		return dflt;
	char *end;
	double v = strtod(h, &end);
	if (end == h || v < 0 || v > 86400)
		return dflt;
	return v;
}

/* o.blocks = the rendered Block Kit array, when the core gave a non-empty one. */
static void add_blocks(cJSON *o, const char *json)
{
	cJSON *b = json ? cJSON_Parse(json) : NULL;
	if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) == 0 || !cJSON_AddItemToObject(o, "blocks", b))
		cJSON_Delete(b);
}

/* {"text":…, "blocks":[…]} for a rendered message. NULL when cJSON cannot
 * allocate. */
static cJSON *message_object(const struct plugin_message *m)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "text", m->text && *m->text ? m->text : " ");
	add_blocks(o, m->json);
	return o;
}

/* A short printable excerpt of untrusted bytes for the log. */
static char *excerpt(const char *p, size_t len)
{
	struct sbuf b = {0};
	sbuf_adds(&b, "");
	for (size_t i = 0; i < len && i < 60; i++)
		sbuf_addc(&b, p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
	if (len > 60)
		sbuf_adds(&b, "...");
	return sbuf_take(&b);
}

static void post_json(struct slack *s, const char *url, const char *auth, const char *body, rest_cb cb, void *ud)
{
	const char *hdrs[2] = {"Content-Type: application/json; charset=utf-8", auth};
	struct rest_request req = {"POST", url, hdrs, auth ? 2 : 1, body, strlen(body), SLACK_REST_TIMEOUT_MS};
	if (rest_submit(s->svc.rest, &req, cb, ud) < 0) {
		struct rest_response r = {0, "", 0, "cannot start the request", {0}, 0};
		cb(ud, &r);
	}
}

/* ---- the websocket: outbound frames ------------------------------------------- */

static int conn_alive(const struct slack_conn *c)
{
	return c->wsi && (c->state == CONN_OPEN || c->state == CONN_READY || c->state == CONN_CLOSING);
}

static void conn_send(struct slack_conn *c, const char *text)
{
	if (!conn_alive(c))
		return;
	size_t n = strlen(text);
	struct frame *f = xmalloc(sizeof *f + LWS_PRE + n);
	f->next = NULL;
	f->len = n;
	memcpy(f->buf + LWS_PRE, text, n);
	*c->outq_tail = f;
	c->outq_tail = &f->next;
	lws_callback_on_writable(c->wsi);
}

static void outq_free(struct slack_conn *c)
{
	while (c->outq) {
		struct frame *n = c->outq->next;
		free(c->outq);
		c->outq = n;
	}
	c->outq_tail = &c->outq;
}

/* The ack frame, taking payload (the reply object, or NULL). */
static char *ack_text(const char *envelope_id, cJSON *payload)
{
	cJSON *o = cJSON_CreateObject();
	char *txt = NULL;
	if (o && cJSON_AddStringToObject(o, "envelope_id", envelope_id)) {
		if (payload && cJSON_AddItemToObject(o, "payload", payload))
			payload = NULL;
		txt = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	cJSON_Delete(payload);
	return txt;
}

static void send_ack(struct slack_conn *c, const char *envelope_id, cJSON *payload)
{
	int had_payload = payload != NULL;
	char *txt = ack_text(envelope_id, payload);
	if (!txt && had_payload) /* the reply did not fit in memory: the ack still goes */
		txt = ack_text(envelope_id, NULL);
	if (txt)
		conn_send(c, txt);
	else
		log_error("%s: cannot build the ack for envelope %s", c->s->name, envelope_id);
	free(txt);
}

/* ---- slash commands -------------------------------------------------------------- */

static void cmd_free(struct slack_cmd *k)
{
	struct slack *s = k->s;
	for (struct slack_cmd **l = &s->cmds; *l; l = &(*l)->next)
		if (*l == k) {
			*l = k->next;
			break;
		}
	loop_timer_stop(&k->timer);
	free(k->envelope_id);
	free(k->response_url);
	free(k);
}

static int cmd_conn_alive(const struct slack_cmd *k)
{
	return k->conn->serial == k->serial && conn_alive(k->conn);
}

static void cmd_ack_empty(struct slack_cmd *k)
{
	if (k->acked)
		return;
	k->acked = 1;
	loop_timer_stop(&k->timer);
	if (cmd_conn_alive(k))
		send_ack(k->conn, k->envelope_id, NULL);
	else /* the socket is gone: Slack redelivers it, the dedupe acks that */
		log_warn("%s: envelope %s: its socket closed before the ack", k->s->name, k->envelope_id);
}

static void ack_deadline(void *ud)
{
	cmd_ack_empty(ud);
}

static void response_url_done(void *ud, const struct rest_response *r)
{
	struct slack *s = ud;
	if (r->status != 200)
		log_warn("%s: reply through response_url failed: %s", s->name,
			 r->error	    ? r->error
			 : r->status == 404 ? "HTTP 404 (expired?)"
					    : "HTTP error");
	else
		log_debug("%s: reply delivered through response_url in %.0f ms", s->name, r->seconds * 1000);
}

static int url_allowed(const struct slack *s, const char *url)
{
	return url && (str_starts(url, "https://") || (s->plain_http_ok && str_starts(url, "http://")));
}

static void on_reply(void *ud, const struct plugin_message *m)
{
	struct slack_cmd *k = ud;
	struct slack *s = k->s;
	k->replied = 1;
	cJSON *body = message_object(m);
	if (body)
		cJSON_AddStringToObject(body, "response_type", m->ephemeral ? "ephemeral" : "in_channel");
	if (!k->acked && !k->no_inline && cmd_conn_alive(k) && body) {
		k->acked = 1;
		loop_timer_stop(&k->timer);
		send_ack(k->conn, k->envelope_id, body);
		body = NULL;
	} else if (!s->stopped && body && url_allowed(s, k->response_url)) {
		cmd_ack_empty(k);
		char *txt = cJSON_PrintUnformatted(body);
		if (txt)
			post_json(s, k->response_url, NULL, txt, response_url_done, s);
		free(txt);
	} else {
		cmd_ack_empty(k);
		log_warn("%s: envelope %s: no way to deliver the reply (response_url missing or not https)", s->name,
			 k->envelope_id);
	}
	cJSON_Delete(body);
	if (!k->in_call)
		cmd_free(k);
}

static void handle_slash(struct slack_conn *c, const char *eid, const cJSON *payload, int accepts_payload)
{
	struct slack *s = c->s;
	const char *user = jstr(payload, "user_id"), *channel = jstr(payload, "channel_id");
	if (!user || !channel) {
		log_warn("%s: slash command %s without user_id/channel_id: acked, not run", s->name, eid);
		send_ack(c, eid, NULL);
		return;
	}
	struct slack_cmd *k = xcalloc(1, sizeof *k);
	k->s = s;
	k->conn = c;
	k->serial = c->serial;
	k->envelope_id = xstrdup(eid);
	k->response_url = xstrdup(jstr(payload, "response_url"));
	k->received_ms = loop_now_ms();
	k->no_inline = !accepts_payload;
	k->next = s->cmds;
	s->cmds = k;
	char *text = slack_unescape(jstr(payload, "text"));
	struct plugin_command pc = {s->name, user, channel, text, NULL};
	k->in_call = 1;
	s->svc.command(s->svc.core, &pc, on_reply, k);
	k->in_call = 0;
	free(text);
	if (k->replied) {
		cmd_free(k);
		return;
	}
	/* A slow reply: the ack may not wait for it past the deadline. */
	int64_t left = SLACK_ACK_INLINE_MS - (loop_now_ms() - k->received_ms);
	if (left <= 0)
		cmd_ack_empty(k);
	else
		loop_timer_start(s->svc.loop, &k->timer, left, ack_deadline, k);
}

/* ---- inbound frames ---------------------------------------------------------------- */

static void handle_hello(struct slack_conn *c, const cJSON *msg)
{
	struct slack *s = c->s;
	if (c->state != CONN_OPEN)
		return;
	loop_timer_stop(&c->timer);
	c->state = CONN_READY;
	c->ready_at = loop_now_ms();
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(msg, "num_connections");
	const cJSON *dbg = cJSON_GetObjectItemCaseSensitive(msg, "debug_info");
	const char *host = jstr(dbg, "host");
	struct slack_conn *old = s->active;
	s->active = c;
	log_info("%s: socket %d ready (%s, %d open)%s", s->name, c->slot, host ? host : c->host,
		 cJSON_IsNumber(n) ? n->valueint : -1, old ? "; closing the previous one" : "");
	if (old && old != c) {
		old->retired = 1;
		conn_close(old);
	}
	char *why = xasprintf("Socket Mode connected to %s", c->host);
	set_state(s, PLUGIN_READY, why);
	free(why);
	s->svc.kick(s->svc.core);
}

static void handle_disconnect(struct slack_conn *c, const cJSON *msg)
{
	struct slack *s = c->s;
	const char *reason = jstr(msg, "reason");
	if (!reason)
		reason = "(no reason)";
	if (!strcmp(reason, "link_disabled")) {
		go_fatal(s, "Slack disabled Socket Mode for this app (disconnect: link_disabled); "
			    "turn Socket Mode back on and restart");
		return;
	}
	if (!strcmp(reason, "too_many_websockets") || c != s->active) {
		/* Over the socket cap (or told off before hello): drop this one
		 * and come back after a backoff rather than add another. */
		log_warn("%s: Slack closes socket %d: %s", s->name, c->slot, reason);
		conn_close(c);
		return;
	}
	/* refresh_requested, warning and anything new: move without a gap. */
	log_info("%s: Slack asks socket %d to move (%s): opening a new one first", s->name, c->slot, reason);
	c->retiring = 1;
	want_socket(s, 1);
}

static void handle_message(struct slack_conn *c, const char *data, size_t len)
{
	struct slack *s = c->s;
	cJSON *msg = cJSON_ParseWithLength(data, len);
	if (!cJSON_IsObject(msg)) {
		char *ex = excerpt(data, len);
		log_warn("%s: ignored a frame that is not a JSON object (%zu bytes: %s)", s->name, len, ex);
		free(ex);
		cJSON_Delete(msg);
		return;
	}
	const char *type = jstr(msg, "type");
	const char *eid = jstr(msg, "envelope_id");
	if (type && !strcmp(type, "hello")) {
		handle_hello(c, msg);
	} else if (type && !strcmp(type, "disconnect")) {
		handle_disconnect(c, msg);
	} else if (eid && *eid) {
		const cJSON *payload = cJSON_GetObjectItemCaseSensitive(msg, "payload");
		const char *event_id = jstr(payload, "event_id");
		int dup = seen_check(s, "e:", eid);
		if (event_id && seen_check(s, "v:", event_id))
			dup = 1;
		if (dup) {
			log_info("%s: redelivered envelope %s%s%s acked again, not run twice", s->name, eid,
				 event_id ? ", event " : "", event_id ? event_id : "");
			send_ack(c, eid, NULL);
		} else if (type && !strcmp(type, "slash_commands") && cJSON_IsObject(payload)) {
			handle_slash(c, eid, payload,
				     !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(msg, "accepts_response_payload")));
		} else {
			/* events_api, interactive, anything else: nothing to do but ack */
			send_ack(c, eid, NULL);
			log_debug("%s: %s envelope acked and ignored", s->name, type ? type : "untyped");
		}
	} else {
		log_warn("%s: ignored a %s frame without an envelope_id", s->name, type ? type : "untyped");
	}
	cJSON_Delete(msg);
}

/* ---- the websocket: lifecycle ---------------------------------------------------------- */

static void conn_kill(void *ud)
{
	struct slack_conn *c = ud;
	if (c->wsi)
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

static void hello_late(void *ud)
{
	struct slack_conn *c = ud;
	log_warn("%s: socket %d: no hello within %d s", c->s->name, c->slot, SLACK_HELLO_TIMEOUT_MS / 1000);
	conn_close(c);
}

/* Close on purpose: acks still owed on this socket go out first (their
 * replies then travel through response_url), then a close frame; a peer
 * that never finishes the close is cut off after SLACK_CLOSE_GRACE_MS. */
static void conn_close(struct slack_conn *c)
{
	struct slack *s = c->s;
	if (c->state == CONN_CLOSING || c->state == CONN_FREE)
		return;
	for (struct slack_cmd *k = s->cmds; k; k = k->next)
		if (k->conn == c && k->serial == c->serial && !k->acked)
			cmd_ack_empty(k);
	if (s->active == c)
		s->active = NULL;
	if (!c->wsi) { /* fetching or resolving: the callback sees the state */
		c->state = CONN_FREE;
		c->serial++;
		return;
	}
	c->state = CONN_CLOSING;
	lws_callback_on_writable(c->wsi);
	loop_timer_start(s->svc.loop, &c->timer, SLACK_CLOSE_GRACE_MS, conn_kill, c);
}

/* The slot's socket is gone (closed, failed, killed). Decide what next. */
static void conn_gone(struct slack_conn *c, const char *why)
{
	struct slack *s = c->s;
	int was = c->state, was_active = s->active == c, retired = c->retired;
	if (c->wsi)
		lws_set_opaque_user_data(c->wsi, NULL);
	c->wsi = NULL;
	loop_timer_stop(&c->timer);
	outq_free(c);
	sbuf_free(&c->rx);
	c->rx_bad = 0;
	c->state = CONN_FREE;
	c->serial++;
	c->retiring = c->retired = 0;
	if (was == CONN_FREE)
		return;
	if (c->ready_at && loop_now_ms() - c->ready_at >= SLACK_STABLE_MS)
		s->retry_count = 0;
	c->ready_at = 0;
	if (s->stopped || s->fatal)
		return;
	if (was_active) {
		s->active = NULL;
		log_warn("%s: socket %d lost: %s", s->name, c->slot, why);
		set_state(s, PLUGIN_CONNECTING, why);
	} else if (retired) {
		log_debug("%s: previous socket %d closed", s->name, c->slot);
	} else {
		log_warn("%s: socket %d failed: %s", s->name, c->slot, why);
		if (!s->active)
			set_state(s, PLUGIN_CONNECTING, why);
	}
	if (!s->active || s->active->retiring) {
		int now = retired && s->want_refresh;
		s->want_refresh = 0;
		want_socket(s, now);
	}
}

static const struct lws_protocols slack_protocols[];

/* The client vhost, made on first use, with TLS only for wss:// URLs: the
 * TLS context is ~1 MB of OpenSSL state a plain-socket test (or a bot not
 * yet connected) need not carry. CA certificates from ca_source(): a
 * bundle file goes to lws, a hashed directory is handed to OpenSSL when
 * lws asks (LOAD_EXTRA_CLIENT_VERIFY_CERTS), and OpenSSL's own defaults
 * are off either way (they would load the bundle a second time). NULL
 * when lws cannot make it. */
static struct lws_vhost *slack_vhost(struct slack *s, int tls)
{
	struct lws_vhost **vh = tls ? &s->vh_tls : &s->vh;
	if (*vh)
		return *vh;
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = slack_protocols;
	info.vhost_name = tls ? "ainews-slack-tls" : "ainews-slack";
	if (tls) {
		/* lws only builds a vhost's client TLS context when asked so */
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		const char *ca;
		int kind = ca_source(&ca);
		if (kind == CA_FILE)
			info.client_ssl_ca_filepath = ca;
		if (kind != CA_NONE)
			info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
	}
	*vh = lws_create_vhost(loop_lws(s->svc.loop), &info);
	return *vh;
}

static void conn_connect(struct slack_conn *c, const char *addr)
{
	struct slack *s = c->s;
	struct lws_vhost *vh = slack_vhost(s, c->tls);
	if (!vh) {
		go_fatal(s, c->tls ? "cannot set up the TLS client (lws vhost; CA certificates?)"
				   : "cannot set up the websocket client (lws vhost)");
		return;
	}
	struct lws_client_connect_info i;
	memset(&i, 0, sizeof i);
	i.context = loop_lws(s->svc.loop);
	i.vhost = vh;
	i.address = addr;
	i.port = c->port;
	i.path = c->path;
	i.host = c->hosthdr;
	i.origin = c->hosthdr;
	i.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0;
	i.alpn = "http/1.1";
	i.local_protocol_name = "ainews-slack";
	i.retry_and_idle_policy = &slack_retry;
	i.opaque_user_data = c;
	c->state = CONN_CONNECTING;
	unsigned serial = c->serial;
	struct lws *wsi = lws_client_connect_via_info(&i);
	if (c->serial != serial) /* failed inside the call; conn_gone ran */
		return;
	if (!wsi) {
		c->state = CONN_CONNECTING;
		conn_gone(c, "cannot start the connection");
		return;
	}
	c->wsi = wsi;
}

static void *dns_thread(void *ud)
{
	struct slack_dns *d = ud;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(d->host, NULL, &hints, &res) == 0 && res) {
		for (struct addrinfo *a = res; a && !d->ok; a = a->ai_next) {
			const void *p = a->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
					: a->ai_family == AF_INET6
					    ? (void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
					    : NULL;
			if (p && inet_ntop(a->ai_family, p, d->addr, sizeof d->addr))
				d->ok = 1;
		}
		freeaddrinfo(res);
	}
	return NULL;
}

static void dns_done(void *ud)
{
	struct slack_dns *d = ud;
	struct slack_conn *c = d->conn;
	pthread_join(d->thread, NULL);
	c->dns = NULL;
	if (c->state == CONN_RESOLVE && c->serial == d->serial && !d->s->stopped) {
		if (d->ok)
			conn_connect(c, d->addr);
		else {
			char *why = xasprintf("cannot resolve %s", d->host);
			conn_gone(c, why);
			free(why);
		}
	}
	free(d->host);
	free(d);
}

static void *dns_thread_main(void *ud)
{
	struct slack_dns *d = ud;
	dns_thread(d);
	loop_post(d->s->svc.loop, dns_done, d);
	return NULL;
}

/* "wss://host[:port]/path?query" -> the slot's target. 0 ok. */
static int conn_set_url(struct slack_conn *c, const char *url)
{
	int tls;
	const char *p;
	if (str_starts(url, "wss://"))
		tls = 1, p = url + 6;
	else if (str_starts(url, "ws://"))
		tls = 0, p = url + 5;
	else
		return -1;
	const char *slash = strchr(p, '/');
	const char *hend = slash ? slash : p + strlen(p);
	char *host;
	int port = tls ? 443 : 80;
	const char *colon;
	if (*p == '[') { /* [v6]:port */
		const char *rb = memchr(p, ']', (size_t)(hend - p));
		if (!rb)
			return -1;
		host = xstrndup(p + 1, (size_t)(rb - p - 1));
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(hend - p));
		host = xstrndup(p, (size_t)((colon ? colon : hend) - p));
	}
	if (colon) {
		char *end;
		long v = strtol(colon + 1, &end, 10);
		if (end != hend || v <= 0 || v > 65535) {
			free(host);
			return -1;
		}
		port = (int)v;
	}
	if (!*host) {
		free(host);
		return -1;
	}
	free(c->host), free(c->hosthdr), free(c->path);
	c->host = host;
	c->hosthdr = port == (tls ? 443 : 80) ? xstrdup(host) : xasprintf("%s:%d", host, port);
	c->path = xstrdup(slash ? slash : "/");
	c->port = port;
	c->tls = tls;
	return 0;
}

static void on_connections_open(void *ud, const struct rest_response *r)
{
	struct slack_conn *c = ud;
	struct slack *s = c->s;
	c->fetching = 0;
	if (c->state != CONN_FETCH || s->stopped || s->fatal) {
		if (c->state == CONN_FETCH)
			c->state = CONN_FREE;
		return;
	}
	if (r->status == 429) {
		double ra = retry_after_s(r, SLACK_OPEN_RETRY_AFTER_S);
		log_warn("%s: apps.connections.open rate limited: next try in %.0f s", s->name, ra);
		c->state = CONN_FREE;
		c->serial++;
		if (!s->active)
			set_state(s, PLUGIN_CONNECTING, "apps.connections.open rate limited");
		loop_timer_start(s->svc.loop, &s->reconnect_timer, (int64_t)(ra * 1000), reconnect_fire, s);
		return;
	}
	cJSON *j = r->status == 200 ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
	const char *err = jstr(j, "error");
	const char *url = jstr(j, "url");
	char *why = NULL;
	if (r->status == 0)
		why = xasprintf("apps.connections.open: %s", r->error ? r->error : "transport error");
	else if (r->status != 200)
		why = xasprintf("apps.connections.open: HTTP %ld", r->status);
	else if (!cJSON_IsTrue(ok) && in_list(slack_fatal_errors, err)) {
		why = xasprintf("apps.connections.open refused the app token: %s (check %s)", err,
				s->svc.cfg->app_token_env ? s->svc.cfg->app_token_env : "the app-level token");
		cJSON_Delete(j);
		c->state = CONN_FREE;
		c->serial++;
		go_fatal(s, why);
		free(why);
		return;
	} else if (!cJSON_IsTrue(ok))
		why = xasprintf("apps.connections.open: %s", err ? err : "not ok");
	else if (!url || conn_set_url(c, url))
		why = xstrdup("apps.connections.open gave no usable ws:// or wss:// URL");
	cJSON_Delete(j);
	if (why) {
		c->state = CONN_FETCH;
		conn_gone(c, why);
		free(why);
		return;
	}
	/* The URL's ticket is a credential: only the host reaches the log. */
	log_debug("%s: socket %d connecting to %s:%d", s->name, c->slot, c->host, c->port);
	unsigned char buf[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, c->host, buf) == 1 || inet_pton(AF_INET6, c->host, buf) == 1) {
		conn_connect(c, c->host);
		return;
	}
	struct slack_dns *d = xcalloc(1, sizeof *d);
	d->s = s;
	d->conn = c;
	d->serial = c->serial;
	d->host = xstrdup(c->host);
	c->state = CONN_RESOLVE;
	c->dns = d;
	if (pthread_create(&d->thread, NULL, dns_thread_main, d)) {
		c->dns = NULL;
		free(d->host);
		free(d);
		conn_gone(c, "cannot start the resolver thread");
	}
}

static void conn_start(struct slack_conn *c)
{
	struct slack *s = c->s;
	c->state = CONN_FETCH;
	c->fetching = 1;
	c->retiring = c->retired = 0;
	char *url = xasprintf("%sapps.connections.open", s->api_base);
	/* No arguments; the app token must be in the header, never the body. */
	const char *hdrs[2] = {"Content-Type: application/x-www-form-urlencoded", s->auth_app};
	struct rest_request req = {"POST", url, hdrs, 2, NULL, 0, SLACK_REST_TIMEOUT_MS};
	if (rest_submit(s->svc.rest, &req, on_connections_open, c) < 0) {
		struct rest_response r = {0, "", 0, "cannot start the request", {0}, 0};
		on_connections_open(c, &r);
	}
	free(url);
}

static void reconnect_fire(void *ud)
{
	want_socket(ud, 1);
}

/* A new socket is needed: now (a refresh, or the first) or after the
 * backoff (a failure). At most one is being set up at a time. */
static void want_socket(struct slack *s, int now)
{
	if (s->stopped || s->fatal)
		return;
	struct slack_conn *free_slot = NULL;
	for (int i = 0; i < 2; i++) {
		struct slack_conn *c = &s->conns[i];
		if (c->state >= CONN_FETCH && c->state <= CONN_OPEN)
			return; /* one is on its way */
		if (c->state == CONN_FREE && !c->dns && !c->fetching && !free_slot)
			free_slot = c;
	}
	if (s->reconnect_timer.armed && !now)
		return;
	loop_timer_stop(&s->reconnect_timer);
	if (!free_slot) { /* the previous socket is still closing */
		s->want_refresh = 1;
		return;
	}
	if (now) {
		conn_start(free_slot);
		return;
	}
	char conceal;
	uint32_t ms = lws_retry_get_delay_ms(loop_lws(s->svc.loop), &slack_retry, &s->retry_count, &conceal);
	log_info("%s: reconnecting in %u ms", s->name, ms);
	loop_timer_start(s->svc.loop, &s->reconnect_timer, ms, reconnect_fire, s);
}

static int slack_ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS) {
		/* the TLS vhost's context (user): certificates from a hashed
		 * directory, looked up as a peer's chain needs them */
		const char *ca;
		if (ca_source(&ca) == CA_DIR && SSL_CTX_load_verify_locations(user, NULL, ca) != 1)
			log_warn("slack: cannot use CA directory %s", ca);
		return 0;
	}
	struct slack_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->wsi = wsi;
		c->state = CONN_OPEN;
		c->last_rx_ms = loop_now_ms();
		loop_timer_start(c->s->svc.loop, &c->timer, SLACK_HELLO_TIMEOUT_MS, hello_late, c);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		c->last_rx_ms = loop_now_ms();
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		c->last_rx_ms = loop_now_ms();
		if (lws_is_first_fragment(wsi)) {
			sbuf_reset(&c->rx);
			c->rx_bad = lws_frame_is_binary(wsi) ? 1 : 0;
		}
		if (!c->rx_bad && c->rx.len + len > SLACK_FRAME_MAX)
			c->rx_bad = 2;
		if (!c->rx_bad)
			sbuf_add(&c->rx, in, len);
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			if (c->rx_bad)
				log_warn("%s: ignored a %s frame", c->s->name, c->rx_bad == 1 ? "binary" : "too large");
			else
				handle_message(c, c->rx.s ? c->rx.s : "", c->rx.len);
			sbuf_reset(&c->rx);
			c->rx_bad = 0;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		if (c->outq) {
			struct frame *f = c->outq;
			c->outq = f->next;
			if (!c->outq)
				c->outq_tail = &c->outq;
			int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
			int short_write = n < (int)f->len;
			free(f);
			if (short_write)
				return -1;
			if (c->outq) {
				lws_callback_on_writable(wsi);
				return 0;
			}
		}
		if (c->state == CONN_CLOSING) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		return 0;
	}
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *b = in;
			log_debug("%s: socket %d: peer closed with %d", c->s->name, c->slot, b[0] << 8 | b[1]);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		char why[160];
		snprintf(why, sizeof why, "connection error: %.*s", in ? (int)(len ? len : strlen(in)) : 7,
			 in ? (const char *)in : "unknown");
		conn_gone(c, why);
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		/* lws hangs up when its pings go unanswered: name that case. */
		if (c->state == CONN_READY &&
		    loop_now_ms() - c->last_rx_ms >= (slack_retry.secs_since_valid_hangup - 1) * 1000)
			conn_gone(c, "no answer to pings (dead peer)");
		else
			conn_gone(c, "connection closed");
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols slack_protocols[] = {
    {"ainews-slack", slack_ws_cb, 0, 16384, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- posting -------------------------------------------------------------------------- */

static void job_done(struct slack_job *job, int status, const char *remote, const char *err, int64_t retry_after)
{
	struct plugin_result r = {status, remote, err, retry_after};
	plugin_done_cb done = job->done;
	void *ud = job->ud;
	free(job->text), free(job->json), free(job->thread_ts);
	free(job);
	done(ud, &r);
}

static struct slack_chan *chan_get(struct slack *s, const char *id)
{
	for (struct slack_chan *ch = s->chans; ch; ch = ch->next)
		if (!strcmp(ch->id, id))
			return ch;
	struct slack_chan *ch = xcalloc(1, sizeof *ch);
	ch->s = s;
	ch->id = xstrdup(id);
	ch->qtail = &ch->q;
	ch->next = s->chans;
	s->chans = ch;
	return ch;
}

static void chan_push(struct slack_chan *ch, struct slack_job *job, int front)
{
	if (front) {
		job->next = ch->q;
		ch->q = job;
		if (!job->next)
			ch->qtail = &job->next;
	} else {
		job->next = NULL;
		*ch->qtail = job;
		ch->qtail = &job->next;
	}
}

static struct slack_job *chan_pop(struct slack_chan *ch)
{
	struct slack_job *job = ch->q;
	if (job) {
		ch->q = job->next;
		if (!ch->q)
			ch->qtail = &ch->q;
		job->next = NULL;
	}
	return job;
}

static void on_posted(void *ud, const struct rest_response *r)
{
	struct slack_chan *ch = ud;
	struct slack *s = ch->s;
	struct slack_job *job = ch->inflight;
	ch->inflight = NULL;
	if (!job)
		return;
	int64_t now = loop_now_ms();
	if (r->status == 429) {
		double ra = retry_after_s(r, 1);
		ch->paused_until_ms = now + (int64_t)(ra * 1000);
		job->limited++;
		if (!s->stopped && !s->fatal && ra <= SLACK_RETRY_HERE_MAX_S &&
		    job->limited <= SLACK_RETRY_HERE_TIMES) {
			log_warn("%s: chat.postMessage to %s rate limited: retrying in %.1f s", s->name, ch->id, ra);
			chan_push(ch, job, 1);
		} else {
			job_done(job, PLUGIN_RETRY, NULL, "rate limited (HTTP 429)", (int64_t)(ra + 0.999));
		}
		chan_pump(ch);
		return;
	}
	cJSON *j = r->status == 200 ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
	const char *err = jstr(j, "error");
	const char *chan = jstr(j, "channel"), *ts = jstr(j, "ts");
	if (r->status == 0) {
		job_done(job, PLUGIN_RETRY, NULL, r->error ? r->error : "transport error", 0);
	} else if (r->status != 200) {
		char e[48];
		snprintf(e, sizeof e, "HTTP %ld", r->status);
		job_done(job, PLUGIN_RETRY, NULL, e, 0);
	} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")) && ts) {
		char *rid = xasprintf("%s:%s", chan ? chan : ch->id, ts);
		job_done(job, PLUGIN_SENT, rid, NULL, 0);
		free(rid);
	} else if (in_list(slack_permanent_errors, err)) {
		job_done(job, PLUGIN_FAILED, NULL, err, 0);
	} else if (err && (!strcmp(err, "ratelimited") || !strcmp(err, "rate_limited"))) {
		ch->paused_until_ms = now + 1000;
		job_done(job, PLUGIN_RETRY, NULL, err, 1);
	} else if (in_list(slack_fatal_errors, err)) {
		char *why = xasprintf("chat.postMessage refused the bot token: %s (check %s)", err,
				      s->svc.cfg->bot_token_env ? s->svc.cfg->bot_token_env : "the bot token");
		job_done(job, PLUGIN_RETRY, NULL, err, 0);
		go_fatal(s, why);
		free(why);
	} else {
		job_done(job, PLUGIN_RETRY, NULL, err ? err : "unexpected answer from chat.postMessage", 0);
	}
	cJSON_Delete(j);
	chan_pump(ch);
}

static void chan_fire(void *ud)
{
	chan_pump(ud);
}

static void chan_post(struct slack_chan *ch, struct slack_job *job)
{
	struct slack *s = ch->s;
	cJSON *o = cJSON_CreateObject();
	char *body = NULL;
	if (o) {
		cJSON_AddStringToObject(o, "channel", ch->id);
		cJSON_AddStringToObject(o, "text", job->text && *job->text ? job->text : " ");
		add_blocks(o, job->json);
		if (job->thread_ts)
			cJSON_AddStringToObject(o, "thread_ts", job->thread_ts);
		cJSON_AddFalseToObject(o, "unfurl_links");
		cJSON_AddFalseToObject(o, "unfurl_media");
		body = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
	}
	if (!body) {
		job_done(job, PLUGIN_RETRY, NULL, "cannot build the message", 0);
		return;
	}
	ch->inflight = job;
	ch->next_ok_ms = loop_now_ms() + SLACK_PACE_MS;
	char *url = xasprintf("%schat.postMessage", s->api_base);
	post_json(s, url, s->auth_bot, body, on_posted, ch);
	free(url);
	free(body);
}

/* Post the next queued message when the channel's pace and any
 * Retry-After allow; otherwise come back when they will. */
static void chan_pump(struct slack_chan *ch)
{
	if (ch->inflight || !ch->q || ch->s->stopped)
		return;
	int64_t now = loop_now_ms();
	int64_t due = ch->next_ok_ms > ch->paused_until_ms ? ch->next_ok_ms : ch->paused_until_ms;
	if (now < due) {
		if (!ch->timer.armed)
			loop_timer_start(ch->s->svc.loop, &ch->timer, due - now, chan_fire, ch);
		return;
	}
	chan_post(ch, chan_pop(ch));
}

static void chan_enqueue(struct slack *s, const char *channel, struct slack_job *job)
{
	struct slack_chan *ch = chan_get(s, channel);
	chan_push(ch, job, 0);
	chan_pump(ch);
}

static void dm_fail(struct slack_dm *d, int status, const char *err, int64_t retry_after)
{
	struct slack_job *job = d->waiting;
	d->waiting = NULL;
	d->wtail = &d->waiting;
	while (job) {
		struct slack_job *n = job->next;
		job_done(job, status, NULL, err, retry_after);
		job = n;
	}
}

static void on_dm_open(void *ud, const struct rest_response *r)
{
	struct slack_dm *d = ud;
	struct slack *s = d->s;
	d->opening = 0;
	if (s->stopped || s->fatal) {
		dm_fail(d, PLUGIN_RETRY, s->fatal ? s->why_down : "shutting down", 0);
		return;
	}
	if (r->status == 429) {
		double ra = retry_after_s(r, 1);
		dm_fail(d, PLUGIN_RETRY, "conversations.open rate limited (HTTP 429)", (int64_t)(ra + 0.999));
		return;
	}
	if (r->status != 200) {
		char e[64];
		snprintf(e, sizeof e, "conversations.open: %s", r->status ? "HTTP error" : r->error ? r->error : "?");
		dm_fail(d, PLUGIN_RETRY, e, 0);
		return;
	}
	cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
	const char *err = jstr(j, "error");
	const char *id = jstr(cJSON_GetObjectItemCaseSensitive(j, "channel"), "id");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok")) && id) {
		free(d->channel);
		d->channel = xstrdup(id);
		struct slack_job *job = d->waiting;
		d->waiting = NULL;
		d->wtail = &d->waiting;
		while (job) {
			struct slack_job *n = job->next;
			chan_enqueue(s, d->channel, job);
			job = n;
		}
	} else if (in_list(slack_fatal_errors, err)) {
		char *why = xasprintf("conversations.open refused the bot token: %s (check %s)", err,
				      s->svc.cfg->bot_token_env ? s->svc.cfg->bot_token_env : "the bot token");
		dm_fail(d, PLUGIN_RETRY, err, 0);
		go_fatal(s, why);
		free(why);
	} else if (err && (!strcmp(err, "user_not_found") || !strcmp(err, "user_disabled") ||
			   !strcmp(err, "cannot_dm_bot") || !strcmp(err, "user_not_visible"))) {
		dm_fail(d, PLUGIN_FAILED, err, 0);
	} else {
		dm_fail(d, PLUGIN_RETRY, err ? err : "conversations.open: unexpected answer", 0);
	}
	cJSON_Delete(j);
}

static void dm_open(struct slack_dm *d)
{
	struct slack *s = d->s;
	d->opening = 1;
	cJSON *o = cJSON_CreateObject();
	char *body = NULL;
	if (o && cJSON_AddStringToObject(o, "users", d->user))
		body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!body) {
		d->opening = 0;
		dm_fail(d, PLUGIN_RETRY, "cannot build the request", 0);
		return;
	}
	char *url = xasprintf("%sconversations.open", s->api_base);
	post_json(s, url, s->auth_bot, body, on_dm_open, d);
	free(url);
	free(body);
}

static int slack_send(void *self, const struct plugin_message *m, plugin_done_cb done, void *ud)
{
	struct slack *s = self;
	if (s->stopped || s->fatal) {
		struct plugin_result r = {PLUGIN_RETRY, NULL, s->fatal ? s->why_down : "shutting down", 0};
		done(ud, &r);
		return 0;
	}
	struct slack_job *job = xcalloc(1, sizeof *job);
	job->s = s;
	job->text = xstrdup(m->text);
	job->json = xstrdup(m->json);
	job->done = done;
	job->ud = ud;
	/* An update replies in the thread of the alert: "CHANNEL:TS". */
	const char *colon = m->thread ? strchr(m->thread, ':') : NULL;
	if (colon && colon > m->thread && colon[1]) {
		char *channel = xstrndup(m->thread, (size_t)(colon - m->thread));
		job->thread_ts = xstrdup(colon + 1);
		chan_enqueue(s, channel, job);
		free(channel);
		return 0;
	}
	if (!m->target || !*m->target) {
		job_done(job, PLUGIN_FAILED, NULL, "no target", 0);
		return 0;
	}
	if (m->target_kind && !strcmp(m->target_kind, "user")) {
		struct slack_dm *d = s->dms;
		while (d && strcmp(d->user, m->target))
			d = d->next;
		if (!d) {
			d = xcalloc(1, sizeof *d);
			d->s = s;
			d->user = xstrdup(m->target);
			d->wtail = &d->waiting;
			d->next = s->dms;
			s->dms = d;
		}
		if (d->channel) {
			chan_enqueue(s, d->channel, job);
		} else {
			*d->wtail = job;
			d->wtail = &job->next;
			if (!d->opening)
				dm_open(d);
		}
		return 0;
	}
	chan_enqueue(s, m->target, job);
	return 0;
}

/* Queued sends that have not reached Slack are handed back (the outbox
 * keeps them); those in flight finish through their REST callbacks. */
static void fail_queued(struct slack *s, const char *why)
{
	for (struct slack_chan *ch = s->chans; ch; ch = ch->next) {
		loop_timer_stop(&ch->timer);
		struct slack_job *job;
		while ((job = chan_pop(ch)))
			job_done(job, PLUGIN_RETRY, NULL, why, 0);
	}
	for (struct slack_dm *d = s->dms; d; d = d->next)
		if (!d->opening)
			dm_fail(d, PLUGIN_RETRY, why, 0);
}

/* Unrecoverable: say why once, close everything, never reconnect. */
static void go_fatal(struct slack *s, const char *why)
{
	if (s->fatal || s->stopped)
		return;
	s->fatal = 1;
	s->why_down = xstrdup(why);
	loop_timer_stop(&s->reconnect_timer);
	set_state(s, PLUGIN_DOWN, why);
	for (int i = 0; i < 2; i++)
		conn_close(&s->conns[i]);
	fail_queued(s, why);
}

/* ---- plugin ops -------------------------------------------------------------------------- */

static char *env_token(const char *var, char **err)
{
	const char *v = var ? getenv(var) : NULL;
	if (!v || !*v) {
		*err = xasprintf("%s is not set", var);
		return NULL;
	}
	log_add_secret(v);
	return xstrdup(v);
}

static void slack_destroy(void *self);

static void *slack_create(const struct plugin_services *svc, char **err)
{
	const struct config_platform *cfg = svc->cfg;
	const char *app_var = cfg->app_token_env ? cfg->app_token_env : "SLACK_APP_TOKEN";
	const char *bot_var = cfg->bot_token_env ? cfg->bot_token_env : "SLACK_BOT_TOKEN";
	struct slack *s = xcalloc(1, sizeof *s);
	s->svc = *svc;
	s->name = cfg->name;
	for (int i = 0; i < 2; i++) {
		s->conns[i].s = s;
		s->conns[i].slot = i;
		s->conns[i].outq_tail = &s->conns[i].outq;
	}
	if (!(s->app_token = env_token(app_var, err)) || !(s->bot_token = env_token(bot_var, err))) {
		slack_destroy(s);
		return NULL;
	}
	if (!str_starts(s->app_token, "xapp-"))
		log_warn("%s: %s does not look like an app-level token (xapp-…)", s->name, app_var);
	if (!str_starts(s->bot_token, "xoxb-"))
		log_warn("%s: %s does not look like a bot token (xoxb-…)", s->name, bot_var);
	const char *base = cfg->api_base && *cfg->api_base ? cfg->api_base : SLACK_DEFAULT_API;
	if (!str_starts(base, "https://") && !str_starts(base, "http://")) {
		*err = xasprintf("api_base must be an http(s) URL, not \"%s\"", base);
		slack_destroy(s);
		return NULL;
	}
	size_t bl = strlen(base);
	s->api_base = base[bl - 1] == '/' ? xstrdup(base) : xasprintf("%s/", base);
	s->plain_http_ok = str_starts(base, "http://");
	s->auth_app = xasprintf("Authorization: Bearer %s", s->app_token);
	s->auth_bot = xasprintf("Authorization: Bearer %s", s->bot_token);

	return s;
}

static int slack_start(void *self)
{
	struct slack *s = self;
	set_state(s, PLUGIN_CONNECTING, "opening a Socket Mode connection");
	want_socket(s, 1);
	return 0;
}

static int slack_ready(void *self)
{
	struct slack *s = self;
	return s->active && s->active->state == CONN_READY && !s->stopped && !s->fatal;
}

static void slack_stop(void *self)
{
	struct slack *s = self;
	if (s->stopped)
		return;
	s->stopped = 1;
	loop_timer_stop(&s->reconnect_timer);
	for (struct slack_cmd *k = s->cmds; k; k = k->next)
		loop_timer_stop(&k->timer);
	fail_queued(s, "shutting down");
	/* The loop no longer runs: close the sockets here and now (their
	 * CLOSED callbacks run inside the kill). */
	s->active = NULL;
	for (int i = 0; i < 2; i++) {
		struct slack_conn *c = &s->conns[i];
		loop_timer_stop(&c->timer);
		if (c->wsi)
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
		if (c->state != CONN_FETCH) /* a fetch hears "shutting down" from rest_free */
			conn_gone(c, "stopping");
	}
	if (!s->fatal)
		set_state(s, PLUGIN_STOPPED, "stopping");
}

static void slack_destroy(void *self)
{
	struct slack *s = self;
	if (!s)
		return;
	for (int i = 0; i < 2; i++) {
		struct slack_conn *c = &s->conns[i];
		loop_timer_stop(&c->timer);
		if (c->wsi) /* never called back again */
			lws_set_opaque_user_data(c->wsi, NULL);
		outq_free(c);
		sbuf_free(&c->rx);
		if (c->dns) { /* its posted completion never runs now */
			pthread_join(c->dns->thread, NULL);
			free(c->dns->host);
			free(c->dns);
		}
		free(c->host), free(c->hosthdr), free(c->path);
	}
	loop_timer_stop(&s->reconnect_timer);
	while (s->cmds)
		cmd_free(s->cmds);
	while (s->chans) {
		struct slack_chan *n = s->chans->next;
		loop_timer_stop(&s->chans->timer);
		struct slack_job *job;
		while ((job = chan_pop(s->chans)))
			job_done(job, PLUGIN_RETRY, NULL, "shutting down", 0);
		if (s->chans->inflight)
			job_done(s->chans->inflight, PLUGIN_RETRY, NULL, "shutting down", 0);
		free(s->chans->id);
		free(s->chans);
		s->chans = n;
	}
	while (s->dms) {
		struct slack_dm *n = s->dms->next;
		dm_fail(s->dms, PLUGIN_RETRY, "shutting down", 0);
		free(s->dms->user), free(s->dms->channel);
		free(s->dms);
		s->dms = n;
	}
	while (s->seen_head)
		seen_drop_head(s);
	free(s->app_token), free(s->bot_token), free(s->api_base);
	free(s->auth_app), free(s->auth_bot);
	free(s->why_down);
	free(s);
}

const struct plugin_ops slack_plugin = {
    .type = "slack",
    .format_target = FORMAT_SLACK,
    .create = slack_create,
    .start = slack_start,
    .ready = slack_ready,
    .send = slack_send,
    .stop = slack_stop,
    .destroy = slack_destroy,
};
