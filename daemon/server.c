/*
 * HTTPS front end: evhttp over bufferevent_openssl, with the limits
 * evhttp 2.1 lacks: a cap on connections, accept paused on EMFILE, a total
 * deadline per TLS handshake and per request (not only idle), and strict
 * request-line and header checks.  Each request read becomes a struct
 * request (request.c) handed to route.c; its reply makes the connection
 * idle again (server_replied).
 *
 * A client certificate is optional at the TLS layer (for /healthz), so
 * anyone may connect: connections in their handshake are capped per source
 * address, and a connection that completed its handshake without a
 * certificate gets a small budget of its own (max_anon_connections,
 * anon_timeout in all) and is closed after its one answer, so that
 * uncertified clients can never crowd out certified ones.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "hotlined.h"

#define PEER_BUCKETS		4096	/* of the table of handshaking addresses */
#define REFUSED_LOG_S		1.0	/* refusals are logged at most this often */

/* A source address with connections in their handshake. */
struct peer {
	struct peer	*pe_next;
	unsigned char	 pe_addr[16];	/* IPv6, or IPv4-mapped */
	int		 pe_handshakes;
};

/* Why connections were refused since the last log line. */
enum refusal {
	REFUSED_HANDSHAKES,	/* too many handshakes from one address */
	REFUSED_ANON,		/* max_anon_connections reached */
	REFUSED_COUNT
};

static struct event_base	*sv_base;
static struct config		*sv_cf;
static struct evhttp		*sv_http;
static struct evconnlistener	*sv_listener;
static SSL_CTX			*sv_ctx;
static struct event		*sv_resume;
static int			 sv_nconns;
static int			 sv_inflight;
static int			 sv_emfile;	/* accept paused for fds */
static int			 sv_draining;
static unsigned long long	 sv_conn_seq;
static int			 sv_nanon;	/* connections in CONN_ANON */
static struct peer		*sv_peers[PEER_BUCKETS];
static long			 sv_refused[REFUSED_COUNT];
static double			 sv_refused_logged;

static const char *const refusal_names[REFUSED_COUNT] = {
	"handshakes_per_address", "max_anon_connections",
};

/* Accept new connections unless a limit says otherwise. */
static void
server_accept_update(void)
{
	if (sv_listener == NULL)
		return;
	if (sv_draining || sv_emfile ||
	    sv_nconns >= sv_cf->cf_max_connections)
		evconnlistener_disable(sv_listener);
	else
		evconnlistener_enable(sv_listener);
}

/* Arm a connection's deadline for the given number of seconds. */
static void
conn_arm(struct conn *cn, int seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(cn->cn_deadline, &tv);
}

/* Shut a connection's socket: evhttp then tears the connection down. */
static void
conn_close(struct conn *cn)
{
	evutil_socket_t s;

	if ((s = bufferevent_getfd(cn->cn_bev)) >= 0)
		shutdown(s, SHUT_RDWR);
}

/* Count a refused connection; the counts are logged at most once a second
 * (a flood must not become a flood of log lines). */
static void
server_refused(struct conn *cn, enum refusal why)
{
	double now = mono_now();
	int i;

	sv_refused[why]++;
	log_debug("event=conn_refused conn=%llx reason=%s", cn->cn_id,
	    refusal_names[why]);
	if (now - sv_refused_logged < REFUSED_LOG_S)
		return;
	sv_refused_logged = now;
	for (i = 0; i < REFUSED_COUNT; i++) {
		if (sv_refused[i] == 0)
			continue;
		log_warnx("event=conn_refused reason=%s count=%ld conns=%d "
		    "anon=%d", refusal_names[i], sv_refused[i], sv_nconns,
		    sv_nanon);
		sv_refused[i] = 0;
	}
}

