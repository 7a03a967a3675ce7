/*
 * Walking a request body against its schema (validate.h): each object is
 * checked for unknown members first, then field by field in table order
 * (the order of the protocol's tables); the first problem found is
 * reported with its code and the path of the offending field.  Messages
 * describe the rule and never echo submitted values.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hotlined.h"
#include "validate.h"

/* Time windows. */
#define TS_YEAR_MIN		2000
#define TS_YEAR_MAX		2099
#define DATE_YEAR_MIN		1990
#define DATE_YEAR_MAX		2099
#define FUTURE_SLACK		600	/* s a timestamp may run ahead of us */

static int	check_object(struct json_object *, const struct schema *,
		    const char *, time_t, struct api_error *);

/* Print a field path; a path cut short ends on a whole UTF-8 character. */
static void __attribute__((format(printf, 2, 3)))
path_set(char out[ERR_FIELD_MAX], const char *fmt, ...)
{
	va_list ap;
	size_t len, lead, need;
	unsigned char c;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, ERR_FIELD_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		out[0] = '\0';
	if (n < ERR_FIELD_MAX)
		return;
	len = strlen(out);
	for (lead = len; lead > 0 &&
	    ((unsigned char)out[lead - 1] & 0xc0) == 0x80; lead--)
		;
	if (lead == 0 || (c = (unsigned char)out[lead - 1]) < 0xc0)
		return;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (len - (lead - 1) < need)
		out[lead - 1] = '\0';
}

/* The path of a member of the object at parent ("" for the body). */
static void
member_path(char out[ERR_FIELD_MAX], const char *parent, const char *name)
{
	if (parent[0] == '\0')
		path_set(out, "%s", name);
	else
		path_set(out, "%s.%s", parent, name);
}

