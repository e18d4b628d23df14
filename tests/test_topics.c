/* test_topics — the taxonomy file, resolving words, and classifying real and
 * hand-made stories; a differential test of the automaton against brute
 * force with enough keywords to push it past its dense-row budget. */
#include "normalise.h"
#include "parse.h"
#include "t.h"
#include "topics.h"
#include "util.h"

#include <stdint.h>
#include <strings.h>

static struct normaliser *nz;

/* Sum of hit counts for (kind, index), optionally only one pattern/field. */
static int hits(const struct topics_result *r, int kind, int index, const char *pattern, int field)
{
	int n = 0;
	for (size_t i = 0; i < r->nhits; i++) {
		const struct topics_hit *h = &r->hits[i];
		if (h->kind == kind && h->index == index && (!pattern || !strcmp(h->pattern, pattern)) &&
		    (field < 0 || h->field == field))
			n += h->count;
	}
	return n;
}

static int decided(const struct topics *t, const struct topics_result *r, int kind, const char *id)
{
	int want = topics_find(t, kind, id);
	const int *v = kind == TOPICS_TOPIC ? r->topic_idx : r->entity_idx;
	size_t n = kind == TOPICS_TOPIC ? r->ntopics : r->nentities;
	for (size_t i = 0; i < n; i++)
		if (v[i] == want)
			return 1;
	return 0;
}

static const char *decided_list(const struct topics *t, const struct topics_result *r, int kind)
{
	static char buf[1024];
	const int *v = kind == TOPICS_TOPIC ? r->topic_idx : r->entity_idx;
	size_t n = kind == TOPICS_TOPIC ? r->ntopics : r->nentities, at = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && at < sizeof buf - 64; i++)
		at += (size_t)snprintf(buf + at, sizeof buf - at, "%s ", topics_get(t, kind, (size_t)v[i])->id);
	return buf;
}

static void check_resolve(struct topics *t, const char *word, int want_kind, const char *want_id)
{
	int kind = -1;
	size_t index = 0;
	int rc = topics_resolve(t, word, &kind, &index);
	const struct topics_entry *e = rc == 0 ? topics_get(t, kind, index) : NULL;
	T_OK(rc == 0 && kind == want_kind && e && !strcmp(e->id, want_id),
	     "resolve(%s) = rc %d kind %d id %s, want %s", word, rc, kind, e ? e->id : "-", want_id);
}

/* Classify a story whose only text is one title. */
static void classify_title(struct topics *t, const char *title, struct topics_result *r)
{
	struct story s;
	story_init(&s);
	s.title[STORY_ZH] = xstrdup(title);
	topics_classify(t, &s, r);
	story_free(&s);
}

static void test_taxonomy_file(struct topics *t)
{
	T_OK(topics_count(t, TOPICS_TOPIC) >= 15, "%zu topics", topics_count(t, TOPICS_TOPIC));
	T_OK(topics_count(t, TOPICS_ENTITY) >= 40, "%zu entities", topics_count(t, TOPICS_ENTITY));
	for (int k = TOPICS_TOPIC; k <= TOPICS_ENTITY; k++) {
		for (size_t i = 0; i < topics_count(t, k); i++) {
			const struct topics_entry *e = topics_get(t, k, i);
			T_OK(e && *e->id && *e->name_en && *e->name_zh, "entry %d/%zu has id and names", k, i);
		}
	}
	T_OK(topics_get(t, TOPICS_TOPIC, topics_count(t, TOPICS_TOPIC)) == NULL, "out of range");
	T_OK(topics_get(t, TOPICS_KEYWORD, 0) == NULL, "keywords are not entries");
	const char *topic_ids[] = {"compute", "chips",    "models",     "agents",   "research",
				   "talent",  "funding",  "regulation", "safety",   "products",
				   "cloud",   "opensource", "robotics", "china",    "energy"};
	for (size_t i = 0; i < sizeof topic_ids / sizeof *topic_ids; i++)
		T_OK(topics_find(t, TOPICS_TOPIC, topic_ids[i]) >= 0, "topic %s", topic_ids[i]);
	const char *entity_ids[] = {
		"openai",     "anthropic",  "google",       "deepmind",      "meta",
		"microsoft",  "nvidia",     "amd",          "intel",         "tsmc",
		"apple",      "amazon",     "xai",          "mistral",       "deepseek",
		"alibaba",    "baidu",      "tencent",      "bytedance",     "huawei",
		"zhipu",      "moonshot",   "minimax",      "01ai",          "baichuan",
		"stepfun",    "iflytek",    "samsung",      "qualcomm",      "arm",
		"oracle",     "coreweave",  "crusoe",       "huggingface",   "cohere",
		"perplexity", "sam-altman", "zuckerberg",   "jensen-huang",  "elon-musk",
		"dario-amodei", "noam-shazeer", "demis-hassabis", "liang-wenfeng", "yang-zhilin",
		"li-yanhong"};
	for (size_t i = 0; i < sizeof entity_ids / sizeof *entity_ids; i++)
		T_OK(topics_find(t, TOPICS_ENTITY, entity_ids[i]) >= 0, "entity %s", entity_ids[i]);
	T_INT(topics_find(t, TOPICS_TOPIC, "nvidia"), -1);
	T_OK(topics_memory(t) > 10000, "memory %zu", topics_memory(t));
}

