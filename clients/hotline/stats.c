/*
 * The figures an evaluation is made of (GET /v1/stats): a statistician's
 * or an administrator's of every agency, an agency's of its own.  For
 * people, one row a cell: its dimensions, then the cases, reports and
 * calls, how fast the primary work was acknowledged and first acted on,
 * the police's outcomes and the work overdue now; --json gives every
 * figure (each clock's met and missed, each disposition).  A count the
 * daemon suppressed (too small to show without singling a child out, or
 * the complement that would give it back) is printed as "*", and a sum
 * of counts with any suppressed among them is not made.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hotline.h"

#define STATS_FIGURES	7	/* columns after the dimensions */
#define STATS_DIMS_MAX	9	/* dimensions a result may be grouped by */
#define STATS_CELL_MAX	64	/* bytes of one printed value */

static int	cmd_stats(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_stats_entry = {
	.ce_name = "stats",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = {
		{ "from", "date", 1 },
		{ "to", "date", 1 },
		{ "region", "code", 0 },
		{ "by", "dim,...", 0 },
	},
	.ce_help = "the figures of a period (dates inclusive, China Standard "
	    "Time) for a region and below, grouped by category, subcategory, "
	    "risk_level, region, agency, source, reporter_profession, "
	    "institution_type or situation: cases, reports, calls, "
	    "acknowledgement and first action (count, median), police "
	    "outcomes, overdue; small counts suppressed (*)",
	.ce_exec = cmd_stats,
};

/* A count as printed: its number, or "*" if suppressed; 1 if suppressed. */
static int
stats_count(char *buf, size_t len, struct json_object *v)
{
	if (json_object_is_type(v, json_type_int)) {
		snprintf(buf, len, "%d", json_object_get_int(v));
		return 0;
	}
	snprintf(buf, len, "%s", v == NULL ? "-" : "*");
	return v != NULL;
}

/* The calls of a cell: the sum of its dispositions, unless one of them is
 * suppressed. */
static void
stats_calls(char *buf, size_t len, struct json_object *calls)
{
	char one[STATS_CELL_MAX];
	int sum = 0, hidden = 0;

	json_object_object_foreach(calls, key, val) {
		(void)key;
		hidden |= stats_count(one, sizeof(one), val);
		sum += json_object_get_int(val);
	}
	if (hidden)
		snprintf(buf, len, "*");
	else
		snprintf(buf, len, "%d", sum);
}

/* Durations of a cell: "count, median" ("12, 4m"). */
static void
stats_durations(char *buf, size_t len, struct json_object *d)
{
	char count[16], median[32];
	struct json_object *m = jget(d, "median_seconds");

	stats_count(count, sizeof(count), jget(d, "count"));
	if (json_object_is_type(m, json_type_int))
		show_left(median, sizeof(median),
		    (time_t)json_object_get_int64(m), 0);
	else
		snprintf(median, sizeof(median), "%s", m == NULL ||
		    json_object_is_type(m, json_type_null) ? "-" : "*");
	snprintf(buf, len, "%s, %s", count, median);
}

/* The police's outcomes of a cell: "受案/立案/不予立案/移送". */
static void
stats_police(char *buf, size_t len, struct json_object *p)
{
	static const char *const kinds[] = { "accepted", "case_opened",
	    "declined", "transferred" };
	char one[STATS_CELL_MAX];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && n < len; i++) {
		stats_count(one, sizeof(one), jget(p, kinds[i]));
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i > 0 ? "/" :
		    "", one);
	}
}

/* A dimension's value in a cell, for people. */
static void
stats_dimension(char *buf, size_t len, const char *dim, struct json_object *v)
{
	const char *s = json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) : NULL;
	const char *slash;
	char cat[STATS_CELL_MAX];

	if (v == NULL || json_object_is_type(v, json_type_null))
		snprintf(buf, len, "-");
	else if (strcmp(dim, "risk_level") == 0)
		show_risk(buf, len, v);
	else if (strcmp(dim, "category") == 0)
		snprintf(buf, len, "%s", label_category(s, NULL));
	else if (strcmp(dim, "subcategory") == 0 && s != NULL &&
	    (slash = strchr(s, '/')) != NULL) {
		snprintf(cat, sizeof(cat), "%.*s", (int)(slash - s), s);
		snprintf(buf, len, "%s/%s", label_category(cat, NULL),
		    label_category(cat, slash + 1));
	} else if (strcmp(dim, "source") == 0)
		snprintf(buf, len, "%s", label(LABEL_SOURCE, s));
	else
		snprintf(buf, len, "%s", s != NULL ? s :
		    json_object_get_string(v));
}

