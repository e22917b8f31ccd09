/*
 * regex.h — the ECMA-262 regular expressions of JSON Schema ("pattern", "patternProperties", the
 * "regex" format): a parser and a matcher that is an automaton, not a backtracker.
 *
 * Patterns are searched (unanchored, like RegExp#test) over Unicode code points: literals, ., classes
 * with ranges, \d \w \s and their negations, \b \B, ^ $, groups (capturing, (?:...), (?<name>...)),
 * lookahead and lookbehind (positive and negative, nested, up to 64 in a pattern), alternation, greedy
 * and lazy quantifiers, and the character escapes. Escapes follow ECMA-262's Unicode mode (\Z or \q are
 * errors, not letters); braces that do not form a quantifier are literals, as browsers and Ruby read
 * them. A search costs O(subject × pattern) whatever the pattern, so no subject can make it slow.
 * Backreferences and \p{...} cannot be run that way: trx_compile refuses them (trx_check_syntax accepts
 * them, as ECMA-262 does).
 */
#ifndef TASKER_CORE_REGEX_H
#define TASKER_CORE_REGEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct trx_regex trx_regex;

/* Compiles `pattern` (UTF-8). TASKER_EINVAL with `err` (errlen bytes) describing the problem and its byte
 * offset, e.g. "missing ')' at offset 1" — no error is set, the caller words it; TASKER_ENOMEM (set). On
 * success *out is freed with trx_free. */
int trx_compile(trx_regex **out, const char *pattern, char *err, size_t errlen);
/* 1 when `pattern` is a syntactically valid ECMA-262 regular expression (lookaround, backreferences
 * and \p{...} included), else 0 with `err` as above. Sets no error. */
int trx_check_syntax(const char *pattern, char *err, size_t errlen);
/* Searches `subject` (UTF-8; a malformed byte counts as U+FFFD) for a match anywhere: *matched 1 or 0.
 * TASKER_ENOMEM (set) if out of memory. Thread-safe: a compiled regex is never modified. */
int trx_search(const trx_regex *re, const char *subject, int *matched);
/* trx_search that also reports, in *steps (may be NULL), how many automaton states the search visited:
 * the work it did, which grows with the subject's length times the pattern's, never faster. */
int trx_search_steps(const trx_regex *re, const char *subject, int *matched, uint64_t *steps);
/* The pattern text it was compiled from. */
const char *trx_source(const trx_regex *re);
/* NULL is fine. */
void trx_free(trx_regex *re);

#endif
