/* daemon — plugins, sources and the outbox sender around one event loop. */
#define _GNU_SOURCE
#include "daemon.h"

#include <malloc.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "format.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "plugin.h"
#include "rest.h"
#include "store.h"
#include "topics.h"

#define SENDER_MAX_INFLIGHT 8  /* per platform */
#define SENDER_RECLAIM_S 120   /* a "sending" row older than this was abandoned */
#define STOP_GRACE_MS 3000     /* in-flight sends may finish within this */
#define SOURCE_POLL_MS 30000
#define RECENT_FAILURES 8      /* kept for /healthz */
#define DAEMON_MERGE_BUDGET 50000 /* search-index entries per merge step */

struct dplugin {
	struct daemon *d;
	const struct plugin_ops *ops;
	struct config_platform *cfg;
	void *self;
	int state;
	int inflight;
	int64_t state_since; /* Unix seconds, for /healthz */
	char *state_why;
	int was_ready; /* READY once: a later CONNECTING is a reconnect */
};

struct dsource {
	const struct source_ops *ops;
	void *self;
};

struct daemon {
	struct app *app;
	struct loop *loop;
	struct rest *rest;
	struct dplugin *plugins;
	size_t nplugins;
	struct dsource *sources;
	size_t nsources;
	struct loop_timer sender_timer, source_timer, grace_timer, trim_timer;
	int interval_ms;
	int kicked;           /* claim at the next tick whatever data_version says */
	int64_t data_version; /* of the store when we last claimed */
	int64_t last_claim_ms;
	int stopping;
	struct send_ctx *sends; /* in flight, for release at shutdown */
	struct delayed_reply *delayed;
	int reply_delay_ms;
	/* The web side: server, metrics and what /healthz reports. */
	struct http_server *http;
	struct metrics *metrics;
	int64_t last_ingest;
	struct web_health_platform *health_platforms;
	struct web_health_failure failures[RECENT_FAILURES]; /* ring; error owned */
	struct web_health_failure failures_view[RECENT_FAILURES]; /* newest first, borrowed */
	size_t nfailures, failure_next;
};

struct send_ctx {
	struct daemon *d;
	struct dplugin *p;
	int64_t outbox_id;
	int finished;
	struct send_ctx *next;
};

/* ---- rendering ------------------------------------------------------------- */

static int lang_code(const char *l)
{
	if (l && !strcmp(l, "en"))
		return FORMAT_EN;
	if (l && !strcmp(l, "zh"))
		return FORMAT_ZH;
	return FORMAT_BOTH;
}

int daemon_render_row(struct app *a, const struct store_outbox_row *row, int target, char **text, char **json)
{
	struct story s;
	story_init(&s);
	if (store_story_get(a->store, row->story_id, row->revision, &s) != 1) {
		story_free(&s);
		return -1;
	}
	char *pref = NULL;
	if (!row->lang && !strcmp(row->target_kind, "user"))
		pref = store_pref_get(a->store, row->platform, row->target);
	int lang = lang_code(row->lang ? row->lang : pref ? pref : a->cfg.default_lang);
	free(pref);
	const char **names = xcalloc(s.topics.n + 1, sizeof *names);
	for (size_t i = 0; i < s.topics.n; i++) {
		int idx = topics_find(a->topics, TOPICS_TOPIC, s.topics.v[i]);
		const struct topics_entry *e = idx >= 0 ? topics_get(a->topics, TOPICS_TOPIC, (size_t)idx) : NULL;
		names[i] = !e ? s.topics.v[i] : lang == FORMAT_ZH ? e->name_zh : e->name_en;
	}
	char *reason = NULL;
	if (!strcmp(row->kind, "update"))
		reason = xasprintf(lang == FORMAT_ZH ? "更新（第 %d 版）· %s" : "updated (revision %d) · %s", row->revision,
				   row->reason ? row->reason : "");
	struct format_card c;
	format_card_build(&c, &s, lang, names, a->cfg.public_url, reason ? reason : row->reason);
	int rc = format_render(&c, target, text, json);
	format_card_free(&c);
	free(reason);
	free(names);
	story_free(&s);
	/* Discord posts carry an array of embeds; the card renderer gives one. */
	if (rc == 0 && target == FORMAT_DISCORD && *json) {
		char *arr = xasprintf("[%s]", *json);
		free(*json);
		*json = arr;
	}
	return rc;
}

