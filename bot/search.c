/* search — the full-text index (see search.h for what it promises).
 *
 * Why not FTS5: SQLite's FTS5 spends ~400 ns per token of an 11 KB
 * bilingual story even with detail=none, ~0.6 ms per story in all; this
 * index spends a few tens of microseconds, because it stores what a news
 * search needs and nothing more: terms (word hashes, character pairs) and
 * document ids.
 *
 * On disk (tables made by the store's migrations):
 *   search_seg(seg, level, min_doc, max_doc, ndocs, nterms, nbytes, dir)
 *     one immutable segment; dir is the first term of each chunk, 8 bytes
 *     little-endian per chunk.
 *   search_chunk(id = seg << 20 | chunk number, data)
 *     entries sorted by term, each:
 *       varint term - previous term in the chunk (the first: 0, its term is
 *              the chunk's dir entry)
 *       varint ndocs, varint first doc - seg.min_doc, varint last - first,
 *       varint tail length, tail: the gaps between the following docs.
 *     Keeping first and last apart lets a merge concatenate posting lists
 *     without decoding them.
 *   search_dead(doc): superseded documents, dropped by the next merge of
 *     the segment that holds them.
 *
 * In memory: the pending documents' distinct terms, one 64-bit key each
 * (term over the document's offset), appended in document order and
 * sorted at flush (by the top byte, then each bucket grouped by term).
 */
#define _GNU_SOURCE
#include "search.h"

#include "util.h"

#include <sqlite3.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_FANOUT 16
#define SEARCH_CHUNK 16384
#define SEARCH_CHUNK_BITS 20
#define SEARCH_DOC_BITS 9
_Static_assert(SEARCH_DOC_BITS >= 1 && SEARCH_DOC_BITS <= 9, "a key is a 55-bit term and the document's offset");
#define SEARCH_PEND_DOCS (1 << SEARCH_DOC_BITS)
#define SEARCH_DOC_MASK ((uint64_t)SEARCH_PEND_DOCS - 1)

/* ---- hashing and units ------------------------------------------------------ */

enum { U_WORD = 1, U_CJK = 2 };

/* Terms are 55 bits, so that with a pending document's offset (up to 9
 * bits) they pack into one 64-bit key. Two kinds, told apart by the top
 * bit:
 *   a word: a 54-bit hash with bit 40 set (over millions of distinct words
 *     the chance of two colliding stays around 1e-4); the terms below
 *     2^40 are classes (term_class());
 *   a CJK pair: a character and the next one in its run, or 0 when it ends
 *     the run, both exactly (21 bits each; see term_pair()). Every
 *     character of a run starts one pair, so the documents holding a
 *     character are the union of one contiguous range of terms
 *     (term_pair(c, 0) .. term_pair(c, CP_MAX)), and no term of its own is
 *     needed for it. The first character goes through a bijective scramble
 *     so pairs spread over the sort buckets.
 * Both are part of the on-disk format. limit is the end of the buffer s
 * lies in: a word's last partial block is read with one load when 8 bytes
 * are there to read. */
#define TERM_PAIR (1ULL << 54)
#define TERM_WORD_MIN (1ULL << 40) /* words have this bit set; classes are below */
#define CP_MAX 0x1FFFFFu
static inline uint64_t term_word(const unsigned char *s, size_t n, const unsigned char *limit)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4FULL);
	while (n >= 8) {
		h = fmix64(h ^ load64le(s));
		s += 8;
		n -= 8;
	}
	uint64_t v = 0;
	if (n && limit - s >= 8) {
		v = load64le(s) & (~0ULL >> (64 - 8 * n));
	} else {
		for (size_t i = 0; i < n; i++)
			v |= (uint64_t)s[i] << (8 * i);
	}
	return fmix64(h ^ v ^ 0x5A17000000000000ULL) >> 10 | TERM_WORD_MIN; /* 54 bits */
}

/* A bijection on 21 bits: multiplications by odd numbers and a shift. */
static inline uint64_t cp_scramble(uint32_t c)
{
	c = (c * 0x9E3B5u) & CP_MAX;
	c ^= c >> 11;
	return (c * 0x5D1A7u) & CP_MAX;
}

/* b: the next character, 0 at the end of the run. The scrambled first
 * character's top 12 bits lead (they pick the sort bucket), then all 21 of
 * them, then the second character: a range's neighbours differ by small
 * numbers, which keeps their delta-coded terms short. */
static inline uint64_t term_pair(uint32_t a, uint32_t b)
{
	uint64_t s = cp_scramble(a);
	return TERM_PAIR | (s >> 9) << 42 | s << 21 | (b & CP_MAX);
}

/* The common case first: CJK Unified Ideographs. */
static inline int cjk(uint32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) || is_cjk(cp);
}

/* Word characters beyond ASCII: letters of other scripts (accented Latin,
 * Cyrillic...), not CJK, punctuation, symbols or full-width forms. */
static int word_cp(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
	if (is_cjk(cp))
		return 0;
	if (cp >= 0x2000 && cp <= 0x2BFF)
		return 0;
	if (cp >= 0x3000 && cp <= 0x303F)
		return 0;
	if (cp >= 0xFF00 && cp <= 0xFFEF)
		return 0;
	if (cp == 0xFFFD || cp == 0xA0 || (cp >= 0x80 && cp < 0xC0))
		return 0;
	return 1;
}

static const uint8_t ascii_word[128] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
	['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
	['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
	['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

/* Decode one UTF-8 sequence at p (< end). Malformed bytes decode as U+FFFD,
 * one byte at a time; never reads at or past end. */
static inline int dec(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
	unsigned c = p[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xE0 && c < 0xF0 && end - p >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
		uint32_t v = (c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
		*cp = v >= 0x800 && (v < 0xD800 || v > 0xDFFF) ? v : 0xFFFD;
		return 3;
	}
	int n = utf8_decode((const char *)p, (size_t)(end - p), cp);
	return n > 0 ? n : 1;
}

struct unit {
	uint64_t h;    /* U_WORD: the word's term */
	uint32_t cp;   /* U_CJK: the character */
	uint8_t kind;  /* U_WORD, U_CJK */
	uint8_t joined; /* U_CJK right after another CJK character */
};

struct units {
	const unsigned char *p, *end;
	int prev_cjk;
};

static void units_init(struct units *it, const char *text, size_t len)
{
	it->p = (const unsigned char *)text;
	it->end = it->p + len;
	it->prev_cjk = 0;
}

#ifdef __SSE2__
/* Of the 16 bytes at p, those that are not ASCII letters or digits (bytes
 * from 0x80 included), one bit each. Unsigned ranges by subtracting the
 * range's start and comparing with min(). */
static inline __attribute__((always_inline)) unsigned nonword16(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i l = _mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a'));
	__m128i d = _mm_sub_epi8(x, _mm_set1_epi8('0'));
	__m128i word = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(25)), l),
				    _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d));
	return ~(unsigned)_mm_movemask_epi8(word) & 0xFFFFu;
}
#endif

/* The end of the word going on at p: letters and digits, ASCII or not. */
/* Inlined by force: called as a function (GCC's choice once the SSE2 part
 * was in) it costs more than the part saves. */
static inline __attribute__((always_inline)) const unsigned char *word_end(const unsigned char *p,
									   const unsigned char *end)
{
#ifdef __SSE2__
	/* ASCII words sixteen bytes at a time (English words mostly end in
	 * the first sixteen: one load, no branch per letter); a non-ASCII
	 * byte goes on in the loop below, which decodes it. */
	while (end - p >= 16) {
		unsigned m = nonword16(p);
		if (!m) {
			p += 16;
			continue;
		}
		p += __builtin_ctz(m);
		if (*p < 0x80)
			return p;
		break;
	}
#endif
	while (p < end) {
		if (*p < 0x80) {
			if (!ascii_word[*p])
				break;
			p++;
			continue;
		}
		uint32_t cp;
		int n = dec(p, end, &cp);
		if (!word_cp(cp))
			break;
		p += n;
	}
	return p;
}

/* A word unit spanning [p, e). */
static inline int unit_word(struct units *it, struct unit *u, const unsigned char *p,
			    const unsigned char *e)
{
	u->kind = U_WORD;
	u->h = term_word(p, (size_t)(e - p), it->end);
	u->joined = 0;
	it->prev_cjk = 0;
	it->p = e;
	return 1;
}

static int units_next(struct units *it, struct unit *u)
{
	const unsigned char *p = it->p, *end = it->end;
	while (p < end) {
		unsigned c = *p;
		if (c < 0x80) {
			if (ascii_word[c])
				return unit_word(it, u, p, word_end(p + 1, end));
			p++;
			it->prev_cjk = 0;
			continue;
		}
		uint32_t cp;
		int n = dec(p, end, &cp);
		if (cjk(cp)) {
			u->kind = U_CJK;
			u->cp = cp;
			u->joined = (uint8_t)it->prev_cjk;
			it->prev_cjk = 1;
			it->p = p + n;
			return 1;
		}
		if (word_cp(cp))
			return unit_word(it, u, p, word_end(p + n, end));
		p += n;
		it->prev_cjk = 0;
	}
	it->p = p;
	return 0;
}

/* All units of text[0, len) into *out (owned; NULL when none). */
static size_t units_collect(const char *text, size_t len, struct unit **out)
{
	struct units it;
	struct unit u;
	size_t n = 0, cap = 0;
	*out = NULL;
	units_init(&it, text, len);
	while (units_next(&it, &u)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			*out = xrealloc(*out, cap * sizeof **out);
		}
		(*out)[n++] = u;
	}
	return n;
}

/* ---- varints ---------------------------------------------------------------- */

static inline size_t put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* 0 ok (*v set, *p advanced), -1 truncated or too long. */
static int get_varint_long(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Most varints of an entry are one byte: that case inline. */
static inline int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	if (*p < end && **p < 0x80) {
		*v = *(*p)++;
		return 0;
	}
	return get_varint_long(p, end, v);
}

struct buf {
	uint8_t *v;
	size_t len, cap;
};

static void buf_grow(struct buf *b, size_t more)
{
	b->cap = (b->len + more) * 2 + 64;
	b->v = xrealloc(b->v, b->cap);
}

static inline void buf_need(struct buf *b, size_t more)
{
	if (b->len + more > b->cap)
		buf_grow(b, more);
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	buf_need(b, n);
	memcpy(b->v + b->len, p, n);
	b->len += n;
}

static inline void buf_varint(struct buf *b, uint64_t v)
{
	buf_need(b, 10);
	b->len += put_varint(b->v + b->len, v);
}

