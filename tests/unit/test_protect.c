/*
 * Unit tests of protect.c's key reloads against key files in a temporary
 * directory: after a rotation, a running daemon opens a data key wrapped
 * under the new master key at once, and wraps new data keys under it,
 * even when it reloaded its keys for another reason a moment before; and
 * a note sealed under a field name bound to its own random id.
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

static char dir[64];

/* Write text to dir/name (mode 600) by renaming a new file over it. */
static void
put(const char *name, const char *text)
{
	char path[128], tmp[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	if ((fp = fopen(tmp, "w")) == NULL || fputs(text, fp) == EOF ||
	    fclose(fp) == EOF || rename(tmp, path) == -1)
		abort();
}

/* A case view holding one sealed note under a data key (kid, wrapped). */
static char *
view(const char *uid, const char *kid, const unsigned char *wrapped,
    const unsigned char *ct, size_t clen)
{
	char *w = b64_encode(wrapped, WRAPPED_LEN), *c = b64_encode(ct, clen);
	char *out;

	if (w == NULL || c == NULL || asprintf(&out, "{\"$key\": {\"uid\": "
	    "\"%s\", \"kid\": \"%s\", \"wrapped\": \"%s\"}, \"text\": "
	    "{\"$enc\": \"%s\", \"f\": \"note\"}}", uid, kid, w, c) == -1)
		abort();
	free(w);
	free(c);
	return out;
}

/* The kid of the data key a new submission is wrapped under. */
static const char *
submission_kid(void)
{
	static char kid[KID_MAX + 1];
	struct json_object *body = json_object_new_object(), *k, *v;

	kid[0] = '\0';
	if (protect_submission(body, PROTECT_REPORT, NULL) == 0 &&
	    json_object_object_get_ex(body, "$key", &k) &&
	    json_object_object_get_ex(k, "kid", &v))
		snprintf(kid, sizeof(kid), "%s", json_object_get_string(v));
	json_object_put(body);
	return kid;
}

/*
 * A note sealed for posting: a random id of its own in "$note", its text
 * sealed under the field name note:<id>, which opens it, and not under
 * the plain "note" (nor another note's name).
 */
static void
check_note(const struct dek *d, const unsigned char *wrapped)
{
	struct json_object *body, *v;
	unsigned char *ct = NULL;
	char *key, *w, *pt = NULL, field[64];
	const char *id = "";
	size_t clen = 0, plen;
	int opened, plain, other;

	w = b64_encode(wrapped, WRAPPED_LEN);
	if (w == NULL || asprintf(&key, "{\"uid\": \"%s\", \"kid\": \"%s\", "
	    "\"wrapped\": \"%s\"}", d->dk_uid, d->dk_kid, w) == -1)
		abort();
	free(w);
	body = json_tokener_parse("{\"type\": \"note\", \"text\": \"hello\"}");
	CHECK(protect_note(body, key) == 0, "a note is sealed for posting");
	if (json_object_object_get_ex(body, "$note", &v))
		id = json_object_get_string(v);
	CHECK(strlen(id) == 2 * NOTE_ID_LEN && strspn(id, "0123456789abcdef") ==
	    2 * NOTE_ID_LEN, "with a note id of %d hex digits in \"$note\"",
	    2 * NOTE_ID_LEN);
	if (json_object_object_get_ex(body, "text", &v))
		ct = b64_decode(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), &clen);
	snprintf(field, sizeof(field), "note:%s", id);
	opened = ct != NULL && field_open(d, field, ct, clen, &pt, &plen) == 0 &&
	    plen == 5 && memcmp(pt, "hello", 5) == 0;
	free(pt);
	pt = NULL;
	plain = ct != NULL && field_open(d, "note", ct, clen, &pt, &plen) == 0;
	free(pt);
	pt = NULL;
	other = ct != NULL && field_open(d, "note:00000000000000000000000000000000",
	    ct, clen, &pt, &plen) == 0;
	free(pt);
	CHECK(opened && !plain && !other, "its text opens under note:<its id> "
	    "only, not as a plain note nor as another note");
	free(ct);
	free(key);
	json_object_put(body);
}

int
main(void)
{
	unsigned char wrapped[WRAPPED_LEN], ct[5 + SEAL_OVERHEAD];
	struct config cf;
	struct keyring *kr;
	struct dek d;
	char *v, *out, err[256];

	umask(077);		/* key files are mode 600 */
	snprintf(dir, sizeof(dir), "/tmp/hotlined-protect-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	config_defaults(&cf);
	snprintf(cf.cf_master_key, sizeof(cf.cf_master_key), "%s/master.key",
	    dir);
	snprintf(cf.cf_hash_key, sizeof(cf.cf_hash_key), "%s/hash.key", dir);
	put("master.key", "k1 " K1 "\n");
	put("hash.key", H1 "\n");
	CHECK(protect_init(&cf) == 0 && strcmp(submission_kid(), "k1") == 0,
	    "the daemon loads its keys and wraps data keys under k1");

	/* A data key under a kid that is nowhere: the keys are reloaded. */
	memset(wrapped, 0, sizeof(wrapped));
	memset(ct, 0, sizeof(ct));
	v = view("12345678-9abc-4def-8123-456789abcdef", "k-nowhere", wrapped,
	    ct, sizeof(ct));
	out = protect_view(v);
	CHECK(out != NULL && strstr(out, "\"unreadable\":true") != NULL,
	    "a data key under an unknown master key leaves the field "
	    "unreadable");
	free(out);
	free(v);

	/* A rotation, at once: another daemon wraps under the new key. */
	put("master.key", "k2 " K2 "\nk1 " K1 "\n");
	if ((kr = keyring_load(cf.cf_master_key, cf.cf_hash_key, err,
	    sizeof(err))) == NULL || dek_new(kr, &d, wrapped) == -1 ||
	    field_seal(&d, "note", "hello", 5, ct) == -1)
		abort();
	v = view(d.dk_uid, "k2", wrapped, ct, sizeof(ct));
	out = protect_view(v);
	CHECK(out != NULL && strstr(out, "\"text\":\"hello\"") != NULL,
	    "a data key under the rotated-in master key opens at once, though "
	    "the keys were reloaded a moment before (%s)", out ? out : "NULL");
	free(out);
	free(v);
	CHECK(strcmp(submission_kid(), "k2") == 0,
	    "and new data keys are wrapped under it");
	check_note(&d, wrapped);
	dek_clear(&d);
	keyring_free(kr);
	protect_shutdown();

	snprintf(err, sizeof(err), "%s/master.key", dir);
	unlink(err);
	snprintf(err, sizeof(err), "%s/hash.key", dir);
	unlink(err);
	rmdir(dir);
	UNIT_EXIT();
}
