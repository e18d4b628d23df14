/* test_web — the web side without a browser: page rendering and escaping
 * (web.c), the metrics exposition (metrics.c), listen-address parsing, and
 * the HTTP server itself (http.c) on a real loop with a raw-socket client
 * thread: routes, headers, keep-alive, the webhook's auth and size limits,
 * a client that hangs up mid-body, and stopping with connections open.
 *
 * Run from the repository root (samples and config/topics.json).
 */
#define _GNU_SOURCE
#include "http.h"
#include "ingest.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"
#include "topics.h"
#include "web.h"
#include "t.h"
#include "t_db.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct app app;
static char id001[64], id000[64];

static int has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- escaping ------------------------------------------------------------------ */

static void test_escape(void)
{
	struct sbuf b = {0};
	web_escape(&b, "<script>alert(1)</script> & \"q\" 'a'");
	T_STR(b.s, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot; &#39;a&#39;");
	sbuf_reset(&b);
	web_escape(&b, "tab\there\x01\x1b[31m\x7f ok\nline 中文");
	T_STR(b.s, "tab\there[31m ok\nline 中文");
	sbuf_reset(&b);
	web_escape(&b, "bad \xff\xfe<b>");
	T_STR(b.s, "bad \xef\xbf\xbd\xef\xbf\xbd&lt;b&gt;");
	sbuf_reset(&b);
	web_escape(&b, NULL);
	T_INT(b.len, 0);
	sbuf_free(&b);

	T_INT(web_lang_parse("en"), WEB_EN);
	T_INT(web_lang_parse("zh"), WEB_ZH);
	T_INT(web_lang_parse("zh-CN"), WEB_ZH);
	T_INT(web_lang_parse("zhx"), WEB_BOTH);
	T_INT(web_lang_parse("both"), WEB_BOTH);
	T_INT(web_lang_parse(NULL), WEB_BOTH);
}

/* ---- the analysis page ------------------------------------------------------------ */

static char *page_of(const char *id, int lang)
{
	struct story s;
	story_init(&s);
	if (store_story_get(app.store, id, 0, &s) != 1) {
		story_free(&s);
		return xstrdup("");
	}
	struct web_revision rev = {1, "new", 1790000000};
	struct sbuf b = {0};
	web_story_page(&b, &s, &rev, 1, s.revision, lang, app.topics);
	story_free(&s);
	return sbuf_take(&b);
}

static void test_story_page(void)
{
	char *p = page_of(id001, WEB_BOTH);
	T_OK(str_starts(p, "<!doctype html>\n<html lang=\"en\">"), "doctype and root lang");
	T_OK(has(p, "<meta charset=\"utf-8\">") && has(p, "name=\"viewport\""), "charset and viewport");
	T_OK(has(p, "<div class=\"col\" lang=\"en\"><p class=\"kicker\">ENGLISH</p><h1>Meta Signs AI Computing Power "
		    "Agreement with Data Center Company Crusoe</h1>"),
	     "English title column");
	T_OK(has(p, "<div class=\"col\" lang=\"zh\"><p "
		    "class=\"kicker\">中文</p><h1>Meta或同数据中心公司Crusoe签署AI算力协议</h1>"),
	     "中文 title column");
	T_OK(has(p, "<section class=\"pair two head\">"), "two columns");
	T_OK(has(p, "@media (min-width:900px){.pair.two{grid-template-columns:minmax(0,1fr) minmax(0,1fr)}}"),
	     "columns side by side only on wide screens");
	T_OK(has(p, "prefers-color-scheme:dark"), "dark mode aware");
	static const char *const heads[] = {
	    "<h2>TL;DR</h2>",	 "<h2>要点速览</h2>", "<h2>Key data</h2>",	    "<h2>核心数据</h2>",
	    "<h2>Analysis</h2>", "<h2>深度解读</h2>", "<h2>Industry insights</h2>", "<h2>行业启示</h2>",
	    "<h2>FAQ</h2>",	 "<h2>常见问题</h2>"};
	for (size_t i = 0; i < sizeof heads / sizeof *heads; i++)
		T_OK(has(p, heads[i]), "section %s", heads[i]);
	T_OK(has(p, "<li>Meta secures ~1.6 gigawatts of AI compute from data center firm Crusoe.</li>"), "TL;DR item");
	T_OK(has(p, "<dt>Why is Meta securing so much power from Crusoe a big deal?</dt>"), "FAQ question");
	T_OK(has(p, "<span class=\"num\">70</span>Hot <span lang=\"zh\">热度</span>"), "hot score, both labels");
	T_OK(has(p, "<i style=\"width:65%\"></i>"), "quality bar");
	T_OK(has(p, "<a class=\"chip\" href=\"/?topic=compute\"><span lang=\"en\">Compute</span> <span "
		    "lang=\"zh\">算力</span></a>"),
	     "topic chip with both names");
	T_OK(has(p, "#<span lang=\"en\">LLM</span> <span lang=\"zh\">大模型</span>"), "tag chip");
	T_OK(has(p, "Revision history <span lang=\"zh\">修订记录</span>") && has(p, "<td>new</td>"),
	     "revision history");
	T_OK(has(p, "href=\"/s/") && has(p, ".json\">JSON</a>"), "JSON link");
	T_OK(has(p, "<p>This news summary isn&#39;t just a collection of headlines;"), "analysis paragraph, escaped");
	T_INT(count(p, "<p>"), 10); /* five analysis paragraphs per language */
	/* Self-contained: no scripts, no external resources. */
	T_OK(!has(p, "<script") && !has(p, "src=") && !has(p, "@import") && !has(p, "url(") &&
		 !has(p, "<link rel=\"style"),
	     "no scripts or external resources");
	T_OK(!has(p, "href=\"http"), "no external links (sample 001 has no url)");
	free(p);

	p = page_of(id001, WEB_EN);
	T_OK(str_starts(p, "<!doctype html>\n<html lang=\"en\">"), "en page root lang");
	T_OK(!has(p, "<div class=\"col\" lang=\"zh\">") && has(p, "<section class=\"pair one head\">"),
	     "?lang=en: English only");
	T_OK(has(p, "<main class=\"single\">"), "single column measure");
	T_OK(has(p, "<span class=\"num\">70</span>Hot<span"), "labels in English only");
	T_OK(has(p, "<a href=\"?lang=en\" aria-current=\"page\">English</a>"), "current language marked");
	free(p);

	p = page_of(id001, WEB_ZH);
	T_OK(str_starts(p, "<!doctype html>\n<html lang=\"zh\">"), "zh page root lang");
	T_OK(!has(p, "<div class=\"col\" lang=\"en\">") && has(p, "<div class=\"col\" lang=\"zh\">"),
	     "?lang=zh: 中文 only");
	T_OK(has(p, "<span class=\"num\">70</span>热度"), "labels in Chinese only");
	T_OK(has(p, "<a class=\"chip\" href=\"/?topic=compute\">算力</a>"), "topic chip in Chinese");
	free(p);
}

static void test_hostile_story(void)
{
	struct story s;
	story_init(&s);
	s.id = xstrdup("s-x\"y<z>/1");
	s.title[STORY_EN] = xstrdup("<script>alert(1)</script>");
	s.summary[STORY_EN] = xstrdup("\"><img src=x onerror=alert(1)>");
	s.url = xstrdup("javascript:alert(1)");
	s.url_zh = xstrdup("https://example.org/a?b=\"c\"&d=<e>");
	s.scores[STORY_HOT] = 150;
	strv_push(&s.tldr[STORY_EN], "<b>bold</b> & more");
	strv_push(&s.key_data[STORY_EN], "Meta | <i>1.6 GW</i> | Crusoe");
	strv_push(&s.key_data[STORY_EN], "plain row");
	s.analysis[STORY_EN] = xstrdup("first\nline two\n\n\n<style>body{display:none}</style>");
	story_faq_push(&s.faq[STORY_EN], "<q>?", "<a href=x>a</a>");
	story_tag_push(&s, "<svg onload=alert(1)>", NULL);
	strv_push(&s.topics, "no-such<topic>");
	s.revision = 1;
	struct sbuf b = {0};
	web_story_page(&b, &s, NULL, 0, 3, WEB_BOTH, app.topics);
	const char *p = b.s;
	T_OK(has(p, "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>"), "script title is text");
	T_OK(!has(p, "<script") && !has(p, "<img") && !has(p, "<svg") && !has(p, "<b>") && !has(p, "<i>") &&
		 !has(p, "<q>") && !has(p, "<style>body") && !has(p, "<a href=x"),
	     "no markup from the story survives");
	T_OK(!has(p, "javascript:"), "a javascript: url is not a link");
	T_OK(has(p, "lang=\"zh\" href=\"https://example.org/a?b=&quot;c&quot;&amp;d=&lt;e&gt;\">中文原文</a>"),
	     "http(s) url escaped in its attribute");
	T_OK(has(p, "<i style=\"width:100%\"></i>"), "score bar capped at 100%%");
	T_OK(has(p, "<tr><th scope=\"row\">Meta</th><td>&lt;i&gt;1.6 GW&lt;/i&gt;</td><td>Crusoe</td></tr>") &&
		 has(p, "<tr><th scope=\"row\">plain row</th></tr>"),
	     "key data cells as a table");
	T_OK(has(p, "<p>first<br>line two</p>") && has(p, "<p>&lt;style&gt;body{display:none}&lt;/style&gt;</p>"),
	     "paragraphs and line breaks");
	T_OK(has(p, "href=\"/?topic=no-such%3Ctopic%3E\">no-such&lt;topic&gt;</a>"), "unknown topic id escaped");
	T_OK(has(p, "href=\"/s/s-x%22y%3Cz%3E%2F1.json\""), "id percent-encoded in links");
	T_OK(has(p, "Revision 1 / 3") && has(p, "An earlier revision."), "older revision noted");
	T_OK(has(p, "href=\"?rev=1&amp;lang=zh\""), "language switch keeps the revision");
	T_OK(!has(p, "<div class=\"col\" lang=\"zh\">"), "no 中文 column for an English-only story");
	sbuf_reset(&b);
	web_story_page(&b, &s, NULL, 0, 1, WEB_ZH, app.topics);
	T_OK(has(b.s, "本文暂无中文版本") && has(b.s, "<div class=\"col\" lang=\"en\">"),
	     "?lang=zh falls back to English with a note");
	sbuf_free(&b);
	story_free(&s);

	/* No title at all still renders a heading. */
	story_init(&s);
	s.id = xstrdup("s-empty");
	web_story_page(&b, &s, NULL, 0, 0, WEB_BOTH, NULL);
	T_OK(has(b.s, "<h1>(untitled)</h1>") && has(b.s, "</html>\n"), "empty story renders");
	sbuf_free(&b);
	story_free(&s);
}

static void index_cb(void *ud, struct story *s)
{
	web_index_item(ud, s, app.topics);
}

static void test_index_and_errors(void)
{
	struct sbuf b = {0};
	web_index_open(&b, app.topics, NULL, NULL);
	struct store_query q = {.limit = 50, .order = STORE_ORDER_RECENT};
	int n = store_list(app.store, &q, index_cb, &b);
	web_index_close(&b, (size_t)n);
	T_INT(n, 3);
	T_INT(count(b.s, "<li><article>"), 3);
	T_OK(has(b.s, "<p lang=\"zh\"><a href=\"/s/") &&
		 has(b.s, "?lang=zh\">Meta或同数据中心公司Crusoe签署AI算力协议</a>"),
	     "Chinese title links the 中文 page");
	T_OK(has(b.s, "<a class=\"chip\" href=\"/\" aria-current=\"page\">All"), "unfiltered index marks All");
	sbuf_reset(&b);
	web_index_open(&b, app.topics, "topic", "compute");
	web_index_close(&b, 0);
	T_OK(has(b.s, "<h1>Compute <span lang=\"zh\">算力</span></h1>"), "filtered index heading");
	T_OK(has(b.s, "href=\"/?topic=compute\" aria-current=\"page\""), "filter marked");
	T_OK(has(b.s, "No stories yet."), "empty index says so");
	sbuf_reset(&b);
	web_error_page(&b, 404, "No story with id \"<x>\".");
	T_OK(has(b.s, "<h1>404 Not found <span lang=\"zh\">未找到</span></h1>"), "404 heading");
	T_OK(has(b.s, "No story with id &quot;&lt;x&gt;&quot;."), "detail escaped");
	sbuf_free(&b);
}

/* ---- operations documents ---------------------------------------------------------- */

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);
	T_OK(j != NULL, "valid JSON: %.200s", s);
	return j;
}

