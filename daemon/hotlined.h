/*
 * hotlined: intake daemon for the 12355 youth hotline and minors'
 * mandatory reports.  This header is the architecture at a glance: the
 * limits, the shared structs and every cross-file prototype, grouped by
 * file (daemon/DESIGN.md says what each file owns).  The request
 * validator's own schema types are in validate.h.
 */
#ifndef HOTLINED_H
#define HOTLINED_H

#include <sys/types.h>

#include <stddef.h>

#include <json-c/json.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>

struct event_base;
struct evhttp_request;
struct bufferevent;
struct event;

#define HOTLINED_VERSION	"0.1.0"

/* On every response: clients must never fall back to plain HTTP. */
#define HSTS_VALUE		"max-age=31536000"

/* Limits.  The DEFAULT_ ones are defaults of configuration keys. */
#define DEFAULT_PORT		12355
#define DEFAULT_METRICS_PORT	9355	/* on 127.0.0.1; metrics_listen */
#define DEFAULT_MAX_BODY	(128 * 1024)	/* bytes of request body */
#define DEFAULT_MAX_HEADERS	(16 * 1024)	/* bytes of request headers */
#define DEFAULT_REQUEST_TIMEOUT	30	/* s: total per request, not idle */
#define DEFAULT_HANDSHAKE_TIMEOUT 10	/* s: TLS handshake */
#define DEFAULT_IDLE_TIMEOUT	60	/* s: keep-alive idle connection */
#define DEFAULT_MAX_CONNECTIONS	16384	/* lowered to fit the descriptors */
#define DEFAULT_MAX_ANON	256	/* connections without a certificate */
#define DEFAULT_ANON_TIMEOUT	5	/* s: such a connection, in all */
#define DEFAULT_MAX_HANDSHAKES	64	/* handshakes at once per address */
#define DEFAULT_LIVENESS_TIMEOUT 180	/* s: /readyz's stall limit */
#define DEFAULT_KEY_RETIRE_GRACE 600	/* s: a master key out of use before
					   hotlinectl keys retire drops it */
#define FD_RESERVE		32	/* descriptors kept from connections,
					   besides the database pool */
#define FD_LIMIT_MAX		1048576	/* RLIMIT_NOFILE asked for at most */
#define DEFAULT_DB_POOL		4
#define DEFAULT_BATCH_MAX	32	/* submissions per group commit */
#define DEFAULT_BATCH_CONNS	2	/* group commits in flight at once */
#define DEFAULT_ESC_WORKERS	2	/* escalation passes at once */
#define DEFAULT_QUEUE_MAX	4096	/* database jobs waiting, then 503 */
#define DEFAULT_RETRY_AFTER	2	/* s: Retry-After on 503 */
#define BODY_HARD_FACTOR	2	/* evhttp buffers up to this x max_body */
#define JSON_MAX_DEPTH		16	/* nesting levels accepted in a body */
#define ERR_CODE_MAX		48	/* longest error code, with its NUL */
#define ERR_FIELD_MAX		128	/* longest field path in an error */
#define ERR_MESSAGE_MAX		256	/* longest error message */
#define IDEMPOTENCY_KEY_MAX	128	/* longest Idempotency-Key header */
#define REQUEST_ID_LEN		16	/* hex digits */
#define FPR_LEN			64	/* hex digits of a SHA-256 */
#define ACCEPT_PAUSE_MS		500	/* accept paused this long on EMFILE */
#define DRAIN_POLL_MS		50
#define SHUTDOWN_FLUSH_MS	200	/* for the last answers to be written */
#define DB_MAX_PARAMS		6	/* parameters of one statement */
#define DB_RECONNECT_MIN_MS	200
#define DB_RECONNECT_MAX_MS	5000
#define IDENT_REFRESH_S		60	/* identity cache refresh period */
#define IDENT_RETRY_S		1	/* after a failed load */
#define IDEM_FIRST_S		30	/* first expiry of old keys after start */
#define IDEM_EXPIRE_S		3600	/* how often old keys are expired */
#define IDEM_KEEP		"8 days"	/* keys are kept at least 7 days */
#define INFLIGHT_BUCKETS	1024
#define STATS_FIRST_S		2	/* s: first statistics refresh */
#define STATS_REFRESH_S		10	/* s: then; a full batch: at once */
#define STATS_BATCH		5000	/* queued changes counted at a time */
#define STATS_ARG_MAX		128	/* bytes of a GET /v1/stats parameter */
#define CLIENT_NAME_MAX		64	/* bytes of a client's name in logs */
#define STATIC_NAME_MAX		63	/* bytes of a console file's name */
#define STATIC_FILES_MAX	64	/* console files served */
#define STATIC_FILE_MAX		(1024 * 1024)	/* bytes of one console file */
#define STATIC_BYTES_MAX	(8 * 1024 * 1024)	/* of all of them */
#define CENTRE_LEN		6	/* a centre's region code */

