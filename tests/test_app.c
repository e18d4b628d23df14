/* test_app — the story pipeline end to end in-process: classification of the
 * samples, decisions, at-most-once per target, threshold crossing on a later
 * revision, updates, subscriptions, outbox durability across a restart. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "app.h"
#include "ingest.h"
#include "parse.h"
#include "store.h"
#include "t.h"
#include "t_db.h"

static char db[64], cfgpath[64];

static const char cfg_json[] =
	"{\"store\": {\"path\": \"unused.db\"}, \"topics\": \"config/topics.json\","
	" \"platforms\": [{\"type\": \"console\", \"name\": \"work\"}, {\"type\": \"console\", \"name\": \"mm\"}],"
	" \"rules\": ["
	"  {\"platform\": \"work\", \"channel\": \"C-INFRA\", \"expr\": \"topic:compute and impact >= 70\"},"
	"  {\"platform\": \"work\", \"channel\": \"C-NEWS\", \"expr\": \"hot >= 80 or impact >= 90\"},"
	"  {\"platform\": \"work\", \"channel\": \"C-NEWS\", \"expr\": \"entity:nvidia\"},"
	"  {\"platform\": \"mm\", \"channel\": \"town\", \"expr\": \"算力\", \"lang\": \"zh\"}"
	" ]}";

struct rows {
	char buf[2048];
	int n;
};

static void row_cb(void *ud, const struct store_outbox_row *r)
{
	struct rows *c = ud;
	size_t l = strlen(c->buf);
	snprintf(c->buf + l, sizeof c->buf - l, "%s%s:%s:%s:%s:r%d", c->n++ ? " " : "", r->kind, r->platform,
		 r->target_kind, r->target, r->revision);
}

static const char *outbox(struct app *a)
{
	static struct rows c;
	memset(&c, 0, sizeof c);
	store_outbox_list(a->store, NULL, 0, row_cb, &c);
	return c.buf;
}

static void take(void *ud, struct story *s, const char *where, const char *err)
{
	(void)where, (void)err;
	struct {
		struct story *s;
		int ok;
	} *c = ud;
	if (s) {
		story_free(c->s);
		*c->s = *s;
		story_init(s);
		c->ok = 1;
	}
}

static int put_json(struct app *a, const char *json, struct app_put_info *info)
{
	int rc = -1;
	struct story s;
	story_init(&s);
	struct ctx {
		struct story *s;
		int ok;
	} c = {&s, 0};
	char *err = NULL;
	story_from_json_text(json, strlen(json), take, &c, &err);
	free(err);
	if (c.ok)
		rc = app_put_story(a, &s, 0, info, &err);
	if (rc)
		printf("# put failed: %s\n", err ? err : "parse");
	free(err);
	story_free(&s);
	return rc;
}

static void ignore_report(void *ud, const struct ingest_report *r)
{
	(void)ud;
	if (!r->ok)
		printf("# ingest error: %s\n", r->msg);
}

static void test_samples(struct app *a)
{
	T_INT(ingest_file(a, t_sample("001"), 0, ignore_report, NULL), 0);
	struct story s;
	story_init(&s);
	/* sample 001: compute, talent, regulation; meta, openai, google, anthropic */
	char *id = NULL;
	{
		struct story t;
		story_init(&t);
		t.title[STORY_EN] = xstrdup("Meta Signs AI Computing Power Agreement with Data Center Company Crusoe");
		story_assign_id(&t);
		id = xstrdup(t.id);
		story_free(&t);
	}
	T_INT(store_story_get(a->store, id, 0, &s), 1);
	const char *want_t[] = {"compute", "talent", "regulation"};
	for (int i = 0; i < 3; i++)
		T_OK(strv_contains(&s.topics, want_t[i]), "sample 001 topic %s", want_t[i]);
	const char *want_e[] = {"meta", "openai", "google", "anthropic"};
	for (int i = 0; i < 4; i++)
		T_OK(strv_contains(&s.entities, want_e[i]), "sample 001 entity %s", want_e[i]);
	char *ev = app_story_evidence(a, id, "topic", "compute");
	T_OK(ev && (strstr(ev, "算力") || strstr(ev, "gigawatt")), "evidence: %s", ev ? ev : "(none)");
	free(ev);
	T_OK(!app_story_evidence(a, id, "topic", "no-such-topic"), "no evidence for an unknown topic");
	T_OK(!app_story_evidence(a, "s-nope", "topic", "compute"), "no evidence for an unknown story");
	/* impact 70 + compute -> C-INFRA; 算力 -> mm town (lang zh) */
	T_STR(outbox(a), "alert:work:channel:C-INFRA:r1 alert:mm:channel:town:r1");
	free(id);
	story_free(&s);
}

