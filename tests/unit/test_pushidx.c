/*
 * test_pushidx.c - the pool objects of pushed copies (store/cs_pushobj.c)
 * and the removal of a mark that is not a store's own (cs_rados_unmark in
 * store/cs_rados_conn.c), against a live cluster: the index refuses a
 * change made from a stale reading (two pushes of one name, a push beside
 * a delete), parts round trip and a missing one is named, and a mark goes
 * alone while another stays, with the object when it was the last.
 *
 * Needs CS_TEST_CEPH_CONF and CS_TEST_CEPH_POOL (an empty replicated
 * pool); without them every test is skipped. The pytest wrapper is in
 * tests/integration/test_rados_push.py.
 */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_priv.h"
#include "cs_push.h"
#include "cs_pushobj.h"
#include "cs_rados_conn.h"

static struct cs_pushpool pp;
static int have_cluster;
static const char *conf, *pool;

static int group_setup(void **state)
{
	struct cs_rados_cfg cfg = {.timeout_s = 30};

	conf = getenv("CS_TEST_CEPH_CONF");
	pool = getenv("CS_TEST_CEPH_POOL");
	if (tu_group_setup(state))
		return -1;
	if (!conf || !pool || !*conf || !*pool)
		return 0;
	snprintf(cfg.conf, sizeof(cfg.conf), "%s", conf);
	snprintf(cfg.pool, sizeof(cfg.pool), "%s", pool);
	snprintf(pp.pool, sizeof(pp.pool), "%s", pool);
	if (cs_rados_connect(&cfg, &pp.cl, &pp.io)) {
		fprintf(stderr, "test_pushidx: %s\n", cs_last_error());
		return -1;
	}
	have_cluster = 1;
	return 0;
}

static int group_teardown(void **state)
{
	if (have_cluster)
		cs_pushpool_close(&pp);
	return tu_group_teardown(state);
}

#define NEED_CLUSTER()                                                                         \
	do {                                                                                   \
		if (!have_cluster) {                                                           \
			print_message("  (skipped: no CS_TEST_CEPH_CONF/CS_TEST_CEPH_POOL)\n");  \
			skip();                                                                \
		}                                                                              \
	} while (0)

static void entry(struct pushent *e, const char *name, int fill)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->pub.name, sizeof(e->pub.name), "%s", name);
	snprintf(e->pub.volume, sizeof(e->pub.volume), "vol");
	snprintf(e->pub.snap, sizeof(e->pub.snap), "snap");
	e->pub.state = CS_PUSHED_PENDING;
	e->pub.bytes = 1000 + (uint64_t)fill;
	memset(e->id, fill, sizeof(e->id));
}

/* Two changes made from one reading: the second is refused (-ERANGE),
 * whether the index did not exist yet (exclusive create) or did (version
 * assertion); a fresh reading sees the first and may change again. */
static void test_index_refuses_a_change_from_a_stale_reading(void **state)
{
	struct pushidx x1, x2, x3;
	struct pushent a, b;

	(void)state;
	NEED_CLUSTER();
	entry(&a, "a", 1);
	entry(&b, "b", 2);
	TU_OK(cs_pushidx_read(&pp, &x1));
	TU_EXPECT(!x1.exists && x1.n == 0, "no index at first");
	TU_OK(cs_pushidx_read(&pp, &x2));
	TU_OK(cs_pushidx_put(&pp, &x1, &a));
	TU_EXPECT_RC(cs_pushidx_put(&pp, &x2, &b), -ERANGE); /* both saw no index */
	TU_OK(cs_pushidx_read(&pp, &x3));
	TU_EXPECT(x3.exists && x3.n == 1 && cs_pushidx_find(&x3, "a"), "a alone");
	TU_EXPECT(cs_pushidx_find(&x3, "a")->pub.bytes == 1001, "a's entry decoded");
	cs_pushidx_free(&x2);
	TU_OK(cs_pushidx_read(&pp, &x2));
	TU_OK(cs_pushidx_put(&pp, &x3, &b));
	TU_EXPECT_RC(cs_pushidx_del(&pp, &x2, "a"), -ERANGE); /* b came since x2 */
	cs_pushidx_free(&x3);
	TU_OK(cs_pushidx_read(&pp, &x3));
	TU_EXPECT(x3.n == 2, "a and b");
	TU_OK(cs_pushidx_del(&pp, &x3, "a"));
	cs_pushidx_free(&x3);
	TU_OK(cs_pushidx_read(&pp, &x3));
	TU_OK(cs_pushidx_del(&pp, &x3, "b"));
	cs_pushidx_drop_empty(&pp);
	cs_pushidx_free(&x1);
	cs_pushidx_free(&x2);
	cs_pushidx_free(&x3);
	TU_OK(cs_pushidx_read(&pp, &x1));
	TU_EXPECT(!x1.exists, "an empty index is removed");
	cs_pushidx_free(&x1);
}

