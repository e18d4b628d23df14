/* test_parse — the site page and plain article parsers on the real samples,
 * cut-off exports, inline Traditional Chinese / English articles, CRLF input
 * and lead-sentence splitting. Run from /work/main. */
#define _GNU_SOURCE
#include "parse.h"
#include "t.h"

#include <stdint.h>

#define REF ((int64_t)1790000000)

static char *load(const char *prefix, size_t *len)
{
	char *t = NULL;
	const char *path = t_sample(prefix);
	if (!path[0] || file_read(path, 1 << 22, &t, len)) {
		printf("not ok - cannot read sample %s (run from /work/main)\n", prefix);
		exit(1);
	}
	return t;
}

static int starts(const char *s, const char *p)
{
	return s && !strncmp(s, p, strlen(p));
}

static int ends(const char *s, const char *p)
{
	size_t n = s ? strlen(s) : 0, k = strlen(p);
	return s && n >= k && !strcmp(s + n - k, p);
}

static size_t count_paras(const char *s)
{
	size_t n = s && *s ? 1 : 0;
	for (const char *p = s; p && (p = strstr(p, "\n\n")); p += 2)
		n++;
	return n;
}

static int all_utf8(const struct story *s)
{
	int ok = 1;
#define U(x) ok &= !(x) || utf8_valid((x), strlen(x), NULL)
	for (int l = 0; l < STORY_NLANG; l++) {
		U(s->title[l]);
		U(s->summary[l]);
		U(s->analysis[l]);
		for (size_t i = 0; i < s->tldr[l].n; i++)
			U(s->tldr[l].v[i]);
		for (size_t i = 0; i < s->key_data[l].n; i++)
			U(s->key_data[l].v[i]);
		for (size_t i = 0; i < s->insights[l].n; i++)
			U(s->insights[l].v[i]);
		for (size_t i = 0; i < s->faq[l].n; i++) {
			U(s->faq[l].v[i].q);
			U(s->faq[l].v[i].a);
		}
	}
	for (size_t i = 0; i < s->ntags; i++) {
		U(s->tags[i].en);
		U(s->tags[i].zh);
	}
#undef U
	return ok;
}