static void test_resolve_suggest(struct topics *t)
{
	check_resolve(t, "compute", TOPICS_TOPIC, "compute");
	check_resolve(t, "Compute", TOPICS_TOPIC, "compute");
	check_resolve(t, "算力", TOPICS_TOPIC, "compute");
	check_resolve(t, "資料中心", TOPICS_TOPIC, "compute");
	check_resolve(t, "comput*", TOPICS_TOPIC, "compute");
	check_resolve(t, "Funding & Deals", TOPICS_TOPIC, "funding");
	check_resolve(t, "nvidia", TOPICS_ENTITY, "nvidia");
	check_resolve(t, "ＮＶＩＤＩＡ", TOPICS_ENTITY, "nvidia");
	check_resolve(t, "英伟达", TOPICS_ENTITY, "nvidia");
	check_resolve(t, "輝達", TOPICS_ENTITY, "nvidia");
	check_resolve(t, "Zuckerberg", TOPICS_ENTITY, "zuckerberg");
	check_resolve(t, "祖克柏", TOPICS_ENTITY, "zuckerberg");
	check_resolve(t, "小扎", TOPICS_ENTITY, "zuckerberg");
	check_resolve(t, "微軟", TOPICS_ENTITY, "microsoft");
	check_resolve(t, "字節跳動", TOPICS_ENTITY, "bytedance");
	check_resolve(t, "通义千问", TOPICS_ENTITY, "alibaba");
	check_resolve(t, "Llama", TOPICS_ENTITY, "meta");
	check_resolve(t, "Robin Li", TOPICS_ENTITY, "li-yanhong");
	/* AWS is both a cloud keyword and an Amazon alias: topics come first. */
	check_resolve(t, "AWS", TOPICS_TOPIC, "cloud");
	int kind;
	size_t index;
	T_INT(topics_resolve(t, "blorptastic", &kind, &index), -1);
	T_INT(topics_resolve(t, "   ", &kind, &index), -1);
	T_INT(topics_resolve(t, "comp", &kind, &index), -1);

	int kinds[5];
	size_t idx[5];
	size_t n = topics_suggest(t, "computr", kinds, idx, 5);
	int found = 0;
	for (size_t i = 0; i < n; i++)
		found |= kinds[i] == TOPICS_TOPIC && idx[i] == (size_t)topics_find(t, TOPICS_TOPIC, "compute");
	T_OK(n > 0 && found, "suggest(computr) has compute (%zu suggestions)", n);
	T_OK(n > 0 && kinds[0] == TOPICS_TOPIC && !strcmp(topics_get(t, kinds[0], idx[0])->id, "compute"),
	     "compute is the best suggestion for computr");
	n = topics_suggest(t, "nvidai", kinds, idx, 5);
	T_OK(n > 0 && kinds[0] == TOPICS_ENTITY && !strcmp(topics_get(t, kinds[0], idx[0])->id, "nvidia"),
	     "suggest(nvidai) starts with nvidia");
	n = topics_suggest(t, "regul", kinds, idx, 5);
	T_OK(n > 0 && !strcmp(topics_get(t, kinds[0], idx[0])->id, "regulation"), "suggest(regul)");
	T_INT(topics_suggest(t, "qqqqqqqqqqqq", kinds, idx, 5), 0);
	T_INT(topics_suggest(t, "compute", kinds, idx, 0), 0);
}

/* A sample page through the real parser. */
static int sample_story(const char *num, struct story *s)
{
	char *text = NULL, *err = NULL;
	size_t len = 0;
	story_init(s);
	if (file_read(t_sample(num), 1 << 20, &text, &len) < 0)
		return -1;
	int rc = parse_page(text, len, 1790000000, s, &err);
	if (rc < 0)
		printf("# parse_page(%s): %s\n", num, err ? err : "?");
	free(err);
	free(text);
	return rc < 0 ? -1 : 0;
}

static void test_sample_001(struct topics *t)
{
	struct story s;
	T_INT(sample_story("001", &s), 0);
	struct topics_result r;
	T_INT(topics_classify(t, &s, &r), 0);
	const char *topics_want[] = {"compute", "talent", "regulation"};
	for (size_t i = 0; i < 3; i++)
		T_OK(decided(t, &r, TOPICS_TOPIC, topics_want[i]), "001 topic %s (got %s)", topics_want[i],
		     decided_list(t, &r, TOPICS_TOPIC));
	const char *entities_want[] = {"meta", "openai", "google", "anthropic"};
	for (size_t i = 0; i < 4; i++)
		T_OK(decided(t, &r, TOPICS_ENTITY, entities_want[i]), "001 entity %s (got %s)",
		     entities_want[i], decided_list(t, &r, TOPICS_ENTITY));
	/* The story is about compute above all. */
	T_OK(r.ntopics > 0 && r.topic_idx[0] == topics_find(t, TOPICS_TOPIC, "compute"),
	     "compute ranks first (got %s)", decided_list(t, &r, TOPICS_TOPIC));
	int compute = topics_find(t, TOPICS_TOPIC, "compute");
	char *ev = topics_evidence(t, &r, TOPICS_TOPIC, compute);
	T_OK(strstr(ev, "算力") || strstr(ev, "gigawatt"), "compute evidence: %s", ev);
	T_OK(!strncmp(ev, "compute: ", 9) && strstr(ev, "title"), "evidence names the title: %s", ev);
	free(ev);
	T_OK(hits(&r, TOPICS_TOPIC, compute, NULL, TOPICS_F_TITLE) >= 2, "compute in the title");
	/* 扎克伯格 appears once, in Chinese: matched, though too little to decide on. */
	T_OK(hits(&r, TOPICS_ENTITY, topics_find(t, TOPICS_ENTITY, "zuckerberg"), "扎克伯格", -1) == 1,
	     "扎克伯格 → zuckerberg");
	/* The taxonomy has no bare "AI" keyword: every story would match it. */
	int bare_ai = 0;
	for (size_t i = 0; i < r.nhits; i++)
		bare_ai += !strcasecmp(r.hits[i].pattern, "AI");
	T_INT(bare_ai, 0);
	T_OK(r.bytes_scanned > 10000, "bytes scanned %zu", r.bytes_scanned);

	topics_apply(t, &r, &s);
	T_OK(strv_contains(&s.topics, "compute") && strv_contains(&s.entities, "meta"), "applied");
	T_INT(s.topics.n, r.ntopics);
	topics_result_free(&r);
	T_OK(r.hits == NULL && r.nhits == 0, "result reset");
	story_free(&s);
}

