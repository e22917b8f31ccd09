/*
 * json.c — exact numbers in cJSON trees (declared in util.h). cJSON keeps a number only as a double and
 * prints it with 15 significant digits when that reads back close enough, so printing a parsed tree
 * again changes integers beyond 2^53 (9007199254740993 came out as 9.00719925474099e+15) and turns
 * 1e400 into null. A number that a double cannot stand for keeps the text it was written with, in its
 * item's valuestring (which cJSON leaves unused for numbers, frees and duplicates), and tjson_print
 * writes that text back. No engine rules.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "jsonw.h"
#include "tasker.h"
#include "util.h"

/* Whether a double cannot stand for the number as written: an integer of more than 15 digits (a
 * double holds every integer only up to 2^53) or a number beyond a double's range. Fractions and
 * exponents are doubles in every language a handler is written in, so they print as doubles. */
static int needs_text(const char *s, size_t n, double d)
{
	if (!isfinite(d))
		return 1;
	if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
		return 0;
	return n - (s[0] == '-') > 15;
}

static int set_text(cJSON *number, const char *s, size_t n)
{
	free(number->valuestring);
	number->valuestring = strndup(s, n);
	return number->valuestring ? TASKER_OK : tasker_set_oom();
}

/* The next number token of JSON text at or after *p (strings skipped); advances *p past it. NULL when
 * there is none. cJSON reads each token whole, so the tokens and the tree's numbers pair in order. */
static const char *next_number(const char **p, size_t *n)
{
	for (const char *s = *p; *s; s++) {
		if (*s == '"') {
			for (s++; *s && *s != '"'; s++)
				if (*s == '\\' && s[1])
					s++;
			if (!*s)
				break;
		} else if (*s == '-' || (*s >= '0' && *s <= '9')) {
			*n = strspn(s, "0123456789+-.eE");
			*p = s + *n;
			return s;
		}
	}
	return NULL;
}

/* Gives the numbers of `item` and its siblings, in document order, the text of the next tokens. */
static int keep_texts(cJSON *item, const char **p)
{
	for (; item; item = item->next) {
		if (cJSON_IsNumber(item)) {
			size_t n = 0;
			const char *tok = next_number(p, &n);
			if (!tok)
				return tasker_set_error(TASKER_ERROR, "a number of a JSON tree is missing from its text");
			if (needs_text(tok, n, item->valuedouble) && set_text(item, tok, n))
				return TASKER_ENOMEM;
		} else if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
			int rc = keep_texts(item->child, p);
			if (rc)
				return rc;
		}
	}
	return TASKER_OK;
}

int tjson_keep_numbers(cJSON *doc, const char *text)
{
	const char *p = text;
	return keep_texts(doc, &p);
}

int tjson_set_number_text(cJSON *number, const char *text)
{
	const char *digits = text + (text[0] == '+'); /* YAML may write +7 */
	size_t n = strlen(digits), sign = digits[0] == '-';
	/* only plain decimal integers: a leading zero is YAML's business (octal in YAML 1.1) */
	if (!cJSON_IsNumber(number) || n == sign || strspn(digits + sign, "0123456789") != n - sign ||
	    (digits[sign] == '0' && n - sign > 1) || !needs_text(digits, n, number->valuedouble))
		return TASKER_OK;
	return set_text(number, digits, n);
}

/* A number without its text: as cJSON prints it. */
static void print_double(tjw *w, const cJSON *v)
{
	char b[32];
	double d = v->valuedouble;
	if (isnan(d) || isinf(d)) {
		snprintf(b, sizeof b, "null");
	} else if (d == (double)v->valueint) {
		snprintf(b, sizeof b, "%d", v->valueint);
	} else {
		snprintf(b, sizeof b, "%1.15g", d);
		if (strtod(b, NULL) != d)
			snprintf(b, sizeof b, "%1.17g", d);
	}
	tjw_puts(w, b);
}

