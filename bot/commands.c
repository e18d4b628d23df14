/* commands — slash-command parsing, handlers and reply rendering.
 *
 * A command is validated once at the edge (size, UTF-8, control characters,
 * mentions), split into a command word and its argument text, and handed to
 * one handler. Handlers only append items to the reply; what a platform sees
 * is decided in commands_render(), which is the one place that knows each
 * platform's markup and limits. Our own strings come in pairs (EN, 中文) so
 * the reply language can be chosen per user, and `both` shows the pair.
 */
#define _GNU_SOURCE
#include "commands.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "format.h"
#include "log.h"
#include "rules.h"
#include "store.h"
#include "topics.h"

#define U COMMANDS_ARG

/* Echoed input is cut before escaping: a reply quoting a 1,000-byte command
 * back at its author helps nobody, and escaping can grow text fivefold. */
#define ECHO_MAX 200
#define TITLE_MAX 120
#define CARET_MAX 200 /* longer expressions get the message without a caret */
/* Rendered text per Slack section / Discord embed description, minus room
 * for code fences and the joining newline. */
#define SLACK_CHUNK (FORMAT_SLACK_SECTION_MAX - 16)
#define DISCORD_CHUNK (FORMAT_DISCORD_CONTENT_MAX - 16)
#define DISCORD_EMBEDS_MAX 10

/* ---- reply building ------------------------------------------------------ */

static struct commands_item *item_new(struct commands_reply *r, int kind)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->items = xrealloc(r->items, r->cap * sizeof *r->items);
	}
	struct commands_item *it = &r->items[r->n++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	it->scores[0] = it->scores[1] = it->scores[2] = -1;
	return it;
}

/* Our own text line; en/zh are copied. */
static struct commands_item *say(struct commands_reply *r, const char *en, const char *zh)
{
	struct commands_item *it = item_new(r, COMMANDS_ITEM_TEXT);
	it->en = xstrdup(en);
	it->zh = xstrdup(zh);
	return it;
}

/* The same, taking ownership of formatted strings. */
static struct commands_item *say_owned(struct commands_reply *r, char *en, char *zh)
{
	struct commands_item *it = item_new(r, COMMANDS_ITEM_TEXT);
	it->en = en;
	it->zh = zh;
	return it;
}

/* Attach one untrusted argument, cut to ECHO_MAX characters. */
static void arg(struct commands_item *it, const char *s)
{
	strv_push_owned(&it->args, format_truncate(s ? s : "", ECHO_MAX));
}

static struct commands_item *pre_owned(struct commands_reply *r, char *en, char *zh)
{
	struct commands_item *it = item_new(r, COMMANDS_ITEM_PRE);
	it->en = en;
	it->zh = zh;
	return it;
}

static void item_fini(struct commands_item *it)
{
	free(it->en);
	free(it->zh);
	strv_free(&it->args);
	free(it->story_id);
	free(it->title[0]);
	free(it->title[1]);
}

void commands_reply_fini(struct commands_reply *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		item_fini(&r->items[i]);
	free(r->items);
	memset(r, 0, sizeof *r);
}

/* ---- text helpers -------------------------------------------------------- */

static int cp_width(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7F && c < 0xA0))
		return 0;
	if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x20D0 && c <= 0x20FF) ||
	    (c >= 0x200B && c <= 0x200F) || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF)
		return 0;
	if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0x303E) || (c >= 0x3041 && c <= 0x33FF) ||
	    (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xA000 && c <= 0xA4CF) ||
	    (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFE30 && c <= 0xFE4F) ||
	    (c >= 0xFF00 && c <= 0xFF60) || (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
	    (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD))
		return 2;
	return 1;
}

size_t commands_display_width(const char *s, size_t len)
{
	size_t w = 0, i = 0;
	while (i < len && s[i]) {
		uint32_t c;
		int k = utf8_decode(s + i, len - i, &c);
		w += (size_t)cp_width(c);
		i += (size_t)(k > 0 ? k : 1);
	}
	return w;
}

/* Byte offset of code point n (0-based) of s, or strlen(s) past the end. */
static size_t cp_offset(const char *s, int n)
{
	size_t i = 0, len = strlen(s);
	while (n-- > 0 && i < len) {
		uint32_t c;
		int k = utf8_decode(s + i, len - i, &c);
		i += (size_t)(k > 0 ? k : 1);
	}
	return i;
}

/* Whitespace as chat clients send it: ASCII, U+3000 ideographic space,
 * U+00A0. Returns the byte length of the space at s, or 0. */
static size_t space_len(const char *s)
{
	if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		return 1;
	if (!strncmp(s, "\xE3\x80\x80", 3))
		return 3;
	if (!strncmp(s, "\xC2\xA0", 2))
		return 2;
	return 0;
}

static const char *skip_space(const char *s)
{
	size_t k;
	while ((k = space_len(s)))
		s += k;
	return s;
}

/* Split off the first word: *word owned, *rest borrowed (trimmed start). */
static char *first_word(const char *s, const char **rest)
{
	s = skip_space(s);
	const char *e = s;
	while (*e && !space_len(e))
		e++;
	*rest = skip_space(e);
	return xstrndup(s, (size_t)(e - s));
}

static int has_space(const char *s)
{
	for (; *s; s++)
		if (space_len(s))
			return 1;
	return 0;
}

/* A string of digits only, 1..9 of them; its value or -1. */
static long number_arg(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	return strtol(s, NULL, 10);
}

static int word_is(const char *w, const char *const *names)
{
	for (; *names; names++)
		if (!strcasecmp(w, *names))
			return 1;
	return 0;
}

/* ---- language ------------------------------------------------------------ */

static int lang_parse(const char *s)
{
	static const char *const en[] = {"en", "english", "英文", "英语", NULL};
	static const char *const zh[] = {"zh", "cn", "chinese", "中文", "汉语", NULL};
	static const char *const both[] = {"both", "bilingual", "双语", "中英", NULL};
	if (!s)
		return -1;
	if (word_is(s, en))
		return FORMAT_EN;
	if (word_is(s, zh))
		return FORMAT_ZH;
	if (word_is(s, both))
		return FORMAT_BOTH;
	return -1;
}

static const char *lang_name(int l)
{
	return l == FORMAT_EN ? "en" : l == FORMAT_ZH ? "zh" : "both";
}

/* Stored preference, else the platform locale, else the configured default. */
static int reply_lang(const struct commands_ctx *c)
{
	struct app *a = c->app;
	if (c->platform && c->user && *c->user) {
		char *p = store_pref_get(a->store, c->platform, c->user);
		int l = lang_parse(p);
		free(p);
		if (l >= 0)
			return l;
	}
	if (c->lang_hint && !strncasecmp(c->lang_hint, "zh", 2))
		return FORMAT_ZH;
	if (c->lang_hint && !strncasecmp(c->lang_hint, "en", 2))
		return FORMAT_EN;
	int l = lang_parse(a->cfg.default_lang);
	return l >= 0 ? l : FORMAT_BOTH;
}

/* ---- the run ------------------------------------------------------------- */

struct run {
	const struct commands_ctx *c;
	struct app *a;
	struct commands_reply *r;
	const char *platform, *user, *channel; /* never NULL */
	int rc;
};

static struct commands_item *fail(struct run *x, const char *en, const char *zh)
{
	x->r->is_error = 1;
	return say(x->r, en, zh);
}

static void internal(struct run *x, const char *what)
{
	log_error("commands: %s: %s", what, store_errmsg(x->a->store));
	fail(x, "Something went wrong on my side; please try again later.", "内部出错了，请稍后再试。");
	x->rc = -1;
}

/* ---- input validation ---------------------------------------------------- */

/* A mention a platform would expand, or NULL: the group mentions (as a
 * prefix, since clients differ on word boundaries; only "@all" needs one,
 * or "@alliance" would count) and Slack's <!...> <@...> <#...>. */
static const char *find_mention(const char *s, size_t *len)
{
	static const char *const at[] = {"@everyone", "@here", "@channel", "@all", NULL};
	for (const char *p = s; *p; p++) {
		if (*p == '@') {
			for (const char *const *m = at; *m; m++) {
				size_t n = strlen(*m);
				if (!strncasecmp(p, *m, n) &&
				    (strcmp(*m, "@all") || (!isalnum((unsigned char)p[n]) && p[n] != '_'))) {
					*len = n;
					return p;
				}
			}
		} else if (*p == '<' && (p[1] == '!' || p[1] == '@' || p[1] == '#')) {
			const char *e = strchr(p, '>');
			*len = e ? (size_t)(e - p) + 1 : 2;
			return p;
		}
	}
	return NULL;
}