static void test_health(void)
{
	struct web_health_platform pl[2] = {{"work", "slack", 2, 1000, NULL}, {"con\"sole", "console", 2, 1000, "ok"}};
	struct web_health_failure fl[1] = {{1500, "work", 42, 1, "channel_not_found <\"x\">\n"}};
	struct web_health h = {2000, 1000, pl, 2, 1900, 3, 1950, fl, 1};
	struct sbuf b = {0};
	T_INT(web_health_json(&b, &h), 1);
	cJSON *j = parse(b.s);
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "ok");
	T_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "platforms")), 2);
	cJSON *p1 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "platforms"), 1);
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(p1, "name")), "con\"sole");
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(p1, "state")), "ready");
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "last_ingest")), "1970-01-01T00:31:40Z");
	cJSON *ob = cJSON_GetObjectItem(j, "outbox");
	T_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(ob, "depth")), 3);
	T_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(ob, "oldest_queued_age_s")), 50);
	cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "recent_failures"), 0);
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(f0, "error")), "channel_not_found <\"x\">\n");
	T_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(f0, "outbox_id")), 42);
	T_OK(!has(b.s, "<"), "no raw '<' in JSON");
	cJSON_Delete(j);

	/* A platform down, one connecting too long, the outbox stuck. */
	pl[0].state = 3;
	pl[0].why = "invalid_auth";
	pl[1].state = 1;
	pl[1].since = 2000 - WEB_HEALTH_CONNECTING_S;
	h.outbox_oldest = 2000 - WEB_HEALTH_STUCK_S;
	sbuf_reset(&b);
	T_INT(web_health_json(&b, &h), 0);
	j = parse(b.s);
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "status")), "unhealthy");
	cJSON *pr = cJSON_GetObjectItem(j, "problems");
	T_INT(cJSON_GetArraySize(pr), 3);
	T_STR(cJSON_GetStringValue(cJSON_GetArrayItem(pr, 0)), "work: down: invalid_auth");
	T_OK(has(cJSON_GetStringValue(cJSON_GetArrayItem(pr, 2)), "outbox"), "stuck outbox named");
	T_OK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "outbox"), "stuck")), "stuck flag");
	cJSON_Delete(j);

	/* Just connecting, and a queue younger than the limit: healthy. */
	pl[0].state = 2;
	pl[1].since = 2000 - 10;
	h.outbox_oldest = 2000 - WEB_HEALTH_STUCK_S + 1;
	sbuf_reset(&b);
	T_INT(web_health_json(&b, &h), 1);
	sbuf_free(&b);
}