/* ---- the index object ---------------------------------------------------------- */

/* Pending (term, document) pairs, packed in 64 bits: the term over the
 * document's offset from the first pending one, so sorting the keys sorts
 * by term, then document. Appended in document order, to one of 256
 * parts by the key's top byte (the first pass of the sort, done as the
 * keys arrive). */
#define SEARCH_PARTS 256
struct part {
	uint64_t *v, *tail, *end; /* pairs [v, tail), room up to end */
};

/* A document repeats its common terms many times; a direct-mapped cache
 * of the terms seen in this document drops most repeats before they cost
 * a pending pair, without a branch per term. Entries carry the document's
 * generation, so nothing needs clearing between documents; repeats the
 * cache misses are dropped when the flush groups the sorted pairs. */
#define SEARCH_SEEN_BITS 11
#define SEARCH_SEEN (1 << SEARCH_SEEN_BITS)
struct tset {
	uint64_t key[SEARCH_SEEN];
	uint64_t gen;
};

struct held;
struct seginfo {
	int64_t seg, min_doc, max_doc, ndocs, nterms, nbytes;
	int level;
	const uint64_t *dir; /* borrowed from the dir cache (or the held segment) */
	size_t ndir;
	const struct held *mem; /* a held segment (seg 0), or NULL: one in the database */
};

/* A segment held in memory (search_hold()): its chunks one after another,
 * chunk i at data[off[i], off[i + 1]). */
struct held {
	struct seginfo info;
	uint8_t *data;
	size_t *off;
	uint64_t *dir;
};

struct dircache {
	int64_t seg;
	uint64_t *dir;
	size_t n;
	int used;
};

struct plist {
	int64_t *v;
	size_t n, cap;
};

enum {
	S_SEGS,
	S_SEG_DIR,
	S_SEG_NEW,
	S_SEG_DONE,
	S_SEG_DEL,
	S_CHUNK_GET,
	S_CHUNK_PUT,
	S_CHUNK_DEL,
	S_DEAD_ADD,
	S_DEAD_RANGE,
	S_DEAD_DEL,
	S_DEAD_DEL1,
	S_SEG_GET,
	S_SEG_LEVEL,
	S_JOB_GET,
	S_JOB_NEW,
	S_JOB_SET,
	S_JOB_DEL,
	S_CLAIM_GET,
	S_CLAIM_SET,
	S_CLAIM_DEL,
	S_NSTMT
};

static const char *const stmt_sql[S_NSTMT] = {
	/* level -1: the output of a merge in steps, not done yet */
	[S_SEGS] = "SELECT seg, level, min_doc, max_doc, ndocs, nterms, nbytes FROM search_seg WHERE level >= 0"
		   " ORDER BY min_doc",
	[S_SEG_DIR] = "SELECT dir FROM search_seg WHERE seg = ?1",
	[S_SEG_NEW] = "INSERT INTO search_seg(level, min_doc, max_doc, ndocs, nterms, nbytes, dir)"
		      " VALUES(?1, ?2, ?3, ?4, 0, 0, x'')",
	[S_SEG_DONE] = "UPDATE search_seg SET nterms = ?2, nbytes = ?3, dir = ?4 WHERE seg = ?1",
	[S_SEG_DEL] = "DELETE FROM search_seg WHERE seg = ?1",
	[S_CHUNK_GET] = "SELECT data FROM search_chunk WHERE id = ?1",
	[S_CHUNK_PUT] = "INSERT INTO search_chunk(id, data) VALUES(?1, ?2)",
	[S_CHUNK_DEL] = "DELETE FROM search_chunk WHERE id >= ?1 AND id < ?2",
	[S_DEAD_ADD] = "INSERT OR IGNORE INTO search_dead(doc) VALUES(?1)",
	[S_DEAD_RANGE] = "SELECT doc FROM search_dead WHERE doc >= ?1 AND doc <= ?2 ORDER BY doc",
	[S_DEAD_DEL] = "DELETE FROM search_dead WHERE doc >= ?1 AND doc <= ?2",
	[S_DEAD_DEL1] = "DELETE FROM search_dead WHERE doc = ?1",
	[S_SEG_GET] = "SELECT min_doc, nterms, nbytes, dir FROM search_seg WHERE seg = ?1",
	[S_SEG_LEVEL] = "UPDATE search_seg SET level = ?2 WHERE seg = ?1",
	[S_JOB_GET] = "SELECT out_seg, inputs, dead, next_term FROM search_merge ORDER BY out_seg LIMIT 1",
	[S_JOB_NEW] = "INSERT INTO search_merge(out_seg, inputs, dead, next_term) VALUES(?1, ?2, ?3, 0)",
	[S_JOB_SET] = "UPDATE search_merge SET next_term = ?2 WHERE out_seg = ?1",
	[S_JOB_DEL] = "DELETE FROM search_merge WHERE out_seg = ?1",
	/* the documents a bulk ingest holds the segments of (search_hold()) */
	[S_CLAIM_GET] = "SELECT value FROM meta WHERE key = 'search_held'",
	[S_CLAIM_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES('search_held', ?1)",
	[S_CLAIM_DEL] = "DELETE FROM meta WHERE key = 'search_held'",
};

/* A slot of the table that groups one bucket's keys by term; slots of
 * another generation are empty. */
struct gslot {
	uint64_t term;
	uint32_t gen;
	uint32_t n; /* the bucket's keys with the term; then where the next goes */
};

struct search {
	sqlite3 *db;
	sqlite3_stmt *st[S_NSTMT];
	/* pending documents */
	struct part pend[SEARCH_PARTS];
	struct tset seen;
	int64_t pend_base, pend_last;
	size_t pend_docs;
	/* scratch */
	uint64_t *sorted; /* a part's pending keys in order, at flush */
	size_t sorted_cap;
	struct group {
		struct gslot *slot;
		size_t nslot;
		uint32_t gen;
		uint32_t *at;    /* per key of a bucket: its term's slot */
		uint64_t *terms; /* a bucket's distinct terms */
		size_t cap;
		size_t last_d; /* the last bucket's distinct terms */
	} group;
	struct buf tail, chunk;
	struct dircache *dc;
	size_t ndc, capdc;
	struct seginfo *segs;
	size_t nsegs, capsegs;
	struct plist *lists;
	size_t nlists;
	uint64_t *rbits; /* a range query's bitmap */
	size_t rbits_cap;
	struct plist rlist; /* a range query's other terms' documents, one at a time */
	int64_t merges, merge_steps;
	/* segments held in memory (search_hold()), oldest first */
	struct held **held;
	size_t nheld, capheld;
	int hold;        /* flushes make held segments */
	int hold_dirty;  /* held segments changed since the last commit */
	int hold_lost;   /* dropped with a rolled-back transaction */
	int claim_set;   /* this connection's claim row is in the database */
	int claim_seen;  /* a merge met another process's claim */
	int recovering;  /* flushes may go before newer segments (search_recovering()) */
	int64_t merge_budget; /* input entries per merge step; 0: whole merges */
};

static void group_free(struct group *g);
static void held_free_all(struct search *s);

static sqlite3_stmt *stmt(struct search *s, int id)
{
	if (!s->st[id]) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL) !=
		    SQLITE_OK)
			return NULL;
	} else {
		sqlite3_reset(s->st[id]);
		sqlite3_clear_bindings(s->st[id]);
	}
	return s->st[id];
}

