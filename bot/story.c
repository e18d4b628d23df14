/* story — the story model: lifetime, ids, fingerprints and JSON (DESIGN §2).
 *
 * Owns the JSON shape: nothing else in the core builds or reads story JSON.
 */
#include "story.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cJSON.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

const char *const story_lang_name[STORY_NLANG] = {"en", "zh"};
const char *const story_score_name[STORY_NSCORES] = {"hot", "quality", "impact"};

void story_init(struct story *s)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < STORY_NSCORES; i++)
		s->scores[i] = STORY_SCORE_NONE;
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

void story_free(struct story *s)
{
	if (!s)
		return;
	free(s->id);
	free(s->source);
	free(s->url);
	free(s->url_zh);
	for (int l = 0; l < STORY_NLANG; l++) {
		free(s->title[l]);
		free(s->summary[l]);
		free(s->analysis[l]);
		strv_free(&s->tldr[l]);
		strv_free(&s->key_data[l]);
		strv_free(&s->insights[l]);
		faqv_free(&s->faq[l]);
	}
	for (size_t i = 0; i < s->ntags; i++) {
		free(s->tags[i].en);
		free(s->tags[i].zh);
	}
	free(s->tags);
	strv_free(&s->topics);
	strv_free(&s->entities);
	story_init(s);
}

void story_faq_push(struct story_faqv *fv, const char *q, const char *a)
{
	if (fv->n == fv->cap) {
		fv->cap = fv->cap ? fv->cap * 2 : 4;
		fv->v = xrealloc(fv->v, fv->cap * sizeof *fv->v);
	}
	fv->v[fv->n].q = xstrdup(q ? q : "");
	fv->v[fv->n].a = xstrdup(a ? a : "");
	fv->n++;
}

void story_tag_push(struct story *s, const char *en, const char *zh)
{
	s->tags = xrealloc(s->tags, (s->ntags + 1) * sizeof *s->tags);
	s->tags[s->ntags].en = xstrdup(en);
	s->tags[s->ntags].zh = xstrdup(zh);
	s->ntags++;
}

int story_has_lang(const struct story *s, int l)
{
	return (s->title[l] && *s->title[l]) || (s->summary[l] && *s->summary[l]) ||
	       (s->analysis[l] && *s->analysis[l]) || s->tldr[l].n > 0;
}

const char *story_title(const struct story *s)
{
	if (s->title[STORY_EN] && *s->title[STORY_EN])
		return s->title[STORY_EN];
	if (s->title[STORY_ZH] && *s->title[STORY_ZH])
		return s->title[STORY_ZH];
	return "";
}

/* Lower-case ASCII, drop everything that is not a letter, digit or non-ASCII
 * byte, so "Meta Signs..." and "meta  signs…" give the same id. */
static void id_key(const char *in, struct sbuf *out)
{
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p >= 0x80)
			sbuf_addc(out, (char)*p);
		else if (isalnum(*p))
			sbuf_addc(out, (char)tolower(*p));
	}
}

void story_assign_id(struct story *s)
{
	if (s->id && *s->id)
		return;
	struct sbuf key = {0};
	if (s->url && *s->url) {
		sbuf_adds(&key, "url:");
		sbuf_adds(&key, s->url);
	} else {
		sbuf_adds(&key, "title:");
		id_key(story_title(s), &key);
	}
	uint64_t h = hash64(key.s, key.len, 0);
	sbuf_free(&key);
	free(s->id);
	s->id = xasprintf("s-%012llx", (unsigned long long)(h & 0xFFFFFFFFFFFFULL));
}

/* ---- JSON out ---------------------------------------------------------- */

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

static void add_lang_strings(cJSON *o, const char *k, char *const v[STORY_NLANG])
{
	cJSON *m = cJSON_AddObjectToObject(o, k);
	for (int l = 0; l < STORY_NLANG; l++)
		if (v[l])
			cJSON_AddStringToObject(m, story_lang_name[l], v[l]);
}

