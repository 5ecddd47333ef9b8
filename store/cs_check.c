/*
 * cs_check.c - cs_store_check / cs_store_recount: every counter recomputed
 * from the keys, every chunk reference checked.
 *
 * Reads the whole store (slow: tests, `cstorfs-ctl check`). Checks, per
 * volume, the kept counters against the inode and extent records, and
 * store-wide, every chunk reference count against the extents naming the
 * chunk, that every referenced chunk is stored and every stored chunk
 * referenced (or staged by a partial receive), and the superblock's chunk
 * counters against the chunks present.
 *
 * Every read goes through one RocksDB snapshot (cs_kv_pin), taken under
 * st->lock, where every commit writes its records and the counters they
 * change in one batch: the check sees one moment of a live store, never
 * half of a concurrent operation. It writes nothing.
 *
 * A problem is reported and the check goes on (the caller's callback sees
 * each); a record that cannot be decoded stops it with -EIO.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"

struct check {
	cs_check_fn fn;
	void *ctx;
	uint64_t problems;
	char first[512]; /* the first problem: cs_last_error() at the end */
};

static void problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct check *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->problems++ == 0)
		snprintf(c->first, sizeof(c->first), "%s", msg);
	if (c->fn)
		c->fn(c->ctx, msg);
}

/* ---- per volume ---- */

struct vol_count {
	struct cs_volume_stats s;
	uint64_t inline_bytes, data_bytes;
};

static int count_inode(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
		       const struct cs_ver *ver)
{
	struct vol_count *c = ctx;
	uint32_t mode;

	if (vlen < CS_INODE_FIXED)
		return cs_fail(-EIO, "corrupt inode record");
	mode = be32_get(v + 1);
	c->s.inodes++;
	c->data_bytes += be64_get(v + 1 + 16 + 16);
	if (S_ISREG(mode) || S_ISLNK(mode))
		c->s.apparent_bytes += be64_get(v + 1 + 16 + 8);
	if (S_ISREG(mode)) /* the inline bytes follow the fixed fields */
		c->inline_bytes += vlen - CS_INODE_FIXED;
	return 0;
}

static int count_extent(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
			const struct cs_ver *ver)
{
	struct vol_count *c = ctx;

	if (vlen != CS_HASH_LEN + 8)
		return cs_fail(-EIO, "corrupt extent record");
	c->s.chunk_refs++;
	c->s.raw_bytes += be32_get(v + CS_HASH_LEN);
	c->s.stored_bytes += be32_get(v + CS_HASH_LEN + 4);
	return 0;
}

static void vol_counter(struct check *ck, const struct cs_volrec *r, const char *what,
			uint64_t kept, uint64_t counted)
{
	if (kept != counted)
		problem(ck, "volume '%s': %s is %" PRIu64 " but the records add up to %" PRIu64,
			r->name, what, kept, counted);
}

static int recount_volume(cs_store *st, struct check *ck, const struct cs_volrec *r,
			  struct cs_store_stats *out)
{
	const struct cs_volume_stats *k = &r->stats;
	struct vol_count c = {0};
	uint8_t prefix[9];
	int rc;

	be64_put(prefix + 1, r->id);
	prefix[0] = 'I';
	rc = cs_kv_scanv(st, r, prefix, 9, NULL, 0, count_inode, &c);
	prefix[0] = 'E';
	if (rc == 0)
		rc = cs_kv_scanv(st, r, prefix, 9, NULL, 0, count_extent, &c);
	if (rc)
		return rc;
	c.s.logical_bytes = c.data_bytes;
	if (c.data_bytes != c.inline_bytes + c.s.raw_bytes)
		problem(ck,
			"volume '%s': inodes hold %" PRIu64 " data bytes but inline data "
			"and extents add up to %" PRIu64,
			r->name, c.data_bytes, c.inline_bytes + c.s.raw_bytes);
	c.s.stored_bytes += c.inline_bytes;
	vol_counter(ck, r, "the inode count", k->inodes, c.s.inodes);
	vol_counter(ck, r, "logical_bytes", k->logical_bytes, c.s.logical_bytes);
	vol_counter(ck, r, "apparent_bytes", k->apparent_bytes, c.s.apparent_bytes);
	vol_counter(ck, r, "chunk_refs", k->chunk_refs, c.s.chunk_refs);
	vol_counter(ck, r, "raw_bytes", k->raw_bytes, c.s.raw_bytes);
	vol_counter(ck, r, "stored_bytes", k->stored_bytes, c.s.stored_bytes);
	out->volumes++;
	out->inodes += c.s.inodes;
	out->logical_bytes += c.s.logical_bytes;
	return 0;
}

