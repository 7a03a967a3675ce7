/*
 * Unit tests for request validation: valid calls and reports, one failing
 * case at least per error code and per format (each asserting the code and
 * the field path), limits counted in code points, cross-field rules, the
 * order in which problems are found, header and path formats, and
 * messages that never echo submitted values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"
#include "unit.h"

/* 2026-11-22T12:00:00+08:00: every base body lies before it. */
static const time_t NOW = 1795320000;

/* Submitted values carrying this must never show up in an error. */
#define SECRET	"SECRET"

/* A call with every optional field but open_case. */
static const char CALL[] = "{"
    "\"started_at\": \"2026-11-01T09:00:00+08:00\","
    "\"ended_at\": \"2026-11-01T09:12:30+08:00\","
    "\"caller_type\": \"child_self\","
    "\"caller_phone\": \"13800000001\","
    "\"language\": \"zh\","
    "\"topic\": {\"category\": \"psychological\","
    "  \"subcategory\": \"study_pressure\"},"
    "\"summary\": \"（测试）初二学生考试焦虑，已疏导。\","
    "\"disposition\": \"counselled\"}";

/* The child with every field, as in calls and reports. */
#define CHILD "{"							\
    "\"name\": \"测试儿童甲\", \"gender\": \"female\", \"age\": 11,"	\
    "\"birth_date\": \"2015-03-12\","					\
    "\"id_number\": \"320102201503120025\","				\
    "\"phone\": \"13800000009\", \"school\": \"测试市第一小学\","	\
    "\"address\": \"测试路1号\", \"region_code\": \"320102\"}"

/* A call that opens a case. */
static const char CASE_CALL[] = "{"
    "\"started_at\": \"2026-11-01T09:00:00+08:00\","
    "\"ended_at\": \"2026-11-01T09:12:30+08:00\","
    "\"caller_type\": \"about_child\","
    "\"caller_phone\": \"025-84561234\","
    "\"topic\": {\"category\": \"abuse\"},"
    "\"disposition\": \"case_opened\","
    "\"open_case\": {"
    "  \"categories\": [{\"category\": \"abuse\","
    "    \"subcategory\": \"physical_abuse\"},"
    "    {\"category\": \"bullying\", \"subcategory\": \"physical\"}],"
    "  \"risk_level\": 2,"
    "  \"child\": " CHILD ","
    "  \"narrative\": \"（测试）邻居来电称多次听到孩子哭喊。\"}}";

/* A report with every field. */
static const char REPORT[] = "{"
    "\"reporter\": {\"name\": \"测试教师乙\", \"phone\": \"13800000002\","
    "  \"id_number\": \"320104198507041234\", \"profession\": \"teacher\"},"
    "\"institution\": {\"name\": \"测试市第一小学\", \"type\": \"school\","
    "  \"region_code\": \"320102\"},"
    "\"child\": " CHILD ","
    "\"situations\": [1, 2],"
    "\"suspected\": true,"
    "\"discovered_at\": \"2026-11-01T08:30:00+08:00\","
    "\"reported_at\": \"2026-11-01T09:05:00+08:00\","
    "\"narrative\": \"（测试）学生向班主任透露被亲属猥亵。\","
    "\"immediate_danger\": false,"
    "\"actions_taken\": \"（测试）已陪同学生并通知学校安保。\"}";

/* The least a call and a report can be, and a call just before NOW. */
static const char MIN_CALL[] = "{"
    "\"started_at\": \"2026-11-01T09:00:00+08:00\","
    "\"ended_at\": \"2026-11-01T09:00:05+08:00\","
    "\"caller_type\": \"unknown\", \"disposition\": \"silent\"}";
static const char RECENT_CALL[] = "{"
    "\"started_at\": \"2026-11-22T11:55:00+08:00\","
    "\"ended_at\": \"2026-11-22T11:59:00+08:00\","
    "\"caller_type\": \"unknown\", \"disposition\": \"hang_up\"}";
static const char MIN_REPORT[] = "{"
    "\"reporter\": {\"name\": \"甲\", \"phone\": \"13800000002\","
    "  \"profession\": \"other\"},"
    "\"institution\": {\"name\": \"乙\", \"type\": \"other\"},"
    "\"child\": {\"region_code\": \"320104\"},"
    "\"situations\": [9], \"suspected\": false,"
    "\"discovered_at\": \"2026-11-01T08:30:00Z\","
    "\"reported_at\": \"2026-11-01T08:30:00Z\","
    "\"narrative\": \"丙\", \"immediate_danger\": true}";

static struct api_error e;

/* Follow one path component ("name" or "name[i]") from o. */
static struct json_object *
step(struct json_object *o, const char *comp)
{
	struct json_object *v = NULL;
	char name[64];
	const char *br = strchr(comp, '[');

	if (br == NULL) {
		json_object_object_get_ex(o, comp, &v);
		return v;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(br - comp), comp);
	json_object_object_get_ex(o, name, &v);
	return json_object_array_get_idx(v, (size_t)atoi(br + 1));
}

/*
 * Validate base with the member at path (dotted, with [i] for array items)
 * set to v (taking it), or deleted when del; a call or a report by base.
 */
