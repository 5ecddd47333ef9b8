/*
 * test_namespace.c - inodes and directories: mknod, mkdir, symlink,
 * readlink, link, unlink, rmdir, lookup, setattr, rename (all flags) and
 * orphans.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO

static uint32_t nlink_of(cs_vol *v, uint64_t ino)
{
	return tu_getattr(v, ino).nlink;
}

static void expect_gone(cs_vol *v, uint64_t parent, const char *name)
{
	struct cs_attr a;
	TU_EXPECT_RC(cs_lookup(v, parent, name, &a), -ENOENT);
}

/* Old timestamps, so a later "now" is visibly newer. */
static void age_times(cs_vol *v, uint64_t ino)
{
	struct cs_attr in;
	memset(&in, 0, sizeof(in));
	in.atime.tv_sec = 1000;
	in.mtime.tv_sec = 1000;
	in.ctime.tv_sec = 1000;
	TU_OK(cs_setattr(v, ino, &in, CS_SET_ATIME | CS_SET_MTIME | CS_SET_CTIME, NULL));
	struct cs_attr a = tu_getattr(v, ino);
	TU_EXPECT_EQ(a.ctime.tv_sec, 1000, "ctime set by CS_SET_CTIME");
	TU_EXPECT_EQ(a.mtime.tv_sec, 1000, "mtime set by CS_SET_MTIME");
}

static void expect_recent(struct timespec ts, int64_t t0, const char *what)
{
	int64_t ns = tu_ts_ns(ts);
	TU_EXPECT(ns >= t0 - 1000000000LL && ns <= tu_now_ns() + 1000000000LL,
		  "%s: expected about now (%lld), seen %lld", what, (long long)t0, (long long)ns);
}

static void test_mknod_creates_each_type_with_mode_and_rdev(void **state)
{
	struct tu_fx *fx = FX;
	struct {
		const char *name;
		uint32_t mode;
		uint64_t rdev;
	} c[] = {
	    {"reg", S_IFREG | 0640, 0},
	    {"reg0", 0600, 0}, /* no type bits: a regular file */
	    {"fifo", S_IFIFO | 0600, 0},
	    {"sock", S_IFSOCK | 0755, 0},
	    {"chr", S_IFCHR | 0620, makedev(1, 3)},
	    {"blk", S_IFBLK | 0660, makedev(259, 65537)},
	    {"suid", S_IFREG | 04755, 0},
	};
	int64_t t0 = tu_now_ns();
	struct cs_cred cred = {.uid = 4242, .gid = 777};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct cs_attr out, got, lk;
		memset(&out, 0, sizeof(out));
		TU_OK(cs_mknod(fx->vol, R, c[i].name, c[i].mode, c[i].rdev, &cred, &out));
		uint32_t want = c[i].mode;
		if ((want & S_IFMT) == 0)
			want |= S_IFREG;
		print_message("  %s\n", c[i].name);
		TU_EXPECT_EQ(out.mode, want, "mode from mknod");
		TU_EXPECT_EQ(out.nlink, 1, "nlink");
		TU_EXPECT_EQ(out.uid, 4242, "uid from cred");
		TU_EXPECT_EQ(out.gid, 777, "gid from cred");
		TU_EXPECT_EQ(out.size, 0, "size");
		TU_EXPECT(out.ino != 0 && out.ino != R, "bad ino %llu",
			  (unsigned long long)out.ino);
		if (S_ISCHR(want) || S_ISBLK(want))
			TU_EXPECT_EQ(out.rdev, c[i].rdev, "rdev");
		expect_recent(out.btime, t0, "btime of a new inode");
		expect_recent(out.mtime, t0, "mtime of a new inode");
		expect_recent(out.ctime, t0, "ctime of a new inode");
		got = tu_getattr(fx->vol, out.ino);
		TU_EXPECT_EQ(got.mode, want, "mode from getattr");
		TU_EXPECT_EQ(got.rdev, out.rdev, "rdev from getattr");
		TU_EXPECT_EQ(got.ino, out.ino, "ino from getattr");
		TU_OK(cs_lookup(fx->vol, R, c[i].name, &lk));
		TU_EXPECT_EQ(lk.ino, out.ino, "ino from lookup");
		TU_EXPECT_EQ(lk.mode, want, "mode from lookup");
	}
	/* Survives a reopen. */
	tu_store_reopen(fx, 1);
	struct cs_attr lk;
	TU_OK(cs_lookup(fx->vol, R, "blk", &lk));
	TU_EXPECT_EQ(lk.mode, S_IFBLK | 0660, "blk mode after reopen");
	TU_EXPECT_EQ(lk.rdev, makedev(259, 65537), "blk rdev after reopen");
	TU_OK(cs_lookup(fx->vol, R, "suid", &lk));
	TU_EXPECT_EQ(lk.mode, S_IFREG | 04755, "suid mode after reopen");
}

static void test_inode_numbers_are_distinct(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t seen[64];
	for (int i = 0; i < 64; i++) {
		char n[16];
		snprintf(n, sizeof(n), "f%d", i);
		seen[i] = (i % 2) ? tu_mkdir(fx, fx->vol, R, n) : tu_mkfile(fx, fx->vol, R, n);
		for (int j = 0; j < i; j++)
			TU_EXPECT(seen[j] != seen[i], "ino %llu given twice",
				  (unsigned long long)seen[i]);
	}
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.inodes, 65, "volume inodes");
}

static void test_mknod_rejects_directories_and_symlinks(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	TU_EXPECT_RC(cs_mknod(fx->vol, R, "d", S_IFDIR | 0755, 0, &fx->cred, &a), -EINVAL);
	TU_EXPECT_RC(cs_mknod(fx->vol, R, "l", S_IFLNK | 0777, 0, &fx->cred, &a), -EINVAL);
	expect_gone(fx->vol, R, "d");
	expect_gone(fx->vol, R, "l");
}

