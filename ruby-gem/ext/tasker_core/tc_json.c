/*
 * tc_json.c — JSON text ⇄ Ruby values, directly (no intermediate tree): the core speaks JSON text,
 * Ruby callers see Hash/Array/String/Integer/Float/true/false/nil. Integers keep full precision
 * (big ones become Bignums), as the handler specification asks of every language
 * (tests/conformance/README.md). Knows nothing of tasks or steps.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc.h"

#define MAX_DEPTH 256

static ID id_as_json, id_to_s, id_owner;
static rb_encoding *utf8;

/* ------------------------------------------------------------------ parsing */

typedef struct {
	const char *start, *p, *end;
	int depth;
} parser;

NORETURN(static void parse_fail(const parser *j, const char *what));
static void parse_fail(const parser *j, const char *what)
{
	tc_raise_named("JSONError", "invalid JSON at offset %ld: %s", (long)(j->p - j->start), what);
}

static void skip_ws(parser *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static VALUE parse_value(parser *j);

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_utf8(VALUE buf, unsigned cp)
{
	char b[4];
	long n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	rb_str_buf_cat(buf, b, n);
}

static VALUE make_str(const char *s, long len, int key)
{
#ifdef HAVE_RB_ENC_INTERNED_STR
	if (key)
		return rb_enc_interned_str(s, len, utf8);
#else
	(void)key;
#endif
	return rb_enc_str_new(s, len, utf8);
}

/* j->p is just past the opening quote. */
static VALUE parse_string(parser *j, int key)
{
	const char *s = j->p;
	while (j->p < j->end && *j->p != '"' && *j->p != '\\')
		j->p++;
	if (j->p >= j->end)
		parse_fail(j, "unterminated string");
	if (*j->p == '"') {
		VALUE v = make_str(s, j->p - s, key);
		j->p++;
		return v;
	}
	VALUE buf = rb_enc_str_new(s, j->p - s, utf8);
	while (j->p < j->end && *j->p != '"') {
		if (*j->p != '\\') {
			const char *run = j->p;
			while (j->p < j->end && *j->p != '"' && *j->p != '\\')
				j->p++;
			rb_str_buf_cat(buf, run, j->p - run);
			continue;
		}
		if (j->end - j->p < 2)
			parse_fail(j, "unterminated escape");
		char c = j->p[1];
		j->p += 2;
		switch (c) {
		case '"': rb_str_buf_cat(buf, "\"", 1); break;
		case '\\': rb_str_buf_cat(buf, "\\", 1); break;
		case '/': rb_str_buf_cat(buf, "/", 1); break;
		case 'b': rb_str_buf_cat(buf, "\b", 1); break;
		case 'f': rb_str_buf_cat(buf, "\f", 1); break;
		case 'n': rb_str_buf_cat(buf, "\n", 1); break;
		case 'r': rb_str_buf_cat(buf, "\r", 1); break;
		case 't': rb_str_buf_cat(buf, "\t", 1); break;
		case 'u': {
			unsigned cp, lo;
			if (j->end - j->p < 4 || hex4(j->p, &cp))
				parse_fail(j, "bad \\u escape");
			j->p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
			    !hex4(j->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				j->p += 6;
			} else if (cp >= 0xD800 && cp <= 0xDFFF) {
				cp = 0xFFFD; /* a lone surrogate cannot be UTF-8 */
			}
			put_utf8(buf, cp);
			break;
		}
		default: parse_fail(j, "unknown escape");
		}
	}
	if (j->p >= j->end)
		parse_fail(j, "unterminated string");
	j->p++;
	return key ? rb_str_freeze(buf) : buf;
}

static VALUE parse_number(parser *j)
{
	const char *s = j->p;
	int is_float = 0;
	if (j->p < j->end && *j->p == '-')
		j->p++;
	while (j->p < j->end) {
		char c = *j->p;
		if (c >= '0' && c <= '9')
			j->p++;
		else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			is_float = 1;
			j->p++;
		} else
			break;
	}
	long len = j->p - s;
	if (len == 0 || (len == 1 && *s == '-'))
		parse_fail(j, "bad number");
	char small[64];
	char *buf = len < (long)sizeof small ? small : ALLOC_N(char, len + 1);
	memcpy(buf, s, (size_t)len);
	buf[len] = '\0';
	VALUE v;
	if (is_float) {
		char *endp;
		double d = strtod(buf, &endp);
		int bad = *endp != '\0';
		if (buf != small)
			xfree(buf);
		if (bad)
			parse_fail(j, "bad number");
		v = DBL2NUM(d);
	} else if (len <= 18) {
		v = LL2NUM(strtoll(buf, NULL, 10));
	} else {
		v = rb_cstr2inum(buf, 10);
		if (buf != small)
			xfree(buf);
	}
	return v;
}

