/*
 * migrations.h — the embedded migrations (generated from the migrations/ folder at build time).
 */
#ifndef TASKER_CORE_MIGRATIONS_H
#define TASKER_CORE_MIGRATIONS_H

#include <stddef.h>

typedef struct tasker_migration {
	int version;
	const char *name;
	const char *sql;
} tasker_migration;

extern const tasker_migration tasker_migrations[];
extern const size_t tasker_migrations_count;

#endif