static cJSON *strv_json(const struct strv *sv)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

static void add_lang_lists(cJSON *o, const char *k, const struct strv v[STORY_NLANG])
{
	cJSON *m = cJSON_AddObjectToObject(o, k);
	for (int l = 0; l < STORY_NLANG; l++)
		if (v[l].n)
			cJSON_AddItemToObject(m, story_lang_name[l], strv_json(&v[l]));
}

static void add_time(cJSON *o, const char *k, int64_t t)
{
	if (t > 0) {
		char buf[32];
		time_iso(t, buf);
		cJSON_AddStringToObject(o, k, buf);
	} else {
		cJSON_AddNullToObject(o, k);
	}
}

/* The first byte in [p, end) that a JSON string must escape (a control
 * character, a quote or a backslash), or end. Sixteen bytes at a time
 * where SSE2 is there (every x86-64), eight elsewhere. */
static const unsigned char *json_plain_end(const unsigned char *p, const unsigned char *end)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1F);
	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
					 _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x)); /* x <= 0x1F */
		unsigned bits = (unsigned)_mm_movemask_epi8(m);
		if (bits)
			return p + __builtin_ctz(bits);
		p += 16;
	}
#endif
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	while (end - p >= 8) {
		uint64_t x;
		memcpy(&x, p, 8);
		uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
		if ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs)
			break; /* one of these eight (found below) */
		p += 8;
	}
	while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* The compact form is written directly: it is what every stored revision
 * costs, and building a cJSON tree of an 11 KB story only to print it
 * took longer than the rest of storing it. Byte for byte what
 * cJSON_PrintUnformatted() prints for the same tree. */
static void jstr(struct sbuf *b, const char *v)
{
	if (!v) {
		sbuf_add(b, "null", 4);
		return;
	}
	const unsigned char *p = (const unsigned char *)v, *end = p + strlen(v);
	sbuf_addc(b, '"');
	for (;;) {
		const unsigned char *q = json_plain_end(p, end);
		sbuf_add(b, (const char *)p, (size_t)(q - p));
		if (q == end)
			break;
		switch (*q) {
		case '"': sbuf_add(b, "\\\"", 2); break;
		case '\\': sbuf_add(b, "\\\\", 2); break;
		case '\b': sbuf_add(b, "\\b", 2); break;
		case '\f': sbuf_add(b, "\\f", 2); break;
		case '\n': sbuf_add(b, "\\n", 2); break;
		case '\r': sbuf_add(b, "\\r", 2); break;
		case '\t': sbuf_add(b, "\\t", 2); break;
		default: sbuf_addf(b, "\\u%04x", *q); break;
		}
		p = q + 1;
	}
	sbuf_addc(b, '"');
}

static void jkey(struct sbuf *b, const char *k, int *first)
{
	if (!*first)
		sbuf_addc(b, ',');
	*first = 0;
	sbuf_addc(b, '"');
	sbuf_adds(b, k);
	sbuf_add(b, "\":", 2);
}

static void jlang_strings(struct sbuf *b, const char *k, char *const v[STORY_NLANG], int *first)
{
	jkey(b, k, first);
	int f = 1;
	sbuf_addc(b, '{');
	for (int l = 0; l < STORY_NLANG; l++)
		if (v[l]) {
			jkey(b, story_lang_name[l], &f);
			jstr(b, v[l]);
		}
	sbuf_addc(b, '}');
}

static void jstrv(struct sbuf *b, const struct strv *sv)
{
	sbuf_addc(b, '[');
	for (size_t i = 0; i < sv->n; i++) {
		if (i)
			sbuf_addc(b, ',');
		jstr(b, sv->v[i]);
	}
	sbuf_addc(b, ']');
}

static void jlang_lists(struct sbuf *b, const char *k, const struct strv v[STORY_NLANG], int *first)
{
	jkey(b, k, first);
	int f = 1;
	sbuf_addc(b, '{');
	for (int l = 0; l < STORY_NLANG; l++)
		if (v[l].n) {
			jkey(b, story_lang_name[l], &f);
			jstrv(b, &v[l]);
		}
	sbuf_addc(b, '}');
}

