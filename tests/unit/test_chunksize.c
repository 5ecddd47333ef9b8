/*
 * test_chunksize.c - a volume's chunk size (cs_volume_opts.chunk_size, like
 * ZFS's recordsize): what may be chosen and when, that data written with 4
 * KiB and 1 MiB chunks reads back exactly through every kind of write,
 * truncate and hole punch (against an in-memory model, across a reopen),
 * that a clone has its origin's, and that chunk files stay consistent
 * while many writers store small chunks and reclaim runs beside them.
 */
#include "testutil.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX ((struct tu_fx *)*state)
#define R CS_ROOT_INO
#define KiB 1024u
#define MiB (1024u * 1024u)

static int create(struct tu_fx *fx, const char *name, uint32_t chunk)
{
	struct cs_volume_opts o = {.compression = -1, .chunk_size = chunk};

	return cs_volume_create(fx->st, name, &o, 0, 0, NULL);
}

static uint32_t chunk_of(struct tu_fx *fx, const char *name)
{
	struct cs_volume_info vi;

	TU_OK(cs_volume_get(fx->st, name, &vi));
	return vi.chunk_size;
}

static void test_chunk_size_is_chosen_at_creation(void **state)
{
	struct tu_fx *fx = FX;
	static const uint32_t bad[] = {1, 2048, 3000, 12288, 2 * MiB, 0xffffffffu};
	struct cs_volume_opts o = {.compression = -1};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TU_EXPECT_RC(create(fx, "bad", bad[i]), -EINVAL);
		TU_EXPECT(strstr(cs_last_error(), "power of two") != NULL, "message: %s",
			  cs_last_error());
	}
	TU_OK(create(fx, "small", 4 * KiB));
	TU_OK(create(fx, "large", MiB));
	TU_OK(create(fx, "dflt", 0));
	TU_EXPECT_EQ(chunk_of(fx, "small"), 4 * KiB, "4 KiB volume");
	TU_EXPECT_EQ(chunk_of(fx, "large"), MiB, "1 MiB volume");
	TU_EXPECT_EQ(chunk_of(fx, "dflt"), CS_CHUNK_SIZE, "default volume");
	TU_EXPECT_EQ(chunk_of(fx, "vol"), CS_CHUNK_SIZE, "the fixture's volume");
	o.chunk_size = 8 * KiB; /* fixed at creation */
	TU_EXPECT_RC(cs_volume_set_opts(fx->st, "small", &o), -EINVAL);
	o.chunk_size = 4 * KiB; /* the same size: fine */
	o.quota = 10 * MiB;
	TU_OK(cs_volume_set_opts(fx->st, "small", &o));
	TU_OK(cs_snapshot_create(fx->st, "small", "s", NULL));
	o.chunk_size = 64 * KiB;
	TU_EXPECT_RC(cs_clone_create(fx->st, "small", "s", "c1", &o, NULL), -EINVAL);
	TU_OK(cs_clone_create(fx->st, "small", "s", "c2", NULL, NULL));
	TU_EXPECT_EQ(chunk_of(fx, "c2"), 4 * KiB, "a clone has its origin's chunk size");
	tu_store_reopen(fx, 1);
	TU_EXPECT_EQ(chunk_of(fx, "small"), 4 * KiB, "after reopen");
	TU_EXPECT_EQ(chunk_of(fx, "large"), MiB, "after reopen");
	TU_EXPECT_EQ(chunk_of(fx, "dflt"), CS_CHUNK_SIZE, "after reopen");
}

/* Random writes (small, chunk-sized, large, unaligned), truncates and hole
 * punches on one file of a volume with @chunk-byte chunks, mirrored in a
 * model; the file reads back as the model says, before and after a
 * reopen. */
