/*
 * jsonschema.h — compiles and applies JSON Schemas (draft 7 subset) to cJSON values.
 *
 * Supported validation keywords: type, required, properties, patternProperties, additionalProperties,
 * items (schema and array form), enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum
 * (draft-07 numeric forms), minLength, maxLength (Unicode code points), pattern, minItems, maxItems,
 * format ("email" and "date-time" only). Annotations accepted and ignored: title, description, default,
 * examples, $schema, $id, $comment. Boolean schemas true/false are schemas. Anything else is refused at
 * compile time, so a schema never means less than it says.
 *
 * Patterns follow ECMA-262 (unanchored search over Unicode code points): literals, ., classes with
 * ranges, \d \w \s and their negations, \b \B, ^ $, groups (capturing, (?:...), (?<name>...)),
 * alternation, greedy and lazy quantifiers, and the character escapes. The matcher is an automaton,
 * not a backtracker: time is linear in the subject for a given pattern, so an instance cannot make
 * validation hang. Backreferences, lookahead, lookbehind, \p{...} and octal escapes are refused at
 * compile time.
 *
 * A compiled schema is immutable: several threads may validate with it at once.
 */
#ifndef TASKER_CORE_JSONSCHEMA_H
#define TASKER_CORE_JSONSCHEMA_H

#include <cjson/cJSON.h>

#include "tasker.h"

typedef struct tjs_schema tjs_schema;

/* Compiles `schema` (borrowed for the call; the compiled form keeps what it needs). An unsupported
 * validation keyword, or a keyword with a value of the wrong type (e.g. "minLength": "x"), or an invalid
 * regex, is TASKER_EINVAL with a message naming the keyword and the schema location as a JSON pointer,
 * e.g. `unsupported JSON Schema keyword "oneOf" at #/properties/items`. TASKER_ENOMEM if out of memory.
 * On success *out is freed with tjs_free; on failure *out is NULL. */
int tjs_compile(tjs_schema **out, const cJSON *schema);
/* Frees a compiled schema. NULL is fine. */
void tjs_free(tjs_schema *schema);
/* Validates `instance`. On failure returns TASKER_ECONTEXT; the message names the JSON path of the failing
 * value in the instance ($ for the root, $.customer.email, $.items[2]) and what failed, e.g.
 * `$.cart_id: expected integer, got string`. Only the first failure is reported. TASKER_EINVAL for a
 * NULL argument, TASKER_ENOMEM if out of memory. */
int tjs_validate(const tjs_schema *schema, const cJSON *instance);
/* Comma-separated list of supported keywords, for documentation. Static storage. */
const char *tjs_supported_keywords(void);

#endif
