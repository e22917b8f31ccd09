/*
 * registry.c — find-or-create of the template's rows and the template cache (see registry.h).
 * Entries are never freed before the registry, so pointers handed out stay valid; a re-registered
 * template replaces the cache slot and the old entry is kept until the registry is freed.
 */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

struct treg {
	pthread_mutex_t mu;
	treg_entry **entries;   /* current entries, searched linearly (a process uses few templates) */
	size_t n, cap;
	treg_entry **retired;   /* replaced entries, freed with the registry */
	size_t nretired, capretired;
};


static const tdb_stmt Q_NS_INSERT = {
	"reg_ns_insert",
	"INSERT INTO tasker_task_namespaces (name, created_at, updated_at) VALUES ($1, " NOW_UTC ", " NOW_UTC
	") ON CONFLICT (name) DO NOTHING"};
static const tdb_stmt Q_NS_FIND = {"reg_ns_find",
                                   "SELECT task_namespace_id FROM tasker_task_namespaces WHERE name = $1"};
static const tdb_stmt Q_NT_UPSERT = {
	"reg_nt_upsert",
	"INSERT INTO tasker_named_tasks (name, description, task_namespace_id, version, configuration, "
	"created_at, updated_at) VALUES ($1, $2, $3::int, $4, $5::jsonb, " NOW_UTC ", " NOW_UTC ") "
	"ON CONFLICT (task_namespace_id, name, version) DO UPDATE SET description = EXCLUDED.description, "
	"configuration = EXCLUDED.configuration, updated_at = EXCLUDED.updated_at "
	"WHERE tasker_named_tasks.configuration IS DISTINCT FROM EXCLUDED.configuration "
	"OR tasker_named_tasks.description IS DISTINCT FROM EXCLUDED.description"};
static const tdb_stmt Q_NT_FIND = {
	"reg_nt_find",
	"SELECT named_task_id FROM tasker_named_tasks WHERE task_namespace_id = $1::int AND name = $2 "
	"AND version = $3"};
/* $1 text[] of system names → ids in the same order */
static const tdb_stmt Q_DS_INSERT = {
	"reg_ds_insert",
	"INSERT INTO tasker_dependent_systems (name, created_at, updated_at) SELECT DISTINCT n, " NOW_UTC
	", " NOW_UTC " FROM unnest($1::text[]) AS n ON CONFLICT (name) DO NOTHING"};
static const tdb_stmt Q_DS_FIND = {
	"reg_ds_find",
	"SELECT d.dependent_system_id FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i) "
	"JOIN tasker_dependent_systems d ON d.name = u.n ORDER BY u.i"};
/* $1 int[] system ids, $2 text[] step names, $3 text[] descriptions */
static const tdb_stmt Q_NS_STEP_INSERT = {
	"reg_step_insert",
	"INSERT INTO tasker_named_steps (dependent_system_id, name, description, created_at, updated_at) "
	"SELECT s, n, d, " NOW_UTC ", " NOW_UTC " FROM unnest($1::int[], $2::text[], $3::text[]) AS u(s, n, d) "
	"ON CONFLICT (dependent_system_id, name) DO NOTHING"};
static const tdb_stmt Q_NS_STEP_FIND = {
	"reg_step_find",
	"SELECT st.named_step_id FROM unnest($1::int[], $2::text[]) WITH ORDINALITY AS u(s, n, i) "
	"JOIN tasker_named_steps st ON st.dependent_system_id = u.s AND st.name = u.n ORDER BY u.i"};
/* $1 named_task_id, $2 int[] step ids, $3 bool[] skippable, $4 bool[] retryable, $5 int[] limits */
static const tdb_stmt Q_LINK_UPSERT = {
	"reg_link_upsert",
	"INSERT INTO tasker_named_tasks_named_steps (named_task_id, named_step_id, skippable, "
	"default_retryable, default_retry_limit, created_at, updated_at) "
	"SELECT $1::int, s, k, r, l, " NOW_UTC ", " NOW_UTC
	" FROM unnest($2::int[], $3::bool[], $4::bool[], $5::int[]) AS u(s, k, r, l) "
	"ON CONFLICT (named_task_id, named_step_id) DO UPDATE SET skippable = EXCLUDED.skippable, "
	"default_retryable = EXCLUDED.default_retryable, default_retry_limit = EXCLUDED.default_retry_limit, "
	"updated_at = EXCLUDED.updated_at WHERE (tasker_named_tasks_named_steps.skippable, "
	"tasker_named_tasks_named_steps.default_retryable, tasker_named_tasks_named_steps.default_retry_limit) "
	"IS DISTINCT FROM (EXCLUDED.skippable, EXCLUDED.default_retryable, EXCLUDED.default_retry_limit)"};
