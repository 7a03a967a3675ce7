/*
 * Statistics: the timer that counts what the database queued for them.
 * Every change a figure depends on leaves a key in hotline.stats_pending
 * (sql/021_stats.sql); every STATS_REFRESH_S this daemon has
 * stats_refresh() take up to STATS_BATCH of them into the per-day rollup,
 * at once again while a batch comes back full.  A batch that fails (a
 * statement timeout on a loaded machine) is tried again at once with half
 * as many keys, down to STATS_BATCH_MIN, and grows back as batches pass, so
 * a backlog always drains.  One job at most is in flight; several daemons
 * take turns (the function holds an advisory lock
 * and answers "busy" to the others).  GET /v1/stats itself is a read in
 * api.c.
 */
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "hotlined.h"

#define STATS_BATCH_MIN		50	/* keys: the smallest batch tried */

static struct event	*stats_timer;
static int		 stats_batch = STATS_BATCH;	/* keys a refresh takes */

/* Arm the timer for the next refresh, in that many seconds. */
static void
stats_arm(int seconds)
{
	struct timeval tv = { seconds, 0 };

	if (stats_timer != NULL)
		evtimer_add(stats_timer, &tv);
}

/* A refresh came back: at once again if its batch was full. */
static void
stats_refresh_done(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	int more = 0;

	(void)arg;
	if (oc == DB_OK && PQntuples(res) == 1) {
		more = PQgetvalue(res, 0, 1)[0] == 't';
		if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
			log_debug("event=stats_refresh taken=%s more=%d",
			    PQgetvalue(res, 0, 0), more);
		if (more && stats_batch < STATS_BATCH)
			stats_batch = stats_batch * 2 < STATS_BATCH ?
			    stats_batch * 2 : STATS_BATCH;
	} else if (oc == DB_ERROR && stats_batch > STATS_BATCH_MIN) {
		stats_batch = stats_batch / 2 > STATS_BATCH_MIN ?
		    stats_batch / 2 : STATS_BATCH_MIN;
		log_warnx("event=stats_refresh_retry batch=%d sqlstate=%s",
		    stats_batch, j->dj_sqlstate[0] != '\0' ?
		    j->dj_sqlstate : "XX000");
		more = 1;
	} else if (oc == DB_ERROR)
		log_warnx("event=stats_refresh_failed sqlstate=%s",
		    j->dj_sqlstate[0] != '\0' ? j->dj_sqlstate : "XX000");
	else
		log_debug("event=stats_refresh_failed outcome=%d", (int)oc);
	PQclear(res);
	db_job_free(j);
	stats_arm(more ? 0 : STATS_REFRESH_S);
}

/* Time to count what is queued. */
static void
stats_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	char batch[16];
	struct dbjob *j;

	(void)fd; (void)what; (void)arg;
	snprintf(batch, sizeof(batch), "%d", stats_batch);
	if ((j = db_job_new(STMT_STATS_REFRESH, 0, stats_refresh_done,
	    NULL)) == NULL) {
		stats_arm(STATS_REFRESH_S);
		return;
	}
	db_job_scope(j, "system");
	if (db_job_param(j, 0, batch, strlen(batch)) == -1 ||
	    db_submit(j) == -1) {
		db_job_free(j);
		stats_arm(STATS_REFRESH_S);
	}
}

/* Arm the timer; the first refresh runs STATS_FIRST_S after start. */
int
stats_init(struct event_base *base)
{
	if ((stats_timer = evtimer_new(base, stats_timer_cb, NULL)) == NULL)
		return -1;
	stats_arm(STATS_FIRST_S);
	return 0;
}

/* Free the timer (a refresh still out then re-arms nothing). */
void
stats_shutdown(void)
{
	if (stats_timer != NULL)
		event_free(stats_timer);
	stats_timer = NULL;
}