/* Step a statement that returns no rows. */
static int step_done(sqlite3_stmt *q)
{
	if (!q)
		return -1;
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

struct search *search_new(sqlite3 *db)
{
	struct search *s = xcalloc(1, sizeof *s);
	s->db = db;
	return s;
}

static void dircache_clear(struct search *s)
{
	for (size_t i = 0; i < s->ndc; i++)
		free(s->dc[i].dir);
	s->ndc = 0;
}

void search_free(struct search *s)
{
	if (!s)
		return;
	for (int i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(s->st[i]);
	for (int b = 0; b < SEARCH_PARTS; b++)
		free(s->pend[b].v);
	held_free_all(s);
	free(s->held);
	free(s->sorted);
	group_free(&s->group);
	free(s->tail.v);
	free(s->chunk.v);
	dircache_clear(s);
	free(s->dc);
	free(s->segs);
	for (size_t i = 0; i < s->nlists; i++)
		free(s->lists[i].v);
	free(s->lists);
	free(s->rbits);
	free(s->rlist.v);
	free(s);
}

/* ---- adding documents ------------------------------------------------------------ */

static void part_grow(struct part *p)
{
	size_t n = (size_t)(p->tail - p->v), cap = (size_t)(p->end - p->v);
	cap = cap ? cap * 2 : 64;
	p->v = xrealloc(p->v, cap * sizeof *p->v);
	p->tail = p->v + n;
	p->end = p->v + cap;
}

/* Append the pair unless fresh is 0 (the store happens either way: no
 * branch on whether a term repeats, which no predictor could guess).
 * The 256 parts' tails are 256 write streams into ~6 MB, more than the
 * hardware prefetchers follow: each store that opens a new cache line
 * waited for it. The line after the tail's is asked for ahead (for
 * writing; past the end it is only a hint): measured in the pipeline,
 * ~5% of search_add()'s cycles less (an rdtsc count against
 * classification's as the yardstick, 9 interleaved runs; the same with
 * 128 parts, or two lines ahead, in 15 more: no better), and -3.3 us of
 * CPU a story over 50 interleaved whole-pipeline runs. */
static inline void part_add(struct search *s, uint64_t term, uint64_t off, unsigned fresh)
{
	struct part *p = &s->pend[term >> (55 - 8)]; /* the key's top byte */
	if (p->tail == p->end)
		part_grow(p);
	*p->tail = term << SEARCH_DOC_BITS | off;
	__builtin_prefetch((const void *)((uintptr_t)p->tail + 64), 1, 3); /* an address, never dereferenced */
	p->tail += fresh;
}

static inline void add_term(struct search *s, uint64_t term, uint64_t off)
{
	/* A multiplicative hash, its top bits for the slot: a pair term's
	 * low bits are only its second character. */
	uint64_t m = term * 0x9E3779B97F4A7C15ULL, tagged = m + s->seen.gen;
	uint64_t *slot = &s->seen.key[m >> (64 - SEARCH_SEEN_BITS)];
	unsigned repeat = *slot == tagged;
	*slot = tagged;
	part_add(s, term, off, !repeat);
}

int search_add(struct search *s, int64_t doc, const char *const *texts, const size_t *lens, int n)
{
	if (s->pend_docs && doc <= s->pend_last)
		return -1; /* out of order: never from the store, which allocates growing ids */
	if (s->pend_docs && doc - s->pend_base >= SEARCH_PEND_DOCS) {
		int rc = search_flush(s);
		if (rc)
			return rc;
	}
	if (!s->pend_docs)
		s->pend_base = doc;
	s->pend_last = doc;
	s->pend_docs++;
	uint64_t off = (uint64_t)(doc - s->pend_base);
	s->seen.gen += 0xD1B54A32D192ED03ULL; /* odd: a new tag for every document */
	/* units_next() inlined by hand: this loop is most of ingest's search
	 * indexing cost. The units and terms must stay the ones it makes. A
	 * CJK character becomes a pair term once the next unit is known. */
	for (int f = 0; f < n; f++) {
		if (!texts[f])
			continue;
		const unsigned char *p = (const unsigned char *)texts[f];
		const unsigned char *end = p + (lens ? lens[f] : strlen(texts[f]));
		uint32_t prev = 0; /* the run's last character so far; 0: not in a run */
		while (p < end) {
			unsigned c = *p;
			if (c < 0x80) {
				if (prev) {
					add_term(s, term_pair(prev, 0), off);
					prev = 0;
				}
				if (ascii_word[c]) {
					const unsigned char *e = word_end(p + 1, end);
					add_term(s, term_word(p, (size_t)(e - p), end), off);
					p = e;
				} else {
					p++;
				}
				continue;
			}
			uint32_t cp;
			int k;
			if (c >= 0xE4 && c <= 0xE9 && end - p >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
			    (cp = (c & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F)) >= 0x4E00) {
				k = 3; /* the common ideographs */
			} else {
				k = dec(p, end, &cp);
				if (!cjk(cp)) {
					if (prev) {
						add_term(s, term_pair(prev, 0), off);
						prev = 0;
					}
					if (word_cp(cp)) {
						const unsigned char *e = word_end(p + k, end);
						add_term(s, term_word(p, (size_t)(e - p), end), off);
						p = e;
					} else {
						p += k;
					}
					continue;
				}
			}
			if (prev)
				add_term(s, term_pair(prev, cp), off);
			p += k;
			/* The rest of a run of common ideographs, in a loop of its
			 * own: most Chinese text is long runs of them. */
			while (end - p >= 3 && (unsigned)(p[0] - 0xE4) <= 5) {
				unsigned x1 = p[1] ^ 0x80u, x2 = p[2] ^ 0x80u;
				uint32_t next = (p[0] & 0x0Fu) << 12 | x1 << 6 | x2;
				if ((x1 | x2) > 0x3F || next < 0x4E00)
					break;
				add_term(s, term_pair(cp, next), off);
				cp = next;
				p += 3;
			}
			prev = cp;
		}
		if (prev)
			add_term(s, term_pair(prev, 0), off);
	}
	return 0;
}

/* A class ("topic:compute") as a term: a 40-bit hash, below every word
 * (see TERM_WORD_MIN), so a segment's classes are its first entries and a
 * class is found after reading a few dozen entries, not half a chunk.
 * Part of the on-disk format. */
static uint64_t term_class(const char *name, size_t len)
{
	return fmix64(hash64_fast(name, len, 0xC1A55E5C1A55E5C1ULL)) >> 24;
}

int search_add_class(struct search *s, int64_t doc, const char *name, size_t len)
{
	if (!s->pend_docs || doc != s->pend_last)
		return -1;
	add_term(s, term_class(name, len), (uint64_t)(doc - s->pend_base));
	return 0;
}

size_t search_pending(const struct search *s)
{
	return s->pend_docs;
}

/* Forget the pending documents (written, or their transaction gone). */
static void pending_reset(struct search *s)
{
	/* Bulk ingest keeps its buffers for the next batch; a daemon storing a
	 * story now and then does not keep ~0.5 MB of them while it idles. */
	int keep = s->pend_docs >= 32;
	for (int b = 0; b < SEARCH_PARTS; b++) {
		struct part *pt = &s->pend[b];
		pt->tail = pt->v;
		if (!keep || pt->end - pt->v > (1 << 16)) {
			free(pt->v);
			pt->v = pt->tail = pt->end = NULL;
		}
	}
	if (!keep || s->sorted_cap > (1 << 16)) {
		free(s->sorted);
		s->sorted = NULL;
		s->sorted_cap = 0;
	}
	if (!keep || s->group.nslot > 65536)
		group_free(&s->group);
	s->pend_docs = 0;
}

void search_discard(struct search *s)
{
	pending_reset(s);
	/* Held segments made or merged in the rolled-back transaction: what
	 * the database holds no longer matches them. All go, holding stops,
	 * and the claim (as last committed) leaves their documents to a
	 * recovery (search.h). */
	if (s->hold && s->hold_dirty) {
		held_free_all(s);
		s->hold = 0;
		s->hold_dirty = 0;
		s->hold_lost = 1;
		s->claim_set = 0;
	}
}

/* ---- segments: list, directory cache ------------------------------------------------ */

static int level_of(int64_t ndocs)
{
	int l = 0;
	while (ndocs >= SEARCH_FANOUT) {
		ndocs /= SEARCH_FANOUT;
		l++;
	}
	return l;
}

static const struct dircache *dir_get(struct search *s, int64_t seg)
{
	for (size_t i = 0; i < s->ndc; i++)
		if (s->dc[i].seg == seg) {
			s->dc[i].used = 1;
			return &s->dc[i];
		}
	sqlite3_stmt *q = stmt(s, S_SEG_DIR);
	if (!q)
		return NULL;
	sqlite3_bind_int64(q, 1, seg);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_reset(q);
		return NULL;
	}
	const unsigned char *b = sqlite3_column_blob(q, 0);
	size_t nb = (size_t)sqlite3_column_bytes(q, 0), n = nb / 8;
	uint64_t *dir = xmalloc((n ? n : 1) * sizeof *dir);
	for (size_t i = 0; i < n; i++)
		dir[i] = load64le(b + 8 * i);
	sqlite3_reset(q);
	if (s->ndc == s->capdc) {
		s->capdc = s->capdc ? s->capdc * 2 : 16;
		s->dc = xrealloc(s->dc, s->capdc * sizeof *s->dc);
	}
	s->dc[s->ndc] = (struct dircache){seg, dir, n, 1};
	return &s->dc[s->ndc++];
}

/* Room in s->segs for one more. */
static void segs_room(struct search *s)
{
	if (s->nsegs == s->capsegs) {
		s->capsegs = s->capsegs ? s->capsegs * 2 : 16;
		s->segs = xrealloc(s->segs, s->capsegs * sizeof *s->segs);
	}
}

/* Load every segment, oldest documents first, into s->segs (with their
 * directories). Directories of segments gone since are dropped. */
static int segs_load(struct search *s)
{
	s->nsegs = 0;
	for (size_t i = 0; i < s->ndc; i++)
		s->dc[i].used = 0;
	sqlite3_stmt *q = stmt(s, S_SEGS);
	if (!q)
		return -1;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		segs_room(s);
		struct seginfo *g = &s->segs[s->nsegs++];
		memset(g, 0, sizeof *g);
		g->seg = sqlite3_column_int64(q, 0);
		g->level = sqlite3_column_int(q, 1);
		g->min_doc = sqlite3_column_int64(q, 2);
		g->max_doc = sqlite3_column_int64(q, 3);
		g->ndocs = sqlite3_column_int64(q, 4);
		g->nterms = sqlite3_column_int64(q, 5);
		g->nbytes = sqlite3_column_int64(q, 6);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return -1;
	for (size_t i = 0; i < s->nsegs; i++) {
		const struct dircache *d = dir_get(s, s->segs[i].seg);
		if (!d)
			return -1;
		s->segs[i].dir = d->dir;
		s->segs[i].ndir = d->n;
	}
	/* Segment ids are never reused (AUTOINCREMENT), so a cached directory
	 * is valid for as long as its segment exists; the arrays themselves
	 * stay put when the cache compacts. */
	size_t k = 0;
	for (size_t i = 0; i < s->ndc; i++) {
		if (s->dc[i].used)
			s->dc[k++] = s->dc[i];
		else
			free(s->dc[i].dir);
	}
	s->ndc = k;
	return 0;
}

/* segs_load(), and the held segments (search_hold()) in their places:
 * what queries read. */
static int segs_view(struct search *s)
{
	if (segs_load(s))
		return -1;
	for (size_t i = 0; i < s->nheld; i++) {
		segs_room(s);
		/* by first document: another process's segments may be newer */
		size_t j = s->nsegs++;
		for (; j > 0 && s->segs[j - 1].min_doc > s->held[i]->info.min_doc; j--)
			s->segs[j] = s->segs[j - 1];
		s->segs[j] = s->held[i]->info;
	}
	return 0;
}

/* ---- writing a segment ---------------------------------------------------------------- */

struct segw {
	struct search *s;
	int64_t seg, min_doc;
	struct buf dir;
	uint64_t first, prev;
	size_t entries; /* in the current chunk */
	int64_t nterms, nbytes;
	int rc;
	struct held *mem; /* writing a held segment: chunks to memory */
	size_t noff, capoff;
	struct buf data;
};

/* An empty writer, the chunk buffer empty. */
static void segw_init(struct segw *w, struct search *s)
{
	memset(w, 0, sizeof *w);
	w->s = s;
	s->chunk.len = 0;
}

static int segw_begin(struct segw *w, struct search *s, int level, int64_t min_doc, int64_t max_doc,
		      int64_t ndocs)
{
	segw_init(w, s);
	w->min_doc = min_doc;
	sqlite3_stmt *q = stmt(s, S_SEG_NEW);
	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, level);
	sqlite3_bind_int64(q, 2, min_doc);
	sqlite3_bind_int64(q, 3, max_doc);
	sqlite3_bind_int64(q, 4, ndocs);
	if (step_done(q))
		return -1;
	w->seg = sqlite3_last_insert_rowid(s->db);
	return 0;
}

/* A held segment (search_hold()) of level with these documents: its
 * chunks go to memory, nothing to the database. */
static void segw_begin_mem(struct segw *w, struct search *s, struct held *h, int level, int64_t min_doc,
			   int64_t max_doc, int64_t ndocs)
{
	segw_init(w, s);
	w->min_doc = min_doc;
	w->mem = h;
	h->info = (struct seginfo){.level = level, .min_doc = min_doc, .max_doc = max_doc, .ndocs = ndocs};
}

