/*
 * Escalation: every clock is a row with a due time in the database.  One
 * timer is armed for the earliest time a clock needs attention (a warning
 * or a deadline); when it fires, escalate_due() claims the due rows with
 * SKIP LOCKED and applies them in one transaction, and the timer is
 * re-armed.  A NOTIFY on hotline_clock (a new, maybe earlier, clock in any
 * daemon) re-reads the earliest time.  A daemon that was down catches up on
 * start; several daemons never act on the same clock twice.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "hotlined.h"

#define ESCALATE_BATCH		"100"	/* clocks handled per transaction */
#define ESCALATE_IDLE_S		60	/* re-check at least this often */
#define ESCALATE_RETRY_S	1	/* after a failure */

static struct event	*esc_timer;
static int		 esc_busy;	/* a job is in flight */
static int		 esc_again;	/* re-read the next due time after it */

static void	esc_next(void);

/* Arm the timer for an absolute time given as epoch seconds (text). */
static void
esc_arm_at(const char *epoch)
{
	struct timeval tv;
	double due, now, delay;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	delay = ESCALATE_IDLE_S;
	if (epoch != NULL && *epoch != '\0') {
		due = strtod(epoch, NULL);
		delay = due - now;
		if (delay < 0)
			delay = 0;
		if (delay > ESCALATE_IDLE_S)
			delay = ESCALATE_IDLE_S;
	}
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
	evtimer_add(esc_timer, &tv);
	log_debug("event=escalation_armed in_ms=%.0f", delay * 1000.0);
}

/* Arm the timer to retry after a failure. */
static void
esc_retry(void)
{
	struct timeval tv = { ESCALATE_RETRY_S, 0 };

	evtimer_add(esc_timer, &tv);
}

/* The earliest time came back: arm for it. */
static void
esc_next_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	(void)arg;
	esc_busy = 0;
	if (oc == DB_OK && PQntuples(res) == 1)
		esc_arm_at(PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0));
	else
		esc_retry();
	PQclear(res);
	db_job_free(j);
	if (esc_again) {
		esc_again = 0;
		esc_next();
	}
}

/* Ask when the next clock needs attention. */
static void
esc_next(void)
{
	struct dbjob *j;

	if (esc_busy) {
		esc_again = 1;
		return;
	}
	if ((j = db_job_new(STMT_CLOCK_NEXT_DUE, 0, esc_next_done, NULL)) !=
	    NULL)
		db_job_scope(j, "system");
	if (j == NULL || db_submit(j) == -1) {
		db_job_free(j);
		esc_retry();
		return;
	}
	esc_busy = 1;
}

/* A batch of due clocks was handled. */
static void
esc_due_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	int handled;

	(void)arg;
	esc_busy = 0;
	if (oc != DB_OK || PQntuples(res) != 1) {
		log_warnx("event=escalation_failed outcome=%d", (int)oc);
		PQclear(res);
		db_job_free(j);
		esc_retry();
		return;
	}
	handled = atoi(PQgetvalue(res, 0, 0));
	if (handled > 0)
		log_info("event=escalation clocks=%d", handled);
	if (handled >= atoi(ESCALATE_BATCH))
		esc_arm_at("0");	/* more are due: go on at once */
	else
		esc_arm_at(PQgetisnull(res, 0, 1) ? NULL :
		    PQgetvalue(res, 0, 1));
	PQclear(res);
	db_job_free(j);
	if (esc_again) {
		esc_again = 0;
		esc_next();
	}
}

/* The timer fired: handle whatever is due. */
static void
esc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dbjob *j;

	(void)fd; (void)what; (void)arg;
	if (esc_busy) {
		esc_again = 1;
		return;
	}
	if ((j = db_job_new(STMT_ESCALATE_DUE, 0, esc_due_done, NULL)) != NULL)
		db_job_scope(j, "system");
	if (j == NULL || db_job_param(j, 0, ESCALATE_BATCH,
	    strlen(ESCALATE_BATCH)) == -1 || db_submit(j) == -1) {
		db_job_free(j);
		esc_retry();
		return;
	}
	esc_busy = 1;
}

/* A clock was started somewhere, or listening (re)started: re-read. */
void
escalate_notify(void)
{
	esc_next();
}

/* Set up the timer; the first check runs once the database is up. */
int
escalate_init(struct event_base *base)
{
	struct timeval tv = { 0, 300000 };

	if ((esc_timer = evtimer_new(base, esc_timer_cb, NULL)) == NULL)
		return -1;
	evtimer_add(esc_timer, &tv);
	return 0;
}

/* Free the timer. */
void
escalate_shutdown(void)
{
	if (esc_timer != NULL)
		event_free(esc_timer);
	esc_timer = NULL;
}
