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
