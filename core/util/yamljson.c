/*
 * yamljson.c — YAML and JSON text → cJSON trees: the one YAML reader of templates and configuration. Owns
 * scalar typing (Ruby's rules), anchors and merge keys, duplicate keys and the node → position side table;
 * must not interpret what a document means (template.c and config.c do).
 */
#include "yamljson.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "error.h"
#include "utf8.h"
#include "util.h"

/* Deepest nesting accepted, counting alias copies; keeps every recursive cJSON walk shallow. */
#define TYJ_MAX_DEPTH 256
/* Most nodes a document may expand to, so aliases of aliases cannot exhaust memory. */
#define TYJ_MAX_NODES 1000000

/* ------------------------------------------------------------------ positions */

typedef struct pos_entry {
	const cJSON *node;
	tyj_pos pos;
} pos_entry;

/* A key written twice in one mapping: the later value replaced the earlier one. */
typedef struct dup_entry {
	char *key;
	tyj_pos kept, replaced;
} dup_entry;

struct tyj_positions {
	pos_entry *v;
	size_t n, cap;
	dup_entry *dups;
	size_t ndups, capdups;
	cJSON *graveyard; /* replaced values and merge sources, kept so that no position outlives its node */
};

static int positions_add(tyj_positions *p, const cJSON *node, tyj_pos pos)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		pos_entry *v = realloc(p->v, cap * sizeof *v);
		if (!v)
			return tasker_set_oom();
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n].node = node;
	p->v[p->n].pos = pos;
	p->n++;
	return TASKER_OK;
}

static int cmp_entry(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const pos_entry *)a)->node, y = (uintptr_t)((const pos_entry *)b)->node;
	return x < y ? -1 : x > y;
}

tyj_pos tyj_position(const tyj_positions *positions, const cJSON *node)
{
	tyj_pos none = {0, 0};
	if (!positions || !node || positions->n == 0)
		return none;
	pos_entry key = {node, none};
	const pos_entry *e = bsearch(&key, positions->v, positions->n, sizeof key, cmp_entry);
	return e ? e->pos : none;
}

void tyj_positions_free(tyj_positions *positions)
{
	if (!positions)
		return;
	for (size_t i = 0; i < positions->ndups; i++)
		free(positions->dups[i].key);
	free(positions->dups);
	free(positions->v);
	cJSON_Delete(positions->graveyard);
	free(positions);
}

size_t tyj_duplicate_count(const tyj_positions *positions)
{
	return positions ? positions->ndups : 0;
}

const char *tyj_duplicate(const tyj_positions *positions, size_t index, tyj_pos *kept, tyj_pos *replaced)
{
	if (!positions || index >= positions->ndups)
		return NULL;
	*kept = positions->dups[index].kept;
	*replaced = positions->dups[index].replaced;
	return positions->dups[index].key;
}

static int note_duplicate(tyj_positions *p, const char *key, tyj_pos kept, tyj_pos replaced)
{
	dup_entry *v = tarray_grow(p->dups, &p->capdups, p->ndups + 1, sizeof *v);
	if (!v)
		return tasker_set_oom();
	p->dups = v;
	if (!(v[p->ndups].key = strdup(key)))
		return tasker_set_oom();
	v[p->ndups].kept = kept;
	v[p->ndups].replaced = replaced;
	p->ndups++;
	return TASKER_OK;
}

/* ------------------------------------------------------------------ key set */

/* Open-addressing set of (object, key) pairs: finds a duplicate key in O(1) however large the mapping. */
typedef struct key_entry {
	const cJSON *parent;
	const char *key; /* points into the tree (the member's ->string); NULL = empty slot */
	tyj_pos pos;
} key_entry;

typedef struct key_set {
	key_entry *slots;
	size_t cap, n;
} key_set;

static size_t key_hash(const cJSON *parent, const char *key)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)parent;
	for (const unsigned char *s = (const unsigned char *)key; *s; s++)
		h = (h ^ *s) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static key_entry *keyset_find(const key_set *ks, const cJSON *parent, const char *key)
{
	if (!ks->cap)
		return NULL;
	for (size_t i = key_hash(parent, key) & (ks->cap - 1);; i = (i + 1) & (ks->cap - 1)) {
		key_entry *e = &ks->slots[i];
		if (!e->key)
			return NULL;
		if (e->parent == parent && strcmp(e->key, key) == 0)
			return e;
	}
}

static void keyset_place(key_set *ks, key_entry e)
{
	size_t i = key_hash(e.parent, e.key) & (ks->cap - 1);
	while (ks->slots[i].key)
		i = (i + 1) & (ks->cap - 1);
	ks->slots[i] = e;
	ks->n++;
}

