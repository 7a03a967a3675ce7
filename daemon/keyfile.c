/*
 * The key files: reading them safely, parsing them, and replacing the
 * master key file under a lock.  The daemon (through crypto.c) and
 * hotlinectl both read the files here, so that what one accepts the other
 * accepts too.  See hotlined.h for the formats.  Nothing here logs, and no
 * message quotes a key: a bad line is named by its number.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hotlined.h"

/* Whether c is ASCII white space (whatever the locale). */
static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

/* The end of the line that starts at p (after its newline, if any). */
static const char *
line_next(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl + 1 : end;
}

/* Trim white space around [*s, *e); whether anything but a comment is left. */
static int
line_trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
	return *s < *e && **s != '#';
}

/* The length of the first word of [s, e), which starts with no space. */
static size_t
line_word(const char *s, const char *e)
{
	const char *p;

	for (p = s; p < e && !is_space(*p); p++)
		;
	return (size_t)(p - s);
}

/* A walk over the lines of a key file's text. */
struct lines {
	const char	*ln_p;		/* the next line */
	const char	*ln_end;
	int		 ln_no;		/* the number of the line last seen */
};

/*
 * Start a walk over text (len bytes); -1 (err filled) if it holds a NUL
 * byte, which no key file has.
 */
static int
lines_start(struct lines *ln, const char *name, const char *text, size_t len,
    char *err, size_t errlen)
{
	ln->ln_p = text;
	ln->ln_end = text + len;
	ln->ln_no = 0;
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte", name);
		return -1;
	}
	return 0;
}

/* The next line that is neither blank nor a comment, trimmed to [*s, *e);
 * 0 at the end of the text. */
static int
lines_next(struct lines *ln, const char **s, const char **e)
{
	while (ln->ln_p < ln->ln_end) {
		*s = ln->ln_p;
		*e = ln->ln_p = line_next(ln->ln_p, ln->ln_end);
		ln->ln_no++;
		if (line_trim(s, e))
			return 1;
	}
	return 0;
}

/* Whether s (len bytes) is a key id: [a-z0-9_-]{1,KID_MAX}. */
int
keyfile_kid_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > KID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * Read a key file (a regular file, not a symbolic link, not accessible by
 * group or others, at most KEYFILE_MAX bytes) into a NUL-terminated buffer
 * of *lenp bytes, to be parsed and then freed with keyfile_text_free().
 * The open does not block, so a FIFO is refused rather than waited on.
 * st, if not NULL, receives the status of the file that was read.
 */
