/*
 * hotlined: intake daemon for the 12355 youth hotline and minors'
 * mandatory reports.  This header is the architecture at a glance: shared
 * structs, limits and every cross-file prototype, grouped by file.
 */
#ifndef HOTLINED_H
#define HOTLINED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#define HOTLINED_VERSION	"0.1.0"

/* Limits (defaults; most are configurable). */
#define JSON_MAX_DEPTH		16	/* nesting levels accepted in a body */
#define ERR_FIELD_MAX		128	/* longest field path in an error */
#define ERR_MESSAGE_MAX		256	/* longest error message */
#define IDEMPOTENCY_KEY_MAX	128	/* longest Idempotency-Key header */

/*
 * An error answered to the client: HTTP status, machine-readable code,
 * the offending field (empty when none) and a message that never echoes
 * submitted values.
 */
struct api_error {
	int	 status;
	const char *code;
	char	 field[ERR_FIELD_MAX];
	char	 message[ERR_MESSAGE_MAX];
};

/* json.c */
/*
 * Parse buf (len bytes) as strict RFC 8259 JSON into a json-c tree.
 * Returns NULL and fills err (400 invalid_json) on any deviation.
 */
struct json_object *json_parse_strict(const char *buf, size_t len,
    int max_depth, struct api_error *err);

/* validate.c */
/* Check a POST /v1/calls body; 0 if valid, else -1 with err filled. */
int	 validate_call(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check a POST /v1/reports body; 0 if valid, else -1 with err filled. */
int	 validate_report(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check an Idempotency-Key header value; 0 if valid. */
int	 validate_idempotency_key(const char *key);
/* Check a case number path component; 0 if well formed. */
int	 validate_case_number(const char *s);

/* error.c */
/* Fill err; fmt is the message (never include submitted values). */
void	 api_error_set(struct api_error *err, int status, const char *code,
	    const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

#endif /* HOTLINED_H */
