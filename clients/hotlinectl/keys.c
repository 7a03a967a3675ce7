/*
 * hotlinectl keys: list, rotate, rewrap and retire master keys.  Data keys
 * are rewrapped one by one with a compare-and-set on their old key id;
 * ciphertexts are never touched.  The key file is changed only under its
 * lock and replaced atomically (keyfile.c).  Key material is never
 * printed, and is cleared from memory after use.
 *
 * A retirement cannot race a submission sealed under the old key: the key
 * must have stopped being current at least key_retire_grace ago (longer
 * than a daemon takes to notice a rotation and a sealed submission may
 * wait before its transaction), and the count of data keys under it is
 * taken under the keys lock, which every transaction storing a new data
 * key holds shared, so that one in flight is waited for and counted.
 */
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hotlinectl.h"

#define REWRAP_PAGE	500		/* data keys fetched at a time */
#define REWRAP_LIMIT	100000		/* largest page, failures included */
#define RETIRE_LOCK_WAIT "10s"		/* for transactions that seal */
#define KID_TIME_FORMAT	"k%Y%m%d%H%M%S"	/* the kids keys rotate makes */

static int	keys_list(struct ctl_ctx *, char **);
static int	keys_rotate(struct ctl_ctx *, char **);
static int	keys_rewrap(struct ctl_ctx *, char **);
static int	keys_retire(struct ctl_ctx *, char **);

const struct ctl_entry keys_list_entry = {
	.ce_name = "keys list",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = CTL_KEYS,
	.ce_help = "master keys in the key file, and how many data keys each "
	    "wraps",
	.ce_exec = keys_list,
};

const struct ctl_entry keys_rotate_entry = {
	.ce_name = "keys rotate",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = CTL_KEYS,
	.ce_help = "add a new master key (it becomes current) and rewrap every "
	    "data key under it",
	.ce_exec = keys_rotate,
};

const struct ctl_entry keys_rewrap_entry = {
	.ce_name = "keys rewrap",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = CTL_KEYS,
	.ce_help = "rewrap the data keys not under the current master key",
	.ce_exec = keys_rewrap,
};

