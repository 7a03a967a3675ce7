/*
 * The request validator's insides, shared by validate.c (the schema of each
 * body), check.c (walking a body against its schema) and format.c (string
 * formats, dates and timestamps).  Everything else sees only the validate_*
 * functions of hotlined.h.
 */
#ifndef VALIDATE_H
#define VALIDATE_H

#define REGION_LEN		6	/* GB/T 2260 region code */

#define REQUIRED		1
#define OPTIONAL		0

enum ftype {
	F_TEXT,		/* string: characters, not blank, max code points */
	F_INT,		/* integer literal in [min, max] */
	F_BOOL,
	F_ENUM,		/* one of values[] */
	F_FORMAT,	/* string satisfying format->valid */
	F_TIMESTAMP,	/* RFC 3339 with offset, within its window */
	F_DATE,		/* YYYY-MM-DD within its window, not in the future */
	F_OBJECT,	/* members as sub says */
	F_ARRAY,	/* min..max distinct items, each as item says */
};

/* A string format: its checker, and the rule it enforces for messages. */
struct format {
	int		 (*valid)(const char *, time_t);
	const char	*rule;
};

struct schema;

/* One field of an object, or the items of an array. */
struct field {
	const char		*name;
	enum ftype		 type;
	int			 required;
	long			 min, max;	/* value; text, array length */
	const char *const	*values;	/* F_ENUM, NULL-terminated */
	const struct format	*format;	/* F_FORMAT */
	const struct schema	*sub;		/* F_OBJECT */
	const struct field	*item;		/* F_ARRAY: each item */
	const char		*after;		/* F_TIMESTAMP: not before it */
	long			 span;		/* and at most span s later */
	/* A rule tying the field to earlier ones, checked when the field is
	 * reached, present or not: 0, or -1 with err filled. */
	int			(*rule)(struct json_object *obj, int present,
				    const char *path, struct api_error *err);
};

struct schema {
	const struct field	*fields;
	size_t			 n;
};

/* An instant: seconds since the epoch and nanoseconds. */
struct instant {
	long long	 sec;
	long		 nsec;
};

#define SCHEMA(a)	{ (a), sizeof(a) / sizeof((a)[0]) }
#define TEXT(n, r, lim)	{ .name = (n), .type = F_TEXT, .required = (r), \
			  .max = (lim) }
#define INT(n, r, lo, hi) { .name = (n), .type = F_INT, .required = (r), \
			  .min = (lo), .max = (hi) }
#define BOOL(n, r)	{ .name = (n), .type = F_BOOL, .required = (r) }
#define ENUM(n, r, v)	{ .name = (n), .type = F_ENUM, .required = (r), \
			  .values = (v) }
#define FORMAT(n, r, f)	{ .name = (n), .type = F_FORMAT, .required = (r), \
			  .format = &(f) }
#define TIMESTAMP(n, r)	{ .name = (n), .type = F_TIMESTAMP, .required = (r) }
#define TIMESTAMP_AFTER(n, r, earlier, most) { .name = (n), \
			  .type = F_TIMESTAMP, .required = (r), \
			  .after = (earlier), .span = (most) }
#define DATE(n, r)	{ .name = (n), .type = F_DATE, .required = (r) }
#define OBJECT(n, r, s)	{ .name = (n), .type = F_OBJECT, .required = (r), \
			  .sub = &(s) }
#define OBJECT_RULE(n, s, fn) { .name = (n), .type = F_OBJECT, \
			  .required = OPTIONAL, .sub = &(s), .rule = (fn) }
#define FORMAT_RULE(n, f, fn) { .name = (n), .type = F_FORMAT, \
			  .required = OPTIONAL, .format = &(f), .rule = (fn) }
#define ARRAY(n, r, lo, hi, it) { .name = (n), .type = F_ARRAY, \
			  .required = (r), .min = (lo), .max = (hi), \
			  .item = &(it) }

/* format.c */
extern const struct format format_region, format_phone, format_id_number,
	    format_code, format_language, format_agency, format_case_number;
int	 format_digits(const char *, size_t n);
int	 format_date(const char *, int *year, long *days);
long	 format_today(time_t now);
int	 format_timestamp(const char *, int *year, struct instant *);
int	 format_instant_cmp(const struct instant *, const struct instant *);

/* check.c */
int	 check_body(struct json_object *, const struct schema *, time_t now,
	    struct api_error *);
int	 check_fail(struct api_error *, const char *code, const char *path,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* VALIDATE_H */
