/*
 * POSTs that change something.  One entry, mutate_start(), for every one:
 * headers and body checked and validated, the Idempotency-Key claimed in
 * this process, then the chain
 *
 *	seal	personal data sealed: a call, report or new case under a fresh
 *		data key, at once; anything new on an existing case (a note,
 *		a reason, a call on it, the child's corrected details, a
 *		report's supplement) under that case's data key, looked up
 *		first (case_key for an agency, work_key for an operator or a
 *		gateway)
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

/* What personal data a mutation's body carries, and under which key. */
enum seal {
	SEAL_NONE,
	SEAL_FRESH,		/* a call, report or new case: a fresh data key
				   (a call naming its case: that case's key) */
	SEAL_CASE_NOTE,		/* agency: text/reason under the case's key
				   (case_key, by number) */
	SEAL_ASSIGNMENT_NOTE,	/* agency: reason under the case's key
				   (case_key, by assignment) */
	SEAL_CENTRE_NOTE,	/* operator: text/reason under its centre's
				   case's key (work_key, by number) */
	SEAL_CHILD,		/* operator: the child's corrected details, the
				   same (with the child's name and birth date) */
	SEAL_SUPPLEMENT,	/* gateway: text under its report's case key
				   (work_key, by receipt) */
};

/*
 * A POST that changes something: the name its request hash is taken under,
 * its statement, how its body is checked (NULL: it takes none), what in it
 * is sealed and how (the kind of body, for SEAL_FRESH and SEAL_CHILD), and
 * whether its transaction writes across every table (a new case: the
 * "intake" scope).  A path parameter, when the route has one, is $4 and
 * the body follows it.
 */
struct mutation {
	const char		*mu_name;
	enum stmt		 mu_stmt;
	int			(*mu_validate)(struct json_object *, time_t,
				    struct api_error *);
	enum seal		 mu_seal;
	enum protect_kind	 mu_kind;
	int			 mu_intake;
};

const struct mutation mutate_calls = { "calls", STMT_INTAKE_CALL,
    validate_call, SEAL_FRESH, PROTECT_CALL, 1 };
const struct mutation mutate_reports = { "reports", STMT_INTAKE_REPORT,
    validate_report, SEAL_FRESH, PROTECT_REPORT, 1 };
const struct mutation mutate_case_open = { "cases", STMT_CASE_OPEN,
    validate_case_open, SEAL_FRESH, PROTECT_CASE, 1 };
const struct mutation mutate_ack = { "ack", STMT_ASSIGNMENT_ACK, NULL,
    SEAL_NONE, 0, 0 };
const struct mutation mutate_events = { "events", STMT_CASE_POST_EVENT,
    validate_event, SEAL_CASE_NOTE, 0, 0 };
const struct mutation mutate_transfer = { "transfer",
    STMT_ASSIGNMENT_TRANSFER, validate_transfer, SEAL_ASSIGNMENT_NOTE, 0,
    0 };
const struct mutation mutate_access = { "access",
    STMT_ACCESS_REQUEST_CREATE, validate_access_request, SEAL_NONE, 0, 0 };
const struct mutation mutate_approve = { "approve", STMT_ACCESS_APPROVE,
    NULL, SEAL_NONE, 0, 0 };
const struct mutation mutate_deny = { "deny", STMT_ACCESS_DENY, NULL,
    SEAL_NONE, 0, 0 };
const struct mutation mutate_notes = { "notes", STMT_CASE_NOTE,
    validate_note, SEAL_CENTRE_NOTE, 0, 0 };
const struct mutation mutate_risk = { "risk", STMT_CASE_RISK,
    validate_risk, SEAL_CENTRE_NOTE, 0, 0 };
const struct mutation mutate_categories = { "categories",
    STMT_CASE_CATEGORIES, validate_categories, SEAL_CENTRE_NOTE, 0, 0 };
const struct mutation mutate_child = { "child", STMT_CASE_CHILD,
    validate_child, SEAL_CHILD, PROTECT_CHILD, 0 };
const struct mutation mutate_links = { "links", STMT_CASE_LINK,
    validate_link, SEAL_NONE, 0, 0 };
const struct mutation mutate_supplements = { "supplements",
    STMT_REPORT_SUPPLEMENT, validate_supplement, SEAL_SUPPLEMENT, 0, 0 };

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
	if (j != NULL)
		api_scope(r, j, mu->mu_intake);
	/*
	 * A new data key is never sent after the request's deadline (DESIGN.md,
	 * "Master keys"): by then it has been answered.
	 */
	if (j != NULL && mu->mu_seal == SEAL_FRESH)
		j->dj_expires = r->rq_start + mutate_cf->cf_request_timeout;
	mctx_free(m);
	/* On failure the request is answered and freed, its slot with it. */
	api_submit(r, j, REQ_WAITING);
}

/* The 404 message of a mutation whose case (or its report, or the
 * assignment) the client does not have. */
static const char *
mutate_missing(enum seal seal)
{
	switch (seal) {
	case SEAL_ASSIGNMENT_NOTE:
		return "no such assignment";
	case SEAL_SUPPLEMENT:
		return "no such report";
	default:
		return "no such case";
	}
}

