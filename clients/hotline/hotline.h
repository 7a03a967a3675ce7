/*
 * hotline: the command-line client of hotlined, one binary for every role.
 * Agencies work their queue and cases, operators and the mini-program's
 * backend file calls and reports, approvers decide access requests.
 *
 *   main.c    the command table (usage and dispatch), options, exit status
 *   config.c  settings: the parameter table, the file, the environment, -o
 *   http.c    one HTTPS exchange: libevent's HTTP client over OpenSSL
 *   api.c     requests to the daemon, retried under one Idempotency-Key
 *   show.c    output: labels of codes, times, columns of UTF-8 text
 *   work.c    an agency's work: queue, watch, ack, outcomes, notes, transfer
 *   supervise.c a procuratorate's: supervision records, the overdue list
 *   operator.c an operator's: caseload, lookups, re-grading, categories,
 *             the child corrected, links
 *   view.c    reading: a case, a report's milestones, the daemon's version
 *   access.c  access requests: ask, list, approve, deny; the access log
 *   stats.c   the figures of an evaluation
 *   submit.c  filing calls (on a case too), cases, reports, supplements
 */
#ifndef HOTLINE_H
#define HOTLINE_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <json.h>

/* Exit statuses. */
#define EXIT_OK			0
#define EXIT_REFUSED		1	/* the daemon refused; its code printed */
#define EXIT_USAGE		2	/* usage or configuration */
#define EXIT_UNAVAILABLE	3	/* no answer, after retrying */

/* Limits. */
#define CMD_ARGS_MAX		4	/* positional arguments of a command */
#define CMD_FLAGS_MAX		10	/* flags of a command */
#define IDEM_KEY_MAX		128	/* Idempotency-Key characters */
#define URL_PATH_MAX		1024	/* a request's path and query */
#define HTTP_BODY_MAX		(16 * 1024 * 1024)	/* response bytes */
#define HTTP_HEADERS_MAX	(64 * 1024)	/* response header bytes */
#define HTTP_WHY_MAX		512	/* why an exchange had no answer */
#define REQUEST_ID_MAX		32	/* X-Request-Id */
#define SUBMIT_FILE_MAX		(1024 * 1024)	/* a body to submit */
#define QUEUE_LIMIT_MAX		500	/* assignments per queue answer */

/* Settings (config.c): file, then environment, then -o. */
struct hl_config {
	char	*hc_url;		/* https://host:port[/prefix] */
	char	*hc_cert;		/* client certificate (PEM) */
	char	*hc_key;		/* its private key (PEM) */
	char	*hc_ca;			/* CA of the daemon's certificate */
	double	 hc_timeout;		/* s one try may take */
	double	 hc_retry_time;		/* s of retrying in all */
	double	 hc_retry_first;	/* s before the second try */
	double	 hc_retry_max;		/* s between two tries, Retry-After aside */
	double	 hc_watch_wait;		/* s a long poll waits (wait=) */
	double	 hc_watch_interval;	/* s between polls of a queue not empty */
};

struct http;

/* Everything a command has to work with. */
struct hl {
	struct hl_config	 h_cf;
	struct http		*h_http;
	int			 h_json;	/* --json: the daemon's JSON */
	int			 h_verbose;	/* -v: every try on stderr */
	const char		*h_key;		/* --key: the Idempotency-Key */
};

/* One flag of a command: --name, or --name ARG. */
struct cmd_flag {
	const char	*cf_name;	/* without the dashes */
	const char	*cf_arg;	/* its argument for the usage; NULL: none */
	int		 cf_required;
};

/* What the command line gave a command. */
struct cmd_args {
	const struct cmd_entry	*ca_entry;
	char			*ca_argv[CMD_ARGS_MAX];
	int			 ca_argc;
	const char		*ca_flags[CMD_FLAGS_MAX];	/* by ce_flags index */
};

#define CMD_POST	0x1	/* POSTs: takes --key */

