/*
 * cs_txn.c - one filesystem operation = one atomic RocksDB write batch.
 *
 * A txn locks its volume (vs->lock) for the whole operation, works on a
 * copy of the volume record, queues puts and deletes into a batch, and
 * collects chunk reference changes. cs_txn_commit first puts the bytes of
 * chunks the store does not hold into the chunk store and makes them
 * durable (rule 1 of cs_chunkstore.h), with no store lock held, so
 * writers of different volumes store and sync in parallel (their syncs
 * fold into one). Then it takes the store lock (order: vs->lock, then
 * st->lock), turns the reference changes into refcount puts, index
 * entries (first reference) and index deletes (last reference gone),
 * writes the superblock and the volume record into the same batch, and
 * writes it; then it tells the chunk store which bytes the batch named
 * and which it dropped. On failure the in-memory superblock is put back
 * and nothing of the operation is visible.
 */
#include <errno.h>
#include <stdlib.h>

#include "cs_health.h"
#include "cs_priv.h"

int cs_txn_begin(struct cs_txn *t, cs_store *st, cs_vol *vol)
{
	memset(t, 0, sizeof(*t));
	t->st = st;
	if (vol) {
		if (vol->rdonly)
			return cs_fail(-EROFS, "volume '%s' is open read-only",
			               vol->vs->rec.name);
		t->vs = vol->vs;
		pthread_mutex_lock(&t->vs->lock);
		t->rec = t->vs->rec;
	}
	t->wb = rocksdb_writebatch_create();
	clock_gettime(CLOCK_REALTIME, &t->now);
	return 0;
}

static void free_deltas(struct cs_txn *t)
{
	for (size_t i = 0; i < t->ndeltas; i++) {
		struct cs_chunk_delta *d = &t->deltas[i];

		if (d->reflen) /* put, never named: garbage */
			cs_chunk_named(t->st, d->ref, d->reflen, 0);
		free(d->value);
		free(d->gone);
	}
}

static void txn_end(struct cs_txn *t)
{
	free_deltas(t);
	free(t->deltas);
	rocksdb_writebatch_destroy(t->wb);
	if (t->vs)
		pthread_mutex_unlock(&t->vs->lock);
	t->wb = NULL;
}

int cs_txn_abort(struct cs_txn *t, int err)
{
	txn_end(t);
	return err;
}

void cs_txn_putv(struct cs_txn *t, const uint8_t *key, size_t klen,
                 const void *val, size_t vlen)
{
	uint8_t k[CS_KEY_MAX];
	char small[256], *v = small;
	size_t n;

	CS_ASSERT(klen + 8 <= sizeof(k));
	memcpy(k, key, klen);
	n = cs_key_version(k, klen, t->rec.epoch);
	if (vlen + 1 > sizeof(small)) {
		v = malloc(vlen + 1);
		CS_ASSERT(v);
	}
	v[0] = 1;
	if (vlen)
		memcpy(v + 1, val, vlen);
	rocksdb_writebatch_put_cf(t->wb, t->st->cf_meta, (const char *)k, n, v, vlen + 1);
	if (v != small)
		free(v);
}

void cs_txn_delv(struct cs_txn *t, const uint8_t *key, size_t klen)
{
	uint8_t k[CS_KEY_MAX];
	size_t n;
	const char tomb = 0;

	CS_ASSERT(klen + 8 <= sizeof(k));
	memcpy(k, key, klen);
	n = cs_key_version(k, klen, t->rec.epoch);
	if (cs_rec_has_history(&t->rec))
		rocksdb_writebatch_put_cf(t->wb, t->st->cf_meta, (const char *)k, n, &tomb, 1);
	else
		rocksdb_writebatch_delete_cf(t->wb, t->st->cf_meta, (const char *)k, n);
}

void cs_txn_put(struct cs_txn *t, const uint8_t *key, size_t klen,
                const void *val, size_t vlen)
{
	rocksdb_writebatch_put_cf(t->wb, t->st->cf_meta, (const char *)key, klen, val, vlen);
}

