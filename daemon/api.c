/*
 * The API: routes, authorization, validation and idempotency, and the SQL
 * each endpoint runs.  This is the only file that knows both HTTP and SQL.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "hotlined.h"

#define ROUTE_CASES	"/v1/cases/"
#define CASE_NUMBER_MAX	32

/* What personal data a mutation's body carries (sealed before SQL). */
enum seal {
	SEAL_NONE,
	SEAL_SUBMISSION,	/* a call or report: a fresh data key */
	SEAL_CASE_NOTE,		/* text/reason under the case's key (by number) */
	SEAL_ASSIGNMENT_NOTE,	/* reason under the case's key (by assignment) */
};

/*
 * A POST that changes something: its statement, who may call it (ROLE_NONE:
 * decided in SQL), how its body is checked, whether a path parameter goes
 * before the body, and what in it is sealed.  Every one is idempotent
 * under the client's Idempotency-Key.
 */
struct mutation {
	const char	*mu_name;	/* route name, also hashed */
	enum stmt	 mu_stmt;
	enum role	 mu_role;
	int		(*mu_validate)(struct json_object *, time_t,
			    struct api_error *);	/* NULL: no body */
	int		 mu_target;	/* path parameter is $4 */
	enum seal	 mu_seal;
};

static const struct mutation mu_call = { "calls", STMT_INTAKE_CALL,
    ROLE_OPERATOR, validate_call, 0, SEAL_SUBMISSION };
static const struct mutation mu_report = { "reports", STMT_INTAKE_REPORT,
    ROLE_GATEWAY, validate_report, 0, SEAL_SUBMISSION };
static const struct mutation mu_ack = { "ack", STMT_ASSIGNMENT_ACK,
    ROLE_AGENCY, NULL, 1, SEAL_NONE };
static const struct mutation mu_event = { "events", STMT_CASE_POST_EVENT,
    ROLE_AGENCY, validate_event, 1, SEAL_CASE_NOTE };
static const struct mutation mu_transfer = { "transfer",
    STMT_ASSIGNMENT_TRANSFER, ROLE_AGENCY, validate_transfer, 1,
    SEAL_ASSIGNMENT_NOTE };
static const struct mutation mu_access = { "access",
    STMT_ACCESS_REQUEST_CREATE, ROLE_AGENCY, validate_access_request, 1,
    SEAL_NONE };
static const struct mutation mu_approve = { "approve", STMT_ACCESS_APPROVE,
    ROLE_NONE, NULL, 1, SEAL_NONE };
static const struct mutation mu_deny = { "deny", STMT_ACCESS_DENY,
    ROLE_NONE, NULL, 1, SEAL_NONE };

/* A mutation between its validation and its transaction. */
struct mctx {
	struct request		*mc_req;
	const struct mutation	*mc_mu;
	struct json_object	*mc_body;	/* NULL: none */
	char			*mc_data;	/* the body to send, or NULL */
	int			 mc_sealed;	/* mc_body changed: send it instead */
	size_t			 mc_len;
	char			 mc_key[IDEMPOTENCY_KEY_MAX + 1];
	char			 mc_hash[2 + 2 * DIGEST_LEN + 1];
	char			 mc_target[64];
};

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

/* An idempotency key being processed by this daemon. */
struct inflight {
	struct inflight	*if_next;
	char		*if_key;
};

static const struct config	*api_cf;
static struct inflight		*api_inflight[INFLIGHT_BUCKETS];
static struct event		*api_expire_ev;
static struct event		*api_wait_ev;
static struct waiter		*api_waiters;

static void	waiter_remove(struct waiter *);

/* Hash a string for the in-flight table. */
static unsigned int
inflight_hash(const char *s)
{
	unsigned int h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % INFLIGHT_BUCKETS;
}

