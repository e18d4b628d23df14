/* app — core wiring and the per-revision story pipeline. */
#define _GNU_SOURCE
#include "app.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "normalise.h"
#include "rules.h"
#include "store.h"
#include "topics.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_clock(void)
{
	return (int64_t)time(NULL);
}

int64_t app_now(const struct app *a)
{
	return a->clock ? a->clock() : wall_clock();
}

/* A relative resource path: as given when it exists from the working
 * directory, else next to the binary (bot/ainews -> ../config/...), so the
 * bot runs from any directory. Owned. */
static char *resource_path(const char *p)
{
	struct stat sb;
	if (p[0] == '/' || stat(p, &sb) == 0)
		return xstrdup(p);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *dir = dirname(exe); /* .../bot or .../tests */
		char *cand = xasprintf("%s/../%s", dir, p);
		if (stat(cand, &sb) == 0)
			return cand;
		free(cand);
	}
	return xstrdup(p);
}

/* ---- rules resolver over the taxonomy ------------------------------------- */

static int res_resolve(void *ud, const char *word, int *kind, const char **id)
{
	struct app *a = ud;
	size_t idx;
	int k;
	if (topics_resolve(a->topics, word, &k, &idx) != 0)
		return -1;
	*kind = k == TOPICS_TOPIC ? RULES_TOPIC : RULES_ENTITY;
	*id = topics_get(a->topics, k, idx)->id;
	return 0;
}

static int res_keyword(void *ud, const char *text)
{
	struct app *a = ud;
	return topics_add_keyword(a->topics, text);
}

static int res_known(void *ud, int kind, const char *id)
{
	struct app *a = ud;
	int tk = kind == RULES_TOPIC ? TOPICS_TOPIC : TOPICS_ENTITY;
	for (size_t i = 0, n = topics_count(a->topics, tk); i < n; i++)
		if (!strcasecmp(topics_get(a->topics, tk, i)->id, id))
			return 0;
	return -1;
}

static struct rules_expr *parse_rule(struct app *a, const char *expr, char **err)
{
	struct rules_resolver r = {res_resolve, res_keyword, res_known, a};
	struct rules_error e = {0};
	struct rules_expr *x = rules_parse(expr, &r, &e);
	if (!x && err)
		*err = xasprintf("column %d: %s", e.column, e.msg);
	return x;
}

char *app_rule_canonical(struct app *a, const char *expr)
{
	struct rules_resolver r = {res_resolve, NULL, res_known, a}; /* no keyword interning */
	struct rules_expr *x = rules_parse(expr, &r, NULL);
	if (!x)
		return NULL;
	char *s = rules_expr_string(x);
	rules_expr_free(x);
	return s;
}

/* ---- rule table ----------------------------------------------------------- */

