/*
 * GET /v1/queue: an agency's work a page at a time, and long polls.  A
 * request with wait= seconds whose answer holds no assignment is parked on
 * a list with the horizon its answer was read at (the oldest transaction
 * then running: sql/023_queue_order.sql).  A NOTIFY hotline_queue (new
 * assignments, in any daemon) does not make every parked request query
 * again: one query (queue_touched) asks which of the waiting agencies have
 * assignments created at or after their waiters' horizons, and only those
 * agencies' waiters query again.  A since= answer that found work too new
 * to list yet (its transaction ended before an older one) looks again
 * after QUEUE_PENDING_S.  A timer answers the requests whose wait is over
 * (all of them when draining) with their last, empty, answer.
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
#define QUEUE_PENDING_S		0.2	/* a since= waiter with work pending
					   looks again after this */
#define QUEUE_TOUCH_MAX		1024	/* agencies asked about per query */
#define QUEUE_NUM_MAX		20	/* digits of an id or horizon, and NUL */
#define QUEUE_ID_DIGITS		18	/* at most, in a cursor or since= */
#define QUEUE_ARG_MAX		64	/* bytes of a cursor or since=, NUL too */

/* A long-polling queue request waiting for new work. */
struct waiter {
	struct waiter	*wt_next;
	struct request	*wt_req;
	long long	 wt_agency;
	char		 wt_state[24];
	char		 wt_limit[24];
	char		 wt_cursor[QUEUE_ARG_MAX];
	char		 wt_since[QUEUE_ARG_MAX];
	char		*wt_body;	/* the last, empty, answer */
	long long	 wt_mark;	/* the horizon it was read at */
	double		 wt_until;	/* monotonic deadline */
	double		 wt_retry;	/* look again at (mono); 0: never */
	int		 wt_busy;	/* a query is in flight */
	int		 wt_again;	/* notified while busy */
};

/* An agency asked about by queue_touched, with its waiters' horizon. */
struct touch {
	long long	 tc_agency;
	long long	 tc_mark;
};

static const struct config	*queue_cf;
static struct waiter		*queue_waiters;
static struct event		*queue_tick_ev;
static int			 queue_touch_busy;	/* queue_touched is out */
static int			 queue_touch_again;	/* a new round after it */
static long long		 queue_touch_from;	/* the round goes on with
							   the agencies after this;
							   0: it is over */
static size_t			 queue_touch_asked;	/* agencies in the query */

static void	queue_query(struct waiter *);
static void	queue_touch(void);
static void	queue_touch_next(void);

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
	free(w->wt_body);
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

/* Whether a waiter is parked: waiting, and no query of its own out. */
static int
queue_parked(const struct waiter *w)
{
	return !w->wt_busy && w->wt_body != NULL;
}

/* Park a waiter on its empty answer; 0, or -1 if it could not be kept. */
static int
queue_park(struct waiter *w, PGresult *res)
{
	char *body;

	if ((body = strdup(PQgetvalue(res, 0, 1))) == NULL)
		return -1;
	free(w->wt_body);
	w->wt_body = body;
	w->wt_mark = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	w->wt_retry = PQgetvalue(res, 0, 5)[0] == 't' ?
	    mono_now() + QUEUE_PENDING_S : 0;
	request_enter_state(w->wt_req, REQ_PARKED);
	return 0;
}

/* The queue came back: answer, or keep waiting while it holds nothing. */
static void
queue_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct waiter *w = arg;
	struct request *r = w->wt_req;
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
	if (status == 200 && atoi(PQgetvalue(res, 0, 4)) == 0 &&
	    mono_now() < w->wt_until && !server_draining() &&
	    queue_park(w, res) == 0) {
		PQclear(res);
		db_job_free(j);
		if (w->wt_again) {
			w->wt_again = 0;
			queue_touch();	/* what it was notified of */
		}
		return;		/* parked until new work or the wait ends */
	}
	if (status >= 400)
		request_set_code(r, PQgetvalue(res, 0, 2));
	request_reply(r, status, PQgetvalue(res, 0, 1), NULL, NULL);
	PQclear(res);
	db_job_free(j);
}

