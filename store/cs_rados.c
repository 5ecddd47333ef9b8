/*
 * cs_rados.c - chunks in a Ceph RADOS pool, shared by several stores (issue
 * 15): the chunk store of cs_chunkstore.h over librados. It does not pick
 * the backend (cs_chunk.c does, from the store's "\0CS" key); it moves and
 * marks objects. The table of chunks in flight, releases and the sweep are
 * in cs_rados_rel.c; the types both share in cs_rados_int.h.
 *
 * THE OBJECTS. A chunk is one object named by the 64 hex digits of its
 * SHA-256, holding the encoded chunk (cs_chunk.c), written once. Its ref
 * ('O') is the common head (cs_chunkref) and the 32-byte hash. Reads
 * verify the hash as for every chunk (cs_chunk_read): a wrong object is
 * reported, never returned.
 *
 * SHARING. Several stores (one per host) use one pool, and a chunk any of
 * them wrote is stored once. Each store has an id (a uuid kept in its meta
 * key "\0CSR"); a store that uses a chunk holds the omap key
 * "cstorfs.store.ID" (ID: 32 hex digits) on the chunk's object. Invariants:
 *   1. While a store's index names a chunk, the store's key is on the
 *      object: the key is set before the batch naming the chunk is
 *      written (put, then sync) and removed only after the batch that
 *      deleted the name is durable (reclaim, rule 2 of cs_chunkstore.h).
 *   2. An object is removed only by an op that asserts the object is as
 *      it was when it was seen holding no key but the remover's.
 * The operations, each one atomic RADOS op on one object:
 *   put      A: create(exclusive) + write_full(bytes) + omap_set(our key),
 *            or B: assert_exists + omap_set(our key); A failing with
 *            -EEXIST goes again as B, B failing with -ENOENT (no object,
 *            or removed meanwhile) as A. B goes first while recent puts
 *            found their object (a second host writing what the pool
 *            holds already: no bytes sent), A otherwise.
 *   release  read the object's first two keys and its version V;
 *            our key and another: assert_version(V) + omap_rm_keys(ours);
 *            our key alone: assert_version(V) + remove;
 *            on -ERANGE (another store set or removed its key after V),
 *            read again. (Without the assertion on the first, two stores
 *            letting go at once could each remove only their own key and
 *            leave an object nobody removes.)
 * Why version assertions and one key per store rather than a reference
 * count in an xattr updated with cmpxattr: a store's key is idempotent. An
 * op that timed out may or may not have been applied; setting or removing
 * "my key" again is always right, while "count + 1" repeated counts twice
 * (the chunk is never removed) and "count - 1" repeated loses a chunk
 * another store names. The removal must be conditional on the whole object
 * (no key but ours, and nobody came since), which one version assertion
 * covers for any number of stores, where cmpxattr compares one value. An
 * object class would do the same in one round trip on the OSD, but it is
 * code to install on every OSD. omap needs a replicated pool: an
 * erasure-coded one is refused at open.
 *
 * DURABILITY (rule 1). put() sends op A asynchronously (a copy of the
 * bytes travels with it) and returns the ref; sync() waits for every put
 * sent before it started. A RADOS write completes once every replica has
 * committed it, so a completed put is durable. The second ops (B after A,
 * A after B) are sent by the sync, all in flight at once. At most RD_INFLIGHT puts are in flight: put() waits for the
 * oldest beyond that. A failed put must fail the sync of the thread whose
 * batch would name the chunk, whichever thread's sync saw the failure: as
 * Linux's errseq_t does for fsync, a failure bumps a generation and every
 * thread's next sync returns it once (a thread that put nothing may see a
 * failure that was not its own: conservative, never silent).
 *
 * WITHIN ONE STORE. One table of hashes (mu) keeps, per chunk: puts whose
 * batch has not come yet (inflight, until named()), and whether its key is
 * to be released (queued by drop or named(0)) or being released. put()
 * of a chunk being released waits for the release, then sets the key
 * again; a put cancels a queued release. reclaim() releases a queued
 * chunk only when no put of it is in flight and the index does not name
 * it (after a WAL sync, rule 2), so a chunk named by a batch always keeps
 * the key (invariant 1). A put whose batch never names it leaves the key
 * to be released; a crash between a put and its batch leaves a key no
 * index names: the object stays (safe), a leak a sweep of the pool would
 * find (not written yet).
 *
 * FAULTS. Every operation is bounded (rados_osd_op_timeout,
 * rados_mon_op_timeout, client_mount_timeout: the spec's timeout): an
 * unreachable cluster or a stopped OSD gives -ETIMEDOUT from librados,
 * reported as -EIO with the reason in cs_last_error(); writes carry
 * LIBRADOS_OPERATION_FULL_TRY, so a full pool gives -ENOSPC at once, and
 * releases FULL_FORCE as well, so deleting makes room on a full pool.
 * What a user waits on, a sync and a get, waits at most wait_s (the spec's
 * timeout, or the mount's rados_timeout: cs_store_rados_timeout), on
 * completions whose callback wakes the waiters: then -EIO, the puts left
 * in flight and queued again (counted failed once: a later sync waits for
 * them again, and their end, whatever librados makes of it, is no second
 * failure). The first fault of an episode goes to the daemon's log with
 * its reason (cs_notice), the next ones are only counted, and the first
 * operation that works again ends the episode with a notice
 * (cs_rados_fault, cs_rados_works).
 *
 * READS. Every get goes through the read cache of cs_rados_ra.c, into
 * which the prefetch op reads ahead of a file read in order.
 */
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_rados_int.h"

