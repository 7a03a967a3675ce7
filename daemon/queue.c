/*
 * GET /v1/queue: an agency's open work, with long polling.  A request with
 * wait= seconds whose queue comes back empty is parked on a list; a NOTIFY
 * hotline_queue (new assignments, in any daemon) makes every parked request
 * query again, and a timer answers the ones whose wait is over (all of them
 * when draining) with the empty queue.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hotlined.h"

#define QUEUE_LIMIT_DEFAULT	50	/* assignments per answer */
#define QUEUE_LIMIT_MAX		500
#define QUEUE_WAIT_SLACK	5	/* s of the deadline kept for replying */
#define QUEUE_WAIT_MIN		2	/* s of wait= allowed however short */
#define QUEUE_TICK_US		200000	/* how often ended waits are answered */

/* A long-polling queue request waiting for new work. */
struct waiter {
	struct waiter	*wt_next;
	struct request	*wt_req;
	char		 wt_state[24];
	char		 wt_limit[24];
	double		 wt_until;	/* monotonic deadline */
	int		 wt_busy;	/* a query is in flight */
	int		 wt_again;	/* notified while busy */
};

static const struct config	*queue_cf;
static struct waiter		*queue_waiters;
static struct event		*queue_tick_ev;

static void	queue_query(struct waiter *);

/* Remove a waiter from the list and free it. */
static void
queue_remove(struct waiter *w)
{
	struct waiter **pp;

	for (pp = &queue_waiters; *pp != NULL; pp = &(*pp)->wt_next) {
		if (*pp == w) {
			*pp = w->wt_next;
			break;
		}
	}
	free(w);
	metrics_add(M_LONGPOLL_WAITERS, NULL, -1);
}

/* A request is being freed: forget its waiter, if it has one. */
void
queue_forget(struct request *r)
{
	struct waiter *w;

	for (w = queue_waiters; w != NULL; w = w->wt_next) {
		if (w->wt_req == r) {
			queue_remove(w);
			break;
		}
	}
}

/* The queue came back: answer, or keep waiting while it is empty. */
static void
queue_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct waiter *w = arg;
	struct request *r = w->wt_req;
	const char *body;
	int status;

	w->wt_busy = 0;
	r->rq_job = NULL;
	if (r->rq_state == REQ_ORPHANED) {
		PQclear(res);
		db_job_free(j);
		request_free(r, "orphan");	/* and its waiter */
		return;
	}
	if (api_job_row(r, j, oc, res, 1) == -1)
		return;
	status = atoi(PQgetvalue(res, 0, 0));
	body = PQgetvalue(res, 0, 1);
	if (status == 200 && strstr(body, "\"assignments\": []") != NULL &&
	    mono_now() < w->wt_until && !server_draining()) {
		PQclear(res);
		db_job_free(j);
		request_enter_state(r, REQ_PARKED);
		if (w->wt_again) {
			w->wt_again = 0;
			queue_query(w);
		}
		return;		/* parked until a notification or the wait ends */
	}
	if (status >= 400)
		request_set_code(r, PQgetvalue(res, 0, 2));
	request_reply(r, status, body, NULL, NULL);
	PQclear(res);
	db_job_free(j);
}

/* Run a waiter's queue query. */
static void
queue_query(struct waiter *w)
{
	struct request *r = w->wt_req;
	char client[24];
	struct dbjob *j;

	snprintf(client, sizeof(client), "%lld", r->rq_client);
	if ((j = db_job_new(STMT_QUEUE_LIST, 0, queue_done, w)) == NULL ||
	    db_job_param(j, 0, client, strlen(client)) == -1 ||
	    (w->wt_state[0] != '\0' && db_job_param(j, 1, w->wt_state,
	    strlen(w->wt_state)) == -1) ||
	    db_job_param(j, 2, w->wt_limit, strlen(w->wt_limit)) == -1) {
		db_job_free(j);
		api_unavailable(r, "the database is unavailable; retry later");
		return;
	}
	w->wt_busy = 1;
	if (api_submit(r, j, REQ_WAITING) == -1)
		return;		/* answered: the request and its waiter are freed */
}

/* New assignments somewhere: every waiting queue looks again. */
void
queue_notify(void)
{
	struct waiter *w, *next;

	for (w = queue_waiters; w != NULL; w = next) {
		next = w->wt_next;
		if (w->wt_busy)
			w->wt_again = 1;
		else
			queue_query(w);
	}
}

/* Answer waiters whose wait is over (or all of them when draining). */
static void
queue_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, QUEUE_TICK_US };
	struct waiter *w, *next;
	double now = mono_now();

	(void)fd; (void)what; (void)arg;
	for (w = queue_waiters; w != NULL; w = next) {
		next = w->wt_next;
		if (!w->wt_busy && (now >= w->wt_until || server_draining()))
			request_reply(w->wt_req, 200, "{\"assignments\": []}",
			    NULL, NULL);	/* frees w with the request */
	}
	evtimer_add(queue_tick_ev, &tv);
}

/* GET /v1/queue?state=&limit=&wait=: the agency's open work. */
void
queue_get(struct request *r, struct evhttp_request *req, const char *id)
{
	static const char *const states[] = { "open", "acknowledged",
	    "accepted", "case_opened", "declined", "outside_jurisdiction",
	    "transferred", "prosecution", "resolved", "closed", "returned",
	    NULL };
	struct query_arg q[] = {
		{ .qa_name = "state", .qa_words = states,
		    .qa_rule = "is not an assignment state" },
		{ .qa_name = "limit", .qa_min = 1, .qa_max = QUEUE_LIMIT_MAX,
		    .qa_rule = "must be between 1 and 500" },
		{ .qa_name = "wait", .qa_min = 0,
		    .qa_max = queue_cf->cf_request_timeout >
		    QUEUE_WAIT_SLACK + QUEUE_WAIT_MIN ?
		    queue_cf->cf_request_timeout - QUEUE_WAIT_SLACK :
		    QUEUE_WAIT_MIN,
		    .qa_rule = "must be a number of seconds the request "
		    "deadline allows" },
	};
	struct waiter *w;

	(void)id;
	if (route_query(r, req, q, sizeof(q) / sizeof(q[0])) == -1)
		return;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	w->wt_req = r;
	snprintf(w->wt_state, sizeof(w->wt_state), "%s",
	    q[0].qa_word != NULL ? q[0].qa_word : "");
	snprintf(w->wt_limit, sizeof(w->wt_limit), "%ld",
	    q[1].qa_num >= 0 ? q[1].qa_num : QUEUE_LIMIT_DEFAULT);
	w->wt_until = mono_now() + (double)(q[2].qa_num >= 0 ? q[2].qa_num : 0);
	w->wt_next = queue_waiters;
	queue_waiters = w;
	metrics_add(M_LONGPOLL_WAITERS, NULL, 1);
	queue_query(w);
}

/* Start the timer that answers ended waits. */
int
queue_init(struct event_base *base, const struct config *cf)
{
	struct timeval tv = { 0, QUEUE_TICK_US };

	queue_cf = cf;
	if ((queue_tick_ev = evtimer_new(base, queue_tick_cb, NULL)) == NULL)
		return -1;
	evtimer_add(queue_tick_ev, &tv);
	return 0;
}

/* Free the timer. */
void
queue_shutdown(void)
{
	if (queue_tick_ev != NULL)
		event_free(queue_tick_ev);
	queue_tick_ev = NULL;
}
