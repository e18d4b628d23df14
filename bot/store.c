/* store — SQLite persistence for stories, search, rules and the outbox.
 *
 * Owns one sqlite3 connection, a table of prepared statements (prepared on
 * first use) and the search index (bot/search.c), whose pending documents
 * are written just before each COMMIT and dropped on ROLLBACK. A story's
 * rowid is its search document id: a new revision moves the row to a new,
 * larger rowid, so the index only ever appends and an old revision's
 * postings are recognised (no row) and dropped at the next merge.
 */
#define _GNU_SOURCE
#include "store.h"

#include <fcntl.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "normalise.h"
#include "search.h"
#include "writeback.h"

/* Databases of schema version 1 hold an FTS5 table made with our old
 * "ainews" tokenizer; SQLite cannot drop it unless a tokenizer of that name
 * exists, so a do-nothing one is registered for migration 1 -> 2. */
static int legacy_tok_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)ctx, (void)argv, (void)argc;
	*out = (Fts5Tokenizer *)xmalloc(1);
	return SQLITE_OK;
}

static void legacy_tok_delete(Fts5Tokenizer *t)
{
	free(t);
}

static int legacy_tok_tokenize(Fts5Tokenizer *t, void *ctx, int flags, const char *text, int len,
			       int (*emit)(void *, int, const char *, int, int, int))
{
	(void)t, (void)ctx, (void)flags, (void)text, (void)len, (void)emit;
	return SQLITE_OK;
}

static int register_legacy_tokenizer(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL) != SQLITE_OK)
		return 0; /* no FTS5 in this SQLite: nothing of ours to drop either */
	sqlite3_bind_pointer(s, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(s);
	sqlite3_finalize(s);
	if (!api)
		return 0;
	static fts5_tokenizer tok = {legacy_tok_create, legacy_tok_delete, legacy_tok_tokenize};
	return api->xCreateTokenizer(api, "ainews", NULL, &tok, NULL) == SQLITE_OK ? 0 : -1;
}

/* How long a statement waits for another connection's lock; a migration
 * waits longer, for another process's migration (schema 6: ~12 s on
 * 100,000 stories). */
#define STORE_BUSY_MS 5000
#define STORE_MIGRATION_BUSY_MS 120000

/* ---- schema --------------------------------------------------------------- */

/* Forward migrations: migrations[v] takes the schema from v to v+1. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE stories("
	"  rowid INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  revision INTEGER NOT NULL,"
	"  fingerprint INTEGER NOT NULL,"
	"  source TEXT, url TEXT,"
	"  hot INTEGER, quality INTEGER, impact INTEGER,"
	"  published_at INTEGER, updated_at INTEGER,"
	"  ingested_at INTEGER NOT NULL,"
	"  title TEXT NOT NULL, title_en TEXT, title_zh TEXT);"
	"CREATE INDEX stories_time ON stories(published_at DESC);"
	"CREATE INDEX stories_top ON stories(max(coalesce(hot,0), coalesce(quality,0), coalesce(impact,0)) DESC,"
	"  published_at DESC);"
	"CREATE TABLE revisions("
	"  story_id TEXT NOT NULL, revision INTEGER NOT NULL,"
	"  fingerprint INTEGER NOT NULL, changed TEXT NOT NULL,"
	"  json TEXT NOT NULL, created_at INTEGER NOT NULL,"
	"  PRIMARY KEY(story_id, revision)) WITHOUT ROWID;"
	"CREATE VIRTUAL TABLE story_fts USING fts5(title, summary, tldr, analysis,"
	"  tokenize='ainews', detail='full');" /* dropped by 1 -> 2 */
	"CREATE TABLE story_class("
	"  story_id TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,"
	"  weight INTEGER NOT NULL, evidence TEXT, published_at INTEGER NOT NULL,"
	"  PRIMARY KEY(story_id, kind, id)) WITHOUT ROWID;"
	"CREATE INDEX story_class_by_id ON story_class(kind, id, published_at DESC);"
	"CREATE TABLE rules("
	"  id INTEGER PRIMARY KEY,"
	"  platform TEXT NOT NULL, target_kind TEXT NOT NULL, target TEXT NOT NULL,"
	"  expr TEXT NOT NULL, lang TEXT, origin TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL DEFAULT (unixepoch()),"
	"  UNIQUE(platform, target_kind, target, expr));"
	"CREATE TABLE prefs("
	"  platform TEXT NOT NULL, user_id TEXT NOT NULL, lang TEXT NOT NULL,"
	"  PRIMARY KEY(platform, user_id)) WITHOUT ROWID;"
	"CREATE TABLE alerts("
	"  story_id TEXT NOT NULL, platform TEXT NOT NULL,"
	"  target_kind TEXT NOT NULL, target TEXT NOT NULL,"
	"  revision INTEGER NOT NULL, outbox_id INTEGER NOT NULL,"
	"  PRIMARY KEY(story_id, platform, target_kind, target)) WITHOUT ROWID;"
	"CREATE TABLE outbox("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL CHECK(kind IN ('alert','update','digest')),"
	"  story_id TEXT NOT NULL, revision INTEGER NOT NULL,"
	"  platform TEXT NOT NULL, target_kind TEXT NOT NULL, target TEXT NOT NULL,"
	"  reason TEXT, lang TEXT,"
	"  status TEXT NOT NULL DEFAULT 'queued' CHECK(status IN ('queued','sending','sent','failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at INTEGER NOT NULL, claimed_at INTEGER,"
	"  remote_id TEXT, error TEXT,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"CREATE INDEX outbox_due ON outbox(status, next_attempt_at);",
	/* 1 -> 2: our own search index instead of FTS5 (bot/search.c);
	 * classification rows of three integers keyed for the listing that
	 * reads them (class, published, the story's rowid), with the story's
	 * classes also on its row for the second filter of a listing; evidence
	 * is recomputed on demand instead of stored. The index is rebuilt from
	 * the stored stories by the app (meta search_rebuild). */
	"DROP TABLE IF EXISTS story_fts;"
	"CREATE TABLE search_seg("
	"  seg INTEGER PRIMARY KEY AUTOINCREMENT, level INTEGER NOT NULL,"
	"  min_doc INTEGER NOT NULL, max_doc INTEGER NOT NULL, ndocs INTEGER NOT NULL,"
	"  nterms INTEGER NOT NULL, nbytes INTEGER NOT NULL, dir BLOB NOT NULL);"
	"CREATE TABLE search_chunk(id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE TABLE search_dead(doc INTEGER PRIMARY KEY);"
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"INSERT INTO meta(key, value) SELECT 'search_rebuild', 1 WHERE EXISTS (SELECT 1 FROM stories);"
	"ALTER TABLE stories ADD COLUMN classes TEXT NOT NULL DEFAULT '';"
	"UPDATE stories SET classes = coalesce((SELECT ' ' || group_concat(c.kind || ':' || c.id, ' ') || ' '"
	"  FROM story_class c WHERE c.story_id = stories.id), '');"
	"CREATE TABLE class_names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"INSERT INTO class_names(name) SELECT DISTINCT kind || ':' || id FROM story_class ORDER BY 1;"
	"CREATE TABLE story_class2("
	"  cls INTEGER NOT NULL, published_at INTEGER NOT NULL, doc INTEGER NOT NULL,"
	"  PRIMARY KEY(cls, published_at, doc)) WITHOUT ROWID;"
	"INSERT INTO story_class2 SELECT n.id, c.published_at, s.rowid FROM story_class c"
	"  JOIN class_names n ON n.name = c.kind || ':' || c.id JOIN stories s ON s.id = c.story_id;"
	"DROP TABLE story_class;"
	"ALTER TABLE story_class2 RENAME TO story_class;"
	/* Revisions in a rowid table: a WITHOUT ROWID table keeps its whole
	 * row in the key's b-tree, so every insert compared keys by reading
	 * 13 KB rows (measured: a tenth of ingest). */
	"CREATE TABLE revisions2("
	"  rowid INTEGER PRIMARY KEY, story_id TEXT NOT NULL, revision INTEGER NOT NULL,"
	"  fingerprint INTEGER NOT NULL, changed TEXT NOT NULL,"
	"  json TEXT NOT NULL, created_at INTEGER NOT NULL,"
	"  UNIQUE(story_id, revision));"
	"INSERT INTO revisions2(story_id, revision, fingerprint, changed, json, created_at)"
	"  SELECT story_id, revision, fingerprint, changed, json, created_at FROM revisions ORDER BY created_at, story_id, revision;"
	"DROP TABLE revisions;"
	"ALTER TABLE revisions2 RENAME TO revisions;"
	/* newest first with the rowid as the tie-break, straight from the index */
	"DROP INDEX stories_time;"
	"CREATE INDEX stories_time ON stories(published_at DESC, rowid DESC);",
	/* 2 -> 3: the outbox's CHECK constraints as comparisons. A constant IN
	 * list of more than two values is checked through an ephemeral table
	 * that SQLite builds for every row written (two per queued alert,
	 * ~75,000 instructions: a twentieth of ingesting a story). The same
	 * rows and ids; the same values allowed. */
	"CREATE TABLE outbox2("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL CHECK(kind = 'alert' OR kind = 'update' OR kind = 'digest'),"
	"  story_id TEXT NOT NULL, revision INTEGER NOT NULL,"
	"  platform TEXT NOT NULL, target_kind TEXT NOT NULL, target TEXT NOT NULL,"
	"  reason TEXT, lang TEXT,"
	"  status TEXT NOT NULL DEFAULT 'queued'"
	"    CHECK(status = 'queued' OR status = 'sending' OR status = 'sent' OR status = 'failed'),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt_at INTEGER NOT NULL, claimed_at INTEGER,"
	"  remote_id TEXT, error TEXT,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
	"INSERT INTO outbox2(id, kind, story_id, revision, platform, target_kind, target, reason, lang, status,"
	"  attempts, next_attempt_at, claimed_at, remote_id, error, created_at, updated_at)"
	"  SELECT id, kind, story_id, revision, platform, target_kind, target, reason, lang, status,"
	"  attempts, next_attempt_at, claimed_at, remote_id, error, created_at, updated_at FROM outbox;"
	"DROP TABLE outbox;"
	"ALTER TABLE outbox2 RENAME TO outbox;"
	"CREATE INDEX outbox_due ON outbox(status, next_attempt_at);",
	/* 3 -> 4: the search index's Chinese terms changed (each character
	 * starts one pair term, with the next character or the run's end, and
	 * single characters have no terms of their own: bot/search.c), and a
	 * story's topics and entities became terms of its document, which
	 * listings by class read instead of story_class rows (sixteen b-tree
	 * inserts per story, a fifteenth of ingest). The old segments cannot
	 * answer either, so the app rebuilds the index from the stored stories
	 * (meta search_rebuild). */
	"DROP TABLE IF EXISTS story_class; DROP TABLE IF EXISTS class_names;"
	"DELETE FROM search_chunk; DELETE FROM search_seg; DELETE FROM search_dead;"
	"INSERT OR REPLACE INTO meta(key, value) SELECT 'search_rebuild', 1 WHERE EXISTS (SELECT 1 FROM stories);",
	/* 4 -> 5: a merge of the search index done in steps, one per commit
	 * (bot/search.c): its output segment (level -1 until it is done), its
	 * input segments, the dead documents dropped from every step, and the
	 * first term the next step merges. */
	"CREATE TABLE IF NOT EXISTS search_merge(out_seg INTEGER PRIMARY KEY, inputs BLOB NOT NULL, dead BLOB NOT NULL,"
	"  next_term INTEGER NOT NULL);",
	/* 5 -> 6: a story's revisions linked by rowid instead of indexed by
	 * (story_id, revision): the story's row holds its head revision's
	 * rowid (rev_row), each revision the rowid of the one before it
	 * (prev). That index took an insert at a random place for every
	 * revision stored (story ids are hashes), and every commit rewrote the
	 * pages it touched; reading a story's JSON by its row now follows two
	 * rowids. Both tables are copied once with the same rowids (a story's
	 * rowid is its search document), the JSON last, so walking a story's
	 * revisions reads none of the JSON's overflow pages. Columns are named,
	 * so the copy also works on tables already in this shape. */
	"CREATE TABLE revisions3("
	"  rowid INTEGER PRIMARY KEY, story_id TEXT NOT NULL, revision INTEGER NOT NULL, prev INTEGER,"
	"  fingerprint INTEGER NOT NULL, changed TEXT NOT NULL, created_at INTEGER NOT NULL, json TEXT NOT NULL);"
	"INSERT INTO revisions3(rowid, story_id, revision, prev, fingerprint, changed, created_at, json)"
	"  SELECT r.rowid, r.story_id, r.revision, (SELECT p.rowid FROM revisions p WHERE p.story_id = r.story_id"
	"  AND p.revision < r.revision ORDER BY p.revision DESC LIMIT 1), r.fingerprint, r.changed, r.created_at, r.json"
	"  FROM revisions r ORDER BY r.rowid;"
	"CREATE TABLE stories3("
	"  rowid INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  revision INTEGER NOT NULL,"
	"  fingerprint INTEGER NOT NULL,"
	"  source TEXT, url TEXT,"
	"  hot INTEGER, quality INTEGER, impact INTEGER,"
	"  published_at INTEGER, updated_at INTEGER,"
	"  ingested_at INTEGER NOT NULL,"
	"  title TEXT NOT NULL, title_en TEXT, title_zh TEXT,"
	"  classes TEXT NOT NULL DEFAULT '', rev_row INTEGER);"
	"INSERT INTO stories3(rowid, id, revision, fingerprint, source, url, hot, quality, impact, published_at,"
	"  updated_at, ingested_at, title, title_en, title_zh, classes, rev_row)"
	"  SELECT s.rowid, s.id, s.revision, s.fingerprint, s.source, s.url, s.hot, s.quality, s.impact,"
	"  s.published_at, s.updated_at, s.ingested_at, s.title, s.title_en, s.title_zh, s.classes,"
	"  (SELECT r.rowid FROM revisions r WHERE r.story_id = s.id AND r.revision = s.revision)"
	"  FROM stories s ORDER BY s.rowid;"
	"DROP TABLE revisions;"
	"ALTER TABLE revisions3 RENAME TO revisions;"
	"DROP TABLE stories;"
	"ALTER TABLE stories3 RENAME TO stories;"
	"CREATE INDEX stories_time ON stories(published_at DESC, rowid DESC);"
	"CREATE INDEX stories_top ON stories(max(coalesce(hot,0), coalesce(quality,0), coalesce(impact,0)) DESC,"
	"  published_at DESC);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

