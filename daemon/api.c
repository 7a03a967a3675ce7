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
#include <openssl/evp.h>

#include "hotlined.h"

#define ROUTE_CASES	"/v1/cases/"
#define CASE_NUMBER_MAX	32

/* The statements every database connection prepares. */
const struct db_stmt api_stmts[] = {
	{ "intake_call", "select status, response::text, replayed "
	    "from hotline.intake_call($1::bigint, $2::text, $3::bytea, "
	    "$4::jsonb)", 4 },
	{ "intake_report", "select status, response::text, replayed "
	    "from hotline.intake_report($1::bigint, $2::text, $3::bytea, "
	    "$4::jsonb)", 4 },
	{ "case_view", "select hotline.case_view($1::bigint, $2::text)::text",
	    2 },
	{ "client_list", "select id, name, role, agency_id, cert_sha256, "
	    "revoked from hotline.client_list()", 0 },
	{ "ping", "select 1", 0 },
	{ "idem_expire", "select hotline.idempotency_expire($1::interval)", 1 },
};
const int api_nstmts = sizeof(api_stmts) / sizeof(api_stmts[0]);

enum intake_kind {
	INTAKE_CALL,
	INTAKE_REPORT,
};

/* An idempotency key being processed by this daemon. */
struct inflight {
	struct inflight	*if_next;
	char		*if_key;
};

static const struct config	*api_cf;
static struct inflight		*api_inflight[INFLIGHT_BUCKETS];
static struct event		*api_expire_ev;

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

/* Called as a request is freed. */
void
api_request_gone(struct request *r)
{
	inflight_release(r);
}

/* Answer with an error built from its parts. */
static void
api_fail(struct request *r, int status, const char *code, const char *field,
    const char *message)
{
	struct api_error err;

	api_error_set(&err, status, code, field, "%s", message);
	request_reply_error(r, &err);
}

/* Answer 503: the database cannot take the request now. */
static void
api_unavailable(struct request *r, const char *message)
{
	api_fail(r, 503, "unavailable", NULL, message);
}

/* Submit a job for a request; answers 503 itself on failure. */
static int
api_submit(struct request *r, struct dbjob *j)
{
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
api_job_begin(struct request *r, struct dbjob *j, enum db_outcome oc)
{
	r->rq_job = NULL;
	inflight_release(r);
	if (r->rq_state == REQ_HANDLING)
		return 0;
	log_info("event=late_result id=%s outcome=%d", r->rq_id, (int)oc);
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

/* SHA-256 of endpoint and body, as a bytea literal "\x...". */
static int
api_request_hash(const char *endpoint, const char *body, size_t len,
    char out[2 + 64 + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *ctx;
	int ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, endpoint, strlen(endpoint)) == 1 &&
	    EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
	    EVP_DigestUpdate(ctx, body, len) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < 32; i++) {
		out[2 + 2 * i] = hex[md[i] >> 4];
		out[3 + 2 * i] = hex[md[i] & 0xf];
	}
	out[66] = '\0';
	return 0;
}

/* Pull the error code out of an error body for the log line. */
static const char *
api_error_code_of(const char *body)
{
	static const char *const codes[] = { "idempotency_in_flight",
	    "idempotency_key_reused", "unknown_region", "unknown_category",
	    "client_unknown", "client_revoked", "forbidden", "not_found" };
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strstr(body, codes[i]) != NULL)
			return codes[i];
	return "error";
}

/* An intake transaction reported back (after COMMIT). */
static void
api_intake_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;
	const char *body;
	int status, replayed;

	if (api_job_begin(r, j, oc) == -1)
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

