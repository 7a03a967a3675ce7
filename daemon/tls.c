/*
 * TLS: the server context (TLS 1.2+, client certificates requested and
 * verified against the deployment CA), per-connection state tied to the
 * SSL object's lifetime, and client certificate fingerprints.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "hotlined.h"

#define TLS_CIPHERS_12	"ECDHE-ECDSA-AES256-GCM-SHA384:" \
			"ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:" \
			"ECDHE-RSA-CHACHA20-POLY1305:" \
			"ECDHE-ECDSA-AES128-GCM-SHA256:" \
			"ECDHE-RSA-AES128-GCM-SHA256"
#define TLS_VERIFY_DEPTH 4

static int	 tls_conn_idx = -1;
static void	(*tls_conn_free_cb)(struct conn *);
static void	(*tls_handshake_cb)(struct conn *, int);

/* Free a connection's state when OpenSSL frees its SSL object. */
static void
tls_conn_exfree(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (ptr != NULL && tls_conn_free_cb != NULL)
		tls_conn_free_cb(ptr);
}

/* Register the per-connection ex_data slot; 0 on success. */
int
tls_init(void)
{
	tls_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
	    tls_conn_exfree);
	return tls_conn_idx < 0 ? -1 : 0;
}

/* Set the functions called when a connection's SSL is freed and when
 * its handshake completes (with whether a verified certificate came). */
void
tls_set_conn_cbs(void (*freecb)(struct conn *),
    void (*donecb)(struct conn *, int))
{
	tls_conn_free_cb = freecb;
	tls_handshake_cb = donecb;
}

/* Log the OpenSSL error queue with a context string. */
static void
tls_log_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_errorx("event=tls_error what=%s detail=\"%s\"", what, buf);
	}
}

/* Keep why a handshake failed: lower case, words joined by '_'. */
static void
tls_note_failure(struct conn *cn, const char *prefix, const char *why)
{
	char *f = cn->cn_tls_failure;
	size_t i, n;

	if (f[0] != '\0' || why == NULL)
		return;
	n = (size_t)snprintf(f, sizeof(cn->cn_tls_failure), "%s%s", prefix,
	    why);
	for (i = 0; i < n && i < sizeof(cn->cn_tls_failure) - 1; i++)
		f[i] = isalnum((unsigned char)f[i]) ?
		    (char)tolower((unsigned char)f[i]) : '_';
}

/*
 * Keep the first reason a handshake gave for failing: the first alert
 * ("peer_" when the client sent it), else the error that ended it (a
 * plain HTTP request, a protocol version, ...).  Note the end of the
 * handshake, with or without a verified client certificate, so the
 * connection gets its request time.
 */
static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct conn *cn;

	if ((cn = SSL_get_ex_data(ssl, tls_conn_idx)) == NULL ||
	    cn->cn_handshaken)
		return;
	if (where & SSL_CB_ALERT)
		tls_note_failure(cn, (where & SSL_CB_READ) ? "peer_" : "",
		    SSL_alert_desc_string_long(ret));
	if ((where & SSL_CB_EXIT) && ret <= 0 &&
	    SSL_get_error(ssl, ret) == SSL_ERROR_SSL)
		tls_note_failure(cn, "", ERR_reason_error_string(
		    ERR_peek_last_error()));
	if ((where & SSL_CB_HANDSHAKE_DONE) == 0)
		return;
	cn->cn_handshaken = 1;
	cn->cn_certified = SSL_get0_peer_certificate(ssl) != NULL &&
	    SSL_get_verify_result(ssl) == X509_V_OK;
	if (tls_handshake_cb != NULL)
		tls_handshake_cb(cn, cn->cn_certified);
}

/* Build the server context from the configured files; NULL on error. */
SSL_CTX *
tls_ctx_new(const struct config *cf)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	/* Idle connections give their record buffers back: many are held. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (!SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12))
		goto fail;
	/*
	 * No session resumption: every connection presents and verifies its
	 * client certificate afresh, so revocation is never skipped.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, cf->cf_tls_cert) != 1) {
		tls_log_errors("tls_cert");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cf->cf_tls_key,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		tls_log_errors("tls_key");
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(ctx, cf->cf_tls_client_ca,
	    NULL) != 1) {
		tls_log_errors("tls_client_ca");
		goto fail;
	}
	if ((names = SSL_load_client_CA_file(cf->cf_tls_client_ca)) == NULL) {
		tls_log_errors("tls_client_ca");
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	/*
	 * A certificate is requested but not required at the TLS layer, so
	 * /healthz works without one; a presented certificate must verify.
	 * /v1/ requires one (route.c answers 401 without), and a connection
	 * without one has its own small budget (server.c).
	 */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
	    NULL);
	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	return ctx;
fail:
	tls_log_errors("context");
	SSL_CTX_free(ctx);
	return NULL;
}

/* Create the SSL object of a new connection and attach its state. */
SSL *
tls_conn_new(SSL_CTX *ctx, struct conn *cn)
{
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	if (!SSL_set_ex_data(ssl, tls_conn_idx, cn)) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* Return the connection state attached to an SSL object. */
struct conn *
tls_conn_of(SSL *ssl)
{
	return SSL_get_ex_data(ssl, tls_conn_idx);
}

/*
 * Put the verified client certificate's SHA-256 fingerprint (lowercase
 * hex) in out; -1 if the client presented no verified certificate.
 */
int
tls_peer_fingerprint(SSL *ssl, char out[FPR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;
	X509 *cert;

	if ((cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return -1;
	if (SSL_get_verify_result(ssl) != X509_V_OK ||
	    X509_digest(cert, EVP_sha256(), md, &len) != 1 || len != 32) {
		X509_free(cert);
		return -1;
	}
	X509_free(cert);
	for (i = 0; i < len; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[FPR_LEN] = '\0';
	return 0;
}
