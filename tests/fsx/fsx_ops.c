/*
 * fsx_ops.c - cs_fsx's operations on the real files, each checked against the model.
 *
 * Files are DIR/fsx.f0 ... fsx.fN (name slots); each inode keeps one O_RDWR descriptor,
 * opened when first needed and closed by close, reopen and the events. O_DIRECT
 * operations open their own descriptor. After every operation the touched inodes'
 * fstat size, link count and inode number and lseek(SEEK_END) are checked when they are
 * open; after a namespace change and after each event every name's stat is.
 *
 * Events close every descriptor and run their shell command (with FSX_DIR set). After
 * evict, remount and restart every name and byte must read back exactly (remount and
 * restart also make everything synced); after kill the descriptors are closed only
 * after the command, and what reads back is checked by model_crash_check().
 * Namespace changes are followed by an fsync of the directory, so after a kill the
 * names must be exactly the model's.
 */
#include "fsx.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const int fmode_flags[FM_N] = {
    0,
    FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_ZERO_RANGE,
    FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
};

static void path_of(const struct fsx *f, int slot, char *p)
{
	snprintf(p, PATH_MAX, "%s/fsx.f%d", f->dir, slot);
}

/* The inode behind an operation's name, failing when the name does not exist. */
static int inode_at(struct fsx *f, int slot)
{
	if (slot < 0 || slot >= f->nnames || f->slot[slot] < 0)
		fsx_fail(f, "name f%d does not exist (a log for other options?)", slot);
	return f->slot[slot];
}

static int name_of(const struct fsx *f, int i)
{
	int s;

	for (s = 0; s < f->nnames; s++)
		if (f->slot[s] == i)
			return s;
	return -1;
}

static int inode_fd(struct fsx *f, int i)
{
	char p[PATH_MAX];

	if (f->ino[i].fd >= 0)
		return f->ino[i].fd;
	path_of(f, name_of(f, i), p);
	f->ino[i].fd = open(p, O_RDWR);
	if (f->ino[i].fd < 0)
		fsx_fail(f, "open %s: %s", p, strerror(errno));
	return f->ino[i].fd;
}

/* Close every descriptor; after a kill their errors mean nothing (@quiet). */
static void close_all(struct fsx *f, int quiet)
{
	int i;

	for (i = 0; i < f->ninodes; i++) {
		if (f->ino[i].fd >= 0 && close(f->ino[i].fd) && !quiet)
			fsx_fail(f, "close of inode %d: %s", i, strerror(errno));
		f->ino[i].fd = -1;
	}
}

/* Note (stderr and the log) that @what failed with errno and is skipped from now on. */
static void unsupported(struct fsx *f, int *flag, const char *what)
{
	const char *why = strerror(errno);

	*flag = 1;
	fprintf(stderr, "cs_fsx: op %llu: %s: not supported here (%s); skipped from now on\n",
		f->opno, what, why);
	if (f->log)
		fprintf(f->log, "# %s: not supported (%s)\n", what, why);
}

static void check_stat(struct fsx *f, int i, const struct stat *st, const char *how)
{
	const struct fsx_inode *n = &f->ino[i];

	if (st->st_size != n->size)
		fsx_fail(f, "%s of inode %d: size %lld, expected %lld", how, i,
			 (long long)st->st_size, (long long)n->size);
	if ((int)st->st_nlink != n->nlink)
		fsx_fail(f, "%s of inode %d: %lu links, expected %d", how, i,
			 (unsigned long)st->st_nlink, n->nlink);
	if (st->st_ino != n->st_ino)
		fsx_fail(f, "%s of inode %d: inode number %lu, expected %lu", how, i,
			 (unsigned long)st->st_ino, (unsigned long)n->st_ino);
}

/* fstat and lseek(SEEK_END) of an open inode. A closed one is left alone: a stat after
 * close(2) makes the kernel write back and ask the filesystem again, which hides what
 * the next eviction would show (the stat operation and the events check names). */
static void check_inode(struct fsx *f, int i)
{
	struct fsx_inode *n = &f->ino[i];
	struct stat st;
	off_t end;

	if (n->fd < 0)
		return;
	if (fstat(n->fd, &st))
		fsx_fail(f, "fstat of inode %d: %s", i, strerror(errno));
	check_stat(f, i, &st, "fstat");
	end = lseek(n->fd, 0, SEEK_END);
	if (end != n->size)
		fsx_fail(f, "lseek(SEEK_END) of inode %d: %lld, expected %lld", i, (long long)end,
			 (long long)n->size);
}

