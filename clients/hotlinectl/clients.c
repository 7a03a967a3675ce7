/*
 * hotlinectl clients: the API's clients, each a certificate registered
 * under a name with a role (and, for an agency's client, its agency; for an
 * operator seat, its hotline centre).  The
 * certificate's SHA-256 fingerprint is computed here from its PEM file,
 * as the daemon computes it from the handshake.  The database's
 * client_add() and client_add_seat() refuse a name or a certificate
 * already registered, and
 * every change wakes the daemons' identity caches (NOTIFY hotline_clients),
 * so running daemons follow within moments.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hotlinectl.h"

#define CLIENT_NAME_MAX	64		/* characters of a client's name */
#define CERT_FILE_MAX	(1024 * 1024)	/* bytes of a certificate's PEM file */

static int	clients_add_check(struct ctl_ctx *, char **);
static int	clients_add_approver_check(struct ctl_ctx *, char **);
static int	clients_add(struct ctl_ctx *, char **);
static int	clients_add_approver(struct ctl_ctx *, char **);
static int	clients_list(struct ctl_ctx *, char **);
static int	clients_revoke(struct ctl_ctx *, char **);

const struct ctl_entry clients_add_entry = {
	.ce_name = "clients add",
	.ce_args = "<name> <role> [<agency> | --centre <region>] <cert.pem>",
	.ce_nargs = 3,
	.ce_optargs = 2,
	.ce_flags = 0,
	.ce_help = "register a client certificate under a new name: role "
	    "gateway, admin or statistician, agency with its agency's code, "
	    "or operator with its hotline centre's region code",
	.ce_check = clients_add_check,
	.ce_exec = clients_add,
};

const struct ctl_entry clients_add_approver_entry = {
	.ce_name = "clients add --approver",
	.ce_args = "<name> agency <agency> <cert.pem>",
	.ce_nargs = 4,
	.ce_flags = 0,
	.ce_help = "the same, for an agency's client that may approve its "
	    "agency's requests for access to personal data",
	.ce_check = clients_add_approver_check,
	.ce_exec = clients_add_approver,
};

const struct ctl_entry clients_list_entry = {
	.ce_name = "clients list",
	.ce_args = "",
	.ce_nargs = 0,
	.ce_flags = 0,
	.ce_help = "every client: name, role, agency, centre, approver, "
	    "certificate fingerprint, when revoked",
	.ce_exec = clients_list,
};

const struct ctl_entry clients_revoke_entry = {
	.ce_name = "clients revoke",
	.ce_args = "<name>",
	.ce_nargs = 1,
	.ce_flags = 0,
	.ce_help = "refuse a client's certificate from now on",
	.ce_exec = clients_revoke,
};

/* The roles the clients table allows. */
static const char *const client_roles[] = { "operator", "gateway", "agency",
    "admin", "statistician", NULL };

/* What clients add was asked to register. */
struct client_new {
	const char	*cn_name;
	const char	*cn_role;
	const char	*cn_agency;	/* NULL unless role agency */
	const char	*cn_centre;	/* NULL unless role operator */
	const char	*cn_cert;	/* the PEM file */
	int		 cn_approver;
};

/* Whether a name is one a client may have: letters, digits, '.', '_', '-'. */
static int
client_name_ok(const char *name)
{
	size_t i;

	if (!isalnum((unsigned char)name[0]))
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		if (i >= CLIENT_NAME_MAX || (!isalnum((unsigned char)name[i]) &&
		    strchr("._-", name[i]) == NULL))
			return 0;
	return 1;
}

/* Whether a role is one the clients table allows. */
static int
client_role_ok(const char *role)
{
	int i;

	for (i = 0; client_roles[i] != NULL; i++)
		if (strcmp(role, client_roles[i]) == 0)
			return 1;
	return 0;
}

/*
 * Read the arguments of clients add (name, role, the agency if four,
 * --centre and the region if five, the certificate) into cn and check
 * them; 0, or -1 with the reason told.
 */
