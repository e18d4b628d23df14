/* t_corpus.h — synthetic stories for benchmarks: sample 001's shape with a
 * growing vocabulary.
 *
 * Ingesting one text a hundred thousand times flatters every cache and
 * index (a search index sees ~1,900 terms in all, not millions). Each
 * story made here keeps the template's fields and lengths but replaces
 * about 6% of its English words with words drawn from a Zipf distribution
 * over 200,000 made-up words, and about 6% of its Chinese characters with
 * characters drawn (Zipf again) from the ideographs of the Simplified
 * samples 000 and 001, so new words and character pairs keep appearing
 * the way they do in a real news stream. Deterministic: story i is always
 * the same text.
 */
#ifndef AINEWS_T_CORPUS_H
#define AINEWS_T_CORPUS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "story.h"
#include "util.h"

#define T_CORPUS_WORDS 200000

struct t_corpus {
	double *word_cdf; /* T_CORPUS_WORDS */
	uint32_t *chars;  /* ideographs of the samples */
	double *char_cdf;
	size_t nchars;
	uint64_t rng;
};

static inline uint64_t t_corpus_rand(struct t_corpus *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static inline double t_corpus_unit(struct t_corpus *c)
{
	return (double)(t_corpus_rand(c) >> 11) / 9007199254740992.0;
}

static inline size_t t_corpus_pick(const double *cdf, size_t n, double u)
{
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline double *t_corpus_zipf(size_t n)
{
	double *cdf = xmalloc(n * sizeof *cdf), sum = 0;
	for (size_t i = 0; i < n; i++)
		cdf[i] = (sum += 1.0 / (double)(i + 1));
	for (size_t i = 0; i < n; i++)
		cdf[i] /= sum;
	return cdf;
}

/* Collect the distinct ideographs of the given texts. */
static inline void t_corpus_init(struct t_corpus *c, const char *const *texts, size_t ntexts)
{
	memset(c, 0, sizeof *c);
	c->rng = 0x9E3779B97F4A7C15ULL;
	c->word_cdf = t_corpus_zipf(T_CORPUS_WORDS);
	size_t cap = 0;
	for (size_t t = 0; t < ntexts; t++) {
		const char *s = texts[t];
		size_t len = strlen(s);
		for (size_t i = 0; i < len;) {
			uint32_t cp;
			int n = utf8_decode(s + i, len - i, &cp);
			if (n < 1)
				n = 1;
			i += (size_t)n;
			if (cp < 0x4E00 || cp > 0x9FFF)
				continue;
			size_t k = 0;
			while (k < c->nchars && c->chars[k] != cp)
				k++;
			if (k < c->nchars)
				continue;
			if (c->nchars == cap) {
				cap = cap ? cap * 2 : 256;
				c->chars = xrealloc(c->chars, cap * sizeof *c->chars);
			}
			c->chars[c->nchars++] = cp;
		}
	}
	c->char_cdf = t_corpus_zipf(c->nchars ? c->nchars : 1);
}

static inline void t_corpus_free(struct t_corpus *c)
{
	free(c->word_cdf);
	free(c->chars);
	free(c->char_cdf);
	memset(c, 0, sizeof *c);
}

/* The made-up word of a Zipf rank into w (at most 12 bytes); its length. */
static inline size_t t_corpus_word(size_t rank, char w[16])
{
	size_t n = 0;
	w[n++] = (char)('a' + rank % 19); /* consonant-ish start keeps it a word */
	for (size_t r = rank / 19 + 1; r && n < 12; r /= 23)
		w[n++] = "aeioulnrstmkdpgbvhcfwyz"[r % 23];
	return n;
}

/* An ideograph cp is replaced 1 time in 16 (one draw for each): the
 * replacement's UTF-8 in enc and its length, or 0 to keep cp. */
static inline size_t t_corpus_swap_char(struct t_corpus *c, uint32_t cp, char enc[4])
{
	if (cp < 0x4E00 || cp > 0x9FFF || !c->nchars || (t_corpus_rand(c) & 15) != 0)
		return 0;
	uint32_t r = c->chars[t_corpus_pick(c->char_cdf, c->nchars, t_corpus_unit(c))];
	return (size_t)utf8_encode(r, enc);
}

/* The reference: the first version, per byte through an sbuf. */
static inline char *t_corpus_vary_ref(struct t_corpus *c, const char *s)
{
	if (!s)
		return NULL;
	struct sbuf b = {0};
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		unsigned char ch = (unsigned char)s[i];
		int word_start = ((ch | 32) >= 'a' && (ch | 32) <= 'z') &&
				 (i == 0 || !(((unsigned char)s[i - 1] | 32) >= 'a' && ((unsigned char)s[i - 1] | 32) <= 'z'));
		if (word_start && (t_corpus_rand(c) & 15) == 0) {
			char w[16];
			size_t n = t_corpus_word(t_corpus_pick(c->word_cdf, T_CORPUS_WORDS, t_corpus_unit(c)), w);
			sbuf_add(&b, w, n);
			while (i < len && (((unsigned char)s[i] | 32) >= 'a' && ((unsigned char)s[i] | 32) <= 'z'))
				i++;
			continue;
		}
		uint32_t cp;
		int n = utf8_decode(s + i, len - i, &cp);
		if (n < 1)
			n = 1;
		char enc[4];
		size_t k = t_corpus_swap_char(c, cp, enc);
		if (k) {
			sbuf_add(&b, enc, k);
		} else {
			sbuf_add(&b, s + i, (size_t)n);
		}
		i += (size_t)n;
	}
	return sbuf_take(&b);
}

/* The first index i of cdf (n entries, increasing, Zipf: cdf[i] ~ H(i+1) / H(n))
 * with cdf[i] >= u, or n - 1: what t_corpus_pick() returns, found from
 * the Zipf curve's inverse and a gallop around it, so that a pick reads one
 * or two cache lines of the 1.6 MB table instead of eighteen probes all
 * over it. */
static inline size_t t_corpus_pick_zipf(const double *cdf, size_t n, double u)
{
	double e = exp(u / cdf[0] - 0.5772156649015329) - 1.0; /* H(m) ~ ln m + gamma */
	size_t lo, hi;
	size_t g = e <= 0 ? 0 : e >= (double)(n - 1) ? n - 1 : (size_t)e;
	if (cdf[g] >= u) { /* the answer is g or below: find lo with cdf[lo] < u */
		size_t step = 1;
		hi = g;
		for (;;) {
			if (hi < step) {
				if (cdf[0] >= u)
					return 0;
				lo = 0;
				break;
			}
			lo = hi - step;
			if (cdf[lo] < u)
				break;
			hi = lo;
			step *= 2;
		}
	} else { /* above g: find hi with cdf[hi] >= u, or the end */
		size_t step = 1;
		lo = g;
		for (;;) {
			if (lo + step >= n - 1) {
				hi = n - 1;
				break;
			}
			hi = lo + step;
			if (cdf[hi] >= u)
				break;
			lo = hi;
			step *= 2;
		}
	}
	/* cdf[lo] < u, and hi is the answer or cdf[hi] >= u */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (cdf[mid] < u)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* A varied copy of s: about 1 in 16 words and ideographs replaced. The
 * same text as t_corpus_vary_ref() (the same draws in the same order),
 * copying unchanged runs whole: the benchmark's stories are made between
 * timed stories, and a maker that costs more than the pipeline it feeds
 * leaves that pipeline's caches colder than `ainews ingest`'s parser
 * (~33 us a story) would. */
static inline char *t_corpus_vary(struct t_corpus *c, const char *s)
{
	if (!s)
		return NULL;
	struct sbuf b = {0};
	size_t len = strlen(s), run = 0;
	sbuf_grow(&b, len + 64);
	int prev_letter = 0;
	for (size_t i = 0; i < len;) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x80) {
			int letter = (ch | 32) >= 'a' && (ch | 32) <= 'z';
			if (letter && !prev_letter && (t_corpus_rand(c) & 15) == 0) {
				char w[16];
				size_t n = t_corpus_word(t_corpus_pick_zipf(c->word_cdf, T_CORPUS_WORDS, t_corpus_unit(c)), w);
				sbuf_add(&b, s + run, i - run);
				sbuf_add(&b, w, n);
				while (i < len && (((unsigned char)s[i] | 32) >= 'a' && ((unsigned char)s[i] | 32) <= 'z'))
					i++;
				run = i;
				prev_letter = 1;
				continue;
			}
			prev_letter = letter;
			i++;
			continue;
		}
		prev_letter = 0;
		uint32_t cp;
		int n = utf8_decode(s + i, len - i, &cp);
		if (n < 1)
			n = 1;
		char enc[4];
		size_t k = t_corpus_swap_char(c, cp, enc);
		if (k) {
			sbuf_add(&b, s + run, i - run);
			sbuf_add(&b, enc, k);
			run = i + (size_t)n;
		}
		i += (size_t)n;
	}
	sbuf_add(&b, s + run, len - run);
	return sbuf_take(&b);
}

