/*
 * Database: a small pool of nonblocking libpq connections in pipeline mode,
 * driven by libevent.  Intake jobs waiting together are written in one
 * transaction (group commit: one WAL flush for many submissions), the
 * implicit transaction of one pipeline segment; each is answered only
 * after that segment's Sync, that is after COMMIT.  A dedicated
 * connection LISTENs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hotlined.h"

#define DB_CONNECT_TIMEOUT_S	10
#define DB_MAX_CONNS		64
#define DB_MAX_CHANNELS		8

enum dbc_state {
	DBC_DOWN,		/* not connected; a retry timer may be armed */
	DBC_CONNECTING,		/* PQconnectPoll in progress */
	DBC_PREPARING,		/* statements being prepared */
	DBC_IDLE,		/* ready for a segment */
	DBC_BUSY,		/* a segment is in flight */
	DBC_LISTENING,		/* the LISTEN connection, ready */
};

enum exp_role {
	EXP_PREPARE,		/* PQsendPrepare */
	EXP_JOB,
	EXP_LISTEN,		/* LISTEN command on the listen connection */
	EXP_SYNC,		/* end of a segment */
	EXP_SCOPE,		/* a job's set_config('hotline.scope') */
};

#define DB_SCOPE_STMT	"hotlined_scope"
#define DB_SCOPE_SQL	"select set_config('hotline.scope', $1, true)"

/* One result the connection waits for, in the order sent. */
struct expect {
	enum exp_role	 ex_role;
	struct dbjob	*ex_job;
	int		 ex_got;
};

struct dbconn {
	int		 dc_idx;
	int		 dc_listener;	/* the LISTEN connection */
	PGconn		*dc_pg;
	enum dbc_state	 dc_state;
	int		 dc_sock;
	struct event	*dc_rev;	/* persistent read, or connect poll */
	struct event	*dc_wev;	/* write when PQflush wants it */
	struct event	*dc_timer;	/* reconnect or connect deadline */
	int		 dc_retry_ms;
	struct expect	*dc_exp;
	int		 dc_nexp, dc_hexp, dc_maxexp;
	struct dbjob	*dc_jobs;	/* jobs of the segment in flight */
	int		 dc_njobs;
	int		 dc_batched;
	int		 dc_failed;
};

static struct event_base	*db_base;
static const struct config	*db_cf;
static const struct db_stmt	*db_stmts;
static int			 db_nstmts;
static struct dbconn		 db_conns[DB_MAX_CONNS];
static int			 db_nconns;
static struct dbconn		 db_lconn;
static struct dbjob		*db_qhead, *db_qtail;
static int			 db_qlen;
static const char *const	*db_channels;
static void			(*db_notify_cb)(const char *);
static int			 db_stopping;

static void	db_connect(struct dbconn *);
static void	db_dispatch(void);
static void	db_conn_fail(struct dbconn *, const char *);

/* Allocate a job for a prepared statement. */
struct dbjob *
db_job_new(const char *stmt, int batchable, db_done_cb done, void *arg)
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
static void
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
		if (db_conns[i].dc_state == DBC_IDLE ||
		    db_conns[i].dc_state == DBC_BUSY)
			return 1;
	return 0;
}

/* Return nonzero while jobs are queued or in flight. */
int
db_busy(void)
{
	int i;

	if (db_qlen > 0)
		return 1;
	for (i = 0; i < db_nconns; i++)
		if (db_conns[i].dc_state == DBC_BUSY)
			return 1;
	return 0;
}

/* Queue a job; -1 (job not taken) when the database is unavailable. */
int
db_submit(struct dbjob *j)
{
	if (db_stopping || !db_connected() || db_qlen >= db_cf->cf_queue_max)
		return -1;
	j->dj_next = NULL;
	if (db_qtail != NULL)
		db_qtail->dj_next = j;
	else
		db_qhead = j;
	db_qtail = j;
	db_qlen++;
	db_dispatch();
	return 0;
}

/* Put jobs back at the head of the queue, keeping their order. */
static void
db_requeue_front(struct dbjob *list)
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

/* Record that a result of the given role is expected next. */
static void
db_expect(struct dbconn *c, enum exp_role role, struct dbjob *j)
{
	struct expect *e = &c->dc_exp[c->dc_nexp++];

	e->ex_role = role;
	e->ex_job = j;
	e->ex_got = 0;
}

/* Flush libpq's output; wait for writability if it could not finish. */
static int
db_flush(struct dbconn *c)
{
	int r;

	if ((r = PQflush(c->dc_pg)) == -1)
		return -1;
	if (r == 1)
		event_add(c->dc_wev, NULL);
	else
		event_del(c->dc_wev);
	return 0;
}