/* Claim an in-flight slot; -1 if the key is already being processed. */
static int
inflight_claim(struct request *r, const char *key)
{
	struct inflight *f, **b = &api_inflight[inflight_hash(key)];

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
static void
inflight_release(struct request *r)
{
	struct inflight *f, **pp;

	if (r->rq_inflight == NULL)
		return;
	for (pp = &api_inflight[inflight_hash(r->rq_inflight)];
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

/* Called as a request is freed: nothing may point at it any more. */
void
api_request_gone(struct request *r)
{
	struct waiter *w;

	inflight_release(r);
	for (w = api_waiters; w != NULL; w = w->wt_next) {
		if (w->wt_req == r) {
			waiter_remove(w);
			break;
		}
	}
}

/* Answer with an error built from its parts. */
static void
api_fail(struct request *r, int status, const char *code, const char *field,
    const char *message)
{
	struct api_error err;

	error_set(&err, status, code, field, "%s", message);
	request_reply_error(r, &err);
}

/* Answer 503: the database cannot take the request now. */
static void
api_unavailable(struct request *r, const char *message)
{
	api_fail(r, 503, "unavailable", NULL, message);
}

/*
 * The row-level security scope of a request's transaction: what its
 * client may see (sql/005_protection.sql).  A submission by an operator
 * or gateway writes across tables ("intake").
 */
static void
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

/* Submit a job for a request; answers 503 itself on failure. */
static int
api_submit(struct request *r, struct dbjob *j)
{
	if (j != NULL && j->dj_scope[0] == '\0')
		api_scope(r, j, 0);
	if (j == NULL) {
		api_fail(r, 500, "internal", NULL, "internal error");
		return -1;
	}
	if (db_submit(j) == -1) {
		db_job_free(j);
		api_unavailable(r, "the database is unavailable; retry later");
		return -1;
	}
	r->rq_job = j;
	return 0;
}

/*
 * Common start of a job callback: detach the job from the request.
 * Returns -1 (request finished) if the client was already answered.
 */
static int
api_job_begin(struct request *r, struct dbjob *j, enum db_outcome oc,
    PGresult *res)
{
	r->rq_job = NULL;
	inflight_release(r);
	if (r->rq_state == REQ_HANDLING)
		return 0;
	log_info("event=late_result id=%s outcome=%d", r->rq_id, (int)oc);
	PQclear(res);
	db_job_free(j);
	request_finish(r);
	return -1;
}

/* Answer a job that did not return a row. */
static void
api_job_failed(struct request *r, enum db_outcome oc)
{
	switch (oc) {
	case DB_UNKNOWN:
		api_unavailable(r, "the outcome is unknown; retry with the "
		    "same Idempotency-Key");
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

/* Check the client certificate and its identity; 0 if allowed in. */
static int
api_authenticate(struct request *r)
{
	const struct ident *id;

	if (!r->rq_has_cert) {
		api_fail(r, 401, "certificate_required", NULL,
		    "a client certificate is required");
		return -1;
	}
	if (!ident_ready()) {
		api_unavailable(r, "client identities are not loaded yet");
		return -1;
	}
	if ((id = ident_lookup(r->rq_fpr)) == NULL) {
		api_fail(r, 403, "client_unknown", NULL,
		    "this certificate is not registered");
		return -1;
	}
	r->rq_ident = *id;
	r->rq_client = id->id_client;
	if (id->id_revoked) {
		api_fail(r, 403, "client_revoked", NULL,
		    "this certificate has been revoked");
		return -1;
	}
	return 0;
}

/* Return 0 if the Content-Type is JSON in UTF-8. */
static int
api_json_content_type(const char *ct)
{
	static const char mt[] = "application/json";
	const char *p;

	if (ct == NULL || strncasecmp(ct, mt, sizeof(mt) - 1) != 0)
		return -1;
	p = ct + sizeof(mt) - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 0;
	if (*p++ != ';')
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return -1;
	p += 8;
	if (*p == '"')
		p++;
	if (strncasecmp(p, "utf-8", 5) != 0)
		return -1;
	p += 5;
	if (*p == '"')
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0' ? 0 : -1;
}

/* Pull the error code out of an error body for the log line. */
static const char *
api_error_code_of(const char *body)
{
	static const char *const codes[] = { "idempotency_in_flight",
	    "idempotency_key_reused", "unknown_region", "unknown_category",
	    "unknown_agency", "invalid_transition", "invalid_value",
	    "client_unknown", "client_revoked", "forbidden", "not_found",
	    "access_not_needed", "case_purged", "out_of_range" };
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strstr(body, codes[i]) != NULL)
			return codes[i];
	return "error";
}

/* A mutation's transaction reported back (after COMMIT). */
static void
api_mutate_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;
	const char *body;
	int status, replayed;

	if (api_job_begin(r, j, oc, res) == -1)
		return;
	if (oc != DB_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0) ||
	    PQgetisnull(res, 0, 1)) {
		if (oc == DB_OK) {
			log_errorx("event=bad_intake_result id=%s", r->rq_id);
			oc = DB_ERROR;
		}
		PQclear(res);
		db_job_free(j);
		api_job_failed(r, oc);
		return;
	}
	status = atoi(PQgetvalue(res, 0, 0));
	body = PQgetvalue(res, 0, 1);
	replayed = PQgetvalue(res, 0, 2)[0] == 't';
	if (status >= 400)
		r->rq_errcode = api_error_code_of(body);
	request_reply(r, status, body, replayed ? "Idempotent-Replayed" : NULL,
	    "true");
	PQclear(res);
	db_job_free(j);
}

/* Free a mutation's context. */
static void
mctx_free(struct mctx *m)
{
	if (m == NULL)
		return;
	json_object_put(m->mc_body);
	free(m->mc_data);
	free(m);
}

/* Send a mutation's one idempotent transaction; frees the context. */
static void
mutate_send(struct mctx *m)
{
	struct request *r = m->mc_req;
	const struct mutation *mu = m->mc_mu;
	struct dbjob *j;
	char client[24];
	const char *s;
	int p = 3;

	if (m->mc_sealed) {
		/* The sealed body replaces the one received. */
		s = json_object_to_json_string_ext(m->mc_body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		free(m->mc_data);
		m->mc_data = s ? strdup(s) : NULL;
		m->mc_len = m->mc_data ? strlen(m->mc_data) : 0;
		if (m->mc_data == NULL) {
			mctx_free(m);
			inflight_release(r);
			api_fail(r, 500, "internal", NULL, "internal error");
			return;
		}
	}
	snprintf(client, sizeof(client), "%lld", r->rq_client);
	j = db_job_new(mu->mu_stmt, 1, api_mutate_done, r);
	if (j != NULL && (db_job_param(j, 0, client, strlen(client)) == -1 ||
	    db_job_param(j, 1, m->mc_key, strlen(m->mc_key)) == -1 ||
	    db_job_param(j, 2, m->mc_hash, strlen(m->mc_hash)) == -1 ||
	    (mu->mu_target && db_job_param(j, p++, m->mc_target,
	    strlen(m->mc_target)) == -1) ||
	    (mu->mu_validate != NULL && db_job_param(j, p, m->mc_data,
	    m->mc_len) == -1))) {
		db_job_free(j);
		j = NULL;
	}
	if (j != NULL)
		api_scope(r, j, mu->mu_seal == SEAL_SUBMISSION);
	mctx_free(m);
	/* On failure the request is answered and freed, its slot with it. */
	api_submit(r, j);
}

/* The case's wrapped data key came back: seal the note, then send. */
static void
mutate_key_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct mctx *m = arg;
	struct request *r = m->mc_req;
	const char *key = NULL;
	enum seal seal = m->mc_mu->mu_seal;

	r->rq_job = NULL;
	if (r->rq_state == REQ_HANDLING && oc == DB_OK && PQntuples(res) == 1 &&
	    !PQgetisnull(res, 0, 0) && strstr((key = PQgetvalue(res, 0, 0)),
	    "\"purged\"") == NULL && protect_note(m->mc_body, key) == 0) {
		m->mc_sealed = 1;
		PQclear(res);
		db_job_free(j);
		mutate_send(m);
		return;
	}
	/* Every other way ends the request: free what it holds first. */
	mctx_free(m);
	inflight_release(r);
	if (r->rq_state != REQ_HANDLING)
		request_finish(r);
	else if (oc != DB_OK || PQntuples(res) != 1)
		api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
	else if (PQgetisnull(res, 0, 0)) {
		r->rq_errcode = "not_found";
		api_fail(r, 404, "not_found", NULL, seal == SEAL_CASE_NOTE ?
		    "no such case" : "no such assignment");
	} else if (strstr(key, "\"purged\"") != NULL) {
		r->rq_errcode = "case_purged";
		api_fail(r, 409, "case_purged", NULL,
		    "this case's personal data has been purged");
	} else {
		log_errorx("event=seal_failed id=%s", r->rq_id);
		api_fail(r, 500, "internal", NULL, "internal error");
	}
	PQclear(res);
	db_job_free(j);
}

/* Look up the case's data key to seal a note; the mutation follows. */
static void
mutate_key(struct mctx *m)
{
	struct request *r = m->mc_req;
	const char *number = NULL, *assignment = NULL;
	char client[24];
	struct dbjob *j;

	if (m->mc_mu->mu_seal == SEAL_CASE_NOTE)
		number = m->mc_target;
	else
		assignment = m->mc_target;
	snprintf(client, sizeof(client), "%lld", r->rq_client);
	j = db_job_new(STMT_CASE_KEY, 0, mutate_key_done, m);
	if (j != NULL && (db_job_param(j, 0, client, strlen(client)) == -1 ||
	    (number != NULL && db_job_param(j, 1, number, strlen(number)) ==
	    -1) || (assignment != NULL && db_job_param(j, 2, assignment,
	    strlen(assignment)) == -1))) {
		db_job_free(j);
		j = NULL;
	}
	if (j != NULL) {
		j->dj_nparams = 3;	/* unset ones are SQL NULL */
		api_scope(r, j, 0);
	}
	if (j == NULL || db_submit(j) == -1) {
		db_job_free(j);
		mctx_free(m);
		inflight_release(r);
		api_unavailable(r, "the database is unavailable; retry later");
		return;
	}
	r->rq_job = j;
}

/* Whether a body has a free text to seal under the case's key. */
static int
has_note(struct json_object *body)
{
	struct json_object *v;

	return body != NULL && (json_object_object_get_ex(body, "text", &v) ||
	    json_object_object_get_ex(body, "reason", &v));
}

/* A POST that changes something: validate, seal, then one idempotent
 * transaction. */
static void
api_mutate(struct request *r, struct evhttp_request *req,
    const struct mutation *mu, const char *target)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	struct json_object *body = NULL;
	struct api_error err;
	struct mctx *m;
	char slot[IDEMPOTENCY_KEY_MAX + 32];
	const char *key, *data;
	size_t len;

	if (mu->mu_role != ROLE_NONE && r->rq_ident.id_role != mu->mu_role) {
		api_fail(r, 403, "forbidden", NULL,
		    "this client's role may not use this endpoint");
		return;
	}
	len = evbuffer_get_length(buf);
	if ((mu->mu_validate != NULL || len > 0) && api_json_content_type(
	    evhttp_find_header(h, "Content-Type")) == -1) {
		api_fail(r, 415, "unsupported_media_type", NULL,
		    "Content-Type must be application/json");
		return;
	}
	if (len > (size_t)api_cf->cf_max_body) {
		r->rq_close = 1;
		api_fail(r, 413, "body_too_large", NULL,
		    "the request body is larger than the limit");
		return;
	}
	if ((key = evhttp_find_header(h, "Idempotency-Key")) == NULL) {
		api_fail(r, 400, "missing_idempotency_key", NULL,
		    "the Idempotency-Key header is required");
		return;
	}
	if (validate_idempotency_key(key) == -1) {
		api_fail(r, 400, "invalid_idempotency_key", NULL,
		    "Idempotency-Key must be 1-128 characters of "
		    "A-Z a-z 0-9 . _ : -");
		return;
	}
	data = len > 0 ? (const char *)evbuffer_pullup(buf, -1) : "";
	if (data == NULL)
		data = "";
	if (mu->mu_validate != NULL || len > 0) {
		if ((body = json_parse_strict(data, len, JSON_MAX_DEPTH,
		    &err)) == NULL) {
			if (err.status == 0)
				error_set(&err, 400, "not_an_object", NULL,
				    "the body must be a JSON object");
			request_reply_error(r, &err);
			return;
		}
		if (!json_object_is_type(body, json_type_object)) {
			json_object_put(body);
			api_fail(r, 400, "not_an_object", NULL,
			    "the body must be a JSON object");
			return;
		}
		if (mu->mu_validate == NULL &&
		    json_object_object_length(body) > 0) {
			json_object_put(body);
			api_fail(r, 400, "unknown_field", NULL,
			    "this endpoint takes no fields");
			return;
		}
		if (mu->mu_validate != NULL &&
		    mu->mu_validate(body, time(NULL), &err) == -1) {
			json_object_put(body);
			request_reply_error(r, &err);
			return;
		}
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->mc_data = malloc(len + 1)) == NULL) {
		free(m);
		json_object_put(body);
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	m->mc_req = r;
	m->mc_mu = mu;
	m->mc_body = body;
	memcpy(m->mc_data, data, len);
	m->mc_data[len] = '\0';
	m->mc_len = len;
	snprintf(m->mc_key, sizeof(m->mc_key), "%s", key);
	snprintf(m->mc_target, sizeof(m->mc_target), "%s", target ? target :
	    "");
	snprintf(slot, sizeof(slot), "%lld:%s", r->rq_client, key);
	if (inflight_claim(r, slot) == -1) {
		mctx_free(m);
		api_fail(r, 409, "idempotency_in_flight", NULL,
		    "a request with this Idempotency-Key is still being "
		    "processed");
		return;
	}
	/* The hash is of the body as received, before sealing. */
	m->mc_sealed = mu->mu_seal == SEAL_SUBMISSION;
	if (protect_request_hash(mu->mu_name, target, data, len,
	    m->mc_hash) == -1 || (m->mc_sealed &&
	    protect_submission(body, mu == &mu_report) == -1)) {
		log_errorx("event=seal_failed id=%s", r->rq_id);
		mctx_free(m);
		inflight_release(r);
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	if ((mu->mu_seal == SEAL_CASE_NOTE ||
	    mu->mu_seal == SEAL_ASSIGNMENT_NOTE) && has_note(body))
		mutate_key(m);
	else
		mutate_send(m);
}

/* The readiness probe's round trip came back. */
static void
api_ready_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;

	if (api_job_begin(r, j, oc, res) == -1)
		return;
	PQclear(res);
	db_job_free(j);
	if (oc != DB_OK)
		api_unavailable(r, "the database is unavailable");
	else if (!ident_ready())
		api_unavailable(r, "client identities are not loaded yet");
	else
		request_reply(r, 200, "{\"status\":\"ready\"}", NULL, NULL);
}

/* GET /readyz: ready when a database round trip succeeds. */
static void
api_ready(struct request *r)
{
	if (server_draining()) {
		api_unavailable(r, "shutting down");
		return;
	}
	api_submit(r, db_job_new(STMT_PING, 0, api_ready_done, r));
}

/* A read that returns (status, response) came back. */
static void
api_read_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;

	if (api_job_begin(r, j, oc, res) == -1)
		return;
	if (oc != DB_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
		PQclear(res);
		db_job_free(j);
		api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
		return;
	}
	if (atoi(PQgetvalue(res, 0, 0)) >= 400)
		r->rq_errcode = api_error_code_of(PQgetvalue(res, 0, 1));
	request_reply(r, atoi(PQgetvalue(res, 0, 0)), PQgetvalue(res, 0, 1),
	    NULL, NULL);
	PQclear(res);
	db_job_free(j);
}