enum sql_id {
	Q_HEAD,
	Q_DOC_TIME,
	Q_READ_BEGIN,
	Q_READ_END,
	Q_TIME_WALK,
	Q_STORY_INSERT,
	Q_STORY_UPDATE,
	Q_REV_INSERT,
	Q_STORY_JSON,
	Q_STORY_JSON_REV,
	Q_REVISIONS,
	Q_COUNT,
	Q_WINDOW,
	Q_META_GET,
	Q_META_DEL,
	Q_DOC_JSON,
	Q_DOC_BRIEF,
	Q_DOC_BRIEF_JSON,
	Q_REINDEX_SCAN,
	Q_FP_SET,
	Q_RULE_ADD,
	Q_RULE_FIND,
	Q_RULE_DEL,
	Q_RULE_CLEAR,
	Q_RULE_DEL_ORIGIN,
	Q_PREF_SET,
	Q_PREF_GET,
	Q_ALERTED,
	Q_OUTBOX_ADD,
	Q_ALERT_ADD,
	Q_OUTBOX_CLAIM,
	Q_OUTBOX_SENT,
	Q_OUTBOX_RETRY,
	Q_OUTBOX_FAIL,
	Q_OUTBOX_RELEASE,
	Q_OUTBOX_ATTEMPTS,
	Q_ALERT_REMOTE,
	Q_OUTBOX_DEPTH,
	Q_DATA_VERSION,
	Q_NSQL
};

