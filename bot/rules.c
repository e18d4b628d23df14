/* rules — parser, evaluator and index of rule expressions (DESIGN §4).
 *
 * Parsing runs in three steps: the UTF-8 text is decoded into code points
 * (full-width ASCII folded to half-width, so every code point is one column),
 * lexed into a token array, and parsed by recursive descent into a scratch
 * tree. The tree is then flattened into one allocation: a pre-order node
 * array followed by a string pool. Inner nodes record the size of their
 * subtree, so evaluation walks children by skipping, with no pointers.
 *
 * The index owns its expressions and files each rule in the posting lists of
 * its guard atoms (see rules.h). A list holds two kinds of entries: "direct"
 * ones (rule id + an optional residual comparison) that decide a rule on the
 * spot, and candidates (slot, id, expression) that are evaluated, once per
 * match thanks to a per-slot generation stamp. A slot maps a rule id to its
 * expression for get/replace/remove.
 */
#define _POSIX_C_SOURCE 200809L
#include "rules.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- compiled form ---------------------------------------------------- */

enum {
	OP_AND = 1,
	OP_OR,
	OP_NOT,
	OP_CMP,
	OP_TOPIC,
	OP_ENTITY,
	OP_TAG,
	OP_SOURCE,
	OP_KW,
	OP_LANG,
};

enum { CMP_GE, CMP_GT, CMP_LE, CMP_LT, CMP_EQ, CMP_NE };

static const char *const cmp_ascii[] = {">=", ">", "<=", "<", "==", "!="};
static const char *const cmp_pretty[] = {"≥", ">", "≤", "<", "=", "≠"};
static const char *const score_name[3] = {"hot", "quality", "impact"};

/* 12 bytes. Inner nodes (AND/OR/NOT) keep their subtree size in arg; leaves
 * keep a keyword id in arg and a string pool offset in str. */
struct rules_node {
	uint8_t op;
	uint8_t score; /* CMP: score index; LANG: bit (1 en, 2 zh) */
	uint8_t cmp;
	uint8_t value;
	uint32_t arg;
	uint32_t str;
};

/* 16-bit counts keep the header at 4 bytes: the smallest rule then fits a
 * 32-byte malloc chunk, which matters at a million subscriptions. The input
 * cap makes both limits unreachable except through absurd resolver ids. */
struct rules_expr {
	uint16_t nnodes;
	uint16_t npool;
	struct rules_node nodes[];
	/* followed by npool bytes of NUL-terminated strings */
};

static const char *expr_pool(const struct rules_expr *e)
{
	return (const char *)(e->nodes + e->nnodes);
}

static size_t expr_bytes(const struct rules_expr *e)
{
	return sizeof *e + e->nnodes * sizeof(struct rules_node) + e->npool;
}

static int node_inner(const struct rules_node *n)
{
	return n->op == OP_AND || n->op == OP_OR || n->op == OP_NOT;
}

static uint32_t node_size(const struct rules_node *n)
{
	return node_inner(n) ? n->arg : 1;
}

static const char *node_str(const struct rules_expr *e, const struct rules_node *n)
{
	return expr_pool(e) + n->str;
}

/* ---- small helpers ---------------------------------------------------- */

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* ASCII-only on purpose: locale-independent, and CJK has no case. */
static int ieq(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = lower((unsigned char)*a), y = lower((unsigned char)*b);
		if (x != y)
			return 0;
		if (!x)
			return 1;
	}
}

static uint64_t ihash(const char *s, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ fmix64(seed);
	for (; *s; s++) {
		h ^= lower((unsigned char)*s);
		h *= 0x100000001b3ULL;
	}
	return fmix64(h);
}

static int score_valid(int v)
{
	return v >= 0 && v <= 100;
}

/* ---- lexer ------------------------------------------------------------ */

enum {
	TK_END,
	TK_LP,
	TK_RP,
	TK_AND,
	TK_OR,
	TK_NOT,
	TK_CMP,
	TK_WORD,
	TK_STRING,
	TK_FIELD,
	TK_VALUE,
};

enum { F_TOPIC, F_ENTITY, F_TAG, F_KW, F_LANG, F_SOURCE };
static const char *const field_name[] = {"topic", "entity", "tag", "kw", "lang", "source"};

struct tok {
	int type;
	int op;     /* TK_CMP: CMP_* */
	int col;    /* 1-based column of the first character */
	int endcol; /* column just past the token */
	size_t text; /* offset in lex.buf: the content for strings/values, else the spelling */
};

struct lex {
	uint32_t cp[RULES_MAX_BYTES + 1];
	int n;
	struct tok *t;
	int nt;
	struct sbuf buf;
	struct rules_error *err;
	int failed;
};

