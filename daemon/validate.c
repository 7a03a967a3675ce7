/*
 * Request validation.  A body is walked against tables of field
 * descriptors: JSON type, required or not, limits, a format checker and
 * the cross-field rule tying a field to an earlier one.  Each object is
 * checked for unknown members first, then field by field in table order
 * (the order of the protocol's tables); the first problem found is
 * reported with its code and the path of the offending field.  Messages
 * describe the rule and never echo submitted values.  Whether a region or
 * a category exists is data, checked by the database (422).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hotlined.h"

/* Text limits, in Unicode code points. */
#define TEXT_NAME_MAX		64
#define TEXT_SCHOOL_MAX		128	/* also an institution's name */
#define TEXT_ADDRESS_MAX	256
#define TEXT_SUMMARY_MAX	4000	/* also actions_taken, reasons, notes */
#define TEXT_NARRATIVE_MAX	16000

/* Numbers and arrays. */
#define AGE_MAX			17
#define RISK_MIN		1
#define RISK_MAX		4
#define SITUATION_MIN		1
#define SITUATION_MAX		9
#define SITUATIONS_MAX		9	/* items */
#define CATEGORIES_MAX		8	/* items */

/* Formats. */
#define REGION_LEN		6
#define ID_NUMBER_LEN		18
#define CODE_MAX		32
#define LANGUAGE_MAX		35
#define LANGUAGE_SUBTAGS_MAX	3
#define AGENCY_CODE_MAX		64
#define FRACTION_DIGITS		9	/* most digits of a fraction (ns) */
#define OFFSET_MAX_MINUTES	(14 * 60)	/* widest UTC offset in use */
#define CASE_NUMBER_LEN		20

/* Time windows. */
#define TS_YEAR_MIN		2000
#define TS_YEAR_MAX		2099
#define DATE_YEAR_MIN		1990
#define DATE_YEAR_MAX		2099
#define BIRTH_YEAR_MIN		1900	/* ID numbers: reporters are adults */
#define FUTURE_SLACK		600	/* s a timestamp may run ahead of us */
#define CALL_MAX_SECONDS	(24 * 3600)
#define LOCAL_UTC_OFFSET	(8 * 3600)	/* dates: China Standard Time */
#define DAY_SECONDS		86400

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
	const char		*when;		/* present exactly when this */
	const char		*when_is;	/* sibling has this value */
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
#define OBJECT_WHEN(n, s, sibling, value) { .name = (n), .type = F_OBJECT, \
			  .required = OPTIONAL, .sub = &(s), \
			  .when = (sibling), .when_is = (value) }
#define ARRAY(n, r, lo, hi, it) { .name = (n), .type = F_ARRAY, \
			  .required = (r), .min = (lo), .max = (hi), \
			  .item = &(it) }

static int	valid_region(const char *, time_t);
static int	valid_phone(const char *, time_t);
static int	valid_id_number(const char *, time_t);
static int	valid_code(const char *, time_t);
static int	valid_language(const char *, time_t);
static int	valid_agency(const char *, time_t);

static const struct format region_format = { valid_region,
    "must be a 6-digit region code not starting with 0" };
static const struct format phone_format = { valid_phone,
    "must be a mainland mobile number, a landline number with area code "
    "or an E.164 number" };
static const struct format id_format = { valid_id_number,
    "must be an 18-character resident ID number with a valid birth date "
    "and check character" };
static const struct format code_format = { valid_code,
    "must be a code of 1-32 lowercase letters and underscores, starting "
    "with a letter" };
static const struct format language_format = { valid_language,
    "must be a language tag such as zh, zh-yue or en, at most 35 "
    "characters" };
static const struct format agency_format = { valid_agency,
    "must be an agency code such as police-320100" };

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
static const char *const event_types[] = { "note", "outcome", "feedback",
    "supervision", NULL };
static const char *const outcomes[] = { "accepted", "case_opened",
    "declined", "prosecution", "resolved", "closed", NULL };
static const char *const supervisions[] = { "case_filing_supervision",
    "procuratorial_suggestion", NULL };

/* The child: the same in calls that open a case and in reports. */
static const struct field child_fields[] = {
	TEXT("name", OPTIONAL, TEXT_NAME_MAX),
	ENUM("gender", OPTIONAL, genders),
	INT("age", OPTIONAL, 0, AGE_MAX),
	DATE("birth_date", OPTIONAL),
	FORMAT("id_number", OPTIONAL, id_format),
	FORMAT("phone", OPTIONAL, phone_format),
	TEXT("school", OPTIONAL, TEXT_SCHOOL_MAX),
	TEXT("address", OPTIONAL, TEXT_ADDRESS_MAX),
	FORMAT("region_code", REQUIRED, region_format),
};
static const struct schema child_schema = SCHEMA(child_fields);

