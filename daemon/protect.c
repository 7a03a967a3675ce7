/*
 * Personal data in and out of the database.  A submission's personal
 * fields are sealed (AES-256-GCM, crypto.c) before the body goes to SQL,
 * under a fresh data key or, for new data on an existing case, under the
 * case's, with keyed digests of its identifiers for linking and lookups; a
 * case view (or a caller's history) comes back with sealed values and the
 * wrapped data keys, and is opened here just before it is answered.  Plain
 * personal data therefore exists only in this process's memory, never in
 * the database.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hotlined.h"

#define RELOAD_MIN_S	((double)KEYFILE_RELOAD_S)	/* the key file is looked
					   at at most this often */

/* A personal field of a submission: where it is and what it is called. */
struct sealed_field {
	const char	*sf_path[4];	/* object keys from the body, NULL-ended */
	const char	*sf_name;	/* bound into the ciphertext */
};

static const struct sealed_field call_fields[] = {
	{ { "caller_phone" }, "call.caller_phone" },
	{ { "summary" }, "call.summary" },
	{ { "open_case", "narrative" }, "case.narrative" },
	{ { NULL }, NULL },
};

static const struct sealed_field case_fields[] = {
	{ { "narrative" }, "case.narrative" },
	{ { NULL }, NULL },
};

static const struct sealed_field report_fields[] = {
	{ { "reporter", "name" }, "reporter.name" },
	{ { "reporter", "phone" }, "reporter.phone" },
	{ { "reporter", "id_number" }, "reporter.id_number" },
	{ { "institution", "name" }, "institution.name" },
	{ { "narrative" }, "case.narrative" },
	{ { "actions_taken" }, "report.actions_taken" },
	{ { NULL }, NULL },
};

/* A correction of the child has no field but the child's. */
static const struct sealed_field no_fields[] = {
	{ { NULL }, NULL },
};

/* The child's personal fields, in whatever body its child object is. */
static const struct sealed_field child_fields[] = {
	{ { "name" }, "child.name" },
	{ { "birth_date" }, "child.birth_date" },
	{ { "id_number" }, "child.id_number" },
	{ { "phone" }, "child.phone" },
	{ { "school" }, "child.school" },
	{ { "address" }, "child.address" },
	{ { NULL }, NULL },
};

static const struct config	*pr_cf;
static struct keyring		*pr_keys;
static struct stat		 pr_stat;	/* of the master key file loaded */
static double			 pr_checked;	/* when the file was last looked at */
static double			 pr_unknown;	/* last reload for an unknown kid */

/* Load (or reload) both key files; the old keys stay on failure. */
int
protect_reload(void)
{
	struct keyring *k;
	struct stat st;
	char err[256];

	if (pr_cf->cf_master_key[0] == '\0' || pr_cf->cf_hash_key[0] == '\0') {
		log_errorx("event=keys_missing message=\"master_key and "
		    "hash_key must be configured\"");
		return -1;
	}
	pr_checked = mono_now();
	/*
	 * Looked at before it is read: a file replaced in between is then
	 * seen as changed at the next refresh, never taken for the one read.
	 */
	if (stat(pr_cf->cf_master_key, &st) == -1)
		memset(&st, 0, sizeof(st));
	if ((k = keyring_load(pr_cf->cf_master_key, pr_cf->cf_hash_key, err,
	    sizeof(err))) == NULL) {
		log_errorx("event=keys_load_failed message=\"%s\"", err);
		if (pr_keys != NULL)
			metrics_add(M_KEY_RELOADS, "failed", 1);
		return -1;
	}
	if (pr_keys != NULL)
		metrics_add(M_KEY_RELOADS, "ok", 1);
	keyring_free(pr_keys);
	pr_keys = k;
	pr_stat = st;
	log_info("event=keys_loaded current=%s", keyring_current(k));
	return 0;
}

