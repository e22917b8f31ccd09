/*
 * config.c — owns tasker_config: defaults, validation, the YAML reader (libyaml's document API,
 * nothing shared with other YAML code), TASKER_* environment variables and the YAML dump. Every
 * option is one row of OPTS, so the file reader, the environment, validation and the dump cannot
 * disagree about a name, a type or a range. Never keeps global state and never touches *c on failure:
 * changes are made to a copy that replaces *c only when everything applied.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "logging.h"
#include "util.h"
#include "yamljson.h"

typedef enum {
	OPT_INT,         /* int, >= min */
	OPT_NUMBER,      /* double in [lo, hi] (lo excluded when lo_open) */
	OPT_BOOL,        /* int 0/1 */
	OPT_STRING,      /* char *, NULL allowed */
	OPT_IDENTITY,    /* tasker_identity_strategy: "default" or "hash" */
	OPT_INT_LIST,    /* int[TASKER_CONFIG_BACKOFF_TABLE_MAX] + size_t count, entries >= min */
	OPT_STRING_LIST, /* char ** + size_t count, entries non-empty */
} opt_kind;

typedef struct {
	const char *path;  /* "section.key" as written in files */
	const char *alias; /* NULL, or the canonical path this Rails name also sets */
	opt_kind kind;
	size_t off;        /* the field in tasker_config */
	size_t count_off;  /* list kinds: the count field */
	long min;          /* OPT_INT and OPT_INT_LIST entries */
	double lo, hi;     /* OPT_NUMBER */
	int lo_open;
} opt_desc;

#define F(member) offsetof(tasker_config, member)
#define INT_OPT(path, member, min) {path, NULL, OPT_INT, F(member), 0, min, 0, 0, 0}

static const opt_desc OPTS[] = {
	{"backoff.default_backoff_seconds", NULL, OPT_INT_LIST, F(backoff.default_backoff_seconds),
	 F(backoff.default_backoff_seconds_count), 0, 0, 0, 0},
	INT_OPT("backoff.max_backoff_seconds", backoff.max_backoff_seconds, 1),
	{"backoff.backoff_multiplier", NULL, OPT_NUMBER, F(backoff.backoff_multiplier), 0, 0, 0, HUGE_VAL, 1},
	{"backoff.jitter_enabled", NULL, OPT_BOOL, F(backoff.jitter_enabled), 0, 0, 0, 0, 0},
	{"backoff.jitter_max_percentage", NULL, OPT_NUMBER, F(backoff.jitter_max_percentage), 0, 0, 0, 1, 0},
	INT_OPT("backoff.reenqueue_delays.has_ready_steps", backoff.reenqueue_delays.has_ready_steps, 0),
	INT_OPT("backoff.reenqueue_delays.waiting_for_dependencies",
	        backoff.reenqueue_delays.waiting_for_dependencies, 0),
	INT_OPT("backoff.reenqueue_delays.processing", backoff.reenqueue_delays.processing, 0),
	INT_OPT("backoff.default_reenqueue_delay", backoff.default_reenqueue_delay, 0),
	INT_OPT("backoff.buffer_seconds", backoff.buffer_seconds, 0),
	INT_OPT("execution.concurrency", execution.concurrency, 1),
	{"execution.max_concurrent_steps_limit", "execution.concurrency", OPT_INT, F(execution.concurrency),
	 0, 1, 0, 0, 0},
	INT_OPT("execution.lease_seconds", execution.lease_seconds, 1),
	INT_OPT("execution.claim_batch_size", execution.claim_batch_size, 1),
	INT_OPT("execution.completion_batch_size", execution.completion_batch_size, 1),
	INT_OPT("execution.completion_flush_ms", execution.completion_flush_ms, 0),
	INT_OPT("execution.poll_interval_ms", execution.poll_interval_ms, 1),
	INT_OPT("execution.step_timeout_seconds", execution.step_timeout_seconds, 0),
	INT_OPT("execution.shutdown_timeout_seconds", execution.shutdown_timeout_seconds, 0),
	{"engine.identity_strategy", NULL, OPT_IDENTITY, F(engine.identity_strategy), 0, 0, 0, 0, 0},
	{"engine.task_template_directories", NULL, OPT_STRING_LIST, F(engine.task_template_directories),
	 F(engine.task_template_directories_count), 0, 0, 0, 0},
	{"engine.task_config_directory", "engine.task_template_directories", OPT_STRING_LIST,
	 F(engine.task_template_directories), F(engine.task_template_directories_count), 0, 0, 0, 0},
	{"engine.environment", NULL, OPT_STRING, F(engine.environment), 0, 0, 0, 0, 0},
	{"engine.strict_templates", NULL, OPT_BOOL, F(engine.strict_templates), 0, 0, 0, 0, 0},
	{"database.url", NULL, OPT_STRING, F(database.url), 0, 0, 0, 0, 0},
	INT_OPT("database.pool_size", database.pool_size, 1),
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

#define SECTIONS "backoff, execution, engine or database"

#define FIELD(cfg, o, type) ((type *)(void *)((char *)(cfg) + (o)->off))
#define COUNT(cfg, o) ((size_t *)(void *)((char *)(cfg) + (o)->count_off))

/* ------------------------------------------------------------------ errors */

/* Where a value came from: a file/string and a line, or an environment variable, or neither
 * (tasker_config_validate). */
typedef struct {
	const char *source;
	size_t line;
	const char *env;
} cfg_where;

static int cfg_fail(const cfg_where *w, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int cfg_fail(const cfg_where *w, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (w && w->env)
		return tasker_set_error(TASKER_ECONFIG, "%s (from %s): %s", path, w->env, msg);
	if (w && w->source)
		return tasker_set_error(TASKER_ECONFIG, "%s:%zu: %s: %s", w->source, w->line, path, msg);
	return tasker_set_error(TASKER_ECONFIG, "%s: %s", path, msg);
}

/* Writes `"text"` into buf (escaped, shortened to fit), for "got ..." in messages. */
static const char *quoted(char *buf, size_t size, const char *s, size_t len)
{
	size_t o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < len && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
		if (i + 1 < len && o + 8 >= size)
			o += (size_t)snprintf(buf + o, size - o, "...");
	}
	snprintf(buf + o, size - o, "\"");
	return buf;
}

static const char *expectation(const opt_desc *o)
{
	switch (o->kind) {
	case OPT_INT: return o->min > 0 ? "a positive integer" : "a non-negative integer";
	case OPT_NUMBER: return o->hi == 1 ? "a number from 0 to 1" : "a positive number";
	case OPT_BOOL: return "true or false";
	case OPT_STRING: return "a string or null";
	case OPT_IDENTITY: return "default or hash";
	case OPT_INT_LIST: return "a list of 1 to 32 non-negative integers";
	case OPT_STRING_LIST: return "a list of directory names";
	}
	return "a value";
}

/* ------------------------------------------------------------------ scalars */

static int parse_int(long long *out, const char *s)
{
	const char *p = s;
	int neg = 0;
	long long v = 0;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!isdigit((unsigned char)*p))
		return 0;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (LLONG_MAX - 9) / 10)
			return 0;
		v = v * 10 + (*p - '0');
	}
	if (*p)
		return 0;
	*out = neg ? -v : v;
	return 1;
}

