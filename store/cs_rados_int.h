/*
 * cs_rados_int.h - the RADOS chunk store's own types, shared by its files:
 * cs_rados.c (put, sync, get, open: the design is in its opening comment),
 * cs_rados_rel.c (the table of chunks being put or released, releases,
 * the sweep). Private to those files.
 */
#ifndef CS_RADOS_INT_H
#define CS_RADOS_INT_H

#include <pthread.h>
#include <rados/librados.h>
#include <stdint.h>
#include <time.h>

#include "cs_priv.h"
#include "cs_rados.h"

#define RD_REF_LEN (CS_REF_HEAD + CS_HASH_LEN)
#define RD_KEY_PREFIX "cstorfs.store."
#define RD_BUCKETS 4096
#define RD_CACHE_BYTES (32u << 20) /* the read cache (cs_rados_ra.c) */
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
	int failed; /* reported failed (a bounded wait ran out) */
	int tries;
};

/* A chunk read or being read (cs_rados_ra.c): a prefetch, or a get's. */
struct rdra {
	struct rdra *hnext;         /* the hash chain */
	struct rdra *older, *newer; /* the cache's order, least recently used first */
	uint8_t hash[CS_HASH_LEN];
	rados_completion_t c;
	char *buf;
	uint32_t len;
	int users; /* gets waiting on it or copying out: not to be freed */
	int dropped; /* out of the table (the chunk was dropped): freed when unused */
};

#define RA_BUCKETS 1024

/* The read cache (cs_rados_ra.c), bounded by bytes: what reads ahead of a
 * file's reader fetched, and what gets read. Guarded by its mu. */
struct rdcache {
	pthread_mutex_t mu;
	struct rdra *tab[RA_BUCKETS];
	struct rdra *oldest, *newest;
	size_t bytes, cap;
	uint64_t hits, misses;
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
	char err_msg[512];      /* and its message (mu) */
	uint64_t objects, bytes, reclaimed;
	uint64_t inst; /* this open's number in the process (cs_rados_seen_gen) */
	uint64_t ninflight;     /* puts not yet named (mu) */
	rados_list_ctx_t sweep; /* the pool listing of a sweep, NULL: none */
	int flagged;            /* our "\0CSRD" key is written */
	unsigned wait_s;        /* the bound on a sync's or a get's wait (atomic) */
	pthread_mutex_t wmu;    /* with wcv: an op completed (cs_rados_wake) */
	pthread_cond_t wcv;     /* (CLOCK_MONOTONIC) */
	int fault;              /* a fault episode is on: noticed once (atomic) */
	uint64_t fault_errors;  /* errors in it (atomic) */
	struct rdcache ra;
};

static inline struct rdstore *rd_of(struct cs_chunkstore *cs)
{
	return (struct rdstore *)cs;
}

static inline void oid_of(const uint8_t *hash, char *oid)
{
	cs_rados_hex(hash, CS_HASH_LEN, oid);
}

/* The error for a librados failure @rc of @what ("writing") on chunk
 * @hash: -ENOSPC for a full pool, else -EIO; the message names the pool,
 * the chunk and the reason. (cs_rados_rel.c) */
int cs_rados_fail(const struct rdstore *r, int rc, const char *what, const uint8_t *hash);

/* A fault of the cluster (cs_rados_rel.c): cs_rados_fail's error and
 * message; the first of an episode goes to the daemon's log (cs_notice)
 * with its reason, the next ones are counted and marked noted (not logged
 * by the caller), until cs_rados_works ends the episode with a notice.
 * Called without mu held. */
int cs_rados_fault(struct rdstore *r, int rc, const char *what, const uint8_t *hash);
void cs_rados_works(struct rdstore *r);

/* Completions that wake cs_rados_wait (their callback is cs_rados_wake):
 * 0 or a librados error. cs_rados_deadline: now + the wait bound;
 * cs_rados_wait: 0 once @c completed, -ETIMEDOUT at @until (the op stays
 * in flight, librados's own timeout ends it). (cs_rados_rel.c) */
int cs_rados_completion(struct rdstore *r, rados_completion_t *c);
void cs_rados_deadline(struct rdstore *r, struct timespec *until);
int cs_rados_wait(struct rdstore *r, rados_completion_t c, const struct timespec *until);

/* The read cache (cs_rados_ra.c). init: empty, @cap bytes at most; fini:
 * waits for the reads in flight and frees all (before the ioctx goes).
 * prefetch: start reading chunk @hash (@len bytes stored) unless cached
 * or no room; never an error (a failed read is dropped when met). read:
 * @len bytes of chunk @hash into @buf, from the cache or read through it,
 * waiting up to the bound: @len, -ETIMEDOUT, or librados's error
 * (-ENOENT: no object; a short object gives its length). */
void cs_rados_ra_init(struct rdstore *r, size_t cap);
void cs_rados_ra_fini(struct rdstore *r);
void cs_rados_ra_prefetch(struct rdstore *r, const uint8_t *hash, uint32_t len);
int cs_rados_ra_read(struct rdstore *r, const uint8_t *hash, uint32_t len, void *buf);
/* The store dropped chunk @hash (its object may go): out of the cache, once
 * no get uses it (a get racing the drop may still be served). */
void cs_rados_ra_forget(struct rdstore *r, const uint8_t *hash);

/* The table (mu held; cs_rados_rel.c). ent_get: the entry of @hash,
 * created when @make; NULL when absent or out of memory. ent_put: forget
 * @e if nothing is pending on it. queue_release: queue @hash's key for
 * release (no memory: the key stays, the object leaks, safe). */
struct rdent *cs_rados_ent_get(struct rdstore *r, const uint8_t *hash, int make);
void cs_rados_ent_put(struct rdstore *r, struct rdent *e);
void cs_rados_queue_release(struct rdstore *r, const uint8_t *hash, uint32_t stored);

/* The ops reclaim() and wanted() (cs_chunkstore.h; cs_rados_rel.c). */
int cs_rados_reclaim(struct cs_chunkstore *cs, uint64_t budget);
int cs_rados_wanted(struct cs_chunkstore *cs);

/* At open: start a sweep when the last run left its flag ("\0CSRD"),
 * raise the flag for this run. 0, -EIO (listing), errors of
 * cs_rados_dirty. (cs_rados_rel.c) */
int cs_rados_sweep_start(struct rdstore *r);

#endif
