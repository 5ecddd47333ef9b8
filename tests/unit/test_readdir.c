/*
 * test_readdir.c - directory listing: ".", "..", creation order, resuming
 * at offsets, and a large directory changing while it is listed.
 */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define FX (*(struct tu_fx **)state)
#define R CS_ROOT_INO

struct ent {
	char name[CS_NAME_MAX + 1];
	uint64_t ino;
	uint32_t type;
	uint64_t next;
};

struct listing {
	struct ent *e;
	size_t n, cap;
	size_t stop_after; /* 0: never stop */
};

static int collect(void *ctx, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct listing *l = ctx;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->e = realloc(l->e, l->cap * sizeof(*l->e));
		if (!l->e)
			abort();
	}
	struct ent *e = &l->e[l->n++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->ino = ino;
	e->type = type;
	e->next = next;
	return l->stop_after && l->n >= l->stop_after;
}

static void list_from(cs_vol *v, uint64_t dir, uint64_t off, struct listing *l)
{
	int rc = cs_readdir(v, dir, off, collect, l);
	if (rc != 0) {
		tu_free(l->e);
		l->e = NULL;
		TU_OK(rc);
	}
}

static void test_empty_dir_lists_dot_and_dotdot(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "d");
	struct listing l = {0};
	list_from(fx->vol, d, 0, &l);
	size_t n = l.n;
	struct ent e0 = n > 0 ? l.e[0] : (struct ent){0};
	struct ent e1 = n > 1 ? l.e[1] : (struct ent){0};
	tu_free(l.e);
	TU_EXPECT_EQ(n, 2, "entries in an empty directory");
	TU_EXPECT_STR(e0.name, ".", "first entry");
	TU_EXPECT_EQ(e0.ino, d, "ino of .");
	TU_EXPECT_EQ(e0.type, S_IFDIR, "type of .");
	TU_EXPECT_STR(e1.name, "..", "second entry");
	TU_EXPECT_EQ(e1.ino, R, "ino of ..");
	TU_EXPECT_EQ(e1.type, S_IFDIR, "type of ..");
	/* The root's ".." is the root. */
	memset(&l, 0, sizeof(l));
	list_from(fx->vol, R, 0, &l);
	n = l.n;
	e1 = n > 1 ? l.e[1] : (struct ent){0};
	tu_free(l.e);
	TU_EXPECT_EQ(n, 3, "entries in root (., .., d)");
	TU_EXPECT_EQ(e1.ino, R, "root's .. ino");
}

static void test_entries_come_in_creation_order_with_types(void **state)
{
	struct tu_fx *fx = FX;
	struct cs_attr a;
	/* Names chosen so that creation order is neither sorted nor the
	 * reverse. */
	const char *names[] = {"m", "zz", "a", "file.txt", "B", "dir", "lnk", "fifo", "sock", "0"};
	uint64_t inos[10];
	uint32_t types[10];
	for (int i = 0; i < 10; i++) {
		if (!strcmp(names[i], "dir")) {
			TU_OK(cs_mkdir(fx->vol, R, names[i], 0755, &fx->cred, &a));
		} else if (!strcmp(names[i], "lnk")) {
			TU_OK(cs_symlink(fx->vol, R, names[i], "m", &fx->cred, &a));
		} else if (!strcmp(names[i], "fifo")) {
			TU_OK(cs_mknod(fx->vol, R, names[i], S_IFIFO | 0644, 0, &fx->cred, &a));
		} else if (!strcmp(names[i], "sock")) {
			TU_OK(cs_mknod(fx->vol, R, names[i], S_IFSOCK | 0644, 0, &fx->cred, &a));
		} else {
			TU_OK(cs_mknod(fx->vol, R, names[i], S_IFREG | 0644, 0, &fx->cred, &a));
		}
		inos[i] = a.ino;
		types[i] = a.mode & S_IFMT;
	}
	for (int pass = 0; pass < 2; pass++) {
		struct listing l = {0};
		list_from(fx->vol, R, 0, &l);
		char msg[700] = "";
		size_t n = l.n;
		int ok = n == 12;
		for (int i = 0; ok && i < 10; i++) {
			struct ent *e = &l.e[i + 2];
			if (strcmp(e->name, names[i]) || e->ino != inos[i] || e->type != types[i]) {
				snprintf(msg, sizeof(msg),
					 "entry %d: expected %s ino %llu type 0%o"
					 ", seen %s ino %llu type 0%o",
					 i + 2, names[i], (unsigned long long)inos[i], types[i],
					 e->name, (unsigned long long)e->ino, e->type);
				ok = 0;
			}
		}
		tu_free(l.e);
		TU_EXPECT_EQ(n, 12, "entries listed");
		TU_EXPECT(ok, "%s", msg);
		tu_store_reopen(fx, 1); /* the order survives a reopen */
	}

	/* Removing keeps the others' order; re-creating goes last. */
	TU_OK(cs_unlink(fx->vol, R, "zz", NULL));
	TU_OK(cs_mknod(fx->vol, R, "zz", 0644, 0, &fx->cred, &a));
	struct listing l = {0};
	list_from(fx->vol, R, 0, &l);
	size_t n = l.n;
	char last[CS_NAME_MAX + 1] = "", third[CS_NAME_MAX + 1] = "";
	if (n == 12) {
		snprintf(last, sizeof(last), "%s", l.e[11].name);
		snprintf(third, sizeof(third), "%s", l.e[3].name);
	}
	tu_free(l.e);
	TU_EXPECT_EQ(n, 12, "entries after re-creating zz");
	TU_EXPECT_STR(last, "zz", "re-created entry comes last");
	TU_EXPECT_STR(third, "a", "entry after m once zz moved");
}