static void segw_flush_chunk(struct segw *w)
{
	struct search *s = w->s;
	if (w->rc || !w->entries)
		return;
	size_t idx = w->dir.len / 8;
	if (idx >= (1u << SEARCH_CHUNK_BITS)) {
		w->rc = -1;
		return;
	}
	if (w->mem) {
		if (w->noff + 2 > w->capoff) {
			w->capoff = w->capoff ? 2 * w->capoff : 64;
			w->mem->off = xrealloc(w->mem->off, w->capoff * sizeof *w->mem->off);
		}
		if (!w->noff)
			w->mem->off[w->noff++] = 0;
		buf_add(&w->data, s->chunk.v, s->chunk.len);
		w->mem->off[w->noff++] = w->data.len;
		goto done;
	}
	sqlite3_stmt *q = stmt(s, S_CHUNK_PUT);
	if (!q) {
		w->rc = -1;
		return;
	}
	sqlite3_bind_int64(q, 1, (w->seg << SEARCH_CHUNK_BITS) | (int64_t)idx);
	sqlite3_bind_blob(q, 2, s->chunk.v, (int)s->chunk.len, SQLITE_STATIC);
	if (step_done(q)) {
		w->rc = -1;
		return;
	}
done:;
	uint8_t le[8];
	store64le(le, w->first);
	buf_add(&w->dir, le, 8);
	w->nbytes += (int64_t)s->chunk.len;
	s->chunk.len = 0;
	w->entries = 0;
}

/* One entry; docs are absolute, the tail is the gap varints after first. */
static void segw_entry(struct segw *w, uint64_t term, uint64_t ndocs, int64_t first, int64_t last,
		       const uint8_t *tail, size_t tail_len)
{
	struct buf *c = &w->s->chunk;
	if (w->rc)
		return;
	if (w->entries && c->len + 50 + tail_len > SEARCH_CHUNK)
		segw_flush_chunk(w);
	if (!w->entries)
		w->first = w->prev = term;
	buf_need(c, 50 + tail_len);
	uint8_t *o = c->v + c->len;
	o += put_varint(o, term - w->prev);
	o += put_varint(o, ndocs);
	o += put_varint(o, (uint64_t)(first - w->min_doc));
	o += put_varint(o, (uint64_t)(last - first));
	o += put_varint(o, tail_len);
	if (tail_len)
		memcpy(o, tail, tail_len);
	c->len = (size_t)(o - c->v) + tail_len;
	w->prev = term;
	w->entries++;
	w->nterms++;
	if (c->len >= SEARCH_CHUNK)
		segw_flush_chunk(w);
}

static int segw_end(struct segw *w)
{
	segw_flush_chunk(w);
	struct search *s = w->s;
	if (w->mem) {
		struct held *h = w->mem;
		size_t n = w->dir.len / 8;
		h->dir = xmalloc((n ? n : 1) * sizeof *h->dir);
		for (size_t i = 0; i < n; i++)
			h->dir[i] = load64le(w->dir.v + 8 * i);
		h->data = w->data.v;
		w->data.v = NULL;
		h->info.nterms = w->nterms;
		h->info.nbytes = w->nbytes;
		h->info.dir = h->dir;
		h->info.ndir = n;
		h->info.mem = h;
	} else if (!w->rc) {
		sqlite3_stmt *q = stmt(s, S_SEG_DONE);
		if (!q)
			w->rc = -1;
		else {
			sqlite3_bind_int64(q, 1, w->seg);
			sqlite3_bind_int64(q, 2, w->nterms);
			sqlite3_bind_int64(q, 3, w->nbytes);
			sqlite3_bind_blob(q, 4, w->dir.v ? (const void *)w->dir.v : "", (int)w->dir.len, SQLITE_STATIC);
			if (step_done(q))
				w->rc = -1;
		}
	}
	free(w->dir.v);
	w->dir.v = NULL;
	free(w->data.v);
	w->data.v = NULL;
	if (s->chunk.cap > 4 * SEARCH_CHUNK) { /* after one huge entry */
		free(s->chunk.v);
		memset(&s->chunk, 0, sizeof s->chunk);
	}
	return w->rc;
}

/* ---- reading a segment -------------------------------------------------------------------- */

struct segr {
	struct search *s;
	const struct seginfo *g;
	size_t next_chunk;
	struct buf data;
	const uint8_t *p, *end;
	/* the current entry */
	uint64_t term, ndocs;
	int64_t first, last; /* absolute */
	const uint8_t *tail;
	size_t tail_len;
};

static int segr_load(struct segr *r, size_t idx)
{
	if (r->g->mem) {
		const struct held *h = r->g->mem;
		r->p = h->data + h->off[idx];
		r->end = h->data + h->off[idx + 1];
		r->term = r->g->dir[idx];
		return 0;
	}
	sqlite3_stmt *q = stmt(r->s, S_CHUNK_GET);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, (r->g->seg << SEARCH_CHUNK_BITS) | (int64_t)idx);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_reset(q);
		return -1;
	}
	r->data.len = 0;
	buf_add(&r->data, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0));
	sqlite3_reset(q);
	r->p = r->data.v;
	r->end = r->data.v + r->data.len;
	r->term = r->g->dir[idx];
	return 0;
}

/* 1 an entry, 0 the end, -1 an error (unreadable or corrupt). */
static int segr_next(struct segr *r)
{
	while (r->p == r->end) {
		if (r->next_chunk >= r->g->ndir)
			return 0;
		if (segr_load(r, r->next_chunk++))
			return -1;
	}
	uint64_t d, first, span, tl;
	if (get_varint(&r->p, r->end, &d) || get_varint(&r->p, r->end, &r->ndocs) ||
	    get_varint(&r->p, r->end, &first) || get_varint(&r->p, r->end, &span) ||
	    get_varint(&r->p, r->end, &tl) || tl > (uint64_t)(r->end - r->p) || r->ndocs == 0)
		return -1;
	r->term += d;
	r->first = r->g->min_doc + (int64_t)first;
	r->last = r->first + (int64_t)span;
	r->tail = r->p;
	r->tail_len = (size_t)tl;
	r->p += tl;
	return 1;
}

static void segr_open(struct segr *r, struct search *s, const struct seginfo *g)
{
	memset(r, 0, sizeof *r);
	r->s = s;
	r->g = g;
}

static void segr_close(struct segr *r)
{
	free(r->data.v);
	r->data.v = NULL;
}

