/*
 * hotline-bench: a load generator for hotlined over keep-alive mutual-TLS
 * connections (HTTP/1.1 written and read by hand, one request in flight per
 * connection).  Modes (-m):
 *
 *   post  POST one body, each under a fresh Idempotency-Key, so that each
 *         is a new submission (the default);
 *   get   GET one path (-p), counting the bytes of each response;
 *   ack   an agency's claim and acknowledgement: GET
 *         /v1/queue?state=open&limit=1, then POST .../ack of the assignment
 *         it names; a connection stops when its queue is empty;
 *   hold  open the connections (a few handshakes at a time), make one GET
 *         on each, print "held=N", and keep them idle until standard input
 *         closes or SIGTERM comes.
 *
 * Every connection is established before the clock starts (hold mode
 * aside, which opens them as it goes).  By default the loop is closed (a
 * connection sends its next request when the answer to the last came).
 * With -r RATE it is open: request i is due at start + i / RATE whatever
 * the answers, is sent on a free connection when it is due (or as soon as
 * one frees), and its latency counts from the time it was due, so the time
 * spent queueing behind a slow server is not left out (no coordinated
 * omission).  Requests sent more than BEHIND_MS after their due time are
 * counted as behind schedule.
 *
 * The first certificate (-E/-K) serves connection 0, the second connection
 * 1, and so on round the list: in ack mode, one agency per connection.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define CONNS_MAX	65536	/* connections (-c) */
#define HEADER_MAX	8192	/* bytes of a response's header */
#define IDENT_MAX	64	/* client certificates (-E/-K pairs) */
#define ASSIGNMENT_MAX	64	/* bytes of an assignment id */
#define BEHIND_MS	1.0	/* sent later than this after its due time */
#define HOLD_OPENING	64	/* handshakes in flight while opening (hold) */
#define SERIES_FIRST	4096	/* first size of a latency series */
#define STATUS_MAX	600
#define QUEUE_PATH	"/v1/queue?state=open&limit=1"

/* What the run sends (-m). */
enum mode {
	MODE_POST,	/* one body, a fresh Idempotency-Key each time */
	MODE_GET,	/* one path */
	MODE_ACK,	/* an agency's claim, then its acknowledgement */
	MODE_HOLD,	/* one GET per connection, then idle connections */
};

/* What a connection is doing. */
enum bstate {
	BS_NEW,		/* not opened yet (hold opens a few at a time) */
	BS_CONNECTING,	/* TCP and TLS handshake */
	BS_IDLE,	/* connected, nothing in flight */
	BS_BUSY,	/* a request in flight */
	BS_DONE,	/* no more work for it (ack: its queue is empty) */
};

/* One keep-alive connection and its request in flight. */
struct bconn {
	struct bufferevent	*bc_bev;
	enum bstate		 bc_state;
	int			 bc_ident;	/* index of its certificate */
	int			 bc_acking;	/* ack: the POST is in flight */
	double			 bc_from;	/* latency counts from this */
	double			 bc_sent;	/* the request was written */
	double			 bc_cycle;	/* ack: the claim began */
	long			 bc_body_left;	/* -1 while reading headers */
	int			 bc_status;
	struct evbuffer		*bc_body;	/* ack: the queue's answer */
};

/* A growing list of latencies, in seconds. */
struct series {
	double	*se_v;
	size_t	 se_n;
	size_t	 se_cap;
};

static enum mode		 mode = MODE_POST;
static struct event_base	*base;
static SSL_CTX			*ctxs[IDENT_MAX];
static int			 nidents;
static struct sockaddr_storage	 addr;
static int			 addrlen = sizeof(addr);
static const char		*path = "/v1/reports";
static char			*body;
static size_t			 bodylen;
static struct bconn		*conns;
static int			 nconns = 16;
static int			 idle[CONNS_MAX];	/* open loop: free ones */
static int			 nidle;
static long			 total = -1;	/* requests (or claims) to make */
static double			 seconds_max;	/* -T: stop issuing after */
static double			 rate;		/* -r: open loop */
static long			 issued, finished, ok, failed, inflight;
static long			 behind, acks, bytes;
static int			 opened, connected, held, empty, lost;
static int			 stopping;
static long			 status_counts[STATUS_MAX];
static struct series		 lat, lag, lat_queue, lat_ack;
static double			 t0, t_end;
static unsigned long		 runid;
static struct event		*sched_ev, *stop_ev;

