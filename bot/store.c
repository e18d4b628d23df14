/* store — SQLite persistence for stories, search, rules and the outbox.
 *
 * Owns one sqlite3 connection and a table of prepared statements, prepared
 * on first use. The search index is an FTS5 table fed with normalised text
 * and tokenized by our own "ainews" tokenizer: ASCII words become tokens,
 * and a run of CJK characters becomes overlapping bigrams (a lone character
 * becomes a unigram), so a two-character Chinese word is one token, a longer
 * one a phrase of bigrams, and a single character a prefix query. That keeps
 * Chinese search exact without a dictionary, and the index about half the
 * size of a trigram one.
 */
#define _GNU_SOURCE
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

/* ---- the FTS5 tokenizer --------------------------------------------------- */

static int tok_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)ctx, (void)argv, (void)argc;
	*out = (Fts5Tokenizer *)xmalloc(1); /* stateless; a distinct pointer */
	return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *t)
{
	free(t);
}

/* Word bytes: ASCII alnum, '_' excluded, and non-CJK letters above ASCII
 * (accented Latin, Cyrillic...) kept inside words. */
static int tok_word_cp(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
	if (is_cjk(cp))
		return 0;
	if (cp >= 0x2000 && cp <= 0x2BFF) /* punctuation, symbols, arrows */
		return 0;
	if (cp >= 0x3000 && cp <= 0x303F) /* CJK punctuation */
		return 0;
	if (cp >= 0xFF00 && cp <= 0xFFEF) /* full-width forms (normalised away) */
		return 0;
	if (cp == 0xFFFD || cp == 0xA0 || (cp >= 0x80 && cp < 0xC0))
		return 0;
	return 1;
}

static int tok_tokenize(Fts5Tokenizer *t, void *ctx, int flags, const char *text, int len,
			int (*emit)(void *, int, const char *, int, int, int))
{
	(void)t;
	char word[256];
	int i = 0, rc = SQLITE_OK, prev_cjk = 0;
	while (i < len && rc == SQLITE_OK) {
		uint32_t cp;
		int n = utf8_decode(text + i, (size_t)(len - i), &cp);
		if (n < 1)
			n = 1;
		if (is_cjk(cp)) {
			uint32_t cp2;
			int n2 = i + n < len ? utf8_decode(text + i + n, (size_t)(len - i - n), &cp2) : 0;
			if (n2 > 0 && is_cjk(cp2))
				rc = emit(ctx, 0, text + i, n + n2, i, i + n + n2);
			else if (!prev_cjk)
				rc = emit(ctx, 0, text + i, n, i, i + n); /* a lone character */
			else if (!(flags & FTS5_TOKENIZE_QUERY))
				/* A run's last character, at the position of the bigram
				 * ending in it: one-character prefix queries find it and
				 * phrases across a CJK/Latin boundary stay adjacent. In a
				 * query that character is already inside that bigram. */
				rc = emit(ctx, FTS5_TOKEN_COLOCATED, text + i, n, i, i + n);
			prev_cjk = 1;
			i += n;
			continue;
		}
		prev_cjk = 0;
		if (!tok_word_cp(cp)) {
			i += n;
			continue;
		}
		int start = i, wl = 0;
		while (i < len) {
			n = utf8_decode(text + i, (size_t)(len - i), &cp);
			if (n < 1)
				n = 1;
			if (!tok_word_cp(cp))
				break;
			for (int k = 0; k < n; k++)
				if (wl < (int)sizeof word)
					word[wl++] = (char)(cp < 0x80 && text[i + k] >= 'A' && text[i + k] <= 'Z'
								    ? text[i + k] + 32
								    : text[i + k]);
			i += n;
		}
		if (wl > 0 && wl < (int)sizeof word)
			rc = emit(ctx, 0, word, wl, start, i);
	}
	return rc;
}

