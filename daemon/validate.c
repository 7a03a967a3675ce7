/*
 * Request validation: the schema of every request body, as tables of field
 * descriptors (validate.h): JSON type, required or not, limits, a format
 * and the cross-field rule tying a field to an earlier one, walked by
 * check.c; the rules between fields that a table cannot say; and the
 * checks of an Idempotency-Key and a case number.  Whether a region or a
 * category exists is data, checked by the database (422).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hotlined.h"
#include "validate.h"

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

#define CALL_MAX_SECONDS	(24 * 3600)
#define CASE_SEQ_MIN		8	/* digits of a case's sequence number */
#define CASE_SEQ_MAX		18	/* ... at most (fits a bigint) */
#define QUERY_YEAR_MIN		2000	/* a timestamp in a query string */
#define QUERY_YEAR_MAX		2099

static const char *const caller_types[] = { "child_self", "about_child",
    "unknown", NULL };
static const char *const dispositions[] = { "counselled", "information",
    "referred", "silent", "hang_up", "prank", "abusive", "case_opened",
    "follow_up", NULL };
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
    "declined", "outside_jurisdiction", "prosecution", "resolved", "closed",
    NULL };
static const char *const notices[] = { "prosecution", NULL };
static const char *const supervisions[] = { "case_filing_supervision",
    "procuratorial_suggestion", NULL };

/* The child: the same in calls that open a case and in reports. */
static const struct field child_fields[] = {
	TEXT("name", OPTIONAL, TEXT_NAME_MAX),
	ENUM("gender", OPTIONAL, genders),
	INT("age", OPTIONAL, 0, AGE_MAX),
	DATE("birth_date", OPTIONAL),
	FORMAT("id_number", OPTIONAL, format_id_number),
	FORMAT("phone", OPTIONAL, format_phone),
	TEXT("school", OPTIONAL, TEXT_SCHOOL_MAX),
	TEXT("address", OPTIONAL, TEXT_ADDRESS_MAX),
	FORMAT("region_code", REQUIRED, format_region),
};
static const struct schema child_schema = SCHEMA(child_fields);

static const struct field topic_fields[] = {
	FORMAT("category", REQUIRED, format_code),
	FORMAT("subcategory", OPTIONAL, format_code),
};
static const struct schema topic_schema = SCHEMA(topic_fields);

