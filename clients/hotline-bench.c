/*
 * hotline-bench: a load generator for hotlined.  Keeps C keep-alive mutual
 * TLS connections busy with POSTs of one body (each under a fresh
 * Idempotency-Key, so each is a new submission) and prints throughput and
 * latency percentiles.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
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
#include <openssl/err.h>
#include <openssl/ssl.h>

#define HEADER_MAX	8192

struct bconn {
	struct bufferevent	*bev;
	double			 sent_at;
	long			 body_left;	/* -1 while reading headers */
	int			 status;
};

static struct event_base	*base;
static SSL_CTX			*ctx;
static struct sockaddr_storage	 addr;
static int			 addrlen = sizeof(addr);
static const char		*path = "/v1/reports";
static char			*body;
static size_t			 bodylen;
static long			 total = 10000, started, finished, ok, failed;
static long			 status_counts[600];
static double			*lat;
static double			 t0;
static unsigned long		 runid;

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Send the next request on a connection, if any are left. */
static void
bconn_send(struct bconn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (started >= total)
		return;
	started++;
	c->sent_at = now();
	c->body_left = -1;
	evbuffer_add_printf(out, "POST %s HTTP/1.1\r\nHost: bench\r\n"
	    "Content-Type: application/json\r\n"
	    "Idempotency-Key: bench-%lx-%ld\r\n"
	    "Content-Length: %zu\r\n\r\n", path, runid, started, bodylen);
	evbuffer_add(out, body, bodylen);
}

/* Record a finished request; stop the loop after the last. */
static void
bconn_done(struct bconn *c)
{
	lat[finished++] = now() - c->sent_at;
	if (c->status >= 200 && c->status < 300)
		ok++;
	else
		failed++;
	if (c->status > 0 && c->status < 600)
		status_counts[c->status]++;
	if (finished >= total)
		event_base_loopbreak(base);
	else
		bconn_send(c);
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
		if (c->body_left < 0) {
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
			c->status = atoi(head + 9);
			c->body_left = 0;
			if ((cl = strcasestr(head, "\r\nContent-Length:")) !=
			    NULL)
				c->body_left = atol(cl + 17);
		}
		take = evbuffer_get_length(in);
		if ((long)take > c->body_left)
			take = (size_t)c->body_left;
		evbuffer_drain(in, take);
		c->body_left -= (long)take;
		if (c->body_left > 0)
			return;
		bconn_done(c);
		if (evbuffer_get_length(in) == 0)
			return;
	}
}

/* A connection failed: count it and stop. */
static void
bconn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev; (void)arg;
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		fprintf(stderr, "connection lost (%s) after %ld responses\n",
		    (what & BEV_EVENT_EOF) ? "eof" : "error", finished);
		event_base_loopbreak(base);
	}
}

/* Compare doubles for qsort. */
static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Read a whole file into memory. */
static char *
slurp(const char *file, size_t *len)
{
	FILE *fp;
	char *buf;
	long n;

	if ((fp = fopen(file, "rb")) == NULL || fseek(fp, 0, SEEK_END) != 0 ||
	    (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0)
		return NULL;
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

/* Print usage and exit. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: hotline-bench -a host:port -A ca.crt "
	    "-E client.crt -K client.key -b body.json [-p path] [-c conns] "
	    "[-n requests]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char *ca = NULL, *cert = NULL, *key = NULL, *bodyfile = NULL,
	    *target = NULL;
	struct bconn *conns;
	double elapsed;
	int ch, nconns = 16, i, one = 1;

	while ((ch = getopt(argc, argv, "a:A:b:c:E:K:n:p:")) != -1) {
		switch (ch) {
		case 'a': target = optarg; break;
		case 'A': ca = optarg; break;
		case 'b': bodyfile = optarg; break;
		case 'c': nconns = atoi(optarg); break;
		case 'E': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'n': total = atol(optarg); break;
		case 'p': path = optarg; break;
		default: usage();
		}
	}
	if (!target || !ca || !cert || !key || !bodyfile || nconns < 1 ||
	    total < 1)
		usage();
	if ((body = slurp(bodyfile, &bodylen)) == NULL) {
		fprintf(stderr, "%s: cannot read\n", bodyfile);
		return 1;
	}
	if (evutil_parse_sockaddr_port(target, (struct sockaddr *)&addr,
	    &addrlen) == -1)
		usage();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	runid = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
	lat = calloc((size_t)total, sizeof(*lat));
	conns = calloc((size_t)nconns, sizeof(*conns));
	base = event_base_new();
	if (lat == NULL || conns == NULL || base == NULL)
		return 1;
	t0 = now();
	for (i = 0; i < nconns; i++) {
		SSL *ssl = SSL_new(ctx);

		SSL_set_tlsext_host_name(ssl, "localhost");
		conns[i].bev = bufferevent_openssl_socket_new(base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		bufferevent_openssl_set_allow_dirty_shutdown(conns[i].bev, 1);
		bufferevent_setcb(conns[i].bev, bconn_read, NULL, bconn_event,
		    &conns[i]);
		bufferevent_enable(conns[i].bev, EV_READ | EV_WRITE);
		if (bufferevent_socket_connect(conns[i].bev,
		    (struct sockaddr *)&addr, addrlen) == -1) {
			fprintf(stderr, "connect: %s\n", strerror(errno));
			return 1;
		}
		setsockopt(bufferevent_getfd(conns[i].bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
		bconn_send(&conns[i]);
	}
	event_base_dispatch(base);
	elapsed = now() - t0;
	qsort(lat, (size_t)finished, sizeof(*lat), dcmp);
	printf("requests=%ld ok=%ld failed=%ld connections=%d seconds=%.2f "
	    "rate=%.0f/s\n", finished, ok, failed, nconns, elapsed,
	    (double)finished / elapsed);
	if (finished > 0)
		printf("latency_ms p50=%.2f p90=%.2f p99=%.2f max=%.2f\n",
		    lat[finished / 2] * 1e3, lat[finished * 9 / 10] * 1e3,
		    lat[finished * 99 / 100] * 1e3, lat[finished - 1] * 1e3);
	for (i = 0; i < 600; i++)
		if (status_counts[i] != 0 && (i < 200 || i >= 300))
			printf("status %d: %ld\n", i, status_counts[i]);
	for (i = 0; i < nconns; i++)
		bufferevent_free(conns[i].bev);
	event_base_free(base);
	SSL_CTX_free(ctx);
	free(conns);
	free(lat);
	free(body);
	return failed == 0 && finished == total ? 0 : 1;
}
