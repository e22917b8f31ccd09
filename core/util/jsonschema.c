/*
 * jsonschema.c — compiles JSON Schemas (draft 7) into a graph of nodes and validates cJSON values against
 * it (see jsonschema.h). Owns $ref resolution (base URIs, JSON pointers, the built-in meta-schema), the
 * keyword semantics and the error messages; regular expressions are regex.c's and formats jsonformat.c's.
 * Never modifies or keeps the caller's JSON, and never echoes instance values into error messages
 * (contexts may hold personal data).
 */
#include "jsonschema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "jsonformat.h"
#include "regex.h"
#include "utf8.h"
#include "util.h"

/* Schemas nest at most this deep (position in the document); validation goes at most this deep. */
#define TJS_MAX_DEPTH 128
#define TJS_MAX_VALIDATION_DEPTH 512
/* The base URI of a schema without "$id" (so that relative references still resolve). */
#define TJS_DEFAULT_BASE "tasker:/schema.json"
#define META_URI "http://json-schema.org/draft-07/schema"

/* ------------------------------------------------------------------ locations and messages */

/* One step of a location: a member name, or an array index when key is NULL; `raw` keys are already
 * escaped pointer text (a $ref target's location). Locations are chains of these on the C stack
 * (child → parent), so validation allocates nothing to track where it is. */
typedef struct tjs_seg {
	const struct tjs_seg *up;
	const char *key;
	size_t index;
	int raw;
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
	if (at->raw) {
		sb_puts(b, at->key);
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
		else if (tascii_alnum(*c) || strchr("-._!$&'()*+,;=:@?", *c))
			sb_putc(b, (char)*c);
		else
			sb_printf(b, "%%%02X", *c);
	}
}

