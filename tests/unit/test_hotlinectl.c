/*
 * Tests of hotlinectl's command line, run as the real program
 * (build/hotlinectl, or $HOTLINECTL): the usage made from the command
 * table, the exit status of a command it does not know or whose
 * arguments are wrong, and the refusals that come before any database:
 * a configuration or key file it cannot use, a database it cannot reach,
 * a client it cannot register (a role, a name, an agency, a file that is
 * not a client's certificate).
 * The commands themselves are tested against PostgreSQL by the
 * integration suite.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotlined.h"
#include "unit.h"

#define OUT_MAX		16384
#define ARGS_MAX	12
#define K1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define H1 "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"

/* Every command, as the usage must show it. */
static const char *const commands[] = { "audit verify", "keys list",
    "keys rotate", "keys rewrap", "keys retire <kid>", "purge --dry-run",
    "purge", "purge --case <number>", "access-log <case>",
    "clients add <name> <role> [<agency> | --centre <region>] <cert.pem>",
    "clients add --approver <name> agency <agency> <cert.pem>",
    "clients list", "clients revoke <name>", NULL };
#define NODB	"host=/nonexistent/socket dbname=x"	/* unreachable */

static const char *ctl;
static char dir[64];
static char out[OUT_MAX], err[OUT_MAX];

