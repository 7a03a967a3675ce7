/*
 * Request validation: each body is walked against a table of field
 * descriptors (type, required, limits, format).  The first problem found
 * is reported with its code and the path of the offending field; messages
 * describe the rule and never echo submitted values.  Category and region
 * existence is data, checked by the database.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hotlined.h"

#define TEXT_NAME_MAX		64
#define TEXT_SCHOOL_MAX		128
#define TEXT_ADDRESS_MAX	256
#define TEXT_SUMMARY_MAX	4000
#define TEXT_NARRATIVE_MAX	16000
#define LANGUAGE_MAX		35
#define CODE_MAX		32
#define CATEGORIES_MAX		8
#define SITUATIONS_MAX		9
#define CALL_MAX_SECONDS	(24 * 3600)
#define FUTURE_SLACK		600	/* clock skew tolerated, seconds */
#define AGE_MAX			17

enum ftype {
	F_TEXT,		/* string, limits in code points */
	F_INT,		/* integer literal within [min, max] */
	F_BOOL,
	F_ENUM,		/* one of a list of strings */
	F_TIMESTAMP,	/* RFC 3339 with offset */
	F_DATE,		/* YYYY-MM-DD, not in the future */
	F_REGION,	/* 6-digit region code */
	F_PHONE,
	F_IDNUM,	/* PRC resident ID number */
	F_CODE,		/* category or subcategory code */
	F_LANG,
	F_OBJECT,	/* nested object with its own schema */
	F_CATEGORIES,	/* array of category pairs */
	F_SITUATIONS,	/* array of statutory situations 1-9 */
};

struct schema;

/* One field of an object. */
struct field {
	const char		*name;
	enum ftype		 type;
	int			 required;
	long			 min, max;
	const char *const	*values;	/* F_ENUM, NULL-terminated */
	const struct schema	*sub;		/* F_OBJECT */
};

struct schema {
	const struct field	*fields;
	size_t			 n;
};

#define SCHEMA(a)	{ a, sizeof(a) / sizeof(a[0]) }

static const char *const caller_types[] = { "child_self", "about_child",
    "unknown", NULL };
static const char *const dispositions[] = { "counselled", "information",
    "referred", "silent", "hang_up", "prank", "abusive", "case_opened",
    NULL };
static const char *const genders[] = { "female", "male", "unknown", NULL };
static const char *const professions[] = { "teacher", "kindergarten_staff",
    "doctor", "nurse", "social_worker", "hotel_staff", "community_worker",
    "other", NULL };
static const char *const institution_types[] = { "school", "kindergarten",
    "nursery", "hospital", "clinic", "welfare_institution",
    "social_work_agency", "hotel", "residents_committee",
    "villagers_committee", "other", NULL };

static const struct field child_fields[] = {
	{ "name",	F_TEXT,	0, 1, TEXT_NAME_MAX, NULL, NULL },
	{ "gender",	F_ENUM,	0, 0, 0, genders, NULL },
	{ "age",	F_INT,	0, 0, AGE_MAX, NULL, NULL },
	{ "birth_date",	F_DATE,	0, 0, 0, NULL, NULL },
	{ "id_number",	F_IDNUM, 0, 0, 0, NULL, NULL },
	{ "phone",	F_PHONE, 0, 0, 0, NULL, NULL },
	{ "school",	F_TEXT,	0, 1, TEXT_SCHOOL_MAX, NULL, NULL },
	{ "address",	F_TEXT,	0, 1, TEXT_ADDRESS_MAX, NULL, NULL },
	{ "region_code", F_REGION, 1, 0, 0, NULL, NULL },
};
static const struct schema child_schema = SCHEMA(child_fields);

static const struct field topic_fields[] = {
	{ "category",	F_CODE,	1, 0, 0, NULL, NULL },
	{ "subcategory", F_CODE, 0, 0, 0, NULL, NULL },
};
static const struct schema topic_schema = SCHEMA(topic_fields);

