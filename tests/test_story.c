/* test_story — the story JSON shape, input errors with JSON paths, ids, revisions. */
#include <stdlib.h>

#include <cJSON.h>

#include "story.h"
#include "t.h"

struct got {
	struct story s[8];
	char err[8][256];
	int n, nerr;
};

static void cb(void *ud, struct story *s, const char *where, const char *err)
{
	struct got *g = ud;
	if (s && g->n < 8) {
		g->s[g->n++] = *s;
		story_init(s);
	} else if (!s && g->nerr < 8) {
		snprintf(g->err[g->nerr++], 256, "%s: %s", where, err);
	}
}

static void got_free(struct got *g)
{
	for (int i = 0; i < g->n; i++)
		story_free(&g->s[i]);
	memset(g, 0, sizeof *g);
}

static const char full[] =
	"{\"id\": \"s-x1\", \"source\": \"aihot\", \"url\": \"https://example.org/n/1\", \"url_zh\": null,"
	" \"title\": {\"en\": \"Meta signs\", \"zh\": \"Meta签署\"}, \"summary\": {\"en\": \"Sum\"},"
	" \"scores\": {\"hot\": 70, \"quality\": null, \"impact\": 50},"
	" \"tldr\": {\"en\": [\"a\", \"b\"], \"zh\": [\"甲\"]}, \"key_data\": {\"en\": [\"Meta | x | y\"]},"
	" \"analysis\": {\"en\": \"p1\\n\\np2\", \"zh\": \"段\"}, \"insights\": {\"zh\": [\"启示\"]},"
	" \"faq\": {\"en\": [{\"q\": \"Why?\", \"a\": \"Because.\"}]},"
	" \"tags\": [{\"en\": \"LLM\", \"zh\": \"大模型\"}, \"Security\"], \"topics\": [\"compute\"],"
	" \"entities\": [], \"published_at\": \"2026-11-22T08:18:00Z\", \"updated_at\": null,"
	" \"revision\": 7, \"analysis_url\": \"ignored\", \"unknown_key\": {\"ignored\": true}}";

static void test_roundtrip(void)
{
	struct got g = {0};
	char *err = NULL;
	T_INT(story_from_json_text(full, strlen(full), cb, &g, &err), 0);
	T_INT(g.n, 1);
	struct story *s = &g.s[0];
	T_STR(s->id, "s-x1");
	T_STR(s->title[STORY_ZH], "Meta签署");
	T_INT(s->scores[STORY_HOT], 70);
	T_INT(s->scores[STORY_QUALITY], STORY_SCORE_NONE);
	T_INT(s->tldr[STORY_EN].n, 2);
	T_STR(s->faq[STORY_EN].v[0].a, "Because.");
	T_INT(s->ntags, 2);
	T_STR(s->tags[1].en, "Security");
	T_OK(s->tags[1].zh == NULL, "single tag has no zh");
	T_INT(s->published_at, 1795335480);
	T_INT(s->revision, 0); /* the store decides revisions, not the input */
	/* Out and back in: the same story. */
	s->revision = 3;
	char *j = story_to_json(s, "http://127.0.0.1:8080/", 0);
	T_OK(strstr(j, "\"analysis_url\":\"http://127.0.0.1:8080/s/s-x1\"") != NULL, "analysis_url: %s", j);
	T_OK(strstr(j, "\"lang\":[\"en\",\"zh\"]") != NULL, "lang derived");
	T_OK(strstr(j, "\"quality\":null") != NULL, "null score kept null");
	T_OK(strstr(j, "\"published_at\":\"2026-11-22T08:18:00Z\"") != NULL, "time");
	struct got g2 = {0};
	T_INT(story_from_json_text(j, strlen(j), cb, &g2, &err), 0);
	T_OK(story_fingerprint(&g2.s[0]) == story_fingerprint(s), "round trip keeps the fingerprint");
	char *j2 = story_to_json(&g2.s[0], "http://127.0.0.1:8080", 0);
	g2.s[0].revision = 3;
	free(j2);
	j2 = story_to_json(&g2.s[0], "http://127.0.0.1:8080", 0);
	T_STR(j2, j);
	free(j);
	free(j2);
	/* The compact writer prints what cJSON prints for the same story,
	 * control characters, quotes and backslashes included. */
	free(s->summary[STORY_EN]);
	s->summary[STORY_EN] = xstrdup("tab\t nl\n cr\r bs\\ q\" bell\a esc\x1b / \x7f 中文 \xe2\x80\xae");
	story_faq_push(&s->faq[STORY_ZH], "问\"题", NULL);
	j = story_to_json(s, NULL, 0);
	char *pretty = story_to_json(s, NULL, 1);
	cJSON *tree = cJSON_Parse(pretty);
	char *ref = tree ? cJSON_PrintUnformatted(tree) : NULL;
	T_STR(j, ref ? ref : "(cJSON failed)");
	cJSON_free(ref);
	cJSON_Delete(tree);
	free(pretty);
	free(j);
	/* Every escape at every place around the 16- and 8-byte blocks the
	 * writer scans by, in strings of every length up to three blocks. */
	static const char specials[] = {'"', '\\', '\n', '\t', 0x01, 0x1F, ' ', 0x7F, (char)0xE4};
	int mismatches = 0, checked = 0;
	for (int len = 0; len <= 48 && !mismatches; len++)
		for (int at = 0; at < len; at++)
			for (size_t k = 0; k < sizeof specials; k++) {
				char text[64];
				memset(text, 'a' + (at % 26), (size_t)len);
				text[at] = specials[k];
				if (at + 1 < len)
					text[len - 1] = '"'; /* a second escape after the first */
				text[len] = 0;
				free(s->summary[STORY_EN]);
				s->summary[STORY_EN] = xstrdup(text);
				j = story_to_json(s, NULL, 0);
				tree = cJSON_Parse(j);
				ref = tree ? cJSON_PrintUnformatted(tree) : NULL;
				if (!ref || strcmp(j, ref))
					mismatches++;
				checked++;
				cJSON_free(ref);
				cJSON_Delete(tree);
				free(j);
			}
	T_OK(mismatches == 0 && checked == 9 * 48 * 49 / 2, "%d of %d strings differ from cJSON", mismatches, checked);
	got_free(&g2);
	got_free(&g);
}

