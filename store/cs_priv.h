/*
 * cs_priv.h - the store library's private structures, shared by the store/
 * sources only (never installed, never included outside store/).
 *
 * Key layout (column family "meta"; all integers big-endian, so keys sort
 * numerically; VID is the volume's 8-byte id, ~E is the inverted epoch
 * UINT64_MAX - epoch, so the newest version of a key sorts first):
 *
 *   "\0SB"                        superblock (format, next volume id, chunk counters)
 *   "\0SCRUB"                     the last scrub's summary (cs_scrub.c)
 *   'N' name                      volume name -> VID
 *   'V' VID                       volume record (struct cs_volrec)
 *   'I' VID ino ~E                inode record                      [versioned]
 *   'D' VID dir name '\0' ~E      entry by name: ino, type, cookie  [versioned]
 *   'C' VID dir cookie ~E         entry by cookie: ino, type, name  [versioned]
 *   'X' VID ino name '\0' ~E      extended attribute value          [versioned]
 *   'E' VID ino chunkidx ~E       extent: chunk hash, raw and stored length [versioned]
 *                                 (cs_file.c; cs_fsize.c changes them through cs_ext_*)
 *   'O' VID ino                   orphan: inode with no links, still open
 *   'R' hash                      chunk reference count, raw and stored length
 *   'S' VID name '\0'             snapshot record (struct cs_snaprec)
 *   'T' VID epoch                 snapshot name by epoch (order, retained epochs)
 *   'K' VID epoch CLONE_VID       a clone of snapshot (VID, epoch)
 *   'P' VID name                  volume property (cs_prop.c)
 *   'W' name                      state of a receive into volume name (cs_recv.c)
 *   'Z' RID seq                   a staged stream record
 *   'Q' RID hash                  a chunk a receive stored, not yet referenced
 *
 * Column family "chunks": hash (32 bytes, SHA-256 of the raw bytes) ->
 * a ref naming where the chunk store keeps its bytes (cs_chunkstore.h),
 * or, in a store written before chunk stores, the encoded chunk itself.
 * Versioned "meta" values start with a tag byte:
 * 1 = live record, 0 = tombstone (deleted at that epoch).
 *
 * Invariants (every committed batch keeps them):
 *  1. Every 'D' entry has its 'C' twin with the same ino, type and cookie,
 *     and names an inode whose 'I' record exists.
 *  2. A directory's nentries is the number of its entries; its nlink is
 *     2 + the number of its subdirectories; a file's nlink is the number of
 *     entries naming it, and an inode with nlink 0 has an 'O' key.
 *  3. A regular file of size <= CS_INLINE_MAX holds its data inline and has
 *     no extent; a larger one holds no inline data. No extent lies at or past
 *     the chunk holding byte size-1, and an extent's raw length never reaches
 *     past the end of the file.
 *  4. 'R' hash's count is the number of extent versions naming the chunk;
 *     the chunk exists in "chunks" exactly when its count is positive.
 *  5. The superblock's and each volume record's counters equal what a
 *     recount of the keys gives (cs_store_recount checks it).
 */
#ifndef CS_PRIV_H
#define CS_PRIV_H

#include <assert.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cs_chunkstore.h"
#include "cs_store.h"

