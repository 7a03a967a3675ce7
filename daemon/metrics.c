/*
 * Metrics: counters, gauges and histograms kept in memory, and their
 * Prometheus text exposition (format 0.0.4) served by a small evhttp of
 * its own on metrics_listen (plain HTTP, GET /metrics only) in the same
 * event loop.  Other files report through metrics_add(), metrics_set(),
 * metrics_observe() and metrics_request(), which only touch memory; what
 * another file already keeps (the pool's states, the job queue, the
 * escalation loop's last pass) is read when a scrape comes.
 *
 * Labels are bounded: routes, methods and statuses come from the daemon's
 * own tables, reasons and results from fixed sets; no label ever holds a
 * client's name, a certificate fingerprint, a case number or anything a
 * request carried.  A family holds at most METRICS_SERIES_MAX values of
 * its label; any beyond are counted under "other".
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "hotlined.h"

#define METRICS_SERIES_MAX	32	/* label values of one family */
#define METRICS_LABEL_MAX	48	/* bytes of a label value, NUL too */
#define METRICS_BUCKETS_MAX	16
#define METRICS_ROUTES_MAX	64	/* (route, method) pairs */
#define METRICS_STATUSES_MAX	16	/* statuses of one route and method */
#define METRICS_TIMEOUT_S	10	/* a scrape's connection, idle */
#define METRICS_MAX_HEADERS	8192
#define METRICS_MAX_BODY	1024
#define METRICS_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

enum metric_type {
	MT_COUNTER,
	MT_GAUGE,
	MT_HISTOGRAM,
};

/* One metric: its name, type, label (or none) and meaning. */
struct metric_def {
	const char	*md_name;
	enum metric_type md_type;
	const char	*md_label;	/* label name, NULL: none */
	const char	*md_preset;	/* label values shown from the start */
	const double	*md_buckets;	/* a histogram's upper bounds */
	int		 md_nbuckets;
	const char	*md_help;
};

/* One series of a counter or gauge: a label value and its value. */
struct mseries {
	char		 ms_label[METRICS_LABEL_MAX];
	double		 ms_value;
};

/* A histogram's observations. */
struct mhist {
	unsigned long long mh_counts[METRICS_BUCKETS_MAX];	/* per bucket */
	unsigned long long mh_count;
	double		 mh_sum;
};

/* The series of one metric. */
struct mdata {
	struct mseries	 md_series[METRICS_SERIES_MAX];
	int		 md_nseries;
	struct mhist	 md_hist;
};

/* The requests of one route and method: by status, and their durations. */
struct mroute {
	char		 mr_route[METRICS_LABEL_MAX];
	char		 mr_method[METRICS_LABEL_MAX];
	int		 mr_status[METRICS_STATUSES_MAX];
	unsigned long long mr_count[METRICS_STATUSES_MAX];
	int		 mr_nstatus;
	struct mhist	 mr_hist;
};