/* Set a job's text parameter idx if the text is not empty; 0 if done. */
static int
queue_param(struct dbjob *j, int idx, const char *s)
{
	return s[0] == '\0' ? 0 : db_job_param(j, idx, s, strlen(s));
}

/* Run a waiter's queue query. */
static void
queue_query(struct waiter *w)
{
	struct request *r = w->wt_req;
	char client[24];
	struct dbjob *j;

	w->wt_retry = 0;
	snprintf(client, sizeof(client), "%lld", r->rq_client);
	if ((j = db_job_new(STMT_QUEUE_LIST, 0, queue_done, w)) == NULL ||
	    db_job_param(j, 0, client, strlen(client)) == -1 ||
	    queue_param(j, 1, w->wt_state) == -1 ||
	    db_job_param(j, 2, w->wt_limit, strlen(w->wt_limit)) == -1 ||
	    queue_param(j, 3, w->wt_cursor) == -1 ||
	    queue_param(j, 4, w->wt_since) == -1) {
		db_job_free(j);
		api_unavailable(r, "the database is unavailable; retry later");
		return;
	}
	j->dj_nparams = stmt_nparams(STMT_QUEUE_LIST);	/* NULLs to the end */
	w->wt_busy = 1;
	if (api_submit(r, j, REQ_WAITING) == -1)
		return;		/* answered: the request and its waiter are freed */
}

/* Order agencies to ask about by agency. */
static int
queue_touch_cmp(const void *a, const void *b)
{
	const struct touch *x = a, *y = b;

	return x->tc_agency < y->tc_agency ? -1 : x->tc_agency > y->tc_agency;
}

/* queue_touched came back: the waiters of the agencies named look again. */
static void
queue_touch_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct waiter *w, *next;
	long long *hit = NULL;
	int i, n = 0, woken = 0;

	(void)arg;
	queue_touch_busy = 0;
	if (oc != DB_OK) {
		log_warnx("event=queue_touch_failed outcome=%d sqlstate=%s",
		    (int)oc, j->dj_sqlstate[0] != '\0' ? j->dj_sqlstate : "-");
		queue_touch_from = 0;
		queue_touch_again = 1;	/* the tick starts a new round */
		PQclear(res);
		db_job_free(j);
		return;
	}
	if ((n = PQntuples(res)) > 0 &&
	    (hit = calloc((size_t)n, sizeof(*hit))) == NULL) {
		/* Without memory to sort it out, everyone looks again. */
		n = -1;
	}
	for (i = 0; hit != NULL && i < n; i++)
		hit[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	PQclear(res);
	db_job_free(j);
	for (w = queue_waiters; n != 0 && w != NULL; w = next) {
		next = w->wt_next;
		if (!queue_parked(w))
			continue;
		for (i = 0; hit != NULL && i < n && hit[i] != w->wt_agency; i++)
			;
		if (hit == NULL || i < n) {
			log_debug("event=queue_wake id=%s agency=%lld",
			    w->wt_req->rq_id, w->wt_agency);
			woken++;
			queue_query(w);
		}
	}
	log_debug("event=queue_touch agencies=%zu touched=%d woken=%d",
	    queue_touch_asked, n, woken);
	free(hit);
	if (queue_touch_again)
		queue_touch();		/* notified meanwhile: a new round */
	else if (queue_touch_from != 0)
		queue_touch_next();	/* the rest of this round */
}

/* New work somewhere: a round of queue_touched over every waiting agency. */
static void
queue_touch(void)
{
	if (queue_touch_busy) {
		queue_touch_again = 1;
		return;
	}
	queue_touch_again = 0;
	queue_touch_from = 0;
	queue_touch_next();
}

