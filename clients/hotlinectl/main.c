/*
 * hotlinectl: the administrator's tool for hotlined.  Audits the case
 * histories, rotates and retires master keys (rewrapping data keys, never
 * touching ciphertexts), runs retention and purges, lists who read a
 * case, registers, lists and revokes the API's client certificates, and
 * writes the statistics as CSV.
 * It connects to PostgreSQL as an administrator with blocking libpq; the
 * keys commands also read the daemon's configuration for the key files.
 * The command table below makes both the usage text and the dispatch;
 * a command's check, if it has one, refuses bad arguments before any
 * database.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hotlinectl.h"

#define DEFAULT_CONF	"/etc/hotlined.conf"	/* as hotlined */
#define CTL_WORDS_MAX	4		/* words in a command's name */
#define USAGE_COLUMN	26		/* where a command's help starts */
#define USAGE_WIDTH	80		/* columns of the usage text */

/* Every command, in the order the usage lists them. */
static const struct ctl_entry *const ctl_table[] = {
	&audit_verify_entry,
	&keys_list_entry,
	&keys_rotate_entry,
	&keys_rewrap_entry,
	&keys_retire_entry,
	&purge_dry_run_entry,
	&purge_entry,
	&purge_case_entry,
	&access_log_entry,
	&clients_add_entry,
	&clients_add_approver_entry,
	&clients_list_entry,
	&clients_revoke_entry,
	&stats_entry,
	NULL
};

static const char ctl_options[] =
    "options:\n"
    "  -c config    the daemon's configuration, for the key files (keys commands\n"
    "               only; default $HOTLINED_CONF, else " DEFAULT_CONF ")\n"
    "  -d conninfo  an administrator's libpq connection (default\n"
    "               $HOTLINECTL_DATABASE, else the PG* environment variables)\n"
    "  -h           this text\n"
    "  -V           print the version (the release) and exit\n"
    "Running daemons load a rotated key file by themselves the first time they\n"
    "meet its new key id: no restart is needed.\n"
    "Exit status: 0 ok, 1 a check or an operation failed, 2 usage, configuration\n"
    "or connection error.\n";