static void jtime(struct sbuf *b, const char *k, int64_t t, int *first)
{
	jkey(b, k, first);
	if (t > 0) {
		char buf[32];
		time_iso(t, buf);
		jstr(b, buf);
	} else {
		sbuf_add(b, "null", 4);
	}
}

static char *analysis_url(const struct story *s, const char *public_url)
{
	if (!public_url || !*public_url || !s->id)
		return NULL;
	size_t n = strlen(public_url);
	return xasprintf("%.*s/s/%s", (int)(n && public_url[n - 1] == '/' ? n - 1 : n), public_url, s->id);
}

static char *story_to_json_compact(const struct story *s, const char *public_url)
{
	/* Room for a typical story (~11 KB) at once, instead of doubling up
	 * to it with a copy each time. */
	struct sbuf b = {xmalloc(16384), 0, 16384};
	b.s[0] = 0;
	int first = 1;
	sbuf_addc(&b, '{');
	jkey(&b, "id", &first);
	jstr(&b, s->id);
	jkey(&b, "source", &first);
	jstr(&b, s->source);
	jkey(&b, "url", &first);
	jstr(&b, s->url);
	jkey(&b, "url_zh", &first);
	jstr(&b, s->url_zh);
	jkey(&b, "lang", &first);
	sbuf_addc(&b, '[');
	int nl = 0;
	for (int l = 0; l < STORY_NLANG; l++)
		if (story_has_lang(s, l)) {
			if (nl++)
				sbuf_addc(&b, ',');
			jstr(&b, story_lang_name[l]);
		}
	sbuf_addc(&b, ']');
	jlang_strings(&b, "title", s->title, &first);
	jlang_strings(&b, "summary", s->summary, &first);
	jkey(&b, "scores", &first);
	sbuf_addc(&b, '{');
	for (int i = 0; i < STORY_NSCORES; i++) {
		if (i)
			sbuf_addc(&b, ',');
		sbuf_addf(&b, "\"%s\":", story_score_name[i]);
		if (s->scores[i] >= 0)
			sbuf_addf(&b, "%d", s->scores[i]);
		else
			sbuf_add(&b, "null", 4);
	}
	sbuf_addc(&b, '}');
	jlang_lists(&b, "tldr", s->tldr, &first);
	jlang_lists(&b, "key_data", s->key_data, &first);
	jlang_strings(&b, "analysis", s->analysis, &first);
	jlang_lists(&b, "insights", s->insights, &first);
	jkey(&b, "faq", &first);
	sbuf_addc(&b, '{');
	int ff = 1;
	for (int l = 0; l < STORY_NLANG; l++) {
		if (!s->faq[l].n)
			continue;
		jkey(&b, story_lang_name[l], &ff);
		sbuf_addc(&b, '[');
		for (size_t i = 0; i < s->faq[l].n; i++) {
			sbuf_add(&b, i ? ",{\"q\":" : "{\"q\":", i ? 6 : 5);
			jstr(&b, s->faq[l].v[i].q);
			sbuf_add(&b, ",\"a\":", 5);
			jstr(&b, s->faq[l].v[i].a);
			sbuf_addc(&b, '}');
		}
		sbuf_addc(&b, ']');
	}
	sbuf_addc(&b, '}');
	jkey(&b, "tags", &first);
	sbuf_addc(&b, '[');
	for (size_t i = 0; i < s->ntags; i++) {
		int tf = 1;
		sbuf_add(&b, i ? ",{" : "{", i ? 2 : 1);
		if (s->tags[i].en) {
			jkey(&b, "en", &tf);
			jstr(&b, s->tags[i].en);
		}
		if (s->tags[i].zh) {
			jkey(&b, "zh", &tf);
			jstr(&b, s->tags[i].zh);
		}
		sbuf_addc(&b, '}');
	}
	sbuf_addc(&b, ']');
	jkey(&b, "topics", &first);
	jstrv(&b, &s->topics);
	jkey(&b, "entities", &first);
	jstrv(&b, &s->entities);
	jtime(&b, "published_at", s->published_at, &first);
	jtime(&b, "updated_at", s->updated_at, &first);
	jkey(&b, "revision", &first);
	sbuf_addf(&b, "%d", s->revision);
	jkey(&b, "analysis_url", &first);
	char *u = analysis_url(s, public_url);
	jstr(&b, u);
	free(u);
	sbuf_addc(&b, '}');
	return sbuf_take(&b);
}

