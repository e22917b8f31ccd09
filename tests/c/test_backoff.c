/*
 * test_backoff.c — retry delays: the table, the exponent beyond it, the cap, jitter bounds with a
 * fixed seed, Retry-After priority and parsing. No database, no clock (times are passed in).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>
#include <time.h>

#include "backoff.h"

static void no_jitter(tasker_config *c)
{
	tasker_config_init(c);
	c->backoff.jitter_enabled = 0;
}

static void test_table_values(void **state)
{
	(void)state;
	static const int expected[] = {1, 2, 4, 8, 16, 32};
	tasker_config c;
	no_jitter(&c);
	assert_int_equal(tbackoff_seconds(&c, 0, NULL), 0);
	assert_int_equal(tbackoff_seconds(&c, -3, NULL), 0);
	for (int n = 1; n <= 6; n++)
		assert_int_equal(tbackoff_seconds(&c, n, NULL), expected[n - 1]);
	/* a custom table is used as written, entry n-1 for attempt n */
	c.backoff.default_backoff_seconds[0] = 3;
	c.backoff.default_backoff_seconds[1] = 0;
	c.backoff.default_backoff_seconds_count = 2;
	assert_int_equal(tbackoff_seconds(&c, 1, NULL), 3);
	assert_int_equal(tbackoff_seconds(&c, 2, NULL), 0);
	assert_int_equal(tbackoff_seconds(&c, 3, NULL), 9); /* 3^2: the table ended */
}

static void test_multiplier_beyond_table(void **state)
{
	(void)state;
	tasker_config c;
	no_jitter(&c);
	assert_int_equal(tbackoff_seconds(&c, 7, NULL), 49);
	assert_int_equal(tbackoff_seconds(&c, 8, NULL), 64);
	assert_int_equal(tbackoff_seconds(&c, 17, NULL), 289);
	c.backoff.backoff_multiplier = 1.5;
	assert_int_equal(tbackoff_seconds(&c, 7, NULL), 18); /* (int)18.52 truncates */
	assert_int_equal(tbackoff_seconds(&c, 6, NULL), 32); /* the table still wins inside it */
}

static void test_cap(void **state)
{
	(void)state;
	tasker_config c;
	no_jitter(&c);
	assert_int_equal(tbackoff_seconds(&c, 18, NULL), 300); /* 324 → 300 */
	assert_int_equal(tbackoff_seconds(&c, INT_MAX, NULL), 300);
	c.backoff.backoff_multiplier = 400.0; /* pow() is inf: still the cap, no overflow */
	assert_int_equal(tbackoff_seconds(&c, 7, NULL), 300);
	c.backoff.max_backoff_seconds = 5;
	assert_int_equal(tbackoff_seconds(&c, 3, NULL), 4);
	assert_int_equal(tbackoff_seconds(&c, 4, NULL), 5); /* table entries are capped too */
	assert_int_equal(tbackoff_seconds(&c, 6, NULL), 5);
}

/* Draws `n` delays for `attempt` and checks every one lies in [lo, hi]; returns how many distinct. */
static int draw(const tasker_config *c, int attempt, uint64_t seed, int n, int lo, int hi, int *min_seen,
                int *max_seen)
{
	uint64_t rng = seed;
	char seen[4096] = {0};
	int distinct = 0;
	*min_seen = INT_MAX;
	*max_seen = INT_MIN;
	for (int i = 0; i < n; i++) {
		int t = tbackoff_seconds(c, attempt, &rng);
		if (t < lo || t > hi)
			fail_msg("attempt %d draw %d: %d outside [%d, %d]", attempt, i, t, lo, hi);
		if (!seen[t]) {
			seen[t] = 1;
			distinct++;
		}
		*min_seen = t < *min_seen ? t : *min_seen;
		*max_seen = t > *max_seen ? t : *max_seen;
	}
	return distinct;
}

