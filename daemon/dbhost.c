/*
 * The database's hosts.  A connection string may name several hosts
 * ("host=a,b port=5432,5433 target_session_attrs=read-write"): a primary
 * and its standbys, of which the one that accepts writes is wanted.  libpq
 * tries them in turn only in its blocking connect; with PQconnectPoll its
 * connect_timeout is ignored, so a host that never answers (a dead machine,
 * a wedged server) would hold every attempt until the daemon's own deadline
 * gave up on the whole list, and the next attempt would start with that
 * host again.  Each attempt therefore connects to one host of the list,
 * under a deadline of its own (connect_timeout, else DB_CONNECT_TIMEOUT_S),
 * and dbconn.c goes on with the next host when it fails.
 *
 * A dead host can also stop answering a connection already made.  Unless
 * the connection string says otherwise, TCP keepalives and a TCP user
 * timeout make the kernel report it within seconds, and the connection is
 * torn down and made again like any other lost one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

#define DBHOST_MAX		8	/* hosts in a connection string */
#define DBHOST_LEN		256	/* bytes of one host, address or port */
#define DB_CONNECT_TIMEOUT_S	10	/* per host unless connect_timeout */

/* Defaults a connection string may override (processed before it). */
static const char *const dbhost_defaults[][2] = {
	{ "keepalives", "1" },
	{ "keepalives_idle", "10" },		/* s idle before probing */
	{ "keepalives_interval", "5" },		/* s between probes */
	{ "keepalives_count", "3" },		/* probes unanswered: dead */
	{ "tcp_user_timeout", "30000" },	/* ms data may go unacked */
};
#define DBHOST_NDEFAULTS \
	(sizeof(dbhost_defaults) / sizeof(dbhost_defaults[0]))

static const char	*dbhost_conninfo;
static int		 dbhost_n;	/* 0: the string names no list */
static char		 dbhost_host[DBHOST_MAX][DBHOST_LEN];
static char		 dbhost_addr[DBHOST_MAX][DBHOST_LEN];
static char		 dbhost_port[DBHOST_MAX][DBHOST_LEN];
static int		 dbhost_secs = DB_CONNECT_TIMEOUT_S;

/* Split a comma-separated list into out; the count, or -1 if too long. */
static int
dbhost_split(const char *list, char out[DBHOST_MAX][DBHOST_LEN])
{
	const char *p = list;
	size_t len;
	int n = 0;

	if (list == NULL || *list == '\0')
		return 0;
	for (;;) {
		len = strcspn(p, ",");
		if (n == DBHOST_MAX || len >= DBHOST_LEN)
			return -1;
		memcpy(out[n], p, len);
		out[n++][len] = '\0';
		if (p[len] == '\0')
			return n;
		p += len + 1;
	}
}

/*
 * Read the hosts, addresses and ports of a connection string (kept, not
 * copied); 0, or -1 (logged, never the string: it holds a password).
 */
int
dbhost_init(const char *conninfo)
{
	PQconninfoOption *opts, *o;
	char *err = NULL;
	int nh = 0, na = 0, np = 0, secs;

	dbhost_conninfo = conninfo;
	dbhost_n = 0;
	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		log_errorx("event=db_conninfo_invalid");
		PQfreemem(err);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			nh = dbhost_split(o->val, dbhost_host);
		else if (strcmp(o->keyword, "hostaddr") == 0)
			na = dbhost_split(o->val, dbhost_addr);
		else if (strcmp(o->keyword, "port") == 0)
			np = dbhost_split(o->val, dbhost_port);
		else if (strcmp(o->keyword, "connect_timeout") == 0 &&
		    o->val != NULL && (secs = atoi(o->val)) > 0)
			dbhost_secs = secs < 2 ? 2 : secs;	/* as libpq */
	}
	PQconninfoFree(opts);
	if (nh == -1 || na == -1 || np == -1 ||
	    (nh > 0 && na > 0 && nh != na) ||
	    (np > 1 && np != (nh > na ? nh : na))) {
		log_errorx("event=db_conninfo_invalid reason=\"host, "
		    "hostaddr and port lists must match, %d hosts at most\"",
		    DBHOST_MAX);
		return -1;
	}
	dbhost_n = nh > na ? nh : na;
	if (dbhost_n == 1)
		dbhost_n = 0;	/* one host: the string as it is */
	if (np == 1)
		for (secs = 1; secs < dbhost_n; secs++)
			memcpy(dbhost_port[secs], dbhost_port[0], DBHOST_LEN);
	return 0;
}

/* How many hosts attempts go round (1 when the string names no list). */
int
dbhost_count(void)
{
	return dbhost_n > 0 ? dbhost_n : 1;
}

/* Seconds one attempt may take. */
int
dbhost_timeout(void)
{
	return dbhost_secs;
}

/* A host of the list for logs ("name:port"), or "-" without a list. */
const char *
dbhost_name(int i)
{
	static char buf[2 * DBHOST_LEN + 2];

	if (dbhost_n == 0 || i < 0 || i >= dbhost_n)
		return "-";
	snprintf(buf, sizeof(buf), "%s:%s", dbhost_host[i][0] != '\0' ?
	    dbhost_host[i] : dbhost_addr[i], dbhost_port[i][0] != '\0' ?
	    dbhost_port[i] : "5432");
	return buf;
}

/* Start connecting to host i of the list (the keepalive defaults first). */
PGconn *
dbhost_connect(int i, const char *app_name)
{
	const char *kw[DBHOST_NDEFAULTS + 6], *val[DBHOST_NDEFAULTS + 6];
	size_t n = 0, d;

	for (d = 0; d < DBHOST_NDEFAULTS; d++) {
		kw[n] = dbhost_defaults[d][0];
		val[n++] = dbhost_defaults[d][1];
	}
	kw[n] = "dbname";
	val[n++] = dbhost_conninfo;
	if (dbhost_n > 0) {
		i %= dbhost_n;
		if (dbhost_host[i][0] != '\0') {
			kw[n] = "host";
			val[n++] = dbhost_host[i];
		}
		if (dbhost_addr[i][0] != '\0') {
			kw[n] = "hostaddr";
			val[n++] = dbhost_addr[i];
		}
		if (dbhost_port[i][0] != '\0') {
			kw[n] = "port";
			val[n++] = dbhost_port[i];
		}
	}
	if (app_name != NULL) {
		kw[n] = "application_name";
		val[n++] = app_name;
	}
	kw[n] = val[n] = NULL;
	return PQconnectStartParams(kw, val, 1);
}
