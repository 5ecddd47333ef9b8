/*
 * cs_store.c - opening, locking, syncing and checking a store.
 *
 * A store is a directory:  DIR/db/  (RocksDB: column families "default",
 * "meta", "chunks"),  DIR/chunks/  (chunk files: cs_cfile.c)  and
 * DIR/cstorfs.lock  (holds the owner's pid under
 * an fcntl write lock, so a second process gets "store in use by pid N").
 * The superblock key "\0SB" in "meta" marks a cstorfs database and holds
 * the format version and the store-wide chunk counters.
 *
 * RocksDB options (why):
 *  - "meta": small keys read at random -> block cache (32 MiB, shared),
 *    bloom filters (10 bits/key) so point gets of absent keys skip files,
 *    LZ4 on blocks; 16 MiB write buffers.
 *  - "chunks": values of up to 64 KiB, already compressed -> integrated
 *    blob files (values >= 1 KiB live in blob files and do not ride
 *    through every compaction), no compression; 32 MiB write buffers.
 *    Blob GC is off while data is written: on, every compaction of the
 *    (random SHA-256) keys rewrites the live blobs of the oldest quarter of
 *    the blob files, which tripled the bytes written by a sequential
 *    write. cs_gc() turns it on, for every blob file, for one full
 *    compaction once enough chunks were deleted (cs_store_compact_blobs).
 *  - at most 2 write buffers per family and 2 background jobs: memory stays
 *    bounded (about 32 + 2*16 + 2*32 MiB) whatever the store's size.
 *  - writes go to the WAL without fsync; cs_store_sync() syncs the WAL
 *    with a synced write of an empty batch, never FlushWAL(sync): after a
 *    failed WAL append (a full disk) that call aborts inside RocksDB 7.8,
 *    where the synced write returns the error (cs_health.c).
 *  - a full disk: every write goes through cs_store_write (cs_health.c),
 *    which keeps room for RocksDB's flushes and tells what state the
 *    store is in. RocksDB's info LOG is not in the store: once one of its
 *    appends failed on a full disk, its next line aborted the process (the
 *    assertion in WritableFileWriter::AssertFalseAndGetStatusForPrevError,
 *    seen from DB::Open and from the SstFileManager's recovery thread).
 *    It is written to /dev/shm/cstorfs-UID/HASH/ (log_dir: a tmpfs, not
 *    the store's filesystem; removed at close, and at the next open of any
 *    store once its store is gone) at WARN level. When that
 *    directory cannot be made safely it stays in DIR/db/ at HEADER level
 *    (the options, at open and at each SetOptions, nothing else), and
 *    only those lines can still meet a full disk.
 *    paranoid_checks stays on (RocksDB's default): without it a failed WAL
 *    append is not a background error and the next write aborts the same
 *    way. The "default" family holds nothing: its write buffer is 1 MiB,
 *    because RocksDB resumes after a full disk only once the largest
 *    write_buffer_size is free (64 MiB by default; now the chunks' 32).
 *    max_total_wal_size keeps the value the defaults gave (896 MiB).
 *    No fallocate (allow_fallocate=false): RocksDB preallocated 1.1 write
 *    buffers (35 MiB) for each new WAL, and on a nearly full disk that
 *    took the very space the flush of the memtable it replaced needed
 *    (the flush failed and RocksDB stopped), where the free space
 *    cs_health.c measures is now the space there is.
 *  - flushes and compactions write their files (the blob files: every
 *    chunk byte a second time) with O_DIRECT: through the page cache, the
 *    copy and the writeback of those pages took 40% of the daemon's CPU on
 *    a sequential write, for pages nobody reads soon (the kernel caches
 *    the file data above, in the FUSE mount's page cache).
 *  - files are not opened with a random-access hint: chunks of a file
 *    written in order sit in order in a blob file, so the kernel's
 *    read-ahead serves cold sequential reads (1 GiB cold through the
 *    mount: 954-1,028 MiB/s with the hint, 968-1,124 without).
 *  - chunk reads skip RocksDB's checksums: every chunk is verified against
 *    its SHA-256 anyway, and Debian's portable RocksDB computes CRC32C in
 *    software (a large share of the daemon's CPU in profiles).
 *
 * Open does recovery: volumes whose deletion was cut short are finished,
 * orphan inodes (unlinked while open when the process died) are purged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cs_health.h"
#include "cs_priv.h"
#include "cs_rados.h"

/* Stores open in this process (fcntl locks do not exclude ourselves). */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
struct open_entry {
	struct open_entry *next;
	dev_t dev;
	ino_t ino;
};
static struct open_entry *open_list;

