/* test_commands — the slash-command grammar, handlers and reply rendering,
 * against a real store holding the three shared samples. Run from the
 * project root. */
#define _GNU_SOURCE
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "commands.h"
#include "format.h"
#include "ingest.h"
#include "rules.h"
#include "store.h"
#include "t.h"
#include "t_db.h"
#include "topics.h"

static struct app app;
static char ids[3][64];        /* story ids of samples 000, 001, 002 */
static char title001[256];     /* sample 001's stored EN title */
static int64_t fixed_now;

static int64_t test_clock(void)
{
	return fixed_now;
}

static void on_ingest(void *ud, const struct ingest_report *r)
{
	char *id = ud;
	if (r->ok && r->id && id)
		snprintf(id, 64, "%s", r->id);
	if (!r->ok)
		printf("# ingest %s: %s\n", r->name, r->msg ? r->msg : "?");
}

/* Last reply's renderings, owned here so checks stay one-liners. */
static struct commands_reply rep;
static char *out, *js;
static int last_rc;

static void reset(void)
{
	commands_reply_fini(&rep);
	free(out), free(js);
	out = js = NULL;
}

/* Run text as user in channel and render for target. */
static const char *run_as(const char *user, const char *channel, const char *hint, const char *text, int target)
{
	reset();
	struct commands_ctx c = {&app, "console", user, channel, hint};
	last_rc = commands_run(&c, text, &rep);
	if (commands_render(&app, &rep, target, &out, &js) != 0)
		printf("# render failed for %s\n", text);
	return out ? out : "";
}

static const char *run(const char *text)
{
	return run_as("console", "console", NULL, text, FORMAT_CONSOLE);
}

static int has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Number of rules the store holds for (console, kind, target). */
static void count_cb(void *ud, const struct store_rule *r)
{
	(void)r;
	(*(int *)ud)++;
}

static int stored_rules(const char *kind, const char *target)
{
	int n = 0;
	store_rules(app.store, "console", kind, target, count_cb, &n);
	return n;
}

/* Line of s containing needle, copied into buf; "" when none. */
static const char *line_with(const char *s, const char *needle, char *buf, size_t size)
{
	const char *p = strstr(s, needle);
	buf[0] = 0;
	if (!p)
		return buf;
	const char *a = p, *b = p;
	while (a > s && a[-1] != '\n')
		a--;
	while (*b && *b != '\n')
		b++;
	snprintf(buf, size, "%.*s", (int)(b - a), a);
	return buf;
}

static size_t leading_spaces(const char *s)
{
	size_t n = 0;
	while (s[n] == ' ')
		n++;
	return n;
}

/* ---- rendering limits ---------------------------------------------------- */

/* The renderings of the reply to text on every platform are valid JSON
 * within the platform limits and carry no live mention from input. */