/* POST /v1/calls and /v1/reports: validate, then one transaction. */
static void
api_intake(struct request *r, struct evhttp_request *req,
    enum intake_kind kind)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	const char *endpoint = kind == INTAKE_CALL ? "calls" : "reports";
	enum role need = kind == INTAKE_CALL ? ROLE_OPERATOR : ROLE_GATEWAY;
	struct json_object *body;
	struct api_error err;
	struct dbjob *j;
	char hash[67], client[24], slot[IDEMPOTENCY_KEY_MAX + 32];
	const char *key, *data;
	size_t len;
	int rc;

	if (r->rq_ident.id_role != need) {
		api_fail(r, 403, "forbidden", NULL,
		    "this client's role may not use this endpoint");
		return;
	}
	if (api_json_content_type(evhttp_find_header(h, "Content-Type")) ==
	    -1) {
		api_fail(r, 415, "unsupported_media_type", NULL,
		    "Content-Type must be application/json");
		return;
	}
	len = evbuffer_get_length(buf);
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
	data = (const char *)evbuffer_pullup(buf, -1);
	if (data == NULL)
		data = "";
	if ((body = json_parse_strict(data, len, JSON_MAX_DEPTH, &err)) ==
	    NULL) {
		if (err.status == 0)
			api_error_set(&err, 400, "not_an_object", NULL,
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
	rc = kind == INTAKE_CALL ? validate_call(body, time(NULL), &err) :
	    validate_report(body, time(NULL), &err);
	json_object_put(body);
	if (rc == -1) {
		request_reply_error(r, &err);
		return;
	}
	snprintf(client, sizeof(client), "%lld", r->rq_client);
	snprintf(slot, sizeof(slot), "%s:%s", client, key);
	if (inflight_claim(r, slot) == -1) {
		api_fail(r, 409, "idempotency_in_flight", NULL,
		    "a request with this Idempotency-Key is still being "
		    "processed");
		return;
	}
	if (api_request_hash(endpoint, data, len, hash) == -1) {
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	j = db_job_new(kind == INTAKE_CALL ? "intake_call" : "intake_report",
	    1, api_intake_done, r);
	if (j != NULL && (db_job_param(j, 0, client, strlen(client)) == -1 ||
	    db_job_param(j, 1, key, strlen(key)) == -1 ||
	    db_job_param(j, 2, hash, strlen(hash)) == -1 ||
	    db_job_param(j, 3, data, len) == -1)) {
		db_job_free(j);
		j = NULL;
	}
	api_submit(r, j);
}

/* The case view came back. */
static void
api_case_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;

	if (api_job_begin(r, j, oc) == -1)
		return;
	if (oc != DB_OK || PQntuples(res) != 1) {
		PQclear(res);
		db_job_free(j);
		api_job_failed(r, oc == DB_OK ? DB_ERROR : oc);
		return;
	}
	if (PQgetisnull(res, 0, 0))
		api_fail(r, 404, "not_found", NULL, "no such case");
	else
		request_reply(r, 200, PQgetvalue(res, 0, 0), NULL, NULL);
	PQclear(res);
	db_job_free(j);
}

/* GET /v1/cases/{case_number}: what this client may see of a case. */
static void
api_case(struct request *r, const char *number)
{
	struct dbjob *j;
	char client[24];

	/* A malformed number is simply a case that does not exist. */
	if (strlen(number) > CASE_NUMBER_MAX ||
	    validate_case_number(number) == -1) {
		api_fail(r, 404, "not_found", NULL, "no such case");
		return;
	}
	snprintf(client, sizeof(client), "%lld", r->rq_client);
	j = db_job_new("case_view", 0, api_case_done, r);
	if (j != NULL && (db_job_param(j, 0, client, strlen(client)) == -1 ||
	    db_job_param(j, 1, number, strlen(number)) == -1)) {
		db_job_free(j);
		j = NULL;
	}
	api_submit(r, j);
}

/* The readiness probe's round trip came back. */
static void
api_ready_done(struct dbjob *j, enum db_outcome oc, PGresult *res, void *arg)
{
	struct request *r = arg;

	if (api_job_begin(r, j, oc) == -1)
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
	api_submit(r, db_job_new("ping", 0, api_ready_done, r));
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
			api_fail(r, 405, "method_not_allowed", NULL,
			    "use GET");
		else
			request_reply(r, 200, "{\"status\":\"ok\"}", NULL,
			    NULL);
		return;
	}
	if (strcmp(path, "/readyz") == 0) {
		r->rq_route = "readyz";
		if (!get)
			api_fail(r, 405, "method_not_allowed", NULL,
			    "use GET");
		else
			api_ready(r);
		return;
	}
	if (strncmp(path, "/v1/", 4) != 0) {
		api_fail(r, 404, "not_found", NULL, "no such resource");
		return;
	}
	if (strcmp(path, "/v1/calls") == 0)
		r->rq_route = "calls";
	else if (strcmp(path, "/v1/reports") == 0)
		r->rq_route = "reports";
	else if (strncmp(path, ROUTE_CASES, sizeof(ROUTE_CASES) - 1) == 0)
		r->rq_route = "case";
	if (api_authenticate(r) == -1)
		return;
	if (strcmp(r->rq_route, "calls") == 0 ||
	    strcmp(r->rq_route, "reports") == 0) {
		if (cmd != EVHTTP_REQ_POST) {
			api_fail(r, 405, "method_not_allowed", NULL,
			    "use POST");
			return;
		}
		api_intake(r, req, r->rq_route[0] == 'c' ? INTAKE_CALL :
		    INTAKE_REPORT);
		return;
	}
	if (strcmp(r->rq_route, "case") == 0) {
		if (!get) {
			api_fail(r, 405, "method_not_allowed", NULL,
			    "use GET");
			return;
		}
		api_case(r, path + sizeof(ROUTE_CASES) - 1);
		return;
	}
	api_fail(r, 404, "not_found", NULL, "no such resource");
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
	if ((j = db_job_new("idem_expire", 0, api_expire_done, NULL)) !=
	    NULL) {
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
	if ((api_expire_ev = evtimer_new(base, api_expire_cb, NULL)) == NULL)
		return -1;
	evtimer_add(api_expire_ev, &tv);
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
	api_expire_ev = NULL;
	for (i = 0; i < INFLIGHT_BUCKETS; i++) {
		for (f = api_inflight[i]; f != NULL; f = next) {
			next = f->if_next;
			free(f->if_key);
			free(f);
		}
		api_inflight[i] = NULL;
	}
}
