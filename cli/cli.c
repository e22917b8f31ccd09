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

#define NCOMMANDS (sizeof commands / sizeof *commands)

/* One line of the command list; a long usage gets a line of its own, the summary goes below it. */
static void list_line(FILE *out, const char *usage, const char *summary)
{
	if (strlen(usage) <= 34)
		fprintf(out, "  %-34s %s\n", usage, summary);
	else
		fprintf(out, "  %s\n  %-34s %s\n", usage, "", summary);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: tasker [--database-url URL] <command> [args]\n\ncommands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		list_line(out, commands[i]->usage, commands[i]->summary);
	list_line(out, "help [COMMAND]", "this list, or what a command does and its options");
	fprintf(out, "\nThe database is --database-url, else $TASKER_DATABASE_URL, else libpq's PG* variables.\n");
	fprintf(out, "Logs go to stderr as JSON lines (TASKER_LOG_LEVEL=debug|info|warn|error|off, default info);\n"
	             "TASKER_EVENTS_PERSIST=1 persists lifecycle events for `events watch` and `task events`.\n"
	             "`tasker COMMAND --help` (or `tasker help COMMAND`) describes a command.\n");
}

static void command_help(FILE *out, const cli_command *cmd)
{
	fprintf(out, "usage: tasker [--database-url URL] %s\n\n%s\n%s", cmd->usage, cmd->summary, cmd->help);
}

/* How many of the words argv[0..argc) name `cmd` in full: cmd->words on a match, else 0. With `prefix`,
 * the words given may also be the first ones of a longer command name ("task" for "task show"). */
static size_t match_words(const cli_command *cmd, int argc, char **argv, int prefix)
{
	const char *name = cmd->name;
	size_t w = 0;
	for (; w < cmd->words; w++) {
		size_t len = strcspn(name, " ");
		if ((int)w >= argc)
			return prefix && w > 0 ? w : 0;
		if (strlen(argv[w]) != len || strncmp(argv[w], name, len) != 0)
			return 0;
		name += len + (name[len] == ' ');
	}
	return w;
}

/* The command named by the first words of argv, or NULL; *words receives how many words it took. */
static const cli_command *find_command(int argc, char **argv, size_t *words)
{
	for (size_t c = 0; c < NCOMMANDS; c++)
		if ((*words = match_words(commands[c], argc, argv, 0)) > 0)
			return commands[c];
	return NULL;
}

/* Lists the commands whose name begins with the `argc` words given ("task" → every task command);
 * returns how many there are. */
static size_t list_group(FILE *out, int argc, char **argv)
{
	size_t n = 0;
	for (size_t c = 0; c < NCOMMANDS; c++)
		if (commands[c]->words > (size_t)argc && match_words(commands[c], argc, argv, 1) == (size_t)argc) {
			if (!n++)
				fprintf(out, "usage: tasker [--database-url URL] <command> [args]\n\ncommands:\n");
			list_line(out, commands[c]->usage, commands[c]->summary);
		}
	return n;
}

static int is_help_flag(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

/* `tasker help [WORDS...]`: nothing here touches the database. */
static int run_help(int argc, char **argv)
{
	if (argc == 0) {
		usage(stdout);
		return 0;
	}
	size_t words;
	const cli_command *cmd = find_command(argc, argv, &words);
	if (cmd && words == (size_t)argc) {
		command_help(stdout, cmd);
		return 0;
	}
	if (!cmd && list_group(stdout, argc, argv))
		return 0;
	fprintf(stderr, "tasker: no command \"");
	for (int i = 0; i < argc; i++)
		fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
	fprintf(stderr, "\"; `tasker help` lists them\n");
	return 2;
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
		} else if (is_help_flag(argv[i])) {
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
	if (strcmp(argv[i], "help") == 0)
		return run_help(argc - i - 1, argv + i + 1);
	size_t words;
	const cli_command *cmd = find_command(argc - i, argv + i, &words);
	if (!cmd) {
		/* "tasker task" or "tasker task --help": the commands of that group. */
		int given = 0;
		while (i + given < argc && argv[i + given][0] != '-')
			given++;
		int asked = i + given < argc && is_help_flag(argv[i + given]);
		if (list_group(asked ? stdout : stderr, given, argv + i))
			return asked ? 0 : 2;
		fprintf(stderr, "tasker: unknown command \"%s\"\n", argv[i]);
		usage(stderr);
		return 2;
	}
	a.argc = argc - i - (int)words;
	a.argv = argv + i + words;
	for (int k = 0; k < a.argc; k++)
		if (is_help_flag(a.argv[k])) {
			command_help(stdout, cmd);
			return 0;
		}
	cli_events_setup();
	return cmd->run(&a);
}
