/*
 * test_check.c - cs_store_check: nothing to report on a consistent store,
 * also with history (snapshots, a clone) and while another thread writes;
 * on a store damaged through RocksDB while closed (a chunk deleted, a
 * reference count changed, a reference record deleted, a chunk nothing
 * references added), every problem goes to the callback, each naming its
 * chunk, and cs_last_error() names the first.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO
#define CH ((uint64_t)CS_CHUNK_SIZE)
#define MAXP 64

struct problems {
	int n;
	char *text[MAXP];
};

static void collect(void *ctx, const char *problem)
{
	struct problems *p = ctx;

	if (p->n < MAXP)
		p->text[p->n] = tu_malloc(strlen(problem) + 1), strcpy(p->text[p->n], problem);
	p->n++;
}

/* Is there a problem mentioning both @a and @b? */
static int reported(const struct problems *p, const char *a, const char *b)
{
	for (int i = 0; i < p->n && i < MAXP; i++)
		if (strstr(p->text[i], a) && strstr(p->text[i], b))
			return 1;
	return 0;
}

static void dump(const struct problems *p)
{
	for (int i = 0; i < p->n && i < MAXP; i++)
		print_message("  problem: %s\n", p->text[i]);
}

/* A file of @chunks chunks of text distinct per @seed. */
static void write_file(struct tu_fx *fx, const char *name, uint64_t chunks, uint64_t seed)
{
	uint64_t ino = tu_mkfile(fx, fx->vol, R, name);
	uint8_t *buf = tu_malloc(chunks * CH);

	tu_fill_text(buf, chunks * CH, seed);
	tu_write(fx->vol, ino, 0, buf, chunks * CH);
	tu_free(buf);
}

/* ---- RocksDB, directly, on the closed store ---- */

struct raw {
	rocksdb_options_t *opt;
	rocksdb_t *db;
	char **cfs;
	size_t ncf;
	rocksdb_column_family_handle_t *h[8];
	rocksdb_column_family_handle_t *meta, *chunks;
	rocksdb_writeoptions_t *wo;
	rocksdb_readoptions_t *ro;
};

static void raw_open(struct tu_fx *fx, struct raw *r)
{
	const rocksdb_options_t *cfo[8];
	char path[PATH_MAX + 8];
	char *err = NULL;

	tu_store_close(fx);
	snprintf(path, sizeof(path), "%s/db", fx->dir);
	r->opt = rocksdb_options_create();
	r->cfs = rocksdb_list_column_families(r->opt, path, &r->ncf, &err);
	TU_EXPECT(!err && r->ncf <= 8, "list column families: %s", err ? err : "too many");
	for (size_t i = 0; i < r->ncf; i++)
		cfo[i] = r->opt;
	r->db = rocksdb_open_column_families(r->opt, path, (int)r->ncf, (const char *const *)r->cfs,
					     cfo, r->h, &err);
	TU_EXPECT(!err, "open %s: %s", path, err);
	for (size_t i = 0; i < r->ncf; i++) {
		if (!strcmp(r->cfs[i], "meta"))
			r->meta = r->h[i];
		if (!strcmp(r->cfs[i], "chunks"))
			r->chunks = r->h[i];
	}
	TU_EXPECT(r->meta && r->chunks, "no meta or chunks column family");
	r->wo = rocksdb_writeoptions_create();
	r->ro = rocksdb_readoptions_create();
}

static void raw_close(struct tu_fx *fx, struct raw *r)
{
	for (size_t i = 0; i < r->ncf; i++)
		rocksdb_column_family_handle_destroy(r->h[i]);
	rocksdb_close(r->db);
	rocksdb_list_column_families_destroy(r->cfs, r->ncf);
	rocksdb_writeoptions_destroy(r->wo);
	rocksdb_readoptions_destroy(r->ro);
	rocksdb_options_destroy(r->opt);
	tu_store_reopen(fx, 1);
}

/* The @nth 'R' record: its chunk's hash (raw and hex) and its value. */
static void nth_ref(struct raw *r, int nth, uint8_t hash[32], char hex[65], uint8_t val[16])
{
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, r->ro, r->meta);
	int i = 0;

	for (rocksdb_iter_seek(it, "R", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it), i++) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);

		TU_EXPECT(kl == 33 && k[0] == 'R' && vl == 16, "reference record %d not found",
			  nth);
		if (i < nth)
			continue;
		memcpy(hash, k + 1, 32);
		memcpy(val, v, 16);
		for (int j = 0; j < 32; j++)
			sprintf(hex + 2 * j, "%02x", hash[j]);
		break;
	}
	rocksdb_iter_destroy(it);
	TU_EXPECT(i == nth, "only %d reference records", i);
}

static void raw_do(struct raw *r, int put, rocksdb_column_family_handle_t *cf, const void *k,
		   size_t kl, const void *v, size_t vl)
{
	char *err = NULL;

	if (put)
		rocksdb_put_cf(r->db, r->wo, cf, k, kl, v, vl, &err);
	else
		rocksdb_delete_cf(r->db, r->wo, cf, k, kl, &err);
	TU_EXPECT(!err, "write: %s", err);
}

/* ---- tests ---- */