static void test_create_errors(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	char n256[300], n255[300];
	memset(n256, 'x', 256);
	n256[256] = 0;
	memset(n255, 'x', 255);
	n255[255] = 0;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "file");
	tu_mkdir(fx, fx->vol, R, "dir");
	/* EEXIST for every kind of creation. */
	TU_EXPECT_RC(cs_mknod(fx->vol, R, "file", 0644, 0, &fx->cred, &a), -EEXIST);
	TU_EXPECT_RC(cs_mknod(fx->vol, R, "dir", 0644, 0, &fx->cred, &a), -EEXIST);
	TU_EXPECT_RC(cs_mkdir(fx->vol, R, "file", 0755, &fx->cred, &a), -EEXIST);
	TU_EXPECT_RC(cs_symlink(fx->vol, R, "dir", "t", &fx->cred, &a), -EEXIST);
	TU_EXPECT_RC(cs_link(fx->vol, f, R, "dir", &a), -EEXIST);
	/* Names. */
	TU_EXPECT_RC(cs_mknod(fx->vol, R, n256, 0644, 0, &fx->cred, &a), -ENAMETOOLONG);
	TU_EXPECT_RC(cs_mkdir(fx->vol, R, n256, 0755, &fx->cred, &a), -ENAMETOOLONG);
	TU_EXPECT_RC(cs_symlink(fx->vol, R, n256, "t", &fx->cred, &a), -ENAMETOOLONG);
	TU_EXPECT_RC(cs_link(fx->vol, f, R, n256, &a), -ENAMETOOLONG);
	TU_EXPECT_RC(cs_lookup(fx->vol, R, n256, &a), -ENAMETOOLONG);
	TU_EXPECT_RC(cs_mknod(fx->vol, R, "", 0644, 0, &fx->cred, &a), -EINVAL);
	TU_EXPECT_RC(cs_mknod(fx->vol, R, "a/b", 0644, 0, &fx->cred, &a), -EINVAL);
	TU_EXPECT_RC(cs_mknod(fx->vol, R, ".", 0644, 0, &fx->cred, &a), -EINVAL);
	TU_EXPECT_RC(cs_mkdir(fx->vol, R, "..", 0755, &fx->cred, &a), -EINVAL);
	uint64_t l = 0;
	TU_OK(cs_mknod(fx->vol, R, n255, 0644, 0, &fx->cred, &a));
	l = a.ino;
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, n255), l, "255-byte name lookup");
	/* Parents. */
	TU_EXPECT_RC(cs_mknod(fx->vol, 999999, "x", 0644, 0, &fx->cred, &a), -ENOENT);
	TU_EXPECT_RC(cs_mkdir(fx->vol, 999999, "x", 0755, &fx->cred, &a), -ENOENT);
	TU_EXPECT_RC(cs_mknod(fx->vol, f, "x", 0644, 0, &fx->cred, &a), -ENOTDIR);
	TU_EXPECT_RC(cs_mkdir(fx->vol, f, "x", 0755, &fx->cred, &a), -ENOTDIR);
	TU_EXPECT_RC(cs_symlink(fx->vol, f, "x", "t", &fx->cred, &a), -ENOTDIR);
	TU_EXPECT_RC(cs_link(fx->vol, f, f, "x", &a), -ENOTDIR);
	TU_EXPECT_RC(cs_lookup(fx->vol, f, "x", &a), -ENOTDIR);
	TU_EXPECT_RC(cs_lookup(fx->vol, R, "missing", &a), -ENOENT);
	TU_EXPECT_RC(cs_getattr(fx->vol, 999999, &a), -ENOENT);
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 1, "nlink of file after failures");
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 3, "root nlink after failures");
}

static void test_mkdir_and_dir_nlink_counts_subdirs(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 2, "root nlink");
	TU_OK(cs_mkdir(fx->vol, R, "d", 0750, &fx->cred, &a));
	uint64_t d = a.ino;
	TU_EXPECT_EQ(a.mode, S_IFDIR | 0750, "mkdir mode");
	TU_EXPECT_EQ(a.nlink, 2, "new dir nlink");
	TU_EXPECT_EQ(a.uid, fx->cred.uid, "mkdir uid");
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 3, "root nlink with one subdir");
	tu_mkfile(fx, fx->vol, d, "f1");
	tu_mkfile(fx, fx->vol, d, "f2");
	TU_EXPECT_EQ(nlink_of(fx->vol, d), 2, "files do not count in nlink");
	uint64_t s1 = tu_mkdir(fx, fx->vol, d, "s1");
	tu_mkdir(fx, fx->vol, d, "s2");
	tu_mkdir(fx, fx->vol, s1, "deep");
	TU_EXPECT_EQ(nlink_of(fx->vol, d), 4, "dir nlink = 2 + 2 subdirs");
	TU_EXPECT_EQ(nlink_of(fx->vol, s1), 3, "s1 nlink");
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 3, "root nlink unchanged");
	TU_OK(cs_rmdir(fx->vol, d, "s2"));
	TU_EXPECT_EQ(nlink_of(fx->vol, d), 3, "nlink after rmdir");
	tu_store_reopen(fx, 1);
	TU_EXPECT_EQ(nlink_of(fx->vol, d), 3, "nlink after reopen");
}

static void test_lookup_dot_and_dotdot(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	uint64_t e = tu_mkdir(fx, fx->vol, d, "e");
	TU_EXPECT_EQ(tu_lookup(fx->vol, e, "."), e, "e/.");
	TU_EXPECT_EQ(tu_lookup(fx->vol, e, ".."), d, "e/..");
	TU_EXPECT_EQ(tu_lookup(fx->vol, d, ".."), R, "d/..");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "."), R, "/.");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, ".."), R, "/.. is the root");
	struct cs_attr a;
	TU_OK(cs_lookup(fx->vol, e, "..", &a));
	TU_EXPECT_EQ(a.mode & S_IFMT, S_IFDIR, "type of ..");
	TU_EXPECT_EQ(a.nlink, 3, "nlink reported through ..");
}

