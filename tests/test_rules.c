/* test_rules — the rule language (parse, canonical text, eval, explain,
 * errors with columns, hostile input) and the index, checked against brute
 * force on fixed-seed random rules and facts. */
#include "rules.h"
#include "util.h"
#include "t.h"

#include <stdint.h>

/* ---- fake taxonomy ---------------------------------------------------- */

struct fake {
	struct strv kw; /* interned keywords, ASCII-case-folded */
};

static const char *const fake_topic[][2] = {
	{"compute", "compute"}, {"算力", "compute"}, {"talent", "talent"}, {"regulation", "regulation"}};
static const char *const fake_entity[][2] = {{"nvidia", "nvidia"}, {"英伟达", "nvidia"}, {"meta", "meta"}};

static int ascii_ieq(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = (*a >= 'A' && *a <= 'Z') ? *a + 32 : *a, y = (*b >= 'A' && *b <= 'Z') ? *b + 32 : *b;
		if (x != y)
			return 0;
		if (!x)
			return 1;
	}
}

static int fake_resolve(void *ud, const char *word, int *kind, const char **id)
{
	(void)ud;
	for (size_t i = 0; i < sizeof fake_topic / sizeof *fake_topic; i++)
		if (ascii_ieq(word, fake_topic[i][0])) {
			*kind = RULES_TOPIC;
			*id = fake_topic[i][1];
			return 0;
		}
	for (size_t i = 0; i < sizeof fake_entity / sizeof *fake_entity; i++)
		if (ascii_ieq(word, fake_entity[i][0])) {
			*kind = RULES_ENTITY;
			*id = fake_entity[i][1];
			return 0;
		}
	return -1;
}

static int fake_keyword(void *ud, const char *text)
{
	struct fake *fk = ud;
	for (size_t i = 0; i < fk->kw.n; i++)
		if (ascii_ieq(fk->kw.v[i], text))
			return (int)i;
	strv_push(&fk->kw, text);
	return (int)fk->kw.n - 1;
}

static int fake_known(void *ud, int kind, const char *id)
{
	(void)ud;
	if (kind == RULES_TOPIC)
		return strcmp(id, "compute") && strcmp(id, "talent") && strcmp(id, "regulation") ? -1 : 0;
	return strcmp(id, "nvidia") && strcmp(id, "meta") ? -1 : 0;
}

static struct fake fk;
static const struct rules_resolver R = {fake_resolve, fake_keyword, fake_known, &fk};

/* ---- helpers ---------------------------------------------------------- */

static struct rules_facts facts(int hot, int quality, int impact)
{
	struct rules_facts f = {.scores = {hot, quality, impact}};
	return f;
}

/* Canonical text of text, or "ERR <col>: <msg>". Static buffer. */
static const char *canon(const char *text)
{
	static char out[600];
	struct rules_error err;
	struct rules_expr *e = rules_parse(text, &R, &err);
	if (!e) {
		snprintf(out, sizeof out, "ERR %d: %s", err.column, err.msg);
		return out;
	}
	char *s = rules_expr_string(e);
	snprintf(out, sizeof out, "%s", s);
	free(s);
	rules_expr_free(e);
	return out;
}

/* -1 on parse error, else the evaluation. */
static int ev(const char *text, const struct rules_facts *f)
{
	struct rules_expr *e = rules_parse(text, &R, NULL);
	if (!e)
		return -1;
	int v = rules_eval(e, f);
	rules_expr_free(e);
	return v;
}