static int register_tokenizer(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_pointer(s, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(s);
	sqlite3_finalize(s);
	if (!api)
		return -1;
	static fts5_tokenizer tok = {tok_create, tok_delete, tok_tokenize};
	return api->xCreateTokenizer(api, "ainews", NULL, &tok, NULL) == SQLITE_OK ? 0 : -1;
}

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
	"  tokenize='ainews', detail='full');"
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
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

enum sql_id {
	Q_HEAD,
	Q_STORY_UPSERT,
	Q_REV_INSERT,
	Q_FTS_DELETE,
	Q_FTS_INSERT,
	Q_FTS_DEFER,
	Q_CLASS_DELETE,
	Q_CLASS_INSERT,
	Q_STORY_JSON,
	Q_STORY_JSON_REV,
	Q_REVISIONS,
	Q_EVIDENCE,
	Q_COUNT,
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
	Q_SEARCH,
	Q_NSQL
};

static const char *const sql_text[Q_NSQL] = {
	[Q_HEAD] = "SELECT revision, fingerprint FROM stories WHERE id = ?1",
	[Q_STORY_UPSERT] =
		"INSERT INTO stories(id, revision, fingerprint, source, url, hot, quality, impact,"
		" published_at, updated_at, ingested_at, title, title_en, title_zh)"
		" VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
		" ON CONFLICT(id) DO UPDATE SET revision=excluded.revision, fingerprint=excluded.fingerprint,"
		" source=excluded.source, url=excluded.url, hot=excluded.hot, quality=excluded.quality,"
		" impact=excluded.impact, published_at=coalesce(stories.published_at, excluded.published_at),"
		" updated_at=excluded.updated_at, title=excluded.title, title_en=excluded.title_en,"
		" title_zh=excluded.title_zh"
		" RETURNING rowid",
	[Q_REV_INSERT] = "INSERT INTO revisions(story_id, revision, fingerprint, changed, json, created_at)"
			 " VALUES(?1,?2,?3,?4,?5,?6)",
	[Q_FTS_DELETE] = "DELETE FROM story_fts WHERE rowid = ?1",
	[Q_FTS_INSERT] = "INSERT INTO story_fts(rowid, title, summary, tldr, analysis) VALUES(?1,?2,?3,?4,?5)",
	[Q_FTS_DEFER] = "INSERT OR REPLACE INTO temp.fts_pending(rid, title, summary, tldr, analysis)"
			" VALUES(?1,?2,?3,?4,?5)",
	[Q_CLASS_DELETE] = "DELETE FROM story_class WHERE story_id = ?1",
	[Q_CLASS_INSERT] = "INSERT OR REPLACE INTO story_class(story_id, kind, id, weight, evidence, published_at)"
			   " VALUES(?1,?2,?3,?4,?5,(SELECT published_at FROM stories WHERE id = ?1))",
	[Q_STORY_JSON] = "SELECT r.json, s.revision, s.published_at FROM stories s JOIN revisions r"
			 " ON r.story_id = s.id AND r.revision = s.revision WHERE s.id = ?1",
	[Q_STORY_JSON_REV] = "SELECT r.json, r.revision, s.published_at FROM revisions r JOIN stories s"
			     " ON s.id = r.story_id WHERE r.story_id = ?1 AND r.revision = ?2",
	[Q_REVISIONS] = "SELECT revision, changed, created_at FROM revisions WHERE story_id = ?1 ORDER BY revision",
	[Q_EVIDENCE] = "SELECT evidence FROM story_class WHERE story_id = ?1 AND kind = ?2 AND id = ?3",
	[Q_COUNT] = "SELECT count(*) FROM stories",
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
	[Q_SEARCH] = "SELECT r.json, s.revision, s.published_at FROM story_fts f"
		     " JOIN stories s ON s.rowid = f.rowid"
		     " JOIN revisions r ON r.story_id = s.id AND r.revision = s.revision"
		     " WHERE story_fts MATCH ?1 ORDER BY f.rowid DESC LIMIT ?2",
	[Q_OUTBOX_DEPTH] = "SELECT count(*), min(created_at) FROM outbox WHERE status IN ('queued','sending')",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_NSQL];
	char err[512];
	int fts_deferred; /* search rows wait in temp.fts_pending */
	sqlite3_stmt *list_q[32]; /* store_list by shape: topic|entity|since|order|brief */
	sqlite3_stmt *search_brief;
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
	while (v < NMIGRATIONS) {
		if (exec(st, "BEGIN IMMEDIATE"))
			return -1;
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
	}
	return 0;
}

