/* bench_ingest — ingest throughput through the whole pipeline (classify,
 * decide, store, search index) for synthetic stories shaped like sample 001
 * (tests/t_corpus.h: the same fields and lengths, a growing vocabulary),
 * then search and command latency over the resulting store. Prints figures;
 * asserts nothing. BENCH_STORIES overrides the store size (default 100000).
 * Making the stories is not timed. Last, 20,000 stories into a fresh store
 * with a taxonomy that finds nothing (ingest.empty_taxonomy_*): the same
 * pipeline with no topics or entities to find, i.e. normalise, a trivial
 * automaton walk, store and search index — about what ingest was before
 * classification joined it.
 * The target is on one core: the process is pinned to the CPU it starts on
 * (sched_setaffinity: the writeback VFS's background sync thread, started
 * later, shares it); BENCH_ANY_CPU=1 leaves it free to use every CPU. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "commands.h"
#include "format.h"
#include "parse.h"
#include "search.h"
#include "store.h"
#include "t.h"
#include "topics.h"
#include "writeback.h"
#include "t_corpus.h"
#include "t_db.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Kernel time of the process so far (writes, fsyncs, page faults). */
static double sys_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Bytes this process has handed to write calls so far (/proc/self/io
 * wchar): the WAL, checkpoints, anything else; -1 when unknown. */
static double written_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	double v = -1;
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, "wchar: ", 7))
			v = atof(line + 7);
	if (f)
		fclose(f);
	return v;
}

/* Time the hypervisor gave this VM's CPUs to others, summed over all of
 * them (/proc/stat "steal", seconds); -1 when unknown. Wall time minus
 * CPU time in the figures includes it. */
static double steal_s(void)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[8] = {0};
	int n = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
			   &v[5], &v[6], &v[7])
		  : 0;
	if (f)
		fclose(f);
	long hz = sysconf(_SC_CLK_TCK);
	return n == 8 && hz > 0 ? (double)v[7] / (double)hz : -1;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void count_cb(void *ud, struct story *s)
{
	(void)s;
	(*(int *)ud)++;
}

static void pct(const char *name, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	printf("%s_p50_ms %.3f\n%s_p99_ms %.3f\n", name, v[n / 2] * 1e3, name, v[(int)(n * 0.99)] * 1e3);
}

/* Times of an ingest run: all of it, and its first `first` stories. */
struct ingest_times {
	double busy, busy_cpu, mark, mark_cpu;
	double mark_sys; /* kernel time of the first stories, making them included */
	double mark_written, written; /* bytes written for the first stories, for all */
	double mark_steal, mark_elapsed; /* steal time while the first stories went in (made ones
					  * included), and the wall time of that */
	double max_commit; /* the longest batch commit (search flush and merges) */
};

/* Put `total` stories made from tpl as `ainews ingest` does (batches);
 * only app_put_story() and the batch commits are timed. */
static int ingest_run(struct app *a, struct t_corpus *corpus, const struct story *tpl, int total, int first,
		      struct ingest_times *t)
{
	char *err = NULL;
	struct story s;
	story_init(&s);
	*t = (struct ingest_times){0};
	double b0 = now_s(), bc0 = cpu_s(), sys0 = sys_s(), w0 = written_bytes(), st0 = steal_s();
	/* The daemon's store (its cache, checkpoints, merges in steps) in
	 * batches of 256, as earlier figures were; else `ainews ingest`'s. */
	int batch = APP_BATCH_STORIES;
	if (getenv("BENCH_MERGE_BUDGET")) {
		store_merge_budget(a->store, atoll(getenv("BENCH_MERGE_BUDGET")));
		batch = 256;
	} else {
		store_bulk(a->store);
	}
	app_batch_begin(a);
	t->busy += now_s() - b0, t->busy_cpu += cpu_s() - bc0;
	for (int i = 0; i < total; i++) {
		t_corpus_story(corpus, tpl, i, &s);
		/* The CPU clock is a system call (~0.35 us): read outside the
		 * wall-clock window, which then holds none of it. */
		double c0 = cpu_s(), t0 = now_s();
		struct app_put_info info;
		if (app_put_story(a, &s, 0, &info, &err)) {
			fprintf(stderr, "put: %s\n", err);
			free(err);
			story_free(&s);
			return -1;
		}
		if (a->batch_n >= batch || i + 1 == total) { /* by count only: deterministic under valgrind */
			double k0 = now_s();
			app_batch_commit(a);
			if (i + 1 == total && store_bulk_end(a->store)) /* held search segments written */
				fprintf(stderr, "bulk end: %s\n", store_errmsg(a->store));
			double took = now_s() - k0;
			if (took > t->max_commit)
				t->max_commit = took;
			if (i + 1 < total)
				app_batch_begin(a);
		}
		t->busy += now_s() - t0, t->busy_cpu += cpu_s() - c0; /* (in this order) */
		if (i + 1 == first) {
			t->mark = t->busy, t->mark_cpu = t->busy_cpu, t->mark_sys = sys_s() - sys0;
			t->mark_written = written_bytes() - w0;
			t->mark_steal = st0 < 0 ? -1 : steal_s() - st0;
			t->mark_elapsed = now_s() - b0;
		}
	}
	t->written = written_bytes() - w0;
	story_free(&s);
	return 0;
}

