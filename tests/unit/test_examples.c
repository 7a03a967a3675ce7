/*
 * Replays every proto example through the validator: a valid example
 * passes; an invalid one the validator must refuse (expected status 400)
 * fails with exactly the code and field that expected.json gives; one the
 * database refuses (422) gets past the validator.  The examples assume a
 * clock after 2026-11-02; this test runs them at 2026-11-22T12:00+08:00.
 *   test_examples [directory]		(default proto/examples)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotlined.h"
#include "unit.h"

/* Every endpoint with a body: its examples' prefix, its validator, and how
 * many valid and invalid examples it has at least. */
static const struct {
	const char	*ep_prefix;
	int		(*ep_validate)(struct json_object *, time_t,
			    struct api_error *);
	int		 ep_valid, ep_invalid;
} endpoints[] = {
	{ "calls.", validate_call, 6, 12 },
	{ "reports.", validate_report, 6, 12 },
	{ "events.", validate_event, 6, 6 },
	{ "cases.", validate_case_open, 3, 6 },
	{ "notes.", validate_note, 2, 3 },
	{ "risk.", validate_risk, 2, 3 },
	{ "categories.", validate_categories, 2, 3 },
	{ "child.", validate_child, 2, 3 },
	{ "links.", validate_link, 1, 3 },
	{ "supplements.", validate_supplement, 2, 3 },
};
#define NENDPOINTS	((int)(sizeof(endpoints) / sizeof(endpoints[0])))

/* Read a whole file; NULL on failure. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL &&
	    fread(buf, 1, (size_t)n, fp) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

/* Parse a file with json_tokener (strict, UTF-8 checked, nothing after). */
static struct json_object *
load(const char *dir, const char *name)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;
	char path[4096];
	size_t len;
	char *data;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((data = slurp(path, &len)) == NULL)
		return NULL;
	if ((tok = json_tokener_new_ex(JSON_MAX_DEPTH)) != NULL) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
		    JSON_TOKENER_VALIDATE_UTF8);
		o = json_tokener_parse_ex(tok, data, (int)len);
		if (o != NULL && (json_tokener_get_error(tok) !=
		    json_tokener_success ||
		    json_tokener_get_parse_end(tok) != len ||
		    data[len - 1] != '\n')) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	free(data);
	return o;
}

/* Return nonzero if s ends with suffix. */
static int
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Select the example files: *.json but expected.json. */
static int
is_example(const struct dirent *de)
{
	return ends_with(de->d_name, ".json") &&
	    strcmp(de->d_name, "expected.json") != 0;
}

/* The endpoint of a file name, or -1. */
static int
endpoint_of(const char *name)
{
	int i;

	for (i = 0; i < NENDPOINTS; i++)
		if (strncmp(name, endpoints[i].ep_prefix,
		    strlen(endpoints[i].ep_prefix)) == 0)
			return i;
	return -1;
}

/* Check one invalid example against its entry in expected.json. */
static void
check_invalid(const char *name, int rc, const struct api_error *err,
    struct json_object *exp)
{
	struct json_object *v;
	const char *code = "", *field = "";
	int status = 0;

	if (json_object_object_get_ex(exp, "status", &v))
		status = json_object_get_int(v);
	if (json_object_object_get_ex(exp, "code", &v))
		code = json_object_get_string(v);
	if (json_object_object_get_ex(exp, "field", &v))
		field = json_object_get_string(v);
	if (status == 422) {
		CHECK(rc == 0, "%s gets past the validator (the database "
		    "answers 422 %s)", name, code);
		if (rc != 0)
			printf("#   got %s at '%s'\n", err->code, err->field);
		return;
	}
	CHECK(status == 400, "%s: expected.json gives 400 or 422", name);
	CHECK(rc == -1 && err->status == status &&
	    strcmp(err->code, code) == 0 && strcmp(err->field, field) == 0,
	    "%s is refused: %d %s at '%s'", name, status, code, field);
	if (rc == -1 && (strcmp(err->code, code) != 0 ||
	    strcmp(err->field, field) != 0))
		printf("#   got %s at '%s': %s\n", err->code, err->field,
		    err->message);
}

int
main(int argc, char *argv[])
{
	struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 22,
	    .tm_hour = 4 };
	struct json_object *expected, *exp, *body;
	struct dirent **list;
	struct api_error err;
	const char *dir = argc > 1 ? argv[1] : "proto/examples", *name;
	int valid[sizeof(endpoints) / sizeof(endpoints[0])] = { 0 };
	int invalid[sizeof(endpoints) / sizeof(endpoints[0])] = { 0 };
	int i, n, ep, rc, listed = 0;
	time_t now = timegm(&tm);	/* 2026-11-22T12:00:00+08:00 */

	if ((expected = load(dir, "expected.json")) == NULL) {
		printf("not ok - %s/expected.json is strict JSON\n", dir);
		return 1;
	}
	if ((n = scandir(dir, &list, is_example, alphasort)) == -1) {
		printf("not ok - cannot read %s\n", dir);
		json_object_put(expected);
		return 1;
	}
	for (i = 0; i < n; i++) {
		name = list[i]->d_name;
		ep = endpoint_of(name);
		CHECK(ep != -1 && (ends_with(name, ".valid.json") ||
		    ends_with(name, ".invalid.json")),
		    "%s is named <endpoint>.<what>.(in)valid.json", name);
		if (ep == -1)
			continue;
		if ((body = load(dir, name)) == NULL) {
			CHECK(0, "%s is strict JSON ending in a newline", name);
			continue;
		}
		memset(&err, 0, sizeof(err));
		rc = endpoints[ep].ep_validate(body, now, &err);
		json_object_put(body);
		if (ends_with(name, ".valid.json")) {
			valid[ep]++;
			CHECK(rc == 0, "valid example %s passes", name);
			if (rc != 0)
				printf("#   %s at '%s': %s\n", err.code,
				    err.field, err.message);
		} else if (ends_with(name, ".invalid.json")) {
			invalid[ep]++;
			if (json_object_object_get_ex(expected, name, &exp)) {
				listed++;
				check_invalid(name, rc, &err, exp);
			} else
				CHECK(0, "%s is in expected.json", name);
		}
	}
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
	CHECK(listed == json_object_object_length(expected),
	    "every entry of expected.json is an invalid example (%d of %d)",
	    listed, json_object_object_length(expected));
	for (ep = 0; ep < NENDPOINTS; ep++)
		CHECK(valid[ep] >= endpoints[ep].ep_valid &&
		    invalid[ep] >= endpoints[ep].ep_invalid,
		    "%s examples: %d valid, %d invalid", endpoints[ep].ep_prefix,
		    valid[ep], invalid[ep]);
	json_object_put(expected);
	UNIT_EXIT();
}