static const char *const sql_text[Q_NSQL] = {
	[Q_HEAD] = "SELECT revision, fingerprint, rowid, rev_row FROM stories WHERE id = ?1",
	[Q_DOC_TIME] = "SELECT published_at FROM stories WHERE rowid = ?1",
	[Q_READ_BEGIN] = "BEGIN",
	[Q_READ_END] = "COMMIT",
	[Q_TIME_WALK] = "SELECT rowid, published_at FROM stories WHERE published_at >= ?1"
			" ORDER BY published_at DESC, rowid DESC",
	[Q_STORY_INSERT] = "INSERT INTO stories(id, revision, fingerprint, source, url, hot, quality, impact,"
			   " published_at, updated_at, ingested_at, title, title_en, title_zh, classes, rev_row)"
			   " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)",
	/* A revision moves the row to the end: its rowid is its search document. */
	[Q_STORY_UPDATE] = "UPDATE stories SET rowid = (SELECT max(rowid) FROM stories) + 1, revision = ?2,"
			   " fingerprint = ?3, source = ?4, url = ?5, hot = ?6, quality = ?7, impact = ?8,"
			   " published_at = coalesce(published_at, ?9), updated_at = ?10, title = ?12,"
			   " title_en = ?13, title_zh = ?14, classes = ?15, rev_row = ?16 WHERE id = ?1" /* ?11 unused */
			   " RETURNING rowid",
	[Q_REV_INSERT] = "INSERT INTO revisions(story_id, revision, prev, fingerprint, changed, created_at, json)"
			 " VALUES(?1,?2,?3,?4,?5,?6,?7)",
	[Q_STORY_JSON] = "SELECT r.json, s.revision, s.published_at FROM stories s JOIN revisions r"
			 " ON r.rowid = s.rev_row WHERE s.id = ?1",
	/* A story's revisions: back from its head along prev, each step to a
	 * smaller revision number (so the walk ends even on a damaged link). */
	[Q_STORY_JSON_REV] = "WITH RECURSIVE chain(rid, rev) AS (SELECT r.rowid, r.revision FROM stories s"
			     " JOIN revisions r ON r.rowid = s.rev_row WHERE s.id = ?1"
			     " UNION ALL SELECT p.rowid, p.revision FROM chain c JOIN revisions r ON r.rowid = c.rid"
			     " JOIN revisions p ON p.rowid = r.prev WHERE p.revision < c.rev AND c.rev > ?2)"
			     " SELECT r.json, r.revision, s.published_at FROM chain c JOIN revisions r ON r.rowid = c.rid"
			     " JOIN stories s ON s.id = ?1 WHERE r.revision = ?2",
	[Q_REVISIONS] = "WITH RECURSIVE chain(rid, rev) AS (SELECT r.rowid, r.revision FROM stories s"
			" JOIN revisions r ON r.rowid = s.rev_row WHERE s.id = ?1"
			" UNION ALL SELECT p.rowid, p.revision FROM chain c JOIN revisions r ON r.rowid = c.rid"
			" JOIN revisions p ON p.rowid = r.prev WHERE p.revision < c.rev)"
			" SELECT r.revision, r.changed, r.created_at FROM chain c JOIN revisions r ON r.rowid = c.rid"
			" ORDER BY r.revision",
	[Q_COUNT] = "SELECT count(*) FROM stories",
	[Q_WINDOW] = "SELECT count(*) FROM (SELECT 1 FROM stories WHERE published_at >= ?1 LIMIT 2000)",
	[Q_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[Q_META_DEL] = "DELETE FROM meta WHERE key = ?1",
	[Q_DOC_JSON] = "SELECT r.json, s.revision, s.published_at FROM stories s JOIN revisions r"
		       " ON r.rowid = s.rev_row WHERE s.rowid = ?1",
	[Q_DOC_BRIEF] = "SELECT id, revision, published_at, hot, quality, impact, title_en, title_zh"
			" FROM stories WHERE rowid = ?1",
	[Q_DOC_BRIEF_JSON] = "SELECT r.json, s.id, s.revision, s.published_at, s.hot, s.quality, s.impact, s.title_en,"
			     " s.title_zh FROM stories s JOIN revisions r ON r.rowid = s.rev_row WHERE s.rowid = ?1",
	[Q_REINDEX_SCAN] = "SELECT r.json, s.revision, s.published_at, s.rowid FROM stories s JOIN revisions r"
			   " ON r.rowid = s.rev_row WHERE s.rowid > ?1 ORDER BY s.rowid",
	[Q_FP_SET] = "UPDATE stories SET fingerprint = ?2 WHERE rowid = ?1",
	[Q_RULE_ADD] = "INSERT INTO rules(platform, target_kind, target, expr, lang, origin)"
		       " VALUES(?1,?2,?3,?4,?5,?6) ON CONFLICT DO NOTHING",
	[Q_RULE_FIND] = "SELECT id FROM rules WHERE platform=?1 AND target_kind=?2 AND target=?3 AND expr=?4",
	[Q_RULE_DEL] = "DELETE FROM rules WHERE id = ?1",
	[Q_RULE_CLEAR] = "DELETE FROM rules WHERE origin = ?1",
	[Q_RULE_DEL_ORIGIN] = "DELETE FROM rules WHERE id = ?1 AND origin = ?2",
	[Q_PREF_SET] = "INSERT INTO prefs(platform, user_id, lang) VALUES(?1,?2,?3)"
		       " ON CONFLICT DO UPDATE SET lang = excluded.lang",
	[Q_PREF_GET] = "SELECT lang FROM prefs WHERE platform = ?1 AND user_id = ?2",
	[Q_ALERTED] = "SELECT 1 FROM alerts WHERE story_id=?1 AND platform=?2 AND target_kind=?3 AND target=?4",
	[Q_OUTBOX_ADD] = "INSERT INTO outbox(kind, story_id, revision, platform, target_kind, target, reason, lang,"
			 " next_attempt_at, created_at, updated_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?9,?9)",
	[Q_ALERT_ADD] = "INSERT OR IGNORE INTO alerts(story_id, platform, target_kind, target, revision, outbox_id)"
			" VALUES(?1,?2,?3,?4,?5,?6)",
	[Q_OUTBOX_CLAIM] =
		"UPDATE outbox SET status='sending', claimed_at=?1, updated_at=?1 WHERE id IN ("
		" SELECT id FROM outbox WHERE ((status='queued' AND next_attempt_at <= ?1)"
		"  OR (status='sending' AND claimed_at <= ?1 - ?2)) AND (?3 IS NULL OR platform = ?3)"
		" ORDER BY id LIMIT ?4)"
		" RETURNING id, kind, story_id, revision, platform, target_kind, target, reason, lang, status,"
		" attempts, next_attempt_at, remote_id, error, created_at",
	[Q_OUTBOX_SENT] = "UPDATE outbox SET status='sent', remote_id=?2, error=NULL, updated_at=?3,"
			  " attempts=attempts+1 WHERE id=?1",
	[Q_OUTBOX_RETRY] = "UPDATE outbox SET status='queued', attempts=attempts+1, next_attempt_at=?3,"
			   " error=?2, updated_at=?4, claimed_at=NULL WHERE id=?1",
	[Q_OUTBOX_FAIL] = "UPDATE outbox SET status='failed', attempts=attempts+1, error=?2, updated_at=?3,"
			  " claimed_at=NULL WHERE id=?1",
	[Q_OUTBOX_RELEASE] = "UPDATE outbox SET status='queued', claimed_at=NULL WHERE id=?1 AND status='sending'",
	[Q_OUTBOX_ATTEMPTS] = "SELECT attempts FROM outbox WHERE id=?1",
	[Q_ALERT_REMOTE] = "SELECT o.remote_id FROM alerts a JOIN outbox o ON o.id = a.outbox_id"
			   " WHERE a.story_id=?1 AND a.platform=?2 AND a.target_kind=?3 AND a.target=?4",
	[Q_DATA_VERSION] = "PRAGMA data_version",
	[Q_OUTBOX_DEPTH] = "SELECT count(*), min(created_at) FROM outbox WHERE status IN ('queued','sending')",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_NSQL];
	char err[512];
	sqlite3_stmt *list_q[64]; /* store_list by shape: topic|entity|since|order|brief|window */
	struct search *search;
	struct normaliser *norm; /* borrowed; for search verification and rebuilds */
	int hold_fd;     /* the hold lock (store_bulk()), or -1 */
	int recover_due; /* held segments lost: recover at the next begin */
};

static int fail(struct store *st, const char *what)
{
	snprintf(st->err, sizeof st->err, "%s: %s", what, sqlite3_errmsg(st->db));
	return -1;
}

const char *store_errmsg(struct store *st)
{
	return st->err;
}

/* The prepared statement for id, reset and with bindings cleared. */
static sqlite3_stmt *q(struct store *st, enum sql_id id)
{
	if (!st->q[id]) {
		if (sqlite3_prepare_v3(st->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &st->q[id], NULL) !=
		    SQLITE_OK) {
			fail(st, "prepare");
			return NULL;
		}
	} else {
		sqlite3_reset(st->q[id]);
		sqlite3_clear_bindings(st->q[id]);
	}
	return st->q[id];
}

/* Static text lent for the statement's execution only. */
static void bind_static(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static void bind_score(sqlite3_stmt *s, int i, int v)
{
	if (v >= 0)
		sqlite3_bind_int(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

/* Run a statement that returns no rows; reset it after. */
static int run(struct store *st, sqlite3_stmt *s, const char *what)
{
	if (!s)
		return -1;
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return fail(st, what);
	return 0;
}

static int exec(struct store *st, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(st->err, sizeof st->err, "%s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int store_schema_version(struct store *st)
{
	sqlite3_stmt *s;
	int v = -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	return v;
}

static int migrate(struct store *st)
{
	int v = store_schema_version(st);
	if (v < 0)
		return fail(st, "read schema version");
	if (v > NMIGRATIONS) {
		snprintf(st->err, sizeof st->err,
			 "database schema version %d is newer than this ainews (%d): refusing to touch it", v,
			 NMIGRATIONS);
		return -1;
	}
	if (v > 0 && v < NMIGRATIONS) /* an existing store: say why opening takes a while */
		log_info("store: upgrading the database from schema %d to %d (copies tables: ~12 s for 100,000 stories)", v,
			 NMIGRATIONS);
	/* Another process may be migrating the same file (a daemon and an
	 * `ainews ingest` started together after an upgrade; schema 6 takes
	 * 12 s on 100,000 stories): wait for it rather than give up. */
	sqlite3_busy_timeout(st->db, STORE_MIGRATION_BUSY_MS);
	while (v < NMIGRATIONS) {
		if (exec(st, "BEGIN IMMEDIATE"))
			return -1;
		/* Read again under the write lock: the other process may have
		 * migrated while this one waited for it. */
		int now = store_schema_version(st);
		if (now != v) {
			exec(st, "ROLLBACK");
			if (now < v || now > NMIGRATIONS) {
				snprintf(st->err, sizeof st->err, "database schema version changed from %d to %d meanwhile", v,
					 now);
				return -1;
			}
			v = now;
			continue;
		}
		char pragma[64];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		if (exec(st, migrations[v]) || exec(st, pragma)) {
			char keep[512];
			snprintf(keep, sizeof keep, "migration %d -> %d: %.400s", v, v + 1, st->err);
			exec(st, "ROLLBACK");
			snprintf(st->err, sizeof st->err, "%s", keep);
			return -1;
		}
		if (exec(st, "COMMIT"))
			return -1;
		v++;
		/* A migration that copies tables leaves a WAL as big as they
		 * are, and SQLite reuses a WAL file without shrinking it while
		 * any connection is open (a daemon: for its lifetime). Schema 6
		 * on 100,000 stories left 1.3 GB of it. Copied back and cut to
		 * nothing now; best effort (another connection may be reading). */
		if (v == NMIGRATIONS)
			sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	return 0;
}

/* Before SQLite initialises: no bulk page-cache allocation. By default
 * every connection's cache starts with a 20-page block (170 KB at 8 KB
 * pages) whether it needs it or not; then pages are allocated as read and
 * given back by store_release_memory(). A no-op once SQLite is running. */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)NULL, 0, 0);
	/* the default VFS from here on: see writeback.h (forwards only, if it
	 * cannot register: SQLite's own default stays) */
	writeback_register();
}

int store_open(const char *path, struct store **out, char **err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_setup);
	struct store *st = xcalloc(1, sizeof *st);
	st->hold_fd = -1;
	*out = NULL;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		store_close(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	sqlite3_extended_result_codes(st->db, 1);
	/* 8 KB pages for a new database (SQLite's default is 4 KB): a stored
	 * revision is ~11 KB of JSON and the search index writes 16 KB
	 * chunks, so fewer, bigger pages mean fewer page writes and WAL
	 * frames. A no-op for an existing database.
	 * secure_delete=FAST: Debian builds SQLite with secure_delete on,
	 * which writes zeros over every page a delete frees. The search
	 * index frees its merged segments' pages all the time (every story's
	 * first postings), so each story paid for writing and checkpointing
	 * ~1.7 KB of zeros. FAST still clears deleted rows inside pages that
	 * are written anyway; a freed page keeps its old bytes until reused.
	 * (A migration that dropped a 1.3 GB table with it on also kept every
	 * overwritten page in the in-memory statement journal.)
	 * journal_size_limit: SQLite reuses a WAL file without shrinking it
	 * while any connection is open; a daemon beside a bulk ingest (its
	 * 128 MB WAL) cuts it back to 16 MB at its first commit after the
	 * WAL restarts. Bulk ingest itself keeps its WAL whole (store_bulk). */
	if (exec(st, "PRAGMA page_size=8192") || register_legacy_tokenizer(st->db) ||
	    exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
		     "PRAGMA temp_store=MEMORY; PRAGMA secure_delete=FAST; PRAGMA journal_size_limit=16777216;") ||
	    migrate(st)) {
		*err = xasprintf("%s: %s", path, st->err[0] ? st->err : "cannot set up the database");
		store_close(st);
		return -1;
	}
	st->search = search_new(st->db);
	*out = st;
	return 0;
}

void store_set_normaliser(struct store *st, struct normaliser *n)
{
	st->norm = n;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->search && st->hold_fd >= 0 && store_bulk_end(st))
		log_warn("store: search index: %s (written at the next start)", st->err);
	if (st->hold_fd >= 0)
		close(st->hold_fd);
	for (int i = 0; i < Q_NSQL; i++)
		sqlite3_finalize(st->q[i]);
	for (size_t i = 0; i < sizeof st->list_q / sizeof *st->list_q; i++)
		sqlite3_finalize(st->list_q[i]);
	search_free(st->search);
	sqlite3_close(st->db);
	free(st);
}

void store_cache_kb(struct store *st, int kb)
{
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", kb > 0 ? kb : 1);
	exec(st, sql);
}

void store_release_memory(struct store *st)
{
	sqlite3_db_release_memory(st->db);
}

void store_merge_budget(struct store *st, int64_t entries)
{
	search_set_merge_budget(st->search, entries);
}

/* The hold lock: an exclusive flock() on the file beside the database
 * (DB-hold), taken without waiting. The descriptor, or -1 when another
 * process has it or there is no file (an in-memory database). The kernel
 * drops it when its holder dies, however it dies. */
static int hold_lock(struct store *st)
{
	const char *db = sqlite3_db_filename(st->db, "main");
	if (!db || !*db)
		return -1;
	/* Made with the database's permissions, as SQLite makes its WAL, so
	 * a daemon and an ingest run by different users of one group can
	 * both take it; an existing one that is not writable locks as well
	 * read-only. */
	struct stat sb;
	mode_t mode = stat(db, &sb) == 0 ? sb.st_mode & 0666 : 0600;
	char *path = xasprintf("%s-hold", db);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode);
	if (fd >= 0)
		fchmod(fd, mode);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return -1;
	}
	return fd;
}

