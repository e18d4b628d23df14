/* normalise — one canonical form of text for matching (DESIGN §3).
 *
 * Keywords, user subscriptions and story text all pass through the same
 * function, so "Nvidia", "ＮＶＩＤＩＡ", "輝達" and "辉达" meet on equal terms:
 * Unicode case fold (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic),
 * full-width forms U+FF01..U+FF5E to ASCII, every Unicode space to one ASCII
 * space (runs collapsed, ends trimmed, so a phrase matches across line
 * breaks), zero-width characters and soft hyphens dropped, invalid UTF-8 to
 * U+FFFD, then Traditional to Simplified Chinese with OpenCC's tw2sp
 * (資料中心 → 数据中心, 晶片 → 芯片, 矽谷 → 硅谷).
 *
 * OpenCC runs only on text that is Traditional: text holding at least one
 * ideograph that OpenCC's character table (t2s) would change (a table made
 * at build time, bot/gen_trad.c), and is loaded on the first such text. Simplified
 * and English text skip it, which keeps ingest fast (OpenCC converts at
 * about 5 MB/s, far slower than everything else here). The price: a
 * Taiwan-only word written in characters both scripts share (晶片 alone in
 * otherwise Simplified text) stays as written, so the taxonomy lists such
 * words as aliases too. Within Traditional text only space-delimited runs
 * holding a CJK character go to OpenCC. tw2sp's Taiwan phrase table also
 * rewrites some plain Simplified words inside Traditional text
 * (核心 → 内核); harmless because keywords take the same path, and why
 * callers must never compare normalised text with text that skipped this
 * function.
 *
 * The output is for matching, never for display.
 *
 * A struct normaliser owns one OpenCC handle. OpenCC handles are not
 * thread-safe: use one normaliser per thread.
 */
#ifndef AINEWS_NORMALISE_H
#define AINEWS_NORMALISE_H

#include <stddef.h>

struct normaliser;

/* A normaliser. OpenCC (tw2sp.json) is loaded on the first text that needs
 * converting, not here: most processes never meet Traditional text, and
 * OpenCC costs ~3 MB. Never fails today (err is kept for that); NULL only
 * would mean out of memory. */
struct normaliser *normaliser_new(char **err);
void normaliser_free(struct normaliser *n); /* NULL is fine */
/* Has OpenCC been loaded (some text was converted, or FORCE asked)? */
int normaliser_opencc_loaded(const struct normaliser *n);
/* Why OpenCC could not be loaded (borrowed), or NULL: without it text is
 * folded but not converted. */
const char *normaliser_opencc_error(const struct normaliser *n);

/* Normalise len bytes of text (NUL bytes inside are treated as spaces).
 * n may be NULL: everything but the Traditional → Simplified step is done.
 * Returns an owned NUL-terminated string, never NULL; *out_len (may be NULL)
 * gets its length. If OpenCC fails on the text, the text is returned folded
 * but unconverted. */
char *normalise_text(struct normaliser *n, const char *text, size_t len, size_t *out_len);
/* The same with an explicit Traditional -> Simplified policy:
 * NORMALISE_AUTO converts only text that is Traditional (normalise_text),
 * NORMALISE_FORCE always runs OpenCC (晶片 -> 芯片 even alone), NORMALISE_FOLD
 * never does. Keywords are interned in their AUTO and FORCE forms so they
 * match story text whichever way it went. */
enum { NORMALISE_AUTO = 0, NORMALISE_FORCE = 1, NORMALISE_FOLD = 2 };
char *normalise_text_mode(struct normaliser *n, const char *text, size_t len, size_t *out_len, int mode);

/* Does the text hold a character only Traditional Chinese uses (so that
 * normalise_text() would run OpenCC on it)? Case and width aside, it
 * ignores full-width forms of such characters (there are none). */
int normalise_is_traditional(const char *text, size_t len);

/* normalise_text() on a NUL-terminated string (NULL reads as ""). Owned. */
char *normalise_str(struct normaliser *n, const char *s);

#endif
