/* ingest — turning raw inputs (files, directories, stdin, webhook bodies)
 * into stories and through the pipeline.
 *
 * Owns input validation: size cap, empty input, binary data, invalid UTF-8,
 * and format detection from the content. Each bad input yields one report
 * naming where it is wrong; good inputs next to it are still stored.
 */
#ifndef AINEWS_INGEST_H
#define AINEWS_INGEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "app.h"

#define INGEST_MAX_BYTES (16u << 20) /* per input; larger ones are rejected */

struct ingest_report {
	const char *name;  /* file path, "-" or "request" */
	const char *where; /* "line 3", "$[2]" ... or NULL */
	const char *id;    /* story id when one was stored */
	int ok;            /* 1 stored/unchanged, 0 rejected */
	const char *msg;   /* error text when !ok */
	const struct app_put_info *info; /* when ok */
};
typedef void (*ingest_cb)(void *ud, const struct ingest_report *r);

/* Empty, binary (NUL bytes) or invalid UTF-8 input: an owned message
 * ("line 3: invalid UTF-8 at byte offset 41"), or NULL when the text is fine. */
char *ingest_check(const char *data, size_t len);

/* An error of element "[2]" of a JSON array, "$.scores.hot: what", reads
 * best as one path: "$[2].scores.hot: what" (owned). NULL when where is
 * not an array index (JSON Lines "line 3", a single object). */
char *ingest_json_path_error(const char *where, const char *err);

/* Ingest one buffer. ref_time resolves relative times ("2h ago"). Returns
 * the number of rejected items, or negative on a store failure. */
int ingest_buffer(struct app *a, const char *name, const char *data, size_t len, int64_t ref_time, int no_alerts,
		  ingest_cb cb, void *ud);

/* Ingest one file (mtime is the reference time). Returns as ingest_buffer. */
int ingest_file(struct app *a, const char *path, int no_alerts, ingest_cb cb, void *ud);

/* Files, directories (recursively, sorted, dotfiles skipped) and "-" for
 * stdin. Prints one result line per story to out and one error line per
 * rejected input to err. Returns 0 all good, 1 some input rejected,
 * 2 fatal store error. */
int ingest_paths(struct app *a, char *const *paths, int n, int no_alerts, FILE *out, FILE *err);

#endif