/* Every name exists exactly when the model has it, naming the model's inode (with the
 * model's size unless a kill may have changed it: @sizes 0). */
static void check_names(struct fsx *f, int sizes)
{
	char p[PATH_MAX];
	struct stat st;
	int s, r;

	for (s = 0; s < f->nnames; s++) {
		path_of(f, s, p);
		r = lstat(p, &st);
		if (r && errno != ENOENT)
			fsx_fail(f, "stat %s: %s", p, strerror(errno));
		if (f->slot[s] < 0 && r == 0)
			fsx_fail(f, "%s exists (inode number %lu), expected no such name", p,
				 (unsigned long)st.st_ino);
		if (f->slot[s] < 0)
			continue;
		if (r)
			fsx_fail(f, "%s: no such name, expected inode %d", p, f->slot[s]);
		if (!sizes)
			st.st_size = f->ino[f->slot[s]].size;
		check_stat(f, f->slot[s], &st, p);
	}
}

/* pread (or read(2) from the current offset: @seq) until @len bytes or the end. */
static ssize_t read_full(int fd, unsigned char *p, size_t len, off_t off, int seq)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = seq ? read(fd, p + done, len - done)
			: pread(fd, p + done, len - done, off + done);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

/* Read the whole of inode @i (and one byte more, to see none is there). */
static unsigned char *read_all(struct fsx *f, int i, off_t size, const char *why)
{
	unsigned char *got = fsx_alloc(size + 1);
	ssize_t r = read_full(inode_fd(f, i), got, size + 1, 0, 0);

	if (r < 0)
		fsx_fail(f, "%s: reading inode %d: %s", why, i, strerror(errno));
	if (r != size)
		fsx_fail(f, "%s: inode %d reads %zd bytes, expected %lld", why, i, r,
			 (long long)size);
	return got;
}

static void compare_all(struct fsx *f, const char *why)
{
	unsigned char *got;
	int i;

	for (i = 0; i < f->ninodes; i++) {
		inode_fd(f, i);
		check_inode(f, i);
		got = read_all(f, i, f->ino[i].size, why);
		fsx_expect(f, why, 0, f->ino[i].buf, got, f->ino[i].size);
		free(got);
	}
}

static ssize_t mmap_io(int fd, off_t off, unsigned char *p, size_t len, int write)
{
	off_t base = off & ~(off_t)(sysconf(_SC_PAGESIZE) - 1);
	size_t maplen = off + len - base;
	unsigned char *m;
	int err = 0;

	m = mmap(NULL, maplen, PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED, fd, base);
	if (m == MAP_FAILED)
		return -1;
	if (!write)
		memcpy(p, m + (off - base), len);
	else {
		memcpy(m + (off - base), p, len);
		if (msync(m, maplen, MS_SYNC))
			err = errno;
	}
	munmap(m, maplen);
	errno = err;
	return err ? -1 : (ssize_t)len;
}

static void op_read(struct fsx *f, const struct fsx_op *op, int i)
{
	struct fsx_inode *n = &f->ino[i];
	off_t want = op->off >= n->size ? 0 : n->size - op->off;
	unsigned char *got = fsx_alloc(op->len);
	int fd = inode_fd(f, i);
	ssize_t r = 0;

	if (want > op->len)
		want = op->len;
	if (op->kind == K_PREAD)
		r = read_full(fd, got, op->len, op->off, 0);
	else if (op->kind == K_READ && lseek(fd, op->off, SEEK_SET) != op->off)
		r = -1;
	else if (op->kind == K_READ)
		r = read_full(fd, got, op->len, op->off, 1);
	else if (want > 0)
		r = mmap_io(fd, op->off, got, want, 0);
	if (r < 0)
		fsx_fail(f, "%s: %s", fsx_kind_name(op->kind), strerror(errno));
	if (r != want)
		fsx_fail(f, "%s of %lld bytes at %lld: %zd bytes, expected %lld (size %lld)",
			 fsx_kind_name(op->kind), op->len, op->off, r, (long long)want,
			 (long long)n->size);
	fsx_expect(f, fsx_kind_name(op->kind), op->off, n->buf + op->off, got, want);
	free(got);
}