static void test_traditional(struct topics *t)
{
	struct topics_result r;
	classify_title(t, "輝達與資料中心業者簽約", &r);
	T_OK(decided(t, &r, TOPICS_TOPIC, "compute"), "資料中心 → compute (got %s)",
	     decided_list(t, &r, TOPICS_TOPIC));
	T_OK(decided(t, &r, TOPICS_ENTITY, "nvidia"), "輝達 → nvidia (got %s)",
	     decided_list(t, &r, TOPICS_ENTITY));
	T_INT(hits(&r, TOPICS_ENTITY, topics_find(t, TOPICS_ENTITY, "nvidia"), NULL, TOPICS_F_TITLE), 1);
	topics_result_free(&r);

	classify_title(t, "台積電晶片出貨 矽谷 祖克柏", &r);
	T_OK(decided(t, &r, TOPICS_TOPIC, "chips"), "晶片 → chips");
	T_OK(decided(t, &r, TOPICS_ENTITY, "tsmc"), "台積電 → tsmc");
	T_OK(decided(t, &r, TOPICS_ENTITY, "zuckerberg"), "祖克柏 → zuckerberg");
	topics_result_free(&r);
}

/* OpenCC loads on the first Traditional text, not before: loading the
 * taxonomy, classifying Simplified and English stories, adding a Chinese
 * keyword and resolving a known word leave it unloaded. Forced forms are
 * interned when it loads, so a keyword still matches converted text
 * (核心 written Simplified; tw2sp turns Traditional 核心 into 内核). */
static void test_lazy_opencc(void)
{
	char *err = NULL;
	struct normaliser *n = normaliser_new(&err);
	struct topics *t = topics_load("config/topics.json", n, &err);
	T_OK(t != NULL, "load: %s", err ? err : "");
	if (!t) {
		free(err);
		normaliser_free(n);
		return;
	}
	struct story s;
	T_INT(sample_story("001", &s), 0);
	struct topics_result r;
	topics_classify(t, &s, &r);
	topics_result_free(&r);
	story_free(&s);
	int kw = topics_add_keyword(t, "核心");
	T_OK(kw >= 0, "keyword 核心 added");
	int kind;
	size_t idx;
	T_INT(topics_resolve(t, "算力", &kind, &idx), 0);
	T_INT(normaliser_opencc_loaded(n), 0);

	classify_title(t, "輝達的核心產品", &r);
	T_INT(normaliser_opencc_loaded(n), 1);
	T_INT(hits(&r, TOPICS_KEYWORD, kw, NULL, TOPICS_F_TITLE), 1);
	T_OK(decided(t, &r, TOPICS_ENTITY, "nvidia"), "輝達 → nvidia");
	topics_result_free(&r);
	classify_title(t, "开源核心技术", &r);
	T_INT(hits(&r, TOPICS_KEYWORD, kw, NULL, TOPICS_F_TITLE), 1);
	topics_result_free(&r);
	/* a keyword added now gets both forms at once */
	int kw2 = topics_add_keyword(t, "晶片");
	classify_title(t, "台積電晶片", &r);
	T_INT(hits(&r, TOPICS_KEYWORD, kw2, NULL, TOPICS_F_TITLE), 1);
	topics_result_free(&r);
	topics_free(t);
	normaliser_free(n);
}

/* One passing mention in the analysis is not enough; in the title it is. */
static void test_threshold_and_tags(struct topics *t)
{
	struct story s;
	struct topics_result r;
	story_init(&s);
	s.analysis[STORY_EN] = xstrdup("Elsewhere, a lone GPU was mentioned.");
	topics_classify(t, &s, &r);
	int compute = topics_find(t, TOPICS_TOPIC, "compute");
	T_INT(hits(&r, TOPICS_TOPIC, compute, "GPU", TOPICS_F_ANALYSIS), 1);
	T_OK(!decided(t, &r, TOPICS_TOPIC, "compute"), "one analysis mention is not enough");
	topics_result_free(&r);
	s.title[STORY_EN] = xstrdup("GPU prices fall");
	topics_classify(t, &s, &r);
	T_OK(decided(t, &r, TOPICS_TOPIC, "compute"), "a title mention is enough");
	T_INT(topics_score(t, &r, TOPICS_TOPIC, compute), 4 + 1);
	topics_result_free(&r);
	story_free(&s);

	story_init(&s);
	story_tag_push(&s, "LLM", "大模型");
	story_tag_push(&s, "Regulation", "监管");
	story_tag_push(&s, "Nvidia", NULL);
	story_tag_push(&s, "Gardening", "园艺");
	topics_classify(t, &s, &r);
	int models = topics_find(t, TOPICS_TOPIC, "models");
	T_INT(hits(&r, TOPICS_TOPIC, models, NULL, TOPICS_F_TAGS), 1); /* the pair counts once */
	topics_result_free(&r);
	story_tag_push(&s, "llm", NULL); /* the same tag again: the same row, counted twice */
	topics_classify(t, &s, &r);
	T_INT(hits(&r, TOPICS_TOPIC, models, NULL, TOPICS_F_TAGS), 2);
	int rows = 0;
	for (size_t i = 0; i < r.nhits; i++)
		rows += r.hits[i].kind == TOPICS_TOPIC && r.hits[i].index == models && r.hits[i].field == TOPICS_F_TAGS;
	T_INT(rows, 1);
	T_OK(decided(t, &r, TOPICS_TOPIC, "models"), "LLM 大模型 → models");
	T_OK(decided(t, &r, TOPICS_TOPIC, "regulation"), "Regulation 监管 → regulation");
	T_OK(decided(t, &r, TOPICS_ENTITY, "nvidia"), "an entity name as a tag");
	T_INT(r.ntopics, 2);
	topics_result_free(&r);
	story_free(&s);
}