/* Decimal numbers only: strtod alone would also take "inf", "nan" and hex floats. */
static int parse_number(double *out, const char *s)
{
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return 0;
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	if (*end || errno == ERANGE || !isfinite(d))
		return 0;
	*out = d;
	return 1;
}

/* YAML 1.1 booleans (what Ruby's YAML reads in Rails files); the environment also takes 1/0. */
static int parse_bool(int *out, const char *s, int from_env)
{
	static const char *const yes[] = {"true", "yes", "on", NULL};
	static const char *const no[] = {"false", "no", "off", NULL};
	int value = -1;
	for (int i = 0; yes[i] && value < 0; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			value = 1;
		else if (strcasecmp(s, no[i]) == 0)
			value = 0;
	}
	if (value < 0 && from_env && (strcmp(s, "1") == 0 || strcmp(s, "0") == 0))
		value = s[0] == '1';
	if (value < 0)
		return 0;
	*out = value;
	return 1;
}

/* "default" / "hash"; the Rails engine's symbols (":hash") are accepted too. */
static int parse_identity(tasker_identity_strategy *out, const char *s)
{
	if (*s == ':')
		s++;
	if (strcmp(s, "default") == 0)
		*out = TASKER_IDENTITY_UNIQUE;
	else if (strcmp(s, "hash") == 0)
		*out = TASKER_IDENTITY_HASH;
	else
		return 0;
	return 1;
}

static const char *identity_name(tasker_identity_strategy s)
{
	return s == TASKER_IDENTITY_UNIQUE ? "default" : s == TASKER_IDENTITY_HASH ? "hash" : NULL;
}

/* Range checks, shared by the readers and tasker_config_validate. */
static int check_int(const cfg_where *w, const char *path, const opt_desc *o, long long v)
{
	if (v < o->min || v > INT_MAX)
		return cfg_fail(w, path, "expected %s, got %lld",
		                o->kind == OPT_INT ? expectation(o) : "a non-negative integer", v);
	return TASKER_OK;
}

static int check_number(const cfg_where *w, const char *path, const opt_desc *o, double v)
{
	int low = o->lo_open ? !(v > o->lo) : !(v >= o->lo);
	if (!isfinite(v) || low || v > o->hi)
		return cfg_fail(w, path, "expected %s, got %g", expectation(o), v);
	return TASKER_OK;
}

static int check_list_count(const cfg_where *w, const char *path, const opt_desc *o, size_t n)
{
	if (n == 0)
		return cfg_fail(w, path, "expected %s, got an empty list", expectation(o));
	if (n > TASKER_CONFIG_BACKOFF_TABLE_MAX)
		return cfg_fail(w, path, "expected %s, got %zu entries", expectation(o), n);
	return TASKER_OK;
}