static int match_word(parser *j, const char *w, size_t n)
{
	if ((size_t)(j->end - j->p) >= n && memcmp(j->p, w, n) == 0) {
		j->p += n;
		return 1;
	}
	return 0;
}

static VALUE parse_value(parser *j)
{
	skip_ws(j);
	if (j->p >= j->end)
		parse_fail(j, "unexpected end");
	char c = *j->p;
	if (c == '{') {
		if (++j->depth > MAX_DEPTH)
			parse_fail(j, "nested too deeply");
		j->p++;
		VALUE h = rb_hash_new();
		skip_ws(j);
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			j->depth--;
			return h;
		}
		for (;;) {
			skip_ws(j);
			if (j->p >= j->end || *j->p != '"')
				parse_fail(j, "expected a string key");
			j->p++;
			VALUE k = parse_string(j, 1);
			skip_ws(j);
			if (j->p >= j->end || *j->p != ':')
				parse_fail(j, "expected ':'");
			j->p++;
			rb_hash_aset(h, k, parse_value(j));
			skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == '}') {
				j->p++;
				break;
			}
			parse_fail(j, "expected ',' or '}'");
		}
		j->depth--;
		return h;
	}
	if (c == '[') {
		if (++j->depth > MAX_DEPTH)
			parse_fail(j, "nested too deeply");
		j->p++;
		VALUE a = rb_ary_new();
		skip_ws(j);
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			j->depth--;
			return a;
		}
		for (;;) {
			rb_ary_push(a, parse_value(j));
			skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == ']') {
				j->p++;
				break;
			}
			parse_fail(j, "expected ',' or ']'");
		}
		j->depth--;
		return a;
	}
	if (c == '"') {
		j->p++;
		return parse_string(j, 0);
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return parse_number(j);
	if (match_word(j, "true", 4))
		return Qtrue;
	if (match_word(j, "false", 5))
		return Qfalse;
	if (match_word(j, "null", 4))
		return Qnil;
	parse_fail(j, "unexpected character");
}

VALUE tc_json_parse(const char *text, long len)
{
	if (!text)
		return Qnil;
	parser j = {text, text, text + len, 0};
	VALUE v = parse_value(&j);
	skip_ws(&j);
	if (j.p != j.end)
		parse_fail(&j, "trailing characters");
	return v;
}

VALUE tc_json_parse_cstr(const char *text)
{
	return text ? tc_json_parse(text, (long)strlen(text)) : Qnil;
}

/* ------------------------------------------------------------------ generation */

/* One step of the path to the value being written: a Hash key, an Array index (key == Qundef), or
 * none (key == Qfalse: an object's as_json stands where the object was). */
typedef struct {
	VALUE key;
	long index;
} segment;

typedef struct {
	VALUE out;
	int depth;
	segment path[MAX_DEPTH + 1];  /* path[1..depth-1] leads to the value at `depth` */
} gen;

static void gen_value(gen *g, VALUE v);