static void	bconn_open(struct bconn *);
static void	bconn_next(struct bconn *);
static void	sched_pump(void);

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append a value to a series; exit when memory runs out. */
static void
series_add(struct series *s, double v)
{
	double *p;
	size_t cap;

	if (s->se_n == s->se_cap) {
		cap = s->se_cap == 0 ? SERIES_FIRST : s->se_cap * 2;
		if ((p = realloc(s->se_v, cap * sizeof(*p))) == NULL) {
			fprintf(stderr, "out of memory\n");
			exit(1);
		}
		s->se_v = p;
		s->se_cap = cap;
	}
	s->se_v[s->se_n++] = v;
}

/* Compare doubles for qsort. */
static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Print a series' percentiles in milliseconds after a label. */
static void
series_print(struct series *s, const char *label)
{
	size_t n = s->se_n;

	if (n == 0)
		return;
	qsort(s->se_v, n, sizeof(*s->se_v), dcmp);
	printf("%s p50=%.2f p90=%.2f p99=%.2f max=%.2f\n", label,
	    s->se_v[n / 2] * 1e3, s->se_v[n * 9 / 10] * 1e3,
	    s->se_v[n * 99 / 100] * 1e3, s->se_v[n - 1] * 1e3);
}

/* Whether another request (post, get) or claim (ack) may be issued. */
static int
may_issue(void)
{
	return !stopping && (total < 0 || issued < total);
}

/* Stop the loop once nothing is in flight and nothing more will be sent. */
static void
maybe_finish(void)
{
	if (inflight > 0 || mode == MODE_HOLD)
		return;
	if (rate > 0 && may_issue())
		return;
	if (rate <= 0 && may_issue()) {
		int i;

		for (i = 0; i < nconns; i++)
			if (conns[i].bc_state == BS_IDLE ||
			    conns[i].bc_state == BS_BUSY)
				return;
	}
	t_end = now();
	event_base_loopbreak(base);
}

/* Write one request on a connection: latency counts from "from". */
static void
bconn_write(struct bconn *c, const char *method, const char *target,
    int with_body, double from)
{
	struct evbuffer *out = bufferevent_get_output(c->bc_bev);

	c->bc_state = BS_BUSY;
	c->bc_from = from;
	c->bc_sent = now();
	c->bc_body_left = -1;
	inflight++;
	evbuffer_add_printf(out, "%s %s HTTP/1.1\r\nHost: bench\r\n", method,
	    target);
	if (strcmp(method, "POST") == 0)
		evbuffer_add_printf(out, "Idempotency-Key: bench-%lx-%ld-%d\r\n",
		    runid, issued, (int)(c - conns));
	if (with_body)
		evbuffer_add_printf(out, "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n\r\n", bodylen);
	else if (strcmp(method, "POST") == 0)
		evbuffer_add_printf(out, "Content-Length: 0\r\n\r\n");
	else
		evbuffer_add_printf(out, "\r\n");
	if (with_body)
		evbuffer_add(out, body, bodylen);
}

/* Issue the mode's next request on a free connection (due at "from"). */
static void
bconn_issue(struct bconn *c, double from)
{
	issued++;
	switch (mode) {
	case MODE_POST:
		bconn_write(c, "POST", path, 1, from);
		break;
	case MODE_GET:
	case MODE_HOLD:
		bconn_write(c, "GET", path, 0, from);
		break;
	case MODE_ACK:
		c->bc_acking = 0;
		c->bc_cycle = from;
		bconn_write(c, "GET", QUEUE_PATH, 0, from);
		break;
	}
}