void store_bulk(struct store *st)
{
	exec(st, "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=16000; PRAGMA journal_size_limit=-1;");
	/* Hold the search index's first segments in memory (search_hold()):
	 * one bulk ingest at a time, after redoing what a dead one left. */
	if (st->hold_fd >= 0 || search_holding(st->search))
		return;
	st->hold_fd = hold_lock(st);
	if (st->hold_fd < 0)
		return;
	int64_t n = 0;
	if (store_search_recover(st, &n)) {
		log_warn("store: search index: %s", st->err);
		close(st->hold_fd);
		st->hold_fd = -1;
		return;
	}
	search_hold(st->search, 1);
}

int store_bulk_end(struct store *st)
{
	int rc = 0;
	if (search_holding(st->search)) {
		if (exec(st, "BEGIN IMMEDIATE"))
			return -1;
		if (search_hold_end(st->search)) {
			fail(st, "search index");
			store_rollback(st);
			return -1;
		}
		rc = store_commit(st);
		if (rc)
			store_rollback(st);
	}
	if (!rc && st->hold_fd >= 0) {
		close(st->hold_fd);
		st->hold_fd = -1;
	}
	return rc;
}

int store_begin(struct store *st)
{
	/* Held segments lost with a rolled-back batch, or a merge held back
	 * by a claim: re-index the claim's documents if its holder is gone
	 * (a no-op while it lives). */
	if (st->recover_due || search_claim_seen(st->search)) {
		st->recover_due = 0;
		int64_t n;
		if (store_search_recover(st, &n))
			log_warn("store: search index: %s", st->err);
	}
	return exec(st, "BEGIN IMMEDIATE");
}

int store_commit(struct store *st)
{
	/* The search index writes its pending documents inside the
	 * transaction, so they commit (or not) with the stories. */
	int rc = search_flush(st->search);
	if (rc) {
		if (rc == -2)
			snprintf(st->err, sizeof st->err, "search index: document ids out of order");
		else
			fail(st, "search index");
		return -1;
	}
	if (exec(st, "COMMIT"))
		return -1;
	search_committed(st->search);
	return 0;
}

void store_rollback(struct store *st)
{
	search_discard(st->search);
	if (!sqlite3_get_autocommit(st->db))
		exec(st, "ROLLBACK");
	if (search_hold_lost(st->search)) {
		/* The claim stands for what was held; let go of the lock so the
		 * recovery at the next begin may take it. */
		log_warn("store: search index: held segments dropped with a rolled-back batch; re-indexing them");
		if (st->hold_fd >= 0)
			close(st->hold_fd);
		st->hold_fd = -1;
		st->recover_due = 1;
	}
}

/* ---- stories ---------------------------------------------------------------- */

int store_story_head(struct store *st, const char *id, int *revision, uint64_t *fingerprint)
{
	sqlite3_stmt *s = q(st, Q_HEAD);
	if (!s)
		return -1;
	bind_static(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*revision = sqlite3_column_int(s, 0);
		*fingerprint = (uint64_t)sqlite3_column_int64(s, 1);
		sqlite3_reset(s);
		return 1;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail(st, "story head");
}

/* Fewer recent stories than this: sort them rather than walk the score
 * index (Q_WINDOW counts up to it). */
#define STORE_WINDOW_SORT 2000

/* " topic:a topic:b entity:c " — a story's classes on its row, so a
 * listing can test a second filter without another table. */
static void classes_text(const struct story *s, struct sbuf *b)
{
	sbuf_addc(b, ' ');
	for (size_t i = 0; i < s->topics.n; i++) {
		sbuf_add(b, "topic:", 6);
		sbuf_adds(b, s->topics.v[i]);
		sbuf_addc(b, ' ');
	}
	for (size_t i = 0; i < s->entities.n; i++) {
		sbuf_add(b, "entity:", 7);
		sbuf_adds(b, s->entities.v[i]);
		sbuf_addc(b, ' ');
	}
}

/* The classes of a classes text (" topic:a entity:b ") as terms of doc,
 * the document search_add() queued last: listings by class read them. */
static int class_terms_add(struct store *st, int64_t doc, const char *classes)
{
	for (const char *p = classes; *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e > p && search_add_class(st->search, doc, p, (size_t)(e - p)))
			return -1;
		p = e;
	}
	return 0;
}

int store_story_put(struct store *st, const struct story *s, uint64_t fingerprint, const char *changed,
		    const char *const texts[STORY_NTEXT], const size_t lens[STORY_NTEXT], int64_t now)
{
	int64_t old_rowid = 0, prev_rev = 0;
	if (s->revision > 1) {
		sqlite3_stmt *h = q(st, Q_HEAD);
		if (!h)
			return -1;
		bind_static(h, 1, s->id);
		if (sqlite3_step(h) == SQLITE_ROW) {
			old_rowid = sqlite3_column_int64(h, 2);
			prev_rev = sqlite3_column_int64(h, 3);
		}
		sqlite3_reset(h);
	}
	/* The revision first: the story's row points at it. */
	char *json = story_to_json(s, NULL, 0);
	sqlite3_stmt *r = q(st, Q_REV_INSERT);
	if (!r) {
		free(json);
		return -1;
	}
	bind_static(r, 1, s->id);
	sqlite3_bind_int(r, 2, s->revision);
	if (prev_rev > 0)
		sqlite3_bind_int64(r, 3, prev_rev);
	sqlite3_bind_int64(r, 4, (sqlite3_int64)fingerprint);
	bind_static(r, 5, changed ? changed : "new");
	sqlite3_bind_int64(r, 6, now);
	sqlite3_bind_text(r, 7, json, -1, free);
	if (run(st, r, "store revision"))
		return -1;
	sqlite3_int64 rev_row = sqlite3_last_insert_rowid(st->db);

	struct sbuf classes = {0};
	classes_text(s, &classes);
	int64_t published = s->published_at > 0 ? s->published_at : now;
	sqlite3_stmt *u = q(st, old_rowid ? Q_STORY_UPDATE : Q_STORY_INSERT);
	if (!u) {
		sbuf_free(&classes);
		return -1;
	}
	bind_static(u, 1, s->id);
	sqlite3_bind_int(u, 2, s->revision);
	sqlite3_bind_int64(u, 3, (sqlite3_int64)fingerprint);
	bind_static(u, 4, s->source);
	bind_static(u, 5, s->url);
	bind_score(u, 6, s->scores[STORY_HOT]);
	bind_score(u, 7, s->scores[STORY_QUALITY]);
	bind_score(u, 8, s->scores[STORY_IMPACT]);
	sqlite3_bind_int64(u, 9, published);
	sqlite3_bind_int64(u, 10, s->updated_at > 0 ? s->updated_at : now);
	sqlite3_bind_int64(u, 11, now);
	bind_static(u, 12, story_title(s));
	bind_static(u, 13, s->title[STORY_EN]);
	bind_static(u, 14, s->title[STORY_ZH]);
	sqlite3_bind_text(u, 15, classes.s, (int)classes.len, SQLITE_STATIC);
	sqlite3_bind_int64(u, 16, rev_row);
	int rc = sqlite3_step(u);
	sqlite3_int64 rowid = old_rowid ? (rc == SQLITE_ROW ? sqlite3_column_int64(u, 0) : 0)
					: sqlite3_last_insert_rowid(st->db);
	sqlite3_reset(u);
	if ((old_rowid ? rc != SQLITE_ROW : rc != SQLITE_DONE) || rowid <= 0) {
		sbuf_free(&classes);
		return fail(st, "store story");
	}
	rc = 0;

	/* The previous revision's document is dead (its words and classes
	 * with it); the new one is indexed under the row's new rowid. */
	if (!rc && old_rowid)
		rc = search_dead(st->search, old_rowid) ? fail(st, "search index") : 0;
	if (!rc && (search_add(st->search, rowid, texts, lens, STORY_NTEXT) ||
		    class_terms_add(st, rowid, classes.s ? classes.s : ""))) {
		snprintf(st->err, sizeof st->err, "search index: document ids out of order");
		rc = -1;
	}
	sbuf_free(&classes);
	return rc;
}