char *story_to_json(const struct story *s, const char *public_url, int pretty)
{
	if (!pretty)
		return story_to_json_compact(s, public_url);
	cJSON *o = cJSON_CreateObject();
	add_str_or_null(o, "id", s->id);
	add_str_or_null(o, "source", s->source);
	add_str_or_null(o, "url", s->url);
	add_str_or_null(o, "url_zh", s->url_zh);
	cJSON *langs = cJSON_AddArrayToObject(o, "lang");
	for (int l = 0; l < STORY_NLANG; l++)
		if (story_has_lang(s, l))
			cJSON_AddItemToArray(langs, cJSON_CreateString(story_lang_name[l]));
	add_lang_strings(o, "title", s->title);
	add_lang_strings(o, "summary", s->summary);
	cJSON *sc = cJSON_AddObjectToObject(o, "scores");
	for (int i = 0; i < STORY_NSCORES; i++)
		if (s->scores[i] >= 0)
			cJSON_AddNumberToObject(sc, story_score_name[i], s->scores[i]);
		else
			cJSON_AddNullToObject(sc, story_score_name[i]);
	add_lang_lists(o, "tldr", s->tldr);
	add_lang_lists(o, "key_data", s->key_data);
	add_lang_strings(o, "analysis", s->analysis);
	add_lang_lists(o, "insights", s->insights);
	cJSON *faq = cJSON_AddObjectToObject(o, "faq");
	for (int l = 0; l < STORY_NLANG; l++) {
		if (!s->faq[l].n)
			continue;
		cJSON *a = cJSON_AddArrayToObject(faq, story_lang_name[l]);
		for (size_t i = 0; i < s->faq[l].n; i++) {
			cJSON *qa = cJSON_CreateObject();
			cJSON_AddStringToObject(qa, "q", s->faq[l].v[i].q);
			cJSON_AddStringToObject(qa, "a", s->faq[l].v[i].a);
			cJSON_AddItemToArray(a, qa);
		}
	}
	cJSON *tags = cJSON_AddArrayToObject(o, "tags");
	for (size_t i = 0; i < s->ntags; i++) {
		cJSON *t = cJSON_CreateObject();
		if (s->tags[i].en)
			cJSON_AddStringToObject(t, "en", s->tags[i].en);
		if (s->tags[i].zh)
			cJSON_AddStringToObject(t, "zh", s->tags[i].zh);
		cJSON_AddItemToArray(tags, t);
	}
	cJSON_AddItemToObject(o, "topics", strv_json(&s->topics));
	cJSON_AddItemToObject(o, "entities", strv_json(&s->entities));
	add_time(o, "published_at", s->published_at);
	add_time(o, "updated_at", s->updated_at);
	cJSON_AddNumberToObject(o, "revision", s->revision);
	char *u = analysis_url(s, public_url);
	if (u)
		cJSON_AddStringToObject(o, "analysis_url", u);
	else
		cJSON_AddNullToObject(o, "analysis_url");
	free(u);
	char *out = cJSON_Print(o);
	cJSON_Delete(o);
	char *ret = xstrdup(out);
	cJSON_free(out);
	return ret;
}

/* ---- JSON in ----------------------------------------------------------- */

/* Decoding state: the first error wins and names its JSON path. */
struct jin {
	char err[512];
};

