/*
 * cs_store.h - the cstorfs store library: the public interface.
 *
 * This header is the manual of the library. A *store* is one directory
 * holding one RocksDB database; inside it live many *volumes*, each an
 * independent POSIX namespace with its own inode numbers and its own root
 * (inode CS_ROOT_INO). File data is cut into fixed, aligned chunks
 * (CS_CHUNK_SIZE), each stored once per store under the SHA-256 of its raw
 * bytes, zstd-compressed when that shrinks it. The library has no FUSE and
 * no HTTP in it: fs/ adapts it to FUSE, the control API serves it.
 *
 * Conventions (every function below follows them):
 *  - Functions return 0 (or a non-negative count) on success and a negative
 *    errno on failure. After a failure, cs_last_error() returns a message
 *    for the calling thread naming the volume, inode or chunk involved.
 *  - Every mutating call is one atomic RocksDB write batch: after a crash it
 *    is either fully there or not at all. Nothing is synced to disk until
 *    cs_store_sync() / cs_vol_sync(); a sync makes everything before it
 *    durable.
 *  - Names (volume names, directory entries, xattr names) are validated
 *    here too: 1..255 bytes, and for volumes and entries no '/', no NUL,
 *    not "." or "..". Invalid: -EINVAL; too long: -ENAMETOOLONG.
 *  - Handles are thread-safe: any number of threads may call into one
 *    cs_store and its cs_vol handles at once.
 *  - Memory the library returns is owned by the caller when the function
 *    says so (free with the named function); cs_*_free(NULL) does nothing.
 *  - The library never checks permissions (the kernel does, through
 *    default_permissions); it does apply setgid-directory inheritance.
 *
 * Errors common to every call: -EIO (RocksDB I/O error or a corrupted
 * record: the message names it), -ENOMEM. Every call that writes can also
 * fail with -ENOSPC or -EDQUOT (the filesystem holding the store is full:
 * see cs_store_health) and, once a write failed for another reason, with
 * -EIO or -EROFS until the store is reopened.
 *
 * Layers, bottom up: each store/ module calls only modules listed before
 * it (scripts/check-layout.py checks it in make test, from the objects'
 * symbols; a new file must be placed here). This header holds the types
 * and the manual for all of them; the private ones are in cs_priv.h.
 *   1. errors, keys, the write door, threads: cs_err cs_kv cs_health cs_par
 *   2. where chunk bytes live (cs_chunkstore.h): cs_cfstage cs_cfile cs_rados_conn
 *      cs_rados_rel cs_rados_ra cs_rados
 *   3. records and transactions: cs_rec cs_chunk cs_txn
 *   4. inodes, directories, file data: cs_inode cs_extent cs_wbuf cs_file
 *      cs_readahead cs_fsize cs_dir cs_xattr
 *   5. volumes, snapshots, clones: cs_snaprec cs_volume cs_snapshot cs_prop
 *      cs_gc cs_diff cs_check cs_scrubmap cs_scrub
 *   6. streams: cs_streamfmt cs_send cs_recvcheck cs_adoptq cs_recv cs_pushobj
 *      cs_push
 *   7. the store as a whole (open, recovery, close, stats): cs_store
 * Where a lower layer needs work done above it, the caller above does both
 * (cs_file_purge drops a file's data, then cs_inode_purge its keys;
 * cs_vol_sync writes the volume's buffer out, then syncs the WAL).
 */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CS_ROOT_INO 1ULL               /* root directory of every volume */
#define CS_CHUNK_SIZE (64u * 1024u)    /* a volume's chunk size by default, bytes */
#define CS_CHUNK_MIN (4u * 1024u)      /* the smallest a volume may choose */
#define CS_CHUNK_MAX (1024u * 1024u)   /* the largest (a power of two in between) */
#define CS_INLINE_MAX 2048u            /* files up to this size live inline */
#define CS_NAME_MAX 255u               /* longest name (entry, volume, xattr) */
#define CS_XATTR_VALUE_MAX (64u * 1024u)
#define CS_SYMLINK_MAX 4095u           /* longest symlink target */
#define CS_MAX_FILE_SIZE (1ULL << 50)  /* 1 PiB: -EFBIG beyond */

typedef struct cs_store cs_store;
typedef struct cs_vol cs_vol;

/* The message describing the calling thread's last failure ("" if none).
 * Owned by the library; valid until the thread's next call. */
const char *cs_last_error(void);

/* Notices: the library never logs; what a daemon should log once, not at
 * every failing call (a RADOS pool that stopped answering, and when it works
 * again), goes to the sink set here (NULL: dropped). @error: 1 a fault, 0
 * news (recovered). The sink is called from any thread, without locks held
 * by the caller's store. cs_last_error_noted: 1 when the calling thread's
 * last failure is one a notice reported already (its caller need not log
 * it again), else 0. */
typedef void (*cs_notice_fn)(int error, const char *msg);
void cs_set_notice(cs_notice_fn fn);
int cs_last_error_noted(void);

/* ------------------------------------------------------------------ */
/* Store                                                              */
/* ------------------------------------------------------------------ */

#define CS_STORE_CREATE 0x1 /* create the store if DIR holds none */

/*
 * cs_store_open - open (or with CS_STORE_CREATE create) the store in @dir.
 * Only one process may hold a store open: the store keeps an exclusive lock
 * (fcntl) on DIR/cstorfs.lock holding the owner's pid.
 * On open, orphan inodes left by a crash (unlinked while open) are purged.
 * Returns 0 and sets *@out (caller owns; release with cs_store_close).
 * Errors: -ENOENT  @dir has no store and CS_STORE_CREATE was not given
 *                  (also when @dir does not exist);
 *         -ENOTDIR @dir is not a directory;
 *         -EBUSY   another process holds it ("store in use by pid N");
 *         -EINVAL  @dir holds something that is not a cstorfs store, or a
 *                  store of an unknown format version;
 *         -ENOSPC, -EDQUOT  no room to create or open the database on
 *                  the filesystem (a store being created leaves nothing
 *                  behind, so a later create starts afresh);
 *         -EACCES, -EIO.
 */