static const char small_taxonomy[] =
	"{\"_doc\": \"test\", \"threshold\": 1,"
	" \"field_weights\": {\"analysis\": 1},"
	" \"topics\": [{\"id\": \"t\", \"name_en\": \"T\", \"name_zh\": \"甲\","
	"   \"keywords\": [\"AI\", \"GPU\", \"comput*\", \"Meta\", \"box\", \"data center\", \"算力\","
	"                 \"GPT-4*\", \"AI芯片\", \"大模型\", \"模型\"]}],"
	" \"entities\": [{\"id\": \"e\", \"name_en\": \"Noam Shazeer\", \"name_zh\": \"沙泽尔\","
	"   \"aliases\": [\"Noam Shazeer\", \"Shazeer\"]}]}";

/* Count matches of one taxonomy keyword in normalised text. */
static int count_in(struct topics *t, const char *pattern, const char *text)
{
	struct topics_result r = {0};
	size_t len;
	char *norm = normalise_text(nz, text, strlen(text), &len);
	topics_scan(t, norm, len, TOPICS_F_ANALYSIS, &r);
	int n = hits(&r, TOPICS_TOPIC, 0, pattern, -1) + hits(&r, TOPICS_ENTITY, 0, pattern, -1);
	topics_result_free(&r);
	free(norm);
	return n;
}

static void test_boundaries(void)
{
	char *err = NULL;
	struct topics *t = topics_load_text(small_taxonomy, strlen(small_taxonomy), "small", nz, &err);
	T_OK(t != NULL, "small taxonomy: %s", err ? err : "");
	if (!t) {
		free(err);
		return;
	}
	T_INT(count_in(t, "AI", "he said the maid was paid"), 0);
	T_INT(count_in(t, "AI", "AI, ai and A.I."), 2);
	T_INT(count_in(t, "AI", "AI算力 and 新AI"), 2);
	T_INT(count_in(t, "算力", "AI算力"), 1);
	T_INT(count_in(t, "AI", "AIs and AIes"), 2);
	T_INT(count_in(t, "AI", "aisle"), 0);
	T_INT(count_in(t, "GPU", "GPUs, a GPU; gpus2 GPUx"), 2);
	T_INT(count_in(t, "box", "boxes box boxer"), 2);
	T_INT(count_in(t, "comput*", "computing, computation; Compute!"), 3);
	T_INT(count_in(t, "comput*", "supercomputer precompute"), 0);
	T_INT(count_in(t, "Meta", "metadata metaverse"), 0);
	T_INT(count_in(t, "Meta", "Meta's Meta-Crusoe deal, META"), 3);
	T_INT(count_in(t, "data center", "DATA\n  CENTER data centers datacenter"), 2);
	T_INT(count_in(t, "GPT-4*", "GPT-4o and gpt-4.5 beat GPT-3"), 2);
	T_INT(count_in(t, "AI芯片", "AI芯片 and ai芯片厂 but not 新AI芯"), 2);
	/* Nested spellings of one owner count once, under the longer one. */
	T_INT(count_in(t, "Noam Shazeer", "Noam Shazeer met Shazeer"), 1);
	T_INT(count_in(t, "Shazeer", "Noam Shazeer met Shazeer"), 1);
	T_INT(count_in(t, "大模型", "大模型和模型"), 1);
	T_INT(count_in(t, "模型", "大模型和模型"), 1);

	/* Evidence text, by count, fields in order. */
	struct topics_result r = {0};
	const char *title = "gpu and gpus", *body = "one GPU, 算力";
	topics_scan(t, title, strlen(title), TOPICS_F_TITLE, &r);
	char *norm = normalise_str(nz, body);
	topics_scan(t, norm, strlen(norm), TOPICS_F_ANALYSIS, &r);
	free(norm);
	topics_decide(t, &r);
	char *ev = topics_evidence(t, &r, TOPICS_TOPIC, 0);
	T_STR(ev, "t: GPU\xC3\x97" "3 (title, analysis), 算力\xC3\x97" "1 (analysis)");
	free(ev);
	ev = topics_evidence(t, &r, TOPICS_ENTITY, 0);
	T_STR(ev, "e: no match");
	free(ev);
	T_INT(r.ntopics, 1);
	T_INT(r.nentities, 0);
	topics_result_free(&r);
	topics_free(t);
}