/* The stages of putting a story, each on its own: the best of 300 rounds
 * over 16 made stories, per story. In the pipeline each costs more (its
 * code and data meet caches and predictors that the stages between left
 * cold, and the host's load comes and goes); these figures move with the
 * code and little with the VM's minute, so they compare builds across
 * days where the whole-pipeline figures cannot. */
static void stage_figures(struct app *a, struct t_corpus *corpus, const struct story *tpl)
{
	enum { G = 16, ROUNDS = 300 };
	struct story v[G];
	char *norm[G][TOPICS_NFIELDS];
	size_t nlen[G][TOPICS_NFIELDS];
	for (int i = 0; i < G; i++) {
		story_init(&v[i]);
		t_corpus_story(corpus, tpl, 900000 + i, &v[i]);
		struct topics_result r;
		topics_classify_keep(a->topics, &v[i], &r, norm[i], nlen[i]);
		topics_result_free(&r);
	}
	struct search *idx = search_new(NULL);
	int64_t doc = 1;
	double best[4] = {1e9, 1e9, 1e9, 1e9}, sum[4] = {0};
	volatile uint64_t sink = 0;
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = cpu_s();
		for (int i = 0; i < G; i++) {
			struct topics_result r;
			char *n2[TOPICS_NFIELDS];
			size_t l2[TOPICS_NFIELDS];
			topics_classify_keep(a->topics, &v[i], &r, n2, l2);
			topics_result_free(&r);
			for (int f = 0; f < TOPICS_NFIELDS; f++)
				free(n2[f]);
		}
		double t1 = cpu_s();
		for (int i = 0; i < G; i++) {
			search_add(idx, doc++, (const char *const *)norm[i], nlen[i], STORY_NTEXT);
			if (search_pending(idx) >= 500)
				search_discard(idx);
		}
		double t2 = cpu_s();
		for (int i = 0; i < G; i++)
			free(story_to_json(&v[i], NULL, 0));
		double t3 = cpu_s();
		for (int i = 0; i < G; i++)
			sink += story_fingerprint(&v[i]);
		double t4 = cpu_s(), d[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
		for (int k = 0; k < 4; k++) {
			if (d[k] < best[k])
				best[k] = d[k];
			sum[k] += d[k];
		}
	}
	(void)sink;
	printf("stage.classify_best_us %.1f\n", best[0] / G * 1e6);
	printf("stage.search_add_best_us %.1f\n", best[1] / G * 1e6);
	printf("stage.json_best_us %.1f\n", best[2] / G * 1e6);
	printf("stage.fingerprint_best_us %.1f\n", best[3] / G * 1e6);
	/* the mean of the same rounds: how much the host's minute adds */
	const char *name[4] = {"classify", "search_add", "json", "fingerprint"};
	for (int k = 0; k < 4; k++)
		printf("stage.%s_mean_us %.1f\n", name[k], sum[k] / ROUNDS / G * 1e6);
	search_free(idx);
	for (int i = 0; i < G; i++) {
		for (int f = 0; f < TOPICS_NFIELDS; f++)
			free(norm[i][f]);
		story_free(&v[i]);
	}
}

