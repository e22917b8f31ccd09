/*
 * regex.c — ECMA-262 regular expressions for JSON Schema (see regex.h). A pattern is parsed into a small
 * tree, then compiled to a Thompson automaton (CHAR/ANY/CLASS consume one code point; SPLIT/JMP branch;
 * assertions test the position) that is simulated breadth-first. Every state is visited at most once per
 * subject position, so a search costs O(subject × program) whatever the pattern. Counted repetition is
 * unrolled, hence the limits on counts and program size.
 *
 * A lookaround is a test of the position too, answered from a table made before the search, one pass
 * over the subject per lookaround: a lookbehind's body runs forwards, started at every position, and
 * marks each position where it reaches its end; a lookahead's body is compiled reversed and runs
 * backwards the same way, marking each position where a match of it begins. Inner lookarounds are
 * tabled before the ones around them. So lookaround costs one more O(subject × body) pass each, never a
 * search per position. Knows nothing of schemas.
 */
#include "regex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "utf8.h"
#include "util.h"

/* RX_MAX_LOOKS: each lookaround keeps a bit per subject position during a search. */
enum { RX_MAX_INSTS = 10000, RX_MAX_COUNT = 1000, RX_MAX_GROUP_DEPTH = 64, RX_MAX_LOOKS = 64 };

typedef enum {
	OP_CHAR, OP_ANY, OP_CLASS, OP_SPLIT, OP_JMP, OP_BOL, OP_EOL, OP_WORDB, OP_NWORDB, OP_LOOK, OP_MATCH
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
	uint32_t arg;      /* OP_CHAR: code point; OP_CLASS: class index; OP_LOOK: lookaround index */
	uint32_t x, y;     /* OP_JMP: x; OP_SPLIT: x, y; OP_LOOK: x = 1 when negative */
} rx_inst;

/* A lookaround's program: where it starts in prog, and which way it runs over the subject. */
typedef struct {
	uint32_t start;
	int backward;      /* a lookahead: its body reversed, run from the end of the subject */
} rx_look;

struct trx_regex {
	char *source;
	rx_inst *prog;
	size_t ninst;
	rx_class *classes;
	size_t nclasses;
	rx_look *looks;    /* in the order they are tabled: inner ones first */
	size_t nlooks;
};

typedef enum { N_SEQ, N_ALT, N_CHAR, N_ANY, N_CLASS, N_ASSERT, N_REPEAT, N_LOOK } rx_kind;

typedef struct {
	rx_kind kind;
	uint32_t arg;      /* N_CHAR: code point; N_CLASS: class index; N_ASSERT: opcode; N_LOOK: index */
	int child;         /* N_SEQ, N_ALT: first item; N_REPEAT: operand; N_LOOK: body */
	int next;          /* next item of the enclosing N_SEQ / N_ALT, -1 for the last */
	int prev;          /* the item before it in an N_SEQ, -1 for the first: reversed bodies */
	int last;          /* N_SEQ: last item */
	int min, max;      /* N_REPEAT, max -1 means unbounded; N_LOOK: min = negative, max = behind */
} rx_node;

/* A group name: where it is written in the pattern. */
typedef struct {
	size_t at, len;
} rx_name;

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
	int syntax_only;   /* check ECMA-262 syntax: accept what the automaton cannot run */
	size_t ngroups;    /* capturing groups seen */
	long max_backref;  /* highest \N seen (syntax_only), checked against ngroups at the end */
	size_t max_backref_at;
	rx_name *names;    /* named groups (syntax_only), for \k<name> */
	size_t nnames, capnames;
	rx_name *refs;     /* \k<name> seen (syntax_only), checked at the end */
	size_t nrefs, caprefs;
	int *looks;        /* N_LOOK nodes, inner ones first (each is added when its body is read) */
	size_t nlooks, caplooks;
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

/* Escapes naming a predefined class: odd = the set, even = its complement. 0 = not a class escape.
 * PRE_PROPERTY is \p{...}/\P{...}, which only a syntax check accepts. */
enum { PRE_DIGIT = 1, PRE_NOT_DIGIT, PRE_WORD, PRE_NOT_WORD, PRE_SPACE, PRE_NOT_SPACE, PRE_PROPERTY };

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
	rx_node *nodes = tarray_grow(p->nodes, &p->capnodes, p->nnodes + 1, sizeof *nodes);
	if (!nodes)
		return rx_oom(p);
	p->nodes = nodes;
	nodes[p->nnodes] = (rx_node){kind, arg, -1, -1, -1, -1, 0, 0};
	return (int)p->nnodes++;
}

