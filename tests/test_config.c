/* test_config — the example config loads (so it cannot rot), errors name paths. */
#include <stdlib.h>

#include "config.h"
#include "t.h"

static void expect_err(const char *json, const char *want)
{
	struct config c;
	char *err = NULL;
	T_OK(config_parse(json, "t.json", &c, &err) < 0, "rejected: %s", json);
	T_OK(err && strstr(err, want), "error '%s' contains '%s'", err ? err : "(none)", want);
	free(err);
}

int main(void)
{
	struct config c;
	char *err = NULL;
	T_OK(config_load("config/ainews.example.json", &c, &err) == 0, "example loads: %s", err ? err : "");
	T_INT(c.nplatforms, 4);
	T_STR(c.platforms[1].app_token_env, "SLACK_APP_TOKEN");
	T_STR(c.platforms[3].url, "https://mm.example.org");
	T_INT(c.nsources, 2);
	T_INT(c.sources[1].interval, 300);
	T_INT(c.nrules, 2);
	T_STR(c.rules[0].expr, "topic:compute and impact >= 60");
	T_OK(config_is_admin(&c, "work", "U0ADMIN"), "admin");
	T_OK(!config_is_admin(&c, "work", "U0OTHER"), "not admin");
	T_OK(!config_is_admin(&c, "mm", "U0ADMIN"), "admin is per platform");
	T_STR(c.store_path, "var/ainews.db");
	T_INT(c.query_limit, 5);
	config_fini(&c);

	T_OK(config_load(NULL, &c, &err) == 0, "built-in default loads");
	T_STR(c.platforms[0].type, "console");
	T_STR(c.sources[0].path, "var/inbox");
	T_STR(c.default_lang, "both");
	config_fini(&c);

	expect_err("{\"platforms\": [{\"type\": \"slack\", \"tokn\": 1}]}", "$.platforms[0].tokn: unknown key");
	expect_err("{\"bogus\": 1}", "$.bogus: unknown key");
	expect_err("{\"store\": {\"path\": 5}}", "$.store.path: expected a string");
	expect_err("{\"platforms\": [{\"type\": \"irc\"}]}", "$.platforms[0]");
	expect_err("{\"rules\": [{\"platform\": \"nope\", \"channel\": \"C\", \"expr\": \"hot>1\"}]}",
		   "names no configured platform");
	expect_err("{\"sources\": [{\"type\": \"feed\", \"url\": \"http://x\", \"interval\": \"5 parsecs\"}]}",
		   "$.sources[0].interval");
	expect_err("{\"defaults\": {\"lang\": \"fr\"}}", "$.defaults.lang");
	expect_err("{\"admins\": {\"work\": [1]}}", "$.admins.work");
	expect_err("[1,2", "malformed JSON");
	expect_err("{\"platforms\": [{\"type\": \"console\"}, {\"type\": \"console\"}]}", "duplicate");
	T_OK(config_load("/nonexistent/x.json", &c, &err) < 0 && strstr(err, "cannot read"), "missing file");
	free(err);
	return t_done();
}
