/*
 * fuzz.h — shared by the libFuzzer harnesses: the input as a NUL-terminated string, split in two at its
 * first NUL byte where a harness needs two texts (a schema and an instance, a pattern and a subject),
 * and a check that stops the run when a property the code promises does not hold.
 */
#ifndef TASKER_FUZZ_H
#define TASKER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The input as a C string (malloc'd); *second points after the first NUL byte (or at the final NUL when
 * there is none), so `text` holds the first part and `*second` the rest. */
static inline char *fuzz_text(const uint8_t *data, size_t size, const char **second)
{
	char *text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (second) {
		size_t first = strlen(text);
		*second = first < size ? text + first + 1 : text + size;
	}
	return text;
}

/* A broken promise is a crash, so libFuzzer keeps the input that shows it. */
#define FUZZ_CHECK(cond, ...)                                                                              \
	do {                                                                                                 \
		if (!(cond)) {                                                                                   \
			fprintf(stderr, "fuzz check failed: %s: ", #cond);                                          \
			fprintf(stderr, __VA_ARGS__);                                                                \
			fprintf(stderr, "\n");                                                                       \
			abort();                                                                                     \
		}                                                                                                \
	} while (0)

#endif
