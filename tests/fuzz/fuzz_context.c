/*
 * fuzz_context.c — a task context as the engine reads it before any database work: parsed strictly
 * (what jsonb cannot store refused, with a path), its numbers kept exactly, compacted for the identity
 * hash, and hashed with SHA-256 as an idempotent request is. Properties: the compact form is valid JSON
 * and compacting it again changes nothing; an accepted context prints to JSON that parses back to the
 * same print.
 */
#include <openssl/evp.h>

#include "fuzz.h"
#include "tasker.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size, NULL);
	cJSON *doc = tjson_parse(text, "task request: context");
	if (doc) {
		char *compact = tjson_compact(text);
		FUZZ_CHECK(compact != NULL, "out of memory");
		FUZZ_CHECK(tjson_valid(compact), "compact form is not JSON: %s", compact);
		char *again = tjson_compact(compact);
		FUZZ_CHECK(again && strcmp(again, compact) == 0, "compacting twice differs:\n%s\n%s", compact, again);
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		FUZZ_CHECK(EVP_Digest(compact, strlen(compact), md, &mdlen, EVP_sha256(), NULL) && mdlen == 32,
		           "SHA-256 failed");
		char *printed = tjson_print(doc);
		FUZZ_CHECK(printed != NULL, "out of memory");
		cJSON *back = tjson_parse(printed, "printed");
		FUZZ_CHECK(back != NULL, "the print of an accepted context is refused (%s): %s",
		           tasker_error_last()->message, printed);
		char *reprinted = tjson_print(back);
		FUZZ_CHECK(reprinted && strcmp(printed, reprinted) == 0, "print changed:\n%s\n%s", printed, reprinted);
		free(reprinted);
		cJSON_Delete(back);
		free(printed);
		free(again);
		free(compact);
		cJSON_Delete(doc);
	} else {
		FUZZ_CHECK(tasker_error_last()->code == TASKER_EJSON || tasker_error_last()->code == TASKER_ENOMEM,
		           "refused with %s", tasker_error_name(tasker_error_last()->code));
	}
	free(text);
	return 0;
}