/*
 * The advisory lock (two int4 keys) that every transaction storing a new
 * wrapped data key holds shared, and hotlinectl keys retire takes
 * exclusively: a retirement waits for such transactions in flight
 * (daemon/DESIGN.md, "Master keys").
 */
#define KEYS_LOCK_KEYS	"12355, 1"

/* Notification channels (LISTEN) and what they mean. */
#define CHANNEL_CLIENTS	"hotline_clients"	/* clients table changed */
#define CHANNEL_QUEUE	"hotline_queue"		/* new assignments */
#define CHANNEL_CLOCK	"hotline_clock"		/* a clock was started */

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* The configuration; see config.c for the keys and their defaults. */
struct config {
	char	 cf_listen[128];	/* host:port */
	char	 cf_metrics_listen[128];	/* host:port, "" disabled */
	char	 cf_tls_cert[1024];
	char	 cf_tls_key[1024];
	char	 cf_tls_client_ca[1024];
	char	 cf_database[1024];	/* libpq conninfo */
	char	 cf_master_key[1024];	/* master key file (wraps data keys) */
	char	 cf_hash_key[1024];	/* keyed-hash key file (dedupe) */
	char	 cf_console_dir[1024];	/* the web console's files, "" none */
	int	 cf_db_pool;
	int	 cf_batch_max;
	int	 cf_batch_conns;
	int	 cf_esc_workers;	/* escalation passes at once */
	int	 cf_queue_max;
	int	 cf_max_body;
	int	 cf_max_headers;
	int	 cf_request_timeout;
	int	 cf_handshake_timeout;
	int	 cf_idle_timeout;
	int	 cf_max_connections;
	int	 cf_max_anon;		/* connections without a certificate */
	int	 cf_anon_timeout;
	int	 cf_max_handshakes;	/* per source address */
	int	 cf_liveness_timeout;
	int	 cf_key_retire_grace;	/* hotlinectl keys retire */
	int	 cf_retry_after;
	int	 cf_log_level;
};

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

/* A client's role, from the clients table; decides what it may call. */
enum role {
	ROLE_NONE = 0,		/* a role this daemon does not know */
	ROLE_OPERATOR,		/* 12355 hotline seat */
	ROLE_GATEWAY,		/* mandatory-report mini-program backend */
	ROLE_AGENCY,		/* an agency's system */
	ROLE_ADMIN,		/* administrators */
	ROLE_STATISTICIAN,	/* statistics only: counts, never a person */
};

/* Sets of roles a route admits (route.c). */
#define ROLE_BIT(r)	(1u << (r))
#define ROLES_PUBLIC	0u	/* no client certificate needed */
#define ROLES_ANY	(ROLE_BIT(ROLE_NONE) | ROLE_BIT(ROLE_OPERATOR) | \
			    ROLE_BIT(ROLE_GATEWAY) | ROLE_BIT(ROLE_AGENCY) | \
			    ROLE_BIT(ROLE_ADMIN))	/* any registered client
						   but a statistician */

/* A client identity (cached in ident.c). */
struct ident {
	long long	 id_client;
	char		 id_name[CLIENT_NAME_MAX + 1];	/* for logs only */
	char		 id_fpr[FPR_LEN + 1];	/* of the certificate's DER */
	enum role	 id_role;
	long long	 id_agency;	/* 0 when none */
	char		 id_centre[CENTRE_LEN + 1];	/* an operator's, or "" */
	int		 id_revoked;
};