static const char *explain(const char *text, const struct rules_facts *f)
{
	static char out[600];
	struct rules_expr *e = rules_parse(text, &R, NULL);
	if (!e)
		return "(parse error)";
	char *s = rules_explain(e, f);
	snprintf(out, sizeof out, "%s", s);
	free(s);
	rules_expr_free(e);
	return out;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* ---- constructs ------------------------------------------------------- */

static void test_comparisons(void)
{
	static const struct {
		const char *expr;
		int at59, at60, at61;
	} c[] = {
		{"hot>=60", 0, 1, 1}, {"hot > 60", 0, 0, 1}, {"hot<=60", 1, 1, 0}, {"hot < 60", 1, 0, 0},
		{"hot==60", 0, 1, 0}, {"hot = 60", 0, 1, 0}, {"hot!=60", 1, 0, 1}, {"hot ≥ 60", 0, 1, 1},
		{"hot≤60", 1, 1, 0}, {"hot ≠ 60", 1, 0, 1}, {"热度>=60", 0, 1, 1}, {"HOT >= 60", 0, 1, 1},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		struct rules_facts f59 = facts(59, -1, -1), f60 = facts(60, -1, -1), f61 = facts(61, -1, -1);
		T_INT(ev(c[i].expr, &f59), c[i].at59);
		T_INT(ev(c[i].expr, &f60), c[i].at60);
		T_INT(ev(c[i].expr, &f61), c[i].at61);
		/* A missing score is false under every operator, "!=" included. */
		struct rules_facts none = facts(-1, 60, 60);
		T_INT(ev(c[i].expr, &none), 0);
	}
	struct rules_facts none = facts(-1, -1, -1), big = facts(150, -1, -1);
	T_INT(ev("not hot >= 50", &none), 1);
	T_INT(ev("hot < 200", &big), -1); /* 200 is out of range */
	T_INT(ev("hot >= 0", &big), 0);   /* out-of-range facts count as missing */

	struct rules_facts f = facts(10, 40, 72);
	T_INT(ev("impact >= 70", &f), 1);
	T_INT(ev("影响力 ≥ 70", &f), 1);
	T_INT(ev("影响力 ≥ 73", &f), 0);
	T_INT(ev("质量<50", &f), 1);
	T_INT(ev("質量 < 40", &f), 0);
	T_INT(ev("quality == 40", &f), 1);
	T_INT(ev("Impact>71", &f), 1);
	T_INT(ev("ｉｍｐａｃｔ＞＝７２", &f), 1);
	T_INT(ev("ｉｍｐａｃｔ＞＝７３", &f), 0);
	T_STR(canon("热度>=60"), "hot >= 60");
	T_STR(canon("影响力＞＝７０"), "impact >= 70");
	T_STR(canon("quality=5"), "quality == 5");
	T_STR(canon("hot ≠ 007"), "hot != 7");
}

static void test_matches(void)
{
	const char *topics[] = {"compute", "Talent"};
	const char *entities[] = {"NVIDIA"};
	const char *tags[] = {"LLM", "大模型", "Security", "安全"};
	int kw_noam = fake_keyword(&fk, "Noam Shazeer"), kw_gpu = fake_keyword(&fk, "gpu");
	int kws[] = {kw_noam, kw_gpu};
	struct rules_facts f = {.scores = {70, 65, 50}, .topics = topics, .ntopics = 2, .entities = entities,
				.nentities = 1, .tags = tags, .ntags = 4, .keywords = kws, .nkeywords = 2,
				.langs = 1, .source = "aihot"};
	struct rules_facts empty = facts(-1, -1, -1);

	T_INT(ev("topic:compute", &f), 1);
	T_INT(ev("topic:talent", &f), 1); /* facts compared case-insensitively */
	T_INT(ev("topic:regulation", &f), 0);
	T_INT(ev("topic:算力", &f), 1);
	T_INT(ev("entity:nvidia", &f), 1);
	T_INT(ev("entity:meta", &f), 0);
	T_INT(ev("tag:llm", &f), 1);
	T_INT(ev("tag:大模型", &f), 1);
	T_INT(ev("tag:安全", &f), 1);
	T_INT(ev("tag:芯片", &f), 0);
	T_INT(ev("kw:\"Noam Shazeer\"", &f), 1);
	T_INT(ev("kw:GPU", &f), 1);
	T_INT(ev("kw:tpu", &f), 0);
	T_INT(ev("lang:en", &f), 1);
	T_INT(ev("lang:zh", &f), 0);
	T_INT(ev("LANG:ZH", &f), 0);
	T_INT(ev("source:aihot", &f), 1);
	T_INT(ev("source:AIHOT", &f), 1);
	T_INT(ev("source:rss", &f), 0);
	T_INT(ev("source:aihot", &empty), 0);
	T_INT(ev("topic:compute", &empty), 0);

	/* Bare words: topic, then entity, then keyword. */
	T_STR(canon("compute"), "topic:compute");
	T_STR(canon("算力"), "topic:compute");
	T_STR(canon("NVIDIA"), "entity:nvidia");
	T_STR(canon("英伟达"), "entity:nvidia");
	T_STR(canon("gpu"), "kw:gpu");
	T_INT(ev("英伟达", &f), 1);
	T_INT(ev("GPU", &f), 1);
	/* Quoted strings are keywords, never resolved. */
	T_STR(canon("\"Noam Shazeer\""), "kw:\"Noam Shazeer\"");
	T_STR(canon("“Noam Shazeer”"), "kw:\"Noam Shazeer\"");
	T_STR(canon("\"compute\""), "kw:compute");
	T_INT(ev("“Noam Shazeer”", &f), 1);
	T_INT(ev("kw:“noam shazeer”", &f), 1);
	T_STR(canon("kw: and"), "kw:and"); /* a field value is raw text */
	T_STR(canon("tag:\"Open Source\""), "tag:\"Open Source\"");
	T_STR(canon("source:example.org:8080"), "source:example.org:8080");
	T_STR(canon("entity:英伟达"), "entity:nvidia");
}

static void test_logic(void)
{
	const char *topics[] = {"compute"};
	struct rules_facts f = {.scores = {80, -1, 40}, .topics = topics, .ntopics = 1, .langs = 3};

	T_INT(ev("not compute", &f), 0);
	T_INT(ev("NOT talent", &f), 1);
	T_INT(ev("!talent", &f), 1);
	T_INT(ev("非 算力", &f), 0);
	T_INT(ev("不 talent", &f), 1);
	T_INT(ev("not not compute", &f), 1);
	/* a or b and c == a or (b and c): here a true, b and c false. */
	T_INT(ev("compute or nvidia and meta", &f), 1);
	T_INT(ev("(compute or nvidia) and meta", &f), 0);
	T_STR(canon("compute or nvidia and meta"), "topic:compute or entity:nvidia and entity:meta");
	T_STR(canon("(compute or nvidia) and meta"), "(topic:compute or entity:nvidia) and entity:meta");
	T_STR(canon("compute and (nvidia and meta)"), "topic:compute and entity:nvidia and entity:meta");
	T_STR(canon("not (compute or meta)"), "not (topic:compute or entity:meta)");
	T_STR(canon("not (compute and meta)"), "not (topic:compute and entity:meta)");
	T_STR(canon("(((compute)))"), "topic:compute");
	/* Juxtaposition is AND and binds like it. */
	T_STR(canon("nvidia impact>=70"), "entity:nvidia and impact >= 70");
	T_STR(canon("nvidia impact>=70 or compute"), "entity:nvidia and impact >= 70 or topic:compute");
	T_INT(ev("compute hot>=80", &f), 1);
	T_INT(ev("compute hot>80", &f), 0);
	/* Operator spellings. */
	T_STR(canon("compute AND nvidia Or meta"), "topic:compute and entity:nvidia or entity:meta");
	T_STR(canon("compute && !nvidia || meta"), "topic:compute and not entity:nvidia or entity:meta");
	T_STR(canon("算力 和 英伟达"), "topic:compute and entity:nvidia");
	T_STR(canon("算力 且 英伟达"), "topic:compute and entity:nvidia");
	T_STR(canon("算力 或 英伟达"), "topic:compute or entity:nvidia");
	T_STR(canon("（算力　或　英伟达）ａｎｄ　ｍｅｔａ"), "(topic:compute or entity:nvidia) and entity:meta");
	/* Chinese operators only as standalone tokens. */
	T_STR(canon("算力和英伟达"), "kw:算力和英伟达");
	T_STR(canon("不错"), "kw:不错");
	T_STR(canon("android"), "kw:android");
	T_INT(ev("compute and lang:zh", &f), 1);
	T_INT(ev("hot>=50 && (impact>=50 || lang:en)", &f), 1);
	T_INT(ev("hot>=50 && (impact>=50 || not lang:en)", &f), 0);
}

/* ---- errors ----------------------------------------------------------- */

static void test_errors(void)
{
	static const struct {
		const char *in, *want;
	} c[] = {
		{")", "ERR 1: unexpected \")\""},
		{"compute)", "ERR 8: unexpected \")\""},
		{"nvidia or hot>=x", "ERR 16: expected a number after \">=\""},
		{"hot >=", "ERR 7: expected a number after \">=\""},
		{"hot >= -5", "ERR 8: expected a number after \">=\""},
		{"hot >= 7.5", "ERR 8: expected a number after \">=\""},
		{"hot >= 101", "ERR 8: number 101 out of range (0..100)"},
		{"hot >= 99999999999999999999", "ERR 8: number 99999999999999999999 out of range (0..100)"},
		{"hot 60", "ERR 5: expected a comparison (>=, >, <=, <, ==, !=) after \"hot\""},
		{"hot:60", "ERR 4: expected a comparison (>=, >, <=, <, ==, !=) after \"hot\""},
		{">= 5", "ERR 1: unexpected \">=\" (a comparison needs hot, quality or impact on its left)"},
		{"compute >= 5", "ERR 9: unexpected \">=\" (a comparison needs hot, quality or impact on its left)"},
		{"nvidia \"foo", "ERR 8: unterminated string"},
		{"“Noam", "ERR 1: unterminated string"},
		{"a and foo:bar",
		 "ERR 7: unknown field \"foo:\" (expected topic:, entity:, tag:, kw:, lang:, source:)"},
		{"x and", "ERR 6: expected an expression after \"and\""},
		{"x AND )", "ERR 7: expected an expression after \"AND\""},
		{"x or", "ERR 5: expected an expression after \"or\""},
		{"x &&", "ERR 5: expected an expression after \"&&\""},
		{"not", "ERR 4: expected an expression after \"not\""},
		{"()", "ERR 2: expected an expression after \"(\""},
		{"and x", "ERR 1: expected an expression before \"and\""},
		{"(compute", "ERR 9: expected \")\" to close \"(\" at column 1"},
		{"compute & nvidia", "ERR 9: unexpected \"&\" (use \"and\" or \"&&\")"},
		{"compute | nvidia", "ERR 9: unexpected \"|\" (use \"or\" or \"||\")"},
		{"compute, nvidia", "ERR 8: unexpected \",\" (join terms with \"and\" or \"or\")"},
		{"topic:", "ERR 7: expected a topic id after \"topic:\""},
		{"kw:\"\"", "ERR 4: expected a keyword after \"kw:\""},
		{"\"\"", "ERR 1: empty string"},
		{"topic:foo", "ERR 7: unknown topic \"foo\""},
		{"entity:compute", "ERR 8: unknown entity \"compute\""},
		{"lang:fr", "ERR 6: expected en or zh after \"lang:\", not \"fr\""},
		{"", "ERR 1: empty expression"},
		{"   ", "ERR 4: empty expression"},
		{": x", "ERR 1: unexpected \":\" (expected a field name before it, e.g. topic:)"},
		{"compute ” x", "ERR 9: unexpected \"”\" (no string to close)"},
		/* Columns count characters, not bytes. */
		{"算力 and", "ERR 7: expected an expression after \"and\""},
		{"算力 和", "ERR 5: expected an expression after \"和\""},
		{"英伟达 或 (算力", "ERR 10: expected \")\" to close \"(\" at column 7"},
		{"热度 >= 高", "ERR 7: expected a number after \">=\""},
		{"影响力≥", "ERR 5: expected a number after \"≥\""},
		{"算力 and 未知:x",
		 "ERR 8: unknown field \"未知:\" (expected topic:, entity:, tag:, kw:, lang:, source:)"},
		{"（算力", "ERR 4: expected \")\" to close \"(\" at column 1"},
		{"“英伟达", "ERR 1: unterminated string"},
		{"算力 topic:不存在", "ERR 10: unknown topic \"不存在\""},
		{"ab\xff", "ERR 3: invalid UTF-8"},
		{"算力\xe7\xae", "ERR 3: invalid UTF-8"},
		{"x \xc0\xaf", "ERR 3: invalid UTF-8"},
		{"x \x01", "ERR 3: unexpected control character U+0001"},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++)
		T_STR(canon(c[i].in), c[i].want);

	struct rules_error err;
	T_OK(rules_parse(NULL, &R, &err) == NULL && err.column == 1, "NULL text is an error");

	/* Without a resolver the syntax is still checked; words are keywords
	 * that never match. */
	struct rules_expr *e = rules_parse("compute and (foo or hot >= 5)", NULL, &err);
	T_OK(e != NULL, "parse without resolver");
	char *s = rules_expr_string(e);
	T_STR(s, "kw:compute and (kw:foo or hot >= 5)");
	free(s);
	struct rules_facts f = facts(50, 50, 50);
	T_INT(rules_eval(e, &f), 0);
	rules_expr_free(e);
	T_OK(rules_parse("hot >=", NULL, &err) == NULL && err.column == 7, "syntax error without resolver");
	e = rules_parse("topic:anything", NULL, &err);
	s = e ? rules_expr_string(e) : NULL;
	T_STR(s, "topic:anything");
	free(s);
	rules_expr_free(e);
	T_OK(rules_parse(")", &R, NULL) == NULL, "NULL err is allowed");
}

/* ---- hostile input ---------------------------------------------------- */

static void check_error(const char *text, struct rules_error *err, int *bad)
{
	size_t chars = utf8_chars(text, strlen(text));
	if (err->column < 1 || (size_t)err->column > chars + 1 || !err->msg[0])
		(*bad)++;
}

static void test_hostile(void)
{
	struct rules_error err;
	char *big = xmalloc(10001);
	memset(big, '(', 10000);
	big[10000] = 0;
	T_OK(rules_parse(big, &R, &err) == NULL, "10,000 parens rejected");
	T_STR(err.msg, "expression too long: 10000 bytes (max 512)");
	T_INT(err.column, 1);

	/* Within the byte cap, depth is what stops it: the 33rd "(" is named. */
	memset(big, 0, 10001);
	memset(big, '(', 500);
	T_OK(rules_parse(big, &R, &err) == NULL, "500 parens rejected");
	T_STR(err.msg, "nesting deeper than 32");
	T_INT(err.column, 33);
	memset(big, 0, 10001);
	memset(big, '!', 300);
	big[300] = 'x';
	T_OK(rules_parse(big, &R, &err) == NULL, "300 nots rejected");
	T_INT(err.column, 33);

	/* Exactly 32 levels is fine. */
	struct sbuf b = {0};
	for (int i = 0; i < 32; i++)
		sbuf_adds(&b, "(");
	sbuf_adds(&b, "compute");
	for (int i = 0; i < 32; i++)
		sbuf_adds(&b, ")");
	struct rules_expr *e = rules_parse(b.s, &R, &err);
	T_OK(e != NULL, "32 levels parse: %s", err.msg);
	rules_expr_free(e);
	sbuf_free(&b);

	/* Exactly 512 bytes is accepted, 513 is not. */
	memset(big, 0, 10001);
	memset(big, 'a', 512);
	memcpy(big, "kw:", 3);
	e = rules_parse(big, &R, &err);
	T_OK(e != NULL, "512 bytes parse: %s", err.msg);
	rules_expr_free(e);
	big[512] = 'a';
	T_OK(rules_parse(big, &R, &err) == NULL, "513 bytes rejected");
	T_STR(err.msg, "expression too long: 513 bytes (max 512)");

	/* The canonical text must fit too, or a stored rule could not come
	 * back: 512 bytes of "a " expand to "kw:a and kw:a ...". */
	memset(big, 0, 10001);
	for (int i = 0; i < 256; i++)
		memcpy(big + 2 * i, "a ", 2);
	T_OK(rules_parse(big, &R, &err) == NULL, "expansion past the cap rejected");
	T_STR(err.msg, "expression too long: 2299 bytes once written out in full (max 512)");
	T_INT(err.column, 1);

	/* 56 terms already in canonical form: a long flat AND that fits. */
	memset(big, 0, 10001);
	for (int i = 0; i < 56; i++)
		strcat(big, i ? " and kw:x" : "kw:x");
	e = rules_parse(big, &R, &err);
	T_OK(e != NULL, "56 terms parse: %s", err.msg);
	struct rules_facts f = facts(1, 1, 1);
	T_INT(rules_eval(e, &f), 0);
	char *s = rules_expr_string(e);
	T_STR(s, big);
	free(s);
	rules_expr_free(e);
	free(big);

	/* Random bytes: never crash, every error has a sane column. */
	char buf[700];
	int bad = 0, parsed = 0;
	for (int it = 0; it < 20000; it++) {
		size_t n = rnd() % 600;
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)(1 + rnd() % 255);
		buf[n] = 0;
		e = rules_parse(buf, &R, &err);
		if (e) {
			parsed++;
			rules_eval(e, &f);
			free(rules_expr_string(e));
			rules_expr_free(e);
		} else if (n <= 512) {
			check_error(buf, &err, &bad);
		}
	}
	T_INT(bad, 0);

	/* Token soup: reaches the parser proper. Whatever parses must round-trip. */
	static const char *const soup[] = {
		"(", ")", "and", "or", "not", "&&", "||", "!", "hot", "impact", "热度", ">=", ">", "<", "==",
		"!=", "=", "≥", "70", "101", "compute", "nvidia", "算力", "和", "或", "不", "topic:", "kw:",
		"lang:", "en", "tag:", "\"", "“", "”", "x", "foo:", "：", "（", "）", "１", " ", "\xff", ","};
	int rt_bad = 0;
	parsed = 0;
	for (int it = 0; it < 50000; it++) {
		size_t len = 0;
		int n = 1 + (int)(rnd() % 12);
		for (int i = 0; i < n; i++) {
			const char *t = soup[rnd() % (sizeof soup / sizeof *soup)];
			if (len + strlen(t) + 1 >= sizeof buf)
				break;
			memcpy(buf + len, t, strlen(t));
			len += strlen(t);
			if (rnd() % 2)
				buf[len++] = ' ';
		}
		buf[len] = 0;
		e = rules_parse(buf, &R, &err);
		if (!e) {
			check_error(buf, &err, &bad);
			continue;
		}
		parsed++;
		char *s1 = rules_expr_string(e);
		struct rules_expr *e2 = rules_parse(s1, &R, &err);
		char *s2 = e2 ? rules_expr_string(e2) : NULL;
		if (!s2 || strcmp(s1, s2)) {
			if (rt_bad++ < 5)
				printf("# round trip: \"%s\" -> \"%s\" -> \"%s\"\n", buf, s1, s2 ? s2 : err.msg);
		}
		free(s1);
		free(s2);
		rules_expr_free(e);
		rules_expr_free(e2);
	}
	T_INT(bad, 0);
	T_INT(rt_bad, 0);
	T_OK(parsed > 1000, "token soup parsed %d times", parsed);
}

