/*
 * libFuzzer harness for the key-file parsers of keyfile.c: any bytes as a
 * master key file and as a hash key file.  When the bytes parse as a
 * master key file, the edits hotlinectl makes must keep them parsing: a
 * rotation adds a current key in front of the same keys, a retirement
 * takes exactly one key away.  Nothing may crash, leak or trip the
 * sanitizers.
 *   make fuzz-keyfile   (clang with libFuzzer; FUZZ_SECONDS, default 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

#define NEW_KID	"zz-fuzz-rotation"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct master_key keys[KEYFILE_KEYS_MAX], again[KEYFILE_KEYS_MAX];
static char kids[KEYFILE_KEYS_MAX][KID_MAX + 1];
static char err[1024];

/* Whether again[from..] holds the key ids of keys[], skipping one. */
static int
same_kids(int n, int from, int skip)
{
	int i, j = from;

	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		if (strcmp(keys[i].mk_kid, again[j].mk_kid) != 0 ||
		    memcmp(keys[i].mk_key, again[j].mk_key, KEY_LEN) != 0)
			return 0;
		j++;
	}
	return 1;
}

/* Rotate and retire on text that parsed into keys[0..n). */
static void
edit(const char *text, size_t len, int n)
{
	static const unsigned char key[KEY_LEN] = { 0xa5, 0x5a };
	size_t olen;
	char *out;
	int m;

	for (m = 0; m < n; m++)
		if (strcmp(keys[m].mk_kid, NEW_KID) == 0)
			return;
	if ((out = keyfile_add(text, len, NEW_KID, key, &olen)) == NULL)
		abort();
	m = -1;
	if (keyfile_parse_master("fuzz", out, olen, again, &m, err,
	    sizeof(err)) == -1) {
		if (n < KEYFILE_KEYS_MAX)
			abort();	/* a rotation broke the file */
	} else if (m != n + 1 || strcmp(again[0].mk_kid, NEW_KID) != 0 ||
	    memcmp(again[0].mk_key, key, KEY_LEN) != 0 || !same_kids(n, 1, -1))
		abort();		/* it is not the old keys after a new one */
	keyfile_text_free(out, olen);
	if (n < 2)
		return;
	out = keyfile_remove("fuzz", text, len, keys[n - 1].mk_kid, &olen, err,
	    sizeof(err));
	if (out == NULL || keyfile_parse_master("fuzz", out, olen, again, &m,
	    err, sizeof(err)) == -1 || m != n - 1 || !same_kids(n, 0, n - 1))
		abort();		/* a retirement took more or less */
	keyfile_text_free(out, olen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	unsigned char hash[KEY_LEN];
	int n, k, i;

	if (keyfile_parse_master("fuzz", text, size, keys, &n, err,
	    sizeof(err)) == 0) {
		if (n < 1 || n > KEYFILE_KEYS_MAX)
			abort();
		if (keyfile_kids("fuzz", text, size, kids, &k, err,
		    sizeof(err)) == -1 || k != n)
			abort();	/* listing and loading disagree */
		for (i = 0; i < n; i++)
			if (strcmp(kids[i], keys[i].mk_kid) != 0 ||
			    !keyfile_kid_valid(kids[i], strlen(kids[i])))
				abort();
		edit(text, size, n);
	} else if (n != 0)
		abort();
	keyfile_parse_hash("fuzz", text, size, hash, err, sizeof(err));
	return 0;
}