/* Print a message to stderr, prefixed with the program's name. */
void
complain(const char *fmt, ...)
{
	va_list ap;

	fputs("hotlinectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Split a command's name into its words; their number. */
static int
ctl_words(const char *name, char *buf, size_t len, char **words)
{
	char *w, *last;
	int n = 0;

	snprintf(buf, len, "%s", name);
	for (w = strtok_r(buf, " ", &last); w != NULL && n < CTL_WORDS_MAX;
	    w = strtok_r(NULL, " ", &last))
		words[n++] = w;
	return n;
}

/*
 * How many of the leading arguments name the words of ce; *exact is set
 * if the arguments are exactly its words and its arguments (non-empty).
 */
static int
ctl_match(const struct ctl_entry *ce, int argc, char **argv, int *exact)
{
	char buf[128], *words[CTL_WORDS_MAX];
	int i, m, n;

	n = ctl_words(ce->ce_name, buf, sizeof(buf), words);
	for (m = 0; m < n && m < argc; m++)
		if (strcmp(argv[m], words[m]) != 0)
			break;
	*exact = m == n && argc >= n + ce->ce_nargs &&
	    argc <= n + ce->ce_nargs + ce->ce_optargs;
	for (i = n; *exact && i < argc; i++)
		if (argv[i][0] == '\0')
			*exact = 0;
	return m;
}

/* The length of the words at the start of s that fit in width (one at
 * least). */
static int
ctl_fit(const char *s, int width)
{
	const char *sp;
	int len = 0;

	while (s[len] != '\0') {
		if ((sp = strchr(s + len + 1, ' ')) == NULL)
			sp = s + strlen(s);
		if (len > 0 && sp - s > width)
			break;
		len = (int)(sp - s);
	}
	return len;
}

/* Print one command's lines: its words, arguments and help, wrapped. */
static void
ctl_usage_line(FILE *f, const struct ctl_entry *ce)
{
	const char *h = ce->ce_help;
	int col, len;

	col = fprintf(f, "  %s%s%s", ce->ce_name, ce->ce_args[0] != '\0' ?
	    " " : "", ce->ce_args);
	if (col > USAGE_COLUMN - 2) {
		fputc('\n', f);
		col = 0;
	}
	while (*h != '\0') {
		len = ctl_fit(h, USAGE_WIDTH - 1 - USAGE_COLUMN);
		fprintf(f, "%*s%.*s\n", USAGE_COLUMN - col, "", len, h);
		col = 0;
		for (h += len; *h == ' '; h++)
			;
	}
}

/* Print the usage text, made from the command table. */
static void
ctl_usage(FILE *f)
{
	int i;

	fputs("usage: hotlinectl [-hV] [-c config] [-d conninfo] command ...\n", f);
	for (i = 0; ctl_table[i] != NULL; i++)
		ctl_usage_line(f, ctl_table[i]);
	fputs(ctl_options, f);
}

/*
 * The command the arguments name, or NULL; *nwords is the number of its
 * words.  Of two that fit, the one with more words (clients add --approver
 * before clients add).  Without one the usage goes to stderr: the lines of
 * the commands that share the most leading words with the arguments (keys
 * retire without its kid), or all of it.
 */
static const struct ctl_entry *
ctl_find(int argc, char **argv, int *nwords)
{
	const struct ctl_entry *ce, *found = NULL;
	int i, m, best = 0, shown = 0, exact;

	*nwords = 0;
	for (i = 0; ctl_table[i] != NULL; i++) {
		m = ctl_match(ctl_table[i], argc, argv, &exact);
		if (exact && (found == NULL || m > *nwords)) {
			found = ctl_table[i];
			*nwords = m;
		}
		if (m > best)
			best = m;
	}
	if (found != NULL)
		return found;
	if (best == 0) {
		ctl_usage(stderr);
		return NULL;
	}
	for (i = 0; (ce = ctl_table[i]) != NULL; i++)
		if (ctl_match(ce, argc, argv, &exact) == best)
			fprintf(stderr, "%s hotlinectl %s%s%s\n", shown++ ?
			    "      " : "usage:", ce->ce_name,
			    ce->ce_args[0] != '\0' ? " " : "", ce->ce_args);
	return NULL;
}

/* Load the daemon's configuration and both key files; 0 on success. */
static int
ctl_load_keys(const char *confpath, struct ctl_ctx *cx)
{
	char err[512];

	config_defaults(&cx->cx_cf);
	if (config_load(&cx->cx_cf, confpath) == -1) {
		complain("%s: cannot use this configuration (-c)", confpath);
		return -1;
	}
	if (cx->cx_cf.cf_master_key[0] == '\0' ||
	    cx->cx_cf.cf_hash_key[0] == '\0') {
		complain("%s: master_key and hash_key must be set", confpath);
		return -1;
	}
	if ((cx->cx_keys = keyring_load(cx->cx_cf.cf_master_key,
	    cx->cx_cf.cf_hash_key, err, sizeof(err))) == NULL) {
		complain("%s", err);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	const struct ctl_entry *ce;
	const char *confpath, *conninfo = NULL;
	struct ctl_ctx cx;
	char **args;
	int ch, rc, nwords;

	confpath = getenv("HOTLINED_CONF");
	if (confpath == NULL || *confpath == '\0')
		confpath = DEFAULT_CONF;
	while ((ch = getopt(argc, argv, "+c:d:hV")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("hotlinectl %s\n", HOTLINED_VERSION);
			return EXIT_OK;
		default:
			ctl_usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if ((ce = ctl_find(argc, argv, &nwords)) == NULL)
		return EXIT_USAGE;
	args = argv + nwords;
	log_init(1, LOG_LVL_WARN);
	umask(077);

	memset(&cx, 0, sizeof(cx));
	if (ce->ce_check != NULL && (rc = ce->ce_check(&cx, args)) != EXIT_OK)
		return rc;
	if ((ce->ce_flags & CTL_KEYS) && ctl_load_keys(confpath, &cx) == -1)
		return EXIT_USAGE;
	if (db_connect(conninfo) == -1) {
		keyring_free(cx.cx_keys);
		db_close();
		return EXIT_USAGE;
	}
	rc = ce->ce_exec(&cx, args);
	keyring_free(cx.cx_keys);
	db_close();
	if (fflush(stdout) == EOF && rc == EXIT_OK)
		rc = EXIT_FAILED;
	return rc;
}