static const struct field topic_fields[] = {
	FORMAT("category", REQUIRED, code_format),
	FORMAT("subcategory", OPTIONAL, code_format),
};
static const struct schema topic_schema = SCHEMA(topic_fields);

static const struct field pair_fields[] = {
	FORMAT("category", REQUIRED, code_format),
	FORMAT("subcategory", REQUIRED, code_format),
};
static const struct schema pair_schema = SCHEMA(pair_fields);
static const struct field pair_item = OBJECT("", REQUIRED, pair_schema);

static const struct field case_fields[] = {
	ARRAY("categories", REQUIRED, 1, CATEGORIES_MAX, pair_item),
	INT("risk_level", REQUIRED, RISK_MIN, RISK_MAX),
	OBJECT("child", REQUIRED, child_schema),
	TEXT("narrative", REQUIRED, TEXT_NARRATIVE_MAX),
};
static const struct schema case_schema = SCHEMA(case_fields);

static const struct field call_fields[] = {
	TIMESTAMP("started_at", REQUIRED),
	TIMESTAMP_AFTER("ended_at", REQUIRED, "started_at", CALL_MAX_SECONDS),
	ENUM("caller_type", REQUIRED, caller_types),
	FORMAT("caller_phone", OPTIONAL, phone_format),
	FORMAT("language", OPTIONAL, language_format),
	OBJECT("topic", OPTIONAL, topic_schema),
	TEXT("summary", OPTIONAL, TEXT_SUMMARY_MAX),
	ENUM("disposition", REQUIRED, dispositions),
	OBJECT_WHEN("open_case", case_schema, "disposition", "case_opened"),
};
static const struct schema call_schema = SCHEMA(call_fields);

static const struct field reporter_fields[] = {
	TEXT("name", REQUIRED, TEXT_NAME_MAX),
	FORMAT("phone", REQUIRED, phone_format),
	FORMAT("id_number", OPTIONAL, id_format),
	ENUM("profession", REQUIRED, professions),
};
static const struct schema reporter_schema = SCHEMA(reporter_fields);

static const struct field institution_fields[] = {
	TEXT("name", REQUIRED, TEXT_SCHOOL_MAX),
	ENUM("type", REQUIRED, institution_types),
	FORMAT("region_code", OPTIONAL, region_format),
};
static const struct schema institution_schema = SCHEMA(institution_fields);

static const struct field situation_item = INT("", REQUIRED, SITUATION_MIN,
    SITUATION_MAX);

static const struct field report_fields[] = {
	OBJECT("reporter", REQUIRED, reporter_schema),
	OBJECT("institution", REQUIRED, institution_schema),
	OBJECT("child", REQUIRED, child_schema),
	ARRAY("situations", REQUIRED, 1, SITUATIONS_MAX, situation_item),
	BOOL("suspected", REQUIRED),
	TIMESTAMP("discovered_at", REQUIRED),
	TIMESTAMP_AFTER("reported_at", REQUIRED, "discovered_at", 0),
	TEXT("narrative", REQUIRED, TEXT_NARRATIVE_MAX),
	BOOL("immediate_danger", REQUIRED),
	TEXT("actions_taken", OPTIONAL, TEXT_SUMMARY_MAX),
};
static const struct schema report_schema = SCHEMA(report_fields);

static const struct field event_fields[] = {
	ENUM("type", REQUIRED, event_types),
	ENUM("outcome", OPTIONAL, outcomes),
	TEXT("police_case_number", OPTIONAL, TEXT_NAME_MAX),
	TEXT("reason", OPTIONAL, TEXT_SUMMARY_MAX),
	ENUM("supervision", OPTIONAL, supervisions),
	TEXT("text", OPTIONAL, TEXT_SUMMARY_MAX),
};
static const struct schema event_schema = SCHEMA(event_fields);

static const struct field transfer_fields[] = {
	FORMAT("target_agency", REQUIRED, agency_format),
	TEXT("reason", REQUIRED, TEXT_SUMMARY_MAX),
};
static const struct schema transfer_schema = SCHEMA(transfer_fields);

