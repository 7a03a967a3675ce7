/*
 * Unit tests for keyfile.c against files made in a temporary directory:
 * parsing from memory (every kind of bad line), the checks made before a
 * file is read, the key ids listed, the lock, the edits a rotation and a
 * retirement make, the replacement that checks the new file before it
 * takes the old one's place, and the change a daemon notices.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hotlined.h"
#include "unit.h"

#define K1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define K2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define H1 "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
#define KBAD "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg"
/* Pieces of the keys above that no message may contain. */
#define K1_PART "8899aabbccdd"
#define K2_PART "77665544"

#define PATHS_MAX	100

static char dir[64];
static char paths[PATHS_MAX][96];
static int npaths;
static char err[1024];
static struct master_key keys[KEYFILE_KEYS_MAX];
static int nkeys;

/* A new path in the test directory, removed at the end. */
static char *
newpath(const char *name)
{
	char *p;

	if (npaths == PATHS_MAX)
		abort();
	p = paths[npaths++];
	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

/* Write len bytes to path with this mode (replacing what is there). */
static void
put(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) == -1 ||
	    close(fd) == -1)
		abort();
}

/* A new file with this text and mode; its path. */
static const char *
file(const char *name, const char *text, mode_t mode)
{
	const char *p = newpath(name);

	put(p, text, strlen(text), mode);
	return p;
}

