/*
 * cs_file.c - file data: extents, read, write and the write buffer (sizes
 * and holes: cs_fsize.c).
 *
 * Keys owned: 'E' VID ino idx ~E -> extent: SHA-256 of the chunk (32),
 * raw length (4), stored length (4). Chunk idx covers bytes
 * [idx * C, (idx + 1) * C) where C is the volume's chunk size (rec->
 * chunk_size, fixed at creation, CS_CHUNK_MIN..CS_CHUNK_MAX; a clone has
 * its origin's, so shared extents mean the same bytes). A chunk's raw bytes are
 * stored without their trailing zeros: bytes past the raw length read as
 * zeros, and an all-zero chunk is a hole (no extent at all).
 *
 * Files of size <= CS_INLINE_MAX keep their bytes in the inode record
 * instead (invariant 3 in cs_priv.h); crossing that size moves the data
 * between the two forms inside the same transaction.
 *
 * Writes are read-modify-write of whole chunks, hashed and compressed in
 * the calling thread while the volume is locked, and committed in one
 * batch with the inode (size, times) and the counters.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

int cs_ext_decode(struct cs_ext *e, const uint8_t *v, size_t vlen)
{
	if (vlen != CS_EXT_LEN)
		return cs_fail(-EIO, "corrupt extent record");
	memcpy(e->hash, v, CS_HASH_LEN);
	e->raw_len = be32_get(v + CS_HASH_LEN);
	e->stored_len = be32_get(v + CS_HASH_LEN + 4);
	if (e->raw_len == 0 || e->raw_len > CS_CHUNK_MAX)
		return cs_fail(-EIO, "corrupt extent record");
	return 0;
}

/* The extent of chunk @idx as of the view: 0, -ENOENT (a hole), -EIO. */
int cs_ext_get(cs_store *st, const struct cs_volrec *rec, uint64_t ino,
                   uint64_t idx, struct cs_ext *e)
{
	uint8_t k[CS_KEY_MAX];
	const uint8_t *v;
	struct cs_ver ver;
	size_t vlen;
	char *buf;
	int rc;

	rc = cs_kv_getv(st, rec, k, cs_key_extent(k, rec->id, ino, idx), &buf, &v, &vlen, &ver);
	if (rc)
		return rc;
	rc = cs_ext_decode(e, v, vlen);
	e->owned = cs_ver_owned(&ver, rec);
	free(buf);
	return rc;
}

/* Replace chunk @idx's extent @old (NULL: a hole) by @new (NULL: make it a
 * hole), with its encoded chunk @value; counters follow. The old version's
 * chunk reference is dropped only when the version is the volume's own in
 * the current epoch (overwritten in place); a version a snapshot or an
 * origin holds keeps its reference, and a tombstone or a newer version
 * hides it from the live view. */
int cs_ext_replace(struct cs_txn *t, struct cs_inode *in, uint64_t idx,
                       const struct cs_ext *old, const struct cs_ext *new, char *value,
                       size_t vlen)
{
	struct cs_volume_stats *s = &t->rec.stats;
	uint8_t k[CS_KEY_MAX], v[CS_EXT_LEN];
	size_t klen = cs_key_extent(k, t->rec.id, in->ino, idx);
	int rc;

	if (old) {
		if (old->owned) {
			rc = cs_txn_chunk_ref(t, old->hash, -1, old->raw_len, old->stored_len,
			                      NULL, 0);
			if (rc)
				goto fail;
			t->rec.written_bytes -= old->raw_len;
		}
		s->chunk_refs--;
		s->raw_bytes -= old->raw_len;
		s->stored_bytes -= old->stored_len;
		in->data_bytes -= old->raw_len;
	}
	if (!new) {
		if (old)
			cs_txn_delv(t, k, klen);
		return 0;
	}
	rc = cs_txn_chunk_ref(t, new->hash, 1, new->raw_len, new->stored_len, value, vlen);
	value = NULL; /* owned by the txn now, even on failure */
	if (rc)
		return rc;
	s->chunk_refs++;
	t->rec.written_bytes += new->raw_len;
	s->raw_bytes += new->raw_len;
	s->stored_bytes += new->stored_len;
	in->data_bytes += new->raw_len;
	memcpy(v, new->hash, CS_HASH_LEN);
	be32_put(v + CS_HASH_LEN, new->raw_len);
	be32_put(v + CS_HASH_LEN + 4, new->stored_len);
	cs_txn_putv(t, k, klen, v, CS_EXT_LEN);
	return 0;
fail:
	free(value);
	return rc;
}

