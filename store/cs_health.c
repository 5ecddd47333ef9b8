/*
 * cs_health.c - the store's write door (cs_store_write) and its health on
 * a full disk or after a failed write (cs_store_health).
 *
 * What RocksDB 7.8 (Debian 12) does when the disk fills, measured:
 *  - a flush or compaction that cannot write its file puts the database in
 *    a background-error state: every write fails with that error ("IO
 *    error: No space left on device: While pwrite to file at offset 0:
 *    .../000014.blob: ..."); reads go on. Its SstFileManager polls the free
 *    space every 5 s and tries to resume once the largest
 *    write_buffer_size of the column families is free;
 *  - a write whose WAL append fails does the same ("While appending to
 *    file: .../000010.log"), and the WAL writer is poisoned: after the
 *    automatic resume, the next write appends to that same WAL and RocksDB
 *    aborts (WritableFileWriter::AssertFalseAndGetStatusForPrevError)
 *    unless the resume switched to a new WAL, which it does only when some
 *    memtable held data;
 *  - FlushWAL(sync) while in that state aborts the same way; a synced
 *    write (even of an empty batch) returns the error instead;
 *  - the resume flushes every memtable: it fails again (and is retried
 *    every 5 s) until what they hold, up to 96 MiB here, fits;
 *  - its info LOG aborts the same way once one of its appends failed: the
 *    store opens RocksDB with the info log at HEADER level (cs_store.c).
 *
 * So the rules here:
 *  1. Admission. New data is refused (-ENOSPC, state FULL) unless the
 *     filesystem keeps free, after the batch is written twice (WAL, then
 *     the memtable's flush), what RocksDB needs to flush what its memtables
 *     hold plus CS_SPACE_SLACK. A batch of records only (unlink, rename,
 *     truncate: what frees space) may use half of the slack. RocksDB itself
 *     should then never meet a full disk, unless something else fills it.
 *     The check reads statvfs and the memtable sizes at most once a second
 *     while there is room (a budget is kept in between) and before every
 *     batch when there is little; when it refuses with data in the
 *     memtables it flushes them first (the WAL they pin is given back) and
 *     checks again.
 *  2. A write RocksDB fails: ENOSPC/EDQUOT -> state FULL (err kept); any
 *     other I/O error or corruption -> state READONLY, sticky: every write
 *     fails with that errno until the store is reopened.
 *  3. Resuming from FULL: a write (or cs_store_health) at most once a
 *     second probes with an empty batch; the state is OK again when it
 *     succeeds. If the failure named a WAL file, no write reaches RocksDB
 *     before a newer WAL file exists (rule of the poisoned writer above).
 *
 * Locking: each store's health has its own mutex, a leaf lock (taken under
 * st->lock by commits); only RocksDB calls are made under it.
 *
 * The health lives in a small table keyed by the store pointer (not in
 * struct cs_store, whose header belongs to the library's core): lookups
 * are lock-free scans of CS_HEALTH_SLOTS pointers.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <time.h>

#include "cs_health.h"
#include "cs_priv.h"

#define CS_SPACE_SLACK ((uint64_t)8 << 20) /* kept free besides the memtables' flush */
#define CS_HEALTH_SLOTS 64		   /* stores open at once in one process */
#define CS_SPACE_RECHECK 1.0		   /* seconds a measured budget is trusted */
#define CS_RESUME_EVERY 1.0		   /* seconds between resume attempts */

struct health {
	pthread_mutex_t lock;
	enum cs_health_state state;
	int err;	     /* negative errno of FULL / READONLY */
	int rocks;	     /* FULL because RocksDB failed a write (else refused here) */
	uint64_t wal_failed; /* number of the WAL file a write failed on, 0 none */
	time_t since;
	char msg[512];
	uint64_t resumes;
	int64_t budget;	    /* bytes that may still be admitted (x2 each) */
	double measured_at; /* monotonic seconds; 0 never */
	double tried_at;    /* last resume attempt */
	double flushed_at;  /* last flush asked for by the admission */
	uint64_t free_bytes, mem_bytes;
	char *dbdir;
	rocksdb_writeoptions_t *wo_sync;
	char *inject; /* cs_health_fail_next_write */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	_Atomic(cs_store *) st;
	struct health *h;
} table[CS_HEALTH_SLOTS];