static void set_err(struct rules_error *err, int col, const char *fmt, va_list ap)
{
	if (!err)
		return;
	err->column = col;
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

static int lex_err(struct lex *lx, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_err(struct lex *lx, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_err(lx->err, col, fmt, ap);
	va_end(ap);
	lx->failed = 1;
	return -1;
}

static int is_space(uint32_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xA0 || (c >= 0x2000 && c <= 0x200B) ||
	       c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

static int is_control(uint32_t c)
{
	return (c < 0x20 && !is_space(c)) || (c >= 0x7F && c <= 0x9F);
}

static int is_open_quote(uint32_t c)
{
	return c == '"' || c == 0x201C;
}

static int is_close_quote(uint32_t c)
{
	return c == '"' || c == 0x201D;
}

/* Characters that end a word. A bare word also ends at ':' (it is then a
 * field name); a field's value may contain ':' ("source:a:b"). */
static int is_delim(uint32_t c, int value)
{
	switch (c) {
	case '(': case ')': case '<': case '>': case '=': case '!': case '&': case '|':
	case '"': case ',': case 0x201C: case 0x201D: case 0x2265: case 0x2264: case 0x2260:
	case 0x3001:
		return 1;
	case ':':
		return !value;
	}
	return is_space(c) || is_control(c);
}

static size_t lex_text(struct lex *lx, int from, int to)
{
	size_t off = lx->buf.len;
	for (int i = from; i < to; i++) {
		char u[4];
		sbuf_add(&lx->buf, u, (size_t)utf8_encode(lx->cp[i], u));
	}
	sbuf_addc(&lx->buf, 0);
	return off;
}

static const char *tok_text(const struct lex *lx, const struct tok *t)
{
	return lx->buf.s + t->text;
}

static void lex_push(struct lex *lx, int type, int op, int from, int to, size_t text)
{
	struct tok *t = &lx->t[lx->nt++];
	t->type = type;
	t->op = op;
	t->col = from + 1;
	t->endcol = to + 1;
	t->text = text;
}

/* A quoted string starting at *i; any opening quote may close with either
 * closing quote, because IMEs mix straight and curly quotes freely. */
static int lex_string(struct lex *lx, int *i)
{
	int start = *i, j = start + 1;
	while (j < lx->n && !is_close_quote(lx->cp[j]))
		j++;
	if (j >= lx->n)
		return lex_err(lx, start + 1, "unterminated string");
	lex_push(lx, TK_STRING, 0, start, j + 1, lex_text(lx, start + 1, j));
	*i = j + 1;
	return 0;
}

static int lex_word_end(const struct lex *lx, int i, int value)
{
	while (i < lx->n && !is_delim(lx->cp[i], value))
		i++;
	return i;
}

static int reserved_word(const char *w)
{
	if (ieq(w, "and") || !strcmp(w, "和") || !strcmp(w, "且"))
		return TK_AND;
	if (ieq(w, "or") || !strcmp(w, "或"))
		return TK_OR;
	if (ieq(w, "not") || !strcmp(w, "非") || !strcmp(w, "不"))
		return TK_NOT;
	return TK_WORD;
}

static int lex_op(struct lex *lx, int *i)
{
	int s = *i;
	uint32_t c = lx->cp[s], d = s + 1 < lx->n ? lx->cp[s + 1] : 0;
	int type = TK_CMP, op = 0, len = 1;
	switch (c) {
	case '(': type = TK_LP; break;
	case ')': type = TK_RP; break;
	case '&':
		if (d != '&')
			return lex_err(lx, s + 1, "unexpected \"&\" (use \"and\" or \"&&\")");
		type = TK_AND, len = 2;
		break;
	case '|':
		if (d != '|')
			return lex_err(lx, s + 1, "unexpected \"|\" (use \"or\" or \"||\")");
		type = TK_OR, len = 2;
		break;
	case '!':
		if (d == '=')
			op = CMP_NE, len = 2;
		else
			type = TK_NOT;
		break;
	case '=': op = CMP_EQ, len = d == '=' ? 2 : 1; break;
	case '<': op = d == '=' ? CMP_LE : CMP_LT, len = d == '=' ? 2 : 1; break;
	case '>': op = d == '=' ? CMP_GE : CMP_GT, len = d == '=' ? 2 : 1; break;
	case 0x2265: op = CMP_GE; break;
	case 0x2264: op = CMP_LE; break;
	case 0x2260: op = CMP_NE; break;
	default:
		return 1;
	}
	lex_push(lx, type, op, s, s + len, lex_text(lx, s, s + len));
	*i = s + len;
	return 0;
}

static int lex_run(struct lex *lx)
{
	int i = 0;
	for (;;) {
		while (i < lx->n && is_space(lx->cp[i]))
			i++;
		if (i >= lx->n)
			break;
		uint32_t c = lx->cp[i];
		int rc = lex_op(lx, &i);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		if (is_open_quote(c)) {
			if (lex_string(lx, &i) < 0)
				return -1;
			continue;
		}
		if (c == 0x201D)
			return lex_err(lx, i + 1, "unexpected \"”\" (no string to close)");
		if (c == ',' || c == 0x3001)
			return lex_err(lx, i + 1, "unexpected \"%s\" (join terms with \"and\" or \"or\")",
				       c == ',' ? "," : "、");
		if (c == ':')
			return lex_err(lx, i + 1, "unexpected \":\" (expected a field name before it, e.g. topic:)");
		if (is_control(c))
			return lex_err(lx, i + 1, "unexpected control character U+%04X", (unsigned)c);
		int end = lex_word_end(lx, i, 0);
		if (end == i)
			return lex_err(lx, i + 1, "unexpected character U+%04X", (unsigned)c);
		size_t text = lex_text(lx, i, end);
		if (end < lx->n && lx->cp[end] == ':') {
			lex_push(lx, TK_FIELD, 0, i, end + 1, text);
			/* The value is lexed here, raw: after "kw:" even "and" is text. */
			i = end + 1;
			while (i < lx->n && is_space(lx->cp[i]))
				i++;
			if (i < lx->n && is_open_quote(lx->cp[i])) {
				if (lex_string(lx, &i) < 0)
					return -1;
			} else {
				int vend = lex_word_end(lx, i, 1);
				if (vend > i) {
					lex_push(lx, TK_VALUE, 0, i, vend, lex_text(lx, i, vend));
					i = vend;
				}
			}
			continue;
		}
		lex_push(lx, reserved_word(lx->buf.s + text), 0, i, end, text);
		i = end;
	}
	lex_push(lx, TK_END, 0, lx->n, lx->n, lex_text(lx, 0, 0));
	return 0;
}

/* Decode and fold full-width ASCII (U+FF01..FF5E) and the ideographic space,
 * so "ｈｏｔ＞＝６０" is "hot>=60"; one code point per column. */
static int lex_decode(struct lex *lx, const char *text, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint32_t c;
		int k = utf8_decode(text + i, len - i, &c);
		if (k < 0 || (k == 1 && c == 0xFFFD))
			return lex_err(lx, lx->n + 1, "invalid UTF-8");
		if (c >= 0xFF01 && c <= 0xFF5E)
			c -= 0xFEE0;
		else if (c == 0x3000)
			c = ' ';
		lx->cp[lx->n++] = c;
		i += (size_t)k;
	}
	return 0;
}

/* ---- parser: tokens -> scratch tree ----------------------------------- */

struct pnode {
	uint8_t op, score, cmp, value;
	int32_t kw;
	int str; /* offset in parser.strs, -1 none */
	int first, last, next; /* children list, -1 none */
};

struct parser {
	struct lex *lx;
	int pos;
	const struct rules_resolver *r;
	struct pnode *v;
	int n, cap;
	struct sbuf strs;
	int depth;
};

static int perr(struct parser *p, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, int col, const char *fmt, ...)
{
	va_list ap;
	if (p->lx->failed)
		return -1;
	va_start(ap, fmt);
	set_err(p->lx->err, col, fmt, ap);
	va_end(ap);
	p->lx->failed = 1;
	return -1;
}

static struct tok *cur(struct parser *p)
{
	return &p->lx->t[p->pos];
}

/* User text quoted in an error, cut on a character boundary. */
static const char *clip(const char *s, char out[72])
{
	size_t n = utf8_clip(s, strlen(s), 64);
	memcpy(out, s, n);
	strcpy(out + n, n < strlen(s) ? "…" : "");
	return out;
}

static int pnew(struct parser *p, int op)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->v = xrealloc(p->v, (size_t)p->cap * sizeof *p->v);
	}
	struct pnode *n = &p->v[p->n];
	memset(n, 0, sizeof *n);
	n->op = (uint8_t)op;
	n->str = n->first = n->last = n->next = -1;
	return p->n++;
}

static int pstr(struct parser *p, const char *s)
{
	int off = (int)p->strs.len;
	sbuf_add(&p->strs, s, strlen(s) + 1);
	return off;
}

static void padd_child(struct parser *p, int parent, int child)
{
	if (p->v[parent].last < 0)
		p->v[parent].first = child;
	else
		p->v[p->v[parent].last].next = child;
	p->v[parent].last = child;
}