/* 0 when text may be parsed; otherwise the reply says why. Mentions are
 * checked later, on the folded text (a full-width ＠ folds to @). */
static int validate(struct run *x, const char *text)
{
	size_t len = strlen(text), bad = 0;
	if (len > COMMANDS_MAX_BYTES) {
		x->r->is_error = 1;
		say_owned(x->r, xasprintf("That command is too long (%zu bytes; the limit is %d).", len, COMMANDS_MAX_BYTES),
			  xasprintf("命令太长（%zu 字节，上限 %d）。", len, COMMANDS_MAX_BYTES));
		return -1;
	}
	if (!utf8_valid(text, len, &bad)) {
		x->r->is_error = 1;
		say_owned(x->r, xasprintf("That command is not valid UTF-8 text (bad byte at offset %zu).", bad),
			  xasprintf("命令不是有效的 UTF-8 文本（第 %zu 字节有误）。", bad));
		return -1;
	}
	for (size_t i = 0; i < len;) {
		uint32_t c;
		int k = utf8_decode(text + i, len - i, &c);
		i += (size_t)(k > 0 ? k : 1);
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c < 0x20 || (c >= 0x7F && c < 0xA0) || (c >= 0x202A && c <= 0x202E) ||
		    (c >= 0x2066 && c <= 0x2069)) {
			fail(x, "That command contains control characters; please retype it as plain text.",
			     "命令包含控制字符，请以纯文本重新输入。");
			return -1;
		}
	}
	return 0;
}

/* 0 when the (folded) text names no mention; otherwise the reply says so. */
static int refuse_mentions(struct run *x, const char *text)
{
	size_t mlen = 0;
	const char *m = find_mention(text, &mlen);
	if (m) {
		char *what = xstrndup(m, mlen);
		struct commands_item *it = fail(x, "Commands cannot contain mentions: “" U "”.",
						"命令中不能包含提及（@）：“" U "”。");
		arg(it, what);
		free(what);
		return -1;
	}
	return 0;
}

/* ---- stories ------------------------------------------------------------- */

static void story_item_cb(void *ud, struct story *s)
{
	struct commands_reply *r = ud;
	struct commands_item *it = item_new(r, COMMANDS_ITEM_STORY);
	it->story_id = xstrdup(s->id);
	for (int l = 0; l < STORY_NLANG; l++)
		it->title[l] = s->title[l] && *s->title[l] ? xstrdup(s->title[l]) : NULL;
	for (int i = 0; i < 3; i++)
		it->scores[i] = s->scores[i];
}

static void card_hint(struct run *x)
{
	say(x->r, "Full card: `/ainews story <id>`", "完整卡片：`/ainews story <id>`");
}

/* "compute (算力) · chips (芯片)" for an unknown word; "" when none. */
static char *suggestions(struct app *a, const char *word)
{
	int kinds[4];
	size_t idx[4];
	size_t n = topics_suggest(a->topics, word, kinds, idx, 4);
	struct sbuf b = {0};
	for (size_t i = 0; i < n; i++) {
		const struct topics_entry *e = topics_get(a->topics, kinds[i], idx[i]);
		if (!e)
			continue;
		if (b.len)
			sbuf_adds(&b, " · ");
		if (e->name_zh && strcasecmp(e->name_zh, e->id))
			sbuf_addf(&b, "%s (%s)", e->id, e->name_zh);
		else
			sbuf_adds(&b, e->id);
	}
	return sbuf_take(&b);
}

static void no_results(struct run *x, const char *what)
{
	char *sug = suggestions(x->a, what);
	struct commands_item *it;
	if (*sug)
		it = say_owned(x->r, xasprintf("No stories for “" U "”. Did you mean: %s?", sug),
			       xasprintf("没有找到“" U "”的相关报道。你是不是想找：%s？", sug));
	else
		it = say(x->r, "No stories for “" U "”. `/ainews topics` lists what I know about.",
			 "没有找到“" U "”的相关报道。`/ainews topics` 列出了我了解的话题。");
	arg(it, what);
	free(sug);
}

/* Full-text search over the normalised phrase. header: 1 for `search`. */
static void keyword_query(struct run *x, const char *phrase, int is_search)
{
	char *norm = app_normalise(x->a, phrase);
	size_t first = x->r->n;
	struct commands_item *h = is_search ? say(x->r, "Search results for “" U "”:", "“" U "”的搜索结果：")
					    : say(x->r, "Stories matching “" U "”:", "与“" U "”相关的报道：");
	arg(h, phrase);
	int n = store_search_ex(x->a->store, norm, x->a->cfg.query_limit, 1, story_item_cb, x->r);
	free(norm);
	if (n == -2 || n == 0) {
		/* Drop the header: "no stories" says it all. */
		item_fini(&x->r->items[first]);
		x->r->n = first;
		no_results(x, phrase);
		return;
	}
	if (n < 0) {
		internal(x, "search");
		return;
	}
	card_hint(x);
}

static void topic_query(struct run *x, const char *word, int kind, size_t index)
{
	const struct topics_entry *e = topics_get(x->a->topics, kind, index);
	struct store_query q = {.limit = x->a->cfg.query_limit, .order = STORE_ORDER_RECENT, .brief = 1};
	if (kind == TOPICS_TOPIC)
		q.topic = e->id;
	else
		q.entity = e->id;
	size_t first = x->r->n;
	const char *kind_en = kind == TOPICS_TOPIC ? "topic" : "entity";
	const char *kind_zh = kind == TOPICS_TOPIC ? "话题" : "实体";
	say_owned(x->r, xasprintf("Latest on %s (%s), %s `%s`:", e->name_en, e->name_zh, kind_en, e->id),
		  xasprintf("%s（%s）最新报道，%s `%s`：", e->name_zh, e->name_en, kind_zh, e->id));
	int n = store_list(x->a->store, &q, story_item_cb, x->r);
	if (n < 0) {
		internal(x, "list");
		return;
	}
	if (n == 0) {
		item_fini(&x->r->items[first]);
		x->r->n = first;
		say_owned(x->r, xasprintf("No stories tagged %s (%s) yet.", e->name_en, e->name_zh),
			  xasprintf("暂时没有标记为%s（%s）的报道。", e->name_zh, e->name_en));
		/* A passing mention is below the classifier's threshold but
		 * still worth showing: fall back to the text search. */
		first = x->r->n;
		struct commands_item *h = say(x->r, "Stories mentioning “" U "”:", "提到“" U "”的报道：");
		arg(h, word);
		char *norm = app_normalise(x->a, word);
		n = store_search_ex(x->a->store, norm, x->a->cfg.query_limit, 1, story_item_cb, x->r);
		free(norm);
		if (n > 0) {
			card_hint(x);
			return;
		}
		item_fini(&x->r->items[first]);
		x->r->n = first;
		if (n < 0 && n != -2)
			internal(x, "search");
		return;
	}
	card_hint(x);
}

/* Strip one pair of surrounding quotes ("..." or “...”); owned, or NULL
 * when text is not quoted. */
static char *unquote(const char *text)
{
	size_t n = strlen(text);
	if (n >= 2 && text[0] == '"' && text[n - 1] == '"')
		return xstrndup(text + 1, n - 2);
	if (n >= 6 && !strncmp(text, "“", 3) && !strcmp(text + n - 3, "”"))
		return xstrndup(text + 3, n - 6);
	return NULL;
}

static void do_query(struct run *x, const char *text)
{
	char *inner = unquote(text);
	if (inner) {
		/* Quoted is always a keyword phrase, as in the rule language. */
		char *t = str_trim(inner);
		if (*t)
			keyword_query(x, t, 0);
		else
			fail(x, "Nothing between the quotes.", "引号中没有内容。");
		free(inner);
		return;
	}
	int kind;
	size_t idx;
	/* The whole text first, so an entity named in several words ("Sam
	 * Altman") still resolves; anything else is a keyword phrase. */
	if (topics_resolve(x->a->topics, text, &kind, &idx) == 0) {
		topic_query(x, text, kind, idx);
		return;
	}
	keyword_query(x, text, 0);
}