static const tdb_stmt Q_LOAD_BY_NAME = {
	"reg_load_by_name",
	"SELECT nt.named_task_id, nt.configuration::text FROM tasker_named_tasks nt "
	"JOIN tasker_task_namespaces ns ON ns.task_namespace_id = nt.task_namespace_id "
	"WHERE ns.name = $1 AND nt.name = $2 AND nt.version = $3"};
static const tdb_stmt Q_LOAD_BY_ID = {
	"reg_load_by_id", "SELECT named_task_id, configuration::text FROM tasker_named_tasks "
	                  "WHERE named_task_id = $1::int"};
enum { LOAD_NAMED_TASK_ID, LOAD_CONFIGURATION }; /* the columns of Q_LOAD_BY_NAME and Q_LOAD_BY_ID */

int treg_new(treg **out)
{
	treg *r = calloc(1, sizeof *r);
	if (!r)
		return tasker_set_oom();
	pthread_mutex_init(&r->mu, NULL);
	*out = r;
	return TASKER_OK;
}

static void entry_free(treg_entry *e)
{
	if (!e)
		return;
	ttpl_free(e->tpl);
	free(e->named_step_ids);
	free(e->full_name);
	free(e);
}

void treg_free(treg *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		entry_free(r->entries[i]);
	for (size_t i = 0; i < r->nretired; i++)
		entry_free(r->retired[i]);
	free(r->entries);
	free(r->retired);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static int push(treg_entry ***arr, size_t *n, size_t *cap, treg_entry *e)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		treg_entry **p = realloc(*arr, c * sizeof *p);
		if (!p)
			return tasker_set_oom();
		*arr = p;
		*cap = c;
	}
	(*arr)[(*n)++] = e;
	return TASKER_OK;
}

static int same_key(const treg_entry *e, const char *ns, const char *name, const char *version)
{
	return strcmp(e->tpl->namespace_name, ns) == 0 && strcmp(e->tpl->name, name) == 0 &&
	       strcmp(e->tpl->version, version) == 0;
}

/* Adds or replaces the cached entry; takes ownership of `e`. */
static int cache_put(treg *r, treg_entry *e)
{
	int rc = TASKER_OK;
	pthread_mutex_lock(&r->mu);
	size_t i;
	for (i = 0; i < r->n; i++)
		if (same_key(r->entries[i], e->tpl->namespace_name, e->tpl->name, e->tpl->version))
			break;
	if (i < r->n) {
		rc = push(&r->retired, &r->nretired, &r->capretired, r->entries[i]);
		if (!rc)
			r->entries[i] = e;
	} else {
		rc = push(&r->entries, &r->n, &r->cap, e);
	}
	pthread_mutex_unlock(&r->mu);
	if (rc)
		entry_free(e);
	return rc;
}

static treg_entry *cache_find(treg *r, const char *ns, const char *name, const char *version, int32_t id)
{
	treg_entry *found = NULL;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n && !found; i++) {
		treg_entry *e = r->entries[i];
		if (ns ? same_key(e, ns, name, version) : e->named_task_id == id)
			found = e;
	}
	pthread_mutex_unlock(&r->mu);
	return found;
}

/* Every *_FIND statement above returns one column: the id. */
enum { FIND_ID };

static int32_t first_int(PGresult *res) { return (int32_t)tdb_get_i64(res, 0, FIND_ID, -1); }

/* Runs `ins` (insert … on conflict do nothing) then `find`, which must return one id per input row. */
static int find_or_create_ids(tdb *db, const tdb_stmt *ins, const tdb_stmt *find, int nins,
                              const char *const *insp, int nfind, const char *const *findp, int32_t *ids,
                              size_t count, const char *what)
{
	int rc = tdb_exec(NULL, db, ins, nins, insp, what);
	PGresult *res;
	if (rc || (rc = tdb_exec(&res, db, find, nfind, findp, what)))
		return rc;
	if ((size_t)PQntuples(res) != count) {
		PQclear(res);
		return tasker_set_error(TASKER_ERROR, "%s: expected %zu rows, found %d", what, count,
		                        PQntuples(res));
	}
	for (size_t i = 0; i < count; i++)
		ids[i] = (int32_t)tdb_get_i64(res, (int)i, FIND_ID, -1);
	PQclear(res);
	return TASKER_OK;
}

