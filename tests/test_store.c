/* test_store — schema, revisions, search tokenizer, rules, outbox. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sqlite3.h>

#include "store.h"
#include "t.h"
#include "writeback.h"
#include "t_db.h"

static struct story mk(const char *id, const char *en, const char *zh, int hot)
{
	struct story s;
	story_init(&s);
	s.id = xstrdup(id);
	s.title[STORY_EN] = xstrdup(en);
	s.title[STORY_ZH] = xstrdup(zh);
	s.scores[STORY_HOT] = hot;
	s.revision = 1;
	s.published_at = 1700000000;
	return s;
}

/* Store s with the given analysis text, indexed as the app indexes it. */
static int put(struct store *st, struct story *s, const char *analysis)
{
	free(s->analysis[STORY_EN]);
	s->analysis[STORY_EN] = analysis ? xstrdup(analysis) : NULL;
	char *texts[STORY_NTEXT];
	size_t lens[STORY_NTEXT];
	store_story_texts(st, s, texts, lens);
	int rc = store_begin(st);
	if (!rc)
		rc = store_story_put(st, s, story_fingerprint(s), "new", (const char *const *)texts, lens,
				     1700000000 + s->revision);
	for (int f = 0; f < STORY_NTEXT; f++)
		free(texts[f]);
	return rc ? (store_rollback(st), rc) : store_commit(st);
}

/* A new store in a file named by tag (path: its name, for t_db_remove());
 * NULL (a failed check) when it cannot be made. */
static struct store *file_store(char path[64], const char *tag)
{
	if (t_db_path(path, 64, tag))
		return NULL;
	struct store *st = NULL;
	char *err = NULL;
	T_OK(store_open(path, &st, &err) == 0, "open %s: %s", path, err ? err : "");
	free(err);
	return st;
}

/* Store story prefix+i (two digits) titled title with the given analysis. */
static int put_numbered(struct store *st, const char *prefix, int i, const char *title, const char *analysis)
{
	char id[32];
	snprintf(id, sizeof id, "%s%02d", prefix, i);
	struct story s = mk(id, title, NULL, 50);
	int rc = put(st, &s, analysis);
	story_free(&s);
	return rc;
}

static const char *sql_text1(sqlite3 *db, const char *sql)
{
	static char buf[256];
	sqlite3_stmt *q;
	buf[0] = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return "bad sql";
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return buf;
}

static const char *search(struct store *st, const char *q)
{
	static struct t_ids c;
	memset(&c, 0, sizeof c);
	int n = store_search(st, q, 10, t_ids_cb, &c);
	if (n < 0)
		snprintf(c.buf, sizeof c.buf, "error %d", n);
	return c.buf;
}

static void test_schema(void)
{
	char path[] = "/tmp/ainews-test-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	unlink(path);
	struct store *st;
	char *err = NULL;
	T_OK(store_open(path, &st, &err) == 0, "open %s", err ? err : "");
	T_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	struct story s = mk("s-1", "Nvidia ships GPUs", "英伟达发货", 50);
	T_INT(put(st, &s, "analysis text"), 0);
	store_close(st);
	/* Reopen: data survives, migrations are not re-run. */
	T_OK(store_open(path, &st, &err) == 0, "reopen");
	int rev = 0;
	uint64_t fp = 0;
	T_INT(store_story_head(st, "s-1", &rev, &fp), 1);
	T_INT(rev, 1);
	T_OK(fp == story_fingerprint(&s), "fingerprint kept");
	T_INT(store_story_head(st, "nope", &rev, &fp), 0);
	store_close(st);
	/* A database from a newer ainews is refused, not damaged. */
	sqlite3 *db;
	sqlite3_open(path, &db);
	sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(db);
	T_OK(store_open(path, &st, &err) < 0, "newer schema refused");
	T_OK(err && strstr(err, "newer"), "says why: %s", err ? err : "");
	free(err);
	story_free(&s);
	t_db_remove(path);
}

static void test_revisions_and_search(void)
{
	struct store *st;
	char *err = NULL;
	T_INT(store_open(":memory:", &st, &err), 0);
	struct story a = mk("s-a", "meta signs compute deal", "meta或同数据中心公司crusoe签署ai算力协议", 70);
	struct story b = mk("s-b", "tibet hydropower", "西藏首座大型水电站", 65);
	T_INT(put(st, &a, "人才是最稀缺的gpu noam shazeer"), 0);
	T_INT(put(st, &b, "人才流动 talent war"), 0);
	T_INT(store_story_count(st), 2);

	T_STR(search(st, "算力"), "s-a");          /* two-character CJK word */
	T_STR(search(st, "人才"), "s-b,s-a");       /* both, newest rowid first */
	T_STR(search(st, "数据中心"), "s-a");       /* longer run: phrase of bigrams */
	T_STR(search(st, "据中"), "s-a");           /* any substring */
	T_STR(search(st, "算"), "s-a");             /* one character: prefix */
	T_STR(search(st, "议"), "s-a");             /* last character of a run */
	T_STR(search(st, "站"), "s-b");
	T_STR(search(st, "ai算力"), "s-a");         /* across a script boundary */
	T_STR(search(st, "crusoe签署"), "s-a");
	T_STR(search(st, "talent"), "s-b");
	T_STR(search(st, "noam shazeer"), "s-a");
	T_STR(search(st, "hydropower tibet"), "s-b");
	T_STR(search(st, "hydropower meta"), "");
	T_STR(search(st, "算法"), "");
	T_STR(search(st, "\"quoted\" \"\""), "");
	T_STR(search(st, "!!! ..."), "error -2");
	T_STR(search(st, "AND OR NOT NEAR( *"), ""); /* FTS syntax is data */
	/* A word checked against the stored text counts only in the searched
	 * fields: 大模型 is in s-c's tags, its pairs apart in the text. */
	struct story sc = mk("s-c", "big models", "大模 and 模型 apart", 10);
	story_tag_push(&sc, "LLM", "大模型");
	T_INT(put(st, &sc, "nothing here"), 0);
	T_STR(search(st, "大模型"), "");
	T_STR(search(st, "大模"), "s-c");
	story_free(&sc);

	/* A new revision replaces the search row. */
	free(a.title[0]);
	a.title[0] = xstrdup("meta signs power deal");
	a.revision = 2;
	T_INT(put(st, &a, "no longer about that"), 0);
	T_STR(search(st, "noam"), "");
	T_STR(search(st, "power"), "s-a");
	struct story got;
	story_init(&got);
	T_INT(store_story_get(st, "s-a", 0, &got), 1);
	T_INT(got.revision, 2);
	T_STR(got.title[0], "meta signs power deal");
	story_free(&got);
	story_init(&got);
	T_INT(store_story_get(st, "s-a", 1, &got), 1);
	T_STR(got.title[0], "meta signs compute deal");
	T_INT(got.revision, 1);
	story_free(&got);
	story_init(&got);
	T_INT(store_story_get(st, "s-zzz", 0, &got), 0);
	story_free(&got);

	/* Classification rows (the story's topics and entities) drive list
	 * --topic and --entity; a revision replaces them. */
	strv_push(&b.topics, "energy");
	strv_push(&b.entities, "tsmc");
	b.revision = 2;
	T_INT(put(st, &b, "人才流动 talent war"), 0);
	struct t_ids c = {{0}, 0};
	struct store_query qr = {.topic = "energy"};
	T_INT(store_list(st, &qr, t_ids_cb, &c), 1);
	T_STR(c.buf, "s-b");
	memset(&c, 0, sizeof c);
	struct store_query qe = {.topic = "energy", .entity = "tsmc"};
	T_INT(store_list(st, &qe, t_ids_cb, &c), 1);
	memset(&c, 0, sizeof c);
	struct store_query qn = {.topic = "energy", .entity = "nvidia"};
	T_INT(store_list(st, &qn, t_ids_cb, &c), 0);
	memset(&c, 0, sizeof c);
	struct store_query qo = {.entity = "tsmc", .order = STORE_ORDER_SCORE};
	T_INT(store_list(st, &qo, t_ids_cb, &c), 1);
	T_STR(c.buf, "s-b");
	strv_free(&b.topics);
	strv_push(&b.topics, "chips");
	b.revision = 3;
	T_INT(put(st, &b, "人才流动 talent war"), 0);
	memset(&c, 0, sizeof c);
	T_INT(store_list(st, &qr, t_ids_cb, &c), 0);
	memset(&c, 0, sizeof c);
	struct store_query qc = {.topic = "chips"};
	T_INT(store_list(st, &qc, t_ids_cb, &c), 1);
	T_STR(search(st, "talent"), "s-b");
	memset(&c, 0, sizeof c);
	struct store_query top = {.order = STORE_ORDER_SCORE, .limit = 1};
	T_INT(store_list(st, &top, t_ids_cb, &c), 1);
	T_STR(c.buf, "s-a");
	/* Best since a time: few recent stories are sorted (the score index
	 * is not walked), with the same answer. */
	memset(&c, 0, sizeof c);
	struct store_query top_since = {.order = STORE_ORDER_SCORE, .since = 1700000000};
	T_INT(store_list(st, &top_since, t_ids_cb, &c), 3);
	T_STR(c.buf, "s-a,s-b,s-c");
	memset(&c, 0, sizeof c);
	top_since.since = 1800000000;
	T_INT(store_list(st, &top_since, t_ids_cb, &c), 0);
	story_free(&a);
	story_free(&b);
	store_close(st);
}

