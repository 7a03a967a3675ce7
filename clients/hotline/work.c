/*
 * An agency's work: its queue (and watching it), acknowledging an
 * assignment, outcomes (among them marking it outside the jurisdiction,
 * and closing an inform or supervise assignment), notes, feedback to the
 * reporting unit, and transfers.  Outcome words are passed to the daemon
 * as given (with - read as _), so outcomes the API gains need no new
 * client.
 *
 * Watching: the daemon holds a queue request (wait=) only while the list
 * it would answer is empty, and has no "newer than" cursor.  So the
 * watcher long-polls while the queue is empty (an assignment created by
 * any daemon answers at once) and, while it is not, asks again every
 * watch_interval seconds; either way an assignment not in the previous
 * answer is printed as new.  A daemon that goes away is retried without a
 * time limit, with the usual back-off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hotline.h"

#define WATCH_GAP_MIN	1.0	/* s between two polls at least */
#define WORK_COLUMNS	9	/* of a table of assignments */

static int	cmd_queue(struct hl *, const struct cmd_args *);
static int	cmd_ack(struct hl *, const struct cmd_args *);
static int	cmd_outcome(struct hl *, const struct cmd_args *);
static int	cmd_note(struct hl *, const struct cmd_args *);
static int	cmd_feedback(struct hl *, const struct cmd_args *);
static int	cmd_transfer(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_queue_entry = {
	.ce_name = "queue",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = {
		{ "state", "state", 0 },
		{ "limit", "n", 0 },
		{ "watch", NULL, 0 },
	},
	.ce_help = "the agency's assignments, most urgent first: risk, case, "
	    "role, state, categories, the nearest clock and its time left; "
	    "--watch keeps printing each new assignment as it arrives",
	.ce_exec = cmd_queue,
};

const struct cmd_entry cmd_ack_entry = {
	.ce_name = "ack",
	.ce_args = "<assignment>",
	.ce_nargs = 1,
	.ce_opts = CMD_POST,
	.ce_help = "acknowledge an assignment (stops its acknowledge clock)",
	.ce_exec = cmd_ack,
};

const struct cmd_entry cmd_outcome_entry = {
	.ce_name = "outcome",
	.ce_args = "<case> <outcome>",
	.ce_nargs = 2,
	.ce_flags = {
		{ "police-case-number", "n", 0 },
		{ "reason", "text", 0 },
		{ "text", "text", 0 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "record an outcome of the agency's assignment: accepted "
	    "(受案), case-opened (立案, with --police-case-number), declined "
	    "(不予立案, with --reason), outside-jurisdiction (不属于本机关管辖: "
	    "starts the 24-hour transfer clock), prosecution, resolved, or "
	    "closed (also how an inform or supervise assignment, once "
	    "acknowledged, is finished; --text says why)",
	.ce_exec = cmd_outcome,
};

const struct cmd_entry cmd_note_entry = {
	.ce_name = "note",
	.ce_args = "<case> <text>",
	.ce_nargs = 2,
	.ce_opts = CMD_POST,
	.ce_help = "add a note to a case's history (an agency on its case, an "
	    "operator on its centre's)",
	.ce_exec = cmd_note,
};

const struct cmd_entry cmd_feedback_entry = {
	.ce_name = "feedback",
	.ce_args = "<case> [text]",
	.ce_nargs = 2,
	.ce_nopt = 1,
	.ce_flags = {
		{ "notice", "prosecution", 0 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "record the police's feedback to the reporting unit (stops "
	    "the feedback clock); the text is shown to the reporter; "
	    "--notice prosecution tells the unit, after 立案, that the case "
	    "goes for prosecution (needed before that outcome on a report)",
	.ce_exec = cmd_feedback,
};

const struct cmd_entry cmd_transfer_entry = {
	.ce_name = "transfer",
	.ce_args = "<assignment> <agency>",
	.ce_nargs = 2,
	.ce_flags = {
		{ "reason", "text", 1 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "hand an assignment to another agency (such as "
	    "police-320104)",
	.ce_exec = cmd_transfer,
};

/* The nearest running clock of an assignment and its time left:
 * "接收 52m", "办结 overdue 2h 05m"; "超时" if only missed ones. */
static void
work_next_clock(char *buf, size_t len, struct json_object *clocks,
    time_t now)
{
	struct json_object *c, *best = NULL;
	time_t due, best_due = 0;
	const char *status;
	char left[32];
	size_t i;
	int missed = 0;

	for (i = 0; i < jlen(clocks); i++) {
		c = jidx(clocks, i);
		status = jstr(c, "status");
		if (status != NULL && strcmp(status, "missed") == 0)
			missed = 1;
		if (status == NULL || (strcmp(status, "running") != 0 &&
		    strcmp(status, "warning") != 0) ||
		    time_parse(jstr(c, "due_at"), &due) == -1)
			continue;
		if (best == NULL || due < best_due) {
			best = c;
			best_due = due;
		}
	}
	if (best == NULL) {
		snprintf(buf, len, "%s", missed ?
		    label(LABEL_CLOCK_STATUS, "missed") : "-");
		return;
	}
	show_left(left, sizeof(left), best_due, now);
	snprintf(buf, len, "%s %s%s", label(LABEL_CLOCK, jstr(best, "kind")),
	    left, strcmp(jstr(best, "status"), "warning") == 0 ? " !" : "");
}

/* The heading of a table of assignments. */
void
work_assignment_head(struct table *t)
{
	table_add(t, "RISK", "CASE", "AGENCY", "ROLE", "STATE", "CATEGORIES",
	    "NEXT CLOCK", "ASSIGNMENT", "CASE UPDATED");
}

/* One assignment as a row of that table. */
void
work_assignment_row(struct table *t, struct json_object *a, time_t now)
{
	char risk[32], cats[512], clock[96], updated[64];

	show_risk(risk, sizeof(risk), jget(a, "risk_level"));
	show_categories(cats, sizeof(cats), jget(a, "categories"));
	work_next_clock(clock, sizeof(clock), jget(a, "clocks"), now);
	updated[0] = '\0';
	if (jstr(a, "case_updated_at") != NULL)
		show_time(updated, sizeof(updated), jstr(a, "case_updated_at"));
	table_add(t, risk, jstr(a, "case_number"), jstr(a, "agency"),
	    label(LABEL_ROLE, jstr(a, "role")),
	    label(LABEL_STATE, jstr(a, "state")), cats, clock,
	    jstr(a, "assignment_id"), updated);
}

/* Print the assignments of an answer as a table, or say there are none. */
void
work_print_assignments(struct json_object *answer)
{
	struct json_object *list = jget(answer, "assignments");
	struct table t;
	time_t now = time(NULL);
	size_t i;

	if (jlen(list) == 0) {
		printf("no assignments\n");
		return;
	}
	table_init(&t, WORK_COLUMNS);
	work_assignment_head(&t);
	for (i = 0; i < jlen(list); i++)
		work_assignment_row(&t, jidx(list, i), now);
	table_print(&t, stdout);
	table_clear(&t);
}

/* The queue's path: /v1/queue with its query; 0 or -1. */
static int
work_queue_path(char *buf, size_t len, const char *state, const char *limit,
    double wait)
{
	char w[32];

	snprintf(w, sizeof(w), "%.0f", wait);
	if (snprintf(buf, len, "/v1/queue") >= (int)len ||
	    api_param(buf, len, "limit", limit != NULL ? limit : "50") == -1 ||
	    api_param(buf, len, "state", state) == -1 ||
	    api_param(buf, len, "wait", wait > 0 ? w : NULL) == -1)
		return -1;
	return 0;
}

/* Whether an id is among the assignments of a list. */
static int
work_listed(struct json_object *list, const char *id)
{
	size_t i;
	const char *other;

	for (i = 0; id != NULL && i < jlen(list); i++)
		if ((other = jstr(jidx(list, i), "assignment_id")) != NULL &&
		    strcmp(other, id) == 0)
			return 1;
	return 0;
}

/* Print the assignments of now that were not in before: one JSON object
 * a line with --json, else rows (after a heading, the first time). */
static void
work_print_new(struct hl *h, struct json_object *before,
    struct json_object *now_list, int *headed)
{
	struct json_object *a;
	struct table t;
	time_t now = time(NULL);
	size_t i;
	int head = !*headed && !h->h_json;

	table_init(&t, WORK_COLUMNS);
	if (head)
		work_assignment_head(&t);
	for (i = 0; i < jlen(now_list); i++) {
		a = jidx(now_list, i);
		if (work_listed(before, jstr(a, "assignment_id")))
			continue;
		if (h->h_json)
			printf("%s\n", json_object_to_json_string_ext(a,
			    JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
		else
			work_assignment_row(&t, a, now);
	}
	if (t.tb_rows > head) {
		table_print(&t, stdout);
		*headed = 1;
	}
	table_clear(&t);
	fflush(stdout);
}

/* queue --watch: print the queue, then each new assignment, until killed
 * or refused. */
static int
work_watch(struct hl *h, const char *state)
{
	struct api_reply ar;
	struct api_call ac = { .ac_method = "GET", .ac_forever = 1 };
	struct json_object *before = NULL, *list;
	char path[URL_PATH_MAX], limit[16];
	double t0;
	int rc, headed = 0;

	snprintf(limit, sizeof(limit), "%d", QUEUE_LIMIT_MAX);
	ac.ac_wait = h->h_cf.hc_watch_wait;
	if (work_queue_path(path, sizeof(path), state, limit, ac.ac_wait) ==
	    -1)
		return EXIT_USAGE;
	ac.ac_path = path;
	if (!h->h_json)
		complain("watching the queue for new assignments");
	for (;;) {
		t0 = api_now();
		if ((rc = api_do(h, &ac, &ar)) != EXIT_OK) {
			json_object_put(before);
			api_reply_clear(&ar);
			return rc;
		}
		list = json_object_get(jget(ar.ar_json, "assignments"));
		work_print_new(h, before, list, &headed);
		json_object_put(before);
		before = list;
		api_reply_clear(&ar);
		api_sleep((jlen(list) > 0 ? h->h_cf.hc_watch_interval :
		    WATCH_GAP_MIN) - (api_now() - t0));
	}
}

/* queue: the agency's work, most urgent first. */
static int
cmd_queue(struct hl *h, const struct cmd_args *ca)
{
	char path[URL_PATH_MAX];

	if (cmd_flag(ca, "watch") != NULL) {
		if (cmd_flag(ca, "limit") != NULL) {
			complain("queue: --watch asks for up to %d "
			    "assignments; --limit does not apply",
			    QUEUE_LIMIT_MAX);
			return EXIT_USAGE;
		}
		return work_watch(h, cmd_flag(ca, "state"));
	}
	if (work_queue_path(path, sizeof(path), cmd_flag(ca, "state"),
	    cmd_flag(ca, "limit"), 0) == -1)
		return EXIT_USAGE;
	return api_read(h, path, work_print_assignments);
}

/* One line about an assignment after a change: id, case, state. */
static void
work_print_changed(const char *what, struct json_object *a, int replayed)
{
	printf("%s %s (case %s, %s): %s%s\n", what,
	    jstr(a, "assignment_id") != NULL ? jstr(a, "assignment_id") : "-",
	    jstr(a, "case_number") != NULL ? jstr(a, "case_number") : "-",
	    jstr(a, "agency") != NULL ? jstr(a, "agency") : "-",
	    label(LABEL_STATE, jstr(a, "state")),
	    replayed ? " (replayed: done before under this key)" : "");
}

/* ack: acknowledge an assignment. */
static int
cmd_ack(struct hl *h, const struct cmd_args *ca)
{
	struct api_reply ar;
	char path[URL_PATH_MAX];
	int rc;

	if (api_path(path, sizeof(path), "/v1/assignments/%s/ack",
	    ca->ca_argv[0], NULL) == -1)
		return EXIT_USAGE;
	if ((rc = api_post(h, path, NULL, &ar)) == EXIT_OK &&
	    !api_print_json(h, &ar))
		work_print_changed("acknowledged", ar.ar_json, ar.ar_replayed);
	api_reply_clear(&ar);
	return rc;
}

/* A word as the API spells it: case-opened is case_opened. */
char *
work_word(const char *s)
{
	char *w, *p;

	if ((w = strdup(s)) == NULL)
		return NULL;
	for (p = w; *p != '\0'; p++)
		if (*p == '-')
			*p = '_';
	return w;
}

/* Add a string member if the value is not NULL. */
void
work_add(struct json_object *obj, const char *name, const char *value)
{
	if (value != NULL)
		json_object_object_add(obj, name,
		    json_object_new_string(value));
}

/* What an event's body records, for people: its outcome, supervision or
 * notice, else its type. */
static const char *
work_event_what(struct json_object *body)
{
	if (jstr(body, "outcome") != NULL)
		return label(LABEL_OUTCOME, jstr(body, "outcome"));
	if (jstr(body, "supervision") != NULL)
		return label(LABEL_SUPERVISION, jstr(body, "supervision"));
	if (jstr(body, "notice") != NULL)
		return label(LABEL_NOTICE, jstr(body, "notice"));
	return label(LABEL_EVENT, jstr(body, "type"));
}

/*
 * POST to a path a format makes with a case number (the body is taken) and
 * say what was recorded, as what, and the assignment it changed; then
 * more(answer) if given.  A probe's 403 forbidden is not printed
 * (*forbidden says it came): the caller asks another endpoint.
 */
int
work_record(struct hl *h, const char *fmt, const char *number,
    struct json_object *body, const char *what, int *forbidden,
    void (*more)(struct json_object *))
{
	struct api_call ac = { .ac_probe = forbidden != NULL };
	struct api_reply ar;
	struct json_object *a;
	char path[URL_PATH_MAX], changed[256];
	char *saved = strdup(what);
	int rc;

	if (saved == NULL || api_path(path, sizeof(path), fmt, number,
	    NULL) == -1) {
		free(saved);
		json_object_put(body);
		return EXIT_USAGE;
	}
	ac.ac_path = path;
	api_body(&ac, body);
	rc = api_do(h, &ac, &ar);
	json_object_put(body);
	if (forbidden != NULL)
		*forbidden = rc == EXIT_REFUSED && ar.ar_status == 403;
	if (rc == EXIT_OK && !api_print_json(h, &ar)) {
		changed[0] = '\0';
		if ((a = jget(ar.ar_json, "assignment")) != NULL)
			snprintf(changed, sizeof(changed), "; assignment %s: %s",
			    jstr(a, "assignment_id") != NULL ?
			    jstr(a, "assignment_id") : "-",
			    label(LABEL_STATE, jstr(a, "state")));
		printf("case %s: %s recorded as history item %d%s%s\n",
		    jstr(ar.ar_json, "case_number") != NULL ?
		    jstr(ar.ar_json, "case_number") : number, saved,
		    json_object_get_int(jget(ar.ar_json, "seq")), changed,
		    ar.ar_replayed ? " (replayed: done before under this key)" :
		    "");
		if (more != NULL)
			more(ar.ar_json);
	}
	free(saved);
	api_reply_clear(&ar);
	return rc;
}

/* POST an event to a case's history (the body is taken) and say what was
 * recorded. */
int
work_event(struct hl *h, const char *number, struct json_object *body)
{
	return work_record(h, "/v1/cases/%s/events", number, body,
	    work_event_what(body), NULL, NULL);
}

/* outcome: an agency's outcome on a case. */
static int
cmd_outcome(struct hl *h, const struct cmd_args *ca)
{
	struct json_object *body = json_object_new_object();
	char *outcome = work_word(ca->ca_argv[1]);

	work_add(body, "type", "outcome");
	work_add(body, "outcome", outcome);
	work_add(body, "police_case_number", cmd_flag(ca,
	    "police-case-number"));
	work_add(body, "reason", cmd_flag(ca, "reason"));
	work_add(body, "text", cmd_flag(ca, "text"));
	free(outcome);
	return work_event(h, ca->ca_argv[0], body);
}

/*
 * note: a note in a case's history.  An agency's is an event; an
 * operator's goes to the notes of its centre's case.  The client does not
 * know its role, so it asks as an agency first and, told its role may not
 * (403, which consumes no key), as an operator, under the same key: a
 * re-run with that key replays the note.
 */
static int
cmd_note(struct hl *h, const struct cmd_args *ca)
{
	struct json_object *body = json_object_new_object();
	const char *what = label(LABEL_EVENT, "note");
	int rc, forbidden;

	api_key_hold(h);
	work_add(body, "type", "note");
	work_add(body, "text", ca->ca_argv[1]);
	rc = work_record(h, "/v1/cases/%s/events", ca->ca_argv[0], body, what,
	    &forbidden, NULL);
	if (!forbidden)
		return rc;
	body = json_object_new_object();
	work_add(body, "text", ca->ca_argv[1]);
	return work_record(h, "/v1/cases/%s/notes", ca->ca_argv[0], body, what,
	    NULL, NULL);
}

/* feedback: the police's feedback to the reporting unit, or its notice
 * before prosecution. */
static int
cmd_feedback(struct hl *h, const struct cmd_args *ca)
{
	struct json_object *body = json_object_new_object();
	char *notice = NULL;

	if (cmd_flag(ca, "notice") != NULL &&
	    (notice = work_word(cmd_flag(ca, "notice"))) == NULL) {
		json_object_put(body);
		return EXIT_USAGE;
	}
	work_add(body, "type", "feedback");
	work_add(body, "notice", notice);
	work_add(body, "text", ca->ca_argv[1]);
	free(notice);
	return work_event(h, ca->ca_argv[0], body);
}

/* transfer: hand an assignment to another agency. */
static int
cmd_transfer(struct hl *h, const struct cmd_args *ca)
{
	struct api_reply ar;
	struct json_object *body;
	char path[URL_PATH_MAX];
	int rc;

	if (api_path(path, sizeof(path), "/v1/assignments/%s/transfer",
	    ca->ca_argv[0], NULL) == -1)
		return EXIT_USAGE;
	body = json_object_new_object();
	work_add(body, "target_agency", ca->ca_argv[1]);
	work_add(body, "reason", cmd_flag(ca, "reason"));
	rc = api_post(h, path, body, &ar);
	json_object_put(body);
	if (rc == EXIT_OK && !api_print_json(h, &ar)) {
		work_print_changed("transferred", jget(ar.ar_json,
		    "transferred"), ar.ar_replayed);
		work_print_changed("new assignment", jget(ar.ar_json, "new"),
		    0);
	}
	api_reply_clear(&ar);
	return rc;
}
