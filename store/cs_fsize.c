/*
 * cs_fsize.c - changes of a file's size and holes: truncate and extend
 * (cs_file_resize), fallocate (mode 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE),
 * SEEK_DATA/SEEK_HOLE, and dropping every extent of a deleted file.
 *
 * It writes the extent keys cs_file.c owns, through its extent calls
 * (cs_ext_*, cs_file_chunk_*: cs_priv.h). Every operation that reads a
 * file's extents begins with cs_file_txn_begin, which commits the file's
 * buffered writes first in the same hold of the volume lock (the size
 * rule, cs_file.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

struct drop_ctx {
	struct cs_txn *t;
	struct cs_inode *in;
	int rc;
};

static int drop_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen,
			const struct cs_ver *ver)
{
	struct drop_ctx *d = ctx;
	struct cs_ext e;

	d->rc = cs_ext_decode(&e, v, vlen);
	e.owned = cs_ver_owned(ver, &d->t->rec);
	if (d->rc == 0)
		d->rc = cs_ext_replace(d->t, d->in, be64_get(k + 17), &e, NULL, NULL, 0);
	return d->rc;
}

/* Drop every extent of @in from chunk @from on. */
static int drop_from(struct cs_txn *t, struct cs_inode *in, uint64_t from)
{
	struct drop_ctx d = { t, in, 0 };
	uint8_t prefix[17], start[8];
	int rc;

	prefix[0] = 'E';
	be64_put(prefix + 1, t->rec.id);
	be64_put(prefix + 9, in->ino);
	be64_put(start, from);
	rc = cs_kv_scanv(t->st, &t->rec, prefix, 17, start, 8, drop_fn, &d);
	return rc ? rc : d.rc;
}

int cs_file_purge(struct cs_txn *t, struct cs_inode *in)
{
	if (S_ISREG(in->mode)) {
		struct cs_inode copy = *in;
		int rc;

		cs_wb_discard(t->vs, in->ino); /* its buffered data goes with it */
		rc = drop_from(t, &copy, 0);
		if (rc)
			return rc;
	}
	return cs_inode_purge(t, in);
}

int cs_file_resize(struct cs_txn *t, cs_vol *vol, struct cs_inode *in, uint64_t size)
{
	uint8_t *buf;
	int rc = 0;

	if (size <= CS_INLINE_MAX && in->size <= CS_INLINE_MAX) {
		if (size > in->data_len)
			memset(in->data + in->data_len, 0, size - in->data_len);
		in->data_len = (uint32_t)size;
		in->data_bytes = size;
		in->size = size;
		return 0;
	}
	buf = malloc(t->rec.chunk_size);
	if (!buf)
		return -ENOMEM;
	if (size <= CS_INLINE_MAX) { /* chunked -> inline */
		struct cs_ext e;
		int have;

		rc = cs_file_chunk_load(t->st, &t->rec, in->ino, 0, buf, &e, &have);
		if (rc == 0)
			rc = drop_from(t, in, 0);
		if (rc == 0) {
			memcpy(in->data, buf, size);
			in->data_len = (uint32_t)size;
			in->data_bytes += size;
		}
	} else if (in->size <= CS_INLINE_MAX) { /* inline -> chunked */
		rc = cs_file_inline_to_chunks(t, in, buf);
	} else if (size < in->size) { /* shrink: drop and trim */
		uint64_t last = (size - 1) / t->rec.chunk_size;
		uint64_t keep = size - last * t->rec.chunk_size;
		struct cs_ext e;
		int have;

		rc = drop_from(t, in, last + 1);
		if (rc == 0)
			rc = cs_ext_get(t->st, &t->rec, in->ino, last, &e);
		if (rc == -ENOENT)
			rc = 0;
		else if (rc == 0 && e.raw_len > keep) {
			rc = cs_file_chunk_load(t->st, &t->rec, in->ino, last, buf, &e, &have);
			if (rc == 0) {
				memset(buf + keep, 0, t->rec.chunk_size - keep);
				rc = cs_file_chunk_store(t, in, last, buf, &e);
			}
		}
	}
	free(buf);
	if (rc == 0)
		in->size = size;
	return rc;
}

/* punch's part: zero a chunk's bytes and store it again (not a hole's). */
static int punch_part(void *ctx, struct cs_chunk_part *p)
{
	struct drop_ctx *d = ctx;

	if (!p->have)
		return 0;
	memset(p->buf + p->co, 0, p->n);
	return cs_file_chunk_store(d->t, d->in, p->idx, p->buf, &p->e);
}