/* The last chunk of g whose first term is <= term (g->dir[0] <= term). */
static size_t dir_chunk(const struct seginfo *g, uint64_t term)
{
	size_t lo = 0, hi = g->ndir;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (g->dir[mid] <= term)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Find term in segment g: 1 with the reader on its entry, 0 absent, -1 error. */
static int segr_find(struct segr *r, uint64_t term)
{
	const struct seginfo *g = r->g;
	if (!g->ndir || term < g->dir[0])
		return 0;
	if (segr_load(r, dir_chunk(g, term)))
		return -1;
	r->next_chunk = g->ndir; /* stay in this chunk */
	int rc;
	while ((rc = segr_next(r)) == 1) {
		if (r->term == term)
			return 1;
		if (r->term > term)
			return 0;
	}
	return rc;
}

/* Decode the current entry's documents (ascending) into l. */
static int segr_docs(const struct segr *r, struct plist *l)
{
	if (r->ndocs > (uint64_t)SIZE_MAX / sizeof(int64_t) / 2 || r->ndocs > r->tail_len + 1)
		return -1;
	if (l->cap < r->ndocs) {
		l->cap = (size_t)r->ndocs + 16;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	const uint8_t *p = r->tail, *end = r->tail + r->tail_len;
	int64_t d = r->first;
	l->v[0] = d;
	for (size_t i = 1; i < r->ndocs; i++) {
		uint64_t g;
		if (get_varint(&p, end, &g) || g == 0)
			return -1;
		d += (int64_t)g;
		l->v[i] = d;
	}
	l->n = (size_t)r->ndocs;
	return d == r->last && p == end ? 0 : -1;
}

/* The documents of term in r's segment into l: 1, 0 (absent), -1 error. */
static int segr_term_docs(struct segr *r, uint64_t term, struct plist *l)
{
	int f = segr_find(r, term);
	return f == 1 && segr_docs(r, l) ? -1 : f;
}

/* Set the bits of l's documents, counted from base. */
static void bits_add(uint64_t *bits, const struct plist *l, int64_t base)
{
	for (size_t i = 0; i < l->n; i++) {
		uint64_t d = (uint64_t)(l->v[i] - base);
		bits[d >> 6] |= 1ULL << (d & 63);
	}
}

/* The documents (ascending, each once) of every term in [lo, hi] into l:
 * 1 some, 0 none, -1 error. Lists of more than one term are merged in a
 * bitmap over the segment's documents, so a common character (hundreds of
 * pairs) costs one pass over its postings and a small bitmap. */
static int segr_range(struct segr *r, uint64_t lo, uint64_t hi, struct plist *l)
{
	const struct seginfo *g = r->g;
	l->n = 0;
	if (!g->ndir || hi < g->dir[0])
		return 0;
	size_t a = dir_chunk(g, lo); /* 0 when lo is before the first */
	if (segr_load(r, a))
		return -1;
	r->next_chunk = a + 1;
	struct search *s = r->s;
	uint64_t *bits = NULL;
	size_t nterms = 0;
	int64_t span = g->max_doc - g->min_doc + 1;
	int rc;
	while ((rc = segr_next(r)) == 1 && r->term <= hi) {
		if (r->term < lo)
			continue;
		if (r->first < g->min_doc || r->last > g->max_doc || r->last < r->first)
			return -1;
		if (nterms++ == 0) { /* the first term's list, as it is */
			if (segr_docs(r, l))
				return -1;
			continue;
		}
		if (segr_docs(r, &s->rlist))
			return -1;
		if (!bits) {
			size_t words = (size_t)(span + 63) / 64;
			if (s->rbits_cap < words) {
				free(s->rbits);
				s->rbits = xmalloc(words * sizeof *s->rbits);
				s->rbits_cap = words;
			}
			bits = s->rbits;
			memset(bits, 0, words * sizeof *bits);
			bits_add(bits, l, g->min_doc);
		}
		bits_add(bits, &s->rlist, g->min_doc);
	}
	if (rc < 0)
		return -1;
	if (bits) {
		size_t n = 0, words = (size_t)(span + 63) / 64;
		for (size_t w = 0; w < words; w++)
			n += (size_t)__builtin_popcountll(bits[w]);
		if (l->cap < n) {
			l->cap = n + 16;
			l->v = xrealloc(l->v, l->cap * sizeof *l->v);
		}
		n = 0;
		for (size_t w = 0; w < words; w++)
			for (uint64_t x = bits[w]; x; x &= x - 1)
				l->v[n++] = g->min_doc + (int64_t)(w * 64 + (size_t)__builtin_ctzll(x));
		l->n = n;
		if (s->rbits_cap > 65536) { /* not kept after a query over a huge segment */
			free(s->rbits);
			s->rbits = NULL;
			s->rbits_cap = 0;
		}
		if (s->rlist.cap > 65536) {
			free(s->rlist.v);
			memset(&s->rlist, 0, sizeof s->rlist);
		}
	}
	return nterms ? 1 : 0;
}

/* ---- flush: pending documents -> a new segment ------------------------------------------- */

static void insertion_sort(uint64_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint64_t x = v[i];
		size_t j = i;
		while (j > 0 && v[j - 1] > x) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* Sort distinct keys: quicksort (median of three, the smaller side
 * first), insertion sort below 16. A bucket's terms are ~200 values whose
 * leading bytes are often shared (a character's pairs), which made a
 * byte-wise radix sort recurse for a handful of keys at a time. The
 * partition is Lomuto's without a branch on the comparison: hashed terms
 * are random, so that branch was mispredicted half the time (measured:
 * the flush's grouping 21.2 -> 18.8 cycles a key, 12 interleaved runs). */
static void quick_sort(uint64_t *v, size_t n)
{
	while (n > 16) {
		size_t mid = n / 2;
		uint64_t t;
#define SORT2(a, b) if (v[b] < v[a]) t = v[a], v[a] = v[b], v[b] = t
		SORT2(0, mid);
		SORT2(mid, n - 1);
		SORT2(0, mid);
#undef SORT2
		/* the median of the three to the end, the rest partitioned */
		t = v[mid], v[mid] = v[n - 1], v[n - 1] = t;
		uint64_t pivot = v[n - 1];
		size_t i = 0;
		for (size_t j = 0; j < n - 1; j++) {
			uint64_t x = v[j];
			size_t lt = x < pivot;
			v[j] = v[i];
			v[i] = x;
			i += lt;
		}
		v[n - 1] = v[i], v[i] = pivot; /* [0, i) < pivot = v[i] < (i, n) */
		size_t left = i, right = n - i - 1;
		if (left < right) {
			quick_sort(v, left);
			v += i + 1, n = right;
		} else {
			quick_sort(v + i + 1, right);
			n = left;
		}
	}
	insertion_sort(v, n);
}

static void group_free(struct group *g)
{
	free(g->slot);
	free(g->at);
	free(g->terms);
	memset(g, 0, sizeof *g);
}

static inline size_t gslot_find(const struct gslot *slot, size_t mask, uint32_t gen, uint64_t term)
{
	size_t k = (size_t)((term * 0x9E3779B97F4A7C15ULL) >> 32) & mask; /* see add_term() */
	while (slot[k].gen == gen && slot[k].term != term)
		k = (k + 1) & mask;
	return k;
}

/* Order one bucket's m keys (in, in document order) by term into out,
 * each term's keys keeping their order: count the distinct terms in a
 * table small enough to stay in cache, sort only them, then place every
 * key after the keys of the terms before its own. */
static void group_bucket(struct group *g, const uint64_t *in, uint64_t *out, size_t m)
{
	/* A table for the distinct terms expected, four times the last
	 * bucket's (~200 of ~3,100 keys at sample-001 size), not for all m
	 * keys: ~1,024 slots (16 KB) instead of 8,192 (128 KB), in L1
	 * (measured: ~28 -> ~25 cycles a key). Should it fill to half, it is
	 * done again at twice the keys. */
	size_t nslot = 64, want = 4 * g->last_d;
	if (!want || want > 2 * m)
		want = 2 * m;
	while (nslot < want)
		nslot *= 2;
	for (;;) {
		if (g->nslot < nslot) {
			free(g->slot);
			g->slot = xcalloc(nslot, sizeof *g->slot);
			g->nslot = nslot;
			g->gen = 0;
		}
		if (g->cap < m) {
			free(g->at);
			free(g->terms);
			g->cap = m + m / 2;
			g->at = xmalloc(g->cap * sizeof *g->at);
			g->terms = xmalloc(g->cap * sizeof *g->terms);
		}
		if (++g->gen == 0) { /* wrapped: every slot empty again */
			memset(g->slot, 0, g->nslot * sizeof *g->slot);
			g->gen = 1;
		}
		struct gslot *slot = g->slot;
		uint32_t gen = g->gen, *at = g->at;
		size_t mask = nslot - 1, d = 0, full = nslot / 2, i = 0;
		uint64_t *terms = g->terms;
		for (; i < m; i++) {
			uint64_t t = in[i] >> SEARCH_DOC_BITS;
			size_t k = gslot_find(slot, mask, gen, t);
			if (slot[k].gen != gen) {
				if (d == full)
					break;
				slot[k] = (struct gslot){t, gen, 0};
				terms[d++] = t << SEARCH_DOC_BITS;
			}
			slot[k].n++;
			at[i] = (uint32_t)k;
		}
		if (i < m) { /* more distinct terms than expected */
			while (nslot < 2 * m)
				nslot *= 2;
			continue;
		}
		g->last_d = d;
		quick_sort(terms, d);
		uint32_t pos = 0;
		for (size_t r = 0; r < d; r++) {
			struct gslot *e = &slot[gslot_find(slot, mask, gen, terms[r] >> SEARCH_DOC_BITS)];
			uint32_t n = e->n;
			e->n = pos;
			pos += n;
		}
		for (i = 0; i < m; i++)
			out[slot[at[i]].n++] = in[i];
		return;
	}
}

/* Part b's keys in order into s->sorted; returns how many. A part is a
 * top byte's bucket, grouped by term (group_bucket); a key's documents
 * were appended in order, so grouping stably sorts. The flush takes one
 * part at a time, so the sorted keys are a part's ~25 KB, still in cache
 * when they are written out, not a second copy of all ~6 MB. */
static size_t sort_part(struct search *s, int b)
{
	const struct part *p = &s->pend[b];
	size_t m = (size_t)(p->tail - p->v);
	if (s->sorted_cap < m) {
		free(s->sorted);
		s->sorted_cap = m + m / 2;
		s->sorted = xmalloc(s->sorted_cap * sizeof *s->sorted);
	}
	if (m <= 32) {
		if (m)
			memcpy(s->sorted, p->v, m * sizeof *s->sorted);
		insertion_sort(s->sorted, m);
	} else {
		group_bucket(&s->group, p->v, s->sorted, m);
	}
	return m;
}

/* The np keys sort_part() left in s->sorted (documents from base) as
 * segment entries: a term's documents as gaps, varint coded. */
static void write_sorted(struct search *s, struct segw *w, int64_t base, size_t np)
{
	const uint64_t *v = s->sorted;
	for (size_t i = 0; i < np && !w->rc;) {
		/* Sorted: the term's keys are the ones up to its last possible one. */
		uint64_t prev = v[i], last_key = prev | SEARCH_DOC_MASK, ndocs = 1;
		uint8_t *o = s->tail.v;
		size_t j = i + 1;
		for (; j < np && v[j] <= last_key; j++) {
			uint64_t gap = v[j] - prev;
			if (!gap) /* a repeat the seen-cache missed */
				continue;
			if (gap < 0x80) {
				*o++ = (uint8_t)gap;
			} else {
				o[0] = (uint8_t)(gap | 0x80);
				o[1] = (uint8_t)(gap >> 7);
				o += 2;
			}
			ndocs++;
			prev = v[j];
		}
		s->tail.len = (size_t)(o - s->tail.v);
		segw_entry(w, v[i] >> SEARCH_DOC_BITS, ndocs, base + (int64_t)(v[i] & SEARCH_DOC_MASK),
			   base + (int64_t)(prev & SEARCH_DOC_MASK), s->tail.v, s->tail.len);
		i = j;
	}
}

static int merge_due(struct search *s);

/* The pending documents, sorted, into w. */
static void write_pending(struct search *s, struct segw *w)
{
	/* A term's tail is at most two varint bytes per other document. */
	buf_need(&s->tail, 2 * SEARCH_PEND_DOCS);
	/* A term's keys are all in one part: the parts in order, each
	 * sorted, are all the keys sorted. */
	for (int b = 0; b < SEARCH_PARTS && !w->rc; b++)
		write_sorted(s, w, s->pend_base, sort_part(s, b));
}

static int hold_flush(struct search *s);

int search_flush(struct search *s)
{
	if (!s->pend_docs)
		return 0;
	if (segs_load(s))
		return -1;
	/* Ordered, disjoint ranges, which merges rely on: the pending
	 * documents come after every segment, or (a recovery) at least
	 * overlap none. */
	int bad = 0;
	for (size_t i = s->nsegs; i-- > 0 && !bad;) {
		const struct seginfo *g = &s->segs[i];
		bad = s->recovering ? g->min_doc <= s->pend_last && g->max_doc >= s->pend_base
				    : g->max_doc >= s->pend_base;
		if (!s->recovering)
			break;
	}
	if (bad) {
		pending_reset(s);
		return -2;
	}
	if (s->hold)
		return hold_flush(s);
	struct segw w;
	int64_t base = s->pend_base;
	int rc = segw_begin(&w, s, level_of((int64_t)s->pend_docs), base, s->pend_last, (int64_t)s->pend_docs);
	if (!rc)
		write_pending(s, &w);
	if (!rc)
		rc = segw_end(&w);
	else
		free(w.dir.v);
	pending_reset(s);
	return rc ? rc : merge_due(s);
}

/* ---- merging ---------------------------------------------------------------------------- */

static int load_dead(struct search *s, int64_t lo, int64_t hi, struct plist *dead)
{
	dead->n = 0;
	sqlite3_stmt *q = stmt(s, S_DEAD_RANGE);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, lo);
	sqlite3_bind_int64(q, 2, hi);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (dead->n == dead->cap) {
			dead->cap = dead->cap ? dead->cap * 2 : 64;
			dead->v = xrealloc(dead->v, dead->cap * sizeof *dead->v);
		}
		dead->v[dead->n++] = sqlite3_column_int64(q, 0);
	}
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Is doc in the ascending list l? */
static int plist_has(const struct plist *l, int64_t doc)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (l->v[mid] < doc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->n && l->v[lo] == doc;
}

static int seg_delete(struct search *s, int64_t seg)
{
	sqlite3_stmt *q = stmt(s, S_CHUNK_DEL);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, seg << SEARCH_CHUNK_BITS);
	sqlite3_bind_int64(q, 2, (seg + 1) << SEARCH_CHUNK_BITS);
	if (step_done(q))
		return -1;
	q = stmt(s, S_SEG_DEL);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, seg);
	return step_done(q);
}

/* Position reader r at its first entry whose term is from or more; its
 * term in *head, UINT64_MAX when there is none. */
static int merge_seek(struct segr *r, uint64_t from, uint64_t *head)
{
	if (from && r->g->ndir)
		r->next_chunk = dir_chunk(r->g, from);
	int rc;
	while ((rc = segr_next(r)) == 1 && r->term < from)
		;
	*head = rc == 1 ? r->term : UINT64_MAX;
	return rc < 0 ? -1 : 0;
}

/* The reader's next entry: its term in *head, UINT64_MAX at the end. */
static int merge_next(struct segr *r, uint64_t *head)
{
	int rc = segr_next(r);
	*head = rc == 1 ? r->term : UINT64_MAX;
	return rc < 0 ? -1 : 0;
}

/* Merge the k segments' entries from term `from` on into w, dropping the
 * dead documents, until about `budget` input entries are read (at a term
 * boundary; 0: all of them). *next: the first term not merged yet,
 * UINT64_MAX when all are. */
static int merge_terms(struct search *s, const struct seginfo *in, size_t k, const struct plist *dead,
		       struct segw *w, uint64_t from, int64_t budget, uint64_t *next)
{
	struct segr *r = xcalloc(k, sizeof *r);
	/* each reader's current term; UINT64_MAX (above every term) once it
	 * is done: the smallest is found in one tight pass */
	uint64_t *head = xcalloc(k, sizeof *head);
	struct plist docs = {0};
	int64_t read = 0;
	uint64_t t = UINT64_MAX;
	int rc = 0;
	for (size_t i = 0; i < k && !rc; i++) {
		segr_open(&r[i], s, &in[i]);
		rc = merge_seek(&r[i], from, &head[i]);
	}
	while (!rc && !w->rc) {
		t = UINT64_MAX;
		for (size_t i = 0; i < k; i++)
			t = head[i] < t ? head[i] : t;
		if (t == UINT64_MAX || (budget > 0 && read >= budget))
			break;
		s->tail.len = 0;
		uint64_t n = 0;
		int64_t first = -1, last = -1;
		for (size_t i = 0; i < k && !rc; i++) {
			if (head[i] != t)
				continue;
			read++;
			if (!dead->n) { /* concatenate without decoding */
				if (first < 0)
					first = r[i].first;
				else
					buf_varint(&s->tail, (uint64_t)(r[i].first - last));
				buf_add(&s->tail, r[i].tail, r[i].tail_len);
				last = r[i].last;
				n += r[i].ndocs;
			} else {
				if (segr_docs(&r[i], &docs)) {
					rc = -1;
					break;
				}
				for (size_t j = 0; j < docs.n; j++) {
					if (plist_has(dead, docs.v[j]))
						continue;
					if (first < 0)
						first = docs.v[j];
					else
						buf_varint(&s->tail, (uint64_t)(docs.v[j] - last));
					last = docs.v[j];
					n++;
				}
			}
			rc = merge_next(&r[i], &head[i]);
		}
		if (!rc && n)
			segw_entry(w, t, n, first, last, s->tail.v, s->tail.len);
	}
	*next = t;
	for (size_t i = 0; i < k; i++)
		segr_close(&r[i]);
	free(r);
	free(head);
	free(docs.v);
	return rc ? rc : w->rc;
}

/* The documents of k segments, superseded ones included. */
static int64_t segs_ndocs(const struct seginfo *in, size_t k)
{
	int64_t n = 0;
	for (size_t i = 0; i < k; i++)
		n += in[i].ndocs;
	return n;
}

/* Merge k segments (consecutive, oldest first) into one, in this commit. */
static int merge(struct search *s, const struct seginfo *in, size_t k)
{
	int64_t lo = in[0].min_doc, hi = in[k - 1].max_doc, ndocs = segs_ndocs(in, k);
	struct plist dead = {0};
	struct segw w = {0}; /* read on the error path even when segw_begin() never ran */
	uint64_t next;
	int rc = load_dead(s, lo, hi, &dead);
	if (!rc)
		rc = segw_begin(&w, s, level_of(ndocs - (int64_t)dead.n), lo, hi, ndocs - (int64_t)dead.n);
	if (!rc)
		rc = merge_terms(s, in, k, &dead, &w, 0, 0, &next);
	if (!rc)
		rc = segw_end(&w);
	else if (w.dir.v)
		free(w.dir.v);
	for (size_t i = 0; i < k && !rc; i++)
		if (!in[i].mem)
			rc = seg_delete(s, in[i].seg);
	if (!rc && dead.n) {
		sqlite3_stmt *q = stmt(s, S_DEAD_DEL);
		if (!q)
			rc = -1;
		else {
			sqlite3_bind_int64(q, 1, lo);
			sqlite3_bind_int64(q, 2, hi);
			rc = step_done(q);
		}
	}
	free(dead.v);
	s->merges++;
	return rc;
}

/* ---- held segments ---- */

static void held_free(struct held *h)
{
	if (!h)
		return;
	free(h->data);
	free(h->off);
	free(h->dir);
	free(h);
}

static void held_free_all(struct search *s)
{
	for (size_t i = 0; i < s->nheld; i++)
		held_free(s->held[i]);
	s->nheld = 0;
	if (s->capheld > 64) {
		free(s->held);
		s->held = NULL;
		s->capheld = 0;
	}
}

/* A held segment into the database as it is, through the writer that
 * writes flushed ones. */
static int held_write(struct search *s, const struct held *h)
{
	const struct seginfo *g = &h->info;
	struct segw w;
	if (segw_begin(&w, s, g->level, g->min_doc, g->max_doc, g->ndocs))
		return -1;
	/* each chunk as the writer's current one, its entries already
	 * encoded: segw_flush_chunk() stores it and its directory entry */
	for (size_t i = 0; i < g->ndir && !w.rc; i++) {
		s->chunk.len = 0;
		buf_add(&s->chunk, h->data + h->off[i], h->off[i + 1] - h->off[i]);
		w.first = g->dir[i];
		w.entries = 1;
		segw_flush_chunk(&w);
	}
	w.nterms = g->nterms;
	return segw_end(&w);
}

/* Every held segment into the database, as they are. */
static int held_persist(struct search *s)
{
	int rc = 0;
	for (size_t i = 0; i < s->nheld && !rc; i++)
		rc = held_write(s, s->held[i]);
	if (!rc && s->nheld) {
		held_free_all(s);
		s->hold_dirty = 1;
	}
	return rc;
}

/* The claim row: the documents of the held segments, or none. */
static int claim_update(struct search *s)
{
	sqlite3_stmt *q;
	if (s->nheld) {
		char v[64];
		snprintf(v, sizeof v, "%lld %lld", (long long)s->held[0]->info.min_doc,
			 (long long)s->held[s->nheld - 1]->info.max_doc);
		if (!(q = stmt(s, S_CLAIM_SET)))
			return -1;
		sqlite3_bind_text(q, 1, v, -1, SQLITE_TRANSIENT);
		if (step_done(q))
			return -1;
		s->claim_set = 1;
	} else if (s->claim_set) {
		if (!(q = stmt(s, S_CLAIM_DEL)) || step_done(q))
			return -1;
		s->claim_set = 0;
	}
	return 0;
}

int search_held_claim(struct search *s, int64_t *lo, int64_t *hi)
{
	sqlite3_stmt *q = stmt(s, S_CLAIM_GET);
	if (!q)
		return -1;
	int rc = sqlite3_step(q), found = 0;
	if (rc == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(q, 0);
		long long a, b;
		if (v && sscanf(v, "%lld %lld", &a, &b) == 2 && a <= b) {
			*lo = a;
			*hi = b;
			found = 1;
		} else {
			found = -2; /* not a claim this code wrote */
		}
	} else if (rc != SQLITE_DONE) {
		found = -1;
	}
	sqlite3_reset(q);
	return found;
}

int search_claim_clear(struct search *s)
{
	sqlite3_stmt *q = stmt(s, S_CLAIM_DEL);
	return q ? step_done(q) : -1;
}

/* search_flush() while holding: the pending documents become a held
 * segment; FANOUT of them merge into one segment in the database. */
static int hold_flush(struct search *s)
{
	int rc = 0;
	/* Another process wrote a segment since ours began (its documents
	 * are newer than every held one): ours go first, so ranges stay in
	 * order, and holding starts again after it. */
	if (s->nheld && s->nsegs && s->segs[s->nsegs - 1].max_doc > s->held[s->nheld - 1]->info.max_doc)
		rc = held_persist(s);
	struct held *h = xcalloc(1, sizeof *h);
	struct segw w;
	segw_begin_mem(&w, s, h, level_of((int64_t)s->pend_docs), s->pend_base, s->pend_last,
		       (int64_t)s->pend_docs);
	if (!rc) {
		write_pending(s, &w);
		rc = segw_end(&w);
	} else {
		free(w.dir.v);
	}
	pending_reset(s);
	if (rc) {
		held_free(h);
		return rc;
	}
	if (s->nheld == s->capheld) {
		s->capheld = s->capheld ? 2 * s->capheld : SEARCH_FANOUT;
		s->held = xrealloc(s->held, s->capheld * sizeof *s->held);
	}
	s->held[s->nheld++] = h;
	s->hold_dirty = 1;
	if (s->nheld >= SEARCH_FANOUT) {
		struct seginfo *in = xmalloc(s->nheld * sizeof *in);
		for (size_t i = 0; i < s->nheld; i++)
			in[i] = s->held[i]->info;
		rc = merge(s, in, s->nheld);
		free(in);
		if (!rc)
			held_free_all(s);
	}
	if (!rc)
		rc = claim_update(s);
	return rc ? rc : merge_due(s);
}

void search_hold(struct search *s, int on)
{
	if (on || !s->nheld)
		s->hold = on;
}

int search_holding(const struct search *s)
{
	return s->hold;
}

int search_hold_end(struct search *s)
{
	if (!s->hold)
		return 0;
	int rc = search_flush(s);
	if (!rc)
		rc = held_persist(s);
	if (!rc)
		rc = claim_update(s);
	if (rc)
		return rc;
	s->hold = 0;
	return merge_due(s);
}

void search_committed(struct search *s)
{
	s->hold_dirty = 0;
}

int search_hold_lost(struct search *s)
{
	int lost = s->hold_lost;
	s->hold_lost = 0;
	return lost;
}

int search_claim_seen(struct search *s)
{
	int seen = s->claim_seen;
	s->claim_seen = 0;
	return seen;
}

void search_recovering(struct search *s, int on)
{
	s->recovering = on;
}

/* ---- merges in steps ---- */

/* Segment ids or documents as a blob of little-endian 64-bit numbers. */
static void ids_blob(struct buf *b, const int64_t *v, size_t n)
{
	b->len = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t le[8];
		store64le(le, (uint64_t)v[i]);
		buf_add(b, le, 8);
	}
}

/* Start merging k segments in steps: the output segment (level -1, so no
 * query or merge sees it) and the job row; the first step is taken by
 * the caller. The dead documents of the range now are dropped by every
 * step, so their markers go when the merge is done; documents that die
 * meanwhile are dropped from the steps after that and keep their markers
 * for the next merge. */
static int merge_begin(struct search *s, const struct seginfo *in, size_t k)
{
	int64_t lo = in[0].min_doc, hi = in[k - 1].max_doc, ndocs = segs_ndocs(in, k);
	struct plist dead = {0};
	struct segw w = {0};
	int rc = load_dead(s, lo, hi, &dead);
	if (!rc)
		rc = segw_begin(&w, s, -1, lo, hi, ndocs - (int64_t)dead.n);
	if (!rc)
		rc = segw_end(&w); /* an empty directory so far */
	else if (w.dir.v)
		free(w.dir.v);
	sqlite3_stmt *q = rc ? NULL : stmt(s, S_JOB_NEW);
	if (!rc && !q)
		rc = -1;
	if (!rc) {
		struct buf ids = {0}, dd = {0};
		int64_t *segs = xmalloc(k * sizeof *segs);
		for (size_t i = 0; i < k; i++)
			segs[i] = in[i].seg;
		ids_blob(&ids, segs, k);
		ids_blob(&dd, dead.v, dead.n);
		sqlite3_bind_int64(q, 1, w.seg);
		sqlite3_bind_blob(q, 2, ids.v, (int)ids.len, SQLITE_TRANSIENT);
		sqlite3_bind_blob(q, 3, dd.v ? (const void *)dd.v : "", (int)dd.len, SQLITE_TRANSIENT);
		rc = step_done(q);
		free(segs);
		free(ids.v);
		free(dd.v);
	}
	free(dead.v);
	return rc;
}

static int job_drop(struct search *s, int64_t out)
{
	sqlite3_stmt *q = stmt(s, S_JOB_DEL);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, out);
	return step_done(q);
}