/* POST /v1/cases/{n}/access-requests: why, and for how many hours. */
#define PURPOSE_MAX	500
#define ACCESS_HOURS_MAX 720
static const struct field access_fields[] = {
	TEXT("purpose", REQUIRED, PURPOSE_MAX),
	INT("hours", OPTIONAL, 1, ACCESS_HOURS_MAX),
};
static const struct schema access_schema = SCHEMA(access_fields);

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
static int __attribute__((format(printf, 4, 5)))
bad(struct api_error *err, const char *code, const char *path,
    const char *fmt, ...)
{
	char msg[ERR_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_error_set(err, 400, code, path, "%s", msg);
	return -1;
}

/* Return nonzero if s starts with n ASCII digits (stops at a NUL). */
static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* The value of n ASCII digits already checked. */
static int
num(const char *s, size_t n)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Days since 1970-01-01 of a calendar-valid (Gregorian) date, else -1. */
static int
civil_days(int y, int m, int d, long *days)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	long era, yoe, doy, doe;

	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
		return -1;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	*days = era * 146097 + doe - 719468;
	return 0;
}

/* Parse the YYYY-MM-DD at the start of s (any year); 0 if calendar-valid. */
static int
parse_ymd(const char *s, int *year, long *days)
{
	if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2))
		return -1;
	*year = num(s, 4);
	return civil_days(*year, num(s + 5, 2), num(s + 8, 2), days);
}

/* Today's day number in China Standard Time. */
static long
today(time_t now)
{
	long long t = (long long)now + LOCAL_UTC_OFFSET;

	return (long)(t >= 0 ? t / DAY_SECONDS :
	    -((-t + DAY_SECONDS - 1) / DAY_SECONDS));
}

/* Parse an RFC 3339 timestamp with offset (any year); 0 if well formed. */
static int
parse_timestamp(const char *s, int *year, struct instant *t)
{
	const char *p;
	long days;
	int hh, mi, ss, oh, om, off, i;

	if (parse_ymd(s, year, &days) == -1 || s[10] != 'T')
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
	t->nsec = 0;
	if (*p == '.') {
		for (i = 0, p++; p[i] >= '0' && p[i] <= '9'; i++)
			if (i < FRACTION_DIGITS)
				t->nsec = t->nsec * 10 + (p[i] - '0');
		if (i == 0 || i > FRACTION_DIGITS)
			return -1;
		p += i;
		for (; i < FRACTION_DIGITS; i++)
			t->nsec *= 10;
	}
	if (p[0] == 'Z' && p[1] == '\0')
		off = 0;
	else if ((p[0] == '+' || p[0] == '-') && digits(p + 1, 2) &&
	    p[3] == ':' && digits(p + 4, 2) && p[6] == '\0') {
		oh = num(p + 1, 2);
		om = num(p + 4, 2);
		off = oh * 60 + om;
		if (om > 59 || off > OFFSET_MAX_MINUTES)
			return -1;
		if (p[0] == '-')
			off = -off;
	} else
		return -1;
	t->sec = (long long)days * DAY_SECONDS + hh * 3600 + mi * 60 + ss -
	    (long long)off * 60;
	return 0;
}

/* Compare two instants: <0, 0 or >0. */
static int
instant_cmp(const struct instant *a, const struct instant *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return 0;
}

/* Check a region code: six digits, the first not 0. */
static int
valid_region(const char *s, time_t now)
{
	(void)now;
	return strlen(s) == REGION_LEN && digits(s, REGION_LEN) &&
	    s[0] != '0';
}

/* Check a phone number: mainland mobile, landline or E.164. */
static int
valid_phone(const char *s, time_t now)
{
	const char *local;
	size_t n = strlen(s), area, len;

	(void)now;
	if (s[0] == '1')	/* mobile: 1[3-9] and 9 digits */
		return n == 11 && s[1] >= '3' && s[1] <= '9' && digits(s, n);
	if (s[0] == '+')	/* E.164: + and 7-15 digits, no leading 0 */
		return n >= 8 && n <= 16 && s[1] != '0' && digits(s + 1, n - 1);
	if (s[0] != '0' || s[1] < '1' || s[1] > '9')
		return 0;
	/* Landline: 0 and a 2-4 digit area code, '-'?, 7-8 digits. */
	for (area = 3; area <= 5 && digits(s, area); area++) {
		local = s + area + (s[area] == '-');
		len = strlen(local);
		if ((len == 7 || len == 8) && local[0] != '0' &&
		    digits(local, len))
			return 1;
	}
	return 0;
}

