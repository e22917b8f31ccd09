/*
 * test_jsonschema.c — the JSON Schema validator (core/util/jsonschema.c) against every case of the public
 * JSON-Schema-Test-Suite (draft 7) for the keywords it supports, plus its own error messages, keyword
 * checks, regular expression dialect and formats. The suite directory is $TASKER_JSON_SCHEMA_SUITE,
 * else the Debian package's location.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "testdb.h"

#define DEFAULT_SUITE "/usr/share/json-schema-test-suite/tests/draft7"
/* Debian 12's suite (2.0.0) holds 206 cases in these files; later releases hold more. */
#define SUITE_MIN_CASES 200

static const char *const SUITE_FILES[] = {
	"type.json", "required.json", "properties.json", "patternProperties.json",
	"additionalProperties.json", "items.json", "enum.json", "const.json", "minimum.json", "maximum.json",
	"exclusiveMinimum.json", "exclusiveMaximum.json", "minLength.json", "maxLength.json", "pattern.json",
	"minItems.json", "maxItems.json", "optional/format/email.json", "optional/format/date-time.json",
};

/* ------------------------------------------------------------------ helpers */

static cJSON *parse(const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	if (!doc)
		fail_msg("test JSON does not parse: %s", json);
	return doc;
}

static tjs_schema *compile_ok(const char *json)
{
	cJSON *doc = parse(json);
	tjs_schema *s = NULL;
	int rc = tjs_compile(&s, doc);
	cJSON_Delete(doc);
	if (rc)
		fail_msg("compiling %s: %s", json, tasker_error_last()->message);
	assert_non_null(s);
	return s;
}

/* Compiling must fail with TASKER_EINVAL; returns the message. */
static const char *compile_error(const char *json)
{
	cJSON *doc = parse(json);
	tjs_schema *s = (tjs_schema *)&s; /* must be reset to NULL on failure */
	int rc = tjs_compile(&s, doc);
	cJSON_Delete(doc);
	if (rc != TASKER_EINVAL)
		fail_msg("compiling %s: expected TASKER_EINVAL, got %d", json, rc);
	assert_null(s);
	return tasker_error_last()->message;
}

static void assert_compile_error(const char *json, const char *message)
{
	const char *got = compile_error(json);
	if (strcmp(got, message) != 0)
		fail_msg("compiling %s:\n  expected: %s\n  got:      %s", json, message, got);
}

/* Validates `instance` against `schema` (JSON texts): 1 valid, 0 invalid with TASKER_ECONTEXT. */
static int is_valid(const char *schema, const char *instance)
{
	tjs_schema *s = compile_ok(schema);
	cJSON *doc = parse(instance);
	int rc = tjs_validate(s, doc);
	cJSON_Delete(doc);
	tjs_free(s);
	if (rc != 0 && rc != TASKER_ECONTEXT)
		fail_msg("validating %s against %s: unexpected code %d", instance, schema, rc);
	return rc == 0;
}

static void assert_invalid(const char *schema, const char *instance, const char *message)
{
	if (is_valid(schema, instance))
		fail_msg("%s should not validate against %s", instance, schema);
	const char *got = tasker_error_last()->message;
	if (strcmp(got, message) != 0)
		fail_msg("%s against %s:\n  expected: %s\n  got:      %s", instance, schema, message, got);
}

/* Validates a string built in C (no JSON escaping in the way) against a one-keyword schema. */
static int string_valid(const char *keyword, const char *value, const char *subject)
{
	cJSON *schema = cJSON_CreateObject();
	cJSON *str = cJSON_CreateString(subject);
	tjs_schema *s = NULL;
	assert_non_null(cJSON_AddStringToObject(schema, keyword, value));
	int rc = tjs_compile(&s, schema);
	cJSON_Delete(schema);
	if (rc)
		fail_msg("%s %s does not compile: %s", keyword, value, tasker_error_last()->message);
	rc = tjs_validate(s, str);
	cJSON_Delete(str);
	tjs_free(s);
	if (rc != 0 && rc != TASKER_ECONTEXT)
		fail_msg("%s %s: unexpected code %d", keyword, value, rc);
	return rc == 0;
}

typedef struct {
	const char *value;   /* pattern or format */
	const char *subject;
	int valid;
} string_case;