/* The whole content of a file (static buffer), or NULL. */
static const char *
slurp(const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/* Parse len bytes of text as a master key file named "m". */
static int
master_n(const char *text, size_t len)
{
	err[0] = '\0';
	memset(keys, 0, sizeof(keys));
	return keyfile_parse_master("m", text, len, keys, &nkeys, err,
	    sizeof(err));
}

/* Parse text as a master key file named "m". */
static int
master(const char *text)
{
	return master_n(text, strlen(text));
}

/*
 * Whether the last parse failed, with a message that starts with "m:" and
 * the line (if line > 0), quotes no key, and left no key behind.
 */
static int
refused(int rc, int line)
{
	char at[32];
	size_t i;

	if (rc != -1 || nkeys != 0)
		return 0;
	snprintf(at, sizeof(at), line > 0 ? "m:%d: " : "m: ", line);
	if (strncmp(err, at, strlen(at)) != 0)
		return 0;
	if (strstr(err, K1_PART) != NULL || strstr(err, K2_PART) != NULL)
		return 0;
	for (i = 0; i < sizeof(keys); i++)
		if (((unsigned char *)keys)[i] != 0)
			return 0;
	return 1;
}

/* Whether key is the 32 bytes the hex digits say. */
static int
key_is(const unsigned char *key, const char *hex)
{
	unsigned char want[KEY_LEN];

	return hex_decode(hex, strlen(hex), want, sizeof(want)) == 0 &&
	    memcmp(key, want, KEY_LEN) == 0;
}

static void
test_parse_master(void)
{
	char big[80 * 70], kid[16], *q;
	static const char cut[] = "k1 " K1 "\nk2 " K2 "\n";
	int i;

	CHECK(master("# comment\n\n  k3\t" K2 "  \r\nk1 " K1 "\n# k9 x\n"
	    "k_2-b " K1) == 0 && nkeys == 3 &&
	    strcmp(keys[0].mk_kid, "k3") == 0 && key_is(keys[0].mk_key, K2) &&
	    strcmp(keys[1].mk_kid, "k1") == 0 && key_is(keys[1].mk_key, K1) &&
	    strcmp(keys[2].mk_kid, "k_2-b") == 0,
	    "master keys parse in file order with their bytes (comments, "
	    "blanks, CRLF, tabs, no final newline) (%s)", err);
	CHECK(master("k1 " "00112233445566778899AABBCCDDEEFF"
	    "00112233445566778899AabbCCddEEff\n") == 0 &&
	    key_is(keys[0].mk_key, K1), "upper-case hex is the same key");
	CHECK(master_n(cut, 3 + 64 + 1) == 0 && nkeys == 1 &&
	    strcmp(keys[0].mk_kid, "k1") == 0, "only len bytes are parsed: a "
	    "buffer cut after its first line holds one key");
	CHECK(refused(master_n(cut, 3 + 40), 1),
	    "and one cut inside a key is refused (%s)", err);

	for (i = 0, q = big; i < 65; i++) {
		snprintf(kid, sizeof(kid), "k%d", i);
		q += sprintf(q, "%s %s\n", kid, i % 2 ? K1 : K2);
		if (i == 63)
			CHECK(master(big) == 0 && nkeys == 64 &&
			    strcmp(keys[63].mk_kid, "k63") == 0,
			    "64 keys parse (%s)", err);
	}
	CHECK(refused(master(big), 65) && strstr(err, "64") != NULL,
	    "a 65th key is refused at its line, and nothing is kept (%s)", err);

	CHECK(refused(master("# keys\n\nk1 " KBAD "\n"), 3),
	    "a key with a digit that is not hex is refused (%s)", err);
	CHECK(refused(master("k1 " K1 "\nk2 00112233\n"), 2),
	    "a short key is refused, the keys before it cleared (%s)", err);
	CHECK(refused(master("k1 " K1 "ee\n"), 1), "so is a long key (%s)",
	    err);
	CHECK(refused(master("k1 " K1 "\nK2 " K2 "\n"), 2),
	    "an upper-case key id is refused (%s)", err);
	CHECK(refused(master("k.2 " K2 "\n"), 1),
	    "a key id with a dot is refused (%s)", err);
	CHECK(refused(master("k12345678901234567890123456789012 " K1 "\n"), 1),
	    "a 33-character key id is refused (%s)", err);
	CHECK(master("k1234567890123456789012345678901 " K1 "\n") == 0,
	    "a 32-character key id is accepted (%s)", err);
	CHECK(refused(master(K1 "\n"), 1),
	    "a key without a key id is refused (%s)", err);
	CHECK(refused(master("k1\n"), 1) && refused(master("k1   \n"), 1),
	    "a key id without a key is refused (%s)", err);
	CHECK(refused(master("k1 " K1 " extra\n"), 1),
	    "a line with more on it is refused (%s)", err);
	CHECK(refused(master("k1 " K1 " # current\n"), 1),
	    "a comment after a key is refused (%s)", err);
	CHECK(refused(master("k1 " K1 "\n# again\nk1 " K2 "\n"), 3) &&
	    strstr(err, "twice") != NULL,
	    "a key id used twice is refused at the second (%s)", err);
	CHECK(refused(master(""), 0) && strstr(err, "no key") != NULL,
	    "an empty file is refused (%s)", err);
	CHECK(refused(master("# only a comment\n\n \t \r\n"), 0) &&
	    strstr(err, "no key") != NULL,
	    "a file of comments and blanks is refused (%s)", err);
	CHECK(refused(master_n("k1 " K1 "\n\0k2 " K2 "\n",
	    3 + 64 + 1 + 1 + 3 + 64 + 1), 0) &&
	    strstr(err, "NUL") != NULL, "a NUL byte anywhere is refused (%s)",
	    err);
	CHECK(refused(master_n("k1 " K1 "\0", 3 + 64 + 1), 0),
	    "even a final one (%s)", err);
}

static void
test_parse_hash(void)
{
	unsigned char key[KEY_LEN], zero[KEY_LEN];
	const char *p;
	static const char *const bad[][2] = {
		{ "", "an empty hash key file" },
		{ "# none\n\n", "a hash key file of comments" },
		{ KBAD "\n", "a hash key that is not hex" },
		{ "00112233\n", "a short hash key" },
		{ "h1 " H1 "\n", "a hash key with a key id" },
		{ H1 "\n" H1 "\n", "two hash keys" },
		{ H1 " x\n", "a hash key with more on its line" },
		{ NULL, NULL } };
	int i;

	memset(zero, 0, sizeof(zero));
	p = "# hash\n\n  " H1 "  \r\n\n";
	err[0] = '\0';
	CHECK(keyfile_parse_hash("h", p, strlen(p), key, err, sizeof(err)) ==
	    0 && key_is(key, H1),
	    "a hash key parses with comments, blanks and CRLF (%s)", err);
	for (i = 0; bad[i][0] != NULL; i++) {
		memset(key, 0xa5, sizeof(key));
		CHECK(keyfile_parse_hash("h", bad[i][0], strlen(bad[i][0]), key,
		    err, sizeof(err)) == -1 && strncmp(err, "h:", 2) == 0 &&
		    strstr(err, "0f0e0d0c") == NULL &&
		    (memcmp(key, zero, KEY_LEN) == 0 ||
		    bad[i][0][0] == '\0' || bad[i][0][0] == '#'),
		    "%s is refused, no key kept (%s)", bad[i][1], err);
	}
	CHECK(keyfile_parse_hash("h", H1 "\n\0", 66, key, err, sizeof(err)) ==
	    -1 && strstr(err, "NUL") != NULL, "a NUL byte is refused (%s)",
	    err);
}

static void
test_read(void)
{
	const char *good = file("good", "k1 " K1 "\n", 0600), *p;
	static const mode_t loose[] = { 0640, 0620, 0604, 0602, 0610, 0601,
	    0660, 0644 };
	struct stat st, was;
	char *text, *big;
	size_t len, i;
	int ok;

	err[0] = '\0';
	text = keyfile_read(good, &st, &len, err, sizeof(err));
	CHECK(text != NULL && len == 68 && text[len] == '\0' &&
	    memcmp(text, "k1 " K1 "\n", len) == 0 && stat(good, &was) == 0 &&
	    st.st_ino == was.st_ino, "a good file reads whole, NUL-terminated, "
	    "with the status of the file read (%s)", err);
	keyfile_text_free(text, len);
	keyfile_text_free(NULL, 0);
	p = file("ro", "k1 " K1 "\n", 0400);
	err[0] = '\0';
	text = keyfile_read(p, NULL, &len, err, sizeof(err));
	CHECK(text != NULL, "mode 400 is accepted, with no status asked (%s)",
	    err);
	keyfile_text_free(text, len);

	for (i = 0, ok = 1; i < sizeof(loose) / sizeof(loose[0]); i++) {
		chmod(p, loose[i]);
		ok &= keyfile_read(p, NULL, &len, err, sizeof(err)) == NULL &&
		    strncmp(err, p, strlen(p)) == 0 &&
		    strstr(err, "group or others") != NULL;
	}
	CHECK(ok, "a file group or others may read or write is refused (%s)",
	    err);
	p = newpath("fifo");
	if (mkfifo(p, 0600) == -1)
		abort();
	CHECK(keyfile_read(p, NULL, &len, err, sizeof(err)) == NULL &&
	    strstr(err, "regular") != NULL,
	    "a FIFO is refused without waiting for a writer (%s)", err);
	p = newpath("link");
	if (symlink(good, p) == -1)
		abort();
	CHECK(keyfile_read(p, NULL, &len, err, sizeof(err)) == NULL &&
	    strstr(err, "symbolic") != NULL, "a symbolic link is refused, "
	    "though it points to a good file (%s)", err);
	p = newpath("dir");
	if (mkdir(p, 0700) == -1)
		abort();
	CHECK(keyfile_read(p, NULL, &len, err, sizeof(err)) == NULL &&
	    strstr(err, "regular") != NULL, "a directory is refused (%s)", err);
	CHECK(keyfile_read("/dev/null", NULL, &len, err, sizeof(err)) == NULL,
	    "a device is refused (%s)", err);
	CHECK(keyfile_read(newpath("missing"), NULL, &len, err,
	    sizeof(err)) == NULL && strstr(err, "No such file") != NULL,
	    "a missing file is named with its reason (%s)", err);

	if ((big = malloc(KEYFILE_MAX + 1)) == NULL)
		abort();
	memset(big, '#', KEYFILE_MAX + 1);
	p = newpath("big");
	put(p, big, KEYFILE_MAX, 0600);
	err[0] = '\0';
	text = keyfile_read(p, NULL, &len, err, sizeof(err));
	CHECK(text != NULL && len == KEYFILE_MAX,
	    "a file of KEYFILE_MAX bytes reads (%s)", err);
	keyfile_text_free(text, len);
	put(p, big, KEYFILE_MAX + 1, 0600);
	CHECK(keyfile_read(p, NULL, &len, err, sizeof(err)) == NULL &&
	    strstr(err, "too large") != NULL, "one byte more is refused (%s)",
	    err);
	free(big);
}

static void
test_load_and_list(void)
{
	const char *m = file("master", "# keys\nk2 " K2 "\nk1 " K1 "\n", 0600);
	const char *h = file("hash", H1 "\n", 0600);
	char kids[KEYFILE_KEYS_MAX][KID_MAX + 1], *text;
	unsigned char key[KEY_LEN];
	struct stat st;
	size_t len;
	int n;

	err[0] = '\0';
	CHECK(keyfile_load_master(m, keys, &nkeys, &st, err, sizeof(err)) == 0 &&
	    nkeys == 2 && strcmp(keys[0].mk_kid, "k2") == 0 &&
	    st.st_size == 7 + 68 + 68, "a master key file loads (%s)", err);
	CHECK(keyfile_load_hash(h, key, err, sizeof(err)) == 0 &&
	    key_is(key, H1), "a hash key file loads (%s)", err);
	chmod(h, 0644);
	CHECK(keyfile_load_hash(h, key, err, sizeof(err)) == -1 &&
	    strncmp(err, h, strlen(h)) == 0,
	    "a hash key file is checked like a master key file (%s)", err);
	CHECK(keyfile_load_master(h, keys, &nkeys, NULL, err, sizeof(err)) ==
	    -1 && nkeys == 0, "as the master key file too (%s)", err);
	chmod(h, 0600);
	CHECK(keyfile_load_master(h, keys, &nkeys, NULL, err, sizeof(err)) ==
	    -1 && strncmp(err, h, strlen(h)) == 0 && strstr(err, ":1:") != NULL,
	    "a hash key is not a master key file (%s)", err);

	err[0] = '\0';
	text = keyfile_read(m, NULL, &len, err, sizeof(err));
	memset(kids, 'x', sizeof(kids));
	CHECK(text != NULL && keyfile_kids(m, text, len, kids, &n, err,
	    sizeof(err)) == 0 && n == 2 && strcmp(kids[0], "k2") == 0 &&
	    strcmp(kids[1], "k1") == 0, "the key ids are listed in order, the "
	    "current first (%s)", err);
	keyfile_text_free(text, len);
	CHECK(keyfile_kids("m", "k1 " K1 "\nk1 " K2 "\n", 136, kids, &n, err,
	    sizeof(err)) == -1 && strncmp(err, "m:2:", 4) == 0,
	    "a file that does not parse lists nothing (%s)", err);

	CHECK(keyfile_kid_valid("k-1_z9", 6) && !keyfile_kid_valid("", 0) &&
	    !keyfile_kid_valid("k 1", 3) && !keyfile_kid_valid("kÉ", 3) &&
	    keyfile_kid_valid("k1 x", 2), "key ids are [a-z0-9_-]{1,32}, "
	    "len bytes of them");
}

static void
test_hex(void)
{
	unsigned char out[4] = { 0 };
	char hex[9];
	static const unsigned char in[4] = { 0x00, 0x9f, 0xa0, 0xff };

	hex_encode(in, sizeof(in), hex);
	CHECK_STR(hex, "009fa0ff", "hex is encoded in lower case");
	CHECK(hex_decode("009FA0ff", 8, out, 4) == 0 &&
	    memcmp(out, in, 4) == 0, "and decoded in either case");
	CHECK(hex_decode("009fa0f", 7, out, 4) == -1 &&
	    hex_decode("009fa0ff00", 10, out, 4) == -1 &&
	    hex_decode("009fa0fg", 8, out, 4) == -1 &&
	    hex_decode("009f a0f", 8, out, 4) == -1 &&
	    hex_decode("+09fa0ff", 8, out, 4) == -1,
	    "only exactly 2n hex digits decode");
}

static void
test_edits(void)
{
	unsigned char key[KEY_LEN];
	char *out;
	const char *p;
	size_t n, i;
	static const char old[] = "# ours\n\n# more\nk1 " K1 "\n# old\nk0 "
	    K2 "\n";

	for (i = 0; i < KEY_LEN; i++)
		key[i] = (unsigned char)(0xa0 + i);
	out = keyfile_add(old, strlen(old), "k2", key, &n);
	CHECK(out != NULL && n == strlen(out) && strcmp(out, "# ours\n\n"
	    "# more\nk2 a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9"
	    "babbbcbdbebf\nk1 " K1 "\n# old\nk0 " K2 "\n") == 0,
	    "a new key goes after the leading comments, the rest unchanged");
	CHECK(out != NULL && master(out) == 0 && nkeys == 3 &&
	    strcmp(keys[0].mk_kid, "k2") == 0 && keys[0].mk_key[31] == 0xbf,
	    "and the result parses with it current (%s)", err);
	keyfile_text_free(out, n);

	out = keyfile_add("k1 " K1, 67, "k2", key, &n);
	p = KEYFILE_HEADER "\nk2 ";
	CHECK(out != NULL && strncmp(out, p, strlen(p)) == 0 &&
	    strcmp(out + strlen(p) + 64, "\nk1 " K1) == 0,
	    "a file without a comment gets the header line first");
	keyfile_text_free(out, n);
	out = keyfile_add("# keys", 6, "k2", key, &n);
	CHECK(out != NULL && strncmp(out, "# keys\nk2 ", 10) == 0 &&
	    n == 10 + 64 + 1, "a comment without a newline gets one");
	keyfile_text_free(out, n);
	out = keyfile_add("", 0, "k2", key, &n);
	CHECK(out != NULL && master(out) == 0 && nkeys == 1,
	    "an empty file becomes the header and the key (%s)", err);
	keyfile_text_free(out, n);

	out = keyfile_remove("m", old, strlen(old), "k1", &n, err,
	    sizeof(err));
	CHECK(out != NULL && strcmp(out, "# ours\n\n# more\n# old\nk0 " K2
	    "\n") == 0 && n == strlen(out),
	    "a retired key's line goes, every other line unchanged");
	keyfile_text_free(out, n);
	p = "k1 " K1 "\n  k0\t" K2;
	out = keyfile_remove("m", p, strlen(p), "k0", &n, err, sizeof(err));
	CHECK(out != NULL && strcmp(out, "k1 " K1 "\n") == 0,
	    "an indented last line without a newline goes too");
	keyfile_text_free(out, n);
	CHECK(keyfile_remove("m", old, strlen(old), "k", &n, err,
	    sizeof(err)) == NULL && strstr(err, "k is not in m") != NULL &&
	    keyfile_remove("m", old, strlen(old), "old", &n, err,
	    sizeof(err)) == NULL,
	    "a key that is not there (a prefix, a comment word) is an error "
	    "(%s)", err);
}

/* A master key file at path owned by uid:gid; its status. */
static void
owned(const char *path, const char *text, uid_t uid, gid_t gid,
    struct stat *st)
{
	put(path, text, strlen(text), 0600);
	if (chown(path, uid, gid) == -1 || stat(path, st) == -1)
		abort();
}

/* Replace m (locked now) with text; the result of keyfile_replace. */
static int
replace(const char *m, const struct stat *st, const char *text,
    const struct keyfile_want *kw)
{
	char tmp[128];
	int fd;

	if ((fd = keyfile_lock(m, tmp, sizeof(tmp), err, sizeof(err))) == -1)
		return -2;
	return keyfile_replace(fd, tmp, m, st, text, strlen(text), kw, err,
	    sizeof(err));
}

static void
test_replace(void)
{
	static const char old[] = "# keys\nk1 " K1 "\nk0 " K2 "\n";
	char kids[2][KID_MAX + 1] = { "k1", "k0" }, tmp[128], lockp[128];
	const char *m = newpath("rotated"), *h = file("h", H1 "\n", 0600);
	const char *badh = file("badh", "nothing\n", 0600), *now;
	struct keyfile_want kw = { "k2", NULL, kids, 2, h };
	uid_t uid = geteuid() == 0 ? 4321 : geteuid();
	gid_t gid = geteuid() == 0 ? 8765 : getegid();
	struct keyring *kr;
	struct stat st, after;
	int fd, fd2;

	snprintf(lockp, sizeof(lockp), "%s.new", m);
	newpath("rotated.new");
	owned(m, old, uid, gid, &st);

	/* The lock. */
	fd = keyfile_lock(m, tmp, sizeof(tmp), err, sizeof(err));
	CHECK(fd != -1 && strcmp(tmp, lockp) == 0 && stat(tmp, &after) == 0 &&
	    (after.st_mode & 0777) == 0600, "the lock is <path>.new, mode 600 "
	    "(%s)", err);
	fd2 = keyfile_lock(m, tmp, sizeof(tmp), err, sizeof(err));
	CHECK(fd2 == -1 && strstr(err, "exists") != NULL &&
	    strstr(err, lockp) != NULL, "a second lock is refused while it is "
	    "held (%s)", err);
	keyfile_unlock(fd, tmp);
	CHECK(access(lockp, F_OK) == -1, "unlocking removes it");
	CHECK(keyfile_lock(m, tmp, 5, err, sizeof(err)) == -1 &&
	    strstr(err, "too long") != NULL && access(lockp, F_OK) == -1,
	    "a lock path that does not fit is refused (%s)", err);

	/* What must not replace the file. */
	CHECK(replace(m, &st, "# keys\nk2 " K1 "\nk1 " K1 "\nk0 " KBAD "\n",
	    &kw) == -1 && strstr(err, "would not load") != NULL &&
	    strstr(err, ":4:") != NULL, "a new file that does not parse is not "
	    "put in place (%s)", err);
	now = slurp(m);
	CHECK(now != NULL && strcmp(now, old) == 0 && stat(m, &after) == 0 &&
	    after.st_ino == st.st_ino && access(lockp, F_OK) == -1,
	    "the old file is unchanged and the lock released");
	CHECK(replace(m, &st, "k3 " K1 "\nk1 " K1 "\nk0 " K2 "\n", &kw) == -1 &&
	    strstr(err, "changed meanwhile") != NULL,
	    "nor one whose current key is not the one meant (%s)", err);
	CHECK(replace(m, &st, "k2 " K1 "\nk1 " K1 "\n", &kw) == -1 &&
	    strstr(err, "changed meanwhile") != NULL,
	    "nor one that lost a key it must keep (%s)", err);
	kw.kw_hash = badh;
	CHECK(replace(m, &st, "k2 " K1 "\n" "k1 " K1 "\nk0 " K2 "\n", &kw) ==
	    -1 && strstr(err, badh) != NULL, "nor one whose hash key file "
	    "does not load (%s)", err);
	kw.kw_hash = h;
	kw.kw_current = "k1";
	kw.kw_gone = "k0";
	CHECK(replace(m, &st, "k1 " K1 "\nk0 " K2 "\n", &kw) == -1 &&
	    strstr(err, "changed meanwhile") != NULL,
	    "nor one that still has the key being retired (%s)", err);
	now = slurp(m);
	CHECK(now != NULL && strcmp(now, old) == 0 && stat(m, &after) == 0 &&
	    after.st_ino == st.st_ino && access(lockp, F_OK) == -1,
	    "after all of them the old file is still in place, no lock left");

	/* A retirement, then a rotation. */
	CHECK(replace(m, &st, "# keys\nk1 " K1 "\n", &kw) == 0 && err[0] ==
	    '\0', "a file without the retired key replaces the old (%s)", err);
	now = slurp(m);
	CHECK(now != NULL && strcmp(now, "# keys\nk1 " K1 "\n") == 0 &&
	    stat(m, &after) == 0 && after.st_ino != st.st_ino &&
	    (after.st_mode & 07777) == 0600 && after.st_uid == uid &&
	    after.st_gid == gid && access(lockp, F_OK) == -1,
	    "it is a new file, mode 600, with the old one's owner (%u:%u), "
	    "and the lock is gone", (unsigned)uid, (unsigned)gid);
	CHECK(keyfile_changed(m, &st) && !keyfile_changed(m, &after),
	    "a daemon that read the old file sees a change; one that read the "
	    "new does not");
	st = after;
	kw.kw_current = "k2";
	kw.kw_gone = NULL;
	kw.kw_nkids = 1;
	CHECK(replace(m, &st, "# keys\nk2 " K2 "\nk1 " K1 "\n", &kw) == 0,
	    "a file with a new current key replaces it (%s)", err);
	kr = keyring_load(m, h, err, sizeof(err));
	CHECK(kr != NULL && strcmp(keyring_current(kr), "k2") == 0 &&
	    keyring_has(kr, "k1"), "and the daemon's keyring loads it (%s)",
	    err);
	keyring_free(kr);
}

static void
test_changed(void)
{
	const char *p = file("watched", "k1 " K1 "\n", 0600);
	struct stat st;
	struct timespec ts[2];

	if (stat(p, &st) == -1)
		abort();
	CHECK(!keyfile_changed(p, &st), "a file left alone has not changed");
	put(p, "k1 " K1 "\nk2 " K2 "\n", 68 + 68, 0600);
	CHECK(keyfile_changed(p, &st), "a file written again has");
	if (stat(p, &st) == -1)
		abort();
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	ts[1].tv_nsec = (ts[1].tv_nsec + 1) % 1000000000;
	if (utimensat(AT_FDCWD, p, ts, 0) == -1)
		abort();
	CHECK(keyfile_changed(p, &st), "so has one whose modification time "
	    "alone moved");
	unlink(p);
	CHECK(!keyfile_changed(p, &st), "a file gone is not a change: the keys "
	    "loaded are kept");
}

int
main(void)
{
	int i;

	alarm(60);		/* a FIFO must not hang the suite */
	snprintf(dir, sizeof(dir), "/tmp/hotlined-keyfile-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	test_parse_master();
	test_parse_hash();
	test_read();
	test_load_and_list();
	test_hex();
	test_edits();
	test_replace();
	test_changed();
	for (i = npaths - 1; i >= 0; i--)
		if (unlink(paths[i]) == -1)
			rmdir(paths[i]);
	rmdir(dir);
	UNIT_EXIT();
}
