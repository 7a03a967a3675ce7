/*
 * A hotline operator's day (role operator; every seat of a centre works
 * its centre's cases): the centre's caseload a page at a time, lookups of a
 * caller's number or of a child's ID number, or name and birth date (exact
 * matches by the daemon's keyed digests, each one logged by the daemon),
 * and the work on a case: re-grading its risk, adding categories,
 * correcting the child's details, linking two cases about one child (also
 * the agency holding a case's live primary assignment).  Opening a case
 * during a call and logging calls on a case are submit's (submit.c); notes
 * are note's (work.c).
 *
 * A lookup's path holds what it looks for (a phone or ID number, a name):
 * it is never shown, -v or not; the logs name the lookup's kind instead.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotline.h"

#define CATEGORY_PAIR_MAX	64	/* "category/subcategory" */

static int	cmd_cases(struct hl *, const struct cmd_args *);
static int	cmd_lookup(struct hl *, const struct cmd_args *);
static int	cmd_regrade(struct hl *, const struct cmd_args *);
static int	cmd_categorise(struct hl *, const struct cmd_args *);
static int	cmd_correct(struct hl *, const struct cmd_args *);
static int	cmd_link(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_cases_entry = {
	.ce_name = "cases",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = {
		{ "state", "open|closed", 0 },
		{ "risk", "1-4", 0 },
		{ "since", "time", 0 },
		{ "limit", "n", 0 },
		{ "cursor", "c", 0 },
	},
	.ce_help = "the centre's caseload, newest first: case, risk, status, "
	    "categories, when opened and last updated, the clock due first, "
	    "its agencies and their states; no personal data",
	.ce_exec = cmd_cases,
};

const struct cmd_entry cmd_lookup_entry = {
	.ce_name = "lookup",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = {
		{ "phone", "number", 0 },
		{ "id-number", "id", 0 },
		{ "name", "name", 0 },
		{ "birth-date", "date", 0 },
	},
	.ce_help = "the centre's earlier calls from a number and their cases "
	    "(--phone), or its cases about a child (--id-number, or --name "
	    "with --birth-date); exact matches only, and every lookup is "
	    "logged",
	.ce_exec = cmd_lookup,
};

const struct cmd_entry cmd_regrade_entry = {
	.ce_name = "regrade",
	.ce_args = "<case> <risk>",
	.ce_nargs = 2,
	.ce_flags = {
		{ "reason", "text", 1 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "re-grade a case's risk (1 红 to 4 蓝): raised, it reaches "
	    "the agencies the level brings in and its clocks are brought "
	    "forward; lowered, no clock is loosened",
	.ce_exec = cmd_regrade,
};

const struct cmd_entry cmd_categorise_entry = {
	.ce_name = "categorise",
	.ce_args = "<case> <category/subcategory,...>",
	.ce_nargs = 2,
	.ce_flags = {
		{ "reason", "text", 0 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "add categories to a case (such as "
	    "abuse/neglect,psychological/self_harm); it is routed to the "
	    "agencies they bring in",
	.ce_exec = cmd_categorise,
};

const struct cmd_entry cmd_correct_entry = {
	.ce_name = "correct",
	.ce_args = "<case>",
	.ce_nargs = 1,
	.ce_flags = {
		{ "name", "name", 0 },
		{ "gender", "female|male|unknown", 0 },
		{ "age", "n", 0 },
		{ "birth-date", "date", 0 },
		{ "id-number", "id", 0 },
		{ "phone", "number", 0 },
		{ "school", "text", 0 },
		{ "address", "text", 0 },
		{ "reason", "text", 0 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "correct the child's details (not the county, which routed "
	    "the case); the values replaced are kept, sealed",
	.ce_exec = cmd_correct,
};

const struct cmd_entry cmd_link_entry = {
	.ce_name = "link",
	.ce_args = "<case> <other case>",
	.ce_nargs = 2,
	.ce_opts = CMD_POST,
	.ce_help = "link two cases about the same child (an operator: two of "
	    "its centre's; an agency: from a case it holds as primary)",
	.ce_exec = cmd_link,
};

/* The agencies of a list of assignments with their states:
 * "police-320102 待接收, education-320102 已接收". */
static void
operator_agencies(char *buf, size_t len, struct json_object *list)
{
	struct json_object *a;
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < jlen(list) && n < len; i++) {
		a = jidx(list, i);
		n += (size_t)snprintf(buf + n, len - n, "%s%s %s",
		    i > 0 ? ", " : "", jstr(a, "agency") != NULL ?
		    jstr(a, "agency") : "-", label(LABEL_STATE,
		    jstr(a, "state")));
	}
}

/* A case's clock due first: "接收 police-320102 52m". */
static void
operator_next_due(char *buf, size_t len, struct json_object *due,
    time_t now)
{
	char left[32];
	time_t t;

	if (due == NULL || time_parse(jstr(due, "due_at"), &t) == -1) {
		snprintf(buf, len, "-");
		return;
	}
	show_left(left, sizeof(left), t, now);
	snprintf(buf, len, "%s %s %s", label(LABEL_CLOCK, jstr(due, "kind")),
	    jstr(due, "agency") != NULL ? jstr(due, "agency") : "", left);
}

/* The caseload, for people. */
static void
operator_print_cases(struct json_object *answer)
{
	struct json_object *list = jget(answer, "cases"), *c;
	struct table t;
	char risk[32], cats[512], at[64], upd[64], due[128], ags[1024];
	time_t now = time(NULL);
	size_t i;

	if (jlen(list) == 0)
		printf("no cases\n");
	else {
		table_init(&t, 8);
		table_add(&t, "CASE", "RISK", "STATUS", "CATEGORIES", "OPENED",
		    "UPDATED", "DUE FIRST", "AGENCIES");
		for (i = 0; i < jlen(list); i++) {
			c = jidx(list, i);
			show_risk(risk, sizeof(risk), jget(c, "risk_level"));
			show_categories(cats, sizeof(cats),
			    jget(c, "categories"));
			show_time(at, sizeof(at), jstr(c, "created_at"));
			if (jstr(c, "updated_at") != NULL)
				show_time(upd, sizeof(upd),
				    jstr(c, "updated_at"));
			else
				snprintf(upd, sizeof(upd), "-");
			operator_next_due(due, sizeof(due),
			    jget(c, "next_due"), now);
			operator_agencies(ags, sizeof(ags),
			    jget(c, "assignments"));
			table_add(&t, jstr(c, "case_number"), risk,
			    label(LABEL_CASE_STATUS, jstr(c, "status")), cats,
			    at, upd, due, ags);
		}
		table_print(&t, stdout);
		table_clear(&t);
	}
	show_more(answer);
}

/* cases: the centre's caseload. */
static int
cmd_cases(struct hl *h, const struct cmd_args *ca)
{
	char path[URL_PATH_MAX];

	if (cmd_query(path, sizeof(path), "/v1/cases", ca) == -1)
		return EXIT_USAGE;
	return api_read(h, path, operator_print_cases);
}

/* Cases as a lookup answers them; with_matched: what matched of a
 * child's. */
static void
operator_print_found(struct json_object *list, int with_matched)
{
	struct json_object *c, *m;
	struct table t;
	char risk[32], cats[512], at[64], matched[64];
	size_t i, j, n;

	table_init(&t, with_matched ? 7 : 6);
	t.tb_indent = 2;
	table_add(&t, "CASE", "RISK", "STATUS", "CATEGORIES", "REGION",
	    "OPENED", "MATCHED");
	for (i = 0; i < jlen(list); i++) {
		c = jidx(list, i);
		show_risk(risk, sizeof(risk), jget(c, "risk_level"));
		show_categories(cats, sizeof(cats), jget(c, "categories"));
		show_time(at, sizeof(at), jstr(c, "created_at"));
		m = jget(c, "matched");
		matched[0] = '\0';
		if (json_object_is_type(m, json_type_string))
			snprintf(matched, sizeof(matched), "%s",
			    json_object_get_string(m));
		for (j = 0, n = 0; j < jlen(m) && n < sizeof(matched); j++)
			n += (size_t)snprintf(matched + n, sizeof(matched) - n,
			    "%s%s", j > 0 ? "," : "",
			    json_object_get_string(jidx(m, j)));
		table_add(&t, jstr(c, "case_number"), risk,
		    label(LABEL_CASE_STATUS, jstr(c, "status")), cats,
		    jstr(c, "region_code"), at, matched);
	}
	table_print(&t, stdout);
	table_clear(&t);
}

/* A caller's history, for people. */
static void
operator_print_caller(struct json_object *answer)
{
	struct json_object *calls = jget(answer, "calls"), *c, *topic;
	struct table t;
	char at[64], subject[128];
	size_t i;
	int total = json_object_get_int(jget(answer, "total"));

	printf("%d earlier %s from this number%s\n", total, total == 1 ?
	    "call" : "calls", (size_t)total > jlen(calls) ? " (the latest "
	    "shown)" : "");
	if (jlen(calls) > 0) {
		table_init(&t, 6);
		t.tb_indent = 2;
		table_add(&t, "STARTED", "CALLER", "DISPOSITION", "TOPIC",
		    "CASE", "SUMMARY");
		for (i = 0; i < jlen(calls); i++) {
			c = jidx(calls, i);
			show_time(at, sizeof(at), jstr(c, "started_at"));
			topic = jget(c, "topic");
			snprintf(subject, sizeof(subject), "%s%s%s",
			    label_category(jstr(topic, "category"), NULL),
			    jstr(topic, "subcategory") != NULL ? "/" : "",
			    jstr(topic, "subcategory") != NULL ?
			    label_category(jstr(topic, "category"),
			    jstr(topic, "subcategory")) : "");
			table_add(&t, at, label(LABEL_CALLER,
			    jstr(c, "caller_type")),
			    label(LABEL_DISPOSITION, jstr(c, "disposition")),
			    subject, jstr(c, "case_number"),
			    jstr(c, "summary"));
		}
		table_print(&t, stdout);
		table_clear(&t);
	}
	if (jlen(jget(answer, "cases")) > 0) {
		printf("their cases\n");
		operator_print_found(jget(answer, "cases"), 0);
	}
}

/* A child's cases, for people. */
static void
operator_print_child(struct json_object *answer)
{
	struct json_object *list = jget(answer, "cases");

	printf("%zu %s about this child\n", jlen(list), jlen(list) == 1 ?
	    "case" : "cases");
	if (jlen(list) > 0)
		operator_print_found(list, 1);
}

/* lookup: a caller's history by number, or a child's cases. */
static int
cmd_lookup(struct hl *h, const struct cmd_args *ca)
{
	struct api_call ac = { .ac_method = "GET" };
	char path[URL_PATH_MAX];
	const char *phone = cmd_flag(ca, "phone");
	const char *id = cmd_flag(ca, "id-number");
	const char *name = cmd_flag(ca, "name");
	const char *birth = cmd_flag(ca, "birth-date");

	if ((phone != NULL) + (id != NULL) + (name != NULL || birth !=
	    NULL) != 1) {
		complain("lookup: --phone, --id-number, or --name with "
		    "--birth-date: one of them");
		return EXIT_USAGE;
	}
	ac.ac_path = path;
	if (phone != NULL) {
		ac.ac_shown = "/v1/callers/(number)/history";
		if (api_path(path, sizeof(path), "/v1/callers/%s/history",
		    phone, NULL) == -1)
			return EXIT_USAGE;
		return api_show(h, &ac, operator_print_caller);
	}
	ac.ac_shown = id != NULL ? "/v1/children/cases?id_number=(withheld)" :
	    "/v1/children/cases?name=(withheld)&birth_date=(withheld)";
	if (snprintf(path, sizeof(path), "/v1/children/cases") >=
	    (int)sizeof(path) || api_param(path, sizeof(path), "id_number",
	    id) == -1 || api_param(path, sizeof(path), "name", name) == -1 ||
	    api_param(path, sizeof(path), "birth_date", birth) == -1)
		return EXIT_USAGE;
	return api_show(h, &ac, operator_print_child);
}

/* A whole number typed for a number field, as a JSON integer; or the
 * text as typed, for the daemon to refuse. */
static struct json_object *
operator_number(const char *s)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0 &&
	    n <= INT_MAX)
		return json_object_new_int((int)n);
	return json_object_new_string(s);
}

/* After a change that routes the case anew: its risk, categories and
 * assignments. */
static void
operator_print_routed(struct json_object *r)
{
	char buf[512];

	show_risk(buf, sizeof(buf), jget(r, "risk_level"));
	printf("  risk         %s\n", buf);
	show_categories(buf, sizeof(buf), jget(r, "categories"));
	printf("  categories   %s\n", buf);
	view_assignments(jget(r, "assignments"));
}

/* regrade: a case's new risk level. */
static int
cmd_regrade(struct hl *h, const struct cmd_args *ca)
{
	struct json_object *body = json_object_new_object();

	json_object_object_add(body, "risk_level",
	    operator_number(ca->ca_argv[1]));
	work_add(body, "reason", cmd_flag(ca, "reason"));
	return work_record(h, "/v1/cases/%s/risk", ca->ca_argv[0], body,
	    label(LABEL_EVENT, "risk_changed"), NULL,
	    operator_print_routed);
}

/* categorise: categories added to a case, "cat/sub,cat/sub". */
static int
cmd_categorise(struct hl *h, const struct cmd_args *ca)
{
	struct json_object *body, *list, *pair;
	char item[CATEGORY_PAIR_MAX], *slash;
	const char *p = ca->ca_argv[1], *comma;
	size_t n;

	list = json_object_new_array();
	while (*p != '\0') {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n >= sizeof(item) || (slash = memchr(p, '/', n)) == NULL ||
		    slash == p || slash == p + n - 1) {
			complain("categorise: each category as category/"
			    "subcategory, such as abuse/neglect");
			json_object_put(list);
			return EXIT_USAGE;
		}
		snprintf(item, sizeof(item), "%.*s", (int)n, p);
		item[slash - p] = '\0';
		pair = json_object_new_object();
		work_add(pair, "category", item);
		work_add(pair, "subcategory", item + (slash - p) + 1);
		json_object_array_add(list, pair);
		p += n + (comma != NULL);
	}
	body = json_object_new_object();
	json_object_object_add(body, "categories", list);
	work_add(body, "reason", cmd_flag(ca, "reason"));
	return work_record(h, "/v1/cases/%s/categories", ca->ca_argv[0],
	    body, label(LABEL_EVENT, "categories_added"), NULL,
	    operator_print_routed);
}

/* After a correction: the fields corrected. */
static void
operator_print_fields(struct json_object *r)
{
	struct json_object *fields = jget(r, "fields");
	size_t i;

	printf("  corrected   ");
	for (i = 0; i < jlen(fields); i++)
		printf("%s %s", i > 0 ? "," : "",
		    json_object_get_string(jidx(fields, i)));
	printf("\n");
}

/* correct: the child's details corrected. */
static int
cmd_correct(struct hl *h, const struct cmd_args *ca)
{
	static const struct {
		const char	*flag;
		const char	*field;
	} fields[] = {
		{ "name", "name" }, { "gender", "gender" },
		{ "birth-date", "birth_date" }, { "id-number", "id_number" },
		{ "phone", "phone" }, { "school", "school" },
		{ "address", "address" }, { "reason", "reason" },
	};
	struct json_object *body = json_object_new_object();
	const char *age = cmd_flag(ca, "age");
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		work_add(body, fields[i].field, cmd_flag(ca, fields[i].flag));
		if (i == 1 && age != NULL)
			json_object_object_add(body, "age",
			    operator_number(age));
	}
	return work_record(h, "/v1/cases/%s/child", ca->ca_argv[0], body,
	    label(LABEL_EVENT, "child_corrected"), NULL,
	    operator_print_fields);
}

/* After a link: the cases linked to this one. */
static void
operator_print_links(struct json_object *r)
{
	struct json_object *list = jget(r, "linked_cases");
	size_t i;

	printf("  linked to   ");
	for (i = 0; i < jlen(list); i++)
		printf("%s %s", i > 0 ? "," : "",
		    jstr(jidx(list, i), "case_number"));
	printf("\n");
}

/* link: two cases about the same child. */
static int
cmd_link(struct hl *h, const struct cmd_args *ca)
{
	struct json_object *body = json_object_new_object();

	work_add(body, "case_number", ca->ca_argv[1]);
	return work_record(h, "/v1/cases/%s/links", ca->ca_argv[0], body,
	    label(LABEL_EVENT, "case_linked"), NULL, operator_print_links);
}
