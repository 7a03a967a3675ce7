/*
 * Escalation: every clock is a row with a due time in the database.  One
 * timer is armed for the earliest time a clock needs attention (a warning
 * or a deadline); when it fires, a pass claims the due rows with SKIP
 * LOCKED and applies them, and the timer is re-armed.  A pass is
 * escalation_workers transactions at once (escalate_due_shard), each on its
 * own shard of the cases (case id modulo the workers): they never touch one
 * case, so they never wait for each other, and a burst of due clocks is
 * fired by as many backends as there are workers; the pass is over when
 * all have come back.  A NOTIFY on hotline_clock (a new, maybe earlier,
 * clock in any daemon) re-reads the earliest time.  A daemon that was down
 * catches up on start; several daemons never act on the same clock twice.
 *
 * A pass that fails (a statement timeout, one clock whose handling breaks)
 * must not stop every other clock: the loop then fetches the list of due
 * clocks and works through it by bisection, each failed part retried in
 * halves, down to one clock.  A clock that fails alone (a few times, if its
 * error may pass) is set aside with its SQLSTATE and logged, and the loop
 * goes on with the others.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "hotlined.h"

#define ESCALATE_BATCH		100	/* clocks handled per transaction */
#define ESCALATE_IDLE_S		60	/* re-check at least this often */
#define ESCALATE_RETRY_S	1	/* after a failure */
#define ESCALATE_BUSY_S		0.25	/* due clocks all held by others */
#define ESCALATE_SOLO_TRIES	3	/* a lone clock's tries on a passing error */
#define ESCALATE_STACK		32	/* bisection depth (log2 of the batch + 1) */
_Static_assert(ESCALATE_BATCH <= 1 << (ESCALATE_STACK - 2),
    "bisecting a batch must fit the stack");
#define ESC_STR_(x)		#x
#define ESC_STR(x)		ESC_STR_(x)
#define ESCALATE_BATCH_TEXT	ESC_STR(ESCALATE_BATCH)

/* What the loop is waiting for; one job at most is in flight. */
enum esc_state {
	ESC_IDLE,		/* the timer is armed, nothing in flight */
	ESC_NEXT,		/* clock_next_due: when to wake next */
	ESC_PASS,		/* escalate_due_shard: a pass, a job a shard */
	ESC_LIST,		/* clock_due_ids: the due clocks, after a failure */
	ESC_PART,		/* escalate_clocks: one part of that list */
	ESC_ASIDE,		/* clock_set_aside: one clock that fails alone */
};

/* A part of the list of due clocks still to handle: ids [lo, hi). */
struct esc_range {
	int	 er_lo;
	int	 er_hi;
};

static struct event	*esc_timer;
static int		 esc_idle_s;	/* re-check at least this often */
static enum esc_state	 esc_state;
static int		 esc_again;	/* re-read the next due time after it */
static double		 esc_last;	/* when a pass last completed, or the
					   loop started (mono) */
static long long	 esc_ids[ESCALATE_BATCH];	/* the due clocks */
static struct esc_range	 esc_stack[ESCALATE_STACK];	/* parts to do */
static int		 esc_depth;
static int		 esc_tries;	/* failures of the lone clock on top */
static int		 esc_shards;	/* a pass's jobs (escalation_workers) */

/* The pass in flight: its jobs still running and what the done ones said. */
static struct {
	int	 inflight;
	int	 handled;
	int	 more;		/* a shard handled a whole batch */
	int	 error;		/* a shard failed on a statement */
	int	 other;		/* a shard failed otherwise (no connection) */
	double	 next;		/* the earliest next due time, NAN none */
	double	 started;	/* when it began (epoch seconds) */
} esc_pass;

static void	esc_next(void);

/*
 * Arm the timer for an absolute time given as epoch seconds (text), and
 * no later than esc_idle_s after the last completed pass: re-reading the
 * next due time (a NOTIFY) never postpones the periodic pass.
 */