/*
 * Reload the keys if the master key file was replaced or changed (a
 * rotation): looked at at most once a second, before a new data key is
 * made, so that every daemon wraps new data keys under the current master
 * key soon after a rotation, and not under one about to be retired.
 */
static void
protect_refresh(void)
{
	double now = mono_now();

	if (now - pr_checked < RELOAD_MIN_S)
		return;
	pr_checked = now;
	if (keyfile_changed(pr_cf->cf_master_key, &pr_stat)) {
		log_info("event=keys_reload reason=file_changed");
		protect_reload();
	}
}

/* Load the keys at start-up. */
int
protect_init(const struct config *cf)
{
	pr_cf = cf;
	return protect_reload();
}

/* Forget the keys. */
void
protect_shutdown(void)
{
	keyring_free(pr_keys);
	pr_keys = NULL;
}

/* The object at path (NULL-ended keys) under obj, or NULL. */
static struct json_object *
path_get(struct json_object *obj, const char *const *path, const char **last)
{
	struct json_object *v;
	int i;

	for (i = 0; path[i + 1] != NULL; i++) {
		if (!json_object_object_get_ex(obj, path[i], &v) ||
		    !json_object_is_type(v, json_type_object))
			return NULL;
		obj = v;
	}
	*last = path[i];
	return obj;
}