static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
static const double db_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const double batch_buckets[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
#define NBUCKETS(b)	(int)(sizeof(b) / sizeof((b)[0]))
_Static_assert(NBUCKETS(latency_buckets) <= METRICS_BUCKETS_MAX, "buckets");
_Static_assert(NBUCKETS(db_buckets) <= METRICS_BUCKETS_MAX, "buckets");
_Static_assert(NBUCKETS(batch_buckets) <= METRICS_BUCKETS_MAX, "buckets");

static const struct metric_def metric_defs[M_COUNT] = {
	[M_CONNECTIONS] = { "hotlined_connections", MT_GAUGE, "state",
	    "handshake certified uncertified", NULL, 0,
	    "Open client connections: in their TLS handshake, with a verified "
	    "client certificate, or without one" },
	[M_TLS_HANDSHAKE_FAILURES] = { "hotlined_tls_handshake_failures_total",
	    MT_COUNTER, "reason", "timeout closed", NULL, 0,
	    "TLS handshakes that did not complete: timeout, closed (the client "
	    "went away), the TLS alert sent (peer_ when the client sent it), "
	    "or the TLS error (http_request: plain HTTP)" },
	[M_DB_BATCH_SIZE] = { "hotlined_db_batch_size", MT_HISTOGRAM, NULL,
	    NULL, batch_buckets, NBUCKETS(batch_buckets),
	    "Submissions written together in one group-commit transaction" },
	[M_DB_ROUNDTRIP] = { "hotlined_db_roundtrip_seconds", MT_HISTOGRAM,
	    NULL, NULL, db_buckets, NBUCKETS(db_buckets),
	    "Database round trips: a pipeline segment sent until its Sync "
	    "(the COMMIT) came back" },
	[M_DB_CONN_FAILURES] = { "hotlined_db_connection_failures_total",
	    MT_COUNTER, "reason", NULL, NULL, 0,
	    "Database connections torn down or not made, by reason; each is "
	    "retried with back-off" },
	[M_LONGPOLL_WAITERS] = { "hotlined_long_poll_waiters", MT_GAUGE, NULL,
	    NULL, NULL, 0, "Queue requests waiting for new work (long polls)" },
	[M_IDENT_RELOADS] = { "hotlined_identity_reloads_total", MT_COUNTER,
	    "result", "ok failed", NULL, 0,
	    "Loads of the client identity cache from the clients table" },
	[M_IDENT_CLIENTS] = { "hotlined_identity_clients", MT_GAUGE, NULL,
	    NULL, NULL, 0, "Clients in the identity cache, revoked ones too" },
	[M_KEY_RELOADS] = { "hotlined_key_reloads_total", MT_COUNTER,
	    "result", "ok failed", NULL, 0,
	    "Loads of the master and hash key files after start-up" },
	[M_ESC_PASSES] = { "hotlined_escalation_passes_total", MT_COUNTER,
	    "result", "ok failed", NULL, 0,
	    "Passes of the escalation loop over the clocks that are due" },
	[M_CLOCKS_HANDLED] = { "hotlined_clocks_handled_total", MT_COUNTER,
	    NULL, NULL, NULL, 0,
	    "Clocks this daemon's escalation loop handled: warnings given and "
	    "deadlines missed (each escalating its assignment once)" },
	[M_CLOCKS_ESCALATED] = { "hotlined_clocks_escalated_total",
	    MT_COUNTER, NULL, NULL, NULL, 0,
	    "Missed deadlines this daemon's escalation loop escalated: the "
	    "assignments it made for the level above" },
	[M_CLOCKS_SET_ASIDE] = { "hotlined_clocks_set_aside_total",
	    MT_COUNTER, NULL, NULL, NULL, 0,
	    "Clocks set aside because handling them failed on its own" },
	[M_CLOCKS_NEXT_DUE] = { "hotlined_clocks_next_due_timestamp_seconds",
	    MT_GAUGE, NULL, NULL, NULL, 0,
	    "When the earliest clock needs attention, as the escalation loop "
	    "last learnt it (NaN: no clock running)" },
};

static struct mdata		 metric_data[M_COUNT];
static struct mroute		 metric_routes[METRICS_ROUTES_MAX];
static int			 metric_nroutes;
static double			 metric_started;	/* epoch seconds */
static struct evhttp		*metric_http;

/* Seconds since the epoch, for timestamps. */
static double
metrics_epoch(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copy a label value made of [A-Za-z0-9_] (others become '_'). */
static void
metrics_label_copy(char dst[METRICS_LABEL_MAX], const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i < METRICS_LABEL_MAX - 1; i++)
		dst[i] = isalnum((unsigned char)src[i]) ? src[i] : '_';
	dst[i] = '\0';
}

/* The series of a metric for a label value, made if new; never NULL. */
static struct mseries *
metrics_series(enum metric m, const char *label)
{
	struct mdata *d = &metric_data[m];
	char want[METRICS_LABEL_MAX];
	int i;

	metrics_label_copy(want, label != NULL ? label : "");
	for (i = 0; i < d->md_nseries; i++)
		if (strcmp(d->md_series[i].ms_label, want) == 0)
			return &d->md_series[i];
	if (d->md_nseries == METRICS_SERIES_MAX) {
		/* Full: the last series is "other" (made when it filled). */
		return &d->md_series[METRICS_SERIES_MAX - 1];
	}
	if (d->md_nseries == METRICS_SERIES_MAX - 1)
		snprintf(want, sizeof(want), "other");
	i = d->md_nseries++;
	memcpy(d->md_series[i].ms_label, want, sizeof(want));
	d->md_series[i].ms_value = 0;
	return &d->md_series[i];
}

/* Add to a counter or gauge. */
void
metrics_add(enum metric m, const char *label, double v)
{
	metrics_series(m, label)->ms_value += v;
}

/* Set a gauge. */
void
metrics_set(enum metric m, const char *label, double v)
{
	metrics_series(m, label)->ms_value = v;
}

/* Count one observation in a histogram with the given bounds. */
static void
metrics_hist_add(struct mhist *h, const double *bounds, int n, double v)
{
	int i;

	for (i = 0; i < n && v > bounds[i]; i++)
		;
	if (i < n)
		h->mh_counts[i]++;
	h->mh_count++;
	h->mh_sum += v;
}

/* Observe a value of a histogram. */
void
metrics_observe(enum metric m, double v)
{
	const struct metric_def *def = &metric_defs[m];

	if (def->md_type == MT_HISTOGRAM)
		metrics_hist_add(&metric_data[m].md_hist, def->md_buckets,
		    def->md_nbuckets, v);
}

/* Count an answered request and its duration. */
void
metrics_request(const char *route, const char *method, int status,
    double seconds)
{
	char rl[METRICS_LABEL_MAX], ml[METRICS_LABEL_MAX];
	struct mroute *mr = NULL;
	int i;

	metrics_label_copy(rl, route != NULL && strcmp(route, "-") != 0 ?
	    route : "none");
	metrics_label_copy(ml, method != NULL ? method : "other");
	for (i = 0; i < metric_nroutes; i++) {
		if (strcmp(metric_routes[i].mr_route, rl) == 0 &&
		    strcmp(metric_routes[i].mr_method, ml) == 0) {
			mr = &metric_routes[i];
			break;
		}
	}
	if (mr == NULL) {
		if (metric_nroutes == METRICS_ROUTES_MAX) {
			mr = &metric_routes[METRICS_ROUTES_MAX - 1];
		} else {
			mr = &metric_routes[metric_nroutes++];
			memcpy(mr->mr_route, rl, sizeof(rl));
			memcpy(mr->mr_method, ml, sizeof(ml));
			if (metric_nroutes == METRICS_ROUTES_MAX) {
				snprintf(mr->mr_route, sizeof(mr->mr_route),
				    "other");
				snprintf(mr->mr_method, sizeof(mr->mr_method),
				    "other");
			}
		}
	}
	for (i = 0; i < mr->mr_nstatus && mr->mr_status[i] != status; i++)
		;
	if (i == mr->mr_nstatus) {
		if (mr->mr_nstatus < METRICS_STATUSES_MAX)
			mr->mr_status[mr->mr_nstatus++] = status;
		else
			i = METRICS_STATUSES_MAX - 1;	/* a 17th status */
	}
	mr->mr_count[i]++;
	metrics_hist_add(&mr->mr_hist, latency_buckets,
	    NBUCKETS(latency_buckets), seconds);
}

/* Write a number as the text format wants it. */
static void
metrics_num(struct evbuffer *b, double v)
{
	if (isnan(v))
		evbuffer_add_printf(b, "NaN\n");
	else if (isinf(v))
		evbuffer_add_printf(b, "%sInf\n", v > 0 ? "+" : "-");
	else
		evbuffer_add_printf(b, "%.15g\n", v);
}

/* The HELP and TYPE lines of a family. */
static void
metrics_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A histogram's buckets (cumulative), sum and count; labels may be "". */
static void
metrics_hist_write(struct evbuffer *b, const char *name, const char *labels,
    const struct mhist *h, const double *bounds, int n)
{
	unsigned long long cum = 0;
	const char *sep = labels[0] != '\0' ? "," : "";
	int i;

	for (i = 0; i < n; i++) {
		cum += h->mh_counts[i];
		evbuffer_add_printf(b, "%s_bucket{%s%sle=\"%.15g\"} %llu\n",
		    name, labels, sep, bounds[i], cum);
	}
	evbuffer_add_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
	    labels, sep, h->mh_count);
	evbuffer_add_printf(b, "%s_sum%s%s%s ", name, labels[0] ? "{" : "",
	    labels, labels[0] ? "}" : "");
	metrics_num(b, h->mh_sum);
	evbuffer_add_printf(b, "%s_count%s%s%s %llu\n", name,
	    labels[0] ? "{" : "", labels, labels[0] ? "}" : "", h->mh_count);
}