static void test_symlink_and_readlink(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	const char *t = "../some/target/path";
	size_t tl = strlen(t);
	TU_OK(cs_symlink(fx->vol, R, "ln", t, &fx->cred, &a));
	TU_EXPECT_EQ(a.mode & S_IFMT, S_IFLNK, "symlink type");
	TU_EXPECT_EQ(a.size, tl, "symlink size");
	TU_EXPECT_EQ(a.nlink, 1, "symlink nlink");
	uint64_t l = a.ino;
	char buf[64];
	memset(buf, 'Z', sizeof(buf));
	TU_EXPECT_RC(cs_readlink(fx->vol, l, buf, sizeof(buf)), tl);
	TU_EXPECT_STR(buf, t, "readlink");
	memset(buf, 'Z', sizeof(buf));
	TU_EXPECT_RC(cs_readlink(fx->vol, l, buf, tl + 1), tl);
	TU_EXPECT_STR(buf, t, "readlink with exact room");
	TU_EXPECT_RC(cs_readlink(fx->vol, l, buf, tl), -ERANGE);
	TU_EXPECT_RC(cs_readlink(fx->vol, l, buf, 3), -ERANGE);
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	TU_EXPECT_RC(cs_readlink(fx->vol, f, buf, sizeof(buf)), -EINVAL);
	TU_EXPECT_RC(cs_readlink(fx->vol, R, buf, sizeof(buf)), -EINVAL);
	TU_EXPECT_RC(cs_readlink(fx->vol, 999999, buf, sizeof(buf)), -ENOENT);

	/* Target lengths: 4095 ok, 4096 too long, empty invalid. */
	char *big = tu_malloc(CS_SYMLINK_MAX + 2);
	assert_non_null(big);
	for (size_t i = 0; i < CS_SYMLINK_MAX + 1; i++)
		big[i] = 'a' + i % 26;
	big[CS_SYMLINK_MAX + 1] = 0;
	int rc = cs_symlink(fx->vol, R, "big", big, &fx->cred, &a);
	if (rc != -ENAMETOOLONG)
		tu_free(big);
	TU_EXPECT_RC(rc, -ENAMETOOLONG);
	big[CS_SYMLINK_MAX] = 0;
	rc = cs_symlink(fx->vol, R, "max", big, &fx->cred, &a);
	if (rc != 0)
		tu_free(big);
	TU_OK(rc);
	char *back = tu_malloc(CS_SYMLINK_MAX + 1);
	assert_non_null(back);
	ssize_t n = cs_readlink(fx->vol, a.ino, back, CS_SYMLINK_MAX + 1);
	int same = n == CS_SYMLINK_MAX && strcmp(back, big) == 0;
	tu_free(back);
	tu_free(big);
	TU_EXPECT_RC(n, CS_SYMLINK_MAX);
	TU_EXPECT(same, "4095-byte target did not round-trip");
	TU_EXPECT_RC(cs_symlink(fx->vol, R, "empty", "", &fx->cred, &a), -EINVAL);
	expect_gone(fx->vol, R, "empty");
	expect_gone(fx->vol, R, "big");

	tu_store_reopen(fx, 1);
	memset(buf, 0, sizeof(buf));
	TU_EXPECT_RC(cs_readlink(fx->vol, l, buf, sizeof(buf)), tl);
	TU_EXPECT_STR(buf, t, "readlink after reopen");
}

static void test_link_raises_nlink_and_errors(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	tu_write(fx->vol, f, 0, "shared", 6);
	age_times(fx->vol, f);
	int64_t t0 = tu_now_ns();
	TU_OK(cs_link(fx->vol, f, d, "f2", &a));
	TU_EXPECT_EQ(a.ino, f, "link's ino");
	TU_EXPECT_EQ(a.nlink, 2, "nlink from link");
	expect_recent(tu_getattr(fx->vol, f).ctime, t0, "ctime after link");
	TU_OK(cs_link(fx->vol, f, R, "f3", &a));
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 3, "nlink after two links");
	TU_EXPECT_EQ(tu_lookup(fx->vol, d, "f2"), f, "d/f2 ino");
	tu_read_expect(fx->vol, tu_lookup(fx->vol, R, "f3"), 0, "shared", 6);
	TU_EXPECT_EQ(nlink_of(fx->vol, d), 2, "dir nlink unaffected by links");

	TU_EXPECT_RC(cs_link(fx->vol, d, R, "dlink", &a), -EPERM);
	TU_EXPECT_RC(cs_link(fx->vol, 999999, R, "x", &a), -ENOENT);
	TU_EXPECT_RC(cs_link(fx->vol, f, 999999, "x", &a), -ENOENT);
	TU_EXPECT_RC(cs_link(fx->vol, f, R, "f3", &a), -EEXIST);

	/* Unlink one name: the rest still see the data; nlink drops. */
	uint64_t orphan = 12345;
	TU_OK(cs_unlink(fx->vol, R, "f", &orphan));
	TU_EXPECT_EQ(orphan, 0, "orphan when links remain");
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 2, "nlink after unlink");
	tu_read_expect(fx->vol, f, 0, "shared", 6);
	tu_store_reopen(fx, 1);
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 2, "nlink after reopen");
}

static void test_link_past_65000_gives_emlink(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "links");
	uint64_t f = tu_mkfile(fx, fx->vol, d, "l0");
	struct cs_attr a;
	char name[16];
	int rc = 0;
	unsigned i;
	for (i = 1; i < 65000; i++) {
		snprintf(name, sizeof(name), "l%u", i);
		rc = cs_link(fx->vol, f, d, name, &a);
		if (rc != 0)
			break;
	}
	if (rc != 0)
		print_error("link number %u failed\n", i + 1);
	TU_OK(rc);
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 65000, "nlink at the limit");
	TU_EXPECT_RC(cs_link(fx->vol, f, d, "one-too-many", &a), -EMLINK);
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 65000, "nlink after EMLINK");
	expect_gone(fx->vol, d, "one-too-many");
}

static void test_link_symlink_and_special_files(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	TU_OK(cs_symlink(fx->vol, R, "ln", "tgt", &fx->cred, &a));
	uint64_t l = a.ino;
	TU_OK(cs_link(fx->vol, l, R, "ln2", &a));
	TU_EXPECT_EQ(a.nlink, 2, "symlink nlink after link");
	TU_OK(cs_mknod(fx->vol, R, "fifo", S_IFIFO | 0600, 0, &fx->cred, &a));
	uint64_t p = a.ino;
	TU_OK(cs_link(fx->vol, p, R, "fifo2", &a));
	TU_EXPECT_EQ(a.nlink, 2, "fifo nlink after link");
}