/* Fill @buf (the volume's chunk size) with chunk @idx's bytes: zeros past
 * its raw length, all zeros for a hole. *@e / *@have tell what extent was
 * found. */
int cs_file_chunk_load(cs_store *st, const struct cs_volrec *rec, uint64_t ino,
                      uint64_t idx, uint8_t *buf, struct cs_ext *e, int *have)
{
	uint32_t csz = rec->chunk_size;
	int rc = cs_ext_get(st, rec, ino, idx, e);

	*have = 0;
	if (rc == -ENOENT) {
		memset(buf, 0, csz);
		return 0;
	}
	if (rc)
		return rc;
	rc = cs_chunk_read(st, e->hash, buf, csz);
	if (rc < 0)
		return rc;
	if ((uint32_t)rc != e->raw_len) {
		char hex[2 * CS_HASH_LEN + 1];

		cs_hash_hex(e->hash, hex);
		return cs_fail(-EIO, "inode %llu chunk %llu: chunk %s has %d bytes, extent says %u",
		               (unsigned long long)ino, (unsigned long long)idx, hex, rc,
		               e->raw_len);
	}
	memset(buf + e->raw_len, 0, csz - e->raw_len);
	*have = 1;
	return 0;
}

int cs_file_chunks(cs_store *st, const struct cs_volrec *rec, uint64_t ino, uint64_t off,
                   uint64_t end, int (*fn)(void *ctx, struct cs_chunk_part *p), void *ctx)
{
	uint32_t csz = rec->chunk_size;
	struct cs_chunk_part p;
	int rc = 0;

	p.buf = malloc(csz);
	if (!p.buf)
		return -ENOMEM;
	for (p.pos = off; p.pos < end && rc == 0; p.pos += p.n) {
		p.idx = p.pos / csz;
		p.co = p.pos % csz;
		p.n = csz - p.co;
		if (p.n > end - p.pos)
			p.n = end - p.pos;
		rc = cs_file_chunk_load(st, rec, ino, p.idx, p.buf, &p.e, &p.have);
		if (rc == 0)
			rc = fn(ctx, &p);
	}
	free(p.buf);
	return rc;
}

/* Store @buf as chunk @idx (trailing zeros trimmed; all zeros: a hole). */
int cs_file_chunk_store(struct cs_txn *t, struct cs_inode *in, uint64_t idx,
                       const uint8_t *buf, const struct cs_ext *old)
{
	struct cs_ext e;
	size_t len = t->rec.chunk_size;
	char *value;
	size_t vlen;
	int rc;

	while (len > 0 && buf[len - 1] == 0)
		len--;
	if (len == 0)
		return cs_ext_replace(t, in, idx, old, NULL, NULL, 0);
	rc = cs_chunk_encode(buf, len, t->rec.compression, e.hash, &value, &vlen);
	if (rc)
		return rc;
	if (old && old->raw_len == len && !memcmp(old->hash, e.hash, CS_HASH_LEN)) {
		free(value); /* unchanged */
		return 0;
	}
	e.raw_len = (uint32_t)len;
	e.stored_len = (uint32_t)vlen;
	return cs_ext_replace(t, in, idx, old, &e, value, vlen);
}