static void check_platforms(const char *user, const char *text, const char *what)
{
	struct commands_ctx c = {&app, "console", user, "console", NULL};
	struct commands_reply r;
	commands_run(&c, text, &r);
	for (int t = FORMAT_CONSOLE; t <= FORMAT_MATTERMOST; t++) {
		char *tx = NULL, *j = NULL;
		int rc = commands_render(&app, &r, t, &tx, &j);
		T_INT(rc, 0);
		T_OK(tx != NULL, "%s: target %d has text", what, t);
		if (!tx) {
			free(j);
			continue;
		}
		T_OK(utf8_valid(tx, strlen(tx), NULL), "%s: target %d text is UTF-8", what, t);
		if (t != FORMAT_CONSOLE) {
			T_OK(!has(tx, "@everyone") && !has(tx, "<!channel>") && !has(tx, "@here"),
			     "%s: target %d text has no live mention", what, t);
			T_OK(!j || (!has(j, "@everyone") && !has(j, "<!channel>") && !has(j, "@here")),
			     "%s: target %d json has no live mention", what, t);
		}
		if (t == FORMAT_CONSOLE || t == FORMAT_MATTERMOST) {
			T_OK(j == NULL, "%s: no json for target %d", what, t);
			if (t == FORMAT_MATTERMOST)
				T_OK(format_chars(tx) <= FORMAT_MATTERMOST_MAX, "%s: mattermost within limit", what);
		} else if (t == FORMAT_SLACK) {
			cJSON *b = j ? cJSON_Parse(j) : NULL;
			T_OK(cJSON_IsArray(b), "%s: slack blocks parse", what);
			T_OK(cJSON_GetArraySize(b) >= 1 && cJSON_GetArraySize(b) <= FORMAT_SLACK_BLOCKS_MAX,
			     "%s: slack block count %d", what, cJSON_GetArraySize(b));
			const cJSON *blk;
			int long_sections = 0;
			cJSON_ArrayForEach(blk, b)
			{
				const cJSON *txt = cJSON_GetObjectItem(cJSON_GetObjectItem(blk, "text"), "text");
				if (cJSON_IsString(txt) && format_chars(txt->valuestring) > FORMAT_SLACK_SECTION_MAX)
					long_sections++;
			}
			T_INT(long_sections, 0);
			T_OK(format_chars(tx) <= FORMAT_SLACK_FALLBACK_MAX, "%s: slack fallback %zu chars", what,
			     format_chars(tx));
			cJSON_Delete(b);
		} else {
			cJSON *e = j ? cJSON_Parse(j) : NULL;
			T_OK(cJSON_IsArray(e), "%s: discord embeds parse", what);
			T_OK(cJSON_GetArraySize(e) <= 10, "%s: at most 10 embeds", what);
			size_t total = 0;
			const cJSON *em;
			cJSON_ArrayForEach(em, e)
			{
				const char *keys[] = {"title", "description"};
				for (int k = 0; k < 2; k++) {
					const cJSON *v = cJSON_GetObjectItem(em, keys[k]);
					if (cJSON_IsString(v))
						total += format_chars(v->valuestring);
				}
				const cJSON *d = cJSON_GetObjectItem(em, "description");
				T_OK(!cJSON_IsString(d) || format_chars(d->valuestring) <= FORMAT_DISCORD_DESC_MAX,
				     "%s: description within limit", what);
				const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(em, "footer"), "text");
				if (cJSON_IsString(v))
					total += format_chars(v->valuestring);
				v = cJSON_GetObjectItem(cJSON_GetObjectItem(em, "author"), "name");
				if (cJSON_IsString(v))
					total += format_chars(v->valuestring);
				const cJSON *f;
				cJSON_ArrayForEach(f, cJSON_GetObjectItem(em, "fields"))
				{
					const cJSON *nm = cJSON_GetObjectItem(f, "name"), *vl = cJSON_GetObjectItem(f, "value");
					total += cJSON_IsString(nm) ? format_chars(nm->valuestring) : 0;
					total += cJSON_IsString(vl) ? format_chars(vl->valuestring) : 0;
				}
			}
			T_OK(total <= FORMAT_DISCORD_EMBED_TOTAL_MAX, "%s: discord embed total %zu", what, total);
			T_OK(format_chars(tx) <= FORMAT_DISCORD_CONTENT_MAX, "%s: discord content %zu chars", what,
			     format_chars(tx));
			T_OK(*tx || cJSON_GetArraySize(e) > 0, "%s: discord message not empty", what);
			cJSON_Delete(e);
		}
		free(tx);
		free(j);
	}
	commands_reply_fini(&r);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_help_and_language(void)
{
	const char *o = run("");
	T_OK(has(o, "Commands:") && has(o, "命令："), "empty text: bilingual help by default (both)\n%s", o);
	T_OK(has(o, "/ainews subscribe <expr>") && has(o, "/ainews 订阅 <表达式>"), "help lists subscribe");
	T_INT(rep.is_error, 0);
	T_INT(rep.ephemeral, 1);
	T_OK(has(run("/ainews help"), "Commands:"), "leading /ainews is stripped");
	T_OK(has(run("HELP"), "Commands:"), "command words are case-insensitive");
	T_OK(has(run("帮助"), "命令："), "帮助 is help");

	/* lang_hint without a preference. */
	o = run_as("carol", "c1", "zh-CN", "help", FORMAT_CONSOLE);
	T_OK(has(o, "命令：") && !has(o, "Commands:"), "zh-CN hint gives Chinese help\n%s", o);
	T_INT(rep.lang, FORMAT_ZH);
	o = run_as("carol", "c1", "en-US", "help", FORMAT_CONSOLE);
	T_OK(has(o, "Commands:") && !has(o, "命令："), "en-US hint gives English help");

	/* A stored preference beats the hint. */
	o = run_as("carol", "c1", "en-US", "lang zh", FORMAT_CONSOLE);
	T_OK(has(o, "语言已设为中文"), "lang zh confirmed in Chinese: %s", o);
	T_INT(rep.ephemeral, 1);
	char *pref = store_pref_get(app.store, "console", "carol");
	T_STR(pref, "zh");
	free(pref);
	o = run_as("carol", "c1", "en-US", "help", FORMAT_CONSOLE);
	T_OK(has(o, "命令：") && !has(o, "Commands:"), "preference zh beats hint en-US");
	o = run_as("carol", "c1", NULL, "lang", FORMAT_CONSOLE);
	T_OK(has(o, "你的语言：中文"), "lang without argument shows the preference: %s", o);
	o = run_as("carol", "c1", NULL, "语言 both", FORMAT_CONSOLE);
	T_OK(has(o, "Language set to English and 中文") && has(o, "中英双语"), "语言 both: %s", o);
	o = run_as("carol", "c1", NULL, "lang en", FORMAT_CONSOLE);
	T_OK(has(o, "Language set to English.") && !has(o, "语言"), "lang en: %s", o);
	o = run_as("carol", "c1", "zh-CN", "lang klingon", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "Unknown language") && has(o, "klingon"), "bad language refused: %s", o);
	pref = store_pref_get(app.store, "console", "carol");
	T_STR(pref, "en");
	free(pref);
}

