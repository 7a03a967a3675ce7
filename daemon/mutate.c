/*
 * POSTs that change something.  One entry, mutate_start(), for every one:
 * headers and body checked and validated, the Idempotency-Key claimed in
 * this process, then the chain
 *
 *	seal	personal data sealed (a call or report: under a fresh data
 *		key, at once; a note or reason: under its case's data key,
 *		looked up first with case_key)
 *	send	one idempotent transaction, batched with other submissions
 *	reply	the function's (status, response) once it has committed
 *
 * The request hash stored with the key is of the body as received.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "hotlined.h"

/* What personal data a mutation's body carries (sealed before SQL). */
enum seal {
	SEAL_NONE,
	SEAL_CALL,		/* a call: a fresh data key */
	SEAL_REPORT,		/* a report: a fresh data key */
	SEAL_CASE_NOTE,		/* text/reason under the case's key (by number) */
	SEAL_ASSIGNMENT_NOTE,	/* reason under the case's key (by assignment) */
};

/*
 * A POST that changes something: the name its request hash is taken under,
 * its statement, how its body is checked (NULL: it takes none) and what in
 * it is sealed.  A path parameter, when the route has one, is $4 and the
 * body follows it.
 */
struct mutation {
	const char	*mu_name;
	enum stmt	 mu_stmt;
	int		(*mu_validate)(struct json_object *, time_t,
			    struct api_error *);
	enum seal	 mu_seal;
};

const struct mutation mutate_calls = { "calls", STMT_INTAKE_CALL,
    validate_call, SEAL_CALL };
const struct mutation mutate_reports = { "reports", STMT_INTAKE_REPORT,
    validate_report, SEAL_REPORT };
const struct mutation mutate_ack = { "ack", STMT_ASSIGNMENT_ACK, NULL,
    SEAL_NONE };
const struct mutation mutate_events = { "events", STMT_CASE_POST_EVENT,
    validate_event, SEAL_CASE_NOTE };
const struct mutation mutate_transfer = { "transfer",
    STMT_ASSIGNMENT_TRANSFER, validate_transfer, SEAL_ASSIGNMENT_NOTE };
const struct mutation mutate_access = { "access",
    STMT_ACCESS_REQUEST_CREATE, validate_access_request, SEAL_NONE };
const struct mutation mutate_approve = { "approve", STMT_ACCESS_APPROVE,
    NULL, SEAL_NONE };
const struct mutation mutate_deny = { "deny", STMT_ACCESS_DENY, NULL,
    SEAL_NONE };

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
	int			 mc_has_target;
	char			 mc_target[64];
};

static const struct config	*mutate_cf;

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

/* A mutation's transaction reported back (after COMMIT). */
static void
mutate_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
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
		request_set_code(r, PQgetvalue(res, 0, 3));
	request_reply(r, status, body, replayed ? "Idempotent-Replayed" : NULL,
	    "true");
	PQclear(res);
	db_job_free(j);
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
			idem_release(r);
			api_fail(r, 500, "internal", NULL, "internal error");
			return;
		}
	}
	snprintf(client, sizeof(client), "%lld", r->rq_client);
	j = db_job_new(mu->mu_stmt, 1, mutate_done, r);
	if (j != NULL && (db_job_param(j, 0, client, strlen(client)) == -1 ||
	    db_job_param(j, 1, m->mc_key, strlen(m->mc_key)) == -1 ||
	    db_job_param(j, 2, m->mc_hash, strlen(m->mc_hash)) == -1 ||
	    (m->mc_has_target && db_job_param(j, p++, m->mc_target,
	    strlen(m->mc_target)) == -1) ||
	    (mu->mu_validate != NULL && db_job_param(j, p, m->mc_data,
	    m->mc_len) == -1))) {
		db_job_free(j);
		j = NULL;
	}
	if (j != NULL && (mu->mu_seal == SEAL_CALL ||
	    mu->mu_seal == SEAL_REPORT)) {
		api_scope(r, j, 1);
		/*
		 * A new data key is never sent after the request's deadline
		 * (DESIGN.md, "Master keys"): by then it has been answered.
		 */
		j->dj_expires = r->rq_start + mutate_cf->cf_request_timeout;
	} else if (j != NULL)
		api_scope(r, j, 0);
	mctx_free(m);
	/* On failure the request is answered and freed, its slot with it. */
	api_submit(r, j, REQ_WAITING);
}

