/* test_format — the card, the four renderers, escaping and truncation.
 *
 * Golden renderings of samples 000 and 001 live in tests/golden/ and are
 * compared byte for byte; AINEWS_UPDATE_GOLDEN=1 rewrites them. Run from the
 * repository root so tests/golden and ../shared/samples resolve.
 */
#define _GNU_SOURCE
#include "format.h"
#include "parse.h"
#include "t.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_DIR "tests/golden"

static const char *const s001_en[] = {
	"Meta secures ~1.6 gigawatts of AI compute from data center firm Crusoe.",
	"Anthropic submits safety remediation plan to U.S. Commerce Secretary to lift model blocks.",
	"Transformer architecture creator Ashish Vaswani leaves Google for OpenAI.",
	"Claude Design tool aims to merge designer and programmer roles.",
	"Major Chinese cloud firms launch AI-powered cloud storage \"agent wars.\"",
};
static const char *const s001_zh[] = {
	"Meta与数据中心公司Crusoe达成约1.6吉瓦AI算力协议,为AI基建投入重注。",
	"Anthropic因AI模型“Mythos”与“Fable”的安全隐患遭美国监管,正寻求与政府深度合作整改。",
	"Transformer论文主要作者、谷歌大脑奠基人Noam Shazeer离开谷歌,转投OpenAI。",
};
/* Sample 000 has no TL;DR section: its lead sentences stand in, as the
 * parser extracts them for pages without one. */
static const char *const s000_en[] = {
	"When one of the pioneers in the AI field suddenly jumps ship to a rival camp, this is far more than just a personnel change.",
	"Noam Shazeer, the engineer regarded as a core contributor to the Transformer architecture, has officially bid farewell to Google, turning to embrace OpenAI.",
	"On the surface, it appears as talent mobility, but underneath lies the intensifying battle for technological hegemony.",
};
static const char *const s000_zh[] = {
	"当AI领域的奠基人之一突然跳槽到对手阵营,这绝不仅仅是人事变动。",
	"Noam Shazeer,那位被视为Transformer架构核心贡献者的工程师,正式告别谷歌,转身投入OpenAI的怀抱。",
	"表面看是人才流动,底下是技术霸权争夺战的白热化。",
};
#define S001_TITLE_EN "Meta Signs AI Computing Power Agreement with Data Center Company Crusoe"
#define S001_TITLE_ZH "Meta或同数据中心公司Crusoe签署AI算力协议"
#define S000_TITLE_EN "Tibet's First Large Hydropower Station Passes Completion Acceptance"
#define S000_TITLE_ZH "西藏首座大型水电站通过竣工验收"
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const lang_name[3] = {"en", "zh", "both"};
static const char *const target_name[4] = {"console", "slack", "discord", "mattermost"};

/* Remove every field of one language, as if the story never had it. */
static void drop_lang(struct story *s, int l)
{
	free(s->title[l]), free(s->summary[l]), free(s->analysis[l]);
	s->title[l] = s->summary[l] = s->analysis[l] = NULL;
	strv_free(&s->tldr[l]), strv_free(&s->key_data[l]), strv_free(&s->insights[l]);
	for (size_t i = 0; i < s->faq[l].n; i++)
		free(s->faq[l].v[i].q), free(s->faq[l].v[i].a);
	free(s->faq[l].v);
	memset(&s->faq[l], 0, sizeof s->faq[l]);
}

/* The hand-built stories must be the samples' own text: check each string
 * against the sample file so a typo here cannot pass silently. */
static void check_in_sample(const char *prefix, const char *const *v, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = file_read(t_sample(prefix), 1 << 20, &buf, &len);
	T_OK(rc == 0, "sample %s readable (run from /work/main)", prefix);
	if (rc)
		return;
	for (size_t i = 0; i < n; i++)
		T_OK(strstr(buf, v[i]) != NULL, "sample %s contains \"%s\"", prefix, v[i]);
	free(buf);
}

/* The golden stories are the real samples through the real parser; the
 * hand-written expectations above check the parser kept what the card shows. */
static void parsed_sample(struct story *s, const char *prefix)
{
	story_init(s);
	char *text = NULL, *err = NULL;
	size_t len = 0;
	T_OK(file_read(t_sample(prefix), 1 << 20, &text, &len) == 0, "read sample %s", prefix);
	T_OK(text && parse_page(text, len, 1795300000, s, &err) == 0, "parse sample %s: %s", prefix, err ? err : "");
	free(err);
	free(text);
}