static int write_rows(tdb *db, treg_entry *e)
{
	const ttpl_template *t = e->tpl;
	char b1[24], b2[24];
	int rc;
	PGresult *res;
	const char *nsp[] = {t->namespace_name};
	if ((rc = tdb_exec(NULL, db, &Q_NS_INSERT, 1, nsp, "creating the namespace")) ||
	    (rc = tdb_exec(&res, db, &Q_NS_FIND, 1, nsp, "finding the namespace")))
		return rc;
	e->task_namespace_id = first_int(res);
	PQclear(res);

	char *config = ttpl_to_json(t);
	if (!config)
		return tasker_set_oom();
	const char *ntp[] = {t->name, t->description, tdb_fmt_i64(b1, e->task_namespace_id), t->version, config};
	rc = tdb_exec(NULL, db, &Q_NT_UPSERT, 5, ntp, "creating the named task");
	free(config);
	const char *ntf[] = {tdb_fmt_i64(b2, e->task_namespace_id), t->name, t->version};
	if (rc || (rc = tdb_exec(&res, db, &Q_NT_FIND, 3, ntf, "finding the named task")))
		return rc;
	e->named_task_id = first_int(res);
	PQclear(res);

	tbuf systems, names, descs, sysids, skip, retry, limits;
	tbuf *all[] = {&systems, &names, &descs, &sysids, &skip, &retry, &limits};
	for (size_t i = 0; i < 7; i++) {
		tbuf_init(all[i]);
		tbuf_puts(all[i], "{");
	}
	for (size_t i = 0; i < t->nsteps; i++) {
		const ttpl_step *s = &t->steps[i];
		const char *sep = i ? "," : "";
		tbuf_puts(&systems, sep);
		tbuf_array_elem(&systems, s->dependent_system);
		tbuf_puts(&names, sep);
		tbuf_array_elem(&names, s->name);
		tbuf_puts(&descs, sep);
		tbuf_array_elem(&descs, s->description);
		tbuf_printf(&skip, "%s%s", sep, s->skippable ? "t" : "f");
		tbuf_printf(&retry, "%s%s", sep, s->default_retryable ? "t" : "f");
		tbuf_printf(&limits, "%s%d", sep, s->default_retry_limit);
	}
	for (size_t i = 0; i < 7; i++)
		if (all[i] != &sysids) /* filled below, once the systems' ids are known */
			tbuf_puts(all[i], "}");
	int32_t *sys = calloc(t->nsteps ? t->nsteps : 1, sizeof *sys);
	rc = sys ? TASKER_OK : tasker_set_oom();
	const char *dsp[] = {systems.data};
	if (!rc)
		rc = find_or_create_ids(db, &Q_DS_INSERT, &Q_DS_FIND, 1, dsp, 1, dsp, sys, t->nsteps,
		                        "creating dependent systems");
	for (size_t i = 0; !rc && i < t->nsteps; i++)
		tbuf_printf(&sysids, "%s%d", i ? "," : "", sys[i]);
	tbuf_puts(&sysids, "}");
	const char *stp[] = {sysids.data, names.data, descs.data};
	if (!rc)
		rc = find_or_create_ids(db, &Q_NS_STEP_INSERT, &Q_NS_STEP_FIND, 3, stp, 2, stp, e->named_step_ids,
		                        t->nsteps, "creating named steps");
	tbuf stepids;
	tbuf_init(&stepids);
	tbuf_puts(&stepids, "{");
	for (size_t i = 0; i < t->nsteps; i++)
		tbuf_printf(&stepids, "%s%d", i ? "," : "", e->named_step_ids[i]);
	tbuf_puts(&stepids, "}");
	const char *lkp[] = {tdb_fmt_i64(b1, e->named_task_id), stepids.data, skip.data, retry.data, limits.data};
	if (!rc && (systems.oom || names.oom || descs.oom || sysids.oom || skip.oom || retry.oom ||
	            limits.oom || stepids.oom))
		rc = tasker_set_oom();
	if (!rc)
		rc = tdb_exec(NULL, db, &Q_LINK_UPSERT, 5, lkp, "linking named steps to the named task");
	free(sys);
	tbuf_free(&stepids);
	for (size_t i = 0; i < 7; i++)
		tbuf_free(all[i]);
	return rc;
}

