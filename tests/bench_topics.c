/* bench_topics — throughput of normalisation, matching and classification on
 * text shaped like sample 001, and the cost of 100,000 user keywords.
 *
 * Not a test: prints one figure per line ("topics.match_mb_s 312.4"). Run
 * from the repository root, built with optimisation and without sanitizers.
 * Optional argument: megabytes of text to match (default 50).
 */
#define _POSIX_C_SOURCE 200809L
#include "normalise.h"
#include "t.h"
#include "topics.h"
#include "util.h"

#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void figure(const char *name, double v)
{
	printf("topics.%s %.1f\n", name, v);
	fflush(stdout);
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* A plausible user keyword: Latin words from syllables, or 2-4 common CJK
 * characters, sometimes a prefix. */
static void user_keyword(struct sbuf *b)
{
	static const char *const syl[] = {"ka", "ro", "mi", "te", "lu", "an", "ex", "qu", "vor", "sta",
					  "net", "gen", "tron", "li", "da", "ze", "po", "ai", "ix", "ber"};
	sbuf_reset(b);
	if (rnd(10) < 6) {
		unsigned words = 1 + rnd(3);
		for (unsigned w = 0; w < words; w++) {
			if (w)
				sbuf_addc(b, ' ');
			unsigned n = 2 + rnd(3);
			for (unsigned i = 0; i < n; i++)
				sbuf_adds(b, syl[rnd(20)]);
		}
		if (rnd(10) == 0)
			sbuf_addc(b, '*');
	} else {
		unsigned n = 2 + rnd(3);
		for (unsigned i = 0; i < n; i++) {
			char u[4];
			sbuf_add(b, u, (size_t)utf8_encode(0x4E00 + rnd(0x9FA5 - 0x4E00), u));
		}
	}
}

static long max_rss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
	double target_mb = argc > 1 ? atof(argv[1]) : 50;
	char *err = NULL;
	struct normaliser *nz = normaliser_new(&err);
	if (!nz) {
		fprintf(stderr, "bench_topics: %s\n", err);
		return 1;
	}
	double t0 = now();
	struct topics *t = topics_load("config/topics.json", nz, &err);
	if (!t) {
		fprintf(stderr, "bench_topics: %s\n", err);
		return 1;
	}
	size_t states, dense, classes;
	topics_automaton_stats(t, &states, &dense, &classes); /* builds the automaton */
	figure("load_ms", (now() - t0) * 1e3);
	figure("states", (double)states);
	figure("dense_states", (double)dense);
	figure("classes", (double)classes);
	figure("memory_bytes", (double)topics_memory(t));

	char *text = NULL;
	size_t len = 0;
	if (file_read(t_sample("001"), 1 << 20, &text, &len) < 0) {
		fprintf(stderr, "bench_topics: cannot read sample 001 (run from the repository root)\n");
		return 1;
	}

	/* Normalisation: the bilingual sample, and the same without OpenCC. */
	int reps = 100;
	t0 = now();
	size_t nlen = 0;
	for (int i = 0; i < reps; i++)
		free(normalise_text(nz, text, len, &nlen));
	figure("normalise_mb_s", (double)len * reps / 1e6 / (now() - t0));
	reps = 2000;
	t0 = now();
	for (int i = 0; i < reps; i++)
		free(normalise_text(NULL, text, len, NULL));
	figure("normalise_fold_only_mb_s", (double)len * reps / 1e6 / (now() - t0));

	/* Matching: ~target_mb of normalised text, copies of the sample joined
	 * by spaces (which is what normalising the concatenation gives). */
	char *norm = normalise_text(nz, text, len, &nlen);
	size_t copies = (size_t)(target_mb * 1e6 / (double)(nlen + 1)) + 1;
	struct sbuf big = {0};
	for (size_t i = 0; i < copies; i++) {
		sbuf_add(&big, norm, nlen);
		sbuf_addc(&big, ' ');
	}
	struct topics_result r = {0};
	t0 = now();
	topics_scan(t, big.s, big.len, TOPICS_F_ANALYSIS, &r);
	double dt = now() - t0;
	figure("match_mb", (double)big.len / 1e6);
	figure("match_mb_s", (double)big.len / 1e6 / dt);
	long matches = 0;
	for (size_t i = 0; i < r.nhits; i++)
		matches += r.hits[i].count;
	figure("matches_per_kb", (double)matches / ((double)big.len / 1e3));
	topics_result_free(&r);

	/* Whole classification of the story (normalisation included), MB of
	 * raw story text per second. */
	struct story s;
	story_init(&s);
	const char *title = strstr(text, "\n\n") ? strstr(text, "\n\n") + 2 : text;
	const char *eol = strchr(title, '\n');
	s.title[STORY_EN] = xstrndup(title, (size_t)(eol - title));
	s.analysis[STORY_EN] = xstrdup(eol);
	reps = 100;
	t0 = now();
	for (int i = 0; i < reps; i++) {
		topics_classify(t, &s, &r);
		topics_result_free(&r);
	}
	figure("classify_mb_s", (double)len * reps / 1e6 / (now() - t0));
	figure("classify_stories_s", reps / (now() - t0));

	/* 100,000 user keywords: interning (normalisation included), the
	 * automaton rebuild, memory, and matching with them in. */
	long rss0 = max_rss_kb();
	struct sbuf kw = {0};
	t0 = now();
	for (int i = 0; i < 100000; i++) {
		user_keyword(&kw);
		topics_add_keyword(t, kw.s);
	}
	figure("kw100k_add_s", now() - t0);
	figure("kw100k_distinct", (double)topics_count(t, TOPICS_KEYWORD));
	t0 = now();
	topics_automaton_stats(t, &states, &dense, &classes);
	figure("kw100k_build_s", now() - t0);
	figure("kw100k_states", (double)states);
	figure("kw100k_dense_states", (double)dense);
	figure("kw100k_classes", (double)classes);
	figure("kw100k_memory_bytes", (double)topics_memory(t));
	t0 = now();
	topics_scan(t, big.s, big.len, TOPICS_F_ANALYSIS, &r);
	figure("kw100k_match_mb_s", (double)big.len / 1e6 / (now() - t0));
	topics_result_free(&r);
	figure("max_rss_kb_before_keywords", (double)rss0);
	figure("max_rss_kb", (double)max_rss_kb());

	sbuf_free(&kw);
	story_free(&s);
	sbuf_free(&big);
	free(norm);
	free(text);
	topics_free(t);
	normaliser_free(nz);
	return 0;
}
