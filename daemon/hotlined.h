/*
 * hotlined: intake daemon for the 12355 youth hotline and minors'
 * mandatory reports.  This header is the architecture at a glance: shared
 * structs, limits and every cross-file prototype, grouped by file.
 */
#ifndef HOTLINED_H
#define HOTLINED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#define HOTLINED_VERSION	"0.1.0"

/* Limits (defaults; most are configurable). */
#define JSON_MAX_DEPTH		16	/* nesting levels accepted in a body */
#define ERR_FIELD_MAX		128	/* longest field path in an error */
#define ERR_MESSAGE_MAX		256	/* longest error message */
#define IDEMPOTENCY_KEY_MAX	128	/* longest Idempotency-Key header */

/*
 * An error answered to the client: HTTP status, machine-readable code,
 * the offending field (empty when none) and a message that never echoes
 * submitted values.
 */
struct api_error {
	int	 status;
	const char *code;
	char	 field[ERR_FIELD_MAX];
	char	 message[ERR_MESSAGE_MAX];
};

#include <openssl/ssl.h>
#include <libpq-fe.h>

struct event_base;
struct event;
struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct bufferevent;

/* Defaults for configurable limits. */
#define DEFAULT_PORT		12355
#define DEFAULT_MAX_BODY	(128 * 1024)	/* bytes of request body */
#define DEFAULT_MAX_HEADERS	(16 * 1024)	/* bytes of request headers */
#define DEFAULT_REQUEST_TIMEOUT	30	/* s: total per request, not idle */
#define DEFAULT_HANDSHAKE_TIMEOUT 10	/* s: TLS handshake */
#define DEFAULT_IDLE_TIMEOUT	60	/* s: keep-alive idle connection */
#define DEFAULT_MAX_CONNECTIONS	1024
#define DEFAULT_DB_POOL		4
#define DEFAULT_BATCH_MAX	32	/* submissions per group commit */
#define DEFAULT_QUEUE_MAX	4096	/* database jobs waiting, then 503 */
#define DEFAULT_RETRY_AFTER	2	/* s: Retry-After on 503 */
#define BODY_HARD_FACTOR	2	/* evhttp buffers up to this x max_body */
#define DB_RECONNECT_MIN_MS	200
#define DB_RECONNECT_MAX_MS	5000
#define IDENT_REFRESH_S		60	/* identity cache refresh period */
#define IDEM_EXPIRE_S		3600	/* how often old keys are expired */
#define IDEM_KEEP		"8 days"	/* keys are kept at least 7 days */
#define ACCEPT_PAUSE_MS		500	/* accept paused this long on EMFILE */
#define DRAIN_POLL_MS		50
#define INFLIGHT_BUCKETS	1024
#define REQUEST_ID_LEN		16

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* The configuration; see config.c for the keys and their defaults. */
struct config {
	char	 cf_listen[128];	/* host:port */
	char	 cf_tls_cert[1024];
	char	 cf_tls_key[1024];
	char	 cf_tls_client_ca[1024];
	char	 cf_database[1024];	/* libpq conninfo */
	char	 cf_master_key[1024];	/* master key file (wraps data keys) */
	char	 cf_hash_key[1024];	/* keyed-hash key file (dedupe) */
	int	 cf_db_pool;
	int	 cf_batch_max;
	int	 cf_queue_max;
	int	 cf_max_body;
	int	 cf_max_headers;
	int	 cf_request_timeout;
	int	 cf_handshake_timeout;
	int	 cf_idle_timeout;
	int	 cf_max_connections;
	int	 cf_retry_after;
	int	 cf_log_level;
};

/* A client identity, from the clients table (cached in ident.c). */
enum role {
	ROLE_NONE = 0,
	ROLE_OPERATOR,		/* 12355 hotline seat */
	ROLE_GATEWAY,		/* mandatory-report mini-program backend */
	ROLE_AGENCY,		/* an agency's system */
	ROLE_ADMIN,		/* administrators and statisticians */
};

struct ident {
	long long	 id_client;
	char		 id_fpr[65];	/* lowercase hex SHA-256 of the DER */
	enum role	 id_role;
	long long	 id_agency;	/* 0 when none */
	int		 id_revoked;
};

/*
 * A database job: one statement with text parameters.  Batchable jobs
 * (intake submissions) are grouped into one transaction with other
 * batchable jobs; the callback runs only after COMMIT, or with res NULL
 * when the outcome is unknown or the database is unavailable.
 */
