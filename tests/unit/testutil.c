/*
 * testutil.c - shared fixtures for the store library's unit tests (see
 * testutil.h). Not a test program itself: linked into every test_*.
 */
#include "testutil.h"
#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tu_root_dir[PATH_MAX];
static pid_t tu_root_owner;
static unsigned tu_seq;

static void tu_root_cleanup(void)
{
	if (tu_root_dir[0] && getpid() == tu_root_owner) {
		tu_rmrf(tu_root_dir);
		tu_root_dir[0] = '\0';
	}
}

/*
 * A helper process that removes the root once this process is gone, also
 * when it dies without running atexit handlers (a sanitizer abort, a
 * signal). It waits for EOF on a pipe whose write end only we hold.
 */
static void start_reaper(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0)
		return;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[1]);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
		for (int fd = 3; fd < 1024; fd++)
			if (fd != p[0])
				close(fd);
		char c;
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		tu_rmrf(tu_root_dir);
		_exit(0);
	}
	close(p[0]);
	/* p[1] stays open (close-on-exec) until this process ends. */
}

const char *tu_root(void)
{
	return tu_root_dir;
}

int tu_group_setup(void **state)
{
	const char *base = getenv("CS_TEST_TMP");
	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(tu_root_dir, sizeof(tu_root_dir), "%.3000s/cstorfs-unit.XXXXXX", base);
	if (!mkdtemp(tu_root_dir)) {
		print_error("mkdtemp(%s): %s\n", tu_root_dir, strerror(errno));
		tu_root_dir[0] = '\0';
		return -1;
	}
	tu_root_owner = getpid();
	atexit(tu_root_cleanup);
	start_reaper();
	return 0;
}

int tu_group_teardown(void **state)
{
	tu_root_cleanup();
	return 0;
}

void tu_new_path(char *buf, size_t len, const char *tag)
{
	snprintf(buf, len, "%.3000s/%.64s%u", tu_root_dir, tag ? tag : "p", ++tu_seq);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	if (remove(path) != 0 && errno != ENOENT)
		return -1;
	return 0;
}

int tu_rmrf(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return -errno;
	return 0;
}

static int fx_new(void **state, int with_vol)
{
	struct tu_fx *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	*state = fx;
	fx->cred.uid = 1000;
	fx->cred.gid = 1000;
	tu_new_path(fx->dir, sizeof(fx->dir), "store");
	if (mkdir(fx->dir, 0700) != 0) {
		print_error("mkdir(%s): %s\n", fx->dir, strerror(errno));
		return -1;
	}
	int rc = cs_store_open(fx->dir, CS_STORE_CREATE, &fx->st);
	if (rc != 0) {
		print_error("cs_store_open(%s, CREATE): %s (%s)\n", fx->dir, tu_errname(rc),
			    cs_last_error());
		return -1;
	}
	if (!with_vol)
		return 0;
	rc = cs_volume_create(fx->st, "vol", NULL, 0, 0, NULL);
	if (rc != 0) {
		print_error("cs_volume_create(vol): %s (%s)\n", tu_errname(rc), cs_last_error());
		return -1;
	}
	cs_vol *v = NULL;
	rc = cs_vol_open(fx->st, "vol", 0, &v);
	if (rc != 0) {
		print_error("cs_vol_open(vol): %s (%s)\n", tu_errname(rc), cs_last_error());
		return -1;
	}
	fx->vols[0] = v;
	fx->vol = v;
	return 0;
}

int tu_setup(void **state)
{
	return fx_new(state, 1);
}

int tu_setup_store(void **state)
{
	return fx_new(state, 0);
}

void tu_store_close(struct tu_fx *fx)
{
	for (int i = 0; i < TU_MAX_VOLS; i++) {
		if (fx->vols[i]) {
			cs_vol_close(fx->vols[i]);
			fx->vols[i] = NULL;
		}
	}
	fx->vol = NULL;
	cs_store_close(fx->st);
	fx->st = NULL;
}

