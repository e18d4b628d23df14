/* config — loading and validating the JSON configuration.
 *
 * Every section is described by a table of {key, type, offset}; one generic
 * walker fills the structs and rejects unknown keys, so adding an option is
 * one table line.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>

const char config_default_json[] =
	"{\n"
	"  \"store\":    {\"path\": \"var/ainews.db\"},\n"
	"  \"http\":     {\"listen\": \"127.0.0.1:8080\", \"public_url\": \"http://127.0.0.1:8080\",\n"
	"               \"ingest_token_env\": \"AINEWS_INGEST_TOKEN\"},\n"
	"  \"topics\":   \"config/topics.json\",\n"
	"  \"defaults\": {\"lang\": \"both\", \"query_limit\": 5},\n"
	"  \"platforms\": [{\"type\": \"console\", \"name\": \"console\"}],\n"
	"  \"sources\":  [{\"type\": \"dir\", \"path\": \"var/inbox\"}],\n"
	"  \"rules\":    [{\"platform\": \"console\", \"channel\": \"console\", \"expr\": \"hot >= 60 or impact >= 60\"}],\n"
	"  \"admins\":   {\"console\": [\"console\"]}\n"
	"}\n";

enum ctype { C_STR, C_INT, C_DURATION, C_STRV };

struct ckey {
	const char *key;
	enum ctype type;
	size_t off;
};

#define K(s, k, t, f) {k, t, offsetof(struct s, f)}

static const struct ckey platform_keys[] = {
	K(config_platform, "type", C_STR, type),
	K(config_platform, "name", C_STR, name),
	K(config_platform, "app_token_env", C_STR, app_token_env),
	K(config_platform, "bot_token_env", C_STR, bot_token_env),
	K(config_platform, "token_env", C_STR, token_env),
	K(config_platform, "command_token_env", C_STR, command_token_env),
	K(config_platform, "api_base", C_STR, api_base),
	K(config_platform, "url", C_STR, url),
	K(config_platform, "guild_ids", C_STRV, guild_ids),
	{0},
};

static const struct ckey source_keys[] = {
	K(config_source, "type", C_STR, type),
	K(config_source, "path", C_STR, path),
	K(config_source, "url", C_STR, url),
	K(config_source, "interval", C_DURATION, interval),
	{0},
};

static const struct ckey rule_keys[] = {
	K(config_rule, "platform", C_STR, platform),
	K(config_rule, "channel", C_STR, channel),
	K(config_rule, "expr", C_STR, expr),
	K(config_rule, "lang", C_STR, lang),
	{0},
};

static const struct ckey store_keys[] = {K(config, "path", C_STR, store_path), {0}};
static const struct ckey http_keys[] = {
	K(config, "listen", C_STR, http_listen),
	K(config, "public_url", C_STR, public_url),
	K(config, "ingest_token_env", C_STR, ingest_token_env),
	{0},
};
static const struct ckey defaults_keys[] = {
	K(config, "lang", C_STR, default_lang),
	K(config, "query_limit", C_INT, query_limit),
	{0},
};

struct cerr {
	char msg[512];
};

static int cfail(struct cerr *e, const char *path, const char *what)
{
	if (!e->msg[0])
		snprintf(e->msg, sizeof e->msg, "%s: %s", path, what);
	return -1;
}

static int fill(struct cerr *e, const char *path, const cJSON *obj, const struct ckey *keys, void *base)
{
	if (!cJSON_IsObject(obj))
		return cfail(e, path, "expected an object");
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		char p[256];
		snprintf(p, sizeof p, "%s.%s", path, it->string);
		if (it->string[0] == '_')
			continue; /* "_doc" keys document the file */
		const struct ckey *k = keys;
		while (k->key && strcmp(k->key, it->string))
			k++;
		if (!k->key)
			return cfail(e, p, "unknown key");
		void *field = (char *)base + k->off;
		switch (k->type) {
		case C_STR:
			if (!cJSON_IsString(it))
				return cfail(e, p, "expected a string");
			free(*(char **)field);
			*(char **)field = xstrdup(it->valuestring);
			break;
		case C_INT:
			if (!cJSON_IsNumber(it) || it->valuedouble != (double)it->valueint || it->valueint < 0)
				return cfail(e, p, "expected a non-negative integer");
			*(int *)field = it->valueint;
			break;
		case C_DURATION: {
			int64_t d = cJSON_IsNumber(it) ? (int64_t)it->valuedouble
						       : cJSON_IsString(it) ? duration_parse(it->valuestring) : -1;
			if (d <= 0)
				return cfail(e, p, "expected a duration like \"5m\", \"1h\" or seconds");
			*(int64_t *)field = d;
			break;
		}
		case C_STRV: {
			if (!cJSON_IsArray(it))
				return cfail(e, p, "expected an array of strings");
			const cJSON *s;
			cJSON_ArrayForEach(s, it)
			{
				if (!cJSON_IsString(s))
					return cfail(e, p, "expected an array of strings");
				strv_push((struct strv *)field, s->valuestring);
			}
			break;
		}
		}
	}
	return 0;
}