int cs_store_open(const char *dir, int flags, cs_store **out);

/*
 * cs_store_open_chunks - cs_store_open that, creating the store, records
 * where its chunks live: @chunks NULL or "local" (chunk files in
 * DIR/chunks), or "rados:POOL[;conf=FILE][;id=NAME][;timeout=SECONDS]", a
 * Ceph RADOS pool several stores may share (store/cs_rados_conn.h). A
 * store keeps its choice for life. Errors of cs_store_open, and: -EINVAL
 * a bad @chunks; -EEXIST @chunks given for a store that exists; those of
 * the cluster (cs_rados.h: -ENOENT no such pool, -ETIMEDOUT, -EIO), the
 * store then not created.
 */
int cs_store_open_chunks(const char *dir, int flags, const char *chunks, cs_store **out);

/*
 * cs_store_rados_timeout - how long a sync (an fsync, a write's commit) or
 * a read waits for the RADOS pool of @st before failing with -EIO, in
 * seconds (1-3600), instead of the store's timeout= (cstorfs -o
 * rados_timeout=; the daemon's, for every volume of the store). The
 * operation is left to librados, which ends it at the store's own timeout
 * (so a longer bound than that one does not wait longer). Errors: -EINVAL
 * out of range; -EOPNOTSUPP the store's chunks are not in a RADOS pool.
 */
int cs_store_rados_timeout(cs_store *st, unsigned seconds);

/* Flush and close. Every open cs_vol of the store must be closed first
 * (asserted). cs_store_close(NULL) does nothing. */
void cs_store_close(cs_store *st);

/* Make every write so far durable (syncs RocksDB's WAL). Errors: those of
 * a write (-ENOSPC while RocksDB is stopped on a full disk: what was
 * written before stays in its WAL and memtables and is synced by the first
 * sync after it resumed). */
int cs_store_sync(cs_store *st);

/*
 * Health: what a full disk or a failed write did to the store.
 *   OK        writes go through.
 *   FULL      the filesystem holding the store is (nearly) full: writes of
 *             new data fail with -ENOSPC (or -EDQUOT), so RocksDB always
 *             keeps room to flush what it holds; unlinks, truncates and
 *             other record-only writes still go through while some room
 *             is left. Reads go on. Resumes by itself, without reopening,
 *             once space is back (checked at most once a second by writes
 *             and by cs_store_health); if RocksDB itself stopped on the
 *             full disk (something else filled it), it retries every 5 s
 *             once 32 MiB are free, and resumes once what its memtables
 *             hold (up to 96 MiB) could be flushed.
 *   READONLY  a write failed for another reason (an I/O error, corruption,
 *             a read-only filesystem): every write fails with that errno
 *             (-EIO, -EROFS) until the store is reopened. Sticky.
 * Nothing acknowledged by cs_store_sync before is lost in any state.
 */
enum cs_health_state {
	CS_HEALTH_OK = 0,
	CS_HEALTH_FULL = 1,
	CS_HEALTH_READONLY = 2,
};

struct cs_store_health {
	enum cs_health_state state;
	int err;                /* negative errno writes fail with; 0 when OK */
	time_t since;           /* when the state began (wall clock); 0 when OK */
	uint64_t free_bytes;    /* available bytes on the store's filesystem */
	uint64_t reserve_bytes; /* kept free for RocksDB: new data is refused
	                           when it would leave less */
	uint64_t resumes;       /* times the store came back from a RocksDB
	                           stop on a full disk since it was opened */
	char message[512];      /* why (RocksDB's error, naming the file, or
	                           the free and kept bytes); "" when OK */
};

/* Fill @out with the store's health; checks first whether a FULL store can
 * resume and whether RocksDB stopped behind a write of its own (with an
 * empty write). Returns 0. */
int cs_store_health(cs_store *st, struct cs_store_health *out);

/* "ok", "full", "read-only": a static string. */
const char *cs_health_state_name(enum cs_health_state state);

/* The store directory path given at open (owned by the store). */
const char *cs_store_path(const cs_store *st);

struct cs_store_stats {
	uint64_t volumes;      /* number of volumes */
	uint64_t chunks;       /* distinct chunks stored */
	uint64_t chunk_refs;   /* references to chunks from file extents */
	uint64_t raw_bytes;    /* uncompressed bytes of the distinct chunks */
	uint64_t stored_bytes; /* bytes of the distinct chunks as stored */
	uint64_t logical_bytes;/* sum of every volume's logical_bytes */
	uint64_t inodes;       /* sum of every volume's inodes */
	uint64_t snapshots;    /* snapshots of every volume */
	uint64_t pending_reclaim; /* volumes with garbage versions not yet
	                             reclaimed (cs_gc reclaims them now) */
};

/* Counters kept with every write (exact, O(1)). */
int cs_store_stats(cs_store *st, struct cs_store_stats *out);

/* Where the store's chunk bytes live and the disk they take. */
struct cs_store_chunks {
	char kind[16];           /* "local" (chunk files in DIR/chunks) */
	uint64_t files;          /* chunk files */
	uint64_t bytes;          /* bytes they take (what was written into them) */
	uint64_t live_bytes;     /* bytes of chunks still used */
	uint64_t reclaimed_bytes;/* given back since the store was opened */
};
int cs_store_chunks(cs_store *st, struct cs_store_chunks *out);

/*
 * cs_store_recount - recompute every counter from scratch by scanning the
 * whole store (store-wide into @out, and each volume's counters, compared
 * with the kept ones). Returns 0 when every kept counter matches the
 * recount, -EUCLEAN when one differs (cs_last_error names it), or an error.
 * Slow (reads every key); for tests and fsck. It also verifies that every
 * extent names a chunk that exists and every chunk's reference count.
 */
int cs_store_recount(cs_store *st, struct cs_store_stats *out);

/* A problem cs_store_check found: one line naming it (valid during the
 * call only). */
typedef void (*cs_check_fn)(void *ctx, const char *problem);