static int keyset_insert(key_set *ks, const cJSON *parent, const char *key, tyj_pos pos)
{
	if ((ks->n + 1) * 2 > ks->cap) {
		key_set bigger = {calloc(ks->cap ? ks->cap * 2 : 64, sizeof(key_entry)), ks->cap ? ks->cap * 2 : 64, 0};
		if (!bigger.slots)
			return tasker_set_oom();
		for (size_t i = 0; i < ks->cap; i++)
			if (ks->slots[i].key)
				keyset_place(&bigger, ks->slots[i]);
		free(ks->slots);
		*ks = bigger;
	}
	keyset_place(ks, (key_entry){parent, key, pos});
	return TASKER_OK;
}

/* ------------------------------------------------------------------ text positions */

/* 1-based line and column (in characters) of byte `off`. */
static tyj_pos offset_pos(const char *text, size_t len, size_t off)
{
	tyj_pos p = {1, 1};
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			p.line++;
			p.column = 1;
		} else if (((unsigned char)text[i] & 0xC0) != 0x80) {
			p.column++;
		}
	}
	return p;
}

static tyj_pos mark_pos(yaml_mark_t m)
{
	tyj_pos p = {(int)m.line + 1, (int)m.column + 1};
	return p;
}

/* ------------------------------------------------------------------ YAML builder */

typedef struct frame {
	cJSON *node;          /* the array or object being filled */
	int is_map;
	tyj_pos pos;          /* start of the collection */
	char *anchor;         /* registered when the collection ends */
	size_t nodes_before;  /* builder node count before this collection, to size its anchor */
	char *key;            /* mapping: key awaiting its value; NULL when a key comes next */
	tyj_pos key_pos;
	int key_is_merge;     /* the pending key is a plain `<<` */
	cJSON *merges;        /* mapping: values of `<<` keys, applied when the mapping ends */
	int height;           /* levels below this collection so far (children's heights, maximum) */
} frame;

typedef struct anchor {
	char *name;
	const cJSON *node;
	size_t count;  /* nodes in the anchored subtree */
	int height;    /* levels in the anchored subtree (a scalar is 1) */
} anchor;

typedef struct builder {
	const char *source;
	const char *text;
	size_t len;
	frame stack[TYJ_MAX_DEPTH];
	size_t depth;
	cJSON *root;
	anchor *anchors;
	size_t nanchors, anchors_cap;
	cJSON *graveyard; /* merge sources and anchored keys: kept alive because anchors may point into them */
	tyj_positions *positions;
	key_set keys;
	size_t nodes;
} builder;