/* The prepared statements (stmt.c); a job names its statement by these. */
enum stmt {
	STMT_INTAKE_CALL,
	STMT_INTAKE_REPORT,
	STMT_INTAKE_REPORTS,	/* a batch of STMT_INTAKE_REPORT (dbbatch.c) */
	STMT_CASE_VIEW,
	STMT_CLIENT_LIST,
	STMT_IDEM_EXPIRE,
	STMT_QUEUE_LIST,
	STMT_QUEUE_TOUCHED,
	STMT_ASSIGNMENT_ACK,
	STMT_CASE_POST_EVENT,
	STMT_ASSIGNMENT_TRANSFER,
	STMT_REPORT_STATUS,
	STMT_SUPERVISION_OVERDUE,
	STMT_SUPERVISION_RECORDS,
	STMT_ESCALATE_DUE,
	STMT_CLOCK_NEXT_DUE,
	STMT_CLOCK_DUE_IDS,
	STMT_ESCALATE_CLOCKS,
	STMT_CLOCK_SET_ASIDE,
	STMT_CASE_KEY,
	STMT_ACCESS_REQUEST_CREATE,
	STMT_ACCESS_APPROVE,
	STMT_ACCESS_DENY,
	STMT_ACCESS_REQUEST_LIST,
	STMT_ACCESS_LOG_VIEW,
	STMT_SCHEMA_VERSION,
	STMT_STATS_VIEW,
	STMT_STATS_REFRESH,
	STMT_CASE_OPEN,
	STMT_WORK_KEY,
	STMT_CASE_NOTE,
	STMT_CASE_RISK,
	STMT_CASE_CATEGORIES,
	STMT_CASE_CHILD,
	STMT_CASE_LINK,
	STMT_REPORT_SUPPLEMENT,
	STMT_CASE_LIST,
	STMT_CALLER_HISTORY,
	STMT_CHILD_CASES,
	STMT_COUNT
};

/*
 * A database job: one statement with text parameters.  Batchable jobs
 * (intake submissions) are grouped into one transaction with other
 * batchable jobs; the callback runs only after COMMIT, or with res NULL
 * when the outcome is unknown or the database is unavailable, and always
 * from the event loop: never inside the db_submit() that queued the job.
 */
enum db_outcome {
	DB_OK,			/* committed (or, unbatched, executed) */
	DB_ERROR,		/* the statement failed; nothing committed */
	DB_UNKNOWN,		/* connection lost around COMMIT */
	DB_UNAVAILABLE,		/* no connection, or queue full */
};

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
	char		 dj_sqlstate[6];	/* of a failed statement, or "" */
	double		 dj_queued;	/* when submitted (mono) */
	double		 dj_expires;	/* not sent after this (mono); 0 never */
};

/* A database connection's state (dbconn.c). */
enum dbc_state {
	DBC_DOWN,		/* not connected; a retry timer may be armed */
	DBC_CONNECTING,		/* PQconnectPoll in progress */
	DBC_PREPARING,		/* statements (or LISTENs) being sent */
	DBC_IDLE,		/* ready for a segment */
	DBC_BUSY,		/* a segment is in flight */
	DBC_LISTENING,		/* the LISTEN connection, ready */
	DBC_NSTATES
};
struct dbconn;

/* Where a connection is (server.c); every phase has its own deadline. */
enum conn_phase {
	CONN_ACCEPTED,		/* just accepted; its address not looked at */
	CONN_HANDSHAKE,		/* TLS handshake under way, counted against its
				   source address (max_handshakes_per_address) */
	CONN_CERTIFIED,		/* handshake done with a client certificate */
	CONN_ANON,		/* handshake done without one: counted against
				   max_anon_connections, anon_timeout in all,
				   closed after its one answer */
};

/* Per-connection state; its lifetime is the SSL object's (tls.c). */
struct request;
struct peer;
struct conn {
	struct bufferevent	*cn_bev;
	struct event		*cn_deadline;
	struct request		*cn_req;	/* being handled, or NULL */
	struct peer		*cn_peer;	/* its address while handshaking */
	unsigned long long	 cn_id;
	enum conn_phase		 cn_phase;
	int			 cn_handshaken;
	int			 cn_certified;	/* handshaken with a verified
						   client certificate */
	int			 cn_timedout;	/* its deadline passed */
	char			 cn_tls_failure[40];	/* why the handshake
						   failed: its first TLS alert
						   or error, or "" */
	int			 cn_nul;	/* a NUL byte arrived */
	int			 cn_idle;	/* between requests */
};

/*
 * Where a request is in its life (request.c), in order.  A request not
 * yet answered is PARSING, SEALING, WAITING or PARKED; the connection's
 * deadline answers such a request 503.
 */