static void run_string_cases(const char *keyword, const string_case *cases, size_t n)
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (string_valid(keyword, cases[i].value, cases[i].subject) != cases[i].valid) {
			printf("  %s %s on \"%s\": expected %s\n", keyword, cases[i].value, cases[i].subject,
			       cases[i].valid ? "valid" : "invalid");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------------ the public test suite */

typedef struct {
	int cases, groups, failed;
} suite_counts;

static void run_suite_case(const char *file, const char *group, const tjs_schema *s, const char *compile_msg,
                           const cJSON *test, suite_counts *c)
{
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(test, "description");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(test, "data");
	const cJSON *valid = cJSON_GetObjectItemCaseSensitive(test, "valid");
	const char *name = cJSON_IsString(desc) ? desc->valuestring : "?";
	c->cases++;
	if (!s || !data || !cJSON_IsBool(valid)) {
		printf("FAIL %s / %s / %s: %s\n", file, group, name, s ? "malformed test case" : compile_msg);
		c->failed++;
		return;
	}
	int rc = tjs_validate(s, data);
	/* every failure must come with a message that starts with the instance path */
	int ok = rc == 0 ? cJSON_IsTrue(valid)
	                 : rc == TASKER_ECONTEXT && !cJSON_IsTrue(valid) && tasker_error_last()->message[0] == '$';
	if (!ok) {
		printf("FAIL %s / %s / %s: expected %s, got %d (%s)\n", file, group, name,
		       cJSON_IsTrue(valid) ? "valid" : "invalid", rc, rc ? tasker_error_last()->message : "valid");
		c->failed++;
	}
}

static void run_suite_group(const char *file, const cJSON *group, suite_counts *c)
{
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(group, "description");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(group, "schema");
	const cJSON *tests = cJSON_GetObjectItemCaseSensitive(group, "tests");
	const char *name = cJSON_IsString(desc) ? desc->valuestring : "?";
	char compile_msg[512] = "malformed group";
	tjs_schema *s = NULL;
	c->groups++;
	if (schema && tjs_compile(&s, schema) != 0)
		snprintf(compile_msg, sizeof compile_msg, "schema does not compile: %s", tasker_error_last()->message);
	if (!cJSON_IsArray(tests) || !tests->child) {
		printf("FAIL %s / %s: no tests\n", file, name);
		c->failed++;
	}
	for (const cJSON *t = cJSON_IsArray(tests) ? tests->child : NULL; t; t = t->next)
		run_suite_case(file, name, s, compile_msg, t, c);
	tjs_free(s);
}

static void test_suite(void **state)
{
	(void)state;
	const char *dir = getenv("TASKER_JSON_SCHEMA_SUITE");
	suite_counts c = {0, 0, 0};
	if (!dir || !*dir)
		dir = DEFAULT_SUITE;
	for (size_t i = 0; i < sizeof SUITE_FILES / sizeof SUITE_FILES[0]; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, SUITE_FILES[i]);
		char *text = testdb_read_file(path);
		cJSON *groups = cJSON_Parse(text);
		if (!cJSON_IsArray(groups) || !groups->child) {
			printf("FAIL %s: not a JSON array of test groups\n", path);
			c.failed++;
		}
		for (const cJSON *g = cJSON_IsArray(groups) ? groups->child : NULL; g; g = g->next)
			run_suite_group(SUITE_FILES[i], g, &c);
		cJSON_Delete(groups);
		free(text);
	}
	printf("json-schema-test-suite: %d cases in %d groups passed, %d failed\n", c.cases - c.failed, c.groups,
	       c.failed);
	fflush(stdout);
	assert_int_equal(c.failed, 0);
	if (c.cases < SUITE_MIN_CASES)
		fail_msg("only %d cases found under %s (expected at least %d): wrong suite directory?", c.cases, dir,
		         SUITE_MIN_CASES);
}

/* ------------------------------------------------------------------ error messages */