/* A job that cannot go on (its inputs or its output are not there: cannot
 * happen, they change in one transaction with the job row) is given up,
 * its half-made output with it, so no commit fails on it for ever; the
 * run is merged again once due. */
static int job_abandon(struct search *s, int64_t out)
{
	int rc = seg_delete(s, out);
	return rc ? rc : job_drop(s, out);
}

/* The job's output segment, to go on writing it. */
static int segw_resume(struct segw *w, struct search *s, int64_t seg)
{
	segw_init(w, s);
	w->seg = seg;
	sqlite3_stmt *q = stmt(s, S_SEG_GET);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, seg);
	if (sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_reset(q);
		return -1;
	}
	w->min_doc = sqlite3_column_int64(q, 0);
	w->nterms = sqlite3_column_int64(q, 1);
	w->nbytes = sqlite3_column_int64(q, 2);
	const void *dir = sqlite3_column_blob(q, 3);
	size_t n = (size_t)sqlite3_column_bytes(q, 3);
	if (n)
		buf_add(&w->dir, dir, n);
	sqlite3_reset(q);
	return n % 8 ? -1 : 0;
}

/* One step of the pending merge in steps, if there is one: *stepped 1.
 * Budget 0 takes all the rest at once (another process began it). */
static int merge_step(struct search *s, int *stepped)
{
	*stepped = 0;
	sqlite3_stmt *q = stmt(s, S_JOB_GET);
	if (!q)
		return -1;
	int rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	*stepped = 1;
	int64_t out = sqlite3_column_int64(q, 0);
	uint64_t from = (uint64_t)sqlite3_column_int64(q, 3);
	size_t k = (size_t)sqlite3_column_bytes(q, 1) / 8, ndead = (size_t)sqlite3_column_bytes(q, 2) / 8;
	int64_t *ids = xmalloc((k + 1) * sizeof *ids), *gone = xmalloc((ndead + 1) * sizeof *gone);
	const uint8_t *b1 = sqlite3_column_blob(q, 1), *b2 = sqlite3_column_blob(q, 2);
	for (size_t i = 0; i < k; i++)
		ids[i] = (int64_t)load64le(b1 + 8 * i);
	for (size_t i = 0; i < ndead; i++)
		gone[i] = (int64_t)load64le(b2 + 8 * i);
	sqlite3_reset(q);

	/* The inputs, oldest first, as the segment list has them. */
	struct seginfo *in = xcalloc(k + 1, sizeof *in);
	size_t found = 0;
	for (size_t i = 0; i < k; i++)
		for (size_t j = 0; j < s->nsegs; j++)
			if (s->segs[j].seg == ids[i])
				in[found++] = s->segs[j];
	struct plist dead = {0};
	struct segw w = {0};
	uint64_t next = UINT64_MAX;
	rc = 0;
	if (!k || found != k) {
		rc = job_abandon(s, out);
		goto done;
	}
	int64_t lo = in[0].min_doc, hi = in[k - 1].max_doc;
	rc = load_dead(s, lo, hi, &dead);
	if (rc)
		goto done;
	if (segw_resume(&w, s, out)) {
		free(w.dir.v);
		rc = job_abandon(s, out);
		goto done;
	}
	rc = merge_terms(s, in, k, &dead, &w, from, s->merge_budget, &next);
	if (!rc)
		rc = segw_end(&w);
	else if (w.dir.v)
		free(w.dir.v);
	if (rc)
		goto done;
	s->merge_steps++;
	if (next != UINT64_MAX) {
		q = stmt(s, S_JOB_SET);
		if (!q) {
			rc = -1;
			goto done;
		}
		sqlite3_bind_int64(q, 1, out);
		sqlite3_bind_int64(q, 2, (int64_t)next);
		rc = step_done(q);
		goto done;
	}
	/* The last step: the output replaces its inputs. */
	q = stmt(s, S_SEG_LEVEL);
	if (!q) {
		rc = -1;
		goto done;
	}
	sqlite3_bind_int64(q, 1, out);
	sqlite3_bind_int(q, 2, level_of(segs_ndocs(in, k) - (int64_t)ndead));
	rc = step_done(q);
	for (size_t i = 0; i < k && !rc; i++)
		rc = seg_delete(s, in[i].seg);
	for (size_t i = 0; i < ndead && !rc; i++) {
		q = stmt(s, S_DEAD_DEL1);
		if (!q)
			rc = -1;
		else {
			sqlite3_bind_int64(q, 1, gone[i]);
			rc = step_done(q);
		}
	}
	if (!rc)
		rc = job_drop(s, out);
	s->merges++;
done:
	free(ids);
	free(gone);
	free(in);
	free(dead.v);
	return rc;
}

