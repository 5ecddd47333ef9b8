/*
 * test_data.c - file data: random writes/truncates/reads against an
 * in-memory model, sparse and >4 GiB files, inline files, fallocate,
 * SEEK_DATA/SEEK_HOLE, dedup, compression, corruption detection, quota,
 * statfs, and concurrent writers.
 */
#include "testutil.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO
#define CH ((uint64_t)CS_CHUNK_SIZE)
#define MIB (1024ULL * 1024ULL)
#define GIB (1024ULL * MIB)

/* ------------------------------------------------------------------ */
/* Model-based random test                                            */
/* ------------------------------------------------------------------ */

#define MODEL_MAX (24 * CH + 777) /* ~1.5 MiB, not chunk aligned */

struct model {
	uint8_t *data; /* MODEL_MAX bytes, zero past size */
	uint64_t size;
};

static uint64_t pick_off(struct tu_rng *r, uint64_t limit)
{
	if (tu_rng_below(r, 10) < 3) {
		/* near a chunk boundary */
		uint64_t k = tu_rng_below(r, limit / CH + 1) * CH;
		int64_t delta = (int64_t)tu_rng_below(r, 201) - 100;
		int64_t o = (int64_t)k + delta;
		if (o < 0)
			o = 0;
		if ((uint64_t)o > limit)
			o = (int64_t)limit;
		return (uint64_t)o;
	}
	return tu_rng_below(r, limit + 1);
}

static uint64_t pick_len(struct tu_rng *r)
{
	unsigned c = (unsigned)tu_rng_below(r, 20);
	if (c < 8)
		return 1 + tu_rng_below(r, 512);
	if (c < 15)
		return 513 + tu_rng_below(r, 16 * 1024);
	return 16 * 1024 + tu_rng_below(r, 200 * 1024);
}

/* Compare the whole file with the model; returns the first differing
 * offset or -1. */
static int64_t model_diff(cs_vol *v, uint64_t ino, const struct model *m, uint8_t *tmp,
			  ssize_t *nread)
{
	*nread = cs_read(v, ino, 0, tmp, MODEL_MAX);
	if (*nread != (ssize_t)m->size)
		return -2;
	for (uint64_t i = 0; i < m->size; i++)
		if (tmp[i] != m->data[i])
			return (int64_t)i;
	return -1;
}

struct mrun {
	struct model m;
	uint8_t *src, *tmp;
};

static void mrun_free(struct mrun *x)
{
	tu_free(x->m.data);
	tu_free(x->src);
	tu_free(x->tmp);
}

static void run_model(struct tu_fx *fx, uint64_t seed, int nops, uint64_t lim)
{
	struct mrun x;
	x.m.data = tu_calloc(MODEL_MAX);
	x.m.size = 0;
	x.src = tu_malloc(MODEL_MAX);
	x.tmp = tu_malloc(MODEL_MAX);
	if (!x.m.data || !x.src || !x.tmp) {
		mrun_free(&x);
		fail_msg("out of memory");
	}
	struct tu_rng r;
	tu_rng_seed(&r, seed);
	char name[32];
	snprintf(name, sizeof(name), "model-%llu", (unsigned long long)seed);
	uint64_t ino = tu_mkfile(fx, fx->vol, R, name);
	char what[160] = "";
	int64_t bad = -1;
	long long seen = 0, want = 0;
	int op = 0;
	for (op = 0; op < nops; op++) {
		unsigned c = (unsigned)tu_rng_below(&r, 100);
		if (c < 50) { /* write */
			uint64_t off = pick_off(&r, lim - 1);
			uint64_t len = pick_len(&r);
			if (lim < 8 * CH && tu_rng_below(&r, 2))
				len = 1 + len % 3000; /* around CS_INLINE_MAX */
			if (off + len > lim)
				len = lim - off;
			if (tu_rng_below(&r, 5) == 0)
				tu_fill_text(x.src, len, tu_rng_next(&r));
			else
				tu_rng_fill(&r, x.src, len);
			ssize_t n = cs_write(fx->vol, ino, off, x.src, len);
			if (n != (ssize_t)len) {
				snprintf(what, sizeof(what), "op %d: cs_write(off %llu, len %llu)",
					 op, (unsigned long long)off, (unsigned long long)len);
				seen = n;
				want = (long long)len;
				break;
			}
			memcpy(x.m.data + off, x.src, len);
			if (off + len > x.m.size)
				x.m.size = off + len;
		} else if (c < 65) { /* truncate */
			uint64_t sz = tu_rng_below(&r, 10) == 0 ? 0 : pick_off(&r, lim);
			struct cs_attr in, out;
			memset(&in, 0, sizeof(in));
			in.size = sz;
			int rc = cs_setattr(fx->vol, ino, &in, CS_SET_SIZE, &out);
			if (rc != 0 || out.size != sz) {
				snprintf(what, sizeof(what),
					 "op %d: truncate to %llu (rc, then size)", op,
					 (unsigned long long)sz);
				seen = rc ? rc : (long long)out.size;
				want = rc ? 0 : (long long)sz;
				break;
			}
			if (sz < x.m.size)
				memset(x.m.data + sz, 0, x.m.size - sz);
			x.m.size = sz;
		} else if (c < 95) { /* read */
			uint64_t off = tu_rng_below(&r, x.m.size + 100 * 1024);
			uint64_t len = 1 + tu_rng_below(&r, 150 * 1024);
			uint64_t exp =
			    off >= x.m.size ? 0 : (x.m.size - off < len ? x.m.size - off : len);
			if (len > MODEL_MAX)
				len = MODEL_MAX;
			ssize_t n = cs_read(fx->vol, ino, off, x.tmp, len);
			if (n != (ssize_t)exp) {
				snprintf(what, sizeof(what),
					 "op %d: cs_read(off %llu, len %llu) count"
					 " (size %llu)",
					 op, (unsigned long long)off, (unsigned long long)len,
					 (unsigned long long)x.m.size);
				seen = n;
				want = (long long)exp;
				break;
			}
			for (uint64_t i = 0; i < exp; i++) {
				if (x.tmp[i] != x.m.data[off + i]) {
					bad = (int64_t)(off + i);
					seen = x.tmp[i];
					want = x.m.data[off + i];
					break;
				}
			}
			if (bad >= 0) {
				snprintf(what, sizeof(what),
					 "op %d: cs_read(off %llu, len %llu) "
					 "byte at file offset %lld",
					 op, (unsigned long long)off, (unsigned long long)len,
					 (long long)bad);
				break;
			}
		} else if (c < 98) { /* punch a hole */
			if (x.m.size == 0)
				continue;
			uint64_t off = tu_rng_below(&r, x.m.size);
			uint64_t len = 1 + tu_rng_below(&r, 3 * CH);
			int rc = cs_fallocate(fx->vol, ino,
					      CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE, off, len);
			if (rc != 0) {
				snprintf(what, sizeof(what), "op %d: punch(off %llu, len %llu)", op,
					 (unsigned long long)off, (unsigned long long)len);
				seen = rc;
				want = 0;
				break;
			}
			uint64_t end = off + len > x.m.size ? x.m.size : off + len;
			memset(x.m.data + off, 0, end - off);
		} else { /* reopen the handle: flushes buffers */
			tu_vol_close(fx, fx->vol);
			fx->vol = tu_vol_open(fx, "vol", 0);
		}
	}
	if (what[0]) {
		mrun_free(&x);
		fail_msg("seed %llu, %s\n  expected: %s\n  seen:     %s "
			 "(\"%s\")",
			 (unsigned long long)seed, what, tu_errname(want), tu_errname(seen),
			 cs_last_error());
	}
	/* Whole file, then after a store reopen, then the counters. */
	int64_t d;
	ssize_t n;
	d = model_diff(fx->vol, ino, &x.m, x.tmp, &n);
	if (d == -1) {
		tu_store_reopen(fx, 1);
		d = model_diff(fx->vol, ino, &x.m, x.tmp, &n);
		if (d != -1)
			snprintf(what, sizeof(what), "after reopen");
	} else {
		snprintf(what, sizeof(what), "after %d ops", nops);
	}
	uint64_t msize = x.m.size;
	int wb = d >= 0 ? x.m.data[d] : 0, sb = d >= 0 ? x.tmp[d] : 0;
	mrun_free(&x);
	if (d == -2)
		fail_msg("seed %llu %s: whole-file read\n  expected: %llu\n  "
			 "seen:     %s",
			 (unsigned long long)seed, what, (unsigned long long)msize, tu_errname(n));
	if (d >= 0)
		fail_msg("seed %llu %s: first difference at offset %lld\n  "
			 "expected: 0x%02x\n  seen:     0x%02x",
			 (unsigned long long)seed, what, (long long)d, wb, sb);
	TU_EXPECT_EQ(tu_getattr(fx->vol, ino).size, msize, "final size");
	tu_check_recount(fx);
}