static int yaml_fail(builder *b, tyj_pos at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int yaml_fail(builder *b, tyj_pos at, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return tasker_set_error(TASKER_EINVAL, "%s: YAML error at line %d, column %d: %s", b->source, at.line,
	                        at.column, msg);
}

static int parser_fail(builder *b, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return tasker_set_oom();
	if (p->error == YAML_READER_ERROR) {
		tyj_pos at = offset_pos(b->text, b->len, p->problem_offset);
		return tasker_set_error(TASKER_EINVAL, "%s: YAML syntax error at line %d, column %d: %s", b->source,
		                        at.line, at.column, p->problem ? p->problem : "unreadable input");
	}
	tyj_pos at = mark_pos(p->problem_mark);
	const char *problem = p->problem ? p->problem : "invalid YAML";
	if (p->context) {
		tyj_pos ctx = mark_pos(p->context_mark);
		return tasker_set_error(TASKER_EINVAL,
		                        "%s: YAML syntax error at line %d, column %d: %s (%s at line %d, column %d)",
		                        b->source, at.line, at.column, problem, p->context, ctx.line, ctx.column);
	}
	return tasker_set_error(TASKER_EINVAL, "%s: YAML syntax error at line %d, column %d: %s", b->source,
	                        at.line, at.column, problem);
}

static frame *top(builder *b) { return b->depth ? &b->stack[b->depth - 1] : NULL; }

static size_t tree_count(const cJSON *node)
{
	size_t n = 1;
	const cJSON *c;
	cJSON_ArrayForEach(c, node)
		n += tree_count(c);
	return n;
}

static const anchor *find_anchor(const builder *b, const char *name)
{
	/* A later anchor with the same name replaces the earlier one, as YAML says. */
	for (size_t i = b->nanchors; i-- > 0;)
		if (strcmp(b->anchors[i].name, name) == 0)
			return &b->anchors[i];
	return NULL;
}

/* Takes ownership of `name`. */
static int add_anchor(builder *b, char *name, const cJSON *node, size_t count, int height)
{
	if (b->nanchors == b->anchors_cap) {
		size_t cap = b->anchors_cap ? b->anchors_cap * 2 : 8;
		anchor *v = realloc(b->anchors, cap * sizeof *v);
		if (!v) {
			free(name);
			return tasker_set_oom();
		}
		b->anchors = v;
		b->anchors_cap = cap;
	}
	b->anchors[b->nanchors++] = (anchor){name, node, count, height};
	return TASKER_OK;
}

static int count_nodes(builder *b, size_t n, tyj_pos at)
{
	if (n > TYJ_MAX_NODES - b->nodes)
		return yaml_fail(b, at, "document expands to more than %d nodes (aliases nested too deeply?)",
		                 TYJ_MAX_NODES);
	b->nodes += n;
	return TASKER_OK;
}

/* A key written a second time in one mapping: as in Ruby, the later value wins and keeps the earlier
 * one's place. The earlier value moves to the graveyard (anchors and positions may point into it); the
 * duplicate is noted for the caller to warn about. Takes ownership of `key` and `node`. */
static int replace_member(builder *b, cJSON *map, key_entry *first, char *key, tyj_pos key_pos, cJSON *node)
{
	cJSON *old = map->child;
	while (old && strcmp(old->string, key) != 0)
		old = old->next;
	/* The new value takes the old one's place in the list (cJSON_InsertItemInArray refuses a position
	 * after a detached item in some cJSON builds, which lost the value). map->child->prev is the last
	 * member, as cJSON keeps it. The old value stays alive in the graveyard: an alias may copy it. */
	if (!(node->type & cJSON_StringIsConst))
		free(node->string); /* a copy made for an alias carries the anchored member's key */
	node->string = key;
	node->next = old->next;
	node->prev = old->prev;
	if (old == map->child)
		map->child = node;
	else
		old->prev->next = node;
	if (old->next)
		old->next->prev = node;
	else
		map->child->prev = node;
	old->next = old->prev = NULL;
	cJSON_AddItemToArray(b->graveyard, old);
	tyj_pos replaced = first->pos;
	first->key = node->string;
	first->pos = key_pos;
	int rc = note_duplicate(b->positions, key, key_pos, replaced);
	return rc ? rc : positions_add(b->positions, node, key_pos);
}

/* Places a finished node of `height` levels in its parent (or as the root). Always takes ownership of
 * `node`. Merge sources count at their own height: a bound on the members they may contribute. */
static int attach(builder *b, cJSON *node, tyj_pos own_pos, int height)
{
	frame *f = top(b);
	if (f && f->height < height)
		f->height = height;
	if (!f) {
		b->root = node;
		return positions_add(b->positions, node, own_pos);
	}
	if (!f->is_map) {
		cJSON_AddItemToArray(f->node, node);
		return positions_add(b->positions, node, own_pos);
	}
	char *key = f->key;
	tyj_pos key_pos = f->key_pos;
	int is_merge = f->key_is_merge;
	f->key = NULL;
	f->key_is_merge = 0;
	if (is_merge) {
		free(key);
		if (!f->merges && !(f->merges = cJSON_CreateArray())) {
			cJSON_Delete(node);
			return tasker_set_oom();
		}
		cJSON_AddItemToArray(f->merges, node);
		return positions_add(b->positions, node, key_pos);
	}
	key_entry *first = keyset_find(&b->keys, f->node, key);
	if (first)
		return replace_member(b, f->node, first, key, key_pos, node);
	int ok = cJSON_AddItemToObject(f->node, key, node);
	free(key);
	if (!ok) {
		cJSON_Delete(node);
		return tasker_set_oom();
	}
	int rc = keyset_insert(&b->keys, f->node, node->string, key_pos);
	return rc ? rc : positions_add(b->positions, node, key_pos);
}

/* ------------------------------------------------------------------ plain scalars, as Ruby reads them
 *
 * A Rails application's YAML is read by Ruby's Psych (YAML 1.1), so this is what a plain (unquoted,
 * untagged) scalar means here too, rule for rule (Psych 4's ScalarScanner#tokenize):
 *   - a short word: ~ and null → null; yes/true/on → true; no/false/off → false (any case);
 *   - an integer: decimal, 0x hex, 0b binary, 0-prefixed octal (017 is 15), with _ or , between
 *     digits ignored (1_000 and 1,000 are 1000); base 60 (1:30:15 is 5415, and 1:30 is 5400, as Psych
 *     computes it); every digit kept, as Ruby's Integer keeps them (0x10000000000000001 prints as
 *     18446744073709551617), but no more than 1024 digits in base 2, 8 or 16;
 *   - a float: digits with a "." (1.5, .5, 5.), an exponent only with a sign (1.0e+3; 1e3 and 1.0e3 are
 *     strings), base 60 with a fraction; .inf and .nan are refused: JSON cannot hold them;
 *   - everything else is a string, dates and times (2024-01-01) and symbols (:name) included, as written.
 */

typedef enum { K_NULL, K_TRUE, K_FALSE, K_NUMBER, K_STR, K_NONFINITE, K_NOMEM } scalar_kind;

/* Psych's "looks like a word" test: an optional first character that is not a digit, ".", ":" or "-",
 * then a letter, "_", white space or one of !@#$%^&*(){}<>|/\~;= (characters beyond ASCII count as
 * letters: they can only end up as strings). */
static int is_word_char(unsigned char c)
{
	return c >= 0x80 || tascii_alpha(c) || (c && strchr("_ \t\r\n\f\v!@#$%^&*(){}<>|/\\~;=", c));
}

static int looks_like_word(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t first = 1;
	if (!u[0])
		return 0;
	if (is_word_char(u[0]))
		return 1;
	if (tascii_digit(u[0]) || strchr(".:-", u[0]))
		return 0;
	if (u[0] >= 0x80)
		tutf8_decode(u, strlen(s), &first);
	return is_word_char(u[first]);
}

static int equals_any_case(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcasecmp(s, *words) == 0)
			return 1;
	return 0;
}

