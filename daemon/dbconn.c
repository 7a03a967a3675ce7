/*
 * One database connection: nonblocking libpq in pipeline mode, driven by
 * libevent read/write events on PQsocket() (re-read after every
 * PQconnectPoll).  A pool connection prepares every statement of stmt.c
 * when it connects, then runs one pipeline segment at a time: the jobs
 * db_take() hands it, each preceded by its row-level security scope (and
 * the segment by the keys lock when a job stores a new data key), and
 * one Sync.  The listening connection sends its LISTENs instead and
 * delivers notifications.  On any failure the connection is torn down
 * (its jobs told the outcome) and reconnects with back-off; a connection
 * string naming several hosts is tried one host at a time (dbhost.c), the
 * next at once after a failed attempt, with back-off only once every host
 * failed in turn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "hotlined.h"

#define DB_MAX_CHANNELS		8

#define DB_SCOPE_STMT	"hotlined_scope"
#define DB_SCOPE_SQL	"select set_config('hotline.scope', $1, true)"
#define DB_KEYS_STMT	"hotlined_keys"
#define DB_KEYS_SQL	"select pg_advisory_xact_lock_shared(" KEYS_LOCK_KEYS ")"

/* What a result the connection waits for belongs to. */
enum exp_role {
	EXP_PREPARE,		/* PQsendPrepare */
	EXP_JOB,		/* a job's statement */
	EXP_LISTEN,		/* LISTEN command on the listen connection */
	EXP_SYNC,		/* end of a segment */
	EXP_SCOPE,		/* a job's set_config('hotline.scope') */
	EXP_KEYS,		/* the keys lock of a segment that seals */
	EXP_GROUP,		/* the grouped statement of ex_n jobs (dbbatch.c) */
};

/* One result the connection waits for, in the order sent. */
struct expect {
	enum exp_role	 ex_role;
	struct dbjob	*ex_job;
	int		 ex_n;		/* EXP_GROUP: its jobs from ex_job */
	int		 ex_got;
};

struct dbconn {
	int		 dc_idx;
	int		 dc_listener;	/* the LISTEN connection */
	PGconn		*dc_pg;
	enum dbc_state	 dc_state;	/* set by dbconn_enter_state() only */
	int		 dc_sock;
	struct event_base *dc_base;
	const struct config *dc_cf;
	struct event	*dc_rev;	/* persistent read, or connect poll */
	struct event	*dc_wev;	/* write when PQflush wants it */
	struct event	*dc_timer;	/* reconnect or connect deadline */
	int		 dc_retry_ms;
	int		 dc_host;	/* the host of the list to try */
	int		 dc_tried;	/* hosts failed in a row */
	struct expect	*dc_exp;
	int		 dc_nexp, dc_hexp, dc_maxexp;
	struct dbjob	*dc_jobs;	/* jobs of the segment in flight */
	int		 dc_njobs;
	int		 dc_batched;
	int		 dc_failed;
	int		 dc_synced;	/* the segment's Sync was sent: it may
					   commit whatever happens next */
	double		 dc_busy_since;	/* the segment's start (mono), or 0 */
	const char *const *dc_channels;	/* the listener's */
	void		(*dc_notify)(const char *);
};

static void	dbconn_connect(struct dbconn *);
static void	dbconn_fail(struct dbconn *, const char *);

/* Name a connection state for logs and metrics. */
const char *
dbconn_state_name(enum dbc_state s)
{
	switch (s) {
	case DBC_DOWN:		return "down";
	case DBC_CONNECTING:	return "connecting";
	case DBC_PREPARING:	return "preparing";
	case DBC_IDLE:		return "idle";
	case DBC_BUSY:		return "busy";
	case DBC_LISTENING:	return "listening";
	case DBC_NSTATES:	break;
	}
	return "?";
}

/* Move a connection to a new state; the only place dc_state is set. */
static void
dbconn_enter_state(struct dbconn *c, enum dbc_state s)
{
	if (c->dc_state == s)
		return;
	log_debug("event=db_state conn=%d from=%s to=%s", c->dc_idx,
	    dbconn_state_name(c->dc_state), dbconn_state_name(s));
	c->dc_state = s;
}

