/*
 * cs_rados_rel.c - the RADOS chunk store's other half (cs_rados.c has the
 * design): the table of chunks being put or released, releasing a store's
 * key on a chunk object (or the object with the last key) under a version
 * assertion, reclaim() that runs the queued releases after a WAL sync
 * (rule 2 of cs_chunkstore.h), and the sweep after an unclean stop.
 */
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_health.h"
#include "cs_rados_int.h"

/* The error for a librados failure @rc of @what on chunk @hash. */
/* The error for a librados failure @rc of @what on chunk @hash. */
int cs_rados_fail(const struct rdstore *r, int rc, const char *what, const uint8_t *hash)
{
	char oid[RD_OID_LEN];
	int err = rc == -ENOSPC || rc == -EDQUOT ? -ENOSPC : -EIO;

	oid_of(hash, oid);
	return cs_fail(err, "RADOS pool %s: %s chunk %s: %s%s", r->pool, what, oid,
		       strerror(-rc), rc == -ETIMEDOUT ? " (the cluster did not answer in time)" : "");
}

int cs_rados_fault(struct rdstore *r, int rc, const char *what, const uint8_t *hash)
{
	int err = cs_rados_fail(r, rc, what, hash);

	__atomic_add_fetch(&r->fault_errors, 1, __ATOMIC_RELAXED);
	if (!__atomic_exchange_n(&r->fault, 1, __ATOMIC_ACQ_REL))
		cs_notice(1, "%s; further errors are not logged until it works again",
			  cs_last_error());
	cs_error_noted();
	return err;
}

void cs_rados_works(struct rdstore *r)
{
	uint64_t n;

	if (!__atomic_load_n(&r->fault, __ATOMIC_ACQUIRE) ||
	    !__atomic_exchange_n(&r->fault, 0, __ATOMIC_ACQ_REL))
		return;
	n = __atomic_exchange_n(&r->fault_errors, 0, __ATOMIC_RELAXED);
	cs_notice(0, "RADOS pool %s: works again (%llu failed operations in between)", r->pool,
		  (unsigned long long)n);
}

/* ---- bounded waits ---- */

/* A completion's callback (librados's finisher thread, after the op is
 * marked complete): wake the waiters. */
static void cs_rados_wake(rados_completion_t c, void *arg)
{
	struct rdstore *r = arg;

	pthread_mutex_lock(&r->wmu);
	pthread_cond_broadcast(&r->wcv);
	pthread_mutex_unlock(&r->wmu);
}

int cs_rados_completion(struct rdstore *r, rados_completion_t *c)
{
	return rados_aio_create_completion2(r, cs_rados_wake, c);
}

void cs_rados_deadline(struct rdstore *r, struct timespec *until)
{
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_sec += __atomic_load_n(&r->wait_s, __ATOMIC_RELAXED);
}

int cs_rados_wait(struct rdstore *r, rados_completion_t c, const struct timespec *until)
{
	int rc = 0;

	pthread_mutex_lock(&r->wmu);
	while (!rados_aio_is_complete(c) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->wcv, &r->wmu, until);
	pthread_mutex_unlock(&r->wmu);
	return rados_aio_is_complete(c) ? 0 : -ETIMEDOUT;
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
struct rdent *cs_rados_ent_get(struct rdstore *r, const uint8_t *hash, int make)
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
void cs_rados_ent_put(struct rdstore *r, struct rdent *e)
{
	struct rdent **p;

	if (e->inflight || e->state != RD_IDLE)
		return;
	p = slot_of(r, e->hash);
	*p = e->next;
	free(e);
}

/* Queue @hash's key for release (mu held). */
void cs_rados_queue_release(struct rdstore *r, const uint8_t *hash, uint32_t stored)
{
	struct rdent *e = cs_rados_ent_get(r, hash, 1);

	if (!e)
		return; /* no memory: the key stays, the object leaks (safe) */
	e->stored = stored;
	if (e->state == RD_IDLE) {
		e->state = RD_QUEUED;
		r->nqueued++;
	}
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
		rc = cs_rados_fail(r, x->rc, "releasing", e->hash);
	pthread_mutex_lock(&r->mu);
	e->state = RD_IDLE;
	if (x->rc < 0)
		cs_rados_queue_release(r, e->hash, e->stored);
	r->reclaimed += x->freed ? e->stored : 0;
	cs_rados_ent_put(r, e);
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
	cs_rados_queue_release(r, hash, 0);
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

int cs_rados_reclaim(struct cs_chunkstore *cs, uint64_t budget)
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

int cs_rados_wanted(struct cs_chunkstore *cs)
{
	struct rdstore *r = rd_of(cs);
	int w;

	pthread_mutex_lock(&r->mu);
	w = r->nqueued > 0 || r->sweep;
	pthread_mutex_unlock(&r->mu);
	return w;
}

/* Sweep when the last run left its flag; raise the flag for this run. */
int cs_rados_sweep_start(struct rdstore *r)
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