static void do_top(struct run *x, const char *args)
{
	int64_t secs = 7 * 86400;
	if (*args) {
		secs = duration_parse(args);
		if (secs <= 0 || secs > 366 * 86400 || has_space(args)) {
			struct commands_item *it =
				fail(x, "I cannot read “" U "” as a time span: try `/ainews top 24h` or `/ainews top 7d`.",
				     "无法识别时间范围“" U "”：试试 `/ainews top 24h` 或 `/ainews top 7d`。");
			arg(it, args);
			return;
		}
	}
	/* "24h" reads better as hours, "7d" as days. */
	char span_en[48], span_zh[48];
	if (secs % 86400 == 0 && secs > 2 * 86400) {
		snprintf(span_en, sizeof span_en, "%lld days", (long long)(secs / 86400));
		snprintf(span_zh, sizeof span_zh, "%lld 天", (long long)(secs / 86400));
	} else if (secs % 3600 == 0) {
		snprintf(span_en, sizeof span_en, "%lld hour%s", (long long)(secs / 3600), secs == 3600 ? "" : "s");
		snprintf(span_zh, sizeof span_zh, "%lld 小时", (long long)(secs / 3600));
	} else {
		snprintf(span_en, sizeof span_en, "%lld min", (long long)((secs + 59) / 60));
		snprintf(span_zh, sizeof span_zh, "%lld 分钟", (long long)((secs + 59) / 60));
	}
	struct store_query q = {
		.since = app_now(x->a) - secs, .limit = x->a->cfg.query_limit, .order = STORE_ORDER_SCORE, .brief = 1};
	size_t first = x->r->n;
	say_owned(x->r, xasprintf("Top stories of the last %s:", span_en),
		  xasprintf("最近 %s评分最高的报道：", span_zh));
	int n = store_list(x->a->store, &q, story_item_cb, x->r);
	if (n < 0) {
		internal(x, "top");
		return;
	}
	if (n == 0) {
		item_fini(&x->r->items[first]);
		x->r->n = first;
		say_owned(x->r, xasprintf("No stories in the last %s.", span_en), xasprintf("最近 %s没有报道。", span_zh));
		return;
	}
	card_hint(x);
}

static void do_search(struct run *x, const char *args)
{
	if (!*args) {
		fail(x, "What should I search for? `/ainews search <words>`", "要搜索什么？`/ainews search <词语>`");
		return;
	}
	char *inner = unquote(args);
	char *t = inner ? str_trim(inner) : NULL;
	keyword_query(x, t && *t ? t : args, 1);
	free(inner);
}

static void do_story(struct run *x, const char *args)
{
	if (!*args || has_space(args)) {
		fail(x, "Which story? `/ainews story <id>` (ids end each story line).",
		     "哪一篇？`/ainews story <id>`（id 在每行报道末尾）。");
		return;
	}
	struct story s;
	story_init(&s);
	int rc = store_story_get(x->a->store, args, 0, &s);
	story_free(&s);
	if (rc < 0) {
		internal(x, "story");
		return;
	}
	if (rc == 0) {
		struct commands_item *it = fail(x, "No story with id “" U "”.", "没有 id 为“" U "”的报道。");
		arg(it, args);
		return;
	}
	struct commands_item *it = item_new(x->r, COMMANDS_ITEM_CARD);
	it->story_id = xstrdup(args);
}

/* ---- help and topics ----------------------------------------------------- */

static void pad_to(struct sbuf *b, const char *s, size_t width)
{
	sbuf_adds(b, s);
	for (size_t w = commands_display_width(s, strlen(s)); w < width; w++)
		sbuf_addc(b, ' ');
}

/* Two-column table (left padded to the widest left cell), owned. */
static char *table(const char *const *left, const char *const *right, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = commands_display_width(left[i], strlen(left[i]));
		if (k > w)
			w = k;
	}
	struct sbuf b = {0};
	for (size_t i = 0; i < n; i++) {
		if (i)
			sbuf_addc(&b, '\n');
		pad_to(&b, left[i], w + 2);
		sbuf_adds(&b, right[i]);
	}
	return sbuf_take(&b);
}

static void do_help(struct run *x)
{
	static const char *const cmd_en[] = {
		"/ainews <topic|entity|keyword>", "/ainews top [24h|7d]", "/ainews search <words>",
		"/ainews story <id>", "/ainews topics", "/ainews subscribe <expr>",
		"/ainews unsubscribe <expr|n|all>", "/ainews subscriptions", "/ainews lang en|zh|both",
		"/ainews channel add|rm|list <expr>", "/ainews status", "/ainews help"};
	static const char *const what_en[] = {
		"latest stories: compute, nvidia, 算力, \"Noam Shazeer\"",
		"highest-scoring stories (default 7d)",
		"full-text search (English, 简体, 繁體)",
		"one story's full TL;DR card",
		"the topics and entities I know",
		"DM me new stories, e.g. compute hot>=60",
		"remove one subscription (or all)",
		"list my subscriptions, numbered",
		"my reply language",
		"this channel's alert rules (add/rm: admins)",
		"delivery queue and failures",
		"this text"};
	static const char *const cmd_zh[] = {
		"/ainews <话题|实体|关键词>", "/ainews 热门 [24h|7d]", "/ainews 搜索 <词语>",
		"/ainews story <id>", "/ainews 话题", "/ainews 订阅 <表达式>",
		"/ainews 取消订阅 <表达式|序号|all>", "/ainews 我的订阅", "/ainews 语言 en|zh|both",
		"/ainews channel add|rm|list <表达式>", "/ainews status", "/ainews 帮助"};
	static const char *const what_zh[] = {
		"最新报道：compute、nvidia、算力、\"Noam Shazeer\"",
		"评分最高的报道（默认 7d）",
		"全文搜索（英文、简体、繁体）",
		"单篇报道的完整摘要卡片",
		"我了解的话题与实体",
		"私信推送新报道，例如 算力 热度>=60",
		"取消一条订阅（或全部）",
		"列出我的订阅（带序号）",
		"我的回复语言",
		"本频道的推送规则（add/rm 仅限管理员）",
		"发送队列与失败记录",
		"本帮助"};
	size_t n = sizeof cmd_en / sizeof *cmd_en;
	say(x->r, "ainews — AI news in chat. Commands:", "ainews —— 聊天里的 AI 资讯。命令：");
	pre_owned(x->r, table(cmd_en, what_en, n), table(cmd_zh, what_zh, n));
	say(x->r, "Rules combine `hot>=60`, `topic:compute`, `entity:nvidia`, `kw:\"Noam Shazeer\"` with and/or/not.",
	    "规则可用 and/or/not 组合 `热度>=60`、`topic:compute`、`entity:nvidia`、`kw:\"Noam Shazeer\"`。");
}

static void topics_table(struct run *x, int kind)
{
	size_t n = topics_count(x->a->topics, kind);
	const char **left = xcalloc(n + 1, sizeof *left), **right = xcalloc(n + 1, sizeof *right);
	for (size_t i = 0; i < n; i++) {
		const struct topics_entry *e = topics_get(x->a->topics, kind, i);
		left[i] = e->id;
		right[i] = !strcmp(e->name_en, e->name_zh) ? xstrdup(e->name_en)
							   : xasprintf("%s · %s", e->name_en, e->name_zh);
	}
	if (kind == TOPICS_TOPIC)
		say_owned(x->r, xasprintf("Topics (%zu):", n), xasprintf("话题（%zu 个）：", n));
	else
		say_owned(x->r, xasprintf("Entities (%zu):", n), xasprintf("实体（%zu 个）：", n));
	pre_owned(x->r, table(left, right, n), NULL);
	for (size_t i = 0; i < n; i++)
		free((char *)right[i]);
	free(left);
	free(right);
}

static void do_topics(struct run *x)
{
	topics_table(x, TOPICS_TOPIC);
	topics_table(x, TOPICS_ENTITY);
	say(x->r, "Ask `/ainews <id>` for the latest, or `/ainews subscribe <id>` for alerts.",
	    "用 `/ainews <id>` 查看最新报道，或 `/ainews subscribe <id>` 订阅推送。");
}

/* ---- rules and subscriptions -------------------------------------------- */

struct rulelist {
	struct store_rule *v;
	size_t n, cap;
};

static void rulelist_cb(void *ud, const struct store_rule *r)
{
	struct rulelist *l = ud;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	store_rule_copy(&l->v[l->n++], r);
}

