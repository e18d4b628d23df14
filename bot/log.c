/* log — stderr records with secrets scrubbed. */
#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static enum log_level level = LOG_INFO;
static struct strv secrets;

void log_set_level(enum log_level l)
{
	level = l;
}

enum log_level log_get_level(void)
{
	return level;
}

void log_add_secret(const char *value)
{
	if (value && strlen(value) >= 6 && !strv_contains(&secrets, value))
		strv_push(&secrets, value);
}

void log_reset(void)
{
	strv_free(&secrets);
}

char *log_scrub(const char *s)
{
	struct sbuf b = {0};
	sbuf_adds(&b, s);
	for (size_t i = 0; i < secrets.n; i++) {
		const char *sec = secrets.v[i];
		size_t sl = strlen(sec);
		char *hit;
		while ((hit = strstr(b.s, sec))) {
			struct sbuf n = {0};
			sbuf_add(&n, b.s, (size_t)(hit - b.s));
			sbuf_adds(&n, "[redacted]");
			sbuf_adds(&n, hit + sl);
			sbuf_free(&b);
			b = n;
		}
	}
	return sbuf_take(&b);
}

void log_write(enum log_level l, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	if (l < level || l >= LOG_OFF)
		return;
	struct sbuf b = {0};
	va_list ap;
	va_start(ap, fmt);
	sbuf_vaddf(&b, fmt, ap);
	va_end(ap);
	char *msg = log_scrub(b.s ? b.s : "");
	sbuf_free(&b);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s\n", when, ts.tv_nsec / 1000000, names[l], msg);
	free(msg);
}
