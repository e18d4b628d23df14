/* search — the full-text index over stories: English and Chinese alike.
 *
 * Text (already normalised: case, width, Traditional -> Simplified) is cut
 * into units: words (runs of letters and digits) and CJK characters. A
 * document's terms are its distinct words (hashed) and its CJK pairs: each
 * character with the next one in its run, or with the run's end (exact
 * code points). A lone character in a query is the range of pairs it
 * starts. The index maps terms to the documents holding them, without
 * positions; a query word that is more than one term ("数据中心", "gpt-4o",
 * "ai算力") selects candidates through all of its terms and is then
 * verified against the document's text.
 *
 * Storage is a small log-structured merge tree in SQLite tables of the
 * caller's connection (search_seg, search_chunk, search_dead; the store's
 * migrations create them): every flush writes the pending documents as one
 * immutable segment of term-sorted posting lists in ~16 KB chunks, and
 * segments of the same size class are merged sixteen at a time, so a query
 * looks at a few dozen segments at most. Document ids must grow: each
 * flush's documents are newer than everything already indexed (the store
 * uses the stories rowid, which a revision moves to the end).
 *
 * Writes happen inside the caller's transaction: search_flush() before
 * COMMIT, search_discard() on ROLLBACK. Nothing here begins or ends one.
 *
 * Return codes: 0 ok, negative on an SQLite error (sqlite3_errmsg() of the
 * connection says which).
 */
#ifndef AINEWS_SEARCH_H
#define AINEWS_SEARCH_H

#include <stddef.h>
#include <stdint.h>

struct sqlite3;
struct search;

/* The index over db's tables; db is borrowed and must outlive it. */
struct search *search_new(struct sqlite3 *db);
void search_free(struct search *s); /* NULL is fine; pending documents are dropped */

/* Queue a document: n normalised texts (any may be NULL). doc must be
 * greater than every document added or stored before: -1 (and nothing
 * queued) when it is not. */
int search_add(struct search *s, int64_t doc, const char *const *texts, const size_t *lens, int n);
/* Give doc, the document search_add() queued last, a class ("topic:compute",
 * len bytes) as one more term: -1 (nothing queued) for another doc. */
int search_add_class(struct search *s, int64_t doc, const char *name, size_t len);
/* The documents of one class (superseded ones too, until their segments
 * merge), read a segment at a time as they are asked for: testing the
 * newest few documents reads only the newest segments. No other call on s
 * between open and close. NULL on an SQLite error. */
struct search_class;
struct search_class *search_class_open(struct search *s, const char *name, size_t len);
/* 1 doc has the class, 0 not, -1 an error (unreadable or corrupt). */
int search_class_has(struct search_class *c, int64_t doc);
/* All of them, ascending, each once: *docs valid until the next call or
 * close. 0 ok, -1 an error. */
int search_class_all(struct search_class *c, const int64_t **docs, size_t *n);
void search_class_close(struct search_class *c); /* NULL is fine */
/* Documents queued and not yet flushed. */
size_t search_pending(const struct search *s);
/* Write the queued documents as a segment and merge what is due. -2 when
 * they are not newer than the index (nothing written). */
int search_flush(struct search *s);
/* Forget the queued documents (the transaction rolled back). Held
 * segments made or merged in that transaction are dropped too, and
 * holding stops (search_hold_lost()). */
void search_discard(struct search *s);
/* The transaction committed (after COMMIT). */
void search_committed(struct search *s);

/* Holding (bulk ingest). A flush while holding keeps its segment in
 * memory instead of writing it; when FANOUT are held they merge into one
 * segment in the database, so the index's first segments are never
 * written, read back and deleted. Queries on this object see held
 * segments; other connections see their documents once written: at that
 * merge, at search_hold_end(), or before a segment another connection
 * wrote after them. Each transaction that changes what is held also
 * writes a claim row (meta search_held = "first last"), the documents
 * whose postings are only in memory; while it stands no merge takes a
 * segment newer than them. If the holder dies, the claim stays: the
 * stories are stored, their postings are not, and a recovery re-indexes
 * them from the stored stories (store_search_recover()). The caller
 * makes sure one connection holds at a time, and recovers only a claim
 * whose holder is gone. */
void search_hold(struct search *s, int on); /* off only once nothing is held */
int search_holding(const struct search *s);
/* In a transaction: flush, write every held segment, drop the claim,
 * stop holding. */
int search_hold_end(struct search *s);
/* 1 once if search_discard() dropped held segments (the claim stands). */
int search_hold_lost(struct search *s);
/* The claim: 1 with its documents, 0 none, -1 an SQLite error, -2 a row
 * that is not a claim. */
int search_held_claim(struct search *s, int64_t *lo, int64_t *hi);
int search_claim_clear(struct search *s);
/* 1 once if a merge was held back by a claim this object does not hold
 * (a recovery may be due, if its holder is gone). */
int search_claim_seen(struct search *s);
/* A recovery re-indexes older documents: flushes may then go before newer
 * segments, as long as no range overlaps. */
void search_recovering(struct search *s, int on);
/* doc was superseded (a new revision is indexed under a new id): its
 * postings are dropped when its segment is next merged. */
int search_dead(struct search *s, int64_t doc);
/* Drop the whole index (before a rebuild). */
int search_clear(struct search *s);
/* Merges bigger than this many input entries (terms of segments) go in
 * steps of about that many, one step per flush; the output is invisible,
 * the inputs answer queries, until the last step swaps them. Its state is
 * in the database (table search_merge), so a step survives the process
 * and any process may take the next one. 0 (the default): whole merges. */
void search_set_merge_budget(struct search *s, int64_t entries);

/* Statistics for benchmarks and /metrics-style reporting. */
struct search_stats {
	int64_t segments, chunks, bytes, docs, merges, merge_steps;
};
int search_stats(struct search *s, struct search_stats *out);

/* ---- queries ---- */

struct search_query;

/* Compile normalised query text: whitespace separates words, every word
 * must occur (a word of several units as a phrase). Returns the number of
 * searchable words (0: nothing searchable; *out is then NULL). Owned. */
int search_query_compile(const char *text, struct search_query **out);
void search_query_free(struct search_query *q);
/* Does a candidate need search_query_verify()? 0 when every word is one
 * term, so the index answers exactly. */
int search_query_needs_verify(const struct search_query *q);

/* Run q: cb gets each candidate document, newest first; it returns 0 to go
 * on, 1 to stop, negative to stop with that error. Returns 0, or the
 * callback's or an SQLite error. */
int search_query_run(struct search *s, const struct search_query *q, int (*cb)(void *ud, int64_t doc), void *ud);

/* Does every word of q occur in one of the n normalised texts (a
 * multi-unit word as consecutive units within one text)? 1 yes, 0 no. */
int search_query_verify(const struct search_query *q, const char *const *texts, const size_t *lens, int n);

/* A shortcut for search_query_verify(): 1 when every word that needs
 * verifying is a run of CJK characters found byte for byte in text (the
 * stored, unnormalised text: a Simplified word there is there after
 * normalisation too); 0 when that does not settle it. */
int search_query_confirm(const struct search_query *q, const char *text, size_t len);

#endif
