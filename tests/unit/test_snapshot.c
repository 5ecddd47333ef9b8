/*
 * test_snapshot.c - snapshots, snapshot views, clones, rollback, diff,
 * garbage collection and space accounting of the store library (issue 4).
 *
 * Most checks compare a canonical text "dump" of a tree (every path with
 * its type, mode, owner, times, size, blocks, inode number, link count,
 * xattrs, symlink target and a hash of its full content, in readdir order)
 * taken from the live volume before a snapshot with the dump of the
 * snapshot's read-only view taken later. A mismatch prints the first
 * differing line, expected vs seen.
 *
 * The crash test runs this program again (/proc/self/exe --child-crash)
 * and SIGKILLs it at a random moment, as test_store.c does.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO
#define CH ((uint64_t)CS_CHUNK_SIZE)

/* ------------------------------------------------------------------ */
/* String builder (tracked memory, so a failing test leaks nothing)   */
/* ------------------------------------------------------------------ */

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_add(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (s->n + (size_t)k + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->n + (size_t)k + 1)
			cap *= 2;
		char *np = tu_malloc(cap);
		assert_non_null(np);
		if (s->p)
			memcpy(np, s->p, s->n + 1);
		tu_free(s->p);
		s->p = np;
		s->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(s->p + s->n, s->cap - s->n, fmt, ap);
	va_end(ap);
	s->n += (size_t)k;
}

static void sb_free(struct sbuf *s)
{
	tu_free(s->p);
	s->p = NULL;
	s->n = s->cap = 0;
}