static void rulelist_free(struct rulelist *l)
{
	for (size_t i = 0; i < l->n; i++)
		store_rule_fini(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* Rules of one target, by id (the numbering users see). */
static int rulelist_load(struct run *x, const char *kind, const char *target, struct rulelist *l)
{
	memset(l, 0, sizeof *l);
	if (store_rules(x->a->store, x->platform, kind, target, rulelist_cb, l) < 0) {
		rulelist_free(l);
		internal(x, "rules");
		return -1;
	}
	return 0;
}

static size_t rulelist_pos(const struct rulelist *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return i + 1;
	return 0;
}

/* Which rule of l the user means by arg (a number or an expression); 0 none. */
static size_t rulelist_find(struct app *a, const struct rulelist *l, const char *arg_text)
{
	long n = number_arg(arg_text);
	if (n >= 0)
		return n >= 1 && (size_t)n <= l->n ? (size_t)n : 0;
	char *canon = app_rule_canonical(a, arg_text);
	size_t found = 0;
	for (size_t i = 0; i < l->n && !found; i++)
		if ((canon && !strcmp(l->v[i].expr, canon)) || !strcasecmp(l->v[i].expr, arg_text))
			found = i + 1;
	free(canon);
	return found;
}

/* The parser's "column N: message" as a reply: the message, the
 * expression and a caret under column N (display columns, so it lines up
 * after CJK text). */
static void rule_error(struct run *x, const char *expr, const char *err)
{
	int col = 0, off = 0;
	if (sscanf(err, "column %d: %n", &col, &off) < 1 || off == 0) {
		struct commands_item *it = fail(x, "Cannot read that rule: " U, "无法解析该规则：" U);
		arg(it, err);
		return;
	}
	x->r->is_error = 1;
	struct commands_item *it = say_owned(x->r, xasprintf("Cannot read that rule: column %d: " U, col),
					     xasprintf("无法解析该规则：第 %d 列：" U, col));
	arg(it, err + off);
	if (utf8_chars(expr, strlen(expr)) <= CARET_MAX) {
		struct commands_item *c = item_new(x->r, COMMANDS_ITEM_CARET);
		strv_push(&c->args, expr);
		size_t at = cp_offset(expr, col > 1 ? col - 1 : 0);
		c->column = (int)commands_display_width(expr, at);
	}
	say(x->r, "Examples: `compute hot>=60`, `nvidia and impact>=70`, `kw:\"Noam Shazeer\"`.",
	    "示例：`算力 热度>=60`、`英伟达 and 影响力>=70`、`kw:\"Noam Shazeer\"`。");
}

static int need_user(struct run *x)
{
	if (*x->user)
		return 0;
	fail(x, "I cannot tell who you are on this platform.", "无法识别你在该平台上的身份。");
	return -1;
}

static void do_subscribe(struct run *x, const char *expr)
{
	if (need_user(x))
		return;
	if (!*expr) {
		fail(x, "Subscribe to what? e.g. `/ainews subscribe compute hot>=60`",
		     "订阅什么？例如 `/ainews subscribe 算力 热度>=60`");
		return;
	}
	struct rulelist l;
	if (rulelist_load(x, "user", x->user, &l))
		return;
	if (l.n >= COMMANDS_MAX_SUBSCRIPTIONS) {
		say_owned(x->r,
			  xasprintf("You have %zu subscriptions, the most I keep per person. Remove one first: "
				    "`/ainews unsubscribe <n>`.",
				    l.n),
			  xasprintf("你已有 %zu 条订阅，达到每人上限。请先取消一条：`/ainews unsubscribe <序号>`。", l.n));
		x->r->is_error = 1;
		rulelist_free(&l);
		return;
	}
	rulelist_free(&l);
	int64_t id = 0;
	char *err = NULL;
	int rc = app_rule_add(x->a, x->platform, "user", x->user, expr, NULL, "command", &id, &err);
	if (rc < 0) {
		if (err && !strncmp(err, "column ", 7))
			rule_error(x, expr, err);
		else
			internal(x, err ? err : "subscribe");
		free(err);
		return;
	}
	const struct store_rule *rule = app_rule_get(x->a, id);
	if (rulelist_load(x, "user", x->user, &l))
		return;
	size_t pos = rulelist_pos(&l, id);
	rulelist_free(&l);
	struct commands_item *it;
	if (rc == 1)
		it = say_owned(x->r, xasprintf("You already have this subscription (#%zu): “" U "”.", pos),
			       xasprintf("你已订阅过（#%zu）：“" U "”。", pos));
	else
		it = say_owned(x->r, xasprintf("Subscribed (#%zu): “" U "”. New matching stories come to you by DM.", pos),
			       xasprintf("已订阅（#%zu）：“" U "”。匹配的新报道将私信推送给你。", pos));
	arg(it, rule ? rule->expr : expr);
	say_owned(x->r, xasprintf("List: `/ainews subscriptions` · remove: `/ainews unsubscribe %zu`", pos),
		  xasprintf("查看：`/ainews subscriptions` · 取消：`/ainews unsubscribe %zu`", pos));
}

/* Numbered lines; data, so one line even in `both`. */
static void list_rules(struct run *x, const struct rulelist *l)
{
	static const char *const cfg_mark[] = {" (config)", "（配置文件）", " (config 配置文件)"};
	for (size_t i = 0; i < l->n; i++) {
		int cfg = l->v[i].origin && !strcmp(l->v[i].origin, "config");
		struct commands_item *it =
			say_owned(x->r, xasprintf("%zu. " U "%s", i + 1, cfg ? cfg_mark[x->r->lang] : ""), NULL);
		arg(it, l->v[i].expr);
	}
}

static void do_subscriptions(struct run *x)
{
	if (need_user(x))
		return;
	struct rulelist l;
	if (rulelist_load(x, "user", x->user, &l))
		return;
	if (!l.n)
		say(x->r, "You have no subscriptions. Try `/ainews subscribe compute hot>=60`.",
		    "你还没有订阅。试试 `/ainews subscribe 算力 热度>=60`。");
	else {
		say_owned(x->r, xasprintf("Your subscriptions (%zu):", l.n), xasprintf("你的订阅（%zu 条）：", l.n));
		list_rules(x, &l);
		say(x->r, "Remove one: `/ainews unsubscribe <n>` · all: `/ainews unsubscribe all`",
		    "取消：`/ainews unsubscribe <序号>` · 全部：`/ainews unsubscribe all`");
	}
	rulelist_free(&l);
}

static void do_unsubscribe(struct run *x, const char *args)
{
	static const char *const all[] = {"all", "全部", "所有", NULL};
	if (need_user(x))
		return;
	if (!*args) {
		fail(x, "Unsubscribe from what? `/ainews unsubscribe <n|expr|all>`",
		     "取消哪条订阅？`/ainews unsubscribe <序号|表达式|all>`");
		return;
	}
	struct rulelist l;
	if (rulelist_load(x, "user", x->user, &l))
		return;
	if (word_is(args, all)) {
		size_t removed = 0;
		for (size_t i = 0; i < l.n; i++) {
			int rc = app_rule_remove(x->a, l.v[i].id);
			if (rc < 0) {
				internal(x, "unsubscribe");
				rulelist_free(&l);
				return;
			}
			removed += rc == 0;
		}
		say_owned(x->r, xasprintf("Removed all your subscriptions (%zu).", removed),
			  xasprintf("已取消你的全部订阅（%zu 条）。", removed));
		rulelist_free(&l);
		return;
	}
	size_t pos = rulelist_find(x->a, &l, args);
	if (!pos) {
		struct commands_item *it =
			fail(x, "You have no subscription “" U "”. See `/ainews subscriptions`.",
			     "你没有订阅“" U "”。请查看 `/ainews subscriptions`。");
		arg(it, args);
		rulelist_free(&l);
		return;
	}
	if (app_rule_remove(x->a, l.v[pos - 1].id) < 0) {
		internal(x, "unsubscribe");
		rulelist_free(&l);
		return;
	}
	struct commands_item *it = say_owned(x->r, xasprintf("Unsubscribed (#%zu): “" U "”.", pos),
					     xasprintf("已取消订阅（#%zu）：“" U "”。", pos));
	arg(it, l.v[pos - 1].expr);
	rulelist_free(&l);
}

static void do_lang(struct run *x, const char *args)
{
	static const char *const names_en[] = {"English", "中文 (Chinese)", "English and 中文"};
	static const char *const names_zh[] = {"英文", "中文", "中英双语"};
	if (need_user(x))
		return;
	if (!*args) {
		char *p = store_pref_get(x->a->store, x->platform, x->user);
		int l = x->r->lang;
		say_owned(x->r,
			  xasprintf("Your language: %s%s. Change it with `/ainews lang en|zh|both`.", names_en[l],
				    p ? "" : " (default)"),
			  xasprintf("你的语言：%s%s。用 `/ainews lang en|zh|both` 修改。", names_zh[l], p ? "" : "（默认）"));
		free(p);
		return;
	}
	int l = lang_parse(args);
	if (l < 0) {
		struct commands_item *it = fail(x, "Unknown language “" U "”: use `en`, `zh` or `both`.",
						"未知语言“" U "”：请用 `en`、`zh` 或 `both`。");
		arg(it, args);
		return;
	}
	if (store_pref_set(x->a->store, x->platform, x->user, lang_name(l)) < 0) {
		internal(x, "lang");
		return;
	}
	x->r->lang = l;
	say_owned(x->r, xasprintf("Language set to %s.", names_en[l]), xasprintf("语言已设为%s。", names_zh[l]));
}

static void do_channel(struct run *x, const char *args)
{
	static const char *const add[] = {"add", "添加", NULL};
	static const char *const rm[] = {"rm", "remove", "del", "delete", "删除", NULL};
	static const char *const list[] = {"list", "ls", "列表", NULL};
	const char *rest;
	char *sub = first_word(args, &rest);
	int is_add = word_is(sub, add), is_rm = word_is(sub, rm), is_list = !*sub || word_is(sub, list);
	free(sub);
	if (!is_add && !is_rm && !is_list) {
		fail(x, "Use `/ainews channel add <expr>`, `/ainews channel rm <n|expr>` or `/ainews channel list`.",
		     "用法：`/ainews channel add <表达式>`、`/ainews channel rm <序号|表达式>` 或 `/ainews channel list`。");
		return;
	}
	if (!*x->channel) {
		fail(x, "I cannot tell which channel this is.", "无法识别当前频道。");
		return;
	}
	struct rulelist l;
	if (is_list) {
		if (rulelist_load(x, "channel", x->channel, &l))
			return;
		if (!l.n)
			say(x->r, "This channel has no rules.", "本频道没有推送规则。");
		else {
			say_owned(x->r, xasprintf("This channel's rules (%zu):", l.n),
				  xasprintf("本频道的推送规则（%zu 条）：", l.n));
			list_rules(x, &l);
		}
		rulelist_free(&l);
		return;
	}
	if (!config_is_admin(&x->a->cfg, x->platform, x->user)) {
		fail(x, "Only admins can change this channel's rules; `/ainews channel list` shows them.",
		     "只有管理员可以修改本频道的规则；`/ainews channel list` 可查看。");
		return;
	}
	if (!*rest) {
		fail(x, is_add ? "Add which rule? e.g. `/ainews channel add topic:compute and impact>=60`"
			       : "Remove which rule? `/ainews channel rm <n|expr>`",
		     is_add ? "添加哪条规则？例如 `/ainews channel add topic:compute and impact>=60`"
			    : "删除哪条规则？`/ainews channel rm <序号|表达式>`");
		return;
	}
	if (rulelist_load(x, "channel", x->channel, &l))
		return;
	if (is_rm) {
		size_t pos = rulelist_find(x->a, &l, rest);
		if (!pos) {
			struct commands_item *it = fail(x, "This channel has no rule “" U "”. See `/ainews channel list`.",
							"本频道没有规则“" U "”。请查看 `/ainews channel list`。");
			arg(it, rest);
		} else if (l.v[pos - 1].origin && !strcmp(l.v[pos - 1].origin, "config")) {
			/* It would come back at the next start: say where it lives. */
			struct commands_item *it =
				fail(x, "“" U "” comes from the config file; remove it there.",
				     "“" U "”来自配置文件，请在配置文件中删除。");
			arg(it, l.v[pos - 1].expr);
		} else if (app_rule_remove(x->a, l.v[pos - 1].id) < 0) {
			internal(x, "channel rm");
		} else {
			struct commands_item *it = say_owned(x->r, xasprintf("Removed rule #%zu: “" U "”.", pos),
							     xasprintf("已删除规则 #%zu：“" U "”。", pos));
			arg(it, l.v[pos - 1].expr);
		}
		rulelist_free(&l);
		return;
	}
	if (l.n >= COMMANDS_MAX_CHANNEL_RULES) {
		say_owned(x->r,
			  xasprintf("This channel has %zu rules, the most I keep per channel. Remove one first.", l.n),
			  xasprintf("本频道已有 %zu 条规则，达到上限。请先删除一条。", l.n));
		x->r->is_error = 1;
		rulelist_free(&l);
		return;
	}
	rulelist_free(&l);
	int64_t id = 0;
	char *err = NULL;
	int rc = app_rule_add(x->a, x->platform, "channel", x->channel, rest, NULL, "command", &id, &err);
	if (rc < 0) {
		if (err && !strncmp(err, "column ", 7))
			rule_error(x, rest, err);
		else
			internal(x, err ? err : "channel add");
		free(err);
		return;
	}
	const struct store_rule *rule = app_rule_get(x->a, id);
	if (rulelist_load(x, "channel", x->channel, &l))
		return;
	size_t pos = rulelist_pos(&l, id);
	rulelist_free(&l);
	struct commands_item *it =
		rc == 1 ? say_owned(x->r, xasprintf("This channel already has that rule (#%zu): “" U "”.", pos),
				    xasprintf("本频道已有该规则（#%zu）：“" U "”。", pos))
			: say_owned(x->r, xasprintf("Added rule #%zu for this channel: “" U "”.", pos),
				    xasprintf("已为本频道添加规则 #%zu：“" U "”。", pos));
	arg(it, rule ? rule->expr : rest);
}

struct failures {
	struct store_outbox_row v[COMMANDS_STATUS_FAILURES];
	size_t n, total;
};

/* Keep the newest rows: the list comes oldest first. */
static void failures_cb(void *ud, const struct store_outbox_row *r)
{
	struct failures *f = ud;
	struct store_outbox_row *slot = &f->v[f->total % COMMANDS_STATUS_FAILURES];
	if (f->n == COMMANDS_STATUS_FAILURES)
		store_outbox_row_fini(slot);
	else
		f->n++;
	*slot = *r;
	slot->story_id = xstrdup(r->story_id);
	slot->platform = xstrdup(r->platform);
	slot->target = xstrdup(r->target);
	slot->reason = xstrdup(r->reason);
	slot->lang = xstrdup(r->lang);
	slot->remote_id = xstrdup(r->remote_id);
	slot->error = xstrdup(r->error);
	f->total++;
}

static void do_status(struct run *x)
{
	int64_t depth = 0, oldest = 0;
	if (store_outbox_depth(x->a->store, &depth, &oldest) < 0) {
		internal(x, "status");
		return;
	}
	int64_t stories = store_story_count(x->a->store);
	if (depth && oldest) {
		long long age = (long long)(app_now(x->a) - oldest);
		if (age < 0)
			age = 0;
		say_owned(x->r, xasprintf("Stories: %lld · outbox: %lld waiting, oldest %lld s old.",
					  (long long)stories, (long long)depth, age),
			  xasprintf("报道：%lld 篇 · 发送队列：%lld 条待发，最早的已等待 %lld 秒。", (long long)stories,
				    (long long)depth, age));
	} else {
		say_owned(x->r, xasprintf("Stories: %lld · outbox: %lld waiting.", (long long)stories, (long long)depth),
			  xasprintf("报道：%lld 篇 · 发送队列：%lld 条待发。", (long long)stories, (long long)depth));
	}
	struct failures f = {0};
	if (store_outbox_list(x->a->store, "failed", 1000000, failures_cb, &f) < 0) {
		for (size_t i = 0; i < f.n; i++)
			store_outbox_row_fini(&f.v[i]);
		internal(x, "status");
		return;
	}
	if (!f.n) {
		say(x->r, "No permanent delivery failures.", "没有永久失败的发送。");
		return;
	}
	say_owned(x->r, xasprintf("Permanent failures: %zu; the latest:", f.total),
		  xasprintf("永久失败：%zu 条；最近的：", f.total));
	for (size_t k = 0; k < f.n; k++) {
		/* Newest first: walk the ring backwards from the last write. */
		size_t i = (f.total - 1 - k) % COMMANDS_STATUS_FAILURES;
		const struct store_outbox_row *row = &f.v[i];
		char ts[32];
		time_iso(row->created_at, ts);
		struct commands_item *it = say_owned(
			x->r, xasprintf("#%lld %s %s → " U " " U " " U ": " U, (long long)row->id, ts, row->kind), NULL);
		arg(it, row->story_id);
		arg(it, row->platform);
		arg(it, row->target);
		arg(it, row->error ? row->error : "?");
	}
	for (size_t i = 0; i < f.n; i++)
		store_outbox_row_fini(&f.v[i]);
}

/* ---- dispatch ------------------------------------------------------------ */

enum cmd {
	CMD_HELP,
	CMD_TOP,
	CMD_SEARCH,
	CMD_STORY,
	CMD_TOPICS,
	CMD_SUBSCRIBE,
	CMD_UNSUBSCRIBE,
	CMD_SUBSCRIPTIONS,
	CMD_LANG,
	CMD_CHANNEL,
	CMD_STATUS,
};

static const struct {
	const char *word;
	int cmd;
} cmd_words[] = {
	{"help", CMD_HELP},
	{"帮助", CMD_HELP},
	{"?", CMD_HELP},
	{"top", CMD_TOP},
	{"热门", CMD_TOP},
	{"search", CMD_SEARCH},
	{"搜索", CMD_SEARCH},
	{"story", CMD_STORY},
	{"topics", CMD_TOPICS},
	{"话题", CMD_TOPICS},
	{"subscribe", CMD_SUBSCRIBE},
	{"订阅", CMD_SUBSCRIBE},
	{"unsubscribe", CMD_UNSUBSCRIBE},
	{"取消订阅", CMD_UNSUBSCRIBE},
	{"subscriptions", CMD_SUBSCRIPTIONS},
	{"我的订阅", CMD_SUBSCRIPTIONS},
	{"lang", CMD_LANG},
	{"language", CMD_LANG},
	{"语言", CMD_LANG},
	{"channel", CMD_CHANNEL},
	{"频道", CMD_CHANNEL},
	{"status", CMD_STATUS},
	{"状态", CMD_STATUS},
};

/* Full-width ASCII (what a Chinese input method types) to ASCII, the
 * ideographic space to a space, and tabs/newlines to spaces: the grammar
 * is ASCII. Owned. The rule parser folds the same way, so echoed rules and
 * carets stay consistent. */
static char *fold_input(const char *s)
{
	struct sbuf b = {0};
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		uint32_t c;
		int k = utf8_decode(s + i, len - i, &c);
		if (k <= 0)
			k = 1;
		if (c >= 0xFF01 && c <= 0xFF5E)
			sbuf_addc(&b, (char)(c - 0xFEE0));
		else if (c == 0x3000 || c == '\t' || c == '\n' || c == '\r')
			sbuf_addc(&b, ' ');
		else
			sbuf_add(&b, s + i, (size_t)k);
		i += (size_t)k;
	}
	return sbuf_take(&b);
}

/* The text after an optional leading "/ainews" (borrowed). */
static const char *strip_prefix(const char *s)
{
	s = skip_space(s);
	if (!strncasecmp(s, "/ainews", 7) && (!s[7] || space_len(s + 7)))
		s = skip_space(s + 7);
	return s;
}

int commands_run(const struct commands_ctx *c, const char *text, struct commands_reply *out)
{
	memset(out, 0, sizeof *out);
	out->ephemeral = 1;
	out->lang = FORMAT_BOTH;
	if (!c || !c->app) {
		out->is_error = 1;
		say(out, "Internal error: no app.", "内部错误：缺少应用上下文。");
		return -1;
	}
	struct run x = {c, c->app, out, c->platform ? c->platform : "", c->user ? c->user : "",
			c->channel ? c->channel : "", 0};
	out->lang = reply_lang(c);
	if (!text)
		text = "";
	if (validate(&x, text))
		return 0;

	char *folded = fold_input(text);
	if (refuse_mentions(&x, folded)) {
		free(folded);
		return 0;
	}
	char *buf = xstrdup(strip_prefix(folded));
	free(folded);
	str_trim(buf);
	const char *rest;
	char *word = first_word(buf, &rest);
	int cmd = -1;
	for (size_t i = 0; i < sizeof cmd_words / sizeof *cmd_words && cmd < 0; i++)
		if (!strcasecmp(word, cmd_words[i].word))
			cmd = cmd_words[i].cmd;
	if (!*word)
		cmd = CMD_HELP;

	switch (cmd) {
	case CMD_HELP:
		do_help(&x);
		break;
	case CMD_TOP:
		do_top(&x, rest);
		break;
	case CMD_SEARCH:
		do_search(&x, rest);
		break;
	case CMD_STORY:
		do_story(&x, rest);
		break;
	case CMD_TOPICS:
		do_topics(&x);
		break;
	case CMD_SUBSCRIBE:
		do_subscribe(&x, rest);
		break;
	case CMD_UNSUBSCRIBE:
		do_unsubscribe(&x, rest);
		break;
	case CMD_SUBSCRIPTIONS:
		do_subscriptions(&x);
		break;
	case CMD_LANG:
		do_lang(&x, rest);
		break;
	case CMD_CHANNEL:
		do_channel(&x, rest);
		break;
	case CMD_STATUS:
		do_status(&x);
		break;
	default:
		do_query(&x, buf);
		break;
	}
	free(word);
	free(buf);
	return x.rc;
}

/* ---- rendering ----------------------------------------------------------- */

/* Our own text for target: Slack reads & < > as markup even in our text,
 * and the console has no use for the backticks that mark commands. */
static void add_own(struct sbuf *b, int target, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (target == FORMAT_CONSOLE && ch == '`')
			continue;
		if (target == FORMAT_SLACK && ch == '&')
			sbuf_adds(b, "&amp;");
		else if (target == FORMAT_SLACK && ch == '<')
			sbuf_adds(b, "&lt;");
		else if (target == FORMAT_SLACK && ch == '>')
			sbuf_adds(b, "&gt;");
		else
			sbuf_addc(b, ch);
	}
}