static int rx_class_new(rx_parser *p, int negated)
{
	rx_class *classes = tarray_grow(p->classes, &p->capclasses, p->nclasses + 1, sizeof *classes);
	if (!classes)
		return rx_oom(p);
	p->classes = classes;
	classes[p->nclasses] = (rx_class){NULL, 0, 0, negated};
	return (int)p->nclasses++;
}

static int rx_class_add(rx_parser *p, int cls, uint32_t lo, uint32_t hi)
{
	rx_class *c = &p->classes[cls];
	rx_range *r = tarray_grow(c->r, &c->cap, c->n + 1, sizeof *r);
	if (!r)
		return rx_oom(p);
	c->r = r;
	r[c->n++] = (rx_range){lo, hi};
	return 0;
}

/* Adds a predefined set (PRE_*) to a class; a negated escape adds the complement of the set. A property
 * escape (syntax check only) adds nothing: the class is never run. */
static int rx_class_add_set(rx_parser *p, int cls, int pre)
{
	if (pre == PRE_PROPERTY)
		return 0;
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
		int h = tascii_hex((unsigned char)p->src[at + i]);
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
		while (i < p->len && tascii_hex((unsigned char)p->src[i]) >= 0 && v <= 0x10FFFF)
			v = v * 16 + (uint32_t)tascii_hex((unsigned char)p->src[i++]);
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

static int rx_name_push(rx_parser *p, rx_name **v, size_t *n, size_t *cap, size_t at, size_t len)
{
	rx_name *bigger = tarray_grow(*v, cap, *n + 1, sizeof **v);
	if (!bigger)
		return rx_oom(p);
	*v = bigger;
	bigger[(*n)++] = (rx_name){at, len};
	return 0;
}

/* A group name <ident> starting at src[at] ('<'); its length (without brackets), or 0 if malformed. */
static size_t rx_group_name(const rx_parser *p, size_t at)
{
	size_t i = at + 1;
	while (i < p->len && (tascii_alnum(p->src[i]) || p->src[i] == '_' || p->src[i] == '$'))
		i++;
	if (i == at + 1 || i >= p->len || p->src[i] != '>' || tascii_digit(p->src[at + 1]))
		return 0;
	return i - at - 1;
}

/* \p{Name} or \p{Name=Value}, backslash at src[backslash]: accepted by a syntax check only. */
static int rx_property_escape(rx_parser *p, size_t backslash, int *pre)
{
	if (!p->syntax_only)
		return rx_fail_at(p, backslash, "Unicode property escapes are not supported");
	size_t i = backslash + 2;
	if (i >= p->len || p->src[i] != '{')
		return rx_fail_at(p, backslash, "invalid \\p{...} escape");
	size_t start = ++i;
	while (i < p->len && (tascii_alnum(p->src[i]) || p->src[i] == '_' || p->src[i] == '='))
		i++;
	if (i == start || i >= p->len || p->src[i] != '}')
		return rx_fail_at(p, backslash, "invalid \\p{...} escape");
	p->pos = i + 1;
	*pre = PRE_PROPERTY;
	return 0;
}

/* \1.. (a backreference): refused by the automaton; a syntax check requires the group to exist. */
static int rx_backreference(rx_parser *p, size_t backslash, int in_class)
{
	if (in_class)
		return rx_fail_at(p, backslash, "invalid escape in a character class");
	if (!p->syntax_only)
		return rx_fail_at(p, backslash, "backreferences are not supported");
	long n = 0;
	size_t i = backslash + 1;
	for (; i < p->len && tascii_digit(p->src[i]); i++)
		if (n <= 100000)
			n = n * 10 + (p->src[i] - '0');
	p->pos = i;
	if (n > p->max_backref) {
		p->max_backref = n;
		p->max_backref_at = backslash;
	}
	return 0;
}

/* \k<name>: refused by the automaton; a syntax check requires the group name to exist. */
static int rx_named_backreference(rx_parser *p, size_t backslash, int in_class)
{
	if (in_class)
		return rx_fail_at(p, backslash, "invalid escape in a character class");
	if (!p->syntax_only)
		return rx_fail_at(p, backslash, "named backreferences are not supported");
	size_t len = backslash + 2 < p->len && p->src[backslash + 2] == '<' ? rx_group_name(p, backslash + 2) : 0;
	if (!len)
		return rx_fail_at(p, backslash, "invalid \\k<name> escape");
	p->pos = backslash + 2 + len + 2;
	return rx_name_push(p, &p->refs, &p->nrefs, &p->caprefs, backslash + 3, len);
}

/* Parses the escape at p->pos (a backslash): either a character (*cp) or a class escape (*pre); a
 * backreference (syntax check only) sets neither and returns 1. Inside a class, \b is a backspace;
 * outside, \b and \B never get here (they are assertions). */
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
		if (p->pos < p->len && tascii_digit(p->src[p->pos]))
			return rx_fail_at(p, backslash, "octal escapes are not supported");
		*cp = 0;
		return 0;
	case 'c':
		if (p->pos >= p->len || !tascii_alnum(p->src[p->pos]) || tascii_digit(p->src[p->pos]))
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
		return rx_named_backreference(p, backslash, in_class) ? -1 : 1;
	case 'p':
	case 'P':
		return rx_property_escape(p, backslash, pre);
	}
	if (c >= '1' && c <= '9')
		return rx_backreference(p, backslash, in_class) ? -1 : 1;
	if (tascii_alnum(c) || c == '_')
		return rx_fail_at(p, backslash, "invalid escape");
	/* an identity escape: the character itself, which may be multibyte */
	size_t adv;
	*cp = tutf8_decode((const unsigned char *)p->src + at, p->len - at, &adv);
	p->pos = at + adv;
	return 0;
}

