/*
 * hotline: the command-line client of hotlined.  The command table below
 * (each entry in the file of its group, in the manner of tmux's cmd_entry:
 * its word, arguments, flags, handler and help) makes the usage text, the
 * parsing of a command's arguments and flags, and the dispatch.  A new
 * command is one entry in its file and one line here.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "hotline.h"

#define USAGE_WIDTH	79		/* columns of the usage text */
#define USAGE_INDENT	8		/* where a command's help starts */
#define SYNOPSIS_MAX	256

/* Every command, in the order the usage lists them. */
static const struct cmd_entry *const cmd_table[] = {
	&cmd_queue_entry,
	&cmd_ack_entry,
	&cmd_outcome_entry,
	&cmd_note_entry,
	&cmd_feedback_entry,
	&cmd_supervise_entry,
	&cmd_transfer_entry,
	&cmd_overdue_entry,
	&cmd_records_entry,
	&cmd_case_entry,
	&cmd_request_entry,
	&cmd_requests_entry,
	&cmd_approve_entry,
	&cmd_deny_entry,
	&cmd_access_log_entry,
	&cmd_submit_entry,
	&cmd_cases_entry,
	&cmd_lookup_entry,
	&cmd_regrade_entry,
	&cmd_categorise_entry,
	&cmd_correct_entry,
	&cmd_link_entry,
	&cmd_supplement_entry,
	&cmd_status_entry,
	&cmd_stats_entry,
	&cmd_version_entry,
	NULL
};

static const char usage_head[] =
    "usage: hotline [-v] [--json] [-c file] [-o setting=value] command\n"
    "       [argument ...]\n";

static const char usage_tail[] =
    "options (also after the command: -v, --json, --key):\n"
    "  -c file          settings file (default ~/.config/hotline/config)\n"
    "  -o setting=value one setting, over the file and the environment\n"
    "  -v               log every try to stderr (never a body)\n"
    "  --json           print the daemon's JSON as it is\n"
    "  --key key        the Idempotency-Key of a POST (default: a fresh one)\n"
    "  -h, --help       this text\n"
    "settings: url, cert, key, ca (or HOTLINED_URL, HOTLINED_CERT,\n"
    "HOTLINED_KEY, HOTLINED_CA), timeout, retry_time, retry_first,\n"
    "retry_max, watch_wait, watch_interval (seconds).\n"
    "exit status: 0 ok, 1 refused by the daemon (its error code printed),\n"
    "2 usage or settings, 3 unavailable after retrying.\n";

/* Print a message to stderr, prefixed with the program's name. */
void
complain(const char *fmt, ...)
{
	va_list ap;

	fputs("hotline: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A command's synopsis: its word, arguments and flags. */
static void
cmd_synopsis(const struct cmd_entry *ce, char *buf, size_t len)
{
	const struct cmd_flag *fl;
	size_t n;
	int i;

	snprintf(buf, len, "%s%s%s", ce->ce_name, ce->ce_args[0] != '\0' ?
	    " " : "", ce->ce_args);
	for (i = 0; i < CMD_FLAGS_MAX && ce->ce_flags[i].cf_name != NULL;
	    i++) {
		fl = &ce->ce_flags[i];
		n = strlen(buf);
		snprintf(buf + n, len - n, " %s--%s%s%s%s", fl->cf_required ?
		    "" : "[", fl->cf_name, fl->cf_arg != NULL ? " " : "",
		    fl->cf_arg != NULL ? fl->cf_arg : "", fl->cf_required ?
		    "" : "]");
	}
	if (ce->ce_opts & CMD_POST) {
		n = strlen(buf);
		snprintf(buf + n, len - n, " [--key key]");
	}
}

/* The end of the word at p: its next space outside brackets, so that
 * "[--reason text]" is one word. */
static const char *
cmd_word_end(const char *p)
{
	int depth = 0;

	for (; *p != '\0' && (*p != ' ' || depth > 0); p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']' && depth > 0)
			depth--;
	}
	return p;
}

/* Print words of text wrapped to the usage's width (in columns: a Chinese
 * character takes two), after indent (and more on the lines after the
 * first). */
static void
cmd_wrap(FILE *f, const char *text, int indent, int more)
{
	const char *p = text, *sp;
	char word[SYNOPSIS_MAX];
	int col = 0, n, w, lines = 0;

	while (*p != '\0') {
		sp = cmd_word_end(p);
		n = (int)(sp - p);
		snprintf(word, sizeof(word), "%.*s", n, p);
		w = text_width(word);
		if (col > 0 && col + 1 + w > USAGE_WIDTH) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0)
			col = fprintf(f, "%*s", indent + (lines++ > 0 ?
			    more : 0), "");
		else
			col += fprintf(f, " ");
		fprintf(f, "%.*s", n, p);
		col += w;
		for (p = sp; *p == ' '; p++)
			;
	}
	fputc('\n', f);
}