enum req_state {
	REQ_PARSING,		/* read; being checked, routed, authenticated
				   and validated, all within one callback */
	REQ_SEALING,		/* its personal data being sealed: at once for
				   a submission; a note first waits for its
				   case's data key (a job) */
	REQ_WAITING,		/* its database job is out; the reply follows
				   the job's result */
	REQ_PARKED,		/* a long poll that found nothing, waiting for
				   a NOTIFY (then WAITING again) or its wait
				   to end (then answered) */
	REQ_REPLYING,		/* being answered and logged; freed next if no
				   job is out */
	REQ_ORPHANED,		/* answered (the deadline passed) while its job
				   is out: the job's result is dropped and the
				   request freed.  A client that disconnects
				   does not orphan its request: the work goes
				   on, logged with client_gone=1 */
};

/* A request, from its reading until it is answered and no job is out. */
struct request {
	struct request		*rq_next, *rq_prev;	/* every live one */
	struct evhttp_request	*rq_req;	/* NULL once replied or gone */
	struct conn		*rq_conn;	/* NULL once replied or gone */
	char			 rq_id[REQUEST_ID_LEN + 1];
	const char		*rq_method;
	const char		*rq_route;	/* its name in the log line */
	char			 rq_fpr[FPR_LEN + 1];	/* client certificate */
	int			 rq_has_cert;
	struct ident		 rq_ident;	/* copy: the cache may reload */
	long long		 rq_client;	/* client id for logs, 0 none */
	enum req_state		 rq_state;	/* request_enter_state() only */
	int			 rq_status;
	char			 rq_code[ERR_CODE_MAX];	/* error code, or "" */
	double			 rq_start;	/* monotonic seconds */
	struct dbjob		*rq_job;	/* pending db job, or NULL */
	char			*rq_inflight;	/* idempotency slot, or NULL */
	int			 rq_close;	/* add Connection: close */
};

/* A route's handler (route.c); id is its path parameter, or NULL. */
typedef void (*route_handler)(struct request *, struct evhttp_request *,
	    const char *id);

/*
 * A query-string parameter a GET takes: a word from a list, a number, or a
 * text copied into qa_buf, which qa_check accepts (NULL: its handler
 * checks it).
 */
struct query_arg {
	const char		*qa_name;
	const char *const	*qa_words;	/* NULL-terminated; NULL: number
						   or text */
	int			(*qa_check)(const char *);	/* a text: 0 if
						   valid, or NULL */
	long			 qa_min, qa_max;	/* a number's range */
	const char		*qa_rule;	/* the 400's message */
	char			*qa_buf;	/* a text: where it goes (NULL: not
						   a text) */
	size_t			 qa_buflen;
	const char		*qa_word;	/* out: given, or NULL */
	long			 qa_num;	/* out: given, or -1 */
	const char		*qa_text;	/* out: qa_buf if given, or NULL */
};

/*
 * The metrics other files report (metrics.c), each a counter, a gauge or a
 * histogram; metrics.c names them, and the label a labelled one takes.
 */
enum metric {
	M_CONNECTIONS,		/* gauge {state}: handshake, certified,
				   uncertified */
	M_TLS_HANDSHAKE_FAILURES, /* counter {reason}: timeout, closed, or
				   the TLS alert ("peer_" when received) */
	M_DB_BATCH_SIZE,	/* histogram: submissions per group commit */
	M_DB_ROUNDTRIP,		/* histogram: a segment's send to its Sync */
	M_DB_CONN_FAILURES,	/* counter {reason}: connections torn down */
	M_LONGPOLL_WAITERS,	/* gauge: long polls waiting */
	M_IDENT_RELOADS,	/* counter {result} */
	M_IDENT_CLIENTS,	/* gauge: clients in the identity cache */
	M_KEY_RELOADS,		/* counter {result} */
	M_ESC_PASSES,		/* counter {result} */
	M_CLOCKS_HANDLED,	/* counter: warnings and missed deadlines */
	M_CLOCKS_ESCALATED,	/* counter: assignments escalated */
	M_CLOCKS_SET_ASIDE,	/* counter */
	M_CLOCKS_NEXT_DUE,	/* gauge: epoch seconds, NaN when none */
	M_COUNT
};