static int
edit(const char *base, const char *path, int del, struct json_object *v)
{
	struct json_object *o = json_tokener_parse(base), *p = o;
	char buf[256], *comp, *dot, *br;
	int rc, report = json_object_object_get_ex(o, "reporter", NULL);

	memset(&e, 0, sizeof(e));
	if (path != NULL) {
		snprintf(buf, sizeof(buf), "%s", path);
		for (comp = buf; (dot = strchr(comp, '.')) != NULL;
		    comp = dot + 1) {
			*dot = '\0';
			p = step(p, comp);
		}
		if ((br = strchr(comp, '[')) != NULL) {
			*br = '\0';
			json_object_object_get_ex(p, comp, &p);
			json_object_array_put_idx(p, (size_t)atoi(br + 1), v);
		} else if (del)
			json_object_object_del(p, comp);
		else
			json_object_object_add(p, comp, v);
	}
	rc = report ? validate_report(o, NOW, &e) : validate_call(o, NOW, &e);
	json_object_put(o);
	return rc;
}

/* Validate base with the member at path set to raw JSON. */
static int
set(const char *base, const char *path, const char *json)
{
	return edit(base, path, 0, json_tokener_parse(json));
}

/* Validate base with the member at path set to a string. */
static int
str(const char *base, const char *path, const char *s)
{
	return edit(base, path, 0, json_object_new_string(s));
}

/* Validate base without the member at path. */
static int
del(const char *base, const char *path)
{
	return edit(base, path, 1, NULL);
}

/* Validate raw JSON as a call (or a report when report is set). */
static int
raw(const char *json, int report)
{
	struct json_object *o = json_tokener_parse(json);
	int rc;

	memset(&e, 0, sizeof(e));
	rc = report ? validate_report(o, NOW, &e) : validate_call(o, NOW, &e);
	json_object_put(o);
	return rc;
}

/* Assert acceptance. */
static void
pass(int rc, const char *what)
{
	CHECK(rc == 0, "%s is accepted", what);
	if (rc != 0)
		printf("#   got %s at '%s': %s\n", e.code, e.field, e.message);
}

/* Assert a 400 with this code and field, a message, and no secret. */
static void
fail(int rc, const char *code, const char *field, const char *what)
{
	int ok = rc == -1 && e.status == 400 && e.code != NULL &&
	    strcmp(e.code, code) == 0 && strcmp(e.field, field) == 0 &&
	    e.message[0] != '\0' && strstr(e.message, SECRET) == NULL;

	CHECK(ok, "%s -> %s at '%s'", what, code, field);
	if (!ok)
		printf("#   got rc %d, %d %s at '%s': %s\n", rc, e.status,
		    e.code ? e.code : "-", e.field, e.message);
}

/* Fill buf with n copies of a UTF-8 character; returns buf. */
static char *
repeat(char *buf, const char *ch, size_t n)
{
	size_t i, len = strlen(ch);

	for (i = 0; i < n; i++)
		memcpy(buf + i * len, ch, len);
	buf[n * len] = '\0';
	return buf;
}

/* Whole bodies, and the order in which problems are found. */
static void
test_bodies(void)
{
	pass(raw(CALL, 0), "a call with every optional field");
	pass(raw(CASE_CALL, 0), "a call that opens a case");
	pass(raw(REPORT, 1), "a report with every field");
	pass(raw(MIN_CALL, 0), "a minimal silent call");
	pass(raw(MIN_REPORT, 1), "a minimal report");
	pass(str(MIN_CALL, "disposition", "abusive"), "an abusive call");

	fail(raw("[]", 0), "not_an_object", "", "an array body");
	fail(raw("\"x\"", 1), "not_an_object", "", "a string body");
	CHECK(validate_call(NULL, NOW, &e) == -1 &&
	    strcmp(e.code, "not_an_object") == 0, "a null body");

	fail(del(CALL, "disposition"), "missing_field", "disposition",
	    "no disposition");
	fail(del(CASE_CALL, "open_case.child.region_code"), "missing_field",
	    "open_case.child.region_code", "no child region");
	fail(del(REPORT, "reporter.name"), "missing_field", "reporter.name",
	    "no reporter name");
	fail(del(REPORT, "immediate_danger"), "missing_field",
	    "immediate_danger", "no immediate_danger");
	fail(set(CALL, "topic", "{\"subcategory\": \"neglect\"}"),
	    "missing_field", "topic.category", "a topic without category");
	fail(set(CASE_CALL, "open_case.categories[0]",
	    "{\"category\": \"abuse\"}"), "missing_field",
	    "open_case.categories[0].subcategory",
	    "a case category without subcategory");

	fail(set(CALL, "operator_name", "\"x\""), "unknown_field",
	    "operator_name", "an unknown top-level field");
	fail(set(CASE_CALL, "open_case.child.nickname", "\"x\""),
	    "unknown_field", "open_case.child.nickname",
	    "an unknown field of the child");
	fail(set(REPORT, "reporter.email", "\"x\""), "unknown_field",
	    "reporter.email", "an unknown field of the reporter");
	fail(set(CASE_CALL, "open_case.categories[1]", "{\"category\": "
	    "\"abuse\", \"subcategory\": \"neglect\", \"note\": 1}"),
	    "unknown_field", "open_case.categories[1].note",
	    "an unknown field in an array item");

	/* Order: unknown members first, then the protocol's table order. */
	fail(raw("{\"start_at\": \"2026-11-01T09:00:00Z\"}", 0),
	    "unknown_field", "start_at",
	    "an unknown field before missing ones");
	fail(raw("{\"started_at\": \"2026-11-01T09:00:00Z\", \"ended_at\": "
	    "\"2026-11-01T08:00:00Z\", \"caller_type\": \"x\"}", 0),
	    "inconsistent", "ended_at",
	    "ended_at before started_at is found before later fields");
	fail(raw("{\"reporter\": 1, \"child\": 2}", 1), "wrong_type",
	    "reporter", "the first field in table order");
}