/* Return a connection's state. */
enum dbc_state
dbconn_state(const struct dbconn *c)
{
	return c->dc_state;
}

/* Whether a connection has a group commit (a batched segment) in flight. */
int
dbconn_batching(const struct dbconn *c)
{
	return c->dc_jobs != NULL && c->dc_batched;
}

/* Record that a result of the given role is expected next. */
static void
dbconn_expect(struct dbconn *c, enum exp_role role, struct dbjob *j)
{
	struct expect *e = &c->dc_exp[c->dc_nexp++];

	e->ex_role = role;
	e->ex_job = j;
	e->ex_n = 1;
	e->ex_got = 0;
}

/* Flush libpq's output; wait for writability if it could not finish. */
static int
dbconn_flush(struct dbconn *c)
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
 * job's scope, and a batch of submissions sets it once.  With n > 0, the
 * n jobs from j (of one statement and scope) go as one call of its grouped
 * form (dbbatch.c).  0 on success.
 */
static int
dbconn_send_job(struct dbconn *c, struct dbjob *j, int n,
    const struct dbjob *prev)
{
	const char *scope = j->dj_scope;

	if (prev == NULL || strcmp(prev->dj_scope, j->dj_scope) != 0) {
		if (!PQsendQueryPrepared(c->dc_pg, DB_SCOPE_STMT, 1, &scope, NULL,
		    NULL, 0))
			return -1;
		dbconn_expect(c, EXP_SCOPE, j);
	}
	if (n > 0) {
		if (dbbatch_send(c->dc_pg, j, n) == -1)
			return -1;
		dbconn_expect(c, EXP_GROUP, j);
		c->dc_exp[c->dc_nexp - 1].ex_n = n;
		return 0;
	}
	if (!PQsendQueryPrepared(c->dc_pg, stmt_name(j->dj_stmt), j->dj_nparams,
	    (const char *const *)j->dj_params, NULL, NULL, 0))
		return -1;
	dbconn_expect(c, EXP_JOB, j);
	return 0;
}

/* Since when a connection's segment has been in flight (mono), or 0. */
double
dbconn_busy_since(const struct dbconn *c)
{
	return c->dc_state == DBC_BUSY ? c->dc_busy_since : 0;
}

/*
 * Start a segment on an idle connection: a batch or a single job.  Called
 * from the dispatch event only (db.c), so that a send failing at once
 * answers its jobs in the event loop, not inside db_submit().
 */
void
dbconn_start(struct dbconn *c)
{
	struct dbjob *j, *prev;
	int i, n;

	if ((c->dc_jobs = db_take(&c->dc_njobs)) == NULL)
		return;
	c->dc_nexp = c->dc_hexp = 0;
	c->dc_failed = 0;
	c->dc_synced = 0;
	c->dc_busy_since = mono_now();
	c->dc_batched = c->dc_jobs->dj_batchable && !c->dc_jobs->dj_solo;
	/* Like submissions together, to go as one statement. */
	if (c->dc_batched)
		c->dc_jobs = dbbatch_order(c->dc_jobs);
	/* A transaction that stores new data keys holds the keys lock. */
	for (j = c->dc_jobs; j != NULL && !stmt_seals(j->dj_stmt);
	    j = j->dj_next)
		;
	if (j != NULL) {
		if (!PQsendQueryPrepared(c->dc_pg, DB_KEYS_STMT, 0, NULL, NULL,
		    NULL, 0))
			goto fail;
		dbconn_expect(c, EXP_KEYS, NULL);
	}
	for (prev = NULL, j = c->dc_jobs; j != NULL; ) {
		/* A grouped statement takes one job when not batching. */
		if ((n = dbbatch_count(j)) > 1 && !c->dc_batched)
			n = 1;
		if (dbconn_send_job(c, j, n, prev) == -1)
			goto fail;
		for (i = 0; i < n || i == 0; i++, prev = j, j = j->dj_next)
			;
	}
	/*
	 * Everything up to the Sync runs in one implicit transaction,
	 * committed when the Sync is processed (rolled back if any statement
	 * failed): the Sync result is the COMMIT's acknowledgement.  Once
	 * the Sync may have left, so may the COMMIT.
	 */
	c->dc_synced = 1;
	if (!PQpipelineSync(c->dc_pg))
		goto fail;
	dbconn_expect(c, EXP_SYNC, NULL);
	dbconn_enter_state(c, DBC_BUSY);
	log_debug("event=db_segment conn=%d jobs=%d batched=%d", c->dc_idx,
	    c->dc_njobs, c->dc_batched);
	if (c->dc_batched)
		metrics_observe(M_DB_BATCH_SIZE, c->dc_njobs);
	if (dbconn_flush(c) == -1)
		goto fail;
	return;
fail:
	dbconn_enter_state(c, DBC_BUSY);
	dbconn_fail(c, "send failed");
}

