/*
 * Routing: one table of every endpoint.  A row gives the method, the path
 * ('*' is the one path parameter), how that parameter is checked, which
 * client roles may call it, the route's name in the request log, and what
 * handles it: a handler, or for a POST the mutation mutate.c runs.  The
 * table alone decides dispatch, 405 with Allow, the log name and
 * authorization by role; a handler starts with a request it may serve.
 *
 * Order of answers: unknown path 404 (after authentication under /v1/);
 * then authentication (401, 403, 503); wrong method 405; malformed
 * parameter 404 (as for one that does not exist); role 403.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "hotlined.h"

#define ROUTE_GET	0x1		/* GET, and HEAD */
#define ROUTE_POST	0x2

#define ROUTE_ID_MAX	64		/* bytes of a path parameter, NUL too */
#define RECEIPT_LEN	21		/* R and 20 base-32 characters */
#define UUID_LEN	36

/* How a path parameter is checked, and the 404 when it is malformed. */
struct route_id {
	int		(*ri_valid)(const char *);
	const char	*ri_missing;
};

/* One endpoint. */
struct route {
	int			 rt_method;	/* ROUTE_GET or ROUTE_POST */
	const char		*rt_path;	/* '*': the path parameter */
	const struct route_id	*rt_id;		/* how '*' is checked */
	unsigned int		 rt_roles;	/* ROLE_BIT()s; ROLES_PUBLIC */
	const char		*rt_forbidden;	/* 403 message, NULL: generic */
	const char		*rt_log;	/* route= in the log line */
	route_handler		 rt_handler;	/* a GET, or NULL */
	const struct mutation	*rt_mutation;	/* a POST (mutate.c) */
};

static int	route_case_number(const char *);
static int	route_uuid(const char *);
static int	route_receipt(const char *);
static int	route_phone(const char *);

static const struct route_id id_case = { route_case_number, "no such case" };
static const struct route_id id_assignment = { route_uuid,
    "no such assignment" };
static const struct route_id id_access = { route_uuid,
    "no such access request" };
static const struct route_id id_receipt = { route_receipt, "no such report" };
static const struct route_id id_console = { static_name_valid,
    "no such console file" };
static const struct route_id id_phone = { route_phone,
    "no such caller: the number must be a phone number" };

#define OPERATOR	ROLE_BIT(ROLE_OPERATOR)
#define GATEWAY		ROLE_BIT(ROLE_GATEWAY)
#define AGENCY		ROLE_BIT(ROLE_AGENCY)
#define STATS		(ROLE_BIT(ROLE_STATISTICIAN) | ROLE_BIT(ROLE_ADMIN) | \
			    AGENCY)
#define NOT_OPERATOR	"only an operator of a hotline centre may use this endpoint"

