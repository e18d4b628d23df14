/* test_search — the full-text index on its own: units and terms, flushes
 * and merges, newest-first queries checked against brute force over random
 * documents, verification of multi-unit words, dead documents, order and
 * corruption errors. */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "search.h"
#include "t.h"
#include "util.h"

/* The tables as schema 6 makes them (bot/store.c); meta holds the claim
 * of held segments (search_hold()). */
static sqlite3 *open_db(void)
{
	sqlite3 *db = NULL;
	sqlite3_open(":memory:", &db);
	sqlite3_exec(db,
		     "CREATE TABLE search_seg(seg INTEGER PRIMARY KEY AUTOINCREMENT, level INTEGER NOT NULL,"
		     " min_doc INTEGER NOT NULL, max_doc INTEGER NOT NULL, ndocs INTEGER NOT NULL,"
		     " nterms INTEGER NOT NULL, nbytes INTEGER NOT NULL, dir BLOB NOT NULL);"
		     "CREATE TABLE search_chunk(id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
		     "CREATE TABLE search_dead(doc INTEGER PRIMARY KEY);"
		     "CREATE TABLE search_merge(out_seg INTEGER PRIMARY KEY, inputs BLOB NOT NULL, dead BLOB NOT NULL,"
		     " next_term INTEGER NOT NULL);"
		     "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;",
		     NULL, NULL, NULL);
	return db;
}

static int64_t count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t n = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

struct hits {
	int64_t v[4096];
	int n, limit;
};

static int collect(void *ud, int64_t doc)
{
	struct hits *h = ud;
	if (h->n < 4096)
		h->v[h->n++] = doc;
	return h->limit && h->n >= h->limit;
}

/* Candidates for q, newest first, as a comma list (at most limit). */
static const char *run(struct search *s, const char *query, int limit)
{
	static char out[4096];
	struct search_query *q;
	out[0] = 0;
	if (search_query_compile(query, &q) == 0)
		return "(nothing)";
	static struct hits h;
	h.n = 0;
	h.limit = limit;
	int rc = search_query_run(s, q, collect, &h);
	search_query_free(q);
	if (rc)
		return "(error)";
	size_t o = 0;
	for (int i = 0; i < h.n && o < sizeof out - 24; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%lld", i ? "," : "", (long long)h.v[i]);
	return out;
}

static void add1(struct search *s, int64_t doc, const char *text)
{
	const char *t[1] = {text};
	if (search_add(s, doc, t, NULL, 1))
		T_OK(0, "search_add(%lld)", (long long)doc);
}

/* One transaction: doc with text, flushed and committed. */
static void commit1(sqlite3 *db, struct search *s, int64_t doc, const char *text)
{
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, doc, text);
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	search_committed(s);
}