/* A read that returns one JSON value or null (404) came back. */
static void
api_value_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;

	if (api_job_begin(r, j, oc, res) == -1)
		return;
	if (oc != DB_OK || PQntuples(res) != 1) {
		PQclear(res);
		db_job_free(j);
		api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
		return;
	}
	if (PQgetisnull(res, 0, 0))
		api_fail(r, 404, "not_found", NULL, "not found");
	else
		request_reply(r, 200, PQgetvalue(res, 0, 0), NULL, NULL);
	PQclear(res);
	db_job_free(j);
}

/* A case view came back: open its sealed values, then answer. */
static void
api_case_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;
	char *view;

	if (api_job_begin(r, j, oc, res) == -1)
		return;
	if (oc != DB_OK || PQntuples(res) != 1) {
		PQclear(res);
		db_job_free(j);
		api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
		return;
	}
	if (PQgetisnull(res, 0, 0))
		api_fail(r, 404, "not_found", NULL, "no such case");
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

/* Submit a read for the request with up to three text parameters. */
static void
api_read(struct request *r, enum stmt stmt, db_done_cb done,
    const char *p1, const char *p2, const char *p3)
{
	const char *ps[3] = { p1, p2, p3 };
	char client[24];
	struct dbjob *j;
	int i;

	snprintf(client, sizeof(client), "%lld", r->rq_client);
	if ((j = db_job_new(stmt, 0, done, r)) != NULL &&
	    db_job_param(j, 0, client, strlen(client)) == -1) {
		db_job_free(j);
		j = NULL;
	}
	for (i = 0; j != NULL && i < 3 && ps[i] != (const char *)-1; i++) {
		if (ps[i] == NULL)
			j->dj_nparams = i + 2;	/* SQL NULL */
		else if (db_job_param(j, i + 1, ps[i], strlen(ps[i])) == -1) {
			db_job_free(j);
			j = NULL;
		}
	}
	api_submit(r, j);
}