/* A closed loop's connection is free: send its next request, if any. */
static void
bconn_next(struct bconn *c)
{
	c->bc_state = BS_IDLE;
	if (rate > 0) {
		idle[nidle++] = (int)(c - conns);
		sched_pump();
		return;
	}
	if (may_issue())
		bconn_issue(c, now());
	else
		maybe_finish();
}

/*
 * Open loop: send every request that is due on a free connection, then
 * arm the timer for the next due time (unless a due request waits for a
 * connection: a reply will send it).
 */
static void
sched_pump(void)
{
	struct timeval tv;
	double t, due, wait;
	int i;

	for (;;) {
		if (!may_issue()) {
			maybe_finish();
			return;
		}
		due = t0 + (double)issued / rate;
		t = now();
		if (due > t)
			break;
		if (nidle == 0)
			return;
		i = idle[--nidle];
		series_add(&lag, t - due);
		if ((t - due) * 1e3 > BEHIND_MS)
			behind++;
		bconn_issue(&conns[i], due);
	}
	wait = due - t;
	tv.tv_sec = (time_t)wait;
	tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
	evtimer_add(sched_ev, &tv);
}

/* The open loop's timer: a request is due. */
static void
sched_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	sched_pump();
}

/* -T passed (closed loop): issue nothing more; the loop ends when the last
 * reply came.  An open loop's -T only sets how many requests are due. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	stopping = 1;
	maybe_finish();
}

/* Count a reply's status. */
static void
count_status(int status)
{
	if (status >= 200 && status < 300)
		ok++;
	else
		failed++;
	if (status > 0 && status < STATUS_MAX)
		status_counts[status]++;
}

/* Ack mode: the queue answered; acknowledge its first assignment. */
static void
ack_claimed(struct bconn *c)
{
	struct json_object *doc, *list, *first, *id;
	char target[ASSIGNMENT_MAX + 32];
	size_t n = evbuffer_get_length(c->bc_body);
	const char *s;

	doc = json_tokener_parse((const char *)evbuffer_pullup(c->bc_body,
	    (ssize_t)n));
	evbuffer_drain(c->bc_body, n);
	if (c->bc_status != 200 || doc == NULL ||
	    !json_object_object_get_ex(doc, "assignments", &list) ||
	    !json_object_is_type(list, json_type_array)) {
		fprintf(stderr, "queue: status %d, unexpected answer\n",
		    c->bc_status);
		json_object_put(doc);
		c->bc_state = BS_DONE;
		maybe_finish();
		return;
	}
	if (json_object_array_length(list) == 0) {
		json_object_put(doc);
		empty++;
		c->bc_state = BS_DONE;
		maybe_finish();
		return;
	}
	first = json_object_array_get_idx(list, 0);
	if (!json_object_object_get_ex(first, "assignment_id", &id) ||
	    (s = json_object_get_string(id)) == NULL ||
	    strlen(s) >= ASSIGNMENT_MAX) {
		fprintf(stderr, "queue: no assignment_id\n");
		json_object_put(doc);
		c->bc_state = BS_DONE;
		maybe_finish();
		return;
	}
	snprintf(target, sizeof(target), "/v1/assignments/%s/ack", s);
	json_object_put(doc);
	c->bc_acking = 1;
	bconn_write(c, "POST", target, 0, c->bc_cycle);
}

/* A reply is complete: record it and go on. */
static void
bconn_done(struct bconn *c)
{
	double t = now();

	finished++;
	inflight--;
	count_status(c->bc_status);
	switch (mode) {
	case MODE_HOLD:
		c->bc_state = BS_IDLE;
		if (++held == nconns) {
			printf("held=%d seconds=%.2f\n", held, t - t0);
			fflush(stdout);
		}
		if (opened < nconns)
			bconn_open(&conns[opened]);
		return;
	case MODE_ACK:
		if (!c->bc_acking) {
			series_add(&lat_queue, t - c->bc_sent);
			ack_claimed(c);
			return;
		}
		series_add(&lat_ack, t - c->bc_sent);
		if (c->bc_status == 200) {
			acks++;
			series_add(&lat, t - c->bc_from);
		}
		break;
	default:
		series_add(&lat, t - c->bc_from);
		break;
	}
	bconn_next(c);
}

