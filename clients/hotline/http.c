/*
 * One HTTPS exchange with the daemon: libevent's HTTP client
 * (evhttp_connection_base_bufferevent_new) over a bufferevent_openssl.
 * The daemon's certificate is verified against the CA and the host name
 * (or address) of the URL, and the client certificate is sent.  Each try
 * uses a connection of its own, so a try never inherits a half-dead
 * connection from the one before, and ends within its deadline whatever
 * the daemon does.  An exchange that gets no answer says why, and whether
 * trying again could help (not when the certificates do not match).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hotline.h"

#define HTTP_HOST_MAX	256
#define HTTP_PREFIX_MAX	256
#define HTTPS_PORT	443

/* The daemon to talk to, and what every try shares. */
struct http {
	struct event_base	*hp_base;
	SSL_CTX			*hp_ctx;
	char			 hp_host[HTTP_HOST_MAX];	/* no brackets */
	char			 hp_hosthdr[HTTP_HOST_MAX + 8];	/* Host: */
	int			 hp_port;
	int			 hp_addr;	/* hp_host is an IP address */
	char			 hp_prefix[HTTP_PREFIX_MAX];	/* before /v1/ */
};

/* One try in progress. */
struct exchange {
	struct http_reply	*ex_reply;
	SSL			*ex_ssl;
	struct bufferevent	*ex_bev;
	int			 ex_finished;	/* the request callback ran */
	int			 ex_expired;	/* the deadline passed first */
	int			 ex_errno;	/* the socket's, at the error */
	int			 ex_error;	/* enum evhttp_request_error + 1 */
};

/* Log OpenSSL's queued errors after a failure of ours. */
static void
http_ssl_complain(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e == 0) {
		complain("%s", what);
		return;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	complain("%s: %s", what, buf);
	ERR_clear_error();
}

/* Take the host, port and path prefix out of the settings' URL; 0 or -1. */
static int
http_parse_url(struct http *hp, const char *url)
{
	struct evhttp_uri *u;
	const char *host, *path;
	size_t n;
	int port;
	struct in6_addr a6;
	struct in_addr a4;

	if ((u = evhttp_uri_parse(url)) == NULL ||
	    evhttp_uri_get_scheme(u) == NULL ||
	    strcmp(evhttp_uri_get_scheme(u), "https") != 0 ||
	    (host = evhttp_uri_get_host(u)) == NULL || *host == '\0' ||
	    evhttp_uri_get_query(u) != NULL ||
	    evhttp_uri_get_fragment(u) != NULL ||
	    evhttp_uri_get_userinfo(u) != NULL) {
		complain("%s: not a URL of the form https://host[:port][/path]",
		    url);
		if (u != NULL)
			evhttp_uri_free(u);
		return -1;
	}
	port = evhttp_uri_get_port(u);
	hp->hp_port = port > 0 ? port : HTTPS_PORT;
	n = strlen(host);
	if (host[0] == '[' && n > 2 && host[n - 1] == ']')
		snprintf(hp->hp_host, sizeof(hp->hp_host), "%.*s", (int)n - 2,
		    host + 1);
	else
		snprintf(hp->hp_host, sizeof(hp->hp_host), "%s", host);
	hp->hp_addr = inet_pton(AF_INET, hp->hp_host, &a4) == 1 ||
	    inet_pton(AF_INET6, hp->hp_host, &a6) == 1;
	if (strchr(hp->hp_host, ':') != NULL)
		snprintf(hp->hp_hosthdr, sizeof(hp->hp_hosthdr), "[%s]",
		    hp->hp_host);
	else
		snprintf(hp->hp_hosthdr, sizeof(hp->hp_hosthdr), "%s",
		    hp->hp_host);
	if (port > 0)
		snprintf(hp->hp_hosthdr + strlen(hp->hp_hosthdr),
		    sizeof(hp->hp_hosthdr) - strlen(hp->hp_hosthdr), ":%d",
		    port);
	path = evhttp_uri_get_path(u);
	n = path != NULL ? strlen(path) : 0;
	while (n > 0 && path[n - 1] == '/')
		n--;
	snprintf(hp->hp_prefix, sizeof(hp->hp_prefix), "%.*s", (int)n,
	    n > 0 ? path : "");
	evhttp_uri_free(u);
	return 0;
}

