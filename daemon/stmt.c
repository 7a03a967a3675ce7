/*
 * The SQL the daemon runs: one prepared statement per entry of enum stmt,
 * prepared on every pool connection.  Every statement calls one function of
 * the hotline schema (sql/), which the daemon's role may execute; a job
 * names its statement by the enum, so a misspelt name does not compile.
 */
#include <stddef.h>

#include "hotlined.h"

/*
 * A prepared statement: its name on the connection, its SQL, its $n, and
 * whether it stores a new wrapped data key (its transaction then holds the
 * keys lock shared, see KEYS_LOCK_KEYS).
 */
struct stmt_def {
	const char	*sd_name;
	const char	*sd_sql;
	int		 sd_nparams;
	int		 sd_seals;
};

/*
 * The escalations an escalation statement made: the assignments its
 * transaction inserted (only an escalation inserts one there), read after
 * the function in FROM has run.
 */
#define ESCALATED_COUNT	"pg_stat_get_xact_tuples_inserted(" \
	    "'hotline.assignments'::regclass)"

static const struct stmt_def stmt_defs[STMT_COUNT] = {
	[STMT_INTAKE_CALL] = { "intake_call", "select status, "
	    "response::text, replayed, code from "
	    "hotline.intake_call($1::bigint, $2::text, $3::bytea, $4::jsonb)",
	    4, 1 },
	[STMT_INTAKE_REPORT] = { "intake_report", "select status, "
	    "response::text, replayed, code from "
	    "hotline.intake_report($1::bigint, $2::text, $3::bytea, $4::jsonb)",
	    4, 1 },
	[STMT_INTAKE_REPORTS] = { "intake_reports", "select status, "
	    "response::text, replayed, code, n from "
	    "hotline.intake_reports($1::bigint[], $2::text[], $3::bytea[], "
	    "$4::jsonb)", 4, 1 },
	[STMT_CASE_VIEW] = { "case_view", "select "
	    "hotline.case_view($1::bigint, $2::text)::text", 2 },
	[STMT_CLIENT_LIST] = { "client_list", "select id, name, role, "
	    "agency_id, cert_sha256, revoked, centre from "
	    "hotline.client_identities()", 0 },
	[STMT_IDEM_EXPIRE] = { "idem_expire", "select "
	    "hotline.idempotency_expire($1::interval)", 1 },
	[STMT_QUEUE_LIST] = { "queue_page", "select status, response::text, "
	    "code, mark, found, pending from hotline.queue_page($1::bigint, "
	    "$2::text, $3::integer, $4::text, $5::text)", 5 },
	[STMT_QUEUE_TOUCHED] = { "queue_touched", "select unnest("
	    "hotline.queue_touched($1::bigint[], $2::bigint[]))", 2 },
	[STMT_ASSIGNMENT_ACK] = { "assignment_ack", "select status, "
	    "response::text, replayed, code from "
	    "hotline.assignment_ack($1::bigint, $2::text, $3::bytea, $4::text)",
	    4 },
	[STMT_CASE_POST_EVENT] = { "case_post_event", "select status, "
	    "response::text, replayed, code from "
	    "hotline.case_post_event($1::bigint, $2::text, $3::bytea, $4::text, "
	    "$5::jsonb)", 5 },
	[STMT_ASSIGNMENT_TRANSFER] = { "assignment_transfer", "select status, "
	    "response::text, replayed, code from "
	    "hotline.assignment_transfer($1::bigint, $2::text, $3::bytea, "
	    "$4::text, $5::jsonb)", 5 },
	[STMT_REPORT_STATUS] = { "report_status", "select "
	    "hotline.report_status($1::bigint, $2::text)::text", 2 },
	[STMT_SUPERVISION_OVERDUE] = { "supervision_overdue", "select status, "
	    "response::text, code from "
	    "hotline.supervision_overdue_page($1::bigint, $2::text, $3::text, "
	    "$4::timestamptz, $5::bigint, $6::integer)", 6 },
	[STMT_SUPERVISION_RECORDS] = { "supervision_records", "select status, "
	    "response::text, code from "
	    "hotline.supervision_record_list($1::bigint, $2::timestamptz, "
	    "$3::bigint, $4::integer)", 4 },
	[STMT_ESCALATE_DUE] = { "escalate_due_shard", "select handled, "
	    "extract(epoch from next_due), " ESCALATED_COUNT " from "
	    "hotline.escalate_due_shard($1::integer, $2::integer, $3::integer)", 3 },
	[STMT_CLOCK_NEXT_DUE] = { "clock_next_due", "select "
	    "extract(epoch from hotline.clock_next_due())", 0 },
	[STMT_CLOCK_DUE_IDS] = { "clock_due_ids", "select "
	    "unnest(hotline.clock_due_ids($1::integer))", 1 },
	[STMT_ESCALATE_CLOCKS] = { "escalate_clocks", "select handled, "
	    "extract(epoch from next_due), " ESCALATED_COUNT " from "
	    "hotline.escalate_clocks($1::bigint[])", 1 },
	[STMT_CLOCK_SET_ASIDE] = { "clock_set_aside", "select "
	    "hotline.clock_set_aside($1::bigint, $2::text)", 2 },
	[STMT_CASE_KEY] = { "case_key", "select hotline.case_key($1::bigint, "
	    "$2::text, $3::text)::text", 3 },
	[STMT_ACCESS_REQUEST_CREATE] = { "access_request_create", "select "
	    "status, response::text, replayed, code from "
	    "hotline.access_request_create($1::bigint, $2::text, $3::bytea, "
	    "$4::text, $5::jsonb)", 5 },
	[STMT_ACCESS_APPROVE] = { "access_approve", "select status, "
	    "response::text, replayed, code from "
	    "hotline.access_request_decide($1::bigint, $2::text, $3::bytea, "
	    "$4::text, 'approve')", 4 },
	[STMT_ACCESS_DENY] = { "access_deny", "select status, "
	    "response::text, replayed, code from "
	    "hotline.access_request_decide($1::bigint, $2::text, $3::bytea, "
	    "$4::text, 'deny')", 4 },
	[STMT_ACCESS_REQUEST_LIST] = { "access_request_list", "select status, "
	    "response::text, code from hotline.access_request_list($1::bigint, "
	    "$2::text)", 2 },
	[STMT_ACCESS_LOG_VIEW] = { "access_log_view", "select status, "
	    "response::text, code from hotline.access_log_view($1::bigint, "
	    "$2::text)", 2 },
	[STMT_SCHEMA_VERSION] = { "schema_version", "select "
	    "hotline.schema_version()", 0 },
	[STMT_STATS_VIEW] = { "stats_view", "select status, response::text, "
	    "code from hotline.stats_view($1::bigint, $2::text, $3::text, "
	    "$4::text, $5::text)", 5 },
	[STMT_STATS_REFRESH] = { "stats_refresh", "select taken, more, busy "
	    "from hotline.stats_refresh($1::integer)", 1 },
	[STMT_CASE_OPEN] = { "case_open", "select status, response::text, "
	    "replayed, code from "
	    "hotline.case_open($1::bigint, $2::text, $3::bytea, $4::jsonb)",
	    4, 1 },
	[STMT_WORK_KEY] = { "work_key", "select hotline.work_key($1::bigint, "
	    "$2::text, $3::text, coalesce($4::boolean, false))::text", 4 },
	[STMT_CASE_NOTE] = { "case_note_add", "select status, "
	    "response::text, replayed, code from "
	    "hotline.case_note_add($1::bigint, $2::text, $3::bytea, $4::text, "
	    "$5::jsonb)", 5 },
	[STMT_CASE_RISK] = { "case_risk_set", "select status, "
	    "response::text, replayed, code from "
	    "hotline.case_risk_set($1::bigint, $2::text, $3::bytea, $4::text, "
	    "$5::jsonb)", 5 },
	[STMT_CASE_CATEGORIES] = { "case_categories_add", "select status, "
	    "response::text, replayed, code from "
	    "hotline.case_categories_add($1::bigint, $2::text, $3::bytea, "
	    "$4::text, $5::jsonb)", 5 },
	[STMT_CASE_CHILD] = { "case_child_correct", "select status, "
	    "response::text, replayed, code from "
	    "hotline.case_child_correct($1::bigint, $2::text, $3::bytea, "
	    "$4::text, $5::jsonb)", 5 },
	[STMT_CASE_LINK] = { "case_link", "select status, response::text, "
	    "replayed, code from hotline.case_link($1::bigint, $2::text, "
	    "$3::bytea, $4::text, $5::jsonb)", 5 },
	[STMT_REPORT_SUPPLEMENT] = { "report_supplement", "select status, "
	    "response::text, replayed, code from "
	    "hotline.report_supplement($1::bigint, $2::text, $3::bytea, "
	    "$4::text, $5::jsonb)", 5 },
	[STMT_CASE_LIST] = { "case_list", "select status, response::text, "
	    "code from hotline.case_list($1::bigint, $2::text, $3::integer, "
	    "$4::timestamptz, $5::text, $6::integer)", 6 },
	[STMT_CALLER_HISTORY] = { "caller_history", "select status, "
	    "response::text, code from hotline.caller_history($1::bigint, "
	    "$2::text)", 2 },
	[STMT_CHILD_CASES] = { "child_cases", "select status, "
	    "response::text, code from hotline.child_cases($1::bigint, "
	    "$2::text, $3::text)", 3 },
};

