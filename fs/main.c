/*
 * main.c - cstorfsd, the daemon that owns one store: it opens the store,
 * serves the control API on STORE/cstorfsd.sock and runs the FUSE sessions
 * the API asks for (cs_api.c), until SIGTERM, SIGINT or POST
 * /v1/daemon/stop.
 *
 *   cstorfsd --store DIR [--foreground] [--debug] [--create]
 *
 * Exit codes: 0 clean stop; 1 error (message on stderr before detaching);
 * 3 the store is in use (another process holds it, or a daemon already
 * answers on its socket).
 *
 * Detaching. Threads and fcntl locks do not survive fork(), and the store
 * starts RocksDB threads and takes an fcntl lock; so the daemon forks
 * *first* (fork, setsid, fork) and the grandchild does all the work while
 * the original process waits on a pipe for a status byte. The grandchild
 * writes it once the socket listens (0) or when it failed (1 or 3, its
 * message already on the original stderr); the original process then exits
 * with that status, so whoever started the daemon knows it answers. Only
 * then does the grandchild point stdio at /dev/null and log to syslog and
 * STORE/cstorfsd.log.
 *
 * Signals: SIGTERM, SIGINT (stop) and SIGHUP (ignored) are blocked in every thread (threads
 * inherit the mask) and read from a signalfd by the main thread, which also
 * waits on a pipe the API writes to for POST /v1/daemon/stop. SIGPIPE is
 * ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cs_api.h"
#include "cs_log.h"
#include "cs_store.h"

#define EXIT_INUSE 3
#define SOCKET_NAME "cstorfsd.sock"
#define PID_NAME "cstorfsd.pid"
#define LOG_NAME "cstorfsd.log"
#define LOCK_NAME "cstorfs.lock"

struct daemon_opts {
	const char *store;
	int foreground;
	int debug;
	int create;
	const char *chunks; /* --chunks SPEC: where a created store keeps chunks */
};

static int log_fd = -1; /* STORE/cstorfsd.log once detached */

static void usage(FILE *f)
{
	fprintf(f, "usage: cstorfsd --store DIR [--foreground] [--debug] [--create [--chunks SPEC]]\n"
		   "\n"
		   "  --store DIR    the store directory (required)\n"
		   "  --foreground   do not detach; log to stderr\n"
		   "  --debug        log at debug level (every FUSE operation)\n"
		   "  --create       create the store when DIR holds none\n"
		   "  --chunks SPEC  with --create: local (default) or rados:POOL[;conf=FILE][;id=NAME]\n"
		   "\n"
		   "Exit codes: 0 clean stop, 1 error, 3 store in use.\n");
}

static void die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void die_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("cstorfsd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	static const struct option lo[] = {
	    {"store", required_argument, NULL, 's'}, {"foreground", no_argument, NULL, 'f'},
	    {"debug", no_argument, NULL, 'd'},	     {"create", no_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},	     {"chunks", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0}};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "s:fdchk:", lo, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->store = optarg;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case 'd':
			o->debug = 1;
			break;
		case 'c':
			o->create = 1;
			break;
		case 'k':
			o->chunks = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		die_msg("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (!o->store || !*o->store) {
		die_msg("--store DIR is required");
		return -1;
	}
	if (o->chunks && !o->create) {
		die_msg("--chunks goes with --create");
		return -1;
	}
	return 0;
}

/* mkdir -p @dir, mode 0700 for what it creates. */
static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(dir);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = dir[i];
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Logging once detached: syslog and STORE/cstorfsd.log               */
/* ------------------------------------------------------------------ */

static const char *level_name(int level)
{
	static const char *const n[] = {"ERROR", "WARN", "INFO", "DEBUG"};

	return level >= 0 && level <= CS_LOG_DEBUG ? n[level] : "?";
}

/* Called by cs_log with its lock held: must not log. */
static void detached_sink(int level, const char *msg)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	struct timeval tv;
	struct tm tm;
	char ts[32], line[2200];
	int n;

	syslog(level >= 0 && level <= CS_LOG_DEBUG ? prio[level] : LOG_INFO, "%s", msg);
	if (log_fd < 0)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ [%d] %s %s\n", ts, (long)(tv.tv_usec / 1000),
		     (int)getpid(), level_name(level), msg);
	if (n > (int)sizeof(line))
		n = sizeof(line);
	if (write(log_fd, line, (size_t)n) < 0) {
		/* nowhere left to complain */
	}
}

