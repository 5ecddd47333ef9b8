/*
 * test_rados.c - the RADOS chunk store (store/cs_rados.c, issue 15) against a
 * live cluster: put/sync/get/check/release of one store, two stores sharing
 * a chunk, two stores adding and dropping the same chunks at once, two
 * whole stores writing and deleting overlapping files for a minute
 * (CS_TEST_SHARE_SECONDS, at least 600 steps each) after which the pool
 * holds exactly the chunks both index, a whole store's data path (write, read, dedup, check, delete, gc) with its chunks
 * in the pool, and bounded errors (no pool, no cluster).
 *
 * Needs CS_TEST_CEPH_CONF (a ceph.conf) and CS_TEST_CEPH_POOL (an empty
 * replicated pool); without them every cluster test is skipped. The
 * pytest wrapper tests/integration/test_rados_unit.py starts a one-node
 * cluster (scripts/ceph-dev.sh) and runs this program against it.
 *
 * The index a store keeps in RocksDB is played by the tests themselves
 * where they drive the chunk store directly: they write and delete the
 * chunk's entry in the "chunks" family around put/named/drop/reclaim as
 * cs_txn.c does.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <rados/librados.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "cs_priv.h"
#include "cs_rados.h"

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO
#define CH ((uint64_t)CS_CHUNK_SIZE)

static const char *conf, *pool;
static rados_t tcl;         /* the test's own client, to look at the pool */
static rados_ioctx_t tio;