static void test_jitter_bounds(void **state)
{
	(void)state;
	tasker_config c;
	int lo, hi;
	tasker_config_init(&c); /* jitter on, ±10 % */

	/* 300 (the cap): r = 30, so [270, 330]; 10,000 draws reach both ends. */
	assert_int_equal(draw(&c, 20, 42, 10000, 270, 330, &lo, &hi), 61);
	assert_int_equal(lo, 270);
	assert_int_equal(hi, 330);
	/* 32: r = round(3.2) = 3 → [29, 35], all within ±10 %. */
	assert_true(draw(&c, 6, 7, 10000, 29, 35, &lo, &hi) > 1);
	assert_int_equal(lo, 29);
	assert_int_equal(hi, 35);
	/* 1: r = round(0.1) = 0, never changes. */
	assert_int_equal(draw(&c, 1, 7, 10000, 1, 1, &lo, &hi), 1);

	/* never below 1, even when the jitter could take it to 0 or the table says 0 */
	c.backoff.jitter_max_percentage = 1.0;
	assert_int_equal(draw(&c, 1, 3, 10000, 1, 2, &lo, &hi), 2);
	c.backoff.default_backoff_seconds[0] = 0;
	assert_int_equal(draw(&c, 1, 3, 1000, 1, 1, &lo, &hi), 1);

	/* the same seed gives the same delays */
	tasker_config_init(&c);
	uint64_t a = 99, b = 99;
	for (int i = 0; i < 100; i++)
		assert_int_equal(tbackoff_seconds(&c, 20, &a), tbackoff_seconds(&c, 20, &b));
	/* NULL state: seeded internally, still within bounds */
	for (int i = 0; i < 100; i++) {
		int t = tbackoff_seconds(&c, 20, NULL);
		assert_in_range(t, 270, 330);
	}
}

static void test_for_failure(void **state)
{
	(void)state;
	tasker_config c;
	no_jitter(&c);
	/* Retry-After wins over the table, and is capped */
	assert_int_equal(tbackoff_for_failure(&c, 1, 120, NULL), 120);
	assert_int_equal(tbackoff_for_failure(&c, 6, 0, NULL), 0);
	assert_int_equal(tbackoff_for_failure(&c, 1, 1000, NULL), 300);
	c.backoff.max_backoff_seconds = 60;
	assert_int_equal(tbackoff_for_failure(&c, 1, 61, NULL), 60);
	c.backoff.max_backoff_seconds = 300;
	/* no Retry-After: the attempt that just failed picks the delay */
	assert_int_equal(tbackoff_for_failure(&c, 1, -1, NULL), 1);
	assert_int_equal(tbackoff_for_failure(&c, 3, -1, NULL), 4);
	assert_int_equal(tbackoff_for_failure(&c, 7, -1, NULL), 49);
	assert_int_equal(tbackoff_for_failure(&c, 40, -1, NULL), 300);
	/* at least half the first table entry, rounded up */
	c.backoff.default_backoff_seconds[0] = 5;
	c.backoff.default_backoff_seconds[1] = 1;
	assert_int_equal(tbackoff_for_failure(&c, 2, -1, NULL), 3); /* max(1, 2.5) → 3 */
	assert_int_equal(tbackoff_for_failure(&c, 0, -1, NULL), 3);
	/* a table of zeros without jitter retries at once, as the Rails engine does */
	c.backoff.default_backoff_seconds[0] = 0;
	assert_int_equal(tbackoff_for_failure(&c, 0, -1, NULL), 0);
	assert_int_equal(tbackoff_for_failure(&c, 1, -1, NULL), 0);
	/* with jitter: within the jittered range, seeded */
	tasker_config_init(&c);
	uint64_t rng = 5;
	for (int i = 0; i < 1000; i++)
		assert_in_range(tbackoff_for_failure(&c, 20, -1, &rng), 270, 330);
}

static time_t utc(int y, int mon, int d, int h, int mi, int s)
{
	struct tm tm = {0};
	tm.tm_year = y - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return timegm(&tm);
}