static void test_rules_prefs(void)
{
	struct store *st;
	char *err = NULL;
	T_INT(store_open(":memory:", &st, &err), 0);
	int64_t id1 = 0, id2 = 0;
	T_INT(store_rule_add(st, "work", "channel", "C1", "topic:compute", NULL, "config", &id1), 0);
	T_INT(store_rule_add(st, "work", "channel", "C1", "topic:compute", NULL, "config", &id2), 1);
	T_OK(id1 == id2 && id1 > 0, "dedup returns the same id");
	T_INT(store_rule_add(st, "work", "user", "U1", "nvidia", "zh", "command", &id2), 0);
	T_INT(store_rule_remove(st, id2), 0);
	T_INT(store_rule_remove(st, id2), 1);
	T_INT(store_pref_set(st, "work", "U1", "zh"), 0);
	T_INT(store_pref_set(st, "work", "U1", "en"), 0);
	char *l = store_pref_get(st, "work", "U1");
	T_STR(l, "en");
	free(l);
	T_OK(store_pref_get(st, "work", "U2") == NULL, "no pref");
	T_INT(store_rules_clear_origin(st, "config"), 0);
	T_INT(store_rule_remove(st, id1), 1);
	store_close(st);
}

static void test_outbox(void)
{
	struct store *st;
	char *err = NULL;
	T_INT(store_open(":memory:", &st, &err), 0);
	T_INT(store_begin(st), 0);
	int64_t o1 = store_outbox_add(st, "alert", "s-a", 1, "work", "channel", "C1", "impact ≥ 70", NULL, 1000);
	int64_t o2 = store_outbox_add(st, "alert", "s-a", 1, "work", "user", "U1", "nvidia", "zh", 1000);
	int64_t o3 = store_outbox_add(st, "alert", "s-b", 1, "other", "channel", "C9", "x", NULL, 1000);
	T_INT(store_commit(st), 0);
	T_OK(o1 > 0 && o2 > o1 && o3 > o2, "ids grow");
	T_INT(store_alerted(st, "s-a", "work", "channel", "C1"), 1);
	T_INT(store_alerted(st, "s-a", "work", "channel", "C2"), 0);

	struct store_outbox_row rows[8];
	T_INT(store_outbox_claim(st, "work", 999, 60, 8, rows), 0); /* not due yet */
	int n = store_outbox_claim(st, "work", 1000, 60, 8, rows);
	T_INT(n, 2);
	T_INT(rows[0].id, o1);
	T_STR(rows[0].status, "sending");
	T_STR(rows[1].lang, "zh");
	for (int i = 0; i < n; i++)
		store_outbox_row_fini(&rows[i]);
	/* Claimed rows are not handed out twice... */
	T_INT(store_outbox_claim(st, "work", 1001, 60, 8, rows), 0);
	/* ...until the claim times out (the sender died). */
	n = store_outbox_claim(st, "work", 1061, 60, 8, rows);
	T_INT(n, 2);
	for (int i = 0; i < n; i++)
		store_outbox_row_fini(&rows[i]);
	T_INT(store_outbox_sent(st, o1, "C1:1700.1", 1062), 0);
	T_INT(store_outbox_failed(st, o2, 0, "HTTP 500", 0, 1062), 0); /* transient */
	n = store_outbox_claim(st, "work", 1062, 60, 8, rows);
	T_INT(n, 0); /* backoff in force */
	n = store_outbox_claim(st, "work", 1062 + 5 + 5 / 4 + 1, 600, 8, rows);
	T_INT(n, 1);
	T_INT(rows[0].attempts, 1);
	T_STR(rows[0].error, "HTTP 500");
	store_outbox_row_fini(&rows[0]);
	T_INT(store_outbox_failed(st, o2, 1, "channel_not_found", 0, 1100), 0); /* permanent */
	T_INT(store_outbox_claim(st, "work", 99999, 60, 8, rows), 0);
	/* Retry-After overrides the backoff. */
	n = store_outbox_claim(st, "other", 1000, 60, 8, rows);
	T_INT(n, 1);
	store_outbox_row_fini(&rows[0]);
	T_INT(store_outbox_failed(st, o3, 0, "HTTP 429", 30, 1000), 0);
	T_INT(store_outbox_claim(st, "other", 1029, 600, 8, rows), 0);
	T_INT(store_outbox_claim(st, "other", 1030, 600, 8, rows), 1);
	store_outbox_row_fini(&rows[0]);
	T_INT(store_outbox_release(st, o3), 0);
	char *rid = store_alert_remote_id(st, "s-a", "work", "channel", "C1");
	T_STR(rid, "C1:1700.1");
	free(rid);
	int64_t depth = -1, oldest = -1;
	T_INT(store_outbox_depth(st, &depth, &oldest), 0);
	T_INT(depth, 1);
	T_INT(oldest, 1000);
	/* Backoff grows and is capped, with bounded jitter. */
	T_OK(store_backoff(0, 1) >= 5 && store_backoff(0, 1) <= 7, "first retry ~5s");
	T_OK(store_backoff(3, 1) >= 40 && store_backoff(3, 1) <= 50, "fourth ~40s");
	T_OK(store_backoff(30, 1) >= 3600 && store_backoff(30, 1) <= 4500, "capped at an hour");
	store_close(st);
}

/* Rows queued by one connection (cron's `ainews ingest`) are seen by another
 * (the daemon), and data_version tells the daemon something changed. */