/* Untrusted text, escaped for target; one line. */
static void add_untrusted(struct sbuf *b, int target, const char *s)
{
	char *e = format_escape((enum format_target)target, s);
	if (e) {
		for (char *p = e; *p; p++)
			if (*p == '\n')
				*p = ' ';
		sbuf_adds(b, e);
	}
	free(e);
}

/* Text inside a code block: markup is inert there, but a fence could be
 * closed early and mentions may still notify, so backticks become a
 * lookalike and @ / < get a zero-width space (width-neutral for the caret). */
static void add_code(struct sbuf *b, int target, const char *s, int untrusted)
{
	char *clean = untrusted ? format_escape(FORMAT_CONSOLE, s) : xstrdup(s);
	for (const char *p = clean; *p; p++) {
		char ch = *p;
		if (target == FORMAT_CONSOLE) {
			sbuf_addc(b, ch);
			continue;
		}
		if (ch == '`')
			sbuf_adds(b, "\xCB\x8B"); /* U+02CB */
		else if (target == FORMAT_SLACK && ch == '&')
			sbuf_adds(b, "&amp;");
		else if (target == FORMAT_SLACK && ch == '<')
			sbuf_adds(b, "&lt;");
		else if (target == FORMAT_SLACK && ch == '>')
			sbuf_adds(b, "&gt;");
		else if (untrusted && (ch == '@' || (ch == '<' && target == FORMAT_DISCORD)))
			sbuf_addf(b, "%c\xE2\x80\x8B", ch);
		else
			sbuf_addc(b, ch);
	}
	free(clean);
}