static int is_identifier(const char *s)
{
	if (!*s || tascii_digit(*s))
		return 0;
	for (; *s; s++)
		if (!tascii_alnum(*s) && *s != '_')
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

/* ------------------------------------------------------------------ URI references (RFC 3986 §5) */

/* The five components of a URI reference, as spans of the text (NULL start = undefined). */
typedef struct {
	const char *scheme, *authority, *path, *query, *fragment;
	size_t scheme_n, authority_n, path_n, query_n, fragment_n;
} uri_parts;

static void uri_split(uri_parts *u, const char *s)
{
	memset(u, 0, sizeof *u);
	const char *p = s;
	while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#')
		p++;
	if (*p == ':' && p > s) {
		u->scheme = s;
		u->scheme_n = (size_t)(p - s);
		s = p + 1;
	}
	if (s[0] == '/' && s[1] == '/') {
		u->authority = s + 2;
		u->authority_n = strcspn(s + 2, "/?#");
		s += 2 + u->authority_n;
	}
	u->path = s;
	u->path_n = strcspn(s, "?#");
	s += u->path_n;
	if (*s == '?') {
		u->query = s + 1;
		u->query_n = strcspn(s + 1, "#");
		s += 1 + u->query_n;
	}
	if (*s == '#') {
		u->fragment = s + 1;
		u->fragment_n = strlen(s + 1);
	}
}

/* remove_dot_segments of RFC 3986 §5.2.4 over in[0..n), appended to out (room for n bytes). */
static size_t remove_dots(char *out, const char *in, size_t n)
{
	size_t o = 0, i = 0;
	while (i < n) {
		const char *s = in + i;
		size_t left = n - i;
		if (left >= 3 && strncmp(s, "../", 3) == 0) {
			i += 3;
		} else if (left >= 2 && strncmp(s, "./", 2) == 0) {
			i += 2;
		} else if ((left >= 3 && strncmp(s, "/./", 3) == 0) || (left == 2 && strncmp(s, "/.", 2) == 0)) {
			i += 2;
			if (left == 2)
				out[o++] = '/';
		} else if ((left >= 4 && strncmp(s, "/../", 4) == 0) || (left == 3 && strncmp(s, "/..", 3) == 0)) {
			i += 3;
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			if (left == 3)
				out[o++] = '/';
		} else if ((left == 1 && s[0] == '.') || (left == 2 && strncmp(s, "..", 2) == 0)) {
			i = n;
		} else {
			size_t seg = 1;
			while (seg < left && s[seg] != '/')
				seg++;
			memcpy(out + o, s, seg);
			o += seg;
			i += seg;
		}
	}
	return o;
}

/* Appends a span to a buffer sized by the caller. */
static char *put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

/* Resolves `ref` against the absolute `base` (RFC 3986 §5.2.2); malloc'd, NULL when out of memory. */
static char *uri_resolve(const char *base, const char *ref)
{
	uri_parts b, r;
	uri_split(&b, base);
	uri_split(&r, ref);
	size_t cap = strlen(base) + strlen(ref) + 8;
	char *out = malloc(cap), *o = out, *merged = malloc(cap);
	if (!out || !merged) {
		free(out);
		free(merged);
		return NULL;
	}
	const uri_parts *auth = r.scheme || r.authority ? &r : &b;
	const char *scheme = r.scheme ? r.scheme : b.scheme;
	size_t scheme_n = r.scheme ? r.scheme_n : b.scheme_n;
	const char *path = r.path, *query = r.query;
	size_t path_n = r.path_n, query_n = r.query_n;
	if (!r.scheme && !r.authority) {
		if (r.path_n == 0) {
			path = b.path, path_n = b.path_n;
			if (!r.query)
				query = b.query, query_n = b.query_n;
		} else if (r.path[0] != '/') {
			/* merge: the base path up to its last "/", then the reference's path */
			size_t keep = b.path_n;
			while (keep > 0 && b.path[keep - 1] != '/')
				keep--;
			char *m = merged;
			if (b.authority && b.path_n == 0)
				*m++ = '/';
			m = put(m, b.path, keep);
			m = put(m, r.path, r.path_n);
			path = merged, path_n = (size_t)(m - merged);
		}
	}
	if (scheme)
		o = put(put(o, scheme, scheme_n), ":", 1);
	if (auth->authority)
		o = put(put(o, "//", 2), auth->authority, auth->authority_n);
	o += remove_dots(o, path, path_n);
	if (query)
		o = put(put(o, "?", 1), query, query_n);
	if (r.fragment)
		o = put(put(o, "#", 1), r.fragment, r.fragment_n);
	*o = '\0';
	free(merged);
	return out;
}

/* Percent-decodes s in place (a malformed escape stays as written). */
static void percent_decode(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '%' && tascii_hex((unsigned char)s[1]) >= 0 && tascii_hex((unsigned char)s[2]) >= 0) {
			*o++ = (char)(tascii_hex((unsigned char)s[1]) * 16 + tascii_hex((unsigned char)s[2]));
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* ------------------------------------------------------------------ compiled schemas */

enum { T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64 };
static const char *const TYPE_NAMES[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
#define TYPE_COUNT (sizeof TYPE_NAMES / sizeof TYPE_NAMES[0])

enum { B_MINIMUM, B_MAXIMUM, B_EXCLUSIVE_MINIMUM, B_EXCLUSIVE_MAXIMUM, BOUND_COUNT };
static const char *const BOUND_NAMES[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
static const char *const BOUND_BREACH[] = {"less than", "greater than", "not greater than", "not less than"};

enum { L_MIN_LENGTH, L_MAX_LENGTH, L_MIN_ITEMS, L_MAX_ITEMS, L_MIN_PROPERTIES, L_MAX_PROPERTIES, LIMIT_COUNT };

typedef struct tjs_node tjs_node;

typedef struct {
	char *name;
	tjs_node *schema;
} tjs_property;

typedef struct {
	trx_regex *re;
	tjs_node *schema;
} tjs_pattern_property;

/* "dependencies": when `name` is present, either these properties are required or `schema` applies. */
typedef struct {
	char *name;
	char **required;
	size_t nrequired;
	tjs_node *schema;
} tjs_dependency;

typedef struct {
	tjs_node **v;
	size_t n;
} tjs_list;

struct tjs_node {
	int verdict;                 /* a boolean schema: 1 (true) or 0 (false); -1 for an object schema */
	tjs_node *ref;               /* $ref: the target; every other keyword is then ignored */
	int shared;                  /* a $ref target: evaluated once per value (memoized) */
	int color;                   /* cycle check: 0 new, 1 on the path, 2 done */
	char *where;                 /* the schema's location, "#/definitions/a", for compile errors */
	unsigned types;              /* T_* bits "type" accepts; 0 when absent */
	cJSON *enum_values;          /* copies: the caller's JSON is only borrowed */
	cJSON *const_value;
	double bound[BOUND_COUNT];
	unsigned has_bound;          /* bit 1 << B_* */
	double multiple_of;          /* 0 when absent */
	double limit[LIMIT_COUNT];
	unsigned has_limit;          /* bit 1 << L_* */
	trx_regex *pattern;
	tfmt_kind format;
	tjs_node *items;             /* single-schema form of "items" */
	tjs_list item_list;          /* array form: item_list.v[i] applies to element i */
	tjs_node *additional_items;
	tjs_node *contains;
	int unique_items;
	char **required;
	size_t nrequired;
	tjs_property *properties;    /* sorted by name (bsearch) */
	size_t nproperties;
	tjs_pattern_property *pattern_properties;
	size_t npattern_properties;
	tjs_node *additional_properties;
	tjs_node *property_names;
	tjs_dependency *dependencies;
	size_t ndependencies;
	tjs_list all_of, any_of, one_of;
	tjs_node *not_schema, *if_schema, *then_schema, *else_schema;
	int exclusive_bool[2];       /* draft-4 boolean exclusiveMinimum / exclusiveMaximum */
};

struct tjs_schema {
	tjs_node *root;
	tjs_node **nodes;            /* every node, owned here (the graph may have cycles) */
	size_t nnodes, capnodes;
	char **ignored;              /* tjs_ignored lines */
	size_t nignored, capignored;
};

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void node_free(tjs_node *s)
{
	cJSON_Delete(s->enum_values);
	cJSON_Delete(s->const_value);
	trx_free(s->pattern);
	free(s->item_list.v);
	free(s->all_of.v);
	free(s->any_of.v);
	free(s->one_of.v);
	free_strings(s->required, s->nrequired);
	for (size_t i = 0; i < s->nproperties; i++)
		free(s->properties[i].name);
	free(s->properties);
	for (size_t i = 0; i < s->npattern_properties; i++)
		trx_free(s->pattern_properties[i].re);
	free(s->pattern_properties);
	for (size_t i = 0; i < s->ndependencies; i++) {
		free(s->dependencies[i].name);
		free_strings(s->dependencies[i].required, s->dependencies[i].nrequired);
	}
	free(s->dependencies);
	free(s->where);
	free(s);
}

void tjs_free(tjs_schema *schema)
{
	if (!schema)
		return;
	for (size_t i = 0; i < schema->nnodes; i++)
		node_free(schema->nodes[i]);
	free(schema->nodes);
	free_strings(schema->ignored, schema->nignored);
	free(schema);
}

size_t tjs_ignored_count(const tjs_schema *schema)
{
	return schema ? schema->nignored : 0;
}

const char *tjs_ignored(const tjs_schema *schema, size_t index)
{
	return schema && index < schema->nignored ? schema->ignored[index] : NULL;
}

/* ------------------------------------------------------------------ the compiler */

/* A document that $ref may point into: the schema itself, a subschema with an "$id", the meta-schema.
 * `parent_base` is the base URI in effect where `json` sits (its own "$id" applies on top). */
typedef struct {
	char *uri;                   /* absolute, without fragment (resources) or with it (anchors) */
	const cJSON *json;
	char *parent_base;
} tjs_resource;

typedef struct {
	const cJSON *json;
	tjs_node *node;
} cache_slot;

/* A node created for a $ref target, compiled after the current one (so chains of references do not
 * nest compilation). */
typedef struct {
	tjs_node *node;
	const cJSON *json;
	char *parent_base;
} pending;

typedef struct {
	tjs_schema *out;
	tjs_resource *resources, *anchors;
	size_t nresources, capresources, nanchors, capanchors;
	cache_slot *cache;           /* open addressing by JSON node address */
	size_t ncache, capcache;
	pending *todo;
	size_t ntodo, captodo;
	cJSON *meta;                 /* the meta-schema, parsed when a $ref first needs it */
} compiler;

/* Where a keyword is being compiled: its name, its table slot, the schema holding it, its base URI. */
typedef struct {
	compiler *c;
	const char *keyword;
	int slot;
	const tjs_seg *at;
	int depth;
	const char *base;
} tjs_site;

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

/* Records a line for tjs_ignored: `what` at the schema location `at`, then `tail`. */
static int note_ignored(compiler *c, const char *what, const tjs_seg *at, const char *tail)
{
	char line[1400];
	sbuf b = {line, sizeof line, 0};
	sb_puts(&b, what);
	sb_puts(&b, " at ");
	sb_pointer(&b, at);
	sb_puts(&b, tail);
	char **v = tarray_grow(c->out->ignored, &c->out->capignored, c->out->nignored + 1, sizeof *v);
	if (!v)
		return tasker_set_oom();
	c->out->ignored = v;
	if (!(v[c->out->nignored] = strdup(line)))
		return tasker_set_oom();
	c->out->nignored++;
	return TASKER_OK;
}

static size_t ptr_hash(const void *p, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> 17) & (cap - 1);
}

static tjs_node *cache_find(const compiler *c, const cJSON *json)
{
	if (!c->capcache)
		return NULL;
	for (size_t i = ptr_hash(json, c->capcache);; i = (i + 1) & (c->capcache - 1)) {
		if (!c->cache[i].json)
			return NULL;
		if (c->cache[i].json == json)
			return c->cache[i].node;
	}
}

static void cache_place(cache_slot *slots, size_t cap, const cJSON *json, tjs_node *node)
{
	size_t i = ptr_hash(json, cap);
	while (slots[i].json)
		i = (i + 1) & (cap - 1);
	slots[i] = (cache_slot){json, node};
}

static int cache_put(compiler *c, const cJSON *json, tjs_node *node)
{
	if ((c->ncache + 1) * 2 > c->capcache) {
		size_t cap = c->capcache ? c->capcache * 2 : 64;
		cache_slot *slots = calloc(cap, sizeof *slots);
		if (!slots)
			return tasker_set_oom();
		for (size_t i = 0; i < c->capcache; i++)
			if (c->cache[i].json)
				cache_place(slots, cap, c->cache[i].json, c->cache[i].node);
		free(c->cache);
		c->cache = slots;
		c->capcache = cap;
	}
	cache_place(c->cache, c->capcache, json, node);
	c->ncache++;
	return TASKER_OK;
}

/* A new, empty node owned by the schema, located at `at` (for messages). */
static int node_new(tjs_node **out, compiler *c, const tjs_seg *at)
{
	char where[1024];
	sbuf w = {where, sizeof where, 0};
	tjs_node **v = tarray_grow(c->out->nodes, &c->out->capnodes, c->out->nnodes + 1, sizeof *v);
	tjs_node *n = calloc(1, sizeof *n);
	sb_pointer(&w, at);
	if (!v || !n || !(n->where = strdup(where))) {
		free(n);
		if (v)
			c->out->nodes = v;
		return tasker_set_oom();
	}
	c->out->nodes = v;
	v[c->out->nnodes++] = n;
	n->verdict = -1;
	*out = n;
	return TASKER_OK;
}

/* The base URI inside `json` when the base around it is `parent_base`: its "$id" resolved, without
 * fragment; unchanged when there is no "$id", or a "$ref" beside it (draft 7 ignores the siblings of
 * $ref). malloc'd; NULL when out of memory. */
static char *inner_base(const cJSON *json, const char *parent_base)
{
	const cJSON *id = cJSON_IsObject(json) ? cJSON_GetObjectItemCaseSensitive(json, "$id") : NULL;
	if (!cJSON_IsString(id) || cJSON_GetObjectItemCaseSensitive(json, "$ref"))
		return strdup(parent_base);
	char *uri = uri_resolve(parent_base, id->valuestring);
	char *hash = uri ? strchr(uri, '#') : NULL;
	if (hash)
		*hash = '\0';
	return uri;
}

static int add_resource(tjs_resource **v, size_t *n, size_t *cap, const char *uri, const cJSON *json,
                        const char *parent_base)
{
	tjs_resource *bigger = tarray_grow(*v, cap, *n + 1, sizeof **v);
	if (!bigger)
		return tasker_set_oom();
	*v = bigger;
	tjs_resource *r = &bigger[*n];
	r->uri = strdup(uri);
	r->parent_base = strdup(parent_base);
	r->json = json;
	if (!r->uri || !r->parent_base) {
		free(r->uri);
		free(r->parent_base);
		return tasker_set_oom();
	}
	(*n)++;
	return TASKER_OK;
}

/* How a keyword's value holds subschemas: one, an array of them, or a map of them. */
enum { HOLDS_NONE, HOLDS_ONE, HOLDS_ARRAY, HOLDS_MAP };

static int holds(const char *keyword, const cJSON *value)
{
	static const char *const ONE[] = {"additionalItems", "additionalProperties", "contains", "propertyNames",
	                                  "not", "if", "then", "else"};
	static const char *const ARRAY[] = {"allOf", "anyOf", "oneOf"};
	static const char *const MAP[] = {"properties", "patternProperties", "definitions", "dependencies"};
	if (strcmp(keyword, "items") == 0)
		return cJSON_IsArray(value) ? HOLDS_ARRAY : HOLDS_ONE;
	for (size_t i = 0; i < sizeof ONE / sizeof *ONE; i++)
		if (strcmp(keyword, ONE[i]) == 0)
			return HOLDS_ONE;
	for (size_t i = 0; i < sizeof ARRAY / sizeof *ARRAY; i++)
		if (strcmp(keyword, ARRAY[i]) == 0)
			return HOLDS_ARRAY;
	for (size_t i = 0; i < sizeof MAP / sizeof *MAP; i++)
		if (strcmp(keyword, MAP[i]) == 0)
			return HOLDS_MAP;
	return HOLDS_NONE;
}

static int scan(compiler *c, const cJSON *json, const char *parent_base, int depth);

/* Registers the "$id" of `json` (a schema at a schema position): a resource, or a "#name" identifier. */
static int scan_id(compiler *c, const cJSON *json, const char *parent_base)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(json, "$id");
	if (!cJSON_IsString(id) || cJSON_GetObjectItemCaseSensitive(json, "$ref"))
		return TASKER_OK;
	char *uri = uri_resolve(parent_base, id->valuestring);
	if (!uri)
		return tasker_set_oom();
	int rc = TASKER_OK;
	char *hash = strchr(uri, '#');
	if (hash && hash[1] && hash[1] != '/')
		rc = add_resource(&c->anchors, &c->nanchors, &c->capanchors, uri, json, parent_base);
	if (hash)
		*hash = '\0';
	if (!rc && strcmp(uri, parent_base) != 0)
		rc = add_resource(&c->resources, &c->nresources, &c->capresources, uri, json, parent_base);
	free(uri);
	return rc;
}

static int scan_children(compiler *c, const cJSON *value, int kind, const char *base, int depth)
{
	int rc = TASKER_OK;
	const cJSON *item;
	if (kind == HOLDS_ONE)
		return scan(c, value, base, depth);
	if ((kind == HOLDS_ARRAY && cJSON_IsArray(value)) || (kind == HOLDS_MAP && cJSON_IsObject(value)))
		cJSON_ArrayForEach(item, value)
			if (!rc)
				rc = scan(c, item, base, depth);
	return rc;
}

/* Collects every "$id" below a schema, so that $ref can find resources and identifiers wherever they are
 * declared, before anything is compiled. Only schema positions count: an "$id" inside "enum" or an
 * unknown keyword is data. */
static int scan(compiler *c, const cJSON *json, const char *parent_base, int depth)
{
	if (!cJSON_IsObject(json) || depth > TJS_MAX_DEPTH)
		return TASKER_OK;
	int rc = scan_id(c, json, parent_base);
	char *base = rc ? NULL : inner_base(json, parent_base);
	if (!rc && !base)
		rc = tasker_set_oom();
	const cJSON *m;
	cJSON_ArrayForEach(m, json)
		if (!rc && m->string)
			rc = scan_children(c, m, holds(m->string, m), base, depth + 1);
	free(base);
	return rc;
}

/* The draft-07 meta-schema, the one remote document every validator knows. */
static const char META_SCHEMA[] =
	"{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"http://json-schema.org/draft-07/schema#\","
	"\"title\":\"Core schema meta-schema\",\"definitions\":{"
	"\"schemaArray\":{\"type\":\"array\",\"minItems\":1,\"items\":{\"$ref\":\"#\"}},"
	"\"nonNegativeInteger\":{\"type\":\"integer\",\"minimum\":0},"
	"\"nonNegativeIntegerDefault0\":{\"allOf\":[{\"$ref\":\"#/definitions/nonNegativeInteger\"},{\"default\":0}]},"
	"\"simpleTypes\":{\"enum\":[\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object\",\"string\"]},"
	"\"stringArray\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"uniqueItems\":true,\"default\":[]}},"
	"\"type\":[\"object\",\"boolean\"],\"properties\":{"
	"\"$id\":{\"type\":\"string\",\"format\":\"uri-reference\"},"
	"\"$schema\":{\"type\":\"string\",\"format\":\"uri\"},"
	"\"$ref\":{\"type\":\"string\",\"format\":\"uri-reference\"},"
	"\"$comment\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
	"\"default\":true,\"readOnly\":{\"type\":\"boolean\",\"default\":false},"
	"\"writeOnly\":{\"type\":\"boolean\",\"default\":false},\"examples\":{\"type\":\"array\",\"items\":true},"
	"\"multipleOf\":{\"type\":\"number\",\"exclusiveMinimum\":0},\"maximum\":{\"type\":\"number\"},"
	"\"exclusiveMaximum\":{\"type\":\"number\"},\"minimum\":{\"type\":\"number\"},"
	"\"exclusiveMinimum\":{\"type\":\"number\"},"
	"\"maxLength\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
	"\"minLength\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},"
	"\"pattern\":{\"type\":\"string\",\"format\":\"regex\"},\"additionalItems\":{\"$ref\":\"#\"},"
	"\"items\":{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#/definitions/schemaArray\"}],\"default\":true},"
	"\"maxItems\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
	"\"minItems\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},"
	"\"uniqueItems\":{\"type\":\"boolean\",\"default\":false},\"contains\":{\"$ref\":\"#\"},"
	"\"maxProperties\":{\"$ref\":\"#/definitions/nonNegativeInteger\"},"
	"\"minProperties\":{\"$ref\":\"#/definitions/nonNegativeIntegerDefault0\"},"
	"\"required\":{\"$ref\":\"#/definitions/stringArray\"},\"additionalProperties\":{\"$ref\":\"#\"},"
	"\"definitions\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#\"},\"default\":{}},"
	"\"properties\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#\"},\"default\":{}},"
	"\"patternProperties\":{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#\"},"
	"\"propertyNames\":{\"format\":\"regex\"},\"default\":{}},"
	"\"dependencies\":{\"type\":\"object\",\"additionalProperties\":{\"anyOf\":[{\"$ref\":\"#\"},"
	"{\"$ref\":\"#/definitions/stringArray\"}]}},"
	"\"propertyNames\":{\"$ref\":\"#\"},\"const\":true,\"enum\":{\"type\":\"array\",\"items\":true},"
	"\"type\":{\"anyOf\":[{\"$ref\":\"#/definitions/simpleTypes\"},{\"type\":\"array\",\"items\":"
	"{\"$ref\":\"#/definitions/simpleTypes\"},\"minItems\":1,\"uniqueItems\":true}]},"
	"\"format\":{\"type\":\"string\"},\"contentMediaType\":{\"type\":\"string\"},"
	"\"contentEncoding\":{\"type\":\"string\"},\"if\":{\"$ref\":\"#\"},\"then\":{\"$ref\":\"#\"},"
	"\"else\":{\"$ref\":\"#\"},\"allOf\":{\"$ref\":\"#/definitions/schemaArray\"},"
	"\"anyOf\":{\"$ref\":\"#/definitions/schemaArray\"},\"oneOf\":{\"$ref\":\"#/definitions/schemaArray\"},"
	"\"not\":{\"$ref\":\"#\"}},\"default\":true}";

static const tjs_resource *find_resource(const tjs_resource *v, size_t n, const char *uri)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].uri, uri) == 0)
			return &v[i];
	return NULL;
}

