/*
 * snapbench-stream.c - send/receive through the store library, for benchmarks/snapbench.sh
 * while `cstorfs-ctl send/receive` are not available (the store must not be held by a daemon).
 *
 *   snapbench-stream send STORE VOLUME SNAP BASE|- OUTFILE   (BASE "-": a full stream)
 *   snapbench-stream recv STORE VOLUME INFILE
 *
 * Build: cc -O2 -Istore benchmarks/snapbench-stream.c build/libcstore.a \
 *           -lrocksdb -lzstd -lcrypto -lpthread
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_store.h"

static int write_all(void *ctx, const void *buf, size_t len)
{
	int fd = *(int *)ctx;
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "snapbench-stream: %s: %s (%s)\n", what, strerror(-err), cs_last_error());
	exit(1);
}

int main(int argc, char **argv)
{
	cs_store *st;
	int err;
	if (argc == 7 && !strcmp(argv[1], "send")) {
		struct cs_send_opts o = { .volume = argv[3], .snap = argv[4] };
		if (strcmp(argv[5], "-")) {
			o.base_volume = argv[3];
			o.base = argv[5];
		}
		int fd = open(argv[6], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			die(argv[6], -errno);
		if ((err = cs_store_open(argv[2], 0, &st)))
			die("open", err);
		if ((err = cs_send(st, &o, write_all, &fd)))
			die("send", err);
		if (close(fd) < 0)
			die("close", -errno);
		cs_store_close(st);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "recv")) {
		struct cs_recv *r;
		struct cs_recv_result res;
		static char buf[1 << 20];
		int fd = open(argv[4], O_RDONLY);
		if (fd < 0)
			die(argv[4], -errno);
		if ((err = cs_store_open(argv[2], CS_STORE_CREATE, &st)))
			die("open", err);
		if ((err = cs_recv_begin(st, argv[3], 0, &r)))
			die("recv_begin", err);
		for (;;) {
			ssize_t n = read(fd, buf, sizeof buf);
			if (n < 0)
				die("read", -errno);
			if (n == 0)
				break;
			if ((err = cs_recv_feed(r, buf, (size_t)n)))
				die("recv_feed", err);
		}
		if ((err = cs_recv_finish(r, &res)))
			die("recv_finish", err);
		cs_recv_free(r);
		close(fd);
		cs_store_close(st);
		printf("%s %llu\n", res.snapshot, (unsigned long long)res.bytes);
		return 0;
	}
	fprintf(stderr, "usage: snapbench-stream send STORE VOLUME SNAP BASE|- OUTFILE\n"
	                "       snapbench-stream recv STORE VOLUME INFILE\n");
	return 2;
}