/* Read what a file holds into buf (NUL-terminated). */
static void
slurp(const char *path, char *buf)
{
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY)) == -1)
		return;
	n = read(fd, buf, OUT_MAX - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Run hotlinectl with these arguments (NULL-ended); its exit status, or
 * -1 if it did not exit.  Its output is in out and err. */
static int
run(const char *a0, ...)
{
	char *argv[ARGS_MAX + 2], o[96], e[96];
	va_list ap;
	pid_t pid;
	int i = 1, st;

	argv[0] = (char *)ctl;
	va_start(ap, a0);
	for (argv[i] = (char *)a0; argv[i] != NULL && i < ARGS_MAX;)
		argv[++i] = va_arg(ap, char *);
	va_end(ap);
	argv[i] = NULL;
	snprintf(o, sizeof(o), "%s/out", dir);
	snprintf(e, sizeof(e), "%s/err", dir);
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		if (freopen(o, "w", stdout) == NULL ||
		    freopen(e, "w", stderr) == NULL)
			_exit(126);
		execv(ctl, argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) == -1)
		abort();
	slurp(o, out);
	slurp(e, err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Whether text has a line that starts with "  " and the command. */
static int
lists(const char *text, const char *cmd)
{
	const char *p;
	size_t n = strlen(cmd);

	for (p = text; (p = strstr(p, cmd)) != NULL; p += n)
		if (p - text >= 2 && p[-1] == ' ' && p[-2] == ' ' &&
		    (p - text == 2 || p[-3] == '\n') && (p[n] == ' ' ||
		    p[n] == '\n'))
			return 1;
	return 0;
}

/* The widest line of text. */
static size_t
widest(const char *text)
{
	const char *p, *nl;
	size_t w = 0;

	for (p = text; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if ((size_t)(nl - p) > w)
			w = (size_t)(nl - p);
		if (*nl == '\0')
			break;
	}
	return w;
}

/* A file in the test directory with this text and mode; its path. */
static const char *
file(const char *name, const char *text, mode_t mode)
{
	static char paths[8][96];
	static int n;
	char *p = paths[n++ % 8];
	FILE *fp;

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	if ((fp = fopen(p, "w")) == NULL || fputs(text, fp) == EOF ||
	    fclose(fp) == EOF || chmod(p, mode) == -1)
		abort();
	return p;
}

static void
test_usage(void)
{
	int i, ok;

	CHECK(run("-h", NULL) == 0 && err[0] == '\0' &&
	    strncmp(out, "usage: hotlinectl ", 18) == 0,
	    "-h prints the usage to stdout and exits 0");
	for (i = 0, ok = 1; commands[i] != NULL; i++)
		if (!lists(out, commands[i])) {
			printf("# not listed: %s\n", commands[i]);
			ok = 0;
		}
	CHECK(ok, "the usage lists every command with its arguments");
	CHECK(strstr(out, "  -c config") != NULL &&
	    strstr(out, "  -d conninfo") != NULL &&
	    strstr(out, "  -V  ") != NULL &&
	    strstr(out, "Exit status: 0 ok, 1") != NULL,
	    "and the options and exit statuses");
	CHECK(widest(out) < 80, "no line of it is wider than 79 columns (%zu)",
	    widest(out));
	CHECK(strstr(out, "master keys in the key file, and how many data "
	    "keys\n                          each wraps") != NULL,
	    "a long help wraps under its column");
	CHECK(run("-V", NULL) == 0 && err[0] == '\0' &&
	    strcmp(out, "hotlinectl " HOTLINED_VERSION "\n") == 0,
	    "-V prints the release, hotlinectl %s, and exits 0", HOTLINED_VERSION);

	CHECK(run(NULL) == 2 && out[0] == '\0' && lists(err, "keys rotate") &&
	    lists(err, "access-log <case>"),
	    "no command: the whole usage on stderr, exit 2");
	CHECK(run("frobnicate", NULL) == 2 && lists(err, "audit verify") &&
	    lists(err, "purge --case <number>"),
	    "an unknown command: the whole usage, exit 2");
	CHECK(run("-x", "audit", "verify", NULL) == 2 &&
	    lists(err, "audit verify"), "an unknown option: the same");
	CHECK(run("keys", "retire", NULL) == 2 &&
	    strcmp(err, "usage: hotlinectl keys retire <kid>\n") == 0,
	    "keys retire without its kid: its own usage line, exit 2");
	CHECK(run("keys", "retire", "", NULL) == 2 &&
	    strcmp(err, "usage: hotlinectl keys retire <kid>\n") == 0,
	    "nor with an empty kid");
	CHECK(run("keys", "retire", "k1", "k2", NULL) == 2 &&
	    strcmp(err, "usage: hotlinectl keys retire <kid>\n") == 0,
	    "nor with two");
	CHECK(run("keys", NULL) == 2 && strstr(err, "usage: hotlinectl keys "
	    "list\n       hotlinectl keys rotate\n       hotlinectl keys "
	    "rewrap\n       hotlinectl keys retire <kid>\n") != NULL &&
	    !lists(err, "audit verify") && strstr(err, "purge") == NULL,
	    "keys alone: the keys commands only");
	CHECK(run("purge", "--now", NULL) == 2 &&
	    strstr(err, "hotlinectl purge --dry-run\n") != NULL &&
	    strstr(err, "hotlinectl purge --case <number>\n") != NULL &&
	    strstr(err, "keys") == NULL, "a purge with an unknown option: the "
	    "purge commands");
	CHECK(run("access-log", NULL) == 2 &&
	    strcmp(err, "usage: hotlinectl access-log <case>\n") == 0,
	    "access-log without a case: its usage line");
	CHECK(run("audit", "verify", "now", NULL) == 2 &&
	    strcmp(err, "usage: hotlinectl audit verify\n") == 0,
	    "audit verify with an argument it does not take");
	CHECK(run("clients", "add", "x", "operator", NULL) == 2 &&
	    strcmp(err, "usage: hotlinectl clients add <name> <role> "
	    "[<agency> | --centre <region>] <cert.pem>\n"
	    "       hotlinectl clients add --approver "
	    "<name> agency <agency> <cert.pem>\n") == 0,
	    "clients add without its certificate: the usage lines of both "
	    "clients add");
	CHECK(run("clients", "add", "x", "agency", "a", "b", "c", "d", NULL) ==
	    2 && strstr(err, "usage: hotlinectl clients add <name>") != NULL,
	    "nor with six arguments");
	CHECK(run("clients", NULL) == 2 &&
	    strstr(err, "hotlinectl clients list\n") != NULL &&
	    strstr(err, "hotlinectl clients revoke <name>\n") != NULL &&
	    strstr(err, "keys") == NULL,
	    "clients alone: the clients commands only");
}

/* Run clients add with these arguments against an unreachable database;
 * 1 if it exits 2 with the message, before trying the database. */
static int
refused(const char *message, const char *a0, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	int rc = run("-d", NODB, "clients", "add", a0, a1, a2, a3, a4, NULL);

	if (rc == 2 && strstr(err, message) != NULL &&
	    strstr(err, "cannot connect") == NULL && out[0] == '\0')
		return 1;
	printf("# exit %d: %s", rc, err);
	return 0;
}

/* Make a certificate with openssl in the test directory; its path. */
static const char *
certificate(const char *name, const char *ext)
{
	static char paths[4][96];
	static int n;
	char *p = paths[n++ % 4], cmd[1024];

	snprintf(p, sizeof(paths[0]), "%s/%s.crt", dir, name);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout '%s/%s.key' -subj /CN=%s "
	    "-days 2 -addext '%s' -out '%s' >/dev/null 2>&1", dir, name, name,
	    ext, p);
	if (system(cmd) != 0)
		printf("# openssl could not make %s\n", p);
	return p;
}

static void
test_clients_add(void)
{
	const char *crt, *ca, *key;
	char keypath[128];

	crt = certificate("client", "basicConstraints=CA:FALSE");
	ca = certificate("ca", "basicConstraints=critical,CA:TRUE");
	snprintf(keypath, sizeof(keypath), "%s/client.key", dir);
	key = keypath;
	CHECK(refused("no role \"root\"", "x", "root", crt, NULL, NULL),
	    "clients add with an unknown role: exit 2, the roles named, before "
	    "any database");
	CHECK(refused("role agency needs the agency's code", "x", "agency",
	    crt, NULL, NULL), "role agency without its agency: exit 2");
	CHECK(refused("role operator belongs to no agency", "x", "operator",
	    "police-320102", crt, NULL), "role operator with an agency: exit 2");
	CHECK(refused("only an agency's clients approve", "--approver", "x",
	    "gateway", "police-320102", crt), "--approver for a gateway: exit 2");
	CHECK(refused("no option --approver here", "--approver", "x",
	    "operator", crt, NULL), "--approver without an agency: exit 2, "
	    "the option named");
	CHECK(refused("a client's name is 1 to 64", "two words", "gateway",
	    crt, NULL, NULL), "a name with a space: exit 2");
	CHECK(refused("an operator seat belongs to a hotline centre", "x",
	    "operator", crt, NULL, NULL), "an operator without its centre: "
	    "exit 2, the form with --centre named");
	CHECK(refused("only an operator seat belongs to a centre", "x",
	    "gateway", "--centre", "320100", crt), "a gateway with a centre: "
	    "exit 2");
	CHECK(refused("a centre is a region code", "x", "operator", "--centre",
	    "32010", crt) && refused("a centre is a region code", "x",
	    "operator", "--centre", "032100", crt), "a centre that is not a "
	    "region code: exit 2");
	CHECK(refused("no option --center here", "x", "operator", "--center",
	    "320100", crt), "a misspelt option: exit 2, the option named");
	CHECK(refused("--centre needs the centre's region code", "x",
	    "operator", "--centre", crt, NULL), "--centre without its region: "
	    "exit 2");
	CHECK(refused("not a certificate", "x", "gateway", key, NULL, NULL),
	    "a private key instead of a certificate: exit 2");
	CHECK(refused("not a certificate", "x", "gateway",
	    file("notes.pem", "not a certificate\n", 0644), NULL, NULL),
	    "a text file: exit 2");
	CHECK(refused("No such file", "x", "gateway", "/nonexistent/x.pem",
	    NULL, NULL), "a file that does not exist: exit 2");
	CHECK(refused("not a regular file", "x", "gateway", "/dev/zero", NULL,
	    NULL), "a device, which it does not read on and on: exit 2");
	CHECK(refused("a CA's certificate, not a client's", "x", "gateway",
	    ca, NULL, NULL), "a CA's certificate: exit 2");
	CHECK(run("-d", NODB, "clients", "add", "x", "gateway", crt, NULL) ==
	    2 && strstr(err, "cannot connect to the database") != NULL &&
	    out[0] == '\0', "a client's certificate passes the checks and "
	    "meets the unreachable database: exit 2");
	CHECK(run("-d", NODB, "clients", "add", "x", "operator", "--centre",
	    "320100", crt, NULL) == 2 && strstr(err, "cannot connect to the "
	    "database") != NULL && out[0] == '\0', "so does an operator seat "
	    "with its centre");
}

static void
test_refusals(void)
{
	char conf[512];
	const char *m, *h, *c;

	CHECK(run("-c", "/nonexistent/hotlined.conf", "keys", "list", NULL) ==
	    2 && strstr(err, "/nonexistent/hotlined.conf: cannot use this "
	    "configuration") != NULL && out[0] == '\0',
	    "keys with a configuration it cannot read: exit 2, named");
	c = file("nokeys.conf", "tls_cert = /c\ntls_key = /k\n"
	    "tls_client_ca = /ca\ndatabase = host=/nonexistent\n", 0600);
	CHECK(run("-c", c, "keys", "rotate", NULL) == 2 &&
	    strstr(err, "master_key and hash_key must be set") != NULL,
	    "a configuration without key files: exit 2");
	m = file("master.key", "k1 " K1 "\n", 0640);
	h = file("hash.key", H1 "\n", 0600);
	snprintf(conf, sizeof(conf), "tls_cert = /c\ntls_key = /k\n"
	    "tls_client_ca = /ca\ndatabase = host=/nonexistent\n"
	    "master_key = %s\nhash_key = %s\n", m, h);
	c = file("keys.conf", conf, 0600);
	CHECK(run("-c", c, "keys", "list", NULL) == 2 &&
	    strstr(err, "group or others") != NULL && strstr(err, K1) == NULL,
	    "a master key file the group may read: refused as the daemon "
	    "refuses it, before any database");
	chmod(m, 0600);
	CHECK(run("-c", c, "-d", "host=/nonexistent/socket dbname=x", "keys",
	    "list", NULL) == 2 && strstr(err, "cannot connect to the "
	    "database") != NULL && strstr(err, K1) == NULL,
	    "good keys, a database it cannot reach: exit 2, no key printed");
	CHECK(run("-d", "host=/nonexistent/socket dbname=x", "audit",
	    "verify", NULL) == 2 && strstr(err, "cannot connect to the "
	    "database") != NULL, "a command without keys needs no "
	    "configuration, only the database");
}

int
main(void)
{
	alarm(60);
	if ((ctl = getenv("HOTLINECTL")) == NULL)
		ctl = "build/hotlinectl";
	if (access(ctl, X_OK) == -1) {
		CHECK(0, "%s can be run (build it first)", ctl);
		UNIT_EXIT();
	}
	snprintf(dir, sizeof(dir), "/tmp/hotlinectl-test-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	unsetenv("HOTLINED_CONF");
	unsetenv("HOTLINECTL_DATABASE");
	test_usage();
	test_refusals();
	test_clients_add();
	snprintf(out, sizeof(out), "rm -rf '%s'", dir);
	if (system(out) != 0)
		printf("# could not remove %s\n", dir);
	UNIT_EXIT();
}