int tu_teardown(void **state)
{
	struct tu_fx *fx = *state;
	if (!fx)
		return 0;
	tu_store_close(fx);
	if (fx->dir[0])
		tu_rmrf(fx->dir);
	tu_free_all();
	free(fx);
	*state = NULL;
	return 0;
}

cs_vol *tu_vol_open(struct tu_fx *fx, const char *name, int flags)
{
	cs_vol *v = NULL;
	int slot = -1;
	for (int i = 0; i < TU_MAX_VOLS; i++) {
		if (!fx->vols[i]) {
			slot = i;
			break;
		}
	}
	if (slot < 0)
		fail_msg("tu_vol_open: too many open handles");
	int rc = cs_vol_open(fx->st, name, flags, &v);
	if (rc != 0 || !v)
		fail_msg("cs_vol_open(%s, %d)\n  expected: 0\n  seen:     %s "
			 "(\"%s\")",
			 name, flags, tu_errname(rc), cs_last_error());
	fx->vols[slot] = v;
	return v;
}

void tu_vol_close(struct tu_fx *fx, cs_vol *v)
{
	for (int i = 0; i < TU_MAX_VOLS; i++) {
		if (fx->vols[i] == v)
			fx->vols[i] = NULL;
	}
	if (fx->vol == v)
		fx->vol = NULL;
	cs_vol_close(v);
}

void tu_store_reopen(struct tu_fx *fx, int with_vol)
{
	tu_store_close(fx);
	int rc = cs_store_open(fx->dir, 0, &fx->st);
	if (rc != 0)
		fail_msg("cs_store_open(%s) on reopen\n  expected: 0\n  seen:"
			 "     %s (\"%s\")",
			 fx->dir, tu_errname(rc), cs_last_error());
	if (with_vol)
		fx->vol = tu_vol_open(fx, "vol", 0);
}

struct cs_store_stats tu_stats(struct tu_fx *fx)
{
	struct cs_store_stats s;
	memset(&s, 0, sizeof(s));
	TU_OK(cs_store_sync(fx->st));
	TU_OK(cs_store_stats(fx->st, &s));
	return s;
}

void tu_check_recount_at(struct tu_fx *fx, const char *file, int line)
{
	struct cs_store_stats kept, re;
	memset(&kept, 0, sizeof(kept));
	memset(&re, 0xa5, sizeof(re));
	int rc = cs_store_sync(fx->st);
	if (rc == 0)
		rc = cs_store_stats(fx->st, &kept);
	if (rc != 0)
		fail_msg("%s:%d: sync/stats before recount: %s (\"%s\")", file, line,
			 tu_errname(rc), cs_last_error());
	rc = cs_store_recount(fx->st, &re);
	if (rc != 0)
		fail_msg("%s:%d: cs_store_recount\n  expected: 0\n  seen:     "
			 "%s\n  cs_last_error: \"%s\"",
			 file, line, tu_errname(rc), cs_last_error());
	struct {
		const char *name;
		uint64_t k, r;
	} f[] = {
	    {"volumes", kept.volumes, re.volumes},
	    {"chunks", kept.chunks, re.chunks},
	    {"chunk_refs", kept.chunk_refs, re.chunk_refs},
	    {"raw_bytes", kept.raw_bytes, re.raw_bytes},
	    {"stored_bytes", kept.stored_bytes, re.stored_bytes},
	    {"logical_bytes", kept.logical_bytes, re.logical_bytes},
	    {"inodes", kept.inodes, re.inodes},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].k != f[i].r)
			fail_msg("%s:%d: store %s: recount returned 0 but its "
				 "figure differs\n  expected (recount): %llu\n"
				 "  seen (kept):        %llu",
				 file, line, f[i].name, (unsigned long long)f[i].r,
				 (unsigned long long)f[i].k);
}

