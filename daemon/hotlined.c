/*
 * hotlined: start-up, signals and shutdown.  One libevent loop serves
 * TLS, HTTP, the metrics, the database pool and timers; nothing blocks it.
 * Under systemd (Type=notify) it tells the service manager when it is
 * ready, reloading and stopping.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "hotlined.h"

static struct event_base	*main_base;
static struct config		 main_cf;
static struct event		*main_drain_ev;
static double			 main_drain_deadline;
static int			 main_stopping;	/* the database side is shut */

static const char *const main_channels[] = { CHANNEL_CLIENTS, CHANNEL_QUEUE,
    CHANNEL_CLOCK, NULL };

/*
 * Tell systemd our state ("READY=1", ...) if it asked (NOTIFY_SOCKET): one
 * datagram, never waiting; a path starting with '@' is an abstract socket.
 */
static void
main_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t plen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (plen = strlen(path)) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_warnx("event=sd_notify_failed reason=\"%s\"",
		    strerror(errno));
	close(fd);
}

/* Route a database notification (NULL: listening restarted) to its users. */
static void
main_notify(const char *channel)
{
	if (channel == NULL || strcmp(channel, CHANNEL_CLIENTS) == 0)
		ident_notify();
	if (channel == NULL || strcmp(channel, CHANNEL_QUEUE) == 0)
		queue_notify();
	if (channel == NULL || strcmp(channel, CHANNEL_CLOCK) == 0)
		escalate_notify();
}

/* Print usage and exit. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: hotlined [-dnvV] [-f file]\n"
	    "  -f file  configuration file (default /etc/hotlined.conf)\n"
	    "  -n       check the configuration and exit\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -v       log at debug level\n"
	    "  -V       print the version and exit\n");
	exit(2);
}

/*
 * Check whether in-flight work is done; then stop, in two steps.  First
 * the database side: its remaining jobs fail, and their callbacks answer
 * their requests while those still exist; the requests still unanswered
 * (long polls) are answered too.  SHUTDOWN_FLUSH_MS later, once those
 * answers have been written, the HTTP side is freed with every request it
 * holds, and the loop stops.
 */
static void
main_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { 0, DRAIN_POLL_MS * 1000 };
	struct timeval flush = { 0, SHUTDOWN_FLUSH_MS * 1000 };
	int drained;

	(void)fd; (void)what; (void)arg;
	if (main_stopping) {
		metrics_shutdown();
		server_shutdown();
		ident_shutdown();
		escalate_shutdown();
		api_shutdown();
		protect_shutdown();
		static_shutdown();
		event_base_loopexit(main_base, NULL);
		return;
	}
	drained = server_drained();
	if (!drained && mono_now() < main_drain_deadline) {
		evtimer_add(main_drain_ev, &tv);
		return;
	}
	log_info("event=stopping drained=%d", drained);
	main_stopping = 1;
	db_shutdown();
	request_shutdown();
	evtimer_add(main_drain_ev, &flush);
}

/* SIGTERM/SIGINT: stop accepting, finish what is in flight, exit. */
static void
main_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what; (void)arg;
	if (main_drain_ev != NULL) {
		log_info("event=signal signal=%d again=1", (int)sig);
		return;
	}
	log_info("event=draining signal=%d", (int)sig);
	main_sd_notify("STOPPING=1");
	server_drain();
	main_drain_deadline = mono_now() + main_cf.cf_request_timeout + 1;
	main_drain_ev = evtimer_new(main_base, main_drain_cb, NULL);
	if (main_drain_ev == NULL)
		fatalx("event=fatal reason=\"cannot drain\"");
	main_drain_cb(-1, 0, NULL);
}

/*
 * Raise the descriptor limit to its hard limit, log what was got, and cap
 * connections below it (keeping FD_RESERVE and the database pool's), so
 * that the connection cap, not EMFILE, is what stops accepting.
 */
static void
main_descriptors(struct config *cf)
{
	struct rlimit rl;
	rlim_t want;
	long cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warnx("event=descriptors reason=\"getrlimit: %s\"",
		    strerror(errno));
		return;
	}
	want = rl.rlim_max;
	if (want == RLIM_INFINITY || want > FD_LIMIT_MAX)
		want = FD_LIMIT_MAX;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warnx("event=descriptors reason=\"setrlimit: %s\"",
			    strerror(errno));
			getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	cap = (long)rl.rlim_cur - FD_RESERVE - cf->cf_db_pool;
	if (cap < 1)
		cap = 1;
	if (cf->cf_max_connections > cap) {
		log_warnx("event=max_connections configured=%d lowered=%ld "
		    "reason=descriptors", cf->cf_max_connections, cap);
		cf->cf_max_connections = (int)cap;
	}
	if (cf->cf_max_anon > cf->cf_max_connections)
		cf->cf_max_anon = cf->cf_max_connections;
	log_info("event=descriptors limit=%llu max_connections=%d "
	    "max_anon_connections=%d", (unsigned long long)rl.rlim_cur,
	    cf->cf_max_connections, cf->cf_max_anon);
}