/* What db_stats() reports of the pool (metrics.c reads it). */
struct db_stats {
	int	 ds_pool[DBC_NSTATES];	/* pool connections by state */
	int	 ds_listen;		/* the listener's state, -1 none */
	int	 ds_queued;		/* jobs waiting for a connection */
};

/*
 * Envelope encryption (crypto.c).  The master key file holds one key per
 * line, "<kid> <64 hex digits>" ('#' comments and blank lines allowed);
 * the first is current (wraps new data keys), the others only unwrap.
 * The hash key file holds one line of 64 hex digits.  Both must be regular
 * files (not symbolic links) that group and others may not read.
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
#define NOTE_ID_LEN	16	/* random bytes naming a note (note:<hex>) */

struct keyring;
struct dek {
	char		 dk_uid[DEK_UID_LEN + 1];
	char		 dk_kid[KID_MAX + 1];	/* the master key that wraps it */
	unsigned char	 dk_key[KEY_LEN];
};

/* What a POST changes and how (mutate.c). */
struct mutation;

/* api.c */
int	 api_init(struct event_base *, const struct config *);
void	 api_shutdown(void);
int	 api_authenticate(struct request *);
void	 api_scope(struct request *, struct dbjob *, int intake);
int	 api_submit(struct request *, struct dbjob *, enum req_state);
int	 api_job_begin(struct request *, struct dbjob *, enum db_outcome,
	    PGresult *);
void	 api_job_failed(struct request *, enum db_outcome);
int	 api_job_row(struct request *, struct dbjob *, enum db_outcome,
	    PGresult *, int col);
void	 api_fail(struct request *, int status, const char *code,
	    const char *field, const char *message);
void	 api_unavailable(struct request *, const char *message);
void	 api_outcome_unknown(struct request *);
void	 api_health(struct request *, struct evhttp_request *, const char *);
void	 api_ready(struct request *, struct evhttp_request *, const char *);
void	 api_case(struct request *, struct evhttp_request *, const char *);
void	 api_access_log(struct request *, struct evhttp_request *,
	    const char *);
void	 api_report_status(struct request *, struct evhttp_request *,
	    const char *);
void	 api_supervision(struct request *, struct evhttp_request *,
	    const char *);
void	 api_supervision_records(struct request *, struct evhttp_request *,
	    const char *);
void	 api_access_list(struct request *, struct evhttp_request *,
	    const char *);
void	 api_version(struct request *, struct evhttp_request *, const char *);
void	 api_stats(struct request *, struct evhttp_request *, const char *);
void	 api_read(struct request *, enum stmt, db_done_cb,
	    const char *const *params, int n);
void	 api_read_done(struct dbjob *, enum db_outcome, PGresult *, void *);

/* caseload.c */
void	 caseload_list(struct request *, struct evhttp_request *,
	    const char *);
void	 caseload_caller(struct request *, struct evhttp_request *,
	    const char *);
void	 caseload_child(struct request *, struct evhttp_request *,
	    const char *);

/* config.c */
void	 config_defaults(struct config *);
int	 config_load(struct config *, const char *path);
int	 config_parse_buf(struct config *, const char *name, const char *buf,
	    size_t len);
int	 config_parse_level(const char *, int *);
int	 config_split_listen(const char *, char *host, size_t, int *port);

/* crypto.c */
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
/* Standard base64 without line breaks; the result is malloc'd. */
char	*b64_encode(const unsigned char *, size_t);
/* Decode strict standard base64; malloc'd bytes, NULL if malformed. */
unsigned char *b64_decode(const char *, size_t len, size_t *outlen);
/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void	 hex_encode(const unsigned char *, size_t len, char *out);
/* len random bytes into buf; 0 on success. */
int	 random_bytes(unsigned char *, size_t len);
/* Decode exactly 2 * outlen hex digits (either case) from s (len bytes);
 * 0, or -1 if they are not that. */
int	 hex_decode(const char *s, size_t len, unsigned char *out,
	    size_t outlen);

/* db.c */
int	 db_init(struct event_base *, const struct config *);
int	 db_listen(const char *const *channels, void (*cb)(const char *));
void	 db_shutdown(void);
struct dbjob *db_job_new(enum stmt, int batchable, db_done_cb, void *);
int	 db_job_param(struct dbjob *, int idx, const char *value,
	    size_t len);