/*
 * Statements whose jobs, batched, go as one call of a grouped form taking
 * each parameter as an array (dbbatch.c): its columns are the single
 * statement's, then the job's place.
 */
static const struct {
	enum stmt	 sg_single;
	enum stmt	 sg_group;
} stmt_groups[] = {
	{ STMT_INTAKE_REPORT, STMT_INTAKE_REPORTS },
};

/* Check that every statement of the enum has its SQL; 0 if so. */
int
stmt_check(void)
{
	int i;

	for (i = 0; i < STMT_COUNT; i++) {
		if (stmt_defs[i].sd_name == NULL || stmt_defs[i].sd_sql == NULL) {
			log_errorx("event=bug reason=\"statement without SQL\" "
			    "stmt=%d", i);
			return -1;
		}
	}
	return 0;
}

/* The name a statement is prepared under (also its name in logs). */
const char *
stmt_name(enum stmt s)
{
	return stmt_defs[s].sd_name;
}

/* The SQL of a statement. */
const char *
stmt_sql(enum stmt s)
{
	return stmt_defs[s].sd_sql;
}

/* How many parameters a statement takes. */
int
stmt_nparams(enum stmt s)
{
	return stmt_defs[s].sd_nparams;
}

/* Whether a statement stores a new wrapped data key. */
int
stmt_seals(enum stmt s)
{
	return stmt_defs[s].sd_seals;
}

/* The grouped form of a statement (an enum stmt), or -1 if it has none. */
int
stmt_group(enum stmt s)
{
	size_t i;

	for (i = 0; i < sizeof(stmt_groups) / sizeof(stmt_groups[0]); i++)
		if (stmt_groups[i].sg_single == s)
			return (int)stmt_groups[i].sg_group;
	return -1;
}