static void test_error_paths(void **state)
{
	(void)state;
	const char *nested = "{\"properties\":{\"a\":{\"properties\":{\"b\":{\"items\":{\"type\":\"integer\"}}}}}}";
	assert_invalid(nested, "{\"a\":{\"b\":[1,\"x\"]}}", "$.a.b[1]: expected integer, got string");
	assert_true(is_valid(nested, "{\"a\":{\"b\":[1,2.0]}}"));
	assert_invalid("{\"type\":\"object\"}", "[]", "$: expected object, got array");
	assert_invalid("{\"properties\":{\"cart_id\":{\"type\":\"integer\"}}}", "{\"cart_id\":\"12\"}",
	               "$.cart_id: expected integer, got string");
	assert_invalid("{\"properties\":{\"odd key\":{\"properties\":{\"q\\\"\":{\"type\":\"null\"}}}}}",
	               "{\"odd key\":{\"q\\\"\":0}}", "$[\"odd key\"][\"q\\\"\"]: expected null, got integer");
	assert_invalid("{\"items\":[{\"type\":\"string\"},{\"type\":[\"integer\",\"null\",\"boolean\"]}]}",
	               "[\"a\",\"b\",\"extra\"]", "$[1]: expected null, boolean or integer, got string");
	assert_invalid("{\"properties\":{\"customer\":{\"required\":[\"name\",\"email\"]}}}",
	               "{\"customer\":{\"name\":\"x\"}}", "$.customer: required property \"email\" is missing");
	assert_invalid("{\"properties\":{\"a\":true},\"additionalProperties\":false}", "{\"a\":1,\"extra\":2}",
	               "$.extra: property is not allowed (additionalProperties is false)");
	assert_invalid("{\"additionalProperties\":{\"type\":\"string\"}}", "{\"n\":1}",
	               "$.n: expected string, got integer");
	assert_invalid("{\"patternProperties\":{\"^b\":false}}", "{\"bar\":1}",
	               "$.bar: no value is allowed here (the schema is false)");
	assert_invalid("{\"properties\":{\"items\":{\"minItems\":2,\"items\":{\"minimum\":0}}}}",
	               "{\"items\":[3,-0.5]}", "$.items[1]: -0.5 is less than minimum 0");
	assert_invalid("{\"minItems\":2}", "[1]", "$: array of 1 items has fewer than minItems 2");
	assert_invalid("{\"maxItems\":1}", "[1,2]", "$: array of 2 items has more than maxItems 1");
	assert_invalid("{\"maximum\":10}", "10.5", "$: 10.5 is greater than maximum 10");
	assert_invalid("{\"exclusiveMinimum\":5}", "5", "$: 5 is not greater than exclusiveMinimum 5");
	assert_invalid("{\"exclusiveMaximum\":5}", "5.0", "$: 5 is not less than exclusiveMaximum 5");
	assert_invalid("{\"minLength\":3}", "\"ab\"", "$: string of 2 characters is shorter than minLength 3");
	assert_invalid("{\"maxLength\":1}", "\"ab\"", "$: string of 2 characters is longer than maxLength 1");
	assert_invalid("{\"pattern\":\"^\\\\d+$\"}", "\"12a\"", "$: string does not match pattern \"^\\\\d+$\"");
	assert_invalid("{\"enum\":[\"a\",1,null]}", "\"b\"", "$: value is not one of enum [\"a\",1,null]");
	assert_invalid("{\"const\":{\"k\":[1]}}", "{\"k\":[2]}", "$: value does not equal const {\"k\":[1]}");
	assert_invalid("{\"format\":\"email\"}", "\"nope\"", "$: not a valid email address (format \"email\")");
	assert_invalid("{\"format\":\"date-time\"}", "\"2024-02-30T00:00:00Z\"",
	               "$: not a valid RFC 3339 date-time (format \"date-time\")");
	assert_invalid("false", "{}", "$: no value is allowed here (the schema is false)");
}

static void test_unsupported_keyword(void **state)
{
	(void)state;
	assert_compile_error("{\"properties\":{\"items\":{\"type\":\"array\",\"oneOf\":[]}}}",
	                     "unsupported JSON Schema keyword \"oneOf\" at #/properties/items");
	assert_compile_error("{\"$ref\":\"#/definitions/a\"}", "unsupported JSON Schema keyword \"$ref\" at #");
	assert_compile_error("{\"properties\":{\"a/b\":{\"items\":[true,{\"not\":{}}]}}}",
	                     "unsupported JSON Schema keyword \"not\" at #/properties/a~1b/items/1");
	assert_compile_error("{\"patternProperties\":{\"^x~\":{\"additionalProperties\":{\"Type\":\"string\"}}}}",
	                     "unsupported JSON Schema keyword \"Type\" at #/patternProperties/%5Ex~0/"
	                     "additionalProperties");
	assert_compile_error("{\"type\":\"string\",\"type\":\"integer\"}",
	                     "duplicate JSON Schema keyword \"type\" at #");
	static const char *const others[] = {
		"definitions", "allOf", "anyOf", "not", "if", "then", "else", "dependencies", "propertyNames",
		"contains", "uniqueItems", "multipleOf", "minProperties", "maxProperties", "additionalItems",
		"contentMediaType", "contentEncoding", "readOnly", "writeOnly", "$defs", "prefixItems",
	};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		char schema[128], message[160];
		snprintf(schema, sizeof schema, "{\"%s\":true}", others[i]);
		snprintf(message, sizeof message, "unsupported JSON Schema keyword \"%s\" at #", others[i]);
		assert_compile_error(schema, message);
	}
}