static void print_item(tjw *w, const cJSON *v)
{
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		int obj = cJSON_IsObject(v);
		tjw_raw(w, obj ? "{" : "[", 1);
		for (const cJSON *c = v->child; c; c = c->next) {
			if (c != v->child)
				tjw_raw(w, ",", 1);
			if (obj) {
				tjw_str(w, c->string);
				tjw_raw(w, ":", 1);
			}
			print_item(w, c);
		}
		tjw_raw(w, obj ? "}" : "]", 1);
	} else if (cJSON_IsString(v)) {
		tjw_str(w, v->valuestring ? v->valuestring : "");
	} else if (cJSON_IsNumber(v) && !v->valuestring) {
		print_double(w, v);
	} else if (cJSON_IsNumber(v) || cJSON_IsRaw(v)) {
		tjw_puts(w, v->valuestring ? v->valuestring : "null");
	} else {
		tjw_puts(w, cJSON_IsTrue(v) ? "true" : cJSON_IsFalse(v) ? "false" : "null");
	}
}

char *tjson_print(const cJSON *item)
{
	tjw w;
	tjw_init(&w, NULL, 0);
	print_item(&w, item);
	char *s = tjw_take(&w);
	if (!s)
		tasker_set_oom();
	return s;
}

/* ------------------------------------------------------------------ what jsonb can store
 * PostgreSQL's jsonb refuses two things JSON allows: the escape \u0000 in a string (or a key), and a
 * number outside `numeric` (its leading digit at 10^131072 or beyond; more than 16383 digits after the
 * point once the exponent is applied; an exponent past ±2^30). The text goes to the database as written,
 * so the check reads the text's tokens, paired in document order with the tree's items for the path. */

#define PG_NUMERIC_MAX_WEIGHT 131071 /* decimal weight of the leading digit: 32767 base-10000 digits */
#define PG_NUMERIC_MAX_SCALE 16383
#define PG_NUMERIC_MAX_EXPONENT 1073741822 /* INT_MAX / 2 - 1 */

typedef struct path_seg {
	const struct path_seg *up;
	const char *key; /* NULL: an array element */
	size_t index;
} path_seg;

typedef struct {
	const char *p;   /* the next unread character of the text */
	const char *what;
} storable_scan;

/* The path as the JSON Schema messages write it: "$", ".name", "[2]", and ["odd key"] JSON-quoted. */
static void path_text(tjw *w, const path_seg *at)
{
	if (!at) {
		tjw_puts(w, "$");
		return;
	}
	path_text(w, at->up);
	if (!at->key) {
		char index[24];
		snprintf(index, sizeof index, "[%zu]", at->index);
		tjw_puts(w, index);
		return;
	}
	int ident = at->key[0] && !tascii_digit(at->key[0]);
	for (const char *k = at->key; *k && ident; k++)
		ident = tascii_alnum(*k) || *k == '_';
	tjw_puts(w, ident ? "." : "[");
	if (ident)
		tjw_puts(w, at->key);
	else
		tjw_str(w, at->key);
	if (!ident)
		tjw_puts(w, "]");
}

static int refuse(const storable_scan *s, const path_seg *at, const char *problem, const char *tok, size_t n)
{
	char stack[256];
	tjw w;
	tjw_init(&w, stack, sizeof stack);
	path_text(&w, at);
	const char *path = tjw_text(&w);
	int rc = tasker_set_error(TASKER_EJSON, "%s: %s: %s%.*s%s", s->what, path ? path : "$", problem,
	                          (int)(n > 40 ? 40 : n), tok, n > 40 ? "..." : "");
	tjw_free(&w);
	return rc;
}

/* The next string or number token (literals and punctuation skipped): 's' or 'n', its start and length. */
static int next_token(storable_scan *s, const char **tok, size_t *n)
{
	for (const char *c = s->p; *c; c++) {
		if (*c == '"') {
			const char *e = c + 1;
			for (; *e && *e != '"'; e++)
				if (*e == '\\' && e[1])
					e++;
			*tok = c;
			*n = (size_t)(e - c) + (*e == '"');
			s->p = c + *n;
			return 's';
		}
		if (*c == '-' || tascii_digit(*c)) {
			*tok = c;
			*n = strspn(c, "0123456789+-.eE");
			s->p = c + *n;
			return 'n';
		}
	}
	return 0;
}