static int jfail(struct jin *j, const char *path, const char *what)
{
	if (!j->err[0])
		snprintf(j->err, sizeof j->err, "%s: %s", path, what);
	return -1;
}

static int mostly_cjk(const char *s)
{
	size_t cjk = 0, other = 0, len = strlen(s);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int n = utf8_decode(s + i, len - i, &cp);
		i += n > 0 ? (size_t)n : 1;
		if (is_cjk(cp))
			cjk++;
		else if (cp < 0x80 && ((cp | 32) >= 'a' && (cp | 32) <= 'z'))
			other++;
	}
	return cjk > 0 && cjk * 2 >= other / 3; /* a CJK char carries ~ a word */
}

static int get_opt_string(struct jin *j, const cJSON *v, const char *path, char **out)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return jfail(j, path, "expected a string or null");
	free(*out);
	*out = xstrdup(v->valuestring);
	return 0;
}

/* {"en": "...", "zh": "..."} or a bare string (placed by its script). */
static int get_lang_strings(struct jin *j, const cJSON *o, const char *key, char *out[STORY_NLANG])
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char path[128];
	snprintf(path, sizeof path, "$.%s", key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v)) {
		int l = mostly_cjk(v->valuestring) ? STORY_ZH : STORY_EN;
		free(out[l]);
		out[l] = xstrdup(v->valuestring);
		return 0;
	}
	if (!cJSON_IsObject(v))
		return jfail(j, path, "expected an object {\"en\", \"zh\"}, a string or null");
	for (int l = 0; l < STORY_NLANG; l++) {
		snprintf(path, sizeof path, "$.%s.%s", key, story_lang_name[l]);
		if (get_opt_string(j, cJSON_GetObjectItemCaseSensitive(v, story_lang_name[l]), path, &out[l]))
			return -1;
	}
	return 0;
}

static int get_string_list(struct jin *j, const cJSON *a, const char *path, struct strv *out)
{
	if (!a || cJSON_IsNull(a))
		return 0;
	if (cJSON_IsString(a)) {
		strv_push(out, a->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(a))
		return jfail(j, path, "expected an array of strings");
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, a)
	{
		if (!cJSON_IsString(e)) {
			char p[160];
			snprintf(p, sizeof p, "%s[%d]", path, i);
			return jfail(j, p, "expected a string");
		}
		strv_push(out, e->valuestring);
		i++;
	}
	return 0;
}

static int get_lang_lists(struct jin *j, const cJSON *o, const char *key, struct strv out[STORY_NLANG])
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char path[128];
	snprintf(path, sizeof path, "$.%s", key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsObject(v))
		return jfail(j, path, "expected an object {\"en\": [...], \"zh\": [...]}");
	for (int l = 0; l < STORY_NLANG; l++) {
		snprintf(path, sizeof path, "$.%s.%s", key, story_lang_name[l]);
		if (get_string_list(j, cJSON_GetObjectItemCaseSensitive(v, story_lang_name[l]), path, &out[l]))
			return -1;
	}
	return 0;
}

static int get_time(struct jin *j, const cJSON *v, const char *path, int64_t *out)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsNumber(v)) {
		if (v->valuedouble < 0 || v->valuedouble > 253402300799.0)
			return jfail(j, path, "time out of range");
		*out = (int64_t)v->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(v) || time_parse_iso(v->valuestring, out))
		return jfail(j, path, "expected an ISO 8601 time like \"2026-11-22T08:18:00Z\"");
	return 0;
}