/* ---- the sender ---------------------------------------------------------------- */

static void sender_tick(void *ud);

/* Two seconds after the last burst of work (a command, stored stories,
 * sent alerts), give memory back: SQLite's unused cache pages and the
 * allocator's free space. An idle bot then holds what it needs to stay
 * up, not what its busiest second needed. */
#define TRIM_AFTER_MS 2000

static void trim(void *ud)
{
	struct daemon *d = ud;
	store_release_memory(d->app->store);
	malloc_trim(0);
}

static void activity(struct daemon *d)
{
	if (!d->stopping)
		loop_timer_start(d->loop, &d->trim_timer, TRIM_AFTER_MS, trim, d);
}

/* Metrics and the recent-failure ring behind /healthz. */
static void count_send(struct daemon *d, const struct send_ctx *sc, const struct plugin_result *r)
{
	const char *name = sc->p->cfg->name;
	if (r->status == PLUGIN_SENT) {
		metrics_add(d->metrics, METRICS_ALERTS_SENT, name, NULL, 1);
		return;
	}
	if (d->stopping && r->status == PLUGIN_RETRY)
		return; /* released, not failed */
	int permanent = r->status == PLUGIN_FAILED;
	metrics_add(d->metrics, METRICS_ALERTS_FAILED, name, permanent ? "permanent" : "retry", 1);
	struct web_health_failure *f = &d->failures[d->failure_next];
	free((char *)f->error);
	*f = (struct web_health_failure){app_now(d->app), name, sc->outbox_id, permanent,
					 xstrdup(r->error ? r->error : "?")};
	d->failure_next = (d->failure_next + 1) % RECENT_FAILURES;
	if (d->nfailures < RECENT_FAILURES)
		d->nfailures++;
}

static void send_done(void *ud, const struct plugin_result *r)
{
	struct send_ctx *sc = ud;
	struct daemon *d = sc->d;
	activity(d);
	struct store *st = d->app->store;
	int64_t now = app_now(d->app);
	sc->finished = 1;
	sc->p->inflight--;
	count_send(d, sc, r);
	if (r->status == PLUGIN_SENT) {
		if (store_outbox_sent(st, sc->outbox_id, r->remote_id, now))
			log_error("outbox %lld: cannot record delivery: %s", (long long)sc->outbox_id, store_errmsg(st));
		else
			log_debug("outbox %lld: sent to %s as %s", (long long)sc->outbox_id, sc->p->cfg->name,
				  r->remote_id ? r->remote_id : "-");
	} else if (d->stopping && r->status == PLUGIN_RETRY) {
		store_outbox_release(st, sc->outbox_id); /* stays queued, no attempt spent */
	} else {
		int permanent = r->status == PLUGIN_FAILED;
		log_warn("outbox %lld: %s on %s: %s", (long long)sc->outbox_id, permanent ? "failed" : "will retry",
			 sc->p->cfg->name, r->error ? r->error : "?");
		store_outbox_failed(st, sc->outbox_id, permanent, r->error, r->retry_after, now);
	}
	/* unlink */
	for (struct send_ctx **l = &d->sends; *l; l = &(*l)->next)
		if (*l == sc) {
			*l = sc->next;
			break;
		}
	free(sc);
	if (d->stopping && !d->sends)
		loop_stop(d->loop);
	else if (!d->stopping && r->status == PLUGIN_SENT)
		d->kicked = 1, loop_timer_start(d->loop, &d->sender_timer, 0, sender_tick, d); /* more may be due */
}