static struct health *health_of(cs_store *st)
{
	for (int i = 0; i < CS_HEALTH_SLOTS; i++)
		if (atomic_load_explicit(&table[i].st, memory_order_acquire) == st)
			return table[i].h;
	return NULL;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cs_health_attach(cs_store *st)
{
	struct health *h = calloc(1, sizeof(*h));
	int i;

	if (!h || asprintf(&h->dbdir, "%s/db", st->path) < 0) {
		free(h);
		return -ENOMEM;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(h->wo_sync, 1);
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < CS_HEALTH_SLOTS; i++)
		if (!atomic_load(&table[i].st)) {
			table[i].h = h;
			atomic_store_explicit(&table[i].st, st, memory_order_release);
			break;
		}
	pthread_mutex_unlock(&table_lock);
	if (i == CS_HEALTH_SLOTS) {
		rocksdb_writeoptions_destroy(h->wo_sync);
		free(h->dbdir);
		free(h);
		return cs_fail(-EMFILE, "more than %d stores open in this process",
			       CS_HEALTH_SLOTS);
	}
	return 0;
}

void cs_health_detach(cs_store *st)
{
	struct health *h = NULL;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < CS_HEALTH_SLOTS; i++)
		if (atomic_load(&table[i].st) == st) {
			h = table[i].h;
			atomic_store(&table[i].st, NULL);
			table[i].h = NULL;
		}
	pthread_mutex_unlock(&table_lock);
	if (!h)
		return;
	rocksdb_writeoptions_destroy(h->wo_sync);
	pthread_mutex_destroy(&h->lock);
	free(h->inject);
	free(h->dbdir);
	free(h);
}

void cs_health_fail_next_write(cs_store *st, const char *rocksdb_error)
{
	struct health *h = health_of(st);

	CS_ASSERT(h);
	pthread_mutex_lock(&h->lock);
	free(h->inject);
	h->inject = rocksdb_error ? strdup(rocksdb_error) : NULL;
	pthread_mutex_unlock(&h->lock);
}

/* The number of the WAL file (".../000123.log") @msg names, 0 if none. */
static uint64_t wal_named(const char *msg)
{
	for (const char *p = msg ? strstr(msg, ".log") : NULL; p; p = strstr(p + 4, ".log")) {
		const char *q = p;

		while (q > msg && q[-1] >= '0' && q[-1] <= '9')
			q--;
		if (q < p && q > msg && q[-1] == '/')
			return strtoull(q, NULL, 10);
	}
	return 0;
}

/* The highest WAL file number in the database directory (0 none). */
static uint64_t wal_newest(const struct health *h)
{
	DIR *d = opendir(h->dbdir);
	struct dirent *de;
	uint64_t max = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		uint64_t num;

		if (n > 4 && !strcmp(de->d_name + n - 4, ".log") &&
		    (num = strtoull(de->d_name, NULL, 10)) > max)
			max = num;
	}
	closedir(d);
	return max;
}

static void set_state(struct health *h, enum cs_health_state s, int err, const char *msg)
{
	if (h->state != s || h->err != err)
		h->since = time(NULL);
	h->state = s;
	h->err = err;
	snprintf(h->msg, sizeof(h->msg), "%s", msg);
}

/* Record RocksDB's failure @errstr of a write (under h->lock); returns the
 * errno. Errors that are not I/O errors (a bad argument) leave the state. */
static int note_failure(struct health *h, const char *errstr)
{
	int err = cs_rocks_errno(errstr);

	if (err == -ENOSPC || err == -EDQUOT) {
		uint64_t wal = wal_named(errstr);

		if (h->state != CS_HEALTH_READONLY) {
			set_state(h, CS_HEALTH_FULL, err, errstr);
			h->rocks = 1;
		}
		if (wal > h->wal_failed)
			h->wal_failed = wal;
	} else if (h->state != CS_HEALTH_READONLY &&
		   (!strncmp(errstr, "IO error", 8) || !strncmp(errstr, "Corruption", 10))) {
		set_state(h, CS_HEALTH_READONLY, err, errstr);
	}
	return err;
}