static int story_from_cjson(struct jin *j, const cJSON *o, struct story *s)
{
	if (!cJSON_IsObject(o))
		return jfail(j, "$", "expected a story object");
	if (get_opt_string(j, cJSON_GetObjectItemCaseSensitive(o, "id"), "$.id", &s->id) ||
	    get_opt_string(j, cJSON_GetObjectItemCaseSensitive(o, "source"), "$.source", &s->source) ||
	    get_opt_string(j, cJSON_GetObjectItemCaseSensitive(o, "url"), "$.url", &s->url) ||
	    get_opt_string(j, cJSON_GetObjectItemCaseSensitive(o, "url_zh"), "$.url_zh", &s->url_zh) ||
	    get_lang_strings(j, o, "title", s->title) || get_lang_strings(j, o, "summary", s->summary) ||
	    get_lang_strings(j, o, "analysis", s->analysis) || get_lang_lists(j, o, "tldr", s->tldr) ||
	    get_lang_lists(j, o, "key_data", s->key_data) || get_lang_lists(j, o, "insights", s->insights) ||
	    get_string_list(j, cJSON_GetObjectItemCaseSensitive(o, "topics"), "$.topics", &s->topics) ||
	    get_string_list(j, cJSON_GetObjectItemCaseSensitive(o, "entities"), "$.entities", &s->entities) ||
	    get_time(j, cJSON_GetObjectItemCaseSensitive(o, "published_at"), "$.published_at", &s->published_at) ||
	    get_time(j, cJSON_GetObjectItemCaseSensitive(o, "updated_at"), "$.updated_at", &s->updated_at))
		return -1;
	if (s->id && (!*s->id || strlen(s->id) > 128))
		return jfail(j, "$.id", "must be 1..128 characters");
	for (const char *p = s->id; p && *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '/' || *p == '?' || *p == '#' || *p == '"' || *p == '\\')
			return jfail(j, "$.id", "may not contain spaces, control characters or / ? # \" \\");
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scores");
	if (sc && !cJSON_IsNull(sc)) {
		if (!cJSON_IsObject(sc))
			return jfail(j, "$.scores", "expected an object {\"hot\", \"quality\", \"impact\"}");
		for (int i = 0; i < STORY_NSCORES; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(sc, story_score_name[i]);
			char path[64];
			snprintf(path, sizeof path, "$.scores.%s", story_score_name[i]);
			if (!v || cJSON_IsNull(v))
				continue;
			if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble || v->valueint < 0 ||
			    v->valueint > 100)
				return jfail(j, path, "expected an integer 0..100 or null");
			s->scores[i] = v->valueint;
		}
	}
	const cJSON *faq = cJSON_GetObjectItemCaseSensitive(o, "faq");
	if (faq && !cJSON_IsNull(faq)) {
		if (!cJSON_IsObject(faq))
			return jfail(j, "$.faq", "expected an object {\"en\": [{\"q\", \"a\"}], ...}");
		for (int l = 0; l < STORY_NLANG; l++) {
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(faq, story_lang_name[l]);
			char path[64];
			snprintf(path, sizeof path, "$.faq.%s", story_lang_name[l]);
			if (!a || cJSON_IsNull(a))
				continue;
			if (!cJSON_IsArray(a))
				return jfail(j, path, "expected an array of {\"q\", \"a\"}");
			int i = 0;
			const cJSON *e;
			cJSON_ArrayForEach(e, a)
			{
				const cJSON *q = cJSON_GetObjectItemCaseSensitive(e, "q");
				const cJSON *an = cJSON_GetObjectItemCaseSensitive(e, "a");
				if (!cJSON_IsObject(e) || !cJSON_IsString(q) || (an && !cJSON_IsString(an))) {
					snprintf(path, sizeof path, "$.faq.%s[%d]", story_lang_name[l], i);
					return jfail(j, path, "expected {\"q\": string, \"a\": string}");
				}
				story_faq_push(&s->faq[l], q->valuestring, an ? an->valuestring : "");
				i++;
			}
		}
	}
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(o, "tags");
	if (tags && !cJSON_IsNull(tags)) {
		if (!cJSON_IsArray(tags))
			return jfail(j, "$.tags", "expected an array");
		int i = 0;
		const cJSON *e;
		cJSON_ArrayForEach(e, tags)
		{
			char path[64];
			snprintf(path, sizeof path, "$.tags[%d]", i++);
			if (cJSON_IsString(e)) {
				int zh = mostly_cjk(e->valuestring);
				story_tag_push(s, zh ? NULL : e->valuestring, zh ? e->valuestring : NULL);
				continue;
			}
			const cJSON *en = cJSON_GetObjectItemCaseSensitive(e, "en");
			const cJSON *zh = cJSON_GetObjectItemCaseSensitive(e, "zh");
			if (!cJSON_IsObject(e) || (en && !cJSON_IsString(en) && !cJSON_IsNull(en)) ||
			    (zh && !cJSON_IsString(zh) && !cJSON_IsNull(zh)) ||
			    (!cJSON_IsString(en) && !cJSON_IsString(zh)))
				return jfail(j, path, "expected a string or {\"en\": string, \"zh\": string}");
			story_tag_push(s, cJSON_IsString(en) ? en->valuestring : NULL,
				       cJSON_IsString(zh) ? zh->valuestring : NULL);
		}
	}
	if (!*story_title(s))
		return jfail(j, "$.title", "a story needs a title in at least one language");
	return 0;
}

