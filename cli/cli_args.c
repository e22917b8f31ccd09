/*
 * cli_args.c — the one option parser of the `tasker` command: "--name VALUE" options, "--name" flags,
 * whole numbers and ids, each refused with a message naming the option and what it got. Every command
 * reads its arguments through these; none parses argv on its own.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_option(const cli_args *a, const char *name)
{
	for (int i = 0; i + 1 < a->argc; i++)
		if (strcmp(a->argv[i], name) == 0)
			return a->argv[i + 1];
	return NULL;
}

int cli_flag(const cli_args *a, const char *name)
{
	for (int i = 0; i < a->argc; i++)
		if (strcmp(a->argv[i], name) == 0)
			return 1;
	return 0;
}

/* `text` as a whole number from `min` to `max`. */
static int whole_number(long long *out, const char *text, long long min, long long max)
{
	char *end = NULL;
	errno = 0;
	*out = strtoll(text, &end, 10);
	return end != text && !*end && errno == 0 && *out >= min && *out <= max;
}

int cli_option_number(long long *out, const cli_args *a, const char *name, long long min, long long max,
                      long long dflt)
{
	const char *v = cli_option(a, name);
	*out = dflt;
	if (!v)
		return 0;
	if (!whole_number(out, v, min, max)) {
		if (max == LLONG_MAX)
			fprintf(stderr, "tasker: %s expects a whole number from %lld up, got \"%s\"\n", name, min, v);
		else
			fprintf(stderr, "tasker: %s expects a whole number from %lld to %lld, got \"%s\"\n", name, min, max, v);
		return 2;
	}
	return 0;
}

int cli_parse_id(int64_t *out, const cli_args *a, const char *what)
{
	long long id = 0;
	if (a->argc < 1 || !whole_number(&id, a->argv[0], 1, LLONG_MAX)) {
		fprintf(stderr, "tasker: expected a %s id, got \"%s\"\n", what, a->argc ? a->argv[0] : "");
		return 2;
	}
	*out = id;
	return 0;
}