static void story001(struct story *s)
{
	parsed_sample(s, "001");
	T_STR(s->title[STORY_EN], S001_TITLE_EN);
	T_STR(s->title[STORY_ZH], S001_TITLE_ZH);
	T_INT(s->tldr[STORY_EN].n, NELEM(s001_en));
	T_STR(s->tldr[STORY_EN].n ? s->tldr[STORY_EN].v[0] : NULL, s001_en[0]);
	T_STR(s->tldr[STORY_ZH].n > 2 ? s->tldr[STORY_ZH].v[2] : NULL, s001_zh[2]);
	s->url = xstrdup("https://example.org/news/123"); /* DESIGN §2's example story */
	strv_push(&s->topics, "compute");
	strv_push(&s->topics, "talent");
	strv_push(&s->topics, "regulation");
	story_assign_id(s);
}

static void story000(struct story *s)
{
	parsed_sample(s, "000");
	T_STR(s->title[STORY_EN], S000_TITLE_EN);
	T_INT(s->scores[STORY_IMPACT], 50);
	strv_push(&s->topics, "research");
	story_assign_id(s);
}

static void test_samples_match(void)
{
	const char *t001[] = {S001_TITLE_EN " " S001_TITLE_ZH, "70\nHot 热度\n65\nQuality 质量\n70\nImpact 影响力"};
	const char *t000[] = {S000_TITLE_EN " " S000_TITLE_ZH, "65\nHot 热度\n70\nQuality 质量\n50\nImpact 影响力"};
	check_in_sample("001", t001, NELEM(t001));
	check_in_sample("001", s001_en, NELEM(s001_en));
	check_in_sample("001", s001_zh, NELEM(s001_zh));
	check_in_sample("000", t000, NELEM(t000));
	check_in_sample("000", s000_en, NELEM(s000_en));
	check_in_sample("000", s000_zh, NELEM(s000_zh));
}

/* ---- validity and limit checks ----------------------------------------- */

static int valid_utf8(const char *s)
{
	return s && utf8_valid(s, strlen(s), NULL);
}

