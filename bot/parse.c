/* parse — site story pages and plain articles into struct story (DESIGN §2).
 *
 * Both parsers first cut the text into trimmed line spans that point into the
 * caller's text (no copies, no line-length limit) and then walk them once.
 * Strings are copied only when they are stored in the story. Everything is
 * linear in the input: sections are found by one forward scan, paragraphs are
 * built in sbufs, never by repeated concatenation.
 */
#define _GNU_SOURCE
#include "parse.h"

#include <stdlib.h>
#include <string.h>

/* ---- bytes, code points, spans ------------------------------------------ */

static int a_alpha(unsigned char c)
{
	return (c | 32) >= 'a' && (c | 32) <= 'z';
}

static int a_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int a_alnum(unsigned char c)
{
	return a_alpha(c) || a_digit(c);
}

static unsigned char a_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 32) : c;
}

/* Decode one code point; *w is always >= 1 so loops make progress. */
static uint32_t cp_at(const char *s, size_t n, size_t *w)
{
	uint32_t cp;
	int k = utf8_decode(s, n, &cp);
	*w = k > 0 ? (size_t)k : 1;
	return cp;
}

/* Width of the space character at s, 0 when s does not start with one.
 * Same set as util.c's str_trim (which keeps its table private). */
static size_t sp_len(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	if (!n)
		return 0;
	if (u[0] == ' ' || u[0] == '\t' || u[0] == '\n' || u[0] == '\r' || u[0] == '\f' || u[0] == '\v')
		return 1;
	if (n >= 2 && u[0] == 0xC2 && u[1] == 0xA0)
		return 2;
	if (n >= 3 && u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80)
		return 3;
	if (n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
		return 3;
	if (n >= 3 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] <= 0x8B && u[2] >= 0x80))
		return 3;
	return 0;
}

static void span_trim(const char **s, size_t *n)
{
	const char *p = *s;
	size_t len = *n, k;
	while (len && (k = sp_len(p, len))) {
		p += k;
		len -= k;
	}
	while (len) {
		size_t b = len - 1;
		while (b > 0 && ((unsigned char)p[b] & 0xC0) == 0x80)
			b--;
		if (sp_len(p + b, len - b) != len - b)
			break;
		len = b;
	}
	*s = p;
	*n = len;
}

static int sp_starts(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n >= k && !memcmp(s, lit, k);
}

static int mem_eq_ci(const char *a, const char *b, size_t k)
{
	for (size_t i = 0; i < k; i++)
		if (a_lower((unsigned char)a[i]) != a_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int sp_starts_ci(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n >= k && mem_eq_ci(s, lit, k);
}

/* Starts with lit as a whole ASCII word: "Hot 热度" yes, "Hotel" no. */
static int sp_starts_word_ci(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return sp_starts_ci(s, n, lit) && (n == k || !a_alnum((unsigned char)s[k]));
}

static int sp_eq_ci(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && sp_starts_ci(s, n, lit);
}

static const char *sp_find(const char *s, size_t n, const char *lit)
{
	return memmem(s, n, lit, strlen(lit));
}

/* Letters of any script count; digits, punctuation, symbols and emoji do not:
 * a line of "---" or "👉" is not a title. */
static int is_letter(uint32_t cp)
{
	if (cp < 0x80)
		return a_alpha((unsigned char)cp);
	if (cp < 0xC0 || cp == 0xFFFD)
		return 0;
	if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
	    (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
	    (cp >= 0xFF5B && cp <= 0xFF65) || (cp >= 0xE000 && cp <= 0xF8FF) || (cp >= 0x1F000 && cp <= 0x1FAFF))
		return 0;
	return 1;
}

static int meaningful(const char *s, size_t n)
{
	for (size_t i = 0, w; i < n; i += w)
		if (is_letter(cp_at(s + i, n - i, &w)))
			return 1;
	return 0;
}

static int has_cjk(const char *s, size_t n)
{
	for (size_t i = 0, w; i < n; i += w)
		if (is_cjk(cp_at(s + i, n - i, &w)))
			return 1;
	return 0;
}

static void script_count(const char *s, size_t n, size_t *cjk, size_t *latin)
{
	for (size_t i = 0, w; i < n; i += w) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) { /* the bulk of English text: no decoding */
			*latin += a_alpha(c);
			w = 1;
		} else if (is_cjk(cp_at(s + i, n - i, &w))) {
			(*cjk)++;
		}
	}
}

/* One CJK character carries about as much as a word of ~5 letters, so a
 * Chinese paragraph full of English product names still counts as Chinese,
 * while an English one quoting a Chinese name does not. */
static int counts_cjk(size_t cjk, size_t latin)
{
	return cjk > 0 && cjk * 6 >= latin;
}

static int mostly_cjk(const char *s, size_t n)
{
	size_t cjk = 0, latin = 0;
	script_count(s, n, &cjk, &latin);
	return counts_cjk(cjk, latin);
}

/* Where the Chinese half of an "English 中文" line begins: the start of the
 * whitespace-delimited token holding the first CJK character, n if none. */
static size_t zh_start(const char *s, size_t n)
{
	for (size_t i = 0, w; i < n; i += w) {
		if (!is_cjk(cp_at(s + i, n - i, &w)))
			continue;
		size_t k = i;
		while (k > 0) {
			const unsigned char *u = (const unsigned char *)s;
			if (u[k - 1] == ' ' || u[k - 1] == '\t')
				break;
			if (k >= 3 && u[k - 3] == 0xE3 && u[k - 2] == 0x80 && u[k - 1] == 0x80)
				break;
			if (k >= 2 && u[k - 2] == 0xC2 && u[k - 1] == 0xA0)
				break;
			k--;
		}
		return k;
	}
	return n;
}

/* ---- owned results ----------------------------------------------------- */

static char *dup_span(const char *s, size_t n)
{
	span_trim(&s, &n);
	return n ? xstrndup(s, n) : NULL;
}

static void set_str(char **dst, char *v)
{
	if (!v)
		return;
	free(*dst);
	*dst = v;
}

static void set_bilingual(char *dst[STORY_NLANG], const char *s, size_t n)
{
	size_t k = zh_start(s, n);
	set_str(&dst[STORY_EN], dup_span(s, k));
	set_str(&dst[STORY_ZH], dup_span(s + k, n - k));
}

/* Append a trimmed span, one space after what is there: how a paragraph's
 * line breaks collapse. */
static void para_add(struct sbuf *b, const char *s, size_t n)
{
	span_trim(&s, &n);
	if (!n)
		return;
	if (b->len)
		sbuf_addc(b, ' ');
	sbuf_add(b, s, n);
}