/* Parts of 4 MiB: read back whole; a missing one is named (-EBADMSG). */
static void test_parts_round_trip_and_a_missing_one_is_named(void **state)
{
	size_t len = 2 * CS_PUSH_PART + 12345;
	uint8_t id[16], *buf, *back = NULL;
	struct tu_rng r;
	uint32_t n = 0;
	char oid[64];

	(void)state;
	NEED_CLUSTER(); /* before any allocation: a skip returns from here */
	buf = malloc(len);
	assert_non_null(buf);
	memset(id, 7, sizeof(id));
	tu_rng_seed(&r, 15);
	tu_rng_fill(&r, buf, len);
	TU_OK(cs_push_parts_write(&pp, id, 's', buf, len, &n));
	TU_EXPECT(n == 3, "3 parts, seen %u", n);
	TU_OK(cs_push_parts_read(&pp, id, 's', n, len, &back));
	TU_EXPECT(memcmp(back, buf, len) == 0, "the parts hold the bytes");
	free(back);
	cs_push_part_oid(id, 's', 1, oid);
	TU_OK(rados_remove(pp.io, oid));
	TU_EXPECT_RC(cs_push_parts_read(&pp, id, 's', n, len, &back), -EBADMSG);
	TU_EXPECT(strstr(cs_last_error(), oid), "the message names %s: %s", oid, cs_last_error());
	TU_OK(cs_push_parts_rm(&pp, id, 's', n)); /* a missing one is fine */
	TU_EXPECT_RC(rados_stat(pp.io, oid, NULL, NULL), -ENOENT);
	free(buf);
}

static int nkeys(const char *oid)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it = NULL;
	int rc, prc = 0, n = 0;
	char *k, *v;
	size_t kl, vl;

	rados_read_op_omap_get_keys2(op, "", 16, &it, NULL, &prc);
	rc = rados_read_op_operate(op, pp.io, oid, 0);
	while (rc == 0 && prc == 0 && it && !rados_omap_get_next2(it, &k, &v, &kl, &vl) && k)
		n++;
	if (it)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return rc < 0 ? rc : n;
}

/* A pushed copy's mark goes alone while a store's stays; the object goes
 * with the last mark; no object, or no such key: nothing to do. */
static void test_unmark_removes_the_object_with_the_last_mark(void **state)
{
	const char *oid = "test-unmark", *keys[] = {"cstorfs.push.p", "cstorfs.store.s"};
	const char *vals[] = {"", ""};
	size_t kl[] = {14, 15}, vl[] = {0, 0};
	rados_write_op_t op;

	(void)state;
	NEED_CLUSTER();
	TU_OK(rados_write_full(pp.io, oid, "chunk", 5));
	op = rados_create_write_op();
	rados_write_op_omap_set2(op, keys, vals, kl, vl, 2);
	TU_OK(rados_write_op_operate2(op, pp.io, oid, NULL, 0));
	rados_release_write_op(op);
	TU_OK(cs_rados_unmark(pp.io, oid, keys[0], kl[0]));
	TU_EXPECT(nkeys(oid) == 1, "the store's mark stays (%d keys)", nkeys(oid));
	TU_OK(cs_rados_unmark(pp.io, oid, keys[0], kl[0])); /* again: nothing to do */
	TU_EXPECT(nkeys(oid) == 1, "still there");
	TU_OK(cs_rados_unmark(pp.io, oid, keys[1], kl[1]));
	TU_EXPECT_RC(rados_stat(pp.io, oid, NULL, NULL), -ENOENT);
	TU_OK(cs_rados_unmark(pp.io, oid, keys[1], kl[1])); /* no object */
}