/* No C0 (but \n), DEL, C1 or bidi override anywhere in s. */
static int no_controls(const char *s)
{
	size_t len = strlen(s), i = 0;
	while (i < len) {
		uint32_t cp;
		int n = utf8_decode(s + i, len - i, &cp);
		if (n < 1)
			return 0;
		if ((cp < 0x20 && cp != '\n') || (cp >= 0x7F && cp <= 0x9F) ||
		    (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
			return 0;
		i += (size_t)n;
	}
	return 1;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Every text Slack renders as mrkdwn, in order: fallback, then block texts. */
static void slack_collect(const char *text, const char *json, struct strv *out, const char *what)
{
	T_OK(valid_utf8(text) && valid_utf8(json), "%s: slack output is UTF-8", what);
	T_OK(format_chars(text) <= FORMAT_SLACK_FALLBACK_MAX && format_chars(text) < 4000,
	     "%s: slack fallback %zu chars", what, format_chars(text));
	strv_push(out, text);
	cJSON *root = cJSON_Parse(json);
	T_OK(cJSON_IsArray(root), "%s: slack blocks parse as an array", what);
	if (!root)
		return;
	int nb = cJSON_GetArraySize(root);
	T_OK(nb >= 1 && nb <= FORMAT_SLACK_BLOCKS_MAX, "%s: %d blocks", what, nb);
	const cJSON *blk;
	cJSON_ArrayForEach(blk, root) {
		const char *type = jstr(blk, "type");
		T_OK(type != NULL, "%s: block has a type", what);
		if (!type)
			continue;
		if (!strcmp(type, "section")) {
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(blk, "text");
			const char *tt = jstr(t, "text");
			T_OK(tt && !strcmp(jstr(t, "type"), "mrkdwn"), "%s: section text is mrkdwn", what);
			T_OK(tt && *tt && format_chars(tt) <= FORMAT_SLACK_SECTION_MAX,
			     "%s: section %zu chars", what, format_chars(tt));
			if (tt)
				strv_push(out, tt);
		} else if (!strcmp(type, "context")) {
			const cJSON *els = cJSON_GetObjectItemCaseSensitive(blk, "elements");
			int ne = cJSON_GetArraySize(els);
			T_OK(cJSON_IsArray(els) && ne >= 1 && ne <= 10, "%s: context has %d elements", what, ne);
			const cJSON *el;
			cJSON_ArrayForEach(el, els) {
				const char *tt = jstr(el, "text");
				T_OK(tt && *tt && format_chars(tt) <= FORMAT_SLACK_SECTION_MAX,
				     "%s: context text %zu chars", what, tt ? format_chars(tt) : 0);
				if (tt)
					strv_push(out, tt);
			}
		} else {
			T_OK(0, "%s: unexpected block type %s", what, type);
		}
	}
	cJSON_Delete(root);
}

/* Discord: markdown-rendered fields go to md, plain ones (author, footer) to
 * plain. Checks every per-field limit and the 6000-character embed total. */
static void discord_collect(const char *text, const char *json, struct strv *md, struct strv *plain,
			    const char *what)
{
	T_OK(text && !strcmp(text, ""), "%s: discord content is empty", what);
	T_OK(valid_utf8(json), "%s: discord output is UTF-8", what);
	cJSON *em = cJSON_Parse(json);
	T_OK(cJSON_IsObject(em), "%s: discord embed parses as an object", what);
	if (!em)
		return;
	size_t total = 0;
	const char *title = jstr(em, "title"), *desc = jstr(em, "description"), *url = jstr(em, "url");
	T_OK(title && *title && format_chars(title) <= FORMAT_DISCORD_TITLE_MAX, "%s: title %zu chars", what,
	     format_chars(title));
	total += format_chars(title);
	if (title)
		strv_push(md, title);
	if (desc) {
		T_OK(format_chars(desc) <= FORMAT_DISCORD_DESC_MAX, "%s: description %zu chars", what,
		     format_chars(desc));
		total += format_chars(desc);
		strv_push(md, desc);
	}
	if (url)
		T_OK(!strncmp(url, "http", 4) && strlen(url) <= 2048 && !strpbrk(url, " <>|()\""),
		     "%s: embed url clean: %s", what, url);
	T_OK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(em, "color")), "%s: color is a number", what);
	const cJSON *au = cJSON_GetObjectItemCaseSensitive(em, "author");
	if (au) {
		const char *n = jstr(au, "name");
		T_OK(n && format_chars(n) <= FORMAT_DISCORD_AUTHOR_MAX, "%s: author name", what);
		total += format_chars(n);
		if (n)
			strv_push(plain, n);
	}
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(em, "fields"), *f;
	if (fields) {
		T_OK(cJSON_GetArraySize(fields) <= 25, "%s: at most 25 fields", what);
		cJSON_ArrayForEach(f, fields) {
			const char *n = jstr(f, "name"), *v = jstr(f, "value");
			T_OK(n && *n && format_chars(n) <= FORMAT_DISCORD_FIELD_NAME_MAX, "%s: field name", what);
			T_OK(v && *v && format_chars(v) <= FORMAT_DISCORD_FIELD_VALUE_MAX, "%s: field value", what);
			total += format_chars(n) + format_chars(v);
			if (v)
				strv_push(md, v);
		}
	}
	const char *ft = jstr(cJSON_GetObjectItemCaseSensitive(em, "footer"), "text");
	T_OK(ft && *ft && format_chars(ft) <= FORMAT_DISCORD_FOOTER_MAX, "%s: footer", what);
	total += format_chars(ft);
	if (ft)
		strv_push(plain, ft);
	T_OK(total <= FORMAT_DISCORD_EMBED_TOTAL_MAX, "%s: embed total %zu chars", what, total);
	cJSON_Delete(em);
}

static void check_valid(const struct format_card *c, const char *what)
{
	for (int t = 0; t < 4; t++) {
		char *text = NULL, *json = NULL, w[128];
		snprintf(w, sizeof w, "%s/%s", what, target_name[t]);
		int rc = format_render(c, (enum format_target)t, &text, &json);
		T_INT(rc, 0);
		T_OK(text != NULL && no_controls(text) && valid_utf8(text), "%s: text valid", w);
		struct strv a = {0}, b = {0};
		if (t == FORMAT_SLACK)
			slack_collect(text, json, &a, w);
		else if (t == FORMAT_DISCORD)
			discord_collect(text, json, &a, &b, w);
		else
			T_OK(json == NULL, "%s: no json", w);
		if (t == FORMAT_MATTERMOST)
			T_OK(format_chars(text) <= FORMAT_MATTERMOST_MAX, "%s: %zu chars", w, format_chars(text));
		strv_free(&a);
		strv_free(&b);
		free(text);
		free(json);
	}
}

/* ---- golden files ------------------------------------------------------- */

static void golden(const char *name, const char *got)
{
	char path[256];
	snprintf(path, sizeof path, GOLDEN_DIR "/%s", name);
	const char *upd = getenv("AINEWS_UPDATE_GOLDEN");
	if (upd && !strcmp(upd, "1")) {
		FILE *f = fopen(path, "wb");
		T_OK(f != NULL, "cannot write %s", path);
		if (f) {
			fwrite(got, 1, strlen(got), f);
			fclose(f);
		}
		return;
	}
	char *want = NULL;
	size_t len = 0;
	if (file_read(path, 1 << 20, &want, &len)) {
		T_OK(0, "golden %s missing (AINEWS_UPDATE_GOLDEN=1 creates it)", path);
		return;
	}
	size_t glen = strlen(got), i = 0;
	while (i < len && i < glen && want[i] == got[i])
		i++;
	T_OK(len == glen && i == len, "golden %s differs at byte %zu (got %zu bytes, want %zu)", path, i, glen, len);
	free(want);
}

static void test_golden(void)
{
	struct story s[2];
	const char *ids[2] = {"001", "000"};
	/* 001 passes resolved display names, 000 shows its topic ids. */
	const char *const names_en[] = {"Compute", "Talent", "Regulation"};
	const char *const names_zh[] = {"算力", "人才", "监管"};
	story001(&s[0]);
	story000(&s[1]);
	for (int k = 0; k < 2; k++) {
		for (int lang = 0; lang < 3; lang++) {
			struct format_card c;
			const char *const *names = k ? NULL : lang == FORMAT_ZH ? names_zh : names_en;
			/* 000 with a trailing slash on public_url: links must not change shape. */
			format_card_build(&c, &s[k], lang, names,
					  k ? "http://127.0.0.1:8080/" : "http://127.0.0.1:8080",
					  k ? NULL : "impact ≥ 70 (#infra rule)");
			char what[64];
			snprintf(what, sizeof what, "sample%s.%s", ids[k], lang_name[lang]);
			check_valid(&c, what);
			for (int t = 0; t < 4; t++) {
				char *text = NULL, *json = NULL, name[128];
				T_INT(format_render(&c, (enum format_target)t, &text, &json), 0);
				snprintf(name, sizeof name, "sample%s.%s.%s.txt", ids[k], target_name[t], lang_name[lang]);
				if (t != FORMAT_DISCORD)
					golden(name, text ? text : "");
				if (json) {
					snprintf(name, sizeof name, "sample%s.%s.%s.json", ids[k], target_name[t],
						 lang_name[lang]);
					golden(name, json);
				}
				free(text);
				free(json);
			}
			format_card_free(&c);
		}
	}
	story_free(&s[0]);
	story_free(&s[1]);
}

/* ---- the card model ----------------------------------------------------- */

static void test_card(void)
{
	struct story s;
	struct format_card c;
	story001(&s);

	format_card_build(&c, &s, FORMAT_BOTH, NULL, "http://127.0.0.1:8080/", NULL);
	T_INT(c.lang, FORMAT_BOTH);
	T_STR(c.title_primary, S001_TITLE_EN);
	T_STR(c.title_secondary, S001_TITLE_ZH);
	T_INT(c.bullets.n, 3);
	T_STR(c.bullets.v[2], s001_en[2]);
	T_INT(c.topics.n, 3);
	T_STR(c.topics.v[0], "compute");
	T_STR(c.link_source, "https://example.org/news/123");
	char *want = xasprintf("http://127.0.0.1:8080/s/%s?lang=en", s.id);
	T_STR(c.link_en, want);
	free(want);
	want = xasprintf("http://127.0.0.1:8080/s/%s?lang=zh", s.id);
	T_STR(c.link_zh, want);
	free(want);
	T_OK(c.reason == NULL, "no reason");
	T_INT(c.scores[STORY_QUALITY], 65);
	format_card_free(&c);

	format_card_build(&c, &s, FORMAT_ZH, NULL, NULL, NULL);
	T_INT(c.lang, FORMAT_ZH);
	T_STR(c.title_primary, S001_TITLE_ZH);
	T_OK(c.title_secondary == NULL, "zh card has one title");
	T_INT(c.bullets.n, 3);
	T_STR(c.bullets.v[0], s001_zh[0]);
	T_OK(c.link_en == NULL && c.link_zh == NULL, "no public_url, no analysis links");
	char *text = NULL;
	T_INT(format_render(&c, FORMAT_CONSOLE, &text, NULL), 0);
	T_OK(text && !strstr(text, "完整分析"), "console without links has no links line");
	free(text);
	format_card_free(&c);
	format_card_free(&c); /* a freed card is zeroed and may be freed again */

	/* Only 中文 present: every preference falls back to it. */
	drop_lang(&s, STORY_EN);
	for (int lang = 0; lang < 3; lang++) {
		format_card_build(&c, &s, lang, NULL, "http://h", NULL);
		T_INT(c.lang, FORMAT_ZH);
		T_STR(c.title_primary, S001_TITLE_ZH);
		T_STR(c.bullets.v[1], s001_zh[1]);
		T_OK(c.link_en == NULL && c.link_zh != NULL, "only the 中文 analysis link");
		format_card_free(&c);
	}
	story_free(&s);

	/* Only EN present, 中文 wanted. */
	story000(&s);
	drop_lang(&s, STORY_ZH);
	format_card_build(&c, &s, FORMAT_ZH, NULL, "http://h", NULL);
	T_INT(c.lang, FORMAT_EN);
	T_STR(c.title_primary, S000_TITLE_EN);
	T_OK(c.link_zh == NULL, "no 中文 link");
	format_card_free(&c);
	story_free(&s);

	/* A plain article: no scores, no emoji, just the topics. */
	story_init(&s);
	s.title[STORY_ZH] = xstrdup("  谷歌AI人才\n\t出走  ");
	strv_push(&s.tldr[STORY_ZH], "第一句。");
	strv_push(&s.tldr[STORY_ZH], "   ");
	strv_push(&s.tldr[STORY_ZH], "第二句。");
	strv_push(&s.topics, "talent");
	strv_push(&s.topics, "research");
	story_assign_id(&s);
	const char *const names[] = {"人才", NULL};
	format_card_build(&c, &s, FORMAT_BOTH, names, "http://h", NULL);
	T_STR(c.title_primary, "谷歌AI人才 出走");
	T_INT(c.bullets.n, 2);
	T_STR(c.topics.v[0], "人才");
	T_STR(c.topics.v[1], "research");
	for (int t = 0; t < 4; t++) {
		char *json = NULL;
		text = NULL;
		T_INT(format_render(&c, (enum format_target)t, &text, &json), 0);
		T_OK(text && !strstr(text, "🔥") && !strstr(text, "✓") && !strstr(text, "⚡"),
		     "%s: no score emoji for a plain article", target_name[t]);
		T_OK(!json || (!strstr(json, "🔥") && !strstr(json, "⚡")), "%s: no score emoji in json",
		     target_name[t]);
		if (t == FORMAT_CONSOLE)
			T_OK(text && !strncmp(text, "人才 · research\n", strlen("人才 · research\n")),
			     "console starts with the topics: %s", text);
		if (t == FORMAT_DISCORD) {
			char grey[32];
			snprintf(grey, sizeof grey, "\"color\":%d", 0x868E96);
			T_OK(json && strstr(json, "\"author\":{\"name\":\"人才 · research\"}") && strstr(json, grey),
			     "discord: topics as author, grey: %s", json);
		}
		free(text);
		free(json);
	}
	format_card_free(&c);

	/* Nothing at all: still a valid card on every platform. */
	story_free(&s);
	story_init(&s);
	format_card_build(&c, &s, FORMAT_EN, NULL, "http://h", NULL);
	T_STR(c.title_primary, "(untitled)");
	check_valid(&c, "empty");
	format_card_free(&c);
	story_free(&s);

	/* Errors. */
	char *json = NULL;
	text = (char *)"x";
	T_INT(format_render(NULL, FORMAT_SLACK, &text, &json), -1);
	T_OK(text == NULL && json == NULL, "outputs cleared on error");
	memset(&c, 0, sizeof c);
	T_INT(format_render(&c, FORMAT_CONSOLE, &text, NULL), -1);
	story001(&s);
	format_card_build(&c, &s, FORMAT_EN, NULL, NULL, NULL);
	T_INT(format_render(&c, (enum format_target)42, &text, &json), -1);
	T_INT(format_render(&c, FORMAT_SLACK, NULL, &json), 0);
	T_OK(json && json[0] == '[', "json alone may be asked for");
	free(json);
	format_card_free(&c);
	story_free(&s);
}

/* ---- escaping ----------------------------------------------------------- */

static void test_escape(void)
{
	char *e;
#define ESC(t, in, want)                   \
	do {                               \
		e = format_escape(t, in);  \
		T_STR(e, want);            \
		free(e);                   \
	} while (0)
	ESC(FORMAT_SLACK, "a & b <!channel> @here *x* _y_ ~z~ `c` x>y",
	    "a &amp; b &lt;!channel&gt; @\u200bhere ∗x∗ ＿y＿ ∼z∼ ˋcˋ x&gt;y");
	ESC(FORMAT_SLACK, "> quote\n  >x <http://evil|innocent> <@U123> <!subteam^S123>",
	    "＞ quote\n  ＞x &lt;http://evil|innocent&gt; &lt;@\u200bU123&gt; &lt;!subteam^S123&gt;");
	ESC(FORMAT_DISCORD, "**b** [l](http://e) <@123> <@&9> <#7> @everyone \\ ||s|| x>y a-b #t",
	    "\\*\\*b\\*\\* \\[l\\]\\(http://e\\) <\u200b@\u200b123> <\u200b@\u200b&9> <\u200b#7> "
	    "@\u200beveryone \\\\ \\|\\|s\\|\\| x>y a-b #t");
	ESC(FORMAT_DISCORD, "# h\n> q\n- l\n+ p\n12. n\n1x. y\n -# sub",
	    "\\# h\n\\> q\n\\- l\n\\+ p\n12\\. n\n1x. y\n \\-# sub");
	ESC(FORMAT_MATTERMOST, "@all <b>&amp;</b> ~town $x$ *i* _u_ `c` [a](b) | 1. a-b",
	    "@\u200ball &lt;b&gt;&amp;amp;&lt;/b&gt; \\~\u200btown \\$x\\$ \\*i\\* \\_u\\_ \\`c\\` "
	    "\\[a\\]\\(b\\) \\| 1. a-b");
	ESC(FORMAT_MATTERMOST, "1. a\n===\n+ b\n# c\n> d\n- e", "1\\. a\n\\===\n\\+ b\n\\# c\n&gt; d\n\\- e");
	ESC(FORMAT_CONSOLE, "a\x1b[31mb\tc\r\nd\x7f\xc2\x9b" "e\xe2\x80\xae" "f @everyone *x*",
	    "a[31mb c\ndef @everyone *x*");
	ESC(FORMAT_CONSOLE, "bad \xff\xfe utf8 \xe4\xb8", "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xEF\xBF\xBD\xEF\xBF\xBD");
	ESC(FORMAT_SLACK, "", "");
	T_OK(format_escape(FORMAT_DISCORD, NULL) == NULL, "NULL in, NULL out");
#undef ESC
}

/* ---- truncation --------------------------------------------------------- */

static void test_truncate(void)
{
	char *t;
#define TR(in, max, want)                   \
	do {                                \
		t = format_truncate(in, max); \
		T_STR(t, want);             \
		free(t);                    \
	} while (0)
	TR("abc", 3, "abc");
	TR("abcd", 3, "ab…");
	TR("abcd", 0, "");
	TR("abcd", 1, "…");
	TR("", 0, "");
	TR("中文字符", 4, "中文字符");
	TR("中文字符", 3, "中文…");
	TR("😀😀😀😀", 2, "😀…");
	TR("a😀中b", 3, "a😀…");
	TR("hello world", 7, "hello…");                           /* no space before … */
	TR("e\u0301e\u0301e\u0301", 4, "e\u0301…");               /* keep the accent with its e */
	TR("🇯🇵🇺🇸", 4, "🇯🇵🇺🇸");
	TR("🇯🇵🇺🇸", 3, "🇯🇵…");                                    /* never half a flag */
	TR("🇯🇵🇺🇸x", 4, "🇯🇵…");
	TR("x👨\u200d👩\u200d👧y", 4, "x…");                        /* nor half a family */
	TR("x👍🏽y", 3, "x…");                                      /* nor a bare skin tone */
	TR("ab\xff" "cd", 10, "ab\xEF\xBF\xBD" "cd");
	T_OK(format_truncate(NULL, 3) == NULL, "NULL in, NULL out");

	/* Every cut of a mixed string: at most max characters, valid UTF-8, a
	 * prefix of the input plus "…", untouched exactly when it fits. */
	const char *mix = "AI 算力 🔥 déjà vu 👨‍👩‍👧 «quoted» 中文 test 🇨🇳 end";
	size_t n = format_chars(mix), bad = 0;
	for (size_t max = 0; max <= n + 2; max++) {
		t = format_truncate(mix, max);
		size_t tl = strlen(t), ell = strlen("…");
		int cut = tl >= ell && !strcmp(t + tl - ell, "…");
		if (format_chars(t) > max || !valid_utf8(t))
			bad++;
		else if (max >= n && strcmp(t, mix))
			bad++;
		else if (max == 0 && *t)
			bad++;
		else if (max < n && max > 0 && (!cut || strncmp(t, mix, tl - ell)))
			bad++;
		else if (max < n && max > 0 && format_chars(t) + 6 < max) /* at most a grapheme and a space lost */
			bad++;
		free(t);
	}
	T_INT(bad, 0);
#undef TR
}

/* ---- hostile input ------------------------------------------------------ */

static const char *const forbidden[] = {
	"@everyone", "@here", "@channel", "@all", "<!channel>", "<!here>", "<!everyone>", "<@U123>",
	"<#C123>", "<@&role>", "<@123>", "<!subteam", "[innocent](http", "[x](http", "](http://evil",
	"<http://evil", "<script>", "*bold*", "`code`", "javascript:",
};

static int line_starts_with(const char *s, const char *prefix)
{
	for (const char *p = s; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, prefix, strlen(prefix)))
			return 1;
	}
	return 0;
}