/*
 * Send a job's statement, preceded by its row-level security scope (SET
 * LOCAL hotline.scope) unless the job before it in the same segment (one
 * transaction) had the same: so that in a batch no job runs with another
 * job's scope, and a batch of submissions sets it once.  0 on success.
 */
static int
db_send_job(struct dbconn *c, struct dbjob *j, const struct dbjob *prev)
{
	const char *scope = j->dj_scope;

	if (prev == NULL || strcmp(prev->dj_scope, j->dj_scope) != 0) {
		if (!PQsendQueryPrepared(c->dc_pg, DB_SCOPE_STMT, 1, &scope, NULL,
		    NULL, 0))
			return -1;
		db_expect(c, EXP_SCOPE, j);
	}
	if (!PQsendQueryPrepared(c->dc_pg, j->dj_stmt, j->dj_nparams,
	    (const char *const *)j->dj_params, NULL, NULL, 0))
		return -1;
	db_expect(c, EXP_JOB, j);
	return 0;
}

/* Take the next job off the queue, or NULL. */
static struct dbjob *
db_dequeue(void)
{
	struct dbjob *j;

	if ((j = db_qhead) == NULL)
		return NULL;
	db_qhead = j->dj_next;
	if (db_qhead == NULL)
		db_qtail = NULL;
	db_qlen--;
	j->dj_next = NULL;
	return j;
}

/* Start a segment on an idle connection: a batch or a single job. */
static void
db_start(struct dbconn *c)
{
	struct dbjob *j, *first, **tail, *prev, *next;
	int n;

	if ((first = db_dequeue()) == NULL)
		return;
	c->dc_nexp = c->dc_hexp = 0;
	c->dc_failed = 0;
	c->dc_jobs = first;
	c->dc_njobs = 1;
	c->dc_batched = first->dj_batchable && !first->dj_solo;
	tail = &first->dj_next;
	if (c->dc_batched) {
		/* Gather more batchable jobs waiting anywhere in the queue. */
		prev = NULL;
		for (j = db_qhead; j != NULL && c->dc_njobs <
		    db_cf->cf_batch_max; j = next) {
			next = j->dj_next;
			if (!j->dj_batchable || j->dj_solo) {
				prev = j;
				continue;
			}
			if (prev != NULL)
				prev->dj_next = next;
			else
				db_qhead = next;
			if (db_qtail == j)
				db_qtail = prev;
			db_qlen--;
			j->dj_next = NULL;
			*tail = j;
			tail = &j->dj_next;
			c->dc_njobs++;
		}
	}
	for (prev = NULL, j = c->dc_jobs; j != NULL; prev = j, j = j->dj_next)
		if (db_send_job(c, j, prev) == -1)
			goto fail;
	/*
	 * Everything up to the Sync runs in one implicit transaction,
	 * committed when the Sync is processed (rolled back if any statement
	 * failed): the Sync result is the COMMIT's acknowledgement.
	 */
	if (!PQpipelineSync(c->dc_pg))
		goto fail;
	db_expect(c, EXP_SYNC, NULL);
	c->dc_state = DBC_BUSY;
	n = c->dc_njobs;
	log_debug("event=db_segment conn=%d jobs=%d batched=%d", c->dc_idx, n,
	    c->dc_batched);
	if (db_flush(c) == -1)
		goto fail;
	return;
fail:
	c->dc_state = DBC_BUSY;
	db_conn_fail(c, "send failed");
}

/* Give queued work to every idle connection. */
static void
db_dispatch(void)
{
	int i;

	for (i = 0; i < db_nconns && db_qhead != NULL; i++)
		if (db_conns[i].dc_state == DBC_IDLE)
			db_start(&db_conns[i]);
}