#define NOPARAM	((const char *)-1)

/* Remove a waiter from the list and free it. */
static void
waiter_remove(struct waiter *w)
{
	struct waiter **pp;

	for (pp = &api_waiters; *pp != NULL; pp = &(*pp)->wt_next) {
		if (*pp == w) {
			*pp = w->wt_next;
			break;
		}
	}
	free(w);
}

static void	queue_query(struct waiter *);

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
	if (r->rq_state != REQ_HANDLING) {
		PQclear(res);
		db_job_free(j);
		waiter_remove(w);
		request_finish(r);
		return;
	}
	if (oc != DB_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 1)) {
		PQclear(res);
		db_job_free(j);
		waiter_remove(w);
		api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
		return;
	}
	status = atoi(PQgetvalue(res, 0, 0));
	body = PQgetvalue(res, 0, 1);
	if (status == 200 && strstr(body, "\"assignments\": []") != NULL &&
	    mono_now() < w->wt_until && !server_draining()) {
		PQclear(res);
		db_job_free(j);
		if (w->wt_again) {
			w->wt_again = 0;
			queue_query(w);
		}
		return;		/* parked until a notification or the wait ends */
	}
	if (status >= 400)
		r->rq_errcode = api_error_code_of(body);
	waiter_remove(w);
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
	if ((j = db_job_new(STMT_QUEUE_LIST, 0, queue_done, w)) != NULL)
		api_scope(r, j, 0);
	if (j == NULL || db_job_param(j, 0, client, strlen(client)) == -1 ||
	    (w->wt_state[0] != '\0' && db_job_param(j, 1, w->wt_state,
	    strlen(w->wt_state)) == -1) ||
	    db_job_param(j, 2, w->wt_limit, strlen(w->wt_limit)) == -1 ||
	    db_submit(j) == -1) {
		db_job_free(j);
		waiter_remove(w);
		api_unavailable(r, "the database is unavailable; retry later");
		return;
	}
	w->wt_busy = 1;
	r->rq_job = j;
}