/* Build l op r, flattening chains so "a and b and c" is one 3-child node. */
static int pjoin(struct parser *p, int op, int l, int r)
{
	int t = l;
	if (p->v[l].op != op) {
		t = pnew(p, op);
		padd_child(p, t, l);
	}
	if (p->v[r].op == op) {
		for (int c = p->v[r].first; c >= 0;) {
			int next = p->v[c].next;
			p->v[c].next = -1;
			padd_child(p, t, c);
			c = next;
		}
	} else {
		padd_child(p, t, r);
	}
	return t;
}

static int starts_term(const struct tok *t)
{
	return t->type == TK_LP || t->type == TK_NOT || t->type == TK_WORD || t->type == TK_STRING ||
	       t->type == TK_FIELD;
}

static int expected_after(struct parser *p, const struct tok *op)
{
	char q[72];
	return perr(p, cur(p)->col, "expected an expression after \"%s\"", clip(tok_text(p->lx, op), q));
}

static int unexpected(struct parser *p, const struct tok *t)
{
	char q[72];
	if (t->type == TK_CMP)
		return perr(p, t->col, "unexpected \"%s\" (a comparison needs hot, quality or impact on its left)",
			    tok_text(p->lx, t));
	return perr(p, t->col, "unexpected \"%s\"", clip(tok_text(p->lx, t), q));
}

static int score_index(const char *w)
{
	static const char *const zh[3][2] = {{"热度", "熱度"}, {"质量", "質量"}, {"影响力", "影響力"}};
	for (int i = 0; i < 3; i++)
		if (ieq(w, score_name[i]) || !strcmp(w, zh[i][0]) || !strcmp(w, zh[i][1]))
			return i;
	return -1;
}

static int keyword_id(struct parser *p, const char *text)
{
	if (!p->r || !p->r->keyword)
		return -1;
	int id = p->r->keyword(p->r->ud, text);
	return id < 0 ? -1 : id;
}

static int pkeyword(struct parser *p, const char *text)
{
	int n = pnew(p, OP_KW);
	p->v[n].kw = keyword_id(p, text);
	p->v[n].str = pstr(p, text);
	return n;
}

static int parse_or(struct parser *p);

static int parse_cmp(struct parser *p, int score)
{
	char q[72];
	struct tok *name = cur(p);
	p->pos++;
	struct tok *op = cur(p);
	if (op->type != TK_CMP)
		return perr(p, op->col, "expected a comparison (>=, >, <=, <, ==, !=) after \"%s\"",
			    clip(tok_text(p->lx, name), q));
	p->pos++;
	struct tok *num = cur(p);
	const char *s = tok_text(p->lx, num);
	size_t len = strspn(s, "0123456789");
	if (num->type != TK_WORD || len == 0 || s[len])
		return perr(p, num->col, "expected a number after \"%s\"", tok_text(p->lx, op));
	while (len > 1 && *s == '0')
		s++, len--;
	int v = len > 3 ? 1000 : atoi(s);
	if (v > 100)
		return perr(p, num->col, "number %s out of range (0..100)", clip(tok_text(p->lx, num), q));
	p->pos++;
	int n = pnew(p, OP_CMP);
	p->v[n].score = (uint8_t)score;
	p->v[n].cmp = (uint8_t)op->op;
	p->v[n].value = (uint8_t)v;
	return n;
}

/* topic:X / entity:X: an alias resolving to the same kind is stored as its
 * canonical id, so "topic:算力" and "topic:compute" are the same rule. */
static int parse_id(struct parser *p, int kind, const struct tok *val)
{
	char q[72];
	const char *word = tok_text(p->lx, val), *id = NULL;
	int k = -1;
	if (p->r && p->r->resolve && p->r->resolve(p->r->ud, word, &k, &id) == 0 && k == kind && id && *id)
		word = id;
	else if (p->r && p->r->known && p->r->known(p->r->ud, kind, word) != 0)
		return perr(p, val->col, "unknown %s \"%s\"", kind == RULES_TOPIC ? "topic" : "entity",
			    clip(word, q));
	int n = pnew(p, kind == RULES_TOPIC ? OP_TOPIC : OP_ENTITY);
	p->v[n].str = pstr(p, word);
	return n;
}

static int parse_field(struct parser *p)
{
	static const char *const what[] = {"a topic id", "an entity id", "a tag", "a keyword", "en or zh",
					   "a source"};
	char q[72];
	struct tok *f = cur(p);
	const char *name = tok_text(p->lx, f);
	int field = -1;
	for (int i = 0; i < (int)(sizeof field_name / sizeof *field_name); i++)
		if (ieq(name, field_name[i]))
			field = i;
	if (field < 0) {
		if (score_index(name) >= 0)
			return perr(p, f->endcol - 1, "expected a comparison (>=, >, <=, <, ==, !=) after \"%s\"",
				    clip(name, q));
		return perr(p, f->col,
			    "unknown field \"%s:\" (expected topic:, entity:, tag:, kw:, lang:, source:)",
			    clip(name, q));
	}
	p->pos++;
	struct tok *val = cur(p);
	const char *text = tok_text(p->lx, val);
	if ((val->type != TK_VALUE && val->type != TK_STRING) || !*text)
		return perr(p, val->col, "expected %s after \"%s:\"", what[field], field_name[field]);
	p->pos++;
	int n;
	switch (field) {
	case F_TOPIC:
		return parse_id(p, RULES_TOPIC, val);
	case F_ENTITY:
		return parse_id(p, RULES_ENTITY, val);
	case F_KW:
		return pkeyword(p, text);
	case F_LANG:
		if (!ieq(text, "en") && !ieq(text, "zh"))
			return perr(p, val->col, "expected en or zh after \"lang:\", not \"%s\"", clip(text, q));
		n = pnew(p, OP_LANG);
		p->v[n].score = ieq(text, "en") ? 1 : 2;
		return n;
	default:
		n = pnew(p, field == F_TAG ? OP_TAG : OP_SOURCE);
		p->v[n].str = pstr(p, text);
		return n;
	}
}