static void expect(const char *json, int rejected, const char *err_part)
{
	struct got g = {0};
	char *err = NULL;
	int rc = story_from_json_text(json, strlen(json), cb, &g, &err);
	T_INT(rc, rejected);
	if (rc < 0)
		T_OK(err && strstr(err, err_part), "error '%s' has '%s'", err ? err : "", err_part);
	else if (err_part)
		T_OK(g.nerr > 0 && strstr(g.err[0], err_part), "error '%s' has '%s'", g.nerr ? g.err[0] : "", err_part);
	free(err);
	got_free(&g);
}

static void test_errors(void)
{
	expect("{\"title\": {\"en\": \"x\"}, \"scores\": {\"hot\": \"high\"}}", 1, "$.scores.hot: expected an integer");
	expect("{\"title\": {\"en\": \"x\"}, \"scores\": {\"hot\": 101}}", 1, "$.scores.hot");
	expect("{\"title\": {\"en\": \"x\"}, \"scores\": {\"hot\": 7.5}}", 1, "$.scores.hot");
	expect("{\"title\": {\"en\": 5}}", 1, "$.title.en: expected a string");
	expect("{\"title\": {\"en\": \"x\"}, \"tldr\": {\"en\": [\"a\", 3]}}", 1, "$.tldr.en[1]: expected a string");
	expect("{\"title\": {\"en\": \"x\"}, \"faq\": {\"zh\": [{\"q\": 1}]}}", 1, "$.faq.zh[0]");
	expect("{\"title\": {\"en\": \"x\"}, \"tags\": [{\"en\": 1}]}", 1, "$.tags[0]");
	expect("{\"title\": {\"en\": \"x\"}, \"published_at\": \"yesterday\"}", 1, "$.published_at");
	expect("{\"title\": {\"en\": \"x\"}, \"id\": \"a/b\"}", 1, "$.id");
	expect("{\"summary\": {\"en\": \"no title\"}}", 1, "$.title: a story needs a title");
	expect("[1, {\"title\": \"ok\"}]", 1, "[0]: $: expected a story object");
	expect("[{\"title\": \"ok\"}, {\"title\": \"ok2\"}]", 0, NULL);
	/* JSON Lines: a bad line is reported with its number, the rest kept. */
	struct got g = {0};
	char *err = NULL;
	const char *jl = "{\"title\": \"one\"}\n{\"title\": 5}\n\n{bad json\n{\"title\": \"四\"}\n";
	T_INT(story_from_json_text(jl, strlen(jl), cb, &g, &err), 2);
	T_INT(g.n, 2);
	T_STR(g.err[0], "line 2: $.title: expected an object {\"en\", \"zh\"}, a string or null");
	T_STR(g.err[1], "line 4: malformed JSON");
	T_STR(g.s[1].title[STORY_ZH], "四"); /* a bare string goes by its script */
	got_free(&g);
	expect("[{\"title\": \"x\"}, ", -1, "malformed JSON");
	expect("hello", -1, "not JSON");
}

static void test_ids_and_diff(void)
{
	struct story a, b;
	story_init(&a);
	story_init(&b);
	a.title[STORY_EN] = xstrdup("Meta Signs AI Deal");
	b.title[STORY_EN] = xstrdup("  meta signs ai deal!");
	story_assign_id(&a);
	story_assign_id(&b);
	T_STR(a.id, b.id); /* normalised title gives a stable id */
	T_OK(strlen(a.id) == 14 && !strncmp(a.id, "s-", 2), "id shape %s", a.id);
	struct story c;
	story_init(&c);
	c.url = xstrdup("https://example.org/1");
	c.title[STORY_EN] = xstrdup("Other");
	story_assign_id(&c);
	T_OK(strcmp(c.id, a.id) != 0, "url id differs");
	char *keep = xstrdup(c.id);
	free(c.title[STORY_EN]);
	c.title[STORY_EN] = xstrdup("Retitled");
	free(c.id);
	c.id = NULL;
	story_assign_id(&c);
	T_STR(c.id, keep); /* url wins over title */
	free(keep);

	struct sbuf d = {0};
	free(b.title[STORY_EN]);
	b.title[STORY_EN] = xstrdup("Meta Signs AI Deal");
	story_diff(&a, &b, &d);
	T_STR(d.s ? d.s : "", "");
	T_OK(story_fingerprint(&a) == story_fingerprint(&b), "same content, same fingerprint");
	b.scores[STORY_IMPACT] = 80;
	strv_push(&b.tldr[STORY_ZH], "新要点");
	story_diff(&a, &b, &d);
	T_STR(d.s, "scores,tldr");
	T_OK(story_fingerprint(&a) != story_fingerprint(&b), "changed");
	sbuf_free(&d);
	story_free(&a);
	story_free(&b);
	story_free(&c);
}

int main(void)
{
	test_roundtrip();
	test_errors();
	test_ids_and_diff();
	return t_done();
}
