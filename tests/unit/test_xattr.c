/*
 * test_xattr.c - extended attributes: set/get/list/remove, flags, size
 * probes, limits, namespaces, and xattrs on every kind of inode.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO

/* Does the NUL-separated list @buf of @len bytes hold @name? */
static int list_has(const char *buf, size_t len, const char *name)
{
	size_t i = 0;
	while (i < len) {
		size_t l = strnlen(buf + i, len - i);
		if (l == strlen(name) && !memcmp(buf + i, name, l))
			return 1;
		i += l + 1;
	}
	return 0;
}

static int list_count(const char *buf, size_t len)
{
	int n = 0;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			n++;
	return n;
}

static void test_set_get_list_remove(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	char buf[256];
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, NULL, 0), 0);
	TU_OK(cs_setxattr(fx->vol, f, "user.color", "blue", 4, 0));
	TU_OK(cs_setxattr(fx->vol, f, "user.size", "XL", 2, 0));
	memset(buf, 0, sizeof(buf));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.color", buf, sizeof(buf)), 4);
	TU_EXPECT(!memcmp(buf, "blue", 4), "value: expected blue, seen %.4s", buf);
	/* Overwrite without flags. */
	TU_OK(cs_setxattr(fx->vol, f, "user.color", "green!", 6, 0));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.color", buf, sizeof(buf)), 6);
	TU_EXPECT(!memcmp(buf, "green!", 6), "value after overwrite: %.6s", buf);
	/* Binary values with NULs. */
	const char bin[5] = {0, 1, 0, 2, 0};
	TU_OK(cs_setxattr(fx->vol, f, "user.bin", bin, 5, 0));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.bin", buf, sizeof(buf)), 5);
	TU_EXPECT(!memcmp(buf, bin, 5), "binary value differs");

	size_t want = strlen("user.color") + strlen("user.size") + strlen("user.bin") + 3;
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, NULL, 0), want);
	memset(buf, 'Z', sizeof(buf));
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, buf, sizeof(buf)), want);
	TU_EXPECT(list_has(buf, want, "user.color"), "list lacks user.color");
	TU_EXPECT(list_has(buf, want, "user.size"), "list lacks user.size");
	TU_EXPECT(list_has(buf, want, "user.bin"), "list lacks user.bin");
	TU_EXPECT_EQ(list_count(buf, want), 3, "names in the list");

	TU_OK(cs_removexattr(fx->vol, f, "user.size"));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.size", buf, sizeof(buf)), -ENODATA);
	TU_EXPECT_RC(cs_removexattr(fx->vol, f, "user.size"), -ENODATA);
	want -= strlen("user.size") + 1;
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, buf, sizeof(buf)), want);
	TU_EXPECT(!list_has(buf, want, "user.size"), "removed name listed");

	/* Persist across reopen. */
	tu_store_reopen(fx, 1);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.color", buf, sizeof(buf)), 6);
	TU_EXPECT(!memcmp(buf, "green!", 6), "value after reopen: %.6s", buf);
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, NULL, 0), want);
}

static void test_create_and_replace_flags(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	char buf[16];
	TU_EXPECT_RC(cs_setxattr(fx->vol, f, "user.a", "1", 1, CS_XATTR_REPLACE), -ENODATA);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.a", buf, sizeof(buf)), -ENODATA);
	TU_OK(cs_setxattr(fx->vol, f, "user.a", "1", 1, CS_XATTR_CREATE));
	TU_EXPECT_RC(cs_setxattr(fx->vol, f, "user.a", "2", 1, CS_XATTR_CREATE), -EEXIST);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.a", buf, sizeof(buf)), 1);
	TU_EXPECT(buf[0] == '1', "value after EEXIST: expected '1' seen '%c'", buf[0]);
	TU_OK(cs_setxattr(fx->vol, f, "user.a", "33", 2, CS_XATTR_REPLACE));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.a", buf, sizeof(buf)), 2);
	TU_EXPECT(!memcmp(buf, "33", 2), "value after REPLACE");
}