/* Finish a segment after its Sync: deliver or retry its jobs. */
static void
dbconn_segment_done(struct dbconn *c)
{
	struct dbjob *j, *next, *jobs = c->dc_jobs;
	int ok;

	c->dc_jobs = NULL;
	if (c->dc_listener) {
		if (c->dc_failed) {
			dbconn_fail(c, "listen failed");
			return;
		}
		dbconn_enter_state(c, DBC_LISTENING);
		c->dc_retry_ms = DB_RECONNECT_MIN_MS;
		c->dc_tried = 0;
		log_info("event=db_listening host=%s", dbhost_name(c->dc_host));
		/* Anything may have changed while we were not listening. */
		c->dc_notify(NULL);
		return;
	}
	if (c->dc_state == DBC_PREPARING) {
		if (c->dc_failed) {
			dbconn_fail(c, "prepare failed");
			return;
		}
		log_info("event=db_ready conn=%d host=%s", c->dc_idx,
		    dbhost_name(c->dc_host));
		c->dc_retry_ms = DB_RECONNECT_MIN_MS;
		c->dc_tried = 0;
		dbconn_enter_state(c, DBC_IDLE);
		return;
	}
	metrics_observe(M_DB_ROUNDTRIP, mono_now() - c->dc_busy_since);
	dbconn_enter_state(c, DBC_IDLE);
	db_round_trip();
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
		db_requeue(jobs);
		db_kick();
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
dbconn_log_error(struct dbconn *c, PGresult *res, const char *what)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	log_errorx("event=db_error conn=%d what=%s status=%s sqlstate=%s",
	    c->dc_idx, what, PQresStatus(PQresultStatus(res)),
	    state ? state : "-");
}

/* Keep a failed statement's SQLSTATE with its job (for the caller's choice). */
static void
dbconn_job_sqlstate(struct dbjob *j, PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state != NULL && strlen(state) == 5)
		memcpy(j->dj_sqlstate, state, 6);
}

/* Handle the first result of one expected command. */
static void
dbconn_result(struct dbconn *c, struct expect *e, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	struct dbjob *j;
	int i;

	switch (e->ex_role) {
	case EXP_JOB:
		if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
			e->ex_job->dj_result = res;
			return;
		}
		if (st != PGRES_PIPELINE_ABORTED) {
			dbconn_log_error(c, res, stmt_name(e->ex_job->dj_stmt));
			dbconn_job_sqlstate(e->ex_job, res);
		}
		c->dc_failed = 1;
		break;
	case EXP_GROUP:
		if (st == PGRES_TUPLES_OK) {
			if (dbbatch_split(res, e->ex_job, e->ex_n) == -1) {
				log_errorx("event=db_error conn=%d what=%s "
				    "reason=\"rows do not answer the batch\"",
				    c->dc_idx, stmt_name((enum stmt)
				    stmt_group(e->ex_job->dj_stmt)));
				c->dc_failed = 1;
			}
			break;
		}
		if (st != PGRES_PIPELINE_ABORTED) {
			dbconn_log_error(c, res, stmt_name((enum stmt)
			    stmt_group(e->ex_job->dj_stmt)));
			for (i = 0, j = e->ex_job; i < e->ex_n && j != NULL;
			    i++, j = j->dj_next)
				dbconn_job_sqlstate(j, res);
		}
		c->dc_failed = 1;
		break;
	case EXP_SCOPE:
	case EXP_KEYS:
		if (st != PGRES_TUPLES_OK) {
			if (st != PGRES_PIPELINE_ABORTED)
				dbconn_log_error(c, res, e->ex_role == EXP_SCOPE ?
				    "scope" : "keys_lock");
			c->dc_failed = 1;
		}
		break;
	default:
		if (st != PGRES_COMMAND_OK) {
			if (st != PGRES_PIPELINE_ABORTED)
				dbconn_log_error(c, res, "control");
			c->dc_failed = 1;
		}
		break;
	}
	PQclear(res);
}