/* 20,000 stories into a fresh store with a taxonomy that finds nothing. */
static void ingest_empty_taxonomy(struct t_corpus *corpus, const struct story *tpl, int total)
{
	char db[64];
	struct app a;
	char *err = NULL;
	if (t_db_path(db, sizeof db, "bench-notax") || app_open(&a, NULL, db, &err)) {
		fprintf(stderr, "empty taxonomy: %s\n", err ? err : "no database");
		free(err);
		return;
	}
	/* a taxonomy may not be empty: one topic and one entity whose words
	 * never occur */
	static const char no_topics[] =
		"{\"topics\": [{\"id\": \"none\", \"name_en\": \"None\", \"name_zh\": \"无\", \"keywords\": [\"zzqxv\"]}],"
		" \"entities\": [{\"id\": \"nobody\", \"name_en\": \"Nobody\", \"name_zh\": \"无人\", \"aliases\": [\"qqzxv\"]}]}";
	struct topics *empty = topics_load_text(no_topics, sizeof no_topics - 1, "empty", a.norm, &err);
	if (!empty) {
		fprintf(stderr, "empty taxonomy: %s\n", err);
		free(err);
		app_close(&a);
		return;
	}
	struct topics *full = a.topics;
	a.topics = empty;
	int n = total < 20000 ? total : 20000;
	struct ingest_times t;
	if (ingest_run(&a, corpus, tpl, n, n, &t) == 0) {
		printf("ingest.empty_taxonomy_stories %d\n", n);
		printf("ingest.empty_taxonomy_stories_per_s %.0f\n", n / t.busy);
		printf("ingest.empty_taxonomy_cpu_us_per_story %.1f\n", t.busy_cpu / n * 1e6);
	}
	a.topics = full;
	topics_free(empty);
	app_close(&a);
	t_db_remove(db);
}

/* One command, as a platform runs it; returns its wall time in seconds. */
static double run_command(struct app *a, const char *text)
{
	double s0 = now_s();
	struct commands_ctx ctx = {a, "console", "U1", "C1", NULL};
	struct commands_reply reply;
	char *out = NULL, *json = NULL;
	commands_run(&ctx, text, &reply);
	commands_render(a, &reply, FORMAT_SLACK, &out, &json);
	commands_reply_fini(&reply);
	free(out);
	free(json);
	return now_s() - s0;
}