static int rx_class_atom(rx_parser *p, uint32_t *cp, int *pre)
{
	size_t adv;
	*pre = 0;
	if (p->src[p->pos] == '\\')
		return rx_escape(p, 1, cp, pre);
	*cp = tutf8_decode((const unsigned char *)p->src + p->pos, p->len - p->pos, &adv);
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
	for (; *i < p->len && tascii_digit(p->src[*i]); (*i)++, n++)
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

/* (?=...), (?!...), (?<=...), (?<!...) at `start`, `skip` bytes of opening (3 ahead, 4 behind): an
 * N_LOOK node that nothing may quantify, as in ECMA-262's Unicode mode. */
static int rx_lookaround(rx_parser *p, size_t start, size_t skip)
{
	p->pos = start + skip;
	if (++p->depth > RX_MAX_GROUP_DEPTH)
		return rx_fail_at(p, start, "groups nested too deeply");
	int body = rx_disj(p);
	if (body < 0)
		return -1;
	if (p->pos >= p->len || p->src[p->pos] != ')')
		return rx_fail_at(p, start, "missing ')'");
	p->pos++;
	p->depth--;
	if (p->pos < p->len && strchr("*+?", p->src[p->pos]))
		return rx_fail(p, "nothing to repeat");
	if (p->nlooks == RX_MAX_LOOKS)
		return rx_fail_at(p, start, "more than 64 lookarounds");
	int *looks = tarray_grow(p->looks, &p->caplooks, p->nlooks + 1, sizeof *looks);
	if (!looks)
		return rx_oom(p);
	p->looks = looks;
	int node = rx_node_new(p, N_LOOK, (uint32_t)p->nlooks);
	if (node < 0)
		return -1;
	looks[p->nlooks++] = node;
	p->nodes[node].child = body;
	p->nodes[node].min = p->src[start + skip - 1] == '!'; /* (?! or (?<! */
	p->nodes[node].max = skip == 4;
	return node;
}

/* The opening of a group at `start`: ( or (?: or (?<name>; lookaround goes to rx_lookaround (returns
 * 1, node in *node). */
static int rx_group_open(rx_parser *p, size_t start, int *node)
{
	if (p->pos >= p->len || p->src[p->pos] != '?') {
		p->ngroups++;
		return 0;
	}
	char k = p->pos + 1 < p->len ? p->src[p->pos + 1] : '\0';
	char k2 = p->pos + 2 < p->len ? p->src[p->pos + 2] : '\0';
	if (k == ':') {
		p->pos += 2;
		return 0;
	}
	if (k == '=' || k == '!' || (k == '<' && (k2 == '=' || k2 == '!'))) {
		*node = rx_lookaround(p, start, k == '<' ? 4 : 3);
		return *node < 0 ? -1 : 1;
	}
	if (k != '<')
		return rx_fail_at(p, start, "invalid group");
	size_t len = rx_group_name(p, p->pos + 1);
	if (!len)
		return rx_fail_at(p, start, "invalid group name");
	for (size_t i = 0; i < p->nnames; i++)
		if (p->names[i].len == len && memcmp(p->src + p->names[i].at, p->src + p->pos + 2, len) == 0)
			return rx_fail_at(p, start, "duplicate group name");
	if (rx_name_push(p, &p->names, &p->nnames, &p->capnames, p->pos + 2, len))
		return -1;
	p->ngroups++;
	p->pos += len + 3;
	return 0;
}

/* ( ... ), (?: ... ) and (?<name> ... ). */
static int rx_group(rx_parser *p)
{
	size_t start = p->pos++;
	int node = -1, open = rx_group_open(p, start, &node);
	if (open)
		return open < 0 ? -1 : node;
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
		if ((r = rx_escape(p, 0, &cp, &pre)) != 0)
			return r < 0 ? -1 : rx_node_new(p, N_SEQ, 0);
		if (!pre)
			return rx_node_new(p, N_CHAR, cp);
		if ((cls = rx_class_new(p, 0)) < 0 || rx_class_add_set(p, cls, pre))
			return -1;
		return rx_node_new(p, N_CLASS, (uint32_t)cls);
	}
	cp = tutf8_decode((const unsigned char *)p->src + p->pos, p->len - p->pos, &adv);
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
		p->nodes[t].prev = tail;
		tail = t;
	}
	p->nodes[seq].last = tail;
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