static void
esc_arm_at(const char *epoch)
{
	struct timeval tv;
	double due, now, delay, limit;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	delay = esc_idle_s;
	metrics_set(M_CLOCKS_NEXT_DUE, NULL, epoch != NULL && *epoch != '\0' ?
	    strtod(epoch, NULL) : NAN);
	if (epoch != NULL && *epoch != '\0') {
		due = strtod(epoch, NULL);
		delay = due - now;
		if (delay < 0)
			delay = 0;
		if (delay > esc_idle_s)
			delay = esc_idle_s;
	}
	limit = esc_last + esc_idle_s - mono_now();
	if (delay > limit)
		delay = limit > 0 ? limit : 0;
	tv.tv_sec = (time_t)delay;
	tv.tv_usec = (suseconds_t)((delay - (double)tv.tv_sec) * 1e6);
	evtimer_add(esc_timer, &tv);
	log_debug("event=escalation_armed in_ms=%.0f", delay * 1000.0);
}

/* The time of day, as epoch seconds. */
static double
epoch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Arm the timer to retry after a failure, or at once. */
static void
esc_arm_in(int seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(esc_timer, &tv);
}

/* A pass completed: note it (its clocks are counted as its jobs return). */
static void
esc_completed(void)
{
	esc_last = mono_now();
	metrics_add(M_ESC_PASSES, "ok", 1);
}

/* Count what an escalation statement's row says it handled and escalated. */
static int
esc_counted(PGresult *res)
{
	int handled = atoi(PQgetvalue(res, 0, 0));

	metrics_add(M_CLOCKS_ESCALATED, NULL, atoi(PQgetvalue(res, 0, 2)));
	return handled;
}

/* A job is done: free it; the loop has nothing in flight. */
static void
esc_release(struct dbjob *j, PGresult *res)
{
	PQclear(res);
	db_job_free(j);
	esc_state = ESC_IDLE;
}

/* Nothing in flight and nothing chained: re-read the next due time if a
 * NOTIFY asked for it meanwhile. */
static void
esc_idle(void)
{
	if (esc_again) {
		esc_again = 0;
		esc_next();
	}
}

/* Submit one job of the loop, with up to three parameters. */
static int
esc_job(enum stmt stmt, db_done_cb done, const char *p0, const char *p1,
    const char *p2)
{
	struct dbjob *j;

	if ((j = db_job_new(stmt, 0, done, NULL)) == NULL)
		return -1;
	db_job_scope(j, "system");
	if ((p0 != NULL && db_job_param(j, 0, p0, strlen(p0)) == -1) ||
	    (p1 != NULL && db_job_param(j, 1, p1, strlen(p1)) == -1) ||
	    (p2 != NULL && db_job_param(j, 2, p2, strlen(p2)) == -1) ||
	    db_submit(j) == -1) {
		db_job_free(j);
		return -1;
	}
	return 0;
}

/* Submit the loop's one job; the state is set once it is submitted. */
static int
esc_submit(enum stmt stmt, enum esc_state st, db_done_cb done,
    const char *p0, const char *p1)
{
	if (esc_job(stmt, done, p0, p1, NULL) == -1) {
		esc_state = ESC_IDLE;
		esc_arm_in(ESCALATE_RETRY_S);
		return -1;
	}
	esc_state = st;
	return 0;
}

/* The earliest time came back: arm for it. */
static void
esc_next_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	(void)arg;
	if (esc_depth > 0)
		esc_arm_in(0);		/* the list of due clocks goes on */
	else if (oc == DB_OK && PQntuples(res) == 1)
		esc_arm_at(PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0));
	else
		esc_arm_in(ESCALATE_RETRY_S);
	esc_release(j, res);
	esc_idle();
}

/* Ask when the next clock needs attention. */
static void
esc_next(void)
{
	if (esc_state != ESC_IDLE) {
		esc_again = 1;
		return;
	}
	esc_submit(STMT_CLOCK_NEXT_DUE, ESC_NEXT, esc_next_done, NULL, NULL);
}

/* The due clocks came back after a failed pass: work through them. */
static void
esc_list_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	int i, n;

	(void)arg;
	if (oc != DB_OK) {
		esc_arm_in(ESCALATE_RETRY_S);
		esc_release(j, res);
		esc_idle();
		return;
	}
	n = PQntuples(res);
	if (n > ESCALATE_BATCH)
		n = ESCALATE_BATCH;
	for (i = 0; i < n; i++)
		esc_ids[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	esc_depth = 0;
	esc_tries = 0;
	if (n > 0) {
		esc_stack[0].er_lo = 0;
		esc_stack[0].er_hi = n;
		esc_depth = 1;
		log_warnx("event=escalation_bisect clocks=%d", n);
		esc_arm_in(0);
	} else
		esc_arm_in(ESCALATE_RETRY_S);
	esc_release(j, res);
	esc_idle();
}

