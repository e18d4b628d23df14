/* web — HTML pages and JSON documents of the embedded server.
 *
 * Layout of the analysis page: every bilingual block is a two-column grid
 * (English left, 中文 right) that collapses to one column below 900 px, so
 * a phone shows the English block and then its Chinese counterpart, and a
 * wide screen lines the two up row by row. The title block carries a
 * coloured rule per language (blue English, vermilion 中文): readers see
 * at a glance which column is which, and the browser test finds the
 * columns in a screenshot by those colours.
 */
#define _GNU_SOURCE
#include "web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "topics.h"

/* ---- escaping ---------------------------------------------------------------- */

int web_lang_parse(const char *s)
{
	if (!s)
		return WEB_BOTH;
	if (!strcmp(s, "en"))
		return WEB_EN;
	if (!strncmp(s, "zh", 2) && (!s[2] || s[2] == '-' || s[2] == '_'))
		return WEB_ZH;
	return WEB_BOTH;
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0: overlongs,
 * surrogates and code points past U+10FFFF are invalid. */
static int utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];
#define CONT(i) ((p[i] & 0xC0) == 0x80)
	if (c >= 0xC2 && c <= 0xDF)
		return CONT(1) ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		return p[1] >= lo && p[1] <= hi && CONT(2) ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		return p[1] >= lo && p[1] <= hi && CONT(2) && CONT(3) ? 4 : 0;
	}
#undef CONT
	return 0;
}

/* ASCII that goes out as it is: not markup, not a control character. */
static int plain_ascii(unsigned char c)
{
	if (c < 0x20)
		return c == '\t' || c == '\n';
	return c != '&' && c != '<' && c != '>' && c != '"' && c != '\'' && c != 0x7f;
}

/* One pass, copying runs of plain text at once: pages are mostly text,
 * and this is where a page render spends its time. */
void web_escape(struct sbuf *b, const char *s)
{
	if (!s)
		return;
	const unsigned char *p = (const unsigned char *)s, *run = p;
	while (*p) {
		unsigned char c = *p;
		int n = 1;
		if (c < 0x80) {
			if (plain_ascii(c)) {
				p++;
				continue;
			}
		} else if ((n = utf8_seq(p)) != 0) {
			p += n;
			continue;
		}
		sbuf_add(b, (const char *)run, (size_t)(p - run));
		switch (c) {
		case '&':
			sbuf_add(b, "&amp;", 5);
			break;
		case '<':
			sbuf_add(b, "&lt;", 4);
			break;
		case '>':
			sbuf_add(b, "&gt;", 4);
			break;
		case '"':
			sbuf_add(b, "&quot;", 6);
			break;
		case '\'':
			sbuf_add(b, "&#39;", 5);
			break;
		default:
			if (c >= 0x80)
				sbuf_add(b, "\xEF\xBF\xBD", 3); /* U+FFFD for a bad byte */
			break;					/* controls are dropped */
		}
		p++;
		run = p;
	}
	sbuf_add(b, (const char *)run, (size_t)(p - run));
}

/* JSON string with quotes; '<', '>' and '&' as \u escapes so a document
 * sniffed as HTML still shows no markup. Invalid UTF-8 becomes U+FFFD. */
static void json_str(struct sbuf *b, const char *s)
{
	if (!s) {
		sbuf_adds(b, "null");
		return;
	}
	sbuf_addc(b, '"');
	size_t len = strlen(s);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			uint32_t cp;
			int n = utf8_decode(s + i, len - i, &cp);
			char enc[4];
			sbuf_add(b, enc, (size_t)utf8_encode(cp, enc));
			i += (size_t)n;
			continue;
		}
		if (c == '"' || c == '\\')
			sbuf_addc(b, '\\'), sbuf_addc(b, (char)c);
		else if (c == '\n')
			sbuf_adds(b, "\\n");
		else if (c == '\t')
			sbuf_adds(b, "\\t");
		else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f)
			sbuf_addf(b, "\\u%04x", c);
		else
			sbuf_addc(b, (char)c);
		i++;
	}
	sbuf_addc(b, '"');
}

/* A path segment: unreserved characters as they are, the rest %XX. */
static void url_segment(struct sbuf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p))
			sbuf_addc(b, (char)*p);
		else
			sbuf_addf(b, "%%%02X", *p);
	}
}

static int http_url(const char *u)
{
	return u && (!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7)) && !strpbrk(u, " \t\r\n");
}

static void human_time(int64_t t, char out[32])
{
	char iso[32];
	time_iso(t, iso);
	/* "2026-11-22T08:18:00Z" -> "2026-11-22 08:18 UTC" */
	snprintf(out, 32, "%.10s %.5s UTC", iso, iso + 11);
}

static void add_time(struct sbuf *b, int64_t t)
{
	char iso[32], human[32];
	time_iso(t, iso);
	human_time(t, human);
	sbuf_addf(b, "<time datetime=\"%s\">%s</time>", iso, human);
}

/* ---- page frame ---------------------------------------------------------------- */