/* Finish a segment after its Sync: deliver or retry its jobs. */
static void
db_segment_done(struct dbconn *c)
{
	struct dbjob *j, *next, *jobs = c->dc_jobs;
	int ok;

	c->dc_jobs = NULL;
	if (c->dc_listener) {
		if (c->dc_failed) {
			db_conn_fail(c, "listen failed");
			return;
		}
		c->dc_state = DBC_LISTENING;
		c->dc_retry_ms = DB_RECONNECT_MIN_MS;
		log_info("event=db_listening");
		/* Anything may have changed while we were not listening. */
		if (db_notify_cb != NULL)
			db_notify_cb(NULL);
		return;
	}
	if (c->dc_state == DBC_PREPARING) {
		if (c->dc_failed) {
			db_conn_fail(c, "prepare failed");
			return;
		}
		log_info("event=db_ready conn=%d", c->dc_idx);
		c->dc_retry_ms = DB_RECONNECT_MIN_MS;
		c->dc_state = DBC_IDLE;
		return;
	}
	c->dc_state = DBC_IDLE;
	ok = !c->dc_failed;
	if (!ok && c->dc_batched && c->dc_njobs > 1) {
		/* One bad submission must not sink the others: retry alone. */
		log_warnx("event=db_batch_retry conn=%d jobs=%d", c->dc_idx,
		    c->dc_njobs);
		for (j = jobs; j != NULL; j = j->dj_next) {
			j->dj_solo = 1;
			j->dj_sqlstate[0] = '\0';
			PQclear(j->dj_result);
			j->dj_result = NULL;
		}
		db_requeue_front(jobs);
		return;
	}
	for (j = jobs; j != NULL; j = next) {
		next = j->dj_next;
		j->dj_next = NULL;
		db_job_finish(j, ok ? DB_OK : DB_ERROR);
	}
}

/* Log a statement error by SQLSTATE only: messages can quote data. */
static void
db_log_result_error(struct dbconn *c, PGresult *res, const char *what)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	log_errorx("event=db_error conn=%d what=%s status=%s sqlstate=%s",
	    c->dc_idx, what, PQresStatus(PQresultStatus(res)),
	    state ? state : "-");
}

/* Keep a failed statement's SQLSTATE with its job (for the caller's choice). */
static void
db_job_sqlstate(struct dbjob *j, PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state != NULL && strlen(state) == 5)
		memcpy(j->dj_sqlstate, state, 6);
}

/* Handle the first result of one expected command. */
static void
db_handle_result(struct dbconn *c, struct expect *e, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	switch (e->ex_role) {
	case EXP_JOB:
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			e->ex_job->dj_result = res;
			return;
		}
		if (st != PGRES_PIPELINE_ABORTED) {
			db_log_result_error(c, res, e->ex_job->dj_stmt);
			db_job_sqlstate(e->ex_job, res);
		}
		c->dc_failed = 1;
		break;
	case EXP_SCOPE:
		if (st != PGRES_TUPLES_OK) {
			if (st != PGRES_PIPELINE_ABORTED)
				db_log_result_error(c, res, "scope");
			c->dc_failed = 1;
		}
		break;
	default:
		if (st != PGRES_COMMAND_OK) {
			if (st != PGRES_PIPELINE_ABORTED)
				db_log_result_error(c, res, "control");
			c->dc_failed = 1;
		}
		break;
	}
	PQclear(res);
}

/* Consume every result that has arrived, in order. */
static void
db_process(struct dbconn *c)
{
	struct expect *e;
	PGresult *res;
	ExecStatusType st;

	while (c->dc_hexp < c->dc_nexp && !PQisBusy(c->dc_pg)) {
		e = &c->dc_exp[c->dc_hexp];
		res = PQgetResult(c->dc_pg);
		if (e->ex_role == EXP_SYNC) {
			st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
			PQclear(res);
			if (st != PGRES_PIPELINE_SYNC) {
				db_conn_fail(c, "pipeline out of step");
				return;
			}
			c->dc_hexp++;
			db_segment_done(c);
			if (c->dc_state == DBC_DOWN)
				return;
			continue;
		}
		if (res == NULL) {
			c->dc_hexp++;
			continue;
		}
		if (e->ex_got) {
			PQclear(res);
			continue;
		}
		e->ex_got = 1;
		db_handle_result(c, e, res);
	}
}

/* Deliver notifications received on the listen connection. */
static void
db_drain_notifies(struct dbconn *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c->dc_pg)) != NULL) {
		if (db_notify_cb != NULL)
			db_notify_cb(n->relname);
		PQfreemem(n);
	}
}

/* Readable (or writable) socket of a connected connection. */
static void
db_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dbconn *c = arg;

	(void)fd;
	if (what & EV_READ) {
		if (!PQconsumeInput(c->dc_pg)) {
			db_conn_fail(c, "connection lost");
			return;
		}
	}
	if (PQisnonblocking(c->dc_pg) && db_flush(c) == -1) {
		db_conn_fail(c, "flush failed");
		return;
	}
	db_process(c);
	if (c->dc_state == DBC_DOWN)
		return;
	if (c->dc_listener) {
		if (c->dc_state == DBC_LISTENING)
			db_drain_notifies(c);
		return;
	}
	if (PQstatus(c->dc_pg) == CONNECTION_BAD) {
		db_conn_fail(c, "connection lost");
		return;
	}
	if (c->dc_state == DBC_IDLE)
		db_dispatch();
}