/* Fill a 400 error for a field; always returns -1. */
int
check_fail(struct api_error *err, const char *code, const char *path,
    const char *fmt, ...)
{
	char msg[ERR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(err, 400, code, path, "%s", msg);
	return -1;
}


static const unsigned char *
utf8_next(const unsigned char *p, const unsigned char *end, uint32_t *c)
{
	int i, n;

	if (*p < 0x80) {
		*c = *p;
		return p + 1;
	}
	if (*p >= 0xf0) {
		n = 3;
		*c = *p & 0x07;
	} else if (*p >= 0xe0) {
		n = 2;
		*c = *p & 0x0f;
	} else if (*p >= 0xc0) {
		n = 1;
		*c = *p & 0x1f;
	} else {
		*c = 0xfffd;
		return p + 1;
	}
	for (i = 1; i <= n; i++) {
		if (p + i >= end || (p[i] & 0xc0) != 0x80) {
			*c = 0xfffd;
			return p + i;
		}
		*c = (*c << 6) | (p[i] & 0x3f);
	}
	return p + n + 1;
}

/* Return nonzero for a control character (C0, DEL and C1). */
static int
is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* Return nonzero for a Unicode White_Space character allowed in text. */
static int
is_space(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
	    c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
	    c == 0x3000;
}

/* Check a text: allowed characters, not blank, length in code points. */
static int
check_text(struct json_object *v, const struct field *f, const char *path,
    struct api_error *err)
{
	const unsigned char *p, *end;
	uint32_t c;
	long n = 0;
	int blank = 1;

	p = (const unsigned char *)json_object_get_string(v);
	end = p + json_object_get_string_len(v);
	while (p < end) {
		p = utf8_next(p, end, &c);
		n++;
		if (is_control(c) && c != '\t' && c != '\n' &&
		    !(c == '\r' && p < end && *p == '\n'))
			return check_fail(err, "invalid_value", path, "must not "
			    "contain control characters other than tab, line "
			    "feed and CR LF");
		if (!is_space(c))
			blank = 0;
	}
	if (blank)
		return check_fail(err, "empty", path,
		    "must contain a character other than white space");
	if (n > f->max)
		return check_fail(err, "too_long", path,
		    "must be at most %ld characters", f->max);
	return 0;
}

/* Check that a string is one of the field's values. */
static int
check_enum(const char *s, const struct field *f, const char *path,
    struct api_error *err)
{
	char list[ERR_MESSAGE_MAX];
	size_t k, len = 0;
	int n;

	for (k = 0; f->values[k] != NULL; k++)
		if (strcmp(s, f->values[k]) == 0)
			return 0;
	list[0] = '\0';
	for (k = 0; f->values[k] != NULL; k++) {
		n = snprintf(list + len, sizeof(list) - len, "%s%s",
		    k > 0 ? ", " : "", f->values[k]);
		if (n < 0 || (size_t)n >= sizeof(list) - len)
			break;
		len += (size_t)n;
	}
	return check_fail(err, "invalid_value", path, "must be one of %s", list);
}

/* Check a timestamp: format, year window, not too far in the future. */
static int
check_timestamp(const char *s, const char *path, time_t now,
    struct instant *t, struct api_error *err)
{
	struct instant limit = { (long long)now + FUTURE_SLACK, 0 };
	int year;

	if (format_timestamp(s, &year, t) == -1)
		return check_fail(err, "invalid_value", path, "must be an RFC 3339 "
		    "timestamp with seconds and a UTC offset, such as "
		    "2026-11-01T09:00:00+08:00");
	if (year < TS_YEAR_MIN || year > TS_YEAR_MAX)
		return check_fail(err, "out_of_range", path,
		    "must be in the years %d to %d", TS_YEAR_MIN, TS_YEAR_MAX);
	if (format_instant_cmp(t, &limit) > 0)
		return check_fail(err, "out_of_range", path, "must not be more than "
		    "%d minutes ahead of the server clock", FUTURE_SLACK / 60);
	return 0;
}

/* Check a timestamp against the earlier sibling it may not precede. */
static int
check_after(struct json_object *obj, const struct field *f,
    const struct instant *t, const char *path, struct api_error *err)
{
	struct json_object *e;
	struct instant t0, limit;
	int year;

	if (obj == NULL || !json_object_object_get_ex(obj, f->after, &e) ||
	    format_timestamp(json_object_get_string(e), &year, &t0) == -1)
		return 0;
	if (format_instant_cmp(t, &t0) < 0)
		return check_fail(err, "inconsistent", path, "must not be before %s",
		    f->after);
	limit = t0;
	limit.sec += f->span;
	if (f->span > 0 && format_instant_cmp(t, &limit) > 0)
		return check_fail(err, "out_of_range", path,
		    "must be at most %ld hours after %s", f->span / 3600,
		    f->after);
	return 0;
}

/* Check a date: format, year window, not after today. */
static int
check_date(const char *s, const char *path, time_t now,
    struct api_error *err)
{
	long days;
	int year;

	if (strlen(s) != 10 || format_date(s, &year, &days) == -1)
		return check_fail(err, "invalid_value", path,
		    "must be a calendar date YYYY-MM-DD");
	if (year < DATE_YEAR_MIN || year > DATE_YEAR_MAX)
		return check_fail(err, "out_of_range", path,
		    "must be in the years %d to %d", DATE_YEAR_MIN,
		    DATE_YEAR_MAX);
	if (days > format_today(now))
		return check_fail(err, "out_of_range", path,
		    "must not be in the future");
	return 0;
}

/* Check one value; obj is the object holding it (NULL for array items). */
static int
check_value(struct json_object *obj, struct json_object *v,
    const struct field *f, const char *path, time_t now,
    struct api_error *err)
{
	static const struct {
		enum json_type	 type;
		const char	*what;
	} want[] = {
		[F_TEXT] = { json_type_string, "a string" },
		[F_INT] = { json_type_int, "an integer" },
		[F_BOOL] = { json_type_boolean, "true or false" },
		[F_ENUM] = { json_type_string, "a string" },
		[F_FORMAT] = { json_type_string, "a string" },
		[F_TIMESTAMP] = { json_type_string, "a string" },
		[F_DATE] = { json_type_string, "a string" },
		[F_OBJECT] = { json_type_object, "an object" },
		[F_ARRAY] = { json_type_array, "an array" },
	};
	char ipath[ERR_FIELD_MAX];
	struct instant t;
	const char *s;
	int64_t i;
	size_t k, j, n;

	if (!json_object_is_type(v, want[f->type].type))
		return check_fail(err, "wrong_type", path, "must be %s",
		    want[f->type].what);
	switch (f->type) {
	case F_TEXT:
		return check_text(v, f, path, err);
	case F_INT:
		i = json_object_get_int64(v);
		if (i < f->min || i > f->max)
			return check_fail(err, "out_of_range", path,
			    "must be between %ld and %ld", f->min, f->max);
		return 0;
	case F_BOOL:
		return 0;
	case F_OBJECT:
		return check_object(v, f->sub, path, now, err);
	case F_ARRAY:
		n = json_object_array_length(v);
		if (n < (size_t)f->min)
			return check_fail(err, "empty", path, "must not be empty");
		if (n > (size_t)f->max)
			return check_fail(err, "too_long", path,
			    "must have at most %ld items", f->max);
		for (k = 0; k < n; k++) {
			path_set(ipath, "%s[%zu]", path, k);
			if (check_value(NULL, json_object_array_get_idx(v, k),
			    f->item, ipath, now, err) == -1)
				return -1;
			for (j = 0; j < k; j++)
				if (json_object_equal(
				    json_object_array_get_idx(v, k),
				    json_object_array_get_idx(v, j)))
					return check_fail(err, "duplicate_item",
					    ipath, "repeats an earlier item");
		}
		return 0;
	default:
		break;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return check_fail(err, "invalid_value", path,
		    "must not contain NUL characters");
	switch (f->type) {
	case F_ENUM:
		return check_enum(s, f, path, err);
	case F_FORMAT:
		if (!f->format->valid(s, now))
			return check_fail(err, "invalid_value", path, "%s",
			    f->format->rule);
		return 0;
	case F_TIMESTAMP:
		if (check_timestamp(s, path, now, &t, err) == -1)
			return -1;
		return f->after != NULL ? check_after(obj, f, &t, path, err) :
		    0;
	case F_DATE:
		return check_date(s, path, now, err);
	default:
		return check_fail(err, "invalid_value", path, "is not supported");
	}
}

/* Return the field of a schema named key, or NULL. */
static const struct field *
schema_field(const struct schema *sc, const char *key)
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		if (strcmp(sc->fields[i].name, key) == 0)
			return &sc->fields[i];
	return NULL;
}

/* Check an object: no unknown members, then each field in table order. */
static int
check_object(struct json_object *obj, const struct schema *sc,
    const char *parent, time_t now, struct api_error *err)
{
	const struct field *f;
	struct json_object *v;
	char path[ERR_FIELD_MAX];
	int present;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		if (schema_field(sc, key) == NULL) {
			member_path(path, parent, key);
			return check_fail(err, "unknown_field", path,
			    "is not a field of this object");
		}
	}
	for (f = sc->fields; f < sc->fields + sc->n; f++) {
		member_path(path, parent, f->name);
		present = json_object_object_get_ex(obj, f->name, &v);
		if (f->rule != NULL && f->rule(obj, present, path, err) == -1)
			return -1;
		if (!present) {
			if (f->required)
				return check_fail(err, "missing_field", path,
				    "is required");
			continue;
		}
		if (check_value(obj, v, f, path, now, err) == -1)
			return -1;
	}
	return 0;
}

/* Check a request body against the schema of its endpoint. */
int
check_body(struct json_object *body, const struct schema *sc, time_t now,
    struct api_error *err)
{
	if (!json_object_is_type(body, json_type_object)) {
		error_set(err, 400, "not_an_object", NULL,
		    "the body must be a JSON object");
		return -1;
	}
	return check_object(body, sc, "", now, err);
}