static void check_hostile_md(const char *s, enum format_target t, const char *what)
{
	for (size_t i = 0; i < NELEM(forbidden); i++)
		/* Slack mrkdwn has no [label](url) links: that text is inert there. */
		if (t != FORMAT_SLACK || (forbidden[i][0] != '[' && forbidden[i][0] != ']'))
			T_OK(!strstr(s, forbidden[i]), "%s/%s: raw \"%s\" survives", what, target_name[t], forbidden[i]);
	T_OK(no_controls(s) && valid_utf8(s), "%s/%s: clean UTF-8", what, target_name[t]);
	if (t == FORMAT_SLACK) {
		T_OK(!strstr(s, "_x_") && !strstr(s, "~strike~") && !strstr(s, "<http://evil.example|") &&
			     !strstr(s, "|innocent>"),
		     "%s/slack: forged mrkdwn", what);
		T_OK(!line_starts_with(s, "&gt;") && !line_starts_with(s, ">"), "%s/slack: quote", what);
	} else {
		T_OK(!strstr(s, "||spoiler||") && !strstr(s, "~strike~"), "%s/%s: forged markdown", what,
		     target_name[t]);
		const char *starts[] = {">", "#", "- ", "1. ", "+ "};
		for (size_t i = 0; i < NELEM(starts); i++)
			T_OK(!line_starts_with(s, starts[i]), "%s/%s: a line starts with \"%s\"", what,
			     target_name[t], starts[i]);
	}
}

