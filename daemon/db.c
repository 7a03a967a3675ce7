/*
 * Database: the job queue and the pool of connections (dbconn.c) that works
 * it off.  Intake jobs waiting together are written in one transaction
 * (group commit: one WAL flush for many submissions), the implicit
 * transaction of one pipeline segment; each is answered only after that
 * segment's Sync, that is after COMMIT.  A dedicated connection LISTENs.
 *
 * A job's callback never runs inside the call that submitted it:
 * db_submit() only queues the job and wakes the dispatch event, and the
 * queue is handed to connections only from that event's callback.  libpq
 * can fail a send at once (a backend gone without a goodbye, a segment
 * over its output buffer), and the failure then answers the jobs of the
 * segment; it does so in the event loop, never under a submitter's feet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hotlined.h"

#define DB_MAX_CONNS		64
#define DB_EXPIRE_CHECK_S	0.1	/* queued jobs looked at for expiry */

static struct event_base	*db_base;
static const struct config	*db_cf;
static struct dbconn		*db_conns[DB_MAX_CONNS];
static int			 db_nconns;
static struct dbconn		*db_lconn;
static struct dbjob		*db_qhead, *db_qtail;
static int			 db_qlen;
static int			 db_stopping;
static struct event		*db_kick_ev;	/* runs db_dispatch() */
static double			 db_last_trip;	/* last round trip (mono) */

/* Allocate a job for a prepared statement. */
struct dbjob *
db_job_new(enum stmt stmt, int batchable, db_done_cb done, void *arg)
{
	struct dbjob *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->dj_stmt = stmt;
	j->dj_batchable = batchable;
	j->dj_done = done;
	j->dj_arg = arg;
	return j;
}

/* Set the job's row-level security scope (see sql/005_protection.sql). */
void
db_job_scope(struct dbjob *j, const char *scope)
{
	snprintf(j->dj_scope, sizeof(j->dj_scope), "%s", scope);
}

/* Set text parameter idx (a copy of len bytes); 0 on success. */
int
db_job_param(struct dbjob *j, int idx, const char *value, size_t len)
{
	char *p;

	if (idx < 0 || idx >= DB_MAX_PARAMS)
		return -1;
	if ((p = malloc(len + 1)) == NULL)
		return -1;
	memcpy(p, value, len);
	p[len] = '\0';
	free(j->dj_params[idx]);
	j->dj_params[idx] = p;
	if (idx >= j->dj_nparams)
		j->dj_nparams = idx + 1;
	return 0;
}

/* Free a job and everything it holds. */
void
db_job_free(struct dbjob *j)
{
	int i;

	if (j == NULL)
		return;
	for (i = 0; i < DB_MAX_PARAMS; i++)
		free(j->dj_params[i]);
	PQclear(j->dj_result);
	free(j);
}

/* Hand a job its outcome; the callback owns the job afterwards. */
void
db_job_finish(struct dbjob *j, enum db_outcome oc)
{
	PGresult *res = j->dj_result;

	j->dj_result = NULL;
	if (oc != DB_OK) {
		PQclear(res);
		res = NULL;
	}
	j->dj_done(j, oc, res, j->dj_arg);
}

/* Return nonzero if at least one pool connection can take work. */
int
db_connected(void)
{
	int i;

	for (i = 0; i < db_nconns; i++)
		if (dbconn_state(db_conns[i]) == DBC_IDLE ||
		    dbconn_state(db_conns[i]) == DBC_BUSY)
			return 1;
	return 0;
}

/* A pool connection got the answer to a segment: the database works. */
void
db_round_trip(void)
{
	db_last_trip = mono_now();
}

/* When a pool connection last completed a round trip (mono; 0: never). */
double
db_last_round_trip(void)
{
	return db_last_trip;
}

/*
 * Since when the oldest work has waited for the database (a job queued or
 * a segment in flight), in monotonic seconds; 0 when nothing waits.
 */
double
db_waiting_since(void)
{
	double t = db_qhead != NULL ? db_qhead->dj_queued : 0, s;
	int i;

	for (i = 0; i < db_nconns; i++)
		if ((s = dbconn_busy_since(db_conns[i])) > 0 && (t == 0 || s < t))
			t = s;
	return t;
}