/* New assignments somewhere: every waiting queue looks again. */
void
api_queue_notify(void)
{
	struct waiter *w, *next;

	for (w = api_waiters; w != NULL; w = next) {
		next = w->wt_next;
		if (w->wt_busy)
			w->wt_again = 1;
		else
			queue_query(w);
	}
}

/* Answer waiters whose wait is over (or all of them when draining). */
static void
api_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, 200000 };
	struct waiter *w, *next;
	double now = mono_now();

	(void)fd; (void)what; (void)arg;
	for (w = api_waiters; w != NULL; w = next) {
		next = w->wt_next;
		if (!w->wt_busy && (now >= w->wt_until || server_draining())) {
			struct request *r = w->wt_req;

			waiter_remove(w);
			request_reply(r, 200, "{\"assignments\": []}", NULL,
			    NULL);
		}
	}
	evtimer_add(api_wait_ev, &tv);
}

/* Parse a small non-negative integer query parameter; -1 if malformed. */
static long
query_int(const char *v, long max)
{
	char *end;
	long n;

	if (v == NULL || *v < '0' || *v > '9' || strlen(v) > 6)
		return -1;
	n = strtol(v, &end, 10);
	return *end != '\0' || n > max ? -1 : n;
}

/* GET /v1/queue?state=&limit=&wait=: the agency's open work. */
static void
api_queue(struct request *r, struct evhttp_request *req)
{
	static const char *const states[] = { "open", "acknowledged",
	    "accepted", "case_opened", "declined", "transferred", "prosecution",
	    "resolved", "closed", NULL };
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = evhttp_uri_get_query(uri), *state, *v;
	struct evkeyvalq params;
	struct waiter *w;
	long limit = 50, wait = 0, maxwait;
	size_t i;

	if (r->rq_ident.id_role != ROLE_AGENCY) {
		api_fail(r, 403, "forbidden", NULL,
		    "only an agency has a queue");
		return;
	}
	maxwait = api_cf->cf_request_timeout > 7 ?
	    api_cf->cf_request_timeout - 5 : 2;
	memset(&params, 0, sizeof(params));
	params.tqh_first = NULL;
	params.tqh_last = &params.tqh_first;
	if (q != NULL && evhttp_parse_query_str(q, &params) == -1) {
		api_fail(r, 400, "bad_request", NULL, "malformed query");
		return;
	}
	state = evhttp_find_header(&params, "state");
	if (state != NULL) {
		for (i = 0; states[i] != NULL; i++)
			if (strcmp(state, states[i]) == 0)
				break;
		if (states[i] == NULL) {
			evhttp_clear_headers(&params);
			api_fail(r, 400, "invalid_value", "state",
			    "is not an assignment state");
			return;
		}
	}
	if ((v = evhttp_find_header(&params, "limit")) != NULL &&
	    ((limit = query_int(v, 500)) < 1)) {
		evhttp_clear_headers(&params);
		api_fail(r, 400, "out_of_range", "limit",
		    "must be between 1 and 500");
		return;
	}
	if ((v = evhttp_find_header(&params, "wait")) != NULL &&
	    ((wait = query_int(v, maxwait)) < 0)) {
		evhttp_clear_headers(&params);
		api_fail(r, 400, "out_of_range", "wait",
		    "must be a number of seconds the request deadline allows");
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		evhttp_clear_headers(&params);
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	w->wt_req = r;
	snprintf(w->wt_state, sizeof(w->wt_state), "%s", state ? state : "");
	snprintf(w->wt_limit, sizeof(w->wt_limit), "%ld", limit);
	w->wt_until = mono_now() + (double)wait;
	evhttp_clear_headers(&params);
	w->wt_next = api_waiters;
	api_waiters = w;
	queue_query(w);
}

/* Check a receipt id: R and 20 base-32 characters. */
static int
valid_receipt(const char *s)
{
	return strlen(s) == 21 && s[0] == 'R' &&
	    strspn(s + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == 20;
}

/* Check an assignment id (a UUID). */
static int
valid_uuid(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (strchr("0123456789abcdefABCDEF", s[i]) == NULL ||
		    s[i] == '\0')
			return 0;
	}
	return 1;
}

/* Split "/v1/a/b/c" into up to three segments; the count, or -1. */
static int
path_split(const char *path, char seg[3][64])
{
	const char *p = path + 4, *slash;
	int n = 0;
	size_t len;

	while (*p != '\0') {
		if (n == 3)
			return -1;
		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len >= 64)
			return -1;
		memcpy(seg[n], p, len);
		seg[n++][len] = '\0';
		p += len;
		if (*p == '/')
			p++;
		if (slash != NULL && *p == '\0')
			return -1;	/* trailing slash */
	}
	return n;
}