static size_t rule_pos(const struct app *a, int64_t id)
{
	size_t lo = 0, hi = a->nrules;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a->rulev[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct store_rule *app_rule_get(const struct app *a, int64_t id)
{
	size_t i = rule_pos(a, id);
	return i < a->nrules && a->rulev[i].id == id ? &a->rulev[i] : NULL;
}

static void rule_table_put(struct app *a, const struct store_rule *r)
{
	size_t i = rule_pos(a, r->id);
	if (i < a->nrules && a->rulev[i].id == r->id) {
		store_rule_fini(&a->rulev[i]);
	} else {
		if (a->nrules == a->caprules) {
			a->caprules = a->caprules ? a->caprules * 2 : 16;
			a->rulev = xrealloc(a->rulev, a->caprules * sizeof *a->rulev);
		}
		memmove(&a->rulev[i + 1], &a->rulev[i], (a->nrules - i) * sizeof *a->rulev);
		a->nrules++;
	}
	store_rule_copy(&a->rulev[i], r);
}

static void load_rule_cb(void *ud, const struct store_rule *r)
{
	struct app *a = ud;
	char *err = NULL;
	struct rules_expr *x = parse_rule(a, r->expr, &err);
	if (!x) {
		log_warn("rule %lld (%s %s %s) no longer parses: %s; ignored", (long long)r->id, r->platform,
			 r->target_kind, r->target, err);
		free(err);
		return;
	}
	rules_index_add(a->rules, (uint64_t)r->id, x);
	rule_table_put(a, r);
}

int app_rule_add(struct app *a, const char *platform, const char *target_kind, const char *target,
		 const char *expr, const char *lang, const char *origin, int64_t *id, char **err)
{
	struct rules_expr *x = parse_rule(a, expr, err);
	if (!x)
		return -1;
	char *canon = rules_expr_string(x);
	int64_t rid = 0;
	int rc = store_rule_add(a->store, platform, target_kind, target, canon, lang, origin, &rid);
	if (rc < 0) {
		*err = xasprintf("cannot store the rule: %s", store_errmsg(a->store));
		rules_expr_free(x);
		free(canon);
		return -1;
	}
	struct store_rule r = {rid, (char *)platform, (char *)target_kind, (char *)target, canon, (char *)lang,
			       (char *)origin};
	rules_index_add(a->rules, (uint64_t)rid, x);
	rule_table_put(a, &r);
	free(canon);
	if (id)
		*id = rid;
	return rc;
}

int app_rule_remove(struct app *a, int64_t id)
{
	int rc = store_rule_remove(a->store, id);
	if (rc != 0)
		return rc;
	rules_index_remove(a->rules, (uint64_t)id);
	size_t i = rule_pos(a, id);
	if (i < a->nrules && a->rulev[i].id == id) {
		store_rule_fini(&a->rulev[i]);
		memmove(&a->rulev[i], &a->rulev[i + 1], (a->nrules - i - 1) * sizeof *a->rulev);
		a->nrules--;
	}
	return 0;
}

/* Config rules are the config's: at every start the stored set is made to
 * match the file (new rules added, removed ones deleted, unchanged ones keep
 * their ids) so an edited config takes effect and a removed rule stops. */
struct prune_ctx {
	int64_t *keep;
	size_t nkeep;
	struct strv drop; /* ids as text, removed after the scan */
};

static void prune_cb(void *ud, const struct store_rule *r)
{
	struct prune_ctx *p = ud;
	for (size_t i = 0; i < p->nkeep; i++)
		if (p->keep[i] == r->id)
			return;
	strv_push_owned(&p->drop, xasprintf("%lld", (long long)r->id));
}

static int sync_config_rules(struct app *a, char **err)
{
	struct prune_ctx p = {xcalloc(a->cfg.nrules + 1, sizeof(int64_t)), 0, {0}};
	if (store_begin(a->store))
		goto fail;
	for (size_t i = 0; i < a->cfg.nrules; i++) {
		const struct config_rule *r = &a->cfg.rules[i];
		char *perr = NULL;
		struct rules_expr *x = parse_rule(a, r->expr, &perr);
		if (!x) {
			*err = xasprintf("%s: $.rules[%zu].expr: %s", a->cfg.path, i, perr);
			free(perr);
			store_rollback(a->store);
			free(p.keep);
			return -1;
		}
		char *canon = rules_expr_string(x);
		rules_expr_free(x);
		int rc = store_rule_add(a->store, r->platform, "channel", r->channel, canon, r->lang, "config",
					&p.keep[p.nkeep]);
		free(canon);
		if (rc < 0)
			goto fail;
		p.nkeep++;
	}
	if (store_rules(a->store, NULL, NULL, NULL, prune_cb, &p) < 0)
		goto fail;
	for (size_t i = 0; i < p.drop.n; i++) {
		int64_t id = strtoll(p.drop.v[i], NULL, 10);
		if (store_rule_origin_remove(a->store, id, "config") < 0)
			goto fail;
	}
	if (store_commit(a->store))
		goto fail;
	free(p.keep);
	strv_free(&p.drop);
	return 0;
fail:
	*err = xasprintf("rules: %s", store_errmsg(a->store));
	store_rollback(a->store);
	free(p.keep);
	strv_free(&p.drop);
	return -1;
}

int app_open(struct app *a, const char *config_path, const char *db_override, char **err)
{
	memset(a, 0, sizeof *a);
	if (config_load(config_path, &a->cfg, err))
		return -1;
	if (db_override) {
		free(a->cfg.store_path);
		a->cfg.store_path = xstrdup(db_override);
	}
	/* var/ainews.db: create var/ on first use. */
	char *dir = xstrdup(a->cfg.store_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir(dir, 0755);
	}
	free(dir);
	if (store_open(a->cfg.store_path, &a->store, err))
		goto fail;
	if (!(a->norm = normaliser_new(err)))
		goto fail;
	store_set_normaliser(a->store, a->norm);
	/* A database from before the search index: index what it holds. */
	int need = store_search_rebuild_needed(a->store);
	if (need > 0) {
		int64_t n = 0;
		log_info("store: building the search index over the stored stories");
		if (store_search_rebuild(a->store, &n)) {
			*err = xasprintf("search index rebuild: %s", store_errmsg(a->store));
			goto fail;
		}
		log_info("store: search index built (%lld stories)", (long long)n);
	} else if (need < 0) {
		*err = xasprintf("store: %s", store_errmsg(a->store));
		goto fail;
	}
	/* An ingest that died holding search segments (store_bulk()): index
	 * its stories again; a no-op while it runs. */
	int64_t nrec = 0;
	if (store_search_recover(a->store, &nrec))
		log_warn("store: search index: %s", store_errmsg(a->store));
	else if (nrec)
		log_info("store: search index: %lld stories re-indexed", (long long)nrec);
	char *tp = resource_path(a->cfg.topics_path);
	a->topics = topics_load(tp, a->norm, err);
	free(tp);
	if (!a->topics)
		goto fail;
	a->rules = rules_index_new();
	if (sync_config_rules(a, err))
		goto fail;
	if (store_rules(a->store, NULL, NULL, NULL, load_rule_cb, a) < 0) {
		*err = xasprintf("rules: %s", store_errmsg(a->store));
		goto fail;
	}
	return 0;
fail:
	app_close(a);
	return -1;
}

void app_close(struct app *a)
{
	for (size_t i = 0; i < a->nrules; i++)
		store_rule_fini(&a->rulev[i]);
	free(a->rulev);
	rules_index_free(a->rules);
	topics_free(a->topics);
	normaliser_free(a->norm);
	store_close(a->store);
	config_fini(&a->cfg);
	memset(a, 0, sizeof *a);
}

char *app_normalise(struct app *a, const char *text)
{
	size_t n;
	return normalise_text(a->norm, text, strlen(text), &n);
}

/* ---- the pipeline ------------------------------------------------------------ */

struct decision {
	const struct store_rule *rule;
};

struct decide_ctx {
	struct app *a;
	struct decision *v;
	size_t n, cap;
};

static void decide_cb(void *ud, uint64_t rule_id)
{
	struct decide_ctx *d = ud;
	const struct store_rule *r = app_rule_get(d->a, (int64_t)rule_id);
	if (!r)
		return;
	/* One row per target: the first matching rule (lowest id) explains it. */
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->v[i].rule->platform, r->platform) && !strcmp(d->v[i].rule->target_kind, r->target_kind) &&
		    !strcmp(d->v[i].rule->target, r->target)) {
			if (r->id < d->v[i].rule->id)
				d->v[i].rule = r;
			return;
		}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->v = xrealloc(d->v, d->cap * sizeof *d->v);
	}
	d->v[d->n++] = (struct decision){r};
}

