/*
 * crash_worker.c - one writer of the crash loop (tests/integration/test_crash.py).
 *
 *   crash_worker --dir DIR --journal FILE --id N --seed S [--seconds T]
 *
 * Works inside DIR (a directory of a cstorfs mount, created and made
 * durable by the caller) until it is killed, an operation fails or T
 * seconds pass (default 60: it always stops by itself). It creates, writes,
 * overwrites, truncates, renames (files and directories), links, unlinks,
 * makes and removes directories, and fsyncs / fdatasyncs files and
 * directories, chosen at random from seed S, and does the common "write a
 * temporary file, fsync it, rename it over the old one, fsync the
 * directory" sequence too.
 *
 * The journal. Every operation is written to FILE (outside the mount,
 * O_APPEND, one write(2) per line) twice: an intent line before the system
 * calls and a completion line after, each stamped with CLOCK_MONOTONIC, so
 * a checker knows what may have reached the store (every intent), what
 * surely did (every completion) and, across workers, which name changes an
 * fsync made durable (those completed before the fsync began). Only the
 * daemon is killed, never the machine: a line write(2) has returned is in
 * the host's page cache and survives, so the journal needs no fsync.
 *
 *   I SEQ T create PATH FID          C SEQ T RC [INO]
 *   I SEQ T write PATH FID GEN OFF LEN [O_DIRECT]
 *   I SEQ T trunc PATH FID GEN SIZE
 *   I SEQ T rename SRC DST           (a file over a file, or a directory)
 *   I SEQ T link SRC DST
 *   I SEQ T unlink PATH
 *   I SEQ T mkdir PATH               I SEQ T rmdir PATH
 *   I SEQ T fsync PATH FID           I SEQ T fdatasync PATH FID
 *   I SEQ T fsyncdir PATH            ("." is DIR itself)
 *   I SEQ T open PATH FID            I SEQ T close @fd FID
 *   E T                              stopped by itself after T seconds
 *
 * RC is 0 or -errno; the worker stops at the first failure (the daemon was
 * killed, or a bug: the checker decides by the time). PATH "@fd" is a
 * descriptor the worker keeps open (at most MAX_OPEN): writes, truncates and
 * syncs go through it too, so dirty pages wait in the kernel's cache for an
 * fsync instead of being written back at each close; "@mmap" a write through
 * a shared mapping of it. Some writes by path use O_DIRECT.
 *
 * The data. Files are written in 16-byte cells, at 16-byte aligned offsets
 * and lengths: cell i of a write of generation GEN to file FID holds FID,
 * GEN, i and a checksum of (seed, FID, GEN, i), little-endian u32 each, so
 * every cell read back names the write it came from (or is zero).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CELL 16
#define MAX_SIZE (512 * 1024) /* eight chunks */
#define MAX_DIRS 5	      /* subdirectories of DIR, one level */
#define MAX_NAMES 24
#define MAX_FILES 20
#define LEAVES 12 /* file names f0..f11 in each directory */
#define DIR_NAMES 8
#define MAX_OPEN 3 /* files kept open: their dirty pages stay in the kernel */

struct mdir {
	int used;
	char name[8];
};

struct mname {
	int used;
	int dir; /* -1: DIR itself, else an index into dirs */
	char leaf[8];
	int file;
};

struct mfile {
	int used;
	uint32_t fid;
	uint32_t gen;
	uint64_t size;
	int nlink; /* 0 with fd open: unlinked, still open */
	int fd;	   /* kept open across operations, or -1 */
};

static struct mdir dirs[MAX_DIRS];
static struct mname names[MAX_NAMES];
static struct mfile files[MAX_FILES];
static uint64_t seed, rng, seq;
static uint32_t worker_id, next_fid;
static int journal = -1;
static unsigned char *buf;

/* ---- helpers ---- */

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The checksum of a cell; test_crash.py computes the same. */
static uint32_t cell_sum(uint32_t fid, uint32_t gen, uint32_t idx)
{
	uint64_t z = seed ^ (((uint64_t)fid << 32 | gen) * 0x9e3779b97f4a7c15ULL) ^
		     ((uint64_t)idx * 0xc2b2ae3d27d4eb4fULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* Fill @len bytes (cells) of generation @gen of @fid starting at @off. */
static void fill(unsigned char *p, uint32_t fid, uint32_t gen, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i += CELL) {
		uint32_t idx = (uint32_t)((off + i) / CELL);

		put32(p + i, fid);
		put32(p + i + 4, gen);
		put32(p + i + 8, idx);
		put32(p + i + 12, cell_sum(fid, gen, idx));
	}
}

static void jwrite(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void jwrite(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line) - 1) {
		fprintf(stderr, "crash_worker: journal line too long\n");
		exit(2);
	}
	line[n++] = '\n';
	if (write(journal, line, (size_t)n) != n) {
		perror("crash_worker: journal");
		exit(2);
	}
}