const struct ctl_entry keys_retire_entry = {
	.ce_name = "keys retire",
	.ce_args = "<kid>",
	.ce_nargs = 1,
	.ce_flags = CTL_KEYS,
	.ce_help = "remove a master key from the file once it has not been "
	    "current for key_retire_grace and no data key uses it",
	.ce_exec = keys_retire,
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
	if ((res = db_query("keys: data_key_counts", "select kid, keys from "
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
		kc[i].kc_keys = db_number(PQgetvalue(res, i, 1));
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

	if ((res = db_query_row("keys: data_key_counts", "select coalesce(sum("
	    "keys), 0) from hotline.data_key_counts() where kid = $1", 1, p,
	    1)) == NULL)
		return -1;
	n = db_number(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

/*
 * The master key file's text, its status and its key ids in order (kids
 * holds KEYFILE_KEYS_MAX); NULL (reported) if it does not read and parse
 * as the daemon would.  Free the text with keyfile_text_free().
 */
static char *
keys_read(const char *path, struct stat *st, size_t *lenp,
    char (*kids)[KID_MAX + 1], int *nkids)
{
	char err[512], *text;

	if ((text = keyfile_read(path, st, lenp, err, sizeof(err))) == NULL) {
		complain("%s", err);
		return NULL;
	}
	if (keyfile_kids(path, text, *lenp, kids, nkids, err, sizeof(err)) ==
	    -1) {
		complain("%s", err);
		keyfile_text_free(text, *lenp);
		return NULL;
	}
	return text;
}

/*
 * Replace the locked key file with text and say so if it failed, or
 * warn; the lock is released.  0 on success.
 */
static int
keys_replace(int fd, const char *tmp, const char *path,
    const struct stat *old, const char *text, size_t len,
    const struct keyfile_want *kw)
{
	char err[1024];
	int rc;

	rc = keyfile_replace(fd, tmp, path, old, text, len, kw, err,
	    sizeof(err));
	if (err[0] != '\0')
		complain("%s", err);
	return rc;
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
	if (PQgetisnull(res, row, 3) || hex_decode(PQgetvalue(res, row, 3),
	    (size_t)PQgetlength(res, row, 3), w, sizeof(w)) == -1 ||
	    dek_unwrap(kr, uid, kid, w, sizeof(w), &d) == -1) {
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
	r2 = db_query_row("keys: data_key_rewrap", "select "
	    "hotline.data_key_rewrap($1, $2, $3, decode($4, 'hex'))", 4, p, 1);
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
		if ((res = db_query("keys: data_key_pending", "select ref, "
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
keys_rotate(struct ctl_ctx *cx, char **args)
{
	const struct config *cf = &cx->cx_cf;
	const char *path = cf->cf_master_key;
	char kids[KEYFILE_KEYS_MAX][KID_MAX + 1], kid[KID_MAX + 1], base[16];
	char tmp[sizeof(cf->cf_master_key) + 8], err[512];
	char *old = NULL, *text = NULL;
	unsigned char key[KEY_LEN];
	struct keyfile_want kw;
	struct rewrap_stats rs;
	struct kidcount *kc;
	struct stat st;
	struct tm tm;
	time_t now;
	size_t len = 0, size = 0;
	int fd, i, nkc, nkids, suffix, taken, rc;

	(void)args;
	if ((nkc = counts_fetch(&kc)) == -1)
		return EXIT_FAILED;
	if ((fd = keyfile_lock(path, tmp, sizeof(tmp), err, sizeof(err))) ==
	    -1) {
		complain("%s", err);
		counts_free(kc, nkc);
		return EXIT_FAILED;
	}
	/* Read under the lock: nothing else changes the file meanwhile. */
	if ((old = keys_read(path, &st, &len, kids, &nkids)) == NULL)
		goto fail;

	/*
	 * k<UTC time>, with -2, -3... if the file or a data key has it: the
	 * name records when the key became current (keys retire reads it).
	 */
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(base, sizeof(base), KID_TIME_FORMAT, &tm);
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
	if (RAND_bytes(key, sizeof(key)) != 1) {
		complain("keys: no random bytes for a new key");
		goto fail;
	}
	text = keyfile_add(old, len, kid, key, &size);
	OPENSSL_cleanse(key, sizeof(key));
	if (text == NULL) {
		complain("out of memory");
		goto fail;
	}
	kw.kw_current = kid;
	kw.kw_gone = NULL;
	kw.kw_kids = kids;
	kw.kw_nkids = nkids;
	kw.kw_hash = cf->cf_hash_key;
	rc = keys_replace(fd, tmp, path, &st, text, size, &kw);
	keyfile_text_free(text, size);
	keyfile_text_free(old, len);
	counts_free(kc, nkc);
	if (rc == -1)
		return EXIT_FAILED;

	printf("keys: %s written; new master key %s\n", path, kid);
	fflush(stdout);
	keyring_free(cx->cx_keys);
	if ((cx->cx_keys = keyring_load(path, cf->cf_hash_key, err,
	    sizeof(err))) == NULL) {
		complain("%s", err);
		return EXIT_FAILED;
	}
	if (strcmp(keyring_current(cx->cx_keys), kid) != 0) {
		complain("keys: %s changed meanwhile (current: %s); run keys "
		    "rewrap", path, keyring_current(cx->cx_keys));
		return EXIT_FAILED;
	}
	rc = rewrap_all(cf, &cx->cx_keys, &rs);
	printf("keys: new master key %s; %lld data keys rewrapped, %lld "
	    "failed\n", kid, rs.rs_done, rs.rs_failed);
	return rc == 0 && rs.rs_failed == 0 && !rs.rs_incomplete ? EXIT_OK :
	    EXIT_FAILED;
fail:
	keyfile_unlock(fd, tmp);
	keyfile_text_free(old, len);
	counts_free(kc, nkc);
	return EXIT_FAILED;
}

/* keys rewrap: every data key not under the current master key. */
static int
keys_rewrap(struct ctl_ctx *cx, char **args)
{
	struct rewrap_stats rs;
	int rc;

	(void)args;
	rc = rewrap_all(&cx->cx_cf, &cx->cx_keys, &rs);
	printf("keys: %lld data keys rewrapped under %s, %lld failed\n",
	    rs.rs_done, keyring_current(cx->cx_keys), rs.rs_failed);
	return rc == 0 && rs.rs_failed == 0 && !rs.rs_incomplete ? EXIT_OK :
	    EXIT_FAILED;
}

/* keys list: the file's master keys in order, and kids it lacks. */
static int
keys_list(struct ctl_ctx *cx, char **args)
{
	const char *path = cx->cx_cf.cf_master_key;
	char kids[KEYFILE_KEYS_MAX][KID_MAX + 1], *text;
	struct kidcount *kc;
	long long keys;
	size_t len;
	int i, j, nkc, nkids, w = 10, missing = 0;

	(void)args;
	if ((text = keys_read(path, NULL, &len, kids, &nkids)) == NULL)
		return EXIT_FAILED;
	keyfile_text_free(text, len);
	if ((nkc = counts_fetch(&kc)) == -1)
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
		    strcmp(kids[i], keyring_current(cx->cx_keys)) == 0 ?
		    "  current" : "");
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
		    "from %s", missing, path);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

/*
 * When key kids[i] stopped being current: when the key listed above it
 * (the one that replaced it) was made, read from its name if keys rotate
 * made it (k<UTC time>) and that is not after the file's last change;
 * otherwise the file's last change itself, which cannot be earlier.
 */
static time_t
retire_since(char (*kids)[KID_MAX + 1], int i, const struct stat *st)
{
	struct tm tm;
	const char *end;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (i < 1 || (end = strptime(kids[i - 1], KID_TIME_FORMAT, &tm)) ==
	    NULL || (*end != '\0' && *end != '-') ||
	    (t = timegm(&tm)) == (time_t)-1 || t > st->st_mtim.tv_sec)
		return st->st_mtim.tv_sec;
	return t;
}

/*
 * Count the data keys under kid with the keys lock held (in a transaction
 * left open: the caller commits once the key file is replaced).  Waits for
 * the transactions storing new data keys that are in flight.  The count,
 * or -1 (reported).
 */
static long long
retire_count_locked(const char *kid)
{
	PGresult *res;
	const char *state;

	if ((res = db_query("keys: begin", "begin", 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	if ((res = db_query("keys: lock_timeout", "set local lock_timeout = '"
	    RETIRE_LOCK_WAIT "'", 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	res = db_exec("select pg_advisory_xact_lock(" KEYS_LOCK_KEYS ")", 0,
	    NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "55P03") == 0)
			complain("keys: submissions in progress held the keys "
			    "lock for " RETIRE_LOCK_WAIT "; try again");
		else
			db_complain("keys: keys lock", res);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return keys_under(kid);
}

/* End the transaction of retire_count_locked(), releasing the lock. */
static void
retire_unlock(int commit)
{
	PGresult *res;

	if ((res = db_exec(commit ? "commit" : "rollback", 0, NULL)) != NULL)
		PQclear(res);
}

/*
 * keys retire <kid>: drop a master key that is not current, has not been
 * for key_retire_grace (at least request_timeout + KEYFILE_RELOAD_S), and
 * wraps no data key, counted under the keys lock (see the top of the file).
 */
static int
keys_retire(struct ctl_ctx *cx, char **args)
{
	const struct config *cf = &cx->cx_cf;
	const char *path = cf->cf_master_key, *kid = args[0];
	char kids[KEYFILE_KEYS_MAX][KID_MAX + 1], err[512], when[32];
	char tmp[sizeof(cf->cf_master_key) + 8], *text = NULL, *out = NULL;
	struct keyfile_want kw;
	struct stat st;
	struct tm tm;
	long long n;
	time_t since, grace, now;
	size_t len = 0, olen = 0;
	int fd, i, nkids, rc, locked = 0;

	if (!keyring_has(cx->cx_keys, kid)) {
		complain("keys: %s is not in %s", kid, path);
		return EXIT_FAILED;
	}
	if (strcmp(keyring_current(cx->cx_keys), kid) == 0) {
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
	if ((fd = keyfile_lock(path, tmp, sizeof(tmp), err, sizeof(err))) ==
	    -1) {
		complain("%s", err);
		return EXIT_FAILED;
	}
	if ((text = keys_read(path, &st, &len, kids, &nkids)) == NULL)
		goto fail;
	for (i = 0; i < nkids && strcmp(kids[i], kid) != 0; i++)
		;
	if (i == 0 || i == nkids) {
		complain("keys: %s is %s now; not retired", kid, i == 0 ?
		    "the current master key" : "no longer in the file");
		goto fail;
	}
	/* Daemons may seal under it until they notice, and a sealed
	 * submission may wait until its request's deadline. */
	grace = cf->cf_key_retire_grace;
	if (grace < (time_t)cf->cf_request_timeout + KEYFILE_RELOAD_S + 1)
		grace = (time_t)cf->cf_request_timeout + KEYFILE_RELOAD_S + 1;
	since = retire_since(kids, i, &st);
	now = time(NULL);
	if (now - since < grace) {
		since += grace;
		gmtime_r(&since, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		complain("keys: %s stopped being the current master key %lld s "
		    "ago; daemons may still seal with it for %lld s "
		    "(key_retire_grace): retire it after %s", kid,
		    (long long)(now - (since - grace)), (long long)grace, when);
		goto fail;
	}
	if ((out = keyfile_remove(path, text, len, kid, &olen, err,
	    sizeof(err))) == NULL) {
		complain("keys: %s", err);
		goto fail;
	}
	/* Once more under both locks, just before the file changes. */
	locked = 1;
	if ((n = retire_count_locked(kid)) != 0) {
		if (n > 0)
			complain("keys: %s now wraps %lld data keys (stored "
			    "meanwhile); run keys rewrap, then retire it", kid,
			    n);
		goto fail;
	}
	kw.kw_current = kids[0];
	kw.kw_gone = kid;
	kw.kw_kids = kids;
	kw.kw_nkids = nkids;
	kw.kw_hash = cf->cf_hash_key;
	rc = keys_replace(fd, tmp, path, &st, out, olen, &kw);
	retire_unlock(rc == 0);
	keyfile_text_free(out, olen);
	keyfile_text_free(text, len);
	if (rc == -1)
		return EXIT_FAILED;
	printf("keys: %s retired\n", kid);
	return EXIT_OK;
fail:
	if (locked)
		retire_unlock(0);
	keyfile_unlock(fd, tmp);
	keyfile_text_free(out, olen);
	keyfile_text_free(text, len);
	return EXIT_FAILED;
}