/* Decode the stored JSON of one revision into *out. */
static void take_story_cb(void *ud, struct story *s, const char *where, const char *err)
{
	(void)where, (void)err;
	struct story *out = ud;
	if (s) {
		story_free(out);
		*out = *s;
		story_init(s);
	}
}

static int story_from_row(sqlite3_stmt *s, struct story *out)
{
	const char *json = (const char *)sqlite3_column_text(s, 0);
	if (!json)
		return -1;
	char *err = NULL;
	int rej = story_from_json_text(json, (size_t)sqlite3_column_bytes(s, 0), take_story_cb, out, &err);
	free(err);
	if (rej != 0 || !out->id)
		return -1;
	out->revision = sqlite3_column_int(s, 1);
	if (!out->published_at)
		out->published_at = sqlite3_column_int64(s, 2);
	return 0;
}

int store_story_get(struct store *st, const char *id, int revision, struct story *out)
{
	sqlite3_stmt *s = q(st, revision > 0 ? Q_STORY_JSON_REV : Q_STORY_JSON);
	if (!s)
		return -1;
	bind_static(s, 1, id);
	if (revision > 0)
		sqlite3_bind_int(s, 2, revision);
	int rc = sqlite3_step(s);
	int ret = 0;
	if (rc == SQLITE_ROW)
		ret = story_from_row(s, out) ? (snprintf(st->err, sizeof st->err, "story %s: stored JSON unreadable", id), -1) : 1;
	else if (rc != SQLITE_DONE)
		ret = fail(st, "story get");
	sqlite3_reset(s);
	return ret;
}

int store_story_revisions(struct store *st, const char *id,
			  void (*cb)(void *ud, int revision, const char *changed, int64_t created_at), void *ud)
{
	sqlite3_stmt *s = q(st, Q_REVISIONS);
	if (!s)
		return -1;
	bind_static(s, 1, id);
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		cb(ud, sqlite3_column_int(s, 0), (const char *)sqlite3_column_text(s, 1), sqlite3_column_int64(s, 2));
		n++;
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? n : fail(st, "revisions");
}

int64_t store_story_count(struct store *st)
{
	sqlite3_stmt *s = q(st, Q_COUNT);
	if (!s)
		return -1;
	int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_reset(s);
	return n;
}

/* Run an ad-hoc SELECT json, revision, published_at ... and hand out stories. */
/* A brief row: id, revision, published_at, hot, quality, impact, title_en,
 * title_zh straight from the stories table, no JSON to parse. */
static int story_from_brief_at(sqlite3_stmt *s, int c, struct story *out)
{
	out->id = col_dup(s, c);
	out->revision = sqlite3_column_int(s, c + 1);
	out->published_at = sqlite3_column_int64(s, c + 2);
	for (int i = 0; i < STORY_NSCORES; i++)
		out->scores[i] = sqlite3_column_type(s, c + 3 + i) == SQLITE_NULL ? STORY_SCORE_NONE
										    : sqlite3_column_int(s, c + 3 + i);
	out->title[STORY_EN] = col_dup(s, c + 6);
	out->title[STORY_ZH] = col_dup(s, c + 7);
	return out->id ? 0 : -1;
}

static int story_from_brief(sqlite3_stmt *s, struct story *out)
{
	return story_from_brief_at(s, 0, out);
}

static int emit_stories(struct store *st, sqlite3_stmt *s, void (*cb)(void *ud, struct story *s), void *ud)
{
	int n = 0, rc;
	int brief = sqlite3_column_count(s) == 8;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct story story;
		story_init(&story);
		if ((brief ? story_from_brief(s, &story) : story_from_row(s, &story)) == 0) {
			cb(ud, &story);
			n++;
		}
		story_free(&story);
	}
	if (rc != SQLITE_DONE)
		n = fail(st, "query");
	sqlite3_reset(s); /* statements here are cached */
	return n;
}

/* A read transaction around a query that reads the search index and the
 * rows, so a merge by another process cannot move segments between the
 * two. 1 when this call began it (read_end() ends it), 0 when the caller's
 * transaction is open already, -1 on error. Prepared statements: a
 * command's query should not parse SQL. */
static int read_begin(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		return 0;
	sqlite3_stmt *b = q(st, Q_READ_BEGIN);
	return !b || run(st, b, "begin") ? -1 : 1;
}

static void read_end(struct store *st, int own)
{
	sqlite3_stmt *e = own > 0 ? q(st, Q_READ_END) : NULL;
	if (own > 0 && (!e || run(st, e, "commit")))
		exec(st, "ROLLBACK");
}

/* Newest stories of a topic, an entity or both, by published time. A
 * story's classes are terms of its search document, so membership comes
 * from the index (superseded documents included: they are no longer rows).
 * The time index is walked newest first and each story looked up, which
 * reads only the newest segments when the class is common among recent
 * stories. When a bounded walk does not settle it, the whole class is
 * read: few stories (under STORE_CLASS_DIRECT) have each one's time read
 * and sorted; many keep the walk going. */
#define STORE_CLASS_DIRECT 4000
#define STORE_CLASS_WALK(limit) (64 + 16 * (size_t)(limit))

struct dated {
	int64_t published, doc;
};

static int cmp_dated_desc(const void *x, const void *y)
{
	const struct dated *a = x, *b = y;
	if (a->published != b->published)
		return a->published < b->published ? 1 : -1;
	return a->doc < b->doc ? 1 : a->doc > b->doc ? -1 : 0;
}

/* 1 when doc is in every class, 0 not, -1 error */
static int in_classes(struct search_class *const *c, int nc, int64_t doc)
{
	for (int i = 0; i < nc; i++) {
		int m = search_class_has(c[i], doc);
		if (m != 1)
			return m;
	}
	return 1;
}

/* Step the time walk w, keeping the stories in every class, until limit
 * are kept, rows rows are read or the walk ends. The last step's result
 * (SQLITE_ROW: more to read), or -1 on an error. */
static int walk_classes(struct store *st, sqlite3_stmt *w, struct search_class *const *c, int nc, size_t rows,
			struct dated *pick, size_t *npick, size_t limit)
{
	int step = SQLITE_DONE;
	for (size_t read = 0; *npick < limit && read < rows && (step = sqlite3_step(w)) == SQLITE_ROW; read++) {
		int64_t doc = sqlite3_column_int64(w, 0);
		int m = in_classes(c, nc, doc);
		if (m < 0)
			return fail(st, "search index");
		if (m)
			pick[(*npick)++] = (struct dated){sqlite3_column_int64(w, 1), doc};
	}
	return step == SQLITE_ROW || step == SQLITE_DONE ? step : fail(st, "list");
}

