/*
 * util.h — small shared helpers: a growable string, UTC timestamps as microseconds, random ids,
 * JSON checks and PostgreSQL array literals. No database access, no engine rules.
 */
#ifndef TASKER_CORE_UTIL_H
#define TASKER_CORE_UTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* The growable text buffer of the whole core. It starts empty (tbuf_init) or in a caller's array
 * (tbuf_init_stack: hot paths that usually fit write no malloc at all) and moves to the heap when the
 * text outgrows it. data is NUL-terminated once anything was written. */
typedef struct tbuf {
	char *data;
	size_t len, cap;
	int oom;           /* set once an allocation failed; further appends are ignored */
	int borrowed;      /* data is the caller's array, not malloc'd */
} tbuf;

void tbuf_init(tbuf *b);
/* Starts in `stack` (cap bytes; NULL/0 is tbuf_init). */
void tbuf_init_stack(tbuf *b, char *stack, size_t cap);
/* Room for `extra` more bytes and the NUL: 1, or 0 when out of memory (b->oom is then set). */
int tbuf_reserve(tbuf *b, size_t extra);
void tbuf_free(tbuf *b);
void tbuf_append(tbuf *b, const char *s, size_t n);
void tbuf_puts(tbuf *b, const char *s);
void tbuf_printf(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `s` as one element of a PostgreSQL array literal ("..." quoted, or NULL). */
void tbuf_array_elem(tbuf *b, const char *s);
/* Returns the string (malloc'd, caller frees; copied out of a caller's array) and resets the buffer;
 * NULL (with TASKER_ENOMEM set) on OOM. */
char *tbuf_take(tbuf *b);

/* The whole file at `path` in *out (malloc'd, NUL-terminated; *out_len bytes before the NUL). `what` names
 * the file in errors: "PATH: cannot open WHAT: reason" (TASKER_ENOTFOUND when it does not exist, else
 * TASKER_ERROR), "PATH: cannot read WHAT: reason" (TASKER_ERROR), and, when max_bytes is not 0 and the file
 * is longer, "PATH: WHAT is over N bytes" with the code `too_big`. Nothing is returned on failure. */
int tfile_read(char **out, size_t *out_len, const char *path, const char *what, size_t max_bytes, int too_big);

/* PostgreSQL `timestamp` text ("2026-11-23 08:56:16.123456") ↔ microseconds since the epoch (UTC). */
int64_t ttime_parse(const char *text);         /* TASKER_NULL_TIME if NULL or unparsable */
void ttime_format(char out[32], int64_t us);   /* "YYYY-MM-DD HH:MM:SS.ffffff" */
int64_t ttime_now(void);                       /* wall clock, µs since the epoch */
struct timespec;
/* The CLOCK_REALTIME instant `ms` milliseconds from now, for pthread_cond_timedwait. */
void ttime_after_ms(struct timespec *out, long ms);

/* 63 random bits from OpenSSL (claim ids, worker ids). */
int64_t trand_i63(void);
/* Random RFC 4122 version-4 UUID text (37 bytes with NUL). 0 on success. */
int trand_uuid(char out[37]);

/* Parses JSON text strictly (whole input, nothing trailing). NULL + TASKER_EJSON naming `what`, also for
 * JSON that PostgreSQL's jsonb cannot store (tjson_check_storable), so it is refused before the database. */
cJSON *tjson_parse(const char *text, const char *what);
/* PostgreSQL array text of ids, "{1,2,3}" (malloc'd), for a bigint[] parameter; NULL + TASKER_ENOMEM. */
char *tid_array(const int64_t *ids, size_t n);
/* PostgreSQL array text of strings, {"a","b"} (malloc'd), for a text[] parameter; NULL + TASKER_ENOMEM. */
char *ttext_array(const char *const *items, size_t n);
/* 1 if `text` is one complete JSON value (nothing trailing); sets no error. */
int tjson_valid(const char *text);
/* Compact JSON text of `item` (malloc'd), as cJSON prints it but numbers with their kept text (below);
 * NULL + TASKER_ENOMEM on failure. */
char *tjson_print(const cJSON *item);
/* Valid JSON text without the whitespace outside strings (malloc'd; NULL on OOM): numbers, strings and
 * member order exactly as written, unlike a cJSON round trip, whose numbers are doubles. */
char *tjson_compact(const char *text);
/* Exact numbers (json.c): cJSON keeps a number as a double, which cannot hold every integer. A number a
 * double cannot stand for (an integer of more than 15 digits, or one beyond a double's range) keeps the
 * text it was written with in its item's valuestring, and tjson_print writes that text, so integers of
 * any size come out as they went in. tjson_parse does this; so do the YAML and JSON template readers. */
/* Gives the numbers of `doc`, just parsed by cJSON from `text`, their text. TASKER_ENOMEM. */
int tjson_keep_numbers(cJSON *doc, const char *text);
/* TASKER_EJSON naming `what` and the path ("$.items[2].name") when `doc`, parsed from `text`, holds what
 * jsonb refuses: \u0000 in a string or key, or a number beyond numeric (1e999999, 1e-99999). */
int tjson_check_storable(const cJSON *doc, const char *text, const char *what);
/* Gives `number` the text `text` (a YAML scalar) when that is a decimal integer a double cannot hold. */
int tjson_set_number_text(cJSON *number, const char *text);
/* strdup that sets TASKER_ENOMEM on failure. NULL input gives NULL. */
char *tstrdup(const char *s);
/* Grows `array` (elements of `elem` bytes, capacity *cap) to hold at least `need` elements, doubling;
 * returns the array, possibly moved, or NULL when out of memory (the old array is untouched, *cap too;
 * no error is set). */
void *tarray_grow(void *array, size_t *cap, size_t need, size_t elem);

/* ASCII character classes that do not depend on the host's locale, as <ctype.h>'s do. */
static inline int tascii_digit(int c) { return c >= '0' && c <= '9'; }
static inline int tascii_alpha(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static inline int tascii_alnum(int c) { return tascii_digit(c) || tascii_alpha(c); }
/* The value of a hexadecimal digit, or -1. */
static inline int tascii_hex(int c)
{
	return tascii_digit(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

#endif