static const struct field pair_fields[] = {
	{ "category",	F_CODE,	1, 0, 0, NULL, NULL },
	{ "subcategory", F_CODE, 1, 0, 0, NULL, NULL },
};
static const struct schema pair_schema = SCHEMA(pair_fields);

static const struct field case_fields[] = {
	{ "categories",	F_CATEGORIES, 1, 1, CATEGORIES_MAX, NULL, NULL },
	{ "risk_level",	F_INT,	1, 1, 4, NULL, NULL },
	{ "child",	F_OBJECT, 1, 0, 0, NULL, &child_schema },
	{ "narrative",	F_TEXT,	1, 1, TEXT_NARRATIVE_MAX, NULL, NULL },
};
static const struct schema case_schema = SCHEMA(case_fields);

static const struct field call_fields[] = {
	{ "started_at",	F_TIMESTAMP, 1, 0, 0, NULL, NULL },
	{ "ended_at",	F_TIMESTAMP, 1, 0, 0, NULL, NULL },
	{ "caller_type", F_ENUM, 1, 0, 0, caller_types, NULL },
	{ "caller_phone", F_PHONE, 0, 0, 0, NULL, NULL },
	{ "language",	F_LANG,	0, 0, 0, NULL, NULL },
	{ "topic",	F_OBJECT, 0, 0, 0, NULL, &topic_schema },
	{ "summary",	F_TEXT,	0, 1, TEXT_SUMMARY_MAX, NULL, NULL },
	{ "disposition", F_ENUM, 1, 0, 0, dispositions, NULL },
	{ "open_case",	F_OBJECT, 0, 0, 0, NULL, &case_schema },
};
static const struct schema call_schema = SCHEMA(call_fields);

static const struct field reporter_fields[] = {
	{ "name",	F_TEXT,	1, 1, TEXT_NAME_MAX, NULL, NULL },
	{ "phone",	F_PHONE, 1, 0, 0, NULL, NULL },
	{ "id_number",	F_IDNUM, 0, 0, 0, NULL, NULL },
	{ "profession",	F_ENUM,	1, 0, 0, professions, NULL },
};
static const struct schema reporter_schema = SCHEMA(reporter_fields);

static const struct field institution_fields[] = {
	{ "name",	F_TEXT,	1, 1, TEXT_SCHOOL_MAX, NULL, NULL },
	{ "type",	F_ENUM,	1, 0, 0, institution_types, NULL },
	{ "region_code", F_REGION, 0, 0, 0, NULL, NULL },
};
static const struct schema institution_schema = SCHEMA(institution_fields);

static const struct field report_fields[] = {
	{ "reporter",	F_OBJECT, 1, 0, 0, NULL, &reporter_schema },
	{ "institution", F_OBJECT, 1, 0, 0, NULL, &institution_schema },
	{ "child",	F_OBJECT, 1, 0, 0, NULL, &child_schema },
	{ "situations",	F_SITUATIONS, 1, 1, SITUATIONS_MAX, NULL, NULL },
	{ "suspected",	F_BOOL,	1, 0, 0, NULL, NULL },
	{ "discovered_at", F_TIMESTAMP, 1, 0, 0, NULL, NULL },
	{ "reported_at", F_TIMESTAMP, 1, 0, 0, NULL, NULL },
	{ "narrative",	F_TEXT,	1, 1, TEXT_NARRATIVE_MAX, NULL, NULL },
	{ "immediate_danger", F_BOOL, 1, 0, 0, NULL, NULL },
	{ "actions_taken", F_TEXT, 0, 1, TEXT_SUMMARY_MAX, NULL, NULL },
};
static const struct schema report_schema = SCHEMA(report_fields);

static const char *const event_types[] = { "note", "outcome", "feedback",
    "supervision", NULL };
static const char *const outcomes[] = { "accepted", "case_opened", "declined",
    "prosecution", "resolved", "closed", NULL };
static const char *const supervisions[] = { "case_filing_supervision",
    "procuratorial_suggestion", NULL };