/* Consume every result that has arrived, in order. */
static void
dbconn_process(struct dbconn *c)
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
				dbconn_fail(c, "pipeline out of step");
				return;
			}
			c->dc_hexp++;
			dbconn_segment_done(c);
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
		dbconn_result(c, e, res);
	}
}

/* Deliver notifications received on the listen connection. */
static void
dbconn_notifies(struct dbconn *c)
{
	PGnotify *n;

	while ((n = PQnotifies(c->dc_pg)) != NULL) {
		c->dc_notify(n->relname);
		PQfreemem(n);
	}
}

/* Readable (or writable) socket of a connected connection. */
static void
dbconn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dbconn *c = arg;

	(void)fd;
	if (what & EV_READ) {
		if (!PQconsumeInput(c->dc_pg)) {
			dbconn_fail(c, "connection lost");
			return;
		}
	}
	if (PQisnonblocking(c->dc_pg) && dbconn_flush(c) == -1) {
		dbconn_fail(c, "flush failed");
		return;
	}
	dbconn_process(c);
	if (c->dc_state == DBC_DOWN)
		return;
	if (c->dc_listener) {
		if (c->dc_state == DBC_LISTENING)
			dbconn_notifies(c);
		return;
	}
	if (PQstatus(c->dc_pg) == CONNECTION_BAD) {
		dbconn_fail(c, "connection lost");
		return;
	}
	if (c->dc_state == DBC_IDLE)
		db_kick();
}

/* Prepare every statement (pool) or LISTEN (listener) on a new session. */
static void
dbconn_connected(struct dbconn *c)
{
	char sql[128];
	int i;

	event_del(c->dc_timer);
	event_free(c->dc_rev);
	c->dc_sock = PQsocket(c->dc_pg);
	c->dc_rev = event_new(c->dc_base, c->dc_sock, EV_READ | EV_PERSIST,
	    dbconn_io_cb, c);
	c->dc_wev = event_new(c->dc_base, c->dc_sock, EV_WRITE, dbconn_io_cb,
	    c);
	if (c->dc_rev == NULL || c->dc_wev == NULL ||
	    PQsetnonblocking(c->dc_pg, 1) != 0 ||
	    !PQenterPipelineMode(c->dc_pg)) {
		dbconn_fail(c, "setup failed");
		return;
	}
	event_add(c->dc_rev, NULL);
	c->dc_nexp = c->dc_hexp = 0;
	c->dc_failed = 0;
	if (c->dc_listener) {
		for (i = 0; c->dc_channels[i] != NULL; i++) {
			snprintf(sql, sizeof(sql), "LISTEN %s",
			    c->dc_channels[i]);
			if (!PQsendQueryParams(c->dc_pg, sql, 0, NULL, NULL,
			    NULL, NULL, 0)) {
				dbconn_fail(c, "listen failed");
				return;
			}
			dbconn_expect(c, EXP_LISTEN, NULL);
		}
	} else {
		if (!PQsendPrepare(c->dc_pg, DB_SCOPE_STMT, DB_SCOPE_SQL, 1,
		    NULL) || !PQsendPrepare(c->dc_pg, DB_KEYS_STMT, DB_KEYS_SQL,
		    0, NULL)) {
			dbconn_fail(c, "prepare failed");
			return;
		}
		dbconn_expect(c, EXP_PREPARE, NULL);
		dbconn_expect(c, EXP_PREPARE, NULL);
		for (i = 0; i < STMT_COUNT; i++) {
			if (!PQsendPrepare(c->dc_pg, stmt_name(i), stmt_sql(i),
			    stmt_nparams(i), NULL)) {
				dbconn_fail(c, "prepare failed");
				return;
			}
			dbconn_expect(c, EXP_PREPARE, NULL);
		}
	}
	if (!PQpipelineSync(c->dc_pg)) {
		dbconn_fail(c, "sync failed");
		return;
	}
	dbconn_expect(c, EXP_SYNC, NULL);
	dbconn_enter_state(c, DBC_PREPARING);
	if (dbconn_flush(c) == -1)
		dbconn_fail(c, "flush failed");
}

