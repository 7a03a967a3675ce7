/*
 * hotlinectl's database connection: one blocking libpq session as an
 * administrator, with row-level security's 'system' scope.  Errors are
 * reported by primary message and SQLSTATE, never with their DETAIL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotlinectl.h"

static PGconn	*db;

/* The length of m without its trailing newlines and spaces. */
static int
trimmed(const char *m)
{
	size_t len = strlen(m);

	while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
		len--;
	return (int)len;
}

/*
 * Report a database error: what failed, the server's primary message and
 * its SQLSTATE.  Not the DETAIL, which can quote a row's values.
 */
void
db_complain(const char *what, const PGresult *res)
{
	const char *m = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *st = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (m == NULL || *m == '\0')
		m = PQerrorMessage(db);
	if (*m == '\0')
		m = "unexpected result";
	complain("%s: %.*s%s%s%s", what, trimmed(m), m, st ? " (SQLSTATE " :
	    "", st ? st : "", st ? ")" : "");
}

/* Run a statement with text parameters; its result, whatever it is. */
PGresult *
db_exec(const char *sql, int n, const char *const *params)
{
	return PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
}

/* Run a statement with text parameters; NULL (reported) on error. */
PGresult *
db_query(const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *res;
	ExecStatusType st;

	res = db_exec(sql, n, params);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	db_complain(what, res);
	PQclear(res);
	return NULL;
}

/* Run a statement that answers one row of nfields; NULL (reported) if not. */
PGresult *
db_query_row(const char *what, const char *sql, int n,
    const char *const *params, int nfields)
{
	PGresult *res;

	if ((res = db_query(what, sql, n, params)) == NULL)
		return NULL;
	if (PQntuples(res) != 1 || PQnfields(res) != nfields) {
		complain("%s: unexpected result (%d rows)", what, PQntuples(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Connect as the administrator and set the session up; 0 on success. */
int
db_connect(const char *conninfo)
{
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { NULL, "hotlinectl", NULL };
	PGresult *res;
	const char *m;

	if (conninfo == NULL)
		conninfo = getenv("HOTLINECTL_DATABASE");
	vals[0] = conninfo != NULL ? conninfo : "";
	if ((db = PQconnectdbParams(keys, vals, 1)) == NULL) {
		complain("cannot connect to the database: out of memory");
		return -1;
	}
	if (PQstatus(db) != CONNECTION_OK) {
		m = PQerrorMessage(db);
		complain("cannot connect to the database: %.*s", trimmed(m), m);
		return -1;
	}
	/* Row-level security: the administrator sees every row. */
	if ((res = db_query("session", "select set_config('hotline.scope', "
	    "'system', false)", 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	if ((res = db_query("session", "set search_path = hotline, pg_temp", 0,
	    NULL)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Close the connection (if any). */
void
db_close(void)
{
	PQfinish(db);
	db = NULL;
}

/* Parse a whole number printed by the server; 0 if it is not one. */
long long
db_number(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return 0;
	return n;
}
