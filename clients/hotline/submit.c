/*
 * Filing a hotline call (role operator) or a mandatory report (role
 * gateway): the body is sent byte for byte as the file holds it, under one
 * Idempotency-Key for every try (api.c), so that running the command again
 * with the same --key and file can never file it twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotline.h"

static int	cmd_submit(struct hl *, const struct cmd_args *);

const struct cmd_entry cmd_submit_entry = {
	.ce_name = "submit",
	.ce_args = "calls|reports <file.json>",
	.ce_nargs = 2,
	.ce_opts = CMD_POST,
	.ce_help = "file a call (operator) or a mandatory report (gateway) "
	    "from a JSON file (- for stdin), retrying under one "
	    "Idempotency-Key while the daemon is unavailable; give --key to "
	    "make running it again safe",
	.ce_exec = cmd_submit,
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

/* Say what the daemon stored: the case, call or receipt. */
static void
submit_print(const struct api_reply *ar)
{
	struct json_object *r = ar->ar_json, *earlier;
	char risk[32], at[64];

	show_time(at, sizeof(at), jstr(r, "received_at"));
	if (jstr(r, "call_id") != NULL)
		printf("call %s received %s\n", jstr(r, "call_id"), at);
	if (jstr(r, "case_number") != NULL)
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

	if (strcmp(what, "calls") == 0 || strcmp(what, "call") == 0)
		ac.ac_path = "/v1/calls";
	else if (strcmp(what, "reports") == 0 || strcmp(what, "report") == 0)
		ac.ac_path = "/v1/reports";
	else {
		complain("submit: calls or reports, not %s", what);
		return EXIT_USAGE;
	}
	if ((body = submit_read(ca->ca_argv[1], &len)) == NULL)
		return EXIT_USAGE;
	ac.ac_body = body;
	ac.ac_len = len;
	if ((rc = api_do(h, &ac, &ar)) == EXIT_OK && !api_print_json(h, &ar))
		submit_print(&ar);
	api_reply_clear(&ar);
	free(body);
	return rc;
}