static void deliver(const cJSON *o, const char *where, story_json_cb cb, void *ud, int *rejected)
{
	struct jin j = {{0}};
	struct story s;
	story_init(&s);
	if (story_from_cjson(&j, o, &s) == 0) {
		cb(ud, &s, where, NULL);
	} else {
		(*rejected)++;
		cb(ud, NULL, where, j.err);
	}
	story_free(&s);
}

/* Line number (1-based) of byte offset off in text. */
static int line_of(const char *text, size_t off)
{
	int line = 1;
	for (size_t i = 0; i < off; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

int story_from_json_text(const char *text, size_t len, story_json_cb cb, void *ud, char **err_out)
{
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i == len || (text[i] != '{' && text[i] != '[')) {
		*err_out = xstrdup("line 1: not JSON (expected an object, an array or JSON Lines)");
		return -1;
	}
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text + i, len - i, &end, 0);
	size_t rest = root ? (size_t)(end - text) : len;
	while (root && rest < len && (text[rest] == ' ' || text[rest] == '\t' || text[rest] == '\n' || text[rest] == '\r'))
		rest++;
	int rejected = 0;
	if (root && rest == len) {
		if (cJSON_IsArray(root)) {
			int k = 0;
			const cJSON *e;
			cJSON_ArrayForEach(e, root)
			{
				char where[32];
				snprintf(where, sizeof where, "[%d]", k++);
				deliver(e, where, cb, ud, &rejected);
			}
		} else {
			deliver(root, "line 1", cb, ud, &rejected);
		}
		cJSON_Delete(root);
		return rejected;
	}
	if (!root && text[i] == '[') {
		const char *ep = cJSON_GetErrorPtr();
		size_t off = (ep && ep >= text && ep <= text + len) ? (size_t)(ep - text) : i;
		*err_out = xasprintf("line %d: malformed JSON", line_of(text, off));
		return -1;
	}
	cJSON_Delete(root);
	/* JSON Lines: one value per line; a bad line is reported, the rest kept. */
	size_t pos = 0;
	int line = 1;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t e = nl ? (size_t)(nl - text) : len;
		size_t a = pos;
		while (a < e && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r'))
			a++;
		char where[32];
		snprintf(where, sizeof where, "line %d", line);
		if (a < e) {
			cJSON *o = cJSON_ParseWithLength(text + a, e - a);
			if (!o) {
				rejected++;
				cb(ud, NULL, where, "malformed JSON");
			} else {
				deliver(o, where, cb, ud, &rejected);
				cJSON_Delete(o);
			}
		}
		pos = e + 1;
		line++;
	}
	return rejected;
}

/* ---- revisions ------------------------------------------------------------ */

/* Fingerprints are stored: changing how they are computed needs a
 * migration that recomputes them (schema 2 did, store_search_rebuild). */
static void fp_str(uint64_t *h, const char *s)
{
	static const char none = 1;
	if (s)
		*h = hash64_fast(s, strlen(s) + 1, *h);
	else
		*h = hash64_fast(&none, 1, *h);
}