/* The entry of an address in the handshake table (created if asked). */
static struct peer *
peer_get(const unsigned char addr[16], int create)
{
	struct peer *pe, **b;
	unsigned int h = 2166136261u;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	b = &sv_peers[h % PEER_BUCKETS];
	for (pe = *b; pe != NULL; pe = pe->pe_next)
		if (memcmp(pe->pe_addr, addr, 16) == 0)
			return pe;
	if (!create || (pe = calloc(1, sizeof(*pe))) == NULL)
		return NULL;
	memcpy(pe->pe_addr, addr, 16);
	pe->pe_next = *b;
	*b = pe;
	return pe;
}

/* A connection's handshake is over (done, or the connection gone). */
static void
peer_release(struct conn *cn)
{
	struct peer *pe = cn->cn_peer, **pp;
	unsigned int h = 2166136261u;
	int i;

	if (pe == NULL)
		return;
	cn->cn_peer = NULL;
	if (--pe->pe_handshakes > 0)
		return;
	for (i = 0; i < 16; i++)
		h = (h ^ pe->pe_addr[i]) * 16777619u;
	for (pp = &sv_peers[h % PEER_BUCKETS]; *pp != NULL;
	    pp = &(*pp)->pe_next) {
		if (*pp == pe) {
			*pp = pe->pe_next;
			break;
		}
	}
	free(pe);
}

/* The source address of a connection as 16 bytes; -1 if it has none. */
static int
conn_address(struct conn *cn, unsigned char addr[16])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t s = bufferevent_getfd(cn->cn_bev);

	if (s < 0 || getpeername(s, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET6) {
		memcpy(addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		return 0;
	}
	if (ss.ss_family == AF_INET) {
		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		return 0;
	}
	return -1;
}

/*
 * A new connection, now that evhttp has given it its socket: count it
 * against its source address's handshakes (or refuse it), and give it
 * handshake_timeout.
 */
static void
server_conn_accepted(struct conn *cn)
{
	unsigned char addr[16];
	struct peer *pe;

	cn->cn_phase = CONN_HANDSHAKE;
	if (conn_address(cn, addr) == 0) {
		if ((pe = peer_get(addr, 1)) == NULL) {
			conn_close(cn);
			return;
		}
		pe->pe_handshakes++;
		cn->cn_peer = pe;
		if (pe->pe_handshakes > sv_cf->cf_max_handshakes) {
			server_refused(cn, REFUSED_HANDSHAKES);
			conn_close(cn);
			return;
		}
	}
	conn_arm(cn, sv_cf->cf_handshake_timeout);
}

/* A connection's state for the metrics. */
static const char *
server_conn_metric(const struct conn *cn)
{
	return cn->cn_phase == CONN_CERTIFIED ? "certified" :
	    cn->cn_phase == CONN_ANON ? "uncertified" : "handshake";
}

/* Release a connection's state when its SSL object is freed. */
static void
server_conn_free(struct conn *cn)
{
	metrics_add(M_CONNECTIONS, server_conn_metric(cn), -1);
	if (!cn->cn_handshaken)
		metrics_add(M_TLS_HANDSHAKE_FAILURES, cn->cn_timedout ?
		    "timeout" : cn->cn_tls_failure[0] != '\0' ?
		    cn->cn_tls_failure : "closed", 1);
	if (cn->cn_req != NULL)
		request_conn_gone(cn->cn_req);
	peer_release(cn);
	if (cn->cn_phase == CONN_ANON)
		sv_nanon--;
	log_debug("event=conn_close conn=%llx", cn->cn_id);
	event_free(cn->cn_deadline);
	free(cn);
	sv_nconns--;
	server_accept_update();
}

/*
 * The TLS handshake completed.  With a certificate the first request gets
 * its full time; without one the connection joins the uncertified budget
 * (or is closed at once when it is spent) with anon_timeout in all.
 */
static void
server_conn_handshaken(struct conn *cn, int has_cert)
{
	peer_release(cn);
	metrics_add(M_CONNECTIONS, "handshake", -1);
	metrics_add(M_CONNECTIONS, has_cert ? "certified" : "uncertified", 1);
	if (has_cert) {
		cn->cn_phase = CONN_CERTIFIED;
		conn_arm(cn, sv_cf->cf_request_timeout);
		return;
	}
	cn->cn_phase = CONN_ANON;
	sv_nanon++;
	if (sv_nanon > sv_cf->cf_max_anon) {
		server_refused(cn, REFUSED_ANON);
		conn_close(cn);
		return;
	}
	conn_arm(cn, sv_cf->cf_anon_timeout);
}

/*
 * A connection's deadline passed: answer a request still waiting for the
 * database (outcome_unknown if a change of it is out: it may yet commit),
 * otherwise (handshake or request still being read, however slowly) shut
 * the socket so that evhttp tears the connection down.  A connection just
 * accepted comes here at once, to be looked at.
 */
static void
conn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *cn = arg;
	struct request *r = cn->cn_req;

	(void)fd; (void)what;
	if (cn->cn_phase == CONN_ACCEPTED) {
		server_conn_accepted(cn);
		return;
	}
	if (r != NULL && !request_answered(r)) {
		r->rq_close = 1;
		if (r->rq_job != NULL && r->rq_job->dj_batchable)
			api_outcome_unknown(r);
		else
			api_unavailable(r, "the request could not be completed "
			    "in time; retry later");
		return;
	}
	log_msg(cn->cn_phase == CONN_CERTIFIED ? LOG_LVL_INFO : LOG_LVL_DEBUG,
	    "event=conn_deadline conn=%llx phase=%s", cn->cn_id,
	    cn->cn_phase == CONN_CERTIFIED ? "request" :
	    cn->cn_phase == CONN_ANON ? "anon" : "handshake");
	cn->cn_timedout = 1;
	conn_close(cn);
}