/* GET /v1/access-requests?state=: an agency's (or, for an admin, every)
 * access request. */
static void
api_access_list(struct request *r, struct evhttp_request *req)
{
	static const char *const states[] = { "pending", "approved", "denied",
	    "expired", NULL };
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = evhttp_uri_get_query(uri), *state;
	struct evkeyvalq params;
	char st[16] = "";
	size_t i;

	memset(&params, 0, sizeof(params));
	params.tqh_first = NULL;
	params.tqh_last = &params.tqh_first;
	if (q != NULL && evhttp_parse_query_str(q, &params) == -1) {
		api_fail(r, 400, "bad_request", NULL, "malformed query");
		return;
	}
	if ((state = evhttp_find_header(&params, "state")) != NULL) {
		for (i = 0; states[i] != NULL; i++)
			if (strcmp(state, states[i]) == 0)
				break;
		if (states[i] == NULL) {
			evhttp_clear_headers(&params);
			api_fail(r, 400, "invalid_value", "state",
			    "must be pending, approved, denied or expired");
			return;
		}
		snprintf(st, sizeof(st), "%s", states[i]);
	}
	evhttp_clear_headers(&params);
	api_read(r, STMT_ACCESS_REQUEST_LIST, api_read_done,
	    st[0] != '\0' ? st : NULL, NOPARAM, NOPARAM);
}

