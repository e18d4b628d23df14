/* app — the wiring of the core: config, store, normaliser, taxonomy and the
 * rule index, and the story pipeline that runs once per story revision:
 *
 *   id -> fingerprint (identical? no-op) -> normalise -> classify -> decide
 *      -> one transaction: revision + search text + topics + outbox rows
 *
 * Owns every core object it opens; app_close() releases them. Both the
 * daemon and one-shot CLI commands (`ainews ingest`) go through here, so a
 * story stored by cron is decided exactly as one from the webhook.
 */
#ifndef AINEWS_APP_H
#define AINEWS_APP_H

#include <stdint.h>
#include "config.h"
#include "store.h"
#include "story.h"

struct store;
struct normaliser;
struct topics;
struct rules_index;


struct app {
	struct config cfg;
	struct store *store;
	struct normaliser *norm;
	struct topics *topics;
	struct rules_index *rules;
	struct store_rule *rulev; /* every rule and subscription, sorted by id (= index id) */
	size_t nrules, caprules;
	int64_t (*clock)(void); /* time source; tests may replace it */
	int in_batch;           /* inside app_batch_begin() */
	int batch_failed;       /* a store error rolled the batch back */
	int batch_n;            /* stories written in this batch */
	int64_t batch_started_ms;
};

/* Batches: bulk ingest (the CLI) writes many whole stories per transaction,
 * and the search index writes the batch as one segment at COMMIT, because
 * committing every story (a segment and WAL frames each) costs more than
 * the story itself. Nothing is half-written either way; a crash loses
 * at most the uncommitted batch, which re-ingest restores. A store error
 * fails the whole batch: app_batch_commit() then returns -1. Commit when
 * app_batch_due() says so, and at the end.
 * 1,024 stories (at most half a second): the indexes keyed by story id
 * take their inserts at random places, and every commit rewrites each
 * page it touched; 1,024 stories a commit write 10% fewer bytes than 256
 * over 20,000 stories, and the saving grows with the store. */
#define APP_BATCH_STORIES 1024
#define APP_BATCH_MS 500
int app_batch_begin(struct app *a);
int app_batch_commit(struct app *a);
int app_batch_due(const struct app *a);

/* Open everything named by the config (path NULL = built-in default).
 * db_override replaces store.path. Syncs config rules into the store and
 * loads every rule and subscription into the index. 0 ok; negative with
 * *err owned. */
int app_open(struct app *a, const char *config_path, const char *db_override, char **err);
void app_close(struct app *a);
int64_t app_now(const struct app *a);

enum app_put_result { APP_PUT_NEW = 0, APP_PUT_REVISED = 1, APP_PUT_UNCHANGED = 2 };
struct app_put_info {
	int result;      /* enum app_put_result */
	int revision;    /* stored revision */
	char changed[96]; /* what changed, for revisions */
	int alerts, updates; /* outbox rows queued */
};
/* Run the pipeline for one parsed story (s is modified: id, revision,
 * topics, entities filled). no_alerts skips the decision step. 0 ok;
 * negative with *err owned (the story is not stored, nothing half-written). */
int app_put_story(struct app *a, struct story *s, int no_alerts, struct app_put_info *info, char **err);

/* Add a rule/subscription (validated by the rule parser first). 0 added,
 * 1 already present, negative with *err owned (a parse error names its
 * column). *id receives the rule id. */
int app_rule_add(struct app *a, const char *platform, const char *target_kind, const char *target,
		 const char *expr, const char *lang, const char *origin, int64_t *id, char **err);
int app_rule_remove(struct app *a, int64_t id);
const struct store_rule *app_rule_get(const struct app *a, int64_t id);
/* The canonical text of expr as stored rules have it (keywords are not
 * interned), or NULL when it does not parse. Owned. */
char *app_rule_canonical(struct app *a, const char *expr);

/* Why a stored story counts under a topic or entity (kind "topic" or
 * "entity"): the keywords, fields and counts, classified afresh from the
 * stored text. Owned, or NULL when the story or id is unknown. */
char *app_story_evidence(struct app *a, const char *story_id, const char *kind, const char *id);

/* Normalise text for search and matching. Owned. */
char *app_normalise(struct app *a, const char *text);

#endif