/* One CSS rule group per line reads better than the formatter's packing. */
/* clang-format off */
static const char css[] =
	":root{color-scheme:light dark;--bg:#f7f6f2;--card:#fff;--fg:#1f2328;--muted:#5c636b;--line:#e2ded5;"
	"--link:#0b57d0;--en:#2563eb;--zh:#c2410c;--hot:#e8590c;--quality:#2f9e44;--impact:#7048e8;--chip:#ece9e1}"
	"@media (prefers-color-scheme:dark){:root{--bg:#111315;--card:#191c20;--fg:#e7e5e1;--muted:#9aa1a9;"
	"--line:#2b3036;--link:#8ab4f8;--en:#60a5fa;--zh:#fb923c;--chip:#262a30}}"
	"*{box-sizing:border-box}"
	"html{-webkit-text-size-adjust:100%;text-size-adjust:100%}"
	"body{margin:0;background:var(--bg);color:var(--fg);font:17px/1.65 system-ui,-apple-system,\"Segoe UI\","
	"Roboto,\"Helvetica Neue\",Arial,\"Noto Sans\",sans-serif;overflow-wrap:break-word}"
	/* CJK fonts and spacing where the language starts; children inherit,
	 * so headings keep their own line height in both columns. */
	"[lang=zh]{font-family:\"PingFang SC\",\"Hiragino Sans GB\",\"Noto Sans CJK SC\",\"Source Han Sans SC\","
	"\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",system-ui,sans-serif;letter-spacing:.02em;line-break:strict}"
	".col[lang=zh],html[lang=zh] body{line-height:1.85}"
	"a{color:var(--link);text-underline-offset:.15em}"
	".top,main,footer{max-width:1240px;margin:0 auto;padding:1rem 1.25rem}"
	".top{display:flex;flex-wrap:wrap;gap:.4rem 1.5rem;align-items:baseline;justify-content:space-between;"
	"border-bottom:1px solid var(--line)}"
	".brand{font-weight:700;color:var(--fg);text-decoration:none}"
	"nav a{margin-right:1rem;white-space:nowrap}nav .chip{margin:0}nav a[aria-current]{color:var(--fg);"
	"font-weight:700;text-decoration:none}nav .chip[aria-current]{background:var(--fg);color:var(--bg)}"
	".single{max-width:46rem}"
	"h1{font-size:1.75rem;line-height:1.3;margin:.2rem 0 .8rem}[lang=zh] h1{line-height:1.5}"
	"h2{font-size:1.1rem;line-height:1.4;margin:0 0 .6rem;padding-bottom:.3rem;border-bottom:1px solid var(--line)}"
	"h3{font-size:1rem;margin:0}"
	".pair{display:grid;grid-template-columns:minmax(0,1fr);gap:1.5rem 3rem;margin:0 0 2rem}"
	"@media (min-width:900px){.pair.two{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}}"
	".head .col{border-top:6px solid var(--en);padding-top:.6rem}.head .col:lang(zh){border-top-color:var(--zh)}"
	".kicker{margin:0;font-size:.8rem;font-weight:600;letter-spacing:.08em;color:var(--muted)}"
	".summary{color:var(--muted);margin:0}"
	".scores{display:flex;flex-wrap:wrap;gap:.75rem 2rem;margin:0 0 1rem;padding:0;list-style:none}"
	".scores li{min-width:8rem;margin:0}.num{font-size:1.4rem;font-weight:700;font-variant-numeric:tabular-nums;"
	"margin-right:.4rem}"
	".bar{display:block;height:6px;border-radius:3px;background:var(--line);overflow:hidden}"
	".bar i{display:block;height:100%;background:var(--hot)}.quality .bar i{background:var(--quality)}"
	".impact .bar i{background:var(--impact)}"
	".meta{color:var(--muted);font-size:.9rem;margin:0 0 1rem}"
	".chips{display:flex;flex-wrap:wrap;gap:.4rem;margin:0 0 1rem;padding:0;list-style:none}.chips li{margin:0}"
	".chip{display:inline-block;padding:.05rem .65rem;border-radius:999px;background:var(--chip);"
	"font-size:.85rem;color:var(--fg);text-decoration:none}.chip.tag{background:none;border:1px solid var(--line)}"
	"ul,ol{padding-left:1.25rem;margin:0}li{margin:.35rem 0}p{margin:0 0 1rem}"
	"table{border-collapse:collapse;width:100%;font-size:.95rem}"
	"th,td{text-align:left;vertical-align:top;padding:.35rem .75rem .35rem 0;border-bottom:1px solid var(--line)}"
	"dt{font-weight:700;margin-top:.9rem}dt:first-child{margin-top:0}dd{margin:.2rem 0 0}"
	".note{background:var(--chip);padding:.6rem .9rem;border-radius:6px}.muted{color:var(--muted)}"
	".stories{list-style:none;padding:0}.stories>li{padding:1rem 0;border-bottom:1px solid var(--line)}"
	".stories h2{border:0;padding:0;margin:0;font-size:1.15rem}.stories p{margin:.2rem 0}"
	"footer{color:var(--muted);font-size:.9rem;border-top:1px solid var(--line);padding-bottom:2rem}"
	"@media (max-width:600px){body{font-size:16px}h1{font-size:1.45rem}}";
