/*
 * The web console's files (clients/console/), served under /console/.
 * Every regular file of console_dir whose name and extension the table
 * below knows is read into memory at start and again on SIGHUP; a request
 * only looks a name up among those, so no file is opened per request and
 * no path a client sends can reach anything else ("..", "%2e%2e", an
 * encoded slash or a subdirectory are names that were never loaded).  A
 * failed reload keeps the files already loaded.  Each answer carries the
 * console's Content-Security-Policy and an ETag (304 on If-None-Match).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/http.h>
#include <openssl/evp.h>

#include "hotlined.h"

#define STATIC_ETAG_HEX	16		/* hex digits of SHA-256 in an ETag */

/* What the console's pages may do: their own scripts, styles and API. */
#define STATIC_CSP	"default-src 'self'; script-src 'self'; " \
			"style-src 'self'; img-src 'self'; font-src 'self'; " \
			"connect-src 'self'; object-src 'none'; " \
			"base-uri 'none'; form-action 'self'; " \
			"frame-ancestors 'none'; " \
			"require-trusted-types-for 'script'; trusted-types 'none'"

/* The extensions served, and their Content-Type. */
static const struct {
	const char	*se_ext;
	const char	*se_type;
} static_types[] = {
	{ ".html",	"text/html; charset=utf-8" },
	{ ".js",	"text/javascript; charset=utf-8" },
	{ ".css",	"text/css; charset=utf-8" },
	{ ".json",	"application/json; charset=utf-8" },
	{ ".svg",	"image/svg+xml" },
	{ ".png",	"image/png" },
	{ ".ico",	"image/x-icon" },
	{ ".txt",	"text/plain; charset=utf-8" },
};

/* One file, as loaded. */
struct static_file {
	char		 sf_name[STATIC_NAME_MAX + 1];
	const char	*sf_type;
	unsigned char	*sf_data;
	size_t		 sf_len;
	char		 sf_etag[STATIC_ETAG_HEX + 3];	/* "..." */
};

/* Every file of one load. */
struct static_set {
	struct static_file	 ss_files[STATIC_FILES_MAX];
	int			 ss_n;
	size_t			 ss_bytes;
};

static const struct config	*st_cf;
static struct static_set	*st_set;	/* NULL: console disabled */

/* The Content-Type of a file name, or NULL if it is not served. */
static const char *
static_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(static_types) /
	    sizeof(static_types[0]); i++)
		if (strcmp(dot, static_types[i].se_ext) == 0)
			return static_types[i].se_type;
	return NULL;
}

/*
 * Whether a name may be a console file: 1 to STATIC_NAME_MAX characters of
 * [A-Za-z0-9._-], not starting with a dot; empty is the index.
 */
int
static_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return 1;
	return n <= STATIC_NAME_MAX && name[0] != '.' && strspn(name,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n;
}

/* Free a set and every file in it. */
static void
static_set_free(struct static_set *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ss_n; i++)
		free(s->ss_files[i].sf_data);
	free(s);
}

/* The strong ETag of a file's bytes: a prefix of their SHA-256. */
static int
static_etag(struct static_file *f)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned int mdlen;

	if (EVP_Digest(f->sf_data, f->sf_len, md, &mdlen, EVP_sha256(),
	    NULL) != 1)
		return -1;
	hex_encode(md, mdlen, hex);
	snprintf(f->sf_etag, sizeof(f->sf_etag), "\"%.*s\"", STATIC_ETAG_HEX,
	    hex);
	return 0;
}

/*
 * Read one file of the directory into f: a regular file (not followed if a
 * symbolic link, not waited on if a FIFO) of at most STATIC_FILE_MAX bytes.
 */