/* ---- canonical text and explain --------------------------------------- */

static void test_roundtrip(void)
{
	static const char *const in[] = {
		"topic:compute and impact >= 70",
		"hot >= 70 or impact >= 70",
		"compute nvidia impact>=70 or not (meta or \"Noam Shazeer\") and lang:zh",
		"((a or b) and (c or d)) or not not e",
		"tag:\"Open Source\" source:aihot kw:“x y” quality < 3",
		"热度>=60 或 影响力≥80 和 非 英伟达",
		"kw:\"a:b\" tag:大模型 entity:英伟达",
	};
	for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
		char s1[600];
		snprintf(s1, sizeof s1, "%s", canon(in[i]));
		T_OK(strncmp(s1, "ERR", 3), "%s parses: %s", in[i], s1);
		T_STR(canon(s1), s1);
	}
	T_STR(canon("topic:compute and impact >= 70"), "topic:compute and impact >= 70");
	T_STR(canon("((a or b) and (c or d)) or not not e"),
	      "(kw:a or kw:b) and (kw:c or kw:d) or not not kw:e");
	T_STR(canon("tag:\"Open Source\" source:aihot kw:“x y” quality < 3"),
	      "tag:\"Open Source\" and source:aihot and kw:\"x y\" and quality < 3");
	T_STR(canon("热度>=60 或 影响力≥80 和 非 英伟达"), "hot >= 60 or impact >= 80 and not entity:nvidia");
	T_STR(canon("kw:\"a:b\""), "kw:a:b");
	T_STR(canon("kw:\"a(b\""), "kw:\"a(b\"");
}