/* Write one metric of the table with its series. */
static void
metrics_write_def(struct evbuffer *b, enum metric m)
{
	const struct metric_def *def = &metric_defs[m];
	const struct mdata *d = &metric_data[m];
	int i;

	metrics_head(b, def->md_name, def->md_type == MT_COUNTER ? "counter" :
	    def->md_type == MT_GAUGE ? "gauge" : "histogram", def->md_help);
	if (def->md_type == MT_HISTOGRAM) {
		metrics_hist_write(b, def->md_name, "", &d->md_hist,
		    def->md_buckets, def->md_nbuckets);
		return;
	}
	if (def->md_label == NULL) {
		evbuffer_add_printf(b, "%s ", def->md_name);
		metrics_num(b, d->md_nseries > 0 ? d->md_series[0].ms_value :
		    m == M_CLOCKS_NEXT_DUE ? NAN : 0);
		return;
	}
	for (i = 0; i < d->md_nseries; i++) {
		evbuffer_add_printf(b, "%s{%s=\"%s\"} ", def->md_name,
		    def->md_label, d->md_series[i].ms_label);
		metrics_num(b, d->md_series[i].ms_value);
	}
}

/* The requests by route, method and status, and their durations. */
static void
metrics_write_requests(struct evbuffer *b)
{
	char labels[3 * METRICS_LABEL_MAX];
	const struct mroute *mr;
	int i, j;

	metrics_head(b, "hotlined_requests_total", "counter",
	    "Requests answered, by route, method and status");
	for (i = 0; i < metric_nroutes; i++) {
		mr = &metric_routes[i];
		for (j = 0; j < mr->mr_nstatus; j++)
			evbuffer_add_printf(b, "hotlined_requests_total{"
			    "route=\"%s\",method=\"%s\",status=\"%d\"} "
			    "%llu\n", mr->mr_route, mr->mr_method,
			    mr->mr_status[j], mr->mr_count[j]);
	}
	metrics_head(b, "hotlined_request_duration_seconds", "histogram",
	    "Time from a request read to its answer, by route and method");
	for (i = 0; i < metric_nroutes; i++) {
		mr = &metric_routes[i];
		snprintf(labels, sizeof(labels),
		    "route=\"%.*s\",method=\"%.*s\"", METRICS_LABEL_MAX - 1,
		    mr->mr_route, METRICS_LABEL_MAX - 1, mr->mr_method);
		metrics_hist_write(b, "hotlined_request_duration_seconds",
		    labels, &mr->mr_hist, latency_buckets,
		    NBUCKETS(latency_buckets));
	}
}