/* The case's wrapped data key came back: seal the note, then send. */
static void
mutate_key_done(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	struct mctx *m = arg;
	struct request *r = m->mc_req;
	const char *key = NULL;
	enum seal seal = m->mc_mu->mu_seal;

	r->rq_job = NULL;
	if (r->rq_state != REQ_ORPHANED && oc == DB_OK &&
	    PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
	    strstr((key = PQgetvalue(res, 0, 0)), "\"purged\"") == NULL &&
	    strstr(key, "\"ended\"") == NULL &&
	    protect_note(m->mc_body, key) == 0) {
		m->mc_sealed = 1;
		PQclear(res);
		db_job_free(j);
		mutate_send(m);
		return;
	}
	/* Every other way ends the request: free what it holds first. */
	mctx_free(m);
	idem_release(r);
	if (r->rq_state == REQ_ORPHANED)
		request_free(r, "orphan");
	else if (oc != DB_OK || PQntuples(res) != 1)
		api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
	else if (PQgetisnull(res, 0, 0))
		api_fail(r, 404, "not_found", NULL, seal == SEAL_CASE_NOTE ?
		    "no such case" : "no such assignment");
	else if (strstr(key, "\"purged\"") != NULL)
		api_fail(r, 409, "case_purged", NULL,
		    "this case's personal data has been purged");
	else if (strstr(key, "\"ended\"") != NULL)
		api_fail(r, 409, "invalid_transition", NULL, seal ==
		    SEAL_CASE_NOTE ? "this agency's work on the case has ended "
		    "(transferred, closed or returned)" :
		    "this assignment no longer acts (transferred, closed or "
		    "returned)");
	else {
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
	if (j == NULL) {
		mctx_free(m);
		idem_release(r);
		api_unavailable(r, "the database is unavailable; retry later");
		return;
	}
	j->dj_nparams = 3;	/* unset ones are SQL NULL */
	if (api_submit(r, j, REQ_SEALING) == -1)
		mctx_free(m);	/* answered: the request and its slot are gone */
}

/* Whether a body has a free text to seal under the case's key. */
static int
mutate_has_note(struct json_object *body)
{
	struct json_object *v;

	return body != NULL && (json_object_object_get_ex(body, "text", &v) ||
	    json_object_object_get_ex(body, "reason", &v));
}

/* Return 0 if the Content-Type is JSON in UTF-8. */
static int
mutate_content_type(const char *ct)
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

/*
 * Read and check a mutation's body: NULL in *body when it has none (and
 * takes none).  -1 when the request was answered (400).
 */
static int
mutate_body(struct request *r, const struct mutation *mu, const char *data,
    size_t len, struct json_object **body)
{
	struct api_error err;

	*body = NULL;
	if (mu->mu_validate == NULL && len == 0)
		return 0;
	if ((*body = json_parse_strict(data, len, JSON_MAX_DEPTH,
	    &err)) == NULL) {
		if (err.status == 0)
			error_set(&err, 400, "not_an_object", NULL,
			    "the body must be a JSON object");
		request_reply_error(r, &err, NULL, NULL);
		return -1;
	}
	if (!json_object_is_type(*body, json_type_object))
		api_fail(r, 400, "not_an_object", NULL,
		    "the body must be a JSON object");
	else if (mu->mu_validate == NULL &&
	    json_object_object_length(*body) > 0)
		api_fail(r, 400, "unknown_field", NULL,
		    "this endpoint takes no fields");
	else if (mu->mu_validate != NULL &&
	    mu->mu_validate(*body, time(NULL), &err) == -1)
		request_reply_error(r, &err, NULL, NULL);
	else
		return 0;
	json_object_put(*body);
	*body = NULL;
	return -1;
}

/*
 * A POST that changes something (its route has let the client in): check
 * the headers and the body, claim the key, seal, then one idempotent
 * transaction.  target is the path parameter, or NULL.
 */
void
mutate_start(struct request *r, struct evhttp_request *req,
    const struct mutation *mu, const char *target)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	struct json_object *body;
	struct mctx *m;
	char slot[IDEMPOTENCY_KEY_MAX + 32];
	const char *key, *data;
	size_t len;

	len = evbuffer_get_length(buf);
	if ((mu->mu_validate != NULL || len > 0) && mutate_content_type(
	    evhttp_find_header(h, "Content-Type")) == -1) {
		api_fail(r, 415, "unsupported_media_type", NULL,
		    "Content-Type must be application/json");
		return;
	}
	if (len > (size_t)mutate_cf->cf_max_body) {
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
	if (mutate_body(r, mu, data, len, &body) == -1)
		return;
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
	m->mc_has_target = target != NULL;
	snprintf(m->mc_target, sizeof(m->mc_target), "%s", target ? target :
	    "");
	snprintf(slot, sizeof(slot), "%lld:%s", r->rq_client, key);
	if (idem_claim(r, slot) == -1) {
		mctx_free(m);
		api_fail(r, 409, "idempotency_in_flight", NULL,
		    "a request with this Idempotency-Key is still being "
		    "processed");
		return;
	}
	/* The hash is of the body as received, before sealing. */
	m->mc_sealed = mu->mu_seal == SEAL_CALL || mu->mu_seal == SEAL_REPORT;
	if (m->mc_sealed)
		request_enter_state(r, REQ_SEALING);
	if (protect_request_hash(mu->mu_name, target, data, len,
	    m->mc_hash) == -1 || (m->mc_sealed &&
	    protect_submission(body, mu->mu_seal == SEAL_REPORT) == -1)) {
		log_errorx("event=seal_failed id=%s", r->rq_id);
		mctx_free(m);
		idem_release(r);
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	if ((mu->mu_seal == SEAL_CASE_NOTE ||
	    mu->mu_seal == SEAL_ASSIGNMENT_NOTE) && mutate_has_note(body))
		mutate_key(m);
	else
		mutate_send(m);
}

/* Remember the configuration (the body limit, the request deadline). */
void
mutate_init(const struct config *cf)
{
	mutate_cf = cf;
}
