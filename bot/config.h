/* config — the one JSON configuration file (DESIGN §9).
 *
 * config_load() validates the whole file against a declarative table of
 * keys and types; an unknown key or a wrong type is an error naming its
 * JSON path. The result owns every string. Secrets are never in the file:
 * only the names of environment variables (`*_env` keys).
 */
#ifndef AINEWS_CONFIG_H
#define AINEWS_CONFIG_H

#include <stdint.h>
#include "util.h"

struct config_platform {
	char *type; /* console, slack, discord, mattermost */
	char *name;
	char *app_token_env, *bot_token_env, *token_env, *command_token_env;
	char *api_base, *url;
	struct strv guild_ids;
};

struct config_source {
	char *type; /* dir, feed */
	char *path;
	char *url;
	int64_t interval; /* seconds */
};

struct config_rule {
	char *platform, *channel, *expr, *lang;
};

struct config_admins {
	char *platform;
	struct strv users;
};

struct config {
	char *path; /* where it came from, or "(built-in)" */
	char *store_path;
	char *http_listen, *public_url, *ingest_token_env;
	char *topics_path;
	char *default_lang;
	int query_limit;
	struct config_platform *platforms;
	size_t nplatforms;
	struct config_source *sources;
	size_t nsources;
	struct config_rule *rules;
	size_t nrules;
	struct config_admins *admins;
	size_t nadmins;
};

/* The built-in default (console + dir source on var/inbox, SQLite under var/). */
extern const char config_default_json[];

/* Load and validate path (NULL = the built-in default). 0 ok; negative with
 * *err owned ("config.json: $.platforms[1].tokn: unknown key"). */
int config_load(const char *path, struct config *out, char **err);
int config_parse(const char *text, const char *origin, struct config *out, char **err);
void config_fini(struct config *c);

/* Is user an admin of platform? */
int config_is_admin(const struct config *c, const char *platform, const char *user);
const struct config_platform *config_platform_find(const struct config *c, const char *name);

#endif