/*
 * cs_store_check - cs_store_recount that goes on after a problem: every
 * counter that differs, every chunk reference count that differs from the
 * extents naming the chunk, every extent naming a chunk with no reference
 * record, every referenced chunk that is missing and every stored chunk
 * nothing references is passed to @fn (may be NULL) with @ctx, pass by
 * pass (volumes, reference records, chunks, the store's counters). Reads
 * one consistent view of the store (a RocksDB snapshot taken after the
 * write buffers are flushed), so it may run while volumes are open and
 * written. @out as cs_store_recount.
 * Returns 0 when the store is consistent; -EUCLEAN when a problem was found
 * (cs_last_error names the first); -EIO when a record cannot be decoded or
 * read (the check stops there; cs_last_error says which); -ENOMEM.
 */
int cs_store_check(cs_store *st, struct cs_store_stats *out, cs_check_fn fn, void *ctx);

/* ------------------------------------------------------------------ */
/* Volumes                                                            */
/* ------------------------------------------------------------------ */

struct cs_volume_opts {
	int compression; /* zstd level 1..19, 0 for none, -1 for default */
	uint64_t quota;  /* bytes of logical data, 0 for none */
	uint32_t chunk_size; /* at creation only: a power of two in CS_CHUNK_MIN..
	                        CS_CHUNK_MAX (like ZFS's recordsize), 0 for
	                        CS_CHUNK_SIZE; a clone has its origin's */
};

#define CS_DEFAULT_ZSTD_LEVEL 1

struct cs_volume_stats {
	uint64_t inodes;        /* live inodes, the root included */
	uint64_t logical_bytes; /* data bytes held (holes excluded; inline incl.) */
	uint64_t apparent_bytes;/* sum of st_size of regular files and symlinks */
	uint64_t chunk_refs;    /* extents (chunk references) */
	uint64_t raw_bytes;     /* uncompressed bytes of the referenced chunks,
	                           each reference counted */
	uint64_t stored_bytes;  /* bytes as stored of the referenced chunks,
	                           each reference counted (before store-wide
	                           dedup; after compression) plus inline data */
};

struct cs_volume_info {
	char name[CS_NAME_MAX + 1];
	uint8_t uuid[16];      /* random, stable for the volume's life */
	uint64_t id;           /* store-local number (never reused) */
	int64_t ctime_ns;      /* creation time, ns since the epoch */
	int compression;       /* 0 none, else the zstd level */
	uint32_t chunk_size;   /* bytes per chunk (cs_volume_opts) */
	uint64_t quota;        /* 0: none */
	uint64_t epoch;        /* current epoch (snapshot generation) */
	int open_rw;           /* currently open read-write in this process */
	int open_count;        /* open handles in this process (snapshot views too) */
	uint64_t snapshots;    /* number of snapshots */
	uint64_t written_bytes;/* data bytes written since the last snapshot */
	char origin[2 * CS_NAME_MAX + 2]; /* clones: "VOLUME@SNAPSHOT", else "" */
	struct cs_volume_stats stats;
};

/* Format a uuid as the usual 36-character string into @buf (>= 37 bytes). */
void cs_uuid_format(const uint8_t uuid[16], char *buf);

/* Check a volume or entry name: 0, -EINVAL or -ENAMETOOLONG. */
int cs_name_check(const char *name);

/*
 * cs_volume_create - create an empty volume: a root directory (mode 0755,
 * owned by @uid/@gid). @opts may be NULL for the defaults.
 * Fills @out when not NULL.
 * Errors: -EEXIST a volume has that name; -EINVAL bad name or options
 *         (compression outside 0..19); -ENAMETOOLONG.
 */
int cs_volume_create(cs_store *st, const char *name,
                     const struct cs_volume_opts *opts, uid_t uid, gid_t gid,
                     struct cs_volume_info *out);

/* Look a volume up by name. Errors: -ENOENT, -EINVAL. */
int cs_volume_get(cs_store *st, const char *name, struct cs_volume_info *out);

/* List every volume, sorted by name. *@out is a malloc'd array the caller
 * frees with free(); *@n its length (0 and NULL when there is none). */
int cs_volume_list(cs_store *st, struct cs_volume_info **out, size_t *n);

/* Rename. Errors: -ENOENT no volume @from; -EEXIST @to exists;
 * -EBUSY @from is open; -EINVAL, -ENAMETOOLONG. Renaming to the same name
 * succeeds and does nothing. */
int cs_volume_rename(cs_store *st, const char *from, const char *to);

/* Change options (compression applies to data written from now on; a
 * quota below the data held is accepted: later writes fail with EDQUOT).
 * Errors: -ENOENT, -EINVAL. */
int cs_volume_set_opts(cs_store *st, const char *name,
                       const struct cs_volume_opts *opts);

/*
 * cs_volume_delete - delete a volume and every chunk that nothing else
 * references. Atomic: the volume disappears at once (one batch); its keys
 * and chunks are then removed in batches (a crash in between leaves only
 * unreachable keys, which the next open removes).
 * Errors: -ENOENT; -EBUSY the volume is open.
 */
int cs_volume_delete(cs_store *st, const char *name);

#define CS_VOL_RDONLY 0x1

/*
 * cs_vol_open - open a volume for namespace and data calls.
 * Any number of read-only handles; at most one read-write handle per
 * volume at a time.
 * Errors: -ENOENT; -EBUSY already open read-write (for a read-write open).
 * Caller owns *@out; release with cs_vol_close().
 */
int cs_vol_open(cs_store *st, const char *name, int flags, cs_vol **out);

/* Flush buffered data and release the handle. NULL does nothing. */
void cs_vol_close(cs_vol *vol);

/* Information on an open volume (name follows renames). */
int cs_vol_info(cs_vol *vol, struct cs_volume_info *out);

/* Write out what the volume's write buffer holds (partial-chunk writes are
 * merged in memory until cs_vol_flush_aged finds them half a second old,
 * or until a sync, close, snapshot, truncate, fallocate, lseek or a fuller
 * buffer), then make
 * every write to the store durable. Errors of a deferred write (-EIO,
 * -ENOSPC) surface here. */
