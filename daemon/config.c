/*
 * Configuration: a "key = value" file described by one declarative table.
 * Errors are reported as file:line: message.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotlined.h"

#define CONFIG_LINE_MAX	2048
#define CONFIG_FILE_MAX	(1024 * 1024)	/* bytes in a configuration file */

enum cf_type {
	CF_STRING,
	CF_INT,
	CF_LEVEL,
	CF_LISTEN,
	CF_LISTEN_OPT,		/* host:port, or empty: none */
};

/* One configuration key: where it goes and what it accepts. */
struct cf_param {
	const char	*name;
	enum cf_type	 type;
	size_t		 offset;
	size_t		 size;		/* strings: buffer size */
	long		 min, max;	/* integers */
};

#define STR(f)	CF_STRING, offsetof(struct config, f), \
		    sizeof(((struct config *)0)->f), 0, 0
#define INT(f, lo, hi)	CF_INT, offsetof(struct config, f), 0, lo, hi

static const struct cf_param cf_params[] = {
	{ "listen",		CF_LISTEN, offsetof(struct config, cf_listen),
	    sizeof(((struct config *)0)->cf_listen), 0, 0 },
	{ "metrics_listen",	CF_LISTEN_OPT,
	    offsetof(struct config, cf_metrics_listen),
	    sizeof(((struct config *)0)->cf_metrics_listen), 0, 0 },
	{ "tls_cert",		STR(cf_tls_cert) },
	{ "tls_key",		STR(cf_tls_key) },
	{ "tls_client_ca",	STR(cf_tls_client_ca) },
	{ "database",		STR(cf_database) },
	{ "master_key",		STR(cf_master_key) },
	{ "hash_key",		STR(cf_hash_key) },
	{ "console_dir",	STR(cf_console_dir) },
	{ "db_pool_size",	INT(cf_db_pool, 1, 64) },
	{ "batch_max",		INT(cf_batch_max, 1, 256) },
	{ "batch_conns",	INT(cf_batch_conns, 1, 64) },
	{ "escalation_workers",	INT(cf_esc_workers, 1, 16) },
	{ "queue_max",		INT(cf_queue_max, 1, 1000000) },
	{ "max_body",		INT(cf_max_body, 1024, 16 * 1024 * 1024) },
	{ "max_headers",	INT(cf_max_headers, 1024, 1024 * 1024) },
	{ "request_timeout",	INT(cf_request_timeout, 1, 3600) },
	{ "handshake_timeout",	INT(cf_handshake_timeout, 1, 600) },
	{ "idle_timeout",	INT(cf_idle_timeout, 1, 3600) },
	{ "max_connections",	INT(cf_max_connections, 1, 1000000) },
	{ "max_anon_connections", INT(cf_max_anon, 1, 1000000) },
	{ "anon_timeout",	INT(cf_anon_timeout, 1, 600) },
	{ "max_handshakes_per_address", INT(cf_max_handshakes, 1, 1000000) },
	{ "liveness_timeout",	INT(cf_liveness_timeout, 2, 86400) },
	{ "key_retire_grace",	INT(cf_key_retire_grace, 1, 30 * 86400) },
	{ "retry_after",	INT(cf_retry_after, 1, 3600) },
	{ "log_level",		CF_LEVEL, offsetof(struct config, cf_log_level),
	    0, 0, 0 },
};

/* Fill the configuration with its defaults. */
void
config_defaults(struct config *cf)
{
	memset(cf, 0, sizeof(*cf));
	snprintf(cf->cf_listen, sizeof(cf->cf_listen), "127.0.0.1:%d",
	    DEFAULT_PORT);
	snprintf(cf->cf_metrics_listen, sizeof(cf->cf_metrics_listen),
	    "127.0.0.1:%d", DEFAULT_METRICS_PORT);
	cf->cf_db_pool = DEFAULT_DB_POOL;
	cf->cf_batch_max = DEFAULT_BATCH_MAX;
	cf->cf_batch_conns = DEFAULT_BATCH_CONNS;
	cf->cf_esc_workers = DEFAULT_ESC_WORKERS;
	cf->cf_queue_max = DEFAULT_QUEUE_MAX;
	cf->cf_max_body = DEFAULT_MAX_BODY;
	cf->cf_max_headers = DEFAULT_MAX_HEADERS;
	cf->cf_request_timeout = DEFAULT_REQUEST_TIMEOUT;
	cf->cf_handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
	cf->cf_idle_timeout = DEFAULT_IDLE_TIMEOUT;
	cf->cf_max_connections = DEFAULT_MAX_CONNECTIONS;
	cf->cf_max_anon = DEFAULT_MAX_ANON;
	cf->cf_anon_timeout = DEFAULT_ANON_TIMEOUT;
	cf->cf_max_handshakes = DEFAULT_MAX_HANDSHAKES;
	cf->cf_liveness_timeout = DEFAULT_LIVENESS_TIMEOUT;
	cf->cf_key_retire_grace = DEFAULT_KEY_RETIRE_GRACE;
	cf->cf_retry_after = DEFAULT_RETRY_AFTER;
	cf->cf_log_level = LOG_LVL_INFO;
}