static void test_revisions(struct app *a)
{
	struct app_put_info info;
	/* A Traditional-Chinese story mentioning only 資料中心 and 輝達. */
	T_INT(put_json(a, "{\"id\": \"tw-1\", \"title\": {\"zh\": \"輝達與資料中心業者簽約\"}, \"scores\": {\"hot\": 40, \"impact\": 50}}",
		       &info), 0);
	struct story s;
	story_init(&s);
	T_INT(store_story_get(a->store, "tw-1", 0, &s), 1);
	T_OK(strv_contains(&s.topics, "compute"), "tw story in compute");
	T_OK(strv_contains(&s.entities, "nvidia"), "tw story about nvidia");
	story_free(&s);
	/* entity:nvidia fires on C-NEWS; the bare word 算力 resolves to the
	 * topic compute, so mm's town hears too; impact 50 is below C-INFRA's 70. */
	T_INT(info.alerts, 2);
	const char *ob = outbox(a);
	T_OK(strstr(ob, "alert:work:channel:C-NEWS:r1") != NULL, "nvidia rule: %s", ob);
	T_OK(strstr(ob, "alert:mm:channel:town:r1") != NULL, "算力 = topic compute: %s", ob);
	T_OK(strstr(ob, "C-INFRA:r1 alert:work:channel:C-NEWS") == NULL, "no C-INFRA alert at impact 50: %s", ob);

	/* Identical re-ingest: nothing. */
	T_INT(put_json(a, "{\"id\": \"tw-1\", \"title\": {\"zh\": \"輝達與資料中心業者簽約\"}, \"scores\": {\"hot\": 40, \"impact\": 50}}",
		       &info), 0);
	T_INT(info.result, APP_PUT_UNCHANGED);
	T_INT(info.alerts + info.updates, 0);

	/* Revision 2 crosses C-INFRA's threshold: alerted now; C-NEWS already
	 * heard of it and gets an update, never a second alert. */
	T_INT(put_json(a, "{\"id\": \"tw-1\", \"title\": {\"zh\": \"輝達與資料中心業者簽約\"}, \"scores\": {\"hot\": 40, \"impact\": 75}}",
		       &info), 0);
	T_INT(info.result, APP_PUT_REVISED);
	T_INT(info.revision, 2);
	T_STR(info.changed, "scores");
	ob = outbox(a);
	T_OK(strstr(ob, "alert:work:channel:C-INFRA:r2") != NULL, "threshold crossed on r2: %s", ob);
	T_OK(strstr(ob, "update:work:channel:C-NEWS:r2") != NULL, "update for the alerted: %s", ob);
	/* Revision 3: all three already alerted, all three get updates. */
	T_INT(put_json(a, "{\"id\": \"tw-1\", \"title\": {\"zh\": \"輝達與資料中心業者簽約（更新）\"}, \"scores\": {\"hot\": 40, \"impact\": 75}}",
		       &info), 0);
	T_INT(info.alerts, 0);
	T_INT(info.updates, 3);
	T_STR(info.changed, "title");
	/* Each target alerted at most once for this story. */
	int alerts = 0;
	for (const char *p = outbox(a); (p = strstr(p, "alert:work:channel:C-INFRA")); p++)
		alerts++;
	T_INT(alerts, 2); /* sample 001 and tw-1, once each */
}

static void test_subscriptions(struct app *a)
{
	char *err = NULL;
	int64_t id = 0;
	T_INT(app_rule_add(a, "work", "user", "U1", "nvidia impact>=70", NULL, "command", &id, &err), 0);
	T_INT(app_rule_add(a, "work", "user", "U2", "kw:\"Noam Shazeer\"", NULL, "command", NULL, &err), 0);
	T_INT(app_rule_add(a, "work", "user", "U3", "hot >= ", NULL, "command", NULL, &err), -1);
	T_OK(err && strstr(err, "column 8"), "error names the column: %s", err ? err : "");
	free(err);
	err = NULL;
	T_INT(app_rule_add(a, "work", "user", "U1", "nvidia impact>=70", NULL, "command", NULL, &err), 1);
	struct app_put_info info;
	T_INT(put_json(a, "{\"id\": \"n-1\", \"title\": \"NVIDIA ships Blackwell\", \"tldr\": {\"en\": [\"Noam Shazeer comments on Nvidia's GPUs.\"]}, \"scores\": {\"hot\": 50, \"impact\": 72}}",
		       &info), 0);
	const char *ob = outbox(a);
	T_OK(strstr(ob, "alert:work:user:U1:r1") != NULL, "U1 DM: %s", ob);
	T_OK(strstr(ob, "alert:work:user:U2:r1") != NULL, "U2 keyword DM: %s", ob);
	/* Removing the subscription stops it. */
	T_INT(app_rule_remove(a, id), 0);
	T_INT(put_json(a, "{\"id\": \"n-2\", \"title\": \"NVIDIA again\", \"scores\": {\"impact\": 95}}", &info), 0);
	size_t before = strlen(ob);
	ob = outbox(a);
	T_OK(strlen(ob) > before, "n-2 was decided");
	T_OK(strstr(ob + before, "U1") == NULL, "no DM after unsubscribe: %s", ob + before);
	T_OK(strstr(ob + before, "alert:work:channel:C-NEWS:r1") != NULL, "channel still alerted: %s", ob + before);
}