static scalar_kind resolve_word(const char *s)
{
	static const char *const NULLS[] = {"null", NULL}, *const TRUES[] = {"yes", "true", "on", NULL},
	                         *const FALSES[] = {"no", "false", "off", NULL};
	if (tutf8_count(s) > 5)
		return K_STR;
	if (strcmp(s, "~") == 0 || equals_any_case(s, NULLS))
		return K_NULL;
	if (equals_any_case(s, TRUES))
		return K_TRUE;
	return equals_any_case(s, FALSES) ? K_FALSE : K_STR;
}

/* [-+]? [0-9][0-9_]* ( ":" [0-5]?[0-9] ){1,2} and, when `fraction`, "." [0-9_]* after it. */
static int is_base60(const char *s, int fraction)
{
	if (*s == '+' || *s == '-')
		s++;
	if (!tascii_digit(*s))
		return 0;
	s += strspn(s, "0123456789_");
	int groups = 0;
	while (*s == ':' && groups < 2) {
		s++;
		if (tascii_digit(s[0]) && tascii_digit(s[1])) {
			if (s[0] > '5')
				return 0;
			s += 2;
		} else if (tascii_digit(s[0])) {
			s++;
		} else {
			return 0;
		}
		groups++;
	}
	if (!groups)
		return 0;
	if (!fraction)
		return *s == '\0';
	return *s == '.' && strspn(s + 1, "0123456789_") == strlen(s + 1);
}

/* Ruby's String#to_f / #to_i of one base-60 part: digits, "_" between them, an optional fraction. */
static double part_value(const char *s, size_t n)
{
	char buf[128];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < sizeof buf; i++)
		if (s[i] != '_')
			buf[o++] = s[i];
	buf[o] = '\0';
	return strtod(buf, NULL);
}

/* Σ part × 60^|index − 2|: Psych's formula (so "1:30" is 5400, not 90). */
static double base60_value(const char *s)
{
	double v = 0;
	int e = 0;
	for (const char *p = s;; e++) {
		size_t n = strcspn(p, ":");
		v += part_value(p, n) * pow(60, abs(e - 2));
		if (!p[n])
			return v;
		p += n + 1;
	}
}

/* [-+]? ([0-9][0-9_,]*)? "." [0-9]* ([eE][-+][0-9]+)?, but not a lone "." with its sign. */
static int is_psych_float(const char *s)
{
	const char *p = s + (*s == '+' || *s == '-');
	if (tascii_digit(*p))
		p += strspn(p, "0123456789_,");
	if (*p != '.')
		return 0;
	const char *dot = p++;
	if (dot == s + (*s == '+' || *s == '-') && !tascii_digit(*p))
		return 0; /* "." or ".e+1": no digit at all (Psych's Float() refuses the latter) */
	p += strspn(p, "0123456789");
	if (*p == 'e' || *p == 'E') {
		if (p[1] != '+' && p[1] != '-')
			return 0;
		p += 2;
		if (!tascii_digit(*p))
			return 0;
		p += strspn(p, "0123456789");
	}
	return *p == '\0';
}

/* s without "_" and ",", and without a "." that ends the number or precedes its exponent (malloc'd;
 * NULL when out of memory). */
static char *number_text(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (const char *p = s; *p; p++) {
		if (*p == '_' || *p == ',')
			continue;
		if (*p == '.' && (p[1] == '\0' || p[1] == 'e' || p[1] == 'E'))
			continue;
		out[o++] = *p;
	}
	out[o] = '\0';
	return out;
}

/* Digits beyond this many in base 2, 8 or 16 are refused: converting them to decimal takes time growing
 * with the square of their count (1024 hex digits is already an integer of over 1200 decimal digits). */
#define TYJ_MAX_RADIX_DIGITS 1024

/* Digits in base 2, 8 or 16 (no "_" or ",") as decimal text with `sign` ("" or "-") in front, exactly,
 * however many (malloc'd; NULL when out of memory). */