static void test_bad_keyword_values(void **state)
{
	(void)state;
	assert_compile_error("{\"properties\":{\"name\":{\"minLength\":\"x\"}}}",
	                     "invalid value of JSON Schema keyword \"minLength\" at #/properties/name: "
	                     "expected a non-negative integer, got string");
	assert_compile_error("{\"minLength\":-1}", "invalid value of JSON Schema keyword \"minLength\" at #: "
	                                           "expected a non-negative integer, got -1");
	assert_compile_error("{\"maxItems\":1.5}", "invalid value of JSON Schema keyword \"maxItems\" at #: "
	                                           "expected a non-negative integer, got 1.5");
	assert_true(is_valid("{\"minLength\":2.0}", "\"ab\""));
	assert_false(is_valid("{\"minLength\":2.0}", "\"a\""));
	assert_compile_error("{\"type\":\"any\"}",
	                     "invalid value of JSON Schema keyword \"type\" at #: unknown type \"any\"");
	assert_compile_error("{\"type\":[]}", "invalid value of JSON Schema keyword \"type\" at #: expected a type "
	                                      "name or a non-empty array of them, got an empty array");
	assert_compile_error("{\"type\":[\"string\",\"string\"]}",
	                     "invalid value of JSON Schema keyword \"type\" at #: type \"string\" listed twice");
	assert_compile_error("{\"required\":[\"a\",\"a\"]}", "invalid value of JSON Schema keyword \"required\" "
	                                                     "at #: expected an array of distinct strings");
	assert_compile_error("{\"required\":\"a\"}", "invalid value of JSON Schema keyword \"required\" at #: "
	                                             "expected an array of distinct strings");
	assert_compile_error("{\"properties\":[]}", "invalid value of JSON Schema keyword \"properties\" at #: "
	                                            "expected an object of schemas, got array");
	assert_compile_error("{\"items\":[]}", "invalid value of JSON Schema keyword \"items\" at #: expected a "
	                                       "schema or a non-empty array of schemas, got an empty array");
	assert_compile_error("{\"exclusiveMinimum\":true}",
	                     "invalid value of JSON Schema keyword \"exclusiveMinimum\" at #: expected a number "
	                     "(the boolean form of draft 4 is not supported), got boolean");
	assert_compile_error("{\"maximum\":\"5\"}",
	                     "invalid value of JSON Schema keyword \"maximum\" at #: expected a number, got string");
	assert_compile_error("{\"enum\":{}}",
	                     "invalid value of JSON Schema keyword \"enum\" at #: expected an array, got object");
	assert_compile_error("{\"pattern\":5}", "invalid value of JSON Schema keyword \"pattern\" at #: expected "
	                                        "a regular expression string, got number");
	assert_compile_error("{\"properties\":{\"when\":{\"format\":\"uri\"}}}",
	                     "invalid value of JSON Schema keyword \"format\" at #/properties/when: unsupported "
	                     "format \"uri\" (supported: email, date-time)");
	assert_compile_error("{\"title\":5}",
	                     "invalid value of JSON Schema keyword \"title\" at #: expected a string, got number");
	assert_compile_error("{\"examples\":{}}", "invalid value of JSON Schema keyword \"examples\" at #: "
	                                          "expected an array, got object");
	assert_compile_error("{\"properties\":{\"a\":5}}",
	                     "a JSON Schema must be an object or a boolean, got number at #/properties/a");
	assert_compile_error("[]", "a JSON Schema must be an object or a boolean, got array at #");
	assert_compile_error("{\"additionalProperties\":null}",
	                     "a JSON Schema must be an object or a boolean, got null at #/additionalProperties");
}

