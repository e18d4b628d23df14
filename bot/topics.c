/* topics — taxonomy loading, keyword interning, the Aho-Corasick automaton
 * and story classification (see topics.h).
 *
 * Data layout: every distinct matchable string is one `struct pat` (its
 * normalised bytes plus whether it needs a word boundary at the end). A pat
 * has a chain of owners — the topics, entities and user keywords it stands
 * for, each with the spelling it was written in — so "英伟达" written for the
 * entity nvidia and subscribed to by a user is matched once and credited
 * twice. The automaton knows only pats.
 */
#define _GNU_SOURCE
#include "topics.h"

#include "util.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const topics_field_name[TOPICS_NFIELDS] = {"title",    "summary",  "tldr",
						       "key_data", "analysis", "tags"};

static const int default_weights[TOPICS_NFIELDS] = {4, 3, 3, 2, 1, 3};
#define DEFAULT_THRESHOLD 3

/* Dense rows cost nclass * 4 bytes each; beyond this budget the deeper states
 * go sparse. 8 MiB keeps a whole taxonomy dense (and then compact, 16-bit)
 * and the hot rows in cache; topics_set_dense_budget() trades speed for
 * memory in a daemon that scans a story now and then. */
#define TOPICS_DENSE_BUDGET (8u << 20)

enum {
	PAT_START_WORD = 1, /* first byte is [a-z0-9]: needs a boundary before */
	PAT_END_WORD = 2,   /* last byte is [a-z0-9] and not a prefix: boundary after */
};

struct owner {
	int kind, index;
	const char *written; /* borrowed from t->strings */
	int next;            /* next owner of the same pat, or -1 */
	/* a longer pat of the same (kind, index) holds this one's bytes, so a
	 * match may lie inside one of its matches (contained()); set by
	 * ac_build() */
	int in_longer;
};

struct pat {
	char *s; /* normalised, without the '*'; owned */
	uint32_t len;
	uint8_t flags;
	int owner; /* first owner, -1 when none */
	int kw;    /* user keyword id, -1 when none */
};

struct entry {
	struct topics_entry pub; /* strings owned by t->strings */
	char *norm_id, *norm_en, *norm_zh;
	int *pats;
	size_t npats;
};

struct match {
	uint32_t pat;
	size_t end; /* offset just past the match */
};

struct ac_event {
	uint32_t state; /* the state's number */
	size_t end;
};

/* Walks a scan interleaves: eight scalar ones, or 32 vector ones (two
 * AVX-512 registers of sixteen) where the CPU has AVX-512 VBMI. */
#if defined(__x86_64__) && defined(__GNUC__)
#define AC_VECTOR 1
#include <immintrin.h>
#endif
#define AC_VLANES 32
#define AC_WALKS AC_VLANES /* the most walks of any scan */

struct keyword {
	char *norm; /* normalised, '*' kept for prefixes; owned */
	int pat;
	int prefix; /* written with a '*' */
};

/* Open-addressing map from (bytes, flag) to an int. Keys are borrowed from
 * whoever owns the strings (pats, entries, tag map). */
struct smap_slot {
	const char *k;
	uint32_t len;
	uint8_t flag;
	int val;
};

struct smap {
	struct smap_slot *slots;
	size_t cap, n;
};

struct tag {
	char *norm;
	const char *written;
	int topic;
};

/* The compiled automaton. States are numbered breadth-first, so the dense
 * states are the shallow ones and a failure link always points to a smaller
 * number. Transitions hold a state's position rather than its number — its
 * row offset (number x nclass) when dense, dense_limit + (number - ndense)
 * when sparse — shifted left once with the low bit saying whether the
 * target reports matches. The scan loop then needs no multiply and no
 * second load per byte. */
struct ac {
	uint8_t cls[256]; /* byte -> class; 0 for bytes in no pattern */
	uint32_t nclass, nstates, ndense;
	uint32_t dense_limit; /* ndense * nclass */
	uint32_t *dense;      /* ndense rows of nclass encoded transitions */
	uint32_t *fail;       /* nstates */
	uint32_t *dict;       /* nearest state with own outputs on the fail chain, 0 none */
	uint32_t *edge_start; /* nstates + 1 */
	uint16_t *edge_cls;   /* sorted per state */
	uint32_t *edge_to;    /* encoded */
	uint32_t *out_start;  /* nstates + 1 */
	uint32_t *out_pat;
	/* The compact form, when every state is dense, there are fewer than
	 * 32768 of them and at most 128 classes (any taxonomy; not a hundred
	 * thousand user keywords): rows of 128 16-bit transitions holding the
	 * target state's number shifted once, low bit = reports. Half the
	 * size of the general table, so a scan stays in L2; the general table
	 * is then freed. */
	uint16_t *d16;
};

/* A keyword whose forced-Simplified form is not interned yet (see
 * topics_force). */
struct deferred {
	int kind, index;     /* owner: topic, entity or user keyword */
	const char *written; /* borrowed from t->strings */
};

struct topics {
	struct normaliser *norm; /* borrowed */
	/* Forced forms (晶片 -> 芯片) only matter for text OpenCC converted, so
	 * they are interned when OpenCC first loads, not at start-up (which
	 * would load OpenCC into every process): until then they wait here. */
	int forced;
	size_t dense_budget; /* 0: TOPICS_DENSE_BUDGET */
	struct deferred *defer;
	size_t ndefer, capdefer;
	struct entry *entries[2];
	size_t nentries[2];
	struct strv strings; /* every written string handed out */
	struct pat *pats;
	size_t npats, pats_cap;
	struct owner *owners;
	size_t nowners, owners_cap;
	struct keyword *kws;
	size_t nkws, kws_cap;
	struct smap patmap;  /* (normalised bytes, END_WORD) -> pat */
	struct smap namemap; /* normalised id/name -> kind << 24 | index */
	struct tag *tags;
	size_t ntags;
	int weights[TOPICS_NFIELDS];
	int threshold;
	int relative; /* percent of the story's best score a topic/entity needs */
	struct ac ac;
	int stale;
	/* Scan scratch: matches not yet credited (by end offset), and per
	 * owner the count credited so far plus the list of owners touched. */
	struct match *scratch;
	size_t nscratch, scratch_cap;
	/* Reporting states met by the interleaved walks (up to AC_WALKS), per walk. */
	struct ac_event *ev[AC_WALKS];
	size_t nev[AC_WALKS], capev[AC_WALKS];
	uint32_t *evw; /* the vector walk's packed events (scan_walk_simd) */
	size_t capevw;
	int simd; /* the vector walk: 1 on, 0 off (no CPU support, or AINEWS_SIMD=0) */
	size_t vector_scans; /* scans it did (for tests) */
	uint32_t *owner_count, *touched;
	size_t ntouched, count_cap;
	uint32_t maxlen; /* longest pat in the automaton */
	struct sbuf raw; /* a story's field text, kept between stories */
	struct sbuf joined; /* its normalised fields, joined for one scan */
};

/* ---- small helpers ---- */