int cs_file_check(const struct cs_inode *in)
{
	if (S_ISDIR(in->mode))
		return cs_fail(-EISDIR, "inode %llu is a directory", (unsigned long long)in->ino);
	if (!S_ISREG(in->mode))
		return cs_fail(-EINVAL, "inode %llu is not a regular file",
		               (unsigned long long)in->ino);
	return 0;
}

/* Copy what the write buffer holds of [off, end) of @ino over @out. */
static void wb_overlay(struct cs_volstate *vs, uint64_t ino, uint64_t off, uint64_t end,
                       uint8_t *out)
{
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		const struct cs_wslot *w = &vs->wb[i];
		uint64_t cs = w->idx * vs->rec.chunk_size, ce = cs + vs->rec.chunk_size;
		uint64_t a = cs > off ? cs : off, b = ce < end ? ce : end;

		if (w->ino == ino && a < b)
			memcpy(out + (a - off), w->data + (a - cs), b - a);
	}
}

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
		wb_overlay(vol->vs, ino, off, end, out);
	if (rc == 0)
		rc = (ssize_t)(end - off);
out:
	if (locked)
		pthread_mutex_unlock(&vol->vs->lock);
	return rc;
}

/* ---- the write buffer (struct cs_wslot in cs_priv.h) ----
 *
 * THE SIZE RULE. A file's size, as every reader of its attributes sees it
 * (getattr, lookup, readdirplus, the replies to setattr and link, read,
 * lseek), is the size in its inode record raised to the end of the
 * furthest write the buffer holds for it (cs_file_view); its mtime
 * likewise. The kernel adopts that size whenever it (re)loads the inode,
 * for instance after evicting it under memory pressure, so a view that
 * left out buffered writes would make the file shrink back and lose what
 * was written past the record's size (issue 12: a file grown by a small
 * write, closed, evicted, then looked up, came back with its old size).
 *
 * The rule holds because of three orderings, all under the volume lock:
 *  1. A slot is freed only after the batch that wrote its chunk (and the
 *     size it gave the file) is committed (wb_flush_locked): a reader that
 *     finds no slot finds the committed record, and a flush that fails
 *     keeps every slot (nothing acknowledged is dropped).
 *  2. An operation that reads or rewrites a file's extents (truncate,
 *     fallocate, a write through the buffer) first commits that file's
 *     slots in the same hold of the lock (cs_file_txn_begin,
 *     cs_txn_commit_keep): no slot written before it can land on top of it
 *     afterwards with stale bytes or a stale size.
 *  3. A flush commits a size only as far as the chunk it writes
 *     (slot_end): a record never claims bytes still in the buffer, so a
 *     crash cannot turn unflushed writes into zeros inside the file.
 * wb_used counts the slots in use; readers that see 0 need no lock.
 */

#define WB_SPAN 8                  /* chunks a buffered write may touch */
#define WB_MAX_WRITE (256u << 10) /* and its largest size */

/* May a write of @size bytes at @off (chunks of @csz) wait in the buffer?
 * Under 256 KiB (small files, database pages); larger ones are encoded
 * outside the lock, in parallel, and synced with other writers' (cs_write). */
static int wb_candidate(uint64_t off, size_t size, uint64_t csz)
{
	return size < WB_MAX_WRITE && (off + size - 1) / csz - off / csz < WB_SPAN;
}