static void fence_open(struct sbuf *b, int target)
{
	if (target != FORMAT_CONSOLE)
		sbuf_adds(b, "```\n");
}

static void fence_close(struct sbuf *b, int target)
{
	if (target != FORMAT_CONSOLE)
		sbuf_adds(b, "\n```");
}

static char *text_line(const char *tmpl, const struct strv *args, int target)
{
	struct sbuf b = {0};
	size_t ai = 0;
	const char *p = tmpl;
	for (;;) {
		const char *m = strchr(p, U[0]);
		add_own(&b, target, p, m ? (size_t)(m - p) : strlen(p));
		if (!m)
			break;
		if (ai < args->n)
			add_untrusted(&b, target, args->v[ai++]);
		p = m + 1;
	}
	return sbuf_take(&b);
}

/* The texts of an own-text item in the reply language: one, or EN then 中文. */
static size_t pick_texts(const struct commands_item *it, int lang, const char *out[2])
{
	const char *zh = it->zh ? it->zh : it->en;
	if (lang == FORMAT_EN)
		out[0] = it->en;
	else if (lang == FORMAT_ZH)
		out[0] = zh;
	else {
		out[0] = it->en;
		if (strcmp(zh, it->en)) {
			out[1] = zh;
			return 2;
		}
	}
	return 1;
}

/* A preformatted block split into fences of at most max characters each;
 * one fragment per fence. */
static void pre_frags(const char *text, int target, size_t max, struct strv *out)
{
	struct sbuf b = {0}, line = {0};
	const char *p = text;
	size_t chars = 0;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		sbuf_reset(&line);
		char *raw = xstrndup(p, n);
		add_code(&line, target, raw, 0);
		free(raw);
		size_t lc = format_chars(line.s) + 1;
		if (b.len && max && chars + lc > max) {
			fence_close(&b, target);
			strv_push_owned(out, sbuf_take(&b));
			chars = 0;
		}
		if (!b.len)
			fence_open(&b, target);
		else
			sbuf_addc(&b, '\n');
		sbuf_add(&b, line.s, line.len);
		chars += lc;
		p = e ? e + 1 : p + n;
	}
	if (b.len) {
		fence_close(&b, target);
		strv_push_owned(out, sbuf_take(&b));
	}
	sbuf_free(&b);
	sbuf_free(&line);
}