static void check_load_error(const char *json, const char *want)
{
	char *err = NULL;
	struct topics *t = topics_load_text(json, strlen(json), "x.json", nz, &err);
	T_OK(!t && err && strstr(err, want), "error \"%s\" should contain \"%s\"", err ? err : "(none)",
	     want);
	topics_free(t);
	free(err);
}

#define TOPIC(id) "{\"id\": \"" id "\", \"name_en\": \"A\", \"name_zh\": \"甲\", \"keywords\": [\"a\"]}"
#define TOPIC_OK TOPIC("a")
#define ENTITY_OK "{\"id\": \"e\", \"name_en\": \"E\", \"name_zh\": \"乙\", \"aliases\": [\"e\"]}"

static void test_load_errors(void)
{
	check_load_error("{\"topics\": [" TOPIC("a") ", " TOPIC("b") ", " TOPIC("c") ","
			 " {\"id\": \"d\", \"name_en\": \"D\", \"name_zh\": \"丁\", \"keywords\": [\"x\", \"y\", 3]}],"
			 " \"entities\": [" ENTITY_OK "]}",
			 "x.json: topics[3].keywords[2]: not a string");
	check_load_error("{\"topics\": [" TOPIC_OK "], \"entities\": [" ENTITY_OK ", {\"id\": \"f\","
			 " \"name_en\": \"F\", \"aliases\": [\"f\"]}]}",
			 "entities[1].name_zh: missing");
	check_load_error("{\"topics\": [" TOPIC_OK ", " TOPIC_OK "], \"entities\": [" ENTITY_OK "]}",
			 "topics[1].id: duplicate id \"a\"");
	check_load_error("{\"topics\": [{\"id\": \"a\", \"name_en\": \"A\", \"name_zh\": \"甲\","
			 " \"keyword\": [\"a\"]}], \"entities\": [" ENTITY_OK "]}",
			 "topics[0].keyword: unknown key");
	check_load_error("{\"topics\": [" TOPIC_OK "], \"entities\": [" ENTITY_OK "],"
			 " \"tags\": {\"LLM\": \"modelz\"}}",
			 "tags.LLM: unknown topic \"modelz\"");
	check_load_error("{\"topics\": [" TOPIC_OK "], \"entities\": [" ENTITY_OK "],"
			 " \"field_weights\": {\"body\": 2}}",
			 "field_weights.body: unknown field");
	check_load_error("{\"topics\": [" TOPIC_OK "], \"entities\": [" ENTITY_OK "], \"threshold\": \"2\"}",
			 "threshold: not a number");
	check_load_error("{\"topics\": [" TOPIC_OK "], \"entities\": {}}", "entities: not an array");
	check_load_error("{\"topics\": [" TOPIC_OK "]}", "entities: missing");
	check_load_error("{\"topics\": [{\"id\": \"A b\", \"name_en\": \"A\", \"name_zh\": \"甲\","
			 " \"keywords\": [\"a\"]}], \"entities\": [" ENTITY_OK "]}",
			 "topics[0].id: \"A b\" is not lower-case");
	check_load_error("{\"topics\": [{\"id\": \"a\", \"name_en\": \"A\", \"name_zh\": \"甲\","
			 " \"keywords\": [\" * \"]}], \"entities\": [" ENTITY_OK "]}",
			 "topics[0].keywords[0]: empty after normalisation");
	check_load_error("{\"topics\": [" TOPIC_OK "], \"entities\": [" ENTITY_OK "], \"topicz\": 1}",
			 "x.json: topicz: unknown key");
	check_load_error("{\"topics\": [" TOPIC_OK, "x.json: not valid JSON");
	check_load_error("[1, 2]", "x.json: not a JSON object");

	char *err = NULL;
	struct topics *t = topics_load("/nonexistent/topics.json", nz, &err);
	T_OK(!t && err && strstr(err, "/nonexistent/topics.json"), "missing file: %s", err ? err : "");
	free(err);
}

static void test_user_keywords(struct topics *t)
{
	size_t before = topics_count(t, TOPICS_KEYWORD);
	int noam = topics_add_keyword(t, "Noam Shazeer");
	int nv = topics_add_keyword(t, "英伟达");
	int pre = topics_add_keyword(t, "ＧＰＴ-5*");
	T_OK(noam >= 0 && nv >= 0 && pre >= 0 && noam != nv && nv != pre, "ids %d %d %d", noam, nv, pre);
	T_INT(topics_add_keyword(t, "noam  shazeer"), noam);
	T_INT(topics_add_keyword(t, "英偉達"), nv);
	T_INT(topics_add_keyword(t, "gpt-5*"), pre);
	T_INT(topics_add_keyword(t, " \t"), -1);
	T_INT(topics_count(t, TOPICS_KEYWORD), before + 3);
	T_STR(topics_keyword(t, noam), "noam shazeer");
	T_STR(topics_keyword(t, nv), "英伟达");
	T_STR(topics_keyword(t, pre), "gpt-5*");
	T_OK(topics_keyword(t, 99999) == NULL, "unknown keyword id");

	struct topics_result r;
	classify_title(t, "Why noam shazeer left", &r);
	T_OK(r.nkeywords == 1 && r.keyword_ids[0] == noam, "noam shazeer hit (%zu keywords)", r.nkeywords);
	topics_result_free(&r);

	/* The Traditional/Taiwan name of the entity the keyword names. */
	classify_title(t, "輝達財報", &r);
	T_OK(r.nkeywords == 1 && r.keyword_ids[0] == nv, "輝達 hits 英伟达 (%zu keywords)", r.nkeywords);
	char *ev = topics_evidence(t, &r, TOPICS_KEYWORD, nv);
	T_STR(ev, "英伟达: 辉达\xC3\x97" "1 (title)"); /* the entity's spelling */
	free(ev);
	topics_result_free(&r);

	classify_title(t, "GPT-5.1 and GPT-50 vs gpt5", &r);
	T_INT(hits(&r, TOPICS_KEYWORD, pre, NULL, -1), 2);
	topics_result_free(&r);

	classify_title(t, "nothing to see here", &r);
	T_INT(r.nkeywords, 0);
	topics_result_free(&r);
}

