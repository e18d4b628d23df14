/* story — the one model every module speaks (DESIGN §2).
 *
 * A struct story owns every string and vector in it; story_free() releases
 * them all. Missing values are NULL strings, empty vectors, or score -1:
 * never invented. Language-indexed fields use STORY_EN / STORY_ZH.
 */
#ifndef AINEWS_STORY_H
#define AINEWS_STORY_H

#include <stdint.h>
#include <stddef.h>
#include "util.h"

enum { STORY_EN = 0, STORY_ZH = 1, STORY_NLANG = 2 };
enum { STORY_HOT = 0, STORY_QUALITY = 1, STORY_IMPACT = 2, STORY_NSCORES = 3 };
#define STORY_SCORE_NONE (-1)

extern const char *const story_lang_name[STORY_NLANG];     /* "en", "zh" */
extern const char *const story_score_name[STORY_NSCORES];  /* "hot", "quality", "impact" */

struct story_faq {
	char *q, *a;
};

struct story_faqv {
	struct story_faq *v;
	size_t n, cap;
};

struct story_tag {
	char *en, *zh; /* either may be NULL */
};

struct story {
	char *id;
	char *source;
	char *url;
	char *url_zh;
	char *title[STORY_NLANG];
	char *summary[STORY_NLANG];
	int scores[STORY_NSCORES];         /* 0..100, or STORY_SCORE_NONE */
	struct strv tldr[STORY_NLANG];
	struct strv key_data[STORY_NLANG]; /* rows, cells joined by " | " */
	char *analysis[STORY_NLANG];       /* paragraphs separated by "\n\n" */
	struct strv insights[STORY_NLANG];
	struct story_faqv faq[STORY_NLANG];
	struct story_tag *tags;
	size_t ntags;
	struct strv topics;   /* topic ids, filled by classification */
	struct strv entities; /* entity ids, filled by classification */
	int64_t published_at; /* Unix seconds, 0 = unknown */
	int64_t updated_at;   /* Unix seconds, 0 = unknown */
	int revision;         /* 0 until stored */
};

/* Initialise to the empty story (all scores STORY_SCORE_NONE). */
void story_init(struct story *s);
void story_free(struct story *s); /* frees members; s itself is the caller's */

void story_faq_push(struct story_faqv *fv, const char *q, const char *a); /* copies */
void story_tag_push(struct story *s, const char *en, const char *zh);     /* copies */

/* Does the story have any text in language l? */
int story_has_lang(const struct story *s, int l);

/* The primary title: EN if present, else ZH, else "". Borrowed. */
const char *story_title(const struct story *s);

/* Fill s->id when empty: derived from url, else from the normalised primary
 * title ("s-" + 12 hex digits). Stable across re-ingestion. */
void story_assign_id(struct story *s);

/* Serialise to the DESIGN §2 JSON. public_url (may be NULL) gives
 * analysis_url = public_url + "/s/" + id. Returns an owned string. */
char *story_to_json(const struct story *s, const char *public_url, int pretty);

/* Parse story JSON. Input may be one object, an array, or JSON Lines.
 * For each element the callback gets either a parsed story (ok, err NULL) or
 * an error message naming the JSON path / line (story NULL). The story is lent
 * for the call; the callback may move its members out by swapping with an
 * empty story. `where` is "line N" for JSON Lines or "[i]" for arrays.
 * Returns the number of elements rejected, or -1 when the text is not JSON
 * at all (err_out then holds an owned message). */
typedef void (*story_json_cb)(void *ud, struct story *s, const char *where, const char *err);
int story_from_json_text(const char *text, size_t len, story_json_cb cb, void *ud, char **err_out);

/* The text fields a story is matched and searched by. */
enum { STORY_F_TITLE, STORY_F_SUMMARY, STORY_F_TLDR, STORY_F_KEYDATA, STORY_F_ANALYSIS, STORY_NTEXT };
/* Append text field f (STORY_F_*) of both languages to b: the analysis
 * field holds the analysis, insights and FAQ. Items and languages are
 * joined by " | ", so a phrase never runs from one into the next. */
void story_field_text(const struct story *s, int f, struct sbuf *b);

/* Content fingerprint over the fields that make a new revision (title,
 * summary, scores, TL;DR, analysis, key data, insights, faq, tags, urls).
 * `changed` (optional) receives a comma list of which of
 * "title,scores,tldr,analysis,summary,other" differ between a and b. */
uint64_t story_fingerprint(const struct story *s);
void story_diff(const struct story *a, const struct story *b, struct sbuf *changed);

#endif