static char *decimal_of(const char *digits, int base, const char *sign)
{
	/* n digits in base 16 or less make under 1.25n decimal digits (log10 16 = 1.204...) */
	size_t n = strlen(digits), cap = n + n / 4 + 2, used = 1;
	unsigned char *dec = calloc(cap, 1); /* little-endian decimal digits */
	char *out = dec ? malloc(cap + 2) : NULL;
	if (!out) {
		free(dec);
		return NULL;
	}
	for (const char *p = digits; *p; p++) {
		unsigned carry = (unsigned)tascii_hex(*p);
		for (size_t i = 0; i < used; i++) {
			unsigned v = dec[i] * (unsigned)base + carry;
			dec[i] = (unsigned char)(v % 10);
			carry = v / 10;
		}
		while (carry && used < cap) {
			dec[used++] = (unsigned char)(carry % 10);
			carry /= 10;
		}
	}
	while (used > 1 && !dec[used - 1])
		used--;
	size_t o = 0;
	if (!(used == 1 && !dec[0]))
		for (; *sign; sign++)
			out[o++] = *sign;
	while (used)
		out[o++] = (char)('0' + dec[--used]);
	out[o] = '\0';
	free(dec);
	return out;
}

/* Psych's integer forms: 0b binary, 0 octal, decimal (no leading zero), 0x hex; "_" and "," allowed
 * where Psych allows them. 0 when `s` is not one. Else 1 with *text the integer (Ruby's Integer() of
 * the text without them) as decimal digits with "-" when negative (malloc'd, NULL when out of memory),
 * every digit kept: Psych makes any size of Integer. */
static int is_psych_integer(const char *s, char **text)
{
	const char *p = s + (*s == '+' || *s == '-');
	const char *sign = *s == '-' ? "-" : "";
	int base = 10;
	const char *set = "0123456789";
	if (p[0] == '0' && p[1] == 'b')
		base = 2, set = "01_,", p += 2;
	else if (p[0] == '0' && p[1] == 'x')
		base = 16, set = "0123456789abcdefABCDEF_,", p += 2;
	else if (p[0] == '0' && p[1])
		base = 8, set = "01234567_,", p += 1;
	if (base == 10) {
		if (!tascii_digit(*p) || (p[0] == '0' && p[1]))
			return 0;
		for (const char *q = p + 1; *q; q++)
			if (!tascii_digit(*q) && !((*q == '_' || *q == ',') && tascii_digit(q[1])))
				return 0;
	} else if (!*p || strspn(p, set) != strlen(p)) {
		return 0;
	}
	char *digits = number_text(p);
	*text = NULL;
	if (!digits)
		return 1;
	if (!digits[0] && base != 8) {
		free(digits);
		return 0; /* "0x_": Ruby's Integer() refuses it, so it stays a string */
	}
	if (base == 10) {
		*text = malloc(strlen(digits) + 2);
		if (*text)
			snprintf(*text, strlen(digits) + 2, "%s%s", strcmp(digits, "0") ? sign : "", digits);
	} else if (strlen(digits) <= TYJ_MAX_RADIX_DIGITS) {
		*text = decimal_of(digits, base, sign);
	} else {
		*text = strdup("inf"); /* refused below, as a number beyond what the reader holds */
	}
	free(digits);
	return 1;
}

/* The JSON type (and number) of a plain scalar, by the rules above. An integer also gets *itext, its
 * decimal digits (malloc'd), so that it keeps them all. */
static scalar_kind resolve_plain(const char *s, double *number, char **itext)
{
	*itext = NULL;
	if (!*s)
		return K_NULL;
	if (looks_like_word(s) || strchr(s, '\n'))
		return resolve_word(s);
	if (strcasecmp(s, ".inf") == 0 || strcasecmp(s, "+.inf") == 0 || strcasecmp(s, "-.inf") == 0 ||
	    strcasecmp(s, ".nan") == 0)
		return K_NONFINITE;
	if (s[0] == ':' && s[1])
		return K_STR;
	if (is_base60(s, 0) || is_base60(s, 1)) {
		*number = base60_value(s);
		return isfinite(*number) ? K_NUMBER : K_NONFINITE;
	}
	if (is_psych_float(s)) {
		char *text = number_text(s);
		if (!text)
			return K_NOMEM;
		*number = strtod(text, NULL);
		free(text);
		return isfinite(*number) ? K_NUMBER : K_NONFINITE;
	}
	if (is_psych_integer(s, itext)) {
		if (!*itext)
			return K_NOMEM;
		if (strcmp(*itext, "inf") == 0) {
			free(*itext);
			*itext = NULL;
			return K_NONFINITE;
		}
		*number = strtod(*itext, NULL); /* beyond a double's range: HUGE_VAL, the text stands */
		return K_NUMBER;
	}
	return K_STR;
}

#define CORE_TAG(t) "tag:yaml.org,2002:" t

/* Decides the JSON type of a scalar event; refuses tags the template format has no use for. An integer
 * also gets *itext (see resolve_plain), which the caller frees. */
