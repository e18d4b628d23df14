/* dir — a source plugin: story files dropped into a directory.
 *
 * Watches the directory with inotify (a file counts once it is closed after
 * writing or moved in, so half-written files are never read) and rescans on
 * a timer for anything missed. A stored file moves to .done/, a rejected
 * one to .rejected/ (its good stories are kept); on a store failure it stays
 * where it is and is retried. Dotfiles and names ending .tmp or .part are ignored.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "util.h"

struct dirsrc {
	struct source_services svc;
	char *path;
	int ifd;
	struct loop_watch *watch;
};

static int ignored(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || (n > 4 && !strcmp(name + n - 4, ".tmp")) ||
	       (n > 5 && !strcmp(name + n - 5, ".part")) || name[n - 1] == '~';
}

static void mkdirs(const char *path)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			mkdir(p, 0755);
			*s = '/';
		}
	mkdir(p, 0755);
	free(p);
}

static void move_to(struct dirsrc *d, const char *name, const char *sub)
{
	char *from = xasprintf("%s/%s", d->path, name);
	char *to = xasprintf("%s/%s/%s", d->path, sub, name);
	struct stat sb;
	if (stat(to, &sb) == 0) { /* keep both */
		free(to);
		to = xasprintf("%s/%s/%lld-%s", d->path, sub, (long long)time(NULL), name);
	}
	if (rename(from, to))
		log_warn("dir %s: cannot move %s to %s/: %s", d->path, name, sub, strerror(errno));
	free(from);
	free(to);
}

static void process(struct dirsrc *d, const char *name)
{
	if (ignored(name))
		return;
	char *path = xasprintf("%s/%s", d->path, name);
	struct stat sb;
	int regular = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
	int rc = regular ? d->svc.ingest_file(d->svc.core, path) : 0;
	free(path);
	if (!regular)
		return;
	if (rc < 0)
		log_warn("dir %s: %s kept for a retry (store unavailable)", d->path, name);
	else
		move_to(d, name, rc == 0 ? ".done" : ".rejected");
}

static int dir_poll(void *self)
{
	struct dirsrc *d = self;
	DIR *dir = opendir(d->path);
	if (!dir)
		return -1;
	struct strv names = {0};
	struct dirent *e;
	while ((e = readdir(dir)))
		if (!ignored(e->d_name))
			strv_push(&names, e->d_name);
	closedir(dir);
	for (size_t i = 0; i < names.n; i++)
		process(d, names.v[i]);
	strv_free(&names);
	return 0;
}

static void on_events(void *ud, int fd)
{
	struct dirsrc *d = ud;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
				process(d, ev->name);
			if (ev->mask & IN_Q_OVERFLOW)
				dir_poll(d);
			p += sizeof *ev + ev->len;
		}
	}
}

static void *dir_create(const struct source_services *svc, const struct config_source *cfg, char **err)
{
	struct dirsrc *d = xcalloc(1, sizeof *d);
	d->svc = *svc;
	d->path = xstrdup(cfg->path);
	d->ifd = -1;
	mkdirs(d->path);
	char *sub = xasprintf("%s/.done", d->path);
	mkdir(sub, 0755);
	free(sub);
	sub = xasprintf("%s/.rejected", d->path);
	mkdir(sub, 0755);
	free(sub);
	d->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (d->ifd < 0 || inotify_add_watch(d->ifd, d->path, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		*err = xasprintf("%s: cannot watch: %s", d->path, strerror(errno));
		if (d->ifd >= 0)
			close(d->ifd);
		free(d->path);
		free(d);
		return NULL;
	}
	return d;
}

static int dir_start(void *self)
{
	struct dirsrc *d = self;
	d->watch = loop_watch_fd(d->svc.loop, d->ifd, on_events, d);
	log_info("dir source: watching %s", d->path);
	dir_poll(d); /* files dropped while we were down */
	return d->watch ? 0 : -1;
}

static void dir_stop(void *self)
{
	struct dirsrc *d = self;
	loop_unwatch(d->watch);
	d->watch = NULL;
}

static void dir_destroy(void *self)
{
	struct dirsrc *d = self;
	if (!d)
		return;
	if (d->ifd >= 0)
		close(d->ifd);
	free(d->path);
	free(d);
}

const struct source_ops dir_source = {
	.type = "dir",
	.create = dir_create,
	.start = dir_start,
	.poll = dir_poll,
	.stop = dir_stop,
	.destroy = dir_destroy,
};
