/* bench_rules — builds an index of 1,000,000 subscriptions owned by 100,000
 * users from their text form, then times the decision for 1000 random
 * stories. Prints "rules.<figure> <value>" lines; not a test.
 *
 * Mix: 60% one topic or entity, 20% topic AND score threshold, 10% keyword,
 * 5% high score threshold alone, 5% or/not combinations. Popularity is
 * skewed (index = n * u^2) for subscriptions and stories alike, so popular
 * topics have long posting lists, as in real life.
 *
 *   gcc -std=c11 -O2 -Ibot bot/util.c bot/rules.c tests/bench_rules.c -o /tmp/bench_rules
 *   /tmp/bench_rules [--no-bruteforce]
 */
#define _POSIX_C_SOURCE 200809L
#include "rules.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { NTOPICS = 40, NENTITIES = 400, NWORDS = 20000, NTAGS = 60, NSOURCES = 5 };
enum { NUSERS = 100000, NSUBS = 1000000, NSTORIES = 1000, NBRUTE = 20 };

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static double unit(void)
{
	return rnd() / 65536.0 / 65536.0;
}

/* Skewed pick in [0, n): low indices are the popular ones. */
static int pick(int n)
{
	double u = unit();
	return (int)(n * u * u);
}

/* -- a taxonomy in a hash table: topicNN, entNNN, interned keywords -- */

struct entry {
	char *word;
	int kind; /* RULES_TOPIC, RULES_ENTITY, or 2 = keyword */
	int id;
};

struct tax {
	struct entry *v;
	size_t cap, n;
	int nkw;
};

static size_t tax_slot(const struct tax *t, const char *w)
{
	size_t i = (size_t)hash64(w, strlen(w), 0) & (t->cap - 1);
	while (t->v[i].word && strcmp(t->v[i].word, w))
		i = (i + 1) & (t->cap - 1);
	return i;
}

static struct entry *tax_put(struct tax *t, const char *w, int kind, int id)
{
	size_t i = tax_slot(t, w);
	if (!t->v[i].word) {
		t->v[i].word = xstrdup(w);
		t->v[i].kind = kind;
		t->v[i].id = id;
		t->n++;
	}
	return &t->v[i];
}

static int tax_resolve(void *ud, const char *word, int *kind, const char **id)
{
	struct tax *t = ud;
	struct entry *e = &t->v[tax_slot(t, word)];
	if (!e->word || e->kind > RULES_ENTITY)
		return -1;
	*kind = e->kind;
	*id = e->word;
	return 0;
}

static int tax_keyword(void *ud, const char *text)
{
	struct tax *t = ud;
	struct entry *e = &t->v[tax_slot(t, text)];
	if (e->word)
		return e->kind == 2 ? e->id : -1;
	return tax_put(t, text, 2, t->nkw++)->id;
}

static int tax_known(void *ud, int kind, const char *id)
{
	struct tax *t = ud;
	struct entry *e = &t->v[tax_slot(t, id)];
	return e->word && e->kind == kind ? 0 : -1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double rss_mb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * 4096.0 / 1048576.0;
}

static void sub_text(char *buf, size_t n)
{
	static const char *const score[] = {"hot", "quality", "impact"};
	unsigned k = rnd() % 100;
	int t = pick(NTOPICS), e = pick(NENTITIES), t2 = pick(NTOPICS), e2 = pick(NENTITIES);
	int thr = 50 + 10 * (int)(rnd() % 4);
	if (k < 30)
		snprintf(buf, n, "topic%02d", t);
	else if (k < 60)
		snprintf(buf, n, "ent%03d", e);
	else if (k < 80)
		snprintf(buf, n, rnd() % 2 ? "topic:topic%02d and %s >= %d" : "topic%02d %s>=%d", t,
			 score[rnd() % 3], thr);
	else if (k < 90)
		snprintf(buf, n, rnd() % 2 ? "\"word%05d\"" : "kw:word%05d", pick(NWORDS));
	else if (k < 95)
		snprintf(buf, n, "%s >= %d", score[rnd() % 3], 85 + (int)(rnd() % 15));
	else if (k < 96)
		snprintf(buf, n, "topic%02d or ent%03d", t, e);
	else if (k < 97)
		snprintf(buf, n, "ent%03d and not topic%02d", e, t);
	else if (k < 98)
		snprintf(buf, n, "(topic%02d or topic%02d) and hot >= %d", t, t2, thr);
	else if (k < 99)
		snprintf(buf, n, "ent%03d ent%03d or lang:zh and impact>=%d", e, e2, thr + 20);
	else if (rnd() % 10)
		snprintf(buf, n, "not (ent%03d or topic%02d) and quality >= %d", e, t, thr);
	else /* the rare rule with no guard at all */
		snprintf(buf, n, "not ent%03d", e2);
}