/* One story is one transaction, or part of the batch's transaction, so a
 * crash never leaves half of one. No savepoints inside a batch: the search
 * index holds the batch's documents in memory until COMMIT, and a partial
 * rollback would have to unpick them. A store error inside a batch
 * therefore fails the whole batch (rolled back, nothing of it stored; the
 * caller reports it). */
static int tx_begin(struct app *a)
{
	return a->in_batch ? 0 : store_begin(a->store);
}

static int tx_end(struct app *a)
{
	return a->in_batch ? 0 : store_commit(a->store);
}

static void tx_abort(struct app *a)
{
	if (a->in_batch) {
		store_rollback(a->store);
		a->in_batch = 0;
		a->batch_failed = 1;
	} else {
		store_rollback(a->store);
	}
}

int app_batch_begin(struct app *a)
{
	if (a->in_batch)
		return 0;
	if (store_begin(a->store))
		return -1;
	a->in_batch = 1;
	a->batch_failed = 0;
	a->batch_n = 0;
	a->batch_started_ms = mono_ms();
	return 0;
}

int app_batch_commit(struct app *a)
{
	if (a->batch_failed) {
		a->batch_failed = 0;
		return -1;
	}
	if (!a->in_batch)
		return 0;
	a->in_batch = 0;
	if (store_commit(a->store)) {
		store_rollback(a->store);
		return -1;
	}
	return 0;
}