static void fp_strv(uint64_t *h, const struct strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		fp_str(h, sv->v[i]);
	fp_str(h, NULL);
}

static uint64_t fp_part(const struct story *s, const char *part)
{
	uint64_t h = hash64_fast(part, strlen(part), 0);
	if (!strcmp(part, "title")) {
		fp_str(&h, s->title[0]), fp_str(&h, s->title[1]);
	} else if (!strcmp(part, "scores")) {
		unsigned char sc[4 * STORY_NSCORES];
		for (int i = 0; i < STORY_NSCORES; i++)
			for (int b = 0; b < 4; b++)
				sc[4 * i + b] = (unsigned char)((uint32_t)s->scores[i] >> (8 * b));
		h = hash64_fast(sc, sizeof sc, h);
	} else if (!strcmp(part, "tldr")) {
		fp_strv(&h, &s->tldr[0]), fp_strv(&h, &s->tldr[1]);
	} else if (!strcmp(part, "analysis")) {
		fp_str(&h, s->analysis[0]), fp_str(&h, s->analysis[1]);
	} else if (!strcmp(part, "summary")) {
		fp_str(&h, s->summary[0]), fp_str(&h, s->summary[1]);
	} else { /* other */
		fp_str(&h, s->url), fp_str(&h, s->url_zh);
		for (int l = 0; l < STORY_NLANG; l++) {
			fp_strv(&h, &s->key_data[l]);
			fp_strv(&h, &s->insights[l]);
			for (size_t i = 0; i < s->faq[l].n; i++)
				fp_str(&h, s->faq[l].v[i].q), fp_str(&h, s->faq[l].v[i].a);
			fp_str(&h, NULL);
		}
		for (size_t i = 0; i < s->ntags; i++)
			fp_str(&h, s->tags[i].en), fp_str(&h, s->tags[i].zh);
	}
	return h;
}

static const char *const fp_parts[] = {"title", "scores", "tldr", "analysis", "summary", "other"};

uint64_t story_fingerprint(const struct story *s)
{
	uint64_t h = 0;
	for (size_t i = 0; i < sizeof fp_parts / sizeof *fp_parts; i++) {
		uint64_t p = fp_part(s, fp_parts[i]);
		unsigned char le[8];
		store64le(le, p);
		h = hash64_fast(le, sizeof le, h);
	}
	return h;
}

void story_diff(const struct story *a, const struct story *b, struct sbuf *changed)
{
	for (size_t i = 0; i < sizeof fp_parts / sizeof *fp_parts; i++)
		if (fp_part(a, fp_parts[i]) != fp_part(b, fp_parts[i])) {
			if (changed->len)
				sbuf_addc(changed, ',');
			sbuf_adds(changed, fp_parts[i]);
		}
}

static void add_text(struct sbuf *b, const char *s)
{
	if (!s || !*s)
		return;
	/* " | " keeps a phrase from matching across two items. */
	if (b->len)
		sbuf_adds(b, " | ");
	sbuf_adds(b, s);
}

static void add_strv(struct sbuf *b, const struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		add_text(b, v->v[i]);
}

void story_field_text(const struct story *s, int field, struct sbuf *b)
{
	for (int l = 0; l < STORY_NLANG; l++) {
		switch (field) {
		case STORY_F_TITLE:
			add_text(b, s->title[l]);
			break;
		case STORY_F_SUMMARY:
			add_text(b, s->summary[l]);
			break;
		case STORY_F_TLDR:
			add_strv(b, &s->tldr[l]);
			break;
		case STORY_F_KEYDATA:
			add_strv(b, &s->key_data[l]);
			break;
		case STORY_F_ANALYSIS:
			add_text(b, s->analysis[l]);
			add_strv(b, &s->insights[l]);
			for (size_t i = 0; i < s->faq[l].n; i++) {
				add_text(b, s->faq[l].v[i].q);
				add_text(b, s->faq[l].v[i].a);
			}
			break;
		}
	}
}
