/*
 * Identities.  Of clients: the clients table (with each operator's
 * centre) cached in memory, keyed by the certificate fingerprint, reloaded
 * at start, on NOTIFY hotline_clients (any change to the table) and
 * periodically, so a revocation takes effect within moments without a
 * database round trip per request.  A load that fails is tried again
 * after IDENT_RETRY_S, so that a change announced while it was out is not
 * left to the next periodic refresh.
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
static double		 ident_last;	/* when a load last completed (mono) */
static int		 ident_period;	/* s between periodic refreshes */
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

/* Arm the timer: the next periodic refresh, or a retry soon. */
static void
ident_arm(int seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(ident_timer, &tv);
}

/*
 * A load failed: whatever it was to bring (and any NOTIFY that arrived
 * meanwhile, coalesced into it) comes with a retry soon.
 */
static void
ident_failed(const char *reason)
{
	/* Without a connection this repeats every retry: not a warning. */
	log_msg(strcmp(reason, "unavailable") == 0 ? LOG_LVL_DEBUG :
	    LOG_LVL_WARN, "event=ident_load_failed reason=%s retry_s=%d",
	    reason, IDENT_RETRY_S);
	metrics_add(M_IDENT_RELOADS, "failed", 1);
	ident_again = 0;
	ident_arm(IDENT_RETRY_S);
}

/* Replace the cache with the rows of a client_identities result. */
static void
ident_loaded_cb(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	struct ident *tab;
	int i, n;

	(void)arg;
	ident_loading = 0;
	if (oc != DB_OK) {
		db_job_free(j);
		ident_failed("database");
		return;
	}
	n = PQntuples(res);
	if ((tab = calloc((size_t)n + 1, sizeof(*tab))) == NULL) {
		PQclear(res);
		db_job_free(j);
		ident_failed("memory");
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
		snprintf(tab[i].id_centre, sizeof(tab[i].id_centre), "%s",
		    PQgetisnull(res, i, 6) ? "" : PQgetvalue(res, i, 6));
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
	ident_last = mono_now();
	if (ident_again) {
		ident_again = 0;
		ident_reload();
	}
}

/*
 * Ask the database for the client table (coalescing repeated asks).  The
 * loading flag is set before the job is submitted, never after.
 */
static void
ident_reload(void)
{
	struct dbjob *j;

	if (ident_loading) {
		ident_again = 1;
		return;
	}
	if ((j = db_job_new(STMT_CLIENT_LIST, 0, ident_loaded_cb, NULL)) == NULL) {
		ident_failed("memory");
		return;
	}
	db_job_scope(j, "system");
	ident_loading = 1;
	if (db_submit(j) == -1) {
		ident_loading = 0;
		db_job_free(j);
		ident_failed("unavailable");
	}
}

/* Periodic refresh, and retry while nothing is loaded yet. */
static void
ident_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	ident_arm(ident_loaded ? ident_period : IDENT_RETRY_S);
	ident_reload();
}

/*
 * Start the periodic load of the cache: every IDENT_REFRESH_S, or half
 * liveness_timeout if that is shorter, so that a cache older than
 * liveness_timeout means the reloads fail.
 */
int
ident_init(struct event_base *base, const struct config *cf)
{
	struct timeval tv = { 0, 200000 };

	ident_period = IDENT_REFRESH_S;
	if (cf->cf_liveness_timeout / 2 < ident_period)
		ident_period = cf->cf_liveness_timeout / 2 > 0 ?
		    cf->cf_liveness_timeout / 2 : 1;
	if ((ident_timer = evtimer_new(base, ident_timer_cb, NULL)) == NULL)
		return -1;
	evtimer_add(ident_timer, &tv);
	return 0;
}

/* When the cache was last loaded (monotonic seconds; 0: never). */
double
ident_last_load(void)
{
	return ident_last;
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