static int group_setup(void **state)
{
	int rc = tu_group_setup(state);

	conf = getenv("CS_TEST_CEPH_CONF");
	pool = getenv("CS_TEST_CEPH_POOL");
	if (rc || !conf || !pool || !*conf || !*pool) {
		conf = NULL;
		return rc;
	}
	if (rados_create(&tcl, NULL) || rados_conf_read_file(tcl, conf) ||
	    rados_conf_set(tcl, "rados_osd_op_timeout", "30") || rados_connect(tcl) ||
	    rados_ioctx_create(tcl, pool, &tio)) {
		fprintf(stderr, "test_rados: cannot reach pool %s with %s\n", pool, conf);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	if (conf) {
		rados_ioctx_destroy(tio);
		rados_shutdown(tcl);
	}
	return tu_group_teardown(state);
}

/* First line of every cluster test. */
#define NEED_CLUSTER()                                                                  \
	do {                                                                            \
		if (!conf) {                                                            \
			print_message("  (skipped: no CS_TEST_CEPH_CONF/CS_TEST_CEPH_POOL)\n"); \
			skip();                                                         \
		}                                                                       \
	} while (0)

static struct cs_chunkstore *rados_open(cs_store *st)
{
	struct cs_rados_cfg cfg = { .timeout_s = 30 };
	struct cs_chunkstore *cs = NULL;

	snprintf(cfg.pool, sizeof(cfg.pool), "%s", pool);
	snprintf(cfg.conf, sizeof(cfg.conf), "%s", conf);
	TU_OK(cs_rados_open(st, &cfg, &cs));
	return cs;
}

/* A whole store @st (opened with local chunk files) with its chunks in
 * the test pool from now on. */
static void use_rados(cs_store *st)
{
	st->chunks->ops->close(st->chunks); /* the local chunk files it opened */
	st->chunks = rados_open(st);
}

/* ---- a chunk and its index entry, as cs_txn.c keeps them ---- */

struct chunk {
	uint8_t hash[CS_HASH_LEN];
	char *val;
	size_t vlen;
	uint8_t ref[CS_REF_MAX];
	int reflen;
};

static void chunk_make(struct chunk *c, uint64_t seed)
{
	uint8_t raw[4096];
	struct tu_rng r;

	tu_rng_seed(&r, seed);
	tu_rng_fill(&r, raw, sizeof(raw));
	TU_OK(cs_chunk_encode(raw, sizeof(raw), 0, c->hash, &c->val, &c->vlen));
}

static void oid(const struct chunk *c, char *buf)
{
	cs_hash_hex(c->hash, buf);
}

static void index_set(cs_store *st, const struct chunk *c, int present)
{
	char *err = NULL;

	if (present)
		rocksdb_put_cf(st->db, st->wo, st->cf_chunks, (const char *)c->hash, CS_HASH_LEN,
			       (const char *)c->ref, (size_t)c->reflen, &err);
	else
		rocksdb_delete_cf(st->db, st->wo, st->cf_chunks, (const char *)c->hash,
				  CS_HASH_LEN, &err);
	TU_EXPECT(err == NULL, "rocksdb: %s", err);
}

/* put, sync, the batch naming it, named(1). */
static void store_chunk(cs_store *st, struct cs_chunkstore *cs, struct chunk *c)
{
	c->reflen = cs->ops->put(cs, c->hash, c->val, (uint32_t)c->vlen, 4096, c->ref);
	TU_EXPECT(c->reflen > 0, "put: %s (%s)", tu_errname(c->reflen), cs_last_error());
	TU_OK(cs->ops->sync(cs));
	index_set(st, c, 1);
	cs->ops->named(cs, c->ref, (size_t)c->reflen, 1);
}

/* The batch deleting its name, drop, reclaim until done. */
static void forget_chunk(cs_store *st, struct cs_chunkstore *cs, struct chunk *c)
{
	int rc;

	index_set(st, c, 0);
	cs->ops->drop(cs, c->hash, c->ref, (size_t)c->reflen);
	while ((rc = cs->ops->reclaim(cs, 1 << 20)) > 0)
		;
	TU_OK(rc);
}

static int exists(const struct chunk *c)
{
	char o[2 * CS_HASH_LEN + 1];
	uint64_t size;
	time_t mtime;

	oid(c, o);
	return rados_stat(tio, o, &size, &mtime) == 0;
}

static size_t pool_objects(void)
{
	rados_list_ctx_t l;
	const char *entry;
	size_t n = 0;

	TU_OK(rados_nobjects_list_open(tio, &l));
	while (rados_nobjects_list_next(l, &entry, NULL, NULL) == 0)
		n++;
	rados_nobjects_list_close(l);
	return n;
}

/* ---- tests ---- */

static void test_spec_parse(void **state)
{
	struct cs_rados_cfg c;

	TU_OK(cs_rados_parse("rados:cstorfs", 13, &c));
	TU_EXPECT_STR(c.pool, "cstorfs", "pool");
	TU_EXPECT_STR(c.conf, "", "conf");
	const char *s = "rados:p-1;conf=/etc/c.conf;id=host7;timeout=5";
	TU_OK(cs_rados_parse(s, strlen(s), &c));
	TU_EXPECT_STR(c.conf, "/etc/c.conf", "conf");
	TU_EXPECT_STR(c.id, "host7", "id");
	TU_EXPECT_EQ(c.timeout_s, 5, "timeout");
	const char *bad[] = { "local", "rados:", "rados:a/b", "rados:p;timeout=0",
			      "rados:p;timeout=99999", "rados:p;colour=red", "rados:p;conf=" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		TU_EXPECT_RC(cs_rados_parse(bad[i], strlen(bad[i]), &c), -EINVAL);
		TU_EXPECT(strlen(cs_last_error()) > 0, "no message for %s", bad[i]);
	}
}

static void test_put_get_check_release(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_chunkstore *cs;
	struct chunk c = { 0 };
	char buf[CS_CHUNK_VALUE_MAX];
	struct cs_chunkspace sp;

	NEED_CLUSTER();
	cs = rados_open(fx->st);

	chunk_make(&c, 1);
	store_chunk(fx->st, cs, &c);
	TU_EXPECT(exists(&c), "the chunk's object is in the pool after sync");
	TU_EXPECT_RC(cs->ops->get(cs, c.hash, c.ref, (size_t)c.reflen, buf, sizeof(buf)),
		     (int)c.vlen);
	TU_EXPECT(memcmp(buf, c.val, c.vlen) == 0, "get returns the bytes put");
	TU_OK(cs->ops->check(cs, c.hash, c.ref, (size_t)c.reflen));
	cs->ops->space(cs, &sp);
	TU_EXPECT_EQ(sp.files, 1, "objects named");
	TU_EXPECT(!cs->ops->wanted(cs), "nothing to release yet");

	forget_chunk(fx->st, cs, &c);
	TU_EXPECT(!exists(&c), "the object is removed once no store uses it");
	TU_EXPECT_RC(cs->ops->get(cs, c.hash, c.ref, (size_t)c.reflen, buf, sizeof(buf)), -EIO);
	TU_EXPECT(strstr(cs_last_error(), "missing"), "message: %s", cs_last_error());
	TU_EXPECT_RC(cs->ops->check(cs, c.hash, c.ref, (size_t)c.reflen), -EIO);

	/* put, but the batch never names it: the key goes, then the object */
	c.reflen = cs->ops->put(cs, c.hash, c.val, (uint32_t)c.vlen, 4096, c.ref);
	TU_OK(cs->ops->sync(cs));
	cs->ops->named(cs, c.ref, (size_t)c.reflen, 0);
	TU_EXPECT(cs->ops->wanted(cs), "an unnamed put is released");
	TU_EXPECT_RC(cs->ops->reclaim(cs, 1 << 20), 0);
	TU_EXPECT(!exists(&c), "an unnamed put's object is removed");
	cs->ops->close(cs);
	free(c.val);
}

/* A store that stops with a put never named leaves its key on the object;
 * its next open sweeps the pool and takes it back. A clean stop leaves
 * nothing to sweep. */
static void test_sweep_after_work_left_behind(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_chunkstore *cs;
	struct chunk c = { 0 }, d = { 0 };

	NEED_CLUSTER();
	chunk_make(&c, 61);
	chunk_make(&d, 62);
	cs = rados_open(fx->st);
	c.reflen = cs->ops->put(cs, c.hash, c.val, (uint32_t)c.vlen, 4096, c.ref);
	TU_OK(cs->ops->sync(cs));
	cs->ops->close(cs); /* as a crash before the batch would */
	TU_EXPECT(exists(&c), "the object stays (its key is there)");

	cs = rados_open(fx->st);
	TU_EXPECT(cs->ops->wanted(cs), "a sweep is due");
	store_chunk(fx->st, cs, &d); /* named: the sweep leaves it */
	int rc;
	while ((rc = cs->ops->reclaim(cs, 1 << 20)) > 0)
		;
	TU_OK(rc);
	TU_EXPECT(!exists(&c), "the sweep released the unnamed chunk");
	TU_EXPECT(exists(&d), "and kept the named one");
	cs->ops->close(cs); /* clean: nothing pending */

	cs = rados_open(fx->st);
	TU_EXPECT(!cs->ops->wanted(cs), "no sweep after a clean close");
	forget_chunk(fx->st, cs, &d);
	TU_EXPECT(!exists(&d), "released");
	cs->ops->close(cs);
	free(c.val);
	free(d.val);
}

static void test_two_stores_share_one_object(void **state)
{
	struct tu_fx *fx = FX;
	char dir2[PATH_MAX];
	cs_store *st2 = NULL;
	struct chunk a = { 0 }, b;
	char buf[CS_CHUNK_VALUE_MAX];

	NEED_CLUSTER();

	tu_new_path(dir2, sizeof(dir2), "store2");
	TU_OK(cs_store_open(dir2, CS_STORE_CREATE, &st2));
	struct cs_chunkstore *c1 = rados_open(fx->st), *c2 = rados_open(st2);
	TU_EXPECT(strcmp(cs_rados_store_key(c1), cs_rados_store_key(c2)) != 0,
		  "two stores have two ids");
	chunk_make(&a, 2);
	b = a;
	store_chunk(fx->st, c1, &a);
	store_chunk(st2, c2, &b); /* the object exists: only the key is added */
	TU_EXPECT_EQ(pool_objects(), 1, "objects in the pool: one chunk, stored once");
	forget_chunk(fx->st, c1, &a);
	TU_EXPECT(exists(&a), "the other store still uses the chunk");
	TU_EXPECT_RC(c2->ops->get(c2, b.hash, b.ref, (size_t)b.reflen, buf, sizeof(buf)),
		     (int)b.vlen);
	TU_OK(c2->ops->check(c2, b.hash, b.ref, (size_t)b.reflen));
	TU_EXPECT_RC(c1->ops->check(c1, a.hash, a.ref, (size_t)a.reflen), -EIO);
	forget_chunk(st2, c2, &b);
	TU_EXPECT(!exists(&a), "removed when the last store let go");
	c1->ops->close(c1);
	c2->ops->close(c2);
	cs_store_close(st2);
	tu_rmrf(dir2);
	free(a.val);
}

/* adopt (a stream of chunk names, cs_recv.c): a second store takes its mark
 * on an object the first wrote, without the bytes; a missing object or
 * another length (stored, or of data in the chunk's header) is refused, naming the chunk, and leaves no mark; pool()
 * names the same pool and cluster for both. */
static void test_adopt_marks_an_existing_object(void **state)
{
	struct tu_fx *fx = FX;
	char dir2[PATH_MAX], f1[40], p1[128], f2[40], p2[128], o[2 * CS_HASH_LEN + 1];
	cs_store *st2 = NULL;
	struct chunk a = { 0 }, b, gone = { 0 };
	char buf[CS_CHUNK_VALUE_MAX];

	NEED_CLUSTER();

	tu_new_path(dir2, sizeof(dir2), "store2");
	TU_OK(cs_store_open(dir2, CS_STORE_CREATE, &st2));
	struct cs_chunkstore *c1 = rados_open(fx->st), *c2 = rados_open(st2);
	TU_OK(c1->ops->pool(c1, f1, p1));
	TU_OK(c2->ops->pool(c2, f2, p2));
	TU_EXPECT(!strcmp(f1, f2) && strlen(f1) == 36 && !strcmp(p1, pool), "fsid %s", f1);
	chunk_make(&a, 7);
	chunk_make(&gone, 8);
	b = a;
	store_chunk(fx->st, c1, &a);
	TU_EXPECT_RC(c2->ops->adopt(c2, gone.hash, (uint32_t)gone.vlen, 4096, b.ref), -ENOENT);
	oid(&gone, o);
	TU_EXPECT(strstr(cs_last_error(), o) != NULL, "names the chunk: %s", cs_last_error());
	TU_EXPECT_RC(c2->ops->adopt(c2, a.hash, (uint32_t)a.vlen + 1, 4096, b.ref), -EIO);
	TU_EXPECT_RC(c2->ops->adopt(c2, a.hash, (uint32_t)a.vlen, 4095, b.ref), -EIO);
	b.reflen = c2->ops->adopt(c2, a.hash, (uint32_t)a.vlen, 4096, b.ref);
	TU_EXPECT(b.reflen > 0, "adopt: %s", cs_last_error());
	TU_EXPECT(!memcmp(a.ref, b.ref, (size_t)a.reflen), "the same ref as a put's");
	index_set(st2, &b, 1);
	c2->ops->named(c2, b.ref, (size_t)b.reflen, 1);
	TU_OK(c2->ops->check(c2, b.hash, b.ref, (size_t)b.reflen));
	forget_chunk(fx->st, c1, &a);
	TU_EXPECT(exists(&a), "the adopting store's mark keeps the object");
	TU_EXPECT_RC(c2->ops->get(c2, b.hash, b.ref, (size_t)b.reflen, buf, sizeof(buf)),
		     (int)b.vlen);
	forget_chunk(st2, c2, &b);
	TU_EXPECT(!exists(&a), "removed when the adopting store let go");
	TU_EXPECT(!exists(&gone), "a failed adopt creates nothing");
	c1->ops->close(c1);
	c2->ops->close(c2);
	cs_store_close(st2);
	tu_rmrf(dir2);
	free(a.val);
	free(gone.val);
}

/* store_chunk and forget_chunk for a thread (cmocka's checks only work on
 * the main thread): 0 or the first error. */
static int store_chunk_rc(cs_store *st, struct cs_chunkstore *cs, struct chunk *c)
{
	char *err = NULL;
	int rc;

	c->reflen = cs->ops->put(cs, c->hash, c->val, (uint32_t)c->vlen, 4096, c->ref);
	if (c->reflen < 0)
		return c->reflen;
	rc = cs->ops->sync(cs);
	if (rc == 0)
		rocksdb_put_cf(st->db, st->wo, st->cf_chunks, (const char *)c->hash, CS_HASH_LEN,
			       (const char *)c->ref, (size_t)c->reflen, &err);
	rc = rc ? rc : err ? -EIO : 0;
	free(err);
	cs->ops->named(cs, c->ref, (size_t)c->reflen, rc == 0);
	return rc;
}

static int forget_chunk_rc(cs_store *st, struct cs_chunkstore *cs, struct chunk *c)
{
	char *err = NULL;
	int rc;

	rocksdb_delete_cf(st->db, st->wo, st->cf_chunks, (const char *)c->hash, CS_HASH_LEN, &err);
	if (err) {
		free(err);
		return -EIO;
	}
	cs->ops->drop(cs, c->hash, c->ref, (size_t)c->reflen);
	while ((rc = cs->ops->reclaim(cs, 1 << 20)) > 0)
		;
	return rc;
}

/* Two stores, one thread each, adding and dropping the same 24 chunks. */
#define RACE_CHUNKS 24
#define RACE_STEPS 400

struct racer {
	cs_store *st;
	struct cs_chunkstore *cs;
	struct chunk c[RACE_CHUNKS];
	int held[RACE_CHUNKS];
	uint64_t seed;
	int failed;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	struct tu_rng r;

	tu_rng_seed(&r, x->seed);
	for (int i = 0; i < RACE_STEPS && !x->failed; i++) {
		int k = (int)tu_rng_below(&r, RACE_CHUNKS);
		struct chunk *c = &x->c[k];

		int rc = x->held[k] ? forget_chunk_rc(x->st, x->cs, c)
				    : store_chunk_rc(x->st, x->cs, c);

		if (rc) {
			fprintf(stderr, "racer %llu: step %d: %s (%s)\n",
				(unsigned long long)x->seed, i, tu_errname(rc), cs_last_error());
			x->failed = rc;
		} else {
			x->held[k] = !x->held[k];
		}
	}
	return NULL;
}

static void test_two_stores_race_on_the_same_chunks(void **state)
{
	struct tu_fx *fx = FX;
	char dir2[PATH_MAX];
	struct racer x[2] = { { .st = fx->st, .seed = 11 }, { .seed = 12 } };
	pthread_t t[2];
	char buf[CS_CHUNK_VALUE_MAX];

	NEED_CLUSTER();

	tu_new_path(dir2, sizeof(dir2), "store2");
	TU_OK(cs_store_open(dir2, CS_STORE_CREATE, &x[1].st));
	for (int s = 0; s < 2; s++) {
		x[s].cs = rados_open(x[s].st);
		for (int k = 0; k < RACE_CHUNKS; k++)
			chunk_make(&x[s].c[k], 100 + (uint64_t)k);
	}
	for (int s = 0; s < 2; s++)
		TU_EXPECT(pthread_create(&t[s], NULL, race, &x[s]) == 0, "pthread_create");
	for (int s = 0; s < 2; s++)
		pthread_join(t[s], NULL);
	TU_OK(x[0].failed);
	TU_OK(x[1].failed);
	size_t want = 0;
	for (int k = 0; k < RACE_CHUNKS; k++) {
		int used = x[0].held[k] || x[1].held[k];

		want += used;
		TU_EXPECT(exists(&x[0].c[k]) == used, "chunk %d: object present %d, used %d", k,
			  exists(&x[0].c[k]), used);
		for (int s = 0; s < 2; s++)
			if (x[s].held[k])
				TU_EXPECT_RC(x[s].cs->ops->get(x[s].cs, x[s].c[k].hash, x[s].c[k].ref,
							       (size_t)x[s].c[k].reflen, buf,
							       sizeof(buf)),
					     (int)x[s].c[k].vlen);
	}
	TU_EXPECT_EQ(pool_objects(), want, "objects in the pool: exactly the chunks used");
	for (int s = 0; s < 2; s++) {
		for (int k = 0; k < RACE_CHUNKS; k++) {
			if (x[s].held[k])
				forget_chunk(x[s].st, x[s].cs, &x[s].c[k]);
			free(x[s].c[k].val);
		}
		x[s].cs->ops->close(x[s].cs);
	}
	TU_EXPECT_EQ(pool_objects(), 0, "objects left");
	cs_store_close(x[1].st);
	tu_rmrf(dir2);
}

/* The store's own data path with its chunks in the pool: cs_write, cs_read,
 * dedup, cs_store_check, unlink, gc. */
static void test_store_data_path_in_the_pool(void **state)
{
	struct tu_fx *fx = FX;
	size_t len = 16 * CH;
	uint8_t *data = tu_malloc(len);
	struct tu_rng r;
	struct cs_store_stats stats;

	NEED_CLUSTER();

	use_rados(fx->st);
	TU_OK(cs_volume_create(fx->st, "vol", NULL, 1000, 1000, NULL));
	cs_vol *v = tu_vol_open(fx, "vol", 0);
	uint64_t f1 = tu_mkfile(fx, v, R, "a"), f2 = tu_mkfile(fx, v, R, "b");

	tu_rng_seed(&r, 7);
	tu_rng_fill(&r, data, len);
	tu_write(v, f1, 0, data, len);
	tu_write(v, f2, 0, data, len); /* the same chunks again */
	TU_OK(cs_vol_sync(v));
	TU_EXPECT_EQ(pool_objects(), 16, "objects: 16 chunks, written twice, stored once");
	tu_read_expect(v, f1, 0, data, len);
	tu_read_expect(v, f2, 0, data, len);
	TU_OK(cs_store_check(fx->st, &stats, NULL, NULL));

	TU_OK(cs_unlink(v, R, "a", NULL));
	TU_OK(cs_vol_sync(v));
	TU_OK(cs_gc(fx->st, NULL));
	TU_EXPECT(cs_gc_compact(fx->st) >= 0, "gc compact: %s", cs_last_error());
	TU_EXPECT_EQ(pool_objects(), 16, "objects while file b uses them");
	tu_read_expect(v, f2, 0, data, len);
	TU_OK(cs_unlink(v, R, "b", NULL));
	TU_OK(cs_vol_sync(v));
	TU_OK(cs_gc(fx->st, NULL));
	TU_EXPECT(cs_gc_compact(fx->st) >= 0, "gc compact: %s", cs_last_error());
	TU_EXPECT_EQ(pool_objects(), 0, "objects after both files are gone");
	tu_free(data);
}

/* A file read in order (cs_read_ahead before each read, as FUSE's read
 * does) has the chunks ahead of its reader fetched: the gets after the
 * first are served by the read cache. A file read backwards is not read
 * ahead: every get is a miss. */
static void test_read_ahead_of_a_file_read_in_order(void **state)
{
	struct tu_fx *fx = FX;
	size_t len = 16 * CH, off;
	uint8_t *a = tu_malloc(len), *b = tu_malloc(len);
	struct cs_chunkspace sp0, sp1, sp2;
	struct tu_rng r;

	NEED_CLUSTER();
	use_rados(fx->st);
	TU_OK(cs_volume_create(fx->st, "vol", NULL, 1000, 1000, NULL));
	cs_vol *v = tu_vol_open(fx, "vol", 0);
	uint64_t fa = tu_mkfile(fx, v, R, "a"), fb = tu_mkfile(fx, v, R, "b");

	tu_rng_seed(&r, 9);
	tu_rng_fill(&r, a, len);
	tu_rng_fill(&r, b, len);
	tu_write(v, fa, 0, a, len);
	tu_write(v, fb, 0, b, len);
	TU_OK(cs_vol_sync(v));
	fx->st->chunks->ops->space(fx->st->chunks, &sp0);
	for (off = 0; off < len; off += CH) {
		cs_read_ahead(v, fa, off, CH);
		tu_read_expect(v, fa, off, a + off, CH);
	}
	fx->st->chunks->ops->space(fx->st->chunks, &sp1);
	TU_EXPECT(sp1.read_hits - sp0.read_hits >= 15, "in order: %llu hits, %llu misses",
		  (unsigned long long)(sp1.read_hits - sp0.read_hits),
		  (unsigned long long)(sp1.read_misses - sp0.read_misses));
	for (off = len; off > 0; off -= CH) {
		cs_read_ahead(v, fb, off - CH, CH);
		tu_read_expect(v, fb, off - CH, b + off - CH, CH);
	}
	fx->st->chunks->ops->space(fx->st->chunks, &sp2);
	TU_EXPECT_EQ(sp2.read_hits, sp1.read_hits, "backwards: no read ahead");
	TU_EXPECT_EQ(sp2.read_misses - sp1.read_misses, 16, "backwards: every get reads");

	TU_OK(cs_unlink(v, R, "a", NULL));
	TU_OK(cs_unlink(v, R, "b", NULL));
	TU_OK(cs_vol_sync(v));
	TU_OK(cs_gc(fx->st, NULL));
	TU_EXPECT(cs_gc_compact(fx->st) >= 0, "gc compact: %s", cs_last_error());
	TU_EXPECT_EQ(pool_objects(), 0, "objects after both files are gone");
	tu_free(a);
	tu_free(b);
}

/* ---- two whole stores sharing the pool, writing and deleting at once ---- */

#define SH_FILES 6
#define SH_SEEDS 4 /* both stores write the same 4 contents: shared chunks */
#define SH_ROUNDS 600    /* at least, and for at least ... */
#define SH_SECONDS 60    /* seconds (CS_TEST_SHARE_SECONDS), both stores at once */
#define SH_LEN (4 * CH)

struct sharer {
	cs_store *st;
	cs_vol *v;
	struct cs_cred cred;
	int seed[SH_FILES]; /* the content of file fK, -1: absent */
	uint64_t rng;
	int failed;
	int step;
};

static void sh_fill(uint8_t *b, int seed)
{
	struct tu_rng r;

	tu_rng_seed(&r, 1000 + (uint64_t)seed);
	tu_rng_fill(&r, b, SH_LEN);
}

/* One step of a sharer: create, overwrite or delete a file; now and then
 * sync and collect garbage (the store's gc, then the chunk store's). */
static int sh_step(struct sharer *x, struct tu_rng *r, uint8_t *buf, int i)
{
	int k = (int)tu_rng_below(r, SH_FILES), rc = 0;
	char name[16];
	struct cs_attr a;

	snprintf(name, sizeof(name), "f%d", k);
	if (x->seed[k] >= 0 && tu_rng_below(r, 2)) {
		rc = cs_unlink(x->v, R, name, NULL);
		x->seed[k] = rc ? x->seed[k] : -1;
	} else {
		int seed = (int)tu_rng_below(r, SH_SEEDS);

		rc = x->seed[k] < 0 ? cs_mknod(x->v, R, name, S_IFREG | 0644, 0, &x->cred, &a)
				    : cs_lookup(x->v, R, name, &a);
		sh_fill(buf, seed);
		if (rc == 0 && cs_write(x->v, a.ino, 0, buf, SH_LEN) != (ssize_t)SH_LEN)
			rc = -EIO;
		if (rc == 0)
			x->seed[k] = seed;
	}
	if (rc == 0 && i % 8 == 7)
		rc = cs_vol_sync(x->v);
	if (rc == 0 && i % 16 == 15)
		rc = cs_gc(x->st, NULL);
	if (rc == 0 && i % 16 == 15)
		rc = cs_gc_compact(x->st) < 0 ? -EIO : 0;
	return rc;
}

static double sh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sh_run(void *arg)
{
	struct sharer *x = arg;
	uint8_t *buf = malloc(SH_LEN);
	const char *env = getenv("CS_TEST_SHARE_SECONDS");
	double end = sh_now() + (env ? atof(env) : SH_SECONDS);
	struct tu_rng r;

	tu_rng_seed(&r, x->rng);
	for (int i = 0; buf && (i < SH_ROUNDS || sh_now() < end) && !x->failed; i++) {
		x->failed = sh_step(x, &r, buf, i);
		x->step = i;
	}
	if (!buf)
		x->failed = -ENOMEM;
	if (x->failed)
		fprintf(stderr, "sharer %llu: step %d: %s (%s)\n", (unsigned long long)x->rng,
			x->step, tu_errname(x->failed), cs_last_error());
	free(buf);
	return NULL;
}

/* The names ("hex") of the chunks a store's index keeps in RADOS. */
struct names {
	char (*n)[2 * CS_HASH_LEN + 1];
	size_t len, cap;
};

static int names_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct names *ns = ctx;

	if (klen != CS_HASH_LEN || vlen == 0 || v[0] != 'O')
		return 0;
	if (cs_grow((void **)&ns->n, &ns->cap, ns->len + 1, sizeof(*ns->n)))
		return -ENOMEM;
	cs_hash_hex(k, ns->n[ns->len++]);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The union of both stores' names equals the pool's objects. */
static void expect_pool_is_union(cs_store *a, cs_store *b)
{
	struct names ns = { 0 }, pool_ns = { 0 };
	rados_list_ctx_t l;
	const char *entry;
	size_t u = 0;

	TU_OK(cs_kv_scan(a, a->cf_chunks, (const uint8_t *)"", 0, names_fn, &ns));
	TU_OK(cs_kv_scan(b, b->cf_chunks, (const uint8_t *)"", 0, names_fn, &ns));
	qsort(ns.n, ns.len, sizeof(*ns.n), name_cmp);
	for (size_t i = 0; i < ns.len; i++)
		if (u == 0 || strcmp(ns.n[u - 1], ns.n[i]))
			memmove(ns.n[u++], ns.n[i], sizeof(*ns.n));
	TU_OK(rados_nobjects_list_open(tio, &l));
	while (rados_nobjects_list_next(l, &entry, NULL, NULL) == 0) {
		TU_OK(cs_grow((void **)&pool_ns.n, &pool_ns.cap, pool_ns.len + 1, sizeof(*ns.n)));
		snprintf(pool_ns.n[pool_ns.len++], sizeof(*ns.n), "%s", entry);
	}
	rados_nobjects_list_close(l);
	qsort(pool_ns.n, pool_ns.len, sizeof(*ns.n), name_cmp);
	TU_EXPECT_EQ(pool_ns.len, u, "objects in the pool vs chunks the two stores name");
	for (size_t i = 0; i < u; i++)
		TU_EXPECT_STR(pool_ns.n[i], ns.n[i], "object");
	free(ns.n);
	free(pool_ns.n);
}

/* Collect until the chunk store has nothing left to release. */
static void sh_collect(struct sharer *x)
{
	TU_OK(cs_vol_sync(x->v));
	TU_OK(cs_gc(x->st, NULL));
	for (int i = 0; i < 100 && x->st->chunks->ops->wanted(x->st->chunks); i++)
		TU_EXPECT(cs_gc_compact(x->st) >= 0, "gc compact: %s", cs_last_error());
	TU_EXPECT(!x->st->chunks->ops->wanted(x->st->chunks), "releases left");
}

static void sh_verify(struct sharer *x)
{
	uint8_t *buf = tu_malloc(SH_LEN);
	struct cs_store_stats stats;
	char name[16];

	TU_OK(cs_store_check(x->st, &stats, NULL, NULL));
	for (int k = 0; k < SH_FILES; k++) {
		if (x->seed[k] < 0)
			continue;
		snprintf(name, sizeof(name), "f%d", k);
		sh_fill(buf, x->seed[k]);
		tu_read_expect(x->v, tu_lookup(x->v, R, name), 0, buf, SH_LEN);
	}
	tu_free(buf);
}

static void test_two_stores_write_and_delete_concurrently(void **state)
{
	struct tu_fx *fx = FX;
	char dir2[PATH_MAX], name[16];
	struct sharer x[2] = { { .st = fx->st, .rng = 21 }, { .rng = 22 } };
	pthread_t t[2];

	NEED_CLUSTER();
	tu_new_path(dir2, sizeof(dir2), "store2");
	TU_OK(cs_store_open(dir2, CS_STORE_CREATE, &x[1].st));
	for (int s = 0; s < 2; s++) {
		use_rados(x[s].st);
		x[s].cred = fx->cred;
		TU_OK(cs_volume_create(x[s].st, "vol", NULL, 1000, 1000, NULL));
		TU_OK(cs_vol_open(x[s].st, "vol", 0, &x[s].v));
		memset(x[s].seed, -1, sizeof(x[s].seed));
	}
	for (int s = 0; s < 2; s++)
		TU_EXPECT(pthread_create(&t[s], NULL, sh_run, &x[s]) == 0, "pthread_create");
	for (int s = 0; s < 2; s++)
		pthread_join(t[s], NULL);
	for (int s = 0; s < 2; s++)
		TU_OK(x[s].failed);
	for (int s = 0; s < 2; s++) {
		sh_collect(&x[s]);
		sh_verify(&x[s]);
	}
	expect_pool_is_union(x[0].st, x[1].st);
	for (int s = 0; s < 2; s++) {
		for (int k = 0; k < SH_FILES; k++) {
			snprintf(name, sizeof(name), "f%d", k);
			if (x[s].seed[k] >= 0)
				TU_OK(cs_unlink(x[s].v, R, name, NULL));
		}
		sh_collect(&x[s]);
	}
	TU_EXPECT_EQ(pool_objects(), 0, "objects after both stores deleted everything");
	for (int s = 0; s < 2; s++)
		cs_vol_close(x[s].v);
	cs_store_close(x[1].st);
	tu_rmrf(dir2);
}

static void test_open_errors_are_bounded(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_rados_cfg cfg = { .timeout_s = 2 };
	struct cs_chunkstore *cs = NULL;
	char dead[512];
	FILE *f;

	NEED_CLUSTER();

	snprintf(cfg.conf, sizeof(cfg.conf), "%s", conf);
	snprintf(cfg.pool, sizeof(cfg.pool), "no-such-pool");
	TU_EXPECT_RC(cs_rados_open(fx->st, &cfg, &cs), -ENOENT);
	TU_EXPECT(strstr(cs_last_error(), "no-such-pool"), "message: %s", cs_last_error());

	/* a monitor nobody answers for: -ETIMEDOUT after the timeout */
	tu_new_path(dead, sizeof(dead), "dead.conf");
	f = fopen(dead, "w");
	TU_EXPECT(f != NULL, "fopen");
	fprintf(f, "[global]\nmon host = 127.0.0.1:9\nauth client required = none\n"
		   "log file = /dev/null\n");
	fclose(f);
	snprintf(cfg.conf, sizeof(cfg.conf), "%s", dead);
	snprintf(cfg.pool, sizeof(cfg.pool), "%s", pool);
	int rc = cs_rados_open(fx->st, &cfg, &cs);
	TU_EXPECT(rc == -ETIMEDOUT || rc == -EIO, "no cluster: %s (%s)", tu_errname(rc),
		  cs_last_error());
	TU_EXPECT(cs == NULL, "nothing opened");
}

/* ---- faults (each needs what the wrapper sets up) ---- */

static pid_t stopped_osd; /* SIGSTOPped by a test: the teardown resumes it */

static int fault_teardown(void **state)
{
	if (stopped_osd > 0)
		kill(stopped_osd, SIGCONT);
	stopped_osd = 0;
	return tu_teardown(state);
}

/* An OSD that does not answer: put/sync and get give -EIO after the
 * timeout (never a hang), and work resumes once it answers again. */
static void test_osd_stopped_gives_eio_then_resumes(void **state)
{
	struct tu_fx *fx = FX;
	const char *p = getenv("CS_TEST_CEPH_OSD_PID");
	struct cs_rados_cfg cfg = { .timeout_s = 3 };
	struct cs_chunkstore *cs = NULL;
	struct chunk c = { 0 }, d = { 0 };
	char buf[CS_CHUNK_VALUE_MAX];

	NEED_CLUSTER();
	if (!p || atoi(p) <= 0)
		skip();
	snprintf(cfg.pool, sizeof(cfg.pool), "%s", pool);
	snprintf(cfg.conf, sizeof(cfg.conf), "%s", conf);
	TU_OK(cs_rados_open(fx->st, &cfg, &cs));
	chunk_make(&c, 41);
	chunk_make(&d, 42);
	store_chunk(fx->st, cs, &d);

	stopped_osd = atoi(p);
	TU_OK(kill(stopped_osd, SIGSTOP));
	c.reflen = cs->ops->put(cs, c.hash, c.val, (uint32_t)c.vlen, 4096, c.ref);
	TU_EXPECT(c.reflen > 0, "put sends: %s", tu_errname(c.reflen));
	TU_EXPECT_RC(cs->ops->sync(cs), -EIO);
	TU_EXPECT(strstr(cs_last_error(), "did not answer"), "message: %s", cs_last_error());
	cs->ops->named(cs, c.ref, (size_t)c.reflen, 0); /* its batch never came */
	TU_EXPECT_RC(cs->ops->get(cs, d.hash, d.ref, (size_t)d.reflen, buf, sizeof(buf)), -EIO);
	TU_OK(kill(stopped_osd, SIGCONT));
	stopped_osd = 0;

	store_chunk(fx->st, cs, &c); /* the same write again: it goes through */
	TU_EXPECT_RC(cs->ops->get(cs, c.hash, c.ref, (size_t)c.reflen, buf, sizeof(buf)),
		     (int)c.vlen);
	TU_EXPECT_RC(cs->ops->sync(cs), 0); /* the failure was reported once */
	forget_chunk(fx->st, cs, &c);
	forget_chunk(fx->st, cs, &d);
	TU_EXPECT(!exists(&c) && !exists(&d), "both released");
	cs->ops->close(cs);
	free(c.val);
	free(d.val);
}

/* Reads ahead (prefetch, cs_rados_ra.c): a prefetched chunk is served from
 * the cache (even once its object is gone behind the store's back: here
 * the proof it came from there); a prefetch that failed (no object yet) is
 * dropped and the get reads again; a close with reads in flight waits. */
static void test_prefetch_serves_gets_from_the_cache(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_chunkstore *cs;
	struct chunk c[3];
	char buf[CS_CHUNK_VALUE_MAX], o[2 * CS_HASH_LEN + 1];
	int i;

	NEED_CLUSTER();
	memset(c, 0, sizeof(c));
	cs = rados_open(fx->st);
	TU_EXPECT(cs->ops->prefetch != NULL, "the RADOS store reads ahead");
	for (i = 0; i < 3; i++) {
		chunk_make(&c[i], 61 + i);
		store_chunk(fx->st, cs, &c[i]);
	}
	cs->ops->prefetch(cs, c[0].hash, c[0].ref, (size_t)c[0].reflen);
	TU_EXPECT_RC(cs->ops->get(cs, c[0].hash, c[0].ref, (size_t)c[0].reflen, buf, sizeof(buf)),
		     (int)c[0].vlen);
	oid(&c[0], o);
	TU_OK(rados_remove(tio, o));
	memset(buf, 0, sizeof(buf));
	TU_EXPECT_RC(cs->ops->get(cs, c[0].hash, c[0].ref, (size_t)c[0].reflen, buf, sizeof(buf)),
		     (int)c[0].vlen);
	TU_EXPECT(memcmp(buf, c[0].val, c[0].vlen) == 0, "served from the cache");

	oid(&c[1], o);
	TU_OK(rados_remove(tio, o));
	cs->ops->prefetch(cs, c[1].hash, c[1].ref, (size_t)c[1].reflen); /* fails: no object */
	usleep(200 * 1000);
	TU_OK(rados_write_full(tio, o, c[1].val, c[1].vlen));
	TU_EXPECT_RC(cs->ops->get(cs, c[1].hash, c[1].ref, (size_t)c[1].reflen, buf, sizeof(buf)),
		     (int)c[1].vlen);
	TU_EXPECT(memcmp(buf, c[1].val, c[1].vlen) == 0, "a failed read ahead is read again");

	for (i = 0; i < 3; i++)
		forget_chunk(fx->st, cs, &c[i]);
	TU_OK(rados_remove(tio, o)); /* c[1]'s object as written here carries no key */
	cs->ops->prefetch(cs, c[2].hash, c[2].ref, (size_t)c[2].reflen);
	cs->ops->close(cs); /* with that read in flight or done */
	for (i = 0; i < 3; i++)
		free(c[i].val);
}

/* A pool at its quota: a put fails with -ENOSPC at once (FULL_TRY). */
static void test_full_pool_gives_enospc(void **state)
{
	struct tu_fx *fx = FX;
	const char *full = getenv("CS_TEST_CEPH_FULL_POOL");
	struct cs_rados_cfg cfg = { .timeout_s = 30 };
	struct cs_chunkstore *cs = NULL;
	struct chunk c = { 0 };

	NEED_CLUSTER();
	if (!full || !*full)
		skip();
	snprintf(cfg.pool, sizeof(cfg.pool), "%s", full);
	snprintf(cfg.conf, sizeof(cfg.conf), "%s", conf);
	TU_OK(cs_rados_open(fx->st, &cfg, &cs));
	chunk_make(&c, 51);
	c.reflen = cs->ops->put(cs, c.hash, c.val, (uint32_t)c.vlen, 4096, c.ref);
	if (c.reflen > 0) {
		TU_EXPECT_RC(cs->ops->sync(cs), -ENOSPC);
		cs->ops->named(cs, c.ref, (size_t)c.reflen, 0);
	} else {
		TU_EXPECT_RC(c.reflen, -ENOSPC);
	}
	TU_EXPECT(strstr(cs_last_error(), full), "message: %s", cs_last_error());
	TU_EXPECT_RC(cs->ops->reclaim(cs, 1 << 20), 0); /* releasing works on a full pool */
	cs->ops->close(cs);
	free(c.val);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse),
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup_store, tu_teardown)
		T(test_put_get_check_release),
		T(test_sweep_after_work_left_behind),
		T(test_two_stores_share_one_object),
		T(test_adopt_marks_an_existing_object),
		T(test_two_stores_race_on_the_same_chunks),
		T(test_store_data_path_in_the_pool),
		T(test_read_ahead_of_a_file_read_in_order),
		T(test_two_stores_write_and_delete_concurrently),
		T(test_open_errors_are_bounded),
		T(test_prefetch_serves_gets_from_the_cache),
		cmocka_unit_test_setup_teardown(test_osd_stopped_gives_eio_then_resumes,
						tu_setup_store, fault_teardown),
		T(test_full_pool_gives_enospc),
	};
	return cmocka_run_group_tests_name("rados", tests, group_setup, group_teardown);
}
