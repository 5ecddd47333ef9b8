/*
 * test_adoptq.c - chunks by name adopted many at once (store/cs_adoptq.c,
 * the receive of a stream of chunk names) over a chunk store of this
 * file's own whose adopt stands for the pool's round trips: the adopts
 * run side by side, never more than CS_ADOPT_THREADS at once, each chunk's
 * ref comes back in its own slot; one missing chunk fails the run with
 * its message, and every mark the others took is given back.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cs_adoptq.h"
#include "cs_priv.h"

#define N 300

static struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int inflight, max_inflight, calls, adopted, given_back;
	int missing;    /* the index of a chunk the pool lacks, or -1 */
	int saw_second; /* the first adopt saw a second one begin */
} fk = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void hash_of(int i, uint8_t *h)
{
	memset(h, 0, CS_HASH_LEN);
	h[0] = (uint8_t)(i >> 8);
	h[1] = (uint8_t)i;
	h[31] = 0xa5;
}

static int index_of(const uint8_t *h)
{
	return h[0] << 8 | h[1];
}

/* Adopt: the first call waits (10 s at most) for a second to begin, so
 * that the test sees whether they run side by side without timing it. */
static int fake_adopt(struct cs_chunkstore *cs, const uint8_t *hash, uint32_t len,
		      uint32_t raw_len, uint8_t *ref)
{
	struct cs_chunkref h = {'O', len, raw_len};
	struct timespec until;
	int i = index_of(hash), first;

	(void)cs;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&fk.mu);
	first = fk.calls++ == 0;
	if (++fk.inflight > fk.max_inflight)
		fk.max_inflight = fk.inflight;
	pthread_cond_broadcast(&fk.cv);
	while (first && fk.inflight < 2 &&
	       pthread_cond_timedwait(&fk.cv, &fk.mu, &until) == 0)
		;
	if (first)
		fk.saw_second = fk.inflight >= 2;
	pthread_mutex_unlock(&fk.mu);
	nanosleep(&(struct timespec){0, 200000}, NULL); /* a round trip, roughly */
	pthread_mutex_lock(&fk.mu);
	fk.inflight--;
	fk.adopted += i != fk.missing;
	pthread_mutex_unlock(&fk.mu);
	if (i == fk.missing)
		return cs_fail(-ENOENT, "chunk %d: missing from the pool", i);
	if (len != 1000u + (uint32_t)i || raw_len != 4096)
		return cs_fail(-EIO, "chunk %d: wrong lengths %u %u", i, len, raw_len);
	cs_chunkref_encode(&h, ref);
	memcpy(ref + CS_REF_HEAD, hash, CS_HASH_LEN);
	return CS_REF_HEAD + CS_HASH_LEN;
}

static void fake_named(struct cs_chunkstore *cs, const uint8_t *ref, size_t reflen, int named)
{
	(void)cs;
	assert_int_equal(reflen, CS_REF_HEAD + CS_HASH_LEN);
	assert_int_not_equal(index_of(ref + CS_REF_HEAD), fk.missing);
	pthread_mutex_lock(&fk.mu);
	fk.given_back += !named;
	pthread_mutex_unlock(&fk.mu);
}

static const struct cs_chunkstore_ops fake_ops = {
	.kind = "fake",
	.named = fake_named,
	.adopt = fake_adopt,
};

static struct cs_chunkstore fake_cs = {&fake_ops, NULL};

static void queue(struct cs_adoptq *q, int missing)
{
	uint8_t h[CS_HASH_LEN];

	pthread_mutex_lock(&fk.mu);
	fk.inflight = fk.max_inflight = fk.calls = fk.adopted = fk.given_back = 0;
	fk.saw_second = 0;
	fk.missing = missing;
	pthread_mutex_unlock(&fk.mu);
	for (int i = 0; i < N; i++) {
		hash_of(i, h);
		TU_OK(cs_adoptq_add(q, h, 1000u + (uint32_t)i, 4096));
	}
}

static void test_adopts_run_side_by_side_each_in_its_slot(void **state)
{
	struct cs_adoptq q = {0};

	(void)state;
	TU_OK(cs_adoptq_run(&fake_cs, &q)); /* an empty queue asks nothing */
	TU_EXPECT_EQ(fk.calls, 0, "adopts of an empty queue");
	queue(&q, -1);
	TU_OK(cs_adoptq_run(&fake_cs, &q));
	TU_EXPECT_EQ(q.n, N, "the queue keeps its chunks for the caller to stage");
	TU_EXPECT_EQ(fk.calls, N, "one adopt per chunk");
	TU_EXPECT(fk.saw_second, "a second adopt began while the first was in flight");
	TU_EXPECT(fk.max_inflight <= CS_ADOPT_THREADS, "%d adopts in flight, more than %d",
		  fk.max_inflight, CS_ADOPT_THREADS);
	TU_EXPECT_EQ(fk.given_back, 0, "marks given back after a run that worked");
	for (int i = 0; i < N; i++) {
		TU_EXPECT_EQ(q.v[i].reflen, CS_REF_HEAD + CS_HASH_LEN, "the ref's length");
		TU_EXPECT_EQ(index_of(q.v[i].ref + CS_REF_HEAD), i, "the chunk the ref names");
	}
	cs_adoptq_free(&q);
}

static void test_a_missing_chunk_fails_the_run_and_gives_back_the_rest(void **state)
{
	struct cs_adoptq q = {0};

	(void)state;
	queue(&q, N / 2);
	TU_EXPECT_RC(cs_adoptq_run(&fake_cs, &q), -ENOENT);
	TU_EXPECT(strstr(cs_last_error(), "chunk 150: missing"), "the message names the chunk: %s",
		  cs_last_error());
	TU_EXPECT_EQ(q.n, 0, "the queue is emptied");
	TU_EXPECT(fk.calls > N / 2 && fk.calls <= N, "%d adopts (the missing one began)",
		  fk.calls);
	TU_EXPECT_EQ(fk.given_back, fk.adopted, "every mark taken was given back");
	/* the queue is usable again: a run without the missing chunk works */
	queue(&q, -1);
	TU_OK(cs_adoptq_run(&fake_cs, &q));
	TU_EXPECT_EQ(fk.given_back, 0, "nothing given back");
	cs_adoptq_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adopts_run_side_by_side_each_in_its_slot),
		cmocka_unit_test(test_a_missing_chunk_fails_the_run_and_gives_back_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