static void test_random_ops_match_model_seed1(void **state)
{
	run_model(FX, 0x5eed0001, 3000, MODEL_MAX);
}

static void test_random_ops_match_model_seed2(void **state)
{
	run_model(FX, 0xc0ffee42, 3000, MODEL_MAX);
}

/* Small files: writes and truncates around CS_INLINE_MAX, so files move
 * between inline and chunked again and again. */
static void test_random_ops_match_model_small_files(void **state)
{
	run_model(FX, 0x1171e, 3000, 3 * CH + 100);
}

/* ------------------------------------------------------------------ */
/* Basics and errors                                                  */
/* ------------------------------------------------------------------ */

static void test_write_read_basics_and_times(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.mtime.tv_sec = 1000;
	in.ctime.tv_sec = 1000;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_MTIME | CS_SET_CTIME, NULL));
	TU_EXPECT_RC(cs_write(fx->vol, f, 0, "hello world", 11), 11);
	struct cs_attr a = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(a.size, 11, "size");
	TU_EXPECT(a.mtime.tv_sec > 1000, "mtime not updated by write");
	TU_EXPECT(a.ctime.tv_sec > 1000, "ctime not updated by write");
	char buf[32];
	TU_EXPECT_RC(cs_read(fx->vol, f, 0, buf, sizeof(buf)), 11);
	TU_EXPECT(!memcmp(buf, "hello world", 11), "content");
	TU_EXPECT_RC(cs_read(fx->vol, f, 6, buf, 3), 3);
	TU_EXPECT(!memcmp(buf, "wor", 3), "partial read");
	TU_EXPECT_RC(cs_read(fx->vol, f, 11, buf, 5), 0);
	TU_EXPECT_RC(cs_read(fx->vol, f, 1000, buf, 5), 0);
	TU_EXPECT_RC(cs_read(fx->vol, f, 0, buf, 0), 0);
	TU_EXPECT_RC(cs_write(fx->vol, f, 0, "", 0), 0);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 11, "size after empty write");
	/* Overwrite in the middle, extend with a hole. */
	TU_EXPECT_RC(cs_write(fx->vol, f, 6, "W", 1), 1);
	TU_EXPECT_RC(cs_write(fx->vol, f, 20, "tail", 4), 4);
	char want[24] = "hello World";
	memcpy(want + 20, "tail", 4);
	tu_read_expect(fx->vol, f, 0, want, 24);
	/* Writing keeps the setuid/setgid bits (the kernel clears them
	 * through a setattr, not the library). */
	memset(&in, 0, sizeof(in));
	in.mode = 06755;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_MODE, NULL));
	tu_write(fx->vol, f, 0, "h", 1);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).mode, S_IFREG | 06755, "mode after a write");
	/* Written bytes are not left in the caller's hands: a later change
	 * of the source buffer does not change the file. */
	char src[8] = "abcdefg";
	tu_write(fx->vol, f, 0, src, 7);
	memset(src, 'X', sizeof(src));
	tu_read_expect(fx->vol, f, 0, "abcdefg", 7);
}

static void test_data_errors(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	char buf[8];
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	TU_OK(cs_mknod(fx->vol, R, "p", S_IFIFO | 0600, 0, &fx->cred, &a));
	uint64_t p = a.ino;
	TU_OK(cs_symlink(fx->vol, R, "l", "target", &fx->cred, &a));
	uint64_t l = a.ino;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	TU_EXPECT_RC(cs_write(fx->vol, d, 0, "x", 1), -EISDIR);
	TU_EXPECT_RC(cs_read(fx->vol, d, 0, buf, 1), -EISDIR);
	TU_EXPECT_RC(cs_write(fx->vol, p, 0, "x", 1), -EINVAL);
	TU_EXPECT_RC(cs_read(fx->vol, p, 0, buf, 1), -EINVAL);
	TU_EXPECT_RC(cs_write(fx->vol, l, 0, "x", 1), -EINVAL);
	TU_EXPECT_RC(cs_read(fx->vol, l, 0, buf, 1), -EINVAL);
	TU_EXPECT_RC(cs_write(fx->vol, 999999, 0, "x", 1), -ENOENT);
	TU_EXPECT_RC(cs_read(fx->vol, 999999, 0, buf, 1), -ENOENT);
	TU_EXPECT_RC(cs_write(fx->vol, f, CS_MAX_FILE_SIZE, "x", 1), -EFBIG);
	TU_EXPECT_RC(cs_write(fx->vol, f, CS_MAX_FILE_SIZE - 1, "xy", 2), -EFBIG);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 0, "size after EFBIG");
	TU_EXPECT_RC(cs_write(fx->vol, f, CS_MAX_FILE_SIZE - 1, "z", 1), 1);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, CS_MAX_FILE_SIZE,
		     "size of a file ending at the limit");
	tu_read_expect(fx->vol, f, CS_MAX_FILE_SIZE - 1, "z", 1);
	TU_EXPECT_EQ(tu_getattr(fx->vol, p).size, 0, "fifo size");
}

/* ------------------------------------------------------------------ */
/* Sparse, large, inline                                              */
/* ------------------------------------------------------------------ */

static void test_sparse_file_holes_read_zero_and_blocks_small(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "sparse");
	uint64_t far = 10 * MIB + 123;
	tu_write(fx->vol, f, far, "X", 1);
	tu_write(fx->vol, f, 3 * CH - 2, "abcd", 4); /* straddles chunks */
	struct cs_attr a = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(a.size, far + 1, "size");
	TU_EXPECT(a.blocks > 0, "blocks of a file with data: 0");
	TU_EXPECT(a.blocks * 512 <= 4 * CH,
		  "blocks %llu (x512 = %llu) for 5 bytes in 3 chunks: holes "
		  "counted?",
		  (unsigned long long)a.blocks, (unsigned long long)a.blocks * 512);
	tu_read_zeros(fx->vol, f, 0, 3 * CH - 2);
	tu_read_expect(fx->vol, f, 3 * CH - 2, "abcd", 4);
	tu_read_zeros(fx->vol, f, 3 * CH + 2, 200000);
	tu_read_zeros(fx->vol, f, far - 70000, 70000);
	tu_read_expect(fx->vol, f, far, "X", 1);
	/* Extending by truncate makes a hole, not data. */
	uint64_t g = tu_mkfile(fx, fx->vol, R, "g");
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.size = 50 * MIB;
	TU_OK(cs_setattr(fx->vol, g, &in, CS_SET_SIZE, NULL));
	a = tu_getattr(fx->vol, g);
	TU_EXPECT_EQ(a.size, 50 * MIB, "size after truncate up");
	TU_EXPECT_EQ(a.blocks, 0, "blocks of an all-hole file");
	tu_read_zeros(fx->vol, g, 25 * MIB - 1000, 100000);
	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT(s.chunks <= 3, "chunks for two sparse files: %llu", (unsigned long long)s.chunks);
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.apparent_bytes, far + 1 + 50 * MIB, "apparent bytes");
	TU_EXPECT(info.stats.logical_bytes <= 3 * CH, "logical bytes %llu count holes",
		  (unsigned long long)info.stats.logical_bytes);
	tu_check_recount(fx);
}