static void block_add(struct sbuf *b, const char *s, size_t n)
{
	span_trim(&s, &n);
	if (!n)
		return;
	if (b->len)
		sbuf_add(b, "\n\n", 2);
	sbuf_add(b, s, n);
}

static char *take_or_null(struct sbuf *b)
{
	if (!b->len) {
		sbuf_free(b);
		return NULL;
	}
	return sbuf_take(b);
}

static void push_span(struct strv *sv, const char *s, size_t n)
{
	char *v = dup_span(s, n);
	if (v)
		strv_push_owned(sv, v);
}

static void faqv_free(struct story_faqv *fv)
{
	for (size_t i = 0; i < fv->n; i++) {
		free(fv->v[i].q);
		free(fv->v[i].a);
	}
	free(fv->v);
	memset(fv, 0, sizeof *fv);
}

/* ---- lines ----------------------------------------------------------------- */

/* A trimmed line span into the caller's text; len 0 is a blank line. */
struct line {
	const char *s;
	size_t len;
	int no;
};

struct lines {
	struct line *v;
	size_t n;
};

static void lines_split(const char *text, size_t len, struct lines *ls)
{
	size_t cap = 1;
	if (!text)
		len = 0;
	for (size_t i = 0; i < len; i++) {
		const char *nl = memchr(text + i, '\n', len - i);
		if (!nl)
			break;
		cap++;
		i = (size_t)(nl - text);
	}
	ls->v = xmalloc(cap * sizeof *ls->v);
	ls->n = 0;
	size_t pos = 0;
	int no = 1;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t e = nl ? (size_t)(nl - text) : len;
		struct line *l = &ls->v[ls->n++];
		l->s = text + pos;
		l->len = e - pos;
		l->no = no++;
		span_trim(&l->s, &l->len);
		pos = e + 1;
	}
}

static size_t skip_blank(const struct lines *ls, size_t i)
{
	while (i < ls->n && !ls->v[i].len)
		i++;
	return i;
}

static int last_line_no(const struct lines *ls)
{
	return ls->n ? ls->v[ls->n - 1].no : 1;
}

/* ---- lead sentences ---------------------------------------------------- */

static int is_term(uint32_t cp)
{
	return cp == '.' || cp == '!' || cp == '?' || cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF0E ||
	       cp == 0xFF61;
}

static int is_closer(uint32_t cp)
{
	return cp == '"' || cp == '\'' || cp == ')' || cp == ']' || cp == 0x201D || cp == 0x2019 || cp == 0x300D ||
	       cp == 0x300F || cp == 0x300B || cp == 0x3011 || cp == 0xFF09 || cp == 0x2026;
}

/* Abbreviations that precede a name or number, so their '.' ends nothing. */
static int is_abbrev(const char *w, size_t n)
{
	static const char *const abbr[] = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "mt",
					   "gen", "sen", "rep", "gov", "fig", "approx", NULL};
	for (size_t i = 0; abbr[i]; i++)
		if (sp_eq_ci(w, n, abbr[i]))
			return 1;
	return 0;
}

/* Does the ASCII terminator run [i, j) end a sentence? */
static int ascii_boundary(const char *t, size_t len, size_t start, size_t i, size_t j)
{
	size_t p = i, w;
	while (p > start && ((unsigned char)t[p - 1] & 0xC0) == 0x80)
		p--;
	int after_cjk = p > start && is_cjk(cp_at(t + p - 1, i - p + 1, &w));
	if (j < len) {
		uint32_t cp = cp_at(t + j, len - j, &w);
		/* "1.6", "U.S", "example.com": text glued to the mark is no break,
		 * except in Chinese, which puts no space after an ASCII '?' */
		if (!sp_len(t + j, len - j) && !is_cjk(cp) && !(after_cjk && !a_digit((unsigned char)t[j])))
			return 0;
	}
	if (t[i] != '.' || after_cjk || (i + 1 < len && is_term((unsigned char)t[i + 1])))
		return 1;
	size_t k = i, m = j, s;
	while (k > start && a_alpha((unsigned char)t[k - 1]))
		k--;
	while (m < len && (s = sp_len(t + m, len - m)) && t[m] != '\n')
		m += s;
	if (i - k == 1 || is_abbrev(t + k, i - k))
		return 0; /* "U.S." and initials, "Dr." */
	if ((sp_eq_ci(t + k, i - k, "no") || sp_eq_ci(t + k, i - k, "vol")) && m < len && a_digit((unsigned char)t[m]))
		return 0; /* "No. 1" */
	if (m < len && t[m] >= 'a' && t[m] <= 'z')
		return 0; /* "approx. three": a sentence does not go on in lower case */
	return 1;
}

static void push_sentence(struct strv *out, const char *s, size_t n, size_t *got)
{
	char *v = dup_span(s, n);
	if (v) {
		strv_push_owned(out, v);
		(*got)++;
	}
}

void parse_lead_sentences(const char *text, size_t max, struct strv *out)
{
	if (!text || !max)
		return;
	size_t len = strlen(text), start = 0, i = 0, got = 0;
	while (i < len && got < max) {
		size_t w;
		uint32_t cp = cp_at(text + i, len - i, &w);
		if (cp == '\n') {
			size_t j = i + 1;
			while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r'))
				j++;
			if (j < len && text[j] == '\n') { /* a blank line ends a sentence too */
				push_sentence(out, text + start, i - start, &got);
				start = i = j + 1;
				continue;
			}
			i++;
			continue;
		}
		if (!is_term(cp)) {
			i += w;
			continue;
		}
		size_t j = i + w, w2;
		while (j < len) {
			uint32_t c2 = cp_at(text + j, len - j, &w2);
			if (!is_term(c2) && !is_closer(c2))
				break;
			j += w2;
		}
		if (cp >= 0x80 || ascii_boundary(text, len, start, i, j)) {
			push_sentence(out, text + start, j - start, &got);
			start = j;
		}
		i = j;
	}
	if (got < max && start < len)
		push_sentence(out, text + start, len - start, &got);
}

/* ---- site page: line kinds ------------------------------------------------ */

static int is_header(const struct line *l)
{
	return sp_starts_word_ci(l->s, l->len, "AI News");
}

/* Score label line ("Hot 热度", or either half alone): STORY_HOT.. or -1.
 * *both says the line had both halves, the unmistakable page shape. */