static const struct field pair_fields[] = {
	FORMAT("category", REQUIRED, format_code),
	FORMAT("subcategory", REQUIRED, format_code),
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

static int	call_case_number_rule(struct json_object *, int, const char *,
		    struct api_error *);
static int	call_open_case_rule(struct json_object *, int, const char *,
		    struct api_error *);

static const struct field call_fields[] = {
	TIMESTAMP("started_at", REQUIRED),
	TIMESTAMP_AFTER("ended_at", REQUIRED, "started_at", CALL_MAX_SECONDS),
	ENUM("caller_type", REQUIRED, caller_types),
	FORMAT("caller_phone", OPTIONAL, format_phone),
	FORMAT("language", OPTIONAL, format_language),
	OBJECT("topic", OPTIONAL, topic_schema),
	TEXT("summary", OPTIONAL, TEXT_SUMMARY_MAX),
	ENUM("disposition", REQUIRED, dispositions),
	FORMAT_RULE("case_number", format_case_number, call_case_number_rule),
	OBJECT_RULE("open_case", case_schema, call_open_case_rule),
};
static const struct schema call_schema = SCHEMA(call_fields);

static const struct field reporter_fields[] = {
	TEXT("name", REQUIRED, TEXT_NAME_MAX),
	FORMAT("phone", REQUIRED, format_phone),
	FORMAT("id_number", OPTIONAL, format_id_number),
	ENUM("profession", REQUIRED, professions),
};
static const struct schema reporter_schema = SCHEMA(reporter_fields);

static const struct field institution_fields[] = {
	TEXT("name", REQUIRED, TEXT_SCHOOL_MAX),
	ENUM("type", REQUIRED, institution_types),
	FORMAT("region_code", OPTIONAL, format_region),
};
static const struct schema institution_schema = SCHEMA(institution_fields);

static const struct field situation_item = INT("", REQUIRED, SITUATION_MIN,
    SITUATION_MAX);

static const struct field report_fields[] = {
	OBJECT("reporter", REQUIRED, reporter_schema),
	OBJECT("institution", REQUIRED, institution_schema),
	OBJECT("child", REQUIRED, child_schema),
	ARRAY("situations", REQUIRED, 1, SITUATIONS_MAX, situation_item),
	ARRAY("categories", OPTIONAL, 1, CATEGORIES_MAX, pair_item),
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
	FORMAT("recipient_agency", OPTIONAL, format_agency),
	ENUM("notice", OPTIONAL, notices),
	TEXT("text", OPTIONAL, TEXT_SUMMARY_MAX),
};
static const struct schema event_schema = SCHEMA(event_fields);

static const struct field transfer_fields[] = {
	FORMAT("target_agency", REQUIRED, format_agency),
	TEXT("reason", REQUIRED, TEXT_SUMMARY_MAX),
};
static const struct schema transfer_schema = SCHEMA(transfer_fields);

/* An operator's note on a case, and a report's supplement: one text. */
static const struct field note_fields[] = {
	TEXT("text", REQUIRED, TEXT_SUMMARY_MAX),
};
static const struct schema note_schema = SCHEMA(note_fields);

/* A case's risk re-graded, with the reason. */
static const struct field risk_fields[] = {
	INT("risk_level", REQUIRED, RISK_MIN, RISK_MAX),
	TEXT("reason", REQUIRED, TEXT_SUMMARY_MAX),
};
static const struct schema risk_schema = SCHEMA(risk_fields);

/* Categories added to a case. */
static const struct field categories_fields[] = {
	ARRAY("categories", REQUIRED, 1, CATEGORIES_MAX, pair_item),
	TEXT("reason", OPTIONAL, TEXT_SUMMARY_MAX),
};
static const struct schema categories_schema = SCHEMA(categories_fields);

/* The child's details corrected: any of the child's fields but its region
 * (which routed the case and is in its number), and why. */
static const struct field child_fix_fields[] = {
	TEXT("name", OPTIONAL, TEXT_NAME_MAX),
	ENUM("gender", OPTIONAL, genders),
	INT("age", OPTIONAL, 0, AGE_MAX),
	DATE("birth_date", OPTIONAL),
	FORMAT("id_number", OPTIONAL, format_id_number),
	FORMAT("phone", OPTIONAL, format_phone),
	TEXT("school", OPTIONAL, TEXT_SCHOOL_MAX),
	TEXT("address", OPTIONAL, TEXT_ADDRESS_MAX),
	TEXT("reason", OPTIONAL, TEXT_SUMMARY_MAX),
};
static const struct schema child_fix_schema = SCHEMA(child_fix_fields);

/* Another case about the same child. */
static const struct field link_fields[] = {
	FORMAT("case_number", REQUIRED, format_case_number),
};
static const struct schema link_schema = SCHEMA(link_fields);

/* GET /v1/cases's since=, and GET /v1/children/cases's parameters, checked
 * as the fields of a body would be. */
static const struct field since_fields[] = {
	TIMESTAMP("since", REQUIRED),
};
static const struct schema since_schema = SCHEMA(since_fields);
static const struct field child_lookup_fields[] = {
	FORMAT("id_number", OPTIONAL, format_id_number),
	TEXT("name", OPTIONAL, TEXT_NAME_MAX),
	DATE("birth_date", OPTIONAL),
};
static const struct schema child_lookup_schema = SCHEMA(child_lookup_fields);

/* POST /v1/cases/{n}/access-requests: why, and for how many hours. */
#define PURPOSE_MAX	500
#define ACCESS_HOURS_MAX 720
static const struct field access_fields[] = {
	TEXT("purpose", REQUIRED, PURPOSE_MAX),
	INT("hours", OPTIONAL, 1, ACCESS_HOURS_MAX),
};
static const struct schema access_schema = SCHEMA(access_fields);


/* Return nonzero if obj has a string member name equal to value. */
static int
member_is(struct json_object *obj, const char *name, const char *value)
{
	struct json_object *v;

	return json_object_object_get_ex(obj, name, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), value) == 0;
}