/* JSON types: 3.0 is not an integer, "1" not a boolean, null not anything. */
static void
test_types(void)
{
	fail(set(REPORT, "child.age", "3.0"), "wrong_type", "child.age",
	    "age 3.0");
	fail(set(REPORT, "child.age", "1.2e1"), "wrong_type", "child.age",
	    "age 1.2e1");
	fail(set(CASE_CALL, "open_case.child.age", "\"11\""), "wrong_type",
	    "open_case.child.age", "age as a string");
	fail(set(REPORT, "child.age", "null"), "wrong_type", "child.age",
	    "age null");
	fail(set(REPORT, "suspected", "1"), "wrong_type", "suspected",
	    "1 for a boolean");
	fail(set(REPORT, "immediate_danger", "\"false\""), "wrong_type",
	    "immediate_danger", "\"false\" for a boolean");
	fail(set(REPORT, "situations", "\"2\""), "wrong_type", "situations",
	    "situations as a string");
	fail(set(REPORT, "situations", "[2, 2.0]"), "wrong_type",
	    "situations[1]", "situation 2.0");
	fail(set(CALL, "started_at", "1793500000"), "wrong_type",
	    "started_at", "a number for a timestamp");
	fail(set(CALL, "topic", "null"), "wrong_type", "topic", "topic null");
	fail(set(REPORT, "child", "[]"), "wrong_type", "child",
	    "child as an array");
	fail(set(REPORT, "child.region_code", "320102"), "wrong_type",
	    "child.region_code", "region code as a number");
	fail(set(CASE_CALL, "open_case.categories", "{}"), "wrong_type",
	    "open_case.categories", "categories as an object");
	fail(set(CASE_CALL, "open_case.categories[0]", "\"abuse\""),
	    "wrong_type", "open_case.categories[0]", "a category as a string");
	fail(set(CASE_CALL, "open_case.risk_level", "2.5"), "wrong_type",
	    "open_case.risk_level", "risk level 2.5");
}

/* Enumerations and numeric ranges. */
static void
test_values(void)
{
	fail(str(CALL, "caller_type", SECRET), "invalid_value", "caller_type",
	    "an unknown caller type");
	fail(str(CALL, "disposition", "Counselled"), "invalid_value",
	    "disposition", "a capitalised disposition");
	fail(str(REPORT, "child.gender", "girl"), "invalid_value",
	    "child.gender", "an unknown gender");
	fail(str(REPORT, "reporter.profession", "plumber"), "invalid_value",
	    "reporter.profession", "an unknown profession");
	fail(str(REPORT, "institution.type", "church"), "invalid_value",
	    "institution.type", "an unknown institution type");

	pass(set(REPORT, "child.age", "0"), "age 0");
	pass(set(REPORT, "child.age", "17"), "age 17");
	fail(set(REPORT, "child.age", "18"), "out_of_range", "child.age",
	    "age 18");
	fail(set(REPORT, "child.age", "-1"), "out_of_range", "child.age",
	    "age -1");
	fail(set(REPORT, "child.age", "9223372036854775807"), "out_of_range",
	    "child.age", "age INT64_MAX");
	fail(set(CASE_CALL, "open_case.risk_level", "0"), "out_of_range",
	    "open_case.risk_level", "risk level 0");
	fail(set(CASE_CALL, "open_case.risk_level", "5"), "out_of_range",
	    "open_case.risk_level", "risk level 5");
	pass(set(REPORT, "situations", "[1, 2, 3, 4, 5, 6, 7, 8, 9]"),
	    "all nine situations");
	fail(set(REPORT, "situations", "[0]"), "out_of_range",
	    "situations[0]", "situation 0");
	fail(set(REPORT, "situations", "[1, 10]"), "out_of_range",
	    "situations[1]", "situation 10");
}

/* Arrays: empty, too many items, duplicates. */
static void
test_arrays(void)
{
	fail(set(REPORT, "situations", "[]"), "empty", "situations",
	    "no situations");
	fail(set(CASE_CALL, "open_case.categories", "[]"), "empty",
	    "open_case.categories", "no categories");
	fail(set(REPORT, "situations", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 1]"),
	    "too_long", "situations", "ten situations");
	fail(set(CASE_CALL, "open_case.categories", "["
	    "{\"category\":\"a\",\"subcategory\":\"a\"},"
	    "{\"category\":\"a\",\"subcategory\":\"b\"},"
	    "{\"category\":\"a\",\"subcategory\":\"c\"},"
	    "{\"category\":\"a\",\"subcategory\":\"d\"},"
	    "{\"category\":\"a\",\"subcategory\":\"e\"},"
	    "{\"category\":\"a\",\"subcategory\":\"f\"},"
	    "{\"category\":\"a\",\"subcategory\":\"g\"},"
	    "{\"category\":\"a\",\"subcategory\":\"h\"},"
	    "{\"category\":\"a\",\"subcategory\":\"i\"}]"),
	    "too_long", "open_case.categories", "nine categories");
	fail(set(REPORT, "situations", "[2, 4, 2]"), "duplicate_item",
	    "situations[2]", "a situation twice");
	fail(set(CASE_CALL, "open_case.categories", "["
	    "{\"category\": \"abuse\", \"subcategory\": \"neglect\"},"
	    "{\"subcategory\": \"neglect\", \"category\": \"abuse\"}]"),
	    "duplicate_item", "open_case.categories[1]",
	    "a category pair twice (keys in another order)");
	pass(set(CASE_CALL, "open_case.categories", "["
	    "{\"category\": \"abuse\", \"subcategory\": \"neglect\"},"
	    "{\"category\": \"legal\", \"subcategory\": \"neglect\"}]"),
	    "two pairs sharing a subcategory code");
}