/* Drive PQconnectPoll on socket readiness. */
static void
dbconn_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dbconn *c = arg;
	PostgresPollingStatusType st;
	short ev;

	(void)fd; (void)what;
	st = PQconnectPoll(c->dc_pg);
	switch (st) {
	case PGRES_POLLING_OK:
		dbconn_connected(c);
		return;
	case PGRES_POLLING_FAILED:
		dbconn_fail(c, "connect failed");
		return;
	default:
		break;
	}
	/* The socket can change between polls: always re-read it. */
	ev = st == PGRES_POLLING_READING ? EV_READ : EV_WRITE;
	event_free(c->dc_rev);
	c->dc_sock = PQsocket(c->dc_pg);
	if ((c->dc_rev = event_new(c->dc_base, c->dc_sock, ev,
	    dbconn_connect_cb, c)) == NULL || event_add(c->dc_rev, NULL) == -1)
		dbconn_fail(c, "event failed");
}

/* Timer: reconnect after a back-off, or give up a slow connect. */
static void
dbconn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dbconn *c = arg;

	(void)fd; (void)what;
	if (c->dc_state == DBC_CONNECTING)
		dbconn_fail(c, "connect timeout");
	else if (c->dc_state == DBC_DOWN)
		dbconn_connect(c);
}

/*
 * The session's application_name: the conninfo's (or "hotlined") followed
 * by which daemon and connection it is, <name>:<pid>:<pool index> or
 * <name>:<pid>:listen, so that pg_stat_activity tells them apart.
 */
static void
dbconn_app_name(const struct dbconn *c, char *out, size_t len)
{
	PQconninfoOption *opts, *o;
	const char *base = "hotlined";

	if ((opts = PQconninfoParse(c->dc_cf->cf_database, NULL)) != NULL)
		for (o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, "application_name") == 0 &&
			    o->val != NULL && *o->val != '\0')
				base = o->val;
	if (c->dc_listener)
		snprintf(out, len, "%.40s:%d:listen", base, (int)getpid());
	else
		snprintf(out, len, "%.40s:%d:%d", base, (int)getpid(), c->dc_idx);
	PQconninfoFree(opts);
}

/* Start connecting; on immediate failure schedule a retry. */
static void
dbconn_connect(struct dbconn *c)
{
	struct timeval tv = { dbhost_timeout(), 0 };
	char name[64];

	dbconn_app_name(c, name, sizeof(name));
	c->dc_pg = dbhost_connect(c->dc_host, name);
	dbconn_enter_state(c, DBC_CONNECTING);
	if (c->dc_pg == NULL || PQstatus(c->dc_pg) == CONNECTION_BAD) {
		dbconn_fail(c, "connect failed");
		return;
	}
	c->dc_sock = PQsocket(c->dc_pg);
	c->dc_rev = event_new(c->dc_base, c->dc_sock, EV_WRITE,
	    dbconn_connect_cb, c);
	if (c->dc_rev == NULL || event_add(c->dc_rev, NULL) == -1) {
		dbconn_fail(c, "event failed");
		return;
	}
	event_add(c->dc_timer, &tv);
}

/*
 * Close the session.  The jobs of a segment in flight learn what may have
 * happened: a write (a batchable job, batched or retried alone) whose Sync
 * was sent gets DB_UNKNOWN, since its COMMIT may have happened; a read, or
 * a write whose Sync never left, DB_UNAVAILABLE.
 */