static int score_label(const char *s, size_t n, int *both)
{
	static const struct {
		const char *en, *zh, *zht;
		int idx;
	} lab[] = {
		{"Hot", "热度", "熱度", STORY_HOT},
		{"Quality", "质量", "質量", STORY_QUALITY},
		{"Impact", "影响力", "影響力", STORY_IMPACT},
	};
	if (both)
		*both = 0;
	if (n > 40)
		return -1;
	for (size_t i = 0; i < sizeof lab / sizeof *lab; i++) {
		const char *r = s;
		size_t rn = n;
		int en = 0;
		if (sp_starts_word_ci(r, rn, lab[i].en)) {
			en = 1;
			r += strlen(lab[i].en);
			rn -= strlen(lab[i].en);
			span_trim(&r, &rn);
			if (!rn)
				return lab[i].idx;
		}
		if (sp_eq_ci(r, rn, lab[i].zh) || sp_eq_ci(r, rn, lab[i].zht)) {
			if (both)
				*both = en;
			return lab[i].idx;
		}
		if (en)
			return -1;
	}
	return -1;
}

/* A leading integer 0..100; *used is the bytes it took. -1 when none. */
static int score_value(const char *s, size_t n, size_t *used)
{
	size_t i = 0;
	int v = 0;
	while (i < n && i < 4 && a_digit((unsigned char)s[i]))
		v = v * 10 + (s[i++] - '0');
	if (!i || i > 3 || v > 100 || (i < n && s[i] != ' ' && s[i] != '\t'))
		return -1;
	*used = i;
	return v;
}

/* Is there a score at line i? Returns the label index and stores the value
 * (-1 when the label has no number) and the index of the last line used. */
static int score_at(const struct lines *ls, size_t i, int *value, size_t *last)
{
	const struct line *l = &ls->v[i];
	size_t used;
	int v = score_value(l->s, l->len, &used);
	*value = -1;
	*last = i;
	if (v < 0)
		return score_label(l->s, l->len, NULL);
	if (used < l->len) { /* "70 Hot 热度" on one line */
		const char *r = l->s + used;
		size_t rn = l->len - used;
		span_trim(&r, &rn);
		int k = score_label(r, rn, NULL);
		if (k >= 0)
			*value = v;
		return k;
	}
	size_t j = skip_blank(ls, i + 1);
	if (j >= ls->n)
		return -1;
	int k = score_label(ls->v[j].s, ls->v[j].len, NULL);
	if (k >= 0) {
		*value = v;
		*last = j;
	}
	return k;
}

static int is_analysis_heading(const struct line *l)
{
	return l->len <= 40 && (sp_starts_word_ci(l->s, l->len, "Analysis") || sp_starts(l->s, l->len, "深度分析"));
}

static int is_disclaimer(const struct line *l)
{
	return sp_starts_word_ci(l->s, l->len, "Disclaimer") || sp_starts(l->s, l->len, "免责声明") ||
	       sp_starts(l->s, l->len, "免責聲明");
}

static int is_faq_repeat(const struct line *l)
{
	return sp_starts_word_ci(l->s, l->len, "Frequently Asked Questions") || sp_eq_ci(l->s, l->len, "常见问题") ||
	       sp_eq_ci(l->s, l->len, "常見問題");
}

enum sec { SEC_NONE, SEC_TLDR, SEC_KEY, SEC_ANALYSIS, SEC_INSIGHTS, SEC_FAQ };

/* lang -1: the heading is the same in both languages; the content decides. */
static const struct {
	const char *name;
	enum sec sec;
	int lang;
} headings[] = {
	{"TL;DR", SEC_TLDR, -1},
	{"TLDR", SEC_TLDR, -1},
	{"Key Data", SEC_KEY, STORY_EN},
	{"核心数据", SEC_KEY, STORY_ZH},
	{"核心數據", SEC_KEY, STORY_ZH},
	{"Deep Analysis", SEC_ANALYSIS, STORY_EN},
	{"深度解读", SEC_ANALYSIS, STORY_ZH},
	{"深度解讀", SEC_ANALYSIS, STORY_ZH},
	{"Industry Insights", SEC_INSIGHTS, STORY_EN},
	{"行业启示", SEC_INSIGHTS, STORY_ZH},
	{"行業啟示", SEC_INSIGHTS, STORY_ZH},
	{"FAQ", SEC_FAQ, -1},
};

static enum sec sec_heading(const struct line *l, int *lang)
{
	const char *s = l->s;
	size_t n = l->len;
	if (n > 40)
		return SEC_NONE;
	if (n && s[n - 1] == ':')
		n--;
	else if (n >= 3 && !memcmp(s + n - 3, "：", 3))
		n -= 3;
	span_trim(&s, &n);
	for (size_t i = 0; i < sizeof headings / sizeof *headings; i++)
		if (sp_eq_ci(s, n, headings[i].name)) {
			*lang = headings[i].lang;
			return headings[i].sec;
		}
	return SEC_NONE;
}

/* Lines that cannot be a title or a summary: they belong to later parts. */
static int is_page_marker(const struct lines *ls, size_t i)
{
	int v, lang;
	size_t last;
	const struct line *l = &ls->v[i];
	return score_at(ls, i, &v, &last) >= 0 || is_analysis_heading(l) || is_disclaimer(l) || is_faq_repeat(l) ||
	       sec_heading(l, &lang) != SEC_NONE;
}

/* ---- site page: header times ----------------------------------------------- */

static int64_t en_unit(const char *w, size_t n)
{
	static const struct {
		const char *name;
		int64_t secs;
	} u[] = {
		{"s", 1}, {"sec", 1}, {"secs", 1}, {"second", 1}, {"seconds", 1},
		{"m", 60}, {"min", 60}, {"mins", 60}, {"minute", 60}, {"minutes", 60},
		{"h", 3600}, {"hr", 3600}, {"hrs", 3600}, {"hour", 3600}, {"hours", 3600},
		{"d", 86400}, {"day", 86400}, {"days", 86400},
		{"w", 604800}, {"wk", 604800}, {"wks", 604800}, {"week", 604800}, {"weeks", 604800},
		{"mo", 2592000}, {"mon", 2592000}, {"month", 2592000}, {"months", 2592000},
		{"y", 31536000}, {"yr", 31536000}, {"yrs", 31536000}, {"year", 31536000}, {"years", 31536000},
	};
	for (size_t i = 0; i < sizeof u / sizeof *u; i++)
		if (sp_eq_ci(w, n, u[i].name))
			return u[i].secs;
	return 0;
}

/* Longer units first: "分钟" before "分". */
static int64_t zh_unit(const char *s, size_t n, size_t *used)
{
	static const struct {
		const char *name;
		int64_t secs;
	} u[] = {
		{"秒钟", 1}, {"秒鐘", 1}, {"秒", 1}, {"分钟", 60}, {"分鐘", 60}, {"分", 60},
		{"个小时", 3600}, {"個小時", 3600}, {"小时", 3600}, {"小時", 3600}, {"天", 86400}, {"日", 86400},
		{"个星期", 604800}, {"個星期", 604800}, {"星期", 604800}, {"周", 604800}, {"週", 604800},
		{"个月", 2592000}, {"個月", 2592000}, {"年", 31536000},
	};
	for (size_t i = 0; i < sizeof u / sizeof *u; i++)
		if (sp_starts(s, n, u[i].name)) {
			*used = strlen(u[i].name);
			return u[i].secs;
		}
	return 0;
}