/* Print the usage text, made from the command table. */
static void
cmd_usage(FILE *f)
{
	char syn[SYNOPSIS_MAX];
	int i;

	fputs(usage_head, f);
	fputs("commands:\n", f);
	for (i = 0; cmd_table[i] != NULL; i++) {
		cmd_synopsis(cmd_table[i], syn, sizeof(syn));
		cmd_wrap(f, syn, 2, 4);
		cmd_wrap(f, cmd_table[i]->ce_help, USAGE_INDENT, 0);
	}
	fputs(usage_tail, f);
}

/* A command's synopsis and help, on stdout (hotline <command> -h). */
static void
cmd_help(const struct cmd_entry *ce)
{
	char syn[SYNOPSIS_MAX], line[SYNOPSIS_MAX + 16];

	cmd_synopsis(ce, syn, sizeof(syn));
	snprintf(line, sizeof(line), "usage: hotline %s", syn);
	cmd_wrap(stdout, line, 0, 6);
	cmd_wrap(stdout, ce->ce_help, 2, 0);
}

/* Say how a command is used, on stderr; the usage exit status. */
static int
cmd_misused(const struct cmd_entry *ce, const char *why)
{
	char syn[SYNOPSIS_MAX];

	if (why != NULL)
		complain("%s: %s", ce->ce_name, why);
	cmd_synopsis(ce, syn, sizeof(syn));
	fprintf(stderr, "usage: hotline %s\n", syn);
	return EXIT_USAGE;
}

/* The command a word names, or NULL. */
static const struct cmd_entry *
cmd_find(const char *word)
{
	int i;

	for (i = 0; cmd_table[i] != NULL; i++)
		if (strcmp(cmd_table[i]->ce_name, word) == 0)
			return cmd_table[i];
	return NULL;
}

/* The value of a command's flag ("" for a switch given), or NULL. */
const char *
cmd_flag(const struct cmd_args *ca, const char *name)
{
	int i;

	for (i = 0; i < CMD_FLAGS_MAX && ca->ca_entry->ce_flags[i].cf_name !=
	    NULL; i++)
		if (strcmp(ca->ca_entry->ce_flags[i].cf_name, name) == 0)
			return ca->ca_flags[i];
	complain("bug: %s has no flag --%s", ca->ca_entry->ce_name, name);
	abort();
}

/* A path: base, and as its query each flag of the command that was given,
 * by its name (a list's filters: --state, --since, --cursor, ...); 0 or
 * -1 if it does not fit. */
int
cmd_query(char *buf, size_t len, const char *base, const struct cmd_args *ca)
{
	const struct cmd_flag *fl;
	int i;

	if ((size_t)snprintf(buf, len, "%s", base) >= len)
		return -1;
	for (i = 0; i < CMD_FLAGS_MAX; i++) {
		fl = &ca->ca_entry->ce_flags[i];
		if (fl->cf_name == NULL)
			break;
		if (api_param(buf, len, fl->cf_name, ca->ca_flags[i]) == -1)
			return -1;
	}
	return 0;
}

/*
 * Take one flag at argv[*i] (--name, --name=value or --name value, and
 * -v); 0, or -1 with the reason in why.
 */
static int
cmd_take_flag(struct hl *h, struct cmd_args *ca, int argc, char **argv,
    int *i, const char **why)
{
	const struct cmd_entry *ce = ca->ca_entry;
	const struct cmd_flag *fl;
	char name[64];
	const char *arg = argv[*i], *eq, *val = NULL;
	size_t n;
	int k;

	if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
		h->h_verbose++;
		return 0;
	}
	if (strcmp(arg, "--json") == 0) {
		h->h_json = 1;
		return 0;
	}
	if (strncmp(arg, "--", 2) != 0) {
		*why = "unknown option";
		return -1;
	}
	arg += 2;
	n = (eq = strchr(arg, '=')) != NULL ? (size_t)(eq - arg) : strlen(arg);
	if (n >= sizeof(name)) {
		*why = "unknown option";
		return -1;
	}
	snprintf(name, sizeof(name), "%.*s", (int)n, arg);
	if (eq != NULL)
		val = eq + 1;
	else if (*i + 1 < argc)
		val = argv[*i + 1];
	if (strcmp(name, "key") == 0 && (ce->ce_opts & CMD_POST)) {
		if (val == NULL) {
			*why = "--key needs a key";
			return -1;
		}
		h->h_key = val;
		*i += eq == NULL;
		return 0;
	}
	for (k = 0; k < CMD_FLAGS_MAX && ce->ce_flags[k].cf_name != NULL; k++) {
		fl = &ce->ce_flags[k];
		if (strcmp(fl->cf_name, name) != 0)
			continue;
		if (fl->cf_arg == NULL) {
			if (eq != NULL) {
				*why = "a switch takes no value";
				return -1;
			}
			ca->ca_flags[k] = "";
			return 0;
		}
		if (val == NULL) {
			*why = "a flag is missing its value";
			return -1;
		}
		ca->ca_flags[k] = val;
		*i += eq == NULL;
		return 0;
	}
	*why = "unknown option";
	return -1;
}