/* Long texts are scanned by eight interleaved walks over eight parts
 * (topics_scan); a text of 33 copies of a short one must count every
 * keyword exactly 33 times what one copy (scanned in one walk) counts,
 * whatever falls on a part's edge, contained matches included. */
static void test_long_text_walks(struct topics *t)
{
	struct story s;
	T_INT(sample_story("001", &s), 0);
	struct sbuf one = {0}, many = {0};
	story_field_text(&s, STORY_F_TLDR, &one);
	size_t len1;
	char *n1 = normalise_text(nz, one.s, one.len, &len1);
	/* cut to under 256 bytes (one walk), on a space */
	while (len1 >= 250 || (len1 && n1[len1] != ' '))
		len1--;
	n1[len1++] = ' ';
	T_OK(len1 < 256, "one copy is scanned in one walk (%zu bytes)", len1);
	for (int i = 0; i < 33; i++)
		sbuf_add(&many, n1, len1);
	struct topics_result r1 = {0}, rn = {0};
	topics_scan(t, n1, len1, TOPICS_F_ANALYSIS, &r1);
	topics_scan(t, many.s, many.len, TOPICS_F_ANALYSIS, &rn);
	int same = r1.nhits == rn.nhits && r1.nhits >= 4;
	for (size_t i = 0; same && i < r1.nhits; i++)
		same = rn.hits[i].kind == r1.hits[i].kind && rn.hits[i].index == r1.hits[i].index &&
		       rn.hits[i].count == 33 * r1.hits[i].count;
	T_OK(same, "eight walks count 33x one walk (%zu vs %zu hits)", rn.nhits, r1.nhits);
	topics_result_free(&r1);
	topics_result_free(&rn);
	free(n1);
	sbuf_free(&one);
	sbuf_free(&many);
	story_free(&s);
}

/* The text fields of samples 001 and 000, one after another, into all:
 * the material the random-cut tests below slice. */
static void samples_text(struct sbuf *all)
{
	struct story a, b;
	T_INT(sample_story("001", &a), 0);
	T_INT(sample_story("000", &b), 0);
	for (int f = 0; f < TOPICS_NFIELDS; f++) {
		story_field_text(&a, f, all);
		story_field_text(&b, f, all);
	}
	story_free(&a);
	story_free(&b);
}

/* The first character start in s[0, len) at or after at (len if none). */
static size_t char_start(const char *s, size_t len, size_t at)
{
	while (at < len && ((unsigned char)s[at] & 0xC0) == 0x80)
		at++;
	return at;
}

/* The same hit rows in the same order, and the same bytes scanned. */
static int same_hits(const struct topics_result *a, const struct topics_result *b)
{
	if (a->nhits != b->nhits || a->bytes_scanned != b->bytes_scanned)
		return 0;
	for (size_t i = 0; i < a->nhits; i++)
		if (a->hits[i].kind != b->hits[i].kind || a->hits[i].index != b->hits[i].index ||
		    a->hits[i].field != b->hits[i].field || a->hits[i].count != b->hits[i].count ||
		    a->hits[i].pattern != b->hits[i].pattern)
			return 0;
	return 1;
}

/* Classification scans a story's fields in one walk over them joined
 * (scan_fields() in topics.c); its hits must be exactly those of scanning
 * each field on its own with topics_scan(). Fields here are random cuts
 * of samples 001 and 000 (mid-word, mid-keyword, one byte, empty), so
 * keywords and word boundaries meet the joints, on both the compact and
 * the sparse automaton. */
