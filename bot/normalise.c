/* normalise — fold text to the one form every matcher sees (see normalise.h).
 *
 * Two passes: a byte loop that folds case, width and spaces and notes which
 * space-delimited runs hold CJK characters, then (only when there are such
 * runs) one OpenCC call over those runs joined by '\n'. The fold pass turns
 * every newline into a space, so '\n' is free to act as the separator, and
 * OpenCC passes it through untouched. Sending only CJK runs halves OpenCC's
 * work on bilingual stories; OpenCC's phrases never span a space, so the
 * result is the same as converting the whole text.
 */
#define _GNU_SOURCE
#include "normalise.h"

#include "util.h"

#include <dlfcn.h>
#include <opencc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* trad_map: the BMP ideographs OpenCC's character table (t2s) maps to
 * another character. Seeing one means the text is Traditional; text
 * without any is Simplified (or not Chinese) and skips OpenCC. Made at
 * build time by bot/gen_trad.c. */
#include "trad_map.h"

/* OpenCC is loaded on first use (dlopen): it brings libstdc++ and ~1 MB of
 * dictionaries, ~3 MB of memory a daemon that never meets Traditional text
 * should not carry. The functions come from the header's declarations. */
struct opencc_lib {
	void *dl;
	__typeof__(opencc_open) *open;
	__typeof__(opencc_close) *close;
	__typeof__(opencc_convert_utf8) *convert;
	__typeof__(opencc_convert_utf8_free) *convert_free;
	__typeof__(opencc_error) *error;
};

struct normaliser {
	struct opencc_lib lib;
	opencc_t cc;
	int state; /* 0 not loaded yet, 1 ready, -1 unavailable */
	char err[256];
};

static int is_trad(uint32_t c)
{
	return c < 0x10000 && (trad_map[c >> 3] >> (c & 7)) & 1;
}

static int opencc_ready(struct normaliser *n)
{
	if (n->state)
		return n->state > 0;
	n->state = -1;
	static const char *const names[] = {"libopencc.so.1.1", "libopencc.so.1", "libopencc.so"};
	for (size_t i = 0; i < sizeof names / sizeof *names && !n->lib.dl; i++)
		n->lib.dl = dlopen(names[i], RTLD_LAZY | RTLD_LOCAL);
	if (!n->lib.dl) {
		snprintf(n->err, sizeof n->err, "opencc: %s", dlerror());
		return 0;
	}
	*(void **)&n->lib.open = dlsym(n->lib.dl, "opencc_open");
	*(void **)&n->lib.close = dlsym(n->lib.dl, "opencc_close");
	*(void **)&n->lib.convert = dlsym(n->lib.dl, "opencc_convert_utf8");
	*(void **)&n->lib.convert_free = dlsym(n->lib.dl, "opencc_convert_utf8_free");
	*(void **)&n->lib.error = dlsym(n->lib.dl, "opencc_error");
	if (!n->lib.open || !n->lib.close || !n->lib.convert || !n->lib.convert_free || !n->lib.error) {
		snprintf(n->err, sizeof n->err, "opencc: the library lacks its C API");
		return 0;
	}
	n->cc = n->lib.open("tw2sp.json");
	if (n->cc == (opencc_t)-1) {
		snprintf(n->err, sizeof n->err, "opencc: cannot load tw2sp.json: %s", n->lib.error());
		return 0;
	}
	n->state = 1;
	return 1;
}

struct normaliser *normaliser_new(char **err)
{
	(void)err;
	return xcalloc(1, sizeof(struct normaliser));
}

int normaliser_opencc_loaded(const struct normaliser *n)
{
	return n && n->state > 0;
}

const char *normaliser_opencc_error(const struct normaliser *n)
{
	return n && n->state < 0 ? n->err : NULL;
}

void normaliser_free(struct normaliser *n)
{
	if (!n)
		return;
	if (n->state > 0)
		n->lib.close(n->cc);
	if (n->lib.dl)
		dlclose(n->lib.dl);
	free(n);
}

/* Simple lower-case mapping for the scripts news text uses with capitals.
 * Not full Unicode case folding (no ß → ss): one code point in, one out,
 * which keeps the output length predictable and is all matching needs. */
