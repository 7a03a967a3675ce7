/*
 * Requests to the daemon, and the retry loop that makes the client the
 * reference for how a gateway must behave.  A POST carries one
 * Idempotency-Key (given with --key, else a fresh UUID) for every try, so
 * retrying is always safe: the daemon either stores the submission once or
 * replays its first answer.  A try is repeated when it got no answer (the
 * connection failed or was lost: the outcome is unknown), a 503, a 502 or
 * 504 from a proxy in front, or a 409 idempotency_in_flight; after an
 * exponential back-off with jitter (retry_first doubling up to retry_max,
 * each wait drawn between half and all of that), never sooner than the
 * daemon's Retry-After, and never past retry_time in all.  Every try is
 * logged to stderr at -v by method, path, key and status: never a body,
 * which holds personal data, nor the path of a lookup, which does too (its
 * ac_shown stands for it).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <openssl/rand.h>

#include "hotline.h"

#define RETRY_AFTER_SPREAD	0.25	/* share of Retry-After added at most */
#define TRY_TIMEOUT_MIN		1.0	/* s a later try gets at least */
#define UUID_LEN		36
#define NOTE_MAX		(URL_PATH_MAX + IDEM_KEY_MAX + 160)

static char	api_note[NOTE_MAX];	/* printed if a POST is interrupted */

/* Seconds on the monotonic clock. */
double
api_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A random number in [0, 1). */
static double
api_random(void)
{
	uint32_t r;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)rand();
	return (double)r / 4294967296.0;
}

/* Sleep for s seconds, whatever interrupts. */
void
api_sleep(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - floor(s)) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A fresh Idempotency-Key: a random (version 4) UUID. */
static void
api_new_key(char key[UUID_LEN + 1])
{
	unsigned char b[16];
	size_t i;
	int n = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		for (i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)rand();
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			key[n++] = '-';
		n += snprintf(key + n, 3, "%02x", b[i]);
	}
}