void cs_txn_del(struct cs_txn *t, const uint8_t *key, size_t klen)
{
	rocksdb_writebatch_delete_cf(t->wb, t->st->cf_meta, (const char *)key, klen);
}

int cs_txn_chunk_ref(struct cs_txn *t, const uint8_t *hash, int64_t delta,
                     uint32_t raw_len, uint32_t stored_len, char *value,
                     size_t value_len)
{
	struct cs_chunk_delta *d;

	if (t->ndeltas == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct cs_chunk_delta *nd = realloc(t->deltas, cap * sizeof(*nd));

		if (!nd) {
			free(value);
			return -ENOMEM;
		}
		t->deltas = nd;
		t->cap = cap;
	}
	d = &t->deltas[t->ndeltas++];
	memcpy(d->hash, hash, CS_HASH_LEN);
	d->delta = delta;
	d->raw_len = raw_len;
	d->stored_len = stored_len;
	d->value = value;
	d->value_len = value_len;
	d->reflen = 0;
	d->named = 0;
	d->gone = NULL;
	return 0;
}

void cs_txn_chunk_stored(struct cs_txn *t, const uint8_t *ref, size_t reflen)
{
	struct cs_chunk_delta *d = &t->deltas[t->ndeltas - 1];

	CS_ASSERT(t->ndeltas > 0 && d->value && reflen <= CS_REF_MAX);
	memcpy(d->ref, ref, reflen);
	d->reflen = reflen;
}

static int delta_cmp(const void *a, const void *b)
{
	return memcmp(((const struct cs_chunk_delta *)a)->hash,
	              ((const struct cs_chunk_delta *)b)->hash, CS_HASH_LEN);
}

/* The stored lengths of staged chunk @hash (a receive stored it without
 * references). */
static int staged_lens(cs_store *st, const uint8_t *hash, uint32_t *stored, uint32_t *raw)
{
	char *v = NULL;
	size_t vlen = 0;
	int rc = cs_kv_get(st, st->cf_chunks, hash, CS_HASH_LEN, &v, &vlen);

	if (rc == 0)
		rc = cs_chunk_lens((uint8_t *)v, vlen, stored, raw);
	free(v);
	if (rc) {
		char hex[2 * CS_HASH_LEN + 1];

		cs_hash_hex(hash, hex);
		return cs_fail(-EIO, "chunk %s is missing", hex);
	}
	return 0;
}

/* The chunk's last reference goes: delete its index entry, keeping the
 * value for the chunk store's accounting after the commit. */
static int drop_chunk(struct cs_txn *t, struct cs_chunk_delta *d, const uint8_t *rkey)
{
	cs_store *st = t->st;
	int rc = cs_kv_get(st, st->cf_chunks, d->hash, CS_HASH_LEN, (char **)&d->gone,
			   &d->gone_len);

	if (rc && rc != -ENOENT)
		return rc;
	rocksdb_writebatch_delete_cf(t->wb, st->cf_chunks, (const char *)d->hash, CS_HASH_LEN);
	rocksdb_writebatch_delete_cf(t->wb, st->cf_meta, (const char *)rkey, 1 + CS_HASH_LEN);
	return 0;
}

/* A new chunk whose bytes were not put before the lock (it was stored
 * then, and its last reference went since): put them now. */
static int put_late(struct cs_txn *t, struct cs_chunk_delta *d)
{
	int rc = cs_chunk_put(t->st, d->hash, d->value, d->value_len, d->ref);

	if (rc < 0)
		return rc;
	d->reflen = (size_t)rc;
	return cs_chunk_durable(t->st);
}

