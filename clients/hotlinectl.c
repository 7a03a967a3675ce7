/*
 * hotlinectl: the administrator's tool for hotlined.  Audits the case
 * histories, rotates the master key (rewrapping data keys, never touching
 * ciphertexts), runs retention and purges, and lists who read a case.
 * It connects to PostgreSQL as an administrator; the keys commands also
 * read the daemon's configuration for the key files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <libpq-fe.h>

#include "hotlined.h"

#define REWRAP_PAGE	"500"

static PGconn	*db;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: hotlinectl [-c config] [-d conninfo] command ...\n"
	    "  audit verify            check every case history's hash chain\n"
	    "  keys list               master keys and the data keys each wraps\n"
	    "  keys rotate             add a new current master key, rewrap every data key\n"
	    "  keys rewrap             rewrap data keys not under the current master key\n"
	    "  keys retire <kid>       drop a master key from the file once unused\n"
	    "  purge --dry-run         show what retention would purge now\n"
	    "  purge                   purge it (crypto-shredding)\n"
	    "  purge --case <number>   purge one case now\n"
	    "  access-log <number>     who read a case's personal data, when, why\n"
	    "-c: the daemon's configuration (default $HOTLINED_CONF, else\n"
	    "    /etc/hotlined.conf), for the key files.  -d: an administrator's\n"
	    "    connection (default $HOTLINECTL_DATABASE, else the PG* variables).\n"
	    "Running daemons load a rotated key file by themselves; no restart.\n");
}

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("hotlinectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	PQfinish(db);
	exit(2);
}

/* Run a statement with text parameters; NULL (message printed) on error. */
static PGresult *
query(const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	fprintf(stderr, "hotlinectl: %s: %s", what, PQresultErrorMessage(res));
	PQclear(res);
	return NULL;
}

/* Connect and set the administrator's scope. */
static void
connect_db(const char *conninfo)
{
	PGresult *res;

	if (conninfo == NULL)
		conninfo = getenv("HOTLINECTL_DATABASE");
	db = PQconnectdb(conninfo ? conninfo : "");
	if (PQstatus(db) != CONNECTION_OK)
		die("cannot connect: %s", PQerrorMessage(db));
	if ((res = query("session", "select set_config('hotline.scope', "
	    "'system', false), set_config('search_path', 'hotline, pg_temp', "
	    "false)", 0, NULL)) == NULL)
		die("cannot set up the session");
	PQclear(res);
}

/* audit verify */
static int
cmd_audit(void)
{
	PGresult *res;
	long events = 0;
	int i, n, broken = 0;

	if ((res = query("audit", "select case_number, events, first_bad "
	    "from hotline.audit_verify()", 0, NULL)) == NULL)
		return 2;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		events += atol(PQgetvalue(res, i, 1));
		if (!PQgetisnull(res, i, 2)) {
			broken++;
			printf("audit: case %s: broken at event %s\n",
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
		}
	}
	PQclear(res);
	if (broken) {
		printf("audit: %d of %d cases broken\n", broken, n);
		return 1;
	}
	printf("audit: %d cases, %ld events, every chain intact\n", n, events);
	return 0;
}

/* Load the daemon's configuration and its keys. */
static struct keyring *
load_keys(const char *confpath, struct config *cf)
{
	struct keyring *kr;
	char err[512];

	config_defaults(cf);
	if (config_load(cf, confpath) == -1)
		die("%s: unusable configuration", confpath);
	if (cf->cf_master_key[0] == '\0' || cf->cf_hash_key[0] == '\0')
		die("%s: master_key and hash_key must be set", confpath);
	if ((kr = keyring_load(cf->cf_master_key, cf->cf_hash_key, err,
	    sizeof(err))) == NULL)
		die("%s", err);
	return kr;
}

/* Parse a bytea in hex output format ("\x..."); malloc'd, NULL if not. */
static unsigned char *
bytea_hex(const char *s, size_t *len)
{
	unsigned char *out;
	size_t i, n;
	int hi, lo;

	if (strncmp(s, "\\x", 2) != 0 || (strlen(s) - 2) % 2 != 0)
		return NULL;
	s += 2;
	n = strlen(s) / 2;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)s[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(out);
			return NULL;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*len = n;
	return out;
}

/* Whether ref is in the list of failed references. */
static int
failed_before(char **failed, int nfailed, const char *ref)
{
	int i;

	for (i = 0; i < nfailed; i++)
		if (strcmp(failed[i], ref) == 0)
			return 1;
	return 0;
}