/* The TLS context of every try: our certificate, the CA we trust. */
static SSL_CTX *
http_tls_context(const struct hl_config *cf)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		http_ssl_complain("cannot make a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (cf->hc_ca != NULL && *cf->hc_ca != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, cf->hc_ca, NULL) != 1) {
			http_ssl_complain(cf->hc_ca);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		http_ssl_complain("cannot load the system's CA certificates");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cf->hc_cert) != 1) {
		http_ssl_complain(cf->hc_cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cf->hc_key, SSL_FILETYPE_PEM) !=
	    1 || SSL_CTX_check_private_key(ctx) != 1) {
		http_ssl_complain(cf->hc_key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Ready to talk to the daemon of the settings; NULL (complained) if not. */
struct http *
http_open(const struct hl_config *cf)
{
	struct http *hp;

	if ((hp = calloc(1, sizeof(*hp))) == NULL) {
		complain("out of memory");
		return NULL;
	}
	if (http_parse_url(hp, cf->hc_url) == -1 ||
	    (hp->hp_ctx = http_tls_context(cf)) == NULL) {
		http_close(hp);
		return NULL;
	}
	if ((hp->hp_base = event_base_new()) == NULL) {
		complain("cannot make an event base");
		http_close(hp);
		return NULL;
	}
	return hp;
}

/* Free what http_open made. */
void
http_close(struct http *hp)
{
	if (hp == NULL)
		return;
	if (hp->hp_base != NULL)
		event_base_free(hp->hp_base);
	if (hp->hp_ctx != NULL)
		SSL_CTX_free(hp->hp_ctx);
	free(hp);
}

/* Forget a reply's body. */
void
http_reply_clear(struct http_reply *rp)
{
	free(rp->hr_body);
	memset(rp, 0, sizeof(*rp));
	rp->hr_retry_after = -1;
}

/* Keep the status, headers and body of the daemon's answer. */
static void
http_keep(struct exchange *ex, struct evhttp_request *req)
{
	struct http_reply *rp = ex->ex_reply;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *v;
	char *end;
	long ra;

	rp->hr_len = evbuffer_get_length(in);
	if ((rp->hr_body = malloc(rp->hr_len + 1)) == NULL) {
		snprintf(rp->hr_why, sizeof(rp->hr_why), "out of memory");
		return;
	}
	evbuffer_remove(in, rp->hr_body, rp->hr_len);
	rp->hr_body[rp->hr_len] = '\0';
	rp->hr_status = evhttp_request_get_response_code(req);
	if ((v = evhttp_find_header(h, "Retry-After")) != NULL &&
	    *v >= '0' && *v <= '9') {
		errno = 0;
		ra = strtol(v, &end, 10);
		if (errno == 0 && *end == '\0')
			rp->hr_retry_after = (double)ra;
	}
	if ((v = evhttp_find_header(h, "Idempotent-Replayed")) != NULL &&
	    strcmp(v, "true") == 0)
		rp->hr_replayed = 1;
	if ((v = evhttp_find_header(h, "X-Request-Id")) != NULL)
		snprintf(rp->hr_id, sizeof(rp->hr_id), "%s", v);
}

/* The request is over: answered, or failed (req NULL or no status). */
static void
http_done_cb(struct evhttp_request *req, void *arg)
{
	struct exchange *ex = arg;

	ex->ex_finished = 1;
	if (req != NULL && evhttp_request_get_response_code(req) != 0)
		http_keep(ex, req);
	event_base_loopbreak(bufferevent_get_base(ex->ex_bev));
}

/* Why the request failed, as evhttp saw it. */
static void
http_error_cb(enum evhttp_request_error error, void *arg)
{
	struct exchange *ex = arg;

	ex->ex_error = (int)error + 1;
	ex->ex_errno = EVUTIL_SOCKET_ERROR();
}

/* The try's deadline passed. */
static void
http_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exchange *ex = arg;

	(void)fd;
	(void)what;
	ex->ex_expired = 1;
	event_base_loopbreak(bufferevent_get_base(ex->ex_bev));
}

/* Say why an exchange got no answer, and whether retrying can help. */
static void
http_explain(struct http *hp, struct exchange *ex, double timeout)
{
	struct http_reply *rp = ex->ex_reply;
	unsigned long e;
	long vr;
	int dns;
	char buf[160];

	if (ex->ex_expired) {
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "no answer within %g s", timeout);
		return;
	}
	if ((vr = SSL_get_verify_result(ex->ex_ssl)) != X509_V_OK) {
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "the daemon's certificate is not trusted: %s",
		    X509_verify_cert_error_string(vr));
		rp->hr_final = 1;
		return;
	}
	/*
	 * bufferevent_openssl queues OpenSSL's errors, and for an I/O error
	 * (the daemon gone, a connection refused) SSL_get_error()'s bare
	 * SSL_ERROR_SYSCALL, which belongs to no library: only the former
	 * are TLS failures, which another try would meet again.
	 */
	while ((e = bufferevent_get_openssl_error(ex->ex_bev)) != 0 ||
	    (e = ERR_get_error()) != 0) {
		if (ERR_GET_LIB(e) == 0)
			continue;
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(rp->hr_why, sizeof(rp->hr_why), "TLS: %s", buf);
		ERR_clear_error();
		rp->hr_final = 1;
		return;
	}
	switch (ex->ex_error - 1) {
	case EVREQ_HTTP_TIMEOUT:
		snprintf(rp->hr_why, sizeof(rp->hr_why), "timed out");
		return;
	case EVREQ_HTTP_INVALID_HEADER:
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "a malformed answer");
		return;
	case EVREQ_HTTP_DATA_TOO_LONG:
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "an answer over %d bytes", HTTP_BODY_MAX);
		rp->hr_final = 1;
		return;
	default:
		break;
	}
	rp->hr_unsent = SSL_in_before(ex->ex_ssl);
	if ((dns = bufferevent_socket_get_dns_error(ex->ex_bev)) != 0)
		snprintf(rp->hr_why, sizeof(rp->hr_why), "cannot resolve %s: %s",
		    hp->hp_host, evutil_gai_strerror(dns));
	else if (rp->hr_unsent)
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "cannot connect to %s port %d", hp->hp_host, hp->hp_port);
	else if (!SSL_is_init_finished(ex->ex_ssl))
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "connection lost during the TLS handshake");
	else if (ex->ex_errno != 0)
		snprintf(rp->hr_why, sizeof(rp->hr_why), "connection lost (%s)",
		    evutil_socket_error_to_string(ex->ex_errno));
	else
		snprintf(rp->hr_why, sizeof(rp->hr_why), "connection lost");
}

