/*
 * store_bench.c - throughput of the store library alone (no FUSE).
 *
 * Writes SIZE bytes (default 1 GiB) sequentially in 1 MiB calls into one
 * file of a fresh volume, syncs, closes and reopens the store (so reads
 * come from RocksDB, not from memory the writer left), then reads the file
 * back in 1 MiB calls, and prints MiB/s for both, for incompressible
 * (random) and compressible (text-like, about 3:1 with zstd) data.
 *
 *   build/store_bench [DIR] [SIZE_MIB] [ZSTD_LEVEL]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cs_store.h"

#define BLOCK (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill(char *buf, size_t len, int text)
{
	static const char *words[] = { "volume ", "chunk ", "snapshot ", "the ", "of ",
	                               "store ", "container ", "inode ", "data\n", "a " };

	if (!text) {
		for (size_t i = 0; i + 8 <= len; i += 8) {
			uint64_t v = next();
			memcpy(buf + i, &v, 8);
		}
		return;
	}
	for (size_t i = 0; i < len;) {
		uint64_t v = next();
		const char *w = words[v % 10];
		size_t n = strlen(w);

		if (v % 7 == 0) { /* some noise so it is not trivially compressible */
			n = 6;
			for (size_t j = 0; j < n && i + j < len; j++)
				buf[i + j] = 'a' + (char)((v >> (8 * j)) % 26);
		} else {
			for (size_t j = 0; j < n && i + j < len; j++)
				buf[i + j] = w[j];
		}
		i += n;
	}
}

static int level = CS_DEFAULT_ZSTD_LEVEL;

static int run(const char *dir, uint64_t size, int text)
{
	struct cs_volume_opts opts = { .compression = level };
	struct cs_cred cred = { 0, 0 };
	struct cs_store_stats s;
	struct cs_attr a;
	cs_store *st;
	cs_vol *vol;
	char *buf = malloc(BLOCK), cmd[4200];
	double t0, tw, tr;
	int rc;

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	fill(buf, BLOCK, text);
	if ((rc = cs_store_open(dir, CS_STORE_CREATE, &st)) ||
	    (rc = cs_volume_create(st, "bench", &opts, 0, 0, NULL)) ||
	    (rc = cs_vol_open(st, "bench", 0, &vol)) ||
	    (rc = cs_mknod(vol, CS_ROOT_INO, "f", S_IFREG | 0644, 0, &cred, &a))) {
		fprintf(stderr, "setup: %s\n", cs_last_error());
		return 1;
	}
	t0 = now();
	for (uint64_t off = 0; off < size; off += BLOCK) {
		for (uint32_t c = 0; c < BLOCK; c += CS_CHUNK_SIZE) /* no dedup */
			memcpy(buf + c, &(uint64_t){ off + c }, 8);
		if (cs_write(vol, a.ino, off, buf, BLOCK) != BLOCK) {
			fprintf(stderr, "write: %s\n", cs_last_error());
			return 1;
		}
	}
	cs_vol_sync(vol);
	tw = now() - t0;
	cs_store_stats(st, &s);
	cs_vol_close(vol);
	cs_store_close(st);
	if (cs_store_open(dir, 0, &st) || cs_vol_open(st, "bench", CS_VOL_RDONLY, &vol)) {
		fprintf(stderr, "reopen: %s\n", cs_last_error());
		return 1;
	}
	t0 = now();
	for (uint64_t off = 0; off < size; off += BLOCK)
		if (cs_read(vol, a.ino, off, buf, BLOCK) != BLOCK) {
			fprintf(stderr, "read: %s\n", cs_last_error());
			return 1;
		}
	tr = now() - t0;
	printf("%-15s write %7.1f MiB/s   read %7.1f MiB/s   stored/raw %.2f\n",
	       text ? "compressible" : "incompressible", size / tw / 1048576.0,
	       size / tr / 1048576.0, (double)s.stored_bytes / (double)s.raw_bytes);
	cs_vol_close(vol);
	cs_store_close(st);
	system(cmd);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp/cstorfs-store-bench";
	uint64_t size = (argc > 2 ? strtoull(argv[2], NULL, 10) : 1024) << 20;

	if (argc > 3)
		level = atoi(argv[3]);

	printf("store library alone, %llu MiB in 1 MiB calls, zstd level %d\n",
	       (unsigned long long)(size >> 20), level);
	return run(dir, size, 0) || run(dir, size, 1);
}