/* Free bytes and memtable bytes now: the budget (under h->lock). */
static int measure(cs_store *st, struct health *h)
{
	rocksdb_column_family_handle_t *cfs[3] = {st->cf_default, st->cf_meta, st->cf_chunks};
	struct statvfs sv;
	uint64_t mem = 0, v;

	if (statvfs(h->dbdir, &sv) < 0)
		return -errno;
	for (int i = 0; i < 3; i++)
		if (rocksdb_property_int_cf(st->db, cfs[i], "rocksdb.cur-size-all-mem-tables",
					    &v) == 0)
			mem += v;
	h->free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	h->mem_bytes = mem;
	h->budget = (int64_t)h->free_bytes - (int64_t)(mem + CS_SPACE_SLACK);
	h->measured_at = mono_now();
	return 0;
}

/* Flush every memtable (waiting): the WAL they pinned is given back, and
 * the reserve for their flush with it (under h->lock). */
static int flush_memtables(cs_store *st, struct health *h)
{
	rocksdb_column_family_handle_t *cfs[2] = {st->cf_meta, st->cf_chunks};
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	char *err = NULL;

	h->flushed_at = mono_now();
	rocksdb_flushoptions_set_wait(fo, 1);
	for (int i = 0; i < 2 && !err; i++)
		rocksdb_flush_cf(st->db, fo, cfs[i], &err);
	rocksdb_flushoptions_destroy(fo);
	if (err) {
		int rc = note_failure(h, err);

		rocksdb_free(err);
		return rc;
	}
	return 0;
}

/* May a batch of @size bytes be written (under h->lock)? */
static int admit_space(cs_store *st, struct health *h, size_t size, int grows)
{
	int64_t floor = grows ? 0 : -(int64_t)(CS_SPACE_SLACK / 2), cost = 2 * (int64_t)size;
	int rc;

	if (h->measured_at && mono_now() - h->measured_at < CS_SPACE_RECHECK &&
	    h->budget - cost >= floor)
		goto admitted;
	rc = measure(st, h);
	if (rc)
		return 0; /* cannot tell: let RocksDB say */
	if (h->budget - cost < floor && h->mem_bytes > CS_SPACE_SLACK / 4 &&
	    mono_now() - h->flushed_at >= CS_RESUME_EVERY) {
		rc = flush_memtables(st, h);
		if (rc)
			return rc;
		if (measure(st, h))
			return 0;
	}
	if (h->budget - cost < floor) {
		char msg[256];

		snprintf(msg, sizeof(msg),
			 "new data refused: %" PRIu64 " bytes free on the filesystem, %" PRIu64
			 " kept free for the database",
			 h->free_bytes, h->mem_bytes + (uint64_t)CS_SPACE_SLACK);
		if (h->state == CS_HEALTH_OK)
			set_state(h, CS_HEALTH_FULL, -ENOSPC, msg);
		return -ENOSPC;
	}
admitted:
	h->budget -= cost;
	if (h->state == CS_HEALTH_FULL && !h->rocks && grows)
		set_state(h, CS_HEALTH_OK, 0, "");
	return 0;
}

/* An empty write straight to RocksDB: does it take writes now? A failure
 * is noted in @h (under h->lock); returns non-zero then. */
static int probe(cs_store *st, struct health *h)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *err = NULL;

	rocksdb_write(st->db, st->wo, wb, &err);
	rocksdb_writebatch_destroy(wb);
	if (!err)
		return 0;
	note_failure(h, err);
	rocksdb_free(err);
	return 1;
}

/* FULL after a RocksDB failure: is it over? Probes at most once per
 * CS_RESUME_EVERY (under h->lock). */
static void try_resume(cs_store *st, struct health *h)
{
	double now = mono_now();

	if (now - h->tried_at < CS_RESUME_EVERY)
		return;
	h->tried_at = now;
	if (h->wal_failed && wal_newest(h) <= h->wal_failed)
		return; /* the failed WAL is still the current one */
	if (probe(st, h))
		return;
	set_state(h, CS_HEALTH_OK, 0, "");
	h->rocks = 0;
	h->wal_failed = 0;
	h->measured_at = 0;
	h->resumes++;
}