/* Timestamps: RFC 3339 strict, window, future, cross-field rules. */
static void
test_timestamps(void)
{
	static const char *const bad[] = {
		"2026-11-01T09:00:00",		/* no offset */
		"2026-11-01t09:00:00+08:00",	/* lowercase t */
		"2026-11-01T09:00:00z",		/* lowercase z */
		"2026-11-01 09:00:00+08:00",	/* space */
		"2026-11-01T25:00:00+08:00",	/* hour 25 */
		"2026-11-01T24:00:00Z",		/* hour 24 */
		"2026-11-01T09:60:00Z",		/* minute 60 */
		"2026-11-01T09:00:60Z",		/* leap second */
		"2026-02-29T09:00:00+08:00",	/* not a leap year */
		"2026-04-31T09:00:00Z",		/* April 31 */
		"2026-13-01T09:00:00Z",		/* month 13 */
		"2026-11-01T09:00+08:00",	/* no seconds */
		"2026-11-01T09:00:00+0800",	/* offset without colon */
		"2026-11-01T09:00:00+08",	/* offset without minutes */
		"2026-11-01T09:00:00+15:00",	/* offset beyond 14:00 */
		"2026-11-01T09:00:00+14:01",
		"2026-11-01T09:00:00+08:60",
		"2026-11-01T09:00:00.+08:00",	/* empty fraction */
		"2026-11-01T09:00:00.1234567890Z",	/* 10 digits */
		"2026-11-01T09:00:00,5Z",	/* comma */
		"2026-11-01T09:00:00Z ",	/* trailing space */
		"2026-1-01T09:00:00Z",		/* one-digit month */
		"+2026-11-01T09:00:00Z",
		"",
		SECRET,
	};
	size_t i;
	char what[96];

	pass(str(CALL, "started_at", "2026-11-01T01:00:00Z"), "UTC Z");
	pass(str(CALL, "started_at", "2026-11-01T09:00:00.123456789+08:00"),
	    "a nanosecond fraction");
	pass(str(CALL, "started_at", "2026-11-01T01:00:00.5-00:00"),
	    "offset -00:00 and a one-digit fraction");
	pass(str(CALL, "started_at", "2026-11-01T15:00:00+14:00"),
	    "offset +14:00");
	pass(str(CALL, "started_at", "2026-10-31T13:00:00-12:00"),
	    "offset -12:00");
	pass(str(REPORT, "discovered_at", "2024-02-29T12:00:00+08:00"),
	    "Feb 29 of a leap year");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(what, sizeof(what), "timestamp #%zu (\"%s\")", i,
		    bad[i]);
		fail(str(CALL, "started_at", bad[i]), "invalid_value",
		    "started_at", what);
	}
	fail(str(REPORT, "discovered_at", "1999-12-31T23:59:59+08:00"),
	    "out_of_range", "discovered_at", "a timestamp in 1999");

	/* Not more than 10 minutes ahead of the server clock. */
	fail(str(REPORT, "discovered_at", "2099-01-01T00:00:00Z"),
	    "out_of_range", "discovered_at", "discovered in 2099");
	pass(str(RECENT_CALL, "ended_at", "2026-11-22T12:10:00+08:00"),
	    "ending exactly 10 minutes ahead");
	fail(str(RECENT_CALL, "ended_at",
	    "2026-11-22T12:10:00.000000001+08:00"), "out_of_range",
	    "ended_at", "ending 10 minutes and 1 ns ahead");
	fail(str(RECENT_CALL, "ended_at", "2026-11-22T04:15:00Z"),
	    "out_of_range", "ended_at", "ending 15 minutes ahead (UTC)");
	fail(str(CALL, "started_at", "2026-11-23T09:00:00+08:00"),
	    "out_of_range", "started_at", "starting tomorrow");

	/* ended_at: not before started_at, at most 24 hours after it. */
	fail(str(CALL, "ended_at", "2026-11-01T08:59:59+08:00"),
	    "inconsistent", "ended_at", "ended before started");
	fail(str(CALL, "ended_at", "2026-11-01T00:59:59Z"), "inconsistent",
	    "ended_at", "ended before started (another offset)");
	pass(str(CALL, "ended_at", "2026-11-01T01:00:00Z"),
	    "ending the instant it started, in another offset");
	fail(raw("{\"started_at\": \"2026-11-01T09:00:00.5+08:00\","
	    "\"ended_at\": \"2026-11-01T09:00:00.25+08:00\","
	    "\"caller_type\": \"unknown\", \"disposition\": \"silent\"}", 0),
	    "inconsistent", "ended_at",
	    "ended a quarter second before it started");
	pass(str(CALL, "ended_at", "2026-11-02T09:00:00+08:00"),
	    "a call of exactly 24 hours");
	fail(str(CALL, "ended_at", "2026-11-02T09:00:01+08:00"),
	    "out_of_range", "ended_at", "a call of 24 hours and 1 second");
	fail(str(CALL, "ended_at", "2026-11-02T01:00:00.5Z"),
	    "out_of_range", "ended_at", "a call of 24 hours and half a second");

	/* reported_at: not before discovered_at. */
	pass(str(REPORT, "reported_at", "2026-11-01T08:30:00+08:00"),
	    "reported the instant it was discovered");
	fail(str(REPORT, "reported_at", "2026-11-01T08:00:00+08:00"),
	    "inconsistent", "reported_at", "reported before discovered");
}