/* An array section: each element an object filled by keys. */
static int fill_array(struct cerr *e, const char *name, const cJSON *arr, const struct ckey *keys, size_t elem,
		      void **items, size_t *n)
{
	char path[64];
	snprintf(path, sizeof path, "$.%s", name);
	if (!cJSON_IsArray(arr))
		return cfail(e, path, "expected an array");
	size_t count = (size_t)cJSON_GetArraySize(arr), i = 0;
	*items = xcalloc(count ? count : 1, elem);
	*n = count;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		snprintf(path, sizeof path, "$.%s[%zu]", name, i);
		if (fill(e, path, it, keys, (char *)*items + i * elem))
			return -1;
		i++;
	}
	return 0;
}

static int known_lang(const char *l)
{
	return !strcmp(l, "en") || !strcmp(l, "zh") || !strcmp(l, "both");
}

static int validate(struct cerr *e, struct config *c)
{
	char p[96];
	for (size_t i = 0; i < c->nplatforms; i++) {
		struct config_platform *pl = &c->platforms[i];
		snprintf(p, sizeof p, "$.platforms[%zu]", i);
		if (!pl->type)
			return cfail(e, p, "missing \"type\"");
		if (strcmp(pl->type, "console") && strcmp(pl->type, "slack") && strcmp(pl->type, "discord") &&
		    strcmp(pl->type, "mattermost"))
			return cfail(e, p, "\"type\" must be console, slack, discord or mattermost");
		if (!pl->name)
			pl->name = xstrdup(pl->type);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->platforms[j].name, pl->name))
				return cfail(e, p, "duplicate platform \"name\"");
	}
	for (size_t i = 0; i < c->nsources; i++) {
		struct config_source *s = &c->sources[i];
		snprintf(p, sizeof p, "$.sources[%zu]", i);
		if (!s->type || (strcmp(s->type, "dir") && strcmp(s->type, "feed")))
			return cfail(e, p, "\"type\" must be dir or feed");
		if (!strcmp(s->type, "dir") && !s->path)
			return cfail(e, p, "a dir source needs \"path\"");
		if (!strcmp(s->type, "feed") && !s->url)
			return cfail(e, p, "a feed source needs \"url\"");
		if (!s->interval)
			s->interval = 300;
	}
	for (size_t i = 0; i < c->nrules; i++) {
		struct config_rule *r = &c->rules[i];
		snprintf(p, sizeof p, "$.rules[%zu]", i);
		if (!r->platform || !r->channel || !r->expr)
			return cfail(e, p, "a rule needs \"platform\", \"channel\" and \"expr\"");
		if (!config_platform_find(c, r->platform))
			return cfail(e, p, "\"platform\" names no configured platform");
		if (r->lang && !known_lang(r->lang))
			return cfail(e, p, "\"lang\" must be en, zh or both");
	}
	if (!known_lang(c->default_lang))
		return cfail(e, "$.defaults.lang", "must be en, zh or both");
	if (c->query_limit < 1 || c->query_limit > 50)
		return cfail(e, "$.defaults.query_limit", "must be 1..50");
	return 0;
}

