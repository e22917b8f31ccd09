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