static int list_by_class(struct store *st, const struct store_query *qr, void (*cb)(void *ud, struct story *s),
			 void *ud)
{
	size_t limit = (size_t)(qr->limit > 0 ? qr->limit : 20);
	int own = read_begin(st);
	if (own < 0)
		return -1;
	struct search_class *c[2] = {NULL, NULL};
	int nc = 0, rc = 0;
	for (int k = 0; k < 2; k++) {
		const char *id = k ? qr->entity : qr->topic;
		if (!id)
			continue;
		char *name = xasprintf("%s:%s", k ? "entity" : "topic", id);
		if (!(c[nc++] = search_class_open(st->search, name, strlen(name))))
			rc = fail(st, "search index");
		free(name);
	}
	struct dated *pick = xmalloc(limit * sizeof *pick);
	size_t npick = 0;
	int step = SQLITE_DONE, m;
	sqlite3_stmt *w = rc ? NULL : q(st, Q_TIME_WALK);
	if (!rc && !w)
		rc = -1;
	if (!rc) {
		sqlite3_bind_int64(w, 1, qr->since > 0 ? qr->since : INT64_MIN);
		step = walk_classes(st, w, c, nc, STORE_CLASS_WALK(limit), pick, &npick, limit);
		rc = step < 0 ? -1 : 0;
	}
	if (!rc && npick < limit && step == SQLITE_ROW) { /* not settled */
		const int64_t *all;
		size_t n = 0, k = 0;
		if (search_class_all(c[0], &all, &n))
			rc = fail(st, "search index");
		int64_t *docs = xmalloc((n ? n : 1) * sizeof *docs);
		for (size_t i = 0; i < n && !rc; i++) {
			if ((m = in_classes(c + 1, nc - 1, all[i])) < 0)
				rc = fail(st, "search index");
			else if (m)
				docs[k++] = all[i];
		}
		if (!rc && k < STORE_CLASS_DIRECT) {
			sqlite3_reset(w);
			struct dated *d = xmalloc((k ? k : 1) * sizeof *d);
			size_t nd = 0;
			for (size_t i = 0; i < k && !rc; i++) {
				sqlite3_stmt *t = q(st, Q_DOC_TIME);
				if (!t) {
					rc = -1;
					break;
				}
				sqlite3_bind_int64(t, 1, docs[i]);
				int r = sqlite3_step(t);
				if (r == SQLITE_ROW) {
					int64_t pub = sqlite3_column_int64(t, 0);
					if (qr->since <= 0 || pub >= qr->since)
						d[nd++] = (struct dated){pub, docs[i]};
				} else if (r != SQLITE_DONE) { /* DONE: a superseded revision */
					rc = fail(st, "list");
				}
				sqlite3_reset(t);
			}
			qsort(d, nd, sizeof *d, cmp_dated_desc);
			npick = nd < limit ? nd : limit;
			memcpy(pick, d, npick * sizeof *pick);
			free(d);
		} else if (!rc && walk_classes(st, w, c, nc, SIZE_MAX, pick, &npick, limit) < 0) {
			rc = -1;
		}
		free(docs);
	}
	if (w)
		sqlite3_reset(w);
	for (int k = 0; k < nc; k++)
		search_class_close(c[k]);
	int out = 0;
	for (size_t i = 0; i < npick && !rc; i++) {
		sqlite3_stmt *d = q(st, qr->brief ? Q_DOC_BRIEF : Q_DOC_JSON);
		if (!d) {
			rc = -1;
			break;
		}
		sqlite3_bind_int64(d, 1, pick[i].doc);
		int r = sqlite3_step(d);
		if (r == SQLITE_ROW) {
			struct story story;
			story_init(&story);
			if ((qr->brief ? story_from_brief(d, &story) : story_from_row(d, &story)) == 0) {
				cb(ud, &story);
				out++;
			}
			story_free(&story);
		} else if (r != SQLITE_DONE) {
			rc = fail(st, "list");
		}
		sqlite3_reset(d);
	}
	free(pick);
	read_end(st, own);
	return rc ? -1 : out;
}

int store_list(struct store *st, const struct store_query *qr, void (*cb)(void *ud, struct story *s), void *ud)
{
	if ((qr->topic || qr->entity) && qr->order != STORE_ORDER_SCORE)
		return list_by_class(st, qr, cb, ud);
	int shape = (qr->topic ? 1 : 0) | (qr->entity ? 2 : 0) | (qr->since > 0 ? 4 : 0) |
		    (qr->order == STORE_ORDER_SCORE ? 8 : 0) | (qr->brief ? 16 : 0);
	/* Best scores since a time: walking the score index and skipping
	 * older stories is quick when most are recent, and reads the whole
	 * store when few are; then sorting the few recent ones is quicker. */
	if (qr->order == STORE_ORDER_SCORE && qr->since > 0 && !qr->topic && !qr->entity) {
		sqlite3_stmt *c = q(st, Q_WINDOW);
		if (!c)
			return -1;
		sqlite3_bind_int64(c, 1, qr->since);
		if (sqlite3_step(c) == SQLITE_ROW && sqlite3_column_int(c, 0) < STORE_WINDOW_SORT)
			shape |= 32;
		sqlite3_reset(c);
	}
	sqlite3_stmt *s = st->list_q[shape];
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		goto bind;
	}
	/* Pick the ids first (indexes only: stories_time or stories_top), then
	 * fetch the JSON of just those rows, so a query never drags every
	 * revision through a sort. By class and time: list_by_class(). */
	struct sbuf sql = {0};
	const char *order = qr->order == STORE_ORDER_SCORE
				    ? "max(coalesce(s.hot,0), coalesce(s.quality,0), coalesce(s.impact,0)) DESC, s.published_at DESC"
				    : "s.published_at DESC, s.rowid DESC";
	if (qr->brief)
		sbuf_adds(&sql, "SELECT s.id, s.revision, s.published_at, s.hot, s.quality, s.impact, s.title_en,"
				" s.title_zh FROM (SELECT s.id, s.revision, s.published_at, s.hot, s.quality, s.impact,"
				" s.title_en, s.title_zh, s.rowid AS rid FROM ");
	else
		sbuf_adds(&sql, "SELECT r.json, s.revision, s.published_at FROM (SELECT s.id, s.revision, s.rev_row,"
				" s.published_at, s.hot, s.quality, s.impact, s.rowid AS rid FROM ");
	sbuf_adds(&sql, shape & 32 ? "stories s INDEXED BY stories_time WHERE 1" : "stories s WHERE 1");
	if (qr->topic)
		sbuf_adds(&sql, " AND instr(s.classes, ' topic:' || ?1 || ' ') > 0");
	if (qr->entity)
		sbuf_adds(&sql, " AND instr(s.classes, ' entity:' || ?2 || ' ') > 0");
	if (qr->since > 0)
		sbuf_adds(&sql, " AND s.published_at >= ?3");
	sbuf_addf(&sql, " ORDER BY %s LIMIT ?4) s", order);
	if (!qr->brief)
		sbuf_adds(&sql, " JOIN revisions r ON r.rowid = s.rev_row");
	sbuf_addf(&sql, " ORDER BY %s", qr->order == STORE_ORDER_SCORE
						? "max(coalesce(s.hot,0), coalesce(s.quality,0), coalesce(s.impact,0)) DESC, s.published_at DESC"
						: "s.published_at DESC, s.rid DESC");
	int rc = sqlite3_prepare_v3(st->db, sql.s, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
	sbuf_free(&sql);
	if (rc != SQLITE_OK)
		return fail(st, "list");
	st->list_q[shape] = s;
bind:
	bind_static(s, 1, qr->topic);
	bind_static(s, 2, qr->entity);
	sqlite3_bind_int64(s, 3, qr->since);
	sqlite3_bind_int(s, 4, qr->limit > 0 ? qr->limit : 20);
	return emit_stories(st, s, cb, ud);
}

/* Normalised search text of a story, as app_put_story indexes it: each
 * text field through the normaliser. texts[] owned by the caller. */
void store_story_texts(struct store *st, const struct story *s, char *texts[STORY_NTEXT], size_t lens[STORY_NTEXT])
{
	struct sbuf b = {0};
	for (int f = 0; f < STORY_NTEXT; f++) {
		sbuf_reset(&b);
		story_field_text(s, f, &b);
		lens[f] = 0;
		texts[f] = b.len ? normalise_text(st->norm, b.s, b.len, &lens[f]) : NULL;
	}
	sbuf_free(&b);
}

static void texts_free(char *texts[STORY_NTEXT])
{
	for (int f = 0; f < STORY_NTEXT; f++)
		free(texts[f]);
}

/* A candidate whose words must be checked against its text gets at most
 * this many tries in a row without a hit; a query of common words in a
 * rare order then stops instead of reading the whole store. */
#define STORE_SEARCH_MISSES 2000

struct search_run {
	struct store *st;
	const struct search_query *q;
	int brief, limit, n, misses, err;
	void (*cb)(void *ud, struct story *s);
	void *ud;
};

static int verify_story(struct store *st, const struct search_query *sq, const struct story *s)
{
	char *texts[STORY_NTEXT];
	size_t lens[STORY_NTEXT];
	store_story_texts(st, s, texts, lens);
	int ok = search_query_verify(sq, (const char *const *)texts, lens, STORY_NTEXT);
	texts_free(texts);
	return ok;
}

/* The indexed fields' part of a stored story's JSON: from "title" to just
 * before "tags" (the writer's key order), so a word in a tag, topic or
 * URL does not count. */
static int indexed_json(const char *json, size_t len, const char **from, size_t *n)
{
	const char *a = memmem(json, len, ",\"title\":", 9);
	const char *b = a ? memmem(a, len - (size_t)(a - json), ",\"tags\":", 8) : NULL;
	if (!a || !b)
		return -1;
	*from = a;
	*n = (size_t)(b - a);
	return 0;
}

static int search_doc(void *ud, int64_t doc)
{
	struct search_run *r = ud;
	struct store *st = r->st;
	int verify = search_query_needs_verify(r->q);
	/* Checking a candidate needs its JSON; listing it briefly does not. */
	sqlite3_stmt *s = q(st, !r->brief ? Q_DOC_JSON : verify ? Q_DOC_BRIEF_JSON : Q_DOC_BRIEF);
	if (!s)
		return r->err = -1;
	sqlite3_bind_int64(s, 1, doc);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return r->err = fail(st, "search");
		return 0; /* a superseded revision */
	}
	int keep = 1;
	if (verify) {
		/* Most candidates are settled by finding their CJK words in the
		 * stored text as they are; only the rest are normalised. */
		const char *json = (const char *)sqlite3_column_text(s, 0), *part;
		size_t len = (size_t)sqlite3_column_bytes(s, 0), plen;
		if (!json || indexed_json(json, len, &part, &plen) || !search_query_confirm(r->q, part, plen)) {
			struct story full;
			story_init(&full);
			char *perr = NULL;
			keep = json && story_from_json_text(json, len, take_story_cb, &full, &perr) == 0 && full.id &&
			       verify_story(st, r->q, &full);
			free(perr);
			story_free(&full);
		}
		if (!keep && ++r->misses >= STORE_SEARCH_MISSES) {
			sqlite3_reset(s);
			return 1;
		}
	}
	if (keep) {
		struct story story;
		story_init(&story);
		int bad = !r->brief ? story_from_row(s, &story)
			  : verify   ? story_from_brief_at(s, 1, &story)
				     : story_from_brief(s, &story);
		if (!bad) {
			r->misses = 0;
			r->cb(r->ud, &story);
			r->n++;
		}
		story_free(&story);
	}
	sqlite3_reset(s);
	return r->n >= r->limit ? 1 : 0;
}