/*
 * Watch the decrypted input as it arrives.  The first bytes of a request on
 * an idle keep-alive connection start that request's deadline.  NUL is valid
 * nowhere in an HTTP/1.1 request line or header field, but evhttp's parser
 * silently cuts a header value at the first one: note it, and the request is
 * refused when it arrives.
 */
static void
server_input_watch(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct conn *cn = arg;
	struct evbuffer_ptr start, p;

	if (info->n_added == 0)
		return;
	if (cn->cn_idle && cn->cn_phase == CONN_CERTIFIED) {
		cn->cn_idle = 0;
		conn_arm(cn, sv_cf->cf_request_timeout);
	}
	if (cn->cn_nul)
		return;
	if (evbuffer_ptr_set(buf, &start, info->orig_size - info->n_deleted,
	    EVBUFFER_PTR_SET) == -1)
		return;
	p = evbuffer_search(buf, "", 1, &start);
	if (p.pos >= 0)
		cn->cn_nul = 1;
}

/*
 * evhttp asks for the bufferevent of a new connection.  If TLS cannot be
 * set up evhttp would silently serve plain HTTP on this port: never.
 */
static struct bufferevent *
server_bevcb(struct event_base *base, void *arg)
{
	struct bufferevent *bev = NULL;
	struct conn *cn;
	SSL *ssl = NULL;

	(void)arg;
	if ((cn = calloc(1, sizeof(*cn))) == NULL ||
	    (cn->cn_deadline = evtimer_new(base, conn_deadline_cb, cn)) ==
	    NULL || (ssl = tls_conn_new(sv_ctx, cn)) == NULL)
		fatalx("event=fatal reason=\"cannot create TLS connection\"");
	cn->cn_id = ++sv_conn_seq;
	sv_nconns++;
	metrics_add(M_CONNECTIONS, "handshake", 1);
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		fatalx("event=fatal reason=\"cannot create TLS bufferevent\"");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	if (evbuffer_add_cb(bufferevent_get_input(bev), server_input_watch,
	    cn) == NULL)
		fatalx("event=fatal reason=\"cannot watch input\"");
	cn->cn_bev = bev;
	/* Looked at once evhttp has given it its socket, just after this. */
	cn->cn_phase = CONN_ACCEPTED;
	conn_arm(cn, 0);
	server_accept_update();
	log_debug("event=conn_open conn=%llx conns=%d", cn->cn_id, sv_nconns);
	return bev;
}

