/*
 * tasker.h — the public, stable C API of tasker-core.
 *
 * Conventions (see STYLE.md):
 *  - every function that can fail returns an int: TASKER_OK (0) or a negative tasker_error_code;
 *    a few return a positive code for a distinct, non-error outcome (TASKER_EXISTS);
 *  - after a failure, tasker_error_last() describes it for the calling thread;
 *  - output parameters come first and are named `out`;
 *  - handles are opaque and created by the library; every returned pointer says who frees it;
 *  - strings are UTF-8, NUL-terminated; JSON crosses as text (the bindings convert to native values).
 */
#ifndef TASKER_H
#define TASKER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TASKER_EXTERN __attribute__((visibility("default")))
#define TASKER_DEPRECATED(replacement) __attribute__((deprecated("use " replacement)))
#else
#define TASKER_EXTERN
#define TASKER_DEPRECATED(replacement)
#endif

#define TASKER_VERSION "0.1.0"

/* ------------------------------------------------------------------ errors */

typedef enum tasker_error_code {
	TASKER_OK = 0,
	TASKER_EXISTS = 1,              /* not an error: an identical (idempotent) request already exists */
	TASKER_ERROR = -1,              /* generic failure */
	TASKER_ENOMEM = -2,             /* out of memory */
	TASKER_EINVAL = -3,             /* an argument or a value failed validation; message names the field */
	TASKER_ENOTFOUND = -4,          /* the requested row / template / handler does not exist */
	TASKER_EDB = -5,                /* PostgreSQL reported an error; sqlstate is set */
	TASKER_ECONN = -6,              /* cannot connect, or the connection was lost */
	TASKER_ECONFLICT = -7,          /* state changed underneath you (compare-and-swap lost) */
	TASKER_ETRANSITION = -8,        /* the state machine does not allow this transition */
	TASKER_EMIGRATION = -9,         /* a migration failed; message names it */
	TASKER_ETEMPLATE = -10,         /* a task template is invalid; message names file, step, problem */
	TASKER_ECONTEXT = -11,          /* a task context failed its JSON Schema; message names the path */
	TASKER_EJSON = -12,             /* a value is not valid JSON, or holds what jsonb cannot store (\u0000,
	                                   a number beyond numeric such as 1e999999); message names the path */
	TASKER_ECONFIG = -13,           /* a configuration key or value is invalid; message names the key */
	TASKER_ESTOPPED = -14,          /* the worker or client was stopped */
	TASKER_ETIMEOUT = -15,          /* a bounded wait ran out (a pooled connection: the message names the
	                                   pool size and the wait) */
	TASKER_ECANCELED = -16,         /* the call was cancelled from another thread (tasker_cancel_fire) */
	TASKER_ECLOSED = -17,           /* the client was closed (tasker_client_close) */
} tasker_error_code;

typedef struct tasker_error {
	int code;                  /* a tasker_error_code */
	const char *message;       /* human-readable, never NULL */
	const char *sqlstate;      /* five-character SQLSTATE for TASKER_EDB / TASKER_ECONN, else "" */
} tasker_error;

/* The calling thread's last error. Owned by the library; valid until the thread's next tasker_* call. */
TASKER_EXTERN const tasker_error *tasker_error_last(void);
/* Forget the calling thread's last error. */
TASKER_EXTERN void tasker_error_clear(void);
/* Stable name of an error code, e.g. "TASKER_ECONFLICT". Static storage. */
TASKER_EXTERN const char *tasker_error_name(int code);

/* Frees memory the library returned as `char *` (JSON text, names). NULL is fine. */
TASKER_EXTERN void tasker_free(void *ptr);

/* ------------------------------------------------------------------ configuration */

/* The engine's settings: defaults, a YAML file (sections and keys follow the Rails engine's
 * configuration), then TASKER_<SECTION>_<KEY> environment variables. docs/configuration.md lists
 * every option with its default. */

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
	int claim_batch_size;         /* most steps claimed in one transaction; > 0 (above 256 → 256); default 32 */
	int completion_batch_size;    /* most results recorded in one transaction; > 0; default 32 */
	int completion_flush_ms;      /* longest a partial completion batch waits before it is written;
	                                 >= 0; default 2 */
	int poll_interval_ms;         /* an idle worker looks for work this often when no NOTIFY arrives;
	                                 > 0; default 1000 */
	int step_timeout_seconds;     /* longest one run of a handler may take before it counts as
	                                 failed; 0 = no limit; default 0 */
	int shutdown_timeout_seconds; /* how long stopping waits for running handlers; >= 0; default 30 */
} tasker_execution_config;

typedef enum tasker_identity_strategy {
	TASKER_IDENTITY_CLIENT_DEFAULT = 0, /* whatever the client's configuration says (default: unique) */
	TASKER_IDENTITY_UNIQUE,             /* every request creates a task (random identity) */
	TASKER_IDENTITY_HASH,               /* SHA-256 of the request: an identical request returns the same task */
} tasker_identity_strategy;

