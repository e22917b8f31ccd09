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
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"
#include "testdb.h"

#define DEFAULT_SUITE "/usr/share/json-schema-test-suite/tests/draft7"
/* Debian 12's suite (2.0.0) holds 423 required cases (408 without refRemote.json), 122 of optional/format
 * (116 without the idn formats) and 21 in the other optional files (11 without content.json); later
 * releases more. */
#define SUITE_MIN_REQUIRED 400
#define SUITE_MIN_FORMAT 100
#define SUITE_MIN_OPTIONAL 10

/* What the run leaves out: remote references need a network; these formats are not checked (draft 7
 * lets a validator accept any value for a format it does not check); contentEncoding and
 * contentMediaType are annotations, not assertions (draft 7 lets a validator choose; the Rails
 * engine's validator does not check them, so neither does this one). */
static const char *const SUITE_SKIPPED[] = {
	"refRemote.json", "optional/format/idn-email.json", "optional/format/idn-hostname.json",
	"optional/content.json",
};

/* ------------------------------------------------------------------ helpers */

/* snprintf that fails the test instead of cutting the text short: a truncated schema or path would test
 * something else than it says (checking the length also keeps -Wformat-truncation quiet at -O3). */
static void __attribute__((format(printf, 3, 4))) format_into(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		fail_msg("test text longer than its %zu-byte buffer: %.60s...", size, buf);
}

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
	char *compile_msg = NULL;
	tjs_schema *s = NULL;
	c->groups++;
	if (schema && tjs_compile(&s, schema) != 0 &&
	    asprintf(&compile_msg, "schema does not compile: %s", tasker_error_last()->message) < 0)
		compile_msg = NULL;
	if (!cJSON_IsArray(tests) || !tests->child) {
		printf("FAIL %s / %s: no tests\n", file, name);
		c->failed++;
	}
	for (const cJSON *t = cJSON_IsArray(tests) ? tests->child : NULL; t; t = t->next)
		run_suite_case(file, name, s, compile_msg ? compile_msg : "malformed group", t, c);
	free(compile_msg);
	tjs_free(s);
}