/* ------------------------------------------------------------------ */
/* Detaching                                                          */
/* ------------------------------------------------------------------ */

/* @what failed before detaching: say so on stderr, exit 1. */
static void die_errno(const char *what)
{
	die_msg("%s: %s", what, strerror(errno));
	_exit(1);
}

/* Fork twice; only the grandchild returns, with the write end of the
 * status pipe in *@status_fd. The original process exits with the status
 * the grandchild reports (1 if it dies first). */
static void detach_begin(int *status_fd)
{
	int p[2];
	pid_t pid;
	char st;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		die_errno("pipe");
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &st, 1);
		while (n < 0 && errno == EINTR);
		waitpid(pid, NULL, 0); /* the intermediate child */
		_exit(n == 1 ? st : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		die_errno("setsid");
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid > 0)
		_exit(0); /* the original still waits on the pipe */
	*status_fd = p[1];
}

static void report_status(int *status_fd, char st)
{
	if (*status_fd < 0)
		return;
	if (write(*status_fd, &st, 1) < 0) {
		/* the original process is gone; nothing to do */
	}
	close(*status_fd);
	*status_fd = -1;
}

/* Once the socket listens: stdio to /dev/null, logs to syslog and the
 * log file, tell the original process we are up. */
static void detach_finish(const char *store, int *status_fd)
{
	char path[PATH_MAX + 32];
	int null;

	snprintf(path, sizeof(path), "%s/%s", store, LOG_NAME);
	log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	openlog("cstorfsd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	cs_log_set_sink(detached_sink);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	report_status(status_fd, 0);
}

/* ------------------------------------------------------------------ */
/* Store, socket, pid file                                            */
/* ------------------------------------------------------------------ */

/* The pid recorded in the store's lock file, or 0. */
static long lock_owner(const char *store)
{
	char path[PATH_MAX + 32], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", store, LOCK_NAME);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* The store's notices (its RADOS pool stopped answering, works again):
 * the daemon's log, once each rather than at every failing request. */
static void store_notice(int error, const char *msg)
{
	if (error)
		cs_err("%s", msg);
	else
		cs_info("%s", msg);
}

static int open_store(const struct daemon_opts *o, const char *store, cs_store **st)
{
	int err;

	cs_set_notice(store_notice);
	/* a store that exists keeps its chunk store; none yet: create it as asked */
	err = cs_store_open(store, 0, st);
	long pid;

	if (err == -ENOENT && o->create)
		err = cs_store_open_chunks(store, CS_STORE_CREATE, o->chunks, st);

	if (err == 0)
		return 0;
	if (err == -EBUSY) {
		pid = lock_owner(store);
		if (pid > 0)
			die_msg("store %s in use by pid %ld", store, pid);
		else
			die_msg("store %s in use (%s)", store, cs_last_error());
		return EXIT_INUSE;
	}
	if (err == -ENOENT && !o->create)
		die_msg("no store in %s (use --create to make one)", store);
	else if (*cs_last_error())
		die_msg("cannot open store %s: %s", store, cs_last_error());
	else
		die_msg("cannot open store %s: %s", store, strerror(-err));
	return 1;
}

/* Bind and listen on @path (mode 0600). A socket file nobody answers on is
 * stale and removed; a live one means a daemon runs (exit 3). */
static int listen_socket(const char *path, int *out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int fd, probe;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		die_msg("socket path %s is too long (max %zu bytes)", path,
			sizeof(sa.sun_path) - 1);
		return 1;
	}
	strcpy(sa.sun_path, path);

	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			die_msg("a daemon is already running on %s", path);
			return EXIT_INUSE;
		}
		close(probe);
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		die_msg("cannot remove stale socket %s: %s", path, strerror(errno));
		return 1;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		die_msg("socket: %s", strerror(errno));
		return 1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		umask(old);
		die_msg("cannot bind %s: %s", path, strerror(errno));
		close(fd);
		return 1;
	}
	umask(old);
	if (chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		die_msg("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return 1;
	}
	*out = fd;
	return 0;
}

static int write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Main                                                               */
/* ------------------------------------------------------------------ */

/* Wait until a stop signal arrives or the API asks to stop. */
static void wait_for_stop(int sfd, int stop_rd)
{
	struct pollfd pfd[2] = {
	    {.fd = sfd, .events = POLLIN},
	    {.fd = stop_rd, .events = POLLIN},
	};
	struct signalfd_siginfo si;

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			cs_err("poll: %s", strerror(errno));
			return;
		}
		if (pfd[1].revents)
			return;
		if (pfd[0].revents && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				cs_info("received SIGHUP, ignored");
				continue;
			}
			cs_info("received %s, stopping", strsignal((int)si.ssi_signo));
			return;
		}
	}
}