static void test_explain(void)
{
	const char *topics[] = {"compute"};
	const char *tags[] = {"LLM"};
	int kw = fake_keyword(&fk, "Noam Shazeer");
	struct rules_facts f = {.scores = {75, -1, 72}, .topics = topics, .ntopics = 1, .tags = tags,
				.ntags = 1, .keywords = &kw, .nkeywords = 1, .langs = 2, .source = "aihot"};
	T_STR(explain("impact>=70 and compute", &f), "impact 72 ≥ 70, topic compute");
	T_STR(explain("hot >= 90 or compute", &f), "topic compute");
	T_STR(explain("hot >= 70 or impact >= 70", &f), "hot 75 ≥ 70, impact 72 ≥ 70");
	T_STR(explain("compute and not meta", &f), "topic compute, not entity:meta");
	T_STR(explain("\"Noam Shazeer\" tag:llm lang:zh source:aihot", &f),
	      "keyword \"Noam Shazeer\", tag llm, lang zh, source aihot");
	T_STR(explain("hot != 3 and impact < 80 and impact <= 72 and hot == 75 and hot > 1", &f),
	      "hot 75 ≠ 3, impact 72 < 80, impact 72 ≤ 72, hot 75 = 75, hot 75 > 1");
	T_STR(explain("nvidia", &f), "");
	T_STR(explain("quality >= 0", &f), "");
}