/* Answer 405 naming the method to use. */
static void
api_method(struct request *r, const char *use)
{
	api_fail(r, 405, "method_not_allowed", NULL, use);
}

/* Whether a path component is a well-formed case number. */
static int
valid_case(const char *s)
{
	return validate_case_number(s) == 0;
}

/*
 * The routes /v1/<collection>/<id>/<action>: the method, how the id is
 * checked (a malformed one is 404, as for one that does not exist), who
 * may call it when that is decided here, and the mutation or the read.
 */
struct subroute {
	const char		*sr_coll;
	const char		*sr_action;
	int			 sr_post;	/* else GET */
	int			(*sr_valid)(const char *);
	const char		*sr_missing;	/* 404 message */
	enum role		 sr_role;	/* ROLE_NONE: decided later */
	const struct mutation	*sr_mu;		/* a POST */
	enum stmt		 sr_stmt;	/* a GET: its read */
	db_done_cb		 sr_done;
};

static const struct subroute subroutes[] = {
	{ "cases", "events", 1, valid_case, "no such case", ROLE_NONE,
	    &mu_event, 0, NULL },
	{ "cases", "access-requests", 1, valid_case, "no such case",
	    ROLE_NONE, &mu_access, 0, NULL },
	{ "cases", "access-log", 0, valid_case, "no such case", ROLE_NONE,
	    NULL, STMT_ACCESS_LOG_VIEW, api_read_done },
	{ "assignments", "ack", 1, valid_uuid, "no such assignment",
	    ROLE_NONE, &mu_ack, 0, NULL },
	{ "assignments", "transfer", 1, valid_uuid, "no such assignment",
	    ROLE_NONE, &mu_transfer, 0, NULL },
	{ "access-requests", "approve", 1, valid_uuid,
	    "no such access request", ROLE_NONE, &mu_approve, 0, NULL },
	{ "access-requests", "deny", 1, valid_uuid, "no such access request",
	    ROLE_NONE, &mu_deny, 0, NULL },
	{ "reports", "status", 0, valid_receipt, "no such report",
	    ROLE_GATEWAY, NULL, STMT_REPORT_STATUS, api_value_done },
};

/* Route /v1/<collection>/<id>/<action>; 0 if no route matched. */
static int
api_subroute(struct request *r, struct evhttp_request *req, int post, int get,
    char seg[3][64])
{
	const struct subroute *sr;
	size_t i;

	for (i = 0; i < sizeof(subroutes) / sizeof(subroutes[0]); i++) {
		sr = &subroutes[i];
		if (strcmp(seg[0], sr->sr_coll) != 0 ||
		    strcmp(seg[2], sr->sr_action) != 0)
			continue;
		if (sr->sr_post ? !post : !get)
			api_method(r, sr->sr_post ? "use POST" : "use GET");
		else if (sr->sr_role != ROLE_NONE &&
		    r->rq_ident.id_role != sr->sr_role)
			api_fail(r, 403, "forbidden", NULL,
			    "this client's role may not use this endpoint");
		else if (!sr->sr_valid(seg[1]))
			api_fail(r, 404, "not_found", NULL, sr->sr_missing);
		else if (sr->sr_mu != NULL)
			api_mutate(r, req, sr->sr_mu, seg[1]);
		else
			api_read(r, sr->sr_stmt, sr->sr_done, seg[1], NOPARAM,
			    NOPARAM);
		return 1;
	}
	return 0;
}