/* ---- put ---- */

static int put_send(struct rdstore *r, struct rdput *p);

/* Take the puts sent up to @upto off the queue (oldest first). */
static struct rdput *take_upto(struct rdstore *r, uint64_t upto)
{
	struct rdput *batch = NULL, **end = &batch;

	pthread_mutex_lock(&r->mu);
	while (r->head && r->head->seq <= upto) {
		*end = r->head;
		end = &r->head->next;
		r->head = r->head->next;
	}
	*end = NULL;
	if (!r->head)
		r->tail = NULL;
	pthread_mutex_unlock(&r->mu);
	return batch;
}

/* A put failed with @err (mu held; its message in cs_last_error): every
 * thread's next sync fails once with it. */
static void put_failed(struct rdstore *r, int err)
{
	r->err_rc = err;
	snprintf(r->err_msg, sizeof(r->err_msg), "%s", cs_last_error());
	r->err_gen++;
}

/* Put @p is done with @rc: account it (a failure bumps the error
 * generation) and free it. */
static void put_done(struct rdstore *r, struct rdput *p, int rc)
{
	int err = rc < 0 && !p->failed ? cs_rados_fault(r, rc, "writing", p->hash) : 0;

	if (rc == 0)
		cs_rados_works(r);
	pthread_mutex_lock(&r->mu);
	if (err)
		put_failed(r, err);
	r->npending--;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	free(p->val);
	free(p);
}

/* The op of @p completed with @rc: 1 when it must go again as the other
 * op (A found the object: B; B found none: A), 0 when it is done. Keeps
 * the score that picks the first op of the next puts. */
static int put_again(struct rdstore *r, struct rdput *p, int rc)
{
	int exists = p->create ? rc == -EEXIST : rc == 0;
	int again = rc == (p->create ? -EEXIST : -ENOENT) && ++p->tries < RD_RETRIES;

	pthread_mutex_lock(&r->mu);
	if ((rc == 0 || again) && (exists ? r->exist_score < 8 : r->exist_score > -8))
		r->exist_score += exists ? 1 : -1;
	pthread_mutex_unlock(&r->mu);
	if (again)
		p->create = !p->create;
	return again;
}

/* Put the puts @left (still in flight) back in the queue, in order. */
static void requeue(struct rdstore *r, struct rdput *left)
{
	struct rdput *p, **at;

	pthread_mutex_lock(&r->mu);
	while ((p = left)) {
		left = p->next;
		for (at = &r->head; *at && (*at)->seq < p->seq; at = &(*at)->next)
			;
		p->next = *at;
		*at = p;
		if (!p->next)
			r->tail = p;
	}
	pthread_mutex_unlock(&r->mu);
}

/* Wait for the puts sent up to @upto and send their second ops, all in
 * flight at once, until each is done. @bounded: wait at most the bound
 * (wait_s); the puts not done by then stay queued, in flight (librados's
 * timeout ends them), and the first one's error is returned (-EIO, a fault
 * noticed once). */