static int punch(struct cs_txn *t, struct cs_inode *in, uint64_t off, uint64_t end)
{
	struct drop_ctx d = { t, in, 0 };

	if (end > in->size)
		end = in->size;
	if (off >= end)
		return 0;
	if (in->size <= CS_INLINE_MAX) {
		memset(in->data + off, 0, end - off);
		return 0;
	}
	return cs_file_chunks(t->st, &t->rec, in->ino, off, end, punch_part, &d);
}

static int falloc_mode_check(int mode)
{
	switch (mode) {
	case 0:
	case CS_FALLOC_KEEP_SIZE:
	case CS_FALLOC_PUNCH_HOLE | CS_FALLOC_KEEP_SIZE:
	case CS_FALLOC_ZERO_RANGE:
	case CS_FALLOC_ZERO_RANGE | CS_FALLOC_KEEP_SIZE:
		return 0;
	}
	return cs_fail(-EOPNOTSUPP, "fallocate mode 0x%x is not supported", mode);
}

/* Extend @in to @size (mode 0 and ZERO_RANGE without KEEP_SIZE). */
static int falloc_extend(struct cs_txn *t, cs_vol *vol, struct cs_inode *in, uint64_t size)
{
	uint64_t grow;

	if (size <= in->size)
		return 0;
	grow = size - in->size;
	if (t->rec.quota && t->rec.stats.logical_bytes + grow > t->rec.quota)
		return cs_fail(-EDQUOT, "volume '%s' is over its quota", t->rec.name);
	return cs_file_resize(t, vol, in, size);
}

int cs_fallocate(cs_vol *vol, uint64_t ino, int mode, uint64_t off, uint64_t len)
{
	struct cs_inode in;
	struct cs_txn t;
	int rc = falloc_mode_check(mode);

	if (rc)
		return rc;
	if (len == 0)
		return cs_fail(-EINVAL, "fallocate of length 0");
	if (off > CS_MAX_FILE_SIZE || len > CS_MAX_FILE_SIZE - off)
		return cs_fail(-EFBIG, "fallocate past the largest file size");
	rc = cs_file_inode_begin(&t, vol, ino, &in); /* this txn reads the extents */
	if (rc)
		return rc;
	rc = cs_file_check(&in);
	if (rc)
		return cs_txn_abort(&t, rc);
	if (mode & (CS_FALLOC_PUNCH_HOLE | CS_FALLOC_ZERO_RANGE)) {
		rc = punch(&t, &in, off, off + len);
		in.mtime = t.now;
	}
	if (rc == 0 && !(mode & (CS_FALLOC_KEEP_SIZE | CS_FALLOC_PUNCH_HOLE)))
		rc = falloc_extend(&t, vol, &in, off + len);
	if (rc)
		return cs_txn_abort(&t, rc);
	in.ctime = t.now;
	cs_txn_put_inode(&t, &in);
	return cs_txn_commit(&t);
}

struct seek_ctx {
	uint64_t want, found; /* next chunk index expected; result */
	int hole;             /* looking for a hole (else data) */
	int done;
};

static int seek_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                   size_t vlen,
			const struct cs_ver *ver)
{
	struct seek_ctx *s = ctx;
	uint64_t idx = be64_get(k + 17);

	if (!s->hole) { /* first extent at or after want */
		s->found = idx;
		s->done = 1;
		return 1;
	}
	if (idx != s->want) { /* a gap: the hole starts at want */
		s->found = s->want;
		s->done = 1;
		return 1;
	}
	s->want++;
	return 0;
}