int cs_vol_sync(cs_vol *vol);

/* Write out the write buffer without syncing (the data reaches the store;
 * durable at the next sync). Errors as cs_vol_sync. */
int cs_vol_flush(cs_vol *vol);

/* Write out only what waited in the write buffer longer than its age limit
 * (half a second); nothing to do is cheap (no lock taken). For a caller
 * that ticks (the daemon, every quarter second), so that buffered data of
 * files nobody writes or syncs any more still reaches the store soon.
 * Errors as cs_vol_sync. */
int cs_vol_flush_aged(cs_vol *vol);

/* Write out the volume's write buffer in the background: for a thread of
 * the caller's that calls it every few milliseconds while the buffer holds
 * anything (the daemon's flusher). Once the buffer is an eighth full (or
 * holds chunks older than their age limit) it takes what is there, hashes,
 * compresses and stores it and syncs the chunk store WITHOUT the volume
 * lock (writers go on filling the buffer, a chunk written meanwhile is
 * copied first), then commits, under the lock, the chunks nobody wrote
 * since. Writers that find the buffer full while it runs wait for it. One
 * runs at a time. Returns the slots still buffered (>= 0), or an error as
 * cs_vol_sync. */
int cs_vol_writeback(cs_vol *vol);

/* Whether cs_write sets the file's mtime and ctime (on, the default). A
 * caller that maintains them itself turns it off: a FUSE session with the
 * kernel's writeback cache, where the kernel stamps the time of each
 * write(2) and sends it with a setattr, while the data reaches cs_write
 * later. */
void cs_vol_set_write_times(cs_vol *vol, int on);

/*
 * Volume properties: small named strings kept with a volume (not part of
 * its snapshots), for the tools that manage it (the Docker plugin keeps its
 * mount references and options there). Names: 1..255 bytes of
 * [A-Za-z0-9._:-]; values up to CS_PROP_VALUE_MAX bytes.
 */
#define CS_PROP_VALUE_MAX (64u * 1024u)

/* Set (or with @value NULL delete) property @prop of @volume.
 * Errors: -ENOENT no volume (or deleting an absent property);
 * -EINVAL bad name; -E2BIG value too long. */
int cs_volume_prop_set(cs_store *st, const char *volume, const char *prop,
                       const char *value);

/* Get property @prop: *@value is malloc'd (free()). Errors: -ENOENT. */
int cs_volume_prop_get(cs_store *st, const char *volume, const char *prop,
                       char **value);

/* Every property: @fn(ctx, name, value) per property, sorted by name;
 * non-zero stops. Errors: -ENOENT no volume. */
typedef int (*cs_prop_fn)(void *ctx, const char *name, const char *value);
int cs_volume_prop_list(cs_store *st, const char *volume, cs_prop_fn fn, void *ctx);

/* ------------------------------------------------------------------ */
/* Snapshots and clones                                               */
/* ------------------------------------------------------------------ */

/*
 * A snapshot freezes a volume in O(1): it records the volume's current
 * epoch and starts a new one; nothing is copied. Later writes create new
 * versions of keys; the snapshot keeps seeing the old ones. A clone is a
 * new volume that reads through to a snapshot (its *origin*) for every key
 * it has not written itself; creating one copies nothing either.
 * Snapshot names follow cs_name_check() and may not contain '@'.
 */

struct cs_snapshot_info {
	char name[CS_NAME_MAX + 1];
	uint8_t uuid[16];         /* random, stable: identifies it across stores */
	uint64_t epoch;           /* the volume epoch it froze */
	int64_t ctime_ns;         /* creation time */
	struct cs_volume_stats stats; /* the volume's counters when it was taken
	                                 ("referenced") */
	uint64_t used_bytes;      /* stored bytes only this snapshot holds: what
	                             deleting it would free (volume-local) */
	uint64_t clones;          /* clones whose origin it is */
};

/*
 * cs_snapshot_create - snapshot volume @volume as @name. O(1). Atomic with
 * every operation on the volume (each one is a single batch; the snapshot
 * is taken between two of them). Fills @out when not NULL (used_bytes 0).
 * Errors: -ENOENT no volume; -EEXIST a snapshot has that name; -EINVAL,
 *         -ENAMETOOLONG bad name.
 */
int cs_snapshot_create(cs_store *st, const char *volume, const char *name,
                       struct cs_snapshot_info *out);

/* One snapshot (used_bytes computed: reads the volume's extents).
 * Errors: -ENOENT no volume or no snapshot. */
int cs_snapshot_get(cs_store *st, const char *volume, const char *name,
                    struct cs_snapshot_info *out);

/* One snapshot without used_bytes (left 0): O(1), for existence checks.
 * Errors as cs_snapshot_get. */
int cs_snapshot_stat(cs_store *st, const char *volume, const char *name,
                     struct cs_snapshot_info *out);

/* Every snapshot of @volume, oldest first, with used_bytes. *@out is
 * malloc'd (free()), *@n its length. Errors: -ENOENT no volume. */
int cs_snapshot_list(cs_store *st, const char *volume,
                     struct cs_snapshot_info **out, size_t *n);

/* Rename a snapshot. Errors: -ENOENT; -EEXIST; -EBUSY it is open. */
int cs_snapshot_rename(cs_store *st, const char *volume, const char *from,
                       const char *to);

/*
 * cs_snapshot_delete - delete a snapshot, in O(1): the versions only it
 * could see become garbage, reclaimed by the next cs_gc() (the volume
 * counts in cs_store_stats' pending_reclaim until then).
 * Errors: -ENOENT; -EBUSY clones depend on it (the message names them) or
 * it is open (mounted).
 */
int cs_snapshot_delete(cs_store *st, const char *volume, const char *name);

/* Open a read-only view of a snapshot: every read call works on it, every
 * change fails with -EROFS. Close with cs_vol_close(). Errors: -ENOENT. */
int cs_vol_open_snapshot(cs_store *st, const char *volume, const char *name,
                         cs_vol **out);