int app_batch_due(const struct app *a)
{
	return a->in_batch && (a->batch_n >= APP_BATCH_STORIES || mono_ms() - a->batch_started_ms >= APP_BATCH_MS);
}

static void norm_free(char *norm[TOPICS_NFIELDS])
{
	for (int f = 0; f < TOPICS_NFIELDS; f++)
		free(norm[f]);
}

int app_put_story(struct app *a, struct story *s, int no_alerts, struct app_put_info *info, char **err)
{
	memset(info, 0, sizeof *info);
	int64_t now = app_now(a);
	story_assign_id(s);
	if (!s->source)
		s->source = xstrdup("file");
	if (s->published_at <= 0)
		s->published_at = now;
	if (s->updated_at <= 0)
		s->updated_at = s->published_at;

	/* An identical re-ingest is decided before the expensive part. The
	 * fingerprint leaves out topics/entities (derived) and times. */
	uint64_t fp = story_fingerprint(s);
	int head_rev = 0, rc;
	uint64_t head_fp = 0;
	int head_rc = store_story_head(a->store, s->id, &head_rev, &head_fp);
	if (head_rc == 1 && head_fp == fp) {
		info->result = APP_PUT_UNCHANGED;
		info->revision = head_rev;
		return 0;
	}

	/* Classification: topics/entities are part of what is stored, and the
	 * input's own lists are replaced by what the taxonomy finds. */
	struct topics_result tr;
	char *norm[TOPICS_NFIELDS];
	size_t normlen[TOPICS_NFIELDS];
	if (topics_classify_keep(a->topics, s, &tr, norm, normlen)) {
		*err = xstrdup("classification failed");
		return -1;
	}
	strv_free(&s->topics);
	strv_free(&s->entities);
	for (size_t i = 0; i < tr.ntopics; i++)
		strv_push(&s->topics, topics_get(a->topics, TOPICS_TOPIC, (size_t)tr.topic_idx[i])->id);
	for (size_t i = 0; i < tr.nentities; i++)
		strv_push(&s->entities, topics_get(a->topics, TOPICS_ENTITY, (size_t)tr.entity_idx[i])->id);

	if (a->batch_failed) {
		*err = xstrdup("store: the batch this story belongs to failed");
		topics_result_free(&tr);
		norm_free(norm);
		return -1;
	}
	/* In a batch the first look was already inside its transaction, and
	 * nothing has been written since; otherwise look again inside ours. */
	int looked_in_tx = a->in_batch;
	if (tx_begin(a)) {
		*err = xasprintf("store: %s", store_errmsg(a->store));
		topics_result_free(&tr);
		norm_free(norm);
		return -1;
	}
	rc = looked_in_tx ? head_rc : store_story_head(a->store, s->id, &head_rev, &head_fp);
	if (rc < 0)
		goto store_fail;
	if (rc == 1 && head_fp == fp) {
		if (!a->in_batch)
			store_rollback(a->store);
		info->result = APP_PUT_UNCHANGED;
		info->revision = head_rev;
		topics_result_free(&tr);
		norm_free(norm);
		return 0;
	}
	struct sbuf changed = {0};
	if (rc == 1) {
		struct story old;
		story_init(&old);
		if (store_story_get(a->store, s->id, 0, &old) == 1) {
			story_diff(&old, s, &changed);
			if (old.published_at) /* first seen stays first seen */
				s->published_at = old.published_at;
		}
		story_free(&old);
		if (!changed.len)
			sbuf_adds(&changed, "other");
	}
	s->revision = head_rev + 1;
	info->result = rc == 1 ? APP_PUT_REVISED : APP_PUT_NEW;
	info->revision = s->revision;
	snprintf(info->changed, sizeof info->changed, "%s", changed.len ? changed.s : "new");

	/* Search text: the classifier's normalised fields (case, width,
	 * Traditional -> Simplified), so each story is normalised once. */
	rc = store_story_put(a->store, s, fp, info->result == APP_PUT_NEW ? "new" : changed.s,
			     (const char *const *)norm, normlen, now);
	sbuf_free(&changed);
	if (rc)
		goto store_fail;

	if (!no_alerts) {
		const char **tags = xcalloc(s->ntags * 2 + 1, sizeof *tags);
		size_t ntags = 0;
		for (size_t i = 0; i < s->ntags; i++) {
			if (s->tags[i].en)
				tags[ntags++] = s->tags[i].en;
			if (s->tags[i].zh)
				tags[ntags++] = s->tags[i].zh;
		}
		struct rules_facts f = {
			.scores = {s->scores[0], s->scores[1], s->scores[2]},
			.topics = (const char *const *)s->topics.v,
			.ntopics = s->topics.n,
			.entities = (const char *const *)s->entities.v,
			.nentities = s->entities.n,
			.tags = tags,
			.ntags = ntags,
			.keywords = tr.keyword_ids,
			.nkeywords = tr.nkeywords,
			.langs = (story_has_lang(s, STORY_EN) ? 1u : 0u) | (story_has_lang(s, STORY_ZH) ? 2u : 0u),
			.source = s->source,
		};
		struct decide_ctx d = {a, NULL, 0, 0};
		rules_index_match(a->rules, &f, decide_cb, &d);
		for (size_t i = 0; i < d.n && rc == 0; i++) {
			const struct store_rule *r = d.v[i].rule;
			/* A story stored for the first time has no alerts yet (the
			 * ledger's rows are written after their story's, and stories
			 * are never deleted): no need to look. */
			int already = info->result == APP_PUT_NEW
					      ? 0
					      : store_alerted(a->store, s->id, r->platform, r->target_kind, r->target);
			if (already < 0) {
				rc = -1;
				break;
			}
			/* A target hears about a story once; later revisions that
			 * still match reach it as updates (thread replies). */
			const struct rules_expr *x = rules_index_get(a->rules, (uint64_t)r->id);
			char *why = x ? rules_explain(x, &f) : xstrdup("");
			char *reason = xasprintf("%s%s%s (%s #%lld)", why, *why ? " — " : "", r->expr,
						 !strcmp(r->target_kind, "user") ? "subscription" : "rule",
						 (long long)r->id);
			free(why);
			int64_t oid = store_outbox_add(a->store, already ? "update" : "alert", s->id, s->revision,
						       r->platform, r->target_kind, r->target, reason, r->lang, now);
			free(reason);
			if (oid < 0)
				rc = -1;
			else if (already)
				info->updates++;
			else
				info->alerts++;
		}
		free(d.v);
		free(tags);
		if (rc)
			goto store_fail;
	}
	topics_result_free(&tr);
	norm_free(norm);
	if (tx_end(a)) {
		*err = xasprintf("store: %s", store_errmsg(a->store));
		tx_abort(a);
		return -1;
	}
	a->batch_n++;
	return 0;

store_fail:
	*err = xasprintf("store: %s", store_errmsg(a->store));
	tx_abort(a);
	topics_result_free(&tr);
	norm_free(norm);
	return -1;
}

char *app_story_evidence(struct app *a, const char *story_id, const char *kind, const char *id)
{
	int k = !strcmp(kind, "topic") ? TOPICS_TOPIC : !strcmp(kind, "entity") ? TOPICS_ENTITY : -1;
	if (k < 0)
		return NULL;
	int idx = topics_find(a->topics, k, id);
	struct story s;
	story_init(&s);
	char *ev = NULL;
	if (idx >= 0 && store_story_get(a->store, story_id, 0, &s) == 1) {
		struct topics_result tr;
		if (topics_classify(a->topics, &s, &tr) == 0) {
			ev = topics_evidence(a->topics, &tr, k, idx);
			topics_result_free(&tr);
		}
	}
	story_free(&s);
	return ev;
}
