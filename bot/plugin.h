/* plugin — the one interface between the core and its plugins.
 *
 * A platform plugin (console, slack, discord, mattermost) gets a services
 * table from the core and hands back an ops table. It turns platform frames
 * into struct plugin_command and platform posts out of already-rendered
 * messages; it never sees the store, the rules or story structs, and the
 * core never sees a plugin's internals or its JSON.
 *
 * A source plugin (dir, feed) finds raw story inputs and hands them to the
 * core through services->ingest.
 *
 * Ownership: everything passed through a callback is lent for that call
 * only. Every send() gets exactly one done() call, possibly before send()
 * returns. Plugins are compiled in; the registry lists their descriptors.
 * Return codes: 0 ok, 1 pending (started async), negative error.
 */
#ifndef AINEWS_PLUGIN_H
#define AINEWS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct loop;
struct rest;

/* A slash command as the core sees it. */
struct plugin_command {
	const char *platform; /* platform instance name from the config */
	const char *user;     /* platform user id: owner of subscriptions */
	const char *channel;  /* where it was typed */
	const char *text;     /* the arguments after "/ainews" */
	const char *lang;     /* the platform's locale hint ("zh-CN"), or NULL */
};

/* A reply or an alert, rendered by the core for the plugin's format target
 * (format.h): text is the plain/markdown text, json the structured part
 * (Slack blocks array, Discord embeds array) or NULL. */
struct plugin_message {
	const char *target_kind; /* "channel" or "user" (a DM) */
	const char *target;
	const char *text;
	const char *json;
	const char *thread; /* remote id of the alert an update replies to, or NULL */
	int64_t key;        /* outbox id: idempotency key (Discord nonce) */
	int ephemeral;      /* replies only: visible to the caller alone */
};

enum plugin_status { PLUGIN_SENT = 0, PLUGIN_RETRY = 1, PLUGIN_FAILED = 2 };
struct plugin_result {
	int status;            /* enum plugin_status */
	const char *remote_id; /* SENT: "channel:ts" or the message id */
	const char *error;     /* RETRY/FAILED: why */
	int64_t retry_after;   /* RETRY: seconds the platform asked for, 0 = backoff */
};
typedef void (*plugin_done_cb)(void *ud, const struct plugin_result *r);

enum plugin_state { PLUGIN_STOPPED = 0, PLUGIN_CONNECTING = 1, PLUGIN_READY = 2, PLUGIN_DOWN = 3 };

/* What the core offers a platform plugin. */
struct plugin_services {
	struct loop *loop;
	struct rest *rest;
	const struct config_platform *cfg; /* this plugin's block; borrowed */
	const struct config *config;       /* the whole config; borrowed */
	void *core;
	/* Run a command and render its reply for this plugin; the reply is
	 * lent for the call of cb. cb usually runs before command() returns,
	 * but may run later (a slow query; AINEWS_REPLY_DELAY_MS simulates
	 * one), exactly once, unless the daemon stops first: ud must stay
	 * valid until then or until the plugin's stop(). */
	void (*command)(void *core, const struct plugin_command *cmd,
			void (*cb)(void *ud, const struct plugin_message *reply), void *ud);
	/* Connection state for health checks and the log ("why" may be NULL). */
	void (*state)(void *core, const char *platform, int state, const char *why);
	/* Outbox work may be waiting (e.g. the plugin just became ready). */
	void (*kick)(void *core);
};

struct plugin_ops {
	const char *type;  /* config "type" */
	int format_target; /* enum format_target */
	/* NULL + *err owned when the plugin cannot run (e.g. token unset). */
	void *(*create)(const struct plugin_services *svc, char **err);
	int (*start)(void *self);
	/* Is the plugin able to take send() now? */
	int (*ready)(void *self);
	int (*send)(void *self, const struct plugin_message *m, plugin_done_cb done, void *ud);
	/* Begin a clean stop: finish or give up in-flight sends (each still
	 * gets its done()), close connections. */
	void (*stop)(void *self);
	void (*destroy)(void *self);
};

/* What the core offers a source plugin. */
struct source_services {
	struct loop *loop;
	struct rest *rest;
	void *core;
	/* Ingest one input. name is used in messages; returns the number of
	 * rejected items (0 = all stored), negative on a store failure. */
	int (*ingest)(void *core, const char *name, const char *data, size_t len, int64_t ref_time);
	int (*ingest_file)(void *core, const char *path);
};

struct source_ops {
	const char *type;
	void *(*create)(const struct source_services *svc, const struct config_source *cfg, char **err);
	int (*start)(void *self);
	int (*poll)(void *self); /* look for work now (also called on a timer) */
	void (*stop)(void *self);
	void (*destroy)(void *self);
};

/* The registry: compiled-in plugins (plugins/registry.c). NULL-terminated. */
extern const struct plugin_ops *const plugin_registry[];
extern const struct source_ops *const source_registry[];

#endif