static int is_skipped(const char *name)
{
	for (size_t i = 0; i < sizeof SUITE_SKIPPED / sizeof SUITE_SKIPPED[0]; i++)
		if (strcmp(name, SUITE_SKIPPED[i]) == 0)
			return 1;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every *.json file of `dir`/`sub` (sorted, minus the skipped ones); returns how many files ran. */
static int run_suite_dir(const char *dir, const char *sub, suite_counts *c)
{
	char path[4096], *names[256];
	size_t n = 0;
	format_into(path, sizeof path, "%s/%s", dir, sub);
	DIR *d = opendir(path);
	if (!d)
		fail_msg("cannot open the JSON-Schema-Test-Suite directory %s (set TASKER_JSON_SCHEMA_SUITE)", path);
	for (struct dirent *e; (e = readdir(d)) && n < 256;) {
		size_t len = strlen(e->d_name);
		char name[512];
		format_into(name, sizeof name, "%s%s", sub, e->d_name);
		if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 && !is_skipped(name))
			names[n++] = strdup(name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	for (size_t i = 0; i < n; i++) {
		format_into(path, sizeof path, "%s/%s", dir, names[i]);
		char *text = testdb_read_file(path);
		cJSON *groups = cJSON_Parse(text);
		if (!cJSON_IsArray(groups) || !groups->child) {
			printf("FAIL %s: not a JSON array of test groups\n", path);
			c->failed++;
		}
		for (const cJSON *g = cJSON_IsArray(groups) ? groups->child : NULL; g; g = g->next)
			run_suite_group(names[i], g, c);
		cJSON_Delete(groups);
		free(text);
		free(names[i]);
	}
	return (int)n;
}

/* The whole draft-7 directory of the public JSON-Schema-Test-Suite: every required case and every optional
 * one (bignum, ECMA-262 regex, zero-terminated floats, formats), except SUITE_SKIPPED. */
static void test_suite(void **state)
{
	(void)state;
	const char *dir = getenv("TASKER_JSON_SCHEMA_SUITE");
	suite_counts req = {0, 0, 0}, fmt = {0, 0, 0}, opt = {0, 0, 0};
	if (!dir || !*dir)
		dir = DEFAULT_SUITE;
	int files = run_suite_dir(dir, "", &req);
	int fmt_files = run_suite_dir(dir, "optional/format/", &fmt);
	int opt_files = run_suite_dir(dir, "optional/", &opt);
	printf("json-schema-test-suite draft 7: %d of %d required cases passed (%d files), %d of %d optional/format "
	       "cases passed (%d files), %d of %d other optional cases passed (%d files); not run: refRemote.json "
	       "(no network), idn-email, idn-hostname (formats not checked), content.json (annotations)\n",
	       req.cases - req.failed, req.cases, files, fmt.cases - fmt.failed, fmt.cases, fmt_files,
	       opt.cases - opt.failed, opt.cases, opt_files);
	fflush(stdout);
	assert_int_equal(req.failed + fmt.failed + opt.failed, 0);
	if (req.cases < SUITE_MIN_REQUIRED || fmt.cases < SUITE_MIN_FORMAT || opt.cases < SUITE_MIN_OPTIONAL)
		fail_msg("only %d + %d + %d cases found under %s (expected at least %d + %d + %d): wrong suite directory?",
		         req.cases, fmt.cases, opt.cases, dir, SUITE_MIN_REQUIRED, SUITE_MIN_FORMAT, SUITE_MIN_OPTIONAL);
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
	               "{\"items\":[3,-0.5]}", "$.items[1]: less than minimum 0");
	assert_invalid("{\"minItems\":2}", "[1]", "$: array of 1 items has fewer than minItems 2");
	assert_invalid("{\"maxItems\":1}", "[1,2]", "$: array of 2 items has more than maxItems 1");
	assert_invalid("{\"maximum\":10}", "10.5", "$: greater than maximum 10");
	assert_invalid("{\"exclusiveMinimum\":5}", "5", "$: not greater than exclusiveMinimum 5");
	assert_invalid("{\"exclusiveMaximum\":5}", "5.0", "$: not less than exclusiveMaximum 5");
	assert_invalid("{\"minLength\":3}", "\"ab\"", "$: string of 2 characters is shorter than minLength 3");
	assert_invalid("{\"maxLength\":1}", "\"ab\"", "$: string of 2 characters is longer than maxLength 1");
	assert_invalid("{\"pattern\":\"^\\\\d+$\"}", "\"12a\"", "$: string does not match pattern \"^\\\\d+$\"");
	assert_invalid("{\"enum\":[\"a\",1,null]}", "\"b\"", "$: value is not one of enum [\"a\",1,null]");
	assert_invalid("{\"const\":{\"k\":[1]}}", "{\"k\":[2]}", "$: value does not equal const {\"k\":[1]}");
	assert_invalid("{\"format\":\"email\"}", "\"nope\"", "$: not an email address (format \"email\")");
	assert_invalid("{\"format\":\"date-time\"}", "\"2024-02-30T00:00:00Z\"",
	               "$: not an RFC 3339 date-time (format \"date-time\")");
	assert_invalid("false", "{}", "$: no value is allowed here (the schema is false)");
}

/* Draft 7: unknown keywords and formats are accepted and ignored; each is listed for the caller to warn. */
static void test_ignored_keywords(void **state)
{
	(void)state;
	cJSON *doc = parse("{\"properties\":{\"a/b\":{\"x-order\":1,\"format\":\"idn-email\"}},"
	                   "\"$defs\":{\"n\":{\"type\":\"integer\"}},\"items\":[true,{\"nullable\":true}]}");
	tjs_schema *s = NULL;
	assert_int_equal(tjs_compile(&s, doc), 0);
	cJSON_Delete(doc);
	assert_int_equal(tjs_ignored_count(s), 4);
	assert_string_equal(tjs_ignored(s, 0), "unknown keyword \"x-order\" at #/properties/a~1b is ignored");
	assert_string_equal(tjs_ignored(s, 1), "format \"idn-email\" at #/properties/a~1b is not checked");
	assert_string_equal(tjs_ignored(s, 2), "unknown keyword \"$defs\" at # is ignored");
	assert_string_equal(tjs_ignored(s, 3), "unknown keyword \"nullable\" at #/items/1 is ignored");
	assert_null(tjs_ignored(s, 4));
	tjs_free(s);
	/* ignored means ignored: they restrict nothing */
	assert_true(is_valid("{\"dependentRequired\":{\"a\":[\"b\"]},\"format\":\"color\"}", "{\"a\":1}"));
	assert_true(is_valid("{\"format\":\"idn-hostname\"}", "\"-not a host-\""));
	s = compile_ok("{\"type\":\"object\"}");
	assert_int_equal(tjs_ignored_count(s), 0);
	tjs_free(s);
	assert_int_equal(tjs_ignored_count(NULL), 0);
	assert_compile_error("{\"type\":\"string\",\"type\":\"integer\"}",
	                     "duplicate JSON Schema keyword \"type\" at #");
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
	                                                     "at #: expected an array of distinct strings, got \"a\" twice");
	assert_compile_error("{\"required\":\"a\"}", "invalid value of JSON Schema keyword \"required\" at #: "
	                                             "expected an array of distinct strings, got string");
	assert_compile_error("{\"required\":[1]}", "invalid value of JSON Schema keyword \"required\" at #: "
	                                         "expected an array of distinct strings, got an array holding number");
	assert_compile_error("{\"properties\":[]}", "invalid value of JSON Schema keyword \"properties\" at #: "
	                                            "expected an object of schemas, got array");
	assert_compile_error("{\"items\":[]}", "invalid value of JSON Schema keyword \"items\" at #: expected a "
	                                       "schema or a non-empty array of schemas, got an empty array");
	assert_compile_error("{\"exclusiveMinimum\":\"5\"}",
	                     "invalid value of JSON Schema keyword \"exclusiveMinimum\" at #: expected a number, got string");
	assert_compile_error("{\"maximum\":\"5\"}",
	                     "invalid value of JSON Schema keyword \"maximum\" at #: expected a number, got string");
	assert_compile_error("{\"enum\":{}}",
	                     "invalid value of JSON Schema keyword \"enum\" at #: expected an array, got object");
	assert_compile_error("{\"pattern\":5}", "invalid value of JSON Schema keyword \"pattern\" at #: expected "
	                                        "a regular expression string, got number");
	assert_compile_error("{\"properties\":{\"when\":{\"format\":5}}}",
	                     "invalid value of JSON Schema keyword \"format\" at #/properties/when: expected a string, "
	                     "got number");
	assert_compile_error("{\"multipleOf\":0}", "invalid value of JSON Schema keyword \"multipleOf\" at #: "
	                                          "expected a number greater than 0, got 0");
	assert_compile_error("{\"multipleOf\":\"2\"}", "invalid value of JSON Schema keyword \"multipleOf\" at #: "
	                                              "expected a number greater than 0, got string");
	assert_compile_error("{\"allOf\":[]}", "invalid value of JSON Schema keyword \"allOf\" at #: expected a "
	                                      "non-empty array of schemas, got an empty array");
	assert_compile_error("{\"oneOf\":{}}", "invalid value of JSON Schema keyword \"oneOf\" at #: expected a "
	                                      "non-empty array of schemas, got object");
	assert_compile_error("{\"anyOf\":[true,3]}", "a JSON Schema must be an object or a boolean, got number at "
	                                            "#/anyOf/1");
	assert_compile_error("{\"not\":[]}", "a JSON Schema must be an object or a boolean, got array at #/not");
	assert_compile_error("{\"dependencies\":{\"a\":\"b\"}}", "invalid value of JSON Schema keyword "
	                                                      "\"dependencies\" at #: \"a\" must be a schema or an "
	                                                      "array of property names, got string");
	assert_compile_error("{\"dependencies\":{\"a\":[\"b\",\"b\"]}}",
	                     "invalid value of JSON Schema keyword \"dependencies\" at #/dependencies/a: expected an array of "
	                     "distinct strings, got \"b\" twice");
	assert_compile_error("{\"uniqueItems\":1}", "invalid value of JSON Schema keyword \"uniqueItems\" at #: "
	                                           "expected true or false, got number");
	assert_compile_error("{\"readOnly\":\"yes\"}", "invalid value of JSON Schema keyword \"readOnly\" at #: "
	                                              "expected true or false, got string");
	assert_compile_error("{\"minProperties\":-2}", "invalid value of JSON Schema keyword \"minProperties\" at "
	                                              "#: expected a non-negative integer, got -2");
	assert_compile_error("{\"definitions\":[]}", "invalid value of JSON Schema keyword \"definitions\" at #: "
	                                            "expected an object of schemas, got array");
	assert_compile_error("{\"definitions\":{\"a\":{\"type\":\"nope\"}}}",
	                     "invalid value of JSON Schema keyword \"type\" at #/definitions/a: unknown type \"nope\"");
	assert_compile_error("{\"$ref\":5}", "invalid value of JSON Schema keyword \"$ref\" at #: expected a URI "
	                                    "reference string, got number");
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
		{"(?=a)*", "nothing to repeat at offset 5"},
		{"(?<!a", "missing ')' at offset 0"},
		{"a{2,1}", "numbers out of order in {} quantifier at offset 1"},
		{"a{1001}", "repetition count above 1000 at offset 1"},
		{"(a{1000}){1000}", "pattern too large once repetitions are expanded at offset 0"},
		{"(a)\\1", "backreferences are not supported at offset 3"},
		{"(?<n>a)\\k<n>", "named backreferences are not supported at offset 7"},
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
	/* each lookaround keeps a bit per position of the subject: 64 at most */
	char looks[65 * 5 + 1] = "";
	for (int i = 0; i < 64; i++)
		strcat(looks, "(?=a)");
	assert_true(string_valid("pattern", looks, "a"));
	strcat(looks, "(?!b)");
	char schema[400];
	format_into(schema, sizeof schema, "{\"pattern\":\"%s\"}", looks);
	const char *msg = compile_error(schema);
	if (!strstr(msg, ": more than 64 lookarounds at offset 320"))
		fail_msg("65 lookarounds: %s", msg);
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
		/* lookaround, as password and identifier rules write it */
		{"^(?=.*[A-Z])(?=.*\\d).{8,}$", "Secret123", 1}, {"^(?=.*[A-Z])(?=.*\\d).{8,}$", "secret123", 0},
		{"^(?=.*[A-Z])(?=.*\\d).{8,}$", "Secret12", 1}, {"^(?=.*[A-Z])(?=.*\\d).{8,}$", "Secre12", 0},
		{"^(?!.*\\.\\.)[a-z.]+$", "a.b.c", 1}, {"^(?!.*\\.\\.)[a-z.]+$", "a..b", 0},
		{"^(?!admin$)\\w+$", "admin", 0}, {"^(?!admin$)\\w+$", "admins", 1},
		{"(?<=\\$)\\d+", "cost $42", 1}, {"(?<=\\$)\\d+", "cost 42", 0},
		{"(?<!\\d)\\.\\d", ".5", 1}, {"(?<!\\d)\\.\\d", "1.5", 0},
		{"^(?<!x)a", "a", 1}, {"(?<=^ab)c", "abc", 1}, {"(?<=^ab)c", "xabc", 0},
		{"foo(?=bar)", "foobaz foobar", 1}, {"foo(?=bar)", "foobaz", 0},
		{"foo(?=bar$)", "foobarx", 0}, {"(?=\\bw)\\w+(?<=d\\b)", "a word", 1},
		{"(?=\\bw)\\w+(?<=d\\b)", "a words", 0},
		{"^(?=(a|ab)c)", "abc", 1}, {"^(?=a(?!b))", "ab", 0}, {"^(?=a(?!b))", "ac", 1},
		{"(?<=a(?<!ba))c", "bac", 0}, {"(?<=a(?<!ba))c", "cac", 1},
		{"^(?:(?=a)\\w)+$", "aaa", 1}, {"^(?:(?=a)\\w)+$", "aab", 0},
		{"(?<=\u00e9)x", "\xc3\xa9x", 1}, {"^(?=)$", "", 1}, {"(?!)", "a", 0},
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
	/* a lookaround is tabled in one pass, not searched again from every position */
	assert_false(string_valid("pattern", "(?=a*b)", subject));
	assert_true(string_valid("pattern", "(?=a*!)(?<=a*)", subject));
	assert_false(string_valid("pattern", "(?<=b(a+)+)a", subject));
	assert_false(string_valid("pattern", "a(?!(a|aa)*!)", subject));
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
	static const string_case others[] = {
		{"date", "2024-02-29", 1}, {"date", "2023-02-29", 0}, {"date", "2024-1-01", 0}, {"date", "2024-01-01T", 0},
		{"date", "06/19/1963", 0}, {"date", "2013-350", 0},
		{"time", "08:30:06.283185Z", 1}, {"time", "23:59:60Z", 1}, {"time", "15:59:60-08:00", 1},
		{"time", "22:59:60Z", 0}, {"time", "08:30:06", 0}, {"time", "08:30:06 PST", 0}, {"time", "01:01:01,1111", 0},
		{"hostname", "www.example.com", 1}, {"hostname", "xn--nw2a.xn--j6w193g", 1}, {"hostname", "localhost", 1},
		{"hostname", "-a.com", 0}, {"hostname", "a_b.com", 0}, {"hostname", "a..b", 0}, {"hostname", "", 0},
		{"ipv4", "192.168.0.1", 1}, {"ipv4", "0.0.0.0", 1}, {"ipv4", "256.0.0.1", 0}, {"ipv4", "01.2.3.4", 0},
		{"ipv4", "1.2.3", 0}, {"ipv4", "1.2.3.4.5", 0}, {"ipv4", "1.2.3.4 ", 0}, {"ipv4", "\xd9\xa1.2.3.4", 0},
		{"ipv6", "::1", 1}, {"ipv6", "2001:db8::7", 1}, {"ipv6", "::ffff:192.0.2.1", 1}, {"ipv6", "12345::", 0},
		{"ipv6", "1::2::3", 0}, {"ipv6", "fe80::1%eth0", 0},
		{"uri", "http://foo.bar/?baz=qux#quux", 1}, {"uri", "ldap://[2001:db8::7]/c=GB?objectClass?one", 1},
		{"uri", "mailto:John.Doe@example.com", 1}, {"uri", "urn:isbn:0451450523", 1},
		{"uri", "http://[v1.fe80::a+en1]/", 1}, {"uri", "http://u:p@h:8080/p", 1},
		{"uri", "/abc", 0}, {"uri", "abc", 0}, {"uri", "http:// x", 0}, {"uri", "http://h:80a/", 0},
		{"uri", "http://a@b@c/", 0}, {"uri", "http://h/%zz", 0}, {"uri", "http://h/\xc3\xa9", 0},
		{"uri-reference", "/abc", 1}, {"uri-reference", "abc", 1}, {"uri-reference", "", 1},
		{"uri-reference", "#frag", 1}, {"uri-reference", "//host/p", 1}, {"uri-reference", "1a:b", 0},
		{"uri-reference", "\\\\WINDOWS\\share", 0},
		{"iri", "http://\xc6\x92\xc3\xb8\xc3\xb8.com/\xcf\x80", 1}, {"iri", "\xc3\xa2\xcf\x80", 0},
		{"iri-reference", "\xc3\xa2\xcf\x80", 1}, {"iri-reference", "http://h/ x", 0},
		{"uri-template", "http://example.com/{term:1}/{term}{?q,lang*}", 1}, {"uri-template", "plain", 1},
		{"uri-template", "http://example.com/{term", 0}, {"uri-template", "{term:0}", 0},
		{"uri-template", "{}", 0}, {"uri-template", "a b", 0},
		{"json-pointer", "", 1}, {"json-pointer", "/a~1b/0/~0", 1}, {"json-pointer", "a", 0},
		{"json-pointer", "/a~2", 0}, {"json-pointer", "/a~", 0},
		{"relative-json-pointer", "0", 1}, {"relative-json-pointer", "2/a/0", 1}, {"relative-json-pointer", "1#", 1},
		{"relative-json-pointer", "01", 0}, {"relative-json-pointer", "/a", 0}, {"relative-json-pointer", "1##", 0},
		{"regex", "([abc])+\\s+$", 1}, {"regex", "^(?=.*\\d)(?!x)(?<=a)(?<!b).{8,}$", 1},
		{"regex", "(a)\\1", 1}, {"regex", "\\k<n>(?<n>a)", 1}, {"regex", "\\p{Lu}\\P{Script=Greek}", 1},
		{"regex", "^(abc]", 0}, {"regex", "\\Z", 0}, {"regex", "\\1(a)(b)\\3", 0}, {"regex", "\\k<m>(?<n>a)", 0},
		{"regex", "(?=a)*", 0}, {"regex", "(?<n>a)(?<n>b)", 0}, {"regex", "[\\1]", 0}, {"regex", "a**", 0},
	};
	run_string_cases("format", date_times, sizeof date_times / sizeof date_times[0]);
	run_string_cases("format", emails, sizeof emails / sizeof emails[0]);
	run_string_cases("format", others, sizeof others / sizeof others[0]);
	/* formats apply to strings only */
	assert_true(is_valid("{\"format\":\"date-time\"}", "12"));
	assert_true(is_valid("{\"format\":\"email\"}", "{}"));
}