static void test_basics(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 1, "meta或同数据中心公司crusoe签署ai算力协议 noam shazeer");
	add1(s, 2, "人才流动 talent war, gpt-4o and u.s. rules");
	add1(s, 3, "数据 中心 are apart here; 计算机 and 算法");
	T_INT((int)search_pending(s), 3);
	T_INT(search_flush(s), 0);
	T_INT((int)search_pending(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	T_STR(run(s, "算力", 0), "1");            /* a CJK pair: one term */
	T_STR(run(s, "算", 0), "3,1");            /* one character, anywhere in a run */
	T_STR(run(s, "议", 0), "1");              /* the last character of a run */
	T_STR(run(s, "数据中心", 0), "1");        /* pairs 数据 据中 中心: doc 3 lacks 据中 */
	T_STR(run(s, "crusoe签署", 0), "1");      /* a candidate; verified later */
	T_STR(run(s, "talent", 0), "2");
	T_STR(run(s, "TALENT", 0), "");           /* queries come normalised */
	T_STR(run(s, "noam shazeer", 0), "1");    /* two words, both must be there */
	T_STR(run(s, "noam talent", 0), "");
	T_STR(run(s, "gpt-4o", 0), "2");
	T_STR(run(s, "!!! ...", 0), "(nothing)");
	T_STR(run(s, "zebra", 0), "");
	T_STR(run(s, "算", 1), "3");              /* the callback stops it */

	/* Verification: a word of several units must occur as consecutive
	 * units in one text; a pair inside a word must be adjacent there. */
	struct search_query *q;
	const char *txt[2] = {"ai 算力 and more", "算 力"};
	T_INT(search_query_compile("ai算力", &q), 1);
	T_INT(search_query_needs_verify(q), 1);
	T_INT(search_query_verify(q, txt, NULL, 2), 1); /* across a space: like a phrase */
	txt[0] = "ai and 算力";
	T_INT(search_query_verify(q, txt, NULL, 2), 0);
	search_query_free(q);
	T_INT(search_query_compile("算力", &q), 1);
	T_INT(search_query_needs_verify(q), 0);
	txt[0] = "x";
	T_INT(search_query_verify(q, txt, NULL, 2), 0); /* 算 力 are not adjacent in the second */
	search_query_free(q);
	T_INT(search_query_compile("gpt-4o u.s.", &q), 2);
	txt[0] = "the gpt 4o model";
	txt[1] = "u s rules";
	T_INT(search_query_verify(q, txt, NULL, 2), 1); /* words may come from different texts */
	txt[1] = "s u rules";
	T_INT(search_query_verify(q, txt, NULL, 2), 0);
	search_query_free(q);

	/* Documents must grow: an older id is refused, nothing queued. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	const char *t1[1] = {"late"};
	add1(s, 10, "ten");
	T_INT(search_add(s, 9, t1, NULL, 1), -1);
	T_INT((int)search_pending(s), 1);
	T_INT(search_flush(s), 0);
	add1(s, 10, "not newer than the index");
	T_INT(search_flush(s), -2);
	T_INT((int)search_pending(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_STR(run(s, "ten", 0), "10");
	T_STR(run(s, "newer", 0), "");
	search_free(s);
	sqlite3_close(db);
}

/* Word edges where word_end() reads sixteen bytes at a time: words ending
 * at every offset of a block and at the end of the text, every ASCII
 * neighbour of the letter and digit ranges as a separator, and a word
 * that turns non-ASCII after sixteen ASCII letters. Expectations are
 * spelled out, not taken from the code that cuts the words. */
static void test_word_edges(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	char w[48], text[96];
	/* docs 1..40: "zq " then a word of i letters, the text's end */
	for (int i = 1; i <= 40; i++) {
		memset(w, 'a' + i % 26, (size_t)i);
		w[i] = 0;
		snprintf(text, sizeof text, "zq %s", w);
		add1(s, i, text);
	}
	/* 41: separators right after letters and digits, past sixteen bytes */
	add1(s, 41, "xxxxxxxxxxxxxxxxxxxx1@x2[x3`x4{x5/x6:x7 Z9/ab0c");
	/* 42: an accented letter after sixteen ASCII ones, and inside the
	 * first sixteen bytes of a word: one word each time */
	add1(s, 42, "abcdefghijklmnopcaf\xc3\xa9 caf\xc3\xa9" "abcdefghijklmnopqrst tail");
	/* 43: upper case and digits are word bytes too (the index takes text
	 * as given; queries come normalised) */
	add1(s, 43, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 end");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	for (int i = 1; i <= 40; i++) {
		char want[16];
		memset(w, 'a' + i % 26, (size_t)i);
		w[i] = 0;
		snprintf(want, sizeof want, "%d", i);
		T_STR(run(s, w, 0), want);
		w[i - 1] = 0; /* a prefix: no document's word (neighbours differ in letter) */
		if (i > 1)
			T_STR(run(s, w, 0), "");
	}
	T_STR(run(s, "zq", 0), "40,39,38,37,36,35,34,33,32,31,30,29,28,27,26,25,24,23,22,21,20,19,18,17,16,15,14,13,"
			       "12,11,10,9,8,7,6,5,4,3,2,1");
	const char *parts[] = {"x2", "x3", "x4", "x5", "x6", "x7"};
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
		T_STR(run(s, parts[i], 0), "41");
	T_STR(run(s, "xxxxxxxxxxxxxxxxxxxx1", 0), "41");
	T_STR(run(s, "z9", 0), "");   /* upper case in the text: not what a query makes */
	T_STR(run(s, "ab0c", 0), "41");
	T_STR(run(s, "abcdefghijklmnopcaf\xc3\xa9", 0), "42");
	T_STR(run(s, "abcdefghijklmnopcaf", 0), "");
	T_STR(run(s, "caf\xc3\xa9" "abcdefghijklmnopqrst", 0), "42");
	T_STR(run(s, "caf", 0), "");
	T_STR(run(s, "abcdefghijklmnopqrst", 0), "");
	T_STR(run(s, "tail", 0), "42");
	T_STR(run(s, "end", 0), "43");
	T_STR(run(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 0), "43");
	T_STR(run(s, "ABCDEFGHIJKLMNOP", 0), "");
	search_free(s);
	sqlite3_close(db);
}

/* ---- random documents against brute force ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static unsigned rnd(unsigned n)
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static const char *const vocab[] = {"ai", "gpu", "meta", "nvidia", "data", "center", "open", "model",
				    "chip", "cloud", "数", "据", "中", "心", "算", "力", "芯", "片"};
#define NVOCAB ((unsigned)(sizeof vocab / sizeof *vocab))

static char *random_text(void)
{
	struct sbuf b = {0};
	unsigned n = 1 + rnd(12);
	for (unsigned i = 0; i < n; i++) {
		sbuf_adds(&b, vocab[rnd(NVOCAB)]);
		if (rnd(3) == 0)
			sbuf_addc(&b, ' ');
	}
	return sbuf_take(&b);
}

static char *random_query(void)
{
	struct sbuf b = {0};
	unsigned n = 1 + rnd(2);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			sbuf_addc(&b, ' ');
		unsigned k = 1 + rnd(3);
		for (unsigned j = 0; j < k; j++)
			sbuf_adds(&b, vocab[rnd(NVOCAB)]);
	}
	return sbuf_take(&b);
}

enum { NDOCS = 3000 };

/* with_dead: supersede a twentieth of the documents, so merges take the
 * decoding path that drops them; without, the concatenating one. budget:
 * merges in steps of that many entries (0: whole), so queries also run
 * while merges are half done. */
/* 300 random queries against brute force over the texts: the number of
 * bad answers; *nonempty: queries with matches. */
static int check_queries(struct search *s, char **text, const int *live, int *nonempty)
{
	int bad = 0;
	*nonempty = 0;
	for (int k = 0; k < 300; k++) {
		char *qs = random_query();
		struct search_query *q;
		if (search_query_compile(qs, &q) == 0) {
			free(qs);
			continue;
		}
		static struct hits h;
		h.n = 0;
		h.limit = 0;
		int rc = search_query_run(s, q, collect, &h);
		if (rc && bad++ < 5)
			printf("# query \"%s\": error %d\n", qs, rc);
		/* Brute force: every live document whose text verifies. The index
		 * may return dead or unverified candidates, never miss one, and
		 * must return exactly the matches when no verification is due. */
		int want = 0, missing = 0, extra = 0, order = 1;
		for (int i = 1; i < h.n; i++)
			order &= h.v[i] < h.v[i - 1];
		for (int64_t d = NDOCS; d >= 1; d--) {
			if (!text[d])
				continue;
			const char *t1[1] = {text[d]};
			int match = search_query_verify(q, t1, NULL, 1);
			int found = 0;
			for (int i = 0; i < h.n && !found; i++)
				found = h.v[i] == d;
			if (match && live[d])
				want++;
			if (match && live[d] && !found)
				missing++;
			if (found && !match && !search_query_needs_verify(q))
				extra++;
		}
		*nonempty += want > 0;
		if ((missing || extra || !order) && bad++ < 5)
			printf("# query \"%s\": %d missing, %d extra, order %d\n", qs, missing, extra, order);
		search_query_free(q);
		free(qs);
	}
	return bad;
}

/* hold: as bulk ingest indexes (search_hold()): queries see the held
 * segments, and once they are written another object on the database
 * answers the same. */
static void test_random_against_brute_force(int with_dead, int64_t budget, int hold)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	search_set_merge_budget(s, budget);
	search_hold(s, hold);
	char **text = xcalloc(NDOCS + 1, sizeof *text);
	int *live = xcalloc(NDOCS + 1, sizeof *live);
	/* Batches of 1..300 documents, as a daemon (one story) and the CLI
	 * (hundreds) would write them, so segments of every size merge. */
	int64_t doc = 0;
	while (doc < NDOCS) {
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		unsigned batch = rnd(4) ? 1 + rnd(8) : 1 + rnd(300);
		for (unsigned i = 0; i < batch && doc < NDOCS; i++) {
			doc += 1 + rnd(3) / 2; /* ids may skip, as revisions make them */
			if (doc > NDOCS)
				break;
			text[doc] = random_text();
			live[doc] = 1;
			add1(s, doc, text[doc]);
			if (with_dead && doc > 5 && rnd(20) == 0) { /* an earlier document superseded */
				int64_t d = 1 + rnd((unsigned)doc - 1);
				if (live[d]) {
					live[d] = 0;
					search_dead(s, d);
				}
			}
		}
		T_INT(search_flush(s), 0);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		search_committed(s);
	}
	struct search_stats st;
	T_INT(search_stats(s, &st), 0);
	T_OK(st.segments <= (budget ? 96 : 48), "merges keep the segments few: %lld", (long long)st.segments);
	T_OK(st.merges > 0, "merges happened: %lld", (long long)st.merges);
	if (budget)
		T_OK(st.merge_steps > st.merges, "merges went in steps: %lld steps, %lld merges",
		     (long long)st.merge_steps, (long long)st.merges);
	else
		T_INT(st.merge_steps, 0);

	int nonempty;
	int bad = check_queries(s, text, live, &nonempty);
	T_INT(bad, 0);
	T_OK(nonempty > 100, "%d of 300 queries have matches", nonempty);
	if (hold) {
		int64_t lo, hi;
		T_OK(search_held_claim(s, &lo, &hi) == 1 && hi == doc, "a claim up to the last document");
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		T_INT(search_hold_end(s), 0);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		search_committed(s);
		T_INT(search_holding(s), 0);
		T_INT(search_held_claim(s, &lo, &hi), 0);
		struct search *s2 = search_new(db);
		T_INT(check_queries(s2, text, live, &nonempty), 0);
		T_OK(nonempty > 100, "written: %d of 300 queries have matches", nonempty);
		search_free(s2);
	}

	/* A full merge drops dead documents' postings and their markers. */
	int64_t dead_before = count_rows(db, "SELECT count(*) FROM search_dead");
	T_OK(dead_before >= 0, "dead markers: %lld", (long long)dead_before);
	/* small segments until a merge sweeps the old ones up (merges in
	 * steps hold others back meanwhile, so that may take longer) */
	for (int i = 0; i < 16 * 16 * 16 && dead_before &&
			count_rows(db, "SELECT count(*) FROM search_dead") == dead_before; i++) {
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		add1(s, ++doc, "filler");
		search_flush(s);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	T_INT(search_stats(s, &st), 0);
	T_OK(count_rows(db, "SELECT count(*) FROM search_dead") < dead_before || dead_before == 0,
	     "merges consumed dead markers");
	for (int d = 1; d <= NDOCS; d++)
		free(text[d]);
	free(text);
	free(live);
	search_free(s);
	sqlite3_close(db);
}

/* A damaged chunk gives an error, never a crash or a wrong answer. */
static void test_corruption(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int64_t d = 1; d <= 50; d++)
		add1(s, d, "alpha beta 算力");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_STR(run(s, "alpha", 3), "50,49,48");
	sqlite3_exec(db, "UPDATE search_chunk SET data = x'ffffffffffffffffffffff'", NULL, NULL, NULL);
	T_STR(run(s, "alpha", 0), "(error)");
	sqlite3_exec(db, "UPDATE search_chunk SET data = x'00'", NULL, NULL, NULL);
	T_STR(run(s, "alpha", 0), "(error)");
	sqlite3_exec(db, "DELETE FROM search_chunk", NULL, NULL, NULL);
	T_STR(run(s, "alpha", 0), "(error)");
	T_INT(search_clear(s), 0);
	T_STR(run(s, "alpha", 0), "");
	T_INT(count_rows(db, "SELECT count(*) FROM search_seg"), 0);
	search_free(s);
	sqlite3_close(db);
}

/* A rolled-back batch leaves nothing behind; a big batch is split. */
static void test_discard_and_big_batches(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	commit1(db, s, 1, "kept");
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 2, "lost");
	search_discard(s);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	T_STR(run(s, "lost", 0), "");
	T_STR(run(s, "kept", 0), "1");
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (int64_t d = 2; d <= 1500; d++) /* more than one pending segment holds */
		add1(s, d, d % 2 ? "odd story" : "even story");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_STR(run(s, "odd", 3), "1499,1497,1495");
	T_STR(run(s, "even", 2), "1500,1498");
	struct hits h = {{0}, 0, 0};
	struct search_query *q;
	search_query_compile("story", &q);
	T_INT(search_query_run(s, q, collect, &h), 0);
	T_INT(h.n, 1499);
	search_query_free(q);
	search_free(s);
	sqlite3_close(db);
}