/* A call's case_number: required when the call follows a case up. */
static int
call_case_number_rule(struct json_object *call, int present, const char *path,
    struct api_error *err)
{
	if (!present && member_is(call, "disposition", "follow_up"))
		return check_fail(err, "missing_field", path,
		    "is required when disposition is follow_up");
	return 0;
}

/*
 * A call's open_case: only when the call opened a case, and then unless
 * case_number names the case it opened (POST /v1/cases during the call);
 * never both.
 */
static int
call_open_case_rule(struct json_object *call, int present, const char *path,
    struct api_error *err)
{
	int opened = member_is(call, "disposition", "case_opened");

	if (present && !opened)
		return check_fail(err, "inconsistent", path,
		    "is allowed only when disposition is case_opened");
	if (present && json_object_object_get_ex(call, "case_number", NULL))
		return check_fail(err, "inconsistent", path, "is not sent "
		    "with case_number: a call opens a case or names one");
	if (!present && opened &&
	    !json_object_object_get_ex(call, "case_number", NULL))
		return check_fail(err, "inconsistent", path, "is required when "
		    "disposition is case_opened, unless case_number names the "
		    "case opened during the call");
	return 0;
}

/* Check a POST /v1/calls body. */
int
validate_call(struct json_object *body, time_t now, struct api_error *err)
{
	return check_body(body, &call_schema, now, err);
}

/* Check a POST /v1/cases body: the case an operator opens during a call. */
int
validate_case_open(struct json_object *body, time_t now,
    struct api_error *err)
{
	return check_body(body, &case_schema, now, err);
}

/* Check a POST /v1/cases/{n}/notes body. */
int
validate_note(struct json_object *body, time_t now, struct api_error *err)
{
	return check_body(body, &note_schema, now, err);
}

/* Check a POST /v1/cases/{n}/risk body. */
int
validate_risk(struct json_object *body, time_t now, struct api_error *err)
{
	return check_body(body, &risk_schema, now, err);
}

/* Check a POST /v1/cases/{n}/categories body. */
int
validate_categories(struct json_object *body, time_t now,
    struct api_error *err)
{
	return check_body(body, &categories_schema, now, err);
}

/* Check a POST /v1/cases/{n}/child body: at least one detail corrected. */
int
validate_child(struct json_object *body, time_t now, struct api_error *err)
{
	size_t i;

	if (check_body(body, &child_fix_schema, now, err) == -1)
		return -1;
	for (i = 0; i < child_fix_schema.n; i++)
		if (strcmp(child_fix_fields[i].name, "reason") != 0 &&
		    json_object_object_get_ex(body, child_fix_fields[i].name,
		    NULL))
			return 0;
	error_set(err, 400, "empty", NULL, "a correction changes at least one "
	    "of the child's details");
	return -1;
}

/* Check a POST /v1/cases/{n}/links body. */
int
validate_link(struct json_object *body, time_t now, struct api_error *err)
{
	return check_body(body, &link_schema, now, err);
}

/* Check a POST /v1/reports/{receipt}/supplements body. */
int
validate_supplement(struct json_object *body, time_t now,
    struct api_error *err)
{
	return check_body(body, &note_schema, now, err);
}

/* Check query parameters as the members of a body with this schema
 * (absent ones NULL). */
static int
validate_query(const struct schema *sc, const char *const *values, time_t now,
    struct api_error *err)
{
	struct json_object *o;
	size_t i;
	int rc;

	if ((o = json_object_new_object()) == NULL) {
		error_set(err, 500, "internal", NULL, "internal error");
		return -1;
	}
	for (i = 0; i < sc->n; i++)
		if (values[i] != NULL)
			json_object_object_add(o, sc->fields[i].name,
			    json_object_new_string(values[i]));
	rc = check_body(o, sc, now, err);
	json_object_put(o);
	return rc;
}

