/*
 * Access requests (minors' online protection regulation art. 36): an
 * agency with only an inform or supervise assignment asks to see a case's
 * personal data for some hours, saying why; an approver of that agency
 * (or an admin) approves or denies it.  And the case's access log, which
 * an admin reads: every reading of its personal data, on what basis.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotline.h"

static int	cmd_request(struct hl *, const struct cmd_args *);
static int	cmd_requests(struct hl *, const struct cmd_args *);
static int	cmd_approve(struct hl *, const struct cmd_args *);
static int	cmd_deny(struct hl *, const struct cmd_args *);
static int	cmd_access_log(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_request_entry = {
	.ce_name = "request",
	.ce_args = "<case>",
	.ce_nargs = 1,
	.ce_flags = {
		{ "purpose", "text", 1 },
		{ "hours", "n", 0 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "ask to see a case's personal data for some hours (the "
	    "purpose must hold no personal data)",
	.ce_exec = cmd_request,
};

const struct cmd_entry cmd_requests_entry = {
	.ce_name = "requests",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = {
		{ "state", "state", 0 },
	},
	.ce_help = "access requests (an agency's own; an admin's: all), "
	    "pending first; --state pending, approved, denied or expired",
	.ce_exec = cmd_requests,
};

const struct cmd_entry cmd_approve_entry = {
	.ce_name = "approve",
	.ce_args = "<request>",
	.ce_nargs = 1,
	.ce_opts = CMD_POST,
	.ce_help = "approve an access request (an approver of its agency, or "
	    "an admin)",
	.ce_exec = cmd_approve,
};

const struct cmd_entry cmd_deny_entry = {
	.ce_name = "deny",
	.ce_args = "<request>",
	.ce_nargs = 1,
	.ce_opts = CMD_POST,
	.ce_help = "deny an access request",
	.ce_exec = cmd_deny,
};

const struct cmd_entry cmd_access_log_entry = {
	.ce_name = "access-log",
	.ce_args = "<case>",
	.ce_nargs = 1,
	.ce_help = "who read a case's personal data, when and on what basis "
	    "(an admin)",
	.ce_exec = cmd_access_log,
};

/* Add a request's row to a table of requests. */
static void
access_row(struct table *t, struct json_object *q)
{
	char at[64], until[64], hours[16];

	show_time(at, sizeof(at), jstr(q, "created_at"));
	if (jstr(q, "valid_until") != NULL)
		show_time(until, sizeof(until), jstr(q, "valid_until"));
	else
		snprintf(until, sizeof(until), "-");
	snprintf(hours, sizeof(hours), "%dh",
	    json_object_get_int(jget(q, "hours")));
	table_add(t, jstr(q, "access_request_id"), jstr(q, "case_number"),
	    jstr(q, "agency"), label(LABEL_ACCESS_STATE, jstr(q, "state")),
	    hours, at, until, jstr(q, "purpose"));
}

/* Print requests as a table. */
static void
access_print(struct json_object *list)
{
	struct table t;
	size_t i;

	if (jlen(list) == 0) {
		printf("no access requests\n");
		return;
	}
	table_init(&t, 8);
	table_add(&t, "REQUEST", "CASE", "AGENCY", "STATE", "HOURS",
	    "ASKED", "VALID UNTIL", "PURPOSE");
	for (i = 0; i < jlen(list); i++)
		access_row(&t, jidx(list, i));
	table_print(&t, stdout);
	table_clear(&t);
}

/* Print one request after a change, from {"access_request": {...}} or
 * the request itself. */
static void
access_print_one(struct json_object *body, int replayed)
{
	struct json_object *q = jget(body, "access_request");
	struct json_object *one;

	if (q == NULL)
		q = body;
	one = json_object_new_array();
	json_object_array_add(one, json_object_get(q));
	access_print(one);
	json_object_put(one);
	if (replayed)
		printf("(replayed: done before under this key)\n");
}

