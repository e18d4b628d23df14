/* t_db.h — temporary SQLite database files for tests and benchmarks.
 *
 * Include after defining _GNU_SOURCE (mkstemp). t_db_path() creates an
 * empty file with a unique name; t_db_remove() deletes it with the WAL and
 * shared-memory files SQLite leaves beside it (and store_bulk()'s lock).
 */
#ifndef AINEWS_T_DB_H
#define AINEWS_T_DB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "story.h"

/* path receives "/tmp/ainews-TAG-XXXXXX" made unique; 0 ok, -1 failure. */
static inline int t_db_path(char *path, size_t n, const char *tag)
{
	snprintf(path, n, "/tmp/ainews-%s-XXXXXX", tag);
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return -1;
	}
	close(fd);
	return 0;
}

static inline void t_db_remove(const char *path)
{
	char p[600];
	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-hold", path); /* store_bulk()'s lock */
	unlink(p);
}

/* A store_list()/store_search() callback collecting ids, comma-separated,
 * in the order they come: "a,b,c". */
struct t_ids {
	char buf[512];
	int n;
};

static inline void t_ids_cb(void *ud, struct story *s)
{
	struct t_ids *c = ud;
	size_t l = strlen(c->buf);
	snprintf(c->buf + l, sizeof c->buf - l, "%s%s", c->n++ ? "," : "", s->id);
}

/* The outbox as schemas 1 and 2 made it (frozen: store.c moves on), for
 * migration tests. */
#define T_OUTBOX_SCHEMA_1_2                                                                                            \
	"CREATE TABLE outbox("                                                                                         \
	"  id INTEGER PRIMARY KEY,"                                                                                    \
	"  kind TEXT NOT NULL CHECK(kind IN ('alert','update','digest')),"                                             \
	"  story_id TEXT NOT NULL, revision INTEGER NOT NULL,"                                                         \
	"  platform TEXT NOT NULL, target_kind TEXT NOT NULL, target TEXT NOT NULL,"                                   \
	"  reason TEXT, lang TEXT,"                                                                                    \
	"  status TEXT NOT NULL DEFAULT 'queued' CHECK(status IN ('queued','sending','sent','failed')),"               \
	"  attempts INTEGER NOT NULL DEFAULT 0,"                                                                       \
	"  next_attempt_at INTEGER NOT NULL, claimed_at INTEGER,"                                                      \
	"  remote_id TEXT, error TEXT,"                                                                                \
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"                                                 \
	"CREATE INDEX outbox_due ON outbox(status, next_attempt_at);"

#endif