static void test_offsets_resume_after_each_entry(void **state)
{
	struct tu_fx *fx = FX;
	for (int i = 0; i < 50; i++) {
		char n[32];
		snprintf(n, sizeof(n), "entry-%02d", (i * 37) % 50);
		tu_mkfile(fx, fx->vol, R, n);
	}
	struct listing all = {0};
	list_from(fx->vol, R, 0, &all);
	TU_EXPECT_EQ(all.n, 52, "entries listed");
	for (size_t k = 0; k < all.n; k++) {
		struct listing rest = {0};
		int rc = cs_readdir(fx->vol, R, all.e[k].next, collect, &rest);
		int ok = rc == 0 && rest.n == all.n - k - 1;
		for (size_t i = 0; ok && i < rest.n; i++)
			ok = !strcmp(rest.e[i].name, all.e[k + 1 + i].name) &&
			     rest.e[i].next == all.e[k + 1 + i].next;
		size_t rn = rest.n;
		tu_free(rest.e);
		if (!ok) {
			tu_free(all.e);
			TU_OK(rc);
			fail_msg("resume after entry %zu: expected the %zu "
				 "entries that follow it, seen %zu (or other "
				 "names)",
				 k, (size_t)(52 - k - 1), rn);
		}
	}
	/* Stopping early: fn returns non-zero, readdir returns 0. */
	struct listing part = {.stop_after = 5};
	int rc = cs_readdir(fx->vol, R, 0, collect, &part);
	size_t pn = part.n;
	int same = pn == 5 && !strcmp(part.e[4].name, all.e[4].name);
	tu_free(part.e);
	tu_free(all.e);
	TU_OK(rc);
	TU_EXPECT_EQ(pn, 5, "entries seen before stopping");
	TU_EXPECT(same, "stopped listing differs from the full one");
}

static void test_readdir_errors(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t f = tu_mkfile(fx, fx->vol, R, "f");
	struct listing l = {0};
	TU_EXPECT_RC(cs_readdir(fx->vol, f, 0, collect, &l), -ENOTDIR);
	TU_EXPECT_RC(cs_readdir(fx->vol, 999999, 0, collect, &l), -ENOENT);
	tu_free(l.e);
	TU_EXPECT_EQ(l.n, 0, "callbacks on error");
}

/*
 * A directory of N entries listed in pages of PAGE while entries are
 * removed and added between pages. Every entry present during the whole
 * listing must be seen exactly once; removed and added ones at most once.
 */
#define BIG_N 100000
#define PAGE 2000

static void big_name(char *buf, size_t n, char tag, unsigned i)
{
	snprintf(buf, n, "%c%06u", tag, i);
}

static int parse_big(const char *name, char *tag, unsigned *i)
{
	if ((name[0] != 'e' && name[0] != 'n') || strlen(name) != 7)
		return -1;
	*tag = name[0];
	*i = (unsigned)strtoul(name + 1, NULL, 10);
	return 0;
}

struct big_ctx {
	uint8_t *seen_e; /* count per original entry */
	uint8_t *seen_n; /* count per added entry */
	unsigned added;
	unsigned dots;
	unsigned unknown;
	unsigned in_page;
	uint64_t next;
	int done;
};

