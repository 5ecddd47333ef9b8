/*
 * fsx_model.c - cs_fsx's in-memory model of the files under test, and what may read
 * back after a crash.
 *
 * Each inode is a byte array and a size; bytes past the size are kept zero, so a file
 * grown by truncate, fallocate or a write past its end reads zeros in the gap. With a
 * kill command (struct fsx.crash) each inode also keeps its bytes as of its last fsync
 * or fdatasync and the list of changes since. After a kill -9:
 *
 *   - each byte must hold its synced value (zero past the synced size) or a value one
 *     of the changes since put at that offset (a write's byte, or zero for a truncate,
 *     hole punch or zeroed range): nothing may read back bytes it never held;
 *   - the size must be the synced one, one a change left, or, for a change that wrote
 *     data and grew the file, one between its size before and after (a large write
 *     reaches the filesystem in pieces).
 *
 * Then the model adopts what the file holds, as synced, and the run goes on.
 */
#include "fsx.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void *fsx_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (!p) {
		fprintf(stderr, "cs_fsx: out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

uint64_t fsx_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void fsx_fill(unsigned char *p, size_t n, char fill, uint64_t seed)
{
	char blk[80];
	size_t j;
	int k;

	if (fill == 'z') {
		memset(p, 0, n);
		return;
	}
	for (j = 0; j < n; j += 8) {
		uint64_t v = fsx_rand(&seed);

		memcpy(p + j, &v, n - j < 8 ? n - j : 8);
	}
	if (fill != 't')
		return;
	/* compressible text: 64-byte lines naming the seed and their place */
	for (j = 0; j < n; j += 64) {
		k = snprintf(blk, sizeof(blk), "%016llx %010zu ", (unsigned long long)seed, j);
		memset(blk + k, 'a' + (int)(seed % 26), 63 - k);
		blk[63] = '\n';
		memcpy(p + j, blk, n - j < 64 ? n - j : 64);
	}
}

void fsx_fail(struct fsx *f, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "cs_fsx: FAILED at op %llu: %s\n  ", f->opno, f->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n  seed %llu; %s\n", (unsigned long long)f->seed, f->replay_hint);
	if (f->log)
		fflush(f->log);
	exit(1);
}

static void hex(char *out, const unsigned char *p, size_t n)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n && i < 16; i++)
		sprintf(out + 3 * i, "%02x ", p[i]);
}

void fsx_expect(struct fsx *f, const char *what, off_t off, const unsigned char *want,
		const unsigned char *got, size_t n)
{
	size_t i, first = n, diff = 0;
	char w[64], g[64];

	if (!memcmp(want, got, n))
		return;
	for (i = 0; i < n; i++) {
		if (want[i] == got[i])
			continue;
		if (first == n)
			first = i;
		diff++;
	}
	hex(w, want + first, n - first);
	hex(g, got + first, n - first);
	fsx_fail(f,
		 "%s: %zu of %zu bytes differ, the first at file offset %lld\n"
		 "  expected %s\n  found    %s",
		 what, diff, n, (long long)(off + (off_t)first), w, g);
}

static void reserve(struct fsx_inode *n, off_t size)
{
	off_t cap = n->cap ? n->cap : FSX_CHUNK;

	if (size <= n->cap)
		return;
	while (cap < size)
		cap *= 2;
	n->buf = realloc(n->buf, cap);
	if (!n->buf)
		fsx_alloc((size_t)-1); /* reports and exits */
	memset(n->buf + n->cap, 0, cap - n->cap);
	n->cap = cap;
}

/* Remember a change for the crash check: @len bytes at @off, @data or zeros. */
static void record(struct fsx *f, struct fsx_inode *n, off_t off, off_t len,
		   const unsigned char *data, off_t before)
{
	struct fsx_rec *r;

	if (!f->crash)
		return;
	if (n->nrec == n->caprec) {
		n->caprec = n->caprec ? 2 * n->caprec : 16;
		n->recs = realloc(n->recs, n->caprec * sizeof(*n->recs));
		if (!n->recs)
			fsx_alloc((size_t)-1);
	}
	r = &n->recs[n->nrec++];
	*r = (struct fsx_rec){.off = off, .len = len, .before = before, .after = n->size};
	if (data) {
		r->data = fsx_alloc(len);
		memcpy(r->data, data, len);
	}
}

