/*
 * metabench - metadata micro-benchmark for `make bench` (issue 7).
 *
 *   metabench PHASE DIR NFILES NDIRS
 *
 * Works on DIR/d00 .. DIR/d(NDIRS-1), with NFILES files spread evenly over
 * them (f000000, f000001, ...). Each invocation runs one phase, so the harness
 * can drop caches or remount between phases. Prints one line:
 *
 *   PHASE OPS SECONDS OPS_PER_SECOND
 *
 * Phases (run in this order by benchmarks/run.sh):
 *   create   mkdir the directories, then open(O_CREAT|O_EXCL)+close each file
 *   write    open(O_WRONLY|O_TRUNC) + write 4 KiB + close, each file
 *   stat     stat() each file
 *   readdir  opendir/readdir/closedir every directory; OPS = entries seen
 *   orc      open + read 4 KiB + close, each file
 *   unlink   unlink each file, then rmdir the directories
 *
 * Exit status 0 on success; 1 (with a message naming the path) on any error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char buf[4096];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "metabench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void dpath(char *out, size_t n, const char *dir, long d)
{
	snprintf(out, n, "%s/d%02ld", dir, d);
}

static void fpath(char *out, size_t n, const char *dir, long i, long ndirs)
{
	snprintf(out, n, "%s/d%02ld/f%06ld", dir, i % ndirs, i);
}

int main(int argc, char **argv)
{
	char p[4096];
	const char *phase, *dir;
	long nfiles, ndirs, i, ops = 0;
	double t0, t1;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: metabench create|write|stat|readdir|orc|unlink DIR NFILES NDIRS\n");
		return 2;
	}
	phase = argv[1];
	dir = argv[2];
	nfiles = atol(argv[3]);
	ndirs = atol(argv[4]);
	if (nfiles <= 0 || ndirs <= 0 || ndirs > 100) {
		fprintf(stderr, "metabench: bad NFILES or NDIRS\n");
		return 2;
	}
	memset(buf, 'm', sizeof(buf));

	t0 = now();
	if (!strcmp(phase, "create")) {
		for (i = 0; i < ndirs; i++) {
			dpath(p, sizeof(p), dir, i);
			if (mkdir(p, 0755) < 0)
				die("mkdir", p);
		}
		for (i = 0; i < nfiles; i++) {
			fpath(p, sizeof(p), dir, i, ndirs);
			fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
			if (fd < 0)
				die("create", p);
			if (close(fd) < 0)
				die("close", p);
		}
		ops = nfiles;
	} else if (!strcmp(phase, "write")) {
		for (i = 0; i < nfiles; i++) {
			fpath(p, sizeof(p), dir, i, ndirs);
			fd = open(p, O_WRONLY | O_TRUNC);
			if (fd < 0)
				die("open", p);
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				die("write", p);
			if (close(fd) < 0)
				die("close", p);
		}
		ops = nfiles;
	} else if (!strcmp(phase, "stat")) {
		struct stat st;
		for (i = 0; i < nfiles; i++) {
			fpath(p, sizeof(p), dir, i, ndirs);
			if (stat(p, &st) < 0)
				die("stat", p);
		}
		ops = nfiles;
	} else if (!strcmp(phase, "readdir")) {
		for (i = 0; i < ndirs; i++) {
			DIR *d;
			struct dirent *e;
			dpath(p, sizeof(p), dir, i);
			d = opendir(p);
			if (!d)
				die("opendir", p);
			errno = 0;
			while ((e = readdir(d)) != NULL)
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					ops++;
			if (errno)
				die("readdir", p);
			closedir(d);
		}
		if (ops != nfiles) {
			fprintf(stderr, "metabench: readdir saw %ld entries, expected %ld\n", ops, nfiles);
			return 1;
		}
	} else if (!strcmp(phase, "orc")) {
		for (i = 0; i < nfiles; i++) {
			fpath(p, sizeof(p), dir, i, ndirs);
			fd = open(p, O_RDONLY);
			if (fd < 0)
				die("open", p);
			if (read(fd, buf, sizeof(buf)) < 0)
				die("read", p);
			if (close(fd) < 0)
				die("close", p);
		}
		ops = nfiles;
	} else if (!strcmp(phase, "unlink")) {
		for (i = 0; i < nfiles; i++) {
			fpath(p, sizeof(p), dir, i, ndirs);
			if (unlink(p) < 0)
				die("unlink", p);
		}
		for (i = 0; i < ndirs; i++) {
			dpath(p, sizeof(p), dir, i);
			if (rmdir(p) < 0)
				die("rmdir", p);
		}
		ops = nfiles;
	} else {
		fprintf(stderr, "metabench: unknown phase %s\n", phase);
		return 2;
	}
	t1 = now();
	printf("%s %ld %.6f %.1f\n", phase, ops, t1 - t0, (double)ops / (t1 - t0));
	return 0;
}
