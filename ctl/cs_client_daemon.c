/*
 * cs_client_daemon.c - starting the store's daemon when none answers
 * (cs_client_ensure_daemon, cs_client.h).
 *
 * The client forks a child that starts a new session, points stdin/stdout
 * at /dev/null and stderr at a pipe, and execs `cstorfsd --store DIR
 * --create`. cstorfsd detaches by itself once its socket listens and its
 * first process exits with 0, 1 or 3; the client reads what it wrote on
 * stderr (for the error message) and polls the socket until it answers or
 * CS_CLIENT_START_TIMEOUT passes. The daemon never keeps the client's
 * stdio, so callers whose stdout is a pipe finish promptly.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cs_client_int.h"

static int is_executable(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* The daemon's path: $CSTORFSD, else beside /proc/self/exe, else "cstorfsd"
 * (looked up in PATH by execvp). Returns a malloc'd string. */
static char *daemon_path(void)
{
	const char *env = getenv("CSTORFSD");
	char self[PATH_MAX];
	char *slash, *p = NULL;
	ssize_t n;

	if (env && *env)
		return strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (asprintf(&p, "%s/cstorfsd", self) < 0)
				p = NULL;
			if (p && is_executable(p))
				return p;
			free(p);
		}
	}
	return strdup("cstorfsd");
}

/* In the child: new session, stdin/stdout on /dev/null, stderr on
 * @errfd, no other descriptor, default signals; then exec. Never
 * returns. */
static void exec_daemon(const char *prog, const char *store, int errfd)
{
	int null = open("/dev/null", O_RDWR);
	struct sigaction sa;
	sigset_t none;
	int fd;

	setsid();
	if (null < 0)
		_exit(127);
	dup2(null, 0);
	dup2(null, 1);
	dup2(errfd, 2);
	for (fd = 3; fd < 1024; fd++)
		close(fd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (fd = 1; fd < NSIG; fd++)
		sigaction(fd, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (strchr(prog, '/'))
		execl(prog, prog, "--store", store, "--create", (char *)NULL);
	else
		execlp(prog, prog, "--store", store, "--create", (char *)NULL);
	dprintf(2, "cannot run %s: %s\n", prog, strerror(errno));
	_exit(127);
}

/* Read what the starting daemon writes on stderr, without blocking for
 * longer than @until. Returns 1 once EOF was seen. */
static int drain_stderr(int fd, char *buf, size_t cap, size_t *len, double until)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int ms = (int)((until - csc_now()) * 1000);
	ssize_t n;
	char junk[256];

	if (ms < 0)
		ms = 0;
	if (ms > 100)
		ms = 100;
	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	if (*len + 1 < cap)
		n = read(fd, buf + *len, cap - 1 - *len);
	else
		n = read(fd, junk, sizeof(junk));
	if (n == 0)
		return 1;
	if (n < 0)
		return errno != EINTR && errno != EAGAIN;
	if (*len + 1 < cap) {
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return 0;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

/* A daemon being started: its first process and what it says on stderr. */
struct start {
	pid_t pid;
	int fd; /* the read end of its stderr */
	int status, exited, eof;
	double until;
	char err[1024];
	size_t errlen;
};

/* Wait for the daemon started as @s to answer, until s->until: 1 when it
 * answers, 0 when its first process failed or the time passed. */
static int start_wait(struct cs_client *c, struct start *s)
{
	for (;;) {
		if (!s->eof)
			s->eof = drain_stderr(s->fd, s->err, sizeof(s->err), &s->errlen, s->until);
		else
			usleep(50 * 1000);
		if (!s->exited && waitpid(s->pid, &s->status, WNOHANG) == s->pid)
			s->exited = 1;
		/* The first daemon process exits once the socket listens. */
		if (s->exited && WIFEXITED(s->status) && WEXITSTATUS(s->status) == 0 &&
		    cs_client_ping(c))
			return 1;
		/* Failed (e.g. another process is starting one): a daemon
		 * may still come up; otherwise report its complaint. */
		if (s->exited && (!WIFEXITED(s->status) || WEXITSTATUS(s->status) != 0) &&
		    (s->eof || csc_now() >= s->until)) {
			if (cs_client_ping(c))
				return 1;
			if (WIFEXITED(s->status) && WEXITSTATUS(s->status) == 3 &&
			    csc_now() < s->until) {
				usleep(100 * 1000);
				continue;
			}
			return 0;
		}
		if (csc_now() >= s->until)
			return 0;
	}
}

/* Keep the reason why the daemon started as @s (@prog) does not answer. */
static void start_failed(struct cs_client *c, struct start *s, const char *prog)
{
	chomp(s->err);
	if (s->err[0])
		csc_set_err(c, "cannot start the daemon for %s: %s", c->store, s->err);
	else if (s->exited && WIFEXITED(s->status) && WEXITSTATUS(s->status) == 127)
		csc_set_err(c, "cannot start the daemon: %s not found", prog);
	else
		csc_set_err(c, "the daemon for %s did not answer within %d s", c->store,
			    CS_CLIENT_START_TIMEOUT);
}

int cs_client_ensure_daemon(struct cs_client *c)
{
	struct start s = {.fd = -1, .until = csc_now() + CS_CLIENT_START_TIMEOUT};
	int pipefd[2] = {-1, -1};
	char *prog = NULL;
	int ret = 0;

	if (cs_client_ping(c))
		return 0;
	prog = daemon_path();
	if (!prog)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		csc_set_err(c, "cannot start the daemon: %s", strerror(errno));
		goto out;
	}
	s.pid = fork();
	if (s.pid < 0) {
		ret = CS_CLIENT_EUNREACHABLE;
		csc_set_err(c, "cannot start the daemon: %s", strerror(errno));
		goto out;
	}
	if (s.pid == 0)
		exec_daemon(prog, c->store, pipefd[1]);
	close(pipefd[1]);
	pipefd[1] = -1;
	s.fd = pipefd[0];
	if (start_wait(c, &s))
		goto out;
	/* Still not ready: leave it running, it may yet come up. */
	if (!s.exited)
		waitpid(s.pid, &s.status, WNOHANG);
	if (cs_client_ping(c))
		goto out;
	start_failed(c, &s, prog);
	ret = CS_CLIENT_EUNREACHABLE;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	free(prog);
	return ret;
}
