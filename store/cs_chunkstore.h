/*
 * cs_chunkstore.h - where chunk bytes live: the chunk-storage interface.
 *
 * Private to store/. Metadata (volumes, inodes, extents, reference
 * counts) stays in RocksDB; the bytes of chunks (an encoded chunk as
 * cs_chunk_encode makes it: a 6-byte header and the payload) go to a
 * chunk store, which is one of:
 *   - local chunk files (cs_cfile.c): append-only files in DIR/chunks/,
 *   - a Ceph RADOS pool (cs_rados.c, cs_rados_rel.c, cs_rados_ra.c; issue 15).
 *
 * THE INDEX. For every chunk the store holds, RocksDB's "chunks" family
 * maps its SHA-256 to a *ref*: a few bytes that tell the backend where
 * the bytes are. Every ref starts the same way (cs_chunkref below); the
 * backend's own bytes follow. A store written before chunk stores existed
 * holds the encoded chunk itself as the value (its first byte is the
 * chunk format, 1): those chunks are still read (cs_chunk.c), never
 * written again.
 *
 * THE ORDERING RULE (what keeps data safe when bytes and metadata are
 * written in separate steps):
 *  1. A chunk's bytes are durable before any RocksDB batch that names
 *     them (its index entry) is written: put(), then sync(), then the
 *     batch. Nothing in RocksDB ever names bytes a crash or a power loss
 *     can take away, whether RocksDB makes the batch durable through its
 *     WAL sync or through a memtable flush of its own.
 *  2. Bytes are given back only once no durable index entry can name
 *     them: a backend frees a chunk's space only after the batch that
 *     deleted its index entry, and every batch before it, is durable
 *     (a WAL sync: cs_store_sync_wal).
 *  3. After a crash, bytes that no index entry names (a put whose batch
 *     never came, or came after the last sync and was lost) are garbage:
 *     recovery or reclaim gives them back. It never removes named bytes.
 *
 * WHICH ONE. A store records its backend at creation (meta key "\0CS",
 * cs_chunk.c: cs_chunkstore_open); a store without one uses local files.
 *
 * LOCKING. put, get, sync and adopt may be called from any thread at once
 * (a receive adopts many chunks side by side: cs_adoptq.c), with or
 * without the volume lock; drop is called under st->lock; reclaim only
 * from one thread at a time (the daemon's gc thread), without locks held.
 */
#ifndef CS_CHUNKSTORE_H
#define CS_CHUNKSTORE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_store.h"

#define CS_REF_HEAD 9  /* tag, stored length, raw length */
#define CS_REF_MAX 64  /* a ref's largest size */

/* The common head of every ref (big-endian on disk). */
struct cs_chunkref {
	uint8_t tag;         /* the backend: 'F' local files, 'O' RADOS */
	uint32_t stored_len; /* bytes of the encoded chunk */
	uint32_t raw_len;    /* bytes of the chunk's data */
};

/* What a chunk store holds (cs_store_stats and `cstorfs-ctl status`). */
struct cs_chunkspace {
	uint64_t files;      /* files (or objects) holding chunk bytes */
	uint64_t bytes;      /* bytes they take */
	uint64_t live_bytes; /* bytes of chunks the index names */
	uint64_t reclaimed;  /* bytes given back since the store was opened */
	uint64_t read_hits;  /* gets a read cache served, the bytes read ahead or */
	uint64_t read_misses;/* kept; gets it had to read for (0, 0: no cache) */
};

struct cs_chunkstore;