/*
 * cs_clone_create - a new volume @newname that starts as snapshot
 * @volume@@snap's exact copy and shares all its data. O(1). @opts as for
 * cs_volume_create (NULL: the origin volume's compression and quota).
 * Errors: -ENOENT no volume or snapshot; -EEXIST @newname exists;
 *         -EMLINK the origin is already a clone CS_CLONE_DEPTH_MAX deep.
 */
#define CS_CLONE_DEPTH_MAX 63
int cs_clone_create(cs_store *st, const char *volume, const char *snap,
                    const char *newname, const struct cs_volume_opts *opts,
                    struct cs_volume_info *out);

/*
 * cs_clone_promote - make clone @volume independent of its origin: every
 * key it reads through is copied into it (data chunks are shared, not
 * copied). Afterwards its origin snapshot may be deleted. Runs in batches;
 * the volume is unusable (-EBUSY) meanwhile. Errors: -ENOENT; -EINVAL not
 * a clone; -EBUSY open.
 */
int cs_clone_promote(cs_store *st, const char *volume);

/*
 * cs_rollback - make volume @volume exactly what snapshot @snap holds.
 * Later snapshots must not exist unless @destroy_later (then they are
 * deleted; refused when one has clones).
 * Errors: -ENOENT; -EBUSY the volume (or a snapshot) is open, or a later
 *         snapshot has clones; -EEXIST later snapshots exist (message names
 *         them).
 */
int cs_rollback(cs_store *st, const char *volume, const char *snap,
                int destroy_later);

#define CS_DIFF_CREATED  '+'
#define CS_DIFF_DELETED  '-'
#define CS_DIFF_MODIFIED 'M'
#define CS_DIFF_RENAMED  'R'

/*
 * cs_diff - the paths created, deleted, modified and renamed between
 * snapshot @from and snapshot @to (NULL: the live volume) of @volume,
 * found from the versions written in between (not by comparing trees).
 * @fn gets the change, the path (absolute in the volume) and, for renames,
 * the new path (else NULL); non-zero stops. Paths of modified inodes are
 * those at @to (@from equal to @to: no change). Errors: -ENOENT; -EINVAL @from
 * is newer than @to.
 */
typedef int (*cs_diff_fn)(void *ctx, int change, const char *path,
                          const char *newpath);
int cs_diff(cs_store *st, const char *volume, const char *from, const char *to,
            cs_diff_fn fn, void *ctx);

struct cs_gc_stats {
	uint64_t versions_freed; /* key versions no view could see */
	uint64_t chunks_freed;   /* chunks whose last reference went */
	uint64_t bytes_freed;    /* stored bytes of those chunks */
};

/* Reclaim now every version no snapshot, clone or live volume can see and
 * the chunks only they referenced, in every volume with pending reclaim.
 * Chunks are freed exactly when their reference count reaches zero, in the
 * batch that drops it, so a chunk a concurrent write references is never
 * freed. Fills @out (may be NULL). The disk space of freed chunks comes
 * back with cs_gc_compact(). */
int cs_gc(cs_store *st, struct cs_gc_stats *out);

/* Give back the disk space of deleted chunks. Chunk files (cs_cfile.c):
 * the file with the most garbage, once its live chunks fall under half of
 * it, has them copied to the newest file and is deleted (a file nothing
 * uses any more costs no copy); at most about 256 MiB of live chunks move
 * per call, and the copying pauses while writers are busy. A store written
 * before chunk files also has its RocksDB blob files compacted once the
 * chunks deleted there reach what it still holds. Run it in the
 * background. Returns 1 when it gave space back or moved chunks, 0 when
 * nothing was due; errors -EIO. */
int cs_gc_compact(cs_store *st);

/* Non-zero when cs_gc_compact() is due (a daemon polls it now and then). */
int cs_gc_wanted(cs_store *st);

/* ------------------------------------------------------------------ */
/* Replication streams                                                */
/* ------------------------------------------------------------------ */

/*
 * A stream (format in README.md, "Replication stream") carries a snapshot
 * (full), or what changed between two snapshots (incremental), or every
 * snapshot in between (intermediates), with the chunks as stored. Records
 * are numbered and checksummed; a trailer seals the whole stream with a
 * SHA-256 chain. Receiving stages everything invisibly and applies nothing
 * until the trailer checks.
 */

#define CS_SEND_INTERMEDIATES 0x1 /* -I: every snapshot between base and snap */
#define CS_SEND_WITH_DATA 0x2     /* chunk bytes even on a shared pool (issue 15) */

struct cs_send_opts {
	const char *volume, *snap;       /* what to send */
	const char *base_volume, *base;  /* incremental from base_volume@base (the
	                                    volume itself, or a clone's origin);
	                                    base NULL: a full stream */
	unsigned flags;
	const char *resume_token;        /* continue an interrupted stream */
};

/* Where a stream goes: write all @len bytes or return a negative errno. */
typedef int (*cs_write_fn)(void *ctx, const void *buf, size_t len);

/*
 * cs_send - produce the stream described by @o through @fn. With
 * @o->resume_token (from cs_recv_resume_token on the receiving side), only
 * the part the receiver lacks is produced, behind a "resumed" header; the
 * volume and snapshots are then found by the identities in the token.
 * Errors: -ENOENT volume or snapshot missing; -EINVAL base not older than
 * snap, base not of this volume or its origin, bad token; errors of @fn.
 */
int cs_send(cs_store *st, const struct cs_send_opts *o, cs_write_fn fn, void *ctx);

/* The exact size in bytes cs_send would produce (reads metadata only). */
int cs_send_size(cs_store *st, const struct cs_send_opts *o, uint64_t *size);

struct cs_recv;

#define CS_RECV_FORCE 0x1 /* roll the target back to the base first */

/*
 * cs_recv_begin - start receiving into volume @volume (a full stream
 * creates it; an incremental applies to it, or creates it as a clone when
 * the base is a snapshot of another volume here). When a partial receive of
 * @volume exists, the stream must continue it: the same stream again (the
 * records it holds are read past, checked by the chain) or its resumed
 * stream (send --resume); another stream is refused with -EBUSY at its
 * header, changing nothing.
 * Errors: -EBUSY a receive into @volume is already running; -EINVAL name.
 */
