/*
 * hotlinectl stats: the figures of GET /v1/stats, from the database's
 * stats_csv() and stats_table(), with the same suppression of small
 * counts: as CSV (--csv: the file an evaluation report is made from) or as
 * a table.  The options are checked for their shape here; the database
 * checks the rest (a region that exists, the dimensions) as it does for
 * the API.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "hotlinectl.h"

#define STATS_OPT_MAX	128		/* bytes of an option's value */

static int	stats_check(struct ctl_ctx *, char **);
static int	stats_run(struct ctl_ctx *, char **);

const struct ctl_entry stats_entry = {
	.ce_name = "stats",
	.ce_args = "--from <date> --to <date> [--region <code>] "
	    "[--by <dim,...>] [--csv]",
	.ce_nargs = 4,
	.ce_optargs = 5,
	.ce_flags = 0,
	.ce_help = "figures of a period (dates YYYY-MM-DD, inclusive) for a "
	    "region's subtree, grouped by category, subcategory, risk_level, "
	    "region, agency, source, reporter_profession, institution_type or "
	    "situation; small counts suppressed; --csv for a CSV file",
	.ce_check = stats_check,
	.ce_exec = stats_run,
};

/* What stats was asked. */
struct stats_args {
	const char	*sa_from;
	const char	*sa_to;
	const char	*sa_region;	/* NULL: every region */
	const char	*sa_by;		/* NULL: no grouping */
	int		 sa_csv;
};

/* Whether s is made of n characters of the set (and nothing else). */
static int
stats_shape(const char *s, const char *set, size_t min, size_t max)
{
	size_t n = strlen(s);

	return n >= min && n <= max && strspn(s, set) == n;
}

/* Whether s looks like a date YYYY-MM-DD (the database checks it is one). */
static int
stats_date_shape(const char *s)
{
	return strlen(s) == 10 && isdigit((unsigned char)s[0]) &&
	    isdigit((unsigned char)s[3]) && s[4] == '-' && s[7] == '-' &&
	    stats_shape(s, "0123456789-", 10, 10);
}

/* Read the options into sa; 0, or -1 with the reason told. */
static int
stats_parse(char **args, struct stats_args *sa)
{
	const char **dst;
	int i;

	memset(sa, 0, sizeof(*sa));
	for (i = 0; args[i] != NULL; i++) {
		if (strcmp(args[i], "--csv") == 0) {
			sa->sa_csv = 1;
			continue;
		}
		if (strcmp(args[i], "--from") == 0)
			dst = &sa->sa_from;
		else if (strcmp(args[i], "--to") == 0)
			dst = &sa->sa_to;
		else if (strcmp(args[i], "--region") == 0)
			dst = &sa->sa_region;
		else if (strcmp(args[i], "--by") == 0)
			dst = &sa->sa_by;
		else {
			complain("stats: no option %s: --from, --to, --region, "
			    "--by and --csv", args[i]);
			return -1;
		}
		if (*dst != NULL || args[i + 1] == NULL) {
			complain("stats: %s takes one value, once", args[i]);
			return -1;
		}
		*dst = args[++i];
	}
	if (sa->sa_from == NULL || sa->sa_to == NULL) {
		complain("stats: a period needs --from and --to");
		return -1;
	}
	if (!stats_date_shape(sa->sa_from) || !stats_date_shape(sa->sa_to)) {
		complain("stats: --from and --to are dates YYYY-MM-DD");
		return -1;
	}
	if (sa->sa_region != NULL &&
	    !stats_shape(sa->sa_region, "0123456789", 6, 6)) {
		complain("stats: --region is a region code of six digits");
		return -1;
	}
	if (sa->sa_by != NULL && !stats_shape(sa->sa_by,
	    "abcdefghijklmnopqrstuvwxyz_,", 1, STATS_OPT_MAX)) {
		complain("stats: --by is dimensions separated by commas");
		return -1;
	}
	return 0;
}

/* stats, before any database. */
static int
stats_check(struct ctl_ctx *cx, char **args)
{
	struct stats_args sa;

	(void)cx;
	return stats_parse(args, &sa) == -1 ? EXIT_USAGE : EXIT_OK;
}

/* stats: the figures as CSV lines, or as a table. */
static int
stats_run(struct ctl_ctx *cx, char **args)
{
	struct stats_args sa;
	const char *head[3];
	const char *p[4];
	PGresult *res;
	char cell[STATS_OPT_MAX + 8];
	int i;

	(void)cx;
	if (stats_parse(args, &sa) == -1)
		return EXIT_USAGE;
	p[0] = sa.sa_from;
	p[1] = sa.sa_to;
	p[2] = sa.sa_region;
	p[3] = sa.sa_by;
	if (sa.sa_csv) {
		if ((res = db_query("stats", "select line from "
		    "hotline.stats_csv($1, $2, $3, $4) line", 4, p)) == NULL)
			return EXIT_FAILED;
		for (i = 0; i < PQntuples(res); i++)
			printf("%s\n", PQgetvalue(res, i, 0));
		PQclear(res);
		return EXIT_OK;
	}
	if ((res = db_query("stats", "select cell, figure, value from "
	    "hotline.stats_table($1, $2, $3, $4)", 4, p)) == NULL)
		return EXIT_FAILED;
	snprintf(cell, sizeof(cell), "%s", sa.sa_by != NULL ? sa.sa_by : "all");
	for (i = 0; cell[i] != '\0'; i++)
		if (cell[i] == ',')
			cell[i] = ' ';
	head[0] = cell;
	head[1] = "figure";
	head[2] = "value";
	table_print(res, head, 3);
	PQclear(res);
	return EXIT_OK;
}
