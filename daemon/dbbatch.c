/*
 * A batch of like submissions as one statement.  The jobs of a segment
 * whose statement has a grouped form (stmt_group(): intake_report has
 * intake_reports) go to the database as one call of it, each parameter
 * the array of the jobs' values: a PostgreSQL array literal, except the
 * last (the body), which is the JSON array of the bodies, each already
 * JSON text.  The grouped statement answers one row per job, its columns
 * those of the single statement followed by n (the job's 1-based place),
 * and each job is handed a result of its own row, as if it had run alone.
 * A job of such a statement goes in the grouped form even alone (a batch
 * of one, or a retry), so that one function does the work and keeps its
 * plans.
 * A failing grouped statement fails the segment, whose jobs are then
 * retried one by one (dbconn.c), so one bad submission still cannot sink
 * the others.
 */
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

/* A growing string for one parameter. */
struct dbbatch_buf {
	char	*b_data;
	size_t	 b_len, b_size;
};

/* Append len bytes; -1 when out of memory. */
static int
dbbatch_put(struct dbbatch_buf *b, const char *s, size_t len)
{
	char *p;
	size_t size;

	if (b->b_len + len + 1 > b->b_size) {
		size = b->b_size ? b->b_size : 256;
		while (size < b->b_len + len + 1)
			size *= 2;
		if ((p = realloc(b->b_data, size)) == NULL)
			return -1;
		b->b_data = p;
		b->b_size = size;
	}
	memcpy(b->b_data + b->b_len, s, len);
	b->b_len += len;
	b->b_data[b->b_len] = '\0';
	return 0;
}

/* Append one element of an array literal: quoted, " and \ escaped. */
static int
dbbatch_put_element(struct dbbatch_buf *b, const char *v)
{
	const char *p;

	if (v == NULL)
		return dbbatch_put(b, "NULL", 4);
	if (dbbatch_put(b, "\"", 1) == -1)
		return -1;
	for (p = v; *p != '\0'; p++) {
		if ((*p == '"' || *p == '\\') && dbbatch_put(b, "\\", 1) == -1)
			return -1;
		if (dbbatch_put(b, p, 1) == -1)
			return -1;
	}
	return dbbatch_put(b, "\"", 1);
}

/*
 * The parameter idx of n jobs from first as one value: an array literal,
 * or for the last parameter a JSON array.  NULL when out of memory.
 */
static char *
dbbatch_param(const struct dbjob *first, int n, int idx, int last)
{
	struct dbbatch_buf b = { NULL, 0, 0 };
	const struct dbjob *j;
	const char *v;
	int i, r;

	r = dbbatch_put(&b, last ? "[" : "{", 1);
	for (i = 0, j = first; i < n && r == 0; i++, j = j->dj_next) {
		if (i > 0)
			r = dbbatch_put(&b, ",", 1);
		v = idx < j->dj_nparams ? j->dj_params[idx] : NULL;
		if (r == 0 && last)
			r = v != NULL ? dbbatch_put(&b, v, strlen(v)) :
			    dbbatch_put(&b, "null", 4);
		else if (r == 0)
			r = dbbatch_put_element(&b, v);
	}
	if (r == 0)
		r = dbbatch_put(&b, last ? "]" : "}", 1);
	if (r == -1) {
		free(b.b_data);
		return NULL;
	}
	return b.b_data;
}

/*
 * How many jobs from j go as one call of the grouped form of its
 * statement: j and those right after it with the same statement and
 * scope; 0 if its statement has no grouped form.
 */
int
dbbatch_count(const struct dbjob *j)
{
	const struct dbjob *k;
	int n = 1;

	if (stmt_group(j->dj_stmt) == -1)
		return 0;
	for (k = j->dj_next; k != NULL && k->dj_stmt == j->dj_stmt &&
	    strcmp(k->dj_scope, j->dj_scope) == 0; k = k->dj_next)
		n++;
	return n;
}

/*
 * Put the jobs of a segment in the order they are sent: those of the first
 * statement with a grouped form (and its first job's scope) together at the
 * head, the others after them, each in its order.  Returns the new head.
 */
struct dbjob *
dbbatch_order(struct dbjob *list)
{
	struct dbjob *lead = NULL, *j, *next, *group = NULL, **gt = &group;
	struct dbjob *rest = NULL, **rt = &rest;

	for (j = list; j != NULL; j = next) {
		next = j->dj_next;
		j->dj_next = NULL;
		if (lead == NULL && stmt_group(j->dj_stmt) != -1)
			lead = j;
		if (lead != NULL && j->dj_stmt == lead->dj_stmt &&
		    strcmp(j->dj_scope, lead->dj_scope) == 0) {
			*gt = j;
			gt = &j->dj_next;
		} else {
			*rt = j;
			rt = &j->dj_next;
		}
	}
	*gt = rest;
	return group;
}

/*
 * Send n jobs from first (dbbatch_count() of them) as one call of their
 * grouped statement; 0 on success, -1 if it could not be sent.
 */
int
dbbatch_send(PGconn *pg, const struct dbjob *first, int n)
{
	enum stmt group = (enum stmt)stmt_group(first->dj_stmt);
	char *params[DB_MAX_PARAMS];
	int i, np = stmt_nparams(group), r = -1;

	if (np < 1 || np > DB_MAX_PARAMS)
		return -1;
	memset(params, 0, sizeof(params));
	for (i = 0; i < np; i++)
		if ((params[i] = dbbatch_param(first, n, i, i == np - 1)) ==
		    NULL)
			goto done;
	if (PQsendQueryPrepared(pg, stmt_name(group), np,
	    (const char *const *)params, NULL, NULL, 0))
		r = 0;
done:
	for (i = 0; i < np; i++)
		free(params[i]);
	return r;
}

/*
 * Hand each of the n jobs from first the row of res that answers it (the
 * last column is its 1-based place), as a result of its own with every
 * column of res.  -1 unless every job gets exactly one row.
 */
int
dbbatch_split(const PGresult *res, struct dbjob *first, int n)
{
	struct dbjob *j;
	PGresult *one;
	int row, col, ncols = PQnfields(res), k, i;

	if (PQntuples(res) != n || ncols < 2)
		return -1;
	for (row = 0; row < n; row++) {
		k = atoi(PQgetvalue(res, row, ncols - 1));
		for (i = 1, j = first; j != NULL && i < k; i++)
			j = j->dj_next;
		if (k < 1 || k > n || j == NULL || j->dj_result != NULL)
			return -1;
		if ((one = PQcopyResult(res, PG_COPYRES_ATTRS)) == NULL)
			return -1;
		for (col = 0; col < ncols; col++)
			if (!PQsetvalue(one, 0, col, PQgetisnull(res, row, col) ?
			    NULL : PQgetvalue(res, row, col), PQgetisnull(res,
			    row, col) ? -1 : PQgetlength(res, row, col))) {
				PQclear(one);
				return -1;
			}
		j->dj_result = one;
	}
	return 0;
}