static void test_unlink_and_rmdir_errors(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	tu_mkfile(fx, fx->vol, d, "inner");
	uint64_t e = tu_mkdir(fx, fx->vol, R, "empty");
	TU_EXPECT_RC(cs_unlink(fx->vol, R, "missing", NULL), -ENOENT);
	TU_EXPECT_RC(cs_unlink(fx->vol, R, "d", NULL), -EISDIR);
	TU_EXPECT_RC(cs_unlink(fx->vol, f, "x", NULL), -ENOTDIR);
	TU_EXPECT_RC(cs_unlink(fx->vol, 999999, "x", NULL), -ENOENT);
	TU_EXPECT_RC(cs_rmdir(fx->vol, R, "missing"), -ENOENT);
	TU_EXPECT_RC(cs_rmdir(fx->vol, R, "d"), -ENOTEMPTY);
	TU_EXPECT_RC(cs_rmdir(fx->vol, R, "f"), -ENOTDIR);
	TU_EXPECT_RC(cs_rmdir(fx->vol, f, "x"), -ENOTDIR);
	TU_EXPECT_RC(cs_rmdir(fx->vol, e, "."), -EINVAL);
	TU_EXPECT_RC(cs_rmdir(fx->vol, e, ".."), -EBUSY);
	/* Nothing changed. */
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "d"), d, "d still there");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "f"), f, "f still there");
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 4, "root nlink");
	/* The successes. */
	TU_OK(cs_rmdir(fx->vol, R, "empty"));
	expect_gone(fx->vol, R, "empty");
	struct cs_attr a;
	TU_EXPECT_RC(cs_getattr(fx->vol, e, &a), -ENOENT);
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 3, "root nlink after rmdir");
	TU_OK(cs_unlink(fx->vol, d, "inner", NULL));
	TU_OK(cs_rmdir(fx->vol, R, "d"));
	TU_OK(cs_unlink(fx->vol, R, "f", NULL));
	TU_EXPECT_RC(cs_getattr(fx->vol, f, &a), -ENOENT);
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 2, "root nlink at the end");
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.inodes, 1, "inodes after removing all");
	tu_check_recount(fx);
}

static void test_unlink_removes_fifo_socket_symlink(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	TU_OK(cs_mknod(fx->vol, R, "p", S_IFIFO | 0600, 0, &fx->cred, &a));
	TU_OK(cs_mknod(fx->vol, R, "s", S_IFSOCK | 0600, 0, &fx->cred, &a));
	TU_OK(cs_symlink(fx->vol, R, "l", "x", &fx->cred, &a));
	TU_OK(cs_unlink(fx->vol, R, "p", NULL));
	TU_OK(cs_unlink(fx->vol, R, "s", NULL));
	TU_OK(cs_unlink(fx->vol, R, "l", NULL));
	expect_gone(fx->vol, R, "p");
	expect_gone(fx->vol, R, "s");
	expect_gone(fx->vol, R, "l");
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.inodes, 1, "inodes after unlinking all");
}

static void test_parent_times_change_on_create_and_remove(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	age_times(fx->vol, d);
	int64_t t0 = tu_now_ns();
	tu_mkfile(fx, fx->vol, d, "f");
	struct cs_attr a = tu_getattr(fx->vol, d);
	expect_recent(a.mtime, t0, "parent mtime after mknod");
	expect_recent(a.ctime, t0, "parent ctime after mknod");
	age_times(fx->vol, d);
	TU_OK(cs_unlink(fx->vol, d, "f", NULL));
	a = tu_getattr(fx->vol, d);
	expect_recent(a.mtime, t0, "parent mtime after unlink");
	expect_recent(a.ctime, t0, "parent ctime after unlink");
}

static void test_setgid_directory_passes_group(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_cred owner = {.uid = 10, .gid = 100};
	struct cs_cred other = {.uid = 20, .gid = 200};
	struct cs_attr a, in;
	TU_OK(cs_mkdir(fx->vol, R, "sg", 0775, &owner, &a));
	uint64_t sg = a.ino;
	memset(&in, 0, sizeof(in));
	in.mode = 02775;
	TU_OK(cs_setattr(fx->vol, sg, &in, CS_SET_MODE, &a));
	TU_EXPECT_EQ(a.mode, S_IFDIR | 02775, "setgid dir mode");

	TU_OK(cs_mknod(fx->vol, sg, "f", 0644, 0, &other, &a));
	TU_EXPECT_EQ(a.gid, 100, "file in setgid dir: gid of the dir");
	TU_EXPECT_EQ(a.uid, 20, "file in setgid dir: uid of the creator");
	TU_EXPECT_EQ(a.mode, S_IFREG | 0644, "file mode (no setgid bit)");
	TU_OK(cs_mkdir(fx->vol, sg, "sub", 0755, &other, &a));
	TU_EXPECT_EQ(a.gid, 100, "subdir in setgid dir: gid of the dir");
	TU_EXPECT(a.mode & S_ISGID,
		  "subdir of a setgid dir lacks S_ISGID "
		  "(mode seen 0%o)",
		  a.mode);
	uint64_t sub = a.ino;
	TU_OK(cs_mknod(fx->vol, sub, "g", 0644, 0, &other, &a));
	TU_EXPECT_EQ(a.gid, 100, "grandchild gid (inherited twice)");
	TU_OK(cs_symlink(fx->vol, sg, "l", "t", &other, &a));
	TU_EXPECT_EQ(a.gid, 100, "symlink in setgid dir: gid");
	/* Not inherited from a plain directory. */
	TU_OK(cs_mkdir(fx->vol, R, "plain", 0775, &owner, &a));
	uint64_t plain = a.ino;
	TU_OK(cs_mknod(fx->vol, plain, "f", 0644, 0, &other, &a));
	TU_EXPECT_EQ(a.gid, 200, "file in plain dir: gid of the creator");
	TU_OK(cs_mkdir(fx->vol, plain, "s", 0755, &other, &a));
	TU_EXPECT(!(a.mode & S_ISGID), "plain subdir got S_ISGID");
}

