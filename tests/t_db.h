/* t_db.h — temporary SQLite database files for tests and benchmarks.
 *
 * Include after defining _GNU_SOURCE (mkstemp). t_db_path() creates an
 * empty file with a unique name; t_db_remove() deletes it with the WAL and
 * shared-memory files SQLite leaves beside it.
 */
#ifndef AINEWS_T_DB_H
#define AINEWS_T_DB_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
}

#endif
