/*
 * cs_readahead.c - reading ahead of a file's reader (cs_read_ahead,
 * cs_store.h), for chunk stores where a read is a round trip (a RADOS
 * pool: issue 15). The kernel already reads ahead of a FUSE file, but each
 * chunk then costs cs_read one synchronous fetch; here, when a file is read
 * in order, the chunks up to RA_AHEAD bytes past the read are named to the
 * chunk store's prefetch op, which fetches them all at once into its cache.
 *
 * In order: a read starting at the file's first chunk, or within a few
 * chunks of where the last read of the same file ended (FUSE serves the
 * kernel's read-ahead from several threads, so reads can come slightly out
 * of order). The guess is kept for the last RA_FILES files read, in a
 * process-wide table: a wrong guess costs fetches, never data (the fetched
 * bytes are verified on use like any chunk's, and a chunk is named by its
 * hash, so what was fetched for an old version of the file is simply not
 * asked for).
 *
 * Writes no keys; reads extents (cs_ext_get) and the chunk index.
 */
#include <pthread.h>
#include <stdlib.h>

#include "cs_priv.h"

#define RA_AHEAD (8u << 20) /* bytes past a read in order to fetch */
#define RA_FILES 64         /* files whose order is followed */
#define RA_SLACK 8          /* chunks a read in order may start after the last one */

struct ra_file {
	const cs_store *st;
	uint64_t vol, ino;
	uint64_t next;  /* the chunk after the last read */
	uint64_t ahead; /* chunks before it are fetched or asked for */
	uint64_t used;  /* ra_clock at the last read, 0: a free slot */
};

static pthread_mutex_t ra_mu = PTHREAD_MUTEX_INITIALIZER; /* a leaf */
static struct ra_file ra_files[RA_FILES];
static uint64_t ra_clock;

/* The slot of the file (@st, @vol, @ino), taken from the least recently
 * read one when absent (its next and ahead then 0). ra_mu held. */
static struct ra_file *ra_slot(const cs_store *st, uint64_t vol, uint64_t ino)
{
	struct ra_file *lru = &ra_files[0];

	for (int i = 0; i < RA_FILES; i++) {
		struct ra_file *f = &ra_files[i];

		if (f->used && f->st == st && f->vol == vol && f->ino == ino)
			return f;
		if (f->used < lru->used)
			lru = f;
	}
	*lru = (struct ra_file){ .st = st, .vol = vol, .ino = ino };
	return lru;
}

/* A read of chunks [@i0, @i1] of the file: what to fetch, [*@from, *@to)
 * (@w chunks past the read at most, nothing asked before). 1 when there is
 * something to fetch. */
static int ra_plan(const cs_store *st, uint64_t vol, uint64_t ino, uint64_t i0, uint64_t i1,
		   uint64_t w, uint64_t *from, uint64_t *to)
{
	struct ra_file *f;
	int seq;

	pthread_mutex_lock(&ra_mu);
	f = ra_slot(st, vol, ino);
	seq = i0 == 0 || (f->used && i0 + w >= f->next && i0 <= f->next + RA_SLACK);
	f->used = ++ra_clock;
	if (!seq) {
		f->next = i1 + 1;
		f->ahead = 0;
		pthread_mutex_unlock(&ra_mu);
		return 0;
	}
	if (i1 + 1 > f->next || i0 == 0)
		f->next = i1 + 1;
	if (f->ahead > i1 + 1 + w / 2) { /* still half a window ahead: later, at once */
		pthread_mutex_unlock(&ra_mu);
		return 0;
	}
	*from = f->ahead > i1 + 1 ? f->ahead : i1 + 1;
	*to = i1 + 1 + w;
	if (*from < *to)
		f->ahead = *to;
	pthread_mutex_unlock(&ra_mu);
	return *from < *to;
}

/* Name chunk @idx of the file to the chunk store's prefetch, if it has
 * one there (a hole, an old store's inline chunk, an error: nothing). */
static void ra_chunk(cs_store *st, const struct cs_volrec *rec, uint64_t ino, uint64_t idx)
{
	struct cs_ext e;
	char *v = NULL;
	size_t vlen;

	if (cs_ext_get(st, rec, ino, idx, &e) ||
	    cs_kv_get(st, st->cf_chunks, e.hash, CS_HASH_LEN, &v, &vlen))
		return;
	st->chunks->ops->prefetch(st->chunks, e.hash, (const uint8_t *)v, vlen);
	free(v);
}

void cs_read_ahead(cs_vol *vol, uint64_t ino, uint64_t off, size_t size)
{
	cs_store *st = vol->st;
	struct cs_volrec rec;
	struct cs_inode in;
	uint64_t from, to, last;
	uint32_t csz;

	if (!st->chunks || !st->chunks->ops->prefetch || size == 0)
		return;
	rec = vol->vs->rec; /* as cs_read: the chunk size never changes */
	csz = rec.chunk_size;
	if (!csz || !ra_plan(st, rec.id, ino, off / csz, (off + size - 1) / csz,
			     RA_AHEAD / csz, &from, &to))
		return;
	if (cs_inode_load(vol, ino, &in) || in.size <= CS_INLINE_MAX)
		return;
	last = (in.size - 1) / csz + 1;
	for (uint64_t idx = from; idx < to && idx < last; idx++)
		ra_chunk(st, &rec, ino, idx);
}