void	 db_job_scope(struct dbjob *, const char *);
void	 db_job_free(struct dbjob *);
int	 db_submit(struct dbjob *);
void	 db_kick(void);
int	 db_connected(void);
int	 db_busy(void);
void	 db_round_trip(void);
double	 db_last_round_trip(void);
double	 db_waiting_since(void);
void	 db_job_finish(struct dbjob *, enum db_outcome);
struct dbjob *db_take(int *n);
void	 db_requeue(struct dbjob *);
void	 db_conn_lost(void);
void	 db_stats(struct db_stats *);

/* dbhost.c */
int	 dbhost_init(const char *conninfo);
int	 dbhost_count(void);
int	 dbhost_timeout(void);
const char *dbhost_name(int);
PGconn	*dbhost_connect(int, const char *app_name);

/* dbbatch.c */
int	 dbbatch_count(const struct dbjob *);
struct dbjob *dbbatch_order(struct dbjob *);
int	 dbbatch_send(PGconn *, const struct dbjob *, int n);
int	 dbbatch_split(const PGresult *, struct dbjob *, int n);

/* dbconn.c */
struct dbconn *dbconn_new(struct event_base *, const struct config *,
	    int idx, const char *const *channels, void (*notify)(const char *));
enum dbc_state dbconn_state(const struct dbconn *);
int	 dbconn_batching(const struct dbconn *);
const char *dbconn_state_name(enum dbc_state);
double	 dbconn_busy_since(const struct dbconn *);
void	 dbconn_start(struct dbconn *);
void	 dbconn_close(struct dbconn *);