/* engine: how tasks are identified and where templates are found. */
typedef struct tasker_engine_config {
	/* TASKER_IDENTITY_UNIQUE ("default": every request creates a task) or TASKER_IDENTITY_HASH
	 * ("hash": an identical request returns the existing task). Default TASKER_IDENTITY_UNIQUE. */
	tasker_identity_strategy identity_strategy;
	char **task_template_directories;       /* owned; directories searched for task templates */
	size_t task_template_directories_count; /* default 0 */
	char *environment;                      /* owned; selects a template's `environments:` override;
	                                           NULL (default) → the caller's default */
	int strict_templates;                   /* 1: a template key tasker-core does not use, a key written
	                                           twice, a schema keyword it does not apply is an error;
	                                           0 (default): ignored, with a warning in the log */
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

/* ------------------------------------------------------------------ client */

/* A client owns a small pool of PostgreSQL connections. It is thread-safe: any thread may call any
 * function with the same client at the same time. */
typedef struct tasker_client tasker_client;

typedef struct tasker_client_options {
	unsigned int version;       /* TASKER_CLIENT_OPTIONS_VERSION */
	const char *database_url;   /* libpq URL or key=value string; NULL → $TASKER_DATABASE_URL, then libpq's PG* env */
	unsigned int pool_size;     /* maximum open connections; 0 → 8 */
	const char *application_name; /* shown in pg_stat_activity; NULL → "tasker-core" */
	const struct tasker_config *config; /* engine configuration (copied); NULL → defaults. Its
	                                       database.url/pool_size apply when the fields above are unset */
	/* Version 2: */
	int pool_timeout_ms;        /* longest wait for a free pooled connection before TASKER_ETIMEOUT (the
	                               message names the pool size); 0 → 30000; -1 → no limit */
} tasker_client_options;

/* Version 1 (without pool_timeout_ms) is still accepted. */
#define TASKER_CLIENT_OPTIONS_VERSION 2
#define TASKER_CLIENT_OPTIONS_INIT {TASKER_CLIENT_OPTIONS_VERSION, NULL, 0, NULL, NULL, 0}

/* Opens a client and checks that one connection can be made. *out is freed with tasker_client_free. */
TASKER_EXTERN int tasker_client_open(tasker_client **out, const tasker_client_options *opts);
/* Closes the client, safely while other threads use it: from now on every call that needs the database
 * returns TASKER_ECLOSED (never a crash); calls waiting for a pooled connection, and waits for an event
 * on an empty tasker_event_queue, return TASKER_ECLOSED at once; statements already running finish, and
 * close waits for them; then every connection is closed. Does not free: call tasker_client_free once no
 * thread uses the client any more (stop and free its workers, close its event queues and watchers
 * first). Thread-safe and idempotent. */
TASKER_EXTERN int tasker_client_close(tasker_client *client);
/* Closes every connection and frees the client. NULL is fine. No call may be in progress (see
 * tasker_client_close for a client other threads may still be using). */
TASKER_EXTERN void tasker_client_free(tasker_client *client);

/* ------------------------------------------------------------------ cancelling a call in flight
 * For bindings whose users interrupt a blocking call (Ctrl-C, Thread#raise, KeyboardInterrupt, an
 * AbortSignal): the binding makes a token its thread's current one around the call, and fires it from
 * wherever the interrupt arrives. */

typedef struct tasker_cancel tasker_cancel;

/* A new token, not fired. Free with tasker_cancel_free (not while it is current on another thread). */
TASKER_EXTERN int tasker_cancel_new(tasker_cancel **out);
TASKER_EXTERN void tasker_cancel_free(tasker_cancel *cancel);
/* Makes `cancel` the calling thread's current token (NULL clears it). While it is set, every blocking
 * tasker_* call made by this thread returns TASKER_ECANCELED soon after tasker_cancel_fire(cancel):
 * a running statement is cancelled (PQcancel; its transaction rolls back, nothing is half-written), a
 * wait for a pooled connection, for a NOTIFY (tasker_event_watcher_poll), for a step
 * (tasker_worker_next), for a worker to stop (tasker_worker_wait) or for an event
 * (tasker_event_queue_next) ends. A token fired before the call makes it return at once. */
TASKER_EXTERN void tasker_cancel_set_current(tasker_cancel *cancel);
/* Fires the token. Thread-safe and async-signal-safe (an atomic store, a write to a pipe, PQcancel).
 * It stays fired (every later call with it current returns TASKER_ECANCELED) until tasker_cancel_reset. */
TASKER_EXTERN void tasker_cancel_fire(tasker_cancel *cancel);
TASKER_EXTERN void tasker_cancel_reset(tasker_cancel *cancel);

/* ------------------------------------------------------------------ migrations */

typedef struct tasker_migration_status {
	int version;               /* e.g. 1 */
	const char *name;          /* e.g. "0001_rails_schema"; static storage */
	int applied;               /* 1 if recorded in the ledger */
} tasker_migration_status;

/* Applies every embedded migration not yet recorded in tasker_core_schema_migrations, in order, each in
 * its own transaction, under a PostgreSQL advisory lock so concurrent callers apply each exactly once.
 * If out_applied is non-NULL it receives how many migrations this call applied. On failure the message
 * names the migration and carries the server's error; the failed migration leaves nothing behind. */
TASKER_EXTERN int tasker_db_apply_migrations(int *out_applied, tasker_client *client);

/* Reports every embedded migration and whether it is applied. *out is an array of *out_count entries,
 * freed with tasker_free. */
TASKER_EXTERN int tasker_db_migration_status(tasker_migration_status **out, size_t *out_count,
                                             tasker_client *client);


/* ------------------------------------------------------------------ states */

/* The six states shared by tasks and workflow steps (the Rails engine's names). */
typedef enum tasker_state {
	TASKER_STATE_PENDING = 0,
	TASKER_STATE_IN_PROGRESS,
	TASKER_STATE_COMPLETE,
	TASKER_STATE_ERROR,
	TASKER_STATE_CANCELLED,
	TASKER_STATE_RESOLVED_MANUALLY,
	TASKER_STATE_COUNT
} tasker_state;

/* "pending", "in_progress", ...; static storage; NULL for an out-of-range value. */
TASKER_EXTERN const char *tasker_state_name(tasker_state state);
/* Parses a state name; TASKER_EINVAL naming the text if unknown. */
TASKER_EXTERN int tasker_state_parse(tasker_state *out, const char *name);

/* The event a transition fires ("task.completed"), or NULL when the state machine forbids it.
 * Static storage. A transition to the current state is never allowed. */
TASKER_EXTERN const char *tasker_task_transition_event(tasker_state from, tasker_state to);
TASKER_EXTERN const char *tasker_step_transition_event(tasker_state from, tasker_state to);

/* Moves a task / workflow step from `expected_from` to `to` in one transaction: inserts the transition
 * row (most_recent = true, sort_key = previous + 10, from_state filled, metadata stored), clears the
 * previous most_recent. Compare-and-swap: if the current state is not `expected_from`, nothing is
 * written and TASKER_ECONFLICT is returned ("state changed underneath you"). A transition the state
 * machine forbids is TASKER_ETRANSITION naming "from → to". metadata_json may be NULL ("{}"); it must
 * be a JSON object (TASKER_EJSON otherwise). TASKER_ENOTFOUND if the id does not exist. */
TASKER_EXTERN int tasker_task_transition(tasker_client *client, int64_t task_id, tasker_state expected_from,
                                         tasker_state to, const char *metadata_json);
TASKER_EXTERN int tasker_step_transition(tasker_client *client, int64_t workflow_step_id,
                                         tasker_state expected_from, tasker_state to,
                                         const char *metadata_json);
/* Current state of a task / step (pending when it has no transition row). */
TASKER_EXTERN int tasker_task_state(tasker_state *out, tasker_client *client, int64_t task_id);
TASKER_EXTERN int tasker_step_state(tasker_state *out, tasker_client *client, int64_t workflow_step_id);


/* ------------------------------------------------------------------ templates */

/* What identifies a template. */
typedef struct tasker_template_info {
	char namespace_name[65];
	char name[65];
	char version[17];
	size_t step_count;
} tasker_template_info;

/* How a template is read. */
typedef struct tasker_template_options {
	unsigned int version;     /* TASKER_TEMPLATE_OPTIONS_VERSION */
	const char *environment;  /* selects an `environments:` override; NULL → $TASKER_ENV, then $RAILS_ENV */
	int strict;               /* -1: the client's engine.strict_templates (default). 0: a key tasker-core
	                             does not use (the Rails engine allows any), a key written twice, a schema
	                             keyword or format it does not apply is ignored and logged as a warning
	                             (TASKER_LOG_WARN, event "log.template"), once per key. 1: each is an error. */
} tasker_template_options;

#define TASKER_TEMPLATE_OPTIONS_VERSION 1
#define TASKER_TEMPLATE_OPTIONS_INIT {TASKER_TEMPLATE_OPTIONS_VERSION, NULL, -1}

/* Loads a task template (.yaml/.yml/.json, the Rails engine's format, YAML read as Ruby reads it),
 * validates it wholly and registers it: find-or-create its namespace, named task (configuration = the
 * template as JSON, a task-level handler_config included), dependent systems, named steps and their
 * links, in one transaction. A template registered once is usable by every process and language sharing
 * the database. The file at `path`, or else `text` (JSON when is_json; `source_name` names it in
 * errors). opts may be NULL (the defaults above). TASKER_ETEMPLATE names file, step, problem and line.
 * `out` (may be NULL) receives the template's identity. */
TASKER_EXTERN int tasker_template_register_ext(tasker_template_info *out, tasker_client *client,
                                               const char *path, const char *text, int is_json,
                                               const char *source_name, const tasker_template_options *opts);
/* tasker_template_register_ext of a file, with `environment` (NULL → $TASKER_ENV, then $RAILS_ENV). */
TASKER_EXTERN int tasker_template_register_file(tasker_template_info *out, tasker_client *client,
                                                const char *path, const char *environment);
/* The same from text; `source_name` is used in error messages. */
TASKER_EXTERN int tasker_template_register_string(tasker_template_info *out, tasker_client *client,
                                                  const char *text, int is_json, const char *source_name,
                                                  const char *environment);
/* Validates a template file without touching a database (not strict; warnings are logged); `out` as
 * above. */
TASKER_EXTERN int tasker_template_validate_file(tasker_template_info *out, const char *path,
                                                const char *environment);

/* One step of a template: what a binding needs to find the handlers of a template's steps. */
typedef struct tasker_template_step {
	const char *name;
	const char *handler_class;
	const char *const *depends_on;   /* step names, in declared order */
	size_t depends_on_count;
	int retry_limit;                 /* default_retry_limit */
	int retryable;                   /* default_retryable */
	int skippable;
} tasker_template_step;

/* Validates a template (the file at `path`, or else `text`, JSON when `is_json`, named `source_name` in
 * errors) as registering it would (not strict), without a database, and describes its steps: *out holds
 * *out_count steps in declared order (free with tasker_template_steps_free); `out_info` (may be NULL) as
 * above. Logs nothing. Errors as for tasker_template_register_file; *out is then NULL. */
TASKER_EXTERN int tasker_template_describe(tasker_template_step **out, size_t *out_count,
                                           tasker_template_info *out_info, const char *path, const char *text,
                                           int is_json, const char *source_name, const char *environment);
TASKER_EXTERN void tasker_template_steps_free(tasker_template_step *steps, size_t count);

/* Health counts of the whole system (get_system_health_counts_v01) as a JSON object, plus
 * "steps_waiting_for_handler": ready steps whose handler_class no running worker has (see worker
 * presence). malloc'd; free with tasker_free. */
TASKER_EXTERN int tasker_health_counts(char **out_json, tasker_client *client);

/* ------------------------------------------------------------------ tasks */


typedef struct tasker_task_request {
	unsigned int version;          /* TASKER_TASK_REQUEST_VERSION */
	const char *name;              /* template name (required) */
	const char *namespace_name;    /* NULL → "default" */
	const char *template_version;  /* NULL → "0.1.0" */
	const char *context_json;      /* JSON object (required); validated against the template's schema */
	const char *initiator;         /* NULL → "unknown" */
	const char *source_system;     /* NULL → "unknown" */
	const char *reason;            /* NULL → "unknown" */
	const char *tags_json;         /* JSON array; NULL → [] */
	const char *bypass_steps_json; /* JSON array of step names that must not run; NULL → [] */
	const char *requested_at;      /* "YYYY-MM-DD HH:MM:SS" UTC; NULL → now */
	tasker_identity_strategy identity_strategy;
	const char *traceparent;       /* W3C trace context of the caller ("00-<trace-id>-<parent-id>-<flags>"),
	                                  kept with the task; its trace-id becomes the correlation id of every
	                                  event and log line of the task. NULL → the correlation id is the
	                                  task's identity_hash (see docs/events.md) */
} tasker_task_request;

#define TASKER_TASK_REQUEST_VERSION 1
#define TASKER_TASK_REQUEST_INIT {TASKER_TASK_REQUEST_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
                                  NULL, NULL, NULL, TASKER_IDENTITY_CLIENT_DEFAULT, NULL}

