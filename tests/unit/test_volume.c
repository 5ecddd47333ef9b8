/*
 * test_volume.c - volumes: create, list, get, rename, delete, options,
 * name validation, uuids, open modes, and the chunks a delete frees.
 */
#include "testutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define FX (*(struct tu_fx **)state)

static void make_name(char *buf, size_t n, char c)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

static void test_create_then_get_reports_defaults(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_info out, got;
	int64_t t0 = tu_now_ns();
	memset(&out, 0, sizeof(out));
	TU_OK(cs_volume_create(fx->st, "alpha", NULL, 123, 456, &out));
	TU_EXPECT_STR(out.name, "alpha", "create's info name");
	TU_EXPECT_EQ(out.compression, CS_DEFAULT_ZSTD_LEVEL, "default compression");
	TU_EXPECT_EQ(out.quota, 0, "default quota");
	TU_EXPECT_EQ(out.open_rw, 0, "open_rw of a closed volume");
	TU_EXPECT_EQ(out.open_count, 0, "open_count of a closed volume");
	TU_EXPECT_EQ(out.stats.inodes, 1, "inodes of a new volume (root)");
	TU_EXPECT_EQ(out.stats.logical_bytes, 0, "logical bytes of new volume");
	TU_EXPECT(out.ctime_ns >= t0 - 2000000000LL && out.ctime_ns <= tu_now_ns() + 2000000000LL,
		  "ctime_ns %lld not near now %lld", (long long)out.ctime_ns, (long long)t0);

	memset(&got, 0, sizeof(got));
	TU_OK(cs_volume_get(fx->st, "alpha", &got));
	TU_EXPECT_STR(got.name, "alpha", "get name");
	TU_EXPECT(memcmp(got.uuid, out.uuid, 16) == 0, "uuid from get differs from create's");
	TU_EXPECT_EQ(got.id, out.id, "id from get vs create");
	TU_EXPECT_EQ(got.ctime_ns, out.ctime_ns, "ctime from get vs create");
	TU_EXPECT_EQ(got.compression, CS_DEFAULT_ZSTD_LEVEL, "get compression");

	/* The root is owned by uid/gid and has mode 0755. */
	cs_vol *v = tu_vol_open(fx, "alpha", CS_VOL_RDONLY);
	struct cs_attr a = tu_getattr(v, CS_ROOT_INO);
	TU_EXPECT_EQ(a.mode, S_IFDIR | 0755, "root mode");
	TU_EXPECT_EQ(a.uid, 123, "root uid");
	TU_EXPECT_EQ(a.gid, 456, "root gid");
	TU_EXPECT_EQ(a.nlink, 2, "root nlink");
	tu_vol_close(fx, v);

	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT_EQ(s.volumes, 1, "store volumes");
	TU_EXPECT_EQ(s.inodes, 1, "store inodes");
}

static void test_create_with_options_is_reported(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_opts o = {.compression = 7, .quota = 1 << 20};
	struct cs_volume_info got;
	TU_OK(cs_volume_create(fx->st, "c7", &o, 0, 0, NULL));
	TU_OK(cs_volume_get(fx->st, "c7", &got));
	TU_EXPECT_EQ(got.compression, 7, "compression");
	TU_EXPECT_EQ(got.quota, 1 << 20, "quota");

	o.compression = 0;
	o.quota = 0;
	TU_OK(cs_volume_create(fx->st, "none", &o, 0, 0, NULL));
	TU_OK(cs_volume_get(fx->st, "none", &got));
	TU_EXPECT_EQ(got.compression, 0, "compression none");

	o.compression = -1;
	TU_OK(cs_volume_create(fx->st, "dflt", &o, 0, 0, NULL));
	TU_OK(cs_volume_get(fx->st, "dflt", &got));
	TU_EXPECT_EQ(got.compression, CS_DEFAULT_ZSTD_LEVEL,
		     "compression -1 means the default level");

	o.compression = 19;
	TU_OK(cs_volume_create(fx->st, "c19", &o, 0, 0, NULL));
	o.compression = 1;
	TU_OK(cs_volume_create(fx->st, "c1", &o, 0, 0, NULL));
}