static int parse_not(struct parser *p)
{
	char q[72];
	struct tok *t = cur(p);
	int n, c;
	switch (t->type) {
	case TK_NOT:
	case TK_LP:
		if (++p->depth > RULES_MAX_DEPTH)
			return perr(p, t->col, "nesting deeper than %d", RULES_MAX_DEPTH);
		p->pos++;
		if (!starts_term(cur(p)))
			return expected_after(p, t);
		if (t->type == TK_NOT) {
			if ((c = parse_not(p)) < 0)
				return -1;
			n = pnew(p, OP_NOT);
			padd_child(p, n, c);
		} else {
			if ((n = parse_or(p)) < 0)
				return -1;
			if (cur(p)->type != TK_RP)
				return perr(p, cur(p)->col, "expected \")\" to close \"(\" at column %d", t->col);
			p->pos++;
		}
		p->depth--;
		return n;
	case TK_WORD: {
		const char *w = tok_text(p->lx, t);
		int score = score_index(w), kind = -1;
		const char *id = NULL;
		if (score >= 0)
			return parse_cmp(p, score);
		p->pos++;
		if (p->r && p->r->resolve && p->r->resolve(p->r->ud, w, &kind, &id) == 0 && id && *id &&
		    (kind == RULES_TOPIC || kind == RULES_ENTITY)) {
			n = pnew(p, kind == RULES_TOPIC ? OP_TOPIC : OP_ENTITY);
			p->v[n].str = pstr(p, id);
			return n;
		}
		return pkeyword(p, w);
	}
	case TK_STRING:
		if (!*tok_text(p->lx, t))
			return perr(p, t->col, "empty string");
		p->pos++;
		return pkeyword(p, tok_text(p->lx, t));
	case TK_FIELD:
		return parse_field(p);
	case TK_END:
		return perr(p, t->col, "empty expression");
	case TK_AND:
	case TK_OR:
		return perr(p, t->col, "expected an expression before \"%s\"", clip(tok_text(p->lx, t), q));
	default:
		return unexpected(p, t);
	}
}

static int parse_and(struct parser *p)
{
	int l = parse_not(p);
	while (l >= 0) {
		struct tok *t = cur(p);
		if (t->type == TK_AND) {
			p->pos++;
			if (!starts_term(cur(p)))
				return expected_after(p, t);
		} else if (!starts_term(t)) {
			break;
		}
		int r = parse_not(p);
		if (r < 0)
			return -1;
		l = pjoin(p, OP_AND, l, r);
	}
	return l;
}

static int parse_or(struct parser *p)
{
	int l = parse_and(p);
	while (l >= 0 && cur(p)->type == TK_OR) {
		struct tok *t = cur(p);
		p->pos++;
		if (!starts_term(cur(p)))
			return expected_after(p, t);
		int r = parse_and(p);
		if (r < 0)
			return -1;
		l = pjoin(p, OP_OR, l, r);
	}
	return l;
}

/* ---- scratch tree -> compact blob ------------------------------------- */

static uint32_t tree_size(const struct parser *p, int n)
{
	uint32_t s = 1;
	for (int c = p->v[n].first; c >= 0; c = p->v[c].next)
		s += tree_size(p, c);
	return s;
}

static size_t tree_pool(const struct parser *p, int n)
{
	size_t s = p->v[n].str >= 0 ? strlen(p->strs.s + p->v[n].str) + 1 : 0;
	for (int c = p->v[n].first; c >= 0; c = p->v[c].next)
		s += tree_pool(p, c);
	return s;
}

static void emit(const struct parser *p, int n, struct rules_expr *e, uint32_t *at, uint32_t *pool)
{
	const struct pnode *pn = &p->v[n];
	struct rules_node *o = &e->nodes[(*at)++];
	uint32_t start = *at - 1;
	o->op = pn->op;
	o->score = pn->score;
	o->cmp = pn->cmp;
	o->value = pn->value;
	o->arg = (uint32_t)pn->kw;
	o->str = 0;
	if (pn->str >= 0) {
		const char *s = p->strs.s + pn->str;
		size_t len = strlen(s) + 1;
		memcpy((char *)(e->nodes + e->nnodes) + *pool, s, len);
		o->str = *pool;
		*pool += (uint32_t)len;
	}
	for (int c = pn->first; c >= 0; c = p->v[c].next)
		emit(p, c, e, at, pool);
	if (node_inner(o))
		o->arg = *at - start;
}

struct rules_expr *rules_parse(const char *text, const struct rules_resolver *r, struct rules_error *err)
{
	struct rules_error dummy;
	if (!err)
		err = &dummy;
	err->column = 0;
	err->msg[0] = 0;
	if (!text) {
		err->column = 1;
		snprintf(err->msg, sizeof err->msg, "empty expression");
		return NULL;
	}
	size_t len = strlen(text);
	if (len > RULES_MAX_BYTES) {
		err->column = 1;
		snprintf(err->msg, sizeof err->msg, "expression too long: %zu bytes (max %d)", len,
			 RULES_MAX_BYTES);
		return NULL;
	}
	struct lex *lx = xcalloc(1, sizeof *lx);
	struct parser p = {.lx = lx, .r = r};
	struct rules_expr *e = NULL;
	lx->err = err;
	if (lex_decode(lx, text, len) < 0)
		goto out;
	lx->t = xmalloc(((size_t)lx->n + 2) * sizeof *lx->t);
	if (lex_run(lx) < 0)
		goto out;
	int root = parse_or(&p);
	if (root < 0)
		goto out;
	if (cur(&p)->type != TK_END) {
		unexpected(&p, cur(&p));
		goto out;
	}
	uint32_t nn = tree_size(&p, root);
	size_t np = tree_pool(&p, root);
	if (nn > UINT16_MAX || np > UINT16_MAX) {
		perr(&p, 1, "expression too large");
		goto out;
	}
	e = xmalloc(sizeof *e + nn * sizeof(struct rules_node) + np);
	e->nnodes = (uint16_t)nn;
	e->npool = (uint16_t)np;
	uint32_t at = 0, pool = 0;
	emit(&p, root, e, &at, &pool);
	/* The canonical text is what gets stored and parsed again on restart,
	 * and it can be longer than the input ("!x" is "not kw:x"): refuse
	 * what could not come back. */
	char *canon = rules_expr_string(e);
	size_t clen = strlen(canon);
	free(canon);
	if (clen > RULES_MAX_BYTES) {
		perr(&p, 1, "expression too long: %zu bytes once written out in full (max %d)", clen,
		     RULES_MAX_BYTES);
		rules_expr_free(e);
		e = NULL;
	}
out:
	free(p.v);
	sbuf_free(&p.strs);
	sbuf_free(&lx->buf);
	free(lx->t);
	free(lx);
	return e;
}

void rules_expr_free(struct rules_expr *e)
{
	free(e);
}

/* ---- canonical text --------------------------------------------------- */

/* Quote when the value would not lex back as one raw value word. */
static void add_value(struct sbuf *b, const char *s)
{
	int quote = !*s;
	size_t len = strlen(s);
	for (size_t i = 0; i < len && !quote;) {
		uint32_t c;
		int k = utf8_decode(s + i, len - i, &c);
		if (k < 0)
			break;
		if (is_delim(c, 1) || (c >= 0xFF01 && c <= 0xFF5E))
			quote = 1;
		i += (size_t)k;
	}
	if (quote)
		sbuf_addc(b, '"');
	sbuf_adds(b, s);
	if (quote)
		sbuf_addc(b, '"');
}