/* What other files keep: the pool, the queue, the escalation loop. */
static void
metrics_write_state(struct evbuffer *b)
{
	struct db_stats ds;
	double last, next, now = metrics_epoch();
	int s;

	db_stats(&ds);
	metrics_head(b, "hotlined_db_connections", "gauge",
	    "Database connections by role (pool, listen) and state");
	for (s = 0; s < DBC_NSTATES; s++) {
		if (s == DBC_LISTENING)
			continue;
		evbuffer_add_printf(b, "hotlined_db_connections{role=\"pool\","
		    "state=\"%s\"} %d\n", dbconn_state_name(s), ds.ds_pool[s]);
	}
	for (s = 0; s < DBC_NSTATES; s++) {
		if (s == DBC_IDLE || s == DBC_BUSY)
			continue;
		evbuffer_add_printf(b, "hotlined_db_connections{"
		    "role=\"listen\",state=\"%s\"} %d\n",
		    dbconn_state_name(s), ds.ds_listen == s);
	}
	metrics_head(b, "hotlined_db_queue_jobs", "gauge",
	    "Database jobs waiting for a connection");
	evbuffer_add_printf(b, "hotlined_db_queue_jobs %d\n", ds.ds_queued);

	metrics_head(b, "hotlined_escalation_last_pass_timestamp_seconds",
	    "gauge", "When the escalation loop last completed a pass (0: "
	    "never since start)");
	last = escalate_last_pass();
	evbuffer_add_printf(b, "hotlined_escalation_last_pass_timestamp_seconds"
	    " ");
	metrics_num(b, last > 0 ? now - (mono_now() - last) : 0);
	next = metric_data[M_CLOCKS_NEXT_DUE].md_nseries > 0 ?
	    metric_data[M_CLOCKS_NEXT_DUE].md_series[0].ms_value : NAN;
	metrics_head(b, "hotlined_clocks_overdue_seconds", "gauge",
	    "How long the earliest clock needing attention has been due "
	    "without being handled, as this daemon last learnt it (0: none)");
	evbuffer_add_printf(b, "hotlined_clocks_overdue_seconds ");
	metrics_num(b, !isnan(next) && next < now ? now - next : 0);
}