static void test_invalid_regex(void **state)
{
	(void)state;
	assert_compile_error("{\"properties\":{\"code\":{\"pattern\":\"^(ab\"}}}",
	                     "invalid regular expression \"^(ab\" in JSON Schema keyword \"pattern\" at "
	                     "#/properties/code: missing ')' at offset 1");
	assert_compile_error("{\"patternProperties\":{\"[a-\":true}}",
	                     "invalid regular expression \"[a-\" in JSON Schema keyword \"patternProperties\" at #: "
	                     "missing ']' at offset 0");
	static const struct {
		const char *pattern, *problem;
	} bad[] = {
		{"ab)", "unmatched ')' at offset 2"},
		{"*a", "nothing to repeat at offset 0"},
		{"a**", "nothing to repeat at offset 2"},
		{"{2}", "nothing to repeat at offset 0"},
		{"^(?=.*\\d)", "lookahead is not supported at offset 1"},
		{"(?!a)", "lookahead is not supported at offset 0"},
		{"a{2,1}", "numbers out of order in {} quantifier at offset 1"},
		{"a{1001}", "repetition count above 1000 at offset 1"},
		{"(a{1000}){1000}", "pattern too large once repetitions are expanded at offset 0"},
		{"(a)\\1", "backreferences are not supported at offset 3"},
		{"(?<n>a)\\k<n>", "named backreferences are not supported at offset 7"},
		{"(?<=a)b", "lookbehind is not supported at offset 0"},
		{"\\p{L}", "Unicode property escapes are not supported at offset 0"},
		{"[z-a]", "range out of order in character class at offset 1"},
		{"[\\d-z]", "class escape used as a range bound at offset 1"},
		{"\\", "\\ at end of pattern at offset 0"},
		{"\\q", "invalid escape at offset 0"},
		{"\\x4", "invalid \\x escape at offset 0"},
		{"\\u12", "invalid \\u escape at offset 0"},
		{"\\u{110000}", "invalid \\u{...} escape at offset 0"},
		{"\\012", "octal escapes are not supported at offset 0"},
		{"(?x)", "invalid group at offset 0"},
		{"(?<>a)", "invalid group name at offset 0"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cJSON *schema = cJSON_CreateObject();
		tjs_schema *s = NULL;
		assert_non_null(cJSON_AddStringToObject(schema, "pattern", bad[i].pattern));
		int rc = tjs_compile(&s, schema);
		cJSON_Delete(schema);
		if (rc != TASKER_EINVAL)
			fail_msg("pattern %s: expected TASKER_EINVAL, got %d", bad[i].pattern, rc);
		const char *msg = tasker_error_last()->message, *colon = strstr(msg, "at #: ");
		if (!colon || strcmp(colon + 6, bad[i].problem) != 0)
			fail_msg("pattern %s:\n  expected: ...%s\n  got:      %s", bad[i].pattern, bad[i].problem, msg);
	}
}

/* ------------------------------------------------------------------ semantics */

static void test_integer_vs_number(void **state)
{
	(void)state;
	const char *integer = "{\"type\":\"integer\"}";
	assert_true(is_valid(integer, "1"));
	assert_true(is_valid(integer, "1.0"));
	assert_true(is_valid(integer, "-3e2"));
	assert_invalid(integer, "1.5", "$: expected integer, got number");
	assert_invalid(integer, "\"1\"", "$: expected integer, got string");
	assert_true(is_valid("{\"type\":\"number\"}", "1.5"));
	assert_true(is_valid("{\"type\":\"number\"}", "2"));
	assert_invalid("{\"type\":[\"string\",\"integer\"]}", "0.5", "$: expected string or integer, got number");
	assert_true(is_valid("{\"const\":1}", "1.0"));
	assert_true(is_valid("{\"enum\":[2.0,\"x\"]}", "2"));
	assert_false(is_valid("{\"enum\":[0]}", "false"));
	assert_false(is_valid("{\"const\":false}", "0"));
	assert_false(is_valid("{\"const\":null}", "0"));
}

static void test_code_points(void **state)
{
	(void)state;
	/* "héllo": 5 code points in 6 bytes; "日本語": 3 in 9; U+1F4A9: 1 in 4 */
	assert_true(is_valid("{\"maxLength\":5}", "\"h\xc3\xa9llo\""));
	assert_true(is_valid("{\"minLength\":5}", "\"h\xc3\xa9llo\""));
	assert_false(is_valid("{\"minLength\":6}", "\"h\xc3\xa9llo\""));
	assert_true(is_valid("{\"maxLength\":3}", "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\""));
	assert_invalid("{\"minLength\":4}", "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"",
	               "$: string of 3 characters is shorter than minLength 4");
	assert_true(is_valid("{\"maxLength\":1}", "\"\\ud83d\\udca9\""));
	assert_false(is_valid("{\"minLength\":2}", "\"\xf0\x9f\x92\xa9\""));
	/* each malformed byte counts as one character */
	assert_true(string_valid("pattern", "^.{2}$", "\xff\xfe"));
	cJSON *bad = cJSON_CreateString("a\xff\xc3");
	tjs_schema *s = compile_ok("{\"maxLength\":3,\"minLength\":3}");
	assert_int_equal(tjs_validate(s, bad), 0);
	tjs_free(s);
	cJSON_Delete(bad);
}

static void test_boolean_and_empty_schemas(void **state)
{
	(void)state;
	assert_true(is_valid("true", "{\"anything\":[1]}"));
	assert_true(is_valid("{}", "null"));
	assert_false(is_valid("false", "null"));
	assert_true(is_valid("{\"items\":false}", "[]"));
	assert_invalid("{\"items\":false}", "[0]", "$[0]: no value is allowed here (the schema is false)");
	assert_true(is_valid("{\"properties\":{\"a\":false}}", "{\"b\":1}"));
	/* keywords of other types ignore a value they do not apply to */
	assert_true(is_valid("{\"minLength\":9,\"required\":[\"x\"],\"minimum\":9,\"maxItems\":0}", "true"));
	/* annotations change nothing */
	assert_true(is_valid("{\"title\":\"t\",\"description\":\"d\",\"default\":5,\"examples\":[1],"
	                     "\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"urn:x\","
	                     "\"$comment\":\"c\"}",
	                     "\"anything\""));
}

static void test_deep_equality(void **state)
{
	(void)state;
	const char *obj = "{\"const\":{\"a\":1,\"b\":[true,null,{\"c\":\"d\"}]}}";
	assert_true(is_valid(obj, "{\"b\":[true,null,{\"c\":\"d\"}],\"a\":1.0}"));
	assert_false(is_valid(obj, "{\"a\":1,\"b\":[null,true,{\"c\":\"d\"}]}"));
	assert_false(is_valid(obj, "{\"a\":1,\"b\":[true,null,{\"c\":\"d\"}],\"e\":0}"));
	assert_false(is_valid(obj, "{\"a\":1}"));
	assert_false(is_valid("{\"const\":{\"a\":1,\"b\":1}}", "{\"a\":1,\"a\":1}"));
	assert_true(is_valid("{\"enum\":[[1,2],{\"k\":\"v\"}]}", "{\"k\":\"v\"}"));
	assert_false(is_valid("{\"enum\":[[1,2],{\"k\":\"v\"}]}", "[1,2,3]"));
	assert_false(is_valid("{\"enum\":[]}", "null"));
}

/* The compiled form owns copies: the source JSON may go away right after compiling. */
static void test_schema_is_borrowed(void **state)
{
	(void)state;
	tjs_schema *s = compile_ok("{\"required\":[\"id\"],\"properties\":{\"id\":{\"enum\":[\"a\",\"b\"]},"
	                           "\"n\":{\"const\":{\"x\":[1]}}},"
	                           "\"patternProperties\":{\"^t_\":{\"pattern\":\"z$\"}}}");
	cJSON *ok = parse("{\"id\":\"b\",\"n\":{\"x\":[1]},\"t_1\":\"xyz\"}");
	cJSON *bad = parse("{\"id\":\"b\",\"n\":{\"x\":[1]},\"t_1\":\"zy\"}");
	assert_int_equal(tjs_validate(s, ok), 0);
	assert_int_equal(tjs_validate(s, bad), TASKER_ECONTEXT);
	assert_string_equal(tasker_error_last()->message, "$.t_1: string does not match pattern \"z$\"");
	cJSON_Delete(ok);
	cJSON_Delete(bad);
	tjs_free(s);
}

static void test_regex_dialect(void **state)
{
	(void)state;
	static const string_case cases[] = {
		{"^a*$", "aaa", 1}, {"^a*$", "abc", 0}, {"a+", "xxaayy", 1}, {"^$", "", 1}, {"$^", "", 1},
		{"^\\d{3}-\\d{4}$", "555-1234", 1}, {"^\\d{3}-\\d{4}$", "555-12345", 0},
		{"^\\d+$", "\xd9\xa1\xd9\xa2", 0},               /* Arabic-Indic digits are not \d */
		{"^\\D$", "x", 1}, {"^\\D$", "5", 0},
		{"^\\w+$", "hello_1", 1}, {"^\\w+$", "h\xc3\xa9llo", 0}, {"^\\W$", "\xc3\xa9", 1},
		{"^\\s$", "\xc2\xa0", 1}, {"^\\s$", "\xe2\x80\xa8", 1}, {"^\\s$", "\t", 1}, {"^\\S+$", "a b", 0},
		{"^.$", "\xc3\xa9", 1}, {"^.$", "\xf0\x9f\x92\xa9", 1}, {"^.$", "\n", 0}, {"^.$", "ab", 0},
		{"^[a-z]+$", "abc", 1}, {"^[a-z]+$", "aBc", 0}, {"^[^a-z]+$", "ABC", 1},
		{"^[\\d.]+$", "1.5", 1}, {"^[\\D]$", "a", 1}, {"^[\\D]$", "1", 0}, {"^[\\w-]+$", "a-b_c", 1},
		{"^[\\s\\S]$", "\n", 1}, {"^[^]$", "\n", 1}, {"a[]", "a", 0}, {"^[]a]$", "]", 0},
		{"^[\xc3\xa0-\xc3\xbf]+$", "\xc3\xa9\xc3\xa8", 1}, {"^[\xc3\xa0-\xc3\xbf]+$", "e", 0},
		{"^(foo|bar)baz$", "barbaz", 1}, {"^(foo|bar)baz$", "quxbaz", 0}, {"^(?:ab)+$", "ababab", 1},
		{"^(?:ab)+$", "aba", 0}, {"^(?<year>\\d{4})-(?<m>\\d{2})$", "2024-05", 1},
		{"^a{2,3}$", "a", 0}, {"^a{2,3}$", "aa", 1}, {"^a{2,3}$", "aaa", 1}, {"^a{2,3}$", "aaaa", 0},
		{"^a{2,}$", "aaaaa", 1}, {"^a{2}$", "aaa", 0}, {"^x{,3}$", "x{,3}", 1}, {"^a}$", "a}", 1},
		{"^a+?$", "aaa", 1}, {"^a{1,2}?b$", "aab", 1}, {"^(a|ab)(c|bcd)(d*)$", "abcd", 1},
		{"^(a*)*$", "aaa", 1}, {"^(a*)*$", "b", 0}, {"^(a*|b)+$", "abab", 1}, {"a|", "zzz", 1},
		{"^(|a)$", "", 1},
		{"\\bfoo\\b", "a foo b", 1}, {"\\bfoo\\b", "afoo", 0}, {"\\Bfoo", "afoo", 1}, {"\\Bfoo", "foo", 0},
		{"^\\u00e9$", "\xc3\xa9", 1}, {"^\\u{1F4A9}$", "\xf0\x9f\x92\xa9", 1},
		{"^\\ud83d\\udca9$", "\xf0\x9f\x92\xa9", 1}, {"^\\x41\\t\\cJ$", "A\t\n", 1},
		{"^\\/\\.\\*\\-$", "/.*-", 1}, {"^[\\b]$", "\b", 1}, {"\\0", "a", 0},
		{"\xe6\x97\xa5\xe6\x9c\xac", "\xe3\x81\x93\xe3\x82\x93\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 1},
		{"[0-9]{2,}", "a31b", 1}, {"X_", "a_x_3", 0},
	};
	run_string_cases("pattern", cases, sizeof cases / sizeof cases[0]);
}

/* The matcher is an automaton: patterns that make a backtracking engine explode finish at once. */
static void test_regex_linear_time(void **state)
{
	(void)state;
	char subject[20002];
	memset(subject, 'a', sizeof subject - 2);
	subject[sizeof subject - 2] = '!';
	subject[sizeof subject - 1] = '\0';
	assert_false(string_valid("pattern", "^(a+)+$", subject));
	assert_false(string_valid("pattern", "^(a|aa|a?)*$", subject));
	assert_true(string_valid("pattern", "(a*)*!", subject));
	assert_false(string_valid("pattern", "^(a{0,20}){0,20}$", subject));
}

static void test_formats(void **state)
{
	(void)state;
	static const string_case date_times[] = {
		{"date-time", "1963-06-19T08:30:06.283185Z", 1}, {"date-time", "1963-06-19t08:30:06z", 1},
		{"date-time", "2000-01-01T00:00:00.123456789+05:30", 1}, {"date-time", "1990-12-31T15:59:59-00:00", 1},
		{"date-time", "2024-02-29T12:00:00Z", 1}, {"date-time", "0400-02-29T00:00:00Z", 1},
		{"date-time", "1998-12-31T23:59:60Z", 1}, {"date-time", "1998-12-31T15:59:60.123-08:00", 1},
		{"date-time", "1999-01-01T00:59:60+01:00", 1},
		{"date-time", "1998-12-31T23:59:61Z", 0}, {"date-time", "1998-12-31T23:58:60Z", 0},
		{"date-time", "1998-12-31T22:59:60Z", 0}, {"date-time", "1998-12-31T23:59:60+01:00", 0},
		{"date-time", "2023-02-29T12:00:00Z", 0}, {"date-time", "1900-02-29T00:00:00Z", 0},
		{"date-time", "2024-04-31T00:00:00Z", 0}, {"date-time", "2024-13-01T00:00:00Z", 0},
		{"date-time", "2024-00-10T00:00:00Z", 0}, {"date-time", "2024-01-00T00:00:00Z", 0},
		{"date-time", "2024-01-01T24:00:00Z", 0}, {"date-time", "2024-01-01T23:60:00Z", 0},
		{"date-time", "2024-01-01T00:00:00+24:00", 0}, {"date-time", "2024-01-01T00:00:00+01:60", 0},
		{"date-time", "2024-01-01T00:00:00+0100", 0}, {"date-time", "2024-01-01T00:00:00+01", 0},
		{"date-time", "2024-01-01T00:00:00", 0}, {"date-time", "2024-01-01 00:00:00Z", 0},
		{"date-time", "2024-01-01T00:00Z", 0}, {"date-time", "2024-01-01T00:00:00.Z", 0},
		{"date-time", "2024-01-01T00:00:00Z ", 0}, {"date-time", "2024-01-01T00:00:00Z\n", 0},
		{"date-time", "2024-1-01T00:00:00Z", 0}, {"date-time", "+12024-01-01T00:00:00Z", 0},
		{"date-time", "2024-01-0\xd9\xa1T00:00:00Z", 0}, {"date-time", "2024-01-01T00:00:00+01:00Z", 0},
		{"date-time", "2013-350T01:01:01", 0}, {"date-time", "06/19/1963 08:30:06 PST", 0},
		{"date-time", "2024-01-01", 0}, {"date-time", "", 0},
	};
	static const string_case emails[] = {
		{"email", "joe.bloggs@example.com", 1}, {"email", "te~st@example.com", 1},
		{"email", "te.s.t@example.com", 1}, {"email", "a+tag@sub.example.co.uk", 1},
		{"email", "\"joe bloggs\"@example.com", 1}, {"email", "\"a\\\"b\"@example.com", 1},
		{"email", "joe@[127.0.0.1]", 1}, {"email", "joe@[IPv6:::1]", 1}, {"email", "joe@localhost", 1},
		{"email", "joe.bloggs@123.24-7-examples.com", 1},
		{"email", "2962", 0}, {"email", ".test@example.com", 0}, {"email", "test.@example.com", 0},
		{"email", "te..st@example.com", 0}, {"email", "joe@", 0}, {"email", "@example.com", 0},
		{"email", "joe@example..com", 0}, {"email", "joe@example.com.", 0}, {"email", "joe@-example.com", 0},
		{"email", "joe@example-.com", 0}, {"email", "joe@invalid=domain.com", 0},
		{"email", "joe@[127.0.0.300]", 0}, {"email", "joe@[IPv6:12345::1]", 0}, {"email", "joe@[::1]", 0},
		{"email", "joe bloggs@example.com", 0}, {"email", "j\xc3\xb6@example.com", 0},
		{"email", "joe@exa_mple.com", 0}, {"email", "a@b@example.com", 0}, {"email", "\"unterminated@x.com", 0},
		{"email", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com", 0},
	};
	run_string_cases("format", date_times, sizeof date_times / sizeof date_times[0]);
	run_string_cases("format", emails, sizeof emails / sizeof emails[0]);
	/* formats apply to strings only */
	assert_true(is_valid("{\"format\":\"date-time\"}", "12"));
	assert_true(is_valid("{\"format\":\"email\"}", "{}"));
}

static void test_supported_keywords(void **state)
{
	(void)state;
	static const struct {
		const char *keyword, *value;
	} samples[] = {
		{"type", "\"string\""}, {"required", "[\"a\"]"}, {"properties", "{\"a\":true}"},
		{"patternProperties", "{\"^a\":true}"}, {"additionalProperties", "false"}, {"items", "[true]"},
		{"enum", "[1]"}, {"const", "null"}, {"minimum", "0"}, {"maximum", "1"}, {"exclusiveMinimum", "0"},
		{"exclusiveMaximum", "1"}, {"minLength", "0"}, {"maxLength", "1"}, {"pattern", "\"a\""},
		{"minItems", "0"}, {"maxItems", "1"}, {"format", "\"email\""}, {"title", "\"t\""},
		{"description", "\"d\""}, {"default", "{}"}, {"examples", "[]"},
		{"$schema", "\"http://json-schema.org/draft-07/schema#\""}, {"$id", "\"urn:example:s\""},
		{"$comment", "\"c\""},
	};
	const size_t nsamples = sizeof samples / sizeof samples[0];
	char *list = strdup(tjs_supported_keywords());
	size_t listed = 0;
	assert_non_null(list);
	for (char *save = NULL, *kw = strtok_r(list, ",", &save); kw; kw = strtok_r(NULL, ",", &save), listed++) {
		size_t i = 0;
		while (i < nsamples && strcmp(samples[i].keyword, kw) != 0)
			i++;
		if (i == nsamples)
			fail_msg("keyword %s is listed but this test has no sample for it", kw);
		char schema[256];
		snprintf(schema, sizeof schema, "{\"%s\":%s}", kw, samples[i].value);
		tjs_free(compile_ok(schema));
	}
	free(list);
	assert_int_equal(listed, nsamples);
}

static void test_api_errors(void **state)
{
	(void)state;
	tjs_schema *s = (tjs_schema *)&s;
	cJSON *value = cJSON_CreateNull();
	assert_int_equal(tjs_compile(NULL, value), TASKER_EINVAL);
	assert_int_equal(tjs_compile(&s, NULL), TASKER_EINVAL);
	assert_null(s);
	assert_int_equal(tjs_validate(NULL, value), TASKER_EINVAL);
	s = compile_ok("{}");
	assert_int_equal(tjs_validate(s, NULL), TASKER_EINVAL);
	tjs_free(s);
	tjs_free(NULL);
	cJSON_Delete(value);

	/* nesting is bounded so that compilation and validation cannot exhaust the stack */
	char deep[2048] = "";
	for (int i = 0; i < 200; i++)
		strcat(deep, "{\"items\":");
	strcat(deep, "true");
	for (int i = 0; i < 200; i++)
		strcat(deep, "}");
	const char *msg = compile_error(deep);
	assert_non_null(strstr(msg, "JSON Schema nested more than 128 levels deep at #/items/items/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suite),
		cmocka_unit_test(test_error_paths),
		cmocka_unit_test(test_unsupported_keyword),
		cmocka_unit_test(test_bad_keyword_values),
		cmocka_unit_test(test_invalid_regex),
		cmocka_unit_test(test_integer_vs_number),
		cmocka_unit_test(test_code_points),
		cmocka_unit_test(test_boolean_and_empty_schemas),
		cmocka_unit_test(test_deep_equality),
		cmocka_unit_test(test_schema_is_borrowed),
		cmocka_unit_test(test_regex_dialect),
		cmocka_unit_test(test_regex_linear_time),
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_supported_keywords),
		cmocka_unit_test(test_api_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
