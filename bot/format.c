/* format — the TL;DR card and its console/Slack/Discord/Mattermost renderings.
 *
 * Everything untrusted goes through one escaper, esc_cp(), which maps a single
 * code point to an atomic output piece for the target. put() feeds a string
 * through it under a character budget, so a cut can never land inside an
 * escape ("&am…", a lone backslash) and the budget is spent on what the
 * platform actually counts: the escaped text.
 */
#define _GNU_SOURCE
#include "format.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cJSON.h>

/* Per-piece budgets (escaped characters). With FORMAT_URL_MAX they keep the
 * worst case inside every platform limit:
 *   Slack section  2 + 1024 + 1 + 250 + 2 + 1 + 250 + 3 * (3 + 400) = 2739 <= 3000
 *   Slack fallback 300 + 1 + 1279 + 251 + 3 * (3 + 200)              = 2440 <= 3000
 *   Discord embed  250 + 1462 + 256 + 13 + 1024 + 309               = 3314 <= 6000 */
#define FMT_CARD_TEXT_MAX 1024 /* raw text kept in the card */
#define FMT_TITLE_MAX 250
#define FMT_BULLET_MAX 400
#define FMT_BULLET_FALLBACK_MAX 200
#define FMT_TOPIC_MAX 40
#define FMT_SCORELINE_MAX 300
#define FMT_REASON_MAX 300

enum esc_mode { ESC_RAW, ESC_CONSOLE, ESC_PLAIN, ESC_SLACK, ESC_DISCORD, ESC_MATTERMOST };
enum { ESC_FLAT = 1, ESC_LABEL = 2 };
enum { LINE_MID, LINE_START, LINE_DIGITS };

struct esc {
	enum esc_mode mode;
	unsigned flags;
	int line; /* markdown block syntax only matters at the start of a line */
};

#define ZWSP "\xE2\x80\x8B"
#define ELLIPSIS "\xE2\x80\xA6"

static struct esc esc_make(enum esc_mode mode, unsigned flags, int line)
{
	struct esc e = {mode, flags, line};
	return e;
}

static enum esc_mode esc_mode_for(enum format_target t)
{
	switch (t) {
	case FORMAT_SLACK:
		return ESC_SLACK;
	case FORMAT_DISCORD:
		return ESC_DISCORD;
	case FORMAT_MATTERMOST:
		return ESC_MATTERMOST;
	default:
		return ESC_CONSOLE;
	}
}

/* Invisible or terminal-active code points: C0 (but \n, \t handled before),
 * DEL, C1 (0x9B is CSI on some terminals), and the bidi embeddings/overrides/
 * isolates that let text display in an order other than the one it is read. */
static int is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* Code points that attach to the one before: cutting in front of them would
 * leave a half-drawn character (é without its accent, 👨‍ without the family). */
