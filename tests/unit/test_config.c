/*
 * Unit tests for the configuration parser: defaults, every value type,
 * errors reported as file:line: message, and text parsed from memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotlined.h"
#include "unit.h"

/* The longest line config.c reads (CONFIG_LINE_MAX - 2), newline aside. */
#define LINE_LEN	2046

/* The largest file config.c reads (CONFIG_FILE_MAX). */
#define FILE_LEN	(1024 * 1024)

static char errbuf[4096];

/* Write text to a temporary file and load it; stderr is captured. */
static int
load(struct config *cf, const char *text)
{
	char path[] = "/tmp/hotlined-cf-XXXXXX";
	FILE *fp, *saved;
	int fd, rc;

	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL)
		return -2;
	fputs(text, fp);
	fclose(fp);
	config_defaults(cf);
	memset(errbuf, 0, sizeof(errbuf));
	saved = stderr;
	stderr = fmemopen(errbuf, sizeof(errbuf) - 1, "w");
	rc = config_load(cf, path);
	fclose(stderr);
	stderr = saved;
	unlink(path);
	return rc;
}

/* Parse len bytes from memory as "mem"; stderr is captured. */
static int
parse(struct config *cf, const char *text, size_t len)
{
	FILE *saved;
	int rc;

	config_defaults(cf);
	memset(errbuf, 0, sizeof(errbuf));
	saved = stderr;
	stderr = fmemopen(errbuf, sizeof(errbuf) - 1, "w");
	rc = config_parse_buf(cf, "mem", text, len);
	fclose(stderr);
	stderr = saved;
	return rc;
}

#define BASE "tls_cert = /c\ntls_key = /k\ntls_client_ca = /ca\n" \
	"database = host=x\n"