static int scalar_kind_of(builder *b, scalar_kind *out, double *number, char **itext, const yaml_event_t *ev,
                          tyj_pos at)
{
	const char *v = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	*out = K_STR;
	*itext = NULL;
	if (!tag && !plain)
		return TASKER_OK;
	if (tag && (strcmp(tag, "!") == 0 || strcmp(tag, CORE_TAG("str")) == 0))
		return TASKER_OK;
	scalar_kind k = resolve_plain(v, number, itext);
	if (k == K_NOMEM)
		return tasker_set_oom();
	if (k == K_NONFINITE)
		return yaml_fail(b, at, "\"%.100s\" is a YAML number that JSON cannot hold (infinite, not a number "
		                        "or out of range); quote it to keep the text", v);
	int fits;
	if (!tag) {
		*out = k;
		return TASKER_OK;
	}
	if (strcmp(tag, CORE_TAG("int")) == 0) {
		fits = k == K_NUMBER && floor(*number) == *number && !strchr(v, '.');
	} else if (strcmp(tag, CORE_TAG("float")) == 0) {
		fits = k == K_NUMBER && isfinite(*number);
		free(*itext); /* Psych makes a Float of it: a double */
		*itext = NULL;
	} else if (strcmp(tag, CORE_TAG("bool")) == 0) {
		fits = k == K_TRUE || k == K_FALSE;
	} else if (strcmp(tag, CORE_TAG("null")) == 0) {
		fits = k == K_NULL;
	} else {
		free(*itext);
		*itext = NULL;
		return yaml_fail(b, at, "unsupported tag \"%.100s\"", tag);
	}
	if (!fits) {
		free(*itext);
		*itext = NULL;
		return yaml_fail(b, at, "\"%.100s\" is not a valid %s", v, strrchr(tag, ':') + 1);
	}
	*out = k;
	return TASKER_OK;
}

static int make_scalar(builder *b, cJSON **out, const yaml_event_t *ev, tyj_pos at)
{
	double number = 0;
	char *itext = NULL;
	scalar_kind k = K_STR;
	int rc = scalar_kind_of(b, &k, &number, &itext, ev, at);
	if (rc)
		return rc;
	switch (k) {
	case K_NULL: *out = cJSON_CreateNull(); break;
	case K_TRUE: *out = cJSON_CreateTrue(); break;
	case K_FALSE: *out = cJSON_CreateFalse(); break;
	case K_NUMBER: *out = cJSON_CreateNumber(number); break;
	default: *out = cJSON_CreateString((const char *)ev->data.scalar.value); break;
	}
	/* an integer keeps its digits (a double holds every integer only up to 2^53) */
	rc = !*out ? tasker_set_oom() : itext ? tjson_set_number_text(*out, itext) : TASKER_OK;
	free(itext);
	return rc;
}

/* The scalar (or aliased string) `text` arrives where a mapping key is expected. */
static int take_key(frame *f, const char *text, int plain, tyj_pos at)
{
	if (plain && strcmp(text, "<<") == 0)
		f->key_is_merge = 1;
	if (!(f->key = strdup(text)))
		return tasker_set_oom();
	f->key_pos = at;
	return TASKER_OK;
}

static int on_scalar(builder *b, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	tyj_pos at = mark_pos(ev->start_mark);
	frame *f = top(b);
	if (memchr(v, '\0', ev->data.scalar.length))
		return yaml_fail(b, at, "NUL character in a scalar");
	int rc = count_nodes(b, 1, at);
	if (rc)
		return rc;
	cJSON *node = NULL;
	if (f && f->is_map && !f->key) {
		rc = take_key(f, v, ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, at);
		if (rc || !ev->data.scalar.anchor)
			return rc;
		/* An anchored key can be aliased later as a value: keep a string copy alive for it. */
		if (!(node = cJSON_CreateString(v)))
			return tasker_set_oom();
		cJSON_AddItemToArray(b->graveyard, node);
	} else {
		if ((rc = make_scalar(b, &node, ev, at)))
			return rc;
		if ((rc = attach(b, node, at, 1)))
			return rc;
	}
	if (ev->data.scalar.anchor) {
		char *name = strdup((const char *)ev->data.scalar.anchor);
		if (!name)
			return tasker_set_oom();
		return add_anchor(b, name, node, 1, 1);
	}
	return TASKER_OK;
}

static int on_alias(builder *b, const yaml_event_t *ev)
{
	tyj_pos at = mark_pos(ev->start_mark);
	const char *name = (const char *)ev->data.alias.anchor;
	const anchor *a = find_anchor(b, name);
	if (!a)
		return yaml_fail(b, at, "unknown anchor \"%.100s\" (an alias must follow its complete anchor)", name);
	frame *f = top(b);
	if (f && f->is_map && !f->key) {
		if (!cJSON_IsString(a->node))
			return yaml_fail(b, at, "alias \"*%.100s\" used as a mapping key must refer to a string", name);
		return take_key(f, a->node->valuestring, 0, at);
	}
	if ((int)b->depth + a->height > TYJ_MAX_DEPTH)
		return yaml_fail(b, at, "alias \"*%.100s\" nests deeper than %d levels", name, TYJ_MAX_DEPTH);
	int rc = count_nodes(b, a->count, at);
	if (rc)
		return rc;
	cJSON *copy = cJSON_Duplicate(a->node, 1);
	if (!copy)
		return tasker_set_oom();
	return attach(b, copy, at, a->height);
}