static void model_run(struct tu_fx *fx, uint32_t chunk, uint64_t seed)
{
	const uint64_t max = 6 * (uint64_t)chunk + 3 * MiB;
	uint8_t *model = tu_calloc(max), *buf = tu_malloc(max);
	char name[16];
	uint64_t size = 0, ino;
	struct tu_rng r;
	cs_vol *v;

	snprintf(name, sizeof(name), "m%u", chunk);
	TU_OK(create(fx, name, chunk));
	v = tu_vol_open(fx, name, 0);
	ino = tu_mkfile(fx, v, R, "f");
	tu_rng_seed(&r, seed);
	for (int op = 0; op < 300; op++) {
		uint64_t k = tu_rng_below(&r, 10), off = tu_rng_below(&r, max - 1);
		uint64_t len = k < 4 ? 1 + tu_rng_below(&r, 3 * KiB)
			       : k < 6 ? chunk : 1 + tu_rng_below(&r, 2 * (uint64_t)chunk);

		if (k < 7) { /* write */
			if (k == 5)
				off -= off % chunk;
			if (off + len > max)
				len = max - off;
			tu_rng_fill(&r, model + off, len);
			tu_write(v, ino, off, model + off, len);
			if (off + len > size)
				size = off + len;
		} else if (k < 9) { /* truncate */
			struct cs_attr a = {.size = tu_rng_below(&r, max)};

			TU_OK(cs_setattr(v, ino, &a, CS_SET_SIZE, NULL));
			if (a.size < size)
				memset(model + a.size, 0, size - a.size);
			size = a.size;
		} else if (off < size) { /* punch a hole */
			if (off + len > size)
				len = size - off;
			TU_OK(cs_fallocate(v, ino, CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE, off,
					   len));
			memset(model + off, 0, len);
		}
	}
	TU_EXPECT(tu_getattr(v, ino).size == size, "size, chunk %u", chunk);
	tu_read_expect(v, ino, 0, model, size);
	tu_vol_close(fx, v);
	tu_store_reopen(fx, 1);
	v = tu_vol_open(fx, name, 0);
	TU_EXPECT(tu_getattr(v, ino).size == size, "size after reopen, chunk %u", chunk);
	tu_read_expect(v, ino, 0, model, size);
	tu_vol_close(fx, v);
	tu_free(model);
	tu_free(buf);
	tu_check_recount(fx);
}

static void test_4k_chunks_read_back_what_was_written(void **state)
{
	model_run(FX, 4 * KiB, 41);
}

static void test_1m_chunks_read_back_what_was_written(void **state)
{
	model_run(FX, MiB, 42);
}

struct writer {
	struct tu_fx *fx;
	cs_vol *v;
	uint64_t ino;
	int stop, err;
};

/* Whole 4 KiB chunks of fresh bytes at random offsets of its own file:
 * every write stores new chunks and drops old ones (garbage for reclaim). */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t buf[64 * KiB];
	struct tu_rng r;

	tu_rng_seed(&r, w->ino);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && !w->err) {
		size_t len = (1 + tu_rng_below(&r, 16)) * 4 * KiB;
		ssize_t n;

		tu_rng_fill(&r, buf, len);
		n = cs_write(w->v, w->ino, tu_rng_below(&r, 256) * 4 * KiB, buf, len);
		if (n != (ssize_t)len)
			w->err = n < 0 ? (int)n : -EIO;
	}
	return NULL;
}

/* Writers and reclaim side by side, then a check. Random 4 KiB O_DIRECT
 * writes through a mount once found reclaim sealing the file a put was
 * writing into, skipping the record (not named yet) and deleting the file
 * the put's batch then named (check: "its chunk file is missing"); a put
 * now counts as pending from its reservation (cs_cfile.c). This stress
 * did not reproduce that narrow window in-process (3 runs on the old
 * code); it checks that nothing else goes wrong with reclaim under load. */
static void test_reclaim_beside_many_small_writers_keeps_every_chunk(void **state)
{
	struct tu_fx *fx = FX;
	struct writer w[3];
	pthread_t t[3];
	int64_t end;
	int rc = 0;
	cs_vol *v;

	TU_OK(create(fx, "db", 4 * KiB));
	v = tu_vol_open(fx, "db", 0); /* one handle, three threads */
	for (int i = 0; i < 3; i++) {
		char name[8];

		w[i] = (struct writer){.fx = fx, .v = v};
		snprintf(name, sizeof(name), "f%d", i);
		w[i].ino = tu_mkfile(fx, w[i].v, R, name);
		TU_OK(pthread_create(&t[i], NULL, writer_main, &w[i]));
	}
	end = tu_now_ns() + 4000000000LL;
	while (rc >= 0 && tu_now_ns() < end)
		rc = cs_gc_compact(fx->st);
	for (int i = 0; i < 3; i++) {
		__atomic_store_n(&w[i].stop, 1, __ATOMIC_RELEASE);
		pthread_join(t[i], NULL);
		TU_EXPECT_RC(w[i].err, 0);
	}
	tu_vol_close(fx, v);
	TU_EXPECT(rc >= 0, "cs_gc_compact: %s", cs_last_error());
	TU_OK(cs_store_sync(fx->st));
	tu_check_recount(fx);
	tu_store_reopen(fx, 1);
	tu_check_recount(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_chunk_size_is_chosen_at_creation),
	    T(test_4k_chunks_read_back_what_was_written),
	    T(test_1m_chunks_read_back_what_was_written),
	    T(test_reclaim_beside_many_small_writers_keeps_every_chunk),
	};
	return cmocka_run_group_tests_name("chunk size", tests, tu_group_setup,
					   tu_group_teardown);
}
