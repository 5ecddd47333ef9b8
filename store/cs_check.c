/*
 * cs_check.c - cs_store_recount: every counter recomputed from the keys.
 *
 * Reads the whole store (slow: tests and fsck only). Checks, per volume,
 * the kept counters against the inode and extent records, and store-wide,
 * every chunk reference count against the extents naming the chunk, and
 * the superblock's chunk counters against the chunks present.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cs_priv.h"


struct vol_count {
	struct cs_volume_stats s;
	uint64_t inline_bytes, data_bytes;
};

static int count_inode(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                       size_t vlen,
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

static int count_extent(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                        size_t vlen,
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

#define CHECK(field, what)                                                        \
	do {                                                                          \
		if (c.s.field != r->stats.field)                                          \
			return cs_fail(-EUCLEAN, "volume '%s': %s is %" PRIu64              \
			               " but the records add up to %" PRIu64, r->name, what, \
			               r->stats.field, c.s.field);                           \
	} while (0)

static int recount_volume(cs_store *st, const struct cs_volrec *r,
                          struct cs_store_stats *out)
{
	struct vol_count c = { 0 };
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
		return cs_fail(-EUCLEAN, "volume '%s': inodes hold %" PRIu64 " data bytes but "
		               "inline data and extents add up to %" PRIu64, r->name,
		               c.data_bytes, c.inline_bytes + c.s.raw_bytes);
	c.s.stored_bytes += c.inline_bytes;
	CHECK(inodes, "the inode count");
	CHECK(logical_bytes, "logical_bytes");
	CHECK(apparent_bytes, "apparent_bytes");
	CHECK(chunk_refs, "chunk_refs");
	CHECK(raw_bytes, "raw_bytes");
	CHECK(stored_bytes, "stored_bytes");
	out->volumes++;
	out->inodes += c.s.inodes;
	out->logical_bytes += c.s.logical_bytes;
	return 0;
}

struct recs {
	struct cs_volrec *v;
	size_t n, cap;
};

static int rec_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                  size_t vlen)
{
	struct recs *l = ctx;
	int rc;

	if (klen != 9)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		void *nv = realloc(l->v, cap * sizeof(*l->v));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	rc = cs_volrec_decode(&l->v[l->n], v, vlen);
	if (rc == 0 && !(l->v[l->n].flags & CS_VOL_DELETING))
		l->n++;
	return rc;
}

struct hashes {
	uint8_t (*h)[CS_HASH_LEN];
	size_t n, cap, pos;
	int rc;
	uint64_t chunks, raw, stored, refs, records;
	cs_store *st;
	uint8_t (*staged)[CS_HASH_LEN]; /* chunks partial receives stored */
	size_t nstaged, capstaged;
};

static int staged_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                     size_t vlen)
{
	struct hashes *h = ctx;

	if (klen != 9 + CS_HASH_LEN)
		return 0;
	if (h->nstaged == h->capstaged) {
		size_t cap = h->capstaged ? 2 * h->capstaged : 64;
		void *n = realloc(h->staged, cap * CS_HASH_LEN);

		if (!n)
			return -ENOMEM;
		h->staged = n;
		h->capstaged = cap;
	}
	memcpy(h->staged[h->nstaged++], k + 9, CS_HASH_LEN);
	return 0;
}

static int ext_all_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                      size_t vlen)
{
	struct hashes *h = ctx;

	if (vlen < 1 || v[0] != 1)
		return 0; /* tombstone */
	if (vlen != 1 + CS_HASH_LEN + 8)
		return cs_fail(-EIO, "corrupt extent record");
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		void *nh = realloc(h->h, cap * CS_HASH_LEN);

		if (!nh)
			return -ENOMEM;
		h->h = nh;
		h->cap = cap;
	}
	memcpy(h->h[h->n++], v + 1, CS_HASH_LEN);
	return 0;
}

static int hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CS_HASH_LEN);
}

