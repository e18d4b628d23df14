/* topics — the taxonomy and the keyword matcher (DESIGN §3).
 *
 * Owns the taxonomy loaded from config/topics.json (topics, entities, their
 * display names and keywords, the story-tag map, field weights and the
 * inclusion threshold), the users' free-text keywords, and one
 * Aho-Corasick automaton compiled over all of them. Classifying a story
 * normalises each field once (normalise.h), runs the automaton once over it,
 * and keeps the evidence: which keyword matched, in which field, how often.
 *
 * Matching is on normalised UTF-8 bytes. A keyword that starts (ends) with an
 * ASCII letter or digit matches only where the character before (after) it
 * is not [a-z0-9] or is the edge of the text, so a CJK neighbour counts as a
 * boundary ("AI" matches in "AI算力", not in "said"); at the end a plural
 * "s"/"es" is accepted ("GPU" matches "GPUs"). A keyword written with a
 * trailing '*' is a prefix ("comput*" matches "computing"). CJK keywords
 * match as substrings. A match inside a longer match for the same topic,
 * entity or keyword counts once, under the longer spelling ("Noam Shazeer"
 * is not also a "Shazeer"; 大模型 is not also a 模型).
 *
 * The automaton is a DFA over byte classes, dense for the states nearest the
 * root (where a scan spends nearly all its time) and sparse with failure
 * links beyond a memory budget, so 10^5 user keywords still fit. It is built
 * lazily: topics_add_keyword() only marks it stale.
 *
 * A struct topics borrows its normaliser for its whole lifetime and is not
 * thread-safe (scans reuse scratch space and may rebuild the automaton).
 * Every string it hands out is borrowed and lives as long as the topics.
 */
#ifndef AINEWS_TOPICS_H
#define AINEWS_TOPICS_H

#include <stddef.h>

#include "normalise.h"
#include "story.h"

enum { TOPICS_TOPIC = 0, TOPICS_ENTITY = 1, TOPICS_KEYWORD = 2 };
/* The story's text fields (STORY_F_*), then its tags. */
enum {
	TOPICS_F_TITLE = STORY_F_TITLE,
	TOPICS_F_SUMMARY = STORY_F_SUMMARY,
	TOPICS_F_TLDR = STORY_F_TLDR,
	TOPICS_F_KEYDATA = STORY_F_KEYDATA,
	TOPICS_F_ANALYSIS = STORY_F_ANALYSIS, /* analysis, insights and FAQ */
	TOPICS_F_TAGS = STORY_NTEXT,
	TOPICS_NFIELDS
};
/* "title", "summary", "tldr", "key_data", "analysis", "tags" */
extern const char *const topics_field_name[TOPICS_NFIELDS];

struct topics_entry {
	const char *id, *name_en, *name_zh; /* borrowed from the taxonomy */
};

struct topics;

/* Load a taxonomy file (format: its "_doc" key). Errors name the file and
 * the JSON path, e.g. "config/topics.json: topics[3].keywords[2]: not a
 * string". Borrows n for the lifetime of the result (NULL: no Traditional →
 * Simplified). Returns NULL with an owned *err (err may be NULL) on failure. */
struct topics *topics_load(const char *path, struct normaliser *n, char **err);
/* Memory for the automaton's dense rows (default 8 MiB: the whole taxonomy
 * dense, ~1.6 MB, fastest). A daemon scanning a story now and then can
 * give ~256 KB: deeper states then take a slower path, with the same
 * matches. */
void topics_set_dense_budget(struct topics *t, size_t bytes);
/* The same from JSON text; origin names it in error messages. */
struct topics *topics_load_text(const char *json, size_t len, const char *origin,
				struct normaliser *n, char **err);
void topics_free(struct topics *t); /* NULL is fine */

/* Number of topics, entities or user keywords. */
size_t topics_count(const struct topics *t, int kind);
/* A topic or entity; NULL when kind is TOPICS_KEYWORD or index is out of range. */
const struct topics_entry *topics_get(const struct topics *t, int kind, size_t index);
/* Index of the topic or entity with exactly this id, or -1. */
int topics_find(const struct topics *t, int kind, const char *id);

/* Resolve a user's bare word ("compute", "算力", "Nvidia", "輝達": an id, an
 * EN or ZH display name, or any keyword/alias, compared after normalisation)
 * to a topic or an entity. Ids and names are tried before keywords, topics
 * before entities at each step. Returns 0 and sets *kind and *index, or -1
 * when nothing matches exactly. */
int topics_resolve(struct topics *t, const char *word, int *kind, size_t *index);