/* Check a PRC resident ID number: shape, birth date, ISO 7064 MOD 11-2. */
static int
valid_id_number(const char *s, time_t now)
{
	static const int weight[ID_NUMBER_LEN - 1] = { 7, 9, 10, 5, 8, 4, 2,
	    1, 6, 3, 7, 9, 10, 5, 8, 4, 2 };
	static const char check[] = "10X98765432";
	long days;
	int i, sum = 0, year;

	if (strlen(s) != ID_NUMBER_LEN || !digits(s, ID_NUMBER_LEN - 1) ||
	    s[0] == '0')
		return 0;
	year = num(s + 6, 4);
	if (civil_days(year, num(s + 10, 2), num(s + 12, 2), &days) == -1 ||
	    year < BIRTH_YEAR_MIN || days > today(now))
		return 0;
	for (i = 0; i < ID_NUMBER_LEN - 1; i++)
		sum += (s[i] - '0') * weight[i];
	return s[ID_NUMBER_LEN - 1] == check[sum % 11];
}

/* Check a category or subcategory code: ^[a-z][a-z_]{0,31}$. */
static int
valid_code(const char *s, time_t now)
{
	size_t i, n = strlen(s);

	(void)now;
	if (n == 0 || n > CODE_MAX || s[0] < 'a' || s[0] > 'z')
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] < 'a' || s[i] > 'z') && s[i] != '_')
			return 0;
	return 1;
}

/* Return nonzero for an ASCII letter or digit. */
static int
alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Check a BCP 47-shaped tag: ^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$. */
static int
valid_language(const char *s, time_t now)
{
	size_t n;
	int subtags = 0;

	(void)now;
	if (strlen(s) > LANGUAGE_MAX)
		return 0;
	for (n = 0; s[n] >= 'a' && s[n] <= 'z'; n++)
		;
	if (n < 2 || n > 3)
		return 0;
	s += n;
	while (*s == '-') {
		for (s++, n = 0; alnum(s[n]); n++)
			;
		if (n < 2 || n > 8 || ++subtags > LANGUAGE_SUBTAGS_MAX)
			return 0;
		s += n;
	}
	return *s == '\0';
}