char *
keyfile_read(const char *path, struct stat *st, size_t *lenp, char *err,
    size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	ssize_t n;
	size_t len = 0;
	int fd;

	if (st == NULL)
		st = &sb;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1) {
		if (errno == ELOOP)
			snprintf(err, errlen, "%s: a symbolic link, not a "
			    "regular file", path);
		else
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (st->st_mode & 077) {
		snprintf(err, errlen, "%s: readable or writable by group or "
		    "others (chmod 600)", path);
		goto fail;
	}
	if (st->st_size > KEYFILE_MAX) {
		snprintf(err, errlen, "%s: too large", path);
		goto fail;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (len < (size_t)st->st_size) {
		n = read(fd, buf + len, (size_t)st->st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read failed", path);
			goto fail;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	*lenp = len;
	return buf;
fail:
	if (buf != NULL)
		keyfile_text_free(buf, len);
	close(fd);
	return NULL;
}

/* Clear and free a key file's text of len bytes (and its NUL). */
void
keyfile_text_free(char *text, size_t len)
{
	if (text == NULL)
		return;
	OPENSSL_cleanse(text, len + 1);
	free(text);
}

/*
 * Parse a master key file's text (len bytes, from name): one key a line,
 * "<kid> <64 hex digits>", '#' comments and blank lines allowed, at most
 * KEYFILE_KEYS_MAX keys with distinct ids.  keys[0] is the current key.
 * On failure keys is cleared.
 */
int
keyfile_parse_master(const char *name, const char *text, size_t len,
    struct master_key *keys, int *np, char *err, size_t errlen)
{
	struct lines ln;
	const char *s, *e;
	size_t kl;
	int n = 0, i;

	*np = 0;
	if (lines_start(&ln, name, text, len, err, errlen) == -1)
		return -1;
	while (lines_next(&ln, &s, &e)) {
		kl = line_word(s, e);
		if (!keyfile_kid_valid(s, kl)) {
			snprintf(err, errlen, "%s:%d: a key line is <kid> <64 "
			    "hex digits>; the kid is 1-%d of a-z 0-9 _ -", name,
			    ln.ln_no, KID_MAX);
			goto fail;
		}
		if (n == KEYFILE_KEYS_MAX) {
			snprintf(err, errlen, "%s:%d: more than %d keys", name,
			    ln.ln_no, KEYFILE_KEYS_MAX);
			goto fail;
		}
		memcpy(keys[n].mk_kid, s, kl);
		keys[n].mk_kid[kl] = '\0';
		for (i = 0; i < n; i++) {
			if (strcmp(keys[i].mk_kid, keys[n].mk_kid) == 0) {
				snprintf(err, errlen, "%s:%d: key id used twice",
				    name, ln.ln_no);
				goto fail;
			}
		}
		for (s += kl; s < e && is_space(*s); s++)
			;
		if (hex_decode(s, (size_t)(e - s), keys[n].mk_key, KEY_LEN) ==
		    -1) {
			snprintf(err, errlen, "%s:%d: the key must be 64 hex "
			    "digits (32 bytes)", name, ln.ln_no);
			goto fail;
		}
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no key", name);
		return -1;
	}
	*np = n;
	return 0;
fail:
	/* Key n may be half written, unless the array is full. */
	OPENSSL_cleanse(keys, (size_t)(n < KEYFILE_KEYS_MAX ? n + 1 : n) *
	    sizeof(*keys));
	return -1;
}

/*
 * Parse a hash key file's text (len bytes, from name): one line of 64 hex
 * digits, '#' comments and blank lines allowed.  On failure key is
 * cleared.
 */
int
keyfile_parse_hash(const char *name, const char *text, size_t len,
    unsigned char key[KEY_LEN], char *err, size_t errlen)
{
	struct lines ln;
	const char *s, *e;
	int found = 0;

	if (lines_start(&ln, name, text, len, err, errlen) == -1)
		return -1;
	while (lines_next(&ln, &s, &e)) {
		if (found || hex_decode(s, (size_t)(e - s), key, KEY_LEN) ==
		    -1) {
			OPENSSL_cleanse(key, KEY_LEN);
			snprintf(err, errlen, "%s:%d: the file holds one line of "
			    "64 hex digits", name, ln.ln_no);
			return -1;
		}
		found = 1;
	}
	if (!found) {
		snprintf(err, errlen, "%s: no key", name);
		return -1;
	}
	return 0;
}

/* Read and parse a master key file; st as for keyfile_read(). */
int
keyfile_load_master(const char *path, struct master_key *keys, int *np,
    struct stat *st, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	*np = 0;
	if ((text = keyfile_read(path, st, &len, err, errlen)) == NULL)
		return -1;
	rc = keyfile_parse_master(path, text, len, keys, np, err, errlen);
	keyfile_text_free(text, len);
	return rc;
}

/* Read and parse a hash key file. */
int
keyfile_load_hash(const char *path, unsigned char key[KEY_LEN], char *err,
    size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	if ((text = keyfile_read(path, NULL, &len, err, errlen)) == NULL)
		return -1;
	rc = keyfile_parse_hash(path, text, len, key, err, errlen);
	keyfile_text_free(text, len);
	return rc;
}

/*
 * The key ids of a master key file's text, in order (the first is
 * current), without keeping any key.  kids holds KEYFILE_KEYS_MAX ids.
 */
int
keyfile_kids(const char *name, const char *text, size_t len,
    char (*kids)[KID_MAX + 1], int *np, char *err, size_t errlen)
{
	struct master_key keys[KEYFILE_KEYS_MAX];
	int i;

	if (keyfile_parse_master(name, text, len, keys, np, err, errlen) == -1)
		return -1;
	for (i = 0; i < *np; i++)
		memcpy(kids[i], keys[i].mk_kid, sizeof(kids[i]));
	OPENSSL_cleanse(keys, sizeof(keys));
	return 0;
}

/*
 * Whether the key file at path is no longer the one whose status was
 * was: another inode or device, size or modification time (a rotation
 * renames a new file over the old).  0 if it cannot be looked at: the
 * keys already loaded are kept.
 */
int
keyfile_changed(const char *path, const struct stat *was)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return 0;
	return st.st_ino != was->st_ino || st.st_dev != was->st_dev ||
	    st.st_size != was->st_size ||
	    st.st_mtim.tv_sec != was->st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != was->st_mtim.tv_nsec;
}

/*
 * Take the key file's lock: create <path>.new (O_EXCL, mode 600), which
 * the change is then written to by keyfile_replace().  Its descriptor, or
 * -1.  keyfile_unlock() gives it up without a change.
 */
int
keyfile_lock(const char *path, char *tmp, size_t tmplen, char *err,
    size_t errlen)
{
	int fd, n;

	n = snprintf(tmp, tmplen, "%s.new", path);
	if (n < 0 || (size_t)n >= tmplen) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1 && errno == EEXIST)
		snprintf(err, errlen, "%s exists: another hotlinectl is "
		    "changing the key file, or one was interrupted (then "
		    "remove it)", tmp);
	else if (fd == -1)
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	return fd;
}

/* Give the lock up: close fd and remove tmp. */
void
keyfile_unlock(int fd, const char *tmp)
{
	if (fd != -1)
		close(fd);
	unlink(tmp);
}

/* Whether a master key file holds what was meant. */
static int
keyfile_holds(const struct master_key *keys, int n,
    const struct keyfile_want *kw)
{
	int i, j;

	if (strcmp(keys[0].mk_kid, kw->kw_current) != 0)
		return 0;
	for (j = 0; j < n; j++)
		if (kw->kw_gone != NULL && strcmp(keys[j].mk_kid,
		    kw->kw_gone) == 0)
			return 0;
	for (i = 0; i < kw->kw_nkids; i++) {
		if (kw->kw_gone != NULL && strcmp(kw->kw_kids[i],
		    kw->kw_gone) == 0)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(keys[j].mk_kid, kw->kw_kids[i]) == 0)
				break;
		if (j == n)
			return 0;
	}
	return 1;
}