static void test_queries(void)
{
	const char *o = run("compute");
	T_OK(has(o, "Compute (算力)"), "compute resolves to the topic:\n%s", o);
	T_OK(has(o, title001) && has(o, ids[1]), "compute lists sample 001 (%s)", ids[1]);
	T_OK(has(o, "Meta Signs AI Computing Power Agreement"), "sample 001 title shown");
	T_OK(has(o, "🔥70 ✓65 ⚡70"), "sample 001 scores shown");
	T_INT(rep.is_error, 0);
	T_INT(rep.ephemeral, 1);
	size_t lines = count(o, "\n• ");
	T_OK(lines >= 1 && lines <= (size_t)app.cfg.query_limit, "story lines within query_limit: %zu", lines);

	o = run("算力");
	T_OK(has(o, ids[1]) && has(o, "Meta Signs AI Computing Power Agreement"), "算力 lists sample 001");
	o = run("資料中心");
	T_OK(has(o, "Compute (算力)") && has(o, ids[1]), "Traditional 資料中心 resolves to compute");

	o = run("nvidia");
	T_OK(has(o, "Nvidia (英伟达)"), "nvidia resolves to the entity: %s", o);
	o = run("英伟达");
	T_OK(has(o, "Nvidia (英伟达)"), "英伟达 resolves to the entity");
	o = run("輝達");
	T_OK(has(o, "Nvidia (英伟达)"), "輝達 resolves to the entity");

	o = run("search 人才");
	T_OK(has(o, ids[0]) && has(o, ids[2]), "search 人才 finds samples 000 and 002:\n%s", o);
	o = run("搜索 人才");
	T_OK(has(o, ids[0]) && has(o, ids[2]), "搜索 is search");
	o = run("search");
	T_OK(rep.is_error && has(o, "search"), "search without words is a usage error");

	o = run("\"Noam Shazeer\"");
	T_OK(has(o, "Stories matching “Noam Shazeer”") && has(o, ids[0]), "quoted phrase is a keyword search:\n%s",
	     o);
	o = run("Crusoe data center");
	T_OK(has(o, ids[1]) && !has(o, ids[2]), "several words: AND keyword search\n%s", o);

	o = run("computr");
	T_OK(has(o, "No stories for “computr”") && has(o, "Did you mean") && has(o, "compute (算力)"),
	     "unknown word gets suggestions: %s", o);
	o = run("zzqqxxw");
	T_OK(has(o, "zzqqxxw") && has(o, "/ainews topics"), "no suggestion still answers: %s", o);
	T_OK(strlen(o) > 0, "never silence");

	o = run("topics");
	T_OK(has(o, "Compute · 算力") && has(o, "Talent · 人才") && has(o, "Nvidia · 英伟达"), "topics lists names");
	char buf[256];
	const char *l = line_with(o, "Topics (", buf, sizeof buf);
	int ntopics = 0;
	T_OK(sscanf(l, "Topics (%d)", &ntopics) == 1 && ntopics >= 15, "at least 15 topics: %s", l);
	T_INT(ntopics, (int)topics_count(app.topics, TOPICS_TOPIC));
	size_t both_names = 0;
	for (size_t i = 0; i < topics_count(app.topics, TOPICS_TOPIC); i++) {
		const struct topics_entry *e = topics_get(app.topics, TOPICS_TOPIC, i);
		char *pair = xasprintf("%s · %s", e->name_en, e->name_zh);
		both_names += has(o, pair);
		free(pair);
	}
	T_INT(both_names, topics_count(app.topics, TOPICS_TOPIC));
	T_OK(has(run("话题"), "Compute · 算力"), "话题 is topics");
}

