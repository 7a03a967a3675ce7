/*
 * Client-facing errors: status, machine-readable code, field, message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hotlined.h"

/* Fill err; the message must never contain submitted values. */
void
error_set(struct api_error *err, int status, const char *code,
    const char *field, const char *fmt, ...)
{
	va_list ap;

	err->status = status;
	err->code = code;
	if (field != NULL)
		snprintf(err->field, sizeof(err->field), "%s", field);
	else
		err->field[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}