/* pwritev in op->mode pieces whose sizes come from the op's seed. */
static ssize_t pwritev_split(const struct fsx_op *op, int fd, unsigned char *p)
{
	struct iovec iov[16];
	uint64_t s = op->seed ^ 0x5eed;
	long long left = op->len, cut;
	int k, n = op->mode < 1 ? 1 : op->mode > 16 ? 16 : op->mode;

	for (k = 0; k < n; k++) {
		cut = k == n - 1 ? left : (long long)(fsx_rand(&s) % (left + 1));
		iov[k] = (struct iovec){.iov_base = p + (op->len - left), .iov_len = cut};
		left -= cut;
	}
	return pwritev(fd, iov, n, op->off);
}

static void op_write(struct fsx *f, const struct fsx_op *op, int i)
{
	unsigned char *data = fsx_alloc(op->len);
	int fd = inode_fd(f, i);
	ssize_t r = -1;

	fsx_fill(data, op->len, op->fill, op->seed);
	if (op->kind == K_PWRITE)
		r = pwrite(fd, data, op->len, op->off);
	else if (op->kind == K_PWRITEV)
		r = pwritev_split(op, fd, data);
	else if (op->kind == K_WRITE && lseek(fd, op->off, SEEK_SET) == op->off)
		r = write(fd, data, op->len);
	else if (op->kind == K_MWRITE && op->off + op->len > f->ino[i].size)
		fsx_fail(f, "mmap-write past the end of the file (size %lld)",
			 (long long)f->ino[i].size);
	else if (op->kind == K_MWRITE)
		r = mmap_io(fd, op->off, data, op->len, 1);
	if (r < 0)
		fsx_fail(f, "%s: %s", fsx_kind_name(op->kind), strerror(errno));
	if (r != op->len)
		fsx_fail(f, "%s of %lld bytes: wrote %zd", fsx_kind_name(op->kind), op->len, r);
	model_write(f, i, op->off, data, op->len);
	free(data);
}

static void op_direct(struct fsx *f, const struct fsx_op *op, int i)
{
	off_t want = op->off >= f->ino[i].size ? 0 : f->ino[i].size - op->off;
	unsigned char *buf = NULL;
	char p[PATH_MAX];
	ssize_t r;
	int fd;

	if (f->direct_unsupported)
		return;
	path_of(f, op->a, p);
	fd = open(p, O_RDWR | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		return unsupported(f, &f->direct_unsupported, "O_DIRECT");
	if (fd < 0)
		fsx_fail(f, "open %s O_DIRECT: %s", p, strerror(errno));
	if (posix_memalign((void **)&buf, 4096, op->len + 4096))
		fsx_alloc((size_t)-1);
	if (op->kind == K_DWRITE) {
		fsx_fill(buf, op->len, op->fill, op->seed);
		want = op->len;
		r = pwrite(fd, buf, op->len, op->off);
	} else {
		want = want > op->len ? op->len : want;
		r = pread(fd, buf, op->len, op->off);
	}
	if (r < 0)
		fsx_fail(f, "%s: %s", fsx_kind_name(op->kind), strerror(errno));
	if (r != want)
		fsx_fail(f, "%s of %lld bytes at %lld: %zd bytes, expected %lld",
			 fsx_kind_name(op->kind), op->len, op->off, r, (long long)want);
	if (op->kind == K_DWRITE)
		model_write(f, i, op->off, buf, op->len);
	else
		fsx_expect(f, "direct-read", op->off, f->ino[i].buf + op->off, buf, want);
	close(fd);
	free(buf);
}

static void op_falloc(struct fsx *f, const struct fsx_op *op, int i)
{
	int zero = op->mode == FM_ZERO || op->mode == FM_ZEROKEEP;

	if (op->mode < 0 || op->mode >= FM_N || (zero && f->zero_unsupported))
		return;
	if (fallocate(inode_fd(f, i), fmode_flags[op->mode], op->off, op->len)) {
		if (zero && errno == EOPNOTSUPP)
			return unsupported(f, &f->zero_unsupported, "FALLOC_FL_ZERO_RANGE");
		fsx_fail(f, "fallocate: %s", strerror(errno));
	}
	if (op->mode == FM_ALLOC && op->off + op->len > f->ino[i].size)
		model_resize(f, i, op->off + op->len);
	else if (op->mode != FM_ALLOC && op->mode != FM_KEEP)
		model_zero(f, i, op->off, op->len, op->mode != FM_ZERO);
}

static void op_copy(struct fsx *f, const struct fsx_op *op, int i, int j)
{
	struct fsx_inode *n = &f->ino[i];
	off_t want = op->off >= n->size ? 0 : n->size - op->off;
	loff_t in = op->off, out = op->to;
	long long done = 0;
	unsigned char *src;
	ssize_t r;

	if (f->copy_unsupported)
		return;
	want = want > op->len ? op->len : want;
	src = fsx_alloc(want);
	memcpy(src, n->buf + op->off, want);
	while (done < op->len) {
		r = copy_file_range(inode_fd(f, i), &in, inode_fd(f, j), &out, op->len - done, 0);
		if (r < 0 && done == 0 && (errno == EOPNOTSUPP || errno == EXDEV))
			return unsupported(f, &f->copy_unsupported, "copy_file_range");
		if (r < 0)
			fsx_fail(f, "copy_file_range: %s", strerror(errno));
		if (r == 0)
			break;
		done += r;
	}
	if (done != want)
		fsx_fail(f, "copy_file_range copied %lld bytes, expected %lld (source size %lld)",
			 done, (long long)want, (long long)n->size);
	model_write(f, j, op->to, src, want);
	free(src);
}

static void fsync_dir(struct fsx *f)
{
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || fsync(fd))
		fsx_fail(f, "fsync of the directory %s: %s", f->dir, strerror(errno));
	close(fd);
}

