/*
 * A hotline centre's reads: its caseload (GET /v1/cases) and its lookups by
 * keyed digest, of a caller's number (GET /v1/callers/{phone}/history) and
 * of a child's ID number, or name and birth date (GET /v1/children/cases).
 * An identifier looked up is normalised and digested here (normalise.c,
 * protect.c); only its digest goes to the database, which compares digests
 * and never decrypts, and records every lookup in the same transaction.
 * The answer of a caller's history comes sealed and is opened here.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotlined.h"

#define LIST_LIMIT_MAX	200		/* cases a page of the caseload holds */
#define SINCE_MAX	64		/* bytes of since= */
#define LOOKUP_TEXT_MAX	(64 * 4 + 1)	/* bytes of a name: 64 code points */
#define PHONE_MAX	64		/* bytes of a caller's number */

/* GET /v1/cases?state=&risk=&since=&cursor=&limit=: the centre's cases. */
void
caseload_list(struct request *r, struct evhttp_request *req, const char *id)
{
	static const char *const states[] = { "open", "closed", NULL };
	char since[SINCE_MAX], cursor[SINCE_MAX], risk[8], limit[8];
	struct query_arg q[] = {
		{ .qa_name = "state", .qa_words = states,
		    .qa_rule = "must be open or closed" },
		{ .qa_name = "risk", .qa_min = 1, .qa_max = 4,
		    .qa_rule = "must be a risk level from 1 to 4" },
		{ .qa_name = "since", .qa_buf = since, .qa_buflen = sizeof(since),
		    .qa_rule = "must be an RFC 3339 timestamp" },
		{ .qa_name = "cursor", .qa_buf = cursor,
		    .qa_buflen = sizeof(cursor),
		    .qa_rule = "must be the next_cursor of an earlier page" },
		{ .qa_name = "limit", .qa_min = 1, .qa_max = LIST_LIMIT_MAX,
		    .qa_rule = "must be between 1 and 200" },
	};
	const char *ps[5];
	struct api_error err;

	(void)id;
	if (route_query(r, req, q, sizeof(q) / sizeof(q[0])) == -1)
		return;
	if (q[2].qa_text != NULL &&
	    validate_since(q[2].qa_text, time(NULL), &err) == -1) {
		request_reply_error(r, &err, NULL, NULL);
		return;
	}
	if (q[3].qa_text != NULL && validate_case_number(q[3].qa_text) == -1) {
		api_fail(r, 400, "invalid_value", "cursor", q[3].qa_rule);
		return;
	}
	snprintf(risk, sizeof(risk), "%ld", q[1].qa_num);
	snprintf(limit, sizeof(limit), "%ld", q[4].qa_num);
	ps[0] = q[0].qa_word;
	ps[1] = q[1].qa_num == -1 ? NULL : risk;
	ps[2] = q[2].qa_text;
	ps[3] = q[3].qa_text;
	ps[4] = q[4].qa_num == -1 ? NULL : limit;
	api_read(r, STMT_CASE_LIST, api_read_done, ps, 5);
}

/* A caller's history came back: open its calls' summaries, then answer. */
static void
caseload_caller_done(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	struct request *r = arg;
	char *view;
	int status;

	if (api_job_begin(r, j, oc, res) == -1 ||
	    api_job_row(r, j, oc, res, 1) == -1)
		return;
	status = atoi(PQgetvalue(res, 0, 0));
	if (status >= 400) {
		request_set_code(r, PQgetvalue(res, 0, 2));
		request_reply(r, status, PQgetvalue(res, 0, 1), NULL, NULL);
	} else if ((view = protect_view(PQgetvalue(res, 0, 1))) == NULL) {
		log_errorx("event=view_failed id=%s", r->rq_id);
		api_fail(r, 500, "internal", NULL, "internal error");
	} else {
		request_reply(r, status, view, NULL, NULL);
		free(view);
	}
	PQclear(res);
	db_job_free(j);
}

/* GET /v1/callers/{phone}/history: the centre's earlier calls of a number. */
void
caseload_caller(struct request *r, struct evhttp_request *req,
    const char *param)
{
	char phone[PHONE_MAX], digest[2 * DIGEST_LEN + 1];
	const char *ps[1] = { digest };

	(void)req;
	if (validate_phone_param(param, phone, sizeof(phone)) == -1 ||
	    protect_lookup_digest("phone", phone, NULL, digest) == -1) {
		api_fail(r, 404, "not_found", NULL, "no such caller");
		return;
	}
	api_read(r, STMT_CALLER_HISTORY, caseload_caller_done, ps, 1);
}

/* GET /v1/children/cases?id_number= | ?name=&birth_date=: the centre's
 * cases about a child. */
void
caseload_child(struct request *r, struct evhttp_request *req, const char *id)
{
	char idn[32], name[LOOKUP_TEXT_MAX], birth[16];
	char digest[2 * DIGEST_LEN + 1];
	struct query_arg q[] = {
		{ .qa_name = "id_number", .qa_buf = idn, .qa_buflen = sizeof(idn),
		    .qa_rule = "must be an 18-character resident ID number" },
		{ .qa_name = "name", .qa_buf = name, .qa_buflen = sizeof(name),
		    .qa_rule = "must be at most 64 characters" },
		{ .qa_name = "birth_date", .qa_buf = birth,
		    .qa_buflen = sizeof(birth),
		    .qa_rule = "must be a calendar date YYYY-MM-DD" },
	};
	const char *ps[2];
	struct api_error err;
	int rc;

	(void)id;
	if (route_query(r, req, q, sizeof(q) / sizeof(q[0])) == -1)
		return;
	if (validate_child_lookup(q[0].qa_text, q[1].qa_text, q[2].qa_text,
	    time(NULL), &err) == -1) {
		request_reply_error(r, &err, NULL, NULL);
		return;
	}
	if (q[0].qa_text != NULL) {
		ps[0] = "id";
		rc = protect_lookup_digest("id", idn, NULL, digest);
	} else {
		ps[0] = "name_birth";
		rc = protect_lookup_digest("name_birth", name, birth, digest);
	}
	if (rc == -1) {
		log_errorx("event=digest_failed id=%s", r->rq_id);
		api_fail(r, 500, "internal", NULL, "internal error");
		return;
	}
	ps[1] = digest;
	api_read(r, STMT_CHILD_CASES, api_read_done, ps, 2);
}