static int string_has_nul(const char *tok, size_t n)
{
	for (size_t i = 1; i + 5 < n; i++) {
		if (tok[i] != '\\')
			continue;
		if (tok[i + 1] == 'u' && strncmp(tok + i + 2, "0000", 4) == 0)
			return 1;
		i++; /* the escaped character is not the start of another escape */
	}
	return 0;
}

/* Whether numeric can hold the JSON number token (a valid JSON number: -?int(.frac)?([eE][+-]?exp)?). */
static int numeric_fits(const char *tok, size_t n)
{
	const char *c = tok + (*tok == '-'), *end = tok + n;
	long lead = -1;      /* decimal weight of the first non-zero digit, before the exponent */
	long frac = 0, pos = 0;
	int in_frac = 0;
	size_t int_digits = strspn(c, "0123456789");
	for (; c < end && (tascii_digit(*c) || *c == '.'); c++) {
		if (*c == '.') {
			in_frac = 1;
			continue;
		}
		if (in_frac)
			frac++;
		if (*c != '0' && lead == -1)
			lead = in_frac ? -frac : (long)int_digits - 1 - pos;
		if (!in_frac)
			pos++;
	}
	long exp = 0;
	if (c < end && (*c == 'e' || *c == 'E')) {
		c++;
		int neg = *c == '-';
		c += *c == '-' || *c == '+';
		for (; c < end && tascii_digit(*c); c++)
			if ((exp = exp * 10 + (*c - '0')) > PG_NUMERIC_MAX_EXPONENT)
				return 0;
		exp = neg ? -exp : exp;
	}
	if (frac - exp > PG_NUMERIC_MAX_SCALE)
		return 0;
	return lead == -1 || lead + exp <= PG_NUMERIC_MAX_WEIGHT;
}

static int check_items(storable_scan *s, const cJSON *item, const path_seg *up, int in_object);

/* One value at path `at` (its key, if any, already read). */
static int check_value(storable_scan *s, const cJSON *item, const path_seg *at)
{
	if (cJSON_IsArray(item) || cJSON_IsObject(item))
		return check_items(s, item->child, at, cJSON_IsObject(item));
	if (!cJSON_IsString(item) && !cJSON_IsNumber(item))
		return TASKER_OK;
	const char *tok;
	size_t n;
	int kind = next_token(s, &tok, &n);
	if (kind != (cJSON_IsString(item) ? 's' : 'n'))
		return tasker_set_error(TASKER_ERROR, "a value of a JSON tree is missing from its text");
	if (kind == 's' && string_has_nul(tok, n))
		return refuse(s, at, "the string holds \\u0000, which PostgreSQL cannot store: ", tok, n);
	if (kind == 'n' && !numeric_fits(tok, n))
		return refuse(s, at, "the number is beyond what PostgreSQL's numeric can store: ", tok, n);
	return TASKER_OK;
}

/* The members of an object or the elements of an array, under `up`. */
static int check_items(storable_scan *s, const cJSON *item, const path_seg *up, int in_object)
{
	size_t index = 0;
	for (; item; item = item->next, index++) {
		path_seg at = {up, in_object ? item->string : NULL, index};
		if (in_object) {
			const char *tok;
			size_t n;
			if (next_token(s, &tok, &n) != 's')
				return tasker_set_error(TASKER_ERROR, "a key of a JSON tree is missing from its text");
			if (string_has_nul(tok, n))
				return refuse(s, up, "a key holds \\u0000, which PostgreSQL cannot store: ", tok, n);
		}
		int rc = check_value(s, item, &at);
		if (rc)
			return rc;
	}
	return TASKER_OK;
}

int tjson_check_storable(const cJSON *doc, const char *text, const char *what)
{
	storable_scan s = {text, what};
	return check_value(&s, doc, NULL);
}