static const struct field event_fields[] = {
	{ "type",	F_ENUM,	1, 0, 0, event_types, NULL },
	{ "outcome",	F_ENUM,	0, 0, 0, outcomes, NULL },
	{ "police_case_number", F_TEXT, 0, 1, TEXT_NAME_MAX, NULL, NULL },
	{ "reason",	F_TEXT,	0, 1, TEXT_SUMMARY_MAX, NULL, NULL },
	{ "supervision", F_ENUM, 0, 0, 0, supervisions, NULL },
	{ "text",	F_TEXT,	0, 1, TEXT_SUMMARY_MAX, NULL, NULL },
};
static const struct schema event_schema = SCHEMA(event_fields);

static const struct field transfer_fields[] = {
	{ "target_agency", F_TEXT, 1, 1, TEXT_NAME_MAX, NULL, NULL },
	{ "reason",	F_TEXT,	1, 1, TEXT_SUMMARY_MAX, NULL, NULL },
};
static const struct schema transfer_schema = SCHEMA(transfer_fields);

static int check_object(struct json_object *, const struct schema *,
    const char *, time_t, struct api_error *);

/* Join a parent path and a member name (paths are short; a cut is harmless). */
static void
path_join(char *out, size_t sz, const char *parent, const char *name)
{
	int n;

	if (parent[0] == '\0')
		n = snprintf(out, sz, "%s", name);
	else
		n = snprintf(out, sz, "%s.%s", parent, name);
	if (n < 0 || (size_t)n >= sz)
		out[sz - 1] = '\0';
}

/* The path of an array item. */
static void
path_index(char *out, size_t sz, const char *parent, size_t i)
{
	int n = snprintf(out, sz, "%s[%zu]", parent, i);

	if (n < 0 || (size_t)n >= sz)
		out[sz - 1] = '\0';
}

/* Fill a 400 error for a field; always returns -1. */
static int
bad(struct api_error *err, const char *code, const char *path,
    const char *message)
{
	api_error_set(err, 400, code, path, "%s", message);
	return -1;
}