static void test_story_and_top(void)
{
	char *cmd = xasprintf("story %s", ids[1]);
	const char *o = run(cmd);
	T_OK(has(o, "Meta Signs AI Computing Power Agreement") && has(o, "Meta或同数据中心公司Crusoe签署AI算力协议"),
	     "story shows the full card:\n%s", o);
	T_OK(has(o, "• Meta secures ~1.6 gigawatts"), "card has TL;DR bullets");
	T_OK(has(o, "Full analysis") && has(o, ids[1]), "card has analysis links");
	T_OK(rep.n == 1 && rep.items[0].kind == COMMANDS_ITEM_CARD, "story reply is one card item");
	check_platforms("console", cmd, "story card");
	free(cmd);
	o = run("story s-doesnotexist");
	T_OK(rep.is_error && has(o, "s-doesnotexist"), "unknown story id: %s", o);
	o = run("story");
	T_OK(rep.is_error, "story without id is an error");

	/* Pin the clock a day after the newest story so the windows are
	 * deterministic whatever the fixtures' mtimes. */
	int64_t newest = 0, pub[3];
	for (int i = 0; i < 3; i++) {
		struct story s;
		story_init(&s);
		store_story_get(app.store, ids[i], 0, &s);
		pub[i] = s.published_at;
		if (s.published_at > newest)
			newest = s.published_at;
		story_free(&s);
	}
	fixed_now = newest + 25 * 3600;
	app.clock = test_clock;
	o = run("top");
	for (int i = 0; i < 3; i++)
		T_OK(has(o, ids[i]) == (pub[i] >= fixed_now - 7 * 86400), "top 7d includes story %d iff in window", i);
	T_OK(has(o, "last 7 days"), "default window is 7d: %s", o);
	/* Sample 002 is a plain article without scores: ranked last. */
	const char *p1 = strstr(o, ids[1]), *p2 = strstr(o, ids[2]);
	T_OK(p1 && p2 && p1 < p2, "scored stories rank above the unscored article");
	o = run("top 24h");
	int expect24 = 0;
	for (int i = 0; i < 3; i++) {
		int in = pub[i] >= fixed_now - 86400;
		expect24 += in;
		T_OK(has(o, ids[i]) == in, "top 24h includes story %d iff in window", i);
	}
	T_OK(expect24 || has(o, "No stories in the last 24 hours"), "empty window says so: %s", o);
	o = run("热门 7d");
	T_OK(has(o, ids[1]), "热门 is top");
	o = run("top yesterday");
	T_OK(rep.is_error && has(o, "yesterday") && has(o, "24h"), "bad window: %s", o);
	app.clock = NULL;
}

