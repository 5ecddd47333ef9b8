/*
 * cs_gc.c - reclaiming versions no view can see any more.
 *
 * A version of a key written at epoch e, whose next newer version was
 * written at epoch u (u = infinity for the newest), is what readers at
 * epochs [e, u) see. A volume keeps the epochs of its snapshots and its
 * current epoch ("retained"); a version whose range holds none of them is
 * garbage: it is deleted, and when it is an extent its chunk reference is
 * dropped (the chunk goes with its last reference, in the same batch, so a
 * chunk referenced by a concurrent write is never freed). A tombstone that
 * ends up the oldest version of a key of a volume without origin hides
 * nothing and goes too.
 *
 * Snapshot deletion only flags the volume (CS_VOL_RECLAIM); cs_gc() does
 * the work, in batches, each under the volume's lock when it is open.
 */
#include <errno.h>
#include <stdlib.h>

#include "cs_priv.h"

#define BATCH_KEYS 4096

struct reclaim {
	struct cs_txn *t;
	const uint64_t *ret;
	size_t nret;
	int has_origin;
	uint8_t last[CS_KEY_MAX]; /* logical key being walked */
	size_t last_len;
	uint64_t upper;           /* epoch of the next newer version */
	uint8_t tomb[CS_KEY_MAX]; /* newest kept version is a tombstone: its key */
	size_t tomb_len;
	size_t keys;              /* logical keys done in this batch */
	uint64_t freed;
	int rc;
};

static int retained_in(const uint64_t *r, size_t n, uint64_t lo, uint64_t hi)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t m = (a + b) / 2;

		if (r[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < n && r[a] < hi;
}

static void drop(struct reclaim *g, const uint8_t *k, size_t klen, const uint8_t *v,
                 size_t vlen)
{
	if (k[0] == 'E' && vlen == 1 + CS_HASH_LEN + 8 && v[0] == 1 && g->rc == 0)
		g->rc = cs_txn_chunk_ref(g->t, v + 1, -1, be32_get(v + 1 + CS_HASH_LEN),
		                         be32_get(v + 1 + CS_HASH_LEN + 4), NULL, 0);
	cs_txn_del(g->t, k, klen);
	g->freed++;
}

/* The key walked so far is complete: an oldest kept tombstone goes. */
static void key_done(struct reclaim *g)
{
	if (g->tomb_len && !g->has_origin) {
		cs_txn_del(g->t, g->tomb, g->tomb_len);
		g->freed++;
	}
	g->tomb_len = 0;
}

static int reclaim_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                      size_t vlen)
{
	struct reclaim *g = ctx;
	size_t llen = klen - 8;
	uint64_t e = UINT64_MAX - be64_get(k + llen);

	if (g->last_len != llen || memcmp(g->last, k, llen) != 0) {
		if (g->last_len) {
			key_done(g);
			if (++g->keys >= BATCH_KEYS)
				return 1; /* resume at this key next batch */
		}
		memcpy(g->last, k, llen);
		g->last_len = llen;
		g->upper = UINT64_MAX;
	}
	if (!retained_in(g->ret, g->nret, e, g->upper)) {
		drop(g, k, klen, v, vlen);
	} else if (vlen >= 1 && v[0] == 0) {
		memcpy(g->tomb, k, klen); /* kept tombstone: goes if it is the oldest */
		g->tomb_len = klen;
	} else {
		g->tomb_len = 0;
	}
	g->upper = e;
	return g->rc;
}

/* One batch of volume @vid's keys with @prefix from @from on. Returns 1 when
 * more keys remain (@from updated), 0 when done, or an error. */
static int reclaim_batch(cs_store *st, uint64_t vid, const uint8_t *prefix,
                         uint8_t *from, size_t *from_len, struct cs_gc_stats *gs)
{
	struct cs_volstate *vs = cs_vs_find(st, vid, 1);
	struct reclaim g = { 0 };
	struct cs_volrec r;
	struct cs_txn t;
	uint64_t *ret = NULL;
	int rc, more;

	if (vs)
		pthread_mutex_lock(&vs->lock);
	rc = vs ? 0 : cs_volrec_load(st, vid, &r);
	if (vs)
		r = vs->rec;
	if (rc == 0)
		rc = cs_retained_epochs(st, &r, &ret, &g.nret);
	if (rc)
		goto out;
	cs_txn_begin(&t, st, NULL);
	g.t = &t;
	g.ret = ret;
	g.has_origin = r.origin_id != 0;
	rc = cs_kv_scan(st, st->cf_meta, from, *from_len, reclaim_fn, &g);
	if (rc == 0)
		rc = g.rc;
	more = g.keys >= BATCH_KEYS;
	if (rc == 0 && !more && g.last_len)
		key_done(&g);
	if (rc) {
		cs_txn_abort(&t, rc);
		goto out;
	}
	rc = cs_txn_commit(&t);
	if (rc)
		goto out;
	gs->versions_freed += g.freed;
	gs->chunks_freed += t.freed_chunks;
	gs->bytes_freed += t.freed_bytes;
	if (more) { /* resume after the last key done: past its oldest version */
		memcpy(from, g.last, g.last_len);
		memset(from + g.last_len, 0xff, 8);
		*from_len = g.last_len + 8;
	}
	rc = more;
out:
	(void)prefix;
	if (vs)
		pthread_mutex_unlock(&vs->lock);
	free(ret);
	return rc;
}

