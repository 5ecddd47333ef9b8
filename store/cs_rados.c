/*
 * cs_rados.c - chunks in a Ceph RADOS pool, shared by several stores (issue
 * 15): the chunk store of cs_chunkstore.h over librados. It does not pick
 * the backend (cs_chunk.c does, from the store's "\0CS" key) and does not
 * read ahead (cs_file.c's business); it moves and marks objects.
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
 */
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_health.h"
#include "cs_priv.h"
#include "cs_rados.h"

#define RD_REF_LEN (CS_REF_HEAD + CS_HASH_LEN)
#define RD_KEY_PREFIX "cstorfs.store."
#define RD_BUCKETS 4096
#define RD_INFLIGHT 64		/* puts in flight at most */
#define RD_RETRIES 16		/* put and release: rounds lost to other stores */
#define RD_RELEASE_MAX 1024	/* chunks released per reclaim call */
#define RD_OID_LEN (2 * CS_HASH_LEN + 1)
#define RD_WFLAGS LIBRADOS_OPERATION_FULL_TRY
#define RD_RMFLAGS (LIBRADOS_OPERATION_FULL_TRY | LIBRADOS_OPERATION_FULL_FORCE)

enum { RD_IDLE, RD_QUEUED, RD_RELEASING };

/* A chunk this store is putting or releasing (mu). */
struct rdent {
	struct rdent *next;
	uint8_t hash[CS_HASH_LEN];
	uint32_t stored;
	int inflight; /* puts whose batch has not come (named() not called) */
	int state;
};

/* A put in flight. */
struct rdput {
	struct rdput *next;
	uint64_t seq;
	rados_completion_t comp;
	rados_write_op_t op;
	uint8_t hash[CS_HASH_LEN];
	void *val; /* a copy, for the fallbacks */
	uint32_t len;
	int create; /* op A (create with the bytes), else op B (mark) */
	int tries;
};

struct rdstore {
	struct cs_chunkstore cs;
	rados_t cl;
	rados_ioctx_t io;
	char pool[128];
	char key[64]; /* our omap key */
	size_t keylen;
	pthread_mutex_t mu; /* the table, the queue of puts, the counters */
	pthread_cond_t cv;  /* a release ended, a put completed */
	struct rdent *tab[RD_BUCKETS];
	uint64_t nqueued;
	struct rdput *head, *tail; /* puts in flight, oldest first */
	unsigned npending;
	uint64_t seq;           /* puts sent */
	pthread_mutex_t sync_mu; /* one reaper at a time */
	int exist_score;        /* -8..8: recent puts found their object (mu) */
	uint64_t err_gen;       /* failed puts (mu) */
	int err_rc;             /* the last one's error (mu) */
	uint64_t objects, bytes, reclaimed;
	uint64_t inst; /* this open's number in the process (cs_rados_seen_gen) */
	uint64_t ninflight;     /* puts not yet named (mu) */
	rados_list_ctx_t sweep; /* the pool listing of a sweep, NULL: none */
	int flagged;            /* our "\0CSRD" key is written */
};

static struct rdstore *rd_of(struct cs_chunkstore *cs)
{
	return (struct rdstore *)cs;
}

static void oid_of(const uint8_t *hash, char *oid)
{
	cs_rados_hex(hash, CS_HASH_LEN, oid);
}

/* The error for a librados failure @rc of @what on chunk @hash. */
static int rd_fail(const struct rdstore *r, int rc, const char *what, const uint8_t *hash)
{
	char oid[RD_OID_LEN];
	int err = rc == -ENOSPC || rc == -EDQUOT ? -ENOSPC : -EIO;

	oid_of(hash, oid);
	return cs_fail(err, "RADOS pool %s: %s chunk %s: %s%s", r->pool, what, oid,
		       strerror(-rc), rc == -ETIMEDOUT ? " (the cluster did not answer in time)" : "");
}

/* ---- the table ---- */

static struct rdent **slot_of(struct rdstore *r, const uint8_t *hash)
{
	struct rdent **p = &r->tab[be32_get(hash) % RD_BUCKETS];