/* Parse responses as they arrive. */
static void
bconn_read(struct bufferevent *bev, void *arg)
{
	struct bconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr p;
	char head[HEADER_MAX], *cl;
	size_t n, take;

	for (;;) {
		if (c->bc_state != BS_BUSY) {
			fprintf(stderr, "unexpected bytes from the daemon\n");
			exit(1);
		}
		if (c->bc_body_left < 0) {
			p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			if (p.pos < 0)
				return;
			n = (size_t)p.pos + 4;
			if (n >= sizeof(head)) {
				fprintf(stderr, "response header too long\n");
				exit(1);
			}
			evbuffer_remove(in, head, n);
			head[n] = '\0';
			if (strcasestr(head, "\r\nTransfer-Encoding:") != NULL) {
				fprintf(stderr, "chunked responses are not "
				    "read\n");
				exit(1);
			}
			c->bc_status = atoi(head + 9);
			c->bc_body_left = 0;
			if ((cl = strcasestr(head, "\r\nContent-Length:")) !=
			    NULL)
				c->bc_body_left = atol(cl + 17);
			bytes += c->bc_body_left;
		}
		take = evbuffer_get_length(in);
		if ((long)take > c->bc_body_left)
			take = (size_t)c->bc_body_left;
		if (mode == MODE_ACK && !c->bc_acking)
			evbuffer_remove_buffer(in, c->bc_body, take);
		else
			evbuffer_drain(in, take);
		c->bc_body_left -= (long)take;
		if (c->bc_body_left > 0)
			return;
		bconn_done(c);
		if (evbuffer_get_length(in) == 0)
			return;
	}
}

/* Start the clock once every connection is up. */
static void
start(void)
{
	int i;

	t0 = now();
	if (seconds_max > 0 && rate <= 0) {
		struct timeval tv;

		tv.tv_sec = (time_t)seconds_max;
		tv.tv_usec = (suseconds_t)((seconds_max - (double)tv.tv_sec) *
		    1e6);
		evtimer_add(stop_ev, &tv);
	}
	for (i = 0; i < nconns; i++) {
		if (rate > 0) {
			conns[i].bc_state = BS_IDLE;
			idle[nidle++] = i;
		} else if (may_issue())
			bconn_issue(&conns[i], now());
		else
			conns[i].bc_state = BS_IDLE;
	}
	if (rate > 0)
		sched_pump();
	maybe_finish();
}

/* A connection is up, or failed: the latter ends the run. */
static void
bconn_event(struct bufferevent *bev, short what, void *arg)
{
	struct bconn *c = arg;
	int one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one));
		c->bc_state = BS_IDLE;
		connected++;
		if (mode == MODE_HOLD)
			bconn_issue(c, now());
		else if (connected == nconns)
			start();
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		char buf[256] = "";

		if (e != 0)
			ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "connection %d lost (%s%s%s) after %ld "
		    "responses\n", (int)(c - conns),
		    (what & BEV_EVENT_EOF) ? "eof" : "error",
		    buf[0] ? ": " : "", buf, finished);
		lost++;
		if (mode == MODE_HOLD) {
			/* The others stay held: the count says how many. */
			if (c->bc_state == BS_BUSY)
				inflight--;
			c->bc_state = BS_DONE;
			if (opened < nconns)
				bconn_open(&conns[opened]);
			return;
		}
		t_end = now();
		event_base_loopbreak(base);
	}
}

