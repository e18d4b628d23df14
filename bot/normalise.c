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

#include <opencc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct normaliser {
	opencc_t cc;
};

struct normaliser *normaliser_new(char **err)
{
	opencc_t cc = opencc_open("tw2sp.json");
	if (cc == (opencc_t)-1) {
		if (err)
			*err = xasprintf("opencc: cannot load tw2sp.json: %s", opencc_error());
		return NULL;
	}
	struct normaliser *n = xcalloc(1, sizeof *n);
	n->cc = cc;
	return n;
}

void normaliser_free(struct normaliser *n)
{
	if (!n)
		return;
	opencc_close(n->cc);
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
	char *conv = opencc_convert_utf8(n->cc, joined.s, joined.len);
	sbuf_free(&joined);
	if (!conv) {
		*out_len = len;
		return buf;
	}
	size_t nlines = 0;
	for (const char *p = conv; (p = strchr(p, '\n')); p++)
		nlines++;
	if (nlines != rv->n) {
		opencc_convert_utf8_free(conv);
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
	opencc_convert_utf8_free(conv);
	free(buf);
	*out_len = out.len;
	return sbuf_take(&out);
}

char *normalise_text(struct normaliser *n, const char *text, size_t len, size_t *out_len)
{
	const unsigned char *s = (const unsigned char *)(text ? text : "");
	if (!text)
		len = 0;
	size_t cap = len + 16, o = 0;
	char *buf = xmalloc(cap);
	struct runv runs = {0};
	size_t run_start = 0; /* start of the current space-delimited run */
	int run_cjk = 0;
	int pending_space = 0; /* a space is owed before the next visible char */

	for (size_t i = 0; i < len;) {
		uint32_t c = s[i];
		size_t step = 1;
		if (c >= 0x80) {
			int k = utf8_decode((const char *)s + i, len - i, &c);
			step = k > 0 ? (size_t)k : 1;
			if (is_ignorable_cp(c)) {
				i += step;
				continue;
			}
			if (is_space_cp(c))
				c = ' ';
			else
				c = fold_cp(c);
		} else if (c <= ' ' || c == 0x7F) {
			c = ' ';
		} else if (c >= 'A' && c <= 'Z') {
			c += 32;
		}
		i += step;

		if (c == ' ') {
			if (o > 0 && !pending_space) {
				pending_space = 1;
				if (run_cjk)
					runv_push(&runs, run_start, o);
				run_cjk = 0;
			}
			continue;
		}
		if (o + 5 > cap) {
			cap = cap * 2 + 16;
			buf = xrealloc(buf, cap);
		}
		if (pending_space) {
			buf[o++] = ' ';
			pending_space = 0;
			run_start = o;
		}
		if (c < 0x80) {
			buf[o++] = (char)c;
		} else {
			if (!run_cjk && is_cjk(c))
				run_cjk = 1;
			o += (size_t)utf8_encode(c, buf + o);
		}
	}
	if (run_cjk)
		runv_push(&runs, run_start, o);
	buf[o] = 0;

	if (n && runs.n)
		buf = convert_runs(n, buf, o, &runs, &o);
	free(runs.v);
	if (out_len)
		*out_len = o;
	return buf;
}

char *normalise_str(struct normaliser *n, const char *s)
{
	return normalise_text(n, s, s ? strlen(s) : 0, NULL);
}