struct recs {
	struct cs_volrec *v;
	size_t n, cap;
};

static int rec_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct recs *l = ctx;
	int rc;

	if (klen != 9)
		return 0;
	if (cs_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	rc = cs_volrec_decode(&l->v[l->n], v, vlen);
	if (rc == 0 && !(l->v[l->n].flags & CS_VOL_DELETING))
		l->n++;
	return rc;
}

static int check_volumes(cs_store *st, struct check *ck, struct cs_store_stats *out)
{
	struct recs l = {0};
	int rc;

	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"V", 1, rec_fn, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct cs_volrec *r = &l.v[i];
		struct cs_chain chain;

		rc = cs_chain_load(st, r, &chain); /* a clone counts what it reads through */
		r->chain = chain.n ? &chain : NULL;
		if (rc == 0)
			rc = recount_volume(st, ck, r, out);
	}
	free(l.v);
	return rc;
}

/* ---- chunks and their references ---- */

/* A sorted array of hashes, each with a count. */
struct hlist {
	struct hent {
		uint8_t h[CS_HASH_LEN];
		uint64_t count;
	} * e;
	size_t n, cap, pos;
};

static int hlist_add(struct hlist *l, const uint8_t *h, uint64_t count)
{
	if (cs_grow((void **)&l->e, &l->cap, l->n + 1, sizeof(*l->e)))
		return -ENOMEM;
	memcpy(l->e[l->n].h, h, CS_HASH_LEN);
	l->e[l->n++].count = count;
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CS_HASH_LEN);
}

struct hashes {
	cs_store *st;
	struct check *ck;
	struct hlist ext;    /* every extent's chunk (sorted, then counted) */
	struct hlist refs;   /* every 'R' record: hash, count */
	struct hlist staged; /* chunks partial receives stored */
	uint64_t chunks, raw, stored, refcount;
};

static int ext_all_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct hashes *h = ctx;

	if (vlen < 1 || v[0] != 1)
		return 0; /* tombstone */
	if (vlen != 1 + CS_HASH_LEN + 8)
		return cs_fail(-EIO, "corrupt extent record");
	return hlist_add(&h->ext, v + 1, 1);
}

/* Sort the extents' hashes and fold equal ones into one entry with a count. */
static void ext_fold(struct hlist *l)
{
	size_t j = 0;

	if (l->n)
		qsort(l->e, l->n, sizeof(*l->e), hash_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (j && !memcmp(l->e[j - 1].h, l->e[i].h, CS_HASH_LEN))
			l->e[j - 1].count++;
		else
			l->e[j++] = l->e[i];
	}
	l->n = j;
}

static void no_ref_record(struct check *ck, const struct hent *e)
{
	char hex[2 * CS_HASH_LEN + 1];

	cs_hash_hex(e->h, hex);
	problem(ck, "chunk %s: %" PRIu64 " extents name it but it has no reference record", hex,
		e->count);
}

/* Each 'R' record: its count must equal the extents naming the chunk. */
static int ref_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct hashes *h = ctx;
	struct hlist *x = &h->ext;
	char hex[2 * CS_HASH_LEN + 1];
	uint64_t count = 0;

	if (klen != 1 + CS_HASH_LEN || vlen != 16)
		return cs_fail(-EIO, "corrupt reference record");
	while (x->pos < x->n && memcmp(x->e[x->pos].h, k + 1, CS_HASH_LEN) < 0)
		no_ref_record(h->ck, &x->e[x->pos++]);
	if (x->pos < x->n && !memcmp(x->e[x->pos].h, k + 1, CS_HASH_LEN))
		count = x->e[x->pos++].count;
	if (count != be64_get(v)) {
		cs_hash_hex(k + 1, hex);
		problem(h->ck,
			"chunk %s: reference count %" PRIu64 " but %" PRIu64 " extents name it",
			hex, be64_get(v), count);
	}
	h->refcount += count;
	return hlist_add(&h->refs, k + 1, count);
}

static int staged_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct hashes *h = ctx;

	if (klen != 9 + CS_HASH_LEN)
		return 0;
	return hlist_add(&h->staged, k + 9, 0);
}

static void missing_chunk(struct check *ck, const struct hent *e)
{
	char hex[2 * CS_HASH_LEN + 1];

	cs_hash_hex(e->h, hex);
	problem(ck, "chunk %s is missing: %" PRIu64 " extents name it", hex, e->count);
}

