/*
 * libFuzzer harness for the request-body path: the strict JSON parser and
 * every validator.  A tree the parser accepts must serialise and parse
 * again; nothing may crash, leak or trip the sanitizers.
 *   make fuzz           (clang with libFuzzer; FUZZ_SECONDS, default 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o, *again;
	struct api_error err;
	const char *text;
	time_t now = 1795320000;

	o = json_parse_strict((const char *)data, size, JSON_MAX_DEPTH, &err);
	if (o == NULL)
		return 0;
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	again = json_parse_strict(text, strlen(text), JSON_MAX_DEPTH + 1,
	    &err);
	if (again == NULL)
		abort();	/* what we accept, we must be able to re-read */
	json_object_put(again);
	if (json_object_is_type(o, json_type_object)) {
		validate_call(o, now, &err);
		validate_report(o, now, &err);
		validate_event(o, now, &err);
		validate_transfer(o, now, &err);
	}
	json_object_put(o);
	return 0;
}