/* ---- index ------------------------------------------------------------ */

static const char *const atoms[] = {
	"hot>=0", "hot>=30", "hot>=50", "hot>=70", "hot>=100", "quality>50", "quality>100", "impact>70",
	"impact<=50", "hot<30", "impact==70", "quality==50", "hot!=50", "compute", "talent", "nvidia",
	"meta", "topic:regulation", "tag:LLM", "tag:大模型", "kw:foo", "kw:bar", "\"Noam Shazeer\"",
	"lang:en", "lang:zh", "source:aihot", "source:rss", "算力", "英伟达",
};

static void gen_expr(struct sbuf *b, int depth)
{
	unsigned k = rnd() % 10;
	if (depth >= 3 || k < 4) {
		sbuf_adds(b, atoms[rnd() % (sizeof atoms / sizeof *atoms)]);
		return;
	}
	if (k == 4) {
		sbuf_adds(b, "not ");
		sbuf_adds(b, "(");
		gen_expr(b, depth + 1);
		sbuf_adds(b, ")");
		return;
	}
	int n = 2 + (int)(rnd() % 3);
	sbuf_adds(b, "(");
	for (int i = 0; i < n; i++) {
		if (i)
			sbuf_adds(b, k < 7 ? " and " : k < 9 ? " or " : " ");
		gen_expr(b, depth + 1);
	}
	sbuf_adds(b, ")");
}