/* $ref: JSON pointers (escaped and percent-encoded), "$id" base URIs, "#name" identifiers, the built-in
 * meta-schema; and what cannot be resolved or would never end is refused when compiling. */
static void test_refs(void **state)
{
	(void)state;
	const char *tree = "{\"$id\":\"http://example.com/tree.json\",\"type\":\"object\","
	                   "\"properties\":{\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"node.json\"}}},"
	                   "\"definitions\":{\"node\":{\"$id\":\"node.json\",\"required\":[\"v\"],"
	                   "\"properties\":{\"v\":{\"$ref\":\"#int\"},\"sub\":{\"$ref\":\"tree.json\"}},"
	                   "\"definitions\":{\"i\":{\"$id\":\"#int\",\"type\":\"integer\"}}}}}";
	assert_true(is_valid(tree, "{\"children\":[{\"v\":1,\"sub\":{\"children\":[{\"v\":2}]}}]}"));
	assert_invalid(tree, "{\"children\":[{\"v\":1,\"sub\":{\"children\":[{\"v\":\"x\"}]}}]}",
	               "$.children[0].sub.children[0].v: expected integer, got string");
	const char *escaped = "{\"definitions\":{\"a/b~c d\":{\"type\":\"string\"}},"
	                      "\"properties\":{\"x\":{\"$ref\":\"#/definitions/a~1b~0c%20d\"}}}";
	assert_invalid(escaped, "{\"x\":1}", "$.x: expected string, got integer");
	/* draft 7: the siblings of $ref are ignored */
	assert_true(is_valid("{\"definitions\":{\"s\":{\"type\":\"string\"}},\"properties\":{\"x\":"
	                     "{\"$ref\":\"#/definitions/s\",\"maxLength\":1}}}", "{\"x\":\"long\"}"));
	/* the draft-07 meta-schema is built in: a schema can check schemas */
	const char *meta = "{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}";
	assert_true(is_valid(meta, "{\"type\":\"object\",\"properties\":{\"a\":{\"minLength\":2}}}"));
	assert_invalid(meta, "{\"properties\":{\"a\":{\"minLength\":-1}}}",
	               "$.properties.a.minLength: less than minimum 0");
	assert_compile_error("{\"properties\":{\"a\":{\"$ref\":\"https://example.com/s.json#/x\"}}}",
	                     "invalid value of JSON Schema keyword \"$ref\" at #/properties/a: cannot resolve "
	                     "\"https://example.com/s.json#/x\": no schema with that URI here (remote schemas are "
	                     "not fetched)");
	assert_compile_error("{\"items\":{\"$ref\":\"#/definitions/missing\"}}",
	                     "invalid value of JSON Schema keyword \"$ref\" at #/items: cannot resolve "
	                     "\"#/definitions/missing\" (tasker:/schema.json#/definitions/missing): it points to "
	                     "nothing");
	assert_compile_error("{\"$ref\":\"#nowhere\"}", "invalid value of JSON Schema keyword \"$ref\" at #: cannot "
	                                            "resolve \"#nowhere\" (tasker:/schema.json#nowhere): it points to "
	                                            "nothing");
	/* cycles that never go into the value would recurse for ever */
	assert_compile_error("{\"allOf\":[{\"$ref\":\"#\"}]}",
	                     "JSON Schema $ref cycle at #: the schema applies itself to the same value without going "
	                     "into it, so validation would never end");
	assert_compile_error("{\"definitions\":{\"a\":{\"not\":{\"$ref\":\"#/definitions/b\"}},"
	                     "\"b\":{\"anyOf\":[{\"$ref\":\"#/definitions/a\"}]}},\"$ref\":\"#/definitions/a\"}",
	                     "JSON Schema $ref cycle at #/definitions/a: the schema applies itself to the same value "
	                     "without going into it, so validation would never end");
	/* recursion that goes into the value is fine */
	assert_true(is_valid("{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}]}",
	                     "[1,[2,[3,[]]]]"));
}

