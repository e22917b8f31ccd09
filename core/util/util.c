/*
 * util.c — see util.h. Helpers only; nothing here knows about tasks or steps.
 */
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "tasker.h"

void tbuf_init(tbuf *b) { memset(b, 0, sizeof *b); }

void tbuf_init_stack(tbuf *b, char *stack, size_t cap)
{
	tbuf_init(b);
	if (stack && cap) {
		b->data = stack;
		b->cap = cap;
		b->borrowed = 1;
		stack[0] = '\0';
	}
}

void tbuf_free(tbuf *b)
{
	if (!b->borrowed)
		free(b->data);
	tbuf_init(b);
}

int tbuf_reserve(tbuf *b, size_t extra)
{
	if (b->oom)
		return 0;
	if (b->len + extra + 1 <= b->cap)
		return 1;
	size_t cap = b->cap ? b->cap * 2 : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *p = b->borrowed ? malloc(cap) : realloc(b->data, cap);
	if (!p) {
		b->oom = 1;
		return 0;
	}
	if (b->borrowed && b->len)
		memcpy(p, b->data, b->len);
	b->data = p;
	b->cap = cap;
	b->borrowed = 0;
	return 1;
}

void tbuf_append(tbuf *b, const char *s, size_t n)
{
	if (!tbuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void tbuf_puts(tbuf *b, const char *s) { tbuf_append(b, s, strlen(s)); }

void tbuf_printf(tbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !tbuf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void tbuf_array_elem(tbuf *b, const char *s)
{
	if (!s) {
		tbuf_puts(b, "NULL");
		return;
	}
	tbuf_append(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			tbuf_append(b, "\\", 1);
		tbuf_append(b, s, 1);
	}
	tbuf_append(b, "\"", 1);
}

int tfile_read(char **out, size_t *out_len, const char *path, const char *what, size_t max_bytes, int too_big)
{
	*out = NULL;
	*out_len = 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		return tasker_set_error(e == ENOENT ? TASKER_ENOTFOUND : TASKER_ERROR, "%s: cannot open %s: %s", path,
		                        what, strerror(e));
	}
	tbuf b;
	tbuf_init(&b);
	char chunk[8192];
	int rc = TASKER_OK;
	for (;;) {
		size_t got = fread(chunk, 1, sizeof chunk, f);
		if (got == 0) {
			if (ferror(f))
				rc = tasker_set_error(TASKER_ERROR, "%s: cannot read %s: %s", path, what,
				                      strerror(errno ? errno : EIO));
			break;
		}
		if (max_bytes && b.len + got > max_bytes) {
			rc = tasker_set_error(too_big, "%s: %s is over %zu bytes", path, what, max_bytes);
			break;
		}
		tbuf_append(&b, chunk, got);
	}
	fclose(f);
	size_t len = b.len;
	if (rc) {
		tbuf_free(&b);
		return rc;
	}
	if (!(*out = tbuf_take(&b)))
		return TASKER_ENOMEM;
	*out_len = len;
	return TASKER_OK;
}

char *tbuf_take(tbuf *b)
{
	if (b->oom) {
		tbuf_free(b);
		tasker_set_oom();
		return NULL;
	}
	char *s = b->data;
	if (!s || b->borrowed) { /* onto the heap, so the caller can free it */
		if ((s = malloc(b->len + 1))) {
			if (b->len)
				memcpy(s, b->data, b->len);
			s[b->len] = '\0';
		}
	} else {
		b->data = NULL;
	}
	tbuf_free(b);
	if (!s)
		tasker_set_oom();
	return s;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int64_t ttime_parse(const char *text)
{
	if (!text)
		return TASKER_NULL_TIME;
	int y, mo, d, h, mi, s, n = 0;
	if (sscanf(text, "%4d-%2d-%2d%*[ T]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6)
		return TASKER_NULL_TIME;
	int64_t frac = 0;
	const char *p = text + n;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 6)
				frac = frac * 10 + (*p - '0');
		for (; digits < 6; digits++)
			frac *= 10;
	}
	int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	return ((days * 86400) + h * 3600 + mi * 60 + s) * 1000000 + frac;
}

void ttime_format(char out[32], int64_t us)
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[128]; /* the compiler cannot see that every field is small */
	snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06" PRId64, tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	snprintf(out, 32, "%.31s", buf);
}

int64_t ttime_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ttime_after_ms(struct timespec *out, long ms)
{
	clock_gettime(CLOCK_REALTIME, out);
	out->tv_sec += ms / 1000;
	out->tv_nsec += (ms % 1000) * 1000000L;
	out->tv_sec += out->tv_nsec / 1000000000L;
	out->tv_nsec %= 1000000000L;
}

int64_t trand_i63(void)
{
	uint64_t v = 0;
	if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
		v = (uint64_t)ttime_now() * 6364136223846793005ULL + 1442695040888963407ULL;
	v &= INT64_MAX;
	return v ? (int64_t)v : 1;
}

int trand_uuid(char out[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1)
		return tasker_set_error(TASKER_ERROR, "OpenSSL could not produce random bytes");
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
	         b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return TASKER_OK;
}

char *tid_array(const int64_t *ids, size_t n)
{
	tbuf b;
	tbuf_init(&b);
	tbuf_puts(&b, "{");
	for (size_t i = 0; i < n; i++)
		tbuf_printf(&b, "%s%lld", i ? "," : "", (long long)ids[i]);
	tbuf_puts(&b, "}");
	return tbuf_take(&b);
}

char *ttext_array(const char *const *items, size_t n)
{
	tbuf b;
	tbuf_init(&b);
	tbuf_puts(&b, "{");
	for (size_t i = 0; i < n; i++) {
		tbuf_puts(&b, i ? "," : "");
		tbuf_array_elem(&b, items[i]);
	}
	tbuf_puts(&b, "}");
	return tbuf_take(&b);
}

int tjson_valid(const char *text)
{
	cJSON *doc = text ? cJSON_ParseWithOpts(text, NULL, 1) : NULL;
	cJSON_Delete(doc);
	return doc != NULL;
}

cJSON *tjson_parse(const char *text, const char *what)
{
	if (!text) {
		tasker_set_error(TASKER_EJSON, "%s: missing JSON", what);
		return NULL;
	}
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithOpts(text, &end, 1);
	if (!doc) {
		size_t off = end ? (size_t)(end - text) : 0;
		tasker_set_error(TASKER_EJSON, "%s is not valid JSON (at offset %zu): %.120s", what, off, text);
	} else if (tjson_keep_numbers(doc, text) || tjson_check_storable(doc, text, what)) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	return doc;
}

char *tjson_compact(const char *text)
{
	size_t n = strlen(text), k = 0;
	char *out = malloc(n + 1);
	if (!out) {
		tasker_set_oom();
		return NULL;
	}
	int in_string = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = text[i];
		if (in_string) {
			out[k++] = ch;
			if (ch == '\\' && i + 1 < n)
				out[k++] = text[++i];
			else if (ch == '"')
				in_string = 0;
		} else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			out[k++] = ch;
			in_string = ch == '"';
		}
	}
	out[k] = '\0';
	return out;
}

char *tstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		tasker_set_oom();
	return d;
}

void *tarray_grow(void *array, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return array;
	size_t ncap = *cap ? *cap * 2 : 8;
	while (ncap < need)
		ncap *= 2;
	void *bigger = realloc(array, ncap * elem);
	if (bigger)
		*cap = ncap;
	return bigger;
}