static void test_ingest_result(void)
{
	struct web_ingest_result r;
	memset(&r, 0, sizeof r);
	web_ingest_ok(&r, "s-1", 0, 1, 2, 0);
	web_ingest_ok(&r, "s-\"2", 2, 3, 0, 0);
	web_ingest_error(&r, "$[2].scores.hot", "$[2].scores.hot: expected an integer");
	struct sbuf b = {0};
	web_ingest_json(&b, &r);
	cJSON *j = parse(b.s);
	T_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "accepted")), 2);
	T_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "rejected")), 1);
	T_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "unchanged")), 1);
	T_STR(cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "ids"), 1)), "s-\"2");
	cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "errors"), 0);
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "where")), "$[2].scores.hot");
	cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "stories"), 0);
	T_STR(cJSON_GetStringValue(cJSON_GetObjectItem(s0, "result")), "new");
	T_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(s0, "alerts")), 2);
	cJSON_Delete(j);
	sbuf_reset(&b);
	memset(&r, 0, sizeof r);
	web_ingest_json(&b, &r);
	T_STR(b.s, "{\"accepted\":0,\"rejected\":0,\"new\":0,\"revised\":0,\"unchanged\":0,\"ids\":[],\"stories\":[],"
		   "\"errors\":[]}\n");
	sbuf_free(&b);
}