/* Creates a task, its steps and their edges in one transaction; root steps become claimable at once.
 * Returns TASKER_OK, or TASKER_EXISTS when an identical request (identity HASH) already created a task:
 * *out_task_id is then that task. Errors write nothing: TASKER_ENOTFOUND (unknown template),
 * TASKER_ECONTEXT (context fails the schema; message names the JSON path), TASKER_EJSON,
 * TASKER_EINVAL (a field too long, an unknown or non-skippable bypass step...). */
TASKER_EXTERN int tasker_task_create(int64_t *out_task_id, tasker_client *client,
                                     const tasker_task_request *request);

/* One step as seen by `tasker task show` and the bindings' task views. */
typedef struct tasker_step_view {
	int64_t workflow_step_id;
	const char *name;
	const char *handler_class;
	tasker_state state;
	int attempts;
	int retry_limit;
	int retryable;
	int skippable;
	int processed;
	const char *results_json;      /* "null" when none */
	const int64_t *parent_ids;     /* workflow_step_ids this step depends on */
	size_t parent_count;
} tasker_step_view;

typedef struct tasker_task_view {
	int64_t task_id;
	const char *namespace_name, *name, *version;
	tasker_state state;
	int complete;
	const char *context_json, *tags_json, *initiator, *source_system, *reason, *identity_hash;
	const char *requested_at;      /* UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]" */
	tasker_step_view *steps;       /* in dependency (topological) order */
	size_t step_count;
} tasker_task_view;

/* Reads a task with all its steps. Free with tasker_task_view_free. */
TASKER_EXTERN int tasker_task_get(tasker_task_view **out, tasker_client *client, int64_t task_id);
/* A task's rows as the Rails engine's models read them, for bindings that offer those models' readers: a
 * JSON object {"task": {...}, "workflow_steps": [...]}. "task" holds every column of tasker_tasks, its
 * current "status", and "named_task" (every column of tasker_named_tasks — the template's JSON is its
 * "configuration" — and "namespace_name"); each element of "workflow_steps" (in workflow_step_id
 * order) every column of tasker_workflow_steps, its "name", current "status", "named_step" (every column
 * of tasker_named_steps), and the ids of its "parent_ids" and "child_ids". Timestamps are UTC,
 * "YYYY-MM-DDTHH:MM:SS[.ffffff]". *out_json is malloc'd; free with tasker_free. TASKER_ENOTFOUND when
 * there is no such task. */
TASKER_EXTERN int tasker_task_record(char **out_json, tasker_client *client, int64_t task_id);
TASKER_EXTERN void tasker_task_view_free(tasker_task_view *view);
/* Mermaid flowchart of the task's DAG, nodes coloured by state. malloc'd; free with tasker_free. */
TASKER_EXTERN char *tasker_task_view_mermaid(const tasker_task_view *view);

/* ------------------------------------------------------------------ readiness */

#define TASKER_NULL_TIME INT64_MIN

/* One row of the engine's readiness, column for column get_step_readiness_status (timestamps as
 * microseconds since the Unix epoch, UTC; TASKER_NULL_TIME for SQL NULL; -1 for a NULL integer). */
typedef struct tasker_step_readiness {
	int64_t workflow_step_id;
	int64_t task_id;
	int32_t named_step_id;
	const char *name;
	tasker_state current_state;
	int dependencies_satisfied;
	int retry_eligible;
	int ready_for_execution;
	int64_t last_failure_at;
	int64_t next_retry_at;
	int total_parents;
	int completed_parents;
	int attempts;
	int retry_limit;
	int backoff_request_seconds;
	int64_t last_attempted_at;
} tasker_step_readiness;

/* Readiness of every step of a task, decided in C (see README "Semantics" for where it differs from
 * the SQL function on purpose). Rows ordered by workflow_step_id. Free with tasker_readiness_free. */
