/*
 * The API's common ground and its reads.  A request that route.c has
 * matched is authenticated here (client certificate -> identity), its
 * database job gets the row-level security scope of its client and is
 * submitted here, and the read endpoints turn their statement's result
 * into the reply.  Together with mutate.c, queue.c and caseload.c this is
 * the only place that knows both HTTP and SQL.
 */
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

static const struct config	*api_cf;
#define SUPERVISION_LIMIT_MAX	500	/* entries of a supervision list page */
#define QUERY_TEXT_MAX		64	/* bytes of a supervision list's text,
					   NUL too */

/* Answer with an error built from its parts. */
void
api_fail(struct request *r, int status, const char *code, const char *field,
    const char *message)
{
	struct api_error err;

	error_set(&err, status, code, field, "%s", message);
	request_reply_error(r, &err, NULL, NULL);
}

/* Answer 503: the database cannot take the request now. */
void
api_unavailable(struct request *r, const char *message)
{
	api_fail(r, 503, "unavailable", NULL, message);
}

/*
 * The row-level security scope of a request's transaction: what its
 * client may see (sql/005_protection.sql, 014_centres.sql): an operator
 * its centre's cases and calls, a gateway what it filed.  A submission by
 * an operator or gateway writes across tables ("intake").  An operator
 * without a centre sees nothing; a statistician sees no case row at all
 * (statistics read their own tables, sql/021_stats.sql).
 */
void
api_scope(struct request *r, struct dbjob *j, int intake)
{
	const struct ident *id = &r->rq_ident;
	char s[sizeof(j->dj_scope)];

	switch (id->id_role) {
	case ROLE_ADMIN:
		snprintf(s, sizeof(s), "admin");
		break;
	case ROLE_AGENCY:
		snprintf(s, sizeof(s), "agency:%lld", id->id_agency);
		break;
	case ROLE_OPERATOR:
		if (intake)
			snprintf(s, sizeof(s), "intake");
		else if (id->id_centre[0] != '\0')
			snprintf(s, sizeof(s), "centre:%s", id->id_centre);
		else
			s[0] = '\0';
		break;
	case ROLE_GATEWAY:
		if (intake)
			snprintf(s, sizeof(s), "intake");
		else
			snprintf(s, sizeof(s), "client:%lld", id->id_client);
		break;
	default:
		s[0] = '\0';	/* no rows */
		break;
	}
	db_job_scope(j, s);
}

/*
 * Submit a request's job (NULL: it could not be made) and move the
 * request to state st while the job is out.  -1 when the request was
 * answered instead (500 or 503); on 0 the job's callback owns the request.
 */
int
api_submit(struct request *r, struct dbjob *j, enum req_state st)
{
	if (j == NULL) {
		api_fail(r, 500, "internal", NULL, "internal error");
		return -1;
	}
	if (j->dj_scope[0] == '\0')
		api_scope(r, j, 0);
	r->rq_job = j;
	request_enter_state(r, st);
	if (db_submit(j) == -1) {
		r->rq_job = NULL;
		db_job_free(j);
		api_unavailable(r, "the database is unavailable; retry later");
		return -1;
	}
	return 0;
}

/*
 * Common start of a job callback: detach the job from the request.
 * Returns -1 (request freed) if the client was already answered.
 */
int
api_job_begin(struct request *r, struct dbjob *j, enum db_outcome oc,
    PGresult *res)
{
	r->rq_job = NULL;
	idem_release(r);
	if (r->rq_state != REQ_ORPHANED)
		return 0;
	log_info("event=late_result id=%s outcome=%d", r->rq_id, (int)oc);
	PQclear(res);
	db_job_free(j);
	request_free(r, "late result");
	return -1;
}

/*
 * Answer 503 outcome_unknown: a change may or may not have been committed.
 * Only a retry with the same Idempotency-Key is safe (it replays or stores
 * the submission once); a new key could store it twice.
 */
void
api_outcome_unknown(struct request *r)
{
	api_fail(r, 503, "outcome_unknown", NULL, "the outcome is unknown; "
	    "retry with the same Idempotency-Key");
}

