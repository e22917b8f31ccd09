/*
 * cli_db.c — `tasker migrate` and `tasker status`: schema migrations.
 */
#include <stdio.h>

#include "cli.h"

static int run_migrate(const cli_args *a)
{
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	int applied = 0;
	int rc = tasker_db_apply_migrations(&applied, c);
	tasker_client_free(c);
	if (rc)
		return cli_fail("migrate");
	if (applied)
		printf("applied %d migration%s\n", applied, applied == 1 ? "" : "s");
	else
		printf("schema is up to date\n");
	return 0;
}

static int run_status(const cli_args *a)
{
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	tasker_migration_status *st;
	size_t n;
	int rc = tasker_db_migration_status(&st, &n, c);
	tasker_client_free(c);
	if (rc)
		return cli_fail("status");
	size_t pending = 0;
	for (size_t i = 0; i < n; i++) {
		printf("%-8s %s\n", st[i].applied ? "applied" : "PENDING", st[i].name);
		pending += !st[i].applied;
	}
	printf("%zu migration%s, %zu pending\n", n, n == 1 ? "" : "s", pending);
	tasker_free(st);
	return 0;
}

const cli_command cli_cmd_migrate = {
	"migrate", 1, "migrate", "apply pending schema migrations",
	"Applies every migration the database lacks, in order, each in its own transaction, under an advisory\n"
	"lock (several processes may run it at once; each migration is applied exactly once). Prints how many\n"
	"were applied, or that the schema is up to date.\n",
	run_migrate};
const cli_command cli_cmd_status = {
	"status", 1, "status", "show which migrations are applied",
	"Lists every migration this build carries, \"applied\" or \"PENDING\", then the count. Writes nothing.\n",
	run_status};
