/*
 * The request: one object per HTTP request the front end has read, from
 * then until it has been answered and no database job of its is out.  Its
 * state (enum req_state in hotlined.h) changes only through
 * request_enter_state(), which traces old -> new at debug level.  It is
 * answered exactly once (request_reply refuses a second reply and logs it
 * as a bug), with the one log line of the request, and freed by
 * request_free() only: at once when nothing is out, else when its job
 * reports back, so a late result is never written to a freed request.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/rand.h>

#include "hotlined.h"

static const struct config	*req_cf;
static unsigned long long	 req_seq, req_seed;
static struct request		*req_live;	/* every request not freed */

/* Name a request state for logs. */
static const char *
request_state_name(enum req_state s)
{
	switch (s) {
	case REQ_PARSING:	return "parsing";
	case REQ_SEALING:	return "sealing";
	case REQ_WAITING:	return "waiting";
	case REQ_PARKED:	return "parked";
	case REQ_REPLYING:	return "replying";
	case REQ_ORPHANED:	return "orphaned";
	}
	return "?";
}

/* Move a request to a new state; the only place rq_state is set. */
void
request_enter_state(struct request *r, enum req_state s)
{
	if (r->rq_state == s)
		return;
	log_debug("event=request_state id=%s from=%s to=%s", r->rq_id,
	    request_state_name(r->rq_state), request_state_name(s));
	r->rq_state = s;
}

/* Whether a request has been answered. */
int
request_answered(const struct request *r)
{
	return r->rq_state == REQ_REPLYING || r->rq_state == REQ_ORPHANED;
}

/* Name an HTTP method for logs. */
static const char *
request_method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET:	return "GET";
	case EVHTTP_REQ_POST:	return "POST";
	case EVHTTP_REQ_HEAD:	return "HEAD";
	case EVHTTP_REQ_PUT:	return "PUT";
	case EVHTTP_REQ_DELETE:	return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE:	return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH:	return "PATCH";
	}
	return "OTHER";
}

/* A request that evhttp has read on a connection; NULL without memory. */
struct request *
request_new(struct evhttp_request *req, struct conn *cn, SSL *ssl)
{
	struct request *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	snprintf(r->rq_id, sizeof(r->rq_id), "%016llx",
	    req_seed ^ (++req_seq * 0x9e3779b97f4a7c15ULL));
	r->rq_req = req;
	r->rq_conn = cn;
	r->rq_state = REQ_PARSING;
	r->rq_start = mono_now();
	r->rq_method = request_method_name(evhttp_request_get_command(req));
	r->rq_route = "-";
	r->rq_has_cert = tls_peer_fingerprint(ssl, r->rq_fpr) == 0;
	r->rq_close = server_draining();
	if ((r->rq_next = req_live) != NULL)
		req_live->rq_prev = r;
	req_live = r;
	return r;
}

/* The client's connection is gone: the reply will go nowhere. */
void
request_conn_gone(struct request *r)
{
	r->rq_req = NULL;
	r->rq_conn = NULL;
}

/* Short reason phrases for the statuses the API uses. */
static const char *
request_status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 304: return "Not Modified";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Status";
}

/*
 * Answer a request exactly once: its status, the headers given (name,
 * value pairs up to a NULL name), X-Request-Id and Strict-Transport-Security
 * (Retry-After on 503,
 * Connection: close when it must), len bytes of body and the trailer (or
 * NULL); then log its line.  The request is freed unless its database job
 * is still out: then it is orphaned until the job reports back.
 */