static void str_node(const struct rules_expr *e, const struct rules_node *n, struct sbuf *b, int parent)
{
	static const char *const prefix[] = {
		[OP_TOPIC] = "topic:", [OP_ENTITY] = "entity:", [OP_TAG] = "tag:",
		[OP_SOURCE] = "source:", [OP_KW] = "kw:",
	};
	switch (n->op) {
	case OP_AND:
	case OP_OR: {
		int paren = parent == OP_NOT || (n->op == OP_OR && parent == OP_AND);
		if (paren)
			sbuf_addc(b, '(');
		for (const struct rules_node *c = n + 1; c < n + n->arg; c += node_size(c)) {
			if (c != n + 1)
				sbuf_adds(b, n->op == OP_AND ? " and " : " or ");
			str_node(e, c, b, n->op);
		}
		if (paren)
			sbuf_addc(b, ')');
		break;
	}
	case OP_NOT:
		sbuf_adds(b, "not ");
		str_node(e, n + 1, b, OP_NOT);
		break;
	case OP_CMP:
		sbuf_addf(b, "%s %s %d", score_name[n->score], cmp_ascii[n->cmp], n->value);
		break;
	case OP_LANG:
		sbuf_adds(b, n->score == 1 ? "lang:en" : "lang:zh");
		break;
	default:
		sbuf_adds(b, prefix[n->op]);
		add_value(b, node_str(e, n));
		break;
	}
}

char *rules_expr_string(const struct rules_expr *e)
{
	struct sbuf b = {0};
	if (e)
		str_node(e, e->nodes, &b, 0);
	return sbuf_take(&b);
}

/* ---- evaluation ------------------------------------------------------- */

static int has_str(const char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] && ieq(v[i], s))
			return 1;
	return 0;
}

static int cmp_true(int v, int op, int t)
{
	if (!score_valid(v))
		return 0;
	switch (op) {
	case CMP_GE: return v >= t;
	case CMP_GT: return v > t;
	case CMP_LE: return v <= t;
	case CMP_LT: return v < t;
	case CMP_EQ: return v == t;
	default: return v != t;
	}
}

static int eval_node(const struct rules_expr *e, const struct rules_node *n, const struct rules_facts *f)
{
	const struct rules_node *c;
	switch (n->op) {
	case OP_AND:
		for (c = n + 1; c < n + n->arg; c += node_size(c))
			if (!eval_node(e, c, f))
				return 0;
		return 1;
	case OP_OR:
		for (c = n + 1; c < n + n->arg; c += node_size(c))
			if (eval_node(e, c, f))
				return 1;
		return 0;
	case OP_NOT:
		return !eval_node(e, n + 1, f);
	case OP_CMP:
		return cmp_true(f->scores[n->score], n->cmp, n->value);
	case OP_TOPIC:
		return has_str(f->topics, f->ntopics, node_str(e, n));
	case OP_ENTITY:
		return has_str(f->entities, f->nentities, node_str(e, n));
	case OP_TAG:
		return has_str(f->tags, f->ntags, node_str(e, n));
	case OP_SOURCE:
		return f->source && ieq(f->source, node_str(e, n));
	case OP_LANG:
		return (f->langs & n->score) != 0;
	case OP_KW:
		if ((int32_t)n->arg < 0)
			return 0;
		for (size_t i = 0; i < f->nkeywords; i++)
			if (f->keywords[i] == (int32_t)n->arg)
				return 1;
		return 0;
	}
	return 0;
}

int rules_eval(const struct rules_expr *e, const struct rules_facts *f)
{
	return e && f && eval_node(e, e->nodes, f);
}

static void explain_node(const struct rules_expr *e, const struct rules_node *n, const struct rules_facts *f,
			 struct sbuf *b)
{
	static const char *const word[] = {
		[OP_TOPIC] = "topic", [OP_ENTITY] = "entity", [OP_TAG] = "tag",
		[OP_SOURCE] = "source", [OP_KW] = "keyword",
	};
	const struct rules_node *c;
	if (n->op != OP_AND && n->op != OP_OR && b->len)
		sbuf_adds(b, ", ");
	switch (n->op) {
	case OP_AND:
	case OP_OR:
		for (c = n + 1; c < n + n->arg; c += node_size(c))
			if (n->op == OP_AND || eval_node(e, c, f))
				explain_node(e, c, f, b);
		break;
	case OP_NOT:
		sbuf_adds(b, "not ");
		str_node(e, n + 1, b, OP_NOT);
		break;
	case OP_CMP:
		sbuf_addf(b, "%s %d %s %d", score_name[n->score], f->scores[n->score], cmp_pretty[n->cmp],
			  n->value);
		break;
	case OP_LANG:
		sbuf_adds(b, n->score == 1 ? "lang en" : "lang zh");
		break;
	case OP_KW:
		sbuf_addf(b, "keyword \"%s\"", node_str(e, n));
		break;
	default:
		sbuf_addf(b, "%s %s", word[n->op], node_str(e, n));
		break;
	}
}

char *rules_explain(const struct rules_expr *e, const struct rules_facts *f)
{
	struct sbuf b = {0};
	if (rules_eval(e, f))
		explain_node(e, e->nodes, f, &b);
	return sbuf_take(&b);
}

/* ---- guards ----------------------------------------------------------- */

enum { G_TOPIC = 1, G_ENTITY, G_TAG, G_SOURCE, G_KW, G_LANG, G_GE, G_EQ };

struct gatom {
	uint8_t kind;
	uint8_t score;
	uint8_t value; /* G_GE/G_EQ threshold; G_LANG bit */
	int32_t kw;
	const char *s; /* borrowed from the expression */
};

/* cost estimates the share of stories (per mille) that touch the guard: a
 * keyed atom is rare, "impact >= 90" ~ 10%, a language almost everyone. It
 * decides which side of an "and" to file a rule under. */
struct guard {
	struct gatom *v;
	size_t n, cap;
	int fail; /* no guard: the rule must be evaluated for every story */
	unsigned cost;
};

enum { COST_KEYED = 5, COST_LANG = 900, COST_ALL = 1000 };

static int gatom_eq(const struct gatom *a, const struct gatom *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case G_KW: return a->kw == b->kw;
	case G_LANG: return a->value == b->value;
	case G_GE: case G_EQ: return a->score == b->score && a->value == b->value;
	default: return ieq(a->s, b->s);
	}
}

static void guard_add(struct guard *g, struct gatom a)
{
	for (size_t i = 0; i < g->n; i++)
		if (gatom_eq(&g->v[i], &a))
			return;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 4;
		g->v = xrealloc(g->v, g->cap * sizeof *g->v);
	}
	g->v[g->n++] = a;
}

static void guard_free(struct guard *g)
{
	free(g->v);
	memset(g, 0, sizeof *g);
}