/* Route an authenticated /v1/ request. */
static void
api_v1(struct request *r, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	int post = cmd == EVHTTP_REQ_POST;
	char seg[3][64];
	int n = path_split(path, seg);

	if (n == 1 && strcmp(seg[0], "calls") == 0) {
		post ? api_mutate(r, req, &mu_call, NULL) :
		    api_method(r, "use POST");
	} else if (n == 1 && strcmp(seg[0], "reports") == 0) {
		post ? api_mutate(r, req, &mu_report, NULL) :
		    api_method(r, "use POST");
	} else if (n == 1 && strcmp(seg[0], "queue") == 0) {
		get ? api_queue(r, req) : api_method(r, "use GET");
	} else if (n == 1 && strcmp(seg[0], "access-requests") == 0) {
		get ? api_access_list(r, req) : api_method(r, "use GET");
	} else if (n == 2 && strcmp(seg[0], "cases") == 0) {
		if (!get)
			api_method(r, "use GET");
		else if (!valid_case(seg[1]))
			api_fail(r, 404, "not_found", NULL, "no such case");
		else
			api_read(r, STMT_CASE_VIEW, api_case_done, seg[1],
			    NOPARAM, NOPARAM);
	} else if (n == 2 && strcmp(seg[0], "supervision") == 0 &&
	    strcmp(seg[1], "overdue") == 0) {
		if (!get)
			api_method(r, "use GET");
		else
			api_read(r, STMT_SUPERVISION_OVERDUE, api_read_done,
			    NOPARAM, NOPARAM, NOPARAM);
	} else if (n != 3 || !api_subroute(r, req, post, get, seg))
		api_fail(r, 404, "not_found", NULL, "no such resource");
}

/* Name the route of a path for logs (no identifiers from the path). */
static const char *
api_route_name(const char *path)
{
	static const struct { const char *prefix, *name; } routes[] = {
		{ "/v1/calls", "calls" }, { "/v1/reports/", "report_status" },
		{ "/v1/reports", "reports" }, { "/v1/queue", "queue" },
		{ "/v1/cases/", "case" }, { "/v1/assignments/", "assignment" },
		{ "/v1/supervision/", "supervision" },
		{ "/v1/access-requests", "access_requests" },
	};
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strncmp(path, routes[i].prefix,
		    strlen(routes[i].prefix)) == 0)
			return routes[i].name;
	return "other";
}

/* Route a request to its handler. */
void
api_dispatch(struct request *r, struct evhttp_request *req)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;

	if (path == NULL) {
		api_fail(r, 400, "bad_request", NULL, "malformed request target");
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		r->rq_route = "healthz";
		if (!get)
			api_method(r, "use GET");
		else
			request_reply(r, 200, "{\"status\":\"ok\"}", NULL,
			    NULL);
		return;
	}
	if (strcmp(path, "/readyz") == 0) {
		r->rq_route = "readyz";
		if (!get)
			api_method(r, "use GET");
		else
			api_ready(r);
		return;
	}
	if (strncmp(path, "/v1/", 4) != 0) {
		api_fail(r, 404, "not_found", NULL, "no such resource");
		return;
	}
	r->rq_route = api_route_name(path);
	if (api_authenticate(r) == -1)
		return;
	api_v1(r, req, path);
}

/* Old idempotency keys were expired (or not: it is retried later). */
static void
api_expire_done(struct dbjob *j, enum db_outcome oc, PGresult *res,
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
api_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { IDEM_EXPIRE_S, 0 };
	struct dbjob *j;

	(void)fd; (void)what; (void)arg;
	if ((j = db_job_new(STMT_IDEM_EXPIRE, 0, api_expire_done, NULL)) !=
	    NULL) {
		db_job_scope(j, "system");
		if (db_job_param(j, 0, IDEM_KEEP, strlen(IDEM_KEEP)) == -1 ||
		    db_submit(j) == -1)
			db_job_free(j);
	}
	evtimer_add(api_expire_ev, &tv);
}

/* Set up the API's timers. */
int
api_init(struct event_base *base, const struct config *cf)
{
	struct timeval tv = { 30, 0 };

	api_cf = cf;
	if ((api_expire_ev = evtimer_new(base, api_expire_cb, NULL)) == NULL ||
	    (api_wait_ev = evtimer_new(base, api_wait_cb, NULL)) == NULL)
		return -1;
	evtimer_add(api_expire_ev, &tv);
	tv.tv_sec = 0;
	tv.tv_usec = 200000;
	evtimer_add(api_wait_ev, &tv);
	return 0;
}

/* Free the API's state. */
void
api_shutdown(void)
{
	size_t i;
	struct inflight *f, *next;

	if (api_expire_ev != NULL)
		event_free(api_expire_ev);
	if (api_wait_ev != NULL)
		event_free(api_wait_ev);
	api_expire_ev = api_wait_ev = NULL;
	for (i = 0; i < INFLIGHT_BUCKETS; i++) {
		for (f = api_inflight[i]; f != NULL; f = next) {
			next = f->if_next;
			free(f->if_key);
			free(f);
		}
		api_inflight[i] = NULL;
	}
}