/* Parses one scalar text into the option's field (not lists). `text` is NULL for YAML null. */
static int set_scalar(tasker_config *cfg, const opt_desc *o, const cfg_where *w, const char *path,
                      const char *text, int from_env)
{
	char shown[160];
	long long i;
	double d;
	int b;
	tasker_identity_strategy id;

	switch (o->kind) {
	case OPT_INT:
		if (!text || !parse_int(&i, text))
			break;
		if (check_int(w, path, o, i))
			return TASKER_ECONFIG;
		*FIELD(cfg, o, int) = (int)i;
		return TASKER_OK;
	case OPT_NUMBER:
		if (!text || !parse_number(&d, text))
			break;
		if (check_number(w, path, o, d))
			return TASKER_ECONFIG;
		*FIELD(cfg, o, double) = d;
		return TASKER_OK;
	case OPT_BOOL:
		if (!text || !parse_bool(&b, text, from_env))
			break;
		*FIELD(cfg, o, int) = b;
		return TASKER_OK;
	case OPT_IDENTITY:
		if (!text || !parse_identity(&id, text))
			break;
		*FIELD(cfg, o, tasker_identity_strategy) = id;
		return TASKER_OK;
	case OPT_STRING: {
		char *copy = text ? strdup(text) : NULL;
		if (text && !copy)
			return tasker_set_oom();
		free(*FIELD(cfg, o, char *));
		*FIELD(cfg, o, char *) = copy;
		return TASKER_OK;
	}
	case OPT_INT_LIST:
	case OPT_STRING_LIST:
		break;
	}
	if (!text)
		return cfg_fail(w, path, "expected %s, got null", expectation(o));
	return cfg_fail(w, path, "expected %s, got %s", expectation(o),
	                quoted(shown, sizeof shown, text, strlen(text)));
}

/* One entry of a list option; `idx` is its position (for the message). NULL text = null. */
static int list_entry(const opt_desc *o, const cfg_where *w, const char *path, size_t idx,
                      const char *text, int *out_int)
{
	char where[300], shown[160];
	long long v;
	snprintf(where, sizeof where, "%s[%zu]", path, idx);
	if (o->kind == OPT_INT_LIST) {
		if (!text)
			return cfg_fail(w, where, "expected a non-negative integer, got null");
		if (!parse_int(&v, text))
			return cfg_fail(w, where, "expected a non-negative integer, got %s",
			                quoted(shown, sizeof shown, text, strlen(text)));
		if (check_int(w, where, o, v))
			return TASKER_ECONFIG;
		*out_int = (int)v;
		return TASKER_OK;
	}
	if (!text || !*text)
		return cfg_fail(w, where, "expected a directory name, got %s",
		                text ? "an empty string" : "null");
	return TASKER_OK;
}

/* Replaces a string list option with a copy of texts[0..n). */
static int store_strings(tasker_config *cfg, const opt_desc *o, const char *const *texts, size_t n)
{
	char **list = n ? calloc(n, sizeof *list) : NULL;
	if (n && !list)
		return tasker_set_oom();
	for (size_t i = 0; i < n; i++) {
		if (!(list[i] = strdup(texts[i]))) {
			while (i > 0)
				free(list[--i]);
			free(list);
			return tasker_set_oom();
		}
	}
	char **old = *FIELD(cfg, o, char **);
	for (size_t i = 0; i < *COUNT(cfg, o); i++)
		free(old[i]);
	free(old);
	*FIELD(cfg, o, char **) = list;
	*COUNT(cfg, o) = n;
	return TASKER_OK;
}

static const opt_desc *find_opt(const char *path)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strcmp(OPTS[i].path, path) == 0)
			return &OPTS[i];
	return NULL;
}

/* Whether `path` names a section or a nested group ("backoff", "backoff.reenqueue_delays"). */
static int is_group(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < NOPTS; i++)
		if (strncmp(OPTS[i].path, path, n) == 0 && OPTS[i].path[n] == '.')
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ YAML */

/* The keys of the Rails engine's configuration that tasker-core has no use for: accepted and ignored,
 * with one warning each, so that one file serves both engines. Whole sections, and keys of the
 * sections both engines have. */
static const char *const RAILS_SECTIONS[] = {"auth", "telemetry", "health", "dependency_graph", "cache", NULL};
static const char *const RAILS_KEYS[] = {
	"execution.min_concurrent_steps", "execution.concurrency_cache_duration",
	"execution.batch_timeout_base_seconds", "execution.batch_timeout_per_step_seconds",
	"execution.max_batch_timeout_seconds", "execution.connection_pressure_factors",
	"execution.health_assessment_cache_duration", "execution.connection_health_log_level",
	"engine.task_handler_directory", "engine.default_module_namespace", "engine.identity_strategy_class",
	"engine.custom_events_directories", "database.name", "database.enable_secondary_database", NULL};

/* A parsed file: the tree, where its nodes were written, the scratch config, the warnings so far (logged
 * only if the whole file applies). */
