/*
 * backoff.h — how long a failed step waits before its next attempt: the Rails engine's
 * BackoffConfig#calculate_backoff_seconds and BackoffCalculator, plus Retry-After parsing and the
 * small PRNG that makes jitter reproducible in tests. Pure functions: no clock (callers pass `now`),
 * no database, no global state.
 */
#ifndef TASKER_CORE_BACKOFF_H
#define TASKER_CORE_BACKOFF_H

#include <stdint.h>
#include <time.h>

#include "config.h"

/* The engine's calculate_backoff_seconds(attempt), in whole seconds: 0 for attempt <= 0; else
 * default_backoff_seconds[attempt-1] while attempt is within the table, (int)pow(attempt,
 * backoff_multiplier) beyond it; capped at max_backoff_seconds; then, when jitter is enabled,
 * moved by a uniform integer in [-r, r] with r = round(t * jitter_max_percentage), and at least 1.
 * `rng_state` is advanced once per jittered draw; NULL draws from a fresh tbackoff_rng_seed().
 * `c` must be valid (tasker_config_validate); every loader guarantees that. */
int tbackoff_seconds(const tasker_config *c, int attempt, uint64_t *rng_state);

/* The delay before the next attempt of a step that has just failed. `attempts_so_far` counts the
 * attempts made, including the one that just failed (so 1 after the first failure). A
 * server-requested `retry_after` >= 0 wins, capped at max_backoff_seconds; otherwise (pass -1)
 * max(tbackoff_seconds(attempts_so_far), default_backoff_seconds[0] * 0.5), rounded up to whole
 * seconds and at least 1. */
int tbackoff_for_failure(const tasker_config *c, int attempts_so_far, int retry_after, uint64_t *rng_state);

/* Parses an HTTP Retry-After value: delay-seconds ("120") or an IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT") minus `now`, clamped at 0 for a date in the past; a huge
 * delay is clamped to INT_MAX. Surrounding blanks are ignored. A negative number, an empty value or
 * anything else is TASKER_EINVAL naming the value; *out_seconds is then untouched. */
int tbackoff_parse_retry_after(int *out_seconds, const char *value, time_t now);

/* A seed from OpenSSL's RAND_bytes (falling back to time, pid and addresses if that fails). */
uint64_t tbackoff_rng_seed(void);
/* Advances the splitmix64 state and returns the next 64 random bits. */
uint64_t tbackoff_rng_next(uint64_t *state);

#endif
