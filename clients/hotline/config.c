/*
 * The client's settings.  One table of parameters (name, type, where it is
 * kept, its environment variable and its default) drives the defaults, the
 * `key = value` file (`-c`, else ~/.config/hotline/config), the
 * environment (HOTLINED_URL, HOTLINED_CERT, HOTLINED_KEY, HOTLINED_CA) and
 * `-o key=value`, applied in that order so that the later wins.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotline.h"

#define CONFIG_FILE_MAX		(64 * 1024)	/* bytes of a settings file */
#define CONFIG_LINE_MAX		4096

enum param_type {
	PARAM_STRING,
	PARAM_PATH,		/* relative in a file: to the file's directory */
	PARAM_SECONDS,
};

/* One setting. */
struct param {
	const char	*pm_name;
	enum param_type	 pm_type;
	size_t		 pm_off;	/* in struct hl_config */
	const char	*pm_env;	/* environment variable, or NULL */
	const char	*pm_default;	/* NULL: unset */
	double		 pm_min, pm_max;	/* PARAM_SECONDS */
};

#define CF(field)	offsetof(struct hl_config, field)

static const struct param params[] = {
	{ "url", PARAM_STRING, CF(hc_url), "HOTLINED_URL",
	    "https://127.0.0.1:12355", 0, 0 },
	{ "cert", PARAM_PATH, CF(hc_cert), "HOTLINED_CERT", NULL, 0, 0 },
	{ "key", PARAM_PATH, CF(hc_key), "HOTLINED_KEY", NULL, 0, 0 },
	{ "ca", PARAM_PATH, CF(hc_ca), "HOTLINED_CA", NULL, 0, 0 },
	{ "timeout", PARAM_SECONDS, CF(hc_timeout), NULL, "35", 1, 3600 },
	{ "retry_time", PARAM_SECONDS, CF(hc_retry_time), NULL, "120", 0,
	    7 * 86400 },
	{ "retry_first", PARAM_SECONDS, CF(hc_retry_first), NULL, "0.5", 0.01,
	    3600 },
	{ "retry_max", PARAM_SECONDS, CF(hc_retry_max), NULL, "10", 0.01,
	    3600 },
	{ "watch_wait", PARAM_SECONDS, CF(hc_watch_wait), NULL, "20", 0, 600 },
	{ "watch_interval", PARAM_SECONDS, CF(hc_watch_interval), NULL, "5",
	    0.1, 3600 },
};

#define NPARAMS	(sizeof(params) / sizeof(params[0]))

/* The parameter of a name, or NULL. */
static const struct param *
config_param(const char *name)
{
	size_t i;

	for (i = 0; i < NPARAMS; i++)
		if (strcmp(params[i].pm_name, name) == 0)
			return &params[i];
	return NULL;
}

/* Parse a number of seconds (digits, an optional fraction); -1 if not. */
static int
config_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/*
 * Set one parameter from text; dir, if not NULL, is the directory a
 * relative path is taken from.  0, or -1 with the reason in why.
 */
static int
config_apply(struct hl_config *cf, const struct param *pm, const char *val,
    const char *dir, char *why, size_t whylen)
{
	char **sp;
	double *dp, v;
	char *copy;

	switch (pm->pm_type) {
	case PARAM_SECONDS:
		dp = (double *)(void *)((char *)cf + pm->pm_off);
		if (config_seconds(val, &v) == -1 || v < pm->pm_min ||
		    v > pm->pm_max) {
			snprintf(why, whylen, "%s must be a number of seconds "
			    "from %g to %g", pm->pm_name, pm->pm_min,
			    pm->pm_max);
			return -1;
		}
		*dp = v;
		return 0;
	case PARAM_PATH:
		if (*val != '\0' && *val != '/' && dir != NULL) {
			if (asprintf(&copy, "%s/%s", dir, val) == -1)
				copy = NULL;
			break;
		}
		copy = strdup(val);
		break;
	case PARAM_STRING:
	default:
		copy = strdup(val);
		break;
	}
	if (copy == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	sp = (char **)(void *)((char *)cf + pm->pm_off);
	free(*sp);
	*sp = copy;
	return 0;
}

/* Every parameter at its default. */
void
config_defaults(struct hl_config *cf)
{
	char why[128];
	size_t i;

	memset(cf, 0, sizeof(*cf));
	for (i = 0; i < NPARAMS; i++)
		if (params[i].pm_default != NULL &&
		    config_apply(cf, &params[i], params[i].pm_default, NULL,
		    why, sizeof(why)) == -1)
			complain("default of %s: %s", params[i].pm_name, why);
}

/* Free the strings of the settings. */
void
config_clear(struct hl_config *cf)
{
	size_t i;

	for (i = 0; i < NPARAMS; i++)
		if (params[i].pm_type != PARAM_SECONDS)
			free(*(char **)(void *)((char *)cf + params[i].pm_off));
	memset(cf, 0, sizeof(*cf));
}

/* The default settings file: $XDG_CONFIG_HOME/hotline/config, else
 * ~/.config/hotline/config; NULL without a home. */
const char *
config_default_path(char *buf, size_t len)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (x != NULL && *x == '/')
		snprintf(buf, len, "%s/hotline/config", x);
	else if (home != NULL && *home != '\0')
		snprintf(buf, len, "%s/.config/hotline/config", home);
	else
		return NULL;
	return buf;
}