/* clang-format on */

static void page_open(struct sbuf *b, int lang, const char *title)
{
	sbuf_addf(b,
		  "<!doctype html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
		  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		  "<meta name=\"referrer\" content=\"no-referrer\">\n<link rel=\"icon\" href=\"data:,\">\n<title>",
		  lang == WEB_ZH ? "zh" : "en");
	web_escape(b, title);
	sbuf_adds(b, "</title>\n<style>");
	sbuf_add(b, css, sizeof css - 1);
	sbuf_adds(b, "</style>\n</head>\n<body>\n<header class=\"top\"><a class=\"brand\" href=\"/\">AI News "
		     "<span lang=\"zh\">AI资讯</span></a>");
}

static void page_main(struct sbuf *b, const char *main_class)
{
	sbuf_addf(b, "</header>\n<main%s%s%s>\n", main_class ? " class=\"" : "", main_class ? main_class : "",
		  main_class ? "\"" : "");
}

static void page_close(struct sbuf *b, const char *json_href)
{
	sbuf_adds(b, "</main>\n<footer><a href=\"/\">All stories · 全部资讯</a>");
	if (json_href) {
		sbuf_adds(b, " · <a href=\"");
		sbuf_adds(b, json_href);
		sbuf_adds(b, "\">JSON</a>");
	}
	sbuf_adds(b, " · Served by ainews</footer>\n</body>\n</html>\n");
}

/* A label in the page's language(s): both shows "EN 中文". */
static void bi(struct sbuf *b, int lang, const char *en, const char *zh)
{
	if (lang != WEB_ZH)
		sbuf_adds(b, en);
	if (lang == WEB_BOTH)
		sbuf_addc(b, ' ');
	if (lang != WEB_EN)
		sbuf_addf(b, "%s%s%s", lang == WEB_BOTH ? "<span lang=\"zh\">" : "", zh,
			  lang == WEB_BOTH ? "</span>" : "");
}

/* ---- the analysis page ----------------------------------------------------------- */

struct view {
	const struct story *s;
	int shown[STORY_NLANG]; /* languages with a column */
	int ncols;
	int lang; /* page language for labels: WEB_EN, WEB_ZH or WEB_BOTH */
};

static int has_text(const char *s)
{
	return s && *s;
}

static const char *const lang_attr[STORY_NLANG] = {"en", "zh"};

enum { SEC_TLDR, SEC_KEYDATA, SEC_ANALYSIS, SEC_INSIGHTS, SEC_FAQ, SEC_N };
static const char *const sec_class[SEC_N] = {"tldr", "keydata", "analysis", "insights", "faq"};
static const char *const sec_title[SEC_N][STORY_NLANG] = {
    {"TL;DR", "要点速览"}, {"Key data", "核心数据"}, {"Analysis", "深度解读"}, {"Industry insights", "行业启示"},
    {"FAQ", "常见问题"},
};

static int sec_has(const struct story *s, int sec, int l)
{
	switch (sec) {
	case SEC_TLDR:
		return s->tldr[l].n > 0;
	case SEC_KEYDATA:
		return s->key_data[l].n > 0;
	case SEC_ANALYSIS:
		return has_text(s->analysis[l]);
	case SEC_INSIGHTS:
		return s->insights[l].n > 0;
	default:
		return s->faq[l].n > 0;
	}
}

static void list(struct sbuf *b, const struct strv *v, const char *tag)
{
	sbuf_addf(b, "<%s>", tag);
	for (size_t i = 0; i < v->n; i++) {
		sbuf_adds(b, "<li>");
		web_escape(b, v->v[i]);
		sbuf_adds(b, "</li>");
	}
	sbuf_addf(b, "</%s>\n", tag);
}

/* Key data rows are "cell | cell | cell": a table when any row has cells. */
static void key_data(struct sbuf *b, const struct strv *v)
{
	int cells = 0;
	for (size_t i = 0; i < v->n && !cells; i++)
		cells = strstr(v->v[i], " | ") != NULL;
	if (!cells) {
		list(b, v, "ul");
		return;
	}
	sbuf_adds(b, "<table><tbody>");
	for (size_t i = 0; i < v->n; i++) {
		sbuf_adds(b, "<tr>");
		const char *p = v->v[i];
		for (int first = 1;; first = 0) {
			const char *bar = strstr(p, " | ");
			char *cell = xstrndup(p, bar ? (size_t)(bar - p) : strlen(p));
			sbuf_adds(b, first ? "<th scope=\"row\">" : "<td>");
			web_escape(b, cell);
			sbuf_adds(b, first ? "</th>" : "</td>");
			free(cell);
			if (!bar)
				break;
			p = bar + 3;
		}
		sbuf_adds(b, "</tr>");
	}
	sbuf_adds(b, "</tbody></table>\n");
}

