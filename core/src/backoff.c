/*
 * backoff.c — computes retry delays from a tasker_config and parses Retry-After values. Decides only
 * *how long*; whether a step may be retried at all (attempts, retryable, permanent errors) belongs to
 * the completion path. Never reads the clock or the database.
 */
#include "backoff.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

uint64_t tbackoff_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t tbackoff_rng_seed(void)
{
	uint64_t seed;
	if (RAND_bytes((unsigned char *)&seed, (int)sizeof seed) == 1)
		return seed;
	/* Jitter only spreads retries out; a weak seed is acceptable when the CSPRNG is unavailable. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
	       (uint64_t)(uintptr_t)&seed;
	return tbackoff_rng_next(&seed);
}

/* Uniform integer in [-r, r] without modulo bias. */
static int uniform_pm(uint64_t *state, int r)
{
	uint64_t span = 2 * (uint64_t)r + 1;
	uint64_t limit = UINT64_MAX - UINT64_MAX % span;
	uint64_t x;
	do
		x = tbackoff_rng_next(state);
	while (x >= limit);
	return (int)((int64_t)(x % span) - r);
}

int tbackoff_seconds(const tasker_config *c, int attempt, uint64_t *rng_state)
{
	const tasker_backoff_config *b = &c->backoff;
	if (attempt <= 0)
		return 0;
	int t;
	if ((size_t)attempt <= b->default_backoff_seconds_count) {
		t = b->default_backoff_seconds[attempt - 1];
	} else {
		/* Compare in double first: pow() overflows int long before the cap stops mattering. */
		double p = pow((double)attempt, b->backoff_multiplier);
		t = (isfinite(p) && p < (double)b->max_backoff_seconds) ? (int)p : b->max_backoff_seconds;
	}
	if (t > b->max_backoff_seconds)
		t = b->max_backoff_seconds;
	if (!b->jitter_enabled)
		return t;
	int r = (int)llround((double)t * b->jitter_max_percentage);
	if (r < 0)
		r = 0;
	uint64_t local;
	if (!rng_state) {
		local = tbackoff_rng_seed();
		rng_state = &local;
	}
	long long jittered = (long long)t + uniform_pm(rng_state, r);
	if (jittered < 1)
		return 1;
	return jittered > INT_MAX ? INT_MAX : (int)jittered;
}

int tbackoff_for_failure(const tasker_config *c, int attempts_so_far, int retry_after, uint64_t *rng_state)
{
	const tasker_backoff_config *b = &c->backoff;
	if (retry_after >= 0)
		return retry_after < b->max_backoff_seconds ? retry_after : b->max_backoff_seconds;
	double floor_delay = b->default_backoff_seconds_count ? b->default_backoff_seconds[0] * 0.5 : 0;
	double d = tbackoff_seconds(c, attempts_so_far, rng_state);
	if (floor_delay > d)
		d = ceil(floor_delay);
	/* No floor of our own: a table of zeros (and no jitter) means "retry at once", as in the
	 * Rails engine; with jitter on, tbackoff_seconds already keeps the delay at 1 s or more. */
	return (int)d;
}

/* ------------------------------------------------------------------ Retry-After */

static int parse_2digits(const char *s, int *out)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return 0;
	*out = (s[0] - '0') * 10 + (s[1] - '0');
	return 1;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT", exactly 29 characters. The day
 * name is checked for spelling, not against the date. Month names are matched by hand rather than
 * with strptime(), whose %a/%b follow the process locale (which a host language may have set). */
static int parse_imf_fixdate(const char *s, size_t len, time_t *out)
{
	static const char days[] = "Mon,Tue,Wed,Thu,Fri,Sat,Sun,";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || s[25] != ' ' || memcmp(s + 26, "GMT", 3) != 0)
		return 0;
	const char *day = NULL;
	for (const char *d = days; *d && !day; d += 4)
		if (memcmp(s, d, 4) == 0)
			day = d;
	int mon = -1;
	for (int i = 0; i < 12 && mon < 0; i++)
		if (memcmp(s + 8, months + 3 * i, 3) == 0)
			mon = i;
	int mday, yhi, ylo, hh, mm, ss;
	if (!day || mon < 0 || !parse_2digits(s + 5, &mday) || !parse_2digits(s + 12, &yhi) ||
	    !parse_2digits(s + 14, &ylo) || !parse_2digits(s + 17, &hh) || !parse_2digits(s + 20, &mm) ||
	    !parse_2digits(s + 23, &ss))
		return 0;
	int year = yhi * 100 + ylo;
	int last = mdays[mon] + (mon == 1 && is_leap(year));
	if (mday < 1 || mday > last || hh > 23 || mm > 59 || ss > 60)
		return 0;
	struct tm tm = {0};
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = mday;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	*out = timegm(&tm);
	return 1;
}

int tbackoff_parse_retry_after(int *out_seconds, const char *value, time_t now)
{
	if (!value)
		return tasker_set_error(TASKER_EINVAL, "Retry-After value is NULL");
	const char *s = value;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	size_t digits = 0;
	while (digits < len && isdigit((unsigned char)s[digits]))
		digits++;
	if (len > 0 && digits == len) {
		long long v = 0;
		for (size_t i = 0; i < len && v <= INT_MAX; i++)
			v = v * 10 + (s[i] - '0');
		*out_seconds = v > INT_MAX ? INT_MAX : (int)v;
		return TASKER_OK;
	}
	if (len > 1 && s[0] == '-' && strspn(s + 1, "0123456789") == len - 1)
		return tasker_set_error(TASKER_EINVAL, "Retry-After \"%.*s\" is negative", (int)len, s);
	time_t at;
	if (!parse_imf_fixdate(s, len, &at))
		return tasker_set_error(TASKER_EINVAL,
		                        "Retry-After \"%.100s\" is neither a number of seconds nor an "
		                        "HTTP-date (e.g. \"Sun, 06 Nov 1994 08:49:37 GMT\")",
		                        value);
	double diff = difftime(at, now);
	*out_seconds = diff <= 0 ? 0 : diff >= INT_MAX ? INT_MAX : (int)diff;
	return TASKER_OK;
}