int main(void)
{
	int total = getenv("BENCH_STORIES") ? atoi(getenv("BENCH_STORIES")) : 100000;
	int cpu = -1;
	if (!getenv("BENCH_ANY_CPU")) {
		cpu_set_t one;
		CPU_ZERO(&one);
		cpu = sched_getcpu();
		if (cpu >= 0)
			CPU_SET(cpu, &one);
		if (cpu < 0 || sched_setaffinity(0, sizeof one, &one))
			cpu = -1;
	}
	printf("bench.pinned_cpu %d\n", cpu); /* -1: free to use every CPU */
	char db[64];
	if (t_db_path(db, sizeof db, "bench"))
		return 1;
	struct app a;
	char *err = NULL;
	if (app_open(&a, NULL, db, &err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	char *text;
	size_t len;
	if (file_read(t_sample("001"), 1 << 20, &text, &len)) {
		fprintf(stderr, "no sample\n");
		return 1;
	}
	struct story tpl;
	story_init(&tpl);
	parse_page(text, len, 1795300000, &tpl, &err);
	printf("ingest.story_bytes %zu\n", len);
	/* Parsing the export is not in the loop below (stories are made from
	 * the parsed template); its cost per story, for the record: */
	double p0 = cpu_s();
	for (int i = 0; i < 2000; i++) {
		struct story ps;
		story_init(&ps);
		parse_page(text, len, 1795300000, &ps, &err);
		story_free(&ps);
	}
	printf("parse.cpu_us_per_story %.1f\n", (cpu_s() - p0) / 2000 * 1e6);
	const char *texts[] = {text, NULL};
	char *text0 = NULL;
	size_t len0 = 0;
	if (file_read(t_sample("000"), 1 << 20, &text0, &len0) == 0)
		texts[1] = text0;
	struct t_corpus corpus;
	t_corpus_init(&corpus, texts, texts[1] ? 2 : 1);

	if (!getenv("BENCH_NO_STAGES"))
		stage_figures(&a, &corpus, &tpl);
	int first = total < 20000 ? total : 20000;
	struct ingest_times it;
	if (ingest_run(&a, &corpus, &tpl, total, first, &it))
		return 1;
	double mark = it.mark, mark_cpu = it.mark_cpu, busy = it.busy, busy_cpu = it.busy_cpu;
	printf("ingest.stories %d\n", first);
	printf("ingest.stories_per_s %.0f\n", first / mark);
	printf("ingest.cpu_us_per_story %.1f\n", mark_cpu / first * 1e6);
	/* the same per second of CPU: without steal and sync waits */
	printf("ingest.stories_per_cpu_s %.0f\n", first / mark_cpu);
	printf("ingest.kernel_us_per_story %.1f\n", it.mark_sys / first * 1e6);
	/* wall time not spent on the CPU: sync waits and the host's steal
	 * (the CPU time is the process's: the writeback VFS's background
	 * syncs are in it, so with nothing to wait for this is below 0) */
	printf("ingest.wait_us_per_story %.1f\n", (mark - mark_cpu) / first * 1e6);
	if (it.mark_steal >= 0) /* all CPUs' steal over that wall time, per CPU: a noisy host shows here */
		printf("host.steal_pct %.1f\n", 100 * it.mark_steal / (it.mark_elapsed > 0 ? it.mark_elapsed : 1) /
						 (double)sysconf(_SC_NPROCESSORS_ONLN));
	printf("ingest.written_kb_per_story %.1f\n", it.mark_written / first / 1024);
	printf("ingest.mb_per_s %.1f\n", first * (double)len / mark / 1e6);
	printf("ingest.all_stories %d\n", total);
	printf("ingest.all_stories_per_s %.0f\n", total / busy);
	printf("ingest.all_cpu_us_per_story %.1f\n", busy_cpu / total * 1e6);
	printf("ingest.max_commit_ms %.1f\n", it.max_commit * 1e3);
	printf("ingest.all_written_kb_per_story %.1f\n", it.written / total / 1024);
	printf("ingest.background_syncs %lld\n", writeback_background_syncs());
	int64_t segs = 0, sbytes = 0;
	store_search_stats(a.store, &segs, &sbytes);
	printf("search.index_segments %lld\n", (long long)segs);
	printf("search.index_bytes_per_story %.0f\n", (double)sbytes / total);
	printf("store.stories %d\n", total);
	if (getenv("BENCH_INGEST_ONLY")) { /* for A/B runs of ingest alone */
		if (getenv("BENCH_EMPTY_TAXONOMY"))
			ingest_empty_taxonomy(&corpus, &tpl, total);
		t_corpus_free(&corpus);
		free(text0);
		app_close(&a);
		free(text);
		story_free(&tpl);
		t_db_remove(db);
		return 0;
	}

	const char *queries[] = {"算力", "人才", "nvidia", "data center", "数据中心", "meta crusoe", "資料中心",
				 "transformer", "监管", "b-0004242", "gigawatts", "算"};
	int nq = (int)(sizeof queries / sizeof *queries), rounds = 20, n = 0;
	double *lat = xcalloc((size_t)(nq * rounds), sizeof *lat);
	for (int r = 0; r < rounds; r++)
		for (int q = 0; q < nq; q++) {
			double s0 = now_s();
			char *norm = app_normalise(&a, queries[q]);
			int hits = 0;
			store_search(a.store, norm, 20, count_cb, &hits);
			free(norm);
			lat[n++] = now_s() - s0;
		}
	pct("search.latency", lat, n);
	/* per query: the worst of its rounds */
	for (int q = 0; q < nq; q++) {
		double worst = 0;
		for (int r = 0; r < rounds; r++) {
			double s0 = now_s();
			char *norm = app_normalise(&a, queries[q]);
			int hits = 0;
			store_search(a.store, norm, 20, count_cb, &hits);
			free(norm);
			double d = now_s() - s0;
			if (d > worst)
				worst = d;
		}
		printf("search[%s]_max_ms %.3f\n", queries[q], worst * 1e3);
	}

	/* Commands as a platform runs them: parse, query, render for Slack. */
	const char *cmds[] = {"compute", "search 数据中心", "nvidia", "top 7d", "算力"};
	double c1 = cpu_s();
	n = 0;
	for (int r = 0; r < 40; r++)
		for (int q = 0; q < 5; q++)
			lat[n++] = run_command(&a, cmds[q]);
	printf("command.cpu_ms_avg %.3f\n", (cpu_s() - c1) / n * 1e3);
	pct("command.latency", lat, n);
	for (int q = 0; q < 5; q++) {
		for (n = 0; n < 40; n++)
			lat[n] = run_command(&a, cmds[q]);
		char name[64];
		snprintf(name, sizeof name, "command[%s]", cmds[q]);
		pct(name, lat, n);
	}
	free(lat);
	app_close(&a);
	ingest_empty_taxonomy(&corpus, &tpl, total);
	t_corpus_free(&corpus);
	free(text0);
	free(text);
	story_free(&tpl);
	if (getenv("BENCH_KEEP")) /* look at the store afterwards */
		printf("bench.db %s\n", db);
	else
		t_db_remove(db);
	return 0;
}
