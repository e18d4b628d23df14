/* main — the ainews command line (DESIGN §8). Parses arguments and calls
 * into the core; owns nothing past the call. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

#include "app.h"
#include "commands.h"
#include "daemon.h"
#include "format.h"
#include "ingest.h"
#include "log.h"
#include "store.h"

#ifndef AINEWS_VERSION
#define AINEWS_VERSION "0.1.0"
#endif

static const char usage[] =
	"usage: ainews [--config FILE] [--db FILE] [--verbose|--quiet] COMMAND ...\n"
	"  run [--console]                  the daemon\n"
	"  ingest [--no-alerts] PATH...|-   files, directories, stdin; one line per story\n"
	"  show [--json] ID\n"
	"  list [--json] [--topic T] [--entity E] [--since 24h] [--limit N]\n"
	"  search [--json] WORDS\n"
	"  command [--user U] [--channel C] [--lang L] TEXT\n"
	"  outbox [--json] [--status queued|sending|sent|failed]\n"
	"  check-config [FILE]\n"
	"  version\n";

struct print_ctx {
	int json, n;
	const char *public_url;
};

static void print_story_line(const struct story *s)
{
	char when[32] = "-";
	if (s->published_at > 0)
		time_iso(s->published_at, when);
	char sc[32];
	if (s->scores[0] >= 0 || s->scores[1] >= 0 || s->scores[2] >= 0)
		snprintf(sc, sizeof sc, "%3d/%3d/%3d", s->scores[0], s->scores[1], s->scores[2]);
	else
		snprintf(sc, sizeof sc, "  -/  -/  -");
	printf("%s  %s  %s  %s", s->id, sc, when, story_title(s));
	if (s->title[STORY_EN] && s->title[STORY_ZH])
		printf(" / %s", s->title[STORY_ZH]);
	printf("\n");
}

static void print_cb(void *ud, struct story *s)
{
	struct print_ctx *c = ud;
	if (c->json) {
		char *j = story_to_json(s, c->public_url, 1);
		printf("%s%s", c->n ? ",\n" : "", j);
		free(j);
	} else {
		print_story_line(s);
	}
	c->n++;
}

static int open_app(struct app *a, const char *config, const char *db)
{
	char *err = NULL;
	if (app_open(a, config, db, &err)) {
		fprintf(stderr, "ainews: %s\n", err);
		free(err);
		return -1;
	}
	return 0;
}

static int cmd_ingest(struct app *a, int argc, char **argv)
{
	int no_alerts = 0, i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--no-alerts"))
			no_alerts = 1;
		else if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else {
			fprintf(stderr, "ainews ingest: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "ainews ingest: no input (give files, directories or - for stdin)\n");
		return 2;
	}
	return ingest_paths(a, argv + i, argc - i, no_alerts, stdout, stderr);
}

static int cmd_show(struct app *a, int argc, char **argv)
{
	int json = 0;
	const char *id = NULL;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!id)
			id = argv[i];
	if (!id) {
		fprintf(stderr, "ainews show: which story? (ainews show [--json] ID)\n");
		return 2;
	}
	struct story s;
	story_init(&s);
	int rc = store_story_get(a->store, id, 0, &s);
	if (rc <= 0) {
		fprintf(stderr, "ainews show: %s\n", rc == 0 ? "no such story" : store_errmsg(a->store));
		story_free(&s);
		return 1;
	}
	if (json) {
		char *j = story_to_json(&s, a->cfg.public_url, 1);
		printf("%s\n", j);
		free(j);
	} else {
		print_story_line(&s);
		for (int l = 0; l < STORY_NLANG; l++)
			for (size_t i = 0; i < s.tldr[l].n; i++)
				printf("  • %s\n", s.tldr[l].v[i]);
		printf("  topics: ");
		for (size_t i = 0; i < s.topics.n; i++)
			printf("%s%s", i ? ", " : "", s.topics.v[i]);
		printf("\n  entities: ");
		for (size_t i = 0; i < s.entities.n; i++)
			printf("%s%s", i ? ", " : "", s.entities.v[i]);
		printf("\n  revision %d\n", s.revision);
	}
	story_free(&s);
	return 0;
}

static int cmd_list(struct app *a, int argc, char **argv)
{
	struct store_query q = {.limit = 20};
	struct print_ctx c = {0, 0, a->cfg.public_url};
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--json"))
			c.json = 1;
		else if (!strcmp(argv[i], "--topic") && v)
			q.topic = v, i++;
		else if (!strcmp(argv[i], "--entity") && v)
			q.entity = v, i++;
		else if (!strcmp(argv[i], "--since") && v) {
			int64_t d = duration_parse(v);
			if (d < 0) {
				fprintf(stderr, "ainews list: --since wants a duration like 24h or 7d\n");
				return 2;
			}
			q.since = app_now(a) - d;
			i++;
		} else if (!strcmp(argv[i], "--limit") && v) {
			q.limit = atoi(v);
			if (q.limit < 1 || q.limit > 10000) {
				fprintf(stderr, "ainews list: --limit wants 1..10000\n");
				return 2;
			}
			i++;
		} else {
			fprintf(stderr, "ainews list: unknown or incomplete option %s\n", argv[i]);
			return 2;
		}
	}
	if (c.json)
		printf("[");
	int n = store_list(a->store, &q, print_cb, &c);
	if (c.json)
		printf("]\n");
	if (n < 0) {
		fprintf(stderr, "ainews list: %s\n", store_errmsg(a->store));
		return 1;
	}
	return 0;
}

static int cmd_search(struct app *a, int argc, char **argv)
{
	struct print_ctx c = {0, 0, a->cfg.public_url};
	struct sbuf words = {0};
	int limit = 20;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c.json = 1;
		else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
			limit = atoi(argv[++i]);
		else {
			if (words.len)
				sbuf_addc(&words, ' ');
			sbuf_adds(&words, argv[i]);
		}
	}
	if (!words.len) {
		fprintf(stderr, "ainews search: what should I search for?\n");
		return 2;
	}
	char *norm = app_normalise(a, words.s);
	sbuf_free(&words);
	if (c.json)
		printf("[");
	int n = store_search(a->store, norm, limit, print_cb, &c);
	free(norm);
	if (c.json)
		printf("]\n");
	if (n < 0) {
		fprintf(stderr, "ainews search: %s\n", store_errmsg(a->store));
		return n == -2 ? 2 : 1;
	}
	if (!c.json && n == 0)
		fprintf(stderr, "no stories found\n");
	return 0;
}

struct outbox_ctx {
	int json, n;
};

static void outbox_cb(void *ud, const struct store_outbox_row *r)
{
	struct outbox_ctx *c = ud;
	if (!c->json) {
		printf("%lld  %-6s %-7s %s r%d -> %s %s:%s  attempts=%d%s%s%s%s\n", (long long)r->id, r->kind, r->status,
		       r->story_id, r->revision, r->platform, r->target_kind, r->target, r->attempts,
		       r->remote_id ? "  remote=" : "", r->remote_id ? r->remote_id : "", r->error ? "  error=" : "",
		       r->error ? r->error : "");
		return;
	}
	/* The fixed key set of DESIGN §8. */
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)r->id);
	cJSON_AddNumberToObject(o, "revision", r->revision);
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	const char *keys[] = {"kind", "story_id", "platform", "target_kind", "target", "reason", "status", "remote_id", "error"};
	const char *vals[] = {r->kind, r->story_id, r->platform, r->target_kind, r->target, r->reason, r->status, r->remote_id, r->error};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (vals[i])
			cJSON_AddStringToObject(o, keys[i], vals[i]);
		else
			cJSON_AddNullToObject(o, keys[i]);
	char *text = cJSON_PrintUnformatted(o);
	printf("%s%s", c->n ? ",\n" : "", text);
	cJSON_free(text);
	cJSON_Delete(o);
	c->n++;
}