/* The intent line of the next operation; returns its sequence number. */
static uint64_t intent(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static uint64_t intent(const char *fmt, ...)
{
	char what[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	seq++;
	jwrite("I %llu %llu %s", (unsigned long long)seq, (unsigned long long)now_ns(), what);
	return seq;
}

/* The completion line: @rc 0 or -errno. A failure ends the worker. */
static void done(uint64_t s, int rc, const char *extra)
{
	jwrite("C %llu %llu %d%s%s", (unsigned long long)s, (unsigned long long)now_ns(), rc,
	       extra ? " " : "", extra ? extra : "");
	if (rc) {
		fprintf(stderr, "crash_worker %u: operation %llu failed: %s\n", worker_id,
			(unsigned long long)s, strerror(-rc));
		exit(3);
	}
}

static int err(void)
{
	return -errno;
}

/* The path of name @n (relative to DIR, the working directory). */
static const char *path_of(int dir, const char *leaf, char *out, size_t len)
{
	if (dir < 0)
		snprintf(out, len, "%s", leaf);
	else
		snprintf(out, len, "%s/%s", dirs[dir].name, leaf);
	return out;
}

static const char *name_path(int n, char *out, size_t len)
{
	return path_of(names[n].dir, names[n].leaf, out, len);
}

static int find_name(int dir, const char *leaf)
{
	for (int i = 0; i < MAX_NAMES; i++)
		if (names[i].used && names[i].dir == dir && !strcmp(names[i].leaf, leaf))
			return i;
	return -1;
}

static int free_slot(void *arr, size_t size, int n)
{
	for (int i = 0; i < n; i++)
		if (!*(int *)((char *)arr + (size_t)i * size))
			return i;
	return -1;
}

static int random_name(void)
{
	int live[MAX_NAMES], n = 0;

	for (int i = 0; i < MAX_NAMES; i++)
		if (names[i].used)
			live[n++] = i;
	return n ? live[below((uint64_t)n)] : -1;
}

/* A random directory: -1 (DIR) or a live subdirectory. */
static int random_dir(void)
{
	int live[MAX_DIRS + 1], n = 0;

	live[n++] = -1;
	for (int i = 0; i < MAX_DIRS; i++)
		if (dirs[i].used)
			live[n++] = i;
	return live[below((uint64_t)n)];
}

static void random_leaf(char *leaf)
{
	snprintf(leaf, 8, "f%u", (unsigned)below(LEAVES));
}

static void drop_name(int n)
{
	struct mfile *f = &files[names[n].file];

	names[n].used = 0;
	if (--f->nlink == 0 && f->fd < 0)
		f->used = 0;
}

/* A random file kept open, or -1. */
static int random_open_file(void)
{
	int live[MAX_FILES], n = 0;

	for (int i = 0; i < MAX_FILES; i++)
		if (files[i].used && files[i].fd >= 0)
			live[n++] = i;
	return n ? live[below((uint64_t)n)] : -1;
}

static int open_count(void)
{
	int n = 0;

	for (int i = 0; i < MAX_FILES; i++)
		n += files[i].used && files[i].fd >= 0;
	return n;
}

/* ---- operations: each returns 0 done, 1 not applicable now ---- */

static int op_create(int *out_name)
{
	char leaf[8], p[32], ino[32];
	int dir = random_dir(), n = free_slot(names, sizeof(*names), MAX_NAMES);
	int fi = free_slot(files, sizeof(*files), MAX_FILES);
	struct stat st;
	uint64_t s;
	int fd, rc = 0;

	random_leaf(leaf);
	if (n < 0 || fi < 0 || find_name(dir, leaf) >= 0)
		return 1;
	files[fi] =
	    (struct mfile){.used = 1, .fid = worker_id << 20 | next_fid++, .nlink = 1, .fd = -1};
	names[n] = (struct mname){.used = 1, .dir = dir, .file = fi};
	memcpy(names[n].leaf, leaf, sizeof(leaf));
	s = intent("create %s %u", path_of(dir, leaf, p, sizeof(p)), files[fi].fid);
	fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
	if (fd < 0 || fstat(fd, &st) < 0)
		rc = err();
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = err();
	snprintf(ino, sizeof(ino), "%llu", rc ? 0ULL : (unsigned long long)st.st_ino);
	done(s, rc, ino);
	if (out_name)
		*out_name = n;
	return 0;
}

/* pwrite all of @len bytes; 0 or -errno. */
static int pwrite_all(int fd, const unsigned char *src, size_t len, uint64_t off)
{
	for (size_t done_b = 0; done_b < len;) {
		ssize_t w = pwrite(fd, src + done_b, len - done_b, (off_t)(off + done_b));

		if (w < 0)
			return err();
		if (w == 0)
			return -EIO;
		done_b += (size_t)w;
	}
	return 0;
}

/* Store @len bytes at @off through a shared mapping of @fd (within the
 * file's size); the pages are written back by a later fsync or by the
 * kernel. */
static int mmap_write(int fd, const unsigned char *src, size_t len, uint64_t off)
{
	uint64_t base = off & ~(uint64_t)4095;
	size_t maplen = (size_t)(off + len - base);
	unsigned char *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
	int rc = 0;

	if (m == MAP_FAILED)
		return err();
	memcpy(m + (off - base), src, len);
	if (munmap(m, maplen) < 0)
		rc = err();
	return rc;
}

enum write_how { BY_PATH, BY_FD, BY_MMAP, BY_DIRECT };

/* Write [off, off + len) of the file of name @n (BY_PATH: open, pwrite,
 * close; BY_DIRECT: the same with O_DIRECT), or of file @fi through its
 * kept descriptor (@n -1; BY_FD: pwrite, BY_MMAP: a shared mapping). */
static int write_range(int n, int fi, enum write_how how, uint64_t off, size_t len)
{
	static const char *const how_name[] = {"", "@fd", "@mmap", ""};
	struct mfile *f = &files[n >= 0 ? names[n].file : fi];
	char p[32];
	uint64_t s;
	int fd = f->fd, rc = 0;

	f->gen++;
	if (n >= 0)
		name_path(n, p, sizeof(p));
	else
		snprintf(p, sizeof(p), "%s", how_name[how]);
	s = intent("write %s %u %u %llu %zu%s", p, f->fid, f->gen, (unsigned long long)off, len,
		   how == BY_DIRECT ? " O_DIRECT" : "");
	fill(buf, f->fid, f->gen, off, len);
	if (n >= 0)
		fd = open(p, O_WRONLY | (how == BY_DIRECT ? O_DIRECT : 0));
	if (fd < 0)
		rc = err();
	else if (how == BY_MMAP)
		rc = mmap_write(fd, buf, len, off);
	else
		rc = pwrite_all(fd, buf, len, off);
	if (n >= 0 && fd >= 0 && close(fd) < 0 && !rc)
		rc = err();
	done(s, rc, NULL);
	if (off + len > f->size)
		f->size = off + len;
	return 0;
}

static int op_write(void)
{
	int n = random_name(), fi = random_open_file();
	uint64_t size, off, len, k = below(10);
	enum write_how how = below(8) ? BY_PATH : BY_DIRECT;

	if (fi >= 0 && below(2)) {
		n = -1; /* through a kept descriptor */
		how = below(4) ? BY_FD : BY_MMAP;
	} else if (n < 0) {
		return 1;
	}
	size = files[n >= 0 ? names[n].file : fi].size;
	if (k < 5)
		len = CELL * (1 + below(256)); /* up to 4 KiB: the write buffer */
	else if (k < 8)
		len = CELL * (1 + below(4096)); /* up to 64 KiB */
	else
		len = CELL * (1 + below(12288)); /* up to 192 KiB: whole chunks */
	off = below(10) < 3 ? size : CELL * below((size + 65536) / CELL + 1); /* appends too */
	if (off + len > MAX_SIZE)
		off = (MAX_SIZE - len) / CELL * CELL;
	if (how == BY_MMAP && off + len > size)
		how = BY_FD; /* a mapping cannot grow the file */
	return write_range(n, fi, how, off, len);
}

static int op_trunc(void)
{
	int n = random_name(), fi = random_open_file(), fd, rc = 0, how = (int)below(3);
	char p[32] = "@fd";
	struct mfile *f;
	uint64_t size, s;

	if (fi >= 0 && how == 2)
		n = -1; /* ftruncate on a kept descriptor */
	else if (n < 0)
		return 1;
	f = &files[n >= 0 ? names[n].file : fi];
	size = below(3) ? CELL * below(f->size / CELL + 1) : CELL * below(MAX_SIZE / CELL + 1);
	f->gen++;
	if (n >= 0)
		name_path(n, p, sizeof(p));
	s = intent("trunc %s %u %u %llu", p, f->fid, f->gen, (unsigned long long)size);
	if (n < 0) {
		if (ftruncate(f->fd, (off_t)size) < 0)
			rc = err();
	} else if (how == 0) {
		if (truncate(p, (off_t)size) < 0)
			rc = err();
	} else {
		fd = open(p, O_WRONLY);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
			rc = err();
		if (fd >= 0 && close(fd) < 0 && !rc)
			rc = err();
	}
	done(s, rc, NULL);
	f->size = size;
	return 0;
}

/* Keep a descriptor open on the file of a random name. */
static int op_open(void)
{
	int n = random_name(), fd;
	struct mfile *f;
	char p[32];
	uint64_t s;

	if (n < 0 || open_count() >= MAX_OPEN || files[names[n].file].fd >= 0)
		return 1;
	f = &files[names[n].file];
	s = intent("open %s %u", name_path(n, p, sizeof(p)), f->fid);
	fd = open(p, O_RDWR | O_CLOEXEC);
	done(s, fd < 0 ? err() : 0, NULL);
	f->fd = fd;
	return 0;
}

static int op_close(void)
{
	int fi = random_open_file();
	struct mfile *f;
	uint64_t s;

	if (fi < 0)
		return 1;
	f = &files[fi];
	s = intent("close @fd %u", f->fid);
	done(s, close(f->fd) < 0 ? err() : 0, NULL);
	f->fd = -1;
	if (f->nlink == 0)
		f->used = 0;
	return 0;
}

/* Rename name @n to (@dir, @leaf); replaces a file there. */
static int rename_to(int n, int dir, const char *leaf)
{
	char p[32], q[32];
	int t = find_name(dir, leaf);
	uint64_t s;

	if (t == n || (t >= 0 && names[t].file == names[n].file))
		return 1; /* the same file: rename does nothing */
	s = intent("rename %s %s", name_path(n, p, sizeof(p)), path_of(dir, leaf, q, sizeof(q)));
	done(s, rename(p, q) < 0 ? err() : 0, NULL);
	if (t >= 0)
		drop_name(t);
	names[n].dir = dir;
	snprintf(names[n].leaf, sizeof(names[n].leaf), "%s", leaf);
	return 0;
}

static int op_rename(void)
{
	int n = random_name();
	char leaf[8];

	if (n < 0)
		return 1;
	random_leaf(leaf);
	return rename_to(n, random_dir(), leaf);
}

static int op_link(void)
{
	int n = random_name(), m = free_slot(names, sizeof(*names), MAX_NAMES);
	int dir = random_dir();
	char leaf[8], p[32], q[32];
	uint64_t s;

	random_leaf(leaf);
	if (n < 0 || m < 0 || find_name(dir, leaf) >= 0)
		return 1;
	s = intent("link %s %s", name_path(n, p, sizeof(p)), path_of(dir, leaf, q, sizeof(q)));
	done(s, link(p, q) < 0 ? err() : 0, NULL);
	names[m] = (struct mname){.used = 1, .dir = dir, .file = names[n].file};
	memcpy(names[m].leaf, leaf, sizeof(leaf));
	files[names[n].file].nlink++;
	return 0;
}

static int op_unlink(void)
{
	int n = random_name();
	char p[32];
	uint64_t s;

	if (n < 0)
		return 1;
	s = intent("unlink %s", name_path(n, p, sizeof(p)));
	done(s, unlink(p) < 0 ? err() : 0, NULL);
	drop_name(n);
	return 0;
}

static int dir_name_used(const char *name)
{
	for (int i = 0; i < MAX_DIRS; i++)
		if (dirs[i].used && !strcmp(dirs[i].name, name))
			return 1;
	return 0;
}

static int op_mkdir(void)
{
	int d = free_slot(dirs, sizeof(*dirs), MAX_DIRS);
	char name[8];
	uint64_t s;

	snprintf(name, sizeof(name), "d%u", (unsigned)below(DIR_NAMES));
	if (d < 0 || dir_name_used(name))
		return 1;
	s = intent("mkdir %s", name);
	done(s, mkdir(name, 0755) < 0 ? err() : 0, NULL);
	dirs[d].used = 1;
	memcpy(dirs[d].name, name, sizeof(name));
	return 0;
}

static int op_rmdir(void)
{
	int d = random_dir();
	uint64_t s;

	if (d < 0)
		return 1;
	for (int i = 0; i < MAX_NAMES; i++)
		if (names[i].used && names[i].dir == d)
			return 1;
	s = intent("rmdir %s", dirs[d].name);
	done(s, rmdir(dirs[d].name) < 0 ? err() : 0, NULL);
	dirs[d].used = 0;
	return 0;
}

static int op_rename_dir(void)
{
	int d = random_dir();
	char name[8];
	uint64_t s;

	snprintf(name, sizeof(name), "d%u", (unsigned)below(DIR_NAMES));
	if (d < 0 || dir_name_used(name))
		return 1;
	s = intent("rename %s %s", dirs[d].name, name);
	done(s, rename(dirs[d].name, name) < 0 ? err() : 0, NULL);
	memcpy(dirs[d].name, name, sizeof(name));
	return 0;
}

/* fsync or fdatasync the file of name @n (opened for it), or the file @fi
 * through its kept descriptor when @n is -1. */
static int sync_file(int n, int fi, int data_only)
{
	struct mfile *f = &files[n >= 0 ? names[n].file : fi];
	char p[32] = "@fd";
	uint64_t s;
	int fd = f->fd, rc = 0;

	if (n >= 0)
		name_path(n, p, sizeof(p));
	s = intent("%s %s %u", data_only ? "fdatasync" : "fsync", p, f->fid);
	if (n >= 0)
		fd = open(p, below(2) ? O_RDONLY : O_WRONLY);
	if (fd < 0 || (data_only ? fdatasync(fd) : fsync(fd)) < 0)
		rc = err();
	if (n >= 0 && fd >= 0 && close(fd) < 0 && !rc)
		rc = err();
	done(s, rc, NULL);
	return 0;
}

static int op_fsync(int data_only)
{
	int n = random_name(), fi = random_open_file();

	if (fi >= 0 && below(2))
		return sync_file(-1, fi, data_only);
	return n < 0 ? 1 : sync_file(n, -1, data_only);
}

static int sync_dir(int d)
{
	const char *p = d < 0 ? "." : dirs[d].name;
	uint64_t s = intent("fsyncdir %s", p);
	int fd = open(p, O_RDONLY | O_DIRECTORY), rc = 0;

	if (fd < 0 || fsync(fd) < 0)
		rc = err();
	if (fd >= 0 && close(fd) < 0 && !rc)
		rc = err();
	done(s, rc, NULL);
	return 0;
}

/* Write a new file whole, fsync it, rename it over a name in the same
 * directory, fsync the directory: an update that is either old or new. */
static int op_replace(void)
{
	int n, target = random_name();
	uint64_t len = CELL * (1 + below(8192));
	char leaf[8];

	if (target < 0 || op_create(&n))
		return 1;
	write_range(n, -1, BY_PATH, 0, len);
	sync_file(n, -1, (int)below(2));
	if (names[target].dir == names[n].dir) {
		snprintf(leaf, sizeof(leaf), "%s", names[target].leaf);
	} else {
		random_leaf(leaf);
	}
	rename_to(n, names[n].dir, leaf);
	sync_dir(names[n].dir);
	return 0;
}

static int step(void)
{
	uint64_t k = below(100);

	if (k < 28)
		return op_write();
	if (k < 33)
		return op_trunc();
	if (k < 41)
		return op_create(NULL);
	if (k < 48)
		return op_rename();
	if (k < 52)
		return op_link();
	if (k < 58)
		return op_unlink();
	if (k < 61)
		return op_mkdir();
	if (k < 63)
		return op_rmdir();
	if (k < 64)
		return op_rename_dir();
	if (k < 67)
		return op_open();
	if (k < 69)
		return op_close();
	if (k < 80)
		return op_fsync(0);
	if (k < 85)
		return op_fsync(1);
	if (k < 90)
		return sync_dir(random_dir());
	return op_replace();
}

static void usage(void)
{
	fprintf(stderr, "usage: crash_worker --dir DIR --journal FILE --id N --seed S "
			"[--seconds T]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *jpath = NULL;
	double seconds = 60;
	uint64_t end;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dir"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--journal"))
			jpath = argv[i + 1];
		else if (!strcmp(argv[i], "--id"))
			worker_id = (uint32_t)strtoul(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = strtod(argv[i + 1], NULL);
		else
			usage();
	}
	if (argc % 2 == 0 || !dir || !jpath || worker_id >= 4096 || seconds <= 0)
		usage();
	rng = seed ^ ((uint64_t)worker_id << 48);
	buf = malloc(MAX_SIZE);
	journal = open(jpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (!buf || journal < 0 || chdir(dir) < 0) {
		perror("crash_worker: setup");
		return 2;
	}
	end = now_ns() + (uint64_t)(seconds * 1e9);
	while (now_ns() < end)
		step();
	jwrite("E %llu", (unsigned long long)now_ns());
	return 0;
}