/* Accept failed: on descriptor exhaustion pause accepting for a while. */
static void
server_accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int e = EVUTIL_SOCKET_ERROR();

	(void)l; (void)arg;
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		log_warnx("event=accept_paused reason=\"%s\" conns=%d",
		    strerror(e), sv_nconns);
		sv_emfile = 1;
		server_accept_update();
		evtimer_add(sv_resume, &tv);
		return;
	}
	log_warnx("event=accept_error reason=\"%s\"", strerror(e));
}

/* Resume accepting after an EMFILE pause. */
static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	sv_emfile = 0;
	server_accept_update();
}

/* Count headers with a given name (evhttp keeps duplicates). */
static int
header_count(struct evkeyvalq *h, const char *name)
{
	struct evkeyval *kv;
	int n = 0;

	for (kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
		if (strcasecmp(kv->key, name) == 0)
			n++;
	return n;
}

/* Return the reason a request is malformed at the HTTP level, or NULL. */
static const char *
server_http_check(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *cl, *p;

	if (req->major != 1 || (req->minor != 0 && req->minor != 1))
		return "unsupported HTTP version";
	if (req->minor == 1 && header_count(h, "Host") != 1)
		return "exactly one Host header is required";
	if (header_count(h, "Transfer-Encoding") != 0)
		return "Transfer-Encoding is not accepted; send Content-Length";
	if (header_count(h, "Content-Length") > 1)
		return "more than one Content-Length header";
	if ((cl = evhttp_find_header(h, "Content-Length")) != NULL) {
		if (*cl == '\0' || strlen(cl) > 12)
			return "malformed Content-Length";
		for (p = cl; *p != '\0'; p++)
			if (*p < '0' || *p > '9')
				return "malformed Content-Length";
	}
	return NULL;
}

/*
 * A NUL byte was seen on the connection.  If it is in this request's body the
 * JSON parser refuses the body precisely; otherwise it was in the headers.
 */
static int
server_nul_in_body(struct evhttp_request *req)
{
	struct evbuffer *body = evhttp_request_get_input_buffer(req);

	return evbuffer_search(body, "", 1, NULL).pos >= 0;
}

/* A complete request arrived: check it and hand it to the API. */
static void
server_request_cb(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	struct api_error err;
	struct request *r;
	struct conn *cn;
	const char *why;
	SSL *ssl;

	(void)arg;
	evcon = evhttp_request_get_connection(req);
	bev = evhttp_connection_get_bufferevent(evcon);
	if ((ssl = bufferevent_openssl_get_ssl(bev)) == NULL ||
	    (cn = tls_conn_of(ssl)) == NULL)
		fatalx("event=fatal reason=\"request without TLS\"");
	if ((r = request_new(req, cn, ssl)) == NULL) {
		evhttp_send_error(req, 503, NULL);
		return;
	}
	cn->cn_req = r;
	sv_inflight++;
	/*
	 * Reading is over; handling gets the full request time.  Without a
	 * certificate the connection keeps its one deadline and is closed
	 * after this answer.
	 */
	if (cn->cn_phase == CONN_ANON)
		r->rq_close = 1;	/* one answer, then closed */
	else
		conn_arm(cn, sv_cf->cf_request_timeout);
	why = server_http_check(req);
	if (cn->cn_nul) {
		if (!server_nul_in_body(req))
			why = "NUL byte in the request line or a header";
		else	/* the parser refuses the body; look at what follows */
			cn->cn_nul = evbuffer_search(bufferevent_get_input(
			    cn->cn_bev), "", 1, NULL).pos >= 0;
	}
	if (why != NULL) {
		/* Never echo an absurd version back in the status line. */
		req->major = 1;
		req->minor = 1;
		r->rq_close = 1;
		error_set(&err, 400, "bad_request", NULL, "%s", why);
		request_reply_error(r, &err, NULL, NULL);
		return;
	}
	route_dispatch(r, req);
}

/* A request on this connection (NULL: gone) was answered: it is idle. */
void
server_replied(struct conn *cn)
{
	sv_inflight--;
	if (cn == NULL)
		return;
	cn->cn_req = NULL;
	if (cn->cn_phase != CONN_CERTIFIED)
		return;		/* closed after its answer, deadline kept */
	/* Idle until the next request's first byte starts its clock. */
	cn->cn_idle = 1;
	conn_arm(cn, sv_cf->cf_idle_timeout + sv_cf->cf_request_timeout);
}

/* Set up the TLS context, evhttp and the listener. */
int
server_init(struct event_base *base, struct config *cf)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss), one = 1;
	char host[128];
	int port;
	evutil_socket_t fd;

	sv_base = base;
	sv_cf = cf;
	if (request_init(cf) == -1)
		return -1;
	tls_set_conn_cbs(server_conn_free, server_conn_handshaken);
	if ((sv_ctx = tls_ctx_new(cf)) == NULL)
		return -1;
	if ((sv_http = evhttp_new(base)) == NULL)
		return -1;
	evhttp_set_bevcb(sv_http, server_bevcb, NULL);
	evhttp_set_gencb(sv_http, server_request_cb, NULL);
	evhttp_set_max_headers_size(sv_http, cf->cf_max_headers);
	evhttp_set_max_body_size(sv_http,
	    (ev_ssize_t)cf->cf_max_body * BODY_HARD_FACTOR);
	evhttp_set_timeout(sv_http, cf->cf_idle_timeout);
	evhttp_set_allowed_methods(sv_http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(sv_http,
	    "application/json; charset=utf-8");
	if (config_split_listen(cf->cf_listen, host, sizeof(host), &port) ==
	    -1)
		return -1;
	if (evutil_parse_sockaddr_port(cf->cf_listen, (struct sockaddr *)&ss,
	    &sslen) == -1) {
		log_errorx("event=listen_failed reason=\"bad address\"");
		return -1;
	}
	sv_listener = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    511, (struct sockaddr *)&ss, sslen);
	if (sv_listener == NULL) {
		log_errorx("event=listen_failed address=%s reason=\"%s\"",
		    cf->cf_listen, strerror(errno));
		return -1;
	}
	if (evhttp_bind_listener(sv_http, sv_listener) == NULL)
		return -1;
	evconnlistener_set_error_cb(sv_listener, server_accept_error);
	if ((sv_resume = evtimer_new(base, server_resume_cb, NULL)) == NULL)
		return -1;
	fd = evconnlistener_get_fd(sv_listener);
	/*
	 * Replies leave as several TLS records; without TCP_NODELAY Nagle's
	 * algorithm holds the last one for the client's delayed ACK (~40 ms).
	 * Accepted sockets inherit the option from the listening socket.
	 */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_warnx("event=nodelay_failed reason=\"%s\"", strerror(errno));
	log_info("event=listening address=%s fd=%d", cf->cf_listen, (int)fd);
	return 0;
}

/* Load the certificate files again; existing connections keep theirs. */
int
server_reload_tls(void)
{
	SSL_CTX *ctx;

	if ((ctx = tls_ctx_new(sv_cf)) == NULL) {
		log_errorx("event=tls_reload_failed keeping=old");
		return -1;
	}
	SSL_CTX_free(sv_ctx);
	sv_ctx = ctx;
	log_info("event=tls_reloaded");
	return 0;
}

/* Stop accepting; requests in flight finish, keep-alive ends. */
void
server_drain(void)
{
	sv_draining = 1;
	server_accept_update();
}

/* Return nonzero while draining. */
int
server_draining(void)
{
	return sv_draining;
}

/* Return nonzero when nothing is left in flight. */
int
server_drained(void)
{
	return sv_inflight == 0 && !db_busy();
}

/* Close every connection and free the front end. */
void
server_shutdown(void)
{
	if (sv_http != NULL)
		evhttp_free(sv_http);	/* frees the listener too */
	sv_http = NULL;
	sv_listener = NULL;
	if (sv_resume != NULL)
		event_free(sv_resume);
	sv_resume = NULL;
	SSL_CTX_free(sv_ctx);
	sv_ctx = NULL;
	/* The handshake table empties as the connections are freed. */
}
