/*
 * cs_health.h - the store's write door and its health (cs_health.c):
 * private to store/, never installed. The public side (what a client sees
 * of the health) is cs_store_health() in cs_store.h.
 *
 * Every RocksDB write of the store goes through cs_store_write(), which
 *  - refuses new data while the filesystem holding the store lacks the
 *    space RocksDB needs to flush what it holds (-ENOSPC, state FULL),
 *  - maps a failed write to an errno (-ENOSPC, -EDQUOT, -EROFS, -EIO),
 *  - keeps the store's state: OK, FULL (resumes by itself once space is
 *    back), READONLY (sticky until the store is reopened).
 */
#ifndef CS_HEALTH_H
#define CS_HEALTH_H

#include <rocksdb/c.h>

#include "cs_store.h"

/* Set up the health of @st (after its database is open; before any write)
 * and drop it (before the database is closed). Attach returns 0 or
 * -ENOMEM; detach of a store never attached does nothing. */
int cs_health_attach(cs_store *st);
void cs_health_detach(cs_store *st);

/*
 * cs_store_write - write batch @wb atomically, the one door for writes.
 * @grows: non-zero when the batch stores new chunk data (such a batch needs
 *         the full reserve: see cs_health.c); zero for a batch of records
 *         only (an unlink, a rename, a truncate...), which may use half of
 *         it, so space can be freed on a full disk.
 * @sync:  non-zero to make it and every write before it durable (WAL
 *         fsync) before returning.
 * @what:  names the operation in the message ("write batch").
 * Returns 0, or (message in cs_last_error()):
 *   -ENOSPC / -EDQUOT  no room on the store's filesystem (now, or RocksDB
 *                      stopped on a full disk and has not resumed yet);
 *   -EROFS / -EIO      the store is read-only after a write failed for
 *                      another reason (sticky until reopened).
 * Nothing of @wb is written on failure. @wb stays the caller's.
 */
int cs_store_write(cs_store *st, rocksdb_writebatch_t *wb, int grows, int sync, const char *what);

/* Admit @bytes of new chunk data written outside RocksDB (chunk files):
 * 0, or -ENOSPC / -EROFS / -EIO as cs_store_write would refuse a batch
 * storing them. */
int cs_health_admit_data(cs_store *st, size_t bytes, const char *what);

/* Make every write before it durable: a synced write of an empty batch
 * (RocksDB has no WAL sync call in its C API). Errors as cs_store_write. */
int cs_store_sync_wal(cs_store *st);

/* Fault seam, for tests: the next cs_store_write of @st that passes the
 * admission fails as if RocksDB had returned @rocksdb_error (copied; NULL
 * cancels), without writing anything. */
void cs_health_fail_next_write(cs_store *st, const char *rocksdb_error);

#endif
