/*
 * test_cli_help.c — `tasker help`, `tasker help COMMAND` and `tasker COMMAND --help` print usage and
 * succeed with no database reachable (the database URL below points at a socket directory that does not
 * exist, and a command that does connect fails with it); unknown commands, and numbers or ids that are
 * not, fail with status 2 before any connection is tried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define NO_DATABASE "postgresql://nobody@/nodb?host=/nonexistent/tasker-cli-help&connect_timeout=2"

/* Every command of the CLI; `tasker help` must list exactly these. */
static const char *const COMMANDS[] = {
	"migrate",     "status",      "template validate", "template register", "task create",
	"task show",   "task cancel", "task retry",        "step resolve",      "health",
	"worker",      "task events", "events list",       "events watch",      "metrics",
};
#define NCOMMANDS (sizeof COMMANDS / sizeof *COMMANDS)

typedef struct {
	int status;
	char out[16384];
} run_result;

/* Runs the CLI with `args` (trusted test text) and no reachable database; captures stdout, or stderr
 * when `redirect` says so. */
static void run_with(run_result *r, const char *args, const char *redirect)
{
	char cmd[1024];
	int n = snprintf(cmd, sizeof cmd,
	                 "env -u PGHOST -u PGPORT -u PGDATABASE -u PGSERVICE TASKER_DATABASE_URL='%s' %s %s %s",
	                 NO_DATABASE, TASKER_CLI_PATH, args, redirect);
	assert_true(n > 0 && (size_t)n < sizeof cmd);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t len = fread(r->out, 1, sizeof r->out - 1, p);
	r->out[len] = '\0';
	int st = pclose(p);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void run(run_result *r, const char *args) { run_with(r, args, "2>/dev/null"); }

static void assert_command_usage(const run_result *r, const char *command, const char *how)
{
	char head[128];
	snprintf(head, sizeof head, "usage: tasker [--database-url URL] %s", command);
	if (r->status != 0 || strncmp(r->out, head, strlen(head)) != 0)
		fail_msg("`tasker %s` (for \"%s\") exited %d and printed:\n%s", how, command, r->status, r->out);
	/* the longer description follows the usage line and the summary */
	if (strlen(r->out) < strlen(head) + 40)
		fail_msg("`tasker %s` printed no description:\n%s", how, r->out);
}

static void test_help_lists_every_command(void **state)
{
	(void)state;
	run_result r;
	run(&r, "help");
	assert_int_equal(r.status, 0);
	const char *list = strstr(r.out, "commands:\n");
	assert_non_null(list);
	size_t lines = 0;
	for (const char *l = list + strlen("commands:\n"); strncmp(l, "  ", 2) == 0; l = strchr(l, '\n') + 1)
		lines += l[2] != ' '; /* a summary under a long usage is indented further */
	assert_int_equal(lines, NCOMMANDS + 1); /* and `help` itself */
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char line[64];
		snprintf(line, sizeof line, "\n  %s", COMMANDS[i]);
		if (!strstr(r.out, line))
			fail_msg("`tasker help` does not list %s:\n%s", COMMANDS[i], r.out);
	}
	run_result same;
	run(&same, "--help");
	assert_int_equal(same.status, 0);
	assert_string_equal(same.out, r.out);
}

static void test_every_command_has_help_without_a_database(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const char *forms[] = {"%s --help", "%s -h", "help %s", "--database-url '" NO_DATABASE "' %s --help"};
		for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
			char args[256];
			snprintf(args, sizeof args, forms[f], COMMANDS[i]);
			run_result r;
			run(&r, args);
			assert_command_usage(&r, COMMANDS[i], args);
		}
	}
	/* --help wins wherever it stands among the arguments */
	run_result r;
	run(&r, "task show 12 --mermaid --help");
	assert_command_usage(&r, "task show", "task show 12 --mermaid --help");
}

static void test_groups(void **state)
{
	(void)state;
	const char *forms[] = {"help task", "task --help", "task -h"};
	for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
		run_result r;
		run(&r, forms[f]);
		if (r.status != 0 || !strstr(r.out, "  task show ID") || !strstr(r.out, "  task create TEMPLATE") ||
		    strstr(r.out, "template validate") || strstr(r.out, "migrate"))
			fail_msg("`tasker %s` exited %d and printed:\n%s", forms[f], r.status, r.out);
	}
	run_result r;
	run(&r, "task");
	assert_int_equal(r.status, 2); /* a group alone is incomplete: the list goes to stderr */
	assert_string_equal(r.out, "");
}

static void test_unknown_commands_fail(void **state)
{
	(void)state;
	const char *bad[] = {"help nosuch", "nosuch", "nosuch --help", "help task nosuch", "task nosuch", "--nosuch"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		run_result r;
		run(&r, bad[i]);
		if (r.status != 2)
			fail_msg("`tasker %s` exited %d, expected 2; stdout:\n%s", bad[i], r.status, r.out);
	}
}

/* The control: without --help the same commands do try the (unreachable) database, and fail. */
static void test_commands_without_help_do_connect(void **state)
{
	(void)state;
	const char *need_db[] = {"migrate", "status", "health", "task show 1", "metrics"};
	for (size_t i = 0; i < sizeof need_db / sizeof *need_db; i++) {
		run_result r;
		run(&r, need_db[i]);
		if (r.status != 1)
			fail_msg("`tasker %s` with no database exited %d, expected 1", need_db[i], r.status);
	}
}

/* A number or an id that is not one is a usage error naming the option (status 2), found before any
 * connection is tried. */
static void test_bad_numbers_are_usage_errors(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{"events watch --count many", "--count expects a whole number from 0 up, got \"many\""},
		{"events watch --after -5", "--after expects a whole number from 0 up, got \"-5\""},
		{"events watch --timeout 3s", "--timeout expects a whole number"},
		{"worker --concurrency 4x", "--concurrency expects a whole number from 0 to 4096, got \"4x\""},
		/* 2^32 + 1 would wrap to a concurrency of 1 if it were stored unchecked */
		{"worker --concurrency 4294967297", "--concurrency expects a whole number from 0 to 4096, got \"4294967297\""},
		{"events watch --timeout 99999999999", "--timeout expects a whole number from 0 to 2147483647"},
		{"task events abc", "expected a task id, got \"abc\""},
		{"task show 0", "expected a task id, got \"0\""},
		{"step resolve 12a", "expected a step id, got \"12a\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		run_result r;
		run_with(&r, cases[i][0], "2>&1 >/dev/null");
		if (r.status != 2 || !strstr(r.out, cases[i][1]) || strstr(r.out, "connect"))
			fail_msg("`tasker %s` exited %d and said:\n%s", cases[i][0], r.status, r.out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_lists_every_command),
		cmocka_unit_test(test_every_command_has_help_without_a_database),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_unknown_commands_fail),
		cmocka_unit_test(test_commands_without_help_do_connect),
		cmocka_unit_test(test_bad_numbers_are_usage_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
