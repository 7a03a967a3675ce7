/*
 * hotlinectl: the administrator's tool for hotlined.  Audits the case
 * histories, rotates and retires master keys (rewrapping data keys, never
 * touching ciphertexts), runs retention and purges, and lists who read a
 * case.  It connects to PostgreSQL as an administrator with blocking libpq;
 * the keys commands also read the daemon's configuration for the key files.
 * Key material is never printed, and is cleared from memory after use.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <libpq-fe.h>

#include "hotlined.h"

#define DEFAULT_CONF	"/etc/hotlined.conf"	/* as hotlined */
#define KEYFILE_MAX	(64 * 1024)	/* as crypto.c accepts */
#define KEYFILE_KIDS	256		/* key lines read from the file */
#define KEYFILE_HEADER	"# hotlined master keys: <kid> <hex>; the first is current"
#define REWRAP_PAGE	500		/* data keys fetched at a time */
#define REWRAP_LIMIT	100000		/* largest page, failures included */

/* Exit statuses. */
#define EXIT_OK		0
#define EXIT_FAILED	1		/* a check or an operation failed */
#define EXIT_USAGE	2		/* usage, configuration or connection */

enum command {
	CMD_NONE,
	CMD_AUDIT,
	CMD_KEYS_LIST,
	CMD_KEYS_ROTATE,
	CMD_KEYS_REWRAP,
	CMD_KEYS_RETIRE,
	CMD_PURGE_DRY_RUN,
	CMD_PURGE,
	CMD_PURGE_CASE,
	CMD_ACCESS_LOG,
};

/* The data keys under one master key, from data_key_counts(). */
struct kidcount {
	char		*kc_kid;	/* "" when null */
	long long	 kc_keys;
};

/* A set of strings (data key references that failed to unwrap). */
struct strset {
	char		**ss_slot;
	size_t		  ss_size;	/* slots: 0 or a power of two */
	size_t		  ss_n;
};

/* What a rewrap did. */
struct rewrap_stats {
	long long	 rs_done;	/* rewrapped under the current key */
	long long	 rs_failed;	/* did not unwrap (reported by ref) */
	int		 rs_incomplete;	/* stopped with keys still pending */
};

/* What a rewritten key file must look like before it replaces the old. */
struct keyfile_want {
	const char	*kw_current;	/* its current kid */
	const char	*kw_gone;	/* a kid it must not have, or NULL */
	char		(*kw_kids)[KID_MAX + 1];	/* kids it must keep */
	int		 kw_nkids;
};

static PGconn	*db;

/* Print the usage text. */
static void
usage(FILE *f)
{
	fputs(
	    "usage: hotlinectl [-c config] [-d conninfo] command ...\n"
	    "  audit verify            check every case history's hash chain\n"
	    "  keys list               master keys in the key file, and how many data keys\n"
	    "                          each wraps\n"
	    "  keys rotate             add a new master key (it becomes current) and rewrap\n"
	    "                          every data key under it\n"
	    "  keys rewrap             rewrap every data key not under the current master key\n"
	    "  keys retire <kid>       remove a master key from the file once no data key\n"
	    "                          uses it\n"
	    "  purge --dry-run         show what retention would purge now\n"
	    "  purge                   purge it (crypto-shredding)\n"
	    "  purge --case <number>   purge one case now\n"
	    "  access-log <case>       who read a case's personal data, when, and why\n"
	    "options:\n"
	    "  -c config    the daemon's configuration, for the key files (keys commands\n"
	    "               only; default $HOTLINED_CONF, else " DEFAULT_CONF ")\n"
	    "  -d conninfo  an administrator's libpq connection (default\n"
	    "               $HOTLINECTL_DATABASE, else the PG* environment variables)\n"
	    "  -h           this text\n"
	    "Running daemons load a rotated key file by themselves the first time they\n"
	    "meet its new key id: no restart is needed.\n"
	    "Exit status: 0 ok, 1 a check or an operation failed, 2 usage, configuration\n"
	    "or connection error.\n", f);
}