/* The whole exposition into a buffer. */
static void
metrics_write(struct evbuffer *b)
{
	int m;

	metrics_head(b, "hotlined_build_info", "gauge",
	    "The daemon's release, always 1");
	evbuffer_add_printf(b, "hotlined_build_info{version=\"%s\"} 1\n",
	    HOTLINED_VERSION);
	metrics_head(b, "process_start_time_seconds", "gauge",
	    "When the daemon started, in seconds since the epoch");
	evbuffer_add_printf(b, "process_start_time_seconds ");
	metrics_num(b, metric_started);
	metrics_write_requests(b);
	for (m = 0; m < M_COUNT; m++)
		metrics_write_def(b, m);
	metrics_write_state(b);
}

/* The exposition as a NUL-terminated string (malloc'd), or NULL. */
char *
metrics_text(size_t *len)
{
	struct evbuffer *b;
	char *text = NULL;
	size_t n;

	if ((b = evbuffer_new()) == NULL)
		return NULL;
	metrics_write(b);
	n = evbuffer_get_length(b);
	if ((text = malloc(n + 1)) != NULL) {
		evbuffer_remove(b, text, n);
		text[n] = '\0';
		if (len != NULL)
			*len = n;
	}
	evbuffer_free(b);
	return text;
}

/* Answer a scrape: GET (or HEAD) /metrics; anything else 404 or 405. */
static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	(void)arg;
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_add_header(h, "Content-Type", "text/plain");
		evbuffer_add_printf(out, "not found: the metrics are at "
		    "/metrics\n");
		evhttp_send_reply(req, 404, "Not Found", NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Content-Type", "text/plain");
		evhttp_add_header(h, "Allow", "GET, HEAD");
		evbuffer_add_printf(out, "use GET\n");
		evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
		return;
	}
	evhttp_add_header(h, "Content-Type", METRICS_CONTENT_TYPE);
	metrics_write(out);
	evhttp_send_reply(req, 200, "OK", NULL);
	log_debug("event=metrics_scrape bytes=%zu", evbuffer_get_length(out));
}

/* Make the series a family shows from the start (at zero). */
static void
metrics_preset(enum metric m)
{
	const char *p = metric_defs[m].md_preset;
	char word[METRICS_LABEL_MAX];
	size_t n;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, " ");
		if (n > 0 && n < sizeof(word)) {
			memcpy(word, p, n);
			word[n] = '\0';
			metrics_add(m, word, 0);
		}
		p += n;
		p += strspn(p, " ");
	}
}

/*
 * Start the registry and, unless metrics_listen is empty, the listener of
 * the scrapes; -1 (logged) if its address cannot be bound.
 */
int
metrics_init(struct event_base *base, const struct config *cf)
{
	char host[128];
	int m, port;

	metric_started = metrics_epoch();
	for (m = 0; m < M_COUNT; m++)
		metrics_preset(m);
	if (cf->cf_metrics_listen[0] == '\0') {
		log_info("event=metrics_disabled");
		return 0;
	}
	if (config_split_listen(cf->cf_metrics_listen, host, sizeof(host),
	    &port) == -1)
		return -1;
	if ((metric_http = evhttp_new(base)) == NULL)
		return -1;
	evhttp_set_gencb(metric_http, metrics_http_cb, NULL);
	evhttp_set_timeout(metric_http, METRICS_TIMEOUT_S);
	evhttp_set_max_headers_size(metric_http, METRICS_MAX_HEADERS);
	evhttp_set_max_body_size(metric_http, METRICS_MAX_BODY);
	evhttp_set_allowed_methods(metric_http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	if (evhttp_bind_socket_with_handle(metric_http, host,
	    (ev_uint16_t)port) == NULL) {
		log_errorx("event=listen_failed address=%s what=metrics",
		    cf->cf_metrics_listen);
		evhttp_free(metric_http);
		metric_http = NULL;
		return -1;
	}
	log_info("event=listening address=%s what=metrics",
	    cf->cf_metrics_listen);
	return 0;
}

/* Close the metrics listener and its connections. */
void
metrics_shutdown(void)
{
	if (metric_http != NULL)
		evhttp_free(metric_http);
	metric_http = NULL;
}
