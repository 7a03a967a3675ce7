/*
 * Unit tests for request validation: formats (timestamps, dates, phones,
 * ID numbers, codes, languages), limits counted in code points, cross-field
 * rules, and messages that never echo submitted values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"
#include "unit.h"

static const time_t NOW = 1795320000;	/* 2026-11-22T12:00:00+08:00 */

static const char CALL[] = "{\"started_at\":\"2026-11-01T09:00:00+08:00\","
    "\"ended_at\":\"2026-11-01T09:10:00+08:00\",\"caller_type\":\"unknown\","
    "\"disposition\":\"silent\"}";

static const char REPORT[] = "{\"reporter\":{\"name\":\"R\",\"phone\":"
    "\"13800000002\",\"profession\":\"teacher\"},\"institution\":{\"name\":"
    "\"I\",\"type\":\"school\"},\"child\":{\"region_code\":\"320102\"},"
    "\"situations\":[2],\"suspected\":true,\"discovered_at\":"
    "\"2026-11-01T08:00:00+08:00\",\"reported_at\":"
    "\"2026-11-01T09:00:00+08:00\",\"narrative\":\"N\","
    "\"immediate_danger\":false}";

/* Validate a call with one member replaced (or added) by raw JSON. */
static int
call_with(const char *key, const char *json, struct api_error *err)
{
	struct json_object *o = json_tokener_parse(CALL), *v;
	int rc;

	if (key != NULL) {
		v = json_tokener_parse(json);
		json_object_object_add(o, key, v);
	}
	rc = validate_call(o, NOW, err);
	json_object_put(o);
	return rc;
}

/* Validate a report with one child member set to raw JSON. */
static int
report_child(const char *key, const char *json, struct api_error *err)
{
	struct json_object *o = json_tokener_parse(REPORT), *c;
	int rc;

	json_object_object_get_ex(o, "child", &c);
	json_object_object_add(c, key, json_tokener_parse(json));
	rc = validate_report(o, NOW, err);
	json_object_put(o);
	return rc;
}

/* Validate a report with a top-level member set to raw JSON. */
static int
report_with(const char *key, const char *json, struct api_error *err)
{
	struct json_object *o = json_tokener_parse(REPORT);
	int rc;

	json_object_object_add(o, key, json_tokener_parse(json));
	rc = validate_report(o, NOW, err);
	json_object_put(o);
	return rc;
}

#define EXPECT(expr, code_, field_, what) do {				\
	struct api_error e_;						\
	memset(&e_, 0, sizeof(e_));					\
	int rc_ = (expr);						\
	(void)rc_;							\
	CHECK(rc_ == -1 && e_.code && strcmp(e_.code, code_) == 0 &&	\
	    strcmp(e_.field, field_) == 0, "%s -> %s %s", what, code_,	\
	    field_);							\
	if (rc_ != -1 || strcmp(e_.code ? e_.code : "", code_) != 0)	\
		printf("#   got rc=%d %s %s\n", rc_,			\
		    e_.code ? e_.code : "-", e_.field);			\
} while (0)

#define ACCEPT(expr, what) do {						\
	struct api_error e_;						\
	memset(&e_, 0, sizeof(e_));					\
	int rc_ = (expr);						\
	CHECK(rc_ == 0, "%s is accepted", what);			\
	if (rc_ != 0)							\
		printf("#   got %s %s\n", e_.code, e_.field);		\
} while (0)

