/* t.h — the tiny test harness every unit test uses.
 *
 * Each check prints a TAP-style line; t_done() prints "N passed, N failed"
 * and returns the exit status. Tests are plain programs: tests/run collects
 * their counts into the suite's closing line.
 */
#ifndef AINEWS_T_H
#define AINEWS_T_H

#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static int t_pass, t_fail;

#define T_OK(cond, ...)                                                          \
	do {                                                                     \
		if (cond) {                                                      \
			t_pass++;                                                \
		} else {                                                         \
			t_fail++;                                                \
			printf("not ok - %s:%d: ", __FILE__, __LINE__);          \
			printf(__VA_ARGS__);                                     \
			printf("  [%s]\n", #cond);                               \
		}                                                                \
	} while (0)

#define T_STR(got, want)                                                         \
	do {                                                                     \
		const char *t_g_ = (got), *t_w_ = (want);                        \
		if (t_g_ && t_w_ && !strcmp(t_g_, t_w_)) {                        \
			t_pass++;                                                \
		} else if (!t_g_ && !t_w_) {                                     \
			t_pass++;                                                \
		} else {                                                         \
			t_fail++;                                                \
			printf("not ok - %s:%d: %s\n     got: %s\n    want: %s\n",   \
			       __FILE__, __LINE__, #got, t_g_ ? t_g_ : "(null)", \
			       t_w_ ? t_w_ : "(null)");                          \
		}                                                                \
	} while (0)

#define T_INT(got, want)                                                         \
	do {                                                                     \
		long long t_g_ = (long long)(got), t_w_ = (long long)(want);     \
		if (t_g_ == t_w_) {                                              \
			t_pass++;                                                \
		} else {                                                         \
			t_fail++;                                                \
			printf("not ok - %s:%d: %s = %lld, want %lld\n", __FILE__, \
			       __LINE__, #got, t_g_, t_w_);                      \
		}                                                                \
	} while (0)

static inline int t_done(void)
{
	printf("%d passed, %d failed\n", t_pass, t_fail);
	return t_fail ? 1 : 0;
}

/* Path of a shared sample by its number prefix ("001"); static buffer. */
#include <dirent.h>
static inline const char *t_sample(const char *prefix)
{
	static char path[512];
	const char *dir = getenv("AINEWS_SAMPLES") ? getenv("AINEWS_SAMPLES") : "tests/fixtures/samples";
	DIR *d = opendir(dir);
	path[0] = 0;
	if (!d)
		return path;
	struct dirent *e;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix))) {
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			break;
		}
	closedir(d);
	return path;
}

#endif