int cs_recv_begin(cs_store *st, const char *volume, unsigned flags, struct cs_recv **out);

/* Feed the next bytes. Errors (the message says at which byte and record,
 * and why): -EBADMSG corrupt, out of order or not a cstorfs stream (a new
 * receive is discarded; a partial receive being continued is kept as it
 * was); -EEXIST/-ENOENT/-ESTALE/-EBUSY the stream does not fit the target
 * (base missing, target changed since base, received already; -EBUSY also:
 * a partial receive of another stream exists); -EIO. After an error only
 * cs_recv_free() is allowed. */
int cs_recv_feed(struct cs_recv *r, const void *buf, size_t len);

struct cs_recv_result {
	char snapshot[CS_NAME_MAX + 1]; /* the last snapshot received */
	uint64_t bytes, records, chunks_new, chunks_present;
};

/*
 * cs_recv_finish - the input ended: when the trailer checked, apply the
 * stream (the volume and its snapshots appear at once) and fill @out.
 * Errors: -EPIPE the stream was cut: the progress is kept for a resume
 * (cs_recv_resume_token) or cs_recv_abort(); others as cs_recv_feed.
 */
int cs_recv_finish(struct cs_recv *r, struct cs_recv_result *out);

/* Release the handle (a partial receive stays in the store). */
void cs_recv_free(struct cs_recv *r);

/* The token for `send --resume` describing the partial receive into
 * @volume, NUL-terminated in @buf. Errors: -ENOENT none; -ERANGE small. */
int cs_recv_resume_token(cs_store *st, const char *volume, char *buf, size_t size);

/* Discard the partial receive into @volume and its staged chunks.
 * Errors: -ENOENT none; -EBUSY it is running. */
int cs_recv_abort(cs_store *st, const char *volume);

/* A pushed copy in the pool (issue 15 item 4; the calls: cs_push.h). Its
 * state: listed and pullable, or half made (a push that did not finish) or
 * half removed (a delete that did not finish): cs_pushed_delete removes
 * both. */
enum cs_pushed_state { CS_PUSHED_COMPLETE = 1, CS_PUSHED_PENDING, CS_PUSHED_DELETING };

struct cs_pushed {
	char name[CS_NAME_MAX + 1];
	char volume[CS_NAME_MAX + 1]; /* the volume pushed, and its snapshot */
	char snap[CS_NAME_MAX + 1];
	char base[CS_NAME_MAX + 1];   /* the pushed copy it is incremental to; "": full */
	uint64_t bytes;               /* of its stream */
	uint64_t chunks;              /* chunk objects it holds a mark on */
	int64_t ctime_ns;             /* when it was pushed */
	int state;                    /* enum cs_pushed_state */
};

/* Parsing without a store (stream inspect, fuzzing): feed bytes, get each
 * verified record. */
struct cs_stream_header {
	uint32_t version, flags;
	uint8_t stream_id[32];
	uint64_t resume_seq, total_bytes;
	char volume[CS_NAME_MAX + 1];
	uint8_t volume_uuid[16];
	int compression;
	uint32_t chunk_size; /* the volume's; in the compression word on the wire */
	uint64_t quota;
	char snap[CS_NAME_MAX + 1];
	uint8_t snap_uuid[16];
	int64_t snap_ctime_ns;
	char base_volume[CS_NAME_MAX + 1];
	char base[CS_NAME_MAX + 1];
	uint8_t base_uuid[16];
	/* CS_STREAM_NAMES: the RADOS pool holding the chunks (cluster fsid, name) */
	char pool_fsid[40];
	char pool[128];
};

#define CS_STREAM_INCREMENTAL   0x1
#define CS_STREAM_RESUMED       0x2
#define CS_STREAM_INTERMEDIATES 0x4
#define CS_STREAM_NAMES         0x8 /* chunks by name: they are in the pool named */

/* Record types */
#define CS_REC_HEADER   'H'
#define CS_REC_CHUNK    'C'
#define CS_REC_NAMED    'N' /* a chunk by name only (CS_STREAM_NAMES) */
#define CS_REC_KEY      'K'
#define CS_REC_SNAPSHOT 'S'
#define CS_REC_TRAILER  'T'

struct cs_sparser;
/* @fn gets every record once verified (header first); non-zero return
 * (a negative errno) stops the parse with that error. */
typedef int (*cs_record_fn)(void *ctx, int type, uint64_t seq, uint64_t offset,
                            const uint8_t *payload, size_t len);
struct cs_sparser *cs_sparser_new(cs_record_fn fn, void *ctx);
void cs_sparser_free(struct cs_sparser *p);
/* Errors: -EBADMSG with cs_last_error() saying where and why. */
int cs_sparser_feed(struct cs_sparser *p, const void *buf, size_t len);
/* 0 when the trailer was seen and checked; -EPIPE when cut. */
int cs_sparser_end(struct cs_sparser *p);
const struct cs_stream_header *cs_sparser_header(const struct cs_sparser *p);
/* Check one record's payload the way receive does (a chunk decodes to
 * bytes matching its SHA-256; a key or snapshot record is well formed).
 * Errors: -EBADMSG naming the record. */
int cs_stream_check_record(int type, uint64_t seq, const uint8_t *payload, size_t len);

/* ------------------------------------------------------------------ */
/* Inodes and attributes                                              */
/* ------------------------------------------------------------------ */

struct cs_attr {
	uint64_t ino;
	uint32_t mode;   /* type and permission bits, as st_mode */
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t rdev;
	uint64_t size;
	uint64_t blocks; /* 512-byte blocks of data held (holes excluded) */
	struct timespec atime, mtime, ctime, btime;
	uint64_t generation;
};

/* Who makes a new inode: owner and the moment. */
struct cs_cred {
	uint32_t uid, gid;
};

/* Get an inode's attributes. Errors: -ENOENT no such inode. */
int cs_getattr(cs_vol *vol, uint64_t ino, struct cs_attr *out);

