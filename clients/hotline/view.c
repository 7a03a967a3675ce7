/*
 * Reading: a case as the viewer may see it (categories, risk, the child as
 * far as it is shown, the narrative, the report or calls, clocks with the
 * time left, assignments, the history in order, linked and related
 * cases), a reporter's milestones by receipt, and the daemon's version.
 * Whatever the daemon withholds, could not decrypt or has purged is said
 * so; a history item's members the client does not know are printed as
 * they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotline.h"

#define VIEW_KEY_WIDTH	13	/* the column of a value after its name */

static int	cmd_case(struct hl *, const struct cmd_args *);
static int	cmd_status(struct hl *, const struct cmd_args *);
static int	cmd_version(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_case_entry = {
	.ce_name = "case",
	.ce_args = "<case>",
	.ce_nargs = 1,
	.ce_help = "a case as you may see it: categories, risk, child, clocks "
	    "with their time left, assignments and history",
	.ce_exec = cmd_case,
};

const struct cmd_entry cmd_status_entry = {
	.ce_name = "status",
	.ce_args = "<receipt>",
	.ce_nargs = 1,
	.ce_help = "the milestones of a mandatory report a reporter may see "
	    "(the gateway that filed it)",
	.ce_exec = cmd_status,
};

const struct cmd_entry cmd_version_entry = {
	.ce_name = "version",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_help = "the daemon's release and database schema (checks the "
	    "settings too)",
	.ce_exec = cmd_version,
};

/* A value for people: text, number, yes/no, or what stands for a value
 * not shown ("(withheld)", "(unreadable)", "(purged)"). */
static const char *
view_value(char *buf, size_t len, struct json_object *v)
{
	static const char *const marks[] = { "withheld", "unreadable",
	    "purged" };
	size_t i;

	if (v == NULL)
		return NULL;
	switch (json_object_get_type(v)) {
	case json_type_string:
		return json_object_get_string(v);
	case json_type_boolean:
		return json_object_get_boolean(v) ? "yes" : "no";
	case json_type_int:
	case json_type_double:
		snprintf(buf, len, "%s", json_object_get_string(v));
		return buf;
	case json_type_object:
		for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			if (json_object_get_boolean(jget(v, marks[i]))) {
				snprintf(buf, len, "(%s)", marks[i]);
				return buf;
			}
		return json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	case json_type_array:
		return json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	default:
		return NULL;
	}
}

/* Print "  name  value" if the value is there (a text of several lines
 * goes under its name). */
static void
view_field(const char *name, struct json_object *v)
{
	char buf[128];
	const char *s = view_value(buf, sizeof(buf), v);

	if (s == NULL)
		return;
	if (strchr(s, '\n') != NULL) {
		printf("  %s\n", name);
		show_text(stdout, s, 4);
		return;
	}
	printf("  %-*s", VIEW_KEY_WIDTH, name);
	show_text(stdout, s, 0);
}

/* Print a time field in local time, if it is there. */
static void
view_time(const char *name, struct json_object *obj, const char *member)
{
	char buf[64];

	if (jstr(obj, member) == NULL)
		return;
	show_time(buf, sizeof(buf), jstr(obj, member));
	printf("  %-*s%s\n", VIEW_KEY_WIDTH, name, buf);
}

/* The child, as far as the viewer may see it. */
static void
view_child(struct json_object *child)
{
	struct json_object *v;

	if (child == NULL)
		return;
	printf("child\n");
	view_field("name", jget(child, "name"));
	view_field("gender", jget(child, "gender"));
	view_field("age", jget(child, "age"));
	view_field("birth date", jget(child, "birth_date"));
	view_field("ID number", jget(child, "id_number"));
	view_field("phone", jget(child, "phone"));
	view_field("school", jget(child, "school"));
	view_field("address", jget(child, "address"));
	view_field("region", jget(child, "region_code"));
	if ((v = jget(child, "withheld")) != NULL &&
	    json_object_get_boolean(v))
		printf("  (the child's other details are withheld)\n");
	if ((v = jget(child, "purged")) != NULL && json_object_get_boolean(v))
		printf("  (the child's other details were purged)\n");
}

/* A mandatory report's details. */
static void
view_report(struct json_object *r)
{
	struct json_object *who, *inst, *sit;
	char buf[128];
	size_t i, n = 0;

	if (r == NULL)
		return;
	printf("report\n");
	view_field("receipt", jget(r, "receipt_id"));
	sit = jget(r, "situations");
	buf[0] = '\0';
	for (i = 0; i < jlen(sit) && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d",
		    i > 0 ? ", " : "", json_object_get_int(jidx(sit, i)));
	if (jlen(sit) > 0)
		printf("  %-*s%s\n", VIEW_KEY_WIDTH, "situations", buf);
	view_field("suspected", jget(r, "suspected"));
	view_field("in danger", jget(r, "immediate_danger"));
	view_time("discovered", r, "discovered_at");
	view_time("reported", r, "reported_at");
	who = jget(r, "reporter");
	if (who != NULL && jget(who, "name") == NULL)
		view_field("reporter", who);
	else if (who != NULL) {
		view_field("reporter", jget(who, "name"));
		view_field("profession", jget(who, "profession"));
		view_field("phone", jget(who, "phone"));
		view_field("ID number", jget(who, "id_number"));
	}
	inst = jget(r, "institution");
	view_field("institution", jget(inst, "name") != NULL ?
	    jget(inst, "name") : inst);
	view_field("type", jget(inst, "type"));
	view_field("actions", jget(r, "actions_taken"));
}

/* The calls of a case opened by the hotline. */
static void
view_calls(struct json_object *calls)
{
	struct json_object *c;
	char from[64], to[64];
	size_t i;

	if (jlen(calls) == 0)
		return;
	printf("calls\n");
	for (i = 0; i < jlen(calls); i++) {
		c = jidx(calls, i);
		show_time(from, sizeof(from), jstr(c, "started_at"));
		show_time(to, sizeof(to), jstr(c, "ended_at"));
		printf("  %s - %s  %s  %s\n", from, to + (strncmp(from, to,
		    11) == 0 ? 11 : 0), label(LABEL_DISPOSITION,
		    jstr(c, "disposition")), label(LABEL_CALLER,
		    jstr(c, "caller_type")));
		view_field("  caller", jget(c, "caller_phone"));
		view_field("  summary", jget(c, "summary"));
	}
}

/* An assignment's clocks with the time left: "接收 52m, 办结 超时". */
static void
view_clocks(char *buf, size_t len, struct json_object *clocks, time_t now)
{
	struct json_object *c;
	const char *status;
	char left[32];
	time_t due;
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < jlen(clocks) && n < len; i++) {
		c = jidx(clocks, i);
		status = jstr(c, "status") != NULL ? jstr(c, "status") : "";
		if (strcmp(status, "stopped") == 0)
			continue;
		if ((strcmp(status, "running") == 0 ||
		    strcmp(status, "warning") == 0) &&
		    time_parse(jstr(c, "due_at"), &due) == 0)
			show_left(left, sizeof(left), due, now);
		else
			snprintf(left, sizeof(left), "%s",
			    label(LABEL_CLOCK_STATUS, status));
		n += (size_t)snprintf(buf + n, len - n, "%s%s %s%s",
		    n > 0 ? ", " : "", label(LABEL_CLOCK, jstr(c, "kind")),
		    left, strcmp(status, "warning") == 0 ? " !" : "");
	}
}

