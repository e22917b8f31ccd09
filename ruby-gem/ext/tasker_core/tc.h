/*
 * tc.h — what the files of the Ruby extension share: the module and class handles, value conversion
 * (Ruby ⇄ JSON text), the one place that turns C error codes into exceptions, and the handler
 * lifecycle used by the worker. Nothing here talks to PostgreSQL itself; the core does.
 */
#ifndef TASKER_CORE_RB_TC_H
#define TASKER_CORE_RB_TC_H

#include <ruby.h>
#include <ruby/encoding.h>
#include <ruby/thread.h>

#include "extconf.h"
#include "tasker.h"

extern VALUE tc_mTaskerCore;
extern VALUE tc_cClient;
extern VALUE tc_eError;

/* ---- tc_errors.c: exceptions */

void tc_init_errors(void);
/* Raises the exception for a negative tasker code, with the calling thread's tasker_error_last()
 * message. Call it on the thread that made the failing call, before any other tasker_* call. */
NORETURN(void tc_raise(int code));
/* Raises TaskerCore::<klass_name> (one of the classes of tc_errors.c) with a message. */
NORETURN(void tc_raise_named(const char *klass_name, const char *fmt, ...));
/* The exception class for a code (TaskerCore::Error for unknown codes). */
VALUE tc_error_class(int code);
VALUE tc_error_class_named(const char *name);

/* ---- tc_json.c: JSON text ⇄ Ruby values */

void tc_init_json(void);
/* Parses JSON text into Hash/Array/String/Integer/Float/true/false/nil (string keys). Raises
 * TaskerCore::JSONError on malformed text. */
VALUE tc_json_parse(const char *text, long len);
VALUE tc_json_parse_cstr(const char *text);
/* Serializes a Ruby value as JSON text into a new (unfrozen, UTF-8) String. Symbols become strings,
 * other objects their as_json, else the string of their own to_s. Raises TaskerCore::JSONError, naming
 * the JSON path, for NaN/Infinity, an object with neither (only Ruby's default to_s), invalid UTF-8,
 * NUL characters (PostgreSQL's jsonb cannot store them) and nesting deeper than 256. */
VALUE tc_json_generate(VALUE value);
/* The same, as malloc'd text for the core to own (freed with free / tasker_free). */
char *tc_json_generate_malloc(VALUE value);

/* ---- tc_client.c */

void tc_init_client(void);
/* The core client of a TaskerCore::Client (raises if it is closed). */
tasker_client *tc_client_get(VALUE client);
/* Calls fn(data) with the GVL released; the client stays open meanwhile. */
void *tc_client_call(VALUE client, void *(*fn)(void *), void *data);
/* A Ruby String holding a copy of s (UTF-8), or nil for NULL. */
VALUE tc_str(const char *s);
/* "pending", ... as a frozen String. */
VALUE tc_state_str(tasker_state s);

/* A subscription's link into its client (tc_events.c): the client detaches every live subscription
 * (unsubscribes it from the core, stops its thread) when it is closed or freed. Changed only with the
 * GVL held. */
typedef struct tc_sub_link {
	struct tc_sub_link *next, **pprev;
	void *owner;                                                   /* the client's struct, NULL when detached */
	void (*detach)(struct tc_sub_link *link, tasker_client *core); /* core may be NULL */
} tc_sub_link;
/* Links a subscription to an open client; 0 when the client is closed. */
int tc_client_link_sub(VALUE client, tc_sub_link *link);
/* Unlinks; returns the core client to unsubscribe from (NULL when already detached). */
tasker_client *tc_client_unlink_sub(tc_sub_link *link);

/* ---- tc_events.c */

void tc_init_events(void);

/* ---- tc_handler.c: StepHandler::Base, the task/sequence/step objects, the lifecycle */

void tc_init_handler(void);

/* What running a handler produced, ready to hand to the core. All strings malloc'd. */
typedef struct tc_outcome {
	tasker_outcome outcome;
	char *results_json;       /* SUCCESS */
	char *message, *error_class, *error_code, *context_json, *backtrace_json;
	int retry_after;          /* -1 when none */
	int jump_state;           /* non-zero: a non-local exit (Thread#kill, throw, SystemExit...) to resume */
	VALUE jump_error;         /* the exception to re-raise with jump_state, if any */
} tc_outcome;

/* A resolved handler: the Ruby class and how to instantiate it. */
typedef struct tc_handler_ref {
	VALUE klass;
	int pass_config;          /* klass.new(config: handler_config) rather than klass.new */
} tc_handler_ref;

/* Runs the handler for one claimed step with the GVL held: builds task/sequence/step, instantiates
 * the handler, runs handle (process → process_results), converts the results, and classifies any
 * exception. Never raises: a non-local exit is stored in out->jump_state for the caller to resume
 * (with tc_outcome_resume) once the C side is back in a consistent state. */
void tc_run_handler(tc_outcome *out, const tc_handler_ref *handler, const tasker_claimed_step *step);
void tc_outcome_free(tc_outcome *o);
/* Re-raises a non-local exit recorded by tc_run_handler (no-op when there is none). */
void tc_outcome_resume(const tc_outcome *o);
/* Whether klass#initialize accepts config: (decides tc_handler_ref.pass_config). */
int tc_handler_accepts_config(VALUE klass);

/* ---- tc_worker.c */

void tc_init_worker(void);

/* ---- tc_log.c: the core's log lines to TaskerCore.logger */

void tc_init_log(void);

/* ---- tc_records.c: a task's rows for the model readers */

void tc_init_records(void);

#endif
