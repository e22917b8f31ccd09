/*
 * jsonschema.c — compiles JSON Schemas (a draft 7 subset) and validates cJSON values against them,
 * including the small ECMA-262 regular expression engine that "pattern" and "patternProperties" need.
 * Refuses every keyword it does not implement rather than ignoring it; never modifies or keeps the
 * caller's JSON, and never echoes instance strings into error messages (contexts may hold personal data).
 */
#include "jsonschema.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* Compilation and validation recurse once per schema level; deeper schemas are refused. */
#define TJS_MAX_DEPTH 128

/* ------------------------------------------------------------------ UTF-8 */

#define UTF8_INVALID UINT32_MAX

/* Decodes the code point at s[0..len), len > 0; *adv receives its length in bytes. A malformed sequence
 * (overlong, surrogate, truncated, above U+10FFFF) is UTF8_INVALID and advances one byte, so a count
 * never stalls and every byte is seen once. */
static uint32_t utf8_decode(const unsigned char *s, size_t len, size_t *adv)
{
	uint32_t c = s[0], min;
	size_t n;
	*adv = 1;
	if (c < 0x80)
		return c;
	if ((c & 0xE0) == 0xC0) {
		n = 2, c &= 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3, c &= 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return UTF8_INVALID;
	}
	if (len < n)
		return UTF8_INVALID;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return UTF8_INVALID;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return UTF8_INVALID;
	*adv = n;
	return c;
}

/* Code points in s (a malformed byte counts as one). */
static size_t utf8_count(const char *s)
{
	size_t n = 0, len = strlen(s), adv;
	for (size_t i = 0; i < len; i += adv, n++)
		utf8_decode((const unsigned char *)s + i, len - i, &adv);
	return n;
}

