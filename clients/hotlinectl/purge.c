/*
 * hotlinectl purge: retention, carried out by the database's
 * retention_plan(), retention_purge() and case_purge() (crypto-shredding:
 * the data key and the ciphertexts go, what statistics need stays).
 */
#include <stdio.h>
#include <string.h>

#include "hotlinectl.h"

static int	purge_dry_run(struct ctl_ctx *, char **);
static int	purge_run(struct ctl_ctx *, char **);
static int	purge_case(struct ctl_ctx *, char **);

const struct ctl_entry purge_dry_run_entry = {
	.ce_name = "purge --dry-run",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = 0,
	.ce_help = "show what retention would purge now",
	.ce_exec = purge_dry_run,
};

const struct ctl_entry purge_entry = {
	.ce_name = "purge",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = 0,
	.ce_help = "purge what retention says, now (crypto-shredding)",
	.ce_exec = purge_run,
};

const struct ctl_entry purge_case_entry = {
	.ce_name = "purge --case",
	.ce_args = "<number>",
	.ce_nargs = 1,
	.ce_flags = 0,
	.ce_help = "purge one case now",
	.ce_exec = purge_case,
};

/* Count a purged (or to be purged) row by its kind. */
static void
count_kind(const char *kind, int *calls, int *cases)
{
	if (strcmp(kind, "call") == 0)
		(*calls)++;
	else
		(*cases)++;
}

/* purge --dry-run: what retention would purge now. */
static int
purge_dry_run(struct ctl_ctx *cx, char **args)
{
	PGresult *res;
	int i, calls = 0, cases = 0;

	(void)cx;
	(void)args;
	if ((res = db_query("purge: retention_plan", "select kind, ref, "
	    "to_char(since at time zone 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from hotline.retention_plan()",
	    0, NULL)) == NULL)
		return EXIT_FAILED;
	for (i = 0; i < PQntuples(res); i++) {
		printf("%s %s %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? "-" :
		    PQgetvalue(res, i, 2));
		count_kind(PQgetvalue(res, i, 0), &calls, &cases);
	}
	PQclear(res);
	printf("purge: %d calls and %d cases would be purged (dry run)\n",
	    calls, cases);
	return EXIT_OK;
}

/* purge: what retention says, now. */
static int
purge_run(struct ctl_ctx *cx, char **args)
{
	PGresult *res;
	int i, calls = 0, cases = 0;

	(void)cx;
	(void)args;
	if ((res = db_query("purge: retention_purge", "select kind, ref from "
	    "hotline.retention_purge()", 0, NULL)) == NULL)
		return EXIT_FAILED;
	for (i = 0; i < PQntuples(res); i++) {
		printf("%s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		count_kind(PQgetvalue(res, i, 0), &calls, &cases);
	}
	PQclear(res);
	printf("purge: %d calls and %d cases purged\n", calls, cases);
	return EXIT_OK;
}

/* purge --case <number>: one case now. */
static int
purge_case(struct ctl_ctx *cx, char **args)
{
	const char *number = args[0], *p[1] = { number }, *state;
	PGresult *res;
	int purged;

	(void)cx;
	res = db_exec("select hotline.case_purge($1)", 1, p);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
		    NULL;
		if (state != NULL && strcmp(state, "P0002") == 0)
			complain("purge: %s: no such case", number);
		else
			db_complain("purge: case_purge", res);
		PQclear(res);
		return EXIT_FAILED;
	}
	purged = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	printf("purge: case %s %s\n", number, purged ? "purged" :
	    "was already purged");
	return EXIT_OK;
}