/* Return nonzero if s is n ASCII digits. */
static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Value of n ASCII digits (already checked). */
static int
num(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Days in a month of a year. */
static int
month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long
days_from_civil(int y, int m, int d)
{
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Parse YYYY-MM-DD within [ymin, ymax]; 0 and the day number if valid. */
static int
parse_date(const char *s, int ymin, int ymax, long *days)
{
	int y, m, d;

	if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' ||
	    !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
		return -1;
	y = num(s, 4);
	m = num(s + 5, 2);
	d = num(s + 8, 2);
	if (y < ymin || y > ymax || m < 1 || m > 12 || d < 1 ||
	    d > month_days(y, m))
		return -1;
	*days = days_from_civil(y, m, d);
	return 0;
}

/* Parse an RFC 3339 timestamp with offset into seconds since the epoch. */
static int
parse_timestamp(const char *s, time_t *out)
{
	int hh, mi, ss, oh, om, sign;
	const char *p;
	long days;

	if (parse_date(s, 2000, 2099, &days) == -1 || s[10] != 'T')
		return -1;
	p = s + 11;
	if (!digits(p, 2) || p[2] != ':' || !digits(p + 3, 2) ||
	    p[5] != ':' || !digits(p + 6, 2))
		return -1;
	hh = num(p, 2);
	mi = num(p + 3, 2);
	ss = num(p + 6, 2);
	if (hh > 23 || mi > 59 || ss > 59)
		return -1;
	p += 8;
	if (*p == '.') {
		const char *f = ++p;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f || p - f > 9)
			return -1;
	}
	if (p[0] == 'Z' && p[1] == '\0') {
		oh = om = 0;
		sign = 1;
	} else if ((p[0] == '+' || p[0] == '-') && digits(p + 1, 2) &&
	    p[3] == ':' && digits(p + 4, 2) && p[6] == '\0') {
		sign = p[0] == '-' ? -1 : 1;
		oh = num(p + 1, 2);
		om = num(p + 4, 2);
		if (oh > 23 || om > 59)
			return -1;
	} else
		return -1;
	*out = (time_t)(days * 86400 + hh * 3600 + mi * 60 + ss) -
	    (time_t)sign * (oh * 3600 + om * 60);
	return 0;
}

/* Check a PRC resident ID number: shape, birth date and check character. */
static int
valid_id_number(const char *s)
{
	static const int w[17] = { 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10,
	    5, 8, 4, 2 };
	static const char check[] = "10X98765432";
	char date[11];
	long days;
	int i, sum = 0;

	if (strlen(s) != 18 || !digits(s, 17) || s[0] == '0' ||
	    !((s[17] >= '0' && s[17] <= '9') || s[17] == 'X'))
		return 0;
	snprintf(date, sizeof(date), "%.4s-%.2s-%.2s", s + 6, s + 10, s + 12);
	if (parse_date(date, 1900, 2099, &days) == -1)
		return 0;
	for (i = 0; i < 17; i++)
		sum += (s[i] - '0') * w[i];
	return check[sum % 11] == s[17];
}

/* Check a phone number: mainland mobile, landline or E.164. */
static int
valid_phone(const char *s)
{
	size_t n = strlen(s), i, area;

	if (n == 11 && s[0] == '1' && s[1] >= '3' && s[1] <= '9' &&
	    digits(s, 11))
		return 1;
	if (s[0] == '+')
		return n >= 8 && n <= 16 && s[1] >= '1' && s[1] <= '9' &&
		    digits(s + 1, n - 1);
	if (s[0] != '0' || n < 2 || s[1] < '1' || s[1] > '9')
		return 0;
	/* 0 + area code (2-4 digits in all) [-] + 7-8 digit local number. */
	for (area = 3; area <= 5; area++) {
		for (i = 0; i <= 1; i++) {
			const char *local = s + area + i;
			size_t ln;

			if (area + i >= n || (i == 1 && s[area] != '-'))
				continue;
			if (!digits(s, area))
				continue;
			ln = n - area - i;
			if ((ln == 7 || ln == 8) && local[0] >= '1' &&
			    local[0] <= '9' && digits(local, ln))
				return 1;
		}
	}
	return 0;
}

/* Check a lowercase code: ^[a-z][a-z_]{0,31}$. */
static int
valid_code(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CODE_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return 0;
	return 1;
}

/* Check a BCP 47-shaped language tag. */
static int
valid_language(const char *s)
{
	size_t n = 0, sub = 0;
	const char *p = s;
	int subtags = 0;

	if (strlen(s) > LANGUAGE_MAX)
		return 0;
	while (*p >= 'a' && *p <= 'z') {
		p++;
		n++;
	}
	if (n < 2 || n > 3)
		return 0;
	while (*p == '-') {
		p++;
		sub = 0;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9')) {
			p++;
			sub++;
		}
		if (sub < 2 || sub > 8 || ++subtags > 3)
			return 0;
	}
	return *p == '\0';
}

/* Check a text: allowed characters, length in code points, not blank. */
static int
check_text(const char *s, size_t len, const struct field *f,
    const char *path, struct api_error *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, cps = 0;
	int blank = 1;
	char msg[96];

	for (i = 0; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			cps++;
		if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\t' &&
		    !(p[i] == '\r' && i + 1 < len && p[i + 1] == '\n'))
			return bad(err, "invalid_value", path,
			    "must not contain control characters");
		if (p[i] == 0x7f)
			return bad(err, "invalid_value", path,
			    "must not contain control characters");
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r')
			blank = 0;
	}
	if (blank)
		return bad(err, "empty", path, "must not be empty");
	if (cps > (size_t)f->max) {
		snprintf(msg, sizeof(msg), "must be at most %ld characters",
		    f->max);
		return bad(err, "too_long", path, msg);
	}
	return 0;
}

