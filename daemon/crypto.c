/*
 * Envelope encryption of personal data and keyed digests (OpenSSL EVP).
 * See hotlined.h for the formats; the key files are read by keyfile.c.
 * Nothing here logs: callers decide what
 * to say, and key material never leaves this file except as a DEK the
 * caller clears with dek_clear().
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "hotlined.h"

#define NONCE_LEN	12
#define TAG_LEN		16
#define SEAL_VERSION	1

struct keyring {
	struct master_key kr_keys[KEYFILE_KEYS_MAX];
	int		 kr_n;
	unsigned char	 kr_hash[KEY_LEN];
};

/* Load both key files (keyfile.c reads and checks them). */
struct keyring *
keyring_load(const char *master_path, const char *hash_path, char *err,
    size_t errlen)
{
	struct keyring *kr;

	if ((kr = calloc(1, sizeof(*kr))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (keyfile_load_master(master_path, kr->kr_keys, &kr->kr_n, NULL, err,
	    errlen) == -1 ||
	    keyfile_load_hash(hash_path, kr->kr_hash, err, errlen) == -1) {
		keyring_free(kr);
		return NULL;
	}
	return kr;
}

/* Forget every key. */
void
keyring_free(struct keyring *kr)
{
	if (kr == NULL)
		return;
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

/* The current master key's id. */
const char *
keyring_current(const struct keyring *kr)
{
	return kr->kr_keys[0].mk_kid;
}

/* The master key with this id, or NULL. */
static const struct master_key *
keyring_find(const struct keyring *kr, const char *kid)
{
	int i;

	for (i = 0; i < kr->kr_n; i++)
		if (strcmp(kr->kr_keys[i].mk_kid, kid) == 0)
			return &kr->kr_keys[i];
	return NULL;
}

/* Whether the keyring has this master key. */
int
keyring_has(const struct keyring *kr, const char *kid)
{
	return keyring_find(kr, kid) != NULL;
}

/* AES-256-GCM encrypt: out = ciphertext (len) then tag; 0 on success. */
static int
gcm_seal(const unsigned char key[KEY_LEN], const unsigned char *nonce,
    const char *aad, const unsigned char *pt, size_t len, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx;
	int n, ok;

	if (len > INT_MAX || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1 &&
	    (len == 0 || EVP_EncryptUpdate(ctx, out, &n, pt, (int)len) == 1) &&
	    EVP_EncryptFinal_ex(ctx, out + len, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + len) ==
	    1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

/* AES-256-GCM decrypt ct (len bytes, then the tag) into out; 0 if the
 * tag holds. */
static int
gcm_open(const unsigned char key[KEY_LEN], const unsigned char *nonce,
    const char *aad, const unsigned char *ct, size_t len, unsigned char *out)
{
	unsigned char tag[TAG_LEN];
	EVP_CIPHER_CTX *ctx;
	int n, ok;

	if (len > INT_MAX || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	memcpy(tag, ct + len, TAG_LEN);
	ok = EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) == 1 &&
	    (len == 0 || EVP_DecryptUpdate(ctx, out, &n, ct, (int)len) == 1) &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + len, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		OPENSSL_cleanse(out, len);
	return ok ? 0 : -1;
}

/* Wrap a DEK under master key kid. */
int
dek_wrap(const struct keyring *kr, struct dek *d, const char *kid,
    unsigned char wrapped[WRAPPED_LEN])
{
	const struct master_key *m;
	char aad[128];

	if ((m = keyring_find(kr, kid)) == NULL ||
	    strlen(d->dk_uid) != DEK_UID_LEN)
		return -1;
	snprintf(aad, sizeof(aad), "hotlined/dek/v1|%s|%s", d->dk_uid,
	    m->mk_kid);
	if (RAND_bytes(wrapped, NONCE_LEN) != 1 || gcm_seal(m->mk_key, wrapped,
	    aad, d->dk_key, KEY_LEN, wrapped + NONCE_LEN) == -1)
		return -1;
	snprintf(d->dk_kid, sizeof(d->dk_kid), "%s", m->mk_kid);
	return 0;
}

/* A fresh DEK with a random UUID, wrapped under the current master key. */
int
dek_new(const struct keyring *kr, struct dek *d,
    unsigned char wrapped[WRAPPED_LEN])
{
	unsigned char u[16];

	memset(d, 0, sizeof(*d));
	if (RAND_bytes(d->dk_key, KEY_LEN) != 1 ||
	    RAND_bytes(u, sizeof(u)) != 1) {
		dek_clear(d);
		return -1;
	}
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(d->dk_uid, sizeof(d->dk_uid), "%02x%02x%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
	    u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
	    u[13], u[14], u[15]);
	if (dek_wrap(kr, d, keyring_current(kr), wrapped) == -1) {
		dek_clear(d);
		return -1;
	}
	return 0;
}

/*
 * Unwrap a DEK; -1 for an unknown kid or a wrapped key that does not open
 * (d is then cleared).  uid and kid may point into d.
 */
int
dek_unwrap(const struct keyring *kr, const char *uid, const char *kid,
    const unsigned char *wrapped, size_t len, struct dek *d)
{
	const struct master_key *m;
	char aad[128], u[DEK_UID_LEN + 1];

	m = keyring_find(kr, kid);
	if (len != WRAPPED_LEN || strlen(uid) != DEK_UID_LEN || m == NULL) {
		dek_clear(d);
		return -1;
	}
	memcpy(u, uid, sizeof(u));
	dek_clear(d);
	snprintf(aad, sizeof(aad), "hotlined/dek/v1|%s|%s", u, m->mk_kid);
	if (gcm_open(m->mk_key, wrapped, aad, wrapped + NONCE_LEN, KEY_LEN,
	    d->dk_key) == -1)
		return -1;
	memcpy(d->dk_uid, u, sizeof(u));
	snprintf(d->dk_kid, sizeof(d->dk_kid), "%s", m->mk_kid);
	return 0;
}

/* Forget a DEK. */
void
dek_clear(struct dek *d)
{
	OPENSSL_cleanse(d, sizeof(*d));
}

/* The associated data of a field. */
static int
field_aad(const struct dek *d, const char *field, char *aad, size_t len)
{
	int n = snprintf(aad, len, "hotlined/field/v1|%s|%s", d->dk_uid, field);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Seal plen bytes: 0x01 | nonce | ciphertext | tag. */
int
field_seal(const struct dek *d, const char *field, const void *pt,
    size_t plen, unsigned char *out)
{
	char aad[256];

	if (field_aad(d, field, aad, sizeof(aad)) == -1)
		return -1;
	out[0] = SEAL_VERSION;
	if (RAND_bytes(out + 1, NONCE_LEN) != 1)
		return -1;
	return gcm_seal(d->dk_key, out + 1, aad, pt, plen, out + 1 + NONCE_LEN);
}

/* Open a sealed field into a malloc'd NUL-terminated string. */
int
field_open(const struct dek *d, const char *field, const unsigned char *ct,
    size_t clen, char **out, size_t *outlen)
{
	char aad[256], *p;
	size_t len;

	*out = NULL;
	if (clen < SEAL_OVERHEAD || ct[0] != SEAL_VERSION ||
	    field_aad(d, field, aad, sizeof(aad)) == -1)
		return -1;
	len = clen - SEAL_OVERHEAD;
	if ((p = malloc(len + 1)) == NULL)
		return -1;
	if (gcm_open(d->dk_key, ct + 1, aad, ct + 1 + NONCE_LEN, len,
	    (unsigned char *)p) == -1) {
		free(p);
		return -1;
	}
	p[len] = '\0';
	*out = p;
	*outlen = len;
	return 0;
}

/* HMAC-SHA256 under the hash key of "hotlined/<kind>/v1|" + data. */
int
keyed_digest(const struct keyring *kr, const char *kind, const void *data,
    size_t len, unsigned char out[DIGEST_LEN])
{
	OSSL_PARAM params[2];
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	char prefix[64];
	size_t n = 0;
	int ok;

	/* The kind separates domains: a plain word (shaped like a key id),
	 * never cut short. */
	if (!keyfile_kid_valid(kind, strlen(kind)))
		return -1;
	snprintf(prefix, sizeof(prefix), "hotlined/%s/v1|", kind);
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = (ctx = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(ctx, kr->kr_hash, KEY_LEN, params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)prefix,
	    strlen(prefix)) == 1 &&
	    EVP_MAC_update(ctx, data, len) == 1 &&
	    EVP_MAC_final(ctx, out, &n, DIGEST_LEN) == 1 && n == DIGEST_LEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : -1;
}

/* Fill buf with len random bytes; 0 on success. */
int
random_bytes(unsigned char *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

/* Encode len bytes as lower-case hex into out (2 * len + 1 bytes). */
void
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

/* Decode exactly 2 * outlen hex digits (len bytes of s) into out. */
int
hex_decode(const char *s, size_t len, unsigned char *out, size_t outlen)
{
	size_t i;
	int hi, lo;

	if (len != 2 * outlen)
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

/* Standard base64 with padding, no line breaks. */
char *
b64_encode(const unsigned char *in, size_t len)
{
	char *out;

	if (len > (size_t)INT32_MAX / 2 ||
	    (out = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* The value of a base64 character, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Decode strict standard base64: padded to a multiple of four, '=' only
 * at the end, no white space, and the bits the padding leaves over zero,
 * so that each byte string has exactly one accepted encoding.
 */
unsigned char *
b64_decode(const char *in, size_t len, size_t *outlen)
{
	unsigned char *out;
	size_t i, n = 0, pad = 0;
	int v[4], k;

	if (len % 4 != 0)
		return NULL;
	if (len > 0 && in[len - 1] == '=')
		pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
	if ((out = malloc(len / 4 * 3 + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i += 4) {
		for (k = 0; k < 4; k++) {
			if (i + 4 == len && k >= 4 - (int)pad)
				v[k] = 0;
			else if ((v[k] = b64_value((unsigned char)in[i + k])) ==
			    -1) {
				free(out);
				return NULL;
			}
		}
		/* The bits padding leaves over must be zero (canonical). */
		if (i + 4 == len && ((pad == 2 && (v[1] & 0xf) != 0) ||
		    (pad == 1 && (v[2] & 0x3) != 0))) {
			free(out);
			return NULL;
		}
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[n++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		out[n++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	*outlen = n - pad;
	return out;
}