static void
request_send(struct request *r, int status, const char *const *headers,
    const void *body, size_t len, const char *trailer)
{
	struct evkeyvalq *h;
	struct evbuffer *out;
	struct conn *cn = r->rq_conn;
	char retry[16];
	double dur;

	if (request_answered(r)) {
		log_errorx("event=bug reason=\"second reply\" id=%s", r->rq_id);
		return;
	}
	request_enter_state(r, REQ_REPLYING);
	r->rq_status = status;
	if (r->rq_req != NULL) {
		h = evhttp_request_get_output_headers(r->rq_req);
		for (; headers[0] != NULL; headers += 2)
			evhttp_add_header(h, headers[0], headers[1]);
		evhttp_add_header(h, "X-Request-Id", r->rq_id);
		evhttp_add_header(h, "Strict-Transport-Security", HSTS_VALUE);
		if (status == 503) {
			snprintf(retry, sizeof(retry), "%d",
			    req_cf->cf_retry_after);
			evhttp_add_header(h, "Retry-After", retry);
		}
		if (r->rq_close || server_draining())
			evhttp_add_header(h, "Connection", "close");
		out = evhttp_request_get_output_buffer(r->rq_req);
		evbuffer_add(out, body, len);
		if (trailer != NULL)
			evbuffer_add(out, trailer, strlen(trailer));
		evhttp_send_reply(r->rq_req, status,
		    request_status_reason(status), NULL);
		r->rq_req = NULL;
	}
	dur = mono_now() - r->rq_start;
	log_info("event=request id=%s conn=%llx client=%lld client_name=%s "
	    "method=%s route=%s status=%d%s%s dur_ms=%.1f%s", r->rq_id,
	    cn ? cn->cn_id : 0ULL, r->rq_client,
	    r->rq_ident.id_name[0] != '\0' ? r->rq_ident.id_name : "-",
	    r->rq_method, r->rq_route, status, r->rq_code[0] ? " code=" : "",
	    r->rq_code, dur * 1000.0,
	    cn ? "" : " client_gone=1");
	metrics_request(r->rq_route, r->rq_method, status, dur);
	server_replied(cn);
	r->rq_conn = NULL;
	if (r->rq_job == NULL)
		request_free(r, "replied");
	else
		request_enter_state(r, REQ_ORPHANED);
}

/* Answer with a JSON body (and one extra header if extra_name is not
 * NULL), never to be stored. */
void
request_reply(struct request *r, int status, const char *body,
    const char *extra_name, const char *extra_value)
{
	const char *h[] = { "Content-Type", "application/json; charset=utf-8",
	    "Cache-Control", "no-store", "X-Content-Type-Options", "nosniff",
	    extra_name, extra_value, NULL };

	request_send(r, status, h, body, strlen(body), "\n");
}

/* Answer with len bytes of body and the headers given (name, value pairs
 * up to a NULL name), which must include its Content-Type. */
void
request_reply_bytes(struct request *r, int status,
    const char *const *headers, const void *body, size_t len)
{
	request_send(r, status, headers, body, len, NULL);
}

/* Note the machine-readable error code of the answer, for the log line:
 * a word of [a-z_] (anything else is logged as "error"). */
void
request_set_code(struct request *r, const char *code)
{
	size_t n = code != NULL ? strspn(code, "abcdefghijklmnopqrstuvwxyz_") : 0;

	if (n == 0 || code[n] != '\0' || n >= sizeof(r->rq_code))
		code = "error";
	snprintf(r->rq_code, sizeof(r->rq_code), "%s", code);
}

/* Answer a request with an error body (and one extra header, or NULL). */
void
request_reply_error(struct request *r, const struct api_error *err,
    const char *extra_name, const char *extra_value)
{
	struct json_object *o, *e;

	o = json_object_new_object();
	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(err->code));
	if (err->field[0] != '\0')
		json_object_object_add(e, "field",
		    json_object_new_string(err->field));
	json_object_object_add(e, "message",
	    json_object_new_string(err->message));
	json_object_object_add(o, "error", e);
	request_set_code(r, err->code);
	request_reply(r, err->status, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
	    extra_name, extra_value);
	json_object_put(o);
}

/*
 * Free an answered request with no job out, and everything that points at
 * it: its idempotency slot and its long-poll waiter.
 */
void
request_free(struct request *r, const char *reason)
{
	log_debug("event=request_free id=%s reason=\"%s\"", r->rq_id, reason);
	idem_release(r);
	queue_forget(r);
	if (r->rq_prev != NULL)
		r->rq_prev->rq_next = r->rq_next;
	else
		req_live = r->rq_next;
	if (r->rq_next != NULL)
		r->rq_next->rq_prev = r->rq_prev;
	free(r);
}

/*
 * Before the HTTP side is freed (with the evhttp requests it holds): answer
 * every request not answered yet, and forget the connections of the
 * others.  The database side is shut down first, so no job is out and
 * every request answered here is freed.
 */
void
request_shutdown(void)
{
	struct request *r, *next;

	for (r = req_live; r != NULL; r = next) {
		next = r->rq_next;
		if (!request_answered(r)) {
			r->rq_close = 1;
			api_unavailable(r, "shutting down");
		} else
			request_conn_gone(r);
	}
}

/* Remember the configuration and seed the request ids. */
int
request_init(const struct config *cf)
{
	req_cf = cf;
	if (RAND_bytes((unsigned char *)&req_seed, sizeof(req_seed)) != 1)
		return -1;
	return 0;
}