static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	if (c >= 0x100 && c <= 0x17F) {
		if ((c <= 0x137 || (c >= 0x14A && c <= 0x177)) && !(c & 1))
			return c + 1;
		if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && (c & 1))
			return c + 1;
		if (c == 0x178)
			return 0xFF;
		return c;
	}
	if (c >= 0x370 && c <= 0x3FF) {
		if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
			return c + 32;
		if (c == 0x386)
			return 0x3AC;
		if (c >= 0x388 && c <= 0x38A)
			return c + 37;
		if (c == 0x38C)
			return 0x3CC;
		if (c == 0x38E || c == 0x38F)
			return c + 63;
		if (c == 0x3C2) /* final sigma matches the medial form */
			return 0x3C3;
		return c;
	}
	if (c >= 0x400 && c <= 0x42F)
		return c < 0x410 ? c + 80 : c + 32;
	if (c >= 0xFF21 && c <= 0xFF3A) /* full-width capitals */
		return c - 0xFEE0 + 32;
	if (c >= 0xFF01 && c <= 0xFF5E)
		return c - 0xFEE0;
	return c;
}

static int is_space_cp(uint32_t c)
{
	return c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_ignorable_cp(uint32_t c)
{
	return c == 0xAD || (c >= 0x200B && c <= 0x200D) || c == 0x2060 || c == 0xFEFF;
}

/* A space-delimited run of the folded text that holds a CJK character:
 * [start, end) offsets into the folded buffer. */
struct run {
	size_t start, end;
};

struct runv {
	struct run *v;
	size_t n, cap;
};

static void runv_push(struct runv *rv, size_t start, size_t end)
{
	if (rv->n == rv->cap) {
		rv->cap = rv->cap ? rv->cap * 2 : 8;
		rv->v = xrealloc(rv->v, rv->cap * sizeof *rv->v);
	}
	rv->v[rv->n].start = start;
	rv->v[rv->n].end = end;
	rv->n++;
}

/* Replace each run of buf with its tw2sp conversion. On any OpenCC surprise
 * (error, different number of lines) buf is left as it is. */
static char *convert_runs(struct normaliser *n, char *buf, size_t len, const struct runv *rv,
			  size_t *out_len)
{
	struct sbuf joined = {0};
	for (size_t i = 0; i < rv->n; i++) {
		sbuf_add(&joined, buf + rv->v[i].start, rv->v[i].end - rv->v[i].start);
		sbuf_addc(&joined, '\n');
	}
	char *conv = opencc_ready(n) ? n->lib.convert(n->cc, joined.s, joined.len) : NULL;
	sbuf_free(&joined);
	if (!conv) {
		*out_len = len;
		return buf;
	}
	size_t nlines = 0;
	for (const char *p = conv; (p = strchr(p, '\n')); p++)
		nlines++;
	if (nlines != rv->n) {
		n->lib.convert_free(conv);
		*out_len = len;
		return buf;
	}
	struct sbuf out = {0};
	size_t at = 0;
	const char *q = conv;
	for (size_t i = 0; i < rv->n; i++) {
		const char *qe = strchr(q, '\n');
		sbuf_add(&out, buf + at, rv->v[i].start - at);
		sbuf_add(&out, q, (size_t)(qe - q));
		at = rv->v[i].end;
		q = qe + 1;
	}
	sbuf_add(&out, buf + at, len - at);
	n->lib.convert_free(conv);
	free(buf);
	*out_len = out.len;
	return sbuf_take(&out);
}

int normalise_is_traditional(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = 0; i < len;) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		uint32_t c;
		int k = utf8_decode(text + i, len - i, &c);
		if (k < 1)
			k = 1;
		if (is_trad(c))
			return 1;
		i += (size_t)k;
	}
	return 0;
}

char *normalise_text(struct normaliser *n, const char *text, size_t len, size_t *out_len)
{
	return normalise_text_mode(n, text, len, out_len, NORMALISE_AUTO);
}

