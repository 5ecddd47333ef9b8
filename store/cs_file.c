/*
 * cs_file.c - file data: read, and write (through the write buffer of
 * cs_wbuf.c, or straight into the file's chunks); extents and chunk
 * encoding are cs_extent.c's, sizes and holes cs_fsize.c's.
 *
 * Files of size <= CS_INLINE_MAX keep their bytes in the inode record
 * instead (invariant 3 in cs_priv.h); crossing that size moves the data
 * between the two forms inside the same transaction.
 *
 * A write of up to 1 MiB waits in the write buffer (cs_wbuf.c); a larger
 * one, or one that finds no room, is a read-modify-write of whole chunks
 * committed in one batch with the inode (size, times) and the counters,
 * its whole chunks hashed and compressed before the volume is locked.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

struct read_ctx {
	uint8_t *out;
	uint64_t off;
};

/* cs_read's part: copy a chunk's bytes out. */
static int read_part(void *ctx, struct cs_chunk_part *p)
{
	struct read_ctx *r = ctx;

	memcpy(r->out + (p->pos - r->off), p->buf + p->co, p->n);
	return 0;
}

ssize_t cs_read(cs_vol *vol, uint64_t ino, uint64_t off, void *out, size_t size)
{
	struct read_ctx r = { out, off };
	struct cs_volrec rec;
	struct cs_inode in;
	uint64_t end;
	ssize_t rc;
	int locked = 0;

	/* with buffered writes, read under the volume lock so that a chunk is
	 * seen either in the buffer or in the store, never in neither */
	if (__atomic_load_n(&vol->vs->wb_used, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&vol->vs->lock);
		locked = 1;
	}
	rec = vol->vs->rec;
	rc = cs_inode_load(vol, ino, &in);
	if (rc == 0)
		rc = cs_file_check(&in);
	if (rc)
		goto out;
	if (locked) /* buffered writes may have made the file longer */
		cs_file_view(vol->vs, &in);
	if (off >= in.size || size == 0)
		goto out;
	end = in.size - off < size ? in.size : off + size;
	if (in.size <= CS_INLINE_MAX) {
		memcpy(out, in.data + off, end - off);
		rc = (ssize_t)(end - off);
		goto out;
	}
	rc = cs_file_chunks(vol->st, &rec, ino, off, end, read_part, &r);
	if (rc == 0 && locked)
		cs_wb_overlay(vol->vs, ino, off, end, out);
	if (rc == 0)
		rc = (ssize_t)(end - off);
out:
	if (locked)
		pthread_mutex_unlock(&vol->vs->lock);
	return rc;
}

/* Apply @size bytes of @src (NULL: zeros) at @off to the chunked file @in.
 * @base, when not NULL, is chunk 0's content (inline data being moved out,
 * not yet an extent): a txn does not read its own writes, so chunk 0 is
 * built from it rather than stored twice. */
static int write_chunks(struct cs_txn *t, struct cs_inode *in, uint64_t off,
                        const uint8_t *src, size_t size, uint8_t *buf,
                        const uint8_t *base, size_t base_len, struct cs_pre_write *pw)
{
	uint64_t pos = off, end = off + size, csz = t->rec.chunk_size;
	int rc = 0;

	while (pos < end && rc == 0) {
		uint64_t idx = pos / csz, co = pos % csz;
		uint64_t n = csz - co;
		struct cs_ext e;
		int have = 0;

		if (n > end - pos)
			n = end - pos;
		if (pw && n == csz && idx >= pw->first && idx - pw->first < pw->n) {
			rc = cs_ext_get(t->st, &t->rec, in->ino, idx, &e);
			have = rc == 0;
			rc = rc == -ENOENT ? 0 : rc;
			if (rc == 0)
				rc = cs_store_pre(t, in, idx, &pw->c[idx - pw->first], have ? &e : NULL);
			pos += n;
			continue;
		}
		if (idx == 0 && base) {
			memset(buf, 0, csz);
			memcpy(buf, base, base_len);
		} else if (n == csz) {
			rc = cs_ext_get(t->st, &t->rec, in->ino, idx, &e);
			have = rc == 0;
			rc = rc == -ENOENT ? 0 : rc;
		} else {
			rc = cs_file_chunk_load(t->st, &t->rec, in->ino, idx, buf, &e, &have);
		}
		if (rc)
			break;
		if (src)
			memcpy(buf + co, src + (pos - off), n);
		else
			memset(buf + co, 0, n);
		rc = cs_file_chunk_store(t, in, idx, buf, have ? &e : NULL);
		pos += n;
	}
	return rc;
}

/* Move inline data (size <= CS_INLINE_MAX) into chunk 0. */
int cs_file_inline_to_chunks(struct cs_txn *t, struct cs_inode *in, uint8_t *buf)
{
	uint32_t len = in->data_len;

	memset(buf, 0, t->rec.chunk_size);
	memcpy(buf, in->data, len);
	in->data_len = 0;
	in->data_bytes -= len;
	return len ? cs_file_chunk_store(t, in, 0, buf, NULL) : 0;
}

/* Write into a file that is inline now and will not be after: the inline
 * bytes and the new ones reach chunk 0 in one extent. */