static int is_extender(uint32_t cp)
{
	return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
	       (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
	       (cp >= 0xFE20 && cp <= 0xFE2F) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
	       (cp >= 0xE0100 && cp <= 0xE01EF) || (cp >= 0x1F3FB && cp <= 0x1F3FF) ||
	       (cp >= 0xE0020 && cp <= 0xE007F) || cp == 0x200D || (cp >= 0x3099 && cp <= 0x309A);
}

static int is_regional(uint32_t cp)
{
	return cp >= 0x1F1E6 && cp <= 0x1F1FF;
}

static size_t lit(char *out, const char *s)
{
	size_t n = strlen(s);
	memcpy(out, s, n);
	return n;
}

static size_t backslash(char *out, uint32_t c)
{
	out[0] = '\\';
	out[1] = (char)c;
	return 2;
}

/* Map one code point to its escaped piece for e->mode (at most 16 bytes);
 * 0 drops it. Updates the line-start state. */
static size_t esc_cp(struct esc *e, uint32_t cp, char out[16])
{
	int line = e->line;
	if (e->mode != ESC_RAW) {
		if (cp == '\t')
			cp = ' ';
		else if (cp == 0x2028 || cp == 0x2029)
			cp = '\n';
		if (cp == '\n') {
			if (e->flags & ESC_FLAT) {
				cp = ' ';
			} else {
				e->line = LINE_START;
				out[0] = '\n';
				return 1;
			}
		}
		if (is_control(cp))
			return 0;
	}
	if (cp == ' ')
		e->line = line == LINE_START ? LINE_START : LINE_MID;
	else if (cp >= '0' && cp <= '9' && line != LINE_MID)
		e->line = LINE_DIGITS;
	else
		e->line = LINE_MID;

	switch (e->mode) {
	case ESC_RAW:
	case ESC_CONSOLE:
		break;
	case ESC_PLAIN:
		/* Discord author/footer render no markup or mentions today; break
		 * the mention syntax anyway, it costs one invisible character. */
		if (cp == '@')
			return lit(out, "@" ZWSP);
		if (cp == '<')
			return lit(out, "<" ZWSP);
		break;
	case ESC_SLACK:
		switch (cp) {
		case '&':
			return lit(out, "&amp;");
		case '<':
			return lit(out, "&lt;");
		case '>':
			return lit(out, line == LINE_START ? "\xEF\xBC\x9E" : "&gt;"); /* ＞ */
		case '*':
			return lit(out, "\xE2\x88\x97"); /* ∗ U+2217 */
		case '_':
			return lit(out, "\xEF\xBC\xBF"); /* ＿ U+FF3F */
		case '~':
			return lit(out, "\xE2\x88\xBC"); /* ∼ U+223C */
		case '`':
			return lit(out, "\xCB\x8B"); /* ˋ U+02CB */
		case '@':
			return lit(out, "@" ZWSP);
		case '|':
			if (e->flags & ESC_LABEL)
				return lit(out, "\xE2\x88\xA3"); /* ∣ U+2223 */
			break;
		}
		break;
	case ESC_DISCORD:
		switch (cp) {
		case '\\': case '*': case '_': case '~': case '`': case '|':
		case '[': case ']': case '(': case ')':
			return backslash(out, cp);
		case '<':
			return lit(out, "<" ZWSP);
		case '@':
			return lit(out, "@" ZWSP);
		case '>': case '#': case '-': case '+':
			if (line == LINE_START)
				return backslash(out, cp);
			break;
		case '.':
			if (line == LINE_DIGITS)
				return backslash(out, cp);
			break;
		}
		break;
	case ESC_MATTERMOST:
		switch (cp) {
		case '\\': case '*': case '_': case '`': case '|':
		case '[': case ']': case '(': case ')': case '$':
			return backslash(out, cp);
		case '~':
			return lit(out, "\\~" ZWSP);
		case '&':
			return lit(out, "&amp;");
		case '<':
			return lit(out, "&lt;");
		case '>':
			return lit(out, "&gt;");
		case '@':
			return lit(out, "@" ZWSP);
		case '#': case '-': case '+': case '=':
			if (line == LINE_START)
				return backslash(out, cp);
			break;
		case '.':
			if (line == LINE_DIGITS)
				return backslash(out, cp);
			break;
		}
		break;
	}
	return (size_t)utf8_encode(cp, out);
}

struct bound {
	size_t off, used; /* output bytes and characters after this piece */
	uint32_t cp;      /* the input code point the piece came from */
};

/* Append s to b escaped by e, spending at most max characters of output; when
 * s does not fit, cut at a grapheme boundary, drop trailing spaces and end in
 * "…". Returns the characters appended. */
static size_t put(struct sbuf *b, struct esc *e, const char *s, size_t max)
{
	size_t start = b->len, used = 0, len = strlen(s), i = 0;
	struct bound *bd = NULL;
	size_t nbd = 0, cap = 0;
	uint32_t over_cp = 0;
	int over = 0;

	while (i < len) {
		uint32_t cp;
		int n = utf8_decode(s + i, len - i, &cp);
		if (n < 1)
			n = 1; /* an invalid byte: cp is U+FFFD, skip just that byte */
		i += (size_t)n;
		char piece[16];
		size_t pn = esc_cp(e, cp, piece);
		if (!pn)
			continue;
		size_t pc = utf8_chars(piece, pn);
		if (used + pc > max) {
			over = 1;
			over_cp = cp;
			break;
		}
		sbuf_add(b, piece, pn);
		used += pc;
		if (max == SIZE_MAX)
			continue; /* nothing can be cut: no need to remember where */
		if (nbd == cap) {
			cap = cap ? cap * 2 : 64;
			bd = xrealloc(bd, cap * sizeof *bd);
		}
		bd[nbd].off = b->len;
		bd[nbd].used = used;
		bd[nbd].cp = cp;
		nbd++;
	}
	if (!over) {
		free(bd);
		return used;
	}

	size_t k = nbd;
	while (k > 0 && bd[k - 1].used + 1 > max)
		k--;
	while (k > 0) {
		uint32_t last = bd[k - 1].cp, next = k < nbd ? bd[k].cp : over_cp;
		if (last == 0x200D || is_extender(next)) {
			k--;
			continue;
		}
		if (is_regional(last) && is_regional(next)) {
			size_t run = 0;
			while (run < k && is_regional(bd[k - 1 - run].cp))
				run++;
			if (run % 2) {
				k--;
				continue;
			}
		}
		break;
	}
	while (k > 0 && (bd[k - 1].cp == ' ' || bd[k - 1].cp == 0x3000))
		k--;
	size_t off = k ? bd[k - 1].off : start;
	used = k ? bd[k - 1].used : 0;
	if (b->s) {
		b->len = off;
		b->s[off] = 0;
	}
	if (max >= 1) {
		sbuf_adds(b, ELLIPSIS);
		used++;
	}
	free(bd);
	return used;
}

static char *put_new(struct esc e, const char *s, size_t max)
{
	struct sbuf b = {0};
	put(&b, &e, s, max);
	return sbuf_take(&b);
}

char *format_truncate(const char *s, size_t max_chars)
{
	if (!s)
		return NULL;
	return put_new(esc_make(ESC_RAW, 0, LINE_START), s, max_chars);
}

char *format_escape(enum format_target t, const char *s)
{
	if (!s)
		return NULL;
	return put_new(esc_make(esc_mode_for(t), 0, LINE_START), s, SIZE_MAX);
}

size_t format_chars(const char *s)
{
	return s ? utf8_chars(s, strlen(s)) : 0;
}

/* ---- the card ---------------------------------------------------------- */

static const char *nz(const char *s)
{
	return s && *s ? s : NULL;
}

/* One display line: controls removed, newlines and whitespace runs folded to
 * one space, trimmed, then cut to max characters. NULL when nothing is left. */
static char *flat_line(const char *s, size_t max)
{
	if (!s)
		return NULL;
	char *clean = put_new(esc_make(ESC_CONSOLE, ESC_FLAT, LINE_START), s, SIZE_MAX);
	char *w = clean;
	for (const char *r = clean; *r; r++)
		if (*r != ' ' || (w > clean && w[-1] != ' '))
			*w++ = *r;
	*w = 0;
	str_trim(clean);
	char *out = NULL;
	if (*clean)
		out = format_truncate(clean, max);
	free(clean);
	return out;
}

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* An http(s) URL safe to put inside <…|…> and [..](…): bytes that would end
 * or break the link syntax (space, < > | ( ) [ ] " \ ` ^ { }) and every
 * non-ASCII or control byte are percent-encoded. Other schemes (javascript:,
 * data:) and URLs longer than FORMAT_URL_MAX are refused: NULL. */
static char *url_clean(const char *u)
{
	if (!u)
		return NULL;
	while (*u == ' ' || *u == '\t' || *u == '\n' || *u == '\r')
		u++;
	if (strncasecmp(u, "http://", 7) && strncasecmp(u, "https://", 8))
		return NULL;
	struct sbuf b = {0};
	size_t len = strlen(u);
	while (len && (u[len - 1] == ' ' || u[len - 1] == '\t' || u[len - 1] == '\n' || u[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)u[i];
		if (c <= 0x20 || c >= 0x7F || strchr("<>|()[]\"\\`^{}", c))
			sbuf_addf(&b, "%%%02X", c);
		else
			sbuf_addc(&b, (char)c);
	}
	if (b.len > FORMAT_URL_MAX) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_take(&b);
}

static char *analysis_link(const char *public_url, const char *id, const char *lang)
{
	size_t n = strlen(public_url);
	while (n && public_url[n - 1] == '/')
		n--;
	struct sbuf b = {0};
	sbuf_add(&b, public_url, n);
	sbuf_adds(&b, "/s/");
	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		if (is_unreserved(*p))
			sbuf_addc(&b, (char)*p);
		else
			sbuf_addf(&b, "%%%02X", *p);
	}
	sbuf_addf(&b, "?lang=%s", lang);
	char *raw = sbuf_take(&b);
	char *u = url_clean(raw);
	free(raw);
	return u;
}

void format_card_build(struct format_card *c, const struct story *s, int lang,
		       const char *const *topic_names, const char *public_url, const char *reason)
{
	memset(c, 0, sizeof *c);
	for (int i = 0; i < 3; i++)
		c->scores[i] = s->scores[i] >= 0 ? s->scores[i] : -1;

	int has_en = story_has_lang(s, STORY_EN), has_zh = story_has_lang(s, STORY_ZH);
	if (lang == FORMAT_EN)
		c->lang = has_en || !has_zh ? FORMAT_EN : FORMAT_ZH;
	else if (lang == FORMAT_ZH)
		c->lang = has_zh || !has_en ? FORMAT_ZH : FORMAT_EN;
	else if (has_en && has_zh)
		c->lang = FORMAT_BOTH;
	else
		c->lang = has_zh ? FORMAT_ZH : FORMAT_EN;

	int p = c->lang == FORMAT_ZH ? STORY_ZH : STORY_EN, o = !p;
	const char *t = nz(s->title[p]) ? s->title[p] : s->title[o];
	c->title_primary = flat_line(t, FMT_CARD_TEXT_MAX);
	if (!c->title_primary)
		c->title_primary = xstrdup(c->lang == FORMAT_ZH ? "（无标题）" : "(untitled)");
	if (c->lang == FORMAT_BOTH && nz(s->title[STORY_EN])) {
		c->title_secondary = flat_line(s->title[STORY_ZH], FMT_CARD_TEXT_MAX);
		if (c->title_secondary && !strcmp(c->title_secondary, c->title_primary)) {
			free(c->title_secondary);
			c->title_secondary = NULL;
		}
	}

	/* Bullets of the card's language; a story with a 中文 TL;DR only still
	 * shows it rather than an empty card. */
	const struct strv *tl = s->tldr[p].n ? &s->tldr[p] : &s->tldr[o];
	for (size_t i = 0; i < tl->n && c->bullets.n < FORMAT_MAX_BULLETS; i++) {
		char *line = flat_line(tl->v[i], FMT_CARD_TEXT_MAX);
		if (line)
			strv_push_owned(&c->bullets, line);
	}

	for (size_t i = 0; i < s->topics.n; i++) {
		const char *name = topic_names && nz(topic_names[i]) ? topic_names[i] : s->topics.v[i];
		char *line = flat_line(name, FMT_TOPIC_MAX);
		if (line)
			strv_push_owned(&c->topics, line);
	}

	const char *u1 = p == STORY_ZH ? s->url_zh : s->url, *u2 = p == STORY_ZH ? s->url : s->url_zh;
	c->link_source = url_clean(u1);
	if (!c->link_source)
		c->link_source = url_clean(u2);

	if (nz(public_url) && nz(s->id)) {
		if (has_en)
			c->link_en = analysis_link(public_url, s->id, "en");
		if (has_zh)
			c->link_zh = analysis_link(public_url, s->id, "zh");
	}
	c->reason = flat_line(reason, FMT_CARD_TEXT_MAX);
	c->story_id = xstrdup(s->id);
}

void format_card_free(struct format_card *c)
{
	if (!c)
		return;
	strv_free(&c->topics);
	strv_free(&c->bullets);
	free(c->title_primary);
	free(c->title_secondary);
	free(c->link_source);
	free(c->link_en);
	free(c->link_zh);
	free(c->reason);
	free(c->story_id);
	memset(c, 0, sizeof *c);
}

/* ---- shared pieces ------------------------------------------------------ */

static int card_zh(const struct format_card *c)
{
	return c->lang == FORMAT_ZH;
}

static const char *lbl_analysis(const struct format_card *c)
{
	return card_zh(c) ? "完整分析" : "Full analysis";
}

static const char *lbl_colon(const struct format_card *c)
{
	return card_zh(c) ? "：" : ": ";
}

static const char *lbl_matched(const struct format_card *c)
{
	return card_zh(c) ? "匹配：" : "matched: ";
}

static const char *lbl_source(const struct format_card *c)
{
	return card_zh(c) ? "原文：" : "Source: ";
}

/* "🔥70 ✓65 ⚡70 · compute · talent" unescaped; "" when there is nothing. */
static char *score_raw(const struct format_card *c)
{
	static const char *const emoji[3] = {"\xF0\x9F\x94\xA5", "\xE2\x9C\x93", "\xE2\x9A\xA1"};
	struct sbuf b = {0};
	for (int i = 0; i < 3; i++) {
		if (c->scores[i] < 0)
			continue;
		if (b.len)
			sbuf_addc(&b, ' ');
		sbuf_addf(&b, "%s%d", emoji[i], c->scores[i]);
	}
	for (size_t i = 0; i < c->topics.n && i < FORMAT_MAX_TOPICS; i++) {
		if (b.len)
			sbuf_adds(&b, " · ");
		sbuf_adds(&b, c->topics.v[i]);
	}
	if (c->topics.n > FORMAT_MAX_TOPICS)
		sbuf_addf(&b, " · +%zu", c->topics.n - FORMAT_MAX_TOPICS);
	return sbuf_take(&b);
}

/* Where the title points: the story itself, else our page in its language. */
static const char *title_url(const struct format_card *c)
{
	if (c->link_source)
		return c->link_source;
	if (card_zh(c))
		return c->link_zh ? c->link_zh : c->link_en;
	return c->link_en ? c->link_en : c->link_zh;
}

/* Append the untrusted string s, escaped for mode, at most max characters. */
static void add_esc(struct sbuf *b, enum esc_mode mode, unsigned flags, int line, const char *s, size_t max)
{
	struct esc e = esc_make(mode, flags, line);
	put(b, &e, s, max);
}

/* Slack wants & < > escaped inside link URLs too. */
static char *slack_url(const char *u)
{
	if (!u)
		return NULL;
	struct sbuf b = {0};
	for (const char *p = u; *p; p++) {
		if (*p == '&')
			sbuf_adds(&b, "&amp;");
		else
			sbuf_addc(&b, *p);
	}
	if (b.len > FORMAT_URL_MAX) {
		sbuf_free(&b);
		return NULL;
	}
	return sbuf_take(&b);
}

/* ---- console ------------------------------------------------------------ */

static char *render_console(const struct format_card *c)
{
	struct sbuf b = {0};
	char *score = score_raw(c);
	if (*score) {
		add_esc(&b, ESC_CONSOLE, ESC_FLAT, LINE_START, score, FMT_SCORELINE_MAX);
		sbuf_addc(&b, '\n');
	}
	free(score);
	add_esc(&b, ESC_CONSOLE, ESC_FLAT, LINE_START, c->title_primary, FMT_TITLE_MAX);
	sbuf_addc(&b, '\n');
	if (c->title_secondary) {
		add_esc(&b, ESC_CONSOLE, ESC_FLAT, LINE_START, c->title_secondary, FMT_TITLE_MAX);
		sbuf_addc(&b, '\n');
	}
	for (size_t i = 0; i < c->bullets.n && i < FORMAT_MAX_BULLETS; i++) {
		sbuf_adds(&b, "• ");
		add_esc(&b, ESC_CONSOLE, ESC_FLAT, LINE_MID, c->bullets.v[i], FMT_BULLET_MAX);
		sbuf_addc(&b, '\n');
	}
	if (c->link_source)
		sbuf_addf(&b, "%s%s\n", lbl_source(c), c->link_source);
	size_t mark = b.len;
	if (c->link_en || c->link_zh) {
		sbuf_addf(&b, "%s%s", lbl_analysis(c), lbl_colon(c));
		if (c->link_en)
			sbuf_addf(&b, "EN %s", c->link_en);
		if (c->link_zh)
			sbuf_addf(&b, "%s中文 %s", c->link_en ? " · " : "", c->link_zh);
	}
	if (c->reason) {
		if (b.len > mark)
			sbuf_adds(&b, " · ");
		sbuf_adds(&b, lbl_matched(c));
		add_esc(&b, ESC_CONSOLE, ESC_FLAT, LINE_MID, c->reason, FMT_REASON_MAX);
	}
	if (b.len > mark)
		sbuf_addc(&b, '\n');
	return sbuf_take(&b);
}

/* ---- Slack -------------------------------------------------------------- */

/* "*<url|Title>*" (or "*Title*" without a usable link). */
static void slack_title(struct sbuf *b, const struct format_card *c)
{
	char *u = slack_url(title_url(c));
	sbuf_addc(b, '*');
	if (u) {
		sbuf_addf(b, "<%s|", u);
		add_esc(b, ESC_SLACK, ESC_FLAT | ESC_LABEL, LINE_MID, c->title_primary, FMT_TITLE_MAX);
		sbuf_addc(b, '>');
	} else {
		add_esc(b, ESC_SLACK, ESC_FLAT, LINE_MID, c->title_primary, FMT_TITLE_MAX);
	}
	sbuf_addc(b, '*');
	free(u);
}

/* Title line, 中文 title, bullets: the section text and most of the fallback. */
static void slack_body(struct sbuf *b, const struct format_card *c, size_t bullet_max)
{
	slack_title(b, c);
	if (c->title_secondary) {
		sbuf_addc(b, '\n');
		add_esc(b, ESC_SLACK, ESC_FLAT, LINE_START, c->title_secondary, FMT_TITLE_MAX);
	}
	for (size_t i = 0; i < c->bullets.n && i < FORMAT_MAX_BULLETS; i++) {
		sbuf_adds(b, "\n• ");
		add_esc(b, ESC_SLACK, ESC_FLAT, LINE_MID, c->bullets.v[i], bullet_max);
	}
}

static int j_ok(int *ok, const void *p)
{
	if (!p)
		*ok = 0;
	return p != NULL;
}

/* {"type":"mrkdwn","text":text} appended to array arr. */
static void j_mrkdwn(cJSON *arr, const char *text, int *ok)
{
	cJSON *o = cJSON_CreateObject();
	if (!j_ok(ok, o))
		return;
	j_ok(ok, cJSON_AddStringToObject(o, "type", "mrkdwn"));
	j_ok(ok, cJSON_AddStringToObject(o, "text", text));
	if (!cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		*ok = 0;
	}
}

static cJSON *j_block(cJSON *blocks, const char *type, int *ok)
{
	cJSON *o = cJSON_CreateObject();
	if (!j_ok(ok, o))
		return NULL;
	j_ok(ok, cJSON_AddStringToObject(o, "type", type));
	if (!cJSON_AddItemToArray(blocks, o)) {
		cJSON_Delete(o);
		*ok = 0;
		return NULL;
	}
	return o;
}

static char *j_print(cJSON *root, int *ok)
{
	char *p = *ok ? cJSON_PrintUnformatted(root) : NULL;
	char *out = p ? xstrdup(p) : NULL;
	if (p)
		cJSON_free(p);
	if (!out)
		*ok = 0;
	return out;
}

static int render_slack(const struct format_card *c, char **text, char **json)
{
	int ok = 1;
	struct sbuf b = {0};
	char *score = score_raw(c);

	if (*score) {
		add_esc(&b, ESC_SLACK, ESC_FLAT, LINE_START, score, FMT_SCORELINE_MAX);
		sbuf_addc(&b, '\n');
	}
	slack_body(&b, c, FMT_BULLET_FALLBACK_MAX);
	char *fallback = sbuf_take(&b);

	cJSON *blocks = cJSON_CreateArray();
	j_ok(&ok, blocks);
	if (blocks && *score) {
		cJSON *ctx = j_block(blocks, "context", &ok);
		cJSON *el = ctx ? cJSON_AddArrayToObject(ctx, "elements") : NULL;
		add_esc(&b, ESC_SLACK, ESC_FLAT, LINE_START, score, FMT_SCORELINE_MAX);
		if (j_ok(&ok, el))
			j_mrkdwn(el, b.s, &ok);
		sbuf_reset(&b);
	}
	if (blocks) {
		cJSON *sec = j_block(blocks, "section", &ok);
		cJSON *t = sec ? cJSON_AddObjectToObject(sec, "text") : NULL;
		slack_body(&b, c, FMT_BULLET_MAX);
		if (j_ok(&ok, t)) {
			j_ok(&ok, cJSON_AddStringToObject(t, "type", "mrkdwn"));
			j_ok(&ok, cJSON_AddStringToObject(t, "text", b.s));
		}
		sbuf_reset(&b);
	}
	char *en = slack_url(c->link_en), *zh = slack_url(c->link_zh);
	if (blocks && (en || zh || c->reason)) {
		cJSON *ctx = j_block(blocks, "context", &ok);
		cJSON *el = ctx ? cJSON_AddArrayToObject(ctx, "elements") : NULL;
		if (j_ok(&ok, el) && (en || zh)) {
			sbuf_addf(&b, "%s%s", lbl_analysis(c), lbl_colon(c));
			if (en)
				sbuf_addf(&b, "<%s|EN>", en);
			if (zh)
				sbuf_addf(&b, "%s<%s|中文>", en ? " · " : "", zh);
			j_mrkdwn(el, b.s, &ok);
			sbuf_reset(&b);
		}
		if (el && c->reason) {
			sbuf_adds(&b, lbl_matched(c));
			add_esc(&b, ESC_SLACK, ESC_FLAT, LINE_MID, c->reason, FMT_REASON_MAX);
			j_mrkdwn(el, b.s, &ok);
			sbuf_reset(&b);
		}
	}
	free(en);
	free(zh);
	free(score);
	sbuf_free(&b);

	char *out = j_print(blocks, &ok);
	cJSON_Delete(blocks);
	if (!ok) {
		free(out);
		free(fallback);
		return -2;
	}
	*text = fallback;
	*json = out;
	return 0;
}

/* ---- Discord ------------------------------------------------------------ */

/* Embed colour by how much the story matters (hot or impact; quality rates
 * the writing, so it only counts when the others are missing): red, amber,
 * blue, grey for plain articles without scores. */
static int discord_color(const struct format_card *c)
{
	int m = c->scores[STORY_HOT] > c->scores[STORY_IMPACT] ? c->scores[STORY_HOT] : c->scores[STORY_IMPACT];
	if (m < 0)
		m = c->scores[STORY_QUALITY];
	if (m >= 70)
		return 0xE03131;
	if (m >= 50)
		return 0xF08C00;
	if (m >= 0)
		return 0x1971C2;
	return 0x868E96;
}

static int render_discord(const struct format_card *c, char **text, char **json)
{
	int ok = 1;
	struct sbuf b = {0};
	size_t total = 0;
	cJSON *em = cJSON_CreateObject();
	if (!j_ok(&ok, em))
		return -2;

	add_esc(&b, ESC_DISCORD, ESC_FLAT, LINE_START, c->title_primary, FMT_TITLE_MAX);
	total += format_chars(b.s);
	j_ok(&ok, cJSON_AddStringToObject(em, "title", b.s));
	sbuf_reset(&b);
	const char *tu = title_url(c);
	if (tu)
		j_ok(&ok, cJSON_AddStringToObject(em, "url", tu));

	if (c->title_secondary)
		add_esc(&b, ESC_DISCORD, ESC_FLAT, LINE_START, c->title_secondary, FMT_TITLE_MAX);
	for (size_t i = 0; i < c->bullets.n && i < FORMAT_MAX_BULLETS; i++) {
		if (b.len)
			sbuf_addc(&b, '\n');
		sbuf_adds(&b, "• ");
		add_esc(&b, ESC_DISCORD, ESC_FLAT, LINE_MID, c->bullets.v[i], FMT_BULLET_MAX);
	}
	if (b.len) {
		total += format_chars(b.s);
		j_ok(&ok, cJSON_AddStringToObject(em, "description", b.s));
	}
	sbuf_reset(&b);
	j_ok(&ok, cJSON_AddNumberToObject(em, "color", discord_color(c)));

	char *score = score_raw(c);
	if (*score) {
		cJSON *au = cJSON_AddObjectToObject(em, "author");
		add_esc(&b, ESC_PLAIN, ESC_FLAT, LINE_START, score, FORMAT_DISCORD_AUTHOR_MAX);
		total += format_chars(b.s);
		if (j_ok(&ok, au))
			j_ok(&ok, cJSON_AddStringToObject(au, "name", b.s));
		sbuf_reset(&b);
	}
	free(score);

	/* Each link goes in only if it fits the field whole: a cut URL is a
	 * broken link. */
	const char *links[2] = {c->link_en, c->link_zh}, *names[2] = {"EN", "中文"};
	for (int i = 0; i < 2; i++) {
		if (!links[i])
			continue;
		size_t add = (b.len ? 3 : 0) + format_chars(names[i]) + 4 + format_chars(links[i]);
		if (format_chars(b.s ? b.s : "") + add > FORMAT_DISCORD_FIELD_VALUE_MAX)
			continue;
		sbuf_addf(&b, "%s[%s](%s)", b.len ? " · " : "", names[i], links[i]);
	}
	if (b.len) {
		cJSON *fields = cJSON_AddArrayToObject(em, "fields");
		cJSON *f = cJSON_CreateObject();
		if (j_ok(&ok, fields) && j_ok(&ok, f)) {
			j_ok(&ok, cJSON_AddStringToObject(f, "name", lbl_analysis(c)));
			j_ok(&ok, cJSON_AddStringToObject(f, "value", b.s));
			j_ok(&ok, cJSON_AddBoolToObject(f, "inline", 0));
			if (!cJSON_AddItemToArray(fields, f)) {
				cJSON_Delete(f);
				ok = 0;
			}
		} else {
			cJSON_Delete(f);
		}
		total += format_chars(lbl_analysis(c)) + format_chars(b.s);
	}
	sbuf_reset(&b);

	if (c->reason) {
		sbuf_adds(&b, lbl_matched(c));
		add_esc(&b, ESC_PLAIN, ESC_FLAT, LINE_MID, c->reason, FMT_REASON_MAX);
	} else {
		sbuf_adds(&b, "ainews");
		if (nz(c->story_id)) {
			sbuf_adds(&b, " · ");
			add_esc(&b, ESC_PLAIN, ESC_FLAT, LINE_MID, c->story_id, 64);
		}
	}
	total += format_chars(b.s);
	cJSON *ft = cJSON_AddObjectToObject(em, "footer");
	if (j_ok(&ok, ft))
		j_ok(&ok, cJSON_AddStringToObject(ft, "text", b.s));
	sbuf_free(&b);

	/* The budgets above make this unreachable; keep the platform's hard rule
	 * visible rather than trusting arithmetic in a comment. */
	if (total > FORMAT_DISCORD_EMBED_TOTAL_MAX)
		ok = 0;

	char *out = j_print(em, &ok);
	cJSON_Delete(em);
	if (!ok) {
		free(out);
		return -2;
	}
	*json = out;
	*text = xstrdup("");
	return 0;
}

/* ---- Mattermost --------------------------------------------------------- */

static char *render_mattermost(const struct format_card *c)
{
	struct sbuf b = {0};
	char *score = score_raw(c);
	if (*score) {
		add_esc(&b, ESC_MATTERMOST, ESC_FLAT, LINE_START, score, FMT_SCORELINE_MAX);
		sbuf_addc(&b, '\n');
	}
	free(score);

	const char *tu = title_url(c);
	sbuf_adds(&b, tu ? "**[" : "**");
	add_esc(&b, ESC_MATTERMOST, ESC_FLAT, LINE_MID, c->title_primary, FMT_TITLE_MAX);
	if (tu)
		sbuf_addf(&b, "](%s)", tu);
	sbuf_adds(&b, "**");
	if (c->title_secondary) {
		sbuf_addc(&b, '\n');
		add_esc(&b, ESC_MATTERMOST, ESC_FLAT, LINE_START, c->title_secondary, FMT_TITLE_MAX);
	}
	for (size_t i = 0; i < c->bullets.n && i < FORMAT_MAX_BULLETS; i++) {
		sbuf_adds(&b, "\n• ");
		add_esc(&b, ESC_MATTERMOST, ESC_FLAT, LINE_MID, c->bullets.v[i], FMT_BULLET_MAX);
	}

	if (c->link_en || c->link_zh || c->reason)
		sbuf_addc(&b, '\n');
	size_t mark = b.len;
	if (c->link_en || c->link_zh) {
		sbuf_addf(&b, "%s%s", lbl_analysis(c), lbl_colon(c));
		if (c->link_en)
			sbuf_addf(&b, "[EN](%s)", c->link_en);
		if (c->link_zh)
			sbuf_addf(&b, "%s[中文](%s)", c->link_en ? " · " : "", c->link_zh);
	}
	if (c->reason) {
		if (b.len > mark)
			sbuf_adds(&b, " · ");
		sbuf_adds(&b, lbl_matched(c));
		add_esc(&b, ESC_MATTERMOST, ESC_FLAT, LINE_MID, c->reason, FMT_REASON_MAX);
	}
	return sbuf_take(&b);
}

int format_render(const struct format_card *c, enum format_target t, char **text, char **json)
{
	char *tx = NULL, *js = NULL;
	int rc = 0;
	if (text)
		*text = NULL;
	if (json)
		*json = NULL;
	if (!c || !c->title_primary)
		return -1;
	switch (t) {
	case FORMAT_CONSOLE:
		tx = render_console(c);
		break;
	case FORMAT_SLACK:
		rc = render_slack(c, &tx, &js);
		break;
	case FORMAT_DISCORD:
		rc = render_discord(c, &tx, &js);
		break;
	case FORMAT_MATTERMOST:
		tx = render_mattermost(c);
		break;
	default:
		return -1;
	}
	if (rc < 0)
		return rc;
	if (text)
		*text = tx;
	else
		free(tx);
	if (json)
		*json = js;
	else
		free(js);
	return 0;
}
