/*
 * Unit tests for crypto.c: key files, data-key wrapping and rotation,
 * sealed fields and their tamper checks, keyed digests, normalisation of
 * identifiers and base64.  The formats are also checked against an
 * independent implementation: known answers computed with Python's
 * cryptography and hmac modules, and values opened here with plain EVP.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hotlined.h"
#include "unit.h"

#define K1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define K1_UPPER \
	"00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
#define K2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define H1 "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
#define H2 "1f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
/* K1 with one digit that is not hex; neither half may be echoed. */
#define KBAD "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg"
#define KBAD_HEAD "0011223344556677"
#define KBAD_TAIL "8899aabbccddeefg"

/*
 * Known answers (Python: AESGCM and hmac).  The DEK is the bytes 0..31
 * with uid KAT_UID, wrapped under K1 as kid "k1" with nonce a0..ab; the
 * field "child.name" is sealed under it with nonce b0..bb.
 */
#define KAT_UID	"12345678-9abc-4def-8123-456789abcdef"
#define KAT_WRAPPED "a0a1a2a3a4a5a6a7a8a9aaabde35762f44493bfb8735334263e4" \
	"8ff5d0d7efa4f8df45089dff9d95ab1df0d428d0104c3b0de84050fb529a7d913922"
#define KAT_FIELD "01b0b1b2b3b4b5b6b7b8b9babb7fe0d14343585edbf81f3c072ac9" \
	"3a0e0bba1c428a8c4cb57e4cea2758c3d6"
#define KAT_TEXT "测试儿童甲"
/* HMAC-SHA256 under H1 of "hotlined/<kind>/v1|" + data. */
#define KAT_ID \
	"d1638355cfbf997f1851b5c9b8fd54050d99c30bb547ffcc2680dd2a0c4a3fa3"
#define KAT_PHONE \
	"9a28984b0a47720d7b701134bdca97945c414de39329e9a7756e5d02f189ebaa"
#define KAT_NAME \
	"627e338a5f6659faaf9ced83b2644e1da0b1b0f0d8b19517615c09adee7edb3c"

#define PATHS_MAX	200

static char dir[64];
static char paths[PATHS_MAX][96];
static int npaths;
static char err[512];
static const char *mpath, *hpath;	/* the files ring() last wrote */

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

/* A temporary file with len bytes of text and this mode; its path. */
static const char *
file_n(const char *text, size_t len, mode_t mode)
{
	char *p = newpath("key-XXXXXX");
	int fd;

	if ((fd = mkstemp(p)) == -1 || write(fd, text, len) != (ssize_t)len ||
	    fchmod(fd, mode) == -1 || close(fd) == -1)
		abort();
	return p;
}

/* A temporary file with this text and mode; its path. */
static const char *
file(const char *text, mode_t mode)
{
	return file_n(text, strlen(text), mode);
}

/* Load a keyring from master and hash key texts (mode 600). */
static struct keyring *
ring(const char *master, const char *hash)
{
	err[0] = '\0';
	mpath = file(master, 0600);
	hpath = file(hash, 0600);
	return keyring_load(mpath, hpath, err, sizeof(err));
}

/*
 * Whether a load was refused with a message that starts with path, names
 * the line (if line > 0) and contains neither secret (if given).
 */
static int
refused(struct keyring *kr, const char *path, int line, const char *s1,
    const char *s2)
{
	char at[32];

	if (kr != NULL) {
		keyring_free(kr);
		return 0;
	}
	snprintf(at, sizeof(at), "%s:%d:", path, line);
	if (line > 0 && strncmp(err, at, strlen(at)) != 0)
		return 0;
	if (line == 0 && (strncmp(err, path, strlen(path)) != 0 ||
	    err[strlen(path)] != ':'))
		return 0;
	return (s1 == NULL || strstr(err, s1) == NULL) &&
	    (s2 == NULL || strstr(err, s2) == NULL);
}

/* Decode hex into out (at most max bytes); the length. */
static size_t
unhex(const char *s, unsigned char *out, size_t max)
{
	size_t i, n = strlen(s) / 2;
	unsigned int b;

	if (n > max)
		abort();
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			abort();
		out[i] = (unsigned char)b;
	}
	return n;
}