/* Print a message to stderr, prefixed with the program's name. */
static void __attribute__((format(printf, 1, 2)))
complain(const char *fmt, ...)
{
	va_list ap;

	fputs("hotlinectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Report a database error: what failed, the server's primary message and
 * its SQLSTATE.  Not the DETAIL, which can quote a row's values.
 */
static void
db_complain(const char *what, const PGresult *res)
{
	const char *m = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *st = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t len;

	if (m == NULL || *m == '\0')
		m = PQerrorMessage(db);
	if (*m == '\0')
		m = "unexpected result";
	len = strlen(m);
	while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
		len--;
	fprintf(stderr, "hotlinectl: %s: %.*s%s%s%s\n", what, (int)len, m,
	    st ? " (SQLSTATE " : "", st ? st : "", st ? ")" : "");
}

/* Run a statement with text parameters; NULL (reported) on error. */
static PGresult *
query(const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *res;
	ExecStatusType st;

	res = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	db_complain(what, res);
	PQclear(res);
	return NULL;
}

/* Run a statement that answers one row of nfields; NULL (reported) if not. */
static PGresult *
query_row(const char *what, const char *sql, int n, const char *const *params,
    int nfields)
{
	PGresult *res;

	if ((res = query(what, sql, n, params)) == NULL)
		return NULL;
	if (PQntuples(res) != 1 || PQnfields(res) != nfields) {
		complain("%s: unexpected result (%d rows)", what, PQntuples(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Connect as the administrator and set the session up; 0 on success. */
static int
connect_db(const char *conninfo)
{
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { NULL, "hotlinectl", NULL };
	PGresult *res;
	const char *m;
	size_t len;

	if (conninfo == NULL)
		conninfo = getenv("HOTLINECTL_DATABASE");
	vals[0] = conninfo != NULL ? conninfo : "";
	if ((db = PQconnectdbParams(keys, vals, 1)) == NULL) {
		complain("cannot connect to the database: out of memory");
		return -1;
	}
	if (PQstatus(db) != CONNECTION_OK) {
		m = PQerrorMessage(db);
		len = strlen(m);
		while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
			len--;
		complain("cannot connect to the database: %.*s", (int)len, m);
		return -1;
	}
	/* Row-level security: the administrator sees every row. */
	if ((res = query("session", "select set_config('hotline.scope', "
	    "'system', false)", 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	if ((res = query("session", "set search_path = hotline, pg_temp", 0,
	    NULL)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* Parse a whole number printed by the server; 0 if it is not one. */
static long long
number(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return 0;
	return n;
}

/* audit verify: every case history's hash chain. */
static int
cmd_audit(void)
{
	PGresult *res;
	long long events = 0;
	int i, n, broken = 0;

	if ((res = query("audit", "select case_number, events, first_bad "
	    "from hotline.audit_verify()", 0, NULL)) == NULL)
		return EXIT_FAILED;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		events += number(PQgetvalue(res, i, 1));
		if (!PQgetisnull(res, i, 2)) {
			broken++;
			printf("audit: case %s: broken at event %s\n",
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
		}
	}
	PQclear(res);
	if (broken > 0) {
		printf("audit: %d of %d cases broken\n", broken, n);
		return EXIT_FAILED;
	}
	printf("audit: %d cases, %lld events, every chain intact\n", n, events);
	return EXIT_OK;
}

/* Free what counts_fetch() returned. */
static void
counts_free(struct kidcount *kc, int n)
{
	int i;

	for (i = 0; i < n; i++)
		free(kc[i].kc_kid);
	free(kc);
}

/* The data keys under each master key; the number of kids, or -1. */
static int
counts_fetch(struct kidcount **out)
{
	struct kidcount *kc;
	PGresult *res;
	int i, n;

	*out = NULL;
	if ((res = query("keys: data_key_counts", "select kid, keys from "
	    "hotline.data_key_counts()", 0, NULL)) == NULL)
		return -1;
	n = PQntuples(res);
	if ((kc = calloc((size_t)n + 1, sizeof(*kc))) == NULL) {
		PQclear(res);
		complain("out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		kc[i].kc_kid = strdup(PQgetisnull(res, i, 0) ? "" :
		    PQgetvalue(res, i, 0));
		kc[i].kc_keys = number(PQgetvalue(res, i, 1));
		if (kc[i].kc_kid == NULL) {
			PQclear(res);
			counts_free(kc, i);
			complain("out of memory");
			return -1;
		}
	}
	PQclear(res);
	*out = kc;
	return n;
}

/* How many data keys are under kid; -1 (reported) on error. */
static long long
keys_under(const char *kid)
{
	PGresult *res;
	const char *p[1] = { kid };
	long long n;

	if ((res = query_row("keys: data_key_counts", "select coalesce(sum("
	    "keys), 0) from hotline.data_key_counts() where kid = $1", 1, p,
	    1)) == NULL)
		return -1;
	n = number(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/*
 * The key id on the key file line [s, e): its first word once trimmed, as
 * crypto.c reads it.  Its length, 0 for a blank or comment line.
 */
static size_t
line_kid(const char *s, const char *e, const char **kid)
{
	const char *p;

	while (s < e && isspace((unsigned char)*s))
		s++;
	if (s == e || *s == '#')
		return 0;
	for (p = s; p < e && !isspace((unsigned char)*p); p++)
		;
	*kid = s;
	return (size_t)(p - s);
}

/* The end of the line that starts at p (after its newline, if any). */
static const char *
line_end(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl != NULL ? nl + 1 : p + strlen(p);
}

/* The key ids of a key file, in order; their number, or -1 (reported). */
static int
keyfile_kids(const char *path, const char *text, char (*kids)[KID_MAX + 1],
    int max)
{
	const char *p, *e, *k;
	size_t len;
	int n = 0;

	for (p = text; *p != '\0'; p = e) {
		e = line_end(p);
		if ((len = line_kid(p, e, &k)) == 0)
			continue;
		if (len > KID_MAX || n == max) {
			complain("%s: not a key file hotlinectl can read", path);
			return -1;
		}
		memcpy(kids[n], k, len);
		kids[n++][len] = '\0';
	}
	return n;
}

/* Clear and free a key file's text. */
static void
text_free(char *text, size_t size)
{
	if (text == NULL)
		return;
	OPENSSL_cleanse(text, size);
	free(text);
}

/* A key file's text, NUL-terminated, and its stat; NULL (reported). */
static char *
keyfile_read(const char *path, struct stat *st, size_t *lenp)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		complain("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode) ||
	    st->st_size > KEYFILE_MAX) {
		complain("%s: not a key file hotlinectl can read", path);
		goto fail;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		complain("out of memory");
		goto fail;
	}
	while (len < (size_t)st->st_size) {
		r = read(fd, buf + len, (size_t)st->st_size - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			complain("%s: read failed", path);
			goto fail;
		}
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		complain("%s: not a key file hotlinectl can read", path);
		goto fail;
	}
	close(fd);
	*lenp = len;
	return buf;
fail:
	if (buf != NULL)
		text_free(buf, (size_t)st->st_size + 1);
	close(fd);
	return NULL;
}

/*
 * Take the key file's lock: create <path>.new (O_EXCL, mode 600), which
 * the change is then written to.  Its descriptor, or -1 (reported).
 */
static int
keyfile_lock(const char *path, char *tmp, size_t tmplen)
{
	int fd;

	if ((size_t)snprintf(tmp, tmplen, "%s.new", path) >= tmplen) {
		complain("%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 && errno == EEXIST)
		complain("%s exists: another hotlinectl is changing the key "
		    "file, or one was interrupted (then remove it)", tmp);
	else if (fd == -1)
		complain("%s: %s", tmp, strerror(errno));
	return fd;
}

/* Whether a loaded key file is what was meant. */
static int
keyfile_check(const struct keyring *kr, const struct keyfile_want *kw)
{
	int i;

	if (strcmp(keyring_current(kr), kw->kw_current) != 0)
		return 0;
	if (kw->kw_gone != NULL && keyring_has(kr, kw->kw_gone))
		return 0;
	for (i = 0; i < kw->kw_nkids; i++)
		if ((kw->kw_gone == NULL || strcmp(kw->kw_kids[i],
		    kw->kw_gone) != 0) && !keyring_has(kr, kw->kw_kids[i]))
			return 0;
	return 1;
}

/*
 * Write text (len bytes) to the locked <path>.new (fd), owned like the
 * file it replaces (old), mode 600; fsync it; check that it loads with the
 * hash key and holds what kw says; rename it over path and fsync the
 * directory.  The lock is released either way; 0 on success.
 */
static int
keyfile_commit(int fd, const char *tmp, const char *path,
    const struct stat *old, const char *text, size_t len,
    const char *hash_path, const struct keyfile_want *kw)
{
	struct keyring *kr;
	struct stat st;
	char err[512], *dir;
	size_t off = 0;
	ssize_t w;
	int dfd;

	while (off < len) {
		if ((w = write(fd, text + off, len - off)) == -1 &&
		    errno == EINTR)
			continue;
		if (w <= 0) {
			complain("%s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fstat(fd, &st) == -1 || ((st.st_uid != old->st_uid ||
	    st.st_gid != old->st_gid) &&
	    fchown(fd, old->st_uid, old->st_gid) == -1) ||
	    fchmod(fd, 0600) == -1) {
		complain("%s: cannot give it the owner and mode of %s: %s", tmp,
		    path, strerror(errno));
		goto fail;
	}
	if (fsync(fd) == -1) {
		complain("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		complain("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if ((kr = keyring_load(tmp, hash_path, err, sizeof(err))) == NULL) {
		complain("the new key file would not load (%s); %s is "
		    "unchanged", err, path);
		goto fail;
	}
	if (!keyfile_check(kr, kw)) {
		keyring_free(kr);
		complain("%s changed meanwhile; it is unchanged", path);
		goto fail;
	}
	keyring_free(kr);
	if (rename(tmp, path) == -1) {
		complain("%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((dir = strdup(path)) != NULL) {
		if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1 || fsync(dfd) == -1)
			complain("warning: %s: cannot sync its directory: %s",
			    path, strerror(errno));
		if (dfd != -1)
			close(dfd);
		free(dir);
	}
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

/* Hash a string (FNV-1a). */
static size_t
strset_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

/* Put s in the first free slot of its chain. */
static void
strset_put(char **slot, size_t size, char *s)
{
	size_t i;

	for (i = strset_hash(s) & (size - 1); slot[i] != NULL;
	    i = (i + 1) & (size - 1))
		;
	slot[i] = s;
}

/* Whether the set has s. */
static int
strset_has(const struct strset *ss, const char *s)
{
	size_t i;

	if (ss->ss_size == 0)
		return 0;
	for (i = strset_hash(s) & (ss->ss_size - 1); ss->ss_slot[i] != NULL;
	    i = (i + 1) & (ss->ss_size - 1))
		if (strcmp(ss->ss_slot[i], s) == 0)
			return 1;
	return 0;
}

/* Add a copy of s; 0, or -1 when out of memory. */
static int
strset_add(struct strset *ss, const char *s)
{
	char **slot, *dup;
	size_t i, size;

	if (strset_has(ss, s))
		return 0;
	if (2 * (ss->ss_n + 1) > ss->ss_size) {
		size = ss->ss_size != 0 ? 2 * ss->ss_size : 64;
		if ((slot = calloc(size, sizeof(*slot))) == NULL)
			return -1;
		for (i = 0; i < ss->ss_size; i++)
			if (ss->ss_slot[i] != NULL)
				strset_put(slot, size, ss->ss_slot[i]);
		free(ss->ss_slot);
		ss->ss_slot = slot;
		ss->ss_size = size;
	}
	if ((dup = strdup(s)) == NULL)
		return -1;
	strset_put(ss->ss_slot, ss->ss_size, dup);
	ss->ss_n++;
	return 0;
}

/* Free the set. */
static void
strset_free(struct strset *ss)
{
	size_t i;

	for (i = 0; i < ss->ss_size; i++)
		free(ss->ss_slot[i]);
	free(ss->ss_slot);
	memset(ss, 0, sizeof(*ss));
}

/* Decode hex digits into out (outlen bytes exactly); 0 on success. */
static int
hex_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t i;
	int hi, lo;

	if (strlen(s) != 2 * outlen)
		return -1;
	for (i = 0; i < outlen; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)s[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Encode len bytes as lowercase hex into out (2 * len + 1 bytes). */
static void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

/*
 * Rewrap one data key of a data_key_pending() row under cur.  1 if it
 * was rewrapped, 0 if the row changed meanwhile, -1 if it does not unwrap
 * (reported), -2 on a database error (reported).
 */
static int
rewrap_one(const struct keyring *kr, const char *cur, PGresult *res, int row)
{
	const char *ref = PQgetvalue(res, row, 0), *uid = PQgetvalue(res, row, 1);
	const char *kid = PQgetvalue(res, row, 2), *p[4];
	unsigned char w[WRAPPED_LEN], nw[WRAPPED_LEN];
	char hex[2 * WRAPPED_LEN + 1];
	PGresult *r2;
	struct dek d;
	int rc;

	memset(&d, 0, sizeof(d));
	if (PQgetisnull(res, row, 3) || hex_decode(PQgetvalue(res, row, 3), w,
	    sizeof(w)) == -1 || dek_unwrap(kr, uid, kid, w, sizeof(w), &d) ==
	    -1) {
		complain("keys: %s: its data key does not unwrap under master "
		    "key %s%s", ref, kid, keyring_has(kr, kid) ? "" :
		    " (not in the key file)");
		dek_clear(&d);
		return -1;
	}
	rc = dek_wrap(kr, &d, cur, nw);
	dek_clear(&d);
	if (rc == -1) {
		complain("keys: %s: cannot wrap its data key under %s", ref,
		    cur);
		return -1;
	}
	hex_encode(nw, sizeof(nw), hex);
	p[0] = ref;
	p[1] = kid;
	p[2] = cur;
	p[3] = hex;
	r2 = query_row("keys: data_key_rewrap", "select hotline.data_key_rewrap("
	    "$1, $2, $3, decode($4, 'hex'))", 4, p, 1);
	if (r2 == NULL)
		return -2;
	rc = strcmp(PQgetvalue(r2, 0, 0), "t") == 0 ? 1 : 0;
	PQclear(r2);
	return rc;
}

/*
 * Rewrap every data key not under the current master key of *krp, a page
 * at a time; each is stored with a compare-and-set on its old kid.  A data
 * key that does not unwrap is reported by reference, counted and skipped
 * from then on; pages grow with the failures so that each brings new
 * work, and the loop ends when a page brings no progress.  A kid the
 * keyring lacks reloads the key file once a page; if its current key has
 * changed (another rotation), the loop stops.  0, or -1 on a database
 * error.
 */
static int
rewrap_all(const struct config *cf, struct keyring **krp,
    struct rewrap_stats *rs)
{
	struct strset failed = { NULL, 0, 0 };
	struct keyring *nkr;
	char cur[KID_MAX + 1], limit[32], err[512];
	const char *p[2], *kid;
	PGresult *res;
	long long lim;
	int i, n, r, progress, reloaded, rc = 0;

	memset(rs, 0, sizeof(*rs));
	snprintf(cur, sizeof(cur), "%s", keyring_current(*krp));
	for (;;) {
		lim = REWRAP_PAGE + 2 * (long long)failed.ss_n;
		if (lim > REWRAP_LIMIT)
			lim = REWRAP_LIMIT;
		snprintf(limit, sizeof(limit), "%lld", lim);
		p[0] = cur;
		p[1] = limit;
		if ((res = query("keys: data_key_pending", "select ref, "
		    "uid::text, kid, encode(wrapped, 'hex') from "
		    "hotline.data_key_pending($1, $2::integer)", 2, p)) == NULL) {
			rc = -1;
			break;
		}
		n = PQntuples(res);
		progress = reloaded = 0;
		for (i = 0; i < n; i++) {
			if (strset_has(&failed, PQgetvalue(res, i, 0)))
				continue;
			kid = PQgetvalue(res, i, 2);
			if (!keyring_has(*krp, kid) && !reloaded) {
				reloaded = 1;
				nkr = keyring_load(cf->cf_master_key,
				    cf->cf_hash_key, err, sizeof(err));
				if (nkr != NULL &&
				    strcmp(keyring_current(nkr), cur) != 0) {
					complain("keys: the current master key "
					    "changed meanwhile (now %s); "
					    "stopping", keyring_current(nkr));
					keyring_free(nkr);
					rs->rs_incomplete = 1;
					break;
				}
				if (nkr != NULL) {
					keyring_free(*krp);
					*krp = nkr;
				}
			}
			r = rewrap_one(*krp, cur, res, i);
			if (r == -2) {
				rc = -1;
				break;
			}
			if (r == -1) {
				if (strset_add(&failed, PQgetvalue(res, i, 0))
				    == -1) {
					complain("out of memory");
					rc = -1;
					break;
				}
				rs->rs_failed++;
			} else if (r == 1)
				rs->rs_done++;
			if (r != 0)
				progress = 1;
		}
		/* Stopped with keys pending that are not known failures? */
		if (rc == 0 && !rs->rs_incomplete && n > 0 && !progress &&
		    (n == lim || (size_t)n > failed.ss_n))
			rs->rs_incomplete = 1;
		PQclear(res);
		if (rc != 0 || rs->rs_incomplete || n == 0 || !progress)
			break;
	}
	if (rs->rs_incomplete && rc == 0)
		complain("keys: data keys are still pending; run keys rewrap "
		    "again");
	strset_free(&failed);
	return rc;
}

/* keys rotate: a new current master key, then rewrap. */
static int
cmd_rotate(const struct config *cf, struct keyring **krp)
{
	static char kids[KEYFILE_KIDS][KID_MAX + 1];
	const char *path = cf->cf_master_key, *p, *e, *k;
	char tmp[sizeof(cf->cf_master_key) + 8], kid[KID_MAX + 1], base[16];
	char err[512], *old = NULL, *text = NULL;
	unsigned char key[KEY_LEN];
	struct keyfile_want kw;
	struct rewrap_stats rs;
	struct kidcount *kc;
	struct stat st;
	struct tm tm;
	time_t now;
	size_t len, head, size = 0, off;
	int fd, i, nkc, nkids, suffix, taken, comment = 0, rc;

	if ((nkc = counts_fetch(&kc)) == -1)
		return EXIT_FAILED;
	if ((fd = keyfile_lock(path, tmp, sizeof(tmp))) == -1) {
		counts_free(kc, nkc);
		return EXIT_FAILED;
	}
	/* Read under the lock: nothing else changes the file meanwhile. */
	if ((old = keyfile_read(path, &st, &len)) == NULL ||
	    (nkids = keyfile_kids(path, old, kids, KEYFILE_KIDS)) == -1)
		goto fail;

	/* k<UTC time>, with -2, -3... if the file or a data key has it. */
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(base, sizeof(base), "k%Y%m%d%H%M%S", &tm);
	snprintf(kid, sizeof(kid), "%s", base);
	for (suffix = 2, taken = 1; taken && suffix < 10000; suffix++) {
		taken = 0;
		for (i = 0; i < nkids && !taken; i++)
			taken = strcmp(kids[i], kid) == 0;
		for (i = 0; i < nkc && !taken; i++)
			taken = strcmp(kc[i].kc_kid, kid) == 0;
		if (taken)
			snprintf(kid, sizeof(kid), "%s-%d", base, suffix);
	}
	if (taken) {
		complain("keys: no free key id");
		goto fail;
	}

	/*
	 * The new file: the leading comments (or a header comment), the new
	 * key's line, then every other line of the old file unchanged.
	 */
	head = 0;
	for (p = old; *p != '\0'; p = e) {
		e = line_end(p);
		if (line_kid(p, e, &k) != 0)
			break;
		while (p < e && isspace((unsigned char)*p))
			p++;
		if (p < e && *p == '#')
			comment = 1;
		head = (size_t)(e - old);
	}
	size = sizeof(KEYFILE_HEADER) + 1 + head + 1 + KID_MAX + 1 +
	    2 * KEY_LEN + 1 + (len - head) + 1;
	if ((text = malloc(size)) == NULL) {
		complain("out of memory");
		goto fail;
	}
	off = 0;
	if (!comment)
		off += (size_t)snprintf(text, size, "%s\n", KEYFILE_HEADER);
	memcpy(text + off, old, head);
	off += head;
	if (head > 0 && old[head - 1] != '\n')
		text[off++] = '\n';
	off += (size_t)snprintf(text + off, size - off, "%s ", kid);
	if (RAND_bytes(key, sizeof(key)) != 1) {
		complain("keys: no random bytes for a new key");
		goto fail;
	}
	hex_encode(key, sizeof(key), text + off);
	OPENSSL_cleanse(key, sizeof(key));
	off += 2 * KEY_LEN;
	text[off++] = '\n';
	memcpy(text + off, old + head, len - head);
	off += len - head;
	text[off] = '\0';

	kw.kw_current = kid;
	kw.kw_gone = NULL;
	kw.kw_kids = kids;
	kw.kw_nkids = nkids;
	rc = keyfile_commit(fd, tmp, path, &st, text, off, cf->cf_hash_key,
	    &kw);
	fd = -1;
	text_free(text, size);
	text_free(old, len + 1);
	counts_free(kc, nkc);
	if (rc == -1)
		return EXIT_FAILED;

	printf("keys: %s written; new master key %s\n", path, kid);
	fflush(stdout);
	keyring_free(*krp);
	if ((*krp = keyring_load(path, cf->cf_hash_key, err, sizeof(err))) ==
	    NULL) {
		complain("%s", err);
		return EXIT_FAILED;
	}
	if (strcmp(keyring_current(*krp), kid) != 0) {
		complain("keys: %s changed meanwhile (current: %s); run keys "
		    "rewrap", path, keyring_current(*krp));
		return EXIT_FAILED;
	}
	rc = rewrap_all(cf, krp, &rs);
	printf("keys: new master key %s; %lld data keys rewrapped, %lld "
	    "failed\n", kid, rs.rs_done, rs.rs_failed);
	return rc == 0 && rs.rs_failed == 0 && !rs.rs_incomplete ? EXIT_OK :
	    EXIT_FAILED;
fail:
	OPENSSL_cleanse(key, sizeof(key));
	if (fd != -1) {
		close(fd);
		unlink(tmp);
	}
	text_free(text, size);
	if (old != NULL)
		text_free(old, len + 1);
	counts_free(kc, nkc);
	return EXIT_FAILED;
}

/* keys rewrap: every data key not under the current master key. */
static int
cmd_rewrap(const struct config *cf, struct keyring **krp)
{
	struct rewrap_stats rs;
	int rc;

	rc = rewrap_all(cf, krp, &rs);
	printf("keys: %lld data keys rewrapped under %s, %lld failed\n",
	    rs.rs_done, keyring_current(*krp), rs.rs_failed);
	return rc == 0 && rs.rs_failed == 0 && !rs.rs_incomplete ? EXIT_OK :
	    EXIT_FAILED;
}

/* keys list: the file's master keys in order, and kids it lacks. */
static int
cmd_list(const struct config *cf, const struct keyring *kr)
{
	static char kids[KEYFILE_KIDS][KID_MAX + 1];
	struct kidcount *kc;
	struct stat st;
	long long keys;
	size_t len;
	char *text;
	int i, j, nkc, nkids, w = 10, missing = 0;

	if ((text = keyfile_read(cf->cf_master_key, &st, &len)) == NULL)
		return EXIT_FAILED;
	nkids = keyfile_kids(cf->cf_master_key, text, kids, KEYFILE_KIDS);
	text_free(text, len + 1);
	if (nkids == -1 || (nkc = counts_fetch(&kc)) == -1)
		return EXIT_FAILED;
	for (i = 0; i < nkids; i++)
		if ((int)strlen(kids[i]) > w)
			w = (int)strlen(kids[i]);
	for (i = 0; i < nkc; i++)
		if ((int)strlen(kc[i].kc_kid) > w && strlen(kc[i].kc_kid) < 200)
			w = (int)strlen(kc[i].kc_kid);
	printf("%-*s  %10s\n", w, "master key", "data keys");
	for (i = 0; i < nkids; i++) {
		keys = 0;
		for (j = 0; j < nkc; j++)
			if (strcmp(kc[j].kc_kid, kids[i]) == 0)
				keys = kc[j].kc_keys;
		printf("%-*s  %10lld%s\n", w, kids[i], keys,
		    strcmp(kids[i], keyring_current(kr)) == 0 ? "  current" : "");
	}
	for (i = 0; i < nkc; i++) {
		for (j = 0; j < nkids; j++)
			if (strcmp(kc[i].kc_kid, kids[j]) == 0)
				break;
		if (j < nkids)
			continue;
		printf("%-*s  %10lld  MISSING\n", w, kc[i].kc_kid[0] != '\0' ?
		    kc[i].kc_kid : "-", kc[i].kc_keys);
		missing++;
	}
	counts_free(kc, nkc);
	if (missing > 0) {
		complain("keys: %d master keys that wrap data keys are missing "
		    "from %s", missing, cf->cf_master_key);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/* keys retire <kid>: drop an unused master key that is not current. */
static int
cmd_retire(const struct config *cf, const struct keyring *kr, const char *kid)
{
	static char kids[KEYFILE_KIDS][KID_MAX + 1];
	const char *path = cf->cf_master_key, *p, *e, *k;
	char tmp[sizeof(cf->cf_master_key) + 8], *text = NULL, *out = NULL;
	struct keyfile_want kw;
	struct stat st;
	long long n;
	size_t len = 0, klen = strlen(kid), off = 0, kl;
	int fd, nkids, found = 0, rc;

	if (!keyring_has(kr, kid)) {
		complain("keys: %s is not in %s", kid, path);
		return EXIT_FAILED;
	}
	if (strcmp(keyring_current(kr), kid) == 0) {
		complain("keys: %s is the current master key; rotate first", kid);
		return EXIT_FAILED;
	}
	if ((n = keys_under(kid)) == -1)
		return EXIT_FAILED;
	if (n > 0) {
		complain("keys: %s still wraps %lld data keys; run keys rewrap "
		    "first", kid, n);
		return EXIT_FAILED;
	}
	if ((fd = keyfile_lock(path, tmp, sizeof(tmp))) == -1)
		return EXIT_FAILED;
	if ((text = keyfile_read(path, &st, &len)) == NULL ||
	    (nkids = keyfile_kids(path, text, kids, KEYFILE_KIDS)) == -1)
		goto fail;
	if (nkids == 0 || strcmp(kids[0], kid) == 0) {
		complain("keys: %s is the current master key now; not retired",
		    kid);
		goto fail;
	}
	if ((out = malloc(len + 1)) == NULL) {
		complain("out of memory");
		goto fail;
	}
	for (p = text; *p != '\0'; p = e) {
		e = line_end(p);
		kl = line_kid(p, e, &k);
		if (kl == klen && memcmp(k, kid, klen) == 0) {
			found = 1;
			continue;
		}
		memcpy(out + off, p, (size_t)(e - p));
		off += (size_t)(e - p);
	}
	out[off] = '\0';
	if (!found) {
		complain("keys: %s is no longer in %s", kid, path);
		goto fail;
	}
	/* Once more under the lock, just before the file changes. */
	if ((n = keys_under(kid)) != 0) {
		if (n > 0)
			complain("keys: %s now wraps %lld data keys; not "
			    "retired", kid, n);
		goto fail;
	}
	kw.kw_current = kids[0];
	kw.kw_gone = kid;
	kw.kw_kids = kids;
	kw.kw_nkids = nkids;
	rc = keyfile_commit(fd, tmp, path, &st, out, off, cf->cf_hash_key, &kw);
	text_free(out, len + 1);
	text_free(text, len + 1);
	if (rc == -1)
		return EXIT_FAILED;
	printf("keys: %s retired\n", kid);
	return EXIT_OK;
fail:
	close(fd);
	unlink(tmp);
	text_free(out, len + 1);
	if (text != NULL)
		text_free(text, len + 1);
	return EXIT_FAILED;
}

/* Count a purged (or to be purged) row by its kind. */
static void
count_kind(const char *kind, int *calls, int *cases)
{
	if (strcmp(kind, "call") == 0)
		(*calls)++;
	else
		(*cases)++;
}

/* purge --dry-run: what retention would purge now. */
static int
cmd_purge_plan(void)
{
	PGresult *res;
	int i, calls = 0, cases = 0;

	if ((res = query("purge: retention_plan", "select kind, ref, "
	    "to_char(since at time zone 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from hotline.retention_plan()",
	    0, NULL)) == NULL)
		return EXIT_FAILED;
	for (i = 0; i < PQntuples(res); i++) {
		printf("%s %s %s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetisnull(res, i, 2) ? "-" :
		    PQgetvalue(res, i, 2));
		count_kind(PQgetvalue(res, i, 0), &calls, &cases);
	}
	PQclear(res);
	printf("purge: %d calls and %d cases would be purged (dry run)\n",
	    calls, cases);
	return EXIT_OK;
}

/* purge: what retention says, now. */
static int
cmd_purge(void)
{
	PGresult *res;
	int i, calls = 0, cases = 0;

	if ((res = query("purge: retention_purge", "select kind, ref from "
	    "hotline.retention_purge()", 0, NULL)) == NULL)
		return EXIT_FAILED;
	for (i = 0; i < PQntuples(res); i++) {
		printf("%s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		count_kind(PQgetvalue(res, i, 0), &calls, &cases);
	}
	PQclear(res);
	printf("purge: %d calls and %d cases purged\n", calls, cases);
	return EXIT_OK;
}

/* purge --case <number>: one case now. */
static int
cmd_purge_case(const char *number)
{
	const char *p[1] = { number }, *state;
	PGresult *res;
	int purged;

	res = PQexecParams(db, "select hotline.case_purge($1)", 1, NULL, p,
	    NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) :
		    NULL;
		if (state != NULL && strcmp(state, "P0002") == 0)
			complain("purge: %s: no such case", number);
		else
			db_complain("purge: case_purge", res);
		PQclear(res);
		return EXIT_FAILED;
	}
	purged = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	printf("purge: case %s %s\n", number, purged ? "purged" :
	    "was already purged");
	return EXIT_OK;
}

/* Whether a code point takes two columns (East Asian wide and full width). */
static int
wide(unsigned long c)
{
	return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) ||
	    (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
	    (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
	    (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
	    (c >= 0x20000 && c <= 0x3fffd);
}

/* The columns a UTF-8 string takes on a terminal. */
static size_t
text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long c;
	size_t w = 0;
	int i, n;

	while (*p != '\0') {
		if (*p < 0x80) {
			c = *p;
			n = 1;
		} else if ((*p & 0xe0) == 0xc0) {
			c = *p & 0x1f;
			n = 2;
		} else if ((*p & 0xf0) == 0xe0) {
			c = *p & 0x0f;
			n = 3;
		} else if ((*p & 0xf8) == 0xf0) {
			c = *p & 0x07;
			n = 4;
		} else {
			w++;
			p++;
			continue;
		}
		for (i = 1; i < n && (p[i] & 0xc0) == 0x80; i++)
			c = c << 6 | (p[i] & 0x3f);
		if (i < n) {		/* malformed: one column a byte */
			w++;
			p++;
			continue;
		}
		p += n;
		w += wide(c) ? 2 : 1;
	}
	return w;
}

/* Print a cell, padded to width columns unless it is the last. */
static void
print_cell(const char *s, size_t width, int last)
{
	size_t w = text_width(s);

	fputs(s, stdout);
	if (last) {
		putchar('\n');
		return;
	}
	for (; w < width + 2; w++)
		putchar(' ');
}

/* access-log <case>: who read a case's personal data, when, and why. */
static int
cmd_access_log(const char *number)
{
	static const char *const head[] = { "at", "client", "role", "agency",
	    "basis", "reporter", "access request", "purpose" };
	enum { NCOLS = sizeof(head) / sizeof(head[0]) };
	const char *p[1] = { number }, *v;
	size_t width[NCOLS], w;
	PGresult *res;
	int i, j, n;

	if ((res = query("access-log: access_log_list", "select to_char(at at "
	    "time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), client, role, "
	    "agency, basis, case when reporter then 'yes' when not reporter "
	    "then 'no' end, access_request::text, purpose "
	    "from hotline.access_log_list($1)", 1, p)) == NULL)
		return EXIT_FAILED;
	n = PQntuples(res);
	for (j = 0; j < NCOLS; j++)
		width[j] = text_width(head[j]);
	for (i = 0; i < n; i++)
		for (j = 0; j < NCOLS - 1; j++)
			if (!PQgetisnull(res, i, j) &&
			    (w = text_width(PQgetvalue(res, i, j))) > width[j])
				width[j] = w;
	for (j = 0; j < NCOLS; j++)
		print_cell(head[j], width[j], j == NCOLS - 1);
	for (i = 0; i < n; i++)
		for (j = 0; j < NCOLS; j++) {
			v = PQgetisnull(res, i, j) ? "-" : PQgetvalue(res, i, j);
			print_cell(*v != '\0' ? v : "-", width[j],
			    j == NCOLS - 1);
		}
	printf("access-log: %d reads of %s\n", n, number);
	PQclear(res);
	return EXIT_OK;
}

/* Which command the arguments name; CMD_NONE if they are not one. */
static enum command
parse_command(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "audit") == 0 &&
	    strcmp(argv[1], "verify") == 0)
		return CMD_AUDIT;
	if (argc >= 2 && strcmp(argv[0], "keys") == 0) {
		if (argc == 2 && strcmp(argv[1], "list") == 0)
			return CMD_KEYS_LIST;
		if (argc == 2 && strcmp(argv[1], "rotate") == 0)
			return CMD_KEYS_ROTATE;
		if (argc == 2 && strcmp(argv[1], "rewrap") == 0)
			return CMD_KEYS_REWRAP;
		if (argc == 3 && strcmp(argv[1], "retire") == 0 &&
		    argv[2][0] != '\0')
			return CMD_KEYS_RETIRE;
		return CMD_NONE;
	}
	if (argc >= 1 && strcmp(argv[0], "purge") == 0) {
		if (argc == 1)
			return CMD_PURGE;
		if (argc == 2 && strcmp(argv[1], "--dry-run") == 0)
			return CMD_PURGE_DRY_RUN;
		if (argc == 3 && strcmp(argv[1], "--case") == 0 &&
		    argv[2][0] != '\0')
			return CMD_PURGE_CASE;
		return CMD_NONE;
	}
	if (argc == 2 && strcmp(argv[0], "access-log") == 0 &&
	    argv[1][0] != '\0')
		return CMD_ACCESS_LOG;
	return CMD_NONE;
}

/* Load the daemon's configuration and both key files; 0 on success. */
static int
load_keys(const char *confpath, struct config *cf, struct keyring **krp)
{
	char err[512];

	config_defaults(cf);
	if (config_load(cf, confpath) == -1) {
		complain("%s: cannot use this configuration (-c)", confpath);
		return -1;
	}
	if (cf->cf_master_key[0] == '\0' || cf->cf_hash_key[0] == '\0') {
		complain("%s: master_key and hash_key must be set", confpath);
		return -1;
	}
	if ((*krp = keyring_load(cf->cf_master_key, cf->cf_hash_key, err,
	    sizeof(err))) == NULL) {
		complain("%s", err);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *confpath, *conninfo = NULL;
	struct keyring *kr = NULL;
	struct config cf;
	enum command cmd;
	int ch, rc;

	confpath = getenv("HOTLINED_CONF");
	if (confpath == NULL || *confpath == '\0')
		confpath = DEFAULT_CONF;
	while ((ch = getopt(argc, argv, "+c:d:h")) != -1) {
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if ((cmd = parse_command(argc, argv)) == CMD_NONE) {
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init(1, LOG_LVL_WARN);
	umask(077);

	switch (cmd) {
	case CMD_KEYS_LIST:
	case CMD_KEYS_ROTATE:
	case CMD_KEYS_REWRAP:
	case CMD_KEYS_RETIRE:
		if (load_keys(confpath, &cf, &kr) == -1)
			return EXIT_USAGE;
		break;
	default:
		break;
	}
	if (connect_db(conninfo) == -1) {
		keyring_free(kr);
		PQfinish(db);
		return EXIT_USAGE;
	}

	switch (cmd) {
	case CMD_AUDIT:
		rc = cmd_audit();
		break;
	case CMD_KEYS_LIST:
		rc = cmd_list(&cf, kr);
		break;
	case CMD_KEYS_ROTATE:
		rc = cmd_rotate(&cf, &kr);
		break;
	case CMD_KEYS_REWRAP:
		rc = cmd_rewrap(&cf, &kr);
		break;
	case CMD_KEYS_RETIRE:
		rc = cmd_retire(&cf, kr, argv[2]);
		break;
	case CMD_PURGE_DRY_RUN:
		rc = cmd_purge_plan();
		break;
	case CMD_PURGE:
		rc = cmd_purge();
		break;
	case CMD_PURGE_CASE:
		rc = cmd_purge_case(argv[2]);
		break;
	case CMD_ACCESS_LOG:
		rc = cmd_access_log(argv[1]);
		break;
	default:
		rc = EXIT_USAGE;
		break;
	}
	keyring_free(kr);
	PQfinish(db);
	if (fflush(stdout) == EOF && rc == EXIT_OK)
		rc = EXIT_FAILED;
	return rc;
}