static void
dbconn_down(struct dbconn *c, const char *reason)
{
	struct dbjob *j, *next, *jobs = c->dc_jobs;
	int was_busy = c->dc_state == DBC_BUSY, synced = c->dc_synced;

	log_warnx("event=db_down conn=%d host=%s reason=\"%s\"%s", c->dc_idx,
	    dbhost_name(c->dc_host), reason,
	    c->dc_listener ? " listener=1" : "");
	metrics_add(M_DB_CONN_FAILURES, reason, 1);
	if (c->dc_rev != NULL)
		event_free(c->dc_rev);
	if (c->dc_wev != NULL)
		event_free(c->dc_wev);
	c->dc_rev = c->dc_wev = NULL;
	PQfinish(c->dc_pg);
	c->dc_pg = NULL;
	dbconn_enter_state(c, DBC_DOWN);
	c->dc_jobs = NULL;
	c->dc_njobs = 0;
	if (was_busy) {
		for (j = jobs; j != NULL; j = next) {
			next = j->dj_next;
			j->dj_next = NULL;
			db_job_finish(j, synced && j->dj_batchable ?
			    DB_UNKNOWN : DB_UNAVAILABLE);
		}
	}
}

/*
 * Tear a connection down and reconnect: to the next host of the list at
 * once if connecting to this one failed and others are left to try, else
 * after a back-off.
 */
static void
dbconn_fail(struct dbconn *c, const char *reason)
{
	struct timeval tv = { 0, 0 };
	int connecting = c->dc_state == DBC_CONNECTING;

	dbconn_down(c, reason);
	if (!c->dc_listener)
		db_conn_lost();
	if (connecting && dbhost_count() > 1) {
		c->dc_host = (c->dc_host + 1) % dbhost_count();
		if (++c->dc_tried < dbhost_count()) {
			event_add(c->dc_timer, &tv);
			return;
		}
		c->dc_tried = 0;
	}
	tv.tv_sec = c->dc_retry_ms / 1000;
	tv.tv_usec = (c->dc_retry_ms % 1000) * 1000;
	event_add(c->dc_timer, &tv);
	c->dc_retry_ms *= 2;
	if (c->dc_retry_ms > DB_RECONNECT_MAX_MS)
		c->dc_retry_ms = DB_RECONNECT_MAX_MS;
}

/*
 * A connection that starts connecting at once: to the pool, or (channels
 * not NULL) the one that LISTENs and hands notify each notification.
 */
struct dbconn *
dbconn_new(struct event_base *base, const struct config *cf, int idx,
    const char *const *channels, void (*notify)(const char *))
{
	struct dbconn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->dc_idx = idx;
	c->dc_base = base;
	c->dc_cf = cf;
	c->dc_listener = channels != NULL;
	c->dc_channels = channels;
	c->dc_notify = notify;
	c->dc_retry_ms = DB_RECONNECT_MIN_MS;
	/*
	 * Per job a scope and a statement, and the keys lock; or every
	 * prepare and the two of dbconn.c; and the Sync.
	 */
	c->dc_maxexp = (2 * cf->cf_batch_max > STMT_COUNT + 2 ?
	    2 * cf->cf_batch_max : STMT_COUNT + 2) + DB_MAX_CHANNELS + 4;
	if ((c->dc_exp = calloc((size_t)c->dc_maxexp,
	    sizeof(*c->dc_exp))) == NULL ||
	    (c->dc_timer = evtimer_new(base, dbconn_timer_cb, c)) == NULL) {
		free(c->dc_exp);
		free(c);
		return NULL;
	}
	dbconn_connect(c);
	return c;
}

/* Close a connection for good: a segment in flight fails, then it is freed. */
void
dbconn_close(struct dbconn *c)
{
	if (c == NULL)
		return;
	if (c->dc_state == DBC_BUSY)
		dbconn_down(c, "shutdown");
	if (c->dc_rev != NULL)
		event_free(c->dc_rev);
	if (c->dc_wev != NULL)
		event_free(c->dc_wev);
	event_free(c->dc_timer);
	PQfinish(c->dc_pg);
	free(c->dc_exp);
	free(c);
}