/* An assertion that stays on in release builds. */
#define CS_ASSERT(c) \
	do { if (!(c)) cs_assert_fail(#c, __FILE__, __LINE__); } while (0)
void cs_assert_fail(const char *what, const char *file, int line)
	__attribute__((noreturn));

#define CS_HASH_LEN 32
#define CS_FORMAT_VERSION 1

/* ---- errors (cs_err.c) ---- */

/* The errno (negative) a RocksDB error string stands for: -ENOSPC for "No
 * space left on device" and RocksDB's space limit, -EDQUOT for "Disk quota
 * exceeded", -EROFS for "Read-only file system", else -EIO. @errstr may be
 * NULL (-EIO). */
int cs_rocks_errno(const char *errstr);

/* Record a message for cs_last_error() and return @err (negative errno). */
int cs_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A notice to the sink of cs_set_notice (cs_store.h); cs_error_noted marks
 * the calling thread's last failure as reported by one (cs_fail clears it). */
void cs_notice(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cs_error_noted(void);
/* Turn a RocksDB error string into its errno (cs_rocks_errno) with a
 * message naming @what; frees @errstr. */
int cs_rocks_fail(char *errstr, const char *what);
/* Make room for @n elements of @size in the array *@v of capacity *@cap
 * (doubling, from 16): 0, or -ENOMEM with the array unchanged. */
int cs_grow(void **v, size_t *cap, size_t n, size_t size);

/* The largest encoded chunk (cs_chunk.c keeps a chunk raw unless zstd
 * shrinks it). */
#define CS_CHUNK_VALUE_MAX (6 + CS_CHUNK_MAX)

/* ---- byte order ---- */

static inline void be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline uint64_t be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline void be32_put(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}
static inline uint32_t be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

/* ---- records ---- */

struct cs_sb {
	uint64_t next_vol_id;
	uint64_t chunks, chunk_refs, raw_bytes, stored_bytes;
};

#define CS_VOL_DELETING 0x1 /* being deleted (cs_volume_finish_delete) */
#define CS_VOL_RECLAIM  0x2 /* versions may be garbage (cs_volume_reclaim) */
#define CS_VOL_ROLLBACK 0x4 /* rolling back to rollback_epoch */
#define CS_VOL_RECEIVING 0x8 /* being created by a receive: no name yet */

#define CS_MAX_CLONE_DEPTH 64

/* The layers a clone reads through: its origin, the origin's origin... */
struct cs_chain {
	uint32_t n;
	struct {
		uint64_t vid, epoch;
	} l[CS_MAX_CLONE_DEPTH];
};

struct cs_volrec {
	uint64_t id;
	char name[CS_NAME_MAX + 1];
	uint8_t uuid[16];
	int64_t ctime_ns;
	int compression;
	uint32_t chunk_size; /* bytes per chunk: stored as log2 in the bits 16-23
	                        of the compression word (0: CS_CHUNK_SIZE, as
	                        every record before per-volume chunk sizes) */
	uint64_t quota;
	uint64_t epoch;      /* current epoch: writes go here */
	uint64_t base_epoch; /* epoch at creation: no key is older */
	uint64_t next_ino;
	uint32_t flags;
	uint64_t origin_id, origin_epoch; /* clones: what they read through */
	uint64_t written_bytes;           /* data written since the last snapshot */
	uint64_t rollback_epoch;          /* with CS_VOL_ROLLBACK */
	uint64_t changes;                 /* operations since the last snapshot */
	struct cs_volume_stats stats;
	/* not stored: */
	const struct cs_chain *chain;     /* origin layers, NULL when none */
	int snapshot_view;                /* a read-only view of a snapshot */
};

/*
 * A dirty chunk held back by the write buffer (cs_file.c): small writes
 * to one chunk (the pages the kernel's writeback sends one request at a
 * time) are merged here, and the chunk is hashed, compressed and committed
 * once, with the size and times those writes gave the file, in one batch.
 * A write that fits in the buffer commits nothing; a crash before the
 * flush loses it whole (unsynced, as POSIX allows), never half of it.
 * data holds the whole chunk: what the store had, with the writes on top.
 * ino 0: the slot is free.
 */
#define CS_WB_SLOTS 512 /* at most; a volume uses about 32 MiB of them (cs_wbuf.c) */
#define CS_WB_AGE_NS 500000000LL /* flushed by the next write after this */

struct cs_wslot {
	uint64_t ino, idx;
	struct timespec since; /* first write: the age that forces a flush */
	struct timespec mtime; /* last write */
	uint64_t size;         /* the file's size after the last write here */
	uint32_t old_raw;      /* raw length of the chunk's extent when filled (0: none) */
	uint8_t *data;         /* the volume's chunk size in bytes, kept for reuse */
	uint64_t fill;         /* which filling of the slot (vs->wb_fills) */
	uint64_t gen;          /* writes into it since */
	int held;              /* the writeback reads data: a writer copies it first */
};

/* Shared state of one volume opened in this process (by any handles). */
struct cs_volstate {
	struct cs_volstate *next;
	uint64_t id;
	uint64_t snap_epoch;  /* 0: the live volume; else a snapshot view */
	struct cs_chain chain; /* rec.chain points here when n > 0 */
	pthread_mutex_t lock; /* serialises mutations; taken before st->lock */
	struct cs_volrec rec; /* current record; written under lock + st->lock */
	int nopen;
	int rw_open;
	struct cs_wslot wb[CS_WB_SLOTS]; /* under lock */
	int wb_used;                     /* under lock; read atomically */
	uint64_t wb_fills;               /* under lock */
	int wb_busy;                     /* under lock: writebacks running */
	int64_t wb_last;                 /* under lock: CLOCK_MONOTONIC ns of the last one */
	pthread_cond_t wb_cond;          /* with lock: a writeback ended */
	int keep_times;                  /* writes leave mtime/ctime to the caller */
};

struct cs_vol {
	cs_store *st;
	struct cs_volstate *vs;
	int rdonly;
};

struct cs_store {
	char *path;
	int lock_fd;
	rocksdb_t *db;
	rocksdb_options_t *opts, *meta_opts, *chunk_opts;
	rocksdb_block_based_table_options_t *bbto;
	rocksdb_cache_t *cache;
	rocksdb_column_family_handle_t *cf_default, *cf_meta, *cf_chunks;
	rocksdb_readoptions_t *ro;
	rocksdb_readoptions_t *ro_chunk; /* chunk reads: no RocksDB checksum (SHA-256 verifies) */
	rocksdb_writeoptions_t *wo;
	/* Lock order: vlock, then a volume's vs->lock, then lock. */
	pthread_mutex_t vlock; /* volume names, records, the open-volume table */
	pthread_mutex_t lock;  /* superblock, refcounts, commits */
	struct cs_sb sb;
	struct cs_volstate *vols; /* open volumes, under vlock */
	struct cs_chunkstore *chunks; /* where chunk bytes live (cs_chunkstore.h) */
	uint64_t garbage_bytes;   /* under lock: stored bytes of chunks deleted
	                             since the last blob compaction (not kept
	                             across opens) */
};

/* Blob garbage that makes cs_gc() compact the chunk blob files, at least
 * (and at least the store's stored bytes: cs_gc.c). */
#define CS_BLOB_GC_MIN (32u << 20)


/* Bytes of an inode record before its inline data (cs_inode.c). */
#define CS_INODE_FIXED (1 + 4 * 4 + 8 * 3 + 4 * 12 + 8 * 4 + 4)

/* Decoded inode. Symlink targets and inline file data live in data[]. */
struct cs_inode {
	uint64_t ino;
	uint32_t mode, nlink, uid, gid;
	uint64_t rdev, size;
	uint64_t data_bytes; /* bytes of data held: inline + extents' raw */
	struct timespec atime, mtime, ctime, btime;
	uint64_t generation;
	uint64_t parent;      /* directories: the parent directory */
	uint64_t next_cookie; /* directories: next readdir cookie */
	uint64_t nentries;    /* directories: number of entries */
	uint32_t data_len;    /* bytes in data[] */
	/* What the volume's counters hold for this inode (set by load and
	 * by cs_txn_put_inode, which adds the difference to the counters). */
	int acct_live;
	uint64_t acct_logical, acct_apparent, acct_inline;
	uint8_t data[CS_SYMLINK_MAX + 1];
};

/* ---- key/value access (cs_kv.c) ---- */

#define CS_KEY_MAX (1 + 8 + 8 + CS_NAME_MAX + 1 + 8)

/* Build keys; return their length. */
size_t cs_key_vol(uint8_t *k, char tag, uint64_t vid, uint64_t a);
size_t cs_key_inode(uint8_t *k, uint64_t vid, uint64_t ino);
size_t cs_key_dirent(uint8_t *k, uint64_t vid, uint64_t dir, const char *name);
size_t cs_key_cookie(uint8_t *k, uint64_t vid, uint64_t dir, uint64_t cookie);
size_t cs_key_xattr(uint8_t *k, uint64_t vid, uint64_t ino, const char *name);
size_t cs_key_extent(uint8_t *k, uint64_t vid, uint64_t ino, uint64_t idx);
/* Append the version suffix (inverted epoch) to a logical key. */
size_t cs_key_version(uint8_t *k, size_t len, uint64_t epoch);

/* Plain (unversioned) get from meta. *val is malloc'd (free()).
 * Returns 0, -ENOENT or -EIO. */
int cs_kv_get(cs_store *st, rocksdb_column_family_handle_t *cf,
              const uint8_t *key, size_t klen, char **val, size_t *vlen);

/* Which version a versioned read found. */
struct cs_ver {
	uint64_t epoch; /* the epoch that wrote it */
	int layer;      /* 0: the volume itself; > 0: an origin of a clone */
};

/* Does this version belong to the view's current epoch (so that a change
 * may overwrite or delete it in place)? */
static inline int cs_ver_owned(const struct cs_ver *v, const struct cs_volrec *rec)
{
	return v->layer == 0 && v->epoch == rec->epoch && !rec->snapshot_view;
}

/* Versioned get of logical key @key (built with @rec's volume id) as of
 * @rec's epoch: the newest version at or below it, looked up in the volume
 * and then through its origins; a tombstone reads as -ENOENT. On success
 * *val points past the tag byte inside *buf (free *buf); @ver (may be
 * NULL) tells which version. */
int cs_kv_getv(cs_store *st, const struct cs_volrec *rec, const uint8_t *key,
               size_t klen, char **buf, const uint8_t **val, size_t *vlen,
               struct cs_ver *ver);

/* Scan the logical keys starting with @prefix (built with @rec's volume
 * id), from @prefix+@start on, as of @rec's epoch, merged through the
 * origins. @fn gets the logical key (with @rec's id), the live value (no
 * tag) and the version; returns 0 to continue, > 0 to stop (the scan
 * returns 0), < 0 error (returned). */
typedef int (*cs_scanv_fn)(void *ctx, const uint8_t *key, size_t klen,
                           const uint8_t *val, size_t vlen,
                           const struct cs_ver *ver);
int cs_kv_scanv(cs_store *st, const struct cs_volrec *rec,
                const uint8_t *prefix, size_t plen, const uint8_t *start,
                size_t slen, cs_scanv_fn fn, void *ctx);

typedef int (*cs_scan_fn)(void *ctx, const uint8_t *key, size_t klen,
                          const uint8_t *val, size_t vlen);

/* Plain scan of raw keys with @prefix in @cf (every version). */
int cs_kv_scan(cs_store *st, rocksdb_column_family_handle_t *cf,
               const uint8_t *prefix, size_t plen, cs_scan_fn fn, void *ctx);
/* The same, resuming after key @after (@alen 0: from the start), so that
 * batched deletions do not walk over what earlier batches deleted. */
int cs_kv_scan_after(cs_store *st, rocksdb_column_family_handle_t *cf,
                     const uint8_t *prefix, size_t plen, const uint8_t *after,
                     size_t alen, cs_scan_fn fn, void *ctx);
/* Pin the reads of the calling thread (cs_kv_get, cs_kv_getv and the scans)
 * to the read options @ro, which name a RocksDB snapshot: every read then
 * sees the store as one moment left it, while other threads write
 * (cs_store_recount on a live store). NULL unpins. The caller owns @ro and
 * keeps it until it unpins. */
void cs_kv_pin(rocksdb_readoptions_t *ro);

/* ---- transactions (cs_txn.c) ---- */

struct cs_chunk_delta {
	uint8_t hash[CS_HASH_LEN];
	int64_t delta;
	uint32_t raw_len, stored_len;
	char *value; /* encoded chunk (owned) when this delta adds a reference */
	size_t value_len;
	uint8_t ref[CS_REF_MAX]; /* where the chunk store put value (reflen > 0) */
	size_t reflen;
	int named;      /* commit: the batch names the copy at ref */
	uint8_t *gone;  /* commit: the index value the batch deletes (owned) */
	size_t gone_len;
};

/* One atomic batch on one volume (or none): the volume record is copied
 * in at begin and written back at commit with the batch. */
struct cs_txn {
	cs_store *st;
	struct cs_volstate *vs; /* locked by cs_txn_begin; NULL for store-level */
	struct cs_volrec rec;   /* working copy of vs->rec */
	rocksdb_writebatch_t *wb;
	struct cs_chunk_delta *deltas;
	size_t ndeltas, cap;
	struct timespec now;
	uint64_t freed_chunks, freed_bytes; /* set by commit */
};

/* Begin: lock the volume (when @vol is not NULL) and snapshot its record.
 * Fails with -EROFS on a read-only handle. */
int cs_txn_begin(struct cs_txn *t, cs_store *st, cs_vol *vol);
/* Commit the batch atomically (chunks, refcounts, counters, records) and
 * unlock. On failure nothing was written. Always ends the txn. */
int cs_txn_commit(struct cs_txn *t);
/* Commit what the batch holds so far and keep the volume locked, with an
 * empty batch for more work: what follows reads what was committed (a
 * batch is never read back), and no other operation on the volume runs in
 * between. On failure nothing of the batch was written and the working
 * record is back to the volume's; the txn still has to be ended. */
int cs_txn_commit_keep(struct cs_txn *t);
/* Drop what the batch holds (puts, deletes, chunk references) and go back
 * to the volume's record; the volume stays locked. */
void cs_txn_reset(struct cs_txn *t);
/* Abandon: nothing is written; unlock. Returns @err for convenience. */
int cs_txn_abort(struct cs_txn *t, int err);

/* Write a versioned record at the txn's epoch (tag 1 + @val). */
void cs_txn_putv(struct cs_txn *t, const uint8_t *key, size_t klen,
                 const void *val, size_t vlen);
/* Delete a versioned key at the txn's epoch (tombstone when older
 * versions may exist, else a plain delete). */
void cs_txn_delv(struct cs_txn *t, const uint8_t *key, size_t klen);
/* Plain put/delete in meta. */
void cs_txn_put(struct cs_txn *t, const uint8_t *key, size_t klen,
                const void *val, size_t vlen);
void cs_txn_del(struct cs_txn *t, const uint8_t *key, size_t klen);
/* The chunk of the reference just added (cs_txn_chunk_ref with a value)
 * was put into the chunk store already, durable, at @ref: the commit names
 * that copy instead of putting the value. */
void cs_txn_chunk_stored(struct cs_txn *t, const uint8_t *ref, size_t reflen);
/* Record a reference change on a chunk; @value (encoded, ownership taken)
 * is required when @delta > 0. */
int cs_txn_chunk_ref(struct cs_txn *t, const uint8_t *hash, int64_t delta,
                     uint32_t raw_len, uint32_t stored_len, char *value,
                     size_t value_len);
/* Does @rec have versions older than its current epoch (snapshots)? */
int cs_rec_has_history(const struct cs_volrec *rec);

/* ---- chunks (cs_chunk.c) ---- */

/* Encode @len raw bytes: hash them and compress with zstd @level (0 = none,
 * or when compression does not shrink them). *value is malloc'd. */
int cs_chunk_encode(const void *raw, size_t len, int level,
                    uint8_t hash[CS_HASH_LEN], char **value, size_t *vlen);
/* Fetch chunk @hash, decompress into @out (room for @cap bytes) and
 * verify the hash against @hash. Returns the raw length, -EIO on any
 * mismatch or corruption (message names the chunk). */
int cs_chunk_read(cs_store *st, const uint8_t hash[CS_HASH_LEN], uint8_t *out, size_t cap);
/* The compression word of a volume record or stream header: the zstd level
 * in bits 0-15, log2 of the chunk size in bits 16-23, 0 there for the
 * default (so records and streams of default volumes read as before). */
uint32_t cs_compression_word(int level, uint32_t chunk_size);
/* Split a compression word: 0, or -EINVAL for a level or size out of range. */
int cs_compression_split(uint32_t word, int *level, uint32_t *chunk_size);
/* 0 when @size is a chunk size a volume may have, else -EINVAL (message). */
int cs_chunk_size_check(uint32_t size);
/* Format a hash as 64 hex digits into @buf (>= 65 bytes). */
void cs_hash_hex(const uint8_t hash[CS_HASH_LEN], char *buf);
/* The encoded chunk @hash as stored (malloc'd into *@val): from the chunk
 * store, or the value itself in an older store. -ENOENT: not stored. */
int cs_chunk_value(cs_store *st, const uint8_t hash[CS_HASH_LEN], char **val, size_t *vlen);
/* The stored and raw lengths of chunk index value @v (a ref, or an old
 * store's encoded chunk): 0, or -EIO when it is neither. */
int cs_chunk_lens(const uint8_t *v, size_t vlen, uint32_t *stored, uint32_t *raw);
/* Put encoded chunk @value into the chunk store; its ref into @ref (room
 * for CS_REF_MAX), length returned. Durable only after cs_chunk_durable. */
int cs_chunk_put(cs_store *st, const uint8_t hash[CS_HASH_LEN], const char *value,
		 size_t vlen, uint8_t *ref);
/* cs_chunk_put unless the store holds chunk @hash with references
 * already: the ref's length when put, 0 when held (or when the lookup
 * failed: the commit meets that error again), <0 when the put failed. */
int cs_chunk_put_new(cs_store *st, const uint8_t hash[CS_HASH_LEN], const char *value,
		     size_t vlen, uint8_t *ref);
/* Rule 1 of cs_chunkstore.h: make this thread's puts durable. */
int cs_chunk_durable(cs_store *st);
/* Sync the WAL (cs_store_sync_wal), and give back at once the space of
 * chunk files whose every record was dropped before it (rule 2 holds:
 * the batches that dropped them are durable now): a delete followed by a
 * sync returns the space then, not at the next gc poll. */
int cs_chunk_sync_wal(cs_store *st);
/* After a commit: when a whole chunk file's records were all dropped,
 * cs_chunk_sync_wal now (its space back at once, not at the gc's next
 * poll while the next writer writes). */
void cs_chunk_settle_due(cs_store *st);
/* Tell the chunk store whether the batch after put @ref named it. */
void cs_chunk_named(cs_store *st, const uint8_t *ref, size_t reflen, int named);
/* A committed batch deleted index value @v of @hash: account its bytes. */
void cs_chunk_dropped(cs_store *st, const uint8_t *hash, const uint8_t *v, size_t vlen);
/* Open the chunk store of @st as recorded in the store (local files when
 * nothing is). */
int cs_chunkstore_open(cs_store *st);

/* ---- volume records and names (cs_rec.c) ---- */

/*
 * A record's fixed fields as a table, in the order they are stored: each
 * is the member at @off of the decoded struct, written big-endian, so a
 * record's layout is written down once (the volume, snapshot and inode
 * records) instead of once to encode and again to decode. @size is the
 * member's own (CS_FIELD), checked against what its kind reads and writes.
 */
enum cs_field_kind {
	CS_F32,    /* an integer (a member of 4 or 8 bytes) in 4 bytes */
	CS_F64,    /* an integer (a member of 4 or 8 bytes) in 8 bytes */
	CS_FUUID,  /* 16 bytes as they are */
	CS_FTIME,  /* a struct timespec: seconds in 8 bytes, nanoseconds in 4 */
	CS_FSTATS, /* a struct cs_volume_stats: its six counters, 8 bytes each */
};
struct cs_field {
	uint16_t off, size;
	uint8_t kind;
};
#define CS_FIELD(kind, type, member) \
	{ offsetof(type, member), sizeof(((type *)0)->member), kind }
/* Encode the @n fields @f of the struct at @s at @p; returns their end. */
uint8_t *cs_fields_put(uint8_t *p, const void *s, const struct cs_field *f, size_t n);
/* Decode them from @p into the struct at @s; returns their end. */
const uint8_t *cs_fields_get(const uint8_t *p, void *s, const struct cs_field *f, size_t n);
#define CS_FIELDS_PUT(p, s, tab) cs_fields_put(p, s, tab, sizeof(tab) / sizeof((tab)[0]))
#define CS_FIELDS_GET(p, s, tab) cs_fields_get(p, s, tab, sizeof(tab) / sizeof((tab)[0]))

#define CS_VOLREC_VERSION 1
#define CS_VOLREC_FIXED (1 + 8 + 16 + 8 + 4 + 8 + 8 + 8 + 8 + 4 + 5 * 8 + 6 * 8 + 2)

/* A new random (version 4) uuid: 0 or -EIO. */
int cs_uuid_generate(uint8_t uuid[16]);
size_t cs_volrec_encode(const struct cs_volrec *r, uint8_t *buf);
int cs_volrec_decode(struct cs_volrec *r, const uint8_t *buf, size_t len);
/* Under st->vlock: */
int cs_vol_lookup_name(cs_store *st, const char *name, uint64_t *vid);
/* Take st->vlock and find volume @name: 0 with st->vlock held, or a
 * negative errno without it. */
int cs_vol_lookup_locked(cs_store *st, const char *name, uint64_t *vid);
/* 0 when no volume is named @name, -EEXIST when one is, or the error. */
int cs_volname_free(cs_store *st, const char *name);
int cs_volrec_load(cs_store *st, uint64_t vid, struct cs_volrec *r);
/* An open volume state: any (live or snapshot view) or the live one. */
struct cs_volstate *cs_vs_find(cs_store *st, uint64_t vid, int live_only);
/* The live record of @vid into @r: from its open state, which stays locked
 * (*@vs, NULL when not open), or from the store. cs_live_done then unlocks
 * it, taking @r as the state's record first if @commit_ok. */
int cs_live_rec(cs_store *st, uint64_t vid, struct cs_volstate **vs, struct cs_volrec *r);
void cs_live_done(struct cs_volstate *vs, const struct cs_volrec *r, int commit_ok);
void cs_volname_key(uint8_t *k, size_t *klen, const char *name);
int cs_volname_check(const char *name);
/* The origin layers of a clone record. */
int cs_chain_load(cs_store *st, const struct cs_volrec *r, struct cs_chain *c);

/* Put the volume record @r into @t's batch (cs_txn.c). */
void cs_txn_put_volrec(struct cs_txn *t, const struct cs_volrec *r);
/* Put volume record @r (from cs_live_rec, with @vs) into @t, commit @t and
 * end with cs_live_done (@r becomes the open state's record if committed). */
int cs_txn_commit_live(struct cs_txn *t, struct cs_volstate *vs, const struct cs_volrec *r);
/* The superblock record (cs_rec.c): 52 bytes; decode: -EINVAL not ours
 * or of another format version (the message says which). */
size_t cs_sb_encode(const struct cs_sb *sb, uint8_t *buf);
int cs_sb_decode(struct cs_sb *sb, const uint8_t *buf, size_t len);

/* Load an inode as of the volume's epoch. -ENOENT when absent. */
int cs_inode_load(cs_vol *vol, uint64_t ino, struct cs_inode *out);
/* Begin a txn on @vol and load inode @ino into @in; on failure the txn is
 * ended (nothing to abort). */
int cs_inode_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino, struct cs_inode *in);
int cs_inode_load_rec(cs_store *st, const struct cs_volrec *rec, uint64_t ino,
                      struct cs_inode *out);
/* Queue the inode record into the txn. */
void cs_txn_put_inode(struct cs_txn *t, struct cs_inode *in);
/* Mark inode @ino an orphan (no links, still open). */
void cs_txn_orphan(struct cs_txn *t, uint64_t ino);
void cs_inode_to_attr(const struct cs_inode *in, struct cs_attr *out);
/* Initialise a new inode (number from the txn's volume record). */
void cs_inode_init(struct cs_txn *t, struct cs_inode *in, uint32_t mode,
                   uint32_t uid, uint32_t gid);

/* Delete an inode's own keys (record, xattrs, orphan key), updating the
 * counters; its data is the caller's (cs_file_purge drops it first). */
int cs_inode_purge(struct cs_txn *t, struct cs_inode *in);

/* ---- file data (cs_file.c) ---- */

/* An extent: chunk idx of a file ('E' vid ino idx ~epoch -> value). */
#define CS_EXT_LEN (CS_HASH_LEN + 8)
struct cs_ext {
	uint8_t hash[CS_HASH_LEN];
	uint32_t raw_len, stored_len;
	int owned; /* written in the current epoch of this volume (cs_ver_owned) */
};

/* Decode an extent value; -EIO when corrupt. */
int cs_ext_decode(struct cs_ext *e, const uint8_t *v, size_t vlen);
/* The extent of chunk @idx as of the view: 0, -ENOENT (a hole), -EIO. */
int cs_ext_get(cs_store *st, const struct cs_volrec *rec, uint64_t ino, uint64_t idx,
               struct cs_ext *e);
/* Replace chunk @idx's extent @old (NULL: a hole) by @new (NULL: a hole)
 * with its encoded chunk @value (owned by the txn from here); counters
 * follow. */
int cs_ext_replace(struct cs_txn *t, struct cs_inode *in, uint64_t idx, const struct cs_ext *old,
                   const struct cs_ext *new, char *value, size_t vlen);
/* Fill @buf (the volume's chunk size) with chunk @idx's bytes (zeros for a hole);
 * *@e / *@have tell what extent was found. */
int cs_file_chunk_load(cs_store *st, const struct cs_volrec *rec, uint64_t ino, uint64_t idx,
                       uint8_t *buf, struct cs_ext *e, int *have);
/* Store @buf as chunk @idx of @in (a hole when all zeros), replacing @old. */
int cs_file_chunk_store(struct cs_txn *t, struct cs_inode *in, uint64_t idx, const uint8_t *buf,
                        const struct cs_ext *old);
/* The part of a byte range that lies in one chunk, as cs_file_chunks hands
 * it over: file bytes @pos..@pos+@n are bytes @co..@co+@n of chunk @idx,
 * loaded into @buf (the chunk size) as cs_file_chunk_load does (@e, @have). */
struct cs_chunk_part {
	uint64_t pos, idx, co, n;
	uint8_t *buf;
	struct cs_ext e;
	int have;
};
/* Load, in order, each chunk of file @ino (as of @rec) that bytes
 * [@off, @end) touch, and call @fn(@ctx, part) with it; stops at the first
 * error, of the load or of @fn, and returns it (0: all done). */
int cs_file_chunks(cs_store *st, const struct cs_volrec *rec, uint64_t ino, uint64_t off,
                   uint64_t end, int (*fn)(void *ctx, struct cs_chunk_part *p), void *ctx);
/* -EISDIR / -EINVAL unless @in is a regular file. */
int cs_file_check(const struct cs_inode *in);
/* Move an inline file's bytes into chunk 0 (@buf: chunk-size scratch). */
int cs_file_inline_to_chunks(struct cs_txn *t, struct cs_inode *in, uint8_t *buf);

/* A whole chunk of a write, hashed and compressed before the volume is
 * locked (it does not depend on what the file held): writers on several
 * threads encode in parallel, and the lock covers only the bookkeeping. */
struct cs_pre_chunk {
	uint8_t hash[CS_HASH_LEN];
	char *value; /* NULL: all zeros (a hole) */
	size_t vlen;
	uint32_t raw_len;
	uint8_t ref[CS_REF_MAX]; /* cs_pre_store put it there (reflen > 0) */
	size_t reflen;
};

struct cs_pre_write {
	uint64_t first; /* chunk index of pre[0] */
	size_t n;
	struct cs_pre_chunk *c;
};

/* Encode chunk @d (@csz bytes) into @c: its trailing zeros trimmed (all
 * zeros: a hole, no value), hashed and compressed at @level. */
int cs_pre_encode_one(struct cs_pre_chunk *c, const uint8_t *d, uint32_t csz, int level);
/* Encode the whole chunks of a write of @size bytes of @src at @off. */
int cs_pre_encode(struct cs_pre_write *pw, uint64_t off, const uint8_t *src, size_t size,
                  int level, uint32_t csz);
/* Put the chunks of @pw the store does not hold, and make them durable. */
int cs_pre_store(cs_store *st, struct cs_pre_write *pw);
/* Free @pw; chunks put but never named are garbage (told to the store). */
void cs_pre_free(cs_store *st, struct cs_pre_write *pw);
/* Store pre-encoded chunk @c as chunk @idx of @in over @old (NULL: a hole). */
int cs_store_pre(struct cs_txn *t, struct cs_inode *in, uint64_t idx, struct cs_pre_chunk *c,
                 const struct cs_ext *old);

/* Truncate (or extend) @in to @size inside txn @t, dropping or trimming
 * extents, moving data between inline and chunked forms. */
int cs_file_resize(struct cs_txn *t, cs_vol *vol, struct cs_inode *in,
                   uint64_t size);
/* Delete inode @in with everything it holds: a file's buffered writes and
 * extents (cs_fsize.c), then its own keys (cs_inode_purge). */
int cs_file_purge(struct cs_txn *t, struct cs_inode *in);

/* The write buffer (cs_wbuf.c); see the size rule above cs_file_view. */
/* Begin a txn on @vol for an operation on file @ino that reads its extents
 * (truncate, fallocate): the buffered chunks of @ino are committed first,
 * under the same hold of the volume lock, so none is left to land on top
 * of the operation afterwards. */
int cs_file_txn_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino);
/* cs_file_txn_begin, then load inode @ino into @in; on failure the txn is
 * ended (nothing to abort). */
int cs_file_inode_begin(struct cs_txn *t, cs_vol *vol, uint64_t ino, struct cs_inode *in);
/* @in as every reader of its attributes sees it (the size rule): its size
 * and mtime raised by what the write buffer holds for it. Caller holds
 * vs->lock (inside a txn), or the volume has no buffered writes. */
void cs_file_view(const struct cs_volstate *vs, struct cs_inode *in);
/* Put @in into @t, commit, and fill @out (may be NULL) with @in's
 * attributes as cs_file_view shows them: the end of an operation that
 * answers with attributes (setattr, link). */
int cs_file_commit_reply(struct cs_txn *t, struct cs_inode *in, struct cs_attr *out);
/* Load inode @ino outside a txn, as cs_file_view shows it. */
int cs_inode_load_view(cs_vol *vol, uint64_t ino, struct cs_inode *out);
/* Forget the buffered chunks of @ino (its data is being deleted). */
void cs_wb_discard(struct cs_volstate *vs, uint64_t ino);
/* Flush every buffered chunk of @vs in a transaction of its own. */
int cs_wb_flush_vs(cs_store *st, struct cs_volstate *vs);
/* Flush the write buffers of every open volume (under st->vlock): what
 * reports counters calls it first. */
int cs_wb_flush_open(cs_store *st);
/* Free the buffers of @vs; a dirty chunk still there (its flush failed) is dropped. */
void cs_wb_release(struct cs_volstate *vs);
/* Copy what the buffer holds of [@off, @end) of @ino over @out (vs->lock held). */
void cs_wb_overlay(struct cs_volstate *vs, uint64_t ino, uint64_t off, uint64_t end, uint8_t *out);
/* May a write of @size bytes at @off (chunks of @csz) wait in the buffer? */
int cs_wb_candidate(uint64_t off, size_t size, uint64_t csz);
/* Before a write of @size bytes at @off (no lock held): while a writeback
 * runs and the buffer has no room for it, wait for the writeback. */
void cs_wb_wait_room(cs_vol *vol, uint64_t off, size_t size);
/* Commit the buffered chunks of @ino (0: all; @only_old: those past their
 * age) inside @t, the volume locked; @t stays open with an empty batch. */
int cs_wb_flush_locked(struct cs_txn *t, uint64_t ino, int only_old);
/* At the start of a write: commit what waited too long, or everything
 * when the buffer is nearly full. */
int cs_wb_make_room(struct cs_txn *t);
/* Does the buffer hold a chunk of @ino in [@first, @last]? */
int cs_wb_overlaps(struct cs_volstate *vs, uint64_t ino, uint64_t first, uint64_t last);
/* Put a write (cs_wb_candidate) into the buffer: 0, 1 when it does not
 * fit (the caller writes it through), or an error. */
int cs_wb_write(struct cs_txn *t, struct cs_inode *in, uint64_t off, const uint8_t *src,
                size_t size);

/* ---- store internals (cs_store.c, cs_volume.c) ---- */

/* Open a volume by id (recovery); as cs_vol_open. */
int cs_vol_open_id(cs_store *st, uint64_t vid, int flags, cs_vol **out);
/*
 * Begin @t (no volume) and fill @r with a new volume named @name (under
 * vlock, the name free): the next volume id, a new uuid, created now, at
 * epoch 1, the compression and quota @opts gives (NULL, or compression
 * -1: those of @dflt). Returns 0, or -EIO (no uuid) with @t ended.
 */
int cs_volume_begin_new(cs_store *st, struct cs_txn *t, struct cs_volrec *r, const char *name,
                        const struct cs_volume_opts *opts, const struct cs_volume_opts *dflt);
/* Put in @t the 'N' key: @name names volume @vid. */
void cs_txn_put_volname(struct cs_txn *t, const char *name, uint64_t vid);

/* ---- snapshot records and keys (cs_snaprec.c) ---- */

#define CS_SNAPREC_LEN (1 + 16 + 8 + 8 + 8 + 6 * 8)

struct cs_snaprec {
	char name[CS_NAME_MAX + 1];
	uint8_t uuid[16];
	uint64_t epoch;
	int64_t ctime_ns;
	uint64_t next_ino;
	struct cs_volume_stats stats;
};

/* A growing array of epochs (free v). */
struct cs_epochs {
	uint64_t *v;
	size_t n, cap;
};
int cs_epochs_add(struct cs_epochs *e, uint64_t x);
/* The epochs of @vid's snapshots ('T' keys), ascending. */
int cs_snap_epochs(cs_store *st, uint64_t vid, struct cs_epochs *e);

/* Encode @s into @b (CS_SNAPREC_LEN bytes); returns the length. */
size_t cs_snaprec_encode(const struct cs_snaprec *s, uint8_t *b);
/* The 'S', 'T' and 'K' keys; each returns its length. */
size_t cs_snap_key(uint8_t *k, uint64_t vid, const char *name);
size_t cs_snap_epoch_key(uint8_t *k, uint64_t vid, uint64_t epoch);
size_t cs_snap_clone_key(uint8_t *k, uint64_t vid, uint64_t epoch, uint64_t clone);
/* A snapshot name: a valid name without '@'. -EINVAL, -ENAMETOOLONG. */
int cs_snapname_check(const char *name);
/* Snapshot @name of @vid (@vname for messages). -ENOENT, -EIO. */
int cs_snap_load(cs_store *st, uint64_t vid, const char *vname, const char *name,
                 struct cs_snaprec *out);
/* Snapshot VOLUME@NAME by names: the volume's id too. -ENOENT. */
int cs_snap_find_named(cs_store *st, const char *volume, const char *name, uint64_t *vid,
                       struct cs_snaprec *out);
/* The name of @vid's snapshot at @epoch into @name. -ENOENT. */
int cs_snap_name_of(cs_store *st, uint64_t vid, uint64_t epoch, char *name, size_t size);
/* How many clones snapshot (@vid, @epoch) has; their names into @names. */
uint64_t cs_clone_count(cs_store *st, uint64_t vid, uint64_t epoch, char *names,
                        size_t size);
uint64_t cs_snapshot_count(cs_store *st, uint64_t vid);
/* The epoch of snapshot @name of @vid (under vlock). */
int cs_snapshot_epoch(cs_store *st, uint64_t vid, const char *vname, const char *name,
                      uint64_t *epoch);
/* "VOLUME@SNAPSHOT" of an origin into @buf. */
void cs_snapshot_origin_name(cs_store *st, uint64_t vid, uint64_t epoch, char *buf,
                             size_t size);
/* The epochs a volume must keep visible: its snapshots' and its current
 * one, ascending. *@out malloc'd. */
int cs_retained_epochs(cs_store *st, const struct cs_volrec *r, uint64_t **out,
                       size_t *n);
/* Remove garbage versions of volume @vid (cs_gc.c). */
int cs_volume_reclaim(cs_store *st, uint64_t vid, struct cs_gc_stats *gs);
/* Remove the 'K' key that names clone @r (no-op for non-clones). */
void cs_clone_unlink(struct cs_txn *t, const struct cs_volrec *r);
/* Does a snapshot of @vid have clones? Names into @names. */
int cs_volume_has_clones(cs_store *st, uint64_t vid, char *names, size_t size);
/* Snapshot lookups for streams. */
int cs_snap_find(cs_store *st, uint64_t vid, const char *vname, const char *name,
                 struct cs_snaprec *out);
int cs_snap_by_uuid(cs_store *st, const uint8_t uuid[16], uint64_t *vid,
                    struct cs_snaprec *out);
/* Snapshots of @vid with epochs in (lo, hi], oldest first; *@out malloc'd. */
int cs_snap_between(cs_store *st, uint64_t vid, const char *vname, uint64_t lo,
                    uint64_t hi, struct cs_snaprec **out, size_t *n);
/* Resume token text for a partial receive (cs_send.c). */
int cs_token_encode(char *buf, size_t size, const uint8_t id[32], uint64_t seq,
                    uint64_t offset, const uint8_t chain[32], const uint8_t snap[16],
                    const uint8_t base[16], uint32_t flags);
/* Re-run receives interrupted while applying (cs_recv.c). */
int cs_recv_recover(cs_store *st);
/* ---- snapshot operations (cs_snapshot.c) ---- */

/* Finish an interrupted rollback. */
int cs_rollback_finish(cs_store *st, uint64_t vid);

/* Release an orphan inside the store (used at open). */
int cs_store_purge_orphans(cs_store *st);
/* Delete the keys of volume @vid under the key tags in @tags, in batches,
 * dropping the chunk references of extents: all of them (@after 0) or the
 * versions written after epoch @after (versioned tags only). */
int cs_volume_drop_keys(cs_store *st, uint64_t vid, const char *tags, uint64_t after);
/* Delete every key of a volume being deleted, then its record. */
int cs_volume_finish_delete(cs_store *st, uint64_t vid);

#endif /* CS_PRIV_H */