	while (*p && memcmp((*p)->hash, hash, CS_HASH_LEN))
		p = &(*p)->next;
	return p;
}

/* The entry of @hash (mu held), created when @make; NULL when absent or
 * out of memory. */
static struct rdent *ent_get(struct rdstore *r, const uint8_t *hash, int make)
{
	struct rdent **p = slot_of(r, hash);

	if (*p || !make)
		return *p;
	*p = calloc(1, sizeof(**p));
	if (*p)
		memcpy((*p)->hash, hash, CS_HASH_LEN);
	return *p;
}

/* Forget @e if nothing is pending on it (mu held). */
static void ent_put(struct rdstore *r, struct rdent *e)
{
	struct rdent **p;

	if (e->inflight || e->state != RD_IDLE)
		return;
	p = slot_of(r, e->hash);
	*p = e->next;
	free(e);
}

/* Queue @hash's key for release (mu held). */
static void queue_release(struct rdstore *r, const uint8_t *hash, uint32_t stored)
{
	struct rdent *e = ent_get(r, hash, 1);

	if (!e)
		return; /* no memory: the key stays, the object leaks (safe) */
	e->stored = stored;
	if (e->state == RD_IDLE) {
		e->state = RD_QUEUED;
		r->nqueued++;
	}
}

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

/* Put @p is done with @rc: account it (a failure bumps the error
 * generation) and free it. */
