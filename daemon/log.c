/*
 * Logging: one line per event as key=value pairs, to stderr in the
 * foreground or to syslog otherwise.  Callers log ids, never personal data.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "hotlined.h"

static int	 log_foreground = 1;
static int	 log_level = LOG_LVL_INFO;

static const char *const log_names[] = { "error", "warn", "info", "debug" };

/* Choose where logs go and how much is logged. */
void
log_init(int foreground, int level)
{
	log_foreground = foreground;
	log_level = level;
	if (!foreground)
		openlog("hotlined", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Change the log level (configuration reload). */
void
log_setlevel(int level)
{
	log_level = level;
}

/* Return the current log level. */
int
log_getlevel(void)
{
	return log_level;
}

/* Seconds on the monotonic clock, for durations and deadlines. */
double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Emit one log line at the given level. */
static void
log_vmsg(int level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
	    LOG_DEBUG };
	char line[2048], stamp[40];
	struct timespec ts;
	struct tm tm;

	if (level > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (!log_foreground) {
		syslog(prio[level], "level=%s %s", log_names[level], line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ level=%s %s\n", stamp,
	    ts.tv_nsec / 1000000, log_names[level], line);
}

/* Log a formatted message at a level. */
void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

/* Log at error level and exit. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