/* ------------------------------------------------------------------ */
/* Tree dumps                                                         */
/* ------------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Hash of a file's whole content, read in pieces that straddle chunks. */
static uint64_t content_hash(cs_vol *v, uint64_t ino, uint64_t size, const char *path)
{
	size_t bs = 100000;
	uint8_t *buf = tu_malloc(bs);
	assert_non_null(buf);
	uint64_t h = 0xcbf29ce484222325ULL, off = 0;
	for (;;) {
		ssize_t n = cs_read(v, ino, off, buf, bs);
		if (n < 0) {
			tu_free(buf);
			fail_msg("cs_read(%s, off %llu)\n  expected: >= 0\n  seen:     %s (\"%s\")",
				 path, (unsigned long long)off, tu_errname(n), cs_last_error());
		}
		if (n == 0)
			break;
		h = fnv(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	tu_free(buf);
	TU_EXPECT_EQ(off, size, "bytes read back vs st_size");
	return h;
}

struct dent {
	char name[CS_NAME_MAX + 1];
	uint64_t ino;
	uint32_t type;
};

struct dlist {
	struct dent *v;
	size_t n, cap;
};

static int dlist_fn(void *ctx, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct dlist *l = ctx;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct dent *nv = tu_malloc(cap * sizeof(*nv));
		if (!nv)
			return 1;
		if (l->v)
			memcpy(nv, l->v, l->n * sizeof(*nv));
		tu_free(l->v);
		l->v = nv;
		l->cap = cap;
	}
	snprintf(l->v[l->n].name, sizeof(l->v[l->n].name), "%s", name);
	l->v[l->n].ino = ino;
	l->v[l->n].type = type;
	l->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump_xattrs(cs_vol *v, uint64_t ino, struct sbuf *s, const char *path)
{
	ssize_t n = cs_listxattr(v, ino, NULL, 0);
	if (n < 0)
		fail_msg("cs_listxattr(%s): %s (\"%s\")", path, tu_errname(n), cs_last_error());
	if (n == 0)
		return;
	char *names = tu_malloc((size_t)n);
	assert_non_null(names);
	TU_EXPECT_RC(cs_listxattr(v, ino, names, (size_t)n), n);
	char *ptrs[256];
	size_t k = 0;
	for (char *p = names; p < names + n && k < 256; p += strlen(p) + 1)
		ptrs[k++] = p;
	qsort(ptrs, k, sizeof(ptrs[0]), cmp_str);
	uint8_t *val = tu_malloc(CS_XATTR_VALUE_MAX);
	assert_non_null(val);
	for (size_t i = 0; i < k; i++) {
		ssize_t vl = cs_getxattr(v, ino, ptrs[i], val, CS_XATTR_VALUE_MAX);
		if (vl < 0)
			fail_msg("cs_getxattr(%s, %s): %s (\"%s\")", path, ptrs[i], tu_errname(vl),
				 cs_last_error());
		sb_add(s, "  xattr %s len=%zd hash=%016llx\n", ptrs[i], vl,
		       (unsigned long long)fnv(0xcbf29ce484222325ULL, val, (size_t)vl));
	}
	tu_free(val);
	tu_free(names);
}

static void dump_node(cs_vol *v, uint64_t ino, const char *path, struct sbuf *s, int depth)
{
	struct cs_attr a;
	memset(&a, 0, sizeof(a));
	int rc = cs_getattr(v, ino, &a);
	if (rc)
		fail_msg("cs_getattr(%s, ino %llu)\n  expected: 0\n  seen:     %s (\"%s\")", path,
			 (unsigned long long)ino, tu_errname(rc), cs_last_error());
	sb_add(s,
	       "%s ino=%llu mode=%o nlink=%u uid=%u gid=%u rdev=%llu size=%llu blocks=%llu "
	       "atime=%lld.%09ld mtime=%lld.%09ld ctime=%lld.%09ld btime=%lld.%09ld gen=%llu\n",
	       path, (unsigned long long)a.ino, a.mode, a.nlink, a.uid, a.gid,
	       (unsigned long long)a.rdev, (unsigned long long)a.size, (unsigned long long)a.blocks,
	       (long long)a.atime.tv_sec, a.atime.tv_nsec, (long long)a.mtime.tv_sec,
	       a.mtime.tv_nsec, (long long)a.ctime.tv_sec, a.ctime.tv_nsec,
	       (long long)a.btime.tv_sec, a.btime.tv_nsec, (unsigned long long)a.generation);
	dump_xattrs(v, ino, s, path);
	if (S_ISREG(a.mode)) {
		sb_add(s, "  data hash=%016llx\n",
		       (unsigned long long)content_hash(v, ino, a.size, path));
	} else if (S_ISLNK(a.mode)) {
		char t[CS_SYMLINK_MAX + 1];
		ssize_t n = cs_readlink(v, ino, t, sizeof(t));
		if (n < 0)
			fail_msg("cs_readlink(%s): %s (\"%s\")", path, tu_errname(n),
				 cs_last_error());
		sb_add(s, "  target=\"%.*s\"\n", (int)n, t);
	} else if (S_ISDIR(a.mode)) {
		TU_EXPECT(depth < 32, "tree deeper than 32 at %s", path);
		struct dlist l = {0};
		rc = cs_readdir(v, ino, 0, dlist_fn, &l);
		if (rc)
			fail_msg("cs_readdir(%s): %s (\"%s\")", path, tu_errname(rc),
				 cs_last_error());
		for (size_t i = 0; i < l.n; i++)
			sb_add(s, "  entry %s ino=%llu type=%o\n", l.v[i].name,
			       (unsigned long long)l.v[i].ino, l.v[i].type);
		for (size_t i = 0; i < l.n; i++) {
			struct cs_attr la;
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s%s%s", path, strcmp(path, "/") ? "/" : "",
				 l.v[i].name);
			rc = cs_lookup(v, ino, l.v[i].name, &la);
			if (rc)
				fail_msg(
				    "cs_lookup(%s) of a listed entry\n  expected: 0\n  seen:     "
				    "%s (\"%s\")",
				    sub, tu_errname(rc), cs_last_error());
			TU_EXPECT_EQ(la.ino, l.v[i].ino, "cs_lookup ino vs cs_readdir ino");
			dump_node(v, l.v[i].ino, sub, s, depth + 1);
		}
		tu_free(l.v);
	}
}

/* The canonical dump of a whole volume (live or snapshot view). */
static void dump_tree(cs_vol *v, struct sbuf *s)
{
	s->n = 0;
	if (s->p)
		s->p[0] = '\0';
	dump_node(v, R, "/", s, 0);
}

static void expect_dump_at(const char *seen, const char *want, const char *what, const char *file,
			   int line)
{
	if (!strcmp(seen, want))
		return;
	/* First differing line. */
	const char *a = want, *b = seen;
	int ln = 1;
	while (*a && *a == *b) {
		if (*a == '\n')
			ln++;
		a++, b++;
	}
	while (a > want && a[-1] != '\n')
		a--, b--;
	const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
	int la = ea ? (int)(ea - a) : (int)strlen(a);
	int lb = eb ? (int)(eb - b) : (int)strlen(b);
	fail_msg("%s:%d: %s: trees differ at dump line %d\n  expected: %.*s\n  seen:     %.*s",
		 file, line, what, ln, la, a, lb, b);
}
#define expect_dump(seen, want, what) expect_dump_at((seen), (want), (what), __FILE__, __LINE__)

/* Dump @v and compare with @want. */
static void expect_tree_at(cs_vol *v, const char *want, const char *what, const char *file,
			   int line)
{
	struct sbuf s = {0};
	dump_tree(v, &s);
	expect_dump_at(s.p, want, what, file, line);
	sb_free(&s);
}
#define expect_tree(v, want, what) expect_tree_at((v), (want), (what), __FILE__, __LINE__)

/* Open a snapshot view (tracked by the fixture). */
static cs_vol *tu_snap_open(struct tu_fx *fx, const char *vol, const char *snap)
{
	int slot = -1;
	for (int i = 0; i < TU_MAX_VOLS; i++)
		if (!fx->vols[i]) {
			slot = i;
			break;
		}
	TU_EXPECT(slot >= 0, "too many open handles");
	cs_vol *v = NULL;
	int rc = cs_vol_open_snapshot(fx->st, vol, snap, &v);
	if (rc || !v)
		fail_msg("cs_vol_open_snapshot(%s@%s)\n  expected: 0\n  seen:     %s (\"%s\")", vol,
			 snap, tu_errname(rc), cs_last_error());
	fx->vols[slot] = v;
	return v;
}

static void snap(struct tu_fx *fx, const char *vol, const char *name)
{
	TU_OK(cs_snapshot_create(fx->st, vol, name, NULL));
}

static struct cs_volume_info vinfo(struct tu_fx *fx, const char *name)
{
	struct cs_volume_info i;
	memset(&i, 0, sizeof(i));
	TU_OK(cs_volume_get(fx->st, name, &i));
	return i;
}

static struct cs_snapshot_info sinfo(struct tu_fx *fx, const char *vol, const char *name)
{
	struct cs_snapshot_info i;
	memset(&i, 0, sizeof(i));
	TU_OK(cs_snapshot_get(fx->st, vol, name, &i));
	return i;
}

static uint64_t mkfile_data(struct tu_fx *fx, cs_vol *v, uint64_t parent, const char *name,
			    size_t len, uint64_t seed)
{
	uint64_t ino = tu_mkfile(fx, v, parent, name);
	if (len) {
		uint8_t *b = tu_malloc(len);
		assert_non_null(b);
		tu_fill_text(b, len, seed);
		tu_write(v, ino, 0, b, len);
		tu_free(b);
	}
	return ino;
}

static void write_text(cs_vol *v, uint64_t ino, uint64_t off, size_t len, uint64_t seed)
{
	uint8_t *b = tu_malloc(len);
	assert_non_null(b);
	tu_fill_text(b, len, seed);
	tu_write(v, ino, off, b, len);
	tu_free(b);
}

static void set_size(cs_vol *v, uint64_t ino, uint64_t size)
{
	struct cs_attr a;
	memset(&a, 0, sizeof(a));
	a.size = size;
	TU_OK(cs_setattr(v, ino, &a, CS_SET_SIZE, NULL));
}

/* ------------------------------------------------------------------ */
/* The tree of the snapshot tests                                      */
/* ------------------------------------------------------------------ */

static void build_tree(struct tu_fx *fx, cs_vol *v)
{
	struct cs_attr a;
	uint64_t d1 = tu_mkdir(fx, v, R, "d1");
	TU_OK(cs_mkdir(v, d1, "d2", 0700, &fx->cred, &a));
	uint64_t d2 = a.ino;
	tu_mkdir(fx, v, R, "empty");
	uint64_t small = mkfile_data(fx, v, R, "small", 100, 1);
	mkfile_data(fx, v, R, "edge2048", CS_INLINE_MAX, 2);
	mkfile_data(fx, v, R, "just2049", CS_INLINE_MAX + 1, 3);
	uint64_t big = mkfile_data(fx, v, R, "big", 3 * CH + 123, 4);
	uint64_t holes = tu_mkfile(fx, v, R, "holes");
	write_text(v, holes, 0, 1000, 5);
	write_text(v, holes, 5 * CH + 10, 1000, 6);
	set_size(v, holes, 8 * CH);
	uint64_t hard = mkfile_data(fx, v, d1, "hard", 5000, 7);
	TU_OK(cs_link(v, hard, d2, "hard2", NULL));
	TU_OK(cs_symlink(v, R, "sym", "d1/hard", &fx->cred, NULL));
	TU_OK(cs_symlink(v, d1, "dangling", "/nonexistent/target", &fx->cred, NULL));
	TU_OK(cs_mknod(v, R, "fifo", S_IFIFO | 0600, 0, &fx->cred, NULL));
	uint64_t suid = mkfile_data(fx, v, R, "suid", 10, 8);
	memset(&a, 0, sizeof(a));
	a.mode = 04755;
	a.uid = 0;
	a.gid = 5;
	TU_OK(cs_setattr(v, suid, &a, CS_SET_MODE | CS_SET_UID | CS_SET_GID, NULL));
	TU_OK(cs_setxattr(v, small, "user.a", "alpha", 5, 0));
	char *bigval = tu_malloc(3000);
	assert_non_null(bigval);
	tu_fill_text(bigval, 3000, 9);
	TU_OK(cs_setxattr(v, small, "user.big", bigval, 3000, 0));
	tu_free(bigval);
	TU_OK(cs_setxattr(v, d1, "trusted.t", "dirattr", 7, 0));
	TU_OK(cs_setxattr(v, big, "security.s", "", 0, 0));
	memset(&a, 0, sizeof(a));
	a.atime.tv_sec = 1000000000;
	a.atime.tv_nsec = 123;
	a.mtime.tv_sec = 1000000001;
	a.mtime.tv_nsec = 456;
	TU_OK(cs_setattr(v, small, &a, CS_SET_ATIME | CS_SET_MTIME, NULL));
	mkfile_data(fx, v, R, "torename", 300, 10);
	mkfile_data(fx, v, d2, "todelete", CH + 5, 11);
}

/* Change, delete, rename and add everything build_tree made. */
static void mutate_tree(struct tu_fx *fx, cs_vol *v)
{
	struct cs_attr a;
	uint64_t d1 = tu_lookup(v, R, "d1");
	uint64_t d2 = tu_lookup(v, d1, "d2");
	uint64_t small = tu_lookup(v, R, "small");
	write_text(v, small, 100, 2900, 20); /* inline -> chunked */
	TU_OK(cs_setxattr(v, small, "user.a", "changed", 7, 0));
	TU_OK(cs_removexattr(v, small, "user.big"));
	TU_OK(cs_setxattr(v, small, "user.new", "n", 1, 0));
	write_text(v, tu_lookup(v, R, "edge2048"), CS_INLINE_MAX, 1, 21);
	set_size(v, tu_lookup(v, R, "just2049"), 10); /* chunked -> inline */
	uint64_t big = tu_lookup(v, R, "big");
	write_text(v, big, CH - 5000, 10000, 22); /* across a chunk boundary */
	write_text(v, big, 3 * CH + 100, 100, 23);
	uint64_t holes = tu_lookup(v, R, "holes");
	write_text(v, holes, 2 * CH, 777, 24);
	TU_OK(cs_fallocate(v, holes, CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE, 0, CH));
	set_size(v, holes, 6 * CH);
	TU_OK(cs_unlink(v, d2, "hard2", NULL));
	write_text(v, tu_lookup(v, d1, "hard"), 4000, 3000, 25);
	TU_OK(cs_unlink(v, R, "sym", NULL));
	TU_OK(cs_symlink(v, R, "sym", "elsewhere", &fx->cred, NULL));
	memset(&a, 0, sizeof(a));
	a.mode = 0600;
	a.uid = 2000;
	a.gid = 2000;
	a.atime.tv_sec = 5;
	a.mtime.tv_sec = 6;
	TU_OK(cs_setattr(v, tu_lookup(v, R, "suid"), &a,
			 CS_SET_MODE | CS_SET_UID | CS_SET_GID | CS_SET_ATIME | CS_SET_MTIME,
			 NULL));
	TU_OK(cs_rename(v, R, "torename", d1, "renamed", 0, NULL));
	TU_OK(cs_unlink(v, d2, "todelete", NULL));
	TU_OK(cs_rmdir(v, R, "empty"));
	mkfile_data(fx, v, R, "new", 50, 26);
	tu_mkdir(fx, v, d1, "newdir");
	mkfile_data(fx, v, R, "newbig", 2 * CH + 1, 27);
	TU_OK(cs_unlink(v, R, "fifo", NULL));
	TU_OK(cs_removexattr(v, d1, "trusted.t"));
	memset(&a, 0, sizeof(a));
	a.mode = 0711;
	TU_OK(cs_setattr(v, R, &a, CS_SET_MODE, NULL));
}

/* ------------------------------------------------------------------ */
/* Snapshot views                                                     */
/* ------------------------------------------------------------------ */

static void test_snapshot_view_equals_tree_at_snapshot_time(void **state)
{
	struct tu_fx *fx = FX;
	struct sbuf before = {0};
	build_tree(fx, fx->vol);
	dump_tree(fx->vol, &before);
	snap(fx, "vol", "s1");
	cs_vol *early = tu_snap_open(fx, "vol", "s1"); /* opened before the changes */
	expect_tree(early, before.p, "snapshot view right after create");
	mutate_tree(fx, fx->vol);
	expect_tree(early, before.p, "view opened before the changes, read after");
	cs_vol *late = tu_snap_open(fx, "vol", "s1");
	expect_tree(late, before.p, "view opened after the changes");
	sb_free(&before);
}

static void test_live_volume_shows_changes_after_snapshot(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	build_tree(fx, v);
	snap(fx, "vol", "s1");
	mutate_tree(fx, v);
	struct sbuf after = {0};
	dump_tree(v, &after);
	struct cs_attr a;
	TU_EXPECT_EQ(tu_getattr(v, tu_lookup(v, R, "small")).size, 3000, "live /small size");
	TU_EXPECT_EQ(tu_getattr(v, tu_lookup(v, R, "just2049")).size, 10, "live /just2049 size");
	TU_EXPECT_EQ(tu_getattr(v, tu_lookup(v, R, "holes")).size, 6 * CH, "live /holes size");
	TU_EXPECT_RC(cs_lookup(v, R, "torename", &a), -ENOENT);
	TU_EXPECT_RC(cs_lookup(v, R, "empty", &a), -ENOENT);
	TU_EXPECT_RC(cs_lookup(v, R, "fifo", &a), -ENOENT);
	TU_OK(cs_lookup(v, tu_lookup(v, R, "d1"), "renamed", &a));
	TU_EXPECT_EQ(a.size, 300, "live /d1/renamed size");
	TU_EXPECT_EQ(tu_getattr(v, tu_lookup(v, tu_lookup(v, R, "d1"), "hard")).nlink, 1,
		     "live /d1/hard nlink");
	char t[64];
	TU_EXPECT_RC(cs_readlink(v, tu_lookup(v, R, "sym"), t, sizeof(t)), 9);
	TU_EXPECT_STR(t, "elsewhere", "live /sym target");
	TU_EXPECT_RC(cs_getxattr(v, tu_lookup(v, R, "small"), "user.big", NULL, 0), -ENODATA);
	tu_read_zeros(v, tu_lookup(v, R, "holes"), 0, CH);
	/* And the snapshot still shows the old facts. */
	cs_vol *s = tu_snap_open(fx, "vol", "s1");
	TU_EXPECT_EQ(tu_getattr(s, tu_lookup(s, R, "small")).size, 100, "snapshot /small size");
	TU_EXPECT_EQ(tu_getattr(s, tu_lookup(s, tu_lookup(s, R, "d1"), "hard")).nlink, 2,
		     "snapshot /d1/hard nlink");
	TU_EXPECT_RC(cs_getxattr(s, tu_lookup(s, R, "small"), "user.big", NULL, 0), 3000);
	TU_EXPECT_RC(cs_lookup(s, tu_lookup(s, R, "d1"), "renamed", &a), -ENOENT);
	TU_EXPECT_RC(cs_lookup(s, R, "new", &a), -ENOENT);
	uint8_t want[1000];
	tu_fill_text(want, sizeof(want), 5);
	tu_read_expect(s, tu_lookup(s, R, "holes"), 0, want, sizeof(want));
	tu_read_zeros(s, tu_lookup(s, R, "holes"), 2 * CH, CH);
	/* The live tree dump is stable across a reopen. */
	tu_vol_close(fx, s);
	tu_store_reopen(fx, 1);
	expect_tree(fx->vol, after.p, "live volume after reopen");
	sb_free(&after);
}

static void test_snapshot_view_survives_store_reopen(void **state)
{
	struct tu_fx *fx = FX;
	struct sbuf before = {0};
	build_tree(fx, fx->vol);
	dump_tree(fx->vol, &before);
	snap(fx, "vol", "s1");
	mutate_tree(fx, fx->vol);
	tu_store_reopen(fx, 1);
	expect_tree(tu_snap_open(fx, "vol", "s1"), before.p, "snapshot after reopen");
	sb_free(&before);
	tu_check_recount(fx);
}

static void test_snapshot_view_rejects_every_change_with_erofs(void **state)
{
	struct tu_fx *fx = FX;
	build_tree(fx, fx->vol);
	struct sbuf before = {0};
	dump_tree(fx->vol, &before);
	snap(fx, "vol", "s1");
	cs_vol *s = tu_snap_open(fx, "vol", "s1");
	uint64_t small = tu_lookup(s, R, "small"), d1 = tu_lookup(s, R, "d1");
	struct cs_attr a;
	memset(&a, 0, sizeof(a));
	a.mode = 0777;
	TU_EXPECT_RC(cs_write(s, small, 0, "x", 1), -EROFS);
	TU_EXPECT_RC(cs_setattr(s, small, &a, CS_SET_MODE, NULL), -EROFS);
	a.size = 0;
	TU_EXPECT_RC(cs_setattr(s, small, &a, CS_SET_SIZE, NULL), -EROFS);
	TU_EXPECT_RC(cs_mknod(s, R, "n", S_IFREG | 0644, 0, &fx->cred, &a), -EROFS);
	TU_EXPECT_RC(cs_mkdir(s, R, "nd", 0755, &fx->cred, &a), -EROFS);
	TU_EXPECT_RC(cs_symlink(s, R, "ns", "t", &fx->cred, &a), -EROFS);
	TU_EXPECT_RC(cs_link(s, small, d1, "nl", &a), -EROFS);
	TU_EXPECT_RC(cs_unlink(s, R, "small", NULL), -EROFS);
	TU_EXPECT_RC(cs_rmdir(s, R, "empty"), -EROFS);
	TU_EXPECT_RC(cs_rename(s, R, "small", d1, "moved", 0, NULL), -EROFS);
	TU_EXPECT_RC(cs_setxattr(s, small, "user.z", "z", 1, 0), -EROFS);
	TU_EXPECT_RC(cs_removexattr(s, small, "user.a"), -EROFS);
	TU_EXPECT_RC(cs_fallocate(s, small, 0, 0, 10 * CH), -EROFS);
	expect_tree(s, before.p, "snapshot after refused changes");
	expect_tree(fx->vol, before.p, "live volume after changes refused on the snapshot");
	sb_free(&before);
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* Snapshot create: O(1), info fields                                  */
/* ------------------------------------------------------------------ */

static void expect_store_data_equal(const struct cs_store_stats *a, const struct cs_store_stats *b,
				    const char *what)
{
	if (a->chunks != b->chunks || a->chunk_refs != b->chunk_refs ||
	    a->raw_bytes != b->raw_bytes || a->stored_bytes != b->stored_bytes ||
	    a->logical_bytes != b->logical_bytes || a->inodes != b->inodes)
		fail_msg("%s: store data counters changed\n  expected: chunks %llu refs %llu raw "
			 "%llu stored %llu logical %llu inodes %llu\n  seen:     chunks %llu refs "
			 "%llu raw %llu stored %llu logical %llu inodes %llu",
			 what, (unsigned long long)a->chunks, (unsigned long long)a->chunk_refs,
			 (unsigned long long)a->raw_bytes, (unsigned long long)a->stored_bytes,
			 (unsigned long long)a->logical_bytes, (unsigned long long)a->inodes,
			 (unsigned long long)b->chunks, (unsigned long long)b->chunk_refs,
			 (unsigned long long)b->raw_bytes, (unsigned long long)b->stored_bytes,
			 (unsigned long long)b->logical_bytes, (unsigned long long)b->inodes);
}

static void test_snapshot_create_copies_no_chunks(void **state)
{
	struct tu_fx *fx = FX;
	build_tree(fx, fx->vol);
	struct cs_store_stats s0 = tu_stats(fx);
	TU_EXPECT(s0.chunks > 5, "tree has chunks (%llu)", (unsigned long long)s0.chunks);
	for (int i = 0; i < 3; i++) {
		char n[16];
		snprintf(n, sizeof(n), "s%d", i);
		snap(fx, "vol", n);
		struct cs_store_stats s1 = tu_stats(fx);
		expect_store_data_equal(&s0, &s1, "after cs_snapshot_create");
		TU_EXPECT_EQ(s1.snapshots, (uint64_t)i + 1, "store snapshots");
	}
	tu_check_recount(fx);
}

static void test_snapshot_info_fields(void **state)
{
	struct tu_fx *fx = FX;
	build_tree(fx, fx->vol);
	struct cs_snapshot_info si[3];
	uint64_t prev_epoch = 0;
	for (int i = 0; i < 3; i++) {
		char n[16];
		snprintf(n, sizeof(n), "s%d", i);
		write_text(fx->vol, tu_lookup(fx->vol, R, "big"), (uint64_t)i * 1000, 3000, 40 + i);
		struct cs_volume_info vi;
		TU_OK(cs_vol_info(fx->vol, &vi));
		TU_EXPECT(vi.written_bytes > 0, "written_bytes after writes is 0");
		int64_t t0 = tu_now_ns();
		TU_OK(cs_snapshot_create(fx->st, "vol", n, &si[i]));
		int64_t t1 = tu_now_ns();
		TU_EXPECT_STR(si[i].name, n, "snapshot name");
		TU_EXPECT_EQ(si[i].epoch, vi.epoch, "snapshot epoch vs the volume epoch before it");
		TU_EXPECT(si[i].epoch > prev_epoch,
			  "snapshot epochs do not increase: %llu after %llu",
			  (unsigned long long)si[i].epoch, (unsigned long long)prev_epoch);
		prev_epoch = si[i].epoch;
		TU_EXPECT(si[i].ctime_ns >= t0 - 1000000 && si[i].ctime_ns <= t1 + 1000000,
			  "ctime %lld outside [%lld, %lld]", (long long)si[i].ctime_ns,
			  (long long)t0, (long long)t1);
		TU_EXPECT(!memcmp(&si[i].stats, &vi.stats, sizeof(vi.stats)),
			  "snapshot stats differ from the volume's at that time (inodes %llu/%llu, "
			  "logical %llu/%llu, stored %llu/%llu)",
			  (unsigned long long)si[i].stats.inodes,
			  (unsigned long long)vi.stats.inodes,
			  (unsigned long long)si[i].stats.logical_bytes,
			  (unsigned long long)vi.stats.logical_bytes,
			  (unsigned long long)si[i].stats.stored_bytes,
			  (unsigned long long)vi.stats.stored_bytes);
		TU_EXPECT_EQ(si[i].used_bytes, 0, "used_bytes filled by create");
		TU_EXPECT_EQ(si[i].clones, 0, "clones");
		static const uint8_t zero[16];
		TU_EXPECT(memcmp(si[i].uuid, zero, 16) != 0, "uuid is all zeros");
		for (int j = 0; j < i; j++)
			TU_EXPECT(memcmp(si[i].uuid, si[j].uuid, 16) != 0, "uuid of s%d == s%d", i,
				  j);
		struct cs_volume_info after;
		TU_OK(cs_vol_info(fx->vol, &after));
		TU_EXPECT(after.epoch > si[i].epoch, "volume epoch %llu not above snapshot's %llu",
			  (unsigned long long)after.epoch, (unsigned long long)si[i].epoch);
		TU_EXPECT_EQ(after.snapshots, (uint64_t)i + 1, "volume info snapshots");
		TU_EXPECT_EQ(after.written_bytes, 0, "written_bytes right after a snapshot");
		struct cs_snapshot_info g = sinfo(fx, "vol", n);
		TU_EXPECT(!memcmp(g.uuid, si[i].uuid, 16), "cs_snapshot_get uuid differs");
		TU_EXPECT_EQ(g.epoch, si[i].epoch, "cs_snapshot_get epoch");
		TU_EXPECT_EQ(g.ctime_ns, si[i].ctime_ns, "cs_snapshot_get ctime");
		TU_EXPECT(!memcmp(&g.stats, &si[i].stats, sizeof(g.stats)),
			  "cs_snapshot_get stats differ");
	}
}

/* ------------------------------------------------------------------ */
/* A chain of 50 snapshots                                             */
/* ------------------------------------------------------------------ */

#define CHAIN 50

static void test_chain_of_50_snapshots_each_reads_its_version(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	size_t cap = 4 * CH;
	uint8_t *cur = tu_calloc(cap);
	uint8_t *vers[CHAIN];
	size_t vlen[CHAIN];
	size_t len = 2 * CH + 100;
	tu_fill_text(cur, len, 100);
	uint64_t f = tu_mkfile(fx, v, R, "f");
	uint64_t g = tu_mkfile(fx, v, R, "g"); /* inline */
	tu_write(v, f, 0, cur, len);
	for (int i = 0; i < CHAIN; i++) {
		/* Change: a block at a moving offset (often across a chunk
		 * boundary), sometimes grow, sometimes shrink. */
		uint64_t off = ((uint64_t)i * 37 * 1024 + 60000) % len;
		size_t n = 6000;
		if (off + n > cap)
			n = cap - off;
		tu_fill_text(cur + off, n, 1000 + i);
		tu_write(v, f, off, cur + off, n);
		if (off + n > len)
			len = off + n;
		if (i % 7 == 3 && len + 20000 < cap) {
			tu_fill_text(cur + len, 20000, 2000 + i);
			tu_write(v, f, len, cur + len, 20000);
			len += 20000;
		}
		if (i % 10 == 9 && len > 2 * CH) {
			len -= 50000;
			set_size(v, f, len);
			memset(cur + len, 0, cap - len);
		}
		char gb[64];
		int gl = snprintf(gb, sizeof(gb), "version %d of g", i);
		set_size(v, g, 0);
		tu_write(v, g, 0, gb, (size_t)gl);
		vers[i] = tu_malloc(len);
		memcpy(vers[i], cur, len);
		vlen[i] = len;
		char sn[16];
		snprintf(sn, sizeof(sn), "s%02d", i);
		snap(fx, "vol", sn);
	}
	/* Change the live file once more: no snapshot may see it. */
	write_text(v, f, 0, 3 * CH, 9999);
	for (int i = 0; i < CHAIN; i++) {
		char sn[16], gb[64];
		snprintf(sn, sizeof(sn), "s%02d", i);
		cs_vol *s = tu_snap_open(fx, "vol", sn);
		uint64_t sf = tu_lookup(s, R, "f");
		TU_EXPECT_EQ(tu_getattr(s, sf).size, vlen[i], sn);
		tu_read_expect(s, sf, 0, vers[i], vlen[i]);
		int gl = snprintf(gb, sizeof(gb), "version %d of g", i);
		tu_read_expect(s, tu_lookup(s, R, "g"), 0, gb, (size_t)gl);
		tu_vol_close(fx, s);
		tu_free(vers[i]);
	}
	tu_free(cur);
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* Clones                                                             */
/* ------------------------------------------------------------------ */

#define DEPTH 10

static void test_clones_10_deep_each_reads_its_level(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	size_t len = 3 * CH;
	uint8_t *lv[DEPTH + 1];
	lv[0] = tu_malloc(len);
	tu_fill_text(lv[0], len, 300);
	uint64_t f = tu_mkfile(fx, v, R, "f");
	tu_write(v, f, 0, lv[0], len);
	snap(fx, "vol", "s");
	tu_vol_close(fx, v);
	char prev[32] = "vol";
	for (int k = 1; k <= DEPTH; k++) {
		char name[32], want_origin[64];
		snprintf(name, sizeof(name), "c%d", k);
		struct cs_volume_info ci;
		TU_OK(cs_clone_create(fx->st, prev, "s", name, NULL, &ci));
		snprintf(want_origin, sizeof(want_origin), "%s@s", prev);
		TU_EXPECT_STR(ci.origin, want_origin, "clone origin");
		cs_vol *c = tu_vol_open(fx, name, 0);
		uint64_t cf = tu_lookup(c, R, "f");
		lv[k] = tu_malloc(len);
		memcpy(lv[k], lv[k - 1], len);
		uint64_t off = (uint64_t)k * 17000;
		tu_fill_text(lv[k] + off, 9000, 300 + k);
		tu_write(c, cf, off, lv[k] + off, 9000);
		char lname[16];
		snprintf(lname, sizeof(lname), "level%d", k);
		mkfile_data(fx, c, R, lname, 100 + k, 400 + k);
		char dname[16];
		snprintf(dname, sizeof(dname), "level%d", k - 1);
		if (k > 1) /* remove the file of the level above */
			TU_OK(cs_unlink(c, R, dname, NULL));
		tu_vol_close(fx, c);
		snap(fx, name, "s");
		snprintf(prev, sizeof(prev), "%s", name);
	}
	/* Modify every level after its snapshot: nothing may leak down. */
	for (int k = 1; k <= DEPTH; k++) {
		char name[32];
		snprintf(name, sizeof(name), "c%d", k);
		cs_vol *c = tu_vol_open(fx, name, 0);
		write_text(c, tu_lookup(c, R, "f"), 0, 2 * CH, 500 + k);
		tu_vol_close(fx, c);
	}
	for (int k = 1; k <= DEPTH; k++) {
		char name[32];
		snprintf(name, sizeof(name), "c%d", k);
		cs_vol *s = tu_snap_open(fx, name, "s");
		tu_read_expect(s, tu_lookup(s, R, "f"), 0, lv[k], len);
		for (int j = 1; j <= DEPTH; j++) {
			char lname[16];
			struct cs_attr a;
			snprintf(lname, sizeof(lname), "level%d", j);
			int rc = cs_lookup(s, R, lname, &a);
			if (j == k) {
				TU_OK(rc);
				uint8_t b[200];
				tu_fill_text(b, 100 + (size_t)k, 400 + (uint64_t)k);
				tu_read_expect(s, a.ino, 0, b, 100 + (size_t)k);
			} else {
				TU_EXPECT_RC(rc, -ENOENT);
			}
		}
		tu_vol_close(fx, s);
		cs_vol *c = tu_vol_open(fx, name, CS_VOL_RDONLY);
		uint8_t *w = tu_malloc(len);
		memcpy(w, lv[k], len);
		tu_fill_text(w, 2 * CH, 500 + (uint64_t)k);
		tu_read_expect(c, tu_lookup(c, R, "f"), 0, w, len);
		tu_free(w);
		tu_vol_close(fx, c);
	}
	cs_vol *o = tu_snap_open(fx, "vol", "s");
	tu_read_expect(o, tu_lookup(o, R, "f"), 0, lv[0], len);
	for (int k = 0; k <= DEPTH; k++)
		tu_free(lv[k]);
	tu_check_recount(fx);
}

static void test_clone_writes_stay_out_of_origin_and_siblings(void **state)
{
	struct tu_fx *fx = FX;
	build_tree(fx, fx->vol);
	struct sbuf orig = {0}, a_tree = {0};
	dump_tree(fx->vol, &orig);
	snap(fx, "vol", "s");
	TU_OK(cs_clone_create(fx->st, "vol", "s", "a", NULL, NULL));
	TU_OK(cs_clone_create(fx->st, "vol", "s", "b", NULL, NULL));
	cs_vol *a = tu_vol_open(fx, "a", 0);
	cs_vol *b = tu_vol_open(fx, "b", 0);
	expect_tree(a, orig.p, "clone a as created");
	expect_tree(b, orig.p, "clone b as created");
	mutate_tree(fx, a);
	dump_tree(a, &a_tree);
	expect_tree(b, orig.p, "sibling b after writes in a");
	expect_tree(fx->vol, orig.p, "origin volume after writes in a");
	expect_tree(tu_snap_open(fx, "vol", "s"), orig.p, "origin snapshot after writes in a");
	/* Writes in b and in the origin do not reach a. */
	write_text(b, tu_lookup(b, R, "big"), 0, 3 * CH, 77);
	TU_OK(cs_unlink(b, R, "small", NULL));
	write_text(fx->vol, tu_lookup(fx->vol, R, "big"), 0, 3 * CH, 78);
	mkfile_data(fx, fx->vol, R, "only-origin", 10, 79);
	expect_tree(a, a_tree.p, "clone a after writes in b and the origin");
	sb_free(&orig);
	sb_free(&a_tree);
	tu_check_recount(fx);
}

static void test_clone_create_copies_nothing_and_names_origin(void **state)
{
	struct tu_fx *fx = FX;
	build_tree(fx, fx->vol);
	snap(fx, "vol", "s");
	struct cs_snapshot_info si = sinfo(fx, "vol", "s");
	struct cs_store_stats s0 = tu_stats(fx);
	struct cs_volume_info ci;
	TU_OK(cs_clone_create(fx->st, "vol", "s", "c", NULL, &ci));
	struct cs_store_stats s1 = tu_stats(fx);
	TU_EXPECT_EQ(s1.chunks, s0.chunks, "store chunks after clone create");
	TU_EXPECT_EQ(s1.chunk_refs, s0.chunk_refs, "store chunk_refs after clone create");
	TU_EXPECT_EQ(s1.stored_bytes, s0.stored_bytes, "store stored_bytes after clone create");
	TU_EXPECT_EQ(s1.volumes, s0.volumes + 1, "store volumes after clone create");
	TU_EXPECT_STR(ci.origin, "vol@s", "clone info origin (create)");
	TU_EXPECT_STR(vinfo(fx, "c").origin, "vol@s", "clone info origin (cs_volume_get)");
	TU_EXPECT_STR(vinfo(fx, "vol").origin, "", "origin of a non-clone");
	TU_EXPECT(!memcmp(&ci.stats, &si.stats, sizeof(si.stats)),
		  "clone stats differ from its snapshot's (inodes %llu/%llu, logical %llu/%llu)",
		  (unsigned long long)ci.stats.inodes, (unsigned long long)si.stats.inodes,
		  (unsigned long long)ci.stats.logical_bytes,
		  (unsigned long long)si.stats.logical_bytes);
	TU_EXPECT_EQ(sinfo(fx, "vol", "s").clones, 1, "snapshot clones count");
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* Deleting snapshots, gc                                              */
/* ------------------------------------------------------------------ */

#define NS 8

static void test_deleting_middle_snapshots_keeps_the_others_exact(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	struct sbuf d[NS];
	memset(d, 0, sizeof(d));
	build_tree(fx, v);
	uint64_t big = tu_lookup(v, R, "big");
	for (int i = 0; i < NS; i++) {
		char n[16];
		/* Each epoch changes data, names and attributes. */
		write_text(v, big, (uint64_t)i * 20000, 30000, 600 + i);
		snprintf(n, sizeof(n), "f%d", i);
		mkfile_data(fx, v, R, n, i % 2 ? 3000 : 300, 700 + i);
		if (i > 0) {
			char o[16];
			snprintf(o, sizeof(o), "f%d", i - 1);
			if (i % 3 == 0)
				TU_OK(cs_unlink(v, R, o, NULL));
			else
				write_text(v, tu_lookup(v, R, o), 10, 5000, 800 + i);
		}
		TU_OK(cs_setxattr(v, R, "user.i", n, strlen(n), 0));
		dump_tree(v, &d[i]);
		snprintf(n, sizeof(n), "s%d", i);
		snap(fx, "vol", n);
	}
	write_text(v, big, 0, 3 * CH, 900);
	struct sbuf live = {0};
	dump_tree(v, &live);
	static const int del[] = {3, 1, 5, 6};
	int gone[NS] = {0};
	for (size_t j = 0; j < sizeof(del) / sizeof(del[0]); j++) {
		char n[16];
		snprintf(n, sizeof(n), "s%d", del[j]);
		TU_OK(cs_snapshot_delete(fx->st, "vol", n));
		gone[del[j]] = 1;
		tu_check_recount(fx);
		for (int pass = 0; pass < 2; pass++) {
			if (pass == 1) {
				struct cs_gc_stats gs;
				TU_OK(cs_gc(fx->st, &gs));
				tu_check_recount(fx);
			}
			for (int i = 0; i < NS; i++) {
				char sn[16], what[64];
				snprintf(sn, sizeof(sn), "s%d", i);
				if (gone[i]) {
					cs_vol *x = NULL;
					TU_EXPECT_RC(cs_vol_open_snapshot(fx->st, "vol", sn, &x),
						     -ENOENT);
					continue;
				}
				snprintf(what, sizeof(what), "%s after deleting s%d%s", sn, del[j],
					 pass ? " and gc" : "");
				cs_vol *s = tu_snap_open(fx, "vol", sn);
				expect_tree(s, d[i].p, what);
				tu_vol_close(fx, s);
			}
			expect_tree(v, live.p, pass ? "live after gc" : "live after delete");
		}
	}
	for (int i = 0; i < NS; i++)
		sb_free(&d[i]);
	sb_free(&live);
}

#define GC_TOTAL (20u << 20)

static void test_gc_frees_data_only_a_deleted_snapshot_held(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	size_t bs = 1u << 20;
	uint8_t *buf = tu_malloc(bs);
	struct tu_rng rng;
	tu_rng_seed(&rng, 42);
	uint64_t f = tu_mkfile(fx, v, R, "random");
	for (uint64_t off = 0; off < GC_TOTAL; off += bs) {
		tu_rng_fill(&rng, buf, bs);
		tu_write(v, f, off, buf, bs);
	}
	snap(fx, "vol", "s");
	/* Overwrite the second half; remember it to read it back. */
	struct tu_rng again = rng;
	for (uint64_t off = GC_TOTAL / 2; off < GC_TOTAL; off += bs) {
		tu_rng_fill(&rng, buf, bs);
		tu_write(v, f, off, buf, bs);
	}
	TU_OK(cs_snapshot_delete(fx->st, "vol", "s"));
	struct cs_store_stats before = tu_stats(fx);
	TU_EXPECT_EQ(before.pending_reclaim, 1, "pending_reclaim after the delete, before gc");
	TU_EXPECT(before.stored_bytes > GC_TOTAL + GC_TOTAL / 2 - GC_TOTAL / 50,
		  "before gc the store holds %llu bytes, less than 1.5 x 20 MiB",
		  (unsigned long long)before.stored_bytes);
	struct cs_gc_stats gs;
	memset(&gs, 0, sizeof(gs));
	TU_OK(cs_gc(fx->st, &gs));
	struct cs_store_stats after = tu_stats(fx);
	TU_EXPECT_EQ(after.pending_reclaim, 0, "pending_reclaim after gc");
	uint64_t half_chunks = GC_TOTAL / 2 / CH;
	TU_EXPECT_EQ(gs.chunks_freed, half_chunks, "gc chunks_freed");
	TU_EXPECT(gs.versions_freed >= half_chunks, "gc versions_freed %llu < %llu",
		  (unsigned long long)gs.versions_freed, (unsigned long long)half_chunks);
	TU_EXPECT(gs.bytes_freed >= GC_TOTAL / 2 && gs.bytes_freed <= GC_TOTAL / 2 + GC_TOTAL / 40,
		  "gc bytes_freed %llu not ~10 MiB", (unsigned long long)gs.bytes_freed);
	TU_EXPECT_EQ(before.stored_bytes - after.stored_bytes, gs.bytes_freed,
		     "store stored_bytes drop vs gc bytes_freed");
	TU_EXPECT_EQ(before.chunks - after.chunks, gs.chunks_freed,
		     "store chunks drop vs gc chunks_freed");
	struct cs_volume_info vi;
	TU_OK(cs_vol_info(v, &vi));
	/* Chunks are stored without trailing zeros: raw may be a little less. */
	TU_EXPECT(vi.stats.raw_bytes <= GC_TOTAL && vi.stats.raw_bytes + 4096 > GC_TOTAL,
		  "volume raw_bytes %llu not ~20 MiB", (unsigned long long)vi.stats.raw_bytes);
	uint64_t need = vi.stats.stored_bytes;
	TU_EXPECT(after.stored_bytes <= need + need / 20 && after.stored_bytes + need / 20 >= need,
		  "store stored_bytes %llu not within 5%% of the live volume's %llu",
		  (unsigned long long)after.stored_bytes, (unsigned long long)need);
	TU_EXPECT(after.stored_bytes <= GC_TOTAL + GC_TOTAL / 20,
		  "store stored_bytes %llu more than 5%% above the 20 MiB live",
		  (unsigned long long)after.stored_bytes);
	/* The live data still reads back. */
	struct tu_rng first;
	tu_rng_seed(&first, 42);
	for (uint64_t off = 0; off < GC_TOTAL; off += bs) {
		tu_rng_fill(off < GC_TOTAL / 2 ? &first : &again, buf, bs);
		tu_read_expect(v, f, off, buf, bs);
	}
	tu_free(buf);
	tu_check_recount(fx);
}

/* Bytes the store's database and chunk files take on disk. */
static uint64_t db_disk_bytes(struct tu_fx *fx)
{
	return tu_disk_bytes(fx, "db", NULL) + tu_disk_bytes(fx, "chunks", NULL);
}

/* Deleting most of the store's data and running gc gives the disk space
 * back (chunk files mostly garbage have their live chunks moved and go),
 * and what is left reads back. */
static void test_gc_gives_disk_space_of_deleted_chunks_back(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	size_t bs = 1u << 20;
	uint8_t *buf = tu_malloc(bs);
	struct tu_rng rng;
	uint64_t a = tu_mkfile(fx, v, R, "a"), b = tu_mkfile(fx, v, R, "b"), orphan = 0;
	uint64_t na = 0, nb = 0;

	/* 96 MiB interleaved, a quarter to "b", so blob files hold both */
	tu_rng_seed(&rng, 7);
	for (int i = 0; i < 96; i++) {
		tu_rng_fill(&rng, buf, bs);
		if (i % 4 == 0)
			tu_write(v, b, bs * nb++, buf, bs);
		else
			tu_write(v, a, bs * na++, buf, bs);
	}
	TU_OK(cs_vol_sync(v));
	uint64_t before = db_disk_bytes(fx);
	TU_EXPECT(before >= (90u << 20), "the store takes %llu bytes, less than the 96 MiB written",
		  (unsigned long long)before);
	TU_OK(cs_unlink(v, R, "a", &orphan));
	TU_EXPECT_EQ(orphan, a, "unlink of the last name reports the inode");
	TU_OK(cs_orphan_release(v, orphan)); /* nobody holds it open */
	struct cs_gc_stats gs;
	TU_OK(cs_gc(fx->st, &gs));
	TU_EXPECT(cs_gc_wanted(fx->st), "72 MiB deleted of 96: compaction due");
	TU_EXPECT_EQ(cs_gc_compact(fx->st), 1, "cs_gc_compact compacted");
	TU_EXPECT(!cs_gc_wanted(fx->st), "no compaction due right after one");
	TU_EXPECT_EQ(cs_gc_compact(fx->st), 0, "cs_gc_compact with nothing due");
	uint64_t after = db_disk_bytes(fx);
	TU_EXPECT(after <= before / 2, "after deleting 72 of 96 MiB and gc the store takes %llu "
		  "bytes (before %llu)", (unsigned long long)after, (unsigned long long)before);
	tu_rng_seed(&rng, 7);
	for (int i = 0; i < 96; i++) {
		tu_rng_fill(&rng, buf, bs);
		if (i % 4 == 0)
			tu_read_expect(v, b, bs * (uint64_t)(i / 4), buf, bs);
	}
	tu_free(buf);
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* Snapshot list and used_bytes                                        */
/* ------------------------------------------------------------------ */

static void test_snapshot_list_is_oldest_first(void **state)
{
	struct tu_fx *fx = FX;
	static const char *names[] = {"zeta", "alpha", "mid", "beta"};
	for (int i = 0; i < 4; i++) {
		mkfile_data(fx, fx->vol, R, names[i], 10, (uint64_t)i);
		snap(fx, "vol", names[i]);
	}
	struct cs_snapshot_info *l = NULL;
	size_t n = 0;
	TU_OK(cs_snapshot_list(fx->st, "vol", &l, &n));
	int ok = n == 4;
	for (size_t i = 0; ok && i < n; i++)
		ok = !strcmp(l[i].name, names[i]) && (i == 0 || l[i].epoch > l[i - 1].epoch);
	char seen[2048] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s", i ? "," : "",
			 l[i].name);
	free(l);
	TU_EXPECT(ok, "snapshot list order\n  expected: zeta,alpha,mid,beta\n  seen:     %s", seen);
	TU_OK(cs_snapshot_list(fx->st, "vol", &l, &n)); /* stays the same after a rename */
	free(l);
	TU_OK(cs_snapshot_rename(fx->st, "vol", "alpha", "aaa"));
	TU_OK(cs_snapshot_list(fx->st, "vol", &l, &n));
	int renamed_ok = n == 4 && !strcmp(l[1].name, "aaa");
	free(l);
	TU_EXPECT(renamed_ok, "renamed snapshot lost its place in the list");
}

static void test_used_bytes_is_what_deleting_frees(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	size_t len = 1u << 20;
	uint8_t *buf = tu_malloc(len);
	struct tu_rng rng;
	tu_rng_seed(&rng, 7);
	tu_rng_fill(&rng, buf, len);
	uint64_t f = tu_mkfile(fx, v, R, "f");
	tu_write(v, f, 0, buf, len);
	mkfile_data(fx, v, R, "text", 5 * CH, 8); /* shared by everything */
	struct cs_volume_info vi0;
	TU_OK(cs_vol_info(v, &vi0));
	snap(fx, "vol", "s1");
	TU_EXPECT_EQ(sinfo(fx, "vol", "s1").used_bytes, 0,
		     "used_bytes of a snapshot sharing everything with the live volume");
	/* Overwrite f: its old data is held by s1 alone. */
	tu_rng_fill(&rng, buf, len);
	tu_write(v, f, 0, buf, len);
	snap(fx, "vol", "s2");
	struct cs_snapshot_info s1 = sinfo(fx, "vol", "s1"), s2 = sinfo(fx, "vol", "s2");
	TU_EXPECT_EQ(s2.used_bytes, 0, "used_bytes of s2 (shares everything with live)");
	uint64_t old_f = vi0.stats.stored_bytes; /* f's old data + text */
	TU_EXPECT(s1.used_bytes > len - len / 100 && s1.used_bytes < old_f,
		  "used_bytes of s1 %llu not ~ the stored size of f's old data (1 MiB random; "
		  "volume stored %llu)",
		  (unsigned long long)s1.used_bytes, (unsigned long long)old_f);
	TU_OK(cs_snapshot_delete(fx->st, "vol", "s1"));
	struct cs_gc_stats gs;
	TU_OK(cs_gc(fx->st, &gs));
	TU_EXPECT_EQ(gs.bytes_freed, s1.used_bytes, "gc bytes_freed vs s1's used_bytes");
	TU_EXPECT_EQ(gs.chunks_freed, len / CH, "gc chunks_freed");
	TU_EXPECT_EQ(sinfo(fx, "vol", "s2").used_bytes, 0, "s2 used_bytes after s1 went");
	tu_free(buf);
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* Rollback                                                           */
/* ------------------------------------------------------------------ */

static void test_rollback_restores_tree_and_data_exactly(void **state)
{
	struct tu_fx *fx = FX;
	build_tree(fx, fx->vol);
	struct sbuf before = {0};
	dump_tree(fx->vol, &before);
	snap(fx, "vol", "s1");
	mutate_tree(fx, fx->vol);
	tu_vol_close(fx, fx->vol);
	TU_OK(cs_rollback(fx->st, "vol", "s1", 0));
	fx->vol = tu_vol_open(fx, "vol", 0);
	expect_tree(fx->vol, before.p, "live volume after rollback");
	tu_check_recount(fx);
	struct cs_volume_info vi = vinfo(fx, "vol");
	struct cs_snapshot_info si = sinfo(fx, "vol", "s1");
	TU_EXPECT(!memcmp(&vi.stats, &si.stats, sizeof(si.stats)),
		  "volume stats after rollback differ from the snapshot's (stored %llu vs %llu)",
		  (unsigned long long)vi.stats.stored_bytes,
		  (unsigned long long)si.stats.stored_bytes);
	/* Changes after a rollback do not touch the snapshot. */
	mutate_tree(fx, fx->vol);
	expect_tree(tu_snap_open(fx, "vol", "s1"), before.p, "snapshot after rollback + changes");
	tu_check_recount(fx);
	sb_free(&before);
}

static void test_rollback_with_later_snapshots_gives_eexist_naming_them(void **state)
{
	struct tu_fx *fx = FX;
	mkfile_data(fx, fx->vol, R, "a", 10, 1);
	snap(fx, "vol", "s1");
	mkfile_data(fx, fx->vol, R, "b", 10, 2);
	snap(fx, "vol", "later-one");
	snap(fx, "vol", "later-two");
	tu_vol_close(fx, fx->vol);
	TU_EXPECT_RC(cs_rollback(fx->st, "vol", "s1", 0), -EEXIST);
	const char *m = cs_last_error();
	TU_EXPECT(strstr(m, "later-one") && strstr(m, "later-two"),
		  "message does not name the later snapshots: \"%s\"", m);
	TU_EXPECT_EQ(vinfo(fx, "vol").snapshots, 3, "snapshots after a refused rollback");
	cs_vol *v = tu_vol_open(fx, "vol", 0);
	struct cs_attr a;
	TU_OK(cs_lookup(v, R, "b", &a));
}

static void test_rollback_destroy_later_deletes_later_snapshots(void **state)
{
	struct tu_fx *fx = FX;
	mkfile_data(fx, fx->vol, R, "a", 10, 1);
	snap(fx, "vol", "s0");
	mkfile_data(fx, fx->vol, R, "a2", 10, 1);
	snap(fx, "vol", "s1");
	mkfile_data(fx, fx->vol, R, "b", 100000, 2);
	snap(fx, "vol", "s2");
	mkfile_data(fx, fx->vol, R, "c", 100000, 3);
	snap(fx, "vol", "s3");
	tu_vol_close(fx, fx->vol);
	TU_OK(cs_rollback(fx->st, "vol", "s1", 1));
	struct cs_snapshot_info *l = NULL;
	size_t n = 0;
	TU_OK(cs_snapshot_list(fx->st, "vol", &l, &n));
	int ok = n == 2 && !strcmp(l[0].name, "s0") && !strcmp(l[1].name, "s1");
	free(l);
	TU_EXPECT(ok, "snapshots after rollback -r\n  expected: s0,s1\n  seen:     %zu of them", n);
	cs_vol *x = NULL;
	TU_EXPECT_RC(cs_vol_open_snapshot(fx->st, "vol", "s2", &x), -ENOENT);
	TU_EXPECT_RC(cs_vol_open_snapshot(fx->st, "vol", "s3", &x), -ENOENT);
	TU_EXPECT_EQ(tu_stats(fx).snapshots, 2, "store snapshots");
	cs_vol *v = tu_vol_open(fx, "vol", 0);
	struct cs_attr a;
	TU_OK(cs_lookup(v, R, "a2", &a));
	TU_EXPECT_RC(cs_lookup(v, R, "b", &a), -ENOENT);
	TU_EXPECT_RC(cs_lookup(v, R, "c", &a), -ENOENT);
	tu_check_recount(fx);
	TU_OK(cs_gc(fx->st, NULL));
	tu_check_recount(fx);
	/* The name of a destroyed snapshot can be used again. */
	snap(fx, "vol", "s2");
}

static void test_rollback_of_open_volume_gives_ebusy(void **state)
{
	struct tu_fx *fx = FX;
	mkfile_data(fx, fx->vol, R, "a", 10, 1);
	snap(fx, "vol", "s1");
	mkfile_data(fx, fx->vol, R, "b", 10, 1);
	TU_EXPECT_RC(cs_rollback(fx->st, "vol", "s1", 0), -EBUSY);
	tu_vol_close(fx, fx->vol);
	cs_vol *ro = tu_vol_open(fx, "vol", CS_VOL_RDONLY);
	TU_EXPECT_RC(cs_rollback(fx->st, "vol", "s1", 0), -EBUSY);
	tu_vol_close(fx, ro);
	cs_vol *sv = tu_snap_open(fx, "vol", "s1");
	TU_EXPECT_RC(cs_rollback(fx->st, "vol", "s1", 0), -EBUSY);
	tu_vol_close(fx, sv);
	cs_vol *v = tu_vol_open(fx, "vol", 0);
	struct cs_attr a;
	TU_OK(cs_lookup(v, R, "b", &a)); /* nothing rolled back */
	tu_vol_close(fx, v);
	TU_OK(cs_rollback(fx->st, "vol", "s1", 0));
}

static void test_rollback_past_a_cloned_snapshot_gives_ebusy(void **state)
{
	struct tu_fx *fx = FX;
	mkfile_data(fx, fx->vol, R, "a", 10, 1);
	snap(fx, "vol", "s1");
	mkfile_data(fx, fx->vol, R, "b", 10, 1);
	snap(fx, "vol", "s2");
	TU_OK(cs_clone_create(fx->st, "vol", "s2", "clone-of-s2", NULL, NULL));
	tu_vol_close(fx, fx->vol);
	TU_EXPECT_RC(cs_rollback(fx->st, "vol", "s1", 1), -EBUSY);
	TU_EXPECT(strstr(cs_last_error(), "clone-of-s2") != NULL,
		  "message does not name the clone: \"%s\"", cs_last_error());
	TU_EXPECT_EQ(vinfo(fx, "vol").snapshots, 2, "snapshots after a refused rollback");
	cs_vol *c = tu_vol_open(fx, "clone-of-s2", CS_VOL_RDONLY);
	struct cs_attr a;
	TU_OK(cs_lookup(c, R, "b", &a));
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* cs_diff                                                            */
/* ------------------------------------------------------------------ */

struct change {
	int c;
	char path[256], newpath[256];
	int seen;
};

struct diffctx {
	struct change got[64];
	int n;
	int overflow;
};

static int diff_fn(void *ctx, int change, const char *path, const char *newpath)
{
	struct diffctx *d = ctx;
	if (d->n >= 64) {
		d->overflow = 1;
		return 0;
	}
	struct change *c = &d->got[d->n++];
	c->c = change;
	snprintf(c->path, sizeof(c->path), "%s", path ? path : "(null)");
	snprintf(c->newpath, sizeof(c->newpath), "%s", newpath ? newpath : "");
	return 0;
}

/* Every expected change reported exactly once; nothing else but 'M' on a
 * directory in @dirs. */
static void expect_changes_at(const struct diffctx *d, const struct change *want, int nwant,
			      const char *const *dirs, const char *what, int line)
{
	char seen[4096] = "";
	for (int i = 0; i < d->n; i++)
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s(%c %s%s%s)",
			 i ? " " : "", d->got[i].c, d->got[i].path,
			 d->got[i].newpath[0] ? " -> " : "", d->got[i].newpath);
	char exp[4096] = "";
	for (int i = 0; i < nwant; i++)
		snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%s(%c %s%s%s)",
			 i ? " " : "", want[i].c, want[i].path, want[i].newpath[0] ? " -> " : "",
			 want[i].newpath);
	TU_EXPECT(!d->overflow, "%s: too many changes reported", what);
	for (int i = 0; i < nwant; i++) {
		int k = 0;
		for (int j = 0; j < d->n; j++)
			if (d->got[j].c == want[i].c && !strcmp(d->got[j].path, want[i].path) &&
			    !strcmp(d->got[j].newpath, want[i].newpath))
				k++;
		if (k != 1)
			fail_msg("line %d: %s: change (%c %s%s%s) reported %d times (want 1)\n  "
				 "expected: %s (+ 'M' on changed dirs)\n  seen:     %s",
				 line, what, want[i].c, want[i].path,
				 want[i].newpath[0] ? " -> " : "", want[i].newpath, k, exp, seen);
	}
	for (int j = 0; j < d->n; j++) {
		int ok = 0;
		for (int i = 0; i < nwant && !ok; i++)
			ok = d->got[j].c == want[i].c && !strcmp(d->got[j].path, want[i].path) &&
			     !strcmp(d->got[j].newpath, want[i].newpath);
		for (int i = 0; dirs[i] && !ok; i++)
			ok = d->got[j].c == 'M' && !strcmp(d->got[j].path, dirs[i]);
		if (!ok)
			fail_msg(
			    "line %d: %s: unexpected change (%c %s%s%s)\n  expected: %s (+ 'M' "
			    "on changed dirs)\n  seen:     %s",
			    line, what, d->got[j].c, d->got[j].path,
			    d->got[j].newpath[0] ? " -> " : "", d->got[j].newpath, exp, seen);
	}
	/* Directories at most once each. */
	for (int i = 0; dirs[i]; i++) {
		int k = 0;
		for (int j = 0; j < d->n; j++)
			k += d->got[j].c == 'M' && !strcmp(d->got[j].path, dirs[i]);
		TU_EXPECT(k <= 1, "%s: directory %s reported modified %d times\n  seen: %s", what,
			  dirs[i], k, seen);
	}
}
#define expect_changes(d, w, nw, dirs, what)                                                       \
	expect_changes_at((d), (w), (nw), (dirs), (what), __LINE__)

/* The base for the diff tests: files to change, delete, rename, keep. */
static void diff_base(struct tu_fx *fx, cs_vol *v)
{
	uint64_t d1 = tu_mkdir(fx, v, R, "d1");
	tu_mkdir(fx, v, d1, "sub");
	mkfile_data(fx, v, R, "same", 100, 1);
	mkfile_data(fx, v, R, "old", 100, 2);
	mkfile_data(fx, v, R, "mod", 3 * CH, 3);
	mkfile_data(fx, v, R, "chm", 10, 4);
	mkfile_data(fx, v, R, "ren", 5000, 5);
	mkfile_data(fx, v, d1, "deep", 10, 6);
	mkfile_data(fx, v, d1, "xat", 10, 7);
}

static void test_diff_between_two_snapshots_reports_every_file_change(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	diff_base(fx, v);
	snap(fx, "vol", "a");
	uint64_t d1 = tu_lookup(v, R, "d1");
	mkfile_data(fx, v, R, "new", 10, 10);
	mkfile_data(fx, v, tu_lookup(v, d1, "sub"), "new2", 100000, 11);
	TU_OK(cs_unlink(v, R, "old", NULL));
	write_text(v, tu_lookup(v, R, "mod"), CH - 10, 20, 12);
	struct cs_attr a;
	memset(&a, 0, sizeof(a));
	a.mode = 0600;
	TU_OK(cs_setattr(v, tu_lookup(v, R, "chm"), &a, CS_SET_MODE, NULL));
	TU_OK(cs_rename(v, R, "ren", d1, "renamed", 0, NULL));
	TU_OK(cs_setxattr(v, tu_lookup(v, d1, "xat"), "user.k", "v", 1, 0));
	snap(fx, "vol", "b");
	/* After b: must not show in a..b. */
	mkfile_data(fx, v, R, "after-b", 10, 13);
	TU_OK(cs_unlink(v, R, "same", NULL));
	static const struct change want[] = {
	    {'+', "/new", "", 0},    {'+', "/d1/sub/new2", "", 0}, {'-', "/old", "", 0},
	    {'M', "/mod", "", 0},    {'M', "/chm", "", 0},	   {'R', "/ren", "/d1/renamed", 0},
	    {'M', "/d1/xat", "", 0},
	};
	static const char *const dirs[] = {"/", "/d1", "/d1/sub", NULL};
	struct diffctx d;
	memset(&d, 0, sizeof(d));
	TU_OK(cs_diff(fx->st, "vol", "a", "b", diff_fn, &d));
	expect_changes(&d, want, (int)(sizeof(want) / sizeof(want[0])), dirs, "diff a..b");
}

static void test_diff_snapshot_to_live_reports_every_file_change(void **state)
{
	struct tu_fx *fx = FX;
	cs_vol *v = fx->vol;
	diff_base(fx, v);
	snap(fx, "vol", "a");
	uint64_t d1 = tu_lookup(v, R, "d1");
	TU_OK(cs_unlink(v, d1, "deep", NULL));
	mkfile_data(fx, v, d1, "fresh", 3000, 20);
	TU_OK(cs_rename(v, R, "mod", R, "mod2", 0, NULL));
	set_size(v, tu_lookup(v, R, "chm"), 5);
	static const struct change want[] = {
	    {'-', "/d1/deep", "", 0},
	    {'+', "/d1/fresh", "", 0},
	    {'R', "/mod", "/mod2", 0},
	    {'M', "/chm", "", 0},
	};
	static const char *const dirs[] = {"/", "/d1", NULL};
	struct diffctx d;
	memset(&d, 0, sizeof(d));
	TU_OK(cs_diff(fx->st, "vol", "a", NULL, diff_fn, &d));
	expect_changes(&d, want, (int)(sizeof(want) / sizeof(want[0])), dirs, "diff a..live");
	/* No change at all: nothing but possibly nothing. */
	snap(fx, "vol", "b");
	memset(&d, 0, sizeof(d));
	TU_OK(cs_diff(fx->st, "vol", "b", NULL, diff_fn, &d));
	static const char *const none[] = {NULL};
	expect_changes(&d, want, 0, none, "diff b..live with no change");
}

static void test_diff_rejects_bad_ranges_and_same_is_empty(void **state)
{
	struct tu_fx *fx = FX;
	snap(fx, "vol", "a");
	mkfile_data(fx, fx->vol, R, "x", 1, 1);
	snap(fx, "vol", "b");
	struct diffctx d;
	memset(&d, 0, sizeof(d));
	TU_EXPECT_RC(cs_diff(fx->st, "vol", "b", "a", diff_fn, &d), -EINVAL);
	TU_EXPECT_RC(cs_diff(fx->st, "vol", "a", "a", diff_fn, &d), 0);
	TU_EXPECT_EQ(d.n, 0, "changes between a snapshot and itself");
	TU_EXPECT_RC(cs_diff(fx->st, "vol", "nope", "b", diff_fn, &d), -ENOENT);
	TU_EXPECT_RC(cs_diff(fx->st, "vol", "a", "nope", diff_fn, &d), -ENOENT);
	TU_EXPECT_RC(cs_diff(fx->st, "novol", "a", NULL, diff_fn, &d), -ENOENT);
}

/* ------------------------------------------------------------------ */
/* Bad input                                                          */
/* ------------------------------------------------------------------ */

static void test_unknown_snapshot_gives_enoent(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_snapshot_info si;
	cs_vol *x = NULL;
	snap(fx, "vol", "real");
	TU_EXPECT_RC(cs_snapshot_get(fx->st, "vol", "nope", &si), -ENOENT);
	TU_EXPECT_RC(cs_snapshot_delete(fx->st, "vol", "nope"), -ENOENT);
	TU_EXPECT_RC(cs_snapshot_rename(fx->st, "vol", "nope", "x"), -ENOENT);
	TU_EXPECT_RC(cs_vol_open_snapshot(fx->st, "vol", "nope", &x), -ENOENT);
	TU_EXPECT_RC(cs_clone_create(fx->st, "vol", "nope", "c", NULL, NULL), -ENOENT);
	TU_EXPECT_RC(cs_rollback(fx->st, "vol", "nope", 1), -ENOENT);
	TU_EXPECT_RC(cs_snapshot_create(fx->st, "novol", "s", NULL), -ENOENT);
	TU_EXPECT_RC(cs_snapshot_get(fx->st, "novol", "real", &si), -ENOENT);
	TU_EXPECT_RC(cs_vol_open_snapshot(fx->st, "novol", "real", &x), -ENOENT);
	struct cs_snapshot_info *l = NULL;
	size_t n = 7;
	TU_EXPECT_RC(cs_snapshot_list(fx->st, "novol", &l, &n), -ENOENT);
	TU_EXPECT(l == NULL, "list of a missing volume returned an array");
	TU_EXPECT_RC(cs_clone_create(fx->st, "novol", "real", "c", NULL, NULL), -ENOENT);
	TU_EXPECT_EQ(tu_stats(fx).volumes, 1, "volumes after refused clone creates");
}

static void test_duplicate_snapshot_name_gives_eexist(void **state)
{
	struct tu_fx *fx = FX;
	snap(fx, "vol", "s");
	mkfile_data(fx, fx->vol, R, "x", 10, 1);
	struct cs_snapshot_info before = sinfo(fx, "vol", "s");
	TU_EXPECT_RC(cs_snapshot_create(fx->st, "vol", "s", NULL), -EEXIST);
	struct cs_snapshot_info after = sinfo(fx, "vol", "s");
	TU_EXPECT_EQ(after.epoch, before.epoch, "epoch of the existing snapshot");
	TU_EXPECT_EQ(vinfo(fx, "vol").snapshots, 1, "snapshots");
	/* The same name on another volume is fine. */
	TU_OK(cs_volume_create(fx->st, "other", NULL, 0, 0, NULL));
	snap(fx, "other", "s");
}

static void test_at_sign_in_names_gives_einval(void **state)
{
	struct tu_fx *fx = FX;
	TU_EXPECT_RC(cs_volume_create(fx->st, "a@b", NULL, 0, 0, NULL), -EINVAL);
	TU_EXPECT_RC(cs_volume_create(fx->st, "@", NULL, 0, 0, NULL), -EINVAL);
	TU_EXPECT_RC(cs_snapshot_create(fx->st, "vol", "s@x", NULL), -EINVAL);
	TU_EXPECT_RC(cs_snapshot_create(fx->st, "vol", "@", NULL), -EINVAL);
	snap(fx, "vol", "s");
	TU_EXPECT_RC(cs_snapshot_rename(fx->st, "vol", "s", "t@u"), -EINVAL);
	TU_EXPECT_RC(cs_clone_create(fx->st, "vol", "s", "c@d", NULL, NULL), -EINVAL);
	TU_EXPECT_RC(cs_volume_rename(fx->st, "vol", "v@w"), -EINVAL);
	TU_EXPECT_RC(cs_snapshot_create(fx->st, "vol", "", NULL), -EINVAL);
	TU_EXPECT_RC(cs_snapshot_create(fx->st, "vol", "a/b", NULL), -EINVAL);
	TU_EXPECT_EQ(tu_stats(fx).volumes, 1, "volumes");
	TU_EXPECT_EQ(tu_stats(fx).snapshots, 1, "snapshots");
}

static void test_deleting_a_cloned_snapshot_gives_ebusy_naming_the_clone(void **state)
{
	struct tu_fx *fx = FX;
	snap(fx, "vol", "s");
	TU_OK(cs_clone_create(fx->st, "vol", "s", "the-clone", NULL, NULL));
	TU_EXPECT_RC(cs_snapshot_delete(fx->st, "vol", "s"), -EBUSY);
	TU_EXPECT(strstr(cs_last_error(), "the-clone") != NULL,
		  "message does not name the clone: \"%s\"", cs_last_error());
	TU_OK(cs_volume_delete(fx->st, "the-clone"));
	TU_OK(cs_snapshot_delete(fx->st, "vol", "s"));
	tu_check_recount(fx);
}

static void test_deleting_a_volume_whose_snapshot_has_clones_gives_ebusy(void **state)
{
	struct tu_fx *fx = FX;
	mkfile_data(fx, fx->vol, R, "f", 3 * CH, 1);
	snap(fx, "vol", "s");
	TU_OK(cs_clone_create(fx->st, "vol", "s", "the-clone", NULL, NULL));
	tu_vol_close(fx, fx->vol);
	TU_EXPECT_RC(cs_volume_delete(fx->st, "vol"), -EBUSY);
	TU_EXPECT(strstr(cs_last_error(), "the-clone") != NULL,
		  "message does not name the clone: \"%s\"", cs_last_error());
	cs_vol *c = tu_vol_open(fx, "the-clone", CS_VOL_RDONLY);
	uint8_t *b = tu_malloc(3 * CH);
	tu_fill_text(b, 3 * CH, 1);
	tu_read_expect(c, tu_lookup(c, R, "f"), 0, b, 3 * CH);
	tu_free(b);
	tu_vol_close(fx, c);
	TU_OK(cs_volume_delete(fx->st, "the-clone"));
	TU_OK(cs_volume_delete(fx->st, "vol"));
	struct cs_store_stats s = tu_stats(fx);
	TU_EXPECT_EQ(s.volumes, 0, "volumes");
	TU_EXPECT_EQ(s.snapshots, 0, "snapshots");
	TU_EXPECT_EQ(s.chunks, 0, "chunks");
	tu_check_recount(fx);
}

static void test_snapshot_rename_to_existing_name_gives_eexist(void **state)
{
	struct tu_fx *fx = FX;
	mkfile_data(fx, fx->vol, R, "one", 10, 1);
	snap(fx, "vol", "a");
	mkfile_data(fx, fx->vol, R, "two", 10, 2);
	snap(fx, "vol", "b");
	TU_EXPECT_RC(cs_snapshot_rename(fx->st, "vol", "a", "b"), -EEXIST);
	struct cs_attr at;
	cs_vol *s = tu_snap_open(fx, "vol", "a");
	TU_EXPECT_RC(cs_lookup(s, R, "two", &at), -ENOENT);
	tu_vol_close(fx, s);
	/* A rename that works: the new name shows the same tree. */
	TU_OK(cs_snapshot_rename(fx->st, "vol", "a", "c"));
	cs_vol *x = NULL;
	TU_EXPECT_RC(cs_vol_open_snapshot(fx->st, "vol", "a", &x), -ENOENT);
	s = tu_snap_open(fx, "vol", "c");
	TU_OK(cs_lookup(s, R, "one", &at));
	TU_EXPECT_RC(cs_lookup(s, R, "two", &at), -ENOENT);
	TU_EXPECT_RC(cs_snapshot_rename(fx->st, "vol", "c", "d"), -EBUSY); /* open */
	tu_vol_close(fx, s);
}

static void test_promote_of_a_non_clone_gives_einval(void **state)
{
	struct tu_fx *fx = FX;
	tu_vol_close(fx, fx->vol);
	TU_EXPECT_RC(cs_clone_promote(fx->st, "vol"), -EINVAL);
	TU_EXPECT_RC(cs_clone_promote(fx->st, "novol"), -ENOENT);
}

static void test_promoted_clone_outlives_its_origin_snapshot(void **state)
{
	struct tu_fx *fx = FX;
	build_tree(fx, fx->vol);
	snap(fx, "vol", "s");
	TU_OK(cs_clone_create(fx->st, "vol", "s", "c", NULL, NULL));
	cs_vol *c = tu_vol_open(fx, "c", 0);
	write_text(c, tu_lookup(c, R, "big"), 1000, 5000, 50);
	mkfile_data(fx, c, R, "clone-only", 3 * CH, 51);
	struct sbuf want = {0};
	dump_tree(c, &want);
	TU_EXPECT_RC(cs_clone_promote(fx->st, "c"), -EBUSY); /* open */
	tu_vol_close(fx, c);
	/* Origin changes after the snapshot must not matter. */
	mutate_tree(fx, fx->vol);
	TU_OK(cs_clone_promote(fx->st, "c"));
	TU_EXPECT_STR(vinfo(fx, "c").origin, "", "origin after promote");
	TU_EXPECT_EQ(sinfo(fx, "vol", "s").clones, 0, "clones of the origin after promote");
	tu_check_recount(fx);
	TU_OK(cs_snapshot_delete(fx->st, "vol", "s"));
	TU_OK(cs_gc(fx->st, NULL));
	tu_check_recount(fx);
	c = tu_vol_open(fx, "c", CS_VOL_RDONLY);
	expect_tree(c, want.p, "promoted clone after its origin snapshot went");
	tu_vol_close(fx, c);
	tu_vol_close(fx, fx->vol);
	TU_OK(cs_volume_delete(fx->st, "vol"));
	tu_check_recount(fx);
	c = tu_vol_open(fx, "c", 0);
	expect_tree(c, want.p, "promoted clone after its origin volume went");
	write_text(c, tu_lookup(c, R, "big"), 0, 2 * CH, 52); /* still writable */
	sb_free(&want);
	tu_check_recount(fx);
}

/* ------------------------------------------------------------------ */
/* Crash safety                                                       */
/* ------------------------------------------------------------------ */

/* Self-describing contents: 8 bytes of version, then text of that
 * version. Big files span chunks; small ones are inline. */
static size_t crash_len(uint64_t k, int big)
{
	return big ? 70000 + (size_t)(k * 7919 % 150000) : 20 + (size_t)(k * 31 % 1500);
}

static void crash_fill(uint8_t *b, uint64_t k, int big)
{
	size_t len = crash_len(k, big);
	memcpy(b, &k, 8);
	tu_fill_text(b + 8, len - 8, k * 2 + (uint64_t)big);
}

static int child_fail(const char *what, int rc)
{
	fprintf(stderr, "crash child: %s: %s (%s)\n", what, tu_errname(rc), cs_last_error());
	_exit(3);
}

/* Put version @k into @name whole: write a temporary file, rename it
 * over (one atomic batch), so @name always holds one whole version. */
static void child_put(cs_vol *v, const char *name, uint64_t k, int big, uint8_t *buf)
{
	struct cs_attr a;
	struct cs_cred cr = {0, 0};
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	int rc = cs_unlink(v, R, tmp, NULL);
	if (rc && rc != -ENOENT)
		child_fail("unlink tmp", rc);
	if ((rc = cs_mknod(v, R, tmp, S_IFREG | 0644, 0, &cr, &a)))
		child_fail("mknod", rc);
	crash_fill(buf, k, big);
	size_t len = crash_len(k, big);
	ssize_t n = cs_write(v, a.ino, 0, buf, len);
	if (n != (ssize_t)len)
		child_fail("write", (int)n);
	if ((rc = cs_rename(v, R, tmp, R, name, 0, NULL)))
		child_fail("rename", rc);
}

/* --child-crash DIR FD: loop snapshot / clone / rollback / gc until killed. */
static int child_crash(const char *dir, int fd)
{
	cs_store *st = NULL;
	int rc = cs_store_open(dir, 0, &st);
	if (rc)
		child_fail("open", rc);
	uint8_t *buf = malloc(300000);
	cs_vol *v = NULL;
	if ((rc = cs_vol_open(st, "vol", 0, &v)))
		child_fail("vol open", rc);
	struct cs_volume_info vi;
	cs_volume_get(st, "vol", &vi);
	uint64_t base = (uint64_t)getpid() * 100000; /* unique version numbers */
	for (uint64_t i = 1;; i++) {
		uint64_t k = base + i;
		char sn[32], cn[32], on[32];
		child_put(v, "f", k, 1, buf);
		child_put(v, "g", k, 0, buf);
		snprintf(sn, sizeof(sn), "s%llu", (unsigned long long)k);
		if ((rc = cs_snapshot_create(st, "vol", sn, NULL)))
			child_fail("snapshot create", rc);
		/* Change live again so that the snapshot differs from it. */
		child_put(v, "f", k + 50000, 1, buf);
		if (i % 3 == 0) {
			cs_vol *c = NULL;
			snprintf(cn, sizeof(cn), "c%llu", (unsigned long long)k);
			if ((rc = cs_clone_create(st, "vol", sn, cn, NULL, NULL)))
				child_fail("clone create", rc);
			if ((rc = cs_vol_open(st, cn, 0, &c)))
				child_fail("clone open", rc);
			child_put(c, "f", k + 70000, 1, buf);
			cs_vol_close(c);
		}
		/* Keep the last 4 snapshots: drop older ones (and their clones). */
		if (i > 4) {
			uint64_t o = k - 4;
			snprintf(on, sizeof(on), "s%llu", (unsigned long long)o);
			snprintf(cn, sizeof(cn), "c%llu", (unsigned long long)o);
			rc = cs_volume_delete(st, cn);
			if (rc && rc != -ENOENT)
				child_fail("clone delete", rc);
			rc = cs_snapshot_delete(st, "vol", on);
			if (rc && rc != -ENOENT)
				child_fail("snapshot delete", rc);
		}
		if (i % 4 == 2) { /* roll back to the previous snapshot */
			cs_vol_close(v);
			v = NULL;
			snprintf(on, sizeof(on), "s%llu", (unsigned long long)(k - 1));
			rc = cs_rollback(st, "vol", on, 1);
			if (rc == -EBUSY) /* a later snapshot has a clone */
				rc = cs_rollback(st, "vol", sn, 0);
			if (rc && rc != -ENOENT)
				child_fail("rollback", rc);
			if ((rc = cs_vol_open(st, "vol", 0, &v)))
				child_fail("vol reopen", rc);
		}
		if (i % 2 == 1 && (rc = cs_gc(st, NULL)))
			child_fail("gc", rc);
		if ((rc = cs_store_sync(st)))
			child_fail("sync", rc);
		if (i == 2) {
			char c = 'R';
			if (write(fd, &c, 1) != 1)
				_exit(4);
		}
	}
	return 0;
}

/* The file @name in @v holds one whole version (or is absent). */
static void crash_check_file(cs_vol *v, const char *name, int big, const char *where)
{
	struct cs_attr a;
	int rc = cs_lookup(v, R, name, &a);
	if (rc == -ENOENT)
		return;
	TU_OK(rc);
	TU_EXPECT(a.size >= 8 && a.size < 300000, "%s/%s: size %llu", where, name,
		  (unsigned long long)a.size);
	uint8_t *got = tu_malloc(a.size), *want = tu_malloc(300000);
	TU_EXPECT_RC(cs_read(v, a.ino, 0, got, a.size), a.size);
	uint64_t k;
	memcpy(&k, got, 8);
	size_t len = crash_len(k, big);
	TU_EXPECT(len == a.size, "%s/%s: version %llu should be %zu bytes, is %llu", where, name,
		  (unsigned long long)k, len, (unsigned long long)a.size);
	crash_fill(want, k, big);
	TU_EXPECT(!memcmp(got, want, len), "%s/%s: content is not version %llu", where, name,
		  (unsigned long long)k);
	tu_free(got);
	tu_free(want);
}

static void crash_check_store(struct tu_fx *fx, const char *round)
{
	tu_check_recount(fx);
	struct cs_volume_info *vl = NULL;
	size_t nv = 0;
	TU_OK(cs_volume_list(fx->st, &vl, &nv));
	struct cs_volume_info *vols = tu_malloc((nv ? nv : 1) * sizeof(*vols));
	if (nv)
		memcpy(vols, vl, nv * sizeof(*vols));
	free(vl);
	for (size_t i = 0; i < nv; i++) {
		char where[300];
		cs_vol *v = tu_vol_open(fx, vols[i].name, CS_VOL_RDONLY);
		snprintf(where, sizeof(where), "%s: live %s", round, vols[i].name);
		crash_check_file(v, "f", 1, where);
		crash_check_file(v, "g", 0, where);
		tu_vol_close(fx, v);
		struct cs_snapshot_info *sl = NULL;
		size_t ns = 0;
		TU_OK(cs_snapshot_list(fx->st, vols[i].name, &sl, &ns));
		struct cs_snapshot_info *snaps = tu_malloc((ns ? ns : 1) * sizeof(*snaps));
		if (ns)
			memcpy(snaps, sl, ns * sizeof(*snaps));
		free(sl);
		for (size_t j = 0; j < ns; j++) {
			snprintf(where, sizeof(where), "%s: %s@%s", round, vols[i].name,
				 snaps[j].name);
			cs_vol *s = tu_snap_open(fx, vols[i].name, snaps[j].name);
			crash_check_file(s, "f", 1, where);
			crash_check_file(s, "g", 0, where);
			tu_vol_close(fx, s);
		}
		tu_free(snaps);
	}
	tu_free(vols);
}

static void test_sigkill_during_snapshot_work_leaves_store_consistent(void **state)
{
	struct tu_fx *fx = FX;
	uint8_t *buf = tu_malloc(300000);
	child_put(fx->vol, "f", 1, 1, buf);
	child_put(fx->vol, "g", 1, 0, buf);
	tu_free(buf);
	tu_store_close(fx);
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	for (int round = 0; round < 3; round++) {
		int p[2];
		TU_EXPECT(pipe(p) == 0, "pipe");
		char fdarg[16];
		snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
		char *args[] = {"self", "--child-crash", fx->dir, fdarg, NULL};
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			execv("/proc/self/exe", args);
			_exit(127);
		}
		close(p[1]);
		TU_EXPECT(pid > 0, "fork");
		char c = 0;
		ssize_t k;
		do
			k = read(p[0], &c, 1);
		while (k < 0 && errno == EINTR);
		close(p[0]);
		unsigned delay = (unsigned)(rand_r(&seed) % 300000);
		usleep(delay);
		kill(pid, SIGKILL);
		int st = 0;
		waitpid(pid, &st, 0);
		TU_EXPECT(k == 1 && c == 'R',
			  "round %d: child did not report ready (status 0x%x: exit %d)", round, st,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		TU_EXPECT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
			  "round %d: child not killed by SIGKILL (status 0x%x, exit %d)", round, st,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		int rc = cs_store_open(fx->dir, 0, &fx->st);
		if (rc)
			fail_msg(
			    "round %d (kill after %u us): reopen\n  expected: 0\n  seen:     %s "
			    "(\"%s\")",
			    round, delay, tu_errname(rc), cs_last_error());
		char rname[64];
		snprintf(rname, sizeof(rname), "round %d (kill after %u us)", round, delay);
		crash_check_store(fx, rname);
		TU_OK(cs_gc(fx->st, NULL));
		crash_check_store(fx, rname);
		tu_store_close(fx);
	}
	TU_OK(cs_store_open(fx->dir, 0, &fx->st));
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "--child-crash"))
		return child_crash(argv[2], atoi(argv[3]));
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_snapshot_view_equals_tree_at_snapshot_time),
	    T(test_live_volume_shows_changes_after_snapshot),
	    T(test_snapshot_view_survives_store_reopen),
	    T(test_snapshot_view_rejects_every_change_with_erofs),
	    T(test_snapshot_create_copies_no_chunks),
	    T(test_snapshot_info_fields),
	    T(test_chain_of_50_snapshots_each_reads_its_version),
	    T(test_clones_10_deep_each_reads_its_level),
	    T(test_clone_writes_stay_out_of_origin_and_siblings),
	    T(test_clone_create_copies_nothing_and_names_origin),
	    T(test_deleting_middle_snapshots_keeps_the_others_exact),
	    T(test_gc_frees_data_only_a_deleted_snapshot_held),
	    T(test_gc_gives_disk_space_of_deleted_chunks_back),
	    T(test_snapshot_list_is_oldest_first),
	    T(test_used_bytes_is_what_deleting_frees),
	    T(test_rollback_restores_tree_and_data_exactly),
	    T(test_rollback_with_later_snapshots_gives_eexist_naming_them),
	    T(test_rollback_destroy_later_deletes_later_snapshots),
	    T(test_rollback_of_open_volume_gives_ebusy),
	    T(test_rollback_past_a_cloned_snapshot_gives_ebusy),
	    T(test_diff_between_two_snapshots_reports_every_file_change),
	    T(test_diff_snapshot_to_live_reports_every_file_change),
	    T(test_diff_rejects_bad_ranges_and_same_is_empty),
	    T(test_unknown_snapshot_gives_enoent),
	    T(test_duplicate_snapshot_name_gives_eexist),
	    T(test_at_sign_in_names_gives_einval),
	    T(test_deleting_a_cloned_snapshot_gives_ebusy_naming_the_clone),
	    T(test_deleting_a_volume_whose_snapshot_has_clones_gives_ebusy),
	    T(test_snapshot_rename_to_existing_name_gives_eexist),
	    T(test_promote_of_a_non_clone_gives_einval),
	    T(test_promoted_clone_outlives_its_origin_snapshot),
	    T(test_sigkill_during_snapshot_work_leaves_store_consistent),
	};
	return cmocka_run_group_tests_name("snapshot", tests, tu_group_setup, tu_group_teardown);
}
