/*
 * libFuzzer harness for the request-body path: the strict JSON parser and
 * every body validator (calls, reports, events, transfers, access
 * requests, cases opened during a call, an operator's notes, risk levels,
 * categories and corrections of the child, links, supplements).  A tree the parser accepts must serialise and parse again; a
 * body a validator refuses must be refused with a client error and a
 * code; nothing may crash, leak or trip the sanitizers.
 *   make fuzz-body      (clang with libFuzzer; FUZZ_SECONDS, default 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The validators, one per endpoint that takes a body. */
static int (*const validators[])(struct json_object *, time_t,
    struct api_error *) = {
	validate_call,
	validate_report,
	validate_event,
	validate_transfer,
	validate_access_request,
	validate_case_open,
	validate_note,
	validate_risk,
	validate_categories,
	validate_child,
	validate_link,
	validate_supplement,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o, *again;
	struct api_error err;
	const char *text;
	time_t now = 1795320000;
	size_t i;

	o = json_parse_strict((const char *)data, size, JSON_MAX_DEPTH, &err);
	if (o == NULL) {
		/* NULL without an error is the JSON value null. */
		if (err.status != 0 && (err.status != 400 || err.code == NULL))
			abort();	/* a refusal is always a 400 */
		return 0;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	again = json_parse_strict(text, strlen(text), JSON_MAX_DEPTH + 1,
	    &err);
	if (again == NULL)
		abort();	/* what we accept, we must be able to re-read */
	json_object_put(again);
	for (i = 0; i < sizeof(validators) / sizeof(validators[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (validators[i](o, now, &err) == -1 && (err.code == NULL ||
		    err.status < 400 || err.status > 499 ||
		    err.message[0] == '\0'))
			abort();	/* a refusal says what and why */
	}
	json_object_put(o);
	return 0;
}
