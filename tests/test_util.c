/* test_util — UTF-8, trimming, times, durations, buffers. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "t.h"

int main(void)
{
	size_t bad = 0;
	T_OK(utf8_valid("aé中😀", strlen("aé中😀"), &bad), "valid");
	T_OK(!utf8_valid("ab\xC3", 3, &bad) && bad == 2, "truncated sequence at 2");
	T_OK(!utf8_valid("\xED\xA0\x80", 3, &bad), "surrogate rejected");
	T_OK(!utf8_valid("\xC0\xAF", 2, &bad), "overlong rejected");
	T_OK(!utf8_valid("\xFF", 1, &bad), "0xFF rejected");
	const char *mix = "ab中文😀";
	T_INT(utf8_clip(mix, strlen(mix), 3), 2);  /* inside 中 -> before it */
	T_INT(utf8_clip(mix, strlen(mix), 5), 5);
	T_INT(utf8_clip(mix, strlen(mix), 10), 8); /* inside the emoji */
	T_INT(utf8_chars(mix, strlen(mix)), 5);
	char out[4];
	uint32_t cp;
	T_INT(utf8_encode(0x1F600, out), 4);
	T_INT(utf8_decode(out, 4, &cp), 4);
	T_INT(cp, 0x1F600);
	T_OK(is_cjk(0x4E2D) && !is_cjk('a') && !is_cjk(0x3002), "is_cjk");

	char t1[] = "\xE3\x80\x80 hello\xC2\xA0 \n";
	T_STR(str_trim(t1), "hello");
	char t2[] = "   ";
	T_STR(str_trim(t2), "");
	char t3[] = "中文";
	T_STR(str_trim(t3), "中文");

	int64_t t = 0;
	T_INT(time_parse_iso("2026-11-22T08:18:00Z", &t), 0);
	char iso[32];
	time_iso(t, iso);
	T_STR(iso, "2026-11-22T08:18:00Z");
	T_INT(time_parse_iso("2026-11-22T10:18:00+02:00", &t), 0);
	time_iso(t, iso);
	T_STR(iso, "2026-11-22T08:18:00Z");
	T_INT(time_parse_iso("2026-11-22", &t), 0);
	T_INT(time_parse_iso("2026-13-01T00:00:00Z", &t), -1);
	T_INT(time_parse_iso("yesterday", &t), -1);
	T_INT(time_parse_iso("2026-11-22T08:18:00Zjunk", &t), -1);

	T_INT(duration_parse("24h"), 86400);
	T_INT(duration_parse("7d"), 604800);
	T_INT(duration_parse("5m"), 300);
	T_INT(duration_parse("90"), 90);
	T_INT(duration_parse("h"), -1);
	T_INT(duration_parse("-5m"), -1);
	T_INT(duration_parse("5 parsecs"), -1);

	struct sbuf b = {0};
	for (int i = 0; i < 1000; i++)
		sbuf_addf(&b, "%d,", i);
	T_OK(b.len > 2000 && !strncmp(b.s, "0,1,2,", 6), "sbuf grows");
	char big[600];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	sbuf_reset(&b);
	sbuf_addf(&b, "<%s>", big);
	T_INT(b.len, 601);
	char *s = sbuf_take(&b);
	free(s);
	s = sbuf_take(&b);
	T_STR(s, "");
	free(s);
	struct strv v = {0}, w = {0};
	strv_push(&v, "a"), strv_push(&v, "b");
	strv_push(&w, "a"), strv_push(&w, "b");
	T_OK(strv_equal(&v, &w) && strv_contains(&v, "b") && !strv_contains(&v, "c"), "strv");
	strv_free(&v), strv_free(&w);
	T_OK(hash64("abc", 3, 0) != hash64("abd", 3, 0), "hash differs");

	/* sbuf_room/sbuf_added: a read straight into the buffer */
	struct sbuf r = {0};
	memcpy(sbuf_room(&r, 5), "hello", 5);
	sbuf_added(&r, 3);
	T_STR(r.s, "hel");
	T_INT(r.len, 3);
	sbuf_free(&r);

	/* file_read: whole files of any size (sized from the file, then read
	 * on past a size that lied), empty ones, and the size limit */
	char path[] = "/tmp/ainews-test-util.XXXXXX";
	int fd = mkstemp(path);
	T_OK(fd >= 0, "mkstemp");
	FILE *f = fdopen(fd, "w");
	for (int i = 0; i < 100000; i++)
		fprintf(f, "%d,", i);
	fclose(f);
	char *text = NULL;
	size_t len = 0;
	T_INT(file_read(path, 1 << 20, &text, &len), 0);
	T_INT(len, 588890);
	T_OK(text && !memcmp(text, "0,1,2,", 6) && !memcmp(text + len - 6, "99999,", 6) && !text[len], "file content");
	free(text);
	T_INT(file_read(path, 588889, &text, &len), -2);
	T_INT(file_read(path, 588890, &text, &len), 0);
	free(text);
	f = fopen(path, "w");
	fclose(f);
	T_INT(file_read(path, 100, &text, &len), 0);
	T_INT(len, 0);
	T_STR(text, "");
	free(text);
	T_INT(file_read("/proc/self/status", 1 << 20, &text, &len), 0); /* stat says 0 bytes */
	T_OK(len > 100 && strstr(text, "VmRSS") != NULL, "a /proc file read whole (%zu bytes)", len);
	free(text);
	unlink(path);
	T_INT(file_read(path, 100, &text, &len), -1);
	return t_done();
}
