/* commands — the `/ainews ...` slash-command grammar (DESIGN §5) and its
 * handlers, shared by every platform and the console.
 *
 * commands_run() parses one command line, queries or changes the store
 * through the app (stories, subscriptions, channel rules, language
 * preference) and answers with a struct commands_reply: a small,
 * platform-neutral document of items (our own bilingual text, preformatted
 * blocks, a rule echoed with a caret under an error, compact story lines,
 * full story cards). Nothing in a reply is platform markup yet, and every
 * piece that came from a user or a story is kept apart from our own text, so
 * commands_render() can escape exactly those pieces for the target platform
 * (mentions, markup and links in them show as text).
 *
 * Owns: each reply's items (commands_reply_fini); nothing global. Borrows the
 * app and the context strings for the duration of a call.
 */
#ifndef AINEWS_COMMANDS_H
#define AINEWS_COMMANDS_H

#include <stddef.h>
#include "app.h"
#include "util.h"

#define COMMANDS_MAX_BYTES 1000          /* longer command text is refused */
#define COMMANDS_MAX_SUBSCRIPTIONS 50    /* per (platform, user) */
#define COMMANDS_MAX_CHANNEL_RULES 100   /* per (platform, channel) */
#define COMMANDS_STATUS_FAILURES 5       /* permanent failures shown by `status` */

struct commands_ctx {
	struct app *app;
	const char *platform;  /* platform instance name, e.g. "console", "work" */
	const char *user;      /* caller id: owner of subscriptions and language preference */
	const char *channel;   /* where the command was typed */
	const char *lang_hint; /* platform locale ("zh-CN", "en-US") or NULL */
};

enum commands_item_kind {
	/* A line of our own text. en/zh may hold COMMANDS_ARG markers; the
	 * n-th marker is replaced by args.v[n], which is untrusted (user
	 * input, story or platform text) and escaped by the renderer. */
	COMMANDS_ITEM_TEXT,
	/* Our own preformatted lines (usage, tables): monospace where the
	 * platform has it. No args. */
	COMMANDS_ITEM_PRE,
	/* args.v[0] (untrusted, one line) shown monospace with a "^" under
	 * display column `column` (0-based; CJK and full-width count 2). */
	COMMANDS_ITEM_CARET,
	/* One compact story line: scores, title in the reply language, id. */
	COMMANDS_ITEM_STORY,
	/* The full TL;DR card of story_id, loaded and built at render time. */
	COMMANDS_ITEM_CARD,
};

/* Placeholder for an untrusted argument inside own text. */
#define COMMANDS_ARG "\x1f"

struct commands_item {
	int kind;          /* enum commands_item_kind */
	char *en, *zh;     /* own text (TEXT, PRE); zh NULL = same as en */
	struct strv args;  /* untrusted pieces (TEXT, CARET) */
	int column;        /* CARET */
	char *story_id;    /* STORY, CARD (untrusted: ids may come from input) */
	char *title[2];    /* STORY: STORY_EN / STORY_ZH titles, either may be NULL */
	int scores[3];     /* STORY: hot, quality, impact; -1 missing */
};

/* Zero-initialised is an empty reply. Everything in it is owned by it. */
struct commands_reply {
	struct commands_item *items;
	size_t n, cap;
	int lang;      /* enum format_lang: FORMAT_EN, FORMAT_ZH or FORMAT_BOTH */
	int ephemeral; /* show only to the caller where the platform can (every
			* reply today: queries and confirmations alike) */
	int is_error;  /* the command was refused or failed (user error or internal) */
};

/* Run one command line (the leading "/ainews" is optional). *out is
 * overwritten (not freed first) and always holds a reply afterwards, even on
 * error; release it with commands_reply_fini(). Returns 0 when the command
 * was handled, including user errors (bad syntax, unknown word, not an admin:
 * those are replies with is_error set); negative on an internal failure
 * (store error), in which case the reply says so. */
int commands_run(const struct commands_ctx *c, const char *text, struct commands_reply *out);

/* Free every item and reset r to empty. Zeroed or NULL is fine. */
void commands_reply_fini(struct commands_reply *r);

/* Render r for target (enum format_target). a supplies story cards (store),
 * topic names and the public URL. *text is always set on success (owned):
 *  CONSOLE:    plain text, one line per line, ending in "\n".
 *  SLACK:      mrkdwn fallback (<= FORMAT_SLACK_FALLBACK_MAX characters);
 *              *json = Block Kit blocks array: our text and story lines as
 *              mrkdwn sections (<= FORMAT_SLACK_SECTION_MAX each), each card's
 *              blocks appended, at most FORMAT_SLACK_BLOCKS_MAX blocks.
 *  DISCORD:    message content (<= FORMAT_DISCORD_CONTENT_MAX; "" when the
 *              text moved into embeds because it was longer); *json = array
 *              of at most 10 embeds, all together within
 *              FORMAT_DISCORD_EMBED_TOTAL_MAX characters.
 *  MATTERMOST: markdown (<= FORMAT_MATTERMOST_MAX characters); *json = NULL.
 * json may be NULL when the caller only wants the text. Whatever does not fit
 * is dropped whole and replaced by a "… more" note, never cut mid-markup.
 * text must not be NULL. Returns 0 ok, -1 bad argument (unknown target),
 * -2 a card could not be loaded (store error) or JSON construction failed;
 * on error *text and *json are NULL. */
int commands_render(struct app *a, const struct commands_reply *r, int target, char **text, char **json);

/* Display width of UTF-8 text in a monospace terminal: East Asian wide and
 * full-width characters count 2, combining marks and zero-width 0. Used to
 * put the caret under the right character; exposed for tests. */
size_t commands_display_width(const char *s, size_t len);

#endif
