/* format — the TL;DR card (DESIGN §6) and its four renderings.
 *
 * A story becomes a platform-neutral struct format_card once (language chosen,
 * text flattened to single lines, links built); format_render() then turns the
 * card into console text, Slack Block Kit, a Discord embed or Mattermost
 * markdown, each within its platform's limits (protocols.md §0, §1.9, §2.11,
 * §3.4). Story text is untrusted: every renderer escapes it for its target so
 * mentions, markup, links and HTML in a story show as text; the only markup in
 * the output is the renderer's own (bold title, bullets, our links).
 *
 * Lengths are counted in Unicode code points, as the platforms count them, and
 * text is only ever cut on character boundaries (never inside an emoji ZWJ
 * sequence, flag pair or combining sequence), ending in "…". All output is
 * valid UTF-8: invalid input bytes become U+FFFD.
 *
 * Owns: nothing global. Every returned string is the caller's to free().
 */
#ifndef AINEWS_FORMAT_H
#define AINEWS_FORMAT_H

#include <stddef.h>
#include "story.h"
#include "util.h"

enum format_lang { FORMAT_EN = 0, FORMAT_ZH = 1, FORMAT_BOTH = 2 };
enum format_target { FORMAT_CONSOLE, FORMAT_SLACK, FORMAT_DISCORD, FORMAT_MATTERMOST };

/* Platform limits, in characters (code points). */
#define FORMAT_SLACK_SECTION_MAX 3000  /* section / context mrkdwn text */
#define FORMAT_SLACK_HEADER_MAX 150
#define FORMAT_SLACK_BLOCKS_MAX 50
#define FORMAT_SLACK_FALLBACK_MAX 3000 /* our own cap; Slack truncates at 40,000 */
#define FORMAT_DISCORD_CONTENT_MAX 2000
#define FORMAT_DISCORD_TITLE_MAX 256
#define FORMAT_DISCORD_DESC_MAX 4096
#define FORMAT_DISCORD_FIELD_NAME_MAX 256
#define FORMAT_DISCORD_FIELD_VALUE_MAX 1024
#define FORMAT_DISCORD_FOOTER_MAX 2048
#define FORMAT_DISCORD_AUTHOR_MAX 256
#define FORMAT_DISCORD_EMBED_TOTAL_MAX 6000
#define FORMAT_MATTERMOST_MAX 16383

/* Card budgets (escaped characters), chosen so that every rendering fits its
 * platform's limits with the worst-case input; see format.c. */
#define FORMAT_MAX_BULLETS 3
#define FORMAT_MAX_TOPICS 6
#define FORMAT_URL_MAX 1024 /* longer URLs are dropped, never cut */

struct format_card {          /* owns every string; built by format_card_build */
	int scores[3];            /* STORY_HOT/QUALITY/IMPACT, -1 missing */
	struct strv topics;       /* display names in the chosen language */
	char *title_primary;      /* never NULL after build ("(untitled)" when none) */
	char *title_secondary;    /* the 中文 title for FORMAT_BOTH, else NULL */
	struct strv bullets;      /* at most FORMAT_MAX_BULLETS, single lines */
	char *link_source;        /* story url (http/https only), may be NULL */
	char *link_en, *link_zh;  /* analysis page links, NULL when that language is absent */
	char *reason;             /* may be NULL */
	char *story_id;           /* may be NULL */
	int lang;                 /* resolved format_lang */
};

/* Build the card for story s in language preference lang (FORMAT_EN/ZH/BOTH).
 * When the preferred language is missing the other one is used; FORMAT_BOTH
 * becomes the one language present when the story has only one. `both` shows
 * the EN title, the 中文 title and the EN bullets; any other lang value acts
 * as FORMAT_BOTH (the configured default).
 * topic_names: display names for s->topics in the wanted language (borrowed,
 * n = s->topics.n; NULL, or a NULL entry, shows the topic id).
 * public_url e.g. "http://127.0.0.1:8080" (trailing slash allowed); NULL or ""
 * gives no analysis links. reason (may be NULL) is shown as "matched: …".
 * Titles and bullets are flattened to one line each (control characters
 * removed, whitespace runs collapsed) but not escaped: escaping is per target.
 * c is overwritten (not freed first); release it with format_card_free(). */