/* Schema 1 as ainews made it before its own search index: a fixture of
 * history, not to be kept in step with bot/store.c. */
static const char v1_schema[] =
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
	T_OUTBOX_SCHEMA_1_2;

static int stub_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)ctx, (void)argv, (void)argc;
	*out = (Fts5Tokenizer *)xmalloc(1);
	return SQLITE_OK;
}

static void stub_delete(Fts5Tokenizer *t)
{
	free(t);
}

static int stub_tokenize(Fts5Tokenizer *t, void *ctx, int flags, const char *text, int len,
			 int (*emit)(void *, int, const char *, int, int, int))
{
	(void)t, (void)ctx, (void)flags, (void)text, (void)len, (void)emit;
	return SQLITE_OK;
}

/* A schema-1 database opens as schema 2: the FTS table gone, every story
 * searchable in the new index, classification rows carried over for
 * listings, and fingerprints recomputed so an unchanged story re-ingested
 * is still unchanged. */
static void test_migration_from_v1(void)
{
	char path[64];
	if (t_db_path(path, sizeof path, "v1"))
		return;
	struct story s;
	story_init(&s);
	char *text = NULL, *err = NULL;
	size_t len;
	T_INT(file_read(t_sample("001"), 1 << 20, &text, &len), 0);
	T_INT(parse_page(text, len, 1795300000, &s, &err), 0);
	story_assign_id(&s);
	s.revision = 1;
	s.published_at = 1795300000;
	strv_push(&s.topics, "compute");
	strv_push(&s.entities, "meta");
	char *json = story_to_json(&s, NULL, 0);

	sqlite3 *v1;
	T_INT(sqlite3_open(path, &v1), SQLITE_OK);
	fts5_api *api = NULL;
	sqlite3_stmt *st;
	sqlite3_prepare_v2(v1, "SELECT fts5(?1)", -1, &st, NULL);
	sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
	sqlite3_step(st);
	sqlite3_finalize(st);
	static fts5_tokenizer stub = {stub_create, stub_delete, stub_tokenize};
	T_OK(api && api->xCreateTokenizer(api, "ainews", NULL, &stub, NULL) == SQLITE_OK, "stub tokenizer");
	T_INT(sqlite3_exec(v1, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	char *sql = sqlite3_mprintf(
		"INSERT INTO stories(id, revision, fingerprint, source, hot, quality, impact, published_at, updated_at,"
		" ingested_at, title, title_en, title_zh) VALUES(%Q, 1, 12345, 'file', 70, 65, 70, 1795300000,"
		" 1795300000, 1795300000, %Q, %Q, %Q);"
		"INSERT INTO revisions VALUES(%Q, 1, 12345, 'new', %Q, 1795300000);"
		"INSERT INTO story_class VALUES(%Q, 'topic', 'compute', 9, '算力×3 (title)', 1795300000);"
		"INSERT INTO story_class VALUES(%Q, 'entity', 'meta', 4, 'Meta×4 (title)', 1795300000);"
		"INSERT INTO story_fts(rowid, title) VALUES(1, 'unused');"
		"PRAGMA user_version = 1;",
		s.id, s.title[STORY_EN], s.title[STORY_EN], s.title[STORY_ZH], s.id, json, s.id, s.id);
	T_INT(sqlite3_exec(v1, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_free(sql);
	sqlite3_close(v1);

	struct app a;
	T_OK(app_open(&a, cfgpath, path, &err) == 0, "open a schema-1 database: %s", err ? err : "");
	if (err) {
		free(err);
		err = NULL;
	} else {
		T_INT(store_schema_version(a.store), STORE_SCHEMA_VERSION);
		struct t_ids l = {{0}, 0};
		T_INT(store_search(a.store, "算力", 10, t_ids_cb, &l), 1);
		T_STR(l.buf, s.id);
		memset(&l, 0, sizeof l);
		struct store_query qt = {.topic = "compute", .entity = "meta"};
		T_INT(store_list(a.store, &qt, t_ids_cb, &l), 1);
		T_STR(l.buf, s.id);
		T_INT(store_search_rebuild_needed(a.store), 0);
		/* the same page again: unchanged, no second revision */
		struct story again;
		story_init(&again);
		parse_page(text, len, 1795300000, &again, &err);
		struct app_put_info info;
		T_INT(app_put_story(&a, &again, 1, &info, &err), 0);
		T_INT(info.result, APP_PUT_UNCHANGED);
		story_free(&again);
		app_close(&a);
	}
	free(json);
	free(text);
	story_free(&s);
	t_db_remove(path);
}

/* Schema 3 -> 4 (new Chinese search terms): the old index is dropped and
 * rebuilt from the stored stories at open, so pairs and single characters
 * are found again. The old index is stood in for by an empty one: queries
 * in the new terms find nothing in either. */
static void test_migration_from_v3(void)
{
	char path[64];
	if (t_db_path(path, sizeof path, "v3"))
		return;
	struct app a;
	char *err = NULL, *text = NULL;
	size_t len;
	T_OK(app_open(&a, cfgpath, path, &err) == 0, "open: %s", err ? err : "");
	T_INT(file_read(t_sample("001"), 1 << 20, &text, &len), 0);
	struct story s;
	story_init(&s);
	T_INT(parse_page(text, len, 1795300000, &s, &err), 0);
	struct app_put_info info;
	T_INT(app_batch_begin(&a), 0);
	T_INT(app_put_story(&a, &s, 1, &info, &err), 0);
	T_INT(app_batch_commit(&a), 0);
	char id[64];
	snprintf(id, sizeof id, "%s", s.id);
	story_free(&s);
	app_close(&a);
	sqlite3 *db3;
	T_INT(sqlite3_open(path, &db3), SQLITE_OK);
	T_INT(sqlite3_exec(db3, "DELETE FROM search_chunk; DELETE FROM search_seg; PRAGMA user_version = 3;", NULL,
			   NULL, NULL),
	      SQLITE_OK);
	sqlite3_close(db3);
	T_OK(app_open(&a, cfgpath, path, &err) == 0, "open a schema-3 database: %s", err ? err : "");
	if (err) {
		free(err);
	} else {
		T_INT(store_schema_version(a.store), STORE_SCHEMA_VERSION);
		T_INT(store_search_rebuild_needed(a.store), 0);
		const char *queries[] = {"算力", "算", "crusoe", "议"};
		for (int i = 0; i < 4; i++) {
			struct t_ids l = {{0}, 0};
			T_INT(store_search(a.store, queries[i], 10, t_ids_cb, &l), 1);
			T_STR(l.buf, id);
		}
		app_close(&a);
	}
	free(text);
	t_db_remove(path);
}

int main(void)
{
	if (t_db_path(db, sizeof db, "app"))
		return 1;
	snprintf(cfgpath, sizeof cfgpath, "/tmp/ainews-cfg-XXXXXX");
	int fd = mkstemp(cfgpath);
	T_INT(write(fd, cfg_json, strlen(cfg_json)), (long long)strlen(cfg_json));
	close(fd);

	struct app a;
	char *err = NULL;
	T_OK(app_open(&a, cfgpath, db, &err) == 0, "open: %s", err ? err : "");
	T_INT(a.nrules, 4);
	test_samples(&a);
	test_revisions(&a);
	test_subscriptions(&a);
	char before[2048];
	snprintf(before, sizeof before, "%s", outbox(&a));
	app_close(&a);

	/* Restart: the outbox and subscriptions survive; config rules keep ids. */
	T_OK(app_open(&a, cfgpath, db, &err) == 0, "reopen");
	T_STR(outbox(&a), before);
	T_INT(a.nrules, 5); /* 4 config rules + U2's subscription */
	T_OK(app_rule_get(&a, 1) && !strcmp(app_rule_get(&a, 1)->origin, "config"), "config rule 1 kept its id");
	app_close(&a);

	test_migration_from_v1();
	test_migration_from_v3();

	unlink(cfgpath);
	t_db_remove(db);
	return t_done();
}
