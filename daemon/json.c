/*
 * A strict RFC 8259 JSON parser that builds json-c trees.  json-c's own
 * tokener accepts NaN, leading zeros, single quotes, raw control
 * characters and duplicate keys, truncates at NUL and clamps integers;
 * request bodies are parsed here instead, and anything outside the RFC
 * (or deeper than the limit) is refused with its byte offset.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

#define JSON_NUMBER_MAX	64	/* longest number literal accepted */

struct jparser {
	const unsigned char	*p, *start, *end;
	int			 depth, max_depth;
	struct api_error	*err;
	char			*sbuf;		/* decoded string scratch */
	size_t			 ssize;
};

static int	jp_value(struct jparser *, struct json_object **);

/* Record an error at the current offset; always returns -1. */
static int
jp_fail(struct jparser *jp, const char *what)
{
	error_set(jp->err, 400, "invalid_json", NULL, "%s at offset %zu",
	    what, (size_t)(jp->p - jp->start));
	return -1;
}

/* Skip JSON white space. */
static void
jp_ws(struct jparser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
	    *jp->p == '\n' || *jp->p == '\r'))
		jp->p++;
}

/* Match a literal word. */
static int
jp_word(struct jparser *jp, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, w, n) != 0)
		return jp_fail(jp, "invalid literal");
	jp->p += n;
	return 0;
}

/* Append bytes to the string scratch buffer. */
static int
jp_put(struct jparser *jp, size_t *len, const void *b, size_t n)
{
	char *nb;
	size_t ns;

	if (*len + n > jp->ssize) {
		ns = jp->ssize ? jp->ssize * 2 : 256;
		while (ns < *len + n)
			ns *= 2;
		if ((nb = realloc(jp->sbuf, ns)) == NULL)
			return jp_fail(jp, "out of memory");
		jp->sbuf = nb;
		jp->ssize = ns;
	}
	memcpy(jp->sbuf + *len, b, n);
	*len += n;
	return 0;
}

/* Length of a valid UTF-8 sequence at p (RFC 3629), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Read four hex digits of a \u escape. */
static int
jp_hex4(struct jparser *jp, unsigned int *out)
{
	unsigned int v = 0;
	int i;

	if (jp->end - jp->p < 4)
		return jp_fail(jp, "truncated \\u escape");
	for (i = 0; i < 4; i++) {
		unsigned char c = jp->p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return jp_fail(jp, "invalid \\u escape");
	}
	jp->p += 4;
	*out = v;
	return 0;
}

/* Encode a code point as UTF-8 into the scratch buffer. */
static int
jp_put_cp(struct jparser *jp, size_t *len, unsigned int cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return jp_put(jp, len, b, n);
}

/* Decode a string (at its opening quote) into the scratch buffer. */
static int
jp_string(struct jparser *jp, size_t *len)
{
	const unsigned char *run;
	unsigned int cp, lo;
	size_t n;

	*len = 0;
	jp->p++;
	for (;;) {
		run = jp->p;
		while (jp->p < jp->end && *jp->p != '"' && *jp->p != '\\' &&
		    *jp->p >= 0x20) {
			if ((n = utf8_len(jp->p, jp->end)) == 0)
				return jp_fail(jp, "invalid UTF-8");
			jp->p += n;
		}
		if (jp->p > run && jp_put(jp, len, run, (size_t)(jp->p - run)))
			return -1;
		if (jp->p >= jp->end)
			return jp_fail(jp, "unterminated string");
		if (*jp->p == '"') {
			jp->p++;
			return 0;
		}
		if (*jp->p < 0x20)
			return jp_fail(jp, "control character in string");
		/* A backslash escape. */
		if (++jp->p >= jp->end)
			return jp_fail(jp, "unterminated string");
		switch (*jp->p++) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (jp_hex4(jp, &cp) == -1)
				return -1;
			if (cp == 0)
				return jp_fail(jp, "\\u0000 in string");
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jp_fail(jp, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (jp->end - jp->p < 2 || jp->p[0] != '\\' ||
				    jp->p[1] != 'u')
					return jp_fail(jp,
					    "lone high surrogate");
				jp->p += 2;
				if (jp_hex4(jp, &lo) == -1)
					return -1;
				if (lo < 0xdc00 || lo > 0xdfff)
					return jp_fail(jp,
					    "high surrogate without low");
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			break;
		default:
			jp->p--;
			return jp_fail(jp, "invalid escape");
		}
		if (jp_put_cp(jp, len, cp) == -1)
			return -1;
	}
}