/* link, unlink, rename; each followed by an fsync of the directory */
static void op_names(struct fsx *f, const struct fsx_op *op, int i)
{
	char pa[PATH_MAX], pb[PATH_MAX];
	int r = 0, old = op->b >= 0 ? f->slot[op->b] : -1;

	path_of(f, op->a, pa);
	path_of(f, op->b, pb);
	if (op->b >= f->nnames || (op->kind == K_LINK && old >= 0))
		fsx_fail(f, "bad target name f%d", op->b);
	if (op->kind == K_LINK)
		r = link(pa, pb);
	else if (op->kind == K_UNLINK)
		r = unlink(pa);
	else
		r = rename(pa, pb);
	if (r)
		fsx_fail(f, "%s: %s", fsx_kind_name(op->kind), strerror(errno));
	if (op->kind != K_LINK) {
		f->slot[op->a] = -1;
		f->ino[i].nlink--;
	}
	if (op->kind != K_UNLINK) {
		f->slot[op->b] = i;
		f->ino[i].nlink++;
	}
	if (op->kind == K_RENAME && old >= 0 && old != i)
		f->ino[old].nlink--;
	fsync_dir(f);
	check_names(f, 1);
}

static void run_cmd(struct fsx *f, enum fsx_kind k)
{
	const char *cmd = f->cmd[k - K_EVICT];
	int status = 0;
	pid_t pid;

	if (!cmd)
		fsx_fail(f, "the log asks for %s, but no --%s command was given", fsx_kind_name(k),
			 fsx_kind_name(k));
	fflush(stdout);
	fflush(stderr);
	if (f->log)
		fflush(f->log);
	pid = fork();
	if (pid == 0) {
		setenv("FSX_DIR", f->dir, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		fsx_fail(f, "running the %s command: %s", fsx_kind_name(k), strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fsx_fail(f, "the %s command failed (wait status 0x%x): %s", fsx_kind_name(k),
			 status, cmd);
}

static void op_event(struct fsx *f, const struct fsx_op *op)
{
	unsigned char *got;
	char p[PATH_MAX];
	struct stat st;
	int i;

	if (op->kind != K_KILL)
		close_all(f, 0);
	run_cmd(f, op->kind);
	close_all(f, 1);
	check_names(f, op->kind != K_KILL);
	for (i = 0; i < f->ninodes; i++) {
		if (op->kind == K_REMOUNT || op->kind == K_RESTART)
			model_sync(f, i);
		if (op->kind != K_KILL)
			continue;
		path_of(f, name_of(f, i), p);
		if (stat(p, &st))
			fsx_fail(f, "stat %s after the kill: %s", p, strerror(errno));
		got = read_all(f, i, st.st_size, "after the kill");
		model_crash_check(f, i, got, st.st_size);
		free(got);
	}
	compare_all(f, fsx_kind_name(op->kind));
}

/* Fresh files: every old name removed, inode i created as name fi. */
static void op_setup(struct fsx *f, const struct fsx_op *op)
{
	char p[PATH_MAX];
	struct stat st;
	int s, i;

	if (op->mode < 1 || op->mode > FSX_MAX_INODES || op->len < op->mode ||
	    op->len > FSX_MAX_NAMES)
		fsx_fail(f, "setup: 1 to %d files and up to %d names", FSX_MAX_INODES,
			 FSX_MAX_NAMES);
	f->ninodes = op->mode;
	f->nnames = op->len;
	for (s = 0; s < FSX_MAX_NAMES; s++) {
		path_of(f, s, p);
		if (unlink(p) && errno != ENOENT)
			fsx_fail(f, "unlink %s: %s", p, strerror(errno));
		f->slot[s] = s < f->ninodes ? s : -1;
	}
	for (i = 0; i < f->ninodes; i++) {
		path_of(f, i, p);
		f->ino[i].fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (f->ino[i].fd < 0 || fstat(f->ino[i].fd, &st))
			fsx_fail(f, "create %s: %s", p, strerror(errno));
		f->ino[i].st_ino = st.st_ino;
		f->ino[i].nlink = 1;
	}
}

static void op_sync(struct fsx *f, const struct fsx_op *op, int i)
{
	int fd = inode_fd(f, i);

	if (op->kind == K_FSYNC ? fsync(fd) : fdatasync(fd))
		fsx_fail(f, "%s: %s", fsx_kind_name(op->kind), strerror(errno));
	model_sync(f, i);
}

static void op_close(struct fsx *f, const struct fsx_op *op, int i)
{
	if (f->ino[i].fd >= 0 && close(f->ino[i].fd))
		fsx_fail(f, "close: %s", strerror(errno));
	f->ino[i].fd = -1;
	if (op->kind == K_REOPEN)
		inode_fd(f, i);
}

static void op_stat(struct fsx *f, const struct fsx_op *op, int i)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(f, op->a, p);
	if (stat(p, &st))
		fsx_fail(f, "stat %s: %s", p, strerror(errno));
	check_stat(f, i, &st, p);
}

/* Operations on the data of one inode (two for copy). */
static void exec_data(struct fsx *f, const struct fsx_op *op, int i)
{
	int j = op->kind == K_COPY ? inode_at(f, op->b) : i;

	switch (op->kind) {
	case K_READ:
	case K_PREAD:
	case K_MREAD:
		op_read(f, op, i);
		break;
	case K_WRITE:
	case K_PWRITE:
	case K_PWRITEV:
	case K_MWRITE:
		op_write(f, op, i);
		break;
	case K_DREAD:
	case K_DWRITE:
		op_direct(f, op, i);
		break;
	case K_TRUNC:
		if (ftruncate(inode_fd(f, i), op->len))
			fsx_fail(f, "ftruncate: %s", strerror(errno));
		model_resize(f, i, op->len);
		break;
	case K_FALLOC:
		op_falloc(f, op, i);
		break;
	case K_COPY:
		op_copy(f, op, i, j);
		break;
	case K_FSYNC:
	case K_FDATASYNC:
		op_sync(f, op, i);
		break;
	case K_CLOSE:
	case K_REOPEN:
		op_close(f, op, i);
		break;
	default:
		op_stat(f, op, i);
		break;
	}
	check_inode(f, i);
	if (j != i)
		check_inode(f, j);
}

void fsx_exec(struct fsx *f, const struct fsx_op *op)
{
	if (op->kind != K_SETUP && !f->ninodes)
		fsx_fail(f, "the first operation must be setup");
	switch (op->kind) {
	case K_SETUP:
		op_setup(f, op);
		break;
	case K_FSYNCDIR:
		fsync_dir(f);
		break;
	case K_LINK:
	case K_UNLINK:
	case K_RENAME:
		op_names(f, op, inode_at(f, op->a));
		break;
	case K_COMPARE:
		compare_all(f, "compare");
		break;
	case K_SLEEP:
		usleep(op->len * 1000);
		break;
	case K_EVICT:
	case K_REMOUNT:
	case K_RESTART:
	case K_KILL:
		op_event(f, op);
		break;
	default:
		exec_data(f, op, inode_at(f, op->a));
	}
}