#define CS_SET_MODE      0x001
#define CS_SET_UID       0x002
#define CS_SET_GID       0x004
#define CS_SET_SIZE      0x008
#define CS_SET_ATIME     0x010 /* to attr->atime */
#define CS_SET_MTIME     0x020 /* to attr->mtime */
#define CS_SET_ATIME_NOW 0x040
#define CS_SET_MTIME_NOW 0x080
#define CS_SET_CTIME     0x100 /* to attr->ctime */

/*
 * cs_setattr - change the attributes named by @mask, taking values from
 * @in; ctime becomes now for any change (unless CS_SET_CTIME). Changing the
 * size truncates or extends (a hole) as truncate(2). Only permission bits
 * (07777) of mode are taken. Fills @out with the result when not NULL.
 * Errors: -ENOENT; -EISDIR size on a directory; -EINVAL size on another
 *         non-regular file; -EFBIG size beyond CS_MAX_FILE_SIZE;
 *         -EDQUOT; -EROFS read-only handle.
 */
int cs_setattr(cs_vol *vol, uint64_t ino, const struct cs_attr *in,
               unsigned mask, struct cs_attr *out);

/* ------------------------------------------------------------------ */
/* Directories                                                        */
/* ------------------------------------------------------------------ */

/* Look @name up in directory @parent. "." and ".." are resolved too.
 * Errors: -ENOENT; -ENOTDIR @parent is not a directory; -ENAMETOOLONG. */
int cs_lookup(cs_vol *vol, uint64_t parent, const char *name,
              struct cs_attr *out);

/*
 * cs_mknod - create a regular file, FIFO, socket, character or block
 * device (by the type bits of @mode; 0 type bits mean a regular file) named
 * @name in @parent. uid/gid from @cred, except that a setgid @parent gives
 * its group. Fills @out.
 * Errors: -EEXIST; -ENOENT no @parent; -ENOTDIR; -EINVAL bad name or type
 *         (directories and symlinks have their own calls); -ENAMETOOLONG;
 *         -EROFS; -EMLINK/-ENOSPC never.
 */
int cs_mknod(cs_vol *vol, uint64_t parent, const char *name, uint32_t mode,
             uint64_t rdev, const struct cs_cred *cred, struct cs_attr *out);

/* Create a directory (setgid parents pass on their group and the setgid
 * bit). Errors as cs_mknod. */
int cs_mkdir(cs_vol *vol, uint64_t parent, const char *name, uint32_t mode,
             const struct cs_cred *cred, struct cs_attr *out);

/* Create a symlink to @target (1..CS_SYMLINK_MAX bytes, else
 * -ENAMETOOLONG / -EINVAL for empty). Errors as cs_mknod. */
int cs_symlink(cs_vol *vol, uint64_t parent, const char *name,
               const char *target, const struct cs_cred *cred,
               struct cs_attr *out);

/* Copy a symlink's target into @buf (NUL-terminated when it fits).
 * Returns the target's length. Errors: -EINVAL not a symlink; -ERANGE
 * @size too small for target and NUL; -ENOENT. */
ssize_t cs_readlink(cs_vol *vol, uint64_t ino, char *buf, size_t size);

/* Hard link @ino as @newparent/@newname; fills @out (nlink raised).
 * Errors: -EPERM @ino is a directory; -EEXIST; -ENOENT; -ENOTDIR;
 *         -EMLINK more than 65000 links. */
int cs_link(cs_vol *vol, uint64_t ino, uint64_t newparent,
            const char *newname, struct cs_attr *out);

/*
 * cs_unlink - remove the entry @name (not a directory) from @parent. When
 * that was the inode's last link, the inode becomes an *orphan*: it keeps
 * its data and stays readable and writable by number until
 * cs_orphan_release() (call it when nothing holds the inode open), and
 * *@orphan is set to its number; otherwise *@orphan is 0. @orphan may be
 * NULL: then an orphan is released at once.
 * Errors: -ENOENT; -EISDIR @name is a directory; -ENOTDIR; -EROFS.
 */
int cs_unlink(cs_vol *vol, uint64_t parent, const char *name,
              uint64_t *orphan);

/* Remove the empty directory @name. Errors: -ENOTEMPTY; -ENOTDIR @name is
 * not a directory; -EINVAL @name is "."; -EBUSY @name is ".." or the root;
 * -ENOENT. */
int cs_rmdir(cs_vol *vol, uint64_t parent, const char *name);

#define CS_RENAME_NOREPLACE 0x1 /* as RENAME_NOREPLACE */
#define CS_RENAME_EXCHANGE  0x2 /* as RENAME_EXCHANGE */

/*
 * cs_rename - rename @parent/@name to @newparent/@newname with rename(2)
 * and renameat2(2) semantics. A replaced file that loses its last link
 * becomes an orphan reported in *@orphan (see cs_unlink; may be NULL).
 * Errors: -ENOENT; -EEXIST target exists with NOREPLACE; -ENOENT target
 * missing with EXCHANGE; -EINVAL both flags, or moving a directory into its
 * own subtree; -ENOTDIR / -EISDIR type mismatch with an existing target;
 * -ENOTEMPTY replacing a non-empty directory; -EBUSY renaming "." or "..".
 */
int cs_rename(cs_vol *vol, uint64_t parent, const char *name,
              uint64_t newparent, const char *newname, unsigned flags,
              uint64_t *orphan);

/*
 * cs_readdir - list directory @ino from offset @off (0 to start). Calls
 * @fn once per entry, in a stable order: ".", "..", then the entries in the
 * order they were created. @next is the offset to pass to resume *after*
 * that entry. Offsets stay valid while entries are added and removed: an
 * entry present during the whole listing is reported exactly once; one
 * added or removed meanwhile at most once. @fn returns 0 to go on, non-zero
 * to stop (the listing then returns 0).
 * @type is the entry's file type (mode & S_IFMT).
 * Errors: -ENOTDIR; -ENOENT.
 */
typedef int (*cs_readdir_fn)(void *ctx, const char *name, uint64_t ino,
                             uint32_t type, uint64_t next);