/* The figures, for people. */
static void
stats_print(struct json_object *answer)
{
	static const char *const heads[STATS_FIGURES] = { "CASES", "REPORTS",
	    "CALLS", "ACKNOWLEDGED (N, MEDIAN)", "FIRST ACTION (N, MEDIAN)",
	    "POLICE 受案/立案/不予立案/移送", "OVERDUE" };
	struct json_object *by = jget(answer, "by"), *cells, *c;
	char vals[STATS_DIMS_MAX + STATS_FIGURES][STATS_CELL_MAX];
	char at[64], dim[STATS_CELL_MAX], *p;
	const char *row[STATS_DIMS_MAX + STATS_FIGURES];
	struct table t;
	size_t i, j, nd = jlen(by) < STATS_DIMS_MAX ? jlen(by) : STATS_DIMS_MAX;
	int nf = STATS_FIGURES, suppressed = 0;

	show_time(at, sizeof(at), jstr(answer, "as_of"));
	printf("figures from %s to %s, %s%s%s%s, as of %s\n",
	    jstr(answer, "from"), jstr(answer, "to"),
	    jstr(answer, "region") != NULL ? "region " : "every region",
	    jstr(answer, "region") != NULL ? jstr(answer, "region") : "",
	    jstr(answer, "agency") != NULL ? ", agency " : "",
	    jstr(answer, "agency") != NULL ? jstr(answer, "agency") : "", at);
	cells = jget(answer, "cells");
	table_init(&t, (int)nd + nf);
	for (i = 0; i < nd; i++) {
		snprintf(vals[i], STATS_CELL_MAX, "%s",
		    json_object_get_string(jidx(by, i)));
		for (p = vals[i]; *p != '\0'; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' :
			    *p == '_' ? ' ' : *p);
		row[i] = vals[i];
	}
	for (j = 0; j < (size_t)nf; j++)
		row[nd + j] = heads[j];
	table_row(&t, row);
	for (i = 0; i < jlen(cells); i++) {
		c = jidx(cells, i);
		for (j = 0; j < nd; j++) {
			snprintf(dim, sizeof(dim), "%s",
			    json_object_get_string(jidx(by, j)));
			stats_dimension(vals[j], STATS_CELL_MAX, dim,
			    jget(c, dim));
		}
		suppressed |= stats_count(vals[nd], STATS_CELL_MAX,
		    jget(c, "cases"));
		suppressed |= stats_count(vals[nd + 1], STATS_CELL_MAX,
		    jget(c, "reports"));
		stats_calls(vals[nd + 2], STATS_CELL_MAX, jget(c, "calls"));
		stats_durations(vals[nd + 3], STATS_CELL_MAX,
		    jget(c, "acknowledge"));
		stats_durations(vals[nd + 4], STATS_CELL_MAX,
		    jget(c, "first_action"));
		stats_police(vals[nd + 5], STATS_CELL_MAX, jget(c, "police"));
		suppressed |= stats_count(vals[nd + 6], STATS_CELL_MAX,
		    jget(c, "overdue"));
		for (j = 0; j < nd + (size_t)nf; j++) {
			row[j] = vals[j];
			suppressed |= strchr(vals[j], '*') != NULL;
		}
		table_row(&t, row);
	}
	table_print(&t, stdout);
	table_clear(&t);
	if (suppressed)
		printf("* suppressed: a count under %d, or one that would give "
		    "such a count back\n",
		    json_object_get_int(jget(answer, "threshold")));
}

/* stats: the figures of a period and region. */
static int
cmd_stats(struct hl *h, const struct cmd_args *ca)
{
	char path[URL_PATH_MAX];

	if (cmd_query(path, sizeof(path), "/v1/stats", ca) == -1)
		return EXIT_USAGE;
	return api_read(h, path, stats_print);
}