static void test_create_bad_compression_gives_einval(void **state)
{
	struct tu_fx *fx = FX;
	int bad[] = {20, 100, -2, -100};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cs_volume_opts o = {.compression = bad[i], .quota = 0};
		TU_EXPECT_RC(cs_volume_create(fx->st, "x", &o, 0, 0, NULL), -EINVAL);
		struct cs_volume_info got;
		TU_EXPECT_RC(cs_volume_get(fx->st, "x", &got), -ENOENT);
	}
}

static void test_set_opts_changes_and_validates(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_info got;
	TU_OK(cs_volume_create(fx->st, "v", NULL, 0, 0, NULL));
	struct cs_volume_opts o = {.compression = 0, .quota = 12345678};
	TU_OK(cs_volume_set_opts(fx->st, "v", &o));
	TU_OK(cs_volume_get(fx->st, "v", &got));
	TU_EXPECT_EQ(got.compression, 0, "compression after set_opts");
	TU_EXPECT_EQ(got.quota, 12345678, "quota after set_opts");

	o.compression = 19;
	o.quota = 0;
	TU_OK(cs_volume_set_opts(fx->st, "v", &o));
	TU_OK(cs_volume_get(fx->st, "v", &got));
	TU_EXPECT_EQ(got.compression, 19, "compression after 2nd set_opts");
	TU_EXPECT_EQ(got.quota, 0, "quota removed");

	o.compression = 20;
	TU_EXPECT_RC(cs_volume_set_opts(fx->st, "v", &o), -EINVAL);
	o.compression = -2;
	TU_EXPECT_RC(cs_volume_set_opts(fx->st, "v", &o), -EINVAL);
	TU_OK(cs_volume_get(fx->st, "v", &got));
	TU_EXPECT_EQ(got.compression, 19, "compression after failed set_opts");

	o.compression = 3;
	TU_EXPECT_RC(cs_volume_set_opts(fx->st, "missing", &o), -ENOENT);

	/* set_opts is allowed on an open volume; its info follows. */
	cs_vol *v = tu_vol_open(fx, "v", 0);
	o.compression = 5;
	o.quota = 4096 * 100;
	TU_OK(cs_volume_set_opts(fx->st, "v", &o));
	TU_OK(cs_vol_info(v, &got));
	TU_EXPECT_EQ(got.compression, 5, "cs_vol_info compression");
	TU_EXPECT_EQ(got.quota, 4096 * 100, "cs_vol_info quota");
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_list_is_sorted_by_name(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_info *l = (void *)1;
	size_t n = 99;
	TU_OK(cs_volume_list(fx->st, &l, &n));
	TU_EXPECT_EQ(n, 0, "volumes in an empty store");
	TU_EXPECT(l == NULL, "empty list must be NULL, seen %p", (void *)l);

	const char *names[] = {"zeta", "alpha", "Mid", "beta-2", "beta", "a", "beta_1", "0num"};
	size_t k = sizeof(names) / sizeof(names[0]);
	for (size_t i = 0; i < k; i++)
		TU_OK(cs_volume_create(fx->st, names[i], NULL, 0, 0, NULL));
	const char *sorted[sizeof(names) / sizeof(names[0])];
	memcpy(sorted, names, sizeof(names));
	qsort(sorted, k, sizeof(sorted[0]), cmp_name);

	TU_OK(cs_volume_list(fx->st, &l, &n));
	assert_non_null(l);
	TU_EXPECT_EQ(n, k, "number of volumes listed");
	for (size_t i = 0; i < k; i++)
		TU_EXPECT_STR(l[i].name, sorted[i], "list order (byte order)");
	for (size_t i = 0; i < k; i++)
		for (size_t j = i + 1; j < k; j++) {
			TU_EXPECT(memcmp(l[i].uuid, l[j].uuid, 16) != 0,
				  "volumes %s and %s share a uuid", l[i].name, l[j].name);
			TU_EXPECT(l[i].id != l[j].id, "volumes %s and %s share id %llu", l[i].name,
				  l[j].name, (unsigned long long)l[i].id);
		}
	tu_free(l);
}

static void test_name_validation(void **state)
{
	struct tu_fx *fx = FX;
	char n255[300], n256[300];
	make_name(n255, 255, 'n');
	make_name(n256, 256, 'n');
	struct {
		const char *name;
		int want;
	} cases[] = {
	    {"", -EINVAL},	   {".", -EINVAL}, {"..", -EINVAL},
	    {"a/b", -EINVAL},	   {"/", -EINVAL}, {"ab/", -EINVAL},
	    {n256, -ENAMETOOLONG}, {n255, 0},	   {"...", 0},
	    {".hidden", 0},	   {"a b", 0},	   {"x", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("  name \"%.20s%s\" (%zu bytes)\n", cases[i].name,
			      strlen(cases[i].name) > 20 ? "..." : "", strlen(cases[i].name));
		TU_EXPECT_RC(cs_name_check(cases[i].name), cases[i].want);
		TU_EXPECT_RC(cs_volume_create(fx->st, cases[i].name, NULL, 0, 0, NULL),
			     cases[i].want);
	}
	struct cs_volume_info got;
	TU_OK(cs_volume_get(fx->st, n255, &got));
	TU_EXPECT_STR(got.name, n255, "255-byte name round trip");
	TU_EXPECT_RC(cs_volume_get(fx->st, "a/b", &got), -EINVAL);
	TU_EXPECT_RC(cs_volume_get(fx->st, "nope", &got), -ENOENT);
}

static void test_duplicate_create_gives_eexist(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_info a, b;
	TU_OK(cs_volume_create(fx->st, "dup", NULL, 0, 0, &a));
	struct cs_volume_opts o = {.compression = 9, .quota = 0};
	TU_EXPECT_RC(cs_volume_create(fx->st, "dup", &o, 0, 0, NULL), -EEXIST);
	TU_OK(cs_volume_get(fx->st, "dup", &b));
	TU_EXPECT(memcmp(a.uuid, b.uuid, 16) == 0, "uuid changed by EEXIST");
	TU_EXPECT_EQ(b.compression, CS_DEFAULT_ZSTD_LEVEL, "compression changed by failed create");
	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT_EQ(s.volumes, 1, "volumes after duplicate create");
}

static void test_uuid_and_id_distinct_and_stable_across_reopen(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_info a, b, a2, b2;
	TU_OK(cs_volume_create(fx->st, "a", NULL, 0, 0, &a));
	TU_OK(cs_volume_create(fx->st, "b", NULL, 0, 0, &b));
	TU_EXPECT(memcmp(a.uuid, b.uuid, 16) != 0, "two volumes share a uuid");
	TU_EXPECT(a.id != b.id, "two volumes share id %llu", (unsigned long long)a.id);
	static const uint8_t zero[16];
	TU_EXPECT(memcmp(a.uuid, zero, 16) != 0, "uuid is all zeros");
	tu_store_reopen(fx, 0);
	TU_OK(cs_volume_get(fx->st, "a", &a2));
	TU_OK(cs_volume_get(fx->st, "b", &b2));
	TU_EXPECT(memcmp(a.uuid, a2.uuid, 16) == 0, "uuid of a changed");
	TU_EXPECT(memcmp(b.uuid, b2.uuid, 16) == 0, "uuid of b changed");
	TU_EXPECT_EQ(a2.id, a.id, "id of a after reopen");
	TU_EXPECT_EQ(b2.id, b.id, "id of b after reopen");
	TU_EXPECT_EQ(a2.ctime_ns, a.ctime_ns, "ctime of a after reopen");

	/* Ids are never reused, also after a delete and a reopen. */
	TU_OK(cs_volume_delete(fx->st, "b"));
	tu_store_reopen(fx, 0);
	struct cs_volume_info c;
	TU_OK(cs_volume_create(fx->st, "c", NULL, 0, 0, &c));
	TU_EXPECT(c.id != a.id && c.id != b.id, "new volume reuses id %llu (a=%llu b=%llu)",
		  (unsigned long long)c.id, (unsigned long long)a.id, (unsigned long long)b.id);
	/* A volume re-created under a deleted name gets a new uuid. */
	struct cs_volume_info b3;
	TU_OK(cs_volume_create(fx->st, "b", NULL, 0, 0, &b3));
	TU_EXPECT(memcmp(b3.uuid, b.uuid, 16) != 0, "re-created volume kept the old uuid");
}

static void test_uuid_format_shape(void **state)
{
	static const uint8_t u[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	char buf[64];
	memset(buf, 'Z', sizeof(buf));
	cs_uuid_format(u, buf);
	TU_EXPECT_STR(buf, "00112233-4455-6677-8899-aabbccddeeff", "cs_uuid_format");

	struct tu_fx *fx = FX;
	struct cs_volume_info a;
	TU_OK(cs_volume_create(fx->st, "a", NULL, 0, 0, &a));
	memset(buf, 'Z', sizeof(buf));
	cs_uuid_format(a.uuid, buf);
	TU_EXPECT_EQ(strlen(buf), 36, "formatted uuid length");
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			TU_EXPECT(buf[i] == '-', "uuid \"%s\": '-' expected at %d", buf, i);
		else
			TU_EXPECT(isxdigit((unsigned char)buf[i]) &&
				      !isupper((unsigned char)buf[i]),
				  "uuid \"%s\": lowercase hex expected at %d", buf, i);
	}
}

static void test_rename_volume(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_volume_info a, got;
	char n256[300], n255[300];
	make_name(n256, 256, 'r');
	make_name(n255, 255, 'r');
	TU_OK(cs_volume_create(fx->st, "old", NULL, 0, 0, &a));
	TU_OK(cs_volume_create(fx->st, "other", NULL, 0, 0, NULL));
	{
		cs_vol *v = tu_vol_open(fx, "old", 0);
		tu_mkfile(fx, v, CS_ROOT_INO, "keepme");
		tu_vol_close(fx, v);
	}
	TU_OK(cs_volume_rename(fx->st, "old", "new"));
	TU_EXPECT_RC(cs_volume_get(fx->st, "old", &got), -ENOENT);
	TU_OK(cs_volume_get(fx->st, "new", &got));
	TU_EXPECT(memcmp(got.uuid, a.uuid, 16) == 0, "uuid changed by rename");
	TU_EXPECT_EQ(got.id, a.id, "id changed by rename");
	TU_EXPECT_STR(got.name, "new", "name after rename");
	cs_vol *v = tu_vol_open(fx, "new", 0);
	struct cs_attr at;
	TU_OK(cs_lookup(v, CS_ROOT_INO, "keepme", &at));
	TU_OK(cs_vol_info(v, &got));
	TU_EXPECT_STR(got.name, "new", "cs_vol_info name");

	/* Errors. */
	TU_EXPECT_RC(cs_volume_rename(fx->st, "new", "renamed"), -EBUSY);
	tu_vol_close(fx, v);
	TU_EXPECT_RC(cs_volume_rename(fx->st, "new", "other"), -EEXIST);
	TU_EXPECT_RC(cs_volume_rename(fx->st, "missing", "x"), -ENOENT);
	TU_EXPECT_RC(cs_volume_rename(fx->st, "new", ""), -EINVAL);
	TU_EXPECT_RC(cs_volume_rename(fx->st, "new", ".."), -EINVAL);
	TU_EXPECT_RC(cs_volume_rename(fx->st, "new", "a/b"), -EINVAL);
	TU_EXPECT_RC(cs_volume_rename(fx->st, "new", n256), -ENAMETOOLONG);
	TU_OK(cs_volume_get(fx->st, "new", &got));
	TU_OK(cs_volume_get(fx->st, "other", &got));
	/* Same name: success, nothing changes. */
	TU_OK(cs_volume_rename(fx->st, "new", "new"));
	TU_OK(cs_volume_get(fx->st, "new", &got));
	TU_OK(cs_volume_rename(fx->st, "new", n255));
	TU_OK(cs_volume_get(fx->st, n255, &got));

	/* Survives a reopen, and the old name is free. */
	tu_store_reopen(fx, 0);
	TU_OK(cs_volume_get(fx->st, n255, &got));
	TU_EXPECT(memcmp(got.uuid, a.uuid, 16) == 0, "uuid after reopen");
	TU_EXPECT_RC(cs_volume_get(fx->st, "new", &got), -ENOENT);
	TU_OK(cs_volume_create(fx->st, "old", NULL, 0, 0, NULL));
	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT_EQ(s.volumes, 3, "volumes");
}

static void test_delete_volume(void **state)
{
	struct tu_fx *fx = FX;
	TU_OK(cs_volume_create(fx->st, "a", NULL, 0, 0, NULL));
	TU_OK(cs_volume_create(fx->st, "b", NULL, 0, 0, NULL));
	TU_OK(cs_volume_delete(fx->st, "a"));
	struct cs_volume_info got;
	TU_EXPECT_RC(cs_volume_get(fx->st, "a", &got), -ENOENT);
	TU_EXPECT_RC(cs_volume_delete(fx->st, "a"), -ENOENT);
	cs_vol *v = NULL;
	TU_EXPECT_RC(cs_vol_open(fx->st, "a", 0, &v), -ENOENT);
	struct cs_volume_info *l = NULL;
	size_t n = 0;
	TU_OK(cs_volume_list(fx->st, &l, &n));
	TU_EXPECT_EQ(n, 1, "volumes listed after delete");
	TU_EXPECT_STR(l[0].name, "b", "remaining volume");
	tu_free(l);
	/* The name can be used again, and the new volume is empty. */
	TU_OK(cs_volume_create(fx->st, "a", NULL, 0, 0, NULL));
	v = tu_vol_open(fx, "a", 0);
	struct cs_attr at;
	TU_EXPECT_RC(cs_lookup(v, CS_ROOT_INO, "anything", &at), -ENOENT);
	tu_vol_close(fx, v);
	tu_check_recount(fx);
}

static void test_delete_open_volume_gives_ebusy(void **state)
{
	struct tu_fx *fx = FX;
	TU_EXPECT_RC(cs_volume_delete(fx->st, "vol"), -EBUSY);
	cs_vol *ro = tu_vol_open(fx, "vol", CS_VOL_RDONLY);
	tu_vol_close(fx, fx->vol);
	TU_EXPECT_RC(cs_volume_delete(fx->st, "vol"), -EBUSY);
	struct cs_volume_info got;
	TU_OK(cs_volume_get(fx->st, "vol", &got));
	tu_vol_close(fx, ro);
	TU_OK(cs_volume_delete(fx->st, "vol"));
}

static void test_two_rw_opens_give_ebusy_ro_opens_fine(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v2 = (cs_vol *)0x1;
	TU_EXPECT_RC(cs_vol_open(fx->st, "vol", 0, &v2), -EBUSY);
	cs_vol *r1 = tu_vol_open(fx, "vol", CS_VOL_RDONLY);
	cs_vol *r2 = tu_vol_open(fx, "vol", CS_VOL_RDONLY);
	struct cs_volume_info info;
	TU_OK(cs_volume_get(fx->st, "vol", &info));
	TU_EXPECT_EQ(info.open_rw, 1, "open_rw with one rw handle");
	TU_EXPECT_EQ(info.open_count, 3, "open_count with 1 rw + 2 ro");

	/* Readers see the writer's changes. */
	uint64_t ino = tu_mkfile(fx, fx->vol, CS_ROOT_INO, "f");
	tu_write(fx->vol, ino, 0, "hello", 5);
	tu_read_expect(r1, ino, 0, "hello", 5);

	tu_vol_close(fx, fx->vol);
	TU_OK(cs_volume_get(fx->st, "vol", &info));
	TU_EXPECT_EQ(info.open_rw, 0, "open_rw after closing the rw handle");
	TU_EXPECT_EQ(info.open_count, 2, "open_count after closing rw");
	/* A rw open is allowed again while ro handles exist. */
	cs_vol *w = tu_vol_open(fx, "vol", 0);
	TU_EXPECT_RC(cs_vol_open(fx->st, "vol", 0, &v2), -EBUSY);
	tu_vol_close(fx, w);
	tu_vol_close(fx, r1);
	tu_vol_close(fx, r2);
	TU_OK(cs_volume_get(fx->st, "vol", &info));
	TU_EXPECT_EQ(info.open_count, 0, "open_count after closing all");
	TU_EXPECT_RC(cs_vol_open(fx->st, "missing", CS_VOL_RDONLY, &v2), -ENOENT);
}

static void test_readonly_handle_rejects_changes_with_erofs(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, CS_ROOT_INO, "f");
	uint64_t d = tu_mkdir(fx, fx->vol, CS_ROOT_INO, "d");
	tu_write(fx->vol, f, 0, "data", 4);
	TU_OK(cs_setxattr(fx->vol, f, "user.x", "1", 1, 0));
	tu_vol_close(fx, fx->vol);
	cs_vol *r = tu_vol_open(fx, "vol", CS_VOL_RDONLY);
	struct cs_attr a, in;
	memset(&in, 0, sizeof(in));
	in.mode = 0600;
	TU_EXPECT_RC(cs_mknod(r, CS_ROOT_INO, "n", 0644, 0, &fx->cred, &a), -EROFS);
	TU_EXPECT_RC(cs_mkdir(r, CS_ROOT_INO, "n", 0755, &fx->cred, &a), -EROFS);
	TU_EXPECT_RC(cs_symlink(r, CS_ROOT_INO, "n", "t", &fx->cred, &a), -EROFS);
	TU_EXPECT_RC(cs_link(r, f, CS_ROOT_INO, "n", &a), -EROFS);
	TU_EXPECT_RC(cs_unlink(r, CS_ROOT_INO, "f", NULL), -EROFS);
	TU_EXPECT_RC(cs_rmdir(r, CS_ROOT_INO, "d"), -EROFS);
	TU_EXPECT_RC(cs_rename(r, CS_ROOT_INO, "f", CS_ROOT_INO, "g", 0, NULL), -EROFS);
	TU_EXPECT_RC(cs_setattr(r, f, &in, CS_SET_MODE, NULL), -EROFS);
	TU_EXPECT_RC(cs_write(r, f, 0, "x", 1), -EROFS);
	TU_EXPECT_RC(cs_fallocate(r, f, 0, 0, 100), -EROFS);
	TU_EXPECT_RC(cs_setxattr(r, f, "user.y", "1", 1, 0), -EROFS);
	TU_EXPECT_RC(cs_removexattr(r, f, "user.x"), -EROFS);
	/* Reads work and nothing changed. */
	tu_read_expect(r, f, 0, "data", 4);
	a = tu_getattr(r, f);
	TU_EXPECT_EQ(a.mode, S_IFREG | 0644, "mode unchanged");
	TU_EXPECT_EQ(a.size, 4, "size unchanged");
	TU_EXPECT_EQ(tu_lookup(r, CS_ROOT_INO, "d"), d, "d still there");
	TU_EXPECT_RC(cs_lookup(r, CS_ROOT_INO, "n", &a), -ENOENT);
	char v[8];
	TU_EXPECT_RC(cs_getxattr(r, f, "user.x", v, sizeof(v)), 1);
	struct cs_volume_info info;
	TU_OK(cs_vol_info(r, &info));
	TU_EXPECT_EQ(info.open_rw, 0, "open_rw of a read-only handle");
}

/* Write @nchunks chunks of PRNG data (seed @seed, chunk i from seed+i). */
static void write_chunks(cs_vol *v, uint64_t ino, uint64_t first_chunk, unsigned nchunks,
			 uint64_t seed)
{
	uint8_t *buf = tu_malloc(CS_CHUNK_SIZE);
	assert_non_null(buf);
	for (unsigned i = 0; i < nchunks; i++) {
		struct tu_rng r;
		tu_rng_seed(&r, seed + i);
		tu_rng_fill(&r, buf, CS_CHUNK_SIZE);
		ssize_t n = cs_write(v, ino, (first_chunk + i) * (uint64_t)CS_CHUNK_SIZE, buf,
				     CS_CHUNK_SIZE);
		if (n != (ssize_t)CS_CHUNK_SIZE) {
			tu_free(buf);
			TU_EXPECT_RC(n, CS_CHUNK_SIZE);
		}
	}
	tu_free(buf);
}

static void check_chunks(cs_vol *v, uint64_t ino, uint64_t first_chunk, unsigned nchunks,
			 uint64_t seed)
{
	uint8_t *buf = tu_malloc(CS_CHUNK_SIZE);
	assert_non_null(buf);
	for (unsigned i = 0; i < nchunks; i++) {
		struct tu_rng r;
		tu_rng_seed(&r, seed + i);
		tu_rng_fill(&r, buf, CS_CHUNK_SIZE);
		tu_read_expect(v, ino, (first_chunk + i) * (uint64_t)CS_CHUNK_SIZE, buf,
			       CS_CHUNK_SIZE);
	}
	tu_free(buf);
}

static void test_delete_frees_unshared_chunks_keeps_shared(void **state)
{
	struct tu_fx *fx = FX;
	TU_OK(cs_volume_create(fx->st, "a", NULL, 0, 0, NULL));
	TU_OK(cs_volume_create(fx->st, "b", NULL, 0, 0, NULL));
	cs_vol *a = tu_vol_open(fx, "a", 0);
	cs_vol *b = tu_vol_open(fx, "b", 0);
	/* a: 4 own chunks (seeds 100..103) + 2 shared (200..201).
	 * b: the 2 shared + 1 own (300). */
	uint64_t fa = tu_mkfile(fx, a, CS_ROOT_INO, "fa");
	write_chunks(a, fa, 0, 4, 100);
	write_chunks(a, fa, 4, 2, 200);
	uint64_t fb = tu_mkfile(fx, b, CS_ROOT_INO, "fb");
	write_chunks(b, fb, 0, 2, 200);
	write_chunks(b, fb, 2, 1, 300);
	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT_EQ(s.chunks, 7, "distinct chunks before delete");
	TU_EXPECT_EQ(s.chunk_refs, 9, "chunk refs before delete");
	TU_EXPECT_EQ(s.volumes, 2, "volumes before delete");
	tu_vol_close(fx, a);
	TU_OK(cs_volume_delete(fx->st, "a"));
	s = tu_stats(fx);
	TU_EXPECT_EQ(s.chunks, 3, "distinct chunks after deleting a");
	TU_EXPECT_EQ(s.chunk_refs, 3, "chunk refs after deleting a");
	TU_EXPECT_EQ(s.raw_bytes, 3ULL * CS_CHUNK_SIZE, "raw bytes after");
	TU_EXPECT_EQ(s.volumes, 1, "volumes after delete");
	check_chunks(b, fb, 0, 2, 200);
	check_chunks(b, fb, 2, 1, 300);
	tu_check_recount(fx);
	tu_vol_close(fx, b);
	tu_store_reopen(fx, 0);
	s = tu_stats(fx);
	TU_EXPECT_EQ(s.chunks, 3, "distinct chunks after reopen");
	b = tu_vol_open(fx, "b", CS_VOL_RDONLY);
	check_chunks(b, fb, 0, 2, 200);
	check_chunks(b, fb, 2, 1, 300);
	tu_check_recount(fx);
}

static void test_volumes_have_independent_namespaces(void **state)
{
	struct tu_fx *fx = FX;
	TU_OK(cs_volume_create(fx->st, "other", NULL, 0, 0, NULL));
	cs_vol *o = tu_vol_open(fx, "other", 0);
	uint64_t f1 = tu_mkfile(fx, fx->vol, CS_ROOT_INO, "same");
	tu_write(fx->vol, f1, 0, "one", 3);
	struct cs_attr a;
	TU_EXPECT_RC(cs_lookup(o, CS_ROOT_INO, "same", &a), -ENOENT);
	uint64_t f2 = tu_mkfile(fx, o, CS_ROOT_INO, "same");
	tu_write(o, f2, 0, "two!", 4);
	tu_read_expect(fx->vol, f1, 0, "one", 3);
	tu_read_expect(o, f2, 0, "two!", 4);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f1).size, 3, "size in vol");
	TU_EXPECT_EQ(tu_getattr(o, f2).size, 4, "size in other");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup_store, tu_teardown)
#define TV(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_create_then_get_reports_defaults),
	    T(test_create_with_options_is_reported),
	    T(test_create_bad_compression_gives_einval),
	    T(test_set_opts_changes_and_validates),
	    T(test_list_is_sorted_by_name),
	    T(test_name_validation),
	    T(test_duplicate_create_gives_eexist),
	    T(test_uuid_and_id_distinct_and_stable_across_reopen),
	    T(test_uuid_format_shape),
	    T(test_rename_volume),
	    T(test_delete_volume),
	    TV(test_delete_open_volume_gives_ebusy),
	    TV(test_two_rw_opens_give_ebusy_ro_opens_fine),
	    TV(test_readonly_handle_rejects_changes_with_erofs),
	    T(test_delete_frees_unshared_chunks_keeps_shared),
	    TV(test_volumes_have_independent_namespaces),
	};
	return cmocka_run_group_tests_name("volume", tests, tu_group_setup, tu_group_teardown);
}