static void add_scores(struct sbuf *b, const int *scores)
{
	static const char *const emoji[3] = {"\xF0\x9F\x94\xA5", "\xE2\x9C\x93", "\xE2\x9A\xA1"};
	size_t start = b->len;
	for (int i = 0; i < 3; i++) {
		if (scores[i] < 0 || scores[i] > 100)
			continue;
		if (b->len > start)
			sbuf_addc(b, ' ');
		sbuf_addf(b, "%s%d", emoji[i], scores[i]);
	}
	if (b->len > start)
		sbuf_adds(b, " · ");
}

static void add_title(struct sbuf *b, int target, const char *title, int bold)
{
	char *t = format_truncate(title, TITLE_MAX);
	const char *mark = !bold || target == FORMAT_CONSOLE ? "" : target == FORMAT_SLACK ? "*" : "**";
	sbuf_adds(b, mark);
	add_untrusted(b, target, t);
	sbuf_adds(b, mark);
	free(t);
}

static char *story_line(const struct commands_item *it, int lang, int target)
{
	struct sbuf b = {0};
	sbuf_adds(&b, "• ");
	add_scores(&b, it->scores);
	const char *en = it->title[STORY_EN], *zh = it->title[STORY_ZH];
	const char *first = lang == FORMAT_ZH ? (zh ? zh : en) : (en ? en : zh);
	if (!first)
		first = lang == FORMAT_ZH ? "（无标题）" : "(untitled)";
	add_title(&b, target, first, 1);
	if (lang == FORMAT_BOTH && en && zh && strcmp(en, zh)) {
		sbuf_adds(&b, " / ");
		add_title(&b, target, zh, 0);
	}
	sbuf_adds(&b, " · ");
	add_untrusted(&b, target, it->story_id);
	return sbuf_take(&b);
}

static char *caret_block(const struct commands_item *it, int target)
{
	struct sbuf b = {0};
	fence_open(&b, target);
	sbuf_adds(&b, "  ");
	add_code(&b, target, it->args.n ? it->args.v[0] : "", 1);
	sbuf_adds(&b, "\n  ");
	for (int i = 0; i < it->column; i++)
		sbuf_addc(&b, ' ');
	sbuf_addc(&b, '^');
	fence_close(&b, target);
	return sbuf_take(&b);
}

/* One part of a rendered reply: a text fragment, or a card's rendering. */
struct part {
	char *text;  /* fragment, or the card's text */
	char *json;  /* card: Slack blocks array / Discord embed object */
	int is_card;
};

struct parts {
	struct part *v;
	size_t n, cap;
};

static void parts_push(struct parts *p, char *text, char *json, int is_card)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->v[p->n++] = (struct part){text, json, is_card};
}

static void parts_free(struct parts *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].text), free(p->v[i].json);
	free(p->v);
}

/* Render story id as a card; 1 when it is no longer stored. */
static int card_render(struct app *a, const char *id, int lang, int target, char **text, char **json)
{
	struct story s;
	story_init(&s);
	int rc = store_story_get(a->store, id, 0, &s);
	if (rc != 1) {
		story_free(&s);
		return rc < 0 ? -1 : 1;
	}
	const char **names = xcalloc(s.topics.n + 1, sizeof *names);
	for (size_t i = 0; i < s.topics.n; i++) {
		int k = topics_find(a->topics, TOPICS_TOPIC, s.topics.v[i]);
		const struct topics_entry *e = k >= 0 ? topics_get(a->topics, TOPICS_TOPIC, (size_t)k) : NULL;
		names[i] = e ? (lang == FORMAT_ZH ? e->name_zh : e->name_en) : NULL;
	}
	struct format_card card;
	format_card_build(&card, &s, lang, names, a->cfg.public_url, NULL);
	rc = format_render(&card, (enum format_target)target, text, json);
	format_card_free(&card);
	free(names);
	story_free(&s);
	return rc < 0 ? -1 : 0;
}

static size_t chunk_max(int target)
{
	switch (target) {
	case FORMAT_SLACK:
		return SLACK_CHUNK;
	case FORMAT_DISCORD:
		return DISCORD_CHUNK;
	case FORMAT_MATTERMOST:
		return FORMAT_MATTERMOST_MAX / 2;
	default:
		return 0;
	}
}

static int reply_parts(struct app *a, const struct commands_reply *r, int target, struct parts *out)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct commands_item *it = &r->items[i];
		const char *t[2] = {NULL, NULL};
		size_t nt;
		switch (it->kind) {
		case COMMANDS_ITEM_TEXT: {
			nt = pick_texts(it, r->lang, t);
			struct sbuf b = {0};
			for (size_t k = 0; k < nt; k++) {
				char *line = text_line(t[k], &it->args, target);
				if (k)
					sbuf_addc(&b, '\n');
				sbuf_adds(&b, line);
				free(line);
			}
			parts_push(out, sbuf_take(&b), NULL, 0);
			break;
		}
		case COMMANDS_ITEM_PRE: {
			struct strv frags = {0};
			nt = pick_texts(it, r->lang, t);
			for (size_t k = 0; k < nt; k++)
				pre_frags(t[k], target, chunk_max(target), &frags);
			for (size_t k = 0; k < frags.n; k++) {
				parts_push(out, frags.v[k], NULL, 0);
				frags.v[k] = NULL;
			}
			strv_free(&frags);
			break;
		}
		case COMMANDS_ITEM_CARET:
			parts_push(out, caret_block(it, target), NULL, 0);
			break;
		case COMMANDS_ITEM_STORY:
			parts_push(out, story_line(it, r->lang, target), NULL, 0);
			break;
		case COMMANDS_ITEM_CARD: {
			char *text = NULL, *json = NULL;
			int rc = card_render(a, it->story_id, r->lang, target, &text, &json);
			if (rc < 0)
				return -2;
			if (rc == 1) {
				struct commands_item gone = {.kind = COMMANDS_ITEM_TEXT,
							     .en = "Story “" U "” is no longer stored.",
							     .zh = "报道“" U "”已不在库中。"};
				struct strv args = {0};
				strv_push(&args, it->story_id);
				nt = pick_texts(&gone, r->lang, t);
				parts_push(out, text_line(t[0], &args, target), NULL, 0);
				strv_free(&args);
				break;
			}
			parts_push(out, text, json, 1);
			break;
		}
		}
	}
	return 0;
}

static char *more_note(const struct commands_reply *r, size_t n, int target)
{
	struct commands_item it = {.kind = COMMANDS_ITEM_TEXT};
	it.en = xasprintf("… %zu more not shown", n);
	it.zh = xasprintf("……另有 %zu 项未显示", n);
	const char *t[2] = {NULL, NULL};
	size_t nt = pick_texts(&it, r->lang, t);
	struct sbuf b = {0};
	struct strv none = {0};
	for (size_t k = 0; k < nt; k++) {
		char *line = text_line(t[k], &none, target);
		if (k)
			sbuf_addc(&b, ' ');
		sbuf_adds(&b, line);
		free(line);
	}
	free(it.en);
	free(it.zh);
	return sbuf_take(&b);
}

/* Join parts' texts with "\n" (cards with blank lines around) into at most
 * max characters (0 = no cap), dropping whole parts that do not fit. */
static char *join_capped(const struct commands_reply *r, const struct parts *p, int target, size_t max)
{
	struct sbuf b = {0};
	size_t chars = 0, dropped = 0;
	for (size_t i = 0; i < p->n; i++) {
		const char *t = p->v[i].text ? p->v[i].text : "";
		const char *sep = !b.len ? "" : p->v[i].is_card || (i && p->v[i - 1].is_card) ? "\n\n" : "\n";
		size_t c = format_chars(t) + format_chars(sep);
		if (max && (dropped || chars + c > max - 40)) {
			dropped++;
			continue;
		}
		sbuf_adds(&b, sep);
		sbuf_adds(&b, t);
		chars += c;
	}
	if (dropped) {
		char *note = more_note(r, dropped, target);
		if (b.len)
			sbuf_addc(&b, '\n');
		sbuf_adds(&b, note);
		free(note);
	}
	while (b.len && b.s[b.len - 1] == '\n')
		b.s[--b.len] = 0;
	return sbuf_take(&b);
}

static char *render_console(const struct parts *p)
{
	struct sbuf b = {0};
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].is_card) {
			sbuf_adds(&b, p->v[i].text);
			continue;
		}
		sbuf_adds(&b, p->v[i].text);
		sbuf_addc(&b, '\n');
	}
	return sbuf_take(&b);
}