static int
client_new_parse(char **args, int approver, struct client_new *cn)
{
	const char *cmd = approver ? "clients add --approver" : "clients add";
	int n;

	for (n = 0; args[n] != NULL; n++)
		;
	cn->cn_name = args[0];
	cn->cn_role = args[1];
	cn->cn_agency = n == 4 ? args[2] : NULL;
	cn->cn_centre = n == 5 ? args[3] : NULL;
	cn->cn_cert = args[n - 1];
	cn->cn_approver = approver;
	if (cn->cn_name[0] == '-') {
		complain("%s: no option %s here: hotlinectl clients add "
		    "--approver <name> agency <agency> <cert.pem>", cmd,
		    cn->cn_name);
		return -1;
	}
	if (!client_name_ok(cn->cn_name)) {
		complain("%s: a client's name is 1 to %d letters, digits, '.', "
		    "'_' or '-', starting with a letter or a digit", cmd,
		    CLIENT_NAME_MAX);
		return -1;
	}
	if (n == 5 && strcmp(args[2], "--centre") != 0) {
		complain("%s: no option %s here: hotlinectl clients add <name> "
		    "operator --centre <region> <cert.pem>", cmd, args[2]);
		return -1;
	}
	if (n == 4 && strcmp(args[2], "--centre") == 0) {
		complain("%s: --centre needs the centre's region code: "
		    "hotlinectl clients add <name> operator --centre <region> "
		    "<cert.pem>", cmd);
		return -1;
	}
	if (!client_role_ok(cn->cn_role)) {
		complain("%s: no role \"%s\": the roles are operator, gateway, "
		    "agency, admin and statistician", cmd, cn->cn_role);
		return -1;
	}
	if (approver && strcmp(cn->cn_role, "agency") != 0) {
		complain("%s: only an agency's clients approve access requests",
		    cmd);
		return -1;
	}
	if (strcmp(cn->cn_role, "agency") == 0 && cn->cn_agency == NULL) {
		complain("%s: role agency needs the agency's code: hotlinectl "
		    "clients add <name> agency <agency> <cert.pem>", cmd);
		return -1;
	}
	if (strcmp(cn->cn_role, "agency") != 0 && cn->cn_agency != NULL) {
		complain("%s: role %s belongs to no agency: hotlinectl clients "
		    "add <name> %s%s <cert.pem>", cmd, cn->cn_role, cn->cn_role,
		    strcmp(cn->cn_role, "operator") == 0 ?
		    " --centre <region>" : "");
		return -1;
	}
	if (strcmp(cn->cn_role, "operator") == 0 && cn->cn_centre == NULL) {
		complain("%s: an operator seat belongs to a hotline centre: "
		    "hotlinectl clients add <name> operator --centre <region> "
		    "<cert.pem>", cmd);
		return -1;
	}
	if (strcmp(cn->cn_role, "operator") != 0 && cn->cn_centre != NULL) {
		complain("%s: only an operator seat belongs to a centre", cmd);
		return -1;
	}
	if (cn->cn_centre != NULL && (strlen(cn->cn_centre) != 6 ||
	    strspn(cn->cn_centre, "0123456789") != 6 ||
	    cn->cn_centre[0] == '0')) {
		complain("%s: a centre is a region code: six digits, not "
		    "starting with 0", cmd);
		return -1;
	}
	return 0;
}

/*
 * Put the SHA-256 fingerprint of the client certificate in a PEM file into
 * out (lowercase hex of its DER, as the daemon keys clients); 0, or -1 with
 * the reason told: no such file, not a file of a certificate's size, no
 * certificate in it, a CA's certificate, an expired one.
 */