static void test_setattr_mode_uid_gid(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct cs_attr in, out;
	struct cs_attr before = tu_getattr(fx->vol, f);
	age_times(fx->vol, f);
	memset(&in, 0, sizeof(in));
	in.mode = S_IFDIR | 06711; /* type bits must be ignored */
	in.uid = 55;
	in.gid = 66;
	int64_t t0 = tu_now_ns();
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_MODE, &out));
	TU_EXPECT_EQ(out.mode, S_IFREG | 06711, "mode (only 07777 taken)");
	TU_EXPECT_EQ(out.uid, fx->cred.uid, "uid untouched by CS_SET_MODE");
	expect_recent(out.ctime, t0, "ctime after chmod");
	TU_EXPECT_EQ(out.mtime.tv_sec, 1000, "mtime untouched by chmod");
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_UID, &out));
	TU_EXPECT_EQ(out.uid, 55, "uid");
	TU_EXPECT_EQ(out.gid, fx->cred.gid, "gid untouched by CS_SET_UID");
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_GID, &out));
	TU_EXPECT_EQ(out.gid, 66, "gid");
	out = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(out.mode, S_IFREG | 06711, "mode from getattr");
	TU_EXPECT_EQ(out.uid, 55, "uid from getattr");
	TU_EXPECT_EQ(out.gid, 66, "gid from getattr");
	TU_EXPECT_EQ(tu_ts_ns(out.btime), tu_ts_ns(before.btime), "btime after setattr");
	TU_EXPECT_RC(cs_setattr(fx->vol, 999999, &in, CS_SET_MODE, &out), -ENOENT);
	/* Directories too. */
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	in.mode = 0700;
	TU_OK(cs_setattr(fx->vol, d, &in, CS_SET_MODE | CS_SET_UID, &out));
	TU_EXPECT_EQ(out.mode, S_IFDIR | 0700, "dir mode");
	TU_EXPECT_EQ(out.uid, 55, "dir uid");
	tu_store_reopen(fx, 1);
	out = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(out.mode, S_IFREG | 06711, "mode after reopen");
	TU_EXPECT_EQ(out.gid, 66, "gid after reopen");
}

static void test_setattr_times_and_now_flags(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct cs_attr before = tu_getattr(fx->vol, f);
	struct cs_attr in, out;
	memset(&in, 0, sizeof(in));
	in.atime.tv_sec = 111111;
	in.atime.tv_nsec = 222;
	in.mtime.tv_sec = 333333;
	in.mtime.tv_nsec = 444;
	int64_t t0 = tu_now_ns();
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_ATIME | CS_SET_MTIME, &out));
	TU_EXPECT_EQ(out.atime.tv_sec, 111111, "atime sec");
	TU_EXPECT_EQ(out.atime.tv_nsec, 222, "atime nsec");
	TU_EXPECT_EQ(out.mtime.tv_sec, 333333, "mtime sec");
	TU_EXPECT_EQ(out.mtime.tv_nsec, 444, "mtime nsec");
	expect_recent(out.ctime, t0, "ctime after utimes");
	TU_EXPECT_EQ(tu_ts_ns(out.btime), tu_ts_ns(before.btime), "btime");

	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_ATIME_NOW, &out));
	expect_recent(out.atime, t0, "atime after ATIME_NOW");
	TU_EXPECT_EQ(out.mtime.tv_sec, 333333, "mtime untouched by ATIME_NOW");
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_MTIME_NOW, &out));
	expect_recent(out.mtime, t0, "mtime after MTIME_NOW");

	in.ctime.tv_sec = 5555;
	in.ctime.tv_nsec = 66;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_CTIME, &out));
	TU_EXPECT_EQ(out.ctime.tv_sec, 5555, "explicit ctime sec");
	TU_EXPECT_EQ(out.ctime.tv_nsec, 66, "explicit ctime nsec");
	out = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(out.ctime.tv_sec, 5555, "explicit ctime from getattr");
	TU_EXPECT_EQ(tu_ts_ns(out.btime), tu_ts_ns(before.btime), "btime never changes");
	tu_store_reopen(fx, 1);
	out = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(out.atime.tv_sec >= t0 / 1000000000LL - 1, 1,
		     "atime after reopen is the ATIME_NOW value");
	TU_EXPECT_EQ(out.ctime.tv_sec, 5555, "ctime after reopen");
	TU_EXPECT_EQ(out.ctime.tv_nsec, 66, "ctime nsec after reopen");
	TU_EXPECT_EQ(tu_ts_ns(out.btime), tu_ts_ns(before.btime), "btime after reopen");
}

static void test_setattr_size_errors(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr in, out, a;
	memset(&in, 0, sizeof(in));
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	TU_OK(cs_mknod(fx->vol, R, "p", S_IFIFO | 0600, 0, &fx->cred, &a));
	uint64_t p = a.ino;
	TU_OK(cs_symlink(fx->vol, R, "l", "tgt", &fx->cred, &a));
	uint64_t l = a.ino;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	in.size = 10;
	TU_EXPECT_RC(cs_setattr(fx->vol, d, &in, CS_SET_SIZE, &out), -EISDIR);
	TU_EXPECT_RC(cs_setattr(fx->vol, p, &in, CS_SET_SIZE, &out), -EINVAL);
	TU_EXPECT_RC(cs_setattr(fx->vol, l, &in, CS_SET_SIZE, &out), -EINVAL);
	in.size = CS_MAX_FILE_SIZE + 1;
	TU_EXPECT_RC(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, &out), -EFBIG);
	TU_EXPECT_EQ(tu_getattr(fx->vol, f).size, 0, "size after EFBIG");
	in.size = 12345;
	TU_OK(cs_setattr(fx->vol, f, &in, CS_SET_SIZE, &out));
	TU_EXPECT_EQ(out.size, 12345, "size after truncate up");
	TU_EXPECT_EQ(tu_getattr(fx->vol, l).size, 3, "symlink size unchanged");
}