/* A daemon's one-story flushes between bulk batches: small segments
 * older than big ones are swept up, so the count stays bounded, and every
 * document is still found. */
static void test_mixed_flushes(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	int64_t doc = 0;
	int64_t most = 0;
	for (int round = 0; round < 60; round++) {
		for (int k = 0; k < 5; k++) {
			sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
			add1(s, ++doc, "single story");
			search_flush(s);
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		}
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		for (int k = 0; k < 300; k++)
			add1(s, ++doc, "bulk story");
		search_flush(s);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		int64_t segs = count_rows(db, "SELECT count(*) FROM search_seg");
		if (segs > most)
			most = segs;
	}
	T_OK(most <= 40, "segments stay few: at most %lld", (long long)most);
	struct hits h = {{0}, 0, 0};
	struct search_query *q;
	search_query_compile("single", &q);
	T_INT(search_query_run(s, q, collect, &h), 0);
	T_INT(h.n, 300);
	search_query_free(q);
	search_free(s);
	sqlite3_close(db);
}

/* A lone character is the union of the pairs it starts: here 3,000
 * different ones (的 followed by a different ideograph in each document,
 * or ending the run) and 7,700 of 龥, far more than one 16 KB chunk holds, over segments
 * of several sizes. Every document holding it, newest first, nothing else;
 * and the pairs keep their own answers. */
