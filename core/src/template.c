/*
 * template.c — reads task templates into ttpl_template: environment overrides, every validation rule of
 * the format, dependency resolution and topological order, canonical JSON. Never touches the database
 * and never runs handlers; a template either loads wholly valid or not at all, with one precise error.
 */
#include "template.h"

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
#include "utf8.h"
#include "util.h"
#include "yamljson.h"

/* Template files are configuration, not data: anything bigger is a mistake. */
#define TTPL_MAX_FILE_BYTES (16 * 1024 * 1024)

static const char *const TOP_KEYS[] = {
	"name", "namespace_name", "version", "description", "task_handler_class", "module_namespace",
	"concurrent", "default_dependent_system", "named_steps", "schema", "step_templates", "environments",
	"custom_events", "handler_config", NULL};
static const char *const STEP_KEYS[] = {
	"name", "description", "handler_class", "dependent_system", "default_retryable", "default_retry_limit",
	"skippable", "handler_config", "depends_on_step", "depends_on_steps", "custom_events", NULL};
static const char *const EVENT_KEYS[] = {"name", "description", NULL};

/* A key this engine does not use, seen once or more: one warning per key and kind of place. */
typedef struct ttpl_note {
	const char *const *kind;  /* the key list it was checked against: TOP_KEYS, STEP_KEYS, EVENT_KEYS */
	char *key;
	char *text;               /* the warning, written where the key was first seen */
	size_t count;
} ttpl_note;

typedef struct ttpl_notes {
	ttpl_note *v;
	size_t n, cap;
} ttpl_notes;

/* Where errors come from: the source, its positions (YAML only), the environment being checked, whether
 * unused keys are refused (strict) or noted for a warning (notes; NULL drops them). */
typedef struct ctx {
	const char *source;
	const tyj_positions *pos;
	char scope[128]; /* "" or `environments.<name>` while checking another environment's overrides */
	int strict;
	ttpl_notes *notes;
} ctx;

/* "step \"x\"" or "step_templates[3]": how a step is named in messages. */
typedef char step_label[320];

/* "<source>: [<scope>: ][<label>: ]<msg>[ (line N)]", the shape of every error and warning. */
static void vwhere(char *out, size_t size, const ctx *c, const cJSON *at, const char *label, const char *fmt,
                   va_list ap)
{
	char msg[1400], line[32] = "";
	vsnprintf(msg, sizeof msg, fmt, ap);
	tyj_pos p = tyj_position(c->pos, at);
	if (p.line)
		snprintf(line, sizeof line, " (line %d)", p.line);
	snprintf(out, size, "%s: %s%s%s%s%s%s", c->source, c->scope, *c->scope ? ": " : "", label ? label : "",
	         label ? ": " : "", msg, line);
}