int store_open(const char *path, struct store **out, char **err)
{
	struct store *st = xcalloc(1, sizeof *st);
	*out = NULL;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		store_close(st);
		return -1;
	}
	sqlite3_busy_timeout(st->db, 5000);
	sqlite3_extended_result_codes(st->db, 1);
	if (register_tokenizer(st->db) ||
	    exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
		     "PRAGMA temp_store=MEMORY;") ||
	    migrate(st) ||
	    exec(st, "CREATE TEMP TABLE fts_pending(rid INTEGER PRIMARY KEY, title, summary, tldr, analysis)")) {
		*err = xasprintf("%s: %s", path, st->err[0] ? st->err : "cannot set up the database");
		store_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (int i = 0; i < Q_NSQL; i++)
		sqlite3_finalize(st->q[i]);
	for (int i = 0; i < 32; i++)
		sqlite3_finalize(st->list_q[i]);
	sqlite3_finalize(st->search_brief);
	sqlite3_close(st->db);
	free(st);
}

int store_begin(struct store *st)
{
	return exec(st, "BEGIN IMMEDIATE");
}

int store_commit(struct store *st)
{
	return exec(st, "COMMIT");
}

void store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		exec(st, "ROLLBACK");
}

void store_fts_defer(struct store *st, int on)
{
	st->fts_deferred = on;
}