/* Paragraphs are separated by blank lines; single newlines stay breaks. */
static void paragraphs(struct sbuf *b, const char *text)
{
	const char *p = text;
	while (*p) {
		while (*p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		const char *end = strstr(p, "\n\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *para = xstrndup(p, n);
		sbuf_adds(b, "<p>");
		char *line = para;
		for (;;) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			web_escape(b, line);
			if (!nl)
				break;
			sbuf_adds(b, "<br>");
			line = nl + 1;
		}
		sbuf_adds(b, "</p>\n");
		free(para);
		p += n;
	}
}

static void section_body(struct sbuf *b, const struct story *s, int sec, int l)
{
	switch (sec) {
	case SEC_TLDR:
		list(b, &s->tldr[l], "ul");
		break;
	case SEC_KEYDATA:
		key_data(b, &s->key_data[l]);
		break;
	case SEC_ANALYSIS:
		paragraphs(b, s->analysis[l]);
		break;
	case SEC_INSIGHTS:
		list(b, &s->insights[l], "ol");
		break;
	default:
		sbuf_adds(b, "<dl>");
		for (size_t i = 0; i < s->faq[l].n; i++) {
			sbuf_adds(b, "<dt>");
			web_escape(b, s->faq[l].v[i].q);
			sbuf_adds(b, "</dt><dd>");
			web_escape(b, s->faq[l].v[i].a);
			sbuf_adds(b, "</dd>");
		}
		sbuf_adds(b, "</dl>\n");
	}
}

static void pair_open(struct sbuf *b, const struct view *v, const char *cls)
{
	sbuf_addf(b, "<section class=\"pair %s %s\">\n", v->ncols == 2 ? "two" : "one", cls);
}

static void col_open(struct sbuf *b, int l)
{
	sbuf_addf(b, "<div class=\"col\" lang=\"%s\">", lang_attr[l]);
}

static void head_block(struct sbuf *b, const struct view *v)
{
	pair_open(b, v, "head");
	for (int l = 0; l < STORY_NLANG; l++) {
		if (!v->shown[l])
			continue;
		col_open(b, l);
		sbuf_adds(b,
			  l == STORY_EN ? "<p class=\"kicker\">ENGLISH</p><h1>" : "<p class=\"kicker\">中文</p><h1>");
		const char *t = v->s->title[l];
		web_escape(b, has_text(t) ? t : l == STORY_EN ? "(untitled)" : "（无标题）");
		sbuf_adds(b, "</h1>");
		if (has_text(v->s->summary[l])) {
			sbuf_adds(b, "<p class=\"summary\">");
			web_escape(b, v->s->summary[l]);
			sbuf_adds(b, "</p>");
		}
		sbuf_adds(b, "</div>\n");
	}
	sbuf_adds(b, "</section>\n");
}

static void scores_block(struct sbuf *b, const struct view *v)
{
	static const char *const en[] = {"Hot", "Quality", "Impact"};
	static const char *const zh[] = {"热度", "质量", "影响力"};
	int any = 0;
	for (int i = 0; i < STORY_NSCORES; i++)
		any |= v->s->scores[i] >= 0;
	if (!any)
		return;
	sbuf_adds(b, "<ul class=\"scores\" aria-label=\"Scores\">");
	for (int i = 0; i < STORY_NSCORES; i++) {
		int sc = v->s->scores[i];
		if (sc < 0)
			continue;
		sbuf_addf(b, "<li class=\"%s\"><span class=\"num\">%d</span>", story_score_name[i], sc);
		bi(b, v->lang, en[i], zh[i]);
		sbuf_addf(b, "<span class=\"bar\"><i style=\"width:%d%%\"></i></span></li>", sc > 100 ? 100 : sc);
	}
	sbuf_adds(b, "</ul>\n");
}

static void meta_block(struct sbuf *b, const struct view *v, int current)
{
	const struct story *s = v->s;
	sbuf_adds(b, "<p class=\"meta\">");
	const char *sep = "";
	if (s->published_at) {
		bi(b, v->lang, "Published", "发布");
		sbuf_addc(b, ' ');
		add_time(b, s->published_at);
		sep = " · ";
	}
	if (s->updated_at && s->updated_at != s->published_at) {
		sbuf_adds(b, sep);
		bi(b, v->lang, "Updated", "更新");
		sbuf_addc(b, ' ');
		add_time(b, s->updated_at);
		sep = " · ";
	}
	sbuf_adds(b, sep);
	bi(b, v->lang, "Revision", "版本");
	sbuf_addf(b, " %d", s->revision);
	if (current > s->revision)
		sbuf_addf(b, " / %d", current);
	if (has_text(s->source)) {
		sbuf_adds(b, " · ");
		bi(b, v->lang, "Source", "来源");
		sbuf_adds(b, " ");
		web_escape(b, s->source);
	}
	if (http_url(s->url)) {
		sbuf_adds(b, " · <a rel=\"noopener noreferrer\" href=\"");
		web_escape(b, s->url);
		sbuf_adds(b, "\">");
		bi(b, v->lang, "Original", "原文");
		sbuf_adds(b, "</a>");
	}
	if (http_url(s->url_zh) && (!s->url || strcmp(s->url, s->url_zh))) {
		sbuf_adds(b, " · <a rel=\"noopener noreferrer\" lang=\"zh\" href=\"");
		web_escape(b, s->url_zh);
		sbuf_adds(b, "\">中文原文</a>");
	}
	sbuf_adds(b, "</p>\n");
}

static void chip_names(struct sbuf *b, int lang, const char *en, const char *zh)
{
	if (lang != WEB_ZH || !has_text(zh)) {
		if (lang == WEB_BOTH)
			sbuf_adds(b, "<span lang=\"en\">");
		web_escape(b, has_text(en) ? en : zh);
		if (lang == WEB_BOTH)
			sbuf_adds(b, "</span>");
	}
	if (lang != WEB_EN && has_text(zh) && !(lang == WEB_BOTH && en && !strcmp(en, zh))) {
		if (lang == WEB_BOTH)
			sbuf_adds(b, " <span lang=\"zh\">");
		web_escape(b, zh);
		if (lang == WEB_BOTH)
			sbuf_adds(b, "</span>");
	}
}

static void class_chips(struct sbuf *b, const struct view *v, const struct topics *t, int kind, const struct strv *ids,
			const char *param)
{
	for (size_t i = 0; i < ids->n; i++) {
		int idx = t ? topics_find(t, kind, ids->v[i]) : -1;
		const struct topics_entry *e = idx >= 0 ? topics_get(t, kind, (size_t)idx) : NULL;
		sbuf_addf(b, "<li><a class=\"chip\" href=\"/?%s=", param);
		url_segment(b, ids->v[i]);
		sbuf_adds(b, "\">");
		chip_names(b, v->lang, e ? e->name_en : ids->v[i], e ? e->name_zh : NULL);
		sbuf_adds(b, "</a></li>");
	}
}

static void chips_block(struct sbuf *b, const struct view *v, const struct topics *t)
{
	const struct story *s = v->s;
	if (!s->topics.n && !s->entities.n && !s->ntags)
		return;
	sbuf_adds(b, "<ul class=\"chips\" aria-label=\"Topics and tags\">");
	class_chips(b, v, t, TOPICS_TOPIC, &s->topics, "topic");
	class_chips(b, v, t, TOPICS_ENTITY, &s->entities, "entity");
	for (size_t i = 0; i < s->ntags; i++) {
		sbuf_adds(b, "<li><span class=\"chip tag\">#");
		chip_names(b, v->lang, s->tags[i].en, s->tags[i].zh);
		sbuf_adds(b, "</span></li>");
	}
	sbuf_adds(b, "</ul>\n");
}

static void history_block(struct sbuf *b, const struct view *v, const struct web_revision *revs, size_t n,
			  const char *lang_q)
{
	if (!n)
		return;
	sbuf_adds(b, "<section class=\"history\"><h2>");
	bi(b, v->lang, "Revision history", "修订记录");
	sbuf_adds(b, "</h2>\n<table><thead><tr><th>");
	bi(b, v->lang, "Revision", "版本");
	sbuf_adds(b, "</th><th>");
	bi(b, v->lang, "Stored", "时间");
	sbuf_adds(b, "</th><th>");
	bi(b, v->lang, "Changed", "变更");
	sbuf_adds(b, "</th></tr></thead><tbody>\n");
	for (size_t i = n; i-- > 0;) {
		const struct web_revision *r = &revs[i];
		sbuf_adds(b, "<tr><td>");
		if (r->revision == v->s->revision)
			sbuf_addf(b, "<strong>%d</strong>", r->revision);
		else
			sbuf_addf(b, "<a href=\"?rev=%d%s\">%d</a>", r->revision, lang_q, r->revision);
		sbuf_adds(b, "</td><td>");
		add_time(b, r->created_at);
		sbuf_adds(b, "</td><td>");
		web_escape(b, r->changed ? r->changed : "");
		sbuf_adds(b, "</td></tr>\n");
	}
	sbuf_adds(b, "</tbody></table></section>\n");
}

void web_story_page(struct sbuf *b, const struct story *s, const struct web_revision *revs, size_t nrevs, int current,
		    int lang, const struct topics *topics)
{
	struct view v = {s, {0, 0}, 0, lang};
	int has[STORY_NLANG] = {story_has_lang(s, STORY_EN), story_has_lang(s, STORY_ZH)};
	int fallback = 0;
	if (lang == WEB_EN || lang == WEB_ZH) {
		int want = lang == WEB_EN ? STORY_EN : STORY_ZH;
		int use = has[want] || !has[!want] ? want : !want;
		fallback = use != want;
		v.shown[use] = 1;
		v.lang = use == STORY_EN ? WEB_EN : WEB_ZH;
	} else {
		v.shown[STORY_EN] = has[STORY_EN] || !has[STORY_ZH];
		v.shown[STORY_ZH] = has[STORY_ZH];
		v.lang = v.shown[STORY_EN] && v.shown[STORY_ZH] ? WEB_BOTH : v.shown[STORY_EN] ? WEB_EN : WEB_ZH;
	}
	v.ncols = v.shown[0] + v.shown[1];

	struct sbuf title = {0};
	for (int l = 0; l < STORY_NLANG; l++)
		if (v.shown[l] && has_text(s->title[l]))
			sbuf_addf(&title, "%s%s", title.len ? " · " : "", s->title[l]);
	sbuf_adds(&title, title.len ? " — AI News" : "AI News");
	page_open(b, v.lang, title.s);
	sbuf_free(&title);

	/* Language switch: relative links keep the path; ?rev= is kept too. */
	char revq[32] = "";
	if (current > s->revision)
		snprintf(revq, sizeof revq, "rev=%d&amp;", s->revision);
	sbuf_adds(b, "<nav aria-label=\"Language 语言\">");
	sbuf_addf(b, "<a href=\"?%slang=en\"%s>English</a>\n", revq, lang == WEB_EN ? " aria-current=\"page\"" : "");
	sbuf_addf(b, "<a lang=\"zh\" href=\"?%slang=zh\"%s>中文</a>\n", revq,
		  lang == WEB_ZH ? " aria-current=\"page\"" : "");
	sbuf_addf(b, "<a href=\"?%s\"%s>EN + <span lang=\"zh\">中文</span></a></nav>", revq,
		  lang == WEB_BOTH ? " aria-current=\"page\"" : "");
	page_main(b, v.ncols == 2 ? NULL : "single");

	sbuf_adds(b, "<article>\n");
	if (fallback)
		sbuf_adds(b, lang == WEB_EN ? "<p class=\"note\">This story has no English version; showing <span "
					      "lang=\"zh\">中文</span>.</p>\n"
					    : "<p class=\"note\" lang=\"zh\">本文暂无中文版本，以下为英文原文。</p>\n");
	if (current > s->revision) {
		sbuf_adds(b, "<p class=\"note\">");
		bi(b, v.lang, "An earlier revision.", "这是较早的版本。");
		sbuf_adds(b, " <a href=\"?");
		if (lang == WEB_EN || lang == WEB_ZH)
			sbuf_addf(b, "lang=%s", lang == WEB_EN ? "en" : "zh");
		sbuf_adds(b, "\">");
		bi(b, v.lang, "Latest", "查看最新版");
		sbuf_adds(b, "</a></p>\n");
	}
	head_block(b, &v);
	scores_block(b, &v);
	meta_block(b, &v, current);
	chips_block(b, &v, topics);
	for (int sec = 0; sec < SEC_N; sec++) {
		int any = 0;
		for (int l = 0; l < STORY_NLANG; l++)
			any |= v.shown[l] && sec_has(s, sec, l);
		if (!any)
			continue;
		pair_open(b, &v, sec_class[sec]);
		for (int l = 0; l < STORY_NLANG; l++) {
			if (!v.shown[l])
				continue;
			col_open(b, l);
			if (sec_has(s, sec, l)) {
				sbuf_addf(b, "<h2>%s</h2>\n", sec_title[sec][l]);
				section_body(b, s, sec, l);
			}
			sbuf_adds(b, "</div>\n");
		}
		sbuf_adds(b, "</section>\n");
	}
	history_block(b, &v, revs, nrevs, lang == WEB_EN ? "&amp;lang=en" : lang == WEB_ZH ? "&amp;lang=zh" : "");
	sbuf_adds(b, "</article>\n");

	struct sbuf json = {0};
	sbuf_adds(&json, "/s/");
	url_segment(&json, s->id ? s->id : "");
	sbuf_adds(&json, ".json");
	page_close(b, json.s);
	sbuf_free(&json);
}

/* ---- the index ------------------------------------------------------------------- */

void web_index_open(struct sbuf *b, const struct topics *topics, const char *filter_kind, const char *filter_id)
{
	const struct topics_entry *fe = NULL;
	if (topics && filter_kind && filter_id) {
		int kind = !strcmp(filter_kind, "entity") ? TOPICS_ENTITY : TOPICS_TOPIC;
		int idx = topics_find(topics, kind, filter_id);
		fe = idx >= 0 ? topics_get(topics, kind, (size_t)idx) : NULL;
	}
	page_open(b, WEB_BOTH, fe ? fe->name_en : "Latest AI news · 最新AI资讯");
	page_main(b, "single");
	sbuf_adds(b, "<h1>");
	if (fe) {
		web_escape(b, fe->name_en);
		if (fe->name_zh && strcmp(fe->name_en, fe->name_zh)) {
			sbuf_adds(b, " <span lang=\"zh\">");
			web_escape(b, fe->name_zh);
			sbuf_adds(b, "</span>");
		}
	} else {
		sbuf_adds(b, "Latest stories <span lang=\"zh\">最新资讯</span>");
	}
	sbuf_adds(b, "</h1>\n");
	/* Topic filters as chips that wrap on any width. */
	sbuf_addf(b,
		  "<nav aria-label=\"Topics 话题\"><ul class=\"chips\"><li><a class=\"chip\" href=\"/\"%s>All "
		  "<span lang=\"zh\">全部</span></a></li>",
		  filter_id ? "" : " aria-current=\"page\"");
	size_t nt = topics ? topics_count(topics, TOPICS_TOPIC) : 0;
	for (size_t i = 0; i < nt; i++) {
		const struct topics_entry *e = topics_get(topics, TOPICS_TOPIC, i);
		sbuf_adds(b, "\n<li><a class=\"chip\" href=\"/?topic=");
		url_segment(b, e->id);
		sbuf_addf(b, "\"%s>", e == fe ? " aria-current=\"page\"" : "");
		chip_names(b, WEB_BOTH, e->name_en, e->name_zh);
		sbuf_adds(b, "</a></li>");
	}
	sbuf_adds(b, "</ul></nav>\n");
	sbuf_adds(b, "<ol class=\"stories\">\n");
}

void web_index_item(struct sbuf *b, const struct story *s, const struct topics *topics)
{
	struct sbuf href = {0};
	sbuf_adds(&href, "/s/");
	url_segment(&href, s->id ? s->id : "");
	sbuf_adds(b, "<li><article>");
	int has_en = has_text(s->title[STORY_EN]), has_zh = has_text(s->title[STORY_ZH]);
	sbuf_addf(b, "<h2 lang=\"%s\"><a href=\"%s%s\">", has_en || !has_zh ? "en" : "zh", href.s,
		  has_en || !has_zh ? "" : "?lang=zh");
	web_escape(b, has_en ? s->title[STORY_EN] : has_zh ? s->title[STORY_ZH] : "(untitled)");
	sbuf_adds(b, "</a></h2>");
	if (has_en && has_zh) {
		sbuf_addf(b, "<p lang=\"zh\"><a href=\"%s?lang=zh\">", href.s);
		web_escape(b, s->title[STORY_ZH]);
		sbuf_adds(b, "</a></p>");
	}
	sbuf_adds(b, "<p class=\"meta\">");
	const char *sep = "";
	static const char *const icon[] = {"Hot", "Quality", "Impact"};
	for (int i = 0; i < STORY_NSCORES; i++)
		if (s->scores[i] >= 0) {
			sbuf_addf(b, "%s%s %d", sep, icon[i], s->scores[i]);
			sep = " · ";
		}
	if (s->published_at) {
		sbuf_adds(b, sep);
		add_time(b, s->published_at);
		sep = " · ";
	}
	for (size_t i = 0; i < s->topics.n && i < 6; i++) {
		int idx = topics ? topics_find(topics, TOPICS_TOPIC, s->topics.v[i]) : -1;
		const struct topics_entry *e = idx >= 0 ? topics_get(topics, TOPICS_TOPIC, (size_t)idx) : NULL;
		sbuf_addf(b, "%s<a href=\"/?topic=", sep);
		url_segment(b, s->topics.v[i]);
		sbuf_adds(b, "\">");
		web_escape(b, e ? e->name_en : s->topics.v[i]);
		sbuf_adds(b, "</a>");
		sep = " · ";
	}
	sbuf_adds(b, "</p></article></li>\n");
	sbuf_free(&href);
}

void web_index_close(struct sbuf *b, size_t count)
{
	sbuf_adds(b, "</ol>\n");
	if (!count)
		sbuf_adds(b, "<p class=\"muted\">No stories yet. <span lang=\"zh\">暂无资讯。</span></p>\n");
	page_close(b, NULL);
}

void web_error_page(struct sbuf *b, int status, const char *detail)
{
	const char *en, *zh;
	switch (status) {
	case 404:
		en = "Not found", zh = "未找到";
		break;
	case 405:
		en = "Method not allowed", zh = "不支持的请求方法";
		break;
	case 400:
		en = "Bad request", zh = "请求有误";
		break;
	default:
		en = "Something went wrong", zh = "出错了";
	}
	char title[96];
	snprintf(title, sizeof title, "%d %s · %s", status, en, zh);
	page_open(b, WEB_BOTH, title);
	page_main(b, "single");
	sbuf_addf(b, "<h1>%d %s <span lang=\"zh\">%s</span></h1>\n", status, en, zh);
	if (detail) {
		sbuf_adds(b, "<p>");
		web_escape(b, detail);
		sbuf_adds(b, "</p>\n");
	}
	sbuf_adds(b, "<p><a href=\"/\">Latest stories</a> · <a lang=\"zh\" href=\"/\">最新资讯</a></p>\n");
	page_close(b, NULL);
}

/* ---- operations ---------------------------------------------------------------- */

static void json_time(struct sbuf *b, int64_t t)
{
	if (!t) {
		sbuf_adds(b, "null");
		return;
	}
	char iso[32];
	time_iso(t, iso);
	sbuf_addf(b, "\"%s\"", iso);
}

int web_health_json(struct sbuf *b, const struct web_health *h)
{
	static const char *const state_name[] = {"stopped", "connecting", "ready", "down"};
	struct sbuf problems = {0};
	int healthy = 1;
	for (size_t i = 0; i < h->nplatforms; i++) {
		const struct web_health_platform *p = &h->platforms[i];
		char *msg = NULL;
		if (p->state == PLUGIN_DOWN)
			msg = xasprintf("%s: down%s%s", p->name, p->why ? ": " : "", p->why ? p->why : "");
		else if (p->state == PLUGIN_CONNECTING && p->since && h->now - p->since >= WEB_HEALTH_CONNECTING_S)
			msg = xasprintf("%s: connecting for %lld s", p->name, (long long)(h->now - p->since));
		if (msg) {
			healthy = 0;
			sbuf_adds(&problems, problems.len ? "," : "");
			json_str(&problems, msg);
			free(msg);
		}
	}
	int64_t age = h->outbox_oldest ? h->now - h->outbox_oldest : 0;
	if (age < 0)
		age = 0;
	int stuck = h->outbox_oldest && age >= WEB_HEALTH_STUCK_S;
	if (stuck) {
		healthy = 0;
		char *msg = xasprintf("outbox: the oldest queued alert has waited %lld s", (long long)age);
		sbuf_adds(&problems, problems.len ? "," : "");
		json_str(&problems, msg);
		free(msg);
	}
	sbuf_addf(b, "{\"status\":\"%s\",\"time\":", healthy ? "ok" : "unhealthy");
	json_time(b, h->now);
	sbuf_addf(b, ",\"uptime_s\":%lld,\"platforms\":[", (long long)(h->started ? h->now - h->started : 0));
	for (size_t i = 0; i < h->nplatforms; i++) {
		const struct web_health_platform *p = &h->platforms[i];
		sbuf_adds(b, i ? ",{\"name\":" : "{\"name\":");
		json_str(b, p->name);
		sbuf_adds(b, ",\"type\":");
		json_str(b, p->type);
		sbuf_addf(b, ",\"state\":\"%s\",\"since\":", state_name[p->state & 3]);
		json_time(b, p->since);
		sbuf_adds(b, ",\"why\":");
		json_str(b, p->why);
		sbuf_addc(b, '}');
	}
	sbuf_adds(b, "],\"last_ingest\":");
	json_time(b, h->last_ingest);
	sbuf_addf(b, ",\"outbox\":{\"depth\":%lld,\"oldest_queued_age_s\":%lld,\"stuck\":%s},\"recent_failures\":[",
		  (long long)h->outbox_depth, (long long)age, stuck ? "true" : "false");
	for (size_t i = 0; i < h->nfailures; i++) {
		const struct web_health_failure *f = &h->failures[i];
		sbuf_adds(b, i ? ",{\"at\":" : "{\"at\":");
		json_time(b, f->at);
		sbuf_adds(b, ",\"platform\":");
		json_str(b, f->platform);
		sbuf_addf(b, ",\"outbox_id\":%lld,\"permanent\":%s,\"error\":", (long long)f->outbox_id,
			  f->permanent ? "true" : "false");
		json_str(b, f->error);
		sbuf_addc(b, '}');
	}
	sbuf_addf(b, "],\"problems\":[%s]}\n", problems.len ? problems.s : "");
	sbuf_free(&problems);
	return healthy;
}

void web_ingest_ok(struct web_ingest_result *r, const char *id, int result, int revision, int alerts, int updates)
{
	static const char *const names[] = {"new", "revised", "unchanged"};
	sbuf_adds(&r->ids, r->ids.len ? "," : "");
	json_str(&r->ids, id);
	sbuf_adds(&r->stories, r->stories.len ? ",{\"id\":" : "{\"id\":");
	json_str(&r->stories, id);
	sbuf_addf(&r->stories, ",\"result\":\"%s\",\"revision\":%d,\"alerts\":%d,\"updates\":%d}",
		  names[result >= 0 && result <= 2 ? result : 0], revision, alerts, updates);
	r->nstored++;
	r->nnew += result == 0;
	r->nrevised += result == 1;
	r->nunchanged += result == 2;
}

void web_ingest_error(struct web_ingest_result *r, const char *where, const char *msg)
{
	sbuf_adds(&r->errors, r->errors.len ? ",{\"where\":" : "{\"where\":");
	json_str(&r->errors, where);
	sbuf_adds(&r->errors, ",\"error\":");
	json_str(&r->errors, msg);
	sbuf_addc(&r->errors, '}');
	r->nerrors++;
}

void web_ingest_json(struct sbuf *b, struct web_ingest_result *r)
{
	sbuf_addf(b, "{\"accepted\":%d,\"rejected\":%d,\"new\":%d,\"revised\":%d,\"unchanged\":%d,\"ids\":[",
		  r->nstored, r->nerrors, r->nnew, r->nrevised, r->nunchanged);
	sbuf_adds(b, r->ids.len ? r->ids.s : "");
	sbuf_addf(b, "],\"stories\":[%s],\"errors\":[%s]}\n", r->stories.len ? r->stories.s : "",
		  r->errors.len ? r->errors.s : "");
	sbuf_free(&r->ids);
	sbuf_free(&r->stories);
	sbuf_free(&r->errors);
}

void web_json_error(struct sbuf *b, const char *msg)
{
	sbuf_adds(b, "{\"error\":");
	json_str(b, msg);
	sbuf_adds(b, "}\n");
}