/* The assignments of a case, with their clocks. */
void
view_assignments(struct json_object *list)
{
	struct json_object *a;
	struct table t;
	char clocks[512];
	time_t now = time(NULL);
	size_t i;

	if (jlen(list) == 0)
		return;
	printf("assignments\n");
	table_init(&t, 6);
	t.tb_indent = 2;
	table_add(&t, "ROLE", "AGENCY", "STATE", "CLOCKS (TIME LEFT)",
	    "ASSIGNMENT", "ESCALATED FROM");
	for (i = 0; i < jlen(list); i++) {
		a = jidx(list, i);
		view_clocks(clocks, sizeof(clocks), jget(a, "clocks"), now);
		table_add(&t, label(LABEL_ROLE, jstr(a, "role")),
		    jstr(a, "agency"), label(LABEL_STATE, jstr(a, "state")),
		    clocks, jstr(a, "assignment_id"),
		    jstr(jget(a, "escalated_from"), "agency"));
	}
	table_print(&t, stdout);
	table_clear(&t);
}

/* The label of a cause (why an assignment was returned or closed): an
 * outcome, or a history item's kind. */
static const char *
view_cause(const char *cause)
{
	const char *s = label(LABEL_OUTCOME, cause);

	return s != cause ? s : label(LABEL_EVENT, cause);
}

