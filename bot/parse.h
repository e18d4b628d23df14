/* parse — turn the two text input formats into a struct story (DESIGN §2).
 *
 * Owns the knowledge of what the news site's bilingual story page export and
 * a plain news article look like: header times, the EN+ZH title and summary
 * lines, the score pairs, the analysis sections, tags and the FAQ repeat, the
 * bylines and boilerplate of Chinese and English articles, and lead-sentence
 * extraction for TL;DRs. JSON input is not parsed here (story.c owns the JSON
 * shape); parse_detect() only tells the caller to hand JSON to story.c.
 *
 * Holds no state: every function works on the text it is given and writes
 * only into the caller's story. Exports are often cut off anywhere, even
 * mid-word, so the parsers keep whatever is there and fail only when there is
 * not even a title. Linear in the input size, no regex, no line-length limit.
 */
#ifndef AINEWS_PARSE_H
#define AINEWS_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include "story.h"

enum parse_format { PARSE_UNKNOWN = 0, PARSE_PAGE, PARSE_ARTICLE, PARSE_JSON };

/* Detect the format from the content (never from a file name). JSON when the
 * first non-space byte is '{' or '['; PAGE when the text has the site page
 * shape (header line starting "AI News" and/or the score lines "Hot 热度",
 * "Quality 质量", "Impact 影响力"); ARTICLE for any other text with at least
 * one meaningful line; UNKNOWN for empty/whitespace-only text. */
enum parse_format parse_detect(const char *text, size_t len);

/* Lower-case name of a format ("page", "article", "json", "unknown"); static. */
const char *parse_format_name(enum parse_format f);

/* Parse a site story page / a plain article into *out (which the caller has
 * story_init()ed and later story_free()s, also on error). ref_time is the
 * Unix time relative times ("5h ago") are resolved against. The text is
 * known-valid UTF-8 without NUL bytes (the caller checks that).
 * Returns 0 ok; negative on error with *err an owned message of the form
 * "line N: what is wrong" (e.g. "line 1: no title found"). err may be NULL;
 * on success *err is set to NULL.
 *
 * parse_page sets source "aihot"; published_at/updated_at from the header
 * (ref_time when the header has no time; updated_at = published_at when it
 * has no "Updated"). parse_article sets source "article", the fields of the
 * article's language only, no scores or tags, and both times to ref_time.
 * Neither sets id or url: the caller assigns them. */
int parse_page(const char *text, size_t len, int64_t ref_time, struct story *out, char **err);
int parse_article(const char *text, size_t len, int64_t ref_time, struct story *out, char **err);

/* Up to max lead sentences of text, split on 。！？.!? (and their full-width
 * forms; do not split inside numbers like "1.6" or abbreviations like "U.S."),
 * each trimmed, appended to out. Used for TL;DR extraction. A blank line also
 * ends a sentence; a trailing fragment without a terminator counts as one.
 * text NULL or max 0 appends nothing. */
void parse_lead_sentences(const char *text, size_t max, struct strv *out);

#endif