/*
 * Check the written <path>.new as the daemon will read it: it loads (and
 * so does the hash key file, if named), and holds what kw says.
 */
static int
keyfile_verify(const char *tmp, const char *path,
    const struct keyfile_want *kw, char *err, size_t errlen)
{
	struct master_key keys[KEYFILE_KEYS_MAX];
	unsigned char hash[KEY_LEN];
	char why[512];
	int n, ok;

	if (keyfile_load_master(tmp, keys, &n, NULL, why, sizeof(why)) == -1 ||
	    (kw->kw_hash != NULL && keyfile_load_hash(kw->kw_hash, hash, why,
	    sizeof(why)) == -1)) {
		snprintf(err, errlen, "the new key file would not load (%s); "
		    "%s is unchanged", why, path);
		return -1;
	}
	OPENSSL_cleanse(hash, sizeof(hash));
	ok = keyfile_holds(keys, n, kw);
	OPENSSL_cleanse(keys, sizeof(keys));
	if (!ok) {
		snprintf(err, errlen, "%s changed meanwhile; it is unchanged",
		    path);
		return -1;
	}
	return 0;
}

/*
 * Replace the master key file: write text (len bytes) to the locked
 * <path>.new (fd, from keyfile_lock()), owned like the file it replaces
 * (old), mode 600; fsync it; check that it loads and holds what kw says;
 * rename it over path and fsync the directory.  The lock is released
 * either way; 0 on success, and path is unchanged on failure.
 */
