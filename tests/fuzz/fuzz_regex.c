/*
 * fuzz_regex.c — the regex engine of JSON Schema's "pattern": the input is a pattern, a NUL byte, and a
 * subject. Compiling accepts or explains; a compiled pattern searches any subject in linear time: the
 * automaton's step count stays within (subject length + 1) × program size × a small constant, so a
 * pattern that would backtrack catastrophically is a crash here, not a slow test.
 */
#include "fuzz.h"
#include "regex.h"
#include "tasker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *subject;
	char *pattern = fuzz_text(data, size, &subject);
	char err[256];
	int syntax_ok = trx_check_syntax(pattern, err, sizeof err);
	trx_regex *re = NULL;
	if (trx_compile(&re, pattern, err, sizeof err) == TASKER_OK) {
		FUZZ_CHECK(syntax_ok, "compiled a pattern the syntax check refuses: %s", err);
		FUZZ_CHECK(strcmp(trx_source(re), pattern) == 0, "source differs");
		int matched = -1;
		uint64_t steps = 0;
		FUZZ_CHECK(trx_search_steps(re, subject, &matched, &steps) == TASKER_OK, "search failed");
		FUZZ_CHECK(matched == 0 || matched == 1, "matched is %d", matched);
		int again = -1;
		FUZZ_CHECK(trx_search(re, subject, &again) == TASKER_OK && again == matched, "searches disagree");
		/* every position visits each state of each pass at most once; passes: one plus one per
		 * lookaround (at most 64), states: at most a few per pattern byte */
		uint64_t bound = (uint64_t)(strlen(subject) + 1) * (strlen(pattern) * 8 + 8) * 65;
		FUZZ_CHECK(steps <= bound, "%llu steps for a %zu-byte subject and a %zu-byte pattern",
		           (unsigned long long)steps, strlen(subject), strlen(pattern));
		trx_free(re);
	}
	free(pattern);
	return 0;
}