int store_fts_flush(struct store *st)
{
	/* Two statements for the whole batch: every write statement on an FTS5
	 * table inside a transaction opens a statement savepoint, and FTS5
	 * flushes its pending segment at each one. */
	return exec(st, "DELETE FROM story_fts WHERE rowid IN (SELECT rid FROM temp.fts_pending);"
			"INSERT INTO story_fts(rowid, title, summary, tldr, analysis)"
			" SELECT rid, title, summary, tldr, analysis FROM temp.fts_pending ORDER BY rid;"
			"DELETE FROM temp.fts_pending;");
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

int store_story_put(struct store *st, const struct story *s, uint64_t fingerprint, const char *changed,
		    const struct store_text *fts, int64_t now)
{
	sqlite3_stmt *u = q(st, Q_STORY_UPSERT);
	if (!u)
		return -1;
	bind_static(u, 1, s->id);
	sqlite3_bind_int(u, 2, s->revision);
	sqlite3_bind_int64(u, 3, (sqlite3_int64)fingerprint);
	bind_static(u, 4, s->source);
	bind_static(u, 5, s->url);
	bind_score(u, 6, s->scores[STORY_HOT]);
	bind_score(u, 7, s->scores[STORY_QUALITY]);
	bind_score(u, 8, s->scores[STORY_IMPACT]);
	sqlite3_bind_int64(u, 9, s->published_at > 0 ? s->published_at : now);
	sqlite3_bind_int64(u, 10, s->updated_at > 0 ? s->updated_at : now);
	sqlite3_bind_int64(u, 11, now);
	bind_static(u, 12, story_title(s));
	bind_static(u, 13, s->title[STORY_EN]);
	bind_static(u, 14, s->title[STORY_ZH]);
	if (sqlite3_step(u) != SQLITE_ROW) {
		sqlite3_reset(u);
		return fail(st, "store story");
	}
	sqlite3_int64 rowid = sqlite3_column_int64(u, 0);
	sqlite3_reset(u);

	char *json = story_to_json(s, NULL, 0);
	sqlite3_stmt *r = q(st, Q_REV_INSERT);
	if (!r) {
		free(json);
		return -1;
	}
	bind_static(r, 1, s->id);
	sqlite3_bind_int(r, 2, s->revision);
	sqlite3_bind_int64(r, 3, (sqlite3_int64)fingerprint);
	bind_static(r, 4, changed ? changed : "new");
	sqlite3_bind_text(r, 5, json, -1, free);
	sqlite3_bind_int64(r, 6, now);
	if (run(st, r, "store revision"))
		return -1;

	/* In bulk mode the row waits in temp.fts_pending (see store_fts_flush),
	 * which also replaces a parked earlier revision of the same story. */
	if (!st->fts_deferred && s->revision > 1) {
		sqlite3_stmt *d = q(st, Q_FTS_DELETE);
		if (!d)
			return -1;
		sqlite3_bind_int64(d, 1, rowid);
		if (run(st, d, "search index delete"))
			return -1;
	}
	sqlite3_stmt *f = q(st, st->fts_deferred ? Q_FTS_DEFER : Q_FTS_INSERT);
	if (!f)
		return -1;
	sqlite3_bind_int64(f, 1, rowid);
	bind_static(f, 2, fts ? fts->title : NULL);
	bind_static(f, 3, fts ? fts->summary : NULL);
	bind_static(f, 4, fts ? fts->tldr : NULL);
	bind_static(f, 5, fts ? fts->analysis : NULL);
	if (run(st, f, "search index insert"))
		return -1;

	sqlite3_stmt *c = q(st, Q_CLASS_DELETE);
	if (!c)
		return -1;
	bind_static(c, 1, s->id);
	return run(st, c, "classification delete");
}

int store_story_class_put(struct store *st, const char *story_id, const char *kind, const char *id, int weight,
			  const char *evidence)
{
	sqlite3_stmt *s = q(st, Q_CLASS_INSERT);
	if (!s)
		return -1;
	bind_static(s, 1, story_id);
	bind_static(s, 2, kind);
	bind_static(s, 3, id);
	sqlite3_bind_int(s, 4, weight);
	bind_static(s, 5, evidence);
	return run(st, s, "classification insert");
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

char *store_story_evidence(struct store *st, const char *story_id, const char *kind, const char *id)
{
	sqlite3_stmt *s = q(st, Q_EVIDENCE);
	if (!s)
		return NULL;
	bind_static(s, 1, story_id);
	bind_static(s, 2, kind);
	bind_static(s, 3, id);
	char *ev = sqlite3_step(s) == SQLITE_ROW ? col_dup(s, 0) : NULL;
	sqlite3_reset(s);
	return ev;
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
static int story_from_brief(sqlite3_stmt *s, struct story *out)
{
	out->id = col_dup(s, 0);
	out->revision = sqlite3_column_int(s, 1);
	out->published_at = sqlite3_column_int64(s, 2);
	for (int i = 0; i < STORY_NSCORES; i++)
		out->scores[i] = sqlite3_column_type(s, 3 + i) == SQLITE_NULL ? STORY_SCORE_NONE
									    : sqlite3_column_int(s, 3 + i);
	out->title[STORY_EN] = col_dup(s, 6);
	out->title[STORY_ZH] = col_dup(s, 7);
	return out->id ? 0 : -1;
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

int store_list(struct store *st, const struct store_query *qr, void (*cb)(void *ud, struct story *s), void *ud)
{
	int shape = (qr->topic ? 1 : 0) | (qr->entity ? 2 : 0) | (qr->since > 0 ? 4 : 0) |
		    (qr->order == STORE_ORDER_SCORE ? 8 : 0) | (qr->brief ? 16 : 0);
	sqlite3_stmt *s = st->list_q[shape];
	if (s) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		goto bind;
	}
	/* Pick the ids first (indexes only: stories_time or stories_top, and a
	 * primary-key probe into story_class per candidate), then fetch the JSON
	 * of just those rows, so a query never drags every revision through a
	 * sort. */
	struct sbuf sql = {0};
	const char *order = qr->order == STORE_ORDER_SCORE
				    ? "max(coalesce(s.hot,0), coalesce(s.quality,0), coalesce(s.impact,0)) DESC, s.published_at DESC"
				    : "s.published_at DESC, s.rowid DESC";
	if (qr->brief)
		sbuf_adds(&sql, "SELECT s.id, s.revision, s.published_at, s.hot, s.quality, s.impact, s.title_en,"
				" s.title_zh FROM (SELECT s.id, s.revision, s.published_at, s.hot, s.quality, s.impact,"
				" s.title_en, s.title_zh, s.rowid AS rid FROM ");
	else
		sbuf_adds(&sql, "SELECT r.json, s.revision, s.published_at FROM (SELECT s.id, s.revision,"
				" s.published_at, s.hot, s.quality, s.impact, s.rowid AS rid FROM ");
	if ((qr->topic || qr->entity) && qr->order != STORE_ORDER_SCORE) {
		/* Newest in a topic/entity: a range of story_class_by_id, which
		 * carries published_at, read newest first and stopped at LIMIT. */
		sbuf_addf(&sql, "story_class c JOIN stories s ON s.id = c.story_id WHERE c.kind = '%s' AND c.id = %s",
			  qr->topic ? "topic" : "entity", qr->topic ? "?1" : "?2");
		if (qr->topic && qr->entity)
			sbuf_adds(&sql, " AND EXISTS (SELECT 1 FROM story_class e WHERE e.story_id = s.id"
					" AND e.kind = 'entity' AND e.id = ?2)");
		if (qr->since > 0)
			sbuf_adds(&sql, " AND c.published_at >= ?3");
		order = "c.published_at DESC, s.rowid DESC";
	} else {
		sbuf_adds(&sql, "stories s WHERE 1");
		if (qr->topic)
			sbuf_adds(&sql, " AND EXISTS (SELECT 1 FROM story_class c WHERE c.story_id = s.id"
					" AND c.kind = 'topic' AND c.id = ?1)");
		if (qr->entity)
			sbuf_adds(&sql, " AND EXISTS (SELECT 1 FROM story_class c WHERE c.story_id = s.id"
					" AND c.kind = 'entity' AND c.id = ?2)");
		if (qr->since > 0)
			sbuf_adds(&sql, " AND s.published_at >= ?3");
	}
	sbuf_addf(&sql, " ORDER BY %s LIMIT ?4) s", order);
	if (!qr->brief)
		sbuf_adds(&sql, " JOIN revisions r ON r.story_id = s.id AND r.revision = s.revision");
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

/* Build an FTS5 MATCH expression from normalised user words: every word a
 * quoted phrase (the tokenizer splits it), a lone CJK character a prefix. */
static int fts_query(const char *query, struct sbuf *out)
{
	int terms = 0;
	const char *p = query;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
		/* Does the word carry anything the tokenizer keeps? */
		size_t wl = (size_t)(p - w), cjk = 0, keep = 0;
		for (size_t i = 0; i < wl;) {
			uint32_t cp;
			int n = utf8_decode(w + i, wl - i, &cp);
			if (n < 1)
				n = 1;
			if (is_cjk(cp))
				cjk++, keep++;
			else if (tok_word_cp(cp))
				keep++;
			i += (size_t)n;
		}
		if (!keep)
			continue;
		if (terms++)
			sbuf_adds(out, " AND ");
		sbuf_addc(out, '"');
		for (const char *c = w; c < p; c++) {
			if (*c == '"')
				sbuf_addc(out, '"');
			sbuf_addc(out, *c);
		}
		sbuf_addc(out, '"');
		if (cjk == 1 && keep == 1)
			sbuf_addc(out, '*');
	}
	return terms;
}

int store_search(struct store *st, const char *query, int limit, void (*cb)(void *ud, struct story *s), void *ud)
{
	return store_search_ex(st, query, limit, 0, cb, ud);
}

int store_search_ex(struct store *st, const char *query, int limit, int brief,
		    void (*cb)(void *ud, struct story *s), void *ud)
{
	struct sbuf m = {0};
	if (fts_query(query, &m) == 0) {
		sbuf_free(&m);
		snprintf(st->err, sizeof st->err, "nothing searchable in the query");
		return -2;
	}
	sqlite3_stmt *s;
	if (brief) {
		if (!st->search_brief &&
		    sqlite3_prepare_v3(st->db,
				       "SELECT s.id, s.revision, s.published_at, s.hot, s.quality, s.impact, s.title_en,"
				       " s.title_zh FROM story_fts f JOIN stories s ON s.rowid = f.rowid"
				       " WHERE story_fts MATCH ?1 ORDER BY f.rowid DESC LIMIT ?2",
				       -1, SQLITE_PREPARE_PERSISTENT, &st->search_brief, NULL) != SQLITE_OK) {
			sbuf_free(&m);
			return fail(st, "search");
		}
		s = st->search_brief;
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	} else if (!(s = q(st, Q_SEARCH))) {
		sbuf_free(&m);
		return -1;
	}
	sqlite3_bind_text(s, 1, m.s, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, limit > 0 ? limit : 20);
	sbuf_free(&m);
	return emit_stories(st, s, cb, ud);
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
