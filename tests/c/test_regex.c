/*
 * test_regex.c — the JSON-Schema regex engine stays an automaton: patterns that send a backtracking
 * engine into exponential time cost a number of automaton steps proportional to the subject's length.
 * Measured in steps (trx_search_steps), not time, so the test means the same on any machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

/* "aaa…a!" with n a's: never matches ^(a+)+$, and a backtracker tries 2^n ways to split the a's. */
static char *as_then_bang(size_t n)
{
	char *s = malloc(n + 2);
	assert_non_null(s);
	memset(s, 'a', n);
	s[n] = '!';
	s[n + 1] = '\0';
	return s;
}

static uint64_t steps_for(const trx_regex *re, size_t n, int expect)
{
	char *subject = as_then_bang(n);
	int matched = -1;
	uint64_t steps = 0;
	assert_int_equal(trx_search_steps(re, subject, &matched, &steps), 0);
	assert_int_equal(matched, expect);
	free(subject);
	return steps;
}

static void check_linear(const char *pattern, int expect)
{
	char err[128];
	trx_regex *re = NULL;
	if (trx_compile(&re, pattern, err, sizeof err) != 0)
		fail_msg("%s does not compile: %s", pattern, err);
	/* Each doubling of the subject at most doubles the work (a little slack for the constant part);
	 * a backtracker squares it or worse. And the work per character is bounded by the pattern's size. */
	uint64_t prev = steps_for(re, 1000, expect);
	assert_true(prev > 1000); /* the counter counts */
	for (size_t n = 2000; n <= 64000; n *= 2) {
		uint64_t steps = steps_for(re, n, expect);
		if ((double)steps > 2.05 * (double)prev)
			fail_msg("%s: %llu steps for %zu characters, %llu for half as many: not linear", pattern,
			         (unsigned long long)steps, n, (unsigned long long)prev);
		if (steps > (uint64_t)(n + 1) * 8 * strlen(pattern))
			fail_msg("%s: %llu steps for %zu characters, over 8 × pattern length per character", pattern,
			         (unsigned long long)steps, n);
		prev = steps;
	}
	trx_free(re);
}

static void test_nested_quantifier_is_linear(void **state)
{
	(void)state;
	check_linear("^(a+)+$", 0);
}

static void test_other_catastrophic_patterns_are_linear(void **state)
{
	(void)state;
	check_linear("^(a|aa|a?)*$", 0);
	check_linear("^(a|a)*$", 0);
	check_linear("(a*)*!", 1);
	check_linear("^(a{0,20}){0,20}$", 0);
	check_linear("^(?=(a+)+$)", 0);
	check_linear("(?<=b(a+)+)a", 0);
}

static void test_steps_reported_for_a_match(void **state)
{
	(void)state;
	char err[128];
	trx_regex *re = NULL;
	assert_int_equal(trx_compile(&re, "b", err, sizeof err), 0);
	int matched = -1;
	uint64_t few = 0, many = 0;
	assert_int_equal(trx_search_steps(re, "b", &matched, &few), 0);
	assert_int_equal(matched, 1);
	assert_int_equal(trx_search_steps(re, "aaaaaaaaaaaaaaaaaaaab", &matched, &many), 0);
	assert_int_equal(matched, 1);
	assert_true(few > 0 && many > few);
	assert_int_equal(trx_search(re, "ccc", &matched), 0); /* the plain search stays */
	assert_int_equal(matched, 0);
	trx_free(re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_quantifier_is_linear),
		cmocka_unit_test(test_other_catastrophic_patterns_are_linear),
		cmocka_unit_test(test_steps_reported_for_a_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
