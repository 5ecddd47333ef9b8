/*
 * fsx.h - cs_fsx, a random-operation model checker for the files of one directory.
 *
 * cs_fsx runs seeded random operations (read, write, pread, pwrite, pwritev, truncate,
 * fallocate, mmap reads and writes, copy_file_range, fsync, fdatasync, close and reopen,
 * O_DIRECT, hard links and renames) on a few files and checks every result, and the size
 * and link count after every operation, against an in-memory model. Between operations it
 * can run shell commands that evict caches, remount, restart or kill -9 the filesystem's
 * daemon: it knows nothing about the filesystem under test. Three parts share this header:
 *
 *   fsx_main.c   options, the seeded generator, the log and its replay, the main loop
 *   fsx_ops.c    each operation on the real files, checked against the model
 *   fsx_model.c  the model: bytes and sizes, and the changes made since each inode's
 *                last fsync, which decide what may read back after a crash
 *
 * Every failure goes through fsx_fail(), which prints the operation and the seed and
 * exits 1; setup and usage errors exit 2.
 */
#ifndef CS_FSX_H
#define CS_FSX_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define FSX_CHUNK 65536 /* cstorfs's chunk size: offsets and lengths gather around it */
#define FSX_MAX_INODES 8
#define FSX_MAX_NAMES 16

enum fsx_kind {
	K_SETUP,
	K_READ,
	K_WRITE,
	K_PREAD,
	K_PWRITE,
	K_PWRITEV,
	K_TRUNC,
	K_FALLOC,
	K_MREAD,
	K_MWRITE,
	K_COPY,
	K_FSYNC,
	K_FDATASYNC,
	K_FSYNCDIR,
	K_CLOSE,
	K_REOPEN,
	K_DREAD,
	K_DWRITE,
	K_LINK,
	K_UNLINK,
	K_RENAME,
	K_STAT,
	K_COMPARE,
	K_SLEEP,
	K_EVICT,
	K_REMOUNT,
	K_RESTART,
	K_KILL, /* events: each runs the command of its name */
	K_NKINDS
};

/* fallocate modes, named in the log: 0, keep, punch (|KEEP_SIZE), zero, zerokeep */
enum fsx_fmode { FM_ALLOC, FM_KEEP, FM_PUNCH, FM_ZERO, FM_ZEROKEEP, FM_N };

/* One operation, as generated or read back from a log. */
struct fsx_op {
	enum fsx_kind kind;
	int a, b;	   /* name slots (f0, f1, ...), -1 when unused */
	long long off, to; /* offset; copy's destination offset */
	long long len;	   /* length; truncate's size; sleep's ms; setup's number of names */
	int mode;	   /* fallocate mode; pwritev's iovec count; setup's number of files */
	char fill;	   /* written data: 'r' random, 't' text, 'z' zeros */
	uint64_t seed;	   /* written data: its generator's seed */
};

/* One change since the last fsync (kept only when a kill command is given). */
struct fsx_rec {
	off_t off, len;	     /* the bytes it set (len 0: it changed the size only) */
	unsigned char *data; /* what it put there; NULL: zeros */
	off_t before, after; /* the file's size before and after */
};

struct fsx_inode {
	unsigned char *buf; /* the model's bytes, zero from size to cap */
	off_t cap, size;
	unsigned char *sbuf; /* the bytes as of the last fsync */
	off_t ssize;
	struct fsx_rec *recs; /* changes since the last fsync */
	int nrec, caprec;
	int fd; /* open O_RDWR, or -1 */
	int nlink;
	ino_t st_ino;
};

struct fsx {
	const char *dir;
	const char *cmd[4]; /* evict, remount, restart, kill (K_EVICT order): shell or NULL */
	int ninodes, nnames, links, direct, crash;
	int slot[FSX_MAX_NAMES]; /* name slot -> inode, -1: no such name */
	struct fsx_inode ino[FSX_MAX_INODES];
	int zero_unsupported, direct_unsupported, copy_unsupported;
	off_t max_size;
	uint64_t seed, rng;
	unsigned long long opno, count[K_NKINDS];
	unsigned long long crash_diffs; /* inodes a kill left other than the model had them */
	char line[256];			/* the operation being run, as logged */
	const char *replay_hint;	/* how to run it again, printed on failure */
	FILE *log;			/* the replayable log, or NULL */
};

/* fsx_main.c */

/* The log's name of @k ("pwrite", "evict", ...). */
const char *fsx_kind_name(enum fsx_kind k);

/* fsx_model.c */

/* calloc that exits 2 when memory runs out; never returns NULL. */
void *fsx_alloc(size_t n);

/* splitmix64: the next value of the sequence in *@s. */
uint64_t fsx_rand(uint64_t *s);

/* Fill @p with @n bytes of kind @fill ('r', 't', 'z') from @seed; the same inputs always
 * give the same bytes. */
void fsx_fill(unsigned char *p, size_t n, char fill, uint64_t seed);

/* Print "FAILED at op N: OP", the message, the seed and how to replay; exit 1. */
void fsx_fail(struct fsx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

/* Fail unless @got equals @want (@n bytes at file offset @off), naming the first
 * differing offset and a few bytes of each. */
void fsx_expect(struct fsx *f, const char *what, off_t off, const unsigned char *want,
		const unsigned char *got, size_t n);

/* Model changes of inode @i: bytes written, a range zeroed (@keep: not past the size), a
 * new size, an fsync (the current bytes become the synced ones). */
void model_write(struct fsx *f, int i, off_t off, const unsigned char *p, off_t len);
void model_zero(struct fsx *f, int i, off_t off, off_t len, int keep);
void model_resize(struct fsx *f, int i, off_t size);
void model_sync(struct fsx *f, int i);

/* After a kill -9: fail unless @size and each of the @size bytes @got could be what inode
 * @i holds (see fsx_model.c); then the model adopts them as synced. */
void model_crash_check(struct fsx *f, int i, const unsigned char *got, off_t size);

/* fsx_ops.c */

/* Run @op on the files and check it against the model (fails through fsx_fail). */
void fsx_exec(struct fsx *f, const struct fsx_op *op);

#endif
