/*
 * hotlinectl's tables: the rows of a query as aligned columns under a
 * heading.  Each column is as wide as its widest cell on a terminal (East
 * Asian characters take two columns); the last is not padded; a null or
 * empty value shows as "-".
 */
#include <stdio.h>

#include "hotlinectl.h"

#define TABLE_COLS_MAX	16		/* columns a table may have */

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

/* A cell as shown: its value, or "-" if it is null or empty. */
static const char *
table_cell(const PGresult *res, int row, int col)
{
	const char *v;

	if (PQgetisnull(res, row, col))
		return "-";
	v = PQgetvalue(res, row, col);
	return *v != '\0' ? v : "-";
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

/* Print the first ncols columns of a result under their heading. */
void
table_print(const PGresult *res, const char *const *head, int ncols)
{
	size_t width[TABLE_COLS_MAX], w;
	int i, j, n = PQntuples(res);

	if (ncols > TABLE_COLS_MAX)
		ncols = TABLE_COLS_MAX;
	if (ncols > PQnfields(res))
		ncols = PQnfields(res);
	for (j = 0; j < ncols; j++)
		width[j] = text_width(head[j]);
	for (i = 0; i < n; i++)
		for (j = 0; j < ncols; j++)
			if ((w = text_width(table_cell(res, i, j))) > width[j])
				width[j] = w;
	for (j = 0; j < ncols; j++)
		print_cell(head[j], width[j], j == ncols - 1);
	for (i = 0; i < n; i++)
		for (j = 0; j < ncols; j++)
			print_cell(table_cell(res, i, j), width[j],
			    j == ncols - 1);
}