static int on_start(builder *b, const yaml_event_t *ev, int is_map)
{
	tyj_pos at = mark_pos(ev->start_mark);
	const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
	const char *anchor_name =
		(const char *)(is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
	const char *kind = is_map ? "mapping" : "sequence";
	if (tag && strcmp(tag, "!") != 0 && strcmp(tag, is_map ? CORE_TAG("map") : CORE_TAG("seq")) != 0)
		return yaml_fail(b, at, "unsupported tag \"%.100s\" on a %s", tag, kind);
	frame *f = top(b);
	if (f && f->is_map && !f->key)
		return yaml_fail(b, at, "a %s cannot be a mapping key", kind);
	if (b->depth == TYJ_MAX_DEPTH)
		return yaml_fail(b, at, "nesting deeper than %d levels", TYJ_MAX_DEPTH);
	int rc = count_nodes(b, 1, at);
	if (rc)
		return rc;
	frame nf = {0};
	nf.node = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
	nf.is_map = is_map;
	nf.pos = at;
	nf.nodes_before = b->nodes - 1;
	if (!nf.node || (anchor_name && !(nf.anchor = strdup(anchor_name)))) {
		cJSON_Delete(nf.node);
		return tasker_set_oom();
	}
	b->stack[b->depth++] = nf;
	return TASKER_OK;
}

/* Copies the members of `src` that `dst` lacks: explicit keys, and earlier merge sources, win. */
static int merge_one(builder *b, cJSON *dst, const cJSON *src, tyj_pos at)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, src)
	{
		if (keyset_find(&b->keys, dst, it->string))
			continue;
		int rc = count_nodes(b, tree_count(it), at);
		if (rc)
			return rc;
		cJSON *copy = cJSON_Duplicate(it, 1);
		if (!copy)
			return tasker_set_oom();
		if (!cJSON_AddItemToObject(dst, it->string, copy)) {
			cJSON_Delete(copy);
			return tasker_set_oom();
		}
		if ((rc = keyset_insert(&b->keys, dst, copy->string, at)))
			return rc;
	}
	return TASKER_OK;
}

static int apply_merges(builder *b, frame *f)
{
	cJSON *src;
	cJSON_ArrayForEach(src, f->merges)
	{
		tyj_pos at = f->pos;
		for (size_t i = b->positions->n; i-- > 0;)
			if (b->positions->v[i].node == src) {
				at = b->positions->v[i].pos;
				break;
			}
		int rc = TASKER_OK;
		if (cJSON_IsObject(src)) {
			rc = merge_one(b, f->node, src, at);
		} else if (cJSON_IsArray(src)) {
			const cJSON *m;
			cJSON_ArrayForEach(m, src)
			{
				if (!cJSON_IsObject(m))
					return yaml_fail(b, at, "a `<<` merge sequence may only hold mappings");
				if ((rc = merge_one(b, f->node, m, at)))
					break;
			}
		} else {
			return yaml_fail(b, at,
			                 "the value of a `<<` merge key must be a mapping or a sequence of mappings");
		}
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

static void frame_free(frame *f)
{
	cJSON_Delete(f->node);
	cJSON_Delete(f->merges);
	free(f->anchor);
	free(f->key);
}

static int on_end(builder *b)
{
	frame f = b->stack[--b->depth];
	int rc = f.merges ? apply_merges(b, &f) : TASKER_OK;
	if (f.merges) {
		cJSON_AddItemToArray(b->graveyard, f.merges);
		f.merges = NULL;
	}
	if (rc) {
		frame_free(&f);
		return rc;
	}
	cJSON *node = f.node;
	char *name = f.anchor;
	size_t count = b->nodes - f.nodes_before;
	int height = f.height + 1;
	if ((rc = attach(b, node, f.pos, height))) {
		free(name);
		return rc;
	}
	return name ? add_anchor(b, name, node, count, height) : TASKER_OK;
}

static int on_event(builder *b, const yaml_event_t *ev, int *ndocs)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*ndocs > 1)
			return yaml_fail(b, mark_pos(ev->start_mark), "expected one YAML document, found a second");
		return TASKER_OK;
	case YAML_SCALAR_EVENT: return on_scalar(b, ev);
	case YAML_ALIAS_EVENT: return on_alias(b, ev);
	case YAML_SEQUENCE_START_EVENT: return on_start(b, ev, 0);
	case YAML_MAPPING_START_EVENT: return on_start(b, ev, 1);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: return on_end(b);
	default: return TASKER_OK;
	}
}