static struct rules_expr *random_rule(void)
{
	struct sbuf b = {0};
	struct rules_error err;
	/* Keep rules short enough that their canonical text fits the cap. */
	do {
		sbuf_reset(&b);
		gen_expr(&b, 0);
	} while (b.len > 250);
	struct rules_expr *e = rules_parse(b.s, &R, &err);
	if (!e)
		printf("# generator made \"%s\": %s\n", b.s, err.msg);
	sbuf_free(&b);
	return e;
}

static int random_score(void)
{
	static const int pick[] = {-1, 0, 1, 29, 30, 31, 49, 50, 51, 69, 70, 71, 99, 100};
	return rnd() % 3 ? pick[rnd() % (sizeof pick / sizeof *pick)] : (int)(rnd() % 101);
}

struct sample_facts {
	const char *topics[4], *entities[3], *tags[3];
	int kws[4];
	struct rules_facts f;
};

static void random_facts(struct sample_facts *s, const int *kwids, size_t nkw)
{
	static const char *const topics[] = {"compute", "talent", "regulation", "COMPUTE", "other"};
	static const char *const entities[] = {"nvidia", "meta", "openai", "Meta"};
	static const char *const tags[] = {"LLM", "llm", "大模型", "Security"};
	static const char *const sources[] = {"aihot", "rss", "AIHOT"};
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 3; i++)
		s->f.scores[i] = random_score();
	s->f.ntopics = rnd() % 4;
	for (size_t i = 0; i < s->f.ntopics; i++)
		s->topics[i] = topics[rnd() % 5];
	s->f.nentities = rnd() % 3;
	for (size_t i = 0; i < s->f.nentities; i++)
		s->entities[i] = entities[rnd() % 4];
	s->f.ntags = rnd() % 3;
	for (size_t i = 0; i < s->f.ntags; i++)
		s->tags[i] = tags[rnd() % 4];
	s->f.nkeywords = rnd() % 4;
	for (size_t i = 0; i < s->f.nkeywords; i++)
		s->kws[i] = kwids[rnd() % nkw];
	s->f.topics = s->topics;
	s->f.entities = s->entities;
	s->f.tags = s->tags;
	s->f.keywords = s->kws;
	s->f.langs = rnd() % 4;
	s->f.source = rnd() % 4 ? sources[rnd() % 3] : NULL;
}