static inline void t_corpus_vary_strv(struct t_corpus *c, const struct strv *in, struct strv *out)
{
	strv_free(out);
	for (size_t i = 0; i < in->n; i++) {
		char *v = t_corpus_vary(c, in->v[i]);
		strv_push(out, v);
		free(v);
	}
}

/* Story number i made from tpl into *out (story_init'ed, freed first). */
static inline void t_corpus_story(struct t_corpus *c, const struct story *tpl, int i, struct story *out)
{
	story_free(out);
	story_init(out);
	c->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL);
	out->id = xasprintf("s-%012llx", (unsigned long long)(((uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL) >> 16));
	out->source = xstrdup("bench");
	for (int l = 0; l < STORY_NLANG; l++) {
		out->title[l] = t_corpus_vary(c, tpl->title[l]);
		out->summary[l] = t_corpus_vary(c, tpl->summary[l]);
		out->analysis[l] = t_corpus_vary(c, tpl->analysis[l]);
		t_corpus_vary_strv(c, &tpl->tldr[l], &out->tldr[l]);
		t_corpus_vary_strv(c, &tpl->key_data[l], &out->key_data[l]);
		t_corpus_vary_strv(c, &tpl->insights[l], &out->insights[l]);
		for (size_t k = 0; k < tpl->faq[l].n; k++) {
			char *q = t_corpus_vary(c, tpl->faq[l].v[k].q), *a = t_corpus_vary(c, tpl->faq[l].v[k].a);
			story_faq_push(&out->faq[l], q, a);
			free(q);
			free(a);
		}
	}
	for (size_t k = 0; k < tpl->ntags; k++)
		story_tag_push(out, tpl->tags[k].en, tpl->tags[k].zh);
	for (int k = 0; k < STORY_NSCORES; k++)
		out->scores[k] = tpl->scores[k];
	out->scores[STORY_HOT] = i % 101;
	out->published_at = 1795300000 + i;
	out->updated_at = out->published_at;
}

#endif