static void test_metrics(void)
{
	struct metrics *m = metrics_new();
	metrics_add(m, METRICS_ALERTS_SENT, "work", NULL, 1);
	metrics_add(m, METRICS_ALERTS_SENT, "work", NULL, 2);
	metrics_add(m, METRICS_ALERTS_SENT, "a\"b\\c\nd", NULL, 1);
	metrics_add(m, METRICS_ALERTS_SENT, "work", NULL, -5); /* counters never go down */
	metrics_add(m, METRICS_ALERTS_FAILED, "work", "retry", 1);
	metrics_set(m, METRICS_ALERTS_SENT, "work", NULL, 100); /* not a gauge: ignored */
	metrics_set(m, METRICS_PLATFORM_UP, "work", NULL, 1);
	metrics_set(m, METRICS_OUTBOX_DEPTH, "ignored", "labels", 7);
	metrics_observe(m, METRICS_COMMAND_SECONDS, "work", 0.0004);
	metrics_observe(m, METRICS_COMMAND_SECONDS, "work", 0.003);
	metrics_observe(m, METRICS_COMMAND_SECONDS, "work", 9);
	metrics_add(m, METRICS_HTTP_REQUESTS, "story", "200", 1);
	T_INT(metrics_get(m, METRICS_ALERTS_SENT, "work", NULL), 3);
	T_INT(metrics_get(m, METRICS_COMMAND_SECONDS, "work", NULL), 3);
	T_INT(metrics_get(m, METRICS_OUTBOX_DEPTH, NULL, NULL), 7);
	struct sbuf b = {0};
	metrics_render(m, &b);
	T_OK(has(b.s, "# TYPE ainews_alerts_sent_total counter\n"), "type line");
	T_OK(has(b.s, "ainews_alerts_sent_total{platform=\"work\"} 3\n"), "counter");
	T_OK(has(b.s, "ainews_alerts_sent_total{platform=\"a\\\"b\\\\c\\nd\"} 1\n"), "label value escaped");
	T_OK(has(b.s, "ainews_alerts_failed_total{platform=\"work\",kind=\"retry\"} 1\n"), "two labels");
	T_OK(has(b.s, "ainews_outbox_depth 7\n"), "unlabelled gauge");
	T_OK(has(b.s, "ainews_outbox_oldest_age_seconds 0\n"), "unlabelled family present before any event");
	T_OK(has(b.s, "ainews_command_duration_seconds_bucket{platform=\"work\",le=\"0.0005\"} 1\n") &&
		 has(b.s, "ainews_command_duration_seconds_bucket{platform=\"work\",le=\"0.005\"} 2\n") &&
		 has(b.s, "ainews_command_duration_seconds_bucket{platform=\"work\",le=\"2.5\"} 2\n") &&
		 has(b.s, "ainews_command_duration_seconds_bucket{platform=\"work\",le=\"+Inf\"} 3\n") &&
		 has(b.s, "ainews_command_duration_seconds_sum{platform=\"work\"} 9.0034\n") &&
		 has(b.s, "ainews_command_duration_seconds_count{platform=\"work\"} 3\n"),
	     "histogram cumulative buckets, sum and count");
	T_OK(has(b.s, "ainews_http_requests_total{route=\"story\",code=\"200\"} 1\n"), "http requests");
	/* Every non-comment line is "name{labels} value". */
	int bad = 0;
	for (char *line = b.s; line && *line;) {
		char *nl = strchr(line, '\n');
		if (line[0] != '#' && (!str_starts(line, "ainews_") || !strchr(line, ' ')))
			bad++;
		line = nl ? nl + 1 : NULL;
	}
	T_INT(bad, 0);
	metrics_clear(m, METRICS_PLATFORM_UP);
	sbuf_reset(&b);
	metrics_render(m, &b);
	T_OK(!has(b.s, "ainews_platform_up{"), "cleared family has no series");
	sbuf_free(&b);
	metrics_free(m);
	metrics_free(NULL);
	metrics_add(NULL, METRICS_ALERTS_SENT, "x", NULL, 1); /* no-op */
}

