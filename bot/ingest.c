/* ingest — input validation, format detection and dispatch to the parsers. */
#define _GNU_SOURCE
#include "ingest.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parse.h"
#include "store.h"
#include "story.h"

static void report_err(ingest_cb cb, void *ud, const char *name, const char *where, const char *msg)
{
	struct ingest_report r = {name, where, NULL, 0, msg, NULL};
	cb(ud, &r);
}

static int line_at(const char *data, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off; i++)
		line += data[i] == '\n';
	return line;
}

char *ingest_check(const char *data, size_t len)
{
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i == len)
		return xstrdup(len ? "line 1: only whitespace, no story" : "empty input, no story");
	const char *nul = memchr(data, 0, len);
	if (nul)
		return xasprintf("line %d: binary data (NUL byte at offset %zu), not a story", line_at(data, (size_t)(nul - data)),
				 (size_t)(nul - data));
	size_t bad;
	if (!utf8_valid(data, len, &bad))
		return xasprintf("line %d: invalid UTF-8 at byte offset %zu", line_at(data, bad), bad);
	return NULL;
}

struct json_ctx {
	struct app *a;
	const char *name;
	int no_alerts;
	ingest_cb cb;
	void *ud;
	int rejected;
	int fatal;
};

static void put_one(struct json_ctx *c, struct story *s, const char *where)
{
	struct app_put_info info;
	char *err = NULL;
	if (app_put_story(c->a, s, c->no_alerts, &info, &err)) {
		c->fatal = 1;
		c->rejected++;
		report_err(c->cb, c->ud, c->name, where, err);
		free(err);
		return;
	}
	struct ingest_report r = {c->name, where, s->id, 1, NULL, &info};
	c->cb(c->ud, &r);
}

char *ingest_json_path_error(const char *where, const char *err)
{
	return where && where[0] == '[' && err[0] == '$' ? xasprintf("$%s%s", where, err + 1) : NULL;
}

static void json_cb(void *ud, struct story *s, const char *where, const char *err)
{
	struct json_ctx *c = ud;
	if (!s) {
		c->rejected++;
		char *m = ingest_json_path_error(where, err);
		report_err(c->cb, c->ud, c->name, m ? NULL : where, m ? m : err);
		free(m);
		return;
	}
	put_one(c, s, where);
}

int ingest_buffer(struct app *a, const char *name, const char *data, size_t len, int64_t ref_time, int no_alerts,
		  ingest_cb cb, void *ud)
{
	if (len > INGEST_MAX_BYTES) {
		char *m = xasprintf("input too large (%zu bytes; the limit is %u MB)", len, INGEST_MAX_BYTES >> 20);
		report_err(cb, ud, name, NULL, m);
		free(m);
		return 1;
	}
	char *bad = ingest_check(data, len);
	if (bad) {
		report_err(cb, ud, name, NULL, bad);
		free(bad);
		return 1;
	}
	struct json_ctx c = {a, name, no_alerts, cb, ud, 0, 0};
	enum parse_format f = parse_detect(data, len);
	if (f == PARSE_JSON) {
		char *err = NULL;
		int rej = story_from_json_text(data, len, json_cb, &c, &err);
		if (rej < 0) {
			report_err(cb, ud, name, NULL, err);
			free(err);
			return 1;
		}
		return c.fatal ? -1 : c.rejected;
	}
	struct story s;
	story_init(&s);
	char *err = NULL;
	int rc = f == PARSE_PAGE ? parse_page(data, len, ref_time, &s, &err)
	       : f == PARSE_ARTICLE ? parse_article(data, len, ref_time, &s, &err)
				     : (err = xstrdup("line 1: no story found"), -1);
	if (rc) {
		report_err(cb, ud, name, NULL, err ? err : "cannot parse");
		free(err);
		story_free(&s);
		return 1;
	}
	put_one(&c, &s, NULL);
	story_free(&s);
	return c.fatal ? -1 : c.rejected;
}

int ingest_file(struct app *a, const char *path, int no_alerts, ingest_cb cb, void *ud)
{
	struct stat sb;
	if (stat(path, &sb)) {
		char *m = xasprintf("cannot read: %s", strerror(errno));
		report_err(cb, ud, path, NULL, m);
		free(m);
		return 1;
	}
	if ((size_t)sb.st_size > INGEST_MAX_BYTES) {
		char *m = xasprintf("file too large (%lld bytes; the limit is %u MB)", (long long)sb.st_size,
				    INGEST_MAX_BYTES >> 20);
		report_err(cb, ud, path, NULL, m);
		free(m);
		return 1;
	}
	char *data;
	size_t len;
	int rc = file_read(path, INGEST_MAX_BYTES, &data, &len);
	if (rc) {
		char *m = rc == -2 ? xasprintf("file too large (the limit is %u MB)", INGEST_MAX_BYTES >> 20)
				   : xasprintf("cannot read: %s", strerror(errno));
		report_err(cb, ud, path, NULL, m);
		free(m);
		return 1;
	}
	rc = ingest_buffer(a, path, data, len, (int64_t)sb.st_mtime, no_alerts, cb, ud);
	free(data);
	return rc;
}