/* Answer a job that did not return a row. */
void
api_job_failed(struct request *r, enum db_outcome oc)
{
	switch (oc) {
	case DB_UNKNOWN:
		api_outcome_unknown(r);
		break;
	case DB_UNAVAILABLE:
		api_unavailable(r, "the database is unavailable; retry later");
		break;
	default:
		log_errorx("event=db_job_failed id=%s", r->rq_id);
		api_fail(r, 500, "internal", NULL, "internal error");
		break;
	}
}

/*
 * Check that a job came back with one row, whose column col is not NULL
 * (col < 0: whatever it holds); otherwise answer the failure, free the
 * job and return -1.
 */
int
api_job_row(struct request *r, struct dbjob *j, enum db_outcome oc,
    PGresult *res, int col)
{
	if (oc == DB_OK && PQntuples(res) == 1 &&
	    (col < 0 || !PQgetisnull(res, 0, col)))
		return 0;
	PQclear(res);
	db_job_free(j);
	api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
	return -1;
}

/*
 * Check the client certificate and its identity; 0 if allowed in.  A
 * client refused for who it is gets its answer and the connection closed:
 * it has no business keeping one open.
 */
int
api_authenticate(struct request *r)
{
	const struct ident *id;

	if (!r->rq_has_cert) {
		r->rq_close = 1;
		api_fail(r, 401, "certificate_required", NULL,
		    "a client certificate is required");
		return -1;
	}
	if (!ident_ready()) {
		api_unavailable(r, "client identities are not loaded yet");
		return -1;
	}
	if ((id = ident_lookup(r->rq_fpr)) == NULL) {
		r->rq_close = 1;
		api_fail(r, 403, "client_unknown", NULL,
		    "this certificate is not registered");
		return -1;
	}
	r->rq_ident = *id;
	r->rq_client = id->id_client;
	if (id->id_revoked) {
		r->rq_close = 1;
		api_fail(r, 403, "client_revoked", NULL,
		    "this certificate has been revoked");
		return -1;
	}
	return 0;
}

/* A read that returns (status, response, code) came back. */
void
api_read_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;

	if (api_job_begin(r, j, oc, res) == -1 ||
	    api_job_row(r, j, oc, res, 1) == -1)
		return;
	if (atoi(PQgetvalue(res, 0, 0)) >= 400)
		request_set_code(r, PQgetvalue(res, 0, 2));
	request_reply(r, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 1),
	    NULL, NULL);
	PQclear(res);
	db_job_free(j);
}

/*
 * A case view, or a reporter's status (its feedback texts), came back:
 * open its sealed values, then answer.
 */
static void
api_case_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;
	char *view;

	if (api_job_begin(r, j, oc, res) == -1 ||
	    api_job_row(r, j, oc, res, -1) == -1)
		return;
	if (PQgetisnull(res, 0, 0))
		api_fail(r, 404, "not_found", NULL, j->dj_stmt ==
		    STMT_REPORT_STATUS ? "no such report" : "no such case");
	else if ((view = protect_view(PQgetvalue(res, 0, 0))) == NULL) {
		log_errorx("event=view_failed id=%s", r->rq_id);
		api_fail(r, 500, "internal", NULL, "internal error");
	} else {
		request_reply(r, 200, view, NULL, NULL);
		free(view);
	}
	PQclear(res);
	db_job_free(j);
}

/*
 * Submit a read for the request: $1 the client id, then n text parameters
 * (a NULL one is SQL NULL).
 */
void
api_read(struct request *r, enum stmt stmt, db_done_cb done,
    const char *const *ps, int n)
{
	char client[24];
	struct dbjob *j;
	int i;

	snprintf(client, sizeof(client), "%lld", r->rq_client);
	if ((j = db_job_new(stmt, 0, done, r)) != NULL &&
	    db_job_param(j, 0, client, strlen(client)) == -1) {
		db_job_free(j);
		j = NULL;
	}
	for (i = 0; j != NULL && i < n; i++) {
		if (i + 1 >= DB_MAX_PARAMS) {
			db_job_free(j);
			j = NULL;
		} else if (ps[i] == NULL)
			j->dj_nparams = i + 2;	/* SQL NULL */
		else if (db_job_param(j, i + 1, ps[i], strlen(ps[i])) == -1) {
			db_job_free(j);
			j = NULL;
		}
	}
	api_submit(r, j, REQ_WAITING);
}

