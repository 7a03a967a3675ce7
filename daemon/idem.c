/*
 * Idempotency in this process: the Idempotency-Keys of the POSTs it is
 * processing (a second request under a key in flight is told 409 at once),
 * and the timer that expires old keys in the database.  Across processes
 * the database itself serializes a key (sql/003_api.sql).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hotlined.h"

/* An idempotency key being processed by this daemon. */
struct inflight {
	struct inflight	*if_next;
	char		*if_key;
};

static struct inflight	*idem_table[INFLIGHT_BUCKETS];
static struct event	*idem_expire_ev;

/* Hash a string for the in-flight table. */
static unsigned int
idem_hash(const char *s)
{
	unsigned int h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % INFLIGHT_BUCKETS;
}

/* Claim an in-flight slot; -1 if the key is already being processed. */
int
idem_claim(struct request *r, const char *key)
{
	struct inflight *f, **b = &idem_table[idem_hash(key)];

	for (f = *b; f != NULL; f = f->if_next)
		if (strcmp(f->if_key, key) == 0)
			return -1;
	if ((f = malloc(sizeof(*f))) == NULL ||
	    (f->if_key = strdup(key)) == NULL) {
		free(f);
		return -1;
	}
	f->if_next = *b;
	*b = f;
	r->rq_inflight = f->if_key;
	return 0;
}

/* Release a request's in-flight slot, if it holds one. */
void
idem_release(struct request *r)
{
	struct inflight *f, **pp;

	if (r->rq_inflight == NULL)
		return;
	for (pp = &idem_table[idem_hash(r->rq_inflight)];
	    (f = *pp) != NULL; pp = &f->if_next) {
		if (f->if_key == r->rq_inflight) {
			*pp = f->if_next;
			free(f->if_key);
			free(f);
			break;
		}
	}
	r->rq_inflight = NULL;
}

/* Old idempotency keys were expired (or not: it is retried later). */
static void
idem_expire_done(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	(void)arg;
	if (oc == DB_OK && PQntuples(res) == 1)
		log_info("event=idempotency_expired keys=%s",
		    PQgetvalue(res, 0, 0));
	PQclear(res);
	db_job_free(j);
}

/* Periodically expire idempotency keys older than the retention. */
static void
idem_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { IDEM_EXPIRE_S, 0 };
	struct dbjob *j;

	(void)fd; (void)what; (void)arg;
	if ((j = db_job_new(STMT_IDEM_EXPIRE, 0, idem_expire_done, NULL)) !=
	    NULL) {
		db_job_scope(j, "system");
		if (db_job_param(j, 0, IDEM_KEEP, strlen(IDEM_KEEP)) == -1 ||
		    db_submit(j) == -1)
			db_job_free(j);
	}
	evtimer_add(idem_expire_ev, &tv);
}

/* Arm the expiry timer; the first run is IDEM_FIRST_S after start. */
int
idem_init(struct event_base *base)
{
	struct timeval tv = { IDEM_FIRST_S, 0 };

	if ((idem_expire_ev = evtimer_new(base, idem_expire_cb, NULL)) == NULL)
		return -1;
	evtimer_add(idem_expire_ev, &tv);
	return 0;
}

/* Free the timer and the in-flight table. */
void
idem_shutdown(void)
{
	struct inflight *f, *next;
	size_t i;

	if (idem_expire_ev != NULL)
		event_free(idem_expire_ev);
	idem_expire_ev = NULL;
	for (i = 0; i < INFLIGHT_BUCKETS; i++) {
		for (f = idem_table[i]; f != NULL; f = next) {
			next = f->if_next;
			free(f->if_key);
			free(f);
		}
		idem_table[i] = NULL;
	}
}