/* Prepare every statement (pool) or LISTEN (listener) on a new session. */
static void
db_on_connected(struct dbconn *c)
{
	char sql[128];
	int i;

	event_del(c->dc_timer);
	event_free(c->dc_rev);
	c->dc_sock = PQsocket(c->dc_pg);
	c->dc_rev = event_new(db_base, c->dc_sock, EV_READ | EV_PERSIST,
	    db_io_cb, c);
	c->dc_wev = event_new(db_base, c->dc_sock, EV_WRITE, db_io_cb, c);
	if (c->dc_rev == NULL || c->dc_wev == NULL ||
	    PQsetnonblocking(c->dc_pg, 1) != 0 ||
	    !PQenterPipelineMode(c->dc_pg)) {
		db_conn_fail(c, "setup failed");
		return;
	}
	event_add(c->dc_rev, NULL);
	c->dc_nexp = c->dc_hexp = 0;
	c->dc_failed = 0;
	if (c->dc_listener) {
		for (i = 0; db_channels[i] != NULL; i++) {
			snprintf(sql, sizeof(sql), "LISTEN %s", db_channels[i]);
			if (!PQsendQueryParams(c->dc_pg, sql, 0, NULL, NULL,
			    NULL, NULL, 0)) {
				db_conn_fail(c, "listen failed");
				return;
			}
			db_expect(c, EXP_LISTEN, NULL);
		}
	} else {
		if (!PQsendPrepare(c->dc_pg, DB_SCOPE_STMT, DB_SCOPE_SQL, 1,
		    NULL)) {
			db_conn_fail(c, "prepare failed");
			return;
		}
		db_expect(c, EXP_PREPARE, NULL);
		for (i = 0; i < db_nstmts; i++) {
			if (!PQsendPrepare(c->dc_pg, db_stmts[i].st_name,
			    db_stmts[i].st_sql, db_stmts[i].st_nparams,
			    NULL)) {
				db_conn_fail(c, "prepare failed");
				return;
			}
			db_expect(c, EXP_PREPARE, NULL);
		}
	}
	if (!PQpipelineSync(c->dc_pg)) {
		db_conn_fail(c, "sync failed");
		return;
	}
	db_expect(c, EXP_SYNC, NULL);
	c->dc_state = DBC_PREPARING;
	if (db_flush(c) == -1)
		db_conn_fail(c, "flush failed");
}

/* Drive PQconnectPoll on socket readiness. */
static void
db_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dbconn *c = arg;
	PostgresPollingStatusType st;
	short ev;

	(void)fd; (void)what;
	st = PQconnectPoll(c->dc_pg);
	switch (st) {
	case PGRES_POLLING_OK:
		db_on_connected(c);
		return;
	case PGRES_POLLING_FAILED:
		db_conn_fail(c, "connect failed");
		return;
	default:
		break;
	}
	/* The socket can change between polls: always re-read it. */
	ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
	event_free(c->dc_rev);
	c->dc_sock = PQsocket(c->dc_pg);
	if ((c->dc_rev = event_new(db_base, c->dc_sock, ev, db_connect_cb,
	    c)) == NULL || event_add(c->dc_rev, NULL) == -1)
		db_conn_fail(c, "event failed");
}

/* Timer: reconnect after a back-off, or give up a slow connect. */
static void
db_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dbconn *c = arg;

	(void)fd; (void)what;
	if (c->dc_state == DBC_CONNECTING)
		db_conn_fail(c, "connect timeout");
	else if (c->dc_state == DBC_DOWN && !db_stopping)
		db_connect(c);
}

/* Start connecting; on immediate failure schedule a retry. */
static void
db_connect(struct dbconn *c)
{
	struct timeval tv = { DB_CONNECT_TIMEOUT_S, 0 };

	c->dc_pg = PQconnectStart(db_cf->cf_database);
	if (c->dc_pg == NULL || PQstatus(c->dc_pg) == CONNECTION_BAD) {
		c->dc_state = DBC_CONNECTING;
		db_conn_fail(c, "connect failed");
		return;
	}
	c->dc_state = DBC_CONNECTING;
	c->dc_sock = PQsocket(c->dc_pg);
	c->dc_rev = event_new(db_base, c->dc_sock, EV_WRITE, db_connect_cb, c);
	if (c->dc_rev == NULL || event_add(c->dc_rev, NULL) == -1) {
		db_conn_fail(c, "event failed");
		return;
	}
	event_add(c->dc_timer, &tv);
}