static void test_file_larger_than_4gib(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "big");
	char data[100];
	for (int i = 0; i < 100; i++)
		data[i] = (char)('A' + i % 26);
	uint64_t off = 5 * GIB + 7;
	tu_write(fx->vol, f, off, data, sizeof(data));
	tu_write(fx->vol, f, 4 * GIB - 50, data, sizeof(data)); /* across 2^32 */
	struct cs_attr a = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(a.size, off + 100, "size past 5 GiB");
	TU_EXPECT(a.blocks * 512 <= 4 * CH, "blocks %llu of a sparse 5 GiB file",
		  (unsigned long long)a.blocks);
	tu_read_expect(fx->vol, f, off, data, sizeof(data));
	tu_read_expect(fx->vol, f, 4 * GIB - 50, data, sizeof(data));
	tu_read_zeros(fx->vol, f, 4 * GIB + 50, 4096);
	tu_read_zeros(fx->vol, f, 4096, 4096);
	tu_read_zeros(fx->vol, f, off - 1000, 1000);
	/* The low 32 bits of the offsets must not alias. */
	tu_read_zeros(fx->vol, f, 1 * GIB + 7, 100);
	char buf[200];
	TU_EXPECT_RC(cs_read(fx->vol, f, off + 50, buf, sizeof(buf)), 50);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 0, CS_SEEK_DATA), (4 * GIB - 50) / CH * CH);
	tu_store_reopen(fx, 1);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, off + 100, "size after reopen");
	tu_read_expect(fx->vol, f, off, data, sizeof(data));
	tu_read_expect(fx->vol, f, 4 * GIB - 50, data, sizeof(data));
	/* Truncate down across 4 GiB. */
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.size = 4 * GIB;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, NULL));
	tu_read_expect(fx->vol, f, 4 * GIB - 50, data, 50);
	TU_EXPECT_RC(cs_read(fx->vol, f, 4 * GIB - 50, buf, 100), 50);
	tu_check_recount(fx);
}

static void test_inline_file_grows_to_chunks_and_shrinks_back(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	size_t big = 3 * CH + 500;
	uint8_t *buf = tu_malloc(big);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 99);
	tu_rng_fill(&r, buf, big);

	tu_write(fx->vol, f, 0, buf, 100);
	struct cs_store_stats s = tu_stats(fx);
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(s.chunks, 0, "chunks of a 100-byte (inline) file");
	TU_EXPECT_EQ(info.stats.logical_bytes, 100, "logical bytes inline");
	TU_EXPECT_EQ(info.stats.chunk_refs, 0, "chunk refs inline");
	tu_read_expect(fx->vol, f, 0, buf, 100);
	tu_write(fx->vol, f, 100, buf + 100, CS_INLINE_MAX - 100);
	TU_EXPECT_EQ(tu_stats(fx).chunks, 0, "chunks at CS_INLINE_MAX bytes");
	tu_read_expect(fx->vol, f, 0, buf, CS_INLINE_MAX);
	/* Grow past inline, then to several chunks. */
	tu_write(fx->vol, f, CS_INLINE_MAX, buf + CS_INLINE_MAX, 1000);
	TU_EXPECT_EQ(tu_stats(fx).chunks, 1, "chunks of a 3 KB file");
	tu_read_expect(fx->vol, f, 0, buf, CS_INLINE_MAX + 1000);
	tu_write(fx->vol, f, CS_INLINE_MAX + 1000, buf + CS_INLINE_MAX + 1000,
		 big - CS_INLINE_MAX - 1000);
	tu_read_expect(fx->vol, f, 0, buf, big);
	TU_EXPECT_EQ(tu_stats(fx).chunks, 4, "chunks of a 3.x chunk file");
	/* Shrink back to tiny: content right, then grow by truncate: the
	 * old bytes must not come back. */
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.size = 1000;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, NULL));
	tu_read_expect(fx->vol, f, 0, buf, 1000);
	char c;
	TU_EXPECT_RC(cs_read(fx->vol, f, 1000, &c, 1), 0);
	s = tu_stats(fx);
	TU_EXPECT(s.chunks <= 1, "chunks after truncating to 1000: %llu",
		  (unsigned long long)s.chunks);
	in.size = 2 * CH;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, NULL));
	tu_read_expect(fx->vol, f, 0, buf, 1000);
	tu_read_zeros(fx->vol, f, 1000, 2 * CH - 1000);
	/* Same inside one chunk. */
	uint64_t g = tu_mkfile(fx, fx->vol, R, "g");
	tu_write(fx->vol, g, 0, buf, CH);
	in.size = 10;
	TU_OK(cs_setattr(fx->vol, g, &in, CS_SET_SIZE, NULL));
	in.size = CH;
	TU_OK(cs_setattr(fx->vol, g, &in, CS_SET_SIZE, NULL));
	tu_read_expect(fx->vol, g, 0, buf, 10);
	tu_read_zeros(fx->vol, g, 10, CH - 10);
	/* To zero and back. */
	in.size = 0;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, NULL));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 0, "size after truncate 0");
	tu_write(fx->vol, f, 5, "abc", 3);
	tu_read_expect(fx->vol, f, 0, "\0\0\0\0\0abc", 8);
	tu_free(buf);
	tu_store_reopen(fx, 1);
	tu_read_expect(fx->vol, f, 0, "\0\0\0\0\0abc", 8);
	tu_read_zeros(fx->vol, g, 10, CH - 10);
	tu_check_recount(fx);
}

static void test_volume_stats_track_apparent_and_logical_bytes(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	uint8_t *buf = tu_calloc(100000);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 5);
	tu_rng_fill(&r, buf, 100000);
	uint64_t f1 = tu_mkfile(fx, fx->vol, R, "f1");
	uint64_t f2 = tu_mkfile(fx, fx->vol, R, "f2");
	tu_write(fx->vol, f1, 0, buf, 1000);
	tu_write(fx->vol, f2, 0, buf, 100000);
	tu_free(buf);
	TU_OK(cs_symlink(fx->vol, R, "l", "abc", &fx->cred, &a));
	TU_OK(cs_vol_sync(fx->vol));
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.apparent_bytes, 101003, "apparent bytes");
	TU_EXPECT_EQ(info.stats.logical_bytes, 101000, "logical bytes");
	TU_EXPECT_EQ(info.stats.inodes, 4, "inodes");
	TU_EXPECT_EQ(info.stats.chunk_refs, 2, "chunk refs (100000 B file)");
	TU_OK(cs_unlink(fx->vol, R, "f2", NULL));
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.apparent_bytes, 1003, "apparent after unlink");
	TU_EXPECT_EQ(info.stats.logical_bytes, 1000, "logical after unlink");
	TU_EXPECT_EQ(info.stats.chunk_refs, 0, "chunk refs after unlink");
	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT_EQ(s.logical_bytes, 1000, "store logical bytes");
	TU_EXPECT_EQ(s.inodes, 3, "store inodes");
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* fallocate and lseek                                                */
/* ------------------------------------------------------------------ */

