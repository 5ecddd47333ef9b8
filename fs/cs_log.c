/*
 * cs_log.c - the daemon's logging module (see cs_log.h).
 *
 * One process-wide logger: a level, a sink. The default sink writes one
 * line per message to stderr ("2024-05-01T12:00:00.123Z INFO message"), or
 * to syslog (ident "cstorfsd") once cs_log_use_syslog(1) was called. A
 * caller may replace the sink (the daemon does when detached, to append to
 * STORE/cstorfsd.log as well). Messages are formatted into a bounded
 * buffer (longer ones are cut) and emitted under one mutex, so lines from
 * different threads never interleave. The store library never logs.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>

#include "cs_log.h"

#define CS_LOG_LINE_MAX 2048

/* Lock order: cs_log_lock is a leaf; no other lock is taken under it.
 * The level is read without the lock (an int; a stale read is harmless). */
static pthread_mutex_t cs_log_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int cs_log_level = CS_LOG_INFO;
static int cs_log_syslog;	   /* under cs_log_lock */
static cs_log_sink_fn cs_log_sink; /* under cs_log_lock; NULL: default */

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static const char *level_name(int level)
{
	if (level < CS_LOG_ERROR || level > CS_LOG_DEBUG)
		return "?";
	return level_names[level];
}

static int level_syslog_prio(int level)
{
	switch (level) {
	case CS_LOG_ERROR:
		return LOG_ERR;
	case CS_LOG_WARN:
		return LOG_WARNING;
	case CS_LOG_INFO:
		return LOG_INFO;
	default:
		return LOG_DEBUG;
	}
}

void cs_log_set_level(int level)
{
	if (level < CS_LOG_ERROR)
		level = CS_LOG_ERROR;
	if (level > CS_LOG_DEBUG)
		level = CS_LOG_DEBUG;
	cs_log_level = level;
}

int cs_log_get_level(void)
{
	return cs_log_level;
}

void cs_log_use_syslog(int on)
{
	pthread_mutex_lock(&cs_log_lock);
	if (on && !cs_log_syslog)
		openlog("cstorfsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && cs_log_syslog)
		closelog();
	cs_log_syslog = on ? 1 : 0;
	pthread_mutex_unlock(&cs_log_lock);
}

void cs_log_set_sink(cs_log_sink_fn fn)
{
	pthread_mutex_lock(&cs_log_lock);
	cs_log_sink = fn;
	pthread_mutex_unlock(&cs_log_lock);
}

/* The default sink; called with cs_log_lock held. */
static void default_sink(int level, const char *msg)
{
	struct timeval tv;
	struct tm tm;
	char ts[32];

	if (cs_log_syslog) {
		syslog(level_syslog_prio(level), "%s", msg);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s\n", ts, (long)(tv.tv_usec / 1000), level_name(level), msg);
	fflush(stderr);
}

void cs_log(int level, const char *fmt, ...)
{
	char line[CS_LOG_LINE_MAX];
	va_list ap;
	size_t n;

	if (level > cs_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One message, one line: drop a trailing newline callers may add. */
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';

	pthread_mutex_lock(&cs_log_lock);
	if (cs_log_sink)
		cs_log_sink(level, line);
	else
		default_sink(level, line);
	pthread_mutex_unlock(&cs_log_lock);
}