/* Apply one chunk's net reference change @d (under st->lock). */
static int apply_delta(struct cs_txn *t, struct cs_chunk_delta *d)
{
	cs_store *st = t->st;
	uint8_t key[1 + CS_HASH_LEN], val[16];
	uint64_t count = 0;
	uint32_t raw_len = d->raw_len, stored_len = d->stored_len;
	char *old = NULL;
	size_t olen = 0;
	int rc;

	key[0] = 'R';
	memcpy(key + 1, d->hash, CS_HASH_LEN);
	rc = cs_kv_get(st, st->cf_meta, key, sizeof(key), &old, &olen);
	if (rc && rc != -ENOENT)
		return rc;
	if (rc == 0) {
		if (olen != 16) {
			free(old);
			return cs_fail(-EIO, "corrupt chunk reference record");
		}
		/* the chunk as stored decides the lengths, whoever wrote it */
		count = be64_get((uint8_t *)old);
		raw_len = be32_get((uint8_t *)old + 8);
		stored_len = be32_get((uint8_t *)old + 12);
		free(old);
	}
	rc = 0;
	if (d->delta < 0 && (uint64_t)-d->delta > count) {
		char hex[2 * CS_HASH_LEN + 1];

		cs_hash_hex(d->hash, hex);
		return cs_fail(-EIO, "chunk %s: reference count underflow", hex);
	}
	if (count == 0 && d->delta > 0) {
		if (!d->value) /* a chunk stored without references (staged by a receive) */
			rc = staged_lens(st, d->hash, &stored_len, &raw_len);
		else if (!d->reflen)
			rc = put_late(t, d);
		if (rc)
			return rc;
		if (d->value) {
			stored_len = (uint32_t)d->value_len;
			rocksdb_writebatch_put_cf(t->wb, st->cf_chunks, (const char *)d->hash,
						  CS_HASH_LEN, (const char *)d->ref, d->reflen);
			d->named = 1;
		}
		st->sb.chunks++;
		st->sb.raw_bytes += raw_len;
		st->sb.stored_bytes += stored_len;
	}
	count += d->delta;
	st->sb.chunk_refs += d->delta;
	if (count == 0) {
		rc = drop_chunk(t, d, key);
		if (rc)
			return rc;
		st->sb.chunks--;
		st->sb.raw_bytes -= raw_len;
		st->sb.stored_bytes -= stored_len;
		if (d->gone && d->gone_len >= 6 && d->gone[0] == 1)
			st->garbage_bytes += stored_len; /* an older store's chunk: blob GC */
		t->freed_chunks++;
		t->freed_bytes += stored_len;
		return 0;
	}
	be64_put(val, count);
	be32_put(val + 8, raw_len);
	be32_put(val + 12, stored_len);
	rocksdb_writebatch_put_cf(t->wb, st->cf_meta, (const char *)key, sizeof(key),
	                          (const char *)val, sizeof(val));
	return 0;
}

/* Sort the deltas and fold those of the same chunk into one. */
static void merge_deltas(struct cs_txn *t)
{
	size_t j = 0;

	if (t->ndeltas == 0)
		return;
	qsort(t->deltas, t->ndeltas, sizeof(*t->deltas), delta_cmp);
	for (size_t i = 0; i < t->ndeltas; i++) {
		struct cs_chunk_delta *d = &t->deltas[i];

		if (j > 0 && memcmp(t->deltas[j - 1].hash, d->hash, CS_HASH_LEN) == 0) {
			struct cs_chunk_delta *m = &t->deltas[j - 1];

			m->delta += d->delta;
			if (!m->value) {
				m->value = d->value;
				m->value_len = d->value_len;
				m->stored_len = d->stored_len;
				memcpy(m->ref, d->ref, d->reflen);
				m->reflen = d->reflen;
				d->value = NULL;
				d->reflen = 0;
			}
			if (d->reflen) /* a second copy of the same chunk */
				cs_chunk_named(t->st, d->ref, d->reflen, 0);
			free(d->value);
			d->value = NULL;
			d->reflen = 0;
			continue;
		}
		if (j != i) {
			t->deltas[j] = *d;
			d->value = NULL;
			d->reflen = 0;
		}
		j++;
	}
	t->ndeltas = j;
}

/* Put the bytes of the new chunks the store does not hold yet into the
 * chunk store and make them durable (rule 1), before any lock of the
 * store: a chunk the store holds costs one lookup, and one that another
 * writer stores meanwhile is caught under the lock (put_late, or its copy
 * becomes garbage). */