/* ---- the CLI front ------------------------------------------------------------ */

struct cli_ctx {
	struct app *a;
	FILE *out, *err;
	int rejected, fatal;
	struct sbuf pending; /* result lines of the uncommitted batch */
};

/* Commit the batch; only then are its "stored" lines true. */
static void cli_commit(struct cli_ctx *c, int again)
{
	if (app_batch_commit(c->a)) {
		fprintf(c->err, "ainews: store: cannot commit: %s (the last %d stories were not stored)\n",
			store_errmsg(c->a->store), c->a->batch_n);
		c->fatal = 1;
	} else if (c->pending.len) {
		fputs(c->pending.s, c->out);
		fflush(c->out);
	}
	sbuf_reset(&c->pending);
	if (again && !c->fatal && app_batch_begin(c->a))
		c->fatal = 1;
}

static void cli_cb(void *ud, const struct ingest_report *r)
{
	struct cli_ctx *c = ud;
	char where[80] = "";
	if (r->where)
		snprintf(where, sizeof where, "%s: ", r->where);
	if (!r->ok) {
		fprintf(c->err, "%s: %s%s\n", r->name, where, r->msg);
		return;
	}
	const struct app_put_info *i = r->info;
	if (i->result == APP_PUT_UNCHANGED)
		sbuf_addf(&c->pending, "%s: %s%s unchanged (revision %d)\n", r->name, where, r->id, i->revision);
	else if (i->result == APP_PUT_NEW)
		sbuf_addf(&c->pending, "%s: %s%s stored (revision 1, %d alert%s queued)\n", r->name, where, r->id,
			  i->alerts, i->alerts == 1 ? "" : "s");
	else
		sbuf_addf(&c->pending, "%s: %s%s revision %d (changed: %s; %d alert%s, %d update%s queued)\n", r->name,
			  where, r->id, i->revision, i->changed, i->alerts, i->alerts == 1 ? "" : "s", i->updates,
			  i->updates == 1 ? "" : "s");
	if (app_batch_due(c->a))
		cli_commit(c, 1);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void ingest_any(struct app *a, const char *path, int no_alerts, struct cli_ctx *c, int depth)
{
	struct stat sb;
	if (!strcmp(path, "-")) {
		char buf[65536];
		struct sbuf b = {0};
		size_t n;
		int too_big = 0;
		while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
			if (b.len + n > INGEST_MAX_BYTES) {
				too_big = 1;
				break;
			}
			sbuf_add(&b, buf, n);
		}
		if (too_big) {
			fprintf(c->err, "-: input too large (the limit is %u MB)\n", INGEST_MAX_BYTES >> 20);
			c->rejected++;
		} else {
			int rc = ingest_buffer(a, "-", b.s ? b.s : "", b.len, app_now(a), no_alerts, cli_cb, c);
			if (rc < 0)
				c->fatal = 1;
			else
				c->rejected += rc;
		}
		sbuf_free(&b);
		return;
	}
	if (stat(path, &sb)) {
		fprintf(c->err, "%s: cannot read: %s\n", path, strerror(errno));
		c->rejected++;
		return;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (depth > 16) {
			fprintf(c->err, "%s: directories nested too deep\n", path);
			c->rejected++;
			return;
		}
		DIR *d = opendir(path);
		if (!d) {
			fprintf(c->err, "%s: cannot open directory: %s\n", path, strerror(errno));
			c->rejected++;
			return;
		}
		struct strv names = {0};
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				strv_push(&names, e->d_name);
		closedir(d);
		qsort(names.v, names.n, sizeof *names.v, cmp_str);
		for (size_t i = 0; i < names.n && !c->fatal; i++) {
			char *p = xasprintf("%s/%s", path, names.v[i]);
			ingest_any(a, p, no_alerts, c, depth + 1);
			free(p);
		}
		strv_free(&names);
		return;
	}
	if (!S_ISREG(sb.st_mode)) {
		fprintf(c->err, "%s: not a regular file\n", path);
		c->rejected++;
		return;
	}
	int rc = ingest_file(a, path, no_alerts, cli_cb, c);
	if (rc < 0)
		c->fatal = 1;
	else
		c->rejected += rc;
}

int ingest_paths(struct app *a, char *const *paths, int n, int no_alerts, FILE *out, FILE *err)
{
	struct cli_ctx c = {a, out, err, 0, 0, {0}};
	store_bulk(a->store); /* a one-shot command: cache and WAL for throughput */
	if (app_batch_begin(a)) {
		fprintf(err, "ainews: store: %s\n", store_errmsg(a->store));
		return 2;
	}
	for (int i = 0; i < n && !c.fatal; i++)
		ingest_any(a, paths[i], no_alerts, &c, 0);
	cli_commit(&c, 0);
	/* the search index's held segments (store_bulk()) */
	if (store_bulk_end(a->store)) {
		fprintf(err, "ainews: store: %s\n", store_errmsg(a->store));
		c.fatal = 1;
	}
	sbuf_free(&c.pending);
	return c.fatal ? 2 : c.rejected ? 1 : 0;
}