/* Up to max topics/entities closest to an unknown word (exact, then shared
 * prefix, substring, small edit distance on ids, names and keywords), best
 * first, topics before entities on ties. Fills kinds[i]/indexes[i]; returns
 * how many. */
size_t topics_suggest(const struct topics *t, const char *word, int *kinds, size_t *indexes,
		      size_t max);

/* Add a user keyword (a subscription's kw: or free word; trailing '*' makes
 * it a prefix). Keywords are interned by normalised form, so "輝達" and
 * "辉达" get the same id. A keyword that is exactly an entity's id, name or
 * alias also matches wherever the entity's other aliases do ("英伟达" fires
 * on "輝達" and "Nvidia"), since no normalisation relates those spellings.
 * Returns the keyword id (>= 0), or -1 when the word is empty after
 * normalisation. The automaton is rebuilt on the next scan. */
int topics_add_keyword(struct topics *t, const char *keyword);
/* The normalised form of keyword id ("noam shazeer", "comput*"), or NULL. */
const char *topics_keyword(const struct topics *t, int id);

struct topics_hit {
	int kind;            /* TOPICS_TOPIC, TOPICS_ENTITY or TOPICS_KEYWORD */
	int index;           /* topic/entity index or keyword id */
	int field;           /* TOPICS_F_* */
	int count;           /* mentions of this pattern in this field */
	const char *pattern; /* as written in the taxonomy or by the user; borrowed */
};

/* Zero-initialised is empty. Arrays are owned by the result. */
struct topics_result {
	struct topics_hit *hits; /* one row per (kind, index, field, pattern) */
	size_t nhits, hits_cap;
	int *topic_idx; /* decided topics, by score descending */
	size_t ntopics;
	int *entity_idx; /* decided entities, by score descending */
	size_t nentities;
	int *keyword_ids; /* user keywords present anywhere, ascending */
	size_t nkeywords;
	size_t bytes_scanned; /* normalised bytes the automaton ran over */
};

/* Classify a story: normalise title, summary, TL;DR, key data and analysis
 * (+ insights and FAQ), both languages of a field together, run the
 * automaton once per field, map story tags through the taxonomy's tag map
 * (either side of a pair; an unmapped tag that names a topic or entity
 * counts too), then topics_decide(). Resets *out first (it needs no prior
 * initialisation). Returns 0; free with topics_result_free(). */
int topics_classify(struct topics *t, const struct story *s, struct topics_result *out);
/* The same, also handing back each field's normalised text (owned by the
 * caller; NULL for empty fields) so the pipeline indexes it for search
 * without normalising twice. */
int topics_classify_keep(struct topics *t, const struct story *s, struct topics_result *out,
			 char *norm_out[TOPICS_NFIELDS], size_t len_out[TOPICS_NFIELDS]);

/* Scan already-normalised text of one field and add its matches to out's
 * hits (out must be zeroed or hold earlier hits). Does not decide. */
void topics_scan(struct topics *t, const char *norm, size_t len, int field,
		 struct topics_result *out);

/* Weighted score of a topic/entity/keyword: sum over its hits of
 * field weight x count. */
int topics_score(const struct topics *t, const struct topics_result *r, int kind, int index);
/* Recompute topic_idx, entity_idx and keyword_ids from the hits: a topic or
 * entity is in when its score reaches the taxonomy's threshold. */
void topics_decide(const struct topics *t, struct topics_result *r);
/* Replace s->topics and s->entities with the ids of r's decided lists. */
void topics_apply(const struct topics *t, const struct topics_result *r, struct story *s);
void topics_result_free(struct topics_result *r); /* resets to empty */

/* Evidence for humans, patterns by count: "compute: 算力×3 (title, analysis),
 * gigawatt×2 (summary)"; "compute: no match" without hits. Owned string. */
char *topics_evidence(const struct topics *t, const struct topics_result *r, int kind, int index);

/* The vector walk of story scans (AVX-512, 32 walks at once): on where the
 * CPU has it unless AINEWS_SIMD=0 is set; tests turn it off and on to
 * compare. Returns whether it is on. */
int topics_set_simd(struct topics *t, int on);
/* How many scans the vector walk did so far. */
size_t topics_vector_scans(const struct topics *t);

/* Bytes held by the taxonomy, keywords and automaton (for benchmarks). */
size_t topics_memory(const struct topics *t);
/* Shape of the automaton, rebuilt first if stale (for tests and benchmarks):
 * states, states with dense rows, byte classes. Any pointer may be NULL. */
void topics_automaton_stats(struct topics *t, size_t *states, size_t *dense, size_t *classes);

#endif