/* The store directory of @o, made when --create, as a canonical path in
 * @store (PATH_MAX bytes). Errors are said on stderr. */
static int store_dir(const struct daemon_opts *o, char *store)
{
	int err;

	if (o->create && (err = mkdir_p(o->store)) < 0) {
		die_msg("cannot create %s: %s", o->store, strerror(-err));
		return -1;
	}
	if (!realpath(o->store, store)) {
		if (errno == ENOENT)
			die_msg("no store in %s (the directory does not exist)", o->store);
		else
			die_msg("%s: %s", o->store, strerror(errno));
		return -1;
	}
	return 0;
}

/* Block SIGTERM, SIGINT and SIGHUP in this thread and every thread created
 * from here on (they inherit the mask); read them from *@sfd. *@stop: the
 * pipe the API writes to for POST /v1/daemon/stop. */
static int signals_setup(int *sfd, int stop[2])
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	*sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (*sfd < 0 || pipe2(stop, O_CLOEXEC | O_NONBLOCK) < 0) {
		die_msg("cannot set up signal handling: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Open the store, serve the control API on its socket until a stop
 * signal or request, then unmount every volume and close the store.
 * Returns the exit status (EXIT_INUSE, 1 or 0). */
static int serve(const struct daemon_opts *o, const char *store, int *status_fd, int sfd,
		 const int stop[2])
{
	char sock[PATH_MAX + 32], pidf[PATH_MAX + 32];
	struct cs_api *api = NULL;
	cs_store *st = NULL;
	int rc, err, listen_fd = -1;

	snprintf(sock, sizeof(sock), "%s/%s", store, SOCKET_NAME);
	snprintf(pidf, sizeof(pidf), "%s/%s", store, PID_NAME);
	if ((rc = open_store(o, store, &st)) || (rc = listen_socket(sock, &listen_fd)))
		goto out;
	err = cs_api_start(st, listen_fd, stop[1], &api);
	if (err) {
		die_msg("cannot start the control API server on %s: %s", sock, strerror(-err));
		close(listen_fd);
		unlink(sock);
		rc = 1;
		goto out;
	}
	if ((err = write_pidfile(pidf)) < 0)
		cs_warn("cannot write %s: %s", pidf, strerror(-err));

	if (!o->foreground)
		detach_finish(store, status_fd);
	cs_info("cstorfsd %s started: store %s, pid %d", CS_VERSION, store, (int)getpid());

	wait_for_stop(sfd, stop[0]);

	cs_info("stopping: unmounting every volume");
	cs_api_free(api); /* stops the server, then ends every session */
	unlink(sock);
	unlink(pidf);
out:
	cs_store_close(st);
	if (rc == 0)
		cs_info("stopped");
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon_opts o;
	char store[PATH_MAX];
	int status_fd = -1, sfd = -1, stop[2] = {-1, -1};
	int rc = 1;

	if (parse_args(argc, argv, &o) < 0)
		return 1;
	/* Chunks come and go in buffers of up to 1 MiB: keep them in the heap
	 * and keep freed memory there. glibc's defaults map the large ones
	 * and trim the heap back, so every write faulted in (and the kernel
	 * zeroed) fresh pages: a tenth of the daemon's time in a sequential
	 * write (clear_page, benchmarks/PROFILE.md). */
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_ARENA_MAX, 1); /* threads' own arenas give a heap back whole */
	if (o.debug)
		cs_log_set_level(CS_LOG_DEBUG);
	signal(SIGPIPE, SIG_IGN);
	if (store_dir(&o, store) < 0)
		return 1;

	if (!o.foreground) {
		detach_begin(&status_fd);
		if (chdir("/") < 0) {
			/* cannot happen; stay where we are */
		}
	}
	if (signals_setup(&sfd, stop) == 0)
		rc = serve(&o, store, &status_fd, sfd, stop);
	report_status(&status_fd, (char)rc);
	if (sfd >= 0)
		close(sfd);
	if (stop[0] >= 0)
		close(stop[0]);
	if (stop[1] >= 0)
		close(stop[1]);
	if (log_fd >= 0)
		close(log_fd);
	return rc;
}