static void test_character_ranges(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	int want = 0;
	int64_t last = 0;
	for (int64_t d = 1; d <= 3000;) {
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		for (int k = 0; k < 1 + (int)(d % 290) && d <= 3000; k++, d++) {
			char text[96], next[8], more[40];
			next[utf8_encode((uint32_t)(0x4E00 + d), next)] = 0;
			/* three more pairs of 的 with characters past the others */
			size_t m = 0;
			for (int j = 0; j < 3; j++) {
				m += (size_t)utf8_encode(0x9FA5, more + m); /* 龥 */
				m += (size_t)utf8_encode((uint32_t)(0x6000 + 3 * d + j), more + m);
				more[m++] = ' ';
			}
			more[m] = 0;
			if (d % 5 == 0) /* 的 ends the run */
				snprintf(text, sizeof text, "x %s的 y", next);
			else if (d % 7 == 0) /* no 的 at all */
				snprintf(text, sizeof text, "x %s y", next);
			else
				snprintf(text, sizeof text, "的%s z", next);
			if (d % 7 != 0) /* 龥X: a second character's range */
				snprintf(text + strlen(text), sizeof text - strlen(text), " %s", more);
			add1(s, d, text);
			if (d % 5 == 0 || d % 7 != 0) {
				want++;
				last = d;
			}
		}
		T_INT(search_flush(s), 0);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	struct search_stats st;
	T_INT(search_stats(s, &st), 0);
	T_OK(st.segments > 1 && st.chunks > st.segments, "segments %lld, chunks %lld", (long long)st.segments,
	     (long long)st.chunks);
	struct hits h = {{0}, 0, 0};
	struct search_query *q;
	T_INT(search_query_compile("的", &q), 1);
	T_INT(search_query_needs_verify(q), 0);
	T_INT(search_query_run(s, q, collect, &h), 0);
	search_query_free(q);
	T_INT(h.n, want);
	int order = 1, wrong = 0;
	for (int i = 0; i < h.n; i++) {
		order &= i == 0 || h.v[i] < h.v[i - 1];
		wrong += h.v[i] % 5 != 0 && h.v[i] % 7 == 0;
	}
	T_OK(order && wrong == 0 && h.n && h.v[0] == last, "newest first, only documents with 的");
	char qs[16];
	qs[utf8_encode(0x4E00 + 2999, qs)] = 0; /* 2999: "的X z" */
	T_STR(run(s, qs, 0), "2999");
	snprintf(qs + strlen(qs), sizeof qs - strlen(qs), "的"); /* that pair is in no document */
	T_STR(run(s, qs, 0), "");
	qs[utf8_encode(0x4E00 + 2995, qs)] = 0; /* 2995: "X的" */
	snprintf(qs + strlen(qs), sizeof qs - strlen(qs), "的");
	T_STR(run(s, qs, 0), "2995");
	T_STR(run(s, "的 z", 3), "2999,2998,2997");
	qs[utf8_encode(0x4E00 + 3001, qs)] = 0; /* in no document */
	T_STR(run(s, qs, 0), "");
	h.n = 0;
	T_INT(search_query_compile("龥", &q), 1);
	T_INT(search_query_run(s, q, collect, &h), 0);
	search_query_free(q);
	T_INT(h.n, 3000 - 3000 / 7);
	/* damaged chunks are errors here too */
	sqlite3_exec(db, "UPDATE search_chunk SET data = x'00'", NULL, NULL, NULL);
	T_STR(run(s, "的", 0), "(error)");
	search_free(s);
	sqlite3_close(db);
}

/* Classes as terms: added after a document's texts, read back a segment at
 * a time (has) or whole (all), over flushes of several segments; a damaged
 * chunk is an error, not an answer. */
static void test_classes(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	for (int64_t d = 1; d <= 900;) {
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		for (int k = 0; k < 1 + (int)(d % 170) && d <= 900; k++, d++) {
			add1(s, d, "text words 算力");
			T_INT(search_add_class(s, d, "topic:compute", 13), 0);
			if (d % 3 == 0)
				T_INT(search_add_class(s, d, "entity:meta", 11), 0);
		}
		T_INT(search_add_class(s, d + 5, "topic:compute", 13), -1); /* not the document queued last */
		T_INT(search_flush(s), 0);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	T_INT(search_add_class(s, 901, "topic:compute", 13), -1); /* nothing queued */
	T_STR(run(s, "compute", 0), "");   /* a class is not a word */
	T_STR(run(s, "topic:compute", 0), "");
	struct search_class *c = search_class_open(s, "entity:meta", 11);
	T_OK(c != NULL, "open");
	int wrong = 0;
	for (int64_t d = 0; d <= 902; d++)
		wrong += search_class_has(c, d) != (d >= 1 && d <= 900 && d % 3 == 0);
	T_INT(wrong, 0);
	const int64_t *all;
	size_t n;
	T_INT(search_class_all(c, &all, &n), 0);
	int order = 1;
	for (size_t i = 0; i < n; i++)
		order &= all[i] == (int64_t)(3 * (i + 1));
	T_OK(n == 300 && order, "all: %zu documents in order", n);
	search_class_close(c);
	c = search_class_open(s, "topic:none", 10);
	T_INT(search_class_has(c, 5), 0);
	T_INT(search_class_all(c, &all, &n), 0);
	T_INT((int)n, 0);
	search_class_close(c);
	sqlite3_exec(db, "UPDATE search_chunk SET data = x'00'", NULL, NULL, NULL);
	c = search_class_open(s, "topic:compute", 13);
	T_INT(search_class_has(c, 5), -1);
	T_INT(search_class_all(c, &all, &n), -1);
	search_class_close(c);
	search_free(s);
	sqlite3_close(db);
}

/* A merge in steps: invisible until done, queries answered by its inputs
 * meanwhile, its state in the database (a new process takes the next
 * step; one without a budget finishes it), and the dead documents of its
 * start dropped with their markers. */
static void test_merge_in_steps(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	search_set_merge_budget(s, 5);
	/* 16 one-document segments of ten distinct words each: 160 entries */
	static char text[17][256];
	for (int d = 1; d <= 16; d++) {
		int o = 0;
		for (int w = 0; w < 10; w++)
			o += snprintf(text[d] + o, sizeof text[d] - (size_t)o, "w%dx%d shared ", d, w);
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		add1(s, d, text[d]);
		if (d == 16) /* dead before the merge starts: dropped, marker removed */
			search_dead(s, 3);
		T_INT(search_flush(s), 0);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	struct search_stats st;
	T_INT(search_stats(s, &st), 0);
	T_INT(st.merge_steps, 1); /* the 16th flush began it and took one step */
	T_INT(st.merges, 0);
	T_INT(st.segments, 16); /* the inputs still answer */
	T_INT(count_rows(db, "SELECT count(*) FROM search_seg WHERE level = -1"), 1);
	T_INT(count_rows(db, "SELECT count(*) FROM search_merge"), 1);
	T_STR(run(s, "shared", 0), "16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1");
	T_STR(run(s, "w7x3", 0), "7");

	/* a document dies during the merge: its marker stays */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	search_dead(s, 9);
	add1(s, 17, "w17x0 shared");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_INT(search_stats(s, &st), 0);
	T_INT(st.merge_steps, 2);
	T_STR(run(s, "w16x9", 0), "16");

	/* another process (or this one, restarted) takes the next step */
	search_free(s);
	s = search_new(db);
	search_set_merge_budget(s, 5);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 18, "w18x0 shared");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_INT(search_stats(s, &st), 0);
	T_INT(st.merge_steps, 1);
	T_INT(count_rows(db, "SELECT count(*) FROM search_merge"), 1);

	/* a step that rolls back leaves the job as it was */
	int64_t at = count_rows(db, "SELECT next_term FROM search_merge");
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 19, "w19x0 shared");
	T_INT(search_flush(s), 0);
	T_OK(count_rows(db, "SELECT next_term FROM search_merge") != at, "the step moved on");
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	T_INT(count_rows(db, "SELECT next_term FROM search_merge"), at);

	/* one without a budget finishes it */
	search_free(s);
	s = search_new(db);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 20, "w20x0 shared");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_INT(count_rows(db, "SELECT count(*) FROM search_merge"), 0);
	T_INT(count_rows(db, "SELECT count(*) FROM search_seg WHERE level < 0"), 0);
	T_INT(search_stats(s, &st), 0);
	T_INT(st.merges, 1);
	T_INT(st.segments, 4); /* the merged one, 17, 18, 20 */
	/* 3 was dead at the start: dropped, its marker gone; 9 died during
	 * the merge: dropped from the terms merged after that (the others
	 * keep it, as any segment keeps a document that dies after it is
	 * written), its marker kept for the next merge */
	const char *all = run(s, "shared", 0);
	T_OK(!strcmp(all, "20,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,2,1") ||
		     !strcmp(all, "20,18,17,16,15,14,13,12,11,10,8,7,6,5,4,2,1"),
	     "shared: %s", all);
	T_STR(run(s, "w3x0", 0), "");
	T_INT(count_rows(db, "SELECT count(*) FROM search_dead WHERE doc = 3"), 0);
	T_INT(count_rows(db, "SELECT count(*) FROM search_dead WHERE doc = 9"), 1);
	for (int d = 1; d <= 16; d++) {
		for (int w = 0; w < 10; w++) {
			char q[32], want[16];
			snprintf(q, sizeof q, "w%dx%d", d, w);
			snprintf(want, sizeof want, "%d", d % 100);
			if (d != 9)
				T_STR(run(s, q, 0), d == 3 ? "" : want);
		}
	}
	search_free(s);
	sqlite3_close(db);
}