static int reap(struct rdstore *r, uint64_t upto, int bounded)
{
	struct rdput *batch, *p, *next, *again, *left = NULL;
	struct timespec until;
	int err = 0;

	cs_rados_deadline(r, &until);
	pthread_mutex_lock(&r->sync_mu);
	for (batch = take_upto(r, upto); batch; batch = again) {
		again = NULL;
		for (p = batch; p; p = next) {
			int rc;

			next = p->next;
			if (bounded && cs_rados_wait(r, p->comp, &until)) {
				rc = cs_rados_fault(r, -ETIMEDOUT, "writing", p->hash);
				err = err ? err : rc;
				/* failed as far as syncs go, once: what librados
				 * makes of it later is not a second failure */
				pthread_mutex_lock(&r->mu);
				if (!p->failed)
					put_failed(r, rc);
				p->failed = 1;
				pthread_mutex_unlock(&r->mu);
				p->next = left;
				left = p;
				continue;
			}
			rados_aio_wait_for_complete(p->comp);
			rc = rados_aio_get_return_value(p->comp);
			rados_aio_release(p->comp);
			rados_release_write_op(p->op);
			if (put_again(r, p, rc) && (rc = put_send(r, p)) == 0) {
				p->next = again;
				again = p;
				continue;
			}
			put_done(r, p, rc);
		}
	}
	requeue(r, left);
	pthread_mutex_unlock(&r->sync_mu);
	return err;
}

/* Note a put of @hash (mu held): wait out a release of it, cancel a
 * queued one, count it in flight. 0 or -ENOMEM. */
static int put_begin(struct rdstore *r, const uint8_t *hash)
{
	struct rdent *e;

	while ((e = cs_rados_ent_get(r, hash, 0)) && e->state == RD_RELEASING)
		pthread_cond_wait(&r->cv, &r->mu);
	e = cs_rados_ent_get(r, hash, 1);
	if (!e)
		return -ENOMEM;
	if (e->state == RD_QUEUED) {
		e->state = RD_IDLE;
		r->nqueued--;
	}
	e->inflight++;
	r->ninflight++;
	return 0;
}

/* A put of @hash will not be named (mu held). */
static void put_abandon(struct rdstore *r, const uint8_t *hash)
{
	struct rdent *e = cs_rados_ent_get(r, hash, 0);

	CS_ASSERT(e && e->inflight > 0);
	e->inflight--;
	r->ninflight--;
	cs_rados_ent_put(r, e);
}

/* Send op A (@p->create) or B for @p; 0 or a librados error. */
static int put_send(struct rdstore *r, struct rdput *p)
{
	const char *k = r->key, *v = "";
	size_t kl = r->keylen, vl = 0;
	char oid[RD_OID_LEN];
	int rc;

	p->op = rados_create_write_op();
	if (!p->op)
		return -ENOMEM;
	rc = cs_rados_completion(r, &p->comp);
	if (rc < 0) {
		rados_release_write_op(p->op);
		return rc;
	}
	oid_of(p->hash, oid);
	if (p->create) {
		rados_write_op_create(p->op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
		rados_write_op_write_full(p->op, p->val, p->len);
	} else {
		rados_write_op_assert_exists(p->op);
	}
	rados_write_op_omap_set2(p->op, &k, &v, &kl, &vl, 1);
	rc = rados_aio_write_op_operate(p->op, r->io, p->comp, oid, NULL, RD_WFLAGS);
	if (rc < 0) {
		rados_aio_release(p->comp);
		rados_release_write_op(p->op);
	}
	return rc;
}

static int rd_put(struct cs_chunkstore *cs, const uint8_t *hash, const void *val, uint32_t len,
		  uint32_t raw_len, uint8_t *ref)
{
	struct rdstore *r = rd_of(cs);
	struct rdput *p = calloc(1, sizeof(*p));
	struct cs_chunkref h = { 'O', len, raw_len };
	uint64_t wait_for = 0;
	int rc;

	if (!p || !(p->val = malloc(len ? len : 1))) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p->val, val, len);
	memcpy(p->hash, hash, CS_HASH_LEN);
	p->len = len;
	pthread_mutex_lock(&r->mu);
	rc = put_begin(r, hash);
	p->create = r->exist_score <= 0;
	if (rc == 0 && r->npending >= RD_INFLIGHT)
		wait_for = r->head ? r->head->seq + RD_INFLIGHT / 2 : 0;
	pthread_mutex_unlock(&r->mu);
	if (rc)
		goto fail;
	if (wait_for && (rc = reap(r, wait_for, 1)) < 0) {
		pthread_mutex_lock(&r->mu);
		put_abandon(r, hash);
		pthread_mutex_unlock(&r->mu);
		goto fail;
	}
	rc = put_send(r, p);
	pthread_mutex_lock(&r->mu);
	if (rc < 0) {
		put_abandon(r, hash);
		pthread_mutex_unlock(&r->mu);
		rc = cs_rados_fault(r, rc, "writing", hash);
		goto fail;
	}
	p->seq = ++r->seq;
	if (r->tail)
		r->tail->next = p;
	else
		r->head = p;
	r->tail = p;
	r->npending++;
	pthread_mutex_unlock(&r->mu);
	cs_chunkref_encode(&h, ref);
	memcpy(ref + CS_REF_HEAD, hash, CS_HASH_LEN);
	return RD_REF_LEN;
fail:
	free(p->val);
	free(p);
	return rc;
}