static int write_from_inline(struct cs_txn *t, struct cs_inode *in, uint64_t off,
                             const uint8_t *src, size_t size, uint8_t *buf,
                             struct cs_pre_write *pw)
{
	uint8_t base[CS_INLINE_MAX];
	uint32_t len = in->data_len;
	int rc;

	if (off >= t->rec.chunk_size) { /* the write leaves chunk 0 alone */
		rc = cs_file_inline_to_chunks(t, in, buf);
		return rc ? rc : write_chunks(t, in, off, src, size, buf, NULL, 0, pw);
	}
	memcpy(base, in->data, len);
	in->data_len = 0;
	in->data_bytes -= len;
	return write_chunks(t, in, off, src, size, buf, base, len, pw);
}

static int quota_check(struct cs_txn *t, const struct cs_inode *in, uint64_t before)
{
	uint64_t q = t->rec.quota;

	if (q && in->data_bytes > before &&
	    t->rec.stats.logical_bytes + (in->data_bytes - before) > q)
		return cs_fail(-EDQUOT, "volume '%s' is over its quota of %llu bytes",
		               t->rec.name, (unsigned long long)q);
	return 0;
}
/* Put @size bytes at @off into @in inside @t (not through the buffer):
 * inline while the file stays small enough, else whole chunks (@pw: the
 * ones encoded before the lock). The caller sets the size to @new_size. */
static int write_through(struct cs_txn *t, struct cs_inode *in, uint64_t off, const void *src,
                         size_t size, uint64_t new_size, struct cs_pre_write *pw)
{
	uint8_t *buf;
	int rc;

	if (new_size <= CS_INLINE_MAX) {
		if (off > in->data_len)
			memset(in->data + in->data_len, 0, off - in->data_len);
		memcpy(in->data + off, src, size);
		in->data_len = (uint32_t)new_size;
		in->data_bytes = new_size;
		return 0;
	}
	buf = malloc(t->rec.chunk_size);
	if (!buf)
		return -ENOMEM;
	if (in->size <= CS_INLINE_MAX)
		rc = write_from_inline(t, in, off, src, size, buf, pw);
	else
		rc = write_chunks(t, in, off, src, size, buf, NULL, 0, pw);
	free(buf);
	return rc;
}

ssize_t cs_write(cs_vol *vol, uint64_t ino, uint64_t off, const void *src,
                 size_t size)
{
	struct cs_pre_write pw = { 0 };
	struct cs_inode in;
	struct cs_txn t;
	uint64_t new_size, before, csz = vol->vs->rec.chunk_size; /* fixed at creation */
	int rc, level;

	if (size == 0)
		return 0;
	if (off > CS_MAX_FILE_SIZE || size > CS_MAX_FILE_SIZE - off)
		return cs_fail(-EFBIG, "write past the largest file size");
	if (vol->rdonly)
		return cs_fail(-EROFS, "volume '%s' is open read-only", vol->vs->rec.name);
	if (size >= csz && !cs_wb_candidate(off, size, csz)) { /* whole chunks, not for the
							    * buffer: encoded outside the lock */
		pthread_mutex_lock(&vol->vs->lock);
		level = vol->vs->rec.compression;
		pthread_mutex_unlock(&vol->vs->lock);
		rc = cs_pre_encode(&pw, off, src, size, level, (uint32_t)csz);
		if (rc == 0)
			rc = cs_pre_store(vol->st, &pw);
		if (rc) {
			cs_pre_free(vol->st, &pw);
			return rc;
		}
	}
	cs_wb_wait_room(vol, off, size);
	rc = cs_txn_begin(&t, vol->st, vol);
	if (rc) {
		cs_pre_free(vol->st, &pw);
		return rc;
	}
	rc = cs_wb_make_room(&t);
	if (rc == 0 && t.rec.quota) /* a quota (set since) counts what waits in the buffer */
		rc = cs_wb_flush_locked(&t, 0, 0);
	if (rc == 0)
		rc = cs_inode_load(vol, ino, &in);
	if (rc == 0)
		rc = cs_file_check(&in);
	if (rc)
		goto abort;
	rc = cs_wb_write(&t, &in, off, src, size);
	if (rc <= 0) { /* buffered (nothing to commit), or an error */
		cs_pre_free(vol->st, &pw);
		cs_txn_abort(&t, 0);
		return rc ? rc : (ssize_t)size;
	}
	if (cs_wb_overlaps(t.vs, ino, off / csz, (off + size - 1) / csz)) {
		/* written through: what the buffer holds of the file first (rule 2) */
		rc = cs_wb_flush_locked(&t, ino, 0);
		if (rc == 0)
			rc = cs_inode_load(vol, ino, &in);
		if (rc)
			goto abort;
	}
	before = in.data_bytes;
	new_size = in.size > off + size ? in.size : off + size;
	rc = write_through(&t, &in, off, src, size, new_size, &pw);
	if (rc == 0)
		rc = quota_check(&t, &in, before);
	if (rc)
		goto abort;
	in.size = new_size;
	if (!t.vs->keep_times)
		in.mtime = in.ctime = t.now;
	cs_txn_put_inode(&t, &in);
	cs_pre_free(vol->st, &pw);
	rc = cs_txn_commit(&t);
	return rc ? rc : (ssize_t)size;
abort:
	cs_pre_free(vol->st, &pw);
	return cs_txn_abort(&t, rc);
}
