/* store — the SQLite store: stories and their revisions, full-text search,
 * classification results, channel rules, subscriptions, preferences, the
 * alert ledger and the outbox.
 *
 * Owns the database connection and every prepared statement. WAL mode,
 * schema versioned with PRAGMA user_version and forward migrations, bound
 * parameters only. Story rows are written by the caller inside
 * store_begin()/store_commit() so a story revision, its classification and
 * its outbox rows land in one transaction.
 *
 * Return codes: 0 ok, 1 "nothing to do"/found where stated, negative error
 * (the error text is in store_errmsg()). Strings handed out are owned by the
 * caller unless marked borrowed.
 */
#ifndef AINEWS_STORE_H
#define AINEWS_STORE_H

#include <stdint.h>
#include "story.h"

#define STORE_SCHEMA_VERSION 6

struct store;
struct normaliser;

/* Open (creating and migrating) the database at path (":memory:" works).
 * 0 ok; negative with *err owned. */
int store_open(const char *path, struct store **out, char **err);
void store_close(struct store *st);
const char *store_errmsg(struct store *st); /* borrowed, last error */
int store_schema_version(struct store *st);

/* The normaliser search uses to check phrases against stored stories and
 * to rebuild its index (borrowed; NULL folds case and width only). */
void store_set_normaliser(struct store *st, struct normaliser *n);

/* Bulk loading (the ingest CLI): a 32 MB page cache and checkpoints every
 * 128 MB of WAL instead of every 8 MB (pages rewritten in between are
 * copied back once: 12% fewer bytes written). Not for the daemon, which
 * keeps SQLite's small defaults. Every store's files are written through
 * bot/writeback.c, which starts the disk writing each 1 MB as it goes, so
 * the checkpoint's syncs do not wait for all of it. */
void store_bulk(struct store *st);
/* The end of bulk loading: the search index's held segments written
 * (store_bulk() holds them in memory, see search_hold()), its hold lock
 * let go. store_close() does it too; call it to see the error. */
int store_bulk_end(struct store *st);
/* Merge the search index in steps of about this many entries per commit
 * (0, the default: each merge whole, in the commit that makes it due).
 * The daemon sets it so a big merge never stalls its loop. */
void store_merge_budget(struct store *st, int64_t entries);

/* SQLite's page cache for this connection, at most kb KiB. */
void store_cache_kb(struct store *st, int kb);
/* Free the page cache's unused memory (an idle daemon). */
void store_release_memory(struct store *st);

int store_begin(struct store *st); /* BEGIN IMMEDIATE */
/* Write the search index's pending documents, then COMMIT. */
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* Latest revision and fingerprint of a stored story: 1 found, 0 not. */
int store_story_head(struct store *st, const char *id, int *revision, uint64_t *fingerprint);

/* Write revision s->revision of story s (s->id set), with its topic and
 * entity rows (s->topics, s->entities). changed: comma list or "new".
 * texts/lens: the story's STORY_F_* fields normalised (what
 * store_story_texts() gives; any may be NULL), for the search index. A
 * revision moves the story to a new rowid and retires the old one's search
 * document. Call inside a transaction. */
int store_story_put(struct store *st, const struct story *s, uint64_t fingerprint, const char *changed,
		    const char *const texts[STORY_NTEXT], const size_t lens[STORY_NTEXT], int64_t now);

/* The normalised STORY_F_* texts of s (owned by the caller; NULL for an
 * empty field). */
void store_story_texts(struct store *st, const struct story *s, char *texts[STORY_NTEXT], size_t lens[STORY_NTEXT]);

/* Load the latest (revision 0) or a given revision into *out (story_init'ed
 * by the caller). 1 found, 0 not found, negative error. */
int store_story_get(struct store *st, const char *id, int revision, struct story *out);

/* Revision history: cb(revision, changed, created_at) oldest first. */
int store_story_revisions(struct store *st, const char *id,
			  void (*cb)(void *ud, int revision, const char *changed, int64_t created_at), void *ud);

enum store_order { STORE_ORDER_RECENT = 0, STORE_ORDER_SCORE = 1 };
struct store_query {
	const char *topic;  /* topic id filter, or NULL */
	const char *entity; /* entity id filter, or NULL */
	int64_t since;      /* published/ingested at or after (Unix), 0 = any */
	int limit;          /* 0 = 20 */
	int order;          /* enum store_order */
	int brief;          /* hand out only id, revision, published_at, scores
			     * and titles (no JSON parse): for listings */
};
/* Stories matching q, newest first (or by max score). cb gets each story,
 * lent for the call. Returns the count or negative. */
int store_list(struct store *st, const struct store_query *q, void (*cb)(void *ud, struct story *s), void *ud);

/* Full-text search (bot/search.c). query is normalised text (lower case,
 * Simplified); words are ANDed, each word a phrase of its units (words,
 * CJK characters), so CJK runs match as substrings, one character too.
 * Newest revision first. Returns the count or negative; -2 when the query
 * has no searchable characters. */
int store_search(struct store *st, const char *query, int limit, void (*cb)(void *ud, struct story *s), void *ud);
/* The same; brief as in struct store_query. */
int store_search_ex(struct store *st, const char *query, int limit, int brief,
		    void (*cb)(void *ud, struct story *s), void *ud);