/* Return nonzero while jobs are queued or in flight. */
int
db_busy(void)
{
	int i;

	if (db_qlen > 0)
		return 1;
	for (i = 0; i < db_nconns; i++)
		if (dbconn_state(db_conns[i]) == DBC_BUSY)
			return 1;
	return 0;
}

/*
 * Queue a job; -1 (job not taken, still the caller's) when the database is
 * unavailable.  On 0 the job belongs to the queue, and its callback runs
 * later from the event loop, never before db_submit() has returned.
 */
int
db_submit(struct dbjob *j)
{
	if (db_stopping || !db_connected() || db_qlen >= db_cf->cf_queue_max)
		return -1;
	j->dj_next = NULL;
	j->dj_queued = mono_now();
	if (db_qtail != NULL)
		db_qtail->dj_next = j;
	else
		db_qhead = j;
	db_qtail = j;
	db_qlen++;
	db_kick();
	return 0;
}

/* Hand queued work to idle connections soon, from the event loop. */
void
db_kick(void)
{
	if (db_kick_ev != NULL && db_qhead != NULL)
		event_active(db_kick_ev, EV_TIMEOUT, 1);
}

/* Put jobs back at the head of the queue, keeping their order. */
void
db_requeue(struct dbjob *list)
{
	struct dbjob *j, *next, *rev = NULL;

	for (j = list; j != NULL; j = next) {
		next = j->dj_next;
		j->dj_next = rev;
		rev = j;
	}
	for (j = rev; j != NULL; j = next) {
		next = j->dj_next;
		j->dj_next = db_qhead;
		db_qhead = j;
		if (db_qtail == NULL)
			db_qtail = j;
		db_qlen++;
	}
}

/* Fail every queued job with the given outcome. */
static void
db_fail_queue(enum db_outcome oc)
{
	struct dbjob *j;

	while ((j = db_qhead) != NULL) {
		db_qhead = j->dj_next;
		db_qlen--;
		j->dj_next = NULL;
		db_job_finish(j, oc);
	}
	db_qtail = NULL;
}

/* Take job j, which follows prev (NULL: j is the head), off the queue. */
static void
db_unlink(struct dbjob *prev, struct dbjob *j)
{
	if (prev != NULL)
		prev->dj_next = j->dj_next;
	else
		db_qhead = j->dj_next;
	if (db_qtail == j)
		db_qtail = prev;
	db_qlen--;
	j->dj_next = NULL;
}

/*
 * Fail the queued jobs whose time is up (dj_expires): a submission whose
 * request has been answered 503 by its deadline is not sent any more, so
 * that a data key sealed long ago cannot arrive late (see "Master keys" in
 * DESIGN.md; it may go up to DB_EXPIRE_CHECK_S late).  Nothing of such a
 * job reached the database.
 */
static void
db_expire(void)
{
	static double checked;
	struct dbjob *j, *next, *prev = NULL, *gone = NULL;
	double now = mono_now();

	/* A walk of the queue at most every DB_EXPIRE_CHECK_S, however busy. */
	if (now - checked < DB_EXPIRE_CHECK_S)
		return;
	checked = now;

	for (j = db_qhead; j != NULL; j = next) {
		next = j->dj_next;
		if (j->dj_expires == 0 || now < j->dj_expires) {
			prev = j;
			continue;
		}
		db_unlink(prev, j);
		j->dj_next = gone;
		gone = j;
	}
	for (j = gone; j != NULL; j = next) {
		next = j->dj_next;
		j->dj_next = NULL;
		log_warnx("event=db_job_expired stmt=%s", stmt_name(j->dj_stmt));
		db_job_finish(j, DB_UNAVAILABLE);
	}
}

/* Take the next job off the queue, or NULL. */
static struct dbjob *
db_dequeue(void)
{
	struct dbjob *j;

	if ((j = db_qhead) != NULL)
		db_unlink(NULL, j);
	return j;
}

/* How many connections have a group commit in flight. */
static int
db_batching(void)
{
	int i, n = 0;

	for (i = 0; i < db_nconns; i++)
		n += dbconn_batching(db_conns[i]);
	return n;
}