/* Does "更新于" (or 更新於 / 更新) come right before offset i? */
static int zh_after_update(const char *s, size_t i)
{
	while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
		i--;
	static const char *const mark[] = {"更新于", "更新於", "更新", NULL};
	for (size_t k = 0; mark[k]; k++) {
		size_t m = strlen(mark[k]);
		if (i >= m && !memcmp(s + i - m, mark[k], m))
			return 1;
	}
	return 0;
}

struct ago {
	int have;
	int64_t secs;
};

static void ago_set(struct ago *a, int64_t secs)
{
	if (!a->have) {
		a->have = 1;
		a->secs = secs;
	}
}

/* "AI News AI资讯 5h ago Updated 2h ago 更新于 2小时前 48": English times
 * before/after "Updated"; the Chinese ones count only when no English one is
 * there. The trailing view count has no unit and is never taken. */
static void header_times(const char *s, size_t n, struct ago *pub, struct ago *upd)
{
	struct ago en_pub = {0}, en_upd = {0}, zh_pub = {0}, zh_upd = {0};
	size_t upd_pos = (size_t)-1;
	for (size_t i = 0; i < n; i++)
		if ((i == 0 || !a_alnum((unsigned char)s[i - 1])) && sp_starts_word_ci(s + i, n - i, "Updated")) {
			upd_pos = i;
			break;
		}
	size_t i = 0;
	while (i < n) {
		int wstart = i == 0 || !a_alnum((unsigned char)s[i - 1]);
		if (wstart && sp_starts_word_ci(s + i, n - i, "just now")) {
			ago_set(i < upd_pos ? &en_pub : &en_upd, 0);
			i += 8;
			continue;
		}
		if (sp_starts(s + i, n - i, "刚刚") || sp_starts(s + i, n - i, "剛剛")) {
			ago_set(zh_after_update(s, i) ? &zh_upd : &zh_pub, 0);
			i += 6;
			continue;
		}
		if (!a_digit((unsigned char)s[i]) || (i > 0 && a_digit((unsigned char)s[i - 1]))) {
			i++;
			continue;
		}
		size_t j = i;
		int64_t num = 0;
		while (j < n && a_digit((unsigned char)s[j])) {
			if (num < 100000000)
				num = num * 10 + (s[j] - '0');
			j++;
		}
		size_t k = j, w;
		while (k < n && s[k] == ' ')
			k++;
		w = k;
		while (w < n && a_alpha((unsigned char)s[w]))
			w++;
		int64_t mul = en_unit(s + k, w - k);
		if (wstart && mul) {
			size_t m = w;
			while (m < n && s[m] == ' ')
				m++;
			if (sp_starts_word_ci(s + m, n - m, "ago")) {
				ago_set(i < upd_pos ? &en_pub : &en_upd, num * mul);
				i = m + 3;
				continue;
			}
		}
		size_t used;
		mul = zh_unit(s + k, n - k, &used);
		if (mul) {
			size_t m = k + used;
			while (m < n && s[m] == ' ')
				m++;
			if (sp_starts(s + m, n - m, "前")) {
				ago_set(zh_after_update(s, i) ? &zh_upd : &zh_pub, num * mul);
				i = m + 3;
				continue;
			}
		}
		i = j;
	}
	*pub = en_pub.have ? en_pub : zh_pub;
	*upd = en_upd.have ? en_upd : zh_upd;
}

/* ---- site page: analysis sections ------------------------------------------ */

struct page {
	struct story *s;
	const struct lines *ls;
	struct sbuf ana[STORY_NLANG];
	int have_tldr[STORY_NLANG];
	int zh_seen; /* a Chinese-only heading came: the Chinese half has begun */
	unsigned seen[STORY_NLANG]; /* 1 << enum sec, per language */
};

/* Next blank-line-separated paragraph of [*i, end) into b (reset first),
 * lines joined by single spaces. 0 when there is none left. */
static int next_para(const struct lines *ls, size_t *i, size_t end, struct sbuf *b)
{
	sbuf_reset(b);
	while (*i < end && !ls->v[*i].len)
		(*i)++;
	if (*i >= end)
		return 0;
	for (; *i < end && ls->v[*i].len; (*i)++)
		para_add(b, ls->v[*i].s, ls->v[*i].len);
	return 1;
}

/* A list marker ("•", "-", "*", "1.", "2、", "3)") at the start of s: the
 * bytes it takes, 0 when none. "1.6 GW" and "-5%" are not markers. */
static size_t item_marker(const char *s, size_t n)
{
	static const char *const bullets[] = {"•", "·", "●", "▪", "◦", "‣", "○", "■", "–", "—", NULL};
	size_t k = 0;
	for (size_t i = 0; bullets[i]; i++)
		if (sp_starts(s, n, bullets[i])) {
			k = strlen(bullets[i]);
			break;
		}
	if (!k && n && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (n == 1 || s[1] == ' ' || s[1] == '\t'))
		k = 1;
	if (!k) {
		size_t d = 0;
		while (d < n && d < 4 && a_digit((unsigned char)s[d]))
			d++;
		if (!d || d > 3 || d >= n)
			return 0;
		if ((s[d] == '.' && (d + 1 == n || !a_digit((unsigned char)s[d + 1]))) || s[d] == ')')
			k = d + 1;
		else if (sp_starts(s + d, n - d, "、") || sp_starts(s + d, n - d, "）") || sp_starts(s + d, n - d, "．"))
			k = d + 3;
		else
			return 0;
	}
	size_t sp;
	while (k < n && (sp = sp_len(s + k, n - k)))
		k += sp;
	return k;
}

static void item_flush(struct sbuf *item, struct strv *out)
{
	if (item->len)
		push_span(out, item->s, item->len);
	sbuf_reset(item);
}

/* Bullet or numbered items; an unmarked line continues the item above it. */
static void sec_items(const struct lines *ls, size_t a, size_t b, struct strv *out)
{
	struct sbuf item = {0};
	for (size_t i = a; i < b; i++) {
		const struct line *l = &ls->v[i];
		if (!l->len) {
			item_flush(&item, out);
			continue;
		}
		size_t k = item_marker(l->s, l->len);
		if (k)
			item_flush(&item, out);
		para_add(&item, l->s + k, l->len - k);
	}
	item_flush(&item, out);
	sbuf_free(&item);
}