static int
static_read(int dfd, const char *dir, const char *name, struct static_file *f)
{
	struct stat sb;
	ssize_t got;
	size_t off = 0;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		log_errorx("event=console_file_failed dir=%s file=%s "
		    "reason=\"%s\"", dir, name, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > STATIC_FILE_MAX) {
		log_errorx("event=console_file_failed dir=%s file=%s "
		    "reason=\"not a regular file of at most %d bytes\"", dir,
		    name, STATIC_FILE_MAX);
		close(fd);
		return -1;
	}
	f->sf_len = (size_t)sb.st_size;
	if ((f->sf_data = malloc(f->sf_len + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (off < f->sf_len && (got = read(fd, f->sf_data + off,
	    f->sf_len - off)) > 0)
		off += (size_t)got;
	close(fd);
	if (off != f->sf_len) {
		log_errorx("event=console_file_failed dir=%s file=%s "
		    "reason=\"changed while read\"", dir, name);
		return -1;
	}
	memcpy(f->sf_name, name, strlen(name) + 1);	/* checked: short */
	f->sf_type = static_type(name);
	return static_etag(f);
}

/* Load every servable file of dir; NULL (logged) if any cannot be. */
static struct static_set *
static_load(const char *dir)
{
	struct static_set *s;
	struct dirent *de;
	DIR *d;
	int dfd, rc = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (d = fdopendir(dfd)) == NULL) {
		log_errorx("event=console_dir_failed dir=%s reason=\"%s\"", dir,
		    strerror(errno));
		if (dfd != -1)
			close(dfd);
		free(s);
		return NULL;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || static_type(de->d_name) == NULL)
			continue;
		if (!static_name_valid(de->d_name)) {
			log_warnx("event=console_file_skipped dir=%s "
			    "reason=\"name\"", dir);
			continue;
		}
		if (s->ss_n == STATIC_FILES_MAX) {
			log_errorx("event=console_dir_failed dir=%s "
			    "reason=\"more than %d files\"", dir,
			    STATIC_FILES_MAX);
			rc = -1;
		} else if ((rc = static_read(dfd, dir, de->d_name,
		    &s->ss_files[s->ss_n])) == 0) {
			s->ss_bytes += s->ss_files[s->ss_n].sf_len;
			s->ss_n++;
		} else
			free(s->ss_files[s->ss_n].sf_data);
	}
	closedir(d);
	if (rc == 0 && s->ss_bytes > STATIC_BYTES_MAX) {
		log_errorx("event=console_dir_failed dir=%s "
		    "reason=\"more than %d bytes\"", dir, STATIC_BYTES_MAX);
		rc = -1;
	}
	if (rc == 0 && s->ss_n == 0) {
		log_errorx("event=console_dir_failed dir=%s "
		    "reason=\"no console files\"", dir);
		rc = -1;
	}
	if (rc == -1) {
		static_set_free(s);
		return NULL;
	}
	log_info("event=console_loaded dir=%s files=%d bytes=%zu", dir,
	    s->ss_n, s->ss_bytes);
	return s;
}

/* Load the console's files if console_dir is set; -1 if they cannot be. */
int
static_init(const struct config *cf)
{
	st_cf = cf;
	if (cf->cf_console_dir[0] == '\0')
		return 0;
	return (st_set = static_load(cf->cf_console_dir)) == NULL ? -1 : 0;
}

/* Load the files again (SIGHUP); on failure keep those loaded. */
int
static_reload(void)
{
	struct static_set *s;

	if (st_cf == NULL || st_cf->cf_console_dir[0] == '\0')
		return 0;
	if ((s = static_load(st_cf->cf_console_dir)) == NULL) {
		log_errorx("event=console_reload_failed keeping=old");
		return -1;
	}
	static_set_free(st_set);
	st_set = s;
	return 0;
}

/* Free the loaded files. */
void
static_shutdown(void)
{
	static_set_free(st_set);
	st_set = NULL;
}

/* Whether an If-None-Match header names this ETag (or is "*"). */
static int
static_not_modified(const char *inm, const char *etag)
{
	size_t elen = strlen(etag), n;
	const char *p = inm;

	while (p != NULL && *p != '\0') {
		p += strspn(p, " \t,");
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		n = strcspn(p, " \t,");
		if ((n == 1 && *p == '*') || (n == elen &&
		    strncmp(p, etag, n) == 0))
			return 1;
		p += n;
	}
	return 0;
}

/* Answer with a file (no body for 304), with the console's headers. */
static void
static_send(struct request *r, const struct static_file *f, int status)
{
	const char *h[] = {
		"Content-Type", f->sf_type,
		"Cache-Control", "no-cache",
		"ETag", f->sf_etag,
		"Content-Security-Policy", STATIC_CSP,
		"X-Content-Type-Options", "nosniff",
		"X-Frame-Options", "DENY",
		"Referrer-Policy", "no-referrer",
		"Cross-Origin-Opener-Policy", "same-origin",
		"Cross-Origin-Resource-Policy", "same-origin",
		"Permissions-Policy", "camera=(), microphone=(), geolocation=(), "
		    "payment=(), usb=()",
		NULL
	};

	request_reply_bytes(r, status, h, f->sf_data, status == 304 ? 0 :
	    f->sf_len);
}

/*
 * GET /console (id NULL): a redirect to /console/.  GET /console/<name>:
 * the file of that name ("" is index.html), or 404.
 */
void
static_get(struct request *r, struct evhttp_request *req, const char *id)
{
	static const char *const moved[] = { "Location", "/console/",
	    "Cache-Control", "no-cache", NULL };
	const struct static_file *f = NULL;
	const char *inm, *name;
	int i;

	if (st_set == NULL) {
		api_fail(r, 404, "not_found", NULL, "no console is served here");
		return;
	}
	if (id == NULL) {
		request_reply_bytes(r, 308, moved, "", 0);
		return;
	}
	name = id[0] == '\0' ? "index.html" : id;
	for (i = 0; i < st_set->ss_n && f == NULL; i++)
		if (strcmp(st_set->ss_files[i].sf_name, name) == 0)
			f = &st_set->ss_files[i];
	if (f == NULL) {
		api_fail(r, 404, "not_found", NULL, "no such console file");
		return;
	}
	inm = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "If-None-Match");
	static_send(r, f, inm != NULL && static_not_modified(inm, f->sf_etag) ?
	    304 : 200);
}