/* Take the first job that is not batched (a read, a retry alone), or NULL. */
static struct dbjob *
db_take_single(void)
{
	struct dbjob *j, *prev = NULL;

	for (j = db_qhead; j != NULL; prev = j, j = j->dj_next)
		if (!j->dj_batchable || j->dj_solo) {
			db_unlink(prev, j);
			return j;
		}
	return NULL;
}

/*
 * Take the work of one segment off the queue: the first job, and if it is
 * batchable every other batchable job waiting anywhere in the queue, up to
 * batch_max in all.  While batch_conns connections have a group commit in
 * flight, batchable jobs wait for one of them (a larger batch, a cheaper
 * report: on a database of few cores more transactions at once only share
 * its CPU) and the connection takes the first other job.  Returns the list
 * (NULL if there is nothing it may take) and its length in *n.
 */
struct dbjob *
db_take(int *n)
{
	struct dbjob *j, *first, **tail, *prev, *next;

	if (db_qhead == NULL)
		return NULL;
	*n = 1;
	if (db_qhead->dj_batchable && !db_qhead->dj_solo &&
	    db_batching() >= db_cf->cf_batch_conns)
		return db_take_single();
	first = db_dequeue();
	if (!first->dj_batchable || first->dj_solo)
		return first;
	tail = &first->dj_next;
	prev = NULL;
	for (j = db_qhead; j != NULL && *n < db_cf->cf_batch_max; j = next) {
		next = j->dj_next;
		if (!j->dj_batchable || j->dj_solo) {
			prev = j;
			continue;
		}
		db_unlink(prev, j);
		*tail = j;
		tail = &j->dj_next;
		(*n)++;
	}
	return first;
}

/* Give queued work to every idle connection (the dispatch event only). */
static void
db_dispatch(void)
{
	int i;

	db_expire();
	for (i = 0; i < db_nconns && db_qhead != NULL; i++)
		if (dbconn_state(db_conns[i]) == DBC_IDLE)
			dbconn_start(db_conns[i]);
}

/* The dispatch event: the only caller of db_dispatch(). */
static void
db_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	db_dispatch();
}

/* A pool connection went down: with none left, queued jobs fail at once. */
void
db_conn_lost(void)
{
	if (!db_connected())
		db_fail_queue(DB_UNAVAILABLE);
}

/* Count the pool's connections by state, and the jobs waiting. */
void
db_stats(struct db_stats *ds)
{
	int i;

	memset(ds, 0, sizeof(*ds));
	for (i = 0; i < db_nconns; i++)
		ds->ds_pool[dbconn_state(db_conns[i])]++;
	ds->ds_listen = db_lconn != NULL ? (int)dbconn_state(db_lconn) : -1;
	ds->ds_queued = db_qlen;
}

/* Start the pool; connections come up in the background. */
int
db_init(struct event_base *base, const struct config *cf)
{
	int i, n;

	if (stmt_check() == -1 || dbhost_init(cf->cf_database) == -1)
		return -1;
	db_base = base;
	db_cf = cf;
	if ((db_kick_ev = event_new(base, -1, 0, db_kick_cb, NULL)) == NULL)
		return -1;
	n = cf->cf_db_pool < DB_MAX_CONNS ? cf->cf_db_pool : DB_MAX_CONNS;
	for (i = 0; i < n; i++) {
		if ((db_conns[i] = dbconn_new(base, cf, i, NULL, NULL)) == NULL)
			return -1;
		db_nconns = i + 1;
	}
	return 0;
}

/*
 * LISTEN on a NULL-terminated list of channels; cb runs with the channel
 * of each notification, and with NULL once listening (re)starts, since
 * anything may have changed while nobody listened.
 */
int
db_listen(const char *const *channels, void (*cb)(const char *))
{
	db_lconn = dbconn_new(db_base, db_cf, db_nconns, channels, cb);
	return db_lconn == NULL ? -1 : 0;
}

/* Close every connection; queued jobs are failed as unavailable. */
void
db_shutdown(void)
{
	int i, n = db_nconns;

	db_stopping = 1;
	db_fail_queue(DB_UNAVAILABLE);
	db_nconns = 0;
	for (i = 0; i < n; i++) {
		dbconn_close(db_conns[i]);
		db_conns[i] = NULL;
	}
	dbconn_close(db_lconn);
	db_lconn = NULL;
	if (db_kick_ev != NULL)
		event_free(db_kick_ev);
	db_kick_ev = NULL;
}