/*
 * Ask which waiting agencies have new work, the next QUEUE_TOUCH_MAX of the
 * round (in the order of their ids, after queue_touch_from), each with the
 * oldest horizon its parked waiters were read at.
 */
static void
queue_touch_next(void)
{
	struct waiter *w;
	struct touch *t = NULL;
	struct dbjob *j;
	char *agencies = NULL, *marks = NULL, *pa, *pm;
	size_t n = 0, k, u, first, last, len;

	for (w = queue_waiters; w != NULL; w = w->wt_next)
		n += queue_parked(w);
	if (n == 0) {
		queue_touch_from = 0;
		return;
	}
	if ((t = calloc(n, sizeof(*t))) == NULL)
		goto fail;
	for (n = 0, w = queue_waiters; w != NULL; w = w->wt_next) {
		if (queue_parked(w)) {
			t[n].tc_agency = w->wt_agency;
			t[n++].tc_mark = w->wt_mark;
		}
	}
	qsort(t, n, sizeof(*t), queue_touch_cmp);
	for (u = 0, k = 1; k < n; k++) {
		if (t[k].tc_agency != t[u].tc_agency)
			t[++u] = t[k];
		else if (t[k].tc_mark < t[u].tc_mark)
			t[u].tc_mark = t[k].tc_mark;
	}
	n = u + 1;	/* agencies, each once */
	for (first = 0; first < n && t[first].tc_agency <= queue_touch_from;
	    first++)
		;
	if (first == n) {
		queue_touch_from = 0;	/* the round is over */
		free(t);
		return;
	}
	last = n - first > QUEUE_TOUCH_MAX ? first + QUEUE_TOUCH_MAX : n;
	queue_touch_from = last < n ? t[last - 1].tc_agency : 0;
	len = (last - first) * QUEUE_NUM_MAX + 3;
	if ((agencies = malloc(len)) == NULL || (marks = malloc(len)) == NULL)
		goto fail;
	pa = agencies;
	pm = marks;
	*pa++ = *pm++ = '{';
	for (k = first; k < last; k++) {
		pa += snprintf(pa, QUEUE_NUM_MAX + 1, "%s%lld", k > first ?
		    "," : "", t[k].tc_agency);
		pm += snprintf(pm, QUEUE_NUM_MAX + 1, "%s%lld", k > first ?
		    "," : "", t[k].tc_mark);
	}
	*pa++ = *pm++ = '}';
	*pa = *pm = '\0';
	if ((j = db_job_new(STMT_QUEUE_TOUCHED, 0, queue_touch_done, NULL)) ==
	    NULL)
		goto fail;
	db_job_scope(j, "system");
	if (db_job_param(j, 0, agencies, strlen(agencies)) == -1 ||
	    db_job_param(j, 1, marks, strlen(marks)) == -1) {
		db_job_free(j);
		goto fail;
	}
	queue_touch_busy = 1;
	queue_touch_asked = last - first;
	if (db_submit(j) == -1) {
		queue_touch_busy = 0;
		db_job_free(j);
		goto fail;
	}
	free(t);
	free(agencies);
	free(marks);
	return;
fail:
	queue_touch_from = 0;
	queue_touch_again = 1;	/* the tick starts a new round */
	free(t);
	free(agencies);
	free(marks);
}

/* New assignments somewhere: ask which waiting agencies they are for. */
void
queue_notify(void)
{
	struct waiter *w;

	for (w = queue_waiters; w != NULL; w = w->wt_next)
		if (w->wt_busy)
			w->wt_again = 1;
	queue_touch();
}

/*
 * Answer waiters whose wait is over (or all of them when draining) with
 * their last answer; those with work pending look again; a wake-up query
 * that could not be made is tried again.
 */
