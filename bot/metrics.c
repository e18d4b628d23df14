/* metrics — counters, gauges and a histogram with Prometheus text output.
 *
 * The family table below is the whole metric vocabulary of the bot. Series
 * live in a small array per family and are found by linear search: there
 * are a handful per family (one per platform, one per route and status),
 * and a strcmp or two costs less than any hash would.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_COUNTER, M_GAUGE, M_HISTOGRAM };

struct family {
	const char *name;
	int type;
	const char *help;
	const char *label[2]; /* label names, NULL when unused */
};

/* One family per entry reads better than the formatter's packing. */
/* clang-format off */
static const struct family families[METRICS_N] = {
	[METRICS_STORIES_INGESTED] = {"ainews_stories_ingested_total", M_COUNTER,
		"Stories stored as new or revised, by way in (source or webhook).", {"via", NULL}},
	[METRICS_ALERTS_QUEUED] = {"ainews_alerts_queued", M_GAUGE,
		"Outbox rows (alerts and updates) waiting for delivery, per platform.", {"platform", NULL}},
	[METRICS_ALERTS_SENT] = {"ainews_alerts_sent_total", M_COUNTER,
		"Alerts and updates delivered, per platform.", {"platform", NULL}},
	[METRICS_ALERTS_FAILED] = {"ainews_alerts_failed_total", M_COUNTER,
		"Failed deliveries per platform: kind=retry will be tried again, kind=permanent will not.",
		{"platform", "kind"}},
	[METRICS_OUTBOX_DEPTH] = {"ainews_outbox_depth", M_GAUGE,
		"Outbox rows queued or being sent.", {NULL, NULL}},
	[METRICS_OUTBOX_OLDEST_AGE] = {"ainews_outbox_oldest_age_seconds", M_GAUGE,
		"Age of the oldest queued outbox row (0 when the queue is empty).", {NULL, NULL}},
	[METRICS_PLATFORM_UP] = {"ainews_platform_up", M_GAUGE,
		"1 when the platform connection is ready.", {"platform", NULL}},
	[METRICS_RECONNECTS] = {"ainews_websocket_reconnects_total", M_COUNTER,
		"Times a platform went from ready back to connecting.", {"platform", NULL}},
	[METRICS_COMMAND_SECONDS] = {"ainews_command_duration_seconds", M_HISTOGRAM,
		"Time to run and render one slash command, per platform.", {"platform", NULL}},
	[METRICS_HTTP_REQUESTS] = {"ainews_http_requests_total", M_COUNTER,
		"HTTP requests served, by route and status code.", {"route", "code"}},
};

const double metrics_buckets[METRICS_NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};
/* clang-format on */

struct series {
	char *l1, *l2;
	double value;			 /* counter/gauge; histogram: sum */
	double count;			 /* histogram observations */
	double bucket[METRICS_NBUCKETS]; /* histogram, non-cumulative */
};

struct metrics {
	struct {
		struct series *v;
		size_t n, cap;
	} fam[METRICS_N];
};

struct metrics *metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

static void series_fini(struct series *s)
{
	free(s->l1);
	free(s->l2);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (int i = 0; i < METRICS_N; i++) {
		for (size_t j = 0; j < m->fam[i].n; j++)
			series_fini(&m->fam[i].v[j]);
		free(m->fam[i].v);
	}
	free(m);
}

static int same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static const struct series *find(const struct metrics *m, int id, const char *l1, const char *l2)
{
	if (!families[id].label[0])
		l1 = NULL;
	if (!families[id].label[1])
		l2 = NULL;
	for (size_t j = 0; j < m->fam[id].n; j++)
		if (same(m->fam[id].v[j].l1, l1) && same(m->fam[id].v[j].l2, l2))
			return &m->fam[id].v[j];
	return NULL;
}

static struct series *get(struct metrics *m, int id, const char *l1, const char *l2)
{
	struct series *s = (struct series *)find(m, id, l1, l2);
	if (s)
		return s;
	if (m->fam[id].n == m->fam[id].cap) {
		m->fam[id].cap = m->fam[id].cap ? 2 * m->fam[id].cap : 4;
		m->fam[id].v = xrealloc(m->fam[id].v, m->fam[id].cap * sizeof *m->fam[id].v);
	}
	s = &m->fam[id].v[m->fam[id].n++];
	memset(s, 0, sizeof *s);
	/* A family without a label ignores what the caller passed. */
	s->l1 = families[id].label[0] ? xstrdup(l1 ? l1 : "") : NULL;
	s->l2 = families[id].label[1] ? xstrdup(l2 ? l2 : "") : NULL;
	return s;
}