int config_parse(const char *text, const char *origin, struct config *c, char **err)
{
	memset(c, 0, sizeof *c);
	c->path = xstrdup(origin);
	struct cerr e = {{0}};
	cJSON *root = cJSON_Parse(text);
	if (!root) {
		*err = xasprintf("%s: malformed JSON near \"%.20s\"", origin,
				 cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
		config_fini(c);
		return -1;
	}
	int rc = 0;
	if (!cJSON_IsObject(root))
		rc = cfail(&e, "$", "expected an object");
	const cJSON *it;
	cJSON_ArrayForEach(it, root)
	{
		if (rc)
			break;
		char p[128];
		snprintf(p, sizeof p, "$.%s", it->string);
		if (!strcmp(it->string, "store"))
			rc = fill(&e, p, it, store_keys, c);
		else if (!strcmp(it->string, "http"))
			rc = fill(&e, p, it, http_keys, c);
		else if (!strcmp(it->string, "defaults"))
			rc = fill(&e, p, it, defaults_keys, c);
		else if (!strcmp(it->string, "topics")) {
			if (!cJSON_IsString(it))
				rc = cfail(&e, p, "expected a path string");
			else
				c->topics_path = xstrdup(it->valuestring);
		} else if (!strcmp(it->string, "platforms"))
			rc = fill_array(&e, "platforms", it, platform_keys, sizeof(struct config_platform),
					(void **)&c->platforms, &c->nplatforms);
		else if (!strcmp(it->string, "sources"))
			rc = fill_array(&e, "sources", it, source_keys, sizeof(struct config_source),
					(void **)&c->sources, &c->nsources);
		else if (!strcmp(it->string, "rules"))
			rc = fill_array(&e, "rules", it, rule_keys, sizeof(struct config_rule), (void **)&c->rules,
					&c->nrules);
		else if (!strcmp(it->string, "admins")) {
			if (!cJSON_IsObject(it)) {
				rc = cfail(&e, p, "expected an object {platform: [user ids]}");
				break;
			}
			c->admins = xcalloc((size_t)cJSON_GetArraySize(it) + 1, sizeof *c->admins);
			const cJSON *a;
			cJSON_ArrayForEach(a, it)
			{
				if (a->string[0] == '_')
					continue;
				char pa[192];
				snprintf(pa, sizeof pa, "$.admins.%s", a->string);
				struct config_admins *ad = &c->admins[c->nadmins++];
				ad->platform = xstrdup(a->string);
				if (!cJSON_IsArray(a)) {
					rc = cfail(&e, pa, "expected an array of user ids");
					break;
				}
				const cJSON *u;
				cJSON_ArrayForEach(u, a)
				{
					if (!cJSON_IsString(u)) {
						rc = cfail(&e, pa, "expected an array of user ids");
						break;
					}
					strv_push(&ad->users, u->valuestring);
				}
			}
		} else if (it->string[0] == '_')
			; /* "_doc" and other comments */
		else
			rc = cfail(&e, p, "unknown key");
	}
	cJSON_Delete(root);
	if (!rc) {
		if (!c->store_path)
			c->store_path = xstrdup("var/ainews.db");
		if (!c->http_listen)
			c->http_listen = xstrdup("127.0.0.1:8080");
		/* Card links need an address people can open: with the server
		 * off or on an ephemeral port there is none to derive. */
		if (!c->public_url && *c->http_listen && strcmp(c->http_listen, "off") &&
		    !(strlen(c->http_listen) > 2 && !strcmp(c->http_listen + strlen(c->http_listen) - 2, ":0")))
			c->public_url = xasprintf("http://%s", c->http_listen);
		if (!c->public_url)
			c->public_url = xstrdup("");
		if (!c->topics_path)
			c->topics_path = xstrdup("config/topics.json");
		if (!c->default_lang)
			c->default_lang = xstrdup("both");
		if (!c->query_limit)
			c->query_limit = 5;
		rc = validate(&e, c);
	}
	if (rc) {
		*err = xasprintf("%s: %s", origin, e.msg);
		config_fini(c);
		return -1;
	}
	return 0;
}

int config_load(const char *path, struct config *c, char **err)
{
	if (!path)
		return config_parse(config_default_json, "(built-in)", c, err);
	char *text;
	size_t len;
	int rc = file_read(path, 1 << 20, &text, &len);
	if (rc) {
		*err = xasprintf("%s: %s", path, rc == -2 ? "larger than 1 MB" : "cannot read");
		memset(c, 0, sizeof *c);
		return -1;
	}
	rc = config_parse(text, path, c, err);
	free(text);
	return rc;
}

void config_fini(struct config *c)
{
	free(c->path);
	free(c->store_path);
	free(c->http_listen);
	free(c->public_url);
	free(c->ingest_token_env);
	free(c->topics_path);
	free(c->default_lang);
	for (size_t i = 0; i < c->nplatforms; i++) {
		struct config_platform *p = &c->platforms[i];
		free(p->type), free(p->name), free(p->app_token_env), free(p->bot_token_env);
		free(p->token_env), free(p->command_token_env), free(p->api_base), free(p->url);
		strv_free(&p->guild_ids);
	}
	free(c->platforms);
	for (size_t i = 0; i < c->nsources; i++)
		free(c->sources[i].type), free(c->sources[i].path), free(c->sources[i].url);
	free(c->sources);
	for (size_t i = 0; i < c->nrules; i++)
		free(c->rules[i].platform), free(c->rules[i].channel), free(c->rules[i].expr), free(c->rules[i].lang);
	free(c->rules);
	for (size_t i = 0; i < c->nadmins; i++)
		free(c->admins[i].platform), strv_free(&c->admins[i].users);
	free(c->admins);
	memset(c, 0, sizeof *c);
}

int config_is_admin(const struct config *c, const char *platform, const char *user)
{
	for (size_t i = 0; i < c->nadmins; i++)
		if (!strcmp(c->admins[i].platform, platform))
			return strv_contains(&c->admins[i].users, user);
	return 0;
}

const struct config_platform *config_platform_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nplatforms; i++)
		if (!strcmp(c->platforms[i].name, name))
			return &c->platforms[i];
	return NULL;
}