static void
queue_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, QUEUE_TICK_US };
	struct waiter *w, *next;
	double now = mono_now();

	(void)fd; (void)what; (void)arg;
	for (w = queue_waiters; w != NULL; w = next) {
		next = w->wt_next;
		if (!queue_parked(w))
			continue;
		if (now >= w->wt_until || server_draining())
			request_reply(w->wt_req, 200, w->wt_body, NULL,
			    NULL);	/* frees w with the request */
		else if (w->wt_retry > 0 && now >= w->wt_retry)
			queue_query(w);
	}
	if (queue_touch_again && !queue_touch_busy)
		queue_touch();
	evtimer_add(queue_tick_ev, &tv);
}

/* Check a queue cursor: <risk 1-4>.<microseconds or inf>.<id>; 0 if so. */
static int
queue_cursor_valid(const char *s)
{
	size_t n;

	if (s[0] < '1' || s[0] > '4' || s[1] != '.')
		return -1;
	s += 2;
	if (strncmp(s, "inf.", 4) == 0)
		s += 4;
	else {
		n = strspn(s, "0123456789");
		if (n < 1 || n > QUEUE_ID_DIGITS || s[n] != '.')
			return -1;
		s += n + 1;
	}
	n = strspn(s, "0123456789");
	return n >= 1 && n <= QUEUE_ID_DIGITS && s[0] != '0' &&
	    s[n] == '\0' ? 0 : -1;
}

/* Check a since= value: <horizon>[.<id>], as next_since gives it; 0 if so. */
static int
queue_since_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (n < 1 || n > QUEUE_ID_DIGITS)
		return -1;
	if (s[n] == '\0')
		return 0;
	if (s[n] != '.')
		return -1;
	s += n + 1;
	n = strspn(s, "0123456789");
	return n >= 1 && n <= QUEUE_ID_DIGITS && s[0] != '0' &&
	    s[n] == '\0' ? 0 : -1;
}

/* GET /v1/queue?state=&limit=&cursor=&since=&wait=: the agency's work. */
void
queue_get(struct request *r, struct evhttp_request *req, const char *id)
{
	static const char *const states[] = { "open", "acknowledged",
	    "accepted", "case_opened", "declined", "outside_jurisdiction",
	    "transferred", "prosecution", "resolved", "closed", "returned",
	    NULL };
	char cursor[QUEUE_ARG_MAX], since[QUEUE_ARG_MAX];
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
		{ .qa_name = "cursor", .qa_check = queue_cursor_valid,
		    .qa_buf = cursor, .qa_buflen = sizeof(cursor),
		    .qa_rule = "must be the next_cursor of a page" },
		{ .qa_name = "since", .qa_check = queue_since_valid,
		    .qa_buf = since, .qa_buflen = sizeof(since),
		    .qa_rule = "must be the next_since of an answer" },
	};
	struct waiter *w;

	(void)id;
	if (route_query(r, req, q, sizeof(q) / sizeof(q[0])) == -1)
		return;
	if (q[3].qa_text != NULL && q[4].qa_text != NULL) {
		api_fail(r, 400, "inconsistent", "cursor", "cursor pages the "
		    "queue in order of urgency and since lists what is new: "
		    "use one");
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	w->wt_req = r;
	w->wt_agency = r->rq_ident.id_agency;
	snprintf(w->wt_state, sizeof(w->wt_state), "%s",
	    q[0].qa_word != NULL ? q[0].qa_word : "");
	snprintf(w->wt_limit, sizeof(w->wt_limit), "%ld",
	    q[1].qa_num >= 0 ? q[1].qa_num : QUEUE_LIMIT_DEFAULT);
	w->wt_until = mono_now() + (double)(q[2].qa_num >= 0 ? q[2].qa_num : 0);
	snprintf(w->wt_cursor, sizeof(w->wt_cursor), "%s",
	    q[3].qa_text != NULL ? q[3].qa_text : "");
	snprintf(w->wt_since, sizeof(w->wt_since), "%s",
	    q[4].qa_text != NULL ? q[4].qa_text : "");
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
