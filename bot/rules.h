/* rules — the expression language of channel rules and user subscriptions
 * (DESIGN §4), and the index that decides which rules a story revision fires.
 *
 * One parser serves `/ainews subscribe ...`, `/ainews channel add ...` and the
 * "rules" of the config file. A parsed expression is a compact, self-contained
 * blob (one allocation: a pre-order node array plus its own copies of every
 * id and keyword text), so a million subscriptions cost tens of megabytes, not
 * a pointer tree per rule. The module owns those blobs and the index; it owns
 * nothing global. What a bare word means (topic, entity or keyword) is the
 * caller's business, supplied through struct rules_resolver.
 *
 * Grammar (keywords case-insensitive; full-width ASCII folded first):
 *   expr  := or ;  or := and (("or"|"||"|"或") and)* ;
 *   and   := not (("and"|"&&"|"和"|"且")? not)*        -- juxtaposition is AND
 *   not   := ("not"|"!"|"非"|"不") not | "(" expr ")" | cmp | match
 *   cmp   := ("hot"|"quality"|"impact"|"热度"|"质量"|"影响力")
 *            (">="|">"|"<="|"<"|"=="|"="|"!="|"≥"|"≤"|"≠") INT(0..100)
 *   match := "topic:" ID | "entity:" ID | "tag:" WORD | "kw:" STRING
 *          | "lang:" ("en"|"zh") | "source:" WORD | STRING | WORD
 * A bare WORD is a topic, else an entity, else a keyword; a quoted STRING
 * ("..." or “...”) on its own is always a keyword. Input is capped at
 * RULES_MAX_BYTES bytes and RULES_MAX_DEPTH levels of "(" / "not".
 */
#ifndef AINEWS_RULES_H
#define AINEWS_RULES_H

#include <stddef.h>
#include <stdint.h>

#define RULES_MAX_BYTES 512
#define RULES_MAX_DEPTH 32

enum { RULES_TOPIC = 0, RULES_ENTITY = 1 };

/* How bare words and kw: strings are resolved; supplied by the caller (the
 * core wires it to the taxonomy). Only used during rules_parse(); the parsed
 * expression keeps its own copies of every string it was given. */
struct rules_resolver {
	/* 0 + *kind (RULES_TOPIC/RULES_ENTITY) + *id (borrowed) when word names
	 * a topic or entity; -1 otherwise. May be NULL: nothing resolves. */
	int (*resolve)(void *ud, const char *word, int *kind, const char **id);
	/* Intern a keyword; returns its id >= 0 (the same text gives the same
	 * id). May be NULL, or return < 0: such a keyword never matches. */
	int (*keyword)(void *ud, const char *text);
	/* 0 when id is a known topic (kind RULES_TOPIC) / entity; validates
	 * "topic:X" / "entity:X" ("unknown topic \"X\"" otherwise). May be
	 * NULL = accept anything. An alias that resolve() maps to the same
	 * kind ("topic:算力") is accepted and stored as its canonical id. */
	int (*known)(void *ud, int kind, const char *id);
	void *ud;
};

/* column: 1-based, counted in characters of the original text (not bytes);
 * msg: what was expected, in English, without the "column N: " prefix. */
struct rules_error {
	int column;
	char msg[256];
};

struct rules_expr; /* opaque compiled expression */

/* Parse text. Returns an owned expression (free with rules_expr_free), or
 * NULL with *err filled (err may be NULL). r may be NULL: every bare word is
 * then a keyword that never matches — enough to validate syntax. Never
 * crashes on hostile input (invalid UTF-8, random bytes, deep nesting).
 * Both the input and its canonical text (rules_expr_string) must fit in
 * RULES_MAX_BYTES, so whatever is accepted can be stored and parsed back. */
struct rules_expr *rules_parse(const char *text, const struct rules_resolver *r, struct rules_error *err);
void rules_expr_free(struct rules_expr *e); /* NULL ok */