enum db_outcome {
	DB_OK,			/* committed (or, unbatched, executed) */
	DB_ERROR,		/* the statement failed; nothing committed */
	DB_UNKNOWN,		/* connection lost around COMMIT */
	DB_UNAVAILABLE,		/* no connection, or queue full */
};

/* The prepared statements (stmt.c); a job names its statement by these. */
enum stmt {
	STMT_INTAKE_CALL,
	STMT_INTAKE_REPORT,
	STMT_CASE_VIEW,
	STMT_CLIENT_LIST,
	STMT_PING,
	STMT_IDEM_EXPIRE,
	STMT_QUEUE_LIST,
	STMT_ASSIGNMENT_ACK,
	STMT_CASE_POST_EVENT,
	STMT_ASSIGNMENT_TRANSFER,
	STMT_REPORT_STATUS,
	STMT_SUPERVISION_OVERDUE,
	STMT_ESCALATE_DUE,
	STMT_CLOCK_NEXT_DUE,
	STMT_CASE_KEY,
	STMT_ACCESS_REQUEST_CREATE,
	STMT_ACCESS_APPROVE,
	STMT_ACCESS_DENY,
	STMT_ACCESS_REQUEST_LIST,
	STMT_ACCESS_LOG_VIEW,
	STMT_COUNT
};

#define DB_MAX_PARAMS	5
struct dbjob;
typedef void (*db_done_cb)(struct dbjob *, enum db_outcome, PGresult *,
	    void *);

struct dbjob {
	struct dbjob	*dj_next;
	enum stmt	 dj_stmt;
	int		 dj_nparams;
	char		*dj_params[DB_MAX_PARAMS];	/* owned, may be NULL */
	int		 dj_batchable;
	int		 dj_solo;	/* retry alone after a batch failed */
	PGresult	*dj_result;	/* held until COMMIT */
	db_done_cb	 dj_done;
	void		*dj_arg;
	char		 dj_scope[32];	/* hotline.scope; "" sees no rows */
};

/* A database connection's state (dbconn.c). */
enum dbc_state {
	DBC_DOWN,		/* not connected; a retry timer may be armed */
	DBC_CONNECTING,		/* PQconnectPoll in progress */
	DBC_PREPARING,		/* statements (or LISTENs) being sent */
	DBC_IDLE,		/* ready for a segment */
	DBC_BUSY,		/* a segment is in flight */
	DBC_LISTENING,		/* the LISTEN connection, ready */
};
struct dbconn;

/* Per-connection state; its lifetime is the SSL object's (tls.c). */
struct request;
struct conn {
	struct bufferevent	*cn_bev;
	struct event		*cn_deadline;
	struct request		*cn_req;	/* being handled, or NULL */
	unsigned long long	 cn_id;
	int			 cn_handshaken;
	int			 cn_nul;	/* a NUL byte arrived */
	int			 cn_idle;	/* between requests */
};

/* A request handed to api.c; owned by server.c until replied. */
enum req_state {
	REQ_HANDLING,		/* handler running or waiting for the db */
	REQ_REPLIED,		/* answered; waiting only for the db job */
};

struct request {
	struct evhttp_request	*rq_req;	/* NULL once replied or gone */
	struct conn		*rq_conn;	/* NULL once replied or gone */
	char			 rq_id[REQUEST_ID_LEN + 1];
	const char		*rq_method;
	const char		*rq_route;
	char			 rq_fpr[65];	/* client certificate */
	int			 rq_has_cert;
	struct ident		 rq_ident;	/* copy: the cache may reload */
	long long		 rq_client;	/* client id for logs, 0 none */
	enum req_state		 rq_state;
	int			 rq_status;
	const char		*rq_errcode;
	double			 rq_start;	/* monotonic seconds */
	struct dbjob		*rq_job;	/* pending db job, or NULL */
	char			*rq_inflight;	/* idempotency slot, or NULL */
	int			 rq_close;	/* add Connection: close */
};