#define NRULES 3000
#define ID(i) (((uint64_t)(i) << 32) | 0x5eedu)

struct hits {
	int n[NRULES];
	int foreign;
};

static void on_match(void *ud, uint64_t id)
{
	struct hits *h = ud;
	uint64_t i = id >> 32;
	if ((id & 0xffffffffu) != 0x5eedu || i >= NRULES)
		h->foreign++;
	else
		h->n[i]++;
}

/* Compare the index with evaluating every live rule; returns mismatches. */
static int compare(struct rules_index *ix, struct rules_expr *const *live, int nfacts, const int *kwids,
		   size_t nkw, size_t *cand_total)
{
	static struct hits h;
	int mism = 0;
	for (int k = 0; k < nfacts; k++) {
		struct sample_facts s;
		random_facts(&s, kwids, nkw);
		memset(&h, 0, sizeof h);
		size_t got = rules_index_match(ix, &s.f, on_match, &h), want = 0;
		struct rules_index_stats st;
		rules_index_stats(ix, &st);
		*cand_total += st.last_candidates;
		for (int i = 0; i < NRULES; i++) {
			int truth = live[i] ? rules_eval(live[i], &s.f) : 0;
			want += (size_t)truth;
			if (h.n[i] != truth) {
				if (mism++ < 5) {
					char *str = live[i] ? rules_expr_string(live[i]) : xstrdup("(removed)");
					printf("# rule %d \"%s\": index %d, eval %d\n", i, str, h.n[i], truth);
					free(str);
				}
			}
		}
		if (got != want || h.foreign)
			mism++;
	}
	return mism;
}