/* The resource named `uri`, loading the built-in meta-schema when that is what it names. */
static int resource_for(const tjs_resource **out, compiler *c, const char *uri)
{
	*out = find_resource(c->resources, c->nresources, uri);
	if (*out || c->meta || (strcmp(uri, META_URI) != 0 && strcmp(uri, "https://json-schema.org/draft-07/schema") != 0))
		return TASKER_OK;
	if (!(c->meta = cJSON_Parse(META_SCHEMA)))
		return tasker_set_oom();
	int rc = scan(c, c->meta, TJS_DEFAULT_BASE, 0);
	if (!rc && strcmp(uri, META_URI) != 0)
		rc = add_resource(&c->resources, &c->nresources, &c->capresources, uri, c->meta, TJS_DEFAULT_BASE);
	*out = rc ? NULL : find_resource(c->resources, c->nresources, uri);
	return rc;
}

/* The member (or element) a JSON pointer token names. */
static const cJSON *pointer_step(const cJSON *cur, char *token)
{
	char *o = token;
	for (char *t = token; *t; t++) {
		if (t[0] == '~' && (t[1] == '0' || t[1] == '1'))
			*o++ = *++t == '1' ? '/' : '~';
		else
			*o++ = *t;
	}
	*o = '\0';
	if (cJSON_IsObject(cur))
		return cJSON_GetObjectItemCaseSensitive(cur, token);
	if (!cJSON_IsArray(cur) || !*token || strspn(token, "0123456789") != strlen(token) ||
	    (token[0] == '0' && token[1]) || strlen(token) > 9)
		return NULL;
	return cJSON_GetArrayItem(cur, atoi(token));
}

/* Walks the (percent-decoded) JSON pointer `ptr` from a resource, keeping track of the base URI: at every
 * schema position passed on the way, its "$id" applies. *base (malloc'd) is the base around the target. */
static int walk_pointer(const cJSON **out, char **base, const tjs_resource *r, char *ptr)
{
	enum { AT_SCHEMA, AT_LIST, AT_OTHER } kind = AT_SCHEMA;
	const cJSON *cur = r->json;
	char *parent = strdup(r->parent_base);
	while (parent && *ptr == '/' && cur) {
		char *token = ptr + 1, *slash = strchr(token, '/');
		ptr = slash ? slash : token + strlen(token);
		char saved = *ptr;
		*ptr = '\0';
		const cJSON *next = pointer_step(cur, token);
		*ptr = saved;
		if (kind == AT_SCHEMA && next) {
			char *inner = inner_base(cur, parent);
			free(parent);
			parent = inner;
			int h = holds(next->string ? next->string : "", next);
			kind = h == HOLDS_ONE ? AT_SCHEMA : h == HOLDS_NONE ? AT_OTHER : AT_LIST;
		} else if (kind == AT_LIST) {
			kind = AT_SCHEMA;
		}
		cur = next;
	}
	if (!parent)
		return tasker_set_oom();
	*out = cur;
	*base = parent;
	return TASKER_OK;
}