/* Dates and ID numbers. */
static void
test_dates(void)
{
	pass(str(REPORT, "child.birth_date", "2024-02-29"),
	    "born Feb 29 of a leap year");
	pass(str(REPORT, "child.birth_date", "2026-11-22"),
	    "born today (China Standard Time)");
	pass(str(REPORT, "child.birth_date", "1990-01-01"), "born 1990-01-01");
	fail(str(REPORT, "child.birth_date", "2015-02-29"), "invalid_value",
	    "child.birth_date", "Feb 29 of 2015");
	fail(str(REPORT, "child.birth_date", "2100-02-29"), "invalid_value",
	    "child.birth_date", "Feb 29 of 2100");
	fail(str(REPORT, "child.birth_date", "2015-3-12"), "invalid_value",
	    "child.birth_date", "a one-digit month");
	fail(str(REPORT, "child.birth_date", "2015-03-12T00:00:00Z"),
	    "invalid_value", "child.birth_date", "a timestamp for a date");
	fail(str(REPORT, "child.birth_date", "20150312"), "invalid_value",
	    "child.birth_date", "a date without dashes");
	fail(str(REPORT, "child.birth_date", "2026-11-23"), "out_of_range",
	    "child.birth_date", "born tomorrow");
	fail(str(REPORT, "child.birth_date", "1989-12-31"), "out_of_range",
	    "child.birth_date", "born in 1989");

	pass(str(REPORT, "child.id_number", "11010519491231002X"),
	    "an ID number with check character X");
	pass(str(REPORT, "child.id_number", "32010220261122001X"),
	    "an ID number of a child born today");
	fail(str(REPORT, "child.id_number", "11010519491231002x"),
	    "invalid_value", "child.id_number", "a lowercase x");
	fail(str(REPORT, "child.id_number", "320102201503120020"),
	    "invalid_value", "child.id_number", "a wrong check digit");
	fail(str(REPORT, "reporter.id_number", "320104198507041235"),
	    "invalid_value", "reporter.id_number",
	    "a reporter's wrong check digit");
	fail(str(REPORT, "child.id_number", "110105194902300020"),
	    "invalid_value", "child.id_number", "born Feb 30 (checksum ok)");
	fail(str(REPORT, "child.id_number", "320102202611230015"),
	    "invalid_value", "child.id_number", "born tomorrow (checksum ok)");
	fail(str(REPORT, "child.id_number", "110105189912310023"),
	    "invalid_value", "child.id_number", "born 1899 (checksum ok)");
	fail(str(REPORT, "child.id_number", "010105194912310026"),
	    "invalid_value", "child.id_number", "region 0... (checksum ok)");
	fail(str(REPORT, "child.id_number", "32010220150312002"),
	    "invalid_value", "child.id_number", "17 characters");
	fail(str(REPORT, "child.id_number", SECRET "320102201503"),
	    "invalid_value", "child.id_number", "letters");
}

/* Region codes, phones, codes, languages. */
static void
test_formats(void)
{
	static const char *const phones[] = { "13912345678",
	    "19912345678", "010-12345678", "01012345678", "0755-1234567",
	    "075512345678", "025-84561234", "+8613912345678", "+12025550123",
	    "+1234567" };
	static const char *const bad_phones[] = { "12912345678",
	    "1391234567", "139123456789", "139 1234 5678", "010-0234567",
	    "010-123456", "010-123456789", "0010-1234567", "00-12345678",
	    "+0123456789", "+123456", "+1234567890123456", "+86-139123456",
	    "10086", "", SECRET };
	static const char *const langs[] = { "zh", "yue", "bo", "ug",
	    "zh-yue", "zh-Hans-CN", "en-US", "zh-cmn-Hans-CN" };
	static const char *const bad_langs[] = { "z", "ZH", "Chinese",
	    "zhon", "zh-", "zh_CN", "zh-a", "zh-abcdefghi",
	    "zh-aa-bb-cc-dd", "zh-Hans-CN-abcdefgh-x", "" };
	static const char *const bad_codes[] = { "Abuse", "1abuse",
	    "_abuse", "sexual-abuse", "abuse1", "",
	    "abcdefghijklmnopqrstuvwxyzabcdefg" };
	char what[96];
	size_t i;

	pass(str(REPORT, "child.region_code", "110105"), "region 110105");
	fail(str(REPORT, "child.region_code", "020102"), "invalid_value",
	    "child.region_code", "a region starting with 0");
	fail(str(REPORT, "child.region_code", "32010"), "invalid_value",
	    "child.region_code", "a 5-digit region");
	fail(str(REPORT, "child.region_code", "3201020"), "invalid_value",
	    "child.region_code", "a 7-digit region");
	fail(str(REPORT, "institution.region_code", "32O102"),
	    "invalid_value", "institution.region_code", "a letter O");
	pass(str(REPORT, "child.region_code", "999999"),
	    "a well-formed region the database does not know");

	for (i = 0; i < sizeof(phones) / sizeof(phones[0]); i++) {
		snprintf(what, sizeof(what), "phone %s", phones[i]);
		pass(str(CALL, "caller_phone", phones[i]), what);
	}
	for (i = 0; i < sizeof(bad_phones) / sizeof(bad_phones[0]); i++) {
		snprintf(what, sizeof(what), "phone #%zu (\"%s\")", i,
		    bad_phones[i]);
		fail(str(CALL, "caller_phone", bad_phones[i]),
		    "invalid_value", "caller_phone", what);
	}
	fail(str(REPORT, "reporter.phone", "12345"), "invalid_value",
	    "reporter.phone", "a reporter's bad phone");
	fail(str(REPORT, "child.phone", "12345"), "invalid_value",
	    "child.phone", "a child's bad phone");

	for (i = 0; i < sizeof(langs) / sizeof(langs[0]); i++) {
		snprintf(what, sizeof(what), "language %s", langs[i]);
		pass(str(CALL, "language", langs[i]), what);
	}
	for (i = 0; i < sizeof(bad_langs) / sizeof(bad_langs[0]); i++) {
		snprintf(what, sizeof(what), "language \"%s\"", bad_langs[i]);
		fail(str(CALL, "language", bad_langs[i]), "invalid_value",
		    "language", what);
	}
	pass(str(CALL, "language", "zho-abcdefgh-ABCDEFGH-12345678"),
	    "the longest tag the shape allows (30 characters)");

	pass(str(CALL, "topic.subcategory", "no_such_thing"),
	    "a well-formed subcategory the database does not know");
	pass(str(CALL, "topic.category", "abcdefghijklmnopqrstuvwxyzabcdef"),
	    "a 32-character code");
	for (i = 0; i < sizeof(bad_codes) / sizeof(bad_codes[0]); i++) {
		snprintf(what, sizeof(what), "code \"%s\"", bad_codes[i]);
		fail(str(CALL, "topic.category", bad_codes[i]),
		    "invalid_value", "topic.category", what);
	}
	fail(str(CASE_CALL, "open_case.categories[1].subcategory",
	    "Physical"), "invalid_value",
	    "open_case.categories[1].subcategory", "an uppercase subcategory");
}