/* log.c */
void	 log_init(int foreground, int level);
void	 log_setlevel(int level);
int	 log_getlevel(void);
void	 log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_errorx(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
double	 mono_now(void);

/* config.c */
void	 config_defaults(struct config *);
int	 config_load(struct config *, const char *path);
int	 config_parse_level(const char *, int *);
int	 config_split_listen(const char *, char *host, size_t, int *port);

/* tls.c */
SSL_CTX	*tls_ctx_new(const struct config *);
int	 tls_init(void);
SSL	*tls_conn_new(SSL_CTX *, struct conn *);
struct conn *tls_conn_of(SSL *);
int	 tls_peer_fingerprint(SSL *, char out[65]);
void	 tls_set_conn_cbs(void (*)(struct conn *), void (*)(struct conn *));

/* server.c */
int	 server_init(struct event_base *, struct config *);
int	 server_reload_tls(void);
void	 server_drain(void);
int	 server_drained(void);
void	 server_shutdown(void);
void	 request_reply(struct request *, int status, const char *body,
	    const char *extra_name, const char *extra_value);
void	 request_reply_error(struct request *, const struct api_error *);
void	 request_finish(struct request *);
int	 server_draining(void);

/* db.c */
int	 db_init(struct event_base *, const struct config *);
int	 db_submit(struct dbjob *);
struct dbjob *db_job_new(enum stmt, int batchable, db_done_cb, void *);
void	 db_job_finish(struct dbjob *, enum db_outcome);
struct dbjob *db_take(int *n);
void	 db_requeue(struct dbjob *);
void	 db_dispatch(void);
void	 db_conn_lost(void);
int	 db_job_param(struct dbjob *, int idx, const char *value,
	    size_t len);
void	 db_job_free(struct dbjob *);
void	 db_job_scope(struct dbjob *, const char *);
int	 db_connected(void);
int	 db_busy(void);
int	 db_listen(const char *const *channels, void (*cb)(const char *));
void	 db_shutdown(void);

/* dbconn.c */
struct dbconn *dbconn_new(struct event_base *, const struct config *, int idx,
	    const char *const *channels, void (*notify)(const char *));
enum dbc_state dbconn_state(const struct dbconn *);
void	 dbconn_start(struct dbconn *);
void	 dbconn_close(struct dbconn *);

/* stmt.c */
int	 stmt_check(void);
const char *stmt_name(enum stmt);
const char *stmt_sql(enum stmt);
int	 stmt_nparams(enum stmt);

/* ident.c */
int	 ident_init(struct event_base *);
const struct ident *ident_lookup(const char *fpr);
int	 ident_ready(void);
void	 ident_notify(void);
void	 ident_shutdown(void);

/* api.c */
void	 api_dispatch(struct request *, struct evhttp_request *);
int	 api_init(struct event_base *, const struct config *);
void	 api_shutdown(void);
void	 api_request_gone(struct request *);
void	 api_queue_notify(void);

/* escalate.c */
int	 escalate_init(struct event_base *);
void	 escalate_notify(void);
void	 escalate_shutdown(void);

/* Notification channels (LISTEN) and what they mean. */
#define CHANNEL_CLIENTS	"hotline_clients"	/* clients table changed */
#define CHANNEL_QUEUE	"hotline_queue"		/* new assignments */
#define CHANNEL_CLOCK	"hotline_clock"		/* a clock was started */

/* json.c */
/*
 * Parse buf (len bytes) as strict RFC 8259 JSON into a json-c tree.
 * Returns NULL and fills err (400 invalid_json) on any deviation.
 */
struct json_object *json_parse_strict(const char *buf, size_t len,
    int max_depth, struct api_error *err);

/* validate.c */
/* Check a POST /v1/calls body; 0 if valid, else -1 with err filled. */
int	 validate_call(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check a POST /v1/reports body; 0 if valid, else -1 with err filled. */
int	 validate_report(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check a POST /v1/cases/{n}/events body. */
int	 validate_event(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check a POST /v1/assignments/{id}/transfer body. */
int	 validate_transfer(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check a POST /v1/cases/{n}/access-requests body. */
int	 validate_access_request(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check an Idempotency-Key header value; 0 if valid. */
int	 validate_idempotency_key(const char *key);
/* Check a case number path component; 0 if well formed. */
int	 validate_case_number(const char *s);

/* crypto.c: envelope encryption of personal data and keyed hashes */
/*
 * The master key file holds one key per line, "<kid> <64 hex digits>"
 * ('#' comments and blank lines allowed); the first is current (wraps new
 * data keys), the others only unwrap.  The hash key file holds one line of
 * 64 hex digits.  Both must be regular files (not symbolic links) that
 * group and others may not read.
 *
 * A data key (DEK) is 32 random bytes with a random UUID; it is stored
 * wrapped: AES-256-GCM under the master key <kid>, with associated data
 * "hotlined/dek/v1|<uid>|<kid>", as nonce(12) | ciphertext(32) | tag(16).
 * A field is sealed with AES-256-GCM under its DEK, associated data
 * "hotlined/field/v1|<uid>|<field>", as 0x01 | nonce(12) | ct | tag(16):
 * a value moved to another case (uid) or field fails to open.
 */
#define KEY_LEN		32
#define KID_MAX		32	/* [a-z0-9_-]{1,32} */
#define DEK_UID_LEN	36	/* UUID text */
#define WRAPPED_LEN	(12 + KEY_LEN + 16)
#define SEAL_OVERHEAD	(1 + 12 + 16)
#define DIGEST_LEN	32

struct keyring;
struct dek {
	char		 dk_uid[DEK_UID_LEN + 1];
	char		 dk_kid[KID_MAX + 1];	/* the master key that wraps it */
	unsigned char	 dk_key[KEY_LEN];
};

/* Load both key files; NULL with a message in err (no key material). */
struct keyring *keyring_load(const char *master_path, const char *hash_path,
	    char *err, size_t errlen);
void	 keyring_free(struct keyring *);
const char *keyring_current(const struct keyring *);	/* current kid */
int	 keyring_has(const struct keyring *, const char *kid);
/* A fresh DEK wrapped under the current master key; 0 on success. */
int	 dek_new(const struct keyring *, struct dek *,
	    unsigned char wrapped[WRAPPED_LEN]);
/* Unwrap; -1 (d cleared) if the kid is unknown or the wrapped key does
 * not open.  uid and kid may point into d. */
int	 dek_unwrap(const struct keyring *, const char *uid, const char *kid,
	    const unsigned char *wrapped, size_t len, struct dek *);
/* Wrap a DEK under master key kid (rotation); sets d->dk_kid. */
int	 dek_wrap(const struct keyring *, struct dek *d, const char *kid,
	    unsigned char wrapped[WRAPPED_LEN]);
void	 dek_clear(struct dek *);
/* Seal plen bytes into out (plen + SEAL_OVERHEAD bytes); 0 on success. */
int	 field_seal(const struct dek *, const char *field, const void *pt,
	    size_t plen, unsigned char *out);
/* Open a sealed field: *out is malloc'd and NUL-terminated; -1 on any
 * failure (wrong key, field, case, version or a changed byte). */
int	 field_open(const struct dek *, const char *field,
	    const unsigned char *ct, size_t clen, char **out, size_t *outlen);
/* HMAC-SHA256 under the hash key of "hotlined/<kind>/v1|" + data; kind
 * must match [a-z0-9_-]{1,32}. */
int	 keyed_digest(const struct keyring *, const char *kind,
	    const void *data, size_t len, unsigned char out[DIGEST_LEN]);
/* Normalise an identifier for a keyed digest: "id" (ID number: upper
 * case), "name_birth" (name without white space, ASCII lower-cased, "|",
 * birth date), "phone" (digits only; a +86/0086 prefix dropped, and a
 * landline's trunk 0 put back).  a2 is the birth date for name_birth, else
 * NULL.  0; or -1 (out left empty) if empty, unknown or too long. */
int	 ident_normalise(const char *kind, const char *a1, const char *a2,
	    char *out, size_t outlen);
/* Standard base64 without line breaks; the result is malloc'd. */
char	*b64_encode(const unsigned char *, size_t);
/* Decode strict standard base64; malloc'd bytes, NULL if malformed. */
unsigned char *b64_decode(const char *, size_t len, size_t *outlen);

/* protect.c: personal data sealed on the way in, opened on the way out */
int	 protect_init(const struct config *);
int	 protect_reload(void);
void	 protect_shutdown(void);
int	 protect_submission(struct json_object *body, int report);
int	 protect_note(struct json_object *body, const char *key);
char	*protect_view(const char *json);
int	 protect_request_hash(const char *endpoint, const char *target,
	    const char *body, size_t len, char out[2 + 2 * DIGEST_LEN + 1]);

/* error.c */
/* Fill err; fmt is the message (never include submitted values). */
void	 error_set(struct api_error *err, int status, const char *code,
	    const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

#endif /* HOTLINED_H */