/* A schema reached through $ref is evaluated once per value: schemas that would take 2^40 steps when
 * re-evaluated on every path finish at once. */
static void test_refs_are_memoized(void **state)
{
	(void)state;
	char schema[8192] = "{\"$ref\":\"#/definitions/d0\",\"definitions\":{";
	for (int i = 0; i < 40; i++) {
		char def[160];
		format_into(def, sizeof def, "\"d%d\":{\"allOf\":[{\"$ref\":\"#/definitions/d%d\"},"
		                          "{\"$ref\":\"#/definitions/d%d\"}]},", i, i + 1, i + 1);
		strcat(schema, def);
	}
	strcat(schema, "\"d40\":{\"type\":\"integer\"}}}");
	assert_true(is_valid(schema, "7"));
	assert_invalid(schema, "\"seven\"", "$: expected integer, got string");

	/* the same through the value: each level of the instance doubles the paths */
	const char *doubling = "{\"type\":\"object\",\"properties\":{\"a\":{\"allOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}},"
	                       "\"additionalProperties\":false}";
	char instance[4096] = "", tail[256] = "";
	for (int i = 0; i < 60; i++)
		strcat(instance, "{\"a\":");
	strcat(instance, "{\"b\":1}");
	for (int i = 0; i < 60; i++)
		strcat(instance, "}");
	assert_false(is_valid(doubling, instance));
	const char *msg = tasker_error_last()->message;
	format_into(tail, sizeof tail, ".a.a.b: property is not allowed (additionalProperties is false)");
	assert_true(strlen(msg) > strlen(tail) && strcmp(msg + strlen(msg) - strlen(tail), tail) == 0);
}