static void test_listen(void)
{
	char *h;
	int port;
	T_INT(http_parse_listen("127.0.0.1:8080", &h, &port), 0);
	T_STR(h, "127.0.0.1");
	T_INT(port, 8080);
	free(h);
	T_INT(http_parse_listen(":9000", &h, &port), 0);
	T_OK(h == NULL && port == 9000, "all interfaces");
	T_INT(http_parse_listen("0.0.0.0:1", &h, &port), 0);
	T_OK(h == NULL, "0.0.0.0 is all interfaces");
	T_INT(http_parse_listen("[::1]:0", &h, &port), 0);
	T_STR(h, "::1");
	T_INT(port, 0);
	free(h);
	T_INT(http_parse_listen("localhost:80", &h, &port), 0);
	T_STR(h, "127.0.0.1");
	free(h);
	T_INT(http_parse_listen("127.0.0.1", &h, &port), -1);
	T_INT(http_parse_listen("127.0.0.1:", &h, &port), -1);
	T_INT(http_parse_listen("127.0.0.1:65536", &h, &port), -1);
	T_INT(http_parse_listen("127.0.0.1:8o", &h, &port), -1);
	T_INT(http_parse_listen("::1:80", &h, &port), -1);
	T_INT(http_parse_listen("[::1]80", &h, &port), -1);
	T_OK(http_listen_off("") && http_listen_off("off") && http_listen_off(NULL) && !http_listen_off(":80"),
	     "off values");
}

/* ---- the server, with a raw-socket client on a thread ----------------------------- */

struct resp {
	int status;
	char *head; /* lower-cased header block */
	char *body;
	size_t body_len;
};

static void resp_free(struct resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

static int port_;
static struct loop *loop_;
static int kicks;

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port_);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {10, 0}; /* generous: a hang fails, never flakes */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one response (Content-Length framed; a HEAD answer has no body),
 * never past its end: the next pipelined response stays in the socket.
 * 0 ok, -1 on EOF/timeout. */
