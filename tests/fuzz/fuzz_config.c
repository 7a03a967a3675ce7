/*
 * libFuzzer harness for the configuration parser, config_parse_buf(): any
 * bytes as a configuration file.  A configuration it accepts must have
 * its required keys and every value in range; nothing may crash, leak or
 * trip the sanitizers.  Its messages go to /dev/null.
 *   make fuzz-config    (clang with libFuzzer; FUZZ_SECONDS, default 60)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "hotlined.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static FILE	*devnull;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cf;
	FILE *saved = stderr;
	char host[128];
	int rc, port;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	config_defaults(&cf);
	stderr = devnull;
	rc = config_parse_buf(&cf, "fuzz", (const char *)data, size);
	stderr = saved;
	if (rc == -1)
		return 0;
	if (cf.cf_tls_cert[0] == '\0' || cf.cf_tls_key[0] == '\0' ||
	    cf.cf_tls_client_ca[0] == '\0' || cf.cf_database[0] == '\0')
		abort();	/* accepted without a required key */
	if (config_split_listen(cf.cf_listen, host, sizeof(host), &port) == -1 ||
	    port < 1 || port > 65535)
		abort();	/* accepted a listen address it cannot use */
	if (cf.cf_db_pool < 1 || cf.cf_db_pool > 64 || cf.cf_batch_max < 1 ||
	    cf.cf_batch_max > 256 || cf.cf_batch_conns < 1 ||
	    cf.cf_batch_conns > 64 || cf.cf_esc_workers < 1 ||
	    cf.cf_esc_workers > 16 || cf.cf_max_body < 1024 ||
	    cf.cf_log_level < LOG_LVL_ERROR || cf.cf_log_level > LOG_LVL_DEBUG)
		abort();	/* a value out of its range */
	return 0;
}