/* The SSL object of one try: the name (or address) its certificate
 * must carry, and SNI for a name. */
static SSL *
http_ssl(struct http *hp)
{
	SSL *ssl;
	X509_VERIFY_PARAM *vp;
	int ok;

	if ((ssl = SSL_new(hp->hp_ctx)) == NULL)
		return NULL;
	vp = SSL_get0_param(ssl);
	if (hp->hp_addr)
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, hp->hp_host);
	else
		ok = X509_VERIFY_PARAM_set1_host(vp, hp->hp_host, 0) &&
		    SSL_set_tlsext_host_name(ssl, hp->hp_host);
	if (!ok) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/*
 * One try: method on path (from /v1/), with the Idempotency-Key (or NULL)
 * and body (or NULL), answered within timeout seconds or abandoned.  The
 * reply is cleared first; hr_status 0 means no answer, hr_why says why.
 */
void
http_exchange(struct http *hp, const char *method, const char *path,
    const char *key, const char *body, size_t len, double timeout,
    struct http_reply *rp)
{
	struct exchange ex;
	struct evhttp_connection *evcon = NULL;
	struct evhttp_request *req;
	struct evkeyvalq *h;
	struct event *deadline = NULL;
	struct timeval tv;
	char uri[URL_PATH_MAX + HTTP_PREFIX_MAX];

	http_reply_clear(rp);
	memset(&ex, 0, sizeof(ex));
	ex.ex_reply = rp;
	ERR_clear_error();
	snprintf(uri, sizeof(uri), "%s%s", hp->hp_prefix, path);
	tv.tv_sec = (time_t)timeout;
	tv.tv_usec = (suseconds_t)((timeout - floor(timeout)) * 1e6);
	if ((ex.ex_ssl = http_ssl(hp)) == NULL ||
	    (ex.ex_bev = bufferevent_openssl_socket_new(hp->hp_base, -1,
	    ex.ex_ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS)) == NULL) {
		if (ex.ex_ssl != NULL)
			SSL_free(ex.ex_ssl);
		snprintf(rp->hr_why, sizeof(rp->hr_why), "cannot set up TLS");
		rp->hr_final = 1;
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(ex.ex_bev, 1);
	if ((evcon = evhttp_connection_base_bufferevent_new(hp->hp_base, NULL,
	    ex.ex_bev, hp->hp_host, (unsigned short)hp->hp_port)) == NULL) {
		bufferevent_free(ex.ex_bev);
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "cannot make a connection");
		rp->hr_final = 1;
		return;
	}
	evhttp_connection_set_timeout_tv(evcon, &tv);
	evhttp_connection_set_max_body_size(evcon, HTTP_BODY_MAX);
	evhttp_connection_set_max_headers_size(evcon, HTTP_HEADERS_MAX);
	if ((req = evhttp_request_new(http_done_cb, &ex)) == NULL ||
	    (deadline = evtimer_new(hp->hp_base, http_deadline_cb, &ex)) ==
	    NULL) {
		if (req != NULL)
			evhttp_request_free(req);
		evhttp_connection_free(evcon);
		snprintf(rp->hr_why, sizeof(rp->hr_why), "out of memory");
		rp->hr_final = 1;
		return;
	}
	evhttp_request_set_error_cb(req, http_error_cb);
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", hp->hp_hosthdr);
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "Connection", "close");
	if (key != NULL)
		evhttp_add_header(h, "Idempotency-Key", key);
	if (body != NULL) {
		evhttp_add_header(h, "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	}
	evtimer_add(deadline, &tv);
	if (evhttp_make_request(evcon, req, strcmp(method, "POST") == 0 ?
	    EVHTTP_REQ_POST : EVHTTP_REQ_GET, uri) == -1) {
		snprintf(rp->hr_why, sizeof(rp->hr_why),
		    "cannot send the request");
	} else {
		while (!ex.ex_finished && !ex.ex_expired)
			if (event_base_loop(hp->hp_base, EVLOOP_ONCE) != 0)
				break;
		if (rp->hr_status == 0 && rp->hr_why[0] == '\0')
			http_explain(hp, &ex, timeout);
	}
	event_free(deadline);
	evhttp_connection_free(evcon);
}
