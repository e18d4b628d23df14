/* test_corpus — the benchmark's story maker (t_corpus.h) makes the same
 * stories as its reference, the first, slower version: the ingest figures
 * of every stop are measured on the same text.
 */
#include "t.h"
#include "t_corpus.h"

#include "parse.h"

/* The Zipf pick from the curve's inverse against the plain binary search,
 * at u drawn at random, at each probed table entry and its neighbours in
 * double precision (where an estimate's rounding would show), and at the
 * ends. */
static void test_pick(struct t_corpus *c)
{
	const double *cdf = c->word_cdf;
	size_t n = T_CORPUS_WORDS, bad = 0, checked = 0;
	for (int i = 0; i < 200000; i++) {
		double u = t_corpus_unit(c);
		bad += t_corpus_pick(cdf, n, u) != t_corpus_pick_zipf(cdf, n, u);
		checked++;
	}
	for (size_t i = 0; i < n; i += i < 4096 ? 1 : 97) {
		double at[3] = {cdf[i], nextafter(cdf[i], 0), nextafter(cdf[i], 2)};
		for (int k = 0; k < 3; k++) {
			bad += t_corpus_pick(cdf, n, at[k]) != t_corpus_pick_zipf(cdf, n, at[k]);
			checked++;
		}
	}
	double ends[] = {0, 1e-300, 0.5, nextafter(1, 0), 1, 2};
	for (size_t k = 0; k < sizeof ends / sizeof *ends; k++) {
		bad += t_corpus_pick(cdf, n, ends[k]) != t_corpus_pick_zipf(cdf, n, ends[k]);
		checked++;
	}
	T_OK(bad == 0, "%zu of %zu picks differ", bad, checked);
	T_INT(t_corpus_pick_zipf(cdf, n, 0), 0);
	T_INT(t_corpus_pick_zipf(cdf, n, 2), n - 1);
	T_INT(t_corpus_pick_zipf(cdf, n, cdf[1000]), 1000);
	T_INT(t_corpus_pick_zipf(cdf, n, nextafter(cdf[1000], 2)), 1001);
}

/* Every text field of many made stories, both ways from the same random
 * state: the same text, and the same state after. */
static void test_vary(struct t_corpus *c, const struct story *tpl)
{
	size_t bad = 0, fields = 0, changed = 0;
	for (int i = 0; i < 300; i++) {
		const char *f[] = {tpl->title[0], tpl->title[1], tpl->summary[0], tpl->summary[1],
				   tpl->analysis[0], tpl->analysis[1], tpl->tldr[0].n ? tpl->tldr[0].v[0] : NULL,
				   tpl->tldr[1].n ? tpl->tldr[1].v[0] : NULL, "", "a", "a b", "中", "é word"};
		for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
			if (!f[k])
				continue;
			uint64_t seed = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL) ^ k;
			c->rng = seed;
			char *want = t_corpus_vary_ref(c, f[k]);
			uint64_t want_rng = c->rng;
			c->rng = seed;
			char *got = t_corpus_vary(c, f[k]);
			bad += strcmp(want, got) != 0 || c->rng != want_rng;
			changed += (k == 4 || k == 5) && strcmp(got, f[k]) != 0;
			fields++;
			free(want);
			free(got);
		}
	}
	T_OK(bad == 0, "%zu of %zu fields differ from the reference", bad, fields);
	/* the maker does vary them: the analyses (hundreds of words) always */
	T_INT(changed, 2 * 300);
	T_OK(t_corpus_vary(c, NULL) == NULL, "NULL in, NULL out");
}

int main(void)
{
	char *text = NULL, *text0 = NULL, *err = NULL;
	size_t len = 0, len0 = 0;
	T_OK(file_read(t_sample("001"), 1 << 20, &text, &len) == 0, "sample 001");
	T_OK(file_read(t_sample("000"), 1 << 20, &text0, &len0) == 0, "sample 000");
	if (!text || !text0)
		return t_done();
	struct story tpl;
	story_init(&tpl);
	T_OK(parse_page(text, len, 1795300000, &tpl, &err) == 0, "parse: %s", err ? err : "");
	const char *texts[] = {text, text0};
	struct t_corpus c;
	t_corpus_init(&c, texts, 2);
	T_OK(c.nchars > 500, "%zu ideographs", c.nchars);
	test_pick(&c);
	test_vary(&c, &tpl);
	t_corpus_free(&c);
	story_free(&tpl);
	free(err);
	free(text);
	free(text0);
	return t_done();
}