/* Raises JSONError naming where the value is ("$.items[2].price: ..."). */
NORETURN(static void gen_fail(const gen *g, const char *fmt, ...));
static void gen_fail(const gen *g, const char *fmt, ...)
{
	VALUE where = rb_str_new_cstr("$");
	for (int i = 1; i < g->depth; i++) {
		const segment *s = &g->path[i];
		if (s->key == Qundef)
			rb_str_catf(where, "[%ld]", s->index);
		else if (s->key != Qfalse)
			rb_str_catf(where, ".%" PRIsVALUE, SYMBOL_P(s->key) ? rb_sym2str(s->key) : rb_obj_as_string(s->key));
	}
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	tc_raise_named("JSONError", "%s: %s", StringValueCStr(where), what);
}

static void gen_string(gen *g, VALUE s)
{
	rb_encoding *enc = rb_enc_get(s);
	if (enc != utf8 && enc != rb_usascii_encoding()) {
		if (enc == rb_ascii8bit_encoding()) {
			s = rb_enc_associate(rb_str_dup(s), utf8);
		} else {
			s = rb_str_conv_enc(s, enc, utf8);
			if (rb_enc_get(s) != utf8)
				gen_fail(g, "a string in %s cannot be converted to UTF-8", rb_enc_name(enc));
		}
	}
	if (rb_enc_str_coderange(s) == ENC_CODERANGE_BROKEN)
		gen_fail(g, "a string is not valid UTF-8");
	const char *p = RSTRING_PTR(s), *end = p + RSTRING_LEN(s), *run = p;
	rb_str_buf_cat(g->out, "\"", 1);
	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (p > run)
			rb_str_buf_cat(g->out, run, p - run);
		run = p + 1;
		switch (c) {
		case '"': rb_str_buf_cat(g->out, "\\\"", 2); break;
		case '\\': rb_str_buf_cat(g->out, "\\\\", 2); break;
		case '\n': rb_str_buf_cat(g->out, "\\n", 2); break;
		case '\r': rb_str_buf_cat(g->out, "\\r", 2); break;
		case '\t': rb_str_buf_cat(g->out, "\\t", 2); break;
		case '\b': rb_str_buf_cat(g->out, "\\b", 2); break;
		case '\f': rb_str_buf_cat(g->out, "\\f", 2); break;
		case 0:
			gen_fail(g, "a string contains a NUL character, which PostgreSQL's jsonb cannot store");
		default: {
			char esc[8];
			snprintf(esc, sizeof esc, "\\u%04x", c);
			rb_str_buf_cat(g->out, esc, 6);
		}
		}
	}
	if (p > run)
		rb_str_buf_cat(g->out, run, p - run);
	rb_str_buf_cat(g->out, "\"", 1);
	RB_GC_GUARD(s);
}

static void gen_key(gen *g, VALUE k)
{
	if (RB_TYPE_P(k, T_STRING))
		gen_string(g, k);
	else if (SYMBOL_P(k))
		gen_string(g, rb_sym2str(k));
	else
		gen_string(g, rb_obj_as_string(k));
}

typedef struct {
	gen *g;
	int first;
} pair_ctx;

static int gen_pair(VALUE k, VALUE v, VALUE arg)
{
	pair_ctx *c = (pair_ctx *)arg;
	if (!c->first)
		rb_str_buf_cat(c->g->out, ",", 1);
	c->first = 0;
	c->g->path[c->g->depth] = (segment){k, 0};
	gen_key(c->g, k);
	rb_str_buf_cat(c->g->out, ":", 1);
	gen_value(c->g, v);
	return ST_CONTINUE;
}