/* Non-zero when entry @name of @d holds no data: a socket, or an empty
 * directory (a mount root or socket directory a client such as the Docker
 * plugin made before the store existed). Neither makes DIR "other files". */
static int holds_no_data(DIR *d, const char *name)
{
	struct dirent *de;
	struct stat sb;
	int fd, empty = 1;
	DIR *sub;

	if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	if (S_ISSOCK(sb.st_mode))
		return 1;
	if (!S_ISDIR(sb.st_mode))
		return 0;
	fd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	sub = fd >= 0 ? fdopendir(fd) : NULL;
	if (!sub) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (empty && (de = readdir(sub)))
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(sub);
	return empty;
}

/* What DIR holds: 1 a store (db/), 0 nothing (empty, or only entries that
 * hold no data), -EINVAL other. */
static int dir_kind(const char *dir)
{
	struct dirent *de;
	int kind = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "cstorfs.lock"))
			continue;
		if (!strcmp(de->d_name, "db")) {
			kind = 1;
			break;
		}
		if (!holds_no_data(d, de->d_name))
			kind = -EINVAL;
	}
	closedir(d);
	return kind;
}

static int take_lock(cs_store *st)
{
	char path[PATH_MAX], pid[32];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int n;

	snprintf(path, sizeof(path), "%s/cstorfs.lock", st->path);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0)
		return cs_fail(-errno, "store %s: cannot open %s: %s", st->path, path,
		               strerror(errno));
	if (fcntl(st->lock_fd, F_SETLK, &fl) < 0) {
		int err = errno;
		struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		if (err == EAGAIN || err == EACCES) {
			if (fcntl(st->lock_fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK)
				return cs_fail(-EBUSY, "store %s in use by pid %d", st->path,
				               (int)q.l_pid);
			return cs_fail(-EBUSY, "store %s in use by another process", st->path);
		}
		return cs_fail(-err, "store %s: cannot lock: %s", st->path, strerror(err));
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	errno = 0;
	if (ftruncate(st->lock_fd, 0) < 0 || pwrite(st->lock_fd, pid, n, 0) != n) {
		int err = errno ? errno : EIO;

		return cs_fail(-err, "store %s: cannot write lock file: %s", st->path,
		               strerror(err));
	}
	return 0;
}

static int registry_add(cs_store *st, struct stat *sb)
{
	struct open_entry *e;
	int rc = 0;

	pthread_mutex_lock(&open_lock);
	for (e = open_list; e; e = e->next)
		if (e->dev == sb->st_dev && e->ino == sb->st_ino) {
			rc = cs_fail(-EBUSY, "store %s in use by pid %d", st->path,
			             (int)getpid());
			goto out;
		}
	e = calloc(1, sizeof(*e));
	if (!e) {
		rc = -ENOMEM;
		goto out;
	}
	e->dev = sb->st_dev;
	e->ino = sb->st_ino;
	e->next = open_list;
	open_list = e;
out:
	pthread_mutex_unlock(&open_lock);
	return rc;
}

static void registry_del(const char *path)
{
	struct open_entry **p, *e;
	struct stat sb;

	if (stat(path, &sb) < 0)
		return;
	pthread_mutex_lock(&open_lock);
	for (p = &open_list; (e = *p); p = &e->next)
		if (e->dev == sb.st_dev && e->ino == sb.st_ino) {
			*p = e->next;
			free(e);
			break;
		}
	pthread_mutex_unlock(&open_lock);
}

#define LOG_OWNER "cstorfs-store" /* in each LOG directory: its store's path */

/* Empty and remove the LOG directory @dir (RocksDB's files and LOG_OWNER). */
static void log_dir_rm(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

/* Remove the LOG directories in @base of stores that are gone (a daemon
 * killed, then its store deleted), except @mine. */
static void log_dirs_sweep(const char *base, const char *mine)
{
	char dir[PATH_MAX], owner[PATH_MAX + 32];
	struct dirent *de;
	struct stat sb;
	DIR *d = opendir(base);

	if (!d)
		return;
	while ((de = readdir(d))) {
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, de->d_name);
		snprintf(owner, sizeof(owner), "%s/" LOG_OWNER, dir);
		if (!strcmp(dir, mine) || (fd = open(owner, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, owner, sizeof(owner) - 1);
		close(fd);
		if (n > 0 && (owner[n] = 0, stat(owner, &sb) < 0) && errno == ENOENT)
			log_dir_rm(dir);
	}
	closedir(d);
}

/* The directory of RocksDB's info LOG for store @store: a directory of
 * our own in /dev/shm (tmpfs: not the store's filesystem). When @make, it
 * is made, names its store in LOG_OWNER, and those of stores gone are
 * swept. Returns 0, or -1 when there is none to use safely. */
static int log_dir(const char *store, char *out, size_t n, int make)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a of the store's path */
	char base[64];
	struct stat sb;
	uid_t uid = geteuid();
	int fd;

	for (const char *p = store; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	snprintf(base, sizeof(base), "/dev/shm/cstorfs-%u", (unsigned)uid);
	if (make && mkdir(base, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(base, &sb) < 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != uid ||
	    (sb.st_mode & 077))
		return -1; /* not ours alone: the LOG stays in the store */
	snprintf(out, n, "%s/%016llx", base, (unsigned long long)h);
	if (!make)
		return 0;
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return -1;
	snprintf(base + strlen(base), sizeof(base) - strlen(base), "/%016llx/" LOG_OWNER,
	         (unsigned long long)h);
	fd = open(base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, store, strlen(store)) < 0) {
			/* only the sweep reads it */
		}
		close(fd);
	}
	*strrchr(base, '/') = 0;
	*strrchr(base, '/') = 0;
	log_dirs_sweep(base, out);
	return 0;
}

/* Remove the info LOG directory of store @store. */
static void log_dir_remove(const char *store)
{
	char dir[PATH_MAX];

	if (log_dir(store, dir, sizeof(dir), 0) == 0)
		log_dir_rm(dir);
}

static int open_db(cs_store *st)
{
	const char *names[3] = { "default", "meta", "chunks" };
	const rocksdb_options_t *cfo[3];
	rocksdb_column_family_handle_t *h[3];
	rocksdb_filterpolicy_t *bloom;
	rocksdb_options_t *base;
	char path[PATH_MAX], *err = NULL;

	base = rocksdb_options_create();
	st->opts = rocksdb_options_create();
	rocksdb_get_options_from_string(base, "allow_fallocate=false", st->opts, &err);
	rocksdb_options_destroy(base);
	if (err)
		return cs_rocks_fail(err, "database options");
	rocksdb_options_set_create_if_missing(st->opts, 1);
	rocksdb_options_set_create_missing_column_families(st->opts, 1);
	rocksdb_options_set_max_background_jobs(st->opts, 2);
	rocksdb_options_set_keep_log_file_num(st->opts, 3);
	rocksdb_options_set_max_log_file_size(st->opts, 1 << 20);
	if (log_dir(st->path, path, sizeof(path), 1) == 0) {
		rocksdb_options_set_db_log_dir(st->opts, path);
		rocksdb_options_set_info_log_level(st->opts, 2 /* WARN */);
	} else {
		rocksdb_options_set_info_log_level(st->opts, 5 /* HEADER: see above */);
	}
	rocksdb_options_set_write_buffer_size(st->opts, 1 << 20); /* "default" */
	rocksdb_options_set_max_total_wal_size(st->opts, 896ull << 20);
	rocksdb_options_set_max_open_files(st->opts, 512);
	rocksdb_options_set_use_direct_io_for_flush_and_compaction(st->opts, 1);
	rocksdb_options_set_advise_random_on_open(st->opts, 0);

	st->cache = rocksdb_cache_create_lru(32 << 20);
	st->bbto = rocksdb_block_based_options_create();
	bloom = rocksdb_filterpolicy_create_bloom_full(10);
	rocksdb_block_based_options_set_filter_policy(st->bbto, bloom);
	rocksdb_block_based_options_set_block_cache(st->bbto, st->cache);

	st->meta_opts = rocksdb_options_create_copy(st->opts);
	rocksdb_options_set_block_based_table_factory(st->meta_opts, st->bbto);
	rocksdb_options_set_write_buffer_size(st->meta_opts, 16 << 20);
	rocksdb_options_set_max_write_buffer_number(st->meta_opts, 2);
	rocksdb_options_set_compression(st->meta_opts, rocksdb_lz4_compression);

	st->chunk_opts = rocksdb_options_create_copy(st->opts);
	rocksdb_options_set_block_based_table_factory(st->chunk_opts, st->bbto);
	rocksdb_options_set_write_buffer_size(st->chunk_opts, 32 << 20);
	rocksdb_options_set_max_write_buffer_number(st->chunk_opts, 2);
	rocksdb_options_set_compression(st->chunk_opts, rocksdb_no_compression);
	rocksdb_options_set_enable_blob_files(st->chunk_opts, 1);
	rocksdb_options_set_min_blob_size(st->chunk_opts, 1024);
	rocksdb_options_set_blob_file_size(st->chunk_opts, 256 << 20);
	rocksdb_options_set_blob_compression_type(st->chunk_opts, rocksdb_no_compression);
	rocksdb_options_set_enable_blob_gc(st->chunk_opts, 0); /* see above */

	cfo[0] = st->opts;
	cfo[1] = st->meta_opts;
	cfo[2] = st->chunk_opts;
	snprintf(path, sizeof(path), "%s/db", st->path);
	st->db = rocksdb_open_column_families(st->opts, path, 3, names, cfo, h, &err);
	if (err)
		return cs_rocks_fail(err, "open database");
	st->cf_default = h[0];
	st->cf_meta = h[1];
	st->cf_chunks = h[2];
	st->ro = rocksdb_readoptions_create();
	st->ro_chunk = rocksdb_readoptions_create();
	rocksdb_readoptions_set_verify_checksums(st->ro_chunk, 0);
	rocksdb_readoptions_set_fill_cache(st->ro_chunk, 0);
	st->wo = rocksdb_writeoptions_create();
	return cs_health_attach(st);
}

static int load_sb(cs_store *st, int fresh)
{
	rocksdb_writebatch_t *wb;
	char *v = NULL;
	size_t vlen;
	uint8_t buf[64];
	int rc;

	rc = cs_kv_get(st, st->cf_meta, (const uint8_t *)"\0SB", 3, &v, &vlen);
	if (rc == 0) {
		rc = cs_sb_decode(&st->sb, (uint8_t *)v, vlen);
		free(v);
		return rc;
	}
	if (rc != -ENOENT)
		return rc;
	if (!fresh)
		return cs_fail(-EINVAL, "%s is not a cstorfs store (no superblock)", st->path);
	memset(&st->sb, 0, sizeof(st->sb));
	st->sb.next_vol_id = 1;
	vlen = cs_sb_encode(&st->sb, buf);
	wb = rocksdb_writebatch_create();
	rocksdb_writebatch_put_cf(wb, st->cf_meta, "\0SB", 3, (const char *)buf, vlen);
	rc = cs_store_write(st, wb, 0, 1, "write superblock");
	rocksdb_writebatch_destroy(wb);
	return rc;
}

static int finish_deletes_fn(void *ctx, const uint8_t *k, size_t klen,
                             const uint8_t *v, size_t vlen)
{
	struct cs_volrec r;
	uint64_t *ids = ctx;

	if (klen != 9 || cs_volrec_decode(&r, v, vlen) != 0)
		return 0;
	if ((r.flags & (CS_VOL_DELETING | CS_VOL_ROLLBACK | CS_VOL_RECEIVING)) && ids[0] < 63)
		ids[++ids[0]] = r.id;
	return 0;
}

static int recover(cs_store *st)
{
	uint64_t ids[64] = { 0 };
	int rc;

	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"V", 1, finish_deletes_fn, ids);
	for (uint64_t i = 1; rc == 0 && i <= ids[0]; i++) {
		struct cs_volrec r;

		rc = cs_volrec_load(st, ids[i], &r);
		if (rc == 0)
			rc = (r.flags & (CS_VOL_DELETING | CS_VOL_RECEIVING))
			             ? cs_volume_finish_delete(st, ids[i])
			             : cs_rollback_finish(st, ids[i]);
	}
	if (rc == 0)
		rc = cs_recv_recover(st);
	if (rc == 0)
		rc = cs_store_purge_orphans(st);
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(type == FTW_DP ? rmdir : unlink)(path);
	return 0;
}

/* A new store's chunk store, as @chunks says (cs_store_open_chunks): the
 * value of meta key "\0CS", checked, written before the chunk store opens.
 * A store that exists (not @created) keeps its own. */
static int record_chunks(cs_store *st, const char *chunks, int created)
{
	struct cs_rados_cfg cfg;
	rocksdb_writebatch_t *wb;
	int rc;

	if (chunks && !created)
		return cs_fail(-EEXIST, "store %s exists: its chunk store stays what it is",
			       st->path);
	if (!chunks || !strcmp(chunks, "local"))
		return 0;
	rc = cs_rados_parse(chunks, strlen(chunks), &cfg);
	if (rc)
		return rc;
	wb = rocksdb_writebatch_create();
	rocksdb_writebatch_put_cf(wb, st->cf_meta, "\0CS", 3, chunks, strlen(chunks));
	rc = cs_store_write(st, wb, 0, 1, "chunk store");
	rocksdb_writebatch_destroy(wb);
	return rc;
}

int cs_store_open(const char *dir, int flags, cs_store **out)
{
	return cs_store_open_chunks(dir, flags, NULL, out);
}

int cs_store_open_chunks(const char *dir, int flags, const char *chunks, cs_store **out)
{
	struct stat sb;
	cs_store *st;
	int kind, rc, registered = 0, created = 0;

	*out = NULL;
	if (!dir || !*dir)
		return cs_fail(-EINVAL, "no store directory given");
	if (stat(dir, &sb) < 0) {
		if (errno != ENOENT || !(flags & CS_STORE_CREATE))
			return cs_fail(-errno, "store %s: %s", dir, strerror(errno));
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return cs_fail(-errno, "store %s: cannot create: %s", dir, strerror(errno));
		if (stat(dir, &sb) < 0)
			return cs_fail(-errno, "store %s: %s", dir, strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode))
		return cs_fail(-ENOTDIR, "store %s is not a directory", dir);
	kind = dir_kind(dir);
	if (kind < 0)
		return cs_fail(kind == -EINVAL ? -EINVAL : kind,
		               kind == -EINVAL ? "%s is not a cstorfs store (it holds other files)"
		                               : "store %s: cannot read", dir);
	if (kind == 0 && !(flags & CS_STORE_CREATE))
		return cs_fail(-ENOENT, "%s holds no cstorfs store", dir);

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lock_fd = -1;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->vlock, NULL);
	st->path = realpath(dir, NULL);
	if (!st->path) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = registry_add(st, &sb);
	if (rc)
		goto fail;
	registered = 1;
	rc = take_lock(st);
	if (rc)
		goto fail;
	created = kind == 0;
	rc = open_db(st);
	if (rc)
		goto fail;
	rc = load_sb(st, kind == 0);
	if (rc == 0)
		rc = record_chunks(st, chunks, created);
	if (rc)
		goto fail;
	rc = cs_chunkstore_open(st);
	if (rc)
		goto fail;
	rc = recover(st);
	if (rc)
		goto fail;
	*out = st;
	return 0;
fail:
	{
		char msg[512];

		char db[PATH_MAX], chunks[PATH_MAX];

		snprintf(msg, sizeof(msg), "%s", cs_last_error());
		snprintf(db, sizeof(db), "%s/db", st->path ? st->path : dir);
		snprintf(chunks, sizeof(chunks), "%s/chunks", st->path ? st->path : dir);
		if (!registered)
			st->path = (free(st->path), NULL);
		cs_store_close(st);
		if (created) { /* a store that could not be created leaves nothing */
			nftw(db, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			nftw(chunks, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		}
		cs_fail(rc, "%s", msg);
	}
	return rc;
}

void cs_store_close(cs_store *st)
{
	if (!st)
		return;
	CS_ASSERT(st->vols == NULL);
	if (st->db) {
		if (st->wo) /* the health is attached: open_db finished */
			cs_store_sync_wal(st); /* refused on a full disk: the WAL is in the page cache */
		if (st->chunks)
			st->chunks->ops->close(st->chunks);
		cs_health_detach(st);
		rocksdb_column_family_handle_destroy(st->cf_default);
		rocksdb_column_family_handle_destroy(st->cf_meta);
		rocksdb_column_family_handle_destroy(st->cf_chunks);
		rocksdb_close(st->db);
		log_dir_remove(st->path);
	}
	if (st->ro)
		rocksdb_readoptions_destroy(st->ro);
	if (st->ro_chunk)
		rocksdb_readoptions_destroy(st->ro_chunk);
	if (st->wo)
		rocksdb_writeoptions_destroy(st->wo);
	if (st->meta_opts)
		rocksdb_options_destroy(st->meta_opts);
	if (st->chunk_opts)
		rocksdb_options_destroy(st->chunk_opts);
	if (st->opts)
		rocksdb_options_destroy(st->opts);
	if (st->bbto)
		rocksdb_block_based_options_destroy(st->bbto);
	if (st->cache)
		rocksdb_cache_destroy(st->cache);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	if (st->path)
		registry_del(st->path);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->vlock);
	free(st->path);
	free(st);
}

int cs_store_sync(cs_store *st)
{
	int rc;

	pthread_mutex_lock(&st->vlock);
	rc = cs_wb_flush_open(st); /* buffered writes first: "every write so far" */
	pthread_mutex_unlock(&st->vlock);
	if (rc)
		return rc;
	return cs_chunk_sync_wal(st);
}

const char *cs_store_path(const cs_store *st)
{
	return st->path;
}

struct vol_sums {
	cs_store *st;
	uint64_t volumes, logical, inodes, snapshots, pending;
};

static int vol_sum_fn(void *ctx, const uint8_t *k, size_t klen,
                      const uint8_t *v, size_t vlen)
{
	struct vol_sums *s = ctx;
	struct cs_volrec r;

	if (klen != 9 || cs_volrec_decode(&r, v, vlen) != 0 || (r.flags & CS_VOL_DELETING))
		return 0;
	s->volumes++;
	s->logical += r.stats.logical_bytes;
	s->inodes += r.stats.inodes;
	s->snapshots += cs_snapshot_count(s->st, r.id);
	s->pending += !!(r.flags & CS_VOL_RECLAIM);
	return 0;
}

int cs_store_chunks(cs_store *st, struct cs_store_chunks *out)
{
	struct cs_chunkspace sp;

	memset(out, 0, sizeof(*out));
	st->chunks->ops->space(st->chunks, &sp);
	snprintf(out->kind, sizeof(out->kind), "%s", st->chunks->ops->kind);
	out->files = sp.files;
	out->bytes = sp.bytes;
	out->live_bytes = sp.live_bytes;
	out->reclaimed_bytes = sp.reclaimed;
	return 0;
}

int cs_store_stats(cs_store *st, struct cs_store_stats *out)
{
	struct vol_sums s = { .st = st };
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->vlock);
	cs_wb_flush_open(st);
	pthread_mutex_lock(&st->lock);
	out->chunks = st->sb.chunks;
	out->chunk_refs = st->sb.chunk_refs;
	out->raw_bytes = st->sb.raw_bytes;
	out->stored_bytes = st->sb.stored_bytes;
	pthread_mutex_unlock(&st->lock);
	rc = cs_kv_scan(st, st->cf_meta, (const uint8_t *)"V", 1, vol_sum_fn, &s);
	pthread_mutex_unlock(&st->vlock);
	out->snapshots = s.snapshots;
	out->pending_reclaim = s.pending;
	out->volumes = s.volumes;
	out->logical_bytes = s.logical;
	out->inodes = s.inodes;
	return rc;
}