static void test_size_probes_and_erange(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	char buf[64];
	TU_OK(cs_setxattr(fx->vol, f, "user.k", "0123456789", 10, 0));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.k", NULL, 0), 10);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.k", buf, 9), -ERANGE);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.k", buf, 1), -ERANGE);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.k", buf, 10), 10);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.missing", NULL, 0), -ENODATA);
	size_t need = strlen("user.k") + 1;
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, NULL, 0), need);
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, buf, need - 1), -ERANGE);
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, buf, 1), -ERANGE);
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, buf, need), need);
	/* Empty values. */
	TU_OK(cs_setxattr(fx->vol, f, "user.empty", "", 0, 0));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.empty", NULL, 0), 0);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.empty", buf, sizeof(buf)), 0);
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, NULL, 0), need + strlen("user.empty") + 1);
}

static void test_value_limits(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	size_t max = CS_XATTR_VALUE_MAX;
	uint8_t *v = tu_malloc(max + 1);
	uint8_t *back = tu_malloc(max + 1);
	assert_non_null(v);
	assert_non_null(back);
	struct tu_rng r;
	tu_rng_seed(&r, 7);
	tu_rng_fill(&r, v, max + 1);
	int rc1 = cs_setxattr(fx->vol, f, "user.big", v, max, 0);
	ssize_t g1 = rc1 == 0 ? cs_getxattr(fx->vol, f, "user.big", back, max + 1) : -1;
	int same = g1 == (ssize_t)max && !memcmp(v, back, max);
	int rc2 = cs_setxattr(fx->vol, f, "user.toobig", v, max + 1, 0);
	int rc3 = cs_setxattr(fx->vol, f, "user.big", v, max + 1, 0);
	ssize_t g2 = cs_getxattr(fx->vol, f, "user.big", back, max + 1);
	int still = g2 == (ssize_t)max && !memcmp(v, back, max);
	tu_free(v);
	tu_free(back);
	TU_OK(rc1);
	TU_EXPECT_RC(g1, max);
	TU_EXPECT(same, "64 KiB value did not round-trip");
	TU_EXPECT_RC(rc2, -E2BIG);
	TU_EXPECT_RC(rc3, -E2BIG);
	TU_EXPECT_RC(g2, max);
	TU_EXPECT(still, "value changed by a failed E2BIG set");
	char b[4];
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.toobig", b, sizeof(b)), -ENODATA);
}

static void test_name_limits(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	char n255[300], n256[300];
	memcpy(n255, "user.", 5);
	memset(n255 + 5, 'q', 250);
	n255[255] = 0;
	memcpy(n256, n255, 255);
	n256[255] = 'q';
	n256[256] = 0;
	char buf[8];
	TU_OK(cs_setxattr(fx->vol, f, n255, "v", 1, 0));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, n255, buf, sizeof(buf)), 1);
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, NULL, 0), 256);
	TU_EXPECT_RC(cs_setxattr(fx->vol, f, n256, "v", 1, 0), -ERANGE);
	TU_EXPECT_RC(cs_setxattr(fx->vol, f, "", "v", 1, 0), -ERANGE);
	TU_EXPECT_RC(cs_listxattr(fx->vol, f, NULL, 0), 256);
}

static void test_namespaces_are_distinct(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	const char *names[] = {"user.x", "trusted.x", "security.x", "security.selinux",
			       "system.posix_acl_access"};
	char buf[32];
	for (int i = 0; i < 5; i++) {
		char val[8];
		snprintf(val, sizeof(val), "v%d", i);
		TU_OK(cs_setxattr(fx->vol, f, names[i], val, strlen(val), 0));
	}
	for (int i = 0; i < 5; i++) {
		char val[8];
		snprintf(val, sizeof(val), "v%d", i);
		memset(buf, 0, sizeof(buf));
		TU_EXPECT_RC(cs_getxattr(fx->vol, f, names[i], buf, sizeof(buf)), strlen(val));
		TU_EXPECT_STR(buf, val, names[i]);
	}
	char list[256];
	ssize_t n = cs_listxattr(fx->vol, f, list, sizeof(list));
	TU_EXPECT(n > 0, "listxattr: %s", tu_errname(n));
	for (int i = 0; i < 5; i++)
		TU_EXPECT(list_has(list, n, names[i]), "list lacks %s", names[i]);
	TU_OK(cs_removexattr(fx->vol, f, "trusted.x"));
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "user.x", buf, sizeof(buf)), 2);
	TU_EXPECT_RC(cs_getxattr(fx->vol, f, "security.x", buf, sizeof(buf)), 2);
}

