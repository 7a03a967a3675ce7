/*
 * Identities.  Of clients: the clients table cached in memory, keyed by
 * the certificate fingerprint, reloaded at start, on NOTIFY hotline_clients
 * (any change to the table) and periodically, so a revocation takes effect
 * within moments without a database round trip per request.  Of persons:
 * an identifier (ID number, name and birth date, phone) normalised so that
 * its keyed digest (crypto.c) links the records of one person.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "hotlined.h"

static struct ident	*ident_tab;
static size_t		 ident_n;
static int		 ident_loaded;
static int		 ident_loading, ident_again;
static struct event	*ident_timer;

static void	ident_reload(void);

/* Order identities by fingerprint. */
static int
ident_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ident *)a)->id_fpr,
	    ((const struct ident *)b)->id_fpr);
}

/* Map a role name from the database. */
static enum role
ident_role(const char *s)
{
	if (strcmp(s, "operator") == 0)
		return ROLE_OPERATOR;
	if (strcmp(s, "gateway") == 0)
		return ROLE_GATEWAY;
	if (strcmp(s, "agency") == 0)
		return ROLE_AGENCY;
	if (strcmp(s, "admin") == 0)
		return ROLE_ADMIN;
	return ROLE_NONE;
}

/* Replace the cache with the rows of a client_list result. */
static void
ident_loaded_cb(struct dbjob *j, enum db_outcome oc, PGresult *res,
    void *arg)
{
	struct ident *tab;
	int i, n;

	(void)arg;
	ident_loading = 0;
	if (oc != DB_OK) {
		log_warnx("event=ident_load_failed");
		db_job_free(j);
		return;
	}
	n = PQntuples(res);
	if ((tab = calloc((size_t)n + 1, sizeof(*tab))) == NULL) {
		log_errorx("event=ident_load_failed reason=memory");
		PQclear(res);
		db_job_free(j);
		return;
	}
	for (i = 0; i < n; i++) {
		tab[i].id_client = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		tab[i].id_role = ident_role(PQgetvalue(res, i, 2));
		tab[i].id_agency = PQgetisnull(res, i, 3) ? 0 :
		    strtoll(PQgetvalue(res, i, 3), NULL, 10);
		snprintf(tab[i].id_fpr, sizeof(tab[i].id_fpr), "%s",
		    PQgetvalue(res, i, 4));
		tab[i].id_revoked = PQgetvalue(res, i, 5)[0] == 't';
	}
	PQclear(res);
	db_job_free(j);
	qsort(tab, (size_t)n, sizeof(*tab), ident_cmp);
	free(ident_tab);
	ident_tab = tab;
	ident_n = (size_t)n;
	if (!ident_loaded)
		log_info("event=ident_loaded clients=%d", n);
	else
		log_debug("event=ident_loaded clients=%d", n);
	ident_loaded = 1;
	if (ident_again) {
		ident_again = 0;
		ident_reload();
	}
}

/* Ask the database for the client table (coalescing repeated asks). */
static void
ident_reload(void)
{
	struct dbjob *j;

	if (ident_loading) {
		ident_again = 1;
		return;
	}
	if ((j = db_job_new(STMT_CLIENT_LIST, 0, ident_loaded_cb, NULL)) == NULL)
		return;
	db_job_scope(j, "system");
	if (db_submit(j) == -1) {
		db_job_free(j);
		return;
	}
	ident_loading = 1;
}

/* Periodic refresh, and retry while nothing is loaded yet. */
static void
ident_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { IDENT_REFRESH_S, 0 };

	(void)fd; (void)what; (void)arg;
	if (!ident_loaded)
		tv.tv_sec = 1;
	ident_reload();
	evtimer_add(ident_timer, &tv);
}

/* Start the periodic load of the cache. */
int
ident_init(struct event_base *base)
{
	struct timeval tv = { 0, 200000 };

	if ((ident_timer = evtimer_new(base, ident_timer_cb, NULL)) == NULL)
		return -1;
	evtimer_add(ident_timer, &tv);
	return 0;
}

/* The clients table changed (or may have): reload the cache. */
void
ident_notify(void)
{
	ident_reload();
}