/* Check an array of {category, subcategory} pairs. */
static int
check_categories(struct json_object *v, const struct field *f,
    const char *path, time_t now, struct api_error *err)
{
	struct json_object *a, *b, *ac, *as, *bc, *bs;
	char ipath[ERR_FIELD_MAX];
	size_t i, j, n;

	if (!json_object_is_type(v, json_type_array))
		return bad(err, "wrong_type", path, "must be an array");
	n = json_object_array_length(v);
	if (n < (size_t)f->min)
		return bad(err, "empty", path, "must not be empty");
	if (n > (size_t)f->max)
		return bad(err, "too_long", path, "has too many items");
	for (i = 0; i < n; i++) {
		path_index(ipath, sizeof(ipath), path, i);
		a = json_object_array_get_idx(v, i);
		if (!json_object_is_type(a, json_type_object))
			return bad(err, "wrong_type", ipath,
			    "must be an object");
		if (check_object(a, &pair_schema, ipath, now, err) == -1)
			return -1;
		json_object_object_get_ex(a, "category", &ac);
		json_object_object_get_ex(a, "subcategory", &as);
		for (j = 0; j < i; j++) {
			b = json_object_array_get_idx(v, j);
			json_object_object_get_ex(b, "category", &bc);
			json_object_object_get_ex(b, "subcategory", &bs);
			if (strcmp(json_object_get_string(ac),
			    json_object_get_string(bc)) == 0 &&
			    strcmp(json_object_get_string(as),
			    json_object_get_string(bs)) == 0)
				return bad(err, "duplicate_item", ipath,
				    "repeats an earlier item");
		}
	}
	return 0;
}

/* Check an array of distinct statutory situations 1-9. */
static int
check_situations(struct json_object *v, const struct field *f,
    const char *path, struct api_error *err)
{
	struct json_object *e;
	char ipath[ERR_FIELD_MAX];
	int seen[SITUATIONS_MAX + 1] = { 0 };
	size_t i, n;
	int64_t s;

	if (!json_object_is_type(v, json_type_array))
		return bad(err, "wrong_type", path, "must be an array");
	n = json_object_array_length(v);
	if (n < (size_t)f->min)
		return bad(err, "empty", path, "must not be empty");
	if (n > (size_t)f->max)
		return bad(err, "too_long", path, "has too many items");
	for (i = 0; i < n; i++) {
		path_index(ipath, sizeof(ipath), path, i);
		e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_int))
			return bad(err, "wrong_type", ipath,
			    "must be an integer");
		s = json_object_get_int64(e);
		if (s < 1 || s > SITUATIONS_MAX)
			return bad(err, "out_of_range", ipath,
			    "must be between 1 and 9");
		if (seen[s]++)
			return bad(err, "duplicate_item", ipath,
			    "repeats an earlier situation");
	}
	return 0;
}