static void guard_of(const struct rules_expr *e, const struct rules_node *n, struct guard *g)
{
	static const uint8_t kind[] = {
		[OP_TOPIC] = G_TOPIC, [OP_ENTITY] = G_ENTITY, [OP_TAG] = G_TAG, [OP_SOURCE] = G_SOURCE,
	};
	const struct rules_node *c;
	struct gatom a = {0};
	memset(g, 0, sizeof *g);
	switch (n->op) {
	case OP_AND: {
		/* The cheapest indexable child; "and" is false whenever it is. */
		struct guard best = {.fail = 1};
		for (c = n + 1; c < n + n->arg; c += node_size(c)) {
			struct guard cg;
			guard_of(e, c, &cg);
			if (!cg.fail && (best.fail || cg.cost < best.cost)) {
				guard_free(&best);
				best = cg;
			} else {
				guard_free(&cg);
			}
		}
		*g = best;
		return;
	}
	case OP_OR:
		for (c = n + 1; c < n + n->arg; c += node_size(c)) {
			struct guard cg;
			guard_of(e, c, &cg);
			if (cg.fail) {
				guard_free(&cg);
				guard_free(g);
				g->fail = 1;
				return;
			}
			for (size_t i = 0; i < cg.n; i++)
				guard_add(g, cg.v[i]);
			g->cost = g->cost + cg.cost > COST_ALL ? COST_ALL : g->cost + cg.cost;
			guard_free(&cg);
		}
		return;
	case OP_NOT:
		if (n[1].op == OP_NOT) /* not not X is X */
			guard_of(e, n + 2, g);
		else
			g->fail = 1;
		return;
	case OP_CMP:
		a.score = n->score;
		if (n->cmp == CMP_GE || (n->cmp == CMP_GT && n->value < 100)) {
			a.kind = G_GE;
			a.value = (uint8_t)(n->value + (n->cmp == CMP_GT));
			g->cost = (101u - a.value) * COST_ALL / 101u;
		} else if (n->cmp == CMP_EQ) {
			a.kind = G_EQ;
			a.value = n->value;
			g->cost = COST_ALL / 101u;
		} else if (n->cmp == CMP_GT) {
			return; /* "> 100" can never hold: empty guard */
		} else {
			g->fail = 1;
			return;
		}
		guard_add(g, a);
		return;
	case OP_LANG:
		a.kind = G_LANG;
		a.value = n->score;
		g->cost = COST_LANG;
		guard_add(g, a);
		return;
	case OP_KW:
		if ((int32_t)n->arg < 0)
			return; /* unresolvable keyword: never true */
		a.kind = G_KW;
		a.kw = (int32_t)n->arg;
		g->cost = COST_KEYED;
		guard_add(g, a);
		return;
	default:
		a.kind = kind[n->op];
		a.s = node_str(e, n);
		g->cost = COST_KEYED;
		guard_add(g, a);
		return;
	}
}

/* ---- index ------------------------------------------------------------ */

/* A rule its posting list decides alone: a lone atom, or an atom AND one
 * comparison or language test (the residual), which is checked here from
 * the entry itself. Scanning these is sequential and touches no rule, and
 * they are most subscriptions ("nvidia", "compute impact>=70"). */
enum { RES_NONE, RES_CMP, RES_LANG };

struct direct {
	uint32_t id_lo, id_hi; /* the rule id, split so the entry packs into 12 bytes */
	uint8_t res;
	uint8_t score, cmp, value; /* RES_CMP; RES_LANG keeps the bit in value */
};

/* A rule that must be evaluated. The entry carries everything the match
 * needs, so a candidate costs its generation stamp and its expression (both
 * prefetchable from the list), not a trip through its slot as well. */
struct cand {
	const struct rules_expr *e;
	uint64_t id;
	uint32_t slot;
};

struct plist {
	struct direct *d;
	uint32_t nd, capd;
	struct cand *v;
	uint32_t n, cap;
	uint32_t gen; /* visited in this match already (facts may repeat a key) */
};

/* A keyed posting list; kind 0 marks an empty hash bucket. */
struct pkey {
	uint64_t hash;
	char *key; /* owned, lowercased; NULL for G_KW */
	int32_t kw;
	uint8_t kind;
	struct plist list;
};

struct slot {
	uint64_t id;
	struct rules_expr *e; /* NULL: free slot */
};

struct rules_index {
	struct slot *slots;
	uint32_t *gens; /* per slot: == gen when visited in this match; dense for the cache */
	uint32_t nslots, capslots;
	uint32_t *freev; /* reusable slot numbers */
	uint32_t nfree, capfree;
	uint32_t *idmap; /* open addressing: slot + 1, 0 empty */
	size_t idcap;    /* power of two */
	size_t count;
	struct pkey *keys;
	size_t nkeys, keycap; /* power of two */
	struct plist lang[2];
	struct plist ge[3][101]; /* rules with "score >= t", by t */
	struct plist eq[3][101];
	struct plist always;
	size_t postings, ndirect;
	uint32_t gen;
	size_t last_candidates, last_evaluated;
};

static void plist_push(struct plist *l, const struct slot *sl, uint32_t s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n].e = sl->e;
	l->v[l->n].id = sl->id;
	l->v[l->n++].slot = s;
}

static void plist_remove(struct plist *l, uint32_t s)
{
	for (uint32_t i = l->n; i-- > 0;)
		if (l->v[i].slot == s) {
			l->v[i] = l->v[--l->n];
			return;
		}
}

static void direct_push(struct plist *l, const struct direct *d)
{
	if (l->nd == l->capd) {
		l->capd = l->capd ? l->capd * 2 : 4;
		l->d = xrealloc(l->d, l->capd * sizeof *l->d);
	}
	l->d[l->nd++] = *d;
}

static void direct_remove(struct plist *l, uint64_t id)
{
	for (uint32_t i = l->nd; i-- > 0;)
		if (l->d[i].id_lo == (uint32_t)id && l->d[i].id_hi == (uint32_t)(id >> 32)) {
			l->d[i] = l->d[--l->nd];
			return;
		}
}

static void plist_free(struct plist *l)
{
	free(l->d);
	free(l->v);
}

static size_t plist_bytes(const struct plist *l)
{
	return l->capd * sizeof *l->d + l->cap * sizeof *l->v;
}

struct rules_index *rules_index_new(void)
{
	struct rules_index *ix = xcalloc(1, sizeof *ix);
	ix->gen = 1;
	ix->idcap = 64;
	ix->idmap = xcalloc(ix->idcap, sizeof *ix->idmap);
	ix->keycap = 64;
	ix->keys = xcalloc(ix->keycap, sizeof *ix->keys);
	return ix;
}

/* Every posting list, for freeing and for resetting generation stamps. */
static void each_list(struct rules_index *ix, void (*fn)(struct plist *))
{
	for (size_t i = 0; i < ix->keycap; i++)
		if (ix->keys[i].kind)
			fn(&ix->keys[i].list);
	for (int i = 0; i < 2; i++)
		fn(&ix->lang[i]);
	for (int s = 0; s < 3; s++)
		for (int t = 0; t <= 100; t++) {
			fn(&ix->ge[s][t]);
			fn(&ix->eq[s][t]);
		}
	fn(&ix->always);
}

static void plist_gen_reset(struct plist *l)
{
	l->gen = 0;
}