static void test_hostile(void)
{
	struct story s;
	story_init(&s);
	const char *evil = "@everyone <!channel> *bold* [innocent](http://evil.example/x) <script>alert(1)</script> ";
	struct sbuf b = {0};
	while (format_chars(b.s ? b.s : "") < 5000)
		sbuf_adds(&b, evil);
	s.title[STORY_EN] = sbuf_take(&b);
	s.title[STORY_ZH] = xstrdup("> 标题 <@U123>\x1b[31m红\x07\r\n# 标题 @here \xe2\x80\xae反转");
	strv_push(&s.tldr[STORY_EN], "@here @channel @all <!here> <!everyone> <@U123> <#C123> <@&role> <@123> "
				     "<!subteam^S123> `code` ~strike~ _x_ ||spoiler||");
	strv_push(&s.tldr[STORY_EN], "\n> quote <http://evil.example|innocent> [x](http://evil.example)\n# h\n- l\n1. o");
	strv_push(&s.tldr[STORY_EN], "\x01\x02 control \x7f chars \xc2\x9b csi \xe2\x80\xae bidi \xff\xfe bad");
	while (format_chars(b.s ? b.s : "") < 20000)
		sbuf_adds(&b, "中文长句测试，算力与人才。");
	sbuf_adds(&b, "@everyone");
	strv_push_owned(&s.tldr[STORY_ZH], sbuf_take(&b));
	strv_push(&s.tldr[STORY_ZH], "- 列表 <@U123> [x](http://evil.example)");
	s.url = xstrdup("https://evil.example/a b|c>d)e](f");
	s.url_zh = xstrdup("javascript:alert(1)");
	s.id = xstrdup("evil id/<@U123>)");
	s.scores[STORY_HOT] = 99;
	strv_push(&s.topics, "compute");
	strv_push(&s.topics, "@everyone");
	const char *const names[] = {"<!channel> *Compute*", NULL};

	for (int lang = 0; lang < 3; lang++) {
		struct format_card c;
		char what[32];
		snprintf(what, sizeof what, "hostile.%s", lang_name[lang]);
		format_card_build(&c, &s, lang, names, "http://127.0.0.1:8080",
				  "impact ≥ 70 @here <!channel> [x](http://evil.example)");
		T_STR(c.link_source, "https://evil.example/a%20b%7Cc%3Ed%29e%5D%28f");
		T_STR(c.link_en, "http://127.0.0.1:8080/s/evil%20id%2F%3C%40U123%3E%29?lang=en");
		check_valid(&c, what);
		for (int t = 0; t < 4; t++) {
			char *text = NULL, *json = NULL;
			T_INT(format_render(&c, (enum format_target)t, &text, &json), 0);
			if (!text)
				continue;
			struct strv md = {0}, plain = {0};
			if (t == FORMAT_CONSOLE) {
				/* The console interprets nothing: text stays, controls go. */
				T_OK(no_controls(text) && valid_utf8(text), "%s/console: clean", what);
				T_OK(strstr(text, "<@U123>") != NULL, "%s/console: text kept", what);
				if (lang != FORMAT_ZH)
					T_OK(strstr(text, "@everyone <!channel> *bold*") != NULL, "%s/console: text kept",
					     what);
				T_OK(strstr(text, "…") != NULL, "%s/console: long title cut", what);
			} else if (t == FORMAT_SLACK) {
				slack_collect(text, json, &md, what);
			} else if (t == FORMAT_DISCORD) {
				discord_collect(text, json, &md, &plain, what);
				T_OK(strstr(json, "\"url\":\"https://evil.example/a%20b%7Cc%3Ed%29e%5D%28f\"") != NULL,
				     "%s/discord: url cleaned", what);
			} else {
				strv_push(&md, text);
				T_OK(format_chars(text) <= FORMAT_MATTERMOST_MAX, "%s/mattermost: limit", what);
			}
			for (size_t i = 0; i < md.n; i++)
				check_hostile_md(md.v[i], (enum format_target)t, what);
			/* Author and footer render no markup, but no mention may ping. */
			for (size_t i = 0; i < plain.n; i++)
				T_OK(!strstr(plain.v[i], "@everyone") && !strstr(plain.v[i], "@here") &&
					     no_controls(plain.v[i]),
				     "%s/discord: plain field \"%s\"", what, plain.v[i]);
			if (t != FORMAT_CONSOLE)
				T_OK(strstr(text, "…") || (json && strstr(json, "…")), "%s/%s: long text cut", what,
				     target_name[t]);
			strv_free(&md);
			strv_free(&plain);
			free(text);
			free(json);
		}
		format_card_free(&c);
	}
	story_free(&s);
}

