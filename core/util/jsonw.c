/*
 * jsonw.c — see jsonw.h. Text only: no cJSON trees, no engine rules.
 */
#include "jsonw.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void tjw_init(tjw *w, char *stack, size_t cap)
{
	tbuf_init_stack(&w->b, stack, cap);
	w->comma = 0;
}

void tjw_free(tjw *w) { tbuf_free(&w->b); }

void tjw_raw(tjw *w, const char *s, size_t n) { tbuf_append(&w->b, s, n); }

void tjw_puts(tjw *w, const char *s) { tjw_raw(w, s, strlen(s)); }

void tjw_str(tjw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	if (!s) {
		tjw_raw(w, "null", 4);
		return;
	}
	size_t n = strlen(s);
	if (!tbuf_reserve(&w->b, n + 2))
		return;
	w->b.data[w->b.len++] = '"';
	const char *run = s;
	for (const char *p = s;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		/* flush the plain run before p */
		size_t k = (size_t)(p - run);
		if (k && tbuf_reserve(&w->b, k)) {
			memcpy(w->b.data + w->b.len, run, k);
			w->b.len += k;
		}
		if (!c)
			break;
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		size_t en = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			en = 6;
		}
		if (tbuf_reserve(&w->b, en)) {
			memcpy(w->b.data + w->b.len, esc, en);
			w->b.len += en;
		}
		run = p + 1;
	}
	if (tbuf_reserve(&w->b, 1))
		w->b.data[w->b.len++] = '"';
	if (!w->b.oom)
		w->b.data[w->b.len] = '\0';
}

void tjw_i64(tjw *w, int64_t v)
{
	char tmp[24];
	size_t n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[sizeof tmp - 1 - n++] = '-';
	tjw_raw(w, tmp + sizeof tmp - n, n);
}

/* The "YYYY-MM-DDTHH:MM:SS" of the last second formatted by this thread. */
static _Thread_local int64_t cached_sec = INT64_MIN;
static _Thread_local char cached_prefix[24];

void tjw_time(tjw *w, int64_t us)
{
	int64_t sec = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t frac = us - sec * 1000000;
	if (sec != cached_sec) {
		time_t t = (time_t)sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(cached_prefix, sizeof cached_prefix, "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = sec;
	}
	char out[40];
	size_t n = strlen(cached_prefix);
	out[0] = '"';
	memcpy(out + 1, cached_prefix, n);
	n++;
	out[n++] = '.';
	for (int i = 5; i >= 0; i--) {
		out[n + (size_t)i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	n += 6;
	out[n++] = 'Z';
	out[n++] = '"';
	tjw_raw(w, out, n);
}

void tjw_open(tjw *w)
{
	tjw_raw(w, "{", 1);
	w->comma = 0;
}

void tjw_close(tjw *w)
{
	tjw_raw(w, "}", 1);
	w->comma = 1;
}

void tjw_key(tjw *w, const char *key)
{
	if (w->comma)
		tjw_raw(w, ",", 1);
	tjw_str(w, key);
	tjw_raw(w, ":", 1);
	w->comma = 1;
}

void tjw_kstr(tjw *w, const char *key, const char *value)
{
	tjw_key(w, key);
	tjw_str(w, value);
}

void tjw_ki64(tjw *w, const char *key, int64_t value)
{
	tjw_key(w, key);
	tjw_i64(w, value);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void tjw_members(tjw *w, const char *obj)
{
	if (!obj)
		return;
	const char *a = strchr(obj, '{'), *b = strrchr(obj, '}');
	if (!a || !b || b <= a)
		return;
	a++;
	while (a < b && is_ws(*a))
		a++;
	while (b > a && is_ws(b[-1]))
		b--;
	if (a == b)
		return;
	if (w->comma)
		tjw_raw(w, ",", 1);
	tjw_raw(w, a, (size_t)(b - a));
	w->comma = 1;
}

const char *tjw_text(tjw *w)
{
	if (!w->b.data && !tbuf_reserve(&w->b, 0))
		return NULL;
	return w->b.oom ? NULL : w->b.data;
}

char *tjw_take(tjw *w)
{
	w->comma = 0;
	if (w->b.oom) {
		tbuf_free(&w->b);
		return NULL;
	}
	return tbuf_take(&w->b);
}

/* ------------------------------------------------------------------ validation */

/* Each scanner takes the position of a value and returns the position after it, or NULL when the text
 * is not JSON. Positions are locals (not fields behind a pointer) so the compiler keeps them in
 * registers: this runs on every published payload. */

#define MAX_DEPTH 64

static const char *skip_ws(const char *p)
{
	while (is_ws(*p))
		p++;
	return p;
}

static const char *scan_value(const char *p, int depth);

/* 1 for bytes that end a run of plain string characters: '"', '\\' and control characters. */
static const unsigned char special[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

static int is_hex(char h) { return (h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'); }

static const char *scan_string(const char *p)
{
	if (*p != '"')
		return NULL;
	p++;
	for (;;) {
		while (!special[(unsigned char)*p])
			p++;
		if (*p == '"')
			return p + 1;
		if (*p != '\\')
			return NULL; /* a control character, or the end of the text */
		char e = p[1];
		if (e == 'u') {
			if (!is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5]))
				return NULL;
			p += 6;
		} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
		           e == 't') {
			p += 2;
		} else {
			return NULL;
		}
	}
}

static const char *scan_digits(const char *p)
{
	const char *start = p;
	while (*p >= '0' && *p <= '9')
		p++;
	return p > start ? p : NULL;
}

static const char *scan_number(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!(p = scan_digits(p)))
		return NULL;
	if (*p == '.' && !(p = scan_digits(p + 1)))
		return NULL;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(p = scan_digits(p)))
			return NULL;
	}
	return p;
}

static const char *scan_word(const char *p, const char *word, size_t n)
{
	return strncmp(p, word, n) == 0 ? p + n : NULL;
}

static const char *scan_container(const char *p, char close, int object, int depth)
{
	if (depth > MAX_DEPTH)
		return NULL;
	p = skip_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		p = skip_ws(p);
		if (object) {
			if (!(p = scan_string(p)))
				return NULL;
			p = skip_ws(p);
			if (*p != ':')
				return NULL;
			p = skip_ws(p + 1);
		}
		if (!(p = scan_value(p, depth)))
			return NULL;
		p = skip_ws(p);
		if (*p == ',') {
			p++;
			continue;
		}
		return *p == close ? p + 1 : NULL;
	}
}