void rules_index_free(struct rules_index *ix)
{
	if (!ix)
		return;
	for (uint32_t i = 0; i < ix->nslots; i++)
		free(ix->slots[i].e);
	each_list(ix, plist_free);
	for (size_t i = 0; i < ix->keycap; i++)
		free(ix->keys[i].key);
	free(ix->keys);
	free(ix->idmap);
	free(ix->freev);
	free(ix->slots);
	free(ix->gens);
	free(ix);
}

/* -- id -> slot map (linear probing, backward-shift deletion) -- */

static size_t id_home(const struct rules_index *ix, uint64_t id)
{
	return (size_t)fmix64(id) & (ix->idcap - 1);
}

static size_t id_find(const struct rules_index *ix, uint64_t id)
{
	size_t i = id_home(ix, id);
	while (ix->idmap[i] && ix->slots[ix->idmap[i] - 1].id != id)
		i = (i + 1) & (ix->idcap - 1);
	return i;
}

static void id_grow(struct rules_index *ix)
{
	uint32_t *old = ix->idmap;
	size_t oldcap = ix->idcap;
	ix->idcap *= 2;
	ix->idmap = xcalloc(ix->idcap, sizeof *ix->idmap);
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			ix->idmap[id_find(ix, ix->slots[old[i] - 1].id)] = old[i];
	free(old);
}

static void id_delete(struct rules_index *ix, size_t i)
{
	size_t mask = ix->idcap - 1, j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!ix->idmap[j])
			break;
		size_t k = id_home(ix, ix->slots[ix->idmap[j] - 1].id);
		/* Move j back into the hole unless its home lies cyclically in (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && k <= i && k > j)) {
			ix->idmap[i] = ix->idmap[j];
			i = j;
		}
	}
	ix->idmap[i] = 0;
}

/* -- keyed posting lists -- */

static uint64_t key_hash(int kind, const char *s, int32_t kw)
{
	return s ? ihash(s, (uint64_t)kind) : fmix64(((uint64_t)kind << 32) ^ (uint32_t)kw);
}

static size_t key_find(const struct rules_index *ix, int kind, const char *s, int32_t kw, uint64_t h)
{
	size_t mask = ix->keycap - 1, i = (size_t)h & mask;
	for (;; i = (i + 1) & mask) {
		const struct pkey *k = &ix->keys[i];
		if (!k->kind)
			return i;
		if (k->hash == h && k->kind == kind && (s ? ieq(k->key, s) : k->kw == kw))
			return i;
	}
}

static struct plist *key_list(struct rules_index *ix, int kind, const char *s, int32_t kw, int create)
{
	uint64_t h = key_hash(kind, s, kw);
	size_t i = key_find(ix, kind, s, kw, h);
	if (ix->keys[i].kind)
		return &ix->keys[i].list;
	if (!create)
		return NULL;
	if ((ix->nkeys + 1) * 2 > ix->keycap) {
		struct pkey *old = ix->keys;
		size_t oldcap = ix->keycap;
		ix->keycap *= 2;
		ix->keys = xcalloc(ix->keycap, sizeof *ix->keys);
		for (size_t j = 0; j < oldcap; j++)
			if (old[j].kind)
				ix->keys[key_find(ix, old[j].kind, old[j].key, old[j].kw, old[j].hash)] = old[j];
		free(old);
		i = key_find(ix, kind, s, kw, h);
	}
	struct pkey *k = &ix->keys[i];
	k->hash = h;
	k->kind = (uint8_t)kind;
	k->kw = kw;
	k->list.gen = 0;
	if (s) {
		k->key = xstrdup(s);
		for (char *c = k->key; *c; c++)
			*c = (char)lower((unsigned char)*c);
	}
	ix->nkeys++;
	return &k->list;
}

static struct plist *atom_list(struct rules_index *ix, const struct gatom *a, int create)
{
	switch (a->kind) {
	case G_LANG: return &ix->lang[a->value == 1 ? 0 : 1];
	case G_GE: return &ix->ge[a->score][a->value];
	case G_EQ: return &ix->eq[a->score][a->value];
	case G_KW: return key_list(ix, G_KW, NULL, a->kw, create);
	default: return key_list(ix, a->kind, a->s, 0, create);
	}
}

/* Is e decided by the list of its single guard atom a (plus a residual)?
 * A leaf is equivalent to its own guard atom, so a lone leaf is; so is a
 * two-leaf "and" whose other leaf is a comparison or a language test. */
static int direct_of(const struct rules_expr *e, const struct gatom *a, struct direct *d)
{
	const struct rules_node *root = e->nodes, *other;
	memset(d, 0, sizeof *d);
	if (e->nnodes == 1)
		return 1;
	if (root->op != OP_AND || e->nnodes != 3)
		return 0;
	struct guard g;
	guard_of(e, root + 1, &g);
	other = !g.fail && g.n == 1 && gatom_eq(&g.v[0], a) ? root + 2 : root + 1;
	guard_free(&g);
	if (other->op == OP_CMP) {
		d->res = RES_CMP;
		d->score = other->score;
		d->cmp = other->cmp;
		d->value = other->value;
		return 1;
	}
	if (other->op == OP_LANG) {
		d->res = RES_LANG;
		d->value = other->score;
		return 1;
	}
	return 0;
}

/* File (add = 1) or unfile (add = 0) slot s under its guard. The guard is a
 * pure function of the expression, so unfiling recomputes it instead of
 * storing it per rule. */
static void file_slot(struct rules_index *ix, uint32_t s, int add)
{
	struct slot *sl = &ix->slots[s];
	struct guard g;
	struct direct d;
	guard_of(sl->e, sl->e->nodes, &g);
	if (g.fail) {
		if (add)
			plist_push(&ix->always, sl, s);
		else
			plist_remove(&ix->always, s);
	} else if (g.n == 1 && direct_of(sl->e, &g.v[0], &d)) {
		struct plist *l = atom_list(ix, &g.v[0], add);
		d.id_lo = (uint32_t)sl->id;
		d.id_hi = (uint32_t)(sl->id >> 32);
		if (add)
			direct_push(l, &d);
		else if (l)
			direct_remove(l, sl->id);
		ix->postings = add ? ix->postings + 1 : ix->postings - 1;
		ix->ndirect = add ? ix->ndirect + 1 : ix->ndirect - 1;
	} else {
		for (size_t i = 0; i < g.n; i++) {
			struct plist *l = atom_list(ix, &g.v[i], add);
			if (!l)
				continue;
			if (add)
				plist_push(l, sl, s);
			else
				plist_remove(l, s);
			ix->postings = add ? ix->postings + 1 : ix->postings - 1;
		}
	}
	guard_free(&g);
}