/* The agency of a case's assignment by its id, or NULL. */
static const char *
view_assignment_agency(struct json_object *c, const char *id)
{
	struct json_object *list = jget(c, "assignments");
	const char *other;
	size_t i;

	for (i = 0; id != NULL && i < jlen(list); i++)
		if ((other = jstr(jidx(list, i), "assignment_id")) != NULL &&
		    strcmp(other, id) == 0)
			return jstr(jidx(list, i), "agency");
	return NULL;
}

/*
 * One history item's details after its kind, in the order people read
 * them: who (its agency, or its assignment's), the role, what it
 * recorded, the clock, whom it addresses, why, from which agency's work to
 * which; then any member the client does not know, as it is.
 */
static void
view_item_details(char *buf, size_t len, struct json_object *c,
    struct json_object *e)
{
	static const struct {
		const char	*name;
		int		 kind;	/* a label_kind, or -1: as it is */
		const char	*fmt;
	} known[] = {
		{ "agency", -1, " %s" },
		{ "role", LABEL_ROLE, " %s" },
		{ "outcome", LABEL_OUTCOME, " %s" },
		{ "supervision", LABEL_SUPERVISION, " %s" },
		{ "notice", LABEL_NOTICE, " %s" },
		{ "clock", LABEL_CLOCK, " %s" },
		{ "disposition", LABEL_DISPOSITION, " %s" },
		{ "recipient", -1, " → %s" },
		{ "linked", -1, " ↔ %s" },
		{ "cause", -1, " (after %s)" },
		{ "level", -1, " level %s" },
		{ "call", -1, " call %s" },
	};
	static const char *const skip[] = { "seq", "at", "kind", "actor",
	    "assignment", "from", "to", "note", "categories", "fields", "was",
	    NULL };
	const char *s, *k, *from, *to;
	char vb[128], list[512];
	struct json_object *v;
	size_t j;
	size_t i, n = 0;
	int other;

	buf[0] = '\0';
	for (i = 0; i < sizeof(known) / sizeof(known[0]) && n < len; i++) {
		s = view_value(vb, sizeof(vb), jget(e, known[i].name));
		if (s == NULL && strcmp(known[i].name, "agency") == 0)
			s = view_assignment_agency(c, jstr(e, "assignment"));
		if (s == NULL)
			continue;
		if (known[i].kind >= 0)
			s = label((enum label_kind)known[i].kind, s);
		else if (strcmp(known[i].name, "cause") == 0)
			s = view_cause(s);
		n += (size_t)snprintf(buf + n, len - n, known[i].fmt, s);
	}
	if ((v = jget(e, "categories")) != NULL && n < len) {
		show_categories(list, sizeof(list), v);
		n += (size_t)snprintf(buf + n, len - n, " %s", list);
	}
	for (j = 0, v = jget(e, "fields"); j < jlen(v) && n < len; j++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", j > 0 ? ", " :
		    " ", json_object_get_string(jidx(v, j)));
	if (json_object_is_type(jget(e, "from"), json_type_int) &&
	    json_object_is_type(jget(e, "to"), json_type_int) && n < len) {
		show_risk(vb, sizeof(vb), jget(e, "from"));
		show_risk(list, sizeof(list), jget(e, "to"));
		n += (size_t)snprintf(buf + n, len - n, " %s → %s", vb, list);
	} else if ((from = jstr(e, "from")) != NULL &&
	    (to = jstr(e, "to")) != NULL && n < len) {
		s = view_assignment_agency(c, from);
		k = view_assignment_agency(c, to);
		n += (size_t)snprintf(buf + n, len - n, " %s → %s",
		    s != NULL ? s : from, k != NULL ? k : to);
	}
	json_object_object_foreach(e, key, val) {
		k = key;
		for (i = 0, other = 1; skip[i] != NULL && other; i++)
			other = strcmp(skip[i], k) != 0;
		for (i = 0; i < sizeof(known) / sizeof(known[0]) && other; i++)
			other = strcmp(known[i].name, k) != 0;
		if (!other || n >= len)
			continue;
		s = view_value(vb, sizeof(vb), val);
		n += (size_t)snprintf(buf + n, len - n, " %s %s", k,
		    s != NULL ? s : "");
	}
}