/* Texts: characters allowed, blanks, limits in code points. */
static void
test_texts(void)
{
	static char big[16001 * 4 + 1];
	struct json_object *v;

	pass(str(REPORT, "narrative", "a\r\nb\tc\nd"), "CR LF, LF and tab");
	pass(str(REPORT, "narrative", "  （测试） "),
	    "text with spaces round it");
	fail(str(REPORT, "narrative", "   "), "empty", "narrative",
	    "a narrative of three spaces");
	fail(str(REPORT, "narrative", ""), "empty", "narrative",
	    "an empty narrative");
	fail(str(CASE_CALL, "open_case.narrative", " \n\t\r\n "), "empty",
	    "open_case.narrative", "a narrative of white space");
	fail(str(REPORT, "narrative", "\xe3\x80\x80\xe3\x80\x80\xc2\xa0"),
	    "empty", "narrative", "ideographic and no-break spaces only");
	fail(str(REPORT, "reporter.name", ""), "empty", "reporter.name",
	    "an empty reporter name");
	fail(str(REPORT, "actions_taken", " "), "empty", "actions_taken",
	    "a blank optional text");
	fail(str(CALL, "summary", ""), "empty", "summary",
	    "an empty summary");

	fail(str(REPORT, "narrative", "a\x07" SECRET), "invalid_value",
	    "narrative", "BEL in a narrative");
	fail(str(REPORT, "narrative", "a\rb"), "invalid_value", "narrative",
	    "a lone CR");
	fail(str(REPORT, "narrative", "a\r"), "invalid_value", "narrative",
	    "a CR at the end");
	fail(str(REPORT, "narrative", "a\n\rb"), "invalid_value", "narrative",
	    "LF CR");
	fail(str(REPORT, "child.name", "a\x1b[0m"), "invalid_value",
	    "child.name", "ESC in a name");
	fail(str(REPORT, "child.school", "a\x7f"), "invalid_value",
	    "child.school", "DEL in a school");
	fail(str(REPORT, "child.address", "a\xc2\x85"), "invalid_value",
	    "child.address", "C1 control U+0085 in an address");
	fail(str(REPORT, "institution.name", "a\xc2\x9f"), "invalid_value",
	    "institution.name", "C1 control U+009F");
	fail(str(CALL, "summary", "\v"), "invalid_value", "summary",
	    "a vertical tab");
	fail(edit(REPORT, "narrative", 0, json_object_new_string_len("a\0b",
	    3)), "invalid_value", "narrative", "a NUL character");
	fail(edit(REPORT, "child.region_code", 0,
	    json_object_new_string_len("320102\0x", 8)), "invalid_value",
	    "child.region_code", "a NUL after a good region code");

	/* 16000 Chinese characters (48000 bytes) fit; 16001 do not. */
	pass(str(REPORT, "narrative", repeat(big, "测", 16000)),
	    "a narrative of 16000 Chinese characters");
	fail(str(REPORT, "narrative", repeat(big, "测", 16001)), "too_long",
	    "narrative", "a narrative of 16001 Chinese characters");
	pass(str(REPORT, "narrative", repeat(big, "\xf0\x9f\x98\x80", 16000)),
	    "a narrative of 16000 four-byte characters");
	fail(str(CASE_CALL, "open_case.narrative", repeat(big, "a", 16001)),
	    "too_long", "open_case.narrative", "16001 ASCII characters");
	pass(str(REPORT, "child.name", repeat(big, "名", 64)),
	    "a 64-character name");
	repeat(big, SECRET, 11);
	fail(str(REPORT, "child.name", big), "too_long", "child.name",
	    "a 66-character name");
	fail(str(REPORT, "child.school", repeat(big, "校", 129)), "too_long",
	    "child.school", "a 129-character school");
	fail(str(REPORT, "child.address", repeat(big, "址", 257)),
	    "too_long", "child.address", "a 257-character address");
	fail(str(CALL, "summary", repeat(big, "要", 4001)), "too_long",
	    "summary", "a 4001-character summary");
	pass(str(REPORT, "actions_taken", repeat(big, "做", 4000)),
	    "4000 characters of actions taken");

	/* A long unknown key is cut on a character boundary in the path. */
	v = json_tokener_parse(CALL);
	json_object_object_add(v, repeat(big, "键", 100),
	    json_object_new_int(1));
	memset(&e, 0, sizeof(e));
	CHECK(validate_call(v, NOW, &e) == -1 &&
	    strcmp(e.code, "unknown_field") == 0 &&
	    strlen(e.field) > 0 && strlen(e.field) % 3 == 0 &&
	    strncmp(e.field, big, strlen(e.field)) == 0,
	    "a 300-byte unknown key is cut to whole characters in the path");
	json_object_put(v);
}