static void test_applicator_messages(void **state)
{
	(void)state;
	assert_invalid("{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":3}]}", "1",
	               "$: matches none of the 2 schemas of anyOf");
	assert_invalid("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0},{\"maximum\":-5}]}", "2",
	               "$: matches schemas 0 and 1 of oneOf, not exactly one");
	assert_invalid("{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "2",
	               "$: matches none of the 2 schemas of oneOf");
	assert_invalid("{\"properties\":{\"a\":{\"not\":{\"type\":\"null\"}}}}", "{\"a\":null}",
	               "$.a: matches the schema of not");
	assert_invalid("{\"allOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{\"a\":1}",
	               "$: required property \"b\" is missing");
	const char *cond = "{\"if\":{\"properties\":{\"kind\":{\"const\":\"card\"}}},\"then\":{\"required\":[\"number\"]},"
	                   "\"else\":{\"required\":[\"iban\"]}}";
	assert_invalid(cond, "{\"kind\":\"card\"}", "$: required property \"number\" is missing");
	assert_invalid(cond, "{\"kind\":\"sepa\"}", "$: required property \"iban\" is missing");
	assert_true(is_valid(cond, "{\"kind\":\"sepa\",\"iban\":\"x\"}"));
	assert_invalid("{\"contains\":{\"type\":\"string\"}}", "[1,2]", "$: no item matches the schema of contains");
	assert_invalid("{\"items\":[{},{}],\"additionalItems\":false}", "[1,2,3]",
	               "$[2]: item is not allowed (additionalItems is false)");
	assert_invalid("{\"items\":[{}],\"additionalItems\":{\"type\":\"string\"}}", "[1,2]",
	               "$[1]: expected string, got integer");
	assert_invalid("{\"uniqueItems\":true}", "[1,{\"a\":[1],\"b\":2},3,{\"b\":2,\"a\":[1.0]}]",
	               "$: items 1 and 3 are equal (uniqueItems)");
	assert_invalid("{\"dependencies\":{\"card\":[\"cvv\"]}}", "{\"card\":1}",
	               "$: property \"cvv\" is required when \"card\" is present (dependencies)");
	assert_invalid("{\"dependencies\":{\"card\":{\"properties\":{\"cvv\":{\"type\":\"string\"}}}}}",
	               "{\"card\":1,\"cvv\":2}", "$.cvv: expected string, got integer");
	assert_invalid("{\"propertyNames\":{\"pattern\":\"^[a-z]+$\"}}", "{\"ok\":1,\"Not OK\":2}",
	               "$[\"Not OK\"]: property name is not allowed by propertyNames");
	assert_invalid("{\"minProperties\":2}", "{\"a\":1}", "$: object of 1 properties has fewer than minProperties 2");
	assert_invalid("{\"maxProperties\":1}", "{\"a\":1,\"b\":2}",
	               "$: object of 2 properties has more than maxProperties 1");
	assert_invalid("{\"multipleOf\":0.5}", "1.25", "$: not a multiple of 0.5 (multipleOf)");
}