typedef struct {
	const tyj_positions *pos;
	tasker_config *cfg;
	const char *source;
	tbuf warnings;   /* one warning per line */
} yload;

static cfg_where at(const yload *ld, const cJSON *n)
{
	cfg_where w = {ld->source, (size_t)tyj_position(ld->pos, n).line, NULL};
	return w;
}

static void warn(yload *ld, const cJSON *n, const char *path, const char *what)
{
	tbuf_printf(&ld->warnings, "%s:%d: %s: %s\n", ld->source, tyj_position(ld->pos, n).line, path, what);
}

static int listed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* "a mapping", "the string \"x\"", "number 5": what a value is, for "expected ..., got ..." messages. */
static const char *node_kind(char *buf, size_t size, const cJSON *v)
{
	char shown[160];
	if (cJSON_IsObject(v))
		return "a mapping";
	if (cJSON_IsArray(v))
		return "a sequence";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNumber(v))
		snprintf(buf, size, "%.15g", v->valuedouble);
	else
		snprintf(buf, size, "%s", quoted(shown, sizeof shown, v->valuestring, strlen(v->valuestring)));
	return buf;
}

/* Whether a string holds what the option wanted, in quotes ("10" for a number): worth saying so. */
static int quoted_value(const opt_desc *o, const char *text)
{
	long long i;
	double d;
	int b;
	return (o->kind == OPT_INT && parse_int(&i, text)) || (o->kind == OPT_NUMBER && parse_number(&d, text)) ||
	       (o->kind == OPT_BOOL && parse_bool(&b, text, 0));
}

/* Sets a non-list option from a value, typed as the YAML reader typed it (Ruby's rules): a quoted "10"
 * is a string, and saying so beats guessing. */
static int set_from_node(yload *ld, const opt_desc *o, const cJSON *v)
{
	cfg_where w = at(ld, v);
	char got[200], num[64];
	const char *text = NULL;
	if (cJSON_IsNull(v))
		return set_scalar(ld->cfg, o, &w, o->path, NULL, 0);
	switch (o->kind) {
	case OPT_INT:
	case OPT_NUMBER:
		if (cJSON_IsNumber(v) && (o->kind == OPT_NUMBER || floor(v->valuedouble) == v->valuedouble))
			text = num, snprintf(num, sizeof num, "%.17g", v->valuedouble);
		break;
	case OPT_BOOL:
		if (cJSON_IsBool(v))
			text = cJSON_IsTrue(v) ? "true" : "false";
		break;
	default:
		if (cJSON_IsString(v))
			text = v->valuestring;
		break;
	}
	if (!text)
		return cfg_fail(&w, o->path, "expected %s, got %s%s", expectation(o),
		                cJSON_IsString(v) && quoted_value(o, v->valuestring) ? "the string " : "",
		                node_kind(got, sizeof got, v));
	return set_scalar(ld->cfg, o, &w, o->path, text, 0);
}

static int list_from_node(yload *ld, const opt_desc *o, const cJSON *v)
{
	cfg_where w = at(ld, v);
	char got[200];
	if (o->kind == OPT_STRING_LIST && cJSON_IsNull(v))
		return store_strings(ld->cfg, o, NULL, 0);
	if (o->kind == OPT_STRING_LIST && cJSON_IsString(v)) {
		/* A single directory (the Rails engine's task_config_directory is one string). */
		const char *text = v->valuestring;
		if (list_entry(o, &w, o->path, 0, text, NULL))
			return TASKER_ECONFIG;
		return store_strings(ld->cfg, o, &text, 1);
	}
	if (!cJSON_IsArray(v))
		return cfg_fail(&w, o->path, "expected %s, got %s", expectation(o), node_kind(got, sizeof got, v));
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (o->kind == OPT_INT_LIST && check_list_count(&w, o->path, o, n))
		return TASKER_ECONFIG;
	const char **texts = calloc(n ? n : 1, sizeof *texts);
	char (*nums)[32] = calloc(n ? n : 1, sizeof *nums);
	int ints[TASKER_CONFIG_BACKOFF_TABLE_MAX];
	int rc = texts && nums ? TASKER_OK : tasker_set_oom();
	size_t i = 0;
	for (const cJSON *e = v->child; e && rc == TASKER_OK; e = e->next, i++) {
		cfg_where ew = at(ld, e);
		char where[300];
		snprintf(where, sizeof where, "%s[%zu]", o->path, i);
		if (o->kind == OPT_INT_LIST && cJSON_IsNumber(e) && floor(e->valuedouble) == e->valuedouble)
			snprintf(nums[i], sizeof nums[i], "%.17g", e->valuedouble), texts[i] = nums[i];
		else if (o->kind == OPT_STRING_LIST && cJSON_IsString(e))
			texts[i] = e->valuestring;
		else if (!cJSON_IsNull(e))
			rc = cfg_fail(&ew, where, "expected %s, got %s",
			              o->kind == OPT_INT_LIST ? "a non-negative integer" : "a directory name",
			              node_kind(got, sizeof got, e));
		if (rc == TASKER_OK)
			rc = list_entry(o, &ew, o->path, i, texts[i], o->kind == OPT_INT_LIST ? &ints[i] : NULL);
	}
	if (rc == TASKER_OK && o->kind == OPT_INT_LIST) {
		memcpy(FIELD(ld->cfg, o, int), ints, n * sizeof ints[0]);
		*COUNT(ld->cfg, o) = n;
	} else if (rc == TASKER_OK) {
		rc = store_strings(ld->cfg, o, texts, n);
	}
	free(texts);
	free(nums);
	return rc;
}