void format_card_build(struct format_card *c, const struct story *s, int lang,
		       const char *const *topic_names, const char *public_url, const char *reason);
/* Free every member and reset c to zero. Accepts a zeroed card; NULL is a no-op. */
void format_card_free(struct format_card *c);

/* Render card c for target t. On success *text and *json receive owned
 * strings (or NULL where noted); either pointer may be NULL when the caller
 * does not want that part.
 *  CONSOLE:    *text = plain text, no markup, one card line per line, each
 *              ending in "\n"; *json = NULL.
 *  SLACK:      *text = mrkdwn fallback for chat.postMessage `text` (score line,
 *              linked title, bullets; <= FORMAT_SLACK_FALLBACK_MAX chars);
 *              *json = JSON array of Block Kit blocks: context (score line),
 *              section mrkdwn (linked title, 中文 title, bullets), context
 *              (analysis links, matched reason). unfurl_* is the transport's job.
 *  DISCORD:    *json = one embed object {"title","url"?,"description"?,"color",
 *              "author"?{"name": score line},"fields"?[analysis links],
 *              "footer"{"text": matched reason, else "ainews · <id>"}}
 *              (author and footer render no markdown: only @ and < broken);
 *              *text = "" (the embed says it all; content stays empty).
 *              The transport must send "allowed_mentions":{"parse":[]}.
 *  MATTERMOST: *text = markdown message (<= FORMAT_MATTERMOST_MAX chars);
 *              *json = NULL (no attachment).
 * Returns 0 ok, -1 bad argument (NULL or unbuilt card, unknown target), -2 JSON
 * construction failed (cJSON out of memory); on error both outputs are NULL. */
int format_render(const struct format_card *c, enum format_target t, char **text, char **json);

/* Neutralise untrusted text for target t (also used by command replies);
 * newlines are kept. Returns an owned string (NULL in, NULL out).
 *  CONSOLE:    control characters (C0 but \n, DEL, C1, bidi overrides) removed,
 *              tab becomes a space, nothing else changes.
 *  SLACK:      & < > become &amp; &lt; &gt;; @ is followed by U+200B (kills
 *              @channel/@here/@everyone); Slack mrkdwn has no backslash escape,
 *              so * _ ~ ` become the lookalikes ∗ ＿ ∼ ˋ and a > opening a line
 *              becomes ＞ (Slack quotes an escaped &gt; too).
 *  DISCORD:    \ * _ ~ ` | [ ] ( ) get a backslash, and > # - + and "1." at
 *              the start of a line; U+200B follows every @ and < (kills
 *              @everyone, <@id>, <#id>, <@&id>, <t:…>, <:emoji:id>).
 *  MATTERMOST: \ * _ ` | [ ] ( ) $ ~ get a backslash (~ also a U+200B, for
 *              ~channel links), # - + = and "1." at line start too; & < > become
 *              entities; U+200B follows every @ (@channel/@all/@here/@user).
 * Control characters are removed for every target. */
char *format_escape(enum format_target t, const char *s);

/* Truncate s to at most max_chars characters (code points), "…" included,
 * adding "…" only when something was cut; never splits a grapheme built from
 * ZWJ / combining marks / variation selectors / flag pairs, and drops
 * trailing spaces before the "…". Invalid UTF-8 bytes become U+FFFD.
 * Returns an owned string (NULL in, NULL out). */
char *format_truncate(const char *s, size_t max_chars);

/* Number of characters (code points) of s as the platforms count them. */
size_t format_chars(const char *s);

#endif