/* Merge while some size class is full. A segment's class is its level
 * (log of its document count, base FANOUT), raised to the class of any
 * newer segment: a small segment older than a big one (a daemon's
 * one-story flush before a bulk batch) joins the big one's class, so it is
 * swept up instead of stranded. Classes then never grow from old to new,
 * each is a contiguous run, and a run of FANOUT or more is merged (the
 * newest such run first). A big segment is rewritten only when FANOUT of
 * its class have gathered, so each document is rewritten about once per
 * level, and a query sees at most about FANOUT segments per level.
 * With a merge budget, a merge of more input entries than the budget goes
 * in steps, one per flush (merge_step()); while one is under way no other
 * merge starts, so its inputs stay as they are. */
static int merge_due(struct search *s)
{
	for (;;) {
		if (segs_load(s))
			return -1;
		int stepped;
		int rc = merge_step(s, &stepped);
		if (rc || stepped)
			return rc;
		size_t n = s->nsegs, take = 0, end = 0;
		/* While a bulk ingest holds segments (search_hold()), no merge
		 * takes a segment newer than its documents: the held ones go
		 * between them when written. */
		int64_t clo, chi;
		int c = search_held_claim(s, &clo, &chi);
		if (c < 0)
			return -1;
		if (c) {
			while (n && s->segs[n - 1].max_doc >= clo)
				n--;
			if (n < s->nsegs && !s->hold)
				s->claim_seen = 1;
		}
		if (n < SEARCH_FANOUT)
			return 0;
		int cls = -1;
		size_t run = 0;
		for (size_t i = n; i-- > 0 && !take;) {
			int l = s->segs[i].level > cls ? s->segs[i].level : cls;
			if (l != cls) {
				if (run >= SEARCH_FANOUT)
					take = run, end = i + 1 + run;
				cls = l;
				run = 0;
			}
			run++;
		}
		if (!take && run >= SEARCH_FANOUT)
			take = run, end = run;
		if (!take)
			return 0;
		/* merge() reads directories through s->segs; copy the run first
		 * because merging reloads nothing until it is done. */
		struct seginfo *in = xmalloc(take * sizeof *in);
		memcpy(in, s->segs + end - take, take * sizeof *in);
		int64_t entries = 0;
		for (size_t i = 0; i < take; i++)
			entries += in[i].nterms;
		if (s->merge_budget > 0 && entries > s->merge_budget)
			rc = merge_begin(s, in, take); /* the loop takes its first step */
		else
			rc = merge(s, in, take);
		free(in);
		if (rc)
			return rc;
	}
}

void search_set_merge_budget(struct search *s, int64_t entries)
{
	s->merge_budget = entries > 0 ? entries : 0;
}

int search_dead(struct search *s, int64_t doc)
{
	sqlite3_stmt *q = stmt(s, S_DEAD_ADD);
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, doc);
	return step_done(q);
}

int search_clear(struct search *s)
{
	pending_reset(s);
	held_free_all(s);
	s->claim_set = 0;
	dircache_clear(s);
	s->nsegs = 0;
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, "DELETE FROM search_chunk; DELETE FROM search_seg; DELETE FROM search_dead;"
			      " DELETE FROM search_merge;", NULL, NULL, &msg);
	sqlite3_free(msg);
	return rc == SQLITE_OK ? search_claim_clear(s) : -1;
}