/* A merge in steps whose output went missing is begun again, never left
 * to fail every commit. */
static void test_merge_in_steps_lost_output(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db);
	search_set_merge_budget(s, 5);
	for (int d = 1; d <= 17; d++) {
		char text[64];
		snprintf(text, sizeof text, "a%d b%d c%d common", d, d, d);
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		add1(s, d, text);
		T_INT(search_flush(s), 0);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (d == 16) {
			T_INT(count_rows(db, "SELECT count(*) FROM search_merge"), 1);
			sqlite3_exec(db, "DELETE FROM search_seg WHERE level < 0", NULL, NULL, NULL);
		}
	}
	/* the 17th flush dropped the broken job; the 18th begins it again */
	T_INT(count_rows(db, "SELECT count(*) FROM search_merge"), 0);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 18, "a18 common");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_INT(count_rows(db, "SELECT count(*) FROM search_merge"), 1);
	search_set_merge_budget(s, 0);
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 19, "a19 common");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_INT(count_rows(db, "SELECT count(*) FROM search_merge"), 0);
	T_STR(run(s, "common", 0), "19,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1");
	T_STR(run(s, "b7", 0), "7");
	search_free(s);
	sqlite3_close(db);
}

/* Held segments (search_hold()) as one holder and the others see them. */
static void test_hold(void)
{
	sqlite3 *db = open_db();
	struct search *s = search_new(db), *o = search_new(db);
	search_hold(s, 1);
	int64_t lo, hi;
	int64_t doc = 0;
	/* 20 commits of one document: sixteen merge into one written
	 * segment, four stay held, and the claim names them. */
	for (int i = 0; i < 20; i++)
		commit1(db, s, ++doc, "heldword 保留");
	T_INT(count_rows(db, "SELECT count(*) FROM search_seg"), 1);
	T_INT(count_rows(db, "SELECT max_doc FROM search_seg"), 16);
	T_OK(search_held_claim(s, &lo, &hi) == 1 && lo == 17 && hi == 20, "claim 17..20: %lld..%lld",
	     (long long)lo, (long long)hi);
	T_STR(run(s, "heldword", 3), "20,19,18");
	T_STR(run(o, "heldword", 3), "16,15,14"); /* another object: the written ones */
	T_STR(run(s, "保留", 0), "20,19,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1");
	struct search_stats st;
	T_INT(search_stats(s, &st), 0);
	T_INT(st.docs, 20);

	/* Another object writes newer segments: no merge takes one while
	 * the claim stands (it says a recovery may be due), and the holder
	 * writes its own before them at its next flush. */
	for (int i = 0; i < 17; i++)
		commit1(db, o, ++doc, "otherword");
	T_INT(count_rows(db, "SELECT count(*) FROM search_seg"), 18); /* unmerged */
	T_INT(search_claim_seen(o), 1);
	T_INT(search_claim_seen(o), 0); /* once */
	T_INT(search_claim_seen(s), 0);
	commit1(db, s, ++doc, "heldword");
	T_OK(search_held_claim(s, &lo, &hi) == 1 && lo == doc && hi == doc, "claim: the newest only");
	T_INT(count_rows(db, "SELECT count(*) FROM search_seg x JOIN search_seg y ON x.seg < y.seg"
			     " AND x.min_doc <= y.max_doc AND y.min_doc <= x.max_doc"),
	      0);
	T_STR(run(o, "heldword", 0), "20,19,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4,3,2,1");
	T_STR(run(s, "heldword", 2), "38,20");
	T_STR(run(o, "otherword", 2), "37,36");

	/* A rolled-back transaction that changed what is held: all of it
	 * goes, holding stops, the committed claim stays for a recovery. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, ++doc, "heldword");
	T_INT(search_flush(s), 0);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	search_discard(s);
	T_INT(search_hold_lost(s), 1);
	T_INT(search_hold_lost(s), 0);
	T_INT(search_holding(s), 0);
	T_OK(search_held_claim(s, &lo, &hi) == 1 && lo == 38 && hi == 38, "the committed claim stands");
	T_STR(run(s, "heldword", 2), "20,19");

	/* A recovery writes the claim's documents before newer segments;
	 * without the flag that is refused, and an overlap always is. */
	commit1(db, o, 40, "otherword");
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	add1(s, 38, "heldword");
	T_INT(search_flush(s), -2);
	search_recovering(s, 1);
	add1(s, 36, "heldword");
	T_INT(search_flush(s), -2); /* 36 is in a segment already */
	add1(s, 38, "heldword");
	T_INT(search_flush(s), 0);
	T_INT(search_claim_clear(s), 0);
	search_recovering(s, 0);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	T_STR(run(o, "heldword", 2), "38,20");
	T_INT(search_held_claim(o, &lo, &hi), 0);
	/* with the claim gone every segment may merge again */
	commit1(db, o, 41, "otherword");
	T_OK(count_rows(db, "SELECT count(*) FROM search_seg") < 10, "merged: %lld segments",
	     (long long)count_rows(db, "SELECT count(*) FROM search_seg"));
	T_STR(run(o, "otherword", 3), "41,40,37");
	T_STR(run(o, "heldword", 3), "38,20,19");
	/* a claim row this code did not write */
	sqlite3_exec(db, "INSERT INTO meta(key, value) VALUES('search_held', 'junk')", NULL, NULL, NULL);
	T_INT(search_held_claim(o, &lo, &hi), -2);
	search_free(s);
	search_free(o);
	sqlite3_close(db);
}

int main(void)
{
	test_basics();
	test_word_edges();
	test_random_against_brute_force(0, 0, 0);
	test_random_against_brute_force(1, 0, 0);
	test_random_against_brute_force(0, 400, 0);
	test_random_against_brute_force(1, 400, 0);
	test_random_against_brute_force(0, 0, 1);
	test_random_against_brute_force(1, 0, 1);
	test_hold();
	test_merge_in_steps();
	test_merge_in_steps_lost_output();
	test_corruption();
	test_discard_and_big_batches();
	test_mixed_flushes();
	test_character_ranges();
	test_classes();
	return t_done();
}