/* What a syntax check can only verify once the whole pattern is read: every backreference names a
 * group that exists somewhere in the pattern. */
static int rx_check_references(rx_parser *p)
{
	if (p->max_backref > 0 && (size_t)p->max_backref > p->ngroups)
		return rx_fail_at(p, p->max_backref_at, "backreference to a group that does not exist");
	for (size_t r = 0; r < p->nrefs; r++) {
		int found = 0;
		for (size_t i = 0; i < p->nnames && !found; i++)
			found = p->names[i].len == p->refs[r].len &&
			        memcmp(p->src + p->names[i].at, p->src + p->refs[r].at, p->refs[r].len) == 0;
		if (!found)
			return rx_fail_at(p, p->refs[r].at - 3, "backreference to a group name that does not exist");
	}
	return 0;
}

/* Parses the whole pattern; the root node, or -1 with p->err set. */
static int rx_parse(rx_parser *p)
{
	int root = -1;
	if (tutf8_bad_offset(p->src, p->len) < p->len)
		rx_fail(p, "pattern is not valid UTF-8");
	else if ((root = rx_disj(p)) >= 0 && p->pos < p->len)
		root = rx_fail(p, "unmatched ')'");
	else if (root >= 0 && rx_check_references(p))
		root = -1;
	return root;
}

static void rx_parser_free(rx_parser *p)
{
	for (size_t i = 0; i < p->nclasses; i++)
		free(p->classes[i].r);
	free(p->classes);
	free(p->nodes);
	free(p->names);
	free(p->refs);
	free(p->looks);
}