/* Open a connection with its certificate. */
static void
bconn_open(struct bconn *c)
{
	SSL *ssl;

	opened++;
	if ((ssl = SSL_new(ctxs[c->bc_ident])) == NULL) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	SSL_set_tlsext_host_name(ssl, "localhost");
	c->bc_bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bc_bev == NULL) {
		fprintf(stderr, "bufferevent_openssl_socket_new failed\n");
		exit(1);
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bc_bev, 1);
	bufferevent_setcb(c->bc_bev, bconn_read, NULL, bconn_event, c);
	bufferevent_enable(c->bc_bev, EV_READ | EV_WRITE);
	c->bc_state = BS_CONNECTING;
	if (bufferevent_socket_connect(c->bc_bev, (struct sockaddr *)&addr,
	    addrlen) == -1) {
		fprintf(stderr, "connect: %s\n", strerror(errno));
		exit(1);
	}
}

/* Hold mode: standard input closed or a signal came: release them. */
static void
release_cb(evutil_socket_t fd, short what, void *arg)
{
	char buf[256];

	(void)what; (void)arg;
	if (fd == STDIN_FILENO && read(fd, buf, sizeof(buf)) > 0)
		return;
	event_base_loopbreak(base);
}

/* Read a whole file into memory. */
static char *
slurp(const char *file, size_t *len)
{
	FILE *fp;
	char *buf;
	long n;

	if ((fp = fopen(file, "rb")) == NULL || fseek(fp, 0, SEEK_END) != 0 ||
	    (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		if (fp != NULL)
			fclose(fp);
		return NULL;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL ||
	    fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/* A TLS context presenting one client certificate. */
static SSL_CTX *
ctx_new(const char *ca, const char *cert, const char *key)
{
	SSL_CTX *ctx;

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "%s, %s: cannot use\n", cert, key);
		exit(1);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* Print what the run measured. */
static void
report(void)
{
	double elapsed = t_end - t0;
	int i;

	if (elapsed <= 0)
		elapsed = 1e-9;
	printf("requests=%ld ok=%ld failed=%ld connections=%d seconds=%.2f "
	    "rate=%.0f/s\n", finished, ok, failed, nconns, elapsed,
	    (double)finished / elapsed);
	series_print(&lat, mode == MODE_ACK ? "claim_ack_ms" : "latency_ms");
	if (rate > 0) {
		printf("offered=%.0f/s behind=%ld behind_ms=%.1f\n", rate,
		    behind, BEHIND_MS);
		series_print(&lag, "send_lag_ms");
	}
	if (mode == MODE_GET && finished > 0)
		printf("bytes_per_response=%.0f\n", (double)bytes /
		    (double)finished);
	if (mode == MODE_ACK) {
		printf("acks=%ld acks_per_s=%.0f empty_queues=%d\n", acks,
		    (double)acks / elapsed, empty);
		series_print(&lat_queue, "queue_ms");
		series_print(&lat_ack, "ack_ms");
	}
	for (i = 0; i < STATUS_MAX; i++)
		if (status_counts[i] != 0 && (i < 200 || i >= 300))
			printf("status %d: %ld\n", i, status_counts[i]);
}

/* Print usage and exit. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: hotline-bench -a host:port -A ca.crt "
	    "-E client.crt -K client.key [-E ... -K ...]\n"
	    "\t[-m post|get|ack|hold] [-b body.json] [-p path] [-c conns]\n"
	    "\t[-n requests] [-T seconds] [-r rate]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *ca = NULL, *certs[IDENT_MAX], *keys[IDENT_MAX],
	    *bodyfile = NULL, *target = NULL;
	struct event_config *cfg;
	struct event *ev_in = NULL, *ev_term = NULL, *ev_int = NULL;
	int ch, i, ncerts = 0, nkeys = 0;

	while ((ch = getopt(argc, argv, "a:A:b:c:E:K:m:n:p:r:T:")) != -1) {
		switch (ch) {
		case 'a': target = optarg; break;
		case 'A': ca = optarg; break;
		case 'b': bodyfile = optarg; break;
		case 'c': nconns = atoi(optarg); break;
		case 'E':
			if (ncerts == IDENT_MAX)
				usage();
			certs[ncerts++] = optarg;
			break;
		case 'K':
			if (nkeys == IDENT_MAX)
				usage();
			keys[nkeys++] = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "post") == 0)
				mode = MODE_POST;
			else if (strcmp(optarg, "get") == 0)
				mode = MODE_GET;
			else if (strcmp(optarg, "ack") == 0)
				mode = MODE_ACK;
			else if (strcmp(optarg, "hold") == 0)
				mode = MODE_HOLD;
			else
				usage();
			break;
		case 'n': total = atol(optarg); break;
		case 'p': path = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'T': seconds_max = atof(optarg); break;
		default: usage();
		}
	}
	if (!target || !ca || ncerts == 0 || ncerts != nkeys || nconns < 1 ||
	    nconns > CONNS_MAX || rate < 0 ||
	    seconds_max < 0 || (mode == MODE_POST && !bodyfile) ||
	    (rate > 0 && (mode == MODE_ACK || mode == MODE_HOLD)))
		usage();
	if (total < 0 && rate > 0 && seconds_max > 0)
		total = (long)(rate * seconds_max);
	if (total < 0 && seconds_max <= 0)
		total = 10000;
	if (total == 0)
		usage();
	nidents = ncerts;
	if (bodyfile != NULL && (body = slurp(bodyfile, &bodylen)) == NULL) {
		fprintf(stderr, "%s: cannot read\n", bodyfile);
		return 1;
	}
	if (evutil_parse_sockaddr_port(target, (struct sockaddr *)&addr,
	    &addrlen) == -1)
		usage();
	for (i = 0; i < nidents; i++)
		ctxs[i] = ctx_new(ca, certs[i], keys[i]);
	signal(SIGPIPE, SIG_IGN);
	runid = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (base = event_base_new_with_config(cfg)) == NULL ||
	    (sched_ev = evtimer_new(base, sched_cb, NULL)) == NULL ||
	    (stop_ev = evtimer_new(base, stop_cb, NULL)) == NULL ||
	    (conns = calloc((size_t)nconns, sizeof(*conns))) == NULL)
		return 1;
	event_config_free(cfg);
	for (i = 0; i < nconns; i++) {
		conns[i].bc_ident = i % nidents;
		if (mode == MODE_ACK &&
		    (conns[i].bc_body = evbuffer_new()) == NULL)
			return 1;
	}
	if (mode == MODE_HOLD) {
		ev_in = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST,
		    release_cb, NULL);
		ev_term = evsignal_new(base, SIGTERM, release_cb, NULL);
		ev_int = evsignal_new(base, SIGINT, release_cb, NULL);
		if (ev_in == NULL || ev_term == NULL || ev_int == NULL ||
		    event_add(ev_in, NULL) != 0 ||
		    event_add(ev_term, NULL) != 0 ||
		    event_add(ev_int, NULL) != 0)
			return 1;
	}
	t0 = now();
	for (i = 0; i < nconns && (mode != MODE_HOLD || i < HOLD_OPENING); i++)
		bconn_open(&conns[i]);
	event_base_dispatch(base);
	if (mode == MODE_HOLD)
		printf("released=%d of %d lost=%d\n", held, nconns, lost);
	else
		report();
	if (ev_in != NULL)
		event_free(ev_in);
	if (ev_term != NULL)
		event_free(ev_term);
	if (ev_int != NULL)
		event_free(ev_int);
	for (i = 0; i < nconns; i++) {
		if (conns[i].bc_bev != NULL)
			bufferevent_free(conns[i].bc_bev);
		if (conns[i].bc_body != NULL)
			evbuffer_free(conns[i].bc_body);
	}
	event_free(sched_ev);
	event_free(stop_ev);
	event_base_free(base);
	for (i = 0; i < nidents; i++)
		SSL_CTX_free(ctxs[i]);
	free(conns);
	free(lat.se_v);
	free(lag.se_v);
	free(lat_queue.se_v);
	free(lat_ack.se_v);
	free(body);
	if (mode == MODE_HOLD)
		return failed == 0 && lost == 0 && held == nconns ? 0 : 1;
	return failed == 0 && lost == 0 && (total < 0 || seconds_max > 0 ||
	    mode == MODE_ACK || finished == total) ? 0 : 1;
}