int
main(void)
{
	struct config cf;
	char host[64], *big;
	int port, n;

	config_defaults(&cf);
	CHECK(cf.cf_max_body == DEFAULT_MAX_BODY, "default body limit");
	CHECK(strcmp(cf.cf_listen, "127.0.0.1:12355") == 0,
	    "default listen address");

	CHECK(load(&cf, BASE) == 0, "minimal file loads");
	CHECK_STR(cf.cf_tls_client_ca, "/ca", "string value stored");
	CHECK_STR(cf.cf_database, "host=x", "value may contain '='");

	CHECK(load(&cf, BASE "# comment\n\n  db_pool_size = 8  \n"
	    "listen = [::1]:8443\nlog_level = debug\n") == 0,
	    "comments, blanks, spaces, v6 listen");
	CHECK(cf.cf_db_pool == 8, "integer stored");
	CHECK(cf.cf_log_level == LOG_LVL_DEBUG, "log level stored");
	CHECK(config_split_listen(cf.cf_listen, host, sizeof(host), &port) ==
	    0 && strcmp(host, "::1") == 0 && port == 8443,
	    "v6 listen address split");

	config_defaults(&cf);
	CHECK(cf.cf_max_connections == 16384 && cf.cf_max_anon == 256 &&
	    cf.cf_anon_timeout == 5 && cf.cf_max_handshakes == 64 &&
	    cf.cf_liveness_timeout == 180 && cf.cf_key_retire_grace == 600,
	    "defaults of the connection budgets, liveness and the key grace");
	CHECK(load(&cf, BASE "max_anon_connections = 8\nanon_timeout = 2\n"
	    "max_handshakes_per_address = 3\nliveness_timeout = 4\n"
	    "key_retire_grace = 1\n") == 0 && cf.cf_max_anon == 8 &&
	    cf.cf_anon_timeout == 2 && cf.cf_max_handshakes == 3 &&
	    cf.cf_liveness_timeout == 4 && cf.cf_key_retire_grace == 1,
	    "the connection budgets, liveness and the key grace are set");
	CHECK(load(&cf, BASE "liveness_timeout = 1\n") == -1 &&
	    load(&cf, BASE "anon_timeout = 0\n") == -1 &&
	    load(&cf, BASE "max_handshakes_per_address = 0\n") == -1,
	    "a liveness_timeout under 2 s, or a zero budget, is refused");
	config_defaults(&cf);
	CHECK(cf.cf_batch_max == 32 && cf.cf_batch_conns == 2,
	    "defaults of the group commit: 32 submissions, 2 at once");
	CHECK(load(&cf, BASE "batch_conns = 1\n") == 0 && cf.cf_batch_conns == 1,
	    "batch_conns is set");
	CHECK(load(&cf, BASE "batch_conns = 0\n") == -1 &&
	    strstr(errbuf, ":5: batch_conns: integer out of range") != NULL &&
	    load(&cf, BASE "batch_conns = 65\n") == -1,
	    "a batch_conns out of 1 to 64 is refused");
	config_defaults(&cf);
	CHECK(cf.cf_esc_workers == 2, "escalation passes run as 2 statements "
	    "by default");
	CHECK(load(&cf, BASE "escalation_workers = 5\n") == 0 &&
	    cf.cf_esc_workers == 5, "escalation_workers is set");
	CHECK(load(&cf, BASE "escalation_workers = 0\n") == -1 &&
	    strstr(errbuf, ":5: escalation_workers: integer out of range") !=
	    NULL && load(&cf, BASE "escalation_workers = 17\n") == -1,
	    "an escalation_workers out of 1 to 16 is refused");
	CHECK(load(&cf, BASE "nonsense = 1\n") == -1 &&
	    strstr(errbuf, ":5: unknown key \"nonsense\"") != NULL,
	    "unknown key reported with its line");
	CHECK(load(&cf, BASE "db_pool_size = 0\n") == -1 &&
	    strstr(errbuf, ":5: db_pool_size: integer out of range") != NULL,
	    "out-of-range integer");
	CHECK(load(&cf, BASE "db_pool_size = 4x\n") == -1 &&
	    strstr(errbuf, "expected an integer") != NULL,
	    "non-numeric integer");
	CHECK(load(&cf, BASE "listen = 127.0.0.1\n") == -1 &&
	    strstr(errbuf, ":5: listen: expected host:port") != NULL,
	    "listen without port");
	CHECK(load(&cf, BASE "listen = 127.0.0.1:70000\n") == -1,
	    "listen port out of range");
	CHECK(load(&cf, BASE "") == 0 &&
	    strcmp(cf.cf_metrics_listen, "127.0.0.1:9355") == 0,
	    "metrics on 127.0.0.1:9355 unless configured");
	CHECK(load(&cf, BASE "metrics_listen = [::1]:9100\n") == 0 &&
	    strcmp(cf.cf_metrics_listen, "[::1]:9100") == 0,
	    "metrics_listen takes host:port");
	CHECK(load(&cf, BASE "metrics_listen =\n") == 0 &&
	    cf.cf_metrics_listen[0] == '\0',
	    "metrics_listen empty disables the metrics");
	CHECK(load(&cf, BASE "metrics_listen = 9355\n") == -1 &&
	    strstr(errbuf, ":5: metrics_listen: expected host:port") != NULL,
	    "metrics_listen without a host");
	CHECK(load(&cf, BASE "") == 0 && cf.cf_console_dir[0] == '\0',
	    "no web console unless console_dir is set");
	CHECK(load(&cf, BASE "console_dir = /usr/share/hotlined/console\n") == 0 &&
	    strcmp(cf.cf_console_dir, "/usr/share/hotlined/console") == 0,
	    "console_dir names the console's directory");
	CHECK(load(&cf, BASE "log_level = loud\n") == -1 &&
	    strstr(errbuf, "expected error, warn, info or debug") != NULL,
	    "bad log level");
	CHECK(load(&cf, BASE "max_body = 2048\nmax_body = 4096\n") == -1 &&
	    strstr(errbuf, ":6: \"max_body\" set twice") != NULL,
	    "duplicate key");
	CHECK(load(&cf, BASE "just words\n") == -1 &&
	    strstr(errbuf, ":5: expected key = value") != NULL,
	    "line without '='");
	CHECK(load(&cf, "database = x\n") == -1 &&
	    strstr(errbuf, "tls_cert, tls_key and tls_client_ca are required")
	    != NULL, "missing TLS files");
	CHECK(load(&cf, "tls_cert = /c\ntls_key = /k\ntls_client_ca = /ca\n")
	    == -1 && strstr(errbuf, "database is required") != NULL,
	    "missing database");
	CHECK(config_load(&cf, "/nonexistent/hotlined.conf") == -1,
	    "missing file");

	/* From memory: only len bytes, whatever they are. */
	CHECK(parse(&cf, BASE "db_pool_size = 9", strlen(BASE) + 16) == 0 &&
	    cf.cf_db_pool == 9, "a last line without a newline counts");
	CHECK(parse(&cf, BASE "db_pool_size = 19", strlen(BASE) + 16) == 0 &&
	    cf.cf_db_pool == 1, "only len bytes are parsed");
	CHECK(parse(&cf, BASE "log_level = debug\0\n", strlen(BASE) + 19) ==
	    -1 && strstr(errbuf, "mem:5: NUL byte") != NULL,
	    "a NUL byte is an error at its line");
	CHECK(parse(&cf, BASE "max_body = 2048\0max_body = 4096\n",
	    strlen(BASE) + 32) == -1 && cf.cf_max_body == DEFAULT_MAX_BODY,
	    "and does not cut its line short");
	/* Lines of LINE_LEN bytes fit, with their newline; longer do not. */
	if ((big = malloc(strlen(BASE) + 2 * LINE_LEN + 20)) == NULL)
		abort();
	n = sprintf(big, "%s#%*s\n", BASE, LINE_LEN - 1, "");
	CHECK(parse(&cf, big, (size_t)n) == 0, "a line of %d bytes is read",
	    LINE_LEN);
	n = sprintf(big, "%s#%*s\n#%*s\nretry_after = 7\n", BASE, LINE_LEN - 1,
	    "", LINE_LEN, "");
	CHECK(parse(&cf, big, (size_t)n) == -1 &&
	    strstr(errbuf, "mem:6: line too long") != NULL &&
	    strstr(errbuf, "mem:5") == NULL && cf.cf_retry_after == 7,
	    "one of %d is too long, and the next is read as line 7",
	    LINE_LEN + 1);
	free(big);
	if ((big = malloc(FILE_LEN + 2)) == NULL)
		abort();
	memset(big, '#', FILE_LEN + 1);
	big[FILE_LEN + 1] = '\0';
	CHECK(load(&cf, big) == -1 && strstr(errbuf, "larger than") != NULL,
	    "a file over %d bytes is refused", FILE_LEN);
	free(big);
	CHECK(parse(&cf, "", 0) == -1 && strstr(errbuf, "mem: tls_cert") !=
	    NULL, "nothing at all lacks the required keys");
	UNIT_EXIT();
}