static void gen_value(gen *g, VALUE v)
{
	if (++g->depth > MAX_DEPTH)
		tc_raise_named("JSONError", "a value is nested more than %d levels deep (a cycle?)", MAX_DEPTH);
	switch (rb_type(v)) {
	case T_NIL: rb_str_buf_cat(g->out, "null", 4); break;
	case T_TRUE: rb_str_buf_cat(g->out, "true", 4); break;
	case T_FALSE: rb_str_buf_cat(g->out, "false", 5); break;
	case T_FIXNUM: {
		char b[32];
		int n = snprintf(b, sizeof b, "%ld", FIX2LONG(v));
		rb_str_buf_cat(g->out, b, n);
		break;
	}
	case T_BIGNUM: rb_str_buf_append(g->out, rb_big2str(v, 10)); break;
	case T_FLOAT: {
		double d = RFLOAT_VALUE(v);
		if (isnan(d) || isinf(d))
			gen_fail(g, "%s is not a JSON number", isnan(d) ? "NaN" : "Infinity");
		rb_str_buf_append(g->out, rb_funcall(v, id_to_s, 0));
		break;
	}
	case T_STRING: gen_string(g, v); break;
	case T_SYMBOL: gen_string(g, rb_sym2str(v)); break;
	case T_HASH: {
		pair_ctx c = {g, 1};
		rb_str_buf_cat(g->out, "{", 1);
		rb_hash_foreach(v, gen_pair, (VALUE)&c);
		rb_str_buf_cat(g->out, "}", 1);
		break;
	}
	case T_ARRAY:
		rb_str_buf_cat(g->out, "[", 1);
		for (long i = 0; i < RARRAY_LEN(v); i++) {
			if (i)
				rb_str_buf_cat(g->out, ",", 1);
			g->path[g->depth] = (segment){Qundef, i};
			gen_value(g, RARRAY_AREF(v, i));
		}
		rb_str_buf_cat(g->out, "]", 1);
		break;
	default:
		/* An object's JSON form is its as_json (ActiveSupport gives one to Time, BigDecimal and every
		 * object: what Rails would store), else the string of its own to_s (Time, Date, BigDecimal,
		 * as Ruby's JSON library writes them). An object with only Ruby's default to_s has none:
		 * "#<Object:0x...>" is not a value worth storing. */
		if (rb_respond_to(v, id_as_json)) {
			g->path[g->depth] = (segment){Qfalse, 0}; /* the same place; the depth still bounds as_json chains */
			gen_value(g, rb_funcall(v, id_as_json, 0));
		} else if (rb_funcall(rb_obj_method(v, ID2SYM(id_to_s)), id_owner, 0) != rb_mKernel) {
			gen_string(g, rb_obj_as_string(v));
		} else {
			gen_fail(g, "an object of class %s has no JSON form (give it as_json or to_s)", rb_obj_classname(v));
		}
	}
	g->depth--;
}

VALUE tc_json_generate(VALUE value)
{
	gen g;
	g.out = rb_enc_associate(rb_str_buf_new(128), utf8);
	g.depth = 0;
	gen_value(&g, value);
	return g.out;
}

char *tc_json_generate_malloc(VALUE value)
{
	VALUE s = tc_json_generate(value);
	long n = RSTRING_LEN(s);
	char *out = malloc((size_t)n + 1);
	if (!out)
		rb_memerror();
	memcpy(out, RSTRING_PTR(s), (size_t)n);
	out[n] = '\0';
	RB_GC_GUARD(s);
	return out;
}

/* TaskerCore::JSON.parse(text) / .generate(value): the converters, for tests and tools. */
static VALUE m_parse(VALUE self, VALUE text)
{
	(void)self;
	StringValue(text);
	VALUE v = tc_json_parse(RSTRING_PTR(text), RSTRING_LEN(text));
	RB_GC_GUARD(text);
	return v;
}

static VALUE m_generate(VALUE self, VALUE value)
{
	(void)self;
	return tc_json_generate(value);
}

void tc_init_json(void)
{
	utf8 = rb_utf8_encoding();
	id_as_json = rb_intern("as_json");
	id_to_s = rb_intern("to_s");
	id_owner = rb_intern("owner");
	VALUE m = rb_define_module_under(tc_mTaskerCore, "NativeJSON");
	rb_define_module_function(m, "parse", m_parse, 1);
	rb_define_module_function(m, "generate", m_generate, 1);
}