/* Check one present field's value. */
static int
check_field(struct json_object *v, const struct field *f, const char *path,
    time_t now, struct api_error *err)
{
	const char *s;
	char msg[96];
	time_t t;
	long days;
	int64_t i;
	size_t k;

	switch (f->type) {
	case F_INT:
		if (!json_object_is_type(v, json_type_int))
			return bad(err, "wrong_type", path,
			    "must be an integer");
		i = json_object_get_int64(v);
		if (i < f->min || i > f->max) {
			snprintf(msg, sizeof(msg), "must be between %ld and "
			    "%ld", f->min, f->max);
			return bad(err, "out_of_range", path, msg);
		}
		return 0;
	case F_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return bad(err, "wrong_type", path,
			    "must be true or false");
		return 0;
	case F_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return bad(err, "wrong_type", path,
			    "must be an object");
		return check_object(v, f->sub, path, now, err);
	case F_CATEGORIES:
		return check_categories(v, f, path, now, err);
	case F_SITUATIONS:
		return check_situations(v, f, path, err);
	default:
		break;
	}
	if (!json_object_is_type(v, json_type_string))
		return bad(err, "wrong_type", path, "must be a string");
	s = json_object_get_string(v);
	switch (f->type) {
	case F_TEXT:
		return check_text(s, (size_t)json_object_get_string_len(v), f,
		    path, err);
	case F_ENUM:
		for (k = 0; f->values[k] != NULL; k++)
			if (strcmp(s, f->values[k]) == 0)
				return 0;
		return bad(err, "invalid_value", path,
		    "is not one of the allowed values");
	case F_TIMESTAMP:
		if (parse_timestamp(s, &t) == -1)
			return bad(err, "invalid_value", path,
			    "must be an RFC 3339 timestamp with a time zone "
			    "offset, such as 2026-11-01T09:00:00+08:00");
		if (t > now + FUTURE_SLACK)
			return bad(err, "out_of_range", path,
			    "must not be in the future");
		return 0;
	case F_DATE:
		if (parse_date(s, 1990, 2099, &days) == -1 || s[10] != '\0')
			return bad(err, "invalid_value", path,
			    "must be a date YYYY-MM-DD");
		if (days * 86400 > now + 86400)
			return bad(err, "out_of_range", path,
			    "must not be in the future");
		return 0;
	case F_REGION:
		if (strlen(s) != 6 || !digits(s, 6) || s[0] == '0')
			return bad(err, "invalid_value", path,
			    "must be a 6-digit region code");
		return 0;
	case F_PHONE:
		if (!valid_phone(s))
			return bad(err, "invalid_value", path,
			    "must be a mobile, landline or E.164 number");
		return 0;
	case F_IDNUM:
		if (!valid_id_number(s))
			return bad(err, "invalid_value", path,
			    "must be an 18-character resident ID number with "
			    "a valid birth date and check character");
		return 0;
	case F_CODE:
		if (!valid_code(s))
			return bad(err, "invalid_value", path,
			    "must be a lowercase code of letters and '_'");
		return 0;
	case F_LANG:
		if (!valid_language(s))
			return bad(err, "invalid_value", path,
			    "must be a language tag such as zh or zh-yue");
		return 0;
	default:
		return bad(err, "invalid_value", path, "unsupported field");
	}
}

/* Check an object: no unknown members, then each field in order. */
static int
check_object(struct json_object *obj, const struct schema *sc,
    const char *parent, time_t now, struct api_error *err)
{
	struct json_object *v;
	char path[ERR_FIELD_MAX];
	size_t i;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		for (i = 0; i < sc->n; i++)
			if (strcmp(key, sc->fields[i].name) == 0)
				break;
		if (i == sc->n) {
			path_join(path, sizeof(path), parent, key);
			return bad(err, "unknown_field", path,
			    "is not a field of this object");
		}
	}
	for (i = 0; i < sc->n; i++) {
		path_join(path, sizeof(path), parent, sc->fields[i].name);
		if (!json_object_object_get_ex(obj, sc->fields[i].name, &v)) {
			if (sc->fields[i].required)
				return bad(err, "missing_field", path,
				    "is required");
			continue;
		}
		if (v == NULL)
			return bad(err, "wrong_type", path,
			    "must not be null");
		if (check_field(v, &sc->fields[i], path, now, err) == -1)
			return -1;
	}
	return 0;
}

/* The instant of a timestamp member already validated. */
static time_t
member_time(struct json_object *obj, const char *name)
{
	struct json_object *v;
	time_t t = 0;

	if (json_object_object_get_ex(obj, name, &v))
		parse_timestamp(json_object_get_string(v), &t);
	return t;
}

/* Check a POST /v1/calls body. */
int
validate_call(struct json_object *body, time_t now, struct api_error *err)
{
	struct json_object *v;
	time_t start, end;
	int opened, has_case;

	if (!json_object_is_type(body, json_type_object)) {
		api_error_set(err, 400, "not_an_object", NULL,
		    "the body must be a JSON object");
		return -1;
	}
	if (check_object(body, &call_schema, "", now, err) == -1)
		return -1;
	start = member_time(body, "started_at");
	end = member_time(body, "ended_at");
	if (end < start)
		return bad(err, "inconsistent", "ended_at",
		    "must not be before started_at");
	if (end - start > CALL_MAX_SECONDS)
		return bad(err, "out_of_range", "ended_at",
		    "a call may last at most 24 hours");
	json_object_object_get_ex(body, "disposition", &v);
	opened = strcmp(json_object_get_string(v), "case_opened") == 0;
	has_case = json_object_object_get_ex(body, "open_case", NULL);
	if (opened != has_case)
		return bad(err, "inconsistent", "open_case", opened ?
		    "is required when disposition is case_opened" :
		    "is allowed only when disposition is case_opened");
	return 0;
}

