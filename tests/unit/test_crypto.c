/*
 * Unit tests for crypto.c: key files, data-key wrapping and rotation,
 * sealed fields and their tamper checks, keyed digests, normalisation of
 * identifiers and base64.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotlined.h"
#include "unit.h"

#define K1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define K2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define H1 "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"
#define H2 "1f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"

static char paths[64][32];
static int npaths;

/* A temporary file with this text and mode; its path. */
static const char *
file(const char *text, mode_t mode)
{
	char *p = paths[npaths++];
	FILE *f;
	int fd;

	snprintf(p, sizeof(paths[0]), "/tmp/hotlined-key-XXXXXX");
	if ((fd = mkstemp(p)) == -1 || (f = fdopen(fd, "w")) == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

static char err[512];

/* Load a keyring from master and hash key texts (mode 600). */
static struct keyring *
ring(const char *master, const char *hash)
{
	err[0] = '\0';
	return keyring_load(file(master, 0600), file(hash, 0600), err,
	    sizeof(err));
}

static void
test_keyfiles(void)
{
	struct keyring *kr;
	const char *hash = file(H1 "\n", 0600);

	kr = ring("# comment\n\nk2 " K2 "\n  k1\t" K1 "  \n", H1 "\n");
	CHECK(kr != NULL && strcmp(keyring_current(kr), "k2") == 0 &&
	    keyring_has(kr, "k1") && !keyring_has(kr, "k3"),
	    "a key file loads; the first key is current, the others unwrap");
	keyring_free(kr);
	kr = keyring_load(file("k1 " K1 "\n", 0640), hash, err, sizeof(err));
	CHECK(kr == NULL && strstr(err, "group or others") != NULL,
	    "a key file the group may read is refused");
	kr = keyring_load(file("k1 " K1 "\n", 0600), file(H1, 0604), err,
	    sizeof(err));
	CHECK(kr == NULL && strstr(err, "group or others") != NULL,
	    "so is a hash key file others may read");
	kr = ring("k1 " K1 "\nk2 00112233\n", H1);
	CHECK(kr == NULL && strstr(err, ":2:") != NULL &&
	    strstr(err, "00112233") == NULL,
	    "a short key is refused naming its line, not echoing it (%s)", err);
	kr = ring("k1 " K1 "\nK-2 " K2 "\n", H1);
	CHECK(kr == NULL && strstr(err, ":2:") != NULL, "a bad key id is refused");
	kr = ring("k1 " K1 "\nk1 " K2 "\n", H1);
	CHECK(kr == NULL && strstr(err, "twice") != NULL,
	    "a key id used twice is refused");
	kr = ring("k1 " K1 "zz\n", H1);
	CHECK(kr == NULL && strstr(err, K1) == NULL, "bad hex is refused");
	kr = ring("# only a comment\n", H1);
	CHECK(kr == NULL && strstr(err, "no key") != NULL, "no key is refused");
	kr = ring("k1 " K1 "\n", H1 "\n" H2 "\n");
	CHECK(kr == NULL, "a hash key file with two keys is refused");
	kr = keyring_load("/nonexistent/master.key", hash, err, sizeof(err));
	CHECK(kr == NULL && strstr(err, "/nonexistent/master.key") != NULL,
	    "a missing file is named");
}

static void
test_wrapping(void)
{
	struct keyring *kr = ring("k1 " K1 "\n", H1), *kr2, *kr3;
	unsigned char w[WRAPPED_LEN], w2[WRAPPED_LEN];
	struct dek d, u, e;
	char other[DEK_UID_LEN + 1];

	CHECK(dek_new(kr, &d, w) == 0 && strlen(d.dk_uid) == DEK_UID_LEN &&
	    d.dk_uid[14] == '4' && strcmp(d.dk_kid, "k1") == 0,
	    "a new data key has a v4 UUID and the current key id");
	CHECK(dek_unwrap(kr, d.dk_uid, "k1", w, sizeof(w), &u) == 0 &&
	    memcmp(u.dk_key, d.dk_key, KEY_LEN) == 0,
	    "it unwraps to the same key");
	snprintf(other, sizeof(other), "%s", d.dk_uid);
	other[0] = other[0] == 'a' ? 'b' : 'a';
	CHECK(dek_unwrap(kr, other, "k1", w, sizeof(w), &u) == -1,
	    "not under another uid");
	CHECK(dek_unwrap(kr, d.dk_uid, "k9", w, sizeof(w), &u) == -1,
	    "not under an unknown key id");
	w[20] ^= 1;
	CHECK(dek_unwrap(kr, d.dk_uid, "k1", w, sizeof(w), &u) == -1,
	    "not with a changed byte");
	w[20] ^= 1;
	CHECK(dek_unwrap(kr, d.dk_uid, "k1", w, sizeof(w) - 1, &u) == -1,
	    "not truncated");
	/* Rotation: k2 becomes current, k1 still unwraps. */
	kr2 = ring("k2 " K2 "\nk1 " K1 "\n", H1);
	CHECK(dek_unwrap(kr2, d.dk_uid, "k1", w, sizeof(w), &u) == 0 &&
	    dek_wrap(kr2, &u, "k2", w2) == 0 && strcmp(u.dk_kid, "k2") == 0,
	    "after rotation the old wrapping opens and rewraps under k2");
	CHECK(dek_unwrap(kr2, d.dk_uid, "k1", w2, sizeof(w2), &e) == -1,
	    "a rewrapped key does not open under its old key id");
	kr3 = ring("k2 " K2 "\n", H1);
	CHECK(dek_unwrap(kr3, d.dk_uid, "k2", w2, sizeof(w2), &e) == 0 &&
	    memcmp(e.dk_key, d.dk_key, KEY_LEN) == 0,
	    "once k1 is retired the rewrapped key opens with k2 alone");
	CHECK(dek_unwrap(kr3, d.dk_uid, "k1", w, sizeof(w), &e) == -1,
	    "and the old wrapping no longer opens at all");
	dek_clear(&d);
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
	unsigned char w[WRAPPED_LEN], ct[256], ct2[256];
	const char *text = "测试儿童甲 (11)";
	size_t len = strlen(text), olen;
	struct dek d, other;
	char *out;

	int ok;

	dek_new(kr, &d, w);
	dek_new(kr, &other, w);
	ok = field_seal(&d, "child.name", text, len, ct) == 0 &&
	    field_open(&d, "child.name", ct, len + SEAL_OVERHEAD, &out, &olen)
	    == 0 && olen == len && strcmp(out, text) == 0 && ct[0] == 1;
	CHECK(ok, "a field seals (version 1) and opens to the same UTF-8 text");
	free(out);
	CHECK(memmem(ct, len + SEAL_OVERHEAD, "测试", strlen("测试")) == NULL,
	    "the sealed value does not contain the text");
	field_seal(&d, "child.name", text, len, ct2);
	CHECK(memcmp(ct, ct2, len + SEAL_OVERHEAD) != 0,
	    "sealing twice gives different ciphertexts (random nonce)");
	CHECK(field_open(&d, "child.school", ct, len + SEAL_OVERHEAD, &out,
	    &olen) == -1 && out == NULL, "it does not open as another field");
	CHECK(field_open(&other, "child.name", ct, len + SEAL_OVERHEAD, &out,
	    &olen) == -1, "nor under another case's key");
	ct[1 + 12 + 3] ^= 0x40;
	CHECK(field_open(&d, "child.name", ct, len + SEAL_OVERHEAD, &out,
	    &olen) == -1, "nor with a changed ciphertext byte");
	ct[1 + 12 + 3] ^= 0x40;
	ct[len + SEAL_OVERHEAD - 1] ^= 1;
	CHECK(field_open(&d, "child.name", ct, len + SEAL_OVERHEAD, &out,
	    &olen) == -1, "nor with a changed tag");
	ct[len + SEAL_OVERHEAD - 1] ^= 1;
	ct[2] ^= 1;
	CHECK(field_open(&d, "child.name", ct, len + SEAL_OVERHEAD, &out,
	    &olen) == -1, "nor with a changed nonce");
	ct[2] ^= 1;
	ct[0] = 2;
	CHECK(field_open(&d, "child.name", ct, len + SEAL_OVERHEAD, &out,
	    &olen) == -1, "nor with another version byte");
	ct[0] = 1;
	CHECK(field_open(&d, "child.name", ct, len + SEAL_OVERHEAD - 1, &out,
	    &olen) == -1 && field_open(&d, "child.name", ct, 10, &out, &olen)
	    == -1, "nor truncated");
	ok = field_open(&d, "child.name", ct, len + SEAL_OVERHEAD, &out,
	    &olen) == 0;
	CHECK(ok, "restored, it opens again");
	free(out);
	ok = field_seal(&d, "note", "", 0, ct) == 0 &&
	    field_open(&d, "note", ct, SEAL_OVERHEAD, &out, &olen) == 0 &&
	    olen == 0 && out[0] == '\0';
	CHECK(ok, "an empty text round-trips");
	free(out);
	dek_clear(&d);
	dek_clear(&other);
	keyring_free(kr);
}

static void
test_digests(void)
{
	struct keyring *kr = ring("k1 " K1 "\n", H1), *kr2 = ring("k1 " K1 "\n",
	    H2);
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN], c[DIGEST_LEN];
	char n[128];

	keyed_digest(kr, "id", "X", 1, a);
	keyed_digest(kr, "id", "X", 1, b);
	CHECK(memcmp(a, b, DIGEST_LEN) == 0, "a keyed digest is deterministic");
	keyed_digest(kr, "phone", "X", 1, c);
	CHECK(memcmp(a, c, DIGEST_LEN) != 0, "and differs by kind");
	keyed_digest(kr2, "id", "X", 1, c);
	CHECK(memcmp(a, c, DIGEST_LEN) != 0, "and by key");
	CHECK(ident_normalise("id", "32010220150312002x", NULL, n, sizeof(n)) ==
	    0 && strcmp(n, "32010220150312002X") == 0,
	    "an ID number is upper-cased");
	CHECK(ident_normalise("name_birth", " 张\xe3\x80\x80三 Li ",
	    "2015-03-12", n, sizeof(n)) == 0 &&
	    strcmp(n, "张三li|2015-03-12") == 0,
	    "a name loses its spaces (ideographic too), ASCII lower-cased (%s)",
	    n);
	CHECK(ident_normalise("name_birth", "张三", NULL, n, sizeof(n)) == -1,
	    "name_birth needs the birth date");
	CHECK(ident_normalise("phone", "+86 138-0013-8000", NULL, n, sizeof(n))
	    == 0 && strcmp(n, "13800138000") == 0, "+86 and separators go");
	CHECK(ident_normalise("phone", "008613800138000", NULL, n, sizeof(n)) ==
	    0 && strcmp(n, "13800138000") == 0, "so does 0086");
	CHECK(ident_normalise("phone", "010-12345678", NULL, n, sizeof(n)) == 0 &&
	    strcmp(n, "01012345678") == 0, "a landline keeps its area code");
	CHECK(ident_normalise("phone", "--", NULL, n, sizeof(n)) == -1 &&
	    ident_normalise("id", "", NULL, n, sizeof(n)) == -1 &&
	    ident_normalise("other", "x", NULL, n, sizeof(n)) == -1,
	    "empty results and unknown kinds are refused");
	CHECK(ident_normalise("id", "320102201503120025", NULL, n, 5) == -1,
	    "a result that does not fit is refused");
	keyring_free(kr);
	keyring_free(kr2);
}

static void
test_base64(void)
{
	static const char *const bad[] = { "abc", "ab=c", "a===", "@@@@",
	    "AA==AA==", "A", NULL };
	unsigned char in[40], *out;
	size_t i, len, ok = 0;
	char *b;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (i = 0; i <= sizeof(in); i++) {
		b = b64_encode(in, i);
		out = b64_decode(b, strlen(b), &len);
		ok += out != NULL && len == i && memcmp(out, in, i) == 0;
		free(b);
		free(out);
	}
	CHECK(ok == sizeof(in) + 1, "base64 round-trips 0 to 40 bytes");
	for (i = 0; bad[i] != NULL; i++) {
		out = b64_decode(bad[i], strlen(bad[i]), &len);
		CHECK(out == NULL, "base64 \"%s\" is refused", bad[i]);
		free(out);
	}
}

int
main(void)
{
	int i;

	test_keyfiles();
	test_wrapping();
	test_fields();
	test_digests();
	test_base64();
	for (i = 0; i < npaths; i++)
		unlink(paths[i]);
	UNIT_EXIT();
}