int cs_volume_reclaim(cs_store *st, uint64_t vid, struct cs_gc_stats *gs)
{
	static const char tags[] = "IDCXE";
	struct cs_volstate *vs;
	struct cs_volrec r;
	struct cs_txn t;
	int rc = 0;

	for (const char *tag = tags; *tag && rc == 0; tag++) {
		uint8_t prefix[9], from[CS_KEY_MAX + 8];
		size_t from_len = 9;

		prefix[0] = (uint8_t)*tag;
		be64_put(prefix + 1, vid);
		memcpy(from, prefix, 9);
		do {
			rc = reclaim_batch(st, vid, prefix, from, &from_len, gs);
		} while (rc == 1);
	}
	if (rc)
		return rc;
	rc = cs_live_rec(st, vid, &vs, &r);
	if (rc)
		return rc;
	r.flags &= ~CS_VOL_RECLAIM;
	cs_txn_begin(&t, st, NULL);
	return cs_txn_commit_live(&t, vs, &r);
}

struct pending {
	uint64_t v[256];
	size_t n;
};

static int pending_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v,
                      size_t vlen)
{
	struct pending *p = ctx;
	struct cs_volrec r;

	if (klen != 9 || cs_volrec_decode(&r, v, vlen) != 0)
		return 0;
	if ((r.flags & CS_VOL_RECLAIM) && !(r.flags & (CS_VOL_DELETING | CS_VOL_ROLLBACK)) &&
	    p->n < 256)
		p->v[p->n++] = r.id;
	return 0;
}

/* Is the blob garbage worth a compaction (st->lock held)? It rewrites
 * every live chunk, so only once the chunks deleted since the last one
 * reach what the store holds: the rewrite stays within the bytes deleted
 * (amortised), and deleted data takes at most as much disk as live data. */
static int blob_gc_due(const cs_store *st)
{
	uint64_t live = st->sb.stored_bytes;

	return st->garbage_bytes >= (live > CS_BLOB_GC_MIN ? live : CS_BLOB_GC_MIN);
}

int cs_gc(cs_store *st, struct cs_gc_stats *out)
{
	struct cs_gc_stats gs = { 0 };
	struct pending p = { .n = 0 };
	int rc;

	pthread_mutex_lock(&st->vlock);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"V", 1, pending_fn, &p);
	for (size_t i = 0; rc == 0 && i < p.n; i++)
		rc = cs_volume_reclaim(st, p.v[i], &gs);
	pthread_mutex_unlock(&st->vlock);
	if (out)
		*out = gs;
	return rc;
}

int cs_gc_wanted(cs_store *st)
{
	int wanted;

	pthread_mutex_lock(&st->lock);
	wanted = blob_gc_due(st);
	pthread_mutex_unlock(&st->lock);
	return wanted || st->chunks->ops->wanted(st->chunks);
}

/* Flush "meta", then compact the "chunks" family with blob garbage
 * collection on for every blob file for the duration: live blobs move to
 * new files and the old files are deleted (as long as rewriting the live
 * chunks: only the daemon's gc thread calls it). */
static int compact_blobs(cs_store *st)
{
	static const char *const key[] = { "enable_blob_garbage_collection",
		                           "blob_garbage_collection_age_cutoff" };
	static const char *const on[] = { "true", "1.0" }, *const off[] = { "false", "0.25" };
	rocksdb_flushoptions_t *fo;
	char *err = NULL;
	int rc = 0;

	/* meta first: its memtable would keep the old write-ahead logs */
	fo = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(fo, 1);
	rocksdb_flush_cf(st->db, fo, st->cf_meta, &err);
	rocksdb_flushoptions_destroy(fo);
	if (err) {
		rc = cs_fail(-EIO, "flushing metadata: %s", err);
		rocksdb_free(err);
		return rc;
	}
	rocksdb_set_options_cf(st->db, st->cf_chunks, 2, key, on, &err);
	if (err) {
		rc = cs_fail(-EIO, "enabling blob garbage collection: %s", err);
		rocksdb_free(err);
		return rc;
	}
	rocksdb_compact_range_cf(st->db, st->cf_chunks, NULL, 0, NULL, 0);
	rocksdb_set_options_cf(st->db, st->cf_chunks, 2, key, off, &err);
	if (err) {
		rc = cs_fail(-EIO, "disabling blob garbage collection: %s", err);
		rocksdb_free(err);
	}
	return rc;
}


/* The chunk store's share of a cs_gc_compact call: about this many bytes
 * of live chunks moved (the rest waits for the next call, so a deletion of
 * everything costs no copying at all, and a long one does not hold the gc
 * thread). */
#define RECLAIM_STEP (16ull << 20)
#define RECLAIM_STEPS 16

int cs_gc_compact(cs_store *st)
{
	int due, rc = 0, did = 0;

	pthread_mutex_lock(&st->lock);
	due = blob_gc_due(st);
	if (due)
		st->garbage_bytes = 0;
	pthread_mutex_unlock(&st->lock);
	if (due) { /* chunks of a store written before chunk files */
		rc = compact_blobs(st);
		did = rc == 0;
	}
	struct cs_chunkspace before, after;

	st->chunks->ops->space(st->chunks, &before);
	for (int i = 0; rc >= 0 && i < RECLAIM_STEPS; i++) {
		rc = st->chunks->ops->reclaim(st->chunks, RECLAIM_STEP);
		did |= rc > 0;
		if (rc == 0)
			break;
	}
	st->chunks->ops->space(st->chunks, &after);
	did |= after.reclaimed > before.reclaimed; /* a call that did all there was */
	return rc < 0 ? rc : did;
}