/* Rewrap every data key not under the current master key. */
static int
rewrap(const struct keyring *kr, long *done, int *nfailed)
{
	const char *cur = keyring_current(kr);
	char **failed = NULL, hex[2 + 2 * WRAPPED_LEN + 1];
	unsigned char *w, nw[WRAPPED_LEN];
	const char *p[4];
	PGresult *res, *r2;
	struct dek d;
	size_t wlen;
	int i, n, progress, rc = 0;

	*done = 0;
	*nfailed = 0;
	for (;;) {
		p[0] = cur;
		p[1] = REWRAP_PAGE;
		if ((res = query("rewrap", "select ref, uid, kid, wrapped from "
		    "hotline.data_key_pending($1, $2::integer)", 2, p)) == NULL)
			return 2;
		n = PQntuples(res);
		progress = 0;
		for (i = 0; i < n; i++) {
			const char *ref = PQgetvalue(res, i, 0);

			if (failed_before(failed, *nfailed, ref))
				continue;
			w = bytea_hex(PQgetvalue(res, i, 3), &wlen);
			if (w == NULL || dek_unwrap(kr, PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2), w, wlen, &d) == -1 ||
			    dek_wrap(kr, &d, cur, nw) == -1) {
				free(w);
				dek_clear(&d);
				fprintf(stderr, "hotlinectl: %s: the data key does "
				    "not unwrap (master key %s)\n", ref,
				    PQgetvalue(res, i, 2));
				failed = realloc(failed, sizeof(*failed) *
				    (size_t)(*nfailed + 1));
				if (failed == NULL)
					die("out of memory");
				failed[(*nfailed)++] = strdup(ref);
				progress = 1;
				continue;
			}
			free(w);
			dek_clear(&d);
			hex[0] = '\\';
			hex[1] = 'x';
			for (wlen = 0; wlen < WRAPPED_LEN; wlen++)
				snprintf(hex + 2 + 2 * wlen, 3, "%02x", nw[wlen]);
			p[0] = ref;
			p[1] = PQgetvalue(res, i, 2);
			p[2] = cur;
			p[3] = hex;
			if ((r2 = query("rewrap", "select hotline.data_key_rewrap("
			    "$1, $2, $3, $4::bytea)", 4, p)) == NULL) {
				rc = 2;
				break;
			}
			if (PQgetvalue(r2, 0, 0)[0] == 't')
				(*done)++;
			PQclear(r2);
			progress = 1;
		}
		PQclear(res);
		if (rc != 0 || n == 0 || !progress)
			break;
	}
	for (i = 0; i < *nfailed; i++)
		free(failed[i]);
	free(failed);
	return rc;
}

/* Write the key file atomically with mode 600. */
static void
write_keyfile(const char *path, const char *text)
{
	char tmp[1100], dir[1100];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	unlink(tmp);
	if ((fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600)) == -1)
		die("%s: %s", tmp, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) == -1) {
		close(fd);
		unlink(tmp);
		die("%s: write failed", tmp);
	}
	close(fd);
	if (rename(tmp, path) == -1)
		die("%s: %s", path, strerror(errno));
	snprintf(dir, sizeof(dir), "%s", path);
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(fd);
		close(fd);
	}
}

