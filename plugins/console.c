/* console — the terminal as a chat platform: slash commands on stdin,
 * replies and alerts on stdout. Works with no credentials at all, which is
 * what `make run` starts.
 *
 * Owns its stdin watch and line buffer. A line is a command with or without
 * the leading "/ainews"; "/quit" or end of input stops the daemon.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "loop.h"
#include "plugin.h"
#include "util.h"

#define CONSOLE_LINE_MAX 4096

struct console {
	struct plugin_services svc;
	struct loop_watch *watch;
	struct sbuf line;
	int64_t sent;
	int discarding; /* inside an over-long line */
	int in_fd;
	FILE *out;
};

static void *console_create(const struct plugin_services *svc, char **err)
{
	(void)err;
	struct console *c = xcalloc(1, sizeof *c);
	c->svc = *svc;
	c->in_fd = 0;
	c->out = stdout;
	return c;
}

static void print_reply(void *ud, const struct plugin_message *m)
{
	struct console *c = ud;
	fputs(m->text, c->out);
	if (!*m->text || m->text[strlen(m->text) - 1] != '\n')
		fputc('\n', c->out);
	fflush(c->out);
}

static void run_line(struct console *c, char *line)
{
	str_trim(line);
	if (!*line)
		return;
	if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) {
		loop_stop(c->svc.loop);
		return;
	}
	const char *text = line;
	if (str_starts(text, "/ainews"))
		text += 7;
	else if (text[0] == '/')
		text += 1; /* "/help" works too */
	struct plugin_command cmd = {c->svc.cfg->name, "console", "console", text, getenv("LANG")};
	c->svc.command(c->svc.core, &cmd, print_reply, c);
}

static void on_stdin(void *ud, int fd)
{
	struct console *c = ud;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* End of input: the operator is gone; stop cleanly. */
		if (c->line.len && !c->discarding)
			run_line(c, c->line.s);
		sbuf_reset(&c->line);
		loop_unwatch(c->watch);
		c->watch = NULL;
		loop_stop(c->svc.loop);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			if (!c->discarding)
				run_line(c, c->line.s ? c->line.s : (char[]){0});
			else
				fprintf(c->out, "line too long (over %d bytes); ignored\n", CONSOLE_LINE_MAX);
			c->discarding = 0;
			sbuf_reset(&c->line);
		} else if (c->line.len >= CONSOLE_LINE_MAX) {
			c->discarding = 1;
		} else {
			sbuf_addc(&c->line, buf[i]);
		}
	}
	fflush(c->out);
}

static int console_start(void *self)
{
	struct console *c = self;
	c->watch = loop_watch_fd(c->svc.loop, c->in_fd, on_stdin, c);
	c->svc.state(c->svc.core, c->svc.cfg->name, PLUGIN_READY, "reading commands on the terminal");
	return c->watch ? 0 : -1;
}

static int console_ready(void *self)
{
	(void)self;
	return 1;
}

static int console_send(void *self, const struct plugin_message *m, plugin_done_cb done, void *ud)
{
	struct console *c = self;
	if (!strcmp(m->target_kind, "user"))
		fprintf(c->out, "── DM to %s %s\n", m->target, m->thread ? "(update)" : "──");
	else
		fprintf(c->out, "── #%s %s\n", m->target, m->thread ? "(update)" : "──");
	fputs(m->text, c->out);
	if (!*m->text || m->text[strlen(m->text) - 1] != '\n')
		fputc('\n', c->out);
	fflush(c->out);
	char rid[48];
	snprintf(rid, sizeof rid, "console:%lld", (long long)++c->sent);
	struct plugin_result r = {PLUGIN_SENT, rid, NULL, 0};
	done(ud, &r);
	return 0;
}

static void console_stop(void *self)
{
	struct console *c = self;
	loop_unwatch(c->watch);
	c->watch = NULL;
}

static void console_destroy(void *self)
{
	struct console *c = self;
	if (!c)
		return;
	sbuf_free(&c->line);
	free(c);
}

const struct plugin_ops console_plugin = {
	.type = "console",
	.format_target = FORMAT_CONSOLE,
	.create = console_create,
	.start = console_start,
	.ready = console_ready,
	.send = console_send,
	.stop = console_stop,
	.destroy = console_destroy,
};