void rules_index_add(struct rules_index *ix, uint64_t rule_id, struct rules_expr *e)
{
	if (!ix || !e)
		return;
	size_t i = id_find(ix, rule_id);
	uint32_t s;
	if (ix->idmap[i]) {
		s = ix->idmap[i] - 1;
		file_slot(ix, s, 0);
		free(ix->slots[s].e);
	} else {
		if (ix->nfree) {
			s = ix->freev[--ix->nfree];
		} else {
			if (ix->nslots == ix->capslots) {
				ix->capslots = ix->capslots ? ix->capslots * 2 : 64;
				ix->slots = xrealloc(ix->slots, ix->capslots * sizeof *ix->slots);
				ix->gens = xrealloc(ix->gens, ix->capslots * sizeof *ix->gens);
			}
			s = ix->nslots++;
		}
		ix->slots[s].id = rule_id;
		ix->idmap[i] = s + 1;
		ix->count++;
		if (ix->count * 10 > ix->idcap * 7)
			id_grow(ix);
	}
	ix->slots[s].e = e;
	ix->gens[s] = 0;
	file_slot(ix, s, 1);
}

int rules_index_remove(struct rules_index *ix, uint64_t rule_id)
{
	if (!ix)
		return -1;
	size_t i = id_find(ix, rule_id);
	if (!ix->idmap[i])
		return -1;
	uint32_t s = ix->idmap[i] - 1;
	file_slot(ix, s, 0);
	id_delete(ix, i);
	free(ix->slots[s].e);
	memset(&ix->slots[s], 0, sizeof ix->slots[s]);
	if (ix->nfree == ix->capfree) {
		ix->capfree = ix->capfree ? ix->capfree * 2 : 16;
		ix->freev = xrealloc(ix->freev, ix->capfree * sizeof *ix->freev);
	}
	ix->freev[ix->nfree++] = s;
	ix->count--;
	return 0;
}

size_t rules_index_count(const struct rules_index *ix)
{
	return ix ? ix->count : 0;
}

const struct rules_expr *rules_index_get(const struct rules_index *ix, uint64_t rule_id)
{
	if (!ix)
		return NULL;
	size_t i = id_find(ix, rule_id);
	return ix->idmap[i] ? ix->slots[ix->idmap[i] - 1].e : NULL;
}

struct match_ctx {
	struct rules_index *ix;
	const struct rules_facts *f;
	void (*cb)(void *ud, uint64_t rule_id);
	void *ud;
	size_t matches;
};

/* How far ahead to prefetch: candidates' stamps and expressions are
 * scattered over the heap, and overlapping those cache misses is most of
 * the evaluation cost at a million rules. */
#define PREFETCH_AHEAD 8

static void visit_list(struct match_ctx *m, struct plist *l)
{
	struct rules_index *ix = m->ix;
	const struct rules_facts *f = m->f;
	if (!l || l->gen == ix->gen)
		return;
	l->gen = ix->gen;
	ix->last_candidates += l->nd;
	for (uint32_t i = 0; i < l->nd; i++) {
		const struct direct *d = &l->d[i];
		if (d->res == RES_CMP ? !cmp_true(f->scores[d->score], d->cmp, d->value)
				      : d->res == RES_LANG && !(f->langs & d->value))
			continue;
		m->matches++;
		if (m->cb)
			m->cb(m->ud, (uint64_t)d->id_hi << 32 | d->id_lo);
	}
	for (uint32_t i = 0; i < l->n; i++) {
		const struct cand *c = &l->v[i];
		if (i + PREFETCH_AHEAD < l->n) {
			__builtin_prefetch(&ix->gens[c[PREFETCH_AHEAD].slot]);
			__builtin_prefetch(c[PREFETCH_AHEAD].e);
		}
		if (ix->gens[c->slot] == ix->gen)
			continue;
		ix->gens[c->slot] = ix->gen;
		ix->last_candidates++;
		ix->last_evaluated++;
		if (!eval_node(c->e, c->e->nodes, f))
			continue;
		m->matches++;
		if (m->cb)
			m->cb(m->ud, c->id);
	}
}

static void visit_strs(struct match_ctx *m, int kind, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i])
			visit_list(m, key_list(m->ix, kind, v[i], 0, 0));
}

size_t rules_index_match(struct rules_index *ix, const struct rules_facts *f,
			 void (*cb)(void *ud, uint64_t rule_id), void *ud)
{
	if (!ix || !f)
		return 0;
	struct match_ctx m = {ix, f, cb, ud, 0};
	if (++ix->gen == 0) {
		memset(ix->gens, 0, ix->nslots * sizeof *ix->gens);
		each_list(ix, plist_gen_reset);
		ix->gen = 1;
	}
	ix->last_candidates = ix->last_evaluated = 0;
	visit_strs(&m, G_TOPIC, f->topics, f->ntopics);
	visit_strs(&m, G_ENTITY, f->entities, f->nentities);
	visit_strs(&m, G_TAG, f->tags, f->ntags);
	if (f->source)
		visit_strs(&m, G_SOURCE, &f->source, 1);
	for (size_t i = 0; i < f->nkeywords; i++)
		if (f->keywords[i] >= 0)
			visit_list(&m, key_list(ix, G_KW, NULL, f->keywords[i], 0));
	for (int b = 0; b < 2; b++)
		if (f->langs & (1u << b))
			visit_list(&m, &ix->lang[b]);
	for (int s = 0; s < 3; s++) {
		int v = f->scores[s];
		if (!score_valid(v))
			continue;
		for (int t = 0; t <= v; t++)
			visit_list(&m, &ix->ge[s][t]);
		visit_list(&m, &ix->eq[s][v]);
	}
	visit_list(&m, &ix->always);
	return m.matches;
}

size_t rules_index_memory(const struct rules_index *ix)
{
	if (!ix)
		return 0;
	size_t n = sizeof *ix + ix->capslots * (sizeof *ix->slots + sizeof *ix->gens) +
		   ix->capfree * sizeof *ix->freev +
		   ix->idcap * sizeof *ix->idmap + ix->keycap * sizeof *ix->keys + plist_bytes(&ix->always);
	for (uint32_t i = 0; i < ix->nslots; i++)
		if (ix->slots[i].e)
			n += expr_bytes(ix->slots[i].e);
	for (size_t i = 0; i < ix->keycap; i++)
		if (ix->keys[i].kind)
			n += plist_bytes(&ix->keys[i].list) + (ix->keys[i].key ? strlen(ix->keys[i].key) + 1 : 0);
	for (int i = 0; i < 2; i++)
		n += plist_bytes(&ix->lang[i]);
	for (int s = 0; s < 3; s++)
		for (int t = 0; t <= 100; t++)
			n += plist_bytes(&ix->ge[s][t]) + plist_bytes(&ix->eq[s][t]);
	return n;
}

void rules_index_stats(const struct rules_index *ix, struct rules_index_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!ix)
		return;
	st->rules = ix->count;
	st->always = ix->always.n;
	st->direct = ix->ndirect;
	st->postings = ix->postings;
	st->last_candidates = ix->last_candidates;
	st->last_evaluated = ix->last_evaluated;
}