/* Check GET /v1/cases's since=. */
int
validate_since(const char *since, time_t now, struct api_error *err)
{
	const char *v[] = { since };

	return validate_query(&since_schema, v, now, err);
}

/* Check GET /v1/children/cases's parameters: an ID number, or a name with
 * a birth date. */
int
validate_child_lookup(const char *id_number, const char *name,
    const char *birth_date, time_t now, struct api_error *err)
{
	const char *v[] = { id_number, name, birth_date };

	if (validate_query(&child_lookup_schema, v, now, err) == -1)
		return -1;
	if (id_number != NULL && (name != NULL || birth_date != NULL))
		return check_fail(err, "inconsistent", name != NULL ? "name" :
		    "birth_date", "is not sent with id_number: look a child up "
		    "by one identifier at a time");
	if (id_number == NULL && name == NULL && birth_date == NULL)
		return check_fail(err, "missing_field", "id_number",
		    "is required, or name and birth_date");
	if (id_number == NULL && name == NULL)
		return check_fail(err, "missing_field", "name",
		    "is required with birth_date");
	if (id_number == NULL && birth_date == NULL)
		return check_fail(err, "missing_field", "birth_date",
		    "is required with name");
	return 0;
}

/* A caller's number as a path component: "%2B" stands for its '+'. */
int
validate_phone_param(const char *s, char *out, size_t outlen)
{
	size_t n;

	if (strncasecmp(s, "%2B", 3) == 0) {
		if (outlen < 2)
			return -1;
		out[0] = '+';
		s += 3;
		n = 1;
	} else
		n = 0;
	if (strlen(s) >= outlen - n || strchr(s, '%') != NULL)
		return -1;
	memcpy(out + n, s, strlen(s) + 1);
	return format_phone.valid(out, 0) ? 0 : -1;
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
		return check_fail(err, "missing_field", name, "%s", why_required);
	if (!required && has)
		return check_fail(err, "inconsistent", name, "%s", why_forbidden);
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
	    needs(body, "recipient_agency", strcmp(type, "supervision") == 0,
	    "is required for a supervision record (the agency it is "
	    "addressed to)", "is only for type supervision", err) ||
	    (json_object_object_get_ex(body, "notice", NULL) &&
	    needs(body, "notice", strcmp(type, "feedback") == 0, "",
	    "is only for type feedback", err)) ||
	    needs(body, "police_case_number", outcome != NULL &&
	    strcmp(outcome, "case_opened") == 0,
	    "is required when a criminal case is opened",
	    "is only for outcome case_opened", err))
		return -1;
	if (outcome != NULL && strcmp(outcome, "declined") == 0 &&
	    !json_object_object_get_ex(body, "reason", NULL))
		return check_fail(err, "missing_field", "reason",
		    "is required when a case is declined");
	if (strcmp(type, "note") == 0 &&
	    !json_object_object_get_ex(body, "text", NULL))
		return check_fail(err, "missing_field", "text",
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

/* Check a timestamp given outside a body (a query's since=): RFC 3339
 * with an offset, in the years a body's timestamps may have. */
int
validate_timestamp(const char *s)
{
	struct instant t;
	int year;

	if (s == NULL || format_timestamp(s, &year, &t) == -1 ||
	    year < QUERY_YEAR_MIN || year > QUERY_YEAR_MAX)
		return -1;
	return 0;
}

/*
 * Check a case number as the schema allows it, 20YY-RRRRRR-N{8,}: the
 * region not starting with 0, and a sequence of at least 8 digits (more
 * once a county-year passes 99,999,999 cases), at most CASE_SEQ_MAX.
 */
int
validate_case_number(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) < 12 + CASE_SEQ_MIN ||
	    n > 12 + CASE_SEQ_MAX || s[0] != '2' || s[1] != '0' ||
	    !format_digits(s, 4) || s[4] != '-' ||
	    !format_digits(s + 5, REGION_LEN) || s[5] == '0' || s[11] != '-' ||
	    !format_digits(s + 12, n - 12))
		return -1;
	return 0;
}