static int big_cb(void *ctx, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct big_ctx *c = ctx;
	char tag;
	unsigned i;
	c->next = next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		c->dots++;
	else if (parse_big(name, &tag, &i) != 0 || (tag == 'e' ? i >= BIG_N : i >= c->added))
		c->unknown++;
	else if (tag == 'e')
		c->seen_e[i]++;
	else
		c->seen_n[i]++;
	return ++c->in_page >= PAGE;
}

/* Removed during the listing: every 7th entry, the lowest and highest
 * first so both already-listed and not-yet-listed ones go. */
static int big_removed(unsigned i)
{
	return i % 7 == 3;
}

static void test_large_dir_lists_each_entry_once_while_changing(void **state)
{
	struct tu_fx *fx = FX;
	uint64_t d = tu_mkdir(fx, fx->vol, R, "big");
	char name[16];
	struct cs_attr a;
	for (unsigned i = 0; i < BIG_N; i++) {
		big_name(name, sizeof(name), 'e', i);
		int rc = cs_mknod(fx->vol, d, name, 0644, 0, &fx->cred, &a);
		if (rc != 0)
			print_error("mknod %s\n", name);
		TU_OK(rc);
	}
	struct big_ctx c = {0};
	c.seen_e = tu_calloc(BIG_N);
	c.seen_n = tu_calloc(BIG_N);
	assert_non_null(c.seen_e);
	assert_non_null(c.seen_n);
	/* Removal order: alternately from the low end and the high end of
	 * the removable set. */
	unsigned lo = 3, hi = BIG_N - 1;
	while (!big_removed(hi))
		hi--;
	uint64_t off = 0;
	unsigned pages = 0;
	int err = 0;
	for (;;) {
		c.in_page = 0;
		c.next = off;
		int rc = cs_readdir(fx->vol, d, off, big_cb, &c);
		if (rc != 0) {
			err = rc;
			break;
		}
		if (c.in_page == 0)
			break;
		off = c.next;
		pages++;
		/* Change the directory between pages: remove 40, add 30. */
		for (int k = 0; k < 40 && lo <= hi; k++) {
			unsigned victim = (k % 2) ? hi : lo;
			if (k % 2)
				hi -= 7;
			else
				lo += 7;
			big_name(name, sizeof(name), 'e', victim);
			rc = cs_unlink(fx->vol, d, name, NULL);
			if (rc != 0) {
				err = rc;
				break;
			}
		}
		for (int k = 0; k < 30 && !err; k++) {
			big_name(name, sizeof(name), 'n', c.added);
			rc = cs_mknod(fx->vol, d, name, 0644, 0, &fx->cred, &a);
			if (rc != 0) {
				err = rc;
				break;
			}
			c.added++;
		}
		if (err || pages > 2 * BIG_N / PAGE + 10)
			break;
	}
	/* Check. */
	unsigned missing = 0, twice = 0, first_bad = BIG_N;
	for (unsigned i = 0; i < BIG_N; i++) {
		/* Removed: every removable i outside [lo, hi]. */
		int stable = !big_removed(i) || (i >= lo && i <= hi);
		if (c.seen_e[i] > 1) {
			twice++;
			if (first_bad == BIG_N)
				first_bad = i;
		} else if (stable && c.seen_e[i] == 0) {
			missing++;
			if (first_bad == BIG_N)
				first_bad = i;
		}
	}
	unsigned n_twice = 0;
	for (unsigned i = 0; i < c.added; i++)
		if (c.seen_n[i] > 1)
			n_twice++;
	tu_free(c.seen_e);
	tu_free(c.seen_n);
	TU_OK(err);
	TU_EXPECT(pages > 10, "listing took only %u pages", pages);
	TU_EXPECT_EQ(c.dots, 2, "\".\" and \"..\" reported");
	TU_EXPECT_EQ(c.unknown, 0, "unknown names reported");
	if (twice || missing)
		print_error("first bad entry: e%06u\n", first_bad);
	TU_EXPECT_EQ(twice, 0, "original entries reported twice");
	TU_EXPECT_EQ(missing, 0, "stable entries never reported");
	TU_EXPECT_EQ(n_twice, 0, "added entries reported twice");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_empty_dir_lists_dot_and_dotdot),
	    T(test_entries_come_in_creation_order_with_types),
	    T(test_offsets_resume_after_each_entry),
	    T(test_readdir_errors),
	    T(test_large_dir_lists_each_entry_once_while_changing),
	};
	return cmocka_run_group_tests_name("readdir", tests, tu_group_setup, tu_group_teardown);
}