/* open_case exactly when the disposition is case_opened. */
static void
test_open_case(void)
{
	struct json_object *o, *c;
	int rc;

	fail(str(CASE_CALL, "disposition", "counselled"), "inconsistent",
	    "open_case", "open_case with disposition counselled");
	fail(del(CASE_CALL, "open_case"), "inconsistent", "open_case",
	    "disposition case_opened without open_case");
	fail(str(CALL, "disposition", "case_opened"), "inconsistent",
	    "open_case", "a counselled call turned case_opened");

	/* The rule is checked before open_case's own fields. */
	o = json_tokener_parse(CASE_CALL);
	json_object_object_get_ex(o, "open_case", &c);
	json_object_object_del(c, "narrative");
	json_object_object_add(o, "disposition",
	    json_object_new_string("referred"));
	memset(&e, 0, sizeof(e));
	rc = validate_call(o, NOW, &e);
	fail(rc, "inconsistent", "open_case",
	    "an incomplete open_case on a referred call");
	json_object_put(o);
	fail(del(CASE_CALL, "open_case.narrative"), "missing_field",
	    "open_case.narrative", "open_case without narrative");
	fail(del(CASE_CALL, "open_case.child"), "missing_field",
	    "open_case.child", "open_case without child");
}

/* Secrets submitted in bad values never reach the message. */
static void
test_secrets(void)
{
	static const char *const fields[] = { "caller_phone", "language",
	    "started_at", "caller_type", "topic.category" };
	char what[96];
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		snprintf(what, sizeof(what), "a secret in %s", fields[i]);
		fail(str(CALL, fields[i], SECRET "13800000009"),
		    "invalid_value", fields[i], what);
	}
	fail(str(REPORT, "reporter.phone", SECRET "-13800000009"),
	    "invalid_value", "reporter.phone", "a secret reporter phone");
	fail(str(REPORT, "reporter.id_number", SECRET), "invalid_value",
	    "reporter.id_number", "a secret reporter ID number");
	fail(str(REPORT, "child.birth_date", SECRET), "invalid_value",
	    "child.birth_date", "a secret birth date");
	fail(str(REPORT, "child.region_code", SECRET), "invalid_value",
	    "child.region_code", "a secret region code");
	fail(str(REPORT, "narrative", SECRET "\x01"), "invalid_value",
	    "narrative", "a secret narrative with a control character");
}

/* Validate raw JSON as an event body. */
static int
event(const char *json)
{
	struct json_object *o = json_tokener_parse(json);
	int rc;

	memset(&e, 0, sizeof(e));
	rc = validate_event(o, NOW, &e);
	json_object_put(o);
	return rc;
}

/* Event and transfer bodies (agency API). */
static void
test_agency_bodies(void)
{
	struct json_object *o;
	int rc;

	pass(event("{\"type\": \"outcome\", \"outcome\": "
	    "\"outside_jurisdiction\", \"reason\": \"x\"}"),
	    "an outside_jurisdiction outcome");
	pass(event("{\"type\": \"feedback\", \"notice\": \"prosecution\", "
	    "\"text\": \"x\"}"), "feedback with the notice of prosecution");
	pass(event("{\"type\": \"supervision\", \"supervision\": "
	    "\"case_filing_supervision\", \"recipient_agency\": "
	    "\"police-320102\"}"), "a supervision record with its recipient");
	fail(event("{\"type\": \"supervision\", \"supervision\": "
	    "\"procuratorial_suggestion\"}"), "missing_field", "recipient_agency",
	    "a supervision record without a recipient");
	fail(event("{\"type\": \"note\", \"text\": \"x\", "
	    "\"recipient_agency\": \"police-320102\"}"), "inconsistent",
	    "recipient_agency", "a recipient on a note");
	fail(event("{\"type\": \"supervision\", \"supervision\": "
	    "\"procuratorial_suggestion\", \"recipient_agency\": \"Police\"}"),
	    "invalid_value", "recipient_agency", "a malformed recipient");
	fail(event("{\"type\": \"note\", \"text\": \"x\", \"notice\": "
	    "\"prosecution\"}"), "inconsistent", "notice", "a notice on a note");
	fail(event("{\"type\": \"feedback\", \"notice\": \"trial\"}"),
	    "invalid_value", "notice", "an unknown notice");
	fail(event("{\"type\": \"outcome\", \"outcome\": \"transferred\"}"),
	    "invalid_value", "outcome", "a transfer is not an outcome");

	o = json_tokener_parse("{\"type\": \"note\", \"text\": \"x\"}");
	CHECK(validate_event(o, NOW, &e) == 0, "a note is a valid event");
	json_object_put(o);
	o = json_tokener_parse("{\"type\": \"outcome\"}");
	memset(&e, 0, sizeof(e));
	rc = validate_event(o, NOW, &e);
	fail(rc, "missing_field", "outcome",
	    "an outcome event without outcome");
	json_object_put(o);
	o = json_tokener_parse("{\"type\": \"outcome\", \"outcome\": "
	    "\"case_opened\", \"police_case_number\": \"A1\"}");
	CHECK(validate_event(o, NOW, &e) == 0, "a case_opened outcome");
	json_object_put(o);
	o = json_tokener_parse("{\"target_agency\": \"police-320100\", "
	    "\"reason\": \"x\"}");
	CHECK(validate_transfer(o, NOW, &e) == 0, "a transfer");
	json_object_put(o);
	o = json_tokener_parse("{\"target_agency\": \"Police 1\", "
	    "\"reason\": \"x\"}");
	memset(&e, 0, sizeof(e));
	rc = validate_transfer(o, NOW, &e);
	fail(rc, "invalid_value", "target_agency", "a malformed agency code");
	json_object_put(o);
}