static void test_retry_after_seconds(void **state)
{
	(void)state;
	int out = -7;
	assert_int_equal(tbackoff_parse_retry_after(&out, "120", 0), TASKER_OK);
	assert_int_equal(out, 120);
	assert_int_equal(tbackoff_parse_retry_after(&out, " 7\t", 0), TASKER_OK);
	assert_int_equal(out, 7);
	assert_int_equal(tbackoff_parse_retry_after(&out, "0", 0), TASKER_OK);
	assert_int_equal(out, 0);
	assert_int_equal(tbackoff_parse_retry_after(&out, "99999999999999999999999", 0), TASKER_OK);
	assert_int_equal(out, INT_MAX);

	out = 11;
	assert_int_equal(tbackoff_parse_retry_after(&out, "-5", 0), TASKER_EINVAL);
	assert_string_equal(tasker_error_last()->message, "Retry-After \"-5\" is negative");
	assert_int_equal(out, 11);
	assert_int_equal(tbackoff_parse_retry_after(&out, "", 0), TASKER_EINVAL);
	assert_int_equal(tbackoff_parse_retry_after(&out, "soon", 0), TASKER_EINVAL);
	assert_string_equal(tasker_error_last()->message,
	                    "Retry-After \"soon\" is neither a number of seconds nor an HTTP-date "
	                    "(e.g. \"Sun, 06 Nov 1994 08:49:37 GMT\")");
	assert_int_equal(tbackoff_parse_retry_after(&out, "1.5", 0), TASKER_EINVAL);
	assert_int_equal(tbackoff_parse_retry_after(&out, "+5", 0), TASKER_EINVAL);
	assert_int_equal(tbackoff_parse_retry_after(&out, NULL, 0), TASKER_EINVAL);
	assert_int_equal(out, 11);
}

static void test_retry_after_http_date(void **state)
{
	(void)state;
	int out = -1;
	time_t now = utc(1994, 11, 6, 8, 49, 0);
	assert_int_equal(tbackoff_parse_retry_after(&out, "Sun, 06 Nov 1994 08:49:37 GMT", now), TASKER_OK);
	assert_int_equal(out, 37);
	assert_int_equal(tbackoff_parse_retry_after(&out, "Mon, 07 Nov 1994 08:49:00 GMT", now), TASKER_OK);
	assert_int_equal(out, 86400);
	/* a date in the past means "now" */
	assert_int_equal(tbackoff_parse_retry_after(&out, "Sat, 05 Nov 1994 08:49:37 GMT", now), TASKER_OK);
	assert_int_equal(out, 0);
	/* leap day */
	now = utc(2024, 2, 28, 23, 59, 50);
	assert_int_equal(tbackoff_parse_retry_after(&out, " Thu, 29 Feb 2024 00:00:00 GMT ", now), TASKER_OK);
	assert_int_equal(out, 10);

	static const char *const bad[] = {
		"Sun, 06 Nov 1994 08:49:37 UTC",  /* not GMT */
		"Sun, 06 Nov 94 08:49:37 GMT",    /* two-digit year (RFC 850 style) */
		"Sunday, 06-Nov-94 08:49:37 GMT", /* RFC 850 */
		"Sun Nov  6 08:49:37 1994",       /* asctime */
		"Sun, 31 Feb 1994 08:49:37 GMT",  /* no such day */
		"Thu, 29 Feb 2023 00:00:00 GMT",  /* not a leap year */
		"Sun, 06 Nov 1994 24:00:00 GMT",  /* hour out of range */
		"Sun, 06 Xyz 1994 08:49:37 GMT",  /* no such month */
		"Abc, 06 Nov 1994 08:49:37 GMT",  /* no such day name */
		"Sun, 6 Nov 1994 08:49:37 GMT",   /* day needs two digits */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		out = 5;
		assert_int_equal(tbackoff_parse_retry_after(&out, bad[i], now), TASKER_EINVAL);
		assert_non_null(strstr(tasker_error_last()->message, bad[i]));
		assert_int_equal(out, 5);
	}
}

static void test_rng(void **state)
{
	(void)state;
	/* splitmix64's published first output for state 0 */
	uint64_t s = 0;
	assert_true(tbackoff_rng_next(&s) == 0xe220a8397b1dcdafULL);
	assert_true(s == 0x9e3779b97f4a7c15ULL);
	/* two seeds from the CSPRNG differ (a collision has probability 2^-64) */
	assert_true(tbackoff_rng_seed() != tbackoff_rng_seed());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_values),
		cmocka_unit_test(test_multiplier_beyond_table),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_for_failure),
		cmocka_unit_test(test_retry_after_seconds),
		cmocka_unit_test(test_retry_after_http_date),
		cmocka_unit_test(test_rng),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
