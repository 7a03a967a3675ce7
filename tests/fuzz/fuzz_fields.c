/*
 * libFuzzer harness for the small parsers of single values: the
 * Idempotency-Key header, a case number in a path, strict base64 and hex
 * (sealed values and wrapped keys from the database), a listen address, a
 * log level, and the normalisation of identifiers before their keyed
 * digests.  What base64 and hex accept must encode back to the same text;
 * a normalised ID number normalises to itself, a phone number to digits.
 *   make fuzz-fields    (clang with libFuzzer; FUZZ_SECONDS, default 60)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

#define NORM_MAX	512

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * Normalise s as kind; what comes out must be a fixed point (fixed) or
 * made only of the characters in only (if not NULL).
 */
static void
normalise(const char *kind, const char *s, const char *a2, int fixed,
    const char *only)
{
	char out[NORM_MAX], twice[NORM_MAX];

	if (normalise_identifier(kind, s, a2, out, sizeof(out)) == -1) {
		if (out[0] != '\0')
			abort();	/* refused, but left data behind */
		return;
	}
	if (out[0] == '\0' || strlen(out) >= sizeof(out) ||
	    (only != NULL && strspn(out, only) != strlen(out)))
		abort();
	if (fixed && (normalise_identifier(kind, out, a2, twice,
	    sizeof(twice)) == -1 || strcmp(out, twice) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bin;
	char *s, *enc, host[64];
	size_t n;
	int port, level;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';		/* the C-string parsers stop at a NUL */

	if (validate_idempotency_key(s) == 0 && (strlen(s) == 0 ||
	    strlen(s) > IDEMPOTENCY_KEY_MAX))
		abort();
	/* ^20[0-9]{2}-[1-9][0-9]{5}-[0-9]{8,18}$, nothing else */
	if (validate_case_number(s) == 0 && (strlen(s) < 20 ||
	    strlen(s) > 30 || strncmp(s, "20", 2) != 0 || s[4] != '-' ||
	    s[5] < '1' || s[5] > '9' || s[11] != '-' ||
	    strspn(s + 12, "0123456789") != strlen(s) - 12))
		abort();

	if ((bin = b64_decode(s, size, &n)) != NULL) {
		if ((enc = b64_encode(bin, n)) == NULL || strlen(enc) != size ||
		    memcmp(enc, s, size) != 0)
			abort();	/* one accepted encoding per value */
		free(enc);
		free(bin);
	}
	if (size % 2 == 0 && size <= 2 * NORM_MAX &&
	    (bin = malloc(size / 2 + 1)) != NULL) {
		if (hex_decode(s, size, bin, size / 2) == 0) {
			if ((enc = malloc(size + 1)) == NULL)
				abort();
			hex_encode(bin, size / 2, enc);
			if (strncasecmp(enc, s, size) != 0)
				abort();
			free(enc);
		}
		free(bin);
	}

	if (config_split_listen(s, host, sizeof(host), &port) == 0 &&
	    (port < 1 || port > 65535 || strlen(host) == 0))
		abort();
	if (config_parse_level(s, &level) == 0 && (level < LOG_LVL_ERROR ||
	    level > LOG_LVL_DEBUG))
		abort();

	normalise("id", s, NULL, 1, NULL);
	normalise("phone", s, NULL, 0, "0123456789");
	normalise("name_birth", s, "2015-03-12", 0, NULL);
	free(s);
	return 0;
}