/*
 * Seal a mutation's body under the case's key (key: the JSON text that
 * case_key or work_key returned); 0 on success.  A note or reason is
 * sealed under its own note id (protect_note), a correction's reason too.
 */
static int
mutate_seal(struct mctx *m, const char *key)
{
	switch (m->mc_mu->mu_seal) {
	case SEAL_FRESH:
		return protect_submission(m->mc_body, m->mc_mu->mu_kind, key);
	case SEAL_CHILD:
		return protect_submission(m->mc_body, m->mc_mu->mu_kind,
		    key) == 0 && protect_note(m->mc_body, key) == 0 ? 0 : -1;
	default:
		return protect_note(m->mc_body, key);
	}
}

/* The case's wrapped data key came back: seal, then send. */
static void
mutate_key_done(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	struct mctx *m = arg;
	struct request *r = m->mc_req;
	const char *key = NULL;
	enum seal seal = m->mc_mu->mu_seal;
	/* A call names its case in the body: not there is 422, not 404. */
	int in_body = seal == SEAL_FRESH;

	r->rq_job = NULL;
	if (r->rq_state != REQ_ORPHANED && oc == DB_OK &&
	    PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
	    strstr((key = PQgetvalue(res, 0, 0)), "\"purged\"") == NULL &&
	    strstr(key, "\"ended\"") == NULL &&
	    mutate_seal(m, key) == 0) {
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
	else if (PQgetisnull(res, 0, 0) && in_body)
		api_fail(r, 422, "unknown_case", "case_number",
		    "no such case of this centre");
	else if (PQgetisnull(res, 0, 0))
		api_fail(r, 404, "not_found", NULL, mutate_missing(seal));
	else if (strstr(key, "\"purged\"") != NULL)
		api_fail(r, 409, "case_purged", in_body ? "case_number" : NULL,
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

/* A string member of a body, or NULL. */
static const char *
mutate_member(struct json_object *body, const char *name)
{
	struct json_object *v;

	if (body == NULL || !json_object_object_get_ex(body, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * Look up the data key of the case the mutation adds to, to seal under it;
 * the mutation follows.  An agency's key comes from case_key (by case
 * number or assignment), an operator's or gateway's from work_key (by case
 * number, of the path or a call's body, or by the report's receipt id).
 */
static void
mutate_key(struct mctx *m)
{
	struct request *r = m->mc_req;
	enum seal seal = m->mc_mu->mu_seal;
	const char *p[3] = { NULL, NULL, NULL };
	char client[24];
	struct dbjob *j;
	int i;

	switch (seal) {
	case SEAL_ASSIGNMENT_NOTE:
		p[1] = m->mc_target;
		break;
	case SEAL_SUPPLEMENT:
		p[1] = m->mc_target;
		break;
	case SEAL_FRESH:
		p[0] = mutate_member(m->mc_body, "case_number");
		break;
	case SEAL_CHILD:
		p[2] = "true";
		/* FALLTHROUGH */
	default:
		p[0] = m->mc_target;
		break;
	}
	snprintf(client, sizeof(client), "%lld", r->rq_client);
	j = db_job_new(seal == SEAL_CASE_NOTE || seal == SEAL_ASSIGNMENT_NOTE ?
	    STMT_CASE_KEY : STMT_WORK_KEY, 0, mutate_key_done, m);
	if (j != NULL && db_job_param(j, 0, client, strlen(client)) == -1) {
		db_job_free(j);
		j = NULL;
	}
	for (i = 0; j != NULL && i < 3; i++)
		if (p[i] != NULL && db_job_param(j, i + 1, p[i],
		    strlen(p[i])) == -1) {
			db_job_free(j);
			j = NULL;
		}
	if (j == NULL) {
		mctx_free(m);
		idem_release(r);
		api_unavailable(r, "the database is unavailable; retry later");
		return;
	}
	j->dj_nparams = stmt_nparams(j->dj_stmt);	/* unset: SQL NULL */
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
	if (protect_request_hash(mu->mu_name, target, data, len,
	    m->mc_hash) == -1) {
		log_errorx("event=seal_failed id=%s", r->rq_id);
		mctx_free(m);
		idem_release(r);
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	switch (mu->mu_seal) {
	case SEAL_FRESH:
		if (mutate_member(body, "case_number") != NULL)
			break;		/* a call on a case: its key */
		request_enter_state(r, REQ_SEALING);
		if (protect_submission(body, mu->mu_kind, NULL) == -1) {
			log_errorx("event=seal_failed id=%s", r->rq_id);
			mctx_free(m);
			idem_release(r);
			api_fail(r, 500, "internal", NULL, "internal error");
			return;
		}
		m->mc_sealed = 1;
		mutate_send(m);
		return;
	case SEAL_CASE_NOTE:
	case SEAL_ASSIGNMENT_NOTE:
	case SEAL_CENTRE_NOTE:
		if (mutate_has_note(body))
			break;
		/* FALLTHROUGH */
	case SEAL_NONE:
		mutate_send(m);
		return;
	default:
		break;
	}
	mutate_key(m);
}

/* Remember the configuration (the body limit, the request deadline). */
void
mutate_init(const struct config *cf)
{
	mutate_cf = cf;
}
