/* test_normalise — folding and Traditional → Simplified on real strings. */
#include <stdint.h>

#include "normalise.h"
#include "t.h"
#include "util.h"

static struct normaliser *nz;

/* Normalise s and compare with want; the length out-parameter must agree. */
static void check(const char *s, const char *want, int line)
{
	size_t len = 12345;
	char *got = normalise_text(nz, s, strlen(s), &len);
	if (strcmp(got, want) || len != strlen(got)) {
		t_fail++;
		printf("not ok - line %d: normalise(\"%s\")\n     got: \"%s\" (len %zu)\n    want: \"%s\"\n",
		       line, s, got, len, want);
	} else {
		t_pass++;
	}
	free(got);
}
#define CHECK(s, want) check(s, want, __LINE__)

/* The fast paths (eight ASCII bytes at a time, CJK bytes copied as they
 * are) against a one-character-at-a-time reference, on random text made
 * of pieces whose folding is known: ASCII, spaces and controls, accented
 * and full-width letters, ideographs, zero-width and invalid bytes. */
struct piece {
	const char *in, *out; /* out: folded; "" dropped; " " a space */
};

static void test_fast_paths_random(void)
{
	static const struct piece pieces[] = {
		{"a", "a"}, {"Z", "z"}, {"Q", "q"}, {"m", "m"}, {"7", "7"}, {".", "."}, {"-", "-"},
		{"@", "@"}, {"[", "["}, {"`", "`"}, {"{", "{"}, {"~", "~"}, {" ", " "}, {"\n", " "},
		{"\t", " "}, {"\r", " "}, {"\x01", " "}, {"\x7f", " "}, {"\xc2\xa0", " "},
		{"\xe3\x80\x80", " "}, {"\xe2\x80\x8b", ""}, {"\xc2\xad", ""}, {"\xc3\x89", "\xc3\xa9"},
		{"\xc3\xa9", "\xc3\xa9"}, {"\xef\xbc\xa1", "a"}, {"\xef\xbc\x83", "#"},
		{"\xe4\xb8\xad", "\xe4\xb8\xad"}, {"\xe7\xae\x97", "\xe7\xae\x97"},
		{"\xe3\x81\x8b", "\xe3\x81\x8b"}, {"\xff", "\xef\xbf\xbd"},
	};
	const size_t np = sizeof pieces / sizeof *pieces;
	uint64_t r = 0x2545F4914F6CDD1DULL;
	int bad = 0;
	for (int it = 0; it < 20000; it++) {
		struct sbuf in = {0}, want = {0};
		int last_space = 1;
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		int n = (int)(r % 90);
		for (int k = 0; k < n; k++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			/* mostly plain letters, so the eight-byte path runs */
			const struct piece *p = &pieces[(r >> 8) % 4 ? (r >> 16) % 13 : (r >> 16) % np];
			sbuf_adds(&in, p->in);
			if (!*p->out)
				continue;
			if (!strcmp(p->out, " ")) {
				if (!last_space)
					sbuf_addc(&want, ' ');
				last_space = 1;
				continue;
			}
			sbuf_adds(&want, p->out);
			last_space = 0;
		}
		if (want.len && want.s[want.len - 1] == ' ')
			want.len--;
		size_t len;
		char *got = normalise_text(nz, in.s ? in.s : "", in.len, &len);
		if ((len != want.len || memcmp(got, want.s ? want.s : "", len)) && bad++ < 3)
			printf("# normalise(\"%.*s\") = \"%s\", want \"%.*s\"\n", (int)in.len, in.s, got,
			       (int)want.len, want.s);
		free(got);
		sbuf_free(&in);
		sbuf_free(&want);
	}
	T_INT(bad, 0);
}