static int
cert_fingerprint(const char *path, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	struct stat st;
	X509 *x;
	FILE *f;
	int rc = -1;

	if ((f = fopen(path, "r")) == NULL) {
		complain("clients add: %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CERT_FILE_MAX) {
		complain("clients add: %s: not a certificate (PEM): not a "
		    "regular file of at most %d bytes", path, CERT_FILE_MAX);
		fclose(f);
		return -1;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		complain("clients add: %s: not a certificate (PEM)", path);
	else if (X509_check_ca(x) != 0)
		complain("clients add: %s: a CA's certificate, not a client's",
		    path);
	else if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		complain("clients add: %s: the certificate has expired", path);
	else if (X509_digest(x, EVP_sha256(), md, &len) != 1 || len != 32)
		complain("clients add: %s: cannot compute its fingerprint",
		    path);
	else {
		hex_encode(md, len, out);
		rc = 0;
	}
	X509_free(x);
	return rc;
}

/* Check clients add's arguments and read its certificate, before any
 * database. */
static int
client_new_check(struct ctl_ctx *cx, char **args, int approver)
{
	struct client_new cn;

	if (client_new_parse(args, approver, &cn) == -1 ||
	    cert_fingerprint(cn.cn_cert, cx->cx_fpr) == -1)
		return EXIT_USAGE;
	return EXIT_OK;
}

/* clients add, before any database. */
static int
clients_add_check(struct ctl_ctx *cx, char **args)
{
	return client_new_check(cx, args, 0);
}

/* clients add --approver, before any database. */
static int
clients_add_approver_check(struct ctl_ctx *cx, char **args)
{
	return client_new_check(cx, args, 1);
}

/* Register the client the arguments describe (checked already). */
static int
client_register(struct ctl_ctx *cx, char **args, int approver)
{
	struct client_new cn;
	const char *p[5], *state, *constraint;
	PGresult *res;

	if (client_new_parse(args, approver, &cn) == -1)
		return EXIT_USAGE;
	if (cn.cn_centre != NULL) {
		p[0] = cn.cn_name;
		p[1] = cn.cn_centre;
		p[2] = cx->cx_fpr;
		res = db_exec("select hotline.client_add_seat($1, $2, $3)", 3, p);
	} else {
		p[0] = cn.cn_name;
		p[1] = cn.cn_role;
		p[2] = cn.cn_agency;
		p[3] = cx->cx_fpr;
		p[4] = approver ? "true" : "false";
		res = db_exec("select hotline.client_add($1, $2, $3, $4, $5)", 5,
		    p);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
		if (state == NULL)
			state = "";
		if (strcmp(state, "23503") == 0 && cn.cn_centre != NULL)
			complain("clients add: no region has the code \"%s\"",
			    cn.cn_centre);
		else if (strcmp(state, "23503") == 0)
			complain("clients add: no agency has the code \"%s\"",
			    cn.cn_agency);
		else if (strcmp(state, "23505") == 0 && constraint != NULL &&
		    strcmp(constraint, "clients_name_key") == 0)
			complain("clients add: a client named %s exists "
			    "(revoked or not): choose another name",
			    cn.cn_name);
		else if (strcmp(state, "23505") == 0)
			complain("clients add: %s: this certificate is "
			    "registered to another client", cn.cn_cert);
		else
			db_complain("clients add: client_add", res);
		PQclear(res);
		return EXIT_FAILED;
	}
	PQclear(res);
	printf("clients: added %s, role %s%s%s%s%s%s, certificate sha256 %s\n",
	    cn.cn_name, cn.cn_role, cn.cn_agency != NULL ? ", agency " : "",
	    cn.cn_agency != NULL ? cn.cn_agency : "",
	    cn.cn_centre != NULL ? ", centre " : "",
	    cn.cn_centre != NULL ? cn.cn_centre : "",
	    approver ? ", approver" : "", cx->cx_fpr);
	return EXIT_OK;
}

/* clients add <name> <role> [<agency> | --centre <region>] <cert.pem> */
static int
clients_add(struct ctl_ctx *cx, char **args)
{
	return client_register(cx, args, 0);
}

/* clients add --approver <name> agency <agency> <cert.pem> */
static int
clients_add_approver(struct ctl_ctx *cx, char **args)
{
	return client_register(cx, args, 1);
}

/* clients list: every client, by name. */
static int
clients_list(struct ctl_ctx *cx, char **args)
{
	static const char *const head[] = { "name", "role", "agency", "centre",
	    "approver", "sha256", "revoked" };
	enum { NCOLS = sizeof(head) / sizeof(head[0]) };
	PGresult *res;
	int i, revoked = 0;

	(void)cx;
	(void)args;
	if ((res = db_query("clients list: client_directory", "select name, "
	    "role, agency, centre, case when approver then 'yes' end, "
	    "cert_sha256, to_char(revoked_at at time zone 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from hotline.client_directory()",
	    0, NULL)) == NULL)
		return EXIT_FAILED;
	table_print(res, head, NCOLS);
	for (i = 0; i < PQntuples(res); i++)
		revoked += !PQgetisnull(res, i, NCOLS - 1);
	printf("clients: %d, %d of them revoked\n", PQntuples(res), revoked);
	PQclear(res);
	return EXIT_OK;
}

/* clients revoke <name>: its certificate is refused from now on. */
static int
clients_revoke(struct ctl_ctx *cx, char **args)
{
	const char *name = args[0], *p[1] = { name }, *state;
	PGresult *res;

	(void)cx;
	res = db_exec("select hotline.client_revoke($1)", 1, p);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "P0002") == 0)
			complain("clients revoke: no client named %s", name);
		else
			db_complain("clients revoke: client_revoke", res);
		PQclear(res);
		return EXIT_FAILED;
	}
	PQclear(res);
	printf("clients: revoked %s; running daemons refuse its certificate "
	    "within moments\n", name);
	return EXIT_OK;
}
