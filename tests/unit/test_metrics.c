/*
 * Unit tests for the metrics registry and its exposition: counters and
 * gauges with and without a label, cumulative histogram buckets, requests
 * by route, method and status, label values reduced to a safe alphabet,
 * and families that stop growing at their bound.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"
#include "unit.h"

/* Whether the exposition has this exact line. */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

/* How many lines start with this prefix. */
static int
count_prefix(const char *text, const char *prefix)
{
	const char *p = text;
	int n = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return n;
}

int
main(void)
{
	struct config cf;
	char *t, label[32];
	size_t len = 0;
	int i;

	log_init(1, LOG_LVL_WARN);
	config_defaults(&cf);
	CHECK(strcmp(cf.cf_metrics_listen, "127.0.0.1:9355") == 0,
	    "metrics are served on 127.0.0.1:9355 by default");
	cf.cf_metrics_listen[0] = '\0';
	CHECK(metrics_init(NULL, &cf) == 0, "metrics_listen empty: no listener");
	t = metrics_text(&len);
	CHECK(t != NULL && len == strlen(t), "the exposition is text of its length");
	CHECK(has_line(t, "hotlined_clocks_next_due_timestamp_seconds NaN"),
	    "no clock learnt yet: the next due time is NaN");
	CHECK(has_line(t, "hotlined_db_queue_jobs 0"), "the job queue is read");
	CHECK(has_line(t, "# TYPE hotlined_requests_total counter") &&
	    has_line(t, "# TYPE hotlined_db_roundtrip_seconds histogram") &&
	    has_line(t, "# TYPE hotlined_connections gauge"),
	    "each family has its TYPE line");
	free(t);

	metrics_request("reports", "POST", 201, 0.003);
	metrics_request("reports", "POST", 201, 0.2);
	metrics_request("reports", "POST", 503, 40);
	metrics_request("-", "GET", 400, 0);
	metrics_add(M_CONNECTIONS, "certified", 1);
	metrics_add(M_CONNECTIONS, "certified", 1);
	metrics_add(M_CONNECTIONS, "certified", -1);
	metrics_add(M_TLS_HANDSHAKE_FAILURES, "unknown CA", 1);
	metrics_add(M_DB_CONN_FAILURES, "connection lost", 1);
	metrics_set(M_IDENT_CLIENTS, NULL, 34);
	metrics_observe(M_DB_BATCH_SIZE, 3);
	metrics_observe(M_DB_BATCH_SIZE, 32);
	metrics_observe(M_DB_BATCH_SIZE, 1000);
	metrics_set(M_CLOCKS_NEXT_DUE, NULL, 1800000000.5);
	t = metrics_text(NULL);
	CHECK(has_line(t, "hotlined_requests_total{route=\"reports\","
	    "method=\"POST\",status=\"201\"} 2") &&
	    has_line(t, "hotlined_requests_total{route=\"reports\","
	    "method=\"POST\",status=\"503\"} 1"),
	    "requests are counted by route, method and status");
	CHECK(has_line(t, "hotlined_requests_total{route=\"none\","
	    "method=\"GET\",status=\"400\"} 1"),
	    "a request never routed counts under route none");
	CHECK(has_line(t, "hotlined_request_duration_seconds_bucket{"
	    "route=\"reports\",method=\"POST\",le=\"0.001\"} 0") &&
	    has_line(t, "hotlined_request_duration_seconds_bucket{"
	    "route=\"reports\",method=\"POST\",le=\"0.005\"} 1") &&
	    has_line(t, "hotlined_request_duration_seconds_bucket{"
	    "route=\"reports\",method=\"POST\",le=\"0.25\"} 2") &&
	    has_line(t, "hotlined_request_duration_seconds_bucket{"
	    "route=\"reports\",method=\"POST\",le=\"30\"} 2") &&
	    has_line(t, "hotlined_request_duration_seconds_bucket{"
	    "route=\"reports\",method=\"POST\",le=\"+Inf\"} 3") &&
	    has_line(t, "hotlined_request_duration_seconds_count{"
	    "route=\"reports\",method=\"POST\"} 3"),
	    "latency buckets are cumulative, the slowest only under +Inf");
	CHECK(has_line(t, "hotlined_request_duration_seconds_sum{"
	    "route=\"reports\",method=\"POST\"} 40.203"),
	    "the latency sum adds every duration");
	CHECK(has_line(t, "hotlined_connections{state=\"certified\"} 1") &&
	    has_line(t, "hotlined_connections{state=\"uncertified\"} 0") &&
	    has_line(t, "hotlined_connections{state=\"handshake\"} 0"),
	    "a gauge goes up and down; its preset states show at zero");
	CHECK(has_line(t, "hotlined_tls_handshake_failures_total{reason="
	    "\"unknown_CA\"} 1") &&
	    has_line(t, "hotlined_db_connection_failures_total{reason="
	    "\"connection_lost\"} 1"),
	    "label values keep letters, digits and '_' only");
	CHECK(has_line(t, "hotlined_identity_clients 34"),
	    "a gauge without a label is set");
	CHECK(has_line(t, "hotlined_db_batch_size_bucket{le=\"2\"} 0") &&
	    has_line(t, "hotlined_db_batch_size_bucket{le=\"4\"} 1") &&
	    has_line(t, "hotlined_db_batch_size_bucket{le=\"32\"} 2") &&
	    has_line(t, "hotlined_db_batch_size_bucket{le=\"256\"} 2") &&
	    has_line(t, "hotlined_db_batch_size_bucket{le=\"+Inf\"} 3") &&
	    has_line(t, "hotlined_db_batch_size_sum 1035"),
	    "a batch of 32 is in le=32, one larger than every bound only in +Inf");
	CHECK(has_line(t, "hotlined_clocks_next_due_timestamp_seconds "
	    "1800000000.5"), "the next due time is shown once learnt");
	CHECK(has_line(t, "hotlined_clocks_overdue_seconds 0"),
	    "a clock due in the future is not overdue");
	free(t);

	metrics_set(M_CLOCKS_NEXT_DUE, NULL, 1000000000);
	t = metrics_text(NULL);
	CHECK(!has_line(t, "hotlined_clocks_overdue_seconds 0") &&
	    count_prefix(t, "hotlined_clocks_overdue_seconds ") == 1,
	    "a clock due in the past shows as overdue");
	free(t);

	for (i = 0; i < 100; i++) {
		snprintf(label, sizeof(label), "reason%d", i);
		metrics_add(M_DB_CONN_FAILURES, label, 1);
	}
	t = metrics_text(NULL);
	CHECK(count_prefix(t, "hotlined_db_connection_failures_total{") == 32,
	    "a family stops at 32 series");
	CHECK(has_line(t, "hotlined_db_connection_failures_total{reason="
	    "\"other\"} 70"),
	    "the label values beyond the bound count under other");
	free(t);

	for (i = 0; i < 100; i++) {
		snprintf(label, sizeof(label), "route%d", i);
		metrics_request(label, "GET", 200 + i % 20, 0.01);
	}
	t = metrics_text(NULL);
	CHECK(count_prefix(t, "hotlined_request_duration_seconds_count{") == 64,
	    "routes and methods stop at 64 pairs");
	CHECK(strstr(t, "route=\"other\",method=\"other\"") != NULL,
	    "the pairs beyond the bound count under other");
	free(t);
	UNIT_EXIT();
}
