/*
 * Identifiers of persons (a child's ID number, name and birth date, a
 * caller's phone) normalised so that their keyed digests (crypto.c) link
 * the records of one person however the number or name was written.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "hotlined.h"

/* Append c to out (bounded); -1 when full. */
static int
put(char *out, size_t outlen, size_t *n, char c)
{
	if (*n + 1 >= outlen)
		return -1;
	out[(*n)++] = c;
	out[*n] = '\0';
	return 0;
}

/* Bytes of white space at s for a name (ASCII, U+00A0, U+3000), or 0. */
static size_t
name_space(const unsigned char *s)
{
	if (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')
		return 1;
	if (s[0] == 0xc2 && s[1] == 0xa0)
		return 2;			/* U+00A0 no-break space */
	if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;			/* U+3000 ideographic space */
	return 0;
}

/* Normalise into out; -1 if it does not fit, the kind is unknown or the
 * result is empty. */
static int
normalise(const char *kind, const char *a1, const char *a2, char *out,
    size_t outlen, size_t *n)
{
	const unsigned char *s = (const unsigned char *)a1;
	unsigned char c;
	size_t k;

	if (strcmp(kind, "id") == 0) {
		for (; *s != '\0'; s++) {
			if (*s == ' ')
				continue;
			c = *s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s;
			if (put(out, outlen, n, (char)c) == -1)
				return -1;
		}
	} else if (strcmp(kind, "name_birth") == 0) {
		if (a2 == NULL || *a2 == '\0')
			return -1;
		while (*s != '\0') {
			if ((k = name_space(s)) > 0) {
				s += k;
				continue;
			}
			c = *s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s;
			if (put(out, outlen, n, (char)c) == -1)
				return -1;
			s++;
		}
		if (*n == 0 || put(out, outlen, n, '|') == -1)
			return -1;
		for (s = (const unsigned char *)a2; *s != '\0'; s++)
			if (put(out, outlen, n, (char)*s) == -1)
				return -1;
	} else if (strcmp(kind, "phone") == 0) {
		int intl = 0;

		if (strncmp(a1, "+86", 3) == 0)
			s += 3, intl = 1;
		else if (strncmp(a1, "0086", 4) == 0)
			s += 4, intl = 1;
		for (; *s != '\0'; s++)
			if (*s >= '0' && *s <= '9' &&
			    put(out, outlen, n, (char)*s) == -1)
				return -1;
		/*
		 * Written internationally, a landline loses its trunk 0
		 * (+86 10 1234 5678 is 010-12345678), though some write it
		 * kept (+86 (0)10 1234 5678, 0086 0571 ...): no number after
		 * +86 starts with 0, so a leading 0 is that trunk 0.  A mobile
		 * number is 11 digits from 1.  Put the 0 back where it is
		 * missing, so that every form matches.
		 */
		if (intl && *n > 0 && out[0] != '0' &&
		    !(*n == 11 && out[0] == '1')) {
			if (*n + 2 > outlen)
				return -1;
			memmove(out + 1, out, *n + 1);
			out[0] = '0';
			(*n)++;
		}
	} else
		return -1;
	return *n == 0 ? -1 : 0;
}

/*
 * Normalise an identifier before its keyed digest (see hotlined.h).  On
 * failure out is left empty: no partial personal data stays behind.
 */
int
normalise_identifier(const char *kind, const char *a1, const char *a2, char *out,
    size_t outlen)
{
	size_t n = 0;

	if (outlen == 0 || kind == NULL || a1 == NULL)
		return -1;
	out[0] = '\0';
	if (normalise(kind, a1, a2, out, outlen, &n) == -1) {
		OPENSSL_cleanse(out, n + 1);
		out[0] = '\0';
		return -1;
	}
	return 0;
}