/* request: ask for access to a case's personal data. */
static int
cmd_request(struct hl *h, const struct cmd_args *ca)
{
	struct api_reply ar;
	struct json_object *body;
	const char *hours = cmd_flag(ca, "hours");
	char path[URL_PATH_MAX], *end;
	long n = 0;
	int rc;

	if (hours != NULL) {
		errno = 0;
		n = strtol(hours, &end, 10);
		if (*hours < '0' || *hours > '9' || *end != '\0' ||
		    errno != 0 || n > INT_MAX) {
			complain("request: --hours takes a whole number");
			return EXIT_USAGE;
		}
	}
	if (api_path(path, sizeof(path), "/v1/cases/%s/access-requests",
	    ca->ca_argv[0], NULL) == -1)
		return EXIT_USAGE;
	body = json_object_new_object();
	json_object_object_add(body, "purpose",
	    json_object_new_string(cmd_flag(ca, "purpose")));
	if (hours != NULL)
		json_object_object_add(body, "hours",
		    json_object_new_int((int)n));
	rc = api_post(h, path, body, &ar);
	json_object_put(body);
	if (rc == EXIT_OK && !api_print_json(h, &ar))
		access_print_one(ar.ar_json, ar.ar_replayed);
	api_reply_clear(&ar);
	return rc;
}

/* Print the requests of an answer as a table. */
static void
access_print_list(struct json_object *answer)
{
	access_print(jget(answer, "access_requests"));
}

/* requests: the access requests the client may see. */
static int
cmd_requests(struct hl *h, const struct cmd_args *ca)
{
	char path[URL_PATH_MAX];
	const char *state = cmd_flag(ca, "state");

	if (api_path(path, sizeof(path), state != NULL ?
	    "/v1/access-requests?state=%s" : "/v1/access-requests", state,
	    NULL) == -1)
		return EXIT_USAGE;
	return api_read(h, path, access_print_list);
}

/* approve or deny: decide an access request. */
static int
access_decide(struct hl *h, const char *id, const char *decision)
{
	struct api_reply ar;
	char path[URL_PATH_MAX];
	int rc;

	if (api_path(path, sizeof(path), "/v1/access-requests/%s/%s", id,
	    decision) == -1)
		return EXIT_USAGE;
	if ((rc = api_post(h, path, NULL, &ar)) == EXIT_OK &&
	    !api_print_json(h, &ar))
		access_print_one(ar.ar_json, ar.ar_replayed);
	api_reply_clear(&ar);
	return rc;
}

/* approve: grant an access request. */
static int
cmd_approve(struct hl *h, const struct cmd_args *ca)
{
	return access_decide(h, ca->ca_argv[0], "approve");
}

/* deny: refuse an access request. */
static int
cmd_deny(struct hl *h, const struct cmd_args *ca)
{
	return access_decide(h, ca->ca_argv[0], "deny");
}

/* A case's access log, for people. */
static void
access_print_log(struct json_object *answer)
{
	struct json_object *reads = jget(answer, "reads"), *r;
	struct table t;
	char at[64];
	size_t i;

	printf("case %s: %zu %s of its personal data\n",
	    jstr(answer, "case_number") != NULL ?
	    jstr(answer, "case_number") : "-", jlen(reads),
	    jlen(reads) == 1 ? "reading" : "readings");
	if (jlen(reads) == 0)
		return;
	table_init(&t, 8);
	table_add(&t, "AT", "CLIENT", "ROLE", "AGENCY", "BASIS", "REPORTER",
	    "REQUEST", "PURPOSE");
	for (i = 0; i < jlen(reads); i++) {
		r = jidx(reads, i);
		show_time(at, sizeof(at), jstr(r, "at"));
		table_add(&t, at, jstr(r, "client"), jstr(r, "role"),
		    jstr(r, "agency"), label(LABEL_BASIS, jstr(r, "basis")),
		    json_object_get_boolean(jget(r, "reporter")) ? "yes" : "no",
		    jstr(r, "access_request_id"), jstr(r, "purpose"));
	}
	table_print(&t, stdout);
	table_clear(&t);
}

/* access-log: who read a case's personal data. */
static int
cmd_access_log(struct hl *h, const struct cmd_args *ca)
{
	return api_read_at(h, "/v1/cases/%s/access-log", ca->ca_argv[0],
	    access_print_log);
}