/* error.c */
/* Fill err; fmt is the message (never include submitted values). */
void	 error_set(struct api_error *err, int status, const char *code,
	    const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

/* escalate.c */
int	 escalate_init(struct event_base *, const struct config *);
void	 escalate_notify(void);
double	 escalate_last_pass(void);
void	 escalate_shutdown(void);

/* idem.c */
int	 idem_init(struct event_base *);
void	 idem_shutdown(void);
int	 idem_claim(struct request *, const char *key);
void	 idem_release(struct request *);

/* ident.c */
int	 ident_init(struct event_base *, const struct config *);
void	 ident_shutdown(void);
const struct ident *ident_lookup(const char *fpr);
int	 ident_ready(void);
double	 ident_last_load(void);
void	 ident_notify(void);
/* json.c */
/* Parse buf (len bytes) as strict RFC 8259 JSON into a json-c tree;
 * NULL with err filled (400 invalid_json) on any deviation. */
struct json_object *json_parse_strict(const char *buf, size_t len,
	    int max_depth, struct api_error *err);

/* keyfile.c: reading, parsing and replacing the key files */
/*
 * Both files are read only through keyfile_read(): a regular file (not a
 * symbolic link, FIFO or device) that group and others may not read or
 * write, at most KEYFILE_MAX bytes, then parsed from memory, which refuses
 * a NUL byte.  Errors name the file and line, never a key.  The master key
 * file is changed only by hotlinectl: under a lock (<path>.new, created
 * O_EXCL), the new text is written there with the old file's owner and
 * mode 600, read back and checked, then renamed over the old file.
 * Daemons notice the change by inode, size and modification time.
 */
#define KEYFILE_MAX		(64 * 1024)	/* bytes in a key file */
#define KEYFILE_RELOAD_S	1	/* a daemon looks at it at most this often
					   before it makes a new data key */
#define KEYFILE_KEYS_MAX	64	/* master keys in one file */
#define KEYFILE_HEADER	"# hotlined master keys: <kid> <hex>; the first is current"

struct stat;

struct master_key {
	char		 mk_kid[KID_MAX + 1];
	unsigned char	 mk_key[KEY_LEN];
};

/* What a rewritten master key file must hold before it replaces the old. */
struct keyfile_want {
	const char	*kw_current;	/* its current kid */
	const char	*kw_gone;	/* a kid it must not have, or NULL */
	char		(*kw_kids)[KID_MAX + 1];	/* kids it must keep */
	int		 kw_nkids;
	const char	*kw_hash;	/* hash key file that must load too */
};

int	 keyfile_kid_valid(const char *, size_t len);
/* The checked text of a key file, NUL-terminated; NULL with err. */
char	*keyfile_read(const char *path, struct stat *, size_t *len,
	    char *err, size_t errlen);
void	 keyfile_text_free(char *, size_t len);
/* Parse from memory (name is for messages); keys holds KEYFILE_KEYS_MAX,
 * the first current.  0, or -1 with err and nothing kept. */
int	 keyfile_parse_master(const char *name, const char *text, size_t len,
	    struct master_key *keys, int *n, char *err, size_t errlen);
int	 keyfile_parse_hash(const char *name, const char *text, size_t len,
	    unsigned char key[KEY_LEN], char *err, size_t errlen);
/* Read and parse; the stat (if not NULL) is the file's that was read. */
int	 keyfile_load_master(const char *path, struct master_key *keys,
	    int *n, struct stat *, char *err, size_t errlen);
int	 keyfile_load_hash(const char *path, unsigned char key[KEY_LEN],
	    char *err, size_t errlen);
/* The key ids of a master key file's text, in order (no key kept). */
int	 keyfile_kids(const char *name, const char *text, size_t len,
	    char (*kids)[KID_MAX + 1], int *n, char *err, size_t errlen);
/* Whether the file at path is no longer the one of that stat. */
int	 keyfile_changed(const char *path, const struct stat *);
/* The lock, <path>.new: its descriptor, or -1 with err. */
int	 keyfile_lock(const char *path, char *tmp, size_t tmplen, char *err,
	    size_t errlen);
void	 keyfile_unlock(int fd, const char *tmp);
/* Write, check and rename the new text over path; releases the lock.
 * On success err holds a warning, or "". */
int	 keyfile_replace(int fd, const char *tmp, const char *path,
	    const struct stat *old, const char *text, size_t len,
	    const struct keyfile_want *, char *err, size_t errlen);
/* The text with a new current key; with the line of kid removed. */
char	*keyfile_add(const char *text, size_t len, const char *kid,
	    const unsigned char key[KEY_LEN], size_t *outlen);
char	*keyfile_remove(const char *name, const char *text, size_t len,
	    const char *kid, size_t *outlen, char *err, size_t errlen);

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

/* metrics.c */
int	 metrics_init(struct event_base *, const struct config *);
void	 metrics_shutdown(void);
/* Counters and gauges; label is NULL for a metric without one. */
void	 metrics_add(enum metric, const char *label, double);
void	 metrics_set(enum metric, const char *label, double);
void	 metrics_observe(enum metric, double);
void	 metrics_request(const char *route, const char *method, int status,
	    double seconds);
/* The exposition (Prometheus text format 0.0.4), malloc'd; NULL. */
char	*metrics_text(size_t *len);

/* mutate.c */
extern const struct mutation mutate_calls, mutate_reports, mutate_ack,
	    mutate_events, mutate_transfer, mutate_access, mutate_approve,
	    mutate_deny, mutate_case_open, mutate_notes, mutate_risk,
	    mutate_categories, mutate_child, mutate_links, mutate_supplements;
void	 mutate_init(const struct config *);
void	 mutate_start(struct request *, struct evhttp_request *,
	    const struct mutation *, const char *target);

/* normalise.c */
/* Normalise an identifier for a keyed digest: "id" (ID number: upper
 * case), "name_birth" (name without white space, ASCII lower-cased, "|",
 * birth date), "phone" (digits only; a +86/0086 prefix dropped, and a
 * landline's trunk 0 put back unless it was kept).  a2 is the birth date
 * for name_birth, else
 * NULL.  0; or -1 (out left empty) if empty, unknown or too long. */
int	 normalise_identifier(const char *kind, const char *a1, const char *a2,
	    char *out, size_t outlen);

/* protect.c */
/* What a body to seal is: where its personal fields and identifiers are. */
enum protect_kind {
	PROTECT_CALL,		/* POST /v1/calls */
	PROTECT_REPORT,		/* POST /v1/reports */
	PROTECT_CASE,		/* POST /v1/cases: a case opened during a call */
	PROTECT_CHILD,		/* POST /v1/cases/{n}/child: corrections */
};
int	 protect_init(const struct config *);
int	 protect_reload(void);
void	 protect_shutdown(void);
/* Seal under a fresh data key (key NULL: "$key" is added) or under the
 * case's (key: the JSON text work_key returned). */
int	 protect_submission(struct json_object *body, enum protect_kind,
	    const char *key);
int	 protect_note(struct json_object *body, const char *key);
/* The keyed digest (hex) of an identifier to look up ("phone", "id",
 * "name_birth"); -1 if it normalises to nothing. */
int	 protect_lookup_digest(const char *kind, const char *a1,
	    const char *a2, char out[2 * DIGEST_LEN + 1]);
char	*protect_view(const char *json);
int	 protect_request_hash(const char *endpoint, const char *target,
	    const char *body, size_t len, char out[2 + 2 * DIGEST_LEN + 1]);

/* queue.c */
int	 queue_init(struct event_base *, const struct config *);
void	 queue_shutdown(void);
void	 queue_get(struct request *, struct evhttp_request *, const char *);
void	 queue_notify(void);
void	 queue_forget(struct request *);

/* request.c */
int	 request_init(const struct config *);
struct request *request_new(struct evhttp_request *, struct conn *, SSL *);
void	 request_enter_state(struct request *, enum req_state);
int	 request_answered(const struct request *);
void	 request_conn_gone(struct request *);
void	 request_reply(struct request *, int status, const char *body,
	    const char *extra_name, const char *extra_value);
void	 request_reply_error(struct request *, const struct api_error *,
	    const char *extra_name, const char *extra_value);
void	 request_reply_bytes(struct request *, int status,
	    const char *const *headers, const void *body, size_t len);
void	 request_free(struct request *, const char *reason);
void	 request_set_code(struct request *, const char *code);
void	 request_shutdown(void);

/* route.c */
void	 route_dispatch(struct request *, struct evhttp_request *);
int	 route_query(struct request *, struct evhttp_request *,
	    struct query_arg *, size_t);

/* server.c */
int	 server_init(struct event_base *, struct config *);
int	 server_reload_tls(void);
void	 server_drain(void);
int	 server_draining(void);
int	 server_drained(void);
void	 server_replied(struct conn *);
void	 server_shutdown(void);

/* stats.c */
int	 stats_init(struct event_base *);
void	 stats_shutdown(void);
/* static.c: the web console's files, held in memory */
int	 static_init(const struct config *);
int	 static_reload(void);
void	 static_shutdown(void);
int	 static_name_valid(const char *);
void	 static_get(struct request *, struct evhttp_request *, const char *);

/* stmt.c */
int	 stmt_check(void);
const char *stmt_name(enum stmt);
const char *stmt_sql(enum stmt);
int	 stmt_nparams(enum stmt);
int	 stmt_seals(enum stmt);
int	 stmt_group(enum stmt);

/* tls.c */
int	 tls_init(void);
SSL_CTX	*tls_ctx_new(const struct config *);
SSL	*tls_conn_new(SSL_CTX *, struct conn *);
struct conn *tls_conn_of(SSL *);
int	 tls_peer_fingerprint(SSL *, char out[FPR_LEN + 1]);
void	 tls_set_conn_cbs(void (*)(struct conn *),
	    void (*)(struct conn *, int has_cert));

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
/* Check an RFC 3339 timestamp with offset (years 2000-2099); 0 if valid. */
int	 validate_timestamp(const char *s);
/* Check a POST /v1/cases body (a case opened during a call). */
int	 validate_case_open(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check the bodies of an operator's work on a case: a note, a risk level,
 * categories, corrections of the child's details. */
int	 validate_note(struct json_object *body, time_t now,
	    struct api_error *err);
int	 validate_risk(struct json_object *body, time_t now,
	    struct api_error *err);
int	 validate_categories(struct json_object *body, time_t now,
	    struct api_error *err);
int	 validate_child(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check a POST /v1/cases/{n}/links body. */
int	 validate_link(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check a POST /v1/reports/{receipt}/supplements body. */
int	 validate_supplement(struct json_object *body, time_t now,
	    struct api_error *err);
/* Check GET /v1/cases's since= (a timestamp); 0 if valid. */
int	 validate_since(const char *since, time_t now, struct api_error *err);
/* Check GET /v1/children/cases's parameters: id_number, or name and
 * birth_date (NULL when absent); 0 if valid. */
int	 validate_child_lookup(const char *id_number, const char *name,
	    const char *birth_date, time_t now, struct api_error *err);
/* A caller's number as a path component (a leading %2B for '+'): 0 and the
 * number in out if it is a phone number. */
int	 validate_phone_param(const char *s, char *out, size_t outlen);

#endif /* HOTLINED_H */