static int cannot_resolve(const tjs_site *site, const char *ref, const char *uri, const char *why)
{
	char quoted[600];
	sbuf q = {quoted, sizeof quoted, 0};
	sb_quoted(&q, ref);
	if (strcmp(ref, uri) != 0) {
		sb_puts(&q, " (");
		sb_puts(&q, uri);
		sb_puts(&q, ")");
	}
	return bad_value(site, "cannot resolve %s: %s", quoted, why);
}

/* Finds what `ref` points to: *json and the base around it (*parent_base, malloc'd). */
static int resolve_ref(const cJSON **json, char **parent_base, const tjs_site *site, const char *ref)
{
	compiler *c = site->c;
	char *uri = uri_resolve(site->base, ref);
	if (!uri)
		return tasker_set_oom();
	char *hash = strchr(uri, '#'), *frag = hash ? hash + 1 : NULL;
	const tjs_resource *r = NULL;
	if (hash)
		*hash = '\0';
	int rc = resource_for(&r, c, uri);
	if (hash)
		*hash = '#';
	*json = NULL;
	if (!rc && !r)
		rc = cannot_resolve(site, ref, uri, "no schema with that URI here (remote schemas are not fetched)");
	if (!rc && frag && *frag && *frag != '/') {
		const tjs_resource *a = find_resource(c->anchors, c->nanchors, uri);
		if (a && (*json = a->json) && !(*parent_base = strdup(a->parent_base)))
			rc = tasker_set_oom();
	} else if (!rc) {
		char *ptr = strdup(frag ? frag : "");
		if (!ptr)
			rc = tasker_set_oom();
		else
			percent_decode(ptr);
		if (!rc)
			rc = walk_pointer(json, parent_base, r, ptr);
		free(ptr);
		if (!rc && !*json)
			free(*parent_base);
	}
	if (!rc && !*json)
		rc = cannot_resolve(site, ref, uri, "it points to nothing");
	free(uri);
	return rc;
}

static int compile_node(compiler *c, tjs_node *node, const cJSON *json, const char *parent_base,
                        const tjs_seg *at, int depth);

/* The node of a subschema written at `at`: compiled now, unless a $ref compiled it (or queued it) first. */
static int child(tjs_node **out, const tjs_site *site, const cJSON *json, const tjs_seg *at)
{
	if ((*out = cache_find(site->c, json)))
		return TASKER_OK;
	int rc = node_new(out, site->c, at);
	if (!rc)
		rc = cache_put(site->c, json, *out);
	return rc ? rc : compile_node(site->c, *out, json, site->base, at, site->depth + 1);
}

/* The node a $ref targets; a new one is queued, not compiled here, so that chains of references never
 * nest compilation. */
static int ref_target(tjs_node **out, const tjs_site *site, const cJSON *json, char *parent_base, const char *ref)
{
	compiler *c = site->c;
	if ((*out = cache_find(c, json))) {
		free(parent_base);
		return TASKER_OK;
	}
	tjs_seg where = {NULL, ref, 0, 1};
	pending *todo = tarray_grow(c->todo, &c->captodo, c->ntodo + 1, sizeof *todo);
	int rc = todo ? node_new(out, c, &where) : tasker_set_oom();
	if (todo)
		c->todo = todo;
	if (!rc)
		rc = cache_put(c, json, *out);
	if (rc) {
		free(parent_base);
		return rc;
	}
	todo[c->ntodo++] = (pending){*out, json, parent_base};
	return TASKER_OK;
}

static int kw_ref(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	const cJSON *json;
	char *parent_base = NULL;
	if (!cJSON_IsString(v))
		return bad_value(site, "expected a URI reference string, got %s", json_kind(v));
	int rc = resolve_ref(&json, &parent_base, site, v->valuestring);
	if (rc)
		return rc;
	rc = ref_target(&s->ref, site, json, parent_base, v->valuestring);
	if (!rc)
		s->ref->shared = 1;
	return rc;
}

static int kw_string(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	(void)s;
	return cJSON_IsString(v) ? 0 : bad_value(site, "expected a string, got %s", json_kind(v));
}

static int kw_boolean(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	(void)s;
	return cJSON_IsBool(v) ? 0 : bad_value(site, "expected true or false, got %s", json_kind(v));
}

static int kw_any(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	(void)s, (void)v, (void)site;
	return 0;
}

static int kw_examples(tjs_node *s, const cJSON *v, const tjs_site *site)
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

static int kw_type(tjs_node *s, const cJSON *v, const tjs_site *site)
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

/* Copies an array of distinct strings; `what` names the problem otherwise. */
static int string_list(char ***out, size_t *n, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsArray(v))
		return bad_value(site, "expected an array of distinct strings, got %s", json_kind(v));
	for (const cJSON *a = v->child; a; a = a->next) {
		if (!cJSON_IsString(a))
			return bad_value(site, "expected an array of distinct strings, got an array holding %s",
			                 json_kind(a));
		for (const cJSON *b = v->child; b != a; b = b->next)
			if (strcmp(a->valuestring, b->valuestring) == 0)
				return bad_value(site, "expected an array of distinct strings, got \"%.100s\" twice",
				                 a->valuestring);
	}
	size_t count = (size_t)cJSON_GetArraySize(v);
	if (count && !(*out = calloc(count, sizeof **out)))
		return tasker_set_oom();
	for (const cJSON *r = v->child; r; r = r->next)
		if (!((*out)[(*n)++] = strdup(r->valuestring)))
			return tasker_set_oom();
	return 0;
}

static int kw_required(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	return string_list(&s->required, &s->nrequired, v, site);
}

static int cmp_property(const void *a, const void *b)
{
	return strcmp(((const tjs_property *)a)->name, ((const tjs_property *)b)->name);
}

/* An object whose every member is a schema ("properties", "definitions"). */
static int schema_map(tjs_property *props, size_t *n, const cJSON *v, const tjs_site *site)
{
	const tjs_seg kw = {site->at, site->keyword, 0, 0};
	for (const cJSON *m = v->child; m; m = m->next) {
		for (size_t i = 0; i < *n; i++)
			if (strcmp(props[i].name, m->string) == 0)
				return bad_value(site, "\"%.100s\" defined twice", m->string);
		tjs_property *p = &props[(*n)++];
		const tjs_seg at = {&kw, m->string, 0, 0};
		if (!(p->name = strdup(m->string)))
			return tasker_set_oom();
		int rc = child(&p->schema, site, m, &at);
		if (rc)
			return rc;
	}
	return 0;
}

static int kw_properties(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsObject(v))
		return bad_value(site, "expected an object of schemas, got %s", json_kind(v));
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n && !(s->properties = calloc(n, sizeof *s->properties)))
		return tasker_set_oom();
	int rc = schema_map(s->properties, &s->nproperties, v, site);
	if (!rc && s->nproperties > 1)
		qsort(s->properties, s->nproperties, sizeof *s->properties, cmp_property);
	return rc;
}

static int kw_definitions(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	(void)s;
	if (!cJSON_IsObject(v))
		return bad_value(site, "expected an object of schemas, got %s", json_kind(v));
	size_t n = (size_t)cJSON_GetArraySize(v), used = 0;
	tjs_property *defs = calloc(n ? n : 1, sizeof *defs);
	if (!defs)
		return tasker_set_oom();
	int rc = schema_map(defs, &used, v, site);
	for (size_t i = 0; i < used; i++)
		free(defs[i].name);
	free(defs);
	return rc;
}

static int compile_regex(trx_regex **out, const char *source, const tjs_site *site)
{
	char err[128], where[1024], quoted[256];
	sbuf w = {where, sizeof where, 0}, q = {quoted, sizeof quoted, 0};
	int rc = trx_compile(out, source, err, sizeof err);
	if (rc != TASKER_EINVAL)
		return rc;
	sb_pointer(&w, site->at);
	sb_quoted(&q, source);
	return tasker_set_error(TASKER_EINVAL,
	                        "invalid regular expression %s in JSON Schema keyword \"%s\" at %s: %s", quoted,
	                        site->keyword, where, err);
}

static int kw_pattern_properties(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsObject(v))
		return bad_value(site, "expected an object of schemas, got %s", json_kind(v));
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n && !(s->pattern_properties = calloc(n, sizeof *s->pattern_properties)))
		return tasker_set_oom();
	const tjs_seg kw = {site->at, site->keyword, 0, 0};
	for (const cJSON *m = v->child; m; m = m->next) {
		tjs_pattern_property *p = &s->pattern_properties[s->npattern_properties++];
		const tjs_seg at = {&kw, m->string, 0, 0};
		int rc = compile_regex(&p->re, m->string, site);
		if (rc || (rc = child(&p->schema, site, m, &at)))
			return rc;
	}
	return 0;
}

/* A keyword whose value is one schema: the node goes to the field at `slot` bytes into the node. */
static int kw_schema(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	const tjs_seg at = {site->at, site->keyword, 0, 0};
	return child((tjs_node **)(void *)((char *)s + site->slot), site, v, &at);
}

