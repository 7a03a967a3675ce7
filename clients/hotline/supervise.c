/*
 * A procuratorate's supervision of its region (its county, or its city's
 * counties): records of 立案监督 and 检察建议 addressed to an agency of the
 * region, with or without an assignment on the case; the list of those
 * records; and the overdue and escalated work of the region across
 * agencies.  Both lists come a page at a time, newest first: a full page
 * ends with the cursor that asks for the next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotline.h"

static int	cmd_supervise(struct hl *, const struct cmd_args *);
static int	cmd_overdue(struct hl *, const struct cmd_args *);
static int	cmd_records(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_supervise_entry = {
	.ce_name = "supervise",
	.ce_args = "<case> <type> <agency> [text]",
	.ce_nargs = 4,
	.ce_nopt = 1,
	.ce_opts = CMD_POST,
	.ce_help = "record a procuratorate's supervision of a case of its "
	    "region, addressed to an agency of the region: "
	    "case-filing-supervision (立案监督) or procuratorial-suggestion "
	    "(检察建议); no assignment on the case is needed",
	.ce_exec = cmd_supervise,
};

const struct cmd_entry cmd_overdue_entry = {
	.ce_name = "overdue",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = {
		{ "state", "state", 0 },
		{ "kind", "kind", 0 },
		{ "since", "time", 0 },
		{ "limit", "n", 0 },
		{ "cursor", "c", 0 },
	},
	.ce_help = "a procuratorate's list of overdue and escalated work in "
	    "its region, newest first; live work unless --state names one "
	    "(closed: the closed work); --kind one kind of agency (police, "
	    "education, ...); --since an RFC 3339 time",
	.ce_exec = cmd_overdue,
};

const struct cmd_entry cmd_records_entry = {
	.ce_name = "records",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = {
		{ "since", "time", 0 },
		{ "limit", "n", 0 },
		{ "cursor", "c", 0 },
	},
	.ce_help = "a procuratorate's own supervision records, newest first: "
	    "when, case, type, the agency addressed",
	.ce_exec = cmd_records,
};

/* supervise: a procuratorate's supervision record. */
static int
cmd_supervise(struct hl *h, const struct cmd_args *ca)
{
	struct json_object *body;
	char *type;

	if ((type = work_word(ca->ca_argv[1])) == NULL)
		return EXIT_USAGE;
	body = json_object_new_object();
	work_add(body, "type", "supervision");
	work_add(body, "supervision", type);
	work_add(body, "recipient_agency", ca->ca_argv[2]);
	work_add(body, "text", ca->ca_argv[3]);
	free(type);
	return work_event(h, ca->ca_argv[0], body);
}

/* The overdue list, for people. */
static void
supervise_print_overdue(struct json_object *answer)
{
	work_print_assignments(answer);
	show_more(answer);
}

/* overdue: a procuratorate's overdue and escalated assignments. */
static int
cmd_overdue(struct hl *h, const struct cmd_args *ca)
{
	char path[URL_PATH_MAX];

	if (cmd_query(path, sizeof(path), "/v1/supervision/overdue",
	    ca) == -1)
		return EXIT_USAGE;
	return api_read(h, path, supervise_print_overdue);
}

/* The supervision records, for people. */
static void
supervise_print_records(struct json_object *answer)
{
	struct json_object *list = jget(answer, "records"), *r;
	struct table t;
	char at[64], seq[16];
	size_t i;

	if (jlen(list) == 0) {
		printf("no supervision records\n");
		show_more(answer);
		return;
	}
	table_init(&t, 6);
	table_add(&t, "AT", "CASE", "ITEM", "SUPERVISION", "ADDRESSED TO",
	    "ASSIGNMENT");
	for (i = 0; i < jlen(list); i++) {
		r = jidx(list, i);
		show_time(at, sizeof(at), jstr(r, "at"));
		snprintf(seq, sizeof(seq), "%d",
		    json_object_get_int(jget(r, "seq")));
		table_add(&t, at, jstr(r, "case_number"), seq,
		    label(LABEL_SUPERVISION, jstr(r, "supervision")),
		    jstr(r, "recipient_agency"), jstr(r, "assignment"));
	}
	table_print(&t, stdout);
	table_clear(&t);
	show_more(answer);
}

/* records: a procuratorate's own supervision records. */
static int
cmd_records(struct hl *h, const struct cmd_args *ca)
{
	char path[URL_PATH_MAX];

	if (cmd_query(path, sizeof(path), "/v1/supervision/records",
	    ca) == -1)
		return EXIT_USAGE;
	return api_read(h, path, supervise_print_records);
}