static void test_subscriptions(void)
{
	const char *u = "alice";
	const char *o = run_as(u, "c1", NULL, "subscribe compute hot>=60", FORMAT_CONSOLE);
	T_OK(has(o, "Subscribed (#1)") && has(o, "topic:compute and hot >= 60"), "subscribe confirms canonical:\n%s", o);
	T_OK(has(o, "/ainews subscriptions") && has(o, "unsubscribe 1"), "confirmation says how to list/remove");
	T_INT(rep.ephemeral, 1);
	T_INT(stored_rules("user", u), 1);
	o = run_as(u, "c1", NULL, "订阅 英伟达", FORMAT_CONSOLE);
	T_OK(has(o, "(#2)") && has(o, "entity:nvidia"), "订阅 with a Chinese entity name: %s", o);
	o = run_as(u, "c1", NULL, "subscribe \"Noam Shazeer\"", FORMAT_CONSOLE);
	T_OK(has(o, "(#3)") && has(o, "Noam Shazeer"), "keyword subscription: %s", o);
	o = run_as(u, "c1", NULL, "subscribe compute and hot >= 60", FORMAT_CONSOLE);
	T_OK(has(o, "already") && has(o, "#1"), "same rule twice is recognised: %s", o);
	T_INT(stored_rules("user", u), 3);

	o = run_as(u, "c1", NULL, "subscriptions", FORMAT_CONSOLE);
	T_OK(has(o, "1. topic:compute and hot >= 60") && has(o, "2. entity:nvidia") && has(o, "3. "),
	     "subscriptions numbered:\n%s", o);
	T_OK(has(run_as(u, "c1", NULL, "我的订阅", FORMAT_CONSOLE), "2. entity:nvidia"), "我的订阅 lists");
	o = run_as("bob", "c1", NULL, "subscriptions", FORMAT_CONSOLE);
	T_OK(has(o, "no subscriptions") && !has(o, "entity:nvidia"), "subscriptions are per user");

	o = run_as(u, "c1", NULL, "unsubscribe 2", FORMAT_CONSOLE);
	T_OK(has(o, "Unsubscribed (#2)") && has(o, "entity:nvidia"), "unsubscribe by number: %s", o);
	T_INT(stored_rules("user", u), 2);
	o = run_as(u, "c1", NULL, "unsubscribe compute hot>=60", FORMAT_CONSOLE);
	T_OK(has(o, "Unsubscribed") && has(o, "topic:compute and hot >= 60"),
	     "unsubscribe by expression (canonicalised): %s", o);
	T_INT(stored_rules("user", u), 1);
	o = run_as(u, "c1", NULL, "unsubscribe 7", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "no subscription"), "unknown number refused: %s", o);
	o = run_as(u, "c1", NULL, "subscribe hot>=90", FORMAT_CONSOLE);
	o = run_as(u, "c1", NULL, "unsubscribe all", FORMAT_CONSOLE);
	T_OK(has(o, "(2)"), "unsubscribe all removes both: %s", o);
	T_INT(stored_rules("user", u), 0);
	T_OK(has(run_as(u, "c1", NULL, "subscriptions", FORMAT_CONSOLE), "no subscriptions"), "none left");

	/* The cap. */
	for (int i = 0; i < COMMANDS_MAX_SUBSCRIPTIONS; i++) {
		char *c = xasprintf("subscribe hot >= %d", i);
		run_as(u, "c1", NULL, c, FORMAT_CONSOLE);
		free(c);
	}
	T_INT(stored_rules("user", u), COMMANDS_MAX_SUBSCRIPTIONS);
	o = run_as(u, "c1", NULL, "subscribe impact >= 1", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "50"), "51st subscription refused: %s", o);
	T_INT(stored_rules("user", u), COMMANDS_MAX_SUBSCRIPTIONS);
	o = run_as(u, "c1", NULL, "取消订阅 全部", FORMAT_CONSOLE);
	T_INT(stored_rules("user", u), 0);

	/* Usage errors. */
	o = run_as(u, "c1", NULL, "subscribe", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "subscribe"), "subscribe without expression");
	o = run_as("", "c1", NULL, "subscribe compute", FORMAT_CONSOLE);
	T_OK(rep.is_error, "no user id: refused");
}

