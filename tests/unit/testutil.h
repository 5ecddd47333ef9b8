/*
 * testutil.h - shared fixtures for the store library's unit tests.
 *
 * Every test program links testutil.c. It gives:
 *  - a temporary root directory per test program (group setup/teardown:
 *    under $CS_TEST_TMP, else $TMPDIR, else /tmp; removed recursively at
 *    the end, on every path, also when the program exits early);
 *  - a fresh store per test (tu_setup: store + volume "vol" open
 *    read-write; tu_setup_store: store only), torn down by tu_teardown,
 *    which closes every tracked volume handle before the store;
 *  - a deterministic PRNG (splitmix64, fixed seeds);
 *  - assertions that print the expression, what was expected and what was
 *    seen (with errno names and cs_last_error()).
 */
#ifndef CS_TESTUTIL_H
#define CS_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <string.h>
#include <sys/types.h>

#include "cs_store.h"

#define TU_MAX_VOLS 16

struct tu_fx {
	char dir[PATH_MAX]; /* store directory */
	cs_store *st;
	cs_vol *vol;		   /* volume "vol", read-write (tu_setup) */
	cs_vol *vols[TU_MAX_VOLS]; /* every handle the fixture tracks */
	struct cs_cred cred;	   /* uid 1000, gid 1000 */
};

/* Group fixtures: the per-program temporary root. */
int tu_group_setup(void **state);
int tu_group_teardown(void **state);
const char *tu_root(void);

/* Per-test fixtures. */
int tu_setup(void **state);	  /* store + volume "vol" open rw */
int tu_setup_store(void **state); /* store only */
int tu_teardown(void **state);

/* A new, unique path under the root (not created). */
void tu_new_path(char *buf, size_t len, const char *tag);
/* Remove a tree (like rm -rf); 0 or -errno. Missing path is 0. */
int tu_rmrf(const char *path);

/* Open a volume, asserting success; the handle is tracked by @fx. */
cs_vol *tu_vol_open(struct tu_fx *fx, const char *name, int flags);
/* Close a tracked handle (and forget it). */
void tu_vol_close(struct tu_fx *fx, cs_vol *v);
/* Close every handle and the store. */
void tu_store_close(struct tu_fx *fx);
/* Open the store at fx->dir again (no CREATE); fx->vol reopened rw when
 * @with_vol. */
void tu_store_reopen(struct tu_fx *fx, int with_vol);

/* Stats after syncing (so buffered data is counted). */
struct cs_store_stats tu_stats(struct tu_fx *fx);
/* Bytes the regular files under STORE/@sub take on disk (allocated), and
 * how many there are (@nfiles may be NULL). */
uint64_t tu_disk_bytes(struct tu_fx *fx, const char *sub, uint64_t *nfiles);
/* Assert cs_store_recount returns 0 and agrees with cs_store_stats
 * (failures name the caller's line). */
void tu_check_recount_at(struct tu_fx *fx, const char *file, int line);
#define tu_check_recount(fx) tu_check_recount_at((fx), __FILE__, __LINE__)

/* PRNG: splitmix64. */
struct tu_rng {
	uint64_t s;
};
void tu_rng_seed(struct tu_rng *r, uint64_t seed);
uint64_t tu_rng_next(struct tu_rng *r);
uint64_t tu_rng_below(struct tu_rng *r, uint64_t n); /* 0..n-1, n > 0 */
void tu_rng_fill(struct tu_rng *r, void *buf, size_t len);
/* Compressible text (distinct per @seed and offset, no repeats across
 * chunks). */
void tu_fill_text(void *buf, size_t len, uint64_t seed);

/* errno name of a negative errno ("-ENOENT"), or the number as text. */
const char *tu_errname(long long rc);

/* Assertions that print expected vs seen. */
#define TU_EXPECT_RC(expr, want)                                                                   \
	do {                                                                                       \
		long long tu_rc_ = (long long)(expr);                                              \
		long long tu_want_ = (long long)(want);                                            \
		if (tu_rc_ != tu_want_)                                                            \
			fail_msg("%s:%d: %s\n  expected: %s\n  seen:     %s\n"                     \
				 "  cs_last_error: \"%s\"",                                        \
				 __FILE__, __LINE__, #expr, tu_errname(tu_want_),                  \
				 tu_errname(tu_rc_), cs_last_error());                             \
	} while (0)

#define TU_OK(expr) TU_EXPECT_RC(expr, 0)

#define TU_EXPECT_EQ(seen, want, what)                                                             \
	do {                                                                                       \
		unsigned long long tu_s_ = (unsigned long long)(seen);                             \
		unsigned long long tu_w_ = (unsigned long long)(want);                             \
		if (tu_s_ != tu_w_)                                                                \
			fail_msg("%s:%d: %s\n  expected: %llu (0x%llx)\n"                          \
				 "  seen:     %llu (0x%llx)",                                      \
				 __FILE__, __LINE__, what, tu_w_, tu_w_, tu_s_, tu_s_);            \
	} while (0)

#define TU_EXPECT_STR(seen, want, what)                                                            \
	do {                                                                                       \
		const char *tu_s_ = (seen);                                                        \
		const char *tu_w_ = (want);                                                        \
		if (strcmp(tu_s_, tu_w_) != 0)                                                     \
			fail_msg("%s:%d: %s\n  expected: \"%s\"\n"                                 \
				 "  seen:     \"%s\"",                                             \
				 __FILE__, __LINE__, what, tu_w_, tu_s_);                          \
	} while (0)

#define TU_EXPECT(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error("%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
			fail_msg(__VA_ARGS__);                                                     \
		}                                                                                  \
	} while (0)

/* Namespace helpers (assert success). */
uint64_t tu_mkfile(struct tu_fx *fx, cs_vol *v, uint64_t parent, const char *name);
uint64_t tu_mkdir(struct tu_fx *fx, cs_vol *v, uint64_t parent, const char *name);
struct cs_attr tu_getattr(cs_vol *v, uint64_t ino);
uint64_t tu_lookup(cs_vol *v, uint64_t parent, const char *name);

/* Data helpers (assert success; tu_read_expect reports the first
 * differing offset). */
void tu_write(cs_vol *v, uint64_t ino, uint64_t off, const void *buf, size_t len);
void tu_read_expect(cs_vol *v, uint64_t ino, uint64_t off, const void *want, size_t len);
/* Assert @len bytes at @off read as zeros. */
void tu_read_zeros(cs_vol *v, uint64_t ino, uint64_t off, size_t len);

/* Scratch memory freed by tu_teardown if the test fails before freeing
 * it (thread-safe). tu_free(p) also frees untracked pointers. */
void *tu_malloc(size_t n);
void *tu_calloc(size_t n);
void tu_free(void *p);
void tu_free_all(void);

/* Current time, ns. */
int64_t tu_now_ns(void);
int64_t tu_ts_ns(struct timespec ts);

#endif /* CS_TESTUTIL_H */