static int fail(const ctx *c, const cJSON *at, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(const ctx *c, const cJSON *at, const char *label, const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	vwhere(text, sizeof text, c, at, label, fmt, ap);
	va_end(ap);
	return tasker_set_error(TASKER_ETEMPLATE, "%s", text);
}

/* Notes a warning about `key` (of the kind of place `kind`), written in full only the first time. */
static int note(const ctx *c, const char *const *kind, const char *key, const cJSON *at, const char *label,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int note(const ctx *c, const char *const *kind, const char *key, const cJSON *at, const char *label,
                const char *fmt, ...)
{
	ttpl_notes *ns = c->notes;
	if (!ns)
		return TASKER_OK;
	for (size_t i = 0; i < ns->n; i++) {
		if (ns->v[i].kind == kind && strcmp(ns->v[i].key, key) == 0) {
			ns->v[i].count++;
			return TASKER_OK;
		}
	}
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	vwhere(text, sizeof text, c, at, label, fmt, ap);
	va_end(ap);
	ttpl_note *v = tarray_grow(ns->v, &ns->cap, ns->n + 1, sizeof *v);
	if (!v)
		return tasker_set_oom();
	ns->v = v;
	v[ns->n] = (ttpl_note){kind, strdup(key), strdup(text), 1};
	if (!v[ns->n].key || !v[ns->n].text) {
		free(v[ns->n].key);
		free(v[ns->n].text);
		return tasker_set_oom();
	}
	ns->n++;
	return TASKER_OK;
}

static void notes_free(ttpl_notes *ns)
{
	for (size_t i = 0; i < ns->n; i++) {
		free(ns->v[i].key);
		free(ns->v[i].text);
	}
	free(ns->v);
}

/* ------------------------------------------------------------------ small helpers */

static int is_integral(double d) { return isfinite(d) && d == floor(d); }

/* "string \"three\"", "integer 7", "a list"…: what a value is, for "expected X, got Y" messages. */
static const char *describe(const cJSON *v, char *buf, size_t n)
{
	if (cJSON_IsString(v))
		snprintf(buf, n, "string \"%.60s\"", v->valuestring);
	else if (cJSON_IsNumber(v))
		snprintf(buf, n, "number %g", v->valuedouble);
	else if (cJSON_IsBool(v))
		snprintf(buf, n, "boolean %s", cJSON_IsTrue(v) ? "true" : "false");
	else if (cJSON_IsNull(v))
		snprintf(buf, n, "null");
	else if (cJSON_IsArray(v))
		snprintf(buf, n, "a list");
	else
		snprintf(buf, n, "a mapping");
	return buf;
}

static int levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return INT_MAX;
	int row[64];
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The candidate closest to `word`, if it is a plausible typo or abbreviation of it. */
static const char *closest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	int best_d = INT_MAX;
	for (size_t i = 0; i < n; i++) {
		if (strlen(word) >= 6 && strstr(candidates[i], word))
			return candidates[i]; /* e.g. retry_limit → default_retry_limit */
		int d = levenshtein(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	int limit = strlen(word) <= 4 ? 1 : strlen(word) <= 10 ? 2 : 3;
	return best_d <= limit ? best : NULL;
}

static size_t count_keys(const char *const *keys)
{
	size_t n = 0;
	while (keys[n])
		n++;
	return n;
}

static int check_keys(const ctx *c, const cJSON *obj, const char *const *known, const char *label,
                      const char *except)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		int ok = 0;
		for (size_t i = 0; known[i] && !ok; i++)
			ok = strcmp(it->string, known[i]) == 0 && !(except && strcmp(it->string, except) == 0);
		if (ok)
			continue;
		const char *hint = closest(it->string, known, count_keys(known));
		char mean[160] = "";
		if (hint && !(except && strcmp(hint, except) == 0))
			snprintf(mean, sizeof mean, " (did you mean \"%s\"?)", hint);
		int rc = c->strict ? fail(c, it, label, "unknown key \"%.100s\"%s", it->string, mean)
		                   : note(c, known, it->string, it, label,
		                          "key \"%.100s\" is ignored: tasker-core does not use it%s", it->string, mean);
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNull(v) ? NULL : v; /* `key:` with no value means "absent" */
}

enum { OPTIONAL = 0, REQUIRED = 1, NONEMPTY = 2 };

/* A string member: absent → *out = NULL (unless REQUIRED); `max` characters at most (0 = no limit). */
static int get_string(const ctx *c, const cJSON *obj, const char *key, const char *label, int flags,
                      size_t max, const char **out)
{
	char got[96];
	const cJSON *v = member(obj, key);
	*out = NULL;
	if (!v) {
		const cJSON *raw = cJSON_GetObjectItemCaseSensitive(obj, key);
		if (flags & REQUIRED) /* point at the key if written empty, else at the step (not the file's line 1) */
			return fail(c, raw ? raw : label ? obj : NULL, label, "missing required key \"%s\"", key);
		return TASKER_OK;
	}
	if (!cJSON_IsString(v))
		return fail(c, v, label, "%s must be a string, got %s", key, describe(v, got, sizeof got));
	if ((flags & NONEMPTY) && !*v->valuestring)
		return fail(c, v, label, "%s must not be empty", key);
	size_t n = tutf8_count(v->valuestring);
	if (max && n > max)
		return fail(c, v, label, "%s \"%.40s…\" is %zu characters long, more than the %zu allowed", key,
		            v->valuestring, n, max);
	*out = v->valuestring;
	return TASKER_OK;
}

static int get_bool(const ctx *c, const cJSON *obj, const char *key, const char *label, int dflt, int *out)
{
	char got[96];
	const cJSON *v = member(obj, key);
	*out = dflt;
	if (!v)
		return TASKER_OK;
	if (!cJSON_IsBool(v))
		return fail(c, v, label, "%s must be true or false, got %s", key, describe(v, got, sizeof got));
	*out = cJSON_IsTrue(v);
	return TASKER_OK;
}

static int get_limit(const ctx *c, const cJSON *obj, const char *key, const char *label, int dflt, int *out)
{
	char got[96];
	const cJSON *v = member(obj, key);
	*out = dflt;
	if (!v)
		return TASKER_OK;
	if (!cJSON_IsNumber(v) || !is_integral(v->valuedouble))
		return fail(c, v, label, "%s must be an integer, got %s", key, describe(v, got, sizeof got));
	if (v->valuedouble < 0)
		return fail(c, v, label, "%s must be >= 0, got %.0f", key, v->valuedouble);
	if (v->valuedouble > INT_MAX)
		return fail(c, v, label, "%s must be at most %d, got %.0f", key, INT_MAX, v->valuedouble);
	*out = (int)v->valuedouble;
	return TASKER_OK;
}

/* A list of strings; absent → empty. Items are borrowed from the document. */
static int get_string_list(const ctx *c, const cJSON *obj, const char *key, const char *label, size_t max,
                           const cJSON **out)
{
	char got[96];
	const cJSON *v = member(obj, key);
	*out = NULL;
	if (!v)
		return TASKER_OK;
	if (!cJSON_IsArray(v))
		return fail(c, v, label, "%s must be a list of names, got %s", key, describe(v, got, sizeof got));
	const cJSON *it;
	int i = 0;
	cJSON_ArrayForEach(it, v)
	{
		if (!cJSON_IsString(it))
			return fail(c, it, label, "%s[%d] must be a string, got %s", key, i,
			            describe(it, got, sizeof got));
		if (!*it->valuestring)
			return fail(c, it, label, "%s[%d] must not be empty", key, i);
		if (max && tutf8_count(it->valuestring) > max)
			return fail(c, it, label, "%s[%d] \"%.40s…\" is longer than the %zu characters allowed",
			            key, i, it->valuestring, max);
		i++;
	}
	*out = v;
	return TASKER_OK;
}

static int check_events(const ctx *c, const cJSON *obj, const char *label)
{
	char got[96];
	const cJSON *v = member(obj, "custom_events");
	if (!v)
		return TASKER_OK;
	if (!cJSON_IsArray(v))
		return fail(c, v, label, "custom_events must be a list of {name, description}, got %s",
		            describe(v, got, sizeof got));
	const cJSON *ev;
	int i = 0;
	cJSON_ArrayForEach(ev, v)
	{
		char evlabel[sizeof(step_label) + 32];
		snprintf(evlabel, sizeof evlabel, "%s%scustom_events[%d]", label ? label : "", label ? ": " : "", i++);
		if (!cJSON_IsObject(ev))
			return fail(c, ev, evlabel, "must be a mapping with a name, got %s",
			            describe(ev, got, sizeof got));
		const char *s;
		int rc = check_keys(c, ev, EVENT_KEYS, evlabel, NULL);
		if (!rc)
			rc = get_string(c, ev, "name", evlabel, REQUIRED | NONEMPTY, 0, &s);
		if (!rc)
			rc = get_string(c, ev, "description", evlabel, OPTIONAL, 0, &s);
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

static char *dup_or_null(const char *s, int *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

/* Detaches `key` from obj if present and not null: hands the node to the template. */
static cJSON *take(cJSON *obj, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!v || cJSON_IsNull(v))
		return NULL;
	return cJSON_DetachItemViaPointer(obj, v);
}

/* ------------------------------------------------------------------ environments */

static int check_environment(const ctx *c, const cJSON *env, const char *name)
{
	char scope[128], got[96];
	snprintf(scope, sizeof scope, "environments.%.100s", name);
	if (cJSON_IsNull(env))
		return TASKER_OK;
	if (!cJSON_IsObject(env))
		return fail(c, env, NULL, "%s must be a mapping of overrides, got %s", scope,
		            describe(env, got, sizeof got));
	int rc = check_keys(c, env, TOP_KEYS, scope, "environments");
	if (rc)
		return rc;
	const cJSON *steps = member(env, "step_templates");
	if (!steps)
		return TASKER_OK;
	if (!cJSON_IsArray(steps))
		return fail(c, steps, scope, "step_templates must be a list, got %s", describe(steps, got, sizeof got));
	const cJSON *st;
	int i = 0;
	cJSON_ArrayForEach(st, steps)
	{
		step_label label;
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(st, "name");
		if (cJSON_IsString(nm))
			snprintf(label, sizeof label, "%s: step \"%.150s\"", scope, nm->valuestring);
		else
			snprintf(label, sizeof label, "%s: step_templates[%d]", scope, i);
		i++;
		if (!cJSON_IsObject(st))
			return fail(c, st, label, "must be a mapping, got %s", describe(st, got, sizeof got));
		const char *s;
		if ((rc = check_keys(c, st, STEP_KEYS, label, NULL)) ||
		    (rc = get_string(c, st, "name", label, REQUIRED | NONEMPTY, 0, &s)))
			return rc;
	}
	return TASKER_OK;
}

static int check_environments(const ctx *c, const cJSON *envs)
{
	char got[96];
	if (!envs || cJSON_IsNull(envs))
		return TASKER_OK;
	if (!cJSON_IsObject(envs))
		return fail(c, envs, NULL, "environments must be a mapping of environment name to overrides, got %s",
		            describe(envs, got, sizeof got));
	const cJSON *env;
	cJSON_ArrayForEach(env, envs)
	{
		int rc = check_environment(c, env, env->string);
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

static int deep_merge(cJSON *base, cJSON *over);

/* Overrides apply to the base step of the same name; overrides naming no base step are ignored. */
static int merge_steps(cJSON *base, cJSON *over)
{
	cJSON *o;
	cJSON_ArrayForEach(o, over)
	{
		const cJSON *on = cJSON_GetObjectItemCaseSensitive(o, "name");
		if (!cJSON_IsObject(o) || !cJSON_IsString(on))
			continue;
		cJSON *b;
		cJSON_ArrayForEach(b, base)
		{
			const cJSON *bn = cJSON_GetObjectItemCaseSensitive(b, "name");
			if (cJSON_IsObject(b) && cJSON_IsString(bn) && strcmp(bn->valuestring, on->valuestring) == 0) {
				int rc = deep_merge(b, o);
				if (rc)
					return rc;
				break;
			}
		}
	}
	return TASKER_OK;
}

/* The Rails engine's deep merge: mappings merge recursively, step_templates merge by name, anything else
 * is replaced. Moves nodes out of `over` (so they keep their source positions). */
static int deep_merge(cJSON *base, cJSON *over)
{
	cJSON *item = over->child;
	while (item) {
		cJSON *next = item->next;
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(base, item->string);
		int rc = TASKER_OK;
		if (cJSON_IsObject(cur) && cJSON_IsObject(item)) {
			rc = deep_merge(cur, item);
		} else if (strcmp(item->string, "step_templates") == 0 && cJSON_IsArray(cur) && cJSON_IsArray(item)) {
			rc = merge_steps(cur, item);
		} else {
			cJSON_DetachItemViaPointer(over, item);
			if (cur) {
				cJSON_ReplaceItemViaPointer(base, cur, item);
			} else if (!cJSON_AddItemToObject(base, item->string, item)) {
				cJSON_Delete(item);
				rc = tasker_set_oom();
			}
		}
		if (rc)
			return rc;
		item = next;
	}
	return TASKER_OK;
}

static const char *selected_environment(const char *environment)
{
	if (environment)
		return *environment ? environment : NULL;
	const char *e = getenv("TASKER_ENV");
	if (e && *e)
		return e;
	e = getenv("RAILS_ENV");
	return e && *e ? e : NULL;
}

/* ------------------------------------------------------------------ task and step fields */

static int valid_version(const char *v)
{
	for (int part = 0; part < 3; part++) {
		if (!isdigit((unsigned char)*v))
			return 0;
		while (isdigit((unsigned char)*v))
			v++;
		if (part < 2 && *v++ != '.')
			return 0;
	}
	return *v == '\0';
}

static int read_task(const ctx *c, cJSON *doc, ttpl_template *t)
{
	const char *name, *ns, *version, *desc, *thc, *mod, *dds;
	char got[96];
	int rc;
	if ((rc = get_string(c, doc, "name", NULL, REQUIRED | NONEMPTY, TTPL_MAX_TASK_NAME, &name)) ||
	    (rc = get_string(c, doc, "namespace_name", NULL, NONEMPTY, TTPL_MAX_NAMESPACE, &ns)))
		return rc;
	const cJSON *vv = member(doc, "version");
	if (vv && !cJSON_IsString(vv))
		return fail(c, vv, NULL, "version must be a string of the form MAJOR.MINOR.PATCH (quote it), got %s",
		            describe(vv, got, sizeof got));
	if ((rc = get_string(c, doc, "version", NULL, NONEMPTY, 0, &version)))
		return rc;
	if (version && !valid_version(version))
		return fail(c, vv, NULL, "version \"%.40s\" is malformed: expected MAJOR.MINOR.PATCH such as \"1.0.0\"",
		            version);
	if (version && strlen(version) > TTPL_MAX_VERSION)
		return fail(c, vv, NULL, "version \"%.40s\" is longer than the %d characters allowed", version,
		            TTPL_MAX_VERSION);
	if ((rc = get_string(c, doc, "description", NULL, OPTIONAL, TTPL_MAX_DESCRIPTION, &desc)) ||
	    (rc = get_string(c, doc, "task_handler_class", NULL, OPTIONAL, 0, &thc)) ||
	    (rc = get_string(c, doc, "module_namespace", NULL, OPTIONAL, 0, &mod)) ||
	    (rc = get_string(c, doc, "default_dependent_system", NULL, NONEMPTY, TTPL_MAX_DEPENDENT_SYSTEM, &dds)) ||
	    (rc = get_bool(c, doc, "concurrent", NULL, 1, &t->concurrent)) || (rc = check_events(c, doc, NULL)))
		return rc;
	const cJSON *schema = member(doc, "schema");
	if (schema && !cJSON_IsObject(schema))
		return fail(c, schema, NULL, "schema must be a mapping (a JSON Schema object), got %s",
		            describe(schema, got, sizeof got));
	const cJSON *named;
	if ((rc = get_string_list(c, doc, "named_steps", NULL, TTPL_MAX_STEP_NAME, &named)))
		return rc;
	int oom = 0;
	t->name = dup_or_null(name, &oom);
	t->namespace_name = dup_or_null(ns ? ns : "default", &oom);
	t->version = dup_or_null(version ? version : "0.1.0", &oom);
	t->description = dup_or_null(desc, &oom);
	t->task_handler_class = dup_or_null(thc, &oom);
	t->module_namespace = dup_or_null(mod, &oom);
	t->default_dependent_system = dup_or_null(dds ? dds : "default", &oom);
	if (named) {
		int n = cJSON_GetArraySize(named);
		if (n > 0 && !(t->named_steps = calloc((size_t)n, sizeof *t->named_steps)))
			oom = 1;
		const cJSON *it;
		cJSON_ArrayForEach(it, named)
		{
			if (oom)
				break;
			t->named_steps[t->nnamed_steps++] = dup_or_null(it->valuestring, &oom);
		}
	}
	t->schema = take(doc, "schema");
	t->custom_events = take(doc, "custom_events");
	t->handler_config = take(doc, "handler_config");
	return oom ? tasker_set_oom() : TASKER_OK;
}

static int add_dependency(ttpl_step *s, const char *dep)
{
	for (size_t k = 0; k < s->ndepends; k++)
		if (strcmp(s->depends_on[k], dep) == 0)
			return TASKER_OK;
	if (!(s->depends_on[s->ndepends] = strdup(dep)))
		return tasker_set_oom();
	s->ndepends++;
	return TASKER_OK;
}

/* Collects unique(compact([depends_on_step] + depends_on_steps)) in declared order. */
static int read_dependencies(const ctx *c, const cJSON *st, const char *label, ttpl_step *s)
{
	const char *one;
	const cJSON *many;
	int rc;
	if ((rc = get_string(c, st, "depends_on_step", label, OPTIONAL, 0, &one)) ||
	    (rc = get_string_list(c, st, "depends_on_steps", label, 0, &many)))
		return rc;
	size_t cap = (one ? 1 : 0) + (size_t)(many ? cJSON_GetArraySize(many) : 0);
	if (!cap)
		return TASKER_OK;
	if (!(s->depends_on = calloc(cap, sizeof *s->depends_on)) || !(s->parents = calloc(cap, sizeof *s->parents)))
		return tasker_set_oom();
	if (one && (rc = add_dependency(s, one)))
		return rc;
	for (const cJSON *it = many ? many->child : NULL; it; it = it->next)
		if ((rc = add_dependency(s, it->valuestring)))
			return rc;
	return TASKER_OK;
}

static int read_step(const ctx *c, cJSON *st, int index, const ttpl_template *t, ttpl_step *s)
{
	step_label label;
	char got[96];
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(st, "name");
	if (cJSON_IsString(nm) && *nm->valuestring)
		snprintf(label, sizeof label, "step \"%.150s\"", nm->valuestring);
	else
		snprintf(label, sizeof label, "step_templates[%d]", index);
	if (!cJSON_IsObject(st))
		return fail(c, st, label, "must be a mapping, got %s", describe(st, got, sizeof got));
	const char *name, *desc, *handler, *system;
	int rc;
	if ((rc = check_keys(c, st, STEP_KEYS, label, NULL)) ||
	    (rc = get_string(c, st, "name", label, REQUIRED | NONEMPTY, TTPL_MAX_STEP_NAME, &name)) ||
	    (rc = get_string(c, st, "handler_class", label, REQUIRED | NONEMPTY, 0, &handler)) ||
	    (rc = get_string(c, st, "description", label, OPTIONAL, TTPL_MAX_DESCRIPTION, &desc)) ||
	    (rc = get_string(c, st, "dependent_system", label, NONEMPTY, TTPL_MAX_DEPENDENT_SYSTEM, &system)) ||
	    (rc = get_bool(c, st, "default_retryable", label, 1, &s->default_retryable)) ||
	    (rc = get_limit(c, st, "default_retry_limit", label, 3, &s->default_retry_limit)) ||
	    (rc = get_bool(c, st, "skippable", label, 0, &s->skippable)) || (rc = check_events(c, st, label)) ||
	    (rc = read_dependencies(c, st, label, s)))
		return rc;
	const cJSON *hc = member(st, "handler_config");
	if (hc && !cJSON_IsObject(hc))
		return fail(c, hc, label, "handler_config must be a mapping, got %s", describe(hc, got, sizeof got));
	int oom = 0;
	s->name = dup_or_null(name, &oom);
	s->handler_class = dup_or_null(handler, &oom);
	s->description = dup_or_null(desc ? desc : name, &oom);
	s->dependent_system = dup_or_null(system ? system : t->default_dependent_system, &oom);
	s->handler_config = take(st, "handler_config");
	s->custom_events = take(st, "custom_events");
	return oom ? tasker_set_oom() : TASKER_OK;
}

static int read_steps(const ctx *c, cJSON *doc, ttpl_template *t)
{
	char got[96];
	cJSON *steps = cJSON_GetObjectItemCaseSensitive(doc, "step_templates");
	if (!steps || cJSON_IsNull(steps))
		return fail(c, NULL, NULL, "missing required key \"step_templates\"");
	if (!cJSON_IsArray(steps))
		return fail(c, steps, NULL, "step_templates must be a list of steps, got %s",
		            describe(steps, got, sizeof got));
	int n = cJSON_GetArraySize(steps);
	if (n == 0)
		return fail(c, steps, NULL, "step_templates is empty: a template needs at least one step");
	if (!(t->steps = calloc((size_t)n, sizeof *t->steps)))
		return tasker_set_oom();
	cJSON *st;
	cJSON_ArrayForEach(st, steps)
	{
		int rc = read_step(c, st, (int)t->nsteps, t, &t->steps[t->nsteps]);
		t->nsteps++; /* counted even on failure, so ttpl_free releases what the step holds */
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

/* ------------------------------------------------------------------ dependencies and order */

static int cmp_by_name(const void *a, const void *b, void *payload)
{
	const ttpl_template *t = payload;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(t->steps[x].name, t->steps[y].name);
	return c ? c : (x > y) - (x < y);
}

static int index_by_name(const ctx *c, const cJSON *steps_node, ttpl_template *t)
{
	if (!(t->by_name = malloc(t->nsteps * sizeof *t->by_name)))
		return tasker_set_oom();
	for (size_t i = 0; i < t->nsteps; i++)
		t->by_name[i] = i;
	qsort_r(t->by_name, t->nsteps, sizeof *t->by_name, cmp_by_name, t);
	/* Equal names sort together by declaration; of all such runs, report the earliest second declaration. */
	size_t dup = SIZE_MAX, orig = 0;
	for (size_t k = 1; k < t->nsteps; k++) {
		size_t a = t->by_name[k - 1], b = t->by_name[k];
		if (strcmp(t->steps[a].name, t->steps[b].name) != 0)
			continue;
		if (k >= 2 && strcmp(t->steps[t->by_name[k - 2]].name, t->steps[b].name) == 0)
			continue;
		if (b < dup) {
			dup = b;
			orig = a;
		}
	}
	if (dup != SIZE_MAX) {
		step_label label;
		snprintf(label, sizeof label, "step \"%.150s\"", t->steps[dup].name);
		return fail(c, cJSON_GetArrayItem(steps_node, (int)dup), label,
		            "duplicate step name (also declared as step_templates[%zu])", orig);
	}
	return TASKER_OK;
}

static int link_dependencies(const ctx *c, const cJSON *steps_node, ttpl_template *t)
{
	const char **names = malloc(t->nsteps * sizeof *names);
	if (!names)
		return tasker_set_oom();
	for (size_t i = 0; i < t->nsteps; i++)
		names[i] = t->steps[i].name;
	int rc = TASKER_OK;
	for (size_t i = 0; i < t->nsteps && !rc; i++) {
		ttpl_step *s = &t->steps[i];
		step_label label;
		snprintf(label, sizeof label, "step \"%.150s\"", s->name);
		const cJSON *at = cJSON_GetArrayItem(steps_node, (int)i);
		for (size_t k = 0; k < s->ndepends && !rc; k++) {
			const char *dep = s->depends_on[k];
			int p = ttpl_find_step(t, dep);
			if (p == (int)i) {
				rc = fail(c, at, label, "depends on itself");
			} else if (p < 0) {
				const char *hint = closest(dep, names, t->nsteps);
				if (hint)
					rc = fail(c, at, label,
					          "depends on unknown step \"%.150s\" (did you mean \"%s\"?)", dep, hint);
				else
					rc = fail(c, at, label, "depends on unknown step \"%.150s\"", dep);
			} else {
				s->parents[k] = (size_t)p;
			}
		}
	}
	free(names);
	return rc;
}

static int is_named(const ttpl_template *t, const char *name)
{
	for (size_t i = 0; i < t->nnamed_steps; i++)
		if (strcmp(t->named_steps[i], name) == 0)
			return 1;
	return 0;
}

static int check_named_steps(const ctx *c, const cJSON *doc, const cJSON *steps_node, const ttpl_template *t)
{
	if (!member(doc, "named_steps"))
		return TASKER_OK;
	for (size_t i = 0; i < t->nsteps; i++) {
		const ttpl_step *s = &t->steps[i];
		step_label label;
		snprintf(label, sizeof label, "step \"%.150s\"", s->name);
		const cJSON *at = cJSON_GetArrayItem(steps_node, (int)i);
		if (!is_named(t, s->name))
			return fail(c, at, label, "not listed in named_steps");
		for (size_t k = 0; k < s->ndepends; k++)
			if (!is_named(t, s->depends_on[k]))
				return fail(c, at, label, "dependency \"%.150s\" is not listed in named_steps",
				            s->depends_on[k]);
	}
	return TASKER_OK;
}

/* Min-heap of step indexes, so that among ready steps the one declared first comes out first. */
typedef struct heap {
	size_t *v, n;
} heap;

static void heap_push(heap *h, size_t x)
{
	size_t i = h->n++;
	while (i > 0 && h->v[(i - 1) / 2] > x) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = x;
}

static size_t heap_pop(heap *h)
{
	size_t top = h->v[0], x = h->v[--h->n], i = 0;
	for (;;) {
		size_t l = 2 * i + 1, m = i, mv = x;
		if (l < h->n && h->v[l] < mv)
			mv = h->v[m = l];
		if (l + 1 < h->n && h->v[l + 1] < mv)
			mv = h->v[m = l + 1];
		if (m == i)
			break;
		h->v[i] = mv;
		i = m;
	}
	if (h->n)
		h->v[i] = x;
	return top;
}

/* Names the steps of one cycle among the steps Kahn's algorithm could not order. */
static int report_cycle(const ctx *c, const cJSON *steps_node, const ttpl_template *t, const size_t *indegree)
{
	size_t n = t->nsteps, start = 0;
	while (indegree[start] == 0)
		start++;
	size_t *walk = malloc((n + 1) * sizeof *walk), *seen_at = malloc(n * sizeof *seen_at);
	if (!walk || !seen_at) {
		free(walk);
		free(seen_at);
		return tasker_set_oom();
	}
	for (size_t i = 0; i < n; i++)
		seen_at[i] = SIZE_MAX;
	/* Every unordered step has an unordered parent, so following parents must come back around. */
	size_t len = 0, cur = start;
	while (seen_at[cur] == SIZE_MAX) {
		seen_at[cur] = len;
		walk[len++] = cur;
		const ttpl_step *s = &t->steps[cur];
		size_t next = cur;
		for (size_t k = 0; k < s->ndepends; k++)
			if (indegree[s->parents[k]] > 0) {
				next = s->parents[k];
				break;
			}
		cur = next;
	}
	/* cyc = walk[from..len): each step depends on the next one. Print it the other way round (each step
	 * depends on the one before it), starting from the step declared first. */
	const size_t *cyc = walk + seen_at[cur];
	size_t clen = len - seen_at[cur], f = 0;
	for (size_t j = 1; j < clen; j++)
		if (cyc[j] < cyc[f])
			f = j;
	char text[1024];
	size_t used = 0;
	for (size_t k = 0; k <= clen && used < sizeof text - 1; k++) {
		size_t j = (f + clen - k % clen) % clen;
		int w = snprintf(text + used, sizeof text - used, "%s%.60s", k ? " → " : "", t->steps[cyc[j]].name);
		used = w < 0 || (size_t)w >= sizeof text - used ? sizeof text - 1 : used + (size_t)w;
	}
	step_label label;
	snprintf(label, sizeof label, "step \"%.150s\"", t->steps[cyc[f]].name);
	const cJSON *at = cJSON_GetArrayItem(steps_node, (int)cyc[f]);
	free(walk);
	free(seen_at);
	return fail(c, at, label, "dependency cycle: %s (each step depends on the one before it)", text);
}

static int order_steps(const ctx *c, const cJSON *steps_node, ttpl_template *t)
{
	size_t n = t->nsteps;
	size_t *indegree = calloc(n, sizeof *indegree), *nchildren = calloc(n + 1, sizeof *nchildren);
	size_t *children = NULL;
	heap h = {malloc(n * sizeof(size_t)), 0};
	t->topo = malloc(n * sizeof *t->topo);
	size_t edges = 0;
	for (size_t i = 0; i < n; i++)
		edges += t->steps[i].ndepends;
	children = malloc((edges ? edges : 1) * sizeof *children);
	int rc = TASKER_OK;
	if (!indegree || !nchildren || !children || !h.v || !t->topo) {
		rc = tasker_set_oom();
		goto done;
	}
	/* Children as a CSR array: nchildren[p]..nchildren[p+1] index into `children`. */
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < t->steps[i].ndepends; k++)
			nchildren[t->steps[i].parents[k] + 1]++;
	for (size_t i = 0; i < n; i++)
		nchildren[i + 1] += nchildren[i];
	size_t *fill = indegree; /* reuse as a cursor, then reset to in-degrees */
	for (size_t i = 0; i < n; i++)
		fill[i] = nchildren[i];
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < t->steps[i].ndepends; k++)
			children[fill[t->steps[i].parents[k]]++] = i;
	for (size_t i = 0; i < n; i++) {
		indegree[i] = t->steps[i].ndepends;
		if (indegree[i] == 0)
			heap_push(&h, i);
	}
	size_t done_n = 0;
	while (h.n) {
		size_t s = heap_pop(&h);
		t->topo[done_n++] = s;
		for (size_t e = nchildren[s]; e < nchildren[s + 1]; e++)
			if (--indegree[children[e]] == 0)
				heap_push(&h, children[e]);
	}
	if (done_n < n)
		rc = report_cycle(c, steps_node, t, indegree);
done:
	free(indegree);
	free(nchildren);
	free(children);
	free(h.v);
	return rc;
}

/* The kinds of notes that are not keys of a template, step or event. */
static const char *const SCHEMA_NOTE[] = {NULL}, *const DUPLICATE_NOTE[] = {NULL};

/* Compiles the context schema; what it says that validation does not apply (unknown keywords, formats
 * not checked) is noted, or refused when strict. */
static int compile_schema(const ctx *c, const cJSON *schema_at, ttpl_template *t)
{
	if (!t->schema)
		return TASKER_OK;
	int rc = tjs_compile(&t->compiled_schema, t->schema);
	if (rc == TASKER_ENOMEM)
		return rc;
	if (rc) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", tasker_error_last()->message);
		return fail(c, schema_at, NULL, "schema: %s", *msg ? msg : "invalid JSON Schema");
	}
	for (size_t i = 0; !rc && i < tjs_ignored_count(t->compiled_schema); i++) {
		const char *what = tjs_ignored(t->compiled_schema, i);
		rc = c->strict ? fail(c, schema_at, NULL, "schema: %s (refused: the template is read strictly)", what)
		               : note(c, SCHEMA_NOTE, what, schema_at, NULL, "schema: %s", what);
	}
	return rc;
}

/* Keys written twice in one YAML mapping: the later value was kept, as Ruby's YAML does; noted, or
 * refused when strict. */
static int check_duplicates(const ctx *c)
{
	int rc = TASKER_OK;
	for (size_t i = 0; !rc && i < tyj_duplicate_count(c->pos); i++) {
		tyj_pos kept, replaced;
		const char *key = tyj_duplicate(c->pos, i, &kept, &replaced);
		if (c->strict)
			rc = fail(c, NULL, NULL, "duplicate key \"%.200s\" at line %d, column %d (first defined at line %d, "
			                         "column %d)", key, kept.line, kept.column, replaced.line, replaced.column);
		else
			rc = note(c, DUPLICATE_NOTE, key, NULL, NULL, "key \"%.200s\" is written twice (lines %d and %d): "
			          "the later value is used, as Ruby's YAML reads it", key, replaced.line, kept.line);
	}
	return rc;
}

/* Hands the notes to the template as its warnings ("..., and N more times" for a repeated key). */
static int take_warnings(ttpl_template *t, const ttpl_notes *ns)
{
	if (!ns->n)
		return TASKER_OK;
	if (!(t->warnings = calloc(ns->n, sizeof *t->warnings)))
		return tasker_set_oom();
	for (size_t i = 0; i < ns->n; i++, t->nwarnings++) {
		const ttpl_note *n = &ns->v[i];
		size_t len = strlen(n->text) + 48;
		if (!(t->warnings[i] = malloc(len)))
			return tasker_set_oom();
		if (n->count > 1)
			snprintf(t->warnings[i], len, "%s, and %zu more time%s", n->text, n->count - 1, n->count > 2 ? "s" : "");
		else
			snprintf(t->warnings[i], len, "%s", n->text);
	}
	return TASKER_OK;
}

/* ------------------------------------------------------------------ building */

/* Validates one environment-merged document (no `environments` key) into a template. */
static int validate(ttpl_template **out, const ctx *c, cJSON *doc)
{
	*out = NULL;
	ttpl_template *t = calloc(1, sizeof *t);
	if (!t || !(t->source = strdup(c->source))) {
		free(t);
		return tasker_set_oom();
	}
	const cJSON *schema_at = cJSON_GetObjectItemCaseSensitive(doc, "schema");
	const cJSON *steps_node = cJSON_GetObjectItemCaseSensitive(doc, "step_templates");
	int rc;
	if ((rc = read_task(c, doc, t)) || (rc = read_steps(c, doc, t)) || (rc = index_by_name(c, steps_node, t)) ||
	    (rc = link_dependencies(c, steps_node, t)) || (rc = check_named_steps(c, doc, steps_node, t)) ||
	    (rc = order_steps(c, steps_node, t)) || (rc = compile_schema(c, schema_at, t))) {
		ttpl_free(t);
		return rc;
	}
	*out = t;
	return TASKER_OK;
}

/* Checks that every other environment's overrides also give a valid template, so a mistake in the
 * production overrides is found when the template is loaded anywhere. */
static int check_other_environments(const ctx *c, const cJSON *pristine, const cJSON *envs, const char *selected)
{
	const cJSON *env;
	cJSON_ArrayForEach(env, envs)
	{
		if ((selected && strcmp(env->string, selected) == 0) || !cJSON_IsObject(env))
			continue;
		ctx sub = *c;
		sub.pos = NULL;
		snprintf(sub.scope, sizeof sub.scope, "environments.%.100s", env->string);
		cJSON *doc = cJSON_Duplicate(pristine, 1), *over = cJSON_Duplicate(env, 1);
		int rc = doc && over ? deep_merge(doc, over) : tasker_set_oom();
		ttpl_template *t = NULL;
		if (!rc)
			rc = validate(&t, &sub, doc);
		ttpl_free(t);
		cJSON_Delete(doc);
		cJSON_Delete(over);
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

/* Takes ownership of `doc`. */
static int build(ttpl_template **out, cJSON *doc, const tyj_positions *pos, const char *source,
                 const ttpl_options *opts)
{
	char got[96];
	ttpl_notes notes = {0};
	ctx c = {source ? source : "<string>", pos, "", opts && opts->strict, &notes};
	*out = NULL;
	int rc;
	if (cJSON_IsNull(doc))
		rc = fail(&c, NULL, NULL, "template is empty");
	else if (!cJSON_IsObject(doc))
		rc = fail(&c, doc, NULL, "a template must be a mapping at the top level, got %s",
		          describe(doc, got, sizeof got));
	else
		rc = check_keys(&c, doc, TOP_KEYS, NULL, NULL);
	if (!rc)
		rc = check_duplicates(&c);
	if (!rc)
		rc = check_environments(&c, cJSON_GetObjectItemCaseSensitive(doc, "environments"));
	if (rc) {
		notes_free(&notes);
		cJSON_Delete(doc);
		return rc;
	}
	cJSON *envs = cJSON_DetachItemFromObjectCaseSensitive(doc, "environments");
	const char *env_name = selected_environment(opts ? opts->environment : NULL);
	cJSON *selected = env_name ? cJSON_GetObjectItemCaseSensitive(envs, env_name) : NULL;
	cJSON *pristine = NULL;
	if (cJSON_GetArraySize(envs) > (selected ? 1 : 0) && !(pristine = cJSON_Duplicate(doc, 1)))
		rc = tasker_set_oom();
	if (!rc && cJSON_IsObject(selected))
		rc = deep_merge(doc, selected);
	if (!rc)
		rc = validate(out, &c, doc);
	if (!rc && pristine)
		rc = check_other_environments(&c, pristine, envs, env_name);
	if (!rc)
		rc = take_warnings(*out, &notes);
	if (rc) {
		ttpl_free(*out);
		*out = NULL;
	}
	notes_free(&notes);
	cJSON_Delete(pristine);
	cJSON_Delete(envs);
	cJSON_Delete(doc);
	return rc;
}

/* Re-labels a parser error as a template error, keeping its message (which names the source). */
static int as_template_error(int rc)
{
	if (rc == TASKER_ENOMEM)
		return rc;
	char msg[2048];
	snprintf(msg, sizeof msg, "%s", tasker_error_last()->message);
	return tasker_set_error(TASKER_ETEMPLATE, "%s", msg);
}

int ttpl_load_string(ttpl_template **out, const char *text, size_t len, const char *source_name, int is_json,
                     const ttpl_options *opts)
{
	const char *source = source_name ? source_name : "<string>";
	*out = NULL;
	if (!text)
		return tasker_set_error(TASKER_EINVAL, "%s: template text is NULL", source);
	cJSON *doc = NULL;
	tyj_positions *pos = NULL;
	int rc = is_json ? tyj_parse_json(&doc, text, len, source) : tyj_parse_yaml(&doc, &pos, text, len, source);
	if (rc)
		return as_template_error(rc);
	rc = build(out, doc, pos, source, opts);
	tyj_positions_free(pos);
	return rc;
}

int ttpl_from_json(ttpl_template **out, const cJSON *doc, const char *source_name, const ttpl_options *opts)
{
	*out = NULL;
	if (!doc)
		return tasker_set_error(TASKER_EINVAL, "%s: template document is NULL",
		                        source_name ? source_name : "<string>");
	cJSON *copy = cJSON_Duplicate(doc, 1);
	if (!copy)
		return tasker_set_oom();
	return build(out, copy, NULL, source_name, opts);
}

int ttpl_load_file(ttpl_template **out, const char *path, const ttpl_options *opts)
{
	*out = NULL;
	if (!path)
		return tasker_set_error(TASKER_EINVAL, "template path is NULL");
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	int is_json;
	if (dot && (!slash || dot > slash) && (strcasecmp(dot, ".yaml") == 0 || strcasecmp(dot, ".yml") == 0))
		is_json = 0;
	else if (dot && (!slash || dot > slash) && strcasecmp(dot, ".json") == 0)
		is_json = 1;
	else
		return tasker_set_error(TASKER_ETEMPLATE, "%s: a template file must end in .yaml, .yml or .json", path);
	char *text = NULL;
	size_t len = 0;
	int rc = tfile_read(&text, &len, path, "template", TTPL_MAX_FILE_BYTES, TASKER_ETEMPLATE);
	if (rc)
		return rc;
	rc = ttpl_load_string(out, text, len, path, is_json, opts);
	free(text);
	return rc;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ttpl_free(ttpl_template *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsteps; i++) {
		ttpl_step *s = &t->steps[i];
		free(s->name);
		free(s->description);
		free(s->handler_class);
		free(s->dependent_system);
		free_strings(s->depends_on, s->ndepends);
		free(s->parents);
		cJSON_Delete(s->handler_config);
		cJSON_Delete(s->custom_events);
	}
	free(t->steps);
	free(t->topo);
	free(t->by_name);
	free_strings(t->named_steps, t->nnamed_steps);
	cJSON_Delete(t->schema);
	if (t->compiled_schema)
		tjs_free(t->compiled_schema);
	cJSON_Delete(t->custom_events);
	cJSON_Delete(t->handler_config);
	free_strings(t->warnings, t->nwarnings);
	free(t->source);
	free(t->namespace_name);
	free(t->name);
	free(t->version);
	free(t->description);
	free(t->task_handler_class);
	free(t->module_namespace);
	free(t->default_dependent_system);
	free(t);
}

int ttpl_find_step(const ttpl_template *t, const char *name)
{
	if (!t || !name || !t->by_name)
		return -1;
	size_t lo = 0, hi = t->nsteps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->steps[t->by_name[mid]].name, name);
		if (c == 0)
			return (int)t->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ------------------------------------------------------------------ canonical JSON */

static int add_string(cJSON *obj, const char *key, const char *value)
{
	return !value || cJSON_AddStringToObject(obj, key, value) != NULL;
}

static int add_copy(cJSON *obj, const char *key, const cJSON *value)
{
	if (!value)
		return 1;
	cJSON *copy = cJSON_Duplicate(value, 1);
	if (copy && cJSON_AddItemToObject(obj, key, copy))
		return 1;
	cJSON_Delete(copy);
	return 0;
}

static int add_names(cJSON *obj, const char *key, char *const *names, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, key);
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *v = cJSON_CreateString(names[i]);
		if (!v)
			return 0;
		cJSON_AddItemToArray(arr, v);
	}
	return arr != NULL;
}

static cJSON *step_json(const ttpl_step *s)
{
	cJSON *o = cJSON_CreateObject();
	int ok = o && add_string(o, "name", s->name) && add_string(o, "description", s->description) &&
	         add_string(o, "handler_class", s->handler_class) &&
	         add_string(o, "dependent_system", s->dependent_system) &&
	         cJSON_AddBoolToObject(o, "default_retryable", s->default_retryable) &&
	         cJSON_AddNumberToObject(o, "default_retry_limit", s->default_retry_limit) &&
	         cJSON_AddBoolToObject(o, "skippable", s->skippable) &&
	         add_names(o, "depends_on_steps", s->depends_on, s->ndepends) &&
	         add_copy(o, "handler_config", s->handler_config) && add_copy(o, "custom_events", s->custom_events);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

char *ttpl_to_json(const ttpl_template *t)
{
	cJSON *o = cJSON_CreateObject();
	int ok = o && add_string(o, "name", t->name) && add_string(o, "namespace_name", t->namespace_name) &&
	         add_string(o, "version", t->version) && add_string(o, "description", t->description) &&
	         add_string(o, "module_namespace", t->module_namespace) &&
	         add_string(o, "task_handler_class", t->task_handler_class) &&
	         cJSON_AddBoolToObject(o, "concurrent", t->concurrent) &&
	         add_string(o, "default_dependent_system", t->default_dependent_system);
	ok = ok && (!t->named_steps || add_names(o, "named_steps", t->named_steps, t->nnamed_steps));
	ok = ok && add_copy(o, "schema", t->schema) && add_copy(o, "custom_events", t->custom_events) &&
	     add_copy(o, "handler_config", t->handler_config);
	cJSON *steps = ok ? cJSON_AddArrayToObject(o, "step_templates") : NULL;
	ok = steps != NULL;
	for (size_t i = 0; ok && i < t->nsteps; i++) {
		cJSON *s = step_json(&t->steps[i]);
		ok = s != NULL;
		if (ok)
			cJSON_AddItemToArray(steps, s);
	}
	char *text = ok ? tjson_print(o) : NULL; /* numbers as the template wrote them */
	cJSON_Delete(o);
	if (!text)
		tasker_set_oom();
	return text;
}
