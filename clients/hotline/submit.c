/*
 * Filing a hotline call or a case opened during one (role operator), a
 * mandatory report or a supplement to it (role gateway): the body is sent
 * byte for byte as the file holds it (a call on a case: with the case's
 * number put in), under one Idempotency-Key for every try (api.c), so
 * that running the command again with the same --key and file can never
 * file it twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotline.h"

static int	cmd_submit(struct hl *, const struct cmd_args *);
static int	cmd_supplement(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_submit_entry = {
	.ce_name = "submit",
	.ce_args = "calls|cases|reports <file.json>",
	.ce_nargs = 2,
	.ce_flags = {
		{ "case", "case", 0 },
	},
	.ce_opts = CMD_POST,
	.ce_help = "file a call (operator), a case opened during a call "
	    "(operator: routed at once; then log the call with --case and "
	    "disposition case_opened) or a mandatory report (gateway) from a "
	    "JSON file (- for stdin), retrying under one Idempotency-Key "
	    "while the daemon is unavailable; give --key to make running it "
	    "again safe; --case puts a call on a case of the centre (a "
	    "follow_up, or the call that opened it)",
	.ce_exec = cmd_submit,
};

const struct cmd_entry cmd_supplement_entry = {
	.ce_name = "supplement",
	.ce_args = "<receipt> <text>",
	.ce_nargs = 2,
	.ce_opts = CMD_POST,
	.ce_help = "add what the reporter learned since to a report the "
	    "gateway filed (its agencies see the case updated)",
	.ce_exec = cmd_supplement,
};

/* Read a whole file (or stdin for "-"); NULL (complained) if it cannot
 * be read or is over SUBMIT_FILE_MAX. */
static char *
submit_read(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf;
	size_t n;

	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "rb")) == NULL) {
		complain("%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(SUBMIT_FILE_MAX + 1)) == NULL) {
		complain("out of memory");
		if (f != stdin)
			fclose(f);
		return NULL;
	}
	n = fread(buf, 1, SUBMIT_FILE_MAX + 1, f);
	if (ferror(f) || n > SUBMIT_FILE_MAX) {
		complain("%s: %s", path, ferror(f) ? "cannot read it" :
		    "over 1 MiB");
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	*lenp = n;
	return buf;
}

/* Put a case's number into a call's body; the new body, or NULL (said)
 * if the file is not a JSON object. */
static char *
submit_on_case(const char *body, size_t *lenp, const char *number)
{
	struct json_tokener *tok;
	struct json_object *obj;
	char *out = NULL;

	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, body, (int)*lenp);
	if (json_tokener_get_error(tok) == json_tokener_success &&
	    json_object_is_type(obj, json_type_object)) {
		json_object_object_add(obj, "case_number",
		    json_object_new_string(number));
		out = strdup(json_object_to_json_string_ext(obj,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		if (out != NULL)
			*lenp = strlen(out);
	} else
		complain("submit: --case: the file is not a JSON object");
	json_object_put(obj);
	json_tokener_free(tok);
	return out;
}

/* Say what the daemon stored: the case (and where it was routed), call or
 * receipt. */
static void
submit_print(const struct api_reply *ar)
{
	struct json_object *r = ar->ar_json, *earlier, *a;
	char risk[32], at[64];
	size_t i;

	show_time(at, sizeof(at), jstr(r, "received_at"));
	if (jstr(r, "call_id") != NULL)
		printf("call %s received %s\n", jstr(r, "call_id"), at);
	if (jstr(r, "case_number") != NULL && jget(r, "assignments") != NULL) {
		show_risk(risk, sizeof(risk), jget(r, "risk_level"));
		printf("case %s, risk %s, opened %s\n",
		    jstr(r, "case_number"), risk, at);
		for (i = 0; i < jlen(jget(r, "assignments")); i++) {
			a = jidx(jget(r, "assignments"), i);
			printf("  routed to %s: %s, %s\n", jstr(a, "agency"),
			    label(LABEL_ROLE, jstr(a, "role")),
			    label(LABEL_STATE, jstr(a, "state")));
		}
	} else if (jstr(r, "case_number") != NULL)
		printf("case %s\n", jstr(r, "case_number"));
	if (jstr(r, "receipt_id") != NULL) {
		show_risk(risk, sizeof(risk), jget(r, "risk_level"));
		printf("receipt %s, risk %s, received %s\n",
		    jstr(r, "receipt_id"), risk, at);
	}
	if ((earlier = jget(r, "earlier_calls")) != NULL) {
		show_time(at, sizeof(at), jstr(earlier, "last_at"));
		printf("earlier calls from this number: %d, the last %s\n",
		    json_object_get_int(jget(earlier, "count")), at);
	}
	if (ar->ar_replayed)
		printf("(replayed: filed before under this key; nothing new "
		    "was stored)\n");
}

/* submit: file a call or a report. */
static int
cmd_submit(struct hl *h, const struct cmd_args *ca)
{
	struct api_call ac = { .ac_method = "POST" };
	struct api_reply ar;
	const char *what = ca->ca_argv[0];
	char *body;
	size_t len;
	int rc;

	const char *number = cmd_flag(ca, "case");
	char *on;

	if (strcmp(what, "calls") == 0 || strcmp(what, "call") == 0)
		ac.ac_path = "/v1/calls";
	else if (strcmp(what, "cases") == 0 || strcmp(what, "case") == 0)
		ac.ac_path = "/v1/cases";
	else if (strcmp(what, "reports") == 0 || strcmp(what, "report") == 0)
		ac.ac_path = "/v1/reports";
	else {
		complain("submit: calls, cases or reports, not %s", what);
		return EXIT_USAGE;
	}
	if (number != NULL && strcmp(ac.ac_path, "/v1/calls") != 0) {
		complain("submit: --case is for calls");
		return EXIT_USAGE;
	}
	if ((body = submit_read(ca->ca_argv[1], &len)) == NULL)
		return EXIT_USAGE;
	if (number != NULL) {
		on = submit_on_case(body, &len, number);
		free(body);
		if ((body = on) == NULL)
			return EXIT_USAGE;
	}
	ac.ac_body = body;
	ac.ac_len = len;
	if ((rc = api_do(h, &ac, &ar)) == EXIT_OK && !api_print_json(h, &ar))
		submit_print(&ar);
	api_reply_clear(&ar);
	free(body);
	return rc;
}

/* supplement: more of a report, from its reporter. */
static int
cmd_supplement(struct hl *h, const struct cmd_args *ca)
{
	struct api_reply ar;
	struct json_object *body;
	char path[URL_PATH_MAX], at[64];
	int rc;

	if (api_path(path, sizeof(path), "/v1/reports/%s/supplements",
	    ca->ca_argv[0], NULL) == -1)
		return EXIT_USAGE;
	body = json_object_new_object();
	work_add(body, "text", ca->ca_argv[1]);
	rc = api_post(h, path, body, &ar);
	json_object_put(body);
	if (rc == EXIT_OK && !api_print_json(h, &ar)) {
		show_time(at, sizeof(at), jstr(ar.ar_json, "received_at"));
		printf("receipt %s: supplement recorded as history item %d, "
		    "received %s%s\n", jstr(ar.ar_json, "receipt_id") != NULL ?
		    jstr(ar.ar_json, "receipt_id") : ca->ca_argv[0],
		    json_object_get_int(jget(ar.ar_json, "seq")), at,
		    ar.ar_replayed ? " (replayed: done before under this key)" :
		    "");
	}
	api_reply_clear(&ar);
	return rc;
}
