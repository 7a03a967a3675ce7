/*
 * hotlinectl: the administrator's tool for hotlined.  Each command is one
 * entry of the table in main.c, in the manner of tmux's cmd_entry: its
 * words, its arguments, whether it needs the key files, what it does and
 * its handler.  The table makes both the usage text and the dispatch.
 * The commands live by group: keys.c, purge.c, audit.c (and the access
 * log), clients.c, stats.c; db.c holds the blocking libpq helpers they
 * share, table.c the printing of rows as aligned columns.
 */
#ifndef HOTLINECTL_H
#define HOTLINECTL_H

#include <libpq-fe.h>

#include "hotlined.h"

/* Exit statuses. */
#define EXIT_OK		0
#define EXIT_FAILED	1		/* a check or an operation failed */
#define EXIT_USAGE	2		/* usage, configuration or connection */

/* What a command has to work with. */
struct ctl_ctx {
	struct config	 cx_cf;		/* the daemon's (CTL_KEYS only) */
	struct keyring	*cx_keys;	/* both key files (CTL_KEYS only) */
	char		 cx_fpr[65];	/* its certificate's SHA-256 (clients add) */
};

#define CTL_KEYS	0x1	/* reads the daemon's configuration and keys */

/* One command.  Its handlers get its arguments as a NULL-ended array. */
struct ctl_entry {
	const char	*ce_name;	/* its words: "keys retire" */
	const char	*ce_args;	/* its arguments, for the usage */
	int		 ce_nargs;	/* how many (each non-empty) */
	int		 ce_optargs;	/* how many more it may take */
	int		 ce_flags;	/* CTL_* */
	const char	*ce_help;	/* what it does, for the usage */
	/* Checks the arguments before any database (or NULL); an exit status. */
	int		(*ce_check)(struct ctl_ctx *, char **args);
	int		(*ce_exec)(struct ctl_ctx *, char **args);
};

/* main.c */
void	 complain(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* db.c */
int	 db_connect(const char *conninfo);
void	 db_close(void);
PGresult *db_exec(const char *sql, int n, const char *const *params);
void	 db_complain(const char *what, const PGresult *);
PGresult *db_query(const char *what, const char *sql, int n,
	    const char *const *params);
PGresult *db_query_row(const char *what, const char *sql, int n,
	    const char *const *params, int nfields);
long long db_number(const char *);

/* table.c */
void	 table_print(const PGresult *, const char *const *head, int ncols);

/* audit.c */
extern const struct ctl_entry audit_verify_entry;
extern const struct ctl_entry access_log_entry;

/* clients.c */
extern const struct ctl_entry clients_add_entry;
extern const struct ctl_entry clients_add_approver_entry;
extern const struct ctl_entry clients_list_entry;
extern const struct ctl_entry clients_revoke_entry;

/* keys.c */
extern const struct ctl_entry keys_list_entry;
extern const struct ctl_entry keys_rotate_entry;
extern const struct ctl_entry keys_rewrap_entry;
extern const struct ctl_entry keys_retire_entry;

/* purge.c */
extern const struct ctl_entry purge_dry_run_entry;
extern const struct ctl_entry purge_entry;
extern const struct ctl_entry purge_case_entry;

/* stats.c */
extern const struct ctl_entry stats_entry;

#endif /* HOTLINECTL_H */