/* Each 'R' record: its count must equal the extents naming the chunk. */
static int ref_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                  size_t vlen)
{
	struct hashes *h = ctx;
	char hex[2 * CS_HASH_LEN + 1];
	uint64_t count = 0;

	if (klen != 1 + CS_HASH_LEN || vlen != 16)
		return cs_fail(-EIO, "corrupt reference record");
	cs_hash_hex(k + 1, hex);
	if (h->pos < h->n && memcmp(h->h[h->pos], k + 1, CS_HASH_LEN) < 0)
		return cs_fail(-EUCLEAN, "an extent names a chunk with no reference record");
	while (h->pos < h->n && memcmp(h->h[h->pos], k + 1, CS_HASH_LEN) == 0)
		h->pos++, count++;
	if (count != be64_get(v))
		return cs_fail(-EUCLEAN, "chunk %s: reference count %" PRIu64 " but %" PRIu64
		               " extents name it", hex, be64_get(v), count);
	h->refs += count;
	h->records++;
	return 0;
}

static int chunk_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                    size_t vlen)
{
	struct hashes *h = ctx;
	uint8_t rk[1 + CS_HASH_LEN];
	char *rv = NULL, hex[2 * CS_HASH_LEN + 1];
	size_t rlen;
	int rc;

	if (klen != CS_HASH_LEN || vlen < 6)
		return cs_fail(-EIO, "corrupt chunk key or value");
	rk[0] = 'R';
	memcpy(rk + 1, k, CS_HASH_LEN);
	rc = cs_kv_get(h->st, h->st->cf_meta, rk, sizeof(rk), &rv, &rlen);
	free(rv);
	if (rc == -ENOENT) {
		for (size_t i = 0; i < h->nstaged; i++)
			if (!memcmp(h->staged[i], k, CS_HASH_LEN))
				return 0; /* staged by a partial receive: not counted yet */
		cs_hash_hex(k, hex);
		return cs_fail(-EUCLEAN, "chunk %s is stored but nothing references it", hex);
	}
	if (rc)
		return rc;
	h->chunks++;
	h->raw += be32_get(v + 2);
	h->stored += vlen;
	return 0;
}

#define SBCHECK(a, b, what)                                                       \
	do {                                                                          \
		if ((a) != (b)) {                                                         \
			rc = cs_fail(-EUCLEAN, "store: %s is %" PRIu64 " but a recount gives " \
			             "%" PRIu64, what, (uint64_t)(a), (uint64_t)(b));        \
			goto out;                                                             \
		}                                                                         \
	} while (0)

int cs_store_recount(cs_store *st, struct cs_store_stats *out)
{
	struct recs l = { 0 };
	struct hashes h = { .st = st };
	struct cs_sb sb;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->vlock);
	cs_wb_flush_open(st);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"V", 1, rec_fn, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct cs_volrec *r = &l.v[i];
		struct cs_volstate *vs = cs_vs_find(st, r->id, 1);
		struct cs_chain chain;

		if (vs) { /* an open volume's record is the current one */
			pthread_mutex_lock(&vs->lock);
			*r = vs->rec;
			pthread_mutex_unlock(&vs->lock);
		}
		rc = cs_chain_load(st, r, &chain); /* a clone counts what it reads through */
		r->chain = chain.n ? &chain : NULL;
		if (rc == 0)
			rc = recount_volume(st, r, out);
	}
	if (rc)
		goto out;
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"E", 1, ext_all_fn, &h);
	if (rc)
		goto out;
	if (h.n)
		qsort(h.h, h.n, CS_HASH_LEN, hash_cmp);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"R", 1, ref_fn, &h);
	if (rc == 0 && h.pos != h.n)
		rc = cs_fail(-EUCLEAN, "an extent names a chunk with no reference record");
	if (rc == 0)
		rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"Q", 1, staged_fn, &h);
	if (rc == 0)
		rc = cs_kv_scan(st, st->cf_chunks, (const uint8_t *)"", 0, chunk_fn, &h);
	if (rc)
		goto out;
	pthread_mutex_lock(&st->lock);
	sb = st->sb;
	pthread_mutex_unlock(&st->lock);
	SBCHECK(h.records, h.chunks, "the number of referenced chunks present");
	SBCHECK(sb.chunks, h.chunks, "the chunk count");
	SBCHECK(sb.chunk_refs, h.refs, "the chunk reference count");
	SBCHECK(sb.raw_bytes, h.raw, "raw_bytes");
	SBCHECK(sb.stored_bytes, h.stored, "stored_bytes");
	out->chunks = h.chunks;
	out->chunk_refs = h.refs;
	out->raw_bytes = h.raw;
	out->stored_bytes = h.stored;
out:
	pthread_mutex_unlock(&st->vlock);
	free(l.v);
	free(h.h);
	free(h.staged);
	return rc;
}
