/*
 * fuzz_result.c — a step's result JSON and a failure's context JSON, as the completion path reads them:
 * the input is a result, a NUL byte, and a failure context. Each is parsed strictly (refused with a path
 * when jsonb cannot store it); an accepted one, printed alone and inside the error-details object a
 * failure records, is JSON that parses back and prints the same.
 */
#include "fuzz.h"
#include "tasker.h"
#include "util.h"

static void round_trip(const cJSON *doc)
{
	char *printed = tjson_print(doc);
	FUZZ_CHECK(printed != NULL, "out of memory");
	cJSON *back = tjson_parse(printed, "printed");
	FUZZ_CHECK(back != NULL, "a printed result is refused (%s): %s", tasker_error_last()->message, printed);
	char *again = tjson_print(back);
	FUZZ_CHECK(again && strcmp(printed, again) == 0, "print changed:\n%s\n%s", printed, again);
	free(again);
	cJSON_Delete(back);
	free(printed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *context_text;
	char *text = fuzz_text(data, size, &context_text);
	cJSON *result = tjson_parse(text, "step result");
	if (result) {
		round_trip(result);
		cJSON_Delete(result);
	}
	cJSON *context = tjson_parse(context_text, "step failure context");
	if (context) {
		cJSON *details = cJSON_CreateObject();
		cJSON_AddStringToObject(details, "error_message", "step failed");
		cJSON_AddItemToObject(details, "error_context", context);
		cJSON *err = cJSON_CreateObject();
		cJSON_AddBoolToObject(err, "error", 1);
		cJSON_AddItemToObject(err, "error_details", details);
		round_trip(err);
		cJSON_Delete(err);
	}
	free(text);
	return 0;
}