static void rx_message(const rx_parser *p, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s at offset %zu", p->err, p->errpos);
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

static void rx_emit(rx_gen *g, const rx_node *nodes, int i, int rev);

/* a|b|c: SPLIT to each alternative in turn; every alternative but the last jumps to the end. The
 * pending jumps are chained through their x fields until the end is known. `rev`: each alternative
 * reversed. */
static void rx_emit_alt(rx_gen *g, const rx_node *nodes, const rx_node *n, int rev)
{
	uint32_t pending = UINT32_MAX;
	for (int c = n->child; c >= 0; c = nodes[c].next) {
		if (nodes[c].next < 0) {
			rx_emit(g, nodes, c, rev);
			break;
		}
		size_t split = rx_put(g, OP_SPLIT, 0);
		g->prog[split].x = (uint32_t)split + 1;
		rx_emit(g, nodes, c, rev);
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
static void rx_emit_repeat(rx_gen *g, const rx_node *nodes, const rx_node *n, int rev)
{
	for (int k = 0; k < n->min; k++)
		rx_emit(g, nodes, n->child, rev);
	if (n->max < 0) {
		size_t split = rx_put(g, OP_SPLIT, 0);
		g->prog[split].x = (uint32_t)split + 1;
		rx_emit(g, nodes, n->child, rev);
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
		rx_emit(g, nodes, n->child, rev);
	}
	while (pending != UINT32_MAX) {
		uint32_t prev = g->prog[pending].y;
		g->prog[pending].y = (uint32_t)g->n;
		pending = prev;
	}
}

/* Node i as states; `rev`: for a run backwards over the subject, every sequence in reverse order (a
 * position test stays where it is between its neighbours). A lookaround is one state here; its body is
 * a program of its own (rx_build). */
static void rx_emit(rx_gen *g, const rx_node *nodes, int i, int rev)
{
	const rx_node *n = &nodes[i];
	switch (n->kind) {
	case N_SEQ:
		for (int c = rev ? n->last : n->child; c >= 0; c = rev ? nodes[c].prev : nodes[c].next)
			rx_emit(g, nodes, c, rev);
		break;
	case N_ALT:
		rx_emit_alt(g, nodes, n, rev);
		break;
	case N_REPEAT:
		rx_emit_repeat(g, nodes, n, rev);
		break;
	case N_LOOK:
		g->prog[rx_put(g, OP_LOOK, n->arg)].x = (uint32_t)n->min;
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

void trx_free(trx_regex *re)
{
	if (!re)
		return;
	for (size_t i = 0; i < re->nclasses; i++)
		free(re->classes[i].r);
	free(re->classes);
	free(re->looks);
	free(re->prog);
	free(re->source);
	free(re);
}

/* Turns a parsed tree into a program: the pattern's from state 0, then each lookaround's body (a
 * lookahead's reversed); takes the parser's classes. */
static int rx_build(trx_regex **out, rx_parser *p, int root, const char *source)
{
	size_t size = rx_size(p->nodes, root) + 1;
	for (size_t k = 0; k < p->nlooks; k++)
		size = rx_cap(size + rx_size(p->nodes, p->nodes[p->looks[k]].child) + 1);
	if (size > RX_MAX_INSTS)
		return rx_fail_at(p, 0, "pattern too large once repetitions are expanded");
	trx_regex *re = calloc(1, sizeof *re);
	if (!re || !(re->prog = malloc(size * sizeof *re->prog)) || !(re->source = strdup(source)) ||
	    (p->nlooks && !(re->looks = malloc(p->nlooks * sizeof *re->looks)))) {
		trx_free(re);
		return rx_oom(p);
	}
	rx_gen g = {re->prog, 0};
	rx_emit(&g, p->nodes, root, 0);
	rx_put(&g, OP_MATCH, 0);
	for (size_t k = 0; k < p->nlooks; k++) {
		const rx_node *look = &p->nodes[p->looks[k]];
		re->looks[k] = (rx_look){(uint32_t)g.n, !look->max};
		rx_emit(&g, p->nodes, look->child, !look->max);
		rx_put(&g, OP_MATCH, 0);
	}
	re->nlooks = p->nlooks;
	re->ninst = g.n;
	re->classes = p->classes;
	re->nclasses = p->nclasses;
	p->classes = NULL;
	p->nclasses = 0;
	*out = re;
	return 0;
}

int trx_compile(trx_regex **out, const char *source, char *err, size_t errlen)
{
	rx_parser p = {.src = source, .len = strlen(source)};
	*out = NULL;
	int root = rx_parse(&p);
	if (root >= 0)
		rx_build(out, &p, root, source);
	rx_parser_free(&p);
	if (p.oom)
		return tasker_set_oom();
	if (p.err) {
		rx_message(&p, err, errlen);
		return TASKER_EINVAL;
	}
	return TASKER_OK;
}

int trx_check_syntax(const char *source, char *err, size_t errlen)
{
	rx_parser p = {.src = source, .len = strlen(source), .syntax_only = 1};
	int ok = rx_parse(&p) >= 0;
	if (!ok)
		rx_message(&p, err, errlen);
	rx_parser_free(&p);
	return ok;
}

const char *trx_source(const trx_regex *re)
{
	return re->source;
}

/* ------------------------------------------------------------------ matching */

typedef struct {
	const trx_regex *re;
	const uint32_t *text;
	size_t n;
	uint32_t *stack;
	size_t *mark;     /* mark[pc] == gen: state pc is already in the list being built */
	size_t gen;
	int matched;      /* the list being built reached OP_MATCH */
	uint64_t *looks;  /* bit k of looks[i]: lookaround k's body matches at position i */
	uint32_t *clist, *nlist;
	uint64_t steps;   /* automaton states visited: what a search costs, independent of the clock */
} rx_run_state;

static int rx_is_word(const rx_run_state *st, size_t i, int before)
{
	if (before ? i == 0 : i >= st->n)
		return 0;
	uint32_t c = st->text[before ? i - 1 : i];
	return c < 128 && (tascii_alnum((int)c) || c == '_');
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
		st->steps++;
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
		case OP_LOOK:
			hit = (int)(st->looks[i] >> in->arg & 1) != (int)in->x;
			break;
		default:
			list[(*count)++] = pc;
			continue;
		}
		if (hit)
			st->stack[top++] = pc + 1;
	}
}

static int rx_consumes(const trx_regex *re, const rx_inst *in, uint32_t c)
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

/* Runs the program starting at `start` over the subject, forwards from position 0 or `backward` from
 * position n, starting a thread at every position: a search, not a full match. With `look` (a
 * lookaround's index), bit `look` of st->looks[i] says whether a thread reached the end at position
 * i, and the run goes on to the last position; with -1, it stops at the first match. clist and nlist
 * hold the consuming states alive before and after each code point. */
static void rx_pass(rx_run_state *st, uint32_t start, int backward, int look)
{
	uint32_t *clist = st->clist, *nlist = st->nlist;
	size_t nc = 0, nn, i = backward ? st->n : 0;
	st->gen++;
	st->matched = 0;
	for (;;) {
		rx_add(st, clist, &nc, start, i);
		if (look >= 0)
			st->looks[i] |= (uint64_t)st->matched << look;
		else if (st->matched)
			return;
		if (i == (backward ? 0 : st->n))
			return;
		size_t next = backward ? i - 1 : i + 1;
		uint32_t c = st->text[backward ? i - 1 : i];
		st->gen++;
		st->matched = 0;
		nn = 0;
		for (size_t k = 0; k < nc; k++)
			if (rx_consumes(st->re, &st->re->prog[clist[k]], c))
				rx_add(st, nlist, &nn, clist[k] + 1, next);
		uint32_t *swap = clist;
		clist = nlist;
		nlist = swap;
		nc = nn;
		i = next;
	}
}

static int rx_run(const trx_regex *re, const uint32_t *text, size_t n, int *matched, uint64_t *steps)
{
	rx_run_state st = {re, text, n, malloc((2 * re->ninst + 1) * sizeof(uint32_t)),
	                   calloc(re->ninst, sizeof(size_t)), 1, 0, NULL, NULL, NULL, 0};
	st.clist = malloc(re->ninst * sizeof *st.clist);
	st.nlist = malloc(re->ninst * sizeof *st.nlist);
	if (re->nlooks)
		st.looks = calloc(n + 1, sizeof *st.looks);
	int rc = st.stack && st.mark && st.clist && st.nlist && (st.looks || !re->nlooks) ? TASKER_OK
	                                                                                 : tasker_set_oom();
	for (size_t k = 0; rc == TASKER_OK && k < re->nlooks; k++)
		rx_pass(&st, re->looks[k].start, re->looks[k].backward, (int)k);
	if (rc == TASKER_OK)
		rx_pass(&st, 0, 0, -1);
	*matched = rc == TASKER_OK && st.matched;
	if (steps)
		*steps = st.steps;
	free(st.stack);
	free(st.mark);
	free(st.clist);
	free(st.nlist);
	free(st.looks);
	return rc;
}

int trx_search(const trx_regex *re, const char *s, int *matched) { return trx_search_steps(re, s, matched, NULL); }

int trx_search_steps(const trx_regex *re, const char *s, int *matched, uint64_t *steps)
{
	size_t len = strlen(s), n = 0, adv;
	uint32_t *text = malloc((len + 1) * sizeof *text);
	*matched = 0;
	if (!text)
		return tasker_set_oom();
	for (size_t i = 0; i < len; i += adv) {
		uint32_t c = tutf8_decode((const unsigned char *)s + i, len - i, &adv);
		text[n++] = c == TUTF8_INVALID ? 0xFFFD : c;
	}
	int rc = rx_run(re, text, n, matched, steps);
	free(text);
	return rc;
}