static void test_fallocate_mode0_extends_keep_size_does_not(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	TU_OK(cs_fallocate(fx->vol, f, 0, 0, 100000));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 100000, "size after mode 0");
	tu_read_zeros(fx->vol, f, 0, 100000);
	TU_OK(cs_fallocate(fx->vol, f, 0, 10, 20)); /* inside: no change */
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 100000, "size after inside");
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_KEEP_SIZE, 0, 500000));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 100000, "size after KEEP_SIZE");
	tu_write(fx->vol, f, 50, "data", 4);
	TU_OK(cs_fallocate(fx->vol, f, 0, 90000, 20000));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 110000, "size extended");
	tu_read_expect(fx->vol, f, 50, "data", 4);
	tu_read_zeros(fx->vol, f, 100000, 10000);
}

static void test_fallocate_punch_hole_zeroes_and_frees_chunks(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	uint8_t *buf = tu_malloc(3 * CH);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 1234);
	tu_rng_fill(&r, buf, 3 * CH);
	tu_write(fx->vol, f, 0, buf, 3 * CH);
	struct cs_store_stats s0 = tu_stats(fx);
	TU_EXPECT_EQ(s0.chunks, 3, "chunks before punch");
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE, CH, CH));
	struct cs_store_stats s1 = tu_stats(fx);
	TU_EXPECT_EQ(s1.chunks, 2, "chunks after punching one whole chunk");
	TU_EXPECT_EQ(s1.chunk_refs, 2, "chunk refs after punch");
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 3 * CH, "size kept");
	tu_read_expect(fx->vol, f, 0, buf, CH);
	tu_read_zeros(fx->vol, f, CH, CH);
	tu_read_expect(fx->vol, f, 2 * CH, buf + 2 * CH, CH);
	/* Unaligned punch. */
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE, 100, 300));
	tu_read_expect(fx->vol, f, 0, buf, 100);
	tu_read_zeros(fx->vol, f, 100, 300);
	tu_read_expect(fx->vol, f, 400, buf + 400, CH - 400);
	/* Across the end: size unchanged. */
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE, 3 * CH - 10,
			   1000));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 3 * CH,
		     "size after punch "
		     "past end");
	tu_read_zeros(fx->vol, f, 3 * CH - 10, 10);
	tu_read_expect(fx->vol, f, 2 * CH, buf + 2 * CH, CH - 10);
	tu_free(buf);
	struct cs_attr a = tu_getattr(fx->vol, f);
	TU_EXPECT(a.blocks * 512 <= 2 * CH, "blocks %llu after punching",
		  (unsigned long long)a.blocks);
	tu_check_recount(fx);
}

static void test_fallocate_unsupported_modes_and_errors(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	tu_write(fx->vol, f, 0, "abcdef", 6);
	TU_EXPECT_RC(cs_fallocate(fx->vol, f, CS_FALLOC_PUNCH_HOLE, 0, 3), -EOPNOTSUPP);
	TU_EXPECT_RC(cs_fallocate(fx->vol, f, 0x10 | CS_FALLOC_PUNCH_HOLE, 0, 3), -EOPNOTSUPP);
	TU_EXPECT_RC(cs_fallocate(fx->vol, f, 0x40 /* UNSHARE_RANGE */, 0, 3), -EOPNOTSUPP);
	TU_EXPECT_RC(cs_fallocate(fx->vol, f, 0x08 /* COLLAPSE_RANGE */, 0, 3), -EOPNOTSUPP);
	TU_EXPECT_RC(cs_fallocate(fx->vol, f, 0x20 /* INSERT_RANGE */, 0, 3), -EOPNOTSUPP);
	TU_EXPECT_RC(cs_fallocate(fx->vol, f, 0, 0, 0), -EINVAL);
	TU_EXPECT_RC(cs_fallocate(fx->vol, f, 0, CS_MAX_FILE_SIZE, 10), -EFBIG);
	TU_EXPECT_RC(cs_fallocate(fx->vol, 999999, 0, 0, 10), -ENOENT);
	tu_read_expect(fx->vol, f, 0, "abcdef", 6);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 6, "size unchanged");
}

static void test_lseek_data_and_hole(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	uint8_t *buf = tu_malloc(CH);
	assert_non_null(buf);
	memset(buf, 0x5a, CH);
	/* data | hole | hole | data | hole (to size 5 chunks) */
	tu_write(fx->vol, f, 0, buf, CH);
	tu_write(fx->vol, f, 3 * CH, buf, CH);
	tu_free(buf);
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.size = 5 * CH;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, NULL));
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 0, CS_SEEK_DATA), 0);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 100, CS_SEEK_DATA), 100);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 0, CS_SEEK_HOLE), CH);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, CH + 5, CS_SEEK_HOLE), CH + 5);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, CH + 5, CS_SEEK_DATA), 3 * CH);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 3 * CH, CS_SEEK_HOLE), 4 * CH);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 4 * CH, CS_SEEK_DATA), -ENXIO);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 4 * CH + 1, CS_SEEK_HOLE), 4 * CH + 1);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 5 * CH, CS_SEEK_DATA), -ENXIO);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 5 * CH, CS_SEEK_HOLE), -ENXIO);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 9 * CH, CS_SEEK_HOLE), -ENXIO);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 0, 0 /* SEEK_SET */), -EINVAL);
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 0, 2 /* SEEK_END */), -EINVAL);
	/* A file ending in data: the hole is at the end. */
	uint64_t g = tu_mkfile(fx, fx->vol, R, "g");
	tu_write(fx->vol, g, 0, "xyz", 3);
	TU_EXPECT_RC(cs_lseek(fx->vol, g, 0, CS_SEEK_HOLE), 3);
	TU_EXPECT_RC(cs_lseek(fx->vol, g, 1, CS_SEEK_DATA), 1);
	TU_EXPECT_RC(cs_lseek(fx->vol, g, 3, CS_SEEK_DATA), -ENXIO);
	/* Empty file. */
	uint64_t e = tu_mkfile(fx, fx->vol, R, "e");
	TU_EXPECT_RC(cs_lseek(fx->vol, e, 0, CS_SEEK_DATA), -ENXIO);
	TU_EXPECT_RC(cs_lseek(fx->vol, e, 0, CS_SEEK_HOLE), -ENXIO);
}

/* ------------------------------------------------------------------ */
/* Dedup and compression                                              */
/* ------------------------------------------------------------------ */