/* multipleOf tolerates the rounding of binary fractions, and nothing more. */
static void test_multiple_of(void **state)
{
	(void)state;
	assert_true(is_valid("{\"multipleOf\":0.01}", "19.99"));
	assert_true(is_valid("{\"multipleOf\":0.1}", "0.3"));
	assert_false(is_valid("{\"multipleOf\":0.1}", "0.35"));
	assert_true(is_valid("{\"multipleOf\":0.0001}", "0.0075"));
	assert_false(is_valid("{\"multipleOf\":0.0001}", "0.00751"));
	assert_false(is_valid("{\"multipleOf\":1}", "1000000000000000.5"));
	assert_true(is_valid("{\"multipleOf\":3}", "-9"));
	assert_true(is_valid("{\"multipleOf\":3}", "0"));
	assert_false(is_valid("{\"multipleOf\":0.123456789}", "1e308"));
}

/* The draft-4 form a Rails application's schemas may still use: a boolean makes the bound exclusive. */
static void test_draft4_exclusive_bounds(void **state)
{
	(void)state;
	assert_invalid("{\"minimum\":5,\"exclusiveMinimum\":true}", "5", "$: not greater than exclusiveMinimum 5");
	assert_true(is_valid("{\"minimum\":5,\"exclusiveMinimum\":true}", "5.5"));
	assert_true(is_valid("{\"exclusiveMaximum\":false,\"maximum\":5}", "5"));
	assert_invalid("{\"exclusiveMaximum\":true,\"maximum\":5}", "5", "$: not less than exclusiveMaximum 5");
	assert_true(is_valid("{\"exclusiveMinimum\":true}", "-100"));
}