static int keydata_header(const char *s, size_t n)
{
	while (n && (*s == '|' || *s == ' ')) {
		s++;
		n--;
	}
	if (sp_starts_word_ci(s, n, "Entity"))
		return sp_find(s, n, "Key Info") || sp_find(s, n, "Metric");
	if (sp_starts(s, n, "实体") || sp_starts(s, n, "實體"))
		return sp_find(s, n, "关键信息") || sp_find(s, n, "關鍵信息") || sp_find(s, n, "指标") ||
		       sp_find(s, n, "指標");
	return 0;
}

/* Markdown table rule "|---|:--:|". */
static int table_rule(const char *s, size_t n)
{
	int dash = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '-')
			dash = 1;
		else if (s[i] != '|' && s[i] != ':' && s[i] != ' ' && s[i] != '+')
			return 0;
	}
	return dash;
}

/* The export usually lost the cell separators; when a row still has tabs,
 * pipes or runs of spaces, those are the cells. */
static char *table_row(const char *s, size_t n)
{
	int cells = memchr(s, '\t', n) || memchr(s, '|', n) || sp_find(s, n, "  ");
	if (!cells)
		return dup_span(s, n);
	struct sbuf b = {0};
	size_t i = 0, c = 0;
	while (i <= n) {
		int brk = i == n || s[i] == '\t' || s[i] == '|' || (s[i] == ' ' && i + 1 < n && s[i + 1] == ' ');
		if (!brk) {
			i++;
			continue;
		}
		const char *cs = s + c;
		size_t cn = i - c;
		span_trim(&cs, &cn);
		if (cn) {
			if (b.len)
				sbuf_add(&b, " | ", 3);
			sbuf_add(&b, cs, cn);
		}
		while (i < n && (s[i] == '\t' || s[i] == '|' || s[i] == ' '))
			i++;
		if (i == n)
			break;
		c = i;
	}
	return take_or_null(&b);
}

static void sec_keydata(const struct lines *ls, size_t a, size_t b, struct strv *out)
{
	for (size_t i = a; i < b; i++) {
		const struct line *l = &ls->v[i];
		if (!l->len || keydata_header(l->s, l->len) || table_rule(l->s, l->len))
			continue;
		char *row = table_row(l->s, l->len);
		if (row)
			strv_push_owned(out, row);
	}
}

/* "Q:" / "A:" (either colon) and the Chinese 问：/答： forms. */
static size_t qa_prefix(const char *s, size_t n, char which)
{
	size_t k = 0;
	if (n && (s[0] == which || s[0] == (which | 32)))
		k = 1;
	else if (which == 'Q' && (sp_starts(s, n, "问") || sp_starts(s, n, "問")))
		k = 3;
	else if (which == 'A' && sp_starts(s, n, "答"))
		k = 3;
	else
		return 0;
	while (k < n && s[k] == ' ')
		k++;
	if (k < n && s[k] == ':')
		return k + 1;
	if (sp_starts(s + k, n - k, "："))
		return k + 3;
	return 0;
}

/* A question whose answer was cut off says nothing: it is dropped. */
static void faq_flush(struct story_faqv *fv, struct sbuf *q, struct sbuf *a)
{
	if (q->len && a->len)
		story_faq_push(fv, q->s, a->s);
	sbuf_reset(q);
	sbuf_reset(a);
}

static void sec_faq(const struct lines *ls, size_t a, size_t b, struct story_faqv *out)
{
	struct sbuf q = {0}, an = {0};
	int state = 0; /* 1 in a question, 2 in an answer */
	for (size_t i = a; i < b; i++) {
		const struct line *l = &ls->v[i];
		size_t k;
		if (!l->len)
			continue;
		if ((k = qa_prefix(l->s, l->len, 'Q'))) {
			faq_flush(out, &q, &an);
			para_add(&q, l->s + k, l->len - k);
			state = 1;
		} else if ((k = qa_prefix(l->s, l->len, 'A'))) {
			para_add(&an, l->s + k, l->len - k);
			state = 2;
		} else if (state) {
			para_add(state == 1 ? &q : &an, l->s, l->len);
		}
	}
	faq_flush(out, &q, &an);
	sbuf_free(&q);
	sbuf_free(&an);
}

static void plain_paragraphs(struct page *pg, size_t a, size_t b)
{
	struct sbuf p = {0};
	size_t i = a;
	while (next_para(pg->ls, &i, b, &p))
		block_add(&pg->ana[mostly_cjk(p.s, p.len) ? STORY_ZH : STORY_EN], p.s, p.len);
	sbuf_free(&p);
}

static void page_section(struct page *pg, enum sec sec, int lang, size_t a, size_t b)
{
	struct story *s = pg->s;
	if (lang < 0) {
		size_t cjk = 0, latin = 0;
		for (size_t i = a; i < b; i++)
			script_count(pg->ls->v[i].s, pg->ls->v[i].len, &cjk, &latin);
		/* A cut-off export can leave "• Met" of a Chinese bullet: too
		 * little text to judge, so the page order decides (English
		 * sections first, a repeated heading starts the Chinese half). */
		if (cjk * 6 + latin >= 24 || (cjk && !latin))
			lang = counts_cjk(cjk, latin) ? STORY_ZH : STORY_EN;
		else
			lang = (pg->zh_seen || (pg->seen[STORY_EN] & (1u << sec))) ? STORY_ZH : STORY_EN;
	} else if (lang == STORY_ZH) {
		pg->zh_seen = 1;
	}
	pg->seen[lang] |= 1u << sec;
	switch (sec) {
	case SEC_TLDR:
		pg->have_tldr[lang] = 1;
		sec_items(pg->ls, a, b, &s->tldr[lang]);
		break;
	case SEC_KEY:
		sec_keydata(pg->ls, a, b, &s->key_data[lang]);
		break;
	case SEC_ANALYSIS: {
		struct sbuf p = {0};
		size_t i = a;
		while (next_para(pg->ls, &i, b, &p))
			block_add(&pg->ana[lang], p.s, p.len);
		sbuf_free(&p);
		break;
	}
	case SEC_INSIGHTS:
		sec_items(pg->ls, a, b, &s->insights[lang]);
		break;
	case SEC_FAQ:
		sec_faq(pg->ls, a, b, &s->faq[lang]);
		break;
	case SEC_NONE:
		break;
	}
}

/* The analysis body [a, b): sections when there are headings, else plain
 * paragraphs split by script. */