static const uint8_t word_byte[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
	['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
	['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,
	['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1,
	['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,
	['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
	['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

#define GROW(arr, n, cap)                                                        \
	do {                                                                     \
		if ((n) == (cap)) {                                              \
			(cap) = (cap) ? (cap) * 2 : 16;                          \
			(arr) = xrealloc((arr), (cap) * sizeof *(arr));          \
		}                                                                \
	} while (0)

/* Keep a copy of s for as long as t lives; return the copy. */
static const char *keep(struct topics *t, const char *s)
{
	strv_push(&t->strings, s);
	return t->strings.v[t->strings.n - 1];
}

/* Only text with characters beyond ASCII can change under OpenCC. */
static void defer_push(struct topics *t, int kind, int index, const char *written)
{
	const unsigned char *p = (const unsigned char *)written;
	while (*p && *p < 0x80)
		p++;
	if (!*p)
		return;
	if (t->ndefer == t->capdefer) {
		t->capdefer = t->capdefer ? t->capdefer * 2 : 256;
		t->defer = xrealloc(t->defer, t->capdefer * sizeof *t->defer);
	}
	t->defer[t->ndefer++] = (struct deferred){kind, index, written};
}

static void keyword_follow(struct topics *t, int id);
static void topics_force(struct topics *t);

/* ---- string map ---- */

static uint64_t smap_hash(const char *k, size_t len, uint8_t flag)
{
	return hash64(k, len, 0x9E3779B97F4A7C15ULL + flag);
}

static struct smap_slot *smap_slot(const struct smap *m, const char *k, size_t len, uint8_t flag)
{
	if (!m->cap)
		return NULL;
	size_t i = (size_t)smap_hash(k, len, flag) & (m->cap - 1);
	for (;;) {
		struct smap_slot *sl = &m->slots[i];
		if (!sl->k || (sl->len == len && sl->flag == flag && !memcmp(sl->k, k, len)))
			return sl;
		i = (i + 1) & (m->cap - 1);
	}
}

static int smap_get(const struct smap *m, const char *k, size_t len, uint8_t flag)
{
	struct smap_slot *sl = smap_slot(m, k, len, flag);
	return sl && sl->k ? sl->val : -1;
}

/* Insert unless present; returns the value now stored under the key. */
static int smap_put(struct smap *m, const char *k, size_t len, uint8_t flag, int val)
{
	if ((m->n + 1) * 4 >= m->cap * 3) {
		struct smap old = *m;
		m->cap = old.cap ? old.cap * 2 : 64;
		m->slots = xcalloc(m->cap, sizeof *m->slots);
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++) {
			struct smap_slot *o = &old.slots[i];
			if (o->k)
				*smap_slot(m, o->k, o->len, o->flag) = *o, m->n++;
		}
		free(old.slots);
	}
	struct smap_slot *sl = smap_slot(m, k, len, flag);
	if (sl->k)
		return sl->val;
	sl->k = k;
	sl->len = (uint32_t)len;
	sl->flag = flag;
	sl->val = val;
	m->n++;
	return val;
}

/* ---- patterns and owners ---- */

/* Normalise a keyword as written; a trailing '*' (also full-width) makes a
 * prefix. Returns the owned normalised bytes without the '*', or NULL when
 * nothing is left. */
static char *keyword_norm_mode(struct normaliser *n, const char *written, int *prefix, int mode)
{
	size_t len;
	char *s = normalise_text_mode(n, written, strlen(written), &len, mode);
	*prefix = 0;
	while (len > 0 && (s[len - 1] == '*' || s[len - 1] == ' ')) {
		if (s[len - 1] == '*')
			*prefix = 1;
		s[--len] = 0;
	}
	if (!len) {
		free(s);
		return NULL;
	}
	return s;
}

static char *keyword_norm(struct normaliser *n, const char *written, int *prefix)
{
	return keyword_norm_mode(n, written, prefix, NORMALISE_AUTO);
}

/* The keyword's forced-Simplified form when it differs from its AUTO form
 * (晶片 -> 芯片, 核心 -> 内核), else NULL: story text is converted only when
 * it is Traditional, so a keyword must be findable both ways. */
static char *keyword_norm_alt(struct normaliser *n, const char *written, const char *auto_form)
{
	int prefix;
	char *f = keyword_norm_mode(n, written, &prefix, NORMALISE_FORCE);
	if (f && !strcmp(f, auto_form)) {
		free(f);
		return NULL;
	}
	return f;
}

static uint8_t pat_flags(const char *s, size_t len, int prefix)
{
	uint8_t f = 0;
	if (word_byte[(unsigned char)s[0]])
		f |= PAT_START_WORD;
	if (!prefix && word_byte[(unsigned char)s[len - 1]])
		f |= PAT_END_WORD;
	return f;
}

/* Find or create the pat for normalised bytes s (taken). */
static int pat_intern(struct topics *t, char *s, int prefix)
{
	size_t len = strlen(s);
	uint8_t flags = pat_flags(s, len, prefix);
	int id = smap_get(&t->patmap, s, len, flags & PAT_END_WORD);
	if (id >= 0) {
		free(s);
		return id;
	}
	GROW(t->pats, t->npats, t->pats_cap);
	id = (int)t->npats++;
	t->pats[id] = (struct pat){.s = s, .len = (uint32_t)len, .flags = flags, .owner = -1, .kw = -1};
	smap_put(&t->patmap, s, len, flags & PAT_END_WORD, id);
	t->stale = 1;
	return id;
}

/* Credit pat to (kind, index) unless it already is. Returns 1 when added. */
static int pat_own(struct topics *t, int pat, int kind, int index, const char *written)
{
	for (int o = t->pats[pat].owner; o >= 0; o = t->owners[o].next)
		if (t->owners[o].kind == kind && t->owners[o].index == index)
			return 0;
	GROW(t->owners, t->nowners, t->owners_cap);
	int o = (int)t->nowners++;
	t->owners[o] = (struct owner){kind, index, written, t->pats[pat].owner, 1};
	t->pats[pat].owner = o;
	t->stale = 1;
	return 1;
}

/* ---- automaton construction ---- */

static void ac_free(struct ac *a)
{
	free(a->dense);
	free(a->d16);
	free(a->fail);
	free(a->dict);
	free(a->edge_start);
	free(a->edge_cls);
	free(a->edge_to);
	free(a->out_start);
	free(a->out_pat);
	memset(a, 0, sizeof *a);
}

struct sorted_pat {
	const char *s;
	uint32_t len, id;
};

static int cmp_pat(const void *a, const void *b)
{
	const struct sorted_pat *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	if (c)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

static uint32_t ac_pos(const struct ac *a, uint32_t id)
{
	return id < a->ndense ? id * a->nclass : a->dense_limit + (id - a->ndense);
}

static uint32_t ac_id(const struct ac *a, uint32_t pos)
{
	return pos < a->dense_limit ? pos / a->nclass : a->ndense + (pos - a->dense_limit);
}

/* Encoded transition from the sparse state at position pos on class c:
 * its own edge, else the failure chain down to a dense row. */
static uint32_t ac_delta(const struct ac *a, uint32_t pos, unsigned c)
{
	uint32_t x = ac_id(a, pos);
	while (x >= a->ndense) {
		uint32_t lo = a->edge_start[x], hi = a->edge_start[x + 1];
		for (uint32_t i = lo; i < hi && a->edge_cls[i] <= c; i++)
			if (a->edge_cls[i] == c)
				return a->edge_to[i];
		x = a->fail[x];
	}
	return a->dense[(size_t)x * a->nclass + c];
}

static uint32_t ac_child(const struct ac *a, uint32_t x, unsigned c)
{
	uint32_t lo = a->edge_start[x], hi = a->edge_start[x + 1];
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (a->edge_cls[mid] < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < a->edge_start[x + 1] && a->edge_cls[lo] == c ? lo : UINT32_MAX;
}

struct owned {
	int kind, index, pat, owner;
};

static int cmp_owned(const void *a, const void *b)
{
	const struct owned *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return (x->owner > y->owner) - (x->owner < y->owner);
}

/* Which owners' matches can be inside a longer match of the same owner
 * (owner.in_longer): only when one of its longer pats holds the pat's
 * bytes. Most cannot, and crediting skips contained() for them. An
 * owner with more pats than this is not worked out: all may be. */
#define IN_LONGER_MAX 512
static void owners_in_longer(struct topics *t)
{
	struct owned *v = xmalloc((t->nowners + 1) * sizeof *v);
	size_t n = 0;
	for (size_t p = 0; p < t->npats; p++)
		for (int o = t->pats[p].owner; o >= 0; o = t->owners[o].next)
			v[n++] = (struct owned){t->owners[o].kind, t->owners[o].index, (int)p, o};
	qsort(v, n, sizeof *v, cmp_owned);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && v[j].kind == v[i].kind && v[j].index == v[i].index)
			j++;
		for (size_t x = i; x < j; x++) {
			const struct pat *px = &t->pats[v[x].pat];
			int in = j - i > IN_LONGER_MAX;
			for (size_t y = i; y < j && !in; y++) {
				const struct pat *py = &t->pats[v[y].pat];
				in = py->len > px->len && memmem(py->s, py->len, px->s, px->len);
			}
			t->owners[v[x].owner].in_longer = in;
		}
		i = j;
	}
	free(v);
}

/* Build the trie from the pats in sorted order (so each node's children are
 * created in byte order and shared prefixes are simply the previous path),
 * renumber it breadth-first, then fill failure links, output links and the
 * dense rows in one breadth-first sweep. */
static void ac_build(struct topics *t)
{
	struct ac *a = &t->ac;
	ac_free(a);

	struct sorted_pat *order = xmalloc((t->npats + 1) * sizeof *order);
	size_t np = 0, total = 0, maxlen = 0;
	for (size_t i = 0; i < t->npats; i++) {
		if (t->pats[i].owner < 0)
			continue;
		order[np++] = (struct sorted_pat){t->pats[i].s, t->pats[i].len, (uint32_t)i};
		total += t->pats[i].len;
		if (t->pats[i].len > maxlen)
			maxlen = t->pats[i].len;
	}
	qsort(order, np, sizeof *order, cmp_pat);
	t->maxlen = (uint32_t)maxlen;

	/* Trie in creation order: node k (k >= 1) hangs off tparent[k] by tbyte[k]. */
	size_t tcap = total + 1;
	uint32_t *tparent = xmalloc(tcap * sizeof *tparent);
	uint8_t *tbyte = xmalloc(tcap);
	uint32_t *term = xmalloc((np + 1) * sizeof *term); /* terminal node per order[] */
	uint32_t *path = xmalloc((maxlen + 1) * sizeof *path);
	uint32_t nt = 1;
	tparent[0] = 0;
	tbyte[0] = 0;
	int used[256] = {0};
	const struct sorted_pat *prev = NULL;
	for (size_t i = 0; i < np; i++) {
		const struct sorted_pat *p = &order[i];
		size_t l = 0;
		if (prev)
			while (l < p->len && l < prev->len && p->s[l] == prev->s[l])
				l++;
		for (size_t d = l; d < p->len; d++) {
			tparent[nt] = d ? path[d - 1] : 0;
			tbyte[nt] = (uint8_t)p->s[d];
			used[(uint8_t)p->s[d]] = 1;
			path[d] = nt++;
		}
		term[i] = path[p->len - 1];
		prev = p;
	}
	free(path);

	a->nclass = 1;
	for (int b = 0; b < 256; b++)
		a->cls[b] = used[b] ? (uint8_t)a->nclass++ : 0;
	/* 256 used bytes would need class 256: never in practice (bytes 0xC0,
	 * 0xC1 and 0xF5..0xFF are not UTF-8), but keep the arithmetic honest. */
	if (a->nclass > 256) {
		for (int b = 0; b < 256; b++)
			a->cls[b] = (uint8_t)b;
		a->nclass = 256;
	}

	/* Children lists in creation order (already byte-sorted per parent). */
	uint32_t *cstart = xcalloc(nt + 1, sizeof *cstart);
	for (uint32_t k = 1; k < nt; k++)
		cstart[tparent[k] + 1]++;
	for (uint32_t k = 0; k < nt; k++)
		cstart[k + 1] += cstart[k];
	uint32_t *cfill = xmalloc((nt + 1) * sizeof *cfill);
	memcpy(cfill, cstart, (nt + 1) * sizeof *cfill);
	uint32_t *child = xmalloc((nt ? nt : 1) * sizeof *child);
	for (uint32_t k = 1; k < nt; k++)
		child[cfill[tparent[k]]++] = k;
	free(cfill);

	/* Breadth-first numbering. */
	uint32_t *bfs = xmalloc(nt * sizeof *bfs);   /* new -> old */
	uint32_t *newid = xmalloc(nt * sizeof *newid); /* old -> new */
	uint32_t head = 0, tail = 0;
	bfs[tail++] = 0;
	newid[0] = 0;
	while (head < tail) {
		uint32_t u = bfs[head++];
		for (uint32_t e = cstart[u]; e < cstart[u + 1]; e++) {
			newid[child[e]] = tail;
			bfs[tail++] = child[e];
		}
	}

	a->nstates = nt;
	a->edge_start = xmalloc((nt + 1) * sizeof *a->edge_start);
	a->edge_cls = xmalloc((nt ? nt : 1) * sizeof *a->edge_cls);
	a->edge_to = xmalloc((nt ? nt : 1) * sizeof *a->edge_to);
	uint32_t ne = 0;
	for (uint32_t s = 0; s < nt; s++) {
		uint32_t u = bfs[s];
		a->edge_start[s] = ne;
		for (uint32_t e = cstart[u]; e < cstart[u + 1]; e++) {
			a->edge_cls[ne] = a->cls[tbyte[child[e]]];
			a->edge_to[ne++] = newid[child[e]];
		}
	}
	a->edge_start[nt] = ne;
	free(cstart);
	free(child);
	free(tparent);
	free(tbyte);
	free(bfs);

	a->out_start = xcalloc(nt + 1, sizeof *a->out_start);
	a->out_pat = xmalloc((np ? np : 1) * sizeof *a->out_pat);
	for (size_t i = 0; i < np; i++)
		a->out_start[newid[term[i]] + 1]++;
	for (uint32_t s = 0; s < nt; s++)
		a->out_start[s + 1] += a->out_start[s];
	uint32_t *ofill = xmalloc((nt + 1) * sizeof *ofill);
	memcpy(ofill, a->out_start, (nt + 1) * sizeof *ofill);
	for (size_t i = 0; i < np; i++)
		a->out_pat[ofill[newid[term[i]]]++] = order[i].id;
	free(ofill);
	free(term);
	free(newid);
	free(order);

	size_t row = (size_t)a->nclass * sizeof(uint32_t);
	size_t nd = (t->dense_budget ? t->dense_budget : TOPICS_DENSE_BUDGET) / row;
	a->ndense = (uint32_t)(nd < 1 ? 1 : nd > nt ? nt : nd);
	a->dense_limit = a->ndense * a->nclass;
	if ((uint64_t)a->dense_limit + nt >= (1u << 31)) {
		/* Positions must fit in 31 bits: ~2 billion states, far beyond
		 * any memory this would run in. */
		fprintf(stderr, "topics: automaton too large (%u states)\n", nt);
		abort();
	}
	a->dense = xmalloc(a->ndense * row);
	a->fail = xcalloc(nt, sizeof *a->fail);
	a->dict = xcalloc(nt, sizeof *a->dict);

#define HAS_OWN(s) (a->out_start[(s) + 1] > a->out_start[(s)])
#define ENC(s) (ac_pos(a, (s)) << 1 | (uint32_t)(HAS_OWN(s) || a->dict[(s)] != 0))
	/* Breadth-first: a state's children get their failure and output links
	 * before its dense row is filled (the row encodes whether each target
	 * has output); fail[u] < u, so its row is always ready. */
	for (uint32_t u = 0; u < nt; u++) {
		for (uint32_t e = a->edge_start[u]; e < a->edge_start[u + 1]; e++) {
			uint32_t v = a->edge_to[e], f = 0, x = a->fail[u];
			unsigned c = a->edge_cls[e];
			while (u != 0) {
				if (x < a->ndense) {
					f = ac_id(a, a->dense[(size_t)x * a->nclass + c] >> 1);
					break;
				}
				uint32_t k = ac_child(a, x, c);
				if (k != UINT32_MAX) {
					f = a->edge_to[k]; /* not yet encoded */
					break;
				}
				x = a->fail[x];
			}
			a->fail[v] = f;
			a->dict[v] = HAS_OWN(f) ? f : a->dict[f];
		}
		if (u < a->ndense) {
			uint32_t *r = a->dense + (size_t)u * a->nclass;
			if (u == 0)
				memset(r, 0, row);
			else
				memcpy(r, a->dense + (size_t)a->fail[u] * a->nclass, row);
			for (uint32_t e = a->edge_start[u]; e < a->edge_start[u + 1]; e++)
				r[a->edge_cls[e]] = ENC(a->edge_to[e]);
		}
	}
	for (uint32_t e = 0; e < ne; e++)
		a->edge_to[e] = ENC(a->edge_to[e]);
#undef ENC
#undef HAS_OWN
	if (a->ndense == nt && nt < 32768 && a->nclass <= 128) {
		/* (+2: the vector walk reads each entry as the low half of a
		 * 32-bit load) */
		a->d16 = xcalloc((size_t)nt * 128 + 2, sizeof *a->d16);
		for (uint32_t u = 0; u < nt; u++)
			for (uint32_t c = 0; c < a->nclass; c++) {
				uint32_t v = a->dense[(size_t)u * a->nclass + c];
				a->d16[(size_t)u << 7 | c] = (uint16_t)(ac_id(a, v >> 1) << 1 | (v & 1));
			}
		free(a->dense);
		a->dense = NULL;
		/* failure links and edges only serve sparse states: none here */
		free(a->fail);
		free(a->edge_start);
		free(a->edge_cls);
		free(a->edge_to);
		a->fail = a->edge_start = a->edge_to = NULL;
		a->edge_cls = NULL;
	}
	owners_in_longer(t);
	t->stale = 0;
}

/* ---- taxonomy loading ---- */

struct loader {
	struct topics *t;
	const char *origin;
	char *err;
};

static int fail_at(struct loader *L, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(struct loader *L, const char *path, const char *fmt, ...)
{
	if (L->err)
		return -1;
	struct sbuf b = {0};
	sbuf_addf(&b, "%s: %s: ", L->origin, path);
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&b, fmt, ap);
	va_end(ap);
	L->err = sbuf_take(&b);
	return -1;
}

static int valid_id(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

static int load_string(struct loader *L, const cJSON *obj, const char *key, const char *path,
		       const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	char where[256];
	snprintf(where, sizeof where, "%s.%s", path, key);
	if (!v)
		return fail_at(L, where, "missing");
	if (!cJSON_IsString(v))
		return fail_at(L, where, "not a string");
	if (!*v->valuestring)
		return fail_at(L, where, "empty");
	*out = keep(L->t, v->valuestring);
	return 0;
}

static void name_put(struct topics *t, const char *norm, int kind, size_t index)
{
	if (norm && *norm)
		smap_put(&t->namemap, norm, strlen(norm), 0, kind << 24 | (int)index);
}

static int load_entry(struct loader *L, const cJSON *o, int kind, size_t index, const char *path)
{
	struct topics *t = L->t;
	const char *listkey = kind == TOPICS_TOPIC ? "keywords" : "aliases";
	if (!cJSON_IsObject(o))
		return fail_at(L, path, "not an object");
	for (const cJSON *k = o->child; k; k = k->next) {
		if (k->string[0] == '_' || !strcmp(k->string, "id") || !strcmp(k->string, "name_en") ||
		    !strcmp(k->string, "name_zh") || !strcmp(k->string, listkey))
			continue;
		char where[256];
		snprintf(where, sizeof where, "%s.%s", path, k->string);
		return fail_at(L, where, "unknown key (expected id, name_en, name_zh, %s)", listkey);
	}
	struct entry *e = &t->entries[kind][index];
	if (load_string(L, o, "id", path, &e->pub.id) < 0 ||
	    load_string(L, o, "name_en", path, &e->pub.name_en) < 0 ||
	    load_string(L, o, "name_zh", path, &e->pub.name_zh) < 0)
		return -1;
	char where[256];
	if (!valid_id(e->pub.id)) {
		snprintf(where, sizeof where, "%s.id", path);
		return fail_at(L, where, "\"%s\" is not lower-case [a-z0-9_-]", e->pub.id);
	}
	for (size_t j = 0; j < index; j++) {
		if (!strcmp(t->entries[kind][j].pub.id, e->pub.id)) {
			snprintf(where, sizeof where, "%s.id", path);
			return fail_at(L, where, "duplicate id \"%s\"", e->pub.id);
		}
	}
	e->norm_id = normalise_str(t->norm, e->pub.id);
	e->norm_en = normalise_str(t->norm, e->pub.name_en);
	e->norm_zh = normalise_str(t->norm, e->pub.name_zh);

	const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, listkey);
	snprintf(where, sizeof where, "%s.%s", path, listkey);
	if (!list)
		return fail_at(L, where, "missing");
	if (!cJSON_IsArray(list))
		return fail_at(L, where, "not an array");
	if (!cJSON_GetArraySize(list))
		return fail_at(L, where, "empty");
	e->pats = xmalloc(2 * (size_t)cJSON_GetArraySize(list) * sizeof *e->pats);
	int j = 0;
	for (const cJSON *k = list->child; k; k = k->next, j++) {
		snprintf(where, sizeof where, "%s.%s[%d]", path, listkey, j);
		if (!cJSON_IsString(k))
			return fail_at(L, where, "not a string");
		const char *written = keep(t, k->valuestring);
		if (!t->forced && normalise_is_traditional(written, strlen(written))) {
			/* Converting it would load OpenCC now; until OpenCC loads
			 * (for Traditional text), it has nothing to match. */
			defer_push(t, kind, (int)index, written);
			continue;
		}
		int prefix;
		char *norm = keyword_norm(t->norm, k->valuestring, &prefix);
		if (!norm)
			return fail_at(L, where, "empty after normalisation");
		char *alt = t->forced ? keyword_norm_alt(t->norm, k->valuestring, norm) : NULL;
		int p = pat_intern(t, norm, prefix);
		if (pat_own(t, p, kind, (int)index, written))
			e->pats[e->npats++] = p;
		if (alt) {
			p = pat_intern(t, alt, prefix);
			if (pat_own(t, p, kind, (int)index, written))
				e->pats[e->npats++] = p;
		} else if (!t->forced) {
			defer_push(t, kind, (int)index, written);
		}
	}
	return 0;
}

static int load_entries(struct loader *L, const cJSON *root, int kind, const char *key)
{
	struct topics *t = L->t;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!arr)
		return fail_at(L, key, "missing");
	if (!cJSON_IsArray(arr))
		return fail_at(L, key, "not an array");
	size_t n = (size_t)cJSON_GetArraySize(arr);
	if (!n)
		return fail_at(L, key, "empty");
	if (n >= (1u << 24))
		return fail_at(L, key, "too many entries");
	t->entries[kind] = xcalloc(n, sizeof *t->entries[kind]);
	t->nentries[kind] = n;
	size_t i = 0;
	for (const cJSON *o = arr->child; o; o = o->next, i++) {
		char path[64];
		snprintf(path, sizeof path, "%s[%zu]", key, i);
		if (load_entry(L, o, kind, i, path) < 0)
			return -1;
	}
	/* Names go in after all ids so an id always wins over someone's name. */
	for (i = 0; i < n; i++)
		name_put(t, t->entries[kind][i].norm_id, kind, i);
	return 0;
}

static int load_weights(struct loader *L, const cJSON *root)
{
	struct topics *t = L->t;
	memcpy(t->weights, default_weights, sizeof t->weights);
	t->threshold = DEFAULT_THRESHOLD;
	t->relative = 15;
	const cJSON *rel = cJSON_GetObjectItemCaseSensitive(root, "relative_threshold");
	if (rel) {
		if (!cJSON_IsNumber(rel) || rel->valuedouble < 0 || rel->valuedouble > 100)
			return fail_at(L, "relative_threshold", "not a number in 0..100");
		t->relative = (int)rel->valuedouble;
	}
	const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "threshold");
	if (th) {
		if (!cJSON_IsNumber(th) || th->valuedouble < 0 || th->valuedouble > 1e6)
			return fail_at(L, "threshold", "not a number in 0..1000000");
		t->threshold = (int)th->valuedouble;
	}
	const cJSON *fw = cJSON_GetObjectItemCaseSensitive(root, "field_weights");
	if (!fw)
		return 0;
	if (!cJSON_IsObject(fw))
		return fail_at(L, "field_weights", "not an object");
	for (const cJSON *k = fw->child; k; k = k->next) {
		char where[128];
		snprintf(where, sizeof where, "field_weights.%s", k->string);
		int f = -1;
		for (int i = 0; i < TOPICS_NFIELDS; i++)
			if (!strcmp(k->string, topics_field_name[i]))
				f = i;
		if (f < 0)
			return fail_at(L, where, "unknown field (expected title, summary, tldr, key_data, analysis, tags)");
		if (!cJSON_IsNumber(k) || k->valuedouble < 0 || k->valuedouble > 1000)
			return fail_at(L, where, "not a number in 0..1000");
		t->weights[f] = (int)k->valuedouble;
	}
	return 0;
}

static int load_tags(struct loader *L, const cJSON *root)
{
	struct topics *t = L->t;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(root, "tags");
	if (!tags)
		return 0;
	if (!cJSON_IsObject(tags))
		return fail_at(L, "tags", "not an object");
	t->tags = xcalloc((size_t)cJSON_GetArraySize(tags) + 1, sizeof *t->tags);
	for (const cJSON *k = tags->child; k; k = k->next) {
		char where[256];
		snprintf(where, sizeof where, "tags.%s", k->string);
		if (!cJSON_IsString(k))
			return fail_at(L, where, "not a string");
		int topic = topics_find(t, TOPICS_TOPIC, k->valuestring);
		if (topic < 0)
			return fail_at(L, where, "unknown topic \"%s\"", k->valuestring);
		char *norm = normalise_str(t->norm, k->string);
		if (!*norm) {
			free(norm);
			return fail_at(L, where, "empty after normalisation");
		}
		t->tags[t->ntags++] = (struct tag){norm, keep(t, k->string), topic};
	}
	return 0;
}

struct topics *topics_load_text(const char *json, size_t len, const char *origin,
				struct normaliser *n, char **err)
{
	struct topics *t = xcalloc(1, sizeof *t);
	t->norm = n;
	t->simd = cpu_avx512();
	struct loader L = {t, origin ? origin : "topics", NULL};
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at && at >= json && at <= json + len ? (size_t)(at - json) : 0;
		L.err = xasprintf("%s: not valid JSON (near byte %zu)", L.origin, off);
		goto bad;
	}
	if (!cJSON_IsObject(root)) {
		L.err = xasprintf("%s: not a JSON object", L.origin);
		goto bad;
	}
	for (const cJSON *k = root->child; k; k = k->next) {
		static const char *const known[] = {"threshold", "relative_threshold", "field_weights", "tags", "topics",
						    "entities"};
		int ok = k->string[0] == '_';
		for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
			ok |= !strcmp(k->string, known[i]);
		if (!ok) {
			fail_at(&L, k->string, "unknown key");
			goto bad;
		}
	}
	if (load_weights(&L, root) < 0 || load_entries(&L, root, TOPICS_TOPIC, "topics") < 0 ||
	    load_entries(&L, root, TOPICS_ENTITY, "entities") < 0 || load_tags(&L, root) < 0)
		goto bad;
	for (int kind = 0; kind < 2; kind++) {
		for (size_t i = 0; i < t->nentries[kind]; i++) {
			name_put(t, t->entries[kind][i].norm_en, kind, i);
			name_put(t, t->entries[kind][i].norm_zh, kind, i);
		}
	}
	cJSON_Delete(root);
	/* The tables grew by doubling; a daemon keeps them for its lifetime,
	 * so they shrink to what was loaded (~33 KB of 64 with the shipped
	 * taxonomy). */
#define FIT(arr, n, cap)                                                          \
	do {                                                                     \
		if ((n) && (n) < (cap)) {                                        \
			(arr) = xrealloc((arr), (n) * sizeof *(arr));            \
			(cap) = (n);                                             \
		}                                                                \
	} while (0)
	FIT(t->pats, t->npats, t->pats_cap);
	FIT(t->owners, t->nowners, t->owners_cap);
	FIT(t->kws, t->nkws, t->kws_cap);
	FIT(t->defer, t->ndefer, t->capdefer);
	FIT(t->strings.v, t->strings.n, t->strings.cap);
#undef FIT
	t->stale = 1; /* the automaton is built before the first scan */
	return t;
bad:
	cJSON_Delete(root);
	topics_free(t);
	if (err)
		*err = L.err;
	else
		free(L.err);
	return NULL;
}

struct topics *topics_load(const char *path, struct normaliser *n, char **err)
{
	char *text = NULL;
	size_t len = 0;
	int rc = file_read(path, 16u << 20, &text, &len);
	if (rc < 0) {
		if (err)
			*err = rc == -2 ? xasprintf("%s: larger than 16 MiB", path)
					: xasprintf("%s: %m", path);
		return NULL;
	}
	struct topics *t = topics_load_text(text, len, path, n, err);
	free(text);
	return t;
}

void topics_free(struct topics *t)
{
	if (!t)
		return;
	for (int kind = 0; kind < 2; kind++) {
		for (size_t i = 0; i < t->nentries[kind]; i++) {
			struct entry *e = &t->entries[kind][i];
			free(e->norm_id);
			free(e->norm_en);
			free(e->norm_zh);
			free(e->pats);
		}
		free(t->entries[kind]);
	}
	for (size_t i = 0; i < t->npats; i++)
		free(t->pats[i].s);
	free(t->pats);
	free(t->owners);
	for (size_t i = 0; i < t->nkws; i++)
		free(t->kws[i].norm);
	free(t->kws);
	for (size_t i = 0; i < t->ntags; i++)
		free(t->tags[i].norm);
	free(t->tags);
	free(t->patmap.slots);
	free(t->namemap.slots);
	strv_free(&t->strings);
	ac_free(&t->ac);
	free(t->scratch);
	sbuf_free(&t->raw);
	sbuf_free(&t->joined);
	free(t->defer);
	for (int k = 0; k < AC_WALKS; k++)
		free(t->ev[k]);
	free(t->evw);
	free(t->owner_count);
	free(t->touched);
	free(t);
}

/* ---- lookups ---- */

size_t topics_count(const struct topics *t, int kind)
{
	if (kind == TOPICS_KEYWORD)
		return t->nkws;
	return kind == TOPICS_TOPIC || kind == TOPICS_ENTITY ? t->nentries[kind] : 0;
}

const struct topics_entry *topics_get(const struct topics *t, int kind, size_t index)
{
	if ((kind != TOPICS_TOPIC && kind != TOPICS_ENTITY) || index >= t->nentries[kind])
		return NULL;
	return &t->entries[kind][index].pub;
}

int topics_find(const struct topics *t, int kind, const char *id)
{
	if (kind != TOPICS_TOPIC && kind != TOPICS_ENTITY)
		return -1;
	for (size_t i = 0; i < t->nentries[kind]; i++)
		if (t->entries[kind][i].pub.id && !strcmp(t->entries[kind][i].pub.id, id))
			return (int)i;
	return -1;
}

/* The first owner of pat of the given kind, or -1. */
static int pat_owner_of_kind(const struct topics *t, int pat, int kind)
{
	int best = -1;
	for (int o = t->pats[pat].owner; o >= 0; o = t->owners[o].next)
		if (t->owners[o].kind == kind && (best < 0 || t->owners[o].index < t->owners[best].index))
			best = o;
	return best;
}

/* Resolve an already-normalised word; *pattern (optional) gets the written
 * form that matched. Ids and display names come before keywords, so 字节跳动
 * is the entity ByteDance even though the topic china lists it; within each
 * level topics come before entities. */
static int resolve_norm(const struct topics *t, const char *norm, int prefix, int *kind,
			size_t *index, const char **pattern)
{
	size_t len = strlen(norm);
	int name = smap_get(&t->namemap, norm, len, 0);
	if (name >= 0 && !prefix) {
		*kind = name >> 24;
		*index = (size_t)(name & 0xFFFFFF);
		if (pattern)
			*pattern = t->entries[*kind][*index].pub.id;
		return 0;
	}
	int pat = len ? smap_get(&t->patmap, norm, len, pat_flags(norm, len, prefix) & PAT_END_WORD)
		      : -1;
	for (int k = TOPICS_TOPIC; k <= TOPICS_ENTITY && pat >= 0; k++) {
		int o = pat_owner_of_kind(t, pat, k);
		if (o >= 0) {
			*kind = k;
			*index = (size_t)t->owners[o].index;
			if (pattern)
				*pattern = t->owners[o].written;
			return 0;
		}
	}
	return -1;
}

int topics_resolve(struct topics *t, const char *word, int *kind, size_t *index)
{
	int prefix;
	char *norm = keyword_norm(t->norm, word ? word : "", &prefix);
	if (!norm)
		return -1;
	if (!t->forced && normaliser_opencc_loaded(t->norm))
		topics_force(t); /* the word was Traditional: converted forms first */
	int rc = resolve_norm(t, norm, prefix, kind, index, NULL);
	if (rc < 0) {
		char *alt = keyword_norm_alt(t->norm, word, norm);
		if (alt)
			rc = resolve_norm(t, alt, prefix, kind, index, NULL);
		free(alt);
	}
	free(norm);
	return rc;
}

/* ---- suggestions ---- */

#define SUGGEST_MAXCP 64

static size_t to_cps(const char *s, uint32_t *cp)
{
	size_t n = 0, len = strlen(s);
	for (size_t i = 0; i < len && n < SUGGEST_MAXCP;) {
		int k = utf8_decode(s + i, len - i, &cp[n++]);
		i += k > 0 ? (size_t)k : 1;
	}
	return n;
}

static size_t edit_distance(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	size_t row[SUGGEST_MAXCP + 1];
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

static int has_sub(const uint32_t *h, size_t nh, const uint32_t *n, size_t nn)
{
	for (size_t i = 0; i + nn <= nh; i++)
		if (!memcmp(h + i, n, nn * sizeof *n))
			return 1;
	return 0;
}

/* Lower is closer; -1 when the candidate is not worth suggesting. */
static long similarity(const uint32_t *w, size_t nw, const char *cand)
{
	uint32_t c[SUGGEST_MAXCP];
	size_t nc = to_cps(cand, c);
	if (!nc || !nw)
		return -1;
	size_t shorter = nw < nc ? nw : nc, longer = nw < nc ? nc : nw;
	long diff = (long)(longer - shorter);
	if (nw == nc && !memcmp(w, c, nw * sizeof *w))
		return 0;
	if (shorter >= 2 && !memcmp(w, c, shorter * sizeof *w))
		return 100 + diff;
	if (shorter >= 2 && (nw < nc ? has_sub(c, nc, w, nw) : has_sub(w, nw, c, nc)))
		return 200 + diff;
	size_t d = edit_distance(w, nw, c, nc);
	size_t limit = longer / 3 > 1 ? longer / 3 : 1;
	if (d <= limit && d < longer)
		return 300 + 50 * (long)d;
	return -1;
}

struct cand {
	int kind;
	size_t index;
	long score;
};

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return (x->index > y->index) - (x->index < y->index);
}

size_t topics_suggest(const struct topics *t, const char *word, int *kinds, size_t *indexes,
		      size_t max)
{
	int prefix;
	char *norm = keyword_norm(t->norm, word ? word : "", &prefix);
	if (!norm || !max) {
		free(norm);
		return 0;
	}
	uint32_t w[SUGGEST_MAXCP];
	size_t nw = to_cps(norm, w);
	free(norm);
	size_t ncand = 0;
	struct cand *cands = xmalloc((t->nentries[0] + t->nentries[1] + 1) * sizeof *cands);
	for (int k = TOPICS_TOPIC; k <= TOPICS_ENTITY; k++) {
		for (size_t i = 0; i < t->nentries[k]; i++) {
			const struct entry *e = &t->entries[k][i];
			long best = -1;
			const char *names[] = {e->norm_id, e->norm_en, e->norm_zh};
			for (size_t j = 0; j < 3 + e->npats; j++) {
				const char *s = j < 3 ? names[j] : t->pats[e->pats[j - 3]].s;
				long sc = s ? similarity(w, nw, s) : -1;
				if (sc >= 0 && (best < 0 || sc < best))
					best = sc;
			}
			if (best >= 0)
				cands[ncand++] = (struct cand){k, i, best};
		}
	}
	qsort(cands, ncand, sizeof *cands, cmp_cand);
	size_t n = ncand < max ? ncand : max;
	for (size_t i = 0; i < n; i++) {
		kinds[i] = cands[i].kind;
		indexes[i] = cands[i].index;
	}
	free(cands);
	return n;
}

/* ---- user keywords ---- */

static void follow_entity(struct topics *t, int kw, int entity)
{
	const struct entry *e = &t->entries[TOPICS_ENTITY][entity];
	for (size_t i = 0; i < e->npats; i++) {
		int q = e->pats[i], o = t->pats[q].owner;
		while (o >= 0 && !(t->owners[o].kind == TOPICS_ENTITY && t->owners[o].index == entity))
			o = t->owners[o].next;
		if (o >= 0)
			pat_own(t, q, TOPICS_KEYWORD, kw, t->owners[o].written);
	}
}

int topics_add_keyword(struct topics *t, const char *keyword)
{
	int prefix;
	char *norm = keyword_norm(t->norm, keyword ? keyword : "", &prefix);
	if (!norm)
		return -1;
	char *alt = t->forced ? keyword_norm_alt(t->norm, keyword, norm) : NULL;
	int p = pat_intern(t, norm, prefix);
	if (t->pats[p].kw >= 0) {
		free(alt);
		return t->pats[p].kw;
	}
	GROW(t->kws, t->nkws, t->kws_cap);
	int id = (int)t->nkws++;
	t->kws[id].pat = p;
	t->kws[id].prefix = prefix;
	/* A '*' after a CJK character changes nothing, so it is not shown. */
	int star = prefix && word_byte[(unsigned char)t->pats[p].s[t->pats[p].len - 1]];
	t->kws[id].norm = xasprintf("%s%s", t->pats[p].s, star ? "*" : "");
	t->pats[p].kw = id;
	pat_own(t, p, TOPICS_KEYWORD, id, keep(t, keyword));
	if (alt) {
		int p2 = pat_intern(t, alt, prefix);
		if (t->pats[p2].kw < 0)
			t->pats[p2].kw = id;
		pat_own(t, p2, TOPICS_KEYWORD, id, keep(t, keyword));
	} else if (!t->forced) {
		defer_push(t, TOPICS_KEYWORD, id, keep(t, keyword));
	}
	keyword_follow(t, id);
	return id;
}

/* A keyword that names an entity follows the entity: 英伟达 is subscribed to
 * Nvidia, so it must also fire on 輝達 and "Nvidia", which no normalisation
 * turns into 英伟达. The keyword borrows the entity's aliases, evidence
 * showing the alias that matched. */
static void keyword_follow(struct topics *t, int id)
{
	int p = t->kws[id].pat;
	int name = t->kws[id].prefix ? -1 : smap_get(&t->namemap, t->pats[p].s, t->pats[p].len, 0);
	if (name >= 0 && (name >> 24) == TOPICS_ENTITY)
		follow_entity(t, id, name & 0xFFFFFF);
	for (int o = t->pats[p].owner; o >= 0; o = t->owners[o].next)
		if (t->owners[o].kind == TOPICS_ENTITY)
			follow_entity(t, id, t->owners[o].index);
}

/* Intern every deferred forced form (OpenCC is loaded now): the entries'
 * and keywords' second patterns, and keywords following entities borrow
 * the entities' new ones. */
static void topics_force(struct topics *t)
{
	t->forced = 1;
	for (size_t i = 0; i < t->ndefer; i++) {
		const struct deferred *d = &t->defer[i];
		int prefix;
		char *norm = keyword_norm(t->norm, d->written, &prefix);
		if (!norm)
			continue;
		char *alt = keyword_norm_alt(t->norm, d->written, norm);
		char *forms[2] = {norm, alt};
		for (int f = 0; f < 2; f++) {
			if (!forms[f])
				continue;
			int p = pat_intern(t, forms[f], prefix); /* takes the string */
			if (d->kind == TOPICS_KEYWORD) {
				if (t->pats[p].kw < 0)
					t->pats[p].kw = d->index;
				pat_own(t, p, TOPICS_KEYWORD, d->index, d->written);
			} else {
				struct entry *e = &t->entries[d->kind][d->index];
				if (pat_own(t, p, d->kind, d->index, d->written))
					e->pats[e->npats++] = p;
			}
		}
	}
	free(t->defer);
	t->defer = NULL;
	t->ndefer = t->capdefer = 0;
	for (size_t id = 0; id < t->nkws; id++)
		keyword_follow(t, (int)id);
}

const char *topics_keyword(const struct topics *t, int id)
{
	return id >= 0 && (size_t)id < t->nkws ? t->kws[id].norm : NULL;
}

/* ---- scanning ---- */

/* Add count to the row for (kind, index, field, pattern), searching only
 * rows [from, to) (the others are known to be different). */
static void add_hit_n(struct topics_result *r, size_t from, size_t to, int kind, int index, int field,
		      int count, const char *pattern)
{
	for (size_t i = from; i < to; i++) {
		struct topics_hit *h = &r->hits[i];
		if (h->kind == kind && h->index == index && h->field == field && h->pattern == pattern) {
			h->count += count;
			return;
		}
	}
	GROW(r->hits, r->nhits, r->hits_cap);
	r->hits[r->nhits++] = (struct topics_hit){kind, index, field, count, pattern};
}

/* Does pat p, ending at byte `end` (exclusive) of text, sit on word
 * boundaries? */
static int on_boundary(const struct pat *p, const unsigned char *text, size_t len, size_t end)
{
	if ((p->flags & PAT_START_WORD) && end > p->len && word_byte[text[end - p->len - 1]])
		return 0;
	if ((p->flags & PAT_END_WORD) && end < len && word_byte[text[end]]) {
		size_t e = end;
		if (text[e] == 'e' && e + 1 < len && text[e + 1] == 's')
			e += 2;
		else if (text[e] == 's')
			e += 1;
		else
			return 0;
		if (e < len && word_byte[text[e]])
			return 0;
	}
	return 1;
}

static void flush_matches(struct topics *t, size_t pos);

static void report(struct topics *t, uint32_t s, const unsigned char *text, size_t len, size_t end)
{
	const struct ac *a = &t->ac;
	for (uint32_t u = s; u; u = a->dict[u]) {
		for (uint32_t k = a->out_start[u]; k < a->out_start[u + 1]; k++) {
			uint32_t p = a->out_pat[k];
			if (!on_boundary(&t->pats[p], text, len, end))
				continue;
			if (t->nscratch == t->scratch_cap)
				flush_matches(t, end);
			GROW(t->scratch, t->nscratch, t->scratch_cap);
			t->scratch[t->nscratch++] = (struct match){p, end};
		}
	}
}

static int same_owner(const struct topics *t, const struct owner *o, uint32_t pat)
{
	for (int k = t->pats[pat].owner; k >= 0; k = t->owners[k].next)
		if (t->owners[k].kind == o->kind && t->owners[k].index == o->index)
			return 1;
	return 0;
}

/* Is owner o of match i already credited through a longer match that
 * contains it ("Noam Shazeer" around "Shazeer", 大模型 around 模型)? Then the
 * mention is counted once, under the longer spelling. Matches are in order
 * of end offset; a container ends at or after i and starts at or before it,
 * so it lies within maxlen bytes of i. */
static int contained(const struct topics *t, size_t i, const struct owner *o)
{
	const struct match *m = &t->scratch[i];
	size_t start = m->end - t->pats[m->pat].len;
	for (size_t j = i; j-- > 0 && t->scratch[j].end == m->end;)
		if (t->pats[t->scratch[j].pat].len > t->pats[m->pat].len &&
		    same_owner(t, o, t->scratch[j].pat))
			return 1;
	for (size_t j = i + 1; j < t->nscratch && t->scratch[j].end <= start + t->maxlen; j++) {
		const struct match *c = &t->scratch[j];
		if (c->end - t->pats[c->pat].len <= start && t->pats[c->pat].len > t->pats[m->pat].len &&
		    same_owner(t, o, c->pat))
			return 1;
	}
	return 0;
}

/* Credit the owners of the first n scratch matches (containers of each lie
 * within the scratch, see contained()). */
static void credit(struct topics *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int o = t->pats[t->scratch[i].pat].owner; o >= 0; o = t->owners[o].next) {
			if (t->owners[o].in_longer && contained(t, i, &t->owners[o]))
				continue;
			if (!t->owner_count[o]++)
				t->touched[t->ntouched++] = (uint32_t)o;
		}
	}
}

/* Keep the scratch small on long texts: once the scan is maxlen bytes past
 * a match, every match that could contain it has been seen, so it can be
 * credited and dropped. */
#define SCRATCH_KEEP 1024

static void flush_matches(struct topics *t, size_t pos)
{
	if (t->nscratch < SCRATCH_KEEP)
		return;
	size_t n = 0;
	while (n < t->nscratch && t->scratch[n].end + t->maxlen <= pos)
		n++;
	credit(t, n);
	memmove(t->scratch, t->scratch + n, (t->nscratch - n) * sizeof *t->scratch);
	t->nscratch -= n;
}

static void ev_push(struct topics *t, int k, uint32_t state, size_t end)
{
	if (t->nev[k] == t->capev[k]) {
		t->capev[k] = t->capev[k] ? t->capev[k] * 2 : 256;
		t->ev[k] = xrealloc(t->ev[k], t->capev[k] * sizeof *t->ev[k]);
	}
	t->ev[k][t->nev[k]++] = (struct ac_event){state, end};
}

/* One walk over p[from, to) from state *st, noting reporting states as
 * events of walk k (appended). */
static void ac_walk(struct topics *t, const unsigned char *p, size_t from, size_t to, uint32_t *st, int k)
{
	const struct ac *a = &t->ac;
	const uint32_t *dense = a->dense;
	const uint8_t *cls = a->cls;
	const uint32_t dl = a->dense_limit;
	uint32_t s = *st;
	for (size_t i = from; i < to; i++) {
		unsigned c = cls[p[i]];
		uint32_t v = s < dl ? dense[s + c] : ac_delta(a, s, c);
		s = v >> 1;
		if (v & 1)
			ev_push(t, k, ac_id(a, s), i + 1);
	}
	*st = s;
}

/* The same over the compact table: states are numbers. */
static void ac_walk16(struct topics *t, const unsigned char *p, size_t from, size_t to, uint32_t *st, int k)
{
	const uint16_t *d = t->ac.d16;
	const uint8_t *cls = t->ac.cls;
	uint32_t s = *st;
	for (size_t i = from; i < to; i++) {
		uint32_t v = d[s << 7 | cls[p[i]]];
		s = v >> 1;
		if (v & 1)
			ev_push(t, k, s, i + 1);
	}
	*st = s;
}

/* Eight walks in lockstep over the compact table, n bytes each from pos[k]. */
static void ac_walk8_16(struct topics *t, const unsigned char *p, const size_t pos[8], size_t n, uint32_t st[8])
{
	const uint16_t *d = t->ac.d16;
	const uint8_t *cls = t->ac.cls;
	const unsigned char *p0 = p + pos[0], *p1 = p + pos[1], *p2 = p + pos[2], *p3 = p + pos[3];
	const unsigned char *p4 = p + pos[4], *p5 = p + pos[5], *p6 = p + pos[6], *p7 = p + pos[7];
	uint32_t s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3], s4 = st[4], s5 = st[5], s6 = st[6], s7 = st[7];
	for (size_t i = 0; i < n; i++) {
		uint32_t v0 = d[s0 << 7 | cls[p0[i]]];
		uint32_t v1 = d[s1 << 7 | cls[p1[i]]];
		uint32_t v2 = d[s2 << 7 | cls[p2[i]]];
		uint32_t v3 = d[s3 << 7 | cls[p3[i]]];
		uint32_t v4 = d[s4 << 7 | cls[p4[i]]];
		uint32_t v5 = d[s5 << 7 | cls[p5[i]]];
		uint32_t v6 = d[s6 << 7 | cls[p6[i]]];
		uint32_t v7 = d[s7 << 7 | cls[p7[i]]];
		s0 = v0 >> 1, s1 = v1 >> 1, s2 = v2 >> 1, s3 = v3 >> 1;
		s4 = v4 >> 1, s5 = v5 >> 1, s6 = v6 >> 1, s7 = v7 >> 1;
		if ((v0 | v1 | v2 | v3 | v4 | v5 | v6 | v7) & 1) {
			if (v0 & 1)
				ev_push(t, 0, s0, pos[0] + i + 1);
			if (v1 & 1)
				ev_push(t, 1, s1, pos[1] + i + 1);
			if (v2 & 1)
				ev_push(t, 2, s2, pos[2] + i + 1);
			if (v3 & 1)
				ev_push(t, 3, s3, pos[3] + i + 1);
			if (v4 & 1)
				ev_push(t, 4, s4, pos[4] + i + 1);
			if (v5 & 1)
				ev_push(t, 5, s5, pos[5] + i + 1);
			if (v6 & 1)
				ev_push(t, 6, s6, pos[6] + i + 1);
			if (v7 & 1)
				ev_push(t, 7, s7, pos[7] + i + 1);
		}
	}
	st[0] = s0, st[1] = s1, st[2] = s2, st[3] = s3, st[4] = s4, st[5] = s5, st[6] = s6, st[7] = s7;
}