static void test_two_connections(void)
{
	char path[] = "/tmp/ainews-test2-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	unlink(path);
	struct store *a, *b;
	char *err = NULL;
	T_INT(store_open(path, &a, &err), 0);
	T_INT(store_open(path, &b, &err), 0);
	int64_t v1 = store_data_version(b);
	T_INT(store_begin(a), 0);
	T_OK(store_outbox_add(a, "alert", "s-x", 1, "work", "channel", "C1", "r", NULL, 10) > 0, "add");
	T_INT(store_commit(a), 0);
	T_OK(store_data_version(b) != v1, "data_version moved");
	struct store_outbox_row rows[2];
	T_INT(store_outbox_claim(b, NULL, 10, 60, 2, rows), 1);
	store_outbox_row_fini(&rows[0]);
	store_close(a);
	store_close(b);
	t_db_remove(path);
}

/* Bulk mode (the ingest CLI): bigger cache and checkpoints, and the search
 * index's first segments held in memory. A second connection sees every
 * committed story at once and finds it by search once the held segments
 * are written (store_bulk_end()); the store reopens with all of it, and
 * an in-memory store, which has no WAL file, takes bulk mode too. */
static void test_bulk(void)
{
	char path[64];
	if (t_db_path(path, sizeof path, "bulk"))
		return;
	struct store *a, *b;
	char *err = NULL;
	T_INT(store_open(path, &a, &err), 0);
	T_INT(store_open(path, &b, &err), 0);
	store_bulk(a);
	char wal[80];
	snprintf(wal, sizeof wal, "%s-wal", path);
	for (int i = 0; i < 12; i++) {
		char id[32], en[64];
		snprintf(id, sizeof id, "s-bulk%02d", i);
		snprintf(en, sizeof en, "Bulkword%02d story", i);
		struct story s = mk(id, en, "批量", 50);
		T_INT(put(a, &s, "analysis text"), 0);
		story_free(&s);
		snprintf(en, sizeof en, "bulkword%02d", i);
		T_STR(search(a, en), id);
		int rev = 0;
		uint64_t fp = 0;
		T_INT(store_story_head(b, id, &rev, &fp), 1);
		T_STR(search(b, en), "");
	}
	T_INT(store_bulk_end(a), 0);
	for (int i = 0; i < 12; i++) {
		char id[32], en[64];
		snprintf(id, sizeof id, "s-bulk%02d", i);
		snprintf(en, sizeof en, "bulkword%02d", i);
		T_STR(search(b, en), id);
	}
	store_bulk(a); /* again, for the WAL below */
	T_OK(access(wal, F_OK) == 0, "the WAL exists: %s", wal);
	/* A bulk load grows the WAL past 16 MB (no checkpoint at its 128 MB
	 * setting); once it is done, the other connection (a daemon's)
	 * checkpoints at its next commit and cuts the WAL back to 16 MB at
	 * the one after, while still open: SQLite alone never shrinks it. */
	struct sbuf big = {0};
	for (int w = 0; w < 40000; w++)
		sbuf_adds(&big, "lorem ipsum ");
	for (int i = 0; i < 40; i++)
		T_INT(put_numbered(a, "s-big", i, "big", big.s), 0);
	sbuf_free(&big);
	struct stat wst;
	T_OK(stat(wal, &wst) == 0 && wst.st_size > 16 << 20, "bulk WAL: %lld bytes", (long long)wst.st_size);
	store_close(a);
	for (int i = 0; i < 2; i++)
		T_INT(put_numbered(b, "s-after", i, "after", "small"), 0);
	T_OK(stat(wal, &wst) == 0 && wst.st_size <= 16 << 20, "WAL after the bulk load: %lld bytes",
	     (long long)wst.st_size);
	T_INT(store_open(path, &a, &err), 0);
	T_STR(search(a, "lorem"), "s-big39,s-big38,s-big37,s-big36,s-big35,s-big34,s-big33,s-big32,s-big31,s-big30");
	store_close(a);
	store_close(b);
	T_INT(store_open(path, &a, &err), 0);
	T_STR(search(a, "bulkword11"), "s-bulk11");
	store_close(a);
	t_db_remove(path);

	T_INT(store_open(":memory:", &a, &err), 0);
	store_bulk(a);
	struct story s = mk("s-mem", "Inmemory bulk", "内存", 50);
	T_INT(put(a, &s, NULL), 0);
	story_free(&s);
	T_STR(search(a, "inmemory"), "s-mem");
	store_close(a);
}

/* A bulk ingest killed (-9) while holding search segments (store_bulk()):
 * its stories are stored, the claim names the
 * ones the index lacks, a live holder's claim is left alone, and a
 * recovery re-indexes exactly those. A batch rolled back before any flush
 * loses nothing held. */
static void test_hold_recovery(void)
{
	char path[64], hold[80];
	if (t_db_path(path, sizeof path, "hold"))
		return;
	snprintf(hold, sizeof hold, "%s-hold", path);
	char *err = NULL;
	chmod(path, 0640); /* the lock file takes the database's permissions */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct store *c;
		if (store_open(path, &c, &err))
			_exit(1);
		store_bulk(c);
		/* one commit a story: a held segment each, the first 16 merged */
		for (int i = 0; i < 30; i++)
			if (put_numbered(c, "s-held", i, "Heldword story", "analysis"))
				_exit(2);
		raise(SIGKILL); /* as kill -9: nothing held is written */
		_exit(3);
	}
	int status = -1;
	T_INT(waitpid(pid, &status, 0), pid);
	T_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the holder was killed: status %d", status);
	sqlite3 *db;
	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_STR(sql_text1(db, "SELECT value FROM meta WHERE key = 'search_held'"), "17 30");
	T_STR(sql_text1(db, "SELECT count(*) || ' ' || sum(ndocs) FROM search_seg"), "1 16");
	struct stat hst;
	T_OK(stat(hold, &hst) == 0 && (hst.st_mode & 0777) == 0640, "lock file mode %o", (unsigned)hst.st_mode & 0777);
	struct store *b;
	T_INT(store_open(path, &b, &err), 0);
	T_STR(search(b, "heldword"),
	      "s-held15,s-held14,s-held13,s-held12,s-held11,s-held10,s-held09,s-held08,s-held07,s-held06");

	/* Its holder alive (the lock taken): nothing is redone. */
	int fd = open(hold, O_RDWR | O_CREAT, 0600);
	T_INT(flock(fd, LOCK_EX | LOCK_NB), 0);
	int64_t n = -1;
	T_INT(store_search_recover(b, &n), 0);
	T_INT(n, 0);
	T_STR(sql_text1(db, "SELECT value FROM meta WHERE key = 'search_held'"), "17 30");
	store_bulk(b); /* cannot hold either: it goes on unheld */
	T_INT(put_numbered(b, "s-unheld", 0, "Unheldword", "x"), 0);
	T_STR(sql_text1(db, "SELECT max(max_doc) FROM search_seg"), "31");
	T_INT(store_bulk_end(b), 0);
	close(fd);

	/* Gone: the claim's stories are indexed again, the claim dropped. */
	T_INT(store_search_recover(b, &n), 0);
	T_INT(n, 14);
	T_STR(sql_text1(db, "SELECT count(*) FROM meta WHERE key = 'search_held'"), "0");
	T_STR(search(b, "heldword"),
	      "s-held29,s-held28,s-held27,s-held26,s-held25,s-held24,s-held23,s-held22,s-held21,s-held20");
	T_STR(sql_text1(db, "SELECT sum(ndocs) FROM search_seg"), "31");
	T_STR(sql_text1(db, "SELECT count(*) FROM search_seg x JOIN search_seg y ON x.seg < y.seg"
			    " AND x.min_doc <= y.max_doc AND y.min_doc <= x.max_doc"),
	      "0");
	T_INT(store_search_recover(b, &n), 0); /* nothing left to do */
	T_INT(n, 0);

	/* Holding again: a batch rolled back before its flush loses nothing
	 * held, and the end writes it all. */
	store_bulk(b);
	T_INT(put_numbered(b, "s-again", 0, "Againword", "x"), 0);
	T_STR(sql_text1(db, "SELECT value FROM meta WHERE key = 'search_held'"), "32 32");
	T_INT(store_begin(b), 0);
	store_rollback(b);
	T_INT(put_numbered(b, "s-again", 1, "Againword", "x"), 0);
	T_STR(sql_text1(db, "SELECT value FROM meta WHERE key = 'search_held'"), "32 33"); /* still holding */
	T_STR(search(b, "againword"), "s-again01,s-again00");
	T_INT(store_bulk_end(b), 0);
	T_STR(sql_text1(db, "SELECT count(*) FROM meta WHERE key = 'search_held'"), "0");
	T_STR(sql_text1(db, "SELECT sum(ndocs) FROM search_seg"), "33");
	T_OK(access(hold, F_OK) == 0, "the lock file is there: %s", hold);
	sqlite3_close(db);
	store_close(b);
	t_db_remove(path);
	T_OK(access(hold, F_OK) != 0, "t_db_remove() takes the lock file too");
}