/* Canonical text, e.g. "topic:compute and impact >= 70". Parsing it again
 * yields the same text. Owned by the caller. */
char *rules_expr_string(const struct rules_expr *e);

/* What is known about one story revision. Arrays are borrowed (NULL allowed
 * when the count is 0); topic/entity ids, tags and source are compared
 * ASCII-case-insensitively. A score outside 0..100 counts as missing, and a
 * comparison on a missing score is false (under "!=" too). */
struct rules_facts {
	int scores[3]; /* hot, quality, impact (STORY_HOT..); -1 = missing */
	const char *const *topics;
	size_t ntopics;
	const char *const *entities;
	size_t nentities;
	const char *const *tags; /* both EN and ZH of every tag pair */
	size_t ntags;
	const int *keywords; /* keyword ids present in the story text */
	size_t nkeywords;
	unsigned langs; /* bit 0 = en, bit 1 = zh */
	const char *source; /* may be NULL */
};

/* 1 when e is true for f, 0 when false. */
int rules_eval(const struct rules_expr *e, const struct rules_facts *f);

/* Human reason for a true evaluation: the atoms that made it true, e.g.
 * "impact 72 ≥ 70, topic compute" (every true branch of an "or" is named;
 * a true "not X" reads "not X"). Owned; "" when e is false for f. */
char *rules_explain(const struct rules_expr *e, const struct rules_facts *f);

/* The index decides with candidate lists instead of evaluating every rule.
 * Each rule gets a guard: atoms at least one of which must hold whenever the
 * rule holds (for "and" the most selective child, for "or" the union). The
 * rule is filed in the posting list of each guard atom (topic, entity,
 * keyword, tag, source, lang, or a per-score threshold bucket); rules with no
 * guard ("not ...", "hot < 30") are evaluated for every story. Candidates
 * are deduplicated with a per-call generation stamp and evaluated in full,
 * except "direct" rules — a lone atom, or an atom and one comparison or
 * lang: test ("compute impact>=70") — which their posting list decides from
 * the entry itself, without touching the rule. */
struct rules_index;

struct rules_index *rules_index_new(void); /* owned; free with rules_index_free */
void rules_index_free(struct rules_index *ix); /* frees every expression it holds; NULL ok */
/* Add a rule under a caller-chosen id; takes ownership of e (NULL e is
 * ignored). An existing rule with the same id is replaced and freed. */
void rules_index_add(struct rules_index *ix, uint64_t rule_id, struct rules_expr *e);
/* 0 removed (and its expression freed), -1 unknown id. */
int rules_index_remove(struct rules_index *ix, uint64_t rule_id);
size_t rules_index_count(const struct rules_index *ix);
/* The expression stored under rule_id, borrowed until the rule is removed
 * or replaced; NULL when unknown. */
const struct rules_expr *rules_index_get(const struct rules_index *ix, uint64_t rule_id);
/* Call cb once for every rule that is true for f (each rule at most once per
 * call, in no particular order). cb must not add or remove rules. Returns the
 * number of matches. */
size_t rules_index_match(struct rules_index *ix, const struct rules_facts *f,
			 void (*cb)(void *ud, uint64_t rule_id), void *ud);
/* Bytes held by the index and its expressions (requested sizes; allocator
 * overhead not included). */
size_t rules_index_memory(const struct rules_index *ix);

/* Counters for the benchmark and /ainews status. */
struct rules_index_stats {
	size_t rules;           /* rules held */
	size_t always;          /* rules without a guard, evaluated for every story */
	size_t direct;          /* rules decided by their posting list, never evaluated */
	size_t postings;        /* posting-list entries over all lists */
	size_t last_candidates; /* distinct rules touched by the last match */
	size_t last_evaluated;  /* of those, fully evaluated with rules_eval */
};
void rules_index_stats(const struct rules_index *ix, struct rules_index_stats *st);

#endif