static void page_body(struct page *pg, size_t a, size_t b)
{
	const struct lines *ls = pg->ls;
	size_t i = a;
	int lang;
	while (i < b && sec_heading(&ls->v[i], &lang) == SEC_NONE)
		i++;
	plain_paragraphs(pg, a, i);
	while (i < b) {
		enum sec sec = sec_heading(&ls->v[i], &lang);
		size_t j = i + 1;
		int l2;
		while (j < b && sec_heading(&ls->v[j], &l2) == SEC_NONE)
			j++;
		page_section(pg, sec, lang, i + 1, j);
		i = j;
	}
}

static void page_tags(struct story *s, const char *p, size_t n)
{
	struct sbuf en = {0};
	size_t i = 0, k;
	while (i < n) {
		while (i < n && (k = sp_len(p + i, n - i)))
			i += k;
		size_t t = i;
		while (i < n && !sp_len(p + i, n - i))
			i++;
		if (i == t)
			break;
		if (has_cjk(p + t, i - t)) {
			char *zh = xstrndup(p + t, i - t);
			story_tag_push(s, en.len ? en.s : NULL, zh);
			free(zh);
			sbuf_reset(&en);
		} else {
			para_add(&en, p + t, i - t); /* "Open Source 开源" */
		}
	}
	if (en.len)
		story_tag_push(s, en.s, NULL);
	sbuf_free(&en);
}

static int is_question(const char *s, size_t n)
{
	return (n && s[n - 1] == '?') || (n >= 3 && !memcmp(s + n - 3, "？", 3)) || qa_prefix(s, n, 'Q');
}

/* "Frequently Asked Questions 常见问题": question and answer paragraphs. Only
 * used for a language whose FAQ section was missing. */
static void page_faq_repeat(struct page *pg, size_t a, size_t b)
{
	struct story_faqv tmp[STORY_NLANG] = {{0}};
	struct sbuf p = {0}, q = {0}, an = {0};
	size_t i = a;
	while (next_para(pg->ls, &i, b, &p)) {
		size_t k;
		if (is_question(p.s, p.len)) {
			faq_flush(&tmp[q.len && mostly_cjk(q.s, q.len) ? STORY_ZH : STORY_EN], &q, &an);
			k = qa_prefix(p.s, p.len, 'Q');
			para_add(&q, p.s + k, p.len - k);
		} else if (q.len) {
			k = qa_prefix(p.s, p.len, 'A');
			para_add(&an, p.s + k, p.len - k);
		}
	}
	faq_flush(&tmp[q.len && mostly_cjk(q.s, q.len) ? STORY_ZH : STORY_EN], &q, &an);
	for (int l = 0; l < STORY_NLANG; l++) {
		if (!pg->s->faq[l].n) {
			struct story_faqv t = pg->s->faq[l];
			pg->s->faq[l] = tmp[l];
			tmp[l] = t;
		}
		faqv_free(&tmp[l]);
	}
	sbuf_free(&p);
	sbuf_free(&q);
	sbuf_free(&an);
}

static void set_source(struct story *s, const char *src)
{
	free(s->source);
	s->source = xstrdup(src);
}

static int fail(char **err, int line, const char *what)
{
	if (err)
		*err = xasprintf("line %d: %s", line, what);
	return -1;
}

/* The last line of a cut-off export that is the start of a heading ("Deep",
 * "F", "核心") would otherwise end up as a row or an item of the section
 * before it. */
static int cut_heading(const char *text, size_t len, const struct line *l)
{
	static const char *const more[] = {"Analysis 深度分析", "Disclaimer", "免责声明", "Frequently Asked Questions",
					   "Hot 热度", "Quality 质量", "Impact 影响力", NULL};
	if (!len || text[len - 1] == '\n' || !l->len || l->len > 40)
		return 0;
	for (size_t i = 0; i < sizeof headings / sizeof *headings; i++)
		if (l->len < strlen(headings[i].name) && mem_eq_ci(headings[i].name, l->s, l->len))
			return 1;
	for (size_t i = 0; more[i]; i++)
		if (l->len < strlen(more[i]) && mem_eq_ci(more[i], l->s, l->len))
			return 1;
	return 0;
}

int parse_page(const char *text, size_t len, int64_t ref_time, struct story *out, char **err)
{
	struct lines lines, *ls = &lines;
	struct page pg = {.s = out, .ls = ls};
	if (err)
		*err = NULL;
	lines_split(text, len, ls);

	size_t i = skip_blank(ls, 0);
	struct ago pub = {0}, upd = {0};
	if (i < ls->n && is_header(&ls->v[i])) {
		header_times(ls->v[i].s, ls->v[i].len, &pub, &upd);
		i = skip_blank(ls, i + 1);
	}
	if (i >= ls->n || is_page_marker(ls, i) || !meaningful(ls->v[i].s, ls->v[i].len)) {
		int no = i < ls->n ? ls->v[i].no : last_line_no(ls);
		free(ls->v);
		return fail(err, no, "no title found");
	}
	set_bilingual(out->title, ls->v[i].s, ls->v[i].len);
	if (ls->n - 1 > i && cut_heading(text, len, &ls->v[ls->n - 1]))
		ls->n--;
	set_source(out, "aihot");
	out->published_at = pub.have ? ref_time - pub.secs : ref_time;
	out->updated_at = upd.have ? ref_time - upd.secs : out->published_at;

	i = skip_blank(ls, i + 1);
	if (i < ls->n && !is_page_marker(ls, i)) {
		struct sbuf p = {0};
		for (; i < ls->n && ls->v[i].len && !is_page_marker(ls, i); i++)
			para_add(&p, ls->v[i].s, ls->v[i].len);
		set_bilingual(out->summary, p.s, p.len);
		sbuf_free(&p);
	}

	for (;;) {
		int v;
		size_t last;
		i = skip_blank(ls, i);
		if (i >= ls->n)
			break;
		int k = score_at(ls, i, &v, &last);
		if (k < 0)
			break;
		if (v >= 0)
			out->scores[k] = v;
		i = last + 1;
	}

	/* The analysis starts after "Analysis 深度分析"; a cut-off score block
	 * or heading leaves junk before it that must not become analysis. */
	size_t a = ls->n, b;
	for (; i < ls->n; i++) {
		int lang;
		const struct line *l = &ls->v[i];
		if (is_analysis_heading(l)) {
			a = i + 1;
			break;
		}
		if (sec_heading(l, &lang) != SEC_NONE) {
			a = i;
			break;
		}
		if (is_disclaimer(l) || is_faq_repeat(l)) {
			a = i;
			break;
		}
	}
	for (b = a; b < ls->n && !is_disclaimer(&ls->v[b]) && !is_faq_repeat(&ls->v[b]); b++)
		;
	page_body(&pg, a, b);

	i = b;
	if (i < ls->n && is_disclaimer(&ls->v[i])) {
		while (i < ls->n && (!ls->v[i].len || is_disclaimer(&ls->v[i])))
			i++;
		if (i < ls->n && !is_faq_repeat(&ls->v[i]))
			page_tags(out, ls->v[i].s, ls->v[i].len);
	}
	while (i < ls->n && !is_faq_repeat(&ls->v[i]))
		i++;
	if (i < ls->n)
		page_faq_repeat(&pg, i + 1, ls->n);

	for (int l = 0; l < STORY_NLANG; l++) {
		set_str(&out->analysis[l], take_or_null(&pg.ana[l]));
		if (!pg.have_tldr[l] && out->analysis[l] && !out->tldr[l].n)
			parse_lead_sentences(out->analysis[l], 3, &out->tldr[l]);
	}
	free(ls->v);
	return 0;
}

