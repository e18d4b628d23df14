/* log — one-line log records on stderr, with secret scrubbing.
 *
 * Owns the process-wide log level and the list of registered secrets (house
 * rule 4 allows log settings as globals). Any registered secret value that
 * would appear in a record is replaced by "[redacted]" before it is written,
 * so a token echoed back in an error body never reaches the log.
 */
#ifndef AINEWS_LOG_H
#define AINEWS_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

void log_set_level(enum log_level l);
enum log_level log_get_level(void);
/* Register a secret (copied); empty and short (< 6 bytes) values ignored. */
void log_add_secret(const char *value);
void log_reset(void); /* forget secrets; for tests and shutdown */
void log_write(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Scrub secrets from s into an owned string. */
char *log_scrub(const char *s);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
