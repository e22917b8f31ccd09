/*
 * registry.h — registered task templates: the database rows a template needs (namespace, named task,
 * dependent systems, named steps and their links) and a per-client cache of parsed templates with
 * those ids. A template registered by any process is found again through
 * tasker_named_tasks.configuration. Does not create tasks.
 */
#ifndef TASKER_CORE_REGISTRY_H
#define TASKER_CORE_REGISTRY_H

#include <pthread.h>
#include <stdint.h>

#include "db.h"
#include "template.h"

typedef struct treg_entry {
	int32_t named_task_id;
	int32_t task_namespace_id;
	ttpl_template *tpl;
	int32_t *named_step_ids;   /* per tpl->steps index */
	char *full_name;           /* "namespace.name@version" */
} treg_entry;

typedef struct treg treg;

int treg_new(treg **out);
void treg_free(treg *reg);

/* Registers a parsed template (takes ownership of `tpl`, also on failure) in its own transaction on
 * `db` and caches it. */
int treg_register(treg *reg, tdb *db, ttpl_template *tpl, const treg_entry **out);
/* Finds a template by (namespace, name, version): the cache, else the database. Entries stay valid
 * for the registry's lifetime. TASKER_ENOTFOUND names the template. */
int treg_lookup(const treg_entry **out, treg *reg, tdb *db, const char *ns, const char *name,
                const char *version);
int treg_lookup_id(const treg_entry **out, treg *reg, tdb *db, int32_t named_task_id);
/* Index into entry->tpl->steps of a named step id, or -1. */
int treg_step_index(const treg_entry *e, int32_t named_step_id);

#endif