static void test_rename_plain_within_and_across_dirs(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "a");
	tu_write(fx->vol, f, 0, "content", 7);
	uint64_t d1 = tu_mkdir(fx, fx->vol, R, "d1");
	uint64_t d2 = tu_mkdir(fx, fx->vol, R, "d2");
	uint64_t orphan = 77;
	TU_OK(cs_rename(fx->vol, R, "a", R, "b", 0, &orphan));
	TU_EXPECT_EQ(orphan, 0, "orphan of a rename onto nothing");
	expect_gone(fx->vol, R, "a");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "b"), f, "renamed ino");
	TU_OK(cs_rename(fx->vol, R, "b", d1, "c", 0, NULL));
	expect_gone(fx->vol, R, "b");
	TU_EXPECT_EQ(tu_lookup(fx->vol, d1, "c"), f, "moved ino");
	tu_read_expect(fx->vol, f, 0, "content", 7);
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 1, "nlink of moved file");

	/* Moving a directory moves its ".." and the parents' nlink. */
	uint64_t sub = tu_mkdir(fx, fx->vol, d1, "sub");
	TU_EXPECT_EQ(nlink_of(fx->vol, d1), 3, "d1 nlink before");
	TU_OK(cs_rename(fx->vol, d1, "sub", d2, "sub2", 0, NULL));
	TU_EXPECT_EQ(nlink_of(fx->vol, d1), 2, "d1 nlink after moving sub");
	TU_EXPECT_EQ(nlink_of(fx->vol, d2), 3, "d2 nlink after moving sub");
	TU_EXPECT_EQ(tu_lookup(fx->vol, sub, ".."), d2, "sub/.. after move");
	TU_EXPECT_EQ(nlink_of(fx->vol, sub), 2, "moved dir nlink");
	/* Renaming onto itself does nothing. */
	TU_OK(cs_rename(fx->vol, d2, "sub2", d2, "sub2", 0, NULL));
	TU_EXPECT_EQ(tu_lookup(fx->vol, d2, "sub2"), sub, "self-rename");
	TU_EXPECT_EQ(nlink_of(fx->vol, d2), 3, "d2 nlink after self-rename");
	/* Errors. */
	TU_EXPECT_RC(cs_rename(fx->vol, R, "missing", R, "x", 0, NULL), -ENOENT);
	TU_EXPECT_RC(cs_rename(fx->vol, R, "d1", 999999, "x", 0, NULL), -ENOENT);
	TU_EXPECT_RC(cs_rename(fx->vol, d2, ".", R, "x", 0, NULL), -EBUSY);
	TU_EXPECT_RC(cs_rename(fx->vol, d2, "..", R, "x", 0, NULL), -EBUSY);
	uint64_t plain = tu_mkfile(fx, fx->vol, R, "plainfile");
	TU_EXPECT_RC(cs_rename(fx->vol, R, "d1", plain, "x", 0, NULL), -ENOTDIR);
	tu_store_reopen(fx, 1);
	TU_EXPECT_EQ(tu_lookup(fx->vol, d2, "sub2"), sub, "after reopen");
	TU_EXPECT_EQ(tu_lookup(fx->vol, sub, ".."), d2, "sub/.. after reopen");
	TU_EXPECT_EQ(nlink_of(fx->vol, d2), 3, "d2 nlink after reopen");
	tu_check_recount(fx);
}

static void test_rename_over_file_orphans_its_last_link(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = tu_mkfile(fx, fx->vol, R, "a");
	uint64_t b = tu_mkfile(fx, fx->vol, R, "b");
	tu_write(fx->vol, a, 0, "AAAA", 4);
	tu_write(fx->vol, b, 0, "BBBBBB", 6);
	uint64_t orphan = 0;
	TU_OK(cs_rename(fx->vol, R, "a", R, "b", 0, &orphan));
	TU_EXPECT_EQ(orphan, b, "orphan reported for the replaced file");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "b"), a, "b is now a's inode");
	expect_gone(fx->vol, R, "a");
	struct cs_attr at = tu_getattr(fx->vol, b);
	TU_EXPECT_EQ(at.nlink, 0, "orphan nlink");
	tu_read_expect(fx->vol, b, 0, "BBBBBB", 6);
	TU_OK(cs_orphan_release(fx->vol, b));
	TU_EXPECT_RC(cs_getattr(fx->vol, b, &at), -ENOENT);

	/* A replaced file with another link is no orphan. */
	uint64_t c = tu_mkfile(fx, fx->vol, R, "c");
	TU_OK(cs_link(fx->vol, c, R, "c2", &at));
	uint64_t d = tu_mkfile(fx, fx->vol, R, "d");
	orphan = 99;
	TU_OK(cs_rename(fx->vol, R, "d", R, "c", 0, &orphan));
	TU_EXPECT_EQ(orphan, 0, "orphan when the target keeps a link");
	TU_EXPECT_EQ(nlink_of(fx->vol, c), 1, "target nlink after replace");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "c"), d, "c is now d");
	/* With a NULL orphan pointer the replaced inode goes at once. */
	uint64_t e = tu_mkfile(fx, fx->vol, R, "e");
	TU_OK(cs_rename(fx->vol, R, "c2", R, "e", 0, NULL));
	TU_EXPECT_RC(cs_getattr(fx->vol, e, &at), -ENOENT);
	/* Renaming one hard link onto another of the same inode does
	 * nothing (rename(2)). */
	uint64_t h = tu_mkfile(fx, fx->vol, R, "h1");
	TU_OK(cs_link(fx->vol, h, R, "h2", &at));
	orphan = 5;
	TU_OK(cs_rename(fx->vol, R, "h1", R, "h2", 0, &orphan));
	TU_EXPECT_EQ(orphan, 0, "orphan of a same-inode rename");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "h1"), h, "h1 still there");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "h2"), h, "h2 still there");
	TU_EXPECT_EQ(nlink_of(fx->vol, h), 2, "nlink of same-inode rename");
	tu_check_recount(fx);
}

static void test_rename_dir_over_empty_dir(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = tu_mkdir(fx, fx->vol, R, "a");
	tu_mkfile(fx, fx->vol, a, "inside");
	uint64_t b = tu_mkdir(fx, fx->vol, R, "b");
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 4, "root nlink before");
	TU_OK(cs_rename(fx->vol, R, "a", R, "b", 0, NULL));
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "b"), a, "b is now a");
	expect_gone(fx->vol, R, "a");
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 3, "root nlink after replacing");
	struct cs_attr at;
	TU_OK(cs_lookup(fx->vol, a, "inside", &at));
	(void)b;
	struct cs_volume_info info;
	TU_OK(cs_vol_info(fx->vol, &info));
	TU_EXPECT_EQ(info.stats.inodes, 3, "inodes (root, a, inside)");
	tu_check_recount(fx);
}

