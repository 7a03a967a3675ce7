/*
 * Identities.  Of clients: the clients table cached in memory, keyed by
 * the certificate fingerprint, reloaded at start, on NOTIFY hotline_clients
 * (any change to the table) and periodically, so a revocation takes effect
 * within moments without a database round trip per request.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hotlined.h"

static struct ident	*ident_tab;
static size_t		 ident_n;
static int		 ident_loaded;
static int		 ident_loading, ident_again;
static struct event	*ident_timer;

static void	ident_reload(void);

/* Order identities by fingerprint. */
static int
ident_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ident *)a)->id_fpr,
	    ((const struct ident *)b)->id_fpr);
}

/* Map a role name from the database. */
static enum role
ident_role(const char *s)
{
	if (strcmp(s, "operator") == 0)
		return ROLE_OPERATOR;
	if (strcmp(s, "gateway") == 0)
		return ROLE_GATEWAY;
	if (strcmp(s, "agency") == 0)
		return ROLE_AGENCY;
	if (strcmp(s, "admin") == 0)
		return ROLE_ADMIN;
	if (strcmp(s, "statistician") == 0)
		return ROLE_STATISTICIAN;
	return ROLE_NONE;
}

/*
 * Copy a client's name for log lines: at most CLIENT_NAME_MAX bytes of
 * [A-Za-z0-9._@:+-], anything else as '_', so that a name can never break
 * a key=value line.
 */
static void
ident_name_copy(char dst[CLIENT_NAME_MAX + 1], const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i < CLIENT_NAME_MAX; i++)
		dst[i] = isalnum((unsigned char)src[i]) ||
		    strchr("._@:+-", src[i]) != NULL ? src[i] : '_';
	dst[i] = '\0';
}

/* Replace the cache with the rows of a client_list result. */
static void
ident_loaded_cb(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	struct ident *tab;
	int i, n;

	(void)arg;
	ident_loading = 0;
	if (oc != DB_OK) {
		log_warnx("event=ident_load_failed");
		metrics_add(M_IDENT_RELOADS, "failed", 1);
		db_job_free(j);
		return;
	}
	n = PQntuples(res);
	if ((tab = calloc((size_t)n + 1, sizeof(*tab))) == NULL) {
		log_errorx("event=ident_load_failed reason=memory");
		PQclear(res);
		db_job_free(j);
		return;
	}
	for (i = 0; i < n; i++) {
		tab[i].id_client = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		ident_name_copy(tab[i].id_name, PQgetvalue(res, i, 1));
		tab[i].id_role = ident_role(PQgetvalue(res, i, 2));
		tab[i].id_agency = PQgetisnull(res, i, 3) ? 0 :
		    strtoll(PQgetvalue(res, i, 3), NULL, 10);
		snprintf(tab[i].id_fpr, sizeof(tab[i].id_fpr), "%s",
		    PQgetvalue(res, i, 4));
		tab[i].id_revoked = PQgetvalue(res, i, 5)[0] == 't';
	}
	PQclear(res);
	db_job_free(j);
	qsort(tab, (size_t)n, sizeof(*tab), ident_cmp);
	free(ident_tab);
	ident_tab = tab;
	ident_n = (size_t)n;
	if (!ident_loaded)
		log_info("event=ident_loaded clients=%d", n);
	else
		log_debug("event=ident_loaded clients=%d", n);
	ident_loaded = 1;
	metrics_add(M_IDENT_RELOADS, "ok", 1);
	metrics_set(M_IDENT_CLIENTS, NULL, n);
	if (ident_again) {
		ident_again = 0;
		ident_reload();
	}
}

/* Ask the database for the client table (coalescing repeated asks). */
static void
ident_reload(void)
{
	struct dbjob *j;

	if (ident_loading) {
		ident_again = 1;
		return;
	}
	if ((j = db_job_new(STMT_CLIENT_LIST, 0, ident_loaded_cb, NULL)) == NULL)
		return;
	db_job_scope(j, "system");
	if (db_submit(j) == -1) {
		db_job_free(j);
		return;
	}
	ident_loading = 1;
}

/* Periodic refresh, and retry while nothing is loaded yet. */
static void
ident_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { IDENT_REFRESH_S, 0 };

	(void)fd; (void)what; (void)arg;
	if (!ident_loaded)
		tv.tv_sec = 1;
	ident_reload();
	evtimer_add(ident_timer, &tv);
}

/* Start the periodic load of the cache. */
int
ident_init(struct event_base *base)
{
	struct timeval tv = { 0, 200000 };

	if ((ident_timer = evtimer_new(base, ident_timer_cb, NULL)) == NULL)
		return -1;
	evtimer_add(ident_timer, &tv);
	return 0;
}

/* The clients table changed (or may have): reload the cache. */
void
ident_notify(void)
{
	ident_reload();
}

/* Return nonzero once the cache holds the clients table. */
int
ident_ready(void)
{
	return ident_loaded;
}

/* Find the identity of a certificate fingerprint, or NULL. */
const struct ident *
ident_lookup(const char *fpr)
{
	struct ident key;

	if (ident_tab == NULL)
		return NULL;
	snprintf(key.id_fpr, sizeof(key.id_fpr), "%s", fpr);
	return bsearch(&key, ident_tab, ident_n, sizeof(*ident_tab),
	    ident_cmp);
}

/* Free the cache. */
void
ident_shutdown(void)
{
	if (ident_timer != NULL)
		event_free(ident_timer);
	ident_timer = NULL;
	free(ident_tab);
	ident_tab = NULL;
	ident_n = 0;
}