static void test_caret(void)
{
	/* ASCII: the caret sits under the end of "nvidia impact>=". */
	const char *o = run_as("dave", "c1", NULL, "subscribe nvidia impact>=", FORMAT_CONSOLE);
	struct rules_error e;
	struct rules_expr *x = rules_parse("nvidia impact>=", NULL, &e);
	T_OK(x == NULL, "parser rejects the expression");
	rules_expr_free(x);
	char want[64], buf[256];
	snprintf(want, sizeof want, "column %d: expected a number", e.column);
	T_OK(rep.is_error && has(o, "Cannot read that rule") && has(o, want), "error names column %d:\n%s", e.column,
	     o);
	T_OK(has(o, "\n  nvidia impact>=\n"), "expression echoed");
	line_with(o, "^", buf, sizeof buf);
	T_INT(leading_spaces(buf), 2 + 15); /* 15 characters precede column 16 */
	T_INT(stored_rules("user", "dave"), 0);

	/* CJK: wide characters take two columns each. */
	o = run_as("dave", "c1", NULL, "subscribe 英伟达 and topic:foo", FORMAT_CONSOLE);
	x = rules_parse("英伟达 and topic:foo", NULL, &e);
	rules_expr_free(x);
	T_OK(has(o, "unknown topic") && has(o, "\n  英伟达 and topic:foo\n"), "CJK expression echoed:\n%s", o);
	line_with(o, "^", buf, sizeof buf);
	/* "英伟达 and topic:" = 3 wide (6) + " and " (5) + "topic:" (6) = 17. */
	T_INT(leading_spaces(buf), 2 + 17);
	o = run_as("dave", "c1", NULL, "订阅 英伟达 影响力>=", FORMAT_CONSOLE);
	line_with(o, "^", buf, sizeof buf);
	T_INT(leading_spaces(buf), 2 + 15); /* 英伟达 (6) + space + 影响力 (6) + ">=" */
	T_OK(has(o, "第 10 列") || has(o, "column 10"), "column counts characters, not bytes: %s", o);
	/* Full-width ASCII from a Chinese keyboard is folded first. */
	o = run_as("dave", "c1", NULL, "subscribe ｈｏｔ＞＝", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "\n  hot>=\n"), "full-width folded: %s", o);

	T_INT(commands_display_width("英伟达", strlen("英伟达")), 6);
	T_INT(commands_display_width("hot", 3), 3);
	T_INT(commands_display_width("ｈ", strlen("ｈ")), 2);
	T_INT(commands_display_width("e\xCC\x81", 3), 1); /* e + combining acute */

	/* On Slack the caret block is a code block whose markup cannot break. */
	run_as("dave", "c1", NULL, "subscribe 英伟达 影响力>=", FORMAT_SLACK);
	T_OK(has(out, "```\n  英伟达 影响力&gt;=\n"), "slack caret block escaped: %s", out);
	cJSON *b = cJSON_Parse(js);
	T_OK(cJSON_IsArray(b), "slack caret reply json");
	cJSON_Delete(b);
}

static void test_channel_admin(void)
{
	const char *o = run_as("mallory", "console", NULL, "channel add topic:chips and hot>=50", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "Only admins"), "non-admin refused: %s", o);
	T_INT(stored_rules("channel", "console"), 1); /* the config rule only */
	o = run_as("mallory", "console", "zh-CN", "channel rm 1", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "只有管理员"), "non-admin refused in Chinese: %s", o);

	o = run_as("console", "console", NULL, "channel add topic:chips and hot>=50", FORMAT_CONSOLE);
	T_OK(!rep.is_error && has(o, "topic:chips and hot >= 50") && has(o, "#2"), "admin adds: %s", o);
	T_INT(stored_rules("channel", "console"), 2);
	o = run_as("mallory", "console", NULL, "channel list", FORMAT_CONSOLE);
	T_OK(has(o, "1. hot >= 60 or impact >= 60") && has(o, "config") && has(o, "2. topic:chips and hot >= 50"),
	     "anyone lists the rules:\n%s", o);
	o = run_as("console", "console", NULL, "channel rm 1", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "config"), "config rules are not removed by command: %s", o);
	o = run_as("console", "console", NULL, "channel add nvidia impact>=", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "^"), "channel add parse error has a caret");
	o = run_as("console", "console", NULL, "channel rm chips hot>=50", FORMAT_CONSOLE);
	T_OK(has(o, "Removed rule #2"), "admin removes by expression: %s", o);
	T_INT(stored_rules("channel", "console"), 1);
	o = run_as("console", "console", NULL, "channel frobnicate", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "channel add"), "unknown channel subcommand: %s", o);
	o = run_as("console", "elsewhere", NULL, "channel list", FORMAT_CONSOLE);
	T_OK(has(o, "no rules"), "another channel has none: %s", o);
}

static void test_status(void)
{
	const char *o = run("status");
	char want[64];
	snprintf(want, sizeof want, "Stories: %lld", (long long)store_story_count(app.store));
	T_OK(has(o, want) && has(o, "No permanent delivery failures"), "status: %s", o);
	int64_t now = app_now(&app);
	int64_t id = store_outbox_add(app.store, "alert", ids[1], 1, "console", "channel", "C0GONE", "test", NULL, now);
	T_OK(id > 0, "outbox row added");
	o = run("status");
	T_OK(has(o, "outbox: 1 waiting"), "depth counted: %s", o);
	store_outbox_failed(app.store, id, 1, "channel_not_found <!channel>", 0, now);
	o = run("status");
	T_OK(has(o, "Permanent failures: 1") && has(o, "channel_not_found") && has(o, "C0GONE"), "failure shown: %s", o);
	check_platforms("console", "status", "status with a hostile error text");
}