int cs_readdir(cs_vol *vol, uint64_t ino, uint64_t off, cs_readdir_fn fn,
               void *ctx);

/* Release an orphan reported by cs_unlink/cs_rename: its data and record
 * are deleted. Releasing an inode that has links again or is not an
 * orphan does nothing and returns 0. */
int cs_orphan_release(cs_vol *vol, uint64_t ino);

/* ------------------------------------------------------------------ */
/* Extended attributes (any namespace: user., trusted., security., ...) */
/* ------------------------------------------------------------------ */

#define CS_XATTR_CREATE  0x1 /* as XATTR_CREATE */
#define CS_XATTR_REPLACE 0x2 /* as XATTR_REPLACE */

/* Set @name to @value (0..CS_XATTR_VALUE_MAX bytes).
 * Errors: -EEXIST (CREATE); -ENODATA (REPLACE, absent); -ERANGE name empty
 * or over CS_NAME_MAX; -E2BIG value too big; -ENOENT; -EROFS. */
int cs_setxattr(cs_vol *vol, uint64_t ino, const char *name,
                const void *value, size_t size, int flags);

/* Get @name's value. With @size 0 returns its length only. Returns the
 * length. Errors: -ENODATA; -ERANGE @size too small; -ENOENT. */
ssize_t cs_getxattr(cs_vol *vol, uint64_t ino, const char *name, void *buf,
                    size_t size);

/* List names as NUL-terminated strings back to back. With @size 0 returns
 * the length needed. Errors: -ERANGE @size too small; -ENOENT. */
ssize_t cs_listxattr(cs_vol *vol, uint64_t ino, char *buf, size_t size);

/* Errors: -ENODATA; -ENOENT; -EROFS. */
int cs_removexattr(cs_vol *vol, uint64_t ino, const char *name);

/* ------------------------------------------------------------------ */
/* File data                                                          */
/* ------------------------------------------------------------------ */

/* Read up to @size bytes at @off of regular file @ino into @buf; holes
 * read as zeros; returns the count (0 at or past the end of file).
 * Errors: -EISDIR; -EINVAL not a regular file; -ENOENT;
 *         -EIO a chunk failed its hash check (message names the chunk). */
/* A read of @size bytes at @off of @ino is coming (FUSE's read, before
 * cs_read): when the file is being read in order, start fetching the chunks
 * ahead of it (up to 8 MiB) where the chunk store gains by it (a RADOS
 * pool: asynchronous reads into a bounded cache; cs_readahead.c). Never an
 * error, never waits for the data. */
void cs_read_ahead(cs_vol *vol, uint64_t ino, uint64_t off, size_t size);

ssize_t cs_read(cs_vol *vol, uint64_t ino, uint64_t off, void *buf,
                size_t size);

/* Write @size bytes at @off into regular file @ino (extending it, holes
 * between); mtime and ctime become now (unless cs_vol_set_write_times off);
 * the setuid bit and the setgid bit (with group execute) are cleared as the
 * kernel asks with a setattr, not here. Returns @size. The file's size is
 * updated at once; on a volume without a quota, bytes that cover only part
 * of a chunk may wait in the volume's write buffer (cs_vol_flush) — reads
 * see them, and a later call reports a failure to store them.
 * Errors: -EFBIG past CS_MAX_FILE_SIZE; -EDQUOT over the quota (nothing
 * written); -EISDIR; -EINVAL not regular; -ENOENT; -EROFS. */
ssize_t cs_write(cs_vol *vol, uint64_t ino, uint64_t off, const void *buf,
                 size_t size);

#define CS_FALLOC_KEEP_SIZE  0x1  /* as FALLOC_FL_KEEP_SIZE */
#define CS_FALLOC_PUNCH_HOLE 0x2  /* as FALLOC_FL_PUNCH_HOLE */
#define CS_FALLOC_ZERO_RANGE 0x10 /* as FALLOC_FL_ZERO_RANGE */

/* fallocate(2): mode 0 (or KEEP_SIZE) extends the size to @off+@len as
 * needed (space is not reserved: chunks are written on demand, the quota
 * is checked); PUNCH_HOLE|KEEP_SIZE turns the range into a hole;
 * ZERO_RANGE (with or without KEEP_SIZE) makes the range read as zeros
 * (whole chunks become holes, the rest is rewritten) and, without
 * KEEP_SIZE, extends the size to @off+@len as mode 0 does.
 * Errors: -EOPNOTSUPP other modes (PUNCH_HOLE without KEEP_SIZE, COLLAPSE
 * and INSERT_RANGE, UNSHARE_RANGE); -EINVAL @len 0; -EFBIG; -EDQUOT;
 * -ENOENT; -EROFS. */
int cs_fallocate(cs_vol *vol, uint64_t ino, int mode, uint64_t off,
                 uint64_t len);

#define CS_SEEK_DATA 3 /* as SEEK_DATA */
#define CS_SEEK_HOLE 4 /* as SEEK_HOLE */

/* lseek(2) SEEK_DATA / SEEK_HOLE at chunk granularity. Returns the
 * offset. Errors: -ENXIO @off at or past the end (or no data after it for
 * SEEK_DATA); -EINVAL other whence. */
int64_t cs_lseek(cs_vol *vol, uint64_t ino, uint64_t off, int whence);

struct cs_statfs {
	uint64_t bsize;    /* block size reported (4096) */
	uint64_t blocks;   /* total blocks: the quota, or the disk's size */
	uint64_t bfree;    /* free blocks */
	uint64_t bavail;   /* free blocks for unprivileged users */
	uint64_t files;    /* inodes: used + free */
	uint64_t ffree;    /* free inodes */
	uint64_t namemax;  /* CS_NAME_MAX */
};

/* Filesystem figures for statfs(2): from the quota when the volume has
 * one, else from the disk holding the store. */
int cs_statfs(cs_vol *vol, struct cs_statfs *out);

#ifdef __cplusplus
}
#endif

/* The manual's chapter on scrub (reading back every chunk). */
#include "cs_scrub.h"

#endif /* CS_STORE_H */