/* ---- plain article --------------------------------------------------------- */

/* "#AI大戰", "#AI #Nvidia": every token a hashtag. "# Title" is a heading. */
static int is_hashtag_line(const char *s, size_t n)
{
	size_t i = 0, k;
	int any = 0;
	while (i < n) {
		while (i < n && (k = sp_len(s + i, n - i)))
			i += k;
		if (i == n)
			break;
		size_t h = 0;
		if (s[i] == '#')
			h = 1;
		else if (sp_starts(s + i, n - i, "＃"))
			h = 3;
		if (!h || i + h >= n || s[i + h] == '#' || sp_len(s + i + h, n - i - h))
			return 0;
		while (i < n && !sp_len(s + i, n - i))
			i++;
		any = 1;
	}
	return any;
}

/* Timestamps only ("2024-11-20 10:32", "2024年11月20日 星期三"). */
static int is_dateline(const char *s, size_t n)
{
	static const char allowed[] = "年月日号號时時分秒星期周週一二三四五六天上下午";
	int digits = 0;
	for (size_t i = 0, w; i < n; i += w) {
		uint32_t cp = cp_at(s + i, n - i, &w);
		if (cp < 0x80) {
			if (a_digit((unsigned char)cp))
				digits++;
			else if (!strchr(" -/:.,T", (int)cp))
				return 0;
		} else if (!sp_len(s + i, n - i) && !memmem(allowed, sizeof allowed - 1, s + i, w)) {
			return 0;
		}
	}
	return digits >= 4;
}

/* "作者 | 黄昱", "编辑：周智宇", "記者 王小明／台北報導", "By Jane Doe". */
static int is_byline(const char *s, size_t n)
{
	static const char *const labels[] = {
		"作者", "编辑", "編輯", "责编", "責編", "责任编辑", "責任編輯", "记者", "記者", "来源", "來源",
		"出品", "策划", "策劃", "撰文", "文", "图", "圖", "摄影", "攝影", "校对", "校對", "审核", "審核",
		"排版", "翻译", "翻譯", "编译", "編譯", "整理", "本文来源", "本文來源", "图片来源", "圖片來源",
		"文章来源", "文章來源", "供稿", "监制", "監製", "主编", "主編", "实习生", "實習生", "通讯员",
		"通訊員", "发布时间", "發布時間", "發佈時間", "时间", "時間", "日期", NULL};
	/* these name a person, so "記者 王小明" with just a space is a byline */
	static const char *const person[] = {"作者", "编辑", "編輯", "记者", "記者", "撰文", "文", NULL};
	if (n <= 160 && utf8_chars(s, n) <= 40) {
		for (size_t i = 0; labels[i]; i++) {
			size_t k = strlen(labels[i]), sp;
			if (!sp_starts(s, n, labels[i]))
				continue;
			int spaced = 0;
			while (k < n && (sp = sp_len(s + k, n - k))) {
				k += sp;
				spaced = 1;
			}
			if (k >= n)
				continue;
			if (s[k] == '|' || s[k] == ':' || s[k] == '/' || sp_starts(s + k, n - k, "｜") ||
			    sp_starts(s + k, n - k, "：") || sp_starts(s + k, n - k, "／"))
				return 1;
			for (size_t p = 0; spaced && person[p]; p++)
				if (!strcmp(labels[i], person[p]))
					return 1;
		}
	}
	if (n > 120)
		return 0;
	static const char *const en_labels[] = {"Author:", "Authors:", "Editor:", "Edited by", "Written by",
						"Reporting by", "Reported by", "Source:", "Photo:", "Image:",
						"Credit:", "Published:", "Updated:", "Posted:", "Published on",
						"Updated on", "Posted on", NULL};
	for (size_t i = 0; en_labels[i]; i++)
		if (sp_starts_ci(s, n, en_labels[i]))
			return 1;
	/* "By Jane A. Doe and John Smith, Reuters" but not "By 2030, ..." nor
	 * "By using AI, ...": every word capitalised or a joining word. */
	if (!sp_starts(s, n, "By ") || n < 4 || !(s[3] >= 'A' && s[3] <= 'Z'))
		return 0;
	static const char *const joins[] = {"and", "of", "the", "de", "van", "von", "der", "da", "la", "le", "in",
					    "at", "for", "&", NULL};
	size_t i = 3, words = 0, sp;
	while (i < n) {
		while (i < n && (sp = sp_len(s + i, n - i)))
			i += sp;
		size_t t = i;
		while (i < n && !sp_len(s + i, n - i))
			i++;
		if (i == t)
			break;
		if (++words > 10)
			return 0;
		unsigned char c = (unsigned char)s[t];
		if ((c >= 'A' && c <= 'Z') || c >= 0x80 || (!a_alnum(c) && c != '&'))
			continue;
		size_t wl = i - t;
		while (wl && !a_alnum((unsigned char)s[t + wl - 1]))
			wl--;
		int ok = 0;
		for (size_t j = 0; joins[j] && !ok; j++)
			ok = sp_eq_ci(s + t, wl ? wl : i - t, joins[j]);
		if (!ok)
			return 0;
	}
	return words > 0;
}

/* Strip 《》, “”, "" or 「」 around a whole title. */
static void unquote(const char **s, size_t *n)
{
	static const char *const pairs[][2] = {{"《", "》"}, {"“", "”"}, {"\"", "\""}, {"「", "」"}, {"『", "』"}};
	for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
		size_t a = strlen(pairs[i][0]), b = strlen(pairs[i][1]);
		if (*n >= a + b + 1 && sp_starts(*s, *n, pairs[i][0]) && !memcmp(*s + *n - b, pairs[i][1], b)) {
			*s += a;
			*n -= a + b;
			span_trim(s, n);
			return;
		}
	}
}

