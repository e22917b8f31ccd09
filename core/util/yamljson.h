/*
 * yamljson.h — turns YAML and JSON text into cJSON trees, with syntax errors located by line and column.
 * Knows nothing about templates: it only parses, types plain scalars, and remembers where nodes came from.
 */
#ifndef TASKER_CORE_YAMLJSON_H
#define TASKER_CORE_YAMLJSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* A position in the source text, 1-based; line 0 means unknown. */
typedef struct tyj_pos {
	int line;
	int column;
} tyj_pos;

/* Side table: cJSON node → where it was written. For a mapping member that is the position of its key,
 * otherwise the node's own start. Lookups are valid while the tree's nodes are alive; nodes created later
 * (copies made for aliases and merge keys included) have no position. */
typedef struct tyj_positions tyj_positions;

/*
 * Parses exactly one YAML document (libyaml, YAML 1.1 syntax) into a cJSON tree. Plain scalars are typed
 * as the template format needs: true/false (True/TRUE/False/FALSE) → bool; null, Null, NULL, ~ and
 * empty → null; [-+]?[0-9]+ → integer; decimal floats with optional exponent → number; anything else,
 * and every quoted scalar, → string. Tags !!str, !!int, !!float, !!bool, !!null, !!map, !!seq are
 * honoured; other tags are refused. Anchors and aliases are expanded (copies); `<<` merge keys merge a
 * mapping or a sequence of mappings, explicit keys winning. Mapping keys must be scalars and unique.
 * An empty stream gives a JSON null.
 *
 * *out is freed with cJSON_Delete. If out_positions is non-NULL it receives the side table (freed with
 * tyj_positions_free). `source_name` prefixes every error message (NULL → "<string>").
 * Errors: TASKER_EINVAL with "<source>: YAML syntax error at line L, column C: <problem>" (also used for
 * duplicate keys, unsupported tags, unknown anchors, nesting or size limits); TASKER_ENOMEM.
 */
int tyj_parse_yaml(cJSON **out, tyj_positions **out_positions, const char *text, size_t len,
                   const char *source_name);

/*
 * Parses one JSON value (cJSON) after checking that the text is UTF-8 without NUL bytes; duplicate
 * object keys are refused (cJSON itself would keep both). *out is freed with cJSON_Delete.
 * Errors: TASKER_EJSON with "<source>: JSON syntax error at line L, column C near '…'" or
 * "<source>: duplicate key \"k\" in object at <path>"; TASKER_ENOMEM.
 */
int tyj_parse_json(cJSON **out, const char *text, size_t len, const char *source_name);

/* Where `node` was written; {0, 0} if unknown or `positions` is NULL. */
tyj_pos tyj_position(const tyj_positions *positions, const cJSON *node);
/* NULL is fine. */
void tyj_positions_free(tyj_positions *positions);

#endif