/* Parse a log level name; 0 on success. */
int
config_parse_level(const char *s, int *level)
{
	static const char *const names[] = { "error", "warn", "info",
	    "debug" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*level = (int)i;
			return 0;
		}
	}
	return -1;
}

/* Split "host:port" (or "[v6]:port"); 0 on success. */
int
config_split_listen(const char *s, char *host, size_t hostsz, int *port)
{
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	long p;

	colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return -1;
	hlen = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hlen < 3 || s[hlen - 1] != ']')
			return -1;
		h = s + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= hostsz)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 ||
	    p > 65535)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return 0;
}

/* Trim leading and trailing white space in place. */
static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Store one value; returns NULL or an error message. */
static const char *
config_set(struct config *cf, const struct cf_param *p, const char *val)
{
	char *dst = (char *)cf + p->offset, host[128], *end;
	int port;
	long n;

	switch (p->type) {
	case CF_LISTEN_OPT:
		if (*val == '\0') {
			*dst = '\0';
			return NULL;
		}
		/* FALLTHROUGH */
	case CF_LISTEN:
		if (config_split_listen(val, host, sizeof(host), &port) == -1)
			return "expected host:port";
		/* FALLTHROUGH */
	case CF_STRING:
		if (strlen(val) >= p->size)
			return "value too long";
		memcpy(dst, val, strlen(val) + 1);
		return NULL;
	case CF_INT:
		errno = 0;
		n = strtol(val, &end, 10);
		if (*val == '\0' || *end != '\0' || errno != 0)
			return "expected an integer";
		if (n < p->min || n > p->max)
			return "integer out of range";
		*(int *)(void *)dst = (int)n;
		return NULL;
	case CF_LEVEL:
		if (config_parse_level(val, (int *)(void *)dst) == -1)
			return "expected error, warn, info or debug";
		return NULL;
	}
	return "unknown type";
}

/*
 * Parse a configuration's text (len bytes, from name) over the defaults,
 * reporting each error as name:line: message; 0 on success.  Any bytes
 * may come: a line too long or with a NUL byte is an error.
 */
int
config_parse_buf(struct config *cf, const char *name, const char *buf,
    size_t len)
{
	char line[CONFIG_LINE_MAX], *key, *val, *eq;
	unsigned char seen[sizeof(cf_params) / sizeof(cf_params[0])];
	const char *p, *end = buf + len, *nl;
	const char *msg;
	size_t i, ll;
	int lineno = 0, errors = 0;

	memset(seen, 0, sizeof(seen));
	for (p = buf; p < end; p = nl < end ? nl + 1 : end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		ll = (size_t)(nl - p);
		if (ll >= sizeof(line) - 1) {
			fprintf(stderr, "%s:%d: line too long\n", name, lineno);
			errors++;
			continue;
		}
		if (memchr(p, '\0', ll) != NULL) {
			fprintf(stderr, "%s:%d: NUL byte\n", name, lineno);
			errors++;
			continue;
		}
		memcpy(line, p, ll);
		line[ll] = '\0';
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			fprintf(stderr, "%s:%d: expected key = value\n", name,
			    lineno);
			errors++;
			continue;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		for (i = 0; i < sizeof(cf_params) / sizeof(cf_params[0]); i++)
			if (strcmp(key, cf_params[i].name) == 0)
				break;
		if (i == sizeof(cf_params) / sizeof(cf_params[0])) {
			fprintf(stderr, "%s:%d: unknown key \"%s\"\n", name,
			    lineno, key);
			errors++;
			continue;
		}
		if (seen[i]++) {
			fprintf(stderr, "%s:%d: \"%s\" set twice\n", name,
			    lineno, key);
			errors++;
			continue;
		}
		if ((msg = config_set(cf, &cf_params[i], val)) != NULL) {
			fprintf(stderr, "%s:%d: %s: %s\n", name, lineno, key,
			    msg);
			errors++;
		}
	}
	/* The database's password may have been on a line. */
	explicit_bzero(line, sizeof(line));
	if (errors == 0) {
		if (cf->cf_tls_cert[0] == '\0' || cf->cf_tls_key[0] == '\0' ||
		    cf->cf_tls_client_ca[0] == '\0') {
			fprintf(stderr, "%s: tls_cert, tls_key and "
			    "tls_client_ca are required\n", name);
			errors++;
		}
		if (cf->cf_database[0] == '\0') {
			fprintf(stderr, "%s: database is required\n", name);
			errors++;
		}
	}
	return errors ? -1 : 0;
}

/* Read a configuration file over the defaults; 0 on success. */
int
config_load(struct config *cf, const char *path)
{
	FILE *fp;
	char *buf;
	size_t len;
	int rc = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		fprintf(stderr, "%s: out of memory\n", path);
		fclose(fp);
		return -1;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, fp);
	if (ferror(fp))
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
	else if (len > CONFIG_FILE_MAX)
		fprintf(stderr, "%s: larger than %d bytes\n", path,
		    CONFIG_FILE_MAX);
	else
		rc = config_parse_buf(cf, path, buf, len);
	fclose(fp);
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}
