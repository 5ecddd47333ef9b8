/*
 * fv_reply.c - the driver's single JSON answer, its deadline, its log (see
 * fv_reply.h).
 *
 * States: NONE (no answer yet) -> WRITTEN. The transition happens once,
 * with SIGALRM blocked, so the deadline handler and the normal path never
 * both write. The handler only uses a message composed in advance and
 * async-signal-safe calls (write, _exit).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fv_reply.h"

#define FV_IDENT "cstorfs-flexvolume"

static volatile sig_atomic_t answered;
static int answered_code;
static char deadline_msg[1024];
static size_t deadline_len;

void fv_reply_stdio(void)
{
	int fd;

	/* Make sure 0, 1 and 2 are taken, so no later open() lands on them. */
	do {
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	} while (fd >= 0 && fd <= 2);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	} else {
		close(2);
	}
	openlog(FV_IDENT, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Append @prefix and @msg to $CSTORFS_FLEX_LOG when set (one line, with a
 * timestamp). */
static void log_file(int prio, const char *prefix, const char *msg)
{
	const char *path = getenv("CSTORFS_FLEX_LOG");
	char stamp[32], line[2048];
	struct tm tm;
	time_t now;
	int fd, n;

	if (!path || path[0] != '/')
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %s[%d] <%d> %s%s\n", stamp, FV_IDENT, (int)getpid(),
		     prio, prefix, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1, line[n - 1] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) {
		/* nowhere left to say so */
	}
	close(fd);
}

/* Format @fmt with @ap into @msg (@cap bytes) and log @prefix followed by
 * it, to syslog and the log file. */
static void log_v(int prio, const char *prefix, char *msg, size_t cap, const char *fmt, va_list ap)
{
	vsnprintf(msg, cap, fmt, ap);
	syslog(prio, "%s%s", prefix, msg);
	log_file(prio, prefix, msg);
}

void fv_log(int prio, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	log_v(prio, "", msg, sizeof(msg), fmt, ap);
	va_end(ap);
}

/* Write all of @buf to stdout; EINTR-safe, usable from the handler. */
static void write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(1, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void on_deadline(int sig)
{
	(void)sig;
	if (answered)
		return;
	answered = 1;
	write_all(deadline_msg, deadline_len);
	_exit(FV_EXIT_FAIL);
}

/* Serialise {"status": @status, "message": @message?} plus a newline. */
static char *compose(const char *status, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL, *line = NULL;

	if (!o || !cJSON_AddStringToObject(o, "status", status) ||
	    (message && !cJSON_AddStringToObject(o, "message", message)))
		goto out;
	text = cJSON_PrintUnformatted(o);
	if (text && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
out:
	free(text);
	cJSON_Delete(o);
	return line;
}

void fv_reply_deadline(const char *call, const char *what, unsigned seconds)
{
	struct sigaction sa;
	char msg[768];
	char *line;

	snprintf(msg, sizeof(msg), "cstorfs %s did not finish within %u s: %s", call, seconds,
		 what);
	line = compose("Failure", msg);
	if (!line) {
		snprintf(deadline_msg, sizeof(deadline_msg),
			 "{\"status\":\"Failure\",\"message\":\"cstorfs: call timed out\"}\n");
	} else {
		snprintf(deadline_msg, sizeof(deadline_msg), "%s", line);
		free(line);
	}
	deadline_len = strlen(deadline_msg);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_deadline;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(seconds);
}

/* The one place an answer is written. */
static int answer(const char *line, int code)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (!answered) {
		answered = 1;
		answered_code = code;
		write_all(line, strlen(line));
	}
	alarm(0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return answered_code;
}

static int answer_status(const char *status, const char *message, int code)
{
	char *line = compose(status, message);
	int ret;

	if (!line)
		return answer("{\"status\":\"Failure\",\"message\":\"out of memory\"}\n",
			      FV_EXIT_FAIL);
	ret = answer(line, code);
	free(line);
	return ret;
}

int fv_reply_success(void)
{
	return answer_status("Success", NULL, FV_EXIT_OK);
}

int fv_reply_notsupported(const char *call)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "cstorfs does not implement the '%.64s' call", call);
	return answer_status("Not supported", msg, FV_EXIT_OK);
}

int fv_reply_failure(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	log_v(LOG_ERR, "failure: ", msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return answer_status("Failure", msg, FV_EXIT_FAIL);
}

int fv_reply_raw(const char *json, int exit_code)
{
	char *line = NULL;
	int ret;

	if (asprintf(&line, "%s\n", json) < 0)
		return answer("{\"status\":\"Failure\",\"message\":\"out of memory\"}\n",
			      FV_EXIT_FAIL);
	ret = answer(line, exit_code);
	free(line);
	return ret;
}
