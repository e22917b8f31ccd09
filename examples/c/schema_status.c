/* Connects (TASKER_DATABASE_URL or libpq's PG* variables), applies migrations and prints each one.
 * Build against an installed tasker-core:  cc schema_status.c $(pkg-config --cflags --libs tasker) */
#include <stdio.h>
#include <tasker.h>

int main(void)
{
	tasker_client *client;
	if (tasker_client_open(&client, NULL) != TASKER_OK) {
		fprintf(stderr, "connect: %s\n", tasker_error_last()->message);
		return 1;
	}
	int applied = 0;
	tasker_migration_status *status = NULL;
	size_t count = 0;
	if (tasker_db_apply_migrations(&applied, client) != TASKER_OK ||
	    tasker_db_migration_status(&status, &count, client) != TASKER_OK) {
		fprintf(stderr, "migrate: %s\n", tasker_error_last()->message);
		tasker_client_free(client);
		return 1;
	}
	printf("tasker-core %s: applied %d now, %zu migrations in all\n", TASKER_VERSION, applied, count);
	for (size_t i = 0; i < count; i++)
		printf("  %s %s\n", status[i].applied ? "applied" : "pending", status[i].name);
	tasker_free(status);
	tasker_client_free(client);
	return 0;
}