int main(void)
{
	char *err = NULL;
	nz = normaliser_new(&err);
	T_OK(nz != NULL, "normaliser_new: %s", err ? err : "?");
	if (!nz)
		return t_done();

	test_fast_paths_random();
	/* Invalid bytes grow to three (U+FFFD) and a long ASCII run follows,
	 * written eight bytes at a time: the buffer must have grown for it. */
	{
		char in[241], want[40 * 3 + 200 + 1];
		memset(in, 0xff, 40);
		memset(in + 40, 'a', 200);
		in[240] = 0;
		for (int k = 0; k < 40; k++)
			memcpy(want + 3 * k, "\xef\xbf\xbd", 3);
		memset(want + 120, 'a', 200);
		want[320] = 0;
		CHECK(in, want);
	}
	/* OpenCC is loaded by the first text that needs it, not before. */
	T_INT(normaliser_opencc_loaded(nz), 0);
	free(normalise_str(nz, "English and 简体中文 only"));
	T_INT(normaliser_opencc_loaded(nz), 0);
	free(normalise_str(nz, "資料"));
	T_INT(normaliser_opencc_loaded(nz), 1);
	T_OK(normaliser_opencc_error(nz) == NULL, "no OpenCC error");

	/* Full-width forms and the ideographic space. */
	CHECK("ＧＰＵ　Ｎｖｉｄｉａ", "gpu nvidia");
	CHECK("ＡＩ算力，１．６吉瓦！", "ai算力,1.6吉瓦!");

	/* Traditional (Taiwan) → Simplified, phrases included. */
	CHECK("資料中心", "数据中心");
	/* Alone, 晶片 and 矽谷 are written in characters both scripts share:
	 * AUTO leaves them (the text is not Traditional), FORCE converts, and
	 * inside Traditional text they convert with the rest. */
	CHECK("晶片", "晶片");
	CHECK("矽谷", "矽谷");
	{
		char *f = normalise_text_mode(nz, "晶片 矽谷", strlen("晶片 矽谷"), NULL, NORMALISE_FORCE);
		T_STR(f, "芯片 硅谷");
		free(f);
		f = normalise_text_mode(nz, "輝達 GPU", strlen("輝達 GPU"), NULL, NORMALISE_FOLD);
		T_STR(f, "輝達 gpu");
		free(f);
	}
	CHECK("台灣的晶片廠在矽谷", "台湾的芯片厂在硅谷");
	/* Simplified text is not sent through OpenCC at all. */
	CHECK("什么是核心技术", "什么是核心技术");
	CHECK("輝達", "辉达");
	CHECK("微軟", "微软");
	CHECK("字節跳動", "字节跳动");
	CHECK("輝達與資料中心業者簽約", "辉达与数据中心业者签约");
	CHECK("Meta與Crusoe達成協議", "meta与crusoe达成协议");

	/* Simplified text keeps its characters... */
	CHECK("英伟达 数据中心 芯片", "英伟达 数据中心 芯片");
	/* ...and where tw2sp rewrites a Simplified word, the Traditional form of
	 * the same word lands on the same result, which is what matching needs. */
	{
		char *a = normalise_text_mode(nz, "核心数据", strlen("核心数据"), NULL, NORMALISE_FORCE);
		char *b = normalise_str(nz, "核心資料");
		T_STR(a, b);
		free(a);
		free(b);
	}

	/* Runs without CJK are not sent to OpenCC; runs with it are converted
	 * in place, whatever their neighbours. */
	CHECK("Nvidia 輝達 GPU 晶片 end", "nvidia 辉达 gpu 芯片 end");

	/* ASCII round-trips lowercased; spaces collapse and trim. */
	CHECK("Meta Signs AI Computing Power Agreement with Crusoe.",
	      "meta signs ai computing power agreement with crusoe.");
	CHECK("  data\n\tcenter \r\n ", "data center");
	CHECK("a\xC2\xA0" "b\xE2\x80\x83" "c", "a b c");
	CHECK("", "");

	/* Case folding beyond ASCII. */
	CHECK("ÉCOLE Ça", "école ça");
	CHECK("ŁÓDŹ", "łódź");
	CHECK("ΣΟΦΙΑ Ωμέγα", "σοφια ωμέγα");
	CHECK("МОСКВА Ёлка", "москва ёлка");

	/* Zero-width characters vanish, invalid UTF-8 becomes U+FFFD, NUL is a space. */
	CHECK("Nvi\xE2\x80\x8B" "dia", "nvidia");
	CHECK("a\xFF" "b", "a\xEF\xBF\xBD" "b");
	{
		size_t len;
		char *got = normalise_text(nz, "GPU\0GPU", 7, &len);
		T_STR(got, "gpu gpu");
		T_INT(len, 7);
		free(got);
	}

	/* Idempotent: normalised text normalises to itself. */
	{
		const char *samples[] = {"輝達與資料中心業者簽約", "ＧＰＵ　Ｎｖｉｄｉａ", "Zuckerberg 祖克柏 小扎"};
		for (size_t i = 0; i < 3; i++) {
			char *a = normalise_str(nz, samples[i]);
			char *b = normalise_str(nz, a);
			T_STR(b, a);
			free(a);
			free(b);
		}
	}

	/* Without a normaliser, folding still happens but no conversion. */
	{
		char *got = normalise_text(NULL, "ＧＰＵ 資料", strlen("ＧＰＵ 資料"), NULL);
		T_STR(got, "gpu 資料");
		free(got);
		got = normalise_str(nz, NULL);
		T_STR(got, "");
		free(got);
	}

	/* A whole sample: length shrinks or stays, output is valid UTF-8 and
	 * holds no upper case or line breaks. */
	{
		char *text = NULL;
		size_t len = 0, olen = 0;
		int rc = file_read(t_sample("002"), 1 << 20, &text, &len);
		T_INT(rc, 0);
		if (rc == 0) {
			char *out = normalise_text(nz, text, len, &olen);
			T_OK(utf8_valid(out, olen, NULL), "sample 002 output is valid UTF-8");
			T_OK(olen <= len, "sample 002 output %zu <= input %zu", olen, len);
			T_OK(strpbrk(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZ\n\t") == NULL, "sample folded");
			T_OK(strstr(out, "chatgpt") != NULL, "ChatGPT folded");
			/* 領網域 is a Traditional artifact in this Simplified article. */
			T_OK(strstr(out, "網") == NULL, "网 converted");
			T_OK(strstr(out, "通义千问") != NULL, "Simplified kept");
			free(out);
		}
		free(text);
	}

	normaliser_free(nz);
	normaliser_free(NULL);
	return t_done();
}