struct story_facts {
	char topics[3][16], entities[4][16], tags[2][16], source[16];
	const char *tp[3], *ep[4], *gp[2];
	int kws[5];
	struct rules_facts f;
};

static void distinct(int *out, int k, int n)
{
	for (int i = 0; i < k; i++) {
		int v, dup;
		do {
			v = pick(n);
			dup = 0;
			for (int j = 0; j < i; j++)
				dup |= out[j] == v;
		} while (dup);
		out[i] = v;
	}
}

static void make_story(struct story_facts *s, struct tax *tax)
{
	int t[3], e[4], w[5];
	memset(s, 0, sizeof *s);
	distinct(t, 3, NTOPICS);
	distinct(e, 4, NENTITIES);
	distinct(w, 5, NWORDS);
	for (int i = 0; i < 3; i++) {
		snprintf(s->topics[i], 16, "topic%02d", t[i]);
		s->tp[i] = s->topics[i];
	}
	for (int i = 0; i < 4; i++) {
		snprintf(s->entities[i], 16, "ent%03d", e[i]);
		s->ep[i] = s->entities[i];
	}
	for (int i = 0; i < 5; i++) {
		char word[16];
		snprintf(word, sizeof word, "word%05d", w[i]);
		s->kws[i] = tax_keyword(tax, word);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(s->tags[i], 16, "tag%02d", pick(NTAGS));
		s->gp[i] = s->tags[i];
	}
	snprintf(s->source, 16, "src%d", (int)(rnd() % NSOURCES));
	for (int i = 0; i < 3; i++)
		s->f.scores[i] = rnd() % 20 ? (int)(rnd() % 101) : -1;
	s->f.topics = s->tp;
	s->f.ntopics = 3;
	s->f.entities = s->ep;
	s->f.nentities = 4;
	s->f.tags = s->gp;
	s->f.ntags = 2;
	s->f.keywords = s->kws;
	s->f.nkeywords = 5;
	unsigned l = rnd() % 10;
	s->f.langs = l < 7 ? 3 : l < 9 ? 1 : 2;
	s->f.source = s->source;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void count(void *ud, uint64_t id)
{
	(void)id;
	(*(size_t *)ud)++;
}

/* For scale: evaluating every rule, the thing the index avoids; and a
 * cross-check that the index finds exactly as many matches. */
static void bruteforce(struct rules_index *ix, const uint64_t *ids, size_t nids, struct tax *tax)
{
	static double bf[NBRUTE];
	const struct rules_expr **all = xmalloc(nids * sizeof *all);
	size_t nall = 0, disagree = 0;
	for (size_t i = 0; i < nids; i++)
		if ((all[nall] = rules_index_get(ix, ids[i])))
			nall++;
	for (int k = 0; k < NBRUTE; k++) {
		struct story_facts s;
		make_story(&s, tax);
		size_t m = 0;
		double a = now();
		for (size_t i = 0; i < nall; i++)
			m += (size_t)rules_eval(all[i], &s.f);
		bf[k] = (now() - a) * 1000;
		disagree += m != rules_index_match(ix, &s.f, NULL, NULL);
	}
	qsort(bf, NBRUTE, sizeof *bf, cmp_double);
	printf("rules.bruteforce_p50_ms %.1f\n", bf[NBRUTE / 2]);
	printf("rules.bruteforce_disagreements %zu\n", disagree);
	free(all);
}

int main(int argc, char **argv)
{
	int brute = !(argc > 1 && !strcmp(argv[1], "--no-bruteforce"));
	struct tax tax = {.cap = 1 << 16};
	tax.v = xcalloc(tax.cap, sizeof *tax.v);
	char word[32];
	for (int i = 0; i < NTOPICS; i++) {
		snprintf(word, sizeof word, "topic%02d", i);
		tax_put(&tax, word, RULES_TOPIC, i);
	}
	for (int i = 0; i < NENTITIES; i++) {
		snprintf(word, sizeof word, "ent%03d", i);
		tax_put(&tax, word, RULES_ENTITY, i);
	}
	struct rules_resolver r = {tax_resolve, tax_keyword, tax_known, &tax};

	double rss0 = rss_mb(), t0 = now();
	struct rules_index *ix = rules_index_new();
	char text[256];
	size_t errors = 0, nids = 0;
	uint64_t *ids = xmalloc(NSUBS * sizeof *ids);
	for (int i = 0; i < NSUBS; i++) {
		struct rules_error err;
		sub_text(text, sizeof text);
		struct rules_expr *e = rules_parse(text, &r, &err);
		if (!e) {
			if (errors++ < 3)
				fprintf(stderr, "bench: \"%s\": column %d: %s\n", text, err.column, err.msg);
			continue;
		}
		uint64_t user = rnd() % NUSERS;
		ids[nids] = (user << 32) | (uint64_t)i;
		rules_index_add(ix, ids[nids++], e);
	}
	double build = now() - t0, rss1 = rss_mb();

	struct rules_index_stats st;
	rules_index_stats(ix, &st);
	printf("rules.subscriptions %zu\n", rules_index_count(ix));
	printf("rules.parse_errors %zu\n", errors);
	printf("rules.build_s %.2f\n", build);
	printf("rules.memory_mb %.1f\n", rules_index_memory(ix) / 1048576.0);
	printf("rules.rss_growth_mb %.1f\n", rss1 - rss0);
	printf("rules.always_evaluated %zu\n", st.always);
	printf("rules.direct %zu\n", st.direct);
	printf("rules.postings %zu\n", st.postings);

	static double ms[NSTORIES];
	double matches = 0, cand = 0, evald = 0, total = 0;
	for (int k = 0; k < NSTORIES; k++) {
		struct story_facts s;
		make_story(&s, &tax);
		size_t n = 0;
		double a = now();
		size_t m = rules_index_match(ix, &s.f, count, &n);
		ms[k] = (now() - a) * 1000;
		total += ms[k];
		rules_index_stats(ix, &st);
		if (m != n)
			fprintf(stderr, "bench: match count %zu != callbacks %zu\n", m, n);
		matches += (double)m;
		cand += (double)st.last_candidates;
		evald += (double)st.last_evaluated;
	}
	qsort(ms, NSTORIES, sizeof *ms, cmp_double);
	printf("rules.decide_mean_ms %.3f\n", total / NSTORIES);
	printf("rules.decide_p50_ms %.3f\n", ms[NSTORIES / 2]);
	printf("rules.decide_p99_ms %.3f\n", ms[NSTORIES * 99 / 100]);
	printf("rules.decide_max_ms %.3f\n", ms[NSTORIES - 1]);
	printf("rules.matches_mean %.0f\n", matches / NSTORIES);
	printf("rules.candidates_mean %.0f\n", cand / NSTORIES);
	printf("rules.evaluated_mean %.0f\n", evald / NSTORIES);

	if (brute)
		bruteforce(ix, ids, nids, &tax);
	free(ids);
	rules_index_free(ix);
	for (size_t i = 0; i < tax.cap; i++)
		free(tax.v[i].word);
	free(tax.v);
	return 0;
}