static void test_rename_type_mismatch_and_notempty(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	uint64_t full = tu_mkdir(fx, fx->vol, R, "full");
	tu_mkfile(fx, fx->vol, full, "x");
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	TU_EXPECT_RC(cs_rename(fx->vol, R, "d", R, "full", 0, NULL), -ENOTEMPTY);
	TU_EXPECT_RC(cs_rename(fx->vol, R, "d", R, "f", 0, NULL), -ENOTDIR);
	TU_EXPECT_RC(cs_rename(fx->vol, R, "f", R, "d", 0, NULL), -EISDIR);
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "d"), d, "d unchanged");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "f"), f, "f unchanged");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "full"), full, "full unchanged");
	TU_EXPECT_EQ(nlink_of(fx->vol, R), 4, "root nlink unchanged");
}

static void test_rename_noreplace_existing_target_gives_eexist(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = tu_mkfile(fx, fx->vol, R, "a");
	uint64_t b = tu_mkfile(fx, fx->vol, R, "b");
	TU_EXPECT_RC(cs_rename(fx->vol, R, "a", R, "b", CS_RENAME_NOREPLACE, NULL), -EEXIST);
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "a"), a, "a unchanged");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "b"), b, "b unchanged");
	TU_OK(cs_rename(fx->vol, R, "a", R, "c", CS_RENAME_NOREPLACE, NULL));
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "c"), a, "c after NOREPLACE");
	expect_gone(fx->vol, R, "a");
}

static void test_rename_exchange_file_and_dir_across_dirs(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t p1 = tu_mkdir(fx, fx->vol, R, "p1");
	uint64_t p2 = tu_mkdir(fx, fx->vol, R, "p2");
	uint64_t f = tu_mkfile(fx, fx->vol, p1, "f");
	uint64_t d = tu_mkdir(fx, fx->vol, p2, "d");
	tu_mkfile(fx, fx->vol, d, "kid");
	TU_EXPECT_EQ(nlink_of(fx->vol, p1), 2, "p1 nlink before");
	TU_EXPECT_EQ(nlink_of(fx->vol, p2), 3, "p2 nlink before");
	uint64_t orphan = 9;
	TU_OK(cs_rename(fx->vol, p1, "f", p2, "d", CS_RENAME_EXCHANGE, &orphan));
	TU_EXPECT_EQ(orphan, 0, "EXCHANGE makes no orphan");
	TU_EXPECT_EQ(tu_lookup(fx->vol, p1, "f"), d, "p1/f is the dir");
	TU_EXPECT_EQ(tu_lookup(fx->vol, p2, "d"), f, "p2/d is the file");
	TU_EXPECT_EQ(nlink_of(fx->vol, p1), 3, "p1 nlink after exchange");
	TU_EXPECT_EQ(nlink_of(fx->vol, p2), 2, "p2 nlink after exchange");
	TU_EXPECT_EQ(tu_lookup(fx->vol, d, ".."), p1, "dir's .. after exchange");
	struct cs_attr at;
	TU_OK(cs_lookup(fx->vol, d, "kid", &at));
	TU_EXPECT_EQ(nlink_of(fx->vol, f), 1, "file nlink");
	TU_EXPECT_EQ(nlink_of(fx->vol, d), 2, "dir nlink");
	tu_store_reopen(fx, 1);
	TU_EXPECT_EQ(tu_lookup(fx->vol, p1, "f"), d, "after reopen p1/f");
	TU_EXPECT_EQ(tu_lookup(fx->vol, d, ".."), p1, "after reopen d/..");
	TU_EXPECT_EQ(nlink_of(fx->vol, p1), 3, "after reopen p1 nlink");
	tu_check_recount(fx);
}

static void test_rename_exchange_missing_target_gives_enoent(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = tu_mkfile(fx, fx->vol, R, "a");
	TU_EXPECT_RC(cs_rename(fx->vol, R, "a", R, "nothere", CS_RENAME_EXCHANGE, NULL), -ENOENT);
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "a"), a, "a unchanged");
	expect_gone(fx->vol, R, "nothere");
}

static void test_rename_dir_into_own_subtree_gives_einval(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = tu_mkdir(fx, fx->vol, R, "a");
	uint64_t b = tu_mkdir(fx, fx->vol, a, "b");
	uint64_t c = tu_mkdir(fx, fx->vol, b, "c");
	TU_EXPECT_RC(cs_rename(fx->vol, R, "a", c, "x", 0, NULL), -EINVAL);
	TU_EXPECT_RC(cs_rename(fx->vol, R, "a", a, "x", 0, NULL), -EINVAL);
	TU_EXPECT_RC(cs_rename(fx->vol, a, "b", c, "y", 0, NULL), -EINVAL);
	TU_EXPECT_RC(cs_rename(fx->vol, R, "a", b, "c", CS_RENAME_EXCHANGE, NULL), -EINVAL);
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "a"), a, "a unchanged");
	TU_EXPECT_EQ(tu_lookup(fx->vol, b, ".."), a, "b/.. unchanged");
	struct cs_attr at;
	TU_EXPECT_RC(cs_lookup(fx->vol, c, "x", &at), -ENOENT);
}

static void test_rename_both_flags_gives_einval(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = tu_mkfile(fx, fx->vol, R, "a");
	uint64_t b = tu_mkfile(fx, fx->vol, R, "b");
	TU_EXPECT_RC(
	    cs_rename(fx->vol, R, "a", R, "b", CS_RENAME_NOREPLACE | CS_RENAME_EXCHANGE, NULL),
	    -EINVAL);
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "a"), a, "a unchanged");
	TU_EXPECT_EQ(tu_lookup(fx->vol, R, "b"), b, "b unchanged");
}

static void test_rename_changes_ctime_keeps_btime(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t a = tu_mkfile(fx, fx->vol, R, "a");
	struct cs_attr before = tu_getattr(fx->vol, a);
	age_times(fx->vol, a);
	int64_t t0 = tu_now_ns();
	TU_OK(cs_rename(fx->vol, R, "a", R, "b", 0, NULL));
	struct cs_attr after = tu_getattr(fx->vol, a);
	expect_recent(after.ctime, t0, "ctime of a renamed inode");
	TU_EXPECT_EQ(after.mtime.tv_sec, 1000, "mtime untouched by rename");
	TU_EXPECT_EQ(tu_ts_ns(after.btime), tu_ts_ns(before.btime), "btime");
}