/* Four walks in lockstep, n bytes each from pos[k]. */
static void ac_walk4(struct topics *t, const unsigned char *p, const size_t pos[4], size_t n, uint32_t st[4])
{
	const struct ac *a = &t->ac;
	const uint32_t *dense = a->dense;
	const uint8_t *cls = a->cls;
	const uint32_t dl = a->dense_limit;
	const unsigned char *p0 = p + pos[0], *p1 = p + pos[1], *p2 = p + pos[2], *p3 = p + pos[3];
	uint32_t s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
	for (size_t i = 0; i < n; i++) {
		uint32_t v0 = s0 < dl ? dense[s0 + cls[p0[i]]] : ac_delta(a, s0, cls[p0[i]]);
		uint32_t v1 = s1 < dl ? dense[s1 + cls[p1[i]]] : ac_delta(a, s1, cls[p1[i]]);
		uint32_t v2 = s2 < dl ? dense[s2 + cls[p2[i]]] : ac_delta(a, s2, cls[p2[i]]);
		uint32_t v3 = s3 < dl ? dense[s3 + cls[p3[i]]] : ac_delta(a, s3, cls[p3[i]]);
		s0 = v0 >> 1, s1 = v1 >> 1, s2 = v2 >> 1, s3 = v3 >> 1;
		if ((v0 | v1 | v2 | v3) & 1) {
			if (v0 & 1)
				ev_push(t, 0, ac_id(a, s0), pos[0] + i + 1);
			if (v1 & 1)
				ev_push(t, 1, ac_id(a, s1), pos[1] + i + 1);
			if (v2 & 1)
				ev_push(t, 2, ac_id(a, s2), pos[2] + i + 1);
			if (v3 & 1)
				ev_push(t, 3, ac_id(a, s3), pos[3] + i + 1);
		}
	}
	st[0] = s0, st[1] = s1, st[2] = s2, st[3] = s3;
}