static void builder_free(builder *b)
{
	while (b->depth)
		frame_free(&b->stack[--b->depth]);
	for (size_t i = 0; i < b->nanchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
	free(b->keys.slots);
	cJSON_Delete(b->graveyard);
}

int tyj_parse_yaml(cJSON **out, tyj_positions **out_positions, const char *text, size_t len,
                   const char *source_name)
{
	*out = NULL;
	if (out_positions)
		*out_positions = NULL;
	builder *b = calloc(1, sizeof *b);
	if (!b)
		return tasker_set_oom();
	b->source = source_name ? source_name : "<string>";
	b->text = text;
	b->len = len;
	b->positions = calloc(1, sizeof *b->positions);
	b->graveyard = cJSON_CreateArray();
	yaml_parser_t parser;
	int rc = TASKER_OK;
	if (!b->positions || !b->graveyard || !yaml_parser_initialize(&parser)) {
		tyj_positions_free(b->positions);
		builder_free(b);
		free(b);
		return tasker_set_oom();
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int ndocs = 0, done = 0;
	while (!rc && !done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = parser_fail(b, &parser);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = on_event(b, &ev, &ndocs);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	cJSON *root = b->root;
	tyj_positions *positions = b->positions;
	positions->graveyard = b->graveyard;
	b->graveyard = NULL;
	builder_free(b);
	free(b);
	if (!rc && !root && !(root = cJSON_CreateNull()))
		rc = tasker_set_oom();
	if (rc) {
		cJSON_Delete(root);
		tyj_positions_free(positions);
		return rc;
	}
	if (positions->n > 1)
		qsort(positions->v, positions->n, sizeof *positions->v, cmp_entry);
	*out = root;
	if (out_positions)
		*out_positions = positions;
	else
		tyj_positions_free(positions);
	return TASKER_OK;
}

/* ------------------------------------------------------------------ JSON */

static int json_fail_at(const char *source, const char *text, size_t len, size_t off, const char *what)
{
	tyj_pos at = offset_pos(text, len, off);
	if (off >= len || what) /* no excerpt of bytes that are not text */
		return tasker_set_error(TASKER_EJSON, "%s: JSON syntax error at line %d, column %d: %s", source,
		                        at.line, at.column, what ? what : "unexpected end of input");
	char near[32];
	size_t n = 0;
	for (size_t i = off; i < len && n < 20 && text[i] != '\n' && text[i] != '\r'; i++)
		near[n++] = text[i];
	/* Do not cut a UTF-8 sequence in half. */
	while (n > 0 && ((unsigned char)near[n - 1] & 0x80) && off + n < len &&
	       ((unsigned char)text[off + n] & 0xC0) == 0x80)
		n--;
	near[n] = '\0';
	return tasker_set_error(TASKER_EJSON, "%s: JSON syntax error at line %d, column %d: unexpected input near '%s'",
	                        source, at.line, at.column, near);
}

/* Appends ".key" or "[i]" to a path buffer, truncating quietly. */
static size_t path_push(char *path, size_t cap, size_t used, const cJSON *item, size_t index)
{
	int n = item->string ? snprintf(path + used, cap - used, ".%s", item->string)
	                     : snprintf(path + used, cap - used, "[%zu]", index);
	size_t next = used + (n > 0 ? (size_t)n : 0);
	return next < cap ? next : cap - 1;
}

static int json_dup_check(key_set *ks, const cJSON *node, char *path, size_t cap, size_t used,
                          const char *source)
{
	size_t i = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, node)
	{
		if (cJSON_IsObject(node)) {
			if (keyset_find(ks, node, c->string)) {
				path[used] = '\0';
				return tasker_set_error(TASKER_EJSON, "%s: duplicate key \"%.200s\" in object at %s",
				                        source, c->string, path);
			}
			tyj_pos none = {0, 0};
			int rc = keyset_insert(ks, node, c->string, none);
			if (rc)
				return rc;
		}
		size_t next = path_push(path, cap, used, c, i++);
		int rc = json_dup_check(ks, c, path, cap, next, source);
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

int tyj_parse_json(cJSON **out, const char *text, size_t len, const char *source_name)
{
	const char *source = source_name ? source_name : "<string>";
	*out = NULL;
	size_t bad = tutf8_bad_offset(text, len);
	if (bad < len)
		return json_fail_at(source, text, len, bad, text[bad] ? "invalid UTF-8" : "NUL byte");
	char *buf = malloc(len + 1);
	if (!buf)
		return tasker_set_oom();
	memcpy(buf, text, len);
	buf[len] = '\0';
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
	if (!doc) {
		size_t off = end && end >= buf ? (size_t)(end - buf) : 0;
		free(buf);
		return json_fail_at(source, text, len, off, NULL);
	}
	int kept = tjson_keep_numbers(doc, buf);
	free(buf);
	if (kept) {
		cJSON_Delete(doc);
		return kept;
	}
	key_set ks = {0};
	char path[512] = "$";
	int rc = json_dup_check(&ks, doc, path, sizeof path, 1, source);
	free(ks.slots);
	if (rc) {
		cJSON_Delete(doc);
		return rc;
	}
	*out = doc;
	return TASKER_OK;
}
