/*
 * jsonschema.h — compiles JSON Schemas (draft 7, all of it) and validates cJSON values against them.
 *
 * Every draft-7 keyword applies: type, enum, const, the numeric bounds and multipleOf, string lengths,
 * pattern and format, items / additionalItems / contains / uniqueItems and the array sizes, properties /
 * patternProperties / additionalProperties / propertyNames / dependencies / required and the object
 * sizes, allOf / anyOf / oneOf / not / if-then-else, boolean schemas, and $ref to anywhere in the schema
 * (JSON pointers, $id base URIs and "#name" identifiers; the draft-07 meta-schema is built in; other
 * remote documents are never fetched: such a $ref is refused at compile time). Annotations (title,
 * description, default, examples, readOnly, writeOnly, $comment, contentMediaType, contentEncoding) are
 * accepted. As draft 7 says, unknown keywords and formats are accepted and ignored; each is listed by
 * tjs_ignored so the caller can warn. The draft-4 boolean form of exclusiveMinimum/exclusiveMaximum is
 * accepted too (it makes minimum/maximum exclusive). Formats checked: see jsonformat.h.
 *
 * Validation time is linear in the instance for a given schema: regular expressions run as automata
 * (regex.h), a schema reached through $ref is evaluated at most once per value (memoized), $ref cycles
 * that never go into the value are refused at compile time, and uniqueItems hashes. Error messages name
 * the JSON path of the failing value and what failed, never the value itself.
 *
 * A compiled schema is immutable: several threads may validate with it at once.
 */
#ifndef TASKER_CORE_JSONSCHEMA_H
#define TASKER_CORE_JSONSCHEMA_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "tasker.h"

typedef struct tjs_schema tjs_schema;

/* Compiles `schema` (borrowed for the call; the compiled form keeps what it needs). A keyword with a
 * value of the wrong type (e.g. "minLength": "x"), an invalid regex, a $ref that resolves to nothing,
 * or a $ref cycle that never goes into the value is TASKER_EINVAL with a message naming the keyword
 * and the schema location as a JSON pointer, e.g.
 * `invalid value of JSON Schema keyword "minLength" at #/properties/name: expected a non-negative
 * integer, got string`. TASKER_ENOMEM if out of memory. On success *out is freed with tjs_free; on
 * failure *out is NULL. */
int tjs_compile(tjs_schema **out, const cJSON *schema);
/* Frees a compiled schema. NULL is fine. */
void tjs_free(tjs_schema *schema);
/* Validates `instance`. On failure returns TASKER_ECONTEXT; the message names the JSON path of the failing
 * value in the instance ($ for the root, $.customer.email, $.items[2]) and what failed, e.g.
 * `$.cart_id: expected integer, got string`. Only the first failure is reported. TASKER_EINVAL for a
 * NULL argument, TASKER_ENOMEM if out of memory. */
int tjs_validate(const tjs_schema *schema, const cJSON *instance);
/* What the schema says that validation ignores (unknown keywords, formats that are not checked), one
 * line each, e.g. `unknown keyword "x-order" at #/properties/id is ignored` or `format "idn-email" at
 * #/properties/to is not checked`. The strings belong to the schema. */
size_t tjs_ignored_count(const tjs_schema *schema);
const char *tjs_ignored(const tjs_schema *schema, size_t index);
/* Comma-separated list of the keywords that are applied or accepted, for documentation. Static. */
const char *tjs_supported_keywords(void);

#endif