/* The pass is over (every shard's job came back): go on. */
static void
esc_pass_over(void)
{
	char next[32];

	esc_state = ESC_IDLE;
	if (esc_pass.handled > 0)
		log_info("event=escalation clocks=%d", esc_pass.handled);
	if (esc_pass.error || esc_pass.other)
		metrics_add(M_ESC_PASSES, "failed", 1);	/* once a pass */
	if (esc_pass.error) {
		/* Something in a shard fails: find it, set it aside. */
		esc_submit(STMT_CLOCK_DUE_IDS, ESC_LIST, esc_list_done,
		    ESCALATE_BATCH_TEXT, NULL);
		return;
	}
	if (esc_pass.other)
		esc_arm_in(ESCALATE_RETRY_S);
	else {
		esc_completed();
		if (esc_pass.more)
			esc_arm_in(0);	/* more are due: go on at once */
		else {
			/*
			 * Nothing handled though a clock was due before the
			 * pass began: whatever is due is locked by another
			 * transaction (another daemon's pass, which goes on by
			 * itself).  Look again shortly, not at once: a pass a
			 * round trip would spin.  (A clock that came due during
			 * the pass is taken at once.)
			 */
			if (esc_pass.handled == 0 && !isnan(esc_pass.next) &&
			    esc_pass.next < esc_pass.started) {
				log_debug("event=escalation_busy due_ms_ago=%.0f",
				    (esc_pass.started - esc_pass.next) * 1000.0);
				esc_pass.next = epoch_now() + ESCALATE_BUSY_S;
			}
			snprintf(next, sizeof(next), "%.6f", esc_pass.next);
			esc_arm_at(isnan(esc_pass.next) ? NULL : next);
		}
	}
	esc_idle();
}

/* One shard's batch of due clocks was handled, or its job failed. */
static void
esc_pass_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	int handled;
	double next;

	(void)arg;
	if (oc == DB_ERROR) {
		log_warnx("event=escalation_failed sqlstate=%s",
		    j->dj_sqlstate[0] ? j->dj_sqlstate : "-");
		esc_pass.error = 1;
	} else if (oc != DB_OK || PQntuples(res) != 1) {
		log_warnx("event=escalation_failed outcome=%d", (int)oc);
		esc_pass.other = 1;
	} else {
		handled = esc_counted(res);
		metrics_add(M_CLOCKS_HANDLED, NULL, handled);
		esc_pass.handled += handled;
		if (handled >= ESCALATE_BATCH)
			esc_pass.more = 1;
		if (!PQgetisnull(res, 0, 1)) {
			next = strtod(PQgetvalue(res, 0, 1), NULL);
			if (isnan(esc_pass.next) || next < esc_pass.next)
				esc_pass.next = next;
		}
	}
	PQclear(res);
	db_job_free(j);
	if (--esc_pass.inflight == 0)
		esc_pass_over();
}

/* Start a pass: one job for each shard of the cases. */
static void
esc_pass_start(void)
{
	char shard[12], shards[12];
	int i;

	memset(&esc_pass, 0, sizeof(esc_pass));
	esc_pass.next = NAN;
	esc_pass.started = epoch_now();
	snprintf(shards, sizeof(shards), "%d", esc_shards);
	for (i = 0; i < esc_shards; i++) {
		snprintf(shard, sizeof(shard), "%d", i);
		if (esc_job(STMT_ESCALATE_DUE, esc_pass_done,
		    ESCALATE_BATCH_TEXT, shard, shards) == -1) {
			esc_pass.other = 1;	/* the others still run */
			continue;
		}
		esc_pass.inflight++;
	}
	if (esc_pass.inflight > 0)
		esc_state = ESC_PASS;
	else {
		esc_state = ESC_IDLE;
		esc_arm_in(ESCALATE_RETRY_S);
	}
}

/* Whether an error may pass on its own (deadlock, serialization, lock or
 * statement timeout): a lone clock gets a few tries before it is set aside. */
static int
esc_transient(const char *sqlstate)
{
	return strncmp(sqlstate, "40", 2) == 0 ||
	    strcmp(sqlstate, "55P03") == 0 || strcmp(sqlstate, "57014") == 0;
}