static int64_t ns_since(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

/* Slots a volume uses: about 4 MiB of chunks, 4 to CS_WB_SLOTS of them. */
static int wb_slots(const struct cs_volstate *vs)
{
	uint32_t n = (4u << 20) / vs->rec.chunk_size;

	return n < 4 ? 4 : n > CS_WB_SLOTS ? CS_WB_SLOTS : (int)n;
}

static struct cs_wslot *wb_find(struct cs_volstate *vs, uint64_t ino, uint64_t idx)
{
	for (int i = 0; i < CS_WB_SLOTS; i++)
		if (vs->wb[i].ino == ino && vs->wb[i].idx == idx && ino)
			return &vs->wb[i];
	return NULL;
}

static void wb_free(struct cs_volstate *vs, struct cs_wslot *w)
{
	w->ino = 0;
	__atomic_store_n(&vs->wb_used, vs->wb_used - 1, __ATOMIC_RELEASE);
}

/* How far a flush of slot @w may raise its file's recorded size: its
 * writes' end, but not past its own chunk (rule 3). */
static uint64_t slot_end(const struct cs_volstate *vs, const struct cs_wslot *w)
{
	uint64_t ce = (w->idx + 1) * vs->rec.chunk_size;

	return w->size < ce ? w->size : ce;
}

static void raise_times(const struct cs_volstate *vs, struct cs_inode *in,
                        const struct timespec *mt)
{
	if (!vs->keep_times && ns_since(&in->mtime, mt) > 0)
		in->mtime = in->ctime = *mt;
}

void cs_file_view(const struct cs_volstate *vs, struct cs_inode *in)
{
	if (!S_ISREG(in->mode) || !__atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE))
		return;
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		const struct cs_wslot *w = &vs->wb[i];

		if (w->ino != in->ino || !w->ino)
			continue;
		if (w->size > in->size)
			in->size = w->size;
		raise_times(vs, in, &w->mtime);
	}
}

int cs_file_commit_reply(struct cs_txn *t, struct cs_inode *in, struct cs_attr *out)
{
	int rc;

	cs_txn_put_inode(t, in);
	cs_file_view(t->vs, in); /* the size rule, for the reply */
	rc = cs_txn_commit(t);
	if (rc == 0 && out)
		cs_inode_to_attr(in, out);
	return rc;
}

int cs_inode_load_view(cs_vol *vol, uint64_t ino, struct cs_inode *out)
{
	struct cs_volstate *vs = vol->vs;
	int locked = !vol->rdonly && __atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE);
	int rc;

	if (locked)
		pthread_mutex_lock(&vs->lock);
	rc = cs_inode_load(vol, ino, out);
	if (rc == 0 && locked)
		cs_file_view(vs, out);
	if (locked)
		pthread_mutex_unlock(&vs->lock);
	return rc;
}

/* Put into @t the chunks of the slots marked in @pick, an inode at a time
 * (each inode is loaded and put once: a txn does not read its own
 * writes), with the sizes and times they give their files (rule 3). The
 * slots stay in use: wb_flush_locked frees them once this is committed. */
static int wb_write_picked(struct cs_txn *t, const char pick[CS_WB_SLOTS])
{
	struct cs_volstate *vs = t->vs;
	char done[CS_WB_SLOTS] = { 0 };
	int rc = 0;

	for (int i = 0; i < CS_WB_SLOTS && rc == 0; i++) {
		uint64_t ino = vs->wb[i].ino;
		struct cs_inode in;

		if (!pick[i] || done[i])
			continue;
		rc = cs_inode_load_rec(t->st, &t->rec, ino, &in);
		for (int j = i; j < CS_WB_SLOTS && rc == 0; j++) {
			struct cs_wslot *w = &vs->wb[j];
			struct cs_ext e;

			if (!pick[j] || w->ino != ino)
				continue;
			rc = cs_ext_get(t->st, &t->rec, ino, w->idx, &e);
			if (rc == 0 || rc == -ENOENT)
				rc = cs_file_chunk_store(t, &in, w->idx, w->data, rc == 0 ? &e : NULL);
			if (slot_end(vs, w) > in.size)
				in.size = slot_end(vs, w);
			raise_times(vs, &in, &w->mtime);
			done[j] = 1;
		}
		if (rc == 0)
			cs_txn_put_inode(t, &in);
	}
	return rc;
}

/* Mark in @pick the slots of @ino (0: every inode), with @only_old only
 * those that waited CS_WB_AGE_NS by @now; returns how many. */