static int valid(const struct metrics *m, int id, int type)
{
	return m && id >= 0 && id < METRICS_N && families[id].type == type;
}

void metrics_add(struct metrics *m, int id, const char *l1, const char *l2, double v)
{
	if (valid(m, id, M_COUNTER) && v >= 0)
		get(m, id, l1 ? l1 : "", l2 ? l2 : "")->value += v;
}

void metrics_set(struct metrics *m, int id, const char *l1, const char *l2, double v)
{
	if (valid(m, id, M_GAUGE))
		get(m, id, l1 ? l1 : "", l2 ? l2 : "")->value = v;
}

void metrics_clear(struct metrics *m, int id)
{
	if (!m || id < 0 || id >= METRICS_N)
		return;
	for (size_t j = 0; j < m->fam[id].n; j++)
		series_fini(&m->fam[id].v[j]);
	m->fam[id].n = 0;
}

void metrics_observe(struct metrics *m, int id, const char *l1, double v)
{
	if (!valid(m, id, M_HISTOGRAM) || isnan(v))
		return;
	struct series *s = get(m, id, l1 ? l1 : "", "");
	s->value += v;
	s->count += 1;
	for (int b = 0; b < METRICS_NBUCKETS; b++)
		if (v <= metrics_buckets[b]) {
			s->bucket[b] += 1;
			break;
		}
}

double metrics_get(const struct metrics *m, int id, const char *l1, const char *l2)
{
	if (!m || id < 0 || id >= METRICS_N)
		return 0;
	const struct series *s = find(m, id, l1 ? l1 : "", l2 ? l2 : "");
	if (!s)
		return 0;
	return families[id].type == M_HISTOGRAM ? s->count : s->value;
}

/* ---- exposition -------------------------------------------------------------- */

/* Label values: backslash, double quote and newline escaped (format 0.0.4). */
static void add_label(struct sbuf *out, int *first, const char *name, const char *value)
{
	sbuf_adds(out, *first ? "{" : ",");
	*first = 0;
	sbuf_adds(out, name);
	sbuf_adds(out, "=\"");
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			sbuf_adds(out, "\\\\");
		else if (*p == '"')
			sbuf_adds(out, "\\\"");
		else if (*p == '\n')
			sbuf_adds(out, "\\n");
		else
			sbuf_addc(out, *p);
	}
	sbuf_addc(out, '"');
}

static void add_value(struct sbuf *out, double v)
{
	if (isinf(v))
		sbuf_adds(out, v > 0 ? " +Inf\n" : " -Inf\n");
	else if (v == floor(v) && fabs(v) < 1e15)
		sbuf_addf(out, " %lld\n", (long long)v);
	else
		sbuf_addf(out, " %.9g\n", v);
}

static void sample(struct sbuf *out, const char *name, const char *suffix, const struct family *f,
		   const struct series *s, const char *le, double v)
{
	sbuf_adds(out, name);
	sbuf_adds(out, suffix);
	int first = 1;
	if (f->label[0])
		add_label(out, &first, f->label[0], s->l1);
	if (f->label[1])
		add_label(out, &first, f->label[1], s->l2);
	if (le)
		add_label(out, &first, "le", le);
	if (!first)
		sbuf_addc(out, '}');
	add_value(out, v);
}

void metrics_render(const struct metrics *m, struct sbuf *out)
{
	static const char *const type_name[] = {"counter", "gauge", "histogram"};
	for (int i = 0; i < METRICS_N; i++) {
		const struct family *f = &families[i];
		sbuf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type_name[f->type]);
		/* An unlabelled family is one series that exists from the start. */
		struct series zero;
		memset(&zero, 0, sizeof zero);
		size_t n = m ? m->fam[i].n : 0;
		const struct series *v = m ? m->fam[i].v : NULL;
		if (!n && !f->label[0]) {
			v = &zero;
			n = 1;
		}
		for (size_t j = 0; j < n; j++) {
			const struct series *s = &v[j];
			if (f->type != M_HISTOGRAM) {
				sample(out, f->name, "", f, s, NULL, s->value);
				continue;
			}
			double cum = 0;
			for (int b = 0; b < METRICS_NBUCKETS; b++) {
				char le[32];
				snprintf(le, sizeof le, "%g", metrics_buckets[b]);
				cum += s->bucket[b];
				sample(out, f->name, "_bucket", f, s, le, cum);
			}
			sample(out, f->name, "_bucket", f, s, "+Inf", s->count);
			sample(out, f->name, "_sum", f, s, NULL, s->value);
			sample(out, f->name, "_count", f, s, NULL, s->count);
		}
	}
}