static int key_path(char *buf, size_t size, const char *prefix, const char *key)
{
	int n = *prefix ? snprintf(buf, size, "%s.%s", prefix, key) : snprintf(buf, size, "%s", key);
	return n >= 0 && (size_t)n < size;
}

/* What a key sets, for spotting duplicates: the option's field, or the group's path. */
static int same_target(const char *a, const char *b)
{
	const opt_desc *oa = find_opt(a), *ob = find_opt(b);
	if (oa && ob)
		return oa->off == ob->off;
	return strcmp(a, b) == 0;
}

/* A section only the Rails engine has: every key in it is ignored, with a warning. */
static void ignore_rails_section(yload *ld, const cJSON *v, const char *path)
{
	char sub[256];
	if (!cJSON_IsObject(v)) {
		warn(ld, v, path, "ignored: a section only the Rails engine uses");
		return;
	}
	for (const cJSON *m = v->child; m; m = m->next)
		if (key_path(sub, sizeof sub, path, m->string))
			warn(ld, m, sub, "ignored: only the Rails engine uses it");
}

static int walk_mapping(yload *ld, const cJSON *map, const char *prefix, int allow_tasker);

/* One key: value pair of a mapping. `path` is the key's full path. */
static int walk_pair(yload *ld, const cJSON *v, const char *path, const char *prefix, int allow_tasker)
{
	cfg_where w = at(ld, v);
	char got[200];
	const opt_desc *o = find_opt(path);
	if (o)
		return (o->kind == OPT_INT_LIST || o->kind == OPT_STRING_LIST) ? list_from_node(ld, o, v)
		                                                                : set_from_node(ld, o, v);
	int tasker = allow_tasker && strcmp(path, "tasker") == 0;
	if (tasker || is_group(path)) {
		if (cJSON_IsNull(v))
			return TASKER_OK;
		if (!cJSON_IsObject(v))
			return cfg_fail(&w, path, "expected a mapping%s, got %s", tasker ? " of sections (" SECTIONS ")" : "",
			                node_kind(got, sizeof got, v));
		return walk_mapping(ld, v, tasker ? "" : path, 0);
	}
	if (!*prefix && listed(RAILS_SECTIONS, path)) {
		ignore_rails_section(ld, v, path);
		return TASKER_OK;
	}
	if (listed(RAILS_KEYS, path)) {
		warn(ld, v, path, "ignored: only the Rails engine uses it");
		return TASKER_OK;
	}
	if (!*prefix)
		return cfg_fail(&w, path, "unknown section (expected %s)", SECTIONS);
	return cfg_fail(&w, path, "unknown key");
}