/* uniqueItems hashes: a large array is checked in O(n log n). */
static void test_unique_items_large(void **state)
{
	(void)state;
	tjs_schema *s = compile_ok("{\"uniqueItems\":true}");
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; i < 100000; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(i));
	assert_int_equal(tjs_validate(s, arr), 0);
	cJSON_AddItemToArray(arr, cJSON_CreateNumber(4242.0));
	assert_int_equal(tjs_validate(s, arr), TASKER_ECONTEXT);
	assert_string_equal(tasker_error_last()->message, "$: items 4242 and 100000 are equal (uniqueItems)");
	cJSON_Delete(arr);
	tjs_free(s);
}

/* Validation depth is bounded, so a deep value cannot exhaust the stack through a recursive schema. */
static void test_validation_depth(void **state)
{
	(void)state;
	tjs_schema *s = compile_ok("{\"items\":{\"$ref\":\"#\"}}");
	cJSON *root = cJSON_CreateArray(), *cur = root;
	for (int i = 0; i < 900; i++) {
		cJSON *next = cJSON_CreateArray();
		cJSON_AddItemToArray(cur, next);
		cur = next;
	}
	assert_int_equal(tjs_validate(s, root), TASKER_ECONTEXT);
	assert_non_null(strstr(tasker_error_last()->message, ": nested more than 512 levels deep for this schema"));
	assert_int_equal(strncmp(tasker_error_last()->message, "$[0][0][0]", 10), 0);
	cJSON_Delete(root);
	tjs_free(s);
}

