/*
 * fuzz_template.c — the template reader on arbitrary text: YAML (built as fuzz_template_yaml) or JSON
 * (fuzz_template_json, FUZZ_TEMPLATE_JSON defined). Whatever it is given it returns a template or an
 * error, never crashes; and a template it accepts survives its canonical JSON: reading that JSON back
 * gives the same canonical JSON (what registration stores and other processes read).
 */
#include "fuzz.h"
#include "template.h"

#ifdef FUZZ_TEMPLATE_JSON
#define IS_JSON 1
#else
#define IS_JSON 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size, NULL);
	ttpl_options opts = {"production", 0};
	ttpl_template *t = NULL;
	if (ttpl_load_string(&t, text, size, "fuzz", IS_JSON, &opts) == 0) {
		char *canonical = ttpl_to_json(t);
		FUZZ_CHECK(canonical != NULL, "out of memory");
		ttpl_template *again = NULL;
		int rc = ttpl_load_string(&again, canonical, strlen(canonical), "canonical", 1, &opts);
		FUZZ_CHECK(rc == 0, "the canonical JSON of an accepted template is refused: %s", canonical);
		char *twice = ttpl_to_json(again);
		FUZZ_CHECK(twice && strcmp(canonical, twice) == 0, "canonical JSON changed:\n%s\n%s", canonical, twice);
		free(twice);
		free(canonical);
		ttpl_free(again);
		ttpl_free(t);
	}
	free(text);
	return 0;
}