/* What a scan needs, made or grown after taxonomy changes. */
static void scan_prepare(struct topics *t)
{
	if (!t->forced && normaliser_opencc_loaded(t->norm))
		topics_force(t);
	if (t->stale)
		ac_build(t);
	if (t->count_cap < t->nowners) {
		free(t->owner_count);
		free(t->touched);
		t->count_cap = t->nowners;
		t->owner_count = xcalloc(t->count_cap, sizeof *t->owner_count);
		t->touched = xmalloc(t->count_cap * sizeof *t->touched);
	}
	if (!t->scratch) {
		t->scratch_cap = SCRATCH_KEEP;
		t->scratch = xmalloc(t->scratch_cap * sizeof *t->scratch);
	}
	t->nscratch = 0;
}

#ifdef AC_VECTOR
/* Four text bytes per walk (one 32-bit lane each) to their classes: two
 * 128-byte table lookups (VBMI byte permutes), picked by each byte's top
 * bit. */
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static inline __m512i
classes4(__m512i x, __m512i c0, __m512i c1, __m512i c2, __m512i c3)
{
	__m512i lo = _mm512_permutex2var_epi8(c0, x, c1), hi = _mm512_permutex2var_epi8(c2, x, c3);
	return _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi);
}

/* 32 walks over the compact table, two vectors of sixteen, n steps each (n
 * a multiple of 4, at most 2048) from pos[k] in p, which holds the n bytes
 * after every pos[k]. The reporting states met go to evw packed as
 *   transition entry (16 bits) | walk << 16 | step << 21,
 * by step, then walk; returns how many. evw has room for 32 n + 16.
 *
 * Per four steps one gather loads four text bytes of every walk; per step
 * one gather loads the transitions (each entry the low half of a 32-bit
 * load). A state is kept as its row's offset, number << 7. The gathers of
 * the two vectors are independent, so each hides the other's latency (the
 * loops over them are unrolled by the compiler). */
