/*
 * config.h — the engine's configuration: one options struct (tasker_config), its defaults, and
 * loading it from YAML files and TASKER_* environment variables. Written in the public style so the
 * declarations can move into tasker.h unchanged. Reads no database and starts nothing: the values
 * are only consulted by the modules that own the behaviour (backoff.c, the worker, the client).
 *
 * Section and key names follow the Rails engine's configuration types (BackoffConfig,
 * ExecutionConfig, EngineConfig) where the two overlap; docs/configuration.md lists every option.
 */
#ifndef TASKER_CORE_CONFIG_H
#define TASKER_CORE_CONFIG_H

#include <stddef.h>

#include "tasker.h"

#define TASKER_CONFIG_VERSION 1

/* The most entries backoff.default_backoff_seconds may hold. */
#define TASKER_CONFIG_BACKOFF_TABLE_MAX 32

/* backoff: how long a failed step waits before its next attempt (see backoff.h), and the delays the
 * Rails engine uses when it re-enqueues a task. */
typedef struct tasker_backoff_config {
	/* Delay before attempt n+1 after n failed attempts, for n = 1..count (seconds, each >= 0).
	 * Beyond the table the delay is (int)pow(n, backoff_multiplier). Default [1,2,4,8,16,32]. */
	int default_backoff_seconds[TASKER_CONFIG_BACKOFF_TABLE_MAX];
	size_t default_backoff_seconds_count;  /* 1..TASKER_CONFIG_BACKOFF_TABLE_MAX; default 6 */
	int max_backoff_seconds;               /* cap on any computed or requested delay; > 0; default 300 */
	double backoff_multiplier;             /* exponent beyond the table; > 0; default 2.0 */
	int jitter_enabled;                    /* 1: spread delays by ±jitter_max_percentage; default 1 */
	double jitter_max_percentage;          /* 0..1; default 0.1 (±10 %) */
	/* Delay (seconds, >= 0) before a task is looked at again, by what it is waiting for. The Rails
	 * engine re-enqueues its task job with these; kept so both engines read one file. */
	struct {
		int has_ready_steps;           /* default 0 */
		int waiting_for_dependencies;  /* default 45 */
		int processing;                /* default 10 */
	} reenqueue_delays;
	int default_reenqueue_delay;           /* any other execution status; >= 0; default 30 */
	int buffer_seconds;                    /* added to the longest pending backoff when a task waits
	                                          for a retry; >= 0; default 5 */
} tasker_backoff_config;

/* execution: how a worker claims, runs and completes steps. */
typedef struct tasker_execution_config {
	int concurrency;              /* steps one worker runs at once; > 0; default 10 (Rails alias:
	                                 max_concurrent_steps_limit) */
	int lease_seconds;            /* how long a claimed step is owned before another worker may
	                                 recover it (counted as an attempt); > 0; default 30 */
	int claim_batch_size;         /* most steps claimed in one transaction; > 0; default 32 */
	int completion_batch_size;    /* most results recorded in one transaction; > 0; default 32 */
	int completion_flush_ms;      /* longest a partial completion batch waits before it is written;
	                                 >= 0; default 2 */
	int poll_interval_ms;         /* an idle worker looks for work this often when no NOTIFY arrives;
	                                 > 0; default 1000 */
	int step_timeout_seconds;     /* longest one run of a handler may take before it counts as
	                                 failed; 0 = no limit; default 0 */
	int shutdown_timeout_seconds; /* how long stopping waits for running handlers; >= 0; default 30 */
} tasker_execution_config;

/* engine: how tasks are identified and where templates are found. */
typedef struct tasker_engine_config {
	/* TASKER_IDENTITY_UNIQUE ("default": every request creates a task) or TASKER_IDENTITY_HASH
	 * ("hash": an identical request returns the existing task). Default TASKER_IDENTITY_UNIQUE. */
	tasker_identity_strategy identity_strategy;
	char **task_template_directories;       /* owned; directories searched for task templates */
	size_t task_template_directories_count; /* default 0 */
	char *environment;                      /* owned; selects a template's `environments:` override;
	                                           NULL (default) → the caller's default */
} tasker_engine_config;

/* database: where the engine's tables live. */
typedef struct tasker_database_config {
	char *url;     /* owned; libpq URL or key=value string; NULL (default) → libpq's PG* variables */
	int pool_size; /* most connections a client opens; > 0; default 8 */
} tasker_database_config;

typedef struct tasker_config {
	unsigned int version; /* TASKER_CONFIG_VERSION (set by tasker_config_init) */
	tasker_backoff_config backoff;
	tasker_execution_config execution;
	tasker_engine_config engine;
	tasker_database_config database;
} tasker_config;

/* Fills *c with the defaults. Owns nothing yet; pair every init with tasker_config_clear. */
TASKER_EXTERN void tasker_config_init(tasker_config *c);

/* Frees the strings and arrays *c owns and resets it to the defaults. NULL is fine. */
TASKER_EXTERN void tasker_config_clear(tasker_config *c);

/* Deep copy: *out (not cleared first; pass an uninitialized or cleared struct, never src itself)
 * becomes an independent copy of *src. Free it with tasker_config_clear. TASKER_ENOMEM leaves *out
 * at the defaults. */
TASKER_EXTERN int tasker_config_copy(tasker_config *out, const tasker_config *src);

/* Checks every value of *c against its range (used on a struct filled in by hand). TASKER_ECONFIG
 * names the first bad key path and its value; TASKER_EINVAL if c->version is not supported. */
TASKER_EXTERN int tasker_config_validate(const tasker_config *c);

/* Reads a YAML file over *c: only the keys present override. The sections may sit at the top level
 * or under a top-level `tasker:` key (Rails style). An unknown section or key, a wrong type or an
 * out-of-range value is TASKER_ECONFIG naming "file:line: section.key: problem"; a missing file is
 * TASKER_ENOTFOUND, another I/O error TASKER_ERROR. On any failure *c is left unchanged. */
TASKER_EXTERN int tasker_config_load_file(tasker_config *c, const char *path);

/* The same from YAML text; `source` names it in error messages (NULL → "<string>"). */
TASKER_EXTERN int tasker_config_load_string(tasker_config *c, const char *yaml, const char *source);

/* Applies TASKER_<SECTION>_<KEY> environment variables over *c (e.g. TASKER_EXECUTION_CONCURRENCY=4,
 * TASKER_BACKOFF_DEFAULT_BACKOFF_SECONDS=1,2,3, TASKER_DATABASE_URL=postgres://...). Lists are
 * comma-separated; an empty variable counts as unset. A bad value is TASKER_ECONFIG naming the key
 * and the variable; on failure *c is left unchanged. */
TASKER_EXTERN int tasker_config_apply_env(tasker_config *c);

/* Every key with its current value, as YAML that tasker_config_load_string reads back to an equal
 * config (database.url included verbatim: redact before showing it to others). NULL on out of
 * memory. malloc'd; free with tasker_free. */
TASKER_EXTERN char *tasker_config_to_yaml(const tasker_config *c);

#endif