/* SIGHUP: reload the TLS certificate files, the key files and the
 * console's files. */
static void
main_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig; (void)what; (void)arg;
	main_sd_notify("RELOADING=1");
	server_reload_tls();
	protect_reload();
	static_reload();
	main_sd_notify("READY=1");
}

int
main(int argc, char *argv[])
{
	const char *path = "/etc/hotlined.conf";
	struct event *ev_term, *ev_int, *ev_hup;
	int ch, checkonly = 0, foreground = 0, debug = 0;

	while ((ch = getopt(argc, argv, "df:nvV")) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'v':
			debug = 1;
			break;
		case 'V':
			printf("hotlined %s\n", HOTLINED_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	config_defaults(&main_cf);
	if (config_load(&main_cf, path) == -1)
		return 1;
	if (debug)
		main_cf.cf_log_level = LOG_LVL_DEBUG;
	if (checkonly) {
		SSL_CTX *ctx;

		log_init(1, main_cf.cf_log_level);
		if (tls_init() == -1 || (ctx = tls_ctx_new(&main_cf)) == NULL) {
			fprintf(stderr, "%s: TLS files unusable\n", path);
			return 1;
		}
		SSL_CTX_free(ctx);
		if (protect_init(&main_cf) == -1) {
			fprintf(stderr, "%s: key files unusable\n", path);
			return 1;
		}
		protect_shutdown();
		if (static_init(&main_cf) == -1) {
			fprintf(stderr, "%s: console_dir unusable\n", path);
			return 1;
		}
		static_shutdown();
		printf("configuration OK\n");
		return 0;
	}
	log_init(foreground, main_cf.cf_log_level);
	signal(SIGPIPE, SIG_IGN);
	/* No keys, no service: personal data is never stored unsealed. */
	if (protect_init(&main_cf) == -1)
		fatalx("event=fatal reason=\"cannot load the key files\"");
	if (static_init(&main_cf) == -1)
		fatalx("event=fatal reason=\"cannot load console_dir\"");
	if (tls_init() == -1)
		fatalx("event=fatal reason=\"tls init\"");
	main_descriptors(&main_cf);
	if ((main_base = event_base_new()) == NULL)
		fatalx("event=fatal reason=\"event base\"");
	if (server_init(main_base, &main_cf) == -1)
		fatalx("event=fatal reason=\"cannot start the server\"");
	if (metrics_init(main_base, &main_cf) == -1)
		fatalx("event=fatal reason=\"cannot start the metrics\"");
	if (!foreground && daemon(0, 0) == -1)
		fatalx("event=fatal reason=\"daemon: %s\"", strerror(errno));
	if (db_init(main_base, &main_cf) == -1 ||
	    ident_init(main_base, &main_cf) == -1 ||
	    api_init(main_base, &main_cf) == -1 ||
	    escalate_init(main_base, &main_cf) == -1 ||
	    db_listen(main_channels, main_notify) == -1)
		fatalx("event=fatal reason=\"cannot start\"");
	ev_term = evsignal_new(main_base, SIGTERM, main_stop_cb, NULL);
	ev_int = evsignal_new(main_base, SIGINT, main_stop_cb, NULL);
	ev_hup = evsignal_new(main_base, SIGHUP, main_hup_cb, NULL);
	if (ev_term == NULL || ev_int == NULL || ev_hup == NULL ||
	    evsignal_add(ev_term, NULL) == -1 ||
	    evsignal_add(ev_int, NULL) == -1 ||
	    evsignal_add(ev_hup, NULL) == -1)
		fatalx("event=fatal reason=\"signals\"");
	log_info("event=started version=%s pid=%d", HOTLINED_VERSION,
	    (int)getpid());
	main_sd_notify("READY=1");
	event_base_dispatch(main_base);
	/* Stopping already: a second SIGTERM or Ctrl-C must not kill the exit. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	if (main_drain_ev != NULL)
		event_free(main_drain_ev);
	event_base_free(main_base);
	log_info("event=stopped");
	return 0;
}
