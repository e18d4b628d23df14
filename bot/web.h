/* web — what the HTTP server says, as pure functions: the bilingual
 * analysis page of a story, the latest-stories index, error pages, the
 * /healthz document and the webhook's answer.
 *
 * Nothing here touches a socket or the store: the caller loads stories and
 * hands them in, so every page is testable without a server. Story text is
 * untrusted: every field goes through web_escape() (or cJSON for JSON) and
 * only http(s) URLs become links. Pages are self-contained (inline CSS, no
 * scripts, fonts or images from elsewhere) to live under the server's
 * Content-Security-Policy.
 *
 * Owns nothing global. Every page is appended to a caller's sbuf.
 */
#ifndef AINEWS_WEB_H
#define AINEWS_WEB_H

#include <stddef.h>
#include <stdint.h>

#include "story.h"
#include "util.h"

struct topics;

enum web_lang { WEB_BOTH = 0, WEB_EN = 1, WEB_ZH = 2 };

/* "en" -> WEB_EN, "zh" (or "zh-*") -> WEB_ZH, anything else -> WEB_BOTH. */
int web_lang_parse(const char *s);

/* HTML-escape s (& < > " ') into b. Invalid UTF-8 becomes U+FFFD and
 * control characters other than tab and newline are dropped, so no input
 * can smuggle bytes a browser might reinterpret. */
void web_escape(struct sbuf *b, const char *s);

struct web_revision {
	int revision;
	const char *changed; /* "new", "scores,tldr", ... */
	int64_t created_at;  /* Unix seconds */
};

/* The analysis page of story s (one revision of it). revs lists every
 * stored revision, oldest first (may be empty); current is the latest
 * revision number (s->revision may be older when ?rev= asked for one).
 * topics (may be NULL) gives display names. lang: enum web_lang; a
 * language the story does not have falls back to the other, with a note. */
void web_story_page(struct sbuf *b, const struct story *s, const struct web_revision *revs, size_t nrevs, int current,
		    int lang, const struct topics *topics);

/* The index: web_index_open(), then web_index_item() per story, then
 * web_index_close() with the number of items. filter_kind/filter_id name a
 * topic or entity filter ("topic"/"entity" and its id) or are NULL. */
void web_index_open(struct sbuf *b, const struct topics *topics, const char *filter_kind, const char *filter_id);
void web_index_item(struct sbuf *b, const struct story *s, const struct topics *topics);
void web_index_close(struct sbuf *b, size_t count);

/* An error page (404, 405, ...): a short bilingual explanation; detail
 * (may be NULL) is escaped. */
void web_error_page(struct sbuf *b, int status, const char *detail);

/* ---- operations ------------------------------------------------------------- */

/* Unhealthy when a platform is down, stuck connecting this long, or the
 * oldest queued outbox row has waited this long. */
#define WEB_HEALTH_CONNECTING_S 120
#define WEB_HEALTH_STUCK_S	600

struct web_health_platform {
	const char *name, *type;
	int state;	 /* enum plugin_state */
	int64_t since;	 /* Unix seconds of the last state change, 0 unknown */
	const char *why; /* may be NULL */
};

struct web_health_failure {
	int64_t at; /* Unix seconds */
	const char *platform;
	int64_t outbox_id;
	int permanent;
	const char *error;
};

/* Everything borrowed; filled by the daemon (and the server for the outbox). */
struct web_health {
	int64_t now, started; /* Unix seconds */
	const struct web_health_platform *platforms;
	size_t nplatforms;
	int64_t last_ingest;			   /* Unix seconds, 0 = none since start */
	int64_t outbox_depth;			   /* queued + sending */
	int64_t outbox_oldest;			   /* created_at of the oldest queued row, 0 = none */
	const struct web_health_failure *failures; /* newest first */
	size_t nfailures;
};

/* Append the /healthz JSON document; returns 1 when healthy, 0 when not
 * (the "problems" array then says why). */
int web_health_json(struct sbuf *b, const struct web_health *h);

/* The webhook's answer, built while ingesting: ids stored, errors with
 * their JSON path. */
struct web_ingest_result {
	struct sbuf ids; /* JSON array members, comma-separated */
	struct sbuf stories;
	struct sbuf errors;
	int nstored, nerrors, nnew, nrevised, nunchanged;
};
void web_ingest_ok(struct web_ingest_result *r, const char *id, int result, int revision, int alerts, int updates);
void web_ingest_error(struct web_ingest_result *r, const char *where, const char *msg);
/* Append the JSON document; frees r's buffers. */
void web_ingest_json(struct sbuf *b, struct web_ingest_result *r);

/* A one-member JSON error document {"error": msg}. */
void web_json_error(struct sbuf *b, const char *msg);

#endif