int64_t cs_lseek(cs_vol *vol, uint64_t ino, uint64_t off, int whence)
{
	struct seek_ctx s = { 0 };
	struct cs_inode in;
	uint8_t prefix[17], start[8];
	uint64_t res;
	int rc;

	if (whence != CS_SEEK_DATA && whence != CS_SEEK_HOLE)
		return cs_fail(-EINVAL, "lseek whence %d", whence);
	rc = cs_vol_flush(vol); /* buffered chunks are data too */
	if (rc == 0)
		rc = cs_inode_load_view(vol, ino, &in);
	if (rc)
		return rc;
	if (off >= in.size)
		return cs_fail(-ENXIO, "offset past the end of the file");
	if (in.size <= CS_INLINE_MAX)
		return whence == CS_SEEK_DATA ? (int64_t)off : (int64_t)in.size;
	s.hole = whence == CS_SEEK_HOLE;
	s.want = off / vol->vs->rec.chunk_size;
	prefix[0] = 'E';
	be64_put(prefix + 1, vol->vs->rec.id);
	be64_put(prefix + 9, ino);
	be64_put(start, s.want);
	rc = cs_kv_scanv(vol->st, &vol->vs->rec, prefix, 17, start, 8, seek_fn, &s);
	if (rc)
		return rc;
	if (!s.hole) {
		if (!s.done)
			return cs_fail(-ENXIO, "no data past the offset");
		res = s.found * vol->vs->rec.chunk_size;
		if (res < off)
			res = off;
		return res >= in.size ? cs_fail(-ENXIO, "no data past the offset") : (int64_t)res;
	}
	res = (s.done ? s.found : s.want) * vol->vs->rec.chunk_size;
	if (res < off)
		res = off;
	return (int64_t)(res < in.size ? res : in.size);
}

/* How many bytes of data @ino's record will count more (or fewer) once
 * the write buffer's chunks of it are written out (cs_file.c): st_blocks
 * as the flush will count them. */
static int64_t buffered_bytes(cs_vol *vol, uint64_t ino)
{
	struct cs_volstate *vs = vol->vs;
	int64_t n = 0;

	if (vol->rdonly || !__atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&vs->lock);
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		const struct cs_wslot *w = &vs->wb[i];
		uint64_t len = vs->rec.chunk_size;

		if (w->ino != ino || !ino)
			continue;
		while (len > 0 && w->data[len - 1] == 0) /* stored without trailing zeros */
			len--;
		n += (int64_t)len - w->old_raw;
	}
	pthread_mutex_unlock(&vs->lock);
	return n;
}

int cs_getattr(cs_vol *vol, uint64_t ino, struct cs_attr *out)
{
	struct cs_inode in;
	int rc;

	/* Not written out first: a getattr after each small file (an untar's
	 * stat or utimes) cost a chunk-file sync per file. The size and mtime
	 * are right anyway (the size rule, cs_file_view), and st_blocks adds
	 * about what the buffer holds of new data until it is written out. */
	rc = cs_inode_load_view(vol, ino, &in);

	if (rc == 0 && S_ISREG(in.mode)) /* counted as the flush will count it */
		in.data_bytes += (uint64_t)buffered_bytes(vol, ino);
	if (rc == 0)
		cs_inode_to_attr(&in, out);
	return rc;
}

int cs_setattr(cs_vol *vol, uint64_t ino, const struct cs_attr *a,
               unsigned mask, struct cs_attr *out)
{
	struct cs_inode in;
	struct cs_txn t;
	int rc;

	if ((mask & CS_SET_SIZE) && !vol->rdonly) /* a resize reads the extents */
		rc = cs_file_inode_begin(&t, vol, ino, &in);
	else
		rc = cs_inode_begin(&t, vol, ino, &in);
	if (rc)
		return rc;
	if (mask & CS_SET_SIZE) {
		if (S_ISDIR(in.mode))
			return cs_txn_abort(&t, cs_fail(-EISDIR, "inode %llu is a directory",
			                                (unsigned long long)ino));
		if (!S_ISREG(in.mode))
			return cs_txn_abort(&t, cs_fail(-EINVAL, "inode %llu is not a regular file",
			                                (unsigned long long)ino));
		if (a->size > CS_MAX_FILE_SIZE)
			return cs_txn_abort(&t, cs_fail(-EFBIG, "size %llu is too large",
			                                (unsigned long long)a->size));
		if (a->size != in.size) {
			rc = cs_file_resize(&t, vol, &in, a->size);
			if (rc)
				return cs_txn_abort(&t, rc);
			in.mtime = t.now;
		}
	}
	if (mask & CS_SET_MODE)
		in.mode = (in.mode & S_IFMT) | (a->mode & 07777);
	if (mask & CS_SET_UID)
		in.uid = a->uid;
	if (mask & CS_SET_GID)
		in.gid = a->gid;
	if (mask & CS_SET_ATIME)
		in.atime = a->atime;
	if (mask & CS_SET_MTIME)
		in.mtime = a->mtime;
	if (mask & CS_SET_ATIME_NOW)
		in.atime = t.now;
	if (mask & CS_SET_MTIME_NOW)
		in.mtime = t.now;
	in.ctime = (mask & CS_SET_CTIME) ? a->ctime : t.now;
	return cs_file_commit_reply(&t, &in, out);
}