int
keyfile_replace(int fd, const char *tmp, const char *path,
    const struct stat *old, const char *text, size_t len,
    const struct keyfile_want *kw, char *err, size_t errlen)
{
	struct stat st;
	char *dir;
	size_t off = 0;
	ssize_t w;
	int dfd;

	while (off < len) {
		if ((w = write(fd, text + off, len - off)) == -1 &&
		    errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: %s", tmp, w == 0 ?
			    "short write" : strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fstat(fd, &st) == -1 || ((st.st_uid != old->st_uid ||
	    st.st_gid != old->st_gid) &&
	    fchown(fd, old->st_uid, old->st_gid) == -1) ||
	    fchmod(fd, 0600) == -1) {
		snprintf(err, errlen, "%s: cannot give it the owner and mode of "
		    "%s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	if (fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (keyfile_verify(tmp, path, kw, err, errlen) == -1)
		goto fail;
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	/* The rename is done; a directory that will not sync only warns. */
	err[0] = '\0';
	if ((dir = strdup(path)) != NULL) {
		if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1 || fsync(dfd) == -1)
			snprintf(err, errlen, "warning: %s: cannot sync its "
			    "directory: %s", path, strerror(errno));
		if (dfd != -1)
			close(dfd);
		free(dir);
	}
	return 0;
fail:
	keyfile_unlock(fd, tmp);
	return -1;
}

/*
 * The master key file's text with a new current key: the leading comments
 * (or KEYFILE_HEADER when there are none), then "<kid> <hex>", then every
 * other line of text (len bytes) unchanged.  A malloc'd NUL-terminated
 * string of *outlen bytes, for keyfile_text_free(); NULL when out of
 * memory.
 */
char *
keyfile_add(const char *text, size_t len, const char *kid,
    const unsigned char key[KEY_LEN], size_t *outlen)
{
	const char *p, *end = text + len, *s, *e;
	size_t head = 0, size, off = 0, klen = strlen(kid);
	char *out;
	int comment = 0;

	for (p = text; p < end; p = line_next(p, end)) {
		s = p;
		e = line_next(p, end);
		while (s < e && is_space(*s))
			s++;
		if (s < e && *s != '#')
			break;
		if (s < e)
			comment = 1;
		head = (size_t)(e - text);
	}
	size = sizeof(KEYFILE_HEADER) + 1 + head + 1 + klen + 1 + 2 * KEY_LEN +
	    1 + (len - head) + 1;
	if ((out = malloc(size)) == NULL)
		return NULL;
	if (!comment) {
		memcpy(out, KEYFILE_HEADER "\n", sizeof(KEYFILE_HEADER));
		off = sizeof(KEYFILE_HEADER);
	}
	memcpy(out + off, text, head);
	off += head;
	if (head > 0 && text[head - 1] != '\n')
		out[off++] = '\n';
	memcpy(out + off, kid, klen);
	off += klen;
	out[off++] = ' ';
	hex_encode(key, KEY_LEN, out + off);
	off += 2 * KEY_LEN;
	out[off++] = '\n';
	memcpy(out + off, text + head, len - head);
	off += len - head;
	out[off] = '\0';
	*outlen = off;
	return out;
}

/*
 * The master key file's text without the line of key kid, every other
 * line unchanged.  A malloc'd NUL-terminated string of *outlen bytes, for
 * keyfile_text_free(); NULL (with err) when the key is not there or
 * memory is short.
 */
char *
keyfile_remove(const char *name, const char *text, size_t len,
    const char *kid, size_t *outlen, char *err, size_t errlen)
{
	const char *p, *end = text + len, *s, *e, *next;
	size_t off = 0, klen = strlen(kid);
	char *out;
	int found = 0;

	if ((out = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (p = text; p < end; p = next) {
		next = line_next(p, end);
		s = p;
		e = next;
		if (line_trim(&s, &e) && line_word(s, e) == klen &&
		    memcmp(s, kid, klen) == 0) {
			found = 1;
			continue;
		}
		memcpy(out + off, p, (size_t)(next - p));
		off += (size_t)(next - p);
	}
	out[off] = '\0';
	if (!found) {
		keyfile_text_free(out, off);
		snprintf(err, errlen, "%s is not in %s", kid, name);
		return NULL;
	}
	*outlen = off;
	return out;
}