#define AC_VECS (AC_VLANES / 16)
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static size_t
ac_walk32_avx512(const uint16_t *d, const uint8_t cls[256], const unsigned char *p, const uint32_t pos[AC_VLANES],
		 size_t n, uint32_t st[AC_VLANES], uint32_t *evw)
{
	const __m512i c0 = _mm512_loadu_si512(cls), c1 = _mm512_loadu_si512(cls + 64);
	const __m512i c2 = _mm512_loadu_si512(cls + 128), c3 = _mm512_loadu_si512(cls + 192);
	const __m512i ff = _mm512_set1_epi32(0xFF), one = _mm512_set1_epi32(1), low16 = _mm512_set1_epi32(0xFFFF);
	const __m512i row = _mm512_set1_epi32(0x7FFF << 7), four = _mm512_set1_epi32(4);
	const __m512i steptag = _mm512_set1_epi32(1 << 21);
	const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	__m512i pv[AC_VECS], sv[AC_VECS], tv[AC_VECS], xv[AC_VECS];
	for (int c = 0; c < AC_VECS; c++) {
		pv[c] = _mm512_loadu_si512(pos + 16 * c);
		sv[c] = _mm512_slli_epi32(_mm512_loadu_si512(st + 16 * c), 7);
		tv[c] = _mm512_slli_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(16 * c)), 16);
	}
	size_t ne = 0;
	for (size_t i = 0; i < n; i += 4) {
		for (int c = 0; c < AC_VECS; c++) {
			xv[c] = classes4(_mm512_i32gather_epi32(pv[c], p, 1), c0, c1, c2, c3);
			pv[c] = _mm512_add_epi32(pv[c], four);
		}
		for (int j = 0; j < 4; j++) {
			__m512i g[AC_VECS];
			for (int c = 0; c < AC_VECS; c++)
				g[c] = _mm512_i32gather_epi32(_mm512_ternarylogic_epi32(sv[c], xv[c], ff, 0xF8), d, 2);
			for (int c = 0; c < AC_VECS; c++) {
				xv[c] = _mm512_srli_epi32(xv[c], 8);
				sv[c] = _mm512_and_si512(_mm512_slli_epi32(g[c], 6), row);
				__mmask16 k = _mm512_test_epi32_mask(g[c], one);
				_mm512_storeu_si512(evw + ne, _mm512_maskz_compress_epi32(
								      k, _mm512_ternarylogic_epi32(g[c], low16, tv[c], 0xEA)));
				ne += (size_t)__builtin_popcount(k);
				tv[c] = _mm512_add_epi32(tv[c], steptag);
			}
		}
	}
	for (int c = 0; c < AC_VECS; c++)
		_mm512_storeu_si512(st + 16 * c, _mm512_srli_epi32(sv[c], 7));
	return ne;
}