static void test_consistent_store_reports_nothing(void **state)
{
	struct tu_fx *fx = FX;
	struct problems p = {0};
	struct cs_store_stats s, kept;

	write_file(fx, "a", 3, 1);
	write_file(fx, "b", 3, 1); /* the same chunks again */
	write_file(fx, "c", 1, 2);
	TU_OK(cs_snapshot_create(fx->st, "vol", "s1", NULL));
	write_file(fx, "d", 2, 3);
	TU_OK(cs_clone_create(fx->st, "vol", "s1", "clone", NULL, NULL));
	TU_OK(cs_store_check(fx->st, &s, collect, &p));
	dump(&p);
	TU_EXPECT_EQ(p.n, 0, "problems reported");
	kept = tu_stats(fx);
	TU_EXPECT_EQ(s.chunks, kept.chunks, "chunks");
	TU_EXPECT_EQ(s.chunk_refs, kept.chunk_refs, "chunk references");
	TU_EXPECT_EQ(s.volumes, 2, "volumes");
}

static void test_every_problem_is_reported_and_the_first_named(void **state)
{
	struct tu_fx *fx = FX;
	struct problems p = {0};
	struct cs_store_stats s;
	uint8_t h0[32], h1[32], h2[32], v[16], junk[32], rk[33];
	char x0[65], x1[65], x2[65], xj[65], first[512];
	struct raw r = {0};

	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "f%d", i);
		write_file(fx, name, 1, 10 + (uint64_t)i);
	}
	raw_open(fx, &r);
	nth_ref(&r, 0, h0, x0, v); /* chunk 0 deleted */
	raw_do(&r, 0, r.chunks, h0, 32, NULL, 0);
	nth_ref(&r, 1, h1, x1, v); /* chunk 1's count says 3 */
	v[7] = 3;
	rk[0] = 'R';
	memcpy(rk + 1, h1, 32);
	raw_do(&r, 1, r.meta, rk, 33, v, 16);
	nth_ref(&r, 2, h2, x2, v); /* chunk 2 loses its reference record */
	memcpy(rk + 1, h2, 32);
	raw_do(&r, 0, r.meta, rk, 33, NULL, 0);
	memset(junk, 0xff, sizeof(junk)); /* a chunk nothing references */
	memset(xj, 'f', 64);
	xj[64] = '\0';
	raw_do(&r, 1, r.chunks, junk, 32,
	       "\x01\x00\x00\x00\x00\x03"
	       "abc",
	       9);
	raw_close(fx, &r);

	TU_EXPECT_RC(cs_store_check(fx->st, &s, collect, &p), -EUCLEAN);
	snprintf(first, sizeof(first), "%s", cs_last_error());
	if (p.n < 9)
		dump(&p);
	TU_EXPECT(p.n >= 9, "%d problems reported", p.n);
	TU_EXPECT_STR(first, p.text[0], "cs_last_error() names the first problem");
	TU_EXPECT(reported(&p, x0, "is missing"), "the deleted chunk is not named");
	TU_EXPECT(reported(&p, x1, "reference count 3 but 1 extents"), "the count is not named");
	TU_EXPECT(reported(&p, x2, "no reference record"), "the lost record is not named");
	TU_EXPECT(reported(&p, x2, "nothing references it"), "chunk 2 is not named unreferenced");
	TU_EXPECT(reported(&p, xj, "nothing references it"), "the junk chunk is not named");
	TU_EXPECT(reported(&p, "store: the chunk count is 4 but a recount gives 2", ""),
		  "the chunk count is not named");
	TU_EXPECT_RC(cs_store_recount(fx->st, &s), -EUCLEAN);
	TU_EXPECT_STR(cs_last_error(), first, "cs_store_recount names the same first problem");
}

struct writer {
	struct tu_fx *fx;
	uint64_t ino;
	int stop, err;
	uint64_t done;
};

static int set_size(cs_vol *v, uint64_t ino, uint64_t size)
{
	struct cs_attr a = {.size = size};

	return cs_setattr(v, ino, &a, CS_SET_SIZE, NULL);
}

/* Whole-chunk writes (each one commit) and truncates, until told to stop. */
static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint8_t *buf = malloc(CH);

	for (uint64_t i = 0; buf && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE); i++) {
		ssize_t n;

		tu_fill_text(buf, CH, 100 + i);
		n = cs_write(w->fx->vol, w->ino, (i % 8) * CH, buf, CH);
		if (n < 0 || (i % 5 == 0 && set_size(w->fx->vol, w->ino, (i % 7) * CH) < 0)) {
			w->err = n < 0 ? (int)n : -EIO;
			break;
		}
		__atomic_store_n(&w->done, i + 1, __ATOMIC_RELEASE);
	}
	free(buf);
	return NULL;
}

static void test_check_while_another_thread_writes(void **state)
{
	struct tu_fx *fx = FX;
	struct writer w = {.fx = fx, .ino = tu_mkfile(fx, fx->vol, R, "busy")};
	struct cs_store_stats s;
	int rc = 0, checks = 0;
	pthread_t t;

	for (int i = 0; i < 100; i++) { /* something for the check to read */
		char name[16];

		snprintf(name, sizeof(name), "old%d", i);
		write_file(fx, name, 1, 1000 + (uint64_t)i);
	}
	TU_EXPECT(pthread_create(&t, NULL, writer_main, &w) == 0, "pthread_create");
	while (rc == 0 && (checks < 20 || __atomic_load_n(&w.done, __ATOMIC_ACQUIRE) < 300) &&
	       checks < 500) {
		struct problems p = {0};

		rc = cs_store_check(fx->st, &s, collect, &p);
		if (rc)
			dump(&p);
		checks++;
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	print_message("  %d checks while %llu writes\n", checks, (unsigned long long)w.done);
	TU_OK(rc);
	TU_OK(w.err);
	tu_check_recount(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_consistent_store_reports_nothing),
	    T(test_every_problem_is_reported_and_the_first_named),
	    T(test_check_while_another_thread_writes),
	};
	return cmocka_run_group_tests_name("check", tests, tu_group_setup, tu_group_teardown);
}