int search_stats(struct search *s, struct search_stats *out)
{
	memset(out, 0, sizeof *out);
	if (segs_view(s))
		return -1;
	for (size_t i = 0; i < s->nsegs; i++) {
		out->segments++;
		out->chunks += (int64_t)s->segs[i].ndir;
		out->bytes += s->segs[i].nbytes;
		out->docs += s->segs[i].ndocs;
	}
	out->merges = s->merges;
	out->merge_steps = s->merge_steps;
	return 0;
}

/* ---- queries ---------------------------------------------------------------------------- */

struct qword {
	struct unit *u;
	size_t n;
	int exact; /* one term says it all */
};

struct search_query {
	struct qword *w;
	size_t nw;
	uint64_t *terms; /* distinct, over all words */
	size_t nterms;
	int verify;
};

/* A query term with this bit is the range of pairs from the term to the
 * same character followed by CP_MAX. */
#define TERM_RANGE (1ULL << 63)

static void push_term(struct search_query *q, size_t *cap, uint64_t t)
{
	for (size_t i = 0; i < q->nterms; i++)
		if (q->terms[i] == t)
			return;
	if (q->nterms == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		q->terms = xrealloc(q->terms, *cap * sizeof *q->terms);
	}
	q->terms[q->nterms++] = t;
}

int search_query_compile(const char *text, struct search_query **out)
{
	*out = NULL;
	struct search_query *q = xcalloc(1, sizeof *q);
	size_t tcap = 0, wcap = 0;
	const char *p = text ? text : "";
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		if (p == w)
			continue;
		struct unit *uv;
		size_t n = units_collect(w, (size_t)(p - w), &uv);
		if (!n)
			continue;
		if (q->nw == wcap) {
			wcap = wcap ? wcap * 2 : 4;
			q->w = xrealloc(q->w, wcap * sizeof *q->w);
		}
		struct qword *qw = &q->w[q->nw++];
		qw->u = uv;
		qw->n = n;
		qw->exact = n == 1 || (n == 2 && uv[1].kind == U_CJK && uv[1].joined);
		if (!qw->exact)
			q->verify = 1;
		/* Terms: words; pairs inside CJK runs; for a lone CJK
		 * character, the range of pairs it starts. */
		for (size_t i = 0; i < n; i++) {
			if (uv[i].kind == U_WORD) {
				push_term(q, &tcap, uv[i].h);
				continue;
			}
			int next_joined = i + 1 < n && uv[i + 1].kind == U_CJK && uv[i + 1].joined;
			if (next_joined)
				push_term(q, &tcap, term_pair(uv[i].cp, uv[i + 1].cp));
			else if (!uv[i].joined)
				push_term(q, &tcap, TERM_RANGE | term_pair(uv[i].cp, 0));
		}
	}
	if (!q->nw) {
		search_query_free(q);
		return 0;
	}
	if (q->nterms > 64) /* only the first 64 narrow the candidates */
		q->verify = 1;
	*out = q;
	return (int)q->nw;
}

void search_query_free(struct search_query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nw; i++)
		free(q->w[i].u);
	free(q->w);
	free(q->terms);
	free(q);
}

int search_query_needs_verify(const struct search_query *q)
{
	return q && q->verify;
}

static struct plist *list_at(struct search *s, size_t i)
{
	if (i >= s->nlists) {
		s->lists = xrealloc(s->lists, (i + 1) * sizeof *s->lists);
		memset(s->lists + s->nlists, 0, (i + 1 - s->nlists) * sizeof *s->lists);
		s->nlists = i + 1;
	}
	return &s->lists[i];
}

/* Intersect the k ascending lists from the top: each common document,
 * newest first, goes to cb. */
static int intersect_desc(struct search *s, size_t k, int (*cb)(void *, int64_t), void *ud)
{
	size_t idx[64];
	if (k > 64)
		k = 64; /* more distinct terms than that only narrows less */
	for (size_t i = 0; i < k; i++) {
		if (!s->lists[i].n)
			return 0;
		idx[i] = s->lists[i].n - 1;
	}
	for (;;) {
		int64_t target = s->lists[0].v[idx[0]];
		for (size_t i = 1; i < k; i++)
			if (s->lists[i].v[idx[i]] < target)
				target = s->lists[i].v[idx[i]];
		int all = 1;
		for (size_t i = 0; i < k; i++) {
			const int64_t *v = s->lists[i].v;
			while (v[idx[i]] > target) {
				if (idx[i] == 0)
					return 0;
				idx[i]--;
			}
			if (v[idx[i]] != target)
				all = 0;
		}
		if (!all)
			continue;
		int rc = cb(ud, target);
		if (rc)
			return rc;
		for (size_t i = 0; i < k; i++) {
			if (idx[i] == 0)
				return 0;
			idx[i]--;
		}
	}
}

int search_query_run(struct search *s, const struct search_query *q, int (*cb)(void *ud, int64_t doc), void *ud)
{
	if (!q || !q->nterms)
		return 0;
	if (segs_view(s))
		return -1;
	size_t k = q->nterms > 64 ? 64 : q->nterms;
	struct segr r;
	int rc = 0;
	for (size_t si = s->nsegs; si-- > 0 && !rc;) {
		segr_open(&r, s, &s->segs[si]);
		size_t found = 0;
		for (size_t t = 0; t < k; t++) {
			uint64_t term = q->terms[t];
			uint64_t lo = term & ~TERM_RANGE;
			int f = term & TERM_RANGE ? segr_range(&r, lo, lo | CP_MAX, list_at(s, t))
						  : segr_term_docs(&r, term, list_at(s, t));
			if (f < 0) {
				rc = -1;
				break;
			}
			if (f == 0)
				break;
			found++;
		}
		segr_close(&r);
		if (!rc && found == k)
			rc = intersect_desc(s, k, cb, ud);
	}
	/* Big decoded lists are not kept between queries. */
	for (size_t i = 0; i < s->nlists; i++)
		if (s->lists[i].cap > 65536) {
			free(s->lists[i].v);
			memset(&s->lists[i], 0, sizeof s->lists[i]);
		}
	return rc == 1 ? 0 : rc;
}

struct search_class {
	struct search *s;
	uint64_t term;
	size_t nsegs;
	struct plist *docs; /* per segment of s->segs, once read */
	uint8_t *read;
	struct plist all;
};

struct search_class *search_class_open(struct search *s, const char *name, size_t len)
{
	if (segs_view(s))
		return NULL;
	struct search_class *c = xcalloc(1, sizeof *c);
	c->s = s;
	c->term = term_class(name, len);
	c->nsegs = s->nsegs;
	c->docs = xcalloc(c->nsegs + 1, sizeof *c->docs);
	c->read = xcalloc(c->nsegs + 1, 1);
	return c;
}

void search_class_close(struct search_class *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nsegs; i++)
		free(c->docs[i].v);
	free(c->docs);
	free(c->read);
	free(c->all.v);
	free(c);
}

/* The class's documents in segment i (read once). */
static const struct plist *class_seg(struct search_class *c, size_t i)
{
	if (!c->read[i]) {
		struct segr r;
		segr_open(&r, c->s, &c->s->segs[i]);
		int f = segr_term_docs(&r, c->term, &c->docs[i]);
		segr_close(&r);
		if (f < 0)
			return NULL;
		c->read[i] = 1;
	}
	return &c->docs[i];
}

int search_class_has(struct search_class *c, int64_t doc)
{
	const struct seginfo *g = c->s->segs;
	size_t lo = 0, hi = c->nsegs; /* the segment whose range holds doc */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (g[mid].max_doc < doc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == c->nsegs || g[lo].min_doc > doc)
		return 0;
	const struct plist *l = class_seg(c, lo);
	return l ? plist_has(l, doc) : -1;
}

int search_class_all(struct search_class *c, const int64_t **docs, size_t *n)
{
	c->all.n = 0;
	for (size_t i = 0; i < c->nsegs; i++) { /* disjoint ranges, in order */
		const struct plist *l = class_seg(c, i);
		if (!l)
			return -1;
		if (c->all.cap < c->all.n + l->n) {
			c->all.cap = (c->all.n + l->n) * 2;
			c->all.v = xrealloc(c->all.v, c->all.cap * sizeof *c->all.v);
		}
		if (l->n)
			memcpy(c->all.v + c->all.n, l->v, l->n * sizeof *l->v);
		c->all.n += l->n;
	}
	*docs = c->all.v;
	*n = c->all.n;
	return 0;
}

/* Does word w occur in the unit sequence v? */
static int word_in(const struct qword *w, const struct unit *v, size_t n)
{
	for (size_t i = 0; i + w->n <= n; i++) {
		size_t j = 0;
		for (; j < w->n; j++) {
			const struct unit *a = &w->u[j], *b = &v[i + j];
			if (a->kind != b->kind)
				break;
			if (a->kind == U_WORD ? a->h != b->h : a->cp != b->cp)
				break;
			if (j > 0 && a->joined && !b->joined)
				break;
		}
		if (j == w->n)
			return 1;
	}
	return 0;
}

int search_query_verify(const struct search_query *q, const char *const *texts, const size_t *lens, int n)
{
	if (!q)
		return 0;
	struct unit **tu = xcalloc((size_t)(n > 0 ? n : 1), sizeof *tu);
	size_t *tn = xcalloc((size_t)(n > 0 ? n : 1), sizeof *tn);
	for (int f = 0; f < n; f++)
		if (texts[f])
			tn[f] = units_collect(texts[f], lens ? lens[f] : strlen(texts[f]), &tu[f]);
	int ok = 1;
	for (size_t i = 0; i < q->nw && ok; i++) {
		int hit = 0;
		for (int f = 0; f < n && !hit; f++)
			hit = word_in(&q->w[i], tu[f], tn[f]);
		ok = hit;
	}
	for (int f = 0; f < n; f++)
		free(tu[f]);
	free(tu);
	free(tn);
	return ok;
}

int search_query_confirm(const struct search_query *q, const char *text, size_t len)
{
	if (!q)
		return 0;
	char needle[256];
	for (size_t i = 0; i < q->nw; i++) {
		const struct qword *w = &q->w[i];
		if (w->exact)
			continue; /* the index answered it */
		size_t n = 0;
		for (size_t k = 0; k < w->n; k++) {
			if (w->u[k].kind != U_CJK || (k && !w->u[k].joined) || n + 4 > sizeof needle)
				return 0;
			n += (size_t)utf8_encode(w->u[k].cp, needle + n);
		}
		if (!memmem(text, len, needle, n))
			return 0;
	}
	return 1;
}