static void send_rows(struct daemon *d, struct dplugin *p)
{
	int room = SENDER_MAX_INFLIGHT - p->inflight;
	if (room <= 0)
		return;
	struct store_outbox_row rows[SENDER_MAX_INFLIGHT];
	int64_t now = app_now(d->app);
	int n = store_outbox_claim(d->app->store, p->cfg->name, now, SENDER_RECLAIM_S, room, rows);
	if (n < 0) {
		log_error("outbox claim for %s: %s", p->cfg->name, store_errmsg(d->app->store));
		return;
	}
	for (int i = 0; i < n; i++) {
		struct store_outbox_row *row = &rows[i];
		char *text = NULL, *json = NULL;
		if (daemon_render_row(d->app, row, p->ops->format_target, &text, &json)) {
			store_outbox_failed(d->app->store, row->id, 1, "story revision no longer stored", 0, now);
			store_outbox_row_fini(row);
			continue;
		}
		char *thread = NULL;
		if (!strcmp(row->kind, "update"))
			thread = store_alert_remote_id(d->app->store, row->story_id, row->platform, row->target_kind,
						       row->target);
		struct send_ctx *sc = xcalloc(1, sizeof *sc);
		sc->d = d;
		sc->p = p;
		sc->outbox_id = row->id;
		sc->next = d->sends;
		d->sends = sc;
		p->inflight++;
		struct plugin_message m = {row->target_kind, row->target, text, json, thread, row->id, 0};
		int rc = p->ops->send(p->self, &m, send_done, sc);
		if (rc < 0 && !sc->finished) {
			/* send() refused without calling done(): treat as transient */
			struct plugin_result res = {PLUGIN_RETRY, NULL, "plugin refused the message", 0};
			send_done(sc, &res);
		}
		free(text);
		free(json);
		free(thread);
		store_outbox_row_fini(row);
	}
}

static void sender_tick(void *ud)
{
	struct daemon *d = ud;
	if (d->stopping)
		return;
	/* Claiming is a write transaction: take one only when there can be
	 * work — another process committed (cron's `ainews ingest`: SQLite's
	 * data_version moved), we were kicked (our own ingest, a plugin became
	 * ready), or a second has passed (retries coming due). Checking
	 * data_version is a cheap read, so it runs every interval. */
	int64_t now = loop_now_ms(), dv = store_data_version(d->app->store);
	if (!d->kicked && dv == d->data_version && now - d->last_claim_ms < 1000) {
		loop_timer_start(d->loop, &d->sender_timer, d->interval_ms, sender_tick, d);
		return;
	}
	d->kicked = 0;
	d->data_version = dv;
	d->last_claim_ms = now;
	for (size_t i = 0; i < d->nplugins; i++) {
		struct dplugin *p = &d->plugins[i];
		if (p->self && p->ops->ready(p->self))
			send_rows(d, p);
	}
	loop_timer_start(d->loop, &d->sender_timer, d->interval_ms, sender_tick, d);
}

/* ---- services for plugins ------------------------------------------------------ */

/* A reply held back by AINEWS_REPLY_DELAY_MS (fault injection: it makes
 * the core answer the way a slow query would, so a plugin's deferred path,
 * e.g. Slack's response_url, can be tested end to end). */
struct delayed_reply {
	struct loop_timer timer;
	struct daemon *d;
	void (*cb)(void *ud, const struct plugin_message *reply);
	void *ud;
	char *target_kind, *target, *text, *json;
	int ephemeral;
	struct delayed_reply *next;
};

static void delayed_fire(void *ud)
{
	struct delayed_reply *r = ud;
	struct plugin_message m = {r->target_kind, r->target, r->text, r->json, NULL, 0, r->ephemeral};
	for (struct delayed_reply **l = &r->d->delayed; *l; l = &(*l)->next)
		if (*l == r) {
			*l = r->next;
			break;
		}
	r->cb(r->ud, &m);
	free(r->target_kind), free(r->target), free(r->text), free(r->json);
	free(r);
}

static struct dplugin *plugin_by_name(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nplugins; i++)
		if (!strcmp(d->plugins[i].cfg->name, name))
			return &d->plugins[i];
	return NULL;
}