/* ---- randomised input --------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Strings stitched from the tokens that matter to some escaper, plus broken
 * UTF-8 and pieces of graphemes, at lengths around every budget. */
static char *rnd_text(void)
{
	static const char *const tok[] = {
		"@everyone", "@", "here", "<!channel>", "<", ">", "&", "*", "_", "~", "`", "|", "[", "]",
		"(", ")", "](http://evil)", "\\", "#", "-", "+", "=", "1", ".", "\n", "\r", "\t", " ",
		"  ", "中文", "算力", "😀", "\u200d", "\u0301", "🇯", "🇵", "\xff", "\xe4\xb8", "\x1b[1m",
		"\xc2\x9b", "\xe2\x80\xae", "a", "word", "$", ":", "…",
	};
	static const size_t lens[] = {0, 1, 5, 40, 200, 1200, 5000};
	struct sbuf b = {0};
	size_t n = lens[rnd(NELEM(lens))];
	for (size_t i = 0; i < n; i++)
		sbuf_adds(&b, tok[rnd(NELEM(tok))]);
	return sbuf_take(&b);
}

static void test_random(void)
{
	size_t bad = 0;
	for (int iter = 0; iter < 150; iter++) {
		struct story s;
		story_init(&s);
		for (int l = 0; l < 2; l++) {
			if (rnd(4))
				s.title[l] = rnd_text();
			for (uint32_t k = rnd(5); k > 0; k--)
				strv_push_owned(&s.tldr[l], rnd_text());
		}
		for (int i = 0; i < 3; i++)
			s.scores[i] = (int)rnd(102) - 1;
		for (uint32_t k = rnd(9); k > 0; k--)
			strv_push_owned(&s.topics, rnd_text());
		s.url = rnd(2) ? xasprintf("https://x.example/%u", rnd(1000)) : rnd_text();
		s.id = rnd_text();
		char *reason = rnd(2) ? rnd_text() : NULL;
		struct format_card c;
		format_card_build(&c, &s, (int)rnd(3), NULL, rnd(2) ? "http://127.0.0.1:8080" : NULL, reason);
		int f0 = t_fail;
		check_valid(&c, "random");
		for (int t = FORMAT_SLACK; t <= FORMAT_MATTERMOST; t++) {
			char *text = NULL, *json = NULL;
			struct strv md = {0}, plain = {0};
			format_render(&c, (enum format_target)t, &text, &json);
			if (t == FORMAT_SLACK)
				slack_collect(text, json, &md, "random");
			else if (t == FORMAT_DISCORD)
				discord_collect(text, json, &md, &plain, "random");
			else
				strv_push(&md, text);
			/* Markup only counts where the field renders it; mentions nowhere. */
			for (size_t i = 0; i < md.n + plain.n; i++) {
				const char *o = i < md.n ? md.v[i] : plain.v[i - md.n];
				if (strstr(o, "@everyone") || strstr(o, "<!channel>") ||
				    (i < md.n && t != FORMAT_SLACK && strstr(o, "](http://evil)"))) {
					if (!bad)
						printf("# %s: %s\n", target_name[t], o);
					bad++;
				}
			}
			strv_free(&md);
			strv_free(&plain);
			free(text);
			free(json);
		}
		if (t_fail != f0)
			printf("# random iteration %d failed\n", iter);
		format_card_free(&c);
		free(reason);
		story_free(&s);
	}
	T_INT(bad, 0);
}

int main(void)
{
	test_samples_match();
	test_truncate();
	test_escape();
	test_card();
	test_golden();
	test_hostile();
	test_random();
	return t_done();
}
