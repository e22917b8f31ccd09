/*
 * jsonw.h — a small, allocation-free-when-possible JSON writer and a non-allocating validator for the
 * observability paths (event payloads, log lines, metrics), which must stay cheap: a writer starts in a
 * caller's stack buffer and moves to the heap only when the text outgrows it. Knows no engine rule.
 */
#ifndef TASKER_CORE_JSONW_H
#define TASKER_CORE_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct tjw {
	tbuf b;       /* the text; b.oom: an allocation failed, later writes are ignored */
	int comma;    /* the next member needs a leading comma */
} tjw;

/* Starts writing into `stack` (cap bytes, may be NULL/0). */
void tjw_init(tjw *w, char *stack, size_t cap);
void tjw_free(tjw *w);
void tjw_raw(tjw *w, const char *s, size_t n);
void tjw_puts(tjw *w, const char *s);
/* A JSON string literal of `s` (NULL → null), escaped. */
void tjw_str(tjw *w, const char *s);
void tjw_i64(tjw *w, int64_t v);
/* `"YYYY-MM-DDTHH:MM:SS.ffffffZ"` (UTC) of µs since the epoch. */
void tjw_time(tjw *w, int64_t us);
/* `{` and `}`; tjw_key writes `,"key":` (no comma after `{`). */
void tjw_open(tjw *w);
void tjw_close(tjw *w);
void tjw_key(tjw *w, const char *key);
/* Shorthands: key + value. */
void tjw_kstr(tjw *w, const char *key, const char *value);
void tjw_ki64(tjw *w, const char *key, int64_t value);
/* Appends the members of a JSON object text (its inside, without braces) as members of the object
 * being written. `obj` must be valid JSON object text; nothing is appended for `{}`. */
void tjw_members(tjw *w, const char *obj);
/* NUL-terminated text (valid until the next write or tjw_free). NULL after an allocation failure. */
const char *tjw_text(tjw *w);
/* A malloc'd copy of the text (the heap buffer itself when there is one); the writer is reset. NULL on OOM. */
char *tjw_take(tjw *w);

/* What tjson_scan_object learned about a JSON object's top level. */
typedef struct tjson_scan {
	int64_t task_id, step_id;   /* numeric "task_id" and "step_id" / "workflow_step_id" members, else 0 */
	int has_timestamp;          /* a "timestamp" member is present */
	size_t close;               /* offset of the object's closing brace */
	int empty;                  /* the object has no member */
} tjson_scan;

/* Calls fn for each top-level member of a JSON object text (key with its quotes, value as written),
 * without allocating; stops early when fn returns non-zero. Returns 0 when `obj` is not a valid object. */
int tjson_each_member(const char *obj,
                      int (*fn)(const char *key, size_t key_len, const char *value, size_t value_len, void *arg),
                      void *arg);

/* Validates that `text` is exactly one JSON object (surrounding whitespace allowed), without allocating.
 * Returns 1 if valid (filling *out), 0 otherwise. */
int tjson_scan_object(const char *text, tjson_scan *out);

#endif
