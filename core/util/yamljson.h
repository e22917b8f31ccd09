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
 * Parses exactly one YAML document (libyaml) into a cJSON tree, reading it as a Rails application's
 * files are read: as Ruby's YAML (Psych, YAML 1.1) reads them. Plain scalars: ~, null (any case) and
 * empty → null; yes/true/on and no/false/off (any case) → booleans; integers in decimal, 0x hex, 0b
 * binary and 0-prefixed octal, "_" and "," ignored between digits, and base 60 (Psych's 1:30:15);
 * floats with a "." and an optional signed exponent; .inf and .nan are refused (JSON cannot hold them);
 * anything else — dates, times, :symbols, 1e3 — and every quoted scalar is a string, as written. Tags
 * !!str, !!int, !!float, !!bool, !!null, !!map, !!seq and ! are honoured; other tags are refused.
 * Anchors and aliases are expanded (copies); `<<` merge keys merge a mapping or a sequence of mappings,
 * explicit keys winning. Mapping keys must be scalars. A key written twice in one mapping: the later
 * value wins and keeps the earlier one's place, as in Ruby; the caller learns of it through
 * tyj_duplicate. An empty stream gives a JSON null.
 *
 * *out is freed with cJSON_Delete. If out_positions is non-NULL it receives the side table (freed with
 * tyj_positions_free). `source_name` prefixes every error message (NULL → "<string>").
 * Errors: TASKER_EINVAL with "<source>: YAML syntax error at line L, column C: <problem>" (also used for
 * unsupported tags, unknown anchors, numbers JSON cannot hold, nesting or size limits); TASKER_ENOMEM.
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
/* Keys written twice in one mapping, in document order: the key, where the value that won was written
 * (*kept) and where the one it replaced was (*replaced). NULL past the last. */
size_t tyj_duplicate_count(const tyj_positions *positions);
const char *tyj_duplicate(const tyj_positions *positions, size_t index, tyj_pos *kept, tyj_pos *replaced);

#endif