/* scan_walk() with 32 vector walks, for a text with `padded` NUL bytes
 * after it (a NUL is in no pattern: a walk over them stays at the root and
 * reports nothing). Every walk takes the same number of steps L, so none
 * is left over for a scalar tail: walk 0 covers [0, L), walk k
 * [bound[k] - maxlen, bound[k + 1]), and the last runs on into the NULs.
 * Returns 0 when the text is too short for this split. */
static int scan_walk_simd(struct topics *t, const unsigned char *p, size_t len, size_t padded,
			  size_t bound[AC_WALKS + 1])
{
	const int w = AC_VLANES;
	size_t m = t->maxlen;
	size_t L = (len + (size_t)(w - 1) * m + (size_t)w - 1) / (size_t)w;
	L = (L + 3) & ~(size_t)3;
	uint32_t pos[AC_VLANES], st[AC_VLANES] = {0};
	bound[0] = 0;
	pos[0] = 0;
	for (int k = 1; k < w; k++) {
		bound[k] = L + (size_t)(k - 1) * (L - m);
		pos[k] = (uint32_t)(bound[k] - m);
	}
	bound[w] = len;
	if (len > UINT32_MAX / 2 || bound[w - 1] > len || pos[w - 1] + L > len + padded)
		return 0;
	size_t block = L < 2048 ? L : 2048, need = (size_t)w * block + 16;
	if (t->capevw < need) {
		free(t->evw);
		t->capevw = need;
		t->evw = xmalloc(need * sizeof *t->evw);
	}
	for (int k = 0; k < w; k++)
		t->nev[k] = 0;
	t->vector_scans++;
	for (size_t done = 0; done < L; done += block) {
		size_t n = L - done < block ? L - done : block;
		size_t ne = ac_walk32_avx512(t->ac.d16, t->ac.cls, p, pos, n, st, t->evw);
		for (size_t e = 0; e < ne; e++) {
			uint32_t x = t->evw[e];
			int k = (int)(x >> 16 & (AC_VLANES - 1));
			ev_push(t, k, (x & 0xFFFF) >> 1, pos[k] + (x >> 21) + 1);
		}
		for (int k = 0; k < w; k++)
			pos[k] += (uint32_t)n;
	}
	return w;
}
#endif