static void test_same_data_in_two_volumes_is_stored_once(void **state)
{
	struct tu_fx *fx = FX;
	size_t len = 10 * MIB;
	uint8_t *buf = tu_malloc(len);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 0xdeda);
	tu_rng_fill(&r, buf, len);
	int rc = cs_volume_create(fx->st, "other", NULL, 0, 0, NULL);
	if (rc)
		tu_free(buf);
	TU_OK(rc);
	cs_vol *o = tu_vol_open(fx, "other", 0);
	uint64_t a = tu_mkfile(fx, fx->vol, R, "a");
	uint64_t b = tu_mkfile(fx, o, R, "b");
	struct cs_store_stats s0 = tu_stats(fx);
	ssize_t n1 = cs_write(fx->vol, a, 0, buf, len);
	struct cs_store_stats s1 = tu_stats(fx);
	ssize_t n2 = cs_write(o, b, 0, buf, len);
	struct cs_store_stats s2 = tu_stats(fx);
	int same = 0;
	if (n2 == (ssize_t)len) {
		uint8_t *back = tu_malloc(len);
		if (back && cs_read(o, b, 0, back, len) == (ssize_t)len)
			same = !memcmp(back, buf, len);
		tu_free(back);
	}
	tu_free(buf);
	TU_EXPECT_RC(n1, len);
	TU_EXPECT_RC(n2, len);
	uint64_t nch = len / CH;
	TU_EXPECT_EQ(s1.chunks - s0.chunks, nch, "chunks added by the 1st copy");
	TU_EXPECT_EQ(s1.raw_bytes - s0.raw_bytes, len, "raw bytes of 1st copy");
	TU_EXPECT(s1.stored_bytes - s0.stored_bytes >= len,
		  "random data stored smaller than raw: %llu < %zu",
		  (unsigned long long)(s1.stored_bytes - s0.stored_bytes), len);
	TU_EXPECT_EQ(s2.chunks, s1.chunks, "chunks after the 2nd copy");
	TU_EXPECT_EQ(s2.stored_bytes, s1.stored_bytes, "stored bytes after the 2nd copy");
	TU_EXPECT_EQ(s2.raw_bytes, s1.raw_bytes, "raw bytes after 2nd copy");
	TU_EXPECT_EQ(s2.chunk_refs - s1.chunk_refs, nch, "chunk refs added by the 2nd copy");
	TU_EXPECT_EQ(s2.logical_bytes - s1.logical_bytes, len,
		     "logical bytes added by the 2nd copy");
	TU_EXPECT(same, "second copy does not read back");
	struct cs_volume_info vi;
	TU_OK(cs_vol_info(o, &vi));
	TU_EXPECT_EQ(vi.stats.raw_bytes, len, "other's raw bytes (per ref)");
	TU_EXPECT(vi.stats.stored_bytes >= len, "other's stored bytes %llu",
		  (unsigned long long)vi.stats.stored_bytes);
	/* Dropping one copy keeps the chunks; dropping both frees them. */
	TU_OK(cs_unlink(fx->vol, R, "a", NULL));
	struct cs_store_stats s3 = tu_stats(fx);
	TU_EXPECT_EQ(s3.chunks, s1.chunks, "chunks after removing one copy");
	TU_OK(cs_unlink(o, R, "b", NULL));
	struct cs_store_stats s4 = tu_stats(fx);
	TU_EXPECT_EQ(s4.chunks, s0.chunks, "chunks after removing both");
	TU_EXPECT_EQ(s4.stored_bytes, s0.stored_bytes, "stored after both");
	tu_check_recount(fx);
}

static void test_same_chunk_twice_in_one_file_is_stored_once(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t *buf = tu_malloc(CH);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 77);
	tu_rng_fill(&r, buf, CH);
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	tu_write(fx->vol, f, 0, buf, CH);
	tu_write(fx->vol, f, 5 * CH, buf, CH);
	tu_free(buf);
	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT_EQ(s.chunks, 1, "distinct chunks");
	TU_EXPECT_EQ(s.chunk_refs, 2, "chunk refs");
	TU_EXPECT_EQ(s.raw_bytes, CH, "raw bytes of distinct chunks");
	tu_check_recount(fx);
}

static void test_compression_shrinks_text_and_stores_random_raw(void **state)
{
	struct tu_fx *fx = FX;
	size_t len = 1 * MIB;
	uint8_t *text = tu_malloc(len), *rnd = tu_malloc(len);
	assert_non_null(text);
	assert_non_null(rnd);
	tu_fill_text(text, len, 1);
	struct tu_rng r;
	tu_rng_seed(&r, 2);
	tu_rng_fill(&r, rnd, len);
	uint64_t ft = tu_mkfile(fx, fx->vol, R, "text");
	uint64_t fr = tu_mkfile(fx, fx->vol, R, "random");
	struct cs_store_stats s0 = tu_stats(fx);
	ssize_t n1 = cs_write(fx->vol, ft, 0, text, len);
	struct cs_store_stats s1 = tu_stats(fx);
	ssize_t n2 = cs_write(fx->vol, fr, 0, rnd, len);
	struct cs_store_stats s2 = tu_stats(fx);
	/* Read back both (decompression path). */
	uint8_t *back = tu_malloc(len);
	int ok_t =
	    back && cs_read(fx->vol, ft, 0, back, len) == (ssize_t)len && !memcmp(back, text, len);
	int ok_r =
	    back && cs_read(fx->vol, fr, 0, back, len) == (ssize_t)len && !memcmp(back, rnd, len);
	tu_free(back);
	tu_free(text);
	tu_free(rnd);
	TU_EXPECT_RC(n1, len);
	TU_EXPECT_RC(n2, len);
	TU_EXPECT(ok_t, "compressible file does not read back");
	TU_EXPECT(ok_r, "random file does not read back");
	uint64_t raw_t = s1.raw_bytes - s0.raw_bytes;
	uint64_t st_t = s1.stored_bytes - s0.stored_bytes;
	uint64_t raw_r = s2.raw_bytes - s1.raw_bytes;
	uint64_t st_r = s2.stored_bytes - s1.stored_bytes;
	TU_EXPECT_EQ(raw_t, len, "raw bytes of the text file");
	TU_EXPECT_EQ(raw_r, len, "raw bytes of the random file");
	TU_EXPECT(st_t * 3 < raw_t, "compressible data: stored %llu of raw %llu (expected < 1/3)",
		  (unsigned long long)st_t, (unsigned long long)raw_t);
	TU_EXPECT(st_r >= raw_r && st_r <= raw_r + (len / CH) * 64,
		  "random data: stored %llu for raw %llu (expected raw + "
		  "small headers)",
		  (unsigned long long)st_r, (unsigned long long)raw_r);
	tu_check_recount(fx);
}

static void test_volume_without_compression_stores_raw(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_opts o = {.compression = 0, .quota = 0};
	TU_OK(cs_volume_create(fx->st, "raw", &o, 0, 0, NULL));
	cs_vol *v = tu_vol_open(fx, "raw", 0);
	size_t len = 1 * MIB;
	uint8_t *text = tu_malloc(len);
	assert_non_null(text);
	tu_fill_text(text, len, 3);
	uint64_t f = tu_mkfile(fx, v, R, "text");
	struct cs_store_stats s0 = tu_stats(fx);
	ssize_t n = cs_write(v, f, 0, text, len);
	struct cs_store_stats s1 = tu_stats(fx);
	uint8_t *back = tu_malloc(len);
	int ok = back && cs_read(v, f, 0, back, len) == (ssize_t)len && !memcmp(back, text, len);
	tu_free(back);
	tu_free(text);
	TU_EXPECT_RC(n, len);
	TU_EXPECT(ok, "file does not read back");
	uint64_t st = s1.stored_bytes - s0.stored_bytes;
	TU_EXPECT(st >= len && st <= len + (len / CH) * 64,
		  "compression none: stored %llu for raw %zu", (unsigned long long)st, len);
	/* Switching compression on applies to new data. */
	o.compression = 3;
	TU_OK(cs_volume_set_opts(fx->st, "raw", &o));
	uint8_t *t2 = tu_malloc(len);
	assert_non_null(t2);
	tu_fill_text(t2, len, 4);
	uint64_t g = tu_mkfile(fx, v, R, "text2");
	n = cs_write(v, g, 0, t2, len);
	tu_free(t2);
	TU_EXPECT_RC(n, len);
	struct cs_store_stats s2 = tu_stats(fx);
	TU_EXPECT((s2.stored_bytes - s1.stored_bytes) * 3 < len,
		  "after set_opts zstd:3: stored %llu of %zu",
		  (unsigned long long)(s2.stored_bytes - s1.stored_bytes), len);
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* Corruption                                                         */
/* ------------------------------------------------------------------ */

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

/* Flip the last byte of the first chunk file (STORE/chunks/XXXXXXXX.ck)
 * that is at least @minlen long: the last byte of the last chunk in it.
 * Returns 0, or -1 with @err filled. */
static int corrupt_first_chunk(const char *store, size_t minlen, char *err, size_t errlen)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	struct dirent *de;
	int ret = -1;
	DIR *d;

	snprintf(dir, sizeof(dir), "%.3000s/chunks", store);
	d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "opendir %.200s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(err, errlen, "no chunk file of %zu bytes or more in %.200s", minlen, dir);
	while (ret && (de = readdir(d))) {
		struct stat sb;
		unsigned char c;
		int fd;

		if (!strstr(de->d_name, ".ck"))
			continue;
		snprintf(path, sizeof(path), "%.3000s/%.200s", dir, de->d_name);
		fd = open(path, O_RDWR);
		if (fd < 0 || fstat(fd, &sb) < 0 || (size_t)sb.st_size < minlen) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (pread(fd, &c, 1, sb.st_size - 1) == 1) {
			c ^= 0x5a;
			if (pwrite(fd, &c, 1, sb.st_size - 1) == 1 && fsync(fd) == 0)
				ret = 0;
		}
		if (ret)
			snprintf(err, errlen, "rewriting the last byte of %.200s: %s", path,
				 strerror(errno));
		close(fd);
	}
	closedir(d);
	return ret;
}