static int walk_mapping(yload *ld, const cJSON *map, const char *prefix, int allow_tasker)
{
	for (const cJSON *m = map->child; m; m = m->next) {
		cfg_where kw = at(ld, m);
		char path[256], other[256];
		if (!key_path(path, sizeof path, prefix, m->string))
			return cfg_fail(&kw, *prefix ? prefix : "(top level)", "unknown key \"%.60s...\"", m->string);
		for (const cJSON *p = map->child; p != m; p = p->next) {
			if (key_path(other, sizeof other, prefix, p->string) && same_target(path, other))
				return cfg_fail(&kw, path, "sets the same option as %s (line %d)", other,
				                tyj_position(ld->pos, p).line);
		}
		int rc = walk_pair(ld, m, path, prefix, allow_tasker);
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

/* Keys written twice in one mapping: as in Ruby, the later value is used; noted. */
static void note_duplicates(yload *ld)
{
	for (size_t i = 0; i < tyj_duplicate_count(ld->pos); i++) {
		tyj_pos kept, replaced;
		const char *key = tyj_duplicate(ld->pos, i, &kept, &replaced);
		tbuf_printf(&ld->warnings, "%s:%d: %s: written twice (lines %d and %d): the later value is used, as "
		                           "Ruby's YAML reads it\n", ld->source, kept.line, key, replaced.line, kept.line);
	}
}

/* Hands each collected warning line to the host's log handler. */
static void log_warnings(const tbuf *warnings)
{
	for (const char *line = warnings->data; line && *line;) {
		const char *end = strchr(line, '\n');
		tlog_message(TASKER_LOG_WARN, "log.config", 0, 0, "%.*s", (int)(end - line), line);
		line = end + 1;
	}
}

/* Parses one YAML document from text and applies it to *cfg (a scratch copy). Warnings are logged only
 * when everything applied. */
static int apply_yaml(tasker_config *cfg, const char *text, size_t len, const char *source)
{
	cJSON *doc = NULL;
	tyj_positions *pos = NULL;
	int rc = tyj_parse_yaml(&doc, &pos, text, len, source);
	if (rc == TASKER_ENOMEM)
		return rc;
	if (rc) { /* the reader's message, which names source, line and column, as a configuration error */
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", tasker_error_last()->message);
		return tasker_set_error(TASKER_ECONFIG, "%s", msg);
	}
	yload ld = {pos, cfg, source, {0}};
	tbuf_init(&ld.warnings);
	char got[200];
	if (!cJSON_IsNull(doc) && !cJSON_IsObject(doc)) {
		cfg_where w = at(&ld, doc);
		rc = cfg_fail(&w, "(top level)", "expected a mapping of sections (%s), got %s", SECTIONS,
		              node_kind(got, sizeof got, doc));
	} else if (cJSON_IsObject(doc)) {
		note_duplicates(&ld);
		rc = walk_mapping(&ld, doc, "", 1);
	}
	if (rc == TASKER_OK && ld.warnings.oom)
		rc = tasker_set_oom();
	if (rc == TASKER_OK)
		log_warnings(&ld.warnings);
	tbuf_free(&ld.warnings);
	tyj_positions_free(pos);
	cJSON_Delete(doc);
	return rc;
}

/* ------------------------------------------------------------------ environment */

/* "backoff.reenqueue_delays.processing" → "TASKER_BACKOFF_REENQUEUE_DELAYS_PROCESSING". */
static void env_name(char *buf, size_t size, const char *path)
{
	size_t o = (size_t)snprintf(buf, size, "TASKER_");
	for (const char *p = path; *p && o + 1 < size; p++)
		buf[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	buf[o] = '\0';
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* A comma-separated list ("1,2,4" or "[1, 2, 4]"; "a,b" for directories). */
static int list_from_env(tasker_config *cfg, const opt_desc *o, const cfg_where *w, char *text)
{
	char *s = trim(text);
	size_t len = strlen(s);
	if (o->kind == OPT_INT_LIST && len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s[len - 1] = '\0';
		s = trim(s + 1);
	}
	size_t n = *s ? 1 : 0;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	if (o->kind == OPT_INT_LIST && check_list_count(w, o->path, o, n))
		return TASKER_ECONFIG;
	const char **texts = calloc(n ? n : 1, sizeof *texts);
	int ints[TASKER_CONFIG_BACKOFF_TABLE_MAX];
	if (!texts)
		return tasker_set_oom();
	int rc = TASKER_OK;
	char *next = s;
	for (size_t i = 0; i < n && rc == TASKER_OK; i++) {
		char *item = next, *comma = strchr(item, ',');
		if (comma)
			*comma = '\0';
		next = comma ? comma + 1 : item + strlen(item);
		texts[i] = trim(item);
		rc = list_entry(o, w, o->path, i, texts[i], o->kind == OPT_INT_LIST ? &ints[i] : NULL);
	}
	if (rc == TASKER_OK && o->kind == OPT_INT_LIST) {
		memcpy(FIELD(cfg, o, int), ints, n * sizeof ints[0]);
		*COUNT(cfg, o) = n;
	} else if (rc == TASKER_OK) {
		rc = store_strings(cfg, o, texts, n);
	}
	free(texts);
	return rc;
}

static int apply_env_opt(tasker_config *cfg, const opt_desc *o)
{
	char name[128];
	env_name(name, sizeof name, o->path);
	const char *value = getenv(name);
	if (!value || !*value)
		return TASKER_OK;
	cfg_where w = {NULL, 0, name};
	if (o->kind == OPT_STRING)
		return set_scalar(cfg, o, &w, o->path, value, 1);
	char *copy = strdup(value);
	if (!copy)
		return tasker_set_oom();
	int rc = (o->kind == OPT_INT_LIST || o->kind == OPT_STRING_LIST)
	                 ? list_from_env(cfg, o, &w, copy)
	                 : set_scalar(cfg, o, &w, o->path, trim(copy), 1);
	free(copy);
	return rc;
}

/* ------------------------------------------------------------------ lifecycle */

void tasker_config_init(tasker_config *c)
{
	static const int table[] = {1, 2, 4, 8, 16, 32};
	memset(c, 0, sizeof *c);
	c->version = TASKER_CONFIG_VERSION;

	tasker_backoff_config *b = &c->backoff;
	memcpy(b->default_backoff_seconds, table, sizeof table);
	b->default_backoff_seconds_count = sizeof table / sizeof table[0];
	b->max_backoff_seconds = 300;
	b->backoff_multiplier = 2.0;
	b->jitter_enabled = 1;
	b->jitter_max_percentage = 0.1;
	b->reenqueue_delays.has_ready_steps = 0;
	b->reenqueue_delays.waiting_for_dependencies = 45;
	b->reenqueue_delays.processing = 10;
	b->default_reenqueue_delay = 30;
	b->buffer_seconds = 5;

	tasker_execution_config *e = &c->execution;
	e->concurrency = 10;
	e->lease_seconds = 30;
	e->claim_batch_size = 32;
	e->completion_batch_size = 32;
	e->completion_flush_ms = 2;
	e->poll_interval_ms = 1000;
	e->step_timeout_seconds = 0;
	e->shutdown_timeout_seconds = 30;

	c->engine.identity_strategy = TASKER_IDENTITY_UNIQUE;
	c->database.pool_size = 8;
}

void tasker_config_clear(tasker_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->engine.task_template_directories_count; i++)
		free(c->engine.task_template_directories[i]);
	free(c->engine.task_template_directories);
	free(c->engine.environment);
	free(c->database.url);
	tasker_config_init(c);
}

int tasker_config_copy(tasker_config *out, const tasker_config *src)
{
	if (!out || !src || out == src)
		return tasker_set_error(TASKER_EINVAL, "tasker_config_copy: out and src must be two configs");
	*out = *src;
	out->engine.task_template_directories = NULL;
	out->engine.task_template_directories_count = 0;
	out->engine.environment = NULL;
	out->database.url = NULL;
	const opt_desc *dirs = find_opt("engine.task_template_directories");
	int rc = store_strings(out, dirs, (const char *const *)src->engine.task_template_directories,
	                       src->engine.task_template_directories_count);
	if (rc == TASKER_OK && src->engine.environment &&
	    !(out->engine.environment = strdup(src->engine.environment)))
		rc = tasker_set_oom();
	if (rc == TASKER_OK && src->database.url && !(out->database.url = strdup(src->database.url)))
		rc = tasker_set_oom();
	if (rc)
		tasker_config_clear(out);
	return rc;
}

static int check_version(const tasker_config *c, const char *fn)
{
	if (!c)
		return tasker_set_error(TASKER_EINVAL, "%s: the config is NULL", fn);
	if (c->version != TASKER_CONFIG_VERSION)
		return tasker_set_error(TASKER_EINVAL,
		                        "%s: tasker_config version %u is not supported (expected %d); "
		                        "call tasker_config_init first",
		                        fn, c->version, TASKER_CONFIG_VERSION);
	return TASKER_OK;
}

static int validate_opt(const tasker_config *c, const opt_desc *o)
{
	const tasker_config *cfg = c;
	switch (o->kind) {
	case OPT_INT: return check_int(NULL, o->path, o, *FIELD(cfg, o, const int));
	case OPT_NUMBER: return check_number(NULL, o->path, o, *FIELD(cfg, o, const double));
	case OPT_IDENTITY:
		if (!identity_name(*FIELD(cfg, o, const tasker_identity_strategy)))
			return cfg_fail(NULL, o->path, "expected %s, got %d", expectation(o),
			                (int)*FIELD(cfg, o, const tasker_identity_strategy));
		return TASKER_OK;
	case OPT_INT_LIST: {
		size_t n = *COUNT(cfg, o);
		if (check_list_count(NULL, o->path, o, n))
			return TASKER_ECONFIG;
		for (size_t i = 0; i < n; i++) {
			char where[300];
			snprintf(where, sizeof where, "%s[%zu]", o->path, i);
			if (check_int(NULL, where, o, FIELD(cfg, o, const int)[i]))
				return TASKER_ECONFIG;
		}
		return TASKER_OK;
	}
	case OPT_STRING_LIST: {
		char *const *list = *FIELD(cfg, o, char **const);
		for (size_t i = 0; i < *COUNT(cfg, o); i++)
			if (list_entry(o, NULL, o->path, i, list ? list[i] : NULL, NULL))
				return TASKER_ECONFIG;
		return TASKER_OK;
	}
	case OPT_BOOL:
	case OPT_STRING:
		return TASKER_OK;
	}
	return TASKER_OK;
}

int tasker_config_validate(const tasker_config *c)
{
	int rc = check_version(c, "tasker_config_validate");
	for (size_t i = 0; rc == TASKER_OK && i < NOPTS; i++)
		if (!OPTS[i].alias)
			rc = validate_opt(c, &OPTS[i]);
	return rc;
}

/* ------------------------------------------------------------------ loading */

/* Applies YAML text to a copy of *c and swaps it in only on success. */
static int load_buffer(tasker_config *c, const char *text, size_t len, const char *source)
{
	tasker_config tmp;
	int rc = tasker_config_copy(&tmp, c);
	if (rc)
		return rc;
	rc = apply_yaml(&tmp, text, len, source);
	if (rc) {
		tasker_config_clear(&tmp);
		return rc;
	}
	tasker_config_clear(c);
	*c = tmp;
	return TASKER_OK;
}

int tasker_config_load_string(tasker_config *c, const char *yaml, const char *source)
{
	int rc = check_version(c, "tasker_config_load_string");
	if (rc)
		return rc;
	if (!yaml)
		return tasker_set_error(TASKER_EINVAL, "tasker_config_load_string: yaml is NULL");
	return load_buffer(c, yaml, strlen(yaml), source ? source : "<string>");
}

int tasker_config_load_file(tasker_config *c, const char *path)
{
	int rc = check_version(c, "tasker_config_load_file");
	if (rc)
		return rc;
	if (!path)
		return tasker_set_error(TASKER_EINVAL, "tasker_config_load_file: path is NULL");
	char *text = NULL;
	size_t len = 0;
	if ((rc = tfile_read(&text, &len, path, "configuration file", 0, TASKER_ECONFIG)))
		return rc;
	rc = load_buffer(c, text, len, path);
	free(text);
	return rc;
}

int tasker_config_apply_env(tasker_config *c)
{
	int rc = check_version(c, "tasker_config_apply_env");
	if (rc)
		return rc;
	tasker_config tmp;
	if ((rc = tasker_config_copy(&tmp, c)))
		return rc;
	for (size_t i = 0; rc == TASKER_OK && i < NOPTS; i++)
		if (!OPTS[i].alias)
			rc = apply_env_opt(&tmp, &OPTS[i]);
	if (rc) {
		tasker_config_clear(&tmp);
		return rc;
	}
	tasker_config_clear(c);
	*c = tmp;
	return TASKER_OK;
}

/* ------------------------------------------------------------------ dump */

/* A double-quoted YAML string: escapes quotes, backslashes and control characters. */
static void yaml_quoted(tbuf *b, const char *s)
{
	tbuf_printf(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			tbuf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			tbuf_printf(b, "\\n");
		else if (*p == '\t')
			tbuf_printf(b, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			tbuf_printf(b, "\\x%02x", *p);
		else
			tbuf_printf(b, "%c", *p);
	}
	tbuf_printf(b, "\"");
}

/* The shortest decimal that reads back as the same double, written as a YAML float: a '.' in the
 * mantissa always ("2.0e+01", not "2e+01", which the YAML reader takes for a string); printf already
 * gives the exponent its sign. Only finite values reach here (validation refuses the others). */
static void yaml_number(tbuf *b, double d)
{
	char buf[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	char *exponent = strpbrk(buf, "eE");
	if (strchr(buf, '.'))
		tbuf_printf(b, "%s", buf);
	else if (exponent)
		tbuf_printf(b, "%.*s.0%s", (int)(exponent - buf), buf, exponent);
	else
		tbuf_printf(b, "%s.0", buf);
}

static void yaml_value(tbuf *b, const tasker_config *c, const opt_desc *o)
{
	switch (o->kind) {
	case OPT_INT: tbuf_printf(b, "%d", *FIELD(c, o, const int)); break;
	case OPT_NUMBER: yaml_number(b, *FIELD(c, o, const double)); break;
	case OPT_BOOL: tbuf_printf(b, "%s", *FIELD(c, o, const int) ? "true" : "false"); break;
	case OPT_IDENTITY: {
		const char *name = identity_name(*FIELD(c, o, const tasker_identity_strategy));
		tbuf_printf(b, "%s", name ? name : "null");
		break;
	}
	case OPT_STRING: {
		const char *s = *FIELD(c, o, char *const);
		if (s)
			yaml_quoted(b, s);
		else
			tbuf_printf(b, "null");
		break;
	}
	case OPT_INT_LIST:
		tbuf_printf(b, "[");
		for (size_t i = 0; i < *COUNT(c, o); i++)
			tbuf_printf(b, "%s%d", i ? ", " : "", FIELD(c, o, const int)[i]);
		tbuf_printf(b, "]");
		break;
	case OPT_STRING_LIST: {
		char *const *list = *FIELD(c, o, char **const);
		tbuf_printf(b, "[");
		for (size_t i = 0; i < *COUNT(c, o); i++) {
			tbuf_printf(b, "%s", i ? ", " : "");
			yaml_quoted(b, list[i] ? list[i] : "");
		}
		tbuf_printf(b, "]");
		break;
	}
	}
}

char *tasker_config_to_yaml(const tasker_config *c)
{
	if (!c)
		return NULL;
	tbuf b;
	tbuf_init(&b);
	tbuf_printf(&b, "# tasker-core configuration: every option with its current value\n");
	const char *prev = "";
	for (size_t i = 0; i < NOPTS; i++) {
		const opt_desc *o = &OPTS[i];
		if (o->alias)
			continue;
		/* Open the groups this path enters: compare component by component with the previous path. */
		size_t depth = 0;
		const char *p = o->path, *q = prev;
		int opened = 0;
		for (const char *dot; (dot = strchr(p, '.')); p = dot + 1, depth++) {
			size_t n = (size_t)(dot - p);
			if (!opened && strncmp(p, q, n) == 0 && q[n] == '.') {
				q += n + 1;
				continue;
			}
			opened = 1;
			tbuf_printf(&b, "%*s%.*s:\n", (int)(2 * depth), "", (int)n, p);
		}
		tbuf_printf(&b, "%*s%s: ", (int)(2 * depth), "", p);
		yaml_value(&b, c, o);
		tbuf_printf(&b, "\n");
		prev = o->path;
	}
	return tbuf_take(&b); /* NULL, with TASKER_ENOMEM, when out of memory */
}