static void svc_command(void *core, const struct plugin_command *cmd,
			void (*cb)(void *ud, const struct plugin_message *reply), void *ud)
{
	struct daemon *d = core;
	struct dplugin *p = plugin_by_name(d, cmd->platform);
	int target = p ? p->ops->format_target : FORMAT_CONSOLE;
	int64_t t0 = loop_now_ms();
	struct commands_ctx ctx = {d->app, cmd->platform, cmd->user, cmd->channel, cmd->lang};
	struct commands_reply reply;
	memset(&reply, 0, sizeof reply);
	char *text = NULL, *json = NULL;
	if (commands_run(&ctx, cmd->text ? cmd->text : "", &reply) < 0 ||
	    commands_render(d->app, &reply, target, &text, &json) < 0) {
		free(text), free(json);
		text = xstrdup("Sorry, something went wrong on our side. 抱歉，服务器内部出错。");
		json = NULL;
	}
	struct plugin_message m = {"channel", cmd->channel, text, json, NULL, 0, reply.ephemeral};
	if (d->reply_delay_ms > 0) {
		struct delayed_reply *r = xcalloc(1, sizeof *r);
		*r = (struct delayed_reply){.d = d, .cb = cb, .ud = ud, .target_kind = xstrdup("channel"),
					    .target = xstrdup(cmd->channel), .text = xstrdup(text),
					    .json = xstrdup(json), .ephemeral = reply.ephemeral, .next = d->delayed};
		d->delayed = r;
		loop_timer_start(d->loop, &r->timer, d->reply_delay_ms, delayed_fire, r);
	} else {
		cb(ud, &m);
	}
	log_debug("command on %s by %s took %lld ms", cmd->platform, cmd->user, (long long)(loop_now_ms() - t0));
	metrics_observe(d->metrics, METRICS_COMMAND_SECONDS, cmd->platform, (double)(loop_now_ms() - t0) / 1000.0);
	activity(d);
	commands_reply_fini(&reply);
	free(text);
	free(json);
	/* A subscription or channel rule may have changed nothing to send, but
	 * a command never blocks on the outbox either. */
}

static void svc_state(void *core, const char *platform, int state, const char *why)
{
	struct daemon *d = core;
	struct dplugin *p = plugin_by_name(d, platform);
	static const char *const names[] = {"stopped", "connecting", "ready", "down"};
	if (p) {
		if (state == PLUGIN_CONNECTING && p->was_ready && p->state != PLUGIN_CONNECTING)
			metrics_add(d->metrics, METRICS_RECONNECTS, platform, NULL, 1);
		p->was_ready |= state == PLUGIN_READY;
		if (p->state != state)
			p->state_since = app_now(d->app);
		p->state = state;
		free(p->state_why);
		p->state_why = xstrdup(why);
	}
	if (state == PLUGIN_DOWN)
		log_error("%s: down%s%s", platform, why ? ": " : "", why ? why : "");
	else
		log_info("%s: %s%s%s", platform, names[state & 3], why ? " — " : "", why ? why : "");
	if (state == PLUGIN_READY) {
		d->kicked = 1;
		loop_timer_start(d->loop, &d->sender_timer, 0, sender_tick, d);
	}
}

static void svc_kick(void *core)
{
	struct daemon *d = core;
	if (!d->stopping) {
		d->kicked = 1;
		loop_timer_start(d->loop, &d->sender_timer, 0, sender_tick, d);
	}
}

static void log_report(void *ud, const struct ingest_report *r)
{
	struct daemon *d = ud;
	if (d && r->ok && r->info->result != APP_PUT_UNCHANGED) {
		metrics_add(d->metrics, METRICS_STORIES_INGESTED, "source", NULL, 1);
		d->last_ingest = app_now(d->app);
	}
	if (d)
		activity(d);
	if (!r->ok)
		log_warn("ingest %s: %s%s%s", r->name, r->where ? r->where : "", r->where ? ": " : "", r->msg);
	else if (r->info->result != APP_PUT_UNCHANGED)
		log_info("ingest %s: %s revision %d, %d alert(s), %d update(s) queued", r->name, r->id,
			 r->info->revision, r->info->alerts, r->info->updates);
}

static int src_ingest(void *core, const char *name, const char *data, size_t len, int64_t ref_time)
{
	struct daemon *d = core;
	int rc = ingest_buffer(d->app, name, data, len, ref_time, 0, log_report, d);
	svc_kick(d);
	return rc;
}

static int src_ingest_file(void *core, const char *path)
{
	struct daemon *d = core;
	int rc = ingest_file(d->app, path, 0, log_report, d);
	svc_kick(d);
	return rc;
}

static void source_tick(void *ud)
{
	struct daemon *d = ud;
	for (size_t i = 0; i < d->nsources; i++)
		if (d->sources[i].self && d->sources[i].ops->poll)
			d->sources[i].ops->poll(d->sources[i].self);
	loop_timer_start(d->loop, &d->source_timer, SOURCE_POLL_MS, source_tick, d);
}