TASKER_EXTERN int tasker_task_readiness(tasker_step_readiness **out, size_t *out_count,
                                        tasker_client *client, int64_t task_id);
TASKER_EXTERN void tasker_readiness_free(tasker_step_readiness *rows, size_t count);

/* What a task needs now (get_task_execution_context, with the engine's corrections). */
typedef struct tasker_task_context {
	int64_t task_id;
	int32_t named_task_id;
	tasker_state status;
	int64_t total_steps, pending_steps, in_progress_steps, completed_steps, failed_steps, ready_steps;
	const char *execution_status;   /* has_ready_steps, processing, blocked_by_failures, all_complete,
	                                   waiting_for_dependencies; static storage */
	const char *recommended_action; /* execute_ready_steps, wait_for_completion, handle_failures,
	                                   finalize_task, wait_for_dependencies */
	double completion_percentage;
	const char *health_status;      /* healthy, recovering, blocked, unknown */
	int64_t next_ready_at;          /* earliest backoff end of a waiting step, or TASKER_NULL_TIME */
} tasker_task_context;

TASKER_EXTERN int tasker_task_execution_context(tasker_task_context *out, tasker_client *client,
                                                int64_t task_id);

/* ------------------------------------------------------------------ claim, execute, complete */

/* One step of the task as the handler sees it (the "sequence"). */
typedef struct tasker_sequence_step {
	int64_t workflow_step_id;
	const char *name;
	tasker_state state;
	int attempts;
	const char *results_json;   /* "null" when none */
} tasker_sequence_step;

/* A claimed step: everything a handler needs, self-contained (no pointer into anything else), so it
 * can be handed to another thread, event loop or job system and freed there. */
typedef struct tasker_claimed_step {
	int64_t workflow_step_id;
	int64_t claim_id;            /* present it when completing: proves the claim is still yours */
	int64_t task_id;
	const char *name;
	const char *handler_class;
	const char *handler_config_json; /* "null" when the template gives none */
	const char *inputs_json;
	const char *results_json;    /* results so far ("null" when none) */
	int attempts;                /* attempts finished before this one */
	int retry_limit;
	int retryable;
	const char *namespace_name, *task_name, *task_version;
	const char *context_json, *tags_json, *initiator, *source_system, *reason;
	const tasker_sequence_step *sequence;
	size_t sequence_count;
	int64_t lease_expires_at;    /* microseconds since the epoch, UTC */
	const char *traceparent;     /* the W3C traceparent the task was requested with (tasker_task_request),
	                                NULL when none: the parent of the span a host opens around the step */
} tasker_claimed_step;

typedef struct tasker_claim_options {
	unsigned int version;                 /* TASKER_CLAIM_OPTIONS_VERSION */
	const char *const *handler_classes;   /* claim only these; NULL → any */
	size_t handler_class_count;
	unsigned int max_steps;               /* 0 → 1; above 256 → 256 */
	const char *worker_id;                /* NULL → "<host>:<pid>" */
	int lease_seconds;                    /* 0 → 30 */
} tasker_claim_options;

#define TASKER_CLAIM_OPTIONS_VERSION 1
#define TASKER_CLAIM_OPTIONS_INIT {TASKER_CLAIM_OPTIONS_VERSION, NULL, 0, 1, NULL, 0}

/* Claims up to max_steps ready steps in one transaction (FOR UPDATE SKIP LOCKED; each claimed step
 * moves pending → in_progress, or error → pending → in_progress for a retry). *out is an array of
 * *out_count pointers (possibly 0): free each with tasker_claimed_step_free and the array with
 * tasker_free. Returns promptly; never waits for work. */
TASKER_EXTERN int tasker_steps_claim(tasker_claimed_step ***out, size_t *out_count, tasker_client *client,
                                     const tasker_claim_options *opts);
/* Claims one specific step if it is ready (delegation: a job system's job runs exactly this step).
 * TASKER_ENOTFOUND if the step is not claimable now (not ready, already claimed, finished). */
TASKER_EXTERN int tasker_step_claim(tasker_claimed_step **out, tasker_client *client, int64_t workflow_step_id,
                                    const tasker_claim_options *opts);
TASKER_EXTERN void tasker_claimed_step_free(tasker_claimed_step *step);
/* The handler_class of a step (malloc'd; free with tasker_free): what a job system needs to route a
 * step it was told about to the right handler. TASKER_ENOTFOUND if the step does not exist. */
TASKER_EXTERN int tasker_step_handler_class(char **out, tasker_client *client, int64_t workflow_step_id);
/* Extends the lease of a step you hold. TASKER_ECONFLICT if the claim is no longer yours. */
TASKER_EXTERN int tasker_step_extend_lease(tasker_client *client, int64_t workflow_step_id, int64_t claim_id,
                                           int lease_seconds);

typedef enum tasker_outcome {
	TASKER_OUTCOME_SUCCESS = 0,
	TASKER_OUTCOME_RETRYABLE,    /* try again after a backoff, while attempts remain */
	TASKER_OUTCOME_PERMANENT,    /* never retry this step; the task goes to error */
} tasker_outcome;

typedef struct tasker_step_result {
	int64_t workflow_step_id;
	int64_t claim_id;
	tasker_outcome outcome;
	const char *results_json;       /* SUCCESS: any JSON value (NULL → null) */
	const char *error_message;      /* failures: what went wrong */
	const char *error_class;        /* failures: e.g. the exception class; NULL → "StepError" */
	const char *error_code;         /* failures: optional */
	const char *error_context_json; /* failures: optional JSON object */
	const char *backtrace_json;     /* failures: optional JSON array of strings */
	int retry_after;                /* RETRYABLE: seconds the handler asks to wait, or -1 */
	int status;                     /* out: TASKER_OK, or why this result was not recorded
	                                   (TASKER_ECONFLICT: claim lost; TASKER_EJSON: bad JSON) */
	tasker_state new_state;         /* out: the step's state after recording */
} tasker_step_result;

/* Records results in one transaction: step rows, transitions, attempts, backoff; the children of
 * successful steps whose parents are now all done become claimable in the same transaction; tasks
 * are finalized (complete / error). Returns TASKER_OK when the transaction committed — then look at
 * each result's `status`; a negative code means nothing was written. */
TASKER_EXTERN int tasker_steps_complete(tasker_client *client, tasker_step_result *results, size_t count);
/* tasker_steps_complete, then tasker_steps_claim with `opts`, in the same transaction: a worker hands
 * itself the next ready steps (often the children its results just released) without a second
 * transaction. *out and *out_count as for tasker_steps_claim (max_steps 0 claims nothing). On a
 * negative return nothing was written or claimed. */
TASKER_EXTERN int tasker_steps_complete_and_claim(tasker_claimed_step ***out, size_t *out_count,
                                                  tasker_client *client, tasker_step_result *results,
                                                  size_t count, const tasker_claim_options *opts);

/* ------------------------------------------------------------------ operations */

/* Operator actions (cancel, resolve, retry) lock the task before its steps, and give way to a completion of
 * one of its steps in progress: they wait for it, then act on what it wrote. TASKER_ECONFLICT ("try again",
 * nothing changed) only if its steps never stop completing.
 *
 * Cancels a task: pending/ready steps → cancelled, running steps → cancelled (their late result is
 * discarded), task → cancelled; failed and finished steps keep their state. Follows the Rails engine's
 * state machine: a pending, running, complete or resolved_manually task may be cancelled (a finished one
 * keeps its steps' results and its `complete` flag); TASKER_ETRANSITION for a task in error or already
 * cancelled. */