/* Strip white space at both ends of s, in place. */
static char *
config_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Read a whole settings file into memory; NULL if it cannot be read. */
static char *
config_read(const char *path)
{
	struct stat st;
	FILE *f;
	char *text;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_FILE_MAX) {
		fclose(f);
		errno = EINVAL;
		return NULL;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	n = fread(text, 1, (size_t)st.st_size, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/*
 * Read a settings file of `key = value` lines (`#` starts a comment line).
 * A missing file is an error only if required.  Errors are printed as
 * file:line: message; 0 or -1.
 */
int
config_file(struct hl_config *cf, const char *path, int required)
{
	const struct param *pm;
	char *text, *line, *next, *key, *val, *eq, *dir, *slash, why[160];
	int lineno = 0, errors = 0;

	if ((text = config_read(path)) == NULL) {
		if (errno == ENOENT && !required)
			return 0;
		complain("%s: %s", path, errno == EINVAL ?
		    "not a regular file of at most 64 KiB" : strerror(errno));
		return -1;
	}
	if ((dir = strdup(path)) == NULL) {
		free(text);
		return -1;
	}
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		snprintf(dir, strlen(dir) + 1, ".");
	for (line = text; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		key = config_trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		if (strlen(key) > CONFIG_LINE_MAX ||
		    (eq = strchr(key, '=')) == NULL) {
			complain("%s:%d: expected key = value", path, lineno);
			errors++;
			continue;
		}
		*eq = '\0';
		key = config_trim(key);
		val = config_trim(eq + 1);
		if ((pm = config_param(key)) == NULL) {
			complain("%s:%d: unknown setting %s", path, lineno, key);
			errors++;
		} else if (config_apply(cf, pm, val, dir, why,
		    sizeof(why)) == -1) {
			complain("%s:%d: %s", path, lineno, why);
			errors++;
		}
	}
	free(dir);
	free(text);
	return errors ? -1 : 0;
}

/* Take the settings that have an environment variable from it; 0 or -1. */
int
config_env(struct hl_config *cf)
{
	const char *v;
	char why[160];
	size_t i;

	for (i = 0; i < NPARAMS; i++) {
		if (params[i].pm_env == NULL ||
		    (v = getenv(params[i].pm_env)) == NULL || *v == '\0')
			continue;
		if (config_apply(cf, &params[i], v, NULL, why,
		    sizeof(why)) == -1) {
			complain("%s: %s", params[i].pm_env, why);
			return -1;
		}
	}
	return 0;
}

/* Apply one `key=value` given with -o; 0 or -1. */
int
config_set(struct hl_config *cf, const char *kv)
{
	const struct param *pm;
	char name[64], why[160];
	const char *eq;

	if ((eq = strchr(kv, '=')) == NULL || (size_t)(eq - kv) >=
	    sizeof(name)) {
		complain("-o %s: expected key=value", kv);
		return -1;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(eq - kv), kv);
	if ((pm = config_param(name)) == NULL) {
		complain("-o %s: unknown setting", name);
		return -1;
	}
	if (config_apply(cf, pm, eq + 1, NULL, why, sizeof(why)) == -1) {
		complain("-o %s", why);
		return -1;
	}
	return 0;
}

/* Whether the settings are enough to talk to the daemon; 0 or -1. */
int
config_check(const struct hl_config *cf)
{
	if (cf->hc_cert == NULL || *cf->hc_cert == '\0' ||
	    cf->hc_key == NULL || *cf->hc_key == '\0') {
		complain("no client certificate: set HOTLINED_CERT and "
		    "HOTLINED_KEY, or cert and key in the settings file");
		return -1;
	}
	if (cf->hc_url == NULL || strncmp(cf->hc_url, "https://", 8) != 0) {
		complain("url must start with https://");
		return -1;
	}
	return 0;
}