static int cmd_outbox(struct app *a, int argc, char **argv)
{
	struct outbox_ctx c = {0, 0};
	const char *status = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c.json = 1;
		else if (!strcmp(argv[i], "--status") && i + 1 < argc) {
			status = argv[++i];
			if (strcmp(status, "queued") && strcmp(status, "sending") && strcmp(status, "sent") &&
			    strcmp(status, "failed")) {
				fprintf(stderr, "ainews outbox: --status wants queued, sending, sent or failed\n");
				return 2;
			}
		} else {
			fprintf(stderr, "ainews outbox: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (c.json)
		printf("[");
	int n = store_outbox_list(a->store, status, 0, outbox_cb, &c);
	if (c.json)
		printf("]\n");
	return n < 0 ? 1 : 0;
}

static int cmd_run(struct app *a, int argc, char **argv)
{
	struct daemon_opts o = {0};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--console"))
			o.force_console = 1;
		else {
			fprintf(stderr, "ainews run: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	return daemon_run(a, &o) < 0 ? 1 : 0;
}

static int cmd_command(struct app *a, int argc, char **argv)
{
	const char *user = "console", *channel = "console", *lang = NULL, *platform = "console";
	struct sbuf text = {0};
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--user") && v)
			user = v, i++;
		else if (!strcmp(argv[i], "--channel") && v)
			channel = v, i++;
		else if (!strcmp(argv[i], "--lang") && v)
			lang = v, i++;
		else if (!strcmp(argv[i], "--platform") && v)
			platform = v, i++;
		else {
			if (text.len)
				sbuf_addc(&text, ' ');
			sbuf_adds(&text, argv[i]);
		}
	}
	const char *t = text.s ? text.s : "";
	if (str_starts(t, "/ainews"))
		t += 7;
	struct commands_ctx ctx = {a, platform, user, channel, lang};
	struct commands_reply reply;
	memset(&reply, 0, sizeof reply);
	char *out = NULL, *json = NULL;
	int rc = commands_run(&ctx, t, &reply);
	if (rc == 0)
		rc = commands_render(a, &reply, FORMAT_CONSOLE, &out, &json);
	if (rc == 0)
		fputs(out, stdout);
	else
		fprintf(stderr, "ainews command: internal error\n");
	int is_error = rc != 0 || reply.is_error;
	commands_reply_fini(&reply);
	free(out);
	free(json);
	sbuf_free(&text);
	return rc ? 1 : is_error ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *config = NULL, *db = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[++i];
		else if (!strcmp(argv[i], "--db") && i + 1 < argc)
			db = argv[++i];
		else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))
			log_set_level(LOG_DEBUG);
		else if (!strcmp(argv[i], "--quiet") || !strcmp(argv[i], "-q"))
			log_set_level(LOG_WARN);
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "ainews: unknown option %s\n%s", argv[i], usage);
			return 2;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[i];
	int cargc = argc - i;
	char **cargv = argv + i;
	if (!strcmp(cmd, "version")) {
		printf("ainews %s\n", AINEWS_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "check-config")) {
		struct config c;
		char *err = NULL;
		const char *path = cargc > 1 ? cargv[1] : config;
		if (config_load(path, &c, &err)) {
			fprintf(stderr, "%s\n", err);
			free(err);
			return 1;
		}
		printf("%s: ok (%zu platforms, %zu sources, %zu rules)\n", c.path, c.nplatforms, c.nsources, c.nrules);
		config_fini(&c);
		return 0;
	}
	static const struct {
		const char *name;
		int (*fn)(struct app *, int, char **);
	} cmds[] = {
		{"ingest", cmd_ingest}, {"show", cmd_show},	{"list", cmd_list},
		{"search", cmd_search}, {"outbox", cmd_outbox}, {"run", cmd_run},
		{"command", cmd_command},
	};
	for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++) {
		if (strcmp(cmd, cmds[k].name))
			continue;
		struct app a;
		if (open_app(&a, config, db))
			return 2;
		int rc = cmds[k].fn(&a, cargc, cargv);
		app_close(&a);
		return rc;
	}
	fprintf(stderr, "ainews: unknown command \"%s\"\n%s", cmd, usage);
	return 2;
}