static treg_entry *entry_new(ttpl_template *tpl)
{
	treg_entry *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->tpl = tpl;
	e->named_step_ids = calloc(tpl->nsteps ? tpl->nsteps : 1, sizeof *e->named_step_ids);
	size_t n = strlen(tpl->namespace_name) + strlen(tpl->name) + strlen(tpl->version) + 3;
	e->full_name = malloc(n);
	if (!e->named_step_ids || !e->full_name) {
		e->tpl = NULL;
		entry_free(e);
		return NULL;
	}
	snprintf(e->full_name, n, "%s.%s@%s", tpl->namespace_name, tpl->name, tpl->version);
	return e;
}

/* Writes the rows of `e` in a transaction of its own unless one is already open. */
static int write_entry(tdb *db, treg_entry *e)
{
	int own = !tdb_in_transaction(db);
	int rc = own ? tdb_begin(db) : TASKER_OK;
	if (!rc)
		rc = write_rows(db, e);
	if (own) {
		if (!rc)
			rc = tdb_commit(db);
		else
			tdb_rollback(db);
	}
	return rc;
}

int treg_register(treg *r, tdb *db, ttpl_template *tpl, const treg_entry **out)
{
	treg_entry *e = entry_new(tpl);
	if (!e) {
		ttpl_free(tpl);
		return tasker_set_oom();
	}
	int rc = write_entry(db, e);
	if (rc) {
		entry_free(e);
		return rc;
	}
	if ((rc = cache_put(r, e)))
		return rc;
	if (out)
		*out = e;
	return TASKER_OK;
}

/* Builds an entry from a stored configuration and resolves its ids (rows exist; find-or-create
 * is idempotent, so this also repairs missing links). */
static int load_stored(const treg_entry **out, treg *r, tdb *db, PGresult *res, const char *label)
{
	const char *config = tdb_get(res, 0, LOAD_CONFIGURATION);
	cJSON *doc = config ? tjson_parse(config, label) : NULL; /* numbers as stored, not as doubles */
	if (!doc || !cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		return tasker_set_error(TASKER_ENOTFOUND,
		                        "template %s exists in the database but has no usable configuration "
		                        "(register its template file once with tasker-core)", label);
	}
	ttpl_template *tpl = NULL;
	int rc = ttpl_from_json(&tpl, doc, label, NULL);
	cJSON_Delete(doc);
	if (rc)
		return rc;
	treg_entry *e = entry_new(tpl);
	if (!e) {
		ttpl_free(tpl);
		return tasker_set_oom();
	}
	if ((rc = write_entry(db, e))) {
		entry_free(e);
		return rc;
	}
	if ((rc = cache_put(r, e)))
		return rc;
	*out = e;
	return TASKER_OK;
}

int treg_lookup(const treg_entry **out, treg *r, tdb *db, const char *ns, const char *name,
                const char *version)
{
	*out = cache_find(r, ns, name, version, 0);
	if (*out)
		return TASKER_OK;
	PGresult *res;
	const char *p[] = {ns, name, version};
	int rc = tdb_exec(&res, db, &Q_LOAD_BY_NAME, 3, p, "looking up the task template");
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return tasker_set_error(TASKER_ENOTFOUND, "unknown task template %s.%s@%s (register it first)", ns,
		                        name, version);
	}
	char label[300];
	snprintf(label, sizeof label, "stored template %s.%s@%s", ns, name, version);
	rc = load_stored(out, r, db, res, label);
	PQclear(res);
	return rc;
}

int treg_lookup_id(const treg_entry **out, treg *r, tdb *db, int32_t named_task_id)
{
	*out = cache_find(r, NULL, NULL, NULL, named_task_id);
	if (*out)
		return TASKER_OK;
	char b[24];
	const char *p[] = {tdb_fmt_i64(b, named_task_id)};
	PGresult *res;
	int rc = tdb_exec(&res, db, &Q_LOAD_BY_ID, 1, p, "looking up the task template");
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return tasker_set_error(TASKER_ENOTFOUND, "named task %d does not exist", named_task_id);
	}
	char label[64];
	snprintf(label, sizeof label, "stored template #%d", named_task_id);
	rc = load_stored(out, r, db, res, label);
	PQclear(res);
	return rc;
}

int treg_step_index(const treg_entry *e, int32_t named_step_id)
{
	for (size_t i = 0; i < e->tpl->nsteps; i++)
		if (e->named_step_ids[i] == named_step_id)
			return (int)i;
	return -1;
}

/* ---- public API */