static int wb_pick(const struct cs_volstate *vs, uint64_t ino, int only_old,
                   const struct timespec *now, char pick[CS_WB_SLOTS])
{
	int n = 0;

	for (int i = 0; i < CS_WB_SLOTS; i++) {
		const struct cs_wslot *w = &vs->wb[i];

		pick[i] = w->ino && (!ino || w->ino == ino) &&
		          !(only_old && ns_since(&w->since, now) < CS_WB_AGE_NS);
		n += pick[i];
	}
	return n;
}

/* Commit the slots marked in @pick inside @t (the volume locked, the
 * batch empty) and free them (rule 1); @t stays open with an empty batch.
 * On failure every slot is kept and the batch is empty again. */
static int wb_commit_picked(struct cs_txn *t, const char pick[CS_WB_SLOTS])
{
	int rc = wb_write_picked(t, pick);

	if (rc) {
		cs_txn_reset(t);
		return rc;
	}
	rc = cs_txn_commit_keep(t);
	for (int i = 0; i < CS_WB_SLOTS && rc == 0; i++)
		if (pick[i])
			wb_free(t->vs, &t->vs->wb[i]);
	return rc;
}

static int wb_flush_locked(struct cs_txn *t, uint64_t ino, int only_old)
{
	char pick[CS_WB_SLOTS];

	if (!t->vs->wb_used || !wb_pick(t->vs, ino, only_old, &t->now, pick))
		return 0;
	return wb_commit_picked(t, pick);
}

void cs_wb_discard(struct cs_volstate *vs, uint64_t ino)
{
	if (!vs)
		return;
	for (int i = 0; i < CS_WB_SLOTS; i++)
		if (vs->wb[i].ino && vs->wb[i].ino == ino)
			wb_free(vs, &vs->wb[i]);
}

int cs_file_txn_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino)
{
	int rc = cs_txn_begin(t, vol->st, vol);

	if (rc == 0)
		rc = wb_flush_locked(t, ino, 0);
	return rc ? cs_txn_abort(t, rc) : 0;
}

int cs_file_inode_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino, struct cs_inode *in)
{
	int rc = cs_file_txn_begin(t, vol, ino);

	if (rc)
		return rc;
	rc = cs_inode_load(vol, ino, in);
	return rc ? cs_txn_abort(t, rc) : 0;
}

/* The slot holding chunk @idx of @in: found, or a free one filled from the
 * store's chunk (not read when @whole: the write covers it all). Returns 1
 * when no slot is free (the caller then writes the chunk through). */
static int wb_get(struct cs_txn *t, struct cs_inode *in, uint64_t idx, int whole,
		  struct cs_wslot **out)
{
	struct cs_volstate *vs = t->vs;
	struct cs_wslot *w = wb_find(vs, in->ino, idx);
	struct cs_ext e;
	int have, rc;

	if (w) {
		*out = w;
		return 0;
	}
	for (int i = 0; i < wb_slots(vs) && !w; i++)
		if (!vs->wb[i].ino)
			w = &vs->wb[i];
	if (!w)
		return 1;
	if (!w->data && !(w->data = malloc(vs->rec.chunk_size)))
		return -ENOMEM;
	have = 0;
	if (whole) { /* not read, but its length counted (st_blocks) */
		rc = cs_ext_get(t->st, &t->rec, in->ino, idx, &e);
		have = rc == 0;
		rc = rc == -ENOENT ? 0 : rc;
	} else {
		rc = cs_file_chunk_load(t->st, &t->rec, in->ino, idx, w->data, &e, &have);
	}
	if (rc)
		return rc;
	w->old_raw = have ? e.raw_len : 0;
	w->ino = in->ino;
	w->idx = idx;
	w->since = w->mtime = t->now;
	w->size = 0;
	__atomic_store_n(&vs->wb_used, vs->wb_used + 1, __ATOMIC_RELEASE);
	*out = w;
	return 0;
}

