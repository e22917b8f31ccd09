/*
 * cli.c — the `tasker` command: parses arguments and calls the public C API; prints results.
 * Holds no engine rule of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_command *const commands[] = {
	&cli_cmd_migrate,           &cli_cmd_status,      &cli_cmd_template_validate, &cli_cmd_template_register,
	&cli_cmd_task_create,       &cli_cmd_task_show,   &cli_cmd_task_cancel,       &cli_cmd_task_retry,
	&cli_cmd_step_resolve,      &cli_cmd_health,      &cli_cmd_worker,
	&cli_cmd_task_events,       &cli_cmd_events_list, &cli_cmd_events_watch,     &cli_cmd_metrics,
};

static void usage(FILE *out)
{
	fprintf(out, "usage: tasker [--database-url URL] <command> [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(out, "  %-34s %s\n", commands[i]->usage, commands[i]->summary);
	fprintf(out, "\nThe database is --database-url, else $TASKER_DATABASE_URL, else libpq's PG* variables.\n");
	fprintf(out, "Logs go to stderr as JSON lines (TASKER_LOG_LEVEL=debug|info|warn|error|off, default info);\n"
	             "TASKER_EVENTS_PERSIST=1 persists lifecycle events for `events watch` and `task events`.\n");
}

int cli_fail(const char *what)
{
	const tasker_error *e = tasker_error_last();
	fprintf(stderr, "tasker: %s: %s [%s]\n", what, e->message, tasker_error_name(e->code));
	return 1;
}

int cli_open(tasker_client **out, const cli_args *a)
{
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	o.database_url = a->database_url;
	o.application_name = "tasker-cli";
	if (tasker_client_open(out, &o) != TASKER_OK)
		return cli_fail("cannot open the database");
	cli_events_client(*out);
	return 0;
}

int main(int argc, char **argv)
{
	cli_args a = {0};
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--database-url") == 0 && i + 1 < argc) {
			a.database_url = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "tasker: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	a.argc = argc - i - 1;
	a.argv = argv + i + 1;
	cli_events_setup();
	for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
		const cli_command *cmd = commands[c];
		size_t words = cmd->words;
		if ((size_t)(argc - i) < words)
			continue;
		int match = 1;
		const char *name = cmd->name;
		for (size_t w = 0; w < words && match; w++) {
			size_t len = strcspn(name, " ");
			match = strlen(argv[i + w]) == len && strncmp(argv[i + w], name, len) == 0;
			name += len + (name[len] == ' ');
		}
		if (match) {
			a.argc = argc - i - (int)words;
			a.argv = argv + i + words;
			return cmd->run(&a);
		}
	}
	fprintf(stderr, "tasker: unknown command \"%s\"\n", argv[i]);
	usage(stderr);
	return 2;
}