static void test_joined_fields(struct topics *t)
{
	struct sbuf all = {0}, raw = {0};
	samples_text(&all);
	uint64_t r = 0x2545F4914F6CDD1DULL;
	int mismatched = 0, joints = 0;
	for (int round = 0; round < 120; round++) {
		topics_set_dense_budget(t, round % 3 == 2 ? 32u << 10 : 0);
		/* five cuts of the text, on character starts */
		size_t cut[6];
		for (int k = 0; k < 6; k++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			size_t len = k == 0 ? 0 : (size_t)(r % 2400);
			if (round % 4 == 0 && k == 2)
				len = 1 + (size_t)(r % 3); /* tiny */
			if (round % 5 == 0 && k == 3)
				len = 0; /* empty */
			size_t at = char_start(all.s, all.len, (k ? cut[k - 1] : (size_t)(r % (all.len / 2))) + len);
			cut[k] = at < all.len ? at : all.len;
		}
		struct story s;
		story_init(&s);
		s.title[STORY_EN] = xstrndup(all.s + cut[0], cut[1] - cut[0]);
		s.summary[STORY_EN] = xstrndup(all.s + cut[1], cut[2] - cut[1]);
		char *v = xstrndup(all.s + cut[2], cut[3] - cut[2]);
		strv_push(&s.tldr[STORY_EN], v);
		free(v);
		v = xstrndup(all.s + cut[3], cut[4] - cut[3]);
		strv_push(&s.key_data[STORY_EN], v);
		free(v);
		s.analysis[STORY_EN] = xstrndup(all.s + cut[4], cut[5] - cut[4]);
		struct topics_result joined, each = {0};
		topics_classify(t, &s, &joined);
		for (int f = 0; f < TOPICS_NFIELDS; f++) {
			if (f == TOPICS_F_TAGS)
				continue;
			sbuf_reset(&raw);
			story_field_text(&s, f, &raw);
			size_t len = 0;
			char *norm = raw.len ? normalise_text(nz, raw.s, raw.len, &len) : NULL;
			if (len)
				topics_scan(t, norm, len, f, &each);
			free(norm);
		}
		if (!same_hits(&joined, &each) && mismatched++ < 3)
			printf("# round %d: joined %zu hits, %zu bytes; each %zu hits, %zu bytes\n", round, joined.nhits,
			       (size_t)joined.bytes_scanned, each.nhits, (size_t)each.bytes_scanned);
		joints += each.nhits > 0;
		topics_result_free(&joined);
		topics_result_free(&each);
		story_free(&s);
	}
	topics_set_dense_budget(t, 0);
	T_INT(mismatched, 0);
	T_OK(joints > 100, "the cuts found keywords (%d of 120 stories)", joints);
	sbuf_free(&all);
	sbuf_free(&raw);
}

/* The vector walk (32 walks in AVX-512 registers) finds exactly what the
 * scalar walks find: stories of 4 KB to 150 KB cut at random from the
 * samples (past 64 KB a walk's 2,048-step blocks carry state over), in
 * random field shapes, classified with it on and off. */
static void test_vector_walk(struct topics *t)
{
	if (!topics_set_simd(t, 1)) {
		printf("# no AVX-512 VBMI on this CPU (or AINEWS_SIMD=0): the vector walk is not tested here\n");
		return;
	}
	struct sbuf all = {0};
	samples_text(&all);
	uint64_t r = 0x9E3779B97F4A7C15ULL;
	int mismatched = 0;
	size_t before = topics_vector_scans(t), hits = 0;
	for (int round = 0; round < 60; round++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		size_t want = round % 10 == 9 ? 70000 + (size_t)(r % 80000) : 4096 + (size_t)(r % 30000);
		struct sbuf text = {0};
		while (text.len < want) { /* slices of the samples, cut anywhere on a character start */
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			size_t at = char_start(all.s, all.len, (size_t)(r % all.len)), n = 1 + (size_t)(r >> 32) % 3000;
			size_t end = char_start(all.s, all.len, at + n < all.len ? at + n : all.len);
			sbuf_add(&text, all.s + at, end - at);
		}
		struct story s;
		story_init(&s);
		size_t t1 = char_start(text.s, text.len, (size_t)(r % 200)), t2 = t1 + (size_t)(r >> 20) % 600;
		t2 = char_start(text.s, text.len, t2 < t1 ? t1 : t2);
		s.title[STORY_EN] = xstrndup(text.s, t1);
		s.summary[STORY_ZH] = xstrndup(text.s + t1, t2 - t1);
		s.analysis[STORY_EN] = xstrndup(text.s + t2, text.len - t2);
		struct topics_result on, off;
		topics_set_simd(t, 1);
		topics_classify(t, &s, &on);
		topics_set_simd(t, 0);
		topics_classify(t, &s, &off);
		if (!same_hits(&on, &off) && mismatched++ < 3)
			printf("# round %d (%zu bytes): vector %zu hits, scalar %zu\n", round, text.len, on.nhits, off.nhits);
		for (size_t i = 0; i < off.nhits; i++)
			hits += (size_t)off.hits[i].count;
		topics_result_free(&on);
		topics_result_free(&off);
		story_free(&s);
		sbuf_free(&text);
	}
	topics_set_simd(t, 1);
	T_INT(mismatched, 0);
	T_OK(topics_vector_scans(t) - before == 60, "the vector walk ran (%zu of 60 stories)",
	     topics_vector_scans(t) - before);
	T_OK(hits > 60 * 100, "the stories held keywords (%zu matches)", hits);
	sbuf_free(&all);
}

/* A small dense budget (the daemon's) leaves deeper states sparse; the
 * matches must be exactly those of the all-dense automaton. */
static void test_small_budget(struct topics *t)
{
	const char *samples[] = {"000", "001", "002"};
	for (int k = 0; k < 3; k++) {
		struct story s;
		T_INT(sample_story(samples[k], &s), 0);
		struct topics_result a, b;
		topics_set_dense_budget(t, 0);
		topics_classify(t, &s, &a);
		size_t st, dense_a, dense_b, cl;
		topics_automaton_stats(t, &st, &dense_a, &cl);
		topics_set_dense_budget(t, 32u << 10);
		topics_classify(t, &s, &b);
		topics_automaton_stats(t, &st, &dense_b, &cl);
		T_OK(dense_b < dense_a && dense_b < st, "sparse states with a small budget (%zu of %zu dense)", dense_b,
		     st);
		int same = a.nhits == b.nhits && a.ntopics == b.ntopics && a.nentities == b.nentities;
		for (size_t i = 0; same && i < a.nhits; i++)
			same = a.hits[i].kind == b.hits[i].kind && a.hits[i].index == b.hits[i].index &&
			       a.hits[i].field == b.hits[i].field && a.hits[i].count == b.hits[i].count;
		T_OK(same, "sample %s: same matches with a small automaton", samples[k]);
		topics_result_free(&a);
		topics_result_free(&b);
		story_free(&s);
	}
	topics_set_dense_budget(t, 0);
}