static void test_corrupted_chunk_reads_as_eio_naming_it(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t *buf = tu_malloc(CH);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 0xbad);
	tu_rng_fill(&r, buf, CH);
	char hex[65];
	sha256_hex(buf, CH, hex);
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	uint64_t ok = tu_mkfile(fx, fx->vol, R, "ok");
	tu_write(fx->vol, f, 0, buf, CH);
	tu_write(fx->vol, ok, 0, "inline is fine", 14);
	tu_free(buf);
	TU_OK(cs_store_sync(fx->st));
	tu_store_close(fx);
	char err[512];
	int rc = corrupt_first_chunk(fx->dir, CH / 2, err, sizeof(err));
	TU_EXPECT(rc == 0, "corrupting the chunk: %s", err);
	tu_store_reopen(fx, 1);
	uint8_t *back = tu_malloc(CH);
	assert_non_null(back);
	ssize_t n = cs_read(fx->vol, f, 0, back, CH);
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", cs_last_error());
	/* A read of one byte of the chunk fails too. */
	ssize_t n1 = cs_read(fx->vol, f, 100, back, 1);
	tu_free(back);
	TU_EXPECT_RC(n, -EIO);
	TU_EXPECT_RC(n1, -EIO);
	char prefix[17];
	memcpy(prefix, hex, 16);
	prefix[16] = 0;
	TU_EXPECT(strstr(msg, prefix) != NULL,
		  "cs_last_error() does not name the chunk\n  expected to "
		  "contain: %s (sha256 %s)\n  seen:     \"%s\"",
		  prefix, hex, msg);
	/* Other data is still readable. */
	tu_read_expect(fx->vol, ok, 0, "inline is fine", 14);
}

/* ------------------------------------------------------------------ */
/* Quota and statfs                                                   */
/* ------------------------------------------------------------------ */

static void test_quota_refuses_writes_past_it_and_writes_nothing(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t q = 1 * MIB;
	struct cs_volume_opts o = {.compression = -1, .quota = q};
	TU_OK(cs_volume_create(fx->st, "q", &o, 0, 0, NULL));
	cs_vol *v = tu_vol_open(fx, "q", 0);
	uint64_t f = tu_mkfile(fx, v, R, "f");
	size_t len = 1 * MIB;
	uint8_t *buf = tu_malloc(len);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 31);
	tu_rng_fill(&r, buf, len);
	ssize_t n1 = cs_write(v, f, 0, buf, 512 * 1024);
	ssize_t n2 = cs_write(v, f, 512 * 1024, buf, 768 * 1024);
	struct cs_attr a1;
	int ga = cs_getattr(v, f, &a1);
	char c;
	ssize_t n_eof = cs_read(v, f, 512 * 1024, &c, 1);
	ssize_t n3 = cs_write(v, f, 512 * 1024, buf, 256 * 1024);
	/* A second file cannot take more than what is left either. */
	uint64_t g = tu_mkfile(fx, v, R, "g");
	ssize_t n4 = cs_write(v, g, 0, buf, 512 * 1024);
	tu_free(buf);
	TU_EXPECT_RC(n1, 512 * 1024);
	TU_EXPECT_RC(n2, -EDQUOT);
	TU_OK(ga);
	TU_EXPECT_EQ(a1.size, 512 * 1024, "size after the refused write");
	TU_EXPECT_RC(n_eof, 0); /* nothing of the refused write is there */
	TU_EXPECT_RC(n3, 256 * 1024);
	TU_EXPECT_RC(n4, -EDQUOT);
	TU_EXPECT_EQ(tu_getattr(v, g).size, 0, "second file after EDQUOT");
	/* statfs reports the quota. */
	struct cs_statfs sf;
	TU_OK(cs_statfs(v, &sf));
	TU_EXPECT_EQ(sf.bsize, 4096, "statfs bsize");
	TU_EXPECT_EQ(sf.blocks, q / 4096, "statfs blocks from the quota");
	TU_EXPECT(sf.bfree <= (q - 768 * 1024) / 4096 && sf.bfree + 16 >= (q - 768 * 1024) / 4096,
		  "statfs bfree %llu, expected about %llu", (unsigned long long)sf.bfree,
		  (unsigned long long)((q - 768 * 1024) / 4096));
	TU_EXPECT(sf.bavail <= sf.bfree, "bavail %llu > bfree %llu", (unsigned long long)sf.bavail,
		  (unsigned long long)sf.bfree);
	TU_EXPECT_EQ(sf.namemax, CS_NAME_MAX, "statfs namemax");
	TU_EXPECT(sf.files >= sf.ffree, "files < ffree");
	/* Overwriting held data does not need more quota. */
	uint8_t small[4096];
	memset(small, 7, sizeof(small));
	TU_EXPECT_RC(cs_write(v, f, 0, small, sizeof(small)), sizeof(small));
	/* Freeing data makes room again. */
	TU_OK(cs_unlink(v, R, "f", NULL));
	uint8_t *b2 = tu_calloc(512 * 1024);
	assert_non_null(b2);
	memset(b2, 3, 512 * 1024);
	ssize_t n5 = cs_write(v, g, 0, b2, 512 * 1024);
	tu_free(b2);
	TU_EXPECT_RC(n5, 512 * 1024);
	tu_check_recount(fx);
}

static void test_quota_lowered_below_usage_refuses_growth(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	uint8_t *buf = tu_malloc(256 * 1024);
	assert_non_null(buf);
	memset(buf, 0x11, 256 * 1024);
	ssize_t n = cs_write(fx->vol, f, 0, buf, 256 * 1024);
	TU_EXPECT_RC(n, 256 * 1024);
	struct cs_volume_opts o = {.compression = -1, .quota = 128 * 1024};
	int rc = cs_volume_set_opts(fx->st, "vol", &o);
	ssize_t n2 = cs_write(fx->vol, f, 256 * 1024, buf, 4096);
	tu_free(buf);
	TU_OK(rc);
	TU_EXPECT_RC(n2, -EDQUOT);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 256 * 1024, "size unchanged");
	struct cs_statfs sf;
	TU_OK(cs_statfs(fx->vol, &sf));
	TU_EXPECT_EQ(sf.blocks, 32, "statfs blocks (128 KiB quota)");
	TU_EXPECT_EQ(sf.bfree, 0, "statfs bfree over quota");
}

