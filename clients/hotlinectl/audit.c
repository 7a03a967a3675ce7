/*
 * hotlinectl audit verify and access-log: the tamper evidence of case
 * histories, and who read a case's personal data.
 */
#include <stdio.h>
#include <string.h>

#include "hotlinectl.h"

static int	audit_verify(struct ctl_ctx *, char **);
static int	access_log(struct ctl_ctx *, char **);

const struct ctl_entry audit_verify_entry = {
	.ce_name = "audit verify",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = 0,
	.ce_help = "check every case history's hash chain",
	.ce_exec = audit_verify,
};

const struct ctl_entry access_log_entry = {
	.ce_name = "access-log",
	.ce_args = "<case>",
	.ce_nargs = 1,
	.ce_flags = 0,
	.ce_help = "who read a case's personal data, when, and why",
	.ce_exec = access_log,
};

/* audit verify: every case history's hash chain. */
static int
audit_verify(struct ctl_ctx *cx, char **args)
{
	PGresult *res;
	long long events = 0;
	int i, n, broken = 0;

	(void)cx;
	(void)args;
	if ((res = db_query("audit", "select case_number, events, first_bad "
	    "from hotline.audit_verify()", 0, NULL)) == NULL)
		return EXIT_FAILED;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		events += db_number(PQgetvalue(res, i, 1));
		if (!PQgetisnull(res, i, 2)) {
			broken++;
			printf("audit: case %s: broken at event %s\n",
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
		}
	}
	PQclear(res);
	if (broken > 0) {
		printf("audit: %d of %d cases broken\n", broken, n);
		return EXIT_FAILED;
	}
	printf("audit: %d cases, %lld events, every chain intact\n", n, events);
	return EXIT_OK;
}

/* access-log <case>: who read a case's personal data, when, and why. */
static int
access_log(struct ctl_ctx *cx, char **args)
{
	static const char *const head[] = { "at", "client", "role", "agency",
	    "basis", "reporter", "access request", "purpose" };
	enum { NCOLS = sizeof(head) / sizeof(head[0]) };
	const char *number = args[0], *p[1] = { number };
	PGresult *res;

	(void)cx;
	if ((res = db_query("access-log: access_log_list", "select to_char(at "
	    "at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), client, "
	    "role, agency, basis, case when reporter then 'yes' when not "
	    "reporter then 'no' end, access_request::text, purpose "
	    "from hotline.access_log_list($1)", 1, p)) == NULL)
		return EXIT_FAILED;
	table_print(res, head, NCOLS);
	printf("access-log: %d reads of %s\n", PQntuples(res), number);
	PQclear(res);
	return EXIT_OK;
}