/* GET /healthz: the process runs. */
void
api_health(struct request *r, struct evhttp_request *req, const char *id)
{
	(void)req; (void)id;
	request_reply(r, 200, "{\"status\":\"ok\"}", NULL, NULL);
}

/* One part of /readyz: its name, its state, seconds since it last worked. */
struct ready_part {
	const char	*rp_name;
	const char	*rp_state;	/* "ok", or what is wrong */
	double		 rp_age;	/* -1: never */
};

/*
 * GET /readyz: ready when a pool connection is up and no database work has
 * waited longer than liveness_timeout, the client identities are loaded
 * and were reloaded within liveness_timeout, and the escalation loop has
 * completed a pass within liveness_timeout.  Answered from what the daemon
 * knows already: no database round trip per call, so that a probe costs
 * nothing and a flood of probes cannot load the database.
 */
void
api_ready(struct request *r, struct evhttp_request *req, const char *id)
{
	struct ready_part parts[3], *p, *bad = NULL;
	struct json_object *o, *checks, *ages, *e;
	double now = mono_now(), limit = api_cf->cf_liveness_timeout, w, t;
	char msg[ERR_MESSAGE_MAX];
	size_t i, off = 0;

	(void)req; (void)id;
	if (server_draining()) {
		api_unavailable(r, "shutting down");
		return;
	}
	w = db_waiting_since();
	t = db_last_round_trip();
	parts[0] = (struct ready_part){ "database", !db_connected() ? "down" :
	    w > 0 && now - w > limit ? "stalled" : "ok", t > 0 ? now - t : -1 };
	t = ident_last_load();
	parts[1] = (struct ready_part){ "identities", !ident_ready() ?
	    "not_loaded" : now - t > limit ? "stale" : "ok", t > 0 ?
	    now - t : -1 };
	t = escalate_last_pass();
	parts[2] = (struct ready_part){ "escalation", now - t > limit ?
	    "stalled" : "ok", now - t };
	o = json_object_new_object();
	checks = json_object_new_object();
	ages = json_object_new_object();
	msg[0] = '\0';
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		p = &parts[i];
		json_object_object_add(checks, p->rp_name,
		    json_object_new_string(p->rp_state));
		json_object_object_add(ages, p->rp_name, p->rp_age < 0 ? NULL :
		    json_object_new_int64((int64_t)p->rp_age));
		if (strcmp(p->rp_state, "ok") == 0)
			continue;
		if (bad == NULL)
			bad = p;
		off += (size_t)snprintf(msg + off, off < sizeof(msg) ?
		    sizeof(msg) - off : 0, "%s%s %s", off ? ", " : "not ready: ",
		    p->rp_name, p->rp_state);
		if (off >= sizeof(msg))
			off = sizeof(msg) - 1;
	}
	json_object_object_add(o, "status",
	    json_object_new_string(bad == NULL ? "ready" : "not_ready"));
	json_object_object_add(o, "checks", checks);
	json_object_object_add(o, "seconds_since_ok", ages);
	if (bad != NULL) {
		e = json_object_new_object();
		json_object_object_add(e, "code", json_object_new_string(
		    "not_ready"));
		json_object_object_add(e, "field", json_object_new_string(
		    bad->rp_name));
		json_object_object_add(e, "message", json_object_new_string(msg));
		json_object_object_add(o, "error", e);
		request_set_code(r, "not_ready");
	}
	request_reply(r, bad == NULL ? 200 : 503,
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), NULL, NULL);
	json_object_put(o);
}

/* GET /v1/cases/{n}: the case as this client may see it. */
void
api_case(struct request *r, struct evhttp_request *req, const char *number)
{
	(void)req;
	api_read(r, STMT_CASE_VIEW, api_case_done, &number, 1);
}