/* Check an agency code: ^[a-z0-9_-]{1,64}$. */
static int
valid_agency(const char *s, time_t now)
{
	size_t n = strlen(s);

	(void)now;
	return n >= 1 && n <= AGENCY_CODE_MAX && strspn(s,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Decode one UTF-8 character (U+FFFD for a malformed byte); the next one. */
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
			return bad(err, "invalid_value", path, "must not "
			    "contain control characters other than tab, line "
			    "feed and CR LF");
		if (!is_space(c))
			blank = 0;
	}
	if (blank)
		return bad(err, "empty", path,
		    "must contain a character other than white space");
	if (n > f->max)
		return bad(err, "too_long", path,
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
	return bad(err, "invalid_value", path, "must be one of %s", list);
}

/* Check a timestamp: format, year window, not too far in the future. */
static int
check_timestamp(const char *s, const char *path, time_t now,
    struct instant *t, struct api_error *err)
{
	struct instant limit = { (long long)now + FUTURE_SLACK, 0 };
	int year;

	if (parse_timestamp(s, &year, t) == -1)
		return bad(err, "invalid_value", path, "must be an RFC 3339 "
		    "timestamp with seconds and a UTC offset, such as "
		    "2026-11-01T09:00:00+08:00");
	if (year < TS_YEAR_MIN || year > TS_YEAR_MAX)
		return bad(err, "out_of_range", path,
		    "must be in the years %d to %d", TS_YEAR_MIN, TS_YEAR_MAX);
	if (instant_cmp(t, &limit) > 0)
		return bad(err, "out_of_range", path, "must not be more than "
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
	    parse_timestamp(json_object_get_string(e), &year, &t0) == -1)
		return 0;
	if (instant_cmp(t, &t0) < 0)
		return bad(err, "inconsistent", path, "must not be before %s",
		    f->after);
	limit = t0;
	limit.sec += f->span;
	if (f->span > 0 && instant_cmp(t, &limit) > 0)
		return bad(err, "out_of_range", path,
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

	if (strlen(s) != 10 || parse_ymd(s, &year, &days) == -1)
		return bad(err, "invalid_value", path,
		    "must be a calendar date YYYY-MM-DD");
	if (year < DATE_YEAR_MIN || year > DATE_YEAR_MAX)
		return bad(err, "out_of_range", path,
		    "must be in the years %d to %d", DATE_YEAR_MIN,
		    DATE_YEAR_MAX);
	if (days > today(now))
		return bad(err, "out_of_range", path,
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
		return bad(err, "wrong_type", path, "must be %s",
		    want[f->type].what);
	switch (f->type) {
	case F_TEXT:
		return check_text(v, f, path, err);
	case F_INT:
		i = json_object_get_int64(v);
		if (i < f->min || i > f->max)
			return bad(err, "out_of_range", path,
			    "must be between %ld and %ld", f->min, f->max);
		return 0;
	case F_BOOL:
		return 0;
	case F_OBJECT:
		return check_object(v, f->sub, path, now, err);
	case F_ARRAY:
		n = json_object_array_length(v);
		if (n < (size_t)f->min)
			return bad(err, "empty", path, "must not be empty");
		if (n > (size_t)f->max)
			return bad(err, "too_long", path,
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
					return bad(err, "duplicate_item",
					    ipath, "repeats an earlier item");
		}
		return 0;
	default:
		break;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return bad(err, "invalid_value", path,
		    "must not contain NUL characters");
	switch (f->type) {
	case F_ENUM:
		return check_enum(s, f, path, err);
	case F_FORMAT:
		if (!f->format->valid(s, now))
			return bad(err, "invalid_value", path, "%s",
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
		return bad(err, "invalid_value", path, "is not supported");
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

/* Return nonzero if obj has a string member name equal to value. */
static int
member_is(struct json_object *obj, const char *name, const char *value)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, name, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), value) == 0;
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
			return bad(err, "unknown_field", path,
			    "is not a field of this object");
		}
	}
	for (f = sc->fields; f < sc->fields + sc->n; f++) {
		member_path(path, parent, f->name);
		present = json_object_object_get_ex(obj, f->name, &v);
		if (f->when != NULL &&
		    present != member_is(obj, f->when, f->when_is))
			return bad(err, "inconsistent", path, present ?
			    "is allowed only when %s is %s" :
			    "is required when %s is %s", f->when, f->when_is);
		if (!present) {
			if (f->required)
				return bad(err, "missing_field", path,
				    "is required");
			continue;
		}
		if (check_value(obj, v, f, path, now, err) == -1)
			return -1;
	}
	return 0;
}

/* Check a request body against the schema of its endpoint. */
static int
check_body(struct json_object *body, const struct schema *sc, time_t now,
    struct api_error *err)
{
	if (!json_object_is_type(body, json_type_object)) {
		api_error_set(err, 400, "not_an_object", NULL,
		    "the body must be a JSON object");
		return -1;
	}
	return check_object(body, sc, "", now, err);
}

/* Check a POST /v1/calls body. */
int
validate_call(struct json_object *body, time_t now, struct api_error *err)
{
	return check_body(body, &call_schema, now, err);
}

/* Check a POST /v1/reports body. */
int
validate_report(struct json_object *body, time_t now, struct api_error *err)
{
	return check_body(body, &report_schema, now, err);
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
    const char *why_required, const char *why_forbidden,
    struct api_error *err)
{
	int has = json_object_object_get_ex(obj, name, NULL);

	if (required && !has)
		return bad(err, "missing_field", name, "%s", why_required);
	if (!required && has)
		return bad(err, "inconsistent", name, "%s", why_forbidden);
	return 0;
}

/* Check a POST /v1/cases/{n}/events body. */
int
validate_event(struct json_object *body, time_t now, struct api_error *err)
{
	const char *type, *outcome;

	if (check_body(body, &event_schema, now, err) == -1)
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
validate_transfer(struct json_object *body, time_t now,
    struct api_error *err)
{
	return check_body(body, &transfer_schema, now, err);
}

/* Check a POST /v1/cases/{n}/access-requests body. */
int
validate_access_request(struct json_object *body, time_t now,
    struct api_error *err)
{
	return check_body(body, &access_schema, now, err);
}

/* Check an Idempotency-Key: 1-128 of A-Z a-z 0-9 . _ : - */
int
validate_idempotency_key(const char *key)
{
	size_t n;

	if (key == NULL)
		return -1;
	n = strlen(key);
	if (n == 0 || n > IDEMPOTENCY_KEY_MAX || strspn(key,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._:-") != n)
		return -1;
	return 0;
}

/* Check a case number: YYYY-RRRRRR-NNNNNNNN, the region not starting 0. */
int
validate_case_number(const char *s)
{
	if (s == NULL || strlen(s) != CASE_NUMBER_LEN || !digits(s, 4) ||
	    s[4] != '-' || !digits(s + 5, REGION_LEN) || s[5] == '0' ||
	    s[11] != '-' || !digits(s + 12, 8))
		return -1;
	return 0;
}