/* One command, in the manner of tmux's cmd_entry. */
struct cmd_entry {
	const char	*ce_name;	/* the word that names it */
	const char	*ce_args;	/* its arguments, for the usage */
	int		 ce_nargs;	/* how many at most (each non-empty) */
	int		 ce_nopt;	/* how many of the last may be left out */
	struct cmd_flag	 ce_flags[CMD_FLAGS_MAX];
	int		 ce_opts;	/* CMD_* */
	const char	*ce_help;	/* what it does, for the usage */
	int		(*ce_exec)(struct hl *, const struct cmd_args *);
};

/* A reply of the daemon to one try (http.c). */
struct http_reply {
	int	 hr_status;		/* 0: no answer (hr_why says why) */
	char	*hr_body;		/* NUL-terminated */
	size_t	 hr_len;
	double	 hr_retry_after;	/* s, -1 without Retry-After */
	int	 hr_replayed;		/* Idempotent-Replayed: true */
	char	 hr_id[REQUEST_ID_MAX];	/* X-Request-Id */
	char	 hr_why[HTTP_WHY_MAX];
	int	 hr_final;		/* no answer, and none will come by retrying */
	int	 hr_unsent;		/* no connection: the request never left */
};

/* A request to the daemon (api.c). */
struct api_call {
	const char	*ac_method;	/* "GET" or "POST" */
	const char	*ac_path;	/* from /v1/, query included */
	const char	*ac_shown;	/* the path as logged; NULL: ac_path */
	const char	*ac_body;	/* NULL: none */
	size_t		 ac_len;
	double		 ac_wait;	/* s the daemon may hold it (long poll) */
	int		 ac_forever;	/* retry without a time limit (watch) */
	int		 ac_probe;	/* a 403 forbidden is not printed */
};

/* The answer to a request (api.c). */
struct api_reply {
	int			 ar_status;
	struct json_object	*ar_json;	/* the body parsed, or NULL */
	char			*ar_body;	/* the body as sent */
	size_t			 ar_len;
	int			 ar_replayed;
};

/* Kinds of code that have a label (show.c). */
enum label_kind {
	LABEL_RISK,
	LABEL_ROLE,
	LABEL_STATE,		/* an assignment's */
	LABEL_CASE_STATUS,
	LABEL_CLOCK,
	LABEL_CLOCK_STATUS,
	LABEL_EVENT,		/* a history item's kind */
	LABEL_OUTCOME,
	LABEL_SUPERVISION,
	LABEL_MILESTONE,
	LABEL_ACCESS_STATE,
	LABEL_SOURCE,
	LABEL_DISPOSITION,
	LABEL_NOTICE,		/* a feedback's notice */
	LABEL_BASIS,		/* of a reading in the access log */
	LABEL_CALLER,		/* a call's caller_type */
};

/* Columns of text printed aligned (show.c). */
struct table {
	int	  tb_cols;
	int	  tb_indent;	/* spaces before each row */
	int	  tb_rows;
	int	  tb_alloc;
	char	**tb_cells;	/* tb_rows * tb_cols, row by row */
};

/* main.c */
void	 complain(const char *, ...) __attribute__((format(printf, 1, 2)));
const char *cmd_flag(const struct cmd_args *, const char *);
int	 cmd_query(char *, size_t, const char *, const struct cmd_args *);

/* config.c */
void	 config_defaults(struct hl_config *);
int	 config_file(struct hl_config *, const char *, int);
int	 config_env(struct hl_config *);
int	 config_set(struct hl_config *, const char *);
int	 config_check(const struct hl_config *);
void	 config_clear(struct hl_config *);
const char *config_default_path(char *, size_t);

/* http.c */
struct http *http_open(const struct hl_config *);
void	 http_close(struct http *);
void	 http_exchange(struct http *, const char *, const char *,
	    const char *, const char *, size_t, double, struct http_reply *);