/* A clock that failed alone was set aside: go on with the others. */
static void
esc_aside_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	(void)arg;
	if (oc != DB_OK) {
		esc_arm_in(ESCALATE_RETRY_S);
		esc_release(j, res);
		esc_idle();
		return;
	}
	metrics_add(M_CLOCKS_SET_ASIDE, NULL, 1);
	log_errorx("event=clock_set_aside clock=%lld sqlstate=%s set=%s",
	    esc_ids[esc_stack[esc_depth - 1].er_lo], j->dj_params[1],
	    PQgetvalue(res, 0, 0));
	esc_depth--;
	esc_tries = 0;
	esc_arm_in(0);
	esc_release(j, res);
	esc_idle();
}

/* One part of the list was handled, or failed: split it, or set it aside. */
static void
esc_part_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct esc_range r;
	char clock[24], state[6];
	int mid;

	(void)arg;
	r = esc_stack[esc_depth - 1];
	if (oc == DB_OK) {
		esc_depth--;
		esc_tries = 0;
		if (PQntuples(res) == 1)
			metrics_add(M_CLOCKS_HANDLED, NULL, esc_counted(res));
		if (esc_depth == 0) {
			esc_completed();
			log_info("event=escalation_recovered");
		}
		esc_arm_in(0);
		esc_release(j, res);
		esc_idle();
		return;
	}
	if (oc != DB_ERROR) {
		esc_arm_in(ESCALATE_RETRY_S);
		esc_release(j, res);
		esc_idle();
		return;
	}
	if (r.er_hi - r.er_lo > 1) {
		mid = r.er_lo + (r.er_hi - r.er_lo) / 2;
		esc_stack[esc_depth - 1].er_lo = mid;
		esc_stack[esc_depth].er_lo = r.er_lo;
		esc_stack[esc_depth].er_hi = mid;
		esc_depth++;
		esc_arm_in(0);
		esc_release(j, res);
		esc_idle();
		return;
	}
	snprintf(state, sizeof(state), "%s",
	    j->dj_sqlstate[0] ? j->dj_sqlstate : "XX000");
	if (r.er_hi - r.er_lo == 1 && esc_transient(state) && ++esc_tries < ESCALATE_SOLO_TRIES) {
		esc_arm_in(ESCALATE_RETRY_S);
		esc_release(j, res);
		esc_idle();
		return;
	}
	snprintf(clock, sizeof(clock), "%lld", esc_ids[r.er_lo]);
	esc_release(j, res);
	esc_submit(STMT_CLOCK_SET_ASIDE, ESC_ASIDE, esc_aside_done, clock, state);
}

/* Handle the part of the due list on top of the stack. */
static void
esc_part(void)
{
	struct esc_range r = esc_stack[esc_depth - 1];
	char list[ESCALATE_BATCH * 21 + 3];
	size_t off = 0;
	int i;

	list[off++] = '{';
	for (i = r.er_lo; i < r.er_hi; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%lld",
		    i > r.er_lo ? "," : "", esc_ids[i]);
	list[off++] = '}';
	list[off] = '\0';
	esc_submit(STMT_ESCALATE_CLOCKS, ESC_PART, esc_part_done, list, NULL);
}

/* The timer fired: handle whatever is due. */
static void
esc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	if (esc_state != ESC_IDLE) {
		esc_again = 1;
		return;
	}
	if (esc_depth > 0)
		esc_part();
	else
		esc_pass_start();
}

/* A clock was started somewhere, or listening (re)started: re-read. */
void
escalate_notify(void)
{
	esc_next();
}

/*
 * When a pass of the loop last completed, or the loop started if none has
 * yet (monotonic seconds): /readyz's measure of the loop's liveness.
 */
double
escalate_last_pass(void)
{
	return esc_last;
}

/*
 * Set up the timer; the first check runs once the database is up.  A
 * healthy loop completes a pass at least every ESCALATE_IDLE_S, or half
 * liveness_timeout if that is shorter: a longer gap means it is stuck.
 */
int
escalate_init(struct event_base *base, const struct config *cf)
{
	struct timeval tv = { 0, 300000 };

	esc_idle_s = ESCALATE_IDLE_S;
	esc_shards = cf->cf_esc_workers > 0 ? cf->cf_esc_workers : 1;
	if (cf->cf_liveness_timeout / 2 < esc_idle_s)
		esc_idle_s = cf->cf_liveness_timeout / 2 > 0 ?
		    cf->cf_liveness_timeout / 2 : 1;
	esc_last = mono_now();
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