/* Each stored chunk, in hash order as the 'R' records: merge the two. */
static int chunk_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct hashes *h = ctx;
	struct hlist *r = &h->refs;
	char hex[2 * CS_HASH_LEN + 1];

	uint32_t stored, raw;

	if (klen != CS_HASH_LEN || cs_chunk_lens(v, vlen, &stored, &raw))
		return cs_fail(-EIO, "corrupt chunk key or value");
	while (r->pos < r->n && memcmp(r->e[r->pos].h, k, CS_HASH_LEN) < 0)
		missing_chunk(h->ck, &r->e[r->pos++]);
	if (v[0] != 1 && h->st->chunks->ops->check(h->st->chunks, k, v, vlen))
		problem(h->ck, "%s", cs_last_error()); /* named, but its bytes are not there */
	if (r->pos < r->n && !memcmp(r->e[r->pos].h, k, CS_HASH_LEN)) {
		r->pos++;
		h->chunks++;
		h->raw += raw;
		h->stored += stored;
		return 0;
	}
	if (h->staged.n && bsearch(k, h->staged.e, h->staged.n, sizeof(*h->staged.e), hash_cmp))
		return 0; /* staged by a partial receive: not counted yet */
	cs_hash_hex(k, hex);
	problem(h->ck, "chunk %s is stored but nothing references it", hex);
	return 0;
}

static void sb_counter(struct check *ck, const char *what, uint64_t kept, uint64_t counted)
{
	if (kept != counted)
		problem(ck, "store: %s is %" PRIu64 " but a recount gives %" PRIu64, what, kept,
			counted);
}

static int check_chunks(cs_store *st, struct check *ck, const struct cs_sb *sb,
			struct cs_store_stats *out)
{
	struct hashes h = {.st = st, .ck = ck};
	int rc;

	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"E", 1, ext_all_fn, &h);
	if (rc)
		goto out;
	ext_fold(&h.ext);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"R", 1, ref_fn, &h);
	if (rc)
		goto out;
	while (h.ext.pos < h.ext.n)
		no_ref_record(ck, &h.ext.e[h.ext.pos++]);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"Q", 1, staged_fn, &h);
	if (rc)
		goto out;
	if (h.staged.n)
		qsort(h.staged.e, h.staged.n, sizeof(*h.staged.e), hash_cmp);
	rc = cs_kv_scan(st, st->cf_chunks, (const uint8_t *)"", 0, chunk_fn, &h);
	if (rc)
		goto out;
	while (h.refs.pos < h.refs.n)
		missing_chunk(ck, &h.refs.e[h.refs.pos++]);
	sb_counter(ck, "the chunk count", sb->chunks, h.chunks);
	sb_counter(ck, "the chunk reference count", sb->chunk_refs, h.refcount);
	sb_counter(ck, "raw_bytes", sb->raw_bytes, h.raw);
	sb_counter(ck, "stored_bytes", sb->stored_bytes, h.stored);
	out->chunks = h.chunks;
	out->chunk_refs = h.refcount;
	out->raw_bytes = h.raw;
	out->stored_bytes = h.stored;
out:
	free(h.ext.e);
	free(h.refs.e);
	free(h.staged.e);
	return rc;
}

/* ---- the whole store ---- */

int cs_store_check(cs_store *st, struct cs_store_stats *out, cs_check_fn fn, void *ctx)
{
	struct check ck = {.fn = fn, .ctx = ctx};
	const rocksdb_snapshot_t *snap;
	rocksdb_readoptions_t *ro;
	struct cs_sb sb;
	int rc;

	memset(out, 0, sizeof(*out));
	ro = rocksdb_readoptions_create();
	if (!ro)
		return -ENOMEM;
	pthread_mutex_lock(&st->vlock);
	/* what the write buffers hold is counted too; a chunk whose flush
	 * fails stays uncommitted, counted nowhere, which is consistent */
	(void)cs_wb_flush_open(st);
	pthread_mutex_lock(&st->lock);
	snap = rocksdb_create_snapshot(st->db);
	sb = st->sb; /* the counters of the snapshot's last commit */
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&st->vlock);
	rocksdb_readoptions_set_snapshot(ro, snap);
	cs_kv_pin(ro);
	rc = check_volumes(st, &ck, out);
	if (rc == 0)
		rc = check_chunks(st, &ck, &sb, out);
	cs_kv_pin(NULL);
	rocksdb_release_snapshot(st->db, snap);
	rocksdb_readoptions_destroy(ro);
	if (rc == 0 && ck.problems)
		rc = cs_fail(-EUCLEAN, "%s", ck.first);
	return rc;
}

int cs_store_recount(cs_store *st, struct cs_store_stats *out)
{
	return cs_store_check(st, out, NULL, NULL);
}