/* Return nonzero once the cache holds the clients table. */
int
ident_ready(void)
{
	return ident_loaded;
}

/* Find the identity of a certificate fingerprint, or NULL. */
const struct ident *
ident_lookup(const char *fpr)
{
	struct ident key;

	if (ident_tab == NULL)
		return NULL;
	snprintf(key.id_fpr, sizeof(key.id_fpr), "%s", fpr);
	return bsearch(&key, ident_tab, ident_n, sizeof(*ident_tab),
	    ident_cmp);
}

/* Free the cache. */
void
ident_shutdown(void)
{
	if (ident_timer != NULL)
		event_free(ident_timer);
	ident_timer = NULL;
	free(ident_tab);
	ident_tab = NULL;
	ident_n = 0;
}

/* Append c to out (bounded); -1 when full. */
static int
put(char *out, size_t outlen, size_t *n, char c)
{
	if (*n + 1 >= outlen)
		return -1;
	out[(*n)++] = c;
	out[*n] = '\0';
	return 0;
}

/* Bytes of white space at s for a name (ASCII, U+00A0, U+3000), or 0. */
static size_t
name_space(const unsigned char *s)
{
	if (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')
		return 1;
	if (s[0] == 0xc2 && s[1] == 0xa0)
		return 2;			/* U+00A0 no-break space */
	if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;			/* U+3000 ideographic space */
	return 0;
}

/* Normalise into out; -1 if it does not fit, the kind is unknown or the
 * result is empty. */
static int
normalise(const char *kind, const char *a1, const char *a2, char *out,
    size_t outlen, size_t *n)
{
	const unsigned char *s = (const unsigned char *)a1;
	unsigned char c;
	size_t k;

	if (strcmp(kind, "id") == 0) {
		for (; *s != '\0'; s++) {
			if (*s == ' ')
				continue;
			c = *s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s;
			if (put(out, outlen, n, (char)c) == -1)
				return -1;
		}
	} else if (strcmp(kind, "name_birth") == 0) {
		if (a2 == NULL || *a2 == '\0')
			return -1;
		while (*s != '\0') {
			if ((k = name_space(s)) > 0) {
				s += k;
				continue;
			}
			c = *s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s;
			if (put(out, outlen, n, (char)c) == -1)
				return -1;
			s++;
		}
		if (*n == 0 || put(out, outlen, n, '|') == -1)
			return -1;
		for (s = (const unsigned char *)a2; *s != '\0'; s++)
			if (put(out, outlen, n, (char)*s) == -1)
				return -1;
	} else if (strcmp(kind, "phone") == 0) {
		int intl = 0;

		if (strncmp(a1, "+86", 3) == 0)
			s += 3, intl = 1;
		else if (strncmp(a1, "0086", 4) == 0)
			s += 4, intl = 1;
		for (; *s != '\0'; s++)
			if (*s >= '0' && *s <= '9' &&
			    put(out, outlen, n, (char)*s) == -1)
				return -1;
		/*
		 * Written internationally, a landline loses its trunk 0
		 * (+86 10 1234 5678 is 010-12345678); a mobile number is 11
		 * digits from 1.  Put the 0 back so both forms match.
		 */
		if (intl && *n > 0 && !(*n == 11 && out[0] == '1')) {
			if (*n + 2 > outlen)
				return -1;
			memmove(out + 1, out, *n + 1);
			out[0] = '0';
			(*n)++;
		}
	} else
		return -1;
	return *n == 0 ? -1 : 0;
}

/*
 * Normalise an identifier before its keyed digest (see hotlined.h).  On
 * failure out is left empty: no partial personal data stays behind.
 */
int
ident_normalise(const char *kind, const char *a1, const char *a2, char *out,
    size_t outlen)
{
	size_t n = 0;

	if (outlen == 0 || kind == NULL || a1 == NULL)
		return -1;
	out[0] = '\0';
	if (normalise(kind, a1, a2, out, outlen, &n) == -1) {
		OPENSSL_cleanse(out, n + 1);
		out[0] = '\0';
		return -1;
	}
	return 0;
}
