/*
 * cs_rados_ra.c - the RADOS chunk store's reads (cs_rados.c has the design):
 * a bounded cache of chunk objects read or being read, which every get
 * goes through, and into which reads ahead of a file's reader (the
 * prefetch op, cs_readahead.c) are issued as asynchronous reads, many in
 * flight at once, so a sequential read is not one round trip per chunk.
 *
 * What it is not: a place bytes are trusted. The cache holds what the pool
 * returned for a name; the get copies it out and cs_chunk_read verifies it
 * against the SHA-256 as for every chunk. Objects are named by their hash
 * and written once, so an entry never goes stale; when the store drops a
 * chunk (its object may be removed) the entry leaves, so a scrub or a read
 * after that asks the pool (only a read racing the drop may be served).
 *
 * Bounds. The cache holds at most cap bytes (entries in flight count); a
 * prefetch that finds no room is dropped; a get's read goes in anyway (so
 * that its wait stays bounded even while the cluster is away and reads
 * ahead fill the cache), the next evictions bringing it back under cap. Entries leave least recently used
 * first, only when complete and no get uses them. A prefetch that failed
 * (no object, the cluster away) is dropped by the get that meets it, which
 * then reads again itself. A get waits at most the store's wait bound
 * (cs_rados_wait); its entry then stays, in flight, until librados ends it.
 *
 * Locking: the cache's mu guards the table and the order; it is a leaf
 * (nothing else is taken under it) and never held while waiting.
 */
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <stdlib.h>
#include <string.h>

#include "cs_rados_int.h"

static struct rdra **ra_slot(struct rdcache *ca, const uint8_t *hash)
{
	struct rdra **p = &ca->tab[be32_get(hash) % RA_BUCKETS];

	while (*p && memcmp((*p)->hash, hash, CS_HASH_LEN))
		p = &(*p)->hnext;
	return p;
}

static void ra_unlink_order(struct rdcache *ca, struct rdra *e)
{
	*(e->older ? &e->older->newer : &ca->oldest) = e->newer;
	*(e->newer ? &e->newer->older : &ca->newest) = e->older;
	e->older = e->newer = NULL;
}

static void ra_link_newest(struct rdcache *ca, struct rdra *e)
{
	e->older = ca->newest;
	e->newer = NULL;
	*(ca->newest ? &ca->newest->newer : &ca->oldest) = e;
	ca->newest = e;
}

/* Take @e out of the cache (mu held) and free it; its read has completed
 * or, at fini, is waited for here. */
static void ra_free(struct rdcache *ca, struct rdra *e)
{
	struct rdra **p = ra_slot(ca, e->hash);

	if (!e->dropped)
		*p = e->hnext;
	ra_unlink_order(ca, e);
	ca->bytes -= e->len;
	rados_aio_wait_for_complete(e->c);
	rados_aio_release(e->c);
	free(e->buf);
	free(e);
}

/* Make room for @len more bytes (mu held): free complete, unused entries,
 * least recently used first. 1 when there is room. */
static int ra_room(struct rdcache *ca, size_t len)
{
	struct rdra *e, *next;

	for (e = ca->oldest; e && ca->bytes + len > ca->cap; e = next) {
		next = e->newer;
		if (!e->users && rados_aio_is_complete(e->c))
			ra_free(ca, e);
	}
	return ca->bytes + len <= ca->cap;
}

/* Start reading chunk @hash (@len bytes) into a new entry (mu held): the
 * entry, or NULL when there is no room (unless @get: a get's read goes
 * beyond the bound rather than wait unbounded outside the cache) or the
 * read could not be sent. */
static struct rdra *ra_start(struct rdstore *r, const uint8_t *hash, uint32_t len, int get)
{
	struct rdcache *ca = &r->ra;
	char oid[RD_OID_LEN];
	struct rdra *e;

	if ((!ra_room(ca, len) && !get) || !(e = calloc(1, sizeof(*e))))
		return NULL;
	e->buf = malloc(len ? len : 1);
	if (!e->buf || cs_rados_completion(r, &e->c) < 0) {
		free(e->buf);
		free(e);
		return NULL;
	}
	oid_of(hash, oid);
	if (rados_aio_read(r->io, oid, e->c, e->buf, len, 0) < 0) {
		rados_aio_release(e->c);
		free(e->buf);
		free(e);
		return NULL;
	}
	memcpy(e->hash, hash, CS_HASH_LEN);
	e->len = len;
	e->hnext = ca->tab[be32_get(hash) % RA_BUCKETS];
	ca->tab[be32_get(hash) % RA_BUCKETS] = e;
	ra_link_newest(ca, e);
	ca->bytes += len;
	return e;
}