/* Messages name the path and the rule, never the value (contexts hold personal data). */
static void test_messages_never_echo_values(void **state)
{
	(void)state;
	static const struct {
		const char *schema, *instance;
	} cases[] = {
		{"{\"properties\":{\"ssn\":{\"maximum\":10}}}", "{\"ssn\":987654321}"},
		{"{\"properties\":{\"ssn\":{\"multipleOf\":2}}}", "{\"ssn\":987654321}"},
		{"{\"properties\":{\"ssn\":{\"type\":\"string\"}}}", "{\"ssn\":987654321}"},
		{"{\"properties\":{\"ssn\":{\"pattern\":\"^x\"}}}", "{\"ssn\":\"987654321\"}"},
		{"{\"properties\":{\"ssn\":{\"format\":\"email\"}}}", "{\"ssn\":\"987654321\"}"},
		{"{\"properties\":{\"ssn\":{\"enum\":[1]}}}", "{\"ssn\":\"987654321\"}"},
		{"{\"properties\":{\"ssn\":{\"maxLength\":3}}}", "{\"ssn\":\"987654321\"}"},
		{"{\"properties\":{\"ssn\":{\"not\":{}}}}", "{\"ssn\":\"987654321\"}"},
		{"{\"uniqueItems\":true}", "[\"987654321\",\"987654321\"]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_false(is_valid(cases[i].schema, cases[i].instance));
		if (strstr(tasker_error_last()->message, "987654321"))
			fail_msg("%s echoes the value: %s", cases[i].schema, tasker_error_last()->message);
	}
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
		{"$comment", "\"c\""}, {"multipleOf", "0.5"}, {"additionalItems", "false"}, {"uniqueItems", "true"},
		{"contains", "{}"}, {"maxProperties", "3"}, {"minProperties", "1"}, {"dependencies", "{\"a\":[\"b\"]}"},
		{"propertyNames", "{\"maxLength\":3}"}, {"if", "true"}, {"then", "true"}, {"else", "false"},
		{"allOf", "[true]"}, {"anyOf", "[true]"}, {"oneOf", "[true]"}, {"not", "false"}, {"$ref", "\"http://json-schema.org/draft-07/schema#\""},
		{"definitions", "{\"a\":true}"}, {"readOnly", "true"}, {"writeOnly", "false"},
		{"contentMediaType", "\"application/json\""}, {"contentEncoding", "\"base64\""},
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
		format_into(schema, sizeof schema, "{\"%s\":%s}", kw, samples[i].value);
		tjs_schema *compiled = compile_ok(schema);
		if (tjs_ignored_count(compiled))
			fail_msg("keyword %s is listed as supported but ignored: %s", kw, tjs_ignored(compiled, 0));
		tjs_free(compiled);
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
		cmocka_unit_test(test_ignored_keywords),
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
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_refs_are_memoized),
		cmocka_unit_test(test_applicator_messages),
		cmocka_unit_test(test_multiple_of),
		cmocka_unit_test(test_draft4_exclusive_bounds),
		cmocka_unit_test(test_unique_items_large),
		cmocka_unit_test(test_validation_depth),
		cmocka_unit_test(test_messages_never_echo_values),
		cmocka_unit_test(test_supported_keywords),
		cmocka_unit_test(test_api_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