static void test_statfs_without_quota_uses_the_disk(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_statfs sf;
	TU_OK(cs_statfs(fx->vol, &sf));
	TU_EXPECT_EQ(sf.bsize, 4096, "bsize");
	TU_EXPECT(sf.blocks > 1000, "blocks %llu", (unsigned long long)sf.blocks);
	TU_EXPECT(sf.bfree <= sf.blocks, "bfree > blocks");
	TU_EXPECT_EQ(sf.namemax, CS_NAME_MAX, "namemax");
}

/* ------------------------------------------------------------------ */
/* Concurrency                                                        */
/* ------------------------------------------------------------------ */

#define NTHR 4
#define TFILE (8 * CH)

struct thr {
	cs_vol *v;
	uint64_t ino;
	int id;
	uint8_t *model;
	char err[256];
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	struct tu_rng r;
	tu_rng_seed(&r, 1000 + t->id);
	uint8_t *src = tu_malloc(CH);
	uint8_t *back = tu_malloc(CH);
	for (int op = 0; op < 200 && !t->err[0]; op++) {
		uint64_t off = tu_rng_below(&r, TFILE - 1);
		uint64_t len = 1 + tu_rng_below(&r, CH / 2);
		if (off + len > TFILE)
			len = TFILE - off;
		tu_rng_fill(&r, src, len);
		ssize_t n = cs_write(t->v, t->ino, off, src, len);
		if (n != (ssize_t)len) {
			snprintf(t->err, sizeof(t->err), "thread %d op %d: write %s", t->id, op,
				 tu_errname(n));
			break;
		}
		memcpy(t->model + off, src, len);
		n = cs_read(t->v, t->ino, off, back, len);
		if (n != (ssize_t)len || memcmp(back, src, len)) {
			snprintf(t->err, sizeof(t->err), "thread %d op %d: read back %s", t->id, op,
				 tu_errname(n));
			break;
		}
		char name[32];
		snprintf(name, sizeof(name), "t%d-%d", t->id, op);
		struct cs_attr a;
		struct cs_cred cred = {0, 0};
		int rc = cs_mknod(t->v, R, name, 0644, 0, &cred, &a);
		if (rc == 0 && op % 2)
			rc = cs_unlink(t->v, R, name, NULL);
		if (rc) {
			snprintf(t->err, sizeof(t->err), "thread %d op %d: mknod/unlink %s", t->id,
				 op, tu_errname(rc));
			break;
		}
	}
	tu_free(src);
	tu_free(back);
	return NULL;
}

static void test_concurrent_writers_on_one_volume(void **state)
{
	struct tu_fx *fx = FX;
	struct thr t[NTHR];
	pthread_t th[NTHR];
	memset(t, 0, sizeof(t));
	for (int i = 0; i < NTHR; i++) {
		char name[16];
		snprintf(name, sizeof(name), "file%d", i);
		t[i].v = fx->vol;
		t[i].ino = tu_mkfile(fx, fx->vol, R, name);
		t[i].id = i;
		t[i].model = tu_calloc(TFILE);
		assert_non_null(t[i].model);
	}
	for (int i = 0; i < NTHR; i++)
		pthread_create(&th[i], NULL, thr_main, &t[i]);
	for (int i = 0; i < NTHR; i++)
		pthread_join(th[i], NULL);
	char err[300] = "";
	for (int i = 0; i < NTHR; i++)
		if (t[i].err[0] && !err[0])
			snprintf(err, sizeof(err), "%s", t[i].err);
	uint8_t *back = tu_malloc(TFILE);
	int bad = -1;
	for (int i = 0; i < NTHR && !err[0] && bad < 0; i++) {
		uint64_t size = tu_getattr(fx->vol, t[i].ino).size;
		ssize_t n = cs_read(fx->vol, t[i].ino, 0, back, TFILE);
		if (n != (ssize_t)size || memcmp(back, t[i].model, size))
			bad = i;
	}
	tu_free(back);
	for (int i = 0; i < NTHR; i++)
		tu_free(t[i].model);
	TU_EXPECT(!err[0], "%s", err);
	TU_EXPECT(bad < 0, "file%d does not match its writer's model", bad);
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.inodes, 1 + NTHR + NTHR * 100, "inodes after the threads");
	tu_check_recount(fx);
}

static void test_fallocate_zero_range_zeroes_and_extends(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	uint8_t *buf = tu_malloc(3 * CH);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 77);
	tu_rng_fill(&r, buf, 3 * CH);
	tu_write(fx->vol, f, 0, buf, 3 * CH);
	/* a whole chunk and parts of its neighbours, size kept */
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_ZERO_RANGE, CH - 100, CH + 200));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 3 * CH, "size after zero range inside");
	tu_read_expect(fx->vol, f, 0, buf, CH - 100);
	tu_read_zeros(fx->vol, f, CH - 100, CH + 200);
	tu_read_expect(fx->vol, f, 2 * CH + 100, buf + 2 * CH + 100, CH - 100);
	/* past the end: extends without KEEP_SIZE ... */
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_ZERO_RANGE, 3 * CH - 10, 1000));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 3 * CH + 990, "size after zero range past end");
	tu_read_zeros(fx->vol, f, 3 * CH - 10, 1000);
	/* ... and not with it */
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_ZERO_RANGE | CS_FALLOC_KEEP_SIZE, 10, 10 * CH));
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 3 * CH + 990, "size with KEEP_SIZE");
	tu_read_expect(fx->vol, f, 0, buf, 10);
	tu_read_zeros(fx->vol, f, 10, 3 * CH + 980);
	/* an inline file */
	uint64_t g = tu_mkfile(fx, fx->vol, R, "g");
	tu_write(fx->vol, g, 0, "abcdefgh", 8);
	TU_OK(cs_fallocate(fx->vol, g, CS_FALLOC_ZERO_RANGE, 2, 3));
	tu_read_expect(fx->vol, g, 0, "ab\0\0\0fgh", 8);
	TU_OK(cs_fallocate(fx->vol, g, CS_FALLOC_ZERO_RANGE, 6, 10));
	TU_EXPECT_EQ(tu_getattr(fx->vol, g).size, 16, "inline size after zero range");
	tu_read_expect(fx->vol, g, 0, "ab\0\0\0f\0\0\0\0\0\0\0\0\0\0", 16);
	tu_free(buf);
	tu_check_recount(fx);
}

/* The size rule (cs_file.c): a small write that grows a file is buffered,
 * not committed; every reply that carries the file's attributes must show
 * the size it gave the file. A kernel that evicted the inode and looked it
 * up again took the record's older size and lost the write (issue 12). */
static void test_buffered_growth_is_seen_by_lookup_link_and_setattr(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct cs_attr in, out;
	uint8_t b[4096];
	memset(b, 0x42, sizeof(b));
	memset(&in, 0, sizeof(in));
	in.size = 100000;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, NULL));
	tu_write(fx->vol, f, 200000, b, sizeof(b)); /* buffered */
	TU_OK(cs_lookup(fx->vol, R, "f", &out));
	TU_EXPECT_EQ(out.size, 204096, "size from lookup");
	TU_OK(cs_link(fx->vol, f, R, "f2", &out));
	TU_EXPECT_EQ(out.size, 204096, "size from link");
	in.mode = 0600;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_MODE, &out));
	TU_EXPECT_EQ(out.size, 204096, "size from setattr(mode)");
	TU_EXPECT_RC(cs_lseek(fx->vol, f, 150000, CS_SEEK_DATA), 196608);
	tu_read_expect(fx->vol, f, 200000, b, sizeof(b));
	tu_store_reopen(fx, 1);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 204096, "size after reopen");
	tu_read_expect(fx->vol, f, 200000, b, sizeof(b));
	tu_read_zeros(fx->vol, f, 0, 200000);
	tu_check_recount(fx);
}