static void put_done(struct rdstore *r, struct rdput *p, int rc)
{
	pthread_mutex_lock(&r->mu);
	if (rc < 0) {
		r->err_rc = rd_fail(r, rc, "writing", p->hash);
		r->err_gen++;
	}
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

/* Wait for the puts sent up to @upto and send their second ops, all in
 * flight at once, until each is done. */
static void reap(struct rdstore *r, uint64_t upto)
{
	struct rdput *batch, *p, *next, *again;

	pthread_mutex_lock(&r->sync_mu);
	for (batch = take_upto(r, upto); batch; batch = again) {
		again = NULL;
		for (p = batch; p; p = next) {
			int rc;

			next = p->next;
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
	pthread_mutex_unlock(&r->sync_mu);
}

/* Note a put of @hash (mu held): wait out a release of it, cancel a
 * queued one, count it in flight. 0 or -ENOMEM. */
static int put_begin(struct rdstore *r, const uint8_t *hash)
{
	struct rdent *e;

	while ((e = ent_get(r, hash, 0)) && e->state == RD_RELEASING)
		pthread_cond_wait(&r->cv, &r->mu);
	e = ent_get(r, hash, 1);
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
	struct rdent *e = ent_get(r, hash, 0);

	CS_ASSERT(e && e->inflight > 0);
	e->inflight--;
	r->ninflight--;
	ent_put(r, e);
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
	rc = rados_aio_create_completion2(NULL, NULL, &p->comp);
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
	if (wait_for)
		reap(r, wait_for);
	rc = put_send(r, p);
	pthread_mutex_lock(&r->mu);
	if (rc < 0) {
		put_abandon(r, hash);
		pthread_mutex_unlock(&r->mu);
		rc = rd_fail(r, rc, "writing", hash);
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
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	upto = r->seq;
	pthread_mutex_unlock(&r->mu);
	reap(r, upto);
	pthread_mutex_lock(&r->mu);
	seen_at = cs_rados_seen_gen(r->inst);
	if (*seen_at != r->err_gen) {
		*seen_at = r->err_gen;
		rc = r->err_rc;
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
	n = rados_read(r->io, oid, buf, h.stored_len, 0);
	if (n == -ENOENT)
		return cs_fail(-EIO, "chunk %s: missing from RADOS pool %s", oid, r->pool);
	if (n < 0) {
		rd_fail(r, n, "reading", hash);
		return -EIO;
	}
	if ((uint32_t)n != h.stored_len)
		return cs_fail(-EIO, "chunk %s: %d bytes in RADOS pool %s, %u expected", oid, n,
			       r->pool, h.stored_len);
	return n;
}

static void rd_named(struct cs_chunkstore *cs, const uint8_t *ref, size_t reflen, int named)
{
	struct rdstore *r = rd_of(cs);
	const uint8_t *hash = ref + CS_REF_HEAD;
	struct cs_chunkref h;
	struct rdent *e;

	CS_ASSERT(ref_ok(NULL, ref, reflen, &h) == 0);
	pthread_mutex_lock(&r->mu);
	e = ent_get(r, hash, 0);
	CS_ASSERT(e && e->inflight > 0);
	e->inflight--;
	r->ninflight--;
	if (named) {
		r->objects++;
		r->bytes += h.stored_len;
		ent_put(r, e);
	} else {
		queue_release(r, hash, h.stored_len);
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
	pthread_mutex_lock(&r->mu);
	r->objects -= r->objects > 0;
	r->bytes -= r->bytes >= h.stored_len ? h.stored_len : r->bytes;
	queue_release(r, hash, h.stored_len);
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
		rd_fail(r, rc, "checking", hash);
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
				       r->pool) : rd_fail(r, rc, "marking", hash);
}

/* ---- release and reclaim ---- */

/* One release in flight (release_batch): read the object's first two keys
 * and its version, then remove our key, or the object when the key was
 * its last, under that version (invariant 2). */
enum { REL_READ, REL_READING, REL_WRITING, REL_DONE };

struct rdrel {
	struct rdent *e;
	int st, rc, n, tries;
	char oid[RD_OID_LEN];
	rados_completion_t c;
	rados_read_op_t rop;
	rados_write_op_t wop;
	rados_omap_iter_t it;
	int rc_keys;
	int freed; /* the object went with our key */
};

/* Send the read of @x; 0 or an error. */
static int rel_read(struct rdstore *r, struct rdrel *x)
{
	int rc;

	x->it = NULL;
	x->rc_keys = 0;
	x->rop = rados_create_read_op();
	if (!x->rop)
		return -ENOMEM;
	rc = rados_aio_create_completion2(NULL, NULL, &x->c);
	if (rc == 0) {
		rados_read_op_omap_get_keys2(x->rop, "", 2, &x->it, NULL, &x->rc_keys);
		rc = rados_aio_read_op_operate(x->rop, r->io, x->c, x->oid, 0);
		if (rc < 0)
			rados_aio_release(x->c);
	}
	if (rc < 0)
		rados_release_read_op(x->rop);
	return rc;
}

/* Wait for the read of @x and send the write it calls for: 1 sent, 0
 * nothing to do (no object, or our key is not on it), or an error. */
static int rel_write(struct rdstore *r, struct rdrel *x)
{
	const char *k = r->key;
	uint64_t ver;
	int rc, ours = 0;

	rados_aio_wait_for_complete(x->c);
	rc = rados_aio_get_return_value(x->c);
	ver = rados_aio_get_version(x->c);
	rados_aio_release(x->c);
	rc = rc ? rc : x->rc_keys;
	for (x->n = 0; rc == 0 && x->it; x->n++) {
		char *key, *val;
		size_t kl, vl;

		if (rados_omap_get_next2(x->it, &key, &val, &kl, &vl) || !key)
			break;
		ours |= kl == r->keylen && !memcmp(key, r->key, kl);
	}
	if (x->it)
		rados_omap_get_end(x->it);
	rados_release_read_op(x->rop);
	if (rc == -ENOENT || (rc == 0 && !ours))
		return 0;
	if (rc < 0 || !(x->wop = rados_create_write_op()))
		return rc < 0 ? rc : -ENOMEM;
	/* both under the version seen: two stores letting go at once must
	 * not each remove only their key and leave a keyless object */
	rados_write_op_assert_version(x->wop, ver);
	if (x->n == 1)
		rados_write_op_remove(x->wop);
	else
		rados_write_op_omap_rm_keys2(x->wop, &k, &r->keylen, 1);
	rc = rados_aio_create_completion2(NULL, NULL, &x->c);
	if (rc == 0 && (rc = rados_aio_write_op_operate(x->wop, r->io, x->c, x->oid, NULL,
							RD_RMFLAGS)) < 0)
		rados_aio_release(x->c);
	if (rc < 0)
		rados_release_write_op(x->wop);
	return rc < 0 ? rc : 1;
}

/* Wait for the write of @x: 0 done, 1 to read again (-ERANGE: another
 * store came or went since the read), or an error. */
static int rel_done(struct rdstore *r, struct rdrel *x)
{
	int rc;

	rados_aio_wait_for_complete(x->c);
	rc = rados_aio_get_return_value(x->c);
	rados_aio_release(x->c);
	rados_release_write_op(x->wop);
	x->freed = rc == 0 && x->n == 1;
	if (rc == -ERANGE && ++x->tries < RD_RETRIES)
		return 1;
	return rc == -ENOENT ? 0 : rc;
}

/* Run the releases @x[0..n) in rounds, each round's ops all in flight at
 * once, until every one is REL_DONE with its result in rc. */
static void release_batch(struct rdstore *r, struct rdrel *x, size_t n)
{
	for (int busy = 1; busy;) {
		size_t i;
		int rc;

		busy = 0;
		for (i = 0; i < n; i++) {
			if (x[i].st != REL_READ)
				continue;
			rc = rel_read(r, &x[i]);
			x[i].st = rc == 0 ? REL_READING : REL_DONE;
			x[i].rc = rc;
		}
		for (i = 0; i < n; i++) {
			if (x[i].st != REL_READING)
				continue;
			rc = rel_write(r, &x[i]);
			x[i].st = rc == 1 ? REL_WRITING : REL_DONE;
			x[i].rc = rc == 1 ? 0 : rc;
		}
		for (i = 0; i < n; i++) {
			if (x[i].st != REL_WRITING)
				continue;
			rc = rel_done(r, &x[i]);
			x[i].st = rc == 1 ? REL_READ : REL_DONE;
			x[i].rc = rc == 1 ? 0 : rc;
			busy |= rc == 1;
		}
	}
}

/* Take up to @max queued chunks into @out, marking them releasing; a chunk
 * with a put in flight leaves the queue (its named() decides). */
static size_t take_queued(struct rdstore *r, struct rdent **out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&r->mu);
	for (size_t b = 0; b < RD_BUCKETS && n < max && r->nqueued; b++) {
		struct rdent *e, *next;

		for (e = r->tab[b]; e && n < max; e = next) {
			next = e->next;
			if (e->state != RD_QUEUED)
				continue;
			r->nqueued--;
			if (e->inflight) {
				e->state = RD_IDLE;
				continue;
			}
			e->state = RD_RELEASING;
			out[n++] = e;
		}
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* @x is over: its entry ends idle, or queued again after an error. @rc:
 * the first error so far; returned, or this one's (with its message). */
static int release_end(struct rdstore *r, struct rdrel *x, int rc)
{
	struct rdent *e = x->e;

	if (rc == 0 && x->rc < 0)
		rc = rd_fail(r, x->rc, "releasing", e->hash);
	pthread_mutex_lock(&r->mu);
	e->state = RD_IDLE;
	if (x->rc < 0)
		queue_release(r, e->hash, e->stored);
	r->reclaimed += x->freed ? e->stored : 0;
	ent_put(r, e);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* Release the keys of @todo[0..n) (taken by take_queued), those whose
 * chunk the index does not name again; 0 or the first error. */
static int release_all(struct rdstore *r, struct rdent **todo, size_t n)
{
	struct rdrel *x = calloc(n, sizeof(*x));
	int rc = x ? cs_store_sync_wal(r->cs.st) : -ENOMEM; /* rule 2, first */

	for (size_t i = 0; x && i < n; i++) {
		char *v = NULL;
		size_t vlen;
		int named = rc ? rc : cs_kv_get(r->cs.st, r->cs.st->cf_chunks, todo[i]->hash,
						CS_HASH_LEN, &v, &vlen);

		free(v);
		x[i].e = todo[i];
		oid_of(todo[i]->hash, x[i].oid);
		x[i].st = named == -ENOENT ? REL_READ : REL_DONE;
		x[i].rc = named == -ENOENT ? 0 : named;
	}
	if (x)
		release_batch(r, x, n);
	for (size_t i = 0; i < n; i++) {
		struct rdrel none = { .e = todo[i], .rc = rc };

		rc = release_end(r, x ? &x[i] : &none, rc);
	}
	free(x);
	return rc;
}

/* ---- the sweep (rule 3) ----
 *
 * A store that stops with puts not yet named or keys not yet released (a
 * crash, or a close with work left) leaves keys on objects its index does
 * not name. Such a store keeps meta key "\0CSRD" (written at open, deleted
 * by a close with nothing left); an open that finds it sweeps: it lists the
 * pool, a step per reclaim() call, and queues a release of every chunk
 * object the index does not name (a release removes only our key, and
 * only where it is). */

/* A chunk object the index does not name: queue its release. */
static void sweep_found(void *ctx, const uint8_t *hash)
{
	struct rdstore *r = ctx;

	pthread_mutex_lock(&r->mu);
	queue_release(r, hash, 0);
	pthread_mutex_unlock(&r->mu);
}

static int sweep_step(struct rdstore *r, size_t max)
{
	int rc = cs_rados_sweep_step(r->cs.st, r->sweep, max, sweep_found, r);

	if (rc <= 0) {
		rados_nobjects_list_close(r->sweep);
		r->sweep = NULL;
	}
	return rc < 0 ? cs_fail(rc, "RADOS pool %s: sweeping: %s", r->pool, cs_last_error()) : rc;
}

static int rd_reclaim(struct cs_chunkstore *cs, uint64_t budget)
{
	struct rdstore *r = rd_of(cs);
	size_t max = budget / CS_CHUNK_SIZE, n;
	struct rdent **todo;
	int rc = 0, more;

	max = max < 64 ? 64 : max > RD_RELEASE_MAX ? RD_RELEASE_MAX : max;
	if (r->sweep && (rc = sweep_step(r, max)) < 0)
		return rc;
	todo = malloc(max * sizeof(*todo));
	if (!todo)
		return -ENOMEM;
	n = take_queued(r, todo, max);
	rc = n ? release_all(r, todo, n) : 0;
	free(todo);
	pthread_mutex_lock(&r->mu);
	more = r->nqueued > 0 || r->sweep;
	pthread_mutex_unlock(&r->mu);
	return rc < 0 ? rc : more;
}

static int rd_wanted(struct cs_chunkstore *cs)
{
	struct rdstore *r = rd_of(cs);
	int w;

	pthread_mutex_lock(&r->mu);
	w = r->nqueued > 0 || r->sweep;
	pthread_mutex_unlock(&r->mu);
	return w;
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
}

static void rd_close(struct cs_chunkstore *cs)
{
	struct rdstore *r = rd_of(cs);

	if (!r)
		return;
	if (r->io) {
		reap(r, UINT64_MAX);
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
	free(r);
}

static const struct cs_chunkstore_ops rd_ops = {
	.kind = "rados",
	.put = rd_put,
	.sync = rd_sync,
	.named = rd_named,
	.get = rd_get,
	.drop = rd_drop,
	.wanted = rd_wanted,
	.reclaim = rd_reclaim,
	.check = rd_check,
	.space = rd_space,
	.pool = rd_pool,
	.adopt = rd_adopt,
	.close = rd_close,
};

/* ---- open ---- */

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

/* Sweep when the last run left its flag; raise the flag for this run. */
static int sweep_start(struct rdstore *r)
{
	int rc = cs_rados_dirty(r->cs.st, -1);

	if (rc == 1) {
		rc = rados_nobjects_list_open(r->io, &r->sweep);
		if (rc < 0) {
			r->sweep = NULL;
			return cs_fail(-EIO, "RADOS pool %s: listing: %s", r->pool, strerror(-rc));
		}
	} else if (rc == 0) {
		rc = cs_rados_dirty(r->cs.st, 1);
	}
	r->flagged = rc == 0;
	return rc;
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
		rc = sweep_start(r);
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
