/* daemon — `ainews run`: the loop, the platform and source plugins, the
 * outbox sender, and clean shutdown.
 *
 * Owns the loop, the REST client and every plugin instance; borrows the app.
 * The sender claims due outbox rows for each ready platform, renders each
 * card for that platform and hands it to the plugin; the plugin's done()
 * records the remote id or schedules the retry. On SIGINT/SIGTERM in-flight
 * sends get a short grace period; rows still unanswered go back to
 * "queued", so nothing is lost and the next start delivers them.
 */
#ifndef AINEWS_DAEMON_H
#define AINEWS_DAEMON_H

#include "app.h"

struct daemon_opts {
	int force_console; /* add a console platform when the config has none */
	int sender_interval_ms; /* outbox check period (default 25 ms; a claim only when there is news) */
};

/* Run until a signal (or the console closing). 0 clean stop, negative on
 * start-up failure (message logged). */
int daemon_run(struct app *a, const struct daemon_opts *o);

/* Render one outbox row for a format target (enum format_target): the card
 * of the story revision, in the target's language. 0 ok, negative when the
 * story is gone. Exposed for tests. */
struct store_outbox_row;
int daemon_render_row(struct app *a, const struct store_outbox_row *row, int target, char **text, char **json);

#endif