static const char *scan_value(const char *p, int depth)
{
	switch (*p) {
	case '{': return scan_container(p, '}', 1, depth + 1);
	case '[': return scan_container(p, ']', 0, depth + 1);
	case '"': return scan_string(p);
	case 't': return scan_word(p, "true", 4);
	case 'f': return scan_word(p, "false", 5);
	case 'n': return scan_word(p, "null", 4);
	default: return scan_number(p);
	}
}

/* The integer value in [p, end) if it is a plain non-negative integer, else 0. */
static int64_t plain_int(const char *p, const char *end)
{
	int64_t v = 0;
	if (p >= end)
		return 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
			return 0;
		v = v * 10 + (*p - '0');
	}
	return v;
}

/* Whether the key text [start, end) (quotes included) is `key` (len n). */
static int key_is(const char *start, const char *end, const char *key, size_t n)
{
	return (size_t)(end - start) == n + 2 && memcmp(start + 1, key, n) == 0;
}

typedef int (*member_fn)(const char *key, size_t key_len, const char *value, size_t value_len, void *arg);

/* Walks the members of the JSON object at `text`, calling fn for each until it returns non-zero.
 * Returns the object's closing brace, or the end of the member fn stopped at; NULL when `text` does not
 * start with a valid object. */
static const char *walk_object(const char *text, member_fn fn, void *arg)
{
	const char *p = skip_ws(text);
	if (*p != '{')
		return NULL;
	p = skip_ws(p + 1);
	if (*p == '}')
		return p;
	for (;;) {
		const char *ks = p;
		if (!(p = scan_string(p)))
			return NULL;
		const char *ke = p;
		p = skip_ws(p);
		if (*p != ':')
			return NULL;
		const char *vs = skip_ws(p + 1);
		if (!(p = scan_value(vs, 1)))
			return NULL;
		if (fn(ks, (size_t)(ke - ks), vs, (size_t)(p - vs), arg))
			return p;
		p = skip_ws(p);
		if (*p == ',') {
			p = skip_ws(p + 1);
			continue;
		}
		return *p == '}' ? p : NULL;
	}
}

static int scan_member(const char *key, size_t key_len, const char *value, size_t value_len, void *arg)
{
	tjson_scan *out = arg;
	const char *ke = key + key_len, *ve = value + value_len;
	if (key_is(key, ke, "timestamp", 9))
		out->has_timestamp = 1;
	else if (key_is(key, ke, "task_id", 7))
		out->task_id = plain_int(value, ve);
	else if (key_is(key, ke, "step_id", 7) || key_is(key, ke, "workflow_step_id", 16))
		out->step_id = plain_int(value, ve);
	return 0;
}

int tjson_scan_object(const char *text, tjson_scan *out)
{
	memset(out, 0, sizeof *out);
	const char *close = text ? walk_object(text, scan_member, out) : NULL;
	if (!close)
		return 0;
	out->empty = close == skip_ws(skip_ws(text) + 1);
	out->close = (size_t)(close - text);
	return *skip_ws(close + 1) == '\0';
}

int tjson_each_member(const char *obj, member_fn fn, void *arg)
{
	return obj && walk_object(obj, fn, arg) != NULL;
}