/* At the start of a write (@t just begun): commit the slots that waited
 * long enough, or every slot when fewer than WB_SPAN are free (a buffered
 * write fills at most WB_SPAN). All of them at once: one commit
 * puts their chunks and syncs the chunk store once (cs_txn.c), where
 * committing the oldest one or two per write cost a sync per small file. */
static int wb_make_room(struct cs_txn *t)
{
	struct cs_volstate *vs = t->vs;
	char pick[CS_WB_SLOTS];
	int n;

	if (!vs->wb_used)
		return 0;
	n = wb_pick(vs, 0, 1, &t->now, pick);
	if (vs->wb_used - n > wb_slots(vs) - WB_SPAN)
		n = wb_pick(vs, 0, 0, &t->now, pick);
	return n ? wb_commit_picked(t, pick) : 0;
}

/* Commit, in a transaction of its own, every slot of @vs (with @only_old:
 * those that waited CS_WB_AGE_NS); nothing to do takes no lock. */
static int wb_flush_own_txn(cs_store *st, struct cs_volstate *vs, int only_old)
{
	cs_vol v = { .st = st, .vs = vs };
	struct cs_txn t;
	int rc;

	if (!__atomic_load_n(&vs->wb_used, __ATOMIC_ACQUIRE))
		return 0;
	rc = cs_txn_begin(&t, st, &v);
	if (rc)
		return rc;
	rc = wb_flush_locked(&t, 0, only_old);
	return cs_txn_abort(&t, rc); /* committed already: only ends the txn */
}

int cs_wb_flush_vs(cs_store *st, struct cs_volstate *vs)
{
	return wb_flush_own_txn(st, vs, 0);
}

int cs_wb_flush_open(cs_store *st)
{
	int rc = 0;

	for (struct cs_volstate *vs = st->vols; vs; vs = vs->next)
		if (!vs->snap_epoch && vs->rw_open) {
			int r = cs_wb_flush_vs(st, vs); /* unflushed slots stay for a retry */

			if (r && !rc)
				rc = r;
		}
	return rc;
}

void cs_wb_release(struct cs_volstate *vs)
{
	for (int i = 0; i < CS_WB_SLOTS; i++) {
		/* a slot left here is one the last flush could not write (a full
		 * disk): its closer syncs first and was told; it goes now */
		vs->wb[i].ino = 0;
		free(vs->wb[i].data);
		vs->wb[i].data = NULL;
	}
}

int cs_vol_flush(cs_vol *vol)
{
	return vol->rdonly ? 0 : cs_wb_flush_vs(vol->st, vol->vs);
}

int cs_vol_flush_aged(cs_vol *vol)
{
	return vol->rdonly ? 0 : wb_flush_own_txn(vol->st, vol->vs, 1);
}

/* A whole chunk of a write, hashed and compressed before the volume is
 * locked (it does not depend on what the file held): writers on several
 * threads encode in parallel, and the lock covers only the bookkeeping. */
struct pre_chunk {
	uint8_t hash[CS_HASH_LEN];
	char *value; /* NULL: all zeros (a hole) */
	size_t vlen;
	uint32_t raw_len;
	uint8_t ref[CS_REF_MAX]; /* pre_store put it there (reflen > 0) */
	size_t reflen;
};

struct pre_write {
	uint64_t first; /* chunk index of pre[0] */
	size_t n;
	struct pre_chunk *c;
};

static void pre_free(cs_store *st, struct pre_write *pw)
{
	for (size_t i = 0; i < pw->n; i++) {
		if (pw->c[i].reflen) /* put but not used: garbage */
			cs_chunk_named(st, pw->c[i].ref, pw->c[i].reflen, 0);
		free(pw->c[i].value);
	}
	free(pw->c);
	pw->n = 0;
	pw->c = NULL;
}