/* A non-empty array of schemas, into the list at `slot` bytes into the node. */
static int kw_schema_list(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	tjs_list *list = (tjs_list *)(void *)((char *)s + site->slot);
	const tjs_seg kw = {site->at, site->keyword, 0, 0};
	if (!cJSON_IsArray(v) || !v->child)
		return bad_value(site, "expected a non-empty array of schemas, got %s",
		                 cJSON_IsArray(v) ? "an empty array" : json_kind(v));
	if (!(list->v = calloc((size_t)cJSON_GetArraySize(v), sizeof *list->v)))
		return tasker_set_oom();
	for (const cJSON *item = v->child; item; item = item->next) {
		const tjs_seg at = {&kw, NULL, list->n, 0};
		int rc = child(&list->v[list->n], site, item, &at);
		list->n++;
		if (rc)
			return rc;
	}
	return 0;
}

static int kw_items(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsArray(v)) {
		const tjs_seg at = {site->at, site->keyword, 0, 0};
		return child(&s->items, site, v, &at);
	}
	if (!v->child)
		return bad_value(site, "expected a schema or a non-empty array of schemas, got an empty array");
	tjs_site list_site = *site;
	list_site.slot = offsetof(tjs_node, item_list);
	return kw_schema_list(s, v, &list_site);
}

static int kw_dependencies(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsObject(v))
		return bad_value(site, "expected an object, got %s", json_kind(v));
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n && !(s->dependencies = calloc(n, sizeof *s->dependencies)))
		return tasker_set_oom();
	const tjs_seg kw = {site->at, site->keyword, 0, 0};
	for (const cJSON *m = v->child; m; m = m->next) {
		tjs_dependency *d = &s->dependencies[s->ndependencies++];
		const tjs_seg at = {&kw, m->string, 0, 0};
		int rc;
		if (!(d->name = strdup(m->string)))
			return tasker_set_oom();
		if (cJSON_IsArray(m)) {
			tjs_site entry = *site;
			entry.at = &at;
			rc = string_list(&d->required, &d->nrequired, m, &entry);
		} else if (cJSON_IsObject(m) || cJSON_IsBool(m)) {
			rc = child(&d->schema, site, m, &at);
		} else {
			rc = bad_value(site, "\"%.100s\" must be a schema or an array of property names, got %s",
			               m->string, json_kind(m));
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int kw_enum(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsArray(v))
		return bad_value(site, "expected an array, got %s", json_kind(v));
	return (s->enum_values = cJSON_Duplicate(v, 1)) ? 0 : tasker_set_oom();
}

static int kw_const(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	(void)site;
	return (s->const_value = cJSON_Duplicate(v, 1)) ? 0 : tasker_set_oom();
}

/* minimum, maximum, exclusiveMinimum, exclusiveMaximum; the draft-4 boolean exclusive forms too. */
static int kw_bound(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (cJSON_IsBool(v) && site->slot >= B_EXCLUSIVE_MINIMUM) {
		s->exclusive_bool[site->slot - B_EXCLUSIVE_MINIMUM] = cJSON_IsTrue(v);
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return bad_value(site, "expected a number, got %s", json_kind(v));
	s->bound[site->slot] = v->valuedouble;
	s->has_bound |= 1u << site->slot;
	return 0;
}

static int is_integral(double d)
{
	return isfinite(d) && floor(d) == d;
}

static int kw_limit(tjs_node *s, const cJSON *v, const tjs_site *site)
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

static int kw_multiple_of(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	char num[32];
	if (!cJSON_IsNumber(v))
		return bad_value(site, "expected a number greater than 0, got %s", json_kind(v));
	if (!(v->valuedouble > 0) || !isfinite(v->valuedouble))
		return bad_value(site, "expected a number greater than 0, got %s", fmt_number(num, v->valuedouble));
	s->multiple_of = v->valuedouble;
	return 0;
}

static int kw_unique_items(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsBool(v))
		return bad_value(site, "expected true or false, got %s", json_kind(v));
	s->unique_items = cJSON_IsTrue(v);
	return 0;
}

static int kw_pattern(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	if (!cJSON_IsString(v))
		return bad_value(site, "expected a regular expression string, got %s", json_kind(v));
	return compile_regex(&s->pattern, v->valuestring, site);
}

static int kw_format(tjs_node *s, const cJSON *v, const tjs_site *site)
{
	char what[160];
	if (!cJSON_IsString(v))
		return bad_value(site, "expected a string, got %s", json_kind(v));
	if ((s->format = tfmt_lookup(v->valuestring)) != TFMT_UNCHECKED)
		return 0;
	snprintf(what, sizeof what, "format \"%.100s\"", v->valuestring);
	return note_ignored(site->c, what, site->at, " is not checked");
}

typedef struct {
	const char *name;
	int (*compile)(tjs_node *s, const cJSON *value, const tjs_site *site);
	int slot;
} tjs_keyword;

#define FIELD(f) ((int)offsetof(tjs_node, f))

/* Every draft-7 keyword; tjs_supported_keywords() lists the same names in this order. */
static const tjs_keyword KEYWORDS[] = {
	{"type", kw_type, 0},
	{"enum", kw_enum, 0},
	{"const", kw_const, 0},
	{"multipleOf", kw_multiple_of, 0},
	{"maximum", kw_bound, B_MAXIMUM},
	{"exclusiveMaximum", kw_bound, B_EXCLUSIVE_MAXIMUM},
	{"minimum", kw_bound, B_MINIMUM},
	{"exclusiveMinimum", kw_bound, B_EXCLUSIVE_MINIMUM},
	{"maxLength", kw_limit, L_MAX_LENGTH},
	{"minLength", kw_limit, L_MIN_LENGTH},
	{"pattern", kw_pattern, 0},
	{"format", kw_format, 0},
	{"items", kw_items, 0},
	{"additionalItems", kw_schema, FIELD(additional_items)},
	{"maxItems", kw_limit, L_MAX_ITEMS},
	{"minItems", kw_limit, L_MIN_ITEMS},
	{"uniqueItems", kw_unique_items, 0},
	{"contains", kw_schema, FIELD(contains)},
	{"maxProperties", kw_limit, L_MAX_PROPERTIES},
	{"minProperties", kw_limit, L_MIN_PROPERTIES},
	{"required", kw_required, 0},
	{"properties", kw_properties, 0},
	{"patternProperties", kw_pattern_properties, 0},
	{"additionalProperties", kw_schema, FIELD(additional_properties)},
	{"dependencies", kw_dependencies, 0},
	{"propertyNames", kw_schema, FIELD(property_names)},
	{"if", kw_schema, FIELD(if_schema)},
	{"then", kw_schema, FIELD(then_schema)},
	{"else", kw_schema, FIELD(else_schema)},
	{"allOf", kw_schema_list, FIELD(all_of)},
	{"anyOf", kw_schema_list, FIELD(any_of)},
	{"oneOf", kw_schema_list, FIELD(one_of)},
	{"not", kw_schema, FIELD(not_schema)},
	{"$ref", kw_ref, 0},
	{"definitions", kw_definitions, 0},
	{"$id", kw_string, 0},
	{"$schema", kw_string, 0},
	{"$comment", kw_string, 0},
	{"title", kw_string, 0},
	{"description", kw_string, 0},
	{"default", kw_any, 0},
	{"examples", kw_examples, 0},
	{"readOnly", kw_boolean, 0},
	{"writeOnly", kw_boolean, 0},
	{"contentMediaType", kw_string, 0},
	{"contentEncoding", kw_string, 0},
};
#define KEYWORD_COUNT (sizeof KEYWORDS / sizeof KEYWORDS[0])

const char *tjs_supported_keywords(void)
{
	return "type,enum,const,multipleOf,maximum,exclusiveMaximum,minimum,exclusiveMinimum,maxLength,minLength,"
	       "pattern,format,items,additionalItems,maxItems,minItems,uniqueItems,contains,maxProperties,"
	       "minProperties,required,properties,patternProperties,additionalProperties,dependencies,"
	       "propertyNames,if,then,else,allOf,anyOf,oneOf,not,$ref,definitions,$id,$schema,$comment,title,"
	       "description,default,examples,readOnly,writeOnly,contentMediaType,contentEncoding";
}

/* The draft-4 boolean exclusiveMinimum/exclusiveMaximum make minimum/maximum exclusive. */
static void apply_draft4_exclusive(tjs_node *s)
{
	for (int i = 0; i < 2; i++) {
		int plain = i ? B_MAXIMUM : B_MINIMUM, strict = i ? B_EXCLUSIVE_MAXIMUM : B_EXCLUSIVE_MINIMUM;
		if (!s->exclusive_bool[i] || !(s->has_bound & (1u << plain)) || (s->has_bound & (1u << strict)))
			continue;
		s->bound[strict] = s->bound[plain];
		s->has_bound = (s->has_bound & ~(1u << plain)) | (1u << strict);
	}
}

static int compile_keywords(tjs_node *s, const cJSON *json, const tjs_site *base_site)
{
	uint64_t seen = 0;
	for (const cJSON *m = json->child; m; m = m->next) {
		const char *name = m->string ? m->string : "";
		size_t k = 0;
		while (k < KEYWORD_COUNT && strcmp(KEYWORDS[k].name, name) != 0)
			k++;
		int rc;
		if (k == KEYWORD_COUNT) {
			char what[160];
			snprintf(what, sizeof what, "unknown keyword \"%.100s\"", name);
			if ((rc = note_ignored(base_site->c, what, base_site->at, " is ignored")))
				return rc;
			continue;
		}
		if (seen & ((uint64_t)1 << k))
			return schema_error(base_site->at, "duplicate", name);
		seen |= (uint64_t)1 << k;
		tjs_site site = *base_site;
		site.keyword = KEYWORDS[k].name;
		site.slot = KEYWORDS[k].slot;
		if ((rc = KEYWORDS[k].compile(s, m, &site)))
			return rc;
	}
	apply_draft4_exclusive(s);
	return 0;
}

static int compile_node(compiler *c, tjs_node *node, const cJSON *json, const char *parent_base,
                        const tjs_seg *at, int depth)
{
	char msg[96];
	if (depth > TJS_MAX_DEPTH) {
		snprintf(msg, sizeof msg, "JSON Schema nested more than %d levels deep", TJS_MAX_DEPTH);
		return schema_error(at, msg, NULL);
	}
	if (cJSON_IsBool(json)) {
		node->verdict = cJSON_IsTrue(json);
		return TASKER_OK;
	}
	if (!cJSON_IsObject(json)) {
		snprintf(msg, sizeof msg, "a JSON Schema must be an object or a boolean, got %s", json_kind(json));
		return schema_error(at, msg, NULL);
	}
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(json, "$ref");
	tjs_site site = {c, "$ref", 0, at, depth, parent_base};
	if (ref) /* draft 7: the siblings of $ref are ignored, "$id" included */
		return kw_ref(node, ref, &site);
	char *base = inner_base(json, parent_base);
	if (!base)
		return tasker_set_oom();
	site.base = base;
	int rc = compile_keywords(node, json, &site);
	free(base);
	return rc;
}

/* ------------------------------------------------------------------ checks at compile end */

/* The k-th subschema that applies to the same value as `n` itself (not to a part of it): *out, or 0
 * when k is past the last one. */
static int inplace_edge(const tjs_node *n, size_t k, tjs_node **out)
{
	tjs_node *single[] = {n->ref, n->not_schema, n->if_schema, n->then_schema, n->else_schema};
	const tjs_list *lists[] = {&n->all_of, &n->any_of, &n->one_of};
	*out = NULL;
	if (k < 5) {
		*out = single[k];
		return 1;
	}
	k -= 5;
	for (size_t i = 0; i < 3; i++) {
		if (k < lists[i]->n) {
			*out = lists[i]->v[k];
			return 1;
		}
		k -= lists[i]->n;
	}
	if (k < n->ndependencies) {
		*out = n->dependencies[k].schema;
		return 1;
	}
	return 0;
}

/* Refuses a cycle of subschemas that apply to the same value ({"$ref": "#"} in "allOf", two definitions
 * referring to each other): validating with it would never end. Depth-first, with an explicit stack. */
static int check_cycles(tjs_schema *out)
{
	typedef struct {
		tjs_node *node;
		size_t k;
	} frame;
	frame *stack = malloc((out->nnodes + 1) * sizeof *stack);
	if (!stack)
		return tasker_set_oom();
	int rc = TASKER_OK;
	for (size_t i = 0; i < out->nnodes && !rc; i++) {
		if (out->nodes[i]->color)
			continue;
		size_t top = 0;
		stack[top++] = (frame){out->nodes[i], 0};
		out->nodes[i]->color = 1;
		while (top && !rc) {
			frame *f = &stack[top - 1];
			tjs_node *next;
			if (!inplace_edge(f->node, f->k++, &next)) {
				f->node->color = 2;
				top--;
			} else if (next && next->color == 1) {
				rc = tasker_set_error(TASKER_EINVAL,
				                      "JSON Schema $ref cycle at %s: the schema applies itself to the same "
				                      "value without going into it, so validation would never end",
				                      next->where);
			} else if (next && !next->color) {
				next->color = 1;
				stack[top++] = (frame){next, 0};
			}
		}
	}
	free(stack);
	return rc;
}

static void compiler_free(compiler *c)
{
	for (size_t i = 0; i < c->nresources; i++) {
		free(c->resources[i].uri);
		free(c->resources[i].parent_base);
	}
	for (size_t i = 0; i < c->nanchors; i++) {
		free(c->anchors[i].uri);
		free(c->anchors[i].parent_base);
	}
	for (size_t i = 0; i < c->ntodo; i++)
		free(c->todo[i].parent_base);
	free(c->resources);
	free(c->anchors);
	free(c->cache);
	free(c->todo);
	cJSON_Delete(c->meta);
}

static int compile_all(compiler *c, const cJSON *schema)
{
	int rc = TASKER_OK;
	const cJSON *id = cJSON_IsObject(schema) ? cJSON_GetObjectItemCaseSensitive(schema, "$id") : NULL;
	if (!cJSON_IsString(id) || cJSON_GetObjectItemCaseSensitive(schema, "$ref"))
		rc = add_resource(&c->resources, &c->nresources, &c->capresources, TJS_DEFAULT_BASE, schema,
		                  TJS_DEFAULT_BASE);
	if (!rc)
		rc = scan(c, schema, TJS_DEFAULT_BASE, 0);
	const tjs_site root = {c, NULL, 0, NULL, -1, TJS_DEFAULT_BASE};
	if (!rc)
		rc = child(&c->out->root, &root, schema, NULL);
	while (!rc && c->ntodo) {
		pending p = c->todo[--c->ntodo];
		const tjs_seg at = {NULL, p.node->where, 0, 1};
		rc = compile_node(c, p.node, p.json, p.parent_base, &at, 0);
		free(p.parent_base);
	}
	return rc ? rc : check_cycles(c->out);
}

int tjs_compile(tjs_schema **out, const cJSON *schema)
{
	if (!out)
		return tasker_set_error(TASKER_EINVAL, "tjs_compile: out must not be NULL");
	*out = NULL;
	if (!schema)
		return tasker_set_error(TASKER_EINVAL, "tjs_compile: schema must not be NULL");
	compiler c = {0};
	if (!(c.out = calloc(1, sizeof *c.out)))
		return tasker_set_oom();
	int rc = compile_all(&c, schema);
	compiler_free(&c);
	if (rc) {
		tjs_free(c.out);
		return rc;
	}
	*out = c.out;
	return TASKER_OK;
}

/* ------------------------------------------------------------------ equality and hashing */

static int cmp_member(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

static int json_equal(const cJSON *a, const cJSON *b);

/* Objects as sets of members (member order does not matter): both sorted by name, then compared in
 * step, so a comparison costs O(n log n), not O(n²). -1 when out of memory. */
static int objects_equal(const cJSON *a, const cJSON *b)
{
	size_t n = 0, m = 0;
	for (const cJSON *x = a->child; x; x = x->next)
		n++;
	for (const cJSON *x = b->child; x; x = x->next)
		m++;
	if (n != m)
		return 0;
	if (n == 0)
		return 1;
	const cJSON **sa = malloc(n * sizeof *sa), **sb = malloc(n * sizeof *sb);
	int eq = sa && sb ? 1 : -1;
	size_t i = 0;
	for (const cJSON *x = a->child, *y = b->child; eq > 0 && x; x = x->next, y = y->next, i++) {
		sa[i] = x;
		sb[i] = y;
	}
	if (eq > 0) {
		qsort(sa, n, sizeof *sa, cmp_member);
		qsort(sb, n, sizeof *sb, cmp_member);
	}
	for (i = 0; eq > 0 && i < n; i++)
		eq = cmp_member(&sa[i], &sb[i]) != 0 ? 0 : json_equal(sa[i], sb[i]);
	free(sa);
	free(sb);
	if (eq < 0)
		tasker_set_oom();
	return eq;
}

/* Deep JSON equality: numbers by value (1 == 1.0), objects regardless of member order. 1, 0, or -1 when
 * out of memory (error set). */
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
		for (a = a->child, b = b->child; a && b; a = a->next, b = b->next) {
			int eq = json_equal(a, b);
			if (eq <= 0)
				return eq;
		}
		return !a && !b;
	case cJSON_Object:
		return objects_equal(a, b);
	default:
		return 1; /* null, true, false */
	}
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDULL;
	h ^= h >> 33;
	h *= 0xC4CEB9FE1A85EC53ULL;
	return h ^ (h >> 33);
}