int topics_set_simd(struct topics *t, int on)
{
	t->simd = on && cpu_avx512();
	return t->simd;
}

size_t topics_vector_scans(const struct topics *t)
{
	return t->vector_scans;
}

/* Walk p[0, len), leaving the reporting states met as events: returns the
 * number of walks w; walk k's events are in t->ev[k], and its own are
 * those ending after bound[k] (all of walk 0's), in order of end offset.
 * Walk k's own, then walk k + 1's, are the text's in order. */
static int scan_walk(struct topics *t, const unsigned char *p, size_t len, size_t padded,
		     size_t bound[AC_WALKS + 1])
{
	const struct ac *a = &t->ac;
#ifdef AC_VECTOR
	if (t->simd && a->d16 && padded >= 4 * AC_VLANES && len >= 4096 && len >= (size_t)t->maxlen * 128) {
		int w = scan_walk_simd(t, p, len, padded, bound);
		if (w)
			return w;
	}
#else
	(void)padded;
#endif
	if (len < 512 || len < (size_t)t->maxlen * 16) {
		uint32_t st = 0;
		t->nev[0] = 0;
		if (a->d16)
			ac_walk16(t, p, 0, len, &st, 0);
		else
			ac_walk(t, p, 0, len, &st, 0);
		bound[0] = 0;
		bound[1] = len;
		return 1;
	}
	/* Eight walks over eight parts at once (four over the larger 32-bit
	 * table): each byte's step waits on the previous byte's table load,
	 * so one walk leaves the CPU idle most of the time; independent ones
	 * overlap their loads. Eight rather than four took a sample-001-sized
	 * text from ~18 to ~15 us (best of many rounds). A walk starts maxlen
	 * bytes before its part, so it sees every match that ends inside the
	 * part. */
	int w = a->d16 ? 8 : 4;
	size_t pos[8];
	uint32_t st[8] = {0};
	for (int k = 0; k < w; k++) {
		bound[k] = len / (size_t)w * (size_t)k;
		pos[k] = k ? bound[k] - t->maxlen : 0;
		t->nev[k] = 0;
	}
	bound[w] = len;
	size_t common = bound[1] - pos[0];
	for (int k = 1; k < w; k++)
		if (bound[k + 1] - pos[k] < common)
			common = bound[k + 1] - pos[k];
	if (a->d16) {
		ac_walk8_16(t, p, pos, common, st);
		for (int k = 0; k < w; k++)
			ac_walk16(t, p, pos[k] + common, bound[k + 1], &st[k], k);
	} else {
		ac_walk4(t, p, pos, common, st);
		for (int k = 0; k < w; k++)
			ac_walk(t, p, pos[k] + common, bound[k + 1], &st[k], k);
	}
	return w;
}

/* After a walk: event arrays are not kept after a burst. */
static void scan_trim(struct topics *t)
{
	if (t->capevw > 65536) {
		free(t->evw);
		t->evw = NULL;
		t->capevw = 0;
	}
	for (int k = 0; k < AC_WALKS; k++)
		if (t->capev[k] > 4096) {
			free(t->ev[k]);
			t->ev[k] = NULL;
			t->capev[k] = t->nev[k] = 0;
		}
}

/* The end of one field's scan (its matches reported): credit them, then
 * one hit row per touched owner. */
static void scan_done(struct topics *t, size_t len, int field, struct topics_result *out)
{
	out->bytes_scanned += len;
	credit(t, t->nscratch);
	t->nscratch = 0;
	if (t->scratch_cap > 4 * SCRATCH_KEEP) { /* a burst of overlapping matches */
		free(t->scratch);
		t->scratch = NULL;
		t->scratch_cap = 0;
	}
	/* One hit row per touched owner, in order of first match. Rows from
	 * this scan are distinct owners; only rows an earlier scan of the same
	 * field left behind need merging. */
	size_t merge = 0;
	for (size_t i = 0; i < out->nhits && !merge; i++)
		if (out->hits[i].field == field)
			merge = out->nhits;
	for (size_t i = 0; i < t->ntouched; i++) {
		uint32_t o = t->touched[i];
		const struct owner *ow = &t->owners[o];
		add_hit_n(out, 0, merge, ow->kind, ow->index, field, (int)t->owner_count[o], ow->written);
		t->owner_count[o] = 0;
	}
	t->ntouched = 0;
}

/* Walk p[0, total), which holds the story's fields at off[f] (len[f]
 * bytes; none where len[f] is 0), in order and apart: report each match
 * against its own field's text, so word boundaries are the field's, then
 * end each field's scan. */
static void scan_report(struct topics *t, const unsigned char *p, size_t total, size_t padded,
			const size_t off[TOPICS_NFIELDS], const size_t len[TOPICS_NFIELDS], struct topics_result *out)
{
	size_t bound[AC_WALKS + 1];
	int w = scan_walk(t, p, total, padded, bound), f = 0;
	for (int k = 0; k < w; k++)
		for (size_t e = 0; e < t->nev[k]; e++) {
			size_t end = t->ev[k][e].end;
			if (k && end <= bound[k])
				continue;
			/* (a match ends inside a field: never past the last) */
			for (; f < TOPICS_NFIELDS - 1 && end > off[f] + len[f]; f++)
				if (len[f])
					scan_done(t, len[f], f, out);
			report(t, t->ev[k][e].state, p + off[f], len[f], end - off[f]);
		}
	for (; f < TOPICS_NFIELDS; f++)
		if (len[f])
			scan_done(t, len[f], f, out);
	scan_trim(t);
}

void topics_scan(struct topics *t, const char *norm, size_t len, int field,
		 struct topics_result *out)
{
	if (field < 0 || field >= TOPICS_NFIELDS || !norm)
		return;
	scan_prepare(t);
	/* the text as the only field, at 0 (the empty ones before it are
	 * passed at once; every match ends inside it) */
	size_t off[TOPICS_NFIELDS] = {0}, lens[TOPICS_NFIELDS] = {0};
	lens[field] = len;
	scan_report(t, (const unsigned char *)norm, len, 0, off, lens, out);
}

/* A story's text fields (norm[f], len[f]; none where len[f] is 0) as
 * topics_scan() of each would find them, in one walk over all of them
 * joined by NUL bytes. Most fields are short, too short to split among
 * interleaved walks; joined, they share them (classifying a story shaped
 * like sample 001: ~31 us against ~33 us, best of many rounds). No pattern
 * holds a NUL, so every walk is back at the root after one and no match
 * spans two fields. */
static void scan_fields(struct topics *t, char *const norm[TOPICS_NFIELDS], const size_t len[TOPICS_NFIELDS],
			struct topics_result *out)
{
	scan_prepare(t);
	struct sbuf *j = &t->joined;
	size_t off[TOPICS_NFIELDS];
	sbuf_reset(j);
	for (int f = 0; f < TOPICS_NFIELDS; f++) {
		off[f] = j->len;
		if (len[f])
			sbuf_add(j, norm[f], len[f]);
		sbuf_addc(j, 0);
	}
	/* NUL bytes after the text, for the vector walk (scan_walk_simd) */
	size_t total = j->len, pad = 4 * AC_VLANES;
	for (size_t i = 0; i < pad; i++)
		sbuf_addc(j, 0);
	scan_report(t, (const unsigned char *)j->s, total, pad, off, len, out);
	if (j->cap > 65536) /* not kept after a huge story */
		sbuf_free(j);
}

/* ---- classification ---- */

/* One tag side: the tag map first, else any exact topic/entity name. */
static int tag_lookup(const struct topics *t, const char *text, int *kind, size_t *index,
		      const char **pattern)
{
	if (!text || !*text)
		return -1;
	char *norm = normalise_str(t->norm, text);
	int rc = -1;
	for (size_t i = 0; i < t->ntags && rc < 0; i++) {
		if (!strcmp(t->tags[i].norm, norm)) {
			*kind = TOPICS_TOPIC;
			*index = (size_t)t->tags[i].topic;
			*pattern = t->tags[i].written;
			rc = 0;
		}
	}
	if (rc < 0 && *norm)
		rc = resolve_norm(t, norm, 0, kind, index, pattern);
	free(norm);
	return rc;
}

