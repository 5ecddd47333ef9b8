/*
 * cs_rados_conn.h - the RADOS chunk store's spec, store id and connection
 * (cs_rados_conn.c); the chunk store itself is cs_rados.h. Private to
 * store/.
 *
 * A store names its chunk store at creation (meta key "\0CS"); for RADOS
 * that value is a spec:
 *
 *     rados:POOL[;conf=FILE][;id=NAME][;timeout=SECONDS]
 *
 * POOL: a replicated pool (omap is needed; erasure-coded pools are
 * refused). conf: the ceph.conf to read (default: librados's search,
 * $CEPH_CONF, /etc/ceph/ceph.conf, ...). id: the client name without
 * "client." (default admin). timeout: the bound on every operation with
 * the cluster, in seconds (default 30; 1-3600): a cluster that cannot be
 * reached, an OSD that is down, a full pool give an error after it, never
 * a hang. FILE and NAME cannot contain ';'.
 */
#ifndef CS_RADOS_CONN_H
#define CS_RADOS_CONN_H

#include <rados/librados.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_store.h"

#define CS_RADOS_TIMEOUT_DEFAULT 30

struct cs_rados_cfg {
	char pool[128];
	char conf[1024];    /* "" : librados's default search */
	char id[128];       /* "" : admin */
	unsigned timeout_s; /* 0: CS_RADOS_TIMEOUT_DEFAULT */
};

/*
 * cs_rados_parse - parse spec @spec (@len bytes, no NUL needed) into @cfg.
 * Returns 0, or -EINVAL with cs_last_error() saying what is wrong (not a
 * rados: spec, an empty or bad pool name, an unknown option, a bad
 * timeout, a value too long).
 */
int cs_rados_parse(const char *spec, size_t len, struct cs_rados_cfg *cfg);

/* The store's id on chunk objects (16 bytes): meta key "\0CSR", written
 * with 16 new random bytes (synced) when absent. 0, -EIO (damaged key, or
 * errors of cs_store_write), -ENOMEM. (cs_rados_conn.c) */
int cs_rados_store_id(cs_store *st, uint8_t id[16]);

/* The store's "left work behind" flag, meta key "\0CSRD" (cs_rados.c's
 * sweep): @set -1 reads it (1 raised, 0 not, or an error of cs_kv_get),
 * 1 raises it, 0 lowers it (synced writes: 0 or errors of cs_store_write).
 * (cs_rados_conn.c) */
int cs_rados_dirty(cs_store *st, int set);

/* One step of a sweep (cs_rados.c): the next @max objects of pool
 * listing @l; @found gets the hash of each chunk object the index of @st
 * does not name. 1: more to list, 0: the listing is done, or an error
 * (-EIO listing, errors of cs_kv_get). (cs_rados_conn.c) */
int cs_rados_sweep_step(cs_store *st, rados_list_ctx_t l, size_t max,
			void (*found)(void *ctx, const uint8_t *hash), void *ctx);

/* Object @oid of pool @io: its size into *@size, and 1 when omap key
 * @key (@keylen bytes) is on it, 0 when not; or a librados error (-ENOENT:
 * no object). (cs_rados_conn.c) */
int cs_rados_stat_marked(rados_ioctx_t io, const char *oid, const char *key, size_t keylen,
			 uint64_t *size);

/* @n bytes as lowercase hex, NUL-terminated, into @out (2n + 1). */
void cs_rados_hex(const uint8_t *b, size_t n, char *out);

/* A failed put must fail the next sync of every thread (cs_rados.c, as
 * errseq_t): each opened chunk store gets a number (cs_rados_instance),
 * and this thread's last seen error generation of it is
 * *cs_rados_seen_gen(number) (0 for a store it has not met). */
uint64_t cs_rados_instance(void);
uint64_t *cs_rados_seen_gen(uint64_t inst);

/* Take the mark @key on object @oid, which must exist and hold an encoded
 * chunk of @len bytes and @raw_len of data (a chunk another store wrote,
 * named by a stream: cs_recv.c): a stat and a read of the chunk's header,
 * then one op assert_exists + omap_set, waited for (durable on return).
 * 0, 1 when the object holds another chunk (*@size: its size), or a
 * librados error (-ENOENT: no object, or removed between the two ops).
 * (cs_rados_conn.c) */
int cs_rados_mark(rados_ioctx_t io, const char *oid, const char *key, size_t keylen,
		  uint32_t len, uint32_t raw_len, uint64_t *size);

/* Run read op @op on @oid and wait: 0 with *@ver the object's version,
 * or a librados error (-ENOENT: no object). The op is still the caller's.
 * (cs_rados_conn.c) */
int cs_rados_read_ver(rados_ioctx_t io, rados_read_op_t op, const char *oid, uint64_t *ver);

/* Remove the mark @key from object @oid, and the object with it when it
 * was the last key, under a version assertion (cs_rados.c's release, for
 * marks that are not a store's own: cs_push.c). 0 (also: no object, or
 * no such key on it), -EAGAIN when others kept changing the object, or a
 * librados error. (cs_rados_conn.c) */
int cs_rados_unmark(rados_ioctx_t io, const char *oid, const char *key, size_t keylen);

/* Connect to the cluster of @cfg (timeout_s set) and open its pool into
 * *@cl and *@io; errors as cs_rados_open (cs_rados.h). On failure *@cl
 * may be set (shut it down) and *@io is not. (cs_rados_conn.c) */
int cs_rados_connect(const struct cs_rados_cfg *cfg, rados_t *cl, rados_ioctx_t *io);

#endif