static void test_hostile(void)
{
	char big[2001];
	memset(big, 'a', 2000);
	big[2000] = 0;
	const char *o = run(big);
	T_OK(rep.is_error && has(o, "too long") && has(o, "1000"), "2,000-byte text refused: %.200s", o);
	T_INT(last_rc, 0);
	o = run("compute \xff\xfe");
	T_OK(rep.is_error && has(o, "UTF-8"), "invalid UTF-8 refused: %s", o);
	o = run("comp\x07ute");
	T_OK(rep.is_error && has(o, "control"), "control characters refused: %s", o);
	o = run("search a\xE2\x80\xAE" "b");
	T_OK(rep.is_error, "bidi override refused");

	o = run_as("erin", "c1", NULL, "subscribe @everyone", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "mention"), "subscribe @everyone refused: %s", o);
	T_INT(stored_rules("user", "erin"), 0);
	for (int t = FORMAT_SLACK; t <= FORMAT_MATTERMOST; t++) {
		run_as("erin", "c1", NULL, "subscribe @everyone", t);
		T_OK(!has(out, "@everyone") && (!js || !has(js, "@everyone")), "target %d does not echo a live mention", t);
		run_as("erin", "c1", NULL, "search <!channel>", t);
		T_OK(!has(out, "<!channel>") && (!js || !has(js, "<!channel>")), "target %d does not echo <!channel>", t);
	}
	o = run_as("erin", "c1", NULL, "subscribe ＠everyone", FORMAT_CONSOLE);
	T_OK(rep.is_error && has(o, "mention"), "full-width ＠everyone refused too: %s", o);
	o = run_as("erin", "c1", NULL, "search @alliance", FORMAT_CONSOLE);
	T_OK(!has(o, "mention"), "@alliance is not a group mention: %s", o);
	T_INT(stored_rules("user", "erin"), 0);
	check_platforms("erin", "subscribe @everyone", "mention reply");
	check_platforms("erin", "search <!channel> @here", "mention reply 2");

	/* Deterministic noise: no crash, always a reply that renders. */
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	int rendered = 0, tries = 400;
	for (int i = 0; i < tries; i++) {
		char s[64];
		size_t n = (size_t)(i % 60) + 1;
		for (size_t k = 0; k < n; k++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			s[k] = (char)(seed & 0xFF) ? (char)(seed & 0xFF) : 'x';
		}
		s[n] = 0;
		struct commands_ctx c = {&app, "console", "fuzz", "c1", NULL};
		struct commands_reply r;
		commands_run(&c, s, &r);
		int ok = r.n > 0;
		for (int t = FORMAT_CONSOLE; t <= FORMAT_MATTERMOST && ok; t++) {
			char *tx = NULL, *j = NULL;
			ok = commands_render(&app, &r, t, &tx, &j) == 0 && tx && utf8_valid(tx, strlen(tx), NULL);
			free(tx), free(j);
		}
		rendered += ok;
		commands_reply_fini(&r);
	}
	T_INT(rendered, tries);
}