int topics_classify(struct topics *t, const struct story *s, struct topics_result *out)
{
	return topics_classify_keep(t, s, out, NULL, NULL);
}

int topics_classify_keep(struct topics *t, const struct story *s, struct topics_result *out,
			 char *norm_out[TOPICS_NFIELDS], size_t len_out[TOPICS_NFIELDS])
{
	memset(out, 0, sizeof *out);
	struct sbuf *raw = &t->raw; /* grown once, not for every story */
	char *norm[TOPICS_NFIELDS] = {0};
	size_t len[TOPICS_NFIELDS] = {0};
	for (int f = 0; f < TOPICS_NFIELDS; f++) {
		if (f == TOPICS_F_TAGS)
			continue;
		sbuf_reset(raw);
		story_field_text(s, f, raw);
		if (raw->len)
			norm[f] = normalise_text(t->norm, raw->s, raw->len, &len[f]);
		if (!len[f]) { /* nothing left once normalised: no scan, as for no text */
			free(norm[f]);
			norm[f] = NULL;
		}
	}
	if (raw->cap > 65536) /* not kept after a huge story */
		sbuf_free(raw);
	scan_fields(t, norm, len, out);
	for (int f = 0; f < TOPICS_NFIELDS; f++) {
		if (norm_out)
			norm_out[f] = norm[f], len_out[f] = len[f];
		else
			free(norm[f]);
	}
	/* Tag rows merge only with tag rows, which all come after the text
	 * fields' (a story has ~100 of those to pass over per tag). */
	size_t tag_rows = out->nhits;
	for (size_t i = 0; i < s->ntags; i++) {
		int k1 = -1, k2 = -1;
		size_t i1 = 0, i2 = 0;
		const char *p1 = NULL, *p2 = NULL;
		if (tag_lookup(t, s->tags[i].en, &k1, &i1, &p1) == 0)
			add_hit_n(out, tag_rows, out->nhits, k1, (int)i1, TOPICS_F_TAGS, 1, p1);
		/* Both sides of a pair usually say the same: count the pair once. */
		if (tag_lookup(t, s->tags[i].zh, &k2, &i2, &p2) == 0 && (k2 != k1 || i2 != i1))
			add_hit_n(out, tag_rows, out->nhits, k2, (int)i2, TOPICS_F_TAGS, 1, p2);
	}
	topics_decide(t, out);
	return 0;
}

int topics_score(const struct topics *t, const struct topics_result *r, int kind, int index)
{
	int score = 0;
	for (size_t i = 0; i < r->nhits; i++) {
		const struct topics_hit *h = &r->hits[i];
		if (h->kind == kind && h->index == index)
			score += t->weights[h->field] * h->count;
	}
	return score;
}

struct scored {
	int index, score;
};

static int cmp_scored(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

void topics_decide(const struct topics *t, struct topics_result *r)
{
	free(r->topic_idx);
	free(r->entity_idx);
	free(r->keyword_ids);
	r->topic_idx = r->entity_idx = r->keyword_ids = NULL;
	r->ntopics = r->nentities = r->nkeywords = 0;

	int *scores[2];
	for (int k = 0; k < 2; k++)
		scores[k] = xcalloc(t->nentries[k] + 1, sizeof *scores[k]);
	int *kw = xmalloc((r->nhits + 1) * sizeof *kw);
	size_t nkw = 0;
	for (size_t i = 0; i < r->nhits; i++) {
		const struct topics_hit *h = &r->hits[i];
		if (h->kind == TOPICS_KEYWORD)
			kw[nkw++] = h->index;
		else if ((h->kind == TOPICS_TOPIC || h->kind == TOPICS_ENTITY) && h->index >= 0 &&
			 (size_t)h->index < t->nentries[h->kind])
			scores[h->kind][h->index] += t->weights[h->field] * h->count;
	}
	int **lists[2] = {&r->topic_idx, &r->entity_idx};
	size_t *counts[2] = {&r->ntopics, &r->nentities};
	for (int k = 0; k < 2; k++) {
		struct scored *in = xmalloc((t->nentries[k] + 1) * sizeof *in);
		size_t n = 0;
		/* A digest story touches many subjects in passing: besides the
		 * absolute threshold, keep only what carries a fair share of the
		 * story's main subject, so a rule on "robotics" does not fire on
		 * every long analysis that mentions a robot twice. */
		int best = 0;
		for (size_t i = 0; i < t->nentries[k]; i++)
			if (scores[k][i] > best)
				best = scores[k][i];
		long floor_rel = ((long)best * t->relative + 99) / 100;
		for (size_t i = 0; i < t->nentries[k]; i++)
			if (scores[k][i] > 0 && scores[k][i] >= t->threshold && scores[k][i] >= floor_rel)
				in[n++] = (struct scored){(int)i, scores[k][i]};
		qsort(in, n, sizeof *in, cmp_scored);
		int *v = xmalloc((n + 1) * sizeof *v);
		for (size_t i = 0; i < n; i++)
			v[i] = in[i].index;
		free(in);
		*lists[k] = v;
		*counts[k] = n;
		free(scores[k]);
	}
	qsort(kw, nkw, sizeof *kw, cmp_int);
	size_t u = 0;
	for (size_t i = 0; i < nkw; i++)
		if (!u || kw[u - 1] != kw[i])
			kw[u++] = kw[i];
	r->keyword_ids = kw;
	r->nkeywords = u;
}

void topics_apply(const struct topics *t, const struct topics_result *r, struct story *s)
{
	strv_free(&s->topics);
	strv_free(&s->entities);
	for (size_t i = 0; i < r->ntopics; i++)
		strv_push(&s->topics, t->entries[TOPICS_TOPIC][r->topic_idx[i]].pub.id);
	for (size_t i = 0; i < r->nentities; i++)
		strv_push(&s->entities, t->entries[TOPICS_ENTITY][r->entity_idx[i]].pub.id);
}

void topics_result_free(struct topics_result *r)
{
	if (!r)
		return;
	free(r->hits);
	free(r->topic_idx);
	free(r->entity_idx);
	free(r->keyword_ids);
	memset(r, 0, sizeof *r);
}

/* ---- evidence ---- */

struct ev {
	const char *pattern;
	int count;
	unsigned fields; /* bit per TOPICS_F_* */
	size_t first;    /* first hit row, for a stable order */
};

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->first > y->first) - (x->first < y->first);
}

char *topics_evidence(const struct topics *t, const struct topics_result *r, int kind, int index)
{
	struct sbuf b = {0};
	if (kind == TOPICS_KEYWORD) {
		const char *k = topics_keyword(t, index);
		sbuf_adds(&b, k ? k : "?");
	} else {
		const struct topics_entry *e = topics_get(t, kind, (size_t)index);
		sbuf_adds(&b, e ? e->id : "?");
	}
	sbuf_adds(&b, ":");
	struct ev *ev = xmalloc((r->nhits + 1) * sizeof *ev);
	size_t n = 0;
	for (size_t i = 0; i < r->nhits; i++) {
		const struct topics_hit *h = &r->hits[i];
		if (h->kind != kind || h->index != index)
			continue;
		size_t j = 0;
		while (j < n && strcmp(ev[j].pattern, h->pattern))
			j++;
		if (j == n)
			ev[n++] = (struct ev){h->pattern, 0, 0, i};
		ev[j].count += h->count;
		ev[j].fields |= 1u << h->field;
	}
	qsort(ev, n, sizeof *ev, cmp_ev);
	if (!n)
		sbuf_adds(&b, " no match");
	for (size_t j = 0; j < n; j++) {
		sbuf_addf(&b, "%s %s\xC3\x97%d (", j ? "," : "", ev[j].pattern, ev[j].count);
		const char *sep = "";
		for (int f = 0; f < TOPICS_NFIELDS; f++) {
			if (ev[j].fields & (1u << f)) {
				sbuf_addf(&b, "%s%s", sep, topics_field_name[f]);
				sep = ", ";
			}
		}
		sbuf_adds(&b, ")");
	}
	free(ev);
	return sbuf_take(&b);
}

/* ---- accounting ---- */

size_t topics_memory(const struct topics *t)
{
	const struct ac *a = &t->ac;
	size_t m = sizeof *t;
	if (a->d16) {
		m += (size_t)a->nstates * 128 * sizeof(uint16_t);
		m += (size_t)a->nstates * sizeof(uint32_t) + (a->nstates + 1) * sizeof(uint32_t);
	} else if (a->edge_start) {
		m += (size_t)a->ndense * a->nclass * sizeof(uint32_t);
		m += (size_t)a->nstates * (2 * sizeof(uint32_t)) + 2 * (a->nstates + 1) * sizeof(uint32_t);
		m += (size_t)a->edge_start[a->nstates] * (sizeof(uint16_t) + sizeof(uint32_t));
	}
	if (a->out_start) /* built (it is built before the first scan) */
		m += (size_t)a->out_start[a->nstates] * sizeof(uint32_t);
	m += t->pats_cap * sizeof *t->pats + t->owners_cap * sizeof *t->owners;
	for (size_t i = 0; i < t->npats; i++)
		m += t->pats[i].len + 1;
	m += t->kws_cap * sizeof *t->kws;
	for (size_t i = 0; i < t->nkws; i++)
		m += strlen(t->kws[i].norm) + 1;
	m += (t->patmap.cap + t->namemap.cap) * sizeof(struct smap_slot);
	m += t->strings.cap * sizeof(char *);
	for (size_t i = 0; i < t->strings.n; i++)
		m += strlen(t->strings.v[i]) + 1;
	for (int k = 0; k < 2; k++) {
		m += t->nentries[k] * sizeof(struct entry);
		for (size_t i = 0; i < t->nentries[k]; i++)
			m += t->entries[k][i].npats * sizeof(int);
	}
	m += t->scratch_cap * sizeof *t->scratch;
	m += t->count_cap * (sizeof *t->owner_count + sizeof *t->touched);
	return m;
}

void topics_automaton_stats(struct topics *t, size_t *states, size_t *dense, size_t *classes)
{
	if (t->stale)
		ac_build(t);
	if (states)
		*states = t->ac.nstates;
	if (dense)
		*dense = t->ac.ndense;
	if (classes)
		*classes = t->ac.nclass;
}

void topics_set_dense_budget(struct topics *t, size_t bytes)
{
	if (t->dense_budget == bytes)
		return;
	t->dense_budget = bytes;
	t->stale = 1; /* rebuilt before the next scan */
}