static const struct route routes[] = {
	{ ROUTE_GET, "/healthz", NULL, ROLES_PUBLIC, NULL, "healthz",
	    api_health, NULL },
	{ ROUTE_GET, "/readyz", NULL, ROLES_PUBLIC, NULL, "readyz",
	    api_ready, NULL },
	{ ROUTE_POST, "/v1/calls", NULL, OPERATOR, NULL, "calls",
	    NULL, &mutate_calls },
	{ ROUTE_POST, "/v1/reports", NULL, GATEWAY, NULL, "reports",
	    NULL, &mutate_reports },
	{ ROUTE_GET, "/v1/reports/*/status", &id_receipt, GATEWAY, NULL,
	    "report_status", api_report_status, NULL },
	{ ROUTE_POST, "/v1/reports/*/supplements", &id_receipt, GATEWAY,
	    NULL, "report_supplements", NULL, &mutate_supplements },
	{ ROUTE_GET, "/v1/cases", NULL, OPERATOR, NOT_OPERATOR, "cases",
	    caseload_list, NULL },
	{ ROUTE_POST, "/v1/cases", NULL, OPERATOR, NOT_OPERATOR, "cases",
	    NULL, &mutate_case_open },
	{ ROUTE_GET, "/v1/cases/*", &id_case, ROLES_ANY, NULL, "case",
	    api_case, NULL },
	{ ROUTE_POST, "/v1/cases/*/events", &id_case, AGENCY, NULL, "case",
	    NULL, &mutate_events },
	{ ROUTE_POST, "/v1/cases/*/notes", &id_case, OPERATOR, NOT_OPERATOR,
	    "case_work", NULL, &mutate_notes },
	{ ROUTE_POST, "/v1/cases/*/risk", &id_case, OPERATOR, NOT_OPERATOR,
	    "case_work", NULL, &mutate_risk },
	{ ROUTE_POST, "/v1/cases/*/categories", &id_case, OPERATOR,
	    NOT_OPERATOR, "case_work", NULL, &mutate_categories },
	{ ROUTE_POST, "/v1/cases/*/child", &id_case, OPERATOR, NOT_OPERATOR,
	    "case_work", NULL, &mutate_child },
	{ ROUTE_POST, "/v1/cases/*/links", &id_case, OPERATOR | AGENCY,
	    "only an operator or an agency links cases", "case_work", NULL,
	    &mutate_links },
	{ ROUTE_GET, "/v1/callers/*/history", &id_phone, OPERATOR,
	    NOT_OPERATOR, "lookup", caseload_caller, NULL },
	{ ROUTE_GET, "/v1/children/cases", NULL, OPERATOR, NOT_OPERATOR,
	    "lookup", caseload_child, NULL },
	{ ROUTE_POST, "/v1/cases/*/access-requests", &id_case,
	    AGENCY | ROLE_BIT(ROLE_ADMIN), NULL, "case", NULL, &mutate_access },
	{ ROUTE_GET, "/v1/cases/*/access-log", &id_case, ROLES_ANY, NULL,
	    "case", api_access_log, NULL },
	{ ROUTE_GET, "/v1/queue", NULL, AGENCY, "only an agency has a queue",
	    "queue", queue_get, NULL },
	{ ROUTE_POST, "/v1/assignments/*/ack", &id_assignment, AGENCY, NULL,
	    "assignment", NULL, &mutate_ack },
	{ ROUTE_POST, "/v1/assignments/*/transfer", &id_assignment, AGENCY,
	    NULL, "assignment", NULL, &mutate_transfer },
	{ ROUTE_GET, "/v1/supervision/overdue", NULL, ROLES_ANY, NULL,
	    "supervision", api_supervision, NULL },
	{ ROUTE_GET, "/v1/supervision/records", NULL, ROLES_ANY, NULL,
	    "supervision", api_supervision_records, NULL },
	{ ROUTE_GET, "/v1/access-requests", NULL, ROLES_ANY, NULL,
	    "access_requests", api_access_list, NULL },
	{ ROUTE_POST, "/v1/access-requests/*/approve", &id_access, ROLES_ANY,
	    NULL, "access_requests", NULL, &mutate_approve },
	{ ROUTE_POST, "/v1/access-requests/*/deny", &id_access, ROLES_ANY,
	    NULL, "access_requests", NULL, &mutate_deny },
	{ ROUTE_GET, "/v1/version", NULL, ROLES_ANY, NULL, "version",
	    api_version, NULL },
	{ ROUTE_GET, "/v1/stats", NULL, STATS, "only statisticians, "
	    "administrators and agencies read statistics", "stats", api_stats,
	    NULL },
	{ ROUTE_GET, "/console", NULL, ROLES_ANY, NULL, "static",
	    static_get, NULL },
	{ ROUTE_GET, "/console/**", &id_console, ROLES_ANY, NULL, "static",
	    static_get, NULL },
};

/* Check a case number path parameter. */
static int
route_case_number(const char *s)
{
	return validate_case_number(s) == 0;
}

/* Check a receipt id: R and 20 base-32 characters. */
static int
route_receipt(const char *s)
{
	return strlen(s) == RECEIPT_LEN && s[0] == 'R' &&
	    strspn(s + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") ==
	    RECEIPT_LEN - 1;
}

/* Check a caller's number (validate.c decodes a leading %2B). */
static int
route_phone(const char *s)
{
	char phone[ROUTE_ID_MAX];

	return validate_phone_param(s, phone, sizeof(phone)) == 0;
}

/* Check an assignment or access request id (a UUID). */
static int
route_uuid(const char *s)
{
	size_t i;

	if (strlen(s) != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (strchr("0123456789abcdefABCDEF", s[i]) == NULL ||
		    s[i] == '\0')
			return 0;
	}
	return 1;
}

/*
 * Whether a path matches a route's pattern, segment by segment: no empty
 * segment (no "//", no trailing "/"); '*' matches one segment shorter
 * than ROUTE_ID_MAX, copied into id; a last "**" matches the rest of the
 * path, empty or not, if it is shorter than ROUTE_ID_MAX.
 */
static int
route_match(const char *pattern, const char *path, char id[ROUTE_ID_MAX])
{
	const char *p = pattern, *s = path;
	size_t n, m;

	id[0] = '\0';
	while (*p != '\0') {
		if (*p++ != '/' || *s++ != '/')
			return 0;
		if (strcmp(p, "**") == 0) {
			if ((n = strlen(s)) >= ROUTE_ID_MAX)
				return 0;
			memcpy(id, s, n + 1);
			return 1;
		}
		if ((n = strcspn(s, "/")) == 0)
			return 0;
		m = strcspn(p, "/");
		if (m == 1 && *p == '*') {
			if (n >= ROUTE_ID_MAX)
				return 0;
			memcpy(id, s, n);
			id[n] = '\0';
		} else if (m != n || strncmp(p, s, n) != 0)
			return 0;
		p += m;
		s += n;
	}
	return *s == '\0';
}

/* Answer 405 naming the methods the path takes (also in Allow). */
static void
route_method(struct request *r, int methods)
{
	struct api_error err;

	if (methods == (ROUTE_GET | ROUTE_POST))
		error_set(&err, 405, "method_not_allowed", NULL,
		    "use GET or POST");
	else
		error_set(&err, 405, "method_not_allowed", NULL, "use %s",
		    methods == ROUTE_GET ? "GET" : "POST");
	request_reply_error(r, &err, "Allow", methods == ROUTE_GET ?
	    "GET, HEAD" : methods == ROUTE_POST ? "POST" : "GET, HEAD, POST");
}

/* Route a request to its handler. */
void
route_dispatch(struct request *r, struct evhttp_request *req)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const struct route *rt, *found = NULL, *match = NULL;
	char id[ROUTE_ID_MAX], match_id[ROUTE_ID_MAX];
	int method, methods = 0;
	size_t i;

	if (path == NULL) {
		api_fail(r, 400, "bad_request", NULL, "malformed request target");
		return;
	}
	method = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD ? ROUTE_GET :
	    cmd == EVHTTP_REQ_POST ? ROUTE_POST : 0;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		rt = &routes[i];
		if (!route_match(rt->rt_path, path, id))
			continue;
		methods |= rt->rt_method;
		if (found == NULL)
			found = rt;
		if (match == NULL && rt->rt_method == method) {
			match = rt;
			memcpy(match_id, id, sizeof(match_id));
		}
	}
	if (found == NULL) {
		if (strncmp(path, "/v1/", 4) == 0) {
			r->rq_route = "other";
			if (api_authenticate(r) == -1)
				return;
		}
		api_fail(r, 404, "not_found", NULL, "no such resource");
		return;
	}
	rt = match != NULL ? match : found;
	r->rq_route = rt->rt_log;
	if (rt->rt_roles != ROLES_PUBLIC && api_authenticate(r) == -1)
		return;
	if (match == NULL)
		route_method(r, methods);
	else if (rt->rt_id != NULL && !rt->rt_id->ri_valid(match_id))
		api_fail(r, 404, "not_found", NULL, rt->rt_id->ri_missing);
	else if (rt->rt_roles != ROLES_PUBLIC &&
	    (rt->rt_roles & ROLE_BIT(r->rq_ident.id_role)) == 0)
		api_fail(r, 403, "forbidden", NULL, rt->rt_forbidden != NULL ?
		    rt->rt_forbidden :
		    "this client's role may not use this endpoint");
	else if (rt->rt_mutation != NULL)
		mutate_start(r, req, rt->rt_mutation, rt->rt_id != NULL ?
		    match_id : NULL);
	else
		rt->rt_handler(r, req, rt->rt_id != NULL ? match_id : NULL);
}

