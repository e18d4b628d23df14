/* metrics — the daemon's counters, gauges and one latency histogram, and
 * their Prometheus text exposition (GET /metrics).
 *
 * The families are one const table in metrics.c (name, type, help, label
 * names), addressed by enum metrics_id, so a misspelt metric is a compile
 * error and /metrics always lists every family, even before its first
 * event. A family has up to two labels; each distinct label-value pair is
 * a series, created on first use. Label values are escaped when rendered,
 * so a platform name from the config cannot break the exposition.
 *
 * Owns every series and label copy; metrics_free() releases them. Not
 * thread-safe: everything runs on the loop thread.
 */
#ifndef AINEWS_METRICS_H
#define AINEWS_METRICS_H

#include <stddef.h>

#include "util.h"

enum metrics_id {
	METRICS_STORIES_INGESTED,  /* counter {via}: new or revised stories */
	METRICS_ALERTS_QUEUED,	   /* gauge {platform}: outbox rows waiting now */
	METRICS_ALERTS_SENT,	   /* counter {platform} */
	METRICS_ALERTS_FAILED,	   /* counter {platform, kind = "retry"|"permanent"} */
	METRICS_OUTBOX_DEPTH,	   /* gauge: queued + sending rows */
	METRICS_OUTBOX_OLDEST_AGE, /* gauge: seconds the oldest queued row has waited */
	METRICS_PLATFORM_UP,	   /* gauge {platform}: 1 ready, 0 otherwise */
	METRICS_RECONNECTS,	   /* counter {platform}: READY -> CONNECTING */
	METRICS_COMMAND_SECONDS,   /* histogram {platform} */
	METRICS_HTTP_REQUESTS,	   /* counter {route, code} */
	METRICS_N
};

/* Bucket upper bounds of the command latency histogram, in seconds. */
#define METRICS_NBUCKETS 12
extern const double metrics_buckets[METRICS_NBUCKETS];

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m); /* NULL is fine */

/* Counters: add v (>= 0) to the series with these label values (NULL for
 * a family's unused labels). m NULL is a no-op, so callers need no check. */
void metrics_add(struct metrics *m, int id, const char *l1, const char *l2, double v);
/* Gauges: set the series to v. */
void metrics_set(struct metrics *m, int id, const char *l1, const char *l2, double v);
/* Gauges: drop every series of a family (before re-setting the current ones,
 * so a platform that went away stops being reported). */
void metrics_clear(struct metrics *m, int id);
/* Histograms: record one observation. */
void metrics_observe(struct metrics *m, int id, const char *l1, double v);
/* The current value of a counter or gauge series (0 when absent); for
 * histograms the observation count. For tests. */
double metrics_get(const struct metrics *m, int id, const char *l1, const char *l2);

/* Append the text exposition format (version 0.0.4) to out. */
void metrics_render(const struct metrics *m, struct sbuf *out);

#endif