/* Replace every "\n" with "\r\n". */
static char *to_crlf(const char *t, size_t len, size_t *out_len)
{
	struct sbuf b = {0};
	for (size_t i = 0; i < len; i++) {
		if (t[i] == '\n')
			sbuf_addc(&b, '\r');
		sbuf_addc(&b, t[i]);
	}
	*out_len = b.len;
	return sbuf_take(&b);
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_story(const struct story *a, const struct story *b)
{
	int ok = 1;
	for (int l = 0; l < STORY_NLANG; l++) {
		ok &= same_str(a->title[l], b->title[l]) && same_str(a->summary[l], b->summary[l]);
		ok &= same_str(a->analysis[l], b->analysis[l]);
		ok &= strv_equal(&a->tldr[l], &b->tldr[l]) && strv_equal(&a->key_data[l], &b->key_data[l]);
		ok &= strv_equal(&a->insights[l], &b->insights[l]) && a->faq[l].n == b->faq[l].n;
	}
	ok &= a->ntags == b->ntags && !memcmp(a->scores, b->scores, sizeof a->scores);
	return ok;
}

static void test_sample_001(void)
{
	size_t len;
	char *t = load("001", &len);
	struct story s;
	story_init(&s);
	char *err = NULL;
	T_INT(parse_detect(t, len), PARSE_PAGE);
	T_INT(parse_page(t, len, REF, &s, &err), 0);
	T_STR(err, NULL);
	T_STR(s.source, "aihot");
	T_STR(s.id, NULL);
	T_STR(s.url, NULL);
	T_INT(s.scores[STORY_HOT], 70);
	T_INT(s.scores[STORY_QUALITY], 65);
	T_INT(s.scores[STORY_IMPACT], 70);
	T_STR(s.title[STORY_EN], "Meta Signs AI Computing Power Agreement with Data Center Company Crusoe");
	T_STR(s.title[STORY_ZH], "Meta或同数据中心公司Crusoe签署AI算力协议");
	T_OK(starts(s.summary[STORY_EN], "Meta secures ~1.6 gigawatts"), "summary en: %s", s.summary[STORY_EN]);
	T_OK(ends(s.summary[STORY_EN], "agent wars.\""), "summary en: %s", s.summary[STORY_EN]);
	T_OK(starts(s.summary[STORY_ZH], "Meta与数据中心公司Crusoe"), "summary zh: %s", s.summary[STORY_ZH]);
	T_OK(ends(s.summary[STORY_ZH], "转投OpenAI。"), "summary zh: %s", s.summary[STORY_ZH]);

	T_INT(s.tldr[STORY_EN].n, 5);
	T_INT(s.tldr[STORY_ZH].n, 3);
	if (s.tldr[STORY_EN].n == 5) {
		T_STR(s.tldr[STORY_EN].v[0], "Meta secures ~1.6 gigawatts of AI compute from data center firm Crusoe.");
		T_STR(s.tldr[STORY_EN].v[4], "Major Chinese cloud firms launch AI-powered cloud storage \"agent wars.\"");
	}
	if (s.tldr[STORY_ZH].n == 3) {
		T_STR(s.tldr[STORY_ZH].v[0], "Meta与数据中心公司Crusoe达成约1.6吉瓦AI算力协议,为AI基建投入重注。");
		T_STR(s.tldr[STORY_ZH].v[2], "Transformer论文主要作者、谷歌大脑奠基人Noam Shazeer离开谷歌,转投OpenAI。");
	}

	T_INT(s.ntags, 3);
	if (s.ntags == 3) {
		T_STR(s.tags[0].en, "LLM");
		T_STR(s.tags[0].zh, "大模型");
		T_STR(s.tags[1].en, "Security");
		T_STR(s.tags[1].zh, "安全");
		T_STR(s.tags[2].en, "Regulation");
		T_STR(s.tags[2].zh, "监管");
	}

	T_INT(s.key_data[STORY_EN].n, 4);
	T_INT(s.key_data[STORY_ZH].n, 2);
	if (s.key_data[STORY_EN].n == 4) {
		T_STR(s.key_data[STORY_EN].v[0],
		      "Meta Signed AI compute agreement with Crusoe Data Centers ~1.6 gigawatts of compute capacity");
		T_OK(starts(s.key_data[STORY_EN].v[3], "Claude (Anthropic) Launches"), "%s", s.key_data[STORY_EN].v[3]);
	}
	if (s.key_data[STORY_ZH].n == 2)
		T_STR(s.key_data[STORY_ZH].v[0], "Meta 与Crusoe签署AI算力合作协议 预计获得约1.6吉瓦算力");

	T_INT(s.insights[STORY_EN].n, 3);
	T_INT(s.insights[STORY_ZH].n, 3);
	if (s.insights[STORY_EN].n == 3) {
		T_OK(starts(s.insights[STORY_EN].v[0], "The \"compute-first\" investment"), "%s", s.insights[STORY_EN].v[0]);
		T_OK(starts(s.insights[STORY_EN].v[2], "AI tooling will"), "%s", s.insights[STORY_EN].v[2]);
	}
	if (s.insights[STORY_ZH].n == 3)
		T_OK(starts(s.insights[STORY_ZH].v[1], "前沿AI公司"), "%s", s.insights[STORY_ZH].v[1]);

	T_INT(s.faq[STORY_EN].n, 3);
	T_INT(s.faq[STORY_ZH].n, 3);
	if (s.faq[STORY_EN].n == 3) {
		T_STR(s.faq[STORY_EN].v[0].q, "Why is Meta securing so much power from Crusoe a big deal?");
		/* the section's full answer, not the cut-off repeat after the tags */
		T_OK(ends(s.faq[STORY_EN].v[0].a, "industrial-scale AI development."), "%s", s.faq[STORY_EN].v[0].a);
		T_OK(starts(s.faq[STORY_EN].v[2].a, "Symbolically, yes."), "%s", s.faq[STORY_EN].v[2].a);
	}
	if (s.faq[STORY_ZH].n == 3) {
		T_STR(s.faq[STORY_ZH].v[0].q, "Meta一次性采购1.6吉瓦算力是什么概念?");
		T_OK(starts(s.faq[STORY_ZH].v[0].a, "这大致相当于"), "%s", s.faq[STORY_ZH].v[0].a);
	}

	T_OK(starts(s.analysis[STORY_EN], "This news summary isn't just"), "%.60s", s.analysis[STORY_EN]);
	T_OK(starts(s.analysis[STORY_ZH], "AI竞赛的剧本"), "%.60s", s.analysis[STORY_ZH]);
	T_INT(count_paras(s.analysis[STORY_EN]), 5);
	T_INT(count_paras(s.analysis[STORY_ZH]), 5);
	T_OK(!strstr(s.analysis[STORY_EN] ? s.analysis[STORY_EN] : "", "Industry Insights"), "sections leak");
	T_OK(ends(s.analysis[STORY_ZH], "叛逆大脑?"), "%s", s.analysis[STORY_ZH]);
	T_INT(s.published_at, REF - 5 * 3600);
	T_INT(s.updated_at, REF - 2 * 3600);
	T_OK(all_utf8(&s), "valid UTF-8 everywhere");

	/* CRLF line ends give the same story */
	size_t clen;
	char *crlf = to_crlf(t, len, &clen);
	struct story c;
	story_init(&c);
	T_INT(parse_detect(crlf, clen), PARSE_PAGE);
	T_INT(parse_page(crlf, clen, REF, &c, NULL), 0);
	T_OK(same_story(&s, &c), "CRLF page differs from LF page");
	story_free(&c);
	free(crlf);

	story_free(&s);
	free(t);
}

static void test_sample_000(void)
{
	size_t len;
	char *t = load("000", &len);
	struct story s;
	story_init(&s);
	T_INT(parse_detect(t, len), PARSE_PAGE);
	T_INT(parse_page(t, len, REF, &s, NULL), 0);
	T_INT(s.scores[STORY_HOT], 65);
	T_INT(s.scores[STORY_QUALITY], 70);
	T_INT(s.scores[STORY_IMPACT], 50);
	T_STR(s.title[STORY_EN], "Tibet's First Large Hydropower Station Passes Completion Acceptance");
	T_STR(s.title[STORY_ZH], "西藏首座大型水电站通过竣工验收");
	/* the export cut the English summary mid-sentence: kept as it is */
	T_OK(ends(s.summary[STORY_EN], "and now it cannot even"), "%s", s.summary[STORY_EN]);
	T_OK(starts(s.summary[STORY_ZH], "当AI领域的奠基人之一"), "%s", s.summary[STORY_ZH]);
	T_INT(count_paras(s.analysis[STORY_EN]), 7);
	T_INT(count_paras(s.analysis[STORY_ZH]), 7);
	T_OK(starts(s.analysis[STORY_EN], "When one of the pioneers"), "%.60s", s.analysis[STORY_EN]);
	T_OK(s.analysis[STORY_EN] && !strstr(s.analysis[STORY_EN], "当AI"), "Chinese paragraph in the English analysis");
	T_OK(ends(s.analysis[STORY_EN], "foundations that support everything?"), "en analysis end");
	T_OK(ends(s.analysis[STORY_ZH], "支撑一切的基础?"), "zh analysis end");
	T_OK(starts(s.analysis[STORY_ZH], "当AI领域"), "%.60s", s.analysis[STORY_ZH]);
	T_OK(!strstr(s.analysis[STORY_ZH], "Disclaimer") && !strstr(s.analysis[STORY_EN], "Disclaimer"),
	     "disclaimer in analysis");
	/* no TL;DR section: the lead sentences of the analysis */
	T_INT(s.tldr[STORY_EN].n, 3);
	T_INT(s.tldr[STORY_ZH].n, 3);
	if (s.tldr[STORY_EN].n == 3) {
		T_OK(starts(s.tldr[STORY_EN].v[0], "When one of the pioneers"), "%s", s.tldr[STORY_EN].v[0]);
		T_STR(s.tldr[STORY_EN].v[0], "When one of the pioneers in the AI field suddenly jumps ship to a rival "
					     "camp, this is far more than just a personnel change.");
		T_OK(starts(s.tldr[STORY_EN].v[1], "Noam Shazeer, the engineer"), "%s", s.tldr[STORY_EN].v[1]);
		T_OK(ends(s.tldr[STORY_EN].v[2], "technological hegemony."), "%s", s.tldr[STORY_EN].v[2]);
	}
	if (s.tldr[STORY_ZH].n == 3) {
		T_STR(s.tldr[STORY_ZH].v[0], "当AI领域的奠基人之一突然跳槽到对手阵营,这绝不仅仅是人事变动。");
		T_OK(starts(s.tldr[STORY_ZH].v[2], "表面看是人才流动"), "%s", s.tldr[STORY_ZH].v[2]);
	}
	T_INT(s.ntags, 1);
	if (s.ntags == 1) {
		T_STR(s.tags[0].en, "Research");
		T_STR(s.tags[0].zh, "科学研究");
	}
	T_INT(s.key_data[STORY_EN].n + s.insights[STORY_EN].n + s.faq[STORY_EN].n, 0);
	T_INT(s.published_at, REF - 2 * 3600);
	T_INT(s.updated_at, REF - 3600);
	story_free(&s);
	free(t);
}

static void test_sample_002(void)
{
	size_t len;
	char *t = load("002", &len);
	struct story s;
	story_init(&s);
	char *err = NULL;
	T_INT(parse_detect(t, len), PARSE_ARTICLE);
	T_INT(parse_article(t, len, REF, &s, &err), 0);
	T_STR(err, NULL);
	T_STR(s.source, "article");
	T_STR(s.title[STORY_ZH], "AI大神开始疯狂洗牌");
	T_STR(s.title[STORY_EN], NULL);
	T_STR(s.summary[STORY_EN], NULL);
	T_STR(s.analysis[STORY_EN], NULL);
	for (int i = 0; i < STORY_NSCORES; i++)
		T_INT(s.scores[i], STORY_SCORE_NONE);
	T_INT(s.ntags, 0);
	T_STR(s.summary[STORY_ZH], "转眼间,由 ChatGPT 掀起 AI 大模型浪潮已有两年,但不少人期待的巨大商机却迟迟没有到来。");
	T_OK(!strstr(s.analysis[STORY_ZH], "黄昱") && !strstr(s.analysis[STORY_ZH], "周智宇"), "byline in body");
	T_OK(!strstr(s.analysis[STORY_ZH], "欢迎阅读"), "boilerplate in body");
	T_INT(s.tldr[STORY_ZH].n, 3);
	if (s.tldr[STORY_ZH].n == 3) {
		T_OK(starts(s.tldr[STORY_ZH].v[0], "转眼间"), "%s", s.tldr[STORY_ZH].v[0]);
		T_STR(s.tldr[STORY_ZH].v[1], "与去年一片叫好的面貌不同,AI 大模型创业正在进入动荡期。");
		T_OK(ends(s.tldr[STORY_ZH].v[2], "动荡不安。"), "%s", s.tldr[STORY_ZH].v[2]);
	}
	/* every line after the title and the two bylines is a paragraph */
	size_t lines = len && t[len - 1] != '\n';
	for (const char *p = t; (p = strchr(p, '\n')); p++)
		lines++;
	T_INT(count_paras(s.analysis[STORY_ZH]), lines - 3);
	T_OK(ends(s.analysis[STORY_ZH], "去迎接残酷的挑战。"), "analysis end");
	T_INT(s.published_at, REF);
	T_INT(s.updated_at, REF);

	size_t clen;
	char *crlf = to_crlf(t, len, &clen);
	struct story c;
	story_init(&c);
	T_INT(parse_article(crlf, clen, REF, &c, NULL), 0);
	T_OK(same_story(&s, &c), "CRLF article differs from LF article");
	T_OK(!strchr(c.analysis[STORY_ZH], '\r') && !strchr(c.title[STORY_ZH], '\r'), "CR left in fields");
	story_free(&c);
	free(crlf);
	story_free(&s);
	free(t);
}

static void test_detect(void)
{
	size_t l0, l1, l2;
	char *a = load("000", &l0), *b = load("001", &l1), *c = load("002", &l2);
	T_INT(parse_detect(a, l0), PARSE_PAGE);
	T_INT(parse_detect(b, l1), PARSE_PAGE);
	T_INT(parse_detect(c, l2), PARSE_ARTICLE);
	free(a);
	free(b);
	free(c);
	const char *j1 = "  \n{\"title\": \"x\"}", *j2 = "[{\"title\": \"x\"}]", *j3 = "\xEF\xBB\xBF{\"a\":1}";
	T_INT(parse_detect(j1, strlen(j1)), PARSE_JSON);
	T_INT(parse_detect(j2, strlen(j2)), PARSE_JSON);
	T_INT(parse_detect(j3, strlen(j3)), PARSE_JSON);
	T_INT(parse_detect("", 0), PARSE_UNKNOWN);
	T_INT(parse_detect(NULL, 0), PARSE_UNKNOWN);
	const char *ws = " \n\t\r\n\xE3\x80\x80 \n";
	T_INT(parse_detect(ws, strlen(ws)), PARSE_UNKNOWN);
	T_INT(parse_detect("----\n***\n", 9), PARSE_UNKNOWN);
	const char *en = "OpenAI ships a model\n\nIt is big. It is fast.\n";
	T_INT(parse_detect(en, strlen(en)), PARSE_ARTICLE);
	/* an English heading "Impact" alone is not the page's score line */
	const char *imp = "Why chips matter\n\nImpact\n\nA lot.\n";
	T_INT(parse_detect(imp, strlen(imp)), PARSE_ARTICLE);
	/* a page without its header line is still a page by its score lines */
	const char *nohdr = "Some Title 标题\n\n55\nHot 热度\n";
	T_INT(parse_detect(nohdr, strlen(nohdr)), PARSE_PAGE);
	/* detection looks at the content only: the first bytes decide for JSON */
	T_INT(parse_detect(en, 6), PARSE_ARTICLE);
	T_STR(parse_format_name(PARSE_PAGE), "page");
	T_STR(parse_format_name(PARSE_UNKNOWN), "unknown");
}

static const char *find_after(const char *t, const char *needle)
{
	const char *p = strstr(t, needle);
	return p ? p + strlen(needle) : NULL;
}

/* Cut the export anywhere: never a crash, an error only before the title. */
static void test_truncated(void)
{
	size_t len;
	char *t = load("001", &len);
	const char *title_line = strstr(t, "\nMeta Signs") + 1;
	size_t title_at = (size_t)(title_line - t);
	size_t scores_end = (size_t)(find_after(t, "Impact 影响力") - t);
	size_t tldr_en_end = (size_t)(find_after(t, "\"agent wars.\"\n") - t);
	size_t tags_end = (size_t)(find_after(t, "Regulation 监管") - t);
	size_t tags_at = (size_t)(strstr(t, "LLM 大模型") - t);
	char *full_title = xstrdup("Meta Signs AI Computing Power Agreement with Data Center Company Crusoe");
	int bad_title = 0, bad_rc = 0, bad_err = 0, bad_scores = 0, bad_tldr = 0, bad_tags = 0, bad_bounds = 0,
	    bad_utf8 = 0, cuts = 0;
	/* every 997 bytes as asked, plus a denser sweep near each boundary */
	for (size_t step = 0; step < 2; step++) {
		size_t inc = step == 0 ? 997 : 13;
		for (size_t off = 0; off <= len; off += inc) {
			size_t cut = utf8_clip(t, len, off);
			/* exactly cut bytes, no NUL: an over-read trips ASan/valgrind */
			char *piece = xmalloc(cut);
			memcpy(piece, t, cut);
			struct story s;
			story_init(&s);
			char *err = NULL;
			int rc = parse_page(piece, cut, REF, &s, &err);
			cuts++;
			if (cut <= title_at) {
				bad_rc += rc >= 0;
				bad_err += !err || strncmp(err, "line ", 5) || !strstr(err, "no title");
			} else {
				bad_rc += rc != 0;
				bad_err += err != NULL;
				/* a title cut mid-word is the start of the real one */
				bad_title += !s.title[STORY_EN] || strncmp(full_title, s.title[STORY_EN], strlen(s.title[STORY_EN]));
			}
			if (cut >= scores_end)
				bad_scores += s.scores[0] != 70 || s.scores[1] != 65 || s.scores[2] != 70;
			if (cut >= tldr_en_end)
				bad_tldr += s.tldr[STORY_EN].n != 5;
			if (cut >= tags_end)
				bad_tags += s.ntags != 3;
			if (cut <= tags_at)
				bad_tags += s.ntags != 0;
			bad_bounds += s.tldr[STORY_EN].n > 5 || s.tldr[STORY_ZH].n > 3 || s.faq[STORY_EN].n > 3 ||
				      s.faq[STORY_ZH].n > 3 || s.key_data[STORY_EN].n > 4 || s.insights[STORY_ZH].n > 3;
			bad_utf8 += !all_utf8(&s);
			free(err);
			story_free(&s);
			free(piece);
		}
	}
	T_OK(cuts > 800, "only %d cuts", cuts);
	T_INT(bad_rc, 0);
	T_INT(bad_err, 0);
	T_INT(bad_title, 0);
	T_INT(bad_scores, 0);
	T_INT(bad_tldr, 0);
	T_INT(bad_tags, 0);
	T_INT(bad_bounds, 0);
	T_INT(bad_utf8, 0);

	/* exact messages for cuts before the title */
	char *err = NULL;
	struct story s;
	story_init(&s);
	size_t hdr = (size_t)(strchr(t, '\n') - t);
	T_INT(parse_page(t, hdr, REF, &s, &err), -1);
	T_STR(err, "line 1: no title found");
	free(err);
	story_free(&s);
	story_init(&s);
	T_INT(parse_page(t, 20, REF, &s, &err), -1);
	T_STR(err, "line 1: no title found");
	free(err);
	story_free(&s);
	/* the title line is there, the rest is not: title only, scores none */
	story_init(&s);
	size_t title_end = (size_t)(strchr(title_line, '\n') - t);
	T_INT(parse_page(t, title_end, REF, &s, &err), 0);
	T_STR(s.title[STORY_ZH], "Meta或同数据中心公司Crusoe签署AI算力协议");
	T_INT(s.scores[STORY_HOT], STORY_SCORE_NONE);
	T_STR(s.summary[STORY_EN], NULL);
	T_INT(s.published_at, REF - 5 * 3600);
	story_free(&s);
	/* cut in the middle of the score block: no score junk in the analysis */
	story_init(&s);
	size_t mid = (size_t)(find_after(t, "65\nQual") - t);
	T_INT(parse_page(t, mid, REF, &s, NULL), 0);
	T_INT(s.scores[STORY_HOT], 70);
	T_INT(s.scores[STORY_QUALITY], STORY_SCORE_NONE);
	T_STR(s.analysis[STORY_EN], NULL);
	T_INT(s.tldr[STORY_EN].n, 0);
	story_free(&s);
	/* cut after the English TL;DR heading: an empty section, nothing invented */
	story_init(&s);
	size_t tl = (size_t)(find_after(t, "TL;DR\n") - t);
	T_INT(parse_page(t, tl, REF, &s, NULL), 0);
	T_INT(s.tldr[STORY_EN].n + s.tldr[STORY_ZH].n, 0);
	story_free(&s);
	/* cut mid-FAQ-answer of the Chinese section: earlier pairs kept, the cut
	 * question has the part of its answer that is there */
	story_init(&s);
	size_t fq = (size_t)(find_after(t, "A: 这大致相当于一座大型核电站") - t);
	T_INT(parse_page(t, fq, REF, &s, NULL), 0);
	T_INT(s.faq[STORY_EN].n, 3);
	T_INT(s.faq[STORY_ZH].n, 1);
	if (s.faq[STORY_ZH].n == 1)
		T_STR(s.faq[STORY_ZH].v[0].a, "这大致相当于一座大型核电站");
	T_INT(s.ntags, 0);
	story_free(&s);
	/* a heading cut to "Deep" is no table row; a Chinese bullet cut to
	 * "• Met" is too short to judge by script and stays in the ZH half */
	story_init(&s);
	size_t deep = (size_t)(find_after(t, "workflows\n\nDeep") - t);
	T_INT(parse_page(t, deep, REF, &s, NULL), 0);
	T_INT(s.key_data[STORY_EN].n, 4);
	T_STR(s.analysis[STORY_EN], NULL);
	story_free(&s);
	story_init(&s);
	size_t met = (size_t)(find_after(t, "ecosystem.\n\nTL;DR\n\n  • Met") - t);
	T_INT(parse_page(t, met, REF, &s, NULL), 0);
	T_INT(s.tldr[STORY_EN].n, 5);
	T_INT(s.tldr[STORY_ZH].n, 1);
	if (s.tldr[STORY_ZH].n == 1)
		T_STR(s.tldr[STORY_ZH].v[0], "Met");
	story_free(&s);
	free(full_title);
	free(t);
}

static void test_page_variants(void)
{
	struct story s;
	char *err = NULL;
	/* Chinese-only times; a missing score stays none; pipes make cells;
	 * multi-word tags; the FAQ repeat fills the missing FAQ section */
	const char *p1 = "AI News AI资讯 3天前 更新于 45分钟前 12\n\n"
			 "Open Models Win 开源模型胜出\n\n"
			 "Open models close the gap. 开源模型追平差距。\n\n"
			 "80\nHot 热度\n\n"
			 "42\nImpact 影响力\n\n"
			 "Analysis 深度分析\n\n"
			 "Key Data\n\n"
			 "| Entity | Key Info | Data/Metrics |\n"
			 "|---|---|---|\n"
			 "| Mistral | Released model | 1.6 GW\tof compute |\n"
			 "Meta  Llama 5  400B params\n\n"
			 "Disclaimer: generated by AI.\n"
			 "免责声明:以上内容由 AI 生成。\n\n"
			 "Open Source 开源 AI Agent 智能体 Robotics\n\n"
			 "Frequently Asked Questions 常见问题\n\n"
			 "Is it open?\n\nYes, weights are public.\n\nHow big\nis it?\n\nLarge.\nVery large.\n\n"
			 "Who pays?\n";
	story_init(&s);
	T_INT(parse_detect(p1, strlen(p1)), PARSE_PAGE);
	T_INT(parse_page(p1, strlen(p1), REF, &s, &err), 0);
	T_INT(s.published_at, REF - 3 * 86400);
	T_INT(s.updated_at, REF - 45 * 60);
	T_INT(s.scores[STORY_HOT], 80);
	T_INT(s.scores[STORY_QUALITY], STORY_SCORE_NONE);
	T_INT(s.scores[STORY_IMPACT], 42);
	T_STR(s.summary[STORY_EN], "Open models close the gap.");
	T_STR(s.summary[STORY_ZH], "开源模型追平差距。");
	T_INT(s.key_data[STORY_EN].n, 2);
	if (s.key_data[STORY_EN].n == 2) {
		T_STR(s.key_data[STORY_EN].v[0], "Mistral | Released model | 1.6 GW | of compute");
		T_STR(s.key_data[STORY_EN].v[1], "Meta | Llama 5 | 400B params");
	}
	T_INT(s.ntags, 3);
	if (s.ntags == 3) {
		T_STR(s.tags[0].en, "Open Source");
		T_STR(s.tags[0].zh, "开源");
		T_STR(s.tags[1].en, "AI Agent");
		T_STR(s.tags[1].zh, "智能体");
		T_STR(s.tags[2].en, "Robotics");
		T_STR(s.tags[2].zh, NULL);
	}
	T_INT(s.faq[STORY_EN].n, 2);
	if (s.faq[STORY_EN].n == 2) {
		T_STR(s.faq[STORY_EN].v[0].q, "Is it open?");
		T_STR(s.faq[STORY_EN].v[0].a, "Yes, weights are public.");
		T_STR(s.faq[STORY_EN].v[1].q, "How big is it?");
		T_STR(s.faq[STORY_EN].v[1].a, "Large. Very large.");
	}
	T_INT(s.faq[STORY_ZH].n, 0);
	T_STR(s.analysis[STORY_EN], NULL);
	story_free(&s);

	/* English time forms; no "Updated": updated = published */
	static const struct {
		const char *hdr;
		int64_t pub, upd;
	} hv[] = {
		{"AI News AI资讯 just now 5", 0, 0},
		{"AI News AI资讯 3 min ago 9", 180, 180},
		{"AI News AI资讯 7m ago Updated just now 刚刚 1", 420, 0},
		{"AI News AI资讯 2d ago Updated 5 hours ago 更新于 9小时前", 2 * 86400, 5 * 3600},
		{"AI News AI资讯 刚刚 3", 0, 0},
		{"AI News AI资讯 2小時前 更新於 1小時前 3", 7200, 3600},
		{"AI News AI资讯 88", -1, -1},
	};
	for (size_t i = 0; i < sizeof hv / sizeof *hv; i++) {
		char *txt = xasprintf("%s\n\nA Title 一个标题\n", hv[i].hdr);
		story_init(&s);
		T_INT(parse_page(txt, strlen(txt), REF, &s, NULL), 0);
		T_INT(s.published_at, hv[i].pub < 0 ? REF : REF - hv[i].pub);
		T_INT(s.updated_at, hv[i].upd < 0 ? REF : REF - hv[i].upd);
		T_STR(s.title[STORY_EN], "A Title");
		story_free(&s);
		free(txt);
	}

	/* title line forms: ZH only, EN only, ZH token glued to a Latin word */
	const char *p2 = "AI News AI资讯 1h ago\n\n英伟达发布新芯片\n\n70\nHot 热度\n";
	story_init(&s);
	T_INT(parse_page(p2, strlen(p2), REF, &s, NULL), 0);
	T_STR(s.title[STORY_EN], NULL);
	T_STR(s.title[STORY_ZH], "英伟达发布新芯片");
	T_INT(s.scores[STORY_HOT], 70);
	story_free(&s);
	const char *p3 = "AI News AI资讯 1h ago\n\nNvidia Ships Chips\n\n70\nHot 热度\n";
	story_init(&s);
	T_INT(parse_page(p3, strlen(p3), REF, &s, NULL), 0);
	T_STR(s.title[STORY_EN], "Nvidia Ships Chips");
	T_STR(s.title[STORY_ZH], NULL);
	story_free(&s);
	/* the score block right after the header: no title */
	const char *p4 = "AI News AI资讯 1h ago\n\n70\nHot 热度\n65\nQuality 质量\n";
	story_init(&s);
	T_INT(parse_page(p4, strlen(p4), REF, &s, &err), -1);
	T_STR(err, "line 3: no title found");
	free(err);
	story_free(&s);
	T_INT(parse_page("", 0, REF, &s, &err), -1);
	T_STR(err, "line 1: no title found");
	free(err);
	story_free(&s);
}

static void test_articles(void)
{
	struct story s;
	char *err = NULL;
	/* Traditional Chinese, hashtags, a reporter byline, CRLF, full-width stops */
	const char *tw = "#AI大戰\r\n#AI #Nvidia\r\n\r\n"
			 "輝達發表新一代AI晶片，市值再創新高\r\n"
			 "記者 王小明／台北報導\r\n"
			 "2024年11月20日 星期三\r\n"
			 "輝達（Nvidia）今日在台北發表新一代 AI 晶片。分析師認為，此舉將鞏固其市場地位！"
			 "競爭對手會如何回應？外界正密切關注。\r\n"
			 "\r\n"
			 "點擊關注，獲取更多科技新聞\r\n"
			 "新晶片預計明年第一季出貨。\r\n";
	story_init(&s);
	T_INT(parse_detect(tw, strlen(tw)), PARSE_ARTICLE);
	T_INT(parse_article(tw, strlen(tw), REF, &s, &err), 0);
	T_STR(err, NULL);
	T_STR(s.title[STORY_ZH], "輝達發表新一代AI晶片，市值再創新高");
	T_STR(s.title[STORY_EN], NULL);
	T_STR(s.summary[STORY_ZH],
	      "輝達（Nvidia）今日在台北發表新一代 AI 晶片。分析師認為，此舉將鞏固其市場地位！競爭對手會如何回應？外界正密切關注。");
	T_INT(s.tldr[STORY_ZH].n, 3);
	if (s.tldr[STORY_ZH].n == 3) {
		T_STR(s.tldr[STORY_ZH].v[0], "輝達（Nvidia）今日在台北發表新一代 AI 晶片。");
		T_STR(s.tldr[STORY_ZH].v[1], "分析師認為，此舉將鞏固其市場地位！");
		T_STR(s.tldr[STORY_ZH].v[2], "競爭對手會如何回應？");
	}
	T_INT(count_paras(s.analysis[STORY_ZH]), 2);
	T_OK(!strstr(s.analysis[STORY_ZH], "王小明") && !strstr(s.analysis[STORY_ZH], "點擊關注") &&
		     !strstr(s.analysis[STORY_ZH], "#") && !strstr(s.analysis[STORY_ZH], "\r"),
	     "noise in body: %s", s.analysis[STORY_ZH]);
	T_INT(s.scores[STORY_IMPACT], STORY_SCORE_NONE);
	story_free(&s);

	/* English, a byline, "U.S." and "1.6" inside the lead sentences */
	const char *en = "\n#AI\n"
			 "Meta Buys 1.6 GW of Compute\n"
			 "By Jane A. Doe and John Smith\n"
			 "Published: 2026-11-22\n"
			 "\n"
			 "Meta agreed to buy 1.6 GW of compute from Crusoe in the U.S. market. The deal\n"
			 "\n"
			 "was announced on Monday. Analysts called it large!\n"
			 "By 2030, such deals will be common.\n";
	story_init(&s);
	T_INT(parse_article(en, strlen(en), REF, &s, NULL), 0);
	T_STR(s.title[STORY_EN], "Meta Buys 1.6 GW of Compute");
	T_STR(s.title[STORY_ZH], NULL);
	T_STR(s.source, "article");
	T_STR(s.summary[STORY_EN], "Meta agreed to buy 1.6 GW of compute from Crusoe in the U.S. market. The deal");
	T_INT(count_paras(s.analysis[STORY_EN]), 3);
	T_OK(!strstr(s.analysis[STORY_EN], "Jane") && !strstr(s.analysis[STORY_EN], "Published"), "byline in body");
	T_OK(strstr(s.analysis[STORY_EN], "By 2030") != NULL, "a sentence starting 'By 2030' is not a byline");
	T_INT(s.tldr[STORY_EN].n, 3);
	if (s.tldr[STORY_EN].n == 3) {
		T_STR(s.tldr[STORY_EN].v[0], "Meta agreed to buy 1.6 GW of compute from Crusoe in the U.S. market.");
		T_STR(s.tldr[STORY_EN].v[1], "The deal"); /* a blank line ends it */
		T_STR(s.tldr[STORY_EN].v[2], "was announced on Monday.");
	}
	story_free(&s);

	/* "原标题：" carries the title; Markdown heading */
	const char *orig = "原标题：《大模型价格战再起》\n作者：张三\n各家厂商再次降价。\n";
	story_init(&s);
	T_INT(parse_article(orig, strlen(orig), REF, &s, NULL), 0);
	T_STR(s.title[STORY_ZH], "大模型价格战再起");
	T_STR(s.summary[STORY_ZH], "各家厂商再次降价。");
	story_free(&s);
	const char *md = "## Chips, Again\n\nBody text here.\n";
	story_init(&s);
	T_INT(parse_article(md, strlen(md), REF, &s, NULL), 0);
	T_STR(s.title[STORY_EN], "Chips, Again");
	story_free(&s);

	/* a title alone: no summary, no TL;DR, nothing invented */
	story_init(&s);
	T_INT(parse_article("Just a headline\n", 16, REF, &s, NULL), 0);
	T_STR(s.title[STORY_EN], "Just a headline");
	T_STR(s.summary[STORY_EN], NULL);
	T_STR(s.analysis[STORY_EN], NULL);
	T_INT(s.tldr[STORY_EN].n, 0);
	story_free(&s);

	/* nothing but noise: an error naming a line */
	const char *noise = "#AI #Nvidia\n\n作者 | 黄昱\n";
	story_init(&s);
	T_INT(parse_article(noise, strlen(noise), REF, &s, &err), -1);
	T_STR(err, "line 3: no title found");
	free(err);
	story_free(&s);
	story_init(&s);
	T_INT(parse_article("", 0, REF, &s, &err), -1);
	T_STR(err, "line 1: no title found");
	free(err);
	story_free(&s);

	/* a very long single line (no line buffer limit) */
	struct sbuf big = {0};
	sbuf_adds(&big, "Long Story\n");
	for (int i = 0; i < 40000; i++)
		sbuf_adds(&big, "The model was trained on 1.6 trillion tokens in the U.S. ");
	size_t body_len = big.len - 11 - 1;
	sbuf_adds(&big, "\n");
	story_init(&s);
	T_INT(parse_article(big.s, big.len, REF, &s, NULL), 0);
	T_STR(s.title[STORY_EN], "Long Story");
	T_INT(s.summary[STORY_EN] ? strlen(s.summary[STORY_EN]) : 0, body_len);
	T_INT(s.tldr[STORY_EN].n, 1); /* "U.S. The" is never split: one sentence */
	story_free(&s);
	sbuf_free(&big);
}

static void test_lead_sentences(void)
{
	struct strv v = {0};
	parse_lead_sentences("Anthropic wrote to the U.S. Commerce Secretary. Meta bought 1.6 GW. Done!", 5, &v);
	T_INT(v.n, 3);
	if (v.n == 3) {
		T_STR(v.v[0], "Anthropic wrote to the U.S. Commerce Secretary.");
		T_STR(v.v[1], "Meta bought 1.6 GW.");
		T_STR(v.v[2], "Done!");
	}
	strv_free(&v);
	parse_lead_sentences("第一句。第二句！第三句？第四句。", 10, &v);
	T_INT(v.n, 4);
	if (v.n == 4) {
		T_STR(v.v[0], "第一句。");
		T_STR(v.v[1], "第二句！");
		T_STR(v.v[2], "第三句？");
		T_STR(v.v[3], "第四句。");
	}
	strv_free(&v);
	parse_lead_sentences("第一句。第二句！第三句？第四句。", 2, &v);
	T_INT(v.n, 2);
	strv_free(&v);
	parse_lead_sentences("One. Two. Three. Four.", 3, &v);
	T_INT(v.n, 3);
	if (v.n == 3)
		T_STR(v.v[2], "Three.");
	strv_free(&v);
	/* closing quotes stay with their sentence; "Dr." and "e.g." do not split */
	parse_lead_sentences("He said \"stop.\" Dr. Smith agreed, e.g. on costs. 他说：“好。”然后走了。", 9, &v);
	T_INT(v.n, 4);
	if (v.n == 4) {
		T_STR(v.v[0], "He said \"stop.\"");
		T_STR(v.v[1], "Dr. Smith agreed, e.g. on costs.");
		T_STR(v.v[2], "他说：“好。”");
		T_STR(v.v[3], "然后走了。");
	}
	strv_free(&v);
	/* ASCII '?' inside Chinese text; ellipsis; full-width period */
	parse_lead_sentences("你能否锁住能源?你能否安抚监管?Wait... what? 完．", 9, &v);
	T_INT(v.n, 5);
	if (v.n == 5) {
		T_STR(v.v[0], "你能否锁住能源?");
		T_STR(v.v[1], "你能否安抚监管?");
		T_STR(v.v[2], "Wait...");
		T_STR(v.v[3], "what?");
		T_STR(v.v[4], "完．");
	}
	strv_free(&v);
	/* "No. 1", a version number, a URL, a trailing fragment */
	parse_lead_sentences("It ranks No. 1 with v2.5 on example.com today. And then it", 9, &v);
	T_INT(v.n, 2);
	if (v.n == 2) {
		T_STR(v.v[0], "It ranks No. 1 with v2.5 on example.com today.");
		T_STR(v.v[1], "And then it");
	}
	strv_free(&v);
	parse_lead_sentences("  \n\n  ", 3, &v);
	T_INT(v.n, 0);
	parse_lead_sentences(NULL, 3, &v);
	parse_lead_sentences("Something.", 0, &v);
	T_INT(v.n, 0);
	strv_free(&v);
}

int main(void)
{
	test_sample_001();
	test_sample_000();
	test_sample_002();
	test_detect();
	test_truncated();
	test_page_variants();
	test_articles();
	test_lead_sentences();
	return t_done();
}