void cs_rados_ra_init(struct rdstore *r, size_t cap)
{
	pthread_mutex_init(&r->ra.mu, NULL);
	r->ra.cap = cap;
}

void cs_rados_ra_fini(struct rdstore *r)
{
	struct rdcache *ca = &r->ra;

	pthread_mutex_lock(&ca->mu);
	while (ca->oldest) {
		CS_ASSERT(!ca->oldest->users);
		ra_free(ca, ca->oldest);
	}
	pthread_mutex_unlock(&ca->mu);
	pthread_mutex_destroy(&ca->mu);
}

void cs_rados_ra_forget(struct rdstore *r, const uint8_t *hash)
{
	struct rdcache *ca = &r->ra;
	struct rdra *e, **p;

	pthread_mutex_lock(&ca->mu);
	p = ra_slot(ca, hash);
	e = *p;
	if (e && !e->users && rados_aio_is_complete(e->c)) {
		ra_free(ca, e);
	} else if (e) { /* busy: found by no one from now, freed when done */
		*p = e->hnext;
		e->dropped = 1;
	}
	pthread_mutex_unlock(&ca->mu);
}

void cs_rados_ra_prefetch(struct rdstore *r, const uint8_t *hash, uint32_t len)
{
	struct rdcache *ca = &r->ra;

	pthread_mutex_lock(&ca->mu);
	if (!*ra_slot(ca, hash))
		ra_start(r, hash, len, 0);
	pthread_mutex_unlock(&ca->mu);
}

/* The entry of @hash, taken for a get (users), started when absent; *@own:
 * 1 when this get started it. NULL: no memory, the read not sent, or a
 * cached entry of another length (a damaged ref: read around the cache). */
static struct rdra *ra_take(struct rdstore *r, const uint8_t *hash, uint32_t len, int *own)
{
	struct rdcache *ca = &r->ra;
	struct rdra *e;

	pthread_mutex_lock(&ca->mu);
	e = *ra_slot(ca, hash);
	*own = !e;
	if (e && e->len == len) {
		ra_unlink_order(ca, e);
		ra_link_newest(ca, e);
		ca->hits++;
	} else if (!e) {
		e = ra_start(r, hash, len, 1);
		ca->misses++;
	} else {
		e = NULL;
	}
	if (e)
		e->users++;
	pthread_mutex_unlock(&ca->mu);
	return e;
}

/* Wait for @e's read and copy it out: @len, or its error; a failed read
 * leaves the cache (the next get reads again). */
static int ra_finish(struct rdstore *r, struct rdra *e, uint32_t len, void *buf)
{
	struct timespec until;
	int rc;

	cs_rados_deadline(r, &until);
	rc = cs_rados_wait(r, e->c, &until);
	if (rc == 0)
		rc = rados_aio_get_return_value(e->c);
	if (rc == (int)len)
		memcpy(buf, e->buf, len);
	pthread_mutex_lock(&r->ra.mu);
	e->users--;
	if (!e->users && (e->dropped || (rc != (int)len && rc != -ETIMEDOUT)))
		ra_free(&r->ra, e);
	pthread_mutex_unlock(&r->ra.mu);
	return rc;
}

int cs_rados_ra_read(struct rdstore *r, const uint8_t *hash, uint32_t len, void *buf)
{
	char oid[RD_OID_LEN];
	struct rdra *e;
	int own, rc;

	e = ra_take(r, hash, len, &own);
	if (e) {
		rc = ra_finish(r, e, len, buf);
		if (own || rc == (int)len || rc == -ETIMEDOUT)
			return rc;
		/* a read ahead that failed: this get reads for itself */
		e = ra_take(r, hash, len, &own);
		if (e)
			return ra_finish(r, e, len, buf);
	}
	oid_of(hash, oid);
	return rados_read(r->io, oid, buf, len, 0);
}
