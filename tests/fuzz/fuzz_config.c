/*
 * fuzz_config.c — the configuration reader on arbitrary YAML: a configuration or an error naming the key,
 * never a crash; and a configuration it accepts, written back as YAML (tasker_config_to_yaml), reads back
 * to the same YAML.
 */
#include "fuzz.h"
#include "tasker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size, NULL);
	tasker_config c;
	tasker_config_init(&c);
	if (tasker_config_load_string(&c, text, "fuzz") == TASKER_OK && tasker_config_validate(&c) == TASKER_OK) {
		char *yaml = tasker_config_to_yaml(&c);
		FUZZ_CHECK(yaml != NULL, "out of memory");
		tasker_config again;
		tasker_config_init(&again);
		int rc = tasker_config_load_string(&again, yaml, "written back");
		FUZZ_CHECK(rc == TASKER_OK, "the configuration's own YAML is refused (%s):\n%s",
		           tasker_error_last()->message, yaml);
		char *twice = tasker_config_to_yaml(&again);
		FUZZ_CHECK(twice && strcmp(yaml, twice) == 0, "YAML changed:\n%s\n%s", yaml, twice);
		tasker_free(twice);
		tasker_free(yaml);
		tasker_config_clear(&again);
	}
	tasker_config_clear(&c);
	free(text);
	return 0;
}