/* The values a correction replaced, under its history item: "was: name
 * 测试, age 9", or what stands for them ("was (withheld)"). */
static void
view_was(struct json_object *was)
{
	static const char *const marks[] = { "withheld", "unreadable",
	    "purged" };
	const char *s;
	char line[1024], vb[128];
	size_t i, n;

	if (was == NULL)
		return;
	n = (size_t)snprintf(line, sizeof(line), "was");
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (jget(was, marks[i]) != NULL) {
			snprintf(line + n, sizeof(line) - n, " %s",
			    view_value(vb, sizeof(vb), was));
			show_text(stdout, line, 7);
			return;
		}
	json_object_object_foreach(was, key, val) {
		if (n >= sizeof(line))
			break;
		s = view_value(vb, sizeof(vb), val);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s %s %s",
		    n > 3 ? "," : "", key, s != NULL ? s : "");
	}
	show_text(stdout, line, 7);
}

/* The history of a case, in order. */
static void
view_history(struct json_object *c, struct json_object *history)
{
	struct json_object *e, *note, **items;
	char at[64], details[512], vb[128];
	const char *s;
	size_t i, j, n = jlen(history);

	if (n == 0 || (items = calloc(n, sizeof(*items))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		e = jidx(history, i);
		for (j = i; j > 0 && json_object_get_int(jget(items[j - 1],
		    "seq")) > json_object_get_int(jget(e, "seq")); j--)
			items[j] = items[j - 1];
		items[j] = e;
	}
	printf("history\n");
	for (i = 0; i < n; i++) {
		e = items[i];
		show_time(at, sizeof(at), jstr(e, "at"));
		view_item_details(details, sizeof(details), c, e);
		printf("  %3d  %s  %s%s\n", json_object_get_int(jget(e, "seq")),
		    at, label(LABEL_EVENT, jstr(e, "kind")), details);
		if ((note = jget(e, "note")) != NULL &&
		    (s = view_value(vb, sizeof(vb), note)) != NULL)
			show_text(stdout, s, 7);
		view_was(jget(e, "was"));
	}
	free(items);
}

/* Other cases about the same child. */
static void
view_related(struct json_object *related)
{
	struct json_object *r;
	struct table t;
	char at[64], matched[128];
	size_t i, j, n;

	if (jlen(related) == 0)
		return;
	printf("related cases\n");
	table_init(&t, 5);
	t.tb_indent = 2;
	for (i = 0; i < jlen(related); i++) {
		r = jidx(related, i);
		show_time(at, sizeof(at), jstr(r, "created_at"));
		matched[0] = '\0';
		for (j = 0, n = 0; j < jlen(jget(r, "matched")) &&
		    n < sizeof(matched); j++)
			n += (size_t)snprintf(matched + n, sizeof(matched) - n,
			    "%s%s", j > 0 ? "," : "matched ",
			    json_object_get_string(jidx(jget(r, "matched"), j)));
		table_add(&t, jstr(r, "case_number"), at,
		    label(LABEL_SOURCE, jstr(r, "source")),
		    label(LABEL_CASE_STATUS, jstr(r, "status")), matched);
	}
	table_print(&t, stdout);
	table_clear(&t);
}

/* Cases linked to this one by hand. */
static void
view_linked(struct json_object *linked)
{
	struct json_object *l;
	struct table t;
	char at[64], risk[32];
	size_t i;

	if (jlen(linked) == 0)
		return;
	printf("linked cases\n");
	table_init(&t, 4);
	t.tb_indent = 2;
	for (i = 0; i < jlen(linked); i++) {
		l = jidx(linked, i);
		show_time(at, sizeof(at), jstr(l, "linked_at"));
		show_risk(risk, sizeof(risk), jget(l, "risk_level"));
		table_add(&t, jstr(l, "case_number"), risk,
		    label(LABEL_CASE_STATUS, jstr(l, "status")), at);
	}
	table_print(&t, stdout);
	table_clear(&t);
}

/* A case, for people. */
static void
view_print_case(struct json_object *c)
{
	char buf[512];

	printf("case %s  %s  %s  (access: %s)\n",
	    jstr(c, "case_number") != NULL ? jstr(c, "case_number") : "-",
	    label(LABEL_SOURCE, jstr(c, "source")),
	    label(LABEL_CASE_STATUS, jstr(c, "status")),
	    jstr(c, "access") != NULL ? jstr(c, "access") : "-");
	show_risk(buf, sizeof(buf), jget(c, "risk_level"));
	printf("  %-*s%s\n", VIEW_KEY_WIDTH, "risk", buf);
	show_categories(buf, sizeof(buf), jget(c, "categories"));
	printf("  %-*s%s\n", VIEW_KEY_WIDTH, "categories", buf);
	view_field("region", jget(c, "region_code"));
	view_time("created", c, "created_at");
	view_time("closed", c, "closed_at");
	view_time("purged", c, "purged_at");
	view_child(jget(c, "child"));
	if (jget(c, "narrative") != NULL) {
		printf("narrative\n");
		show_text(stdout, view_value(buf, sizeof(buf),
		    jget(c, "narrative")), 2);
	}
	view_report(jget(c, "report"));
	view_calls(jget(c, "calls"));
	view_assignments(jget(c, "assignments"));
	view_history(c, jget(c, "history"));
	view_linked(jget(c, "linked_cases"));
	view_related(jget(c, "related_cases"));
}

/* case: a case as the viewer may see it. */
static int
cmd_case(struct hl *h, const struct cmd_args *ca)
{
	return api_read_at(h, "/v1/cases/%s", ca->ca_argv[0], view_print_case);
}

/* A report's milestones, for people. */
static void
view_print_status(struct json_object *s)
{
	struct json_object *m;
	char at[64];
	size_t i;

	printf("receipt %s\n", jstr(s, "receipt_id") != NULL ?
	    jstr(s, "receipt_id") : "-");
	for (i = 0; i < jlen(jget(s, "milestones")); i++) {
		m = jidx(jget(s, "milestones"), i);
		show_time(at, sizeof(at), jstr(m, "at"));
		printf("  %s  %s\n", at, label(LABEL_MILESTONE,
		    jstr(m, "milestone")));
		if (jstr(m, "text") != NULL)
			show_text(stdout, jstr(m, "text"), 4);
	}
}

/* status: a report's milestones by its receipt. */
static int
cmd_status(struct hl *h, const struct cmd_args *ca)
{
	return api_read_at(h, "/v1/reports/%s/status", ca->ca_argv[0],
	    view_print_status);
}

/* The daemon's version, for people. */
static void
view_print_version(struct json_object *v)
{
	printf("hotlined %s, schema %s\n", jstr(v, "release") != NULL ?
	    jstr(v, "release") : "-", jstr(v, "schema") != NULL ?
	    jstr(v, "schema") : "-");
}

/* version: the daemon's release and schema. */
static int
cmd_version(struct hl *h, const struct cmd_args *ca)
{
	(void)ca;
	return api_read(h, "/v1/version", view_print_version);
}