/* Whether len bytes are all zero. */
static int
zero(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Whether s is a lower-case RFC 4122 version 4 UUID. */
static int
uuid_v4(const char *s)
{
	int i;

	if (strlen(s) != DEK_UID_LEN)
		return 0;
	for (i = 0; i < DEK_UID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/*
 * Open AES-256-GCM with plain EVP, independently of crypto.c:
 * nonce(12) | ct(len) | tag(16) into out; 0 if the tag holds.
 */
static int
evp_open(const unsigned char *key, const char *aad, const unsigned char *in,
    size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char tag[16];
	int n, ok;

	memcpy(tag, in + 12 + len, sizeof(tag));
	ok = ctx != NULL &&
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, in) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &n, in + 12, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + len, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static void
test_keyfiles(void)
{
	struct keyring *kr;
	const char *hash = file(H1 "\n", 0600), *good = file("k1 " K1 "\n",
	    0600), *p;
	static const mode_t loose[] = { 0640, 0620, 0604, 0602, 0660, 0644,
	    0610, 0601 };
	char big[80 * 70], kid[16], *q, small[8];
	size_t i;
	int ok;

	kr = ring("# comment\n\n  k3\t" K2 "  \r\nk1 " K1 "\n# k9 x\n"
	    "k_2-b " H1, H1 "\n");
	CHECK(kr != NULL && strcmp(keyring_current(kr), "k3") == 0 &&
	    keyring_has(kr, "k1") && keyring_has(kr, "k3") &&
	    keyring_has(kr, "k_2-b") && !keyring_has(kr, "k9") &&
	    !keyring_has(kr, "k2") && !keyring_has(kr, ""),
	    "a key file loads (comments, blank lines, CRLF, tabs, no final "
	    "newline); the first key is current, the others unwrap (%s)", err);
	keyring_free(kr);
	kr = ring("k1 " K1 "\nk3 " K2 "\n", "# hash\n\n  " H1 "  \n\n");
	CHECK(kr != NULL && strcmp(keyring_current(kr), "k1") == 0,
	    "the order of the file decides which key is current");
	keyring_free(kr);
	kr = keyring_load(file("k1 " K1 "\n", 0400), file(H1, 0400), err,
	    sizeof(err));
	CHECK(kr != NULL, "mode 400 is accepted (%s)", err);
	keyring_free(kr);

	/* At most 64 keys. */
	for (i = 0, q = big; i < 65; i++) {
		snprintf(kid, sizeof(kid), "k%zu", i);
		q += sprintf(q, "%s %s\n", kid, i % 2 ? K1 : K2);
		if (i == 63) {
			kr = ring(big, H1);
			CHECK(kr != NULL && keyring_has(kr, "k63") &&
			    strcmp(keyring_current(kr), "k0") == 0,
			    "64 keys load (%s)", err);
			keyring_free(kr);
		}
	}
	kr = ring(big, H1);
	CHECK(refused(kr, mpath, 65, NULL, NULL) && strstr(err, "64") != NULL,
	    "a 65th key is refused at its line (%s)", err);

	/* Group or others may not read or write either file. */
	for (i = 0, ok = 1; i < sizeof(loose) / sizeof(loose[0]); i++) {
		p = file("k1 " K1 "\n", loose[i]);
		kr = keyring_load(p, hash, err, sizeof(err));
		ok &= refused(kr, p, 0, K1, NULL) &&
		    strstr(err, "group or others") != NULL;
		p = file(H1 "\n", loose[i]);
		kr = keyring_load(good, p, err, sizeof(err));
		ok &= refused(kr, p, 0, H1, NULL) &&
		    strstr(err, "group or others") != NULL;
	}
	CHECK(ok, "a key file the group or others may read or write is "
	    "refused, master or hash (%s)", err);

	/* Only regular files. */
	p = newpath("a-directory");
	if (mkdir(p, 0700) == -1)
		abort();
	kr = keyring_load(p, hash, err, sizeof(err));
	CHECK(refused(kr, p, 0, NULL, NULL) && strstr(err, "regular") != NULL,
	    "a directory is refused (%s)", err);
	p = newpath("a-fifo");
	if (mkfifo(p, 0600) == -1)
		abort();
	kr = keyring_load(p, hash, err, sizeof(err));
	CHECK(refused(kr, p, 0, NULL, NULL) && strstr(err, "regular") != NULL,
	    "a FIFO is refused without waiting for a writer (%s)", err);
	kr = keyring_load(good, p, err, sizeof(err));
	CHECK(refused(kr, p, 0, NULL, NULL), "so is a FIFO as the hash key");
	p = newpath("a-symlink");
	if (symlink(good, p) == -1)
		abort();
	kr = keyring_load(p, hash, err, sizeof(err));
	CHECK(refused(kr, p, 0, NULL, NULL) && strstr(err, "symbolic") != NULL,
	    "a symbolic link is refused (%s)", err);
	kr = keyring_load("/dev/null", hash, err, sizeof(err));
	CHECK(refused(kr, "/dev/null", 0, NULL, NULL),
	    "a device is refused (%s)", err);
	kr = keyring_load("/nonexistent/master.key", hash, err, sizeof(err));
	CHECK(refused(kr, "/nonexistent/master.key", 0, NULL, NULL),
	    "a missing file is named (%s)", err);
	kr = keyring_load(good, "/nonexistent/hash.key", err, sizeof(err));
	CHECK(refused(kr, "/nonexistent/hash.key", 0, NULL, NULL),
	    "so is a missing hash key file (%s)", err);

	/* Malformed master key lines: the path and line, never the key. */
	kr = ring("# keys\n\nk1 " KBAD "\n", H1);
	CHECK(refused(kr, mpath, 3, KBAD_HEAD, KBAD_TAIL),
	    "bad hex is refused at its line, not echoed (%s)", err);
	kr = ring("k1 " K1 "\nk2 00112233\n", H1);
	CHECK(refused(kr, mpath, 2, "00112233", K1),
	    "a short key is refused at its line, not echoed (%s)", err);
	kr = ring("k1 " K1 "ee\n", H1);
	CHECK(refused(kr, mpath, 1, KBAD_HEAD, "eeffee"),
	    "so is a long key (%s)", err);
	kr = ring("k1 " K1 "\nK2 " K2 "\n", H1);
	CHECK(refused(kr, mpath, 2, K2, "ffeeddcc"),
	    "an upper-case key id is refused (%s)", err);
	kr = ring("k1 " K1 "\n\nk.2 " K2 "\n", H1);
	CHECK(refused(kr, mpath, 3, K2, "ffeeddcc"),
	    "a key id with a dot is refused (%s)", err);
	kr = ring("k12345678901234567890123456789012 " K1 "\n", H1);
	CHECK(refused(kr, mpath, 1, K1, KBAD_HEAD),
	    "a 33-character key id is refused (%s)", err);
	kr = ring("k1234567890123456789012345678901 " K1 "\n", H1);
	CHECK(kr != NULL && keyring_has(kr, "k1234567890123456789012345678901"),
	    "a 32-character key id is accepted (%s)", err);
	keyring_free(kr);
	kr = ring(K1 "\n", H1);
	CHECK(refused(kr, mpath, 1, KBAD_HEAD, KBAD_TAIL),
	    "a key without a key id is refused (%s)", err);
	kr = ring("k1\n", H1);
	CHECK(refused(kr, mpath, 1, NULL, NULL),
	    "a key id without a key is refused (%s)", err);
	kr = ring("k1 " K1 " extra\n", H1);
	CHECK(refused(kr, mpath, 1, KBAD_HEAD, NULL),
	    "a key line with more on it is refused (%s)", err);
	kr = ring("k1 " K1 "\n# again\nk1 " K2 "\n", H1);
	CHECK(refused(kr, mpath, 3, K2, K1) && strstr(err, "twice") != NULL,
	    "a key id used twice is refused at the second (%s)", err);
	kr = ring("", H1);
	CHECK(refused(kr, mpath, 0, NULL, NULL) && strstr(err, "no key"),
	    "an empty key file is refused (%s)", err);
	kr = ring("# only a comment\n\n   \n", H1);
	CHECK(refused(kr, mpath, 0, NULL, NULL) && strstr(err, "no key"),
	    "a key file of comments is refused (%s)", err);
	p = file_n("k1 " K1 "\n\0k2 " K2 "\n", 3 + 64 + 1 + 1 + 3 + 64 + 1,
	    0600);
	kr = keyring_load(p, hash, err, sizeof(err));
	CHECK(refused(kr, p, 0, K1, K2), "a key file with a NUL byte is "
	    "refused (%s)", err);

	/* The hash key file. */
	kr = ring("k1 " K1 "\n", "");
	CHECK(refused(kr, hpath, 0, NULL, NULL),
	    "an empty hash key file is refused (%s)", err);
	kr = ring("k1 " K1 "\n", "# hash\n" KBAD "\n");
	CHECK(refused(kr, hpath, 2, KBAD_HEAD, KBAD_TAIL),
	    "a hash key of bad hex is refused at its line (%s)", err);
	kr = ring("k1 " K1 "\n", "00112233\n");
	CHECK(refused(kr, hpath, 1, "00112233", NULL),
	    "a short hash key is refused (%s)", err);
	kr = ring("k1 " K1 "\n", "h1 " H1 "\n");
	CHECK(refused(kr, hpath, 1, H1, NULL),
	    "a hash key with a key id is refused (%s)", err);
	kr = ring("k1 " K1 "\n", H1 "\n" H2 "\n");
	CHECK(refused(kr, hpath, 2, H1, H2),
	    "a hash key file with two keys is refused (%s)", err);

	/* A short error buffer is truncated, not overrun. */
	kr = keyring_load("/nonexistent/master.key", hash, small,
	    sizeof(small));
	CHECK(kr == NULL && strlen(small) < sizeof(small),
	    "a short error buffer is cut short");
	keyring_free(NULL);
	CHECK(1, "keyring_free(NULL) does nothing");
}

static void
test_wrapping(void)
{
	struct keyring *kr = ring("k1 " K1 "\n", H1), *kr2, *kr3, *kru;
	unsigned char w[WRAPPED_LEN], w2[WRAPPED_LEN], w3[WRAPPED_LEN],
	    kat[WRAPPED_LEN], key[KEY_LEN + 16], k1[KEY_LEN];
	struct dek d, d2, u, e;
	char other[DEK_UID_LEN + 1], aad[128];
	size_t i;
	int ok;

	CHECK(kr != NULL, "a one-key ring loads (%s)", err);
	CHECK(dek_new(kr, &d, w) == 0 && uuid_v4(d.dk_uid) &&
	    strcmp(d.dk_kid, "k1") == 0 && !zero(d.dk_key, KEY_LEN),
	    "a new data key has a lower-case v4 UUID and the current key id "
	    "(%s)", d.dk_uid);
	CHECK(dek_new(kr, &d2, w2) == 0 && strcmp(d.dk_uid, d2.dk_uid) != 0 &&
	    memcmp(d.dk_key, d2.dk_key, KEY_LEN) != 0 &&
	    memcmp(w, w2, WRAPPED_LEN) != 0,
	    "two new data keys differ in uid, key and wrapping");
	CHECK(dek_unwrap(kr, d.dk_uid, "k1", w, sizeof(w), &u) == 0 &&
	    memcmp(u.dk_key, d.dk_key, KEY_LEN) == 0 &&
	    strcmp(u.dk_uid, d.dk_uid) == 0 && strcmp(u.dk_kid, "k1") == 0,
	    "it unwraps to the same key, uid and key id");

	/* The format, checked with plain EVP. */
	unhex(K1, k1, sizeof(k1));
	snprintf(aad, sizeof(aad), "hotlined/dek/v1|%s|k1", d.dk_uid);
	CHECK(evp_open(k1, aad, w, KEY_LEN, key) == 0 &&
	    memcmp(key, d.dk_key, KEY_LEN) == 0,
	    "the wrapping is nonce | AES-256-GCM(K1, \"hotlined/dek/v1|uid|"
	    "kid\") | tag");
	unhex(KAT_WRAPPED, kat, sizeof(kat));
	for (i = 0; i < KEY_LEN; i++)
		key[i] = (unsigned char)i;
	CHECK(dek_unwrap(kr, KAT_UID, "k1", kat, sizeof(kat), &u) == 0 &&
	    memcmp(u.dk_key, key, KEY_LEN) == 0,
	    "a data key wrapped by another implementation unwraps");

	/* What must not unwrap; a failure leaves no key behind. */
	snprintf(other, sizeof(other), "%s", d.dk_uid);
	other[0] = other[0] == 'a' ? 'b' : 'a';
	memset(&u, 0xa5, sizeof(u));
	CHECK(dek_unwrap(kr, other, "k1", w, sizeof(w), &u) == -1 &&
	    zero(u.dk_key, KEY_LEN), "not under another uid");
	CHECK(dek_unwrap(kr, "", "k1", w, sizeof(w), &u) == -1,
	    "nor an empty uid");
	CHECK(dek_unwrap(kr, d.dk_uid, "k9", w, sizeof(w), &u) == -1,
	    "nor an unknown key id");
	CHECK(dek_unwrap(kr, d.dk_uid, "", w, sizeof(w), &u) == -1,
	    "nor an empty key id");
	for (i = 0, ok = 0; i < WRAPPED_LEN * 8; i++) {
		w[i / 8] ^= (unsigned char)(1 << (i % 8));
		ok += dek_unwrap(kr, d.dk_uid, "k1", w, sizeof(w), &u) == -1 &&
		    zero(u.dk_key, KEY_LEN);
		w[i / 8] ^= (unsigned char)(1 << (i % 8));
	}
	CHECK(ok == WRAPPED_LEN * 8, "nor with any one bit changed (%d of %d "
	    "refused)", ok, WRAPPED_LEN * 8);
	CHECK(dek_unwrap(kr, d.dk_uid, "k1", w, sizeof(w) - 1, &u) == -1 &&
	    dek_unwrap(kr, d.dk_uid, "k1", w, 0, &u) == -1,
	    "nor truncated");
	CHECK(dek_unwrap(kr, d.dk_uid, "k1", w, sizeof(w), &u) == 0,
	    "restored, it unwraps again");

	/* Upper-case hex is the same key. */
	kru = ring("k1 " K1_UPPER "\n", H1);
	CHECK(kru != NULL && dek_unwrap(kru, d.dk_uid, "k1", w, sizeof(w),
	    &u) == 0 && memcmp(u.dk_key, d.dk_key, KEY_LEN) == 0,
	    "a key in upper-case hex is the same key");
	keyring_free(kru);

	/* Rotation: k2 becomes current, k1 still unwraps. */
	kr2 = ring("k2 " K2 "\nk1 " K1 "\n", H1);
	CHECK(kr2 != NULL && strcmp(keyring_current(kr2), "k2") == 0,
	    "the rotated key file has k2 current");
	CHECK(dek_unwrap(kr2, d.dk_uid, "k2", w, sizeof(w), &u) == -1,
	    "a key wrapped under k1 does not open claiming k2");
	CHECK(dek_unwrap(kr2, d.dk_uid, "k1", w, sizeof(w), &u) == 0 &&
	    dek_wrap(kr2, &u, "k2", w2) == 0 && strcmp(u.dk_kid, "k2") == 0 &&
	    memcmp(u.dk_key, d.dk_key, KEY_LEN) == 0,
	    "after rotation the old wrapping opens and rewraps under k2");
	CHECK(dek_wrap(kr2, &u, "k2", w3) == 0 && memcmp(w2, w3,
	    WRAPPED_LEN) != 0, "wrapping twice gives different bytes");
	CHECK(dek_unwrap(kr2, d.dk_uid, "k1", w2, sizeof(w2), &e) == -1,
	    "a rewrapped key does not open under its old key id");
	CHECK(dek_wrap(kr2, &u, "k7", w3) == -1 && strcmp(u.dk_kid, "k2") == 0,
	    "wrapping under an unknown key id fails and keeps the key id");
	CHECK(dek_new(kr2, &e, w3) == 0 && strcmp(e.dk_kid, "k2") == 0 &&
	    dek_unwrap(kr2, d.dk_uid, "k2", w3, sizeof(w3), &u) == -1 &&
	    dek_unwrap(kr2, e.dk_uid, "k2", w3, sizeof(w3), &u) == 0 &&
	    memcmp(u.dk_key, e.dk_key, KEY_LEN) == 0,
	    "new data keys are wrapped under the new current key");
	CHECK(dek_unwrap(kr2, e.dk_uid, e.dk_kid, w3, sizeof(w3), &e) == 0 &&
	    memcmp(u.dk_key, e.dk_key, KEY_LEN) == 0 &&
	    strcmp(u.dk_uid, e.dk_uid) == 0 && strcmp(e.dk_kid, "k2") == 0,
	    "uid and key id may point into the data key being filled");
	kr3 = ring("k2 " K2 "\n", H1);
	CHECK(dek_unwrap(kr3, d.dk_uid, "k2", w2, sizeof(w2), &e) == 0 &&
	    memcmp(e.dk_key, d.dk_key, KEY_LEN) == 0 &&
	    strcmp(e.dk_kid, "k2") == 0,
	    "once k1 is retired the rewrapped key opens with k2 alone");
	CHECK(dek_unwrap(kr3, d.dk_uid, "k1", w, sizeof(w), &e) == -1,
	    "and the old wrapping no longer opens at all");
	dek_clear(&d);
	CHECK(zero((unsigned char *)&d, sizeof(d)), "dek_clear clears it all");
	dek_clear(&d2);
	dek_clear(&u);
	dek_clear(&e);
	keyring_free(kr);
	keyring_free(kr2);
	keyring_free(kr3);
}

static void
test_fields(void)
{
	struct keyring *kr = ring("k1 " K1 "\n", H1);
	unsigned char w[WRAPPED_LEN], ct[256], ct2[256], kat[64], pt[256],
	    *big, *bigct;
	const char *text = "测试儿童甲 (11)";
	size_t len = strlen(text), clen = len + SEAL_OVERHEAD, olen, i, bn;
	struct dek d, other, moved;
	char *out = NULL, aad[128];
	int ok, n;

	dek_new(kr, &d, w);
	dek_new(kr, &other, w);
	ok = field_seal(&d, "child.name", text, len, ct) == 0 &&
	    field_open(&d, "child.name", ct, clen, &out, &olen) == 0 &&
	    olen == len && strcmp(out, text) == 0 && ct[0] == 1;
	CHECK(ok, "a field seals (version 1) and opens to the same UTF-8 text");
	free(out);
	out = NULL;
	snprintf(aad, sizeof(aad), "hotlined/field/v1|%s|child.name", d.dk_uid);
	CHECK(evp_open(d.dk_key, aad, ct + 1, len, pt) == 0 &&
	    memcmp(pt, text, len) == 0, "the sealed field is 0x01 | nonce | "
	    "AES-256-GCM(DEK, \"hotlined/field/v1|uid|field\") | tag");
	CHECK(memmem(ct, clen, "测试", strlen("测试")) == NULL,
	    "the sealed value does not contain the text");
	field_seal(&d, "child.name", text, len, ct2);
	CHECK(memcmp(ct, ct2, clen) != 0 && memcmp(ct + 1, ct2 + 1, 12) != 0,
	    "sealing twice gives different ciphertexts (random nonce)");

	/* Known answer from another implementation. */
	bn = unhex(KAT_FIELD, kat, sizeof(kat));
	memset(&moved, 0, sizeof(moved));
	snprintf(moved.dk_uid, sizeof(moved.dk_uid), "%s", KAT_UID);
	for (i = 0; i < KEY_LEN; i++)
		moved.dk_key[i] = (unsigned char)i;
	CHECK(field_open(&moved, "child.name", kat, bn, &out, &olen) == 0 &&
	    olen == strlen(KAT_TEXT) && strcmp(out, KAT_TEXT) == 0,
	    "a field sealed by another implementation opens");
	free(out);
	out = NULL;

	/* What must not open. */
	out = (char *)"unchanged";
	CHECK(field_open(&d, "child.school", ct, clen, &out, &olen) == -1 &&
	    out == NULL, "it does not open as another field (out is NULL)");
	CHECK(field_open(&d, "child.nam", ct, clen, &out, &olen) == -1 &&
	    field_open(&d, "", ct, clen, &out, &olen) == -1,
	    "nor as a prefix of its field or no field");
	CHECK(field_open(&other, "child.name", ct, clen, &out, &olen) == -1,
	    "nor under another case's key");
	moved = d;
	snprintf(moved.dk_uid, sizeof(moved.dk_uid), "%s", other.dk_uid);
	CHECK(field_open(&moved, "child.name", ct, clen, &out, &olen) == -1,
	    "nor under the same key with another case's uid");
	ct[1 + 12 + 3] ^= 0x40;
	CHECK(field_open(&d, "child.name", ct, clen, &out, &olen) == -1,
	    "nor with a changed ciphertext byte");
	ct[1 + 12 + 3] ^= 0x40;
	ct[clen - 1] ^= 1;
	CHECK(field_open(&d, "child.name", ct, clen, &out, &olen) == -1,
	    "nor with a changed tag");
	ct[clen - 1] ^= 1;
	ct[2] ^= 1;
	CHECK(field_open(&d, "child.name", ct, clen, &out, &olen) == -1,
	    "nor with a changed nonce");
	ct[2] ^= 1;
	ct[0] = 2;
	CHECK(field_open(&d, "child.name", ct, clen, &out, &olen) == -1,
	    "nor with version byte 2");
	ct[0] = 0;
	CHECK(field_open(&d, "child.name", ct, clen, &out, &olen) == -1,
	    "nor with version byte 0");
	ct[0] = 1;
	for (i = 0, n = 0; i < clen * 8; i++) {
		ct[i / 8] ^= (unsigned char)(1 << (i % 8));
		n += field_open(&d, "child.name", ct, clen, &out,
		    &olen) == -1 && out == NULL;
		ct[i / 8] ^= (unsigned char)(1 << (i % 8));
	}
	CHECK((size_t)n == clen * 8, "nor with any one bit changed (%d of %zu "
	    "refused)", n, clen * 8);
	for (i = 0, n = 0; i < clen; i++)
		n += field_open(&d, "child.name", ct, i, &out, &olen) == -1;
	CHECK((size_t)n == clen, "nor truncated to any length (%d of %zu)", n,
	    clen);
	ok = field_open(&d, "child.name", ct, clen, &out, &olen) == 0;
	CHECK(ok, "restored, it opens again");
	free(out);
	out = NULL;

	/* Empty, binary and long values. */
	ok = field_seal(&d, "note", "", 0, ct) == 0 &&
	    field_open(&d, "note", ct, SEAL_OVERHEAD, &out, &olen) == 0 &&
	    olen == 0 && out[0] == '\0';
	CHECK(ok, "an empty text round-trips");
	free(out);
	out = NULL;
	CHECK(field_open(&d, "notes", ct, SEAL_OVERHEAD, &out, &olen) == -1,
	    "an empty text does not open as another field");
	ct[SEAL_OVERHEAD - 1] ^= 0x80;
	CHECK(field_open(&d, "note", ct, SEAL_OVERHEAD, &out, &olen) == -1,
	    "nor with a changed tag");
	ok = field_seal(&d, "bin", "a\0b", 3, ct) == 0 &&
	    field_open(&d, "bin", ct, 3 + SEAL_OVERHEAD, &out, &olen) == 0 &&
	    olen == 3 && memcmp(out, "a\0b", 4) == 0;
	CHECK(ok, "bytes with a NUL round-trip with their exact length");
	free(out);
	out = NULL;
	bn = 5000;
	if ((big = malloc(bn)) == NULL ||
	    (bigct = malloc(bn + SEAL_OVERHEAD)) == NULL)
		abort();
	for (i = 0; i < bn; i++)
		big[i] = (unsigned char)(i * 7 + 1);
	ok = field_seal(&d, "narrative", big, bn, bigct) == 0 &&
	    field_open(&d, "narrative", bigct, bn + SEAL_OVERHEAD, &out,
	    &olen) == 0 && olen == bn && memcmp(out, big, bn) == 0;
	CHECK(ok, "5000 bytes round-trip");
	free(out);
	out = NULL;
	free(big);
	free(bigct);
	dek_clear(&d);
	dek_clear(&other);
	dek_clear(&moved);
	keyring_free(kr);
}

/* Whether a digest equals a hex string. */
static int
digest_is(const unsigned char md[DIGEST_LEN], const char *hex)
{
	unsigned char want[DIGEST_LEN];

	unhex(hex, want, sizeof(want));
	return memcmp(md, want, DIGEST_LEN) == 0;
}

static void
test_digests(void)
{
	struct keyring *kr = ring("k1 " K1 "\n", H1), *kr2 = ring("k1 " K1 "\n",
	    H2);
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN], c[DIGEST_LEN];
	const char *nb = "张三li|2015-03-12";

	CHECK(keyed_digest(kr, "id", "X", 1, a) == 0 && digest_is(a, KAT_ID),
	    "HMAC-SHA256 of \"hotlined/id/v1|X\" under the hash key");
	CHECK(keyed_digest(kr, "phone", "13800138000", 11, c) == 0 &&
	    digest_is(c, KAT_PHONE), "the same for a phone number");
	CHECK(keyed_digest(kr, "name_birth", nb, strlen(nb), c) == 0 &&
	    digest_is(c, KAT_NAME), "and for a name and birth date");
	keyed_digest(kr, "id", "X", 1, b);
	CHECK(memcmp(a, b, DIGEST_LEN) == 0, "a keyed digest is deterministic");
	keyed_digest(kr, "phone", "X", 1, c);
	CHECK(memcmp(a, c, DIGEST_LEN) != 0, "and differs by kind");
	keyed_digest(kr2, "id", "X", 1, c);
	CHECK(memcmp(a, c, DIGEST_LEN) != 0, "and by key");
	keyed_digest(kr, "id", "Y", 1, c);
	CHECK(memcmp(a, c, DIGEST_LEN) != 0, "and by data");
	CHECK(keyed_digest(kr, "request", "", 0, c) == 0 &&
	    memcmp(a, c, DIGEST_LEN) != 0, "empty data has a digest");
	CHECK(keyed_digest(kr, "", "X", 1, c) == -1 &&
	    keyed_digest(kr, "id/v1|", "X", 1, c) == -1 &&
	    keyed_digest(kr, "ID", "X", 1, c) == -1 &&
	    keyed_digest(kr, "k123456789012345678901234567890123", "X", 1,
	    c) == -1, "a kind that is not a plain word is refused");
	keyring_free(kr);
	keyring_free(kr2);
}

/* Normalise into a buffer of outlen; whether the result is want (NULL:
 * refused, leaving the buffer empty). */
static int
norm(const char *kind, const char *a1, const char *a2, size_t outlen,
    const char *want)
{
	char out[128];

	memset(out, 'Z', sizeof(out));
	if (want == NULL)
		return normalise_identifier(kind, a1, a2, out, outlen) == -1 &&
		    (outlen == 0 || out[0] == '\0');
	if (normalise_identifier(kind, a1, a2, out, outlen) == -1) {
		printf("# %s: refused\n", a1);
		return 0;
	}
	if (strcmp(out, want) != 0) {
		printf("# %s: got \"%s\", want \"%s\"\n", a1, out, want);
		return 0;
	}
	return 1;
}

static void
test_normalise(void)
{
	const size_t N = 128;

	CHECK(norm("id", "32010220150312002x", NULL, N, "32010220150312002X"),
	    "an ID number is upper-cased");
	CHECK(norm("id", " 320102 20150312 002x ", NULL, N,
	    "32010220150312002X"), "and loses its spaces");
	CHECK(norm("id", "", NULL, N, NULL) && norm("id", "   ", NULL, N, NULL),
	    "an empty ID number is refused");
	CHECK(norm("name_birth", " 张\xe3\x80\x80三 Li ", "2015-03-12", N,
	    "张三li|2015-03-12"),
	    "a name loses its spaces (ideographic too), ASCII lower-cased");
	CHECK(norm("name_birth", "Wang\tXiao\r\nMing\xc2\xa0", "2015-03-12", N,
	    "wangxiaoming|2015-03-12"),
	    "tabs, line breaks and no-break spaces go too");
	CHECK(norm("name_birth", "\xc3\x89MILE", "2014-01-02", N,
	    "\xc3\x89mile|2014-01-02"),
	    "only ASCII letters are lower-cased");
	CHECK(norm("name_birth", "张三", NULL, N, NULL) &&
	    norm("name_birth", "张三", "", N, NULL),
	    "name_birth needs the birth date");
	CHECK(norm("name_birth", "", "2015-03-12", N, NULL) &&
	    norm("name_birth", " \xe3\x80\x80\t", "2015-03-12", N, NULL),
	    "and a name that is more than white space");
	CHECK(norm("phone", "+86 138-0013-8000", NULL, N, "13800138000"),
	    "+86 and separators go");
	CHECK(norm("phone", "+8613800138000", NULL, N, "13800138000") &&
	    norm("phone", "13800138000", NULL, N, "13800138000"),
	    "+86 with or without separators matches the bare number");
	CHECK(norm("phone", "008613800138000", NULL, N, "13800138000") &&
	    norm("phone", "0086 138 0013 8000", NULL, N, "13800138000"),
	    "so does 0086");
	CHECK(norm("phone", "+86 10 1234 5678", NULL, N, "01012345678") &&
	    norm("phone", "0086-571-8888-6666", NULL, N, "057188886666"),
	    "a landline written with +86 gets its trunk 0 back");
	CHECK(norm("phone", "010-12345678", NULL, N, "01012345678"),
	    "a landline keeps its area code");
	CHECK(norm("phone", "+86 (0)10 1234 5678", NULL, N, "01012345678") &&
	    norm("phone", "+8601012345678", NULL, N, "01012345678") &&
	    norm("phone", "0086 0571 8888 6666", NULL, N, "057188886666"),
	    "a landline written with +86 or 0086 and its trunk 0 kept is the "
	    "same number (not 001012345678)");
	CHECK(norm("phone", "8613800138000", NULL, N, "8613800138000") &&
	    norm("phone", "+1 415 555 0100", NULL, N, "14155550100"),
	    "86 without + or 00, and other countries, are kept");
	CHECK(norm("phone", "--", NULL, N, NULL) &&
	    norm("phone", "+86", NULL, N, NULL) &&
	    norm("phone", "", NULL, N, NULL), "an empty phone is refused");
	CHECK(norm("other", "x", NULL, N, NULL) &&
	    norm("", "x", NULL, N, NULL), "an unknown kind is refused");
	CHECK(norm("phone", "13800138000", NULL, 12, "13800138000") &&
	    norm("phone", "13800138000", NULL, 11, NULL) &&
	    norm("id", "320102201503120025", NULL, 5, NULL) &&
	    norm("name_birth", "abc", "2015-03-12", 14, NULL) &&
	    norm("name_birth", "abc", "2015-03-12", 15, "abc|2015-03-12") &&
	    norm("id", "x", NULL, 0, NULL),
	    "a result that does not fit is refused, leaving nothing behind");
}

static void
test_base64(void)
{
	static const char *const vec[][2] = { { "", "" }, { "f", "Zg==" },
	    { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
	    { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
	static const char *const bad[][2] = { { "abc", "abc" },
	    { "ab=c", "ab=c" }, { "a===", "a===" }, { "@@@@", "@@@@" },
	    { "AA==AA==", "padding inside" }, { "A", "A" },
	    { "AAAAA", "AAAAA" }, { "====", "====" }, { "=AAA", "=AAA" },
	    { "AA=A", "AA=A" }, { "A=A=", "A=A=" }, { "AA A", "a space" },
	    { "AAA\n", "a newline" }, { "Zm9v\r\n", "a trailing CRLF" },
	    { "-_AA", "the URL alphabet" }, { "Zh==", "Zh== (not canonical)" },
	    { "Zm9=", "Zm9= (not canonical)" }, { "Zg=", "Zg= (unpadded)" },
	    { NULL, NULL } };
	unsigned char in[40], *out;
	size_t i, len, ok = 0;
	char *b;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		b = b64_encode((const unsigned char *)vec[i][0],
		    strlen(vec[i][0]));
		out = b64_decode(vec[i][1], strlen(vec[i][1]), &len);
		ok += b != NULL && strcmp(b, vec[i][1]) == 0 && out != NULL &&
		    len == strlen(vec[i][0]) &&
		    memcmp(out, vec[i][0], len) == 0;
		free(b);
		free(out);
	}
	CHECK(ok == sizeof(vec) / sizeof(vec[0]),
	    "the RFC 4648 test vectors encode and decode");
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	in[3] = 0;
	in[4] = 0xff;
	for (i = 0, ok = 0; i <= sizeof(in); i++) {
		b = b64_encode(in, i);
		out = b64_decode(b, strlen(b), &len);
		ok += strlen(b) == 4 * ((i + 2) / 3) &&
		    strchr(b, '\n') == NULL && out != NULL && len == i &&
		    memcmp(out, in, i) == 0;
		free(b);
		free(out);
	}
	CHECK(ok == sizeof(in) + 1, "base64 round-trips 0 to 40 bytes with "
	    "the exact length");
	out = b64_decode("Zm9vYmFy", 4, &len);
	CHECK(out != NULL && len == 3 && memcmp(out, "foo", 3) == 0,
	    "only len characters are decoded");
	free(out);
	for (i = 0; bad[i][0] != NULL; i++) {
		out = b64_decode(bad[i][0], strlen(bad[i][0]), &len);
		CHECK(out == NULL, "base64 with %s is refused", bad[i][1]);
		free(out);
	}
	out = b64_decode("AA\0A", 4, &len);
	CHECK(out == NULL, "base64 with a NUL byte is refused");
	free(out);
}

int
main(void)
{
	int i;

	alarm(120);		/* a FIFO must not hang the suite */
	snprintf(dir, sizeof(dir), "/tmp/hotlined-crypto-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	test_keyfiles();
	test_wrapping();
	test_fields();
	test_digests();
	test_normalise();
	test_base64();
	for (i = npaths - 1; i >= 0; i--)
		if (unlink(paths[i]) == -1)
			rmdir(paths[i]);
	rmdir(dir);
	UNIT_EXIT();
}
