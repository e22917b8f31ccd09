/*
 * fuzz_jsonschema.c — JSON Schema compile and validate: the input is a schema, a NUL byte, and an
 * instance. Compiling returns a schema or an error; validating returns valid or an error naming a path;
 * neither crashes, loops or recurses without bound, whatever the schema ($ref cycles, huge numbers,
 * patterns) or the instance.
 */
#include "fuzz.h"
#include "jsonschema.h"
#include "tasker.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *instance_text;
	char *text = fuzz_text(data, size, &instance_text);
	cJSON *schema = tjson_parse(text, "schema");
	cJSON *instance = tjson_parse(instance_text, "instance");
	tjs_schema *compiled = NULL;
	if (schema && tjs_compile(&compiled, schema) == TASKER_OK) {
		for (size_t i = 0; i < tjs_ignored_count(compiled); i++)
			FUZZ_CHECK(tjs_ignored(compiled, i) != NULL, "ignored entry %zu is NULL", i);
		if (instance) {
			int rc = tjs_validate(compiled, instance);
			FUZZ_CHECK(rc == TASKER_OK || rc == TASKER_ECONTEXT || rc == TASKER_ENOMEM, "validate returned %d", rc);
			if (rc == TASKER_ECONTEXT)
				FUZZ_CHECK(tasker_error_last()->message[0] == '$', "message names no path: %s",
				           tasker_error_last()->message);
			FUZZ_CHECK(tjs_validate(compiled, instance) == rc, "a second validation disagrees");
		}
	}
	tjs_free(compiled);
	cJSON_Delete(schema);
	cJSON_Delete(instance);
	free(text);
	return 0;
}