static void test_index(void)
{
	int kwids[] = {fake_keyword(&fk, "foo"), fake_keyword(&fk, "bar"), fake_keyword(&fk, "Noam Shazeer"),
		       fake_keyword(&fk, "unused")};
	struct rules_index *ix = rules_index_new();
	static struct rules_expr *live[NRULES];
	int made = 0;
	for (int i = 0; i < NRULES; i++) {
		live[i] = random_rule();
		made += live[i] != NULL;
		rules_index_add(ix, ID(i), live[i]);
	}
	T_INT(made, NRULES);
	T_INT(rules_index_count(ix), NRULES);
	T_OK(rules_index_get(ix, ID(7)) == live[7], "get returns the stored expression");
	T_OK(rules_index_get(ix, ID(NRULES)) == NULL, "get of an unknown id");
	T_OK(rules_index_memory(ix) > NRULES * sizeof(uint32_t), "memory is accounted");

	struct rules_index_stats st;
	rules_index_stats(ix, &st);
	T_OK(st.always > 0 && st.always < NRULES / 2, "some but not most rules unindexable (%zu)", st.always);

	size_t cand = 0;
	T_INT(compare(ix, live, 2000, kwids, 4, &cand), 0);
	printf("# index: %d rules, %zu always-evaluated, mean %.0f candidates per story\n", NRULES, st.always,
	       cand / 2000.0);

	/* Remove a third, replace a third (same id, new expression). */
	for (int i = 0; i < NRULES; i += 3) {
		T_INT(rules_index_remove(ix, ID(i)), 0);
		live[i] = NULL;
	}
	T_INT(rules_index_remove(ix, ID(0)), -1);
	T_INT(rules_index_remove(ix, ID(NRULES + 5)), -1);
	for (int i = 1; i < NRULES; i += 3) {
		live[i] = random_rule();
		rules_index_add(ix, ID(i), live[i]);
	}
	T_INT(rules_index_count(ix), NRULES - (NRULES + 2) / 3);
	T_OK(rules_index_get(ix, ID(0)) == NULL, "removed rule is gone");
	T_OK(rules_index_get(ix, ID(1)) == live[1], "replaced rule is the new expression");
	cand = 0;
	T_INT(compare(ix, live, 1000, kwids, 4, &cand), 0);

	/* Re-add into freed slots, then compare again. */
	for (int i = 0; i < NRULES; i += 3) {
		live[i] = random_rule();
		rules_index_add(ix, ID(i), live[i]);
	}
	T_INT(rules_index_count(ix), NRULES);
	cand = 0;
	T_INT(compare(ix, live, 1000, kwids, 4, &cand), 0);

	/* Remove everything: nothing matches, postings are empty. */
	for (int i = 0; i < NRULES; i++)
		T_OK(rules_index_remove(ix, ID(i)) == 0, "remove %d", i);
	rules_index_stats(ix, &st);
	T_INT(st.rules, 0);
	T_INT(st.postings, 0);
	T_INT(st.always, 0);
	struct sample_facts s;
	random_facts(&s, kwids, 4);
	T_INT(rules_index_match(ix, &s.f, on_match, NULL), 0);
	rules_index_free(ix);
}

static void count_cb(void *ud, uint64_t id)
{
	(void)id;
	(*(int *)ud)++;
}

/* The index must not look at rules that cannot match. */
static void test_index_selective(void)
{
	struct rules_index *ix = rules_index_new();
	for (int i = 0; i < 1000; i++) {
		rules_index_add(ix, (uint64_t)i, rules_parse(i % 2 ? "compute" : "nvidia hot >= 60", &R, NULL));
		rules_index_add(ix, (uint64_t)i + 1000, rules_parse("impact >= 90", &R, NULL));
	}
	rules_index_add(ix, 5000, rules_parse("not meta", &R, NULL));
	rules_index_add(ix, 5001, rules_parse("hot > 100 or kw:never", &R, NULL)); /* never true */
	rules_index_add(ix, 5002, rules_parse("compute and kw:nope", NULL, NULL));  /* ids -1: never */
	const char *talent[] = {"talent"}, *compute[] = {"compute"}, *nvidia[] = {"nvidia"};
	struct rules_facts f = {.scores = {70, 70, 70}, .topics = talent, .ntopics = 1, .langs = 3};
	struct rules_index_stats st;
	int n = 0;
	T_INT(rules_index_match(ix, &f, count_cb, &n), 1); /* only "not meta" */
	T_INT(n, 1);
	rules_index_stats(ix, &st);
	T_INT(st.always, 1);
	T_INT(st.last_candidates, 1);

	f.topics = compute;
	T_INT(rules_index_match(ix, &f, NULL, NULL), 501);
	rules_index_stats(ix, &st);
	T_INT(st.last_candidates, 501);
	T_INT(st.last_evaluated, 1); /* single atoms are decided by their list */

	f.entities = nvidia;
	f.nentities = 1;
	f.scores[2] = 95;
	T_INT(rules_index_match(ix, &f, NULL, NULL), 2001);
	rules_index_stats(ix, &st);
	T_INT(st.last_evaluated, 1); /* "nvidia hot >= 60" is checked from its entry */
	T_INT(st.direct, 2000);
	f.scores[0] = 59;
	T_INT(rules_index_match(ix, &f, NULL, NULL), 1501);

	/* Replacing a rule refiles it. */
	rules_index_add(ix, 5000, rules_parse("topic:regulation", &R, NULL));
	rules_index_stats(ix, &st);
	T_INT(st.always, 0);
	T_INT(rules_index_count(ix), 2003);
	T_INT(rules_index_remove(ix, 5002), 0);
	T_INT(rules_index_count(ix), 2002);
	f.scores[2] = 10;
	T_INT(rules_index_match(ix, &f, NULL, NULL), 500);
	rules_index_add(ix, 0, NULL); /* ignored */
	T_INT(rules_index_count(ix), 2002);
	rules_index_free(ix);
	rules_index_free(NULL);
}

int main(void)
{
	test_comparisons();
	test_matches();
	test_logic();
	test_errors();
	test_hostile();
	test_roundtrip();
	test_explain();
	test_index();
	test_index_selective();
	strv_free(&fk.kw);
	return t_done();
}