int store_search(struct store *st, const char *query, int limit, void (*cb)(void *ud, struct story *s), void *ud)
{
	return store_search_ex(st, query, limit, 0, cb, ud);
}

int store_search_ex(struct store *st, const char *query, int limit, int brief,
		    void (*cb)(void *ud, struct story *s), void *ud)
{
	struct search_query *sq;
	if (search_query_compile(query, &sq) == 0) {
		snprintf(st->err, sizeof st->err, "nothing searchable in the query");
		return -2;
	}
	/* One read transaction, so a merge by another process cannot move
	 * segments between reading the list and reading a chunk. */
	int own = read_begin(st);
	if (own < 0) {
		search_query_free(sq);
		return -1;
	}
	struct search_run r = {st, sq, brief, limit > 0 ? limit : 20, 0, 0, 0, cb, ud};
	int rc = search_query_run(st->search, sq, search_doc, &r);
	read_end(st, own);
	search_query_free(sq);
	if (r.err)
		return r.err;
	if (rc)
		return fail(st, "search index");
	return r.n;
}

int store_search_rebuild_needed(struct store *st)
{
	sqlite3_stmt *s = q(st, Q_META_GET);
	if (!s)
		return -1;
	bind_static(s, 1, "search_rebuild");
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : fail(st, "meta");
}

/* Index the story of s, a Q_REINDEX_SCAN row, as document doc (its texts
 * and classes): 1 done, 0 unreadable (skipped), -1 the index refused it.
 * *fp (fp not NULL): its fingerprint, when it is readable. */
static int reindex_row(struct store *st, sqlite3_stmt *s, int64_t doc, uint64_t *fp)
{
	struct story story;
	story_init(&story);
	int rc = 0;
	if (story_from_row(s, &story) == 0) {
		char *texts[STORY_NTEXT];
		size_t lens[STORY_NTEXT];
		store_story_texts(st, &story, texts, lens);
		rc = search_add(st->search, doc, (const char *const *)texts, lens, STORY_NTEXT) ? -1 : 1;
		texts_free(texts);
		struct sbuf classes = {0};
		classes_text(&story, &classes);
		if (rc > 0 && class_terms_add(st, doc, classes.s))
			rc = -1;
		sbuf_free(&classes);
		if (fp)
			*fp = story_fingerprint(&story);
	}
	story_free(&story);
	return rc;
}

int store_search_rebuild(struct store *st, int64_t *count)
{
	*count = 0;
	st->err[0] = 0;
	if (store_begin(st))
		return -1;
	if (search_clear(st->search))
		goto fail;
	int64_t after = 0;
	for (;;) {
		sqlite3_stmt *s = q(st, Q_REINDEX_SCAN);
		if (!s)
			goto fail;
		sqlite3_bind_int64(s, 1, after);
		int rc = SQLITE_DONE, n = 0;
		int64_t rows[256];
		uint64_t fps[256];
		while (n < 256 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			after = rows[n] = sqlite3_column_int64(s, 3);
			fps[n] = 0;
			reindex_row(st, s, after, &fps[n]); /* a fresh index takes growing ids */
			n++;
		}
		sqlite3_reset(s);
		/* Schema 2 also changed how fingerprints are computed. */
		for (int i = 0; i < n; i++) {
			if (!fps[i])
				continue;
			sqlite3_stmt *f = q(st, Q_FP_SET);
			if (!f)
				goto fail;
			sqlite3_bind_int64(f, 1, rows[i]);
			sqlite3_bind_int64(f, 2, (sqlite3_int64)fps[i]);
			if (run(st, f, "fingerprint"))
				goto fail;
		}
		if (n < 256 && rc != SQLITE_DONE)
			goto fail;
		*count += n;
		if (n < 256)
			break;
		/* Commit every batch: a crash leaves the marker, and the next
		 * start rebuilds from scratch. */
		if (store_commit(st) || store_begin(st))
			goto fail;
	}
	sqlite3_stmt *d = q(st, Q_META_DEL);
	if (!d)
		goto fail;
	bind_static(d, 1, "search_rebuild");
	if (run(st, d, "meta") || store_commit(st))
		goto fail;
	return 0;
fail:
	if (!st->err[0])
		fail(st, "search rebuild");
	store_rollback(st);
	return -1;
}

int store_search_recover(struct store *st, int64_t *count)
{
	*count = 0;
	st->err[0] = 0;
	int64_t lo, hi;
	int c = search_held_claim(st->search, &lo, &hi);
	if (c == 0)
		return 0;
	if (c == -1)
		return fail(st, "search claim");
	/* Its holder is alive while it has the lock (this store, in
	 * store_bulk(), has just taken it). */
	int fd = -1;
	if (st->hold_fd < 0 && (fd = hold_lock(st)) < 0)
		return 0;
	int rc = -1;
	if (exec(st, "BEGIN IMMEDIATE"))
		goto out;
	c = search_held_claim(st->search, &lo, &hi); /* again, under the write lock */
	if (c == -1)
		goto fail;
	if (c > 0) {
		log_info("store: search index: re-indexing stories %lld..%lld, held by an ingest that stopped",
			 (long long)lo, (long long)hi);
		search_recovering(st->search, 1);
		int64_t after = lo - 1;
		sqlite3_stmt *s = q(st, Q_REINDEX_SCAN);
		int step = SQLITE_DONE;
		if (!s)
			goto fail;
		sqlite3_bind_int64(s, 1, after);
		while ((step = sqlite3_step(s)) == SQLITE_ROW) {
			int64_t doc = sqlite3_column_int64(s, 3);
			if (doc > hi) {
				step = SQLITE_DONE;
				break;
			}
			int r = reindex_row(st, s, doc, NULL);
			if (r < 0) {
				step = SQLITE_ERROR;
				break;
			}
			*count += r;
		}
		sqlite3_reset(s);
		if (step != SQLITE_DONE || search_flush(st->search))
			goto fail;
	}
	/* (a claim row this code cannot read goes too: nothing it names can
	 * be redone, and it would hold merges back for good) */
	if (search_claim_clear(st->search) || store_commit(st))
		goto fail;
	search_recovering(st->search, 0);
	rc = 0;
	goto out;
fail:
	search_recovering(st->search, 0);
	if (!st->err[0])
		fail(st, "search index recovery");
	store_rollback(st);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int store_search_stats(struct store *st, int64_t *segments, int64_t *bytes)
{
	struct search_stats ss;
	if (search_stats(st->search, &ss))
		return fail(st, "search stats");
	*segments = ss.segments;
	*bytes = ss.bytes;
	return 0;
}

/* ---- rules and preferences ------------------------------------------------------ */

void store_rule_fini(struct store_rule *r)
{
	free(r->platform);
	free(r->target_kind);
	free(r->target);
	free(r->expr);
	free(r->lang);
	free(r->origin);
	memset(r, 0, sizeof *r);
}

void store_rule_copy(struct store_rule *dst, const struct store_rule *src)
{
	*dst = (struct store_rule){src->id,
				   xstrdup(src->platform),
				   xstrdup(src->target_kind),
				   xstrdup(src->target),
				   xstrdup(src->expr),
				   xstrdup(src->lang),
				   xstrdup(src->origin)};
}

int store_rule_add(struct store *st, const char *platform, const char *target_kind, const char *target,
		   const char *expr, const char *lang, const char *origin, int64_t *id)
{
	sqlite3_stmt *s = q(st, Q_RULE_ADD);
	if (!s)
		return -1;
	bind_static(s, 1, platform);
	bind_static(s, 2, target_kind);
	bind_static(s, 3, target);
	bind_static(s, 4, expr);
	bind_static(s, 5, lang);
	bind_static(s, 6, origin);
	if (run(st, s, "add rule"))
		return -1;
	int added = sqlite3_changes(st->db) > 0;
	sqlite3_stmt *f = q(st, Q_RULE_FIND);
	if (!f)
		return -1;
	bind_static(f, 1, platform);
	bind_static(f, 2, target_kind);
	bind_static(f, 3, target);
	bind_static(f, 4, expr);
	if (sqlite3_step(f) == SQLITE_ROW && id)
		*id = sqlite3_column_int64(f, 0);
	sqlite3_reset(f);
	return added ? 0 : 1;
}

int store_rule_remove(struct store *st, int64_t id)
{
	sqlite3_stmt *s = q(st, Q_RULE_DEL);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if (run(st, s, "remove rule"))
		return -1;
	return sqlite3_changes(st->db) > 0 ? 0 : 1;
}

int store_rules_clear_origin(struct store *st, const char *origin)
{
	sqlite3_stmt *s = q(st, Q_RULE_CLEAR);
	if (!s)
		return -1;
	bind_static(s, 1, origin);
	return run(st, s, "clear rules");
}

int store_rule_origin_remove(struct store *st, int64_t id, const char *origin)
{
	sqlite3_stmt *s = q(st, Q_RULE_DEL_ORIGIN);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	bind_static(s, 2, origin);
	return run(st, s, "remove rule");
}

int store_rules(struct store *st, const char *platform, const char *target_kind, const char *target,
		void (*cb)(void *ud, const struct store_rule *r), void *ud)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT id, platform, target_kind, target, expr, lang, origin FROM rules"
			       " WHERE (?1 IS NULL OR platform=?1) AND (?2 IS NULL OR target_kind=?2)"
			       " AND (?3 IS NULL OR target=?3) ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, "rules");
	bind_static(s, 1, platform);
	bind_static(s, 2, target_kind);
	bind_static(s, 3, target);
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_rule r = {
			.id = sqlite3_column_int64(s, 0),
			.platform = col_dup(s, 1),
			.target_kind = col_dup(s, 2),
			.target = col_dup(s, 3),
			.expr = col_dup(s, 4),
			.lang = col_dup(s, 5),
			.origin = col_dup(s, 6),
		};
		cb(ud, &r);
		store_rule_fini(&r);
		n++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : fail(st, "rules");
}

