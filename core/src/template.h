/*
 * template.h — task templates (the Rails engine's YAML format, or the same keys in JSON): loading,
 * validation, environment overrides, dependency order, canonical JSON. Pure: no database, no handlers.
 */
#ifndef TASKER_CORE_TEMPLATE_H
#define TASKER_CORE_TEMPLATE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "jsonschema.h"

/* Column widths of the Rails schema; longer values are refused on load (counted in characters). */
#define TTPL_MAX_NAMESPACE 64        /* tasker_task_namespaces.name */
#define TTPL_MAX_TASK_NAME 64        /* tasker_named_tasks.name */
#define TTPL_MAX_VERSION 16          /* tasker_named_tasks.version */
#define TTPL_MAX_STEP_NAME 128       /* tasker_named_steps.name */
#define TTPL_MAX_DEPENDENT_SYSTEM 64 /* tasker_dependent_systems.name */
#define TTPL_MAX_DESCRIPTION 255     /* description columns */

typedef struct ttpl_step {
	char *name;
	char *description;      /* defaults to the step name, as the Rails engine does */
	char *handler_class;
	char *dependent_system; /* defaults to the template's default_dependent_system */
	char **depends_on;      /* unique(compact([depends_on_step] + depends_on_steps)), declared order */
	size_t ndepends;
	size_t *parents;        /* indexes into ttpl_template.steps, same order as depends_on */
	int default_retryable;  /* default 1 */
	int default_retry_limit; /* default 3; >= 0 */
	int skippable;          /* default 0 */
	cJSON *handler_config;  /* a JSON object, or NULL when absent; owned */
	cJSON *custom_events;   /* array of {name, description}, or NULL; owned */
} ttpl_step;

typedef struct ttpl_template {
	char *source;           /* file name, or the source name given (default "<string>") */
	char *namespace_name;   /* default "default" */
	char *name;
	char *version;          /* default "0.1.0"; matches ^[0-9]+\.[0-9]+\.[0-9]+$ */
	char *description;      /* NULL if absent */
	char *task_handler_class; /* NULL if absent */
	char *module_namespace; /* NULL if absent */
	char *default_dependent_system; /* default "default" */
	ttpl_step *steps;       /* declared order */
	size_t nsteps;
	size_t *topo;           /* nsteps indexes: parents first; among ready steps, declaration order */
	char **named_steps;     /* NULL and 0 when the template has no named_steps */
	size_t nnamed_steps;
	cJSON *schema;          /* JSON Schema of the task context; owned; NULL if absent */
	tjs_schema *compiled_schema; /* compiled `schema`; NULL if absent */
	cJSON *custom_events;   /* template-level custom_events, or NULL; owned */
	cJSON *handler_config;  /* task-level handler_config (any JSON a handler may read), or NULL; owned */
	int concurrent;         /* default 1; kept for compatibility, no runtime effect */
	size_t *by_name;        /* step indexes sorted by name, for ttpl_find_step */
	char **warnings;        /* what loading ignored (keys tasker-core does not use, a key written twice,
	                           schema keywords not applied), one message each, naming source and line */
	size_t nwarnings;
} ttpl_template;

/* How a template is read. */
typedef struct ttpl_options {
	const char *environment; /* selects environments[environment]; NULL → $TASKER_ENV, then $RAILS_ENV;
	                            "" → none */
	int strict;              /* 1: a key tasker-core does not use, a key written twice or a schema keyword
	                            that is not applied is an error; 0: each is ignored and noted in warnings */
} ttpl_options;

/*
 * Loads a template file; `.yaml`/`.yml` are read as YAML (as Ruby's YAML reads it: yamljson.h) and `.json`
 * as JSON (case-insensitive). `opts->environment` selects `environments[environment]`, deep-merged over the
 * base (mappings merge, step overrides merge into the base step of the same name, anything else is
 * replaced). The overrides of every other environment are checked too, so a broken production override
 * fails wherever the template is loaded. Keys the Rails engine allows that tasker-core does not use are
 * ignored and listed in t->warnings (or refused with opts->strict); the task-level handler_config is
 * kept. opts may be NULL (no environment given, not strict).
 * On success *out is freed with ttpl_free.
 * Errors: TASKER_ETEMPLATE (one error; the message names the file, the step when there is one, the
 * problem, and the line when known), TASKER_ENOTFOUND (no such file), TASKER_ERROR (unreadable file),
 * TASKER_ENOMEM.
 */
int ttpl_load_file(ttpl_template **out, const char *path, const ttpl_options *opts);

/* As ttpl_load_file, from text; `source_name` (NULL → "<string>") names it in errors. */
int ttpl_load_string(ttpl_template **out, const char *text, size_t len, const char *source_name,
                     int is_json, const ttpl_options *opts);

/* As ttpl_load_file, from an already parsed document (not modified). */
int ttpl_from_json(ttpl_template **out, const cJSON *doc, const char *source_name, const ttpl_options *opts);

/* NULL is fine. */
void ttpl_free(ttpl_template *t);

/* Index of the step named `name`, or -1. O(log n). */
int ttpl_find_step(const ttpl_template *t, const char *name);

/*
 * Canonical JSON of the (environment-merged) template, for tasker_named_tasks.configuration: fixed key
 * order, every default spelled out, dependencies as `depends_on_steps`, no `environments`.
 * ttpl_from_json of it gives the same template. malloc'd (free with free or tasker_free); NULL only when
 * out of memory (then TASKER_ENOMEM is set).
 */
char *ttpl_to_json(const ttpl_template *t);

#endif