/* Parse a small non-negative integer query parameter; -1 if malformed. */
static long
route_query_int(const char *v, long max)
{
	char *end;
	long n;

	if (v == NULL || *v < '0' || *v > '9' || strlen(v) > 6)
		return -1;
	n = strtol(v, &end, 10);
	return *end != '\0' || n > max ? -1 : n;
}

/*
 * Read a GET's query string against its parameters, in their order: a
 * word must be one of qa_words (else 400 invalid_value), a number within
 * [qa_min, qa_max] (else 400 out_of_range), a text must fit qa_buf and
 * pass qa_check if it has one (else 400 invalid_value; without a check,
 * 400 too_long if it does not fit, and its handler checks the rest);
 * others are ignored.  Fills qa_word and qa_text (NULL when absent) and
 * qa_num (-1 when absent).  -1 when the request was answered.
 */
int
route_query(struct request *r, struct evhttp_request *req,
    struct query_arg *q, size_t nq)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *s = evhttp_uri_get_query(uri), *v;
	struct evkeyvalq params;
	size_t i, k;

	params.tqh_first = NULL;
	params.tqh_last = &params.tqh_first;
	if (s != NULL && evhttp_parse_query_str(s, &params) == -1) {
		api_fail(r, 400, "bad_request", NULL, "malformed query");
		return -1;
	}
	for (i = 0; i < nq; i++) {
		q[i].qa_word = NULL;
		q[i].qa_num = -1;
		q[i].qa_text = NULL;
		if ((v = evhttp_find_header(&params, q[i].qa_name)) == NULL)
			continue;
		if (q[i].qa_buf != NULL) {
			if (strlen(v) < q[i].qa_buflen && (q[i].qa_check ==
			    NULL || q[i].qa_check(v) == 0)) {
				memcpy(q[i].qa_buf, v, strlen(v) + 1);
				q[i].qa_text = q[i].qa_buf;
				continue;
			}
			api_fail(r, 400, q[i].qa_check != NULL ?
			    "invalid_value" : "too_long", q[i].qa_name,
			    q[i].qa_rule);
		} else if (q[i].qa_words != NULL) {
			for (k = 0; q[i].qa_words[k] != NULL; k++)
				if (strcmp(v, q[i].qa_words[k]) == 0)
					break;
			if ((q[i].qa_word = q[i].qa_words[k]) != NULL)
				continue;
			api_fail(r, 400, "invalid_value", q[i].qa_name,
			    q[i].qa_rule);
		} else {
			q[i].qa_num = route_query_int(v, q[i].qa_max);
			if (q[i].qa_num >= q[i].qa_min)
				continue;
			api_fail(r, 400, "out_of_range", q[i].qa_name,
			    q[i].qa_rule);
		}
		evhttp_clear_headers(&params);
		return -1;
	}
	evhttp_clear_headers(&params);
	return 0;
}