/* The key file's text (NUL-terminated, malloc'd). */
static char *
read_text(const char *path)
{
	FILE *f;
	char *buf;
	long n;

	if ((f = fopen(path, "r")) == NULL)
		die("%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 || n > 65536 ||
	    fseek(f, 0, SEEK_SET) == -1 || (buf = malloc((size_t)n + 1)) == NULL)
		die("%s: cannot read", path);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		die("%s: cannot read", path);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* How many live data keys the database has under kid. */
static long
keys_under(const char *kid)
{
	PGresult *res;
	const char *p[1] = { kid };
	long n;

	if ((res = query("keys", "select coalesce(sum(keys), 0) from "
	    "hotline.data_key_counts() where kid = $1", 1, p)) == NULL)
		die("cannot count data keys");
	n = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/* keys rotate: a new current master key, then rewrap. */
static int
cmd_rotate(const char *confpath)
{
	struct config cf;
	struct keyring *kr;
	unsigned char key[KEY_LEN];
	char kid[KID_MAX + 1], line[KID_MAX + 2 * KEY_LEN + 64], *old, *text;
	time_t now = time(NULL);
	struct tm tm;
	long done;
	int i, nfailed, rc, n;

	kr = load_keys(confpath, &cf);
	gmtime_r(&now, &tm);
	strftime(kid, sizeof(kid), "k%Y%m%d%H%M%S", &tm);
	for (n = 2; keyring_has(kr, kid); n++) {
		strftime(kid, sizeof(kid), "k%Y%m%d%H%M%S", &tm);
		snprintf(kid + strlen(kid), sizeof(kid) - strlen(kid), "-%d", n);
	}
	keyring_free(kr);
	if (RAND_bytes(key, sizeof(key)) != 1)
		die("no randomness");
	n = snprintf(line, sizeof(line), "%s ", kid);
	for (i = 0; i < KEY_LEN; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", key[i]);
	OPENSSL_cleanse(key, sizeof(key));
	old = read_text(cf.cf_master_key);
	if ((text = malloc(strlen(old) + sizeof(line) + 128)) == NULL)
		die("out of memory");
	snprintf(text, strlen(old) + sizeof(line) + 128,
	    "# hotlined master keys: <kid> <hex>; the first is current\n%s\n%s",
	    line, old);
	OPENSSL_cleanse(line, sizeof(line));
	write_keyfile(cf.cf_master_key, text);
	OPENSSL_cleanse(text, strlen(text));
	OPENSSL_cleanse(old, strlen(old));
	free(text);
	free(old);
	kr = load_keys(confpath, &cf);
	rc = rewrap(kr, &done, &nfailed);
	keyring_free(kr);
	printf("keys: new master key %s; %ld data keys rewrapped, %d failed\n",
	    kid, done, nfailed);
	return rc ? rc : nfailed ? 1 : 0;
}

/* keys rewrap */
static int
cmd_rewrap(const char *confpath)
{
	struct config cf;
	struct keyring *kr = load_keys(confpath, &cf);
	long done;
	int nfailed, rc;

	rc = rewrap(kr, &done, &nfailed);
	printf("keys: %ld data keys rewrapped under %s, %d failed\n", done,
	    keyring_current(kr), nfailed);
	keyring_free(kr);
	return rc ? rc : nfailed ? 1 : 0;
}

/* keys list */
static int
cmd_list(const char *confpath)
{
	struct config cf;
	struct keyring *kr = load_keys(confpath, &cf);
	PGresult *res;
	int i, rc = 0;

	if ((res = query("keys", "select kid, keys from hotline.data_key_counts()",
	    0, NULL)) == NULL) {
		keyring_free(kr);
		return 2;
	}
	printf("%-34s %10s\n", "master key", "data keys");
	printf("%-34s %10ld  current\n", keyring_current(kr),
	    keys_under(keyring_current(kr)));
	for (i = 0; i < PQntuples(res); i++) {
		const char *kid = PQgetvalue(res, i, 0);

		if (strcmp(kid, keyring_current(kr)) == 0)
			continue;
		printf("%-34s %10s  %s\n", kid, PQgetvalue(res, i, 1),
		    keyring_has(kr, kid) ? "" : "MISSING from the key file");
		if (!keyring_has(kr, kid))
			rc = 1;
	}
	PQclear(res);
	keyring_free(kr);
	return rc;
}

/* keys retire <kid>: drop an unused, non-current master key. */
static int
cmd_retire(const char *confpath, const char *kid)
{
	struct config cf;
	struct keyring *kr = load_keys(confpath, &cf);
	char *text, *out, *p, *nl;
	size_t klen = strlen(kid), n = 0;
	int found = 0;

	if (!keyring_has(kr, kid)) {
		keyring_free(kr);
		fprintf(stderr, "hotlinectl: no master key %s in the file\n", kid);
		return 1;
	}
	if (strcmp(keyring_current(kr), kid) == 0) {
		keyring_free(kr);
		fprintf(stderr, "hotlinectl: %s is the current key\n", kid);
		return 1;
	}
	keyring_free(kr);
	if (keys_under(kid) > 0) {
		fprintf(stderr, "hotlinectl: %s still wraps %ld data keys; run keys "
		    "rewrap first\n", kid, keys_under(kid));
		return 1;
	}
	text = read_text(cf.cf_master_key);
	if ((out = malloc(strlen(text) + 1)) == NULL)
		die("out of memory");
	for (p = text; *p != '\0'; p = nl) {
		nl = strchr(p, '\n');
		nl = nl ? nl + 1 : p + strlen(p);
		if (strncmp(p, kid, klen) == 0 && (p[klen] == ' ' ||
		    p[klen] == '\t')) {
			found = 1;
			continue;
		}
		memcpy(out + n, p, (size_t)(nl - p));
		n += (size_t)(nl - p);
	}
	out[n] = '\0';
	if (found)
		write_keyfile(cf.cf_master_key, out);
	OPENSSL_cleanse(text, strlen(text));
	OPENSSL_cleanse(out, n);
	free(text);
	free(out);
	printf("keys: %s retired\n", kid);
	return 0;
}

/* purge [--dry-run | --case N] */
static int
cmd_purge(int argc, char **argv)
{
	PGresult *res;
	const char *p[1];
	int i, calls = 0, cases = 0;

	if (argc == 2 && strcmp(argv[0], "--case") == 0) {
		p[0] = argv[1];
		res = PQexecParams(db, "select hotline.case_purge($1)", 1, NULL, p,
		    NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			if (st != NULL && strcmp(st, "P0002") == 0)
				fprintf(stderr, "hotlinectl: %s: no such case\n",
				    argv[1]);
			else
				fprintf(stderr, "hotlinectl: purge: %s",
				    PQresultErrorMessage(res));
			PQclear(res);
			return 1;
		}
		printf("purge: case %s %s\n", argv[1],
		    PQgetvalue(res, 0, 0)[0] == 't' ? "purged" :
		    "was already purged");
		PQclear(res);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "--dry-run") == 0) {
		if ((res = query("purge", "select kind, ref, since from "
		    "hotline.retention_plan()", 0, NULL)) == NULL)
			return 2;
		for (i = 0; i < PQntuples(res); i++) {
			printf("%s %s %s\n", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
			strcmp(PQgetvalue(res, i, 0), "call") == 0 ? calls++ :
			    cases++;
		}
		PQclear(res);
		printf("purge: %d calls and %d cases would be purged (dry run)\n",
		    calls, cases);
		return 0;
	}
	if (argc != 0) {
		usage(stderr);
		return 2;
	}
	if ((res = query("purge", "select kind, ref from "
	    "hotline.retention_purge()", 0, NULL)) == NULL)
		return 1;
	for (i = 0; i < PQntuples(res); i++) {
		printf("%s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		strcmp(PQgetvalue(res, i, 0), "call") == 0 ? calls++ : cases++;
	}
	PQclear(res);
	printf("purge: %d calls and %d cases purged\n", calls, cases);
	return 0;
}

/* access-log <case> */
static int
cmd_access_log(const char *number)
{
	PGresult *res;
	const char *p[1] = { number };
	int i;

	if ((res = query("access-log", "select to_char(at at time zone 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), client, role, coalesce(agency, "
	    "'-'), basis, coalesce(purpose, '-'), coalesce(access_request::text, "
	    "'-'), case when reporter then 'yes' else 'no' end from "
	    "hotline.access_log_list($1)", 1, p)) == NULL)
		return 2;
	printf("%-20s  %-28s  %-8s  %-24s  %-14s  %-8s  %s\n", "at", "client",
	    "role", "agency", "basis", "reporter", "purpose (request)");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-20s  %-28s  %-8s  %-24s  %-14s  %-8s  %s (%s)\n",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 4), PQgetvalue(res, i, 7),
		    PQgetvalue(res, i, 5), PQgetvalue(res, i, 6));
	printf("access-log: %d reads of %s\n", PQntuples(res), number);
	PQclear(res);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *conf = getenv("HOTLINED_CONF"), *conninfo = NULL;
	int ch, rc;

	if (conf == NULL)
		conf = "/etc/hotlined.conf";
	while ((ch = getopt(argc, argv, "+c:d:h")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	log_init(1, LOG_LVL_WARN);
	if (argc == 2 && strcmp(argv[0], "audit") == 0 &&
	    strcmp(argv[1], "verify") == 0) {
		connect_db(conninfo);
		rc = cmd_audit();
	} else if (argc >= 2 && strcmp(argv[0], "keys") == 0) {
		if (argc == 2 && strcmp(argv[1], "list") == 0) {
			connect_db(conninfo);
			rc = cmd_list(conf);
		} else if (argc == 2 && strcmp(argv[1], "rotate") == 0) {
			connect_db(conninfo);
			rc = cmd_rotate(conf);
		} else if (argc == 2 && strcmp(argv[1], "rewrap") == 0) {
			connect_db(conninfo);
			rc = cmd_rewrap(conf);
		} else if (argc == 3 && strcmp(argv[1], "retire") == 0) {
			connect_db(conninfo);
			rc = cmd_retire(conf, argv[2]);
		} else {
			usage(stderr);
			return 2;
		}
	} else if (argc >= 1 && strcmp(argv[0], "purge") == 0) {
		connect_db(conninfo);
		rc = cmd_purge(argc - 1, argv + 1);
	} else if (argc == 2 && strcmp(argv[0], "access-log") == 0) {
		connect_db(conninfo);
		rc = cmd_access_log(argv[1]);
	} else {
		usage(stderr);
		return 2;
	}
	PQfinish(db);
	return rc;
}