static int put_new_chunks(struct cs_txn *t)
{
	int rc = 0, put = 0;

	for (size_t i = 0; i < t->ndeltas && rc == 0; i++) {
		struct cs_chunk_delta *d = &t->deltas[i];

		if (d->delta <= 0 || !d->value || d->reflen)
			continue;
		rc = cs_chunk_put_new(t->st, d->hash, d->value, d->value_len, d->ref);
		if (rc > 0) {
			d->reflen = (size_t)rc;
			put = 1;
			rc = 0;
		}
	}
	if (put && rc == 0)
		rc = cs_chunk_durable(t->st);
	return rc;
}

/* After the batch: tell the chunk store what it named and what it
 * dropped (@written: the batch was written). */
static void named_or_not(struct cs_txn *t, int written)
{
	for (size_t i = 0; i < t->ndeltas; i++) {
		struct cs_chunk_delta *d = &t->deltas[i];

		if (d->reflen)
			cs_chunk_named(t->st, d->ref, d->reflen, written && d->named);
		if (written && d->gone)
			cs_chunk_dropped(t->st, d->hash, d->gone, d->gone_len);
		d->reflen = 0;
		d->named = 0;
	}
}

/* Write the batch (index entries, refcounts, counters, records); the
 * volume stays locked. On failure the in-memory superblock is put back. */
static int txn_write(struct cs_txn *t)
{
	cs_store *st = t->st;
	struct cs_sb saved;
	uint8_t sbuf[64];
	int rc;

	merge_deltas(t);
	rc = put_new_chunks(t);
	pthread_mutex_lock(&st->lock);
	saved = st->sb;
	for (size_t i = 0; i < t->ndeltas && rc == 0; i++)
		if (t->deltas[i].delta != 0)
			rc = apply_delta(t, &t->deltas[i]);
	if (rc == 0) {
		size_t n = cs_sb_encode(&st->sb, sbuf);

		rocksdb_writebatch_put_cf(t->wb, st->cf_meta, "\0SB", 3, (const char *)sbuf, n);
		if (t->vs) {
			t->rec.changes++;
			cs_txn_put_volrec(t, &t->rec);
		}
		/* through the write door: a batch naming new chunk data needs
		 * the full free-space reserve (cs_health.c) */
		rc = cs_store_write(st, t->wb, st->sb.stored_bytes > saved.stored_bytes, 0,
		                    "write batch");
	}
	if (rc)
		st->sb = saved;
	else if (t->vs)
		t->vs->rec = t->rec;
	named_or_not(t, rc == 0);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int cs_txn_commit(struct cs_txn *t)
{
	cs_store *st = t->st;
	int rc = txn_write(t);

	txn_end(t);
	if (rc == 0) /* after the volume lock: a WAL sync, when a whole file died */
		cs_chunk_settle_due(st);
	return rc;
}

void cs_txn_reset(struct cs_txn *t)
{
	free_deltas(t);
	t->ndeltas = 0;
	rocksdb_writebatch_clear(t->wb);
	if (t->vs)
		t->rec = t->vs->rec;
}

int cs_txn_commit_keep(struct cs_txn *t)
{
	int rc = txn_write(t);

	cs_txn_reset(t); /* after a success, vs->rec is t->rec already */
	return rc;
}

void cs_txn_put_volrec(struct cs_txn *t, const struct cs_volrec *r)
{
	uint8_t k[9], v[CS_VOLREC_FIXED + CS_NAME_MAX];

	k[0] = 'V';
	be64_put(k + 1, r->id);
	cs_txn_put(t, k, sizeof(k), v, cs_volrec_encode(r, v));
}

int cs_txn_commit_live(struct cs_txn *t, struct cs_volstate *vs, const struct cs_volrec *r)
{
	int rc;

	cs_txn_put_volrec(t, r);
	rc = cs_txn_commit(t);
	cs_live_done(vs, r, rc == 0);
	return rc;
}
