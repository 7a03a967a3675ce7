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

/* Whether a code point takes two columns (East Asian wide and full width). */
static int
wide(unsigned long c)
{
	return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) ||
	    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
	    (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
	    (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
	    (c >= 0x20000 && c <= 0x3fffd);
}

/* The columns a UTF-8 string takes on a terminal. */
static size_t
text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t w = 0;
	int i, n;

	while (*p != '\0') {
		if (*p < 0x80) {
			c = *p;
			n = 1;
		} else if ((*p & 0xe0) == 0xc0) {
			c = *p & 0x1f;
			n = 2;
		} else if ((*p & 0xf0) == 0xe0) {
			c = *p & 0x0f;
			n = 3;
		} else if ((*p & 0xf8) == 0xf0) {
			c = *p & 0x07;
			n = 4;
		} else {
			w++;
			p++;
			continue;
		}
		for (i = 1; i < n && (p[i] & 0xc0) == 0x80; i++)
			c = c << 6 | (p[i] & 0x3f);
		if (i < n) {		/* malformed: one column a byte */
			w++;
			p++;
			continue;
		}
		p += n;
		w += wide(c) ? 2 : 1;
	}
	return w;
}

/* Print a cell, padded to width columns unless it is the last. */
static void
print_cell(const char *s, size_t width, int last)
{
	size_t w = text_width(s);

	fputs(s, stdout);
	if (last) {
		putchar('\n');
		return;
	}
	for (; w < width + 2; w++)
		putchar(' ');
}

/* access-log <case>: who read a case's personal data, when, and why. */
static int
access_log(struct ctl_ctx *cx, char **args)
{
	static const char *const head[] = { "at", "client", "role", "agency",
	    "basis", "reporter", "access request", "purpose" };
	enum { NCOLS = sizeof(head) / sizeof(head[0]) };
	const char *number = args[0], *p[1] = { number }, *v;
	size_t width[NCOLS], w;
	PGresult *res;
	int i, j, n;

	(void)cx;
	if ((res = db_query("access-log: access_log_list", "select to_char(at "
	    "at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), client, "
	    "role, agency, basis, case when reporter then 'yes' when not "
	    "reporter then 'no' end, access_request::text, purpose "
	    "from hotline.access_log_list($1)", 1, p)) == NULL)
		return EXIT_FAILED;
	n = PQntuples(res);
	for (j = 0; j < NCOLS; j++)
		width[j] = text_width(head[j]);
	for (i = 0; i < n; i++)
		for (j = 0; j < NCOLS - 1; j++)
			if (!PQgetisnull(res, i, j) &&
			    (w = text_width(PQgetvalue(res, i, j))) > width[j])
				width[j] = w;
	for (j = 0; j < NCOLS; j++)
		print_cell(head[j], width[j], j == NCOLS - 1);
	for (i = 0; i < n; i++)
		for (j = 0; j < NCOLS; j++) {
			v = PQgetisnull(res, i, j) ? "-" : PQgetvalue(res, i, j);
			print_cell(*v != '\0' ? v : "-", width[j],
			    j == NCOLS - 1);
		}
	printf("access-log: %d reads of %s\n", n, number);
	PQclear(res);
	return EXIT_OK;
}
