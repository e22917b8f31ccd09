/* Unit tests of how the core keeps JSON numbers (json.c, yamljson.c): integers beyond a double's 53
 * bits (and numbers beyond a double's range) keep the text they were written with through parsing and
 * printing, so they come out exactly as they went in; other numbers print as cJSON prints doubles, and
 * trees the engine builds print exactly as cJSON prints them. No database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tasker.h"
#include "util.h"
#include "yamljson.h"

static void assert_prints(const cJSON *doc, const char *want)
{
	char *got = tjson_print(doc);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void assert_round_trip(const char *text)
{
	cJSON *doc = tjson_parse(text, "test");
	if (!doc)
		fail_msg("%s: %s", text, tasker_error_last()->message);
	assert_prints(doc, text);
	cJSON_Delete(doc);
}

/* The limits of PostgreSQL 15's jsonb, as its numeric_in and jsonb_in apply them: each case was checked
 * against the server (SELECT '<text>'::jsonb). */
static void what_jsonb_cannot_store_is_refused(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int storable;
		const char *says;
	} cases[] = {
		{"1e131071", 1, NULL}, {"12345.5e131067", 1, NULL}, {"0.00001e131076", 1, NULL}, {"1e-16383", 1, NULL},
		{"0e999999", 1, NULL}, {"1E+5", 1, NULL}, {"[\"a\\\\u0000\"]", 1, NULL}, {"{\"\\\\u0000\": 1}", 1, NULL},
		{"\"\\u0001\"", 1, NULL},
		{"1e131072", 0, "test: $: the number is beyond what PostgreSQL's numeric can store: 1e131072"},
		{"-1e131072", 0, "test: $: the number"},
		{"1e-16384", 0, "test: $: the number"},
		{"1234567e-16389", 0, "test: $: the number"},
		{"0.0e-999999", 0, "test: $: the number"},
		{"1e2147483647", 0, "test: $: the number"},
		{"{\"a\": [0, {\"b c\": 1e999999}]}", 0, "test: $.a[1][\"b c\"]: the number"},
		{"\"\\u0000\"", 0, "test: $: the string holds \\u0000"},
		{"{\"say \\\"hi\\\"\": [\"\\u0000\"]}", 0, "test: $[\"say \\\"hi\\\"\"][0]: the string holds"},
		{"{\"a\": {\"x\\u0000\": true}}", 0, "test: $.a: a key holds \\u0000"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		cJSON *doc = tjson_parse(cases[i].text, "test");
		if (cases[i].storable && !doc)
			fail_msg("%s refused: %s", cases[i].text, tasker_error_last()->message);
		if (!cases[i].storable) {
			if (doc)
				fail_msg("%s accepted", cases[i].text);
			assert_int_equal(tasker_error_last()->code, TASKER_EJSON);
			if (strncmp(tasker_error_last()->message, cases[i].says, strlen(cases[i].says)) != 0)
				fail_msg("%s: expected \"%s...\", got \"%s\"", cases[i].text, cases[i].says,
				         tasker_error_last()->message);
		}
		cJSON_Delete(doc);
	}
}

static void numbers_keep_their_text(void **state)
{
	(void)state;
	assert_round_trip("{\"a\":9007199254740993,\"b\":-9223372036854775809,\"c\":18446744073709551615}");
	assert_round_trip("[123456789012345678901234567890,-98765432109876543210987654321]");
	assert_round_trip("{\"huge\":1e400,\"negative\":-2e999,\"half\":0.5,\"max_safe\":9007199254740991}");
	/* a fraction or an exponent is a double: printed as cJSON prints it */
	cJSON *doc = tjson_parse("[2.50, 1E+2, -0, 1.5e3, 0.1]", "test");
	assert_prints(doc, "[2.5,100,0,1500,0.1]");
	cJSON_Delete(doc);
	assert_round_trip("9007199254740993");
	/* digits, minus signs and escaped quotes inside strings and keys are not numbers */
	assert_round_trip("{\"k1\\\"2\":\"3-4\",\"n\":[5,{\"1\":-6250}],\"t\":true,\"f\":false,\"z\":null}");
	doc = tjson_parse("{\"\\u0031\\\"\": [\"\\\\\", 2]}", "test");
	assert_non_null(doc);
	assert_prints(doc, "{\"1\\\"\":[\"\\\\\",2]}");
	cJSON_Delete(doc);
}

static void duplicates_keep_the_text(void **state)
{
	(void)state;
	cJSON *doc = tjson_parse("{\"id\":9007199254740993,\"list\":[18446744073709551617]}", "test");
	assert_non_null(doc);
	cJSON *copy = cJSON_Duplicate(doc, 1);
	cJSON_Delete(doc);
	assert_prints(copy, "{\"id\":9007199254740993,\"list\":[18446744073709551617]}");
	/* a parsed number is still a number for code that reads it as one */
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(copy, "id")));
	assert_true(cJSON_GetObjectItem(copy, "id")->valuedouble > 9.0e15);
	cJSON_Delete(copy);
}

static void built_trees_print_as_cjson_does(void **state)
{
	(void)state;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "attempt", 3);
	cJSON_AddNumberToObject(o, "ratio", 0.1);
	cJSON_AddNumberToObject(o, "big", 1e20);
	cJSON_AddNumberToObject(o, "negative", -2.5);
	cJSON_AddStringToObject(o, "text", "quote \" backslash \\ \b\f\n\r\t \x01 slash / caf\xc3\xa9");
	cJSON_AddRawToObject(o, "raw", "{\"as\": \"written\"}");
	cJSON_AddItemToObject(o, "list", cJSON_CreateArray());
	cJSON_AddItemToObject(o, "empty", cJSON_CreateObject());
	cJSON_AddBoolToObject(o, "yes", 1);
	cJSON_AddNullToObject(o, "none");
	char *theirs = cJSON_PrintUnformatted(o);
	assert_prints(o, theirs);
	free(theirs);
	cJSON_Delete(o);
}

static void yaml_and_json_templates_keep_integers(void **state)
{
	(void)state;
	static const char yaml[] = "big: 9007199254740993\n"
	                           "negative: -123456789012345678901234567890\n"
	                           "signed: +7\n"
	                           "price: 2.50\n"
	                           "small: 42\n"
	                           "list: [18446744073709551615, 0.25]\n";
	cJSON *doc = NULL;
	assert_int_equal(tyj_parse_yaml(&doc, NULL, yaml, strlen(yaml), "test.yaml"), TASKER_OK);
	assert_prints(doc, "{\"big\":9007199254740993,\"negative\":-123456789012345678901234567890,\"signed\":7,"
	                   "\"price\":2.5,\"small\":42,\"list\":[18446744073709551615,0.25]}");
	cJSON_Delete(doc);
	static const char json[] = "{\"limit\": 9007199254740993, \"ratio\": 0.25, \"list\": [-9223372036854775809]}";
	assert_int_equal(tyj_parse_json(&doc, json, strlen(json), "test.json"), TASKER_OK);
	assert_prints(doc, "{\"limit\":9007199254740993,\"ratio\":0.25,\"list\":[-9223372036854775809]}");
	cJSON_Delete(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(numbers_keep_their_text),
		cmocka_unit_test(what_jsonb_cannot_store_is_refused),
		cmocka_unit_test(duplicates_keep_the_text),
		cmocka_unit_test(built_trees_print_as_cjson_does),
		cmocka_unit_test(yaml_and_json_templates_keep_integers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