struct cs_chunkstore_ops {
	const char *kind; /* "local", "rados" */
	/* Write encoded chunk @val (@len bytes, @raw_len of data) named @hash.
	 * Fills @ref (CS_REF_MAX bytes of room) and returns its length; not
	 * durable until sync(). -ENOSPC when there is no room. */
	int (*put)(struct cs_chunkstore *cs, const uint8_t *hash, const void *val, uint32_t len,
		   uint32_t raw_len, uint8_t *ref);
	/* Make every put() that returned on this thread before, and every one
	 * that returned on any thread before it started, durable. */
	int (*sync)(struct cs_chunkstore *cs);
	/* The batch that was to name @ref (a put's result) was written with it
	 * (@named 1), or was not, or named another copy (0: the bytes are
	 * garbage). Called once per successful put, after the batch. */
	void (*named)(struct cs_chunkstore *cs, const uint8_t *ref, size_t reflen, int named);
	/* Read the encoded chunk @ref names into @buf (room for @cap bytes,
	 * at least its stored length); returns the length, -EIO when the
	 * bytes are missing or short (the message names the chunk). */
	int (*get)(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		   size_t reflen, void *buf, size_t cap);
	/* Optional (NULL: nothing to gain, as for local chunk files, which the
	 * kernel reads ahead itself). The chunk @ref names is likely to be
	 * read soon (a file read in order: cs_readahead.c): start fetching it
	 * into a bounded cache get() then serves. Never an error and never
	 * waits: a fetch without room is not started, a failed one is dropped
	 * and get() reads again; get() still returns only what the backend
	 * holds, verified by the caller as always. Any thread. */
	void (*prefetch)(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
			 size_t reflen);
	/* The index entry @ref of @hash was deleted by a committed batch (its
	 * last reference went, or a staged chunk was discarded). Accounting
	 * only: space comes back in reclaim(), under rule 2. */
	void (*drop)(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		     size_t reflen);
	/* Optional. Space back at a WAL sync (cs_chunk_sync_wal): with @token
	 * 0, before the sync, note what every record of which is dropped and
	 * return a token (nonzero); after the sync succeeded, called with it:
	 * give back what was noted by then (rule 2: the batches that dropped
	 * it are durable). Any thread; cheap when nothing is to be done. */
	uint64_t (*settle)(struct cs_chunkstore *cs, uint64_t token);
	/* Optional, with settle: would a WAL sync give space back now (a
	 * whole file's records were all dropped since the last settle)? */
	int (*settle_due)(struct cs_chunkstore *cs);
	/* Is there space to give back (cheap; any thread)? */
	int (*wanted)(struct cs_chunkstore *cs);
	/* Give space back, moving at most about @budget bytes of live chunks;
	 * 1: more to do, 0: nothing left, <0: an error. */
	int (*reclaim)(struct cs_chunkstore *cs, uint64_t budget);
	/* 0 when @ref's bytes are there as far as a cheap look tells (no
	 * read), -EIO with a message naming what is missing. */
	int (*check)(struct cs_chunkstore *cs, const uint8_t *hash, const uint8_t *ref,
		     size_t reflen);
	void (*space)(struct cs_chunkstore *cs, struct cs_chunkspace *out);
	/* Streams of chunk names (issue 15, cs_send.c/cs_recv.c). pool: the
	 * place other stores can share, @fsid (40 bytes: the cluster's id)
	 * and @pool (128 bytes: its name); -EOPNOTSUPP when the chunks are
	 * this store's own (local files). adopt: a put without the bytes:
	 * the chunk @hash is in that place already, @len bytes stored (else
	 * -ENOENT or -EIO, the message naming the chunk); take this store's
	 * use of it, durable when it returns, and fill @ref as put does.
	 * Then named() as after a put. */
	int (*pool)(struct cs_chunkstore *cs, char *fsid, char *pool);
	int (*adopt)(struct cs_chunkstore *cs, const uint8_t *hash, uint32_t len,
		     uint32_t raw_len, uint8_t *ref);
	void (*close)(struct cs_chunkstore *cs);
};

struct cs_chunkstore {
	const struct cs_chunkstore_ops *ops;
	cs_store *st;
};

/* Decode a ref's head: 0, or -EIO when it is too short to be one. */
static inline int cs_chunkref_decode(const uint8_t *ref, size_t len, struct cs_chunkref *out)
{
	if (len < CS_REF_HEAD || len > CS_REF_MAX)
		return -EIO;
	out->tag = ref[0];
	out->stored_len = (uint32_t)ref[1] << 24 | (uint32_t)ref[2] << 16 |
			  (uint32_t)ref[3] << 8 | ref[4];
	out->raw_len = (uint32_t)ref[5] << 24 | (uint32_t)ref[6] << 16 |
		       (uint32_t)ref[7] << 8 | ref[8];
	return 0;
}

/* Encode @r's head into @ref; returns CS_REF_HEAD. */
static inline size_t cs_chunkref_encode(const struct cs_chunkref *r, uint8_t *ref)
{
	ref[0] = r->tag;
	for (int i = 0; i < 4; i++) {
		ref[1 + i] = (uint8_t)(r->stored_len >> (24 - 8 * i));
		ref[5 + i] = (uint8_t)(r->raw_len >> (24 - 8 * i));
	}
	return CS_REF_HEAD;
}

/* The local chunk files of store @st (cs_cfile.c): opened after the
 * database, recovering as rule 3 says. */
int cs_cfile_open(cs_store *st, struct cs_chunkstore **out);

#endif