/* A push cut short (its entry PENDING, its list of marks written, the
 * first of two marks taken, no stream) is listed as pending, is not
 * pulled, and a delete removes it whole: the object only it marked goes,
 * the other stays as it was, the index goes. */
static void test_a_push_cut_short_is_removed_by_delete(void **state)
{
	char dir[PATH_MAX], spec[1200], key[48], oid[2][2 * CS_HASH_LEN + 1];
	uint8_t list[2 * CS_HASH_LEN];
	const char *k = key, *v = "";
	size_t kl, vl = 0, n = 0;
	struct cs_pull_result res;
	struct cs_pushed *l = NULL;
	rados_write_op_t op;
	struct pushidx x;
	struct pushent e;
	cs_store *st = NULL;
	uint32_t parts;

	(void)state;
	NEED_CLUSTER();
	tu_new_path(dir, sizeof(dir), "store");
	snprintf(spec, sizeof(spec), "rados:%s;conf=%s", pool, conf);
	TU_OK(cs_store_open_chunks(dir, CS_STORE_CREATE, spec, &st));
	entry(&e, "cut", 9);
	e.sparts = e.mparts = 1;
	for (int i = 0; i < 2; i++) {
		memset(list + i * CS_HASH_LEN, 0xab + i, CS_HASH_LEN);
		cs_rados_hex(list + i * CS_HASH_LEN, CS_HASH_LEN, oid[i]);
		TU_OK(rados_write_full(pp.io, oid[i], "x", 1));
	}
	TU_OK(cs_pushidx_read(&pp, &x));
	TU_OK(cs_pushidx_put(&pp, &x, &e));
	cs_pushidx_free(&x);
	TU_OK(cs_push_parts_write(&pp, e.id, 'm', list, sizeof(list), &parts));
	kl = cs_push_mark_key(e.id, key);
	op = rados_create_write_op();
	rados_write_op_omap_set2(op, &k, &v, &kl, &vl, 1);
	TU_OK(rados_write_op_operate2(op, pp.io, oid[0], NULL, 0));
	rados_release_write_op(op);

	TU_OK(cs_pushed_list(st, &l, &n));
	TU_EXPECT(n == 1 && l[0].state == CS_PUSHED_PENDING, "listed, as pending");
	free(l);
	TU_EXPECT_RC(cs_pull(st, "cut", "v", &res), -EBUSY);
	TU_OK(cs_pushed_delete(st, "cut"));
	TU_EXPECT_RC(rados_stat(pp.io, oid[0], NULL, NULL), -ENOENT);
	TU_OK(rados_stat(pp.io, oid[1], NULL, NULL));
	TU_EXPECT(nkeys(oid[1]) == 0, "the unmarked object is as it was");
	TU_OK(cs_pushidx_read(&pp, &x));
	TU_EXPECT(!x.exists, "the index went with its last entry");
	cs_pushidx_free(&x);
	TU_EXPECT_RC(cs_pushed_delete(st, "cut"), -ENOENT);
	TU_OK(rados_remove(pp.io, oid[1]));
	cs_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_refuses_a_change_from_a_stale_reading),
		cmocka_unit_test(test_parts_round_trip_and_a_missing_one_is_named),
		cmocka_unit_test(test_unmark_removes_the_object_with_the_last_mark),
		cmocka_unit_test(test_a_push_cut_short_is_removed_by_delete),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