static void test_unlink_orphan_stays_usable_until_release(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t *buf = tu_malloc(3 * CS_CHUNK_SIZE);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 42);
	tu_rng_fill(&r, buf, 3 * CS_CHUNK_SIZE);
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	tu_write(fx->vol, f, 0, buf, 3 * CS_CHUNK_SIZE);
	struct cs_store_stats s0 = tu_stats(fx);
	TU_EXPECT_EQ(s0.chunks, 3, "chunks before unlink");
	uint64_t orphan = 0;
	TU_OK(cs_unlink(fx->vol, R, "f", &orphan));
	TU_EXPECT_EQ(orphan, f, "orphan reported by unlink");
	expect_gone(fx->vol, R, "f");
	struct cs_attr at = tu_getattr(fx->vol, f);
	TU_EXPECT_EQ(at.nlink, 0, "orphan nlink");
	TU_EXPECT_EQ(at.size, 3 * CS_CHUNK_SIZE, "orphan size");
	tu_read_expect(fx->vol, f, 0, buf, 3 * CS_CHUNK_SIZE);
	tu_write(fx->vol, f, 10, "written-to-orphan", 17);
	memcpy(buf + 10, "written-to-orphan", 17);
	tu_read_expect(fx->vol, f, 0, buf, 64);
	tu_free(buf);
	struct cs_store_stats s1 = tu_stats(fx);
	TU_EXPECT_EQ(s1.chunks, 3, "chunks while orphan lives");
	TU_OK(cs_orphan_release(fx->vol, f));
	TU_EXPECT_RC(cs_getattr(fx->vol, f, &at), -ENOENT);
	char c;
	TU_EXPECT_RC(cs_read(fx->vol, f, 0, &c, 1), -ENOENT);
	struct cs_store_stats s2 = tu_stats(fx);
	TU_EXPECT_EQ(s2.chunks, 0, "chunks after release");
	TU_EXPECT_EQ(s2.inodes, 1, "inodes after release");
	/* Releasing again, or a live inode, does nothing. */
	TU_OK(cs_orphan_release(fx->vol, f));
	uint64_t g = tu_mkfile(fx, fx->vol, R, "g");
	TU_OK(cs_orphan_release(fx->vol, g));
	TU_EXPECT_EQ(nlink_of(fx->vol, g), 1, "live inode kept by release");
	TU_OK(cs_orphan_release(fx->vol, R));
	/* NULL orphan pointer: released at once. */
	TU_OK(cs_unlink(fx->vol, R, "g", NULL));
	TU_EXPECT_RC(cs_getattr(fx->vol, g, &at), -ENOENT);
	tu_check_recount(fx);
}

static void test_orphan_left_at_close_is_purged_at_open(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t *buf = tu_malloc(4 * CS_CHUNK_SIZE);
	assert_non_null(buf);
	struct tu_rng r;
	tu_rng_seed(&r, 4242);
	tu_rng_fill(&r, buf, 4 * CS_CHUNK_SIZE);
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	uint64_t keep = tu_mkfile(fx, fx->vol, R, "keep");
	tu_write(fx->vol, f, 0, buf, 4 * CS_CHUNK_SIZE);
	tu_write(fx->vol, keep, 0, buf, CS_CHUNK_SIZE); /* shares chunk 0 */
	tu_free(buf);
	struct cs_store_stats s0 = tu_stats(fx);
	TU_EXPECT_EQ(s0.chunks, 4, "chunks before");
	uint64_t orphan = 0;
	TU_OK(cs_unlink(fx->vol, R, "f", &orphan));
	TU_EXPECT_EQ(orphan, f, "orphan");
	tu_store_reopen(fx, 1);
	struct cs_attr at;
	TU_EXPECT_RC(cs_getattr(fx->vol, f, &at), -ENOENT);
	struct cs_store_stats s1 = tu_stats(fx);
	TU_EXPECT_EQ(s1.chunks, 1, "chunks after purge (shared one kept)");
	TU_EXPECT_EQ(s1.chunk_refs, 1, "chunk refs after purge");
	TU_EXPECT_EQ(s1.inodes, 2, "inodes after purge (root, keep)");
	TU_EXPECT_EQ(nlink_of(fx->vol, keep), 1, "keep survives");
	tu_check_recount(fx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_mknod_creates_each_type_with_mode_and_rdev),
	    T(test_inode_numbers_are_distinct),
	    T(test_mknod_rejects_directories_and_symlinks),
	    T(test_create_errors),
	    T(test_mkdir_and_dir_nlink_counts_subdirs),
	    T(test_lookup_dot_and_dotdot),
	    T(test_symlink_and_readlink),
	    T(test_link_raises_nlink_and_errors),
	    T(test_link_past_65000_gives_emlink),
	    T(test_link_symlink_and_special_files),
	    T(test_unlink_and_rmdir_errors),
	    T(test_unlink_removes_fifo_socket_symlink),
	    T(test_parent_times_change_on_create_and_remove),
	    T(test_setgid_directory_passes_group),
	    T(test_setattr_mode_uid_gid),
	    T(test_setattr_times_and_now_flags),
	    T(test_setattr_size_errors),
	    T(test_rename_plain_within_and_across_dirs),
	    T(test_rename_over_file_orphans_its_last_link),
	    T(test_rename_dir_over_empty_dir),
	    T(test_rename_type_mismatch_and_notempty),
	    T(test_rename_noreplace_existing_target_gives_eexist),
	    T(test_rename_exchange_file_and_dir_across_dirs),
	    T(test_rename_exchange_missing_target_gives_enoent),
	    T(test_rename_dir_into_own_subtree_gives_einval),
	    T(test_rename_both_flags_gives_einval),
	    T(test_rename_changes_ctime_keeps_btime),
	    T(test_unlink_orphan_stays_usable_until_release),
	    T(test_orphan_left_at_close_is_purged_at_open),
	};
	return cmocka_run_group_tests_name("namespace", tests, tu_group_setup, tu_group_teardown);
}