static void test_xattrs_on_dirs_symlinks_and_specials(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	TU_OK(cs_symlink(fx->vol, R, "l", "target", &fx->cred, &a));
	uint64_t l = a.ino;
	TU_OK(cs_mknod(fx->vol, R, "p", S_IFIFO | 0600, 0, &fx->cred, &a));
	uint64_t p = a.ino;
	uint64_t inos[] = {R, d, l, p};
	char buf[16];
	for (int i = 0; i < 4; i++) {
		TU_OK(cs_setxattr(fx->vol, inos[i], "trusted.t", "dv", 2, 0));
		TU_EXPECT_RC(cs_getxattr(fx->vol, inos[i], "trusted.t", buf, sizeof(buf)), 2);
	}
	/* xattrs are per inode: hard links share, other inodes do not. */
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	TU_OK(cs_setxattr(fx->vol, f, "user.k", "fv", 2, 0));
	TU_OK(cs_link(fx->vol, f, d, "f2", &a));
	TU_EXPECT_RC(cs_getxattr(fx->vol, tu_lookup(fx->vol, d, "f2"), "user.k", buf, sizeof(buf)),
		     2);
	TU_EXPECT_RC(cs_getxattr(fx->vol, d, "user.k", buf, sizeof(buf)), -ENODATA);
	/* Missing inode. */
	TU_EXPECT_RC(cs_setxattr(fx->vol, 999999, "user.k", "v", 1, 0), -ENOENT);
	TU_EXPECT_RC(cs_getxattr(fx->vol, 999999, "user.k", buf, sizeof(buf)), -ENOENT);
	TU_EXPECT_RC(cs_listxattr(fx->vol, 999999, buf, sizeof(buf)), -ENOENT);
	TU_EXPECT_RC(cs_removexattr(fx->vol, 999999, "user.k"), -ENOENT);
	/* A removed inode's xattrs go with it. */
	TU_OK(cs_unlink(fx->vol, R, "l", NULL));
	TU_EXPECT_RC(cs_getxattr(fx->vol, l, "trusted.t", buf, sizeof(buf)), -ENOENT);
	tu_check_recount(fx);
}

static void test_setxattr_changes_ctime(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.ctime.tv_sec = 1000;
	in.mtime.tv_sec = 1000;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_CTIME | CS_SET_MTIME, NULL));
	TU_OK(cs_setxattr(fx->vol, f, "user.k", "v", 1, 0));
	struct cs_attr a = tu_getattr(fx->vol, f);
	TU_EXPECT(a.ctime.tv_sec > 1000,
		  "ctime after setxattr: expected now, "
		  "seen %lld",
		  (long long)a.ctime.tv_sec);
	TU_EXPECT_EQ(a.mtime.tv_sec, 1000, "mtime untouched by setxattr");
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_CTIME, NULL));
	TU_OK(cs_removexattr(fx->vol, f, "user.k"));
	a = tu_getattr(fx->vol, f);
	TU_EXPECT(a.ctime.tv_sec > 1000,
		  "ctime after removexattr: expected "
		  "now, seen %lld",
		  (long long)a.ctime.tv_sec);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_set_get_list_remove),
	    T(test_create_and_replace_flags),
	    T(test_size_probes_and_erange),
	    T(test_value_limits),
	    T(test_name_limits),
	    T(test_namespaces_are_distinct),
	    T(test_xattrs_on_dirs_symlinks_and_specials),
	    T(test_setxattr_changes_ctime),
	};
	return cmocka_run_group_tests_name("xattr", tests, tu_group_setup, tu_group_teardown);
}