void	 http_reply_clear(struct http_reply *);

/* api.c */
int	 api_do(struct hl *, const struct api_call *, struct api_reply *);
int	 api_get(struct hl *, const char *, struct api_reply *);
int	 api_show(struct hl *, const struct api_call *,
	    void (*)(struct json_object *));
int	 api_read(struct hl *, const char *, void (*)(struct json_object *));
int	 api_read_at(struct hl *, const char *, const char *,
	    void (*)(struct json_object *));
int	 api_post(struct hl *, const char *, struct json_object *,
	    struct api_reply *);
void	 api_body(struct api_call *, struct json_object *);
void	 api_key_hold(struct hl *);
void	 api_reply_clear(struct api_reply *);
int	 api_path(char *, size_t, const char *, const char *, const char *);
int	 api_param(char *, size_t, const char *, const char *);
int	 api_print_json(struct hl *, const struct api_reply *);
int	 api_key_valid(const char *);
double	 api_now(void);
void	 api_sleep(double);

/* show.c */
const char *label(enum label_kind, const char *);
const char *label_category(const char *, const char *);
void	 show_risk(char *, size_t, struct json_object *);
void	 show_categories(char *, size_t, struct json_object *);
int	 show_time(char *, size_t, const char *);
void	 show_left(char *, size_t, time_t, time_t);
int	 time_parse(const char *, time_t *);
int	 text_width(const char *);
void	 show_text(FILE *, const char *, int);
void	 show_more(struct json_object *);
const char *jstr(struct json_object *, const char *);
struct json_object *jget(struct json_object *, const char *);
size_t	 jlen(struct json_object *);
struct json_object *jidx(struct json_object *, size_t);
void	 table_init(struct table *, int);
void	 table_add(struct table *, ...);
void	 table_row(struct table *, const char *const *);
void	 table_print(struct table *, FILE *);
void	 table_clear(struct table *);

/* work.c */
extern const struct cmd_entry cmd_queue_entry;
extern const struct cmd_entry cmd_ack_entry;
extern const struct cmd_entry cmd_outcome_entry;
extern const struct cmd_entry cmd_note_entry;
extern const struct cmd_entry cmd_feedback_entry;
extern const struct cmd_entry cmd_transfer_entry;
void	 work_assignment_row(struct table *, struct json_object *, time_t);
void	 work_assignment_head(struct table *);
void	 work_print_assignments(struct json_object *);
char	*work_word(const char *);
void	 work_add(struct json_object *, const char *, const char *);
int	 work_event(struct hl *, const char *, struct json_object *);
int	 work_record(struct hl *, const char *, const char *,
	    struct json_object *, const char *, int *,
	    void (*)(struct json_object *));

/* supervise.c */
extern const struct cmd_entry cmd_supervise_entry;
extern const struct cmd_entry cmd_overdue_entry;
extern const struct cmd_entry cmd_records_entry;

/* operator.c */
extern const struct cmd_entry cmd_cases_entry;
extern const struct cmd_entry cmd_lookup_entry;
extern const struct cmd_entry cmd_regrade_entry;
extern const struct cmd_entry cmd_categorise_entry;
extern const struct cmd_entry cmd_correct_entry;
extern const struct cmd_entry cmd_link_entry;

/* view.c */
extern const struct cmd_entry cmd_case_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_version_entry;
void	 view_assignments(struct json_object *);

/* access.c */
extern const struct cmd_entry cmd_request_entry;
extern const struct cmd_entry cmd_requests_entry;
extern const struct cmd_entry cmd_approve_entry;
extern const struct cmd_entry cmd_deny_entry;
extern const struct cmd_entry cmd_access_log_entry;

/* stats.c */
extern const struct cmd_entry cmd_stats_entry;

/* submit.c */
extern const struct cmd_entry cmd_submit_entry;
extern const struct cmd_entry cmd_supplement_entry;

#endif /* HOTLINE_H */