static int rd_sync(struct cs_chunkstore *cs)
{
	struct rdstore *r = rd_of(cs);
	uint64_t upto, *seen_at;
	int rc;

	pthread_mutex_lock(&r->mu);
	upto = r->seq;
	pthread_mutex_unlock(&r->mu);
	rc = reap(r, upto, 1);
	pthread_mutex_lock(&r->mu);
	seen_at = cs_rados_seen_gen(r->inst);
	if (*seen_at != r->err_gen) {
		*seen_at = r->err_gen;
		if (!rc) { /* the failure's reason, whichever thread's reap met it */
			rc = cs_fail(r->err_rc, "%s", r->err_msg);
			cs_error_noted();
		}
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* ---- refs, get, named, drop, check ---- */

static int ref_ok(const uint8_t *hash, const uint8_t *ref, size_t reflen, struct cs_chunkref *h)
{
	char oid[RD_OID_LEN];

	if (cs_chunkref_decode(ref, reflen, h) == 0 && h->tag == 'O' && reflen == RD_REF_LEN &&
	    (!hash || !memcmp(ref + CS_REF_HEAD, hash, CS_HASH_LEN)))
		return 0;
	oid_of(hash ? hash : ref + CS_REF_HEAD, oid);
	return cs_fail(-EIO, "chunk %s: not a RADOS chunk reference", oid);
}

static int rd_get(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		  size_t reflen, void *buf, size_t cap)
{
	struct rdstore *r = rd_of(cs);
	struct cs_chunkref h;
	char oid[RD_OID_LEN];
	int n;

	if (ref_ok(hash, ref, reflen, &h))
		return -EIO;
	oid_of(hash, oid);
	if (h.stored_len > cap)
		return cs_fail(-EIO, "chunk %s: %u bytes, more than a chunk", oid, h.stored_len);
	n = cs_rados_ra_read(r, hash, h.stored_len, buf);
	if (n == -ENOENT)
		return cs_fail(-EIO, "chunk %s: missing from RADOS pool %s", oid, r->pool);
	if (n < 0) {
		cs_rados_fault(r, n, "reading", hash);
		return -EIO;
	}
	cs_rados_works(r);
	if ((uint32_t)n != h.stored_len)
		return cs_fail(-EIO, "chunk %s: %d bytes in RADOS pool %s, %u expected", oid, n,
			       r->pool, h.stored_len);
	return n;
}

static void rd_prefetch(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
			size_t reflen)
{
	struct cs_chunkref h;

	if (cs_chunkref_decode(ref, reflen, &h) == 0 && h.tag == 'O' && reflen == RD_REF_LEN &&
	    h.stored_len <= CS_CHUNK_VALUE_MAX && !memcmp(ref + CS_REF_HEAD, hash, CS_HASH_LEN))
		cs_rados_ra_prefetch(rd_of(cs), hash, h.stored_len);
}

static void rd_named(struct cs_chunkstore *cs, const uint8_t *ref, size_t reflen, int named)
{
	struct rdstore *r = rd_of(cs);
	const uint8_t *hash = ref + CS_REF_HEAD;
	struct cs_chunkref h;
	struct rdent *e;

	CS_ASSERT(ref_ok(NULL, ref, reflen, &h) == 0);
	pthread_mutex_lock(&r->mu);
	e = cs_rados_ent_get(r, hash, 0);
	CS_ASSERT(e && e->inflight > 0);
	e->inflight--;
	r->ninflight--;
	if (named) {
		r->objects++;
		r->bytes += h.stored_len;
		cs_rados_ent_put(r, e);
	} else {
		cs_rados_queue_release(r, hash, h.stored_len);
	}
	pthread_mutex_unlock(&r->mu);
}

static void rd_drop(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		    size_t reflen)
{
	struct rdstore *r = rd_of(cs);
	struct cs_chunkref h;

	if (ref_ok(hash, ref, reflen, &h))
		return; /* not ours: nothing to release */
	cs_rados_ra_forget(r, hash); /* a read of it must not find it cached */
	pthread_mutex_lock(&r->mu);
	r->objects -= r->objects > 0;
	r->bytes -= r->bytes >= h.stored_len ? h.stored_len : r->bytes;
	cs_rados_queue_release(r, hash, h.stored_len);
	pthread_mutex_unlock(&r->mu);
}

static int rd_check(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		    size_t reflen)
{
	struct rdstore *r = rd_of(cs);
	struct cs_chunkref h;
	char oid[RD_OID_LEN];
	uint64_t size = 0;
	int rc;

	if (ref_ok(hash, ref, reflen, &h))
		return -EIO;
	oid_of(hash, oid);
	rc = cs_rados_stat_marked(r->io, oid, r->key, r->keylen, &size);
	if (rc == -ENOENT)
		return cs_fail(-EIO, "chunk %s: missing from RADOS pool %s", oid, r->pool);
	if (rc < 0) {
		cs_rados_fail(r, rc, "checking", hash);
		return -EIO;
	}
	if (size != h.stored_len)
		return cs_fail(-EIO, "chunk %s: %llu bytes in RADOS pool %s, %u expected", oid,
			       (unsigned long long)size, r->pool, h.stored_len);
	if (rc == 0)
		return cs_fail(-EIO, "chunk %s: not marked as used by this store in RADOS pool %s "
			       "(another store may remove it)", oid, r->pool);
	return 0;
}

/* ---- streams of chunk names (cs_recv.c) ---- */

static int rd_pool(struct cs_chunkstore *cs, char *fsid, char *pool)
{
	struct rdstore *r = rd_of(cs);
	int rc = rados_cluster_fsid(r->cl, fsid, 40);

	snprintf(pool, 128, "%s", r->pool);
	return rc < 0 ? cs_fail(-EIO, "RADOS pool %s: fsid: %s", r->pool, strerror(-rc)) : 0;
}

/* A put whose bytes another store wrote: our mark, taken at once (durable
 * before the batch naming it, rule 1), in flight until named() as a put. */
static int rd_adopt(struct cs_chunkstore *cs, const uint8_t *hash, uint32_t len,
		    uint32_t raw_len, uint8_t *ref)
{
	struct rdstore *r = rd_of(cs);
	struct cs_chunkref h = { 'O', len, raw_len };
	char oid[RD_OID_LEN];
	uint64_t size = 0;
	int rc;

	pthread_mutex_lock(&r->mu);
	rc = put_begin(r, hash);
	pthread_mutex_unlock(&r->mu);
	if (rc)
		return rc;
	cs_chunkref_encode(&h, ref);
	memcpy(ref + CS_REF_HEAD, hash, CS_HASH_LEN);
	oid_of(hash, oid);
	rc = cs_rados_mark(r->io, oid, r->key, r->keylen, len, raw_len, &size);
	if (rc == 0)
		return RD_REF_LEN;
	rd_named(cs, ref, RD_REF_LEN, 0); /* a failed mark: released (safe if absent) */
	if (rc == 1)
		return cs_fail(-EIO, "chunk %s: %llu bytes in RADOS pool %s, not the %u (%u of "
			       "data) named", oid, (unsigned long long)size, r->pool, len, raw_len);
	return rc == -ENOENT ? cs_fail(-ENOENT, "chunk %s: missing from RADOS pool %s", oid,
				       r->pool) : cs_rados_fail(r, rc, "marking", hash);
}

static void rd_space(struct cs_chunkstore *cs, struct cs_chunkspace *out)
{
	struct rdstore *r = rd_of(cs);

	pthread_mutex_lock(&r->mu);
	out->files = r->objects;
	out->bytes = r->bytes;
	out->live_bytes = r->bytes;
	out->reclaimed = r->reclaimed;
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_lock(&r->ra.mu);
	out->read_hits = r->ra.hits;
	out->read_misses = r->ra.misses;
	pthread_mutex_unlock(&r->ra.mu);
}

static void rd_close(struct cs_chunkstore *cs)
{
	struct rdstore *r = rd_of(cs);

	if (!r)
		return;
	if (r->io) {
		reap(r, UINT64_MAX, 0);
		cs_rados_ra_fini(r);
		if (r->sweep)
			rados_nobjects_list_close(r->sweep);
		else if (r->flagged && !r->nqueued && !r->ninflight)
			cs_rados_dirty(r->cs.st, 0); /* nothing left behind: no sweep next */
		rados_ioctx_destroy(r->io);
	}
	if (r->cl)
		rados_shutdown(r->cl);
	for (size_t b = 0; b < RD_BUCKETS; b++) {
		while (r->tab[b]) {
			struct rdent *e = r->tab[b];

			r->tab[b] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->sync_mu);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->wmu);
	pthread_cond_destroy(&r->wcv);
	free(r);
}

static const struct cs_chunkstore_ops rd_ops = {
	.kind = "rados",
	.put = rd_put,
	.sync = rd_sync,
	.named = rd_named,
	.get = rd_get,
	.prefetch = rd_prefetch,
	.drop = rd_drop,
	.wanted = cs_rados_wanted,
	.reclaim = cs_rados_reclaim,
	.check = rd_check,
	.space = rd_space,
	.pool = rd_pool,
	.adopt = rd_adopt,
	.close = rd_close,
};

/* ---- open ---- */

/* The bounded waits (cs_rados_wait) and the read cache. */
static void rd_wait_init(struct rdstore *r, unsigned timeout_s)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_mutex_init(&r->wmu, NULL);
	pthread_cond_init(&r->wcv, &a);
	pthread_condattr_destroy(&a);
	r->wait_s = timeout_s;
	cs_rados_ra_init(r, RD_CACHE_BYTES);
}

/* Count the chunks the index names in RADOS (space()). */
static int count_fn(void *ctx, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	struct rdstore *r = ctx;
	struct cs_chunkref h;

	if (klen == CS_HASH_LEN && vlen == RD_REF_LEN && v[0] == 'O' &&
	    cs_chunkref_decode(v, vlen, &h) == 0) {
		r->objects++;
		r->bytes += h.stored_len;
	}
	return 0;
}

int cs_rados_open(cs_store *st, const struct cs_rados_cfg *cfg0, struct cs_chunkstore **out)
{
	struct cs_rados_cfg cfg = *cfg0;
	struct rdstore *r = calloc(1, sizeof(*r));
	uint8_t id[16];
	char u[33];
	int rc;

	if (!r)
		return -ENOMEM;
	if (!cfg.timeout_s)
		cfg.timeout_s = CS_RADOS_TIMEOUT_DEFAULT;
	r->cs.ops = &rd_ops;
	r->cs.st = st;
	r->inst = cs_rados_instance();
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->sync_mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	rd_wait_init(r, cfg.timeout_s);
	snprintf(r->pool, sizeof(r->pool), "%s", cfg.pool);
	rc = cs_rados_store_id(st, id);
	if (rc == 0) {
		cs_rados_hex(id, sizeof(id), u);
		r->keylen = (size_t)snprintf(r->key, sizeof(r->key), RD_KEY_PREFIX "%s", u);
		rc = cs_rados_connect(&cfg, &r->cl, &r->io);
	}
	if (rc == 0)
		rc = cs_kv_scan(st, st->cf_chunks, (const uint8_t *)"", 0, count_fn, r);
	if (rc == 0)
		rc = cs_rados_sweep_start(r);
	if (rc) {
		rd_close(&r->cs);
		return rc;
	}
	*out = &r->cs;
	return 0;
}

int cs_rados_open_spec(cs_store *st, const char *spec, size_t len, struct cs_chunkstore **out)
{
	struct cs_rados_cfg cfg;
	int rc = cs_rados_parse(spec, len, &cfg);

	return rc ? rc : cs_rados_open(st, &cfg, out);
}

const char *cs_rados_store_key(struct cs_chunkstore *cs)
{
	return rd_of(cs)->key;
}

int cs_store_rados_timeout(cs_store *st, unsigned seconds)
{
	struct cs_chunkstore *cs = st->chunks;

	if (seconds < 1 || seconds > 3600)
		return cs_fail(-EINVAL, "rados_timeout: %u s is out of range (1-3600)", seconds);
	if (!cs || cs->ops != &rd_ops)
		return cs_fail(-EOPNOTSUPP, "rados_timeout: store %s keeps its chunks in %s files, "
			       "not in a RADOS pool", st->path, cs ? cs->ops->kind : "no");
	__atomic_store_n(&rd_of(cs)->wait_s, seconds, __ATOMIC_RELAXED);
	return 0;
}
