/*
 * cs_rados.h - chunks in a Ceph RADOS pool (cs_rados.c, issue 15): the
 * second implementation of cs_chunkstore.h, shared by several stores.
 * Private to store/. The spec a store records ("rados:POOL;...") and the
 * connection are in cs_rados_conn.h.
 */
#ifndef CS_RADOS_H
#define CS_RADOS_H

#include <stddef.h>

#include "cs_chunkstore.h"
#include "cs_rados_conn.h"

/*
 * cs_rados_open - connect to the cluster and open the pool @cfg names as
 * the chunk store of @st (whose database is open). The store's id on the
 * chunk objects (see cs_rados.c) is read from meta key "\0CSR", written
 * with random bytes on the first open.
 * Returns 0 with *@out set (closed by its ops->close), or, with nothing
 * left open and cs_last_error() naming the cluster or the pool:
 *   -EINVAL       bad @cfg, or the pool is erasure-coded;
 *   -ENOENT       the conf file or the pool does not exist;
 *   -ETIMEDOUT    the cluster did not answer within the timeout;
 *   -EIO          any other failure to connect;
 *   -ENOMEM.
 */
int cs_rados_open(cs_store *st, const struct cs_rados_cfg *cfg, struct cs_chunkstore **out);

/* cs_rados_parse, then cs_rados_open: what cs_chunkstore_open calls for a
 * store whose "\0CS" value starts with "rados:". */
int cs_rados_open_spec(cs_store *st, const char *spec, size_t len, struct cs_chunkstore **out);

/* The omap key that marks a chunk object as used by this store
 * ("cstorfs.store." and the store id in hex), for tests and tools. */
const char *cs_rados_store_key(struct cs_chunkstore *cs);

#endif