int store_pref_set(struct store *st, const char *platform, const char *user, const char *lang)
{
	sqlite3_stmt *s = q(st, Q_PREF_SET);
	if (!s)
		return -1;
	bind_static(s, 1, platform);
	bind_static(s, 2, user);
	bind_static(s, 3, lang);
	return run(st, s, "set preference");
}

char *store_pref_get(struct store *st, const char *platform, const char *user)
{
	sqlite3_stmt *s = q(st, Q_PREF_GET);
	if (!s)
		return NULL;
	bind_static(s, 1, platform);
	bind_static(s, 2, user);
	char *v = sqlite3_step(s) == SQLITE_ROW ? col_dup(s, 0) : NULL;
	sqlite3_reset(s);
	return v;
}

/* ---- alerts and outbox -------------------------------------------------------- */

int store_alerted(struct store *st, const char *story_id, const char *platform, const char *target_kind,
		  const char *target)
{
	sqlite3_stmt *s = q(st, Q_ALERTED);
	if (!s)
		return -1;
	bind_static(s, 1, story_id);
	bind_static(s, 2, platform);
	bind_static(s, 3, target_kind);
	bind_static(s, 4, target);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(st, "alert ledger");
}

void store_outbox_row_fini(struct store_outbox_row *r)
{
	free(r->story_id);
	free(r->platform);
	free(r->target);
	free(r->reason);
	free(r->lang);
	free(r->remote_id);
	free(r->error);
	memset(r, 0, sizeof *r);
}

int64_t store_outbox_add(struct store *st, const char *kind, const char *story_id, int revision, const char *platform,
			 const char *target_kind, const char *target, const char *reason, const char *lang,
			 int64_t now)
{
	sqlite3_stmt *s = q(st, Q_OUTBOX_ADD);
	if (!s)
		return -1;
	bind_static(s, 1, kind);
	bind_static(s, 2, story_id);
	sqlite3_bind_int(s, 3, revision);
	bind_static(s, 4, platform);
	bind_static(s, 5, target_kind);
	bind_static(s, 6, target);
	bind_static(s, 7, reason);
	bind_static(s, 8, lang);
	sqlite3_bind_int64(s, 9, now);
	if (run(st, s, "queue outbox row"))
		return -1;
	int64_t id = sqlite3_last_insert_rowid(st->db);
	if (!strcmp(kind, "alert")) {
		sqlite3_stmt *a = q(st, Q_ALERT_ADD);
		if (!a)
			return -1;
		bind_static(a, 1, story_id);
		bind_static(a, 2, platform);
		bind_static(a, 3, target_kind);
		bind_static(a, 4, target);
		sqlite3_bind_int(a, 5, revision);
		sqlite3_bind_int64(a, 6, id);
		if (run(st, a, "alert ledger"))
			return -1;
	}
	return id;
}

static void row_from(sqlite3_stmt *s, struct store_outbox_row *r)
{
	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(s, 0);
	snprintf(r->kind, sizeof r->kind, "%s", (const char *)sqlite3_column_text(s, 1));
	r->story_id = col_dup(s, 2);
	r->revision = sqlite3_column_int(s, 3);
	r->platform = col_dup(s, 4);
	snprintf(r->target_kind, sizeof r->target_kind, "%s", (const char *)sqlite3_column_text(s, 5));
	r->target = col_dup(s, 6);
	r->reason = col_dup(s, 7);
	r->lang = col_dup(s, 8);
	snprintf(r->status, sizeof r->status, "%s", (const char *)sqlite3_column_text(s, 9));
	r->attempts = sqlite3_column_int(s, 10);
	r->next_attempt_at = sqlite3_column_int64(s, 11);
	r->remote_id = col_dup(s, 12);
	r->error = col_dup(s, 13);
	r->created_at = sqlite3_column_int64(s, 14);
}

int store_outbox_claim(struct store *st, const char *platform, int64_t now, int64_t reclaim_after, int max,
		       struct store_outbox_row *rows)
{
	if (store_begin(st))
		return -1;
	sqlite3_stmt *s = q(st, Q_OUTBOX_CLAIM);
	if (!s) {
		store_rollback(st);
		return -1;
	}
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, reclaim_after);
	bind_static(s, 3, platform);
	sqlite3_bind_int(s, 4, max);
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < max)
		row_from(s, &rows[n++]);
	sqlite3_reset(s);
	if ((rc != SQLITE_DONE && rc != SQLITE_ROW) || store_commit(st)) {
		fail(st, "claim outbox");
		store_rollback(st);
		for (int i = 0; i < n; i++)
			store_outbox_row_fini(&rows[i]);
		return -1;
	}
	/* RETURNING order is unspecified: deliver oldest first. */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && rows[j - 1].id > rows[j].id; j--) {
			struct store_outbox_row t = rows[j];
			rows[j] = rows[j - 1];
			rows[j - 1] = t;
		}
	return n;
}

int store_outbox_sent(struct store *st, int64_t id, const char *remote_id, int64_t now)
{
	sqlite3_stmt *s = q(st, Q_OUTBOX_SENT);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	bind_static(s, 2, remote_id);
	sqlite3_bind_int64(s, 3, now);
	return run(st, s, "mark sent");
}

int64_t store_backoff(int attempts, uint64_t jitter_seed)
{
	/* 5 s, 10 s, 20 s ... capped at one hour, plus up to 25% jitter so a
	 * platform outage does not end in a thundering herd. */
	int64_t base = 5;
	for (int i = 0; i < attempts && base < 3600; i++)
		base *= 2;
	if (base > 3600)
		base = 3600;
	uint64_t h = hash64(&jitter_seed, sizeof jitter_seed, (uint64_t)attempts);
	return base + (int64_t)(h % (uint64_t)(base / 4 + 1));
}

int store_outbox_failed(struct store *st, int64_t id, int permanent, const char *error, int64_t retry_after,
			int64_t now)
{
	int attempts = 0;
	sqlite3_stmt *a = q(st, Q_OUTBOX_ATTEMPTS);
	if (!a)
		return -1;
	sqlite3_bind_int64(a, 1, id);
	if (sqlite3_step(a) == SQLITE_ROW)
		attempts = sqlite3_column_int(a, 0);
	sqlite3_reset(a);
	if (!permanent && attempts + 1 >= STORE_OUTBOX_MAX_ATTEMPTS)
		permanent = 1;
	if (permanent) {
		sqlite3_stmt *s = q(st, Q_OUTBOX_FAIL);
		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, id);
		bind_static(s, 2, error);
		sqlite3_bind_int64(s, 3, now);
		return run(st, s, "mark failed");
	}
	int64_t delay = retry_after > 0 ? retry_after : store_backoff(attempts, (uint64_t)id ^ (uint64_t)now);
	sqlite3_stmt *s = q(st, Q_OUTBOX_RETRY);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	bind_static(s, 2, error);
	sqlite3_bind_int64(s, 3, now + delay);
	sqlite3_bind_int64(s, 4, now);
	return run(st, s, "mark retry");
}

int store_outbox_release(struct store *st, int64_t id)
{
	sqlite3_stmt *s = q(st, Q_OUTBOX_RELEASE);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	return run(st, s, "release outbox row");
}

int store_outbox_list(struct store *st, const char *status, int limit,
		      void (*cb)(void *ud, const struct store_outbox_row *r), void *ud)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT id, kind, story_id, revision, platform, target_kind, target, reason, lang,"
			       " status, attempts, next_attempt_at, remote_id, error, created_at FROM outbox"
			       " WHERE (?1 IS NULL OR status = ?1) ORDER BY id LIMIT ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, "outbox list");
	bind_static(s, 1, status);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_outbox_row r;
		row_from(s, &r);
		cb(ud, &r);
		store_outbox_row_fini(&r);
		n++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : fail(st, "outbox list");
}

char *store_alert_remote_id(struct store *st, const char *story_id, const char *platform, const char *target_kind,
			    const char *target)
{
	sqlite3_stmt *s = q(st, Q_ALERT_REMOTE);
	if (!s)
		return NULL;
	bind_static(s, 1, story_id);
	bind_static(s, 2, platform);
	bind_static(s, 3, target_kind);
	bind_static(s, 4, target);
	char *v = sqlite3_step(s) == SQLITE_ROW ? col_dup(s, 0) : NULL;
	sqlite3_reset(s);
	return v;
}

int store_outbox_depth(struct store *st, int64_t *depth, int64_t *oldest)
{
	sqlite3_stmt *s = q(st, Q_OUTBOX_DEPTH);
	if (!s)
		return -1;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*depth = sqlite3_column_int64(s, 0);
		*oldest = sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : fail(st, "outbox depth");
}

int64_t store_data_version(struct store *st)
{
	sqlite3_stmt *s = q(st, Q_DATA_VERSION);
	if (!s)
		return -1;
	int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
	sqlite3_reset(s);
	return v;
}