static int pre_encode(struct pre_write *pw, uint64_t off, const uint8_t *src, size_t size,
                      int level, uint32_t csz)
{
	uint64_t first = (off + csz - 1) / csz;
	uint64_t end = (off + size) / csz;

	memset(pw, 0, sizeof(*pw));
	if (end <= first)
		return 0;
	pw->c = calloc(end - first, sizeof(*pw->c));
	if (!pw->c)
		return -ENOMEM;
	pw->first = first;
	pw->n = end - first;
	for (size_t i = 0; i < pw->n; i++) {
		const uint8_t *d = src + ((first + i) * csz - off);
		struct pre_chunk *c = &pw->c[i];
		size_t len = csz;
		int rc;

		while (len > 0 && d[len - 1] == 0)
			len--;
		c->raw_len = (uint32_t)len;
		if (len == 0)
			continue;
		rc = cs_chunk_encode(d, len, level, c->hash, &c->value, &c->vlen);
		if (rc) {
			pre_free(NULL, pw); /* nothing put yet */
			return rc;
		}
	}
	return 0;
}

/* Put the bytes of the encoded chunks the store does not hold into the
 * chunk store and make them durable, before the volume is locked: writers
 * of one volume then sync in parallel (one fdatasync for all of them),
 * and the lock covers only the metadata. A chunk some other writer stores
 * meanwhile leaves this copy as garbage (the commit names one). */
static int pre_store(cs_store *st, struct pre_write *pw)
{
	int rc = 0, put = 0;

	for (size_t i = 0; i < pw->n && rc == 0; i++) {
		struct pre_chunk *c = &pw->c[i];

		if (!c->value) /* a hole */
			continue;
		rc = cs_chunk_put_new(st, c->hash, c->value, c->vlen, c->ref);
		if (rc > 0) {
			c->reflen = (size_t)rc;
			put = 1;
			rc = 0;
		}
	}
	return rc == 0 && put ? cs_chunk_durable(st) : rc;
}

/* Store pre-encoded chunk @c as chunk @idx over @old (NULL: a hole). */
static int store_pre(struct cs_txn *t, struct cs_inode *in, uint64_t idx,
                     struct pre_chunk *c, const struct cs_ext *old)
{
	struct cs_ext e;
	char *value = c->value;
	int rc;

	c->value = NULL; /* consumed */
	if (c->raw_len == 0)
		return cs_ext_replace(t, in, idx, old, NULL, NULL, 0);
	if (old && old->raw_len == c->raw_len && !memcmp(old->hash, c->hash, CS_HASH_LEN)) {
		free(value); /* unchanged */
		return 0;
	}
	memcpy(e.hash, c->hash, CS_HASH_LEN);
	e.raw_len = c->raw_len;
	e.stored_len = (uint32_t)c->vlen;
	rc = cs_ext_replace(t, in, idx, old, &e, value, c->vlen);
	if (rc == 0 && c->reflen) { /* the txn settles it from here */
		cs_txn_chunk_stored(t, c->ref, c->reflen);
		c->reflen = 0;
	}
	return rc;
}

/* Apply @size bytes of @src (NULL: zeros) at @off to the chunked file @in.
 * @base, when not NULL, is chunk 0's content (inline data being moved out,
 * not yet an extent): a txn does not read its own writes, so chunk 0 is
 * built from it rather than stored twice. */
static int write_chunks(struct cs_txn *t, struct cs_inode *in, uint64_t off,
                        const uint8_t *src, size_t size, uint8_t *buf,
                        const uint8_t *base, size_t base_len, struct pre_write *pw)
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
				rc = store_pre(t, in, idx, &pw->c[idx - pw->first], have ? &e : NULL);
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
                             struct pre_write *pw)
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

/* Does the write buffer hold a chunk of @ino in [first, last]? */
static int wb_overlaps(struct cs_volstate *vs, uint64_t ino, uint64_t first, uint64_t last)
{
	for (int i = 0; i < CS_WB_SLOTS; i++)
		if (vs->wb[i].ino == ino && ino && vs->wb[i].idx >= first && vs->wb[i].idx <= last)
			return 1;
	return 0;
}