void model_write(struct fsx *f, int i, off_t off, const unsigned char *p, off_t len)
{
	struct fsx_inode *n = &f->ino[i];
	off_t before = n->size;

	if (len <= 0)
		return;
	reserve(n, off + len);
	memcpy(n->buf + off, p, len);
	if (off + len > n->size)
		n->size = off + len;
	record(f, n, off, len, p, before);
}

void model_zero(struct fsx *f, int i, off_t off, off_t len, int keep)
{
	struct fsx_inode *n = &f->ino[i];
	off_t before = n->size, end = off + len;

	if (keep && end > n->size)
		end = n->size;
	if (end <= off)
		return;
	reserve(n, end);
	memset(n->buf + off, 0, end - off);
	if (end > n->size)
		n->size = end;
	record(f, n, off, end - off, NULL, before);
}

void model_resize(struct fsx *f, int i, off_t size)
{
	struct fsx_inode *n = &f->ino[i];
	off_t before = n->size;

	if (size == before)
		return;
	if (size < before)
		memset(n->buf + size, 0, before - size);
	else
		reserve(n, size);
	n->size = size;
	if (size < before)
		record(f, n, size, before - size, NULL, before);
	else
		record(f, n, before, 0, NULL, before);
}

void model_sync(struct fsx *f, int i)
{
	struct fsx_inode *n = &f->ino[i];
	int k;

	free(n->sbuf);
	n->sbuf = fsx_alloc(n->size);
	memcpy(n->sbuf, n->buf, n->size);
	n->ssize = n->size;
	for (k = 0; k < n->nrec; k++)
		free(n->recs[k].data);
	n->nrec = 0;
}

static int size_allowed(const struct fsx_inode *n, off_t size)
{
	int k;

	if (size == n->ssize)
		return 1;
	for (k = 0; k < n->nrec; k++) {
		const struct fsx_rec *r = &n->recs[k];

		if (size == r->after)
			return 1;
		if (r->data && size >= r->before && size <= r->after)
			return 1;
	}
	return 0;
}

static void size_fail(struct fsx *f, int i, off_t size)
{
	const struct fsx_inode *n = &f->ino[i];
	char sizes[200] = "";
	size_t used = 0;
	int k;

	for (k = 0; k < n->nrec && used < sizeof(sizes) - 24; k++)
		used += snprintf(sizes + used, sizeof(sizes) - used, " %lld",
				 (long long)n->recs[k].after);
	fsx_fail(f,
		 "inode %d after the kill: size %lld, which it never had since its last fsync "
		 "(synced size %lld; sizes since:%s)",
		 i, (long long)size, (long long)n->ssize, sizes);
}

void model_crash_check(struct fsx *f, int i, const unsigned char *got, off_t size)
{
	struct fsx_inode *n = &f->ino[i];
	unsigned char *ok;
	off_t o, end;
	int k;

	if (!size_allowed(n, size))
		size_fail(f, i, size);
	ok = fsx_alloc(size);
	for (o = 0; o < size; o++)
		ok[o] = got[o] == (o < n->ssize ? n->sbuf[o] : 0);
	for (k = 0; k < n->nrec; k++) {
		const struct fsx_rec *r = &n->recs[k];

		end = r->off + r->len < size ? r->off + r->len : size;
		for (o = r->off; o < end; o++)
			if (!ok[o])
				ok[o] = got[o] == (r->data ? r->data[o - r->off] : 0);
	}
	for (o = 0; o < size && ok[o]; o++)
		;
	if (o < size)
		fsx_fail(f,
			 "inode %d after the kill: offset %lld reads 0x%02x, a byte it never held "
			 "there since its last fsync (synced 0x%02x, %d changes since)",
			 i, (long long)o, got[o], o < n->ssize ? n->sbuf[o] : 0, n->nrec);
	free(ok);
	if (size != n->size || memcmp(got, n->buf, size))
		f->crash_diffs++;
	reserve(n, size);
	memcpy(n->buf, got, size);
	if (n->size > size)
		memset(n->buf + size, 0, n->size - size);
	n->size = size;
	model_sync(f, i);
}