/* A string member of obj, or NULL. */
static const char *
str_member(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Seal one string member in place as base64 text; 0 if absent or done. */
static int
seal_member(struct json_object *obj, const char *key, const struct dek *d,
    const char *field)
{
	struct json_object *v;
	const char *pt;
	unsigned char *ct;
	char *b64;
	size_t len;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return 0;
	pt = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if ((ct = malloc(len + SEAL_OVERHEAD)) == NULL)
		return -1;
	if (field_seal(d, field, pt, len, ct) == -1) {
		free(ct);
		return -1;
	}
	b64 = b64_encode(ct, len + SEAL_OVERHEAD);
	free(ct);
	if (b64 == NULL)
		return -1;
	/* Replacing the member frees the plain text json-c held. */
	json_object_object_add(obj, key, json_object_new_string(b64));
	free(b64);
	return 0;
}

/* Add a keyed digest (hex) of an identifier to digests, if present. */
static int
add_digest(struct json_object *digests, const char *name, const char *kind,
    const char *a1, const char *a2)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[DIGEST_LEN];
	char norm[512], out[2 * DIGEST_LEN + 1];
	int i;

	if (a1 == NULL || (strcmp(kind, "name_birth") == 0 && a2 == NULL))
		return 0;
	if (normalise_identifier(kind, a1, a2, norm, sizeof(norm)) == -1)
		return 0;
	if (keyed_digest(pr_keys, kind, norm, strlen(norm), md) == -1) {
		OPENSSL_cleanse(norm, sizeof(norm));
		return -1;
	}
	OPENSSL_cleanse(norm, sizeof(norm));
	for (i = 0; i < DIGEST_LEN; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[2 * DIGEST_LEN] = '\0';
	json_object_object_add(digests, name, json_object_new_string(out));
	return 0;
}

/* {"uid", "kid", "wrapped"} for a data key. */
static struct json_object *
key_json(const struct dek *d, const unsigned char wrapped[WRAPPED_LEN])
{
	struct json_object *k;
	char *b64;

	if ((b64 = b64_encode(wrapped, WRAPPED_LEN)) == NULL ||
	    (k = json_object_new_object()) == NULL) {
		free(b64);
		return NULL;
	}
	json_object_object_add(k, "uid", json_object_new_string(d->dk_uid));
	json_object_object_add(k, "kid", json_object_new_string(d->dk_kid));
	json_object_object_add(k, "wrapped", json_object_new_string(b64));
	free(b64);
	return k;
}

/* What is sealed in a body of each kind besides its child's fields
 * (child_fields), and where its child is. */
static const struct {
	const struct sealed_field	*pk_fields;
	const char			*pk_child[3];	/* NULL-ended; {NULL}: the
							   body itself */
} protect_kinds[] = {
	[PROTECT_CALL] = { call_fields, { "open_case", "child", NULL } },
	[PROTECT_REPORT] = { report_fields, { "child", NULL } },
	[PROTECT_CASE] = { case_fields, { "child", NULL } },
	[PROTECT_CHILD] = { no_fields, { NULL } },
};

/* The child object of a body of this kind, or NULL. */
static struct json_object *
child_of(struct json_object *body, enum protect_kind kind)
{
	const char *const *p = protect_kinds[kind].pk_child;
	struct json_object *v = body;

	for (; *p != NULL; p++)
		if (!json_object_object_get_ex(v, *p, &v) ||
		    !json_object_is_type(v, json_type_object))
			return NULL;
	return v;
}

/*
 * The keyed digests of a submission's identifiers: the child's ID number
 * and name with birth date, the caller's phone.  A correction of the child
 * (PROTECT_CHILD) makes its name and birth date digest from the corrected
 * value and the case's other one (old: the values work_key gave, opened).
 */
static struct json_object *
digests_of(struct json_object *body, enum protect_kind kind,
    struct json_object *old)
{
	struct json_object *child = child_of(body, kind), *d;
	const char *name, *birth;

	if ((d = json_object_new_object()) == NULL)
		return NULL;
	name = str_member(child, "name");
	birth = str_member(child, "birth_date");
	if (kind == PROTECT_CHILD && (name != NULL || birth != NULL)) {
		if (name == NULL)
			name = str_member(old, "name");
		if (birth == NULL)
			birth = str_member(old, "birth_date");
	}
	if (add_digest(d, "child_id", "id", str_member(child, "id_number"),
	    NULL) == -1 ||
	    add_digest(d, "child_name_birth", "name_birth", name, birth) == -1 ||
	    (kind == PROTECT_CALL && add_digest(d, "caller_phone", "phone",
	    str_member(body, "caller_phone"), NULL) == -1)) {
		json_object_put(d);
		return NULL;
	}
	return d;
}

static int	unwrap_json(struct json_object *, struct dek *);
static void	open_all(struct json_object *, const struct dek *, int);

/*
 * Seal a validated body in place: every personal field becomes base64
 * ciphertext, "$digests" carries the keyed digests of its identifiers.
 * Without a key, under a fresh data key, which "$key" carries wrapped; with
 * one (the JSON text work_key returned: an existing case's), under that
 * case's key.
 */
int
protect_submission(struct json_object *body, enum protect_kind kind,
    const char *key)
{
	const struct sealed_field *f;
	struct json_object *obj, *child, *digests, *k = NULL, *old = NULL;
	unsigned char wrapped[WRAPPED_LEN];
	struct dek d;
	const char *last;
	int rc = -1;

	memset(&d, 0, sizeof(d));
	if (key == NULL) {
		protect_refresh();
		if (pr_keys == NULL || dek_new(pr_keys, &d, wrapped) == -1)
			return -1;
	} else if ((k = json_tokener_parse(key)) == NULL ||
	    unwrap_json(k, &d) == -1)
		goto out;
	else if (json_object_object_get_ex(k, "child", &old))
		open_all(old, &d, 1);
	if ((digests = digests_of(body, kind, old)) == NULL)
		goto out;
	json_object_object_add(body, "$digests", digests);
	for (f = protect_kinds[kind].pk_fields; f->sf_name != NULL; f++)
		if ((obj = path_get(body, f->sf_path, &last)) != NULL &&
		    seal_member(obj, last, &d, f->sf_name) == -1)
			goto out;
	if ((child = child_of(body, kind)) != NULL)
		for (f = child_fields; f->sf_name != NULL; f++)
			if ((obj = path_get(child, f->sf_path, &last)) != NULL &&
			    seal_member(obj, last, &d, f->sf_name) == -1)
				goto out;
	if (key == NULL) {
		if ((obj = key_json(&d, wrapped)) == NULL)
			goto out;
		json_object_object_add(body, "$key", obj);
	}
	rc = 0;
out:
	dek_clear(&d);
	/* The opened old values go with k; the plain text json-c freed is
	 * not cleansed, as with every body json-c parsed. */
	json_object_put(k);
	return rc;
}

/*
 * The keyed digest of an identifier a client looks up, as hex; -1 if it
 * normalises to nothing or the keys are missing.
 */
int
protect_lookup_digest(const char *kind, const char *a1, const char *a2,
    char out[2 * DIGEST_LEN + 1])
{
	struct json_object *d, *v;
	int rc = -1;

	if ((d = json_object_new_object()) == NULL)
		return -1;
	if (pr_keys != NULL && add_digest(d, "x", kind, a1, a2) == 0 &&
	    json_object_object_get_ex(d, "x", &v)) {
		snprintf(out, 2 * DIGEST_LEN + 1, "%s", json_object_get_string(v));
		rc = 0;
	}
	json_object_put(d);
	return rc;
}

/*
 * Unwrap a data key given as {"uid", "kid", "wrapped"}.  A kid new to this
 * daemon reloads the keys: at once if the key file has changed (a
 * rotation, however recent the last reload), else at most once a second
 * (a kid that is in no file).
 */
static int
unwrap_json(struct json_object *k, struct dek *d)
{
	const char *uid = str_member(k, "uid"), *kid = str_member(k, "kid");
	const char *w = str_member(k, "wrapped");
	unsigned char *wrapped;
	size_t wlen;
	int rc;

	if (uid == NULL || kid == NULL || w == NULL || pr_keys == NULL)
		return -1;
	if (!keyring_has(pr_keys, kid) && (mono_now() - pr_unknown >=
	    RELOAD_MIN_S || keyfile_changed(pr_cf->cf_master_key, &pr_stat))) {
		pr_unknown = mono_now();
		log_info("event=keys_reload reason=unknown_kid kid=%s", kid);
		protect_reload();
	}
	if ((wrapped = b64_decode(w, strlen(w), &wlen)) == NULL)
		return -1;
	rc = dek_unwrap(pr_keys, uid, kid, wrapped, wlen, d);
	free(wrapped);
	if (rc == -1)
		log_errorx("event=unwrap_failed kid=%s", kid);
	return rc;
}

/*
 * Seal an event's or transfer's free text ("text" or "reason") in place
 * under the case's data key (key: the JSON text case_key returned).  Each
 * note gets a random id, sent as "$note" and kept in its history event:
 * sealed under the field name "note:<id>", a note's ciphertext moved to
 * another note's place no longer opens.
 */
int
protect_note(struct json_object *body, const char *key)
{
	struct json_object *k;
	unsigned char id[NOTE_ID_LEN];
	char hex[2 * NOTE_ID_LEN + 1], field[sizeof("note:") + sizeof(hex)];
	struct dek d;
	int rc = -1;

	if (random_bytes(id, sizeof(id)) == -1)
		return -1;
	hex_encode(id, sizeof(id), hex);
	snprintf(field, sizeof(field), "note:%s", hex);
	if ((k = json_tokener_parse(key)) == NULL)
		return -1;
	if (unwrap_json(k, &d) == 0) {
		rc = seal_member(body, "text", &d, field) == 0 &&
		    seal_member(body, "reason", &d, field) == 0 ? 0 : -1;
		dek_clear(&d);
	}
	json_object_put(k);
	if (rc == 0)
		json_object_object_add(body, "$note",
		    json_object_new_string(hex));
	return rc;
}

/*
 * Replace every {"$enc", "f"} under v with its plain text, under the data
 * key d (have_key: d is one), or, below an object that carries a "$key" of
 * its own (a caller's earlier calls: one key each), under that key.
 */
static void
open_all(struct json_object *v, const struct dek *d, int have_key)
{
	struct json_object *e, *f, *repl;
	struct json_object_iter it;
	struct dek own;
	unsigned char *ct;
	char *pt;
	size_t clen, plen;
	size_t i, n;

	if (json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		for (i = 0; i < n; i++)
			open_all(json_object_array_get_idx(v, i), d, have_key);
		return;
	}
	if (!json_object_is_type(v, json_type_object))
		return;
	if (json_object_object_get_ex(v, "$key", &e)) {
		memset(&own, 0, sizeof(own));
		have_key = unwrap_json(e, &own) == 0;
		json_object_object_del(v, "$key");
		open_all(v, &own, have_key);
		dek_clear(&own);
		return;
	}
	json_object_object_foreachC(v, it) {
		if (json_object_is_type(it.val, json_type_array)) {
			open_all(it.val, d, have_key);
			continue;
		}
		if (!json_object_is_type(it.val, json_type_object))
			continue;
		if (!json_object_object_get_ex(it.val, "$enc", &e) ||
		    !json_object_object_get_ex(it.val, "f", &f)) {
			open_all(it.val, d, have_key);
			continue;
		}
		repl = NULL;
		if (have_key && (ct = b64_decode(json_object_get_string(e),
		    (size_t)json_object_get_string_len(e), &clen)) != NULL) {
			if (field_open(d, json_object_get_string(f), ct, clen,
			    &pt, &plen) == 0) {
				repl = json_object_new_string_len(pt,
				    (int)plen);
				OPENSSL_cleanse(pt, plen);
				free(pt);
			}
			free(ct);
		}
		if (repl == NULL) {
			/* Changed, moved or foreign ciphertext: say so. */
			log_errorx("event=unseal_failed field=%s",
			    json_object_get_string(f));
			repl = json_object_new_object();
			json_object_object_add(repl, "unreadable",
			    json_object_new_boolean(1));
		}
		/* Same key: json-c replaces the value in place. */
		json_object_object_add(v, it.key, repl);
	}
}

/*
 * Open a case view (or a caller's history) from the database: unwrap each
 * "$key", replace each sealed value below it with its text (or
 * {"unreadable": true}), drop the keys.  Returns malloc'd JSON text, or
 * NULL.
 */
char *
protect_view(const char *json)
{
	struct json_object *v;
	struct dek d;
	const char *s;
	char *out;

	if ((v = json_tokener_parse(json)) == NULL)
		return NULL;
	memset(&d, 0, sizeof(d));
	open_all(v, &d, 0);
	s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	out = s ? strdup(s) : NULL;
	json_object_put(v);
	return out;
}

/*
 * The idempotency hash of a request: HMAC-SHA256 under the hash key of
 * endpoint, target and body, as a bytea literal "\x...".  Keyed, so a
 * stored hash cannot be used to confirm a guessed body.
 */
int
protect_request_hash(const char *endpoint, const char *target,
    const char *body, size_t len, char out[2 + 2 * DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[DIGEST_LEN];
	size_t elen = strlen(endpoint), tlen = target ? strlen(target) : 0;
	char *buf;
	int i, rc;

	if (pr_keys == NULL || (buf = malloc(elen + tlen + len + 2)) == NULL)
		return -1;
	memcpy(buf, endpoint, elen);
	buf[elen] = '\n';
	if (tlen > 0)
		memcpy(buf + elen + 1, target, tlen);
	buf[elen + 1 + tlen] = '\n';
	if (len > 0)
		memcpy(buf + elen + tlen + 2, body, len);
	rc = keyed_digest(pr_keys, "request", buf, elen + tlen + len + 2, md);
	OPENSSL_cleanse(buf, elen + tlen + len + 2);
	free(buf);
	if (rc == -1)
		return -1;
	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < DIGEST_LEN; i++) {
		out[2 + 2 * i] = hex[md[i] >> 4];
		out[3 + 2 * i] = hex[md[i] & 0xf];
	}
	out[2 + 2 * DIGEST_LEN] = '\0';
	return 0;
}
