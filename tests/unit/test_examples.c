/*
 * Replays every proto example through the parser and validator: valid
 * examples pass; invalid ones fail with exactly the status, code and field
 * that expected.json documents (those the database rejects, 422, must get
 * past the validator).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotlined.h"
#include "unit.h"

/* Read a whole file. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
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

/* Compare a file name's suffix. */
static int
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int
main(int argc, char *argv[])
{
	struct json_object *expected, *exp, *v, *body;
	struct api_error err;
	struct dirent *de;
	char path[4096];
	const char *dir = argc > 1 ? argv[1] : "proto/examples";
	size_t len;
	char *data;
	int rc, nvalid = 0, ninvalid = 0, status;
	/* 2026-11-22T12:00:00+08:00: the examples assume a clock after them. */
	time_t now = 1795320000;
	DIR *d;

	snprintf(path, sizeof(path), "%s/expected.json", dir);
	if ((data = slurp(path, &len)) == NULL ||
	    (expected = json_parse_strict(data, len, 4, &err)) == NULL) {
		printf("not ok - cannot load %s\n", path);
		return 1;
	}
	free(data);
	if ((d = opendir(dir)) == NULL) {
		printf("not ok - cannot open %s\n", dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		int valid = ends_with(de->d_name, ".valid.json");
		int calls = strncmp(de->d_name, "calls.", 6) == 0;

		if (!valid && !ends_with(de->d_name, ".invalid.json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		data = slurp(path, &len);
		body = data ? json_parse_strict(data, len, JSON_MAX_DEPTH,
		    &err) : NULL;
		free(data);
		if (body == NULL) {
			CHECK(0, "example %s is strict JSON", de->d_name);
			continue;
		}
		rc = calls ? validate_call(body, now, &err) :
		    validate_report(body, now, &err);
		json_object_put(body);
		if (valid) {
			nvalid++;
			CHECK(rc == 0, "valid example %s passes", de->d_name);
			if (rc != 0)
				printf("#   %s %s: %s\n", err.code, err.field,
				    err.message);
			continue;
		}
		ninvalid++;
		if (!json_object_object_get_ex(expected, de->d_name, &exp)) {
			CHECK(0, "invalid example %s is in expected.json",
			    de->d_name);
			continue;
		}
		json_object_object_get_ex(exp, "status", &v);
		status = json_object_get_int(v);
		if (status == 422) {
			CHECK(rc == 0, "%s gets past the validator (the "
			    "database rejects it)", de->d_name);
			continue;
		}
		json_object_object_get_ex(exp, "code", &v);
		CHECK(rc == -1 && err.status == status &&
		    strcmp(err.code, json_object_get_string(v)) == 0,
		    "%s is rejected with %d %s", de->d_name, status,
		    json_object_get_string(v));
		if (rc == -1 && strcmp(err.code, json_object_get_string(v)) !=
		    0)
			printf("#   got %s (%s)\n", err.code, err.field);
		CHECK(rc == -1 && strcmp(err.field,
		    json_object_object_get_ex(exp, "field", &v) ?
		    json_object_get_string(v) : "") == 0,
		    "%s names the field %s", de->d_name,
		    json_object_object_get_ex(exp, "field", &v) ?
		    json_object_get_string(v) : "(none)");
	}
	closedir(d);
	json_object_put(expected);
	CHECK(nvalid >= 12 && ninvalid >= 24, "examples present (%d valid, "
	    "%d invalid)", nvalid, ninvalid);
	UNIT_EXIT();
}