static int add_section(cJSON *blocks, const char *text)
{
	cJSON *sec = cJSON_CreateObject(), *t = cJSON_CreateObject();
	if (!sec || !t || !cJSON_AddStringToObject(sec, "type", "section") || !cJSON_AddStringToObject(t, "type", "mrkdwn") ||
	    !cJSON_AddStringToObject(t, "text", text)) {
		cJSON_Delete(sec);
		cJSON_Delete(t);
		return -1;
	}
	cJSON_AddItemToObject(sec, "text", t);
	cJSON_AddItemToArray(blocks, sec);
	return 0;
}

static int render_slack(const struct commands_reply *r, const struct parts *p, char **text, char **json)
{
	cJSON *blocks = cJSON_CreateArray();
	if (!blocks)
		return -2;
	struct sbuf sec = {0};
	size_t sec_chars = 0, dropped = 0;
	int ok = 1;
	/* One block stays free for the "more" note. */
	const int room = FORMAT_SLACK_BLOCKS_MAX - 1;
	for (size_t i = 0; i < p->n && ok; i++) {
		const struct part *pt = &p->v[i];
		if (dropped) {
			dropped++;
			continue;
		}
		if (!pt->is_card) {
			size_t c = format_chars(pt->text) + 1;
			if (sec.len && sec_chars + c > FORMAT_SLACK_SECTION_MAX) {
				if (cJSON_GetArraySize(blocks) >= room) {
					dropped++;
					continue;
				}
				ok = add_section(blocks, sec.s) == 0;
				sbuf_reset(&sec);
				sec_chars = 0;
			}
			if (cJSON_GetArraySize(blocks) >= room) {
				dropped++;
				continue;
			}
			if (sec.len)
				sbuf_addc(&sec, '\n');
			sbuf_adds(&sec, pt->text);
			sec_chars += c;
			continue;
		}
		cJSON *cb = cJSON_Parse(pt->json);
		int need = cb ? cJSON_GetArraySize(cb) : 0;
		if (!cb) {
			ok = 0;
			break;
		}
		if (cJSON_GetArraySize(blocks) + (sec.len ? 1 : 0) + need > room) {
			cJSON_Delete(cb);
			dropped++;
			continue;
		}
		if (sec.len) {
			ok = add_section(blocks, sec.s) == 0;
			sbuf_reset(&sec);
			sec_chars = 0;
		}
		cJSON *el;
		while (ok && (el = cJSON_DetachItemFromArray(cb, 0)))
			cJSON_AddItemToArray(blocks, el);
		cJSON_Delete(cb);
	}
	if (ok && sec.len)
		ok = add_section(blocks, sec.s) == 0;
	sbuf_free(&sec);
	if (ok && dropped) {
		char *note = more_note(r, dropped, FORMAT_SLACK);
		ok = add_section(blocks, note) == 0;
		free(note);
	}
	char *js = ok ? cJSON_PrintUnformatted(blocks) : NULL;
	cJSON_Delete(blocks);
	if (!js)
		return -2;
	*json = xstrdup(js);
	cJSON_free(js);
	*text = join_capped(r, p, FORMAT_SLACK, FORMAT_SLACK_FALLBACK_MAX);
	return 0;
}

/* Characters Discord counts towards the 6,000 of a message's embeds. */
static size_t embed_chars(const cJSON *em)
{
	static const char *const top[] = {"title", "description", NULL};
	size_t n = 0;
	for (const char *const *k = top; *k; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(em, *k);
		if (cJSON_IsString(v))
			n += format_chars(v->valuestring);
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(em, "footer"), "text");
	if (cJSON_IsString(v))
		n += format_chars(v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(em, "author"), "name");
	if (cJSON_IsString(v))
		n += format_chars(v->valuestring);
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(em, "fields"))
	{
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name"),
			    *vl = cJSON_GetObjectItemCaseSensitive(f, "value");
		if (cJSON_IsString(nm))
			n += format_chars(nm->valuestring);
		if (cJSON_IsString(vl))
			n += format_chars(vl->valuestring);
	}
	return n;
}

/* Description embed holding our own text. */
static int add_desc_embed(cJSON *embeds, const char *desc)
{
	cJSON *em = cJSON_CreateObject();
	if (!em || !cJSON_AddStringToObject(em, "description", desc) || !cJSON_AddNumberToObject(em, "color", 0x868E96)) {
		cJSON_Delete(em);
		return -1;
	}
	cJSON_AddItemToArray(embeds, em);
	return 0;
}

static int render_discord(const struct commands_reply *r, const struct parts *p, char **text, char **json)
{
	size_t own = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->v[i].is_card)
			own += format_chars(p->v[i].text) + 1;
	/* Short text is the message content; longer text (the taxonomy, 50
	 * story lines) moves into embed descriptions, which hold twice as much
	 * each, up to the 6,000 characters all embeds share. */
	int in_content = own <= FORMAT_DISCORD_CONTENT_MAX;
	cJSON *embeds = cJSON_CreateArray();
	if (!embeds)
		return -2;
	struct sbuf content = {0}, desc = {0};
	size_t total = 0, desc_chars = 0, dropped = 0;
	int ok = 1;
	for (size_t i = 0; i < p->n && ok; i++) {
		const struct part *pt = &p->v[i];
		if (!pt->is_card && in_content) {
			if (content.len)
				sbuf_addc(&content, '\n');
			sbuf_adds(&content, pt->text);
			continue;
		}
		if (!pt->is_card) {
			size_t c = format_chars(pt->text) + (desc.len ? 1 : 0);
			if (desc.len && desc_chars + c > FORMAT_DISCORD_DESC_MAX) {
				ok = add_desc_embed(embeds, desc.s) == 0;
				total += desc_chars;
				sbuf_reset(&desc);
				desc_chars = 0;
				c = format_chars(pt->text);
			}
			/* A new description needs a free embed slot. */
			int slots = DISCORD_EMBEDS_MAX - cJSON_GetArraySize(embeds) - (desc.len ? 0 : 1);
			if (dropped || slots < 0 || total + desc_chars + c > FORMAT_DISCORD_EMBED_TOTAL_MAX) {
				dropped++;
				continue;
			}
			if (desc.len)
				sbuf_addc(&desc, '\n');
			sbuf_adds(&desc, pt->text);
			desc_chars += c;
			continue;
		}
		if (desc.len) {
			ok = add_desc_embed(embeds, desc.s) == 0;
			total += desc_chars;
			sbuf_reset(&desc);
			desc_chars = 0;
		}
		cJSON *em = cJSON_Parse(pt->json);
		if (!em) {
			ok = 0;
			break;
		}
		size_t ec = embed_chars(em);
		if (cJSON_GetArraySize(embeds) >= DISCORD_EMBEDS_MAX || total + ec > FORMAT_DISCORD_EMBED_TOTAL_MAX) {
			cJSON_Delete(em);
			dropped++;
			continue;
		}
		cJSON_AddItemToArray(embeds, em);
		total += ec;
	}
	if (ok && desc.len)
		ok = add_desc_embed(embeds, desc.s) == 0;
	sbuf_free(&desc);
	if (ok && dropped) {
		char *note = more_note(r, dropped, FORMAT_DISCORD);
		if (format_chars(content.s ? content.s : "") + format_chars(note) + 1 <= FORMAT_DISCORD_CONTENT_MAX) {
			if (content.len)
				sbuf_addc(&content, '\n');
			sbuf_adds(&content, note);
		}
		free(note);
	}
	char *js = ok ? cJSON_PrintUnformatted(embeds) : NULL;
	cJSON_Delete(embeds);
	if (!js) {
		sbuf_free(&content);
		return -2;
	}
	*json = xstrdup(js);
	cJSON_free(js);
	*text = sbuf_take(&content);
	return 0;
}

int commands_render(struct app *a, const struct commands_reply *r, int target, char **text, char **json)
{
	char *js = NULL;
	*text = NULL;
	if (json)
		*json = NULL;
	if (!a || !r || target < FORMAT_CONSOLE || target > FORMAT_MATTERMOST)
		return -1;
	struct parts p = {0};
	int rc = reply_parts(a, r, target, &p);
	if (rc == 0) {
		switch (target) {
		case FORMAT_CONSOLE:
			*text = render_console(&p);
			break;
		case FORMAT_SLACK:
			rc = render_slack(r, &p, text, &js);
			break;
		case FORMAT_DISCORD:
			rc = render_discord(r, &p, text, &js);
			break;
		default:
			*text = join_capped(r, &p, target, FORMAT_MATTERMOST_MAX);
			break;
		}
	}
	parts_free(&p);
	if (rc) {
		free(*text);
		free(js);
		*text = NULL;
		return rc;
	}
	if (json)
		*json = js;
	else
		free(js);
	return 0;
}