/*
 * Tear a connection down: jobs in flight get DB_UNKNOWN (a COMMIT may
 * have happened) or DB_UNAVAILABLE (reads); reconnect after a back-off.
 */
static void
db_conn_fail(struct dbconn *c, const char *reason)
{
	struct timeval tv;
	struct dbjob *j, *next, *jobs = c->dc_jobs;
	int was_busy = c->dc_state == DBC_BUSY, batched = c->dc_batched;

	log_warnx("event=db_down conn=%d reason=\"%s\"%s", c->dc_idx, reason,
	    c->dc_listener ? " listener=1" : "");
	if (c->dc_rev != NULL)
		event_free(c->dc_rev);
	if (c->dc_wev != NULL)
		event_free(c->dc_wev);
	c->dc_rev = c->dc_wev = NULL;
	PQfinish(c->dc_pg);
	c->dc_pg = NULL;
	c->dc_state = DBC_DOWN;
	c->dc_jobs = NULL;
	c->dc_njobs = 0;
	if (was_busy) {
		for (j = jobs; j != NULL; j = next) {
			next = j->dj_next;
			j->dj_next = NULL;
			db_job_finish(j, batched ? DB_UNKNOWN :
			    DB_UNAVAILABLE);
		}
	}
	if (!c->dc_listener && !db_connected())
		db_fail_queue(DB_UNAVAILABLE);
	if (db_stopping)
		return;
	tv.tv_sec = c->dc_retry_ms / 1000;
	tv.tv_usec = (c->dc_retry_ms % 1000) * 1000;
	event_add(c->dc_timer, &tv);
	c->dc_retry_ms *= 2;
	if (c->dc_retry_ms > DB_RECONNECT_MAX_MS)
		c->dc_retry_ms = DB_RECONNECT_MAX_MS;
}

/* Set up one connection slot and start connecting. */
static int
db_conn_init(struct dbconn *c, int idx, int listener)
{
	memset(c, 0, sizeof(*c));
	c->dc_idx = idx;
	c->dc_listener = listener;
	c->dc_retry_ms = DB_RECONNECT_MIN_MS;
	/* Per job a scope and a statement; or every prepare; and the Sync. */
	c->dc_maxexp = (2 * db_cf->cf_batch_max > db_nstmts + 1 ?
	    2 * db_cf->cf_batch_max : db_nstmts + 1) + DB_MAX_CHANNELS + 4;
	if ((c->dc_exp = calloc((size_t)c->dc_maxexp,
	    sizeof(*c->dc_exp))) == NULL)
		return -1;
	if ((c->dc_timer = evtimer_new(db_base, db_timer_cb, c)) == NULL)
		return -1;
	db_connect(c);
	return 0;
}

/* Start the pool; connections come up in the background. */
int
db_init(struct event_base *base, const struct config *cf,
    const struct db_stmt *stmts, int nstmts)
{
	int i;

	db_base = base;
	db_cf = cf;
	db_stmts = stmts;
	db_nstmts = nstmts;
	db_nconns = cf->cf_db_pool < DB_MAX_CONNS ? cf->cf_db_pool :
	    DB_MAX_CONNS;
	for (i = 0; i < db_nconns; i++)
		if (db_conn_init(&db_conns[i], i, 0) == -1)
			return -1;
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
	db_channels = channels;
	db_notify_cb = cb;
	return db_conn_init(&db_lconn, db_nconns, 1);
}

/* Close one connection slot for good. */
static void
db_conn_close(struct dbconn *c)
{
	if (c->dc_rev != NULL)
		event_free(c->dc_rev);
	if (c->dc_wev != NULL)
		event_free(c->dc_wev);
	if (c->dc_timer != NULL)
		event_free(c->dc_timer);
	PQfinish(c->dc_pg);
	free(c->dc_exp);
	memset(c, 0, sizeof(*c));
}

/* Close every connection; queued jobs are failed as unavailable. */
void
db_shutdown(void)
{
	int i;

	db_stopping = 1;
	db_fail_queue(DB_UNAVAILABLE);
	for (i = 0; i < db_nconns; i++) {
		if (db_conns[i].dc_state == DBC_BUSY)
			db_conn_fail(&db_conns[i], "shutdown");
		db_conn_close(&db_conns[i]);
	}
	if (db_channels != NULL)
		db_conn_close(&db_lconn);
}