TASKER_EXTERN int tasker_task_cancel(tasker_client *client, int64_t task_id);
/* Resolves a pending or failed step by hand (→ resolved_manually, optional results); its dependents
 * proceed, and the task may finish. */
TASKER_EXTERN int tasker_step_resolve(tasker_client *client, int64_t workflow_step_id, const char *results_json);
/* Retries a task in error: its failed steps get a fresh set of attempts and become claimable. */
TASKER_EXTERN int tasker_task_retry(tasker_client *client, int64_t task_id);


/* ------------------------------------------------------------------ worker presence */

/* Which workers run and which handler classes they have, so that a ready step whose handler_class no
 * running worker has is reported as waiting for a handler (not failed) until such a worker starts and
 * claims it. The built-in worker announces itself when it starts, on every lease heartbeat, and
 * withdraws when it stops; a host that claims steps itself (tasker_steps_claim) may do the same. */

/* Records that `worker_id` runs `handler_classes` (`count` of them; NULL: any class, as for
 * tasker_claim_options) until `ttl_seconds` from now; call again before then to stay present.
 * TASKER_EINVAL naming the bad argument (empty worker_id or class, ttl_seconds <= 0). */
TASKER_EXTERN int tasker_worker_presence_announce(tasker_client *client, const char *worker_id,
                                                  const char *const *handler_classes, size_t count,
                                                  int ttl_seconds);
/* Removes the worker's presence at once (a stopping worker); no error if it had none. */
TASKER_EXTERN int tasker_worker_presence_withdraw(tasker_client *client, const char *worker_id);

/* A ready step that no running worker can take. */
typedef struct tasker_handler_wait {
	int64_t workflow_step_id;
	const char *handler_class;   /* the class no present worker runs */
	int64_t ready_since;         /* when it became ready: microseconds since the epoch, UTC */
} tasker_handler_wait;

/* The steps of a task that are ready (backoff over) but wait for a handler, in workflow_step_id order.
 * *out is an array of *out_count rows (NULL when none): free with tasker_handler_waits_free. */
TASKER_EXTERN int tasker_task_handler_waits(tasker_handler_wait **out, size_t *out_count, tasker_client *client,
                                            int64_t task_id);
TASKER_EXTERN void tasker_handler_waits_free(tasker_handler_wait *rows, size_t count);

/* ------------------------------------------------------------------ C step handlers and the worker */

/* How a handler reports failure. Fill it with tasker_step_error_set; the library frees context_json
 * and backtrace_json. */
typedef struct tasker_step_error {
	tasker_outcome outcome;        /* TASKER_OUTCOME_RETRYABLE (default) or TASKER_OUTCOME_PERMANENT */
	int retry_after;               /* seconds to wait before the retry, or -1 (default) */
	char message[1024];
	char error_class[128];         /* "" → "StepError" */
	char error_code[128];          /* optional */
	char *context_json;            /* optional JSON object, malloc'd by the handler */
	char *backtrace_json;          /* optional JSON array of strings, malloc'd by the handler */
} tasker_step_error;