/* Refuse (under h->lock) when the state says so; the message for the
 * caller. */
static int refused(cs_store *st, struct health *h, const char *what)
{
	if (h->state == CS_HEALTH_READONLY)
		return cs_fail(h->err, "%s: store %s is read-only after a failed write: %s", what,
			       st->path, h->msg);
	if (h->state == CS_HEALTH_FULL && h->rocks)
		return cs_fail(h->err, "%s: no space on the filesystem holding store %s: %s", what,
			       st->path, h->msg);
	return cs_fail(h->err, "%s: no space on the filesystem holding store %s (%s)", what,
		       st->path, h->msg);
}

int cs_store_write(cs_store *st, rocksdb_writebatch_t *wb, int grows, int sync, const char *what)
{
	struct health *h = health_of(st);
	char *err = NULL;
	size_t size = 0;
	int rc = 0;

	CS_ASSERT(h);
	rocksdb_writebatch_data(wb, &size);
	pthread_mutex_lock(&h->lock);
	if (h->state == CS_HEALTH_FULL && h->rocks)
		try_resume(st, h);
	if (h->state == CS_HEALTH_READONLY || (h->state == CS_HEALTH_FULL && h->rocks))
		rc = refused(st, h, what);
	else if (rocksdb_writebatch_count(wb) > 0 && (rc = admit_space(st, h, size, grows)))
		rc = refused(st, h, what); /* an empty batch (a sync) needs no room */
	else if (h->inject)
		err = h->inject, h->inject = NULL;
	pthread_mutex_unlock(&h->lock);
	if (rc)
		return rc;
	if (!err)
		rocksdb_write(st->db, sync ? h->wo_sync : st->wo, wb, &err);
	if (!err)
		return 0;
	pthread_mutex_lock(&h->lock);
	rc = note_failure(h, err);
	pthread_mutex_unlock(&h->lock);
	cs_fail(rc, "%s: %s", what, err);
	rocksdb_free(err);
	return rc;
}

int cs_health_admit_data(cs_store *st, size_t bytes, const char *what)
{
	struct health *h = health_of(st);
	int rc = 0;

	CS_ASSERT(h);
	pthread_mutex_lock(&h->lock);
	if (h->state == CS_HEALTH_FULL && h->rocks)
		try_resume(st, h);
	if (h->state == CS_HEALTH_READONLY || (h->state == CS_HEALTH_FULL && h->rocks) ||
	    admit_space(st, h, bytes / 2 + 1, 1)) /* bytes once: a batch costs twice */
		rc = refused(st, h, what);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

const char *cs_health_state_name(enum cs_health_state s)
{
	switch (s) {
	case CS_HEALTH_OK:
		return "ok";
	case CS_HEALTH_FULL:
		return "full";
	case CS_HEALTH_READONLY:
		return "read-only";
	}
	return "unknown";
}

int cs_store_health(cs_store *st, struct cs_store_health *out)
{
	struct health *h = health_of(st);

	memset(out, 0, sizeof(*out));
	CS_ASSERT(h);
	pthread_mutex_lock(&h->lock);
	if (h->state == CS_HEALTH_OK) /* a failure of a write that did not come through the door */
		probe(st, h);
	if (h->state == CS_HEALTH_FULL && h->rocks)
		try_resume(st, h);
	measure(st, h);
	if (h->state == CS_HEALTH_FULL && !h->rocks && h->budget > 2 * (int64_t)CS_CHUNK_VALUE_MAX)
		/* room for a chunk again (chunk files admit one at least) */
		set_state(h, CS_HEALTH_OK, 0, "");
	out->state = h->state;
	out->err = h->err;
	out->since = h->state == CS_HEALTH_OK ? 0 : h->since;
	out->free_bytes = h->free_bytes;
	out->reserve_bytes = h->mem_bytes + CS_SPACE_SLACK;
	out->resumes = h->resumes;
	snprintf(out->message, sizeof(out->message), "%s", h->msg);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* Sync the WAL: a synced write of an empty batch (see cs_store.c). */
int cs_store_sync_wal(cs_store *st)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	int rc = cs_store_write(st, wb, 0, 1, "sync");

	rocksdb_writebatch_destroy(wb);
	return rc;
}