int
main(void)
{
	static char big[16001 * 3 + 8];
	struct api_error err;
	size_t i;

	ACCEPT(call_with(NULL, NULL, &e_), "a minimal silent call");
	ACCEPT(report_with("situations", "[1,9]", &e_), "a minimal report");

	/* Timestamps. */
	ACCEPT(call_with("started_at", "\"2026-11-01T01:00:00Z\"", &e_),
	    "UTC 'Z'");
	ACCEPT(call_with("started_at", "\"2026-11-01T09:00:00.123456789+08:00\"",
	    &e_), "nanosecond fraction");
	EXPECT(call_with("started_at", "\"2026-11-01t09:00:00+08:00\"", &e_),
	    "invalid_value", "started_at", "lowercase t");
	EXPECT(call_with("started_at", "\"2026-11-01T25:00:00+08:00\"", &e_),
	    "invalid_value", "started_at", "hour 25");
	EXPECT(call_with("started_at", "\"2026-11-01T09:00:60+08:00\"", &e_),
	    "invalid_value", "started_at", "leap second 60");
	EXPECT(call_with("started_at", "\"2026-11-01T09:00:00\"", &e_),
	    "invalid_value", "started_at", "no offset");
	EXPECT(call_with("started_at", "\"2026-11-01T09:00:00+0800\"", &e_),
	    "invalid_value", "started_at", "offset without colon");
	EXPECT(call_with("started_at", "\"2026-02-29T09:00:00+08:00\"", &e_),
	    "invalid_value", "started_at", "Feb 29 in 2026");
	EXPECT(call_with("started_at", "\"2026-11-01T09:00:00.+08:00\"", &e_),
	    "invalid_value", "started_at", "empty fraction");
	EXPECT(call_with("started_at", "1793000000", &e_),
	    "wrong_type", "started_at", "a number for a timestamp");
	EXPECT(call_with("ended_at", "\"2026-11-23T09:00:00+08:00\"", &e_),
	    "out_of_range", "ended_at", "ending tomorrow");
	EXPECT(call_with("ended_at", "\"2026-11-01T00:59:59Z\"", &e_),
	    "inconsistent", "ended_at", "ending before it started");
	ACCEPT(call_with("ended_at", "\"2026-11-01T01:00:00Z\"", &e_),
	    "ending the same instant in another offset");

	/* Phones. */
	ACCEPT(call_with("caller_phone", "\"13912345678\"", &e_), "mobile");
	ACCEPT(call_with("caller_phone", "\"010-12345678\"", &e_), "Beijing");
	ACCEPT(call_with("caller_phone", "\"075512345678\"", &e_),
	    "landline without dash");
	ACCEPT(call_with("caller_phone", "\"+8613912345678\"", &e_), "E.164");
	EXPECT(call_with("caller_phone", "\"12912345678\"", &e_),
	    "invalid_value", "caller_phone", "mobile starting 12");
	EXPECT(call_with("caller_phone", "\"1391234567\"", &e_),
	    "invalid_value", "caller_phone", "10-digit mobile");
	EXPECT(call_with("caller_phone", "\"139 1234 5678\"", &e_),
	    "invalid_value", "caller_phone", "spaces");

	/* Languages and topics. */
	ACCEPT(call_with("language", "\"zh-yue\"", &e_), "zh-yue");
	ACCEPT(call_with("language", "\"bo\"", &e_), "Tibetan");
	EXPECT(call_with("language", "\"z\"", &e_), "invalid_value",
	    "language", "one letter");
	EXPECT(call_with("language", "\"ZH\"", &e_), "invalid_value",
	    "language", "uppercase primary");
	EXPECT(call_with("topic", "{\"category\":\"Abuse\"}", &e_),
	    "invalid_value", "topic.category", "uppercase code");
	EXPECT(call_with("topic", "{\"subcategory\":\"neglect\"}", &e_),
	    "missing_field", "topic.category", "topic without category");
	EXPECT(call_with("topic", "null", &e_), "wrong_type", "topic",
	    "null topic");

	/* ID numbers and dates. */
	ACCEPT(report_child("id_number", "\"11010519491231002X\"", &e_),
	    "ID number with X check character");
	EXPECT(report_child("id_number", "\"11010519491231002x\"", &e_),
	    "invalid_value", "child.id_number", "lowercase x");
	EXPECT(report_child("id_number", "\"110105194912310021\"", &e_),
	    "invalid_value", "child.id_number", "wrong check digit");
	EXPECT(report_child("id_number", "\"110105194902300025\"", &e_),
	    "invalid_value", "child.id_number", "Feb 30 birth date");
	EXPECT(report_child("birth_date", "\"2030-01-01\"", &e_),
	    "out_of_range", "child.birth_date", "birth date in the future");
	EXPECT(report_child("birth_date", "\"2024-2-01\"", &e_),
	    "invalid_value", "child.birth_date", "one-digit month");
	ACCEPT(report_child("birth_date", "\"2024-02-29\"", &e_),
	    "Feb 29 of a leap year");
	EXPECT(report_child("region_code", "\"020102\"", &e_),
	    "invalid_value", "child.region_code", "region starting 0");
	EXPECT(report_child("region_code", "320102", &e_),
	    "wrong_type", "child.region_code", "region as a number");
	EXPECT(report_child("age", "-1", &e_), "out_of_range", "child.age",
	    "negative age");

	/* Texts: limits in code points, control characters, blanks. */
	for (i = 0; i < 16000; i++)
		memcpy(big + 3 * i, "\xe6\xb5\x8b", 3);
	big[3 * 16000] = '\0';
	{
		struct json_object *o = json_tokener_parse(REPORT);

		json_object_object_add(o, "narrative",
		    json_object_new_string(big));
		CHECK(validate_report(o, NOW, &err) == 0,
		    "16000 Chinese characters fit the narrative limit");
		memcpy(big + 3 * 16000, "\xe6\xb5\x8b", 4);
		json_object_object_add(o, "narrative",
		    json_object_new_string(big));
		CHECK(validate_report(o, NOW, &err) == -1 &&
		    strcmp(err.code, "too_long") == 0,
		    "16001 Chinese characters are too long");
		json_object_object_add(o, "narrative",
		    json_object_new_string("a\r\nb\tc"));
		CHECK(validate_report(o, NOW, &err) == 0,
		    "CRLF and tab are allowed in text");
		json_object_object_add(o, "narrative",
		    json_object_new_string("a\rb"));
		CHECK(validate_report(o, NOW, &err) == -1 &&
		    strcmp(err.code, "invalid_value") == 0,
		    "a lone CR is refused");
		json_object_put(o);
	}
	EXPECT(report_with("actions_taken", "\"\"", &e_), "empty",
	    "actions_taken", "empty optional text");
	EXPECT(report_with("suspected", "1", &e_), "wrong_type", "suspected",
	    "1 for a boolean");
	EXPECT(report_with("situations", "[2,2.0]", &e_), "wrong_type",
	    "situations[1]", "2.0 as a situation");
	EXPECT(report_with("situations", "[1,2,3,4,5,6,7,8,9,1]", &e_),
	    "too_long", "situations", "ten situations");
	EXPECT(report_with("situations", "\"2\"", &e_), "wrong_type",
	    "situations", "situations as a string");

	/* Messages never carry the submitted value. */
	{
		struct json_object *o = json_tokener_parse(REPORT), *r;

		json_object_object_get_ex(o, "reporter", &r);
		json_object_object_add(r, "phone",
		    json_object_new_string("SECRET-13800000009"));
		CHECK(validate_report(o, NOW, &err) == -1 &&
		    strstr(err.message, "SECRET") == NULL &&
		    strcmp(err.field, "reporter.phone") == 0,
		    "an invalid phone is not echoed");
		json_object_put(o);
	}

	/* Header and path formats. */
	CHECK(validate_idempotency_key("4f1c2a7e-1b2c-4d5e-8f90-abcdef012345")
	    == 0, "a UUID is a valid Idempotency-Key");
	CHECK(validate_idempotency_key("a b") == -1, "a key with a space");
	CHECK(validate_idempotency_key("") == -1, "an empty key");
	memset(big, 'k', 129);
	big[129] = '\0';
	CHECK(validate_idempotency_key(big) == -1, "a 129-character key");
	big[128] = '\0';
	CHECK(validate_idempotency_key(big) == 0, "a 128-character key");
	CHECK(validate_case_number("2026-320102-00000001") == 0,
	    "a case number");
	CHECK(validate_case_number("2026-320102-0000001") == -1,
	    "a short sequence");
	CHECK(validate_case_number("2026-020102-00000001") == -1,
	    "a region starting 0");
	CHECK(validate_case_number("../../etc/passwd") == -1,
	    "a path traversal");
	UNIT_EXIT();
}