/* Sets outcome, retry_after, code (may be NULL) and a printf-style message. */
TASKER_EXTERN void tasker_step_error_set(tasker_step_error *error, tasker_outcome outcome, int retry_after,
                                         const char *error_code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* A step handler written in C. `process` returns 0 with *out_result_json set to malloc'd JSON text
 * (NULL means null), or non-zero after describing the failure in *error. The optional
 * `process_results` receives process's output and returns the results to store the same way.
 * Handlers may run on several worker threads at once. */
typedef struct tasker_step_handler {
	unsigned int version;          /* TASKER_STEP_HANDLER_VERSION */
	const char *handler_class;     /* the template's handler_class this handler runs */
	int (*process)(char **out_result_json, const tasker_claimed_step *step, tasker_step_error *error,
	               void *payload);
	int (*process_results)(char **out_result_json, const tasker_claimed_step *step,
	                       const char *process_output_json, tasker_step_error *error, void *payload);
	void *payload;
} tasker_step_handler;

#define TASKER_STEP_HANDLER_VERSION 1

typedef struct tasker_worker tasker_worker;

typedef struct tasker_worker_options {
	unsigned int version;          /* TASKER_WORKER_OPTIONS_VERSION */
	unsigned int concurrency;      /* handler threads; 0 → the client's execution.concurrency */
	unsigned int claim_batch;      /* steps per claim transaction; 0 → execution.claim_batch_size */
	unsigned int completion_batch; /* results per completion transaction; 0 → execution.completion_batch_size;
	                                  1 turns batching off */
	int completion_flush_ms;       /* -1 → execution.completion_flush_ms */
	int lease_seconds;             /* 0 → execution.lease_seconds */
	int poll_interval_ms;          /* 0 → execution.poll_interval_ms */
	const char *worker_id;         /* NULL → "<host>:<pid>:<random>" */
} tasker_worker_options;

#define TASKER_WORKER_OPTIONS_VERSION 1
/* The most steps one worker runs at once: a larger concurrency (given here or by execution.concurrency)
 * is TASKER_EINVAL. */
#define TASKER_WORKER_MAX_CONCURRENCY 4096
#define TASKER_WORKER_OPTIONS_INIT {TASKER_WORKER_OPTIONS_VERSION, 0, 0, 0, -1, 0, 0, NULL}

/* Creates a worker on `client` (which must outlive it). Free with tasker_worker_free. TASKER_EINVAL for
 * a concurrency above TASKER_WORKER_MAX_CONCURRENCY (the message names it and where it came from). */
TASKER_EXTERN int tasker_worker_new(tasker_worker **out, tasker_client *client, const tasker_worker_options *opts);
/* Registers a C handler (copied) before running. TASKER_EINVAL for a missing name or process function,
 * a handler_class registered twice, or a worker already running. */
TASKER_EXTERN int tasker_worker_register(tasker_worker *worker, const tasker_step_handler *handler);
/* Claims and runs steps until tasker_worker_stop, on `concurrency` handler threads it starts (a host
 * of the host-driven API below: tasker_worker_start, then threads taking steps with next and giving
 * them back with finish, then tasker_worker_wait). Idle workers sleep on LISTEN/NOTIFY, with a polling
 * fallback, and wake for the earliest backoff end. Expired leases of other workers are recovered.
 * On stop: no new claims, running handlers finish (up to execution.shutdown_timeout_seconds), their
 * results are written, and the steps not finished are released for other workers. */
TASKER_EXTERN int tasker_worker_run(tasker_worker *worker);
/* Like tasker_worker_run, but returns once nothing this worker can run is queued (now or in a
 * backoff) and nothing is in flight. For tests and batch jobs. */
TASKER_EXTERN int tasker_worker_run_until_idle(tasker_worker *worker);
/* Asks a running worker to stop: its run returns after the shutdown above. Thread-safe and
 * async-signal-safe. A stop asked while no run is in progress makes the next run return at once (so a
 * stop racing the start of a run is never lost). */
TASKER_EXTERN void tasker_worker_stop(tasker_worker *worker);
TASKER_EXTERN void tasker_worker_free(tasker_worker *worker);
/* Delegation: claims the given step and runs its handler on the calling thread, then records the
 * result. TASKER_ENOTFOUND if the step is not claimable now or no handler is registered for it. */
TASKER_EXTERN int tasker_worker_execute_step(tasker_worker *worker, int64_t workflow_step_id);

/* ------------------------------------------------------------------ host-driven execution
 * For hosts that run handlers on their own threads or event loop (the Ruby, Python and Node packages;
 * libuv's model): the worker's own threads claim, sleep on LISTEN/NOTIFY, extend leases, recover dead
 * workers' steps and write results in batches, and hand each claimed step *out*; the host takes it
 * with tasker_worker_next (or waits for tasker_worker_fd to become readable) and gives it back with
 * tasker_worker_finish. The worker never calls into the host from a thread it owns.
 *
 *   tasker_worker_declare(w, "OrderHandler");
 *   tasker_worker_start(w);
 *   while (tasker_worker_next(&step, w, -1) == TASKER_OK) {       // or poll tasker_worker_fd(w)
 *       ... run the handler, fill a tasker_step_result r ...
 *       tasker_worker_finish(w, step, &r);                       // any thread, any order
 *   }                                                            // TASKER_ESTOPPED after stop
 *   tasker_worker_wait(w, -1); tasker_worker_free(w);
 */

/* Declares a handler class this worker's host runs: claims are filtered to the declared (and
 * registered) classes. Before tasker_worker_start; TASKER_EINVAL for an empty or repeated name. */
TASKER_EXTERN int tasker_worker_declare(tasker_worker *worker, const char *handler_class);
/* Starts the worker's machinery on its own threads (claiming, LISTEN/NOTIFY, lease extension, recovery,
 * batched completion) without running handlers: steps wait for the host in tasker_worker_next. At most
 * `concurrency` steps are out with the host and unfinished at once. Returns at once. TASKER_EINVAL when
 * nothing is declared or it is already running. A tasker_worker_stop made before the start makes the
 * machinery stop at once. */
TASKER_EXTERN int tasker_worker_start(tasker_worker *worker);
/* Takes one step waiting for the host. timeout_ms 0: do not wait; -1: wait until one comes or the
 * worker stops. TASKER_OK with *out set; TASKER_ETIMEOUT when none came in time; TASKER_ESTOPPED when
 * the worker is not running (not started, stopping, or stopped) and hands out nothing more. The step
 * stays owned by the worker until tasker_worker_finish; its lease is extended while it is out.
 * step.before_handle fires here. Thread-safe. */
TASKER_EXTERN int tasker_worker_next(tasker_claimed_step **out, tasker_worker *worker, int timeout_ms);
/* A file descriptor readable exactly while tasker_worker_next(…, 0) has an answer (a step, or
 * TASKER_ESTOPPED). Level-triggered; never read or close it. For IO#wait_readable, loop.add_reader,
 * uv_poll_t. Valid until tasker_worker_free. */
TASKER_EXTERN int tasker_worker_fd(const tasker_worker *worker);
/* Gives a step back with its outcome: result's outcome, results_json, error_* fields and retry_after as
 * in tasker_step_result (its ids, status and new_state are ignored: they come from `step`). Everything
 * is copied and `step` is freed. A success whose results_json is not valid JSON is recorded as a
 * permanent failure (INVALID_RESULT) that names the handler; step.handle fires here. While the worker
 * runs this never waits for the database (the result joins the next batched write); when it is not
 * running (a step from tasker_worker_claim_step without tasker_worker_start, or one finished after the
 * shutdown) the result is written once on the calling thread, and its status is returned
 * (TASKER_ECONFLICT when the claim was lost meanwhile). TASKER_EINVAL for a step this worker did not
 * hand out or that was already finished (`step` is then not touched), or an outcome out of range.
 * Thread-safe; steps may be finished in any order. */
TASKER_EXTERN int tasker_worker_finish(tasker_worker *worker, tasker_claimed_step *step,
                                       const tasker_step_result *result);
/* Waits (timeout_ms; -1 forever; 0 just looks) until the machinery has stopped after tasker_worker_stop
 * and every result is written. On stop: nothing new is claimed; steps waiting in next are released to
 * other workers at once (no attempt counted), and next answers TASKER_ESTOPPED; steps out with the host
 * may still be finished within execution.shutdown_timeout_seconds, and their leases are extended until
 * then. A step still out after that keeps its claim until the lease expires (its handler may still be
 * running), and another worker then retries it — as if this worker had died. TASKER_OK at once when
 * the worker is not running; TASKER_ETIMEOUT if it has not stopped in time. */
TASKER_EXTERN int tasker_worker_wait(tasker_worker *worker, int timeout_ms);
/* Delegation for hosts: claims exactly this step and hands it to the caller, to be given back with
 * tasker_worker_finish (the worker need not be started). TASKER_ENOTFOUND if the step is not claimable
 * now, or its handler_class is not declared on this worker. */
TASKER_EXTERN int tasker_worker_claim_step(tasker_claimed_step **out, tasker_worker *worker,
                                           int64_t workflow_step_id);
/* A host-driven "run until idle": 1 when the worker is running and nothing it can run is queued in the
 * database (now or in a backoff), nothing waits in next, and nothing is out with the host or waiting to
 * be written; else 0. */
TASKER_EXTERN int tasker_worker_idle(tasker_worker *worker);

/* Steps this worker runs at once: tasker_worker_options.concurrency, or the client's
 * execution.concurrency when that was 0. Hosts size their thread pools with it. */
TASKER_EXTERN unsigned int tasker_worker_concurrency(const tasker_worker *worker);

/* Steps this worker processed so far (completed or failed and recorded). */
TASKER_EXTERN uint64_t tasker_worker_processed(const tasker_worker *worker);

/* Recovers steps whose lease expired (their worker died): each counts as a failed attempt and is
 * retried after its backoff, or fails its task when no attempt is left. *out_recovered (may be NULL)
 * receives how many. Workers call this on their own; it is public for operators and tests. */
TASKER_EXTERN int tasker_step_recover_expired(int *out_recovered, tasker_client *client);

/* ================================================================== events, logs, metrics
 * Lifecycle events, structured logs and metrics (docs/events.md). */

/* ------------------------------------------------------------------ events: the catalog */

/* The Rails engine's lifecycle events (task.*, step.*, workflow.*, observability.*, registry and
 * telemetry names), with JSON payloads using the engine's keys (task_id, step_id, step_name, task_name,
 * namespace, version, correlation_id, attempt, error details, durations, and always "timestamp").
 * The engine collects the events of a transaction while it runs and publishes them after the commit,
 * with no transaction, lock or pooled connection held; a rolled-back transaction publishes nothing.
 * When nothing reads events (no subscription, no persistence, no log handler) publishing costs one
 * check. */

typedef struct tasker_event_info {
	const char *name;          /* "task.completed" */
	const char *group;         /* "task", "step", "workflow", "observability", "registry", "telemetry" */
	const char *description;
	const char *payload_keys;  /* the payload's keys besides "timestamp" */
	int fired;                 /* 1 if tasker-core fires it; 0: kept so Rails subscribers find the name */
	int level;                 /* the tasker_log_level of its log line */
} tasker_event_info;

/* The catalog: the 65 production event names, grouped. *out (may be NULL) points to static storage;
 * returns the number of entries. */
TASKER_EXTERN size_t tasker_event_catalog(const tasker_event_info **out);
/* The catalog entry named `name`, or NULL. Static storage. */
TASKER_EXTERN const tasker_event_info *tasker_event_lookup(const char *name);

/* ------------------------------------------------------------------ events: subscribing */

/* One event, as a subscriber sees it. Every pointer is valid only during the call. */
typedef struct tasker_event {
	const char *name;          /* "step.completed" */
	const char *payload_json;  /* JSON object: the event's fields and "timestamp" */
	int64_t task_id;           /* 0 when the event concerns no task */
	int64_t workflow_step_id;  /* 0 when the event concerns no step */
	int64_t id;                /* tasker_events.id when the event is persisted, else 0 */
	int64_t timestamp;         /* microseconds since the Unix epoch, UTC */
} tasker_event;

/* A subscriber. Return 0. A non-zero return is counted and logged, and changes nothing else: a failing
 * subscriber never breaks orchestration. */
typedef int (*tasker_event_fn)(const tasker_event *event, void *payload);

typedef enum tasker_event_delivery {
	TASKER_EVENT_SYNC = 0, /* called on the publishing thread right after the commit: keep it short,
	                          its run time is added to the engine call that published */
	TASKER_EVENT_ASYNC,    /* called on the subscription's own thread, from a bounded queue: a slow
	                          subscriber never stalls the engine; when the queue is full the oldest
	                          queued event is dropped and counted (tasker_event_stats_get) */
} tasker_event_delivery;

typedef struct tasker_event_subscribe_options {
	unsigned int version;           /* TASKER_EVENT_SUBSCRIBE_OPTIONS_VERSION */
	tasker_event_delivery delivery; /* default TASKER_EVENT_SYNC */
	unsigned int queue_capacity;    /* TASKER_EVENT_ASYNC: events the queue holds; 0 → 1024 */
} tasker_event_subscribe_options;

#define TASKER_EVENT_SUBSCRIBE_OPTIONS_VERSION 1
#define TASKER_EVENT_SUBSCRIBE_OPTIONS_INIT {TASKER_EVENT_SUBSCRIBE_OPTIONS_VERSION, TASKER_EVENT_SYNC, 0}

/* Subscribes `fn` (with `payload`) to the events of this client whose name matches `pattern`: an exact
 * name ("step.failed"), or a pattern where `*` matches any run of characters, dots included ("step.*",
 * "*.failed", "*"). opts may be NULL (synchronous). *out_id (may be NULL) identifies the subscription.
 * TASKER_EINVAL for a bad pattern or options. A subscriber may subscribe, unsubscribe and call the
 * engine from its callback. */
TASKER_EXTERN int tasker_event_subscribe(uint64_t *out_id, tasker_client *client, const char *pattern,
                                         tasker_event_fn fn, void *payload,
                                         const tasker_event_subscribe_options *opts);
/* 1 when the event name `name` matches `pattern` by the rule of tasker_event_subscribe, else 0. */
TASKER_EXTERN int tasker_event_name_matches(const char *pattern, const char *name);
/* After it returns the subscriber is not running and is never called again (from its own callback:
 * after that call returns). An asynchronous subscription's queued events are dropped: call
 * tasker_event_flush first to deliver them. TASKER_ENOTFOUND for an unknown id. */
TASKER_EXTERN int tasker_event_unsubscribe(tasker_client *client, uint64_t subscription_id);
/* Waits up to timeout_ms until every asynchronous subscription's queue is empty and idle. TASKER_ERROR
 * naming the subscription when the time ran out. */
TASKER_EXTERN int tasker_event_flush(tasker_client *client, int timeout_ms);

typedef struct tasker_event_stats {
	uint64_t published;  /* events published on this client */
	uint64_t delivered;  /* subscriber calls made */
	uint64_t failed;     /* subscriber calls that returned non-zero */
	uint64_t dropped;    /* events dropped by full asynchronous queues */
	uint64_t queued;     /* events waiting in asynchronous queues now */
} tasker_event_stats;

/* Counters of the whole client (subscription_id 0) or of one subscription. */
TASKER_EXTERN int tasker_event_stats_get(tasker_event_stats *out, tasker_client *client, uint64_t subscription_id);

/* ------------------------------------------------------------------ events: pull-style queues
 * For hosts that take events on their own threads or event loop instead of being called: a bounded
 * queue of this client's events, emptied with next or when its descriptor becomes readable. */

typedef struct tasker_event_queue tasker_event_queue;

/* Opens a queue of this client's events whose names match `pattern` (the rule of
 * tasker_event_subscribe). capacity 0 → 1024; when the queue is full the oldest event is dropped and
 * counted (tasker_event_queue_dropped). TASKER_EINVAL for a bad pattern. Close with
 * tasker_event_queue_close before the client is freed. */
TASKER_EXTERN int tasker_event_queue_open(tasker_event_queue **out, tasker_client *client, const char *pattern,
                                          unsigned int capacity);
/* Takes the oldest queued event. timeout_ms 0: do not wait; -1: wait until one comes. *out is an owned
 * copy (every pointer in it lives as long as it): free it with tasker_event_free. TASKER_ETIMEOUT when
 * none came in time. TASKER_ECLOSED, without waiting, once the client is closed and the queue is empty
 * (tasker_client_close ends a wait in progress; events queued before it are still taken). Thread-safe. */
TASKER_EXTERN int tasker_event_queue_next(tasker_event **out, tasker_event_queue *queue, int timeout_ms);
/* A descriptor readable exactly while tasker_event_queue_next(…, 0) has an event. Level-triggered;
 * never read or close it. */
TASKER_EXTERN int tasker_event_queue_fd(const tasker_event_queue *queue);
/* Events dropped because the queue was full. */
TASKER_EXTERN uint64_t tasker_event_queue_dropped(const tasker_event_queue *queue);
/* Events waiting in the queue now. Thread-safe. */
TASKER_EXTERN size_t tasker_event_queue_length(tasker_event_queue *queue);
/* Unsubscribes and frees the queue; events still queued are dropped. No other call on it may be in
 * progress. NULL is fine. */
TASKER_EXTERN void tasker_event_queue_close(tasker_event_queue *queue);
/* Frees an event from tasker_event_queue_next. NULL is fine. */
TASKER_EXTERN void tasker_event_free(tasker_event *event);

/* ------------------------------------------------------------------ events: publishing */

/* Publishes a catalog event from the host (bindings and applications that own part of the lifecycle).
 * payload_json must be a JSON object (NULL → {}); "timestamp" is added when absent; numeric task_id and
 * step_id members attach the event to that task and step. TASKER_EINVAL for a name not in the catalog,
 * TASKER_EJSON for a payload that is not one JSON object (checked only when something reads the event:
 * with nothing listening, publishing is one check). */
TASKER_EXTERN int tasker_event_publish(tasker_client *client, const char *name, const char *payload_json);
/* Publishes a custom event declared by a registered template (`custom_events: [{name, description}]` at
 * the template or step level), e.g. from a step handler. TASKER_ENOTFOUND when no registered template
 * declares `name`; TASKER_EINVAL for a catalog name or a malformed name; payload as above. */
TASKER_EXTERN int tasker_event_publish_custom(tasker_client *client, const char *name, const char *payload_json);

/* ------------------------------------------------------------------ events: across processes */

/* The NOTIFY channel of persisted events; the payload is the highest new event id (a hint). */
#define TASKER_EVENTS_CHANNEL "tasker_events"

/* Opt-in: every event of this client is also written to tasker_events (migration 0004) in the same
 * transaction as the change it reports, with one NOTIFY per transaction, so other processes can watch
 * (tasker_event_watcher_*) and a task's history can be replayed (tasker_task_events). Handler events
 * (step.before_handle, step.handle) are written with the transaction that records the step's outcome.
 * TASKER_ENOTFOUND when the table does not exist. The CLI turns it on with TASKER_EVENTS_PERSIST=1. */
TASKER_EXTERN int tasker_event_set_persist(tasker_client *client, int enabled);

typedef struct tasker_event_watcher tasker_event_watcher;

/* Resume points for tasker_event_watch_options.after_id: 0 reads every stored event, N > 0 every event
 * after event N (at-least-once: a few events around N may come again), TASKER_EVENTS_FROM_NOW only
 * events committed from now on. */
#define TASKER_EVENTS_FROM_NOW (-1)

typedef struct tasker_event_watch_options {
	unsigned int version;      /* TASKER_EVENT_WATCH_OPTIONS_VERSION */
	const char *pattern;       /* as for tasker_event_subscribe; NULL → "*" */
	int64_t task_id;           /* 0 → every task's events */
	int64_t after_id;          /* resume point (above); default TASKER_EVENTS_FROM_NOW */
	unsigned int batch_size;   /* rows read at once; 0 → 500 */
} tasker_event_watch_options;

#define TASKER_EVENT_WATCH_OPTIONS_VERSION 1
#define TASKER_EVENT_WATCH_OPTIONS_INIT {TASKER_EVENT_WATCH_OPTIONS_VERSION, NULL, 0, TASKER_EVENTS_FROM_NOW, 0}

/* Opens a watcher of persisted events on its own connection (not from the pool; `client` only names the
 * database and may be freed afterwards). Free with tasker_event_watcher_free. */
TASKER_EXTERN int tasker_event_watcher_open(tasker_event_watcher **out, tasker_client *client,
                                            const tasker_event_watch_options *opts);
/* Waits up to timeout_ms (blocking the calling thread; LISTEN/NOTIFY, no busy polling) for events, and
 * calls fn for each matching one, in order, on the calling thread; returns once it delivered some, or
 * when the time is up. Every persisted event is delivered at least once, never skipped; events of one
 * task come in the order they happened. A non-zero return from fn stops the poll and that event comes
 * again on the next poll. *out_delivered (may be NULL) receives how many calls returned 0. */
TASKER_EXTERN int tasker_event_watcher_poll(size_t *out_delivered, tasker_event_watcher *watcher, int timeout_ms,
                                            tasker_event_fn fn, void *payload);
/* The id of the last event the watcher processed: pass it as after_id to resume. */
TASKER_EXTERN int64_t tasker_event_watcher_last_id(const tasker_event_watcher *watcher);
TASKER_EXTERN void tasker_event_watcher_free(tasker_event_watcher *watcher);
/* Replays a task's persisted events in order (the `tasker task events ID` history). A non-zero return
 * from fn stops the replay. */
TASKER_EXTERN int tasker_task_events(tasker_client *client, int64_t task_id, tasker_event_fn fn, void *payload);

/* ------------------------------------------------------------------ structured logs */

typedef enum tasker_log_level {
	TASKER_LOG_DEBUG = 0,
	TASKER_LOG_INFO,
	TASKER_LOG_WARN,
	TASKER_LOG_ERROR,
	TASKER_LOG_OFF,
} tasker_log_level;

/* Receives one log line: a JSON object without a newline, with at least "level", "event" and
 * "timestamp", and task_id, step_id and correlation_id when they apply. Called on the engine's threads,
 * never while a transaction or lock is held; `line` is valid during the call. */
typedef void (*tasker_log_fn)(tasker_log_level level, const char *line, void *payload);

/* Routes the library's logs (process-wide) to `fn` for lines at `min_level` or above; fn NULL or
 * TASKER_LOG_OFF turns logging off, the default: the library writes nothing anywhere unless told to.
 * Must not be called from inside a log handler. */
TASKER_EXTERN void tasker_log_set_handler(tasker_log_level min_level, tasker_log_fn fn, void *payload);
/* A ready-made handler writing each line and a newline to stderr (what the CLI uses). */
TASKER_EXTERN void tasker_log_stderr(tasker_log_level level, const char *line, void *payload);
/* "debug", "info", "warn", "error", "off"; static storage; NULL when out of range. */
TASKER_EXTERN const char *tasker_log_level_name(tasker_log_level level);
/* Parses a level name ("warning" too); TASKER_EINVAL naming it otherwise. */
TASKER_EXTERN int tasker_log_level_parse(tasker_log_level *out, const char *name);

/* ------------------------------------------------------------------ metrics */

/* This client's metrics in the Prometheus text format: handler runs started/completed/failed/retried and
 * their duration histogram per handler_class, claim latency, event counters — kept in memory with
 * atomics — and, when include_database is non-zero, queue gauges read now (ready and delayed steps and
 * the oldest ready step's age per handler_class, steps in flight, expired leases). *out_text is malloc'd;
 * free with tasker_free. */
TASKER_EXTERN int tasker_metrics_snapshot(char **out_text, tasker_client *client, int include_database);

/* ================================================================== end of events, logs, metrics */

/* ================================================================== deprecated names
 * The names of release 0.1, kept for one release as aliases of the consistent ones (noun before verb,
 * tasker_event_* for everything about events, output parameters first). They behave exactly like their
 * replacements, and the compiler names the replacement when one is used. They go away in 0.3. */

TASKER_EXTERN TASKER_DEPRECATED("tasker_db_apply_migrations(out_applied, client)")
int tasker_db_migrate(tasker_client *client, int *out_applied);
TASKER_EXTERN TASKER_DEPRECATED("tasker_step_recover_expired(out_recovered, client)")
int tasker_recover_expired_claims(tasker_client *client, int *out_recovered);
TASKER_EXTERN TASKER_DEPRECATED("tasker_event_catalog")
size_t tasker_events_catalog(const tasker_event_info **out);
TASKER_EXTERN TASKER_DEPRECATED("tasker_event_subscribe")
int tasker_events_subscribe(uint64_t *out_id, tasker_client *client, const char *pattern, tasker_event_fn fn,
                            void *payload, const tasker_event_subscribe_options *opts);
TASKER_EXTERN TASKER_DEPRECATED("tasker_event_unsubscribe")
int tasker_events_unsubscribe(tasker_client *client, uint64_t subscription_id);
TASKER_EXTERN TASKER_DEPRECATED("tasker_event_flush")
int tasker_events_flush(tasker_client *client, int timeout_ms);
TASKER_EXTERN TASKER_DEPRECATED("tasker_event_stats_get")
int tasker_events_stats(tasker_event_stats *out, tasker_client *client, uint64_t subscription_id);
TASKER_EXTERN TASKER_DEPRECATED("tasker_event_publish")
int tasker_events_publish(tasker_client *client, const char *name, const char *payload_json);
TASKER_EXTERN TASKER_DEPRECATED("tasker_event_set_persist")
int tasker_events_set_persist(tasker_client *client, int enabled);

#ifdef __cplusplus
}
#endif
#endif /* TASKER_H */