/* GET /v1/cases/{n}/access-log: who read the case's personal data. */
void
api_access_log(struct request *r, struct evhttp_request *req,
    const char *number)
{
	(void)req;
	api_read(r, STMT_ACCESS_LOG_VIEW, api_read_done, &number, 1);
}

/* GET /v1/reports/{receipt}/status: what the reporter may know. */
void
api_report_status(struct request *r, struct evhttp_request *req,
    const char *receipt)
{
	(void)req;
	api_read(r, STMT_REPORT_STATUS, api_case_done, &receipt, 1);
}

/* Check a cursor of a supervision list: 1-18 digits, not starting 0. */
static int
api_cursor(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 18 && s[0] != '0' &&
	    strspn(s, "0123456789") == n ? 0 : -1;
}

/*
 * The query of the supervision lists, in the order of their statements'
 * parameters: the overdue list takes all of it, the records list the page
 * (SUPERVISION_PAGE_ARGS from the end).
 */
static const char *const supervision_states[] = { "open", "acknowledged",
    "accepted", "case_opened", "declined", "outside_jurisdiction",
    "transferred", "prosecution", "resolved", "closed", "returned", NULL };
static const char *const supervision_kinds[] = { "police", "procuratorate",
    "education", "civil_affairs", "health", "legal_aid", "coordination",
    NULL };
static const struct query_arg supervision_args[] = {
	{ .qa_name = "state", .qa_words = supervision_states,
	    .qa_rule = "is not an assignment state" },
	{ .qa_name = "kind", .qa_words = supervision_kinds,
	    .qa_rule = "is not an agency kind" },
	{ .qa_name = "since", .qa_check = validate_timestamp,
	    .qa_rule = "must be an RFC 3339 timestamp with an offset" },
	{ .qa_name = "cursor", .qa_check = api_cursor,
	    .qa_rule = "must be the next_cursor of a page" },
	{ .qa_name = "limit", .qa_min = 1, .qa_max = SUPERVISION_LIMIT_MAX,
	    .qa_rule = "must be between 1 and 500" },
};
#define SUPERVISION_ARGS	(sizeof(supervision_args) / \
				    sizeof(supervision_args[0]))
#define SUPERVISION_PAGE_ARGS	3	/* since, cursor, limit */

/*
 * Read a supervision list whose query is the last n of supervision_args:
 * each one given is its statement's parameter in turn (SQL NULL if not).
 */
static void
api_supervision_list(struct request *r, struct evhttp_request *req,
    enum stmt stmt, size_t n)
{
	struct query_arg q[SUPERVISION_ARGS];
	const char *ps[SUPERVISION_ARGS];
	char texts[SUPERVISION_ARGS][QUERY_TEXT_MAX];
	size_t i;

	memcpy(q, supervision_args + SUPERVISION_ARGS - n, n * sizeof(q[0]));
	for (i = 0; i < n; i++)
		if (q[i].qa_check != NULL) {
			q[i].qa_buf = texts[i];
			q[i].qa_buflen = sizeof(texts[i]);
		}
	if (route_query(r, req, q, n) == -1)
		return;
	for (i = 0; i < n; i++) {
		ps[i] = q[i].qa_words != NULL ? q[i].qa_word : q[i].qa_text;
		if (q[i].qa_words == NULL && q[i].qa_buf == NULL &&
		    q[i].qa_num >= 0) {
			snprintf(texts[i], sizeof(texts[i]), "%ld",
			    q[i].qa_num);
			ps[i] = texts[i];
		}
	}
	api_read(r, stmt, api_read_done, ps, (int)n);
}

/*
 * GET /v1/supervision/overdue?state=&kind=&since=&cursor=&limit=: the
 * overdue and escalated work of a procuratorate's region.
 */
void
api_supervision(struct request *r, struct evhttp_request *req,
    const char *id)
{
	(void)id;
	api_supervision_list(r, req, STMT_SUPERVISION_OVERDUE,
	    SUPERVISION_ARGS);
}