/* Stories whose text is hostile, and enough of them to hit every limit. */
static void test_limits(void)
{
	struct sbuf b = {0};
	sbuf_adds(&b, "[");
	for (int i = 0; i < 60; i++) {
		sbuf_addf(&b,
			  "%s{\"id\":\"s-limit%02d\",\"source\":\"test\",\"url\":\"https://example.org/l/%d\","
			  "\"title\":{\"en\":\"@everyone <!channel> Zebracorn GPUs *sold* _out_ & more `x` [link](http://x) "
			  "number %d with a long tail of words to reach the limits of a line in every chat platform\","
			  "\"zh\":\"斑马角 GPU 售罄 @here 第%d号\"},"
			  "\"summary\":{\"en\":\"zebracorn summary\"},\"scores\":{\"hot\":%d,\"quality\":50,\"impact\":40},"
			  "\"tldr\":{\"en\":[\"@everyone zebracorn bullet\"]}}",
			  i ? "," : "", i, i, i, i, 40 + i % 50);
	}
	sbuf_adds(&b, "]");
	int rej = ingest_buffer(&app, "limits", b.s, b.len, app_now(&app), 1, on_ingest, NULL);
	T_INT(rej, 0);
	sbuf_free(&b);

	int saved = app.cfg.query_limit;
	app.cfg.query_limit = 50;
	const char *o = run("search zebracorn");
	T_INT(count(o, "\n• "), 50);
	check_platforms("console", "search zebracorn", "50 hostile story lines");
	/* Discord cannot hold 50 long lines: something is dropped, and said so. */
	run_as("console", "c1", NULL, "search zebracorn", FORMAT_DISCORD);
	T_OK(has(out, "more not shown") || (js && has(js, "more not shown")), "dropped lines are announced");
	/* Nothing vanishes silently: lines shown + lines announced as dropped
	 * = the 50 story lines + the card hint after them. */
	size_t dropped = 0;
	const char *note = out ? strstr(out, "… ") : NULL;
	T_OK(note && sscanf(note, "… %zu more", &dropped) == 1, "drop count readable: %s", out);
	T_INT(count(js ? js : "", "s-limit") + dropped, 51);
	T_OK(count(js ? js : "", "s-limit") >= 30, "Discord still shows most lines");
	/* Chinese titles are short: either all 50 fit, or the drop is announced. */
	run_as("console", "c1", "zh-CN", "search zebracorn", FORMAT_DISCORD);
	T_OK(count(out, "s-limit") + (js ? count(js, "s-limit") : 0) == 50 || has(out, "未显示") ||
		     (js && has(js, "未显示")),
	     "all lines or an announcement in Chinese");
	run_as("console", "c1", NULL, "search zebracorn", FORMAT_SLACK);
	T_OK(has(js, "@\xE2\x80\x8B" "everyone") && has(js, "&lt;!channel&gt;"), "slack neutralises story mentions");
	app.cfg.query_limit = saved;

	check_platforms("console", "topics", "topics");
	check_platforms("console", "help", "help");
	check_platforms("carol", "compute", "compute query");
	check_platforms("console", "story s-limit07", "hostile card");
	run_as("console", "c1", NULL, "topics", FORMAT_DISCORD);
	T_OK(js && has(js, "nvidia"), "long topics text moves into embeds");
	run_as("console", "c1", NULL, "search Crusoe", FORMAT_MATTERMOST);
	T_OK(js == NULL && has(out, "**Meta Signs AI Computing Power Agreement"), "mattermost bold titles: %s", out);
}

static void test_misc(void)
{
	struct commands_reply r = {0};
	commands_reply_fini(&r);
	commands_reply_fini(NULL);
	struct commands_ctx c = {NULL, "console", "x", "y", NULL};
	T_OK(commands_run(&c, "help", &r) < 0 && r.is_error, "no app is an internal error");
	commands_reply_fini(&r);
	char *tx = NULL, *j = NULL;
	run("help");
	T_INT(commands_render(&app, &rep, 99, &tx, &j), -1);
	T_OK(tx == NULL && j == NULL, "bad target leaves outputs NULL");
	T_OK(has(run_as("console", "c1", NULL, "  /ainews\t search \n Crusoe \r\n", FORMAT_CONSOLE), ids[1]),
	     "tabs and newlines are spaces");
}

int main(void)
{
	char db[64];
	if (t_db_path(db, sizeof db, "commands"))
		return 1;
	char *err = NULL;
	if (app_open(&app, NULL, db, &err)) {
		printf("not ok - app_open: %s\n", err);
		free(err);
		unlink(db);
		return 1;
	}
	static const char *const sample[3] = {"000", "001", "002"};
	for (int i = 0; i < 3; i++) {
		const char *path = t_sample(sample[i]);
		T_OK(*path, "sample %s found", sample[i]);
		T_INT(ingest_file(&app, path, 1, on_ingest, ids[i]), 0);
		T_OK(ids[i][0], "sample %s stored", sample[i]);
	}
	struct story s;
	story_init(&s);
	store_story_get(app.store, ids[1], 0, &s);
	snprintf(title001, sizeof title001, "%s", s.title[STORY_EN] ? s.title[STORY_EN] : "?");
	story_free(&s);

	test_help_and_language();
	test_queries();
	test_story_and_top();
	test_subscriptions();
	test_caret();
	test_channel_admin();
	test_status();
	test_hostile();
	test_limits();
	test_misc();

	reset();
	app_close(&app);
	t_db_remove(db);
	return t_done();
}