void tu_rng_seed(struct tu_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t tu_rng_next(struct tu_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t tu_rng_below(struct tu_rng *r, uint64_t n)
{
	return tu_rng_next(r) % n;
}

void tu_rng_fill(struct tu_rng *r, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len >= 8) {
		uint64_t x = tu_rng_next(r);
		memcpy(p, &x, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t x = tu_rng_next(r);
		memcpy(p, &x, len);
	}
}

void tu_fill_text(void *buf, size_t len, uint64_t seed)
{
	static const char *words[] = {"alpha ", "bravo ",   "charlie ", "delta ",
				      "echo ",	"foxtrot ", "golf ",	"hotel\n"};
	struct tu_rng r;
	tu_rng_seed(&r, seed);
	char *p = buf;
	size_t n = 0, line = 0;
	while (n < len) {
		char tmp[64];
		int k;
		if (tu_rng_below(&r, 8) == 0)
			k = snprintf(tmp, sizeof(tmp), "%llu:%zu ", (unsigned long long)seed,
				     line++);
		else
			k = snprintf(tmp, sizeof(tmp), "%s", words[tu_rng_below(&r, 8)]);
		for (int i = 0; i < k && n < len; i++)
			p[n++] = tmp[i];
	}
}

const char *tu_errname(long long rc)
{
	static __thread char bufs[4][64];
	static __thread unsigned turn;
	char *buf = bufs[turn++ % 4];
	if (rc >= 0) {
		snprintf(buf, 64, "%lld", rc);
		return buf;
	}
	const char *n = NULL;
	switch (-rc) {
#define E(x)                                                                                       \
	case x:                                                                                    \
		n = "-" #x;                                                                        \
		break;
		E(EPERM)
		E(ENOENT) E(EIO) E(ENXIO) E(E2BIG) E(EBADF) E(ENOMEM) E(EACCES) E(EBUSY) E(EEXIST)
		    E(EXDEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(EFBIG) E(ENOSPC) E(EROFS) E(EMLINK)
			E(ERANGE) E(ENAMETOOLONG) E(ENOTEMPTY) E(ENODATA) E(EOPNOTSUPP) E(EDQUOT)
			    E(EUCLEAN) E(ENOSYS) E(EAGAIN) E(ESTALE)
#undef E
	}
	if (n)
		snprintf(buf, 64, "%s (%lld)", n, rc);
	else
		snprintf(buf, 64, "%lld", rc);
	return buf;
}

uint64_t tu_mkfile(struct tu_fx *fx, cs_vol *v, uint64_t parent, const char *name)
{
	struct cs_attr a;
	TU_OK(cs_mknod(v, parent, name, S_IFREG | 0644, 0, &fx->cred, &a));
	return a.ino;
}

uint64_t tu_mkdir(struct tu_fx *fx, cs_vol *v, uint64_t parent, const char *name)
{
	struct cs_attr a;
	TU_OK(cs_mkdir(v, parent, name, 0755, &fx->cred, &a));
	return a.ino;
}

struct cs_attr tu_getattr(cs_vol *v, uint64_t ino)
{
	struct cs_attr a;
	memset(&a, 0, sizeof(a));
	TU_OK(cs_getattr(v, ino, &a));
	return a;
}

uint64_t tu_lookup(cs_vol *v, uint64_t parent, const char *name)
{
	struct cs_attr a;
	memset(&a, 0, sizeof(a));
	TU_OK(cs_lookup(v, parent, name, &a));
	return a.ino;
}

void tu_write(cs_vol *v, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	ssize_t n = cs_write(v, ino, off, buf, len);
	if (n != (ssize_t)len)
		fail_msg("cs_write(ino %llu, off %llu, len %zu)\n  expected: "
			 "%zu\n  seen:     %s (\"%s\")",
			 (unsigned long long)ino, (unsigned long long)off, len, len, tu_errname(n),
			 cs_last_error());
}

void tu_read_expect(cs_vol *v, uint64_t ino, uint64_t off, const void *want, size_t len)
{
	uint8_t *got = malloc(len ? len : 1);
	assert_non_null(got);
	memset(got, 0xee, len);
	ssize_t n = cs_read(v, ino, off, got, len);
	if (n != (ssize_t)len) {
		free(got);
		fail_msg("cs_read(ino %llu, off %llu, len %zu)\n  expected: %zu"
			 "\n  seen:     %s (\"%s\")",
			 (unsigned long long)ino, (unsigned long long)off, len, len, tu_errname(n),
			 cs_last_error());
	}
	const uint8_t *w = want;
	for (size_t i = 0; i < len; i++) {
		if (got[i] != w[i]) {
			unsigned g = got[i], e = w[i];
			free(got);
			fail_msg("cs_read(ino %llu, off %llu, len %zu): first "
				 "difference at file offset %llu\n  expected: "
				 "0x%02x\n  seen:     0x%02x",
				 (unsigned long long)ino, (unsigned long long)off, len,
				 (unsigned long long)(off + i), e, g);
		}
	}
	free(got);
}

void tu_read_zeros(cs_vol *v, uint64_t ino, uint64_t off, size_t len)
{
	uint8_t *got = malloc(len ? len : 1);
	assert_non_null(got);
	ssize_t n = cs_read(v, ino, off, got, len);
	int bad = -1;
	if (n == (ssize_t)len) {
		for (size_t i = 0; i < len; i++)
			if (got[i]) {
				bad = (int)i;
				break;
			}
	}
	unsigned bv = bad >= 0 ? got[bad] : 0;
	free(got);
	if (n != (ssize_t)len)
		fail_msg("cs_read(ino %llu, off %llu, len %zu) of a hole\n  "
			 "expected: %zu\n  seen:     %s (\"%s\")",
			 (unsigned long long)ino, (unsigned long long)off, len, len, tu_errname(n),
			 cs_last_error());
	if (bad >= 0)
		fail_msg("hole at ino %llu reads non-zero at file offset %llu"
			 "\n  expected: 0x00\n  seen:     0x%02x",
			 (unsigned long long)ino, (unsigned long long)(off + bad), bv);
}

int64_t tu_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return tu_ts_ns(ts);
}

int64_t tu_ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static pthread_mutex_t tu_mem_lock = PTHREAD_MUTEX_INITIALIZER;
static void **tu_mem;
static size_t tu_mem_n, tu_mem_cap;

static void *track(void *p)
{
	if (!p)
		return NULL;
	pthread_mutex_lock(&tu_mem_lock);
	if (tu_mem_n == tu_mem_cap) {
		size_t cap = tu_mem_cap ? 2 * tu_mem_cap : 64;
		void **m = realloc(tu_mem, cap * sizeof(*m));
		if (!m) {
			pthread_mutex_unlock(&tu_mem_lock);
			free(p);
			return NULL;
		}
		tu_mem = m;
		tu_mem_cap = cap;
	}
	tu_mem[tu_mem_n++] = p;
	pthread_mutex_unlock(&tu_mem_lock);
	return p;
}

void *tu_malloc(size_t n)
{
	return track(malloc(n ? n : 1));
}

void *tu_calloc(size_t n)
{
	return track(calloc(1, n ? n : 1));
}

void tu_free(void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&tu_mem_lock);
	for (size_t i = tu_mem_n; i-- > 0;) {
		if (tu_mem[i] == p) {
			tu_mem[i] = tu_mem[--tu_mem_n];
			break;
		}
	}
	pthread_mutex_unlock(&tu_mem_lock);
	free(p);
}

void tu_free_all(void)
{
	pthread_mutex_lock(&tu_mem_lock);
	for (size_t i = 0; i < tu_mem_n; i++)
		free(tu_mem[i]);
	free(tu_mem);
	tu_mem = NULL;
	tu_mem_n = tu_mem_cap = 0;
	pthread_mutex_unlock(&tu_mem_lock);
}

uint64_t tu_disk_bytes(struct tu_fx *fx, const char *sub, uint64_t *nfiles)
{
	char path[PATH_MAX];
	uint64_t total = 0, n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%.3000s/%s", fx->dir, sub);
	d = opendir(path);
	TU_EXPECT(d != NULL, "opendir %s", path);
	while ((de = readdir(d))) {
		char f[PATH_MAX + 300];
		struct stat sb;

		snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
		if (stat(f, &sb) == 0 && S_ISREG(sb.st_mode)) {
			total += (uint64_t)sb.st_blocks * 512;
			n++;
		}
	}
	closedir(d);
	if (nfiles)
		*nfiles = n;
	return total;
}
