/*
 * Unit tests for the strict JSON parser: every deviation from RFC 8259
 * that json-c would accept is refused, and accepted input decodes exactly.
 */
#include <stdio.h>
#include <string.h>

#include "hotlined.h"
#include "unit.h"

/* Parse a NUL-terminated string. */
#define PARSE(lit, err)	parse(lit, strlen(lit), err)

/* Parse a byte string of explicit length. */
static struct json_object *
parse(const char *s, size_t len, struct api_error *err)
{
	return json_parse_strict(s, len, JSON_MAX_DEPTH, err);
}

/* Check that the input is refused as invalid_json. */
static void
refuse(const char *s, size_t len, const char *why)
{
	struct api_error err;
	struct json_object *o = parse(s, len, &err);

	CHECK(o == NULL && err.status == 400 && err.code != NULL &&
	    strcmp(err.code, "invalid_json") == 0, "refuses %s", why);
	json_object_put(o);
}

#define REFUSE(lit, why)	refuse(lit, sizeof(lit) - 1, why)

/* Build a nesting of n arrays. */
static void
nest(char *buf, int n)
{
	memset(buf, '[', (size_t)n);
	memset(buf + n, ']', (size_t)n);
	buf[2 * n] = '\0';
}

int
main(void)
{
	struct api_error err;
	struct json_object *o, *v;
	char deep[64];

	REFUSE("NaN", "NaN");
	REFUSE("{\"a\":NaN}", "NaN in an object");
	REFUSE("[Infinity]", "Infinity");
	REFUSE("[-Infinity]", "-Infinity");
	REFUSE("[01]", "leading zero");
	REFUSE("[-01]", "negative leading zero");
	REFUSE("[2.]", "'2.'");
	REFUSE("[.5]", "'.5'");
	REFUSE("[+1]", "'+1'");
	REFUSE("[1e]", "'1e'");
	REFUSE("[0x5]", "hex number");
	REFUSE("[1,]", "trailing comma in an array");
	REFUSE("{\"a\":1,}", "trailing comma in an object");
	REFUSE("{'a':1}", "single-quoted key");
	REFUSE("[\'a\']", "single-quoted string");
	REFUSE("{a:1}", "unquoted key");
	REFUSE("[\"a\tb\"]", "raw tab in a string");
	REFUSE("[\"a\nb\"]", "raw newline in a string");
	REFUSE("[\"\\x41\"]", "\\x escape");
	REFUSE("[\"\\U0041\"]", "\\U escape");
	REFUSE("[\"\\'\"]", "\\' escape");
	REFUSE("[\"\\u0000\"]", "\\u0000");
	REFUSE("[\"\\u12\"]", "short \\u escape");
	REFUSE("[\"\xc0\xaf\"]", "overlong UTF-8");
	REFUSE("[\"\xe0\x80\xaf\"]", "overlong 3-byte UTF-8");
	REFUSE("[\"\xed\xa0\x80\"]", "surrogate encoded in UTF-8");
	REFUSE("[\"\xf4\x90\x80\x80\"]", "code point above U+10FFFF");
	REFUSE("[\"\xe4\xb8\"]", "truncated UTF-8");
	REFUSE("[\"\x80\"]", "stray continuation byte");
	REFUSE("[\"\xff\"]", "byte 0xFF");
	REFUSE("[\"\\ud800\"]", "lone high surrogate");
	REFUSE("[\"\\udc00\\ud800\"]", "low surrogate first");
	REFUSE("[\"\\ud800\\u0041\"]", "high surrogate then non-low");
	REFUSE("{\"a\":1,\"a\":2}", "duplicate key");
	REFUSE("{\"a\":1,\"\\u0061\":2}", "duplicate key spelt with an escape");
	REFUSE("[9223372036854775808]", "integer above int64");
	REFUSE("[-9223372036854775809]", "integer below int64");
	REFUSE("[1e400]", "double overflowing to infinity");
	REFUSE("", "empty input");
	REFUSE("   ", "only white space");
	REFUSE("{} x", "data after the value");
	REFUSE("{}{}", "two values");
	REFUSE("\xef\xbb\xbf{}", "a UTF-8 byte order mark");
	REFUSE("[tru]", "truncated literal");
	REFUSE("[True]", "capitalised literal");
	REFUSE("{\"a\" 1}", "missing colon");
	REFUSE("[1 2]", "missing comma");
	REFUSE("{\"a\":1", "unterminated object");
	REFUSE("[\"abc", "unterminated string");
	REFUSE("\f[]", "form feed as white space");
	refuse("{\"a\":\"x\0y\"}", 11, "an embedded NUL byte");
	refuse("{\"a\":1}\0", 8, "a trailing NUL byte");
	nest(deep, JSON_MAX_DEPTH + 1);
	refuse(deep, strlen(deep), "nesting one level too deep");

	nest(deep, JSON_MAX_DEPTH);
	o = parse(deep, strlen(deep), &err);
	CHECK(o != NULL, "accepts nesting at exactly the limit");
	json_object_put(o);

	o = PARSE("{\"s\":\"\\ud83d\\ude00\"}", &err);
	CHECK(o != NULL && json_object_object_get_ex(o, "s", &v) &&
	    strcmp(json_object_get_string(v), "\xf0\x9f\x98\x80") == 0,
	    "surrogate pair decodes to U+1F600");
	json_object_put(o);

	o = PARSE("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u4e2d\"]", &err);
	CHECK(o != NULL && strcmp(json_object_get_string(
	    json_object_array_get_idx(o, 0)),
	    "\"\\/\b\f\n\r\t\xc3\xa9\xe4\xb8\xad") == 0,
	    "every escape decodes");
	json_object_put(o);

	o = PARSE("[9223372036854775807,-9223372036854775808,-0,1.5e3]", &err);
	CHECK(o != NULL && json_object_get_int64(json_object_array_get_idx(o,
	    0)) == 9223372036854775807LL, "largest int64 accepted");
	CHECK(o != NULL && json_object_get_int64(json_object_array_get_idx(o,
	    1)) == (-9223372036854775807LL - 1), "smallest int64 accepted");
	CHECK(o != NULL && json_object_is_type(json_object_array_get_idx(o, 2),
	    json_type_int), "-0 is an integer");
	CHECK(o != NULL && json_object_is_type(json_object_array_get_idx(o, 3),
	    json_type_double) && json_object_get_double(
	    json_object_array_get_idx(o, 3)) == 1500.0, "1.5e3 is a double");
	json_object_put(o);

	o = PARSE(" \t\r\n{\"名字\":\"测试\",\"x\":[true,false,null,{}]} \n", &err);
	CHECK(o != NULL && json_object_object_get_ex(o, "名字", &v) &&
	    strcmp(json_object_get_string(v), "测试") == 0,
	    "Chinese keys and values, white space around");
	CHECK(o != NULL && json_object_object_get_ex(o, "x", &v) &&
	    json_object_array_length(v) == 4 &&
	    json_object_array_get_idx(v, 2) == NULL &&
	    json_object_get_boolean(json_object_array_get_idx(v, 0)),
	    "literals decode");
	json_object_put(o);

	o = PARSE("null", &err);
	CHECK(o == NULL && err.status == 0, "top-level null is valid");

	o = PARSE("{\"name\":\"SECRETNAME\",\"name\":\"x\"}", &err);
	CHECK(o == NULL && strstr(err.message, "SECRETNAME") == NULL &&
	    strstr(err.message, "offset") != NULL,
	    "error message gives an offset, never the value");
	UNIT_EXIT();
}