static uint64_t hash_text(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* A hash that agrees with json_equal: equal values hash alike (numbers by value, members in any order). */
static uint64_t json_hash(const cJSON *v)
{
	uint64_t h = (uint64_t)(v->type & 0xFF);
	switch (v->type & 0xFF) {
	case cJSON_Number: {
		double d = v->valuedouble == 0 ? 0 : v->valuedouble; /* -0 == 0 */
		uint64_t bits;
		memcpy(&bits, &d, sizeof bits);
		return mix(h ^ bits);
	}
	case cJSON_String:
	case cJSON_Raw:
		return mix(h ^ hash_text(v->valuestring));
	case cJSON_Array:
		for (const cJSON *c = v->child; c; c = c->next)
			h = mix(h * 31 + json_hash(c));
		return h;
	case cJSON_Object: {
		uint64_t sum = 0;
		for (const cJSON *c = v->child; c; c = c->next)
			sum += mix(hash_text(c->string) ^ (json_hash(c) * 0x9E3779B97F4A7C15ULL));
		return mix(h ^ sum);
	}
	default:
		return mix(h);
	}
}

/* ------------------------------------------------------------------ validation */

/* The result of a shared node (a $ref target) for one value, so it is computed once per value. */
typedef struct {
	const tjs_node *node;
	const cJSON *value;
	int rc;
	char *msg;                   /* the failure message, when it was computed loudly */
} memo_slot;

typedef struct {
	memo_slot *slots;            /* open addressing; NULL node = empty */
	size_t n, cap;
	int depth;
} vstate;

/* A failure at `at`: TASKER_ECONTEXT with "<path>: <what>", or just the code when `quiet` (inside anyOf,
 * oneOf, not, if, contains, propertyNames: the message would be thrown away). */
static int vfail(int quiet, const tjs_seg *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int vfail(int quiet, const tjs_seg *at, const char *fmt, ...)
{
	if (quiet)
		return TASKER_ECONTEXT;
	char path[1024], what[1024];
	sbuf b = {path, sizeof path, 0};
	va_list ap;
	sb_path(&b, at);
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return tasker_set_error(TASKER_ECONTEXT, "%s: %s", path, what);
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

static int fail_type(unsigned expected, unsigned got, const tjs_seg *at, int quiet)
{
	char list[128];
	sbuf b = {list, sizeof list, 0};
	unsigned left = expected;
	if (quiet)
		return TASKER_ECONTEXT;
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
	return vfail(0, at, "expected %s, got %s", list, name);
}

/* "value is not one of <json>": the schema's own values, shortened if long. */
static int fail_listing(const tjs_seg *at, int quiet, const char *what, const cJSON *values)
{
	if (quiet)
		return TASKER_ECONTEXT;
	char *text = cJSON_PrintUnformatted(values);
	int rc;
	if (!text)
		return vfail(0, at, "%s", what);
	if (strlen(text) > 200)
		rc = vfail(0, at, "%s %.200s...", what, text);
	else
		rc = vfail(0, at, "%s %s", what, text);
	free(text);
	return rc;
}

static int check_enum_const(const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	int eq;
	if (s->const_value && (eq = json_equal(v, s->const_value)) <= 0)
		return eq < 0 ? TASKER_ENOMEM : fail_listing(at, quiet, "value does not equal const", s->const_value);
	if (!s->enum_values)
		return 0;
	for (const cJSON *e = s->enum_values->child; e; e = e->next)
		if ((eq = json_equal(v, e)) != 0)
			return eq < 0 ? TASKER_ENOMEM : 0;
	return fail_listing(at, quiet, "value is not one of enum", s->enum_values);
}

/* x is a multiple of m when x / m is an integer up to the rounding of the division itself (3 units in
 * the last place), so 19.99 is a multiple of 0.01 although neither is exact in binary. */
static int is_multiple(double x, double m)
{
	double q = x / m;
	if (!isfinite(q))
		return 0;
	double r = round(q);
	return fabs(q - r) <= 3 * (nextafter(fabs(q), INFINITY) - fabs(q));
}

static int check_number(const tjs_node *s, double x, const tjs_seg *at, int quiet)
{
	char lim[32];
	for (int b = 0; b < BOUND_COUNT; b++) {
		if (!(s->has_bound & (1u << b)))
			continue;
		double l = s->bound[b];
		int ok = b == B_MINIMUM ? x >= l : b == B_MAXIMUM ? x <= l : b == B_EXCLUSIVE_MINIMUM ? x > l : x < l;
		if (!ok)
			return vfail(quiet, at, "%s %s %s", BOUND_BREACH[b], BOUND_NAMES[b], fmt_number(lim, l));
	}
	if (s->multiple_of > 0 && !is_multiple(x, s->multiple_of))
		return vfail(quiet, at, "not a multiple of %s (multipleOf)", fmt_number(lim, s->multiple_of));
	return 0;
}

static int check_string(const tjs_node *s, const char *str, const tjs_seg *at, int quiet)
{
	char lim[32];
	int rc, matched;
	if (s->has_limit & ((1u << L_MIN_LENGTH) | (1u << L_MAX_LENGTH))) {
		size_t n = tutf8_count(str);
		if ((s->has_limit & (1u << L_MIN_LENGTH)) && (double)n < s->limit[L_MIN_LENGTH])
			return vfail(quiet, at, "string of %zu characters is shorter than minLength %s", n,
			             fmt_number(lim, s->limit[L_MIN_LENGTH]));
		if ((s->has_limit & (1u << L_MAX_LENGTH)) && (double)n > s->limit[L_MAX_LENGTH])
			return vfail(quiet, at, "string of %zu characters is longer than maxLength %s", n,
			             fmt_number(lim, s->limit[L_MAX_LENGTH]));
	}
	if (s->pattern) {
		if ((rc = trx_search(s->pattern, str, &matched)))
			return rc;
		if (!matched) {
			char quoted[256];
			sbuf q = {quoted, sizeof quoted, 0};
			if (quiet)
				return TASKER_ECONTEXT;
			sb_quoted(&q, trx_source(s->pattern));
			return vfail(0, at, "string does not match pattern %s", quoted);
		}
	}
	if (s->format != TFMT_UNCHECKED && !tfmt_valid(s->format, str))
		return vfail(quiet, at, "not %s (format \"%s\")", tfmt_description(s->format), tfmt_name(s->format));
	return 0;
}

static int validate(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet);

typedef struct {
	uint64_t hash;
	size_t index;
	const cJSON *item;
} hashed_item;

static int cmp_hashed(const void *a, const void *b)
{
	const hashed_item *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* uniqueItems in O(n log n): items sorted by hash, only items with equal hashes compared. */
static int check_unique(const cJSON *v, size_t n, const tjs_seg *at, int quiet)
{
	if (n < 2)
		return 0;
	hashed_item *h = malloc(n * sizeof *h);
	if (!h)
		return tasker_set_oom();
	size_t i = 0;
	for (const cJSON *e = v->child; e; e = e->next, i++)
		h[i] = (hashed_item){json_hash(e), i, e};
	qsort(h, n, sizeof *h, cmp_hashed);
	int rc = 0;
	for (size_t a = 0; a < n && !rc; a++) {
		for (size_t b = a + 1; b < n && h[b].hash == h[a].hash && !rc; b++) {
			int eq = json_equal(h[a].item, h[b].item);
			if (eq < 0)
				rc = TASKER_ENOMEM;
			else if (eq)
				rc = vfail(quiet, at, "items %zu and %zu are equal (uniqueItems)", h[a].index, h[b].index);
		}
	}
	free(h);
	return rc;
}

static int check_contains(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	size_t i = 0;
	for (const cJSON *e = v->child; e; e = e->next, i++) {
		const tjs_seg seg = {at, NULL, i, 0};
		int rc = validate(vs, s->contains, e, &seg, 1);
		if (rc != TASKER_ECONTEXT)
			return rc;
	}
	return vfail(quiet, at, "no item matches the schema of contains");
}

static int check_array(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	char lim[32];
	size_t n = 0;
	int rc;
	for (const cJSON *e = v->child; e; e = e->next)
		n++;
	if ((s->has_limit & (1u << L_MIN_ITEMS)) && (double)n < s->limit[L_MIN_ITEMS])
		return vfail(quiet, at, "array of %zu items has fewer than minItems %s", n,
		             fmt_number(lim, s->limit[L_MIN_ITEMS]));
	if ((s->has_limit & (1u << L_MAX_ITEMS)) && (double)n > s->limit[L_MAX_ITEMS])
		return vfail(quiet, at, "array of %zu items has more than maxItems %s", n,
		             fmt_number(lim, s->limit[L_MAX_ITEMS]));
	if (s->unique_items && (rc = check_unique(v, n, at, quiet)))
		return rc;
	size_t i = 0;
	for (const cJSON *e = v->child; e && (s->items || s->item_list.n); e = e->next, i++) {
		const tjs_node *item = s->items ? s->items : i < s->item_list.n ? s->item_list.v[i] : s->additional_items;
		const tjs_seg seg = {at, NULL, i, 0};
		if (!item)
			break;
		if (item->verdict == 0 && item == s->additional_items)
			return vfail(quiet, &seg, "item is not allowed (additionalItems is false)");
		if ((rc = validate(vs, item, e, &seg, quiet)))
			return rc;
	}
	return s->contains ? check_contains(vs, s, v, at, quiet) : 0;
}

static const tjs_property *find_property(const tjs_node *s, const char *name)
{
	size_t lo = 0, hi = s->nproperties;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->properties[mid].name, name);
		if (c == 0)
			return &s->properties[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* One member of an object: its "properties" schema, every matching "patternProperties" schema, and
 * "additionalProperties" when neither applied; then "propertyNames" on its name. */
static int check_member(vstate *vs, const tjs_node *s, const cJSON *m, const char *name, const tjs_seg *at,
                        int quiet)
{
	int applied = 0, rc, hit;
	const tjs_property *p = s->nproperties ? find_property(s, name) : NULL;
	if (p) {
		if ((rc = validate(vs, p->schema, m, at, quiet)))
			return rc;
		applied = 1;
	}
	for (size_t i = 0; i < s->npattern_properties; i++) {
		if ((rc = trx_search(s->pattern_properties[i].re, name, &hit)))
			return rc;
		if (hit && (rc = validate(vs, s->pattern_properties[i].schema, m, at, quiet)))
			return rc;
		applied |= hit;
	}
	if (!applied && s->additional_properties) {
		if (s->additional_properties->verdict == 0)
			return vfail(quiet, at, "property is not allowed (additionalProperties is false)");
		if ((rc = validate(vs, s->additional_properties, m, at, quiet)))
			return rc;
	}
	if (s->property_names) {
		cJSON key = {0};
		key.type = cJSON_String;
		key.valuestring = (char *)name;
		rc = validate(vs, s->property_names, &key, at, 1);
		if (rc == TASKER_ECONTEXT)
			return vfail(quiet, at, "property name is not allowed by propertyNames");
		if (rc)
			return rc;
	}
	return 0;
}

static int check_dependencies(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	for (size_t i = 0; i < s->ndependencies; i++) {
		const tjs_dependency *d = &s->dependencies[i];
		if (!cJSON_GetObjectItemCaseSensitive(v, d->name))
			continue;
		for (size_t k = 0; k < d->nrequired; k++) {
			if (cJSON_GetObjectItemCaseSensitive(v, d->required[k]))
				continue;
			char need[256], by[256];
			sbuf a = {need, sizeof need, 0}, b = {by, sizeof by, 0};
			if (quiet)
				return TASKER_ECONTEXT;
			sb_quoted(&a, d->required[k]);
			sb_quoted(&b, d->name);
			return vfail(0, at, "property %s is required when %s is present (dependencies)", need, by);
		}
		int rc = d->schema ? validate(vs, d->schema, v, at, quiet) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

static int check_object(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	char lim[32];
	size_t n = 0;
	for (const cJSON *m = v->child; m; m = m->next)
		n++;
	if ((s->has_limit & (1u << L_MIN_PROPERTIES)) && (double)n < s->limit[L_MIN_PROPERTIES])
		return vfail(quiet, at, "object of %zu properties has fewer than minProperties %s", n,
		             fmt_number(lim, s->limit[L_MIN_PROPERTIES]));
	if ((s->has_limit & (1u << L_MAX_PROPERTIES)) && (double)n > s->limit[L_MAX_PROPERTIES])
		return vfail(quiet, at, "object of %zu properties has more than maxProperties %s", n,
		             fmt_number(lim, s->limit[L_MAX_PROPERTIES]));
	for (size_t i = 0; i < s->nrequired; i++) {
		if (!cJSON_GetObjectItemCaseSensitive(v, s->required[i])) {
			char name[256];
			sbuf b = {name, sizeof name, 0};
			if (quiet)
				return TASKER_ECONTEXT;
			sb_quoted(&b, s->required[i]);
			return vfail(0, at, "required property %s is missing", name);
		}
	}
	int rc = check_dependencies(vs, s, v, at, quiet);
	if (rc || (!s->nproperties && !s->npattern_properties && !s->additional_properties && !s->property_names))
		return rc;
	for (const cJSON *m = v->child; m; m = m->next) {
		const char *name = m->string ? m->string : "";
		const tjs_seg seg = {at, name, 0, 0};
		if ((rc = check_member(vs, s, m, name, &seg, quiet)))
			return rc;
	}
	return 0;
}

/* Counts the subschemas of a list the value matches, stopping once `enough` match. */
static int count_matches(vstate *vs, const tjs_list *list, const cJSON *v, const tjs_seg *at, size_t enough,
                         size_t *matched, size_t first[2])
{
	*matched = 0;
	for (size_t i = 0; i < list->n && *matched < enough; i++) {
		int rc = validate(vs, list->v[i], v, at, 1);
		if (rc == 0) {
			if (*matched < 2)
				first[*matched] = i;
			(*matched)++;
		} else if (rc != TASKER_ECONTEXT) {
			return rc;
		}
	}
	return 0;
}

/* allOf, anyOf, oneOf, not, if/then/else: the subschemas that apply to the value itself. */
static int check_applicators(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	int rc;
	size_t matched, first[2];
	for (size_t i = 0; i < s->all_of.n; i++)
		if ((rc = validate(vs, s->all_of.v[i], v, at, quiet)))
			return rc;
	if (s->any_of.n) {
		if ((rc = count_matches(vs, &s->any_of, v, at, 1, &matched, first)))
			return rc;
		if (!matched)
			return vfail(quiet, at, "matches none of the %zu schemas of anyOf", s->any_of.n);
	}
	if (s->one_of.n) {
		if ((rc = count_matches(vs, &s->one_of, v, at, 2, &matched, first)))
			return rc;
		if (matched == 0)
			return vfail(quiet, at, "matches none of the %zu schemas of oneOf", s->one_of.n);
		if (matched > 1)
			return vfail(quiet, at, "matches schemas %zu and %zu of oneOf, not exactly one", first[0], first[1]);
	}
	if (s->not_schema) {
		rc = validate(vs, s->not_schema, v, at, 1);
		if (rc == 0)
			return vfail(quiet, at, "matches the schema of not");
		if (rc != TASKER_ECONTEXT)
			return rc;
	}
	if (s->if_schema && (s->then_schema || s->else_schema)) {
		rc = validate(vs, s->if_schema, v, at, 1);
		if (rc != 0 && rc != TASKER_ECONTEXT)
			return rc;
		const tjs_node *branch = rc == 0 ? s->then_schema : s->else_schema;
		if (branch)
			return validate(vs, branch, v, at, quiet);
	}
	return 0;
}

static int validate_node(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	if (s->verdict == 0)
		return vfail(quiet, at, "no value is allowed here (the schema is false)");
	if (s->verdict == 1)
		return 0;
	if (s->ref)
		return validate(vs, s->ref, v, at, quiet);
	unsigned t = instance_types(v);
	int rc;
	if (s->types && !(s->types & t))
		return fail_type(s->types, t, at, quiet);
	if ((rc = check_enum_const(s, v, at, quiet)))
		return rc;
	if (t & T_NUMBER)
		rc = check_number(s, v->valuedouble, at, quiet);
	else if (t & T_STRING)
		rc = check_string(s, v->valuestring, at, quiet);
	else if (t & T_ARRAY)
		rc = check_array(vs, s, v, at, quiet);
	else if (t & T_OBJECT)
		rc = check_object(vs, s, v, at, quiet);
	return rc ? rc : check_applicators(vs, s, v, at, quiet);
}

static size_t memo_index(const vstate *vs, const tjs_node *s, const cJSON *v)
{
	uint64_t h = mix((uint64_t)(uintptr_t)s * 31 + (uint64_t)(uintptr_t)v);
	size_t i = (size_t)h & (vs->cap - 1);
	while (vs->slots[i].node && (vs->slots[i].node != s || vs->slots[i].value != v))
		i = (i + 1) & (vs->cap - 1);
	return i;
}

static int memo_grow(vstate *vs)
{
	if ((vs->n + 1) * 2 <= vs->cap)
		return TASKER_OK;
	vstate bigger = {calloc(vs->cap ? vs->cap * 2 : 64, sizeof(memo_slot)), 0, vs->cap ? vs->cap * 2 : 64, 0};
	if (!bigger.slots)
		return tasker_set_oom();
	for (size_t i = 0; i < vs->cap; i++)
		if (vs->slots[i].node)
			bigger.slots[memo_index(&bigger, vs->slots[i].node, vs->slots[i].value)] = vs->slots[i];
	free(vs->slots);
	vs->slots = bigger.slots;
	vs->cap = bigger.cap;
	return TASKER_OK;
}

/* Records the result of a shared node for a value (a failure's message when it was computed loudly). */
static int memo_store(vstate *vs, const tjs_node *s, const cJSON *v, int rc, int quiet)
{
	if (memo_grow(vs))
		return TASKER_ENOMEM;
	memo_slot *slot = &vs->slots[memo_index(vs, s, v)];
	if (!slot->node) {
		*slot = (memo_slot){s, v, rc, NULL};
		vs->n++;
	}
	if (rc == TASKER_ECONTEXT && !quiet && !slot->msg && !(slot->msg = strdup(tasker_error_last()->message)))
		return tasker_set_oom();
	return rc;
}

static int validate(vstate *vs, const tjs_node *s, const cJSON *v, const tjs_seg *at, int quiet)
{
	if (vs->depth >= TJS_MAX_VALIDATION_DEPTH)
		return vfail(quiet, at, "nested more than %d levels deep for this schema", TJS_MAX_VALIDATION_DEPTH);
	if (s->shared && vs->cap) {
		const memo_slot *m = &vs->slots[memo_index(vs, s, v)];
		if (m->node && (m->rc == 0 || quiet))
			return m->rc;
		if (m->node && m->msg)
			return tasker_set_error(TASKER_ECONTEXT, "%s", m->msg);
	}
	vs->depth++;
	int rc = validate_node(vs, s, v, at, quiet);
	vs->depth--;
	if (!s->shared || (rc != 0 && rc != TASKER_ECONTEXT))
		return rc;
	return memo_store(vs, s, v, rc, quiet);
}

int tjs_validate(const tjs_schema *schema, const cJSON *instance)
{
	if (!schema || !instance)
		return tasker_set_error(TASKER_EINVAL, "tjs_validate: schema and instance must not be NULL");
	vstate vs = {0};
	int rc = validate(&vs, schema->root, instance, NULL, 0);
	for (size_t i = 0; i < vs.cap; i++)
		free(vs.slots[i].msg);
	free(vs.slots);
	return rc;
}