/* Parse a number per the RFC grammar; integers must fit in int64. */
static int
jp_number(struct jparser *jp, struct json_object **out)
{
	const unsigned char *s = jp->p;
	char buf[JSON_NUMBER_MAX + 1], *end;
	int isint = 1;
	long long ll;
	double d;
	size_t n;

	if (jp->p < jp->end && *jp->p == '-')
		jp->p++;
	if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
		return jp_fail(jp, "invalid number");
	if (*jp->p == '0') {
		jp->p++;
		if (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			return jp_fail(jp, "leading zero in number");
	} else
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	if (jp->p < jp->end && *jp->p == '.') {
		isint = 0;
		jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
			return jp_fail(jp, "digit expected after '.'");
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
		isint = 0;
		jp->p++;
		if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
			jp->p++;
		if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
			return jp_fail(jp, "digit expected in exponent");
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	n = (size_t)(jp->p - s);
	if (n > JSON_NUMBER_MAX)
		return jp_fail(jp, "number too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	if (isint) {
		ll = strtoll(buf, &end, 10);
		if (errno == ERANGE || *end != '\0')
			return jp_fail(jp, "integer out of range");
		*out = json_object_new_int64(ll);
	} else {
		d = strtod(buf, &end);
		if (*end != '\0' || !isfinite(d))
			return jp_fail(jp, "number out of range");
		*out = json_object_new_double(d);
	}
	if (*out == NULL)
		return jp_fail(jp, "out of memory");
	return 0;
}

/* Parse an object (at its '{'). */
static int
jp_object(struct jparser *jp, struct json_object **out)
{
	struct json_object *obj, *val;
	size_t klen;
	char *key;

	if (++jp->depth > jp->max_depth)
		return jp_fail(jp, "nesting too deep");
	if ((obj = json_object_new_object()) == NULL)
		return jp_fail(jp, "out of memory");
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == '}') {
		jp->p++;
		goto done;
	}
	for (;;) {
		jp_ws(jp);
		if (jp->p >= jp->end || *jp->p != '"') {
			jp_fail(jp, "string key expected");
			goto fail;
		}
		if (jp_string(jp, &klen) == -1)
			goto fail;
		if ((key = strndup(jp->sbuf ? jp->sbuf : "", klen)) == NULL) {
			jp_fail(jp, "out of memory");
			goto fail;
		}
		if (strlen(key) != klen || json_object_object_get_ex(obj, key,
		    NULL)) {
			free(key);
			jp_fail(jp, "duplicate key");
			goto fail;
		}
		jp_ws(jp);
		if (jp->p >= jp->end || *jp->p != ':') {
			free(key);
			jp_fail(jp, "':' expected");
			goto fail;
		}
		jp->p++;
		if (jp_value(jp, &val) == -1) {
			free(key);
			goto fail;
		}
		if (json_object_object_add(obj, key, val) != 0) {
			json_object_put(val);
			free(key);
			jp_fail(jp, "out of memory");
			goto fail;
		}
		free(key);
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == '}') {
			jp->p++;
			break;
		}
		jp_fail(jp, "',' or '}' expected");
		goto fail;
	}
done:
	jp->depth--;
	*out = obj;
	return 0;
fail:
	json_object_put(obj);
	return -1;
}

/* Parse an array (at its '['). */
static int
jp_array(struct jparser *jp, struct json_object **out)
{
	struct json_object *arr, *val;

	if (++jp->depth > jp->max_depth)
		return jp_fail(jp, "nesting too deep");
	if ((arr = json_object_new_array()) == NULL)
		return jp_fail(jp, "out of memory");
	jp->p++;
	jp_ws(jp);
	if (jp->p < jp->end && *jp->p == ']') {
		jp->p++;
		goto done;
	}
	for (;;) {
		if (jp_value(jp, &val) == -1)
			goto fail;
		if (json_object_array_add(arr, val) != 0) {
			json_object_put(val);
			jp_fail(jp, "out of memory");
			goto fail;
		}
		jp_ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == ']') {
			jp->p++;
			break;
		}
		jp_fail(jp, "',' or ']' expected");
		goto fail;
	}
done:
	jp->depth--;
	*out = arr;
	return 0;
fail:
	json_object_put(arr);
	return -1;
}

/* Parse any value; json-c represents null as a NULL object. */
static int
jp_value(struct jparser *jp, struct json_object **out)
{
	size_t len;

	*out = NULL;
	jp_ws(jp);
	if (jp->p >= jp->end)
		return jp_fail(jp, "value expected");
	switch (*jp->p) {
	case '{':
		return jp_object(jp, out);
	case '[':
		return jp_array(jp, out);
	case '"':
		if (jp_string(jp, &len) == -1)
			return -1;
		if ((*out = json_object_new_string_len(jp->sbuf ? jp->sbuf :
		    "", (int)len)) == NULL)
			return jp_fail(jp, "out of memory");
		return 0;
	case 't':
		if (jp_word(jp, "true") == -1)
			return -1;
		*out = json_object_new_boolean(1);
		return 0;
	case 'f':
		if (jp_word(jp, "false") == -1)
			return -1;
		*out = json_object_new_boolean(0);
		return 0;
	case 'n':
		return jp_word(jp, "null");
	default:
		if (*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9'))
			return jp_number(jp, out);
		return jp_fail(jp, "unexpected character");
	}
}

/*
 * Parse buf as one strict JSON text.  Returns the tree, or NULL with err
 * filled (400 invalid_json).  A valid top-level null also returns NULL,
 * with err->status 0 and err->code NULL.
 */
struct json_object *
json_parse_strict(const char *buf, size_t len, int max_depth,
    struct api_error *err)
{
	struct jparser jp;
	struct json_object *v = NULL;

	memset(&jp, 0, sizeof(jp));
	jp.p = jp.start = (const unsigned char *)buf;
	jp.end = jp.start + len;
	jp.max_depth = max_depth;
	jp.err = err;
	err->status = 0;
	err->code = NULL;
	err->field[0] = err->message[0] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		jp.p = memchr(jp.start, '\0', len);
		jp_fail(&jp, "NUL byte");
		return NULL;
	}
	if (jp_value(&jp, &v) == 0) {
		jp_ws(&jp);
		if (jp.p != jp.end) {
			jp_fail(&jp, "data after the JSON value");
			json_object_put(v);
			v = NULL;
		}
	}
	free(jp.sbuf);
	return v;
}