/* A WAL database at path as the store sets one up (8 KB pages,
 * synchronous=NORMAL), checkpointing every `autocheckpoint` pages (0:
 * never), with a table t(k, v BLOB); NULL when it cannot be opened. */
static sqlite3 *wal_db(const char *path, int autocheckpoint)
{
	sqlite3 *db;
	char sql[256];
	snprintf(sql, sizeof sql,
		 "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		 "PRAGMA wal_autocheckpoint=%d; CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)",
		 autocheckpoint);
	int rc = sqlite3_open(path, &db);
	T_INT(rc, SQLITE_OK);
	if (!rc)
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	T_INT(rc, SQLITE_OK);
	if (rc) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Every store's files go through bot/writeback.c: SQLite's default VFS
 * once a store has opened, it starts the writeback of a WAL and a main
 * database every 1 MB written (found their descriptors), and what goes
 * through it reads back the same after a reopen, checkpoints included. */
static void test_writeback(void)
{
	struct store *st;
	char *err = NULL;
	T_INT(store_open(":memory:", &st, &err), 0);
	store_close(st);
	sqlite3_vfs *v = sqlite3_vfs_find(NULL);
	T_STR(v ? v->zName : "", "ainews-writeback");
	char path[64];
	if (t_db_path(path, sizeof path, "wb"))
		return;
	sqlite3 *db = wal_db(path, 256);
	if (!db)
		return;
	long long h0 = writeback_hints();
	/* 4 MB in 64 KB rows, one transaction a row, synced as the store
	 * syncs (a WAL only at checkpoints): WAL frames, and checkpoints every
	 * 256 pages (2 MB) copying them into the database */
	sqlite3_stmt *q;
	T_INT(sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES(randomblob(65536))", -1, &q, NULL), SQLITE_OK);
	for (int i = 0; i < 64; i++) {
		T_INT(sqlite3_step(q), SQLITE_DONE);
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	long long h1 = writeback_hints();
	T_OK(h1 - h0 >= 4, "writeback started %lld times for 4 MB of WAL and as much copied back", h1 - h0);
	sqlite3_close(db);
	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_INT(sqlite3_prepare_v2(db, "SELECT count(*), sum(length(v)) FROM t", -1, &q, NULL), SQLITE_OK);
	T_INT(sqlite3_step(q), SQLITE_ROW);
	T_INT(sqlite3_column_int(q, 0), 64);
	T_INT(sqlite3_column_int(q, 1), 64 * 65536);
	sqlite3_finalize(q);
	/* the check reports problems as rows, not as an error */
	T_INT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
	T_INT(sqlite3_step(q), SQLITE_ROW);
	T_STR((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(db);
	t_db_remove(path);
}

/* A file's bytes into out (at most cap), or -1 when it cannot be read
 * or holds more. */
static long file_bytes(const char *path, unsigned char *out, size_t cap)
{
	char *data;
	size_t n;
	if (file_read(path, cap, &data, &n))
		return -1;
	memcpy(out, data, n);
	free(data);
	return (long)n;
}

static int file_copy(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
	char buf[65536];
	size_t n;
	int rc = in && out ? 0 : -1;
	while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
		rc = fwrite(buf, 1, n, out) == n ? 0 : -1;
	if (in)
		fclose(in);
	if (out && fclose(out))
		rc = -1;
	return rc;
}

/* The WAL's small writes held by bot/writeback.c, through the VFS's own
 * methods: a held write is joined to the write that follows on (one
 * pwritev), and written first by a write elsewhere, a read, the size, a
 * sync and the close; a database file's small writes are not held. */
static void test_writeback_held(void)
{
	char db[64], path[80];
	if (t_db_path(db, sizeof db, "held"))
		return;
	snprintf(path, sizeof path, "%s-wal", db); /* the default VFS opens a WAL beside its database */
	sqlite3_vfs *v = sqlite3_vfs_find(NULL);
	sqlite3_file *f = xcalloc(1, (size_t)v->szOsFile);
	int oflags = 0;
	int rc = v->xOpen(v, path, f, SQLITE_OPEN_WAL | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &oflags);
	T_INT(rc, SQLITE_OK);
	if (rc || !f->pMethods) {
		free(f);
		t_db_remove(db);
		return;
	}
	const sqlite3_io_methods *m = f->pMethods;
	unsigned char want[2048] = {0}, got[2048];
	sqlite3_int64 size = -1;
	/* held: not in the file yet, but the size asks for it */
	memset(want, 'a', 10);
	T_INT(m->xWrite(f, want, 10, 0), SQLITE_OK);
	T_INT((int)file_bytes(path, got, sizeof got), 0);
	T_INT(m->xFileSize(f, &size), SQLITE_OK);
	T_INT((int)size, 10);
	/* a write elsewhere writes the held one first, then is held itself;
	 * a read of it finds it */
	memset(want + 100, 'b', 20);
	memset(want + 200, 'c', 5);
	T_INT(m->xWrite(f, want + 100, 20, 100), SQLITE_OK);
	T_INT(m->xWrite(f, want + 200, 5, 200), SQLITE_OK);
	T_INT((int)file_bytes(path, got, sizeof got), 120);
	T_OK(!memcmp(got, want, 120), "the held write went first");
	memset(got, 0, 5);
	T_INT(m->xRead(f, got, 5, 200), SQLITE_OK);
	T_OK(!memcmp(got, want + 200, 5), "a read finds the held bytes");
	/* a frame: 24-byte header, then its 1000 bytes right after: joined */
	long long j0 = writeback_joined();
	for (int i = 0; i < 1024; i++)
		want[300 + i] = (unsigned char)(i * 7 + 1);
	T_INT(m->xWrite(f, want + 300, 24, 300), SQLITE_OK);
	T_INT(m->xWrite(f, want + 324, 1000, 324), SQLITE_OK);
	T_INT((int)(writeback_joined() - j0), 1);
	T_INT((int)file_bytes(path, got, sizeof got), 1324);
	T_OK(!memcmp(got, want, 1324), "header and page in the file, in place");
	/* a bigger write not after a held one: at once */
	memset(want + 1400, 'g', 600);
	T_INT(m->xWrite(f, want + 1400, 600, 1400), SQLITE_OK);
	T_INT((int)file_bytes(path, got, sizeof got), 2000);
	T_OK(!memcmp(got + 1400, want + 1400, 600), "a 600-byte write is not held");
	/* held at the close: written by it */
	memset(want + 1324, 'd', 30);
	T_INT(m->xWrite(f, want + 1324, 30, 1324), SQLITE_OK);
	T_INT(m->xSync(f, SQLITE_SYNC_NORMAL), SQLITE_OK);
	T_INT((int)file_bytes(path, got, sizeof got), 2000);
	T_OK(!memcmp(got + 1324, want + 1324, 30), "the sync wrote the held bytes");
	memset(want + 1354, 'e', 8);
	T_INT(m->xWrite(f, want + 1354, 8, 1354), SQLITE_OK);
	T_INT(m->xClose(f), SQLITE_OK);
	T_INT((int)file_bytes(path, got, sizeof got), 2000);
	T_OK(!memcmp(got, want, 2000), "the close wrote the held bytes");
	/* a main database's small writes go at once */
	rc = v->xOpen(v, db, f, SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE, &oflags);
	T_INT(rc, SQLITE_OK);
	if (!rc && f->pMethods) {
		memset(want, 'f', 16);
		T_INT(f->pMethods->xWrite(f, want, 16, 0), SQLITE_OK);
		T_INT((int)file_bytes(db, got, sizeof got), 16);
		T_OK(!memcmp(got, want, 16), "a database write is not held");
		T_INT(f->pMethods->xClose(f), SQLITE_OK);
	}
	free(f);
	t_db_remove(db);
}

/* What a WAL commit wrote is in the files when COMMIT returns: a copy of
 * the database and its WAL taken then (what a process killed at that
 * moment leaves) recovers every committed row, and no WAL write was left
 * held (frames were joined: the holding is in use). */
static void test_writeback_commit_on_disk(void)
{
	char path[64], copy[96], from[112], to[112];
	if (t_db_path(path, sizeof path, "wbcommit"))
		return;
	snprintf(copy, sizeof copy, "%s-copy", path);
	sqlite3 *db = wal_db(path, 0);
	if (!db)
		return;
	long long j0 = writeback_joined();
	static const int sizes[] = {10, 20000, 300, 65536, 1};
	for (int i = 0; i < 5; i++) {
		char sql[96];
		snprintf(sql, sizeof sql, "INSERT INTO t(v) VALUES(randomblob(%d))", sizes[i]);
		T_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		/* the files as they are now, the WAL included, copied */
		T_INT(file_copy(path, copy), 0);
		snprintf(from, sizeof from, "%s-wal", path);
		snprintf(to, sizeof to, "%s-wal", copy);
		T_INT(file_copy(from, to), 0);
		sqlite3 *c;
		sqlite3_stmt *q;
		T_INT(sqlite3_open(copy, &c), SQLITE_OK);
		T_INT(sqlite3_prepare_v2(c, "SELECT count(*) FROM t", -1, &q, NULL), SQLITE_OK);
		T_INT(sqlite3_step(q), SQLITE_ROW);
		T_INT(sqlite3_column_int(q, 0), i + 1);
		sqlite3_finalize(q);
		sqlite3_close(c);
		t_db_remove(copy);
	}
	T_OK(writeback_joined() - j0 >= 5, "WAL frames joined (%lld)", writeback_joined() - j0);
	sqlite3_close(db);
	t_db_remove(path);
}

/* Files through the VFS's own methods, as SQLite calls them: after every
 * 4 MB written to a database or WAL file the background thread syncs it
 * (9 MB: two syncs, which the test waits for); a file closed while it is
 * queued or being synced leaves the thread first (under ASan and valgrind
 * a sync of a freed file object would be an error) and keeps every byte;
 * 3 MB never asks for one. */
static void test_writeback_background(void)
{
	char db[64];
	if (t_db_path(db, sizeof db, "bgsync"))
		return;
	sqlite3_vfs *v = sqlite3_vfs_find(NULL);
	enum { CHUNK = 65536 };
	unsigned char *buf = xcalloc(1, CHUNK), *got = xcalloc(1, CHUNK);
	int oflags = 0;
	long long s0 = writeback_background_syncs();
	for (int round = 0; round < 12; round++) {
		sqlite3_file *f = xcalloc(1, (size_t)v->szOsFile);
		int rc = v->xOpen(v, db, f, SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READWRITE, &oflags);
		T_INT(rc, SQLITE_OK);
		if (rc || !f->pMethods) {
			free(f);
			break;
		}
		/* round 0: 9 MB, waiting for a sync after each 4 MB (asked
		 * for while one is queued, a sync is not asked for twice); the
		 * others: 4 MB (one sync asked for at the last write), closed
		 * at once */
		int n = round == 0 ? 144 : round == 11 ? 48 : 64;
		for (int i = 0; i < n; i++) {
			memset(buf, 'a' + (round + i) % 26, CHUNK);
			T_INT(f->pMethods->xWrite(f, buf, CHUNK, (sqlite3_int64)i * CHUNK), SQLITE_OK);
			if (round == 0 && (i == 63 || i == 127)) {
				long long want = i == 63 ? 1 : 2;
				for (int w = 0; w < 500 && writeback_background_syncs() - s0 < want; w++)
					usleep(10000);
				T_OK(writeback_background_syncs() - s0 == want, "%d MB written, %lld background syncs (want %lld)",
				     (i + 1) / 16, writeback_background_syncs() - s0, want);
			}
		}
		if (round == 0) {
			usleep(50000);
			T_OK(writeback_background_syncs() - s0 == 2, "9 MB written, %lld background syncs (want 2)",
			     writeback_background_syncs() - s0);
		}
		long long before_close = writeback_background_syncs();
		T_INT(f->pMethods->xClose(f), SQLITE_OK);
		free(f); /* the thread must be done with it */
		if (round == 11) {
			usleep(50000);
			T_OK(writeback_background_syncs() == before_close, "3 MB asked for no sync");
		}
		/* every byte there */
		FILE *in = fopen(db, "rb");
		int same = in != NULL;
		for (int i = 0; same && i < n; i++) {
			memset(buf, 'a' + (round + i) % 26, CHUNK);
			same = fread(got, 1, CHUNK, in) == CHUNK && !memcmp(got, buf, CHUNK);
		}
		if (in)
			fclose(in);
		T_OK(same, "round %d: the file holds what was written", round);
		if (truncate(db, 0))
			T_OK(0, "truncate %s", db);
	}
	free(buf);
	free(got);
	t_db_remove(db);
}

static void rev_cb(void *ud, int revision, const char *changed, int64_t created_at)
{
	struct sbuf *b = ud;
	sbuf_addf(b, "%s%d:%s@%lld", b->len ? " " : "", revision, changed, (long long)created_at);
}

/* One revision's EN title; "-" when store_story_get() finds none. */
static const char *rev_title(struct store *st, const char *id, int revision)
{
	static char buf[128];
	struct story got;
	story_init(&got);
	int rc = store_story_get(st, id, revision, &got);
	snprintf(buf, sizeof buf, "%s", rc == 1 ? got.title[STORY_EN] : rc == 0 ? "-" : "error");
	if (rc == 1 && revision > 0 && got.revision != revision)
		snprintf(buf, sizeof buf, "wrong revision %d", got.revision);
	story_free(&got);
	return buf;
}

static const char *rev_list(struct store *st, const char *id)
{
	static char buf[256];
	struct sbuf b = {0};
	int n = store_story_revisions(st, id, rev_cb, &b);
	snprintf(buf, sizeof buf, "%d %s", n, b.s ? b.s : "");
	sbuf_free(&b);
	return buf;
}


/* Schema 5 -> 6: a story's revisions linked by rowid (stories.rev_row,
 * revisions.prev) instead of indexed by (story_id, revision). A store
 * written now is put back into schema 5's shape (the index, no links),
 * then opened: every revision reads back as it was, lists in order, the
 * head is what search finds, and a revision stored after the migration
 * links to the migrated head. */
static void test_migration_revisions(void)
{
	char path[64];
	char *err = NULL;
	struct store *st = file_store(path, "v5");
	if (!st)
		return;
	struct story a = mk("s-a", "alpha one", "甲一", 70), b = mk("s-b", "beta one", "乙一", 60),
		     c = mk("s-c", "gamma one", "丙一", 50);
	/* rowids interleaved: a1 b1 a2 c1 a3 c2 */
	T_INT(put(st, &a, "first"), 0);
	T_INT(put(st, &b, "first"), 0);
	free(a.title[STORY_EN]), a.title[STORY_EN] = xstrdup("alpha two"), a.revision = 2;
	T_INT(put(st, &a, "second"), 0);
	T_INT(put(st, &c, "first"), 0);
	free(a.title[STORY_EN]), a.title[STORY_EN] = xstrdup("alpha three"), a.revision = 3;
	T_INT(put(st, &a, "third"), 0);
	free(c.title[STORY_EN]), c.title[STORY_EN] = xstrdup("gamma two"), c.revision = 2;
	T_INT(put(st, &c, "second"), 0);
	store_close(st);

	sqlite3 *db;
	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_INT(sqlite3_exec(db,
			   "CREATE TABLE rv5(rowid INTEGER PRIMARY KEY, story_id TEXT NOT NULL, revision INTEGER NOT NULL,"
			   "  fingerprint INTEGER NOT NULL, changed TEXT NOT NULL, json TEXT NOT NULL,"
			   "  created_at INTEGER NOT NULL, UNIQUE(story_id, revision));"
			   "INSERT INTO rv5 SELECT rowid, story_id, revision, fingerprint, changed, json, created_at"
			   "  FROM revisions;"
			   /* an older revision with a newer rowid (schema 1 -> 2 numbered
			    * revisions by their time, and clocks step back) */
			   "UPDATE rv5 SET rowid = 100 WHERE story_id = 's-c' AND revision = 1;"
			   "DROP TABLE revisions; ALTER TABLE rv5 RENAME TO revisions;"
			   "ALTER TABLE stories DROP COLUMN rev_row;"
			   "PRAGMA user_version = 5;",
			   NULL, NULL, NULL),
	      SQLITE_OK);
	T_STR(sql_text1(db, "SELECT count(*) FROM pragma_index_list('revisions')"), "1");
	T_STR(sql_text1(db, "SELECT count(*) FROM pragma_table_info('stories') WHERE name = 'rev_row'"), "0");
	sqlite3_close(db);

	/* the upgrade says so on stderr: opening a big store takes a while */
	char logpath[80];
	snprintf(logpath, sizeof logpath, "%s-log", path);
	fflush(stderr);
	int saved = dup(2), lf = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(lf, 2);
	T_OK(store_open(path, &st, &err) == 0, "open a schema-5 database: %s", err ? err : "");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(lf);
	char *logged = NULL;
	size_t loglen = 0;
	T_INT(file_read(logpath, 1 << 16, &logged, &loglen), 0);
	T_OK(logged && strstr(logged, "upgrading the database from schema 5 to 6"), "logged: %s", logged ? logged : "");
	free(logged);
	unlink(logpath);
	if (!st) {
		free(err);
		story_free(&a), story_free(&b), story_free(&c);
		t_db_remove(path);
		return;
	}
	T_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	/* the migration's copies are not left in the WAL while the store is open */
	char wal[80];
	snprintf(wal, sizeof wal, "%s-wal", path);
	struct stat wst;
	T_OK(stat(wal, &wst) == 0 && wst.st_size == 0, "WAL after the migration: %lld bytes",
	     stat(wal, &wst) == 0 ? (long long)wst.st_size : -1LL);
	T_STR(rev_title(st, "s-a", 0), "alpha three");
	T_STR(rev_title(st, "s-a", 1), "alpha one");
	T_STR(rev_title(st, "s-a", 2), "alpha two");
	T_STR(rev_title(st, "s-a", 3), "alpha three");
	T_STR(rev_title(st, "s-a", 4), "-");
	T_STR(rev_title(st, "s-b", 1), "beta one");
	T_STR(rev_title(st, "s-b", 2), "-");
	T_STR(rev_title(st, "s-c", 1), "gamma one");
	T_STR(rev_title(st, "s-c", 0), "gamma two");
	T_STR(rev_title(st, "s-x", 1), "-");
	T_STR(rev_list(st, "s-a"), "3 1:new@1700000001 2:new@1700000002 3:new@1700000003");
	T_STR(rev_list(st, "s-b"), "1 1:new@1700000001");
	T_STR(rev_list(st, "s-c"), "2 1:new@1700000001 2:new@1700000002");
	T_STR(rev_list(st, "s-x"), "0 ");
	T_STR(search(st, "third"), "s-a");
	T_STR(search(st, "second"), "s-c");
	T_STR(search(st, "first"), "s-b");
	struct t_ids ids = {{0}, 0};
	struct store_query all = {0};
	T_INT(store_list(st, &all, t_ids_cb, &ids), 3);

	/* after the migration: a fourth revision links to the third */
	free(a.title[STORY_EN]), a.title[STORY_EN] = xstrdup("alpha four"), a.revision = 4;
	T_INT(put(st, &a, "fourth"), 0);
	T_STR(rev_title(st, "s-a", 0), "alpha four");
	T_STR(rev_title(st, "s-a", 3), "alpha three");
	T_STR(rev_title(st, "s-a", 1), "alpha one");
	T_STR(rev_list(st, "s-a"), "4 1:new@1700000001 2:new@1700000002 3:new@1700000003 4:new@1700000004");
	T_STR(search(st, "fourth"), "s-a");
	T_STR(search(st, "third"), "");
	store_close(st);

	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_STR(sql_text1(db, "SELECT count(*) FROM pragma_index_list('revisions')"), "0");
	T_STR(sql_text1(db, "SELECT group_concat(x, ' ') FROM (SELECT r.revision || '<' || coalesce(p.revision, 0) AS x"
			    " FROM revisions r LEFT JOIN revisions p ON p.rowid = r.prev WHERE r.story_id = 's-a'"
			    " ORDER BY r.rowid)"),
	      "1<0 2<1 3<2 4<3");
	T_STR(sql_text1(db, "SELECT group_concat(x, ' ') FROM (SELECT s.id || '=' || r.revision AS x FROM stories s"
			    " JOIN revisions r ON r.rowid = s.rev_row ORDER BY s.id)"),
	      "s-a=4 s-b=1 s-c=2");
	sqlite3_close(db);
	story_free(&a), story_free(&b), story_free(&c);
	t_db_remove(path);
}

struct late_commit {
	sqlite3 *db;
	int ms;
};

static void *late_commit_main(void *p)
{
	struct late_commit *lc = p;
	usleep((useconds_t)lc->ms * 1000);
	sqlite3_exec(lc->db, "COMMIT", NULL, NULL, NULL);
	return NULL;
}

/* Two processes opening a store that needs migrating: the one that waits
 * for the other's write lock reads the schema version again once it has
 * the lock, and runs no migration the other already ran. Here the other
 * one is a connection that marks the store migrated (schema 6) without
 * changing it, committing only after store_open() has read version 5: a
 * store that ran migration 6 anyway would gain the rev_row column. */
static void test_migration_race(void)
{
	char path[64];
	struct store *st = file_store(path, "race");
	if (!st)
		return;
	store_close(st);
	sqlite3 *db;
	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_INT(sqlite3_exec(db, "ALTER TABLE stories DROP COLUMN rev_row; PRAGMA user_version = 5;", NULL, NULL, NULL),
	      SQLITE_OK);
	T_INT(sqlite3_exec(db, "BEGIN IMMEDIATE; PRAGMA user_version = 6;", NULL, NULL, NULL), SQLITE_OK);
	struct late_commit lc = {db, 300};
	pthread_t th;
	T_INT(pthread_create(&th, NULL, late_commit_main, &lc), 0);
	char *err = NULL;
	st = NULL;
	T_OK(store_open(path, &st, &err) == 0, "open while another migrates: %s", err ? err : "");
	free(err);
	pthread_join(th, NULL);
	if (st) {
		T_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
		store_close(st);
	}
	T_STR(sql_text1(db, "SELECT count(*) FROM pragma_table_info('stories') WHERE name = 'rev_row'"), "0");
	sqlite3_close(db);
	t_db_remove(path);
}

/* Schema 2 -> 3: the outbox rebuilt with its CHECK constraints as
 * comparisons (no ephemeral table per row); rows and ids kept, the same
 * values allowed. */
static void test_migration_outbox(void)
{
	char path[64];
	char *err = NULL;
	struct store *st = file_store(path, "v2");
	if (!st)
		return;
	store_close(st);
	sqlite3 *db;
	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	/* back to the outbox as schema 2 made it, with a row */
	T_INT(sqlite3_exec(db,
			   "DROP TABLE outbox;"
			   T_OUTBOX_SCHEMA_1_2
			   "INSERT INTO outbox VALUES(7, 'update', 's-1', 2, 'slack', 'channel', 'C1', 'why', 'en', 'sent',"
			   "  1, 100, NULL, 'ts-1', NULL, 90, 110);"
			   "PRAGMA user_version = 2;",
			   NULL, NULL, NULL),
	      SQLITE_OK);
	sqlite3_close(db);
	T_OK(store_open(path, &st, &err) == 0, "open a schema-2 database: %s", err ? err : "");
	if (!st) {
		free(err);
		t_db_remove(path);
		return;
	}
	T_INT(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	T_INT(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	T_INT(sqlite3_prepare_v2(db,
				 "SELECT id || kind || story_id || revision || platform || target_kind || target || reason"
				 " || lang || status || attempts || next_attempt_at || coalesce(claimed_at, '-') || remote_id"
				 " || coalesce(error, '-') || created_at || updated_at FROM outbox",
				 -1, &q, NULL),
	      SQLITE_OK);
	T_INT(sqlite3_step(q), SQLITE_ROW);
	T_STR((const char *)sqlite3_column_text(q, 0), "7updates-12slackchannelC1whyensent1100-ts-1-90110");
	T_INT(sqlite3_step(q), SQLITE_DONE);
	sqlite3_finalize(q);
	T_INT(sqlite3_exec(db, "INSERT INTO outbox(kind, story_id, revision, platform, target_kind, target,"
			       " next_attempt_at, created_at, updated_at) VALUES('digest','s-2',1,'p','user','u',1,1,1)",
			   NULL, NULL, NULL),
	      SQLITE_OK);
	T_OK(sqlite3_exec(db, "INSERT INTO outbox(kind, story_id, revision, platform, target_kind, target,"
			      " next_attempt_at, created_at, updated_at) VALUES('alerts','s-3',1,'p','user','u',1,1,1)",
			  NULL, NULL, NULL) == SQLITE_CONSTRAINT, "kind still checked");
	T_OK(sqlite3_exec(db, "UPDATE outbox SET status = 'lost' WHERE id = 7", NULL, NULL, NULL) == SQLITE_CONSTRAINT,
	     "status still checked");
	T_INT(sqlite3_exec(db, "UPDATE outbox SET status = 'failed' WHERE id = 7", NULL, NULL, NULL), SQLITE_OK);
	/* the index is back, and queueing a row builds no ephemeral table */
	T_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'outbox_due'", -1, &q, NULL),
	      SQLITE_OK);
	T_INT(sqlite3_step(q), SQLITE_ROW);
	T_INT(sqlite3_column_int(q, 0), 1);
	sqlite3_finalize(q);
	T_INT(sqlite3_prepare_v2(db, "EXPLAIN INSERT INTO outbox(kind, story_id, revision, platform, target_kind, target,"
				     " next_attempt_at, created_at, updated_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?7,?7)",
				 -1, &q, NULL),
	      SQLITE_OK);
	int eph = 0;
	while (sqlite3_step(q) == SQLITE_ROW)
		eph += !strcmp((const char *)sqlite3_column_text(q, 1), "OpenEphemeral");
	sqlite3_finalize(q);
	T_INT(eph, 0);
	sqlite3_close(db);
	t_db_remove(path);
}

struct big_ids {
	char buf[8192];
	int n;
};

static void big_ids_cb(void *ud, struct story *s)
{
	struct big_ids *c = ud;
	size_t l = strlen(c->buf);
	snprintf(c->buf + l, sizeof c->buf - l, "%s%s", c->n++ ? "," : "", s->id);
}

/* Listings by class read the classes from the search index: few stories
 * in a class are read and sorted, many are found by walking the time
 * index. Both give the newest by published time (not by ingest order),
 * never a superseded revision's old classes, and honour --since and
 * topic + entity. 4,500 stories: "most" (4,050) is settled by a short
 * walk; "rare" and the pairs are not, and are few: each one's time read;
 * "old" (4,100, none among the 400 newest) is not, and is many: the walk
 * goes on. Checked against the model. */
static void test_class_listings(void)
{
	struct store *st;
	char *err = NULL;
	T_OK(store_open(":memory:", &st, &err) == 0, "open: %s", err ? err : "");
	if (!st)
		return;
	enum { N = 4500 };
	static int64_t pub[N + 1];
	static int rare[N + 1], meta[N + 1];
	T_INT(store_begin(st), 0);
	int ok = 1;
	for (int i = 1; i <= N && ok; i++) {
		char id[32];
		snprintf(id, sizeof id, "s-%d", i);
		struct story s = mk(id, "t", NULL, 50);
		pub[i] = 1700000000 + (int64_t)((i * 7919) % N) * 10; /* distinct, not in ingest order */
		s.published_at = pub[i];
		rare[i] = i % 50 == 0;
		meta[i] = i % 3 == 0;
		if (i % 10)
			strv_push(&s.topics, "most");
		if ((i * 7919) % N < 4100) /* all but the 400 newest */
			strv_push(&s.topics, "old");
		if (rare[i])
			strv_push(&s.topics, "rare");
		if (meta[i])
			strv_push(&s.entities, "meta");
		const char *texts[STORY_NTEXT] = {"t"};
		size_t lens[STORY_NTEXT] = {1};
		ok = store_story_put(st, &s, (uint64_t)i, "new", texts, lens, 1700000000) == 0;
		story_free(&s);
	}
	T_OK(ok, "stored %d stories", N);
	/* revised: stories 100 and 4,000 lose "rare" and meta for "energy"
	 * (new rowids) */
	for (int k = 0; k < 2 && ok; k++) {
		int i = k ? 4000 : 100;
		char id[32];
		snprintf(id, sizeof id, "s-%d", i);
		struct story s = mk(id, "t2", NULL, 50);
		s.revision = 2;
		s.published_at = pub[i];
		strv_push(&s.topics, "energy");
		const char *texts[STORY_NTEXT] = {"t2"};
		size_t lens[STORY_NTEXT] = {2};
		ok = store_story_put(st, &s, (uint64_t)(N + i), "title", texts, lens, 1700000000) == 0;
		rare[i] = meta[i] = 0;
		story_free(&s);
	}
	T_INT(store_commit(st), 0);
	struct {
		const char *topic, *entity;
		int64_t since;
		int limit;
	} cases[] = {
		{"most", NULL, 0, 20}, {"rare", NULL, 0, 20}, {"rare", NULL, 0, 200}, {"most", "meta", 0, 30},
		{NULL, "meta", 0, 25}, {"most", NULL, 1700000000 + 44000, 100}, {"rare", NULL, 1700000000 + 30000, 50},
		{"rare", "meta", 0, 50}, {"none", NULL, 0, 20}, {"old", NULL, 0, 20}, {"old", "meta", 0, 40},
	};
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		/* the model: members by published time, newest first */
		char want[8192] = "";
		size_t wl = 0;
		int nwant = 0;
		for (int64_t t = 1700000000 + (N - 1) * 10; t >= 1700000000 && nwant < cases[c].limit; t -= 10) {
			int i = 0;
			for (int j = 1; j <= N && !i; j++)
				if (pub[j] == t)
					i = j;
			if (!i || t < cases[c].since)
				continue;
			int in = (!cases[c].topic || (!strcmp(cases[c].topic, "most") && i % 10) ||
				  (!strcmp(cases[c].topic, "rare") && rare[i])) &&
				 (!cases[c].entity || meta[i]);
			if (cases[c].topic && !strcmp(cases[c].topic, "none"))
				in = 0;
			if (cases[c].topic && !strcmp(cases[c].topic, "old"))
				in = (int)(t - 1700000000) / 10 < 4100 && i != 100 && i != 4000 && (!cases[c].entity || meta[i]);
			if (in) {
				wl += (size_t)snprintf(want + wl, sizeof want - wl, "%ss-%d", nwant ? "," : "", i);
				nwant++;
			}
		}
		static struct big_ids got;
		memset(&got, 0, sizeof got);
		struct store_query qr = {.topic = cases[c].topic, .entity = cases[c].entity, .since = cases[c].since,
					 .limit = cases[c].limit, .brief = (int)(c % 2)};
		T_INT(store_list(st, &qr, big_ids_cb, &got), nwant);
		T_OK(!strcmp(got.buf, want), "case %zu: got %.60s..., want %.60s...", c, got.buf, want);
	}
	store_close(st);
}

/* The daemon's setting: index merges in steps, one per commit. Every
 * story stays findable while merges are half done, and listings by class
 * too. */
static void test_merges_in_steps(void)
{
	struct store *st;
	char *err = NULL;
	T_OK(store_open(":memory:", &st, &err) == 0, "open: %s", err ? err : "");
	if (!st)
		return;
	store_merge_budget(st, 20);
	enum { N = 80 };
	int bad = 0;
	for (int i = 1; i <= N; i++) {
		char id[32], text[128];
		snprintf(id, sizeof id, "s-%d", i);
		snprintf(text, sizeof text, "word%dalpha word%dbeta 算力%d common", i, i, i % 7);
		struct story s = mk(id, "t", NULL, 50);
		strv_push(&s.topics, i % 2 ? "odd" : "even");
		T_INT(put(st, &s, text), 0);
		story_free(&s);
		for (int j = 1; j <= i; j++) { /* each one so far, by its own words */
			char q[32], want[32];
			snprintf(q, sizeof q, "word%dbeta", j);
			snprintf(want, sizeof want, "s-%d", j);
			const char *got = search(st, q);
			if (strcmp(got, want) && bad++ < 5)
				printf("# after %d: %s -> %s\n", i, q, got);
		}
		struct store_query qr = {.topic = "odd", .limit = 100};
		static struct big_ids got;
		memset(&got, 0, sizeof got);
		if (store_list(st, &qr, big_ids_cb, &got) != (i + 1) / 2 && bad++ < 5)
			printf("# after %d: %d odd ones listed\n", i, store_list(st, &qr, big_ids_cb, &got));
	}
	T_INT(bad, 0);
	int64_t segs = 0, bytes = 0;
	store_search_stats(st, &segs, &bytes);
	T_OK(segs < N, "merged: %lld segments for %d stories", (long long)segs, N);
	store_close(st);
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* secure_delete=FAST (Debian's SQLite defaults to on): pages a delete
 * frees are not overwritten with zeros, so a merge of the search index
 * does not write its inputs' pages once more as zeros. Stories with big
 * segments (their chunks fill overflow pages) are merged; the database's
 * freelist pages, read from the file, still hold their old bytes. */
static void test_secure_delete_fast(void)
{
	char path[64];
	struct store *st = file_store(path, "fast");
	if (!st)
		return;
	for (int i = 0; i < 20; i++) { /* one segment each; 16 are merged */
		struct sbuf text = {0};
		for (int w = 0; w < 1500; w++)
			sbuf_addf(&text, "w%dx%d ", i, w);
		T_INT(put_numbered(st, "s-fast", i, "big", text.s), 0);
		sbuf_free(&text);
	}
	int64_t segs = 0, bytes = 0;
	store_search_stats(st, &segs, &bytes);
	T_OK(segs < 20, "merged: %lld segments", (long long)segs);
	store_close(st); /* checkpoints: the file holds every page */

	char *db = NULL;
	size_t len = 0;
	T_INT(file_read(path, 64 << 20, &db, &len), 0);
	size_t page = db && len >= 100 ? (size_t)db[16] << 8 | (unsigned char)db[17] : 0;
	uint32_t trunk = db && len >= 100 ? be32((unsigned char *)db + 32) : 0;
	size_t leaves = 0, zero = 0;
	for (int guard = 0; trunk && page && (size_t)trunk * page <= len && guard < 1000; guard++) {
		const unsigned char *t = (unsigned char *)db + (size_t)(trunk - 1) * page;
		uint32_t n = be32(t + 4);
		for (uint32_t k = 0; k < n && 8 + 4 * (size_t)k + 4 <= page; k++) {
			uint32_t leaf = be32(t + 8 + 4 * k);
			if (!leaf || (size_t)leaf * page > len)
				continue;
			const unsigned char *lp = (unsigned char *)db + (size_t)(leaf - 1) * page;
			size_t j = 0;
			while (j < page && !lp[j])
				j++;
			leaves++;
			zero += j == page;
		}
		trunk = be32(t);
	}
	T_OK(leaves >= 4, "%zu free pages after the merge", leaves);
	T_OK(zero == 0, "%zu of %zu free pages overwritten with zeros", zero, leaves);
	free(db);
	t_db_remove(path);
}

int main(void)
{
	test_schema();
	test_migration_outbox();
	test_migration_revisions();
	test_migration_race();
	test_revisions_and_search();
	test_class_listings();
	test_merges_in_steps();
	test_secure_delete_fast();
	test_rules_prefs();
	test_outbox();
	test_two_connections();
	test_bulk();
	test_hold_recovery();
	test_writeback();
	test_writeback_held();
	test_writeback_commit_on_disk();
	test_writeback_background();
	return t_done();
}