/* ---- differential test against brute force ---- */

static uint64_t rng = 88172645463325252ULL;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const cjk[] = {"数", "据", "中", "心", "算", "力"};

/* Keywords use letters no taxonomy alias is made of; the text adds "e" and
 * "s" so plural endings get exercised. */
static void rand_word(struct sbuf *b, const char *letters, int cjk_ok, unsigned minlen, unsigned maxlen)
{
	unsigned n = minlen + rnd(maxlen - minlen + 1);
	for (unsigned i = 0; i < n; i++) {
		if (cjk_ok && rnd(4) == 0)
			sbuf_adds(b, cjk[rnd(6)]);
		else
			sbuf_addc(b, letters[rnd((unsigned)strlen(letters))]);
	}
}

struct bf_kw {
	const char *s; /* normalised, without '*' */
	size_t len;
	int prefix, id, count;
};

static int word_b(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static void brute_force(struct bf_kw *k, const char *text, size_t len)
{
	k->count = 0;
	for (size_t i = 0; i + k->len <= len; i++) {
		if (memcmp(text + i, k->s, k->len))
			continue;
		if (word_b((unsigned char)k->s[0]) && i > 0 && word_b((unsigned char)text[i - 1]))
			continue;
		size_t e = i + k->len;
		if (!k->prefix && word_b((unsigned char)k->s[k->len - 1]) && e < len && word_b((unsigned char)text[e])) {
			if (text[e] == 'e' && e + 1 < len && text[e + 1] == 's')
				e += 2;
			else if (text[e] == 's')
				e += 1;
			else
				continue;
			if (e < len && word_b((unsigned char)text[e]))
				continue;
		}
		k->count++;
	}
}

static void test_differential(struct topics *t)
{
	enum { NKW = 20000, TEXTLEN = 20000, NCHECK = 400 };
	struct sbuf b = {0};
	int *ids = xmalloc(NKW * sizeof *ids);
	for (int i = 0; i < NKW; i++) {
		sbuf_reset(&b);
		rand_word(&b, "kqvwxz", 1, 2, 7);
		if (rnd(8) == 0)
			sbuf_addc(&b, '*');
		ids[i] = topics_add_keyword(t, b.s);
	}
	size_t states, dense, classes;
	topics_automaton_stats(t, &states, &dense, &classes);
	T_OK(states > dense, "sparse states exercised: %zu states, %zu dense, %zu classes", states, dense,
	     classes);

	sbuf_reset(&b);
	while (b.len < TEXTLEN) {
		rand_word(&b, "kqvwxzes", 1, 1, 9);
		sbuf_addc(&b, rnd(3) ? ' ' : '.');
	}
	struct topics_result r = {0};
	topics_scan(t, b.s, b.len, TOPICS_F_TITLE, &r);
	T_INT(r.bytes_scanned, b.len);

	size_t nkw = topics_count(t, TOPICS_KEYWORD);
	int *counts = xcalloc(nkw, sizeof *counts);
	for (size_t i = 0; i < r.nhits; i++)
		if (r.hits[i].kind == TOPICS_KEYWORD && r.hits[i].index >= 0 && (size_t)r.hits[i].index < nkw)
			counts[r.hits[i].index] += r.hits[i].count;
	/* Check a sample of keywords plus every keyword that was hit. */
	int bad = 0, checked = 0, nonzero = 0;
	for (int i = 0; i < NKW; i++) {
		int id = ids[i];
		int got = id >= 0 ? counts[id] : -1;
		if (!got && i % (NKW / NCHECK))
			continue;
		const char *norm = topics_keyword(t, id);
		struct bf_kw k = {norm, strlen(norm), 0, id, 0};
		if (k.len && norm[k.len - 1] == '*') {
			k.prefix = 1;
			k.len--;
		}
		brute_force(&k, b.s, b.len);
		checked++;
		nonzero += k.count > 0;
		if (k.count != got && bad++ < 5)
			printf("# keyword %d \"%s\": automaton %d, brute force %d\n", id, norm, got, k.count);
	}
	T_INT(bad, 0);
	T_OK(nonzero > 100, "%d of %d checked keywords occur", nonzero, checked);
	printf("# differential: %zu states (%zu dense, %zu classes), %d keywords checked, %d occur\n",
	       states, dense, classes, checked, nonzero);
	topics_result_free(&r);
	free(counts);
	free(ids);
	sbuf_free(&b);
}

int main(void)
{
	char *err = NULL;
	nz = normaliser_new(&err);
	T_OK(nz != NULL, "normaliser: %s", err ? err : "");
	if (!nz)
		return t_done();
	struct topics *t = topics_load("config/topics.json", nz, &err);
	T_OK(t != NULL, "load config/topics.json: %s", err ? err : "");
	free(err);
	test_lazy_opencc();
	if (t) {
		test_taxonomy_file(t);
		test_resolve_suggest(t);
		test_sample_001(t);
		test_traditional(t);
		test_threshold_and_tags(t);
		test_user_keywords(t);
		test_long_text_walks(t);
		test_small_budget(t);
		test_joined_fields(t);
		test_vector_walk(t);
		test_differential(t);
	}
	test_boundaries();
	test_load_errors();
	topics_free(t);
	topics_free(NULL);
	normaliser_free(nz);
	return t_done();
}
