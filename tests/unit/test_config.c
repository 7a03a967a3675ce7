/*
 * Unit tests for the configuration parser: defaults, every value type,
 * and errors reported as file:line: message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hotlined.h"
#include "unit.h"

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

#define BASE "tls_cert = /c\ntls_key = /k\ntls_client_ca = /ca\n" \
	"database = host=x\n"

int
main(void)
{
	struct config cf;
	char host[64];
	int port;

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
	UNIT_EXIT();
}