/* Check a POST /v1/reports body. */
int
validate_report(struct json_object *body, time_t now, struct api_error *err)
{
	if (!json_object_is_type(body, json_type_object)) {
		api_error_set(err, 400, "not_an_object", NULL,
		    "the body must be a JSON object");
		return -1;
	}
	if (check_object(body, &report_schema, "", now, err) == -1)
		return -1;
	if (member_time(body, "reported_at") <
	    member_time(body, "discovered_at"))
		return bad(err, "inconsistent", "reported_at",
		    "must not be before discovered_at");
	return 0;
}

/* Return the string member of an object, or NULL. */
static const char *
member_str(struct json_object *obj, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, name, &v))
		return NULL;
	return json_object_get_string(v);
}

/* Require or forbid a member depending on a condition. */
static int
needs(struct json_object *obj, const char *name, int required,
    const char *why_required, const char *why_forbidden, struct api_error *err)
{
	int has = json_object_object_get_ex(obj, name, NULL);

	if (required && !has)
		return bad(err, "missing_field", name, why_required);
	if (!required && has)
		return bad(err, "inconsistent", name, why_forbidden);
	return 0;
}

/* Check a POST /v1/cases/{n}/events body. */
int
validate_event(struct json_object *body, time_t now, struct api_error *err)
{
	const char *type, *outcome;

	if (!json_object_is_type(body, json_type_object)) {
		api_error_set(err, 400, "not_an_object", NULL,
		    "the body must be a JSON object");
		return -1;
	}
	if (check_object(body, &event_schema, "", now, err) == -1)
		return -1;
	type = member_str(body, "type");
	outcome = member_str(body, "outcome");
	if (needs(body, "outcome", strcmp(type, "outcome") == 0,
	    "is required for an outcome", "is only for type outcome", err) ||
	    needs(body, "supervision", strcmp(type, "supervision") == 0,
	    "is required for a supervision record",
	    "is only for type supervision", err) ||
	    needs(body, "police_case_number", outcome != NULL &&
	    strcmp(outcome, "case_opened") == 0,
	    "is required when a criminal case is opened",
	    "is only for outcome case_opened", err))
		return -1;
	if (outcome != NULL && strcmp(outcome, "declined") == 0 &&
	    !json_object_object_get_ex(body, "reason", NULL))
		return bad(err, "missing_field", "reason",
		    "is required when a case is declined");
	if (strcmp(type, "note") == 0 &&
	    !json_object_object_get_ex(body, "text", NULL))
		return bad(err, "missing_field", "text",
		    "is required for a note");
	return 0;
}

/* Check a POST /v1/assignments/{id}/transfer body. */
int
validate_transfer(struct json_object *body, time_t now, struct api_error *err)
{
	const char *target;

	if (!json_object_is_type(body, json_type_object)) {
		api_error_set(err, 400, "not_an_object", NULL,
		    "the body must be a JSON object");
		return -1;
	}
	if (check_object(body, &transfer_schema, "", now, err) == -1)
		return -1;
	target = member_str(body, "target_agency");
	if (strspn(target, "abcdefghijklmnopqrstuvwxyz_-0123456789") !=
	    strlen(target))
		return bad(err, "invalid_value", "target_agency",
		    "must be an agency code such as police-320100");
	return 0;
}

/* Check an Idempotency-Key: 1-128 of A-Z a-z 0-9 . _ : - */
int
validate_idempotency_key(const char *key)
{
	size_t i, n = strlen(key);

	if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		char c = key[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return -1;
	}
	return 0;
}

/* Check a case number: YYYY-RRRRRR-NNNNNNNN. */
int
validate_case_number(const char *s)
{
	if (strlen(s) != 20 || !digits(s, 4) || s[4] != '-' ||
	    !digits(s + 5, 6) || s[5] == '0' || s[11] != '-' ||
	    !digits(s + 12, 8))
		return -1;
	return 0;
}