/* The sequence of issue 12, through the library, checked against a model
 * after every call and again after the store is reopened. */
struct seq_model {
	uint8_t *want;
	uint64_t size;
};

static void seq_pwrite(struct tu_fx *fx, uint64_t f, struct seq_model *m, uint64_t off,
		       size_t len, struct tu_rng *r)
{
	uint8_t *b = tu_malloc(len);
	assert_non_null(b);
	tu_rng_fill(r, b, len);
	tu_write(fx->vol, f, off, b, len);
	memcpy(m->want + off, b, len);
	if (off + len > m->size)
		m->size = off + len;
	tu_free(b);
}

static void seq_truncate(struct tu_fx *fx, uint64_t f, struct seq_model *m, uint64_t size)
{
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.size = size;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, NULL));
	if (size < m->size)
		memset(m->want + size, 0, m->size - size);
	m->size = size;
}

static void seq_check(struct tu_fx *fx, uint64_t f, const struct seq_model *m)
{
	struct cs_attr a;
	TU_OK(cs_lookup(fx->vol, R, "f", &a));
	TU_EXPECT_EQ(a.size, m->size, "size from lookup");
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, m->size, "size from getattr");
	if (m->size)
		tu_read_expect(fx->vol, f, 0, m->want, m->size);
}

static void test_issue12_sequence_keeps_size_and_data(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct seq_model m = { tu_malloc(4 * CH), 0 };
	struct tu_rng r;
	assert_non_null(m.want);
	memset(m.want, 0, 4 * CH);
	tu_rng_seed(&r, 12);
	seq_truncate(fx, f, &m, 0);
	seq_truncate(fx, f, &m, 100000);
	seq_truncate(fx, f, &m, 0);
	TU_OK(cs_fallocate(fx->vol, f, 0, 0, 1));
	m.size = 1;
	seq_truncate(fx, f, &m, 0);
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_KEEP_SIZE, 0, 1));
	seq_truncate(fx, f, &m, 0);
	TU_OK(cs_fallocate(fx->vol, f, CS_FALLOC_KEEP_SIZE | CS_FALLOC_PUNCH_HOLE, 0, 1));
	seq_truncate(fx, f, &m, 0);
	seq_truncate(fx, f, &m, 131072);
	seq_truncate(fx, f, &m, 0);
	TU_OK(cs_fallocate(fx->vol, f, 0, 168880, 55255));
	m.size = 224135;
	seq_check(fx, f, &m);
	seq_pwrite(fx, f, &m, 61209, 60237, &r);
	seq_pwrite(fx, f, &m, 156986, 42526, &r);
	seq_check(fx, f, &m);
	seq_truncate(fx, f, &m, 35803);
	seq_pwrite(fx, f, &m, 224725, 37419, &r);
	seq_pwrite(fx, f, &m, 240510, 21634, &r);
	TU_EXPECT_EQ(m.size, 262144, "model size");
	seq_check(fx, f, &m);
	tu_store_reopen(fx, 1);
	seq_check(fx, f, &m);
	tu_free(m.want);
	tu_check_recount(fx);
}

/* Writes race truncates from other threads: every truncate commits the
 * file's buffered chunks first under the same lock hold, so no buffered
 * write made before a truncate lands after it (rule 2 of the size rule).
 * Each thread owns its own file; the final content must match. */
#define RACE_THR 3
struct race_arg {
	struct tu_fx *fx;
	uint64_t ino;
	uint64_t seed;
	uint8_t *want;
	uint64_t size;
	int failed;
};

static void *race_thread(void *p)
{
	struct race_arg *a = p;
	struct tu_rng r;
	uint8_t b[5000];
	tu_rng_seed(&r, a->seed);
	for (int i = 0; i < 400 && !a->failed; i++) {
		if (tu_rng_below(&r, 4) == 0) {
			struct cs_attr in;
			memset(&in, 0, sizeof(in));
			in.size = tu_rng_below(&r, 3 * CH);
			a->failed |= cs_setattr(a->fx->vol, a->ino, &in, CS_SET_SIZE, NULL) != 0;
			if (in.size < a->size)
				memset(a->want + in.size, 0, a->size - in.size);
			a->size = in.size;
		} else {
			uint64_t off = tu_rng_below(&r, 3 * CH);
			size_t len = 1 + tu_rng_below(&r, sizeof(b));
			tu_rng_fill(&r, b, len);
			a->failed |= cs_write(a->fx->vol, a->ino, off, b, len) != (ssize_t)len;
			memcpy(a->want + off, b, len);
			if (off + len > a->size)
				a->size = off + len;
		}
	}
	return NULL;
}

static void test_truncates_and_buffered_writes_race_on_threads(void **state)
{
	struct tu_fx *fx = FX;
	struct race_arg a[RACE_THR];
	pthread_t th[RACE_THR];
	char name[16];
	for (int i = 0; i < RACE_THR; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		a[i] = (struct race_arg){ fx, tu_mkfile(fx, fx->vol, R, name), 100 + i,
					  tu_malloc(4 * CH), 0, 0 };
		assert_non_null(a[i].want);
		memset(a[i].want, 0, 4 * CH);
		tu_write(fx->vol, a[i].ino, 0, "x", 1);
		a[i].want[0] = 'x';
		a[i].size = 1;
	}
	for (int i = 0; i < RACE_THR; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, &a[i]), 0);
	for (int i = 0; i < RACE_THR; i++)
		pthread_join(th[i], NULL);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < RACE_THR; i++) {
			TU_EXPECT(!a[i].failed, "thread %d saw a failed call", i);
			TU_EXPECT_EQ(tu_getattr(fx->vol, a[i].ino).size, a[i].size, "size");
			tu_read_expect(fx->vol, a[i].ino, 0, a[i].want, a[i].size);
		}
		tu_store_reopen(fx, 1);
	}
	for (int i = 0; i < RACE_THR; i++)
		tu_free(a[i].want);
	tu_check_recount(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_write_read_basics_and_times),
	    T(test_data_errors),
	    T(test_random_ops_match_model_seed1),
	    T(test_random_ops_match_model_seed2),
	    T(test_random_ops_match_model_small_files),
	    T(test_sparse_file_holes_read_zero_and_blocks_small),
	    T(test_file_larger_than_4gib),
	    T(test_inline_file_grows_to_chunks_and_shrinks_back),
	    T(test_volume_stats_track_apparent_and_logical_bytes),
	    T(test_fallocate_mode0_extends_keep_size_does_not),
	    T(test_fallocate_punch_hole_zeroes_and_frees_chunks),
	    T(test_fallocate_unsupported_modes_and_errors),
	    T(test_lseek_data_and_hole),
	    T(test_same_data_in_two_volumes_is_stored_once),
	    T(test_same_chunk_twice_in_one_file_is_stored_once),
	    T(test_compression_shrinks_text_and_stores_random_raw),
	    T(test_volume_without_compression_stores_raw),
	    T(test_corrupted_chunk_reads_as_eio_naming_it),
	    T(test_quota_refuses_writes_past_it_and_writes_nothing),
	    T(test_quota_lowered_below_usage_refuses_growth),
	    T(test_statfs_without_quota_uses_the_disk),
	    T(test_concurrent_writers_on_one_volume),
	    T(test_fallocate_zero_range_zeroes_and_extends),
	    T(test_buffered_growth_is_seen_by_lookup_link_and_setattr),
	    T(test_issue12_sequence_keeps_size_and_data),
	    T(test_truncates_and_buffered_writes_race_on_threads),
	};
	return cmocka_run_group_tests_name("data", tests, tu_group_setup, tu_group_teardown);
}
