/*
 * cli.h — shared pieces of the `tasker` command-line tool. Each cli_*.c file defines commands.
 */
#ifndef TASKER_CLI_H
#define TASKER_CLI_H

#include "tasker.h"

typedef struct cli_args {
	const char *database_url;
	int argc;          /* arguments after the command words */
	char **argv;
} cli_args;

typedef struct cli_command {
	const char *name;     /* command words, e.g. "task show" */
	size_t words;
	const char *usage;
	const char *summary;  /* one line for the command list */
	const char *help;     /* what `tasker help COMMAND` adds: what it does, then its options */
	int (*run)(const cli_args *a);
} cli_command;

/* Prints tasker_error_last() after `what`; returns exit status 1. */
int cli_fail(const char *what);
/* Opens a client for the command; prints the error and returns non-zero on failure. */
int cli_open(tasker_client **out, const cli_args *a);

/* The option parser (cli_args.c). "--name VALUE" among the arguments, or NULL; and whether "--name" is
 * present. */
const char *cli_option(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);
/* "--name N" as a whole number from `min` to `max` (LLONG_MAX: no upper bound; `dflt` when absent).
 * Otherwise prints what is wrong and returns 2, the exit status of a usage error. */
int cli_option_number(long long *out, const cli_args *a, const char *name, long long min, long long max,
                      long long dflt);
/* The first argument as the id of a `what` (a whole number from 1 up); otherwise as above. */
int cli_parse_id(int64_t *out, const cli_args *a, const char *what);

extern const cli_command cli_cmd_migrate, cli_cmd_status, cli_cmd_template_validate, cli_cmd_template_register,
	cli_cmd_task_create, cli_cmd_task_show, cli_cmd_task_cancel, cli_cmd_task_retry, cli_cmd_step_resolve,
	cli_cmd_health, cli_cmd_worker;

/* Events, logs, metrics (cli_events.c): logs to stderr per TASKER_LOG_LEVEL (default info), and event
 * persistence on every client when TASKER_EVENTS_PERSIST=1. */
void cli_events_setup(void);
void cli_events_client(tasker_client *client);
extern const cli_command cli_cmd_events_list, cli_cmd_events_watch, cli_cmd_task_events, cli_cmd_metrics;

#endif