int64_t store_story_count(struct store *st);

/* After the schema migration that introduced it, the search index is
 * rebuilt from the stored stories once (the app does it on open). */
int store_search_rebuild_needed(struct store *st); /* 1 yes, 0 no, negative error */
int store_search_rebuild(struct store *st, int64_t *count);
/* A bulk ingest that died holding search segments left a claim: re-index
 * the stories it names from their stored revisions (their own
 * transaction). A no-op while its holder lives. *count: stories. */
int store_search_recover(struct store *st, int64_t *count);
int store_search_stats(struct store *st, int64_t *segments, int64_t *bytes);

/* ---- rules, subscriptions, preferences ---------------------------------- */

struct store_rule {
	int64_t id;
	char *platform;
	char *target_kind; /* "channel" or "user" */
	char *target;      /* channel id or user id */
	char *expr;
	char *lang;   /* "en", "zh", "both" or NULL (default) */
	char *origin; /* "config" or "command" */
};
void store_rule_fini(struct store_rule *r);
/* Deep copy of src into *dst (owned by the caller: store_rule_fini). */
void store_rule_copy(struct store_rule *dst, const struct store_rule *src);

/* Insert a rule (dedup on platform, target_kind, target, expr): 0 added
 * (*id set), 1 already present (*id set). */
int store_rule_add(struct store *st, const char *platform, const char *target_kind, const char *target,
		   const char *expr, const char *lang, const char *origin, int64_t *id);
int store_rule_remove(struct store *st, int64_t id); /* 0 removed, 1 unknown */
/* All rules, or those of one (platform, target_kind, target) when given. */
int store_rules(struct store *st, const char *platform, const char *target_kind, const char *target,
		void (*cb)(void *ud, const struct store_rule *r), void *ud);
/* Drop every rule of an origin, or one rule if it has that origin. */
int store_rules_clear_origin(struct store *st, const char *origin);
int store_rule_origin_remove(struct store *st, int64_t id, const char *origin);

int store_pref_set(struct store *st, const char *platform, const char *user, const char *lang);
char *store_pref_get(struct store *st, const char *platform, const char *user); /* owned or NULL */

/* ---- alert ledger and outbox -------------------------------------------- */

/* 1 when (story, platform, target_kind, target) was already alerted. */
int store_alerted(struct store *st, const char *story_id, const char *platform, const char *target_kind,
		  const char *target);

struct store_outbox_row {
	int64_t id;
	char kind[8]; /* "alert", "update", "digest" */
	char *story_id;
	int revision;
	char *platform;
	char target_kind[8];
	char *target;
	char *reason;
	char *lang;
	char status[8]; /* queued, sending, sent, failed */
	int attempts;
	int64_t next_attempt_at;
	char *remote_id;
	char *error;
	int64_t created_at;
};
void store_outbox_row_fini(struct store_outbox_row *r);

/* Queue one decision (inside the story's transaction). An "alert" also
 * records the ledger entry. Returns the new row id or negative. */
int64_t store_outbox_add(struct store *st, const char *kind, const char *story_id, int revision, const char *platform,
			 const char *target_kind, const char *target, const char *reason, const char *lang,
			 int64_t now);

/* Claim up to max due rows for platform (NULL = any): queued rows whose
 * next_attempt_at <= now, and rows stuck in "sending" whose claim is older
 * than reclaim_after seconds (their sender died). Claimed rows become
 * "sending". Returns the number claimed into rows[] (caller finis them). */
int store_outbox_claim(struct store *st, const char *platform, int64_t now, int64_t reclaim_after, int max,
		       struct store_outbox_row *rows);
int store_outbox_sent(struct store *st, int64_t id, const char *remote_id, int64_t now);
/* Transient failure: back to queued with exponential backoff and jitter,
 * or failed for good after STORE_OUTBOX_MAX_ATTEMPTS. retry_after > 0
 * overrides the backoff (e.g. Retry-After). Permanent: failed with reason. */
#define STORE_OUTBOX_MAX_ATTEMPTS 10
int store_outbox_failed(struct store *st, int64_t id, int permanent, const char *error, int64_t retry_after,
			int64_t now);
/* Requeue rows left "sending" by this process (clean shutdown). */
int store_outbox_release(struct store *st, int64_t id);
/* Rows by status (NULL = all), oldest first. */
int store_outbox_list(struct store *st, const char *status, int limit,
		      void (*cb)(void *ud, const struct store_outbox_row *r), void *ud);
/* Remote id of the first sent alert for (story, platform, kind, target). Owned or NULL. */
char *store_alert_remote_id(struct store *st, const char *story_id, const char *platform, const char *target_kind,
			    const char *target);
/* Queued+sending count and the oldest queued created_at (0 if none). */
int store_outbox_depth(struct store *st, int64_t *depth, int64_t *oldest);
/* PRAGMA data_version: changes when another connection commits. */
int64_t store_data_version(struct store *st);

/* The backoff used for transient failures (exposed for tests): seconds. */
int64_t store_backoff(int attempts, uint64_t jitter_seed);

#endif
