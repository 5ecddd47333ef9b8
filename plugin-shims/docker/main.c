/*
 * main.c - cstorfs-docker-plugin: the Docker volume plugin of cstorfs.
 *
 *   cstorfs-docker-plugin [--store DIR] [--socket PATH] [--mount-root DIR] [--debug]
 *
 * Listens on the plugin socket (default /run/docker/plugins/cstorfs.sock)
 * at once, before anything slow, so dockerd never waits on a missing
 * socket; refuses to start when a live plugin answers there and removes a
 * stale socket file. Then starts serving, starts the store's daemon if none
 * runs and recovers what an earlier run left (dp_driver_recover). Stops on
 * SIGTERM or SIGINT and removes its socket (only if it is still its own).
 * The volumes stay mounted: the cstorfs daemon, not this process, serves
 * them, and a restarted plugin adopts them.
 *
 * Exit codes: 0 clean stop; 1 error; 2 usage; 3 another plugin answers on
 * the socket.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dp_driver.h"
#include "dp_http.h"
#include "dp_log.h"

#define DEFAULT_SOCKET "/run/docker/plugins/cstorfs.sock"
#define EXIT_INUSE 3

struct opts {
	const char *store;
	const char *socket;
	const char *mount_root;
	int debug;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cstorfs-docker-plugin [--store DIR] [--socket PATH] "
		   "[--mount-root DIR] [--debug]\n"
		   "  --store DIR       the cstorfs store (default: $CSTORFS_STORE, else "
		   "/var/lib/cstorfs)\n"
		   "  --socket PATH     the plugin socket (default " DEFAULT_SOCKET ")\n"
		   "  --mount-root DIR  where volumes are mounted (default STORE/mounts)\n"
		   "  --debug           log every request\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"store", required_argument, NULL, 's'},
	    {"socket", required_argument, NULL, 'S'},
	    {"mount-root", required_argument, NULL, 'm'},
	    {"debug", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->socket = DEFAULT_SOCKET;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->store = optarg;
			break;
		case 'S':
			o->socket = optarg;
			break;
		case 'm':
			o->mount_root = optarg;
			break;
		case 'd':
			o->debug = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cstorfs-docker-plugin: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

/* mkdir -p the directory of @path. */
static void make_parent(const char *path)
{
	char *copy = strdup(path), *dir, *p;

	if (!copy)
		return;
	dir = dirname(copy);
	for (p = dir + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	}
	mkdir(dir, 0755);
	free(copy);
}

/* Bind and listen on @path (mode 0600). Returns 0, EXIT_INUSE when a live
 * plugin answers there, or 1. A socket nobody answers on is removed. */
static int listen_socket(const char *path, int *out, struct stat *st)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, probe;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		dp_err("socket path %s is too long (at most %zu bytes)", path,
		       sizeof(sa.sun_path) - 1);
		return 1;
	}
	strcpy(sa.sun_path, path);
	make_parent(path);
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		dp_err("another plugin is already answering on %s", path);
		return EXIT_INUSE;
	}
	if (probe >= 0)
		close(probe);
	if (unlink(path) == 0)
		dp_info("removed the stale socket %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		dp_err("socket: %s", strerror(errno));
		return 1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    stat(path, st) < 0) {
		umask(old);
		dp_err("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return 1;
	}
	umask(old);
	*out = fd;
	return 0;
}

/* Remove @path only if it is still the socket we made (@st). */
static void remove_socket(const char *path, const struct stat *st)
{
	struct stat now;

	if (stat(path, &now) == 0 && now.st_ino == st->st_ino && now.st_dev == st->st_dev)
		unlink(path);
}

static int block_signals(void)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	if (pthread_sigmask(SIG_BLOCK, &mask, NULL))
		return -1;
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

static void wait_for_stop(int sfd)
{
	struct signalfd_siginfo si;

	for (;;) {
		if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
			if (errno == EINTR)
				continue;
			dp_err("reading signals: %s", strerror(errno));
			return;
		}
		if (si.ssi_signo == SIGHUP)
			continue;
		dp_info("received %s, stopping", strsignal((int)si.ssi_signo));
		return;
	}
}

int main(int argc, char **argv)
{
	struct dp_driver *d = NULL;
	struct dp_http *h = NULL;
	int rc, err, sfd = -1, fd = -1, own_socket = 0;
	struct stat sock_st;
	struct opts o;

	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	dp_log_set_debug(o.debug);
	sfd = block_signals(); /* before any thread, so all inherit the mask */
	if (sfd < 0) {
		dp_err("cannot set up signal handling: %s", strerror(errno));
		return 1;
	}
	rc = listen_socket(o.socket, &fd, &sock_st);
	if (rc)
		goto out;
	own_socket = 1;
	rc = 1;
	err = dp_driver_new(o.store, o.mount_root, &d);
	if (err) {
		dp_err("cannot set up the driver: %s", strerror(-err));
		goto out;
	}
	err = dp_http_start(fd, d, &h);
	if (err) {
		dp_err("cannot serve HTTP on %s: %s", o.socket, strerror(-err));
		goto out;
	}
	fd = -1; /* the server's now */
	dp_info("listening on %s (store %s, mounts under %s)", o.socket, dp_driver_store(d),
		dp_driver_mount_root(d));
	dp_driver_recover(d);
	wait_for_stop(sfd);
	rc = 0;
out:
	dp_http_stop(h);
	if (fd >= 0)
		close(fd);
	if (own_socket)
		remove_socket(o.socket, &sock_st);
	dp_driver_free(d);
	close(sfd);
	return rc;
}