/* The space-delimited runs of folded text that hold a CJK character. */
static void find_runs(const char *buf, size_t len, struct runv *rv)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t start = 0;
	int has_cjk = 0;
	for (size_t i = 0; i <= len;) {
		if (i == len || b[i] == ' ') {
			if (has_cjk)
				runv_push(rv, start, i);
			has_cjk = 0;
			start = ++i;
			continue;
		}
		if (b[i] < 0x80) {
			i++;
			continue;
		}
		uint32_t c;
		int k = utf8_decode(buf + i, len - i, &c);
		if (k < 1)
			k = 1;
		if (is_cjk(c))
			has_cjk = 1;
		i += (size_t)k;
	}
}

/* ASCII bytes folded: 0 for the ones that become a space (controls and
 * the space itself), capitals to lower case, the rest as they are. */
static const uint8_t ascii_fold[128] = {
	['!'] = '!', ['"'] = '"', ['#'] = '#', ['$'] = '$', ['%'] = '%', ['&'] = '&', ['\''] = '\'',
	['('] = '(', [')'] = ')', ['*'] = '*', ['+'] = '+', [','] = ',', ['-'] = '-', ['.'] = '.',
	['/'] = '/', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4', ['5'] = '5',
	['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', [':'] = ':', [';'] = ';', ['<'] = '<',
	['='] = '=', ['>'] = '>', ['?'] = '?', ['@'] = '@', ['A'] = 'a', ['B'] = 'b', ['C'] = 'c',
	['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i', ['J'] = 'j',
	['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p', ['Q'] = 'q',
	['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w', ['X'] = 'x',
	['Y'] = 'y', ['Z'] = 'z', ['['] = '[', ['\\'] = '\\', [']'] = ']', ['^'] = '^', ['_'] = '_',
	['`'] = '`', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd', ['e'] = 'e', ['f'] = 'f',
	['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k', ['l'] = 'l', ['m'] = 'm',
	['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r', ['s'] = 's', ['t'] = 't',
	['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y', ['z'] = 'z', ['{'] = '{',
	['|'] = '|', ['}'] = '}', ['~'] = '~',
};

char *normalise_text_mode(struct normaliser *n, const char *text, size_t len, size_t *out_len, int mode)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	if (!text)
		len = 0;
	/* ASCII never grows; a multi-byte character grows at most to 3
	 * bytes from 1 (an invalid byte becomes U+FFFD), checked as it comes. */
	size_t cap = len + 16, o = 0;
	char *buf = xmalloc(cap);
	/* A space is written as soon as one is due, unless one was just
	 * written (runs collapse) or nothing was (leading spaces go); a
	 * trailing one is taken back at the end. */
	int last_space = 1;
	int traditional = 0; /* saw a character only Traditional text uses */
	int any_cjk = 0;

	for (size_t i = 0; i < len;) {
		uint32_t c = s[i];
		if (c < 0x80) {
			/* English: sixteen bytes at a time (SSE2, every x86-64;
			 * eight elsewhere) while they are printable ASCII with no
			 * two spaces in a row; capitals folded in place. */
#ifdef __SSE2__
			while (len - i >= 16) {
				__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
				__m128i sp = _mm_cmpeq_epi8(x, _mm_set1_epi8(' '));
				__m128i stop = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(0x7F)),
							    _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x));
				stop = _mm_or_si128(_mm_or_si128(stop, x), _mm_and_si128(sp, _mm_slli_si128(sp, 1)));
				/* non-ASCII (the high bit), DEL, controls, two spaces,
				 * a space after one already written */
				unsigned m = (unsigned)(_mm_movemask_epi8(stop) | (_mm_movemask_epi8(sp) & last_space));
				__m128i upper = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('A' - 1)),
							      _mm_cmplt_epi8(x, _mm_set1_epi8('Z' + 1)));
				x = _mm_or_si128(x, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
				/* all sixteen written; the ones before the first stop kept */
				_mm_storeu_si128((__m128i *)(void *)(buf + o), x);
				unsigned k = m ? (unsigned)__builtin_ctz(m) : 16;
				o += k;
				i += k;
				if (k)
					last_space = s[i - 1] == ' ';
				if (m)
					break;
			}
#else
			const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL,
				       lows = 0x7F7F7F7F7F7F7F7FULL;
			while (len - i >= 8) {
				uint64_t x = load64le(s + i);
				uint64_t del = x ^ (ones * 0x7F), sp = x ^ (ones * ' ');
				/* exact per-byte "is zero" masks */
				uint64_t is_del = ~(((del & lows) + lows) | del | lows);
				uint64_t is_sp = ~(((sp & lows) + lows) | sp | lows);
				uint64_t is_ctl = ((x - ones * 0x20) & ~x & highs);
				if ((x & highs) | is_del | is_ctl | (is_sp & (is_sp << 8)) | (last_space ? is_sp & 0x80 : 0))
					break;
				uint64_t upper = ((x + ones * (0x80 - 'A')) & ~(x + ones * (0x80 - 'Z' - 1))) & highs;
				x |= upper >> 2;
				store64le(buf + o, x);
				o += 8;
				i += 8;
				last_space = (x >> 56) == ' ';
			}
#endif
			if (i >= len)
				break;
			c = s[i];
			if (c >= 0x80)
				continue;
			unsigned f = ascii_fold[c];
			i++;
			if (!f) {
				if (!last_space) {
					buf[o++] = ' ';
					last_space = 1;
				}
				continue;
			}
			buf[o++] = (char)f;
			last_space = 0;
			continue;
		}
		if (c >= 0xE4 && c <= 0xE9 && len - i >= 3 && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
			/* U+4000..U+9FFF: the common CJK ideographs need no folding and
			 * keep their bytes; only the Traditional test looks at them. */
			c = (c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
			if (c >= 0x4E00) {
				/* The whole run of them, copied at once: it keeps
				 * its length, and the buffer has room for the rest
				 * of the input (see the multi-byte path below). */
				size_t j = i + 3;
				/* Looking for a Traditional-only one until one is
				 * found, then only for the run's end; each
				 * character's bytes are checked as search_add()
				 * checks them. */
				int look = !traditional && n;
				if (look && is_trad(c))
					traditional = 1, look = 0;
				while (len - j >= 3 && (unsigned)(s[j] - 0xE4) <= 5) {
					unsigned x1 = s[j + 1] ^ 0x80u, x2 = s[j + 2] ^ 0x80u;
					c = (s[j] & 0x0Fu) << 12 | x1 << 6 | x2;
					if ((x1 | x2) > 0x3F || c < 0x4E00)
						break;
					if (look && is_trad(c))
						traditional = 1, look = 0;
					j += 3;
				}
				any_cjk = 1;
				memcpy(buf + o, s + i, j - i);
				o += j - i;
				i = j;
				last_space = 0;
				continue;
			}
		}
		size_t step;
		if (c >= 0xE0 && c < 0xF0 && len - i >= 3 && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
		    (c != 0xE0 || s[i + 1] >= 0xA0) && (c != 0xED || s[i + 1] < 0xA0)) {
			c = (c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
			step = 3;
		} else {
			int k = utf8_decode((const char *)s + i, len - i, &c);
			step = k > 0 ? (size_t)k : 1;
		}
		i += step;
		if (is_ignorable_cp(c))
			continue;
		/* Room for this character (up to 4 bytes) and, as the eight-byte
		 * ASCII path assumes, for the rest of the input unchanged and
		 * the terminator: an invalid byte grows to three. */
		if (o + 5 + (len - i) > cap) {
			cap = (o + 5 + (len - i)) * 2 + 16;
			buf = xrealloc(buf, cap);
		}
		if (is_space_cp(c)) {
			if (!last_space) {
				buf[o++] = ' ';
				last_space = 1;
			}
			continue;
		}
		c = fold_cp(c);
		if (is_cjk(c)) {
			any_cjk = 1;
			if (!traditional && n && is_trad(c))
				traditional = 1;
		}
		if (c < 0x80)
			buf[o++] = (char)c;
		else
			o += (size_t)utf8_encode(c, buf + o);
		last_space = 0;
	}
	if (o && last_space)
		o--;
	buf[o] = 0;

	if (n && any_cjk && mode != NORMALISE_FOLD && (traditional || mode == NORMALISE_FORCE)) {
		struct runv runs = {0};
		find_runs(buf, o, &runs);
		if (runs.n)
			buf = convert_runs(n, buf, o, &runs, &o);
		free(runs.v);
	}
	if (out_len)
		*out_len = o;
	return buf;
}

char *normalise_str(struct normaliser *n, const char *s)
{
	return normalise_text(n, s, s ? strlen(s) : 0, NULL);
}