static int utf8_valid(const char *s)
{
	size_t len = strlen(s), adv;
	for (size_t i = 0; i < len; i += adv)
		if (utf8_decode((const unsigned char *)s + i, len - i, &adv) == UTF8_INVALID)
			return 0;
	return 1;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Grows an array to hold `need` elements; NULL (array untouched) when out of memory. */
static void *grow(void *array, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return array;
	size_t ncap = *cap ? *cap * 2 : 8;
	while (ncap < need)
		ncap *= 2;
	void *bigger = realloc(array, ncap * elem);
	if (bigger)
		*cap = ncap;
	return bigger;
}

/* ------------------------------------------------------------------ regular expressions
 *
 * A pattern is parsed into a small tree, then compiled to a Thompson automaton (CHAR/ANY/CLASS consume
 * one code point; SPLIT/JMP branch; assertions test the position) that is simulated breadth-first.
 * Every state is visited at most once per subject position, so a search costs O(subject × program)
 * whatever the pattern: no instance can make validation take exponential time. Counted repetition is
 * unrolled, hence the limits on counts and program size.
 */

enum { RX_MAX_INSTS = 10000, RX_MAX_COUNT = 1000, RX_MAX_GROUP_DEPTH = 64 };

typedef enum {
	OP_CHAR, OP_ANY, OP_CLASS, OP_SPLIT, OP_JMP, OP_BOL, OP_EOL, OP_WORDB, OP_NWORDB, OP_MATCH
} rx_op;

typedef struct {
	uint32_t lo, hi;
} rx_range;

typedef struct {
	rx_range *r;
	size_t n, cap;
	int negated;
} rx_class;

typedef struct {
	uint8_t op;        /* rx_op */
	uint32_t arg;      /* OP_CHAR: code point; OP_CLASS: class index */
	uint32_t x, y;     /* OP_JMP: x; OP_SPLIT: x, y */
} rx_inst;

typedef struct rx_regex {
	char *source;
	rx_inst *prog;
	size_t ninst;
	rx_class *classes;
	size_t nclasses;
} rx_regex;

typedef enum { N_SEQ, N_ALT, N_CHAR, N_ANY, N_CLASS, N_ASSERT, N_REPEAT } rx_kind;

typedef struct {
	rx_kind kind;
	uint32_t arg;      /* N_CHAR: code point; N_CLASS: class index; N_ASSERT: opcode */
	int child;         /* N_SEQ, N_ALT: first item; N_REPEAT: operand */
	int next;          /* next item of the enclosing N_SEQ / N_ALT, -1 for the last */
	int min, max;      /* N_REPEAT; max -1 means unbounded */
} rx_node;

typedef struct {
	const char *src;
	size_t len, pos;
	rx_node *nodes;
	size_t nnodes, capnodes;
	rx_class *classes;
	size_t nclasses, capclasses;
	const char *err;   /* first error (static text), at byte offset errpos */
	size_t errpos;
	int oom;
	int depth;
} rx_parser;

/* Predefined classes of ECMA-262: \d, \w, \s (WhiteSpace and LineTerminator). */
static const rx_range RX_DIGIT[] = {{'0', '9'}};
static const rx_range RX_WORD[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
static const rx_range RX_SPACE[] = {{0x09, 0x0D}, {0x20, 0x20}, {0xA0, 0xA0}, {0x1680, 0x1680},
                                    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
                                    {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
static const struct {
	const rx_range *r;
	size_t n;
} RX_SETS[] = {{RX_DIGIT, 1}, {RX_WORD, 4}, {RX_SPACE, 10}};

/* Escapes naming a predefined class: odd = the set, even = its complement. 0 = not a class escape. */
enum { PRE_DIGIT = 1, PRE_NOT_DIGIT, PRE_WORD, PRE_NOT_WORD, PRE_SPACE, PRE_NOT_SPACE };

static int rx_fail_at(rx_parser *p, size_t pos, const char *msg)
{
	if (!p->err) {
		p->err = msg;
		p->errpos = pos;
	}
	return -1;
}

static int rx_fail(rx_parser *p, const char *msg)
{
	return rx_fail_at(p, p->pos, msg);
}

static int rx_oom(rx_parser *p)
{
	p->oom = 1;
	return rx_fail(p, "out of memory");
}

static int rx_node_new(rx_parser *p, rx_kind kind, uint32_t arg)
{
	rx_node *nodes = grow(p->nodes, &p->capnodes, p->nnodes + 1, sizeof *nodes);
	if (!nodes)
		return rx_oom(p);
	p->nodes = nodes;
	nodes[p->nnodes] = (rx_node){kind, arg, -1, -1, 0, 0};
	return (int)p->nnodes++;
}

static int rx_class_new(rx_parser *p, int negated)
{
	rx_class *classes = grow(p->classes, &p->capclasses, p->nclasses + 1, sizeof *classes);
	if (!classes)
		return rx_oom(p);
	p->classes = classes;
	classes[p->nclasses] = (rx_class){NULL, 0, 0, negated};
	return (int)p->nclasses++;
}

static int rx_class_add(rx_parser *p, int cls, uint32_t lo, uint32_t hi)
{
	rx_class *c = &p->classes[cls];
	rx_range *r = grow(c->r, &c->cap, c->n + 1, sizeof *r);
	if (!r)
		return rx_oom(p);
	c->r = r;
	r[c->n++] = (rx_range){lo, hi};
	return 0;
}

/* Adds a predefined set (PRE_*) to a class; a negated escape adds the complement of the set. */
static int rx_class_add_set(rx_parser *p, int cls, int pre)
{
	const rx_range *r = RX_SETS[(pre - 1) / 2].r;
	size_t n = RX_SETS[(pre - 1) / 2].n;
	int rc = 0;
	if (pre % 2) {
		for (size_t i = 0; i < n && !rc; i++)
			rc = rx_class_add(p, cls, r[i].lo, r[i].hi);
		return rc;
	}
	uint32_t from = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (r[i].lo > from)
			rc = rx_class_add(p, cls, from, r[i].lo - 1);
		from = r[i].hi + 1;
	}
	return rc ? rc : rx_class_add(p, cls, from, 0x10FFFF);
}

/* Reads exactly n hex digits at src[at]. */
static int rx_hex(const rx_parser *p, size_t at, int n, uint32_t *out)
{
	uint32_t v = 0;
	if (at + (size_t)n > p->len)
		return 0;
	for (int i = 0; i < n; i++) {
		int h = hex_value((unsigned char)p->src[at + i]);
		if (h < 0)
			return 0;
		v = v * 16 + (uint32_t)h;
	}
	*out = v;
	return 1;
}

/* \u{X...} or \uXXXX (the backslash at src[backslash]); a \uXXXX\uXXXX surrogate pair is joined into
 * one code point. */
static int rx_unicode_escape(rx_parser *p, size_t backslash, uint32_t *cp)
{
	size_t at = backslash + 2;
	uint32_t low;
	if (at < p->len && p->src[at] == '{') {
		size_t i = at + 1;
		uint32_t v = 0;
		while (i < p->len && hex_value((unsigned char)p->src[i]) >= 0 && v <= 0x10FFFF)
			v = v * 16 + (uint32_t)hex_value((unsigned char)p->src[i++]);
		if (i == at + 1 || i >= p->len || p->src[i] != '}' || v > 0x10FFFF)
			return rx_fail_at(p, backslash, "invalid \\u{...} escape");
		p->pos = i + 1;
		*cp = v;
		return 0;
	}
	if (!rx_hex(p, at, 4, cp))
		return rx_fail_at(p, backslash, "invalid \\u escape");
	p->pos = at + 4;
	if (*cp >= 0xD800 && *cp <= 0xDBFF && p->pos + 1 < p->len && p->src[p->pos] == '\\' &&
	    p->src[p->pos + 1] == 'u' && rx_hex(p, p->pos + 2, 4, &low) && low >= 0xDC00 && low <= 0xDFFF) {
		*cp = 0x10000 + ((*cp - 0xD800) << 10) + (low - 0xDC00);
		p->pos += 6;
	}
	return 0;
}

/* Parses the escape at p->pos (a backslash): either a character (*cp) or a class escape (*pre).
 * Inside a class, \b is a backspace; outside, \b and \B never get here (they are assertions). */
static int rx_escape(rx_parser *p, int in_class, uint32_t *cp, int *pre)
{
	size_t backslash = p->pos, at = p->pos + 1;
	static const char CLASS_ESCAPES[] = "dDwWsS";
	static const char CONTROL_ESCAPES[] = "tnvfr";
	static const char CONTROL_VALUES[] = "\t\n\v\f\r";
	*pre = 0;
	if (at >= p->len)
		return rx_fail_at(p, backslash, "\\ at end of pattern");
	unsigned char c = (unsigned char)p->src[at];
	const char *hit = c ? strchr(CLASS_ESCAPES, c) : NULL;
	p->pos = at + 1;
	if (hit) {
		*pre = (int)(hit - CLASS_ESCAPES) + 1;
		return 0;
	}
	if (c && (hit = strchr(CONTROL_ESCAPES, c))) {
		*cp = (unsigned char)CONTROL_VALUES[hit - CONTROL_ESCAPES];
		return 0;
	}
	switch (c) {
	case 'b':
		if (!in_class)
			break;
		*cp = 0x08;
		return 0;
	case '0':
		if (p->pos < p->len && is_digit(p->src[p->pos]))
			return rx_fail_at(p, backslash, "octal escapes are not supported");
		*cp = 0;
		return 0;
	case 'c':
		if (p->pos >= p->len || !is_alnum(p->src[p->pos]) || is_digit(p->src[p->pos]))
			return rx_fail_at(p, backslash, "invalid \\c escape");
		*cp = (uint32_t)p->src[p->pos++] % 32;
		return 0;
	case 'x':
		if (!rx_hex(p, p->pos, 2, cp))
			return rx_fail_at(p, backslash, "invalid \\x escape");
		p->pos += 2;
		return 0;
	case 'u':
		return rx_unicode_escape(p, backslash, cp);
	case 'k':
		return rx_fail_at(p, backslash, "named backreferences are not supported");
	case 'p':
	case 'P':
		return rx_fail_at(p, backslash, "Unicode property escapes are not supported");
	}
	if (c >= '1' && c <= '9')
		return rx_fail_at(p, backslash, "backreferences are not supported");
	if (is_alnum(c) || c == '_')
		return rx_fail_at(p, backslash, "invalid escape");
	/* an identity escape: the character itself, which may be multibyte */
	size_t adv;
	*cp = utf8_decode((const unsigned char *)p->src + at, p->len - at, &adv);
	p->pos = at + adv;
	return 0;
}

static int rx_class_atom(rx_parser *p, uint32_t *cp, int *pre)
{
	size_t adv;
	*pre = 0;
	if (p->src[p->pos] == '\\')
		return rx_escape(p, 1, cp, pre);
	*cp = utf8_decode((const unsigned char *)p->src + p->pos, p->len - p->pos, &adv);
	p->pos += adv;
	return 0;
}

/* [...] and [^...]; as in ECMA-262, [] matches nothing and [^] matches any code point. */
static int rx_parse_class(rx_parser *p)
{
	size_t start = p->pos++;
	int negated = p->pos < p->len && p->src[p->pos] == '^';
	p->pos += (size_t)negated;
	int cls = rx_class_new(p, negated);
	if (cls < 0)
		return -1;
	for (;;) {
		uint32_t lo, hi;
		int pre, pre_hi, rc;
		if (p->pos >= p->len)
			return rx_fail_at(p, start, "missing ']'");
		if (p->src[p->pos] == ']')
			break;
		size_t atom = p->pos;
		if (rx_class_atom(p, &lo, &pre))
			return -1;
		if (p->pos + 1 < p->len && p->src[p->pos] == '-' && p->src[p->pos + 1] != ']') {
			p->pos++;
			if (rx_class_atom(p, &hi, &pre_hi))
				return -1;
			if (pre || pre_hi)
				return rx_fail_at(p, atom, "class escape used as a range bound");
			if (lo > hi)
				return rx_fail_at(p, atom, "range out of order in character class");
			rc = rx_class_add(p, cls, lo, hi);
		} else {
			rc = pre ? rx_class_add_set(p, cls, pre) : rx_class_add(p, cls, lo, lo);
		}
		if (rc)
			return -1;
	}
	p->pos++;
	return rx_node_new(p, N_CLASS, (uint32_t)cls);
}

/* Reads a decimal number at src[*i] (saturating far above RX_MAX_COUNT); returns how many digits. */
static size_t rx_number(const rx_parser *p, size_t *i, long *out)
{
	size_t n = 0;
	long v = 0;
	for (; *i < p->len && is_digit(p->src[*i]); (*i)++, n++)
		if (v <= 100000)
			v = v * 10 + (p->src[*i] - '0');
	if (n)
		*out = v;
	return n;
}

/* A braced quantifier {n}, {n,} or {n,m} at p->pos: 1 (consumed), 0 (not one, nothing consumed: the
 * brace is a literal, as ECMA-262 Annex B has it), or -1 (error). */
static int rx_braces(rx_parser *p, int *min, int *max)
{
	size_t i = p->pos + 1;
	long lo = 0, hi;
	if (!rx_number(p, &i, &lo))
		return 0;
	hi = lo;
	if (i < p->len && p->src[i] == ',') {
		i++;
		if (!rx_number(p, &i, &hi))
			hi = -1;
	}
	if (i >= p->len || p->src[i] != '}')
		return 0;
	if (lo > RX_MAX_COUNT || hi > RX_MAX_COUNT)
		return rx_fail(p, "repetition count above 1000");
	if (hi >= 0 && lo > hi)
		return rx_fail(p, "numbers out of order in {} quantifier");
	p->pos = i + 1;
	*min = (int)lo;
	*max = (int)hi;
	return 1;
}

static int rx_disj(rx_parser *p);

/* ( ... ), (?: ... ) and (?<name> ... ). Lookaround is refused: evaluating it at every position
 * would make a search quadratic in the subject. */
static int rx_group(rx_parser *p)
{
	size_t start = p->pos++;
	if (p->pos < p->len && p->src[p->pos] == '?') {
		char k = p->pos + 1 < p->len ? p->src[p->pos + 1] : '\0';
		char k2 = p->pos + 2 < p->len ? p->src[p->pos + 2] : '\0';
		if (k == ':') {
			p->pos += 2;
		} else if (k == '=' || k == '!') {
			return rx_fail_at(p, start, "lookahead is not supported");
		} else if (k == '<' && (k2 == '=' || k2 == '!')) {
			return rx_fail_at(p, start, "lookbehind is not supported");
		} else if (k == '<') {
			size_t i = p->pos + 2;
			while (i < p->len && (is_alnum(p->src[i]) || p->src[i] == '_' || p->src[i] == '$'))
				i++;
			if (i == p->pos + 2 || i >= p->len || p->src[i] != '>')
				return rx_fail_at(p, start, "invalid group name");
			p->pos = i + 1;
		} else {
			return rx_fail_at(p, start, "invalid group");
		}
	}
	if (++p->depth > RX_MAX_GROUP_DEPTH)
		return rx_fail_at(p, start, "groups nested too deeply");
	int sub = rx_disj(p);
	if (sub < 0)
		return -1;
	if (p->pos >= p->len || p->src[p->pos] != ')')
		return rx_fail_at(p, start, "missing ')'");
	p->pos++;
	p->depth--;
	return sub;
}

static int rx_atom(rx_parser *p)
{
	size_t start = p->pos, adv;
	uint32_t cp;
	int min, max, pre, r, cls;
	switch (p->src[p->pos]) {
	case '*':
	case '+':
	case '?':
		return rx_fail(p, "nothing to repeat");
	case '{':
		if ((r = rx_braces(p, &min, &max)) != 0)
			return r < 0 ? -1 : rx_fail_at(p, start, "nothing to repeat");
		break;
	case '.':
		p->pos++;
		return rx_node_new(p, N_ANY, 0);
	case '[':
		return rx_parse_class(p);
	case '(':
		return rx_group(p);
	case '\\':
		if (rx_escape(p, 0, &cp, &pre))
			return -1;
		if (!pre)
			return rx_node_new(p, N_CHAR, cp);
		if ((cls = rx_class_new(p, 0)) < 0 || rx_class_add_set(p, cls, pre))
			return -1;
		return rx_node_new(p, N_CLASS, (uint32_t)cls);
	}
	cp = utf8_decode((const unsigned char *)p->src + p->pos, p->len - p->pos, &adv);
	p->pos += adv;
	return rx_node_new(p, N_CHAR, cp);
}

/* Applies a quantifier, if one follows, to `atom`. Lazy quantifiers accept the same strings. */
static int rx_quantified(rx_parser *p, int atom)
{
	int min, max, r;
	if (p->pos >= p->len)
		return atom;
	switch (p->src[p->pos]) {
	case '*':
		min = 0, max = -1, p->pos++;
		break;
	case '+':
		min = 1, max = -1, p->pos++;
		break;
	case '?':
		min = 0, max = 1, p->pos++;
		break;
	case '{':
		if ((r = rx_braces(p, &min, &max)) <= 0)
			return r < 0 ? -1 : atom;
		break;
	default:
		return atom;
	}
	if (p->pos < p->len && p->src[p->pos] == '?')
		p->pos++;
	int rep = rx_node_new(p, N_REPEAT, 0);
	if (rep >= 0) {
		p->nodes[rep].child = atom;
		p->nodes[rep].min = min;
		p->nodes[rep].max = max;
	}
	return rep;
}

static int rx_term(rx_parser *p)
{
	const char *s = p->src + p->pos;
	if (s[0] == '^' || s[0] == '$') {
		p->pos++;
		return rx_node_new(p, N_ASSERT, s[0] == '^' ? OP_BOL : OP_EOL);
	}
	if (s[0] == '\\' && p->pos + 1 < p->len && (s[1] == 'b' || s[1] == 'B')) {
		p->pos += 2;
		return rx_node_new(p, N_ASSERT, s[1] == 'b' ? OP_WORDB : OP_NWORDB);
	}
	int atom = rx_atom(p);
	return atom < 0 ? -1 : rx_quantified(p, atom);
}

static int rx_seq(rx_parser *p)
{
	int seq = rx_node_new(p, N_SEQ, 0), tail = -1;
	if (seq < 0)
		return -1;
	while (p->pos < p->len && p->src[p->pos] != '|' && p->src[p->pos] != ')') {
		int t = rx_term(p);
		if (t < 0)
			return -1;
		if (tail < 0)
			p->nodes[seq].child = t;
		else
			p->nodes[tail].next = t;
		tail = t;
	}
	return seq;
}

static int rx_disj(rx_parser *p)
{
	int first = rx_seq(p);
	if (first < 0 || p->pos >= p->len || p->src[p->pos] != '|')
		return first;
	int alt = rx_node_new(p, N_ALT, 0), tail = first;
	if (alt < 0)
		return -1;
	p->nodes[alt].child = first;
	while (p->pos < p->len && p->src[p->pos] == '|') {
		p->pos++;
		int next = rx_seq(p);
		if (next < 0)
			return -1;
		p->nodes[tail].next = next;
		tail = next;
	}
	return alt;
}

static size_t rx_cap(size_t n)
{
	return n > RX_MAX_INSTS ? RX_MAX_INSTS + 1 : n;
}

/* An upper bound of the states node i compiles to (at least 1 per node, so that unrolling empty
 * groups cannot make compilation slow), capped just above RX_MAX_INSTS. */
static size_t rx_size(const rx_node *nodes, int i)
{
	const rx_node *n = &nodes[i];
	size_t s = 0, k = 0;
	switch (n->kind) {
	case N_SEQ:
	case N_ALT:
		for (int c = n->child; c >= 0; c = nodes[c].next, k++)
			s = rx_cap(s + rx_size(nodes, c));
		return n->kind == N_ALT ? rx_cap(s + 2 * k) : (s ? s : 1);
	case N_REPEAT:
		s = rx_size(nodes, n->child);
		return rx_cap(s * (size_t)n->min + (n->max < 0 ? s + 2 : (size_t)(n->max - n->min) * (s + 1)));
	default:
		return 1;
	}
}

typedef struct {
	rx_inst *prog;
	size_t n;
} rx_gen;

static size_t rx_put(rx_gen *g, rx_op op, uint32_t arg)
{
	g->prog[g->n] = (rx_inst){(uint8_t)op, arg, 0, 0};
	return g->n++;
}

static void rx_emit(rx_gen *g, const rx_node *nodes, int i);

/* a|b|c: SPLIT to each alternative in turn; every alternative but the last jumps to the end. The
 * pending jumps are chained through their x fields until the end is known. */
static void rx_emit_alt(rx_gen *g, const rx_node *nodes, const rx_node *n)
{
	uint32_t pending = UINT32_MAX;
	for (int c = n->child; c >= 0; c = nodes[c].next) {
		if (nodes[c].next < 0) {
			rx_emit(g, nodes, c);
			break;
		}
		size_t split = rx_put(g, OP_SPLIT, 0);
		g->prog[split].x = (uint32_t)split + 1;
		rx_emit(g, nodes, c);
		size_t jmp = rx_put(g, OP_JMP, 0);
		g->prog[jmp].x = pending;
		pending = (uint32_t)jmp;
		g->prog[split].y = (uint32_t)g->n;
	}
	while (pending != UINT32_MAX) {
		uint32_t prev = g->prog[pending].x;
		g->prog[pending].x = (uint32_t)g->n;
		pending = prev;
	}
}

/* x{min,max}: min copies, then either a loop (unbounded) or max-min optional copies that may each
 * skip to the end (chained through y until the end is known). */
static void rx_emit_repeat(rx_gen *g, const rx_node *nodes, const rx_node *n)
{
	for (int k = 0; k < n->min; k++)
		rx_emit(g, nodes, n->child);
	if (n->max < 0) {
		size_t split = rx_put(g, OP_SPLIT, 0);
		g->prog[split].x = (uint32_t)split + 1;
		rx_emit(g, nodes, n->child);
		g->prog[rx_put(g, OP_JMP, 0)].x = (uint32_t)split;
		g->prog[split].y = (uint32_t)g->n;
		return;
	}
	uint32_t pending = UINT32_MAX;
	for (int k = n->min; k < n->max; k++) {
		size_t split = rx_put(g, OP_SPLIT, 0);
		g->prog[split].x = (uint32_t)split + 1;
		g->prog[split].y = pending;
		pending = (uint32_t)split;
		rx_emit(g, nodes, n->child);
	}
	while (pending != UINT32_MAX) {
		uint32_t prev = g->prog[pending].y;
		g->prog[pending].y = (uint32_t)g->n;
		pending = prev;
	}
}

static void rx_emit(rx_gen *g, const rx_node *nodes, int i)
{
	const rx_node *n = &nodes[i];
	switch (n->kind) {
	case N_SEQ:
		for (int c = n->child; c >= 0; c = nodes[c].next)
			rx_emit(g, nodes, c);
		break;
	case N_ALT:
		rx_emit_alt(g, nodes, n);
		break;
	case N_REPEAT:
		rx_emit_repeat(g, nodes, n);
		break;
	case N_CHAR:
		rx_put(g, OP_CHAR, n->arg);
		break;
	case N_ANY:
		rx_put(g, OP_ANY, 0);
		break;
	case N_CLASS:
		rx_put(g, OP_CLASS, n->arg);
		break;
	case N_ASSERT:
		rx_put(g, (rx_op)n->arg, 0);
		break;
	}
}

static void rx_free(rx_regex *re)
{
	if (!re)
		return;
	for (size_t i = 0; i < re->nclasses; i++)
		free(re->classes[i].r);
	free(re->classes);
	free(re->prog);
	free(re->source);
	free(re);
}

/* Turns a parsed tree into a program; takes the parser's classes. */
static int rx_build(rx_regex **out, rx_parser *p, int root, const char *source)
{
	size_t size = rx_size(p->nodes, root) + 1;
	if (size > RX_MAX_INSTS)
		return rx_fail_at(p, 0, "pattern too large once repetitions are expanded");
	rx_regex *re = calloc(1, sizeof *re);
	if (!re || !(re->prog = malloc(size * sizeof *re->prog)) || !(re->source = strdup(source))) {
		rx_free(re);
		return rx_oom(p);
	}
	rx_gen g = {re->prog, 0};
	rx_emit(&g, p->nodes, root);
	rx_put(&g, OP_MATCH, 0);
	re->ninst = g.n;
	re->classes = p->classes;
	re->nclasses = p->nclasses;
	p->classes = NULL;
	p->nclasses = 0;
	*out = re;
	return 0;
}

/* Compiles an ECMA-262 pattern. TASKER_EINVAL with `err` describing the problem and its byte offset,
 * or TASKER_ENOMEM (error set). */
static int rx_compile(rx_regex **out, const char *source, char *err, size_t errlen)
{
	rx_parser p = {.src = source, .len = strlen(source)};
	int root = -1;
	*out = NULL;
	if (!utf8_valid(source))
		rx_fail(&p, "pattern is not valid UTF-8");
	else if ((root = rx_disj(&p)) >= 0 && p.pos < p.len)
		root = rx_fail(&p, "unmatched ')'");
	if (root >= 0)
		rx_build(out, &p, root, source);
	for (size_t i = 0; i < p.nclasses; i++)
		free(p.classes[i].r);
	free(p.classes);
	free(p.nodes);
	if (p.oom)
		return tasker_set_oom();
	if (p.err) {
		snprintf(err, errlen, "%s at offset %zu", p.err, p.errpos);
		return TASKER_EINVAL;
	}
	return TASKER_OK;
}

typedef struct {
	const rx_regex *re;
	const uint32_t *text;
	size_t n;
	uint32_t *stack;
	size_t *mark;     /* mark[pc] == gen: state pc is already in the list being built */
	size_t gen;
	int matched;
} rx_run_state;

static int rx_is_word(const rx_run_state *st, size_t i, int before)
{
	if (before ? i == 0 : i >= st->n)
		return 0;
	uint32_t c = st->text[before ? i - 1 : i];
	return c < 128 && (is_alnum((int)c) || c == '_');
}

/* Adds state pc and every state reachable from it without consuming input at position i to `list`
 * (only consuming states are stored). Iterative: a pattern cannot exhaust the C stack here. */
static void rx_add(rx_run_state *st, uint32_t *list, size_t *count, uint32_t pc, size_t i)
{
	size_t top = 0;
	int hit;
	st->stack[top++] = pc;
	while (top) {
		pc = st->stack[--top];
		if (st->mark[pc] == st->gen)
			continue;
		st->mark[pc] = st->gen;
		const rx_inst *in = &st->re->prog[pc];
		switch ((rx_op)in->op) {
		case OP_JMP:
			st->stack[top++] = in->x;
			continue;
		case OP_SPLIT:
			st->stack[top++] = in->y;
			st->stack[top++] = in->x;
			continue;
		case OP_MATCH:
			st->matched = 1;
			continue;
		case OP_BOL:
			hit = i == 0;
			break;
		case OP_EOL:
			hit = i == st->n;
			break;
		case OP_WORDB:
		case OP_NWORDB:
			hit = (rx_is_word(st, i, 1) != rx_is_word(st, i, 0)) == (in->op == OP_WORDB);
			break;
		default:
			list[(*count)++] = pc;
			continue;
		}
		if (hit)
			st->stack[top++] = pc + 1;
	}
}

static int rx_consumes(const rx_regex *re, const rx_inst *in, uint32_t c)
{
	switch ((rx_op)in->op) {
	case OP_CHAR:
		return c == in->arg;
	case OP_ANY:
		return c != '\n' && c != '\r' && c != 0x2028 && c != 0x2029;
	case OP_CLASS: {
		const rx_class *cls = &re->classes[in->arg];
		int found = 0;
		for (size_t k = 0; k < cls->n && !found; k++)
			found = c >= cls->r[k].lo && c <= cls->r[k].hi;
		return found != cls->negated;
	}
	default:
		return 0;
	}
}

/* Runs the automaton over text[0..n), starting a thread at every position: a search, not a full match.
 * clist and nlist hold the consuming states alive before and after each code point. */
static void rx_simulate(rx_run_state *st, uint32_t *clist, uint32_t *nlist)
{
	size_t nc = 0, nn;
	for (size_t i = 0;; i++) {
		rx_add(st, clist, &nc, 0, i);
		if (st->matched || i == st->n)
			return;
		st->gen++;
		nn = 0;
		for (size_t k = 0; k < nc; k++)
			if (rx_consumes(st->re, &st->re->prog[clist[k]], st->text[i]))
				rx_add(st, nlist, &nn, clist[k] + 1, i + 1);
		uint32_t *swap = clist;
		clist = nlist;
		nlist = swap;
		nc = nn;
	}
}

static int rx_run(const rx_regex *re, const uint32_t *text, size_t n, int *matched)
{
	rx_run_state st = {re, text, n, malloc((2 * re->ninst + 1) * sizeof(uint32_t)),
	                   calloc(re->ninst, sizeof(size_t)), 1, 0};
	uint32_t *clist = malloc(re->ninst * sizeof *clist), *nlist = malloc(re->ninst * sizeof *nlist);
	int rc = st.stack && st.mark && clist && nlist ? TASKER_OK : tasker_set_oom();
	if (rc == TASKER_OK)
		rx_simulate(&st, clist, nlist);
	*matched = st.matched;
	free(st.stack);
	free(st.mark);
	free(clist);
	free(nlist);
	return rc;
}

/* Searches `s` (UTF-8; a malformed byte is one U+FFFD) for a match anywhere: ECMA-262's RegExp#test. */
static int rx_search(const rx_regex *re, const char *s, int *matched)
{
	size_t len = strlen(s), n = 0, adv;
	uint32_t *text = malloc((len + 1) * sizeof *text);
	if (!text)
		return tasker_set_oom();
	for (size_t i = 0; i < len; i += adv) {
		uint32_t c = utf8_decode((const unsigned char *)s + i, len - i, &adv);
		text[n++] = c == UTF8_INVALID ? 0xFFFD : c;
	}
	int rc = rx_run(re, text, n, matched);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ locations and messages */

/* One step of a location: a member name, or an array index when key is NULL. Locations are chains of
 * these on the C stack (child → parent), so validation allocates nothing to track where it is. */
typedef struct tjs_seg {
	const struct tjs_seg *up;
	const char *key;
	size_t index;
} tjs_seg;

/* A bounded string builder: writes past the capacity are dropped, the text stays terminated. */
typedef struct {
	char *buf;
	size_t cap, len;
} sbuf;

static void sb_putc(sbuf *b, char c)
{
	if (b->len + 1 < b->cap)
		b->buf[b->len++] = c;
	b->buf[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
	while (*s)
		sb_putc(b, *s++);
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sb_puts(b, tmp);
}

/* s as a JSON string literal. */
static void sb_quoted(sbuf *b, const char *s)
{
	sb_putc(b, '"');
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\') {
			sb_putc(b, '\\');
			sb_putc(b, (char)*c);
		} else if (*c < 0x20 || *c == 0x7F) {
			sb_printf(b, "\\u%04x", *c);
		} else {
			sb_putc(b, (char)*c);
		}
	}
	sb_putc(b, '"');
}

/* A schema location as a URI fragment JSON pointer: "#", "#/properties/a~1b/items/0". */
static void sb_pointer(sbuf *b, const tjs_seg *at)
{
	if (!at) {
		sb_putc(b, '#');
		return;
	}
	sb_pointer(b, at->up);
	sb_putc(b, '/');
	if (!at->key) {
		sb_printf(b, "%zu", at->index);
		return;
	}
	for (const unsigned char *c = (const unsigned char *)at->key; *c; c++) {
		if (*c == '~')
			sb_puts(b, "~0");
		else if (*c == '/')
			sb_puts(b, "~1");
		else if (is_alnum(*c) || strchr("-._!$&'()*+,;=:@?", *c))
			sb_putc(b, (char)*c);
		else
			sb_printf(b, "%%%02X", *c);
	}
}

static int is_identifier(const char *s)
{
	if (!*s || is_digit(*s))
		return 0;
	for (; *s; s++)
		if (!is_alnum(*s) && *s != '_')
			return 0;
	return 1;
}

/* An instance location as a JSON path: "$", "$.customer.email", "$.items[2]", "$[\"odd key\"]". */
static void sb_path(sbuf *b, const tjs_seg *at)
{
	if (!at) {
		sb_putc(b, '$');
		return;
	}
	sb_path(b, at->up);
	if (!at->key) {
		sb_printf(b, "[%zu]", at->index);
	} else if (is_identifier(at->key)) {
		sb_putc(b, '.');
		sb_puts(b, at->key);
	} else {
		sb_putc(b, '[');
		sb_quoted(b, at->key);
		sb_putc(b, ']');
	}
}

/* Shortest of %.15g / %.17g that reads back as d. */
static const char *fmt_number(char buf[32], double d)
{
	snprintf(buf, 32, "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, 32, "%.17g", d);
	return buf;
}

static const char *json_kind(const cJSON *v)
{
	switch (v->type & 0xFF) {
	case cJSON_NULL:
		return "null";
	case cJSON_False:
	case cJSON_True:
		return "boolean";
	case cJSON_Number:
		return "number";
	case cJSON_String:
		return "string";
	case cJSON_Array:
		return "array";
	case cJSON_Object:
		return "object";
	default:
		return "raw JSON";
	}
}

/* A validation failure at `at`: TASKER_ECONTEXT with "<path>: <what>". */
static int fail(const tjs_seg *at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const tjs_seg *at, const char *fmt, ...)
{
	char path[1024], what[1024];
	sbuf b = {path, sizeof path, 0};
	va_list ap;
	sb_path(&b, at);
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return tasker_set_error(TASKER_ECONTEXT, "%s: %s", path, what);
}

/* ------------------------------------------------------------------ formats */

static int is_atext(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, each 1..63 octets,
 * 253 in all. */
static int is_hostname(const char *s, size_t len)
{
	size_t label = 0;
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			label = 0;
		} else if (is_alnum(s[i]) || s[i] == '-') {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

/* RFC 5321 address literal: [192.0.2.1] or [IPv6:2001:db8::1]. */
static int is_address_literal(const char *s, size_t len)
{
	char buf[64];
	unsigned char addr[16];
	if (len < 3 || len - 2 >= sizeof buf || s[0] != '[' || s[len - 1] != ']')
		return 0;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, addr) == 1;
	return inet_pton(AF_INET, buf, addr) == 1;
}

/* RFC 5321 Mailbox: a dot-atom or quoted local part (1..64 octets), "@", a host name or an address
 * literal. ASCII only: internationalized addresses are the separate "idn-email" format. */
static int is_email(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	if (s[0] == '"') {
		for (i = 1; s[i] != '"'; i++) {
			if (s[i] == '\\' && s[i + 1] >= 0x20 && s[i + 1] <= 0x7E)
				i++;
			else if (s[i] < 0x20 || s[i] > 0x7E || s[i] == '\\')
				return 0;
		}
		i++;
	} else {
		for (; s[i] != '@'; i++)
			if (s[i] == '.' ? i == 0 || s[i - 1] == '.' || s[i + 1] == '@' : !is_atext(s[i]))
				return 0;
	}
	if (s[i] != '@' || i == 0 || i > 64)
		return 0;
	const char *domain = str + i + 1;
	size_t len = strlen(domain);
	return is_hostname(domain, len) || is_address_literal(domain, len);
}

/* Exactly n ASCII digits (stops at the terminator, so never reads past the string). */
static int read_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

static int days_in_month(int year, int month)
{
	static const int DAYS[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
		return 29;
	return DAYS[month - 1];
}

/* RFC 3339 date-time: YYYY-MM-DD "T" hh:mm:ss[.frac] ("Z" | ±hh:mm); T and Z in either case. A leap
 * second (:60) is accepted only where it falls, in UTC, at 23:59:60. */
static int is_date_time(const char *s)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	if (!read_digits(s, 4, &y) || s[4] != '-' || !read_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !read_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !read_digits(s + 11, 2, &h) ||
	    s[13] != ':' || !read_digits(s + 14, 2, &mi) || s[16] != ':' || !read_digits(s + 17, 2, &sec))
		return 0;
	const char *p = s + 19;
	if (*p == '.') {
		if (!is_digit(*++p))
			return 0;
		while (is_digit(*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!read_digits(p + 1, 2, &oh) || p[3] != ':' || !read_digits(p + 4, 2, &om))
			return 0;
		p += 6;
	} else {
		return 0;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60 ||
	    oh > 23 || om > 59)
		return 0;
	if (sec == 60) {
		int utc = ((h * 60 + mi - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
		return utc == 23 * 60 + 59;
	}
	return 1;
}

/* ------------------------------------------------------------------ compiled schemas */

enum { T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64 };
static const char *const TYPE_NAMES[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
#define TYPE_COUNT (sizeof TYPE_NAMES / sizeof TYPE_NAMES[0])

enum { B_MINIMUM, B_MAXIMUM, B_EXCLUSIVE_MINIMUM, B_EXCLUSIVE_MAXIMUM, BOUND_COUNT };
static const char *const BOUND_NAMES[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
static const char *const BOUND_BREACH[] = {"less than", "greater than", "not greater than", "not less than"};

enum { L_MIN_LENGTH, L_MAX_LENGTH, L_MIN_ITEMS, L_MAX_ITEMS, LIMIT_COUNT };

typedef enum { FMT_NONE, FMT_EMAIL, FMT_DATE_TIME } tjs_format;

typedef struct {
	char *name;
	tjs_schema *schema;
} tjs_property;

typedef struct {
	rx_regex *re;
	tjs_schema *schema;
} tjs_pattern_property;

struct tjs_schema {
	int verdict;                 /* a boolean schema: 1 (true) or 0 (false); -1 for an object schema */
	unsigned types;              /* T_* bits "type" accepts; 0 when absent */
	char **required;
	size_t nrequired;
	tjs_property *properties;
	size_t nproperties;
	tjs_pattern_property *pattern_properties;
	size_t npattern_properties;
	tjs_schema *additional_properties;  /* NULL when absent */
	tjs_schema *items;                  /* single-schema form of "items" */
	tjs_schema **item_list;             /* array form: item_list[i] applies to element i */
	size_t nitem_list;
	cJSON *enum_values;                 /* copies: the caller's JSON is only borrowed */
	cJSON *const_value;
	double bound[BOUND_COUNT];
	unsigned has_bound;                 /* bit 1 << B_* */
	double limit[LIMIT_COUNT];
	unsigned has_limit;                 /* bit 1 << L_* */
	rx_regex *pattern;
	tjs_format format;
};

void tjs_free(tjs_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nrequired; i++)
		free(s->required[i]);
	free(s->required);
	for (size_t i = 0; i < s->nproperties; i++) {
		free(s->properties[i].name);
		tjs_free(s->properties[i].schema);
	}
	free(s->properties);
	for (size_t i = 0; i < s->npattern_properties; i++) {
		rx_free(s->pattern_properties[i].re);
		tjs_free(s->pattern_properties[i].schema);
	}
	free(s->pattern_properties);
	tjs_free(s->additional_properties);
	tjs_free(s->items);
	for (size_t i = 0; i < s->nitem_list; i++)
		tjs_free(s->item_list[i]);
	free(s->item_list);
	cJSON_Delete(s->enum_values);
	cJSON_Delete(s->const_value);
	rx_free(s->pattern);
	free(s);
}

/* Where a keyword is being compiled: its name, its table slot, the schema holding it. */
typedef struct {
	const char *keyword;
	int slot;
	const tjs_seg *at;
	int depth;
} tjs_site;

static int bad_value(const tjs_site *site, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad_value(const tjs_site *site, const char *fmt, ...)
{
	char where[1024], what[512];
	sbuf b = {where, sizeof where, 0};
	va_list ap;
	sb_pointer(&b, site->at);
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return tasker_set_error(TASKER_EINVAL, "invalid value of JSON Schema keyword \"%s\" at %s: %s",
	                        site->keyword, where, what);
}

static int compile_schema(tjs_schema **out, const cJSON *json, const tjs_seg *at, int depth);

static int compile_regex(rx_regex **out, const char *source, const tjs_site *site)
{
	char err[128], where[1024], quoted[256];
	sbuf w = {where, sizeof where, 0}, q = {quoted, sizeof quoted, 0};
	int rc = rx_compile(out, source, err, sizeof err);
	if (rc != TASKER_EINVAL)
		return rc;
	sb_pointer(&w, site->at);
	sb_quoted(&q, source);
	return tasker_set_error(TASKER_EINVAL,
	                        "invalid regular expression %s in JSON Schema keyword \"%s\" at %s: %s", quoted,
	                        site->keyword, where, err);
}

static int kw_string(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	(void)s;
	return cJSON_IsString(v) ? 0 : bad_value(site, "expected a string, got %s", json_kind(v));
}

static int kw_any(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	(void)s, (void)v, (void)site;
	return 0;
}

static int kw_examples(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	(void)s;
	return cJSON_IsArray(v) ? 0 : bad_value(site, "expected an array, got %s", json_kind(v));
}

static unsigned type_bit(const cJSON *v)
{
	for (size_t i = 0; cJSON_IsString(v) && i < TYPE_COUNT; i++)
		if (strcmp(v->valuestring, TYPE_NAMES[i]) == 0)
			return 1u << i;
	return 0;
}

static int kw_type(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (cJSON_IsString(v)) {
		if (!(s->types = type_bit(v)))
			return bad_value(site, "unknown type \"%.100s\"", v->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(v) || !v->child)
		return bad_value(site, "expected a type name or a non-empty array of them, got %s",
		                 cJSON_IsArray(v) ? "an empty array" : json_kind(v));
	for (const cJSON *t = v->child; t; t = t->next) {
		unsigned bit = type_bit(t);
		if (!bit)
			return cJSON_IsString(t) ? bad_value(site, "unknown type \"%.100s\"", t->valuestring)
			                         : bad_value(site, "expected type names, got %s", json_kind(t));
		if (s->types & bit)
			return bad_value(site, "type \"%s\" listed twice", t->valuestring);
		s->types |= bit;
	}
	return 0;
}

/* 1 if v is an array of strings, none repeated. */
static int is_unique_string_array(const cJSON *v)
{
	if (!cJSON_IsArray(v))
		return 0;
	for (const cJSON *a = v->child; a; a = a->next) {
		if (!cJSON_IsString(a))
			return 0;
		for (const cJSON *b = v->child; b != a; b = b->next)
			if (strcmp(a->valuestring, b->valuestring) == 0)
				return 0;
	}
	return 1;
}

static int kw_required(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (!is_unique_string_array(v))
		return bad_value(site, "expected an array of distinct strings");
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n && !(s->required = calloc(n, sizeof *s->required)))
		return tasker_set_oom();
	for (const cJSON *r = v->child; r; r = r->next)
		if (!(s->required[s->nrequired++] = strdup(r->valuestring)))
			return tasker_set_oom();
	return 0;
}

static int kw_properties(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsObject(v))
		return bad_value(site, "expected an object of schemas, got %s", json_kind(v));
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n && !(s->properties = calloc(n, sizeof *s->properties)))
		return tasker_set_oom();
	const tjs_seg kw = {site->at, site->keyword, 0};
	for (const cJSON *m = v->child; m; m = m->next) {
		for (size_t i = 0; i < s->nproperties; i++)
			if (strcmp(s->properties[i].name, m->string) == 0)
				return bad_value(site, "property \"%.100s\" defined twice", m->string);
		tjs_property *p = &s->properties[s->nproperties++];
		const tjs_seg at = {&kw, m->string, 0};
		if (!(p->name = strdup(m->string)))
			return tasker_set_oom();
		int rc = compile_schema(&p->schema, m, &at, site->depth + 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int kw_pattern_properties(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsObject(v))
		return bad_value(site, "expected an object of schemas, got %s", json_kind(v));
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n && !(s->pattern_properties = calloc(n, sizeof *s->pattern_properties)))
		return tasker_set_oom();
	const tjs_seg kw = {site->at, site->keyword, 0};
	for (const cJSON *m = v->child; m; m = m->next) {
		tjs_pattern_property *p = &s->pattern_properties[s->npattern_properties++];
		const tjs_seg at = {&kw, m->string, 0};
		int rc = compile_regex(&p->re, m->string, site);
		if (rc || (rc = compile_schema(&p->schema, m, &at, site->depth + 1)))
			return rc;
	}
	return 0;
}

static int kw_additional_properties(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	const tjs_seg at = {site->at, site->keyword, 0};
	return compile_schema(&s->additional_properties, v, &at, site->depth + 1);
}

static int kw_items(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	const tjs_seg kw = {site->at, site->keyword, 0};
	if (!cJSON_IsArray(v))
		return compile_schema(&s->items, v, &kw, site->depth + 1);
	if (!v->child)
		return bad_value(site, "expected a schema or a non-empty array of schemas, got an empty array");
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (!(s->item_list = calloc(n, sizeof *s->item_list)))
		return tasker_set_oom();
	for (const cJSON *item = v->child; item; item = item->next) {
		const tjs_seg at = {&kw, NULL, s->nitem_list};
		int rc = compile_schema(&s->item_list[s->nitem_list++], item, &at, site->depth + 1);
		if (rc)
			return rc;
	}
	return 0;
}

static int kw_enum(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsArray(v))
		return bad_value(site, "expected an array, got %s", json_kind(v));
	return (s->enum_values = cJSON_Duplicate(v, 1)) ? 0 : tasker_set_oom();
}

static int kw_const(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	(void)site;
	return (s->const_value = cJSON_Duplicate(v, 1)) ? 0 : tasker_set_oom();
}

static int kw_bound(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsNumber(v))
		return bad_value(site, "expected a number%s, got %s",
		                 cJSON_IsBool(v) && site->slot >= B_EXCLUSIVE_MINIMUM
		                         ? " (the boolean form of draft 4 is not supported)"
		                         : "",
		                 json_kind(v));
	s->bound[site->slot] = v->valuedouble;
	s->has_bound |= 1u << site->slot;
	return 0;
}

static int is_integral(double d)
{
	return isfinite(d) && floor(d) == d;
}

static int kw_limit(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	char num[32];
	if (!cJSON_IsNumber(v))
		return bad_value(site, "expected a non-negative integer, got %s", json_kind(v));
	if (!is_integral(v->valuedouble) || v->valuedouble < 0)
		return bad_value(site, "expected a non-negative integer, got %s", fmt_number(num, v->valuedouble));
	s->limit[site->slot] = v->valuedouble;
	s->has_limit |= 1u << site->slot;
	return 0;
}

static int kw_pattern(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsString(v))
		return bad_value(site, "expected a regular expression string, got %s", json_kind(v));
	return compile_regex(&s->pattern, v->valuestring, site);
}

static int kw_format(tjs_schema *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsString(v))
		return bad_value(site, "expected a string, got %s", json_kind(v));
	if (strcmp(v->valuestring, "email") == 0)
		s->format = FMT_EMAIL;
	else if (strcmp(v->valuestring, "date-time") == 0)
		s->format = FMT_DATE_TIME;
	else
		return bad_value(site, "unsupported format \"%.100s\" (supported: email, date-time)", v->valuestring);
	return 0;
}

typedef struct {
	const char *name;
	int (*compile)(tjs_schema *s, const cJSON *value, const tjs_site *site);
	int slot;
} tjs_keyword;

/* Every keyword this validator knows; tjs_supported_keywords() lists the same names in this order. */
static const tjs_keyword KEYWORDS[] = {
	{"type", kw_type, 0},
	{"required", kw_required, 0},
	{"properties", kw_properties, 0},
	{"patternProperties", kw_pattern_properties, 0},
	{"additionalProperties", kw_additional_properties, 0},
	{"items", kw_items, 0},
	{"enum", kw_enum, 0},
	{"const", kw_const, 0},
	{"minimum", kw_bound, B_MINIMUM},
	{"maximum", kw_bound, B_MAXIMUM},
	{"exclusiveMinimum", kw_bound, B_EXCLUSIVE_MINIMUM},
	{"exclusiveMaximum", kw_bound, B_EXCLUSIVE_MAXIMUM},
	{"minLength", kw_limit, L_MIN_LENGTH},
	{"maxLength", kw_limit, L_MAX_LENGTH},
	{"pattern", kw_pattern, 0},
	{"minItems", kw_limit, L_MIN_ITEMS},
	{"maxItems", kw_limit, L_MAX_ITEMS},
	{"format", kw_format, 0},
	{"title", kw_string, 0},
	{"description", kw_string, 0},
	{"default", kw_any, 0},
	{"examples", kw_examples, 0},
	{"$schema", kw_string, 0},
	{"$id", kw_string, 0},
	{"$comment", kw_string, 0},
};
#define KEYWORD_COUNT (sizeof KEYWORDS / sizeof KEYWORDS[0])

const char *tjs_supported_keywords(void)
{
	return "type,required,properties,patternProperties,additionalProperties,items,enum,const,minimum,"
	       "maximum,exclusiveMinimum,exclusiveMaximum,minLength,maxLength,pattern,minItems,maxItems,format,"
	       "title,description,default,examples,$schema,$id,$comment";
}

static int schema_error(const tjs_seg *at, const char *what, const char *keyword)
{
	char where[1024], name[256];
	sbuf w = {where, sizeof where, 0}, n = {name, sizeof name, 0};
	sb_pointer(&w, at);
	if (!keyword)
		return tasker_set_error(TASKER_EINVAL, "%s at %s", what, where);
	sb_quoted(&n, keyword);
	return tasker_set_error(TASKER_EINVAL, "%s JSON Schema keyword %s at %s", what, name, where);
}

static int compile_keywords(tjs_schema *s, const cJSON *json, const tjs_seg *at, int depth)
{
	uint64_t seen = 0;
	for (const cJSON *m = json->child; m; m = m->next) {
		const char *name = m->string ? m->string : "";
		size_t k = 0;
		while (k < KEYWORD_COUNT && strcmp(KEYWORDS[k].name, name) != 0)
			k++;
		if (k == KEYWORD_COUNT)
			return schema_error(at, "unsupported", name);
		if (seen & ((uint64_t)1 << k))
			return schema_error(at, "duplicate", name);
		seen |= (uint64_t)1 << k;
		const tjs_site site = {KEYWORDS[k].name, KEYWORDS[k].slot, at, depth};
		int rc = KEYWORDS[k].compile(s, m, &site);
		if (rc)
			return rc;
	}
	return 0;
}

static int compile_schema(tjs_schema **out, const cJSON *json, const tjs_seg *at, int depth)
{
	char msg[96];
	*out = NULL;
	if (depth > TJS_MAX_DEPTH) {
		snprintf(msg, sizeof msg, "JSON Schema nested more than %d levels deep", TJS_MAX_DEPTH);
		return schema_error(at, msg, NULL);
	}
	if (!cJSON_IsBool(json) && !cJSON_IsObject(json)) {
		snprintf(msg, sizeof msg, "a JSON Schema must be an object or a boolean, got %s", json_kind(json));
		return schema_error(at, msg, NULL);
	}
	tjs_schema *s = calloc(1, sizeof *s);
	if (!s)
		return tasker_set_oom();
	s->verdict = cJSON_IsBool(json) ? cJSON_IsTrue(json) : -1;
	int rc = cJSON_IsObject(json) ? compile_keywords(s, json, at, depth) : 0;
	if (rc) {
		tjs_free(s);
		return rc;
	}
	*out = s;
	return TASKER_OK;
}

int tjs_compile(tjs_schema **out, const cJSON *schema)
{
	if (!out)
		return tasker_set_error(TASKER_EINVAL, "tjs_compile: out must not be NULL");
	*out = NULL;
	if (!schema)
		return tasker_set_error(TASKER_EINVAL, "tjs_compile: schema must not be NULL");
	return compile_schema(out, schema, NULL, 0);
}

/* ------------------------------------------------------------------ validation */

/* Deep JSON equality: numbers by value (1 == 1.0), objects regardless of member order. */
static int json_equal(const cJSON *a, const cJSON *b)
{
	int type = a->type & 0xFF;
	if (type != (b->type & 0xFF))
		return 0;
	switch (type) {
	case cJSON_Number:
		return a->valuedouble == b->valuedouble;
	case cJSON_String:
	case cJSON_Raw:
		return a->valuestring && b->valuestring && strcmp(a->valuestring, b->valuestring) == 0;
	case cJSON_Array:
		for (a = a->child, b = b->child; a && b; a = a->next, b = b->next)
			if (!json_equal(a, b))
				return 0;
		return !a && !b;
	case cJSON_Object:
		if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
			return 0;
		for (const cJSON *m = a->child; m; m = m->next) {
			const cJSON *other = m->string ? cJSON_GetObjectItemCaseSensitive(b, m->string) : NULL;
			if (!other || !json_equal(m, other))
				return 0;
		}
		/* both ways, so that repeated member names cannot make unequal objects look equal */
		for (const cJSON *m = b->child; m; m = m->next) {
			const cJSON *other = m->string ? cJSON_GetObjectItemCaseSensitive(a, m->string) : NULL;
			if (!other || !json_equal(m, other))
				return 0;
		}
		return 1;
	default:
		return 1; /* null, true, false */
	}
}

/* The T_* bits an instance has: an integral number is both a number and an integer. */
static unsigned instance_types(const cJSON *v)
{
	switch (v->type & 0xFF) {
	case cJSON_NULL:
		return T_NULL;
	case cJSON_False:
	case cJSON_True:
		return T_BOOLEAN;
	case cJSON_Number:
		return is_integral(v->valuedouble) ? T_NUMBER | T_INTEGER : T_NUMBER;
	case cJSON_String:
		return v->valuestring ? T_STRING : 0;
	case cJSON_Array:
		return T_ARRAY;
	case cJSON_Object:
		return T_OBJECT;
	default:
		return 0;
	}
}

static int fail_type(unsigned expected, unsigned got, const tjs_seg *at)
{
	char list[128];
	sbuf b = {list, sizeof list, 0};
	unsigned left = expected;
	list[0] = '\0';
	for (size_t i = 0; i < TYPE_COUNT; i++) {
		if (!(expected & (1u << i)))
			continue;
		left &= ~(1u << i);
		if (b.len)
			sb_puts(&b, left ? ", " : " or ");
		sb_puts(&b, TYPE_NAMES[i]);
	}
	const char *name = got & T_INTEGER ? "integer" : "invalid JSON";
	for (size_t i = 0; i < TYPE_COUNT && !(got & T_INTEGER); i++)
		if (got & (1u << i))
			name = TYPE_NAMES[i];
	return fail(at, "expected %s, got %s", list, name);
}

/* "value is not one of <json>": the schema's own values, shortened if long. */
static int fail_listing(const tjs_seg *at, const char *what, const cJSON *values)
{
	char *text = cJSON_PrintUnformatted(values);
	int rc;
	if (!text)
		return fail(at, "%s", what);
	if (strlen(text) > 200)
		rc = fail(at, "%s %.200s...", what, text);
	else
		rc = fail(at, "%s %s", what, text);
	free(text);
	return rc;
}

static int check_enum_const(const tjs_schema *s, const cJSON *v, const tjs_seg *at)
{
	if (s->const_value && !json_equal(v, s->const_value))
		return fail_listing(at, "value does not equal const", s->const_value);
	if (s->enum_values) {
		for (const cJSON *e = s->enum_values->child; e; e = e->next)
			if (json_equal(v, e))
				return 0;
		return fail_listing(at, "value is not one of enum", s->enum_values);
	}
	return 0;
}

static int check_number(const tjs_schema *s, double x, const tjs_seg *at)
{
	char got[32], lim[32];
	for (int b = 0; b < BOUND_COUNT; b++) {
		if (!(s->has_bound & (1u << b)))
			continue;
		double l = s->bound[b];
		int ok = b == B_MINIMUM ? x >= l : b == B_MAXIMUM ? x <= l : b == B_EXCLUSIVE_MINIMUM ? x > l : x < l;
		if (!ok)
			return fail(at, "%s is %s %s %s", fmt_number(got, x), BOUND_BREACH[b], BOUND_NAMES[b],
			            fmt_number(lim, l));
	}
	return 0;
}

static int check_string(const tjs_schema *s, const char *str, const tjs_seg *at)
{
	char lim[32];
	int rc, matched;
	if (s->has_limit & ((1u << L_MIN_LENGTH) | (1u << L_MAX_LENGTH))) {
		size_t n = utf8_count(str);
		if ((s->has_limit & (1u << L_MIN_LENGTH)) && (double)n < s->limit[L_MIN_LENGTH])
			return fail(at, "string of %zu characters is shorter than minLength %s", n,
			            fmt_number(lim, s->limit[L_MIN_LENGTH]));
		if ((s->has_limit & (1u << L_MAX_LENGTH)) && (double)n > s->limit[L_MAX_LENGTH])
			return fail(at, "string of %zu characters is longer than maxLength %s", n,
			            fmt_number(lim, s->limit[L_MAX_LENGTH]));
	}
	if (s->pattern) {
		if ((rc = rx_search(s->pattern, str, &matched)))
			return rc;
		if (!matched) {
			char quoted[256];
			sbuf q = {quoted, sizeof quoted, 0};
			sb_quoted(&q, s->pattern->source);
			return fail(at, "string does not match pattern %s", quoted);
		}
	}
	if (s->format == FMT_EMAIL && !is_email(str))
		return fail(at, "not a valid email address (format \"email\")");
	if (s->format == FMT_DATE_TIME && !is_date_time(str))
		return fail(at, "not a valid RFC 3339 date-time (format \"date-time\")");
	return 0;
}

static int validate(const tjs_schema *s, const cJSON *v, const tjs_seg *at);

static int check_array(const tjs_schema *s, const cJSON *v, const tjs_seg *at)
{
	char lim[32];
	size_t n = 0;
	for (const cJSON *e = v->child; e; e = e->next)
		n++;
	if ((s->has_limit & (1u << L_MIN_ITEMS)) && (double)n < s->limit[L_MIN_ITEMS])
		return fail(at, "array of %zu items has fewer than minItems %s", n,
		            fmt_number(lim, s->limit[L_MIN_ITEMS]));
	if ((s->has_limit & (1u << L_MAX_ITEMS)) && (double)n > s->limit[L_MAX_ITEMS])
		return fail(at, "array of %zu items has more than maxItems %s", n,
		            fmt_number(lim, s->limit[L_MAX_ITEMS]));
	if (!s->items && !s->item_list)
		return 0;
	size_t i = 0;
	for (const cJSON *e = v->child; e; e = e->next, i++) {
		const tjs_schema *item = s->items ? s->items : i < s->nitem_list ? s->item_list[i] : NULL;
		const tjs_seg seg = {at, NULL, i};
		int rc = item ? validate(item, e, &seg) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

/* One member of an object: its "properties" schema, every matching "patternProperties" schema, and
 * "additionalProperties" when neither applied. */
static int check_member(const tjs_schema *s, const cJSON *m, const char *name, const tjs_seg *at)
{
	int applied = 0, rc, hit;
	for (size_t i = 0; i < s->nproperties; i++) {
		if (strcmp(s->properties[i].name, name) == 0) {
			if ((rc = validate(s->properties[i].schema, m, at)))
				return rc;
			applied = 1;
			break;
		}
	}
	for (size_t i = 0; i < s->npattern_properties; i++) {
		if ((rc = rx_search(s->pattern_properties[i].re, name, &hit)))
			return rc;
		if (hit && (rc = validate(s->pattern_properties[i].schema, m, at)))
			return rc;
		applied |= hit;
	}
	if (applied || !s->additional_properties)
		return 0;
	if (s->additional_properties->verdict == 0)
		return fail(at, "property is not allowed (additionalProperties is false)");
	return validate(s->additional_properties, m, at);
}

static int check_object(const tjs_schema *s, const cJSON *v, const tjs_seg *at)
{
	for (size_t i = 0; i < s->nrequired; i++) {
		if (!cJSON_GetObjectItemCaseSensitive(v, s->required[i])) {
			char name[256];
			sbuf b = {name, sizeof name, 0};
			sb_quoted(&b, s->required[i]);
			return fail(at, "required property %s is missing", name);
		}
	}
	if (!s->nproperties && !s->npattern_properties && !s->additional_properties)
		return 0;
	for (const cJSON *m = v->child; m; m = m->next) {
		const char *name = m->string ? m->string : "";
		const tjs_seg seg = {at, name, 0};
		int rc = check_member(s, m, name, &seg);
		if (rc)
			return rc;
	}
	return 0;
}

static int validate(const tjs_schema *s, const cJSON *v, const tjs_seg *at)
{
	if (s->verdict == 0)
		return fail(at, "no value is allowed here (the schema is false)");
	if (s->verdict == 1)
		return 0;
	unsigned t = instance_types(v);
	int rc;
	if (s->types && !(s->types & t))
		return fail_type(s->types, t, at);
	if ((rc = check_enum_const(s, v, at)))
		return rc;
	if (t & T_NUMBER)
		return check_number(s, v->valuedouble, at);
	if (t & T_STRING)
		return check_string(s, v->valuestring, at);
	if (t & T_ARRAY)
		return check_array(s, v, at);
	if (t & T_OBJECT)
		return check_object(s, v, at);
	return 0;
}

int tjs_validate(const tjs_schema *schema, const cJSON *instance)
{
	if (!schema || !instance)
		return tasker_set_error(TASKER_EINVAL, "tjs_validate: schema and instance must not be NULL");
	return validate(schema, instance, NULL);
}