/* Sort a command's arguments and flags into ca; 0, the usage status, or
 * -1 once its help was asked for and printed. */
static int
cmd_parse(struct hl *h, const struct cmd_entry *ce, int argc, char **argv,
    struct cmd_args *ca)
{
	const char *why = NULL;
	int i, k, flags = 1;

	memset(ca, 0, sizeof(*ca));
	ca->ca_entry = ce;
	for (i = 0; i < argc; i++) {
		if (flags && strcmp(argv[i], "--") == 0) {
			flags = 0;
			continue;
		}
		if (flags && argv[i][0] == '-' && argv[i][1] != '\0') {
			if (strcmp(argv[i], "-h") == 0 ||
			    strcmp(argv[i], "--help") == 0) {
				cmd_help(ce);
				return -1;
			}
			if (cmd_take_flag(h, ca, argc, argv, &i, &why) == -1) {
				complain("%s: %s: %s", ce->ce_name, argv[i],
				    why);
				return cmd_misused(ce, NULL);
			}
			continue;
		}
		if (ca->ca_argc == ce->ce_nargs)
			return cmd_misused(ce, "too many arguments");
		if (argv[i][0] == '\0')
			return cmd_misused(ce, "an empty argument");
		ca->ca_argv[ca->ca_argc++] = argv[i];
	}
	if (ca->ca_argc < ce->ce_nargs - ce->ce_nopt)
		return cmd_misused(ce, "missing arguments");
	for (k = 0; k < CMD_FLAGS_MAX && ce->ce_flags[k].cf_name != NULL; k++)
		if (ce->ce_flags[k].cf_required && ca->ca_flags[k] == NULL) {
			complain("%s: --%s is required", ce->ce_name,
			    ce->ce_flags[k].cf_name);
			return cmd_misused(ce, NULL);
		}
	if (h->h_key != NULL && !api_key_valid(h->h_key))
		return cmd_misused(ce, "a key is 1-128 characters of "
		    "A-Z a-z 0-9 . _ : -");
	return 0;
}

/* Settings from the file, the environment and -o, in that order. */
static int
settings_load(struct hl_config *cf, const char *file, char **sets,
    int nsets)
{
	char def[1024];
	const char *path = file;
	int i;

	config_defaults(cf);
	if (path == NULL)
		path = config_default_path(def, sizeof(def));
	if (path != NULL && config_file(cf, path, file != NULL) == -1)
		return -1;
	if (config_env(cf) == -1)
		return -1;
	for (i = 0; i < nsets; i++)
		if (config_set(cf, sets[i]) == -1)
			return -1;
	return config_check(cf);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_entry *ce;
	struct cmd_args ca;
	struct hl h;
	const char *file = NULL;
	char **sets;
	int ch, nsets = 0, rc;

	signal(SIGPIPE, SIG_IGN);
	memset(&h, 0, sizeof(h));
	if ((sets = calloc((size_t)argc + 1, sizeof(*sets))) == NULL)
		return EXIT_USAGE;
	while ((ch = getopt_long(argc, argv, "+c:o:hv", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 'o':
			sets[nsets++] = optarg;
			break;
		case 'j':
			h.h_json = 1;
			break;
		case 'k':
			h.h_key = optarg;
			break;
		case 'v':
			h.h_verbose++;
			break;
		case 'h':
			cmd_usage(stdout);
			free(sets);
			return EXIT_OK;
		default:
			cmd_usage(stderr);
			free(sets);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || (ce = cmd_find(argv[0])) == NULL) {
		if (argc > 0)
			complain("unknown command %s", argv[0]);
		cmd_usage(stderr);
		free(sets);
		return EXIT_USAGE;
	}
	if (h.h_key != NULL && !(ce->ce_opts & CMD_POST)) {
		free(sets);
		return cmd_misused(ce, "--key is only for commands that POST");
	}
	if ((rc = cmd_parse(&h, ce, argc - 1, argv + 1, &ca)) != 0 ||
	    (rc = settings_load(&h.h_cf, file, sets, nsets) == -1 ?
	    EXIT_USAGE : 0) != 0) {
		config_clear(&h.h_cf);
		free(sets);
		return rc == -1 ? EXIT_OK : rc;
	}
	free(sets);
	if ((h.h_http = http_open(&h.h_cf)) == NULL) {
		config_clear(&h.h_cf);
		return EXIT_USAGE;
	}
	rc = ce->ce_exec(&h, &ca);
	http_close(h.h_http);
	config_clear(&h.h_cf);
	if (fflush(stdout) == EOF && rc == EXIT_OK) {
		complain("stdout: %s", strerror(errno));
		rc = EXIT_REFUSED;
	}
	return rc;
}