static int read_resp_head(int fd, struct resp *r, int head_only)
{
	struct sbuf in = {0};
	memset(r, 0, sizeof *r);
	while (!in.s || !strstr(in.s, "\r\n\r\n")) { /* headers a byte at a time */
		char c;
		if (recv(fd, &c, 1, 0) != 1) {
			sbuf_free(&in);
			return -1;
		}
		sbuf_addc(&in, c);
	}
	r->head = sbuf_take(&in);
	for (char *c = r->head; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	r->status = atoi(r->head + 9);
	char *cl = strstr(r->head, "content-length: ");
	size_t want = cl && !head_only ? strtoul(cl + 16, NULL, 10) : 0;
	char buf[16384];
	while (in.len < want) {
		size_t ask = want - in.len < sizeof buf ? want - in.len : sizeof buf;
		ssize_t n = recv(fd, buf, ask, 0);
		if (n <= 0)
			break;
		sbuf_add(&in, buf, (size_t)n);
	}
	r->body_len = in.len;
	r->body = xstrndup(in.s ? in.s : "", in.len);
	sbuf_free(&in);
	return r->body_len == want ? 0 : -1;
}

static int read_resp(int fd, struct resp *r)
{
	return read_resp_head(fd, r, 0);
}

static int request(const char *raw, struct resp *r)
{
	int fd = dial();
	if (fd < 0)
		return -1;
	int rc = send_all(fd, raw, strlen(raw)) || read_resp(fd, r) ? -1 : 0;
	close(fd);
	return rc;
}

static int header_is(const struct resp *r, const char *line)
{
	return has(r->head, line);
}

#define TOKEN "test-token-0123456789"

struct client_result {
	int failures, passes; /* the client thread's own counts, merged after join */
};

static void stop_loop(void *ud)
{
	loop_stop(ud);
}

static struct client_result cres;

static void client_check(int *fail, int cond, const char *what)
{
	if (!cond) {
		(*fail)++;
		printf("not ok - client: %s\n", what);
	} else {
		cres.passes++;
	}
}

static int idle_fd = -1;

static void *client(void *ud)
{
	struct client_result *cr = ud;
	int *f = &cr->failures;
	struct resp r;
	char req[1024];

	snprintf(req, sizeof req, "GET /s/%s HTTP/1.1\r\nHost: x\r\n\r\n", id001);
	client_check(f, !request(req, &r), "story page answered");
	client_check(f, r.status == 200, "story 200");
	client_check(f, header_is(&r, "content-type: text/html; charset=utf-8\r\n"), "html content type");
	client_check(f, header_is(&r, "x-content-type-options: nosniff\r\n"), "nosniff");
	client_check(f, header_is(&r, "cache-control: public, max-age=60\r\n"), "page cache-control");
	client_check(f, header_is(&r, "referrer-policy: no-referrer\r\n"), "referrer-policy");
	client_check(f,
		     header_is(&r, "content-security-policy: default-src 'none'; style-src 'unsafe-inline'; img-src "
				   "data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"),
		     "CSP forbids scripts");
	client_check(f, has(r.body, "Meta或同数据中心公司Crusoe签署AI算力协议") && has(r.body, "</html>\n"),
		     "whole page body");
	resp_free(&r);

	/* Keep-alive: three requests on one connection, the last a HEAD. */
	int fd = dial();
	snprintf(req, sizeof req, "GET /s/%s.json HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		 id000);
	client_check(f, fd >= 0 && !send_all(fd, req, strlen(req)), "pipelined send");
	client_check(f, !read_resp(fd, &r) && r.status == 200, "json 200 on a kept-alive connection");
	client_check(f, header_is(&r, "content-type: application/json; charset=utf-8\r\n"), "json content type");
	cJSON *j = cJSON_Parse(r.body);
	client_check(f, j && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), id000), "story JSON id");
	cJSON_Delete(j);
	resp_free(&r);
	client_check(f, !read_resp(fd, &r) && r.status == 200, "healthz 200 second on the connection");
	client_check(f, header_is(&r, "cache-control: no-store\r\n"), "healthz no-store");
	client_check(f, has(r.body, "\"status\":\"ok\""), "healthz ok");
	resp_free(&r);
	snprintf(req, sizeof req, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
	client_check(f, !send_all(fd, req, strlen(req)), "head send");
	client_check(f, !read_resp_head(fd, &r, 1) && r.status == 200, "HEAD answered");
	client_check(f, r.body_len == 0 && has(r.head, "content-length: "), "HEAD: length, no body");
	resp_free(&r);
	close(fd);

	client_check(f, !request("GET /s/s-nope HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 404, "unknown 404");
	client_check(f, has(r.body, "404 Not found") && header_is(&r, "cache-control: no-store"), "404 page");
	resp_free(&r);
	client_check(f, !request("GET /s/s-nope.json HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 404, "json 404");
	client_check(f, has(r.body, "{\"error\":"), "json 404 body");
	resp_free(&r);
	client_check(f, !request("GET /nothing/here HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 404, "other 404");
	resp_free(&r);
	client_check(f, !request("GET /?topic=compute HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 200, "index");
	client_check(f, count(r.body, "<li><article>") == 2, "compute filter lists 2 stories");
	resp_free(&r);
	client_check(f, !request("GET /?topic=nope HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 404,
		     "unknown topic 404");
	resp_free(&r);
	client_check(f, !request("DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 405, "405");
	client_check(f, header_is(&r, "allow: get, head\r\n"), "Allow header");
	resp_free(&r);
	client_check(f, !request("GET /api/stories HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 405, "GET api 405");
	resp_free(&r);

	/* The webhook. */
	const char *good =
	    "{\"id\":\"s-hook-1\",\"title\":{\"en\":\"Webhook story about GPUs\"},\"scores\":{\"hot\":90}}";
	snprintf(req, sizeof req, "POST /api/stories HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(good), good);
	client_check(f, !request(req, &r) && r.status == 401, "no token 401");
	client_check(f, header_is(&r, "www-authenticate: bearer realm=\"ainews\"\r\n"), "WWW-Authenticate");
	resp_free(&r);
	snprintf(req, sizeof req,
		 "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
		 "x\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(good), good);
	client_check(f, !request(req, &r) && r.status == 401, "longer token 401");
	resp_free(&r);
	snprintf(req, sizeof req,
		 "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-token\r\nContent-Length: "
		 "%zu\r\n\r\n%s",
		 strlen(good), good);
	client_check(f, !request(req, &r) && r.status == 401, "prefix of the token 401");
	resp_free(&r);
	snprintf(req, sizeof req,
		 "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
		 "\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(good), good);
	client_check(f, !request(req, &r) && r.status == 202, "good story 202");
	client_check(f, has(r.body, "\"ids\":[\"s-hook-1\"]"), "stored id reported");
	resp_free(&r);
	/* The page cache follows the story: a revision shows at once. */
	client_check(f, !request("GET /s/s-hook-1 HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 200, "hook page");
	client_check(f, has(r.body, "<h1>Webhook story about GPUs</h1>"), "hook page title");
	resp_free(&r);
	const char *revised =
	    "{\"id\":\"s-hook-1\",\"title\":{\"en\":\"Revised story about GPUs\"},\"scores\":{\"hot\":90}}";
	snprintf(req, sizeof req,
		 "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
		 "\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(revised), revised);
	client_check(f, !request(req, &r) && r.status == 202 && has(r.body, "\"result\":\"revised\""), "revision 202");
	resp_free(&r);
	client_check(f, !request("GET /s/s-hook-1 HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 200, "page again");
	client_check(f, has(r.body, "<h1>Revised story about GPUs</h1>") && has(r.body, "<strong>2</strong>"),
		     "revised page served, not the cached one");
	resp_free(&r);
	client_check(f, !request("GET /s/s-hook-1?rev=1 HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 200,
		     "first revision");
	client_check(f, has(r.body, "<h1>Webhook story about GPUs</h1>") && has(r.body, "An earlier revision."),
		     "first revision page");
	resp_free(&r);
	const char *batch =
	    "[{\"id\":\"s-hook-2\",\"title\":\"Second\"},{\"id\":\"s-hook-3\",\"scores\":{\"hot\":\"x\"}}]";
	snprintf(req, sizeof req,
		 "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: bearer " TOKEN
		 "\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(batch), batch);
	client_check(f, !request(req, &r) && r.status == 400, "batch with a bad story 400");
	client_check(f, has(r.body, "\"ids\":[\"s-hook-2\"]") && has(r.body, "\"where\":\"$[1].scores.hot\""),
		     "good one kept, bad one located");
	resp_free(&r);
	snprintf(req, sizeof req,
		 "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
		 "\r\nContent-Length: 9999999\r\n\r\n");
	client_check(f, !request(req, &r) && r.status == 413, "Content-Length over 5 MB: 413 before the body");
	client_check(f, header_is(&r, "connection: close\r\n"), "early answer closes");
	resp_free(&r);
	snprintf(req, sizeof req, "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN "\r\n\r\n");
	client_check(f, !request(req, &r) && r.status == 411, "no Content-Length: 411");
	resp_free(&r);
	/* A client that hangs up mid-body must not leak its buffer. */
	fd = dial();
	snprintf(req, sizeof req,
		 "POST /api/stories HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN
		 "\r\nContent-Length: 1000\r\n\r\n"
		 "{\"id\":");
	client_check(f, fd >= 0 && !send_all(fd, req, strlen(req)), "partial body sent");
	close(fd);

	client_check(f, !request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r) && r.status == 200, "metrics");
	client_check(f, header_is(&r, "content-type: text/plain; version=0.0.4; charset=utf-8\r\n"), "metrics type");
	client_check(f, has(r.body, "ainews_http_requests_total{route=\"api_stories\",code=\"401\"} 3\n"),
		     "401s counted");
	client_check(f, has(r.body, "ainews_outbox_depth "), "outbox depth gauge");
	resp_free(&r);

	/* Leave one idle keep-alive connection open across the stop. */
	idle_fd = dial();
	const char *hz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	client_check(f, idle_fd >= 0 && !send_all(idle_fd, hz, strlen(hz)) && !read_resp(idle_fd, &r),
		     "idle connection");
	resp_free(&r);
	loop_post(loop_, stop_loop, loop_);
	return NULL;
}

static void hook_ingested(void *ud, int stored)
{
	(void)ud;
	kicks += stored;
}

static void timeout(void *ud)
{
	printf("not ok - server test timed out\n");
	t_fail++;
	loop_stop(ud);
}

static void test_server(void)
{
	char *err = NULL;
	loop_ = loop_new(&err);
	T_OK(loop_ != NULL, "loop: %s", err ? err : "");
	if (!loop_)
		return;
	struct metrics *m = metrics_new();
	struct http_hooks hooks = {NULL, NULL, hook_ingested, NULL};
	struct http_opts o = {"127.0.0.1:0", TOKEN, "TEST_TOKEN"};
	struct http_server *srv = http_start(loop_, &app, m, &hooks, &o, &err);
	T_OK(srv != NULL, "http_start: %s", err ? err : "");
	if (!srv) {
		free(err);
		loop_free(loop_);
		metrics_free(m);
		return;
	}
	port_ = http_port(srv);
	T_OK(port_ > 0, "port picked: %d", port_);

	/* A port another socket holds: a clean error, not a crash. (Not a
	 * second http_start on port_: lws would share that listener.) */
	int hold = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	int held = !bind(hold, (struct sockaddr *)&sa, sizeof sa) && !listen(hold, 1) &&
		   !getsockname(hold, (struct sockaddr *)&sa, &sl);
	T_OK(held, "hold a port");
	char busy[32];
	snprintf(busy, sizeof busy, "127.0.0.1:%d", ntohs(sa.sin_port));
	struct http_opts o2 = {busy, NULL, NULL};
	struct http_server *dup = http_start(loop_, &app, m, NULL, &o2, &err);
	T_OK(dup == NULL && err && has(err, "cannot listen"), "port in use: %s", err ? err : "(started?)");
	free(err);
	err = NULL;
	close(hold);
	struct http_opts o3 = {"nonsense", NULL, NULL};
	T_OK(http_start(loop_, &app, m, NULL, &o3, &err) == NULL && has(err, "bad listen address"), "bad address");
	free(err);

	struct loop_timer guard;
	memset(&guard, 0, sizeof guard);
	loop_timer_start(loop_, &guard, 60000, timeout, loop_);
	pthread_t th;
	pthread_create(&th, NULL, client, &cres);
	loop_run(loop_);
	pthread_join(th, NULL);
	loop_timer_stop(&guard);
	t_fail += cres.failures;
	t_pass += cres.passes;
	T_INT(kicks, 3); /* s-hook-1, its revision, then s-hook-2 */
	struct story s;
	story_init(&s);
	T_INT(store_story_get(app.store, "s-hook-2", 0, &s), 1);
	story_free(&s);
	T_INT(store_story_get(app.store, "s-hook-3", 0, &s), 0);
	story_free(&s);
	T_INT(metrics_get(m, METRICS_HTTP_REQUESTS, "story", "200"), 4);

	/* Stop with the idle connection open; everything is released by
	 * loop_free at the latest (ASan/valgrind would say otherwise). */
	http_stop(srv);
	loop_restart(loop_);
	loop_post(loop_, stop_loop, loop_);
	loop_run(loop_);
	close(idle_fd);
	loop_free(loop_);
	metrics_free(m);
}

static void on_ingest(void *ud, const struct ingest_report *r)
{
	if (r->ok && r->id)
		snprintf(ud, 64, "%s", r->id);
}

int main(void)
{
	char db[64];
	if (t_db_path(db, sizeof db, "web"))
		return 1;
	char *err = NULL;
	if (app_open(&app, NULL, db, &err)) {
		printf("not ok - app_open: %s\n", err);
		free(err);
		unlink(db);
		return 1;
	}
	T_INT(ingest_file(&app, t_sample("000"), 1, on_ingest, id000), 0);
	T_INT(ingest_file(&app, t_sample("001"), 1, on_ingest, id001), 0);
	char id002[64] = "";
	T_INT(ingest_file(&app, t_sample("002"), 1, on_ingest, id002), 0);

	test_escape();
	test_story_page();
	test_hostile_story();
	test_index_and_errors();
	test_health();
	test_ingest_result();
	test_metrics();
	test_listen();
	test_server();

	app_close(&app);
	t_db_remove(db);
	return t_done();
}