/* GET /v1/supervision/records?since=&cursor=&limit=: a procuratorate's
 * own supervision records. */
void
api_supervision_records(struct request *r, struct evhttp_request *req,
    const char *id)
{
	(void)id;
	api_supervision_list(r, req, STMT_SUPERVISION_RECORDS,
	    SUPERVISION_PAGE_ARGS);
}

/* GET /v1/access-requests?state=: an agency's (or, for an admin, every)
 * access request. */
void
api_access_list(struct request *r, struct evhttp_request *req,
    const char *id)
{
	static const char *const states[] = { "pending", "approved", "denied",
	    "expired", NULL };
	struct query_arg q[] = {
		{ .qa_name = "state", .qa_words = states,
		    .qa_rule = "must be pending, approved, denied or expired" },
	};

	(void)id;
	if (route_query(r, req, q, sizeof(q) / sizeof(q[0])) == -1)
		return;
	api_read(r, STMT_ACCESS_REQUEST_LIST, api_read_done, &q[0].qa_word, 1);
}

/* Check a statistics parameter: printable ASCII (the database checks the rest). */
static int
api_stats_text(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e)
			return -1;
	return 0;
}

/*
 * GET /v1/stats?from=&to=&region=&by=: the figures of a period.  The
 * parameters go to the database as given (printable ASCII), which checks
 * them for the API and hotlinectl alike.
 */
void
api_stats(struct request *r, struct evhttp_request *req, const char *id)
{
	char from[STATS_ARG_MAX], to[STATS_ARG_MAX], region[STATS_ARG_MAX],
	    by[STATS_ARG_MAX];
	struct query_arg q[] = {
		{ .qa_name = "from", .qa_check = api_stats_text,
		    .qa_buf = from, .qa_buflen = sizeof(from),
		    .qa_rule = "must be a date YYYY-MM-DD" },
		{ .qa_name = "to", .qa_check = api_stats_text,
		    .qa_buf = to, .qa_buflen = sizeof(to),
		    .qa_rule = "must be a date YYYY-MM-DD" },
		{ .qa_name = "region", .qa_check = api_stats_text,
		    .qa_buf = region, .qa_buflen = sizeof(region),
		    .qa_rule = "must be a region code of six digits" },
		{ .qa_name = "by", .qa_check = api_stats_text,
		    .qa_buf = by, .qa_buflen = sizeof(by),
		    .qa_rule = "must be dimensions separated by commas" },
	};
	const char *ps[4];
	size_t i;

	(void)id;
	if (route_query(r, req, q, sizeof(q) / sizeof(q[0])) == -1)
		return;
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		ps[i] = q[i].qa_text;
	api_read(r, STMT_STATS_VIEW, api_read_done, ps, 4);
}

/* The schema's version came back: answer it with the release. */
static void
api_version_done(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	struct request *r = arg;
	struct json_object *o;

	if (api_job_begin(r, j, oc, res) == -1 ||
	    api_job_row(r, j, oc, res, 0) == -1)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "release",
	    json_object_new_string(HOTLINED_VERSION));
	json_object_object_add(o, "schema",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	request_reply(r, 200, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), NULL,
	    NULL);
	json_object_put(o);
	PQclear(res);
	db_job_free(j);
}

/* GET /v1/version: this daemon's release and its database's schema. */
void
api_version(struct request *r, struct evhttp_request *req, const char *id)
{
	(void)req; (void)id;
	api_submit(r, db_job_new(STMT_SCHEMA_VERSION, 0, api_version_done, r),
	    REQ_WAITING);
}

/* Start the API's timers. */
int
api_init(struct event_base *base, const struct config *cf)
{
	api_cf = cf;
	mutate_init(cf);
	if (idem_init(base) == -1 || queue_init(base, cf) == -1 ||
	    stats_init(base) == -1)
		return -1;
	return 0;
}

/* Free the API's state. */
void
api_shutdown(void)
{
	idem_shutdown();
	queue_shutdown();
	stats_shutdown();
}
