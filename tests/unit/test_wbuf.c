/*
 * test_wbuf.c - the write buffer's writeback (cs_vol_writeback, what the
 * daemon's flusher thread runs) beside writers: random writes of every
 * size up to 1 MiB, truncates, unlinks, syncs and reads, in the order a
 * seeded generator picks, while a thread writes the buffer back without
 * the volume lock. After every read, at the end, and after a reopen, the
 * files must hold exactly what an in-memory model says, and the store's
 * counters must agree with a recount. A failure prints the seed and the
 * operation; CS_WBUF_SEED=N replays one seed.
 */
#include "testutil.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX ((struct tu_fx *)*state)
#define R CS_ROOT_INO
#define NFILES 3
#define FMAX (6u << 20) /* the model's files stay under this */

struct model {
	uint64_t ino[NFILES];
	uint8_t *data[NFILES];
	uint64_t size[NFILES];
};

struct flusher {
	cs_vol *vol;
	int stop;
	int err;
	unsigned long rounds;
};

static void *flusher_main(void *arg)
{
	struct flusher *fl = arg;

	while (!__atomic_load_n(&fl->stop, __ATOMIC_ACQUIRE)) {
		int rc = cs_vol_writeback(fl->vol);

		if (rc < 0)
			fl->err = rc;
		fl->rounds++;
		if (rc == 0) {
			struct timespec ts = {0, 200000};

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void expect_file(cs_vol *v, const struct model *m, int i, const char *when,
			uint64_t seed, int op)
{
	struct cs_attr a = tu_getattr(v, m->ino[i]);
	uint8_t *buf;
	ssize_t n;

	if (a.size != m->size[i])
		fail_msg("seed %llu op %d (%s): file %d has size %llu, the model %llu",
			 (unsigned long long)seed, op, when, i, (unsigned long long)a.size,
			 (unsigned long long)m->size[i]);
	buf = tu_malloc(FMAX);
	n = cs_read(v, m->ino[i], 0, buf, FMAX);
	if (n != (ssize_t)m->size[i] || memcmp(buf, m->data[i], m->size[i]))
		fail_msg("seed %llu op %d (%s): file %d reads back wrong (%zd bytes)",
			 (unsigned long long)seed, op, when, i, n);
	tu_free(buf);
}

/* One random operation on the model and the volume. */
static void step(struct tu_fx *fx, struct model *m, struct tu_rng *r, uint8_t *buf,
		 uint64_t seed, int op)
{
	int i = (int)tu_rng_below(r, NFILES), kind = (int)tu_rng_below(r, 100);
	char name[16];

	if (kind < 80) { /* a write: small, chunk-sized, or up to 1 MiB */
		uint64_t len = kind < 30 ? 1 + tu_rng_below(r, 8192)
			       : kind < 55 ? 65536 : 1 + tu_rng_below(r, 1u << 20);
		uint64_t off = tu_rng_below(r, FMAX - len);

		if (kind < 55 && tu_rng_below(r, 2))
			off = off / 65536 * 65536; /* whole chunks */
		tu_rng_fill(r, buf, len);
		if (tu_rng_below(r, 4) == 0)
			memset(buf, 0, len / 2); /* holes to trim */
		tu_write(fx->vol, m->ino[i], off, buf, len);
		memcpy(m->data[i] + off, buf, len);
		if (off + len > m->size[i])
			m->size[i] = off + len;
	} else if (kind < 84) { /* truncate */
		struct cs_attr in = {.size = tu_rng_below(r, FMAX)};

		TU_OK(cs_setattr(fx->vol, m->ino[i], &in, CS_SET_SIZE, NULL));
		if (in.size < m->size[i])
			memset(m->data[i] + in.size, 0, m->size[i] - in.size);
		m->size[i] = in.size;
	} else if (kind < 96) { /* read a range */
		uint64_t off = tu_rng_below(r, FMAX), len = 1 + tu_rng_below(r, 2u << 20);
		uint64_t want = off >= m->size[i] ? 0 : m->size[i] - off < len ? m->size[i] - off : len;
		ssize_t n = cs_read(fx->vol, m->ino[i], off, buf, len);

		if (n != (ssize_t)want || memcmp(buf, m->data[i] + off, want))
			fail_msg("seed %llu op %d: read of file %d at %llu (%llu bytes) wrong: %zd",
				 (unsigned long long)seed, op, i, (unsigned long long)off,
				 (unsigned long long)len, n);
	} else if (kind < 97) {
		TU_OK(cs_vol_sync(fx->vol));
	} else { /* the file goes, and a new one takes its place */
		snprintf(name, sizeof(name), "f%d", i);
		TU_OK(cs_unlink(fx->vol, R, name, NULL));
		m->ino[i] = tu_mkfile(fx, fx->vol, R, name);
		memset(m->data[i], 0, m->size[i]);
		m->size[i] = 0;
	}
}

static void run_seed(struct tu_fx *fx, uint64_t seed, int ops)
{
	struct flusher fl = {.vol = fx->vol};
	struct model m;
	struct tu_rng r;
	pthread_t th;
	uint8_t *buf = tu_malloc(2u << 20);
	char name[16];

	tu_rng_seed(&r, seed);
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		m.ino[i] = tu_mkfile(fx, fx->vol, R, name);
		m.data[i] = tu_calloc(FMAX);
		m.size[i] = 0;
	}
	assert_int_equal(pthread_create(&th, NULL, flusher_main, &fl), 0);
	for (int op = 0; op < ops; op++)
		step(fx, &m, &r, buf, seed, op);
	__atomic_store_n(&fl.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	TU_OK(fl.err);
	TU_EXPECT(fl.rounds > 0, "the writeback never ran");
	for (int i = 0; i < NFILES; i++)
		expect_file(fx->vol, &m, i, "at the end", seed, ops);
	TU_OK(cs_vol_sync(fx->vol));
	tu_store_reopen(fx, 1);
	for (int i = 0; i < NFILES; i++)
		expect_file(fx->vol, &m, i, "after a reopen", seed, ops);
	tu_check_recount(fx);
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		TU_OK(cs_unlink(fx->vol, R, name, NULL));
		tu_free(m.data[i]);
	}
	tu_free(buf);
}

static void test_writeback_beside_writers_matches_a_model(void **state)
{
	const char *env = getenv("CS_WBUF_SEED");

	if (env) {
		run_seed(FX, strtoull(env, NULL, 10), 400);
		return;
	}
	for (uint64_t seed = 1; seed <= 3; seed++)
		run_seed(FX, seed, 800);
}

/* Writes of 1 MiB, one after the other, with the writeback running: the
 * pattern of a sequential write through FUSE. */
static void test_sequential_megabytes_with_writeback(void **state)
{
	struct tu_fx *fx = FX;
	struct flusher fl = {.vol = fx->vol};
	uint64_t f = tu_mkfile(fx, fx->vol, R, "seq");
	uint8_t *buf = tu_malloc(1u << 20), *back = tu_malloc(1u << 20);
	struct tu_rng r;
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, flusher_main, &fl), 0);
	for (uint64_t mb = 0; mb < 64; mb++) {
		tu_rng_seed(&r, mb);
		tu_rng_fill(&r, buf, 1u << 20);
		tu_write(fx->vol, f, mb << 20, buf, 1u << 20);
	}
	__atomic_store_n(&fl.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	TU_OK(fl.err);
	TU_OK(cs_vol_sync(fx->vol));
	tu_store_reopen(fx, 1);
	f = tu_lookup(fx->vol, R, "seq");
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 64u << 20, "size");
	for (uint64_t mb = 0; mb < 64; mb++) {
		tu_rng_seed(&r, mb);
		tu_rng_fill(&r, buf, 1u << 20);
		TU_EXPECT_RC(cs_read(fx->vol, f, mb << 20, back, 1u << 20), 1u << 20);
		TU_EXPECT(!memcmp(buf, back, 1u << 20), "megabyte %llu differs",
			  (unsigned long long)mb);
	}
	tu_check_recount(fx);
	tu_free(buf);
	tu_free(back);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
		T(test_writeback_beside_writers_matches_a_model),
		T(test_sequential_megabytes_with_writeback),
	};
	return cmocka_run_group_tests(tests, tu_group_setup, tu_group_teardown);
}