/* Whether a key has the protocol's shape: 1-128 of A-Z a-z 0-9 . _ : - */
int
api_key_valid(const char *key)
{
	size_t n = strlen(key);

	return n > 0 && n <= IDEM_KEY_MAX && strspn(key,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._:-") == n;
}

/*
 * A path from a format of at most two %s, each argument percent-encoded
 * (a case number or an id as typed: "/" or "?" in it stay inside its
 * segment); 0, or -1 if it does not fit.
 */
int
api_path(char *buf, size_t len, const char *fmt, const char *a,
    const char *b)
{
	char *ea = NULL, *eb = NULL;
	int n;

	if ((a != NULL && (ea = evhttp_uriencode(a, -1, 0)) == NULL) ||
	    (b != NULL && (eb = evhttp_uriencode(b, -1, 0)) == NULL)) {
		free(ea);
		return -1;
	}
	n = snprintf(buf, len, fmt, ea != NULL ? ea : "", eb != NULL ? eb : "");
	free(ea);
	free(eb);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Add a query parameter to a path: "?name=value" for the first, else
 * "&name=value", the value percent-encoded; nothing for a NULL value.
 * 0, or -1 if it does not fit.
 */
int
api_param(char *buf, size_t len, const char *name, const char *value)
{
	char *ev;
	size_t n = strlen(buf);
	int w;

	if (value == NULL)
		return 0;
	if ((ev = evhttp_uriencode(value, -1, 0)) == NULL)
		return -1;
	w = snprintf(buf + n, len - n, "%c%s=%s", strchr(buf, '?') != NULL ?
	    '&' : '?', name, ev);
	free(ev);
	if (w < 0 || (size_t)w >= len - n) {
		buf[n] = '\0';
		return -1;
	}
	return 0;
}

/* The error code of an error body, or NULL. */
static const char *
api_error_code(struct json_object *body)
{
	return jstr(jget(body, "error"), "code");
}

/* Whether an answer is worth another try under the same key. */
static int
api_retryable(const struct http_reply *rp, struct json_object *body)
{
	const char *code;

	switch (rp->hr_status) {
	case 0:
		return !rp->hr_final;
	case 502:
	case 503:
	case 504:
		return 1;
	case 409:
		code = api_error_code(body);
		return code != NULL && strcmp(code, "idempotency_in_flight") == 0;
	default:
		return 0;
	}
}

/* Parse a body as JSON; NULL if it is not. */
static struct json_object *
api_parse(const char *body, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (body == NULL || len == 0 || (tok = json_tokener_new()) == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* One try's outcome on one stderr line: status and code, or why not. */
static void
api_outcome(char *buf, size_t len, const struct http_reply *rp,
    struct json_object *body)
{
	const char *code = api_error_code(body);
	int n;

	if (rp->hr_status == 0) {
		snprintf(buf, len, "no answer (%s)", rp->hr_why);
		return;
	}
	n = snprintf(buf, len, "%d%s%s", rp->hr_status, code != NULL ? " " :
	    "", code != NULL ? code : "");
	if (rp->hr_retry_after >= 0 && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " (Retry-After %g s)",
		    rp->hr_retry_after);
}

/* How long to wait before try n + 1 after try n. */
static double
api_backoff(const struct hl_config *cf, int n, double retry_after)
{
	double d = cf->hc_retry_first * pow(2, n - 1);

	if (d > cf->hc_retry_max)
		d = cf->hc_retry_max;
	d = d / 2 + api_random() * d / 2;
	if (retry_after >= 0 && d < retry_after)
		d = retry_after + api_random() * RETRY_AFTER_SPREAD *
		    (retry_after > 1 ? retry_after : 1);
	return d;
}

/* Print a refusal on stderr: status, code, field and message. */
static void
api_refused(const struct api_reply *ar)
{
	struct json_object *err = jget(ar->ar_json, "error");
	const char *code = jstr(err, "code"), *field = jstr(err, "field");
	const char *msg = jstr(err, "message");

	if (code == NULL) {
		complain("refused: HTTP %d", ar->ar_status);
		return;
	}
	if (field != NULL)
		complain("refused: %d %s (field %s): %s", ar->ar_status, code,
		    field, msg != NULL ? msg : "");
	else
		complain("refused: %d %s: %s", ar->ar_status, code,
		    msg != NULL ? msg : "");
}

/* A request's path as it may be shown: never one that holds personal
 * data (a caller's number, a child's ID number or name). */
static const char *
api_shown(const struct api_call *ac)
{
	return ac->ac_shown != NULL ? ac->ac_shown : ac->ac_path;
}

/* Tell the user the daemon stayed unavailable, and how to go on safely
 * (sent: some try may have reached the daemon). */
static void
api_gave_up(const struct api_call *ac, const char *key, int tries,
    double took, const char *last, int sent)
{
	complain("unavailable after %d %s in %.1f s: %s", tries,
	    tries == 1 ? "try" : "tries", took, last);
	if (key != NULL && sent)
		complain("whether %s %s was done is unknown: run the same "
		    "command again with --key %s to do it at most once",
		    ac->ac_method, api_shown(ac), key);
	else if (key != NULL)
		complain("%s %s never reached the daemon; with --key %s "
		    "running it again is safe all the same", ac->ac_method,
		    api_shown(ac), key);
}

/* Interrupted during a POST: say which key makes a re-run safe, and go. */
static void
api_interrupted(int sig)
{
	ssize_t n = write(STDERR_FILENO, api_note, strlen(api_note));

	(void)n;
	_exit(128 + sig);
}

/* Arm (key not NULL) or disarm the note printed if a POST is interrupted. */
static void
api_note_arm(const struct api_call *ac, const char *key)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	if (key != NULL) {
		snprintf(api_note, sizeof(api_note), "hotline: interrupted: "
		    "whether %s %s was done is unknown: run the same command "
		    "again with --key %s to do it at most once\n",
		    ac->ac_method, api_shown(ac), key);
		sa.sa_handler = api_interrupted;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * Try a request until it is answered with something not worth retrying,
 * or retrying is over; rp holds the last try, what its outcome for
 * people.  0, or -1 (said) if it stayed unavailable.
 */
static int
api_retry(struct hl *h, const struct api_call *ac, const char *key,
    struct http_reply *rp, struct json_object **body, char *what,
    size_t whatlen)
{
	const struct hl_config *cf = &h->h_cf;
	double start = api_now(), end = start + cf->hc_retry_time, timeout;
	double wait;
	int try, complained = 0, sent = 0;

	for (try = 1;; try++) {
		timeout = cf->hc_timeout + ac->ac_wait;
		if (try > 1 && !ac->ac_forever && timeout > end - api_now())
			timeout = fmax(end - api_now(), TRY_TIMEOUT_MIN);
		http_exchange(h->h_http, ac->ac_method, ac->ac_path, key,
		    ac->ac_body, ac->ac_len, timeout, rp);
		sent |= !rp->hr_unsent;
		json_object_put(*body);
		*body = api_parse(rp->hr_body, rp->hr_len);
		api_outcome(what, whatlen, rp, *body);
		if (h->h_verbose)
			complain("%s %s try %d%s%s: %s%s%s", ac->ac_method,
			    api_shown(ac), try, key != NULL ? " key=" : "",
			    key != NULL ? key : "", what,
			    rp->hr_id[0] != '\0' ? " request=" : "", rp->hr_id);
		if (!api_retryable(rp, *body))
			break;
		wait = api_backoff(cf, try, rp->hr_retry_after);
		if (ac->ac_forever) {
			if (!complained++ && !h->h_verbose)
				complain("daemon unavailable: %s; retrying",
				    what);
		} else if (api_now() + wait >= end) {
			api_gave_up(ac, key, try, api_now() - start, what,
			    sent);
			return -1;
		}
		if (h->h_verbose)
			complain("next try in %.1f s", wait);
		api_sleep(wait);
	}
	if (rp->hr_status == 0) {
		complain("%s %s: %s", ac->ac_method, api_shown(ac), what);
		return -1;
	}
	if (complained && !h->h_verbose)
		complain("daemon available again");
	return 0;
}

/*
 * Make a request, retrying as the module comment says; the reply is kept
 * in ar (the caller clears it).  EXIT_OK for a 2xx answer; EXIT_REFUSED
 * (printed, and the daemon's JSON on stdout with --json) for any other,
 * but a 403 forbidden to a probe (not printed: the caller asks another
 * endpoint); EXIT_UNAVAILABLE if no answer came in time.
 */
int
api_do(struct hl *h, const struct api_call *ac, struct api_reply *ar)
{
	struct http_reply rp;
	struct json_object *body = NULL;
	char fresh[UUID_LEN + 1], what[HTTP_WHY_MAX + 64];
	const char *key = NULL, *code;
	int rc;

	memset(ar, 0, sizeof(*ar));
	memset(&rp, 0, sizeof(rp));
	if (strcmp(ac->ac_method, "POST") == 0) {
		if ((key = h->h_key) == NULL) {
			api_new_key(fresh);
			key = fresh;
		}
		api_note_arm(ac, key);
	}
	rc = api_retry(h, ac, key, &rp, &body, what, sizeof(what));
	if (key != NULL)
		api_note_arm(ac, NULL);
	if (rc == -1) {
		http_reply_clear(&rp);
		json_object_put(body);
		return EXIT_UNAVAILABLE;
	}
	ar->ar_status = rp.hr_status;
	ar->ar_json = body;
	ar->ar_body = rp.hr_body;
	ar->ar_len = rp.hr_len;
	ar->ar_replayed = rp.hr_replayed;
	if (ar->ar_status >= 200 && ar->ar_status < 300) {
		if (ar->ar_json == NULL) {
			complain("%s %s: the answer is not JSON", ac->ac_method,
			    api_shown(ac));
			return EXIT_REFUSED;
		}
		return EXIT_OK;
	}
	if (ac->ac_probe && ar->ar_status == 403 && (code =
	    api_error_code(ar->ar_json)) != NULL &&
	    strcmp(code, "forbidden") == 0)
		return EXIT_REFUSED;
	api_print_json(h, ar);
	api_refused(ar);
	return EXIT_REFUSED;
}

/* Hold one Idempotency-Key for the command's POSTs (--key's, else a fresh
 * one), so that two requests of one command share it. */
void
api_key_hold(struct hl *h)
{
	static char fresh[UUID_LEN + 1];

	if (h->h_key == NULL) {
		api_new_key(fresh);
		h->h_key = fresh;
	}
}

/* GET a path. */
int
api_get(struct hl *h, const char *path, struct api_reply *ar)
{
	struct api_call ac = { .ac_method = "GET", .ac_path = path };

	return api_do(h, &ac, ar);
}

/* Make a POST's body of a JSON object (NULL: none); it lasts as long as
 * the object. */
void
api_body(struct api_call *ac, struct json_object *body)
{
	ac->ac_method = "POST";
	ac->ac_body = NULL;
	ac->ac_len = 0;
	if (body != NULL) {
		ac->ac_body = json_object_to_json_string_ext(body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		ac->ac_len = strlen(ac->ac_body);
	}
}

/* POST a JSON body (NULL: none) to a path. */
int
api_post(struct hl *h, const char *path, struct json_object *body,
    struct api_reply *ar)
{
	struct api_call ac = { .ac_path = path };

	api_body(&ac, body);
	return api_do(h, &ac, ar);
}

/* Make a request and show its answer: the JSON as it came with --json,
 * else through show. */
int
api_show(struct hl *h, const struct api_call *ac,
    void (*show)(struct json_object *))
{
	struct api_reply ar;
	int rc;

	if ((rc = api_do(h, ac, &ar)) == EXIT_OK && !api_print_json(h, &ar))
		show(ar.ar_json);
	api_reply_clear(&ar);
	return rc;
}

/* GET a path and show its answer (as api_show). */
int
api_read(struct hl *h, const char *path, void (*show)(struct json_object *))
{
	struct api_call ac = { .ac_method = "GET", .ac_path = path };

	return api_show(h, &ac, show);
}

/* GET the path a format makes with one argument (as api_path) and show
 * its answer as api_read does. */
int
api_read_at(struct hl *h, const char *fmt, const char *arg,
    void (*show)(struct json_object *))
{
	char path[URL_PATH_MAX];

	if (api_path(path, sizeof(path), fmt, arg, NULL) == -1)
		return EXIT_USAGE;
	return api_read(h, path, show);
}

/* Free a reply's body and its parse. */
void
api_reply_clear(struct api_reply *ar)
{
	json_object_put(ar->ar_json);
	free(ar->ar_body);
	memset(ar, 0, sizeof(*ar));
}

/* With --json, print the daemon's body as it came; 1 if printed. */
int
api_print_json(struct hl *h, const struct api_reply *ar)
{
	if (!h->h_json || ar->ar_body == NULL)
		return 0;
	fwrite(ar->ar_body, 1, ar->ar_len, stdout);
	if (ar->ar_len > 0 && ar->ar_body[ar->ar_len - 1] != '\n')
		putchar('\n');
	return 1;
}