/* A write that may wait (wb_candidate) into a chunked file of a volume
 * without quota goes into the write buffer when its chunks have slots; the
 * buffer is committed later in one batch with one chunk-file sync (a sync
 * per small file made an untar of 8,000 files take 16 s). 1: did not fit. */
static int write_buffered(struct cs_txn *t, struct cs_inode *in, uint64_t off,
                          const uint8_t *src, size_t size)
{
	struct cs_volstate *vs = t->vs;
	uint64_t csz = t->rec.chunk_size, first = off / csz, last = (off + size - 1) / csz;
	int need = 0, free_slots = 0, rc;

	/* an inline file stays out, unless it is empty and the write takes it
	 * past the inline size: then chunk 0 holds it all (a new small file
	 * written in one request, an untar's every file) */
	if (t->rec.quota || !wb_candidate(off, size, csz) ||
	    (in->size <= CS_INLINE_MAX && (in->size != 0 || off + size <= CS_INLINE_MAX)))
		return 1;
	for (uint64_t idx = first; idx <= last; idx++)
		need += !wb_find(vs, in->ino, idx);
	for (int i = 0; i < wb_slots(vs); i++)
		free_slots += !vs->wb[i].ino;
	if (free_slots < need)
		return 1;
	for (uint64_t pos = off, end = off + size; pos < end;) {
		uint64_t idx = pos / csz, co = pos % csz;
		uint64_t n = csz - co;
		struct cs_wslot *w;

		if (n > end - pos)
			n = end - pos;
		rc = wb_get(t, in, idx, co == 0 && n == csz, &w);
		CS_ASSERT(rc <= 0); /* a slot was free */
		if (rc)
			return rc;
		memcpy(w->data + co, src + (pos - off), n);
		if (off + size > w->size)
			w->size = off + size;
		w->mtime = t->now;
		pos += n;
	}
	return 0;
}

/* Put @size bytes at @off into @in inside @t (not through the buffer):
 * inline while the file stays small enough, else whole chunks (@pw: the
 * ones encoded before the lock). The caller sets the size to @new_size. */
static int write_through(struct cs_txn *t, struct cs_inode *in, uint64_t off, const void *src,
                         size_t size, uint64_t new_size, struct pre_write *pw)
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
	struct pre_write pw = { 0 };
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
	if (size >= csz && !wb_candidate(off, size, csz)) { /* whole chunks, not for the
							    * buffer: encoded outside the lock */
		pthread_mutex_lock(&vol->vs->lock);
		level = vol->vs->rec.compression;
		pthread_mutex_unlock(&vol->vs->lock);
		rc = pre_encode(&pw, off, src, size, level, (uint32_t)csz);
		if (rc == 0)
			rc = pre_store(vol->st, &pw);
		if (rc) {
			pre_free(vol->st, &pw);
			return rc;
		}
	}
	rc = cs_txn_begin(&t, vol->st, vol);
	if (rc) {
		pre_free(vol->st, &pw);
		return rc;
	}
	rc = wb_make_room(&t);
	if (rc == 0)
		rc = cs_inode_load(vol, ino, &in);
	if (rc == 0)
		rc = cs_file_check(&in);
	if (rc)
		goto abort;
	rc = write_buffered(&t, &in, off, src, size);
	if (rc <= 0) { /* buffered (nothing to commit), or an error */
		pre_free(vol->st, &pw);
		cs_txn_abort(&t, 0);
		return rc ? rc : (ssize_t)size;
	}
	if (wb_overlaps(t.vs, ino, off / csz, (off + size - 1) / csz)) {
		/* written through: what the buffer holds of the file first (rule 2) */
		rc = wb_flush_locked(&t, ino, 0);
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
	pre_free(vol->st, &pw);
	rc = cs_txn_commit(&t);
	return rc ? rc : (ssize_t)size;
abort:
	pre_free(vol->st, &pw);
	return cs_txn_abort(&t, rc);
}