/* ---- the web side's view of the daemon ------------------------------------------ */

static void hook_health(void *ud, struct web_health *h)
{
	struct daemon *d = ud;
	for (size_t i = 0; i < d->nplugins; i++) {
		struct dplugin *p = &d->plugins[i];
		d->health_platforms[i] = (struct web_health_platform){p->cfg->name, p->cfg->type, p->state,
								      p->state_since, p->state_why};
	}
	h->platforms = d->health_platforms;
	h->nplatforms = d->nplugins;
	h->last_ingest = d->last_ingest;
	/* The ring, newest first, into a view that borrows its strings. */
	for (size_t i = 0; i < d->nfailures; i++)
		d->failures_view[i] = d->failures[(d->failure_next + RECENT_FAILURES - 1 - i) % RECENT_FAILURES];
	h->failures = d->failures_view;
	h->nfailures = d->nfailures;
}

static void hook_ingested(void *ud, int stored)
{
	struct daemon *d = ud;
	metrics_add(d->metrics, METRICS_STORIES_INGESTED, "webhook", NULL, stored);
	if (stored)
		d->last_ingest = app_now(d->app);
	activity(d);
	svc_kick(d);
}

static void queued_row(void *ud, const struct store_outbox_row *r)
{
	struct metrics *m = ud;
	double n = metrics_get(m, METRICS_ALERTS_QUEUED, r->platform, NULL);
	metrics_set(m, METRICS_ALERTS_QUEUED, r->platform, NULL, n + 1);
}

static void hook_collect(void *ud, struct metrics *m)
{
	struct daemon *d = ud;
	metrics_clear(m, METRICS_PLATFORM_UP);
	metrics_clear(m, METRICS_ALERTS_QUEUED);
	for (size_t i = 0; i < d->nplugins; i++) {
		metrics_set(m, METRICS_PLATFORM_UP, d->plugins[i].cfg->name, NULL, d->plugins[i].state == PLUGIN_READY);
		metrics_set(m, METRICS_ALERTS_QUEUED, d->plugins[i].cfg->name, NULL, 0);
	}
	store_outbox_list(d->app->store, "queued", 100000, queued_row, m);
}

static void http_begin(struct daemon *d)
{
	const struct config *cfg = &d->app->cfg;
	if (http_listen_off(cfg->http_listen)) {
		log_info("http: off (http.listen is \"%s\")", cfg->http_listen ? cfg->http_listen : "");
		return;
	}
	const char *token = cfg->ingest_token_env ? getenv(cfg->ingest_token_env) : NULL;
	if (token && *token)
		log_add_secret(token);
	struct http_hooks hooks = {d, hook_health, hook_ingested, hook_collect};
	struct http_opts ho = {cfg->http_listen, token, cfg->ingest_token_env};
	char *err = NULL;
	/* Every series from the start, so rates work before the first event. */
	metrics_add(d->metrics, METRICS_STORIES_INGESTED, "source", NULL, 0);
	metrics_add(d->metrics, METRICS_STORIES_INGESTED, "webhook", NULL, 0);
	for (size_t i = 0; i < d->nplugins; i++) {
		const char *name = d->plugins[i].cfg->name;
		metrics_add(d->metrics, METRICS_ALERTS_SENT, name, NULL, 0);
		metrics_add(d->metrics, METRICS_ALERTS_FAILED, name, "retry", 0);
		metrics_add(d->metrics, METRICS_ALERTS_FAILED, name, "permanent", 0);
		metrics_add(d->metrics, METRICS_RECONNECTS, name, NULL, 0);
	}
	d->health_platforms = xcalloc(d->nplugins + 1, sizeof *d->health_platforms);
	d->http = http_start(d->loop, d->app, d->metrics, &hooks, &ho, &err);
	if (!d->http) {
		/* The bot still runs: chat matters more than its web pages. */
		log_error("%s; analysis pages, webhook and /healthz are off", err);
		free(err);
	}
}

/* ---- lifecycle ------------------------------------------------------------------- */

static const struct plugin_ops *find_plugin(const char *type)
{
	for (size_t i = 0; plugin_registry[i]; i++)
		if (!strcmp(plugin_registry[i]->type, type))
			return plugin_registry[i];
	return NULL;
}