/* The categories a report names for its situations. */
static void
test_report_categories(void)
{
	pass(set(REPORT, "categories", "[{\"category\": \"bullying\", "
	    "\"subcategory\": \"physical\"}]"), "a report naming a category");
	fail(set(REPORT, "categories", "[]"), "empty", "categories",
	    "a report naming no category in an empty array");
	fail(set(REPORT, "categories", "[{\"category\": \"abuse\"}]"),
	    "missing_field", "categories[0].subcategory",
	    "a report's category without its subcategory");
	fail(set(REPORT, "categories", "[{\"category\": \"abuse\", "
	    "\"subcategory\": \"neglect\"}, {\"category\": \"abuse\", "
	    "\"subcategory\": \"neglect\"}]"), "duplicate_item", "categories[1]",
	    "a report naming a category twice");
}

/* The Idempotency-Key header and case numbers in paths. */
static void
test_header_and_path(void)
{
	char key[IDEMPOTENCY_KEY_MAX + 2];

	CHECK(validate_idempotency_key("4f1c2a7e-1b2c-4d5e-8f90-abcdef012345")
	    == 0, "a UUID is a valid Idempotency-Key");
	CHECK(validate_idempotency_key("a.b_c:D-9") == 0,
	    "an Idempotency-Key with . _ : -");
	memset(key, 'k', IDEMPOTENCY_KEY_MAX);
	key[IDEMPOTENCY_KEY_MAX] = '\0';
	CHECK(validate_idempotency_key(key) == 0, "a 128-character key");
	key[IDEMPOTENCY_KEY_MAX] = 'k';
	key[IDEMPOTENCY_KEY_MAX + 1] = '\0';
	CHECK(validate_idempotency_key(key) == -1, "a 129-character key");
	CHECK(validate_idempotency_key("") == -1, "an empty key");
	CHECK(validate_idempotency_key(NULL) == -1, "no key");
	CHECK(validate_idempotency_key("a b") == -1, "a key with a space");
	CHECK(validate_idempotency_key("a/b") == -1, "a key with a slash");
	CHECK(validate_idempotency_key("键") == -1, "a non-ASCII key");
	CHECK(validate_idempotency_key("a\tb") == -1, "a key with a tab");

	CHECK(validate_case_number("2026-320102-00000001") == 0,
	    "a case number");
	CHECK(validate_case_number("2026-320102-0000001") == -1,
	    "a 7-digit sequence");
	CHECK(validate_case_number("2026-320102-100000000") == 0,
	    "a 9-digit sequence (case 100,000,000 of a county-year)");
	CHECK(validate_case_number("2026-320102-123456789012345678") == 0,
	    "an 18-digit sequence");
	CHECK(validate_case_number("2026-320102-1234567890123456789") == -1,
	    "a 19-digit sequence");
	CHECK(validate_case_number("1999-320102-00000001") == -1,
	    "a year before 2000");
	CHECK(validate_case_number("2026-320102-00000001/") == -1,
	    "a trailing slash");
	CHECK(validate_case_number("2026-020102-00000001") == -1,
	    "a region starting with 0");
	CHECK(validate_case_number("2026-32010-200000001") == -1,
	    "a dash out of place");
	CHECK(validate_case_number("26-320102-00000001") == -1,
	    "a 2-digit year");
	CHECK(validate_case_number("2026_320102_00000001") == -1,
	    "underscores");
	CHECK(validate_case_number("2026-320102-0000000a") == -1,
	    "a letter in the sequence");
	CHECK(validate_case_number("../../../etc/passwd0") == -1,
	    "a path traversal of 20 characters");
	CHECK(validate_case_number("") == -1, "an empty case number");
	CHECK(validate_case_number(NULL) == -1, "no case number");
}

int
main(void)
{
	test_bodies();
	test_types();
	test_values();
	test_arrays();
	test_timestamps();
	test_dates();
	test_formats();
	test_texts();
	test_open_case();
	test_secrets();
	test_agency_bodies();
	test_report_categories();
	test_header_and_path();
	CHECK(validate_timestamp("2026-11-01T00:00:00+08:00") == 0 &&
	    validate_timestamp("2026-11-01T00:00:00.5Z") == 0,
	    "a query's timestamp with an offset");
	CHECK(validate_timestamp("2026-11-01T00:00:00") == -1 &&
	    validate_timestamp("2100-01-01T00:00:00Z") == -1 &&
	    validate_timestamp("yesterday") == -1 && validate_timestamp(NULL) == -1,
	    "a query's timestamp without an offset, out of its years, or none");
	UNIT_EXIT();
}