/* Boilerplate lines: 0 not boilerplate, 1 skip it, 2 skip it but it carries
 * the title in (*t, *tn): "今天小编分享的互联网经验:TITLE,欢迎阅读。" and
 * "原标题：TITLE". */
static int boilerplate(const char *s, size_t n, const char **t, size_t *tn)
{
	static const char *const title_labels[] = {"原标题", "原標題", "标题", "標題", NULL};
	static const char *const welcome[] = {"欢迎阅读", "歡迎閱讀", NULL};
	static const char *const noise[] = {"点击关注", "點擊關注", "点击上方", "點擊上方", "关注我们", "關注我們",
					    "长按识别", "長按識別", "扫码关注", "掃碼關注", "阅读原文", "閱讀原文",
					    "转载请", "轉載請", "本文转载自", "本文轉載自", "本文来自微信公众号",
					    "本文來自微信公眾號", NULL};
	static const char *const en_noise[] = {"Advertisement", "Subscribe to", "Sign up for", "Share this article",
					       "Click here", "Read more:", "Related:", NULL};
	if (n > 300)
		return 0; /* a paragraph that mentions these words is content */
	for (size_t i = 0; title_labels[i]; i++) {
		size_t k = strlen(title_labels[i]);
		if (!sp_starts(s, n, title_labels[i]))
			continue;
		while (k < n && s[k] == ' ')
			k++;
		if (k < n && s[k] == ':')
			k++;
		else if (sp_starts(s + k, n - k, "："))
			k += 3;
		else
			continue;
		*t = s + k;
		*tn = n - k;
		span_trim(t, tn);
		unquote(t, tn);
		return 2;
	}
	for (size_t i = 0; welcome[i]; i++) {
		const char *w = sp_find(s, n, welcome[i]);
		if (!w)
			continue;
		size_t wn = (size_t)(w - s);
		const char *c1 = memchr(s, ':', wn), *c2 = sp_find(s, wn, "：");
		const char *c = c1 && (!c2 || c1 < c2) ? c1 : c2;
		if (!c)
			return 1;
		c += *c == ':' ? 1 : 3;
		*t = c;
		*tn = (size_t)(w - c);
		for (;;) { /* the "," or "，" before 欢迎阅读 */
			span_trim(t, tn);
			if (*tn && ((*t)[*tn - 1] == ',' || (*t)[*tn - 1] == ';'))
				(*tn)--;
			else if (*tn >= 3 && (!memcmp(*t + *tn - 3, "，", 3) || !memcmp(*t + *tn - 3, "、", 3)))
				*tn -= 3;
			else
				break;
		}
		unquote(t, tn);
		return *tn ? 2 : 1;
	}
	for (size_t i = 0; n <= 150 && noise[i]; i++) /* such lines are short */
		if (sp_find(s, n, noise[i]))
			return 1;
	for (size_t i = 0; en_noise[i]; i++)
		if (sp_starts_ci(s, n, en_noise[i]))
			return 1;
	return 0;
}

int parse_article(const char *text, size_t len, int64_t ref_time, struct story *out, char **err)
{
	struct lines ls;
	if (err)
		*err = NULL;
	lines_split(text, len, &ls);
	const char *title = NULL;
	size_t tlen = 0, nbody = 0;
	struct line *body = xmalloc((ls.n ? ls.n : 1) * sizeof *body);
	for (size_t i = 0; i < ls.n; i++) {
		const struct line *l = &ls.v[i];
		const char *t;
		size_t tn;
		if (!l->len || is_hashtag_line(l->s, l->len) || is_dateline(l->s, l->len))
			continue;
		int bp = boilerplate(l->s, l->len, &t, &tn);
		if (bp) {
			if (bp == 2 && !title && tn && meaningful(t, tn)) {
				title = t;
				tlen = tn;
			}
			continue;
		}
		if (is_byline(l->s, l->len) || !meaningful(l->s, l->len))
			continue;
		if (title) {
			body[nbody++] = *l;
			continue;
		}
		title = l->s;
		tlen = l->len;
		if (title[0] == '#') { /* a Markdown heading */
			while (tlen && title[0] == '#') {
				title++;
				tlen--;
			}
			span_trim(&title, &tlen);
		}
	}
	if (!title || !tlen) {
		int no = last_line_no(&ls);
		free(body);
		free(ls.v);
		return fail(err, no, "no title found");
	}

	/* the opening of the body settles the language; no need to read a book */
	size_t cjk = 0, latin = 0, seen = 0;
	script_count(title, tlen, &cjk, &latin);
	for (size_t i = 0; i < nbody && seen < 4096; i++) {
		size_t k = utf8_clip(body[i].s, body[i].len, 4096 - seen);
		script_count(body[i].s, k, &cjk, &latin);
		seen += k;
	}
	int l = counts_cjk(cjk, latin) ? STORY_ZH : STORY_EN;

	set_str(&out->title[l], dup_span(title, tlen));
	if (nbody) {
		struct sbuf a = {0};
		set_str(&out->summary[l], dup_span(body[0].s, body[0].len));
		for (size_t i = 0; i < nbody; i++)
			block_add(&a, body[i].s, body[i].len);
		set_str(&out->analysis[l], take_or_null(&a));
		if (out->analysis[l])
			parse_lead_sentences(out->analysis[l], 3, &out->tldr[l]);
	}
	set_source(out, "article");
	out->published_at = out->updated_at = ref_time;
	free(body);
	free(ls.v);
	return 0;
}

/* ---- detection ------------------------------------------------------------- */

enum parse_format parse_detect(const char *text, size_t len)
{
	if (!text)
		return PARSE_UNKNOWN;
	size_t i = 0, k;
	while (i < len && (k = sp_len(text + i, len - i)))
		i += k;
	if (i < len && (text[i] == '{' || text[i] == '['))
		return PARSE_JSON;
	int seen = 0, both;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t e = nl ? (size_t)(nl - text) : len;
		struct line l = {text + pos, e - pos, 0};
		span_trim(&l.s, &l.len);
		if (!seen && meaningful(l.s, l.len)) {
			seen = 1;
			if (is_header(&l))
				return PARSE_PAGE;
		}
		if ((score_label(l.s, l.len, &both) >= 0 && both) || sp_eq_ci(l.s, l.len, "Analysis 深度分析"))
			return PARSE_PAGE;
		pos = e + 1;
	}
	return seen ? PARSE_ARTICLE : PARSE_UNKNOWN;
}

const char *parse_format_name(enum parse_format f)
{
	switch (f) {
	case PARSE_PAGE:
		return "page";
	case PARSE_ARTICLE:
		return "article";
	case PARSE_JSON:
		return "json";
	case PARSE_UNKNOWN:
		break;
	}
	return "unknown";
}