static const struct source_ops *find_source(const char *type)
{
	for (size_t i = 0; source_registry[i]; i++)
		if (!strcmp(source_registry[i]->type, type))
			return source_registry[i];
	return NULL;
}

static void grace_over(void *ud)
{
	struct daemon *d = ud;
	if (d->sends)
		log_warn("stopping with sends still unanswered: they stay queued");
	loop_stop(d->loop);
}

int daemon_run(struct app *a, const struct daemon_opts *o)
{
	struct daemon d;
	memset(&d, 0, sizeof d);
	d.app = a;
	d.interval_ms = o && o->sender_interval_ms > 0 ? o->sender_interval_ms : 25;
	d.kicked = 1;
	d.metrics = metrics_new();
	/* A daemon scans a story now and then: a small automaton (~0.4 MB
	 * instead of ~1.6 MB), same matches, slower on long texts; the
	 * `ainews ingest` CLI keeps the fast one. */
	topics_set_dense_budget(a->topics, 256u << 10);
	/* Big search-index merges go in steps of ~50,000 entries (~25 ms),
	 * one per commit, so none stalls the loop: the merge of sixteen
	 * 4,096-story segments at story 65,536 would take seconds whole. */
	store_merge_budget(a->store, DAEMON_MERGE_BUDGET);
	/* One malloc arena for every thread (the REST worker would get its
	 * own, with its own slack): the daemon's threads allocate little. */
	mallopt(M_ARENA_MAX, 1);
	/* OpenSSL's error strings for its crypto library (~0.3 MB of tables
	 * and hash) are not loaded: TLS errors keep their SSL-library text
	 * ("certificate verify failed") and certificate checks their own;
	 * other crypto errors print as codes. Must come before libcurl or lws
	 * initialise OpenSSL. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, NULL);
	/* A small page cache: commands touch tens of pages, and the OS page
	 * cache is behind it. */
	store_cache_kb(a->store, 1024);
	if (getenv("AINEWS_REPLY_DELAY_MS"))
		d.reply_delay_ms = atoi(getenv("AINEWS_REPLY_DELAY_MS"));
	char *err = NULL;
	/* The REST client (a curl worker thread, TLS libraries initialised) only
	 * when something speaks HTTP out: a console-only bot stays smaller. */
	int need_rest = 0;
	for (size_t i = 0; i < a->cfg.nplatforms; i++)
		need_rest |= strcmp(a->cfg.platforms[i].type, "console") != 0;
	for (size_t i = 0; i < a->cfg.nsources; i++)
		need_rest |= strcmp(a->cfg.sources[i].type, "dir") != 0;
	if (!(d.loop = loop_new(&err)) || (need_rest && !(d.rest = rest_new(d.loop, &err)))) {
		log_error("%s", err);
		free(err);
		loop_free(d.loop);
		metrics_free(d.metrics);
		return -1;
	}
	/* libcurl is unloaded after 30 s without REST work (bot/rest.c); the
	 * tests shorten that to watch it unload and load again. */
	if (d.rest && getenv("AINEWS_REST_IDLE_MS"))
		rest_set_idle_ms(d.rest, atoll(getenv("AINEWS_REST_IDLE_MS")));
	loop_handle_signals(d.loop);

	/* Platforms: one instance per config block; one that cannot start
	 * (unset token) is reported once and left off. */
	struct config *cfg = &a->cfg;
	if (o && o->force_console && !config_platform_find(cfg, "console")) {
		cfg->platforms = xrealloc(cfg->platforms, (cfg->nplatforms + 1) * sizeof *cfg->platforms);
		memset(&cfg->platforms[cfg->nplatforms], 0, sizeof *cfg->platforms);
		cfg->platforms[cfg->nplatforms].type = xstrdup("console");
		cfg->platforms[cfg->nplatforms].name = xstrdup("console");
		cfg->nplatforms++;
	}
	d.plugins = xcalloc(cfg->nplatforms + 1, sizeof *d.plugins);
	for (size_t i = 0; i < cfg->nplatforms; i++) {
		struct dplugin *p = &d.plugins[d.nplugins];
		p->d = &d;
		p->cfg = &cfg->platforms[i];
		p->ops = find_plugin(p->cfg->type);
		if (!p->ops) {
			log_warn("%s: no plugin for type \"%s\" in this build; left off", p->cfg->name, p->cfg->type);
			continue;
		}
		struct plugin_services svc = {d.loop, d.rest, p->cfg, cfg, &d, svc_command, svc_state, svc_kick};
		p->self = p->ops->create(&svc, &err);
		if (!p->self) {
			log_warn("%s: not started: %s", p->cfg->name, err ? err : "?");
			free(err);
			err = NULL;
			continue;
		}
		d.nplugins++;
	}
	d.sources = xcalloc(cfg->nsources + 1, sizeof *d.sources);
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct source_ops *ops = find_source(cfg->sources[i].type);
		if (!ops) {
			log_warn("source %zu: no plugin for type \"%s\" in this build; left off", i, cfg->sources[i].type);
			continue;
		}
		struct source_services svc = {d.loop, d.rest, &d, src_ingest, src_ingest_file};
		void *self = ops->create(&svc, &cfg->sources[i], &err);
		if (!self) {
			log_warn("source %s: not started: %s", cfg->sources[i].path ? cfg->sources[i].path : "?", err);
			free(err);
			err = NULL;
			continue;
		}
		d.sources[d.nsources++] = (struct dsource){ops, self};
	}
	for (size_t i = 0; i < d.nplugins; i++)
		if (d.plugins[i].ops->start(d.plugins[i].self) < 0)
			log_error("%s: start failed", d.plugins[i].cfg->name);
	for (size_t i = 0; i < d.nsources; i++)
		if (d.sources[i].ops->start(d.sources[i].self) < 0)
			log_error("source %zu: start failed", i);
	http_begin(&d);
	log_info("ainews running: %zu platform(s), %zu source(s), %zu rule(s); store %s", d.nplugins, d.nsources,
		 a->nrules, cfg->store_path);
	loop_timer_start(d.loop, &d.sender_timer, 0, sender_tick, &d);
	loop_timer_start(d.loop, &d.source_timer, SOURCE_POLL_MS, source_tick, &d);

	loop_run(d.loop);

	/* Stop: no new requests or claims; give in-flight sends a grace period. */
	d.stopping = 1;
	http_stop(d.http);
	d.http = NULL;
	loop_timer_stop(&d.sender_timer);
	loop_timer_stop(&d.source_timer);
	loop_timer_stop(&d.trim_timer);
	for (size_t i = 0; i < d.nsources; i++)
		d.sources[i].ops->stop(d.sources[i].self);
	if (d.sends) {
		loop_timer_start(d.loop, &d.grace_timer, STOP_GRACE_MS, grace_over, &d);
		/* run again until the sends settle or the grace period ends */
		loop_restart(d.loop);
		loop_run(d.loop);
		loop_timer_stop(&d.grace_timer);
	}
	/* Replies still held back are dropped: their plugins are stopping. */
	while (d.delayed) {
		struct delayed_reply *n = d.delayed->next;
		loop_timer_stop(&d.delayed->timer);
		free(d.delayed->target_kind), free(d.delayed->target), free(d.delayed->text), free(d.delayed->json);
		free(d.delayed);
		d.delayed = n;
	}
	for (size_t i = 0; i < d.nplugins; i++)
		d.plugins[i].ops->stop(d.plugins[i].self);
	/* Whatever is still unanswered goes back to the queue. */
	for (struct send_ctx *sc = d.sends; sc; sc = sc->next)
		store_outbox_release(a->store, sc->outbox_id);
	rest_free(d.rest); /* pending REST callbacks run now ("shutting down") */
	for (size_t i = 0; i < d.nplugins; i++)
		d.plugins[i].ops->destroy(d.plugins[i].self);
	for (size_t i = 0; i < d.nsources; i++)
		d.sources[i].ops->destroy(d.sources[i].self);
	while (d.sends) {
		struct send_ctx *n = d.sends->next;
		free(d.sends);
		d.sends = n;
	}
	for (size_t i = 0; i < d.nplugins; i++)
		free(d.plugins[i].state_why);
	for (size_t i = 0; i < d.nfailures; i++)
		free((char *)d.failures[i].error);
	free(d.health_platforms);
	free(d.plugins);
	free(d.sources);
	loop_free(d.loop); /* the http vhost's last connections close here */
	metrics_free(d.metrics);
	log_info("ainews stopped");
	return 0;
}
