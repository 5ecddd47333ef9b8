/*
 * dp_log.c - stderr logging for cstorfs-docker-plugin (see dp_log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dp_log.h"

static int debug_on;

void dp_log_set_debug(int on)
{
	debug_on = on;
}

void dp_log(enum dp_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warning", "error"};
	char line[2048], when[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level == DP_LOG_DEBUG && !debug_on)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ cstorfs-docker-plugin %s: ", when,
		     ts.tv_nsec / 1000000, names[level]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (m < 0) ? n : n + m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere else to say it */
}
